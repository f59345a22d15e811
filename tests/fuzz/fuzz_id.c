/* libFuzzer target: the id validator, the event_type grammar and the legacy name mapping.
 *
 * Each validator is compared with a straightforward restatement of its CONTRACT §2 rule, so a
 * difference in either is a finding. Error messages must never echo a non-printable byte.
 * Legacy names that convert must convert back to themselves.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/event.h"
#include "flovyn/id.h"
#include "flovyn/legacy.h"

static bool ref_id(const char *s, size_t n)
{
    if (n < 1 || n > 64 || (n == 1 && s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

static bool ref_type(const char *s, size_t n)
{
    static const char *reserved[] = {"token",      "tokens",       "progress", "data", "error",
                                     "errors",     "stream_error", "events",   "gap",  "end",
                                     "overloaded", "auth_expired", "message",  "open"};
    if (n < 1 || n > 128)
        return false;
    size_t tokens = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (i == start)
                return false;
            if (tokens == 0)
                for (size_t r = 0; r < sizeof reserved / sizeof *reserved; r++)
                    if (strlen(reserved[r]) == i && memcmp(reserved[r], s, i) == 0)
                        return false;
            tokens++;
            start = i + 1;
        } else if (!(s[i] && strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", s[i]))) {
            return false;
        }
    }
    return tokens <= 8;
}

static void printable(const fv_err *err)
{
    for (const char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            abort();
    if (!err->msg[0])
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    fv_err err = {{0}};
    bool ok = fv_id_validate("tenant_id", s, size, &err) == FV_OK;
    if (ok != ref_id(s, size) || ok != fv_id_valid(s, size))
        abort();
    if (!ok)
        printable(&err);

    err.msg[0] = '\0';
    ok = fv_event_type_validate(s, size, &err) == FV_OK;
    if (ok != ref_type(s, size))
        abort();
    if (!ok)
        printable(&err);

    if (size <= 200 && !memchr(s, 0, size)) {
        char in[201], out[129], back[129];
        memcpy(in, s, size);
        in[size] = '\0';
        if (fv_legacy_to_type(in, out, sizeof out, NULL) == FV_OK) {
            if (!ref_type(out, strlen(out)) ||
                fv_legacy_from_type(out, back, sizeof back, NULL) != FV_OK || strcmp(back, in))
                abort();
        }
        if (fv_legacy_from_type(in, out, sizeof out, NULL) == FV_OK) {
            if (fv_legacy_to_type(out, back, sizeof back, NULL) != FV_OK || strcmp(back, in))
                abort();
        }
    }
    return 0;
}
