/* phase.c - sandbox phase derivation (BEHAVIOR 1.9, no supervisor) and the
 * public -> driver translation of 1.6. See phase.h.
 *
 * Out of memory while editing a message tree aborts the process: a half-edited
 * tree cannot be rolled back safely, and the gateway cannot do anything useful
 * without memory anyway. */
#include "config.h"

#include "phase.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "openshell/driver.h"
#include "osh_log.h"

/* ---- heap-tree helpers ---- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		osh_error("out of memory (%zu bytes)", n);
		abort();
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		osh_error("out of memory (%zu bytes)", n);
		abort();
	}
	return q;
}

/* A string for a heap tree: protobuf_c_empty_string for NULL/"", else a copy. */
static char *tree_str(const char *s)
{
	if (!s || !*s)
		return (char *)protobuf_c_empty_string;
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

static void tree_str_free(char *s)
{
	if (s && s != protobuf_c_empty_string)
		free(s);
}

/* Replace *dst with a copy of src (dst may be the unset empty string). */
static void tree_str_set(char **dst, const char *src)
{
	if (*dst && src && strcmp(*dst, src) == 0)
		return;
	char *n = tree_str(src);
	tree_str_free(*dst);
	*dst = n;
}

static void *new_msg(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = xmalloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

static void free_msg(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

ProtobufCMessage *osh_message_dup(const ProtobufCMessage *m)
{
	if (!m)
		return NULL;
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return copy;
}

static void *xdup(const void *m)
{
	ProtobufCMessage *c = osh_message_dup(m);
	if (m && !c) {
		osh_error("out of memory copying a %s", ((const ProtobufCMessage *)m)->descriptor->name);
		abort();
	}
	return c;
}

/* All generated map<string,string> entries share this layout. */
struct osh_kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static void copy_string_map(size_t n, void *const *src, const ProtobufCMessageDescriptor *entry_desc,
			    size_t *n_out, void *out_arr)
{
	struct osh_kv ***out = out_arr;
	*n_out = 0;
	*out = NULL;
	if (n == 0)
		return;
	*out = xmalloc(n * sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		const struct osh_kv *s = src[i];
		struct osh_kv *e = new_msg(entry_desc);
		e->key = tree_str(s->key);
		e->value = tree_str(s->value);
		(*out)[i] = e;
	}
	*n_out = n;
}

/* Elements of a repeated string field are always malloc'd, even when empty:
 * free_unpacked frees them unconditionally (no protobuf_c_empty_string there). */
static char **copy_strv(size_t n, char *const *src)
{
	if (n == 0)
		return NULL;
	char **v = xmalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const char *s = src[i] ? src[i] : "";
		size_t len = strlen(s) + 1;
		v[i] = memcpy(xmalloc(len), s, len);
	}
	return v;
}

static int ieq(const char *a, const char *b)
{
	return strcasecmp(a ? a : "", b) == 0;
}

/* ---- stage A ---- */

int osh_reason_is_terminal(const char *reason)
{
	static const char *const transient[] = {
		"reconcilererror",   "dependenciesnotready", "supervisornotconnected",
		"starting",	     "containerstarting",    "containercreated",
		"healthcheckstarting", "inspectfailed",
	};
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (ieq(reason, transient[i]))
			return 0;
	return 1;
}

Openshell__V1__SandboxPhase
osh_phase_from_driver_status(const Openshell__Compute__V1__DriverSandboxStatus *st)
{
	if (!st)
		return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNKNOWN;
	if (st->deleting)
		return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING;
	for (size_t i = 0; i < st->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *c = st->conditions[i];
		if (ieq(c->type, "Suspended") && ieq(c->status, "true"))
			return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED;
	}
	for (size_t i = 0; i < st->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *c = st->conditions[i];
		if (!c->type || strcmp(c->type, "Ready") != 0)
			continue;
		if (ieq(c->status, "true"))
			return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_READY;
		if (ieq(c->status, "false") && osh_reason_is_terminal(c->reason))
			return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR;
		return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_PROVISIONING;
	}
	return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_PROVISIONING;
}

/* ---- stage C ---- */

static int confirms_stopped(const Openshell__Compute__V1__DriverSandboxStatus *st)
{
	for (size_t i = 0; st && i < st->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *c = st->conditions[i];
		if (ieq(c->status, "false") &&
		    (ieq(c->reason, "containerexited") || ieq(c->reason, "containerstopped")))
			return 1;
	}
	return 0;
}

static int confirms_stopping(const Openshell__Compute__V1__DriverSandboxStatus *st)
{
	for (size_t i = 0; st && i < st->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *c = st->conditions[i];
		if (ieq(c->type, "Suspended") && ieq(c->status, "false") &&
		    (ieq(c->reason, "podterminating") || ieq(c->reason, "podnotterminated")))
			return 1;
	}
	return 0;
}

Openshell__V1__SandboxPhase
osh_phase_fence(Openshell__V1__SandboxPhase old_phase, Openshell__V1__SandboxPhase backend,
		const Openshell__Compute__V1__DriverSandboxStatus *st)
{
	switch (old_phase) {
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR:
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING:
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED:
		return old_phase;
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPING:
		if (backend == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED ||
		    confirms_stopped(st))
			return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED;
		if (confirms_stopping(st))
			return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPING;
		if (backend == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR)
			return backend;
		return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPING;
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STARTING:
		if (backend == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_READY ||
		    backend == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR)
			return backend;
		return OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STARTING;
	default:
		return backend;
	}
}

const char *osh_phase_name(Openshell__V1__SandboxPhase p)
{
	switch (p) {
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNSPECIFIED:
		return "UNSPECIFIED";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_PROVISIONING:
		return "PROVISIONING";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_READY:
		return "READY";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR:
		return "ERROR";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING:
		return "DELETING";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNKNOWN:
		return "UNKNOWN";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPING:
		return "STOPPING";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED:
		return "STOPPED";
	case OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STARTING:
		return "STARTING";
	default:
		return "UNRECOGNIZED";
	}
}

/* ---- status editing ---- */

static Openshell__V1__SandboxStatus *ensure_status(Openshell__V1__Sandbox *sb)
{
	if (!sb->status)
		sb->status = new_msg(&openshell__v1__sandbox_status__descriptor);
	return sb->status;
}

static Openshell__Datamodel__V1__ObjectMeta *ensure_metadata(Openshell__V1__Sandbox *sb)
{
	if (!sb->metadata)
		sb->metadata = new_msg(&openshell__datamodel__v1__object_meta__descriptor);
	return sb->metadata;
}

static void now_rfc3339(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void osh_sandbox_set_condition(Openshell__V1__Sandbox *sb, const char *type, const char *status,
			       const char *reason, const char *message)
{
	char now[32];
	Openshell__V1__SandboxStatus *st;
	Openshell__V1__SandboxCondition *c = NULL;

	if (!sb)
		return;
	st = ensure_status(sb);
	type = type ? type : "";
	for (size_t i = 0; i < st->n_conditions; i++)
		if (strcmp(st->conditions[i]->type ? st->conditions[i]->type : "", type) == 0) {
			c = st->conditions[i];
			break;
		}
	if (!c) {
		c = new_msg(&openshell__v1__sandbox_condition__descriptor);
		st->conditions = xrealloc(st->conditions, (st->n_conditions + 1) * sizeof(*st->conditions));
		st->conditions[st->n_conditions++] = c;
		c->type = tree_str(type);
	}
	now_rfc3339(now);
	tree_str_set(&c->status, status);
	tree_str_set(&c->reason, reason);
	tree_str_set(&c->message, message);
	tree_str_set(&c->last_transition_time, now);
}

int osh_parse_exit_code(const char *message, int *code)
{
	static const char needle[] = "exit code";
	const size_t nl = sizeof(needle) - 1;
	if (!message)
		return 0;
	for (const char *p = message; *p; p++) {
		if (strncasecmp(p, needle, nl) != 0)
			continue;
		const char *s = p + nl;
		while (*s == ' ' || *s == '\t' || *s == ':' || *s == '=')
			s++;
		if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
			continue;
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno == 0 && v >= INT32_MIN && v <= INT32_MAX) {
			*code = (int)v;
			return 1;
		}
	}
	return 0;
}

/* The exit code carried by the first Ready condition, when it says the
 * container exited. */
static int snapshot_exit_code(const Openshell__Compute__V1__DriverSandboxStatus *st, int *code)
{
	for (size_t i = 0; i < st->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *c = st->conditions[i];
		if (!c->type || strcmp(c->type, "Ready") != 0)
			continue;
		return ieq(c->status, "false") && ieq(c->reason, "containerexited") &&
		       osh_parse_exit_code(c->message, code);
	}
	return 0;
}

static void replace_conditions(Openshell__V1__SandboxStatus *st,
			       const Openshell__Compute__V1__DriverSandboxStatus *ds)
{
	for (size_t i = 0; i < st->n_conditions; i++)
		free_msg(st->conditions[i]);
	free(st->conditions);
	st->conditions = NULL;
	st->n_conditions = 0;
	if (ds->n_conditions == 0)
		return;
	st->conditions = xmalloc(ds->n_conditions * sizeof(*st->conditions));
	for (size_t i = 0; i < ds->n_conditions; i++) {
		const Openshell__Compute__V1__DriverCondition *d = ds->conditions[i];
		Openshell__V1__SandboxCondition *c =
			new_msg(&openshell__v1__sandbox_condition__descriptor);
		c->type = tree_str(d->type);
		c->status = tree_str(d->status);
		c->reason = tree_str(d->reason);
		c->message = tree_str(d->message);
		c->last_transition_time = tree_str(d->last_transition_time);
		st->conditions[i] = c;
	}
	st->n_conditions = ds->n_conditions;
}

static uint8_t *pack_copy(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(*len);
	protobuf_c_message_pack(m, buf);
	return buf;
}

int osh_sandbox_apply_driver_snapshot_ex(Openshell__V1__Sandbox *sb,
					 const Openshell__Compute__V1__DriverSandbox *ds, int flags)
{
	Openshell__V1__SandboxPhase old_phase;
	const char *ds_name;
	Openshell__V1__SandboxStatus *st;
	uint8_t *before, *after;
	size_t before_len, after_len;
	int changed;

	if (!sb || !ds)
		return 0;
	old_phase = sb->status ? sb->status->phase
			       : OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNSPECIFIED;
	ds_name = ds->name ? ds->name : "";

	if (old_phase == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING &&
	    !(flags & OSH_APPLY_BYPASS_DELETING_GUARD))
		return 0;
	if (old_phase == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR) {
		if (!*ds_name || (sb->metadata && sb->metadata->name &&
				  strcmp(sb->metadata->name, ds_name) == 0))
			return 0;
		tree_str_set(&ensure_metadata(sb)->name, ds_name);
		return 1;
	}

	before = pack_copy(&sb->base, &before_len);
	st = ensure_status(sb);
	if (ds->status) {
		const Openshell__Compute__V1__DriverSandboxStatus *dst = ds->status;
		Openshell__V1__SandboxPhase backend = osh_phase_from_driver_status(dst);
		int code;

		/* Stage B (no supervisor): the backend phase is the public phase. */
		st->phase = old_phase == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING
				    ? backend
				    : osh_phase_fence(old_phase, backend, dst);
		tree_str_set(&st->sandbox_name, dst->sandbox_name);
		tree_str_set(&st->agent_pod, dst->instance_id);
		tree_str_set(&st->agent_fd, dst->agent_fd);
		tree_str_set(&st->sandbox_fd, dst->sandbox_fd);
		replace_conditions(st, dst);
		/* main_process_instance_id, current_policy_version and exit_code are kept. */
		if (snapshot_exit_code(dst, &code)) {
			st->opt_exit_code_case = OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE;
			st->exit_code = code;
		}
	}
	if ((!st->sandbox_name || !*st->sandbox_name) && *ds_name)
		tree_str_set(&st->sandbox_name, ds_name);
	if (*ds_name)
		tree_str_set(&ensure_metadata(sb)->name, ds_name);

	after = pack_copy(&sb->base, &after_len);
	changed = before_len != after_len || memcmp(before, after, before_len) != 0;
	free(before);
	free(after);
	return changed; /* the caller logs phase changes once the write succeeded */
}

int osh_sandbox_apply_driver_snapshot(Openshell__V1__Sandbox *sb,
				      const Openshell__Compute__V1__DriverSandbox *ds)
{
	return osh_sandbox_apply_driver_snapshot_ex(sb, ds, 0);
}

/* ---- 1.6: public -> driver ---- */

/* Last entry with this key (protobuf map semantics: last one wins). */
static const Google__Protobuf__Value *struct_get(const Google__Protobuf__Struct *s, const char *key)
{
	const Google__Protobuf__Value *v = NULL;
	for (size_t i = 0; s && i < s->n_fields; i++)
		if (s->fields[i]->key && strcmp(s->fields[i]->key, key) == 0)
			v = s->fields[i]->value;
	return v;
}

static int is_kind(const Google__Protobuf__Value *v, Google__Protobuf__Value__KindCase k)
{
	return v && v->kind_case == k;
}

static const char *quantity(const Google__Protobuf__Struct *res, const char *section,
			    const char *key)
{
	const Google__Protobuf__Value *sec = struct_get(res, section);
	if (!is_kind(sec, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE))
		return "";
	const Google__Protobuf__Value *q = struct_get(sec->struct_value, key);
	if (!is_kind(q, GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE) || !q->string_value)
		return "";
	return q->string_value;
}

static Openshell__Compute__V1__DriverResourceRequirements *
typed_resources(const Google__Protobuf__Struct *res)
{
	if (!res)
		return NULL;
	const char *cr = quantity(res, "requests", "cpu"), *cl = quantity(res, "limits", "cpu");
	const char *mr = quantity(res, "requests", "memory"), *ml = quantity(res, "limits", "memory");
	if (!*cr && !*cl && !*mr && !*ml)
		return NULL;
	Openshell__Compute__V1__DriverResourceRequirements *r =
		new_msg(&openshell__compute__v1__driver_resource_requirements__descriptor);
	r->cpu_request = tree_str(cr);
	r->cpu_limit = tree_str(cl);
	r->memory_request = tree_str(mr);
	r->memory_limit = tree_str(ml);
	return r;
}

static Google__Protobuf__Struct *struct_new(void)
{
	return new_msg(&google__protobuf__struct__descriptor);
}

/* Appends key -> v; takes ownership of v. */
static void struct_put(Google__Protobuf__Struct *s, const char *key, Google__Protobuf__Value *v)
{
	Google__Protobuf__Struct__FieldsEntry *e =
		new_msg(&google__protobuf__struct__fields_entry__descriptor);
	e->key = tree_str(key);
	e->value = v;
	s->fields = xrealloc(s->fields, (s->n_fields + 1) * sizeof(*s->fields));
	s->fields[s->n_fields++] = e;
}

static Google__Protobuf__Value *value_new(Google__Protobuf__Value__KindCase k)
{
	Google__Protobuf__Value *v = new_msg(&google__protobuf__value__descriptor);
	v->kind_case = k;
	return v;
}

static Google__Protobuf__Value *value_string(const char *s)
{
	Google__Protobuf__Value *v = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
	/* A oneof string has no shared default: always a malloc'd copy. */
	size_t n = strlen(s ? s : "") + 1;
	v->string_value = memcpy(xmalloc(n), s ? s : "", n);
	return v;
}

static Google__Protobuf__Value *value_struct(Google__Protobuf__Struct *s)
{
	Google__Protobuf__Value *v = value_new(GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE);
	v->struct_value = s;
	return v;
}

/* resources minus string cpu/memory under limits/requests; empty sections dropped. */
static Google__Protobuf__Struct *resources_raw(const Google__Protobuf__Struct *res)
{
	Google__Protobuf__Struct *out;
	if (!res)
		return NULL;
	out = struct_new();
	for (size_t i = 0; i < res->n_fields; i++) {
		const Google__Protobuf__Struct__FieldsEntry *e = res->fields[i];
		const char *key = e->key ? e->key : "";
		int section = strcmp(key, "limits") == 0 || strcmp(key, "requests") == 0;
		if (!section || !is_kind(e->value, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE)) {
			struct_put(out, key,
				   e->value ? xdup(e->value)
					    : value_new(GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET));
			continue;
		}
		const Google__Protobuf__Struct *sec = e->value->struct_value;
		Google__Protobuf__Struct *kept = struct_new();
		for (size_t j = 0; sec && j < sec->n_fields; j++) {
			const Google__Protobuf__Struct__FieldsEntry *r = sec->fields[j];
			const char *rk = r->key ? r->key : "";
			int typed = (strcmp(rk, "cpu") == 0 || strcmp(rk, "memory") == 0) &&
				    is_kind(r->value, GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE);
			if (!typed)
				struct_put(kept, rk,
					   r->value ? xdup(r->value)
						    : value_new(GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET));
		}
		if (kept->n_fields)
			struct_put(out, key, value_struct(kept));
		else
			free_msg(kept);
	}
	if (out->n_fields == 0) {
		free_msg(out);
		return NULL;
	}
	return out;
}

/* Keys in sorted order, like upstream's BTreeMap. */
static Google__Protobuf__Struct *platform_config(const Openshell__V1__SandboxTemplate *t)
{
	Google__Protobuf__Struct *pc = struct_new();
	Google__Protobuf__Struct *raw;

	if (t->n_annotations) {
		Google__Protobuf__Struct *a = struct_new();
		for (size_t i = 0; i < t->n_annotations; i++)
			struct_put(a, t->annotations[i]->key, value_string(t->annotations[i]->value));
		struct_put(pc, "annotations", value_struct(a));
	}
	if (t->opt_user_namespaces_case ==
	    OPENSHELL__V1__SANDBOX_TEMPLATE__OPT_USER_NAMESPACES_USER_NAMESPACES) {
		Google__Protobuf__Value *v = value_new(GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE);
		v->bool_value = !t->user_namespaces;
		struct_put(pc, "host_users", v);
	}
	if ((raw = resources_raw(t->resources)))
		struct_put(pc, "resources_raw", value_struct(raw));
	if (t->runtime_class_name && *t->runtime_class_name)
		struct_put(pc, "runtime_class_name", value_string(t->runtime_class_name));
	if (pc->n_fields == 0) {
		free_msg(pc);
		return NULL;
	}
	return pc;
}

static int select_driver_config(const Google__Protobuf__Struct *dc, const char *name,
				Google__Protobuf__Struct **out, char *err, size_t errlen)
{
	const Google__Protobuf__Value *v;
	*out = NULL;
	if (!dc || !name)
		return OPENSHELL_STATUS_OK;
	for (size_t i = 0; i < dc->n_fields; i++)
		if (dc->fields[i]->key && strcmp(dc->fields[i]->key, name) == 0)
			goto found;
	return OPENSHELL_STATUS_OK;
found:
	v = struct_get(dc, name);
	if (!is_kind(v, GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE) || !v->struct_value) {
		if (err && errlen)
			snprintf(err, errlen, "template.driver_config.%s must be an object", name);
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	*out = xdup(v->struct_value);
	return OPENSHELL_STATUS_OK;
}

static int template_from_public(const Openshell__V1__SandboxTemplate *t, const char *driver_name,
				Openshell__Compute__V1__DriverSandboxTemplate **out, char *err,
				size_t errlen)
{
	Openshell__Compute__V1__DriverSandboxTemplate *d =
		new_msg(&openshell__compute__v1__driver_sandbox_template__descriptor);
	int rc = select_driver_config(t->driver_config, driver_name, &d->driver_config, err, errlen);
	if (rc) {
		free_msg(d);
		*out = NULL;
		return rc;
	}
	d->image = tree_str(t->image);
	d->agent_socket_path = tree_str(t->agent_socket);
	copy_string_map(t->n_labels, (void *const *)t->labels,
			&openshell__compute__v1__driver_sandbox_template__labels_entry__descriptor,
			&d->n_labels, &d->labels);
	copy_string_map(t->n_environment, (void *const *)t->environment,
			&openshell__compute__v1__driver_sandbox_template__environment_entry__descriptor,
			&d->n_environment, &d->environment);
	d->resources = typed_resources(t->resources);
	d->platform_config = platform_config(t);
	*out = d;
	return OPENSHELL_STATUS_OK;
}

static Openshell__Compute__V1__DriverSandboxStatus *
status_from_public(const Openshell__V1__SandboxStatus *s)
{
	Openshell__Compute__V1__DriverSandboxStatus *d =
		new_msg(&openshell__compute__v1__driver_sandbox_status__descriptor);
	d->sandbox_name = tree_str(s->sandbox_name);
	d->instance_id = tree_str(s->agent_pod);
	d->agent_fd = tree_str(s->agent_fd);
	d->sandbox_fd = tree_str(s->sandbox_fd);
	d->deleting = s->phase == OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING;
	if (s->n_conditions) {
		d->conditions = xmalloc(s->n_conditions * sizeof(*d->conditions));
		for (size_t i = 0; i < s->n_conditions; i++) {
			const Openshell__V1__SandboxCondition *c = s->conditions[i];
			Openshell__Compute__V1__DriverCondition *dc =
				new_msg(&openshell__compute__v1__driver_condition__descriptor);
			dc->type = tree_str(c->type);
			dc->status = tree_str(c->status);
			dc->reason = tree_str(c->reason);
			dc->message = tree_str(c->message);
			dc->last_transition_time = tree_str(c->last_transition_time);
			d->conditions[i] = dc;
		}
		d->n_conditions = s->n_conditions;
	}
	return d;
}

int osh_driver_sandbox_from_public(const Openshell__V1__Sandbox *sb,
				   const char *configured_driver_name,
				   Openshell__Compute__V1__DriverSandbox **out, char *err,
				   size_t errlen)
{
	Openshell__Compute__V1__DriverSandbox *d;
	int rc;

	*out = NULL;
	if (!sb) {
		if (err && errlen)
			snprintf(err, errlen, "sandbox is required");
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	d = new_msg(&openshell__compute__v1__driver_sandbox__descriptor);
	if (sb->metadata) {
		d->id = tree_str(sb->metadata->id);
		d->name = tree_str(sb->metadata->name);
		d->workspace = tree_str(sb->metadata->workspace);
	}
	if (sb->spec) {
		const Openshell__V1__SandboxSpec *s = sb->spec;
		Openshell__Compute__V1__DriverSandboxSpec *ds =
			new_msg(&openshell__compute__v1__driver_sandbox_spec__descriptor);
		d->spec = ds;
		ds->log_level = tree_str(s->log_level);
		copy_string_map(s->n_environment, (void *const *)s->environment,
				&openshell__compute__v1__driver_sandbox_spec__environment_entry__descriptor,
				&ds->n_environment, &ds->environment);
		if (s->template_ && (rc = template_from_public(s->template_, configured_driver_name,
							       &ds->template_, err, errlen))) {
			free_msg(d);
			return rc;
		}
		if (s->resource_requirements) {
			ds->resource_requirements =
				new_msg(&openshell__compute__v1__resource_requirements__descriptor);
			const Openshell__V1__GpuResourceRequirements *g = s->resource_requirements->gpu;
			if (g) {
				Openshell__Compute__V1__GpuResourceRequirements *dg = new_msg(
					&openshell__compute__v1__gpu_resource_requirements__descriptor);
				if (g->opt_count_case ==
				    OPENSHELL__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT) {
					dg->opt_count_case =
						OPENSHELL__COMPUTE__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT;
					dg->count = g->count;
				}
				ds->resource_requirements->gpu = dg;
			}
		}
		ds->n_command = s->n_command;
		ds->command = copy_strv(s->n_command, s->command);
		ds->tty = s->tty;
	}
	if (sb->status)
		d->status = status_from_public(sb->status);
	*out = d;
	return OPENSHELL_STATUS_OK;
}
