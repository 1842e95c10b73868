"""Names and identifiers on the card: DF names, AIDs, KIDs (card-profile §2, §5, §9, §11).

Bytes, as they travel.  Shared by the simulator (which answers to them) and the terminal (which
selects them), so both sides agree by construction.
"""

from __future__ import annotations

from enum import IntEnum

#: §2: the SSSE DF name, GBK text "sx1.sh.社会保障" (15 bytes).
SSSE_NAME = "sx1.sh.社会保障".encode("gbk")
assert SSSE_NAME == bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")

#: §11: the PSAM's MF DF name for the DES environment, and the SM4 one [one source].
PSAM_DES_NAME = SSSE_NAME
PSAM_SM4_NAME = "sx3.sh.社会保障".encode("gbk")
PSAM_ADF_AID = bytes.fromhex("D15600000590")
PSAM_ADF_FID = 0xDF01
PSAM_EF_SERIAL = 0x15  # EF 0015: PSAM serial, cn 10
PSAM_EF_TERMINAL = 0x16  # EF 0016: terminal number, cn 6

#: §2: the SSSE sub-applications.
DF_AIDS: dict[str, bytes] = {
    "DF01": bytes.fromhex("D15600000500"),
    "DF02": bytes.fromhex("D15600000501"),
    "DF03": bytes.fromhex("D15600000502"),
    "DF04": bytes.fromhex("D15600000503"),
}

#: §9: the financial application.
PSE_NAME = b"1PAY.SYS.DDF01"
UNIONPAY_DEBIT_AID = bytes.fromhex("A000000333010101")

MF_FID = 0x3F00

#: §4: short file identifiers of the SSSE record EFs.
SFI_EF05 = 5
SFI_EF06 = 6
SFI_EF07 = 7
SFI_EF08 = 8


class Kid(IntEnum):
    """Card key identifiers of §5 (P2 of EXTERNAL AUTHENTICATE)."""

    IRK = 0x00
    STK = 0x02
    UKSSSE = 0x04
    PUK = 0x06
    RKSSSE = 0x0A
    RK1_DF04 = 0x84  # RK1DF03 / RK1DF04 (by DF)
    RK2_DF03 = 0x85
    RK1_DF02 = 0x88  # RK1DF01 / RK1DF02 (by DF)

