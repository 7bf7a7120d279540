/* cli_output.c - output helpers of the openshell CLI: a generic protobuf-c
 * message to JSON conversion (driven by the message descriptors), enum short
 * names, aligned tables, and time formatting. */
#include "config.h"

#include "cli.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *cli_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fputs("openshell: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* ---- strings ---------------------------------------------------------- */

char *cli_sanitize(const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	char *d = cli_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		d[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	d[n] = '\0';
	return d;
}

void cli_fputs_safe(const char *s, FILE *f)
{
	char *c = cli_sanitize(s);
	fputs(c, f);
	free(c);
}

/* Number of characters (UTF-8 lead bytes) in s, for column widths. */
static size_t cli_display_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* A JSON string for s; invalid UTF-8 bytes become U+FFFD (jansson rejects
 * invalid UTF-8 and protobuf-c does not check it). */
static json_t *cli_json_str(const char *s)
{
	if (!s)
		s = "";
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t n = strlen(s);
	char *d = cli_xmalloc(n * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
				     : (c & 0xf8) == 0xf0 ? 4 : 0;
		int ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (ok && len > 1) {
			/* jansson checks overlongs and surrogates too: test alone */
			char tmp[5];
			memcpy(tmp, s + i, len);
			tmp[len] = '\0';
			json_t *t = json_string(tmp);
			ok = t != NULL;
			json_decref(t);
		}
		if (ok) {
			memcpy(d + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(d + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	d[o] = '\0';
	v = json_string(d);
	free(d);
	return v ? v : json_string("");
}

/* ---- enums ------------------------------------------------------------ */

/* "SANDBOX_PHASE_READY" of enum SandboxPhase -> "READY". */
static const char *cli_enum_short(const ProtobufCEnumDescriptor *ed, const char *name)
{
	char prefix[128];
	size_t o = 0;
	for (const char *p = ed->short_name; *p && o + 3 < sizeof(prefix); p++) {
		if (isupper((unsigned char)*p) && p != ed->short_name)
			prefix[o++] = '_';
		prefix[o++] = (char)toupper((unsigned char)*p);
	}
	prefix[o++] = '_';
	prefix[o] = '\0';
	if (strncmp(name, prefix, o) == 0 && name[o])
		return name + o;
	return name;
}

static const char *cli_enum_name(const ProtobufCEnumDescriptor *ed, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	return ev ? cli_enum_short(ed, ev->name) : "UNKNOWN";
}

const char *cli_phase_name(int phase)
{
	return cli_enum_name(&openshell__v1__sandbox_phase__descriptor, phase);
}

const char *cli_service_status_name(int status)
{
	return cli_enum_name(&openshell__v1__service_status__descriptor, status);
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *cli_json_real(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	/* Integral values print without ".0". */
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return json_integer((json_int_t)d);
	return json_real(d);
}

static json_t *cli_json_base64(const ProtobufCBinaryData *b)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = b->len;
	char *d = cli_xmalloc((n + 2) / 3 * 4 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < n)
			v |= b->data[i + 2];
		d[o++] = tbl[(v >> 18) & 63];
		d[o++] = tbl[(v >> 12) & 63];
		d[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		d[o++] = i + 2 < n ? tbl[v & 63] : '=';
	}
	d[o] = '\0';
	json_t *r = json_string(d);
	free(d);
	return r;
}

static json_t *cli_json_wkt(const ProtobufCMessage *m);

static json_t *cli_json_message_any(const ProtobufCMessage *m)
{
	if (!m)
		return json_null();
	json_t *w = cli_json_wkt(m);
	return w ? w : cli_json_from_message(m);
}

/* One value of field f stored at p. */
static json_t *cli_json_scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)p;
		if (v <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t)v);
		char buf[32];
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
		return json_string(buf);
	}
	case PROTOBUF_C_TYPE_FLOAT:
		return cli_json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return cli_json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (!ev)
			return json_integer(v);
		return json_string(cli_enum_short(f->descriptor, ev->name));
	}
	case PROTOBUF_C_TYPE_STRING:
		return cli_json_str(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES:
		return cli_json_base64((const ProtobufCBinaryData *)p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return cli_json_message_any(*(ProtobufCMessage *const *)p);
	}
	return json_null();
}

static size_t cli_field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* A repeated message field whose entries are map entries (key 1, value 2). */
static int cli_is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->short_name);
	return d->n_fields == 2 && n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 &&
	       d->fields[0].id == 1 && strcmp(d->fields[0].name, "key") == 0 &&
	       d->fields[1].id == 2 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *cli_json_map(const ProtobufCMessageDescriptor *ed, ProtobufCMessage *const *entries,
			    size_t n)
{
	json_t *obj = json_object();
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	for (size_t i = 0; i < n; i++) {
		const char *base = (const char *)entries[i];
		if (!base)
			continue;
		json_t *k = cli_json_scalar(kf, base + kf->offset);
		json_t *v = cli_json_scalar(vf, base + vf->offset);
		char *key = json_is_string(k) ? NULL : json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT);
		json_object_set_new(obj, key ? key : json_string_value(k), v);
		free(key);
		json_decref(k);
	}
	return obj;
}

/* google.protobuf.Struct / Value / ListValue in their JSON form; NULL for
 * other messages. */
static json_t *cli_json_wkt(const ProtobufCMessage *m)
{
	const char *name = m->descriptor->name;
	if (strcmp(name, "google.protobuf.Struct") == 0) {
		const Google__Protobuf__Struct *s = (const Google__Protobuf__Struct *)m;
		json_t *obj = json_object();
		for (size_t i = 0; i < s->n_fields; i++) {
			if (!s->fields[i])
				continue;
			json_object_set_new(obj, s->fields[i]->key ? s->fields[i]->key : "",
					    cli_json_message_any((const ProtobufCMessage *)s->fields[i]->value));
		}
		return obj;
	}
	if (strcmp(name, "google.protobuf.ListValue") == 0) {
		const Google__Protobuf__ListValue *l = (const Google__Protobuf__ListValue *)m;
		json_t *arr = json_array();
		for (size_t i = 0; i < l->n_values; i++)
			json_array_append_new(arr, cli_json_message_any((const ProtobufCMessage *)l->values[i]));
		return arr;
	}
	if (strcmp(name, "google.protobuf.Value") == 0) {
		const Google__Protobuf__Value *v = (const Google__Protobuf__Value *)m;
		switch (v->kind_case) {
		case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
			return cli_json_real(v->number_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
			return cli_json_str(v->string_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
			return json_boolean(v->bool_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
			return cli_json_message_any((const ProtobufCMessage *)v->struct_value);
		case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
			return cli_json_message_any((const ProtobufCMessage *)v->list_value);
		default:
			return json_null();
		}
	}
	return NULL;
}

json_t *cli_json_from_message(const ProtobufCMessage *m)
{
	json_t *w = cli_json_wkt(m);
	if (w)
		return w;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	json_t *obj = json_object();

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;
		json_t *v;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(const char *const *)p;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE && cli_is_map_entry(f->descriptor)) {
				v = cli_json_map(f->descriptor, (ProtobufCMessage *const *)arr, n);
			} else {
				size_t sz = cli_field_size(f);
				v = json_array();
				for (size_t k = 0; k < n; k++)
					json_array_append_new(v, cli_json_scalar(f, arr + k * sz));
			}
		} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue;
			v = cli_json_scalar(f, p);
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
			   f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
			if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
				continue;
			v = cli_json_scalar(f, p);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (!*(ProtobufCMessage *const *)p)
				continue;
			v = cli_json_scalar(f, p);
		} else {
			v = cli_json_scalar(f, p);
		}
		json_object_set_new(obj, f->name, v ? v : json_null());
	}
	return obj;
}

void cli_json_print(json_t *v, int compact)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT(2)));
	json_decref(v);
	if (!s) {
		fputs("openshell: cannot encode JSON\n", stderr);
		return;
	}
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
}

/* ---- time ------------------------------------------------------------- */

int64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_format_time(int64_t ms, char *buf, size_t n)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "-");
}

void cli_format_age(int64_t created_ms, char *buf, size_t n)
{
	if (created_ms <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	int64_t s = (cli_now_ms() - created_ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(buf, n, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, n, "%lldd", (long long)(s / 86400));
}

/* ---- tables ----------------------------------------------------------- */

void cli_table_init(cli_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

void cli_table_add(cli_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, t->cap * t->ncols * sizeof(*c));
		if (!c) {
			fputs("openshell: out of memory\n", stderr);
			abort();
		}
		t->cells = c;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = cli_sanitize(row[i]);
	t->nrows++;
}

void cli_table_print(const cli_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
	if (!w)
		abort();
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = cli_display_width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			fputs(cell, f);
			if (c + 1 < t->ncols)
				fprintf(f, "%*s", (int)(w[c] - cli_display_width(cell) + 2), "");
		}
		fputc('\n', f);
	}
	free(w);
}

void cli_table_free(cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
