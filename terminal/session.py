"""A terminal's session with one social security card: SSSE selection and authentication.

Card-profile §3 (SELECT and its FCI), §7.1 (diversification factors), §7.4 (external
authentication), §7.5 (internal authentication), §10 (ATR historical bytes), §12 (read flow).

:class:`CardSession` keeps the state every workflow needs after the first steps of §12 (the SSSE
FCI, the card identification code once EF05 is read) so that reading, checks, PIN and activation
flows all derive the same diversification factors and talk to the same security module.  It
imports ``apdu`` and ``drivers`` only (never the simulator).

The FCI parser is tolerant on purpose (§3, "be liberal in what you read"): a card that leaves out
the algorithm flag is a DES card, a card without DIR SFI has ``dir_sfi`` None, and an FCI that does
not parse at all still selects (``SsseInfo.fci_problem`` says why) rather than refusing the card.
"""

from __future__ import annotations

import hmac
import secrets

from apdu import commands, status
from apdu.atr import historical_bytes
from apdu.crypto import Algorithm, Diversification
from apdu.errors import (
    CardNotSupportedError,
    ResponseFormatError,
    UsageError,
)
from apdu.fci import SsseInfo, parse_ssse_fci  # re-exported: the FCI's facts live in apdu.fci
from apdu.names import MF_FID, SSSE_NAME, Kid
from drivers.channel import CardChannel
from terminal.sam.base import SecurityModule

#: SELECT SSSE answers meaning "this card has no SSSE" (§3, §5): file not found, function not
#: supported (also a blocked card, §5), wrong P1/P2, INS or CLA not supported (a foreign card).
_NOT_AN_SSC = frozenset(
    {
        status.FILE_NOT_FOUND,
        status.FUNCTION_NOT_SUPPORTED,
        status.WRONG_P1P2,
        status.INS_NOT_SUPPORTED,
        status.CLA_NOT_SUPPORTED,
    }
)

NOT_AN_SSC_MESSAGE = "no social security application on this card"


class CardSession:
    """One card in one reader, as the terminal sees it (§12).

    ``sam`` is optional: without it a 3.00 card still reads EF05 (§1) and genuineness cannot be
    proved.  ``mf_retry`` handles the quirk of §2 (a second source in the real-card corpus: a
    Zhejiang kiosk's "Henbao" cards): some COS only find SSSE after ``SELECT MF``, so a SELECT
    SSSE that answers "not found" is retried once after ``00 A4 00 00 02 3F00`` (two extra
    command APDUs, only on that failure; on by default, ``mf_retry=False`` turns it off).
    ``read_strategy`` is how the read takes EF05/EF06 (:mod:`terminal.reading`: ``auto``,
    ``by-tag``, ``multi-record``).
    """

    def __init__(
        self,
        channel: CardChannel,
        sam: SecurityModule | None = None,
        *,
        mf_retry: bool = True,
        zhejiang_rule: bool = True,
        read_strategy: str = "auto",
    ) -> None:
        self.channel = channel
        self.sam = sam
        self.mf_retry = mf_retry
        self.zhejiang_rule = zhejiang_rule
        #: how :func:`terminal.reading.read_card` reads EF05/EF06: "auto", "by-tag" or
        #: "multi-record" (see terminal.reading).
        self.read_strategy = read_strategy
        #: the FCI of the last successful SELECT SSSE.
        self.ssse: SsseInfo | None = None
        #: 卡的识别码 (EF05 tag 01) once a workflow has read it; the diversification needs it.
        self.card_id: bytes | None = None

    # -- the card's identity -----------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self.channel.reader.atr

    @property
    def historical(self) -> bytes:
        """ATR historical bytes T1..Tk (§10); T6..T13 are the card diversification factor."""
        return historical_bytes(self.atr)

    @property
    def algorithm(self) -> Algorithm:
        """The card's algorithm from the SSSE FCI; selects SSSE first if that has not happened."""
        return (self.ssse or self.select_ssse()).algorithm

    # -- §3 SELECT ---------------------------------------------------------------------------------

    def select_ssse(self) -> SsseInfo:
        """SELECT SSSE by name (1 command APDU; a T=0 GET RESPONSE is the channel's job).

        Raises :class:`apdu.status.ApplicationBlocked` for ``9303``, and
        :class:`CardNotSupportedError` when the card has no SSSE (``6A82``, ``6A81``, ...).
        Selecting another DF ends a passed external authentication (§2), so workflows select
        once, at the start.
        """
        resp = self.channel.transmit(commands.select_by_name(SSSE_NAME))
        if resp.sw in _NOT_AN_SSC and self.mf_retry:
            self.channel.transmit(commands.select_df(MF_FID))
            resp = self.channel.transmit(commands.select_by_name(SSSE_NAME))
        if resp.sw in _NOT_AN_SSC:
            raise CardNotSupportedError(f"{NOT_AN_SSC_MESSAGE} (card answered {resp.sw:04X})")
        status.check(resp.sw, commands.INS_SELECT)
        self.ssse = parse_ssse_fci(resp.data)
        return self.ssse

    # -- §7 authentication -------------------------------------------------------------------------

    def _require_sam(self, what: str) -> SecurityModule:
        if self.sam is None:
            raise UsageError(f"{what} needs a security module (SAM); none is configured")
        return self.sam

    def diversification(self, card_id: bytes | None = None) -> Diversification:
        """The §7.1 factors of this card from 卡的识别码 (the one read, unless given) and the ATR.

        Raises :class:`UsageError` when no card identification code is known yet, and
        :class:`apdu.errors.CryptoError` when its city code is not BCD.
        """
        cid = card_id if card_id is not None else self.card_id
        if cid is None:
            raise UsageError("the card identification code (EF05 tag 01) has not been read yet")
        return Diversification.for_card(cid, self.historical, zhejiang_rule=self.zhejiang_rule)

    def _challenge(self) -> bytes:
        challenge = self.channel.send(commands.get_challenge(8))
        if len(challenge) != 8:
            raise ResponseFormatError(f"GET CHALLENGE returned {len(challenge)} bytes, asked for 8")
        return challenge

    def external_auth(self, key_name: str, kid: int) -> None:
        """§7.4: GET CHALLENGE, the SAM's cryptogram for ``key_name``, EXTERNAL AUTHENTICATE.

        Two command APDUs.  A wrong cryptogram raises :class:`apdu.status.WrongKey` (the card
        used one of the key's tries), a locked key :class:`apdu.status.KeyBlocked`.  Never
        retried here: each failure costs the card key a try.
        """
        sam = self._require_sam("external authentication")
        alg = self.algorithm
        sam.check_algorithm(alg)
        div = self.diversification()
        challenge = self._challenge()
        cryptogram, d = sam.external_auth(alg, key_name, div, challenge)
        self.channel.send(commands.external_authenticate(kid, cryptogram, d))

    def internal_auth(self) -> bool:
        """§7.5: is the card genuine?  Random R1, R2; compare the card's answer with the SAM's.

        One command APDU.  False when the card answers with the wrong 8 bytes (a copy made under
        other keys); a card that refuses the command raises its typed status error.  The
        comparison is constant-time so a forger learns nothing from timing.
        """
        sam = self._require_sam("internal authentication")
        alg = self.algorithm
        sam.check_algorithm(alg)
        div = self.diversification()
        r1, r2 = secrets.token_bytes(8), secrets.token_bytes(8)
        # the module's answer first: a module that cannot serve this card costs the card nothing
        expected = sam.internal_auth(alg, div, r1, r2)
        answer = self.channel.send(commands.internal_authenticate(r1, r2, kid=Kid.IRK))
        return len(answer) == len(expected) and hmac.compare_digest(answer, expected)
