"""A terminal's session with one social security card: the card's state, SELECT, authentication.

Card-profile §2 (the file tree and its security state), §3 (SELECT and its FCI), §7.1
(diversification factors), §7.4 (external authentication), §7.5 (internal authentication), §10
(ATR historical bytes), §12 (read flow).

:class:`CardSession` owns what the card has selected and what is proved in it (issue 11): which
DF is selected (:data:`PLACES`: the MF, the SSSE, DF01..DF04, DF07, the PSE, the bank ADF, a
region's extension DFs), which keys passed external authentication there, whether the PIN was
verified.  Every SELECT of the terminal goes through it, and operations say what they need
(``session.enter("DF04")``, ``session.enter_pin_domain()``): nothing is sent when the card is
already there.  It also keeps what every workflow derives from the first steps of §12 (the SSSE
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
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from apdu import commands, status
from apdu.appfiles import APP_DFS, AppDF
from apdu.atr import historical_bytes
from apdu.command import CommandAPDU
from apdu.crypto import Algorithm, Diversification
from apdu.errors import (
    CardNotSupportedError,
    ResponseFormatError,
    UsageError,
)
from apdu.fci import SsseInfo, parse_ssse_fci  # re-exported: the FCI's facts live in apdu.fci
from apdu.names import MF_FID, PSE_NAME, SSSE_NAME, UNIONPAY_DEBIT_AID, Kid
from apdu.response import ResponseAPDU
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
#: What a "no SSSE" answer may also mean: 6A81 is a blocked card's answer to every command (§5).
_NOT_AN_SSC_DETAIL = {
    status.FUNCTION_NOT_SUPPORTED: "the card is blocked (6A81 to every command, §5) or has "
    "no social security application",
}


# --- where the card can be: the places a session selects (card-profile §2, §9) ------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A DF the terminal selects: by DF name/AID (``name``) or by FID (``fid``).

    ``parent``: the DF it is selected from.  By FID: from the parent itself (a FID is looked up
    among the current DF's children).  By AID: from the parent or a sibling (a DF of the SSSE is
    selected by AID from the SSSE or from another of its DFs, and through the SSSE from anywhere
    else: the bank application, the MF, an unknown selection — [choice]: no source says that
    every COS finds a DF of the SSSE by name from outside it, and the national terminals select
    the SSSE first).  ``pin_domain``: the SSSE PIN counts here (the SSSE and its DFs, §2; the
    bank application is firewalled, §9), so a PIN command needs no other SELECT.
    """

    label: str
    name: bytes | None = None
    fid: int | None = None
    parent: str | None = None
    pin_domain: bool = False

    def command(self) -> CommandAPDU:
        if self.name is not None:
            return commands.select_by_name(self.name)
        assert self.fid is not None
        return commands.select_df(self.fid)


def _places() -> dict[str, Place]:
    table = {
        "MF": Place("MF", fid=MF_FID),
        "SSSE": Place("SSSE", name=SSSE_NAME, pin_domain=True),
        "PSE": Place("PSE", name=PSE_NAME),
        "BANK": Place("BANK", name=UNIONPAY_DEBIT_AID),
    }
    for df in APP_DFS:  # DF01..DF04, DF07: by AID (application-files §1)
        table[df.name] = Place(df.name, name=df.aid, parent="SSSE", pin_domain=True)
    return table


#: Every place a session knows by name: the MF, the SSSE and its DFs, the PSE and the bank ADF.
#: A region's extension DF enters with its declaration (:class:`apdu.appfiles.AppDF`, by AID), and
#: any other ``DFxx`` by its FID under the SSSE (application-files §4: local DFs from DF0A; the
#: national interface addresses any ``DFxx``).
PLACES: Mapping[str, Place] = MappingProxyType(_places())


def place_of(target: str | AppDF | Place) -> Place:
    """The :class:`Place` a name (``"SSSE"``, ``"DF04"``, ``"BANK"``, ``"DF0A"``), an extension
    DF's declaration or a place stands for; :class:`UsageError` for anything else."""
    if isinstance(target, Place):
        return target
    if isinstance(target, AppDF):
        known = PLACES.get(target.name)
        if known is not None and known.name == target.aid:
            return known
        return Place(target.name, name=target.aid, parent="SSSE", pin_domain=True)
    known = PLACES.get(target)
    if known is not None:
        return known
    if len(target) == 4 and target.startswith("DF"):
        try:
            number = int(target[2:], 16)
        except ValueError:
            number = -1
        if 0x01 <= number <= 0xFE:
            return Place(target, fid=0xDF00 | number, parent="SSSE", pin_domain=True)
    raise UsageError(f"no such DF {target!r}; known: {', '.join(PLACES)} or DF01..DFFE")


class CardSession:
    """One card in one reader, as the terminal sees it (§12), and the card's state (§2).

    The session is the one owner of what the card has selected and what is proved in it, so
    that every operation can say what it needs and pay only for what is missing:

    ================  ==================================================================
    ``selected``      the DF the card has selected (``"SSSE"``, ``"DF04"``, ``"BANK"``...),
                      None when unknown (a fresh session, a failed SELECT, a reset)
    ``ef``            the EF selected by FID in it (None when none or unknown)
    ``authenticated`` the KIDs whose external authentication passed in ``selected``; they end
                      when another DF is selected (§2)
    ``pin_verified``  a VERIFY succeeded: it holds until reset or power-off (§2), and counts
                      in the SSSE and its DFs only (``Place.pin_domain``); a wrong VERIFY,
                      CHANGE PIN, unblock or reset clears it (:meth:`pin_changed`)
    ``spent``         what the card takes once per selection and got (GET PROCESSING OPTIONS)
    ================  ==================================================================

    :meth:`enter` selects a DF unless it is already selected (no APDU then);
    :meth:`enter_pin_domain` selects the SSSE only when the card is outside it;
    :meth:`external_auth` authenticates unless the key already is.  Every SELECT of the
    terminal goes through :meth:`select` (bank, DF04, probes of a blocked card), so the state is
    never stale; :meth:`reset` / :meth:`reconnect` power-cycle the card and clear it, and so does
    any transport error the channel sees (card removed, reset by another program).

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
        self.selected: str | None = None
        self.ef: int | None = None
        self.authenticated: frozenset[int] = frozenset()
        self.pin_verified = False
        #: commands a card takes once per selection that were sent in this one (``"GPO"``: GET
        #: PROCESSING OPTIONS in the bank ADF, EMV); a new selection clears them.
        self.spent: set[str] = set()
        #: places entered by declaration (a region's extension DF) or by FID, by label.
        self._extra: dict[str, Place] = {}
        channel.on_card_lost.append(self.forget)

    def __repr__(self) -> str:
        keys = ",".join(f"{k:02X}" for k in sorted(self.authenticated)) or "-"
        return (
            f"CardSession(selected={self.selected}, authenticated={keys}, "
            f"pin_verified={self.pin_verified}, sam={getattr(self.sam, 'label', None)!r})"
        )

    # -- the card's state --------------------------------------------------------------------------

    def forget(self) -> None:
        """Nothing is known of the card's state any more (a reset, a power cycle, a transport
        error): the next operation selects what it needs again.  What the card *is* (its FCI,
        its card identification code) is forgotten too: after a reconnect it may be another."""
        self.selected = None
        self.ef = None
        self.authenticated = frozenset()
        self.pin_verified = False
        self.spent = set()
        self.ssse = None
        self.card_id = None

    def reset(self) -> bytes:
        """Warm-reset the card (its security state is gone, §2) and forget ours; the ATR."""
        self.forget()
        return self.channel.reader.reset()

    def reconnect(self) -> bytes:
        """Power the card off and on again (or attach to a newly inserted one); the ATR."""
        self.forget()
        self.channel.reader.disconnect()
        return self.channel.reader.connect()

    @property
    def in_pin_domain(self) -> bool:
        """Whether the selected DF is one where the SSSE PIN counts (the SSSE and its DFs)."""
        return self.selected is not None and self._place(self.selected).pin_domain

    def _place(self, target: str | AppDF | Place) -> Place:
        """The place ``target`` names: one entered before by declaration keeps its way in."""
        if isinstance(target, str) and target in self._extra:
            return self._extra[target]
        return place_of(target)

    def _reaches(self, place: Place) -> bool:
        """Whether ``place`` is selected from where the card is now (see :class:`Place`)."""
        here = self.selected
        if here is None or here == place.parent:
            return here is not None
        return place.name is not None and self._place(here).parent == place.parent

    def _moved(self, label: str | None) -> None:
        """The card now has ``label`` selected (None: unknown).  Another DF ends the external
        authentications of the old one (§2); a SELECT of the same DF is counted as ending them
        too ([choice]: §2 is silent on it, and an authentication done twice costs two APDUs
        where one taken for granted would cost a refused command).  No current EF either."""
        self.authenticated = frozenset()
        self.selected = label
        self.ef = None
        self.spent = set()

    # -- §3 SELECT ---------------------------------------------------------------------------------

    def select(self, target: str | AppDF | Place) -> ResponseAPDU:
        """Send the SELECT of ``target`` whatever is selected now, and record the outcome.

        The answer is returned as it is (any status word): the callers that probe (is there a
        bank application? is the card blocked?) judge it.  After ``9000`` the target is selected;
        after any other answer the selection is unknown (cards differ in what a failed SELECT
        leaves selected), so the next operation selects again.
        """
        place = self._place(target)
        if place.label not in PLACES:
            self._extra[place.label] = place
        if place.parent is not None and not self._reaches(place):
            self.enter(place.parent)
        resp = self.channel.transmit(place.command())
        self._moved(place.label if resp.sw == status.SUCCESS else None)
        return resp

    def enter(self, target: str | AppDF | Place, *, fresh: bool = False) -> None:
        """Make ``target`` the selected DF: no APDU when it already is (unless ``fresh``).

        ``"SSSE"`` goes through :meth:`select_ssse` (its FCI, the MF retry, the "not a social
        security card" answers).  Any other refusal raises its typed status error
        (:class:`apdu.status.FileNotFound` for a DF the card does not have).  ``fresh`` selects
        again even when already there: a new selection is what some commands need (GET
        PROCESSING OPTIONS once per selection of the bank ADF, EMV).
        """
        place = self._place(target)
        if place.label == "SSSE":
            self.select_ssse(fresh=fresh)
            return
        if self.selected == place.label and not fresh:
            return
        resp = self.select(place)
        status.check(resp.sw, commands.INS_SELECT)

    def enter_pin_domain(self) -> None:
        """Be where the SSSE PIN counts (§2): the SSSE unless a DF of it is selected already."""
        if not self.in_pin_domain:
            self.enter("SSSE")

    def named_by_sfi(self, fid: int | None = None) -> None:
        """A command names an EF by its SFI, which makes that EF the card's current one
        (ISO/IEC 7816-4): ``fid`` once the caller knows the command succeeded, else None.  Either
        way the session's former ``ef`` no longer holds, so the next :meth:`select_ef` selects.
        Every SFI-addressed command goes through here (the one place for this rule)."""
        self.ef = fid

    def select_ef(self, fid: int) -> None:
        """SELECT an EF by FID in the selected DF (§3); no APDU when it is the current EF."""
        if self.ef == fid and self.selected is not None:
            return
        self.channel.send(commands.select_ef(fid))
        self.ef = fid

    def select_ssse(self, *, fresh: bool = False) -> SsseInfo:
        """Be in the SSSE and return its FCI: SELECT SSSE by name unless it is selected already
        (1 command APDU; a T=0 GET RESPONSE is the channel's job; none when already there).

        Raises :class:`apdu.status.ApplicationBlocked` for ``9303``, and
        :class:`CardNotSupportedError` when the card has no SSSE (``6A82``, ``6A81``, ...).
        Selecting another DF ends a passed external authentication (§2); re-entering the SSSE
        from the SSSE costs nothing and ends nothing.
        """
        if self.selected == "SSSE" and self.ssse is not None and not fresh:
            return self.ssse
        resp = self.select("SSSE")
        if resp.sw in _NOT_AN_SSC and self.mf_retry:
            self.select("MF")
            resp = self.select("SSSE")
        if resp.sw in _NOT_AN_SSC:
            what = _NOT_AN_SSC_DETAIL.get(resp.sw, NOT_AN_SSC_MESSAGE)
            raise CardNotSupportedError(f"{what} (card answered {resp.sw:04X})")
        status.check(resp.sw, commands.INS_SELECT)
        self.ssse = parse_ssse_fci(resp.data)
        return self.ssse

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

    # -- §6 VERIFY ---------------------------------------------------------------------------------

    def verify(self, pin_block: bytes) -> int:
        """VERIFY with a coded PIN in the PIN's domain; the status word (the caller judges it).

        The session remembers the outcome: ``9000`` verified (until reset or power-off, §2), a
        wrong PIN not verified.  Never retried here: every try is the holder's.
        """
        self.enter_pin_domain()
        sw = self.channel.transmit(commands.verify(pin_block)).sw
        self.pin_verified = sw == status.SUCCESS
        return sw

    def pin_changed(self) -> None:
        """A PIN command other than VERIFY was sent (CHANGE PIN, unblock, reset): a verification
        made before it is no longer counted on (cards differ in what such a command leaves), so
        the next PIN-protected read verifies again."""
        self.pin_verified = False

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

    def challenge(self) -> bytes:
        """GET CHALLENGE (8 bytes, §5): usable by the one command that follows."""
        challenge = self.channel.send(commands.get_challenge(8))
        if len(challenge) != 8:
            raise ResponseFormatError(f"GET CHALLENGE returned {len(challenge)} bytes, asked for 8")
        return challenge

    def external_auth(self, key_name: str, kid: int) -> None:
        """§7.4 in the selected DF: GET CHALLENGE, the SAM's cryptogram for ``key_name``,
        EXTERNAL AUTHENTICATE — unless ``kid`` is already authenticated there (no APDU).

        Two command APDUs.  A wrong cryptogram raises :class:`apdu.status.WrongKey` (the card
        used one of the key's tries), a locked key :class:`apdu.status.KeyBlocked`.  Never
        retried here: each failure costs the card key a try.
        """
        if kid in self.authenticated and self.selected is not None:
            return
        sam = self._require_sam("external authentication")
        alg = self.algorithm
        sam.check_algorithm(alg)
        div = self.diversification()
        challenge = self.challenge()
        cryptogram, d = sam.external_auth(alg, key_name, div, challenge)
        self.channel.send(commands.external_authenticate(kid, cryptogram, d))
        self.authenticated = self.authenticated | {kid}

    def authenticated_with(self, kid: int) -> None:
        """Record an external authentication made outside :meth:`external_auth` (an HSM's
        cryptogram sent by its caller) as passed in the selected DF."""
        self.authenticated = self.authenticated | {kid}

    def internal_auth(self) -> bool:
        """§7.5: is the card genuine?  Random R1, R2; compare the card's answer with the SAM's.

        One command APDU, in the SSSE (IRK is an SSSE key: selected first when the card is
        elsewhere).  False when the card answers with the wrong 8 bytes (a copy made under other
        keys); a card that refuses the command raises its typed status error.  The comparison is
        constant-time so a forger learns nothing from timing.
        """
        sam = self._require_sam("internal authentication")
        alg = self.algorithm
        sam.check_algorithm(alg)
        div = self.diversification()
        r1, r2 = secrets.token_bytes(8), secrets.token_bytes(8)
        # the module's answer first: a module that cannot serve this card costs the card nothing
        expected = sam.internal_auth(alg, div, r1, r2)
        self.enter("SSSE")
        answer = self.channel.send(commands.internal_authenticate(r1, r2, kid=Kid.IRK))
        return len(answer) == len(expected) and hmac.compare_digest(answer, expected)
