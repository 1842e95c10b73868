"""A declarative card file system: DFs, record / cyclic / transparent EFs and access rules as data.

Card-profile §2 describes the social security card as a tree (MF, DDFs, ADFs, EFs) whose files
carry an access condition per operation: free, PIN, a key (KID), PIN or key, PIN and key, never.
This module holds the building blocks of such a tree and nothing card-specific: the SSC tree
itself is a table in :mod:`simulator.profile`, and the card (:mod:`simulator.filecmds`) walks it.

Why data and not branches: a rule such as "EF06 needs RKSSSE on a 3.00 card" then lives in one
row of one table, which a reader can check against §2 line by line, and the card OS has a single
access check for every file.

Records (§4) are whole SIMPLE-TLV objects ``tag len value``; the tag is the record identifier, so
"read by tag" is "first record whose first byte is the tag".
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from apdu.errors import SSCardError
from apdu.tlv import is_simple_record


class FileSystemError(SSCardError):
    """A tree that cannot be built (duplicate FID/SFI/name, a record too long...)."""


class RuleKind(enum.Enum):
    """Access condition kinds of card-profile §2."""

    FREE = "free"
    PIN = "pin"
    KEY = "key"
    PIN_OR_KEY = "pin_or_key"
    PIN_AND_KEY = "pin_and_key"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class Rule:
    """One access condition: a kind and, for the key kinds, the KID of the key (§5)."""

    kind: RuleKind
    kid: int | None = None

    def allows(self, pin_ok: bool, keys: frozenset[int] | set[int]) -> bool:
        """True when the security state (PIN verified?, KIDs authenticated in this DF) meets it."""
        return _CHECKS[self.kind](pin_ok, self.kid in keys)

    def __str__(self) -> str:
        return self.kind.value if self.kid is None else f"{self.kind.value}({self.kid:02X})"


#: (pin verified, key authenticated) -> allowed, per kind: the whole access policy in one table.
_CHECKS = {
    RuleKind.FREE: lambda pin, key: True,
    RuleKind.PIN: lambda pin, key: pin,
    RuleKind.KEY: lambda pin, key: key,
    RuleKind.PIN_OR_KEY: lambda pin, key: pin or key,
    RuleKind.PIN_AND_KEY: lambda pin, key: pin and key,
    RuleKind.NEVER: lambda pin, key: False,
}

FREE = Rule(RuleKind.FREE)
NEVER = Rule(RuleKind.NEVER)
PIN = Rule(RuleKind.PIN)


def key(kid: int) -> Rule:
    return Rule(RuleKind.KEY, kid)


def pin_or_key(kid: int) -> Rule:
    return Rule(RuleKind.PIN_OR_KEY, kid)


def pin_and_key(kid: int) -> Rule:
    return Rule(RuleKind.PIN_AND_KEY, kid)


# --- files ---------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class EF:
    """An elementary file: label (for paths and JSON), FID, optional SFI, read and write rules."""

    label: str
    fid: int
    sfi: int | None
    read: Rule
    write: Rule


@dataclass(slots=True, eq=False)
class RecordEF(EF):
    """Variable-length record EF (§4). ``records[0]`` is record number 1."""

    records: list[bytes] = field(default_factory=list)
    #: the longest record (tag + length + value) the file accepts, at most 255 so that a 6Cxx
    #: can always name it.
    max_record_len: int = 0xFF
    #: ISO/EMV Le semantics: any Ne of at least the record's length returns it (the bank
    #: application, §9, as EMV cards do).  Off for the SSC files, whose Le must be exact (§4).
    le_up_to: bool = False
    #: every record is one SIMPLE-TLV object ``tag len value`` whose tag names it (§4).
    tlv: bool = True

    def accepts(self, record: bytes) -> bool:
        """True when ``record`` may be stored in this EF: not longer than
        :attr:`max_record_len` and, for a TLV file, exactly one SIMPLE-TLV object."""
        if len(record) > self.max_record_len:
            return False
        return not self.tlv or is_simple_record(record)

    def find_tag(self, tag: int) -> bytes | None:
        """First record whose identifier (first byte) is ``tag`` (§4, P2 mode 00)."""
        for rec in self.records:
            if rec[0] == tag:
                return rec
        return None

    def index_of_tag(self, tag: int) -> int | None:
        for i, rec in enumerate(self.records):
            if rec[0] == tag:
                return i
        return None


@dataclass(slots=True, eq=False)
class CyclicEF(RecordEF):
    """Cyclic record EF (DF04 EF08 transaction log): record 1 is the most recent; fixed count.
    Its records are fixed-length log entries, not SIMPLE-TLV objects."""

    tlv: bool = False


@dataclass(slots=True, eq=False)
class TransparentEF(EF):
    """Transparent (binary) EF of a fixed size (EF07 fingerprint, EF08 photo)."""

    size: int = 0
    data: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        if len(self.data) < self.size:
            self.data.extend(bytes(self.size - len(self.data)))


class DFKind(enum.Enum):
    MF = "MF"
    DDF = "DDF"
    ADF = "ADF"


@dataclass(slots=True, eq=False)
class DF:
    """A dedicated file: MF, DDF or ADF.

    ``domain`` names the application whose security state applies inside it: ``"SSSE"``,
    ``"DF01"``..``"DF04"`` (the key tables of apdu.keys use these names), ``"BANK"``, or None for
    the MF. ``key_domains`` lists where a KID is looked up (a DF under SSSE also sees SSSE's keys).
    ``pin_domain`` is True where the SSSE PIN counts (§2, §9: the bank application is firewalled).
    ``fci`` is the answer to SELECT (§3), built by the profile.
    """

    label: str
    fid: int | None
    name: bytes | None
    kind: DFKind
    domain: str | None = None
    key_domains: tuple[str, ...] = ()
    pin_domain: bool = False
    fci: bytes = b""
    children: list[DF | EF] = field(default_factory=list)
    parent: DF | None = None
    by_sfi: dict[int, EF] = field(default_factory=dict)
    by_fid: dict[int, DF | EF] = field(default_factory=dict)

    def add(self, *nodes: DF | EF) -> DF:
        """Attach children (checking FID and SFI are unique in this DF); returns self to chain."""
        for node in nodes:
            if node.fid is not None:
                if node.fid in self.by_fid:
                    raise FileSystemError(f"FID {node.fid:04X} twice under {self.label}")
                self.by_fid[node.fid] = node
            if isinstance(node, EF) and node.sfi is not None:
                if node.sfi in self.by_sfi:
                    raise FileSystemError(f"SFI {node.sfi:02X} twice under {self.label}")
                self.by_sfi[node.sfi] = node
            if isinstance(node, DF):
                node.parent = self
            self.children.append(node)
        return self

    def walk(self, prefix: str = "") -> Iterator[tuple[str, DF | EF]]:
        """(path, node) for this DF and everything below it; paths like ``SSSE/DF04/EF05``."""
        here = f"{prefix}/{self.label}" if prefix else self.label
        yield here, self
        for child in self.children:
            if isinstance(child, DF):
                yield from child.walk(here)
            else:
                yield f"{here}/{child.label}", child

    def in_subtree(self, other: DF) -> bool:
        """True when ``other`` is this DF or below it."""
        node: DF | None = other
        while node is not None:
            if node is self:
                return True
            node = node.parent
        return False


class FileTree:
    """A whole card tree with its indexes: DF names (SELECT by name) and paths (persistence)."""

    __slots__ = ("mf", "by_name", "by_path")

    def __init__(self, mf: DF) -> None:
        if mf.kind is not DFKind.MF:
            raise FileSystemError("a file tree starts at an MF")
        self.mf = mf
        self.by_name: dict[bytes, DF] = {}
        self.by_path: dict[str, DF | EF] = {}
        for path, node in mf.walk():
            self.by_path[path] = node
            if isinstance(node, DF) and node.name is not None:
                if node.name in self.by_name:
                    raise FileSystemError(f"DF name {node.name.hex()} twice")
                self.by_name[node.name] = node

    def efs(self) -> Iterator[tuple[str, EF]]:
        for path, node in self.by_path.items():
            if isinstance(node, EF):
                yield path, node
