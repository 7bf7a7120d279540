/* osh_server.c - gRPC C-core server: one completion-queue poller thread,
 * handlers on a pool of worker threads, async server streams.
 *
 * Lifetime of a call (struct osh_call): references are held by the handler
 * (until reply/fail/finish), by each batch in flight (the RECV_CLOSE batch
 * started on arrival, and at most one send batch), and by anyone who took
 * osh_call_ref. The grpc_call is unref'd when the last reference goes,
 * which is always after its last batch completed.
 *
 * Shutdown (GRPC-NOTES section 6): shutdown_and_notify, cancel_all_calls,
 * keep polling until the notify tag came back, every armed request returned
 * and every call was released; only then shut the CQ down and drain it.
 */
#include "config.h"

#include "osh_server.h"

#include "osh_grpc.h"
#include "osh_log.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OSH_SERVER_ARMED_PER_METHOD 16
#define OSH_SERVER_DEFAULT_WORKERS 16
#define OSH_CALL_DEFAULT_MAX_QUEUED 1024

enum osh_tag_kind {
	OSH_TAG_REQUEST,
	OSH_TAG_UNKNOWN,
	OSH_TAG_UNKNOWN_DONE,
	OSH_TAG_RECV_CLOSE,
	OSH_TAG_SEND,
	OSH_TAG_SHUTDOWN,
};

struct osh_tag {
	enum osh_tag_kind kind;
	void *ptr;
};

struct osh_method {
	const char *path;
	osh_handler_fn fn;
	void *user_data;
	void *handle;
	struct osh_method *next;
};

/* One armed grpc_server_request_registered_call. */
struct osh_request {
	struct osh_tag tag;
	struct osh_method *method;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
};

/* One armed grpc_server_request_call for paths nobody registered. */
struct osh_unknown {
	struct osh_tag tag;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	int recv_cancelled;
};

struct osh_msg {
	grpc_byte_buffer *bb;
	struct osh_msg *next;
};

struct osh_call {
	osh_server *srv;
	struct osh_method *method;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	uint8_t *req;
	size_t req_len;

	pthread_mutex_t mu;
	int refs;
	int closed;	      /* no more sends possible */
	int finish_requested; /* status queued */
	int status_sent;
	int initial_md_sent;
	int write_in_flight;
	int recv_cancelled;
	int finish_code;
	char *finish_msg;
	struct osh_msg *head, *tail;
	size_t nqueued, max_queued;
	grpc_byte_buffer *inflight;

	void (*on_close)(osh_call *, void *);
	void *on_close_ud;
	int on_close_fired;

	struct osh_tag recv_close_tag;
	struct osh_tag send_tag;
	struct osh_call *next_job; /* worker queue link */
};

struct osh_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	struct osh_method *methods;
	unsigned nworkers;
	pthread_t *workers;
	pthread_t poller;
	int started;
	int ran; /* the poller ran and drained the CQ */

	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct osh_call *jobs_head, *jobs_tail;
	int stopping;		/* no re-arming, workers exit when idle */
	int shutdown_notified;
	long live_calls;	/* osh_call + unknown calls not yet released */
	long armed;		/* requests handed to gRPC and not yet back */
	struct osh_tag shutdown_tag;
};

static void osh_call_release(osh_call *c);
static void osh_call_pump_locked(osh_call *c);

/* ---- arming ---------------------------------------------------------- */

static void osh_server_arm(osh_server *srv, struct osh_method *m)
{
	struct osh_request *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->tag.kind = OSH_TAG_REQUEST;
	r->tag.ptr = r;
	r->method = m;
	grpc_metadata_array_init(&r->md);
	pthread_mutex_lock(&srv->mu);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->mu);
		grpc_metadata_array_destroy(&r->md);
		free(r);
		return;
	}
	srv->armed++;
	pthread_mutex_unlock(&srv->mu);
	grpc_call_error e = grpc_server_request_registered_call(
		srv->server, m->handle, &r->call, &r->deadline, &r->md, &r->payload, srv->cq,
		srv->cq, &r->tag);
	if (e != GRPC_CALL_OK) {
		osh_error("grpc: cannot arm a call for %s (error %d)", m->path, (int)e);
		pthread_mutex_lock(&srv->mu);
		srv->armed--;
		pthread_mutex_unlock(&srv->mu);
		grpc_metadata_array_destroy(&r->md);
		free(r);
	}
}

static void osh_server_arm_unknown(osh_server *srv)
{
	struct osh_unknown *u = calloc(1, sizeof(*u));
	if (!u)
		return;
	u->tag.kind = OSH_TAG_UNKNOWN;
	u->tag.ptr = u;
	grpc_call_details_init(&u->details);
	grpc_metadata_array_init(&u->md);
	pthread_mutex_lock(&srv->mu);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->mu);
		grpc_call_details_destroy(&u->details);
		grpc_metadata_array_destroy(&u->md);
		free(u);
		return;
	}
	srv->armed++;
	pthread_mutex_unlock(&srv->mu);
	if (grpc_server_request_call(srv->server, &u->call, &u->details, &u->md, srv->cq,
				     srv->cq, &u->tag) != GRPC_CALL_OK) {
		pthread_mutex_lock(&srv->mu);
		srv->armed--;
		pthread_mutex_unlock(&srv->mu);
		grpc_call_details_destroy(&u->details);
		grpc_metadata_array_destroy(&u->md);
		free(u);
	}
}

static void osh_unknown_free(struct osh_unknown *u)
{
	grpc_call_details_destroy(&u->details);
	grpc_metadata_array_destroy(&u->md);
	if (u->call)
		grpc_call_unref(u->call);
	free(u);
}

/* Answer a call to a path nobody registered with UNIMPLEMENTED. */
static void osh_unknown_answer(osh_server *srv, struct osh_unknown *u)
{
	char *method = grpc_slice_to_c_string(u->details.method);
	char text[512];
	snprintf(text, sizeof(text), "method %s is not implemented", method);
	gpr_free(method);
	grpc_slice details = grpc_slice_from_copied_string(text);
	grpc_op ops[3];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
	ops[1].data.send_status_from_server.status_details = &details;
	ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[2].data.recv_close_on_server.cancelled = &u->recv_cancelled;
	u->tag.kind = OSH_TAG_UNKNOWN_DONE;
	pthread_mutex_lock(&srv->mu);
	srv->live_calls++;
	pthread_mutex_unlock(&srv->mu);
	if (grpc_call_start_batch(u->call, ops, 3, &u->tag, NULL) != GRPC_CALL_OK) {
		grpc_call_cancel(u->call, NULL);
		osh_unknown_free(u);
		pthread_mutex_lock(&srv->mu);
		srv->live_calls--;
		pthread_mutex_unlock(&srv->mu);
	}
	grpc_slice_unref(details);
}

/* ---- workers --------------------------------------------------------- */

/* Returns -1 when the server is stopping (workers may be gone). */
static int osh_server_enqueue(osh_server *srv, osh_call *c)
{
	pthread_mutex_lock(&srv->mu);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->mu);
		return -1;
	}
	c->next_job = NULL;
	if (srv->jobs_tail)
		srv->jobs_tail->next_job = c;
	else
		srv->jobs_head = c;
	srv->jobs_tail = c;
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

static void *osh_server_worker(void *arg)
{
	osh_server *srv = arg;
	for (;;) {
		pthread_mutex_lock(&srv->mu);
		while (!srv->jobs_head && !srv->stopping)
			pthread_cond_wait(&srv->cond, &srv->mu);
		osh_call *c = srv->jobs_head;
		if (!c) { /* stopping and idle */
			pthread_mutex_unlock(&srv->mu);
			return NULL;
		}
		srv->jobs_head = c->next_job;
		if (!srv->jobs_head)
			srv->jobs_tail = NULL;
		pthread_mutex_unlock(&srv->mu);
		c->method->fn(c, c->method->user_data);
	}
}

/* ---- calls ----------------------------------------------------------- */

static osh_call *osh_call_new(osh_server *srv, struct osh_request *r)
{
	osh_call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = srv;
	c->method = r->method;
	c->call = r->call;
	c->deadline = r->deadline;
	c->md = r->md; /* moved */
	pthread_mutex_init(&c->mu, NULL);
	c->max_queued = OSH_CALL_DEFAULT_MAX_QUEUED;
	c->recv_close_tag.kind = OSH_TAG_RECV_CLOSE;
	c->recv_close_tag.ptr = c;
	c->send_tag.kind = OSH_TAG_SEND;
	c->send_tag.ptr = c;
	c->refs = 1; /* the handler's */
	return c;
}

static void osh_call_drop_queue_locked(osh_call *c)
{
	struct osh_msg *m = c->head;
	while (m) {
		struct osh_msg *n = m->next;
		grpc_byte_buffer_destroy(m->bb);
		free(m);
		m = n;
	}
	c->head = c->tail = NULL;
	c->nqueued = 0;
}

static void osh_call_release(osh_call *c)
{
	osh_server *srv = c->srv;
	osh_call_drop_queue_locked(c);
	grpc_metadata_array_destroy(&c->md);
	grpc_call_unref(c->call);
	free(c->req);
	free(c->finish_msg);
	pthread_mutex_destroy(&c->mu);
	free(c);
	pthread_mutex_lock(&srv->mu);
	srv->live_calls--;
	pthread_mutex_unlock(&srv->mu);
}

void osh_call_ref(osh_call *c)
{
	pthread_mutex_lock(&c->mu);
	c->refs++;
	pthread_mutex_unlock(&c->mu);
}

void osh_call_unref(osh_call *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	int last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		osh_call_release(c);
}

/* Marks the call closed; returns the on_close callback to fire (outside the
 * lock) or NULL. */
static void (*osh_call_close_locked(osh_call *c))(osh_call *, void *)
{
	c->closed = 1;
	osh_call_drop_queue_locked(c);
	if (c->on_close && !c->on_close_fired) {
		c->on_close_fired = 1;
		return c->on_close;
	}
	return NULL;
}

/* Start the next send batch if none is in flight. Called with c->mu held. */
static void osh_call_pump_locked(osh_call *c)
{
	if (c->write_in_flight || c->status_sent)
		return;
	if (c->closed && !c->finish_requested)
		return;
	grpc_op ops[3];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	struct osh_msg *m = NULL;
	if (!c->closed && c->head) {
		m = c->head;
		c->head = m->next;
		if (!c->head)
			c->tail = NULL;
		c->nqueued--;
	} else if (!c->finish_requested) {
		return;
	}
	if (!c->initial_md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->initial_md_sent = 1;
	}
	if (m) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = m->bb;
		c->inflight = m->bb;
		free(m);
	}
	int with_status = c->finish_requested && !c->head;
	grpc_slice details;
	if (with_status) {
		details = grpc_slice_from_copied_string(c->finish_msg ? c->finish_msg : "");
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = (grpc_status_code)c->finish_code;
		ops[n++].data.send_status_from_server.status_details = &details;
		c->status_sent = 1;
	}
	c->write_in_flight = 1;
	c->refs++;
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL);
	if (with_status)
		grpc_slice_unref(details);
	if (e != GRPC_CALL_OK) {
		osh_warn("grpc: %s: send batch refused (error %d); cancelling the call",
			 c->method->path, (int)e);
		grpc_call_cancel(c->call, NULL);
		c->write_in_flight = 0;
		c->refs--;
		if (c->inflight) {
			grpc_byte_buffer_destroy(c->inflight);
			c->inflight = NULL;
		}
		c->status_sent = 1;
		c->closed = 1;
		osh_call_drop_queue_locked(c);
	}
}

static void osh_call_on_send_done(osh_call *c, int ok)
{
	void (*fire)(osh_call *, void *) = NULL;
	pthread_mutex_lock(&c->mu);
	c->write_in_flight = 0;
	if (c->inflight) {
		grpc_byte_buffer_destroy(c->inflight);
		c->inflight = NULL;
	}
	if (!ok || c->status_sent)
		fire = osh_call_close_locked(c);
	else
		osh_call_pump_locked(c);
	void *ud = c->on_close_ud;
	pthread_mutex_unlock(&c->mu);
	if (fire)
		fire(c, ud);
	osh_call_unref(c);
}

static void osh_call_on_recv_close(osh_call *c)
{
	pthread_mutex_lock(&c->mu);
	void (*fire)(osh_call *, void *) = osh_call_close_locked(c);
	void *ud = c->on_close_ud;
	pthread_mutex_unlock(&c->mu);
	if (fire)
		fire(c, ud);
	osh_call_unref(c);
}

const uint8_t *osh_call_request(const osh_call *c, size_t *len)
{
	*len = c->req_len;
	return c->req;
}

gpr_timespec osh_call_deadline(const osh_call *c)
{
	return c->deadline;
}

const char *osh_call_method(const osh_call *c)
{
	return c->method->path;
}

static void osh_call_finish_locked(osh_call *c, int code, const char *message)
{
	if (c->finish_requested)
		return;
	c->finish_requested = 1;
	c->finish_code = code;
	c->finish_msg = message ? strdup(message) : NULL;
	osh_call_pump_locked(c);
}

void osh_call_finish(osh_call *c, int code, const char *message)
{
	pthread_mutex_lock(&c->mu);
	osh_call_finish_locked(c, code, message);
	pthread_mutex_unlock(&c->mu);
	osh_call_unref(c);
}

/* Append a copy of bytes to the send queue (c->mu held). Returns 0 or -1
 * when out of memory. */
static int osh_call_push_locked(osh_call *c, const uint8_t *bytes, size_t len)
{
	struct osh_msg *m = malloc(sizeof(*m));
	if (!m)
		return -1;
	m->bb = osh_bb_from_bytes(bytes, len);
	m->next = NULL;
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->nqueued++;
	return 0;
}

void osh_call_reply(osh_call *c, const uint8_t *response, size_t len)
{
	pthread_mutex_lock(&c->mu);
	if (!c->closed && !c->finish_requested && osh_call_push_locked(c, response, len) != 0)
		osh_call_finish_locked(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	osh_call_finish_locked(c, GRPC_STATUS_OK, NULL);
	pthread_mutex_unlock(&c->mu);
	osh_call_unref(c);
}

void osh_call_fail(osh_call *c, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	osh_call_finish(c, code, msg);
}

int osh_call_send(osh_call *c, const uint8_t *msg, size_t len)
{
	pthread_mutex_lock(&c->mu);
	if (c->closed || c->finish_requested) {
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	if (c->nqueued >= c->max_queued) {
		size_t dropped = c->nqueued;
		osh_call_drop_queue_locked(c);
		char text[128];
		snprintf(text, sizeof(text), "watch stream lagged; dropped %zu messages", dropped);
		osh_call_finish_locked(c, GRPC_STATUS_RESOURCE_EXHAUSTED, text);
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	if (osh_call_push_locked(c, msg, len) != 0) {
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	osh_call_pump_locked(c);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int osh_call_closed(const osh_call *cc)
{
	osh_call *c = (osh_call *)cc;
	pthread_mutex_lock(&c->mu);
	int closed = c->closed || c->finish_requested;
	pthread_mutex_unlock(&c->mu);
	return closed;
}

void osh_call_on_close(osh_call *c, void (*fn)(osh_call *, void *), void *ud)
{
	pthread_mutex_lock(&c->mu);
	if (c->closed && !c->on_close_fired) {
		c->on_close_fired = 1;
		pthread_mutex_unlock(&c->mu);
		fn(c, ud);
		return;
	}
	c->on_close = fn;
	c->on_close_ud = ud;
	pthread_mutex_unlock(&c->mu);
}

void osh_call_set_max_queued(osh_call *c, size_t max)
{
	pthread_mutex_lock(&c->mu);
	c->max_queued = max ? max : 1;
	pthread_mutex_unlock(&c->mu);
}

/* ---- poller ---------------------------------------------------------- */

static void osh_server_on_request(osh_server *srv, struct osh_request *r, int ok)
{
	pthread_mutex_lock(&srv->mu);
	srv->armed--;
	int stopping = srv->stopping;
	if (ok)
		srv->live_calls++;
	pthread_mutex_unlock(&srv->mu);
	if (!ok) {
		grpc_metadata_array_destroy(&r->md);
		free(r);
		return;
	}
	if (!stopping)
		osh_server_arm(srv, r->method);
	osh_call *c = osh_call_new(srv, r);
	if (!c) {
		grpc_call_cancel(r->call, NULL);
		grpc_call_unref(r->call);
		grpc_metadata_array_destroy(&r->md);
		grpc_byte_buffer_destroy(r->payload);
		free(r);
		pthread_mutex_lock(&srv->mu);
		srv->live_calls--;
		pthread_mutex_unlock(&srv->mu);
		return;
	}
	int bad_payload = osh_bb_to_bytes(r->payload, &c->req, &c->req_len) != 0;
	grpc_byte_buffer_destroy(r->payload);
	free(r);

	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->recv_cancelled;
	c->refs++;
	if (grpc_call_start_batch(c->call, &op, 1, &c->recv_close_tag, NULL) != GRPC_CALL_OK) {
		c->refs--;
		c->closed = 1;
	}
	if (bad_payload) {
		osh_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "request message could not be read");
		return;
	}
	if (osh_server_enqueue(srv, c) != 0)
		osh_call_fail(c, GRPC_STATUS_UNAVAILABLE, "the server is shutting down");
}

static int osh_server_done(osh_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	int done = srv->shutdown_notified && srv->armed == 0 && srv->live_calls == 0;
	pthread_mutex_unlock(&srv->mu);
	return done;
}

static void *osh_server_poll(void *arg)
{
	osh_server *srv = arg;
	int cq_shut = 0;
	for (;;) {
		gpr_timespec wait = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						 gpr_time_from_millis(200, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(srv->cq, wait, NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type == GRPC_OP_COMPLETE) {
			struct osh_tag *t = ev.tag;
			switch (t->kind) {
			case OSH_TAG_REQUEST:
				osh_server_on_request(srv, t->ptr, ev.success);
				break;
			case OSH_TAG_UNKNOWN: {
				struct osh_unknown *u = t->ptr;
				pthread_mutex_lock(&srv->mu);
				srv->armed--;
				int stopping = srv->stopping;
				pthread_mutex_unlock(&srv->mu);
				if (!ev.success) {
					osh_unknown_free(u);
					break;
				}
				if (!stopping)
					osh_server_arm_unknown(srv);
				osh_unknown_answer(srv, u);
				break;
			}
			case OSH_TAG_UNKNOWN_DONE:
				osh_unknown_free(t->ptr);
				pthread_mutex_lock(&srv->mu);
				srv->live_calls--;
				pthread_mutex_unlock(&srv->mu);
				break;
			case OSH_TAG_RECV_CLOSE:
				osh_call_on_recv_close(t->ptr);
				break;
			case OSH_TAG_SEND:
				osh_call_on_send_done(t->ptr, ev.success);
				break;
			case OSH_TAG_SHUTDOWN:
				pthread_mutex_lock(&srv->mu);
				srv->shutdown_notified = 1;
				pthread_mutex_unlock(&srv->mu);
				break;
			}
		}
		if (!cq_shut && osh_server_done(srv)) {
			grpc_completion_queue_shutdown(srv->cq);
			cq_shut = 1;
		}
	}
}

/* ---- server ---------------------------------------------------------- */

osh_server *osh_server_new(unsigned workers)
{
	osh_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	grpc_arg args[1];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[0].value.integer = 0;
	grpc_channel_args ch_args = {1, args};
	srv->server = grpc_server_create(&ch_args, NULL);
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
	srv->nworkers = workers ? workers : OSH_SERVER_DEFAULT_WORKERS;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->shutdown_tag.kind = OSH_TAG_SHUTDOWN;
	srv->shutdown_tag.ptr = srv;
	return srv;
}

int osh_server_add_method(osh_server *srv, const char *path, osh_handler_fn fn,
			  void *user_data)
{
	if (srv->started)
		return -1;
	struct osh_method *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->path = path;
	m->fn = fn;
	m->user_data = user_data;
	m->handle = grpc_server_register_method(srv->server, path, NULL,
						GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	if (!m->handle) {
		free(m);
		return -1;
	}
	m->next = srv->methods;
	srv->methods = m;
	return 0;
}

int osh_server_listen(osh_server *srv, const char *addr)
{
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(srv->server, addr, creds);
	grpc_server_credentials_release(creds);
	return port;
}

int osh_server_start(osh_server *srv)
{
	grpc_server_start(srv->server);
	srv->started = 1;
	for (struct osh_method *m = srv->methods; m; m = m->next)
		for (int i = 0; i < OSH_SERVER_ARMED_PER_METHOD; i++)
			osh_server_arm(srv, m);
	osh_server_arm_unknown(srv);
	srv->workers = calloc(srv->nworkers, sizeof(pthread_t));
	if (!srv->workers)
		return -1;
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (pthread_create(&srv->workers[i], NULL, osh_server_worker, srv) != 0)
			return -1;
	if (pthread_create(&srv->poller, NULL, osh_server_poll, srv) != 0)
		return -1;
	srv->ran = 1;
	return 0;
}

void osh_server_shutdown(osh_server *srv)
{
	if (!srv->started)
		return;
	pthread_mutex_lock(&srv->mu);
	srv->stopping = 1;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->mu);
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
	grpc_server_cancel_all_calls(srv->server);
	for (unsigned i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	pthread_join(srv->poller, NULL);
	srv->started = 0;
}

void osh_server_free(osh_server *srv)
{
	if (!srv)
		return;
	if (!srv->ran) {
		/* Never started: nothing is armed, but the CQ must still be shut
		 * down and drained before it is destroyed. */
		grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
		grpc_completion_queue_shutdown(srv->cq);
		while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
	}
	grpc_server_destroy(srv->server);
	grpc_completion_queue_destroy(srv->cq);
	struct osh_method *m = srv->methods;
	while (m) {
		struct osh_method *n = m->next;
		free(m);
		m = n;
	}
	free(srv->workers);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cond);
	free(srv);
}
