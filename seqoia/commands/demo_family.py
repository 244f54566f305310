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


def write_demo_trio(
    reference: Path, fastq_dir: Path, work: Path, first_number: int, coverage: float
) -> tuple[FamilyTruth, list[str]]:
    """Simulate the trio; its FASTQ into ``fastq_dir`` as sample numbers ``first_number``...

    Returns the truth and one ``Sample_ID,Index,Index2,Centre,Sex,Family,Role`` sheet row
    (without the lane) per member.
    """
    truth = simulate_family(
        reference, work, family=DEMO_FAMILY, seed=2027, n_de_novo=1, coverage=coverage
    )
    rows = []
    for number, member in enumerate(truth.members, start=first_number):
        for read, path in ((1, member.r1), (2, member.r2)):
            target = fastq_dir / f"{member.sample}_S{number}_L001_R{read}_001.fastq.gz"
            shutil.move(path, target)
        index, index2 = _INDEXES[number - first_number]
        rows.append(
            f"{member.sample},{index},{index2},{DEMO_FAMILY_CENTRE},{_SEX[member.sex]},"
            f"{DEMO_FAMILY},{member.role}"
        )
    return truth, rows


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
        f"family {DEMO_FAMILY}: report in {review} ({DEMO_FAMILY}.family.html)",
    ]
