"""Text from a card (or from a file, or from another program) is data, never terminal control.

A holder name is whatever bytes the chip holds: a name with ``ESC ] 0 ; … BEL`` in it would
retitle the operator's terminal, one with U+202E would show the SSN reversed, and ``\\x0b`` or
NUL would split the national reader line.  Two functions, one rule for what counts as control:

- :func:`printable` escapes every control character as a visible ``\\x1b`` / ``\\u202e`` escape:
  for everything a person reads (tables, notes, error lines).
- :func:`strip_controls` drops them: for fixed layouts that must stay one line of fields (the
  national ``iReadCardBas`` line), where an escape would change the field's meaning.

Control = the Unicode categories Cc (C0, DEL, C1), Cf (format characters: the bidi overrides and
isolates, zero-width characters), Cs (lone surrogates, which a decoder may leave behind) and the
line / paragraph separators Zl, Zp.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["CONTROL_CATEGORIES", "is_control", "printable", "strip_controls"]

CONTROL_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_control(ch: str) -> bool:
    """True for a character that must not reach a terminal as it stands (module docstring)."""
    return unicodedata.category(ch) in CONTROL_CATEGORIES


def _escape(ch: str) -> str:
    if not is_control(ch):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\u202e``)."""
    if text.isprintable():  # fast path: False for every control category (and for a few
        return text  # harmless ones, such as U+3000, which _escape then keeps as they are)
    return "".join(_escape(ch) for ch in text)


def strip_controls(text: str) -> str:
    """``text`` without its control characters."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if not is_control(ch))
