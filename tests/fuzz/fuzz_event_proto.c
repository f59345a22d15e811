/* libFuzzer target: protobuf decoding of both event shapes from untrusted bytes (event.h).
 *
 * The first byte picks the shape (and whether decoding goes through fv_*_decode without a
 * Content-Type). Whatever decodes must satisfy the field rules, re-encode and decode to the same
 * fields through protobuf and through JSON; whatever fails must leave nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/event.h"
#include "fuzz_event_common.h"

static void event_case(const uint8_t *p, size_t n, bool sniff, const fv_limits *lim)
{
    fv_event ev, back;
    fv_err err = {{0}};
    fv_status st = sniff ? fv_event_decode(&ev, NULL, p, n, lim, &err)
                         : fv_event_from_proto(&ev, p, n, lim, &err);
    if (st != FV_OK) {
        if (!err.msg[0] || ev.data)
            abort();
        return;
    }
    if (fv_event_validate_present(&ev, lim, &err) != FV_OK)
        abort();
    fv_buf pb = FV_BUF_INIT, js = FV_BUF_INIT;
    if (fv_event_to_proto(&ev, &pb) != FV_OK ||
        fv_event_from_proto(&back, pb.data, pb.len, lim, &err) != FV_OK)
        abort();
    same_event(&ev, &back);
    fv_event_clear(&back);
    if (fv_event_to_json(&ev, &js) != FV_OK ||
        fv_event_decode(&back, "application/json", js.data, js.len, lim, &err) != FV_OK)
        abort();
    same_event(&ev, &back);
    fv_event_clear(&back);
    fv_buf_free(&pb);
    fv_buf_free(&js);
    fv_event_clear(&ev);
}

static void stream_case(const uint8_t *p, size_t n, bool sniff, const fv_limits *lim)
{
    fv_stream_event se, back;
    fv_err err = {{0}};
    fv_stream_event_init(&se);
    fv_status st = sniff ? fv_stream_event_decode(&se, NULL, p, n, lim, &err)
                         : fv_stream_event_from_proto(&se, p, n, lim, &err);
    if (st != FV_OK) {
        if (!err.msg[0] || se.payload)
            abort();
        return;
    }
    fv_buf pb = FV_BUF_INIT, js = FV_BUF_INIT;
    /* only JSON (reached by sniffing) can leave sequence and type unset */
    if (se.sequence >= 0 && se.kind < FV_KIND_COUNT) {
        if (fv_stream_event_to_proto(&se, &pb) != FV_OK ||
            fv_stream_event_from_proto(&back, pb.data, pb.len, lim, &err) != FV_OK)
            abort();
        same_stream(&se, &back);
        fv_stream_event_clear(&back);
        if (fv_stream_event_to_json(&se, &js) != FV_OK)
            abort();
        fv_stream_event_init(&back);
        memcpy(back.tenant_id, se.tenant_id, sizeof back.tenant_id);
        if (fv_stream_event_from_json(&back, js.data, js.len, lim, &err) != FV_OK)
            abort();
        same_stream(&se, &back);
        fv_stream_event_clear(&back);
    }
    fv_buf_free(&pb);
    fv_buf_free(&js);
    fv_stream_event_clear(&se);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fv_limits lim = {.max_data = 4096};
    uint8_t mode = data[0];
    if (mode & 1)
        stream_case(data + 1, size - 1, mode & 2, &lim);
    else
        event_case(data + 1, size - 1, mode & 2, &lim);
    return 0;
}
