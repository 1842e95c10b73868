"""Software social security cards: the user card and the PSAM, and the vpcd bridge.

Depends on :mod:`apdu` only.  See card-profile §2-§11.
"""
