/* bench.c - osh-bench: a benchmark of a running gateway (not a test: it
 * never fails on timing). bench/run.sh starts the test driver and the gateway
 * and runs it; see there.
 *
 * Measures, on the gateway at --gateway and the driver behind it at --driver:
 *   1. idle RSS of the gateway (VmRSS/VmHWM of --gateway-pid) before any call;
 *   2. CreateSandbox round trips, 1 then 8 concurrent clients, until the
 *      store holds --sandboxes sandboxes (labels team=a|b, tier=0..4);
 *   3. GetSandbox (by name) through the gateway, 1 and 8 clients;
 *   4. the same shape as a bare gRPC C-core unary call straight to the
 *      driver's ComputeDriver/GetSandbox (the reference), 1 and 8 clients;
 *   5. ListSandboxes limit 1000, without and with label selectors;
 *   6. gateway RSS while --watches WatchSandbox streams are live, and after
 *      they are cancelled.
 * Prints a table, then the same figures as one JSON line.
 *
 * Concurrency: the 8 "clients" are 8 threads sharing one osh_client (one
 * channel, so one HTTP/2 connection) by default; --per-thread-clients gives
 * each thread its own osh_client (own connection). The bare C-core calls
 * follow the same choice (shared or per-thread grpc_channel); each thread
 * always has its own completion queue.
 */
#include "config.h"

#include "compute_driver.pb-c.h"
#include "openshell.pb-c.h"
#include "osh_grpc.h"
#include "osh_log.h"

#include <errno.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SVC "/openshell.v1.OpenShell/"
#define DRV "/openshell.compute.v1.ComputeDriver/"
#define M_HEALTH SVC "Health"
#define M_CREATE SVC "CreateSandbox"
#define M_GET SVC "GetSandbox"
#define M_LIST SVC "ListSandboxes"
#define M_WATCH SVC "WatchSandbox"
#define M_DRV_GET DRV "GetSandbox"

#define CALL_TIMEOUT_MS 10000
#define MAX_THREADS 64
#define LIST_PAGE 1000
#define LIST_MAX_PAGES 1000
#define MAX_WATCH_ROUNDS 10 /* bounds the store census: 1,000,000 rows */

/* ---- configuration and shared state ---------------------------------- */

static struct {
	const char *gateway, *driver;
	long gw_pid, drv_pid;
	size_t sandboxes;   /* fill the store to this many */
	size_t watches;     /* concurrent WatchSandbox streams */
	int threads;        /* "8 clients" */
	size_t get_single;  /* GetSandbox calls, 1 client */
	size_t get_per_thr; /* GetSandbox calls per thread, N clients */
	size_t create_single;
	size_t list_runs;
	int watch_rounds;
	int per_thread_clients;
} cfg = {
	.sandboxes = 10000,
	.watches = 1000,
	.threads = 8,
	.get_single = 5000,
	.get_per_thr = 2000,
	.create_single = 2000,
	.list_runs = 30,
	.watch_rounds = 2,
};

/* Sandboxes this run created: names[i] always set, ids[i] NULL when the
 * create failed. */
static char **names, **ids;
static uint64_t *create_ns; /* round trip of create k, 0 when it failed */
static size_t n_slots;
static size_t *valid; /* indices with an id */
static size_t n_valid;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p) {
		fprintf(stderr, "osh-bench: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		fprintf(stderr, "osh-bench: out of memory\n");
		exit(2);
	}
	return d;
}

static uint64_t rng_next(uint64_t *s) /* xorshift64* */
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ---- /proc ----------------------------------------------------------- */

struct mem {
	long rss_kb, hwm_kb, threads;
};

static struct mem proc_mem(long pid)
{
	struct mem m = { -1, -1, -1 };
	char path[64], line[256];
	if (pid <= 0)
		return m;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			m.rss_kb = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			m.hwm_kb = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "Threads:", 8) == 0)
			m.threads = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return m;
}

/* utime + stime of pid in microseconds, -1 when unknown. */
static int64_t proc_cpu_us(long pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return -1;
	p++;
	/* after ')': state(3) ... utime is field 14, stime 15 */
	unsigned long long ut = 0, st = 0;
	int field = 2;
	for (char *tok = strtok(p, " "); tok; tok = strtok(NULL, " ")) {
		field++;
		if (field == 14)
			ut = strtoull(tok, NULL, 10);
		else if (field == 15) {
			st = strtoull(tok, NULL, 10);
			break;
		}
	}
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)hz);
}

/* ---- results ---------------------------------------------------------- */

struct stats {
	const char *key;   /* JSON key */
	const char *label; /* table label */
	int clients;
	size_t n, errors;
	double p50_us, p99_us, max_us, rate;
	double gw_cpu_us, drv_cpu_us; /* per call; < 0 unknown */
	size_t items;                 /* list: sandboxes returned per call */
};

#define MAX_STATS 32
static struct stats results[MAX_STATS];
static size_t n_results;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t r = (size_t)(p * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1000.0;
}

static struct stats *stats_add(const char *key, const char *label, int clients, uint64_t *lat,
			       size_t n, size_t errors, uint64_t wall_ns, int64_t gw_cpu,
			       int64_t drv_cpu)
{
	if (n_results == MAX_STATS)
		abort();
	struct stats *s = &results[n_results++];
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->label = label;
	s->clients = clients;
	s->n = n;
	s->errors = errors;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	s->p50_us = pct_us(lat, n, 0.50);
	s->p99_us = pct_us(lat, n, 0.99);
	s->max_us = n ? (double)lat[n - 1] / 1000.0 : 0;
	s->rate = wall_ns ? (double)(n + errors) * 1e9 / (double)wall_ns : 0;
	size_t calls = n + errors;
	s->gw_cpu_us = gw_cpu >= 0 && calls ? (double)gw_cpu / (double)calls : -1;
	s->drv_cpu_us = drv_cpu >= 0 && calls ? (double)drv_cpu / (double)calls : -1;
	return s;
}

static struct stats *stats_find(const char *key)
{
	for (size_t i = 0; i < n_results; i++)
		if (strcmp(results[i].key, key) == 0)
			return &results[i];
	return NULL;
}

/* ---- bare gRPC C-core unary client (the reference) -------------------- */

struct raw_chan {
	grpc_channel *ch;
	void *method; /* registered call handle */
};

static void raw_chan_init(struct raw_chan *r, const char *target, const char *method)
{
	grpc_arg arg;
	memset(&arg, 0, sizeof(arg));
	arg.type = GRPC_ARG_INTEGER; /* as osh_client: no retry filter work */
	arg.key = (char *)GRPC_ARG_ENABLE_RETRIES;
	arg.value.integer = 0;
	grpc_channel_args args = { 1, &arg };
	grpc_channel_credentials *cc = grpc_insecure_credentials_create();
	r->ch = grpc_channel_create(target, cc, &args);
	grpc_channel_credentials_release(cc);
	r->method = grpc_channel_register_call(r->ch, method, NULL, NULL);
}

static void raw_chan_destroy(struct raw_chan *r)
{
	if (r->ch)
		grpc_channel_destroy(r->ch);
	r->ch = NULL;
}

static void cq_destroy(grpc_completion_queue *cq)
{
	if (!cq)
		return;
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

/* One unary call on cq (used by one thread). Returns the status code;
 * *resp_len gets the response size. */
static int raw_unary(struct raw_chan *r, grpc_completion_queue *cq, const uint8_t *req,
		     size_t req_len, size_t *resp_len)
{
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	grpc_byte_buffer *recv = NULL;
	grpc_metadata_array imd, tmd;
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_call *call = grpc_channel_create_registered_call(
		r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, r->method,
		gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			     gpr_time_from_millis(CALL_TIMEOUT_MS, GPR_TIMESPAN)),
		NULL);
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	char tag;
	int code;
	if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
		grpc_call_cancel(call, NULL);
		code = GRPC_STATUS_INTERNAL;
	} else {
		/* Only this call's tag is ever in flight on cq. */
		grpc_event ev =
			grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE || ev.tag != &tag)
			abort();
		code = (int)status;
	}
	*resp_len = 0;
	if (recv) {
		*resp_len = grpc_byte_buffer_length(recv);
		grpc_byte_buffer_destroy(recv);
	}
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	grpc_call_unref(call);
	return code;
}

/* ---- a phase: N threads, each making a bounded number of calls --------- */

struct worker;
/* One call; returns the gRPC status, *ns the round trip of the RPC alone. */
typedef int (*op_fn)(struct worker *w, size_t k, uint64_t *ns);

struct worker {
	int idx;
	op_fn fn;
	osh_client *client;
	struct raw_chan *raw;
	grpc_completion_queue *cq;
	uint64_t rng;
	size_t first, count; /* k runs over [first, first + count) */
	uint64_t *lat;
	size_t n_ok, n_err;
	int last_err;
	uint64_t t_begin, t_end; /* of its loop */
	pthread_barrier_t *start;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	w->t_begin = now_ns();
	for (size_t k = w->first; k < w->first + w->count; k++) {
		uint64_t ns = 0;
		int code = w->fn(w, k, &ns);
		if (code == GRPC_STATUS_OK) {
			w->lat[w->n_ok++] = ns;
		} else {
			w->n_err++;
			w->last_err = code;
			/* bail out of a phase whose calls all fail */
			if (w->n_err >= 100 && w->n_ok == 0)
				break;
		}
	}
	w->t_end = now_ns();
	return NULL;
}

struct clients {
	osh_client *gw[MAX_THREADS], *drv[MAX_THREADS]; /* [0] shared */
	struct raw_chan raw_drv[MAX_THREADS], raw_gw[MAX_THREADS];
};
static struct clients cl;

enum target { T_GW, T_DRV, T_RAW_DRV, T_RAW_GW };

/* Runs fn over k in [first, first + total) on nthreads threads; records
 * the result as key/label. */
static struct stats *run_phase(const char *key, const char *label, op_fn fn, enum target t,
			       int nthreads, size_t first, size_t total, uint64_t seed)
{
	struct worker w[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	pthread_barrier_t bar;
	memset(w, 0, sizeof(w));
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	size_t per = total / (size_t)nthreads, rem = total % (size_t)nthreads, at = first;
	for (int i = 0; i < nthreads; i++) {
		int ci = cfg.per_thread_clients ? i : 0;
		w[i].idx = i;
		w[i].fn = fn;
		w[i].client = t == T_GW ? cl.gw[ci] : cl.drv[ci];
		w[i].raw = t == T_RAW_GW ? &cl.raw_gw[ci] : &cl.raw_drv[ci];
		if (t == T_RAW_DRV || t == T_RAW_GW)
			w[i].cq = grpc_completion_queue_create_for_next(NULL);
		w[i].rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
		w[i].first = at;
		w[i].count = per + ((size_t)i < rem);
		at += w[i].count;
		w[i].lat = xcalloc(w[i].count, sizeof(uint64_t));
		w[i].start = &bar;
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "osh-bench: pthread_create failed\n");
			exit(2);
		}
	}
	int64_t gw0 = proc_cpu_us(cfg.gw_pid), dr0 = proc_cpu_us(cfg.drv_pid);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	/* Wall time from the first worker's start to the last one's end (the
	 * main thread may be scheduled late after the barrier on 2 cores). */
	uint64_t t0 = UINT64_MAX, t1 = 0;
	for (int i = 0; i < nthreads; i++) {
		if (w[i].t_begin < t0)
			t0 = w[i].t_begin;
		if (w[i].t_end > t1)
			t1 = w[i].t_end;
	}
	uint64_t wall = t1 > t0 ? t1 - t0 : 0;
	int64_t gw1 = proc_cpu_us(cfg.gw_pid), dr1 = proc_cpu_us(cfg.drv_pid);
	pthread_barrier_destroy(&bar);

	size_t n_ok = 0, n_err = 0;
	int last_err = 0;
	for (int i = 0; i < nthreads; i++) {
		n_ok += w[i].n_ok;
		n_err += w[i].n_err;
		if (w[i].n_err)
			last_err = w[i].last_err;
	}
	uint64_t *all = xcalloc(n_ok, sizeof(uint64_t));
	size_t o = 0;
	for (int i = 0; i < nthreads; i++) {
		memcpy(all + o, w[i].lat, w[i].n_ok * sizeof(uint64_t));
		o += w[i].n_ok;
		free(w[i].lat);
		cq_destroy(w[i].cq);
	}
	if (n_err)
		fprintf(stderr, "osh-bench: %s: %zu of %zu calls failed (last: %s)\n", label, n_err,
			n_ok + n_err, osh_status_name(last_err));
	struct stats *s =
		key ? stats_add(key, label, nthreads, all, n_ok, n_err, wall,
				gw0 >= 0 && gw1 >= 0 ? gw1 - gw0 : -1,
				dr0 >= 0 && dr1 >= 0 ? dr1 - dr0 : -1)
		    : NULL;
	free(all);
	return s;
}

/* ---- operations -------------------------------------------------------- */

static const char *const tiers[5] = { "0", "1", "2", "3", "4" };

static int op_create(struct worker *w, size_t k, uint64_t *ns)
{
	Openshell__V1__CreateSandboxRequest req = OPENSHELL__V1__CREATE_SANDBOX_REQUEST__INIT;
	Openshell__V1__SandboxSpec spec = OPENSHELL__V1__SANDBOX_SPEC__INIT;
	Openshell__V1__CreateSandboxRequest__LabelsEntry l0 =
		OPENSHELL__V1__CREATE_SANDBOX_REQUEST__LABELS_ENTRY__INIT;
	Openshell__V1__CreateSandboxRequest__LabelsEntry l1 =
		OPENSHELL__V1__CREATE_SANDBOX_REQUEST__LABELS_ENTRY__INIT;
	Openshell__V1__CreateSandboxRequest__LabelsEntry *lp[2] = { &l0, &l1 };
	l0.key = (char *)"team";
	l0.value = (char *)(k % 2 ? "b" : "a");
	l1.key = (char *)"tier";
	l1.value = (char *)tiers[k % 5];
	req.name = names[k];
	req.spec = &spec;
	req.n_labels = 2;
	req.labels = lp;
	uint8_t buf[256];
	size_t len = openshell__v1__create_sandbox_request__get_packed_size(&req);
	if (len > sizeof(buf))
		abort();
	openshell__v1__create_sandbox_request__pack(&req, buf);

	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	uint64_t t0 = now_ns();
	int code = osh_client_unary(w->client, M_CREATE, buf, len, CALL_TIMEOUT_MS, &resp,
				    &resp_len, &msg);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK) {
		create_ns[k] = *ns;
		Openshell__V1__SandboxResponse *r =
			openshell__v1__sandbox_response__unpack(NULL, resp_len, resp);
		if (r && r->sandbox && r->sandbox->metadata && *r->sandbox->metadata->id)
			ids[k] = xstrdup(r->sandbox->metadata->id);
		else
			code = GRPC_STATUS_INTERNAL;
		if (r)
			openshell__v1__sandbox_response__free_unpacked(r, NULL);
	} else if (w->n_err == 0) {
		fprintf(stderr, "osh-bench: CreateSandbox %s: %s: %s\n", names[k],
			osh_status_name(code), msg);
	}
	free(resp);
	free(msg);
	return code;
}

static size_t pick(struct worker *w)
{
	return valid[rng_next(&w->rng) % n_valid];
}

static int op_get_gw(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	Openshell__V1__GetSandboxRequest req = OPENSHELL__V1__GET_SANDBOX_REQUEST__INIT;
	req.name = names[pick(w)];
	uint8_t buf[128];
	size_t len = openshell__v1__get_sandbox_request__pack(&req, buf);
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	uint64_t t0 = now_ns();
	int code = osh_client_unary(w->client, M_GET, buf, len, CALL_TIMEOUT_MS, &resp, &resp_len,
				    &msg);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && resp_len == 0)
		code = GRPC_STATUS_INTERNAL;
	free(resp);
	free(msg);
	return code;
}

static size_t pack_drv_get(struct worker *w, uint8_t *buf)
{
	Openshell__Compute__V1__GetSandboxRequest req =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST__INIT;
	req.sandbox_id = ids[pick(w)];
	return openshell__compute__v1__get_sandbox_request__pack(&req, buf);
}

static int op_get_drv_raw(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	uint8_t buf[128];
	size_t len = pack_drv_get(w, buf), resp_len;
	uint64_t t0 = now_ns();
	int code = raw_unary(w->raw, w->cq, buf, len, &resp_len);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && resp_len == 0)
		code = GRPC_STATUS_INTERNAL;
	return code;
}

/* The driver's first sandbox: the test driver keeps a list in creation
 * order, so this id is found at once (transport floor, no O(n) lookup). */
static int op_get_drv_raw_head(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	Openshell__Compute__V1__GetSandboxRequest req =
		OPENSHELL__COMPUTE__V1__GET_SANDBOX_REQUEST__INIT;
	req.sandbox_id = ids[valid[0]];
	uint8_t buf[128];
	size_t len = openshell__compute__v1__get_sandbox_request__pack(&req, buf), resp_len;
	uint64_t t0 = now_ns();
	int code = raw_unary(w->raw, w->cq, buf, len, &resp_len);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && resp_len == 0)
		code = GRPC_STATUS_INTERNAL;
	return code;
}

static int op_get_gw_raw(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	Openshell__V1__GetSandboxRequest req = OPENSHELL__V1__GET_SANDBOX_REQUEST__INIT;
	req.name = names[pick(w)];
	uint8_t buf[128];
	size_t len = openshell__v1__get_sandbox_request__pack(&req, buf), resp_len;
	uint64_t t0 = now_ns();
	int code = raw_unary(w->raw, w->cq, buf, len, &resp_len);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && resp_len == 0)
		code = GRPC_STATUS_INTERNAL;
	return code;
}

static int op_get_drv_osh(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	uint8_t buf[128];
	size_t len = pack_drv_get(w, buf);
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	uint64_t t0 = now_ns();
	int code = osh_client_unary(w->client, M_DRV_GET, buf, len, CALL_TIMEOUT_MS, &resp,
				    &resp_len, &msg);
	*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && resp_len == 0)
		code = GRPC_STATUS_INTERNAL;
	free(resp);
	free(msg);
	return code;
}

static int op_health(struct worker *w, size_t k, uint64_t *ns)
{
	(void)k;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	uint64_t t0 = now_ns();
	int code = osh_client_unary(w->client, M_HEALTH, NULL, 0, CALL_TIMEOUT_MS, &resp,
				    &resp_len, &msg);
	*ns = now_ns() - t0;
	free(resp);
	free(msg);
	return code;
}

/* ListSandboxes: the selector and offset of a list phase. */
static const char *list_selector;
static uint32_t list_offset;
static size_t list_items; /* returned by the last call */

static int list_call(osh_client *c, const char *sel, uint32_t limit, uint32_t offset,
		     uint64_t *ns, Openshell__V1__ListSandboxesResponse **out)
{
	Openshell__V1__ListSandboxesRequest req = OPENSHELL__V1__LIST_SANDBOXES_REQUEST__INIT;
	req.limit = limit;
	req.offset = offset;
	req.label_selector = (char *)(sel ? sel : "");
	uint8_t buf[256];
	size_t len = openshell__v1__list_sandboxes_request__get_packed_size(&req);
	if (len > sizeof(buf))
		abort();
	openshell__v1__list_sandboxes_request__pack(&req, buf);
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *msg = NULL;
	uint64_t t0 = now_ns();
	int code =
		osh_client_unary(c, M_LIST, buf, len, CALL_TIMEOUT_MS, &resp, &resp_len, &msg);
	if (ns)
		*ns = now_ns() - t0;
	if (code == GRPC_STATUS_OK && out) {
		*out = openshell__v1__list_sandboxes_response__unpack(NULL, resp_len, resp);
		if (!*out)
			code = GRPC_STATUS_INTERNAL;
	} else if (code != GRPC_STATUS_OK) {
		fprintf(stderr, "osh-bench: ListSandboxes: %s: %s\n", osh_status_name(code), msg);
	}
	free(resp);
	free(msg);
	return code;
}

static int op_list(struct worker *w, size_t k, uint64_t *ns)
{
	Openshell__V1__ListSandboxesResponse *r = NULL;
	/* Count the items of the first call only; the rest is timing. */
	int code = list_call(w->client, list_selector, LIST_PAGE, list_offset, ns,
			     k == w->first ? &r : NULL);
	if (r) {
		list_items = r->n_sandboxes;
		openshell__v1__list_sandboxes_response__free_unpacked(r, NULL);
	}
	return code;
}

/* ---- store census ------------------------------------------------------ */

struct census {
	size_t total;
	size_t by_phase[16];
	int ok;
};

static struct census store_census(void)
{
	struct census c;
	memset(&c, 0, sizeof(c));
	for (uint32_t page = 0; page < LIST_MAX_PAGES; page++) {
		Openshell__V1__ListSandboxesResponse *r = NULL;
		if (list_call(cl.gw[0], NULL, LIST_PAGE, page * LIST_PAGE, NULL, &r) !=
		    GRPC_STATUS_OK)
			return c;
		size_t n = r->n_sandboxes;
		for (size_t i = 0; i < n; i++) {
			Openshell__V1__Sandbox *sb = r->sandboxes[i];
			unsigned ph = sb->status ? (unsigned)sb->status->phase : 0;
			c.by_phase[ph < 16 ? ph : 15]++;
		}
		c.total += n;
		openshell__v1__list_sandboxes_response__free_unpacked(r, NULL);
		if (n < LIST_PAGE)
			break;
	}
	c.ok = 1;
	return c;
}

/* Wait until the gateway's CPU use drops below 5 % over 200 ms (background
 * work such as the reconciler catching up), at most max_ms. Returns the
 * time waited in ms. */
static long wait_gateway_idle(long max_ms)
{
	uint64_t t0 = now_ns();
	if (cfg.gw_pid <= 0)
		return 0;
	for (long waited = 0; waited < max_ms; waited += 200) {
		int64_t a = proc_cpu_us(cfg.gw_pid);
		sleep_ms(200);
		int64_t b = proc_cpu_us(cfg.gw_pid);
		if (a < 0 || b < 0 || b - a < 10000)
			break;
	}
	return (long)((now_ns() - t0) / 1000000u);
}

/* ---- watches ----------------------------------------------------------- */

struct watch_result {
	size_t opened, live;
	double open_ms;
	struct mem during, after;
	long bench_rss_kb;
};

static struct watch_result run_watches(size_t n)
{
	struct watch_result res;
	memset(&res, 0, sizeof(res));
	if (!n || !n_valid)
		return res;
	osh_client_stream **st = xcalloc(n, sizeof(*st));
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		Openshell__V1__WatchSandboxRequest req = OPENSHELL__V1__WATCH_SANDBOX_REQUEST__INIT;
		req.id = ids[valid[i % n_valid]];
		req.follow_status = 1;
		uint8_t buf[128];
		size_t len = openshell__v1__watch_sandbox_request__pack(&req, buf);
		osh_client *c = cl.gw[cfg.per_thread_clients ? i % (size_t)cfg.threads : 0];
		st[i] = osh_client_stream_open(c, M_WATCH, buf, len, -1);
		res.opened++;
	}
	/* First message of each: the snapshot; then the stream is live. Bounded:
	 * 10 s for the first, and the whole set within 30 s. */
	uint64_t limit = now_ns() + 30000000000ULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t *msg = NULL;
		size_t len = 0;
		int64_t left = (int64_t)((limit - now_ns()) / 1000000u);
		if (now_ns() >= limit)
			left = 0;
		int r = osh_client_stream_next(st[i], left < 10000 ? left : 10000, &msg, &len);
		if (r == 1)
			res.live++;
		else if (r == 0 && i < 3) {
			char *m = NULL;
			int code = osh_client_stream_status(st[i], &m);
			fprintf(stderr, "osh-bench: WatchSandbox ended at once: %s: %s\n",
				osh_status_name(code), m);
			free(m);
		}
		free(msg);
	}
	res.open_ms = (double)(now_ns() - t0) / 1e6;
	sleep_ms(200);
	res.during = proc_mem(cfg.gw_pid);
	res.bench_rss_kb = proc_mem((long)getpid()).rss_kb;
	for (size_t i = 0; i < n; i++)
		osh_client_stream_cancel(st[i]);
	for (size_t i = 0; i < n; i++)
		osh_client_stream_free(st[i]);
	free(st);
	/* Let the gateway see the cancels and release the calls. */
	uint8_t *resp = NULL;
	size_t resp_len;
	char *msg = NULL;
	osh_client_unary(cl.gw[0], M_HEALTH, NULL, 0, CALL_TIMEOUT_MS, &resp, &resp_len, &msg);
	free(resp);
	free(msg);
	sleep_ms(1000);
	res.after = proc_mem(cfg.gw_pid);
	return res;
}

/* ---- output ------------------------------------------------------------ */

/* Create p50 per fifth of the fill (the store grows along it). */
#define FILL_BUCKETS 5
static void create_by_fill(size_t existing, double p50[FILL_BUCKETS], size_t lo[FILL_BUCKETS],
			   size_t hi[FILL_BUCKETS])
{
	uint64_t *tmp = xcalloc(n_slots, sizeof(uint64_t));
	for (int b = 0; b < FILL_BUCKETS; b++) {
		size_t a = n_slots * (size_t)b / FILL_BUCKETS, e = n_slots * (size_t)(b + 1) / FILL_BUCKETS;
		size_t n = 0;
		for (size_t k = a; k < e; k++)
			if (create_ns[k])
				tmp[n++] = create_ns[k];
		qsort(tmp, n, sizeof(*tmp), cmp_u64);
		p50[b] = pct_us(tmp, n, 0.5);
		lo[b] = existing + a;
		hi[b] = existing + e;
	}
	free(tmp);
}

static void print_row(const struct stats *s)
{
	char gw[32], drv[32], items[32];
	if (s->gw_cpu_us >= 0)
		snprintf(gw, sizeof(gw), "%.1f", s->gw_cpu_us);
	else
		snprintf(gw, sizeof(gw), "-");
	if (s->drv_cpu_us >= 0)
		snprintf(drv, sizeof(drv), "%.1f", s->drv_cpu_us);
	else
		snprintf(drv, sizeof(drv), "-");
	if (s->items)
		snprintf(items, sizeof(items), " [%zu items]", s->items);
	else
		items[0] = '\0';
	printf("  %-40s %3d %7zu %9.1f %9.1f %9.1f %9.0f %8s %8s %4zu%s\n", s->label, s->clients,
	       s->n, s->p50_us, s->p99_us, s->max_us, s->rate, gw, drv, s->errors, items);
}

static void print_header(void)
{
	printf("  %-40s %3s %7s %9s %9s %9s %9s %8s %8s %4s\n", "", "cli", "calls", "p50 us",
	       "p99 us", "max us", "calls/s", "gw cpu", "drv cpu", "err");
}

/* JSON: a growable string. */
struct jbuf {
	char *s;
	size_t len, cap;
};

static void jprintf(struct jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(j->s ? j->s + j->len : NULL, j->s ? j->cap - j->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (j->s && j->len + (size_t)n < j->cap) {
			j->len += (size_t)n;
			return;
		}
		size_t cap = j->cap ? j->cap * 2 : 1024;
		while (cap <= j->len + (size_t)n)
			cap *= 2;
		char *p = realloc(j->s, cap);
		if (!p)
			abort();
		j->s = p;
		j->cap = cap;
	}
}

static void json_stats(struct jbuf *j, const struct stats *s)
{
	jprintf(j,
		"\"%s\":{\"clients\":%d,\"n\":%zu,\"errors\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
		"\"max_us\":%.1f,\"calls_per_s\":%.0f",
		s->key, s->clients, s->n, s->errors, s->p50_us, s->p99_us, s->max_us, s->rate);
	if (s->gw_cpu_us >= 0)
		jprintf(j, ",\"gw_cpu_us_per_call\":%.1f", s->gw_cpu_us);
	if (s->drv_cpu_us >= 0)
		jprintf(j, ",\"drv_cpu_us_per_call\":%.1f", s->drv_cpu_us);
	if (s->items)
		jprintf(j, ",\"items\":%zu", s->items);
	jprintf(j, "}");
}

static double ratio(const char *a, const char *b)
{
	struct stats *x = stats_find(a), *y = stats_find(b);
	if (!x || !y || y->p50_us <= 0)
		return 0;
	return x->p50_us / y->p50_us;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("Usage: osh-bench --gateway unix:PATH --driver unix:PATH --gateway-pid PID "
	      "[options]\n"
	      "  --driver-pid PID        also report the driver's CPU per call\n"
	      "  --sandboxes N           fill the store to N sandboxes (default 10000)\n"
	      "  --watches N             concurrent WatchSandbox streams (default 1000)\n"
	      "  --threads N             concurrent clients (default 8, max 64)\n"
	      "  --get-calls N           GetSandbox calls with 1 client (default 5000)\n"
	      "  --get-calls-per-thread N  with N clients (default 2000)\n"
	      "  --list-runs N           ListSandboxes runs per shape (default 30)\n"
	      "  --watch-rounds N        open/cancel the watch set N times (default 2, max 10)\n"
	      "  --per-thread-clients    one channel per thread instead of one shared\n"
	      "A benchmark: it reports figures and fails only when it cannot run.\n",
	      f);
}

static size_t arg_size(const char *opt, const char *v, size_t max)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || !*v || *end || x > max) {
		fprintf(stderr, "osh-bench: bad value for %s: \"%s\"\n", opt, v);
		exit(2);
	}
	return (size_t)x;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "gateway", required_argument, NULL, 'g' },
		{ "driver", required_argument, NULL, 'd' },
		{ "gateway-pid", required_argument, NULL, 'p' },
		{ "driver-pid", required_argument, NULL, 'P' },
		{ "sandboxes", required_argument, NULL, 's' },
		{ "watches", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "get-calls", required_argument, NULL, 'G' },
		{ "get-calls-per-thread", required_argument, NULL, 'T' },
		{ "list-runs", required_argument, NULL, 'L' },
		{ "watch-rounds", required_argument, NULL, 'R' },
		{ "per-thread-clients", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g': cfg.gateway = optarg; break;
		case 'd': cfg.driver = optarg; break;
		case 'p': cfg.gw_pid = (long)arg_size("--gateway-pid", optarg, 1u << 30); break;
		case 'P': cfg.drv_pid = (long)arg_size("--driver-pid", optarg, 1u << 30); break;
		case 's': cfg.sandboxes = arg_size("--sandboxes", optarg, 1000000); break;
		case 'w': cfg.watches = arg_size("--watches", optarg, 100000); break;
		case 't': cfg.threads = (int)arg_size("--threads", optarg, MAX_THREADS); break;
		case 'G': cfg.get_single = arg_size("--get-calls", optarg, 10000000); break;
		case 'T': cfg.get_per_thr = arg_size("--get-calls-per-thread", optarg, 10000000); break;
		case 'L': cfg.list_runs = arg_size("--list-runs", optarg, 100000); break;
		case 'R': cfg.watch_rounds = (int)arg_size("--watch-rounds", optarg, MAX_WATCH_ROUNDS); break;
		case 'C': cfg.per_thread_clients = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !cfg.gateway || !cfg.driver || cfg.gw_pid <= 0 || cfg.threads < 1) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* 1. Idle RSS: before this process says anything to the gateway. */
	struct mem idle = proc_mem(cfg.gw_pid);
	if (idle.rss_kb < 0) {
		fprintf(stderr, "osh-bench: cannot read /proc/%ld/status\n", cfg.gw_pid);
		return 1;
	}

	osh_grpc_init();
	int nch = cfg.per_thread_clients ? cfg.threads : 1;
	for (int i = 0; i < nch; i++) {
		cl.gw[i] = osh_client_new(cfg.gateway);
		cl.drv[i] = osh_client_new(cfg.driver);
		raw_chan_init(&cl.raw_drv[i], cfg.driver, M_DRV_GET);
		raw_chan_init(&cl.raw_gw[i], cfg.gateway, M_GET);
	}
	uint64_t t_start = now_ns();
	int rc = 0;

	printf("osh-bench: gateway %s (pid %ld), driver %s; %d concurrent clients on %s\n",
	       cfg.gateway, cfg.gw_pid, cfg.driver, cfg.threads,
	       cfg.per_thread_clients ? "one channel each" : "one shared channel");
	printf("idle gateway: VmRSS %ld kB, VmHWM %ld kB, %ld threads\n", idle.rss_kb, idle.hwm_kb,
	       idle.threads);

	/* Warm-up: connect both channels. */
	run_phase(NULL, "warm-up Health", op_health, T_GW, 1, 0, 200, 1);

	struct census before = store_census();
	if (!before.ok) {
		fprintf(stderr, "osh-bench: cannot list the gateway's sandboxes\n");
		rc = 1;
		goto out;
	}
	size_t existing = before.total;
	size_t to_create = cfg.sandboxes > existing ? cfg.sandboxes - existing : 0;
	if (existing)
		printf("store already holds %zu sandboxes; creating %zu more\n", existing,
		       to_create);

	/* 2. CreateSandbox until the store holds cfg.sandboxes. */
	n_slots = to_create;
	names = xcalloc(n_slots, sizeof(*names));
	ids = xcalloc(n_slots, sizeof(*ids));
	create_ns = xcalloc(n_slots, sizeof(*create_ns));
	unsigned prefix = (unsigned)((uint64_t)getpid() * 2654435761u ^ now_ns()) & 0xffffu;
	for (size_t i = 0; i < n_slots; i++) {
		char nm[24];
		snprintf(nm, sizeof(nm), "b%04x-%06zu", prefix, i); /* <= 19 chars */
		names[i] = xstrdup(nm);
	}
	size_t warm = to_create < 100 ? to_create : 100;
	size_t single = to_create - warm < cfg.create_single ? to_create - warm : cfg.create_single;
	size_t conc = to_create - warm - single;
	uint64_t t_fill = now_ns();
	run_phase(NULL, "warm-up CreateSandbox", op_create, T_GW, 1, 0, warm, 2);
	if (single)
		run_phase("create_c1", "CreateSandbox via gateway", op_create, T_GW, 1, warm,
			  single, 3);
	if (conc)
		run_phase("create_cN", "CreateSandbox via gateway", op_create, T_GW, cfg.threads,
			  warm + single, conc, 4);
	double fill_s = (double)(now_ns() - t_fill) / 1e9;
	valid = xcalloc(n_slots, sizeof(*valid));
	for (size_t i = 0; i < n_slots; i++)
		if (ids[i])
			valid[n_valid++] = i;
	struct mem after_fill = proc_mem(cfg.gw_pid);
	long settle_ms = wait_gateway_idle(20000);
	struct census cen = store_census();
	struct mem settled = proc_mem(cfg.gw_pid);
	if (!n_valid) {
		fprintf(stderr, "osh-bench: no sandbox could be created; stopping\n");
		rc = 1;
		goto out;
	}

	/* 3 and 4. GetSandbox through the gateway and straight to the driver. */
	run_phase(NULL, "warm-up", op_get_gw, T_GW, 1, 0, 500, 5);
	run_phase("get_gw_c1", "GetSandbox via gateway", op_get_gw, T_GW, 1, 0, cfg.get_single, 6);
	run_phase("get_gw_cN", "GetSandbox via gateway", op_get_gw, T_GW, cfg.threads, 0,
		  cfg.get_per_thr * (size_t)cfg.threads, 7);
	run_phase(NULL, "warm-up", op_get_drv_raw, T_RAW_DRV, 1, 0, 500, 8);
	run_phase("get_drv_bare_c1", "GetSandbox driver, bare core", op_get_drv_raw, T_RAW_DRV, 1,
		  0, cfg.get_single, 9);
	run_phase("get_drv_bare_cN", "GetSandbox driver, bare core", op_get_drv_raw, T_RAW_DRV,
		  cfg.threads, 0, cfg.get_per_thr * (size_t)cfg.threads, 10);
	/* The two other corners: same client helper as the gateway rows
	 * against the driver, and the bare client against the gateway. */
	run_phase("get_drv_head_c1", "GetSandbox driver, bare, 1st id", op_get_drv_raw_head,
		  T_RAW_DRV, 1, 0, cfg.get_single, 17);
	run_phase("get_drv_head_cN", "GetSandbox driver, bare, 1st id", op_get_drv_raw_head,
		  T_RAW_DRV, cfg.threads, 0, cfg.get_per_thr * (size_t)cfg.threads, 18);
	run_phase(NULL, "warm-up", op_get_drv_osh, T_DRV, 1, 0, 500, 11);
	run_phase("get_drv_osh_c1", "GetSandbox driver, osh_client", op_get_drv_osh, T_DRV, 1, 0,
		  cfg.get_single, 12);
	run_phase("get_drv_osh_cN", "GetSandbox driver, osh_client", op_get_drv_osh, T_DRV,
		  cfg.threads, 0, cfg.get_per_thr * (size_t)cfg.threads, 13);
	run_phase(NULL, "warm-up", op_get_gw_raw, T_RAW_GW, 1, 0, 500, 14);
	run_phase("get_gw_bare_c1", "GetSandbox via gateway, bare core", op_get_gw_raw, T_RAW_GW,
		  1, 0, cfg.get_single, 15);
	run_phase("get_gw_bare_cN", "GetSandbox via gateway, bare core", op_get_gw_raw, T_RAW_GW,
		  cfg.threads, 0, cfg.get_per_thr * (size_t)cfg.threads, 16);

	/* 5. ListSandboxes, limit 1000. */
	static const struct {
		const char *key, *label, *sel;
		uint32_t offset;
	} lists[] = {
		{ "list_all", "List 1000, no selector", "", 0 },
		{ "list_team", "List 1000, team=a", "team=a", 0 },
		{ "list_team_tier", "List 1000, team=a,tier=0", "team=a,tier=0", 0 },
		{ "list_all_off9000", "List 1000, no selector, offset 9000", "", 9000 },
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		list_selector = lists[i].sel;
		list_offset = lists[i].offset;
		run_phase(NULL, "warm-up", op_list, T_GW, 1, 0, 3, 20);
		list_items = 0;
		struct stats *s = run_phase(lists[i].key, lists[i].label, op_list, T_GW, 1, 0,
					    cfg.list_runs, 21);
		if (s)
			s->items = list_items;
	}
	struct mem after_list = proc_mem(cfg.gw_pid);

	/* 6. WatchSandbox streams. */
	/* More than one round: is the memory of the first round reused? */
	struct watch_result wrs[MAX_WATCH_ROUNDS];
	memset(wrs, 0, sizeof(wrs));
	for (int r = 0; r < cfg.watch_rounds; r++)
		wrs[r] = run_watches(cfg.watches);
	struct watch_result wr = wrs[0];

	double total_s = (double)(now_ns() - t_start) / 1e9;

	/* ---- report ---- */
	printf("\nfill: %zu CreateSandbox calls (%zu warm-up, %zu with 1 client, %zu with %d) "
	       "in %.1f s; store now %zu sandboxes",
	       to_create, warm, single, conc, cfg.threads, fill_s, cen.total);
	if (cen.ok)
		printf(" (READY %zu, PROVISIONING %zu, other %zu)", cen.by_phase[2],
		       cen.by_phase[1], cen.total - cen.by_phase[1] - cen.by_phase[2]);
	printf("\ngateway busy for %ld ms after the last create returned\n", settle_ms);
	printf("gateway memory: idle RSS %ld kB (HWM %ld) | after fill RSS %ld kB | settled RSS "
	       "%ld kB | after lists RSS %ld kB (HWM %ld)\n",
	       idle.rss_kb, idle.hwm_kb, after_fill.rss_kb, settled.rss_kb, after_list.rss_kb,
	       after_list.hwm_kb);
	double fp50[FILL_BUCKETS];
	size_t flo[FILL_BUCKETS], fhi[FILL_BUCKETS];
	create_by_fill(existing, fp50, flo, fhi);
	printf("CreateSandbox p50 (us) by store size at the time:");
	for (int b = 0; b < FILL_BUCKETS; b++)
		printf(" %zu-%zu: %.0f%s", flo[b], fhi[b], fp50[b],
		       fhi[b] - existing <= warm + single ? " (1 client)" : "");
	printf("\n");
	printf("\nlatency per call (p50/p99/max, microseconds), throughput, CPU per call "
	       "(microseconds, from /proc)\n");
	print_header();
	for (size_t i = 0; i < n_results; i++)
		print_row(&results[i]);
	printf("\nGetSandbox p50 ratio gateway / bare driver call: 1 client %.2f, %d clients %.2f\n",
	       ratio("get_gw_c1", "get_drv_bare_c1"), cfg.threads,
	       ratio("get_gw_cN", "get_drv_bare_cN"));
	printf("  (same client on both sides: osh_client %.2f / %.2f, bare core %.2f / %.2f;\n"
	       "   vs the driver's O(1) first id, bare core: %.2f / %.2f)\n",
	       ratio("get_gw_c1", "get_drv_osh_c1"), ratio("get_gw_cN", "get_drv_osh_cN"),
	       ratio("get_gw_bare_c1", "get_drv_bare_c1"),
	       ratio("get_gw_bare_cN", "get_drv_bare_cN"), ratio("get_gw_c1", "get_drv_head_c1"),
	       ratio("get_gw_cN", "get_drv_head_cN"));
	printf("\nwatch: %zu WatchSandbox streams opened, %zu live (first message read) in %.0f ms\n",
	       wr.opened, wr.live, wr.open_ms);
	printf("  gateway while live: VmRSS %ld kB, VmHWM %ld kB, %ld threads "
	       "(%+.1f kB per stream over the RSS after the lists)\n",
	       wr.during.rss_kb, wr.during.hwm_kb, wr.during.threads,
	       wr.live ? (double)(wr.during.rss_kb - after_list.rss_kb) / (double)wr.live : 0.0);
	printf("  gateway after cancel: VmRSS %ld kB, VmHWM %ld kB, %ld threads\n", wr.after.rss_kb,
	       wr.after.hwm_kb, wr.after.threads);
	for (int r = 1; r < cfg.watch_rounds; r++)
		printf("  round %d: %zu live in %.0f ms; while live VmRSS %ld kB; after cancel VmRSS "
		       "%ld kB, VmHWM %ld kB\n",
		       r + 1, wrs[r].live, wrs[r].open_ms, wrs[r].during.rss_kb, wrs[r].after.rss_kb,
		       wrs[r].after.hwm_kb);
	printf("total bench time %.1f s\n", total_s);

	struct jbuf j = { 0 };
	jprintf(&j, "{\"bench\":\"osh-bench\",\"sandboxes\":%zu,\"clients\":%d,\"channels\":\"%s\"",
		cen.total, cfg.threads, cfg.per_thread_clients ? "per-thread" : "shared");
	jprintf(&j, ",\"idle\":{\"vmrss_kb\":%ld,\"vmhwm_kb\":%ld}", idle.rss_kb, idle.hwm_kb);
	jprintf(&j, ",\"filled\":{\"vmrss_kb\":%ld,\"settle_ms\":%ld,\"ready\":%zu}",
		settled.rss_kb, settle_ms, cen.by_phase[2]);
	for (size_t i = 0; i < n_results; i++) {
		jprintf(&j, ",");
		json_stats(&j, &results[i]);
	}
	jprintf(&j,
		",\"get_p50_ratio_gw_vs_bare\":{\"c1\":%.2f,\"cN\":%.2f,\"c1_first_id\":%.2f,"
		"\"cN_first_id\":%.2f}",
		ratio("get_gw_c1", "get_drv_bare_c1"), ratio("get_gw_cN", "get_drv_bare_cN"),
		ratio("get_gw_c1", "get_drv_head_c1"), ratio("get_gw_cN", "get_drv_head_cN"));
	jprintf(&j,
		",\"watch\":{\"streams\":%zu,\"live\":%zu,\"open_ms\":%.0f,\"vmrss_kb\":%ld,"
		"\"vmhwm_kb\":%ld,\"after_cancel_vmrss_kb\":%ld}",
		wr.opened, wr.live, wr.open_ms, wr.during.rss_kb, wr.during.hwm_kb,
		wr.after.rss_kb);
	jprintf(&j, ",\"watch_rounds\":[");
	for (int r = 0; r < cfg.watch_rounds; r++)
		jprintf(&j, "%s{\"live\":%zu,\"vmrss_kb\":%ld,\"after_cancel_vmrss_kb\":%ld}",
			r ? "," : "", wrs[r].live, wrs[r].during.rss_kb, wrs[r].after.rss_kb);
	jprintf(&j, "]");
	jprintf(&j, ",\"create_p50_us_by_fill\":[");
	for (int b = 0; b < FILL_BUCKETS; b++)
		jprintf(&j, "%s{\"from\":%zu,\"to\":%zu,\"p50_us\":%.1f}", b ? "," : "", flo[b],
			fhi[b], fp50[b]);
	jprintf(&j, "]");
	jprintf(&j, ",\"total_s\":%.1f}", total_s);
	printf("\n%s\n", j.s);
	free(j.s);

out:
	for (int i = 0; i < nch; i++) {
		osh_client_free(cl.gw[i]);
		osh_client_free(cl.drv[i]);
		raw_chan_destroy(&cl.raw_drv[i]);
		raw_chan_destroy(&cl.raw_gw[i]);
	}
	for (size_t i = 0; i < n_slots; i++) {
		free(names[i]);
		free(ids[i]);
	}
	free(names);
	free(ids);
	free(create_ns);
	free(valid);
	osh_grpc_shutdown();
	return rc;
}
