/* docker.c - the docker driver plugin: runs each sandbox as one container
 * of a Docker Engine, spoken to over the daemon's Unix socket (Engine API,
 * version negotiated from GET /version). BEHAVIOR.md 2.1 with the
 * adaptations of its section 0: the container runs the sandbox's own
 * command, carries the openshell.ai/ labels (this gateway's id included)
 * and its state comes from the daemon's /events stream. */
#include "config.h"

#include "engine.h"
#include "openshell/driver.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DK			"docker"
#define DK_MIN_API		"1.25"
#define DK_MAX_API		"1.45" /* the newest Engine API this code knows */
#define DK_SUBPATH_API		1045   /* VolumeOptions.Subpath appeared in 1.45 */
#define DK_DEFAULT_SOCKET	"/var/run/docker.sock"
#define DK_DEFAULT_IMAGE	"ghcr.io/nvidia/openshell-community/sandboxes/base:latest"
#define DK_DEFAULT_STOP_TIMEOUT 10
#define DK_DEFAULT_PIDS_LIMIT	2048
#define DK_PULL_IDLE_MS		120000L
#define DK_CALL_TIMEOUT_MS	60000L
#define DK_WATCH_WAIT_MS	250L

enum { DK_PULL_IF_NOT_PRESENT, DK_PULL_ALWAYS, DK_PULL_NEVER };
static const char *const dk_pull_names[] = { "IfNotPresent", "Always", "Never" };

static const char *const dk_config_keys[] = {
	"socket_path",	     "default_image",	   "image_pull_policy",	 "network",
	"stop_timeout_secs", "sandbox_pids_limit", "enable_bind_mounts", NULL,
};

/* A sandbox whose container failed to start: the container is gone, the
 * sandbox is reported Ready=False until it is deleted. */
struct dk_failed {
	char *id;
	osh_engine_ds *ds;
	struct dk_failed *next;
};

typedef struct docker {
	openshell_host_v1 host; /* zero-filled copy of the host's table */
	osh_engine *eng;
	osh_engine_hub *hub;
	char *gateway_id;
	char *default_image;
	char *network;
	int pull_policy;
	long long stop_timeout;
	long long pids_limit;
	int enable_bind_mounts;

	pthread_mutex_t mu; /* everything below */
	int negotiated;
	int api; /* negotiated API, e.g. 1041 */
	char version[128];
	struct dk_failed *failed;
	atomic_int closing;
} docker;

/* What Validate and Create work out from a DriverSandbox. */
struct dk_plan {
	const char *image; /* borrowed from the request */
	int64_t nano_cpus; /* 0 = no limit */
	int64_t memory;	   /* 0 = no limit */
	osh_engine_mounts mounts;
};

/* ---- helpers ------------------------------------------------------------ */

static char *dk_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static int32_t dk_unreachable(docker *d, char **message, const char *what, const char *err)
{
	return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_UNAVAILABLE, DK ": %s: %s", what,
			       err);
}

static int32_t dk_http_fail(docker *d, char **message, int32_t code, const char *what,
			    const osh_engine_resp *r)
{
	char m[512];
	osh_engine_resp_error(r, m, sizeof(m));
	return osh_engine_fail(&d->host, message, code,
			       DK ": %s: %s (HTTP %ld from the Docker daemon at %s)", what, m,
			       r->status, osh_engine_where(d->eng));
}

/* The usual mapping of a daemon's error status. */
static int32_t dk_code_of(long status)
{
	switch (status) {
	case 400: return OPENSHELL_STATUS_INVALID_ARGUMENT;
	case 404: return OPENSHELL_STATUS_NOT_FOUND;
	case 409: return OPENSHELL_STATUS_ALREADY_EXISTS;
	case 401:
	case 403: return OPENSHELL_STATUS_PERMISSION_DENIED;
	default: return OPENSHELL_STATUS_INTERNAL;
	}
}

/* Negotiates the API version once. Returns OK or UNAVAILABLE /
 * FAILED_PRECONDITION with *message. */
static int32_t dk_ready(docker *d, char **message)
{
	char err[1024], version[128] = "";
	pthread_mutex_lock(&d->mu);
	int done = d->negotiated;
	pthread_mutex_unlock(&d->mu);
	if (done)
		return OPENSHELL_STATUS_OK;
	if (osh_engine_negotiate(d->eng, DK_MIN_API, DK_MAX_API, version, sizeof(version), err,
				 sizeof(err)) != 0)
		return osh_engine_fail(&d->host, message,
				       strstr(err, "older than")
					       ? OPENSHELL_STATUS_FAILED_PRECONDITION
					       : OPENSHELL_STATUS_UNAVAILABLE,
				       DK ": %s", err);
	pthread_mutex_lock(&d->mu);
	if (!d->negotiated) {
		d->negotiated = 1;
		d->api = osh_engine_api_number(osh_engine_prefix(d->eng) + 2);
		snprintf(d->version, sizeof(d->version), "%s", version);
		osh_engine_log(&d->host, OPENSHELL_LOG_INFO,
			       DK ": Docker Engine %s at %s, using API %s", version,
			       osh_engine_where(d->eng), osh_engine_prefix(d->eng) + 1);
	}
	pthread_mutex_unlock(&d->mu);
	return OPENSHELL_STATUS_OK;
}

/* The labels every lookup filters on, plus extra ("k=v") when non-NULL.
 * Returns the escaped filters= value (malloc'd). */
static char *dk_filter(docker *d, const char *extra)
{
	char gw[512];
	const char *labels[4];
	size_t n = 0;
	labels[n++] = OSH_LABEL_MANAGED_BY "=" OSH_LABEL_MANAGED_BY_VALUE;
	if (d->gateway_id) {
		snprintf(gw, sizeof(gw), OSH_LABEL_GATEWAY_ID "=%s", d->gateway_id);
		labels[n++] = gw;
	}
	if (extra)
		labels[n++] = extra;
	labels[n] = NULL;
	return osh_engine_label_filter(labels, NULL, NULL);
}

/* GET /containers/json for this gateway's containers (extra label filter
 * optional). Returns OK with *list (a JSON array), or an error code. */
static int32_t dk_list_containers(docker *d, const char *extra, json_t **list, char **message)
{
	char err[1024];
	osh_engine_resp r;
	char *filter = dk_filter(d, extra);
	size_t n = strlen(filter) + 64;
	char *path = malloc(n);
	if (!path)
		abort();
	snprintf(path, n, "/containers/json?all=1&filters=%s", filter);
	free(filter);
	*list = NULL;
	int rc = osh_engine_request(d->eng, "GET", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
				    sizeof(err));
	free(path);
	if (rc != 0)
		return dk_unreachable(d, message, "list containers", err);
	int32_t code = OPENSHELL_STATUS_OK;
	if (r.status != 200)
		code = dk_http_fail(d, message, OPENSHELL_STATUS_INTERNAL, "list containers", &r);
	else if (!(*list = osh_engine_resp_json(&r)) || !json_is_array(*list)) {
		json_decref(*list);
		*list = NULL;
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INTERNAL,
				       DK ": list containers: the Docker daemon at %s sent no list",
				       osh_engine_where(d->eng));
	}
	osh_engine_resp_clear(&r);
	return code;
}

/* The container of a sandbox, by id (else by name). Returns OK with *cid
 * (malloc'd), NOT_FOUND ("sandbox not found"), or another error. */
static int32_t dk_lookup(docker *d, const char *id, const char *name, char **cid, char **message)
{
	char extra[512];
	json_t *list = NULL;
	*cid = NULL;
	if (id && *id)
		snprintf(extra, sizeof(extra), OSH_LABEL_SANDBOX_ID "=%s", id);
	else
		snprintf(extra, sizeof(extra), OSH_LABEL_SANDBOX_NAME "=%s", name ? name : "");
	int32_t code = dk_list_containers(d, extra, &list, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	const char *found =
		json_array_size(list) ? osh_json_str(json_array_get(list, 0), "Id") : "";
	if (*found)
		*cid = dk_strdup(found);
	else
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_NOT_FOUND,
				       "sandbox not found");
	json_decref(list);
	return code;
}

/* GET /containers/{cid}/json. Returns 1 with *out, 0 when the container is
 * gone, -1 on failure (*code and *message set). */
static int dk_inspect(docker *d, const char *cid, json_t **out, int32_t *code, char **message)
{
	char err[1024], path[256], what[160];
	osh_engine_resp r;
	*out = NULL;
	snprintf(path, sizeof(path), "/containers/%.100s/json", cid);
	snprintf(what, sizeof(what), "inspect container %.64s", cid);
	if (osh_engine_request(d->eng, "GET", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		*code = dk_unreachable(d, message, what, err);
		return -1;
	}
	int ret = 1;
	if (r.status == 404) {
		ret = 0;
	} else if (r.status != 200 || !(*out = osh_engine_resp_json(&r))) {
		*code = dk_http_fail(d, message, OPENSHELL_STATUS_INTERNAL, what, &r);
		ret = -1;
	}
	osh_engine_resp_clear(&r);
	return ret;
}

/* The snapshot of an inspected container (BEHAVIOR.md 2.1 status mapping),
 * or NULL when it carries no sandbox id. */
static osh_engine_ds *dk_snapshot(const json_t *c)
{
	const json_t *labels = osh_json_path(c, "Config", "Labels", NULL);
	const json_t *state = json_object_get(c, "State");
	const char *sid = osh_json_str(labels, OSH_LABEL_SANDBOX_ID);
	if (!*sid)
		return NULL;
	const char *cname = osh_json_str(c, "Name");
	if (*cname == '/')
		cname++;
	const char *st = osh_json_str(state, "Status");
	char msg[640], ltt[64] = "";
	const char *status = "False", *reason = "Starting", *when = NULL;
	int deleting = 0;
	if (strcmp(st, "running") == 0) {
		status = "True";
		reason = "BackendReady";
		snprintf(msg, sizeof(msg), "container is running");
		when = osh_json_str(state, "StartedAt");
	} else if (strcmp(st, "created") == 0) {
		snprintf(msg, sizeof(msg), "container is created");
		when = osh_json_str(c, "Created");
	} else if (strcmp(st, "exited") == 0) {
		reason = "ContainerExited";
		snprintf(msg, sizeof(msg), "container exited with exit code %lld%s",
			 osh_json_int(state, "ExitCode", 0),
			 json_is_true(json_object_get(state, "OOMKilled")) ? " (out of memory)"
									   : "");
		when = osh_json_str(state, "FinishedAt");
	} else if (strcmp(st, "restarting") == 0) {
		reason = "ContainerRestarting";
		snprintf(msg, sizeof(msg), "container is restarting");
	} else if (strcmp(st, "paused") == 0) {
		reason = "ContainerPaused";
		snprintf(msg, sizeof(msg), "container is paused");
	} else if (strcmp(st, "dead") == 0) {
		reason = "ContainerDead";
		snprintf(msg, sizeof(msg), "container is dead%s%.500s",
			 *osh_json_str(state, "Error") ? ": " : "", osh_json_str(state, "Error"));
		when = osh_json_str(state, "FinishedAt");
	} else if (strcmp(st, "removing") == 0) {
		reason = "Deleting";
		deleting = 1;
		snprintf(msg, sizeof(msg), "container is being removed");
	} else {
		snprintf(msg, sizeof(msg), "container state \"%.64s\"", st);
	}
	if (when)
		osh_engine_time_normalize(when, ltt, sizeof(ltt));
	osh_engine_snapshot_args a = {
		.id = sid,
		.name = osh_json_str(labels, OSH_LABEL_SANDBOX_NAME),
		.workspace = osh_json_str(labels, OSH_LABEL_WORKSPACE),
		.instance_id = osh_json_str(c, "Id"),
		.sandbox_name = cname,
		.status = status,
		.reason = reason,
		.message = msg,
		.last_transition_time = ltt,
		.deleting = deleting,
	};
	return osh_engine_snapshot_new(&a);
}

/* Copy of the failed-start snapshot of a sandbox, or NULL. */
static osh_engine_ds *dk_failed_get(docker *d, const char *id)
{
	osh_engine_ds *copy = NULL;
	pthread_mutex_lock(&d->mu);
	for (struct dk_failed *f = d->failed; f; f = f->next)
		if (id && strcmp(f->id, id) == 0) {
			size_t n = protobuf_c_message_get_packed_size(&f->ds->base);
			uint8_t *buf = malloc(n ? n : 1);
			if (!buf)
				abort();
			protobuf_c_message_pack(&f->ds->base, buf);
			copy = openshell__compute__v1__driver_sandbox__unpack(NULL, n, buf);
			free(buf);
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return copy;
}

/* Removes the failed record of id; returns 1 when there was one. */
static int dk_failed_drop(docker *d, const char *id)
{
	int found = 0;
	pthread_mutex_lock(&d->mu);
	for (struct dk_failed **pp = &d->failed; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			struct dk_failed *f = *pp;
			*pp = f->next;
			osh_engine_ds_free(f->ds);
			free(f->id);
			free(f);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return found;
}

/* Looks a failed record up by name (for requests without an id). */
static char *dk_failed_id_by_name(docker *d, const char *name)
{
	char *id = NULL;
	pthread_mutex_lock(&d->mu);
	for (struct dk_failed *f = d->failed; f && !id; f = f->next)
		if (name && *name && strcmp(f->ds->name, name) == 0)
			id = dk_strdup(f->id);
	pthread_mutex_unlock(&d->mu);
	return id;
}

/* ---- open / close / capabilities ---------------------------------------- */

static void dk_close(void *instance)
{
	docker *d = instance;
	if (!d)
		return;
	atomic_store(&d->closing, 1);
	if (d->eng)
		osh_engine_cancel_all(d->eng);
	osh_engine_free(d->eng);
	osh_engine_hub_free(d->hub);
	while (d->failed) {
		struct dk_failed *f = d->failed;
		d->failed = f->next;
		osh_engine_ds_free(f->ds);
		free(f->id);
		free(f);
	}
	pthread_mutex_destroy(&d->mu);
	free(d->gateway_id);
	free(d->default_image);
	free(d->network);
	free(d);
}

static int32_t dk_open(const openshell_host_v1 *h, void **instance, char **message)
{
	openshell_host_v1 host;
	char err[1024], sock[256];
	const char *v;
	*instance = NULL;
	memset(&host, 0, sizeof(host));
	if (!h || h->abi_major != OPENSHELL_DRIVER_ABI_MAJOR)
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	memcpy(&host, h, h->struct_size < sizeof(host) ? h->struct_size : sizeof(host));
	if (!host.alloc || !host.config_get)
		return OPENSHELL_STATUS_FAILED_PRECONDITION;

	if (osh_engine_config_check(&host, DK, dk_config_keys, err, sizeof(err)) != 0)
		return osh_engine_fail(&host, message, OPENSHELL_STATUS_INVALID_ARGUMENT, "%s",
				       err);
	docker *d = calloc(1, sizeof(*d));
	if (!d)
		return osh_engine_fail(&host, message, OPENSHELL_STATUS_RESOURCE_EXHAUSTED,
				       DK ": out of memory");
	d->host = host;
	pthread_mutex_init(&d->mu, NULL);
	atomic_init(&d->closing, 0);

	int32_t code = OPENSHELL_STATUS_INVALID_ARGUMENT;
	if (osh_engine_socket_resolve(osh_engine_config_get(&host, "socket_path"), "DOCKER_HOST",
				      DK_DEFAULT_SOCKET, sock, sizeof(sock), err, sizeof(err)) != 0)
		goto fail;
	d->default_image = dk_strdup(
		(v = osh_engine_config_get(&host, "default_image")) ? v : DK_DEFAULT_IMAGE);
	d->network = (v = osh_engine_config_get(&host, "network")) ? dk_strdup(v) : NULL;
	d->gateway_id = (v = osh_engine_config_get(&host, "gateway_id")) ? dk_strdup(v) : NULL;
	d->pull_policy = DK_PULL_IF_NOT_PRESENT;
	if ((v = osh_engine_config_get(&host, "image_pull_policy"))) {
		int p;
		for (p = 0; p < 3; p++)
			if (strcasecmp(v, dk_pull_names[p]) == 0)
				break;
		if (p == 3) {
			snprintf(err, sizeof(err),
				 DK ": config key image_pull_policy: \"%s\" is not IfNotPresent, "
				    "Always or Never",
				 v);
			goto fail;
		}
		d->pull_policy = p;
	}
	if (osh_engine_config_int(&host, DK, "stop_timeout_secs", 0, 3600, DK_DEFAULT_STOP_TIMEOUT,
				  &d->stop_timeout, err, sizeof(err)) != 0 ||
	    osh_engine_config_int(&host, DK, "sandbox_pids_limit", 0, 1LL << 31,
				  DK_DEFAULT_PIDS_LIMIT, &d->pids_limit, err, sizeof(err)) != 0 ||
	    osh_engine_config_bool(&host, DK, "enable_bind_mounts", 0, &d->enable_bind_mounts, err,
				   sizeof(err)) != 0)
		goto fail;
	if (!d->gateway_id)
		osh_engine_log(&host, OPENSHELL_LOG_WARN,
			       DK ": no gateway_id in the configuration: every managed container "
				  "of the daemon is treated as this gateway's");
	d->eng = osh_engine_new(sock, "Docker");
	d->hub = osh_engine_hub_new();
	osh_engine_log(&host, OPENSHELL_LOG_INFO,
		       DK ": daemon socket %s, image pull policy %s, stop timeout %lld s, pids "
			  "limit %lld, network %s, bind mounts %s",
		       osh_engine_where(d->eng), dk_pull_names[d->pull_policy], d->stop_timeout,
		       d->pids_limit, d->network ? d->network : "(daemon default)",
		       d->enable_bind_mounts ? "enabled" : "disabled");
	*instance = d;
	return OPENSHELL_STATUS_OK;
fail:
	dk_close(d);
	return osh_engine_fail(&host, message, code, "%s%s",
			       strncmp(err, DK ":", strlen(DK ":")) ? DK ": " : "", err);
}

static int32_t dk_get_capabilities(void *instance, const uint8_t *request, uint64_t request_len,
				   uint8_t **response, uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	int32_t code = dk_ready(d, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	Openshell__Compute__V1__GetCapabilitiesResponse r =
		OPENSHELL__COMPUTE__V1__GET_CAPABILITIES_RESPONSE__INIT;
	char version[128];
	pthread_mutex_lock(&d->mu);
	snprintf(version, sizeof(version), "%s", d->version);
	pthread_mutex_unlock(&d->mu);
	r.driver_name = (char *)DK;
	r.driver_version = version;
	r.default_image = d->default_image;
	r.gateway_manages_lifecycle = 1;
	return osh_engine_reply(&d->host, &r.base, response, response_len, message);
}

static int32_t dk_ok_empty(void *instance, const uint8_t *request, uint64_t request_len,
			   uint8_t **response, uint64_t *response_len, char **message)
{
	*response = NULL;
	*response_len = 0;
	return OPENSHELL_STATUS_OK;
}

/* ---- validation --------------------------------------------------------- */

static int dk_image_ref_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 512)
		return 0;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-' ||
		      *c == '/' || *c == ':' || *c == '@'))
			return 0;
	return 1;
}

/* GET /volumes/{name}: exists, and (unless bind mounts are enabled) not a
 * local volume backed by a host directory. */
static int32_t dk_check_volume(docker *d, const osh_engine_mount *m, char **message)
{
	char err[1024], what[320];
	osh_engine_resp r;
	char *esc = osh_engine_escape(m->source, 0);
	size_t n = strlen(esc) + 16;
	char *path = malloc(n);
	if (!path)
		abort();
	snprintf(path, n, "/volumes/%s", esc);
	free(esc);
	snprintf(what, sizeof(what), "inspect volume \"%.200s\"", m->source);
	int rc = osh_engine_request(d->eng, "GET", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
				    sizeof(err));
	free(path);
	if (rc != 0)
		return dk_unreachable(d, message, what, err);
	int32_t code = OPENSHELL_STATUS_OK;
	if (r.status == 404) {
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK
				       ": volume \"%s\" does not exist on the Docker daemon at %s "
				       "(create it first: docker volume create %s)",
				       m->source, osh_engine_where(d->eng), m->source);
	} else if (r.status != 200) {
		code = dk_http_fail(d, message, OPENSHELL_STATUS_INTERNAL, what, &r);
	} else if (!d->enable_bind_mounts) {
		json_t *j = osh_engine_resp_json(&r);
		const json_t *opts = json_object_get(j, "Options");
		const char *o = osh_json_str(opts, "o");
		int bind = strcmp(osh_json_str(j, "Driver"), "local") == 0 &&
			   (strstr(o, "bind") || (*osh_json_str(opts, "device") &&
						  strcmp(osh_json_str(opts, "type"), "none") == 0));
		json_decref(j);
		if (bind)
			code = osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": volume \"%s\" is backed by a host directory; "
				   "set enable_bind_mounts = true in "
				   "[openshell.drivers.%s] to allow it",
				m->source, d->host.driver_name ? d->host.driver_name : DK);
	}
	osh_engine_resp_clear(&r);
	return code;
}

/* The checks of Validate and Create (BEHAVIOR.md 2.1 "Validation"). With
 * daemon set, also what needs the daemon (volumes, API features). */
static int32_t dk_check(docker *d, const osh_engine_ds *ds, int daemon, struct dk_plan *plan,
			char **message)
{
	char err[1024];
	memset(plan, 0, sizeof(*plan));
	if (!ds || !ds->spec || !ds->spec->template_)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": the sandbox spec and its template are required");
	const Openshell__Compute__V1__DriverSandboxSpec *spec = ds->spec;
	const Openshell__Compute__V1__DriverSandboxTemplate *t = spec->template_;
	plan->image = t->image && *t->image ? t->image : d->default_image;
	if (!*plan->image)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK ": the sandbox has no image");
	if (!dk_image_ref_ok(plan->image))
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": image \"%s\" is not a valid image reference",
				       plan->image);
	if (t->agent_socket_path && *t->agent_socket_path)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK ": template.agent_socket is not supported by the docker "
					  "driver");
	if (t->platform_config && t->platform_config->n_fields)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK
				       ": runtime_class_name, annotations, user_namespaces and "
				       "resources other than limits.cpu and limits.memory are not "
				       "supported by the docker driver");
	if (t->resources) {
		const Openshell__Compute__V1__DriverResourceRequirements *r = t->resources;
		if (*r->cpu_request || *r->memory_request)
			return osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": resource requests are not supported by the docker "
				   "driver (set limits.cpu and limits.memory only)");
		if (*r->cpu_limit && osh_quantity_cpu_nanos(r->cpu_limit, &plan->nano_cpus) != 0)
			return osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": resources.limits.cpu \"%s\" is not a positive CPU "
				   "quantity (e.g. \"500m\", \"1.5\", \"2\")",
				r->cpu_limit);
		if (*r->memory_limit && osh_quantity_bytes(r->memory_limit, &plan->memory) != 0)
			return osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": resources.limits.memory \"%s\" is not a positive "
				   "memory quantity (e.g. \"512Mi\", \"1Gi\")",
				r->memory_limit);
	}
	if (spec->resource_requirements && spec->resource_requirements->gpu)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK ": GPUs are not supported: the Docker daemon at %s "
					  "reports no CDI support",
				       osh_engine_where(d->eng));

	/* driver_config: the object configured for this driver. */
	json_t *dc = osh_engine_struct_to_json(t->driver_config);
	const char *key;
	json_t *val;
	int32_t code = OPENSHELL_STATUS_OK;
	json_object_foreach(dc, key, val)
	{
		if (strcmp(key, "mounts") == 0)
			continue;
		if (strcmp(key, "cdi_devices") == 0)
			code = osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": driver_config.cdi_devices: the Docker daemon at "
				   "%s reports no CDI support",
				osh_engine_where(d->eng));
		else
			code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
					       DK ": driver_config: unknown key \"%s\" (known: "
						  "mounts)",
					       key);
		break;
	}
	if (code == OPENSHELL_STATUS_OK) {
		code = osh_engine_mounts_parse(json_object_get(dc, "mounts"), d->enable_bind_mounts,
					       &plan->mounts, err, sizeof(err));
		if (code != OPENSHELL_STATUS_OK)
			osh_engine_fail(&d->host, message, code, DK ": %s", err);
	}
	json_decref(dc);
	if (code != OPENSHELL_STATUS_OK || !daemon)
		goto done;

	for (size_t i = 0; i < plan->mounts.n && code == OPENSHELL_STATUS_OK; i++) {
		const osh_engine_mount *m = &plan->mounts.v[i];
		if (m->type != OSH_MOUNT_VOLUME)
			continue;
		if (m->subpath && d->api < DK_SUBPATH_API)
			code = osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": driver_config.mounts[%zu].subpath needs Docker "
				   "Engine API 1.45; the daemon at %s speaks %s",
				i, osh_engine_where(d->eng), osh_engine_prefix(d->eng) + 2);
		else
			code = dk_check_volume(d, m, message);
	}
done:
	if (code != OPENSHELL_STATUS_OK)
		osh_engine_mounts_clear(&plan->mounts);
	return code;
}

/* ---- images ------------------------------------------------------------- */

/* GET /images/{ref}/json: 1 present (*id set, malloc'd), 0 absent, -1 error. */
static int dk_image_inspect(docker *d, const char *ref, char **id, int32_t *code, char **message)
{
	char err[1024], what[600];
	osh_engine_resp r;
	*id = NULL;
	char *esc = osh_engine_escape(ref, 1);
	size_t n = strlen(esc) + 32;
	char *path = malloc(n);
	if (!path)
		abort();
	snprintf(path, n, "/images/%s/json", esc);
	free(esc);
	snprintf(what, sizeof(what), "inspect image \"%s\"", ref);
	int rc = osh_engine_request(d->eng, "GET", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
				    sizeof(err));
	free(path);
	if (rc != 0) {
		*code = dk_unreachable(d, message, what, err);
		return -1;
	}
	int ret;
	if (r.status == 404) {
		ret = 0;
	} else if (r.status == 200) {
		json_t *j = osh_engine_resp_json(&r);
		*id = dk_strdup(*osh_json_str(j, "Id") ? osh_json_str(j, "Id") : ref);
		json_decref(j);
		ret = 1;
	} else {
		*code = dk_http_fail(d, message, OPENSHELL_STATUS_INTERNAL, what, &r);
		ret = -1;
	}
	osh_engine_resp_clear(&r);
	return ret;
}

struct dk_pull {
	docker *d;
	const char *sid;
	const char *image;
	char error[600];
	char last[256];
	int64_t last_ms;
};

static int64_t dk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dk_pull_object(void *ctx, json_t *obj)
{
	struct dk_pull *p = ctx;
	const char *e = osh_json_str(obj, "error");
	if (!*e)
		e = osh_json_str(json_object_get(obj, "errorDetail"), "message");
	if (*e) {
		snprintf(p->error, sizeof(p->error), "%s", e);
		return 1;
	}
	const char *status = osh_json_str(obj, "status");
	const char *layer = osh_json_str(obj, "id");
	if (!*status)
		return 0;
	char msg[512];
	snprintf(msg, sizeof(msg), "%s%s%s%s%s", p->image, *layer ? " " : "", layer, ": ", status);
	int progress = strncmp(status, "Downloading", 11) == 0 ||
		       strncmp(status, "Extracting", 10) == 0 || strncmp(status, "Waiting", 7) == 0;
	int64_t now = dk_now_ms();
	if (strcmp(msg, p->last) == 0 || (progress && now - p->last_ms < 1000))
		return 0;
	snprintf(p->last, sizeof(p->last), "%s", msg);
	p->last_ms = now;
	const char *meta[] = { "openshell.progress.active_step", "pulling_image",
			       "openshell.progress.active_detail", status, NULL };
	osh_engine_hub_publish_platform(p->d->hub, p->sid, DK, "Normal", "Pulling", msg, meta);
	return 0;
}

static int dk_pull_cancelled(void *ctx)
{
	struct dk_pull *p = ctx;
	return atomic_load(&p->d->closing);
}

/* POST /images/create for ref, publishing progress. Returns OK or
 * FAILED_PRECONDITION / UNAVAILABLE with *message naming the image. */
static int32_t dk_pull(docker *d, const char *sid, const char *ref, char **message)
{
	char err[1024];
	char *repo = dk_strdup(ref), *tag = NULL;
	char *slash = strrchr(repo, '/');
	char *colon = strrchr(slash ? slash : repo, ':');
	if (!strchr(repo, '@')) {
		if (colon) {
			*colon = '\0';
			tag = colon + 1;
		} else {
			tag = (char *)"latest";
		}
	}
	char *erepo = osh_engine_escape(repo, 0), *etag = tag ? osh_engine_escape(tag, 0) : NULL;
	size_t n = strlen(erepo) + (etag ? strlen(etag) : 0) + 64;
	char *path = malloc(n);
	if (!path)
		abort();
	snprintf(path, n, "/images/create?fromImage=%s%s%s", erepo, etag ? "&tag=" : "",
		 etag ? etag : "");
	free(erepo);
	free(etag);
	free(repo);

	char msg[700];
	snprintf(msg, sizeof(msg), "pulling image %s", ref);
	osh_engine_hub_publish_platform(d->hub, sid, DK, "Normal", "Pulling", msg, NULL);
	osh_engine_log(&d->host, OPENSHELL_LOG_INFO, DK ": sandbox %s: pulling image \"%s\"", sid,
		       ref);
	struct dk_pull p = { .d = d, .sid = sid, .image = ref };
	long status = 0;
	int rc = osh_engine_stream_each(d->eng, "POST", path, NULL, dk_pull_object,
					dk_pull_cancelled, &p, DK_PULL_IDLE_MS, &status, err,
					sizeof(err));
	free(path);
	int32_t code = OPENSHELL_STATUS_OK;
	if (rc != 0 && status == 0 && !*p.error)
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				       DK ": pull image \"%s\": %s", ref, err);
	else if (rc != 0 || *p.error)
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK ": image \"%s\" is not present and pulling it failed: %s "
					  "(Docker daemon at %s)",
				       ref, *p.error ? p.error : err, osh_engine_where(d->eng));
	if (code == OPENSHELL_STATUS_OK) {
		snprintf(msg, sizeof(msg), "pulled image %s", ref);
		osh_engine_hub_publish_platform(d->hub, sid, DK, "Normal", "Pulled", msg, NULL);
	} else {
		osh_engine_hub_publish_platform(d->hub, sid, DK, "Warning", "ImagePullFailed",
						*message ? *message : "image pull failed", NULL);
	}
	return code;
}

/* The image of a create, by the pull policy. Returns OK with *image_id. */
static int32_t dk_ensure_image(docker *d, const char *sid, const char *ref, char **image_id,
			       char **message)
{
	int32_t code = OPENSHELL_STATUS_OK;
	int have = 0;
	if (d->pull_policy != DK_PULL_ALWAYS) {
		have = dk_image_inspect(d, ref, image_id, &code, message);
		if (have < 0)
			return code;
		if (have)
			return OPENSHELL_STATUS_OK;
		if (d->pull_policy == DK_PULL_NEVER)
			return osh_engine_fail(
				&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				DK ": image \"%s\" is not in the local image store of "
				   "the Docker daemon at %s and image_pull_policy is "
				   "Never",
				ref, osh_engine_where(d->eng));
	}
	code = dk_pull(d, sid, ref, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	have = dk_image_inspect(d, ref, image_id, &code, message);
	if (have < 0)
		return code;
	if (!have)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       DK ": image \"%s\" was pulled but is not in the image store "
					  "of the Docker daemon at %s",
				       ref, osh_engine_where(d->eng));
	return OPENSHELL_STATUS_OK;
}

/* ---- create ------------------------------------------------------------- */

static json_t *dk_create_body(docker *d, const osh_engine_ds *ds, const struct dk_plan *plan,
			      const char *image_id)
{
	const Openshell__Compute__V1__DriverSandboxSpec *spec = ds->spec;
	json_t *b = json_object(), *hc = json_object();
	json_t *env = osh_engine_workload_env(ds);
	json_object_set_new(b, "Image", json_string(image_id));
	json_object_set_new(b, "Env", osh_engine_env_list(env));
	json_decref(env);
	json_object_set_new(b, "Labels", osh_engine_workload_labels(ds, d->gateway_id));
	if (spec->n_command) {
		json_t *cmd = json_array();
		for (size_t i = 0; i < spec->n_command; i++)
			json_array_append_new(cmd, json_string(spec->command[i]));
		json_object_set_new(b, "Cmd", cmd);
	}
	json_object_set_new(b, "Tty", json_boolean(spec->tty));
	json_object_set_new(b, "OpenStdin", json_false());
	json_object_set_new(b, "AttachStdin", json_false());
	json_object_set_new(b, "StopTimeout", json_integer(d->stop_timeout));

	if (plan->nano_cpus)
		json_object_set_new(hc, "NanoCpus", json_integer(plan->nano_cpus));
	if (plan->memory)
		json_object_set_new(hc, "Memory", json_integer(plan->memory));
	if (d->pids_limit > 0)
		json_object_set_new(hc, "PidsLimit", json_integer(d->pids_limit));
	if (d->network)
		json_object_set_new(hc, "NetworkMode", json_string(d->network));
	json_object_set_new(hc, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
	json_t *mounts = json_array(), *binds = json_array(), *tmpfs = json_object();
	for (size_t i = 0; i < plan->mounts.n; i++) {
		const osh_engine_mount *m = &plan->mounts.v[i];
		if (m->type == OSH_MOUNT_TMPFS) {
			char opts[1024] = "";
			size_t o = 0;
			if (m->size_bytes)
				o += (size_t)snprintf(opts + o, sizeof(opts) - o, "size=%lld",
						      (long long)m->size_bytes);
			if (m->mode >= 0 && o < sizeof(opts))
				o += (size_t)snprintf(opts + o, sizeof(opts) - o, "%smode=%o",
						      o ? "," : "", m->mode);
			for (size_t k = 0; k < m->n_options && o < sizeof(opts); k++)
				o += (size_t)snprintf(opts + o, sizeof(opts) - o, "%s%s",
						      o ? "," : "", m->options[k]);
			json_object_set_new(tmpfs, m->target, json_string(opts));
		} else if (m->type == OSH_MOUNT_BIND && m->selinux) {
			char bind[8192];
			snprintf(bind, sizeof(bind), "%s:%s:%s,%c", m->source, m->target,
				 m->read_only ? "ro" : "rw", m->selinux);
			json_array_append_new(binds, json_string(bind));
		} else {
			json_t *x =
				json_pack("{s:s, s:s, s:s, s:b}", "Type",
					  m->type == OSH_MOUNT_BIND ? "bind" : "volume", "Source",
					  m->source, "Target", m->target, "ReadOnly", m->read_only);
			if (m->subpath)
				json_object_set_new(x, "VolumeOptions",
						    json_pack("{s:s}", "Subpath", m->subpath));
			json_array_append_new(mounts, x);
		}
	}
	if (json_array_size(mounts))
		json_object_set(hc, "Mounts", mounts);
	if (json_array_size(binds))
		json_object_set(hc, "Binds", binds);
	if (json_object_size(tmpfs))
		json_object_set(hc, "Tmpfs", tmpfs);
	json_decref(mounts);
	json_decref(binds);
	json_decref(tmpfs);
	json_object_set_new(b, "HostConfig", hc);
	return b;
}

/* Removes a container (force); errors are only logged. */
static void dk_remove_quietly(docker *d, const char *cid)
{
	char err[1024], path[256];
	osh_engine_resp r;
	snprintf(path, sizeof(path), "/containers/%.100s?force=1&v=1", cid);
	if (osh_engine_request(d->eng, "DELETE", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		osh_engine_log(&d->host, OPENSHELL_LOG_WARN, DK ": remove container %.64s: %s", cid,
			       err);
		return;
	}
	if (r.status != 204 && r.status != 404 && r.status != 409) {
		char m[512];
		osh_engine_log(&d->host, OPENSHELL_LOG_WARN, DK ": remove container %.64s: %s", cid,
			       osh_engine_resp_error(&r, m, sizeof(m)));
	}
	osh_engine_resp_clear(&r);
}

/* The container failed to start: keep a Ready=False record, tell the
 * watches, remove the container. */
static void dk_start_failed(docker *d, const osh_engine_ds *ds, const char *cid, const char *cname,
			    const char *why)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "container failed to start: %s", why);
	osh_engine_snapshot_args a = {
		.id = ds->id,
		.name = ds->name,
		.workspace = ds->workspace,
		.instance_id = cid,
		.sandbox_name = cname,
		.status = "False",
		.reason = "ContainerStartFailed",
		.message = msg,
	};
	struct dk_failed *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->id = dk_strdup(ds->id);
	f->ds = osh_engine_snapshot_new(&a);
	pthread_mutex_lock(&d->mu);
	f->next = d->failed;
	d->failed = f;
	pthread_mutex_unlock(&d->mu);
	osh_engine_hub_publish_platform(d->hub, ds->id, DK, "Warning", "ContainerStartFailed", msg,
					NULL);
	osh_engine_hub_publish_snapshot(d->hub, f->ds);
	osh_engine_log(&d->host, OPENSHELL_LOG_WARN, DK ": sandbox %s: container \"%s\": %s",
		       ds->id, cname, msg);
	dk_remove_quietly(d, cid);
}

static int32_t dk_validate_sandbox_create(void *instance, const uint8_t *request,
					  uint64_t request_len, uint8_t **response,
					  uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	struct dk_plan plan;
	*response = NULL;
	*response_len = 0;
	Openshell__Compute__V1__ValidateSandboxCreateRequest *req =
		openshell__compute__v1__validate_sandbox_create_request__unpack(
			NULL, (size_t)request_len, request);
	if (!req)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": ValidateSandboxCreateRequest could not be decoded");
	int32_t code = dk_ready(d, message);
	if (code == OPENSHELL_STATUS_OK)
		code = dk_check(d, req->sandbox, 1, &plan, message);
	if (code == OPENSHELL_STATUS_OK) {
		osh_engine_mounts_clear(&plan.mounts);
		if (d->pull_policy == DK_PULL_NEVER) {
			char *image_id = NULL;
			int have = dk_image_inspect(d, plan.image, &image_id, &code, message);
			free(image_id);
			if (have == 0)
				code = osh_engine_fail(
					&d->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
					DK ": image \"%s\" is not in the local image store of the "
					   "Docker daemon at %s and image_pull_policy is Never",
					plan.image, osh_engine_where(d->eng));
		}
	}
	openshell__compute__v1__validate_sandbox_create_request__free_unpacked(req, NULL);
	return code;
}

static int32_t dk_create_sandbox(void *instance, const uint8_t *request, uint64_t request_len,
				 uint8_t **response, uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	struct dk_plan plan;
	char cname[OSH_ENGINE_NAME_MAX + 1], what[OSH_ENGINE_NAME_MAX + 64], err[1024];
	char *image_id = NULL, *cid = NULL, *existing = NULL;
	json_t *body = NULL, *created = NULL;
	osh_engine_resp r = { 0 };
	int have_plan = 0;
	*response = NULL;
	*response_len = 0;
	Openshell__Compute__V1__CreateSandboxRequest *req =
		openshell__compute__v1__create_sandbox_request__unpack(NULL, (size_t)request_len,
								       request);
	if (!req)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": CreateSandboxRequest could not be decoded");
	const osh_engine_ds *ds = req->sandbox;
	int32_t code = dk_ready(d, message);
	if (code != OPENSHELL_STATUS_OK)
		goto cleanup;
	code = dk_check(d, ds, 1, &plan, message);
	if (code != OPENSHELL_STATUS_OK)
		goto cleanup;
	have_plan = 1;
	if (!*ds->id) {
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": the sandbox id is required");
		goto cleanup;
	}
	osh_engine_container_name(ds->workspace, ds->name, ds->id, cname, sizeof(cname));
	snprintf(what, sizeof(what), "create container \"%s\"", cname);

	osh_engine_ds *failed = dk_failed_get(d, ds->id);
	if (failed) {
		osh_engine_ds_free(failed);
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_ALREADY_EXISTS,
				       "sandbox already exists");
		goto cleanup;
	}
	code = dk_lookup(d, ds->id, NULL, &existing, message);
	if (code == OPENSHELL_STATUS_OK) {
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_ALREADY_EXISTS,
				       DK ": sandbox %s already exists (container %.12s)", ds->id,
				       existing);
		goto cleanup;
	}
	if (code != OPENSHELL_STATUS_NOT_FOUND)
		goto cleanup;
	d->host.free(*message);
	*message = NULL;

	code = dk_ensure_image(d, ds->id, plan.image, &image_id, message);
	if (code != OPENSHELL_STATUS_OK)
		goto cleanup;

	body = dk_create_body(d, ds, &plan, image_id);
	char *ename = osh_engine_escape(cname, 0);
	char path[OSH_ENGINE_NAME_MAX * 3 + 64];
	snprintf(path, sizeof(path), "/containers/create?name=%s", ename);
	free(ename);
	if (osh_engine_request(d->eng, "POST", path, body, DK_CALL_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		code = dk_unreachable(d, message, what, err);
		goto cleanup;
	}
	if (r.status != 201) {
		int32_t c = r.status == 404 ? OPENSHELL_STATUS_FAILED_PRECONDITION
					    : dk_code_of(r.status);
		code = dk_http_fail(d, message, c, what, &r);
		goto cleanup;
	}
	created = osh_engine_resp_json(&r);
	cid = dk_strdup(osh_json_str(created, "Id"));
	osh_engine_resp_clear(&r);
	if (!*cid) {
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INTERNAL,
				       DK ": %s: the Docker daemon at %s returned no container id",
				       what, osh_engine_where(d->eng));
		goto cleanup;
	}

	snprintf(what, sizeof(what), "start container \"%s\"", cname);
	snprintf(path, sizeof(path), "/containers/%.100s/start", cid);
	if (osh_engine_request(d->eng, "POST", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		/* The daemon went away between create and start. The gateway
		 * drops the sandbox on UNAVAILABLE, so try not to leave the
		 * container behind (this fails too when the daemon is gone). */
		code = dk_unreachable(d, message, what, err);
		dk_remove_quietly(d, cid);
		goto cleanup;
	}
	if (r.status != 204 && r.status != 304) {
		char m[512];
		dk_start_failed(d, ds, cid, cname, osh_engine_resp_error(&r, m, sizeof(m)));
	} else {
		osh_engine_log(&d->host, OPENSHELL_LOG_INFO,
			       DK ": sandbox %s: container \"%s\" (%.12s) started", ds->id, cname,
			       cid);
	}
	code = OPENSHELL_STATUS_OK;
cleanup:
	osh_engine_resp_clear(&r);
	json_decref(body);
	json_decref(created);
	if (have_plan)
		osh_engine_mounts_clear(&plan.mounts);
	free(image_id);
	free(cid);
	free(existing);
	openshell__compute__v1__create_sandbox_request__free_unpacked(req, NULL);
	return code;
}

/* ---- get / list --------------------------------------------------------- */

static int32_t dk_get_sandbox(void *instance, const uint8_t *request, uint64_t request_len,
			      uint8_t **response, uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	char *id, *name, *cid = NULL;
	json_t *c = NULL;
	osh_engine_ds *ds = NULL;
	*response = NULL;
	*response_len = 0;
	int32_t code =
		osh_engine_decode_ref(&d->host, DK, request, request_len, &id, &name, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	char *fid = *id ? dk_strdup(id) : dk_failed_id_by_name(d, name);
	if ((ds = dk_failed_get(d, fid)))
		goto reply;
	if ((code = dk_ready(d, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	if ((code = dk_lookup(d, id, name, &cid, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	int have = dk_inspect(d, cid, &c, &code, message);
	if (have < 0)
		goto cleanup;
	if (!have || !(ds = dk_snapshot(c))) {
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_NOT_FOUND,
				       "sandbox not found");
		goto cleanup;
	}
reply : {
	Openshell__Compute__V1__GetSandboxResponse resp =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_RESPONSE__INIT;
	resp.sandbox = ds;
	code = osh_engine_reply(&d->host, &resp.base, response, response_len, message);
}
cleanup:
	osh_engine_ds_free(ds);
	json_decref(c);
	free(cid);
	free(fid);
	free(id);
	free(name);
	return code;
}

/* Snapshots of every managed container (inspected) plus failed records.
 * Returns OK with *out / *n (free each with osh_engine_ds_free). */
static int32_t dk_snapshot_all(docker *d, osh_engine_ds ***out, size_t *n, char **message)
{
	json_t *list = NULL;
	*out = NULL;
	*n = 0;
	int32_t code = dk_list_containers(d, NULL, &list, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	size_t cap = json_array_size(list) + 1;
	pthread_mutex_lock(&d->mu);
	for (struct dk_failed *f = d->failed; f; f = f->next)
		cap++;
	pthread_mutex_unlock(&d->mu);
	osh_engine_ds **v = calloc(cap, sizeof(*v));
	if (!v)
		abort();
	size_t k = 0, i;
	json_t *entry;
	json_array_foreach(list, i, entry)
	{
		json_t *c = NULL;
		int have = dk_inspect(d, osh_json_str(entry, "Id"), &c, &code, message);
		if (have < 0) {
			for (size_t j = 0; j < k; j++)
				osh_engine_ds_free(v[j]);
			free(v);
			json_decref(list);
			return code;
		}
		code = OPENSHELL_STATUS_OK;
		osh_engine_ds *ds = have ? dk_snapshot(c) : NULL;
		json_decref(c);
		if (ds && k < cap)
			v[k++] = ds;
		else
			osh_engine_ds_free(ds);
	}
	json_decref(list);
	pthread_mutex_lock(&d->mu);
	char **ids = calloc(cap, sizeof(*ids));
	size_t nf = 0;
	if (!ids)
		abort();
	for (struct dk_failed *f = d->failed; f && nf < cap; f = f->next)
		ids[nf++] = dk_strdup(f->id);
	pthread_mutex_unlock(&d->mu);
	for (size_t j = 0; j < nf; j++) {
		osh_engine_ds *ds = dk_failed_get(d, ids[j]);
		if (ds && k < cap)
			v[k++] = ds;
		else
			osh_engine_ds_free(ds);
		free(ids[j]);
	}
	free(ids);
	*out = v;
	*n = k;
	return OPENSHELL_STATUS_OK;
}

static int32_t dk_list_sandboxes(void *instance, const uint8_t *request, uint64_t request_len,
				 uint8_t **response, uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	osh_engine_ds **v = NULL;
	size_t n = 0;
	*response = NULL;
	*response_len = 0;
	int32_t code = dk_ready(d, message);
	if (code == OPENSHELL_STATUS_OK)
		code = dk_snapshot_all(d, &v, &n, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	Openshell__Compute__V1__ListSandboxesResponse resp =
		OPENSHELL__COMPUTE__V1__LIST_SANDBOXES_RESPONSE__INIT;
	resp.n_sandboxes = n;
	resp.sandboxes = v;
	code = osh_engine_reply(&d->host, &resp.base, response, response_len, message);
	for (size_t i = 0; i < n; i++)
		osh_engine_ds_free(v[i]);
	free(v);
	return code;
}

/* ---- stop / start / delete ---------------------------------------------- */

enum dk_op { DK_STOP, DK_START };

static int32_t dk_stop_start(void *instance, enum dk_op op, const uint8_t *request,
			     uint64_t request_len, uint8_t **response, uint64_t *response_len,
			     char **message)
{
	*message = NULL;
	docker *d = instance;
	char *id, *name, *cid = NULL, err[1024], path[256], what[200];
	osh_engine_resp r = { 0 };
	*response = NULL;
	*response_len = 0;
	int32_t code =
		osh_engine_decode_ref(&d->host, DK, request, request_len, &id, &name, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	if ((code = dk_ready(d, message)) != OPENSHELL_STATUS_OK ||
	    (code = dk_lookup(d, id, name, &cid, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	long timeout_ms = DK_CALL_TIMEOUT_MS;
	if (op == DK_STOP) {
		snprintf(path, sizeof(path), "/containers/%.100s/stop?t=%lld", cid,
			 d->stop_timeout);
		snprintf(what, sizeof(what), "stop container %.12s of sandbox %.64s", cid,
			 *id ? id : name);
		timeout_ms = (long)(d->stop_timeout + 30) * 1000;
	} else {
		snprintf(path, sizeof(path), "/containers/%.100s/start", cid);
		snprintf(what, sizeof(what), "start container %.12s of sandbox %.64s", cid,
			 *id ? id : name);
	}
	if (osh_engine_request(d->eng, "POST", path, NULL, timeout_ms, &r, err, sizeof(err)) != 0) {
		code = dk_unreachable(d, message, what, err);
		goto cleanup;
	}
	if (r.status == 204 || r.status == 304)
		code = OPENSHELL_STATUS_OK;
	else if (r.status == 404)
		code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_NOT_FOUND,
				       "sandbox not found");
	else
		code = dk_http_fail(d, message,
				    op == DK_START && r.status < 500
					    ? OPENSHELL_STATUS_FAILED_PRECONDITION
					    : dk_code_of(r.status),
				    what, &r);
	if (code == OPENSHELL_STATUS_OK)
		osh_engine_log(&d->host, OPENSHELL_LOG_INFO, DK ": sandbox %s: container %.12s %s",
			       *id ? id : name, cid,
			       op == DK_STOP
				       ? (r.status == 304 ? "was already stopped" : "stopped")
				       : (r.status == 304 ? "was already running" : "started"));
cleanup:
	osh_engine_resp_clear(&r);
	free(cid);
	free(id);
	free(name);
	return code;
}

static int32_t dk_stop_sandbox(void *instance, const uint8_t *request, uint64_t request_len,
			       uint8_t **response, uint64_t *response_len, char **message)
{
	return dk_stop_start(instance, DK_STOP, request, request_len, response, response_len,
			     message);
}

static int32_t dk_start_sandbox(void *instance, const uint8_t *request, uint64_t request_len,
				uint8_t **response, uint64_t *response_len, char **message)
{
	return dk_stop_start(instance, DK_START, request, request_len, response, response_len,
			     message);
}

static int32_t dk_delete_sandbox(void *instance, const uint8_t *request, uint64_t request_len,
				 uint8_t **response, uint64_t *response_len, char **message)
{
	*message = NULL;
	docker *d = instance;
	char *id, *name, *cid = NULL, err[1024], path[256], what[200];
	osh_engine_resp r = { 0 };
	int deleted = 0;
	*response = NULL;
	*response_len = 0;
	int32_t code =
		osh_engine_decode_ref(&d->host, DK, request, request_len, &id, &name, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	char *fid = *id ? dk_strdup(id) : dk_failed_id_by_name(d, name);
	if (fid && dk_failed_drop(d, fid)) {
		deleted = 1;
		osh_engine_hub_publish_deleted(d->hub, fid);
	}
	if ((code = dk_ready(d, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	code = dk_lookup(d, id, name, &cid, message);
	if (code == OPENSHELL_STATUS_NOT_FOUND) {
		d->host.free(*message);
		*message = NULL;
		code = OPENSHELL_STATUS_OK;
		goto reply;
	}
	if (code != OPENSHELL_STATUS_OK)
		goto cleanup;
	snprintf(path, sizeof(path), "/containers/%.100s?force=1&v=1", cid);
	snprintf(what, sizeof(what), "remove container %.12s of sandbox %.64s", cid,
		 *id ? id : name);
	if (osh_engine_request(d->eng, "DELETE", path, NULL, DK_CALL_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		code = dk_unreachable(d, message, what, err);
		goto cleanup;
	}
	if (r.status == 204 || r.status == 409) {
		deleted = 1; /* 409: a removal is already in progress */
	} else if (r.status != 404) {
		code = dk_http_fail(d, message, dk_code_of(r.status), what, &r);
		goto cleanup;
	}
	osh_engine_log(&d->host, OPENSHELL_LOG_INFO, DK ": sandbox %s: container %.12s removed",
		       *id ? id : name, cid);
reply : {
	Openshell__Compute__V1__DeleteSandboxResponse resp =
		OPENSHELL__COMPUTE__V1__DELETE_SANDBOX_RESPONSE__INIT;
	resp.deleted = deleted;
	code = osh_engine_reply(&d->host, &resp.base, response, response_len, message);
}
cleanup:
	osh_engine_resp_clear(&r);
	free(cid);
	free(fid);
	free(id);
	free(name);
	return code;
}

/* ---- watch -------------------------------------------------------------- */

static void dk_wake_stream(void *arg)
{
	osh_engine_stream_wake(arg);
}

/* Platform-event reasons for the container actions worth showing. */
static const char *dk_event_reason(const char *action)
{
	static const char *const map[][2] = {
		{ "create", "ContainerCreated" },    { "start", "ContainerStarted" },
		{ "die", "ContainerDied" },	     { "stop", "ContainerStopped" },
		{ "kill", "ContainerKilled" },	     { "oom", "ContainerOOMKilled" },
		{ "pause", "ContainerPaused" },	     { "unpause", "ContainerUnpaused" },
		{ "restart", "ContainerRestarted" }, { "destroy", "ContainerRemoved" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(action, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* One /events object. Returns non-zero when the watch must end (*code set). */
static int dk_watch_event(docker *d, osh_engine_sub *sub, const json_t *ev, int32_t *code,
			  char **message)
{
	if (strcmp(osh_json_str(ev, "Type"), "container") != 0)
		return 0;
	const char *action = osh_json_str(ev, "Action");
	const json_t *attrs = osh_json_path(ev, "Actor", "Attributes", NULL);
	const char *sid = osh_json_str(attrs, OSH_LABEL_SANDBOX_ID);
	const char *cid = osh_json_str(json_object_get(ev, "Actor"), "ID");
	const char *reason = dk_event_reason(action);
	if (!*sid || !*cid || !reason)
		return 0; /* exec_*, attach, resize, ...: nothing changes */

	char msg[512];
	const char *exit_code = osh_json_str(attrs, "exitCode");
	snprintf(msg, sizeof(msg), "container %.200s: %s%s%s%s", osh_json_str(attrs, "name"),
		 action, *exit_code ? " (exit code " : "", exit_code, *exit_code ? ")" : "");
	Openshell__Compute__V1__DriverPlatformEvent pe =
		OPENSHELL__COMPUTE__V1__DRIVER_PLATFORM_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesPlatformEvent wpe =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_PLATFORM_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent wev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	long long nano = osh_json_int(ev, "timeNano", 0);
	pe.timestamp_ms = nano ? nano / 1000000 : osh_json_int(ev, "time", 0) * 1000;
	pe.source = (char *)DK;
	pe.type = (char *)((strcmp(action, "die") == 0 && strcmp(exit_code, "0") != 0) ||
					   strcmp(action, "oom") == 0
				   ? "Warning"
				   : "Normal");
	pe.reason = (char *)reason;
	pe.message = msg;
	wpe.sandbox_id = (char *)sid;
	wpe.event = &pe;
	wev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_PLATFORM_EVENT;
	wev.platform_event = &wpe;
	if (osh_engine_sub_emit(sub, &wev))
		return 1;

	json_t *c = NULL;
	int have = 0;
	if (strcmp(action, "destroy") != 0) {
		have = dk_inspect(d, cid, &c, code, message);
		if (have < 0)
			return 1;
	}
	int stop;
	osh_engine_ds *ds = have ? dk_snapshot(c) : dk_failed_get(d, sid);
	json_decref(c);
	if (ds)
		stop = osh_engine_sub_emit_snapshot(sub, ds);
	else
		stop = osh_engine_sub_emit_deleted(sub, sid);
	osh_engine_ds_free(ds);
	*code = OPENSHELL_STATUS_OK;
	return stop;
}

static int32_t dk_watch_sandboxes(void *instance, const uint8_t *request, uint64_t request_len,
				  const openshell_watch_sink_v1 *sink, char **message)
{
	*message = NULL;
	docker *d = instance;
	char err[1024];
	osh_engine_ds **v = NULL;
	size_t n = 0;
	long status = 0;
	int32_t code = dk_ready(d, message);
	if (code != OPENSHELL_STATUS_OK)
		return code;
	if (!sink || !sink->emit)
		return osh_engine_fail(&d->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       DK ": the watch sink has no emit");

	/* Subscribe first, then replay: nothing falls between the two. */
	char gw[512];
	const char *labels[3] = { OSH_LABEL_MANAGED_BY "=" OSH_LABEL_MANAGED_BY_VALUE, NULL, NULL };
	if (d->gateway_id) {
		snprintf(gw, sizeof(gw), OSH_LABEL_GATEWAY_ID "=%s", d->gateway_id);
		labels[1] = gw;
	}
	char *filter = osh_engine_label_filter(labels, "type", "container");
	size_t plen = strlen(filter) + 32;
	char *path = malloc(plen);
	if (!path)
		abort();
	snprintf(path, plen, "/events?filters=%s", filter);
	free(filter);
	osh_engine_sub *sub = osh_engine_hub_join(d->hub, sink);
	osh_engine_stream *s =
		osh_engine_stream_open(d->eng, "GET", path, NULL, &status, err, sizeof(err));
	free(path);
	if (!s) {
		osh_engine_hub_leave(d->hub, sub);
		return osh_engine_fail(&d->host, message,
				       status ? OPENSHELL_STATUS_INTERNAL
					      : OPENSHELL_STATUS_UNAVAILABLE,
				       DK ": watch the events of the Docker daemon at %s: %s",
				       osh_engine_where(d->eng), err);
	}
	osh_engine_sub_set_wake(d->hub, sub, dk_wake_stream, s);

	code = dk_snapshot_all(d, &v, &n, message);
	int stop = code != OPENSHELL_STATUS_OK;
	if (code != OPENSHELL_STATUS_OK && code != OPENSHELL_STATUS_UNAVAILABLE) {
		/* Make the gateway retry: the daemon answered oddly. */
		code = OPENSHELL_STATUS_UNAVAILABLE;
	}
	for (size_t i = 0; i < n; i++) {
		if (!stop)
			stop = osh_engine_sub_emit_snapshot(sub, v[i]);
		osh_engine_ds_free(v[i]);
	}
	free(v);

	while (!stop) {
		if (osh_engine_sub_cancelled(sub) || atomic_load(&d->closing) ||
		    osh_engine_sub_flush(sub)) {
			code = OPENSHELL_STATUS_OK;
			break;
		}
		json_t *ev = NULL;
		int r = osh_engine_stream_next(s, DK_WATCH_WAIT_MS, &ev, err, sizeof(err));
		if (r == OSH_ENGINE_STREAM_OBJECT) {
			code = OPENSHELL_STATUS_OK;
			if (dk_watch_event(d, sub, ev, &code, message)) {
				if (code != OPENSHELL_STATUS_OK)
					code = OPENSHELL_STATUS_UNAVAILABLE;
				stop = 1;
			}
			json_decref(ev);
		} else if (r == OSH_ENGINE_STREAM_END || r == OSH_ENGINE_STREAM_ERROR) {
			if (atomic_load(&d->closing) || osh_engine_sub_cancelled(sub)) {
				code = OPENSHELL_STATUS_OK;
				break;
			}
			code = osh_engine_fail(&d->host, message, OPENSHELL_STATUS_UNAVAILABLE,
					       DK ": the event stream of the Docker daemon at %s "
						  "ended: %s",
					       osh_engine_where(d->eng),
					       r == OSH_ENGINE_STREAM_END ? "the daemon closed it"
									  : err);
			break;
		}
	}
	osh_engine_hub_leave(d->hub, sub);
	osh_engine_stream_close(s);
	if (code == OPENSHELL_STATUS_OK && *message) {
		d->host.free(*message);
		*message = NULL;
	}
	return code;
}

static const openshell_driver_table_v1 dk_table = {
	.abi_major = OPENSHELL_DRIVER_ABI_MAJOR,
	.struct_size = sizeof(openshell_driver_table_v1),
	.name = DK,
	.version = PACKAGE_VERSION,
	.open = dk_open,
	.close = dk_close,
	.get_capabilities = dk_get_capabilities,
	.get_gateway_listener_requirements = dk_ok_empty,
	.validate_sandbox_create = dk_validate_sandbox_create,
	.get_sandbox = dk_get_sandbox,
	.list_sandboxes = dk_list_sandboxes,
	.create_sandbox = dk_create_sandbox,
	.stop_sandbox = dk_stop_sandbox,
	.start_sandbox = dk_start_sandbox,
	.delete_sandbox = dk_delete_sandbox,
	.watch_sandboxes = dk_watch_sandboxes,
	.ensure_workspace = dk_ok_empty,
	.delete_workspace = dk_ok_empty,
};

OPENSHELL_DRIVER_EXPORT const openshell_driver_table_v1 *openshell_driver_v1(void)
{
	return &dk_table;
}
