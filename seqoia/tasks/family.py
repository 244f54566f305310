"""``family_analysis`` and ``deliver_family``: the rare-disease family fan-in.

``family_analysis`` (kind ``family``) waits for every linked member's ``markduplicates``
commit, the members coming from any number of runs (each run's ``validate_run`` links
run -> family -> sample). It builds the pedigree from the runs' summaries (Role, Sex;
the proband is the affected member), calls the members jointly (sex-aware ploidy), and
runs :func:`~seqoia.genomics.family.analyse_family`: relatedness against the declared
roles, declared against genetic sex, the Mendelian error rate, de novo candidates and
inheritance modes. A failed pedigree check raises a :class:`PedigreeError` naming the
samples and the expected against the observed relationship: the family fails for good
with that reason, and nothing is delivered.

It tolerates failures (``tolerate_failures=True``): a member whose sequencing failed for
good is left out and the family is analysed without it (a trio becomes a duo), labelled
as such in the report's title, its JSON and the stage summary (``composition``,
``left_out``), which ``seqoia status`` shows. A proband that failed leaves nothing to
analyse: the family fails, naming it. A family that no run has given a proband yet
*waits* (``members_ready``, :func:`~seqoia.tasks.family_members.family_waiting`): the
planner does not start it, and ``seqoia status`` says why. See docs/decisions.md.

``deliver_family`` puts the report into the review area, ``review/<centre>/<family>/``.
"""

from __future__ import annotations

import json
import shutil

from seqoia.errors import InputError
from seqoia.genomics.family import analyse_family
from seqoia.genomics.family_fhir import build_family_bundle
from seqoia.genomics.family_report import FamilyReport, LeftOut, write_family_report
from seqoia.genomics.joint_calling import joint_call
from seqoia.genomics.pedigree import PedigreeError
from seqoia.genomics.tools import tool_versions
from seqoia.genomics.variants import CallParams
from seqoia.tasks.delivery import run_completion
from seqoia.tasks.family_members import (
    composition,
    family_centre,
    family_pedigree,
    family_records,
    family_waiting,
)
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import StageContext, StageResult

#: Files of ``markduplicates`` the family stage reads (the CRAM and its index).
_ALIGNMENTS = (".md.cram", ".md.cram.crai")


@pipeline.stage(
    "family_analysis",
    kind="family",
    needs=["validate_run", "markduplicates"],
    version="2",  # 2: de novo scored with trio-dnm2's allele-centric parents and priors
    params=CallParams,
    reference=True,
    tolerate_failures=True,
    fetch=lambda upstream, name: upstream != "markduplicates" or name.endswith(_ALIGNMENTS),
    members_ready=family_waiting,
    queue="call",
)
def family_analysis(ctx: StageContext) -> StageResult:
    """Joint call + pedigree checks + de novo and inheritance -> ``<family>.family.json``."""
    family = ctx.subject
    runs = {item.subject: item.summary for item in ctx.inputs["validate_run"]}
    records = family_records(family, runs)
    centre = family_centre(family, records)
    left_out = [
        LeftOut(sample=e.subject, failed_stage=e.failed_stage, reason=e.message)
        for e in ctx.excluded
        if e.subject in records
    ]
    proband = [m for m in left_out if records[m.sample][1].get("role") == "proband"]
    if proband:
        raise InputError(
            f"family {family}: proband {proband[0].sample} failed at {proband[0].failed_stage} "
            f"({proband[0].reason}); there is no family analysis without the proband"
        )
    pedigree = family_pedigree(family, records, without=[m.sample for m in left_out])
    crams = {item.subject: item.file(".md.cram") for item in ctx.inputs["markduplicates"]}
    missing = sorted(set(pedigree.samples) - set(crams))
    if missing:  # the planner waits for every linked member: this is a broken link
        raise PedigreeError(f"family {family}: no alignment for member(s) {', '.join(missing)}")
    vcf = ctx.out_dir / f"{family}.joint.vcf.gz"
    reference = prepared_reference(ctx)
    stats = joint_call(
        [crams[s] for s in pedigree.samples],
        {m.sample: m.karyotype for m in pedigree.members},
        reference,
        vcf,
        threads=ctx.threads,
        params=ctx.params,
    )
    analysis = analyse_family(
        vcf,
        pedigree,
        alignments={s: crams[s] for s in pedigree.samples},
        reference=reference.fasta,
    )
    label = composition(pedigree)
    if left_out:
        label += " — left out: " + ", ".join(
            f"{m.sample} (failed at {m.failed_stage})" for m in left_out
        )
    if analysis.blocked:
        # The family's findings would be wrong on a swapped or mislabelled sample.
        raise PedigreeError(
            f"family {family} failed its pedigree checks: " + "; ".join(analysis.failures)
        )
    report = FamilyReport(
        family=family,
        centre=centre,
        runs=tuple(sorted({run for run, _ in records.values()})),
        composition=label,
        pedigree=pedigree,
        left_out=tuple(left_out),
        analysis=analysis,
    )
    write_family_report(report, ctx.out_dir)
    # Dated by the last run's completion, never the wall clock: same inputs, same bytes.
    bundle = build_family_bundle(report, issued=run_completion(ctx))
    (ctx.out_dir / f"{family}.family.fhir.json").write_text(json.dumps(bundle, indent=1))
    de_novo = [c for c in analysis.de_novo if c.passed]
    return StageResult(
        summary={
            "centre": centre,
            "composition": label,
            "members": {m.sample: m.role for m in pedigree.members},
            "left_out": [m.model_dump() for m in left_out],
            "de_novo": [f"{c.contig}:{c.pos}:{c.ref}>{c.alt}" for c in de_novo],
            "variants": stats.model_dump(mode="json"),
            "mendelian_sites": analysis.mendelian.sites if analysis.mendelian else None,
            "unexplained_errors": analysis.unexplained_errors,
        },
        tools=tool_versions(),
    )


@pipeline.stage(
    "deliver_family",
    kind="family",
    needs=["family_analysis"],
    version="1",
    publish=True,
    publish_area="review",
    fetch=lambda _upstream, name: ".family." in name,
    isolation="inline",
    queue="report",
)
def deliver_family(ctx: StageContext) -> StageResult:
    """Publish the family report into ``review/<centre>/<family>/`` for a biologist."""
    analysed = ctx.one("family_analysis")
    for name, path in analysed.files.items():
        shutil.copyfile(path, ctx.out_dir / name)
    centre = str(analysed.summary["centre"])
    return StageResult(
        summary={
            "centre": centre,
            "composition": analysed.summary["composition"],
            "awaiting": "release",
        },
        publish_to=f"{centre}/{ctx.subject}",
    )
