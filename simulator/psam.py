"""The simulated PSAM: the terminal's security module of card-profile §11, over the TEST keys.

File system (§11): MF ``3F00`` with DF name ``sx1.sh.社会保障`` (DES PSAM) or ``sx3.sh.社会保障``
(SM4 PSAM); EF ``0015`` the PSAM serial (cn 10) and EF ``0016`` the terminal number (cn 6, its first
6 digits the city code), both transparent and free to read (by SFI 0x15/0x16 or after SELECT EF);
ADF ``DF01`` (AID ``D1 56 00 00 05 90``) where the key commands live.

Commands: SELECT, READ BINARY, GET RESPONSE (T=0 option), DELIVERY SESSION KEY (``BF DE``) and
CIPHER DATA (``80 FA``). The PSAM never gives out a key: it derives a card key from its own stored
key and the factors it is sent, turns it into a session key with the card's challenge, and then
encrypts or MACs with that session key only.

Choices where the spec is silent (shared with the terminal's security module):

* Key storage and levels. The usage byte's bits 8-6 give the number of diversification levels
  still to apply (§11, :func:`apdu.psam.levels`): 0x67 -> 3, 0x48/0x46/0x47 -> 2. The key table
  is :data:`apdu.psam.PSAM_KEYS`, the one the terminal's PSAM module sends from. A 3-level key
  is stored as the national TEST root (§7.7); a 2-level key is stored already diversified to
  this PSAM's province (root -> province factor of its city code), so the terminal sends (card,
  city) for it. The number of factors sent must equal the levels, else ``6A80``; an unknown
  usage/id pair answers ``6A88``.
* DELIVERY SESSION KEY needs ADF DF01 selected, else ``6985`` (conditions of use not satisfied: it
  is a state of the application, not a missing authentication, so not ``6982``).
* ``R`` is 8 bytes for DES and 16 for SM4 (the terminal pads ``R || 00*8``); the session key is
  ``E(K_card, R)``, i.e. :func:`apdu.crypto.session_key` of the card's challenge: what the card
  derives. A failed DELIVERY SESSION KEY forgets the previous session key.
* CIPHER DATA without a session key: ``6985``. Encryption (P1 00/02) takes block-aligned data
  (the terminal formats ``LD || data || 80..`` itself), else ``6700``. MAC (P1 05): data = IV (one
  block) || message; the PSAM answers exactly :func:`apdu.crypto.mac` with that IV. Chained
  MAC: 07 = IV || first part, 03 = middle part, both block-aligned (``6700`` otherwise); 01 = last
  part, padded, answered with the MAC. 03/01 without a 07 first: ``6985``.
* Selecting MF or another DF forgets the session key (it belongs to the DF01 session).

Keys held here are TEST keys only (§7.7): the JSON state stores the published test key set (or
another test set), never anything real, and no method returns key bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from apdu import status as sw
from apdu.atr import build_historical, build_ssc_atr
from apdu.codec import cn_encode
from apdu.commands import (
    CIPHER_ENCRYPT_LAST,
    CIPHER_ENCRYPT_MORE,
    CIPHER_MAC_FIRST,
    CIPHER_MAC_LAST,
    CIPHER_MAC_MIDDLE,
    CIPHER_MAC_SINGLE,
    INS_CIPHER_DATA,
    INS_DELIVERY_SESSION_KEY,
    INS_GET_RESPONSE,
    INS_READ_BINARY,
    INS_SELECT,
)
from apdu.crypto import (
    Algorithm,
    block_size,
    cbc_encrypt_last_block,
    diversify,
    diversify_path,
    encrypt_ecb,
    mac,
    province_factor,
    session_key,
)
from apdu.errors import CryptoError, DataFormatError
from apdu.fci import build_df_fci
from apdu.keys import TEST_KEYS, KeySet
from apdu.names import MF_FID, PSAM_ADF_AID, PSAM_ADF_FID, PSAM_EF_SERIAL, PSAM_EF_TERMINAL
from apdu.psam import CITY_DIGITS, KEY_BY_SLOT, MF_NAMES, SERIAL_SIZE, TERMINAL_SIZE, levels
from simulator.cardos import OK, CardOS, Handler, Refuse
from simulator.store import CardFileError, load_json, replace_file

KIND = "sscard-psam"
FORMAT = 1

#: ATR historical bytes T1..T5 and T6..T7 of a simulated PSAM (§10 layout): chip maker, COS,
#: card maker. [choice] Values mean "sscard simulator"; T8..T13 follow from the area and serial.
_CHIP_COS = bytes.fromhex("5353") + b"PSM"
_CARD_MAKER = bytes.fromhex("5343")


@dataclass(frozen=True)
class _Key:
    name: str
    levels: int
    stored: bytes  # TEST key material; never leaves this module


class PsamFile(BaseModel):
    """The JSON of a PSAM file (:meth:`Psam.to_json`), validated strictly at load."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sscard-psam"]
    format: StrictInt
    note: str = Field(default="", max_length=200)
    algorithm: Literal["DES", "SM4"]
    terminal_number: str = Field(pattern=r"^[0-9]{12}$")
    serial: str = Field(pattern=r"^[0-9]{8,20}$")
    t0: bool = False
    keys: dict[str, Any]

    @field_validator("format")
    @classmethod
    def _format(cls, value: int) -> int:
        if value != FORMAT:
            raise ValueError(f"unsupported PSAM file format {value}")
        return value


class Psam(CardOS):
    """A simulated PSAM (implements :class:`simulator.card.VirtualCard` on the card OS of
    :mod:`simulator.cardos`). TEST keys only."""

    def __init__(
        self,
        *,
        algorithm: Algorithm = Algorithm.DES,
        keys: KeySet = TEST_KEYS,
        terminal_number: str = "420100000001",
        serial: str = "00000000000000000001",
        t0: bool = False,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.algorithm = Algorithm(algorithm)
        if self.algorithm not in MF_NAMES:
            raise DataFormatError(f"a PSAM is DES or SM4, not {self.algorithm.name}")
        if not (terminal_number.isdigit() and len(terminal_number) == 2 * TERMINAL_SIZE):
            raise DataFormatError("the terminal number has 12 digits (cn 6), the city code first")
        if not (serial.isdigit() and len(serial) <= 2 * SERIAL_SIZE and len(serial) >= 8):
            raise DataFormatError("the PSAM serial has 8 to 20 digits (cn 10)")
        self.keys = keys
        self.terminal_number = terminal_number
        self.serial = serial
        self._t0 = t0
        self.path = Path(path) if path is not None else None
        self._files = {
            PSAM_EF_SERIAL: cn_encode(serial, SERIAL_SIZE),
            PSAM_EF_TERMINAL: cn_encode(terminal_number, TERMINAL_SIZE),
        }
        self._key_table = self._build_keys()
        hist = build_historical(_CHIP_COS, _CARD_MAKER, bytes.fromhex(self.city_code[:4]),
                                bytes.fromhex(serial[-8:]))
        self._atr = build_ssc_atr(hist, "T0")
        self.faults = 0
        self._power_reset()

    # --- issue / load / save ---------------------------------------------------------------------

    @classmethod
    def issue(
        cls,
        *,
        algorithm: Algorithm = Algorithm.DES,
        keys: KeySet = TEST_KEYS,
        terminal_number: str = "420100000001",
        serial: str = "00000000000000000001",
        t0: bool = False,
        path: str | os.PathLike[str] | None = None,
    ) -> Psam:
        """A new PSAM; with ``path`` its state is written there at once (atomically)."""
        psam = cls(
            algorithm=algorithm,
            keys=keys,
            terminal_number=terminal_number,
            serial=serial,
            t0=t0,
            path=path,
        )
        if path is not None:
            psam.save()
        return psam

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format": FORMAT,
            "note": "simulated PSAM holding TEST keys only (card-profile §7.7)",
            "algorithm": self.algorithm.name,
            "terminal_number": self.terminal_number,
            "serial": self.serial,
            "t0": self._t0,
            "keys": self.keys.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike[str] | None = None) -> Psam:
        """A PSAM from its file's JSON, strictly (:class:`PsamFile`): one CardFileError line
        naming the field for anything else."""
        where = f"PSAM file {os.fspath(path)}" if path is not None else "PSAM data"
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise CardFileError(f"{where} is not a PSAM file (kind {KIND!r})")
        try:
            model = PsamFile.model_validate(data, strict=True)
            return cls(
                algorithm=Algorithm[model.algorithm],
                keys=KeySet.from_json(model.keys),
                terminal_number=model.terminal_number,
                serial=model.serial,
                t0=model.t0,
                path=path,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x)[:40] for x in first["loc"])
            raise CardFileError(f"{where}: {loc}: {first['msg']}") from None
        except CryptoError as exc:
            raise CardFileError(f"{where}: keys: {exc}") from None
        except DataFormatError as exc:
            raise CardFileError(f"{where}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Psam:
        """A PSAM from its file (bounded, strict).  No lock is taken: a PSAM's file holds
        nothing that changes while it is used (no try counters), so several programs may use
        one PSAM file at once, and it may be read-only."""
        return cls.from_json(load_json(path), path)

    def save(self) -> None:
        """Write the state (no-op for an in-memory PSAM). Volatile session state is not saved.
        The file is replaced only if it is absent or a card file (simulator.store)."""
        if self.path is not None:
            self.path = replace_file(self.path, self.to_json())

    # --- public facts -----------------------------------------------------------------------------

    @property
    def city_code(self) -> str:
        """The first 6 digits of the terminal number (EF 0016, §11)."""
        return self.terminal_number[:CITY_DIGITS]

    def __repr__(self) -> str:
        return (
            f"<Psam {self.algorithm.name} terminal {self.terminal_number} serial {self.serial}; "
            f"TEST keys {self.keys.label!r}>"
        )

    def _build_keys(self) -> dict[tuple[int, int], _Key]:
        """Stored keys per the CHOICE in the module docstring (3 levels: root; 2: province key)."""
        table: dict[tuple[int, int], _Key] = {}
        province = province_factor(self.city_code)
        for (usage, key_id), name in KEY_BY_SLOT.items():
            try:
                root = self.keys.root(name)
            except CryptoError:
                continue  # a key set without this key: the PSAM answers 6A88 for it
            n = levels(usage)
            stored = root if n == 3 else diversify(self.algorithm, root, province)
            table[(usage, key_id)] = _Key(name, n, stored)
        return table

    # --- power -----------------------------------------------------------------------------------

    def _power_reset(self) -> None:
        super()._power_reset()
        self._df = "MF"
        self._ef: int | None = None
        self._sk: bytes | None = None
        self._chain: bytes | None = None

    # --- SELECT / READ BINARY ---------------------------------------------------------------------

    def _select(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p2 not in (0x00, 0x0C):
            raise Refuse(sw.WRONG_P1P2)
        fci = p2 == 0x00
        if p1 == 0x04:
            if data == MF_NAMES[self.algorithm]:
                return self._enter("MF", data, fci)
            if data == PSAM_ADF_AID:
                return self._enter("DF01", data, fci)
            raise Refuse(sw.FILE_NOT_FOUND)
        if p1 not in (0x00, 0x02):
            raise Refuse(sw.WRONG_P1P2)
        if len(data) != 2:
            raise Refuse(sw.WRONG_LENGTH)
        fid = int.from_bytes(data, "big")
        if p1 == 0x00 and fid == MF_FID:
            return self._enter("MF", MF_NAMES[self.algorithm], fci)
        if p1 == 0x00 and fid == PSAM_ADF_FID:
            return self._enter("DF01", PSAM_ADF_AID, fci)
        if fid in self._files and self._df == "MF":
            self._ef = fid
            return OK
        raise Refuse(sw.FILE_NOT_FOUND)

    def _enter(self, df: str, name: bytes, fci: bool) -> bytes:
        self._df = df
        self._ef = None
        self._sk = None
        self._chain = None
        return build_df_fci(name) + OK if fci else OK

    def _read_binary(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if data:
            raise Refuse(sw.WRONG_LENGTH)
        if p1 & 0x80:
            if p1 & 0x60:
                raise Refuse(sw.WRONG_P1P2)
            fid = p1 & 0x1F
            if fid not in self._files:
                raise Refuse(sw.FILE_NOT_FOUND)
            offset = p2
            self._ef = fid
        else:
            if self._ef is None:
                raise Refuse(sw.NO_CURRENT_EF)
            fid = self._ef
            offset = (p1 << 8) | p2
        content = self._files[fid]
        if offset >= len(content):
            raise Refuse(sw.OFFSET_OUTSIDE_EF)
        rest = content[offset:]
        if ne is None:
            raise Refuse(sw.WRONG_LENGTH)
        if ne in (256, 65536) or ne == len(rest):
            return rest + OK
        if ne < len(rest):
            return rest[:ne] + OK
        raise Refuse(sw.wrong_le(len(rest)))

    # --- §11 key commands -------------------------------------------------------------------------

    def _delivery_session_key(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        self._sk = None
        self._chain = None
        if self._df != "DF01":
            raise Refuse(sw.CONDITIONS_NOT_SATISFIED)
        key = self._key_table.get((p1, p2))
        if key is None:
            raise Refuse(sw.KEY_NOT_FOUND)
        r_len = block_size(self.algorithm)  # R: one block, apdu.crypto.block8 (R || 00*8 SM4)
        if len(data) != 8 * key.levels + r_len:
            raise Refuse(sw.WRONG_DATA)
        factors = [data[i : i + 8] for i in range(0, 8 * key.levels, 8)]
        r = data[8 * key.levels :]
        card_key = diversify_path(self.algorithm, key.stored, list(reversed(factors)))
        if self.algorithm is Algorithm.DES:
            self._sk = session_key(self.algorithm, card_key, r)
        elif r[8:] == bytes(8):
            self._sk = session_key(self.algorithm, card_key, r[:8])
        else:  # what a real PSAM does with any 16 bytes: encrypt them
            self._sk = encrypt_ecb(self.algorithm, card_key, r)
        return OK

    def _cipher_data(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p2 != 0:
            raise Refuse(sw.WRONG_P1P2)
        op = _CIPHER_OPS.get(p1)
        if op is None:
            raise Refuse(sw.WRONG_P1P2)
        if not data:
            raise Refuse(sw.WRONG_LENGTH)
        if self._sk is None:
            raise Refuse(sw.CONDITIONS_NOT_SATISFIED)
        return op(self, data) + OK

    def _encrypt(self, data: bytes) -> bytes:
        assert self._sk is not None
        if len(data) % block_size(self.algorithm):
            raise Refuse(sw.WRONG_LENGTH)
        return encrypt_ecb(self.algorithm, self._sk, data)

    def _split_iv(self, data: bytes) -> tuple[bytes, bytes]:
        bs = block_size(self.algorithm)
        if len(data) < bs:
            raise Refuse(sw.WRONG_LENGTH)
        return data[:bs], data[bs:]

    def _cbc(self, iv: bytes, part: bytes) -> bytes:
        assert self._sk is not None
        if not part:
            return iv
        return cbc_encrypt_last_block(self.algorithm, self._sk, part, iv)

    def _finish(self, iv: bytes, tail: bytes) -> bytes:
        """The MAC of the message's last part, chained from ``iv`` (§7.3)."""
        assert self._sk is not None
        return mac(self.algorithm, self._sk, tail, iv)

    def _mac_single(self, data: bytes) -> bytes:
        self._chain = None
        iv, message = self._split_iv(data)
        return self._finish(iv, message)

    def _mac_first(self, data: bytes) -> bytes:
        self._chain = None
        iv, part = self._split_iv(data)
        if len(part) % block_size(self.algorithm):
            raise Refuse(sw.WRONG_LENGTH)
        self._chain = self._cbc(iv, part)
        return b""

    def _mac_middle(self, data: bytes) -> bytes:
        if self._chain is None:
            raise Refuse(sw.CONDITIONS_NOT_SATISFIED)
        if len(data) % block_size(self.algorithm):
            raise Refuse(sw.WRONG_LENGTH)
        self._chain = self._cbc(self._chain, data)
        return b""

    def _mac_last(self, data: bytes) -> bytes:
        if self._chain is None:
            raise Refuse(sw.CONDITIONS_NOT_SATISFIED)
        chain, self._chain = self._chain, None
        return self._finish(chain, data)

    #: THE PSAM's command table (§11): (CLA, INS) -> handler, for the card OS.
    COMMANDS: ClassVar[Mapping[tuple[int, int], Handler]] = {
        (0x00, INS_SELECT): _select,
        (0x00, INS_READ_BINARY): _read_binary,
        (0x00, INS_GET_RESPONSE): CardOS.get_response,
        (0xBF, INS_DELIVERY_SESSION_KEY): _delivery_session_key,
        (0x80, INS_CIPHER_DATA): _cipher_data,
    }


_CIPHER_OPS = {
    CIPHER_ENCRYPT_LAST: Psam._encrypt,
    CIPHER_ENCRYPT_MORE: Psam._encrypt,
    CIPHER_MAC_SINGLE: Psam._mac_single,
    CIPHER_MAC_FIRST: Psam._mac_first,
    CIPHER_MAC_MIDDLE: Psam._mac_middle,
    CIPHER_MAC_LAST: Psam._mac_last,
}
