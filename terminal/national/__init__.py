"""The national reader interface (national-interface.md): the facade behind the C library.

``National(CardSource(SourceConfig(...)))`` offers one method per national function name, with
the spec's parameters (outputs are returned, not passed): ``code, (line,) = n.iReadCardBas(3)``.
All card access goes through :mod:`terminal.national.card`; see the README section "The national
reader interface" for the routes, the formats and the codes.
"""

from terminal.national.card import CardSource, SourceConfig
from terminal.national.facade import National, NationalConfig
from terminal.national.signatures import NATIONAL_NAMES, SIGNATURES

__all__ = ["NATIONAL_NAMES", "SIGNATURES", "CardSource", "National", "NationalConfig",
           "SourceConfig"]
