/* engine_mounts.c - the "mounts" list of a sandbox's driver_config, checked
 * by the rules of BEHAVIOR.md 2.1 (engine.h lists them). */
#include "config.h"

#include "engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mnt_reserved[] = {
	"/opt/openshell",	  "/etc/openshell", "/etc/openshell-tls", "/run/openshell",
	"/run/openshell-sidecar", "/run/netns",	    "/var/run/netns",	  NULL,
};

static void mnt_free_fields(osh_engine_mount *x)
{
	free(x->source);
	free(x->target);
	free(x->subpath);
	for (size_t k = 0; k < x->n_options; k++)
		free(x->options[k]);
	free(x->options);
	memset(x, 0, sizeof(*x));
}

void osh_engine_mounts_clear(osh_engine_mounts *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		mnt_free_fields(&m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static char *mnt_dup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static int mnt_has_space_around(const char *s)
{
	size_t n = strlen(s);
	return n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]));
}

/* Normalises an absolute path: repeated and trailing '/' dropped. Returns
 * malloc'd text, or NULL when it is not absolute or has "." / ".." parts
 * or control characters. */
static char *mnt_norm_abs(const char *p)
{
	if (!p || p[0] != '/')
		return NULL;
	size_t n = strlen(p);
	char *o = malloc(n + 1);
	if (!o)
		abort();
	size_t k = 0;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - s);
		if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
			free(o);
			return NULL;
		}
		for (const char *c = s; c < e; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				free(o);
				return NULL;
			}
		o[k++] = '/';
		memcpy(o + k, s, len);
		k += len;
		s = e;
	}
	if (k == 0)
		o[k++] = '/';
	o[k] = '\0';
	return o;
}

/* 1 when a and b are the same path or one is inside the other. */
static int mnt_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t l = la < lb ? la : lb;
	if (strncmp(a, b, l) != 0)
		return 0;
	if (la == lb)
		return 1;
	return (la > lb ? a[l] : b[l]) == '/';
}

#define MNT_FAIL(code, ...)                                                                        \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		rc = (code);                                                                       \
		goto fail;                                                                         \
	} while (0)

static int32_t mnt_one(const json_t *item, size_t idx, int allow_bind, osh_engine_mount *m,
		       char *err, size_t errlen)
{
	int32_t rc = OPENSHELL_STATUS_OK;
	const char *key;
	json_t *v;
	memset(m, 0, sizeof(*m));
	m->mode = -1;
	if (!json_is_object(item))
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu] must be an object", idx);
	const char *type = osh_json_str(item, "type");
	if (strcmp(type, "bind") == 0)
		m->type = OSH_MOUNT_BIND;
	else if (strcmp(type, "volume") == 0)
		m->type = OSH_MOUNT_VOLUME;
	else if (strcmp(type, "tmpfs") == 0)
		m->type = OSH_MOUNT_TMPFS;
	else
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu].type must be \"bind\", \"volume\" or \"tmpfs\"",
			 idx);
	m->read_only = m->type == OSH_MOUNT_BIND;

	json_object_foreach((json_t *)item, key, v)
	{
		int ok = strcmp(key, "type") == 0 || strcmp(key, "target") == 0;
		if (m->type == OSH_MOUNT_BIND)
			ok |= !strcmp(key, "source") || !strcmp(key, "read_only") ||
			      !strcmp(key, "selinux_label");
		else if (m->type == OSH_MOUNT_VOLUME)
			ok |= !strcmp(key, "source") || !strcmp(key, "read_only") ||
			      !strcmp(key, "subpath");
		else
			ok |= !strcmp(key, "size_bytes") || !strcmp(key, "mode") ||
			      !strcmp(key, "options");
		if (!ok)
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu]: unknown key \"%s\" for a %s mount",
				 idx, key, type);
	}

	/* target */
	v = json_object_get(item, "target");
	if (!json_is_string(v) || !*json_string_value(v))
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu].target is required (an absolute path)", idx);
	const char *target = json_string_value(v);
	if (mnt_has_space_around(target))
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu].target \"%s\" has surrounding whitespace", idx,
			 target);
	if (!(m->target = mnt_norm_abs(target)))
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu].target \"%s\" must be an absolute path without "
			 "\".\" or \"..\" parts",
			 idx, target);
	if (strcmp(m->target, "/") == 0)
		MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
			 "driver_config.mounts[%zu].target must not replace the root directory",
			 idx);
	for (size_t r = 0; mnt_reserved[r]; r++)
		if (mnt_overlap(m->target, mnt_reserved[r]))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].target \"%s\" overlaps the reserved "
				 "path "
				 "%s",
				 idx, m->target, mnt_reserved[r]);

	/* source */
	v = json_object_get(item, "source");
	if (m->type != OSH_MOUNT_TMPFS) {
		if (!json_is_string(v) || !*json_string_value(v))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].source is required for a %s mount", idx,
				 type);
		const char *src = json_string_value(v);
		if (mnt_has_space_around(src))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].source \"%s\" has surrounding "
				 "whitespace",
				 idx, src);
		if (m->type == OSH_MOUNT_BIND) {
			if (!(m->source = mnt_norm_abs(src)))
				MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
					 "driver_config.mounts[%zu].source \"%s\" must be an "
					 "absolute "
					 "host path without \".\" or \"..\" parts",
					 idx, src);
			if (strchr(m->source, ':') || strchr(m->source, ','))
				MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
					 "driver_config.mounts[%zu].source \"%s\" must not contain "
					 "':' "
					 "or ','",
					 idx, src);
		} else {
			/* Volume names as the engines accept them. */
			if (!isalnum((unsigned char)src[0]))
				MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
					 "driver_config.mounts[%zu].source \"%s\" is not a volume "
					 "name",
					 idx, src);
			for (const char *c = src; *c; c++)
				if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' &&
				    *c != '-')
					MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
						 "driver_config.mounts[%zu].source \"%s\" is not a "
						 "volume name ([A-Za-z0-9][A-Za-z0-9_.-]*)",
						 idx, src);
			m->source = mnt_dup(src);
		}
	}

	/* read_only */
	v = json_object_get(item, "read_only");
	if (v) {
		if (!json_is_boolean(v))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].read_only must be true or false", idx);
		m->read_only = json_is_true(v);
	}

	/* selinux_label */
	v = json_object_get(item, "selinux_label");
	if (v) {
		const char *l = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(l, "shared") == 0)
			m->selinux = 'z';
		else if (strcmp(l, "private") == 0)
			m->selinux = 'Z';
		else
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].selinux_label must be \"shared\" or "
				 "\"private\"",
				 idx);
	}

	/* subpath */
	v = json_object_get(item, "subpath");
	if (v) {
		const char *sp = json_is_string(v) ? json_string_value(v) : "";
		if (!*sp || sp[0] == '/' || mnt_has_space_around(sp))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].subpath must be a relative path", idx);
		char *tmp = malloc(strlen(sp) + 2);
		if (!tmp)
			abort();
		tmp[0] = '/';
		strcpy(tmp + 1, sp);
		char *norm = mnt_norm_abs(tmp);
		free(tmp);
		if (!norm)
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].subpath \"%s\" must not have \".\" or "
				 "\"..\" parts",
				 idx, sp);
		m->subpath = mnt_dup(norm + 1);
		free(norm);
	}

	/* tmpfs: size_bytes, mode, options */
	v = json_object_get(item, "size_bytes");
	if (v) {
		long long sz = json_is_integer(v) ? json_integer_value(v) : -1;
		if (sz <= 0)
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].size_bytes must be a positive integer",
				 idx);
		m->size_bytes = sz;
	}
	v = json_object_get(item, "mode");
	if (v) {
		long long mode = -1;
		if (json_is_integer(v)) {
			mode = json_integer_value(v);
		} else if (json_is_string(v) && *json_string_value(v)) {
			char *end;
			mode = strtoll(json_string_value(v), &end, 8);
			if (*end)
				mode = -1;
		}
		if (mode < 0 || mode > 07777)
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].mode must be a file mode (a number, or "
				 "an octal string such as \"1777\")",
				 idx);
		m->mode = (int)mode;
	}
	v = json_object_get(item, "options");
	if (v) {
		if (!json_is_array(v))
			MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
				 "driver_config.mounts[%zu].options must be a list of strings",
				 idx);
		size_t n = json_array_size(v);
		m->options = calloc(n ? n : 1, sizeof(*m->options));
		if (!m->options)
			abort();
		for (size_t k = 0; k < n; k++) {
			json_t *o = json_array_get(v, k);
			const char *s = json_is_string(o) ? json_string_value(o) : "";
			int bad = !*s;
			for (const char *c = s; *c; c++)
				bad |= *c == ',' || isspace((unsigned char)*c) ||
				       (unsigned char)*c < 0x20;
			if (bad)
				MNT_FAIL(OPENSHELL_STATUS_INVALID_ARGUMENT,
					 "driver_config.mounts[%zu].options[%zu] must be a mount "
					 "option without ',' or spaces",
					 idx, k);
			m->options[m->n_options++] = mnt_dup(s);
		}
	}

	if (m->type == OSH_MOUNT_BIND && !allow_bind)
		MNT_FAIL(OPENSHELL_STATUS_FAILED_PRECONDITION,
			 "driver_config.mounts[%zu]: bind mounts of host paths are disabled (set "
			 "enable_bind_mounts = true in the driver's configuration)",
			 idx);
	return OPENSHELL_STATUS_OK;
fail:
	mnt_free_fields(m);
	return rc;
}

int32_t osh_engine_mounts_parse(const json_t *mounts, int allow_bind, osh_engine_mounts *out,
				char *err, size_t errlen)
{
	out->v = NULL;
	out->n = 0;
	if (!mounts || json_is_null(mounts))
		return OPENSHELL_STATUS_OK;
	if (!json_is_array(mounts)) {
		snprintf(err, errlen, "driver_config.mounts must be a list");
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	size_t n = json_array_size(mounts);
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (!out->v)
		abort();
	for (size_t i = 0; i < n; i++) {
		int32_t rc = mnt_one(json_array_get(mounts, i), i, allow_bind, &out->v[out->n], err,
				     errlen);
		if (rc != OPENSHELL_STATUS_OK) {
			osh_engine_mounts_clear(out);
			return rc;
		}
		out->n++;
		for (size_t k = 0; k + 1 < out->n; k++)
			if (strcmp(out->v[k].target, out->v[out->n - 1].target) == 0) {
				snprintf(err, errlen,
					 "driver_config.mounts[%zu].target \"%s\" is already the "
					 "target "
					 "of mounts[%zu]",
					 i, out->v[out->n - 1].target, k);
				osh_engine_mounts_clear(out);
				return OPENSHELL_STATUS_INVALID_ARGUMENT;
			}
	}
	return OPENSHELL_STATUS_OK;
}
