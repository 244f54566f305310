"""The worker's scratch folder: private to this user, and nothing written outside it.

Everything a worker reads from the store is untrusted (invariant 1 makes the store the
truth, not an authority): a forged manifest or a hostile key in a run folder must not
name a local file outside the attempt's folder. Every local path the runner builds from
store data goes through :func:`path_inside` before any folder is created for it.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqoia.errors import InvalidKeyError
from seqoia.storage.permissions import private_folder
from seqoia.vocabulary import validate_relative_path


def open_scratch(scratch_dir: Path, folder_mode: int = 0o700) -> Path:
    """The scratch root, created private; ConfigurationError if others could reach it."""
    return private_folder(scratch_dir, folder_mode, what="scratch folder")


def path_inside(root: Path, *parts: str, what: str = "file name") -> Path:
    """``root/parts...``, refused unless it resolves to a place strictly below ``root``.

    Each part is checked as a safe relative path first (no ``..``, no absolute part), then
    the joined path is resolved (following any symlink already on disk) and compared
    with the resolved root, so neither a crafted name nor a planted link leads out.
    """
    for part in parts:
        validate_relative_path(part, what)
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(root.joinpath(*parts)))
    if candidate == real_root or not candidate.is_relative_to(real_root):
        raise InvalidKeyError(
            f"{what} {'/'.join(parts)[:200]!r} leads outside the scratch folder",
        )
    return root.joinpath(*parts)
