/* Unit tests of Standard Webhooks secrets and signatures (bridge/cmd/webhook_sign.c). Expected
 * signatures are computed here independently with OpenSSL's one-shot HMAC over the concatenated
 * "id.timestamp.body" text, plus the published Standard Webhooks example vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../bridge/cmd/webhook_sign.c"

static void independent_sig(const unsigned char *key, size_t klen, const char *signed_text,
                            char *out)
{
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)signed_text, strlen(signed_text), mac,
         &ml);
    assert_int_equal(ml, 32);
    strcpy(out, "v1,");
    EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
}

static void test_sign_matches_standard_webhooks_example(void **state)
{
    unsigned char key[FV_WHSEC_MAX_BYTES];
    size_t klen = 0;
    assert_int_equal(fv_webhook_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key,
                                              sizeof key, &klen, NULL),
                     FV_OK);
    assert_int_equal(klen, 24);
    const char *body = "{\"test\": 2432232314}";
    char sig[FV_WEBHOOK_SIG_MAX];
    assert_int_equal(fv_webhook_sign(key, klen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                     strlen(body), sig, sizeof sig),
                     FV_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_sign_equals_independent_hmac_of_id_timestamp_body(void **state)
{
    const unsigned char key[] = "0123456789abcdef0123456789abcdef";
    const char *body = "[{\"specversion\":\"1.0\",\"id\":\"e1\",\"data\":{\"x\":0.1}}]";
    char sig[FV_WEBHOOK_SIG_MAX], want[FV_WEBHOOK_SIG_MAX];
    assert_int_equal(
        fv_webhook_sign(key, 32, "batch-42", 1767139200, body, strlen(body), sig, sizeof sig),
        FV_OK);
    char text[256];
    snprintf(text, sizeof text, "batch-42.1767139200.%s", body);
    independent_sig(key, 32, text, want);
    assert_string_equal(sig, want);

    /* any change of id, timestamp or body changes the signature */
    char other[FV_WEBHOOK_SIG_MAX];
    fv_webhook_sign(key, 32, "batch-43", 1767139200, body, strlen(body), other, sizeof other);
    assert_string_not_equal(sig, other);
    fv_webhook_sign(key, 32, "batch-42", 1767139201, body, strlen(body), other, sizeof other);
    assert_string_not_equal(sig, other);
    fv_webhook_sign(key, 32, "batch-42", 1767139200, body, strlen(body) - 1, other, sizeof other);
    assert_string_not_equal(sig, other);
}

static void test_secret_raw_bytes_normalize_to_whsec_form(void **state)
{
    char out[FV_WHSEC_TEXT_MAX];
    const char *raw = "supersecretvalue-1234\n"; /* trailing newline of a file is dropped */
    assert_int_equal(fv_webhook_secret_normalize(raw, strlen(raw), out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "whsec_c3VwZXJzZWNyZXR2YWx1ZS0xMjM0");
    unsigned char key[FV_WHSEC_MAX_BYTES];
    size_t klen;
    assert_int_equal(fv_webhook_secret_decode(out, key, sizeof key, &klen, NULL), FV_OK);
    assert_int_equal(klen, 21);
    assert_memory_equal(key, "supersecretvalue-1234", 21);
}

static void test_secret_whsec_form_is_kept(void **state)
{
    char out[FV_WHSEC_TEXT_MAX];
    const char *s = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
    assert_int_equal(fv_webhook_secret_normalize(s, strlen(s), out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
}

static void test_secret_rejects_bad_base64_and_short_keys(void **state)
{
    char out[FV_WHSEC_TEXT_MAX];
    fv_err err = {{0}};
    const char *bad = "whsec_not*base64!";
    assert_int_equal(fv_webhook_secret_normalize(bad, strlen(bad), out, sizeof out, &err),
                     FV_EINVAL);
    assert_non_null(strstr(err.msg, "base64"));
    const char *shortk = "whsec_c2hvcnQ="; /* "short" */
    assert_int_equal(fv_webhook_secret_normalize(shortk, strlen(shortk), out, sizeof out, &err),
                     FV_EINVAL);
    assert_int_equal(fv_webhook_secret_normalize("tiny", 4, out, sizeof out, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "16"));
}

static void test_base64_decode_rejects_wrong_padding(void **state)
{
    unsigned char o[16];
    size_t n;
    assert_int_equal(fv_base64_decode("YWJj", 4, o, sizeof o, &n), FV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(fv_base64_decode("YWI=", 4, o, sizeof o, &n), FV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(fv_base64_decode("YWI", 3, o, sizeof o, &n), FV_EINVAL);
    assert_int_equal(fv_base64_decode("Y=I=", 4, o, sizeof o, &n), FV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_standard_webhooks_example),
        cmocka_unit_test(test_sign_equals_independent_hmac_of_id_timestamp_body),
        cmocka_unit_test(test_secret_raw_bytes_normalize_to_whsec_form),
        cmocka_unit_test(test_secret_whsec_form_is_kept),
        cmocka_unit_test(test_secret_rejects_bad_base64_and_short_keys),
        cmocka_unit_test(test_base64_decode_rejects_wrong_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
