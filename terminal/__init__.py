"""What a terminal does with a social security card: read, check, PINs, SAM, workflows, CLI.

The front door (issue 11)::

    import terminal

    with terminal.open_card(sim=True) as card:     # or reader="0", sam="psam-reader:1", ...
        found = card.check()
        print(found.card.holder.name, found.verdict)

:func:`open_card` and :class:`Card` live in :mod:`terminal.card` and are loaded on first use, so
that importing a lower layer (``terminal.session``, ``terminal.pin``...) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from terminal.card import Card, CardPin, ReaderInfo, open_card, readers

__all__ = ["Card", "CardPin", "ReaderInfo", "open_card", "readers"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from terminal import card

        return getattr(card, name)
    raise AttributeError(f"module 'terminal' has no attribute {name!r}")
