"""Hostile card, PSAM and key files (issue 10 §3, §7): every one is refused with ONE line on
stderr, exit 2, and the file is left exactly as it was.

The table holds every class the issue lists — strings taken as booleans, counters above their
maxima, a one-digit PIN, an algorithm that contradicts the generation, records that are not
SIMPLE-TLV, duplicate keys, unknown paths, oversize EFs and files, invalid algorithm values,
5000-digit integers, 100,000-deep nesting, NaN — plus their neighbours.  Each user card variant
is given to ``pin verify`` with a wrong PIN: a file that slipped through would lose a try, so
"unchanged byte for byte" also proves it was never used.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from terminal.cli.main import cli
from tests.helpers_files import card_json, dumps, key_json, psam_json, write_card

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path (``pin.tries_left``, ``files.MF/SSSE/EF05.records.0``) to ``value``."""

    def apply(data: dict[str, Any]) -> dict[str, Any]:
        node: Any = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return data

    return apply


def _drop(path: str) -> Mutation:
    def apply(data: dict[str, Any]) -> dict[str, Any]:
        node: Any = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
        return data

    return apply


def _raw(make: Callable[[bytes], bytes]) -> Mutation:
    """A variant made on the file's bytes (for what json.dumps would never write)."""

    def apply(data: dict[str, Any]) -> bytes:
        return make(dumps(data))

    return apply


def _nested(depth: int) -> Any:
    node: Any = 1
    for _ in range(depth):
        node = [node]
    return node


EF05 = "files.MF/SSSE/EF05"
EF08 = "files.MF/SSSE/EF08"

#: (id, mutation of a valid generation-3 user card, a word the one line must contain)
CARD_VARIANTS: list[tuple[str, Mutation, str]] = [
    ("bool-as-string", _set("has_bank", "true"), "has_bank"),
    ("option-bool-as-string", _set("options.t0", "false"), "options.t0"),
    ("pin-enabled-as-int", _set("pin.enabled", 1), "pin.enabled"),
    ("blocked-as-string", _set("application_blocked", "no"), "application_blocked"),
    ("tries-above-max", _set("pin.tries_left", 9), "above max_tries"),
    ("tries-as-string", _set("pin.tries_left", "5"), "pin.tries_left"),
    ("tries-as-bool", _set("pin.tries_left", True), "pin.tries_left"),
    ("max-tries-16", _set("pin.max_tries", 16), "pin.max_tries"),
    ("key-tries-above-max", _set("test_card_keys.SSSE:0A.tries_left", 4), "above max_tries"),
    ("pin-one-digit", _set("pin.digits", "1"), "pin.digits"),
    ("pin-17-digits", _set("pin.digits", "1" * 17), "pin.digits"),
    ("pin-not-digits", _set("pin.digits", "12a456"), "pin.digits"),
    ("pin-as-int", _set("pin.digits", 123456), "pin.digits"),
    ("algorithm-contradicts-generation", _set("algorithm", 1), "contradicts generation"),
    ("algorithm-ssf33", _set("algorithm", 2), "algorithm"),
    ("algorithm-invalid-value", _set("algorithm", 7), "algorithm"),
    ("algorithm-as-string", _set("algorithm", "3"), "algorithm"),
    ("generation-4", _set("generation", 4), "generation"),
    ("generation-float", _set("generation", 3.0), "generation"),
    ("generation-bool", _set("generation", True), "generation"),
    ("record-length-lies", _set(f"{EF05}.records.0", "0105AABB"), "SIMPLE-TLV"),
    ("record-tag-00", _set(f"{EF05}.records.0", "0001AA"), "SIMPLE-TLV"),
    ("record-too-long", _set(f"{EF05}.records.0", "01FF" + "00" * 300), "SIMPLE-TLV"),
    ("record-not-hex", _set(f"{EF05}.records.0", "ZZ"), "hex"),
    ("record-odd-hex", _set(f"{EF05}.records.0", "ABC"), "hex"),
    ("too-many-records", _set(f"{EF05}.records", ["0101AA"] * 300), "records"),
    ("records-in-transparent-ef", _set(EF08, {"records": ["0101AA"]}), "EF08"),
    ("data-in-record-ef", _set(EF05, {"data": "00"}), "EF05"),
    ("records-and-data", _set(EF05, {"records": [], "data": "00"}), "EF05"),
    ("oversize-transparent-ef", _set(f"{EF08}.data", "00" * 4097), "EF08"),
    ("unknown-path", _set("files.MF/SSSE/EF99", {"records": []}), "EF99"),
    ("bank-files-without-bank", _set("has_bank", False), "MF/PSE"),
    ("unknown-field", _set("extra", 1), "extra"),
    ("atr-34-bytes", _set("atr", "3B" * 34), "atr"),
    ("atr-70000-bytes", _set("atr", "3B" * 70000), "atr"),
    ("key-8-bytes", _set("test_card_keys.SSSE:0A.key", "00" * 8), "key"),
    ("key-slot-unknown", _set("test_card_keys.SSSE:FF", card_json()["test_card_keys"]["SSSE:0A"]),
     "SSSE:FF"),
    ("key-name-mismatch", _set("test_card_keys.SSSE:0A.name", "IRK"), "name"),
    ("kind-wrong", _set("kind", "sscard-usercard"), "kind"),
    ("kind-missing", _drop("kind"), "kind"),
    ("format-2", _set("format", 2), "format"),
    ("format-float", _set("format", 1.0), "format"),
    ("test-only-false", _set("test_only", False), "test_only"),
    ("test-only-int", _set("test_only", 1), "test_only"),
    ("pin-in-issue-record", _set("personalisation.pin", "123456"), "must not hold the PIN"),
    ("issue-record-bad-date", _set("personalisation.holder.birth_date", "1985-13-45"),
     "personalisation"),
    ("issue-record-extra", _set("personalisation.holder.nick", "x"), "personalisation"),
    ("label-empty", _set("key_set_label", ""), "key_set_label"),
    ("deep-inside", _set("personalisation.x", _nested(40)), "nested"),
    ("duplicate-key", _raw(lambda b: b'{"generation": 2, ' + b[1:]), "twice"),
    ("nan", _raw(lambda b: b.replace(b'"tries_left": 6', b'"tries_left": NaN', 1)), "NaN"),
    ("infinity", _raw(lambda b: b.replace(b'"tries_left": 6', b'"tries_left": -Infinity', 1)),
     "Infinity"),
    ("huge-float", _raw(lambda b: b.replace(b'"tries_left": 6', b'"tries_left": 1e999', 1)),
     "finite"),
    ("5000-digit-integer", _raw(lambda b: b.replace(b'"tries_left": 6', b'"tries_left": ' +
                                                    b"9" * 5000, 1)), "digits"),
    ("100000-deep", _raw(lambda b: b"[" * 100_000 + b"]" * 100_000), "nested"),
    ("lone-surrogate", _raw(lambda b: b.replace(b'"key_set_label": "', b'"key_set_label": "\\ud800',
                                                1)), "surrogate"),
    ("not-utf8", _raw(lambda b: b"\xff\xfe" + b), "UTF-8"),
    ("utf8-bom", _raw(lambda b: b"\xef\xbb\xbf" + b), "JSON"),
    ("empty", _raw(lambda b: b""), "JSON"),
    ("array", _raw(lambda b: b"[]"), "kind"),
    ("truncated", _raw(lambda b: b[:-10]), "JSON"),
    ("oversize-file", _raw(lambda b: b + b" " * (1 << 20)), "limit"),
]


def _cases(variants: list[tuple[str, Mutation, str]]) -> list[Any]:
    return [pytest.param(mutate, word, id=name) for name, mutate, word in variants]


def _file(tmp_path: Path, name: str, data: Any) -> tuple[Path, bytes]:
    raw = data if isinstance(data, bytes) else dumps(data)
    path = tmp_path / name
    path.write_bytes(raw)
    return path, raw


def _refused(args: list[str], stdin: str = "") -> str:
    result = CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sscard: "), result.stderr
    assert all(ch.isprintable() for ch in lines[0])
    return lines[0]


@pytest.mark.parametrize(("mutate", "word"), _cases(CARD_VARIANTS))
def test_hostile_user_card_file(tmp_path: Path, mutate: Mutation, word: str) -> None:
    path, raw = _file(tmp_path, "card.json", mutate(copy.deepcopy(card_json())))
    line = _refused(["pin", "verify", "--sim", str(path), "--pin-stdin"], "000000\n")
    assert word in line
    assert len(line) < 400  # a hostile value never comes back whole
    assert path.read_bytes() == raw  # not used (no try spent), not rewritten
    line = _refused(["sim", "apdu", "--card", str(path), "00200000"])
    assert path.read_bytes() == raw


def test_the_valid_card_of_the_table_is_accepted(tmp_path: Path) -> None:
    """The variants are one change away from a card that works (so each refusal is its own)."""
    path, _ = _file(tmp_path, "card.json", card_json())
    result = CliRunner().invoke(cli, ["pin", "verify", "--sim", str(path), "--pin-stdin"],
                                input="000000\n")
    assert result.exit_code == 1 and "5 tries left" in result.stderr


PSAM_VARIANTS: list[tuple[str, Mutation, str]] = [
    ("t0-as-string", _set("t0", "false"), "t0"),
    ("algorithm-ssf33", _set("algorithm", "SSF33"), "algorithm"),
    ("terminal-number-as-int", _set("terminal_number", 420100000001), "terminal_number"),
    ("serial-short", _set("serial", "12"), "serial"),
    ("keys-missing", _drop("keys"), "keys"),
    ("key-wrong-length", _set("keys.keys.IRK", "00" * 8), "IRK"),
    ("key-unknown-name", _set("keys.keys.XYZ", "00" * 16), "XYZ"),
    ("extra-field", _set("extra", 1), "extra"),
    ("format-bool", _set("format", True), "format"),
    ("duplicate-key", _raw(lambda b: b'{"t0": true, ' + b[1:]), "twice"),
    ("100000-deep", _raw(lambda b: b"{\"a\":" * 100_000), "nested"),
    ("5000-digit-integer", _raw(lambda b: b.replace(b'"format": 1', b'"format": ' + b"1" * 5000,
                                                    1)), "digits"),
]


@pytest.mark.parametrize(("mutate", "word"), _cases(PSAM_VARIANTS))
def test_hostile_psam_file(tmp_path: Path, mutate: Mutation, word: str) -> None:
    card = write_card(tmp_path / "card.json")
    card_raw = card.read_bytes()
    path, raw = _file(tmp_path, "psam.json", mutate(copy.deepcopy(psam_json())))
    line = _refused(["read", "--sim", str(card), "--psam", str(path)])
    assert word in line
    _refused(["sim", "apdu", "--card", str(path), "00A4040000"])
    assert path.read_bytes() == raw and card.read_bytes() == card_raw


KEY_VARIANTS: list[tuple[str, Mutation, str]] = [
    ("extra-field", _set("extra", 1), "extra"),
    ("key-not-hex", _set("keys.IRK", "XYZ"), "IRK"),
    ("key-as-int", _set("keys.IRK", 5), "IRK"),
    ("unknown-key-name", _set("keys.XYZ", "00" * 16), "XYZ"),
    ("label-as-int", _set("label", 5), "label"),
    ("test-only-as-string", _set("test_only", "yes"), "test_only"),
    ("format-other", _set("format", "other"), "format"),
    ("keys-not-object", _set("keys", ["IRK"]), "keys"),
    ("nan", _raw(lambda b: b.replace(b'"test_only": true', b'"test_only": NaN')), "NaN"),
    ("duplicate-key", _raw(lambda b: b'{"label": "x", ' + b[1:]), "twice"),
    ("100000-deep", _raw(lambda b: b"[" * 100_000), "nested"),
    ("5000-digit-integer", _raw(lambda b: b"9" * 5000), "digits"),
    ("not-json", _raw(lambda b: b"IRK=00"), "JSON"),
    ("empty", _raw(lambda b: b""), "JSON"),
    ("array", _raw(lambda b: b"[]"), "object"),
]


@pytest.mark.parametrize(("mutate", "word"), _cases(KEY_VARIANTS))
def test_hostile_key_file(tmp_path: Path, mutate: Mutation, word: str) -> None:
    card = write_card(tmp_path / "card.json")
    card_raw = card.read_bytes()
    path, raw = _file(tmp_path, "keys.json", mutate(copy.deepcopy(key_json())))
    line = _refused(["read", "--sim", str(card), "--keys", str(path)])
    assert word in line and "key file" in line
    assert path.read_bytes() == raw and card.read_bytes() == card_raw


def test_a_psam_file_and_a_key_file_that_are_valid_work(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    psam, _ = _file(tmp_path, "psam.json", psam_json())
    keys, _ = _file(tmp_path, "keys.json", key_json())
    for extra in (["--psam", str(psam)], ["--keys", str(keys)]):
        result = CliRunner().invoke(cli, ["read", "--sim", str(card), "--json", *extra])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["holder_read"] is True
