"""What personalisation writes into the application files (issue 15), through the shared tables.

:func:`app_contents` turns a personalisation into the records of every national application
file of :mod:`apdu.appfiles` (and of a local extension): each record is encoded by its item's
declared codec, so the terminal decodes it with the same declaration.

Values come from the model (``Personalisation.app_data``: ``{"DF04/EF05": {field: value}, ...,
"DF04/EF08": [record, ...]}``); where it is None, from :func:`sample_app_data`: plausible values
for the sample holder 张三丰 of Wuhan (江岸区 420102; medical insurance in the city, 420100).
The medical area code (DF04 EF05 tag 84) is always ``CardInfo.medical_area_code``.  Only items a
public source names are personalised; the others stay absent, as on many real cards.  The
transaction log holds a few records, most recent first (record 1), and nothing after them, as a
card fresh from a few purchases does (READ RECORD past them answers 6A83).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from apdu.appfiles import APP_DFS, AppFile, encode_item, encode_log_record
from apdu.errors import DataFormatError
from apdu.extensions import Extension

if TYPE_CHECKING:
    from simulator.personalisation import Personalisation

#: [choice] fictional sample values; every item here is named by a public source.
SAMPLE_ADDRESS = "湖北省武汉市江岸区沿江大道100号"
SAMPLE_LOG: tuple[dict[str, Any], ...] = (
    {"sequence": 3, "type": "1", "terminal": "420100000001",
     "time": "2024-06-03T10:15:30", "account_amount": "25.60", "self_paid": "0.00",
     "pooled_fund": "0.00"},
    {"sequence": 2, "type": "1", "terminal": "420100000001",
     "time": "2024-05-20T16:02:11", "account_amount": "48.00", "self_paid": "12.00",
     "pooled_fund": "0.00"},
    {"sequence": 1, "type": "1", "terminal": "420102000007",
     "time": "2024-05-08T09:41:05", "account_amount": "0.00", "self_paid": "35.50",
     "pooled_fund": "120.30"},
)


def sample_app_data(p: Personalisation) -> dict[str, Any]:
    """Plausible DF01-DF04 values for the card's holder (the sample holder by default)."""
    c, h = p.card, p.holder
    return {
        "DF01/EF05": {"hukou_type": "1", "hukou_address": SAMPLE_ADDRESS},
        "DF01/EF06": {"residence_address": SAMPLE_ADDRESS, "residence_area_code": h.birthplace,
                      "phone": "02785000000"},
        "DF04/EF05": {
            "insurance_types": "310",  # 基本医疗保险
            "insured_category": "11",  # in employment
            "account_opened": dt.date(max(c.issue_date.year - 16, h.birth_date.year + 18), 7, 1),
            "personal_account": c.city_code + "00000001",
            "designated_institution_1": h.birthplace + "001",
            "card_use_mode": "1",
        },
        "DF04/EF06": {"offline_allowed": "0", "offline_total": "0.00", "offline_count": "0"},
        "DF04/EF08": [dict(r) for r in SAMPLE_LOG],
    }


def tree_path(f: AppFile) -> str:
    """Where a declared file sits in the simulator's tree ("MF/SSSE/EF08", "MF/SSSE/DF04/EF05")."""
    return f"MF/{f.path}" if f.df == "SSSE" else f"MF/SSSE/{f.path}"


def _file_records(f: AppFile, values: Any, pad: int) -> list[bytes]:
    if f.structure == "cyclic":
        if not isinstance(values, list):
            raise DataFormatError(f"{f.path}: a list of records expected")
        if len(values) > f.capacity:
            raise DataFormatError(f"{f.path}: {len(values)} records, the file holds {f.capacity}")
        return [encode_log_record(f, dict(v) if isinstance(v, dict) else {}) for v in values]
    if not isinstance(values, dict):
        raise DataFormatError(f"{f.path}: a table of item values expected")
    unknown = sorted(set(values) - {e.field for e in f.items})
    if unknown:
        raise DataFormatError(f"{f.path}: no item {unknown[0]!r}")
    out = []
    for element in f.items:
        if element.field in values:
            try:
                out.append(encode_item(element, values[element.field], pad))
            except DataFormatError as exc:
                raise DataFormatError(f"{f.path} {element.field}: {exc}") from None
    return out


def app_contents(p: Personalisation, extension: Extension | None = None
                 ) -> dict[str, list[bytes] | bytes]:
    """Tree path -> records (or bytes) of every application file under SSSE, and of the
    extension's files; raises DataFormatError naming the file and item that does not encode."""
    data = sample_app_data(p) if p.app_data is None else dict(p.app_data)
    data.setdefault("DF04/EF05", {})
    data["DF04/EF05"] = {**data["DF04/EF05"], "medical_area_code": p.card.medical_area_code}
    known = {f.path for d in APP_DFS for f in d.files}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DataFormatError(f"app_data: no application file {unknown[0]!r}")
    pad = p.options.pad
    out: dict[str, list[bytes] | bytes] = {}
    for df in APP_DFS:
        for f in df.files:
            path = tree_path(f)
            if f.structure == "binary":
                out[path] = bytes(f.size)
            else:
                out[path] = _file_records(f, data.get(f.path, [] if f.structure == "cyclic"
                                                        else {}), pad)
    if extension is not None:
        for f in extension.files:
            out[tree_path(f)] = _file_records(f, extension.samples.get(f.path, {}), pad)
    return out


def app_problems(p: Personalisation, extension: Extension | None = None) -> list[str]:
    """What cannot be written into the application files (never skipped: it cannot be encoded)."""
    try:
        app_contents(p, extension)
    except DataFormatError as exc:
        return [str(exc)]
    return []
