/* osh_grpc.h - small helpers over gRPC C core shared by the gateway, the
 * remote-uds plugin, the CLI and the test driver: byte buffers, deadlines,
 * status names, and a blocking client for unary calls and server streams.
 *
 * Every function here that talks to gRPC needs grpc_init() to have been
 * called by the process (osh_grpc_init() is a refcounted wrapper). */
#ifndef OSH_GRPC_H
#define OSH_GRPC_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stddef.h>
#include <stdint.h>

/* grpc_init()/grpc_shutdown() wrappers. */
void osh_grpc_init(void);
void osh_grpc_shutdown(void);

/* A new byte buffer holding a copy of data. Never NULL. Caller destroys it. */
grpc_byte_buffer *osh_bb_from_bytes(const uint8_t *data, size_t len);
/* Copy bb into a malloc'd array (*out is NULL when len is 0). Returns 0, or -1
 * when bb cannot be read (bad compression). NULL bb gives 0 bytes. */
int osh_bb_to_bytes(grpc_byte_buffer *bb, uint8_t **out, size_t *len);

/* Deadline ms from now on the monotonic clock; ms < 0 means none. */
gpr_timespec osh_deadline_ms(int64_t ms);
/* Milliseconds left until deadline (INT64_MAX for none, 0 if passed). */
int64_t osh_deadline_left_ms(gpr_timespec deadline);

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN" for out of range. */
const char *osh_status_name(int code);
/* Inverse of osh_status_name (case-insensitive); -1 when unknown. */
int osh_status_from_name(const char *name);

/* ---- client ---------------------------------------------------------- */

/* One channel to target: "unix:/abs/path", "unix:///abs/path" or "host:port"
 * (plain TCP, no TLS). Thread-safe: calls may be made concurrently. */
typedef struct osh_client osh_client;

/* Never returns NULL (channel creation is lazy; errors surface on calls). */
osh_client *osh_client_new(const char *target);
void osh_client_free(osh_client *c); /* NULL ok; no call may be in flight */
const char *osh_client_target(const osh_client *c);

/*
 * Unary call. method is the full path ("/pkg.Service/Method"); it must be
 * a string literal or otherwise outlive the client. request may be NULL when
 * request_len is 0. timeout_ms < 0 means no deadline.
 *
 * Returns the gRPC status code. On OK, *response (malloc'd, may be NULL for an
 * empty message) and *response_len are set. On error, *message is set to a
 * malloc'd copy of the status details (never NULL on error). Callers free both.
 */
int osh_client_unary(osh_client *c, const char *method, const uint8_t *request,
		     size_t request_len, int64_t timeout_ms, uint8_t **response,
		     size_t *response_len, char **message);

/* Server stream. Owned by one thread at a time. */
typedef struct osh_client_stream osh_client_stream;

/* Start a server-streaming call. Returns a stream (never NULL); errors show
 * up on the first osh_client_stream_next. Does not block on the server's
 * response headers. timeout_ms < 0 means no deadline for the whole stream. */
osh_client_stream *osh_client_stream_open(osh_client *c, const char *method,
					  const uint8_t *request, size_t request_len,
					  int64_t timeout_ms);

/*
 * Wait up to wait_ms (< 0: forever) for the next message.
 * Returns 1 with *msg (malloc'd, may be NULL for an empty message) and *len;
 *         0 when the stream has ended: read osh_client_stream_status;
 *        -1 when wait_ms passed without a message (call again).
 */
int osh_client_stream_next(osh_client_stream *s, int64_t wait_ms, uint8_t **msg,
			   size_t *len);

/* After next returned 0: the final status code; *message (may be NULL
 * argument) gets a malloc'd copy of the details. */
int osh_client_stream_status(osh_client_stream *s, char **message);

/* Cancel the call (the stream then ends with CANCELLED). Thread-safe: may be
 * called from another thread while one is blocked in next. */
void osh_client_stream_cancel(osh_client_stream *s);

/* Cancels if still running, waits for gRPC to release the call, frees. NULL ok. */
void osh_client_stream_free(osh_client_stream *s);

#endif
