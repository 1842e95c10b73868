"""The published TEST root key sets of card-profile §7.7 and the KID -> key-name table of §5.

There are no public real keys and this project never pretends to have them (§7.7). The simulator
(to personalise cards) and the software security module (to diversify, §7.1) share one published
test set: each national root key is ``SHA-256(b"sscard test root " + NAME)[0:16]``, the same for
DES and SM4 cards. A second, "counterfeit" set issues cards that must FAIL the genuineness check
of §7.5, so the terminal's refusal path can be tested.

Everything that holds or prints a key set says TEST, and no repr, str or error message shows key
bytes; only :meth:`KeySet.to_json` writes them (a key file is meant to hold them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from apdu.crypto import CARD_KEY_LENGTH
from apdu.errors import CryptoError
from apdu.names import Kid

__all__ = ["KEY_NAMES", "KID_TABLE", "TEST_KEYS", "KeySet", "key_name_for_kid"]

#: Names of the national root keys (§5, §7.7).
KEY_NAMES: tuple[str, ...] = (
    "IRK",
    "STK",
    "UKSSSE",
    "RKSSSE",
    "PUK",
    "RK1DF01",
    "RK1DF02",
    "RK1DF03",
    "RK1DF04",
    "RK2DF03",
)

TEST_PREFIX = b"sscard test root "
COUNTERFEIT_PREFIX = b"sscard counterfeit root "
_FILE_FORMAT = "sscard-keyset"
_KEY_FILE_FIELDS = frozenset({"format", "test_only", "label", "keys"})
_HEX_KEY = re.compile(f"[0-9A-Fa-f]{{{2 * CARD_KEY_LENGTH}}}")


class KeySet:
    """A set of national ROOT keys, TEST ONLY (§7.7). Card keys are derived with apdu.crypto."""

    __slots__ = ("_roots", "label")

    def __init__(self, roots: Mapping[str, bytes], label: str) -> None:
        if not isinstance(label, str) or not label:
            raise CryptoError("a key set needs a non-empty label")
        checked: dict[str, bytes] = {}
        for name, value in roots.items():
            if name not in KEY_NAMES:
                raise CryptoError(f"unknown root key name {name!r}")
            if not isinstance(value, (bytes, bytearray)) or len(value) != CARD_KEY_LENGTH:
                raise CryptoError(f"root key {name} must be {CARD_KEY_LENGTH} bytes")
            checked[name] = bytes(value)
        self._roots: Mapping[str, bytes] = MappingProxyType(checked)
        self.label: str = label

    @classmethod
    def _derived(cls, prefix: bytes, label: str) -> KeySet:
        return cls(
            {n: hashlib.sha256(prefix + n.encode("ascii")).digest()[:16] for n in KEY_NAMES},
            label,
        )

    @classmethod
    def test(cls, prefix: bytes = TEST_PREFIX) -> KeySet:
        """The published test set of §7.7 (or one derived the same way from another prefix)."""
        if prefix == TEST_PREFIX:
            return cls._derived(prefix, "sscard TEST keys (not real, published)")
        return cls._derived(prefix, f"TEST keys derived from prefix {prefix!r} (not real)")

    @classmethod
    def counterfeit(cls) -> KeySet:
        """A different test set: cards issued with it must fail the genuineness checks (§7.5)."""
        return cls._derived(
            COUNTERFEIT_PREFIX, "sscard COUNTERFEIT TEST keys (not real; must fail genuineness)"
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the keys this set holds, in KEY_NAMES order."""
        return tuple(n for n in KEY_NAMES if n in self._roots)

    def root(self, name: str) -> bytes:
        """The 16-byte root key `name`; an unknown or missing name raises CryptoError."""
        try:
            return self._roots[name]
        except (KeyError, TypeError):
            raise CryptoError(f"no root key {name!r} in {self.label}") from None

    def to_json(self) -> dict[str, Any]:
        """A key file: uppercase hex per key, the label, and ``"test_only": true``."""
        return {
            "format": _FILE_FORMAT,
            "test_only": True,
            "label": self.label,
            "keys": {n: self._roots[n].hex().upper() for n in self.names},
        }

    @classmethod
    def from_json(cls, data: Any) -> KeySet:
        """Read :meth:`to_json` output, strictly: an object with ``keys`` (name -> 32 hex digits,
        names from :data:`KEY_NAMES`) and optionally ``format`` (``"sscard-keyset"``),
        ``test_only`` (a boolean) and ``label`` (text); nothing else.  Each problem raises a
        CryptoError naming the field.  A file without ``test_only: true`` is accepted (the
        project cannot tell real keys from others) but its label is kept, so it shows where it
        came from; repr still says TEST ONLY because this class is for test keys."""
        if not isinstance(data, Mapping):
            raise CryptoError("a key file holds one JSON object")
        extra = sorted(set(data) - _KEY_FILE_FIELDS)
        if extra:
            raise CryptoError(f"{extra[0][:40]!r}: not a key file field")
        if "format" in data and data["format"] != _FILE_FORMAT:
            raise CryptoError(f"format: must be {_FILE_FORMAT!r}")
        if "test_only" in data and not isinstance(data["test_only"], bool):
            raise CryptoError("test_only: must be true or false")
        label = data.get("label", "unlabelled TEST keys (from a key file)")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            raise CryptoError("label: must be text of 1 to 200 characters")
        keys = data.get("keys")
        if not isinstance(keys, Mapping):
            raise CryptoError("keys: must be an object of key name -> hex")
        roots: dict[str, bytes] = {}
        for name, hexkey in keys.items():
            if name not in KEY_NAMES:
                raise CryptoError(f"keys.{name[:40]}: not a key name ({', '.join(KEY_NAMES)})")
            if not (isinstance(hexkey, str) and _HEX_KEY.fullmatch(hexkey)):
                raise CryptoError(f"keys.{name}: must be {2 * CARD_KEY_LENGTH} hex digits")
            roots[name] = bytes.fromhex(hexkey)
        return cls(roots, label)

    def __repr__(self) -> str:
        return f"<KeySet TEST ONLY {self.label!r}: {', '.join(self.names)}>"

    __str__ = __repr__


#: The published test set of §7.7.
TEST_KEYS: KeySet = KeySet.test()

#: (application, KID) -> root key name (§5). Data rather than branches so a region can follow its
#: own table; the KIDs (:class:`apdu.names.Kid`) of 0A, 04, 06 are [firm], the others [one
#: source].
KID_TABLE: Mapping[tuple[str, int], str] = MappingProxyType(
    {
        ("SSSE", Kid.RKSSSE): "RKSSSE",
        ("SSSE", Kid.UKSSSE): "UKSSSE",
        ("SSSE", Kid.PUK): "PUK",
        ("SSSE", Kid.STK): "STK",
        ("SSSE", Kid.IRK): "IRK",
        ("DF01", Kid.RK1_DF02): "RK1DF01",
        ("DF02", Kid.RK1_DF02): "RK1DF02",
        ("DF03", Kid.RK1_DF04): "RK1DF03",
        ("DF04", Kid.RK1_DF04): "RK1DF04",
        ("DF03", Kid.RK2_DF03): "RK2DF03",
    }
)


def key_name_for_kid(kid: int, df: str) -> str:
    """Root key name for card key identifier `kid` in application `df` ("SSSE", "DF01".."DF04")."""
    try:
        return KID_TABLE[(df, kid)]
    except (KeyError, TypeError):
        shown = f"{kid:02X}" if isinstance(kid, int) else repr(kid)
        raise CryptoError(f"no key with KID {shown} in {df!r}") from None
