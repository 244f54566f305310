"""Reproducible deliverable headers: the same input gives the same CRAM and VCF bytes.

Tools write where and when they ran into the headers they produce: samtools' ``@PG CL:``
and bcftools' ``##bcftools_*Command`` lines carry scratch paths (which hold the attempt
id), bcftools adds ``; Date=...``, and htslib names the reference by its local path
(``@SQ UR:``, ``##reference=``). Two clean runs of the same input would then deliver
different bytes, and so different indexes. This module rewrites those headers: every
local path becomes a stable name (the reference its store key, any other file its
basename), dates go, and seqoia's version is stated (``@PG ID:seqoia``,
``##source=seqoia-<version>``). Command lines stay, so the provenance is still readable.

Also fixed on the way: bcftools 1.16's mpileup declares ``INFO/MQ`` as Integer where the
VCF specification (and htslib's sanity check, which warns on every read) wants Float.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

#: An absolute path inside a token (after a space, ``=``, ``:`` or a quote), up to its end.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(?:file://)?(/[^\s;,'\"<>]+)")
#: tempfile folders (``.call-jsmqt8o9``) whose random suffix would survive a basename.
_TEMP_SUFFIX = re.compile(r"(\.[a-z]+)-[a-z0-9_]{8}\b")
_BCFTOOLS_DATE = re.compile(r"; Date=[^\n]*$")


def seqoia_version() -> str:
    """The version of this seqoia, as written into deliverable headers."""
    from seqoia import __version__

    return __version__


class Provenance(BaseModel):
    """How a deliverable names what made it: the reference's stable name and seqoia's version."""

    model_config = ConfigDict(frozen=True)

    #: The reference as the store names it, e.g. ``refs/GRCh38/genome.fa``.
    reference_uri: str
    #: SHA-256 of the reference FASTA as given.
    reference_sha256: str | None = None
    version: str = ""

    def seqoia(self) -> str:
        """``seqoia-<version>``."""
        return f"seqoia-{self.version or seqoia_version()}"

    def scrub(self, text: str, reference_fasta: Path | None = None) -> str:
        """``text`` with local paths replaced by stable names and tempfile suffixes dropped."""
        if reference_fasta is not None:
            for form in (f"file://{reference_fasta}", str(reference_fasta)):
                text = text.replace(form, self.reference_uri)

        def stable(match: re.Match[str]) -> str:
            return match.group(1).rstrip("/").rsplit("/", 1)[-1]

        return _TEMP_SUFFIX.sub(r"\1", _ABSOLUTE_PATH.sub(stable, text))


def reference_md5s(seq_dict: Path) -> dict[str, str]:
    """``{contig: M5}`` from a ``samtools dict`` file (MD5 of each upper-case sequence)."""
    found: dict[str, str] = {}
    for line in seq_dict.read_text().splitlines():
        if not line.startswith("@SQ"):
            continue
        tags = dict(field.split(":", 1) for field in line.split("\t")[1:] if ":" in field)
        if "SN" in tags and "M5" in tags:
            found[tags["SN"]] = tags["M5"]
    return found


def stable_sam_header(
    header: str, provenance: Provenance, reference_fasta: Path, md5s: dict[str, str]
) -> str:
    """A SAM header with stable ``@SQ UR:``/``M5:``, scrubbed ``@PG CL:`` and seqoia's ``@PG``.

    The tools' own ``@PG`` lines keep their order and chain; seqoia's is appended last,
    chained to the last of them, so ``samtools view`` shows it as the final program.
    """
    lines: list[str] = []
    last_pg: str | None = None
    for line in header.rstrip("\n").split("\n"):
        fields = line.split("\t")
        if fields[0] == "@SQ":
            name = next((f[3:] for f in fields if f.startswith("SN:")), "")
            kept = [f for f in fields if not f.startswith(("UR:", "M5:"))]
            if name in md5s:
                kept.append(f"M5:{md5s[name]}")
            kept.append(f"UR:{provenance.reference_uri}")
            line = "\t".join(kept)
        elif fields[0] == "@PG":
            pg_id = next((f[3:] for f in fields if f.startswith("ID:")), "")
            if pg_id == "seqoia":
                continue  # a header rewritten twice keeps one seqoia line
            last_pg = pg_id
            line = provenance.scrub(line, reference_fasta)
        lines.append(line)
    own = ["@PG", "ID:seqoia", "PN:seqoia", f"VN:{provenance.seqoia().removeprefix('seqoia-')}"]
    if last_pg:
        own.append(f"PP:{last_pg}")
    lines.append("\t".join(own))
    return "\n".join(lines) + "\n"


def read_vcf_header(vcf_gz: Path) -> str:
    """The header lines of a bgzipped VCF, read as text (htslib would warn on bad lines)."""
    lines: list[str] = []
    with gzip.open(vcf_gz, "rt") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line)
            if line.startswith("#CHROM"):
                break
    return "".join(lines)


def stable_vcf_header(header: str, provenance: Provenance, reference_fasta: Path) -> str:
    """A VCF header with a stable ``##reference``, dateless tool lines and ``##source``."""
    out: list[str] = []
    for line in header.rstrip("\n").split("\n"):
        if line.startswith(("##source=seqoia", "##referenceSha256=")):
            continue
        if line.startswith("##reference="):
            line = f"##reference=file:///{provenance.reference_uri.lstrip('/')}"
            if provenance.reference_sha256:
                line += f"\n##referenceSha256={provenance.reference_sha256}"
        elif line.startswith("##bcftools") and "Command=" in line:
            line = provenance.scrub(_BCFTOOLS_DATE.sub("", line), reference_fasta)
        elif line.startswith("##INFO=<ID=MQ,") and "Type=Integer" in line:
            line = line.replace("Type=Integer", "Type=Float", 1)
        out.append(line)
        if line.startswith("##fileformat="):
            out.append(f"##source={provenance.seqoia()}")
    return "\n".join(out) + "\n"
