/* lifecycle.c - the sandbox lifecycle of the gateway.
 *
 * Durable truth: one store row per sandbox (type "sandbox"); its payload is
 * the packed public openshell.v1.Sandbox with metadata.resource_version equal
 * to the row's resource_version, so reads hand the stored bytes out as they
 * are. Every write is a compare-and-set on that version.
 *
 * Order of every lifecycle request: take the per-sandbox gate (striped
 * mutexes by id; lock order gate -> store), write the intent (PROVISIONING
 * row, STOPPING, STARTING, DELETING), call the driver, write the outcome. A
 * gateway killed at any point finds the intent at start-up and finishes it
 * (lc_recover).
 *
 * Reconciler: per driver, one thread consumes WatchSandboxes (re-listing
 * with ListSandboxes before every (re)connect, capped exponential backoff
 * when the stream ends), one thread sweeps periodically. Snapshots for ids
 * the store does not know are ignored: the store is authoritative.
 *
 * Watchers: WatchSandbox streams registered per sandbox id; every write is
 * published to them as a SandboxStreamEvent, and driver platform events are
 * forwarded unchanged (DriverPlatformEvent and PlatformEvent share field
 * numbers, so the bytes are reused).
 */
#include "config.h"

#include "lifecycle.h"

#include "compute_driver.pb-c.h"
#include "openshell.pb-c.h"
#include "osh_grpc.h"
#include "osh_log.h"
#include "phase.h"
#include "validate.h"

#include <errno.h>
#include <grpc/status.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OSH_SVC "/openshell.v1.OpenShell/"
#define LC_TYPE "sandbox"
#define LC_GATES 256
#define LC_LIST_DEFAULT 100
#define LC_LIST_MAX 1000
#define LC_BACKOFF_MIN_MS 250
#define LC_BACKOFF_MAX_MS 30000
#define LC_WATCH_MAX_QUEUED 256
#define LC_HUB_BUCKETS 4096 /* watchers and event tails, by sandbox id */

typedef Openshell__V1__Sandbox Sandbox;
typedef Openshell__V1__SandboxPhase Phase;
#define PH(x) OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_##x

struct lc_watcher {
	osh_call *call;
	char id[64];
	int stop_on_terminal;
	int ended;
	struct lc_watcher *next;
	osh_lifecycle *lc;
};

/* When a start was requested, per sandbox: snapshots describing an exit
 * from before that moment are stale (the stop that preceded the start). */
struct lc_fence {
	char id[64];
	int64_t since_ms;
	struct lc_fence *next;
};

/* The last few platform events of a sandbox, for WatchSandbox.event_tail. */
#define LC_EVENT_TAIL 16
struct lc_events {
	char id[64];
	uint8_t *ev[LC_EVENT_TAIL]; /* framed SandboxStreamEvent bytes */
	size_t len[LC_EVENT_TAIL];
	unsigned n, next_slot;
	struct lc_events *next;
};

struct lc_reconciler {
	osh_lifecycle *lc;
	osh_driver *driver;
	pthread_t watch_thread, sweep_thread;
	int started;
	int got_events;
};

struct osh_lifecycle {
	osh_gateway *gw;
	osh_store *store;
	osh_driver *driver; /* where new sandboxes go: the first configured */
	pthread_mutex_t gates[LC_GATES];

	pthread_mutex_t hub_mu; /* guards watchers[] and events[] */
	struct lc_watcher *watchers[LC_HUB_BUCKETS];
	struct lc_events *events[LC_HUB_BUCKETS];

	pthread_mutex_t fence_mu;
	struct lc_fence *fences;

	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cond;
	atomic_int stopping;
	struct lc_reconciler *recs;
	size_t n_recs;
	int64_t sweep_interval_ms;
	int64_t sweep_grace_ms;
};

/* ---- small helpers --------------------------------------------------- */

static int64_t lc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t lc_hash(const char *id)
{
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static pthread_mutex_t *lc_gate(osh_lifecycle *lc, const char *id)
{
	return &lc->gates[lc_hash(id) % LC_GATES];
}

#define LC_BUCKET(id) (lc_hash(id) % LC_HUB_BUCKETS)

static Phase lc_phase(const Sandbox *sb)
{
	return sb->status ? sb->status->phase : PH(UNSPECIFIED);
}

static void lc_set_phase(Sandbox *sb, Phase p)
{
	if (!sb->status) {
		sb->status = malloc(sizeof(*sb->status));
		openshell__v1__sandbox_status__init(sb->status);
	}
	sb->status->phase = p;
}

static void lc_set_str(char **dst, const char *v)
{
	if (*dst && *dst != protobuf_c_empty_string)
		free(*dst);
	*dst = strdup(v ? v : "");
}

/* RFC 3339 UTC time ("2026-11-29T16:50:48.685Z", any fraction) to ms;
 * -1 when it does not parse. */
static int64_t lc_parse_time_ms(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int64_t ms = (int64_t)timegm(&tm) * 1000;
	const char *p = s + n;
	if (*p == '.') {
		int64_t scale = 100;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	return ms;
}

static void lc_fence_set(osh_lifecycle *lc, const char *id, int64_t since_ms)
{
	pthread_mutex_lock(&lc->fence_mu);
	struct lc_fence *f;
	for (f = lc->fences; f; f = f->next)
		if (strcmp(f->id, id) == 0)
			break;
	if (!f && (f = calloc(1, sizeof(*f)))) {
		snprintf(f->id, sizeof(f->id), "%s", id);
		f->next = lc->fences;
		lc->fences = f;
	}
	if (f)
		f->since_ms = since_ms;
	pthread_mutex_unlock(&lc->fence_mu);
}

static int64_t lc_fence_get(osh_lifecycle *lc, const char *id)
{
	int64_t v = -1;
	pthread_mutex_lock(&lc->fence_mu);
	for (struct lc_fence *f = lc->fences; f; f = f->next)
		if (strcmp(f->id, id) == 0)
			v = f->since_ms;
	pthread_mutex_unlock(&lc->fence_mu);
	return v;
}

static void lc_fence_clear(osh_lifecycle *lc, const char *id)
{
	pthread_mutex_lock(&lc->fence_mu);
	for (struct lc_fence **p = &lc->fences; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			struct lc_fence *f = *p;
			*p = f->next;
			free(f);
			break;
		}
	}
	pthread_mutex_unlock(&lc->fence_mu);
}

/* A snapshot that would end a STARTING sandbox in ERROR but describes the
 * stop that came before the start request (its Ready condition changed
 * before the request) is stale. Without a usable time, a plain stop
 * (ContainerStopped) is taken as stale too. */
static int lc_snapshot_is_stale(osh_lifecycle *lc, const Sandbox *sb,
				const Openshell__Compute__V1__DriverSandbox *ds)
{
	if (lc_phase(sb) != PH(STARTING) || !ds->status ||
	    osh_phase_from_driver_status(ds->status) != PH(ERROR))
		return 0;
	const Openshell__Compute__V1__DriverCondition *ready = NULL;
	for (size_t i = 0; i < ds->status->n_conditions && !ready; i++)
		if (strcmp(ds->status->conditions[i]->type, "Ready") == 0)
			ready = ds->status->conditions[i];
	if (!ready)
		return 0;
	int64_t since = lc_fence_get(lc, sb->metadata->id);
	int64_t when = lc_parse_time_ms(ready->last_transition_time);
	if (since >= 0 && when >= 0)
		return when < since;
	return strcasecmp(ready->reason, "ContainerStopped") == 0;
}

/* Wire framing: a length-delimited field (tag byte) around bytes.
 * SandboxResponse.sandbox, ListSandboxesResponse.sandboxes and
 * SandboxStreamEvent.sandbox are all field 1 (tag 0x0a). out needs
 * len + 11 bytes. */
static size_t lc_frame(uint8_t *out, uint8_t tag, const uint8_t *data, size_t len)
{
	size_t n = 0;
	out[n++] = tag;
	size_t v = len;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	memcpy(out + n, data, len);
	return n + len;
}

static void lc_reply_framed(osh_call *call, const uint8_t *payload, size_t len)
{
	uint8_t *buf = malloc(len + 16);
	if (!buf) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	size_t n = lc_frame(buf, 0x0a, payload, len);
	osh_call_reply(call, buf, n);
	free(buf);
}

static Sandbox *lc_unpack(const osh_object *o)
{
	return openshell__v1__sandbox__unpack(NULL, o->payload_len, o->payload);
}

static void lc_sandbox_free(Sandbox *sb)
{
	if (sb)
		openshell__v1__sandbox__free_unpacked(sb, NULL);
}

/* Replace o's payload and labels with sb (resource_version = rv). */
static int lc_object_fill(osh_object *o, Sandbox *sb, uint64_t rv)
{
	sb->metadata->resource_version = rv;
	size_t len = openshell__v1__sandbox__get_packed_size(sb);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -1;
	openshell__v1__sandbox__pack(sb, buf);
	free(o->payload);
	o->payload = buf;
	o->payload_len = len;
	for (size_t i = 0; i < o->n_labels; i++) {
		free(o->labels[i].key);
		free(o->labels[i].value);
	}
	free(o->labels);
	o->labels = NULL;
	o->n_labels = 0;
	size_t n = sb->metadata->n_labels;
	if (n) {
		o->labels = calloc(n, sizeof(osh_label));
		if (!o->labels)
			return -1;
		for (size_t i = 0; i < n; i++) {
			o->labels[i].key = strdup(sb->metadata->labels[i]->key);
			o->labels[i].value = strdup(sb->metadata->labels[i]->value);
		}
		o->n_labels = n;
	}
	lc_set_str(&o->name, sb->metadata->name);
	return 0;
}

/* ---- watchers -------------------------------------------------------- */

static void lc_watcher_closed(osh_call *call, void *ud)
{
	struct lc_watcher *w = ud;
	osh_lifecycle *lc = w->lc;
	pthread_mutex_lock(&lc->hub_mu);
	for (struct lc_watcher **p = &lc->watchers[LC_BUCKET(w->id)]; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&lc->hub_mu);
	osh_call_unref(call);
	free(w);
}

/* End a watcher's stream (hub_mu held). Its record goes when the call
 * closes. */
static void lc_watcher_end_locked(struct lc_watcher *w, int code, const char *msg)
{
	if (w->ended)
		return;
	w->ended = 1;
	osh_call_ref(w->call);
	osh_call_finish(w->call, code, msg);
}

static void lc_send_sandbox_locked(struct lc_watcher *w, const uint8_t *payload, size_t len,
				   Phase phase)
{
	if (w->ended)
		return;
	uint8_t *buf = malloc(len + 16);
	if (!buf)
		return;
	size_t n = lc_frame(buf, 0x0a, payload, len);
	osh_call_send(w->call, buf, n);
	free(buf);
	if (w->stop_on_terminal && phase == PH(READY))
		lc_watcher_end_locked(w, GRPC_STATUS_OK, NULL);
}

/* Publish a stored sandbox (payload = packed Sandbox) to its watchers. */
static void lc_publish(osh_lifecycle *lc, const char *id, const uint8_t *payload, size_t len,
		       Phase phase)
{
	pthread_mutex_lock(&lc->hub_mu);
	for (struct lc_watcher *w = lc->watchers[LC_BUCKET(id)]; w; w = w->next)
		if (strcmp(w->id, id) == 0)
			lc_send_sandbox_locked(w, payload, len, phase);
	pthread_mutex_unlock(&lc->hub_mu);
}

static void lc_events_free(struct lc_events *e)
{
	for (unsigned i = 0; i < LC_EVENT_TAIL; i++)
		free(e->ev[i]);
	free(e);
}

/* hub_mu held. */
static struct lc_events *lc_events_find_locked(osh_lifecycle *lc, const char *id, int create)
{
	struct lc_events **head = &lc->events[LC_BUCKET(id)];
	for (struct lc_events *e = *head; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	if (!create)
		return NULL;
	struct lc_events *e = calloc(1, sizeof(*e));
	if (e) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->next = *head;
		*head = e;
	}
	return e;
}

/* The sandbox is gone: its streams end, its event tail goes. */
static void lc_publish_gone(osh_lifecycle *lc, const char *id)
{
	pthread_mutex_lock(&lc->hub_mu);
	for (struct lc_events **p = &lc->events[LC_BUCKET(id)]; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			struct lc_events *e = *p;
			*p = e->next;
			lc_events_free(e);
			break;
		}
	}
	for (struct lc_watcher *w = lc->watchers[LC_BUCKET(id)]; w; w = w->next)
		if (strcmp(w->id, id) == 0)
			lc_watcher_end_locked(w, GRPC_STATUS_OK, NULL);
	pthread_mutex_unlock(&lc->hub_mu);
}

/* event: packed DriverPlatformEvent == packed PlatformEvent. */
static void lc_publish_event(osh_lifecycle *lc, const char *id, const uint8_t *event, size_t len)
{
	uint8_t *buf = malloc(len + 16);
	if (!buf)
		return;
	size_t n = lc_frame(buf, 0x1a, event, len); /* SandboxStreamEvent.event = 3 */
	/* Kept for event_tail only while the store knows the sandbox. */
	osh_object *o = NULL;
	int known = osh_store_get(lc->store, id, &o) == OSH_STORE_OK;
	osh_object_free(o);
	pthread_mutex_lock(&lc->hub_mu);
	for (struct lc_watcher *w = lc->watchers[LC_BUCKET(id)]; w; w = w->next)
		if (!w->ended && strcmp(w->id, id) == 0)
			osh_call_send(w->call, buf, n);
	struct lc_events *e = known ? lc_events_find_locked(lc, id, 1) : NULL;
	if (e) {
		free(e->ev[e->next_slot]);
		e->ev[e->next_slot] = buf;
		e->len[e->next_slot] = n;
		e->next_slot = (e->next_slot + 1) % LC_EVENT_TAIL;
		if (e->n < LC_EVENT_TAIL)
			e->n++;
		buf = NULL;
	}
	pthread_mutex_unlock(&lc->hub_mu);
	free(buf);
}

/* ---- store writes ---------------------------------------------------- */

/* CAS-write sb over o (whose resource_version is the expected one) and
 * publish. Returns an OSH_STORE_* code; on OK o holds the new row. */
static int lc_write(osh_lifecycle *lc, osh_object *o, Sandbox *sb)
{
	uint64_t expected = o->resource_version;
	if (lc_object_fill(o, sb, expected + 1) != 0)
		return OSH_STORE_ERROR;
	int rc = osh_store_update(lc->store, o, expected);
	if (rc != OSH_STORE_OK) {
		o->resource_version = expected;
		osh_warn("store: update of sandbox %s failed (%d): %s", o->id, rc,
			 osh_store_errmsg(lc->store));
		return rc;
	}
	lc_publish(lc, o->id, o->payload, o->payload_len, lc_phase(sb));
	return OSH_STORE_OK;
}

static int lc_remove(osh_lifecycle *lc, const char *id)
{
	int rc = osh_store_delete(lc->store, id, 0);
	lc_fence_clear(lc, id);
	if (rc == OSH_STORE_OK)
		osh_info("sandbox %s removed from the store", id);
	lc_publish_gone(lc, id);
	return rc;
}

/* ---- driver calls with packed messages ------------------------------- */

static int lc_driver_msg(osh_driver *d, osh_rpc rpc, const ProtobufCMessage *req,
			 uint8_t **resp, size_t *resp_len, char **msg)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		*msg = strdup("out of memory");
		*resp = NULL;
		*resp_len = 0;
		return OPENSHELL_STATUS_RESOURCE_EXHAUSTED;
	}
	protobuf_c_message_pack(req, buf);
	int code = osh_driver_call(d, rpc, buf, len, resp, resp_len, msg);
	free(buf);
	return code;
}

/* Stop/Start/Delete/Get all take {sandbox_id, sandbox_name}. */
static int lc_driver_by_id(osh_driver *d, osh_rpc rpc, const char *id, const char *name,
			   uint8_t **resp, size_t *resp_len, char **msg)
{
	Openshell__Compute__V1__GetSandboxRequest req =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST__INIT;
	req.sandbox_id = (char *)id;
	req.sandbox_name = (char *)name;
	return lc_driver_msg(d, rpc, &req.base, resp, resp_len, msg);
}

static int lc_driver_simple(osh_driver *d, osh_rpc rpc, const char *id, const char *name,
			    char **msg)
{
	uint8_t *resp;
	size_t resp_len;
	int code = lc_driver_by_id(d, rpc, id, name, &resp, &resp_len, msg);
	free(resp);
	return code;
}

static int lc_driver_sandbox(osh_lifecycle *lc, osh_rpc rpc, const Sandbox *sb, char **msg)
{
	char err[512];
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	int code = osh_driver_sandbox_from_public(sb, lc->driver->name, &ds, err, sizeof(err));
	if (code != OPENSHELL_STATUS_OK) {
		*msg = strdup(err);
		return code;
	}
	Openshell__Compute__V1__CreateSandboxRequest req =
		OPENSHELL__COMPUTE__V1__CREATE_SANDBOX_REQUEST__INIT;
	req.sandbox = ds;
	uint8_t *resp;
	size_t resp_len;
	code = lc_driver_msg(lc->driver, rpc, &req.base, &resp, &resp_len, msg);
	free(resp);
	protobuf_c_message_free_unpacked(&ds->base, NULL);
	return code;
}

/* ---- lookups --------------------------------------------------------- */

static const char *lc_workspace(const char *ws)
{
	return ws && *ws ? ws : "default";
}

/* Resolve (workspace, name) of a request; fails the call and returns -1. */
static int lc_lookup(osh_lifecycle *lc, osh_call *call, const char *ws, const char *name,
		     osh_object **out)
{
	char err[512];
	*out = NULL;
	if (!name || !*name) {
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "name is required");
		return -1;
	}
	if (ws && *ws && osh_validate_workspace(ws, err, sizeof(err)) != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
		return -1;
	}
	int rc = osh_store_get_by_name(lc->store, LC_TYPE, lc_workspace(ws), name, out);
	if (rc == OSH_STORE_NOT_FOUND) {
		osh_call_fail(call, GRPC_STATUS_NOT_FOUND, "sandbox not found");
		return -1;
	}
	if (rc != OSH_STORE_OK) {
		osh_call_fail(call, GRPC_STATUS_INTERNAL, "store: %s", osh_store_errmsg(lc->store));
		return -1;
	}
	return 0;
}

/* ---- handlers -------------------------------------------------------- */

static void lc_create(osh_call *call, void *ud)
{
	osh_lifecycle *lc = ud;
	char err[1024];
	size_t raw_len;
	const uint8_t *raw = osh_call_request(call, &raw_len);
	int code = osh_validate_wire_strings(&openshell__v1__create_sandbox_request__descriptor, raw,
					     raw_len, err, sizeof(err));
	if (code != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, code, "%s", err);
		return;
	}
	Openshell__V1__CreateSandboxRequest *req = (Openshell__V1__CreateSandboxRequest *)osh_api_decode(
		call, &openshell__v1__create_sandbox_request__descriptor);
	if (!req)
		return;
	Sandbox *sb = NULL;
	osh_object obj = {0};
	code = osh_validate_create_request(req, err, sizeof(err));
	if (code != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, code, "%s", err);
		goto cleanup;
	}
	/* Build the stored Sandbox; the request's spec, labels and
	 * annotations move into it. */
	sb = malloc(sizeof(*sb));
	openshell__v1__sandbox__init(sb);
	sb->metadata = malloc(sizeof(*sb->metadata));
	openshell__datamodel__v1__object_meta__init(sb->metadata);
	Openshell__Datamodel__V1__ObjectMeta *md = sb->metadata;
	char id[37], name[20];
	osh_generate_uuid(id);
	if (*req->name)
		snprintf(name, sizeof(name), "%s", req->name);
	else
		osh_generate_name(name);
	md->id = strdup(id);
	md->name = strdup(name);
	md->workspace = strdup(lc_workspace(req->workspace));
	md->created_at_ms = lc_now_ms();
	md->n_labels = req->n_labels;
	md->labels = (Openshell__Datamodel__V1__ObjectMeta__LabelsEntry **)req->labels;
	req->n_labels = 0;
	req->labels = NULL;
	md->n_annotations = req->n_annotations;
	md->annotations = (Openshell__Datamodel__V1__ObjectMeta__AnnotationsEntry **)req->annotations;
	req->n_annotations = 0;
	req->annotations = NULL;
	sb->spec = req->spec;
	req->spec = NULL;
	if (!sb->spec->template_) {
		sb->spec->template_ = malloc(sizeof(*sb->spec->template_));
		openshell__v1__sandbox_template__init(sb->spec->template_);
	}
	if (!*sb->spec->template_->image)
		lc_set_str(&sb->spec->template_->image, lc->driver->default_image);
	lc_set_phase(sb, PH(PROVISIONING));
	lc_set_str(&sb->status->sandbox_name, name);

	char *msg = NULL;
	code = lc_driver_sandbox(lc, OSH_RPC_VALIDATE_SANDBOX_CREATE, sb, &msg);
	if (code == OPENSHELL_STATUS_UNIMPLEMENTED)
		code = OPENSHELL_STATUS_OK;
	if (code != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, code, "%s", msg);
		free(msg);
		goto cleanup;
	}
	free(msg);
	msg = NULL;

	/* Intent first: the row exists before the driver is asked. */
	obj.id = strdup(id);
	obj.type = strdup(LC_TYPE);
	obj.workspace = strdup(md->workspace);
	obj.name = strdup(name);
	obj.created_at_ms = md->created_at_ms;
	if (lc_object_fill(&obj, sb, 1) != 0) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto cleanup;
	}
	pthread_mutex_t *gate = lc_gate(lc, id);
	pthread_mutex_lock(gate);
	int rc = osh_store_insert(lc->store, &obj);
	if (rc == OSH_STORE_EXISTS) {
		pthread_mutex_unlock(gate);
		osh_call_fail(call, GRPC_STATUS_ALREADY_EXISTS, "sandbox '%s' already exists", name);
		goto cleanup;
	}
	if (rc != OSH_STORE_OK) {
		pthread_mutex_unlock(gate);
		osh_call_fail(call, GRPC_STATUS_INTERNAL, "store: %s", osh_store_errmsg(lc->store));
		goto cleanup;
	}
	code = lc_driver_sandbox(lc, OSH_RPC_CREATE_SANDBOX, sb, &msg);
	if (code != OPENSHELL_STATUS_OK) {
		osh_store_delete(lc->store, id, 0);
		pthread_mutex_unlock(gate);
		osh_info("sandbox %s/%s: driver %s refused create: %s", md->workspace, name,
			 lc->driver->name, msg);
		if (code == OPENSHELL_STATUS_ALREADY_EXISTS)
			osh_call_fail(call, code, "sandbox already exists");
		else if (code == OPENSHELL_STATUS_FAILED_PRECONDITION ||
			 code == OPENSHELL_STATUS_INVALID_ARGUMENT ||
			 code == OPENSHELL_STATUS_UNAVAILABLE)
			osh_call_fail(call, code, "%s", msg);
		else
			osh_call_fail(call, GRPC_STATUS_INTERNAL, "create sandbox failed: %s", msg);
		free(msg);
		goto cleanup;
	}
	free(msg);
	/* The driver may already have reported progress; answer with the
	 * row as it is now. */
	osh_object *now = NULL;
	if (osh_store_get(lc->store, id, &now) == OSH_STORE_OK) {
		pthread_mutex_unlock(gate);
		lc_reply_framed(call, now->payload, now->payload_len);
		osh_object_free(now);
	} else {
		pthread_mutex_unlock(gate);
		lc_reply_framed(call, obj.payload, obj.payload_len);
	}
	osh_info("sandbox %s/%s created (id %s, driver %s)", md->workspace, name, id,
		 lc->driver->name);
	lc_publish(lc, id, obj.payload, obj.payload_len, PH(PROVISIONING));
cleanup:
	free(obj.id);
	free(obj.type);
	free(obj.workspace);
	free(obj.name);
	free(obj.payload);
	for (size_t i = 0; i < obj.n_labels; i++) {
		free(obj.labels[i].key);
		free(obj.labels[i].value);
	}
	free(obj.labels);
	lc_sandbox_free(sb);
	openshell__v1__create_sandbox_request__free_unpacked(req, NULL);
}

static void lc_get(osh_call *call, void *ud)
{
	osh_lifecycle *lc = ud;
	Openshell__V1__GetSandboxRequest *req = (Openshell__V1__GetSandboxRequest *)osh_api_decode(
		call, &openshell__v1__get_sandbox_request__descriptor);
	if (!req)
		return;
	osh_object *o;
	if (lc_lookup(lc, call, req->workspace, req->name, &o) == 0) {
		lc_reply_framed(call, o->payload, o->payload_len);
		osh_object_free(o);
	}
	openshell__v1__get_sandbox_request__free_unpacked(req, NULL);
}

static void lc_list(osh_call *call, void *ud)
{
	osh_lifecycle *lc = ud;
	Openshell__V1__ListSandboxesRequest *req = (Openshell__V1__ListSandboxesRequest *)osh_api_decode(
		call, &openshell__v1__list_sandboxes_request__descriptor);
	if (!req)
		return;
	char err[512];
	char **keys = NULL, **values = NULL;
	size_t nsel = 0;
	osh_label *sel = NULL;
	osh_object **objs = NULL;
	size_t n = 0;
	if (req->all_workspaces && *req->workspace) {
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
			      "all_workspaces and workspace are mutually exclusive");
		goto cleanup;
	}
	if (*req->workspace &&
	    osh_validate_workspace(req->workspace, err, sizeof(err)) != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
		goto cleanup;
	}
	int code = osh_parse_label_selector(req->label_selector, &keys, &values, &nsel, err,
					    sizeof(err));
	if (code != OPENSHELL_STATUS_OK) {
		osh_call_fail(call, code, "%s", err);
		goto cleanup;
	}
	if (nsel) {
		sel = calloc(nsel, sizeof(*sel));
		for (size_t i = 0; i < nsel; i++) {
			sel[i].key = keys[i];
			sel[i].value = values[i];
		}
	}
	uint32_t limit = req->limit ? req->limit : LC_LIST_DEFAULT;
	if (limit > LC_LIST_MAX)
		limit = LC_LIST_MAX;
	const char *ws = req->all_workspaces ? NULL : lc_workspace(req->workspace);
	if (osh_store_list(lc->store, LC_TYPE, ws, sel, nsel, limit, req->offset, &objs, &n) !=
	    OSH_STORE_OK) {
		osh_call_fail(call, GRPC_STATUS_INTERNAL, "store: %s", osh_store_errmsg(lc->store));
		goto cleanup;
	}
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += objs[i]->payload_len + 11;
	uint8_t *buf = malloc(total ? total : 1);
	if (!buf) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto cleanup;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++)
		off += lc_frame(buf + off, 0x0a, objs[i]->payload, objs[i]->payload_len);
	osh_call_reply(call, buf, off);
	free(buf);
cleanup:
	free(sel);
	osh_label_selector_free(keys, values, nsel);
	osh_object_array_free(objs, n);
	openshell__v1__list_sandboxes_request__free_unpacked(req, NULL);
}

enum lc_op { LC_STOP, LC_START, LC_DELETE };

/* Restore the pre-operation row after a driver failure (CAS over the
 * transition row). */
static void lc_restore(osh_lifecycle *lc, osh_object *o, const uint8_t *old, size_t old_len)
{
	Sandbox *prev = openshell__v1__sandbox__unpack(NULL, old_len, old);
	if (prev) {
		lc_write(lc, o, prev);
		lc_sandbox_free(prev);
	}
}

static void lc_lifecycle_op(osh_call *call, osh_lifecycle *lc, enum lc_op op, const char *ws,
			    const char *name)
{
	osh_object *o = NULL;
	Sandbox *sb = NULL;
	uint8_t *old = NULL;
	size_t old_len = 0;
	char *msg = NULL;
	if (lc_lookup(lc, call, ws, name, &o) != 0)
		return;
	char id[64];
	snprintf(id, sizeof(id), "%s", o->id);
	pthread_mutex_t *gate = lc_gate(lc, id);
	pthread_mutex_lock(gate);
	/* Re-read under the gate: another request may have changed it. */
	osh_object_free(o);
	o = NULL;
	int rc = osh_store_get(lc->store, id, &o);
	if (rc != OSH_STORE_OK) {
		pthread_mutex_unlock(gate);
		if (op == LC_DELETE) {
			Openshell__V1__DeleteSandboxResponse r =
				OPENSHELL__V1__DELETE_SANDBOX_RESPONSE__INIT;
			r.deleted = 1;
			osh_api_reply_msg(call, &r.base);
		} else {
			osh_call_fail(call, GRPC_STATUS_NOT_FOUND, "sandbox not found");
		}
		return;
	}
	if (strcmp(o->name, name) != 0) {
		osh_call_fail(call, GRPC_STATUS_ABORTED,
			      "sandbox was renamed while the request waited");
		goto unlock;
	}
	sb = lc_unpack(o);
	if (!sb) {
		osh_call_fail(call, GRPC_STATUS_DATA_LOSS, "stored sandbox %s cannot be decoded", id);
		goto unlock;
	}
	Phase ph = lc_phase(sb);
	old = malloc(o->payload_len ? o->payload_len : 1);
	memcpy(old, o->payload, o->payload_len);
	old_len = o->payload_len;

	if (op == LC_STOP) {
		if (ph == PH(STOPPED)) {
			lc_reply_framed(call, o->payload, o->payload_len);
			goto unlock;
		}
		if (ph != PH(READY) && ph != PH(STOPPING)) {
			osh_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION,
				      "sandbox must be Ready to stop (current phase: %s)",
				      osh_phase_name(ph));
			goto unlock;
		}
		lc_set_phase(sb, PH(STOPPING));
		osh_sandbox_set_condition(sb, "Ready", "False", "Stopping", "Sandbox stop requested");
	} else if (op == LC_START) {
		if (ph == PH(READY)) {
			lc_reply_framed(call, o->payload, o->payload_len);
			goto unlock;
		}
		if (ph != PH(STOPPED) && ph != PH(STARTING)) {
			osh_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION,
				      "sandbox must be Stopped to start (current phase: %s)",
				      osh_phase_name(ph));
			goto unlock;
		}
		lc_set_phase(sb, PH(STARTING));
		lc_fence_set(lc, id, lc_now_ms());
		sb->status->opt_exit_code_case = OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE__NOT_SET;
		osh_sandbox_set_condition(sb, "Ready", "False", "Starting", "Sandbox start requested");
	} else {
		if (ph != PH(DELETING)) {
			lc_set_phase(sb, PH(DELETING));
			sb->metadata->deletion_timestamp_ms = lc_now_ms();
		}
	}
	rc = lc_write(lc, o, sb);
	if (rc != OSH_STORE_OK) {
		osh_call_fail(call, GRPC_STATUS_ABORTED,
			      "%s failed due to concurrent modification (current resource_version: "
			      "%llu)",
			      op == LC_STOP ? "stop" : op == LC_START ? "start" : "delete",
			      (unsigned long long)o->resource_version);
		goto unlock;
	}

	if (op == LC_DELETE) {
		uint8_t *resp = NULL;
		size_t resp_len = 0;
		int code = lc_driver_by_id(lc->driver, OSH_RPC_DELETE_SANDBOX, id, name, &resp,
					   &resp_len, &msg);
		free(resp);
		if (code == OPENSHELL_STATUS_OK || code == OPENSHELL_STATUS_NOT_FOUND) {
			/* Backend gone or going: the row goes now; a later
			 * `deleted` event for this id is a no-op. */
			lc_remove(lc, id);
			Openshell__V1__DeleteSandboxResponse r =
				OPENSHELL__V1__DELETE_SANDBOX_RESPONSE__INIT;
			r.deleted = 1;
			osh_api_reply_msg(call, &r.base);
			osh_info("sandbox %s/%s (id %s) deleted", o->workspace, name, id);
		} else {
			lc_restore(lc, o, old, old_len);
			if (code == OPENSHELL_STATUS_UNAVAILABLE)
				osh_call_fail(call, code, "delete sandbox failed: %s", msg);
			else
				osh_call_fail(call, GRPC_STATUS_INTERNAL, "delete sandbox failed: %s",
					      msg);
		}
		goto unlock;
	}

	int code = lc_driver_simple(lc->driver, op == LC_STOP ? OSH_RPC_STOP_SANDBOX
							      : OSH_RPC_START_SANDBOX,
				    id, name, &msg);
	if (code != OPENSHELL_STATUS_OK) {
		lc_restore(lc, o, old, old_len);
		osh_call_fail(call, code, "%s sandbox failed: %s", op == LC_STOP ? "stop" : "start",
			      msg);
		goto unlock;
	}
	if (op == LC_STOP) {
		/* Re-read: the watch may have moved it on already. */
		lc_sandbox_free(sb);
		osh_object_free(o);
		o = NULL;
		sb = NULL;
		if (osh_store_get(lc->store, id, &o) == OSH_STORE_OK && (sb = lc_unpack(o)) &&
		    lc_phase(sb) == PH(STOPPING)) {
			lc_set_phase(sb, PH(STOPPED));
			osh_sandbox_set_condition(sb, "Ready", "False", "Stopped",
						  "Sandbox compute is stopped");
			lc_write(lc, o, sb);
		}
	} else {
		osh_object *now = NULL;
		if (osh_store_get(lc->store, id, &now) == OSH_STORE_OK) {
			osh_object_free(o);
			o = now;
		}
	}
	if (o)
		lc_reply_framed(call, o->payload, o->payload_len);
	else
		osh_call_fail(call, GRPC_STATUS_NOT_FOUND, "sandbox not found");
unlock:
	pthread_mutex_unlock(gate);
	free(msg);
	free(old);
	lc_sandbox_free(sb);
	osh_object_free(o);
}

static void lc_stop(osh_call *call, void *ud)
{
	Openshell__V1__StopSandboxRequest *req = (Openshell__V1__StopSandboxRequest *)osh_api_decode(
		call, &openshell__v1__stop_sandbox_request__descriptor);
	if (!req)
		return;
	lc_lifecycle_op(call, ud, LC_STOP, req->workspace, req->name);
	openshell__v1__stop_sandbox_request__free_unpacked(req, NULL);
}

static void lc_start(osh_call *call, void *ud)
{
	Openshell__V1__StartSandboxRequest *req = (Openshell__V1__StartSandboxRequest *)osh_api_decode(
		call, &openshell__v1__start_sandbox_request__descriptor);
	if (!req)
		return;
	lc_lifecycle_op(call, ud, LC_START, req->workspace, req->name);
	openshell__v1__start_sandbox_request__free_unpacked(req, NULL);
}

static void lc_delete(osh_call *call, void *ud)
{
	Openshell__V1__DeleteSandboxRequest *req = (Openshell__V1__DeleteSandboxRequest *)osh_api_decode(
		call, &openshell__v1__delete_sandbox_request__descriptor);
	if (!req)
		return;
	lc_lifecycle_op(call, ud, LC_DELETE, req->workspace, req->name);
	openshell__v1__delete_sandbox_request__free_unpacked(req, NULL);
}

static void lc_watch(osh_call *call, void *ud)
{
	osh_lifecycle *lc = ud;
	Openshell__V1__WatchSandboxRequest *req = (Openshell__V1__WatchSandboxRequest *)osh_api_decode(
		call, &openshell__v1__watch_sandbox_request__descriptor);
	if (!req)
		return;
	if (!*req->id) {
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "id is required");
		goto cleanup;
	}
	struct lc_watcher *w = calloc(1, sizeof(*w));
	if (!w) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto cleanup;
	}
	snprintf(w->id, sizeof(w->id), "%s", req->id);
	w->call = call;
	w->lc = lc;
	w->stop_on_terminal = req->stop_on_terminal;
	osh_call_set_max_queued(call, LC_WATCH_MAX_QUEUED);
	/* Register and send the snapshot under the hub lock, so no update
	 * can overtake the snapshot. */
	pthread_mutex_lock(&lc->hub_mu);
	osh_object *o = NULL;
	if (osh_store_get(lc->store, req->id, &o) != OSH_STORE_OK) {
		pthread_mutex_unlock(&lc->hub_mu);
		free(w);
		osh_call_fail(call, GRPC_STATUS_NOT_FOUND, "sandbox not found");
		goto cleanup;
	}
	w->next = lc->watchers[LC_BUCKET(w->id)];
	lc->watchers[LC_BUCKET(w->id)] = w;
	Sandbox *sb = lc_unpack(o);
	Phase ph = sb ? lc_phase(sb) : PH(UNKNOWN);
	lc_sandbox_free(sb);
	/* Snapshot, then the buffered platform events, then live. */
	w->stop_on_terminal = 0;
	lc_send_sandbox_locked(w, o->payload, o->payload_len, ph);
	struct lc_events *e = lc_events_find_locked(lc, req->id, 0);
	if (e && req->event_tail) {
		unsigned k = req->event_tail < e->n ? req->event_tail : e->n;
		for (unsigned i = 0; i < k; i++) {
			unsigned slot = (e->next_slot + LC_EVENT_TAIL - k + i) % LC_EVENT_TAIL;
			osh_call_send(call, e->ev[slot], e->len[slot]);
		}
	}
	w->stop_on_terminal = req->stop_on_terminal;
	if (w->stop_on_terminal && ph == PH(READY))
		lc_watcher_end_locked(w, GRPC_STATUS_OK, NULL);
	pthread_mutex_unlock(&lc->hub_mu);
	osh_object_free(o);
	/* The watcher keeps the handler's reference until the call closes. */
	osh_call_on_close(call, lc_watcher_closed, w);
cleanup:
	openshell__v1__watch_sandbox_request__free_unpacked(req, NULL);
}

/* ---- reconciler ------------------------------------------------------ */

static void lc_apply_snapshot(osh_lifecycle *lc, const Openshell__Compute__V1__DriverSandbox *ds)
{
	if (!ds || !*ds->id)
		return;
	pthread_mutex_t *gate = lc_gate(lc, ds->id);
	pthread_mutex_lock(gate);
	osh_object *o = NULL;
	Sandbox *sb = NULL;
	if (osh_store_get(lc->store, ds->id, &o) != OSH_STORE_OK)
		goto unlock; /* unknown to the store: ignored */
	sb = lc_unpack(o);
	if (!sb)
		goto unlock;
	Phase before = lc_phase(sb);
	if (lc_snapshot_is_stale(lc, sb, ds)) {
		osh_debug("sandbox %s: ignoring a snapshot from before the start request", ds->id);
		goto unlock;
	}
	if (osh_sandbox_apply_driver_snapshot(sb, ds)) {
		if (lc_write(lc, o, sb) == OSH_STORE_OK && before != lc_phase(sb))
			osh_info("sandbox %s/%s: %s -> %s", o->workspace, o->name,
				 osh_phase_name(before), osh_phase_name(lc_phase(sb)));
		if (lc_phase(sb) != PH(STARTING))
			lc_fence_clear(lc, ds->id);
	}
unlock:
	pthread_mutex_unlock(gate);
	lc_sandbox_free(sb);
	osh_object_free(o);
}

/* The backend no longer has this sandbox (deleted event, or sweep). */
static void lc_backend_gone(osh_lifecycle *lc, const char *id)
{
	pthread_mutex_t *gate = lc_gate(lc, id);
	pthread_mutex_lock(gate);
	osh_object *o = NULL;
	if (osh_store_get(lc->store, id, &o) == OSH_STORE_OK) {
		osh_info("sandbox %s/%s (id %s): backend object is gone", o->workspace, o->name, id);
		lc_remove(lc, id);
	}
	osh_object_free(o);
	pthread_mutex_unlock(gate);
}

static int32_t lc_sink_emit(void *ctx, const uint8_t *event, uint64_t len)
{
	struct lc_reconciler *r = ctx;
	osh_lifecycle *lc = r->lc;
	if (lc->stopping)
		return 1;
	Openshell__Compute__V1__WatchSandboxesEvent *ev =
		openshell__compute__v1__watch_sandboxes_event__unpack(NULL, (size_t)len, event);
	if (!ev) {
		osh_warn("driver %s: watch delivered a malformed event; ignored", r->driver->name);
		return 0;
	}
	r->got_events = 1;
	switch (ev->payload_case) {
	case OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_SANDBOX:
		if (ev->sandbox)
			lc_apply_snapshot(lc, ev->sandbox->sandbox);
		break;
	case OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED:
		if (ev->deleted && *ev->deleted->sandbox_id)
			lc_backend_gone(lc, ev->deleted->sandbox_id);
		break;
	case OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_PLATFORM_EVENT:
		if (ev->platform_event && ev->platform_event->event) {
			size_t n = openshell__compute__v1__driver_platform_event__get_packed_size(
				ev->platform_event->event);
			uint8_t *buf = malloc(n ? n : 1);
			if (buf) {
				openshell__compute__v1__driver_platform_event__pack(
					ev->platform_event->event, buf);
				lc_publish_event(lc, ev->platform_event->sandbox_id, buf, n);
				free(buf);
			}
		}
		break;
	default:
		break;
	}
	openshell__compute__v1__watch_sandboxes_event__free_unpacked(ev, NULL);
	return lc->stopping;
}

static int32_t lc_sink_cancelled(void *ctx)
{
	struct lc_reconciler *r = ctx;
	return r->lc->stopping;
}

/* Sleep up to ms; returns non-zero when the lifecycle is stopping. */
static int lc_sleep(osh_lifecycle *lc, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lc->stop_mu);
	while (!lc->stopping) {
		if (pthread_cond_timedwait(&lc->stop_cond, &lc->stop_mu, &ts) == ETIMEDOUT)
			break;
	}
	int s = lc->stopping;
	pthread_mutex_unlock(&lc->stop_mu);
	return s;
}

static int lc_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ListSandboxes and apply every snapshot; then, for the driver that owns
 * the rows, look at rows the list did not mention. */
static void lc_resync(struct lc_reconciler *r)
{
	osh_lifecycle *lc = r->lc;
	Openshell__Compute__V1__ListSandboxesRequest req =
		OPENSHELL__COMPUTE__V1__LIST_SANDBOXES_REQUEST__INIT;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	int64_t started = lc_now_ms();
	int code = lc_driver_msg(r->driver, OSH_RPC_LIST_SANDBOXES, &req.base, &resp, &resp_len,
				 &msg);
	if (code != OPENSHELL_STATUS_OK) {
		osh_debug("driver %s: ListSandboxes failed: %s", r->driver->name, msg);
		free(msg);
		return;
	}
	Openshell__Compute__V1__ListSandboxesResponse *list =
		openshell__compute__v1__list_sandboxes_response__unpack(NULL, resp_len, resp);
	free(resp);
	if (!list) {
		osh_warn("driver %s: ListSandboxes returned a malformed message", r->driver->name);
		return;
	}
	for (size_t i = 0; i < list->n_sandboxes && !lc->stopping; i++)
		lc_apply_snapshot(lc, list->sandboxes[i]);
	if (r->driver == lc->driver) {
		osh_object **objs = NULL;
		size_t n = 0;
		/* The listed ids, sorted, so each row is looked up in O(log n). */
		const char **ids = calloc(list->n_sandboxes ? list->n_sandboxes : 1, sizeof(*ids));
		for (size_t j = 0; ids && j < list->n_sandboxes; j++)
			ids[j] = list->sandboxes[j]->id;
		if (ids)
			qsort(ids, list->n_sandboxes, sizeof(*ids), lc_cmp_str);
		if (ids && osh_store_list(lc->store, LC_TYPE, NULL, NULL, 0, 0, 0, &objs, &n) ==
				   OSH_STORE_OK) {
			for (size_t i = 0; i < n && !lc->stopping; i++) {
				osh_object *o = objs[i];
				const char *key = o->id;
				int listed = bsearch(&key, ids, list->n_sandboxes, sizeof(*ids),
						     lc_cmp_str) != NULL;
				if (listed || o->created_at_ms > started - lc->sweep_grace_ms ||
				    o->updated_at_ms > started)
					continue;
				code = lc_driver_simple(r->driver, OSH_RPC_GET_SANDBOX, o->id,
							o->name, &msg);
				if (code == OPENSHELL_STATUS_NOT_FOUND)
					lc_backend_gone(lc, o->id);
				free(msg);
				msg = NULL;
			}
		}
		osh_object_array_free(objs, n);
		free(ids);
	}
	openshell__compute__v1__list_sandboxes_response__free_unpacked(list, NULL);
}

static void *lc_watch_main(void *arg)
{
	struct lc_reconciler *r = arg;
	osh_lifecycle *lc = r->lc;
	int64_t backoff = LC_BACKOFF_MIN_MS;
	openshell_watch_sink_v1 sink = {
		.struct_size = sizeof(sink),
		.sink_ctx = r,
		.emit = lc_sink_emit,
		.cancelled = lc_sink_cancelled,
	};
	while (!lc->stopping) {
		lc_resync(r);
		r->got_events = 0;
		char *msg = NULL;
		int code = osh_driver_watch(r->driver, &sink, &msg);
		if (lc->stopping) {
			free(msg);
			break;
		}
		if (r->got_events)
			backoff = LC_BACKOFF_MIN_MS;
		osh_warn("driver %s: watch stream ended (%s%s%s); reconnecting in %lld ms",
			 r->driver->name, osh_status_name(code), msg ? ": " : "",
			 msg ? msg : "", (long long)backoff);
		free(msg);
		if (lc_sleep(lc, backoff))
			break;
		backoff = backoff * 2 > LC_BACKOFF_MAX_MS ? LC_BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

static void *lc_sweep_main(void *arg)
{
	struct lc_reconciler *r = arg;
	while (!lc_sleep(r->lc, r->lc->sweep_interval_ms))
		lc_resync(r);
	return NULL;
}

/* ---- start-up recovery and shutdown sweep ---------------------------- */

static void lc_mark_error(osh_lifecycle *lc, osh_object *o, Sandbox *sb, const char *reason,
			  const char *message)
{
	lc_set_phase(sb, PH(ERROR));
	osh_sandbox_set_condition(sb, "Ready", "False", reason, message);
	lc_write(lc, o, sb);
}

/* Finish what a previous run left half-done (BEHAVIOR.md 1.11). */
static void lc_recover(osh_lifecycle *lc)
{
	osh_object **objs = NULL;
	size_t n = 0;
	if (osh_store_list(lc->store, LC_TYPE, NULL, NULL, 0, 0, 0, &objs, &n) != OSH_STORE_OK) {
		osh_error("store: cannot list sandboxes for recovery: %s",
			  osh_store_errmsg(lc->store));
		return;
	}
	osh_driver *d = lc->driver;
	for (size_t i = 0; i < n; i++) {
		osh_object *o = objs[i];
		Sandbox *sb = lc_unpack(o);
		if (!sb) {
			osh_error("sandbox %s: stored record cannot be decoded; left as is", o->id);
			continue;
		}
		char *msg = NULL;
		int code;
		Phase ph = lc_phase(sb);
		switch (ph) {
		case PH(DELETING):
			code = lc_driver_simple(d, OSH_RPC_DELETE_SANDBOX, o->id, o->name, &msg);
			if (code == OPENSHELL_STATUS_OK || code == OPENSHELL_STATUS_NOT_FOUND)
				lc_remove(lc, o->id);
			else
				osh_warn("sandbox %s: resuming delete failed: %s", o->id, msg);
			break;
		case PH(STOPPING):
			code = lc_driver_simple(d, OSH_RPC_STOP_SANDBOX, o->id, o->name, &msg);
			if (code == OPENSHELL_STATUS_OK) {
				lc_set_phase(sb, PH(STOPPED));
				osh_sandbox_set_condition(sb, "Ready", "False", "Stopped",
							  "Sandbox compute is stopped");
				lc_write(lc, o, sb);
			}
			break;
		case PH(STARTING):
			code = lc_driver_simple(d, OSH_RPC_START_SANDBOX, o->id, o->name, &msg);
			if (code == OPENSHELL_STATUS_NOT_FOUND)
				lc_mark_error(lc, o, sb, "BackendResourceMissing",
					      "the backend has no such sandbox");
			break;
		case PH(PROVISIONING):
		case PH(UNSPECIFIED):
			/* A create whose driver call may not have happened. */
			code = lc_driver_simple(d, OSH_RPC_GET_SANDBOX, o->id, o->name, &msg);
			if (code == OPENSHELL_STATUS_NOT_FOUND) {
				free(msg);
				msg = NULL;
				code = lc_driver_sandbox(lc, OSH_RPC_CREATE_SANDBOX, sb, &msg);
				if (code == OPENSHELL_STATUS_OK ||
				    code == OPENSHELL_STATUS_ALREADY_EXISTS)
					osh_info("sandbox %s/%s: resumed interrupted create",
						 o->workspace, o->name);
				else
					lc_mark_error(lc, o, sb, "CreateFailed", msg);
			}
			break;
		default:
			break;
		}
		free(msg);
		msg = NULL;
		if (d->manages_lifecycle && (ph == PH(READY) || ph == PH(UNKNOWN))) {
			code = lc_driver_simple(d, OSH_RPC_START_SANDBOX, o->id, o->name, &msg);
			if (code == OPENSHELL_STATUS_NOT_FOUND)
				lc_mark_error(lc, o, sb, "BackendResourceMissing",
					      "the backend has no such sandbox");
			else if (code != OPENSHELL_STATUS_OK && code != OPENSHELL_STATUS_UNAVAILABLE)
				lc_mark_error(lc, o, sb, "StartFailed", msg);
			free(msg);
		}
		lc_sandbox_free(sb);
	}
	osh_object_array_free(objs, n);
}

/* Shutdown sweep: StopSandbox for every running sandbox, 16 at a time
 * (upstream's concurrency), without writing any phase. */
#define LC_SHUTDOWN_STOPPERS 16

struct lc_stopper {
	osh_lifecycle *lc;
	osh_object **objs;
	size_t n;
	size_t next; /* guarded by mu */
	size_t stopped;
	pthread_mutex_t mu;
};

static void *lc_stopper_main(void *arg)
{
	struct lc_stopper *st = arg;
	for (;;) {
		pthread_mutex_lock(&st->mu);
		size_t i = st->next++;
		pthread_mutex_unlock(&st->mu);
		if (i >= st->n)
			return NULL;
		osh_object *o = st->objs[i];
		Sandbox *sb = lc_unpack(o);
		Phase ph = sb ? lc_phase(sb) : PH(UNKNOWN);
		lc_sandbox_free(sb);
		if (ph != PH(READY) && ph != PH(PROVISIONING) && ph != PH(STARTING) &&
		    ph != PH(UNKNOWN))
			continue;
		char *msg = NULL;
		int code = lc_driver_simple(st->lc->driver, OSH_RPC_STOP_SANDBOX, o->id, o->name,
					    &msg);
		if (code != OPENSHELL_STATUS_OK)
			osh_warn("sandbox %s/%s: stop at shutdown failed: %s", o->workspace, o->name,
				 msg);
		free(msg);
		pthread_mutex_lock(&st->mu);
		st->stopped += code == OPENSHELL_STATUS_OK;
		pthread_mutex_unlock(&st->mu);
	}
}

static void lc_shutdown_sweep(osh_lifecycle *lc)
{
	osh_driver *d = lc->driver;
	if (!d->manages_lifecycle)
		return;
	struct lc_stopper st = {.lc = lc};
	if (osh_store_list(lc->store, LC_TYPE, NULL, NULL, 0, 0, 0, &st.objs, &st.n) !=
	    OSH_STORE_OK)
		return;
	pthread_mutex_init(&st.mu, NULL);
	pthread_t t[LC_SHUTDOWN_STOPPERS];
	size_t nt = 0;
	while (nt < LC_SHUTDOWN_STOPPERS && nt < st.n &&
	       pthread_create(&t[nt], NULL, lc_stopper_main, &st) == 0)
		nt++;
	if (nt == 0)
		lc_stopper_main(&st);
	for (size_t i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&st.mu);
	osh_object_array_free(st.objs, st.n);
	if (st.stopped)
		osh_info("driver %s: stopped %zu running sandboxes for shutdown", d->name,
			 st.stopped);
}

/* ---- setup ----------------------------------------------------------- */

static int64_t lc_env_ms(const char *name, int64_t def)
{
	const char *v = getenv(name);
	long long x = v ? atoll(v) : 0;
	return x > 0 ? (int64_t)x : def;
}

int osh_lifecycle_start(osh_gateway *gw, osh_store *store, char *err, size_t errlen)
{
	osh_lifecycle *lc = calloc(1, sizeof(*lc));
	if (!lc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	lc->gw = gw;
	lc->store = store;
	lc->driver = gw->registry.drivers[0];
	for (int i = 0; i < LC_GATES; i++)
		pthread_mutex_init(&lc->gates[i], NULL);
	pthread_mutex_init(&lc->hub_mu, NULL);
	pthread_mutex_init(&lc->fence_mu, NULL);
	pthread_mutex_init(&lc->stop_mu, NULL);
	pthread_cond_init(&lc->stop_cond, NULL);
	lc->sweep_interval_ms = lc_env_ms("OPENSHELL_SWEEP_INTERVAL_MS", 60000);
	lc->sweep_grace_ms = lc_env_ms("OPENSHELL_SWEEP_GRACE_MS", 300000);
	gw->lc = lc;
	static const struct {
		const char *path;
		osh_handler_fn fn;
	} methods[] = {
		{OSH_SVC "CreateSandbox", lc_create}, {OSH_SVC "GetSandbox", lc_get},
		{OSH_SVC "ListSandboxes", lc_list},   {OSH_SVC "DeleteSandbox", lc_delete},
		{OSH_SVC "StopSandbox", lc_stop},     {OSH_SVC "StartSandbox", lc_start},
		{OSH_SVC "WatchSandbox", lc_watch},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (osh_server_add_method(gw->server, methods[i].path, methods[i].fn, lc) != 0) {
			snprintf(err, errlen, "cannot register %s", methods[i].path);
			return -1;
		}
	}
	return 0;
}

void osh_lifecycle_run(osh_lifecycle *lc)
{
	lc_recover(lc);
	const osh_registry *reg = &lc->gw->registry;
	lc->recs = calloc(reg->n, sizeof(*lc->recs));
	if (!lc->recs)
		return;
	lc->n_recs = reg->n;
	for (size_t i = 0; i < reg->n; i++) {
		struct lc_reconciler *r = &lc->recs[i];
		r->lc = lc;
		r->driver = reg->drivers[i];
		if (pthread_create(&r->watch_thread, NULL, lc_watch_main, r) == 0 &&
		    pthread_create(&r->sweep_thread, NULL, lc_sweep_main, r) == 0)
			r->started = 1;
	}
}

void osh_lifecycle_stop(osh_lifecycle *lc)
{
	pthread_mutex_lock(&lc->stop_mu);
	lc->stopping = 1;
	pthread_cond_broadcast(&lc->stop_cond);
	pthread_mutex_unlock(&lc->stop_mu);
	for (size_t i = 0; i < lc->n_recs; i++) {
		if (lc->recs[i].started) {
			pthread_join(lc->recs[i].watch_thread, NULL);
			pthread_join(lc->recs[i].sweep_thread, NULL);
			lc->recs[i].started = 0;
		}
	}
	lc_shutdown_sweep(lc);
}

void osh_lifecycle_free(osh_lifecycle *lc)
{
	if (!lc)
		return;
	for (size_t b = 0; b < LC_HUB_BUCKETS; b++) {
		struct lc_watcher *w = lc->watchers[b];
		while (w) {
			struct lc_watcher *n = w->next;
			free(w);
			w = n;
		}
		struct lc_events *ev = lc->events[b];
		while (ev) {
			struct lc_events *n = ev->next;
			lc_events_free(ev);
			ev = n;
		}
	}
	struct lc_fence *f = lc->fences;
	while (f) {
		struct lc_fence *n = f->next;
		free(f);
		f = n;
	}
	for (int i = 0; i < LC_GATES; i++)
		pthread_mutex_destroy(&lc->gates[i]);
	pthread_mutex_destroy(&lc->hub_mu);
	pthread_mutex_destroy(&lc->fence_mu);
	pthread_mutex_destroy(&lc->stop_mu);
	pthread_cond_destroy(&lc->stop_cond);
	free(lc->recs);
	free(lc);
}
