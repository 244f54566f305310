"""The demo's family: a simulated trio whose child carries one known de novo variant.

The three members' reads go into the demo's run folder beside the single samples, with
``Family``, ``Role`` and ``Sex`` in the sample sheet, so the run exercises the family
fan-in; after the run, :func:`family_lines` prints the de novo call against the truth.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from seqoia.engine.runtime import Runtime
from seqoia.genomics.simulate_family import FamilyTruth, simulate_family

DEMO_FAMILY = "DEMOFAM"
DEMO_FAMILY_CENTRE = "APHP"
_SEX = {"XX": "female", "XY": "male"}
#: The members' (index, index2): far from the demo's other samples' indexes.
_INDEXES = (("ACGTTGCA", "TGCAACGT"), ("GATCCTAG", "CTAGGATC"), ("CAGTGTCA", "GTCACAGT"))


def add_demo_trio(
    run: Path, reference: Path, scratch: Path, first_number: int, coverage: float
) -> FamilyTruth:
    """Write the trio's FASTQ into ``run`` and its rows (Family, Role, Sex) into its sheet.

    Sample numbers start at ``first_number``; a ``Role`` column already in the sheet (the
    demo's pair) is shared, the others are added, and earlier rows get empty cells.
    """
    truth = simulate_family(
        reference, scratch, family=DEMO_FAMILY, seed=2027, n_de_novo=1, coverage=coverage
    )
    fastq = next(p.parent for p in run.rglob("*_R1_001.fastq.gz"))
    for number, member in enumerate(truth.members, start=first_number):
        for read, path in ((1, member.r1), (2, member.r2)):
            shutil.move(path, fastq / f"{member.sample}_S{number}_L001_R{read}_001.fastq.gz")
    sheet = run / "SampleSheet.csv"
    lines = sheet.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Lane,Sample_ID"))
    columns = lines[start].split(",")
    added = [c for c in ("Sex", "Family", "Role") if c not in columns]
    columns += added
    lines[start] = ",".join(columns)
    for i in range(start + 1, len(lines)):
        if lines[i].strip():
            lines[i] += "," * len(added)
    for member, (index, index2) in zip(truth.members, _INDEXES, strict=True):
        values = {"Lane": "1", "Sample_ID": member.sample, "Index": index, "Index2": index2,
                  "Centre": DEMO_FAMILY_CENTRE, "Sex": _SEX[member.sex],
                  "Family": DEMO_FAMILY, "Role": member.role}  # fmt: skip
        lines.append(",".join(values.get(c, "") for c in columns))
    sheet.write_text("\n".join(lines) + "\n")
    return truth


def family_lines(runtime: Runtime, truth: FamilyTruth) -> list[str]:
    """The family's outcome: the de novo call(s) against the planted one, or why none."""
    planted = ", ".join(f"{c}:{p} {r}>{a}" for c, p, r, a in truth.de_novo)
    analysed = runtime.manifests.latest("family_analysis", DEMO_FAMILY)
    if analysed is None:
        failure = runtime.failures.read("family_analysis", DEMO_FAMILY)
        why = failure.headline(160) if failure else "not run"
        return [f"family {DEMO_FAMILY}: no analysis ({why}); planted de novo {planted}"]
    calls = analysed.summary.get("de_novo") or []
    # The summary's "chr2:89646:C>G" printed as the planted one is: "chr2:89646 C>G".
    called = ", ".join(" ".join(c.rsplit(":", 1)) for c in calls) or "none"
    review = runtime.layout.review_prefix(DEMO_FAMILY_CENTRE, DEMO_FAMILY)
    return [
        f"family {DEMO_FAMILY} ({analysed.summary['composition']}): de novo called {called}; "
        f"planted {planted}",
        f"family {DEMO_FAMILY}: report in {review} ({DEMO_FAMILY}.family.html); sign it off "
        f"with seqoia release family:{DEMO_FAMILY} --by NAME --reason TEXT",
    ]
