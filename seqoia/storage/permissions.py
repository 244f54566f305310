"""File modes of patient data on local disks: the store's files, scratch and the cache.

Patient files are private to the service's user by default (files 0600, folders 0700).
A site whose readers share a group may choose 0640 or 0660 (``SEQOIA_FILE_MODE``); the
folder mode follows (0750, 0770). Nothing is ever readable by other users. Modes are
set with ``fchmod``/``chmod`` after creation, so the process's umask can narrow them
no further than it should and cannot widen them at all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from seqoia.errors import ConfigurationError

DEFAULT_FILE_MODE = 0o600
#: Modes an operator may choose: owner read-write, optionally the group's read or write.
ALLOWED_FILE_MODES = (0o600, 0o640, 0o660)


def parse_file_mode(value: str | int) -> int:
    """An allowed file mode from ``"0640"``, ``"640"``, ``"0o640"`` or an int."""
    try:
        mode = value if isinstance(value, int) else int(str(value).strip().lower(), 8)
    except ValueError:
        mode = -1
    if mode not in ALLOWED_FILE_MODES:
        allowed = ", ".join(f"{m:04o}" for m in ALLOWED_FILE_MODES)
        raise ConfigurationError(f"file mode {value!r} is not allowed: use one of {allowed}")
    return mode


def folder_mode_for(file_mode: int) -> int:
    """The folder mode matching ``file_mode``: whoever may read may also traverse."""
    return file_mode | ((file_mode & 0o444) >> 2)


def make_folders(folder: str | Path, mode: int) -> None:
    """``makedirs`` whose every created level gets exactly ``mode`` (not the umask's)."""
    folder = os.fspath(folder)
    try:
        os.mkdir(folder, mode)
    except FileNotFoundError:
        parent = os.path.dirname(folder.rstrip("/"))
        if parent and parent != folder:
            make_folders(parent, mode)
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            if _in_the_way(folder):
                raise
            return
    except FileExistsError:
        if _in_the_way(folder):
            raise
        return
    if mode != 0o700:  # the umask may have taken group bits away; 0700 is never widened
        os.chmod(folder, mode)


def _in_the_way(folder: str) -> bool:
    """After mkdir's EEXIST: whether a non-folder holds the name.

    A folder that a concurrent delete pruned between the two calls holds nothing, and
    is not in the way: the caller's next step finds it missing and makes it again.
    """
    return not os.path.isdir(folder) and os.path.lexists(folder)


def private_folder(folder: Path, mode: int = 0o700, *, what: str = "folder") -> Path:
    """Create ``folder`` with ``mode`` if absent; refuse one we do not own or others can read.

    A shared, predictable folder (``/tmp/seqoia-scratch``) could have been made by another
    user who then plants files there; so an existing folder must be ours, a real folder
    (not a symlink), and closed to other users.
    """
    try:
        make_folders(folder, mode)
        st = os.lstat(folder)
    except OSError as err:
        raise ConfigurationError(f"cannot create the {what} {folder}: {err}") from err
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigurationError(f"the {what} {folder} is not a folder (a symlink?)")
    if st.st_uid != os.getuid():
        raise ConfigurationError(
            f"the {what} {folder} belongs to uid {st.st_uid}, not to this user "
            f"(uid {os.getuid()}): choose a folder of your own"
        )
    extra = stat.S_IMODE(st.st_mode) & ~mode
    if extra & 0o077:
        raise ConfigurationError(
            f"the {what} {folder} has mode {stat.S_IMODE(st.st_mode):04o}; other users may "
            f"reach it: chmod {mode:04o} it or choose another folder"
        )
    return folder
