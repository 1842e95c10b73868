/*
 * test-ifd-sscard: calls libifd-sscard.so's IFD handler functions from C, as pcscd does
 * (dlopen + dlsym), against a running firmware.  Run by tests/test_ifd_driver.py (make test).
 *
 *   test-ifd-sscard LIBRARY SCENARIO SOCKET
 *
 * Scenarios (the pytest side prepares the firmware for each):
 *   full    `sscard sim serve --pinpad-socket SOCKET` holding a fresh sample card (PIN 123456,
 *           6 tries), its keypad queued with KEYPAD_SCRIPT below, in that order;
 *   absent  a firmware with no card;
 *   gone    nobody listens on SOCKET;
 *   hung    a firmware that answers HELLO and then never answers (SSCARD_IFD_IDLE_MS short);
 *   stall   a firmware that answers HELLO and then sends WAIT frames forever
 *           (SSCARD_IFD_TOTAL_MS short);
 *   script  prints the keypad entries of `full`, one a line (LIBRARY and SOCKET unused).
 * Every check prints one line; the exit status is the number of failed checks.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ifdhandler.h>
#include <reader.h>

#include "ifd_sscard_proto.h"

typedef RESPONSECODE (*create_by_name_fn)(DWORD, LPSTR);
typedef RESPONSECODE (*close_fn)(DWORD);
typedef RESPONSECODE (*get_caps_fn)(DWORD, DWORD, PDWORD, PUCHAR);
typedef RESPONSECODE (*set_caps_fn)(DWORD, DWORD, DWORD, PUCHAR);
typedef RESPONSECODE (*set_proto_fn)(DWORD, DWORD, UCHAR, UCHAR, UCHAR, UCHAR);
typedef RESPONSECODE (*power_fn)(DWORD, DWORD, PUCHAR, PDWORD);
typedef RESPONSECODE (*transmit_fn)(DWORD, SCARD_IO_HEADER, PUCHAR, DWORD, PUCHAR, PDWORD,
				    PSCARD_IO_HEADER);
typedef RESPONSECODE (*presence_fn)(DWORD);
typedef RESPONSECODE (*control_fn)(DWORD, DWORD, PUCHAR, DWORD, PUCHAR, DWORD, LPDWORD);

static struct {
	create_by_name_fn create_by_name;
	close_fn close_channel;
	get_caps_fn get_caps;
	set_caps_fn set_caps;
	set_proto_fn set_proto;
	power_fn power;
	transmit_fn transmit;
	presence_fn presence;
	control_fn control;
} ifd;

static int failures;
static const DWORD LUN = 0x00010000;

/* The keypad entries the `full` scenario consumes, in order; `SCENARIO script` prints them for
 * tests/test_ifd_driver.py to queue. */
static const char *KEYPAD_SCRIPT[] = { "123456", "cancel", "timeout", "12345",
				"123456", "654321", "654320",
				"123456", "654321", "654321", "654321",
				"654321", "123456", "123456", NULL };

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		failures++;
}

static int load(const char *library)
{
	void *h = dlopen(library, RTLD_NOW | RTLD_LOCAL);
	void *sym;

	if (h == NULL) {
		printf("FAIL dlopen %s: %s\n", library, dlerror());
		return -1;
	}
	/* every entry point pcscd looks up for an API v3 driver must be exported */
#define LOAD(field, name)                                        \
	sym = dlsym(h, name);                                    \
	if (sym == NULL) {                                       \
		printf("FAIL %s is not exported\n", name);       \
		return -1;                                       \
	}                                                        \
	memcpy(&ifd.field, &sym, sizeof(sym));
	LOAD(create_by_name, "IFDHCreateChannelByName")
	LOAD(close_channel, "IFDHCloseChannel")
	LOAD(get_caps, "IFDHGetCapabilities")
	LOAD(set_caps, "IFDHSetCapabilities")
	LOAD(set_proto, "IFDHSetProtocolParameters")
	LOAD(power, "IFDHPowerICC")
	LOAD(transmit, "IFDHTransmitToICC")
	LOAD(presence, "IFDHICCPresence")
	LOAD(control, "IFDHControl")
	if (dlsym(h, "IFDHCreateChannel") == NULL) {
		printf("FAIL IFDHCreateChannel is not exported\n");
		return -1;
	}
	if (dlsym(h, "connect_channel") != NULL || dlsym(h, "channels") != NULL) {
		printf("FAIL internal symbols are exported\n");
		return -1;
	}
	return 0;
}

/* One APDU; the response in rx, its length returned (0 on error). */
static DWORD apdu(const char *hex, UCHAR *rx, DWORD room, RESPONSECODE *rc)
{
	UCHAR tx[300];
	DWORD n = 0, rxlen = room;
	SCARD_IO_HEADER pci, recv;

	while (hex[0] && hex[1]) {
		unsigned int byte;
		if (sscanf(hex, "%2x", &byte) != 1)
			break;
		tx[n++] = (UCHAR)byte;
		hex += 2;
	}
	pci.Protocol = SCARD_PROTOCOL_T1;
	pci.Length = sizeof(pci);
	*rc = ifd.transmit(LUN, pci, tx, n, rx, &rxlen, &recv);
	return *rc == IFD_SUCCESS ? rxlen : 0;
}

static int sw_is(const UCHAR *rx, DWORD n, UCHAR sw1, UCHAR sw2)
{
	return n >= 2 && rx[n - 2] == sw1 && rx[n - 1] == sw2;
}

static RESPONSECODE control(DWORD code, const UCHAR *tx, DWORD txlen, UCHAR *rx, DWORD room,
			    DWORD *got)
{
	UCHAR copy[128];

	memcpy(copy, tx, txlen);
	return ifd.control(LUN, code, copy, txlen, rx, room, got);
}

/* The golden structures of tests/test_part10.py: 6 BCD digits, 30 s, zh-CN. */
static const UCHAR VERIFY[] = { 0x1E, 0x1E, 0x81, 0x03, 0x00, 0x06, 0x06, 0x02, 0x01,
				0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
				0x00, 0x00, 0x20, 0x00, 0x00, 0x03, 0xFF, 0xFF, 0xFF };
static const UCHAR MODIFY[] = { 0x1E, 0x1E, 0x81, 0x03, 0x00, 0x00, 0x04, 0x06, 0x06,
				0x03, 0x02, 0x03, 0x04, 0x08, 0x00, 0x01, 0x02, 0x00,
				0x00, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x80, 0x5E, 0x01,
				0x00, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

static DWORD feature_code(const UCHAR *list, DWORD n, UCHAR tag)
{
	DWORD i;

	for (i = 0; i + 6 <= n; i += 6)
		if (list[i] == tag && list[i + 1] == 4)
			return ((DWORD)list[i + 2] << 24) | ((DWORD)list[i + 3] << 16) |
			       ((DWORD)list[i + 4] << 8) | (DWORD)list[i + 5];
	return 0;
}

static int has_property(const UCHAR *tlv, DWORD n, UCHAR tag, UCHAR value)
{
	DWORD i = 0;

	while (i + 2 <= n) {
		if (tlv[i] == tag && tlv[i + 1] == 1 && i + 2 < n)
			return tlv[i + 2] == value;
		i += 2 + tlv[i + 1];
	}
	return 0;
}

static void pin_request(DWORD code, const UCHAR *s, DWORD len, UCHAR sw1, UCHAR sw2,
			const char *what)
{
	UCHAR rx[64];
	DWORD got = 0;
	RESPONSECODE rc = control(code, s, len, rx, sizeof(rx), &got);

	check(rc == IFD_SUCCESS && got == 2 && rx[0] == sw1 && rx[1] == sw2, what);
}

static void tries_left(UCHAR expected, const char *what)
{
	UCHAR rx[64];
	RESPONSECODE rc;
	DWORD n = apdu("00200000", rx, sizeof(rx), &rc);

	check(sw_is(rx, n, 0x63, (UCHAR)(0xC0 | expected)), what);
}

static void scenario_full(char *socket)
{
	UCHAR value[64], atr[MAX_ATR_SIZE], rx[300], list[64], tlv[128];
	DWORD len, atr_len = sizeof(atr), n, got = 0, verify, modify, props;
	RESPONSECODE rc;
	UCHAR bad[sizeof(VERIFY)];

	check(ifd.create_by_name(LUN, socket) == IFD_SUCCESS, "IFDHCreateChannelByName");
	len = sizeof(value);
	check(ifd.get_caps(LUN, TAG_IFD_SLOTS_NUMBER, &len, value) == IFD_SUCCESS && len == 1 &&
		      value[0] == 1,
	      "TAG_IFD_SLOTS_NUMBER = 1");
	len = sizeof(value);
	check(ifd.get_caps(LUN, TAG_IFD_THREAD_SAFE, &len, value) == IFD_SUCCESS && value[0] == 1,
	      "TAG_IFD_THREAD_SAFE = 1");
	len = sizeof(value);
	check(ifd.get_caps(LUN, TAG_IFD_SIMULTANEOUS_ACCESS, &len, value) == IFD_SUCCESS &&
		      value[0] >= 1,
	      "TAG_IFD_SIMULTANEOUS_ACCESS");
	len = sizeof(value);
	check(ifd.get_caps(LUN, 0x12345, &len, value) == IFD_ERROR_TAG, "unknown tag");
	check(ifd.set_caps(LUN, TAG_IFD_SLOTS_NUMBER, 1, value) == IFD_NOT_SUPPORTED,
	      "IFDHSetCapabilities");
	check(ifd.presence(LUN) == IFD_ICC_PRESENT, "IFDHICCPresence: a card");

	check(ifd.power(LUN, IFD_POWER_UP, atr, &atr_len) == IFD_SUCCESS && atr_len > 2 &&
		      atr[0] == 0x3B,
	      "IFDHPowerICC up: an ATR");
	len = sizeof(value);
	check(ifd.get_caps(LUN, TAG_IFD_ATR, &len, value) == IFD_SUCCESS && len == atr_len &&
		      memcmp(value, atr, len) == 0,
	      "TAG_IFD_ATR = the ATR");
	check(ifd.set_proto(LUN, SCARD_PROTOCOL_T1, 0, 0, 0, 0) == IFD_SUCCESS, "protocol T=1");
	check(ifd.set_proto(LUN, SCARD_PROTOCOL_RAW, 0, 0, 0, 0) == IFD_PROTOCOL_NOT_SUPPORTED,
	      "protocol RAW refused");

	n = apdu("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", rx, sizeof(rx), &rc);
	check(sw_is(rx, n, 0x90, 0x00), "SELECT SSSE");
	tries_left(6, "empty VERIFY: 6 tries");
	n = apdu("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", rx, 4, &rc);
	check(rc == IFD_ERROR_INSUFFICIENT_BUFFER && n == 0, "a small receive buffer");

	rc = control(CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, list, sizeof(list), &got);
	verify = feature_code(list, got, FEATURE_VERIFY_PIN_DIRECT);
	modify = feature_code(list, got, FEATURE_MODIFY_PIN_DIRECT);
	props = feature_code(list, got, FEATURE_GET_TLV_PROPERTIES);
	check(rc == IFD_SUCCESS && verify != 0 && modify != 0 && props != 0 &&
		      feature_code(list, got, FEATURE_IFD_PIN_PROPERTIES) != 0,
	      "GET_FEATURE_REQUEST: 06 07 0A 12");
	rc = control(0x313520, NULL, 0, rx, sizeof(rx), &n);
	check(rc == IFD_SUCCESS && n == got && memcmp(rx, list, n) == 0,
	      "the Windows GET_FEATURE_REQUEST code");
	rc = control(CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, rx, 4, &n);
	check(rc == IFD_ERROR_INSUFFICIENT_BUFFER && n == 0, "a small control buffer");
	rc = control(props, NULL, 0, tlv, sizeof(tlv), &got);
	check(rc == IFD_SUCCESS && has_property(tlv, got, PCSCv2_PART10_PROPERTY_bMinPINSize, 4) &&
		      has_property(tlv, got, PCSCv2_PART10_PROPERTY_bMaxPINSize, 12),
	      "GET_TLV_PROPERTIES: 4..12 digits");
	rc = control(feature_code(list, sizeof(list), FEATURE_IFD_PIN_PROPERTIES), NULL, 0, rx,
		     sizeof(rx), &got);
	check(rc == IFD_SUCCESS && got == 4, "IFD_PIN_PROPERTIES: 4 bytes");

	pin_request(verify, VERIFY, sizeof(VERIFY), 0x90, 0x00, "VERIFY 123456 on the pad: 9000");
	pin_request(verify, VERIFY, sizeof(VERIFY), 0x64, 0x01, "VERIFY cancelled: 6401");
	tries_left(6, "no try used by the cancel");
	pin_request(verify, VERIFY, sizeof(VERIFY), 0x64, 0x00, "VERIFY timed out: 6400");
	pin_request(verify, VERIFY, sizeof(VERIFY), 0x64, 0x03, "VERIFY with 5 digits: 6403");
	pin_request(modify, MODIFY, sizeof(MODIFY), 0x64, 0x02, "CHANGE, confirmation differs: 6402");
	tries_left(6, "no try used by the mismatch");
	pin_request(modify, MODIFY, sizeof(MODIFY), 0x90, 0x00, "CHANGE 123456 -> 654321: 9000");
	pin_request(verify, VERIFY, sizeof(VERIFY), 0x90, 0x00, "VERIFY 654321: 9000");
	pin_request(modify, MODIFY, sizeof(MODIFY), 0x90, 0x00, "CHANGE back to 123456: 9000");

	memcpy(bad, VERIFY, sizeof(VERIFY));
	bad[15] = 9; /* ulDataLength no longer matches: libccid refuses it */
	check(control(verify, bad, sizeof(bad), rx, sizeof(rx), &got) == IFD_ERROR_NOT_SUPPORTED,
	      "a malformed structure: not supported");
	check(control(0x42330099, NULL, 0, rx, sizeof(rx), &got) == IFD_ERROR_NOT_SUPPORTED,
	      "an unknown control code: not supported");

	atr_len = sizeof(atr);
	check(ifd.power(LUN, IFD_RESET, atr, &atr_len) == IFD_SUCCESS && atr_len > 2,
	      "IFDHPowerICC reset");
	check(ifd.power(LUN, IFD_POWER_DOWN, atr, &atr_len) == IFD_SUCCESS, "IFDHPowerICC down");
	check(ifd.presence(LUN) == IFD_ICC_PRESENT, "still present after power down");
	apdu("00200000", rx, sizeof(rx), &rc);
	check(rc == IFD_ICC_NOT_PRESENT, "no APDU to an unpowered card");
	check(control(verify, VERIFY, sizeof(VERIFY), rx, sizeof(rx), &got) == IFD_ICC_NOT_PRESENT,
	      "no PIN request to an unpowered card");
	check(ifd.close_channel(LUN) == IFD_SUCCESS, "IFDHCloseChannel");
	check(ifd.presence(LUN) == IFD_COMMUNICATION_ERROR, "a closed channel is gone");
}

static void scenario_absent(char *socket)
{
	UCHAR atr[MAX_ATR_SIZE], rx[64];
	DWORD atr_len = sizeof(atr), got = 0;

	check(ifd.create_by_name(LUN, socket) == IFD_SUCCESS, "IFDHCreateChannelByName");
	check(ifd.presence(LUN) == IFD_ICC_NOT_PRESENT, "no card");
	check(ifd.power(LUN, IFD_POWER_UP, atr, &atr_len) == IFD_ERROR_POWER_ACTION && atr_len == 0,
	      "power up without a card");
	check(control(CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, rx, sizeof(rx), &got) == IFD_SUCCESS &&
		      got == 24,
	      "features need no card");
	check(control(0x42330006, VERIFY, sizeof(VERIFY), rx, sizeof(rx), &got) ==
		      IFD_ICC_NOT_PRESENT,
	      "a PIN request needs a card");
	check(ifd.close_channel(LUN) == IFD_SUCCESS, "IFDHCloseChannel");
}

static void scenario_gone(char *socket)
{
	UCHAR atr[MAX_ATR_SIZE], rx[64];
	DWORD atr_len = sizeof(atr), got = 0;
	char longname[200];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	check(ifd.create_by_name(LUN + 1, longname) == IFD_COMMUNICATION_ERROR,
	      "a DEVICENAME too long for a socket path");
	snprintf(longname, sizeof(longname), "unix:%s", socket);
	check(ifd.create_by_name(LUN, longname) == IFD_SUCCESS,
	      "IFDHCreateChannelByName (unix:PATH) succeeds before the firmware listens");
	check(ifd.create_by_name(LUN, socket) == IFD_COMMUNICATION_ERROR, "the same LUN twice");
	check(ifd.presence(LUN) == IFD_ICC_NOT_PRESENT, "no firmware: no card");
	check(ifd.power(LUN, IFD_POWER_UP, atr, &atr_len) == IFD_COMMUNICATION_ERROR,
	      "no firmware: power fails");
	check(control(CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, rx, sizeof(rx), &got) ==
		      IFD_COMMUNICATION_ERROR,
	      "no firmware: control fails");
	check(ifd.close_channel(LUN) == IFD_SUCCESS, "IFDHCloseChannel");
}

static void scenario_silent(char *socket, const char *name)
{
	UCHAR rx[64];
	DWORD got = 0;
	char what[80];

	check(ifd.create_by_name(LUN, socket) == IFD_SUCCESS, "IFDHCreateChannelByName");
	snprintf(what, sizeof(what), "a %s firmware: the control request returns an error", name);
	check(control(CM_IOCTL_GET_FEATURE_REQUEST, NULL, 0, rx, sizeof(rx), &got) ==
		      IFD_COMMUNICATION_ERROR,
	      what);
	snprintf(what, sizeof(what), "a %s firmware: presence polls say no card", name);
	check(ifd.presence(LUN) == IFD_ICC_NOT_PRESENT, what);
	check(ifd.close_channel(LUN) == IFD_SUCCESS, "IFDHCloseChannel");
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s LIBRARY full|absent|gone|hung|stall|script SOCKET\n",
			argv[0]);
		return 2;
	}
	if (strcmp(argv[2], "script") == 0) {
		const char **entry;
		for (entry = KEYPAD_SCRIPT; *entry != NULL; entry++)
			printf("%s\n", *entry);
		return 0;
	}
	if (load(argv[1]) != 0)
		return 1;
	if (strcmp(argv[2], "full") == 0)
		scenario_full(argv[3]);
	else if (strcmp(argv[2], "absent") == 0)
		scenario_absent(argv[3]);
	else if (strcmp(argv[2], "gone") == 0)
		scenario_gone(argv[3]);
	else if (strcmp(argv[2], "hung") == 0 || strcmp(argv[2], "stall") == 0)
		scenario_silent(argv[3], argv[2]);
	else {
		fprintf(stderr, "unknown scenario %s\n", argv[2]);
		return 2;
	}
	printf("%d failed\n", failures);
	return failures > 125 ? 125 : failures;
}
