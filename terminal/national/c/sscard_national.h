/*
 * sscard_national.h - the national social security card reader interface (LD/T 33-2015,
 * SCRW2), as exported by libsscard-national.so (also installable as libSSCardDriver.so).
 *
 * Every function forwards to the sscard service (a per-user process that owns the readers, the
 * card session, PIN entry and the security module) over the Unix socket named by SSCARD_SOCKET,
 * else $XDG_RUNTIME_DIR/sscard/service.sock, else $TMPDIR (or /tmp)/sscard-<uid>/service.sock.
 *
 * Conventions (national-interface.md section 1):
 *   - every function returns 0 on success; otherwise a national error code, and pOutInfo (when
 *     the function has one) holds the error text;
 *   - strings are GBK and NUL-terminated; the caller allocates every buffer; the library never
 *     writes more than the size given below, NUL included;
 *   - an input string may hold at most the size given below (its NUL not counted);
 *   - iType: 1 contact, 2 contactless, 3 auto (contact first), 4 auto (contactless first);
 *   - the HSM step groups are stateful per calling thread (one connection per thread): Step1 and
 *     its Step2/Step3 must be called from the same thread;
 *   - with no service running every function returns -11 within a second;
 *   - the library is thread-safe; the service serves one operation at a time per reader.
 *
 * Sizes (bytes): the comment after each parameter.  Link with -lsscard-national (or
 * -lSSCardDriver), or dlopen() the library and dlsym() the names.
 */
#ifndef SSCARD_NATIONAL_H
#define SSCARD_NATIONAL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (national-interface.md section 4); any other status word of the card is
 * -(SW1 * 256 + SW2), e.g. 6A82 -> -27266. */
#define SSCARD_OK 0L
#define SSCARD_E_CARD_TYPE -1L
#define SSCARD_E_NO_CARD -2L
#define SSCARD_E_CARD_MUTE -4L
#define SSCARD_E_READER -11L
#define SSCARD_E_NOT_CONNECTED -12L
#define SSCARD_E_NOT_SUPPORTED -13L
#define SSCARD_E_PARAMETER -14L
#define SSCARD_E_CARD_ID_FORMAT -20L
#define SSCARD_E_INTERNAL_AUTH -21L
#define SSCARD_E_DATA_MISMATCH -22L
#define SSCARD_E_DATA_INVALID -23L
#define SSCARD_E_PSAM_KEY_LEVEL -24L
#define SSCARD_E_PIN_CANCELLED -31L
#define SSCARD_E_PIN_TIMEOUT -32L
#define SSCARD_E_PIN_LENGTH -33L
#define SSCARD_E_PIN_MISMATCH -34L
#define SSCARD_E_INITIAL_PIN -35L
#define SSCARD_E_NEW_PIN_INITIAL -36L
#define SSCARD_E_HSM_CHARACTERS -41L
#define SSCARD_E_HSM_LENGTH -42L
#define SSCARD_E_PIN_WRONG -51L
#define SSCARD_E_PIN_BLOCKED -52L
#define SSCARD_E_NO_PSAM -2201L
#define SSCARD_E_PSAM_ALGORITHM -2202L
#define SSCARD_E_PSAM_NO_RKSSSE -2203L

/* Basic data: 区划|社会保障号码|卡号|卡识别码|姓名|历史字节|规范版本|发卡日期|卡有效期|终端机编号|终端设备号| */
long iReadCardBas(int iType, char* pOutInfo /* out 1024 */);
long iReadCardBas_HSM_Step1(int iType, char* pOutInfo /* out 1024 */);
long iReadCardBas_HSM_Step2(char* pKey /* in 128 */, char* pOutInfo /* out 1024 */);

/* Files by address: pFileAddr "DF04EF05|84|$SSSEEF05|07|$", pCardInfo "卡识别码|卡号|". */
long iReadCard(int iType, int iAuthType, char* pCardInfo /* in 128 */,
               char* pFileAddr /* in 1024 */, char* pOutInfo /* out 20480 */);
long iReadCard_HSM_Step1(int iType, char* pCardInfo /* in 128 */, char* pFileAddr /* in 1024 */,
                         char* pOutInfo /* out 1024 */);
long iReadCard_HSM_Step2(char* pKey /* in 32 */, char* pOutInfo /* out 20480 */);
long iWriteCard(int iType, char* pCardInfo /* in 128 */, char* pFileAddr /* in 1024 */,
                char* pWriteData /* in 20480 */, char* pOutInfo /* out 1024 */);
long iWriteCard_HSM_Step1(int iType, char* pCardInfo /* in 128 */, char* pFileAddr /* in 1024 */,
                          char* pOutInfo /* out 1024 */);
long iWriteCard_HSM_Step2(char* pKey /* in 32 */, char* pWriteData /* in 20480 */,
                          char* pOutInfo /* out 1024 */);

/* The PIN: entered by the holder (PIN pad or the service's prompt), never passed here. */
long iVerifyPIN(int iType, char* pOutInfo /* out 512 */);
long iChangePIN(int iType, char* pOutInfo /* out 512 */);
long iReloadPIN(int iType, char* pCardInfo /* in 128 */, char* pOutInfo /* out 512 */);
long iReloadPIN_HSM_Step1(int iType, char* pCardInfo /* in 128 */, char* pOutInfo /* out 512 */);
long iReloadPIN_HSM_Step2(char* pKey /* in 32 */, char* pOutInfo /* out 1024 */);
long iReloadPIN_HSM_Step3(char* pKey /* in 50 */, char* pOutInfo /* out 1024 */);
long iUnblockPIN(int iType, char* pCardInfo /* in 128 */, char* pOutInfo /* out 512 */);
long iUnblockPIN_HSM_Step1(int iType, char* pCardInfo /* in 128 */, char* pOutInfo /* out 512 */);
long iUnblockPIN_HSM_Step2(char* pKey /* in 32 */, char* pOutInfo /* out 1024 */);
long iUnblockPIN_HSM_Step3(char* pKey /* in 18 */, char* pOutInfo /* out 1024 */);

/* Not supported by sscard (answer -13): the offline medical debit and its log. */
long iDoDebit(int iType, char* pCardInfo /* in 128 */, char* pPayInfo /* in 1024 */,
              char* pOutInfo /* out 256 */);
long iReadDebitRecord(int iType, char* pOutInfo /* out 256 */);

/* Vendor extra: the reader's name and the PSAM's terminal number ("000000000000": none). */
long iGetReaderInfo(char* pReaderSN /* out 32 */, char* pPsamTermNo /* out 16 */);

#ifdef __cplusplus
}
#endif

#endif /* SSCARD_NATIONAL_H */
