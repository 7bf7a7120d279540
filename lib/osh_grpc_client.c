/* osh_grpc_client.c - the blocking gRPC client of osh_grpc.h: one channel per
 * target, unary calls on a per-call pluck queue, server streams on a
 * per-stream queue driven with timeouts. Rules: /work/shared/GRPC-NOTES.md. */
#include "config.h"

#include "osh_grpc.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct osh_client {
	char *target;
	grpc_channel *channel;
	int is_unix;
};

/* Reconnect backoff for unix targets: a driver that comes back is noticed
 * within about a second. MIN is gRPC's limit on one connect attempt
 * (handshake included): 5 s lets a slow peer (a gateway busy starting, a
 * process under valgrind) finish its handshake. */
#define OSH_CLIENT_UNIX_BACKOFF_INITIAL_MS 100
#define OSH_CLIENT_UNIX_BACKOFF_MIN_MS 5000
#define OSH_CLIENT_UNIX_BACKOFF_MAX_MS 1000
/* How long a call waits for a channel in TRANSIENT_FAILURE to retry at once. */
#define OSH_CLIENT_KICK_MS 250

static char *osh_client_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (!d)
		abort();
	memcpy(d, s, n);
	return d;
}

/* A malloc'd copy of a status-details slice, or "<STATUS> (no details)". */
static char *osh_client_details(grpc_status_code code, grpc_slice details)
{
	size_t n = GRPC_SLICE_LENGTH(details);
	char *m;
	if (n == 0) {
		const char *name = osh_status_name((int)code);
		n = strlen(name) + sizeof(" (no details)");
		m = malloc(n);
		if (!m)
			abort();
		snprintf(m, n, "%s (no details)", name);
		return m;
	}
	m = malloc(n + 1);
	if (!m)
		abort();
	memcpy(m, GRPC_SLICE_START_PTR(details), n);
	m[n] = '\0';
	return m;
}

osh_client *osh_client_new(const char *target)
{
	osh_client *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->target = osh_client_strdup(target);

	grpc_arg args[4];
	size_t nargs = 0;
	memset(args, 0, sizeof(args));
	args[nargs].type = GRPC_ARG_INTEGER;
	args[nargs].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[nargs++].value.integer = 0;
	c->is_unix = strncmp(target, "unix:", 5) == 0;
	if (c->is_unix) {
		args[nargs].type = GRPC_ARG_INTEGER;
		args[nargs].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
		args[nargs++].value.integer = OSH_CLIENT_UNIX_BACKOFF_INITIAL_MS;
		args[nargs].type = GRPC_ARG_INTEGER;
		args[nargs].key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
		args[nargs++].value.integer = OSH_CLIENT_UNIX_BACKOFF_MIN_MS;
		args[nargs].type = GRPC_ARG_INTEGER;
		args[nargs].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
		args[nargs++].value.integer = OSH_CLIENT_UNIX_BACKOFF_MAX_MS;
	}
	grpc_channel_args chargs = { nargs, args };

	grpc_channel_credentials *cc = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(target, cc, &chargs);
	grpc_channel_credentials_release(cc);
	return c;
}

void osh_client_free(osh_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->channel);
	free(c->target);
	free(c);
}

const char *osh_client_target(const osh_client *c)
{
	return c->target;
}

/*
 * A channel in TRANSIENT_FAILURE fails every call at once until its
 * reconnect backoff expires. Before a call, ask it to retry now and wait
 * (briefly) for that attempt, so a driver that came back answers this call.
 * Cheap when the driver is still down: a refused Unix connect fails at once.
 */
static void osh_client_kick(osh_client *c, grpc_completion_queue *cq)
{
	if (!c->is_unix ||
	    grpc_channel_check_connectivity_state(c->channel, 0) != GRPC_CHANNEL_TRANSIENT_FAILURE)
		return;
	grpc_channel_reset_connect_backoff(c->channel);
	gpr_timespec deadline = osh_deadline_ms(OSH_CLIENT_KICK_MS);
	int attempted = 0;
	for (int i = 0; i < 6; i++) {
		grpc_connectivity_state st = grpc_channel_check_connectivity_state(c->channel, 1);
		if (st == GRPC_CHANNEL_READY || st == GRPC_CHANNEL_SHUTDOWN)
			return;
		if (st == GRPC_CHANNEL_CONNECTING)
			attempted = 1;
		else if (st == GRPC_CHANNEL_TRANSIENT_FAILURE && attempted)
			return; /* the new attempt failed: the peer is still down */
		char tag;
		grpc_channel_watch_connectivity_state(c->channel, st, deadline, cq, &tag);
		grpc_event ev = grpc_completion_queue_pluck(
			cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success)
			return; /* no change in time: go on with the call as is */
	}
}

/* Shut down a completion queue whose tags have all been collected. */
static void osh_client_cq_destroy_pluck(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

static void osh_client_cq_destroy_next(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

static char *osh_client_call_error(const char *what, grpc_call_error err)
{
	char buf[160];
	snprintf(buf, sizeof(buf), "grpc_call_start_batch failed for %s (call error %d)", what,
		 (int)err);
	return osh_client_strdup(buf);
}

int osh_client_unary(osh_client *c, const char *method, const uint8_t *request,
		     size_t request_len, int64_t timeout_ms, uint8_t **response,
		     size_t *response_len, char **message)
{
	grpc_metadata_array initial_md, trailing_md;
	grpc_byte_buffer *send_bb = osh_bb_from_bytes(request, request_len);
	grpc_byte_buffer *recv_bb = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	int rc;

	*response = NULL;
	*response_len = 0;
	*message = NULL;
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);

	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec deadline = osh_deadline_ms(timeout_ms);
	osh_client_kick(c, cq);

	grpc_slice path = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   path, NULL, deadline, NULL);
	grpc_slice_unref(path);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;

	char tag;
	grpc_call_error err = grpc_call_start_batch(call, ops, 6, &tag, NULL);
	if (err != GRPC_CALL_OK) {
		grpc_call_cancel(call, NULL);
		rc = GRPC_STATUS_INTERNAL;
		*message = osh_client_call_error(method, err);
		goto cleanup;
	}
	grpc_event ev =
		grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	(void)ev; /* RECV_STATUS_ON_CLIENT always completes; status says how it went */

	rc = (int)status;
	if (status == GRPC_STATUS_OK) {
		uint8_t *out;
		size_t out_len;
		if (osh_bb_to_bytes(recv_bb, &out, &out_len) != 0) {
			rc = GRPC_STATUS_INTERNAL;
			char buf[200];
			snprintf(buf, sizeof(buf), "cannot read the response of %s", method);
			*message = osh_client_strdup(buf);
		} else {
			*response = out;
			*response_len = out_len;
		}
	} else {
		*message = osh_client_details(status, details);
	}

cleanup:
	if (recv_bb)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_byte_buffer_destroy(send_bb);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	grpc_call_unref(call);
	osh_client_cq_destroy_pluck(cq);
	return rc;
}

/* ---- server streams -------------------------------------------------- */

enum { OSH_STREAM_TAG_SEND = 1, OSH_STREAM_TAG_RECV = 2, OSH_STREAM_TAG_STATUS = 3 };
#define OSH_STREAM_TAG(t) ((void *)(uintptr_t)(t))

struct osh_client_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	int pending; /* tags started and not yet collected */

	grpc_byte_buffer *send_bb; /* until the SEND tag */

	grpc_metadata_array initial_md;
	int initial_md_asked;
	grpc_byte_buffer *recv_bb;
	int recv_pending;
	int recv_done; /* no more messages */

	grpc_metadata_array trailing_md;
	grpc_status_code status;
	grpc_slice details;
	int status_done;

	int local_code; /* != 0: a local failure overrides status */
	char *local_message;
};

static void osh_client_stream_fail(osh_client_stream *s, int code, char *message)
{
	if (!s->local_code) {
		s->local_code = code;
		s->local_message = message;
	} else {
		free(message);
	}
	grpc_call_cancel(s->call, NULL);
}

osh_client_stream *osh_client_stream_open(osh_client *c, const char *method,
					  const uint8_t *request, size_t request_len,
					  int64_t timeout_ms)
{
	osh_client_stream *s = calloc(1, sizeof(*s));
	grpc_op ops[3];
	grpc_call_error err;

	if (!s)
		abort();
	grpc_metadata_array_init(&s->initial_md);
	grpc_metadata_array_init(&s->trailing_md);
	s->details = grpc_empty_slice();
	s->status = GRPC_STATUS_UNKNOWN;
	s->cq = grpc_completion_queue_create_for_next(NULL);

	/* A pluck queue only for the reconnect kick; the stream's own queue is
	 * driven with next. */
	grpc_completion_queue *kick_cq = grpc_completion_queue_create_for_pluck(NULL);
	osh_client_kick(c, kick_cq);
	osh_client_cq_destroy_pluck(kick_cq);

	grpc_slice path = grpc_slice_from_copied_string(method);
	s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, path,
					   NULL, osh_deadline_ms(timeout_ms), NULL);
	grpc_slice_unref(path);

	s->send_bb = osh_bb_from_bytes(request, request_len);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	err = grpc_call_start_batch(s->call, ops, 3, OSH_STREAM_TAG(OSH_STREAM_TAG_SEND), NULL);
	if (err == GRPC_CALL_OK) {
		s->pending++;
	} else {
		grpc_byte_buffer_destroy(s->send_bb);
		s->send_bb = NULL;
		osh_client_stream_fail(s, GRPC_STATUS_INTERNAL, osh_client_call_error(method, err));
	}

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
	ops[0].data.recv_status_on_client.status = &s->status;
	ops[0].data.recv_status_on_client.status_details = &s->details;
	err = grpc_call_start_batch(s->call, ops, 1, OSH_STREAM_TAG(OSH_STREAM_TAG_STATUS), NULL);
	if (err == GRPC_CALL_OK) {
		s->pending++;
	} else {
		s->status_done = 1;
		s->recv_done = 1;
		osh_client_stream_fail(s, GRPC_STATUS_INTERNAL, osh_client_call_error(method, err));
	}
	return s;
}

/* Collect one event. Returns 1 when a message was stored in *msg and *len. */
static int osh_client_stream_handle(osh_client_stream *s, grpc_event ev, uint8_t **msg,
				    size_t *len)
{
	s->pending--;
	switch ((uintptr_t)ev.tag) {
	case OSH_STREAM_TAG_SEND:
		grpc_byte_buffer_destroy(s->send_bb);
		s->send_bb = NULL;
		return 0;
	case OSH_STREAM_TAG_STATUS:
		s->status_done = 1;
		return 0;
	case OSH_STREAM_TAG_RECV:
		break;
	default:
		abort();
	}
	s->recv_pending = 0;
	if (!ev.success || !s->recv_bb) {
		s->recv_done = 1;
		if (s->recv_bb) {
			grpc_byte_buffer_destroy(s->recv_bb);
			s->recv_bb = NULL;
		}
		return 0;
	}
	int r = osh_bb_to_bytes(s->recv_bb, msg, len);
	grpc_byte_buffer_destroy(s->recv_bb);
	s->recv_bb = NULL;
	if (r != 0) {
		s->recv_done = 1;
		osh_client_stream_fail(s, GRPC_STATUS_INTERNAL,
				       osh_client_strdup("cannot read a stream message"));
		return 0;
	}
	return 1;
}

int osh_client_stream_next(osh_client_stream *s, int64_t wait_ms, uint8_t **msg, size_t *len)
{
	gpr_timespec deadline = osh_deadline_ms(wait_ms);

	*msg = NULL;
	*len = 0;
	if (!s->recv_done && !s->recv_pending) {
		grpc_op ops[2];
		size_t n = 0;
		memset(ops, 0, sizeof(ops));
		if (!s->initial_md_asked) {
			/* Headers ride with the first message: a grpcio server
			 * holds them until it has one. */
			ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
			ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
		}
		ops[n].op = GRPC_OP_RECV_MESSAGE;
		ops[n++].data.recv_message.recv_message = &s->recv_bb;
		grpc_call_error err = grpc_call_start_batch(s->call, ops, n,
							    OSH_STREAM_TAG(OSH_STREAM_TAG_RECV), NULL);
		if (err == GRPC_CALL_OK) {
			s->initial_md_asked = 1;
			s->recv_pending = 1;
			s->pending++;
		} else {
			s->recv_done = 1;
			osh_client_stream_fail(s, GRPC_STATUS_INTERNAL,
					       osh_client_call_error("a stream read", err));
		}
	}

	while (!(s->recv_done && s->status_done)) {
		grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return -1;
		if (ev.type != GRPC_OP_COMPLETE)
			abort(); /* the queue is only shut down by free */
		if (osh_client_stream_handle(s, ev, msg, len))
			return 1;
	}
	return 0;
}

int osh_client_stream_status(osh_client_stream *s, char **message)
{
	int code = s->local_code ? s->local_code
		 : s->status_done ? (int)s->status
				  : GRPC_STATUS_UNKNOWN;
	if (message) {
		if (s->local_code)
			*message = osh_client_strdup(s->local_message);
		else if (code == GRPC_STATUS_OK && GRPC_SLICE_LENGTH(s->details) == 0)
			*message = osh_client_strdup("");
		else
			*message = osh_client_details((grpc_status_code)code, s->details);
	}
	return code;
}

void osh_client_stream_cancel(osh_client_stream *s)
{
	grpc_call_cancel(s->call, NULL);
}

void osh_client_stream_free(osh_client_stream *s)
{
	if (!s)
		return;
	if (s->pending)
		grpc_call_cancel(s->call, NULL);
	while (s->pending) {
		uint8_t *msg = NULL;
		size_t len;
		grpc_event ev =
			grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			abort();
		if (osh_client_stream_handle(s, ev, &msg, &len))
			free(msg);
	}
	grpc_call_unref(s->call);
	osh_client_cq_destroy_next(s->cq);
	grpc_metadata_array_destroy(&s->initial_md);
	grpc_metadata_array_destroy(&s->trailing_md);
	grpc_slice_unref(s->details);
	free(s->local_message);
	free(s);
}
