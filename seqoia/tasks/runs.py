"""Run-level stages: ``validate_run`` (is this run folder fit to process?) and ``demultiplex``.

``validate_run`` is the pipeline's root: it runs once the folder is complete, reads only
the metadata (RunInfo.xml, RunParameters.xml, SampleSheet.csv, RunCompletionStatus.xml),
refuses a failed run or a bad sample sheet before hours of compute are spent, and links
the run to its parts (lanes or tile ranges, see :mod:`seqoia.tasks.parts`), samples and
families (the fan-out). ``demultiplex`` turns one part's base calls into per-sample
FASTQ, or adopts the FASTQ of instruments that converted on board; the parts of a run
run on as many workers as are free, and each sample's alignment takes them all.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError, RunFolderError, SampleSheetError
from seqoia.illumina.completion import (
    COMPLETION_MARKERS,
    COMPLETION_STATUS,
    EARLY_MARKERS,
    check_completion_status,
    run_folder_ready,
)
from seqoia.illumina.gzip_header import copy_without_name
from seqoia.illumina.models import RunInfo, SampleRow
from seqoia.illumina.pairs import analysis_of, sheet_pairs
from seqoia.illumina.runinfo import read_run_info
from seqoia.illumina.samplesheet import read_sample_sheet
from seqoia.tasks.family_members import check_sheet_families
from seqoia.tasks.parts import RunPart, in_lane, parse_part, split_lanes
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import RunFolderMarkers, StageContext, StageResult
from seqoia.vocabulary import DEFAULT_CENTRES, Relation, source_alias, validate_name

#: ``{Sample}_S{n}[_L00{lane}]_R{1|2}_001.fastq.gz`` as bcl2fastq and BCL Convert name them;
#: ``{Sample}`` is the Sample_ID, or the Sample_Name when the sheet has one.
FASTQ_NAME = re.compile(
    r"^(?P<sample>[^/]+?)_S(?P<number>\d+)(?:_L(?P<lane>\d{3}))?_(?P<read>[RI][12])_001\.fastq\.gz$"
)
METADATA = {
    "RunInfo.xml",
    "RunParameters.xml",
    "runParameters.xml",
    "SampleSheet.csv",
    COMPLETION_STATUS,
}


def _is_metadata(name: str) -> bool:
    return name in METADATA


def _is_fastq(name: str) -> bool:
    return name.endswith(".fastq.gz") and "Undetermined" not in name.rsplit("/", 1)[-1]


def fastq_files(listing: tuple[tuple[str, int], ...]) -> dict[str, list[dict[str, Any]]]:
    """Per sample, the FASTQ files a run folder holds: ``{sample: [{name, lane, read}]}``."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, _size in listing:
        match = FASTQ_NAME.match(name.rsplit("/", 1)[-1])
        if match and _is_fastq(name):
            found[match["sample"]].append(
                {"name": name, "lane": int(match["lane"] or 1), "read": match["read"]}
            )
    return dict(found)


def fastq_owners(
    listing: tuple[tuple[str, int], ...], rows: Sequence[SampleRow]
) -> tuple[dict[str, str], list[str]]:
    """Which Sample_ID each on-board FASTQ belongs to, by its alias; aliases of no sample.

    A file is named after the Sample_ID, or after the Sample_Name (bcl2fastq does so
    when the column is filled; characters other than letters, digits, '-' and '_'
    become '_'). Only the alias is returned: the Sample_Name stays in the sheet.
    """
    owner = {row.sample_id: row.sample_id for row in rows}
    for row in rows:
        if row.sample_name:
            owner.setdefault(row.sample_name, row.sample_id)
            owner.setdefault(re.sub(r"[^A-Za-z0-9_-]", "_", row.sample_name), row.sample_id)
    owners: dict[str, str] = {}
    strays: list[str] = []
    for sample, files in fastq_files(listing).items():
        for item in files:
            alias = source_alias(item["name"]) or item["name"]
            if sample in owner:
                owners[alias] = owner[sample]
            else:
                strays.append(alias)
    return owners, sorted(strays)


def _sample_record(row: SampleRow) -> dict[str, Any]:
    # Sample_Name may hold a patient's name: only pseudonymous fields leave the sheet.
    return {
        "sample": row.sample_id,
        "lane": row.lane,
        "centre": row.centre or "default",
        "family": row.family,
        "role": row.role,
        "sex": row.sex,
        "panel": row.panel,
        "priority": row.priority or "routine",
        "index": row.index,
        "index2": row.index2,
    }


class ValidateRunParams(BaseModel):
    """How a run is shared out (a laboratory setting, per run through overrides)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: At most this many tiles per demultiplexing part; 0 = one part per lane. Each part
    #: of a CBCL lane downloads the lane's CBCL files (a CBCL holds every tile of a
    #: surface), so tile ranges pay off for per-tile BCL and for lanes of many tiles.
    tiles_per_part: int = 0
    #: Centres the ``Centre`` column may name: the site's list (``SEQOIA_ALLOWED_CENTRES``),
    #: checked here, before any compute, rather than at delivery.
    allowed_centres: tuple[str, ...] = DEFAULT_CENTRES


@pipeline.stage(
    "validate_run",
    kind="run",
    version="4",
    source=True,
    fetch_sources=lambda _run, name: _is_metadata(name),
    source_ready=run_folder_ready,
    markers=RunFolderMarkers(COMPLETION_MARKERS, after_grace=EARLY_MARKERS),
    params=ValidateRunParams,
    # A process of its own, like the heavy stages: a sample sheet or RunInfo is untrusted
    # input, so its parsing runs under the stage time limit and cannot take the worker down.
    queue="runs",
)
def validate_run(ctx: StageContext) -> StageResult:
    """Check the run folder and fan out to its parts, samples and families."""
    assert ctx.source_dir is not None
    run = ctx.subject
    status = ctx.source_dir / COMPLETION_STATUS
    if status.exists():
        check_completion_status(status.read_bytes(), run=run)
    sheet_path = ctx.source_dir / "SampleSheet.csv"
    if not sheet_path.exists():
        raise RunFolderError(
            "the run folder has no SampleSheet.csv", run=run, file="SampleSheet.csv"
        )
    run_info_path = ctx.source_dir / "RunInfo.xml"
    run_info = read_run_info(run_info_path, run=run) if run_info_path.exists() else None
    sheet = read_sample_sheet(sheet_path, run_info=run_info, run=run)

    names = {name for name, _ in ctx.source_listing}
    has_base_calls = any(name.startswith("Data/Intensities/BaseCalls/") for name in names)
    fastqs = fastq_files(ctx.source_listing)
    kind = "bcl" if has_base_calls else "fastq"
    if kind == "bcl" and run_info is None:
        raise RunFolderError("base calls without RunInfo.xml", run=run, file="RunInfo.xml")
    if kind == "fastq" and not fastqs:
        raise RunFolderError(
            "the run folder holds neither base calls nor FASTQ files",
            run=run,
            file="SampleSheet.csv",
        )

    pairs = sheet_pairs(sheet.samples, run=run)
    pair_of = {row.sample_id: pair for pair, rows in pairs.items() for row in rows}
    samples: dict[str, dict[str, Any]] = {}
    for row in sheet.samples:
        check_sample_id(row, run)
        check_centre(row, run, ctx.params.allowed_centres)
        record = samples.setdefault(row.sample_id, _sample_record(row) | {"lanes": []})
        # The pair a tumour-only sample without Pair_ID forms alone is named after it.
        analysis = analysis_of(row, run=run) or None
        record |= {"pair": pair_of.get(row.sample_id), "analysis": analysis}
        if row.lane is not None:
            record["lanes"].append(row.lane)
    check_sheet_families(sheet.samples, run)  # two probands, a female father ...
    warnings = []
    owners, strays = fastq_owners(ctx.source_listing, sheet.samples)
    # Keyed by Sample_ID from here on: a file named after a Sample_Name goes no further.
    fastqs = _by_owner(fastqs, owners)
    if kind == "fastq":
        for sample, record in samples.items():
            if sample not in fastqs:
                record["missing"] = (
                    f"sample {sample} is listed in SampleSheet.csv (line "
                    f"{next(r.line for r in sheet.samples if r.sample_id == sample)}) "
                    "but the run folder has no FASTQ files for it"
                )
        if strays:
            warnings.append(
                f"{len(strays)} FASTQ file(s) belong to no sample of SampleSheet.csv "
                "(neither Sample_ID nor Sample_Name); ignored: " + ", ".join(strays)
            )

    parts = _parts(ctx, run_info, samples, fastqs, kind)
    relations = []
    for part, sample_ids in parts.items():
        relations.append(Relation(kind="run", subject=run, other_kind="part", other=part))
        relations += [
            Relation(kind="part", subject=part, other_kind="sample", other=sample)
            for sample in sample_ids
        ]
    for sample, record in samples.items():
        relations.append(Relation(kind="run", subject=run, other_kind="sample", other=sample))
        if record["family"]:
            family = validate_name(record["family"], "family id")
            relations.append(Relation(kind="run", subject=run, other_kind="family", other=family))
            relations.append(
                Relation(kind="family", subject=family, other_kind="sample", other=sample)
            )
        if record["pair"]:  # tumour/normal pairs (seqoia.tasks.pairs)
            pair = validate_name(record["pair"], "Pair_ID")
            to_pair = Relation(kind="run", subject=run, other_kind="pair", other=pair)
            relations += [to_pair] if to_pair not in relations else []
            relations.append(Relation(kind="pair", subject=pair, other_kind="sample", other=sample))
    summary = {
        "kind": kind,
        "flowcell": run_info.flowcell if run_info else run,
        "instrument": run_info.instrument if run_info else None,
        "samples": samples,
        "parts": {name: parse_part(name).model_dump() for name in parts},
        "warnings": warnings,
        "sheet_version": sheet.version,
        "fastq_sources": owners,
        # The store's time of the completion marker: the reports' "effective" date.
        "completed_at": ctx.completed_at.isoformat() if ctx.completed_at else None,
    }
    (ctx.out_dir / "run.json").write_text(json.dumps(summary, indent=1))
    return StageResult(summary=summary, relations=relations)


def _by_owner(
    fastqs: dict[str, list[dict[str, Any]]], owners: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """``fastq_files`` regrouped by owning Sample_ID, each file under its alias."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for files in fastqs.values():
        for item in files:
            alias = source_alias(item["name"]) or item["name"]
            if alias in owners:
                found[owners[alias]].append(item | {"name": alias})
    return dict(found)


def _parts(
    ctx: StageContext,
    run_info: RunInfo | None,
    samples: dict[str, dict[str, Any]],
    fastqs: dict[str, list[dict[str, Any]]],
    kind: str,
) -> dict[str, list[str]]:
    """Part subject -> the samples it holds reads of."""
    run = ctx.subject
    if kind == "bcl":
        assert run_info is not None
        tiles = {lane: 0 for lane in range(1, run_info.lane_count + 1)}
        for tile in run_info.tiles:
            lane = int(tile.partition("_")[0])
            tiles[lane] = tiles.get(lane, 0) + 1
        parts = split_lanes(tiles, ctx.params.tiles_per_part)
        lanes_of = {s: set(r["lanes"]) or set(tiles) for s, r in samples.items()}
    else:  # on-board FASTQ: a part per lane that the files name
        every = {f["lane"] for files in fastqs.values() for f in files}
        parts = split_lanes(dict.fromkeys(every, 0))
        # A listed sample without files joins every part, so that align fails it by name.
        lanes_of = {s: {f["lane"] for f in fastqs.get(s, [])} or every for s in samples}
    return {
        part.name(run): sorted(s for s, lanes in lanes_of.items() if part.lane in lanes)
        for part in parts
    }


def sample_records(ctx: StageContext) -> list[dict[str, Any]]:
    """What each run's sample sheet said about a sample stage's subject (one per run)."""
    return [s.summary["samples"].get(ctx.subject, {}) for s in ctx.inputs["validate_run"]]


def sample_centre(ctx: StageContext) -> str:
    """The prescribing centre of a sample stage's subject; runs that disagree are an error.

    A sample sequenced in several runs must be given one centre: delivering it to
    whichever sorts first would send a patient's results to the wrong hospital.
    """
    by_run = {
        item.subject: item.summary["samples"].get(ctx.subject, {}).get("centre") or "default"
        for item in ctx.inputs["validate_run"]
    }
    centres = sorted(set(by_run.values()))
    if len(centres) > 1:
        given = ", ".join(f"{c} (run {r})" for r, c in sorted(by_run.items()))
        raise SampleSheetError(
            f"sample {ctx.subject} is given different centres by its runs: {given}; "
            "correct the sample sheets and reprocess",
            file="SampleSheet.csv",
        )
    return centres[0] if centres else "default"


def check_sample_id(row: SampleRow, run: str) -> None:
    """A Sample_ID must be a safe name; the message names row and column, not the value.

    A sheet whose Sample_ID and Sample_Name columns were swapped puts a patient's name
    here, and this message goes to logs and failure records.
    """
    try:
        validate_name(row.sample_id, "Sample_ID")
    except InputError:
        raise SampleSheetError(
            "column Sample_ID is not a pseudonymous identifier (letters, digits, '.', '_', "
            "'+', '-'; were Sample_ID and Sample_Name swapped?)",
            run=run,
            file="SampleSheet.csv",
            line=row.line,
        ) from None


def check_centre(row: SampleRow, run: str, allowed: tuple[str, ...]) -> None:
    """The row's ``Centre`` must be one the site delivers to."""
    centre = row.centre or "default"
    if centre not in allowed:
        raise SampleSheetError(
            f"column Centre names {centre!r}, which is not an allowed centre "
            f"({', '.join(sorted(allowed))}; setting SEQOIA_ALLOWED_CENTRES)",
            run=run,
            file="SampleSheet.csv",
            line=row.line,
        )


class DemultiplexParams(BaseModel):
    """Options of ``seqoia demux`` that a laboratory may set per run (sheet values win)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    barcode_mismatches: int | None = None
    include_non_pf: bool = False


def _wants_for_demultiplex(part: str, name: str) -> bool:
    """The metadata, and the base calls or FASTQ of this part's lane only."""
    lane = parse_part(part).lane
    if _is_metadata(name):
        return True
    if _is_fastq(name):
        match = FASTQ_NAME.match(name.rsplit("/", 1)[-1])
        return match is not None and int(match["lane"] or 1) == lane
    return name.startswith("Data/") and in_lane(name, lane)


@pipeline.stage(
    "demultiplex",
    kind="part",
    needs=["validate_run"],
    version="3",
    source=True,
    fetch_sources=_wants_for_demultiplex,
    params=DemultiplexParams,
    queue="demultiplex",
)
def demultiplex(ctx: StageContext) -> StageResult:
    """Per-sample FASTQ.gz of one part of the run, each file tagged with its sample."""
    assert ctx.source_dir is not None
    run_set = ctx.one("validate_run")
    run_summary = run_set.summary
    if ctx.subject not in run_summary["parts"]:
        # The run was re-validated into other parts (a new tiles_per_part): this part's
        # reads now belong to those, and align reads only the parts validate_run lists.
        return StageResult(summary={"superseded": True, "fastq": {}})
    part = RunPart.model_validate(run_summary["parts"][ctx.subject])
    samples = run_summary["samples"]
    file_subjects: dict[str, str] = {}
    fastq: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if run_summary["kind"] == "fastq":
        owners = run_summary.get("fastq_sources", {})
        for files in fastq_files(ctx.source_listing).values():
            for item in files:
                sample = owners.get(source_alias(item["name"]) or item["name"])
                if sample not in samples or item["lane"] != part.lane:
                    continue
                # Named by Sample_ID: the source may be named after a Sample_Name.
                base = Path(item["name"]).name
                named = FASTQ_NAME.match(base)
                assert named is not None  # fastq_files lists only names that match
                target = ctx.out_dir / (sample + base[named.end("sample") :])
                # Without the gzip header's file name: it may be the Sample_Name's.
                copy_without_name(ctx.source_dir / item["name"], target)
                file_subjects[target.name] = sample
                fastq[sample].append(item | {"name": target.name})
        stats: dict[str, Any] = {}
    else:
        stats = _demultiplex_base_calls(ctx, part, run_set.subject, file_subjects, fastq)
    return StageResult(
        summary={
            "run": run_set.subject,
            "part": part.model_dump(),
            "fastq": dict(fastq),
            "flowcell": run_summary["flowcell"],
            "stats": stats,
        },
        file_subjects=file_subjects,
    )


def _demultiplex_base_calls(
    ctx: StageContext,
    part: RunPart,
    run: str,
    file_subjects: dict[str, str],
    fastq: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    from seqoia.illumina.demux import demultiplex as run_demux
    from seqoia.illumina.demux_config import DemuxConfig

    assert ctx.source_dir is not None
    samples = set(ctx.one("validate_run").summary["samples"])
    options: dict[str, Any] = {
        "include_non_pf": ctx.params.include_non_pf,
        "lanes": (part.lane,),
        "part": part.tile_range,
        "lane_splitting": True,  # file names carry the lane: parts of lanes never clash
    }
    if ctx.params.barcode_mismatches is not None:
        options["barcode_mismatches"] = (ctx.params.barcode_mismatches,) * 2
    out = ctx.scratch / "demux"
    try:
        result = run_demux(ctx.source_dir, out, DemuxConfig(**options), threads=ctx.threads)
    except InputError as err:
        err.run = run  # the run folder as the inbox names it
        raise
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        match = FASTQ_NAME.match(path.name)
        target = ctx.out_dir / path.name
        shutil.move(path, target)
        if match and match["sample"] in samples:
            file_subjects[target.name] = match["sample"]
            fastq[match["sample"]].append(
                {"name": target.name, "lane": part.lane, "read": match["read"]}
            )
    return {"reads": result.stats.reads_per_sample()}
