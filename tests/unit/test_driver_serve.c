/* test_driver_serve.c - unit tests of osh_driver_server (lib/osh_driver_serve.c):
 * a small in-test driver table served on a temporary Unix socket and called
 * through the osh_grpc client. */
#include "config.h"

#include "compute_driver.pb-c.h"
#include "openshell/driver.h"
#include "osh_driver_serve.h"
#include "osh_grpc.h"

#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SVC "/openshell.compute.v1.ComputeDriver/"

static char tmpdir[64];
static char sockpath[128];
static char addr[160];

/* Buffers handed to the host that it has not freed yet. */
static atomic_long host_outstanding;

static void *host_alloc(uint64_t n)
{
	atomic_fetch_add(&host_outstanding, 1);
	return malloc(n ? n : 1);
}

static void host_free(void *p)
{
	if (p)
		atomic_fetch_sub(&host_outstanding, 1);
	free(p);
}

static const openshell_host_v1 host = {
	.abi_major = OPENSHELL_DRIVER_ABI_MAJOR,
	.struct_size = sizeof(openshell_host_v1),
	.driver_name = "unit",
	.alloc = host_alloc,
	.free = host_free,
};

static char *host_strdup(const char *s)
{
	char *d = host_alloc(strlen(s) + 1);
	strcpy(d, s);
	return d;
}

/* ---- the in-test driver ---------------------------------------------- */

static int32_t t_caps(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
		      uint64_t *resp_len, char **msg)
{
	Openshell__Compute__V1__GetCapabilitiesResponse r =
		OPENSHELL__COMPUTE__V1__GET_CAPABILITIES_RESPONSE__INIT;
	r.driver_name = (char *)"unit";
	r.driver_version = (char *)"0.1";
	r.gateway_manages_lifecycle = 1;
	*resp_len = openshell__compute__v1__get_capabilities_response__get_packed_size(&r);
	*resp = host_alloc(*resp_len);
	openshell__compute__v1__get_capabilities_response__pack(&r, *resp);
	return OPENSHELL_STATUS_OK;
}

/* Echo the request bytes back. */
static int32_t t_echo(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
		      uint64_t *resp_len, char **msg)
{
	if (req_len) {
		*resp = host_alloc(req_len);
		memcpy(*resp, req, req_len);
		*resp_len = req_len;
	}
	return OPENSHELL_STATUS_OK;
}

static int32_t t_not_found(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
			   uint64_t *resp_len, char **msg)
{
	*resp = host_alloc(8); /* set on error: the host must free it */
	*resp_len = 8;
	*msg = host_strdup("unit: sandbox \"x\" not found");
	return OPENSHELL_STATUS_NOT_FOUND;
}

static int32_t t_silent_fail(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
			     uint64_t *resp_len, char **msg)
{
	return OPENSHELL_STATUS_FAILED_PRECONDITION;
}

static int32_t t_bad_code(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
			  uint64_t *resp_len, char **msg)
{
	return 99;
}

static int32_t t_empty_ok(void *inst, const uint8_t *req, uint64_t req_len, uint8_t **resp,
			  uint64_t *resp_len, char **msg)
{
	return OPENSHELL_STATUS_OK;
}

/* Watch behaviour, chosen per test (each test runs in its own process). */
static int watch_events = 3;
static int watch_block; /* 1: after the events, wait until cancelled */
static atomic_int watch_running;
static atomic_int watch_saw_cancel;
static atomic_int watch_returned;

static void event_bytes(int i, uint8_t **out, size_t *len)
{
	char id[32];
	snprintf(id, sizeof(id), "ev-%d", i);
	Openshell__Compute__V1__WatchSandboxesDeletedEvent de =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_DELETED_EVENT__INIT;
	Openshell__Compute__V1__WatchSandboxesEvent ev =
		OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__INIT;
	de.sandbox_id = id;
	ev.payload_case = OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED;
	ev.deleted = &de;
	*len = openshell__compute__v1__watch_sandboxes_event__get_packed_size(&ev);
	*out = malloc(*len);
	openshell__compute__v1__watch_sandboxes_event__pack(&ev, *out);
}

static int32_t t_watch(void *inst, const uint8_t *req, uint64_t req_len,
		       const openshell_watch_sink_v1 *sink, char **msg)
{
	atomic_fetch_add(&watch_running, 1);
	int32_t code = OPENSHELL_STATUS_UNAVAILABLE;
	for (int i = 0; i < watch_events; i++) {
		uint8_t *b;
		size_t n;
		event_bytes(i, &b, &n);
		int32_t stop = sink->emit(sink->sink_ctx, b, n);
		free(b);
		if (stop) {
			atomic_store(&watch_saw_cancel, 1);
			goto out;
		}
	}
	if (watch_block) {
		while (!sink->cancelled(sink->sink_ctx))
			usleep(10 * 1000);
		atomic_store(&watch_saw_cancel, 1);
		goto out;
	}
	*msg = host_strdup("unit: backend connection lost");
out:
	atomic_fetch_add(&watch_returned, 1);
	return code;
}

static const openshell_driver_table_v1 table = {
	.abi_major = OPENSHELL_DRIVER_ABI_MAJOR,
	.struct_size = sizeof(openshell_driver_table_v1),
	.name = "unit-plugin",
	.version = "0.1",
	.get_capabilities = t_caps,
	.validate_sandbox_create = t_echo,
	.get_sandbox = t_not_found,
	.create_sandbox = t_silent_fail,
	.delete_sandbox = t_bad_code,
	.stop_sandbox = t_empty_ok,
	/* list_sandboxes, start_sandbox, workspaces: NULL = UNIMPLEMENTED */
	.watch_sandboxes = t_watch,
};

/* ---- fixture --------------------------------------------------------- */

static osh_driver_server *srv;
static osh_client *cli;

static void setup(void)
{
	strcpy(tmpdir, "/tmp/osh-test-ds-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(sockpath, sizeof(sockpath), "%s/d.sock", tmpdir);
	snprintf(addr, sizeof(addr), "unix:%s", sockpath);
	osh_grpc_init();
}

static void teardown(void)
{
	osh_client_free(cli);
	cli = NULL;
	osh_driver_server_stop(srv);
	srv = NULL;
	osh_grpc_shutdown();
	unlink(sockpath);
	rmdir(tmpdir);
}

static void start(const openshell_driver_table_v1 *t)
{
	char *err = NULL;
	srv = osh_driver_server_start(t, NULL, &host, addr, &err);
	cr_assert_not_null(srv, "start failed: %s", err ? err : "?");
	cr_assert_null(err);
	cli = osh_client_new(addr);
}

static void stop_server(void)
{
	osh_driver_server_stop(srv);
	srv = NULL;
}

static int call(const char *method, const uint8_t *req, size_t req_len, uint8_t **resp,
		size_t *resp_len, char **msg)
{
	*resp = NULL;
	*resp_len = 0;
	*msg = NULL;
	return osh_client_unary(cli, method, req, req_len, 5000, resp, resp_len, msg);
}

TestSuite(driver_serve, .init = setup, .fini = teardown, .timeout = 30);

/* ---- unary ----------------------------------------------------------- */

Test(driver_serve, unary_round_trip)
{
	start(&table);
	uint8_t *resp;
	size_t len;
	char *msg;
	int code = call(SVC "GetCapabilities", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, 0, "status %d: %s", code, msg ? msg : "");
	Openshell__Compute__V1__GetCapabilitiesResponse *r =
		openshell__compute__v1__get_capabilities_response__unpack(NULL, len, resp);
	cr_assert_not_null(r);
	cr_assert_str_eq(r->driver_name, "unit");
	cr_assert_str_eq(r->driver_version, "0.1");
	cr_assert(r->gateway_manages_lifecycle);
	openshell__compute__v1__get_capabilities_response__free_unpacked(r, NULL);
	free(resp);
	free(msg);

	/* Request bytes reach the slot unchanged, response bytes come back. */
	uint8_t req[300];
	for (size_t i = 0; i < sizeof(req); i++)
		req[i] = (uint8_t)(i * 7);
	code = call(SVC "ValidateSandboxCreate", req, sizeof(req), &resp, &len, &msg);
	cr_assert_eq(code, 0);
	cr_assert_eq(len, sizeof(req));
	cr_assert_eq(memcmp(resp, req, len), 0);
	free(resp);
	free(msg);

	/* Empty response. */
	code = call(SVC "StopSandbox", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, 0);
	cr_assert_eq(len, 0);
	free(resp);
	free(msg);
	stop_server(); /* waits for the handlers, which free after replying */
	cr_assert_eq(atomic_load(&host_outstanding), 0, "plugin buffers not freed");
}

Test(driver_serve, null_slot_is_unimplemented)
{
	start(&table);
#define RPC(n) {n, SVC n}
	static const char *const names[][2] = {
		RPC("ListSandboxes"), RPC("StartSandbox"), RPC("EnsureWorkspace"),
		RPC("DeleteWorkspace"), RPC("GetGatewayListenerRequirements"),
	};
#undef RPC
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char want[160];
		uint8_t *resp;
		size_t len;
		char *msg;
		snprintf(want, sizeof(want), "method %s is not implemented by driver unit",
			 names[i][0]);
		int code = call(names[i][1], NULL, 0, &resp, &len, &msg);
		cr_assert_eq(code, OPENSHELL_STATUS_UNIMPLEMENTED, "%s: %d", names[i][0], code);
		cr_assert_str_eq(msg, want);
		free(resp);
		free(msg);
	}
}

Test(driver_serve, error_status_and_message_pass_through)
{
	start(&table);
	uint8_t *resp;
	size_t len;
	char *msg;
	int code = call(SVC "GetSandbox", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, OPENSHELL_STATUS_NOT_FOUND);
	cr_assert_str_eq(msg, "unit: sandbox \"x\" not found");
	cr_assert_null(resp);
	free(msg);

	/* No message from the plugin: the server synthesizes one. */
	code = call(SVC "CreateSandbox", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, OPENSHELL_STATUS_FAILED_PRECONDITION);
	cr_assert_str_eq(msg, "driver unit failed CreateSandbox with FAILED_PRECONDITION.");
	free(msg);

	/* A code outside gRPC's range becomes UNKNOWN. */
	code = call(SVC "DeleteSandbox", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, OPENSHELL_STATUS_UNKNOWN);
	cr_assert(strstr(msg, "invalid status code 99") != NULL, "%s", msg);
	free(msg);

	/* A path the service does not have. */
	code = call("/openshell.compute.v1.ComputeDriver/Nope", NULL, 0, &resp, &len, &msg);
	cr_assert_eq(code, OPENSHELL_STATUS_UNIMPLEMENTED);
	free(msg);
	stop_server(); /* waits for the handlers, which free after replying */
	cr_assert_eq(atomic_load(&host_outstanding), 0, "plugin buffers not freed");
}

Test(driver_serve, start_fails_on_bad_address)
{
	FILE *f = fopen(sockpath, "w"); /* a regular file: bind fails */
	cr_assert_not_null(f);
	fclose(f);
	char *err = NULL;
	osh_driver_server *s = osh_driver_server_start(&table, NULL, &host, addr, &err);
	cr_assert_null(s);
	cr_assert_not_null(err);
	cr_assert(strstr(err, "cannot listen on") != NULL, "%s", err);
	free(err);
}

/* ---- watch ----------------------------------------------------------- */

static void expect_events(osh_client_stream *st, int first, int count)
{
	for (int i = first; i < first + count; i++) {
		uint8_t *m = NULL;
		size_t n = 0;
		int r = osh_client_stream_next(st, 5000, &m, &n);
		cr_assert_eq(r, 1, "event %d: next returned %d", i, r);
		Openshell__Compute__V1__WatchSandboxesEvent *ev =
			openshell__compute__v1__watch_sandboxes_event__unpack(NULL, n, m);
		cr_assert_not_null(ev);
		cr_assert_eq(ev->payload_case,
			     OPENSHELL__COMPUTE__V1__WATCH_SANDBOXES_EVENT__PAYLOAD_DELETED);
		char want[32];
		snprintf(want, sizeof(want), "ev-%d", i);
		cr_assert_str_eq(ev->deleted->sandbox_id, want);
		openshell__compute__v1__watch_sandboxes_event__free_unpacked(ev, NULL);
		free(m);
	}
}

Test(driver_serve, watch_delivers_in_order_and_ends_with_slot_status)
{
	watch_events = 500;
	start(&table);
	osh_client_stream *st = osh_client_stream_open(cli, SVC "WatchSandboxes", NULL, 0, 10000);
	expect_events(st, 0, 500);
	uint8_t *m = NULL;
	size_t n = 0;
	cr_assert_eq(osh_client_stream_next(st, 5000, &m, &n), 0);
	char *msg = NULL;
	cr_assert_eq(osh_client_stream_status(st, &msg), OPENSHELL_STATUS_UNAVAILABLE);
	cr_assert_str_eq(msg, "unit: backend connection lost");
	free(msg);
	osh_client_stream_free(st);
	cr_assert_eq(atomic_load(&watch_returned), 1);
	stop_server(); /* joins the watch thread, which frees the message */
	cr_assert_eq(atomic_load(&host_outstanding), 0, "plugin message not freed");
}

Test(driver_serve, watch_null_slot_is_unimplemented)
{
	openshell_driver_table_v1 t = table;
	t.watch_sandboxes = NULL;
	start(&t);
	osh_client_stream *st = osh_client_stream_open(cli, SVC "WatchSandboxes", NULL, 0, 5000);
	uint8_t *m = NULL;
	size_t n = 0;
	cr_assert_eq(osh_client_stream_next(st, 5000, &m, &n), 0);
	char *msg = NULL;
	cr_assert_eq(osh_client_stream_status(st, &msg), OPENSHELL_STATUS_UNIMPLEMENTED);
	cr_assert_str_eq(msg, "method WatchSandboxes is not implemented by driver unit");
	free(msg);
	osh_client_stream_free(st);
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 500 && atomic_load(v) < want; i++)
		usleep(10 * 1000);
	cr_assert_geq(atomic_load(v), want);
}

Test(driver_serve, client_cancel_ends_the_slot)
{
	watch_events = 2;
	watch_block = 1;
	start(&table);
	osh_client_stream *st = osh_client_stream_open(cli, SVC "WatchSandboxes", NULL, 0, -1);
	expect_events(st, 0, 2);
	osh_client_stream_cancel(st);
	wait_for(&watch_returned, 1);
	cr_assert(atomic_load(&watch_saw_cancel));
	osh_client_stream_free(st);
}

Test(driver_serve, stop_with_open_watches_ends_cleanly)
{
	watch_events = 3;
	watch_block = 1;
	start(&table);
	osh_client_stream *st[3];
	for (int i = 0; i < 3; i++) {
		st[i] = osh_client_stream_open(cli, SVC "WatchSandboxes", NULL, 0, -1);
		expect_events(st[i], 0, 3);
	}
	wait_for(&watch_running, 3);
	cr_assert_eq(atomic_load(&watch_returned), 0);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	osh_driver_server_stop(srv);
	srv = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 3.0, "stop took %.2f s", secs);
	/* Every slot saw the cancel and returned before stop did. */
	cr_assert_eq(atomic_load(&watch_returned), 3);
	cr_assert(atomic_load(&watch_saw_cancel));

	for (int i = 0; i < 3; i++) {
		uint8_t *m = NULL;
		size_t n = 0;
		cr_assert_eq(osh_client_stream_next(st[i], 5000, &m, &n), 0);
		char *msg = NULL;
		int code = osh_client_stream_status(st[i], &msg);
		cr_assert(code == OPENSHELL_STATUS_CANCELLED || code == OPENSHELL_STATUS_UNAVAILABLE,
			  "stream %d ended with %d (%s)", i, code, msg ? msg : "");
		free(msg);
		osh_client_stream_free(st[i]);
	}
	cr_assert_eq(atomic_load(&host_outstanding), 0);
}

/* Streams that end (client or slot) release their threads while the server
 * keeps running; stop then has nothing left to join. */
Test(driver_serve, many_short_watches)
{
	watch_events = 1;
	start(&table);
	for (int i = 0; i < 40; i++) {
		osh_client_stream *st =
			osh_client_stream_open(cli, SVC "WatchSandboxes", NULL, 0, 5000);
		expect_events(st, 0, 1);
		uint8_t *m = NULL;
		size_t n = 0;
		cr_assert_eq(osh_client_stream_next(st, 5000, &m, &n), 0);
		cr_assert_eq(osh_client_stream_status(st, NULL), OPENSHELL_STATUS_UNAVAILABLE);
		osh_client_stream_free(st);
	}
	cr_assert_eq(atomic_load(&watch_returned), 40);
	stop_server();
	cr_assert_eq(atomic_load(&host_outstanding), 0);
}
