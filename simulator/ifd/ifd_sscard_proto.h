/*
 * The sscard reader protocol, version 1: the constants shared by the reader driver
 * (ifd_sscard.c) and its C test (test_ifd_sscard.c).  The protocol itself is documented in
 * PROTOCOL.md beside this file; the Python firmware side is simulator/ifdserver.py, and
 * tests/test_ifd_driver.py checks that both sides use the same values.
 */
#ifndef IFD_SSCARD_PROTO_H
#define IFD_SSCARD_PROTO_H

#define IFDS_PROTOCOL_VERSION 1

/* frame: type (1 byte), payload length (4 bytes, big-endian), payload */
#define IFDS_HEADER_SIZE 5
#define IFDS_MAX_PAYLOAD 65552

/* requests (driver -> firmware) */
#define IFDS_REQ_HELLO 0x01
#define IFDS_REQ_PRESENCE 0x02
#define IFDS_REQ_POWER_ON 0x03
#define IFDS_REQ_POWER_OFF 0x04
#define IFDS_REQ_RESET 0x05
#define IFDS_REQ_APDU 0x06
#define IFDS_REQ_CONTROL 0x07

/* replies (firmware -> driver) */
#define IFDS_REP_OK 0x80
#define IFDS_REP_NO_CARD 0x81
#define IFDS_REP_NOT_SUPPORTED 0x82
#define IFDS_REP_ERROR 0x83
#define IFDS_REP_WAIT 0x84

/* PRESENCE answers */
#define IFDS_ABSENT 0
#define IFDS_PRESENT 1
#define IFDS_POWERED 2

/* timeouts in milliseconds (PROTOCOL.md, "Timeouts") */
#define IFDS_CONNECT_MS 200
#define IFDS_QUICK_MS 500
#define IFDS_IDLE_MS 5000
#define IFDS_TOTAL_MS 300000

/* the socket used by IFDHCreateChannel, which gets no DEVICENAME */
#define IFDS_DEFAULT_SOCKET "/run/sscard/pinpad.sock"

#endif
