"""HGVS names of a variant: genomic (``g.``), coding (``c.``/``n.``) and protein (``p.``).

A VCF record (1-based ``pos``, ``ref``, ``alt``, left-aligned by the caller) is trimmed to
its minimal change, then placed on each transcript *in the transcript's orientation*: the
transcript's genomic span (with flanks) is read once and reverse-complemented for the
minus strand, so every rule below is written once, left to right.

- **3' rule.** Deletions, duplications and insertions in a repeat are shifted to their
  most 3' position in the transcript's orientation (for ``g.``, the genome's forward
  strand). On a transcript the shift stays inside the exon or intron that holds the
  variant: HGVS does not move a variant across an exon/intron border.
- **dup vs ins.** An insertion equal to the bases just 5' of it (after the shift) is a
  duplication of those bases.
- **Numbering.** ``c.1`` is the A of the ATG; 5' UTR bases are ``c.-N``, 3' UTR bases
  ``c.*N`` counted from the stop codon's last base; intronic bases hang off the nearest
  exon base (``c.123+1``, ``c.124-2``; the middle base of an odd intron takes ``+``).
  Bases beyond the transcript continue the UTR numbering (``c.-N`` upstream, ``c.*N``
  downstream), as HGVS prescribes for up/downstream positions.
- **Protein.** Predicted consequences are given in parentheses with three-letter codes:
  ``p.(Arg10Gly)``, ``p.(Trp24Ter)``, ``p.(Arg10GlyfsTer5)`` (the first changed amino acid
  counts as 1 in ``fsTerN`` and in ``extTerN``), ``p.(Lys5del)``,
  ``p.(Lys5_Gly6insArg)``, ``p.(Lys5dup)``, ``p.(Leu54=)``, ``p.(Ter110GlnextTer17)``;
  a change to the initiation codon is ``p.(Met1?)``; a variant over an exon/intron
  border is ``p.?``; one outside the CDS has no protein name (None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from seqoia.genomics.transcripts import Transcript

#: Bases read either side of a transcript so 3' shifts and up/downstream names have room.
FLANK_BP = 1_000

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODON_TABLE = {
    a + b + c: _AMINO[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES)
    for j, b in enumerate(_BASES)
    for k, c in enumerate(_BASES)
}
THREE_LETTER = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
    "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
    "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "Ter",
    "X": "Xaa",
}  # fmt: skip


class Genome(Protocol):
    """What HGVS naming needs of a reference (``pysam.FastaFile`` is one)."""

    def fetch(self, reference: str, start: int, end: int) -> str: ...

    def get_reference_length(self, reference: str) -> int: ...


@dataclass(frozen=True)
class HgvsNames:
    """The names of one variant on one transcript."""

    g: str
    c: str
    p: str | None


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def translate(cds: str) -> str:
    """One-letter protein of ``cds`` up to and including the first stop (``*``)."""
    out = []
    for i in range(0, len(cds) - 2, 3):
        aa = CODON_TABLE.get(cds[i : i + 3].upper(), "X")
        out.append(aa)
        if aa == "*":
            break
    return "".join(out)


def minimal_change(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Trim the bases ``ref`` and ``alt`` share: (first changed 1-based position, ref, alt).

    For an insertion (empty ref) the position is that of the base after the insertion.
    """
    ref, alt = ref.upper(), alt.upper()
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def shift_3prime(seq: str, start: int, ref: str, alt: str, limit: int) -> tuple[int, str]:
    """Shift a pure insertion or deletion at 0-based ``start`` of ``seq`` rightwards.

    Returns (new start, new inserted/deleted bases). ``limit`` is the first index the
    changed bases may not reach (the end of the exon/intron or of the sequence).
    Substitutions and delins are returned unchanged.
    """
    if ref and not alt:  # deletion of seq[start:start+len]
        length = len(ref)
        while start + length < limit and seq[start] == seq[start + length]:
            start += 1
        return start, seq[start : start + length]
    if alt and not ref:  # insertion before seq[start]
        while start < limit and seq[start] == alt[0]:
            alt = alt[1:] + seq[start]
            start += 1
        return start, alt
    return start, alt


def _describe(
    name: Callable[[int], str], start: int, ref: str, alt: str, seq: str, prefix: str
) -> str:
    """A nucleotide description in one coordinate system; ``label(i)`` names index i."""
    if ref and alt and len(ref) == 1 and len(alt) == 1:
        return f"{prefix}{name(start)}{ref}>{alt}"

    def span(first: int, last: int) -> str:
        return name(first) if first == last else f"{name(first)}_{name(last)}"

    if ref and not alt:
        return f"{prefix}{span(start, start + len(ref) - 1)}del"
    if alt and not ref:
        n = len(alt)
        if start >= n and seq[start - n : start] == alt:
            return f"{prefix}{span(start - n, start - 1)}dup"
        return f"{prefix}{name(start - 1)}_{name(start)}ins{alt}"
    return f"{prefix}{span(start, start + len(ref) - 1)}delins{alt}"


def hgvs_g(genome: Genome, contig: str, pos: int, ref: str, alt: str) -> str:
    """``contig:g.…`` for a VCF allele, 3'-shifted on the forward strand."""
    start1, r, a = minimal_change(pos, ref, alt)
    contig_length = genome.get_reference_length(contig)
    window_start = max(0, start1 - 1 - FLANK_BP)
    window_end = min(contig_length, start1 - 1 + len(r) + FLANK_BP)
    seq = genome.fetch(contig, window_start, window_end).upper()
    start = start1 - 1 - window_start
    if bool(r) != bool(a):
        start, changed = shift_3prime(seq, start, r, a, len(seq))
        r, a = (changed, "") if r else ("", changed)
    return _describe(lambda i: str(i + window_start + 1), start, r, a, seq, f"{contig}:g.")


class OrientedTranscript:
    """A transcript's genomic span (plus flanks) read in the transcript's orientation.

    Index ``i`` runs 5'→3' along the transcript; exons are ``(first, last)`` index pairs in
    that order; ``cds_first``/``cds_last`` are the indices of ``c.1`` and of the stop
    codon's last base.
    """

    def __init__(self, transcript: Transcript, genome: Genome) -> None:
        self.transcript = transcript
        length = genome.get_reference_length(transcript.contig)
        self.region_start = max(1, transcript.start - FLANK_BP)
        self.region_end = min(length, transcript.end + FLANK_BP)
        seq = genome.fetch(transcript.contig, self.region_start - 1, self.region_end).upper()
        self.minus = transcript.strand == "-"
        self.seq = reverse_complement(seq) if self.minus else seq
        self.exons = sorted(
            (min(pair), max(pair))
            for pair in ((self.index(e.start), self.index(e.end)) for e in transcript.exons)
        )
        self.mrna_offsets: list[int] = []  # mRNA index of each exon's first base
        total = 0
        for first, last in self.exons:
            self.mrna_offsets.append(total)
            total += last - first + 1
        self.mrna_length = total
        self.mrna = "".join(self.seq[first : last + 1] for first, last in self.exons)
        self.cds_first: int | None = None
        self.cds_last: int | None = None
        if transcript.cds_start is not None and transcript.cds_end is not None:
            ends = sorted((self.index(transcript.cds_start), self.index(transcript.cds_end)))
            self.cds_first, self.cds_last = ends
            self.cds_m_first = self.mrna_index(ends[0])
            self.cds_m_last = self.mrna_index(ends[1])

    # -- coordinates -------------------------------------------------------------------

    def index(self, genomic: int) -> int:
        """Oriented index of 1-based genomic position ``genomic``."""
        return self.region_end - genomic if self.minus else genomic - self.region_start

    def exon_of(self, i: int) -> int | None:
        for k, (first, last) in enumerate(self.exons):
            if first <= i <= last:
                return k
        return None

    def mrna_index(self, i: int) -> int:
        """0-based mRNA index of an exonic index, extended linearly beyond the transcript."""
        k = self.exon_of(i)
        if k is not None:
            return self.mrna_offsets[k] + i - self.exons[k][0]
        if i < self.exons[0][0]:
            return i - self.exons[0][0]
        if i > self.exons[-1][1]:
            return self.mrna_length - 1 + i - self.exons[-1][1]
        raise ValueError(f"index {i} is intronic")

    def _exonic_label(self, m: int) -> str:
        if self.cds_first is None:
            return str(m + 1) if m >= 0 else str(m)
        if m < self.cds_m_first:
            return f"-{self.cds_m_first - m}"
        if m <= self.cds_m_last:
            return str(m - self.cds_m_first + 1)
        return f"*{m - self.cds_m_last}"

    def label(self, i: int) -> str:
        """The c./n. position of index ``i`` (without the prefix)."""
        if self.exon_of(i) is not None or i < self.exons[0][0] or i > self.exons[-1][1]:
            return self._exonic_label(self.mrna_index(i))
        for (_, up_last), (down_first, _) in zip(self.exons, self.exons[1:], strict=False):
            if up_last < i < down_first:
                d_up, d_down = i - up_last, down_first - i
                if d_up <= d_down:
                    return f"{self._exonic_label(self.mrna_index(up_last))}+{d_up}"
                return f"{self._exonic_label(self.mrna_index(down_first))}-{d_down}"
        raise AssertionError("unreachable: every index is exonic, intronic or outside")

    def segment_end(self, i: int) -> int:
        """One past the last index of the exon, intron or flank holding index ``i``."""
        bounds = [b for first, last in self.exons for b in (first, last + 1)]
        for b in bounds:
            if b > i:
                return b
        return len(self.seq)

    # -- naming ------------------------------------------------------------------------

    def locate(self, pos: int, ref: str, alt: str) -> tuple[int, str, str]:
        """A VCF allele as (oriented start, ref, alt), trimmed and 3'-shifted."""
        g, r, a = minimal_change(pos, ref, alt)
        if self.minus:
            start = self.region_end - g - len(r) + 1
            r, a = reverse_complement(r), reverse_complement(a)
        else:
            start = g - self.region_start
        if bool(r) != bool(a):
            # Stay in the segment of the first changed base (for an insertion, of the base
            # 5' of it): a variant is not shifted across an exon/intron border.
            anchor = start if r else start - 1
            limit = self.segment_end(anchor)
            start, changed = shift_3prime(self.seq, start, r, a, limit)
            r, a = (changed, "") if r else ("", changed)
        return start, r, a

    def hgvs_c(self, pos: int, ref: str, alt: str) -> str:
        start, r, a = self.locate(pos, ref, alt)
        prefix = f"{self.transcript.id}:{'c' if self.cds_first is not None else 'n'}."
        return _describe(self.label, start, r, a, self.seq, prefix)

    def hgvs_p(self, pos: int, ref: str, alt: str) -> str | None:
        """The predicted protein change, ``p.?`` over a border, None outside the CDS."""
        if self.cds_first is None or self.cds_last is None:
            return None
        start, r, a = self.locate(pos, ref, alt)
        if r:
            first, last = start, start + len(r) - 1
            if last < self.cds_first or first > self.cds_last:
                return None
            exonic = [self.exon_of(i) for i in range(first, last + 1)]
        else:
            # An insertion goes into the mRNA after the base 5' of it, even when the 3'
            # shift has taken it to the end of that base's exon.
            first, last = start - 1, start - 1
            if start - 1 < self.cds_first or start > self.cds_last:
                return None
            exonic = [self.exon_of(start - 1)]
        if any(k is None for k in exonic) or len(set(exonic)) > 1:
            if all(k is None for k in exonic):
                return None  # intronic: the splice consequence is bcftools csq's to call
            return "p.?"
        m = self.mrna_index(start) if r else self.mrna_index(start - 1) + 1
        alt_mrna = self.mrna[:m] + a + self.mrna[m + len(r) :]
        c0 = self.cds_m_first
        ref_p = translate(self.mrna[c0:])
        alt_p = translate(alt_mrna[c0:])
        if first <= self.cds_first + 2 and last >= self.cds_first and alt_p[:1] != "M":
            return "p.(Met1?)"
        return describe_protein(ref_p, alt_p, m - c0, len(r), len(a))


def _aa(letter: str) -> str:
    return THREE_LETTER.get(letter, "Xaa")


def describe_protein(ref_p: str, alt_p: str, cds_offset: int, ref_len: int, alt_len: int) -> str:
    """Name the change from protein ``ref_p`` to ``alt_p`` (both up to their stop).

    ``cds_offset`` is the 0-based CDS position of the change, ``ref_len``/``alt_len`` the
    changed nucleotide lengths (a frameshift when their difference is not a multiple of 3).
    """
    if ref_p == alt_p:
        n = cds_offset // 3
        return f"p.({_aa(ref_p[n])}{n + 1}=)"
    i = next((k for k, (x, y) in enumerate(zip(ref_p, alt_p, strict=False)) if x != y), None)
    if i is None:  # one protein is a prefix of the other: a stop lost or gained at its end
        i = min(len(ref_p), len(alt_p))
    if i >= len(alt_p):
        return "p.?"
    if i >= len(ref_p):
        return "p.?"
    if ref_p[i] == "*":  # the stop codon changed: an extension
        tail = alt_p.find("*", i)
        length = str(tail - i + 1) if tail >= 0 else "?"  # the new residue counts as 1
        return f"p.(Ter{i + 1}{_aa(alt_p[i])}extTer{length})"
    if alt_p[i] == "*" and (ref_len == alt_len or (alt_len - ref_len) % 3):
        return f"p.({_aa(ref_p[i])}{i + 1}Ter)"
    if (alt_len - ref_len) % 3:
        tail = alt_p.find("*", i)
        length = str(tail - i + 1) if tail >= 0 else "?"
        return f"p.({_aa(ref_p[i])}{i + 1}{_aa(alt_p[i])}fsTer{length})"
    return _inframe(ref_p, alt_p, i, cds_offset, ref_len, alt_len)


def _inframe(ref_p: str, alt_p: str, i: int, cds_offset: int, ref_len: int, alt_len: int) -> str:
    """An in-frame change from the first differing amino acid ``i`` on."""
    # Where the old stop lands once the change adds or removes whole codons; a stop
    # before it was made by the change itself.
    expected_stop = len(ref_p) - 1 + (alt_len - ref_len) // 3
    truncated = alt_p.endswith("*") and alt_p.index("*") < expected_stop
    if truncated:
        # A stop codon created inside the change: what comes after it is not made.
        inserted = alt_p[i:]
        last_codon = (cds_offset + max(ref_len, 1) - 1) // 3
        deleted = ref_p[i : max(i, last_codon) + (1 if ref_len else 0)]
        if not deleted:
            return (
                f"p.({_aa(ref_p[i - 1])}{i}_{_aa(ref_p[i])}{i + 1}ins{''.join(map(_aa, inserted))})"
            )
        return _delins(deleted, inserted, i)
    s = 0
    while (
        s < len(ref_p) - i
        and s < len(alt_p) - i
        and ref_p[len(ref_p) - 1 - s] == alt_p[len(alt_p) - 1 - s]
    ):
        s += 1
    deleted = ref_p[i : len(ref_p) - s]
    inserted = alt_p[i : len(alt_p) - s]
    if len(deleted) == 1 and len(inserted) == 1:
        return f"p.({_aa(deleted)}{i + 1}{_aa(inserted)})"
    if not inserted:
        return f"p.({_span(deleted, i)}del)"
    if not deleted:
        n = len(inserted)
        if i >= n and ref_p[i - n : i] == inserted:
            return f"p.({_span(inserted, i - n)}dup)"
        return f"p.({_aa(ref_p[i - 1])}{i}_{_aa(ref_p[i])}{i + 1}ins{''.join(map(_aa, inserted))})"
    return _delins(deleted, inserted, i)


def _span(aas: str, start: int) -> str:
    first = f"{_aa(aas[0])}{start + 1}"
    return first if len(aas) == 1 else f"{first}_{_aa(aas[-1])}{start + len(aas)}"


def _delins(deleted: str, inserted: str, i: int) -> str:
    return f"p.({_span(deleted, i)}delins{''.join(map(_aa, inserted))})"


def name_variant(
    transcript: OrientedTranscript, genome: Genome, pos: int, ref: str, alt: str
) -> HgvsNames:
    """All three names of one VCF allele on one transcript."""
    contig = transcript.transcript.contig
    return HgvsNames(
        g=hgvs_g(genome, contig, pos, ref, alt),
        c=transcript.hgvs_c(pos, ref, alt),
        p=transcript.hgvs_p(pos, ref, alt),
    )
