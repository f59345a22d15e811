/* libFuzzer target for the gateway's token handling (gateway/src/auth.c) and URL redaction.
 *
 * The first byte picks what the rest is:
 *   0: a raw token, verified against an HS256 secret - it must never verify (no valid signature
 *      can be guessed) and never crash;
 *   1: "<header JSON>\n<claims JSON>", signed here with the secret, so the claim checks behind the
 *      signature (exp, nbf, tenant_id, scope, types, duplicates) are reached; whatever verifies
 *      must yield a valid tenant id and an expiry in the future;
 *   2: a URL for fv_redact_url: the output is bounded and redacting twice changes nothing.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "flovyn/id.h"
#include "flovyn/log.h"
#include "flovyn/units.h"

static const char SECRET[] = "fuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
static fv_auth *g_auth;

static void init(void)
{
    char path[] = "/tmp/fv-fuzz-auth-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, SECRET, strlen(SECRET)) != (ssize_t)strlen(SECRET))
        abort();
    close(fd);
    fv_auth_config cfg = {.mode = "jwt", .secret_file = path};
    if (fv_auth_create(&cfg, &g_auth, NULL) != FV_OK)
        abort();
    unlink(path);
    fv_log_setup("error", "json", NULL);
}

static size_t b64url(const unsigned char *p, size_t n, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = al[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = al[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

static void check_principal(const fv_principal *p)
{
    if (!fv_id_valid(p->tenant_id, strlen(p->tenant_id)))
        abort();
    if (p->exp_ms <= fv_now_ms() - 60000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_auth)
        init();
    if (size < 1 || size > 6000)
        return 0;
    uint8_t mode = data[0] % 3;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char *s = malloc(n + 1);
    memcpy(s, in, n);
    s[n] = '\0';
    fv_principal p;
    fv_err err = {{0}};
    if (mode == 0) {
        if (fv_auth_verify(g_auth, s, &p, &err) == FV_OK)
            abort(); /* a forged signature verified */
        if (p.allowed || p.tenant_id[0])
            abort(); /* a failure leaves nothing behind */
    } else if (mode == 1) {
        char *nl = memchr(s, '\n', n);
        if (nl) {
            size_t hl = (size_t)(nl - s), cl = n - hl - 1;
            char *tok = malloc(2 * n + 128);
            size_t o = b64url((const unsigned char *)s, hl, tok);
            tok[o++] = '.';
            o += b64url((const unsigned char *)nl + 1, cl, tok + o);
            unsigned char mac[32];
            unsigned int maclen = sizeof mac;
            HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)tok, o, mac, &maclen);
            tok[o++] = '.';
            b64url(mac, maclen, tok + o);
            if (fv_auth_verify(g_auth, tok, &p, &err) == FV_OK) {
                check_principal(&p);
                fv_principal_clear(&p);
            } else if (p.allowed || p.tenant_id[0]) {
                abort();
            }
            free(tok);
        }
    } else {
        char out1[512], out2[512];
        fv_redact_url(s, out1, sizeof out1);
        if (strnlen(out1, sizeof out1) >= sizeof out1)
            abort();
        fv_redact_url(out1, out2, sizeof out2);
        /* idempotent unless the first pass was cut at the buffer's end */
        if (strlen(out1) < sizeof out1 - 1 && strcmp(out1, out2) != 0)
            abort();
    }
    free(s);
    return 0;
}
