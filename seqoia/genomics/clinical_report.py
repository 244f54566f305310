"""The clinical report: what a biologist signs off and a clinician reads, as one model.

The pipeline fills it in (``status="preliminary"``); a biologist's release makes it
``final`` with who released it and why. Every rendering (HTML, PDF, the FHIR Genomics
Reporting bundle) is a pure function of this model, so a released report is rendered again
from the same facts, and the same facts always render to the same bytes: no value here
comes from a wall clock but ``released_at``, which is the release's own fact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seqoia.genomics.qc_gate import QCVerdict
from seqoia.genomics.report import FileChecksum
from seqoia.genomics.tiering import ReportedVariant

ReportStatus = Literal["preliminary", "final"]
GenomicSource = Literal["germline", "somatic"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Laboratory(_Frozen):
    """The performing laboratory (FHIR ``performer``)."""

    name: str
    identifier: str = Field(description="e.g. the laboratory's FINESS number")
    system: str = "urn:oid:1.2.250.1.71.4.2.2"  # FINESS (France)
    address: str | None = None


class ReferenceGenome(_Frozen):
    """The reference the variants are described on: a stable name and its checksum."""

    name: str  # e.g. "GRCh38" or the reference area's name
    sha256: str
    assembly: str | None = None  # the assembly the annotation resources were checked against


class PanelInfo(_Frozen):
    """The gene panel of the clinical question."""

    name: str
    version: str
    genes: tuple[str, ...]


class GeneCoverage(_Frozen):
    """How well the panel's genes were covered (% of coding bases at >= 20x)."""

    gene: str
    pct_bases_20x: float = Field(ge=0, le=100)
    low_coverage_exons: tuple[str, ...] = ()  # e.g. "GENE1 exon 3 (62 %)"


class Release(_Frozen):
    """A biologist's sign-off (audited separately in the admin audit log)."""

    by: str
    reason: str
    at: datetime
    qc_override: bool = False


class ClinicalReport(_Frozen):
    """Everything a clinical report shows, in the shape of ``<sample>.clinical.json``."""

    schema_id: Literal["seqoia.clinical-report/1"] = "seqoia.clinical-report/1"
    status: ReportStatus = "preliminary"
    laboratory: Laboratory
    centre: str
    sample: str  # the pseudonymous Sample_ID, never the Sample_Name
    runs: tuple[str, ...]
    #: When the analysed material was sequenced (the runs' completion), not a wall clock.
    effective: datetime
    genomic_source: GenomicSource = "germline"
    pipeline_version: str
    tools: dict[str, str]
    reference: ReferenceGenome
    panel: PanelInfo | None
    qc: QCVerdict
    variants: tuple[ReportedVariant, ...]
    coverage: tuple[GeneCoverage, ...] = ()
    files: tuple[FileChecksum, ...] = ()
    release: Release | None = None

    @property
    def qc_passed(self) -> bool:
        return self.qc.passed

    def released(self, release: Release) -> ClinicalReport:
        """The final report of a release (the preliminary one stays as it was)."""
        return self.model_copy(update={"status": "final", "release": release})
