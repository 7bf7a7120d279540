/* osh_server.h - a gRPC C-core server whose handlers run on worker threads.
 *
 * One thread polls the completion queue; each incoming call is handed to a
 * worker thread that runs the method's handler, so handlers may block (a
 * driver call that starts a container). Replies are raw protobuf bytes.
 *
 * Server streams do not hold a thread: a handler keeps a reference to the
 * call, and any thread queues messages with osh_call_send(); the poller
 * writes them in order, one write in flight at a time.
 */
#ifndef OSH_SERVER_H
#define OSH_SERVER_H

#include <grpc/support/time.h>
#include <stddef.h>
#include <stdint.h>

typedef struct osh_server osh_server;
typedef struct osh_call osh_call;

/* Runs on a worker thread. The handler owns one reference to call and must
 * hand it back through exactly one of osh_call_reply / osh_call_fail /
 * osh_call_finish (now or later, from any thread). */
typedef void (*osh_handler_fn)(osh_call *call, void *user_data);

/* workers: number of handler threads (0 = default 16: handlers block on
 * driver calls, so a few slow ones must not hold up the rest). Needs
 * osh_grpc_init(). */
osh_server *osh_server_new(unsigned workers);

/* Before start. path ("/pkg.Service/Method") must outlive the server.
 * Returns 0, or -1 when called after start or gRPC refused it. */
int osh_server_add_method(osh_server *srv, const char *path, osh_handler_fn fn,
			  void *user_data);

/* Before start. addr: "unix:/abs/path" or "host:port". Returns the bound
 * port (1 for unix:), or 0 on failure. */
int osh_server_listen(osh_server *srv, const char *addr);

/* Starts the poller and workers. Returns 0 or -1. */
int osh_server_start(osh_server *srv);

/* Stop accepting calls, cancel open calls (watch streams end with
 * CANCELLED), wait for handlers and pollers to finish and for every call
 * reference to be released, including those taken with osh_call_ref: whoever
 * keeps a stream must drop it from its osh_call_on_close callback (or when
 * osh_call_closed turns true), or this waits forever. Call once, from a
 * thread that is not a handler. Then osh_server_free. */
void osh_server_shutdown(osh_server *srv);
void osh_server_free(osh_server *srv); /* NULL ok */

/* ---- calls ----------------------------------------------------------- */

/* The request message bytes (NULL/0 when the client sent none). Valid
 * until the call's last reference is released. */
const uint8_t *osh_call_request(const osh_call *call, size_t *len);
/* The client's deadline (gpr_inf_future when none). */
gpr_timespec osh_call_deadline(const osh_call *call);
const char *osh_call_method(const osh_call *call);

/* Unary success: send response bytes (copied) with status OK. Consumes
 * the handler's reference. The client may see the reply before the handler
 * returns. */
void osh_call_reply(osh_call *call, const uint8_t *response, size_t len);

/* End the call with a non-OK status and message (printf format). For a
 * stream, queued messages are sent first. Consumes one reference. */
void osh_call_fail(osh_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Streams: queue one message (copied). Thread-safe. Returns 0, or -1 when
 * the call is closed (client went away, server shutting down, or finish
 * already called) or more than max_queued messages are waiting (the
 * message is dropped and the call is failed with RESOURCE_EXHAUSTED). */
int osh_call_send(osh_call *call, const uint8_t *msg, size_t len);

/* Streams: end with status after everything queued has been written.
 * Consumes one reference. message may be NULL. */
void osh_call_finish(osh_call *call, int code, const char *message);

/* Extra references for whoever keeps a stream (a watcher list). */
void osh_call_ref(osh_call *call);
void osh_call_unref(osh_call *call);

/* Non-zero once the client cancelled, the server is shutting down, or the
 * call has finished. Thread-safe. */
int osh_call_closed(const osh_call *call);

/* Register fn to run once (on the poller thread, must not block) when the
 * call closes for any reason. If already closed, fn runs right away on the
 * calling thread. */
void osh_call_on_close(osh_call *call, void (*fn)(osh_call *call, void *ud), void *ud);

/* Most messages a stream may have waiting (default 1024). */
void osh_call_set_max_queued(osh_call *call, size_t max);

#endif
