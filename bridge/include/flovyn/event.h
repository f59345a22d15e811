/* event.h - the two event shapes (CONTRACT §2) and their codecs.
 *
 * FlovynEvent (lifecycle, tenant-scoped) and StreamEvent (token/progress/data/error of one
 * execution). Ids and types are bounded and stored inline; `data`/`payload` are the producer's
 * JSON bytes, owned by the struct (malloc'd), validated and never re-serialized.
 *
 * Codecs: JSON (Flovyn's snake_case form; StreamEvent also Flovyn's camelCase form with upper-case
 * type and payload as a JSON string holding JSON) and protobuf (schemas/flovyn/v1, data_json /
 * payload_json as bytes). fv_*_decode picks the codec from a NATS Content-Type header (or, without
 * one, a first byte of `{`), so any NATS client can publish JSON.
 *
 * Decoders and fv_*_copy write the destination from scratch (they do not free what it held:
 * clear it first when reusing it); on error it is left empty with nothing allocated. Stored JSON
 * is the producer's bytes with surrounding whitespace trimmed and raw CR/LF (which valid JSON can
 * only have as insignificant whitespace) turned into spaces, so every encoded event is one line.
 * A JSON StreamEvent without `sequence` or `type` decodes with sequence -1 / kind FV_KIND_COUNT,
 * which fv_stream_event_validate rejects (the caller may fill them in first).
 */
#ifndef FLOVYN_EVENT_H
#define FLOVYN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/buf.h"
#include "flovyn/id.h"
#include "flovyn/status.h"
#include "flovyn/units.h"

#define FV_TYPE_MAX 128      /* event_type bytes */
#define FV_TYPE_TOKENS_MAX 8 /* event_type dot-separated tokens */
#define FV_SOURCE_MAX 256
#define FV_CORRELATION_MAX 256
#define FV_DATA_MAX_DEFAULT (1024 * 1024)
#define FV_DEDUP_KEY_MAX 256

typedef struct fv_limits {
    size_t max_data; /* bytes of data/payload; 0 = FV_DATA_MAX_DEFAULT */
} fv_limits;

typedef struct fv_event {
    char id[FV_ID_MAX + 1]; /* "" on ingest = generate a UUIDv4 (fv_event_fill_defaults) */
    char tenant_id[FV_ID_MAX + 1];
    char workflow_execution_id[FV_ID_MAX + 1];        /* "" = none */
    char task_execution_id[FV_ID_MAX + 1];            /* "" = none */
    char parent_workflow_execution_id[FV_ID_MAX + 1]; /* "" = none */
    char event_type[FV_TYPE_MAX + 1];
    char source[FV_SOURCE_MAX + 1];
    char correlation_id[FV_CORRELATION_MAX + 1]; /* "" = none */
    int64_t timestamp_ms;                        /* 0 on ingest = now */
    char *data; /* JSON text, NUL-terminated, owned; NULL = "null" */
    size_t data_len;
} fv_event;

typedef enum fv_stream_kind {
    FV_KIND_TOKEN = 0,
    FV_KIND_PROGRESS = 1,
    FV_KIND_DATA = 2,
    FV_KIND_ERROR = 3,
    FV_KIND_COUNT
} fv_stream_kind;

typedef struct fv_stream_event {
    char tenant_id[FV_ID_MAX + 1]; /* not in the JSON shape; known from token/subject */
    char workflow_execution_id[FV_ID_MAX + 1];
    char task_execution_id[FV_ID_MAX + 1]; /* "" = none */
    int64_t sequence;                      /* producer's sequence, >= 0 */
    fv_stream_kind kind;
    int64_t timestamp_ms;
    char *payload; /* JSON text, NUL-terminated, owned; NULL = "null" */
    size_t payload_len;
} fv_stream_event;

/* "token", "progress", "data", "error" */
const char *fv_kind_name(fv_stream_kind k);
/* accepts the four names case-insensitively (Flovyn sends "TOKEN"); FV_EINVAL otherwise */
fv_status fv_kind_parse(const char *s, size_t n, fv_stream_kind *out);

/* Which codec reads bytes taken from NATS: the Content-Type when there is one (an unsupported one
 * is FV_EINVAL), otherwise JSON when the first non-blank byte is `{`, else protobuf. */
typedef enum fv_codec { FV_CODEC_JSON, FV_CODEC_PROTO } fv_codec;
fv_status fv_codec_pick(const char *content_type, const void *buf, size_t len, fv_codec *out,
                        fv_err *err);
/* true when buf is a well-formed protobuf FlovynEvent (stream false) or StreamEvent: valid wire
 * format, no NUL in a string field, unpackable within the decoder's budget. Says nothing about
 * the fields' values; tells "not protobuf at all" from "protobuf breaking a rule of §2". */
bool fv_proto_wellformed(bool stream, const void *buf, size_t len);

/* --- lifecycle ------------------------------------------------------------------------------ */
void fv_event_init(fv_event *ev);
void fv_event_clear(fv_event *ev); /* frees data, zeroes */
fv_status fv_event_copy(fv_event *dst, const fv_event *src);
/* copies JSON bytes into ev->data after validating them */
fv_status fv_event_set_data(fv_event *ev, const char *json, size_t len, const fv_limits *lim,
                            fv_err *err);
/* id = UUIDv4 if empty, timestamp_ms = now if 0 */
fv_status fv_event_fill_defaults(fv_event *ev);
/* every rule of CONTRACT §2 (ids, event_type grammar and reserved names, sizes) */
fv_status fv_event_validate(const fv_event *ev, const fv_limits *lim, fv_err *err);
/* the same rules for the fields that are set only: an empty id, tenant_id or event_type passes
 * (decoders use it; ingest fills the tenant and defaults afterwards) */
fv_status fv_event_validate_present(const fv_event *ev, const fv_limits *lim, fv_err *err);
/* checks an event_type alone */
fv_status fv_event_type_validate(const char *type, size_t len, fv_err *err);
/* "<tenant>:<id>" */
fv_status fv_event_dedup_key(const fv_event *ev, char *out, size_t cap);

/* JSON in: snake_case (and camelCase aliases). Does not fill defaults; validates fields present.
 * Unknown members are ignored. */
fv_status fv_event_from_json(fv_event *ev, const char *json, size_t len, const fv_limits *lim,
                             fv_err *err);
/* JSON out: the §2 shape, one line, absent optionals as null. */
fv_status fv_event_to_json(const fv_event *ev, fv_buf *out);
fv_status fv_event_to_proto(const fv_event *ev, fv_buf *out);
/* Untrusted bytes: length checked before unpacking, unpack with a budget-capped allocator. */
fv_status fv_event_from_proto(fv_event *ev, const void *buf, size_t len, const fv_limits *lim,
                              fv_err *err);
/* content_type: the NATS header value or NULL. */
fv_status fv_event_decode(fv_event *ev, const char *content_type, const void *buf, size_t len,
                          const fv_limits *lim, fv_err *err);

/* --- stream events -------------------------------------------------------------------------- */
void fv_stream_event_init(fv_stream_event *se);
void fv_stream_event_clear(fv_stream_event *se);
fv_status fv_stream_event_copy(fv_stream_event *dst, const fv_stream_event *src);
fv_status fv_stream_event_set_payload(fv_stream_event *se, const char *json, size_t len,
                                      const fv_limits *lim, fv_err *err);
fv_status fv_stream_event_validate(const fv_stream_event *se, const fv_limits *lim, fv_err *err);
/* "<tenant>:<workflow>:<task|_>:<sequence>" */
fv_status fv_stream_event_dedup_key(const fv_stream_event *se, char *out, size_t cap);
/* snake_case or Flovyn camelCase (workflowExecutionId, taskExecutionId, timestampMs, upper-case
 * type, payload as a JSON string holding JSON). tenant_id is left as is (caller sets it). */
fv_status fv_stream_event_from_json(fv_stream_event *se, const char *json, size_t len,
                                    const fv_limits *lim, fv_err *err);
/* the §2 shape (no tenant_id member) */
fv_status fv_stream_event_to_json(const fv_stream_event *se, fv_buf *out);
fv_status fv_stream_event_to_proto(const fv_stream_event *se, fv_buf *out);
fv_status fv_stream_event_from_proto(fv_stream_event *se, const void *buf, size_t len,
                                     const fv_limits *lim, fv_err *err);
fv_status fv_stream_event_decode(fv_stream_event *se, const char *content_type, const void *buf,
                                 size_t len, const fv_limits *lim, fv_err *err);

#endif
