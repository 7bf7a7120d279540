/* test_engine.c - the pure parts of plugins/common (libosh-engine):
 * quantities, container names, workload env and labels, timestamps,
 * driver_config mounts, config keys, socket resolution, Struct -> JSON,
 * snapshots and the watch broadcast. */
#include "config.h"

#include "engine.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantities ---------------------------------------------------------- */

static int64_t cpu(const char *s)
{
	int64_t v = -1;
	return osh_quantity_cpu_nanos(s, &v) == 0 ? v : -1;
}

static int64_t mem(const char *s)
{
	int64_t v = -1;
	return osh_quantity_bytes(s, &v) == 0 ? v : -1;
}

Test(quantity, cpu)
{
	cr_expect_eq(cpu("500m"), 500000000);
	cr_expect_eq(cpu("1.5"), 1500000000);
	cr_expect_eq(cpu("2"), 2000000000);
	cr_expect_eq(cpu("0.25"), 250000000);
	cr_expect_eq(cpu("100u"), 100000);
	cr_expect_eq(cpu("1n"), 1);
	cr_expect_eq(cpu("+1"), 1000000000);
	cr_expect_eq(cpu("2E-1"), 200000000);
	cr_expect_eq(cpu(".5"), 500000000);
	cr_expect_eq(cpu("1."), 1000000000);
	cr_expect_eq(cpu("0.0000000001"), 1, "sub-nano rounds up");
}

Test(quantity, cpu_invalid)
{
	const char *bad[] = { "",
			      "0",
			      "0m",
			      "-1",
			      "-500m",
			      "abc",
			      "1x",
			      "m",
			      "1.5.5",
			      "1 ",
			      " 1",
			      "1e",
			      "1e+",
			      "1mm",
			      "1e3m",
			      "1Ki5",
			      "9223372036854775807",
			      ".",
			      "1e1001",
			      NULL };
	for (int i = 0; bad[i]; i++)
		cr_expect_eq(cpu(bad[i]), -1, "cpu \"%s\" should be refused", bad[i]);
	cr_expect_eq(osh_quantity_cpu_nanos(NULL, &(int64_t){ 0 }), -1);
}

Test(quantity, memory)
{
	cr_expect_eq(mem("512Mi"), 536870912);
	cr_expect_eq(mem("1Gi"), 1073741824);
	cr_expect_eq(mem("1G"), 1000000000);
	cr_expect_eq(mem("1000"), 1000);
	cr_expect_eq(mem("1e3"), 1000);
	cr_expect_eq(mem("1E3"), 1000);
	cr_expect_eq(mem("1.5Ki"), 1536);
	cr_expect_eq(mem("64Mi"), 67108864);
	cr_expect_eq(mem("1k"), 1000);
	cr_expect_eq(mem("2Ti"), 2199023255552LL);
	cr_expect_eq(mem("1E"), 1000000000000000000LL, "E alone is exa");
	cr_expect_eq(mem("1m"), 1, "fractional bytes round up");
	cr_expect_eq(mem("1.0000000000000000000001"), 2, "digits beyond precision round up");
	cr_expect_eq(mem("0.5Ki"), 512);
	cr_expect_eq(mem("007"), 7);
}

Test(quantity, memory_invalid)
{
	const char *bad[] = { "",     "0",    "0Gi", "-1Gi", "1GiB",	"1gi",
			      "lots", "1e19", "8Ei", "16Ei", "1.5.5Mi", NULL };
	for (int i = 0; bad[i]; i++)
		cr_expect_eq(mem(bad[i]), -1, "memory \"%s\" should be refused", bad[i]);
	cr_expect_eq(mem("7Ei"), 8070450532247928832LL, "7Ei still fits");
}

/* ---- names --------------------------------------------------------------- */

Test(naming, basic)
{
	char out[OSH_ENGINE_NAME_MAX + 1];
	size_t n = osh_engine_container_name("default", "demo", "1f2e", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-default--demo-1f2e");
	cr_expect_eq(n, strlen(out));
	osh_engine_container_name("Team A", "My Box!", "ID_1", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-team-a--my-box-id_1");
	osh_engine_container_name("", "x", "1", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-default--x-1", "empty workspace is default");
	osh_engine_container_name("ws", "", "abc", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-ws---abc", "empty name");
	osh_engine_container_name("ws", "--a.b_c--", "id", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-ws--a.b_c-id", "leading/trailing '-' trimmed");
	osh_engine_container_name("ws", "\xc3\xa9t\xc3\xa9", "id", out, sizeof(out));
	cr_expect_str_eq(out, "openshell-ws--t-id", "non-ASCII bytes become '-', then trimmed");
}

Test(naming, truncation)
{
	char name[400], out[OSH_ENGINE_NAME_MAX + 1];
	const char *id = "0123456789abcdef0123456789abcdef0123";
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	size_t n = osh_engine_container_name("default", name, id, out, sizeof(out));
	cr_expect_eq(n, OSH_ENGINE_NAME_MAX);
	cr_expect_eq(strlen(out), OSH_ENGINE_NAME_MAX);
	cr_expect(strncmp(out, "openshell-default--aaa", 22) == 0);
	cr_expect(strcmp(out + n - strlen(id) - 1, "-0123456789abcdef0123456789abcdef0123") == 0,
		  "the id is kept whole: %s", out);
	/* A cut that ends in "-._" loses them. */
	size_t fixed = strlen("openshell-default---") + strlen(id);
	size_t keep = OSH_ENGINE_NAME_MAX - fixed;
	memset(name, 'b', sizeof(name) - 1);
	name[keep - 1] = '.';
	name[keep - 2] = '_';
	n = osh_engine_container_name("default", name, id, out, sizeof(out));
	cr_expect_eq(n, OSH_ENGINE_NAME_MAX - 2, "%s", out);
	cr_expect(strstr(out, "b--") == NULL && strstr(out, "b-0123") != NULL, "%s", out);
}

/* ---- env and labels -------------------------------------------------------- */

typedef Openshell__Compute__V1__DriverSandboxTemplate__EnvironmentEntry tenv;
typedef Openshell__Compute__V1__DriverSandboxSpec__EnvironmentEntry senv;
typedef Openshell__Compute__V1__DriverSandboxTemplate__LabelsEntry tlab;

struct fixture {
	osh_engine_ds ds;
	Openshell__Compute__V1__DriverSandboxSpec spec;
	Openshell__Compute__V1__DriverSandboxTemplate t;
	tenv te[3];
	tenv *tep[3];
	senv se[2];
	senv *sep[2];
	tlab tl[3];
	tlab *tlp[3];
};

static void fixture_init(struct fixture *f)
{
	openshell__compute__v1__driver_sandbox__init(&f->ds);
	openshell__compute__v1__driver_sandbox_spec__init(&f->spec);
	openshell__compute__v1__driver_sandbox_template__init(&f->t);
	static const char *const te[3][2] = { { "A", "template" },
					      { "B", "template" },
					      { "OPENSHELL_SANDBOX", "spoofed" } };
	for (int i = 0; i < 3; i++) {
		openshell__compute__v1__driver_sandbox_template__environment_entry__init(&f->te[i]);
		f->te[i].key = (char *)te[i][0];
		f->te[i].value = (char *)te[i][1];
		f->tep[i] = &f->te[i];
	}
	static const char *const se[2][2] = { { "B", "spec" },
					      { "OPENSHELL_SANDBOX_ID", "spoofed" } };
	for (int i = 0; i < 2; i++) {
		openshell__compute__v1__driver_sandbox_spec__environment_entry__init(&f->se[i]);
		f->se[i].key = (char *)se[i][0];
		f->se[i].value = (char *)se[i][1];
		f->sep[i] = &f->se[i];
	}
	static const char *const tl[3][2] = { { "app", "x" },
					      { "openshell.ai/sandbox-id", "spoofed" },
					      { "openshell.ai/managed-by", "someone" } };
	for (int i = 0; i < 3; i++) {
		openshell__compute__v1__driver_sandbox_template__labels_entry__init(&f->tl[i]);
		f->tl[i].key = (char *)tl[i][0];
		f->tl[i].value = (char *)tl[i][1];
		f->tlp[i] = &f->tl[i];
	}
	f->t.n_environment = 3;
	f->t.environment = f->tep;
	f->t.n_labels = 3;
	f->t.labels = f->tlp;
	f->spec.n_environment = 2;
	f->spec.environment = f->sep;
	f->spec.template_ = &f->t;
	f->ds.spec = &f->spec;
	f->ds.id = (char *)"id-1";
	f->ds.name = (char *)"demo";
	f->ds.workspace = (char *)"team";
}

Test(workload, env_overlay_and_managed_keys_win)
{
	struct fixture f;
	fixture_init(&f);
	json_t *env = osh_engine_workload_env(&f.ds);
	cr_expect_str_eq(osh_json_str(env, "A"), "template");
	cr_expect_str_eq(osh_json_str(env, "B"), "spec", "spec env overlays template env");
	cr_expect_str_eq(osh_json_str(env, "OPENSHELL_SANDBOX_ID"), "id-1");
	cr_expect_str_eq(osh_json_str(env, "OPENSHELL_SANDBOX"), "demo");
	cr_expect_str_eq(osh_json_str(env, "OPENSHELL_SANDBOX_WORKSPACE"), "team");
	cr_expect_eq(json_object_size(env), 5);
	json_t *list = osh_engine_env_list(env);
	cr_assert_eq(json_array_size(list), 5);
	cr_expect_str_eq(json_string_value(json_array_get(list, 0)), "A=template");
	cr_expect_str_eq(json_string_value(json_array_get(list, 1)), "B=spec");
	cr_expect_str_eq(json_string_value(json_array_get(list, 2)), "OPENSHELL_SANDBOX=demo");
	cr_expect_str_eq(json_string_value(json_array_get(list, 3)), "OPENSHELL_SANDBOX_ID=id-1");
	cr_expect_str_eq(json_string_value(json_array_get(list, 4)),
			 "OPENSHELL_SANDBOX_WORKSPACE=team");
	json_decref(list);
	json_decref(env);
}

Test(workload, env_without_spec)
{
	osh_engine_ds ds;
	openshell__compute__v1__driver_sandbox__init(&ds);
	ds.id = (char *)"x";
	json_t *env = osh_engine_workload_env(&ds);
	cr_expect_eq(json_object_size(env), 3);
	cr_expect_str_eq(osh_json_str(env, "OPENSHELL_SANDBOX_WORKSPACE"), "default");
	json_decref(env);
}

Test(workload, labels_managed_win)
{
	struct fixture f;
	fixture_init(&f);
	json_t *l = osh_engine_workload_labels(&f.ds, "gw-9");
	cr_expect_str_eq(osh_json_str(l, "app"), "x");
	cr_expect_str_eq(osh_json_str(l, OSH_LABEL_MANAGED_BY), "openshell");
	cr_expect_str_eq(osh_json_str(l, OSH_LABEL_SANDBOX_ID), "id-1");
	cr_expect_str_eq(osh_json_str(l, OSH_LABEL_SANDBOX_NAME), "demo");
	cr_expect_str_eq(osh_json_str(l, OSH_LABEL_WORKSPACE), "team");
	cr_expect_str_eq(osh_json_str(l, OSH_LABEL_GATEWAY_ID), "gw-9");
	cr_expect_eq(json_object_size(l), 6);
	json_decref(l);
	l = osh_engine_workload_labels(&f.ds, NULL);
	cr_expect_null(json_object_get(l, OSH_LABEL_GATEWAY_ID));
	json_decref(l);
}

/* ---- time ------------------------------------------------------------------ */

Test(time, normalize)
{
	char b[64];
	cr_assert_eq(osh_engine_time_normalize("2026-11-29T17:09:20.915941286Z", b, sizeof(b)), 0);
	cr_expect_str_eq(b, "2026-11-29T17:09:20.915Z");
	cr_assert_eq(osh_engine_time_normalize("2026-11-29T18:09:20+01:00", b, sizeof(b)), 0);
	cr_expect_str_eq(b, "2026-11-29T17:09:20.000Z");
	cr_assert_eq(osh_engine_time_normalize("2026-01-01T00:30:00.5-01:30", b, sizeof(b)), 0);
	cr_expect_str_eq(b, "2026-01-01T02:00:00.500Z");
	cr_expect_eq(osh_engine_time_normalize("0001-01-01T00:00:00Z", b, sizeof(b)), -1,
		     "the zero time is no time");
	cr_expect_eq(osh_engine_time_normalize("yesterday", b, sizeof(b)), -1);
	cr_expect_eq(osh_engine_time_normalize("2026-11-29T17:09:20", b, sizeof(b)), -1);
	cr_expect_eq(osh_engine_time_normalize(NULL, b, sizeof(b)), -1);
	osh_engine_time_now(b, sizeof(b));
	cr_expect_eq(strlen(b), 24);
	cr_expect_eq(b[23], 'Z');
	cr_expect_eq(b[19], '.');
}

/* ---- mounts ---------------------------------------------------------------- */

static int32_t parse(const char *json, int allow_bind, osh_engine_mounts *m, char *err)
{
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
	cr_assert_not_null(j, "bad test JSON %s", json);
	int32_t rc = osh_engine_mounts_parse(j, allow_bind, m, err, 512);
	json_decref(j);
	return rc;
}

Test(mounts, valid)
{
	osh_engine_mounts m;
	char err[512] = "";
	int32_t rc = parse("[{\"type\":\"tmpfs\",\"target\":\"/scratch/"
			   "\",\"size_bytes\":1048576,\"mode\":\"1777\","
			   "\"options\":[\"noexec\",\"uid=1000\"]},"
			   "{\"type\":\"volume\",\"source\":\"data\",\"target\":\"//"
			   "data\",\"subpath\":\"a/b\"},"
			   "{\"type\":\"bind\",\"source\":\"/srv/x\",\"target\":\"/"
			   "mnt\",\"selinux_label\":\"private\"},"
			   "{\"type\":\"tmpfs\",\"target\":\"/t2\",\"mode\":448}]",
			   1, &m, err);
	cr_assert_eq(rc, OPENSHELL_STATUS_OK, "%s", err);
	cr_assert_eq(m.n, 4);
	cr_expect_eq(m.v[0].type, OSH_MOUNT_TMPFS);
	cr_expect_str_eq(m.v[0].target, "/scratch");
	cr_expect_eq(m.v[0].size_bytes, 1048576);
	cr_expect_eq(m.v[0].mode, 01777);
	cr_expect_eq(m.v[0].n_options, 2);
	cr_expect_str_eq(m.v[0].options[1], "uid=1000");
	cr_expect_eq(m.v[1].type, OSH_MOUNT_VOLUME);
	cr_expect_str_eq(m.v[1].target, "/data");
	cr_expect_str_eq(m.v[1].subpath, "a/b");
	cr_expect_eq(m.v[1].read_only, 0, "volumes default to read-write");
	cr_expect_eq(m.v[2].type, OSH_MOUNT_BIND);
	cr_expect_eq(m.v[2].read_only, 1, "binds default to read-only");
	cr_expect_eq(m.v[2].selinux, 'Z');
	cr_expect_eq(m.v[3].mode, 0700);
	osh_engine_mounts_clear(&m);
	cr_expect_eq(parse("null", 0, &m, err), OPENSHELL_STATUS_OK);
	cr_expect_eq(m.n, 0);
}

Test(mounts, refused)
{
	static const struct {
		const char *json;
		int32_t code;
		const char *needle;
	} cases[] = {
		{ "{}", OPENSHELL_STATUS_INVALID_ARGUMENT, "must be a list" },
		{ "[1]", OPENSHELL_STATUS_INVALID_ARGUMENT, "must be an object" },
		{ "[{\"type\":\"nfs\",\"target\":\"/x\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  ".type" },
		{ "[{\"type\":\"tmpfs\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "target is required" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"rel\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "absolute" },
		{ "[{\"type\":\"tmpfs\",\"target\":\" /x\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "whitespace" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/a/../b\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "\"..\"" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "root" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/etc/openshell/tls\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "reserved" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/etc\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "reserved path /etc/openshell" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/run/netns\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "reserved" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/x\",\"source\":\"a\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "unknown key \"source\"" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/x\",\"size_bytes\":0}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "size_bytes" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/x\",\"mode\":\"999\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "mode" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/x\",\"options\":[\"a,b\"]}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "options[0]" },
		{ "[{\"type\":\"volume\",\"target\":\"/x\"}]", OPENSHELL_STATUS_INVALID_ARGUMENT,
		  "source is required" },
		{ "[{\"type\":\"volume\",\"source\":\"../v\",\"target\":\"/x\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "not a volume name" },
		{ "[{\"type\":\"volume\",\"source\":\"v\",\"target\":\"/x\",\"subpath\":\"/abs\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "relative" },
		{ "[{\"type\":\"volume\",\"source\":\"v\",\"target\":\"/x\",\"subpath\":\"a/../"
		  "..\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "subpath" },
		{ "[{\"type\":\"volume\",\"source\":\"v\",\"target\":\"/"
		  "x\",\"read_only\":\"yes\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "read_only" },
		{ "[{\"type\":\"bind\",\"source\":\"rel\",\"target\":\"/x\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "absolute host path" },
		{ "[{\"type\":\"bind\",\"source\":\"/a\",\"target\":\"/"
		  "x\",\"selinux_label\":\"z\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "selinux_label" },
		{ "[{\"type\":\"bind\",\"source\":\"/a\",\"target\":\"/x\"}]",
		  OPENSHELL_STATUS_FAILED_PRECONDITION, "enable_bind_mounts" },
		{ "[{\"type\":\"tmpfs\",\"target\":\"/x\"},{\"type\":\"tmpfs\",\"target\":\"/x/"
		  "\"}]",
		  OPENSHELL_STATUS_INVALID_ARGUMENT, "already the target" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		osh_engine_mounts m = { 0 };
		char err[512] = "";
		int32_t rc = parse(cases[i].json, 0, &m, err);
		cr_expect_eq(rc, cases[i].code, "%s: code %d (%s)", cases[i].json, rc, err);
		cr_expect(strstr(err, cases[i].needle) != NULL, "%s: \"%s\" lacks \"%s\"",
			  cases[i].json, err, cases[i].needle);
		cr_expect_eq(m.n, 0);
		cr_expect_null(m.v);
	}
}

/* ---- config, socket -------------------------------------------------------- */

static const char *cfg_keys[8], *cfg_vals[8];

static const char *cfg_get(void *ctx, const char *key)
{
	for (int i = 0; cfg_keys[i]; i++)
		if (strcmp(cfg_keys[i], key) == 0)
			return cfg_vals[i];
	return NULL;
}

static const char *cfg_key_at(void *ctx, uint32_t i)
{
	return i < 8 ? cfg_keys[i] : NULL;
}

static void *host_alloc(uint64_t n)
{
	return malloc(n ? n : 1);
}

static openshell_host_v1 test_host = {
	.abi_major = 1,
	.struct_size = sizeof(openshell_host_v1),
	.driver_name = "docker",
	.config_get = cfg_get,
	.config_key_at = cfg_key_at,
	.alloc = host_alloc,
	.free = free,
};

Test(config, unknown_key_named)
{
	static const char *const known[] = { "socket_path", "network", NULL };
	char err[512];
	memset(cfg_keys, 0, sizeof(cfg_keys));
	cfg_keys[0] = "socket_path", cfg_vals[0] = "/x";
	cfg_keys[1] = "gateway_id", cfg_vals[1] = "g";
	cr_expect_eq(osh_engine_config_check(&test_host, "docker", known, err, sizeof(err)), 0);
	cfg_keys[2] = "netwrok", cfg_vals[2] = "y";
	cr_assert_eq(osh_engine_config_check(&test_host, "docker", known, err, sizeof(err)), -1);
	cr_expect_str_eq(err,
			 "docker: unknown config key \"netwrok\" in [openshell.drivers.docker] "
			 "(known keys: socket_path, network)");
}

Test(config, typed_values)
{
	char err[512];
	int b;
	long long v;
	memset(cfg_keys, 0, sizeof(cfg_keys));
	cfg_keys[0] = "flag", cfg_vals[0] = "Yes";
	cfg_keys[1] = "n", cfg_vals[1] = "15";
	cfg_keys[2] = "bad", cfg_vals[2] = "x1";
	cfg_keys[3] = "empty", cfg_vals[3] = "";
	cr_expect_eq(osh_engine_config_bool(&test_host, "d", "flag", 0, &b, err, sizeof(err)), 0);
	cr_expect_eq(b, 1);
	cr_expect_eq(osh_engine_config_bool(&test_host, "d", "missing", 1, &b, err, sizeof(err)),
		     0);
	cr_expect_eq(b, 1);
	cr_expect_eq(osh_engine_config_bool(&test_host, "d", "bad", 0, &b, err, sizeof(err)), -1);
	cr_expect(strstr(err, "bad") && strstr(err, "boolean"));
	cr_expect_eq(osh_engine_config_int(&test_host, "d", "n", 0, 100, 7, &v, err, sizeof(err)),
		     0);
	cr_expect_eq(v, 15);
	cr_expect_eq(
		osh_engine_config_int(&test_host, "d", "empty", 0, 100, 7, &v, err, sizeof(err)),
		0);
	cr_expect_eq(v, 7, "an empty value is unset");
	cr_expect_eq(osh_engine_config_int(&test_host, "d", "n", 0, 10, 7, &v, err, sizeof(err)),
		     -1);
	cr_expect(strstr(err, "from 0 to 10"));
}

Test(config, socket_resolve)
{
	char out[256], err[512];
	setenv("OSH_TEST_DH", "unix:///run/env.sock", 1);
	cr_expect_eq(osh_engine_socket_resolve("/a.sock", "OSH_TEST_DH", "/fb", out, sizeof(out),
					       err, sizeof(err)),
		     0);
	cr_expect_str_eq(out, "/a.sock");
	cr_expect_eq(osh_engine_socket_resolve("unix:///b.sock", "OSH_TEST_DH", "/fb", out,
					       sizeof(out), err, sizeof(err)),
		     0);
	cr_expect_str_eq(out, "/b.sock");
	cr_expect_eq(osh_engine_socket_resolve(NULL, "OSH_TEST_DH", "/fb", out, sizeof(out), err,
					       sizeof(err)),
		     0);
	cr_expect_str_eq(out, "/run/env.sock");
	setenv("OSH_TEST_DH", "tcp://1.2.3.4:2375", 1);
	cr_expect_eq(osh_engine_socket_resolve(NULL, "OSH_TEST_DH", "/fb", out, sizeof(out), err,
					       sizeof(err)),
		     0);
	cr_expect_str_eq(out, "/fb", "a tcp:// DOCKER_HOST is not ours to use");
	cr_expect_eq(osh_engine_socket_resolve("tcp://x", NULL, "/fb", out, sizeof(out), err,
					       sizeof(err)),
		     -1);
	cr_expect_eq(osh_engine_socket_resolve("rel.sock", NULL, "/fb", out, sizeof(out), err,
					       sizeof(err)),
		     -1);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	cr_expect_eq(
		osh_engine_socket_resolve(longp, NULL, "/fb", out, sizeof(out), err, sizeof(err)),
		-1);
	cr_expect(strstr(err, "longer than"));
	unsetenv("OSH_TEST_DH");
}

/* ---- Struct -> JSON, escaping, label filter ------------------------------- */

Test(json, struct_to_json)
{
	Google__Protobuf__Value n = GOOGLE__PROTOBUF__VALUE__INIT,
				s = GOOGLE__PROTOBUF__VALUE__INIT,
				f = GOOGLE__PROTOBUF__VALUE__INIT,
				l = GOOGLE__PROTOBUF__VALUE__INIT;
	n.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
	n.number_value = 1048576;
	f.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
	f.number_value = 1.5;
	s.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
	s.string_value = (char *)"v";
	Google__Protobuf__ListValue lv = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
	Google__Protobuf__Value *items[] = { &s, &n };
	lv.n_values = 2;
	lv.values = items;
	l.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
	l.list_value = &lv;
	Google__Protobuf__Struct__FieldsEntry e[4], *ep[4];
	const char *keys[] = { "n", "f", "s", "l" };
	Google__Protobuf__Value *vals[] = { &n, &f, &s, &l };
	for (int i = 0; i < 4; i++) {
		google__protobuf__struct__fields_entry__init(&e[i]);
		e[i].key = (char *)keys[i];
		e[i].value = vals[i];
		ep[i] = &e[i];
	}
	Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
	st.n_fields = 4;
	st.fields = ep;
	json_t *j = osh_engine_struct_to_json(&st);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(text, "{\"f\":1.5,\"l\":[\"v\",1048576],\"n\":1048576,\"s\":\"v\"}");
	free(text);
	json_decref(j);
	cr_expect_null(osh_engine_struct_to_json(NULL));
}

Test(json, escape_and_filter)
{
	char *e = osh_engine_escape("a b/c:d%", 0);
	cr_expect_str_eq(e, "a%20b%2Fc%3Ad%25");
	free(e);
	e = osh_engine_escape("reg.io/ns/img:tag", 1);
	cr_expect_str_eq(e, "reg.io/ns/img:tag");
	free(e);
	const char *labels[] = { "a=b", NULL };
	e = osh_engine_label_filter(labels, "type", "container");
	cr_expect_str_eq(
		e, "%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22type%22%3A%5B%22container%22%5D%7D");
	free(e);
}

/* ---- snapshots and the watch broadcast ------------------------------------ */

Test(snapshot, one_ready_condition)
{
	osh_engine_snapshot_args a = { .id = "i",
				       .name = "n",
				       .workspace = "w",
				       .instance_id = "c1",
				       .sandbox_name = "cn",
				       .status = "False",
				       .reason = "ContainerExited",
				       .message = "container exited with exit code 3",
				       .last_transition_time = "2026-01-01T00:00:00.000Z" };
	osh_engine_ds *ds = osh_engine_snapshot_new(&a);
	cr_assert_not_null(ds->status);
	cr_expect_str_eq(ds->status->instance_id, "c1");
	cr_expect_str_eq(ds->status->sandbox_name, "cn");
	const Openshell__Compute__V1__DriverCondition *c = osh_engine_ds_ready(ds);
	cr_assert_not_null(c);
	cr_expect_str_eq(c->reason, "ContainerExited");
	cr_expect_str_eq(c->last_transition_time, "2026-01-01T00:00:00.000Z");
	cr_expect_null(ds->spec);
	/* It packs and unpacks (every field set). */
	size_t n = protobuf_c_message_get_packed_size(&ds->base);
	uint8_t *buf = malloc(n);
	protobuf_c_message_pack(&ds->base, buf);
	osh_engine_ds *back = openshell__compute__v1__driver_sandbox__unpack(NULL, n, buf);
	cr_expect_not_null(back);
	osh_engine_ds_free(back);
	free(buf);
	osh_engine_ds_free(ds);
	a.last_transition_time = NULL;
	ds = osh_engine_snapshot_new(&a);
	cr_expect_eq(strlen(osh_engine_ds_ready(ds)->last_transition_time), 24, "now, in ms");
	osh_engine_ds_free(ds);
}

struct sink_log {
	int n;
	int stop_after;
	int kinds[16];
	int woken;
};

static int32_t sink_emit(void *ctx, const uint8_t *ev, uint64_t len)
{
	struct sink_log *l = ctx;
	Openshell__Compute__V1__WatchSandboxesEvent *e =
		openshell__compute__v1__watch_sandboxes_event__unpack(NULL, len, ev);
	cr_assert_not_null(e);
	if (l->n < 16)
		l->kinds[l->n] = e->payload_case;
	l->n++;
	openshell__compute__v1__watch_sandboxes_event__free_unpacked(e, NULL);
	return l->stop_after && l->n >= l->stop_after;
}

static int32_t sink_cancelled(void *ctx)
{
	return 0;
}

static void sink_wake(void *arg)
{
	((struct sink_log *)arg)->woken++;
}

Test(hub, publish_is_queued_and_flushed_in_order)
{
	osh_engine_hub *h = osh_engine_hub_new();
	struct sink_log a = { 0 }, b = { .stop_after = 2 };
	openshell_watch_sink_v1 sa = { sizeof(sa), &a, sink_emit, sink_cancelled };
	openshell_watch_sink_v1 sb = { sizeof(sb), &b, sink_emit, sink_cancelled };
	osh_engine_sub *xa = osh_engine_hub_join(h, &sa);
	osh_engine_sub *xb = osh_engine_hub_join(h, &sb);
	osh_engine_sub_set_wake(h, xa, sink_wake, &a);
	osh_engine_hub_publish_deleted(h, "s1");
	osh_engine_hub_publish_platform(h, "s1", "docker", "Normal", "Pulling", "m",
					(const char *const[]){ "k", "v", NULL });
	osh_engine_snapshot_args args = { .id = "s1", .status = "True" };
	osh_engine_ds *ds = osh_engine_snapshot_new(&args);
	osh_engine_hub_publish_snapshot(h, ds);
	osh_engine_ds_free(ds);
	cr_expect_eq(a.n, 0, "publish never emits");
	cr_expect_eq(a.woken, 3);
	cr_expect_eq(osh_engine_sub_flush(xa), 0);
	cr_expect_eq(a.n, 3);
	cr_expect_eq(a.kinds[0], OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED);
	cr_expect_eq(a.kinds[1],
		     OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_PLATFORM_EVENT);
	cr_expect_eq(a.kinds[2], OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_SANDBOX);
	cr_expect_eq(osh_engine_sub_flush(xb), 1, "b's sink stops after two events");
	cr_expect_eq(b.n, 2);
	cr_expect_eq(osh_engine_sub_cancelled(xb), 1);
	cr_expect_eq(osh_engine_sub_emit_deleted(xb, "s2"), 1);
	cr_expect_eq(b.n, 2, "a stopped sink gets nothing more");
	osh_engine_hub_leave(h, xb);
	osh_engine_hub_publish_deleted(h, "s3");
	osh_engine_hub_leave(h, xa); /* with one event still queued */
	osh_engine_hub_free(h);
}
