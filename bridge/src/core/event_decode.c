/* event_decode.c - which codec reads bytes taken from NATS: the message's Content-Type when it
 * has one, otherwise its first byte (`{` is JSON, anything else protobuf), so any NATS client can
 * publish JSON without setting a header. It sits above both codecs (event_json.c,
 * event_proto.c), which sit above the event model (event.c): calls go one way.
 */
#include "flovyn/event.h"

#include <string.h>
#include <strings.h>

fv_status fv_codec_pick(const char *content_type, const void *buf, size_t len, fv_codec *out,
                        fv_err *err)
{
    if (content_type && *content_type) {
        const char *s = content_type;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, "; \t");
        if ((n == 22 && strncasecmp(s, "application/x-protobuf", n) == 0) ||
            (n == 20 && strncasecmp(s, "application/protobuf", n) == 0)) {
            *out = FV_CODEC_PROTO;
            return FV_OK;
        }
        if (n == 16 && strncasecmp(s, "application/json", n) == 0) {
            *out = FV_CODEC_JSON;
            return FV_OK;
        }
        char shown[48];
        size_t k = 0;
        for (size_t i = 0; s[i] && k < sizeof shown - 1 && i < 40; i++)
            shown[k++] = (s[i] > 0x20 && s[i] < 0x7F) ? s[i] : '?';
        shown[k] = '\0';
        return fv_err_set(err, FV_EINVAL,
                          "unsupported Content-Type '%s' (application/x-protobuf or "
                          "application/json)",
                          shown);
    }
    const char *p = buf;
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    *out = i < len && p[i] == '{' ? FV_CODEC_JSON : FV_CODEC_PROTO;
    return FV_OK;
}

fv_status fv_event_decode(fv_event *ev, const char *content_type, const void *buf, size_t len,
                          const fv_limits *lim, fv_err *err)
{
    fv_codec c;
    fv_status st = fv_codec_pick(content_type, buf, len, &c, err);
    if (st != FV_OK) {
        fv_event_init(ev);
        return st;
    }
    return c == FV_CODEC_JSON ? fv_event_from_json(ev, buf, len, lim, err)
                              : fv_event_from_proto(ev, buf, len, lim, err);
}

fv_status fv_stream_event_decode(fv_stream_event *se, const char *content_type, const void *buf,
                                 size_t len, const fv_limits *lim, fv_err *err)
{
    fv_codec c;
    fv_status st = fv_codec_pick(content_type, buf, len, &c, err);
    if (st != FV_OK) {
        char tenant[sizeof se->tenant_id];
        memcpy(tenant, se->tenant_id, sizeof tenant);
        fv_stream_event_init(se);
        memcpy(se->tenant_id, tenant, sizeof tenant);
        return st;
    }
    return c == FV_CODEC_JSON ? fv_stream_event_from_json(se, buf, len, lim, err)
                              : fv_stream_event_from_proto(se, buf, len, lim, err);
}
