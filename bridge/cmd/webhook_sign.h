/* webhook_sign.h - Standard Webhooks secrets and signatures.
 *
 * A secret is stored as `whsec_<base64 of the key bytes>`; a subscriber that was given raw bytes
 * gets them normalised into that form once, at `subscriptions add`. The signature of a request is
 * `v1,<base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))>`, so a receiver
 * verifies with any Standard Webhooks library.
 */
#ifndef FLOVYN_WEBHOOK_SIGN_H
#define FLOVYN_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

#define FV_WHSEC_MIN_BYTES 16
#define FV_WHSEC_MAX_BYTES 512
#define FV_WHSEC_TEXT_MAX (6 + 4 * ((FV_WHSEC_MAX_BYTES + 2) / 3) + 1)
#define FV_WEBHOOK_SIG_MAX 64 /* "v1," + 44 base64 + NUL fits */

/* Secret text as given (file contents, trailing whitespace ignored): `whsec_<base64>` is decoded
 * and re-encoded canonically; anything else is taken as the raw key bytes. Writes the whsec form
 * into out (cap >= FV_WHSEC_TEXT_MAX). */
fv_status fv_webhook_secret_normalize(const char *text, size_t len, char *out, size_t cap,
                                      fv_err *err);
/* Key bytes of a `whsec_<base64>` secret (key cap >= FV_WHSEC_MAX_BYTES). */
fv_status fv_webhook_secret_decode(const char *whsec, unsigned char *key, size_t cap,
                                   size_t *key_len, fv_err *err);
/* `v1,<base64 HMAC>` into out (cap >= FV_WEBHOOK_SIG_MAX). */
fv_status fv_webhook_sign(const unsigned char *key, size_t key_len, const char *msg_id,
                          int64_t timestamp_s, const void *body, size_t body_len, char *out,
                          size_t cap);

/* base64 (standard alphabet, padded) helpers shared with the DLQ headers */
fv_status fv_base64_encode(const void *in, size_t n, char *out, size_t cap);
fv_status fv_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                           size_t *out_len);

#endif
