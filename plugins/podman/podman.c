/* podman.c - the podman driver plugin: sandboxes as Podman containers, over
 * the libpod REST API on the Podman service socket (BEHAVIOR.md 2.2 with the
 * adaptations of section 0). This file holds the entry table, open/close,
 * configuration and the unary RPCs; podman_libpod.c the shared libpod calls,
 * podman_status.c the container -> snapshot mapping and podman_watch.c the
 * event stream. HTTP, JSON, naming, env, labels, snapshots and the watch
 * broadcast come from plugins/common (libosh-engine). */
#include "config.h"

#include "podman.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#define PODMAN_VERSION PACKAGE_VERSION
#define PODMAN_WORKSPACE_DIR "/sandbox"
#define PODMAN_CPU_PERIOD 100000LL
#define PODMAN_DEFAULT_STOP_TIMEOUT 10
#define PODMAN_DEFAULT_PIDS_LIMIT 2048

typedef Openshell__Compute__V1__DriverSandboxSpec podman_spec;
typedef Openshell__Compute__V1__DriverSandboxTemplate podman_template;

/* Keys this plugin reads. */
static const char *const podman_keys[] = {"socket_path",       "default_image",
					  "image_pull_policy", "stop_timeout_secs",
					  "sandbox_pids_limit", "network_name",
					  NULL};

/* Upstream keys that mean nothing here (no supervisor, no callback, no
 * proxy or TLS material handed to the workload): accepted with a warning so
 * an upstream config file keeps loading. */
static const char *const podman_ignored_keys[] = {
	"grpc_endpoint",	"gateway_port",		     "sandbox_ssh_socket_path",
	"host_gateway_ip",	"supervisor_image",	     "guest_tls_ca",
	"guest_tls_cert",	"guest_tls_key",	     "health_check_interval_secs",
	"https_proxy",		"no_proxy",		     "proxy_auth_file",
	"proxy_auth_allow_insecure", "proxy_connect_by_hostname", "enable_bind_mounts",
	"userns",		"uidmap",		     "gidmap",
	NULL};

/* ---- small helpers ------------------------------------------------------ */

static char *podman_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static int podman_in(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static const char *podman_policy_name(int policy)
{
	switch (policy) {
	case PODMAN_PULL_ALWAYS:
		return "always";
	case PODMAN_PULL_NEVER:
		return "never";
	case PODMAN_PULL_NEWER:
		return "newer";
	default:
		return "missing";
	}
}

static int podman_is_socket(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * The service socket: config socket_path, else $OPENSHELL_PODMAN_SOCKET
 * (a path or unix://path), else the first candidate of BEHAVIOR.md 1.2
 * that is a socket ($XDG_RUNTIME_DIR/podman/podman.sock,
 * /run/user/<uid>/podman/podman.sock, ~/.local/share/containers/podman/
 * machine/podman.sock), else the rootful /run/podman/podman.sock.
 */
static int podman_socket_resolve(const openshell_host_v1 *h, char *out, size_t outlen, char *err,
				 size_t errlen)
{
	const char *configured = osh_engine_config_get(h, "socket_path");
	const char *env = getenv("OPENSHELL_PODMAN_SOCKET");
	char cand[5][sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	size_t n = 0;
	struct stat st;

	if (configured)
		return osh_engine_socket_resolve(configured, NULL, NULL, out, outlen, err, errlen);
	if (env && env[strspn(env, " \t")]) {
		if (osh_engine_socket_resolve(env, NULL, NULL, out, outlen, err, errlen) != 0) {
			/* The message names socket_path; say where it came from. */
			snprintf(err, errlen,
				 "OPENSHELL_PODMAN_SOCKET \"%s\" is not an absolute Unix socket path",
				 env);
			return -1;
		}
		return 0;
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(cand[n++], sizeof(cand[0]), "%s/podman/podman.sock", xdg);
	if (stat("/proc/self", &st) == 0)
		snprintf(cand[n++], sizeof(cand[0]), "/run/user/%u/podman/podman.sock",
			 (unsigned)st.st_uid);
	if (home && *home)
		snprintf(cand[n++], sizeof(cand[0]),
			 "%s/.local/share/containers/podman/machine/podman.sock", home);
	snprintf(cand[n++], sizeof(cand[0]), "/run/podman/podman.sock");
	for (size_t i = 0; i < n; i++)
		if (podman_is_socket(cand[i]))
			return osh_engine_socket_resolve(cand[i], NULL, NULL, out, outlen, err,
							 errlen);
	size_t o = (size_t)snprintf(err, errlen,
				    "no Podman service socket found (set socket_path in "
				    "[openshell.drivers.%s] or OPENSHELL_PODMAN_SOCKET; tried",
				    h->driver_name ? h->driver_name : PODMAN_NAME);
	for (size_t i = 0; i < n && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%s %s", i ? "," : "", cand[i]);
	if (o < errlen)
		snprintf(err + o, errlen - o, ")");
	return -1;
}

/* ---- open / close ------------------------------------------------------- */

static void podman_free(podman *p)
{
	if (!p)
		return;
	osh_engine_free(p->eng);
	osh_engine_hub_free(p->hub);
	pthread_mutex_destroy(&p->mu);
	free(p->gateway_id);
	free(p->default_image);
	free(p->network);
	free(p);
}

static void podman_close(void *instance)
{
	podman *p = instance;
	if (!p)
		return;
	osh_engine_cancel_all(p->eng);
	podman_free(p);
}

static int32_t podman_open(const openshell_host_v1 *h, void **instance, char **message)
{
	openshell_host_v1 host;
	podman *p = NULL;
	char err[1024], sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *key, *v;
	long long n;

	*instance = NULL;
	memset(&host, 0, sizeof(host));
	if (!h || h->abi_major != OPENSHELL_DRIVER_ABI_MAJOR)
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	memcpy(&host, h, h->struct_size < sizeof(host) ? h->struct_size : sizeof(host));
	if (!host.alloc || !host.config_get)
		return OPENSHELL_STATUS_FAILED_PRECONDITION;

	/* Unknown keys are errors, upstream keys without meaning here warnings. */
	for (uint32_t i = 0; host.config_key_at && (key = host.config_key_at(host.host_ctx, i));
	     i++)
		if (podman_in(podman_ignored_keys, key))
			osh_engine_log(&host, OPENSHELL_LOG_WARN,
				       PODMAN_NAME ": config key %s is ignored (this project has no "
						   "in-sandbox supervisor)",
				       key);
	{
		const char *known[sizeof(podman_keys) / sizeof(*podman_keys) +
				  sizeof(podman_ignored_keys) / sizeof(*podman_ignored_keys)];
		size_t k = 0;
		for (size_t i = 0; podman_keys[i]; i++)
			known[k++] = podman_keys[i];
		for (size_t i = 0; podman_ignored_keys[i]; i++)
			known[k++] = podman_ignored_keys[i];
		known[k] = NULL;
		if (osh_engine_config_check(&host, PODMAN_NAME, known, err, sizeof(err)) != 0)
			return osh_engine_fail(&host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
					       "%s", err);
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->host = host;
	pthread_mutex_init(&p->mu, NULL);
	p->gateway_id = podman_strdup(osh_engine_config_get(&host, "gateway_id"));
	p->default_image = podman_strdup(osh_engine_config_get(&host, "default_image"));
	if ((v = osh_engine_config_get(&host, "network_name")))
		p->network = podman_strdup(v);

	p->pull_policy = PODMAN_PULL_MISSING;
	if ((v = osh_engine_config_get(&host, "image_pull_policy"))) {
		if (strcasecmp(v, "missing") == 0)
			p->pull_policy = PODMAN_PULL_MISSING;
		else if (strcasecmp(v, "always") == 0)
			p->pull_policy = PODMAN_PULL_ALWAYS;
		else if (strcasecmp(v, "never") == 0)
			p->pull_policy = PODMAN_PULL_NEVER;
		else if (strcasecmp(v, "newer") == 0)
			p->pull_policy = PODMAN_PULL_NEWER;
		else {
			podman_free(p);
			return osh_engine_fail(&host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
					       PODMAN_NAME ": config key image_pull_policy: \"%s\" "
							   "is not always, missing, never or newer",
					       v);
		}
	}
	if (osh_engine_config_int(&host, PODMAN_NAME, "stop_timeout_secs", 0, 3600,
				  PODMAN_DEFAULT_STOP_TIMEOUT, &n, err, sizeof(err)) != 0) {
		podman_free(p);
		return osh_engine_fail(&host, message, OPENSHELL_STATUS_INVALID_ARGUMENT, "%s", err);
	}
	p->stop_timeout_secs = n;
	if (osh_engine_config_int(&host, PODMAN_NAME, "sandbox_pids_limit", -1, 1LL << 31,
				  PODMAN_DEFAULT_PIDS_LIMIT, &n, err, sizeof(err)) != 0) {
		podman_free(p);
		return osh_engine_fail(&host, message, OPENSHELL_STATUS_INVALID_ARGUMENT, "%s", err);
	}
	p->pids_limit = n;
	if (podman_socket_resolve(&host, sock, sizeof(sock), err, sizeof(err)) != 0) {
		podman_free(p);
		return osh_engine_fail(&host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": %s", err);
	}
	p->eng = osh_engine_new(sock, "Podman");
	p->hub = osh_engine_hub_new();
	if (!*p->gateway_id)
		osh_engine_log(&host, OPENSHELL_LOG_WARN,
			       PODMAN_NAME ": no gateway_id; every openshell container of the "
					   "service is taken as this gateway's");
	/* The service is asked on first use, so a gateway may start first. */
	*instance = p;
	return OPENSHELL_STATUS_OK;
}

/* ---- capabilities ------------------------------------------------------- */

static int32_t podman_get_capabilities(void *instance, const uint8_t *req, uint64_t len,
				       uint8_t **resp, uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char err[1024];
	int32_t rc = podman_ready(p, err, sizeof(err));
	if (rc != OPENSHELL_STATUS_OK)
		return osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": %s", err);
	Openshell__Compute__V1__GetCapabilitiesResponse r =
		OPENSHELL__COMPUTE__V1__GET_CAPABILITIES_RESPONSE__INIT;
	pthread_mutex_lock(&p->mu);
	char version[sizeof(p->version)];
	memcpy(version, p->version, sizeof(version));
	pthread_mutex_unlock(&p->mu);
	r.driver_name = (char *)PODMAN_NAME;
	r.driver_version = version;
	r.default_image = p->default_image;
	r.gateway_manages_lifecycle = 1;
	return osh_engine_reply(&p->host, &r.base, resp, resp_len, message);
}

/* ---- create ------------------------------------------------------------- */

/* What a create needs, checked before anything is made. */
struct podman_plan {
	const char *image;
	int64_t cpu_nanos; /* 0 = no limit */
	int64_t mem_bytes; /* 0 = no limit */
};

static int32_t podman_check(podman *p, const osh_engine_ds *ds, struct podman_plan *plan,
			    char **message)
{
	memset(plan, 0, sizeof(*plan));
	if (!ds)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       PODMAN_NAME ": sandbox is required");
	if (!*ds->id || !*ds->name)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       PODMAN_NAME ": sandbox id and name are required");
	const podman_spec *spec = ds->spec;
	const podman_template *t = spec ? spec->template_ : NULL;
	plan->image = t && *t->image ? t->image : p->default_image;
	if (!*plan->image)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": sandbox \"%s\" names no image and "
						   "default_image is not set",
				       ds->name);
	if (spec && spec->resource_requirements && spec->resource_requirements->gpu)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": sandbox \"%s\" asks for GPUs; the podman "
						   "driver does not provide them",
				       ds->name);
	if (t && t->driver_config && t->driver_config->n_fields)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       PODMAN_NAME ": sandbox \"%s\": template.driver_config.%s "
						   "key \"%s\" is not supported",
				       ds->name, p->host.driver_name ? p->host.driver_name : PODMAN_NAME,
				       t->driver_config->fields[0]->key);
	const Openshell__Compute__V1__DriverResourceRequirements *res = t ? t->resources : NULL;
	if (res && *res->cpu_limit && osh_quantity_cpu_nanos(res->cpu_limit, &plan->cpu_nanos) != 0)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": sandbox \"%s\": cpu limit \"%s\" is not a "
						   "positive quantity",
				       ds->name, res->cpu_limit);
	if (res && *res->memory_limit &&
	    osh_quantity_bytes(res->memory_limit, &plan->mem_bytes) != 0)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": sandbox \"%s\": memory limit \"%s\" is not a "
						   "positive quantity",
				       ds->name, res->memory_limit);
	return OPENSHELL_STATUS_OK;
}

static int32_t podman_validate(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			       uint64_t *resp_len, char **message)
{
	podman *p = instance;
	struct podman_plan plan;
	Openshell__Compute__V1__ValidateSandboxCreateRequest *r =
		openshell__compute__v1__validate_sandbox_create_request__unpack(NULL, (size_t)len,
										 req);
	if (!r)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       PODMAN_NAME ": the request could not be decoded");
	int32_t rc = podman_check(p, r->sandbox, &plan, message);
	openshell__compute__v1__validate_sandbox_create_request__free_unpacked(r, NULL);
	return rc;
}

/* The pull progress of POST /images/pull: remembers the last "error". */
struct podman_pull {
	char error[512];
	char id[160];
};

static int podman_pull_object(void *ctx, json_t *obj)
{
	struct podman_pull *pl = ctx;
	const char *e = osh_json_str(obj, "error");
	if (*e)
		snprintf(pl->error, sizeof(pl->error), "%s", e);
	if (*osh_json_str(obj, "id"))
		snprintf(pl->id, sizeof(pl->id), "%s", osh_json_str(obj, "id"));
	return 0;
}

/* 1 when the image is in local storage, 0 when not, -1 when the service
 * could not be reached, -2 when it refused the reference (err). */
static int podman_image_exists(podman *p, const char *image, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	char *esc = osh_engine_escape(image, 1), *path = NULL;
	int ret;
	if (asprintf(&path, "/images/%s/exists", esc) < 0)
		abort();
	if (osh_engine_request(p->eng, "GET", path, NULL, PODMAN_TIMEOUT_MS, &r, err, errlen) != 0)
		ret = -1;
	else if (r.status == 204 || r.status == 200)
		ret = 1;
	else if (r.status == 404)
		ret = 0;
	else {
		char m[512];
		snprintf(err, errlen, "looking up image \"%s\" failed: %s", image,
			 osh_engine_resp_error(&r, m, sizeof(m)));
		ret = -2;
	}
	osh_engine_resp_clear(&r);
	free(esc);
	free(path);
	return ret;
}

/* Pulls image with the libpod policy; 0, or -1 with err. */
static int podman_image_pull(podman *p, const char *sandbox_id, const char *image,
			     const char *policy, char *err, size_t errlen)
{
	struct podman_pull pl = {"", ""};
	char *esc = osh_engine_escape(image, 0), *path = NULL;
	long status = 0;
	char msg[600];
	if (asprintf(&path, "/images/pull?reference=%s&policy=%s", esc, policy) < 0)
		abort();
	snprintf(msg, sizeof(msg), "pulling image \"%s\" (policy %s)", image, policy);
	osh_engine_hub_publish_platform(p->hub, sandbox_id, PODMAN_NAME, "Normal", "Pulling", msg,
					NULL);
	int rc = osh_engine_stream_each(p->eng, "POST", path, NULL, podman_pull_object, NULL, &pl,
					PODMAN_PULL_IDLE_MS, &status, err, errlen);
	free(esc);
	free(path);
	if (rc != 0)
		return -1;
	if (pl.error[0] || !pl.id[0]) {
		snprintf(err, errlen, "%s", pl.error[0] ? pl.error : "the pull reported no image");
		return -1;
	}
	snprintf(msg, sizeof(msg), "pulled image \"%s\"", image);
	osh_engine_hub_publish_platform(p->hub, sandbox_id, PODMAN_NAME, "Normal", "Pulled", msg,
					NULL);
	return 0;
}

/* Makes sure the image is in local storage per image_pull_policy. */
static int32_t podman_image_ensure(podman *p, const osh_engine_ds *ds, const char *image,
				   char **message)
{
	char err[1024];
	int have = podman_image_exists(p, image, err, sizeof(err));
	if (have < 0)
		return osh_engine_fail(&p->host, message,
				       have == -1 ? OPENSHELL_STATUS_UNAVAILABLE
						  : OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": create sandbox \"%s\": %s", ds->name, err);
	if (p->pull_policy == PODMAN_PULL_NEVER || (have && p->pull_policy == PODMAN_PULL_MISSING)) {
		if (have)
			return OPENSHELL_STATUS_OK;
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
				       PODMAN_NAME ": create sandbox \"%s\": image \"%s\" is not in "
						   "Podman's local storage and image_pull_policy "
						   "is never",
				       ds->name, image);
	}
	if (podman_image_pull(p, ds->id, image, podman_policy_name(p->pull_policy), err,
			      sizeof(err)) == 0)
		return OPENSHELL_STATUS_OK;
	if (have && p->pull_policy == PODMAN_PULL_NEWER) {
		osh_engine_log(&p->host, OPENSHELL_LOG_WARN,
			       PODMAN_NAME ": create sandbox \"%s\": checking image \"%s\" for a "
					   "newer version failed (%s); using the local one",
			       ds->name, image, err);
		return OPENSHELL_STATUS_OK;
	}
	return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_FAILED_PRECONDITION,
			       PODMAN_NAME ": create sandbox \"%s\": image \"%s\" %s: %s", ds->name,
			       image,
			       have ? "could not be pulled"
				    : "is not in Podman's local storage and could not be pulled",
			       err);
}

static void podman_volume_name(const char *id, char *out, size_t len)
{
	snprintf(out, len, "openshell-sandbox-%s-workspace", id);
}

/* Creates the workspace volume; *created = 0 when it already existed (a
 * create that is tried again keeps its data). */
static int32_t podman_volume_create(podman *p, const osh_engine_ds *ds, const char *vol,
				    int *created, char **message)
{
	osh_engine_resp r = {0};
	char err[1024];
	json_t *labels = json_object(), *body = json_object();
	int32_t rc = OPENSHELL_STATUS_OK;

	*created = 0;
	json_object_set_new(labels, OSH_LABEL_MANAGED_BY, json_string(OSH_LABEL_MANAGED_BY_VALUE));
	json_object_set_new(labels, OSH_LABEL_SANDBOX_ID, json_string(ds->id));
	if (*p->gateway_id)
		json_object_set_new(labels, OSH_LABEL_GATEWAY_ID, json_string(p->gateway_id));
	json_object_set_new(body, "Name", json_string(vol));
	json_object_set_new(body, "Label", labels);
	if (osh_engine_request(p->eng, "POST", "/volumes/create", body, PODMAN_TIMEOUT_MS, &r, err,
			       sizeof(err)) != 0) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": create sandbox \"%s\": %s", ds->name, err);
	} else if (r.status == 201 || r.status == 200) {
		*created = 1;
	} else {
		char m[512];
		osh_engine_resp_error(&r, m, sizeof(m));
		if (r.status != 409 && !strstr(m, "already exists"))
			rc = osh_engine_fail(&p->host, message, podman_code_for_http(r.status),
					     PODMAN_NAME ": create sandbox \"%s\": creating volume "
							 "\"%s\" failed: %s",
					     ds->name, vol, m);
	}
	json_decref(body);
	osh_engine_resp_clear(&r);
	return rc;
}

/* Removes a volume; 0 when gone (or never there), -1 with err. */
static int podman_volume_remove(podman *p, const char *vol, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	char *path = NULL;
	int ret = 0;
	if (asprintf(&path, "/volumes/%s?force=true", vol) < 0)
		abort();
	if (osh_engine_request(p->eng, "DELETE", path, NULL, PODMAN_TIMEOUT_MS, &r, err, errlen) !=
	    0) {
		ret = -1;
	} else if (r.status != 204 && r.status != 200 && r.status != 404) {
		char m[512];
		snprintf(err, errlen, "removing volume \"%s\" failed: %s", vol,
			 osh_engine_resp_error(&r, m, sizeof(m)));
		ret = -1;
	}
	osh_engine_resp_clear(&r);
	free(path);
	return ret;
}

/* Force-removes a container; 0 when gone (or never there), -1 with err.
 * *existed (may be NULL) tells whether there was one. */
static int podman_container_remove(podman *p, const char *ref, int *existed, char *err,
				   size_t errlen)
{
	osh_engine_resp r = {0};
	char *esc = osh_engine_escape(ref, 0), *path = NULL;
	int ret = 0;
	if (existed)
		*existed = 0;
	if (asprintf(&path, "/containers/%s?force=true&volumes=true&timeout=%lld", esc,
		     p->stop_timeout_secs) < 0)
		abort();
	if (osh_engine_request(p->eng, "DELETE", path, NULL,
			       (p->stop_timeout_secs + 30) * 1000L, &r, err, errlen) != 0) {
		ret = -1;
	} else if (r.status == 200 || r.status == 204) {
		if (existed)
			*existed = 1;
	} else if (r.status != 404) {
		char m[512];
		snprintf(err, errlen, "removing container \"%s\" failed: %s", ref,
			 osh_engine_resp_error(&r, m, sizeof(m)));
		ret = -1;
	}
	osh_engine_resp_clear(&r);
	free(esc);
	free(path);
	return ret;
}

/* The libpod SpecGenerator of the sandbox's container. New reference. */
static json_t *podman_container_spec(podman *p, const osh_engine_ds *ds, const char *cname,
				     const char *vol, const struct podman_plan *plan)
{
	json_t *s = json_object();
	const podman_spec *spec = ds->spec;
	char host[80];

	json_object_set_new(s, "name", json_string(cname));
	json_object_set_new(s, "image", json_string(plan->image));
	if (spec && spec->n_command) {
		json_t *cmd = json_array();
		for (size_t i = 0; i < spec->n_command; i++)
			json_array_append_new(cmd, json_string(spec->command[i]));
		json_object_set_new(s, "command", cmd);
	}
	json_object_set_new(s, "env", osh_engine_workload_env(ds));
	json_object_set_new(s, "labels", osh_engine_workload_labels(ds, p->gateway_id));
	snprintf(host, sizeof(host), "sandbox-%s", ds->name);
	json_object_set_new(s, "hostname", json_string(host));
	if (spec && spec->tty)
		json_object_set_new(s, "terminal", json_true());
	json_object_set_new(s, "stop_timeout", json_integer(p->stop_timeout_secs));

	json_t *v = json_object();
	json_object_set_new(v, "Name", json_string(vol));
	json_object_set_new(v, "Dest", json_string(PODMAN_WORKSPACE_DIR));
	json_object_set_new(v, "Options", json_array());
	json_t *vols = json_array();
	json_array_append_new(vols, v);
	json_object_set_new(s, "volumes", vols);

	json_t *lim = json_object();
	if (p->pids_limit > 0)
		json_object_set_new(lim, "pids", json_pack("{s:I}", "limit", (json_int_t)p->pids_limit));
	if (plan->mem_bytes > 0)
		json_object_set_new(lim, "memory",
				    json_pack("{s:I}", "limit", (json_int_t)plan->mem_bytes));
	if (plan->cpu_nanos > 0) {
		long long quota = (long long)((plan->cpu_nanos * PODMAN_CPU_PERIOD + 999999999LL) /
					      1000000000LL);
		if (quota < 1000)
			quota = 1000; /* the kernel's minimum CFS quota (1 ms) */
		json_object_set_new(lim, "cpu", json_pack("{s:I,s:I}", "quota", (json_int_t)quota,
							  "period", (json_int_t)PODMAN_CPU_PERIOD));
	}
	if (json_object_size(lim))
		json_object_set_new(s, "resource_limits", lim);
	else
		json_decref(lim);

	if (p->network) {
		json_object_set_new(s, "netns", json_pack("{s:s}", "nsmode", "bridge"));
		json_t *nets = json_object();
		json_object_set_new(nets, p->network, json_object());
		json_object_set_new(s, "Networks", nets);
	}
	return s;
}

/* A failed start: errors of the workload's own making (its command cannot
 * be run) are the caller's to fix; anything else is ours. */
static int32_t podman_start_code(long status, const char *m)
{
	if (status == 404)
		return OPENSHELL_STATUS_NOT_FOUND;
	if (strstr(m, "OCI runtime attempted to invoke a command that was not found") ||
	    strstr(m, "OCI permission denied") || strstr(m, "executable file not found") ||
	    strstr(m, "no such file or directory"))
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	return podman_code_for_http(status);
}

/* POST /containers/{ref}/start. OK, or a code with err. */
static int32_t podman_container_start(podman *p, const char *ref, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	char *esc = osh_engine_escape(ref, 0), *path = NULL;
	int32_t rc = OPENSHELL_STATUS_OK;
	if (asprintf(&path, "/containers/%s/start", esc) < 0)
		abort();
	if (osh_engine_request(p->eng, "POST", path, NULL, PODMAN_START_TIMEOUT_MS, &r, err,
			       errlen) != 0) {
		rc = OPENSHELL_STATUS_UNAVAILABLE;
	} else if (r.status != 204 && r.status != 304 && r.status != 200) {
		char m[512];
		osh_engine_resp_error(&r, m, sizeof(m));
		snprintf(err, errlen, "container \"%s\" did not start: %s", ref, m);
		rc = podman_start_code(r.status, m);
	}
	osh_engine_resp_clear(&r);
	free(esc);
	free(path);
	return rc;
}

/* Inspects ref and publishes its snapshot to the running watches, so a
 * change the plugin made is seen without waiting for the event. */
static void podman_publish_current(podman *p, const char *ref)
{
	json_t *in = NULL;
	char err[512];
	if (podman_inspect(p, ref, &in, err, sizeof(err)) != OPENSHELL_STATUS_OK)
		return;
	osh_engine_ds *ds = podman_snapshot_from_inspect(in);
	if (ds)
		osh_engine_hub_publish_snapshot(p->hub, ds);
	osh_engine_ds_free(ds);
	json_decref(in);
}

static int32_t podman_create(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			     uint64_t *resp_len, char **message)
{
	podman *p = instance;
	struct podman_plan plan;
	char err[1024], cname[OSH_ENGINE_NAME_MAX + 1], vol[160], cid[128] = "";
	osh_engine_resp r = {0};
	json_t *body = NULL, *j = NULL;
	int vol_created = 0;
	int32_t rc;

	Openshell__Compute__V1__CreateSandboxRequest *cr =
		openshell__compute__v1__create_sandbox_request__unpack(NULL, (size_t)len, req);
	if (!cr)
		return osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       PODMAN_NAME ": the request could not be decoded");
	const osh_engine_ds *ds = cr->sandbox;
	if ((rc = podman_check(p, ds, &plan, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	if ((rc = podman_ready(p, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": create sandbox \"%s\": %s",
				     ds->name, err);
		goto cleanup;
	}
	osh_engine_container_name(ds->workspace, ds->name, ds->id, cname, sizeof(cname));
	podman_volume_name(ds->id, vol, sizeof(vol));

	if ((rc = podman_image_ensure(p, ds, plan.image, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;
	if ((rc = podman_volume_create(p, ds, vol, &vol_created, message)) != OPENSHELL_STATUS_OK)
		goto cleanup;

	body = podman_container_spec(p, ds, cname, vol, &plan);
	if (osh_engine_request(p->eng, "POST", "/containers/create", body, PODMAN_START_TIMEOUT_MS,
			       &r, err, sizeof(err)) != 0) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": create sandbox \"%s\": %s", ds->name, err);
		goto rollback;
	}
	if (r.status != 201 && r.status != 200) {
		char m[512];
		osh_engine_resp_error(&r, m, sizeof(m));
		if (r.status == 409 || strstr(m, "already in use"))
			rc = OPENSHELL_STATUS_ALREADY_EXISTS;
		else if (strstr(m, "image not known"))
			rc = OPENSHELL_STATUS_FAILED_PRECONDITION;
		else
			rc = podman_code_for_http(r.status);
		rc = osh_engine_fail(&p->host, message, rc,
				     PODMAN_NAME ": create sandbox \"%s\": creating container "
						 "\"%s\" failed: %s",
				     ds->name, cname, m);
		goto rollback;
	}
	j = osh_engine_resp_json(&r);
	snprintf(cid, sizeof(cid), "%s", osh_json_str(j, "Id"));
	if (!*cid)
		snprintf(cid, sizeof(cid), "%s", cname);

	if ((rc = podman_container_start(p, cid, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc,
				     PODMAN_NAME ": create sandbox \"%s\": container \"%s\" did not "
						 "start: %s",
				     ds->name, cname, strstr(err, ": ") ? strstr(err, ": ") + 2 : err);
		goto rollback;
	}
	podman_publish_current(p, cid);
	rc = OPENSHELL_STATUS_OK;
	goto cleanup;

rollback:
	/* Undo in reverse order; a failure here is logged, the cause returned. */
	if (*cid && podman_container_remove(p, cid, NULL, err, sizeof(err)) != 0)
		osh_engine_log(&p->host, OPENSHELL_LOG_WARN,
			       PODMAN_NAME ": create sandbox \"%s\": rollback: %s", ds->name, err);
	if (vol_created && podman_volume_remove(p, vol, err, sizeof(err)) != 0)
		osh_engine_log(&p->host, OPENSHELL_LOG_WARN,
			       PODMAN_NAME ": create sandbox \"%s\": rollback: %s", ds->name, err);
cleanup:
	json_decref(j);
	json_decref(body);
	osh_engine_resp_clear(&r);
	openshell__compute__v1__create_sandbox_request__free_unpacked(cr, NULL);
	return rc;
}

/* ---- get / list --------------------------------------------------------- */

/* "sandbox \"x\"" for messages: the id, else the name. */
static const char *podman_ref(const char *id, const char *name)
{
	return id && *id ? id : name;
}

static int32_t podman_get(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			  uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char *id = NULL, *name = NULL, err[1024];
	json_t *entry = NULL, *in = NULL;
	osh_engine_ds *ds = NULL;
	int32_t rc = osh_engine_decode_ref(&p->host, PODMAN_NAME, req, len, &id, &name, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;
	if ((rc = podman_find(p, id, name, &entry, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": get sandbox \"%s\": %s",
				     podman_ref(id, name), err);
		goto cleanup;
	}
	if (entry) {
		rc = podman_inspect(p, osh_json_str(entry, "Id"), &in, err, sizeof(err));
		if (rc == OPENSHELL_STATUS_OK)
			ds = podman_snapshot_from_inspect(in);
		else if (rc != OPENSHELL_STATUS_NOT_FOUND) {
			rc = osh_engine_fail(&p->host, message, rc,
					     PODMAN_NAME ": get sandbox \"%s\": %s",
					     podman_ref(id, name), err);
			goto cleanup;
		}
	}
	if (!ds) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_NOT_FOUND,
				     PODMAN_NAME ": sandbox \"%s\" not found", podman_ref(id, name));
		goto cleanup;
	}
	Openshell__Compute__V1__GetSandboxResponse r =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_RESPONSE__INIT;
	r.sandbox = ds;
	rc = osh_engine_reply(&p->host, &r.base, resp, resp_len, message);
cleanup:
	osh_engine_ds_free(ds);
	json_decref(in);
	json_decref(entry);
	free(id);
	free(name);
	return rc;
}

static int32_t podman_list_sandboxes(void *instance, const uint8_t *req, uint64_t len,
				     uint8_t **resp, uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char err[1024];
	json_t *list = NULL, *e;
	size_t i, n = 0;
	int32_t rc = podman_list(p, NULL, NULL, &list, err, sizeof(err));
	if (rc != OPENSHELL_STATUS_OK)
		return osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": list sandboxes: %s",
				       err);
	osh_engine_ds **v = calloc(json_array_size(list) + 1, sizeof(*v));
	if (!v)
		abort();
	json_array_foreach(list, i, e)
	{
		if ((v[n] = podman_snapshot_from_list(e)))
			n++;
	}
	Openshell__Compute__V1__ListSandboxesResponse r =
		OPENSHELL__COMPUTE__V1__LIST_SANDBOXES_RESPONSE__INIT;
	r.n_sandboxes = n;
	r.sandboxes = v;
	rc = osh_engine_reply(&p->host, &r.base, resp, resp_len, message);
	for (i = 0; i < n; i++)
		osh_engine_ds_free(v[i]);
	free(v);
	json_decref(list);
	return rc;
}

/* ---- stop / start / delete ---------------------------------------------- */

static int32_t podman_stop(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			   uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char *id = NULL, *name = NULL, err[1024], *esc = NULL, *path = NULL;
	json_t *entry = NULL;
	osh_engine_resp r = {0};
	int32_t rc = osh_engine_decode_ref(&p->host, PODMAN_NAME, req, len, &id, &name, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;
	if ((rc = podman_find(p, id, name, &entry, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": stop sandbox \"%s\": %s",
				     podman_ref(id, name), err);
		goto cleanup;
	}
	if (!entry) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_NOT_FOUND,
				     PODMAN_NAME ": sandbox \"%s\" not found", podman_ref(id, name));
		goto cleanup;
	}
	const char *state = osh_json_str(entry, "State"), *cid = osh_json_str(entry, "Id");
	if (strcasecmp(state, "exited") == 0 || strcasecmp(state, "stopped") == 0 ||
	    strcasecmp(state, "created") == 0 || strcasecmp(state, "configured") == 0)
		goto cleanup; /* nothing runs: already stopped */
	esc = osh_engine_escape(cid, 0);
	if (asprintf(&path, "/containers/%s/stop?timeout=%lld", esc, p->stop_timeout_secs) < 0)
		abort();
	if (osh_engine_request(p->eng, "POST", path, NULL, (p->stop_timeout_secs + 30) * 1000L, &r,
			       err, sizeof(err)) != 0) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": stop sandbox \"%s\": %s", podman_ref(id, name),
				     err);
		goto cleanup;
	}
	if (r.status != 204 && r.status != 304 && r.status != 200) {
		char m[512];
		rc = r.status == 404 ? OPENSHELL_STATUS_NOT_FOUND : podman_code_for_http(r.status);
		rc = osh_engine_fail(&p->host, message, rc,
				     PODMAN_NAME ": stop sandbox \"%s\": stopping container \"%s\" "
						 "failed: %s",
				     podman_ref(id, name), cid, osh_engine_resp_error(&r, m, sizeof(m)));
		goto cleanup;
	}
	podman_publish_current(p, cid);
cleanup:
	osh_engine_resp_clear(&r);
	json_decref(entry);
	free(esc);
	free(path);
	free(id);
	free(name);
	return rc;
}

static int32_t podman_start(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			    uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char *id = NULL, *name = NULL, err[1024];
	json_t *entry = NULL;
	int32_t rc = osh_engine_decode_ref(&p->host, PODMAN_NAME, req, len, &id, &name, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;
	if ((rc = podman_find(p, id, name, &entry, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": start sandbox \"%s\": %s",
				     podman_ref(id, name), err);
		goto cleanup;
	}
	if (!entry) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_NOT_FOUND,
				     PODMAN_NAME ": sandbox \"%s\" not found", podman_ref(id, name));
		goto cleanup;
	}
	const char *cid = osh_json_str(entry, "Id");
	if (strcasecmp(osh_json_str(entry, "State"), "running") == 0)
		goto cleanup; /* already running */
	if ((rc = podman_container_start(p, cid, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc, PODMAN_NAME ": start sandbox \"%s\": %s",
				     podman_ref(id, name), err);
		goto cleanup;
	}
	podman_publish_current(p, cid);
cleanup:
	json_decref(entry);
	free(id);
	free(name);
	return rc;
}

static int32_t podman_delete(void *instance, const uint8_t *req, uint64_t len, uint8_t **resp,
			     uint64_t *resp_len, char **message)
{
	podman *p = instance;
	char *id = NULL, *name = NULL, err[1024], vol[160];
	json_t *entry = NULL;
	int existed = 0;
	int32_t rc = osh_engine_decode_ref(&p->host, PODMAN_NAME, req, len, &id, &name, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;
	if ((rc = podman_find(p, id, name, &entry, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, rc,
				     PODMAN_NAME ": delete sandbox \"%s\": %s", podman_ref(id, name),
				     err);
		goto cleanup;
	}
	const char *sid = id;
	if (entry) {
		if (!*sid)
			sid = osh_json_str(json_object_get(entry, "Labels"), OSH_LABEL_SANDBOX_ID);
		if (podman_container_remove(p, osh_json_str(entry, "Id"), &existed, err,
					    sizeof(err)) != 0) {
			rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INTERNAL,
					     PODMAN_NAME ": delete sandbox \"%s\": %s",
					     podman_ref(id, name), err);
			goto cleanup;
		}
	}
	if (*sid) {
		podman_volume_name(sid, vol, sizeof(vol));
		if (podman_volume_remove(p, vol, err, sizeof(err)) != 0) {
			rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_INTERNAL,
					     PODMAN_NAME ": delete sandbox \"%s\": %s",
					     podman_ref(id, name), err);
			goto cleanup;
		}
		if (existed)
			osh_engine_hub_publish_deleted(p->hub, sid);
	}
	Openshell__Compute__V1__DeleteSandboxResponse r =
		OPENSHELL__COMPUTE__V1__DELETE_SANDBOX_RESPONSE__INIT;
	r.deleted = existed;
	rc = osh_engine_reply(&p->host, &r.base, resp, resp_len, message);
cleanup:
	json_decref(entry);
	free(id);
	free(name);
	return rc;
}

/* Workspaces are labels here: nothing to make or remove. */
static int32_t podman_workspace_noop(void *instance, const uint8_t *req, uint64_t len,
				     uint8_t **resp, uint64_t *resp_len, char **message)
{
	return OPENSHELL_STATUS_OK;
}

static const openshell_driver_table_v1 podman_table = {
	.abi_major = OPENSHELL_DRIVER_ABI_MAJOR,
	.struct_size = sizeof(openshell_driver_table_v1),
	.name = PODMAN_NAME,
	.version = PODMAN_VERSION,
	.open = podman_open,
	.close = podman_close,
	.get_capabilities = podman_get_capabilities,
	.get_gateway_listener_requirements = NULL, /* none: UNIMPLEMENTED */
	.validate_sandbox_create = podman_validate,
	.get_sandbox = podman_get,
	.list_sandboxes = podman_list_sandboxes,
	.create_sandbox = podman_create,
	.stop_sandbox = podman_stop,
	.start_sandbox = podman_start,
	.delete_sandbox = podman_delete,
	.watch_sandboxes = podman_watch,
	.ensure_workspace = podman_workspace_noop,
	.delete_workspace = podman_workspace_noop,
};

OPENSHELL_DRIVER_EXPORT const openshell_driver_table_v1 *openshell_driver_v1(void)
{
	return &podman_table;
}
