"""Bytes on the wire for the social security card: APDUs, status words, TLV, builders, crypto.

No I/O here.  See card-profile §3-§7 and §11.
"""

from apdu.command import CommandAPDU
from apdu.errors import SSCardError
from apdu.response import ResponseAPDU

__all__ = ["CommandAPDU", "ResponseAPDU", "SSCardError"]
