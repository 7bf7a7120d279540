/* test_validate.c - table-driven tests for gateway/validate.c: names, CreateSandbox
 * limits (each at the boundary and one past it), labels, selectors, NUL scan,
 * name and UUID generation. */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openshell/driver.h"
#include "validate.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define OK OPENSHELL_STATUS_OK
#define INV OPENSHELL_STATUS_INVALID_ARGUMENT
#define FP OPENSHELL_STATUS_FAILED_PRECONDITION

/* ---- heap-tree helpers (everything malloc'd, freed by free_unpacked) ---- */

static char *hs(const char *s)
{
	if (!s || !*s)
		return (char *)protobuf_c_empty_string;
	return strdup(s);
}

static char *hrep(char c, size_t n)
{
	if (n == 0)
		return (char *)protobuf_c_empty_string;
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void *hmsg(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

struct kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

/* Appends an entry; takes ownership of k and v. */
static void map_add(size_t *n, void *arr, const ProtobufCMessageDescriptor *d, char *k, char *v)
{
	struct kv ***a = arr;
	struct kv *e = hmsg(d);
	e->key = k;
	e->value = v;
	*a = realloc(*a, (*n + 1) * sizeof(**a));
	(*a)[(*n)++] = e;
}

static void strv_add(size_t *n, char ***v, char *s)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

static void struct_put_str(Google__Protobuf__Struct *s, const char *k, char *v)
{
	Google__Protobuf__Struct__FieldsEntry *e = hmsg(&google__protobuf__struct__fields_entry__descriptor);
	e->key = hs(k);
	e->value = hmsg(&google__protobuf__value__descriptor);
	e->value->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
	e->value->string_value = v;
	s->fields = realloc(s->fields, (s->n_fields + 1) * sizeof(*s->fields));
	s->fields[s->n_fields++] = e;
}

/* A Struct {"k": "<x * L>"} whose packed size is exactly size. */
static Google__Protobuf__Struct *struct_of_size(size_t size)
{
	Google__Protobuf__Struct *s = hmsg(&google__protobuf__struct__descriptor);
	size_t len = size;
	struct_put_str(s, "k", hrep('x', len));
	/* varint widths change with the length: iterate to a fixed point */
	for (int i = 0; i < 4; i++) {
		size_t overhead = google__protobuf__struct__get_packed_size(s) - len;
		len = size - overhead;
		free(s->fields[0]->value->string_value);
		s->fields[0]->value->string_value = hrep('x', len);
	}
	cr_assert_eq(google__protobuf__struct__get_packed_size(s), size);
	return s;
}

#define SPEC_ENV_D &openshell__v1__sandbox_spec__environment_entry__descriptor
#define TPL_LABELS_D &openshell__v1__sandbox_template__labels_entry__descriptor
#define TPL_ANN_D &openshell__v1__sandbox_template__annotations_entry__descriptor
#define TPL_ENV_D &openshell__v1__sandbox_template__environment_entry__descriptor
#define REQ_LABELS_D &openshell__v1__create_sandbox_request__labels_entry__descriptor
#define REQ_ANN_D &openshell__v1__create_sandbox_request__annotations_entry__descriptor

/* A request that passes every rule. */
static Openshell__V1__CreateSandboxRequest *base_request(void)
{
	Openshell__V1__CreateSandboxRequest *r = hmsg(&openshell__v1__create_sandbox_request__descriptor);
	Openshell__V1__SandboxSpec *s = hmsg(&openshell__v1__sandbox_spec__descriptor);
	Openshell__V1__SandboxTemplate *t = hmsg(&openshell__v1__sandbox_template__descriptor);
	r->spec = s;
	s->template_ = t;
	r->name = hs("demo-1");
	s->log_level = hs("info");
	map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hs("FOO"), hs("bar"));
	strv_add(&s->n_command, &s->command, hs("sleep"));
	strv_add(&s->n_command, &s->command, hs("infinity"));
	t->image = hs("alpine:3");
	map_add(&t->n_labels, &t->labels, TPL_LABELS_D, hs("app"), hs("web"));
	map_add(&t->n_annotations, &t->annotations, TPL_ANN_D, hs("note"), hs("any value"));
	map_add(&t->n_environment, &t->environment, TPL_ENV_D, hs("TZ"), hs("UTC"));
	t->resources = struct_of_size(40);
	map_add(&r->n_labels, &r->labels, REQ_LABELS_D, hs("team"), hs("agents"));
	map_add(&r->n_annotations, &r->annotations, REQ_ANN_D, hs("example.com/owner"),
		hs("me, with spaces"));
	return r;
}

/* A label key of exactly n bytes that is valid when n <= 253. */
static char *label_key_of_len(size_t n)
{
	if (n <= 63)
		return hrep('a', n);
	size_t name = n - 2 < 63 ? n - 2 : 63, prefix = n - 1 - name;
	char *k = malloc(n + 1);
	memset(k, 'p', prefix);
	k[prefix] = '/';
	memset(k + prefix + 1, 'n', name);
	k[n] = '\0';
	return k;
}

/* 32 env entries "K000".. with key+value bytes summing to total (>= 32*5). */
static void env_of_total(size_t *n, void *arr, const ProtobufCMessageDescriptor *d, size_t total)
{
	for (int i = 0; i < 32; i++) {
		char key[8];
		snprintf(key, sizeof(key), "K%03d", i);
		size_t vlen = i < 31 ? 8188 : total - 31 * 8192 - 4;
		map_add(n, arr, d, hs(key), hrep('v', vlen));
	}
}

enum mut {
	M_NONE,
	M_NO_SPEC,
	M_NAME,
	M_NAME_LEN,
	M_WORKSPACE,
	M_WORKSPACE_LEN,
	M_PROVIDERS,
	M_LOG_LEVEL_LEN,
	M_SPEC_ENV_COUNT,
	M_SPEC_ENV_KEY_LEN,
	M_SPEC_ENV_VALUE_LEN,
	M_SPEC_ENV_TOTAL,
	M_SPEC_ENV_KEY,
	M_SPEC_ENV_VALUE,
	M_TPL_IMAGE_LEN,
	M_TPL_RUNTIME_CLASS_LEN,
	M_TPL_AGENT_SOCKET_LEN,
	M_TPL_LABELS_COUNT,
	M_TPL_LABELS_KEY_LEN,
	M_TPL_LABELS_VALUE_LEN,
	M_TPL_ANN_COUNT,
	M_TPL_ANN_KEY_LEN,
	M_TPL_ANN_VALUE_LEN,
	M_TPL_ENV_COUNT,
	M_TPL_ENV_KEY_LEN,
	M_TPL_ENV_VALUE_LEN,
	M_TPL_ENV_TOTAL,
	M_TPL_ENV_KEY,
	M_TPL_ENV_VALUE,
	M_TPL_RESOURCES_SIZE,
	M_TPL_DRIVER_CONFIG_SIZE,
	M_NO_TEMPLATE,
	M_POLICY_SIZE,
	M_CMD_COUNT,
	M_CMD_ARG_LEN,
	M_CMD_TOTAL,
	M_CMD0_EMPTY,
	M_CMD_NONE,
	M_GPU_COUNT,
	M_GPU_NO_COUNT,
	M_LABELS_COUNT,
	M_LABEL_KEY,
	M_LABEL_KEY_LEN,
	M_LABEL_VALUE,
	M_LABEL_VALUE_LEN,
	M_ANN_COUNT,
	M_ANN_KEY,
	M_ANN_KEY_LEN,
	M_ANN_VALUE_LEN,
};

/* Criterion copies parameters into a freshly exec'd worker, so rows hold
 * arrays, not pointers. "" in msg means "do not check the message". */
struct create_row {
	char label[64];
	enum mut what;
	size_t n;
	char s[32];
	int code;
	char msg[128]; /* substring of the error message */
};

static void mutate(Openshell__V1__CreateSandboxRequest *r, const struct create_row *row)
{
	Openshell__V1__SandboxSpec *s = r->spec;
	Openshell__V1__SandboxTemplate *t = s->template_;
	size_t n = row->n;
	char buf[32];

	switch (row->what) {
	case M_NONE:
		break;
	case M_NO_SPEC:
		protobuf_c_message_free_unpacked(&r->spec->base, NULL);
		r->spec = NULL;
		break;
	case M_NAME:
		free(r->name);
		r->name = hs(row->s);
		break;
	case M_NAME_LEN:
		free(r->name);
		r->name = hrep('a', n);
		break;
	case M_WORKSPACE:
		r->workspace = hs(row->s);
		break;
	case M_WORKSPACE_LEN:
		r->workspace = hrep('w', n);
		break;
	case M_PROVIDERS:
		for (size_t i = 0; i < n; i++)
			strv_add(&s->n_providers, &s->providers, hs("p"));
		break;
	case M_LOG_LEVEL_LEN:
		free(s->log_level);
		s->log_level = hrep('l', n);
		break;
	case M_SPEC_ENV_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "E%zu", i);
			map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hs(buf), hs("v"));
		}
		break;
	case M_SPEC_ENV_KEY_LEN:
		map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hrep('K', n), hs("v"));
		break;
	case M_SPEC_ENV_VALUE_LEN:
		map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hs("BIG"), hrep('v', n));
		break;
	case M_SPEC_ENV_TOTAL:
		protobuf_c_message_free_unpacked(&s->environment[0]->base, NULL);
		free(s->environment);
		s->environment = NULL;
		s->n_environment = 0;
		env_of_total(&s->n_environment, &s->environment, SPEC_ENV_D, n);
		break;
	case M_SPEC_ENV_KEY:
		map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hs(row->s), hs("v"));
		break;
	case M_SPEC_ENV_VALUE:
		map_add(&s->n_environment, &s->environment, SPEC_ENV_D, hs("KEY"), hs(row->s));
		break;
	case M_TPL_IMAGE_LEN:
		free(t->image);
		t->image = hrep('i', n);
		break;
	case M_TPL_RUNTIME_CLASS_LEN:
		t->runtime_class_name = hrep('r', n);
		break;
	case M_TPL_AGENT_SOCKET_LEN:
		t->agent_socket = hrep('s', n);
		break;
	case M_TPL_LABELS_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "l%zu", i);
			map_add(&t->n_labels, &t->labels, TPL_LABELS_D, hs(buf), hs("v"));
		}
		break;
	case M_TPL_LABELS_KEY_LEN:
		map_add(&t->n_labels, &t->labels, TPL_LABELS_D, hrep('k', n), hs("v"));
		break;
	case M_TPL_LABELS_VALUE_LEN:
		map_add(&t->n_labels, &t->labels, TPL_LABELS_D, hs("big"), hrep('v', n));
		break;
	case M_TPL_ANN_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "a%zu", i);
			map_add(&t->n_annotations, &t->annotations, TPL_ANN_D, hs(buf), hs("v"));
		}
		break;
	case M_TPL_ANN_KEY_LEN:
		map_add(&t->n_annotations, &t->annotations, TPL_ANN_D, hrep('k', n), hs("v"));
		break;
	case M_TPL_ANN_VALUE_LEN:
		map_add(&t->n_annotations, &t->annotations, TPL_ANN_D, hs("big"), hrep('v', n));
		break;
	case M_TPL_ENV_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "T%zu", i);
			map_add(&t->n_environment, &t->environment, TPL_ENV_D, hs(buf), hs("v"));
		}
		break;
	case M_TPL_ENV_KEY_LEN:
		map_add(&t->n_environment, &t->environment, TPL_ENV_D, hrep('K', n), hs("v"));
		break;
	case M_TPL_ENV_VALUE_LEN:
		map_add(&t->n_environment, &t->environment, TPL_ENV_D, hs("BIG"), hrep('v', n));
		break;
	case M_TPL_ENV_TOTAL:
		protobuf_c_message_free_unpacked(&t->environment[0]->base, NULL);
		free(t->environment);
		t->environment = NULL;
		t->n_environment = 0;
		env_of_total(&t->n_environment, &t->environment, TPL_ENV_D, n);
		break;
	case M_TPL_ENV_KEY:
		map_add(&t->n_environment, &t->environment, TPL_ENV_D, hs(row->s), hs("v"));
		break;
	case M_TPL_ENV_VALUE:
		map_add(&t->n_environment, &t->environment, TPL_ENV_D, hs("KEY"), hs(row->s));
		break;
	case M_TPL_RESOURCES_SIZE:
		protobuf_c_message_free_unpacked(&t->resources->base, NULL);
		t->resources = struct_of_size(n);
		break;
	case M_TPL_DRIVER_CONFIG_SIZE:
		t->driver_config = struct_of_size(n);
		break;
	case M_NO_TEMPLATE:
		protobuf_c_message_free_unpacked(&t->base, NULL);
		s->template_ = NULL;
		break;
	case M_POLICY_SIZE: {
		/* field 7, length-delimited: data = varint(n) + n bytes */
		uint8_t pre[10];
		size_t pl = 0;
		for (size_t v = n; ; v >>= 7) {
			pre[pl++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			if (v <= 0x7f)
				break;
		}
		ProtobufCMessageUnknownField *u = calloc(1, sizeof(*u));
		u->tag = 7;
		u->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		u->len = pl + n;
		u->data = malloc(u->len);
		memcpy(u->data, pre, pl);
		memset(u->data + pl, 0x20, n);
		s->base.n_unknown_fields = 1;
		s->base.unknown_fields = u;
		break;
	}
	case M_CMD_COUNT:
		for (size_t i = 2; i < n; i++)
			strv_add(&s->n_command, &s->command, hs("x"));
		break;
	case M_CMD_ARG_LEN:
		strv_add(&s->n_command, &s->command, hrep('a', n));
		break;
	case M_CMD_TOTAL:
		/* replaces the command: 32 KiB args and a remainder */
		for (size_t i = 0; i < s->n_command; i++)
			free(s->command[i]);
		s->n_command = 0;
		strv_add(&s->n_command, &s->command, hs("/bin/sh"));
		n -= 7;
		while (n > 0) {
			size_t a = n > 32768 ? 32768 : n;
			strv_add(&s->n_command, &s->command, hrep('a', a));
			n -= a;
		}
		break;
	case M_CMD0_EMPTY:
		free(s->command[0]);
		s->command[0] = strdup(""); /* repeated strings are always malloc'd */
		break;
	case M_CMD_NONE:
		for (size_t i = 0; i < s->n_command; i++)
			free(s->command[i]);
		free(s->command);
		s->command = NULL;
		s->n_command = 0;
		break;
	case M_GPU_COUNT:
	case M_GPU_NO_COUNT:
		s->resource_requirements = hmsg(&openshell__v1__resource_requirements__descriptor);
		s->resource_requirements->gpu =
			hmsg(&openshell__v1__gpu_resource_requirements__descriptor);
		if (row->what == M_GPU_COUNT) {
			s->resource_requirements->gpu->opt_count_case =
				OPENSHELL__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT;
			s->resource_requirements->gpu->count = (uint32_t)n;
		}
		break;
	case M_LABELS_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "k%zu", i);
			map_add(&r->n_labels, &r->labels, REQ_LABELS_D, hs(buf), hs("v"));
		}
		break;
	case M_LABEL_KEY:
		map_add(&r->n_labels, &r->labels, REQ_LABELS_D, hs(row->s), hs("v"));
		break;
	case M_LABEL_KEY_LEN:
		map_add(&r->n_labels, &r->labels, REQ_LABELS_D, label_key_of_len(n), hs("v"));
		break;
	case M_LABEL_VALUE:
		map_add(&r->n_labels, &r->labels, REQ_LABELS_D, hs("k"), hs(row->s));
		break;
	case M_LABEL_VALUE_LEN:
		map_add(&r->n_labels, &r->labels, REQ_LABELS_D, hs("k"), hrep('v', n));
		break;
	case M_ANN_COUNT:
		for (size_t i = 1; i < n; i++) {
			snprintf(buf, sizeof(buf), "a%zu", i);
			map_add(&r->n_annotations, &r->annotations, REQ_ANN_D, hs(buf), hs("v"));
		}
		break;
	case M_ANN_KEY:
		map_add(&r->n_annotations, &r->annotations, REQ_ANN_D, hs(row->s), hs("v"));
		break;
	case M_ANN_KEY_LEN:
		map_add(&r->n_annotations, &r->annotations, REQ_ANN_D, label_key_of_len(n), hs("v"));
		break;
	case M_ANN_VALUE_LEN:
		map_add(&r->n_annotations, &r->annotations, REQ_ANN_D, hs("a"), hrep('v', n));
		break;
	}
}

ParameterizedTestParameters(validate, create_request)
{
	static struct create_row rows[] = {
		{"baseline", M_NONE, 0, "", OK, ""},
		{"spec missing", M_NO_SPEC, 0, "", INV, "spec is required"},
		{"empty name (generated later)", M_NAME, 0, "", OK, ""},
		{"name 19 bytes", M_NAME_LEN, 19, "", OK, ""},
		{"name 20 bytes", M_NAME_LEN, 20, "", INV, "name \"aaaaaaaaaaaaaaaaaaaa\" is too long (20 > 19"},
		{"name uppercase", M_NAME, 0, "Demo", INV, "name \"Demo\" is invalid"},
		{"name double hyphen", M_NAME, 0, "a--b", INV, "must not contain \"--\""},
		{"name leading hyphen", M_NAME, 0, "-ab", INV, "must not start or end with '-'"},
		{"workspace empty", M_WORKSPACE, 0, "", OK, ""},
		{"workspace ok", M_WORKSPACE, 0, "team-a", OK, ""},
		{"workspace 63", M_WORKSPACE_LEN, 63, "", OK, ""},
		{"workspace 64", M_WORKSPACE_LEN, 64, "", INV, "workspace \""},
		{"workspace underscore", M_WORKSPACE, 0, "team_a", INV, "workspace \"team_a\" is invalid"},
		{"workspace trailing hyphen", M_WORKSPACE, 0, "team-", INV, "workspace \"team-\""},
		{"providers 1", M_PROVIDERS, 1, "", FP, "providers are not supported"},
		{"providers 32", M_PROVIDERS, 32, "", FP, "providers are not supported"},
		{"providers 33", M_PROVIDERS, 33, "", INV, "spec.providers has too many entries (33 > 32)"},
		{"log_level 32", M_LOG_LEVEL_LEN, 32, "", OK, ""},
		{"log_level 33", M_LOG_LEVEL_LEN, 33, "", INV, "spec.log_level is too long (33 > 32"},
		{"spec env 128 entries", M_SPEC_ENV_COUNT, 128, "", OK, ""},
		{"spec env 129 entries", M_SPEC_ENV_COUNT, 129, "", INV, "spec.environment has too many entries (129 > 128)"},
		{"spec env key 256", M_SPEC_ENV_KEY_LEN, 256, "", OK, ""},
		{"spec env key 257", M_SPEC_ENV_KEY_LEN, 257, "", INV, "spec.environment key \"KKKK"},
		{"spec env value 8192", M_SPEC_ENV_VALUE_LEN, 8192, "", OK, ""},
		{"spec env value 8193", M_SPEC_ENV_VALUE_LEN, 8193, "", INV, "spec.environment value for key \"BIG\" is too long (8193 > 8192"},
		{"spec env total 256KiB", M_SPEC_ENV_TOTAL, 262144, "", OK, ""},
		{"spec env total 256KiB+1", M_SPEC_ENV_TOTAL, 262145, "", INV, "spec.environment total size is too large (262145 > 262144"},
		{"spec env key digit", M_SPEC_ENV_KEY, 0, "1BAD", INV, "spec.environment key \"1BAD\" is invalid: must match [A-Za-z_][A-Za-z0-9_]*"},
		{"spec env key dash", M_SPEC_ENV_KEY, 0, "A-B", INV, "spec.environment key \"A-B\" is invalid"},
		{"spec env key underscore", M_SPEC_ENV_KEY, 0, "_a1", OK, ""},
		{"spec env key reserved", M_SPEC_ENV_KEY, 0, "OPENSHELL_X", INV, "spec.environment key \"OPENSHELL_X\" is reserved"},
		{"spec env key reserved bare", M_SPEC_ENV_KEY, 0, "OPENSHELL_", INV, "is reserved"},
		{"spec env key almost reserved", M_SPEC_ENV_KEY, 0, "OPENSHELLX", OK, ""},
		{"spec env key lowercase prefix", M_SPEC_ENV_KEY, 0, "openshell_x", OK, ""},
		{"spec env value LF", M_SPEC_ENV_VALUE, 0, "a\nb", INV, "spec.environment value for key \"KEY\" must not contain CR or LF"},
		{"spec env value CR", M_SPEC_ENV_VALUE, 0, "a\rb", INV, "must not contain CR or LF"},
		{"spec env value tab", M_SPEC_ENV_VALUE, 0, "a\tb", OK, ""},
		{"template image 1024", M_TPL_IMAGE_LEN, 1024, "", OK, ""},
		{"template image 1025", M_TPL_IMAGE_LEN, 1025, "", INV, "spec.template.image is too long (1025 > 1024"},
		{"template runtime_class 1024", M_TPL_RUNTIME_CLASS_LEN, 1024, "", OK, ""},
		{"template runtime_class 1025", M_TPL_RUNTIME_CLASS_LEN, 1025, "", INV, "spec.template.runtime_class_name is too long"},
		{"template agent_socket 1024", M_TPL_AGENT_SOCKET_LEN, 1024, "", OK, ""},
		{"template agent_socket 1025", M_TPL_AGENT_SOCKET_LEN, 1025, "", INV, "spec.template.agent_socket is too long"},
		{"template labels 128", M_TPL_LABELS_COUNT, 128, "", OK, ""},
		{"template labels 129", M_TPL_LABELS_COUNT, 129, "", INV, "spec.template.labels has too many entries (129 > 128)"},
		{"template labels key 256", M_TPL_LABELS_KEY_LEN, 256, "", OK, ""},
		{"template labels key 257", M_TPL_LABELS_KEY_LEN, 257, "", INV, "spec.template.labels key \"kkk"},
		{"template labels value 8192", M_TPL_LABELS_VALUE_LEN, 8192, "", OK, ""},
		{"template labels value 8193", M_TPL_LABELS_VALUE_LEN, 8193, "", INV, "spec.template.labels value for key \"big\" is too long"},
		{"template annotations 128", M_TPL_ANN_COUNT, 128, "", OK, ""},
		{"template annotations 129", M_TPL_ANN_COUNT, 129, "", INV, "spec.template.annotations has too many entries"},
		{"template annotations key 256", M_TPL_ANN_KEY_LEN, 256, "", OK, ""},
		{"template annotations key 257", M_TPL_ANN_KEY_LEN, 257, "", INV, "spec.template.annotations key"},
		{"template annotations value 8192", M_TPL_ANN_VALUE_LEN, 8192, "", OK, ""},
		{"template annotations value 8193", M_TPL_ANN_VALUE_LEN, 8193, "", INV, "spec.template.annotations value for key \"big\""},
		{"template env 128", M_TPL_ENV_COUNT, 128, "", OK, ""},
		{"template env 129", M_TPL_ENV_COUNT, 129, "", INV, "spec.template.environment has too many entries"},
		{"template env key 256", M_TPL_ENV_KEY_LEN, 256, "", OK, ""},
		{"template env key 257", M_TPL_ENV_KEY_LEN, 257, "", INV, "spec.template.environment key"},
		{"template env value 8192", M_TPL_ENV_VALUE_LEN, 8192, "", OK, ""},
		{"template env value 8193", M_TPL_ENV_VALUE_LEN, 8193, "", INV, "spec.template.environment value for key \"BIG\""},
		{"template env total 256KiB", M_TPL_ENV_TOTAL, 262144, "", OK, ""},
		{"template env total 256KiB+1", M_TPL_ENV_TOTAL, 262145, "", INV, "spec.template.environment total size is too large"},
		{"template env key invalid", M_TPL_ENV_KEY, 0, "9X", INV, "spec.template.environment key \"9X\" is invalid"},
		{"template env key reserved", M_TPL_ENV_KEY, 0, "OPENSHELL_SANDBOX", INV, "spec.template.environment key \"OPENSHELL_SANDBOX\" is reserved"},
		{"template env value LF", M_TPL_ENV_VALUE, 0, "x\n", INV, "spec.template.environment value for key \"KEY\""},
		{"template resources 65536", M_TPL_RESOURCES_SIZE, 65536, "", OK, ""},
		{"template resources 65537", M_TPL_RESOURCES_SIZE, 65537, "", INV, "spec.template.resources serialized size is too large (65537 > 65536"},
		{"template driver_config 65536", M_TPL_DRIVER_CONFIG_SIZE, 65536, "", OK, ""},
		{"template driver_config 65537", M_TPL_DRIVER_CONFIG_SIZE, 65537, "", INV, "spec.template.driver_config serialized size is too large (65537 > 65536"},
		{"no template", M_NO_TEMPLATE, 0, "", OK, ""},
		{"policy 262144", M_POLICY_SIZE, 262144, "", OK, ""},
		{"policy 262145", M_POLICY_SIZE, 262145, "", INV, "spec.policy serialized size is too large (262145 > 262144"},
		{"command 256 args", M_CMD_COUNT, 256, "", OK, ""},
		{"command 257 args", M_CMD_COUNT, 257, "", INV, "spec.command has too many arguments (257 > 256)"},
		{"command arg 32KiB", M_CMD_ARG_LEN, 32768, "", OK, ""},
		{"command arg 32KiB+1", M_CMD_ARG_LEN, 32769, "", INV, "spec.command[2] is too long (32769 > 32768"},
		{"command total 256KiB", M_CMD_TOTAL, 262144, "", OK, ""},
		{"command total 256KiB+1", M_CMD_TOTAL, 262145, "", INV, "spec.command total size is too large (262145 > 262144"},
		{"command[0] empty", M_CMD0_EMPTY, 0, "", INV, "spec.command[0] must not be empty"},
		{"command empty (image default)", M_CMD_NONE, 0, "", OK, ""},
		{"gpu count 0", M_GPU_COUNT, 0, "", INV, "gpu count must be greater than 0"},
		{"gpu count 1", M_GPU_COUNT, 1, "", OK, ""},
		{"gpu without count", M_GPU_NO_COUNT, 0, "", OK, ""},
		{"labels 128", M_LABELS_COUNT, 128, "", OK, ""},
		{"labels 129", M_LABELS_COUNT, 129, "", INV, "labels has too many entries (129 > 128)"},
		{"label key 253", M_LABEL_KEY_LEN, 253, "", OK, ""},
		{"label key 254", M_LABEL_KEY_LEN, 254, "", INV, "labels key \"pppp"},
		{"label key bad", M_LABEL_KEY, 0, "-x", INV, "labels key \"-x\" is invalid"},
		{"label key prefixed", M_LABEL_KEY, 0, "example.com/x", OK, ""},
		{"label value 63", M_LABEL_VALUE_LEN, 63, "", OK, ""},
		{"label value 64", M_LABEL_VALUE_LEN, 64, "", INV, "labels value for key \"k\""},
		{"label value bad", M_LABEL_VALUE, 0, "a b", INV, "labels value for key \"k\" \"a b\" is invalid"},
		{"label value empty", M_LABEL_VALUE, 0, "", OK, ""},
		{"annotations 128", M_ANN_COUNT, 128, "", OK, ""},
		{"annotations 129", M_ANN_COUNT, 129, "", INV, "annotations has too many entries (129 > 128)"},
		{"annotation key 253", M_ANN_KEY_LEN, 253, "", OK, ""},
		{"annotation key 254", M_ANN_KEY_LEN, 254, "", INV, "annotations key"},
		{"annotation key bad", M_ANN_KEY, 0, "a b", INV, "annotations key \"a b\" is invalid"},
		{"annotation value 8192", M_ANN_VALUE_LEN, 8192, "", OK, ""},
		{"annotation value 8193", M_ANN_VALUE_LEN, 8193, "", INV, "annotations value for key \"a\" is too long (8193 > 8192"},
	};
	return cr_make_param_array(struct create_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct create_row *row, validate, create_request)
{
	char err[512] = "";
	Openshell__V1__CreateSandboxRequest *r = base_request();
	mutate(r, row);
	int rc = osh_validate_create_request(r, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d, want %d (%s)", row->label, rc, row->code, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] message \"%s\" lacks \"%s\"",
			  row->label, err, row->msg);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

Test(validate, create_request_null)
{
	char err[64];
	cr_expect_eq(osh_validate_create_request(NULL, err, sizeof(err)), INV);
	cr_expect_str_eq(err, "spec is required");
}

/* ---- names ---- */

struct name_row {
	char s[80];
	int code;
	char msg[96];
};

ParameterizedTestParameters(validate, sandbox_name)
{
	static struct name_row rows[] = {
		{"a", OK, ""},
		{"demo-1", OK, ""},
		{"0abc", OK, ""},
		{"abcdefghij-klmnopqr", OK, ""}, /* 19 */
		{"abcdefghij-klmnopqrs", INV, "is too long (20 > 19 bytes)"},
		{"", INV, "name is required"},
		{"Demo", INV, "name \"Demo\" is invalid: it may contain only lowercase letters"},
		{"de_mo", INV, "may contain only"},
		{"de.mo", INV, "may contain only"},
		{"de mo", INV, "may contain only"},
		{"-demo", INV, "must not start or end with '-'"},
		{"demo-", INV, "must not start or end with '-'"},
		{"-", INV, "must not start or end with '-'"},
		{"de--mo", INV, "must not contain \"--\""},
		{"caf\xc3\xa9", INV, "name \"caf\\xc3\\xa9\" is invalid"},
		{"a\"b", INV, "name \"a\\\"b\" is invalid"},
	};
	return cr_make_param_array(struct name_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct name_row *row, validate, sandbox_name)
{
	char err[256] = "";
	int rc = osh_validate_sandbox_name(row->s, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->s, rc, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] \"%s\" lacks \"%s\"", row->s, err,
			  row->msg);
}

ParameterizedTestParameters(validate, workspace)
{
	static struct name_row rows[] = {
		{"", OK, ""},
		{"default", OK, ""},
		{"team-a-01", OK, ""},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", OK, ""},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd", INV, "is too long (64 > 63 bytes)"},
		{"Team", INV, "workspace \"Team\" is invalid"},
		{"team--a", INV, "must not contain \"--\""},
		{"-team", INV, "must not start or end"},
		{"team/a", INV, "may contain only"},
	};
	return cr_make_param_array(struct name_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct name_row *row, validate, workspace)
{
	char err[256] = "";
	int rc = osh_validate_workspace(row->s, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->s, rc, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] \"%s\" lacks \"%s\"", row->s, err,
			  row->msg);
}

Test(validate, workspace_null_is_default)
{
	cr_expect_eq(osh_validate_workspace(NULL, NULL, 0), OK);
	cr_expect_eq(osh_validate_sandbox_name(NULL, NULL, 0), INV);
}

/* ---- labels ---- */

ParameterizedTestParameters(validate, label_key)
{
	static struct name_row rows[] = {
		{"app", OK, ""},
		{"A", OK, ""},
		{"my_label.v-2", OK, ""},
		{"example.com/app", OK, ""},
		{"a.b-c.d/X_y", OK, ""},
		{"k8s.io/a", OK, ""},
		{"", INV, "label key must not be empty"},
		{"/app", INV, "the prefix before '/' must not be empty"},
		{"example.com/", INV, "the name part must not be empty"},
		{"_app", INV, "must start and end with a letter or digit"},
		{"app_", INV, "must start and end with a letter or digit"},
		{".app", INV, "must start and end"},
		{"a pp", INV, "the name part may contain only letters, digits"},
		{"a/b/c", INV, "the name part may contain only"},
		{"caf\xc3\xa9", INV, "the name part may contain only"}, /* ASCII only: stricter than upstream */
		{"Example.com/app", INV, "the prefix may contain only lowercase"},
		{"ex_ample.com/app", INV, "the prefix may contain only lowercase"},
		{"-example.com/app", INV, "the prefix must not start or end with '-' or '.'"},
		{"example.com-/app", INV, "the prefix must not start or end"},
		{".example.com/app", INV, "the prefix must not start or end"},
		{"example.com./app", INV, "the prefix must not start or end"},
		{"example..com/app", INV, "the prefix must not contain \"..\""},
		/* name part 63 / 64 */
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", OK, ""},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd", INV, "the name part is longer than 63 bytes"},
	};
	return cr_make_param_array(struct name_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct name_row *row, validate, label_key)
{
	char err[512] = "";
	int rc = osh_validate_label_key(row->s, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->s, rc, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] \"%s\" lacks \"%s\"", row->s, err,
			  row->msg);
}

struct len_row {
	size_t n;
	int code;
};

ParameterizedTestParameters(validate, label_key_length)
{
	static struct len_row rows[] = {
		{1, OK}, {63, OK}, {64, OK}, {200, OK}, {253, OK}, {254, INV}, {300, INV},
	};
	return cr_make_param_array(struct len_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct len_row *row, validate, label_key_length)
{
	char err[512] = "";
	char *k = label_key_of_len(row->n);
	int rc = osh_validate_label_key(k, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[len %zu] rc %d (%s)", row->n, rc, err);
	if (row->code != OK && row->n > 253)
		cr_expect(strstr(err, "is too long") != NULL, "%s", err);
	free(k);
}

ParameterizedTestParameters(validate, label_value)
{
	static struct name_row rows[] = {
		{"", OK, ""},
		{"v", OK, ""},
		{"V1.2_3-x", OK, ""},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc", OK, ""},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd", INV, "is too long (64 > 63 bytes)"},
		{"-v", INV, "must start and end with a letter or digit"},
		{"v.", INV, "must start and end with a letter or digit"},
		{"a b", INV, "it may contain only letters, digits"},
		{"a/b", INV, "may contain only"},
		{"a=b", INV, "may contain only"},
	};
	return cr_make_param_array(struct name_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct name_row *row, validate, label_value)
{
	char err[512] = "";
	int rc = osh_validate_label_value(row->s, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->s, rc, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] \"%s\" lacks \"%s\"", row->s, err,
			  row->msg);
}

Test(validate, long_key_is_shortened_in_message)
{
	char err[1024];
	char *k = hrep('a', 300);
	cr_expect_eq(osh_validate_label_key(k, err, sizeof(err)), INV);
	cr_expect(strstr(err, "...\" is too long (300 > 253 bytes)") != NULL, "%s", err);
	cr_expect(strlen(err) < 200, "%s", err);
	/* a tiny buffer is still terminated */
	char small[8];
	cr_expect_eq(osh_validate_label_key(k, small, sizeof(small)), INV);
	cr_expect_eq(strlen(small), 7);
	free(k);
}

/* ---- selectors ---- */

struct sel_row {
	char sel[64];
	int code;
	size_t n;
	char pairs[96]; /* "k=v;k=v" expected, or error substring */
};

ParameterizedTestParameters(validate, selector)
{
	static struct sel_row rows[] = {
		{"", OK, 0, ""},
		{"   ", OK, 0, ""},
		{",,", OK, 0, ""},
		{"app=web", OK, 1, "app=web"},
		{" app = web , tier=db ", OK, 2, "app=web;tier=db"},
		{"app=web,,tier=db,", OK, 2, "app=web;tier=db"},
		{", ,app=web", OK, 1, "app=web"},
		{"app=", OK, 1, "app="},
		{"example.com/app=x", OK, 1, "example.com/app=x"},
		{"a=b=c", INV, 0, "label selector value \"b=c\" is invalid"},
		{"app", INV, 0, "label selector pair \"app\" is invalid: expected key=value"},
		{"app=web,tier", INV, 0, "label selector pair \"tier\" is invalid"},
		{"=web", INV, 0, "the key must not be empty"},
		{" =web", INV, 0, "the key must not be empty"},
		{"-app=web", INV, 0, "label selector key \"-app\" is invalid"},
		{"app=-web", INV, 0, "label selector value \"-web\" is invalid"},
	};
	return cr_make_param_array(struct sel_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct sel_row *row, validate, selector)
{
	char err[512] = "", got[512] = "";
	char **k = (char **)1, **v = (char **)1;
	size_t n = 99;
	int rc = osh_parse_label_selector(row->sel, &k, &v, &n, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->sel, rc, err);
	if (rc == OK) {
		cr_expect_eq(n, row->n, "[%s] n %zu", row->sel, n);
		for (size_t i = 0; i < n; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%s",
				 i ? ";" : "", k[i], v[i]);
		cr_expect_str_eq(got, row->pairs, "[%s]", row->sel);
		osh_label_selector_free(k, v, n);
	} else {
		cr_expect(k == NULL && v == NULL && n == 0);
		cr_expect(strstr(err, row->pairs) != NULL, "[%s] \"%s\" lacks \"%s\"", row->sel,
			  err, row->pairs);
	}
}

ParameterizedTestParameters(validate, selector_pair_limit)
{
	static struct len_row rows[] = {{1, OK}, {63, OK}, {64, OK}, {65, INV}, {100, INV}};
	return cr_make_param_array(struct len_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct len_row *row, validate, selector_pair_limit)
{
	char err[256] = "";
	char *sel = calloc(row->n * 16 + 64, 1);
	/* blank pairs do not count toward the limit */
	strcat(sel, ",,");
	for (size_t i = 0; i < row->n; i++)
		sprintf(sel + strlen(sel), "k%zu=v%zu, ,", i, i);
	char **k, **v;
	size_t n;
	int rc = osh_parse_label_selector(sel, &k, &v, &n, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%zu pairs] rc %d (%s)", row->n, rc, err);
	if (rc == OK) {
		cr_expect_eq(n, row->n);
		char want[32];
		snprintf(want, sizeof(want), "k%zu", row->n - 1);
		cr_expect_str_eq(k[row->n - 1], want);
		osh_label_selector_free(k, v, n);
	} else {
		cr_expect(strstr(err, "more than 64 pairs") != NULL, "%s", err);
	}
	free(sel);
}

Test(validate, selector_null_and_free_null)
{
	char **k, **v;
	size_t n;
	cr_expect_eq(osh_parse_label_selector(NULL, &k, &v, &n, NULL, 0), OK);
	cr_expect(k == NULL && v == NULL && n == 0);
	osh_label_selector_free(NULL, NULL, 0);
}

/* ---- NUL bytes on the wire ---- */

struct wire_row {
	char label[32];
	int where; /* which field carries the marker byte */
	int code;
	char msg[160];
};

enum { W_CLEAN, W_NAME, W_SPEC_ENV_VALUE, W_SPEC_ENV_KEY, W_CMD1, W_IMAGE, W_LABEL_VALUE,
       W_DRIVER_CONFIG, W_TRUNCATED };

ParameterizedTestParameters(validate, wire_strings)
{
	static struct wire_row rows[] = {
		{"clean", W_CLEAN, OK, ""},
		{"name", W_NAME, INV, "name contains a NUL byte"},
		{"spec env value", W_SPEC_ENV_VALUE, INV, "spec.environment[\"FOO\"] contains a NUL byte"},
		{"spec env key", W_SPEC_ENV_KEY, INV, "spec.environment key contains a NUL byte"},
		{"command[1]", W_CMD1, INV, "spec.command[1] contains a NUL byte"},
		{"template image", W_IMAGE, INV, "spec.template.image contains a NUL byte"},
		{"label value", W_LABEL_VALUE, INV, "labels[\"team\"] contains a NUL byte"},
		{"driver_config string", W_DRIVER_CONFIG, INV, "spec.template.driver_config.fields[\"docker\"].struct_value.fields[\"opt\"].string_value contains a NUL byte"},
		{"truncated", W_TRUNCATED, INV, "request could not be decoded"},
	};
	return cr_make_param_array(struct wire_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct wire_row *row, validate, wire_strings)
{
	char err[512] = "";
	Openshell__V1__CreateSandboxRequest *r = base_request();
	Openshell__V1__SandboxSpec *s = r->spec;
	char **target = NULL;

	/* driver_config {"docker": {"opt": "..."}} */
	Google__Protobuf__Struct *inner = hmsg(&google__protobuf__struct__descriptor);
	struct_put_str(inner, "opt", hs("plain"));
	Google__Protobuf__Struct *dc = hmsg(&google__protobuf__struct__descriptor);
	struct_put_str(dc, "docker", hs("tmp"));
	free(dc->fields[0]->value->string_value);
	dc->fields[0]->value->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
	dc->fields[0]->value->struct_value = inner;
	s->template_->driver_config = dc;

	switch (row->where) {
	case W_NAME: target = &r->name; break;
	case W_SPEC_ENV_VALUE: target = &s->environment[0]->value; break;
	case W_SPEC_ENV_KEY: target = &s->environment[0]->key; break;
	case W_CMD1: target = &s->command[1]; break;
	case W_IMAGE: target = &s->template_->image; break;
	case W_LABEL_VALUE: target = &r->labels[0]->value; break;
	case W_DRIVER_CONFIG: target = &inner->fields[0]->value->string_value; break;
	default: break;
	}
	if (target) {
		/* mark with "\x01\x7f\x01" and turn its first byte into NUL after packing */
		size_t l = strlen(*target);
		char *m = malloc(l + 4);
		snprintf(m, l + 4, "%s\x01\x7f\x01", *target);
		free(*target);
		*target = m;
	}
	size_t len = protobuf_c_message_get_packed_size(&r->base);
	uint8_t *buf = malloc(len);
	protobuf_c_message_pack(&r->base, buf);
	if (target) {
		uint8_t *p = memmem(buf, len, "\x01\x7f\x01", 3);
		cr_assert(p);
		*p = 0;
	}
	if (row->where == W_TRUNCATED)
		len -= 3;
	int rc = osh_validate_wire_strings(&openshell__v1__create_sandbox_request__descriptor, buf,
					   len, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->label, rc, err);
	if (row->msg[0])
		cr_expect(strstr(err, row->msg) != NULL, "[%s] \"%s\" lacks \"%s\"", row->label, err,
			  row->msg);
	free(buf);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

Test(validate, wire_strings_empty_message)
{
	cr_expect_eq(osh_validate_wire_strings(&openshell__v1__create_sandbox_request__descriptor,
					       NULL, 0, NULL, 0),
		     OK);
}

/* ---- generation ---- */

Test(validate, generated_names_are_valid)
{
	char seen[1000][20];
	size_t distinct = 0;
	for (int i = 0; i < 1000; i++) {
		char name[20];
		char err[256] = "";
		memset(name, 0x7f, sizeof(name));
		osh_generate_name(name);
		size_t len = strlen(name);
		cr_assert(len >= 3 && len <= 19, "length %zu of \"%s\"", len, name);
		cr_assert_eq(osh_validate_sandbox_name(name, err, sizeof(err)), OK, "\"%s\": %s",
			     name, err);
		cr_assert_neq(name[len - 1], '-');
		size_t dashes = 0;
		for (size_t j = 0; j < len; j++) {
			cr_assert((name[j] >= 'a' && name[j] <= 'z') || name[j] == '-', "\"%s\"", name);
			dashes += name[j] == '-';
		}
		cr_assert_eq(dashes, 1, "two words joined by '-': \"%s\"", name);
		int dup = 0;
		for (size_t j = 0; j < distinct && !dup; j++)
			dup = strcmp(seen[j], name) == 0;
		if (!dup)
			memcpy(seen[distinct++], name, len + 1);
	}
	cr_expect(distinct > 200, "only %zu distinct names in 1000", distinct);
}

Test(validate, generated_uuids)
{
	static char seen[1000][37];
	for (int i = 0; i < 1000; i++) {
		char *u = seen[i];
		osh_generate_uuid(u);
		cr_assert_eq(strlen(u), 36, "%s", u);
		for (int j = 0; j < 36; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				cr_assert_eq(u[j], '-', "%s", u);
			else
				cr_assert((u[j] >= '0' && u[j] <= '9') || (u[j] >= 'a' && u[j] <= 'f'),
					  "%s", u);
		}
		cr_assert_eq(u[14], '4', "version nibble: %s", u);
		cr_assert(strchr("89ab", u[19]) != NULL, "variant: %s", u);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(seen[j], u);
	}
}
