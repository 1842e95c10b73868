"""The user card's bank (EMV) command: GET PROCESSING OPTIONS (card-profile §9).

Only in the bank ADF (else ``6985``), once per selection (a second one: ``6985``, as EMV cards
do); the data must be one ``83`` object (the PDOL data; the ADF asks for none, and any values
are accepted).  The answer is the AIP and an AFL pointing at the PAN record, in format 1
(``80``) by default or format 2 (``77``) as a card option (issue 9: real cards answer both;
:func:`simulator.profile.gpo_answer`, :mod:`apdu.emv`).
"""

from __future__ import annotations

from apdu import status
from apdu.emv import is_pdol_data
from simulator.cardos import OK, sw
from simulator.filesystem import DFKind
from simulator.profile import gpo_answer
from simulator.usercore import UserCardCore


class BankCommands(UserCardCore):
    """GET PROCESSING OPTIONS of the UnionPay ADF."""

    def _get_processing_options(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return sw(status.WRONG_P1P2)
        df = self._cur_df
        if df.kind is not DFKind.ADF or df.domain != "BANK" or self._gpo_done:
            return sw(status.CONDITIONS_NOT_SATISFIED)
        if not is_pdol_data(data):
            return sw(status.WRONG_DATA)
        self._gpo_done = True
        return gpo_answer(self._options.gpo_format) + OK
