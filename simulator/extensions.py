"""A region's local extension on a simulated card (application-files.md §4; issue 15).

The declaration (TOML, :mod:`apdu.extensions`) travels with the card: the personalisation keeps
its text, so a saved card rebuilds the extension's DFs and EFs when it is loaded, and the terminal
decodes the card's bytes with the same file.  ``sscard sim issue --extension FILE`` reads it here.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from apdu.extensions import MAX_TEXT, Extension, ExtensionError, parse_extension
from simulator.smallfile import read_small_file
from simulator.store import CardFileError

__all__ = ["ExtensionError", "card_extension", "extension_of", "read_extension_file"]

#: The example shipped with sscard: Jiangsu's EF0D (application-files.md §4).
JIANGSU = Path(__file__).resolve().parent.parent / "apdu" / "regions" / "jiangsu.toml"


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> Extension:
    return parse_extension(text)


def extension_of(text: str | None) -> Extension | None:
    """The validated extension a personalisation carries (parsed once per text), or None."""
    return None if text is None else _parsed(text)


def card_extension(personalisation: dict[str, Any]) -> Extension | None:
    """The extension recorded in a card file's personalisation; a bad one is a bad card file."""
    text = personalisation.get("extension")
    if text is not None and not isinstance(text, str):
        raise CardFileError("card file: personalisation.extension must be TOML text")
    try:
        return extension_of(text)
    except ExtensionError as exc:
        raise CardFileError(f"card file: its extension declaration is invalid ({exc})") from None


def read_extension_file(path: str | os.PathLike[str]) -> str:
    """The text of a declaration file, checked; ExtensionError (one line) when it is not one."""
    p = Path(path)
    raw = read_small_file(p, MAX_TEXT, "extension", ExtensionError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExtensionError(f"extension {p}: not UTF-8 text") from None
    try:
        parse_extension(text)
    except ExtensionError as exc:
        raise ExtensionError(f"extension {p}: {exc}") from None
    return text
