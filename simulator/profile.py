"""The social security user card's file tree (card-profile §2, §3, §9) and its identity (§10).

Two tables, kept apart on purpose:

- :func:`build_tree` — the *structure*: which DFs and EFs exist, their FID/SFI/name, their access
  rules per operation (§2) and the FCI each DF answers to SELECT (§3). It depends only on the
  generation (EF06 needs RKSSSE on 3.00, DIR SFI, algorithm flag) and on whether the bank
  application is present, so a saved card rebuilds it without re-validating its personalisation.
- :func:`contents` — the *data* a personalisation writes into the EFs (§4 records, §9 bank record).

FIDs of SSSE and of the bank DFs are not standardised (§2 says to select SSSE by name); the
values below are this project's [choice] and are only reachable by FID for completeness.

The ATR (§10) is built by :func:`apdu.atr.build_ssc_atr` (the one home of its two forms): the
T=0 form ``3B 6D 00 00`` + 13 historical bytes by default, as every real contact card seen
answers (issue 9), the T=1 form as an option.  Historical bytes: T1-T2 chip maker, T3-T5 COS,
T6-T7 card maker (fixed simulator values, [choice]), T8-T9 the first 4 digits of the city code
(BCD), T10-T13 the serial (card id bytes 8..12).

Generations (§1): 1 (1.00: DES, FCI without the algorithm flag ``6F 16 84 0F <name> A5 03 88
01 0B`` as on the real 1.00 card, no tag 4E, 0x20 padding, EF06 free), 2 (DES) and 3 (SM4, EF06
behind RKSSSE).

The bank application (§9, issue 9): the PSE directory, the UnionPay ADF with its PAN record at
**record 1 of SFI 2** (where deployed kiosk software reads it) and GET PROCESSING OPTIONS
answering format 1 (``80``) or, as a card option, format 2 (``77`` with ``82``/``94``), with an
AFL pointing at that record (:func:`gpo_answer`).
"""

from __future__ import annotations

from apdu import emv
from apdu.appfiles import APP_DFS, SSSE_FILES, Access, AppFile, encode_item
from apdu.atr import build_historical, build_ssc_atr
from apdu.crypto import Algorithm
from apdu.elements import EF05, EF06, Element
from apdu.errors import DataFormatError
from apdu.extensions import Extension
from apdu.fci import (
    DIR_SFI_FOR_GENERATION,
    FCI_HAS_ALGORITHM_FLAG,
    build_df_fci,
    build_mf_fci,
    build_ssse_fci,
)
from apdu.names import MF_FID, PSE_NAME, SSSE_NAME, UNIONPAY_DEBIT_AID, Kid
from apdu.tlv import ber_encode
from simulator.appdata import app_contents
from simulator.extensions import extension_of
from simulator.filesystem import (
    DF,
    EF,
    FREE,
    NEVER,
    PIN,
    CyclicEF,
    DFKind,
    FileSystemError,
    FileTree,
    RecordEF,
    Rule,
    TransparentEF,
    key,
    pin_and_key,
    pin_or_key,
)
from simulator.personalisation import Personalisation, PersonalisationError, split_name
from simulator.photo import ef08_content

#: §1: generation -> symmetric algorithm of the card.
ALGORITHM_FOR_GENERATION: dict[int, Algorithm] = {
    1: Algorithm.DES, 2: Algorithm.DES, 3: Algorithm.SM4,
}
#: §4: generations whose EF06 has the name extension 4E ("absent on 1.00 cards").
HAS_NAME_EXTENSION = frozenset({2, 3})
#: §4: the padding byte of text items per generation (the real 1.00 card pads with 0x20).
PAD_FOR_GENERATION: dict[int, int] = {1: 0x20, 2: 0x00, 3: 0x00}

#: §9, issue 9: the SFI of the PAN record in the bank ADF (kiosks read 00 B2 01 14 00).
BANK_PAN_SFI = emv.PAN_SFI
#: GET PROCESSING OPTIONS: AIP 7C 00 (seen in a real format 1 answer) and one AFL entry: SFI 2,
#: records 1 to 1, none for offline data authentication.
GPO_AIP = bytes.fromhex("7C00")
GPO_AFL = emv.afl_entry(BANK_PAN_SFI, 1, 1)

#: [choice] FIDs for files whose FID no public source fixes.
FID_PSE = 0xDDF1
FID_BANK_ADF = 0xADF1
FID_SSSE = 0xDDF2
FID_DIR = 0x2F00

#: §10 [choice]: fixed historical bytes T1-T2 (chip maker), T3-T5 (COS), T6-T7 (card maker).
CHIP_MAKER = b"\x00\x86"
COS = b"SIM"
CARD_MAKER = b"\x53\x43"

EF07_SIZE = SSSE_FILES[2].size
EF08_SIZE = SSSE_FILES[3].size

#: DIR labels of the application DFs.
DF_LABELS = {"DF01": "PUBLIC", "DF02": "EMPLOYMENT", "DF03": "SOCIAL INSURANCE 1",
             "DF04": "SOCIAL INSURANCE 2", "DF07": "PERSONNEL"}


def historical_bytes(card_id: bytes) -> bytes:
    """T1..T13 of §10 for a card with identification code ``card_id`` (§8.3): the area is the
    first 4 digits of its city code, the serial its bytes 9-12."""
    return build_historical(CHIP_MAKER + COS, CARD_MAKER, card_id[0:2], card_id[8:12])


def atr(hist: bytes, *, t0: bool) -> bytes:
    """The ATR of §10 in its T=0 (default, the field's) or T=1 form (:mod:`apdu.atr`)."""
    return build_ssc_atr(hist, "T0" if t0 else "T1")


def gpo_answer(fmt: int) -> bytes:
    """The GET PROCESSING OPTIONS answer in format 1 or 2 (:func:`apdu.emv.gpo_answer`)."""
    return emv.gpo_answer(fmt, GPO_AIP, GPO_AFL)


def _tlv(tag: int, *parts: bytes) -> bytes:
    return ber_encode(tag, list(parts))


def ssse_fci(generation: int) -> bytes:
    """§3: the SSSE FCI of a generation (:func:`apdu.fci.build_ssse_fci`); a 1.00 card has no
    algorithm flag, as the real 1.00 card."""
    alg = ALGORITHM_FOR_GENERATION[generation] if generation in FCI_HAS_ALGORITHM_FLAG else None
    return build_ssse_fci(DIR_SFI_FOR_GENERATION[generation], alg)


def _record_ef(
    label: str, fid: int, sfi: int | None, read: object, write: object, *, emv: bool = False
) -> RecordEF:
    """A record EF; ``emv`` files answer Le 00 with the whole record (ISO/EMV, §9)."""
    ef = RecordEF(label, fid, sfi, read, write)  # type: ignore[arg-type]
    ef.le_up_to = emv
    return ef


def _rule(access: Access) -> Rule:
    """A shared access row (apdu.appfiles) as the file system's rule (the same singletons for
    the kinds without a key)."""
    if access.kind in _SINGLETONS:
        return _SINGLETONS[access.kind]
    if access.kid is None:
        raise FileSystemError(f"access rule {access} names no key")
    return _KEYED[access.kind](access.kid)


_SINGLETONS: dict[str, Rule] = {"free": FREE, "pin": PIN, "never": NEVER}
_KEYED = {"key": key, "pin_or_key": pin_or_key, "pin_and_key": pin_and_key}


def _ef(f: AppFile, generation: int) -> EF:
    """The simulator's EF for a declared application file (apdu.appfiles): structure, FID, SFI
    and access rules all from the one declaration."""
    read, write = _rule(f.read_rule(generation)), _rule(f.write)
    if f.structure == "binary":
        return TransparentEF(f.ef, f.fid, f.sfi, read, write, size=f.size)
    if f.structure == "cyclic":
        return CyclicEF(f.ef, f.fid, f.sfi, read, write)
    return _record_ef(f.ef, f.fid, f.sfi, read, write)


def build_tree(generation: int, *, bank: bool = True,
               extension: Extension | None = None) -> FileTree:
    """The empty SSC tree of §2 for a generation (2 = DES, 3 = SM4), its files and access rules
    from the shared declarations of :mod:`apdu.appfiles` (and of a local extension)."""
    if generation not in ALGORITHM_FOR_GENERATION:
        raise FileSystemError(f"unsupported generation {generation}")
    mf = DF("MF", MF_FID, None, DFKind.MF, fci=build_mf_fci(MF_FID))
    if bank:
        # §9: the financial environment, firewalled from SSSE (its own domain, no SSSE PIN/keys).
        pse = DF("PSE", FID_PSE, PSE_NAME, DFKind.DDF, domain="BANK", fci=emv.pse_fci(1))
        pse.add(_record_ef("DIR", 0xEF01, 1, FREE, NEVER, emv=True))
        adf = DF("UNIONPAY", FID_BANK_ADF, UNIONPAY_DEBIT_AID, DFKind.ADF, domain="BANK",
                 fci=emv.adf_fci(UNIONPAY_DEBIT_AID))
        # The label EF01 stays (saved card files name it); the SFI is 2, where kiosks read it.
        adf.add(_record_ef("EF01", 0xEF01, BANK_PAN_SFI, FREE, NEVER, emv=True))
        pse.add(adf)
        mf.add(pse)
    ssse = DF("SSSE", FID_SSSE, SSSE_NAME, DFKind.DDF, domain="SSSE", key_domains=("SSSE",),
              pin_domain=True, fci=ssse_fci(generation))
    ssse.add(*(_ef(f, generation) for f in SSSE_FILES))
    ssse.add(_record_ef("DIR", FID_DIR, DIR_SFI_FOR_GENERATION[generation], FREE,
                        key(Kid.UKSSSE)))
    dfs = list(APP_DFS) + (list(extension.dfs) if extension is not None else [])
    for app in dfs:
        df = DF(app.name, app.fid, app.aid, DFKind.ADF, domain=app.name,
                key_domains=(app.name, "SSSE"), pin_domain=True, fci=build_df_fci(app.aid))
        df.add(*(_ef(f, generation) for f in app.files))
        ssse.add(df)
    if extension is not None:  # extension EFs under SSSE or a national DF (EF0C and up)
        for f in extension.files:
            parent = ssse if f.df == "SSSE" else ssse.by_fid.get(0xDF00 | int(f.df[2:], 16))
            if isinstance(parent, DF) and f.df not in {d.name for d in extension.dfs}:
                parent.add(_ef(f, generation))
    mf.add(ssse)
    return FileTree(mf)


# --- contents -------------------------------------------------------------------------------------


def _records(table: tuple[Element, ...], values: dict[str, object], pad: int) -> list[bytes]:
    """The records of the items given, each encoded by its declaration (apdu.appfiles; real
    初始化机构编号 with non-BCD sequence bytes are written from hex, issue 9)."""
    return [encode_item(el, values[el.field], pad) for el in table if el.field in values]


def contents(p: Personalisation) -> dict[str, list[bytes] | bytes]:
    """Path -> records (record EFs) or bytes (transparent EFs) for a personalisation (§4, §9)."""
    pad = p.options.pad
    c, h = p.card, p.holder
    card_id = c.resolved_card_id()
    head, ext = split_name(h.name)
    ef05 = {
        "card_id": card_id,
        "card_type": c.card_type,
        "spec_version": c.resolved_spec_version(),
        "init_institution": c.resolved_institution(),
        "issue_date": c.issue_date,
        "expiry_date": c.expiry_date,
        "card_number": c.card_number,
    }
    ef06: dict[str, object] = {
        "ssn": h.ssn,
        "name": head.decode("gb18030"),
        "name_extension": ext.decode("gb18030"),
        "sex": h.sex,
        "ethnicity": h.ethnicity,
        "birthplace": h.birthplace,
        "birth_date": h.birth_date,
    }
    if c.generation not in HAS_NAME_EXTENSION:
        del ef06["name_extension"]
    out: dict[str, list[bytes] | bytes] = {
        "MF/SSSE/EF05": _records(EF05, ef05, pad),
        "MF/SSSE/EF06": _records(EF06, ef06, pad),
        "MF/SSSE/EF07": bytes(EF07_SIZE),
        "MF/SSSE/EF08": ef08_content(p.photo, EF08_SIZE),
        "MF/SSSE/DIR": [
            _tlv(emv.TAG_APPLICATION, _tlv(emv.TAG_AID, app.aid),
                 _tlv(emv.TAG_LABEL, DF_LABELS[app.name].encode("ascii")))
            for app in APP_DFS
        ],
    }
    try:
        out.update(app_contents(p, extension_of(p.extension)))
    except DataFormatError as exc:
        raise PersonalisationError([str(exc)]) from None
    if p.bank is not None:
        b = p.bank
        record = emv.pan_record(b.pan, b.cardholder_name.encode("ascii"), b.expiry, b.pan_seq)
        out["MF/PSE/DIR"] = [emv.directory_record(UNIONPAY_DEBIT_AID)]
        out["MF/PSE/UNIONPAY/EF01"] = [record]
    return out


def fill(tree: FileTree, data: dict[str, list[bytes] | bytes]) -> None:
    """Write contents into a tree's EFs (at issue and when a saved card is loaded)."""
    for path, value in data.items():
        node: EF | DF | None = tree.by_path.get(path)
        if isinstance(node, TransparentEF) and isinstance(value, (bytes, bytearray)):
            node.data = bytearray(bytes(value).ljust(node.size, b"\x00")[: node.size])
        elif isinstance(node, RecordEF) and isinstance(value, list):
            node.records = [bytes(r) for r in value]
