"""The demo's tumour/normal pair: planted somatic variants and copy changes, and the verdict.

``seqoia demo`` adds to its run a tumour (``DEMO-T01``, somatic SNVs and indels at 20-40 %
VAF, a copy gain and a loss, 40x) and its matched normal (``DEMO-N01``, 30x) grouped by
``Pair_ID`` ``DEMO-P01``, then prints the pair's PASS somatic variants found against those
planted, its tumour mutational burden and its copy-number calls.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pysam
from rich.table import Table

from seqoia.engine.runtime import Runtime
from seqoia.genomics.simulate_pair import PairTruth, simulate_pair_fastq
from seqoia.genomics.simulate_tumour import CopyEvent

PAIR, TUMOUR, NORMAL, CENTRE = "DEMO-P01", "DEMO-T01", "DEMO-N01", "CURIE"
PAIR_STAGES = ("somatic", "copy_number", "pair_report", "deliver_pair")
#: Indexes unlike the germline samples' (i7, i5).
_INDEXES = {TUMOUR: ("GATCGATC", "AGCTAGCT"), NORMAL: ("CTAGCTAG", "TCGATCGA")}


def add_demo_pair(run: Path, reference: Path, scratch: Path, first_number: int) -> PairTruth:
    """Write the pair's FASTQ into ``run`` and its rows (with Pair_ID, Role) into its sheet."""
    lengths = {r.split("\t")[0]: int(r.split("\t")[1]) for r in _fai(reference)}
    chr1, chr2 = lengths["chr1"], lengths["chr2"]
    events = [
        CopyEvent("chr1", chr1 // 3, chr1 * 3 // 5, "gain"),
        CopyEvent("chr2", chr2 // 4, chr2 // 2, "loss"),
    ]
    fastq = next(p.parent for p in run.rglob("*_R1_001.fastq.gz"))
    truth = simulate_pair_fastq(
        reference, fastq, tumour=(TUMOUR, first_number), normal=(NORMAL, first_number + 1),
        scratch=scratch, vafs=(0.4, 0.3, 0.2), per_vaf=12, events=events,
        tumour_depth=40, normal_depth=30, seed=2016,
    )  # fmt: skip
    sheet = run / "SampleSheet.csv"
    lines = sheet.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Lane,Sample_ID"))
    columns = lines[start].split(",")
    lines[start] += ",Pair_ID,Role"
    for i in range(start + 1, len(lines)):
        if lines[i].strip():
            lines[i] += ",,"
    for sample, role in ((TUMOUR, "tumour"), (NORMAL, "normal")):
        values = {"Lane": "1", "Sample_ID": sample, "Index": _INDEXES[sample][0],
                  "Index2": _INDEXES[sample][1], "Centre": CENTRE}  # fmt: skip
        lines.append(",".join([*(values.get(c, "") for c in columns), PAIR, role]))
    sheet.write_text("\n".join(lines) + "\n")
    return truth


def _fai(reference: Path) -> list[str]:
    pysam.faidx(str(reference))
    return Path(f"{reference}.fai").read_text().splitlines()


def pair_done(runtime: Runtime) -> dict[str, int]:
    """Per pair stage, 1 once the pair has committed it (the demo's progress bars)."""
    return {s: int(runtime.manifests.latest(s, PAIR) is not None) for s in PAIR_STAGES}


def pair_results(runtime: Runtime, truth: PairTruth) -> Table:
    """The pair's PASS somatic calls against the planted ones, its TMB and copy-number calls."""
    table = Table(title=f"tumour/normal pair {PAIR} ({TUMOUR} vs {NORMAL})")
    table.add_column("what")
    table.add_column("result")
    calls = runtime.manifests.latest("somatic", PAIR)
    if calls is None:
        record = runtime.failures.read("somatic", PAIR)
        table.add_row("somatic", f"[red]{record.headline() if record else 'not run'}[/red]")
        return table
    planted = {(s.variant.contig, s.variant.pos) for s in truth.somatic}
    with tempfile.TemporaryDirectory() as tmp:
        name = calls.summary["pair"]["name"]
        vcf = Path(tmp) / "somatic.vcf.gz"
        runtime.store.download_file(calls.output(f"{name}.somatic.vcf.gz").key, vcf)
        tbi = f"{name}.somatic.vcf.gz.tbi"
        runtime.store.download_file(calls.output(tbi).key, Path(f"{vcf}.tbi"))
        with pysam.VariantFile(str(vcf)) as records:
            found = {(r.contig, r.pos) for r in records if "PASS" in r.filter}
    table.add_row("identity", calls.summary["identity"]["message"])
    table.add_row(
        "somatic PASS",
        f"{len(found & planted)} of {len(planted)} planted found; "
        f"{len(found - planted)} not planted",
    )
    tmb = calls.summary["tmb"]
    table.add_row(
        "TMB", f"{tmb['per_mb']:.1f} per Mb ({tmb['mutations']} over {tmb['callable_bp']:,} bp, "
        f"{tmb['territory']})"
    )  # fmt: skip
    genome = calls.summary.get("tmb_genome")
    if genome is not None and genome["territory"] != tmb["territory"]:
        table.add_row(
            "TMB, whole genome", f"{genome['per_mb']:.1f} per Mb ({genome['mutations']} over "
            f"{genome['callable_bp']:,} callable bp)"
        )  # fmt: skip
    cnv = runtime.manifests.latest("copy_number", PAIR)
    shown = [
        f"{s['call']} {s['contig']}:{s['start'] + 1}-{s['end']} (log2 {s['log2_ratio']:+.2f})"
        for s in (cnv.summary["called"] if cnv else [])
    ]
    table.add_row("copy number", "; ".join(shown) or "none called")
    table.add_row(
        "planted copy changes",
        "; ".join(f"{e.kind} {e.contig}:{e.start + 1}-{e.end}" for e in truth.copy_events),
    )
    delivered = runtime.manifests.latest("deliver_pair", PAIR)
    if delivered is not None:
        html = next((r.key for r in delivered.outputs if r.name.endswith(".html")), "")
        table.add_row("report", html)
    return table
