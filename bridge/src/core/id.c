/* id.c - the one id validator (CONTRACT §2) and random UUIDv4 ids; see id.h.
 *
 * An id becomes a NATS subject token and part of a dedup key, so it is checked byte by byte and
 * never escaped. The error names the field, the offending byte and its position, printing the
 * byte only when it is printable ASCII, so a hostile id cannot smuggle control characters or
 * broken UTF-8 into logs and JSON error bodies.
 */
#include "flovyn/id.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define ID_RULE "(ids are 1-64 of A-Z a-z 0-9 _ -)"

static bool id_byte_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

fv_status fv_id_validate(const char *field, const char *id, size_t len, fv_err *err)
{
    if (!field)
        field = "id";
    if (!id || len == 0)
        return fv_err_set(err, FV_EINVAL, "%s: empty %s", field, ID_RULE);
    if (len > FV_ID_MAX)
        return fv_err_set(err, FV_EINVAL, "%s: %zu bytes, more than %d %s", field, len, FV_ID_MAX,
                          ID_RULE);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (id_byte_ok(c))
            continue;
        if (c > 0x20 && c < 0x7F)
            return fv_err_set(err, FV_EINVAL, "%s: '%c' at position %zu is not allowed %s", field,
                              c, i, ID_RULE);
        if (c == ' ')
            return fv_err_set(err, FV_EINVAL, "%s: a space at position %zu is not allowed %s",
                              field, i, ID_RULE);
        return fv_err_set(err, FV_EINVAL, "%s: byte 0x%02x at position %zu is not allowed %s",
                          field, c, i, ID_RULE);
    }
    if (len == 1 && id[0] == '_')
        return fv_err_set(err, FV_EINVAL, "%s: '_' alone is reserved (it means \"none\") %s", field,
                          ID_RULE);
    return FV_OK;
}

bool fv_id_valid(const char *id, size_t len)
{
    return fv_id_validate("id", id, len, NULL) == 0;
}

fv_status fv_uuid4(char *out, size_t cap)
{
    if (!out || cap < 37)
        return FV_EINVAL;
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return FV_EIO;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return FV_OK;
}
