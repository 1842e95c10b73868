"""The declarative file tree and its access rules (card-profile §2)."""

from __future__ import annotations

import pytest

from apdu.names import DF_AIDS, PSE_NAME, SSSE_NAME, UNIONPAY_DEBIT_AID
from simulator.filesystem import (
    DF,
    FREE,
    NEVER,
    PIN,
    CyclicEF,
    DFKind,
    FileSystemError,
    FileTree,
    RecordEF,
    RuleKind,
    TransparentEF,
    key,
    pin_and_key,
    pin_or_key,
)
from simulator.profile import build_tree


@pytest.mark.parametrize(
    "rule,pin,kids,allowed",
    [
        (FREE, False, set(), True),
        (NEVER, True, {0x0A}, False),
        (PIN, True, set(), True),
        (PIN, False, {0x0A}, False),
        (key(0x0A), False, {0x0A}, True),
        (key(0x0A), True, {0x04}, False),
        (pin_or_key(0x84), True, set(), True),
        (pin_or_key(0x84), False, {0x84}, True),
        (pin_or_key(0x84), False, {0x88}, False),
        (pin_and_key(0x84), True, set(), False),
        (pin_and_key(0x84), False, {0x84}, False),
        (pin_and_key(0x84), True, {0x84}, True),
    ],
)
def test_access_rules(rule, pin: bool, kids: set[int], allowed: bool) -> None:
    assert rule.allows(pin, kids) is allowed


@pytest.mark.parametrize("gen,ef06,dir_sfi", [(2, RuleKind.FREE, 0x0B), (3, RuleKind.KEY, 0x1E)])
def test_ssc_tree_per_generation(gen: int, ef06: RuleKind, dir_sfi: int) -> None:
    tree = build_tree(gen)
    ssse = tree.by_name[SSSE_NAME]
    assert ssse.by_sfi[5].read is FREE and ssse.by_sfi[5].write == key(0x04)
    assert ssse.by_sfi[6].read.kind is ef06
    assert isinstance(ssse.by_sfi[7], TransparentEF) and ssse.by_sfi[7].size == 0x300
    assert isinstance(ssse.by_sfi[8], TransparentEF) and ssse.by_sfi[8].size == 0x1000
    assert ssse.by_sfi[7].read == key(0x0A)
    assert isinstance(ssse.by_sfi[dir_sfi], RecordEF)
    for name, aid in DF_AIDS.items():
        assert tree.by_name[aid].label == name and tree.by_name[aid].parent is ssse
    df04 = tree.by_name[DF_AIDS["DF04"]]
    assert df04.by_sfi[5].read == pin_or_key(0x84)
    assert df04.by_sfi[6].read == pin_and_key(0x84)
    assert isinstance(df04.by_sfi[8], CyclicEF) and df04.by_sfi[8].write is NEVER
    assert df04.by_sfi[8].read is PIN
    assert df04.by_sfi[0x15].read == pin_or_key(0x84)
    bank = tree.by_name[UNIONPAY_DEBIT_AID]
    assert bank.domain == "BANK" and not bank.pin_domain and bank.key_domains == ()
    assert bank.parent is tree.by_name[PSE_NAME]


def test_tree_without_bank() -> None:
    assert UNIONPAY_DEBIT_AID not in build_tree(3, bank=False).by_name


def test_paths_and_subtrees() -> None:
    tree = build_tree(3)
    assert "MF/SSSE/DF04/EF08" in tree.by_path
    ssse = tree.by_path["MF/SSSE"]
    assert isinstance(ssse, DF)
    assert ssse.in_subtree(tree.by_path["MF/SSSE/DF04"])  # type: ignore[arg-type]
    assert not ssse.in_subtree(tree.mf)


def test_duplicates_are_refused() -> None:
    df = DF("X", 0xDF10, None, DFKind.DDF)
    df.add(RecordEF("A", 0xEF01, 1, FREE, NEVER))
    with pytest.raises(FileSystemError):
        df.add(RecordEF("B", 0xEF01, 2, FREE, NEVER))
    with pytest.raises(FileSystemError):
        df.add(RecordEF("C", 0xEF02, 1, FREE, NEVER))
    mf = DF("MF", 0x3F00, None, DFKind.MF)
    mf.add(DF("D1", 0xDF01, b"N", DFKind.ADF), DF("D2", 0xDF02, b"N", DFKind.ADF))
    with pytest.raises(FileSystemError):
        FileTree(mf)


def test_record_lookup_by_tag_is_first_occurrence() -> None:
    ef = RecordEF("E", 1, 1, FREE, NEVER, records=[b"\x01\x01a", b"\x02\x01b", b"\x01\x01c"])
    assert ef.find_tag(1) == b"\x01\x01a" and ef.index_of_tag(2) == 1
    assert ef.find_tag(3) is None


def test_transparent_ef_is_sized() -> None:
    assert len(TransparentEF("T", 1, 1, FREE, NEVER, size=16).data) == 16
