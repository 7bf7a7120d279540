/* osh_driver_serve.c - a driver plugin table (ABI v1) served as the
 * openshell.compute.v1.ComputeDriver gRPC service over osh_server.
 *
 * Unary slots run on the server's worker threads. Each watch stream gets a
 * thread that blocks in the watch_sandboxes slot; its sink queues events on
 * the call (osh_call_send never blocks). Watch threads are joined when a
 * later stream starts (finished ones) and at stop (all). */
#include "config.h"

#include "osh_driver_serve.h"

#include "osh_grpc.h"
#include "osh_log.h"
#include "osh_server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OSH_DS_SERVICE "/openshell.compute.v1.ComputeDriver/"
#define OSH_DS_WATCH_MAX_QUEUED 16384

struct osh_ds_method {
	const char *path;
	const char *rpc;
	size_t slot; /* offsetof the unary slot; 0 for WatchSandboxes */
};

#define OSH_DS_UNARY(rpc, field)                                                 \
	{ OSH_DS_SERVICE rpc, rpc, offsetof(openshell_driver_table_v1, field) }

static const struct osh_ds_method osh_ds_methods[] = {
	OSH_DS_UNARY("GetCapabilities", get_capabilities),
	OSH_DS_UNARY("GetGatewayListenerRequirements", get_gateway_listener_requirements),
	OSH_DS_UNARY("ValidateSandboxCreate", validate_sandbox_create),
	OSH_DS_UNARY("GetSandbox", get_sandbox),
	OSH_DS_UNARY("ListSandboxes", list_sandboxes),
	OSH_DS_UNARY("CreateSandbox", create_sandbox),
	OSH_DS_UNARY("StopSandbox", stop_sandbox),
	OSH_DS_UNARY("StartSandbox", start_sandbox),
	OSH_DS_UNARY("DeleteSandbox", delete_sandbox),
	{OSH_DS_SERVICE "WatchSandboxes", "WatchSandboxes", 0},
	OSH_DS_UNARY("EnsureWorkspace", ensure_workspace),
	OSH_DS_UNARY("DeleteWorkspace", delete_workspace),
};
#define OSH_DS_NMETHODS (sizeof(osh_ds_methods) / sizeof(osh_ds_methods[0]))

struct osh_ds_binding {
	osh_driver_server *s;
	const struct osh_ds_method *m;
};

struct osh_ds_watch {
	osh_driver_server *s;
	const struct osh_ds_method *m;
	osh_call *call;
	pthread_t thread;
	int done; /* the thread is about to return; join it */
	struct osh_ds_watch *next;
};

struct osh_driver_server {
	openshell_driver_table_v1 table; /* zero-filled copy */
	void *instance;
	const openshell_host_v1 *host;
	const char *name;
	osh_server *srv;
	int port;
	struct osh_ds_binding bindings[OSH_DS_NMETHODS];

	pthread_mutex_t mu;
	int stopping;
	struct osh_ds_watch *watches;
};

static void osh_ds_set_err(char **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void osh_ds_set_err(char **err, const char *fmt, ...)
{
	if (!err)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	*err = strdup(buf);
}

static void osh_ds_host_free(const osh_driver_server *s, void *p)
{
	if (p && s->host && s->host->free)
		s->host->free(p);
}

static int osh_ds_stopping(osh_driver_server *s)
{
	pthread_mutex_lock(&s->mu);
	int stopping = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return stopping;
}

/* End call with the status a slot returned, synthesizing a message if the
 * plugin gave none and mapping codes outside gRPC's range to UNKNOWN. */
static void osh_ds_fail(osh_driver_server *s, const struct osh_ds_method *m, osh_call *call,
			int32_t code, const char *message)
{
	if (code < 0 || code > OPENSHELL_STATUS_UNAUTHENTICATED) {
		osh_call_fail(call, OPENSHELL_STATUS_UNKNOWN,
			      "driver %s returned the invalid status code %d from %s.", s->name,
			      (int)code, m->rpc);
		return;
	}
	if (message && *message)
		osh_call_fail(call, code, "%s", message);
	else
		osh_call_fail(call, code, "driver %s failed %s with %s.", s->name, m->rpc,
			      osh_status_name(code));
}

static void osh_ds_unary(osh_call *call, void *user_data)
{
	const struct osh_ds_binding *b = user_data;
	osh_driver_server *s = b->s;
	openshell_unary_fn_v1 fn =
		*(const openshell_unary_fn_v1 *)((const char *)&s->table + b->m->slot);
	if (!fn) {
		osh_call_fail(call, OPENSHELL_STATUS_UNIMPLEMENTED,
			      "method %s is not implemented by driver %s", b->m->rpc, s->name);
		return;
	}
	size_t req_len;
	const uint8_t *req = osh_call_request(call, &req_len);
	uint8_t *resp = NULL;
	uint64_t resp_len = 0;
	char *message = NULL;
	int32_t code = fn(s->instance, req ? req : (const uint8_t *)"", req_len, &resp,
			  &resp_len, &message);
	if (code == OPENSHELL_STATUS_OK) {
		osh_call_reply(call, resp, resp ? (size_t)resp_len : 0);
	} else {
		osh_debug("driver %s: %s: %s: %s", s->name, b->m->rpc, osh_status_name(code),
			  message ? message : "(no message)");
		osh_ds_fail(s, b->m, call, code, message);
	}
	osh_ds_host_free(s, resp);
	osh_ds_host_free(s, message);
}

/* ---- watch streams --------------------------------------------------- */

static int32_t osh_ds_sink_emit(void *ctx, const uint8_t *event, uint64_t event_len)
{
	struct osh_ds_watch *w = ctx;
	if (osh_ds_stopping(w->s))
		return 1;
	return osh_call_send(w->call, event, (size_t)event_len) != 0;
}

static int32_t osh_ds_sink_cancelled(void *ctx)
{
	struct osh_ds_watch *w = ctx;
	return osh_ds_stopping(w->s) || osh_call_closed(w->call);
}

static void *osh_ds_watch_main(void *arg)
{
	struct osh_ds_watch *w = arg;
	osh_driver_server *s = w->s;
	openshell_watch_sink_v1 sink = {
		.struct_size = sizeof(sink),
		.sink_ctx = w,
		.emit = osh_ds_sink_emit,
		.cancelled = osh_ds_sink_cancelled,
	};
	size_t req_len;
	const uint8_t *req = osh_call_request(w->call, &req_len);
	char *message = NULL;
	int32_t code = s->table.watch_sandboxes(s->instance, req ? req : (const uint8_t *)"",
						req_len, &sink, &message);
	if (osh_call_closed(w->call) || osh_ds_stopping(s))
		osh_call_finish(w->call, OPENSHELL_STATUS_CANCELLED, "the watch was cancelled");
	else if (code == OPENSHELL_STATUS_OK)
		osh_call_finish(w->call, OPENSHELL_STATUS_OK, NULL);
	else
		osh_ds_fail(s, w->m, w->call, code, message);
	osh_ds_host_free(s, message);

	pthread_mutex_lock(&s->mu);
	w->done = 1;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Join and free the watch threads that have finished (or all of them). */
static void osh_ds_reap(osh_driver_server *s, int all)
{
	struct osh_ds_watch *dead = NULL;
	pthread_mutex_lock(&s->mu);
	struct osh_ds_watch **pp = &s->watches;
	while (*pp) {
		struct osh_ds_watch *w = *pp;
		if (all || w->done) {
			*pp = w->next;
			w->next = dead;
			dead = w;
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&s->mu);
	while (dead) {
		struct osh_ds_watch *n = dead->next;
		pthread_join(dead->thread, NULL);
		free(dead);
		dead = n;
	}
}

static void osh_ds_watch(osh_call *call, void *user_data)
{
	const struct osh_ds_binding *b = user_data;
	osh_driver_server *s = b->s;
	if (!s->table.watch_sandboxes) {
		osh_call_fail(call, OPENSHELL_STATUS_UNIMPLEMENTED,
			      "method %s is not implemented by driver %s", b->m->rpc, s->name);
		return;
	}
	osh_ds_reap(s, 0);
	struct osh_ds_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		osh_call_fail(call, OPENSHELL_STATUS_RESOURCE_EXHAUSTED,
			      "driver %s: out of memory starting a watch stream", s->name);
		return;
	}
	w->s = s;
	w->m = b->m;
	w->call = call;
	/* A new stream replays every sandbox at once, faster than the socket
	 * drains; leave room for that before the stream counts as lagging. */
	osh_call_set_max_queued(call, OSH_DS_WATCH_MAX_QUEUED);
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		free(w);
		osh_call_fail(call, OPENSHELL_STATUS_UNAVAILABLE, "the driver server is stopping");
		return;
	}
	int rc = pthread_create(&w->thread, NULL, osh_ds_watch_main, w);
	if (rc == 0) {
		w->next = s->watches;
		s->watches = w;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != 0) {
		free(w);
		osh_call_fail(call, OPENSHELL_STATUS_RESOURCE_EXHAUSTED,
			      "driver %s: cannot start a thread for a watch stream: %s", s->name,
			      strerror(rc));
	}
}

/* ---- server ---------------------------------------------------------- */

osh_driver_server *osh_driver_server_start(const openshell_driver_table_v1 *table,
					   void *instance, const openshell_host_v1 *host,
					   const char *addr, char **err)
{
	if (err)
		*err = NULL;
	if (!table || !addr) {
		osh_ds_set_err(err, "no driver table or address to serve.");
		return NULL;
	}
	osh_driver_server *s = calloc(1, sizeof(*s));
	if (!s) {
		osh_ds_set_err(err, "out of memory.");
		return NULL;
	}
	size_t n = table->struct_size < sizeof(s->table) ? table->struct_size : sizeof(s->table);
	memcpy(&s->table, table, n);
	s->instance = instance;
	s->host = host;
	s->name = host && host->driver_name && *host->driver_name ? host->driver_name
		  : table->name						 ? table->name
									 : "(unnamed)";
	pthread_mutex_init(&s->mu, NULL);

	osh_grpc_init();
	s->srv = osh_server_new(0);
	if (!s->srv) {
		osh_ds_set_err(err, "driver %s: cannot create a gRPC server.", s->name);
		goto fail;
	}
	for (size_t i = 0; i < OSH_DS_NMETHODS; i++) {
		s->bindings[i].s = s;
		s->bindings[i].m = &osh_ds_methods[i];
		osh_handler_fn fn = osh_ds_methods[i].slot ? osh_ds_unary : osh_ds_watch;
		if (osh_server_add_method(s->srv, osh_ds_methods[i].path, fn, &s->bindings[i]) != 0) {
			osh_ds_set_err(err, "driver %s: cannot register %s.", s->name,
				       osh_ds_methods[i].path);
			goto fail;
		}
	}
	s->port = osh_server_listen(s->srv, addr);
	if (s->port == 0) {
		osh_ds_set_err(err, "driver %s: cannot listen on %s.", s->name, addr);
		goto fail;
	}
	if (osh_server_start(s->srv) != 0) {
		osh_ds_set_err(err, "driver %s: cannot start the gRPC server on %s.", s->name, addr);
		osh_server_shutdown(s->srv);
		goto fail;
	}
	return s;

fail:
	osh_server_free(s->srv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	osh_grpc_shutdown();
	return NULL;
}

int osh_driver_server_port(const osh_driver_server *s)
{
	return s ? s->port : 0;
}

void osh_driver_server_stop(osh_driver_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_mutex_unlock(&s->mu);
	/* Cancels the open calls and waits until every call is released, that
	 * is until each watch thread has finished its stream. */
	osh_server_shutdown(s->srv);
	osh_ds_reap(s, 1);
	osh_server_free(s->srv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	osh_grpc_shutdown();
}
