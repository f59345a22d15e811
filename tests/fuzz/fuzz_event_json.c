/* libFuzzer target: JSON decoding of both event shapes (event.h).
 *
 * Every input is decoded as a FlovynEvent and as a StreamEvent. Whatever decodes must re-encode
 * on one line and decode again, through JSON and through protobuf, to the same fields with the
 * same data/payload bytes; whatever fails must leave nothing allocated and say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/event.h"
#include "fuzz_event_common.h"

static void one_line(const fv_buf *b)
{
    if (memchr(b->data, '\n', b->len) || memchr(b->data, '\r', b->len))
        abort();
}

static void event_round_trip(const char *buf, size_t size, const fv_limits *lim)
{
    fv_event ev, back;
    fv_err err = {{0}};
    if (fv_event_from_json(&ev, buf, size, lim, &err) != FV_OK) {
        if (!err.msg[0] || ev.data)
            abort();
        return;
    }
    fv_buf js = FV_BUF_INIT, pb = FV_BUF_INIT;
    if (fv_event_to_json(&ev, &js) != FV_OK)
        abort();
    one_line(&js);
    if (fv_event_from_json(&back, js.data, js.len, lim, &err) != FV_OK)
        abort();
    same_event(&ev, &back);
    fv_event_clear(&back);
    if (fv_event_to_proto(&ev, &pb) != FV_OK)
        abort();
    if (fv_event_decode(&back, "application/x-protobuf", pb.data, pb.len, lim, &err) != FV_OK)
        abort();
    same_event(&ev, &back);
    fv_event_clear(&back);
    /* a complete event passes publish validation, and its dedup key fits */
    if (fv_event_fill_defaults(&ev) != FV_OK)
        abort();
    if (ev.tenant_id[0] && ev.event_type[0]) {
        if (fv_event_validate(&ev, lim, &err) != FV_OK)
            abort();
        char key[FV_DEDUP_KEY_MAX];
        if (fv_event_dedup_key(&ev, key, sizeof key) != FV_OK)
            abort();
    }
    fv_buf_free(&js);
    fv_buf_free(&pb);
    fv_event_clear(&ev);
}

static void stream_round_trip(const char *buf, size_t size, const fv_limits *lim)
{
    fv_stream_event se, back;
    fv_err err = {{0}};
    fv_stream_event_init(&se);
    memcpy(se.tenant_id, "t", 2);
    if (fv_stream_event_from_json(&se, buf, size, lim, &err) != FV_OK) {
        if (!err.msg[0] || se.payload || strcmp(se.tenant_id, "t"))
            abort();
        return;
    }
    fv_buf js = FV_BUF_INIT, pb = FV_BUF_INIT;
    if (fv_stream_event_to_json(&se, &js) != FV_OK)
        abort();
    one_line(&js);
    fv_stream_event_init(&back);
    memcpy(back.tenant_id, "t", 2);
    if (fv_stream_event_from_json(&back, js.data, js.len, lim, &err) != FV_OK)
        abort();
    same_stream(&se, &back);
    fv_stream_event_clear(&back);
    if (se.sequence >= 0 && se.kind < FV_KIND_COUNT) {
        if (fv_stream_event_to_proto(&se, &pb) != FV_OK)
            abort();
        if (fv_stream_event_decode(&back, NULL, pb.data, pb.len, lim, &err) != FV_OK)
            abort();
        same_stream(&se, &back);
        fv_stream_event_clear(&back);
        if (se.workflow_execution_id[0] && fv_stream_event_validate(&se, lim, &err) != FV_OK)
            abort();
    }
    fv_buf_free(&js);
    fv_buf_free(&pb);
    fv_stream_event_clear(&se);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a small data limit so the fuzzer reaches the size checks too */
    fv_limits lim = {.max_data = 4096};
    event_round_trip((const char *)data, size, &lim);
    stream_round_trip((const char *)data, size, &lim);
    return 0;
}
