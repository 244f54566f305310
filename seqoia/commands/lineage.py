"""``seqoia lineage KEY``: where a file came from, as a tree of manifests back to the run folder."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from seqoia.admin.lineage import LineageNode, LineageReader
from seqoia.commands.admin_common import (
    DEFAULT,
    JsonOption,
    PipelineOption,
    console,
    guarded,
    human_time,
    print_json,
    runtime_of,
)


@guarded
def lineage(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(help="Object key in the work area, the outbox or the inbox")
    ],
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Where a file came from: the chain of manifests back to the run folder."""
    rt = runtime_of(ctx, pipeline)
    report = LineageReader(rt).of_key(key)
    if json_output:
        print_json(report.to_json())
        return
    head = report.key
    if report.file is not None:
        head += f"  sha256 {report.file.sha256}  {report.file.size} bytes"
    tree = Tree(head)
    shown: set[str] = set()
    for node in report.roots:
        _lineage_branch(tree, node, shown)
    console().print(tree)


def _lineage_branch(parent: Tree, node: LineageNode, shown: set[str]) -> None:
    """One generation; ``shown`` holds tool lists already printed (one chain shares them)."""
    m = node.manifest
    if m is None:
        parent.add(Text(f"{node.key}: manifest missing", style="red"))
        return
    label = Text(f"{m.stage}/{m.subject} g{m.generation}", style="bold")
    label.append(f"  attempt {m.attempt}  {human_time(m.finished_at)} on {m.worker}")
    if node.repeated:
        label.append("  (shown above)", style="dim")
        parent.add(label)
        return
    branch = parent.add(label)
    branch.add(f"reason: {m.reason}")
    branch.add(f"stage version {m.stage_version}; fingerprint {m.fingerprint[:16]}")
    if m.parameters:
        branch.add("parameters: " + ", ".join(f"{k}={v!r}" for k, v in m.parameters.items()))
    if m.tools:
        tools = ", ".join(f"{k} {v}" for k, v in m.tools.items())
        branch.add("tools: same as above" if tools in shown else f"tools: {tools}")
        shown.add(tools)
    if m.reference is not None:
        branch.add(f"reference: {m.reference.key} (etag {m.reference.etag})")
    if node.consumed:
        files = branch.add("files read from it:")
        for ref in node.consumed:
            files.add(f"{ref.name}  sha256 {ref.sha256}  {ref.size} bytes")
    if node.sources:
        above = f", {node.sources_shown_above} more shown above" if node.sources_shown_above else ""
        sources = branch.add(f"run folder: {len(node.sources)} object(s){above}")
        for ref in node.sources[:10]:
            sources.add(f"{ref.key}  etag {ref.etag}  {ref.size} bytes")
        if len(node.sources) > 10:
            sources.add(f"... {len(node.sources) - 10} more (--json lists 20)")
    elif node.sources_shown_above:
        branch.add(f"run folder: {node.sources_shown_above} object(s), shown above")
    for upstream in node.inputs:
        _lineage_branch(branch, upstream, shown)
