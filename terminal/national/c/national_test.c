/*
 * national_test: dlopen()s libsscard-national.so and calls every national function against a
 * running sscard service (or none), checking codes, strings, and canary bytes after every
 * output buffer.  Run by tests/test_national_c.py (make test), which starts the service with a
 * simulated card (2.x or 3.00; PSAM, software module or HSM route; or through pcscd + vpcd) and
 * sets the expectations in the environment:
 *
 *   national_test LIBRARY down          every function answers -11 within a second, no service
 *   national_test LIBRARY full          the whole tour (below)
 *   national_test LIBRARY threads N     N threads at once, uncorrupted answers
 *   national_test LIBRARY pin CALL=CODE...   iVerifyPIN / iChangePIN (CALL verify or change) in
 *                                       order, each answering CODE: the PIN-pad reader's tests,
 *                                       whose keypad entries are queued before (issue 13)
 *
 *   SSCARD_TEST_ROUTE      psam | software | hsm   (the service's security mode)
 *   SSCARD_TEST_LINE       hex of the GBK iReadCardBas line expected (PSAM/software route)
 *   SSCARD_TEST_HSM_LINE   hex of the line expected from iReadCardBas_HSM_Step2
 *   SSCARD_TEST_TERMINAL   the PSAM terminal number iGetReaderInfo gives
 *   SSCARD_TEST_CARDINFO   pCardInfo of the card
 *   SSCARD_TEST_PINQUEUE   the scripted pinentry's queue file (this program writes the PINs there)
 *   SSCARD_TEST_PYTHON     the Python that runs the TEST HSM (python -m tests.hsm_helper)
 *
 * Output: one line per check, "ok"/"FAIL", its name and the code; never a PIN (a PIN goes only
 * into the queue file).  Exit status: the number of failed checks (0: all passed).
 */
#define _GNU_SOURCE 1

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CANARY 0xA5
#define GUARD 32

typedef long (*fn_i_o)(int, char *);
typedef long (*fn_s_o)(char *, char *);
typedef long (*fn_iics_o)(int, int, char *, char *, char *);
typedef long (*fn_iss_o)(int, char *, char *, char *);
typedef long (*fn_isss_o)(int, char *, char *, char *, char *);
typedef long (*fn_ss_o)(char *, char *, char *);
typedef long (*fn_is_o)(int, char *, char *);
typedef long (*fn_o_o)(char *, char *);

static struct {
    fn_i_o iReadCardBas, iReadCardBas_HSM_Step1, iVerifyPIN, iChangePIN, iReadDebitRecord;
    fn_s_o iReadCardBas_HSM_Step2, iReadCard_HSM_Step2, iReloadPIN_HSM_Step2,
        iReloadPIN_HSM_Step3, iUnblockPIN_HSM_Step2, iUnblockPIN_HSM_Step3;
    fn_iics_o iReadCard;
    fn_iss_o iReadCard_HSM_Step1, iWriteCard_HSM_Step1, iDoDebit;
    fn_isss_o iWriteCard;
    fn_ss_o iWriteCard_HSM_Step2;
    fn_is_o iReloadPIN, iReloadPIN_HSM_Step1, iUnblockPIN, iUnblockPIN_HSM_Step1;
    fn_o_o iGetReaderInfo;
} L;

static int failures = 0;

/* ---- buffers with canaries ---------------------------------------------------------------- */

struct out {
    unsigned char *mem;
    size_t size;
};

static char *out_new(struct out *o, size_t size) {
    o->size = size;
    o->mem = malloc(size + GUARD);
    if (o->mem == NULL) {
        perror("malloc");
        exit(100);
    }
    memset(o->mem, 'x', size);
    memset(o->mem + size, CANARY, GUARD);
    return (char *)o->mem;
}

static int out_ok(const struct out *o) {
    size_t i;
    int terminated = 0;
    for (i = 0; i < GUARD; i++) {
        if (o->mem[o->size + i] != CANARY) {
            return 0;
        }
    }
    for (i = 0; i < o->size; i++) {
        if (o->mem[i] == '\0') {
            terminated = 1;
            break;
        }
    }
    return terminated;
}

static void out_free(struct out *o) { free(o->mem); }

static void check(int ok, const char *name, long code) {
    printf("%s %s (code %ld)\n", ok ? "ok  " : "FAIL", name, code);
    fflush(stdout);
    if (!ok) {
        failures++;
    }
}

/* ---- the environment ----------------------------------------------------------------------- */

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v != NULL ? v : "";
}

/* The GBK bytes of a hex variable (malloc'd, NUL-terminated). */
static char *env_hex(const char *name) {
    const char *h = env(name);
    size_t n = strlen(h) / 2, i;
    char *s = malloc(n + 1);
    unsigned int b;
    if (s == NULL) {
        exit(100);
    }
    for (i = 0; i < n; i++) {
        if (sscanf(h + 2 * i, "%2x", &b) != 1) {
            b = '?';
        }
        s[i] = (char)b;
    }
    s[n] = '\0';
    return s;
}

static void pins(const char *lines) {
    FILE *f = fopen(env("SSCARD_TEST_PINQUEUE"), "w");
    if (f == NULL) {
        perror("pin queue");
        exit(100);
    }
    fputs(lines, f);
    fclose(f);
}

/* Run the TEST HSM (python -m tests.hsm_helper KIND TEXT [CARDLINE] [--corrupt]); its answer. */
static char *hsm(const char *kind, const char *text, const char *card_line, int corrupt) {
    int pipefd[2], status;
    pid_t pid;
    static char answer[512];
    size_t got = 0;
    ssize_t r;
    const char *python = env("SSCARD_TEST_PYTHON");
    if (pipe(pipefd) != 0) {
        exit(100);
    }
    pid = fork();
    if (pid < 0) {
        exit(100);
    }
    if (pid == 0) {
        const char *argv[8];
        int a = 0;
        argv[a++] = python;
        argv[a++] = "-m";
        argv[a++] = "tests.hsm_helper";
        argv[a++] = kind;
        argv[a++] = text;
        if (card_line != NULL) {
            argv[a++] = card_line;
        }
        if (corrupt) {
            argv[a++] = "--corrupt";
        }
        argv[a] = NULL;
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(python, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    while (got < sizeof answer - 1 && (r = read(pipefd[0], answer + got, sizeof answer - 1 - got)) > 0) {
        got += (size_t)r;
    }
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    answer[got] = '\0';
    while (got > 0 && (answer[got - 1] == '\n' || answer[got - 1] == '\r')) {
        answer[--got] = '\0';
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("FAIL the TEST HSM (%s) did not answer\n", kind);
        failures++;
    }
    return answer;
}

static long ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* ---- loading -------------------------------------------------------------------------------- */

#define LOAD(name)                                                                                 \
    do {                                                                                           \
        void *sym = dlsym(handle, #name);                                                          \
        if (sym == NULL) {                                                                         \
            printf("FAIL %s is not exported\n", #name);                                            \
            exit(101);                                                                             \
        }                                                                                          \
        memcpy(&L.name, &sym, sizeof sym);                                                         \
    } while (0)

static void load(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        printf("FAIL dlopen: %s\n", dlerror());
        exit(101);
    }
    LOAD(iReadCardBas);
    LOAD(iReadCardBas_HSM_Step1);
    LOAD(iReadCardBas_HSM_Step2);
    LOAD(iReadCard);
    LOAD(iReadCard_HSM_Step1);
    LOAD(iReadCard_HSM_Step2);
    LOAD(iWriteCard);
    LOAD(iWriteCard_HSM_Step1);
    LOAD(iWriteCard_HSM_Step2);
    LOAD(iVerifyPIN);
    LOAD(iChangePIN);
    LOAD(iReloadPIN);
    LOAD(iReloadPIN_HSM_Step1);
    LOAD(iReloadPIN_HSM_Step2);
    LOAD(iReloadPIN_HSM_Step3);
    LOAD(iUnblockPIN);
    LOAD(iUnblockPIN_HSM_Step1);
    LOAD(iUnblockPIN_HSM_Step2);
    LOAD(iUnblockPIN_HSM_Step3);
    LOAD(iDoDebit);
    LOAD(iReadDebitRecord);
    LOAD(iGetReaderInfo);
}

/* ---- mode "down": no service ---------------------------------------------------------------- */

#define T_READER "\xb6\xc1\xbf\xa8\xc6\xf7\xc1\xac\xbd\xd3\xb4\xed" /* 读卡器连接错 */

static void expect_down(const char *name, long code, struct out *o, int text,
                        const struct timespec *t0) {
    char label[96];
    long ms = ms_since(t0);
    snprintf(label, sizeof label, "%s without a service: -11 in %ld ms", name, ms);
    check(code == -11 && ms < 1000 && out_ok(o) &&
              (!text || strncmp((char *)o->mem, T_READER, strlen(T_READER)) == 0),
          label, code);
    out_free(o);
}

static void mode_down(void) {
    struct out o, o2;
    struct timespec t0;
    char key[] = "00", info[] = "420100D15600000500000001FFFFFFFF|D2143569X|";
    char addr[] = "SSSEEF05|07|$", data[] = "X|$";
#define DOWN(call, name, size)                                                                     \
    do {                                                                                           \
        char *b = out_new(&o, size);                                                               \
        clock_gettime(CLOCK_MONOTONIC, &t0);                                                       \
        expect_down(name, call, &o, 1, &t0);                                                       \
    } while (0)
    DOWN(L.iReadCardBas(3, b), "iReadCardBas", 1024);
    DOWN(L.iReadCardBas_HSM_Step1(3, b), "iReadCardBas_HSM_Step1", 1024);
    DOWN(L.iReadCardBas_HSM_Step2(key, b), "iReadCardBas_HSM_Step2", 1024);
    DOWN(L.iReadCard(3, 2, info, addr, b), "iReadCard", 20480);
    DOWN(L.iReadCard_HSM_Step1(3, info, addr, b), "iReadCard_HSM_Step1", 1024);
    DOWN(L.iReadCard_HSM_Step2(key, b), "iReadCard_HSM_Step2", 20480);
    DOWN(L.iWriteCard(3, info, addr, data, b), "iWriteCard", 1024);
    DOWN(L.iWriteCard_HSM_Step1(3, info, addr, b), "iWriteCard_HSM_Step1", 1024);
    DOWN(L.iWriteCard_HSM_Step2(key, data, b), "iWriteCard_HSM_Step2", 1024);
    DOWN(L.iVerifyPIN(3, b), "iVerifyPIN", 512);
    DOWN(L.iChangePIN(3, b), "iChangePIN", 512);
    DOWN(L.iReloadPIN(3, info, b), "iReloadPIN", 512);
    DOWN(L.iReloadPIN_HSM_Step1(3, info, b), "iReloadPIN_HSM_Step1", 512);
    DOWN(L.iReloadPIN_HSM_Step2(key, b), "iReloadPIN_HSM_Step2", 1024);
    DOWN(L.iReloadPIN_HSM_Step3(key, b), "iReloadPIN_HSM_Step3", 1024);
    DOWN(L.iUnblockPIN(3, info, b), "iUnblockPIN", 512);
    DOWN(L.iUnblockPIN_HSM_Step1(3, info, b), "iUnblockPIN_HSM_Step1", 512);
    DOWN(L.iUnblockPIN_HSM_Step2(key, b), "iUnblockPIN_HSM_Step2", 1024);
    DOWN(L.iUnblockPIN_HSM_Step3(key, b), "iUnblockPIN_HSM_Step3", 1024);
    DOWN(L.iDoDebit(3, info, data, b), "iDoDebit", 256);
    DOWN(L.iReadDebitRecord(3, b), "iReadDebitRecord", 256);
    {
        char *sn = out_new(&o, 32), *term = out_new(&o2, 16);
        long code;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        code = L.iGetReaderInfo(sn, term);
        check(code == -11 && ms_since(&t0) < 1000 && out_ok(&o) && out_ok(&o2) && sn[0] == '\0' &&
                  term[0] == '\0',
              "iGetReaderInfo without a service: -11, both outputs empty", code);
        out_free(&o);
        out_free(&o2);
    }
#undef DOWN
}

/* ---- mode "full" ---------------------------------------------------------------------------- */

/* A call with one output of `size` bytes (the buffer is `buf`; canaries checked into ok_out). */
#define CALL(expr, size)                                                                           \
    do {                                                                                           \
        buf = out_new(&o, size);                                                                   \
        code = (expr);                                                                             \
        ok_out = out_ok(&o);                                                                       \
        out_free(&o);                                                                              \
    } while (0)

/* The same, keeping the output in the array `keep`. */
#define CALLK(expr, size, keep)                                                                    \
    do {                                                                                           \
        buf = out_new(&o, size);                                                                   \
        code = (expr);                                                                             \
        ok_out = out_ok(&o);                                                                       \
        snprintf(keep, sizeof keep, "%s", ok_out ? buf : "");                                      \
        out_free(&o);                                                                              \
    } while (0)

static void mode_full(void) {
    struct out o, o2;
    char *buf;
    long code;
    int ok_out;
    char line[1024], step[1100], text[20480 + 1];
    char *expected = env_hex("SSCARD_TEST_LINE");
    char *expected_hsm = env_hex("SSCARD_TEST_HSM_LINE");
    const char *route = env("SSCARD_TEST_ROUTE");
    int hsm_mode = strcmp(route, "hsm") == 0;
    char info[160], bad_info[160], addr[] = "SSSEEF05|07|$DF04EF05|84|$", df04[] = "DF04EF05|84|$";
    char bad_addr[] = "SSSEEF05|07$", write1[] = "430100|$", write2[] = "440300|$";
    char *key;

    snprintf(info, sizeof info, "%s", env("SSCARD_TEST_CARDINFO"));
    snprintf(bad_info, sizeof bad_info, "%s", info);
    bad_info[strlen(bad_info) - 2] = bad_info[strlen(bad_info) - 2] == 'X' ? 'Y' : 'X';

    /* the reader */
    {
        char *sn = out_new(&o, 32), *term = out_new(&o2, 16);
        code = L.iGetReaderInfo(sn, term);
        check(code == 0 && out_ok(&o) && out_ok(&o2) && sn[0] != '\0' &&
                  strcmp(term, env("SSCARD_TEST_TERMINAL")) == 0,
              "iGetReaderInfo: the reader and the PSAM terminal number", code);
        out_free(&o);
        out_free(&o2);
    }

    /* iReadCardBas: the PSAM route */
    CALLK(L.iReadCardBas(3, buf), 1024, line);
    if (hsm_mode) {
        check(code == -2201 && ok_out, "iReadCardBas in HSM mode: -2201 (switch to the HSM)", code);
    } else {
        check(code == 0 && ok_out && strcmp(line, expected) == 0,
              "iReadCardBas(3): the national line of sscard read", code);
    }
    CALL(L.iReadCardBas(2, buf), 1024);
    check(code == -1 && ok_out, "iReadCardBas(2): no contactless reader: -1", code);
    CALL(L.iReadCardBas(9, buf), 1024);
    check(code == -14 && ok_out, "iReadCardBas(9): -14", code);

    /* iReadCardBas: the HSM route */
    CALL(L.iReadCardBas_HSM_Step2(step, buf), 1024);
    check(code == -12 && ok_out, "iReadCardBas_HSM_Step2 without Step1: -12", code);
    CALLK(L.iReadCardBas_HSM_Step1(3, buf), 1024, step);
    check(code == 0 && ok_out, "iReadCardBas_HSM_Step1: the 8 factor fields", code);
    key = hsm("basic", step, NULL, 0);
    CALLK(L.iReadCardBas_HSM_Step2(key, buf), 1024, line);
    check(code == 0 && ok_out && strcmp(line, expected_hsm) == 0,
          "iReadCardBas_HSM_Step2 with the TEST HSM's pKey: the same line", code);
    CALLK(L.iReadCardBas_HSM_Step1(3, buf), 1024, step);
    key = hsm("basic", step, NULL, 1);
    CALL(L.iReadCardBas_HSM_Step2(key, buf), 1024);
    check(code == -21 && ok_out, "iReadCardBas_HSM_Step2 with a wrong HSM answer: -21", code);
    CALL(L.iReadCardBas_HSM_Step2(key, buf), 1024);
    check(code == -12 && ok_out, "... and the card was powered down: Step2 again is -12", code);

    /* iReadCard / iWriteCard */
    pins("PIN 123456\n");
    CALLK(L.iReadCard(3, 1, info, addr, buf), 20480, text);
    check(code == 0 && ok_out && strcmp(text, "SSSEEF05|D2143569X|$DF04EF05|420100|$") == 0,
          "iReadCard with the PIN (iAuthType 1)", code);
    CALLK(L.iReadCard(3, 2, info, addr, buf), 20480, text);
    if (hsm_mode) {
        check(code == -2201 && ok_out, "iReadCard with the RK key in HSM mode: -2201", code);
    } else {
        check(code == 0 && ok_out && strcmp(text, "SSSEEF05|D2143569X|$DF04EF05|420100|$") == 0,
              "iReadCard with the RK key through the security module (iAuthType 2)", code);
    }
    CALL(L.iReadCard(3, 2, bad_info, addr, buf), 20480);
    check(code == -22 && ok_out, "iReadCard with another card's pCardInfo: -22", code);
    CALL(L.iReadCard(3, 2, info, bad_addr, buf), 20480);
    check(code == -14 && ok_out, "iReadCard with a malformed pFileAddr: -14", code);
    CALLK(L.iReadCard_HSM_Step1(3, info, df04, buf), 1024, step);
    check(code == 0 && ok_out, "iReadCard_HSM_Step1", code);
    key = hsm("file", step, NULL, 0);
    CALLK(L.iReadCard_HSM_Step2(key, buf), 20480, text);
    check(code == 0 && ok_out && strcmp(text, "DF04EF05|420100|$") == 0,
          "iReadCard_HSM_Step2 with the TEST HSM's pKey", code);
    pins("PIN 123456\n");
    CALL(L.iWriteCard(3, info, df04, write1, buf), 1024);
    check(code == (hsm_mode ? -2201 : 0) && ok_out, "iWriteCard DF04EF05 84 (PIN and RK1DF04)",
          code);
    CALLK(L.iWriteCard_HSM_Step1(3, info, df04, buf), 1024, step);
    check(code == 0 && ok_out, "iWriteCard_HSM_Step1", code);
    key = hsm("file", step, NULL, 0);
    pins("PIN 123456\n");
    {
        char *b = out_new(&o, 1024);
        code = L.iWriteCard_HSM_Step2(key, write2, b);
        check(code == 0 && out_ok(&o), "iWriteCard_HSM_Step2 with the TEST HSM's pKey", code);
        out_free(&o);
    }
    pins("PIN 123456\n");
    CALLK(L.iReadCard(3, 1, info, df04, buf), 20480, text);
    check(code == 0 && ok_out && strcmp(text, "DF04EF05|440300|$") == 0,
          "iReadCard reads back what was written", code);

    /* the PIN */
    pins("PIN 123456\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == -35 && ok_out, "iVerifyPIN with the initial PIN at a sale: -35", code);
    pins("PIN 123456\nPIN 246813\nPIN 135790\n");
    CALL(L.iChangePIN(3, buf), 512);
    check(code == -34 && ok_out, "iChangePIN, the two new entries differ: -34", code);
    pins("PIN 123456\nPIN 123456\nPIN 123456\n");
    CALL(L.iChangePIN(3, buf), 512);
    check(code == -36 && ok_out, "iChangePIN to the initial PIN: -36", code);
    pins("PIN 123456\nPIN 246813\nPIN 246813\n");
    CALL(L.iChangePIN(3, buf), 512);
    check(code == 0 && ok_out, "iChangePIN from the initial PIN to a new one", code);
    pins("PIN 246813\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == 0 && ok_out, "iVerifyPIN with the right PIN", code);
    pins("CANCEL\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == -31 && ok_out, "iVerifyPIN cancelled by the holder: -31", code);
    pins("TIMEOUT\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == -32 && ok_out, "iVerifyPIN timed out: -32", code);
    pins("PIN 12\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == -33 && ok_out, "iVerifyPIN with 2 digits: -33", code);
    {
        int tries;
        for (tries = 5; tries >= 0; tries--) {
            char want[64];
            snprintf(want, sizeof want, "PIN\xd0\xa3\xd1\xe9\xca\xa7\xb0\xdc,"
                                        "\xca\xa3\xd3\xe0\xb4\xce\xca\xfd%d\xb4\xce",
                     tries); /* PIN校验失败,剩余次数N次 */
            pins("PIN 999999\n");
            CALLK(L.iVerifyPIN(3, buf), 512, line);
            check(code == -51 && ok_out && strcmp(line, want) == 0,
                  "iVerifyPIN with a wrong PIN: -51 and the tries left", code);
        }
    }
    pins("PIN 246813\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == -52 && ok_out, "iVerifyPIN on a blocked PIN: -52", code);

    /* unblock and reload */
    if (hsm_mode) {
        CALL(L.iUnblockPIN(3, info, buf), 512);
        check(code == -2201 && ok_out, "iUnblockPIN in HSM mode: -2201", code);
        CALLK(L.iUnblockPIN_HSM_Step1(3, info, buf), 512, step);
        check(code == 0 && ok_out, "iUnblockPIN_HSM_Step1", code);
        key = hsm("auth", step, expected_hsm, 0);
        CALLK(L.iUnblockPIN_HSM_Step2(key, buf), 1024, step);
        check(code == 0 && ok_out, "iUnblockPIN_HSM_Step2", code);
        key = hsm("secure", step, expected_hsm, 0);
        CALL(L.iUnblockPIN_HSM_Step3(key, buf), 1024);
        check(code == 0 && ok_out, "iUnblockPIN_HSM_Step3", code);
        CALLK(L.iReloadPIN_HSM_Step1(3, info, buf), 512, step);
        check(code == 0 && ok_out, "iReloadPIN_HSM_Step1", code);
        key = hsm("auth", step, expected_hsm, 0);
        pins("PIN 975310\nPIN 975310\n");
        CALLK(L.iReloadPIN_HSM_Step2(key, buf), 1024, step); /* holds the new PIN: not printed */
        check(code == 0 && ok_out, "iReloadPIN_HSM_Step2", code);
        key = hsm("secure", step, expected_hsm, 0);
        CALL(L.iReloadPIN_HSM_Step3(key, buf), 1024);
        check(code == 0 && ok_out, "iReloadPIN_HSM_Step3", code);
    } else {
        CALL(L.iUnblockPIN(3, info, buf), 512);
        check(code == 0 && ok_out, "iUnblockPIN through the security module", code);
        pins("PIN 246813\n");
        CALL(L.iVerifyPIN(3, buf), 512);
        check(code == 0 && ok_out, "... the PIN works again", code);
        pins("PIN 975310\nPIN 975310\n");
        CALL(L.iReloadPIN(3, info, buf), 512);
        check(code == 0 && ok_out, "iReloadPIN through the security module", code);
    }
    pins("PIN 975310\n");
    CALL(L.iVerifyPIN(3, buf), 512);
    check(code == 0 && ok_out, "iVerifyPIN with the reloaded PIN", code);

    /* not supported */
    {
        char pay[] = "1.00|";
        CALL(L.iDoDebit(3, info, pay, buf), 256);
        check(code == -13 && ok_out, "iDoDebit: not supported, -13", code);
        CALL(L.iReadDebitRecord(3, buf), 256);
        check(code == -13 && ok_out, "iReadDebitRecord: not supported, -13", code);
    }

    /* hostile arguments: never an overrun */
    {
        char *huge = malloc(30000);
        if (huge == NULL) {
            exit(100);
        }
        memset(huge, 'A', 29999);
        huge[29999] = '\0';
        CALL(L.iReadCard(3, 2, info, huge, buf), 20480);
        check(code == -14 && ok_out, "iReadCard with a pFileAddr longer than 1024: -14", code);
        CALL(L.iReadCardBas_HSM_Step2(NULL, buf), 1024);
        check(code == -14 && ok_out, "iReadCardBas_HSM_Step2(NULL): -14", code);
        code = L.iReadCardBas(3, NULL);
        check(code == -14, "iReadCardBas(3, NULL): -14, nothing written", code);
        free(huge);
    }
    free(expected);
    free(expected_hsm);
}

/* ---- mode "threads" ------------------------------------------------------------------------- */

static char thread_info[160];
static int thread_rounds = 25;

static void *worker(void *arg) {
    int i, *bad = arg;
    char addr[] = "SSSEEF05|07|$";
    for (i = 0; i < thread_rounds; i++) {
        struct out o;
        char *b = out_new(&o, 20480);
        long code = L.iReadCard(3, 2, thread_info, addr, b);
        if (code != 0 || !out_ok(&o) || strcmp(b, "SSSEEF05|D2143569X|$") != 0) {
            (*bad)++;
        }
        out_free(&o);
    }
    return NULL;
}

static void mode_threads(int n) {
    pthread_t t[64];
    int bad[64] = {0}, i, total = 0;
    if (n < 1 || n > 64) {
        n = 8;
    }
    snprintf(thread_info, sizeof thread_info, "%s", env("SSCARD_TEST_CARDINFO"));
    for (i = 0; i < n; i++) {
        pthread_create(&t[i], NULL, worker, &bad[i]);
    }
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        total += bad[i];
    }
    check(total == 0, "threads at once: every answer whole and right", total);
}

/* ---- mode "pin": the PIN functions, in order, with the codes expected ------------------------ */

static void mode_pin(int count, char **calls) {
    struct out o;
    char *buf;
    char name[64];
    long code, want;
    int i, ok_out;
    for (i = 0; i < count; i++) {
        const char *eq = strchr(calls[i], '=');
        int verify = strncmp(calls[i], "verify=", 7) == 0;
        if (eq == NULL || (!verify && strncmp(calls[i], "change=", 7) != 0)) {
            fprintf(stderr, "bad call %s (verify=CODE or change=CODE)\n", calls[i]);
            exit(102);
        }
        want = strtol(eq + 1, NULL, 10);
        buf = out_new(&o, 512);
        code = verify ? L.iVerifyPIN(3, buf) : L.iChangePIN(3, buf);
        ok_out = out_ok(&o);
        out_free(&o);
        snprintf(name, sizeof name, "%s #%d answers %ld", verify ? "iVerifyPIN" : "iChangePIN",
                 i + 1, want);
        check(code == want && ok_out, name, code);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIBRARY down|full|threads [N]|pin CALL=CODE...\n", argv[0]);
        return 102;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    load(argv[1]);
    if (strcmp(argv[2], "down") == 0) {
        mode_down();
    } else if (strcmp(argv[2], "full") == 0) {
        mode_full();
    } else if (strcmp(argv[2], "threads") == 0) {
        mode_threads(argc > 3 ? atoi(argv[3]) : 8);
    } else if (strcmp(argv[2], "pin") == 0) {
        mode_pin(argc - 3, argv + 3);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[2]);
        return 102;
    }
    printf("%d failed\n", failures);
    return failures > 100 ? 100 : failures;
}
