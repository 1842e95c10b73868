"""Rendering for the CLI: aligned tables for people, JSON for programs (issue 3 §6).

- Tables need nothing beyond click: columns are aligned by *display* width, so Chinese names
  (two columns a character, Unicode East Asian Width) line up with ASCII.
- JSON is ``json.dumps(..., ensure_ascii=False, indent=2)``: names stay readable in UTF-8.
- Check statuses are shown as PASS / FAIL / WARN / SKIP; colour is added with ``click.style``
  and click strips it when stdout is not a TTY, so pipes and files get plain text.
- Text from a card is data (:mod:`apdu.text`): every value, note, decode error, check detail and
  status reason a person reads goes through :func:`printable`, which shows control characters
  as visible escapes (``\\x1b``, ``\\u202e``) — the escapes our own colours use are added after.
  JSON escapes them too: C0 controls as JSON always does, and (with ``ensure_ascii=False``) the
  C1, format/bidi and separator characters as ``\\uXXXX``, so the value a program parses is
  unchanged and the text a person sees is inert.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import click

from apdu.appfiles import DecodedItem
from apdu.elements import CARD_TYPES, SEXES
from apdu.formats import to_json as value_json
from apdu.text import is_control, printable
from terminal.activation import ActivationStatus
from terminal.appread import FileResult, FilesRead
from terminal.checks import CheckReport
from terminal.models import CardRead

#: check status -> (marker, colour).
MARKERS: dict[str, tuple[str, str]] = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL", "red"),
    "warn": ("WARN", "yellow"),
    "skip": ("SKIP", "bright_black"),
}

VERDICT_COLOURS = {
    "activated": "green",
    "not_activated": "yellow",
    "blocked": "red",
    "unverified": "yellow",
    "counterfeit": "red",
}
#: the check report's verdict -> (word, colour).
CHECK_VERDICTS = {"ok": ("OK", "green"), "failed": ("FAILED", "red"),
                  "unverified": ("UNVERIFIED", "yellow")}
INITIAL_PIN_TEXT = {
    "unknown": "unknown (not probed: --probe-initial-pin tells, using a try if it was changed)",
    "still_set": "still set (123456): the holder must change it before a sale",
    "changed": "changed",
}


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide CJK characters count two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def table(rows: Iterable[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Rows aligned in columns separated by two spaces; a rule under the headers when given.

    Cells may hold click styles: the width is measured on the unstyled text.
    """
    body = [list(r) for r in rows]
    if headers is not None:
        body.insert(0, list(headers))
    if not body:
        return ""
    n = max(len(r) for r in body)
    plain = [[click.unstyle(c) for c in r] + [""] * (n - len(r)) for r in body]
    widths = [max(width(r[i]) for r in plain) for i in range(n)]
    lines = []
    for styled, raw in zip(body, plain, strict=True):
        cells = list(styled) + [""] * (n - len(styled))
        parts = [
            c + " " * (widths[i] - width(raw[i])) if i < n - 1 else c for i, c in enumerate(cells)
        ]
        lines.append("  ".join(parts).rstrip())
        if headers is not None and len(lines) == 1:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def to_json(obj: Any) -> str:
    """Readable JSON (names stay UTF-8) in which no control character travels raw."""
    text = json.dumps(obj, ensure_ascii=False, indent=2)
    if text.replace("\n", "").isprintable():
        return text
    # json.dumps escapes C0 itself and writes only the indent's "\n" outside strings: every
    # other control character is inside a string, where \uXXXX means the same character.
    return "".join(_json_escape(ch) if ch != "\n" and is_control(ch) else ch for ch in text)


def echo_json(obj: Any) -> None:
    click.echo(to_json(obj))


def marker(status: str) -> str:
    text, colour = MARKERS.get(status, (status.upper(), "white"))
    return click.style(text, fg=colour, bold=status == "fail")


def _show(value: object) -> str:
    return "-" if value is None or value == "" else printable(str(value))


def card_rows(card: CardRead) -> list[tuple[str, str]]:
    """The holder's and the issuer's data as (label, value) rows."""
    h, i = card.holder, card.issuer
    rows: list[tuple[str, str]] = []
    if h is not None:
        rows += [
            ("姓名 name", _show(h.name)),
            ("社会保障号码 SSN", _show(h.ssn)),
            ("性别 sex", f"{_show(h.sex)} ({SEXES.get(h.sex or '', 'unknown')})"),
            ("民族 ethnicity", _show(h.ethnicity)),
            ("出生日期 birth date", _show(h.birth_date)),
            ("出生地 birthplace", _show(h.birthplace)),
        ]
    else:
        rows.append(("holder data", f"not read ({card.ef06_access.replace('_', ' ')})"))
    rows += [
        ("卡号 card number", _show(i.card_number)),
        ("卡的识别码 card id", _show(i.card_id.hex().upper())),
        ("卡的类别 card type", f"{_show(i.card_type)} ({CARD_TYPES.get(i.card_type or '', '?')})"),
        ("规范版本 spec version", f"{_show(i.spec_version)} (generation {_show(card.generation)})"),
        ("初始化机构 institution", _show(i.init_institution)),
        ("发卡日期 issued", _show(i.issue_date)),
        ("卡有效期 expires", _show(i.expiry_date)),
        ("algorithm", card.algorithm.name),
        ("APDUs", str(card.apdus)),
    ]
    return rows


def card_table(card: CardRead) -> str:
    text = table(card_rows(card))
    extra = [f"note: {printable(n)}" for n in card.notes]
    extra += [
        f"decode error: {printable(k)}: {printable(v)}" for k, v in card.decode_errors.items()
    ]
    return "\n".join([text, *extra])


def checks_table(report: CheckReport) -> str:
    rows = [(marker(c.status), printable(c.name), printable(c.detail)) for c in report.checks]
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in MARKERS}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    word, colour = CHECK_VERDICTS[report.verdict]
    verdict = click.style(word, fg=colour, bold=True)
    lines = [f"{table(rows, ('result', 'check', 'detail'))}\n\n{verdict}: {summary}"]
    lines += [f"not proved: {what}" for what in report.unproved]
    return "\n".join(lines)


def status_table(status: ActivationStatus) -> str:
    verdict = click.style(
        status.verdict.replace("_", " ").upper(), fg=VERDICT_COLOURS[status.verdict], bold=True
    )
    tries = "-" if status.tries_left is None else str(status.tries_left)
    bank = {True: "present", False: "absent", None: "not checked"}[status.bank_application]
    genuine = {True: "yes (internal authentication)", False: "NO", None: "unverified"}
    rows = [
        ("verdict", verdict),
        ("genuine", genuine[status.genuine]),
        ("PIN", _show(status.pin).replace("_", " ")),
        ("tries left", tries),
        ("application blocked", "yes" if status.application_blocked else "no"),
        ("card blocked", "yes" if status.card_blocked else "no"),
        ("expired", "yes" if status.expired else "no"),
        ("bank application", bank),
        ("initial PIN", INITIAL_PIN_TEXT[status.initial_pin]),
    ]
    reasons = "\n".join(f"  - {printable(r)}" for r in status.reasons)
    return f"{table(rows)}\nreasons:\n{reasons}" if reasons else table(rows)


# --- application files (read --files, issue 15) -------------------------------------------------

PIN_TEXT = {
    "verified": "verified", "already_verified": "verified", "not_enabled": "not enabled",
    "not_given": "not given", "not_needed": "not needed", "wrong": "WRONG", "blocked": "BLOCKED",
}


def _value(item: DecodedItem) -> str:
    if item.error is not None:
        return f"does not decode: {printable(item.error)} (raw {item.raw.hex().upper()})"
    shown = _show(value_json(item.value))
    return f"{shown}  [{printable(item.note)}]" if item.note else shown


def _file_lines(r: FileResult) -> list[str]:
    f = r.file
    head = f"{f.path}  {f.zh} {f.en}".rstrip()
    if r.outcome != "read":
        word = {"not_opened": "NOT OPENED", "absent": "absent", "error": "ERROR"}[r.outcome]
        return [f"{head}  ({f.read})", f"  {word}: {printable(r.reason or '')}"]
    lines = [f"{head}  ({f.read}; opened with {r.opened_with})"]
    d = r.decoded
    assert d is not None
    if f.structure == "cyclic":
        fields = [x.field for x in f.layout] or ["record"]
        rows = [
            [str(n), *(_value(x) for x in rec)] for n, rec in enumerate(d.records, 1)
        ]
        if rows:
            lines += ["  " + line for line in table(rows, ["#", *fields]).splitlines()]
        lines.append(f"  {len(d.records)} record(s), {d.empty_records} empty")
    else:
        rows = [
            [f"{i.tag:02X}" if i.tag is not None else "??", i.zh and f"{i.zh} {i.en}" or i.field,
             _value(i)]
            for i in d.items
        ]
        lines += ["  " + line for line in table(rows).splitlines()] if rows else ["  (no records)"]
    lines += [f"  decode error: {printable(e)}" for e in d.errors if f.structure == "cyclic"]
    return lines


def files_table(found: FilesRead) -> str:
    """Each file: its items (tag, name, value) or its log records, or why it was not read."""
    blocks = ["\n".join(_file_lines(r)) for r in found.files]
    tail = [f"PIN: {PIN_TEXT.get(found.pin, found.pin)}"]
    if found.region:
        tail.append(f"extension: {printable(found.region)}")
    tail += [f"note: {printable(n)}" for n in found.notes]
    tail.append(f"APDUs: {found.apdus}")
    return "\n\n".join(blocks) + "\n\n" + "\n".join(tail)
