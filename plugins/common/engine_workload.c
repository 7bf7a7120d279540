/* engine_workload.c - what a container of a sandbox is given (name,
 * environment, labels), DriverSandbox snapshots, replies and messages in
 * host memory, timestamps, config keys and the engine socket. */
#include "config.h"

#include "engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

/* ---- names -------------------------------------------------------------- */

/* Lower-case, [a-z0-9_.-] kept, others -> '-', leading/trailing '-' trimmed.
 * Returns malloc'd text. */
static char *eng_sanitize(const char *s)
{
	size_t n = strlen(s ? s : "");
	char *o = malloc(n + 1);
	if (!o)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)s[i]);
		o[i] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			c == '-')
			       ? (char)c
			       : '-';
	}
	o[n] = '\0';
	size_t b = 0;
	while (o[b] == '-')
		b++;
	while (n > b && o[n - 1] == '-')
		n--;
	memmove(o, o + b, n - b);
	o[n - b] = '\0';
	return o;
}

size_t osh_engine_container_name(const char *ws, const char *name, const char *id, char *out,
				 size_t outlen)
{
	char *w = eng_sanitize(ws), *nm = eng_sanitize(name), *i = eng_sanitize(id);
	if (!*w) {
		free(w);
		w = strdup("default");
		if (!w)
			abort();
	}
	size_t fixed = strlen("openshell-") + strlen(w) + strlen("--") + strlen("-") + strlen(i);
	size_t nl = strlen(nm);
	if (fixed + nl > OSH_ENGINE_NAME_MAX) {
		nl = fixed < OSH_ENGINE_NAME_MAX ? OSH_ENGINE_NAME_MAX - fixed : 0;
		while (nl && (nm[nl - 1] == '-' || nm[nl - 1] == '.' || nm[nl - 1] == '_'))
			nl--;
		nm[nl] = '\0';
	}
	int n = snprintf(out, outlen, "openshell-%s--%s-%s", w, nm, i);
	free(w);
	free(nm);
	free(i);
	if (n < 0)
		return 0;
	return (size_t)n < outlen ? (size_t)n : outlen ? outlen - 1 : 0;
}

/* ---- environment and labels --------------------------------------------- */

json_t *osh_engine_workload_env(const osh_engine_ds *ds)
{
	json_t *env = json_object();
	const Openshell__Compute__V1__DriverSandboxSpec *spec = ds ? ds->spec : NULL;
	const Openshell__Compute__V1__DriverSandboxTemplate *t = spec ? spec->template_ : NULL;
	for (size_t i = 0; t && i < t->n_environment; i++)
		if (t->environment[i]->key && *t->environment[i]->key)
			json_object_set_new(env, t->environment[i]->key,
					    json_string(t->environment[i]->value
								? t->environment[i]->value
								: ""));
	for (size_t i = 0; spec && i < spec->n_environment; i++)
		if (spec->environment[i]->key && *spec->environment[i]->key)
			json_object_set_new(env, spec->environment[i]->key,
					    json_string(spec->environment[i]->value
								? spec->environment[i]->value
								: ""));
	json_object_set_new(env, "OPENSHELL_SANDBOX_ID", json_string(ds && ds->id ? ds->id : ""));
	json_object_set_new(env, "OPENSHELL_SANDBOX", json_string(ds && ds->name ? ds->name : ""));
	json_object_set_new(
		env, "OPENSHELL_SANDBOX_WORKSPACE",
		json_string(ds && ds->workspace && *ds->workspace ? ds->workspace : "default"));
	return env;
}

static int eng_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *osh_engine_env_list(const json_t *env)
{
	json_t *list = json_array();
	size_t n = json_object_size(env), k = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		abort();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)env, key, v) keys[k++] = key;
	qsort(keys, k, sizeof(*keys), eng_cmp_str);
	for (size_t i = 0; i < k; i++) {
		const char *val = json_string_value(json_object_get(env, keys[i]));
		size_t len = strlen(keys[i]) + strlen(val ? val : "") + 2;
		char *kv = malloc(len);
		if (!kv)
			abort();
		snprintf(kv, len, "%s=%s", keys[i], val ? val : "");
		json_array_append_new(list, json_string(kv));
		free(kv);
	}
	free(keys);
	return list;
}

json_t *osh_engine_workload_labels(const osh_engine_ds *ds, const char *gateway_id)
{
	json_t *l = json_object();
	const Openshell__Compute__V1__DriverSandboxTemplate *t =
		ds && ds->spec ? ds->spec->template_ : NULL;
	for (size_t i = 0; t && i < t->n_labels; i++)
		if (t->labels[i]->key && *t->labels[i]->key)
			json_object_set_new(
				l, t->labels[i]->key,
				json_string(t->labels[i]->value ? t->labels[i]->value : ""));
	json_object_set_new(l, OSH_LABEL_MANAGED_BY, json_string(OSH_LABEL_MANAGED_BY_VALUE));
	json_object_set_new(l, OSH_LABEL_SANDBOX_ID, json_string(ds && ds->id ? ds->id : ""));
	json_object_set_new(l, OSH_LABEL_SANDBOX_NAME, json_string(ds && ds->name ? ds->name : ""));
	json_object_set_new(
		l, OSH_LABEL_WORKSPACE,
		json_string(ds && ds->workspace && *ds->workspace ? ds->workspace : "default"));
	if (gateway_id && *gateway_id)
		json_object_set_new(l, OSH_LABEL_GATEWAY_ID, json_string(gateway_id));
	else
		json_object_del(l, OSH_LABEL_GATEWAY_ID);
	return l;
}

/* ---- time --------------------------------------------------------------- */

static void eng_format_ms(char *buf, size_t len, time_t sec, long ms)
{
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void osh_engine_time_now(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	eng_format_ms(buf, len, ts.tv_sec, ts.tv_nsec / 1000000);
}

int osh_engine_time_normalize(const char *in, char *buf, size_t len)
{
	struct tm tm;
	int n = 0;
	memset(&tm, 0, sizeof(tm));
	if (!in ||
	    sscanf(in, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    tm.tm_year <= 1)
		return -1;
	const char *p = in + n;
	long ms = 0, scale = 100;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2)
			return -1;
		offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 1 + k;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm) - offset;
	eng_format_ms(buf, len, t, ms);
	return 0;
}

/* ---- snapshots ---------------------------------------------------------- */

static char *eng_dup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

static void *eng_alloc(size_t n)
{
	void *p = calloc(1, n);
	if (!p)
		abort();
	return p;
}

osh_engine_ds *osh_engine_snapshot_new(const osh_engine_snapshot_args *a)
{
	osh_engine_ds *ds = eng_alloc(sizeof(*ds));
	openshell__compute__v1__driver_sandbox__init(ds);
	ds->id = eng_dup(a->id);
	ds->name = eng_dup(a->name);
	ds->namespace_ = eng_dup("");
	ds->workspace = eng_dup(a->workspace);
	Openshell__Compute__V1__DriverSandboxStatus *st = eng_alloc(sizeof(*st));
	openshell__compute__v1__driver_sandbox_status__init(st);
	st->sandbox_name = eng_dup(a->sandbox_name);
	st->instance_id = eng_dup(a->instance_id);
	st->agent_fd = eng_dup("");
	st->sandbox_fd = eng_dup("");
	st->deleting = a->deleting ? 1 : 0;
	Openshell__Compute__V1__DriverCondition *c = eng_alloc(sizeof(*c));
	openshell__compute__v1__driver_condition__init(c);
	c->type = eng_dup("Ready");
	c->status = eng_dup(a->status ? a->status : "Unknown");
	c->reason = eng_dup(a->reason);
	c->message = eng_dup(a->message);
	if (a->last_transition_time && *a->last_transition_time) {
		c->last_transition_time = eng_dup(a->last_transition_time);
	} else {
		char now[64];
		osh_engine_time_now(now, sizeof(now));
		c->last_transition_time = eng_dup(now);
	}
	st->conditions = eng_alloc(sizeof(*st->conditions));
	st->conditions[0] = c;
	st->n_conditions = 1;
	ds->status = st;
	return ds;
}

void osh_engine_ds_free(osh_engine_ds *ds)
{
	if (ds)
		protobuf_c_message_free_unpacked(&ds->base, NULL);
}

const Openshell__Compute__V1__DriverCondition *osh_engine_ds_ready(const osh_engine_ds *ds)
{
	for (size_t i = 0; ds && ds->status && i < ds->status->n_conditions; i++)
		if (strcmp(ds->status->conditions[i]->type, "Ready") == 0)
			return ds->status->conditions[i];
	return NULL;
}

/* ---- replies and messages ----------------------------------------------- */

static char *eng_vmsg(const openshell_host_v1 *host, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !host || !host->alloc)
		return NULL;
	char *m = host->alloc((uint64_t)n + 1);
	if (m)
		vsnprintf(m, (size_t)n + 1, fmt, ap);
	return m;
}

char *osh_engine_msg(const openshell_host_v1 *host, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = eng_vmsg(host, fmt, ap);
	va_end(ap);
	return m;
}

int32_t osh_engine_fail(const openshell_host_v1 *host, char **message, int32_t code,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = eng_vmsg(host, fmt, ap);
	va_end(ap);
	if (message) {
		*message = m; /* the ABI hands slots a NULL *message */
	} else if (m && host->free) {
		host->free(m);
	}
	return code;
}

void osh_engine_log(const openshell_host_v1 *host, int32_t level, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	if (!host || !host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	host->log(host->host_ctx, level, buf);
}

int32_t osh_engine_reply(const openshell_host_v1 *host, const ProtobufCMessage *m, uint8_t **out,
			 uint64_t *out_len, char **message)
{
	*out = NULL;
	*out_len = 0;
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n == 0)
		return OPENSHELL_STATUS_OK;
	uint8_t *buf = host->alloc(n);
	if (!buf)
		return osh_engine_fail(host, message, OPENSHELL_STATUS_RESOURCE_EXHAUSTED,
				       "out of memory for a %zu-byte response", n);
	protobuf_c_message_pack(m, buf);
	*out = buf;
	*out_len = n;
	return OPENSHELL_STATUS_OK;
}

int32_t osh_engine_decode_ref(const openshell_host_v1 *host, const char *plugin, const uint8_t *req,
			      uint64_t len, char **id, char **name, char **message)
{
	*id = *name = NULL;
	Openshell__Compute__V1__GetSandboxRequest *r =
		openshell__compute__v1__get_sandbox_request__unpack(NULL, (size_t)len, req);
	if (!r)
		return osh_engine_fail(host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       "%s: the request could not be decoded", plugin);
	if (!*r->sandbox_id && !*r->sandbox_name) {
		openshell__compute__v1__get_sandbox_request__free_unpacked(r, NULL);
		return osh_engine_fail(host, message, OPENSHELL_STATUS_INVALID_ARGUMENT,
				       "%s: sandbox_id or sandbox_name is required", plugin);
	}
	*id = eng_dup(r->sandbox_id);
	*name = eng_dup(r->sandbox_name);
	openshell__compute__v1__get_sandbox_request__free_unpacked(r, NULL);
	return OPENSHELL_STATUS_OK;
}

/* ---- config ------------------------------------------------------------- */

int osh_engine_config_check(const openshell_host_v1 *h, const char *plugin,
			    const char *const *known, char *err, size_t errlen)
{
	const char *key;
	if (!h->config_key_at)
		return 0;
	for (uint32_t i = 0; (key = h->config_key_at(h->host_ctx, i)); i++) {
		int ok = strcmp(key, "gateway_id") == 0;
		for (size_t k = 0; !ok && known[k]; k++)
			ok = strcmp(key, known[k]) == 0;
		if (ok)
			continue;
		size_t o =
			(size_t)snprintf(err, errlen,
					 "%s: unknown config key \"%s\" in [openshell.drivers.%s] "
					 "(known keys:",
					 plugin, key, h->driver_name ? h->driver_name : plugin);
		for (size_t k = 0; known[k] && o < errlen; k++)
			o += (size_t)snprintf(err + o, errlen - o, "%s %s", k ? "," : "", known[k]);
		if (o < errlen)
			snprintf(err + o, errlen - o, ")");
		return -1;
	}
	return 0;
}

const char *osh_engine_config_get(const openshell_host_v1 *h, const char *key)
{
	const char *v = h->config_get ? h->config_get(h->host_ctx, key) : NULL;
	return v && *v ? v : NULL;
}

int osh_engine_config_bool(const openshell_host_v1 *h, const char *plugin, const char *key, int def,
			   int *out, char *err, size_t errlen)
{
	const char *v = osh_engine_config_get(h, key);
	*out = def;
	if (!v)
		return 0;
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: config key %s: \"%s\" is not a boolean (true or false)", plugin,
		 key, v);
	return -1;
}

int osh_engine_config_int(const openshell_host_v1 *h, const char *plugin, const char *key,
			  long long min, long long max, long long def, long long *out, char *err,
			  size_t errlen)
{
	const char *v = osh_engine_config_get(h, key);
	*out = def;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		snprintf(err, errlen,
			 "%s: config key %s: \"%s\" is not an integer from %lld to %lld", plugin,
			 key, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

int osh_engine_socket_resolve(const char *configured, const char *env_name, const char *fallback,
			      char *out, size_t outlen, char *err, size_t errlen)
{
	const char *p = NULL, *from = NULL;
	if (configured && *configured) {
		p = configured;
		from = "socket_path";
		if (strncmp(p, "unix://", 7) == 0)
			p += 7;
		else if (strstr(p, "://")) {
			snprintf(err, errlen,
				 "socket_path \"%s\" is not a Unix socket (unix:///path)",
				 configured);
			return -1;
		}
	} else {
		const char *env = env_name ? getenv(env_name) : NULL;
		if (env && strncmp(env, "unix://", 7) == 0 && env[7]) {
			p = env + 7;
			from = env_name;
		} else {
			p = fallback;
			from = "the default";
		}
	}
	if (!p || p[0] != '/') {
		snprintf(err, errlen, "engine socket \"%s\" (from %s) is not an absolute path",
			 p ? p : "", from);
		return -1;
	}
	if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path) || strlen(p) >= outlen) {
		snprintf(err, errlen,
			 "engine socket \"%s\" (from %s) is longer than a Unix socket path may be "
			 "(%zu bytes)",
			 p, from, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	snprintf(out, outlen, "%s", p);
	return 0;
}
