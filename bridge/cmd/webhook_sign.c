/* webhook_sign.c - Standard Webhooks secrets and HMAC-SHA256 signatures; see webhook_sign.h.
 *
 * OpenSSL does the HMAC and the base64 (one library per job); the only logic here is the
 * whsec_ framing and strict base64 decoding (EVP_DecodeBlock neither rejects bad padding nor
 * reports the padded length, so both are checked by hand).
 */
#include "webhook_sign.h"

#include <ctype.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/params.h>

fv_status fv_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
    if (n > (size_t)INT32_MAX / 2 || cap < 4 * ((n + 2) / 3) + 1)
        return FV_ETOOBIG;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return FV_OK;
}

static bool b64_char(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '/';
}

fv_status fv_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                           size_t *out_len)
{
    if (n == 0 || n % 4 != 0 || n > (size_t)INT32_MAX / 2)
        return FV_EINVAL;
    size_t pad = 0;
    if (in[n - 1] == '=')
        pad = in[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char((unsigned char)in[i]))
            return FV_EINVAL;
    size_t len = n / 4 * 3 - pad;
    if (len > cap)
        return FV_ETOOBIG;
    unsigned char tmp[3 * ((FV_WHSEC_TEXT_MAX + 3) / 4) + 3];
    unsigned char *dst = n / 4 * 3 <= sizeof tmp ? tmp : NULL;
    if (!dst)
        return FV_ETOOBIG;
    if (EVP_DecodeBlock(dst, (const unsigned char *)in, (int)n) < 0)
        return FV_EINVAL;
    memcpy(out, dst, len);
    *out_len = len;
    return FV_OK;
}

fv_status fv_webhook_secret_decode(const char *whsec, unsigned char *key, size_t cap,
                                   size_t *key_len, fv_err *err)
{
    if (!whsec || strncmp(whsec, "whsec_", 6) != 0)
        return fv_err_set(err, FV_EINVAL, "secret: expected the form whsec_<base64>");
    const char *b = whsec + 6;
    size_t n = strlen(b);
    if (fv_base64_decode(b, n, key, cap, key_len) != FV_OK)
        return fv_err_set(err, FV_EINVAL, "secret: the part after whsec_ is not valid base64");
    if (*key_len < FV_WHSEC_MIN_BYTES || *key_len > FV_WHSEC_MAX_BYTES)
        return fv_err_set(err, FV_EINVAL, "secret: key must be %d to %d bytes, got %zu",
                          FV_WHSEC_MIN_BYTES, FV_WHSEC_MAX_BYTES, *key_len);
    return FV_OK;
}

fv_status fv_webhook_secret_normalize(const char *text, size_t len, char *out, size_t cap,
                                      fv_err *err)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--; /* files usually end with a newline that is not part of the secret */
    unsigned char key[FV_WHSEC_MAX_BYTES];
    size_t key_len;
    if (len >= 6 && memcmp(text, "whsec_", 6) == 0) {
        char tmp[FV_WHSEC_TEXT_MAX];
        if (len >= sizeof tmp)
            return fv_err_set(err, FV_EINVAL, "secret: longer than %d bytes", FV_WHSEC_MAX_BYTES);
        memcpy(tmp, text, len);
        tmp[len] = '\0';
        fv_status st = fv_webhook_secret_decode(tmp, key, sizeof key, &key_len, err);
        if (st != FV_OK)
            return st;
    } else {
        if (len < FV_WHSEC_MIN_BYTES || len > FV_WHSEC_MAX_BYTES)
            return fv_err_set(err, FV_EINVAL,
                              "secret: must be %d to %d bytes (or whsec_<base64>), "
                              "got %zu",
                              FV_WHSEC_MIN_BYTES, FV_WHSEC_MAX_BYTES, len);
        memcpy(key, text, len);
        key_len = len;
    }
    if (cap < 6 + 4 * ((key_len + 2) / 3) + 1)
        return fv_err_set(err, FV_ETOOBIG, "secret: output buffer too small");
    memcpy(out, "whsec_", 6);
    return fv_base64_encode(key, key_len, out + 6, cap - 6);
}

fv_status fv_webhook_sign(const unsigned char *key, size_t key_len, const char *msg_id,
                          int64_t timestamp_s, const void *body, size_t body_len, char *out,
                          size_t cap)
{
    if (cap < FV_WEBHOOK_SIG_MAX || key_len > INT32_MAX)
        return FV_ETOOBIG;
    char prefix[160];
    int pn = snprintf(prefix, sizeof prefix, "%s.%" PRId64 ".", msg_id, timestamp_s);
    if (pn < 0 || (size_t)pn >= sizeof prefix)
        return FV_EINVAL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)pn) &&
             EVP_MAC_update(ctx, body, body_len) && EVP_MAC_final(ctx, mac, &outl, sizeof mac);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    if (!ok)
        return FV_EIO;
    mac_len = (unsigned int)outl;
    memcpy(out, "v1,", 3);
    return fv_base64_encode(mac, mac_len, out + 3, cap - 3);
}
