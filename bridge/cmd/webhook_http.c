/* webhook_http.c - the signed POST of one webhook batch; see webhook_http.h.
 *
 * Headers follow Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). The
 * timestamp and so the signature are made per attempt (receivers reject old timestamps), the id
 * stays the same. Response bodies are read and thrown away, with a cap, so a hostile receiver
 * cannot make the bridge buffer memory.
 */
#include "webhook_http.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "cloudevents.h"
#include "webhook_sign.h"

#define RESPONSE_MAX (64 * 1024)
#define RETRY_AFTER_MAX_S 3600

void fv_webhook_batch_id(const char *const *event_ids, size_t n, char *out, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        for (size_t i = 0; i < n; i++) {
            EVP_DigestUpdate(c, event_ids[i], strlen(event_ids[i]));
            EVP_DigestUpdate(c, "\n", 1);
        }
        EVP_DigestFinal_ex(c, md, &ml);
    }
    EVP_MD_CTX_free(c);
    size_t o = (size_t)snprintf(out, cap, "msg_");
    for (unsigned i = 0; i < 16 && i < ml && o + 2 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", md[i]);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    fv_webhook_req *r = ud;
    size_t n = size * nmemb;
    r->response_bytes += n;
    return r->response_bytes > RESPONSE_MAX ? 0 : n; /* 0 aborts the transfer */
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    fv_webhook_req *r = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        size_t i = sizeof name - 1;
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        int64_t v = 0;
        bool digits = false;
        while (i < n && isdigit((unsigned char)p[i]) && v <= RETRY_AFTER_MAX_S) {
            v = v * 10 + (p[i++] - '0');
            digits = true;
        }
        /* an HTTP-date form is ignored: the subscription's backoff applies */
        if (digits)
            r->retry_after_ms = (v > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : v) * 1000;
    }
    return n;
}

fv_status fv_webhook_req_init(fv_webhook_req *r, const char *url, const char *whsec,
                              const char *webhook_id, const char *body, size_t body_len,
                              bool allow_private, int64_t timeout_ms, fv_err *err)
{
    memset(r, 0, sizeof *r);
    r->retry_after_ms = -1;
    unsigned char key[FV_WHSEC_MAX_BYTES];
    size_t klen;
    fv_status st = fv_webhook_secret_decode(whsec, key, sizeof key, &klen, err);
    if (st != FV_OK)
        return st;
    int64_t ts = (int64_t)time(NULL);
    char sig[FV_WEBHOOK_SIG_MAX];
    st = fv_webhook_sign(key, klen, webhook_id, ts, body, body_len, sig, sizeof sig);
    memset(key, 0, sizeof key);
    if (st != FV_OK)
        return fv_err_set(err, st, "signing failed");
    r->h = curl_easy_init();
    if (!r->h)
        return fv_err_set(err, FV_ENOMEM, "curl_easy_init failed");
    char line[256];
    struct curl_slist *hs = NULL, *t;
#define ADD(s)                                                                                     \
    do {                                                                                           \
        t = curl_slist_append(hs, s);                                                              \
        if (!t)                                                                                    \
            goto oom;                                                                              \
        hs = t;                                                                                    \
    } while (0)
    ADD("Content-Type: " FV_CLOUDEVENTS_BATCH_CONTENT_TYPE);
    ADD("User-Agent: flovyn-bridge");
    ADD("Expect:"); /* no 100-continue round trip */
    snprintf(line, sizeof line, "webhook-id: %s", webhook_id);
    ADD(line);
    snprintf(line, sizeof line, "webhook-timestamp: %" PRId64, ts);
    ADD(line);
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    ADD(line);
#undef ADD
    r->headers = hs;
    CURL *h = r->h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms > 0 && timeout_ms < 5000 ? timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    r->guard.allow_private = allow_private;
    fv_ssrf_apply(h, &r->guard);
    return FV_OK;
oom:
    curl_slist_free_all(hs);
    curl_easy_cleanup(r->h);
    r->h = NULL;
    return fv_err_set(err, FV_ENOMEM, "out of memory");
}

void fv_webhook_req_cleanup(fv_webhook_req *r)
{
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->headers);
    r->h = NULL;
    r->headers = NULL;
}

fv_webhook_outcome fv_webhook_req_outcome(fv_webhook_req *r, CURLcode rc, long *http_status,
                                          char *why, size_t cap)
{
    long code = 0;
    if (r->h)
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
    *http_status = code;
    if (r->guard.refused) {
        snprintf(why, cap, "%s", r->guard.refused_why);
        return FV_WH_PERMANENT;
    }
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code > 0)) {
        snprintf(why, cap, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        return FV_WH_RETRY;
    }
    snprintf(why, cap, "HTTP %ld", code);
    if (code >= 200 && code < 300)
        return FV_WH_DELIVERED;
    if (code == 408 || code == 429 || code >= 500)
        return FV_WH_RETRY;
    return FV_WH_PERMANENT;
}
