/* validate.c - request validation for the public gateway API (BEHAVIOR 1.7, 1.8),
 * label selectors, sandbox name and UUID generation. See validate.h. */
#include "config.h"

#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "openshell/driver.h"
#include "osh_log.h"

/* All generated map-entry structs (map<string,string>) share this layout. */
struct osh_kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

#define INVALID(...) fail(OPENSHELL_STATUS_INVALID_ARGUMENT, err, errlen, __VA_ARGS__)

/* A user-supplied key made safe for a message: non-printable bytes, '"' and
 * '\' escaped, at most 64 source bytes followed by "...". */
struct quoted {
	char s[64 * 4 + 8];
};

static struct quoted q(const char *src)
{
	struct quoted out;
	size_t o = 0, i;
	for (i = 0; src[i] && i < 64; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '"' || c == '\\') {
			out.s[o++] = '\\';
			out.s[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(out.s + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			out.s[o++] = (char)c;
		}
	}
	if (src[i]) {
		memcpy(out.s + o, "...", 3);
		o += 3;
	}
	out.s[o] = '\0';
	return out;
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* DNS-1123 label with our extra "no --" rule; field names the thing. */
static int check_dns_label(const char *field, const char *s, size_t max, char *err, size_t errlen)
{
	size_t len = strlen(s);
	if (len > max)
		return INVALID("%s \"%s\" is too long (%zu > %zu bytes)", field, q(s).s, len, max);
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return INVALID("%s \"%s\" is invalid: it may contain only lowercase letters, "
				       "digits and '-'",
				       field, q(s).s);
	if (s[0] == '-' || s[len - 1] == '-')
		return INVALID("%s \"%s\" is invalid: it must not start or end with '-'", field,
			       q(s).s);
	if (strstr(s, "--"))
		return INVALID("%s \"%s\" is invalid: it must not contain \"--\"", field, q(s).s);
	return OPENSHELL_STATUS_OK;
}

int osh_validate_sandbox_name(const char *name, char *err, size_t errlen)
{
	if (!name || !*name)
		return INVALID("name is required");
	return check_dns_label("name", name, OSH_MAX_SANDBOX_NAME_LEN, err, errlen);
}

int osh_validate_workspace(const char *ws, char *err, size_t errlen)
{
	if (!ws || !*ws)
		return OPENSHELL_STATUS_OK;
	return check_dns_label("workspace", ws, OSH_MAX_WORKSPACE_LEN, err, errlen);
}

/* ---- labels ---- */

/* what: "label key", "labels key", "annotations key", "label selector key". */
static int check_label_key(const char *what, const char *k, char *err, size_t errlen)
{
	if (!k || !*k)
		return INVALID("%s must not be empty", what);
	size_t len = strlen(k);
	if (len > OSH_MAX_LABEL_KEY_LEN)
		return INVALID("%s \"%s\" is too long (%zu > %d bytes)", what, q(k).s, len,
			       OSH_MAX_LABEL_KEY_LEN);
	const char *slash = strchr(k, '/');
	const char *name = slash ? slash + 1 : k;
	size_t nlen = strlen(name);
	if (nlen == 0)
		return INVALID("%s \"%s\" is invalid: the name part must not be empty", what,
			       q(k).s);
	if (nlen > OSH_MAX_LABEL_NAME_LEN)
		return INVALID("%s \"%s\" is invalid: the name part is longer than %d bytes", what,
			       q(k).s, OSH_MAX_LABEL_NAME_LEN);
	for (size_t i = 0; i < nlen; i++)
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
			return INVALID("%s \"%s\" is invalid: the name part may contain only "
				       "letters, digits, '-', '_' and '.'",
				       what, q(k).s);
	if (!is_alnum(name[0]) || !is_alnum(name[nlen - 1]))
		return INVALID("%s \"%s\" is invalid: the name part must start and end with a "
			       "letter or digit",
			       what, q(k).s);
	if (slash) {
		size_t plen = (size_t)(slash - k);
		if (plen == 0)
			return INVALID("%s \"%s\" is invalid: the prefix before '/' must not be "
				       "empty",
				       what, q(k).s);
		for (size_t i = 0; i < plen; i++)
			if (!is_lower_alnum(k[i]) && k[i] != '-' && k[i] != '.')
				return INVALID("%s \"%s\" is invalid: the prefix may contain only "
					       "lowercase letters, digits, '-' and '.'",
					       what, q(k).s);
		if (k[0] == '-' || k[0] == '.' || k[plen - 1] == '-' || k[plen - 1] == '.')
			return INVALID("%s \"%s\" is invalid: the prefix must not start or end "
				       "with '-' or '.'",
				       what, q(k).s);
		for (size_t i = 0; i + 1 < plen; i++)
			if (k[i] == '.' && k[i + 1] == '.')
				return INVALID("%s \"%s\" is invalid: the prefix must not contain "
					       "\"..\"",
					       what, q(k).s);
	}
	return OPENSHELL_STATUS_OK;
}

static int check_label_value(const char *what, const char *v, char *err, size_t errlen)
{
	if (!v || !*v)
		return OPENSHELL_STATUS_OK;
	size_t len = strlen(v);
	if (len > OSH_MAX_LABEL_VALUE_LEN)
		return INVALID("%s \"%s\" is too long (%zu > %d bytes)", what, q(v).s, len,
			       OSH_MAX_LABEL_VALUE_LEN);
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
			return INVALID("%s \"%s\" is invalid: it may contain only letters, digits, "
				       "'-', '_' and '.'",
				       what, q(v).s);
	if (!is_alnum(v[0]) || !is_alnum(v[len - 1]))
		return INVALID("%s \"%s\" is invalid: it must start and end with a letter or "
			       "digit",
			       what, q(v).s);
	return OPENSHELL_STATUS_OK;
}

int osh_validate_label_key(const char *k, char *err, size_t errlen)
{
	return check_label_key("label key", k, err, errlen);
}

int osh_validate_label_value(const char *v, char *err, size_t errlen)
{
	return check_label_value("label value", v, err, errlen);
}

/* ---- label selector ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Trimmed copy of [b, e). */
static char *dup_trim(const char *b, const char *e)
{
	while (b < e && is_space(*b))
		b++;
	while (e > b && is_space(e[-1]))
		e--;
	char *s = malloc((size_t)(e - b) + 1);
	if (!s)
		return NULL;
	memcpy(s, b, (size_t)(e - b));
	s[e - b] = '\0';
	return s;
}

void osh_label_selector_free(char **keys, char **values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (keys)
			free(keys[i]);
		if (values)
			free(values[i]);
	}
	free(keys);
	free(values);
}

int osh_parse_label_selector(const char *sel, char ***keys, char ***values, size_t *n,
			     char *err, size_t errlen)
{
	char **ks = NULL, **vs = NULL, *pair = NULL;
	size_t count = 0;
	int rc = OPENSHELL_STATUS_OK;

	*keys = NULL;
	*values = NULL;
	*n = 0;
	if (!sel)
		return OPENSHELL_STATUS_OK;

	ks = calloc(OSH_MAX_SELECTOR_PAIRS, sizeof(*ks));
	vs = calloc(OSH_MAX_SELECTOR_PAIRS, sizeof(*vs));
	if (!ks || !vs) {
		rc = fail(OPENSHELL_STATUS_RESOURCE_EXHAUSTED, err, errlen, "out of memory");
		goto cleanup;
	}

	for (const char *p = sel;;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		free(pair);
		pair = dup_trim(p, end);
		if (!pair) {
			rc = fail(OPENSHELL_STATUS_RESOURCE_EXHAUSTED, err, errlen, "out of memory");
			goto cleanup;
		}
		if (*pair) {
			if (count == OSH_MAX_SELECTOR_PAIRS) {
				rc = INVALID("label selector has more than %d pairs",
					     OSH_MAX_SELECTOR_PAIRS);
				goto cleanup;
			}
			char *eq = strchr(pair, '=');
			if (!eq) {
				rc = INVALID("label selector pair \"%s\" is invalid: expected "
					     "key=value",
					     q(pair).s);
				goto cleanup;
			}
			char *k = dup_trim(pair, eq);
			char *v = dup_trim(eq + 1, eq + 1 + strlen(eq + 1));
			ks[count] = k;
			vs[count] = v;
			count++;
			if (!k || !v) {
				rc = fail(OPENSHELL_STATUS_RESOURCE_EXHAUSTED, err, errlen,
					  "out of memory");
				goto cleanup;
			}
			if (!*k) {
				rc = INVALID("label selector pair \"%s\" is invalid: the key must not "
					     "be empty",
					     q(pair).s);
				goto cleanup;
			}
			rc = check_label_key("label selector key", k, err, errlen);
			if (rc == OPENSHELL_STATUS_OK)
				rc = check_label_value("label selector value", v, err, errlen);
			if (rc != OPENSHELL_STATUS_OK)
				goto cleanup;
		}
		if (!*end)
			break;
		p = end + 1;
	}

	if (count == 0) {
		free(ks);
		free(vs);
		ks = vs = NULL;
	}
	*keys = ks;
	*values = vs;
	*n = count;
	ks = vs = NULL;
	count = 0;

cleanup:
	free(pair);
	osh_label_selector_free(ks, vs, count);
	return rc;
}

/* ---- CreateSandbox ---- */

static int check_string_map(const char *field, size_t n, void *const *entries, char *err,
			    size_t errlen)
{
	if (n > OSH_MAX_MAP_ENTRIES)
		return INVALID("%s has too many entries (%zu > %d)", field, n, OSH_MAX_MAP_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		const struct osh_kv *e = entries[i];
		const char *k = str_or_empty(e->key), *v = str_or_empty(e->value);
		size_t kl = strlen(k), vl = strlen(v);
		if (kl > OSH_MAX_MAP_KEY_LEN)
			return INVALID("%s key \"%s\" is too long (%zu > %d bytes)", field, q(k).s,
				       kl, OSH_MAX_MAP_KEY_LEN);
		if (vl > OSH_MAX_MAP_VALUE_LEN)
			return INVALID("%s value for key \"%s\" is too long (%zu > %d bytes)",
				       field, q(k).s, vl, OSH_MAX_MAP_VALUE_LEN);
	}
	return OPENSHELL_STATUS_OK;
}

static int is_env_key(const char *k)
{
	if (!((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
		return 0;
	for (size_t i = 1; k[i]; i++)
		if (!is_alnum(k[i]) && k[i] != '_')
			return 0;
	return 1;
}

static int check_env(const char *field, size_t n, void *const *entries, char *err, size_t errlen)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct osh_kv *e = entries[i];
		total += strlen(str_or_empty(e->key)) + strlen(str_or_empty(e->value));
	}
	if (total > OSH_MAX_ENV_TOTAL_SIZE)
		return INVALID("%s total size is too large (%zu > %d bytes)", field, total,
			       OSH_MAX_ENV_TOTAL_SIZE);
	for (size_t i = 0; i < n; i++) {
		const struct osh_kv *e = entries[i];
		const char *k = str_or_empty(e->key), *v = str_or_empty(e->value);
		if (!is_env_key(k))
			return INVALID("%s key \"%s\" is invalid: must match [A-Za-z_][A-Za-z0-9_]*",
				       field, q(k).s);
		if (strncmp(k, "OPENSHELL_", 10) == 0)
			return INVALID("%s key \"%s\" is reserved: keys starting with OPENSHELL_ are "
				       "set by the gateway",
				       field, q(k).s);
		if (strpbrk(v, "\r\n"))
			return INVALID("%s value for key \"%s\" must not contain CR or LF "
				       "characters",
				       field, q(k).s);
	}
	return OPENSHELL_STATUS_OK;
}

static int check_template_string(const char *field, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(str_or_empty(s));
	if (len > OSH_MAX_TEMPLATE_STRING_LEN)
		return INVALID("%s is too long (%zu > %d bytes)", field, len,
			       OSH_MAX_TEMPLATE_STRING_LEN);
	return OPENSHELL_STATUS_OK;
}

static int check_struct_size(const char *field, const ProtobufCMessage *m, char *err,
			     size_t errlen)
{
	if (!m)
		return OPENSHELL_STATUS_OK;
	size_t size = protobuf_c_message_get_packed_size(m);
	if (size > OSH_MAX_TEMPLATE_STRUCT_SIZE)
		return INVALID("%s serialized size is too large (%zu > %d bytes)", field, size,
			       OSH_MAX_TEMPLATE_STRUCT_SIZE);
	return OPENSHELL_STATUS_OK;
}

static int check_template(const Openshell__V1__SandboxTemplate *t, char *err, size_t errlen)
{
	int rc;
	if ((rc = check_template_string("spec.template.image", t->image, err, errlen)) ||
	    (rc = check_template_string("spec.template.runtime_class_name", t->runtime_class_name,
					err, errlen)) ||
	    (rc = check_template_string("spec.template.agent_socket", t->agent_socket, err,
					errlen)) ||
	    (rc = check_string_map("spec.template.labels", t->n_labels, (void *const *)t->labels,
				   err, errlen)) ||
	    (rc = check_string_map("spec.template.annotations", t->n_annotations,
				   (void *const *)t->annotations, err, errlen)) ||
	    (rc = check_string_map("spec.template.environment", t->n_environment,
				   (void *const *)t->environment, err, errlen)) ||
	    (rc = check_struct_size("spec.template.resources", (const ProtobufCMessage *)t->resources, err,
				    errlen)) ||
	    (rc = check_struct_size("spec.template.driver_config", (const ProtobufCMessage *)t->driver_config, err,
				    errlen)) ||
	    (rc = check_env("spec.template.environment", t->n_environment,
			    (void *const *)t->environment, err, errlen)))
		return rc;
	return OPENSHELL_STATUS_OK;
}

static int check_command(const Openshell__V1__SandboxSpec *spec, char *err, size_t errlen)
{
	if (spec->n_command == 0)
		return OPENSHELL_STATUS_OK;
	if (spec->n_command > OSH_MAX_COMMAND_ARGS)
		return INVALID("spec.command has too many arguments (%zu > %d)", spec->n_command,
			       OSH_MAX_COMMAND_ARGS);
	if (!spec->command[0] || !spec->command[0][0])
		return INVALID("spec.command[0] must not be empty");
	size_t total = 0;
	for (size_t i = 0; i < spec->n_command; i++)
		total += strlen(str_or_empty(spec->command[i]));
	if (total > OSH_MAX_COMMAND_TOTAL_SIZE)
		return INVALID("spec.command total size is too large (%zu > %d bytes)", total,
			       OSH_MAX_COMMAND_TOTAL_SIZE);
	for (size_t i = 0; i < spec->n_command; i++) {
		size_t len = strlen(str_or_empty(spec->command[i]));
		if (len > OSH_MAX_COMMAND_ARG_LEN)
			return INVALID("spec.command[%zu] is too long (%zu > %d bytes)", i, len,
				       OSH_MAX_COMMAND_ARG_LEN);
	}
	return OPENSHELL_STATUS_OK;
}

/* Decode a varint; returns bytes used or 0 if malformed/truncated. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < len && i < 10; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return 0;
}

/* SandboxSpec.policy (field 7) is not in our .proto; it rides along as an
 * unknown field whose data is the length prefix plus the encoded policy. */
static int check_policy_size(const Openshell__V1__SandboxSpec *spec, char *err, size_t errlen)
{
	for (unsigned i = 0; i < spec->base.n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &spec->base.unknown_fields[i];
		uint64_t size;
		if (u->tag != 7 || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		if (!read_varint(u->data, u->len, &size))
			size = u->len;
		if (size > OSH_MAX_POLICY_SIZE)
			return INVALID("spec.policy serialized size is too large (%llu > %d bytes)",
				       (unsigned long long)size, OSH_MAX_POLICY_SIZE);
	}
	return OPENSHELL_STATUS_OK;
}

static int check_spec(const Openshell__V1__SandboxSpec *spec, char *err, size_t errlen)
{
	int rc;
	if (spec->n_providers > OSH_MAX_PROVIDERS)
		return INVALID("spec.providers has too many entries (%zu > %d)", spec->n_providers,
			       OSH_MAX_PROVIDERS);
	size_t ll = strlen(str_or_empty(spec->log_level));
	if (ll > OSH_MAX_LOG_LEVEL_LEN)
		return INVALID("spec.log_level is too long (%zu > %d bytes)", ll,
			       OSH_MAX_LOG_LEVEL_LEN);
	if ((rc = check_string_map("spec.environment", spec->n_environment,
				   (void *const *)spec->environment, err, errlen)) ||
	    (rc = check_env("spec.environment", spec->n_environment,
			    (void *const *)spec->environment, err, errlen)))
		return rc;
	if (spec->template_ && (rc = check_template(spec->template_, err, errlen)))
		return rc;
	if (spec->resource_requirements && spec->resource_requirements->gpu &&
	    spec->resource_requirements->gpu->opt_count_case ==
		    OPENSHELL__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT &&
	    spec->resource_requirements->gpu->count == 0)
		return INVALID("gpu count must be greater than 0");
	if ((rc = check_command(spec, err, errlen)) || (rc = check_policy_size(spec, err, errlen)))
		return rc;
	return OPENSHELL_STATUS_OK;
}

static int check_request_labels(const Openshell__V1__CreateSandboxRequest *req, char *err,
				size_t errlen)
{
	char what[128];
	if (req->n_labels > OSH_MAX_MAP_ENTRIES)
		return INVALID("labels has too many entries (%zu > %d)", req->n_labels,
			       OSH_MAX_MAP_ENTRIES);
	for (size_t i = 0; i < req->n_labels; i++) {
		const char *k = str_or_empty(req->labels[i]->key);
		int rc = check_label_key("labels key", k, err, errlen);
		if (rc)
			return rc;
		snprintf(what, sizeof(what), "labels value for key \"%s\"", q(k).s);
		if ((rc = check_label_value(what, str_or_empty(req->labels[i]->value), err, errlen)))
			return rc;
	}
	if (req->n_annotations > OSH_MAX_MAP_ENTRIES)
		return INVALID("annotations has too many entries (%zu > %d)", req->n_annotations,
			       OSH_MAX_MAP_ENTRIES);
	for (size_t i = 0; i < req->n_annotations; i++) {
		const char *k = str_or_empty(req->annotations[i]->key);
		int rc = check_label_key("annotations key", k, err, errlen);
		if (rc)
			return rc;
		size_t vl = strlen(str_or_empty(req->annotations[i]->value));
		if (vl > OSH_MAX_MAP_VALUE_LEN)
			return INVALID("annotations value for key \"%s\" is too long (%zu > %d "
				       "bytes)",
				       q(k).s, vl, OSH_MAX_MAP_VALUE_LEN);
	}
	return OPENSHELL_STATUS_OK;
}

int osh_validate_create_request(const Openshell__V1__CreateSandboxRequest *req, char *err,
				size_t errlen)
{
	int rc;
	if (!req || !req->spec)
		return INVALID("spec is required");
	if (req->name && *req->name &&
	    (rc = check_dns_label("name", req->name, OSH_MAX_SANDBOX_NAME_LEN, err, errlen)))
		return rc;
	if ((rc = check_spec(req->spec, err, errlen)) ||
	    (rc = check_request_labels(req, err, errlen)) ||
	    (rc = osh_validate_workspace(req->workspace, err, errlen)))
		return rc;
	if (req->spec->n_providers > 0)
		return fail(OPENSHELL_STATUS_FAILED_PRECONDITION, err, errlen,
			    "providers are not supported");
	return OPENSHELL_STATUS_OK;
}

/* ---- wire scan for NUL bytes in strings ---- */

#define WIRE_MAX_DEPTH 100

static int is_map_entry(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t nl;
	if (f->label != PROTOBUF_C_LABEL_REPEATED || !d || d->n_fields != 2)
		return 0;
	nl = strlen(d->short_name);
	return nl > 5 && strcmp(d->short_name + nl - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

struct wire_ctx {
	char *err;
	size_t errlen;
};

static int wire_scan(struct wire_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		     size_t len, const char *path, int map_entry, int depth);

static int wire_malformed(struct wire_ctx *c)
{
	return fail(OPENSHELL_STATUS_INVALID_ARGUMENT, c->err, c->errlen,
		    "request could not be decoded");
}

/* In a map entry, find the string key (field 1) for messages. */
static void wire_entry_key(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	size_t off = 0;
	out[0] = '\0';
	while (off < len) {
		uint64_t tag, l;
		size_t n = read_varint(p + off, len - off, &tag);
		if (!n)
			return;
		off += n;
		if ((tag & 7) != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
			if ((tag & 7) == PROTOBUF_C_WIRE_TYPE_VARINT) {
				n = read_varint(p + off, len - off, &l);
				if (!n)
					return;
				off += n;
				continue;
			}
			return;
		}
		n = read_varint(p + off, len - off, &l);
		if (!n || l > len - off - n)
			return;
		off += n;
		if ((tag >> 3) == 1 && !memchr(p + off, 0, l)) {
			size_t cp = l < outlen - 1 ? l : outlen - 1;
			memcpy(out, p + off, cp);
			out[cp] = '\0';
		}
		off += l;
	}
}

static int wire_scan(struct wire_ctx *c, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		     size_t len, const char *path, int map_entry, int depth)
{
	size_t off = 0;
	unsigned *counts = NULL;
	int rc = OPENSHELL_STATUS_OK;
	char entry_key[80];

	if (depth > WIRE_MAX_DEPTH)
		return fail(OPENSHELL_STATUS_INVALID_ARGUMENT, c->err, c->errlen,
			    "request is nested too deeply");
	if (map_entry)
		wire_entry_key(p, len, entry_key, sizeof(entry_key));
	counts = calloc(d->n_fields ? d->n_fields : 1, sizeof(*counts));
	if (!counts)
		return fail(OPENSHELL_STATUS_RESOURCE_EXHAUSTED, c->err, c->errlen,
			    "out of memory");

	while (off < len) {
		uint64_t tag, v;
		size_t n = read_varint(p + off, len - off, &tag);
		if (!n || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX) {
			rc = wire_malformed(c);
			goto cleanup;
		}
		off += n;
		switch (tag & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			n = read_varint(p + off, len - off, &v);
			if (!n) {
				rc = wire_malformed(c);
				goto cleanup;
			}
			off += n;
			continue;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (len - off < 8) {
				rc = wire_malformed(c);
				goto cleanup;
			}
			off += 8;
			continue;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (len - off < 4) {
				rc = wire_malformed(c);
				goto cleanup;
			}
			off += 4;
			continue;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			break;
		default:
			rc = wire_malformed(c);
			goto cleanup;
		}
		n = read_varint(p + off, len - off, &v);
		if (!n || v > len - off - n) {
			rc = wire_malformed(c);
			goto cleanup;
		}
		off += n;
		const uint8_t *payload = p + off;
		size_t plen = (size_t)v;
		off += plen;

		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
		if (!f)
			continue;
		size_t fi = (size_t)(f - d->fields);
		unsigned idx = counts[fi]++;
		char sub[512];
		if (map_entry && fi == 1 && entry_key[0])
			snprintf(sub, sizeof(sub), "%s[\"%s\"]", path, q(entry_key).s);
		else if (map_entry)
			snprintf(sub, sizeof(sub), "%s %s", path, f->name);
		else if (f->label == PROTOBUF_C_LABEL_REPEATED && !is_map_entry(f))
			snprintf(sub, sizeof(sub), "%s%s%s[%u]", path, *path ? "." : "", f->name,
				 idx);
		else
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f->name);

		if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (memchr(payload, 0, plen)) {
				rc = fail(OPENSHELL_STATUS_INVALID_ARGUMENT, c->err, c->errlen,
					  "%s contains a NUL byte", sub);
				goto cleanup;
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor) {
			rc = wire_scan(c, f->descriptor, payload, plen, sub, is_map_entry(f),
				       depth + 1);
			if (rc)
				goto cleanup;
		}
	}

cleanup:
	free(counts);
	return rc;
}

int osh_validate_wire_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			      size_t len, char *err, size_t errlen)
{
	struct wire_ctx c = {err, errlen};
	if (!data && len)
		return wire_malformed(&c);
	return wire_scan(&c, desc, data, len, "", 0, 0);
}

/* ---- random names and ids ---- */

static void random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += r;
		n -= (size_t)r;
	}
	if (n == 0)
		return;
	/* getrandom() unavailable: /dev/urandom, else a clock-seeded generator. */
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (n > 0) {
			ssize_t r = read(fd, p, n);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				break;
			}
			p += r;
			n -= (size_t)r;
		}
		close(fd);
	}
	if (n == 0)
		return;
	osh_warn("no system randomness available; using a clock-seeded generator");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() ^
		     (uint64_t)(uintptr_t)buf;
	while (n-- > 0) {
		x += 0x9e3779b97f4a7c15ULL;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		*p++ = (uint8_t)(z ^ (z >> 31));
	}
}

/* Uniform in [0, n) by rejection sampling. */
static uint32_t random_below(uint32_t n)
{
	uint32_t limit = UINT32_MAX - UINT32_MAX % n, r;
	do
		random_bytes(&r, sizeof(r));
	while (r >= limit);
	return r % n;
}

/* Lowercase ASCII, at most 9 letters each, so "adj-noun" is <= 19 bytes. */
static const char *const osh_adjectives[] = {
	"able",	  "amber",  "ample",  "bold",	"brave",  "brisk",  "calm",   "clever", "cosmic",
	"crisp",  "daring", "eager",  "early",	"fancy",  "fast",   "fierce", "gentle", "glad",
	"golden", "grand",  "happy",  "hardy",	"honest", "humble", "jolly",  "keen",	"kind",
	"lively", "lucky",  "mellow", "merry",	"mighty", "noble",  "polite", "proud",	"quick",
	"quiet",  "rapid",  "ready",  "silent", "smart",  "snowy",  "solid",  "steady", "sunny",
	"swift",  "tidy",   "vivid",  "warm",	"wise",
};
static const char *const osh_nouns[] = {
	"badger", "beaver", "bison",   "cedar",	 "comet",  "condor", "coral",  "crane",	 "dolphin",
	"eagle",  "falcon", "fern",    "finch",	 "fox",	   "galaxy", "gecko",  "glacier", "harbor",
	"hawk",	  "heron",  "iris",    "jaguar", "koala",  "lagoon", "lemur",  "lion",	 "lotus",
	"maple",  "meadow", "mole",    "moose",	 "nebula", "otter",  "owl",    "panda",	 "pebble",
	"pine",	  "planet", "puffin",  "quartz", "raven",  "river",  "robin",  "salmon", "sparrow",
	"spruce", "tiger",  "walrus",  "willow", "zebra",
};

void osh_generate_name(char out[20])
{
	const char *a = osh_adjectives[random_below(
		(uint32_t)(sizeof(osh_adjectives) / sizeof(osh_adjectives[0])))];
	const char *b =
		osh_nouns[random_below((uint32_t)(sizeof(osh_nouns) / sizeof(osh_nouns[0])))];
	char buf[64];
	snprintf(buf, sizeof(buf), "%s-%s", a, b);
	size_t len = strlen(buf);
	if (len > OSH_MAX_SANDBOX_NAME_LEN)
		len = OSH_MAX_SANDBOX_NAME_LEN;
	while (len > 0 && buf[len - 1] == '-')
		len--;
	memcpy(out, buf, len);
	out[len] = '\0';
}

void osh_generate_uuid(char out[37])
{
	uint8_t b[16];
	random_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}
