/* podman.h - internals of the podman driver plugin, shared by its files:
 * the instance, libpod calls and the container -> DriverSandbox mapping.
 * Nothing here is exported (the plugin is built with -fvisibility=hidden). */
#ifndef OSH_PODMAN_H
#define OSH_PODMAN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine.h"
#include "openshell/driver.h"

#define PODMAN_NAME "podman"
#define PODMAN_API_PREFIX "/v4.0.0/libpod"
#define PODMAN_API_MIN 4000 /* libpod API 4.0 (osh_engine_api_number) */

/* Per-call HTTP timeouts (ms). */
#define PODMAN_TIMEOUT_MS 30000L
#define PODMAN_START_TIMEOUT_MS 120000L
#define PODMAN_PULL_IDLE_MS 600000L

enum podman_pull_policy {
	PODMAN_PULL_MISSING = 0, /* default */
	PODMAN_PULL_ALWAYS,
	PODMAN_PULL_NEVER,
	PODMAN_PULL_NEWER
};

typedef struct podman {
	openshell_host_v1 host; /* zero-filled copy of the host's table */
	osh_engine *eng;
	osh_engine_hub *hub;
	char *gateway_id;    /* "" when the host gave none */
	char *default_image; /* "" when unset */
	int pull_policy;
	long long stop_timeout_secs;
	long long pids_limit; /* <= 0: the runtime's default */
	char *network;	      /* NULL: the service's default network */

	pthread_mutex_t mu; /* guards the fields below */
	int negotiated;
	char version[64]; /* the service's version, once negotiated */
} podman;

/* ---- podman_libpod.c: talking to the service ----------------------------- */

/* Negotiates the API prefix on first use (GET /version). Returns OK, or
 * UNAVAILABLE (service unreachable) / FAILED_PRECONDITION (not Podman, or
 * too old) with err set. Thread-safe. */
int32_t podman_ready(podman *p, char *err, size_t errlen);

/* Maps an HTTP status of a failed libpod call to a gRPC code. */
int32_t podman_code_for_http(long status);

/* The managed containers of this gateway as a JSON array of list entries
 * (GET /containers/json?all=true with label filters), optionally narrowed
 * to one sandbox by id (or by name when id is empty). NULL id and name: all.
 * Returns OK (*out new reference) or a code with err. */
int32_t podman_list(podman *p, const char *id, const char *name, json_t **out, char *err,
		    size_t errlen);

/* GET /containers/{ref}/json. Returns OK (*out new reference), NOT_FOUND,
 * or another code with err. */
int32_t podman_inspect(podman *p, const char *ref, json_t **out, char *err, size_t errlen);

/* The sandbox's container: its list entry (new reference) or NULL when
 * there is none. Returns OK (also when absent) or a code with err. */
int32_t podman_find(podman *p, const char *id, const char *name, json_t **entry, char *err,
		    size_t errlen);

/* ---- podman_status.c: containers as DriverSandbox snapshots ------------- */

/* A snapshot from an inspect document, or NULL when the container does not
 * carry the sandbox labels. Free with osh_engine_ds_free. */
osh_engine_ds *podman_snapshot_from_inspect(const json_t *inspect);
/* The same from a list entry (no OOM flag, times in whole seconds). */
osh_engine_ds *podman_snapshot_from_list(const json_t *entry);

/* The Actor.Attributes label of an event, or "". */
const char *podman_event_label(const json_t *event, const char *key);

/* ---- podman_watch.c ------------------------------------------------------ */

int32_t podman_watch(void *instance, const uint8_t *request, uint64_t request_len,
		     const openshell_watch_sink_v1 *sink, char **message);

#endif
