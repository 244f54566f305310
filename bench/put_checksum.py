"""What recording the content's SHA-256 at ``put_bytes`` costs the local store.

Candidate: ``LocalStore.put_bytes`` as it is (MD5 ETag + SHA-256, both kept in the ETag
extended attribute). Baseline, in the same process: the same call with the SHA-256 replaced
by a constant (what the store did before it recorded checksums). Rounds interleave baseline
and candidate, and each times ``--puts`` puts per size; ``fsync=False`` and /dev/shm when it
exists, so that the hashing is not hidden behind the disk (a worst case for the ratio).

    python bench/put_checksum.py [--sizes 1024,65536,1048576] [--puts 200] [--rounds 7]
                                 [--fsync --dir /tmp]   # as a worker's plain puts, on disk
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
import types
from pathlib import Path

from seqoia.storage import local as local_module
from seqoia.storage.local import LocalStore

_CONSTANT = hashlib.sha256(b"").hexdigest()


class _NoDigest:
    def hexdigest(self) -> str:
        return _CONSTANT


#: ``hashlib`` as the baseline sees it: MD5 as usual, SHA-256 free.
BASELINE_HASHLIB = types.SimpleNamespace(md5=hashlib.md5, sha256=lambda *_: _NoDigest())


def time_puts(store: LocalStore, data: bytes, puts: int, baseline: bool) -> float:
    """Seconds per put of ``data`` (to ``puts`` keys, then deleted)."""
    local_module.hashlib = BASELINE_HASHLIB if baseline else hashlib  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        for i in range(puts):
            store.put_bytes(f"bench/{i:05d}", data)
        elapsed = time.perf_counter() - started
    finally:
        local_module.hashlib = hashlib
    store.delete_many([f"bench/{i:05d}" for i in range(puts)])
    return elapsed / puts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,65536,1048576")
    parser.add_argument("--puts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--fsync", action="store_true", help="the store's default durability")
    parser.add_argument("--dir", help="where the store goes (default /dev/shm when it exists)")
    args = parser.parse_args(argv)
    base = args.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    workdir = Path(tempfile.mkdtemp(prefix="seqoia-put-checksum-", dir=base))
    try:
        store = LocalStore(workdir / "store", fsync=args.fsync)
        print(
            f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.puts} puts"
            f" in {workdir} (fsync={args.fsync})"
        )
        print(f"{'size':>9}  {'baseline µs':>11}  {'sha256 µs':>9}  {'ratio':>6}")
        for size in map(int, args.sizes.split(",")):
            data = os.urandom(size)
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.rounds):
                for baseline in (True, False):  # interleaved: the same noise for both
                    times[baseline].append(time_puts(store, data, args.puts, baseline))
            before = statistics.median(times[True])
            after = statistics.median(times[False])
            print(f"{size:>9}  {before * 1e6:>11.1f}  {after * 1e6:>9.1f}  {after / before:>6.2f}")
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
