/* libFuzzer target for the `types` query parser (types_filter.c).
 *
 * Beyond "no crash": a parsed filter's subject suffix must cover every type the filter matches,
 * parsing must not depend on letter case (except Flovyn's upper-case names with '_'), and an error
 * message must be printable text. Any violation aborts so the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/pattern.h"
#include "flovyn/types_filter.h"

static const char *const probe_types[] = {
    "task",
    "task.completed",
    "task.failed",
    "workflow.started",
    "workflow",
    "a",
    "a.b",
    "a.b.c",
    "child_workflow.initiated",
    "x.y.z.w",
    "a.b.c.d.e.f.g.h",
    "custom",
    "failed",
    "task.a.failed",
};

static void check_msg(const fv_err *err)
{
    if (!memchr(err->msg, '\0', sizeof err->msg))
        abort();
    for (const char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *spec = malloc(size + 1), *upper = malloc(size + 1);
    if (!spec || !upper)
        abort();
    memcpy(spec, data, size);
    spec[size] = '\0';
    for (size_t i = 0; i <= size; i++)
        upper[i] = (spec[i] >= 'a' && spec[i] <= 'z') ? (char)(spec[i] - 'a' + 'A') : spec[i];

    for (int d = 0; d < 2; d++) {
        fv_types_filter *f = NULL, *g = NULL;
        fv_err err = {{0}}, err2 = {{0}};
        fv_status st = fv_types_filter_parse(spec, (fv_types_default)d, &f, &err);
        fv_status st2 = fv_types_filter_parse(upper, (fv_types_default)d, &g, &err2);
        /* upper-case items with '_' may be Flovyn names (TASK_CREATED -> task.created), so case
         * only never matters for specs without '_' */
        bool same_case_meaning = memchr(spec, '_', size) == NULL;
        if (same_case_meaning && st != st2)
            abort();
        if ((st == FV_OK) != (st2 == FV_OK)) { /* only possible with Flovyn names */
            fv_types_filter_destroy(f);
            fv_types_filter_destroy(g);
            continue;
        }
        if (st != FV_OK) {
            if (f || g)
                abort();
            check_msg(&err);
            continue;
        }
        char sfx[160];
        if (fv_types_filter_subject_suffix(f, sfx, sizeof sfx) != FV_OK)
            abort();
        for (size_t i = 0; i < sizeof probe_types / sizeof probe_types[0]; i++) {
            bool m = fv_types_filter_match_type(f, probe_types[i]);
            if (same_case_meaning && m != fv_types_filter_match_type(g, probe_types[i]))
                abort();
            if (m && !fv_subject_matches(sfx, probe_types[i]))
                abort();
            if (fv_types_filter_all_events(f) && !m)
                abort();
        }
        /* the spec itself, when it is a valid type, must also be covered when matched */
        if (fv_event_type_validate(spec, size, NULL) == FV_OK &&
            fv_types_filter_match_type(f, spec) && !fv_subject_matches(sfx, spec))
            abort();
        fv_types_filter *c = NULL;
        if (fv_types_filter_clone(f, &c) != FV_OK)
            abort();
        for (int k = 0; k < FV_KIND_COUNT; k++)
            if (fv_types_filter_match_kind(c, (fv_stream_kind)k) !=
                fv_types_filter_match_kind(f, (fv_stream_kind)k))
                abort();
        fv_types_filter_destroy(c);
        fv_types_filter_destroy(f);
        fv_types_filter_destroy(g);
    }
    free(spec);
    free(upper);
    return 0;
}
