/* webhook_receiver.c - a real webhook receiver for tests; see webhook_receiver.h.
 *
 * Thread per connection, so a slow answer (set_delay) does not hold back other requests. The
 * signature check is written here from the Standard Webhooks definition with OpenSSL, not with
 * the bridge's signing module, so a bug there cannot hide itself.
 */
#include "webhook_receiver.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fixture.h"
#include "flovyn/json.h"

#define MAX_REQUESTS 4096
#define MAX_BODY (8 * 1024 * 1024)

struct fv_wh_receiver {
    struct MHD_Daemon *d;
    char url[64];
    unsigned char key[512];
    int key_len;
    pthread_mutex_t mu;
    int fail_n, fail_status, fail_retry_after, always_status, delay_ms;
    fv_wh_request reqs[MAX_REQUESTS];
    size_t nreqs;
    char **ids; /* accepted event ids, with repeats */
    size_t nids, capids;
    size_t bad_sigs;
    size_t arrivals; /* requests whose body arrived, counted before any delay */
};

typedef struct upload {
    char *p;
    size_t n;
    bool too_big;
} upload;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool verify(fv_wh_receiver *r, const char *id, const char *ts, const char *sigs,
                   const char *body, size_t len)
{
    if (!id || !ts || !sigs)
        return false;
    size_t tl = strlen(id) + strlen(ts) + 2 + len;
    unsigned char *msg = malloc(tl + 1);
    if (!msg)
        return false;
    int pre = snprintf((char *)msg, tl + 1, "%s.%s.", id, ts);
    memcpy(msg + pre, body, len);
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), r->key, r->key_len, msg, (size_t)pre + len, mac, &ml);
    free(msg);
    char want[64];
    EVP_EncodeBlock((unsigned char *)want, mac, 32);
    /* space-separated "v1,<b64>" entries */
    const char *p = sigs;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 3 && !strncmp(p, "v1,", 3) && n - 3 == strlen(want) &&
            CRYPTO_memcmp(p + 3, want, n - 3) == 0)
            return true;
        if (!e)
            break;
        p = e;
    }
    return false;
}

/* The project's scanner, not jansson: event data may hold numbers jansson refuses (1e400,
 * 20-digit integers), and the receiver must see the body exactly as sent. */
static size_t record_ids(fv_wh_receiver *r, const char *body, size_t len, bool accepted)
{
    fv_json_iter it;
    fv_json_iter_init(&it, body, len);
    fv_span el;
    fv_json_kind kind;
    size_t n = 0;
    while (fv_json_next_element(&it, &el, &kind, NULL) == 1) {
        n++;
        if (!accepted || kind != FV_JSON_OBJECT)
            continue;
        fv_json_iter m;
        fv_json_iter_init(&m, el.p, el.n);
        fv_span key, val;
        fv_json_kind vk;
        char id[256];
        while (fv_json_next_member(&m, &key, &val, &vk, NULL) == 1) {
            if (!fv_json_key_is(key, "id") || vk != FV_JSON_STRING ||
                fv_json_string_decode(val, id, sizeof id, NULL, NULL) != FV_OK)
                continue;
            if (r->nids == r->capids) {
                size_t c = r->capids ? r->capids * 2 : 256;
                char **p = realloc(r->ids, c * sizeof *p);
                if (!p)
                    break;
                r->ids = p;
                r->capids = c;
            }
            r->ids[r->nids++] = strdup(id);
            break;
        }
    }
    return n;
}

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    fv_wh_receiver *r = cls;
    upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (u->n + *upload_data_size > MAX_BODY) {
            u->too_big = true;
        } else {
            char *p = realloc(u->p, u->n + *upload_data_size + 1);
            if (p) {
                memcpy(p + u->n, upload_data, *upload_data_size);
                u->p = p;
                u->n += *upload_data_size;
                u->p[u->n] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    int delay = r->delay_ms;
    r->arrivals++;
    pthread_mutex_unlock(&r->mu);
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    fv_wh_request q = {0};
    copy_header(c, "webhook-id", q.webhook_id, sizeof q.webhook_id);
    copy_header(c, "webhook-timestamp", q.timestamp, sizeof q.timestamp);
    copy_header(c, "webhook-signature", q.signature, sizeof q.signature);
    copy_header(c, "Content-Type", q.content_type, sizeof q.content_type);
    q.signature_ok = verify(r, q.webhook_id, q.timestamp, q.signature, u->p ? u->p : "", u->n);
    q.at_ms = mono_ms();
    int retry_after = -1;
    pthread_mutex_lock(&r->mu);
    int status = 200;
    if (r->fail_n > 0) {
        r->fail_n--;
        status = r->fail_status;
        retry_after = r->fail_retry_after;
    } else if (r->always_status) {
        status = r->always_status;
    }
    if (!q.signature_ok) {
        r->bad_sigs++;
        status = 401;
    }
    q.status = status;
    q.nevents = record_ids(r, u->p ? u->p : "", u->n, status >= 200 && status < 300);
    if (r->nreqs < MAX_REQUESTS) {
        q.body = u->p;
        q.len = u->n;
        u->p = NULL;
        r->reqs[r->nreqs++] = q;
    }
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (retry_after >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u) {
        free(u->p);
        free(u);
        *con_cls = NULL;
    }
}

fv_wh_receiver *fv_wh_receiver_start(const char *whsec)
{
    if (!whsec || strncmp(whsec, "whsec_", 6) != 0)
        return NULL;
    fv_wh_receiver *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    const char *b = whsec + 6;
    size_t bl = strlen(b);
    unsigned char tmp[1024];
    if (bl == 0 || bl % 4 || bl / 4 * 3 > sizeof tmp) {
        free(r);
        return NULL;
    }
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)b, (int)bl);
    if (n < 0) {
        free(r);
        return NULL;
    }
    n -= (b[bl - 1] == '=') + (b[bl - 2] == '=');
    memcpy(r->key, tmp, (size_t)n);
    r->key_len = n;
    pthread_mutex_init(&r->mu, NULL);
    for (int tries = 0; tries < 5 && !r->d; tries++) {
        int port = fv_test_free_port();
        r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                (uint16_t)port, NULL, NULL, on_request, r,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, r, MHD_OPTION_END);
        if (r->d)
            snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d/hook", port);
    }
    if (!r->d) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    return r;
}

void fv_wh_receiver_stop(fv_wh_receiver *r)
{
    if (!r)
        return;
    MHD_stop_daemon(r->d);
    for (size_t i = 0; i < r->nreqs; i++)
        free(r->reqs[i].body);
    for (size_t i = 0; i < r->nids; i++)
        free(r->ids[i]);
    free(r->ids);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

const char *fv_wh_receiver_url(const fv_wh_receiver *r)
{
    return r->url;
}

void fv_wh_receiver_fail_next(fv_wh_receiver *r, int n, int status, int retry_after_s)
{
    pthread_mutex_lock(&r->mu);
    r->fail_n = n;
    r->fail_status = status;
    r->fail_retry_after = retry_after_s;
    pthread_mutex_unlock(&r->mu);
}

void fv_wh_receiver_set_status(fv_wh_receiver *r, int status)
{
    pthread_mutex_lock(&r->mu);
    r->always_status = status;
    pthread_mutex_unlock(&r->mu);
}

void fv_wh_receiver_set_delay(fv_wh_receiver *r, int delay_ms)
{
    pthread_mutex_lock(&r->mu);
    r->delay_ms = delay_ms;
    pthread_mutex_unlock(&r->mu);
}

size_t fv_wh_receiver_requests(fv_wh_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nreqs;
    pthread_mutex_unlock(&r->mu);
    return n;
}

bool fv_wh_receiver_request(fv_wh_receiver *r, size_t i, fv_wh_request *out)
{
    pthread_mutex_lock(&r->mu);
    bool ok = i < r->nreqs;
    if (ok) {
        *out = r->reqs[i];
        out->body = malloc(out->len + 1);
        if (out->body) {
            if (out->len)
                memcpy(out->body, r->reqs[i].body, out->len);
            out->body[out->len] = '\0';
        }
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void fv_wh_request_free(fv_wh_request *q)
{
    free(q->body);
    q->body = NULL;
}

size_t fv_wh_receiver_accepted(fv_wh_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nids;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t fv_wh_receiver_accepted_distinct(fv_wh_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nids, d = 0;
    char **copy = n ? malloc(n * sizeof *copy) : NULL;
    if (copy) {
        memcpy(copy, r->ids, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, cmp_str);
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(copy[i], copy[i - 1]) != 0)
                d++;
    }
    pthread_mutex_unlock(&r->mu);
    free(copy);
    return d;
}

bool fv_wh_receiver_has_event(fv_wh_receiver *r, const char *event_id)
{
    pthread_mutex_lock(&r->mu);
    bool found = false;
    for (size_t i = 0; i < r->nids && !found; i++)
        found = !strcmp(r->ids[i], event_id);
    pthread_mutex_unlock(&r->mu);
    return found;
}

bool fv_wh_receiver_wait_distinct(fv_wh_receiver *r, size_t n, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    while (fv_wh_receiver_accepted_distinct(r) < n) {
        if (mono_ms() > end)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

bool fv_wh_receiver_wait_requests(fv_wh_receiver *r, size_t n, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    while (fv_wh_receiver_requests(r) < n) {
        if (mono_ms() > end)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

size_t fv_wh_receiver_bad_signatures(fv_wh_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->bad_sigs;
    pthread_mutex_unlock(&r->mu);
    return n;
}

size_t fv_wh_receiver_arrivals(fv_wh_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->arrivals;
    pthread_mutex_unlock(&r->mu);
    return n;
}

bool fv_wh_receiver_accepted_id(fv_wh_receiver *r, size_t i, char *out, size_t cap)
{
    pthread_mutex_lock(&r->mu);
    bool ok = i < r->nids;
    if (ok)
        snprintf(out, cap, "%s", r->ids[i]);
    pthread_mutex_unlock(&r->mu);
    return ok;
}
