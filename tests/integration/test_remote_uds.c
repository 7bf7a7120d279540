/* test_remote_uds.c - the remote-uds plugin against a fake ComputeDriver in
 * Python (tests/fixtures/py_driver.py, grpcio) on a Unix socket: every RPC
 * round-trips, statuses pass through, the watch stream keeps order, a lost
 * driver is UNAVAILABLE naming the socket and is noticed when it comes back,
 * unsafe sockets are refused. Also checks the plugin exports one symbol.
 *
 * Needs OSH_BUILDDIR and OSH_SRCDIR (set by tests/Makefile.inc), protoc and
 * /usr/bin/python3 with python3-grpcio and python3-protobuf. */
#include "config.h"

#include "compute_driver.pb-c.h"
#include "openshell/driver.h"
#include "osh_grpc.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SVC "/openshell.compute.v1.ComputeDriver/"

/* ---- per-test environment -------------------------------------------- */

static char tdir[64];	/* mkdtemp */
static char sock[128];	/* tdir/d.sock */
static char gen[128];	/* tdir/gen: Python message code */
static pid_t driver_pid = -1;
static const openshell_driver_table_v1 *drv;

static const char *env_dir(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set (run through make check)", name);
	return v;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int run_wait(const char *file, char *const argv[])
{
	pid_t pid;
	int st;
	cr_assert_eq(posix_spawnp(&pid, file, NULL, NULL, argv, environ), 0, "spawn %s", file);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait until the driver listens on sock (bind() creates the file, connect()
 * works once it listens). */
static void driver_wait_listening(const char *what)
{
	for (int64_t end = now_ms() + 15000; now_ms() < end; sleep_ms(20)) {
		struct stat st;
		int wst;
		if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			int fd = socket(AF_UNIX, SOCK_STREAM, 0);
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
			int up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
			if (fd >= 0)
				close(fd);
			if (up)
				return;
		}
		if (waitpid(driver_pid, &wst, WNOHANG) == driver_pid) {
			driver_pid = -1;
			cr_assert_fail("%s exited before listening (status %d)", what, wst);
		}
	}
	cr_assert_fail("%s did not listen on %s within 15 s", what, sock);
}

static void driver_start(const char *const *extra)
{
	char script[512];
	const char *argv[16];
	int n = 0;

	snprintf(script, sizeof(script), "%s/tests/fixtures/py_driver.py", env_dir("OSH_SRCDIR"));
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--socket";
	argv[n++] = sock;
	argv[n++] = "--gen";
	argv[n++] = gen;
	for (; extra && *extra && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	unlink(sock); /* so the wait below sees the new server's socket */
	cr_assert_eq(posix_spawn(&driver_pid, "/usr/bin/python3", NULL, NULL,
				 (char *const *)argv, environ),
		     0);
	driver_wait_listening("py_driver.py");
}

/* The project's C test driver (tests/fixtures/test-driver) on sock, keeping
 * its sandboxes in tdir/state across restarts. */
static void cdriver_start(void)
{
	char bin[512], state[160];
	snprintf(bin, sizeof(bin), "%s/tests/fixtures/test-driver", env_dir("OSH_BUILDDIR"));
	snprintf(state, sizeof(state), "%s/state", tdir);
	const char *argv[] = {"test-driver", "--socket", sock, "--ready-delay-ms", "0",
			      "--state", state, "--log-level", "warn", NULL};
	unlink(sock);
	cr_assert_eq(posix_spawn(&driver_pid, bin, NULL, NULL, (char *const *)argv, environ), 0,
		     "cannot start %s", bin);
	driver_wait_listening("test-driver");
}

/* Wait for the driver to exit on its own; returns its exit code. */
static int driver_reap(void)
{
	int st;
	cr_assert_eq(waitpid(driver_pid, &st, 0), driver_pid);
	driver_pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void driver_stop(void)
{
	if (driver_pid > 0) {
		kill(driver_pid, SIGKILL);
		waitpid(driver_pid, NULL, 0);
		driver_pid = -1;
	}
}

static void setup(void)
{
	char so[512], inc[512], out[160];

	osh_grpc_init();
	snprintf(tdir, sizeof(tdir), "/tmp/osh-ruds-XXXXXX");
	cr_assert(mkdtemp(tdir));
	snprintf(sock, sizeof(sock), "%s/d.sock", tdir);
	snprintf(gen, sizeof(gen), "%s/gen", tdir);
	cr_assert(mkdir(gen, 0700) == 0);
	snprintf(inc, sizeof(inc), "-I%s/proto", env_dir("OSH_SRCDIR"));
	snprintf(out, sizeof(out), "--python_out=%s", gen);
	char *const pargv[] = { "protoc", out, inc, "-I/usr/include", "compute_driver.proto",
				NULL };
	cr_assert_eq(run_wait("protoc", pargv), 0, "protoc --python_out failed");

	snprintf(so, sizeof(so), "%s/plugins/remote-uds/.libs/remote-uds.so",
		 env_dir("OSH_BUILDDIR"));
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	cr_assert(h, "dlopen %s: %s", so, dlerror());
	openshell_driver_entry_v1 entry = (openshell_driver_entry_v1)dlsym(h, OPENSHELL_DRIVER_ENTRY_V1);
	cr_assert(entry, "no %s in %s", OPENSHELL_DRIVER_ENTRY_V1, so);
	drv = entry();
	cr_assert_eq(drv->abi_major, OPENSHELL_DRIVER_ABI_MAJOR);
	cr_assert_geq(drv->struct_size, OPENSHELL_DRIVER_V1_MIN_SIZE);
	cr_assert_str_eq(drv->name, "remote-uds");
	cr_assert_str_eq(drv->version, PACKAGE_VERSION);
	/* never dlclose()d, like the gateway */
}

static void teardown(void)
{
	char cmd[128];
	driver_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tdir);
	osh_grpc_shutdown();
}

TestSuite(remote_uds, .init = setup, .fini = teardown, .timeout = 40);

/* ---- a small host -------------------------------------------------- */

typedef struct test_host {
	const char *keys[4];
	const char *vals[4];
	openshell_host_v1 table;
} test_host;

static const char *th_config_get(void *ctx, const char *key)
{
	test_host *th = ctx;
	for (int i = 0; i < 4 && th->keys[i]; i++)
		if (strcmp(th->keys[i], key) == 0)
			return th->vals[i];
	return NULL;
}

static const char *th_config_key_at(void *ctx, uint32_t index)
{
	test_host *th = ctx;
	return index < 4 ? th->keys[index] : NULL;
}

static void th_log(void *ctx, int32_t level, const char *msg)
{
	fprintf(stderr, "[remote-uds %d] %s\n", level, msg);
}

static void *th_alloc(uint64_t n)
{
	return malloc(n ? n : 1);
}

static void th_free(void *p)
{
	free(p);
}

static void host_init(test_host *th, const char *socket_path, const char *timeout_ms)
{
	memset(th, 0, sizeof(*th));
	int n = 0;
	if (socket_path) {
		th->keys[n] = "socket_path";
		th->vals[n++] = socket_path;
	}
	if (timeout_ms) {
		th->keys[n] = "timeout_ms";
		th->vals[n++] = timeout_ms;
	}
	th->table.abi_major = OPENSHELL_DRIVER_ABI_MAJOR;
	th->table.struct_size = sizeof(th->table);
	th->table.host_ctx = th;
	th->table.driver_name = "kyma";
	th->table.log = th_log;
	th->table.config_get = th_config_get;
	th->table.config_key_at = th_config_key_at;
	th->table.alloc = th_alloc;
	th->table.free = th_free;
}

static void *open_ok(test_host *th, const char *path, const char *timeout_ms)
{
	void *inst = NULL;
	char *msg = NULL;
	host_init(th, path, timeout_ms);
	int32_t rc = drv->open(&th->table, &inst, &msg);
	cr_assert_eq(rc, OPENSHELL_STATUS_OK, "open: %d %s", rc, msg ? msg : "(null)");
	cr_assert(inst);
	free(msg);
	return inst;
}

/* open must fail with code; returns the host-allocated message. */
static char *open_fails(const char *path, const char *timeout_ms, int32_t code)
{
	test_host th;
	void *inst = NULL;
	char *msg = NULL;
	host_init(&th, path, timeout_ms);
	int32_t rc = drv->open(&th.table, &inst, &msg);
	cr_assert_eq(rc, code, "open: got %d (%s), want %d", rc, msg ? msg : "(null)", code);
	cr_assert_null(inst);
	cr_assert(msg, "no message");
	return msg;
}

/* ---- calls ------------------------------------------------------------ */

typedef struct reply {
	int32_t code;
	uint8_t *data;
	uint64_t len;
	char *msg;
} reply;

static void reply_free(reply *r)
{
	free(r->data);
	free(r->msg);
	memset(r, 0, sizeof(*r));
}

static reply call(void *inst, openshell_unary_fn_v1 fn, const ProtobufCMessage *req)
{
	reply r = { 0 };
	size_t n = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	protobuf_c_message_pack(req, buf);
	r.code = fn(inst, buf, n, &r.data, &r.len, &r.msg);
	free(buf);
	if (r.code == OPENSHELL_STATUS_OK)
		cr_assert_null(r.msg, "OK with a message: %s", r.msg);
	else
		cr_assert(r.msg, "status %d without a message", r.code);
	return r;
}

static void expect_ok(reply *r)
{
	cr_assert_eq(r->code, OPENSHELL_STATUS_OK, "status %d: %s", r->code,
		     r->msg ? r->msg : "");
}

static void expect_unavailable(reply *r)
{
	char want[200];
	snprintf(want, sizeof(want), "remote-uds: compute driver socket \"%s\" is unavailable: ",
		 sock);
	cr_assert_eq(r->code, OPENSHELL_STATUS_UNAVAILABLE, "status %d: %s", r->code,
		     r->msg ? r->msg : "");
	cr_assert(strncmp(r->msg, want, strlen(want)) == 0, "message: %s", r->msg);
}

static reply get_caps(void *inst)
{
	Openshell__Compute__V1__GetCapabilitiesRequest req =
		OPENSHELL__COMPUTE__V1__GET_CAPABILITIES_REQUEST__INIT;
	return call(inst, drv->get_capabilities, &req.base);
}

static void expect_caps(void *inst)
{
	reply r = get_caps(inst);
	expect_ok(&r);
	Openshell__Compute__V1__GetCapabilitiesResponse *caps =
		openshell__compute__v1__get_capabilities_response__unpack(NULL, r.len, r.data);
	cr_assert(caps);
	cr_expect_str_eq(caps->driver_name, "py-driver");
	cr_expect_str_eq(caps->driver_version, "1.2.3");
	cr_expect_str_eq(caps->default_image, "test/image:latest");
	cr_expect(caps->gateway_manages_lifecycle);
	openshell__compute__v1__get_capabilities_response__free_unpacked(caps, NULL);
	reply_free(&r);
}

#define ID_REQ(T, TT, id_)                                                                 \
	T req = TT##__INIT;                                                                \
	req.sandbox_id = (char *)(id_)

static Openshell__Compute__V1__DriverSandbox *get_sandbox(void *inst, const char *id)
{
	ID_REQ(Openshell__Compute__V1__GetSandboxRequest, OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST,
	       id);
	reply r = call(inst, drv->get_sandbox, &req.base);
	expect_ok(&r);
	Openshell__Compute__V1__GetSandboxResponse *resp =
		openshell__compute__v1__get_sandbox_response__unpack(NULL, r.len, r.data);
	cr_assert(resp && resp->sandbox);
	Openshell__Compute__V1__DriverSandbox *sb = resp->sandbox;
	resp->sandbox = NULL;
	openshell__compute__v1__get_sandbox_response__free_unpacked(resp, NULL);
	reply_free(&r);
	return sb;
}

static const char *ready_of(const Openshell__Compute__V1__DriverSandbox *sb)
{
	cr_assert(sb->status && sb->status->n_conditions == 1);
	cr_assert_str_eq(sb->status->conditions[0]->type, "Ready");
	return sb->status->conditions[0]->status;
}

/* ---- the tests: unary ---------------------------------------------------- */

Test(remote_uds, every_unary_rpc_round_trips)
{
	test_host th;
	driver_start(NULL);
	void *inst = open_ok(&th, sock, NULL);
	reply r;

	expect_caps(inst);

	Openshell__Compute__V1__GetGatewayListenerRequirementsRequest lreq =
		OPENSHELL__COMPUTE__V1__GET_GATEWAY_LISTENER_REQUIREMENTS_REQUEST__INIT;
	r = call(inst, drv->get_gateway_listener_requirements, &lreq.base);
	expect_ok(&r);
	Openshell__Compute__V1__GetGatewayListenerRequirementsResponse *lresp =
		openshell__compute__v1__get_gateway_listener_requirements_response__unpack(
			NULL, r.len, r.data);
	cr_assert(lresp && lresp->n_requirements == 1);
	cr_expect_str_eq(lresp->requirements[0]->reason, "tests want loopback");
	cr_expect_eq(lresp->requirements[0]->selector_case,
		     OPENSHELL__COMPUTE__V1__GATEWAY_LISTENER_REQUIREMENT__SELECTOR_LOOPBACK_INTERFACE);
	openshell__compute__v1__get_gateway_listener_requirements_response__free_unpacked(lresp,
											 NULL);
	reply_free(&r);

	/* the sandbox every call below works on */
	Openshell__Compute__V1__DriverSandboxTemplate tmpl =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_TEMPLATE__INIT;
	tmpl.image = "alpine:3";
	Openshell__Compute__V1__DriverSandboxSpec__EnvironmentEntry env =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_SPEC__ENVIRONMENT_ENTRY__INIT;
	env.key = "GREETING";
	env.value = "hello";
	Openshell__Compute__V1__DriverSandboxSpec__EnvironmentEntry *envp[] = { &env };
	Openshell__Compute__V1__DriverSandboxSpec spec =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_SPEC__INIT;
	spec.template_ = &tmpl;
	spec.n_environment = 1;
	spec.environment = envp;
	Openshell__Compute__V1__DriverSandbox sb = OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX__INIT;
	sb.id = "sb-1";
	sb.name = "demo";
	sb.workspace = "default";
	sb.spec = &spec;

	Openshell__Compute__V1__ValidateSandboxCreateRequest vreq =
		OPENSHELL__COMPUTE__V1__VALIDATE_SANDBOX_CREATE_REQUEST__INIT;
	vreq.sandbox = &sb;
	r = call(inst, drv->validate_sandbox_create, &vreq.base);
	expect_ok(&r);
	cr_expect_eq(r.len, 0); /* an empty message comes back as no bytes */
	cr_expect_null(r.data);
	reply_free(&r);

	Openshell__Compute__V1__CreateSandboxRequest creq =
		OPENSHELL__COMPUTE__V1__CREATE_SANDBOX_REQUEST__INIT;
	creq.sandbox = &sb;
	r = call(inst, drv->create_sandbox, &creq.base);
	expect_ok(&r);
	reply_free(&r);

	Openshell__Compute__V1__DriverSandbox *got = get_sandbox(inst, "sb-1");
	cr_expect_str_eq(got->name, "demo");
	cr_expect_str_eq(got->workspace, "default");
	cr_assert(got->spec && got->spec->template_ && got->spec->n_environment == 1);
	cr_expect_str_eq(got->spec->template_->image, "alpine:3");
	cr_expect_str_eq(got->spec->environment[0]->value, "hello");
	cr_expect_str_eq(ready_of(got), "True");
	openshell__compute__v1__driver_sandbox__free_unpacked(got, NULL);

	Openshell__Compute__V1__ListSandboxesRequest lsreq =
		OPENSHELL__COMPUTE__V1__LIST_SANDBOXES_REQUEST__INIT;
	r = call(inst, drv->list_sandboxes, &lsreq.base);
	expect_ok(&r);
	Openshell__Compute__V1__ListSandboxesResponse *ls =
		openshell__compute__v1__list_sandboxes_response__unpack(NULL, r.len, r.data);
	cr_assert(ls && ls->n_sandboxes == 1);
	cr_expect_str_eq(ls->sandboxes[0]->id, "sb-1");
	openshell__compute__v1__list_sandboxes_response__free_unpacked(ls, NULL);
	reply_free(&r);

	{
		ID_REQ(Openshell__Compute__V1__StopSandboxRequest,
		       OPENSHELL__COMPUTE__V1__STOP_SANDBOX_REQUEST, "sb-1");
		r = call(inst, drv->stop_sandbox, &req.base);
		expect_ok(&r);
		reply_free(&r);
		got = get_sandbox(inst, "sb-1");
		cr_expect_str_eq(ready_of(got), "False");
		openshell__compute__v1__driver_sandbox__free_unpacked(got, NULL);
	}
	{
		ID_REQ(Openshell__Compute__V1__StartSandboxRequest,
		       OPENSHELL__COMPUTE__V1__START_SANDBOX_REQUEST, "sb-1");
		r = call(inst, drv->start_sandbox, &req.base);
		expect_ok(&r);
		reply_free(&r);
		got = get_sandbox(inst, "sb-1");
		cr_expect_str_eq(ready_of(got), "True");
		openshell__compute__v1__driver_sandbox__free_unpacked(got, NULL);
	}

	Openshell__Compute__V1__EnsureWorkspaceRequest ewreq =
		OPENSHELL__COMPUTE__V1__ENSURE_WORKSPACE_REQUEST__INIT;
	ewreq.workspace = "ws1";
	r = call(inst, drv->ensure_workspace, &ewreq.base);
	expect_ok(&r);
	reply_free(&r);
	Openshell__Compute__V1__DeleteWorkspaceRequest dwreq =
		OPENSHELL__COMPUTE__V1__DELETE_WORKSPACE_REQUEST__INIT;
	dwreq.workspace = "ws1";
	r = call(inst, drv->delete_workspace, &dwreq.base);
	expect_ok(&r);
	reply_free(&r);

	for (int round = 0; round < 2; round++) {
		ID_REQ(Openshell__Compute__V1__DeleteSandboxRequest,
		       OPENSHELL__COMPUTE__V1__DELETE_SANDBOX_REQUEST, "sb-1");
		r = call(inst, drv->delete_sandbox, &req.base);
		expect_ok(&r);
		if (round == 0) {
			Openshell__Compute__V1__DeleteSandboxResponse *d =
				openshell__compute__v1__delete_sandbox_response__unpack(NULL, r.len,
											r.data);
			cr_assert(d);
			cr_expect(d->deleted);
			openshell__compute__v1__delete_sandbox_response__free_unpacked(d, NULL);
		} else {
			cr_expect_eq(r.len, 0); /* deleted=false is the empty message */
		}
		reply_free(&r);
	}
	drv->close(inst);
}

Test(remote_uds, driver_statuses_pass_through)
{
	test_host th;
	driver_start(NULL);
	void *inst = open_ok(&th, sock, NULL);
	reply r;

	{
		ID_REQ(Openshell__Compute__V1__GetSandboxRequest,
		       OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST, "nope");
		r = call(inst, drv->get_sandbox, &req.base);
		cr_expect_eq(r.code, OPENSHELL_STATUS_NOT_FOUND);
		cr_expect_str_eq(r.msg, "sandbox \"nope\" not found");
		cr_expect_null(r.data);
		reply_free(&r);
	}
	{
		ID_REQ(Openshell__Compute__V1__StopSandboxRequest,
		       OPENSHELL__COMPUTE__V1__STOP_SANDBOX_REQUEST, "nope");
		r = call(inst, drv->stop_sandbox, &req.base);
		cr_expect_eq(r.code, OPENSHELL_STATUS_NOT_FOUND);
		reply_free(&r);
	}
	{
		/* the driver's own DEADLINE_EXCEEDED is not a lost driver */
		ID_REQ(Openshell__Compute__V1__GetSandboxRequest,
		       OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST, "deadline");
		r = call(inst, drv->get_sandbox, &req.base);
		cr_expect_eq(r.code, OPENSHELL_STATUS_DEADLINE_EXCEEDED);
		cr_expect_str_eq(r.msg, "backend timed out");
		reply_free(&r);
	}
	Openshell__Compute__V1__ValidateSandboxCreateRequest vreq =
		OPENSHELL__COMPUTE__V1__VALIDATE_SANDBOX_CREATE_REQUEST__INIT;
	Openshell__Compute__V1__DriverSandbox sb = OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX__INIT;
	vreq.sandbox = &sb;
	r = call(inst, drv->validate_sandbox_create, &vreq.base);
	cr_expect_eq(r.code, OPENSHELL_STATUS_INVALID_ARGUMENT);
	cr_expect_str_eq(r.msg, "sandbox name is required");
	reply_free(&r);

	sb.id = "dup";
	sb.name = "dup";
	Openshell__Compute__V1__CreateSandboxRequest creq =
		OPENSHELL__COMPUTE__V1__CREATE_SANDBOX_REQUEST__INIT;
	creq.sandbox = &sb;
	r = call(inst, drv->create_sandbox, &creq.base);
	expect_ok(&r);
	reply_free(&r);
	r = call(inst, drv->create_sandbox, &creq.base);
	cr_expect_eq(r.code, OPENSHELL_STATUS_ALREADY_EXISTS);
	cr_expect_str_eq(r.msg, "sandbox \"dup\" already exists");
	reply_free(&r);

	/* Garbage request bytes: the driver's decoder says so (grpcio: INTERNAL). */
	uint8_t junk[] = { 0xff, 0xff, 0xff };
	uint8_t *data = NULL;
	uint64_t len = 0;
	char *msg = NULL;
	int32_t rc = drv->get_sandbox(inst, junk, sizeof(junk), &data, &len, &msg);
	cr_expect_neq(rc, OPENSHELL_STATUS_OK);
	cr_expect(msg);
	free(data);
	free(msg);
	drv->close(inst);
}

Test(remote_uds, deadline_without_answer_is_unavailable)
{
	test_host th;
	const char *slow[] = { "--slow-ms", "2000", NULL };
	driver_start(slow);
	void *inst = open_ok(&th, sock, "300");
	int64_t t0 = now_ms();
	reply r = get_caps(inst);
	int64_t took = now_ms() - t0;
	expect_unavailable(&r);
	cr_expect(strstr(r.msg, "no answer within 300 ms") != NULL, "%s", r.msg);
	cr_expect(took >= 250 && took < 1500, "took %lld ms", (long long)took);
	reply_free(&r);
	drv->close(inst);
}

/* ---- watch ------------------------------------------------------------ */

typedef struct test_sink {
	openshell_watch_sink_v1 sink;
	char ids[32][32];
	int n;
	int stop_after; /* emit returns non-zero after this many (0: never) */
	int cancel;	/* read by cancelled() */
	void *inst;
	int32_t rc;
	char *msg;
	int64_t returned_ms;
} test_sink;

static int32_t ts_emit(void *ctx, const uint8_t *ev, uint64_t len)
{
	test_sink *ts = ctx;
	Openshell__Compute__V1__WatchSandboxesEvent *e =
		openshell__compute__v1__watch_sandboxes_event__unpack(NULL, len, ev);
	cr_assert(e, "undecodable event");
	const char *id = "?";
	if (e->payload_case == OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_SANDBOX &&
	    e->sandbox->sandbox)
		id = e->sandbox->sandbox->id;
	else if (e->payload_case == OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED)
		id = e->deleted->sandbox_id;
	if (ts->n < 32)
		snprintf(ts->ids[ts->n], sizeof(ts->ids[0]), "%s", id);
	ts->n++;
	openshell__compute__v1__watch_sandboxes_event__free_unpacked(e, NULL);
	return ts->stop_after && ts->n >= ts->stop_after;
}

static int32_t ts_cancelled(void *ctx)
{
	test_sink *ts = ctx;
	return __atomic_load_n(&ts->cancel, __ATOMIC_SEQ_CST);
}

static void sink_init(test_sink *ts, void *inst)
{
	memset(ts, 0, sizeof(*ts));
	ts->sink.struct_size = sizeof(ts->sink);
	ts->sink.sink_ctx = ts;
	ts->sink.emit = ts_emit;
	ts->sink.cancelled = ts_cancelled;
	ts->inst = inst;
}

static void watch_run(test_sink *ts)
{
	Openshell__Compute__V1__WatchSandboxesRequest req =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_REQUEST__INIT;
	uint8_t buf[8];
	size_t n = protobuf_c_message_pack(&req.base, buf);
	ts->rc = drv->watch_sandboxes(ts->inst, buf, n, &ts->sink, &ts->msg);
	ts->returned_ms = now_ms();
}

static void *watch_thread(void *arg)
{
	watch_run(arg);
	return NULL;
}

static void expect_watch_ids(const test_sink *ts, int n)
{
	cr_assert_eq(ts->n, n, "%d events, want %d", ts->n, n);
	for (int i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "watch-%d", i);
		cr_expect_str_eq(ts->ids[i], want, "event %d out of order", i);
	}
}

Test(remote_uds, watch_delivers_events_in_order)
{
	test_host th;
	test_sink ts;
	const char *opts[] = { "--watch-events", "12", NULL };
	driver_start(opts);
	void *inst = open_ok(&th, sock, NULL);
	sink_init(&ts, inst);
	watch_run(&ts);
	cr_expect_eq(ts.rc, OPENSHELL_STATUS_OK, "%d %s", ts.rc, ts.msg ? ts.msg : "");
	cr_expect_null(ts.msg);
	expect_watch_ids(&ts, 12);
	free(ts.msg);
	drv->close(inst);
}

Test(remote_uds, watch_stops_when_emit_says_so)
{
	test_host th;
	test_sink ts;
	const char *opts[] = { "--watch-events", "6", "--watch-hold", NULL };
	driver_start(opts);
	void *inst = open_ok(&th, sock, NULL);
	sink_init(&ts, inst);
	ts.stop_after = 4;
	watch_run(&ts);
	expect_watch_ids(&ts, 4);
	free(ts.msg);
	expect_caps(inst); /* the channel is still fine */
	drv->close(inst);
}

Test(remote_uds, watch_idle_stream_notices_cancelled)
{
	/* No events at all: grpcio holds the response headers, so this also
	 * shows that nothing blocks on them. */
	test_host th;
	test_sink ts;
	pthread_t t;
	const char *opts[] = { "--watch-events", "0", "--watch-hold", NULL };
	driver_start(opts);
	void *inst = open_ok(&th, sock, NULL);
	sink_init(&ts, inst);
	cr_assert_eq(pthread_create(&t, NULL, watch_thread, &ts), 0);

	/* unary calls run concurrently with the watch */
	for (int i = 0; i < 20; i++)
		expect_caps(inst);
	sleep_ms(300);
	int64_t t0 = now_ms();
	__atomic_store_n(&ts.cancel, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	cr_expect_eq(ts.n, 0);
	cr_expect_lt(ts.returned_ms - t0, 1000, "returned %lld ms after cancel",
		     (long long)(ts.returned_ms - t0));
	free(ts.msg);
	drv->close(inst);
}

static void *caps_thread(void *inst)
{
	for (int i = 0; i < 25; i++)
		expect_caps(inst);
	return NULL;
}

Test(remote_uds, concurrent_unary_calls)
{
	test_host th;
	pthread_t t[4];
	driver_start(NULL);
	void *inst = open_ok(&th, sock, NULL);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, caps_thread, inst), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	drv->close(inst);
}

/* ---- losing the driver ------------------------------------------------------ */

Test(remote_uds, lost_driver_is_unavailable_then_recovers)
{
	test_host th;
	test_sink ts;
	const char *opts[] = { "--watch-events", "10", "--die-after", "3", NULL };
	driver_start(opts);
	void *inst = open_ok(&th, sock, NULL);
	expect_caps(inst);

	sink_init(&ts, inst);
	watch_run(&ts);
	expect_watch_ids(&ts, 3);
	char want[200];
	snprintf(want, sizeof(want), "remote-uds: compute driver socket \"%s\" is unavailable: ",
		 sock);
	cr_expect_eq(ts.rc, OPENSHELL_STATUS_UNAVAILABLE, "%d %s", ts.rc, ts.msg ? ts.msg : "");
	cr_assert(ts.msg && strncmp(ts.msg, want, strlen(want)) == 0, "%s", ts.msg);
	free(ts.msg);
	cr_expect_eq(driver_reap(), 3);

	/* Down (its socket file is still there): every call is UNAVAILABLE,
	 * fast. A few calls let gRPC's reconnect backoff grow. */
	for (int i = 0; i < 4; i++) {
		int64_t t0 = now_ms();
		reply r = get_caps(inst);
		expect_unavailable(&r);
		cr_expect_lt(now_ms() - t0, 1000);
		reply_free(&r);
		sleep_ms(150);
	}
	/* a watch on a down driver ends at once, also UNAVAILABLE */
	sink_init(&ts, inst);
	watch_run(&ts);
	cr_expect_eq(ts.rc, OPENSHELL_STATUS_UNAVAILABLE, "%d %s", ts.rc, ts.msg ? ts.msg : "");
	free(ts.msg);

	/* Gone entirely: still UNAVAILABLE naming the socket. */
	unlink(sock);
	reply r = get_caps(inst);
	expect_unavailable(&r);
	cr_expect(strstr(r.msg, "does not exist") != NULL, "%s", r.msg);
	reply_free(&r);

	/* Back: the very next call succeeds. */
	driver_start(NULL);
	expect_caps(inst);
	drv->close(inst);
}

Test(remote_uds, driver_started_after_open)
{
	test_host th;
	void *inst = open_ok(&th, sock, NULL); /* no socket yet: open still works */
	reply r = get_caps(inst);
	expect_unavailable(&r);
	reply_free(&r);
	driver_start(NULL);
	expect_caps(inst);
	drv->close(inst);
}

/* ---- configuration and unsafe sockets ---------------------------------- */

Test(remote_uds, config_errors)
{
	char *msg = open_fails(NULL, NULL, OPENSHELL_STATUS_INVALID_ARGUMENT);
	cr_expect_str_eq(msg, "remote-uds: driver \"kyma\" has no socket_path");
	free(msg);
	const char *bad[] = { "0", "-5", "abc", "10x", "", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg = open_fails("/tmp/x.sock", bad[i], OPENSHELL_STATUS_INVALID_ARGUMENT);
		cr_expect(strstr(msg, "timeout_ms") != NULL, "%s", msg);
		free(msg);
	}
	msg = open_fails("relative.sock", NULL, OPENSHELL_STATUS_FAILED_PRECONDITION);
	cr_expect(strstr(msg, "\"relative.sock\" is not an absolute path") != NULL, "%s", msg);
	free(msg);
}

static void expect_refused_at_open(const char *path, const char *words)
{
	char *msg = open_fails(path, NULL, OPENSHELL_STATUS_FAILED_PRECONDITION);
	cr_expect(strstr(msg, path) != NULL, "message does not name %s: %s", path, msg);
	cr_expect(strstr(msg, words) != NULL, "message lacks \"%s\": %s", words, msg);
	free(msg);
}

Test(remote_uds, unsafe_sockets_refused)
{
	char link[160], file[160];
	test_host th;
	driver_start(NULL);

	snprintf(link, sizeof(link), "%s/link.sock", tdir);
	cr_assert(symlink(sock, link) == 0);
	expect_refused_at_open(link, "symbolic link");

	snprintf(file, sizeof(file), "%s/file.sock", tdir);
	int fd = open(file, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	close(fd);
	expect_refused_at_open(file, "regular file");

	cr_assert(chmod(sock, 0666) == 0);
	expect_refused_at_open(sock, "world-writable");

	/* checked before every call too */
	cr_assert(chmod(sock, 0600) == 0);
	void *inst = open_ok(&th, sock, NULL);
	expect_caps(inst);
	cr_assert(chmod(sock, 0666) == 0);
	reply r = get_caps(inst);
	cr_expect_eq(r.code, OPENSHELL_STATUS_FAILED_PRECONDITION);
	cr_expect(strstr(r.msg, sock) != NULL, "%s", r.msg);
	reply_free(&r);
	test_sink ts;
	sink_init(&ts, inst);
	watch_run(&ts);
	cr_expect_eq(ts.rc, OPENSHELL_STATUS_FAILED_PRECONDITION);
	free(ts.msg);
	cr_assert(chmod(sock, 0600) == 0);
	expect_caps(inst);
	drv->close(inst);
}

/* ---- osh_client streams directly ---------------------------------------- */

typedef struct canceller {
	osh_client_stream *s;
	int delay_ms;
} canceller;

static void *cancel_thread(void *arg)
{
	canceller *c = arg;
	sleep_ms(c->delay_ms);
	osh_client_stream_cancel(c->s);
	return NULL;
}

Test(remote_uds, client_stream_cancel_from_another_thread)
{
	char target[160];
	const char *opts[] = { "--watch-events", "2", "--watch-hold", NULL };
	driver_start(opts);
	snprintf(target, sizeof(target), "unix:%s", sock);
	osh_client *c = osh_client_new(target);
	cr_expect_str_eq(osh_client_target(c), target);
	osh_client_stream *s = osh_client_stream_open(c, SVC "WatchSandboxes", NULL, 0, -1);
	uint8_t *msg;
	size_t len;
	for (int i = 0; i < 2; i++) {
		int n = osh_client_stream_next(s, 5000, &msg, &len);
		cr_assert_eq(n, 1, "message %d: next returned %d", i, n);
		cr_expect_gt(len, 0);
		free(msg);
	}
	cr_expect_eq(osh_client_stream_next(s, 200, &msg, &len), -1); /* idle: times out */

	canceller cc = { s, 300 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, cancel_thread, &cc), 0);
	int64_t t0 = now_ms();
	cr_expect_eq(osh_client_stream_next(s, -1, &msg, &len), 0); /* blocks until cancelled */
	cr_expect_lt(now_ms() - t0, 2000);
	pthread_join(t, NULL);
	char *details = NULL;
	cr_expect_eq(osh_client_stream_status(s, &details), GRPC_STATUS_CANCELLED);
	cr_expect(details);
	free(details);
	osh_client_stream_free(s);

	/* freeing a stream that is still running cancels it */
	s = osh_client_stream_open(c, SVC "WatchSandboxes", NULL, 0, -1);
	cr_assert_eq(osh_client_stream_next(s, 5000, &msg, &len), 1);
	free(msg);
	osh_client_stream_free(s);

	/* unknown method: UNIMPLEMENTED from grpcio, with a message */
	uint8_t *resp;
	size_t rlen;
	char *m;
	cr_expect_eq(osh_client_unary(c, SVC "NoSuchMethod", NULL, 0, 5000, &resp, &rlen, &m),
		     GRPC_STATUS_UNIMPLEMENTED);
	cr_expect(m);
	free(m);
	osh_client_free(c);
	osh_client_free(NULL);
	osh_client_stream_free(NULL);
}

/* ---- exported symbols ------------------------------------------------------ */

Test(plugin_symbols, remote_uds_exports_only_the_entry)
{
	char cmd[600], line[512];
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/plugins/remote-uds/.libs/remote-uds.so'",
		 env_dir("OSH_BUILDDIR"));
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	int text = 0, entry = 0;
	static const char *const allowed[] = { "_init", "_fini", "_edata", "_end", "__bss_start",
					       NULL };
	while (fgets(line, sizeof(line), p)) {
		char addr[64], type[8], name[400];
		if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
			continue;
		if (strcmp(name, "openshell_driver_v1") == 0) {
			entry++;
			cr_expect_str_eq(type, "T");
			continue;
		}
		int ok = 0;
		for (int i = 0; allowed[i]; i++)
			ok |= strcmp(name, allowed[i]) == 0;
		if (type[0] == 'T' && !ok)
			text++;
		cr_expect(ok, "unexpected exported symbol: %s %s", type, name);
	}
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	cr_expect_eq(entry, 1);
	cr_expect_eq(text, 0);
}

/* ---- the same plugin against the project's C test driver -------------- */

TestSuite(remote_uds_c, .init = setup, .fini = teardown, .timeout = 40);

static reply c_create(void *inst, const char *id, const char *image)
{
	Openshell__Compute__V1__DriverSandboxTemplate tpl =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_TEMPLATE__INIT;
	tpl.image = (char *)image;
	Openshell__Compute__V1__DriverSandboxSpec spec =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_SPEC__INIT;
	spec.template_ = &tpl;
	Openshell__Compute__V1__DriverSandbox sb = OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX__INIT;
	sb.id = (char *)id;
	sb.name = (char *)id;
	sb.workspace = "default";
	sb.spec = &spec;
	Openshell__Compute__V1__CreateSandboxRequest req =
		OPENSHELL__COMPUTE__V1__CREATE_SANDBOX_REQUEST__INIT;
	req.sandbox = &sb;
	return call(inst, drv->create_sandbox, &req.base);
}

static reply c_by_id(void *inst, openshell_unary_fn_v1 fn, const char *id)
{
	/* Get/Stop/Start/Delete requests share fields 1 and 2. */
	Openshell__Compute__V1__GetSandboxRequest req =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST__INIT;
	req.sandbox_id = (char *)id;
	return call(inst, fn, &req.base);
}

Test(remote_uds_c, every_rpc_round_trips)
{
	test_host th;
	cdriver_start();
	void *inst = open_ok(&th, sock, NULL);

	reply r = get_caps(inst);
	expect_ok(&r);
	Openshell__Compute__V1__GetCapabilitiesResponse *caps =
		openshell__compute__v1__get_capabilities_response__unpack(NULL, r.len, r.data);
	cr_assert(caps);
	cr_assert_str_eq(caps->driver_name, "test");
	cr_assert_str_eq(caps->default_image, "test/default:latest");
	openshell__compute__v1__get_capabilities_response__free_unpacked(caps, NULL);
	reply_free(&r);

	Openshell__Compute__V1__GetGatewayListenerRequirementsRequest lreq =
		OPENSHELL__COMPUTE__V1__GET_GATEWAY_LISTENER_REQUIREMENTS_REQUEST__INIT;
	r = call(inst, drv->get_gateway_listener_requirements, &lreq.base);
	cr_assert(r.code == OPENSHELL_STATUS_OK || r.code == OPENSHELL_STATUS_UNIMPLEMENTED,
		  "listener requirements: %d %s", r.code, r.msg ? r.msg : "");
	reply_free(&r);

	/* Validate: a missing image is the driver's FAILED_PRECONDITION, passed through. */
	Openshell__Compute__V1__DriverSandboxTemplate tpl =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_TEMPLATE__INIT;
	tpl.image = "missing/x";
	Openshell__Compute__V1__DriverSandboxSpec spec =
		OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX_SPEC__INIT;
	spec.template_ = &tpl;
	Openshell__Compute__V1__DriverSandbox sb = OPENSHELL__COMPUTE__V1__DRIVER_SANDBOX__INIT;
	sb.id = "v-1";
	sb.name = "v-1";
	sb.spec = &spec;
	Openshell__Compute__V1__ValidateSandboxCreateRequest vreq =
		OPENSHELL__COMPUTE__V1__VALIDATE_SANDBOX_CREATE_REQUEST__INIT;
	vreq.sandbox = &sb;
	r = call(inst, drv->validate_sandbox_create, &vreq.base);
	cr_assert_eq(r.code, OPENSHELL_STATUS_FAILED_PRECONDITION, "%d %s", r.code, r.msg);
	cr_assert(strstr(r.msg, "missing/x"), "%s", r.msg);
	reply_free(&r);
	tpl.image = "test/img";
	r = call(inst, drv->validate_sandbox_create, &vreq.base);
	expect_ok(&r);
	reply_free(&r);

	r = c_create(inst, "c-1", "test/img");
	expect_ok(&r);
	reply_free(&r);
	r = c_create(inst, "c-1", "test/img");
	cr_assert_eq(r.code, OPENSHELL_STATUS_ALREADY_EXISTS, "%d %s", r.code, r.msg);
	reply_free(&r);

	Openshell__Compute__V1__DriverSandbox *got = get_sandbox(inst, "c-1");
	cr_assert_str_eq(got->name, "c-1");
	openshell__compute__v1__driver_sandbox__free_unpacked(got, NULL);

	Openshell__Compute__V1__ListSandboxesRequest lsreq =
		OPENSHELL__COMPUTE__V1__LIST_SANDBOXES_REQUEST__INIT;
	r = call(inst, drv->list_sandboxes, &lsreq.base);
	expect_ok(&r);
	Openshell__Compute__V1__ListSandboxesResponse *ls =
		openshell__compute__v1__list_sandboxes_response__unpack(NULL, r.len, r.data);
	cr_assert(ls);
	cr_assert_eq(ls->n_sandboxes, 1);
	cr_assert_str_eq(ls->sandboxes[0]->id, "c-1");
	openshell__compute__v1__list_sandboxes_response__free_unpacked(ls, NULL);
	reply_free(&r);

	r = c_by_id(inst, drv->stop_sandbox, "c-1");
	expect_ok(&r);
	reply_free(&r);
	r = c_by_id(inst, drv->start_sandbox, "c-1");
	expect_ok(&r);
	reply_free(&r);
	r = c_by_id(inst, drv->stop_sandbox, "nope");
	cr_assert_eq(r.code, OPENSHELL_STATUS_NOT_FOUND, "%d %s", r.code, r.msg);
	reply_free(&r);

	r = c_by_id(inst, drv->delete_sandbox, "c-1");
	expect_ok(&r);
	Openshell__Compute__V1__DeleteSandboxResponse *del =
		openshell__compute__v1__delete_sandbox_response__unpack(NULL, r.len, r.data);
	cr_assert(del && del->deleted, "first delete says deleted");
	openshell__compute__v1__delete_sandbox_response__free_unpacked(del, NULL);
	reply_free(&r);
	r = c_by_id(inst, drv->delete_sandbox, "c-1");
	expect_ok(&r);
	del = openshell__compute__v1__delete_sandbox_response__unpack(NULL, r.len, r.data);
	cr_assert(del && !del->deleted, "second delete: nothing was there");
	openshell__compute__v1__delete_sandbox_response__free_unpacked(del, NULL);
	reply_free(&r);

	Openshell__Compute__V1__EnsureWorkspaceRequest ew =
		OPENSHELL__COMPUTE__V1__ENSURE_WORKSPACE_REQUEST__INIT;
	ew.workspace = "team-a";
	r = call(inst, drv->ensure_workspace, &ew.base);
	expect_ok(&r);
	reply_free(&r);
	r = call(inst, drv->delete_workspace, &ew.base); /* same wire shape */
	expect_ok(&r);
	reply_free(&r);
	drv->close(inst);
}

/* Sandbox snapshots of a watch arrive in the order the sandboxes changed;
 * a driver killed mid-stream ends the watch with UNAVAILABLE naming the
 * socket, and once it is back the next call succeeds. */
Test(remote_uds_c, watch_in_order_then_driver_dies_and_returns)
{
	test_host th;
	test_sink ts;
	cdriver_start();
	void *inst = open_ok(&th, sock, NULL);
	sink_init(&ts, inst);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, watch_thread, &ts), 0);
	sleep_ms(200); /* the stream is open (no sandboxes to replay yet) */
	const char *ids[] = {"w-0", "w-1", "w-2"};
	for (int i = 0; i < 3; i++) {
		reply r = c_create(inst, ids[i], "test/img");
		expect_ok(&r);
		reply_free(&r);
	}
	for (int64_t end = now_ms() + 5000; now_ms() < end && __atomic_load_n(&ts.n, __ATOMIC_SEQ_CST) < 6;)
		sleep_ms(20);
	/* The first appearances of the ids follow creation order. */
	const char *first[3];
	int seen = 0;
	for (int i = 0; i < ts.n && i < 32 && seen < 3; i++) {
		int known = strcmp(ts.ids[i], "?") == 0;
		for (int j = 0; j < seen && !known; j++)
			known = strcmp(first[j], ts.ids[i]) == 0;
		if (!known)
			first[seen++] = ts.ids[i];
	}
	cr_assert_eq(seen, 3, "saw %d of 3 sandboxes in %d events", seen, ts.n);
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(first[i], ids[i], "sandbox %d appeared as %s", i, first[i]);

	kill(driver_pid, SIGKILL);
	waitpid(driver_pid, NULL, 0);
	driver_pid = -1;
	pthread_join(t, NULL);
	cr_assert_eq(ts.rc, OPENSHELL_STATUS_UNAVAILABLE, "watch ended with %d %s", ts.rc,
		     ts.msg ? ts.msg : "");
	cr_assert(ts.msg && strstr(ts.msg, sock), "message names the socket: %s", ts.msg);
	free(ts.msg);

	reply r = get_caps(inst);
	expect_unavailable(&r);
	reply_free(&r);

	cdriver_start(); /* same state file: the sandboxes are still there */
	r = get_caps(inst);
	expect_ok(&r);
	reply_free(&r);
	Openshell__Compute__V1__DriverSandbox *got = get_sandbox(inst, "w-1");
	cr_assert_str_eq(got->id, "w-1");
	openshell__compute__v1__driver_sandbox__free_unpacked(got, NULL);
	drv->close(inst);
}
