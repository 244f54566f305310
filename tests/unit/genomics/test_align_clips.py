"""Soft clips of read 2 land at the right end (mappy's pair mode flips read 2's span)."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pysam

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.reference import prepare_reference

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def test_read2_with_a_garbage_tail_is_clipped_at_its_3_prime_end(tmp_path: Path) -> None:
    rng = random.Random(7)
    ref = "".join(rng.choice("ACGT") for _ in range(6000))
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">c\n" + ref + "\n")
    reference = prepare_reference(fasta, tmp_path / "prepared")
    r1 = ref[1000:1150]
    read2 = ref[1250:1400].translate(_COMPLEMENT)[::-1]
    r2 = read2[:130] + "".join(rng.choice("ACGT") for _ in range(20))  # 3' end is junk
    for name, seq in (("r1.fq.gz", r1), ("r2.fq.gz", r2)):
        with gzip.open(tmp_path / name, "wt") as handle:
            handle.write(f"@pair/1\n{seq}\n+\n{'I' * len(seq)}\n")
    group = ReadGroup(id="RG1", sample="S", library="S", platform_unit="X.1")
    pair = FastqPair(r1=tmp_path / "r1.fq.gz", r2=tmp_path / "r2.fq.gz", read_group=group)
    bam = tmp_path / "out.bam"
    align_sample([pair], reference, bam, threads=1)
    with pysam.AlignmentFile(str(bam)) as aln:
        second = next(r for r in aln if r.is_read2)
    assert second.is_reverse
    # On the reverse strand the 3' junk comes first in SEQ: ~20S130M ending at 1400 (a
    # junk base may match the reference by chance, so the clip can be a base shorter).
    (first_op, first_len), (last_op, _) = second.cigartuples[0], second.cigartuples[-1]
    assert first_op == pysam.CSOFT_CLIP and 17 <= first_len <= 20
    assert last_op == pysam.CMATCH
    assert second.reference_end == 1400
