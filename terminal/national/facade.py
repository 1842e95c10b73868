"""The national reader-interface functions, one Python method per national name.

:class:`National` is one caller's view of the configured card (a service connection, or a Python
program): ``code, outputs = national.iReadCardBas(3)``.  ``outputs`` holds one ``bytes`` per
output buffer of the C signature (:mod:`terminal.national.signatures`): GBK, without the NUL,
never longer than the buffer minus one.  On failure ``code`` is the national code and
``pOutInfo`` its text (national-interface §4, :mod:`terminal.national.codes`).

Card access goes through :mod:`terminal.national.card` only.  The routes:

- **PSAM route** (``iReadCardBas``, ``iReadCard`` with RK keys, ``iWriteCard``, ``iReloadPIN``,
  ``iUnblockPIN``): the security module of the configuration (a PSAM; on simulated cards the
  software TEST module).  Without one (HSM mode), or when it cannot (algorithm, key, level), the
  answer is -2201/-2202/-2203/-24/-27272 so that the caller switches to the HSM functions.
- **HSM route**: Step1 opens the card and leaves it open, holding the reader, until the group's
  last step, a failure, another call on the same connection, the connection's end or the step
  timeout (:meth:`National.abandon_steps`).  A step out of turn answers -12 (未建立连接).  With no
  PSAM, 终端机编号 is ``000000000000``.  ``-2204`` is never answered: the HSM route is served
  whenever it is asked for.
- **PIN entry** (:mod:`terminal.national.pinentry`): one prompt session per call; cancel -31,
  timeout -32, length -33, the two new entries differ -34, the initial PIN at a sale -35 (policy,
  checked before anything is sent so no try is spent), a new PIN equal to the initial one -36.
  With the reader's PIN pad (``[pin] entry`` auto or pad, PC/SC part 10) ``iVerifyPIN`` and
  ``iChangePIN`` run on the pad and the PIN never reaches the service: the pad's cancel, timeout,
  length and mismatch are -31/-32/-33/-34; the digit rules (-35, -36, trivial, same as the
  current PIN) cannot run there.

Choices (documented in the README): ``iReadCardBas`` reads, then proves the card genuine, then
answers (the same line as the spec's order, one APDU less); ``iVerifyPIN`` on a card whose PIN is
not enabled answers 0 (nothing to verify); an item the card does not hold reads as an empty
field; data larger than the output buffer is refused (-14), never cut.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import terminal.national.gbk as gbk
from apdu import codec, commands, crypto
from apdu.errors import DataFormatError, TlvError
from apdu.names import Kid
from apdu.part10 import DEFAULT_PIN_LENGTH
from apdu.tlv import simple_record
from terminal.national.card import CardSource, Identity, OpenCard
from terminal.national.codes import (
    BAD_PARAMETER,
    DATA_INVALID,
    DATA_MISMATCH,
    INITIAL_PIN_REFUSED,
    INTERNAL_AUTH_FAILED,
    NEW_PIN_IS_INITIAL,
    NO_PSAM,
    NOT_CONNECTED,
    NOT_SUPPORTED,
    PIN_BLOCKED,
    PIN_CANCELLED,
    PIN_LENGTH,
    PIN_MISMATCH,
    PIN_TIMEOUT,
    WRONG_CARD_TYPE,
    NationalError,
    outcome_of,
)
from terminal.national.fileaddr import (
    CardInfo,
    FileRef,
    format_file,
    format_record,
    parse_address,
    parse_card_info,
    parse_write_data,
    safe_field,
)
from terminal.national.files import PUK, RKSSSE, KeyRef, key_address, read_access, write_access
from terminal.national.formats import (
    fields,
    hx,
    parse_auth_key,
    parse_basic_key,
    parse_secure_key,
)
from terminal.national.items import decode_item, element, encode_item, record_items
from terminal.national.pinentry import (
    PinentryConfig,
    PinEntryError,
    PinEntryMode,
    PinentrySession,
    Requester,
    choose_pin_entry,
    pad_timeout,
    pad_wanted,
)
from terminal.national.signatures import SIGNATURES
from terminal.pinpolicy import INITIAL_PIN, card_format_ok, is_digits, is_trivial, same_pin
from terminal.pinsource import PinPadPinSource, wipe
from terminal.policy import SalePolicy

Result = tuple[int, tuple[bytes, ...]]

#: iType -> contactless? (national-interface §1: 1 contact, 2 contactless, 3 auto contact first,
#: 4 auto contactless first).
ITYPES = {1: False, 2: True, 3: False, 4: True}


@dataclass
class NationalConfig:
    """What the facade needs beyond the card source: PIN entry, policy, device number."""

    pin_entry: PinEntryMode = "auto"
    pinentry: PinentryConfig = field(default_factory=PinentryConfig)
    #: 终端设备号 (empty: no device number, national-interface §3).
    device_number: str = ""
    #: the counter's sale policy (issue 9): ``refuse_initial_pin`` is national -35, the initial
    #: PIN 123456 cannot be used at a sale (iVerifyPIN), refused before any try is spent.
    policy: SalePolicy = field(default_factory=SalePolicy)
    #: a new PIN: exactly this many digits (None: 4..16), never the initial PIN (-36).
    pin_length: int | None = 6
    #: the fixed PIN length typed on the reader's PIN pad (None: ``pin_length``, else 6).
    pad_length: int | None = None
    forbid_trivial: bool = True
    #: seconds an HSM step group may wait for its next step.
    step_timeout: float = 120.0


@dataclass
class _Steps:
    """An open HSM step group: the held card, what comes next, and what the steps share."""

    group: str
    expects: str
    card: OpenCard
    deadline: float
    data: dict[str, Any] = field(default_factory=dict)


def _hex(data: bytes) -> str:
    return data.hex().upper()


class National:
    """The national functions over a :class:`CardSource` for one caller (see module docstring)."""

    def __init__(
        self,
        source: CardSource,
        config: NationalConfig | None = None,
        *,
        requester_pid: int | None = None,
        requester_exe: str | None = None,
        watch_fd: int | None = None,
    ) -> None:
        self.source = source
        self.config = config or NationalConfig()
        self.requester_pid = requester_pid
        self.requester_exe = requester_exe
        self.watch_fd = watch_fd
        self._steps: _Steps | None = None

    # -- the machinery ------------------------------------------------------------------------

    def call(self, name: str, args: list[Any]) -> Result:
        """Call the function ``name`` with its arguments (ints, and bytes/str inputs) in C order."""
        sig = SIGNATURES.get(name)
        if sig is None:
            raise KeyError(name)
        method: Callable[..., Result] = getattr(self, name)
        return method(*args)

    def _run(self, name: str, body: Callable[..., tuple[str, ...]], *args: Any) -> Result:
        sig = SIGNATURES[name]
        continuing = name.endswith(("_Step2", "_Step3"))
        if not continuing:
            self.abandon_steps()
        outs = sig.outputs
        try:
            texts = body(*args)
            encoded = []
            for text, param in zip(texts, outs, strict=True):
                data = gbk.encode(text)
                if len(data) > param.size - 1:
                    raise NationalError(
                        BAD_PARAMETER, f"结果{len(data)}字节,超出{param.name}的{param.size - 1}字节"
                    )
                encoded.append(data)
            return 0, tuple(encoded)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a national code
            if continuing or name.endswith("_Step1"):
                self.abandon_steps()
            code, text = outcome_of(exc)
            empty = [b""] * len(outs)
            if sig.has_out_info:
                empty[-1] = gbk.encode(text, outs[-1].size - 1)
            return code, tuple(empty)

    def abandon_steps(self) -> None:
        """Close an open HSM step group (the card is powered down, the reader freed)."""
        steps, self._steps = self._steps, None
        if steps is not None:
            steps.card.close()

    def close(self) -> None:
        """The caller is done: an open step group is abandoned (see :meth:`abandon_steps`)."""
        self.abandon_steps()

    def __enter__(self) -> National:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def steps_deadline(self) -> float | None:
        """When the open step group expires (monotonic seconds), or None."""
        return self._steps.deadline if self._steps is not None else None

    def _begin(self, group: str, expects: str, card: OpenCard, **data: Any) -> None:
        deadline = time.monotonic() + self.config.step_timeout
        self._steps = _Steps(group, expects, card, deadline, data)

    def _continue(self, name: str) -> _Steps:
        steps = self._steps
        if steps is None or steps.expects != name or time.monotonic() > steps.deadline:
            self.abandon_steps()
            raise NationalError(NOT_CONNECTED, f"{name}之前未调用对应的Step1(或已超时)")
        return steps

    def _text(self, value: bytes | str, name: str, size: int) -> str:
        raw = value.encode(gbk.CODEC) if isinstance(value, str) else bytes(value)
        if len(raw) > size:
            raise NationalError(BAD_PARAMETER, f"{name}超过{size}字节")
        try:
            return gbk.decode(raw)
        except UnicodeDecodeError:
            raise NationalError(BAD_PARAMETER, f"{name}不是GBK文本") from None

    def _input(self, name: str, param: str, value: bytes | str) -> str:
        size = next(p.size for p in SIGNATURES[name].params if p.name == param)
        return self._text(value, param, size)

    def _contactless(self, itype: int) -> bool:
        if not isinstance(itype, int) or itype not in ITYPES:
            raise NationalError(BAD_PARAMETER, "iType须为1到4")
        contactless = ITYPES[itype]
        if contactless and not self.source.has_contactless:
            raise NationalError(WRONG_CARD_TYPE, "未配置非接触读卡器")
        return contactless

    def _need_module(self) -> None:
        if self.source.security == "hsm":
            raise NationalError(NO_PSAM, "本机配置为加密机方式,请使用_HSM_函数")

    def _terminal_number(self) -> str:
        return self.source.terminal_number()

    @staticmethod
    def _check_card(ident: Identity, info: CardInfo) -> None:
        if not hmac.compare_digest(ident.card_id, info.card_id):
            raise NationalError(DATA_MISMATCH, "卡识别码与卡内不符")
        if (ident.card_number or "").upper() != info.card_number:
            raise NationalError(DATA_MISMATCH, "卡号与卡内不符")

    # -- PIN entry ----------------------------------------------------------------------------

    def _pin_session(self, function: str) -> PinentrySession:
        try:
            return choose_pin_entry(
                self.config.pin_entry,
                self.config.pinentry,
                reader_has_pad=False,
                title="社会保障卡密码 / social security card PIN",
                watch_fd=self.watch_fd,
            )
        except PinEntryError as exc:
            raise _entry_failure(exc) from None

    def _ask(self, entry: PinentrySession, function: str, action: str, prompt: str) -> bytearray:
        who = Requester(function, self.requester_pid, self.requester_exe)
        try:
            return entry.get(prompt, who.describe(action))
        except PinEntryError as exc:
            raise _entry_failure(exc) from None

    def _pad(self, card: OpenCard) -> PinPadPinSource | None:
        """The reader's PIN pad when ``[pin] entry`` wants it and the reader has one (``pad``:
        -13 without one); None: the PIN is typed on this computer (pinentry)."""
        mode = self.config.pin_entry
        if not pad_wanted(mode):
            return None
        length = self.config.pad_length or self.config.pin_length or DEFAULT_PIN_LENGTH
        pad = card.pin_pad(length, pad_timeout(self.config.pinentry.timeout))
        if pad is None and mode == "pad":
            raise NationalError(NOT_SUPPORTED, "读卡器没有可用的密码键盘")
        return pad

    def _verify_holder(self, card: OpenCard, function: str, *, sale: bool) -> None:
        """Status first, then ONE VERIFY with a PIN from the pad or the prompt (§6); not
        enabled: nothing.  On the pad the initial-PIN rule (-35) cannot be applied: the digits
        never reach the service."""
        known = card.pin_status()
        if known.blocked:
            raise NationalError(PIN_BLOCKED)
        if known.state == "not_enabled":
            return
        pad = self._pad(card)
        if pad is not None:
            card.verify_pin_on_pad(pad, known)
            return
        with self._pin_session(function) as entry:
            pin = self._ask(entry, function, "校验社会保障卡密码", "密码 PIN:")
        try:
            if not card_format_ok(pin):
                raise NationalError(PIN_LENGTH, "密码应为4到16位数字")
            if sale and self.config.policy.refuse_initial_pin and same_pin(pin, INITIAL_PIN):
                raise NationalError(INITIAL_PIN_REFUSED, "请先修改初始密码")
            card.verify_pin(pin, known)
        finally:
            wipe(pin)

    def _new_pin_rules(self, new: bytearray, again: bytearray, old: bytearray | None) -> None:
        """The national rules for a new PIN, in the national order of codes."""
        length = self.config.pin_length
        if not is_digits(new) or (
            len(new) != length if length is not None else not card_format_ok(new)
        ):
            want = f"{length}位" if length is not None else "4到16位"
            raise NationalError(PIN_LENGTH, f"新密码应为{want}数字")
        if not same_pin(new, again):
            raise NationalError(PIN_MISMATCH)
        if same_pin(new, INITIAL_PIN):
            raise NationalError(NEW_PIN_IS_INITIAL)
        if self.config.forbid_trivial and is_trivial(new):
            raise NationalError(DATA_INVALID, "新密码过于简单(同一数字或连续数字)")
        if old is not None and same_pin(new, old):
            raise NationalError(DATA_INVALID, "新密码不能与原密码相同")

    def _ask_new_pin(self, entry: PinentrySession, function: str) -> tuple[bytearray, bytearray]:
        new = self._ask(entry, function, "设置新的社会保障卡密码", "新密码 new PIN:")
        try:
            again = self._ask(entry, function, "再次输入新的社会保障卡密码", "确认新密码 again:")
        except BaseException:
            wipe(new)
            raise
        return new, again

    # -- iReadCardBas -------------------------------------------------------------------------

    def iReadCardBas(self, iType: int) -> Result:
        return self._run("iReadCardBas", self._read_card_bas, iType)

    def _read_card_bas(self, itype: int) -> tuple[str]:
        contactless = self._contactless(itype)
        self._need_module()
        with self.source.card(contactless) as card:
            basic = card.read_basic()
            if not card.genuine():
                raise NationalError(INTERNAL_AUTH_FAILED)
            return (basic.national_format(self._terminal_number(), self.config.device_number),)

    def iReadCardBas_HSM_Step1(self, iType: int) -> Result:
        return self._run("iReadCardBas_HSM_Step1", self._read_card_bas_step1, iType)

    def _read_card_bas_step1(self, itype: int) -> tuple[str]:
        card = self.source.open(self._contactless(itype))
        try:
            ident = card.identity()
            r1, r2 = secrets.token_bytes(8), secrets.token_bytes(8)
            answer = card.internal_auth_answer(r1, r2)
            challenge = d = b""
            if ident.generation == 3:
                challenge, d = card.challenge(), secrets.token_bytes(8)
        except BaseException:
            card.close()
            raise
        self._begin("basic", "iReadCardBas_HSM_Step2", card, r2=r2, answer=answer,
                    external=bool(challenge))
        out = fields(
            ident.city_code, hx(ident.historical), f"{int(ident.algorithm):02X}",
            hx(ident.card_id), hx(r1), hx(r2), hx(challenge), hx(d),
        )
        return (out,)

    def iReadCardBas_HSM_Step2(self, pKey: bytes | str) -> Result:
        return self._run("iReadCardBas_HSM_Step2", self._read_card_bas_step2, pKey)

    def _read_card_bas_step2(self, pkey: bytes | str) -> tuple[str]:
        steps = self._continue("iReadCardBas_HSM_Step2")
        text = self._input("iReadCardBas_HSM_Step2", "pKey", pkey)
        key = parse_basic_key(text, steps.data["external"])
        card = steps.card
        if not (
            hmac.compare_digest(key.r2, steps.data["r2"])
            and hmac.compare_digest(key.internal, steps.data["answer"])
        ):
            raise NationalError(INTERNAL_AUTH_FAILED)
        if key.cryptogram is not None and key.d is not None:
            card.external_auth_answer(RKSSSE, key.cryptogram, key.d)
        basic = card.read_basic_after_hsm()
        line = basic.national_format(self._terminal_number(), self.config.device_number)
        self.abandon_steps()
        return (line,)

    # -- iReadCard ----------------------------------------------------------------------------

    def iReadCard(
        self, iType: int, iAuthType: int, pCardInfo: bytes | str, pFileAddr: bytes | str
    ) -> Result:
        return self._run("iReadCard", self._read_card, iType, iAuthType, pCardInfo, pFileAddr)

    def _parse_request(self, name: str, card_info: bytes | str, addr: bytes | str
                       ) -> tuple[CardInfo, tuple[FileRef, ...]]:
        info = parse_card_info(self._input(name, "pCardInfo", card_info))
        files = parse_address(self._input(name, "pFileAddr", addr))
        return info, files

    def _read_card(self, itype: int, auth_type: int, card_info: bytes | str,
                   addr: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        if auth_type not in (1, 2):
            raise NationalError(BAD_PARAMETER, "iAuthType须为1(PIN)或2(RK密钥)")
        info, files = self._parse_request("iReadCard", card_info, addr)
        with self.source.card(contactless) as card:
            ident = card.identity()
            self._check_card(ident, info)
            plan = [read_access(f.app, f.ef, ident.generation).needs(auth_type) for f in files]
            if any(key is not None for _, key in plan):
                self._need_module()
            if any(pin for pin, _ in plan):
                self._verify_holder(card, "iReadCard", sale=False)
            return (self._read_files(card, files, [k for _, k in plan], None),)

    def _read_files(self, card: OpenCard, files: tuple[FileRef, ...],
                    keys: list[KeyRef | None], first_app: str | None) -> str:
        """Read every file (the files of ``first_app`` first: an HSM authentication there must
        not be lost to another selection), then lay the answers out in address order."""
        limit = SIGNATURES["iReadCard"].outputs[0].size // 2
        order = sorted(range(len(files)), key=lambda i: files[i].app != first_app)
        answers: dict[int, list[str]] = {}
        for i in order:
            f, key = files[i], keys[i]
            card.select_app(f.app)
            if key is not None:
                card.external_auth(key)
            answers[i] = self._read_one(card, f, limit)
        return "".join(format_file(f, answers[i]) for i, f in enumerate(files))

    def _read_one(self, card: OpenCard, f: FileRef, limit: int) -> list[str]:
        if f.binary:
            return [_hex(card.read_binary(f.ef, limit))]
        if f.record is not None:
            record = card.read_record(f.ef, f.record)
            return [format_record([safe_field(v) for v in record_items(f.app, f.ef, record)])
                    if record is not None else ""]
        if f.all_records:
            return [format_record([safe_field(v) for v in record_items(f.app, f.ef, r)])
                    for r in card.read_records(f.ef)]
        values = []
        for item in f.items:
            el = element(f.app, f.ef, item.tag)
            raw = card.read_item(f.ef, item.tag, item.occurrence, el.le if el else None)
            values.append("" if raw is None else safe_field(self._item_text(f, item.tag, raw)))
        return values

    @staticmethod
    def _item_text(f: FileRef, tag: int, record: bytes) -> str:
        try:
            value = simple_record(record, tag)
        except TlvError:
            return _hex(record)
        return decode_item(f.app, f.ef, tag, value)

    def iReadCard_HSM_Step1(self, iType: int, pCardInfo: bytes | str,
                            pFileAddr: bytes | str) -> Result:
        return self._run("iReadCard_HSM_Step1", self._file_step1, "iReadCard_HSM_Step1", iType,
                         pCardInfo, pFileAddr)

    def iWriteCard_HSM_Step1(self, iType: int, pCardInfo: bytes | str,
                             pFileAddr: bytes | str) -> Result:
        return self._run("iWriteCard_HSM_Step1", self._file_step1, "iWriteCard_HSM_Step1", iType,
                         pCardInfo, pFileAddr)

    def _file_step1(self, name: str, itype: int, card_info: bytes | str,
                    addr: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        info, files = self._parse_request(name, card_info, addr)
        writing = name.startswith("iWrite")
        if writing:
            parse_write_data("".join("|" * len(f.items) + "$" for f in files), files)
        card = self.source.open(contactless)
        try:
            ident = card.identity()
            self._check_card(ident, info)
            access = [
                write_access(f.app, f.ef) if writing
                else read_access(f.app, f.ef, ident.generation)
                for f in files
            ]
            plan = [a.needs(2) for a in access]
            keyed = {(f.app, key) for f, (_, key) in zip(files, plan, strict=True) if key}
            if len(keyed) > 1:
                raise NationalError(DATA_INVALID, "加密机方式一次只能认证一个密钥(一个应用)")
            app, key = next(iter(keyed)) if keyed else (None, None)
            challenge = d = b""
            if key is not None and app is not None:
                card.select_app(app)
                challenge, d = card.challenge(), secrets.token_bytes(8)
        except BaseException:
            card.close()
            raise
        group = "write" if writing else "read"
        self._begin(group, name.replace("Step1", "Step2"), card, files=files, app=app, key=key,
                    keys=[k for _, k in plan], pin=any(p for p, _ in plan))
        out = fields(
            ident.city_code, hx(ident.historical), f"{int(ident.algorithm):02X}",
            hx(ident.card_id), key_address(key.name, ident.algorithm) if key else "",
            hx(challenge), hx(d),
        )
        return (out,)

    def _file_step2_auth(self, steps: _Steps, pkey: bytes | str, name: str) -> None:
        text = self._input(name, "pKey", pkey)
        auth = parse_auth_key(text, required=steps.data["key"] is not None)
        card = steps.card
        if auth is not None and steps.data["key"] is not None:
            card.external_auth_answer(steps.data["key"], *auth)
        if steps.data["pin"]:
            self._verify_holder(card, name, sale=False)

    def iReadCard_HSM_Step2(self, pKey: bytes | str) -> Result:
        return self._run("iReadCard_HSM_Step2", self._read_step2, pKey)

    def _read_step2(self, pkey: bytes | str) -> tuple[str]:
        steps = self._continue("iReadCard_HSM_Step2")
        self._file_step2_auth(steps, pkey, "iReadCard_HSM_Step2")
        out = self._read_files(steps.card, steps.data["files"], [None] * len(steps.data["files"]),
                               steps.data["app"])
        self.abandon_steps()
        return (out,)

    # -- iWriteCard ---------------------------------------------------------------------------

    def iWriteCard(self, iType: int, pCardInfo: bytes | str, pFileAddr: bytes | str,
                   pWriteData: bytes | str) -> Result:
        return self._run("iWriteCard", self._write_card, iType, pCardInfo, pFileAddr, pWriteData)

    def _encode_values(self, files: tuple[FileRef, ...], data: str) -> list[list[bytes]]:
        values = parse_write_data(data, files)
        return [
            [encode_item(f.app, f.ef, item.tag, v) for item, v in zip(f.items, vs, strict=True)]
            for f, vs in zip(files, values, strict=True)
        ]

    def _write_card(self, itype: int, card_info: bytes | str, addr: bytes | str,
                    data: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        info, files = self._parse_request("iWriteCard", card_info, addr)
        encoded = self._encode_values(files, self._input("iWriteCard", "pWriteData", data))
        with self.source.card(contactless) as card:
            ident = card.identity()
            self._check_card(ident, info)
            plan = [write_access(f.app, f.ef).needs(2) for f in files]
            if any(key is not None for _, key in plan):
                self._need_module()
            if any(pin for pin, _ in plan):
                self._verify_holder(card, "iWriteCard", sale=False)
            self._write_files(card, files, encoded, [k for _, k in plan], None)
        return ("",)

    def _write_files(self, card: OpenCard, files: tuple[FileRef, ...],
                     encoded: list[list[bytes]], keys: list[KeyRef | None],
                     first_app: str | None) -> None:
        order = sorted(range(len(files)), key=lambda i: files[i].app != first_app)
        for i in order:
            f, key = files[i], keys[i]
            card.select_app(f.app)
            if key is not None:
                card.external_auth(key)
            for item, value in zip(f.items, encoded[i], strict=True):
                card.update_item(f.ef, item.tag, item.occurrence, value)

    def iWriteCard_HSM_Step2(self, pKey: bytes | str, pWriteData: bytes | str) -> Result:
        return self._run("iWriteCard_HSM_Step2", self._write_step2, pKey, pWriteData)

    def _write_step2(self, pkey: bytes | str, data: bytes | str) -> tuple[str]:
        steps = self._continue("iWriteCard_HSM_Step2")
        files = steps.data["files"]
        encoded = self._encode_values(files, self._input("iWriteCard_HSM_Step2", "pWriteData",
                                                         data))
        self._file_step2_auth(steps, pkey, "iWriteCard_HSM_Step2")
        self._write_files(steps.card, files, encoded, [None] * len(files), steps.data["app"])
        self.abandon_steps()
        return ("",)

    # -- PIN: verify and change ---------------------------------------------------------------

    def iVerifyPIN(self, iType: int) -> Result:
        return self._run("iVerifyPIN", self._verify_pin, iType)

    def _verify_pin(self, itype: int) -> tuple[str]:
        with self.source.card(self._contactless(itype)) as card:
            self._verify_holder(card, "iVerifyPIN", sale=True)
        return ("",)

    def iChangePIN(self, iType: int) -> Result:
        return self._run("iChangePIN", self._change_pin, iType)

    def _change_pin(self, itype: int) -> tuple[str]:
        with self.source.card(self._contactless(itype)) as card:
            known = card.pin_status()
            if known.blocked:
                raise NationalError(PIN_BLOCKED)
            pad = self._pad(card)
            if pad is not None:  # current, new, new again on the pad; it compares the two (-34)
                card.change_pin_on_pad(pad, known)
                return ("",)
            with self._pin_session("iChangePIN") as entry:
                old = self._ask(entry, "iChangePIN", "修改社会保障卡密码:输入原密码", "原密码 PIN:")
                new = again = bytearray()
                try:
                    new, again = self._ask_new_pin(entry, "iChangePIN")
                except BaseException:
                    wipe(old)
                    raise
            try:
                if not card_format_ok(old):
                    raise NationalError(PIN_LENGTH, "原密码应为4到16位数字")
                self._new_pin_rules(new, again, old)
                card.change_pin(old, new, known)
            finally:
                wipe(old, new, again)
        return ("",)

    # -- PIN: reload and unblock (counter staff) ----------------------------------------------

    def iReloadPIN(self, iType: int, pCardInfo: bytes | str) -> Result:
        return self._run("iReloadPIN", self._reload_pin, iType, pCardInfo)

    def _reload_pin(self, itype: int, card_info: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        info = parse_card_info(self._input("iReloadPIN", "pCardInfo", card_info))
        self._need_module()
        with self.source.card(contactless) as card:
            self._check_card(card.identity(), info)
            with self._pin_session("iReloadPIN") as entry:
                new, again = self._ask_new_pin(entry, "iReloadPIN")
            try:
                self._new_pin_rules(new, again, None)
                card.reset_pin(new)
            finally:
                wipe(new, again)
        return ("",)

    def iUnblockPIN(self, iType: int, pCardInfo: bytes | str) -> Result:
        return self._run("iUnblockPIN", self._unblock_pin, iType, pCardInfo)

    def _unblock_pin(self, itype: int, card_info: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        info = parse_card_info(self._input("iUnblockPIN", "pCardInfo", card_info))
        self._need_module()
        with self.source.card(contactless) as card:
            self._check_card(card.identity(), info)
            card.unblock_pin()
        return ("",)

    def iReloadPIN_HSM_Step1(self, iType: int, pCardInfo: bytes | str) -> Result:
        return self._run("iReloadPIN_HSM_Step1", self._maintenance_step1, "iReloadPIN", iType,
                         pCardInfo)

    def iUnblockPIN_HSM_Step1(self, iType: int, pCardInfo: bytes | str) -> Result:
        return self._run("iUnblockPIN_HSM_Step1", self._maintenance_step1, "iUnblockPIN", iType,
                         pCardInfo)

    def _maintenance_step1(self, base: str, itype: int, card_info: bytes | str) -> tuple[str]:
        contactless = self._contactless(itype)
        info = parse_card_info(self._input(f"{base}_HSM_Step1", "pCardInfo", card_info))
        card = self.source.open(contactless)
        try:
            ident = card.identity()
            self._check_card(ident, info)
            challenge, d = card.challenge(), secrets.token_bytes(8)
        except BaseException:
            card.close()
            raise
        self._begin(base, f"{base}_HSM_Step2", card, algorithm=ident.algorithm)
        return (fields(f"{int(ident.algorithm):02X}", key_address(PUK.name, ident.algorithm),
                       hx(challenge), hx(d)),)

    def iReloadPIN_HSM_Step2(self, pKey: bytes | str) -> Result:
        return self._run("iReloadPIN_HSM_Step2", self._maintenance_step2, "iReloadPIN", pKey)

    def iUnblockPIN_HSM_Step2(self, pKey: bytes | str) -> Result:
        return self._run("iUnblockPIN_HSM_Step2", self._maintenance_step2, "iUnblockPIN", pKey)

    def _maintenance_step2(self, base: str, pkey: bytes | str) -> tuple[str]:
        name = f"{base}_HSM_Step2"
        steps = self._continue(name)
        auth = parse_auth_key(self._input(name, "pKey", pkey), required=True)
        assert auth is not None
        card = steps.card
        card.external_auth_answer(PUK, *auth)
        alg = steps.data["algorithm"]
        block = b""
        if base == "iReloadPIN":
            with self._pin_session(base) as entry:
                new, again = self._ask_new_pin(entry, base)
            try:
                self._new_pin_rules(new, again, None)
                block = codec.pin_encode(bytes(new))
            finally:
                wipe(new, again)
        challenge = card.challenge()
        p2 = commands.P2_RESET if base == "iReloadPIN" else commands.P2_UNBLOCK
        data_len = len(crypto.data_block(alg, block)) if block else 0  # §7.3, one formula
        header = bytes((0x84, 0x24, 0x00, p2, data_len + 4))
        steps.expects = f"{base}_HSM_Step3"
        steps.deadline = time.monotonic() + self.config.step_timeout
        steps.data.update(p2=p2, header=header, data_len=data_len)
        out = fields(f"{int(alg):02X}", key_address("STK", alg), hx(challenge), hx(header),
                     hx(block))
        return (out,)

    def iReloadPIN_HSM_Step3(self, pKey: bytes | str) -> Result:
        return self._run("iReloadPIN_HSM_Step3", self._maintenance_step3, "iReloadPIN", pKey)

    def iUnblockPIN_HSM_Step3(self, pKey: bytes | str) -> Result:
        return self._run("iUnblockPIN_HSM_Step3", self._maintenance_step3, "iUnblockPIN", pKey)

    def _maintenance_step3(self, base: str, pkey: bytes | str) -> tuple[str]:
        name = f"{base}_HSM_Step3"
        steps = self._continue(name)
        data, mac = parse_secure_key(self._input(name, "pKey", pkey), steps.data["header"],
                                     steps.data["data_len"])
        steps.card.pin_command(steps.data["p2"], data, mac)
        self.abandon_steps()
        return ("",)

    # -- not supported, and the reader --------------------------------------------------------

    def iDoDebit(self, iType: int, pCardInfo: bytes | str, pPayInfo: bytes | str) -> Result:
        return self._run("iDoDebit", self._no_debit)

    def iReadDebitRecord(self, iType: int) -> Result:
        return self._run("iReadDebitRecord", self._no_debit)

    @staticmethod
    def _no_debit() -> tuple[str]:
        raise NationalError(NOT_SUPPORTED, "sscard不支持医保脱机消费(iDoDebit/iReadDebitRecord)")

    def iGetReaderInfo(self) -> Result:
        return self._run("iGetReaderInfo", self._reader_info)

    def _reader_info(self) -> tuple[str, str]:
        size = SIGNATURES["iGetReaderInfo"].outputs[0].size - 1
        name = gbk.encode(self.source.reader_name(), size).decode(gbk.CODEC)
        return name, self._terminal_number()


def _entry_failure(exc: PinEntryError) -> NationalError:
    """PIN entry's failures as national codes: cancel -31, timeout -32, no prompt -13."""
    code = {"cancel": PIN_CANCELLED, "timeout": PIN_TIMEOUT}.get(exc.kind, NOT_SUPPORTED)
    return NationalError(code, "密码输入程序不可用" if exc.kind == "unavailable" else "")


__all__ = ["ITYPES", "National", "NationalConfig", "Result", "Kid", "DataFormatError"]
