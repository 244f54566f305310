"""The prepared reference (FASTA, .fai, .dict, minimap2 index) a stage works against.

The runner puts the reference FASTA into the worker's cache once per ETag; this prepares
its indexes once per checksum and reuses them across stages and runs on this machine.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from seqoia.genomics.reference import PreparedReference, ReferenceCache
from seqoia.tasks.stage import StageContext
from seqoia.vocabulary import sha256_file


def prepared_reference(ctx: StageContext) -> PreparedReference:
    """The reference of ``ctx``, prepared (indexed) in the worker's cache."""
    if ctx.reference_fasta is None or ctx.cache_dir is None:
        raise RuntimeError(f"stage {ctx.stage} was not declared with reference=True")
    checksum_file = ctx.reference_fasta.with_suffix(".fa.sha256")
    if not checksum_file.exists():
        # Two stage processes may prepare the same reference at once: each writes its own
        # temporary file, and either rename wins with the same content.
        tmp = checksum_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(sha256_file(ctx.reference_fasta))
        tmp.replace(checksum_file)
    fasta: Path = ctx.reference_fasta

    def copy_to(target: Path) -> None:
        shutil.copyfile(fasta, target)

    return ReferenceCache(ctx.cache_dir / "prepared").get(
        checksum_file.read_text().strip(), copy_to
    )
