"""A reference area in the store: the genome and the annotation resources stages declare.

    refs/<name>/genome.fa            the reference genome (every aligning stage)
    refs/<name>/genes.gff3           the transcript model (annotate)
    refs/<name>/clinvar.vcf.gz(.tbi) ClinVar, optional (annotate)
    refs/<name>/gnomad.vcf.gz(.tbi)  population frequencies, optional (annotate)
    refs/<name>/panels/<panel>.txt   gene-list panels, or .bed region panels (annotate)

The genome is written last: stages that wait for the reference do not start on an area
whose resources are still arriving.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from seqoia.storage.base import ObjectStore
from seqoia.storage.layout import Layout
from seqoia.tasks.annotation import CLINVAR, GFF3, GNOMAD, PANEL_SUFFIXES, PANELS


def reference_area(
    gff3: Path,
    panels: Mapping[str, Path],
    *,
    clinvar: Path | None = None,
    gnomad: Path | None = None,
) -> dict[str, Path]:
    """Resource name in the area -> local file (indexes taken from beside the VCFs)."""
    files = {GFF3: gff3}
    for name, vcf in ((CLINVAR, clinvar), (GNOMAD, gnomad)):
        if vcf is not None:
            files[name] = vcf
            files[f"{name}.tbi"] = Path(f"{vcf}.tbi")
    for panel, path in panels.items():
        suffix = next((s for s in PANEL_SUFFIXES if path.name.endswith(s)), ".txt")
        files[f"{PANELS}{panel}{suffix}"] = path
    return files


def upload_reference_area(
    store: ObjectStore,
    layout: Layout,
    name: str,
    genome: Path,
    resources: Mapping[str, Path],
) -> list[str]:
    """Upload ``resources`` then ``genome`` under ``refs/<name>/``; the keys written."""
    prefix = layout.reference_prefix(name)
    keys = []
    for resource, path in sorted(resources.items()):
        store.upload_file(prefix + resource, path)
        keys.append(prefix + resource)
    store.upload_file(layout.reference_key(name), genome)
    return [*keys, layout.reference_key(name)]
