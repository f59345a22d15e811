/* Unit tests of the gateway's auth module: JWT verification (algorithm pinned by the configured
 * key, exp/nbf, tenant, scope, types), the token sources of a real HTTP request (an in-process
 * libmicrohttpd daemon and libcurl), minting and the `token` command, and URL redaction.
 *
 * RSA and EC keys are generated at run time with OpenSSL; no private key is committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <jwt.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "fixture.h"
#include "flovyn/units.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";

typedef struct keys {
    char dir[256];
    char secret_path[300];
    char rsa_pub_path[300], rsa2_pub_path[300], ec_pub_path[300], rsa_priv_path[300];
    char *rsa_priv, *rsa_pub, *rsa2_priv, *ec_priv, *ec_pub;
    EVP_PKEY *ec; /* for hand-made ES256 signatures */
} keys;

static keys K;

static char *pem_of(EVP_PKEY *pk, bool priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = priv ? PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_bio_PUBKEY(b, pk);
    assert_true(ok);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static int setup_keys(void **state)
{
    if (fv_test_tmpdir(K.dir, sizeof K.dir, "auth") != 0)
        return -1;
    snprintf(K.secret_path, sizeof K.secret_path, "%s/secret", K.dir);
    write_file(K.secret_path, SECRET);

    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    K.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa || !rsa2 || !K.ec)
        return -1;
    K.rsa_priv = pem_of(rsa, true);
    K.rsa_pub = pem_of(rsa, false);
    K.rsa2_priv = pem_of(rsa2, true);
    K.ec_priv = pem_of(K.ec, true);
    K.ec_pub = pem_of(K.ec, false);
    char *rsa2_pub = pem_of(rsa2, false);
    snprintf(K.rsa_pub_path, sizeof K.rsa_pub_path, "%s/rsa.pub.pem", K.dir);
    snprintf(K.rsa2_pub_path, sizeof K.rsa2_pub_path, "%s/rsa2.pub.pem", K.dir);
    snprintf(K.ec_pub_path, sizeof K.ec_pub_path, "%s/ec.pub.pem", K.dir);
    snprintf(K.rsa_priv_path, sizeof K.rsa_priv_path, "%s/rsa.key.pem", K.dir);
    write_file(K.rsa_pub_path, K.rsa_pub);
    write_file(K.rsa2_pub_path, rsa2_pub);
    write_file(K.ec_pub_path, K.ec_pub);
    write_file(K.rsa_priv_path, K.rsa_priv);
    free(rsa2_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    return 0;
}

static int teardown_keys(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", K.dir);
    int rc = system(cmd);
    (void)rc;
    free(K.rsa_priv);
    free(K.rsa_pub);
    free(K.rsa2_priv);
    free(K.ec_priv);
    free(K.ec_pub);
    EVP_PKEY_free(K.ec);
    return 0;
}

/* A token with the given claims signed by libjwt (alg none: key NULL). */
static char *sign(jwt_alg_t alg, const void *key, size_t keylen, const char *claims)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims), 0);
    assert_int_equal(jwt_set_alg(j, alg, key, (int)keylen), 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(t);
    return t;
}

static char *hs(const char *claims)
{
    return sign(JWT_ALG_HS256, SECRET, strlen(SECRET), claims);
}

/* claims valid for an hour for tenant t plus extra members */
static const char *claims(const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "{\"tenant_id\":\"acme\",\"exp\":%lld%s%s}",
             (long long)(fv_now_ms() / 1000 + 3600), extra ? "," : "", extra ? extra : "");
    return buf;
}

static fv_auth *auth_hs(void)
{
    fv_auth_config c = {.mode = "jwt", .secret_file = K.secret_path};
    fv_auth *a = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_auth_create(&c, &a, &err), FV_OK);
    return a;
}

static fv_auth *auth_pub(const char *path)
{
    fv_auth_config c = {.mode = "jwt", .public_key_file = path};
    fv_auth *a = NULL;
    fv_err err = {{0}};
    fv_status st = fv_auth_create(&c, &a, &err);
    if (st != FV_OK)
        fail_msg("create: %s", err.msg);
    return a;
}

/* verifies and returns the status; err message into msg */
static fv_status verify(fv_auth *a, const char *tok, fv_principal *p, char *msg)
{
    fv_err err = {{0}};
    fv_status st = fv_auth_verify(a, tok, p, &err);
    if (msg)
        strcpy(msg, err.msg);
    return st;
}

static void test_hs256_minted_token_verifies_with_tenant_scopes_and_exp(void **state)
{
    fv_auth *a = auth_hs();
    char *tok = NULL;
    fv_err err = {{0}};
    int64_t before = fv_now_ms();
    assert_int_equal(
        fv_auth_mint_hs256(SECRET, strlen(SECRET), "acme", 3600000, NULL, NULL, &tok, &err), FV_OK);
    fv_principal p;
    assert_int_equal(verify(a, tok, &p, NULL), FV_OK);
    assert_string_equal(p.tenant_id, "acme");
    assert_true(p.can_read);
    assert_true(p.can_write);
    assert_null(p.allowed);
    assert_true(p.exp_ms >= before + 3600000 - 1000 && p.exp_ms <= before + 3600000 + 2000);
    fv_principal_clear(&p);
    free(tok);
    fv_auth_destroy(a);
}

static void test_expired_token_is_rejected(void **state)
{
    fv_auth *a = auth_hs();
    char c[256], msg[FV_ERR_MSG_MAX];
    snprintf(c, sizeof c, "{\"tenant_id\":\"acme\",\"exp\":%lld}",
             (long long)(fv_now_ms() / 1000 - 5));
    char *tok = hs(c);
    fv_principal p;
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "expired"));
    assert_string_equal(p.tenant_id, "");
    free(tok);
    fv_auth_destroy(a);
}

static void test_token_without_exp_is_rejected(void **state)
{
    fv_auth *a = auth_hs();
    char msg[FV_ERR_MSG_MAX];
    fv_principal p;
    char *tok = hs("{\"tenant_id\":\"acme\"}");
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "exp"));
    free(tok);
    tok = hs("{\"tenant_id\":\"acme\",\"exp\":\"tomorrow\"}");
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);
}

static void test_nbf_in_future_is_rejected_and_in_past_accepted(void **state)
{
    fv_auth *a = auth_hs();
    char extra[64], msg[FV_ERR_MSG_MAX];
    fv_principal p;
    snprintf(extra, sizeof extra, "\"nbf\":%lld", (long long)(fv_now_ms() / 1000 + 600));
    char *tok = hs(claims(extra));
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "nbf"));
    free(tok);
    snprintf(extra, sizeof extra, "\"nbf\":%lld", (long long)(fv_now_ms() / 1000 - 600));
    tok = hs(claims(extra));
    assert_int_equal(verify(a, tok, &p, msg), FV_OK);
    fv_principal_clear(&p);
    free(tok);
    fv_auth_destroy(a);
}

static void test_token_signed_with_another_secret_is_rejected(void **state)
{
    fv_auth *a = auth_hs();
    const char other[] = "another-secret-of-sufficient-length-0123456789";
    char *tok = sign(JWT_ALG_HS256, other, strlen(other), claims(NULL));
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "signature"));
    free(tok);
    /* a tampered payload under a valid signature */
    char *good = hs(claims(NULL));
    char *evil = hs("{\"tenant_id\":\"other\",\"exp\":9999999999}");
    char *g2 = strchr(good, '.'), *e2 = strchr(evil, '.');
    char forged[4096];
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(g2 - good), good,
             (int)(strchr(e2 + 1, '.') - e2), e2, strchr(g2 + 1, '.'));
    assert_int_equal(verify(a, forged, &p, NULL), FV_EAUTH);
    free(good);
    free(evil);
    fv_auth_destroy(a);
}

static void test_alg_none_is_rejected(void **state)
{
    char *tok = sign(JWT_ALG_NONE, NULL, 0, claims(NULL));
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    fv_auth *a = auth_hs();
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "none"));
    fv_auth_destroy(a);
    a = auth_pub(K.rsa_pub_path);
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    fv_auth_destroy(a);
    free(tok);
}

static void test_hs256_signed_with_rs256_public_key_pem_is_rejected(void **state)
{
    /* the classic confusion: the attacker knows the public key and uses it as an HMAC secret */
    char *tok = sign(JWT_ALG_HS256, K.rsa_pub, strlen(K.rsa_pub), claims(NULL));
    /* libjwt alone would accept it, which is why the gateway pins the algorithm */
    jwt_t *j = NULL;
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)K.rsa_pub, (int)strlen(K.rsa_pub)),
                     0);
    jwt_free(j);
    fv_auth *a = auth_pub(K.rsa_pub_path);
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_non_null(strstr(msg, "HS256"));
    assert_non_null(strstr(msg, "RS256"));
    fv_auth_destroy(a);
    free(tok);
}

static void test_rs256_token_verifies_and_other_rsa_key_is_rejected(void **state)
{
    fv_auth *a = auth_pub(K.rsa_pub_path);
    fv_principal p;
    char *tok = sign(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), claims(NULL));
    assert_int_equal(verify(a, tok, &p, NULL), FV_OK);
    assert_string_equal(p.tenant_id, "acme");
    fv_principal_clear(&p);
    free(tok);
    tok = sign(JWT_ALG_RS256, K.rsa2_priv, strlen(K.rsa2_priv), claims(NULL));
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    /* an RS384 token is another algorithm even with the right key */
    tok = sign(JWT_ALG_RS384, K.rsa_priv, strlen(K.rsa_priv), claims(NULL));
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);
}

static char *b64url(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return out;
}

/* ES256 as any standard issuer makes it: JOSE signature = raw R || S (RFC 7518 §3.4). */
static char *es256_by_hand(const char *claims_json)
{
    const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
    char *h = b64url((const unsigned char *)hdr, strlen(hdr));
    char *c = b64url((const unsigned char *)claims_json, strlen(claims_json));
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", h, c);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t derlen = sizeof der;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, K.ec), 1);
    assert_int_equal(EVP_DigestSign(md, der, &derlen, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    const unsigned char *dp = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    assert_non_null(sig);
    unsigned char raw[64];
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
    char *s = b64url(raw, 64);
    char *tok = malloc(strlen(input) + strlen(s) + 2);
    sprintf(tok, "%s.%s", input, s);
    free(h);
    free(c);
    free(s);
    return tok;
}

/* An HS256 token with a hand-written header and claims, correctly signed with SECRET. */
static char *hs_raw(const char *header, const char *claims_json)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *c = b64url((const unsigned char *)claims_json, strlen(claims_json));
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", h, c);
    unsigned char mac[32];
    unsigned int maclen = sizeof mac;
    assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)input,
                         strlen(input), mac, &maclen));
    char *sig = b64url(mac, maclen);
    char *tok = malloc(strlen(input) + strlen(sig) + 2);
    sprintf(tok, "%s.%s", input, sig);
    free(h);
    free(c);
    free(sig);
    return tok;
}

static void test_signed_tokens_with_repeated_or_odd_members_are_rejected(void **state)
{
    fv_auth *a = auth_hs();
    char ok_claims[256];
    snprintf(ok_claims, sizeof ok_claims, "{\"tenant_id\":\"acme\",\"exp\":%lld}",
             (long long)(fv_now_ms() / 1000 + 3600));
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    /* the hand signer is right: a plain header verifies */
    char *tok = hs_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", ok_claims);
    if (verify(a, tok, &p, msg) != FV_OK)
        fail_msg("hand-signed HS256: %s", msg);
    fv_principal_clear(&p);
    free(tok);
    const char *headers[] = {
        "{\"alg\":\"none\",\"alg\":\"HS256\"}",   /* which alg? each parser picks another */
        "{\"typ\":\"JWT\"}",                      /* no alg */
        "{\"alg\":\"hs256\"}",                    /* algorithms are case-sensitive */
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", /* an extension we do not implement */
        "[\"HS256\"]",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        tok = hs_raw(headers[i], ok_claims);
        if (verify(a, tok, &p, msg) != FV_EAUTH)
            fail_msg("header %s accepted", headers[i]);
        free(tok);
    }
    char dup[256];
    snprintf(dup, sizeof dup, "{\"tenant_id\":\"acme\",\"tenant_id\":\"other\",\"exp\":%lld}",
             (long long)(fv_now_ms() / 1000 + 3600));
    tok = hs_raw("{\"alg\":\"HS256\"}", dup);
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_string_equal(p.tenant_id, "");
    free(tok);
    /* a NUL inside a claim string: refused, never cut short */
    char nul[256];
    snprintf(nul, sizeof nul,
             "{\"tenant_id\":\"acme\",\"exp\":%lld,\"types\":\"workflow\\u0000,task\"}",
             (long long)(fv_now_ms() / 1000 + 3600));
    tok = hs_raw("{\"alg\":\"HS256\"}", nul);
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    assert_null(p.allowed);
    free(tok);
    tok = hs_raw("{\"alg\":\"HS256\"}", "[1,2]");
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    free(tok);
    /* exp far beyond any clock: accepted as a number but never overflows exp_ms */
    tok = hs_raw("{\"alg\":\"HS256\"}", "{\"tenant_id\":\"acme\",\"exp\":1e300}");
    assert_int_equal(verify(a, tok, &p, msg), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);
}

static void test_signature_must_be_exact_and_canonical(void **state)
{
    fv_auth *a = auth_hs();
    fv_principal p;
    char *tok = hs(claims(NULL));
    size_t n = strlen(tok);
    assert_int_equal(verify(a, tok, &p, NULL), FV_OK);
    fv_principal_clear(&p);
    /* 32 bytes are 43 characters, the last one carrying 2 unused bits: setting one gives the
     * same bytes to a lax decoder, but a second spelling of the signature */
    const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(al, tok[n - 1]) - al);
    tok[n - 1] = al[v ^ 1];
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    tok[n - 1] = al[v];
    /* truncated or extended signatures */
    char cut[4096];
    snprintf(cut, sizeof cut, "%.*s", (int)(n - 4), tok);
    assert_int_equal(verify(a, cut, &p, NULL), FV_EAUTH);
    snprintf(cut, sizeof cut, "%sAAAA", tok);
    assert_int_equal(verify(a, cut, &p, NULL), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);

    /* ES256 with r = s = 0 and with a DER signature instead of R || S */
    a = auth_pub(K.ec_pub_path);
    tok = es256_by_hand(claims(NULL));
    char *dot = strrchr(tok, '.');
    unsigned char zero[64] = {0};
    char *z = b64url(zero, sizeof zero);
    snprintf(cut, sizeof cut, "%.*s.%s", (int)(dot - tok), tok, z);
    assert_int_equal(verify(a, cut, &p, NULL), FV_EAUTH);
    free(z);
    free(tok);
    fv_auth_destroy(a);
}

typedef struct verify_job {
    fv_auth *auth;
    const char *token;
    int ok;
} verify_job;

static void *verify_many(void *arg)
{
    verify_job *j = arg;
    for (int i = 0; i < 150; i++) {
        fv_principal p;
        if (fv_auth_verify(j->auth, j->token, &p, NULL) == FV_OK && !strcmp(p.tenant_id, "acme"))
            j->ok++;
        fv_principal_clear(&p);
    }
    return NULL;
}

static void test_one_auth_verifies_from_many_threads(void **state)
{
    const char *paths[] = {K.rsa_pub_path, K.ec_pub_path};
    for (int k = 0; k < 2; k++) {
        fv_auth *a = auth_pub(paths[k]);
        char *tok = k == 0 ? sign(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), claims(NULL))
                           : es256_by_hand(claims(NULL));
        pthread_t th[4];
        verify_job jobs[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (verify_job){a, tok, 0};
            assert_int_equal(pthread_create(&th[i], NULL, verify_many, &jobs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(jobs[i].ok, 150);
        }
        free(tok);
        fv_auth_destroy(a);
    }
}

static void test_es256_tokens_verify_and_rs256_token_is_rejected(void **state)
{
    fv_auth *a = auth_pub(K.ec_pub_path);
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    char *tok = sign(JWT_ALG_ES256, K.ec_priv, strlen(K.ec_priv), claims(NULL));
    assert_int_equal(verify(a, tok, &p, msg), FV_OK);
    assert_string_equal(p.tenant_id, "acme");
    fv_principal_clear(&p);
    free(tok);
    tok = es256_by_hand(claims(NULL));
    if (verify(a, tok, &p, msg) != FV_OK)
        fail_msg("standard ES256 token: %s", msg);
    fv_principal_clear(&p);
    /* flip one signature byte: rejected */
    size_t n = strlen(tok);
    tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    tok = sign(JWT_ALG_RS256, K.rsa_priv, strlen(K.rsa_priv), claims(NULL));
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    tok = sign(JWT_ALG_HS256, K.ec_pub, strlen(K.ec_pub), claims(NULL));
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);
}

static void test_missing_or_hostile_tenant_id_is_rejected(void **state)
{
    fv_auth *a = auth_hs();
    long long exp = fv_now_ms() / 1000 + 3600;
    const char *bad[] = {
        "\"a.>\"", "\"*\"",
        "\"\"",    "\"_\"",
        "\"a b\"", "42",
        "null",    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char c[256];
        snprintf(c, sizeof c, "{\"tenant_id\":%s,\"exp\":%lld}", bad[i], exp);
        char *tok = hs(c);
        fv_principal p;
        char msg[FV_ERR_MSG_MAX];
        if (verify(a, tok, &p, msg) != FV_EAUTH)
            fail_msg("tenant_id %s accepted", bad[i]);
        assert_non_null(strstr(msg, "tenant_id"));
        assert_string_equal(p.tenant_id, "");
        free(tok);
    }
    char c[128];
    snprintf(c, sizeof c, "{\"sub\":\"acme\",\"exp\":%lld}", exp);
    char *tok = hs(c);
    fv_principal p;
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    /* a hyphenated UUID is a valid tenant */
    snprintf(c, sizeof c, "{\"tenant_id\":\"8d3c9a0e-5b4f-4f7e-9a51-6f1f6d7e2b10\",\"exp\":%lld}",
             exp);
    tok = hs(c);
    assert_int_equal(verify(a, tok, &p, NULL), FV_OK);
    assert_string_equal(p.tenant_id, "8d3c9a0e-5b4f-4f7e-9a51-6f1f6d7e2b10");
    fv_principal_clear(&p);
    free(tok);
    fv_auth_destroy(a);
}

static void expect_scope(fv_auth *a, const char *extra, bool r, bool w)
{
    char *tok = hs(claims(extra));
    fv_principal p;
    char msg[FV_ERR_MSG_MAX];
    if (verify(a, tok, &p, msg) != FV_OK)
        fail_msg("%s: %s", extra, msg);
    if (p.can_read != r || p.can_write != w)
        fail_msg("%s: read %d write %d", extra, p.can_read, p.can_write);
    fv_principal_clear(&p);
    free(tok);
}

static void test_scope_claim_grants_read_and_write_separately(void **state)
{
    fv_auth *a = auth_hs();
    expect_scope(a, NULL, true, true);
    expect_scope(a, "\"scope\":\"events:read\"", true, false);
    expect_scope(a, "\"scope\":\"events:write\"", false, true);
    expect_scope(a, "\"scope\":\"openid  events:write events:read\"", true, true);
    expect_scope(a, "\"scope\":\"\"", false, false);
    expect_scope(a, "\"scope\":\"events:readx events\"", false, false);
    expect_scope(a, "\"scope\":[\"events:read\"]", true, false);
    char *tok = hs(claims("\"scope\":7"));
    fv_principal p;
    assert_int_equal(verify(a, tok, &p, NULL), FV_EAUTH);
    free(tok);
    fv_auth_destroy(a);
}

static void test_types_claim_limits_what_the_token_reads(void **state)
{
    fv_auth *a = auth_hs();
    const char *ok[] = {"\"types\":\"workflow, token\"", "\"types\":[\"workflow\",\"token\"]"};
    for (size_t i = 0; i < 2; i++) {
        char *tok = hs(claims(ok[i]));
        fv_principal p;
        char msg[FV_ERR_MSG_MAX];
        if (verify(a, tok, &p, msg) != FV_OK)
            fail_msg("%s: %s", ok[i], msg);
        assert_non_null(p.allowed);
        assert_true(fv_types_filter_match_type(p.allowed, "workflow.started"));
        assert_false(fv_types_filter_match_type(p.allowed, "task.completed"));
        assert_true(fv_types_filter_match_kind(p.allowed, FV_KIND_TOKEN));
        assert_false(fv_types_filter_match_kind(p.allowed, FV_KIND_DATA));
        fv_principal_clear(&p);
        assert_null(p.allowed);
        free(tok);
    }
    const char *bad[] = {"\"types\":\"ta*\"",   "\"types\":\"\"", "\"types\":[]",
                         "\"types\":[\"a,b\"]", "\"types\":[1]",  "\"types\":{}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *tok = hs(claims(bad[i]));
        fv_principal p;
        if (verify(a, tok, &p, NULL) != FV_EAUTH)
            fail_msg("%s accepted", bad[i]);
        assert_null(p.allowed);
        free(tok);
    }
    fv_auth_destroy(a);
}

static void test_malformed_tokens_are_rejected(void **state)
{
    fv_auth *a = auth_hs();
    char *good = hs(claims(NULL));
    char big[9000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = '.';
    big[20] = '.';
    char spaced[4096];
    snprintf(spaced, sizeof spaced, "%s x", good);
    char four[4096];
    snprintf(four, sizeof four, "%s.abc", good);
    const char *bad[] = {"", "abc", "a.b", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30.",
                         "!!!.???.***", big, spaced, four,
                         /* header that is not JSON */
                         "bm90IGpzb24.eyJ0ZW5hbnRfaWQiOiJhY21lIn0.c2ln"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fv_principal p;
        if (verify(a, bad[i], &p, NULL) != FV_EAUTH)
            fail_msg("malformed token %zu accepted", i);
    }
    fv_principal p;
    assert_int_equal(verify(a, NULL, &p, NULL), FV_EAUTH);
    /* the well-formed token the malformed ones were made from still verifies */
    assert_int_equal(verify(a, good, &p, NULL), FV_OK);
    fv_principal_clear(&p);
    free(good);
    fv_auth_destroy(a);
}

static void test_create_refuses_jwt_mode_without_a_usable_key(void **state)
{
    fv_auth *a = NULL;
    fv_err err = {{0}};
    fv_auth_config none_key = {.mode = "jwt"};
    assert_int_equal(fv_auth_create(&none_key, &a, &err), FV_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "--jwt-secret-file"));
    fv_auth_config dflt = {0};
    assert_int_equal(fv_auth_create(&dflt, &a, &err), FV_EINVAL);

    char shortp[320];
    snprintf(shortp, sizeof shortp, "%s/short", K.dir);
    write_file(shortp, "tiny\n");
    fv_auth_config s = {.secret_file = shortp};
    assert_int_equal(fv_auth_create(&s, &a, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "at least"));

    fv_auth_config both = {.secret_file = K.secret_path, .public_key_file = K.rsa_pub_path};
    assert_int_equal(fv_auth_create(&both, &a, &err), FV_EINVAL);
    fv_auth_config missing = {.secret_file = "/nonexistent/secret"};
    assert_int_equal(fv_auth_create(&missing, &a, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "/nonexistent/secret"));
    fv_auth_config priv = {.public_key_file = K.rsa_priv_path};
    assert_int_equal(fv_auth_create(&priv, &a, &err), FV_EINVAL);
    fv_auth_config notpem = {.public_key_file = K.secret_path};
    assert_int_equal(fv_auth_create(&notpem, &a, &err), FV_EINVAL);
    fv_auth_config bogus = {.mode = "open", .secret_file = K.secret_path};
    assert_int_equal(fv_auth_create(&bogus, &a, &err), FV_EINVAL);
    assert_null(a);

    fv_auth_config none = {.mode = "none"};
    assert_int_equal(fv_auth_create(&none, &a, &err), FV_OK);
    assert_true(fv_auth_is_none(a));
    fv_auth_destroy(a);
    a = auth_hs();
    assert_false(fv_auth_is_none(a));
    fv_auth_destroy(a);
}

static void test_secret_file_trailing_newline_is_not_part_of_the_key(void **state)
{
    char p[320];
    snprintf(p, sizeof p, "%s/secret-nl", K.dir);
    char content[128];
    snprintf(content, sizeof content, "%s\n", SECRET);
    write_file(p, content);
    fv_auth_config c = {.secret_file = p};
    fv_auth *a = NULL;
    assert_int_equal(fv_auth_create(&c, &a, NULL), FV_OK);
    char *tok = hs(claims(NULL));
    fv_principal pr;
    assert_int_equal(verify(a, tok, &pr, NULL), FV_OK);
    fv_principal_clear(&pr);
    free(tok);
    fv_auth_destroy(a);
}

static void expect_redacted(const char *in, const char *want)
{
    char out[512];
    fv_redact_url(in, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("redact(%s) = %s, want %s", in, out, want);
}

static void test_redact_url_hides_every_access_token(void **state)
{
    expect_redacted("/v1/events/stream", "/v1/events/stream");
    expect_redacted("/v1/events/stream?access_token=abc.def.ghi",
                    "/v1/events/stream?access_token=REDACTED");
    expect_redacted("/s?types=token&access_token=SECRET&last_event_id=v1.1.2.3",
                    "/s?types=token&access_token=REDACTED&last_event_id=v1.1.2.3");
    expect_redacted("/s?access_token=A&access_token=B",
                    "/s?access_token=REDACTED&access_token=REDACTED");
    expect_redacted("/s?access%5Ftoken=SECRET", "/s?access%5Ftoken=REDACTED");
    expect_redacted("/s?x_access_token=keep", "/s?x_access_token=keep");
    expect_redacted("/s?access_token", "/s?access_token");
    expect_redacted("/s?access_token=", "/s?access_token=REDACTED");
    /* truncation never leaks: output is bounded and NUL-terminated */
    char small[12];
    fv_redact_url("/s?access_token=SECRETSECRET", small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_null(strstr(small, "SECRET"));
    fv_redact_url(NULL, small, sizeof small);
    assert_string_equal(small, "");
}

/* --- token sources of a real request ------------------------------------------------------- */

typedef struct srv {
    struct MHD_Daemon *d;
    fv_auth *auth;
    int port;
} srv;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int first;
    if (!*con_cls) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    srv *s = cls;
    fv_principal p;
    fv_err err = {{0}};
    char body[512];
    fv_status st = fv_auth_request(s->auth, c, !strcmp(method, "GET"), &p, &err);
    if (st == FV_OK)
        snprintf(body, sizeof body, "ok %s %d%d", p.tenant_id, p.can_read, p.can_write);
    else
        snprintf(body, sizeof body, "denied %s", err.msg);
    fv_principal_clear(&p);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, st == FV_OK ? 200 : 401, r);
    MHD_destroy_response(r);
    return ret;
}

static void srv_start(srv *s, fv_auth *a)
{
    s->auth = a;
    s->port = fv_test_free_port();
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)s->port,
                            NULL, NULL, handler, s, MHD_OPTION_END);
    assert_non_null(s->d);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    char *out = ud;
    size_t have = strlen(out);
    size_t add = sz * n;
    if (have + add < 511) {
        memcpy(out + have, p, add);
        out[have + add] = '\0';
    }
    return sz * n;
}

/* performs a request; returns the status code and the body in out */
static long req(srv *s, const char *method, const char *query, const char *header,
                const char *cookie, char *out)
{
    CURL *c = curl_easy_init();
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/events/stream%s", s->port,
             query ? query : "");
    out[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    struct curl_slist *h = NULL;
    if (header)
        h = curl_slist_append(h, header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (cookie)
        curl_easy_setopt(c, CURLOPT_COOKIE, cookie);
    if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

static void test_request_reads_bearer_then_query_then_cookie_on_get_only(void **state)
{
    srv s;
    srv_start(&s, auth_hs());
    char *tok = hs(claims("\"scope\":\"events:read\""));
    char h[4096], q[4096], ck[4096], out[512];
    snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
    snprintf(q, sizeof q, "?types=workflow&access_token=%s", tok);
    snprintf(ck, sizeof ck, "flovyn_token=%s", tok);

    assert_int_equal(req(&s, "GET", NULL, h, NULL, out), 200);
    assert_string_equal(out, "ok acme 10");
    snprintf(h, sizeof h, "authorization: bearer %s", tok);
    assert_int_equal(req(&s, "POST", NULL, h, NULL, out), 200);
    assert_int_equal(req(&s, "GET", q, NULL, NULL, out), 200);
    assert_string_equal(out, "ok acme 10");
    assert_int_equal(req(&s, "POST", q, NULL, NULL, out), 200);
    assert_int_equal(req(&s, "GET", NULL, NULL, ck, out), 200);
    assert_string_equal(out, "ok acme 10");
    /* a cookie rides along on cross-site POSTs: never used to write */
    assert_int_equal(req(&s, "POST", NULL, NULL, ck, out), 401);
    assert_int_equal(req(&s, "GET", NULL, NULL, NULL, out), 401);
    assert_non_null(strstr(out, "missing token"));
    /* an unusable Authorization header is an error even when a cookie is present */
    assert_int_equal(req(&s, "GET", NULL, "Authorization: Basic dXNlcjpwYXNz", ck, out), 401);
    assert_int_equal(req(&s, "GET", NULL, "Authorization: Bearer nope", NULL, out), 401);
    /* the tenant never comes from a header in jwt mode */
    assert_int_equal(req(&s, "GET", NULL, "X-Flovyn-Tenant: acme", NULL, out), 401);
    free(tok);
    MHD_stop_daemon(s.d);
    fv_auth_destroy(s.auth);
}

static void test_auth_none_takes_a_validated_tenant_from_the_header(void **state)
{
    fv_auth_config c = {.mode = "none"};
    fv_auth *a = NULL;
    assert_int_equal(fv_auth_create(&c, &a, NULL), FV_OK);
    srv s;
    srv_start(&s, a);
    char out[512];
    assert_int_equal(req(&s, "GET", NULL, "X-Flovyn-Tenant: dev-1", NULL, out), 200);
    assert_string_equal(out, "ok dev-1 11");
    assert_int_equal(req(&s, "GET", NULL, "X-Flovyn-Tenant: a.>", NULL, out), 401);
    assert_int_equal(req(&s, "GET", NULL, "X-Flovyn-Tenant: *", NULL, out), 401);
    assert_int_equal(req(&s, "GET", NULL, NULL, NULL, out), 401);
    assert_non_null(strstr(out, "X-Flovyn-Tenant"));
    MHD_stop_daemon(s.d);
    fv_auth_destroy(a);
}

/* --- the token command ---------------------------------------------------------------------- */

/* runs fv_auth_token_main with stdout captured into out */
static int run_token(char *out, size_t cap, int argc, char **argv)
{
    char path[320];
    snprintf(path, sizeof path, "%s/stdout", K.dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 1);
    close(fd);
    int rc = fv_auth_token_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

static void test_token_command_prints_a_token_the_gateway_accepts(void **state)
{
    char out[4096];
    char *argv[] = {"--tenant",    "acme",    "--ttl",       "2m",      "--jwt-secret-file",
                    K.secret_path, "--scope", "events:read", "--types", "workflow,token"};
    assert_int_equal(run_token(out, sizeof out, 10, argv), 0);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    fv_auth *a = auth_hs();
    fv_principal p;
    int64_t now = fv_now_ms();
    assert_int_equal(verify(a, out, &p, NULL), FV_OK);
    assert_string_equal(p.tenant_id, "acme");
    assert_true(p.can_read);
    assert_false(p.can_write);
    assert_non_null(p.allowed);
    assert_false(fv_types_filter_match_type(p.allowed, "task.started"));
    assert_true(p.exp_ms > now + 100000 && p.exp_ms <= now + 122000);
    fv_principal_clear(&p);
    fv_auth_destroy(a);
}

static void test_token_command_exits_2_on_bad_usage(void **state)
{
    char out[4096];
    char *no_tenant[] = {"--jwt-secret-file", K.secret_path};
    assert_int_equal(run_token(out, sizeof out, 2, no_tenant), 2);
    assert_string_equal(out, "");
    char *bad_tenant[] = {"--tenant", "a.>", "--jwt-secret-file", K.secret_path};
    assert_int_equal(run_token(out, sizeof out, 4, bad_tenant), 2);
    char *bad_scope[] = {"--tenant",    "acme",    "--jwt-secret-file",
                         K.secret_path, "--scope", "events:admin"};
    assert_int_equal(run_token(out, sizeof out, 6, bad_scope), 2);
    char *bad_types[] = {"--tenant", "acme", "--jwt-secret-file", K.secret_path, "--types", "ta*"};
    assert_int_equal(run_token(out, sizeof out, 6, bad_types), 2);
    char *bad_ttl[] = {"--tenant", "acme", "--jwt-secret-file", K.secret_path, "--ttl", "soon"};
    assert_int_equal(run_token(out, sizeof out, 6, bad_ttl), 2);
    char *no_file[] = {"--tenant", "acme", "--jwt-secret-file", "/nonexistent"};
    assert_int_equal(run_token(out, sizeof out, 4, no_file), 2);
    char *unknown[] = {"--tenant", "acme", "--jwt-secret-file", K.secret_path, "--bogus", "1"};
    assert_int_equal(run_token(out, sizeof out, 6, unknown), 2);
    assert_string_equal(out, "");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_minted_token_verifies_with_tenant_scopes_and_exp),
        cmocka_unit_test(test_expired_token_is_rejected),
        cmocka_unit_test(test_token_without_exp_is_rejected),
        cmocka_unit_test(test_nbf_in_future_is_rejected_and_in_past_accepted),
        cmocka_unit_test(test_token_signed_with_another_secret_is_rejected),
        cmocka_unit_test(test_alg_none_is_rejected),
        cmocka_unit_test(test_hs256_signed_with_rs256_public_key_pem_is_rejected),
        cmocka_unit_test(test_rs256_token_verifies_and_other_rsa_key_is_rejected),
        cmocka_unit_test(test_es256_tokens_verify_and_rs256_token_is_rejected),
        cmocka_unit_test(test_signed_tokens_with_repeated_or_odd_members_are_rejected),
        cmocka_unit_test(test_signature_must_be_exact_and_canonical),
        cmocka_unit_test(test_one_auth_verifies_from_many_threads),
        cmocka_unit_test(test_missing_or_hostile_tenant_id_is_rejected),
        cmocka_unit_test(test_scope_claim_grants_read_and_write_separately),
        cmocka_unit_test(test_types_claim_limits_what_the_token_reads),
        cmocka_unit_test(test_malformed_tokens_are_rejected),
        cmocka_unit_test(test_create_refuses_jwt_mode_without_a_usable_key),
        cmocka_unit_test(test_secret_file_trailing_newline_is_not_part_of_the_key),
        cmocka_unit_test(test_redact_url_hides_every_access_token),
        cmocka_unit_test(test_request_reads_bearer_then_query_then_cookie_on_get_only),
        cmocka_unit_test(test_auth_none_takes_a_validated_tenant_from_the_header),
        cmocka_unit_test(test_token_command_prints_a_token_the_gateway_accepts),
        cmocka_unit_test(test_token_command_exits_2_on_bad_usage),
    };
    int rc = cmocka_run_group_tests(tests, setup_keys, teardown_keys);
    curl_global_cleanup();
    return rc;
}
