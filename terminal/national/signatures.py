"""The national reader-interface functions: names, parameters and buffer sizes, as one table.

national-interface.md §2 (SCRW2 tables 1-23).  Every other piece reads this table: the facade
(which parameters a function takes), the service (how many inputs and outputs a call has, how
long an output may be), the CLI (``sscard national FUNCTION ARGS``) and the C library, whose own
copy of the sizes is checked against this one by a test (``tests/test_national_c.py``).

Sizes, as the spec gives them:

- an OUTPUT buffer's size counts the terminating NUL: the library writes at most ``size`` bytes,
  i.e. at most ``size - 1`` bytes of text;
- an INPUT's size is the longest text accepted (a 32-character ``pKey`` has size 32), not
  counting its NUL.

Where the spec gives no size (``iDoDebit``, ``iReadDebitRecord``, the vendor extra
``iGetReaderInfo``), this project chose small ones [choice], so that a caller's buffer of any
plausible size is never overrun: 256 for the debit functions' ``pOutInfo``, 32 for the reader
serial, 16 for the PSAM terminal number (12 digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ParamKind = Literal["int", "in", "out"]


@dataclass(frozen=True, slots=True)
class Param:
    """One C parameter: ``int``, a ``char*`` input (GBK text) or a ``char*`` output buffer."""

    name: str
    kind: ParamKind
    size: int = 0


@dataclass(frozen=True, slots=True)
class Signature:
    """A national function: its exact name and C parameters in order (returns ``long``)."""

    name: str
    params: tuple[Param, ...]

    @property
    def arguments(self) -> tuple[Param, ...]:
        """What a caller passes (ints and inputs, in C order): the protocol's ``args``."""
        return tuple(p for p in self.params if p.kind != "out")

    @property
    def outputs(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.kind == "out")

    @property
    def has_out_info(self) -> bool:
        """True when the last output is ``pOutInfo`` (where a failure's text goes)."""
        outs = self.outputs
        return bool(outs) and outs[-1].name == "pOutInfo"

    def c_prototype(self) -> str:
        """``long NAME(int iType, char* pOutInfo)``: the header's line for this function."""
        parts = [f"int {p.name}" if p.kind == "int" else f"char* {p.name}" for p in self.params]
        return f"long {self.name}({', '.join(parts)})"


def _i(name: str) -> Param:
    return Param(name, "int")


def _in(name: str, size: int) -> Param:
    return Param(name, "in", size)


def _out(size: int, name: str = "pOutInfo") -> Param:
    return Param(name, "out", size)


_ITYPE = _i("iType")
_CARD_INFO = _in("pCardInfo", 128)
_FILE_ADDR = _in("pFileAddr", 1024)
_WRITE_DATA = _in("pWriteData", 1024 * 20)

#: THE table (national-interface §2).  Order = the order of the C header.
SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in (
        Signature("iReadCardBas", (_ITYPE, _out(1024))),
        Signature("iReadCardBas_HSM_Step1", (_ITYPE, _out(1024))),
        Signature("iReadCardBas_HSM_Step2", (_in("pKey", 128), _out(1024))),
        Signature(
            "iReadCard", (_ITYPE, _i("iAuthType"), _CARD_INFO, _FILE_ADDR, _out(1024 * 20))
        ),
        Signature("iReadCard_HSM_Step1", (_ITYPE, _CARD_INFO, _FILE_ADDR, _out(1024))),
        Signature("iReadCard_HSM_Step2", (_in("pKey", 32), _out(1024 * 20))),
        Signature("iWriteCard", (_ITYPE, _CARD_INFO, _FILE_ADDR, _WRITE_DATA, _out(1024))),
        Signature("iWriteCard_HSM_Step1", (_ITYPE, _CARD_INFO, _FILE_ADDR, _out(1024))),
        Signature("iWriteCard_HSM_Step2", (_in("pKey", 32), _WRITE_DATA, _out(1024))),
        Signature("iVerifyPIN", (_ITYPE, _out(512))),
        Signature("iChangePIN", (_ITYPE, _out(512))),
        Signature("iReloadPIN", (_ITYPE, _CARD_INFO, _out(512))),
        Signature("iReloadPIN_HSM_Step1", (_ITYPE, _CARD_INFO, _out(512))),
        Signature("iReloadPIN_HSM_Step2", (_in("pKey", 32), _out(1024))),
        Signature("iReloadPIN_HSM_Step3", (_in("pKey", 50), _out(1024))),
        Signature("iUnblockPIN", (_ITYPE, _CARD_INFO, _out(512))),
        Signature("iUnblockPIN_HSM_Step1", (_ITYPE, _CARD_INFO, _out(512))),
        Signature("iUnblockPIN_HSM_Step2", (_in("pKey", 32), _out(1024))),
        Signature("iUnblockPIN_HSM_Step3", (_in("pKey", 18), _out(1024))),
        Signature("iDoDebit", (_ITYPE, _CARD_INFO, _in("pPayInfo", 1024), _out(256))),
        Signature("iReadDebitRecord", (_ITYPE, _out(256))),
        Signature("iGetReaderInfo", (_out(32, "pReaderSN"), _out(16, "pPsamTermNo"))),
    )
}

#: The names a library must export: exactly these (``nm -D --defined-only`` is tested).
NATIONAL_NAMES: tuple[str, ...] = tuple(SIGNATURES)


def signature(name: str) -> Signature | None:
    return SIGNATURES.get(name)
