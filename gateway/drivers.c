/* drivers.c - selecting, loading and calling compute driver plugins. */
#include "config.h"

#include "drivers.h"

#include "compute_driver.pb-c.h"
#include "osh_log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define OSH_REMOTE_PLUGIN "remote-uds"
#define OSH_CONNECT_TIMEOUT_S 30

static void osh_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void osh_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *const osh_rpc_names[OSH_RPC_COUNT] = {
	"GetCapabilities", "GetGatewayListenerRequirements",
	"ValidateSandboxCreate", "GetSandbox",
	"ListSandboxes", "CreateSandbox",
	"StopSandbox", "StartSandbox",
	"DeleteSandbox", "EnsureWorkspace",
	"DeleteWorkspace",
};

const char *osh_rpc_name(osh_rpc rpc)
{
	return rpc < OSH_RPC_COUNT ? osh_rpc_names[rpc] : "?";
}

/* ---- plugin files ---------------------------------------------------- */

void osh_driver_table_copy(openshell_driver_table_v1 *dst, const openshell_driver_table_v1 *src)
{
	size_t n = src->struct_size < sizeof(*dst) ? src->struct_size : sizeof(*dst);
	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, n);
	dst->struct_size = (uint32_t)sizeof(*dst);
}

int osh_plugin_open(const char *path, const openshell_driver_table_v1 **table, char *err,
		    size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		osh_seterr(err, errlen, "plugin %s: %s", path,
			   errno == ENOENT ? "file not found" : strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		osh_seterr(err, errlen, "plugin %s: not a regular file", path);
		return -1;
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		osh_seterr(err, errlen, "plugin %s: not a loadable shared object: %s", path,
			   why ? why : "unknown dlopen error");
		return -1;
	}
	/* Never dlclose: the plugin may have started threads or registered
	 * atexit handlers. */
	openshell_driver_entry_v1 entry;
	*(void **)&entry = dlsym(h, OPENSHELL_DRIVER_ENTRY_V1);
	if (!entry) {
		for (int major = 2; major <= 9; major++) {
			char sym[64];
			snprintf(sym, sizeof(sym), "openshell_driver_v%d", major);
			if (dlsym(h, sym)) {
				osh_seterr(err, errlen,
					   "plugin %s: built for driver ABI major %d, this gateway "
					   "speaks major %d",
					   path, major, OPENSHELL_DRIVER_ABI_MAJOR);
				return -1;
			}
		}
		osh_seterr(err, errlen,
			   "plugin %s: entry symbol %s not found (not an OpenShell driver plugin)",
			   path, OPENSHELL_DRIVER_ENTRY_V1);
		return -1;
	}
	const openshell_driver_table_v1 *t = entry();
	if (!t) {
		osh_seterr(err, errlen, "plugin %s: %s() returned no table", path,
			   OPENSHELL_DRIVER_ENTRY_V1);
		return -1;
	}
	if (t->abi_major != OPENSHELL_DRIVER_ABI_MAJOR) {
		osh_seterr(err, errlen,
			   "plugin %s: table says driver ABI major %u, this gateway speaks major %d",
			   path, t->abi_major, OPENSHELL_DRIVER_ABI_MAJOR);
		return -1;
	}
	if (t->struct_size < OPENSHELL_DRIVER_V1_MIN_SIZE) {
		osh_seterr(err, errlen,
			   "plugin %s: driver table is too small (%u bytes, ABI v1 needs at least "
			   "%zu)",
			   path, t->struct_size, (size_t)OPENSHELL_DRIVER_V1_MIN_SIZE);
		return -1;
	}
	if (!t->open || !t->get_capabilities || !t->name) {
		osh_seterr(err, errlen,
			   "plugin %s: driver table lacks a mandatory slot (name, open, "
			   "get_capabilities)",
			   path);
		return -1;
	}
	*table = t;
	return 0;
}

void osh_drivers_list(FILE *out, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(out, "driver directory %s: %s\n", dir, strerror(errno));
		return;
	}
	struct dirent **names = NULL;
	closedir(d);
	int n = scandir(dir, &names, NULL, alphasort);
	fprintf(out, "driver directory %s\n", dir);
	int found = 0;
	for (int i = 0; i < n; i++) {
		const char *fn = names[i]->d_name;
		size_t len = strlen(fn);
		if (len > 3 && strcmp(fn + len - 3, ".so") == 0) {
			char path[4096], err[1024];
			snprintf(path, sizeof(path), "%s/%s", dir, fn);
			const openshell_driver_table_v1 *t;
			found++;
			if (osh_plugin_open(path, &t, err, sizeof(err)) == 0)
				fprintf(out, "  %-16.*s ABI v%u (table %u bytes)  %s %s  loadable\n",
					(int)(len - 3), fn, t->abi_major, t->struct_size, t->name,
					t->version ? t->version : "");
			else
				fprintf(out, "  %-16.*s not loadable: %s\n", (int)(len - 3), fn, err);
		}
		free(names[i]);
	}
	free(names);
	if (!found)
		fprintf(out, "  (no plugins)\n");
}

/* ---- host services --------------------------------------------------- */

static void osh_host_log(void *ctx, int32_t level, const char *msg)
{
	osh_driver *d = ctx;
	osh_log(level < OSH_LOG_ERROR ? OSH_LOG_ERROR : level > OSH_LOG_DEBUG ? OSH_LOG_DEBUG : level,
		"driver %s: %s", d->name, msg ? msg : "");
}

static const char *osh_host_config_get(void *ctx, const char *key)
{
	osh_driver *d = ctx;
	return osh_driver_section_get(&d->cfg, key);
}

static const char *osh_host_config_key_at(void *ctx, uint32_t index)
{
	osh_driver *d = ctx;
	return index < d->cfg.n ? d->cfg.keys[index] : NULL;
}

static void *osh_host_alloc(uint64_t size)
{
	return malloc(size ? (size_t)size : 1);
}

static void osh_host_free(void *p)
{
	free(p);
}

static void osh_driver_free(osh_driver *d)
{
	if (!d)
		return;
	if (d->instance && d->table.close)
		d->table.close(d->instance);
	osh_driver_section_clear(&d->cfg);
	free(d->name);
	free(d->plugin_path);
	free(d->socket);
	free(d->driver_name);
	free(d->driver_version);
	free(d->default_image);
	free(d);
}

/* ---- calls ----------------------------------------------------------- */

static openshell_unary_fn_v1 osh_driver_slot(const osh_driver *d, osh_rpc rpc)
{
	const openshell_driver_table_v1 *t = &d->table;
	switch (rpc) {
	case OSH_RPC_GET_CAPABILITIES: return t->get_capabilities;
	case OSH_RPC_GET_GATEWAY_LISTENER_REQUIREMENTS: return t->get_gateway_listener_requirements;
	case OSH_RPC_VALIDATE_SANDBOX_CREATE: return t->validate_sandbox_create;
	case OSH_RPC_GET_SANDBOX: return t->get_sandbox;
	case OSH_RPC_LIST_SANDBOXES: return t->list_sandboxes;
	case OSH_RPC_CREATE_SANDBOX: return t->create_sandbox;
	case OSH_RPC_STOP_SANDBOX: return t->stop_sandbox;
	case OSH_RPC_START_SANDBOX: return t->start_sandbox;
	case OSH_RPC_DELETE_SANDBOX: return t->delete_sandbox;
	case OSH_RPC_ENSURE_WORKSPACE: return t->ensure_workspace;
	case OSH_RPC_DELETE_WORKSPACE: return t->delete_workspace;
	default: return NULL;
	}
}

static char *osh_synth_message(const osh_driver *d, const char *what, int code)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "driver %s: %s failed with status %d and no message", d->name,
		 what, code);
	return strdup(buf);
}

int osh_driver_call(osh_driver *d, osh_rpc rpc, const uint8_t *req, size_t req_len,
		    uint8_t **resp, size_t *resp_len, char **msg)
{
	*resp = NULL;
	*resp_len = 0;
	*msg = NULL;
	openshell_unary_fn_v1 fn = osh_driver_slot(d, rpc);
	if (!fn) {
		char buf[256];
		snprintf(buf, sizeof(buf), "driver %s does not implement %s", d->name,
			 osh_rpc_name(rpc));
		*msg = strdup(buf);
		return OPENSHELL_STATUS_UNIMPLEMENTED;
	}
	uint8_t *out = NULL;
	uint64_t out_len = 0;
	char *m = NULL;
	int32_t code = fn(d->instance, req ? req : (const uint8_t *)"", req_len, &out, &out_len, &m);
	if (code == OPENSHELL_STATUS_OK) {
		free(m);
		*resp = out;
		*resp_len = out ? (size_t)out_len : 0;
		return 0;
	}
	free(out);
	if (code < 0 || code > 16)
		code = OPENSHELL_STATUS_UNKNOWN;
	*msg = m && *m ? m : (free(m), osh_synth_message(d, osh_rpc_name(rpc), code));
	return code;
}

int osh_driver_watch(osh_driver *d, const openshell_watch_sink_v1 *sink, char **msg)
{
	*msg = NULL;
	if (!d->table.watch_sandboxes) {
		char buf[256];
		snprintf(buf, sizeof(buf), "driver %s does not implement WatchSandboxes", d->name);
		*msg = strdup(buf);
		return OPENSHELL_STATUS_UNIMPLEMENTED;
	}
	char *m = NULL;
	int32_t code = d->table.watch_sandboxes(d->instance, (const uint8_t *)"", 0, sink, &m);
	if (code == OPENSHELL_STATUS_OK) {
		free(m);
		return 0;
	}
	if (code < 0 || code > 16)
		code = OPENSHELL_STATUS_UNKNOWN;
	*msg = m && *m ? m : (free(m), osh_synth_message(d, "WatchSandboxes", code));
	return code;
}

/* ---- auto-detect ----------------------------------------------------- */

/* The probe of BEHAVIOR.md 1.2, byte for byte: one fixed request on a fresh
 * connection, at most 512 bytes of answer read with a 1 s timeout, and a
 * look at the status line and two header names. It is a liveness check,
 * not an HTTP client (the docker and podman plugins use libcurl for that). */
static int osh_header_present(const char *resp, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(resp, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0)
			return 1;
		if (p[2] == '\r')
			break; /* end of headers */
	}
	return 0;
}

int osh_probe_ping(const char *socket_path, const char *kind)
{
	struct stat st;
	if (!socket_path || stat(socket_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	static const char req[] = "GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	char resp[513];
	size_t got = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return 0;
	}
	while (got < sizeof(resp) - 1) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			break;
	}
	close(fd);
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0 && strncmp(resp, "HTTP/1.0 200", 12) != 0)
		return 0;
	int libpod = osh_header_present(resp, "Libpod-Api-Version:");
	if (strcmp(kind, "podman") == 0)
		return libpod;
	return osh_header_present(resp, "Api-Version:") && !libpod;
}

/* Candidate sockets of BEHAVIOR.md 1.2, in order. Fills up to max paths. */
static size_t osh_candidates(const char *kind, char paths[][4096], size_t max)
{
	size_t n = 0;
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
#define ADD(...)                                                                                 \
	do {                                                                                     \
		if (n < max)                                                                     \
			snprintf(paths[n++], 4096, __VA_ARGS__);                                 \
	} while (0)
	if (strcmp(kind, "podman") == 0) {
		const char *s = getenv("OPENSHELL_PODMAN_SOCKET");
		if (s && *s)
			ADD("%s", s);
		if (xdg && *xdg)
			ADD("%s/podman/podman.sock", xdg);
		struct stat st;
		if (stat("/proc/self", &st) == 0)
			ADD("/run/user/%u/podman/podman.sock", (unsigned)st.st_uid);
		if (home && *home)
			ADD("%s/.local/share/containers/podman/machine/podman.sock", home);
	} else {
		const char *dh = getenv("DOCKER_HOST");
		if (dh && strncmp(dh, "unix://", 7) == 0)
			ADD("%s", dh + 7);
		ADD("/var/run/docker.sock");
		if (home && *home)
			ADD("%s/.docker/run/docker.sock", home);
		if (xdg && *xdg)
			ADD("%s/docker.sock", xdg);
	}
#undef ADD
	return n;
}

/* Auto-detect: kubernetes (in-cluster env), podman, docker; never vm.
 * Returns the name (static) and fills socket (the responding one) or NULL. */
static const char *osh_autodetect(char *socket, size_t socklen)
{
	socket[0] = '\0';
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return "kubernetes";
	static const char *const kinds[] = {"podman", "docker"};
	for (size_t k = 0; k < 2; k++) {
		char paths[4][4096];
		size_t n = osh_candidates(kinds[k], paths, 4);
		for (size_t i = 0; i < n; i++) {
			if (osh_probe_ping(paths[i], kinds[k])) {
				snprintf(socket, socklen, "%s", paths[i]);
				return kinds[k];
			}
		}
	}
	return NULL;
}

/* ---- loading --------------------------------------------------------- */

static int64_t osh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int osh_connect_timeout_s(void)
{
	const char *v = getenv("OPENSHELL_DRIVER_CONNECT_TIMEOUT");
	int s = v ? atoi(v) : 0;
	return s > 0 ? s : OSH_CONNECT_TIMEOUT_S;
}

/* Opens the instance and takes the capability snapshot. For remote drivers
 * an endpoint that is missing or does not answer is retried every 250 ms
 * for up to 30 s. */
static int osh_driver_start(osh_driver *d, const openshell_driver_table_v1 *t, char *err,
			    size_t errlen)
{
	int64_t deadline = osh_now_ms() + (int64_t)osh_connect_timeout_s() * 1000;
	int waited = 0;
	for (;;) {
		int retry = 0;
		char why[1024] = "";
		if (d->socket) {
			struct stat st;
			if (lstat(d->socket, &st) != 0 && errno == ENOENT) {
				snprintf(why, sizeof(why), "socket does not exist");
				retry = 1;
				goto again;
			}
		}
		if (!d->instance) {
			char *m = NULL;
			int32_t code = t->open(&d->host, &d->instance, &m);
			if (code != OPENSHELL_STATUS_OK) {
				d->instance = NULL;
				osh_seterr(err, errlen, "driver %s: plugin %s: open failed: %s",
					   d->name, d->plugin_path,
					   m && *m ? m : "the plugin gave no reason");
				free(m);
				return -1;
			}
			free(m);
		}
		uint8_t *resp;
		size_t resp_len;
		char *msg;
		int code = osh_driver_call(d, OSH_RPC_GET_CAPABILITIES, NULL, 0, &resp, &resp_len,
					   &msg);
		if (code == 0) {
			Openshell__Compute__V1__GetCapabilitiesResponse *caps =
				openshell__compute__v1__get_capabilities_response__unpack(
					NULL, resp_len, resp);
			free(resp);
			if (!caps) {
				osh_seterr(err, errlen,
					   "driver %s: GetCapabilities returned a malformed message",
					   d->name);
				return -1;
			}
			d->driver_name = strdup(caps->driver_name);
			d->driver_version = strdup(caps->driver_version);
			d->default_image = strdup(caps->default_image);
			d->manages_lifecycle = caps->gateway_manages_lifecycle;
			openshell__compute__v1__get_capabilities_response__free_unpacked(caps, NULL);
			return 0;
		}
		snprintf(why, sizeof(why), "%s", msg);
		retry = d->socket && (code == OPENSHELL_STATUS_UNAVAILABLE ||
				      code == OPENSHELL_STATUS_DEADLINE_EXCEEDED);
		free(msg);
		if (!retry) {
			osh_seterr(err, errlen, "driver %s: GetCapabilities failed: %s", d->name,
				   why);
			return -1;
		}
again:
		if (osh_now_ms() >= deadline) {
			osh_seterr(err, errlen,
				   "driver %s: compute driver socket \"%s\" did not answer within "
				   "%d s (%s)",
				   d->name, d->socket, osh_connect_timeout_s(), why);
			return -1;
		}
		if (!waited++)
			osh_info("driver %s: waiting for compute driver socket \"%s\" (%s)",
				 d->name, d->socket, why);
		struct timespec ts = {0, 250 * 1000000};
		nanosleep(&ts, NULL);
	}
}

static osh_driver *osh_driver_new(const char *name, const char *plugin_path, const char *socket,
				  const osh_config *cfg, const char *gateway_id,
				  const char *detected_socket)
{
	osh_driver *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->name = strdup(name);
	d->plugin_path = strdup(plugin_path);
	d->socket = socket ? strdup(socket) : NULL;
	const osh_driver_section *sec = osh_config_driver_section(cfg, name);
	for (size_t i = 0; sec && i < sec->n; i++)
		osh_driver_section_set(&d->cfg, sec->keys[i], sec->values[i]);
	if (socket)
		osh_driver_section_set(&d->cfg, "socket_path", socket);
	else if (detected_socket && !osh_driver_section_get(sec, "socket_path"))
		osh_driver_section_set(&d->cfg, "socket_path", detected_socket);
	osh_driver_section_set(&d->cfg, "gateway_id", gateway_id);
	d->host.abi_major = OPENSHELL_DRIVER_ABI_MAJOR;
	d->host.struct_size = (uint32_t)sizeof(d->host);
	d->host.host_ctx = d;
	d->host.driver_name = d->name;
	d->host.log = osh_host_log;
	d->host.config_get = osh_host_config_get;
	d->host.config_key_at = osh_host_config_key_at;
	d->host.alloc = osh_host_alloc;
	d->host.free = osh_host_free;
	return d;
}

int osh_registry_load(osh_registry *reg, const osh_config *cfg, const char *gateway_id,
		      char *err, size_t errlen)
{
	osh_driver_spec *specs = NULL;
	size_t n = 0;
	char detected[4096] = "";
	int rc = -1;
	memset(reg, 0, sizeof(*reg));
	if (osh_drivers_parse(cfg->drivers, &specs, &n, err, errlen) != 0)
		goto cleanup;
	if (cfg->compute_driver_socket) {
		if (n != 1) {
			osh_seterr(err, errlen,
				   n == 0 ? "--compute-driver-socket needs exactly one driver name "
					    "in --drivers (none given)"
					  : "--compute-driver-socket needs exactly one driver name "
					    "in --drivers (%zu given)",
				   n);
			goto cleanup;
		}
		if (cfg->compute_driver_socket[0] != '/') {
			osh_seterr(err, errlen,
				   "--compute-driver-socket \"%s\" must be an absolute path",
				   cfg->compute_driver_socket);
			goto cleanup;
		}
		if (specs[0].socket) {
			osh_seterr(err, errlen,
				   "driver %s has a socket both in --drivers and in "
				   "--compute-driver-socket; give one",
				   specs[0].name);
			goto cleanup;
		}
		specs[0].socket = strdup(cfg->compute_driver_socket);
	}
	if (n == 0) {
		const char *name = osh_autodetect(detected, sizeof(detected));
		if (!name) {
			osh_seterr(err, errlen,
				   "no compute driver configured and none detected (no "
				   "KUBERNETES_SERVICE_HOST, no Podman or Docker socket answering "
				   "/_ping); choose one with --drivers NAME or OPENSHELL_DRIVERS, "
				   "e.g. --drivers docker or --drivers mydriver@/run/mydriver.sock");
			goto cleanup;
		}
		osh_info("auto-detected compute driver %s%s%s", name, detected[0] ? " on " : "",
			 detected);
		specs = calloc(1, sizeof(*specs));
		if (!specs)
			goto cleanup;
		specs[0].name = strdup(name);
		n = 1;
	}

	reg->drivers = calloc(n, sizeof(osh_driver *));
	if (!reg->drivers)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		const char *name = specs[i].name;
		const char *socket = specs[i].socket;
		char path[4096];
		const osh_driver_section *sec = osh_config_driver_section(cfg, name);
		snprintf(path, sizeof(path), "%s/%s.so", cfg->driver_dir, name);
		struct stat st;
		int have_plugin = stat(path, &st) == 0;
		/* A [openshell.drivers.<name>] socket_path makes a name without a
		 * plugin of its own a remote driver; for an in-process plugin
		 * (docker, podman) it is that plugin's own setting. */
		if (!socket && !have_plugin && osh_driver_section_get(sec, "socket_path"))
			socket = osh_driver_section_get(sec, "socket_path");
		if (socket)
			snprintf(path, sizeof(path), "%s/%s.so", cfg->driver_dir, OSH_REMOTE_PLUGIN);
		const openshell_driver_table_v1 *t;
		char perr[1536];
		if (osh_plugin_open(path, &t, perr, sizeof(perr)) != 0) {
			if (!socket && !have_plugin)
				osh_seterr(err, errlen,
					   "driver %s: %s (no %s.so in %s and no socket_path for "
					   "it; use --drivers %s@/path/to.sock for a driver served "
					   "on a socket)",
					   name, perr, name, cfg->driver_dir, name);
			else
				osh_seterr(err, errlen, "driver %s: %s", name, perr);
			goto cleanup;
		}
		osh_driver *d = osh_driver_new(name, path, socket, cfg, gateway_id,
					       detected[0] ? detected : NULL);
		if (!d) {
			osh_seterr(err, errlen, "out of memory");
			goto cleanup;
		}
		reg->drivers[reg->n++] = d;
		osh_driver_table_copy(&d->table, t);
		if (osh_driver_start(d, t, err, errlen) != 0)
			goto cleanup;
		if (strcmp(d->driver_name, d->name) != 0) {
			if (cfg->strict_driver_names) {
				osh_seterr(err, errlen,
					   "driver %s advertises driver_name \"%s\" "
					   "(--strict-driver-names is set)",
					   d->name, d->driver_name);
				goto cleanup;
			}
		}
		osh_info("driver %s: loaded %s%s%s; advertises driver_name \"%s\" version \"%s\"%s",
			 d->name, d->plugin_path, d->socket ? " on " : "",
			 d->socket ? d->socket : "", d->driver_name, d->driver_version,
			 d->manages_lifecycle ? ", gateway manages lifecycle" : "");
	}
	rc = 0;
cleanup:
	osh_driver_specs_free(specs, n);
	if (rc != 0)
		osh_registry_close(reg);
	return rc;
}

void osh_registry_close(osh_registry *reg)
{
	for (size_t i = 0; i < reg->n; i++)
		osh_driver_free(reg->drivers[i]);
	free(reg->drivers);
	memset(reg, 0, sizeof(*reg));
}

osh_driver *osh_registry_find(const osh_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n; i++)
		if (strcmp(reg->drivers[i]->name, name) == 0)
			return reg->drivers[i];
	return NULL;
}
