"""Secure PIN entry on a PIN-pad reader (PC/SC part 10): the API the terminal calls (issue 13).

With a PIN pad the holder types the PIN on the reader and the reader inserts it into the APDU:
the PIN never exists on the host.  This module is that path for the social security card
(card-profile §6): discovery, the length check, VERIFY and CHANGE PIN.  **No function or method
here takes, returns or stores a digit.**

For the terminal::

    from drivers.pinpad import PinPad, probe

    info = probe(channel)            # None: no PIN pad (vpcd, replay, a plain reader)
    if info is not None and info.can_verify:
        pad = PinPad(channel, info)  # pin_length=6, timeout=30 by default
        pad.verify()                 # the holder types on the pad; raises as below
        pad.change()                 # current PIN, new PIN, new PIN again, on the pad

Errors (all :class:`apdu.errors.SSCardError`): the card's own refusal as today --
:class:`apdu.status.WrongPin` (``tries_left``), :class:`apdu.status.PinBlocked`; made by the pad --
:class:`apdu.errors.PinEntryCancelled` (``6401``, no try used), :class:`apdu.errors.PinEntryTimeout`
(``6400``), :class:`apdu.errors.PinEntryMismatch` (``6402``), :class:`apdu.errors.PinLengthError`
(``6403``, or refused before anything is sent when the deployment's length is outside the card's
4..16 or the pad's ``bMinPINSize``..``bMaxPINSize``), :class:`apdu.errors.PinPadRefused`
(``6B80``); :class:`apdu.errors.ControlNotSupported` when the reader has no such feature.  No
retry ever happens here: a wrong PIN costs the holder a try.

What the pad path cannot do: the host-side PIN policy checks that need the digits (trivial PINs,
the birth date, "not the initial PIN", "new differs from current") cannot run, because the host
never sees the digits.  It enforces the length (the fixed length per deployment, checked against
the pad before sending; the pad checks each entry against it) and the confirmation of the new PIN
(the pad's ``6402``); the card enforces its own rules.

Discovery goes through :meth:`drivers.channel.CardChannel.control`, so a trace records it and a
replay answers it.  On PC/SC it needs no card (a direct connection, :mod:`drivers.pcsc`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apdu import part10
from apdu.errors import ControlNotSupported
from drivers.channel import CardChannel


@dataclass(frozen=True)
class PinPadInfo:
    """What a PIN-pad reader says about itself (part 10 discovery)."""

    #: feature tag -> control code, as ``GET_FEATURE_REQUEST`` answered.
    features: Mapping[int, int]
    #: ``GET_TLV_PROPERTIES`` answer ({} when the reader does not offer it).
    properties: Mapping[int, int | bytes] = field(default_factory=dict)
    #: ``IFD_PIN_PROPERTIES`` answer (None when not offered).
    pin_properties: part10.PinProperties | None = None

    @property
    def can_verify(self) -> bool:
        return part10.Feature.VERIFY_PIN_DIRECT in self.features

    @property
    def can_modify(self) -> bool:
        return part10.Feature.MODIFY_PIN_DIRECT in self.features

    @property
    def limits(self) -> part10.PinLimits:
        """The pad's ``bMinPINSize``/``bMaxPINSize`` (None where it does not say)."""
        return part10.PinLimits.from_properties(self.properties)

    @property
    def firmware_id(self) -> str | None:
        value = self.properties.get(part10.Property.FIRMWARE_ID)
        return value.decode("ascii", "replace") if isinstance(value, bytes) else None

    def code(self, feature: int) -> int:
        """The control code of ``feature``; :class:`ControlNotSupported` when the pad lacks it."""
        try:
            return self.features[feature]
        except KeyError:
            raise ControlNotSupported(
                f"the reader has no {part10.feature_name(feature)} feature"
            ) from None


def probe(channel: CardChannel) -> PinPadInfo | None:
    """Discover the reader's PIN pad; None when it cannot verify a PIN itself.

    Asks ``GET_FEATURE_REQUEST`` and, when offered, the TLV and PIN properties.  No APDU reaches
    the card.
    """
    try:
        raw = channel.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)
    except ControlNotSupported:
        return None
    features = part10.parse_features(raw)
    if part10.Feature.VERIFY_PIN_DIRECT not in features:
        return None
    properties: dict[int, int | bytes] = {}
    tlv = features.get(part10.Feature.GET_TLV_PROPERTIES)
    if tlv is not None:
        answer = channel.control(tlv, feature=part10.Feature.GET_TLV_PROPERTIES)
        properties = part10.parse_properties(answer)
    pin_properties = None
    pin = features.get(part10.Feature.IFD_PIN_PROPERTIES)
    if pin is not None:
        answer = channel.control(pin, feature=part10.Feature.IFD_PIN_PROPERTIES)
        pin_properties = part10.PinProperties.from_bytes(answer)
    return PinPadInfo(features, properties, pin_properties)


class PinPad:
    """VERIFY and CHANGE PIN of the social security card typed on the reader's pad.

    ``pin_length`` is the deployment's fixed PIN length (card-profile §6: part 10 inserts the
    digit count, not Lc, so the pad path has one length; 6 by default); ``timeout`` the seconds
    the holder has for each entry (0: the pad's default); ``lang_id`` the pad's message language.
    """

    def __init__(
        self,
        channel: CardChannel,
        info: PinPadInfo | None = None,
        *,
        pin_length: int = part10.DEFAULT_PIN_LENGTH,
        timeout: int = part10.DEFAULT_TIMEOUT,
        lang_id: int = part10.LANG_ZH_CN,
    ) -> None:
        if info is None:
            info = probe(channel)
            if info is None:
                raise ControlNotSupported(f"{channel.reader.name} has no PIN pad (part 10)")
        self.channel = channel
        self.info = info
        self.pin_length = pin_length
        self.timeout = timeout
        self.lang_id = lang_id

    def verify(self) -> None:
        """The holder types the PIN on the pad; the card's VERIFY must answer 9000.

        The length is checked against the card and the pad before anything is sent.
        """
        structure = part10.ssc_verify(
            self.pin_length, timeout=self.timeout, lang_id=self.lang_id, limits=self.info.limits
        )
        self.channel.pin_pad_verify(self.info.code(part10.Feature.VERIFY_PIN_DIRECT), structure)

    def change(self) -> None:
        """The holder types the current PIN, the new one and the new one again on the pad."""
        code = self.info.code(part10.Feature.MODIFY_PIN_DIRECT)
        structure = part10.ssc_change(
            self.pin_length, timeout=self.timeout, lang_id=self.lang_id, limits=self.info.limits
        )
        self.channel.pin_pad_modify(code, structure)

    def __repr__(self) -> str:
        return (
            f"PinPad({self.channel.reader.name!r}, {self.pin_length} digits, "
            f"timeout {self.timeout} s)"
        )
