/* frame.c - shared SSE frame bodies; see frame.h.
 *
 * The counter is atomic because references are taken on bus threads (fan-out) and dropped on
 * HTTP threads (after the bytes are written). A frame is immutable once built.
 */
#include "frame.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

fv_frame *fv_frame_new(const void *p, size_t n)
{
    fv_frame *f = malloc(sizeof *f + n + 1);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = n;
    if (n)
        memcpy(f->data, p, n);
    f->data[n] = '\0';
    return f;
}

fv_frame *fv_frame_ref(fv_frame *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void fv_frame_unref(fv_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

static void frame_unref_void(void *p)
{
    fv_frame_unref(p);
}

static fv_frame *build(const fv_msg *m)
{
    fv_buf json = FV_BUF_INIT, out = FV_BUF_INIT;
    const char *name;
    fv_status st;
    if (m->kind == FV_MSG_EVENT && m->ev) {
        st = fv_event_to_json(m->ev, &json);
        name = m->ev->event_type;
    } else if (m->kind == FV_MSG_STREAM && m->se) {
        st = fv_stream_event_to_json(m->se, &json);
        name = fv_sse_kind_event_name(m->se->kind);
    } else {
        return NULL;
    }
    fv_frame *f = NULL;
    if (st == FV_OK && fv_sse_event(&out, NULL, name, json.data, json.len) == FV_OK)
        f = fv_frame_new(out.data, out.len);
    fv_buf_free(&json);
    fv_buf_free(&out);
    return f;
}

fv_frame *fv_frame_for_msg(const fv_msg *m)
{
    if (m->shared && *m->shared)
        return fv_frame_ref(*m->shared);
    fv_frame *f = build(m);
    if (f && m->shared) {
        *m->shared = fv_frame_ref(f);
        if (m->shared_free)
            *m->shared_free = frame_unref_void;
    }
    return f;
}

static fv_frame *g_keepalive;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_static(void)
{
    static const char ka[] = ": keep-alive\n\n";
    g_keepalive = fv_frame_new(ka, sizeof ka - 1);
}

fv_frame *fv_frame_keepalive(void)
{
    pthread_once(&g_once, init_static);
    return fv_frame_ref(g_keepalive);
}
