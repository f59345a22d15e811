/* frame.h - shared, reference-counted SSE frame bodies.
 *
 * An event that fans out to N connections is framed once: the first connection that receives it
 * builds the body ("event: ...\ndata: ...\n\n") and parks it in the bus's per-dispatch slot
 * (fv_msg.shared); every other connection takes a reference. Only the `id:` line differs per
 * connection (a merged stream's cursor carries both sources), so it travels beside the body.
 */
#ifndef FLOVYN_GW_FRAME_H
#define FLOVYN_GW_FRAME_H

#include <stdatomic.h>
#include <stddef.h>

#include "flovyn/bus.h"
#include "flovyn/status.h"

typedef struct fv_frame {
    atomic_int refs;
    size_t len;
    char data[];
} fv_frame;

/* a new frame holding a copy of p (refs = 1); NULL on ENOMEM */
fv_frame *fv_frame_new(const void *p, size_t n);
fv_frame *fv_frame_ref(fv_frame *f);
void fv_frame_unref(fv_frame *f);

/* The body of a message's frame (event or stream event), built once per dispatch and shared
 * through m->shared when the bus offers the slot. Returns a new reference owned by the caller;
 * NULL for kinds that have no body or on ENOMEM. */
fv_frame *fv_frame_for_msg(const fv_msg *m);

/* Frames built once at start and never freed (retry hints are per-connection, not here). */
fv_frame *fv_frame_keepalive(void);

#endif
