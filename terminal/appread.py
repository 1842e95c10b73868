"""Reading the card's application files (DF01-DF04, DF07, a region's extension) and decoding
them with the shared tables of :mod:`apdu.appfiles` (issue 15).

:func:`read_files` takes a selection (:func:`select_files`: ``"DF04"``, ``"DF01,DF04/EF08"``,
``"all"``), opens each file with what is at hand and reads it in the fewest APDUs:

- **Access** (application-files.md §1, the tables' :class:`apdu.appfiles.Access`): a free file
  is read as it is; a PIN rule through the PIN source (status first, then ONE VERIFY for the
  whole read: a verified PIN holds in the SSSE and all its DFs until reset, card-profile §2); a
  key rule through the security module (GET CHALLENGE + EXTERNAL AUTHENTICATE in the DF, once
  per DF selection).  Where a rule is "PIN or key": the PIN when a PIN source is given (one
  VERIFY opens every DF, where keys cost two APDUs per DF) — [choice] — else the key.  A file
  whose rule cannot be met with what is at hand is not tried: it is reported with the reason
  ("needs the PIN: none was given").  A card stricter than the table (``6982`` although the
  rule was met: older cards ask "PIN and RK2DF03") gets the other means when it is at hand, and
  one more READ; the card decides.  A wrong PIN is never retried: the files it would have opened
  are reported with the tries left.
- **Records**: one READ RECORD ``P2 = (SFI<<3)|5`` (every record from 1 to the last) per file,
  as :func:`terminal.reading.read_card` reads EF05/EF06, with the same strategy and the same
  per-model memory of cards that refuse it (:class:`terminal.reading.ReadPlan`,
  :data:`terminal.reading.MULTI_RECORD_REFUSALS`).  A complete answer (``9000``) is the whole
  file: an item it lacks is absent, not read again by tag.  The fallback is §12's: record EFs by
  tag with the exact Le (:class:`terminal.reading.RecordReader`), cyclic EFs by record number
  with the record length as Le, until ``6A83``.  A cyclic answer longer than 256 bytes (a full
  30-record transaction log) continues from the next record number after ``6310``.
- **Decoding**: :func:`apdu.appfiles.decode_records`: every item by its declared codec, items no
  source describes and tags the table lacks as raw SIMPLE-TLV with a note, the transaction log
  as a list of records (record 1 = the most recent), empty records counted.

Costs on the simulated 3.00 sample card (T=0), DF04 with the PIN: SELECT DF04 (+1 GET
RESPONSE), empty VERIFY + VERIFY, EF05 and EF08 one READ RECORD each; EF06 ("PIN and RK1DF04")
adds the card identification code (SELECT SSSE +1, READ RECORD) before, and GET CHALLENGE +
EXTERNAL AUTHENTICATE + one READ RECORD in DF04 (``bench/bench_appfiles.py`` measures it).

Nothing here raises for what one file holds or answers: each :class:`FileResult` says ``read``,
``not_opened`` (the access rule could not be met, or the card refused), ``absent`` (the card has
no such DF or EF) or ``error`` (a status or an answer that makes no sense, with its one line).
What does raise: transport errors, the PIN source's own errors (a missing ``--pin-stdin`` line,
an entry that is not 4-16 digits: nothing is sent then) and a bad selection
(:class:`apdu.errors.UsageError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import terminal.pin as pinops
from apdu import commands, status
from apdu.appfiles import APP_DFS, FILES, AppDF, AppFile, DecodedFile, decode_records
from apdu.errors import CryptoError, ResponseFormatError, SSCardError, UsageError
from apdu.extensions import MAX_TEXT, Extension, ExtensionError, parse_extension
from apdu.jsonfile import read_regular
from apdu.status import (
    AuthenticationBlocked,
    FileNotFound,
    SecurityStatusNotSatisfied,
    StatusError,
    VerificationFailed,
)
from terminal.pinsource import PinSource
from terminal.reading import ReadPlan, RecordReader
from terminal.session import CardSession

Outcome = Literal["read", "not_opened", "absent", "error"]

#: answers of a multi-record READ RECORD that carry records (success, "more data available",
#: "end of record reached").
_RECORDS_SW = frozenset({status.SUCCESS, status.MORE_DATA_AVAILABLE, status.END_OF_RECORD})
#: the largest record number P1 can hold.
_MAX_RECORD = 0xFE


# --- the selection ------------------------------------------------------------------------------


def load_extension(path: str | os.PathLike[str]) -> Extension:
    """A region's declaration (the same TOML file ``sscard sim issue --extension`` takes), read
    as the simulator reads it: a regular file of at most :data:`apdu.extensions.MAX_TEXT` bytes
    of UTF-8.  One :class:`ExtensionError` or :class:`apdu.errors.FileError` line otherwise."""
    raw = read_regular(path, MAX_TEXT, "extension")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExtensionError(f"extension {os.fspath(path)}: not UTF-8 text") from None
    try:
        return parse_extension(text)
    except ExtensionError as exc:
        raise ExtensionError(f"extension {os.fspath(path)}: {exc}") from None


def _readable(f: AppFile) -> bool:
    """Files ``--files`` decodes: record and cyclic EFs (EF07/EF08 are binary: ``--photo``)."""
    return f.structure in ("records", "cyclic")


def select_files(spec: str | Sequence[str], extension: Extension | None = None) -> list[AppFile]:
    """The files a selection names, in card order, each once.

    Tokens (comma-separated, any case): ``all`` (every national DF and every extension file),
    ``DFxx`` (a DF's files: national or declared, with the extension's files placed in it),
    ``SSSE`` (the SSSE's record EFs and the extension's files there), ``DFxx/EFyy`` or
    ``SSSE/EFyy`` (one file).  :class:`UsageError` for anything else.
    """
    tokens = [spec] if isinstance(spec, str) else list(spec)
    names = [t.strip().upper() for part in tokens for t in part.split(",") if t.strip()]
    if not names:
        raise UsageError("--files: name at least one DF or file (DF04, DF01/EF05, all)")
    extra = extension.files if extension is not None else ()
    every = [f for f in FILES.values() if _readable(f) and f.df != "SSSE"] + list(extra)
    known = {f.path: f for f in FILES.values() if _readable(f)}
    known.update({f.path: f for f in extra})
    dfs = {"SSSE"} | {d.name for d in APP_DFS} | {f.df for f in extra}
    chosen: list[AppFile] = []
    for name in names:
        if name == "ALL":
            found = every
        elif name in dfs:
            found = [f for f in known.values() if f.df == name]
        elif name in known:
            found = [known[name]]
        else:
            raise UsageError(
                f"--files: no DF or file {name!r}; use all, SSSE, "
                f"{', '.join(sorted(dfs - {'SSSE'}))} or DFxx/EFyy"
            )
        chosen += [f for f in found if f not in chosen]
    order = ["SSSE", *[d.name for d in APP_DFS]]
    order += sorted({f.df for f in chosen} - set(order))
    return sorted(chosen, key=lambda f: (order.index(f.df), f.number))


# --- results --------------------------------------------------------------------------------------


@dataclass
class FileResult:
    """One file: what happened, why, and the decoded content when it was read."""

    file: AppFile
    outcome: Outcome
    reason: str | None = None
    decoded: DecodedFile | None = None
    #: what opened it: "free", "PIN", a key name, "PIN and RK1DF04"...
    opened_with: str | None = None

    @property
    def path(self) -> str:
        return self.file.path

    def to_json(self) -> dict[str, Any]:
        d = self.decoded
        return {
            "path": self.file.path,
            "zh": self.file.zh or None,
            "en": self.file.en or None,
            "structure": self.file.structure,
            "access": str(self.file.read),
            "outcome": self.outcome,
            "reason": self.reason,
            "opened_with": self.opened_with,
            "items": [i.to_json() for i in d.items] if d is not None else [],
            "records": [[f.to_json() for f in r] for r in d.records] if d is not None else [],
            "empty_records": d.empty_records if d is not None else 0,
            "errors": list(d.errors) if d is not None else [],
        }


@dataclass
class FilesRead:
    """What :func:`read_files` found: one result per file selected, the PIN's fate, the cost."""

    files: list[FileResult]
    #: "verified" (this read), "already_verified", "not_enabled", "not_given", "not_needed",
    #: "wrong" or "blocked".
    pin: str = "not_needed"
    region: str | None = None
    apdus: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def not_opened(self) -> list[FileResult]:
        return [r for r in self.files if r.outcome == "not_opened"]

    @property
    def failed(self) -> list[FileResult]:
        """Files not read for a reason the user must hear about (access, or an error)."""
        return [r for r in self.files if r.outcome in ("not_opened", "error")]

    @property
    def complete(self) -> bool:
        """Every file selected was read, or is not on the card at all."""
        return not self.failed

    def file(self, path: str) -> FileResult:
        for r in self.files:
            if r.path == path:
                return r
        raise KeyError(path)

    def to_json(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "pin": self.pin,
            "extension": self.region,
            "files": [r.to_json() for r in self.files],
            "not_opened": [r.path for r in self.failed],
            "notes": list(self.notes),
            "apdus": self.apdus,
        }


# --- opening --------------------------------------------------------------------------------------


class _Opener:
    """What is at hand for this read: the PIN source (asked at most once) and the module."""

    def __init__(self, session: CardSession, pin_source: PinSource | None) -> None:
        self.session = session
        self.pin_source = pin_source
        #: why the PIN did not open anything (None: not tried yet, or verified / not enabled).
        self.pin_failure: str | None = None
        self.pin = "not_needed"
        if session.pin_verified:
            self.pin = "already_verified"

    def prefers_pin(self, f: AppFile) -> bool:
        """Whether ``f`` is opened with the PIN (see the module docstring's [choice])."""
        kind = f.read.kind
        if kind in ("pin", "pin_and_key"):
            return True
        return kind == "pin_or_key" and (
            self.session.pin_verified or self.pin_source is not None or self.session.sam is None
        )

    def generation_decides(self, f: AppFile) -> bool:
        """A file free on older cards (SSSE EF06 before 3.00, card-profile §1) and no module:
        it is tried as it is, and the card decides."""
        before = f.read_before_gen3
        return self.session.sam is None and before is not None and before.kind == "free"

    def hopeless(self, f: AppFile) -> bool:
        """Whether ``f``'s rule cannot be met with what is at hand, whatever the card says (its
        DF is then not even selected): NEVER, a PIN rule with no PIN, a key rule with no SAM."""
        if self.generation_decides(f):
            return False
        kind = f.read.kind
        no_pin = not self.session.pin_verified and (
            self.pin_source is None or self.pin in ("wrong", "blocked"))
        no_key = self.session.sam is None
        return (kind == "never" or (kind == "pin" and no_pin) or (kind == "key" and no_key)
                or (kind == "pin_and_key" and (no_pin or no_key))
                or (kind == "pin_or_key" and no_pin and no_key))

    def ensure_pin(self) -> str | None:
        """The PIN verified in this session; None when it is (or no PIN is enabled), else why
        not.  ONE VERIFY at most for the whole read: a failure is remembered, never retried."""
        if self.session.pin_verified or self.pin == "not_enabled":
            return None
        if self.pin_failure is not None:
            return self.pin_failure
        if self.pin_source is None:
            self.pin = "not_given"
            self.pin_failure = "no PIN was given"
            return self.pin_failure
        try:
            result = pinops.verify(self.session, self.pin_source)
        except VerificationFailed as exc:
            self.pin = "wrong"
            self.pin_failure = f"the PIN was wrong ({exc.tries_left} tries left)"
            return self.pin_failure
        except AuthenticationBlocked:
            self.pin = "blocked"
            self.pin_failure = "the PIN is blocked"
            return self.pin_failure
        self.pin = "verified" if result.verified else "not_enabled"
        return None

    def ensure_key(self, f: AppFile) -> str | None:
        """The file's key authenticated in the selected DF; None when it is, else why not."""
        rule = f.read
        if self.session.sam is None:
            return "no security module (SAM)"
        if rule.key is None or rule.kid is None:
            return "the security module has no name for that key"
        try:
            if self.session.card_id is None and self.session.selected is not None:
                # a key not foreseen (the PIN failed): the identification code, then back here
                here = self.session.selected
                pinops.read_card_id(self.session)
                self.session.enter(here)
            self.session.external_auth(rule.key, rule.kid)
        except (VerificationFailed, AuthenticationBlocked) as exc:
            return f"external authentication with {rule.key} failed: {exc}"
        except (CryptoError, UsageError, StatusError) as exc:
            return f"cannot authenticate with {rule.key}: {exc}"
        return None

    def open(self, f: AppFile) -> tuple[str | None, str | None]:
        """(how it was opened, None) or (None, why not) — sends what the rule needs."""
        rule = f.read
        kind = rule.kind
        if kind == "free" or self.generation_decides(f):
            return "free", None
        if kind == "never":
            return None, "its access rule is NEVER"
        use_pin = self.prefers_pin(f)
        use_key = rule.needs_key or (kind == "pin_or_key" and not use_pin)
        why: list[str] = []
        pin_ok = False
        if use_pin:
            failure = self.ensure_pin()
            pin_ok = failure is None
            if failure is not None:
                why.append(failure)
                if kind == "pin_or_key":
                    use_key = True  # the other way in
        if use_key and (kind == "pin_or_key" or not why):
            failure = self.ensure_key(f)
            if failure is None and kind == "pin_or_key":
                why = []
            elif failure is not None:
                why.append(failure)
        if why:
            key = rule.key or (f"key {rule.kid:02X}" if rule.kid is not None else "a key")
            needed = {"pin": "the PIN", "key": key, "pin_or_key": f"the PIN or {key}",
                      "pin_and_key": f"the PIN and {key}"}[kind]
            return None, f"needs {needed}: " + "; ".join(why)
        parts = (["PIN"] if pin_ok else []) + ([rule.key or "key"] if use_key else [])
        return " and ".join(parts), None

    def escalate(self, f: AppFile, opened_with: str) -> str | None:
        """The card refused (6982) although the rule was met: add the means not used yet, if at
        hand.  The new description of what opened it, or None when nothing more can be done."""
        rule = f.read
        if "PIN" not in opened_with and self.pin_source is not None and self.ensure_pin() is None:
            return f"{opened_with} and PIN" if opened_with != "free" else "PIN"
        if rule.key and rule.key not in opened_with and self.ensure_key(f) is None:
            return f"{opened_with} and {rule.key}" if opened_with != "free" else rule.key
        return None


# --- reading --------------------------------------------------------------------------------------


def _split(data: bytes, size: int, path: str) -> list[bytes]:
    if len(data) % size:
        raise ResponseFormatError(
            f"{path}: {len(data)} bytes of records, not whole records of {size} bytes"
        )
    return [bytes(data[i : i + size]) for i in range(0, len(data), size)]


def _cyclic(session: CardSession, plan: ReadPlan, f: AppFile) -> list[bytes]:
    """The records of a cyclic EF, record 1 (the most recent) first."""
    channel, sfi, size = session.channel, f.sfi, f.record_len
    records: list[bytes] = []
    if plan.multi and size:
        number = 1
        while number <= _MAX_RECORD:
            resp = channel.transmit(commands.read_records_from(number, sfi=sfi))
            if sfi is not None:
                session.named_by_sfi()
            if number == 1 and plan.refused(resp.sw):
                break
            if resp.sw == status.RECORD_NOT_FOUND:
                return records
            if resp.sw not in _RECORDS_SW:
                status.check(resp.sw, commands.INS_READ_RECORD)
            got = _split(resp.data, size, f.path)
            records += got
            if resp.sw != status.MORE_DATA_AVAILABLE or not got:
                return records
            number += len(got)
        else:
            return records
    limit = min(max(f.capacity, 1) * 2, _MAX_RECORD)  # a card may hold more than V2's minimum
    for number in range(len(records) + 1, limit + 1):
        resp = channel.transmit(
            commands.read_record(number, by_tag=False, sfi=sfi, le=size or 256)
        )
        if sfi is not None:
            session.named_by_sfi()
        if resp.sw == status.RECORD_NOT_FOUND:
            break
        status.check(resp.sw, commands.INS_READ_RECORD)
        records.append(bytes(resp.data))
    return records


def _record_file(session: CardSession, plan: ReadPlan, f: AppFile) -> list[bytes]:
    """The records of a record EF: one multi-record READ RECORD, else by tag (§12)."""
    reader = RecordReader(session, f.sfi)
    items = f.items
    if plan.multi:
        sw, missing = reader.read_multi(items)
        if sw == status.SECURITY_STATUS_NOT_SATISFIED:
            status.check(sw, commands.INS_READ_RECORD)
        if plan.refused(sw):
            sw = reader.read_all(items, multi=False)
        elif sw in (status.MORE_DATA_AVAILABLE, status.END_OF_RECORD) or (
            sw == status.SUCCESS and reader.stopped
        ):
            for element in missing:  # the answer did not hold (or give) the whole file
                if reader.read(element) == status.SECURITY_STATUS_NOT_SATISFIED:
                    status.check(status.SECURITY_STATUS_NOT_SATISFIED, commands.INS_READ_RECORD)
        elif sw not in (status.SUCCESS, status.RECORD_NOT_FOUND):
            status.check(sw, commands.INS_READ_RECORD)
    else:
        sw = reader.read_all(items, multi=False)
    if sw == status.SECURITY_STATUS_NOT_SATISFIED:
        status.check(sw, commands.INS_READ_RECORD)
    return list(reader.raw.values()) + reader.extra


def _read_one(session: CardSession, plan: ReadPlan, f: AppFile) -> DecodedFile:
    if f.sfi is None:
        session.select_ef(f.fid)
    if f.structure == "cyclic":
        records = _cyclic(session, plan, f)
    else:
        records = _record_file(session, plan, f)
    return decode_records(f, records)


def _df_of(f: AppFile, extension: Extension | None) -> str | AppDF:
    if extension is not None:
        for d in extension.dfs:
            if d.name == f.df:
                return d
    return f.df


def _groups(files: Iterable[AppFile]) -> list[tuple[str, list[AppFile]]]:
    out: list[tuple[str, list[AppFile]]] = []
    for f in files:
        if out and out[-1][0] == f.df:
            out[-1][1].append(f)
        else:
            out.append((f.df, [f]))
    return out


def _needs_key(opener: _Opener, files: Sequence[AppFile]) -> bool:
    """Whether a file that can be opened may need a key (the card identification code first)."""
    return any(
        (f.read.needs_key or (f.read.kind == "pin_or_key" and not opener.prefers_pin(f)))
        and not opener.hopeless(f)
        for f in files
    )


def read_files(
    session: CardSession,
    files: Sequence[AppFile],
    *,
    pin_source: PinSource | None = None,
    extension: Extension | None = None,
    strategy: str | None = None,
) -> FilesRead:
    """Open, read and decode ``files`` (from :func:`select_files`); see the module docstring."""
    channel = session.channel
    start = channel.apdu_count
    plan = ReadPlan(session, strategy or session.read_strategy)
    opener = _Opener(session, pin_source)
    result = FilesRead([], region=extension.region if extension is not None else None)
    if session.sam is not None and session.card_id is None and _needs_key(opener, files):
        try:  # the keys are diversified with it (§7.1): read it before entering any DF
            pinops.read_card_id(session)
        except SSCardError as exc:
            result.notes.append(f"card identification code not read, keys unusable: {exc}")
    for df, group in _groups(files):
        if all(opener.hopeless(f) for f in group):  # nothing to open there: no SELECT either
            result.files += [_one(session, plan, opener, f) for f in group]
            continue
        try:
            session.enter(_df_of(group[0], extension))
        except FileNotFound:
            result.files += [FileResult(f, "absent", f"the card has no {df}") for f in group]
            continue
        except StatusError as exc:
            result.files += [FileResult(f, "error", f"SELECT {df}: {exc}") for f in group]
            continue
        for f in group:
            result.files.append(_one(session, plan, opener, f))
    result.pin = opener.pin
    result.apdus = channel.apdu_count - start
    return result


def _one(session: CardSession, plan: ReadPlan, opener: _Opener, f: AppFile) -> FileResult:
    opened_with, why = opener.open(f)
    if opened_with is None:
        return FileResult(f, "not_opened", why)
    for attempt in range(2):
        try:
            return FileResult(f, "read", None, _read_one(session, plan, f), opened_with)
        except SecurityStatusNotSatisfied as exc:
            more = opener.escalate(f, opened_with) if attempt == 0 else None
            if more is None:
                return FileResult(f, "not_opened", f"the card refused it ({exc}); "
                                  f"access rule {f.read}")
            opened_with = more
        except FileNotFound:
            return FileResult(f, "absent", f"the card has no {f.path}")
        except (StatusError, ResponseFormatError) as exc:
            return FileResult(f, "error", str(exc))
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "FileResult", "FilesRead", "load_extension", "read_files", "select_files",
]
