/*
 * libsscard-national.so: the national social security card reader interface, forwarded to the
 * sscard service (design-12, terminal/service/protocol.py).
 *
 * C99 + POSIX, libc only (pthread is in glibc since 2.34).  Per call: the calling thread's
 * connection (made on first use, reused after), one request frame
 *     4-byte big-endian length, {"v":1,"op":"call","fn":"NAME","args":[...]}
 * with int arguments as numbers and char* inputs as upper-case hex of their bytes, then one
 * answer frame
 *     {"v":1,"code":N,"out":["HEX",...]}
 * parsed strictly.  Each output is copied into the caller's buffer, never more than its size
 * (sizes: the table below, from national-interface.md section 2), cut on a GBK character
 * boundary and always NUL-terminated.  A local failure writes the GBK text of its code into
 * pOutInfo, bounded the same way.
 *
 * Never a hang: connect waits at most 1 s (the service absent: -11 at once), every send and
 * receive at most SSCARD_TIMEOUT seconds (default 330: the service bounds PIN entry itself), and
 * a service that dies mid-call is an EOF: -11.  A connection found broken before the request was sent is made
 * again, once; a request that was sent is never repeated (it may have spent a PIN try).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "sscard_national.h"

#define EXPORT __attribute__((visibility("default")))

#define CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_S 330
#define MAX_FRAME (4u * 1024u * 1024u)
#define MAX_PARAMS 5

/* ---- the functions (national-interface.md section 2; checked against terminal/national/
 *      signatures.py by tests/test_national_c.py) ---------------------------------------- */

enum kind { K_INT, K_IN, K_OUT };

struct param {
    enum kind kind;
    size_t size; /* in: longest text; out: buffer bytes, NUL included */
};

struct function {
    const char *name;
    int info; /* 1: the last output is pOutInfo, where a failure's text goes */
    int count;
    struct param params[MAX_PARAMS];
};

#define I {K_INT, 0}
#define IN(n) {K_IN, n}
#define OUT(n) {K_OUT, n}

static const struct function FUNCTIONS[] = {
    {"iReadCardBas", 1, 2, {I, OUT(1024)}},
    {"iReadCardBas_HSM_Step1", 1, 2, {I, OUT(1024)}},
    {"iReadCardBas_HSM_Step2", 1, 2, {IN(128), OUT(1024)}},
    {"iReadCard", 1, 5, {I, I, IN(128), IN(1024), OUT(20480)}},
    {"iReadCard_HSM_Step1", 1, 4, {I, IN(128), IN(1024), OUT(1024)}},
    {"iReadCard_HSM_Step2", 1, 2, {IN(32), OUT(20480)}},
    {"iWriteCard", 1, 5, {I, IN(128), IN(1024), IN(20480), OUT(1024)}},
    {"iWriteCard_HSM_Step1", 1, 4, {I, IN(128), IN(1024), OUT(1024)}},
    {"iWriteCard_HSM_Step2", 1, 3, {IN(32), IN(20480), OUT(1024)}},
    {"iVerifyPIN", 1, 2, {I, OUT(512)}},
    {"iChangePIN", 1, 2, {I, OUT(512)}},
    {"iReloadPIN", 1, 3, {I, IN(128), OUT(512)}},
    {"iReloadPIN_HSM_Step1", 1, 3, {I, IN(128), OUT(512)}},
    {"iReloadPIN_HSM_Step2", 1, 2, {IN(32), OUT(1024)}},
    {"iReloadPIN_HSM_Step3", 1, 2, {IN(50), OUT(1024)}},
    {"iUnblockPIN", 1, 3, {I, IN(128), OUT(512)}},
    {"iUnblockPIN_HSM_Step1", 1, 3, {I, IN(128), OUT(512)}},
    {"iUnblockPIN_HSM_Step2", 1, 2, {IN(32), OUT(1024)}},
    {"iUnblockPIN_HSM_Step3", 1, 2, {IN(18), OUT(1024)}},
    {"iDoDebit", 1, 4, {I, IN(128), IN(1024), OUT(256)}},
    {"iReadDebitRecord", 1, 2, {I, OUT(256)}},
    {"iGetReaderInfo", 0, 2, {OUT(32), OUT(16)}},
};

enum {
    F_iReadCardBas,
    F_iReadCardBas_HSM_Step1,
    F_iReadCardBas_HSM_Step2,
    F_iReadCard,
    F_iReadCard_HSM_Step1,
    F_iReadCard_HSM_Step2,
    F_iWriteCard,
    F_iWriteCard_HSM_Step1,
    F_iWriteCard_HSM_Step2,
    F_iVerifyPIN,
    F_iChangePIN,
    F_iReloadPIN,
    F_iReloadPIN_HSM_Step1,
    F_iReloadPIN_HSM_Step2,
    F_iReloadPIN_HSM_Step3,
    F_iUnblockPIN,
    F_iUnblockPIN_HSM_Step1,
    F_iUnblockPIN_HSM_Step2,
    F_iUnblockPIN_HSM_Step3,
    F_iDoDebit,
    F_iReadDebitRecord,
    F_iGetReaderInfo
};

/* ---- local error texts (GBK; the same words as terminal/national/codes.py) ---------------- */

#define T_READER "\xb6\xc1\xbf\xa8\xc6\xf7\xc1\xac\xbd\xd3\xb4\xed"   /* 读卡器连接错 */
#define T_PARAMETER "\xc3\xfc\xc1\xee\xb2\xce\xca\xfd\xb4\xed"       /* 命令参数错 */
#define T_DOWN "(sscard\xb7\xfe\xce\xf1\xce\xb4\xd4\xcb\xd0\xd0)"      /* (sscard服务未运行) */
#define T_LOST "(sscard\xb7\xfe\xce\xf1\xc1\xac\xbd\xd3\xd6\xd0\xb6\xcf)" /* (sscard服务连接中断) */
#define T_BAD "(sscard\xb7\xfe\xce\xf1\xd3\xa6\xb4\xf0\xb8\xf1\xca\xbd\xb4\xed)" /* 应答格式错 */
#define T_NULL "(\xb2\xce\xca\xfd\xce\xaa\xbf\xd5)"                   /* (参数为空) */
#define T_LONG "(\xb2\xce\xca\xfd\xb9\xfd\xb3\xa4)"                   /* (参数过长) */
#define T_MEMORY "(\xc4\xda\xb4\xe6\xb2\xbb\xd7\xe3)"                 /* (内存不足) */
#define T_ERROR "\xb4\xed\xce\xf3"                                    /* 错误 */

/* ---- the calling thread's connection ------------------------------------------------------ */

struct connection {
    int fd;
    pid_t pid; /* a child after fork() must not share its parent's connection */
};

static pthread_key_t connection_key;
static pthread_once_t connection_once = PTHREAD_ONCE_INIT;

static void connection_free(void *value) {
    struct connection *c = value;
    if (c != NULL) {
        if (c->fd >= 0) {
            close(c->fd);
        }
        free(c);
    }
}

static void connection_init(void) { (void)pthread_key_create(&connection_key, connection_free); }

static struct connection *connection_slot(void) {
    struct connection *c;
    (void)pthread_once(&connection_once, connection_init);
    c = pthread_getspecific(connection_key);
    if (c == NULL) {
        c = malloc(sizeof *c);
        if (c == NULL) {
            return NULL;
        }
        c->fd = -1;
        c->pid = getpid();
        if (pthread_setspecific(connection_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    if (c->pid != getpid()) { /* inherited through fork(): the parent's, not ours */
        if (c->fd >= 0) {
            close(c->fd);
        }
        c->fd = -1;
        c->pid = getpid();
    }
    return c;
}

static void connection_drop(struct connection *c) {
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static int is_directory(const char *path) {
    struct stat st;
    return path != NULL && path[0] == '/' && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SSCARD_SOCKET, else service.sock in the private directory of apdu/rundir.py:
 * $XDG_RUNTIME_DIR/sscard, else $TMPDIR (or /tmp)/sscard-<uid>. */
static int socket_path(struct sockaddr_un *addr) {
    const char *env = getenv("SSCARD_SOCKET");
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    const char *tmp = getenv("TMPDIR");
    int n;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (env != NULL && env[0] != '\0') {
        n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s", env);
    } else if (is_directory(runtime)) {
        n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/sscard/service.sock", runtime);
    } else {
        n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/sscard-%lu/service.sock",
                     is_directory(tmp) ? tmp : "/tmp", (unsigned long)geteuid());
    }
    return (n > 0 && (size_t)n < sizeof addr->sun_path) ? 0 : -1;
}

/* Blocking from now on, with SO_RCVTIMEO/SO_SNDTIMEO bounding every wait: one system call per
 * send or receive in the usual case. */
static int set_blocking(int fd, long timeout_s) {
    struct timeval tv;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        return -1;
    }
    tv.tv_sec = timeout_s;
    tv.tv_usec = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        return -1;
    }
    return 0;
}

/* Connect within CONNECT_TIMEOUT_MS (a service that is not there fails at once). */
static int connect_service(long timeout_s) {
    struct sockaddr_un addr;
    struct pollfd p;
    int fd, err = 0;
    socklen_t len = sizeof err;
    if (socket_path(&addr) != 0) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            close(fd);
            return -1;
        }
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    if (set_blocking(fd, timeout_s) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 0: all sent; -1: failed before any byte left (safe to retry); -2: failed after. */
static int send_all(int fd, const unsigned char *data, size_t n) {
    size_t done = 0;
    ssize_t w;
    while (done < n) {
        w = send(fd, data + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
        } else if (!(w < 0 && errno == EINTR)) {
            return done == 0 ? -1 : -2; /* EAGAIN: SO_SNDTIMEO passed */
        }
    }
    return 0;
}

static int recv_all(int fd, unsigned char *data, size_t n) {
    size_t done = 0;
    ssize_t r;
    while (done < n) {
        r = recv(fd, data + done, n - done, 0);
        if (r > 0) {
            done += (size_t)r;
        } else if (r == 0 || errno != EINTR) {
            return -1; /* the service went away, or SO_RCVTIMEO passed */
        }
    }
    return 0;
}

/* Seconds an answer may take: SSCARD_TIMEOUT, else DEFAULT_TIMEOUT_S (PIN entry included). */
static long answer_timeout(void) {
    const char *env = getenv("SSCARD_TIMEOUT");
    if (env != NULL) {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end != env && *end == '\0' && v > 0 && v <= 86400) {
            return v;
        }
    }
    return DEFAULT_TIMEOUT_S;
}

/* ---- bounded output ----------------------------------------------------------------------- */

static int is_lead(unsigned char b) { return b >= 0x81 && b <= 0xFE; }

/* Copy at most size-1 bytes of src (cut on a GBK character boundary) and a NUL. */
static void put_text(char *dst, size_t size, const unsigned char *src, size_t n) {
    size_t i = 0, end = 0;
    if (dst == NULL || size == 0) {
        return;
    }
    while (i < n && i < size - 1) {
        size_t step = is_lead(src[i]) ? 2 : 1;
        if (i + step > size - 1 || i + step > n) {
            break;
        }
        i += step;
        end = i;
    }
    memcpy(dst, src, end);
    dst[end] = '\0';
}

static void put_error(char *dst, size_t size, long code, const char *detail) {
    char text[160];
    if (code == SSCARD_E_READER) {
        snprintf(text, sizeof text, "%s%s", T_READER, detail);
    } else if (code == SSCARD_E_PARAMETER) {
        snprintf(text, sizeof text, "%s%s", T_PARAMETER, detail);
    } else {
        snprintf(text, sizeof text, "%s%ld%s", T_ERROR, code, detail);
    }
    put_text(dst, size, (const unsigned char *)text, strlen(text));
}

/* ---- the request -------------------------------------------------------------------------- */

struct buffer {
    unsigned char *data;
    size_t len, cap;
};

static int grow(struct buffer *b, size_t more) {
    unsigned char *p;
    size_t cap;
    if (b->len + more <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static int append(struct buffer *b, const char *text, size_t n) {
    if (grow(b, n) != 0) {
        return -1;
    }
    memcpy(b->data + b->len, text, n);
    b->len += n;
    return 0;
}

static int append_str(struct buffer *b, const char *text) { return append(b, text, strlen(text)); }

static int append_hex(struct buffer *b, const unsigned char *data, size_t n) {
    static const char digits[] = "0123456789ABCDEF";
    size_t i;
    if (grow(b, 2 * n) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        b->data[b->len++] = (unsigned char)digits[data[i] >> 4];
        b->data[b->len++] = (unsigned char)digits[data[i] & 15];
    }
    return 0;
}

union value {
    int number;
    const char *text;
    char *out;
};

enum problem { P_NONE, P_NULL, P_LONG, P_MEMORY, P_DOWN, P_LOST, P_BAD };

static const char *const DETAILS[] = {"", T_NULL, T_LONG, T_MEMORY, T_DOWN, T_LOST, T_BAD};

static enum problem build_request(struct buffer *b, const struct function *f,
                                  const union value *values) {
    char number[32];
    int i, first = 1;
    if (append(b, "\0\0\0\0", 4) != 0) { /* room for the length */
        return P_MEMORY;
    }
    if (append_str(b, "{\"v\":1,\"op\":\"call\",\"fn\":\"") != 0 || append_str(b, f->name) != 0 ||
        append_str(b, "\",\"args\":[") != 0) {
        return P_MEMORY;
    }
    for (i = 0; i < f->count; i++) {
        const struct param *p = &f->params[i];
        if (p->kind == K_OUT) {
            continue;
        }
        if (!first && append_str(b, ",") != 0) {
            return P_MEMORY;
        }
        first = 0;
        if (p->kind == K_INT) {
            snprintf(number, sizeof number, "%d", values[i].number);
            if (append_str(b, number) != 0) {
                return P_MEMORY;
            }
        } else {
            size_t n;
            if (values[i].text == NULL) {
                return P_NULL;
            }
            n = strnlen(values[i].text, p->size + 1);
            if (n > p->size) {
                return P_LONG;
            }
            if (append_str(b, "\"") != 0 ||
                append_hex(b, (const unsigned char *)values[i].text, n) != 0 ||
                append_str(b, "\"") != 0) {
                return P_MEMORY;
            }
        }
    }
    if (append_str(b, "]}") != 0) {
        return P_MEMORY;
    }
    {
        size_t body = b->len - 4;
        b->data[0] = (unsigned char)(body >> 24);
        b->data[1] = (unsigned char)(body >> 16);
        b->data[2] = (unsigned char)(body >> 8);
        b->data[3] = (unsigned char)body;
    }
    return P_NONE;
}

/* ---- the answer --------------------------------------------------------------------------- */

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int expect(const unsigned char **p, const unsigned char *end, const char *text) {
    size_t n = strlen(text);
    if ((size_t)(end - *p) < n || memcmp(*p, text, n) != 0) {
        return -1;
    }
    *p += n;
    return 0;
}

/* Parse {"v":1,"code":N,"out":["HEX",...]} (an error frame's ,"error":... tail is allowed) and
 * copy each output into its buffer.  Returns 0 and sets *code, or -1 for a malformed answer. */
static int parse_answer(const unsigned char *data, size_t len, const struct function *f,
                        const union value *values, long *code, int *outputs) {
    const unsigned char *p = data, *end = data + len;
    long sign = 1, n = 0;
    int i = 0, digits = 0;
    if (expect(&p, end, "{\"v\":1,\"code\":") != 0) {
        return -1;
    }
    if (p < end && *p == '-') {
        sign = -1;
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9' && digits < 9) {
        n = n * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || expect(&p, end, ",\"out\":[") != 0) {
        return -1;
    }
    *code = sign * n;
    *outputs = 0;
    while (p < end && *p == '"') {
        const unsigned char *start = ++p;
        size_t hexlen, bytes, k;
        unsigned char *tmp;
        while (p < end && *p != '"') {
            p++;
        }
        if (p >= end) {
            return -1;
        }
        hexlen = (size_t)(p - start);
        p++;
        if (hexlen % 2 != 0) {
            return -1;
        }
        /* the i-th output parameter */
        {
            int k2, seen = -1;
            for (k2 = 0; k2 < f->count; k2++) {
                if (f->params[k2].kind == K_OUT && ++seen == i) {
                    break;
                }
            }
            if (k2 >= f->count) {
                return -1;
            }
            bytes = hexlen / 2;
            tmp = malloc(bytes ? bytes : 1);
            if (tmp == NULL) {
                return -1;
            }
            for (k = 0; k < bytes; k++) {
                int hi = hex_value(start[2 * k]), lo = hex_value(start[2 * k + 1]);
                if (hi < 0 || lo < 0) {
                    free(tmp);
                    return -1;
                }
                tmp[k] = (unsigned char)(hi << 4 | lo);
            }
            put_text(values[k2].out, f->params[k2].size, tmp, bytes);
            free(tmp);
        }
        i++;
        if (p < end && *p == ',') {
            p++;
        }
    }
    if (expect(&p, end, "]") != 0 || p >= end || (*p != '}' && *p != ',')) {
        return -1;
    }
    *outputs = i;
    return 0;
}

/* ---- one call ----------------------------------------------------------------------------- */

static long fail(char *info, size_t size, long code, enum problem problem) {
    if (info != NULL) {
        put_error(info, size, code, DETAILS[problem]);
    }
    return code;
}

static long call(int which, const union value *values) {
    const struct function *f = &FUNCTIONS[which];
    struct buffer request = {NULL, 0, 0};
    struct connection *c;
    unsigned char head[4];
    unsigned char *answer = NULL;
    enum problem problem;
    size_t info_size = 0, length;
    char *info = NULL;
    long code = SSCARD_E_READER;
    int i, outputs = 0, nout = 0, sent = -1, attempt;

    for (i = 0; i < f->count; i++) {
        if (f->params[i].kind == K_OUT) {
            if (values[i].out == NULL) {
                return SSCARD_E_PARAMETER; /* nowhere to write, not even the error */
            }
            nout++;
            values[i].out[0] = '\0';
            if (f->info) {
                info = values[i].out;
                info_size = f->params[i].size;
            }
        }
    }
    problem = build_request(&request, f, values);
    if (problem != P_NONE) {
        free(request.data);
        return fail(info, info_size, problem == P_MEMORY ? SSCARD_E_READER : SSCARD_E_PARAMETER,
                    problem);
    }
    c = connection_slot();
    if (c == NULL) {
        free(request.data);
        return fail(info, info_size, SSCARD_E_READER, P_MEMORY);
    }
    problem = P_DOWN;
    for (attempt = 0; attempt < 2; attempt++) {
        int fresh = c->fd < 0;
        if (fresh) {
            c->fd = connect_service(answer_timeout());
            if (c->fd < 0) {
                break; /* no service: -11 at once */
            }
        }
        sent = send_all(c->fd, request.data, request.len);
        if (sent == 0) {
            break;
        }
        connection_drop(c);
        if (sent == -2 || fresh) {
            problem = P_LOST;
            break; /* a request that left must not be repeated */
        }
        /* an old connection was found broken before anything left: once more, afresh */
    }
    free(request.data);
    if (sent != 0) {
        return fail(info, info_size, SSCARD_E_READER, problem);
    }
    problem = P_LOST;
    if (recv_all(c->fd, head, 4) == 0) {
        length = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
        problem = P_BAD;
        if (length > 0 && length <= MAX_FRAME && (answer = malloc(length)) != NULL) {
            problem = P_LOST;
            if (recv_all(c->fd, answer, length) == 0) {
                problem = P_BAD;
                if (parse_answer(answer, length, f, values, &code, &outputs) == 0 &&
                    (outputs == nout || (outputs == 0 && code != 0))) {
                    problem = P_NONE;
                }
            }
            free(answer);
        }
    }
    if (problem != P_NONE) {
        connection_drop(c); /* the stream is out of step: never reuse it */
        for (i = 0; i < f->count; i++) {
            if (f->params[i].kind == K_OUT) {
                values[i].out[0] = '\0';
            }
        }
        return fail(info, info_size, SSCARD_E_READER, problem);
    }
    if (outputs == 0 && code != 0) {
        return fail(info, info_size, code, P_NONE);
    }
    return code;
}

/* ---- the exported functions --------------------------------------------------------------- */

#define V_INT(x) {.number = (x)}
#define V_IN(x) {.text = (x)}
#define V_OUT(x) {.out = (x)}

EXPORT long iReadCardBas(int iType, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_OUT(pOutInfo)};
    return call(F_iReadCardBas, v);
}

EXPORT long iReadCardBas_HSM_Step1(int iType, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_OUT(pOutInfo)};
    return call(F_iReadCardBas_HSM_Step1, v);
}

EXPORT long iReadCardBas_HSM_Step2(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iReadCardBas_HSM_Step2, v);
}

EXPORT long iReadCard(int iType, int iAuthType, char *pCardInfo, char *pFileAddr,
                      char *pOutInfo) {
    union value v[] = {V_INT(iType), V_INT(iAuthType), V_IN(pCardInfo), V_IN(pFileAddr),
                       V_OUT(pOutInfo)};
    return call(F_iReadCard, v);
}

EXPORT long iReadCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_IN(pFileAddr), V_OUT(pOutInfo)};
    return call(F_iReadCard_HSM_Step1, v);
}

EXPORT long iReadCard_HSM_Step2(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iReadCard_HSM_Step2, v);
}

EXPORT long iWriteCard(int iType, char *pCardInfo, char *pFileAddr, char *pWriteData,
                       char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_IN(pFileAddr), V_IN(pWriteData),
                       V_OUT(pOutInfo)};
    return call(F_iWriteCard, v);
}

EXPORT long iWriteCard_HSM_Step1(int iType, char *pCardInfo, char *pFileAddr, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_IN(pFileAddr), V_OUT(pOutInfo)};
    return call(F_iWriteCard_HSM_Step1, v);
}

EXPORT long iWriteCard_HSM_Step2(char *pKey, char *pWriteData, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_IN(pWriteData), V_OUT(pOutInfo)};
    return call(F_iWriteCard_HSM_Step2, v);
}

EXPORT long iVerifyPIN(int iType, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_OUT(pOutInfo)};
    return call(F_iVerifyPIN, v);
}

EXPORT long iChangePIN(int iType, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_OUT(pOutInfo)};
    return call(F_iChangePIN, v);
}

EXPORT long iReloadPIN(int iType, char *pCardInfo, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_OUT(pOutInfo)};
    return call(F_iReloadPIN, v);
}

EXPORT long iReloadPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_OUT(pOutInfo)};
    return call(F_iReloadPIN_HSM_Step1, v);
}

EXPORT long iReloadPIN_HSM_Step2(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iReloadPIN_HSM_Step2, v);
}

EXPORT long iReloadPIN_HSM_Step3(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iReloadPIN_HSM_Step3, v);
}

EXPORT long iUnblockPIN(int iType, char *pCardInfo, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_OUT(pOutInfo)};
    return call(F_iUnblockPIN, v);
}

EXPORT long iUnblockPIN_HSM_Step1(int iType, char *pCardInfo, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_OUT(pOutInfo)};
    return call(F_iUnblockPIN_HSM_Step1, v);
}

EXPORT long iUnblockPIN_HSM_Step2(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iUnblockPIN_HSM_Step2, v);
}

EXPORT long iUnblockPIN_HSM_Step3(char *pKey, char *pOutInfo) {
    union value v[] = {V_IN(pKey), V_OUT(pOutInfo)};
    return call(F_iUnblockPIN_HSM_Step3, v);
}

EXPORT long iDoDebit(int iType, char *pCardInfo, char *pPayInfo, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_IN(pCardInfo), V_IN(pPayInfo), V_OUT(pOutInfo)};
    return call(F_iDoDebit, v);
}

EXPORT long iReadDebitRecord(int iType, char *pOutInfo) {
    union value v[] = {V_INT(iType), V_OUT(pOutInfo)};
    return call(F_iReadDebitRecord, v);
}

EXPORT long iGetReaderInfo(char *pReaderSN, char *pPsamTermNo) {
    union value v[] = {V_OUT(pReaderSN), V_OUT(pPsamTermNo)};
    return call(F_iGetReaderInfo, v);
}
