/*
 * engine.h - what the container-engine plugins (docker, podman) share:
 * HTTP over the engine's Unix socket (libcurl), JSON (jansson), Kubernetes
 * quantities, container naming, the workload environment and labels,
 * DriverSandbox snapshots, replies in host memory, a broadcast of watch
 * sinks, config keys and driver_config mounts.
 *
 * Built as the convenience library libosh-engine.la (linked into each
 * plugin, every symbol hidden). Everything here is thread-safe on distinct
 * objects; osh_engine and osh_engine_hub objects are thread-safe.
 * Functions that fill an err buffer write one whole sentence into it.
 */
#ifndef OSH_ENGINE_H
#define OSH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compute_driver.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "openshell/driver.h"

typedef Openshell__Compute__V1__DriverSandbox osh_engine_ds;

/* ---- HTTP over a Unix socket ------------------------------------------ */

typedef struct osh_engine osh_engine;

/* A client of the engine API on socket_path (an absolute path). kind names
 * the engine in messages ("Docker", "Podman"). Never NULL (aborts when out
 * of memory). No request is made until the first call. */
osh_engine *osh_engine_new(const char *socket_path, const char *kind);
void osh_engine_free(osh_engine *e); /* NULL is fine; no call may be running */

/* "unix:///path/to/docker.sock", for messages. */
const char *osh_engine_where(const osh_engine *e);
const char *osh_engine_socket(const osh_engine *e);

/* Prefix put before every path, e.g. "/v1.41" (default ""). Set it before
 * concurrent use (osh_engine_negotiate does). */
void osh_engine_set_prefix(osh_engine *e, const char *prefix);
const char *osh_engine_prefix(const osh_engine *e);

/* Once set, streams and requests give up promptly (within ~250 ms) and
 * fail with "cancelled"; used when a plugin instance closes. Thread-safe. */
void osh_engine_cancel_all(osh_engine *e);

/* A response: HTTP status and the whole body (NUL-terminated). */
typedef struct osh_engine_resp {
	long status;
	char *body;
	size_t len;
} osh_engine_resp;

void osh_engine_resp_clear(osh_engine_resp *r); /* frees body; NULL is fine */

/* The body as JSON, or NULL when it is not JSON. New reference. */
json_t *osh_engine_resp_json(const osh_engine_resp *r);

/* The daemon's error text: "message" of a JSON body, else the body itself
 * (trimmed, at most 400 bytes), else "HTTP <status>". Written into buf. */
const char *osh_engine_resp_error(const osh_engine_resp *r, char *buf, size_t len);

/*
 * One request: method, path (after the prefix; query included, escaped by
 * the caller), optional JSON body (sent as application/json). timeout_ms <=
 * 0 means 60 s. Returns 0 when a response arrived, whatever its status (out
 * is filled; clear it), or -1 when the daemon could not be reached or did
 * not answer in time (err says why, naming the socket; out is empty).
 */
int osh_engine_request(osh_engine *e, const char *method, const char *path, const json_t *body,
		       long timeout_ms, osh_engine_resp *out, char *err, size_t errlen);

/* GET /version (without prefix): the daemon's Version and ApiVersion; sets
 * the prefix to "/v<min(ApiVersion, max_api)>" (e.g. max_api "1.45").
 * Returns 0, or -1 (err) when unreachable, unparsable or older than
 * min_api. version may be NULL. */
int osh_engine_negotiate(osh_engine *e, const char *min_api, const char *max_api, char *version,
			 size_t version_len, char *err, size_t errlen);

/* "1.41" -> 1041 (major * 1000 + minor); -1 when it does not parse. */
int osh_engine_api_number(const char *v);

/* A newline-delimited stream of JSON objects (docker /events, pull
 * progress). */
typedef struct osh_engine_stream osh_engine_stream;

/*
 * Sends the request and waits (up to 10 s) for the response headers. On a
 * 2xx status returns the open stream. Otherwise returns NULL: *status is the
 * HTTP status (0 when the daemon could not be reached) and err holds the
 * daemon's message or the transport error.
 */
osh_engine_stream *osh_engine_stream_open(osh_engine *e, const char *method, const char *path,
					  const json_t *body, long *status, char *err,
					  size_t errlen);

enum {
	OSH_ENGINE_STREAM_ERROR = -1, /* transport failure or cancelled; err says which */
	OSH_ENGINE_STREAM_IDLE = 0,   /* nothing within wait_ms, or woken */
	OSH_ENGINE_STREAM_OBJECT = 1, /* *obj holds the next object */
	OSH_ENGINE_STREAM_END = 2     /* the daemon ended the body cleanly */
};

/* Waits up to wait_ms for the next object (lines that are not JSON objects
 * are skipped). On OBJECT, *obj is a new reference. Called from one thread
 * at a time. */
int osh_engine_stream_next(osh_engine_stream *s, long wait_ms, json_t **obj, char *err,
			   size_t errlen);

/* Makes a blocked osh_engine_stream_next return IDLE promptly. Thread-safe;
 * the stream must stay open during the call. */
void osh_engine_stream_wake(osh_engine_stream *s);

/* Milliseconds since bytes last arrived (or since open). */
int64_t osh_engine_stream_idle_ms(const osh_engine_stream *s);

void osh_engine_stream_close(osh_engine_stream *s); /* NULL is fine */

/* Callback form: each object of the stream goes to on_object (borrowed;
 * non-zero return stops), cancelled is polled at least every 250 ms
 * (non-zero stops; may be NULL); idle_timeout_ms > 0 fails a stream that
 * sends nothing for that long. Returns 0 when the stream ended or a
 * callback stopped it, 1 when cancelled, -1 on failure (status and err as
 * osh_engine_stream_open, or a broken stream). */
int osh_engine_stream_each(osh_engine *e, const char *method, const char *path, const json_t *body,
			   int (*on_object)(void *ctx, json_t *obj), int (*cancelled)(void *ctx),
			   void *ctx, long idle_timeout_ms, long *status, char *err, size_t errlen);

/* Percent-encodes s for a query value or a path segment ("/" and ":" are
 * kept when keep_slash). Returns malloc'd text. */
char *osh_engine_escape(const char *s, int keep_slash);

/* `{"label":["k=v",...]}` as an escaped query value for filters=, from a
 * NULL-terminated list of "k=v" strings. Extra: an optional second key
 * ("type") with one value, may be NULL. malloc'd. */
char *osh_engine_label_filter(const char *const *labels, const char *extra_key,
			      const char *extra_value);

/* ---- JSON --------------------------------------------------------------- */

/* obj[key] when it is a string, else "" (never NULL). */
const char *osh_json_str(const json_t *obj, const char *key);
/* obj[k1][k2]...: the value at a path of object keys (NULL-terminated), or NULL. */
json_t *osh_json_path(const json_t *obj, ...) __attribute__((sentinel));
/* obj[key] as an integer (integers, or reals with an integral value), else def. */
long long osh_json_int(const json_t *obj, const char *key, long long def);

/* A google.protobuf.Struct / Value as JSON (numbers with an integral value
 * become JSON integers). New reference; NULL input -> NULL. */
json_t *osh_engine_struct_to_json(const Google__Protobuf__Struct *s);
json_t *osh_engine_value_to_json(const Google__Protobuf__Value *v);

/* ---- Kubernetes quantities ---------------------------------------------- */

/* cpu "500m", "1.5", "2", "100u", "1e3m" -> nano-CPUs (rounded up). Returns 0,
 * or -1 when s is not a quantity, is <= 0 or does not fit. */
int osh_quantity_cpu_nanos(const char *s, int64_t *out);
/* memory "512Mi", "1Gi", "1G", "1000", "1e3", "1.5Ki" -> bytes (rounded up).
 * Returns 0, or -1 when unparsable, <= 0 or too large. */
int osh_quantity_bytes(const char *s, int64_t *out);

/* ---- names, environment, labels ----------------------------------------- */

#define OSH_ENGINE_NAME_MAX 200

/* "openshell-{ws}--{name}-{id}": each part lower-cased, characters outside
 * [a-z0-9_.-] -> '-', leading and trailing '-' trimmed (empty ws ->
 * "default"); when longer than OSH_ENGINE_NAME_MAX only the name part is
 * cut, and the cut name loses trailing "-._". out needs
 * OSH_ENGINE_NAME_MAX + 1 bytes; returns the length. */
size_t osh_engine_container_name(const char *ws, const char *name, const char *id, char *out,
				 size_t outlen);

/* Label keys (BEHAVIOR.md section 0 item 6). */
#define OSH_LABEL_MANAGED_BY	   "openshell.ai/managed-by"
#define OSH_LABEL_MANAGED_BY_VALUE "openshell"
#define OSH_LABEL_SANDBOX_ID	   "openshell.ai/sandbox-id"
#define OSH_LABEL_SANDBOX_NAME	   "openshell.ai/sandbox-name"
#define OSH_LABEL_WORKSPACE	   "openshell.ai/sandbox-workspace"
#define OSH_LABEL_GATEWAY_ID	   "openshell.ai/gateway-id"

/* The workload environment as a JSON object of strings: template env,
 * overlaid by spec env, then OPENSHELL_SANDBOX_ID, OPENSHELL_SANDBOX and
 * OPENSHELL_SANDBOX_WORKSPACE (always win). New reference. */
json_t *osh_engine_workload_env(const osh_engine_ds *ds);
/* {"K": "V"} -> ["K=V", ...] sorted by key (docker's Env). New reference. */
json_t *osh_engine_env_list(const json_t *env);

/* Labels: template labels, then managed-by, sandbox-id, -name, -workspace
 * and gateway-id (when gateway_id is non-empty), which always win. New
 * reference. */
json_t *osh_engine_workload_labels(const osh_engine_ds *ds, const char *gateway_id);

/* ---- time --------------------------------------------------------------- */

/* Now as RFC 3339 UTC with milliseconds ("2026-11-29T16:50:48.685Z"). */
void osh_engine_time_now(char *buf, size_t len);
/* An engine timestamp ("2026-11-29T16:50:48.685123456Z", any offset) as
 * RFC 3339 UTC with milliseconds. Returns 0, or -1 when it does not parse
 * or is the zero time (year 1). */
int osh_engine_time_normalize(const char *in, char *buf, size_t len);

/* ---- snapshots and replies ---------------------------------------------- */

typedef struct osh_engine_snapshot_args {
	const char *id, *name, *workspace;
	const char *instance_id;  /* status.instance_id (container id) */
	const char *sandbox_name; /* status.sandbox_name (container name) */
	const char *status;	  /* "True", "False", "Unknown" */
	const char *reason, *message;
	const char *last_transition_time; /* NULL or "" = now */
	int deleting;
} osh_engine_snapshot_args;

/* A DriverSandbox with status and one Ready condition, no spec. Heap tree:
 * free with osh_engine_ds_free. NULL strings become "". Aborts when out of
 * memory. */
osh_engine_ds *osh_engine_snapshot_new(const osh_engine_snapshot_args *a);
void osh_engine_ds_free(osh_engine_ds *ds); /* any unpacked/heap tree; NULL is fine */
/* The Ready condition of ds, or NULL. */
const Openshell__Compute__V1__DriverCondition *osh_engine_ds_ready(const osh_engine_ds *ds);

/* Packs m into host->alloc'd memory (*out NULL for an empty message).
 * Returns OK, or RESOURCE_EXHAUSTED with *message set. */
int32_t osh_engine_reply(const openshell_host_v1 *host, const ProtobufCMessage *m, uint8_t **out,
			 uint64_t *out_len, char **message);

/* A host->alloc'd sentence (NULL when out of memory). */
char *osh_engine_msg(const openshell_host_v1 *host, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets *message = osh_engine_msg(...) and returns code. */
int32_t osh_engine_fail(const openshell_host_v1 *host, char **message, int32_t code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void osh_engine_log(const openshell_host_v1 *host, int32_t level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Decodes a Get/Stop/Start/DeleteSandboxRequest (same fields). Sets *id and
 * *name (malloc'd, "" when unset). Returns OK; INVALID_ARGUMENT (with
 * *message) when it does not decode or names neither id nor name. */
int32_t osh_engine_decode_ref(const openshell_host_v1 *host, const char *plugin, const uint8_t *req,
			      uint64_t len, char **id, char **name, char **message);

/* ---- watch broadcast ---------------------------------------------------- */

/*
 * A plugin keeps one hub of its running watch_sandboxes calls. Any thread
 * may publish an event to every active watch; it is queued, and delivered
 * by that watch's own thread (osh_engine_sub_flush), never by the
 * publisher: the host may hold a lock of its own during a create while its
 * sink waits for the same lock, so a publisher must not block on a sink.
 * Each sub has its own lock, so emit is never concurrent for one sink.
 */
typedef struct osh_engine_hub osh_engine_hub;
typedef struct osh_engine_sub osh_engine_sub;

osh_engine_hub *osh_engine_hub_new(void);
void osh_engine_hub_free(osh_engine_hub *h); /* every sub must have left */

/* Registers a watch (sink borrowed until leave). */
osh_engine_sub *osh_engine_hub_join(osh_engine_hub *h, const openshell_watch_sink_v1 *sink);
void osh_engine_hub_leave(osh_engine_hub *h, osh_engine_sub *s);

/* wake(arg) is called, from the publisher's thread, after an event was
 * queued for s (e.g. osh_engine_stream_wake). NULL to unset. Thread-safe. */
void osh_engine_sub_set_wake(osh_engine_hub *h, osh_engine_sub *s, void (*wake)(void *), void *arg);

void osh_engine_hub_publish(osh_engine_hub *h,
			    const Openshell__Compute__V1__WatchSandboxesEvent *ev);
void osh_engine_hub_publish_snapshot(osh_engine_hub *h, const osh_engine_ds *ds);
void osh_engine_hub_publish_deleted(osh_engine_hub *h, const char *sandbox_id);
/* A DriverPlatformEvent (timestamp now). meta: NULL-terminated key, value
 * pairs, may be NULL. */
void osh_engine_hub_publish_platform(osh_engine_hub *h, const char *sandbox_id, const char *source,
				     const char *type, const char *reason, const char *message,
				     const char *const *meta);

/* From the watch's thread only. Return non-zero when the sink wants the
 * stream to end (emit said so, or cancelled). */
int osh_engine_sub_emit(osh_engine_sub *s, const Openshell__Compute__V1__WatchSandboxesEvent *ev);
int osh_engine_sub_emit_snapshot(osh_engine_sub *s, const osh_engine_ds *ds);
int osh_engine_sub_emit_deleted(osh_engine_sub *s, const char *sandbox_id);
int osh_engine_sub_flush(osh_engine_sub *s); /* delivers what was published, in order */
int osh_engine_sub_cancelled(osh_engine_sub *s);

/* ---- config ------------------------------------------------------------- */

/* Every configured key must be in known (NULL-terminated); gateway_id is
 * always accepted. Returns 0, or -1 with err "<plugin>: unknown config key
 * \"k\" in [openshell.drivers.<name>] (known keys: ...)". */
int osh_engine_config_check(const openshell_host_v1 *h, const char *plugin,
			    const char *const *known, char *err, size_t errlen);
/* The value, or NULL when unset or empty. */
const char *osh_engine_config_get(const openshell_host_v1 *h, const char *key);
/* true/false/yes/no/on/off/1/0 (any case). Returns 0 (def when unset), -1 with err. */
int osh_engine_config_bool(const openshell_host_v1 *h, const char *plugin, const char *key, int def,
			   int *out, char *err, size_t errlen);
/* A decimal integer in [min, max]. Returns 0 (def when unset), -1 with err. */
int osh_engine_config_int(const openshell_host_v1 *h, const char *plugin, const char *key,
			  long long min, long long max, long long def, long long *out, char *err,
			  size_t errlen);

/* The engine socket: configured (a path or unix://path) when set, else the
 * environment variable env_name when it holds unix://path, else fallback.
 * Writes the absolute path into out. Returns 0, or -1 with err (relative,
 * not unix://, or longer than a socket path may be). */
int osh_engine_socket_resolve(const char *configured, const char *env_name, const char *fallback,
			      char *out, size_t outlen, char *err, size_t errlen);

/* ---- driver_config mounts ----------------------------------------------- */

enum { OSH_MOUNT_BIND = 1, OSH_MOUNT_VOLUME, OSH_MOUNT_TMPFS };

typedef struct osh_engine_mount {
	int type;
	char *source;	    /* bind: host path; volume: volume name; tmpfs: NULL */
	char *target;	    /* normalised absolute path in the container */
	int read_only;	    /* bind default 1; volume default 0; tmpfs 0 */
	char selinux;	    /* bind: 'z' (shared), 'Z' (private) or 0 */
	char *subpath;	    /* volume: relative path inside it, or NULL */
	int64_t size_bytes; /* tmpfs: 0 = unset */
	int mode;	    /* tmpfs: -1 = unset */
	char **options;	    /* tmpfs: extra mount options */
	size_t n_options;
} osh_engine_mount;

typedef struct osh_engine_mounts {
	osh_engine_mount *v;
	size_t n;
} osh_engine_mounts;

/*
 * Parses driver_config "mounts" (a JSON array; NULL = none) by the rules of
 * BEHAVIOR.md 2.1: each entry an object with "type" bind|volume|tmpfs and
 * "target"; bind: absolute "source", "read_only" (default true),
 * "selinux_label" shared|private; volume: "source" (a volume name),
 * "read_only", "subpath"; tmpfs: "size_bytes", "mode" (number, or an octal
 * string), "options" (strings). Targets: absolute, no surrounding
 * whitespace, no "." or ".." parts, unique, not "/", not overlapping
 * /opt/openshell, /etc/openshell, /etc/openshell-tls, /run/openshell,
 * /run/openshell-sidecar, /run/netns, /var/run/netns. Unknown keys and bad
 * values are INVALID_ARGUMENT; a bind mount without allow_bind is
 * FAILED_PRECONDITION. Returns OK (out filled; clear it) or the code with
 * err.
 */
int32_t osh_engine_mounts_parse(const json_t *mounts, int allow_bind, osh_engine_mounts *out,
				char *err, size_t errlen);
void osh_engine_mounts_clear(osh_engine_mounts *m);

#endif
