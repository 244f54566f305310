"""Reference preparation and the per-checksum reference cache."""

from __future__ import annotations

import gzip
import hashlib
import random
import threading
from pathlib import Path

import pytest

from seqoia.errors import FormatError, InputError
from seqoia.genomics.reference import PreparedReference, ReferenceCache, prepare_reference

from .helpers import random_genome, write_fasta


def _small_fasta(folder: Path, seed: int = 1) -> Path:
    genome = random_genome(random.Random(seed), {"c1": 6000, "c2": 3000})
    write_fasta(genome, folder / "small.fa")
    return folder / "small.fa"


def test_prepare_reference_decompresses_gzip_and_builds_every_index(tmp_path: Path) -> None:
    plain = _small_fasta(tmp_path)
    gz = tmp_path / "small.fa.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    prepared = prepare_reference(gz, tmp_path / "out", bwa=False)
    assert prepared.fasta.read_bytes() == plain.read_bytes()
    assert prepared.fai.exists() and prepared.seq_dict.exists() and prepared.mmi.exists()
    assert [(c.name, c.length) for c in prepared.contigs] == [("c1", 6000), ("c2", 3000)]
    assert prepared.length == 9000
    assert prepared.sha256 == hashlib.sha256(gz.read_bytes()).hexdigest()
    assert "SN:c2\tLN:3000" in prepared.seq_dict.read_text()
    assert prepared.bwa_index is None
    assert PreparedReference.load(tmp_path / "out") == prepared


def test_prepare_reference_rejects_a_corrupt_gzip_naming_the_file(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(_small_fasta(tmp_path).read_bytes()))
    data[len(data) // 2 : len(data) // 2 + 40] = b"\0" * 40
    bad = tmp_path / "bad.fa.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="bad.fa.gz"):
        prepare_reference(bad, tmp_path / "out", bwa=False)


def test_prepare_reference_rejects_a_file_that_is_not_fasta(tmp_path: Path) -> None:
    not_fasta = tmp_path / "reads.fq"
    not_fasta.write_text("@r1\nACGT\n+\nIIII\n")
    with pytest.raises(FormatError, match="reads.fq"):
        prepare_reference(not_fasta, tmp_path / "out", bwa=False)


def test_reference_cache_prepares_once_per_checksum_under_concurrent_callers(
    tmp_path: Path,
) -> None:
    source = _small_fasta(tmp_path)
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    fetched: list[int] = []
    cache = ReferenceCache(tmp_path / "cache")

    def fetch(path: Path) -> None:
        fetched.append(1)
        path.write_bytes(source.read_bytes())

    results: list[PreparedReference] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(sha, fetch)))
               for _ in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fetched) == 1
    assert len(results) == 3 and len({r.fasta for r in results}) == 1
    assert results[0].fasta.parent == tmp_path / "cache" / sha
    assert results[0].mmi.exists()
    again = ReferenceCache(tmp_path / "cache").get(sha, fetch)
    assert again == results[0] and len(fetched) == 1
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp")]


def test_reference_cache_refuses_content_with_another_checksum(tmp_path: Path) -> None:
    source = _small_fasta(tmp_path)
    cache = ReferenceCache(tmp_path / "cache")
    with pytest.raises(InputError, match="checksum"):
        cache.get("0" * 64, lambda path: path.write_bytes(source.read_bytes()))
    assert not (tmp_path / "cache" / ("0" * 64)).exists()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp")]
