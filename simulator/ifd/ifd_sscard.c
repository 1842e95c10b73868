/*
 * libifd-sscard.so: a pcsc-lite reader driver (IFD handler API v3) for sscard's simulated
 * PIN-pad reader.
 *
 * The driver is a thin pipe.  Every call pcscd makes (card presence, power, APDUs and reader
 * control requests such as PC/SC part 10 VERIFY_PIN_DIRECT) becomes one request of the protocol
 * in PROTOCOL.md, sent over a Unix socket to `sscard sim serve --pinpad-socket PATH`, whose
 * firmware (simulator/pinpad.py) answers it.  The driver knows nothing of PIN pads: the feature
 * list, the properties and the PIN entry are the firmware's.
 *
 * pcscd serialises the calls to one reader and polls IFDHICCPresence about every 0.4 s behind
 * them, so every wait is bounded (PROTOCOL.md, "Timeouts"): a presence poll costs at most a
 * 200 ms connect and a 500 ms reply; any other reply may keep the driver waiting only while the
 * firmware sends WAIT frames (PIN entry), at most 5 s between frames and 300 s in all.  On any
 * failure the connection is closed and reopened at the next call; a request is never retried.
 *
 * Registration (reader.conf.d): FRIENDLYNAME "sscard PIN pad", DEVICENAME unix:<socket path>,
 * LIBPATH <this library>.  The "unix:" prefix is optional for the driver but spares pcscd's
 * check that a DEVICENAME without ':' exists when it starts (the simulator may start later).
 * C99, libc and pcsc-lite's headers only.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The IFDH* entry points keep default visibility; everything else is hidden (-fvisibility). */
#pragma GCC visibility push(default)
#include <ifdhandler.h>
#pragma GCC visibility pop
#include <reader.h>

#include "ifd_sscard_proto.h"

#define MAX_READERS 16
#define UNIX_PREFIX "unix:"
/* the Windows value of CM_IOCTL_GET_FEATURE_REQUEST, forwarded by RDP clients */
#define WINDOWS_GET_FEATURE_REQUEST 0x313520

struct channel {
	int used;
	DWORD lun;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	int announced; /* last state written to the log: 1 connected, 0 not */
	UCHAR atr[MAX_ATR_SIZE];
	DWORD atr_len;
	long idle_ms;
	long total_ms;
	unsigned char *buf; /* one frame: header + payload */
};

static struct channel channels[MAX_READERS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- time and bounded I/O ------------------------------------------------------------------ */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: ready, 0: deadline passed, -1: error */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p;
		long long left = deadline - now_ms();
		int rc;

		if (left <= 0)
			return 0;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return (p.revents & (events | POLLHUP | POLLERR)) ? 1 : -1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static int write_all(int fd, const unsigned char *data, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) != 1)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

static int read_all(int fd, unsigned char *data, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = recv(fd, data, len, 0);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n == 0) {
			return -1; /* the firmware closed the connection */
		} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline) != 1)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

static void put_u32(unsigned char *p, unsigned long v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static unsigned long get_u32(const unsigned char *p)
{
	return ((unsigned long)p[0] << 24) | ((unsigned long)p[1] << 16) |
	       ((unsigned long)p[2] << 8) | (unsigned long)p[3];
}

/* ---- the channel table --------------------------------------------------------------------- */

static struct channel *find(DWORD lun)
{
	struct channel *found = NULL;
	int i;

	pthread_mutex_lock(&table_lock);
	for (i = 0; i < MAX_READERS; i++)
		if (channels[i].used && channels[i].lun == lun)
			found = &channels[i];
	pthread_mutex_unlock(&table_lock);
	return found;
}

static long env_ms(const char *name, long fallback)
{
	const char *text = getenv(name);
	char *end = NULL;
	long value;

	if (text == NULL || *text == '\0')
		return fallback;
	value = strtol(text, &end, 10);
	return (end != NULL && *end == '\0' && value > 0) ? value : fallback;
}

static void disconnect(struct channel *ch)
{
	if (ch->fd >= 0) {
		close(ch->fd);
		ch->fd = -1;
	}
	ch->atr_len = 0;
	if (ch->announced) {
		fprintf(stderr, "ifd-sscard: %s: disconnected\n", ch->path);
		ch->announced = 0;
	}
}

/* ---- requests ------------------------------------------------------------------------------ */

/*
 * Send one request and read its reply (WAIT frames restart the idle timer of `idle_ms`, within
 * `total_ms` for the whole request).  The payload is
 * `head` (may be NULL) followed by `data`.  On success *kind and *len describe the reply, whose
 * payload is in ch->buf + IFDS_HEADER_SIZE.  Any failure closes the connection.
 */
static int exchange(struct channel *ch, unsigned char type, const unsigned char *head,
		    size_t head_len, const unsigned char *data, size_t data_len, long idle_ms,
		    long total_ms, unsigned char *kind, size_t *len)
{
	long long start = now_ms();
	long long total = start + (total_ms > idle_ms ? total_ms : idle_ms);
	size_t payload = head_len + data_len;
	unsigned char *frame = ch->buf;

	if (ch->fd < 0 || payload > IFDS_MAX_PAYLOAD)
		return -1;
	frame[0] = type;
	put_u32(frame + 1, (unsigned long)payload);
	if (head_len)
		memcpy(frame + IFDS_HEADER_SIZE, head, head_len);
	if (data_len)
		memcpy(frame + IFDS_HEADER_SIZE + head_len, data, data_len);
	if (write_all(ch->fd, frame, IFDS_HEADER_SIZE + payload, start + idle_ms) != 0)
		goto fail;
	for (;;) {
		long long deadline = now_ms() + idle_ms;
		unsigned long n;

		if (deadline > total)
			deadline = total;
		if (read_all(ch->fd, frame, IFDS_HEADER_SIZE, deadline) != 0)
			goto fail;
		n = get_u32(frame + 1);
		if (n > IFDS_MAX_PAYLOAD)
			goto fail;
		if (read_all(ch->fd, frame + IFDS_HEADER_SIZE, (size_t)n, deadline) != 0)
			goto fail;
		if (frame[0] == IFDS_REP_WAIT)
			continue; /* the firmware is still working (a PIN being typed) */
		*kind = frame[0];
		*len = (size_t)n;
		return 0;
	}
fail:
	fprintf(stderr, "ifd-sscard: %s: no valid answer to request 0x%02X\n", ch->path, type);
	disconnect(ch);
	return -1;
}

static int connect_channel(struct channel *ch)
{
	struct sockaddr_un addr;
	int fd, err = 0;
	socklen_t err_len = sizeof(err);
	unsigned char hello[1 + 10], kind;
	size_t len;

	if (ch->fd >= 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, ch->path, strlen(ch->path) + 1);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			close(fd);
			return -1;
		}
		if (wait_fd(fd, POLLOUT, now_ms() + IFDS_CONNECT_MS) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
			close(fd);
			return -1;
		}
	}
	ch->fd = fd;
	hello[0] = IFDS_PROTOCOL_VERSION;
	memcpy(hello + 1, "ifd-sscard", 10);
	if (exchange(ch, IFDS_REQ_HELLO, NULL, 0, hello, sizeof(hello), IFDS_QUICK_MS,
		     IFDS_QUICK_MS, &kind, &len) != 0)
		return -1;
	if (kind != IFDS_REP_OK || len < 1 || ch->buf[IFDS_HEADER_SIZE] != IFDS_PROTOCOL_VERSION) {
		fprintf(stderr, "ifd-sscard: %s: the firmware does not speak protocol version %d\n",
			ch->path, IFDS_PROTOCOL_VERSION);
		disconnect(ch);
		return -1;
	}
	if (!ch->announced) {
		fprintf(stderr, "ifd-sscard: %s: connected\n", ch->path);
		ch->announced = 1;
	}
	return 0;
}

/* A request on a (re)connected channel: 0 and the reply, or -1 (connection closed).  A quick
 * request (presence, power off at close) gets no WAIT extension. */
static int request(struct channel *ch, unsigned char type, const unsigned char *head,
		   size_t head_len, const unsigned char *data, size_t data_len, int quick,
		   unsigned char *kind, size_t *len)
{
	long idle = quick ? IFDS_QUICK_MS : ch->idle_ms;
	long total = quick ? IFDS_QUICK_MS : ch->total_ms;

	if (connect_channel(ch) != 0)
		return -1;
	return exchange(ch, type, head, head_len, data, data_len, idle, total, kind, len);
}

/* ---- the IFD handler API v3 ---------------------------------------------------------------- */

RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
	struct channel *ch = NULL;
	size_t n;
	int i;

	if (DeviceName == NULL)
		return IFD_COMMUNICATION_ERROR;
	if (strncmp(DeviceName, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
		DeviceName += strlen(UNIX_PREFIX);
	n = strlen(DeviceName);
	if (n == 0 || n >= sizeof(ch->path)) {
		fprintf(stderr, "ifd-sscard: DEVICENAME must be a socket path of 1 to %d bytes\n",
			(int)sizeof(ch->path) - 1);
		return IFD_COMMUNICATION_ERROR;
	}
	if (find(Lun) != NULL)
		return IFD_COMMUNICATION_ERROR;
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < MAX_READERS && ch == NULL; i++)
		if (!channels[i].used)
			ch = &channels[i];
	if (ch != NULL) {
		memset(ch, 0, sizeof(*ch));
		ch->buf = malloc(IFDS_HEADER_SIZE + IFDS_MAX_PAYLOAD);
		if (ch->buf != NULL) {
			ch->used = 1;
			ch->lun = Lun;
			ch->fd = -1;
			memcpy(ch->path, DeviceName, n + 1);
			ch->idle_ms = env_ms("SSCARD_IFD_IDLE_MS", IFDS_IDLE_MS);
			ch->total_ms = env_ms("SSCARD_IFD_TOTAL_MS", IFDS_TOTAL_MS);
		}
	}
	pthread_mutex_unlock(&table_lock);
	if (ch == NULL || ch->buf == NULL)
		return IFD_COMMUNICATION_ERROR;
	/* Lazy: the firmware may start after pcscd; until then the reader shows no card. */
	(void)connect_channel(ch);
	return IFD_SUCCESS;
}

RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
	char path[] = IFDS_DEFAULT_SOCKET;

	(void)Channel;
	return IFDHCreateChannelByName(Lun, path);
}

RESPONSECODE IFDHCloseChannel(DWORD Lun)
{
	struct channel *ch = find(Lun);
	unsigned char kind;
	size_t len;

	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	if (ch->fd >= 0)
		(void)exchange(ch, IFDS_REQ_POWER_OFF, NULL, 0, NULL, 0, IFDS_QUICK_MS,
			       IFDS_QUICK_MS, &kind, &len);
	disconnect(ch);
	pthread_mutex_lock(&table_lock);
	free(ch->buf);
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_unlock(&table_lock);
	return IFD_SUCCESS;
}

static RESPONSECODE one_byte(PDWORD Length, PUCHAR Value, UCHAR byte)
{
	if (*Length < 1)
		return IFD_ERROR_INSUFFICIENT_BUFFER;
	Value[0] = byte;
	*Length = 1;
	return IFD_SUCCESS;
}

RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
	struct channel *ch = find(Lun);
	static const char vendor[] = "sscard";

	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	switch (Tag) {
	case TAG_IFD_ATR:
	case SCARD_ATTR_ATR_STRING:
		if (*Length < ch->atr_len)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		memcpy(Value, ch->atr, ch->atr_len);
		*Length = ch->atr_len;
		return IFD_SUCCESS;
	case TAG_IFD_SIMULTANEOUS_ACCESS:
		return one_byte(Length, Value, MAX_READERS);
	case TAG_IFD_THREAD_SAFE:
		return one_byte(Length, Value, 1); /* one connection and one buffer per reader */
	case TAG_IFD_SLOTS_NUMBER:
		return one_byte(Length, Value, 1);
	case TAG_IFD_SLOT_THREAD_SAFE:
		return one_byte(Length, Value, 0);
	case SCARD_ATTR_VENDOR_NAME:
		if (*Length < sizeof(vendor))
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		memcpy(Value, vendor, sizeof(vendor));
		*Length = sizeof(vendor);
		return IFD_SUCCESS;
	default:
		return IFD_ERROR_TAG;
	}
}

RESPONSECODE IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
	(void)Lun;
	(void)Tag;
	(void)Length;
	(void)Value;
	return IFD_NOT_SUPPORTED;
}

RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags, UCHAR PTS1,
				       UCHAR PTS2, UCHAR PTS3)
{
	(void)Flags;
	(void)PTS1;
	(void)PTS2;
	(void)PTS3;
	if (find(Lun) == NULL)
		return IFD_COMMUNICATION_ERROR;
	/* The firmware exchanges whole APDUs: T=0 and T=1 need no negotiation here. */
	if (Protocol == SCARD_PROTOCOL_T0 || Protocol == SCARD_PROTOCOL_T1)
		return IFD_SUCCESS;
	return IFD_PROTOCOL_NOT_SUPPORTED;
}

RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
	struct channel *ch = find(Lun);
	DWORD room = (AtrLength != NULL && *AtrLength > 0) ? *AtrLength : MAX_ATR_SIZE;
	unsigned char type, kind;
	size_t len;

	if (AtrLength != NULL)
		*AtrLength = 0;
	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	if (Action == IFD_POWER_DOWN) {
		ch->atr_len = 0;
		if (request(ch, IFDS_REQ_POWER_OFF, NULL, 0, NULL, 0, 0, &kind, &len) != 0)
			return IFD_COMMUNICATION_ERROR;
		return kind == IFDS_REP_OK ? IFD_SUCCESS : IFD_ERROR_POWER_ACTION;
	}
	if (Action == IFD_POWER_UP)
		type = IFDS_REQ_POWER_ON;
	else if (Action == IFD_RESET)
		type = IFDS_REQ_RESET;
	else
		return IFD_NOT_SUPPORTED;
	ch->atr_len = 0;
	if (request(ch, type, NULL, 0, NULL, 0, 0, &kind, &len) != 0)
		return IFD_COMMUNICATION_ERROR;
	if (kind != IFDS_REP_OK || len == 0 || len > MAX_ATR_SIZE || len > room)
		return IFD_ERROR_POWER_ACTION;
	memcpy(ch->atr, ch->buf + IFDS_HEADER_SIZE, len);
	ch->atr_len = (DWORD)len;
	if (Atr != NULL && AtrLength != NULL) {
		memcpy(Atr, ch->atr, len);
		*AtrLength = (DWORD)len;
	}
	return IFD_SUCCESS;
}

RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer,
			       DWORD TxLength, PUCHAR RxBuffer, PDWORD RxLength,
			       PSCARD_IO_HEADER RecvPci)
{
	struct channel *ch = find(Lun);
	DWORD room = *RxLength;
	unsigned char kind;
	size_t len;

	*RxLength = 0;
	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	if (request(ch, IFDS_REQ_APDU, NULL, 0, TxBuffer, TxLength, 0, &kind, &len) != 0)
		return IFD_COMMUNICATION_ERROR;
	if (kind == IFDS_REP_NO_CARD)
		return IFD_ICC_NOT_PRESENT;
	if (kind != IFDS_REP_OK || len < 2)
		return IFD_COMMUNICATION_ERROR;
	if (len > room)
		return IFD_ERROR_INSUFFICIENT_BUFFER;
	memcpy(RxBuffer, ch->buf + IFDS_HEADER_SIZE, len);
	*RxLength = (DWORD)len;
	if (RecvPci != NULL) {
		RecvPci->Protocol = SendPci.Protocol;
		RecvPci->Length = sizeof(*RecvPci);
	}
	return IFD_SUCCESS;
}

RESPONSECODE IFDHICCPresence(DWORD Lun)
{
	struct channel *ch = find(Lun);
	unsigned char kind;
	size_t len;

	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	/* cheap and bounded: at most one connect (200 ms) and one reply (500 ms) */
	if (request(ch, IFDS_REQ_PRESENCE, NULL, 0, NULL, 0, 1, &kind, &len) != 0 ||
	    kind != IFDS_REP_OK || len != 1 || ch->buf[IFDS_HEADER_SIZE] == IFDS_ABSENT) {
		ch->atr_len = 0;
		return IFD_ICC_NOT_PRESENT;
	}
	return IFD_ICC_PRESENT;
}

RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength,
			 PUCHAR RxBuffer, DWORD RxLength, LPDWORD pdwBytesReturned)
{
	struct channel *ch = find(Lun);
	unsigned char code[4], kind;
	size_t len;

	*pdwBytesReturned = 0;
	if (ch == NULL)
		return IFD_COMMUNICATION_ERROR;
	if (dwControlCode == WINDOWS_GET_FEATURE_REQUEST)
		dwControlCode = CM_IOCTL_GET_FEATURE_REQUEST;
	put_u32(code, (unsigned long)dwControlCode);
	if (request(ch, IFDS_REQ_CONTROL, code, sizeof(code), TxBuffer, TxLength, 0, &kind,
		    &len) != 0)
		return IFD_COMMUNICATION_ERROR;
	switch (kind) {
	case IFDS_REP_OK:
		if (len > RxLength)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		memcpy(RxBuffer, ch->buf + IFDS_HEADER_SIZE, len);
		*pdwBytesReturned = (DWORD)len;
		return IFD_SUCCESS;
	case IFDS_REP_NOT_SUPPORTED:
		return IFD_ERROR_NOT_SUPPORTED;
	case IFDS_REP_NO_CARD:
		return IFD_ICC_NOT_PRESENT;
	default:
		return IFD_COMMUNICATION_ERROR;
	}
}
