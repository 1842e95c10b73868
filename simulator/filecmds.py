"""The user card's file commands: SELECT, READ RECORD, READ BINARY, UPDATE RECORD (§3-§5).

- SELECT (§3): by name (P1 04), MF/DF by FID (P1 00), EF under the current DF (P1 02, and P1 00
  as real terminals send).  DFs answer their FCI (P2 00; P2 0C suppresses it); EFs answer
  ``9000``.  Selecting SSSE or one of its DFs after APPLICATION BLOCK answers ``9303``.
- READ RECORD (§4): every ISO/IEC 7816-4 P2 mode; ``6Cxx`` with the record length when Le is
  short or absent (or not exact, as an option), ``6A83`` no record, ``6981`` not a record EF,
  ``6982`` access, ``6A82`` no such SFI.
- READ BINARY (§5): P1 b8 = SFI form; ``6B00`` offset outside the EF.
- UPDATE RECORD (§5): write rule of the EF (UKSSSE for SSSE EFs); the record must be one
  SIMPLE-TLV object (:func:`apdu.tlv.is_simple_record`); by tag, a missing record is appended.

READ RECORD never writes the card file.
"""

from __future__ import annotations

from apdu import status
from apdu.commands import (
    ALL_FROM,
    ALL_TO,
    BY_NUMBER,
    BY_TAG,
    LAST_BY_TAG,
    MULTI_RECORD_MODES,
    NEXT_BY_TAG,
)
from apdu.names import MF_FID
from apdu.tlv import is_simple_record
from simulator.cardos import OK, sw, wrong_le
from simulator.filesystem import DF, EF, FREE, RecordEF, TransparentEF
from simulator.usercore import UserCardCore


class FileCommands(UserCardCore):
    """SELECT, READ RECORD, READ BINARY and UPDATE RECORD of the user card."""

    def _select(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p2 not in (0x00, 0x0C):
            return sw(status.WRONG_P1P2)
        fci = p2 == 0x00
        if p1 == 0x04:
            df = self._tree.by_name.get(data)
            return sw(status.FILE_NOT_FOUND) if df is None else self._enter_df(df, fci)
        if p1 not in (0x00, 0x01, 0x02):
            return sw(status.WRONG_P1P2)
        if p1 == 0x00 and not data:  # ISO 7816-4: SELECT with no data selects the MF
            return self._enter_df(self._tree.mf, fci)
        if len(data) != 2:
            return sw(status.WRONG_LENGTH)
        fid = (data[0] << 8) | data[1]
        cur = self._cur_df
        node: DF | EF | None
        if p1 == 0x02:
            node = cur.by_fid.get(fid)
            if not isinstance(node, EF):
                return sw(status.FILE_NOT_FOUND)
        elif fid == MF_FID:
            node = self._tree.mf
        else:
            node = cur.by_fid.get(fid)
            if node is None and cur.fid == fid:
                node = cur
            if node is None and cur.parent is not None:
                sibling = cur.parent.by_fid.get(fid)
                node = sibling if isinstance(sibling, DF) else None
            if p1 == 0x01 and not isinstance(node, DF):
                node = None
        if node is None:
            return sw(status.FILE_NOT_FOUND)
        if isinstance(node, DF):
            return self._enter_df(node, fci)
        self._set_ef(node)
        return OK

    def _read_record(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        """READ RECORD in every ISO/IEC 7816-4 P2 mode (§4 names 00 and 04; issue 9 the rest).

        Modes 0-3: P1 is a record identifier (the tag; 00: any), first / last / next / previous
        occurrence relative to the current record.  Mode 4: record number P1 (00: the current
        record).  Modes 5 and 6: every record from number P1 (00: the current one) to the last,
        or from the last down to P1, concatenated in one answer.  Mode 7 is RFU: ``6A86``.
        """
        if data:
            return sw(status.WRONG_LENGTH)
        mode = p2 & 7
        if mode == 7 or (mode in MULTI_RECORD_MODES and not self._options.multi_record):
            return sw(status.WRONG_P1P2)
        ef = self._target_ef(p2 >> 3)
        if type(ef) is bytes:
            return ef
        if not isinstance(ef, RecordEF):
            return sw(status.INCOMPATIBLE_FILE_STRUCTURE)
        read = ef.read
        if read is not FREE:
            denied = self._denied(read)
            if denied is not None:
                return denied
        if mode in MULTI_RECORD_MODES:
            return self._read_records(ef, p1, mode, ne)
        index = self._record_index(ef, p1, mode)
        if index is None:
            return sw(status.RECORD_NOT_FOUND)
        self._cur_rec = index
        rec = ef.records[index]
        if ne is None or ne < len(rec) or (ne != len(rec) and self._exact_le(ef)):
            return wrong_le(len(rec))
        return rec + OK

    def _exact_le(self, ef: RecordEF) -> bool:
        """The card profile's text: only the exact Le reads a record (6Cxx otherwise).  Real
        cards answer any Le of at least the record's length (issue 9), the default here."""
        return self._options.exact_le and not ef.le_up_to

    def _record_index(self, ef: RecordEF, p1: int, mode: int) -> int | None:
        """The index of the record a single-record mode addresses, or None when there is none."""
        recs = ef.records
        cur = self._cur_rec
        if mode == BY_NUMBER:
            index = cur if p1 == 0 else p1 - 1
            return index if index is not None and index < len(recs) else None

        def match(i: int) -> bool:
            return p1 == 0 or recs[i][0] == p1

        if mode == BY_TAG:
            order: range = range(len(recs))
        elif mode == LAST_BY_TAG:
            order = range(len(recs) - 1, -1, -1)
        elif mode == NEXT_BY_TAG:
            order = range(0 if cur is None else cur + 1, len(recs))
        else:  # PREVIOUS_BY_TAG
            order = range((len(recs) if cur is None else cur) - 1, -1, -1)
        return next((i for i in order if match(i)), None)

    def _read_records(self, ef: RecordEF, p1: int, mode: int, ne: int | None) -> bytes:
        """Modes 5/6: whole records from P1 to the last (or back), as many as Ne holds.

        Le 00 (Ne 256) gets everything up to 256 bytes at once; an Ne smaller than the whole
        answer gets ``6Cxx`` (the right Le); an answer longer than 256 bytes gets the complete
        records that fit and ``6310`` (more data available) [choice].
        """
        recs = ef.records
        start = self._cur_rec if p1 == 0 else p1 - 1
        if start is None or start >= len(recs):
            return sw(status.RECORD_NOT_FOUND)
        indexes = list(range(start, len(recs)))
        if mode == ALL_TO:
            indexes.reverse()
        total = sum(len(recs[i]) for i in indexes)
        limit = 256 if ne is None else ne
        if total <= 256 and (ne is None or ne < total):
            return wrong_le(total)
        out = bytearray()
        for i in indexes:
            if len(out) + len(recs[i]) > limit:
                self._cur_rec = i - 1 if mode == ALL_FROM else i + 1
                if not out:
                    return wrong_le(len(recs[i]))
                return bytes(out) + sw(status.MORE_DATA_AVAILABLE)
            out += recs[i]
        self._cur_rec = indexes[-1]
        return bytes(out) + OK

    def _read_binary(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if data:
            return sw(status.WRONG_LENGTH)
        if p1 & 0x80:
            if p1 & 0x60 or not p1 & 0x1F:
                return sw(status.WRONG_P1P2)
            target = self._target_ef(p1 & 0x1F)
            offset = p2
        else:
            target = self._cur_ef if self._cur_ef is not None else sw(status.NO_CURRENT_EF)
            offset = (p1 << 8) | p2
        if isinstance(target, bytes):
            return target
        if not isinstance(target, TransparentEF):
            return sw(status.INCOMPATIBLE_FILE_STRUCTURE)
        denied = self._denied(target.read)
        if denied is not None:
            return denied
        if offset >= target.size:
            return sw(status.OFFSET_OUTSIDE_EF)
        avail = target.size - offset
        if ne is None:
            return wrong_le(min(avail, 256))
        if ne < 256 and ne > avail:
            return wrong_le(avail)
        count = min(ne, avail)
        return bytes(target.data[offset : offset + count]) + OK

    def _update_record(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if not data:
            return sw(status.WRONG_LENGTH)
        mode = p2 & 7
        if (mode != BY_NUMBER and mode != BY_TAG) or p1 == 0:
            return sw(status.WRONG_P1P2)
        ef = self._target_ef(p2 >> 3)
        if isinstance(ef, bytes):
            return ef
        if not isinstance(ef, RecordEF):
            return sw(status.INCOMPATIBLE_FILE_STRUCTURE)
        denied = self._denied(ef.write)
        if denied is not None:
            return denied
        if len(data) > ef.max_record_len:
            return sw(status.WRONG_LENGTH)
        if not is_simple_record(data):  # one SIMPLE-TLV object with a one-byte length (§4)
            return sw(status.WRONG_DATA)
        if mode == BY_TAG:
            if data[0] != p1:
                return sw(status.WRONG_DATA)
            idx = ef.index_of_tag(p1)
            if idx is None:
                ef.records.append(data)  # §5: a missing record is appended
            else:
                ef.records[idx] = data
        else:
            if p1 > len(ef.records):
                return sw(status.RECORD_NOT_FOUND)
            ef.records[p1 - 1] = data
        self._persist()
        return OK
