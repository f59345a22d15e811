/* libFuzzer target for the cursor parser (cursor.c).
 *
 * A cursor is parsed from untrusted bytes (Last-Event-ID, `after`). Besides "no crash": whatever
 * parses must format back to exactly the same bytes (one spelling per position), and any 24
 * bytes read as a cursor struct must survive format -> parse unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_cursor c;
    fv_err err = {{0}};
    if (fv_cursor_parse((const char *)data, size, &c, &err) == FV_OK) {
        char out[FV_CURSOR_MAX];
        if (fv_cursor_format(&c, out, sizeof out) != FV_OK)
            abort();
        if (strlen(out) != size || memcmp(out, data, size) != 0)
            abort();
    } else {
        if (!memchr(err.msg, '\0', sizeof err.msg))
            abort();
        for (const char *p = err.msg; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                abort();
    }
    if (size >= sizeof(fv_cursor)) {
        fv_cursor in, back;
        memcpy(&in, data, sizeof in);
        char out[FV_CURSOR_MAX];
        if (fv_cursor_format(&in, out, sizeof out) != FV_OK)
            abort();
        if (fv_cursor_parse(out, strlen(out), &back, NULL) != FV_OK)
            abort();
        if (memcmp(&in, &back, sizeof in) != 0)
            abort();
    }
    return 0;
}
