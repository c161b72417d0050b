/*
 * digest - SHA-1 (FIPS 180-4) and MD5 (RFC 1321) of a byte string, and their
 * lowercase hexadecimal form: what hashed lists (Spamhaus HBL, MSBL EBL) are
 * asked about. Written from the two definitions; no library.
 *
 * Rules: pure functions of their input, no state between calls, any length
 * (the input is untrusted and read once). Neither is used for security here:
 * the lists chose them, and a hash is only a name to look up. Memory: the
 * caller's buffers only.
 */
#ifndef POLICYD_DIGEST_H
#define POLICYD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* The hashes a hashed list may use (policyd.ini(5), [hashbl] hash). */
enum digest_kind { DIGEST_SHA1 = 1, DIGEST_MD5 = 2 };

#define DIGEST_SHA1_LEN 20
#define DIGEST_MD5_LEN 16
/* The longest hexadecimal digest, and room for its NUL. */
#define DIGEST_HEX_MAX (2 * DIGEST_SHA1_LEN)
#define DIGEST_HEX_SIZE (DIGEST_HEX_MAX + 1)

/* digest_sha1 - the 20-byte SHA-1 of len bytes at data. */
void digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_LEN]);

/* digest_md5 - the 16-byte MD5 of len bytes at data. */
void digest_md5(const void *data, size_t len, uint8_t out[DIGEST_MD5_LEN]);

/*
 * digest_hex - the digest of kind as lowercase hex into buf (NUL-terminated):
 * returns its length (40 or 32), or 0 when size is too small or kind unknown.
 */
size_t digest_hex(enum digest_kind kind, const void *data, size_t len, char *buf, size_t size);

/* digest_name - "sha1" or "md5". */
const char *digest_name(enum digest_kind kind);

#endif
