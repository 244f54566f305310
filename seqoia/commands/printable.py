"""Text from input files made safe to print on a terminal.

Sample sheets and run folders are written by LIMSes, spreadsheets and people; whatever
they hold reaches error messages (a Sample_ID, a run id, a file name). Printed raw, an
escape sequence in a sample sheet can clear the screen, move the cursor or recolour text
so that a sheet prints a fake "valid"; a right-to-left override can reverse what follows.
:func:`printable` spells every such character as a Python escape instead.
"""

from __future__ import annotations

import unicodedata

__all__ = ["UNSAFE_CATEGORIES", "printable"]

#: Unicode categories never printed raw: controls (C0, DEL, C1 such as CSI U+009B),
#: format characters (bidirectional overrides, zero-width joiners), line and paragraph
#: separators, unassigned and surrogate code points.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Cs", "Co"})


def _escaped(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format or separator character escaped (``\\x1b``)."""
    if text.isprintable():  # the common case, and a fast one
        return text
    return "".join(
        _escaped(c) if c != " " and unicodedata.category(c) in UNSAFE_CATEGORIES else c
        for c in text
    )
