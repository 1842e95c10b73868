"""Is the card genuine?  Internal authentication (card-profile §7.5), judged fail-closed.

One function, :func:`prove_genuine`, used by :func:`terminal.inspect.inspect_card` (``check``,
``status``) and by the workflows, so that every front door judges genuineness the same way:

- no security module: ``None`` — not judged; every command then says the card's genuineness is
  unverified, and the default sale policy refuses (:mod:`terminal.policy`);
- the card answers INTERNAL AUTHENTICATE as the security module predicts: ``True``;
- the card answers something else, or refuses the command: ``False`` (a copy under other keys);
- with a security module present, internal authentication that *cannot be performed* is
  ``False`` too, with the reason (issue 9: fail closed): an ATR with fewer than 13 historical
  bytes (no card factor, §7.1, §10), an algorithm flag the module does not support, no card
  identification code (the city factor), a city code that is not BCD.  A counterfeit that
  sabotages its own authentication must never be judged better than one that tries.

Costs one command APDU (two on a T=0 card: the answer comes through ``61xx``), and none when
the authentication cannot be performed: the reason is found before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from apdu.errors import CryptoError, DataFormatError, UsageError
from apdu.status import StatusError
from terminal.session import CardSession

NO_SAM = "no security module (SAM): the card's genuineness is unverified"


@dataclass(frozen=True, slots=True)
class Genuineness:
    """``proved``: True / False / None (not judged); ``detail`` says why, in one line."""

    proved: bool | None
    detail: str

    def to_json(self) -> bool | None:
        return self.proved


def prove_genuine(session: CardSession) -> Genuineness:
    """Internal authentication through the session's security module (see the module docstring).

    Raises only transport errors (card removed, ...): every card answer is a result.
    """
    if session.sam is None:
        return Genuineness(None, NO_SAM)
    if not session.card_id:
        return Genuineness(
            False,
            "internal authentication cannot be performed: no card identification code "
            "(EF05 tag 01) to derive the card key from",
        )
    try:
        proved = session.internal_auth()
    except StatusError as exc:
        return Genuineness(False, f"the card refused internal authentication: {exc}")
    except (CryptoError, UsageError, DataFormatError) as exc:
        return Genuineness(False, f"internal authentication cannot be performed: {exc}")
    if proved:
        return Genuineness(True, "internal authentication proved the card's keys (§7.5)")
    return Genuineness(
        False, "internal authentication failed: the card does not hold the issuer's keys"
    )
