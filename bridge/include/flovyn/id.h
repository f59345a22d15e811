/* id.h - the one validator for tenant, workflow and task ids (CONTRACT §2).
 *
 * An id becomes a NATS subject token, so the rule is strict and never mapped or escaped:
 * 1-64 bytes of [A-Za-z0-9_-], and not "_" alone ("_" means "none" in subjects). Dots, `*`, `>`,
 * spaces, empty strings, NUL bytes are rejected with a message naming the field.
 */
#ifndef FLOVYN_ID_H
#define FLOVYN_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/status.h"

#define FV_ID_MAX 64

/* field names the id in the error ("tenant_id: ..."). */
fv_status fv_id_validate(const char *field, const char *id, size_t len, fv_err *err);
bool fv_id_valid(const char *id, size_t len);

/* Writes a random UUIDv4 (36 chars + NUL) into out (cap >= 37). */
fv_status fv_uuid4(char *out, size_t cap);

#endif
