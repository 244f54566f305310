"""Sample-barcode matching, vectorised over a chunk of clusters.

Two rules:

- :class:`IndexMatcher`, bcl2fastq / BCL Convert: each index read separately may differ
  from the sample's index by up to its own number of mismatches (a no-call counts as a
  mismatch). Every variant within tolerance is enumerated at build time into a sorted
  code table, so matching a chunk is a ``searchsorted``. Two samples *collide* when some
  observed index pair is within tolerance of both (their indexes are within twice the
  tolerance in every index read); that is refused at build time, as bcl2fastq does.
- :class:`PicardMatcher`, Picard ``ExtractIlluminaBarcodes``: mismatches summed over the
  concatenated barcode, no-calls in the read not counted, ``MAX_MISMATCHES``,
  ``MIN_MISMATCH_DELTA`` (best must beat second best) and ``MAX_NO_CALLS``.

Both return, per cluster, the sample's position in the list given (-1 = undetermined).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, product

import numpy as np

from seqoia.errors import ConfigurationError, SampleSheetError

__all__ = ["IndexMatcher", "PicardMatcher", "encode_bases", "hamming"]

_ALPHABET = b"ACGTN"
_CODE = np.full(256, 4, dtype=np.uint64)  # anything else (., n) is a no-call
for _i, _c in enumerate(b"ACGT"):
    _CODE[_c] = _i
    _CODE[ord(chr(_c).lower())] = _i
_BITS = 3
_MAX_LEN = 64 // _BITS
#: Largest flat (set ids -> sample) table a matcher builds instead of sorting keys per chunk.
_DENSE_MAX = 1 << 22


def encode_bases(seqs: np.ndarray) -> np.ndarray:
    """Pack ASCII rows (n, L <= 21) into uint64 codes, 3 bits per base."""
    if seqs.shape[1] > _MAX_LEN:
        raise ConfigurationError(f"index of {seqs.shape[1]} bases is longer than {_MAX_LEN}")
    codes = np.zeros(seqs.shape[0], dtype=np.uint64)
    for j in range(seqs.shape[1]):
        codes = (codes << np.uint64(_BITS)) | _CODE[seqs[:, j]]
    return codes


def hamming(a: bytes, b: bytes) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _variants(seq: bytes, mismatches: int) -> list[bytes]:
    out = [seq]
    for k in range(1, mismatches + 1):
        for positions in combinations(range(len(seq)), k):
            choices = [[c for c in _ALPHABET if c != seq[p]] for p in positions]
            for subs in product(*choices):
                v = bytearray(seq)
                for p, c in zip(positions, subs, strict=True):
                    v[p] = c
                out.append(bytes(v))
    return out


class IndexMatcher:
    """bcl2fastq-style matcher for the samples of one lane."""

    def __init__(
        self,
        indexes: Sequence[Sequence[str]],
        mismatches: Sequence[int],
        *,
        run: str | None = None,
        owners: Sequence[str] | None = None,
    ) -> None:
        """``indexes[s][j]``: row s's index for index read j (same length for all s).

        ``owners[s]`` names the sample of row s: rows of one sample (several barcodes of
        one sample) may be close to each other, since their reads go to one place anyway.
        """
        self.n_reads = len(mismatches)
        self.mismatches = tuple(mismatches)
        self.indexes = [tuple(ix.upper().encode() for ix in row) for row in indexes]
        self.owners = tuple(owners) if owners is not None else tuple(map(str, range(len(indexes))))
        longest = max((len(ix) for row in self.indexes for ix in row), default=0)
        if longest > _MAX_LEN:
            # Before the variants are enumerated: a 1,000-base index with 2 mismatches
            # would make 8 million of them.
            raise SampleSheetError(
                f"an index of {longest} bases is longer than the {_MAX_LEN} this matcher "
                "compares; shorten the indexes or set OverrideCycles to read fewer I cycles",
                run=run,
            )
        self._check_collisions(run)
        # Per index read: sorted variant codes -> id of a *set* of unique index ids, so
        # that a variant near two indexes of read j can still resolve through read j+1.
        self._tables: list[tuple[np.ndarray, np.ndarray]] = []
        self._sets: list[list[frozenset[int]]] = []
        uid_of: list[dict[bytes, int]] = []
        for j in range(self.n_reads):
            uniq = sorted({row[j] for row in self.indexes})
            uid = {seq: i for i, seq in enumerate(uniq)}
            uid_of.append(uid)
            near: dict[bytes, set[int]] = {}
            for seq, i in uid.items():
                for v in _variants(seq, self.mismatches[j]):
                    near.setdefault(v, set()).add(i)
            set_ids: dict[frozenset[int], int] = {}
            keys = []
            vals = []
            for v, ids in near.items():
                fs = frozenset(ids)
                keys.append(v)
                vals.append(set_ids.setdefault(fs, len(set_ids)))
            arr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
            codes = encode_bases(arr)
            order = np.argsort(codes)
            self._tables.append((codes[order], np.asarray(vals, dtype=np.int64)[order]))
            self._sets.append(list(set_ids))
        # (set id per read) -> sample, for every combination that can occur.
        self._combo: dict[tuple[int, ...], int] = {}
        for s, row in enumerate(self.indexes):
            per_read = [
                [k for k, fs in enumerate(self._sets[j]) if uid_of[j][row[j]] in fs]
                for j in range(self.n_reads)
            ]
            for combo in product(*per_read):
                self._combo[combo] = s
        # The same as a flat table over the mixed-radix key of ``match``, when it is small.
        self._radix = [len(sets) + 1 for sets in self._sets]
        self._dense: np.ndarray | None = None
        if int(np.prod(self._radix, dtype=np.float64)) <= _DENSE_MAX:
            self._dense = np.full(int(np.prod(self._radix)), -1, dtype=np.int64)
            for combo, s in self._combo.items():
                key = 0
                for j, set_id in enumerate(combo):
                    key = key * self._radix[j] + set_id + 1
                self._dense[key] = s
        self._matrices: list[np.ndarray] | None = None

    def index_matrices(self) -> list[np.ndarray]:
        """Per index read, the samples' indexes as an ASCII (samples, length) matrix."""
        if self._matrices is None:
            self._matrices = [
                np.frombuffer(b"".join(row[j] for row in self.indexes), dtype=np.uint8).reshape(
                    len(self.indexes), -1
                )
                for j in range(self.n_reads)
            ]
        return self._matrices

    def _check_collisions(self, run: str | None) -> None:
        seen: dict[tuple[bytes, ...], int] = {}
        for s, row in enumerate(self.indexes):
            if row in seen and self.owners[seen[row]] != self.owners[s]:
                raise SampleSheetError(
                    f"samples {seen[row] + 1} and {s + 1} have the same index "
                    f"{'+'.join(x.decode() for x in row)}",
                    run=run,
                )
            seen[row] = s
        for a, b in combinations(range(len(self.indexes)), 2):
            if self.owners[a] == self.owners[b]:
                continue
            ra, rb = self.indexes[a], self.indexes[b]
            if all(hamming(ra[j], rb[j]) <= 2 * self.mismatches[j] for j in range(self.n_reads)):
                raise SampleSheetError(
                    "barcode collision: "
                    f"{'+'.join(x.decode() for x in ra)} and {'+'.join(x.decode() for x in rb)} "
                    f"are within {'/'.join(map(str, self.mismatches))} mismatches of one "
                    "observed index; lower the barcode mismatches",
                    run=run,
                )

    def match(self, observed: Sequence[np.ndarray]) -> np.ndarray:
        """``observed[j]``: ASCII (n, L_j) bases of index read j. Returns sample per cluster."""
        n = observed[0].shape[0] if observed else 0
        set_ids = []
        for j in range(self.n_reads):
            table, vals = self._tables[j]
            codes = encode_bases(observed[j])
            pos = np.searchsorted(table, codes)
            pos[pos == len(table)] = 0
            hit = table[pos] == codes
            set_ids.append(np.where(hit, vals[pos], -1))
        if self.n_reads == 0:
            return np.zeros(n, dtype=np.int64)
        # One int64 key per cluster (set ids are small), so unique() sorts a flat array.
        key = np.zeros(n, dtype=np.int64)
        radix = self._radix
        for j in range(self.n_reads):
            key = key * radix[j] + (set_ids[j] + 1)
        if self._dense is not None:
            return self._dense[key]
        combos, inverse = np.unique(key, return_inverse=True)
        resolved = np.empty(len(combos), dtype=np.int64)
        for k, code in enumerate(combos.tolist()):
            parts = []
            for j in range(self.n_reads - 1, -1, -1):
                code, digit = divmod(code, radix[j])
                parts.append(digit - 1)
            resolved[k] = self._combo.get(tuple(reversed(parts)), -1)
        return resolved[inverse.reshape(-1)]


class PicardMatcher:
    """Picard ``ExtractIlluminaBarcodes`` rule over the concatenated barcode."""

    _BLOCK = 4096

    def __init__(
        self,
        barcodes: Sequence[str],
        *,
        max_mismatches: int = 1,
        min_mismatch_delta: int = 1,
        max_no_calls: int = 2,
    ) -> None:
        self.barcodes = [b.upper() for b in barcodes]
        self.max_mismatches = max_mismatches
        self.min_mismatch_delta = min_mismatch_delta
        self.max_no_calls = max_no_calls
        length = len(self.barcodes[0]) if self.barcodes else 0
        if any(len(b) != length for b in self.barcodes):
            raise ConfigurationError("Picard barcodes must all have the same length")
        self._matrix = np.frombuffer("".join(self.barcodes).encode(), dtype=np.uint8).reshape(
            len(self.barcodes), length
        )

    def match(self, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``observed``: ASCII (n, L). Returns (sample per cluster or -1, best mismatches)."""
        n, length = observed.shape
        sample = np.full(n, -1, dtype=np.int64)
        best_mm = np.full(n, length + 1, dtype=np.int64)
        if not self.barcodes or n == 0:
            return sample, best_mm
        no_call = _CODE[observed] == 4
        no_calls = no_call.sum(axis=1)
        for start in range(0, n, self._BLOCK):
            obs = observed[start : start + self._BLOCK]
            nc = no_call[start : start + self._BLOCK]
            # (block, samples): mismatches where the read base is called and differs.
            mm = ((obs[:, None, :] != self._matrix[None, :, :]) & ~nc[:, None, :]).sum(axis=2)
            best = mm.argmin(axis=1)
            best_val = mm[np.arange(len(mm)), best]
            if mm.shape[1] > 1:
                second = np.partition(mm, 1, axis=1)[:, 1]
            else:
                second = np.full(len(mm), length + 1)
            ok = (
                (no_calls[start : start + self._BLOCK] <= self.max_no_calls)
                & (best_val <= self.max_mismatches)
                & (second - best_val >= self.min_mismatch_delta)
            )
            sample[start : start + self._BLOCK] = np.where(ok, best, -1)
            best_mm[start : start + self._BLOCK] = best_val
        return sample, best_mm
