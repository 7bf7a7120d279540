/*
 * openshell/driver.h - the compute-driver plugin ABI, version 1.
 *
 * A driver plugin is a shared object that exports exactly one symbol,
 * openshell_driver_v1(), returning a table of function pointers. Each RPC of
 * the openshell.compute.v1.ComputeDriver gRPC contract is one slot. A slot
 * takes the protobuf wire bytes of the request message and returns the wire
 * bytes of the response message, or a gRPC status code and a message. The
 * ABI therefore never changes when a protobuf message gains a field.
 *
 * Versioning:
 *   - major: in the symbol name (openshell_driver_v1). An incompatible change
 *     adds openshell_driver_v2; a host may look up several.
 *   - minor: every table starts with abi_major and struct_size, and tables
 *     only grow at the end. The reader copies a table into a zeroed table of
 *     its own size, so a slot the other side does not know reads as NULL.
 *
 * Memory: every buffer or string a plugin hands back to the host (responses,
 * messages) is allocated with host->alloc() and owned by the host from then
 * on. Every pointer the host passes in is only valid for the duration of the
 * call unless the slot says otherwise.
 *
 * Types across the boundary are fixed-width; bool is int32_t (0 / non-zero).
 */
#ifndef OPENSHELL_DRIVER_H
#define OPENSHELL_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OPENSHELL_DRIVER_ABI_MAJOR 1

/* Name of the exported entry symbol for ABI major 1. */
#define OPENSHELL_DRIVER_ENTRY_V1 "openshell_driver_v1"

#if defined(__GNUC__)
#define OPENSHELL_DRIVER_EXPORT __attribute__((visibility("default")))
#else
#define OPENSHELL_DRIVER_EXPORT
#endif

/* gRPC status codes (numeric values as in gRPC). */
enum {
	OPENSHELL_STATUS_OK = 0,
	OPENSHELL_STATUS_CANCELLED = 1,
	OPENSHELL_STATUS_UNKNOWN = 2,
	OPENSHELL_STATUS_INVALID_ARGUMENT = 3,
	OPENSHELL_STATUS_DEADLINE_EXCEEDED = 4,
	OPENSHELL_STATUS_NOT_FOUND = 5,
	OPENSHELL_STATUS_ALREADY_EXISTS = 6,
	OPENSHELL_STATUS_PERMISSION_DENIED = 7,
	OPENSHELL_STATUS_RESOURCE_EXHAUSTED = 8,
	OPENSHELL_STATUS_FAILED_PRECONDITION = 9,
	OPENSHELL_STATUS_ABORTED = 10,
	OPENSHELL_STATUS_OUT_OF_RANGE = 11,
	OPENSHELL_STATUS_UNIMPLEMENTED = 12,
	OPENSHELL_STATUS_INTERNAL = 13,
	OPENSHELL_STATUS_UNAVAILABLE = 14,
	OPENSHELL_STATUS_DATA_LOSS = 15,
	OPENSHELL_STATUS_UNAUTHENTICATED = 16
};

/* Log levels for openshell_host_v1.log. */
enum {
	OPENSHELL_LOG_ERROR = 0,
	OPENSHELL_LOG_WARN = 1,
	OPENSHELL_LOG_INFO = 2,
	OPENSHELL_LOG_DEBUG = 3
};

/*
 * Services the host passes to openshell_driver_table_v1.open(). The table and
 * every string it points to stay valid until close() has returned. All
 * function slots are thread-safe and may be called from any thread,
 * including threads the plugin creates.
 */
typedef struct openshell_host_v1 {
	uint32_t abi_major;   /* OPENSHELL_DRIVER_ABI_MAJOR */
	uint32_t struct_size; /* sizeof the host's table; read slots past it as NULL */

	void *host_ctx; /* opaque; pass back as the first argument of every slot */

	/* The name this driver is registered under (e.g. "docker", or "kyma"
	 * for a remote driver). */
	const char *driver_name;

	/* Log one line. msg is a whole sentence without trailing newline; the
	 * host adds the driver name, time and level. Never log secrets. */
	void (*log)(void *host_ctx, int32_t level, const char *msg);

	/*
	 * The driver's configuration: the keys of [openshell.drivers.<name>]
	 * in the gateway's config file, plus keys the host adds (gateway_id,
	 * socket_path for remote drivers). config_get returns the value of key
	 * or NULL when unset. config_key_at returns the index-th key (0-based)
	 * or NULL past the end, so a plugin can reject keys it does not know.
	 * Returned strings live until close().
	 */
	const char *(*config_get)(void *host_ctx, const char *key);
	const char *(*config_key_at)(void *host_ctx, uint32_t index);

	/* Allocator for everything a plugin returns to the host. alloc returns
	 * NULL on failure; free accepts NULL. */
	void *(*alloc)(uint64_t size);
	void (*free)(void *ptr);
} openshell_host_v1;

/*
 * Where a watch stream delivers its events. Passed to watch_sandboxes; valid
 * until that call returns. emit() and cancelled() are thread-safe and may be
 * called from any thread, but emit() must not be called concurrently for the
 * same sink (events are ordered).
 */
typedef struct openshell_watch_sink_v1 {
	uint32_t struct_size;
	void *sink_ctx; /* opaque; pass back as the first argument */

	/* Deliver one serialized openshell.compute.v1.WatchSandboxesEvent. The
	 * host copies the bytes before returning. Returns 0 to go on, non-zero
	 * when the host has cancelled the stream: the plugin then returns from
	 * watch_sandboxes promptly (its status is ignored). */
	int32_t (*emit)(void *sink_ctx, const uint8_t *event, uint64_t event_len);

	/* Non-zero once the host has cancelled the stream. A plugin blocked
	 * waiting for events polls this at least once a second. */
	int32_t (*cancelled)(void *sink_ctx);
} openshell_watch_sink_v1;

/*
 * A unary RPC slot.
 *
 *   instance        what open() returned.
 *   request,
 *   request_len     the serialized request message (e.g. for get_sandbox an
 *                   openshell.compute.v1.GetSandboxRequest). Borrowed for the
 *                   duration of the call. May be empty (len 0).
 *   response,
 *   response_len    on OK, set *response to the serialized response message,
 *                   allocated with host->alloc (owned by the host), or leave
 *                   it NULL for an empty message.
 *   message         on error, set *message to a NUL-terminated sentence
 *                   naming the object, allocated with host->alloc. If left
 *                   NULL the host synthesizes one.
 *
 * Returns a gRPC status code (OPENSHELL_STATUS_*). Malformed request bytes
 * are OPENSHELL_STATUS_INVALID_ARGUMENT. On error *response is ignored (and
 * freed by the host if set).
 *
 * Thread-safety: every unary slot may be called concurrently from several
 * host threads, also concurrently with a running watch_sandboxes.
 */
typedef int32_t (*openshell_unary_fn_v1)(void *instance, const uint8_t *request,
					 uint64_t request_len, uint8_t **response,
					 uint64_t *response_len, char **message);

typedef struct openshell_driver_table_v1 {
	uint32_t abi_major;   /* OPENSHELL_DRIVER_ABI_MAJOR */
	uint32_t struct_size; /* sizeof(openshell_driver_table_v1) as the plugin was built */

	/* Short plugin name and version, static storage. Mandatory. */
	const char *name;
	const char *version;

	/*
	 * Mandatory. Create an instance bound to host. host and everything it
	 * points to stay valid until close() returns, so the plugin may keep
	 * the pointer. Called once per configured driver that uses this plugin
	 * (a plugin may be opened several times), from one thread at a time.
	 * Returns OPENSHELL_STATUS_OK and sets *instance, or an error code and
	 * sets *message (host->alloc) saying why, e.g. an unknown config key.
	 */
	int32_t (*open)(const openshell_host_v1 *host, void **instance,
			char **message);

	/* Optional. Release the instance. Called once, after every other call
	 * on this instance has returned. The plugin is never dlclose()d. */
	void (*close)(void *instance);

	/* RPC slots. NULL = UNIMPLEMENTED. get_capabilities is mandatory. */
	openshell_unary_fn_v1 get_capabilities;
	openshell_unary_fn_v1 get_gateway_listener_requirements;
	openshell_unary_fn_v1 validate_sandbox_create;
	openshell_unary_fn_v1 get_sandbox;
	openshell_unary_fn_v1 list_sandboxes;
	openshell_unary_fn_v1 create_sandbox;
	openshell_unary_fn_v1 stop_sandbox;
	openshell_unary_fn_v1 start_sandbox;
	openshell_unary_fn_v1 delete_sandbox;

	/*
	 * Server stream WatchSandboxes. Blocks the calling host thread and
	 * delivers serialized WatchSandboxesEvent messages to sink in order
	 * until the host cancels (sink->emit returns non-zero or
	 * sink->cancelled() becomes non-zero; return promptly, status ignored)
	 * or the stream ends (return a status: OK for a clean end, UNAVAILABLE
	 * with *message when the backend was lost). A new stream first replays
	 * the current state of every sandbox. request is a serialized
	 * WatchSandboxesRequest. May run concurrently with unary slots and with
	 * other watch_sandboxes calls on the same instance.
	 */
	int32_t (*watch_sandboxes)(void *instance, const uint8_t *request,
				   uint64_t request_len,
				   const openshell_watch_sink_v1 *sink,
				   char **message);

	openshell_unary_fn_v1 ensure_workspace;
	openshell_unary_fn_v1 delete_workspace;

	/* Fields added in later minor versions go here, at the end. */
} openshell_driver_table_v1;

/* The smallest table a v1 host accepts: everything up to delete_workspace. */
#define OPENSHELL_DRIVER_V1_MIN_SIZE                                             \
	(offsetof(openshell_driver_table_v1, delete_workspace) + sizeof(openshell_unary_fn_v1))

/*
 * The entry symbol. Returns a pointer to a table in static storage that
 * stays valid for the life of the process. Called from one thread, before
 * any other slot.
 */
typedef const openshell_driver_table_v1 *(*openshell_driver_entry_v1)(void);

/* What a plugin defines (with OPENSHELL_DRIVER_EXPORT, everything else
 * hidden):
 *   OPENSHELL_DRIVER_EXPORT const openshell_driver_table_v1 *
 *   openshell_driver_v1(void) { return &my_table; }
 */
OPENSHELL_DRIVER_EXPORT const openshell_driver_table_v1 *openshell_driver_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* OPENSHELL_DRIVER_H */
