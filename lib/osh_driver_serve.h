/* osh_driver_serve.h - serve a compute-driver plugin table (ABI v1) as the
 * openshell.compute.v1.ComputeDriver gRPC service on an address.
 *
 * Each unary RPC calls its table slot on a server worker thread and sends
 * back the slot's status, message and response bytes as they are; a NULL
 * slot answers UNIMPLEMENTED. Each WatchSandboxes stream runs the blocking
 * watch_sandboxes slot on a thread of its own, with a sink that queues events
 * on the stream; the stream ends with the status the slot returns. */
#ifndef OSH_DRIVER_SERVE_H
#define OSH_DRIVER_SERVE_H

#include "openshell/driver.h"

typedef struct osh_driver_server osh_driver_server;

/*
 * Start serving. table: a validated driver table (the caller's copy; it must
 * stay valid until stop returns). instance: what table->open returned.
 * host: the host table given to open; its free() releases the buffers the
 * plugin returns, and driver_name (else table->name) names the driver in
 * synthesized messages. addr: "unix:/abs/path" or "host:port".
 *
 * Calls osh_grpc_init() (balanced in stop). Returns the server, or NULL with
 * *err (if err is non-NULL) set to a malloc'd sentence.
 * The caller still owns instance: close it after osh_driver_server_stop.
 */
osh_driver_server *osh_driver_server_start(const openshell_driver_table_v1 *table,
					   void *instance, const openshell_host_v1 *host,
					   const char *addr, char **err);

/* The port bound (TCP), or 1 for a unix: address. */
int osh_driver_server_port(const osh_driver_server *s);

/*
 * Graceful stop: refuses new calls, cancels open watch streams (their sinks
 * report cancelled; the streams end with CANCELLED), waits for running
 * slots to return, joins the watch threads and frees everything. Call once,
 * not from a handler. NULL ok.
 */
void osh_driver_server_stop(osh_driver_server *s);

#endif
