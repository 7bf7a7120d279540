/* lifecycle.h - sandbox lifecycle: the public sandbox RPCs, the store
 * writes around every driver call, the per-driver reconcilers (watch
 * stream + periodic sweep), start-up recovery and the shutdown sweep. */
#ifndef OSH_LIFECYCLE_H
#define OSH_LIFECYCLE_H

#include "api.h"
#include "store.h"

typedef struct osh_lifecycle osh_lifecycle;

/* Set up gw->lc on top of store (which the caller keeps owning) and
 * register the sandbox methods on gw->server. Before the server starts. */
int osh_lifecycle_start(osh_gateway *gw, osh_store *store, char *err, size_t errlen);
/* After the server started: recover interrupted transitions, then start
 * one reconciler thread per driver. */
void osh_lifecycle_run(osh_lifecycle *lc);
/* Stop reconcilers and, for drivers with gateway_manages_lifecycle, stop
 * running sandboxes (phase left as stored). After the server shut down. */
void osh_lifecycle_stop(osh_lifecycle *lc);
void osh_lifecycle_free(osh_lifecycle *lc); /* NULL ok */

#endif
