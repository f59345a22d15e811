/* auth.c - who is calling: JWT verification, token sources, minting and URL redaction.
 *
 * The configured key fixes the algorithm: an HS256 secret file means HS256, an RSA public key
 * means RS256, a P-256 public key means ES256. A token's header must name exactly that algorithm
 * (this refuses `none` and the HS256-signed-with-the-public-key-PEM confusion that libjwt 1.10's
 * jwt_decode accepts), and the signature is then checked by the routine of the configured
 * algorithm, never one picked from the token. exp (required), nbf, tenant_id, scope and types are
 * read from the claims here, with jansson, duplicate members refused.
 *
 * Signatures are verified with OpenSSL against a key parsed once at start, not with jwt_decode:
 * libjwt parses the PEM key on every call (~0.5 ms). Measured on this machine, one core, per
 * verification: RS256 847 us with jwt_decode, 55 us here; ES256 1237 us vs 140 us; HS256 22 us vs
 * 12 us. Every SSE connect verifies a token, so a reconnect storm would otherwise be bound by PEM
 * parsing.
 * libjwt still mints the HS256 tokens (`flovyn-gateway token`, demo mode).
 *
 * An fv_auth is immutable after creation, so fv_auth_verify and fv_auth_request are safe to call
 * from every HTTP thread at once (a parsed EVP_PKEY may be used for verification concurrently).
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/log.h"
#include "flovyn/options.h"
#include "flovyn/units.h"

/* RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
#define FV_AUTH_SECRET_MIN 32
#define FV_AUTH_SECRET_MAX 4096
#define FV_AUTH_PEM_MAX (64 * 1024)
/* A compact JWT longer than this is not one we minted or would accept; refuse before parsing. */
#define FV_AUTH_TOKEN_MAX 8192
/* Clock skew tolerated for `nbf` only: a token minted on a host slightly ahead must not bounce. */
#define FV_AUTH_NBF_LEEWAY_S 30

struct fv_auth {
    bool none;
    jwt_alg_t alg;      /* JWT_ALG_HS256, JWT_ALG_RS256 or JWT_ALG_ES256 */
    unsigned char *key; /* secret bytes or PEM text (NUL-terminated) */
    size_t key_len;
    EVP_PKEY *pkey; /* RS256 / ES256: the parsed public key */
};

static bool digest_verify(EVP_PKEY *k, const unsigned char *sig, size_t sig_len, const char *input,
                          size_t n);

/* Reads a whole small file; trailing whitespace stripped when trim (secret files end in "\n"). */
static fv_status read_file(const char *what, const char *path, size_t max, bool trim,
                           unsigned char **out, size_t *out_len, fv_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fv_err_set(err, FV_EINVAL, "%s '%s': %s", what, path, strerror(errno));
    unsigned char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", what);
    }
    size_t n = fread(buf, 1, max + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > max) {
        free(buf);
        return fv_err_set(err, FV_EINVAL, "%s '%s': %s", what, path,
                          failed ? "read error" : "file too large");
    }
    if (trim)
        while (n > 0 && isspace(buf[n - 1]))
            n--;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return FV_OK;
}

static void free_key(unsigned char *key, size_t len)
{
    if (key) {
        OPENSSL_cleanse(key, len);
        free(key);
    }
}

/* The algorithm a PEM public key can verify: RSA (>= 2048 bits) -> RS256, P-256 -> ES256. */
static fv_status pem_alg(const char *path, const unsigned char *pem, size_t len, jwt_alg_t *alg,
                         EVP_PKEY **keep, fv_err *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return fv_err_set(err, FV_ENOMEM, "jwt public key: out of memory");
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!pk)
        return fv_err_set(err, FV_EINVAL,
                          "jwt public key '%s': not a PEM public key (expected \"-----BEGIN "
                          "PUBLIC KEY-----\"; a private key or certificate is not accepted)",
                          path);
    fv_status st = FV_OK;
    int id = EVP_PKEY_get_base_id(pk);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pk) < 2048)
            st = fv_err_set(err, FV_EINVAL, "jwt public key '%s': RSA key of %d bits, need >= 2048",
                            path, EVP_PKEY_get_bits(pk));
        *alg = JWT_ALG_RS256;
    } else if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &glen) ||
            strcmp(group, "prime256v1") != 0)
            st = fv_err_set(err, FV_EINVAL,
                            "jwt public key '%s': EC curve '%s' not supported (ES256 needs P-256)",
                            path, group);
        *alg = JWT_ALG_ES256;
    } else {
        st = fv_err_set(err, FV_EINVAL,
                        "jwt public key '%s': key type not supported (RSA for RS256, EC P-256 for "
                        "ES256)",
                        path);
    }
    if (st == FV_OK)
        *keep = pk;
    else
        EVP_PKEY_free(pk);
    return st;
}

/* Reads an HS256 secret file with the same rules the gateway and `token` share. */
static fv_status read_secret(const char *path, unsigned char **out, size_t *len, fv_err *err)
{
    fv_status st = read_file("jwt secret file", path, FV_AUTH_SECRET_MAX, true, out, len, err);
    if (st != FV_OK)
        return st;
    if (*len < FV_AUTH_SECRET_MIN) {
        size_t n = *len;
        free_key(*out, n);
        *out = NULL;
        return fv_err_set(err, FV_EINVAL,
                          "jwt secret file '%s': %zu bytes, HS256 needs at least %d (e.g. "
                          "`head -c 48 /dev/urandom | base64 > FILE`)",
                          path, n, FV_AUTH_SECRET_MIN);
    }
    return FV_OK;
}

fv_status fv_auth_create(const fv_auth_config *cfg, fv_auth **out, fv_err *err)
{
    *out = NULL;
    const char *mode = cfg && cfg->mode && *cfg->mode ? cfg->mode : "jwt";
    const char *secret = cfg && cfg->secret_file && *cfg->secret_file ? cfg->secret_file : NULL;
    const char *pub =
        cfg && cfg->public_key_file && *cfg->public_key_file ? cfg->public_key_file : NULL;
    fv_auth *a = calloc(1, sizeof *a);
    if (!a)
        return fv_err_set(err, FV_ENOMEM, "auth: out of memory");
    if (!strcmp(mode, "none")) {
        a->none = true;
        fv_log(FV_LOG_WARN, "auth",
               "authentication is OFF (--auth none): any caller acts as the tenant it names in "
               "X-Flovyn-Tenant; for local development only",
               NULL);
        *out = a;
        return FV_OK;
    }
    fv_status st;
    if (strcmp(mode, "jwt") != 0) {
        st = fv_err_set(err, FV_EINVAL, "auth: mode '%s' is not jwt or none", mode);
    } else if (secret && pub) {
        st = fv_err_set(err, FV_EINVAL,
                        "auth: give either --jwt-secret-file (HS256) or --jwt-public-key-file "
                        "(RS256/ES256), not both");
    } else if (!secret && !pub) {
        st = fv_err_set(err, FV_EINVAL,
                        "auth: jwt mode needs a key: --jwt-secret-file (HS256) or "
                        "--jwt-public-key-file (RS256/ES256); --auth none disables "
                        "authentication for local development");
    } else if (secret) {
        a->alg = JWT_ALG_HS256;
        st = read_secret(secret, &a->key, &a->key_len, err);
    } else {
        st = read_file("jwt public key file", pub, FV_AUTH_PEM_MAX, false, &a->key, &a->key_len,
                       err);
        if (st == FV_OK)
            st = pem_alg(pub, a->key, a->key_len, &a->alg, &a->pkey, err);
        /* the first use of a key exports it to the provider; do it here, on one thread */
        if (st == FV_OK) {
            unsigned char zero[64] = {0};
            (void)digest_verify(a->pkey, zero, sizeof zero, "warm-up", 7);
        }
    }
    if (st != FV_OK) {
        fv_auth_destroy(a);
        return st;
    }
    *out = a;
    return FV_OK;
}

void fv_auth_destroy(fv_auth *a)
{
    if (!a)
        return;
    free_key(a->key, a->key_len);
    EVP_PKEY_free(a->pkey);
    free(a);
}

bool fv_auth_is_none(const fv_auth *a)
{
    return a && a->none;
}

void fv_principal_clear(fv_principal *p)
{
    if (!p)
        return;
    fv_types_filter_destroy(p->allowed);
    memset(p, 0, sizeof *p);
}

/* `scope`: a space-separated string (RFC 8693) or an array of strings. Unknown scopes are
 * ignored: a token may carry scopes for other services. */
static fv_status read_scope(json_t *scope, fv_principal *p, fv_err *err)
{
    if (!scope) {
        p->can_read = p->can_write = true;
        return FV_OK;
    }
    if (json_is_string(scope)) {
        const char *s = json_string_value(scope);
        size_t n = json_string_length(scope);
        size_t i = 0;
        while (i < n) {
            while (i < n && s[i] == ' ')
                i++;
            size_t b = i;
            while (i < n && s[i] != ' ')
                i++;
            if (i - b == 11 && !memcmp(s + b, "events:read", 11))
                p->can_read = true;
            else if (i - b == 12 && !memcmp(s + b, "events:write", 12))
                p->can_write = true;
        }
        return FV_OK;
    }
    if (json_is_array(scope)) {
        size_t i;
        json_t *v;
        json_array_foreach(scope, i, v)
        {
            if (!json_is_string(v))
                return fv_err_set(err, FV_EAUTH, "token: scope array holds a non-string");
            if (!strcmp(json_string_value(v), "events:read"))
                p->can_read = true;
            else if (!strcmp(json_string_value(v), "events:write"))
                p->can_write = true;
        }
        return FV_OK;
    }
    return fv_err_set(err, FV_EAUTH, "token: scope is not a string");
}

/* `types`: a types spec string ("workflow,token") or an array of items. */
static fv_status read_types(json_t *types, fv_principal *p, fv_err *err)
{
    if (!types)
        return FV_OK;
    fv_buf spec = FV_BUF_INIT;
    fv_status st = FV_OK;
    if (json_is_string(types)) {
        /* a NUL inside would silently cut the list short */
        if (strlen(json_string_value(types)) != json_string_length(types))
            st = fv_err_set(err, FV_EAUTH, "token: types claim holds a NUL byte");
        else
            fv_buf_append(&spec, json_string_value(types), json_string_length(types));
    } else if (json_is_array(types)) {
        size_t i;
        json_t *v;
        json_array_foreach(types, i, v)
        {
            const char *s = json_string_value(v);
            /* an item may not smuggle a second item in: the array is the list */
            if (!s || strchr(s, ',') || !*s || strlen(s) != json_string_length(v)) {
                st = fv_err_set(err, FV_EAUTH, "token: types item %zu is not a single type", i + 1);
                break;
            }
            if (i)
                fv_buf_putc(&spec, ',');
            fv_buf_puts(&spec, s);
        }
    } else {
        st = fv_err_set(err, FV_EAUTH, "token: types is not a string or an array of strings");
    }
    if (st == FV_OK && fv_buf_status(&spec) != FV_OK)
        st = fv_err_set(err, FV_ENOMEM, "token: out of memory");
    if (st == FV_OK) {
        /* An empty claim could only mean "nothing" or "everything"; neither is safe to guess. */
        const char *s = spec.data ? spec.data : "";
        bool blank = true;
        for (const char *c = s; *c; c++)
            if (!isspace((unsigned char)*c) && *c != ',')
                blank = false;
        if (blank) {
            st = fv_err_set(err, FV_EAUTH, "token: types claim is empty");
        } else {
            fv_err terr = {{0}};
            st = fv_types_filter_parse(s, FV_TYPES_DEFAULT_ALL, &p->allowed, &terr);
            if (st != FV_OK)
                st = fv_err_set(err, FV_EAUTH, "token: types claim: %s", terr.msg);
        }
    }
    fv_buf_free(&spec);
    return st;
}

/* A NumericDate (RFC 7519 §2): seconds, possibly fractional. */
static bool numeric_date(json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!(d > -1e13 && d < 1e13)) /* also rejects NaN; keeps *1000 inside int64 */
        return false;
    *out = d;
    return true;
}

static fv_status check_claims(json_t *c, fv_principal *p, fv_err *err)
{
    fv_status st = FV_OK;
    double now = (double)fv_now_ms() / 1000.0;
    double exp = 0, nbf = 0;
    json_t *jexp = json_object_get(c, "exp");
    json_t *jnbf = json_object_get(c, "nbf");
    json_t *jten = json_object_get(c, "tenant_id");
    if (!jexp) {
        st = fv_err_set(err, FV_EAUTH, "token: exp claim is required");
    } else if (!numeric_date(jexp, &exp)) {
        st = fv_err_set(err, FV_EAUTH, "token: exp is not a number of seconds");
    } else if (now >= exp) {
        st = fv_err_set(err, FV_EAUTH, "token: expired");
    } else if (jnbf && !numeric_date(jnbf, &nbf)) {
        st = fv_err_set(err, FV_EAUTH, "token: nbf is not a number of seconds");
    } else if (jnbf && now + FV_AUTH_NBF_LEEWAY_S < nbf) {
        st = fv_err_set(err, FV_EAUTH, "token: not valid yet (nbf)");
    } else if (!jten) {
        st = fv_err_set(err, FV_EAUTH, "token: tenant_id claim is required");
    } else if (!json_is_string(jten)) {
        st = fv_err_set(err, FV_EAUTH, "token: tenant_id is not a string");
    } else {
        fv_err ierr = {{0}};
        const char *t = json_string_value(jten);
        size_t tl = json_string_length(jten);
        if (fv_id_validate("tenant_id", t, tl, &ierr) != FV_OK)
            st = fv_err_set(err, FV_EAUTH, "token: %s", ierr.msg);
        else
            memcpy(p->tenant_id, t, tl + 1);
    }
    if (st == FV_OK) {
        p->exp_ms = (int64_t)(exp * 1000.0);
        st = read_scope(json_object_get(c, "scope"), p, err);
    }
    if (st == FV_OK)
        st = read_types(json_object_get(c, "types"), p, err);
    return st;
}

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* base64url without padding (RFC 7515 §2), canonical only (unused trailing bits zero), so one
 * signature has one spelling. false on anything else or when out is too small. */
static bool b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *len)
{
    if (n % 4 == 1)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return false;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return false;
    *len = o;
    return true;
}

/* One JOSE segment as a JSON object, duplicate members refused: a token whose `alg` or
 * `tenant_id` appears twice means different things to different parsers. */
static json_t *segment_object(const char *s, size_t n)
{
    if (n == 0)
        return NULL;
    size_t cap = n / 4 * 3 + 3, len;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return NULL;
    json_t *j = NULL;
    if (b64url_decode(s, n, buf, cap, &len))
        j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static bool digest_verify(EVP_PKEY *k, const unsigned char *sig, size_t sig_len, const char *input,
                          size_t n)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
              EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, n) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* The signature over "header.claims" by the configured algorithm's routine. */
static bool signature_ok(const fv_auth *a, const char *input, size_t n, const unsigned char *sig,
                         size_t sig_len)
{
    if (a->alg == JWT_ALG_HS256) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (sig_len != 32 || !HMAC(EVP_sha256(), a->key, (int)a->key_len,
                                   (const unsigned char *)input, n, mac, &mac_len))
            return false;
        return mac_len == 32 && CRYPTO_memcmp(mac, sig, 32) == 0;
    }
    if (a->alg == JWT_ALG_RS256)
        return digest_verify(a->pkey, sig, sig_len, input, n);
    /* ES256 (RFC 7518 §3.4): R || S, 32 bytes each; OpenSSL wants DER */
    if (sig_len != 64)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    bool ok = der_len > 0 && digest_verify(a->pkey, der, (size_t)der_len, input, n);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

fv_status fv_auth_verify(fv_auth *a, const char *token, fv_principal *out, fv_err *err)
{
    memset(out, 0, sizeof *out);
    if (!a || a->none)
        return fv_err_set(err, FV_EAUTH, "auth: tokens are not used with --auth none");
    if (!token || !*token)
        return fv_err_set(err, FV_EAUTH, "token: missing");
    size_t n = strnlen(token, FV_AUTH_TOKEN_MAX + 1);
    if (n > FV_AUTH_TOKEN_MAX)
        return fv_err_set(err, FV_EAUTH, "token: longer than %d bytes", FV_AUTH_TOKEN_MAX);
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)token[i];
        if (ch == '.')
            dots++;
        else if (!isalnum(ch) && ch != '-' && ch != '_')
            return fv_err_set(err, FV_EAUTH, "token: not a compact JWT (byte %zu)", i + 1);
    }
    if (dots != 2)
        return fv_err_set(err, FV_EAUTH, "token: not a compact JWT (needs 3 parts)");

    const char *d1 = strchr(token, '.');
    const char *d2 = strchr(d1 + 1, '.');
    /* Header first, unverified, only to refuse a foreign algorithm before any key is used. */
    json_t *hdr = segment_object(token, (size_t)(d1 - token));
    if (!hdr)
        return fv_err_set(err, FV_EAUTH, "token: header is not a JSON object");
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *want = jwt_alg_str(a->alg);
    fv_status st = FV_OK;
    if (json_object_get(hdr, "crit"))
        st = fv_err_set(err, FV_EAUTH, "token: critical header extensions are not supported");
    else if (!alg || strcmp(alg, want) != 0)
        st = fv_err_set(err, FV_EAUTH, "token: alg %.16s, the gateway accepts only %s",
                        alg ? alg : "missing", want);
    json_decref(hdr);
    if (st != FV_OK)
        return st;

    unsigned char sig[512]; /* RSA-4096 signatures fit */
    size_t sig_len = 0;
    if (!b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - token), sig, sizeof sig, &sig_len) ||
        !signature_ok(a, token, (size_t)(d2 - token), sig, sig_len))
        return fv_err_set(err, FV_EAUTH, "token: signature does not verify");
    json_t *claims = segment_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!claims)
        return fv_err_set(err, FV_EAUTH,
                          "token: claims are not a JSON object (or repeat a member)");
    st = check_claims(claims, out, err);
    json_decref(claims);
    if (st != FV_OK)
        fv_principal_clear(out);
    return st;
}

fv_status fv_auth_request(fv_auth *a, struct MHD_Connection *conn, bool is_get, fv_principal *out,
                          fv_err *err)
{
    memset(out, 0, sizeof *out);
    if (a->none) {
        const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Flovyn-Tenant");
        if (!t || !*t)
            return fv_err_set(err, FV_EAUTH,
                              "X-Flovyn-Tenant header is required (gateway runs with --auth none)");
        fv_err ierr = {{0}};
        size_t tl = strnlen(t, FV_ID_MAX + 1);
        if (fv_id_validate("X-Flovyn-Tenant", t, strlen(t), &ierr) != FV_OK)
            return fv_err_set(err, FV_EAUTH, "%s", ierr.msg);
        memcpy(out->tenant_id, t, tl + 1);
        out->can_read = out->can_write = true;
        return FV_OK;
    }
    const char *token = NULL;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h) {
        /* A present but unusable Authorization header is an error, not a cue to look elsewhere:
         * falling back would let a stale cookie silently win over what the client sent. */
        while (*h == ' ')
            h++;
        if (strncasecmp(h, "Bearer ", 7) != 0)
            return fv_err_set(err, FV_EAUTH, "Authorization: expected 'Bearer <token>'");
        h += 7;
        while (*h == ' ')
            h++;
        token = h;
    }
    if (!token)
        token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "access_token");
    /* Cookies ride along on cross-site requests; reading is their only use (no CSRF writes). */
    if (!token && is_get)
        token = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "flovyn_token");
    if (!token || !*token)
        return fv_err_set(err, FV_EAUTH,
                          "missing token: send Authorization: Bearer <JWT> or ?access_token=");
    /* trailing spaces after a Bearer token are not part of it */
    char buf[FV_AUTH_TOKEN_MAX + 1];
    size_t n = strnlen(token, sizeof buf);
    if (n >= sizeof buf)
        return fv_err_set(err, FV_EAUTH, "token: longer than %d bytes", FV_AUTH_TOKEN_MAX);
    while (n > 0 && token[n - 1] == ' ')
        n--;
    memcpy(buf, token, n);
    buf[n] = '\0';
    return fv_auth_verify(a, buf, out, err);
}

fv_status fv_auth_mint_hs256(const char *secret, size_t secret_len, const char *tenant_id,
                             int64_t ttl_ms, const char *scope, const char *types, char **out,
                             fv_err *err)
{
    *out = NULL;
    if (!secret || secret_len == 0)
        return fv_err_set(err, FV_EINVAL, "token: empty secret");
    if (!tenant_id)
        return fv_err_set(err, FV_EINVAL, "tenant: required");
    fv_status st = fv_id_validate("tenant", tenant_id, strlen(tenant_id), err);
    if (st != FV_OK)
        return st;
    if (ttl_ms <= 0)
        return fv_err_set(err, FV_EINVAL, "ttl: must be positive");
    if (types) {
        fv_types_filter *f = NULL;
        st = fv_types_filter_parse(types, FV_TYPES_DEFAULT_ALL, &f, err);
        fv_types_filter_destroy(f);
        if (st != FV_OK)
            return st;
    }
    int64_t now = fv_now_ms();
    /* round exp up so a 1 s ttl never mints an already expired token */
    long iat = (long)(now / 1000);
    long exp = (long)((now + ttl_ms + 999) / 1000);
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0)
        return fv_err_set(err, FV_ENOMEM, "token: out of memory");
    int rc = jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)secret_len);
    rc = rc ? rc : jwt_add_grant(j, "tenant_id", tenant_id);
    rc = rc ? rc : jwt_add_grant_int(j, "iat", iat);
    rc = rc ? rc : jwt_add_grant_int(j, "exp", exp);
    if (scope && *scope)
        rc = rc ? rc : jwt_add_grant(j, "scope", scope);
    if (types && *types)
        rc = rc ? rc : jwt_add_grant(j, "types", types);
    char *s = rc ? NULL : jwt_encode_str(j);
    jwt_free(j);
    if (!s)
        return fv_err_set(err, FV_EINVAL, "token: signing failed (%s)", strerror(rc ? rc : errno));
    /* libjwt allocates with its own allocator (malloc by default); hand back a plain malloc'd copy
     * so callers free() without knowing about libjwt */
    *out = strdup(s);
    free(s);
    return *out ? FV_OK : fv_err_set(err, FV_ENOMEM, "token: out of memory");
}

fv_status fv_auth_mint(const fv_auth *a, const char *tenant_id, int64_t ttl_ms, const char *scope,
                       const char *types, char **out, fv_err *err)
{
    *out = NULL;
    if (!a || a->none || a->alg != JWT_ALG_HS256)
        return fv_err_set(err, FV_ENOTSUP,
                          "token: the gateway can mint only with an HS256 secret file");
    return fv_auth_mint_hs256((const char *)a->key, a->key_len, tenant_id, ttl_ms, scope, types,
                              out, err);
}

typedef struct token_cfg {
    const char *tenant;
    int64_t ttl_ms;
    const char *secret_file;
    const char *scope;
    const char *types;
} token_cfg;

static const fv_option token_options[] = {
    {"tenant", FV_OPT_STRING, offsetof(token_cfg, tenant), NULL, "tenant id the token is for"},
    {"ttl", FV_OPT_DURATION, offsetof(token_cfg, ttl_ms), "1h", "lifetime of the token"},
    {"jwt-secret-file", FV_OPT_STRING, offsetof(token_cfg, secret_file), NULL,
     "HS256 secret file (the gateway's --jwt-secret-file)"},
    {"scope", FV_OPT_STRING, offsetof(token_cfg, scope), NULL,
     "space-separated: events:read events:write (absent = both)"},
    {"types", FV_OPT_STRING, offsetof(token_cfg, types), NULL,
     "types the token may read (the `types` query grammar)"},
    {NULL, 0, 0, NULL, NULL},
};

static int token_usage(FILE *out)
{
    const fv_option *const tables[] = {token_options};
    fprintf(out, "usage: flovyn-gateway token --tenant T [--ttl 1h] --jwt-secret-file F "
                 "[--scope \"events:read events:write\"] [--types ...]\n"
                 "Prints an HS256 token for the gateway.\n"
                 "\n"
                 "Example:\n"
                 "  flovyn-gateway token --tenant acme --ttl 1h --jwt-secret-file jwt.secret "
                 "--scope events:read\n"
                 "\noptions:\n");
    fv_options_help(tables, 1, out);
    return 0;
}

int fv_auth_token_main(int argc, char **argv)
{
    token_cfg cfg = {0};
    const fv_option *const tables[] = {token_options};
    fv_options_result res;
    fv_err err = {{0}};
    if (fv_options_parse(tables, 1, &cfg, argc, argv, &res, &err) != FV_OK) {
        fprintf(stderr, "flovyn-gateway token: %s\n", err.msg);
        return 2;
    }
    if (res.help)
        return token_usage(stdout);
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-gateway token: unexpected argument '%s'\n", res.positional[0]);
        return 2;
    }
    if (!cfg.tenant || !cfg.secret_file) {
        fprintf(stderr, "flovyn-gateway token: --tenant and --jwt-secret-file are required\n");
        token_usage(stderr);
        return 2;
    }
    if (cfg.scope) {
        /* minting a token with a misspelled scope would produce one that silently can't do
         * anything; refuse instead */
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", cfg.scope);
        for (char *save = NULL, *w = strtok_r(tmp, " ", &save); w; w = strtok_r(NULL, " ", &save))
            if (strcmp(w, "events:read") != 0 && strcmp(w, "events:write") != 0) {
                fprintf(stderr,
                        "flovyn-gateway token: scope '%s' unknown (events:read, events:write)\n",
                        w);
                return 2;
            }
    }
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    if (read_secret(cfg.secret_file, &secret, &secret_len, &err) != FV_OK) {
        fprintf(stderr, "flovyn-gateway token: %s\n", err.msg);
        return 2;
    }
    char *tok = NULL;
    fv_status st = fv_auth_mint_hs256((const char *)secret, secret_len, cfg.tenant, cfg.ttl_ms,
                                      cfg.scope, cfg.types, &tok, &err);
    free_key(secret, secret_len);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-gateway token: %s\n", err.msg);
        return st == FV_EINVAL ? 2 : 1;
    }
    printf("%s\n", tok);
    free(tok);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Compares a raw query key with "access_token" as the HTTP server will see it: percent-decoded
 * and '+' as space, so `access%5Ftoken=` is redacted too. */
static bool is_token_key(const char *k, size_t n)
{
    static const char want[] = "access_token";
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (c == '%' && i + 2 < n && hexval(k[i + 1]) >= 0 && hexval(k[i + 2]) >= 0) {
            c = (char)(hexval(k[i + 1]) * 16 + hexval(k[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (w >= sizeof want - 1 || want[w] != c)
            return false;
        w++;
    }
    return w == sizeof want - 1;
}

void fv_redact_url(const char *url, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    out[0] = '\0';
    if (!url)
        return;
    size_t o = 0;
#define PUT(p, n)                                                                                  \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (n_ > cap - 1 - o)                                                                      \
            n_ = cap - 1 - o;                                                                      \
        memcpy(out + o, (p), n_);                                                                  \
        o += n_;                                                                                   \
    } while (0)
    const char *q = strchr(url, '?');
    if (!q) {
        PUT(url, strlen(url));
        out[o] = '\0';
        return;
    }
    PUT(url, (size_t)(q - url) + 1);
    const char *p = q + 1;
    while (*p) {
        const char *end = p + strcspn(p, "&;#");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen = eq ? (size_t)(eq - p) : (size_t)(end - p);
        if (eq && is_token_key(p, klen)) {
            PUT(p, klen + 1);
            PUT("REDACTED", 8);
        } else {
            PUT(p, (size_t)(end - p));
        }
        if (!*end)
            break;
        if (*end == '#') { /* a fragment is not a query: copy as is */
            PUT(end, strlen(end));
            break;
        }
        PUT(end, 1);
        p = end + 1;
    }
#undef PUT
    out[o] = '\0';
}
