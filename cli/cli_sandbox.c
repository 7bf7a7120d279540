/* cli_sandbox.c - the "openshell sandbox" commands: create, get, list,
 * delete, stop, start and watch, and the --wait loop that follows a
 * sandbox's WatchSandbox stream until it reaches a phase. */
#include "config.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SB_PHASE(x) OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_##x
/* Buffered platform events replayed to create --wait (the ones sent while
 * CreateSandbox ran). */
#define SB_CREATE_EVENT_TAIL 100
/* How often a blocked stream read wakes up to check Ctrl-C and the timeout. */
#define SB_POLL_MS 200

const char cli_help_sandbox[] =
	"Usage: openshell sandbox COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  create NAME --image IMG ...  create a sandbox (optionally --wait until READY)\n"
	"  get NAME                     show one sandbox\n"
	"  list                         list sandboxes (NAME WORKSPACE PHASE IMAGE AGE)\n"
	"  delete NAME                  delete a sandbox\n"
	"  stop NAME                    stop a sandbox's workload (it can be started again)\n"
	"  start NAME                   start a stopped sandbox\n"
	"  watch NAME                   follow a sandbox's phase and platform events\n"
	"\n"
	"Each command takes --workspace W (default: the \"default\" workspace) and\n"
	"has its own --help. Phases: PROVISIONING, READY, ERROR, DELETING, UNKNOWN,\n"
	"STOPPING, STOPPED, STARTING (JSON output uses these short names too).\n";

static const char sb_help_create[] =
	"Usage: openshell sandbox create NAME --image IMG [--env K=V]... [--label K=V]...\n"
	"           [--annotation K=V]... [--workspace W] [--tty] [--wait]\n"
	"           [--timeout SECONDS] [-- COMMAND ARGS...]\n"
	"\n"
	"Create sandbox NAME running image IMG. COMMAND ARGS after \"--\" replace the\n"
	"image's default command.\n"
	"\n"
	"  --image IMG         container image (required)\n"
	"  --env K=V           environment variable of the workload (repeatable)\n"
	"  --label K=V         label of the sandbox (repeatable)\n"
	"  --annotation K=V    annotation of the sandbox (repeatable)\n"
	"  --workspace W       workspace (default \"default\")\n"
	"  --tty               give the workload a terminal\n"
	"  --wait              follow the sandbox until it is READY, printing its phase\n"
	"                      changes and platform events; exit 1 if it ends in ERROR\n"
	"                      (the reason, message and exit code are printed) or if\n"
	"                      the timeout passes\n"
	"  --timeout SECONDS   deadline of the create request (default 30) and, with\n"
	"                      --wait, of the whole command (default 300)\n"
	"\n"
	"Prints \"created NAME (id ID)\", then the progress lines of --wait. With -o json\n"
	"the sandbox is printed as one JSON object (after --wait: its last state) and\n"
	"the progress lines go to stderr.\n";

static const char sb_help_get[] =
	"Usage: openshell sandbox get NAME [--workspace W]\n"
	"\n"
	"Show sandbox NAME: name, id, workspace, phase, image, command, created,\n"
	"labels, conditions and the exit code when there is one. With -o json: the\n"
	"Sandbox as one JSON object (metadata, spec, status).\n";

static const char sb_help_list[] =
	"Usage: openshell sandbox list [--workspace W | --all-workspaces]\n"
	"           [--selector k=v,...] [--limit N] [--offset N]\n"
	"\n"
	"List sandboxes as NAME WORKSPACE PHASE IMAGE AGE columns (-o json: a JSON\n"
	"array of Sandbox objects).\n"
	"\n"
	"  --workspace W       only workspace W (default \"default\")\n"
	"  --all-workspaces    every workspace\n"
	"  --selector k=v,...  only sandboxes carrying all these labels\n"
	"  --limit N           at most N sandboxes (gateway default 100, at most 1000)\n"
	"  --offset N          skip the first N\n";

static const char sb_help_delete[] =
	"Usage: openshell sandbox delete NAME [--workspace W]\n"
	"\n"
	"Delete sandbox NAME and its workload. Prints \"deleted NAME\", or \"NAME was\n"
	"already gone\" when its workload no longer existed (-o json: {\"name\": NAME,\n"
	"\"deleted\": true|false}).\n";

static const char sb_help_stop[] =
	"Usage: openshell sandbox stop NAME [--workspace W] [--wait] [--timeout SECONDS]\n"
	"\n"
	"Stop sandbox NAME's workload; the sandbox stays and can be started again.\n"
	"The sandbox must be READY. With --wait, follow it until STOPPED (exit 1 on\n"
	"ERROR or after --timeout, default 300 s). -o json prints the Sandbox.\n";

static const char sb_help_start[] =
	"Usage: openshell sandbox start NAME [--workspace W] [--wait] [--timeout SECONDS]\n"
	"\n"
	"Start stopped sandbox NAME again. With --wait, follow it until READY (exit 1\n"
	"on ERROR or after --timeout, default 300 s). -o json prints the Sandbox.\n";

static const char sb_help_watch[] =
	"Usage: openshell sandbox watch NAME [--workspace W]\n"
	"\n"
	"Follow sandbox NAME: print a line for each state it reports (\"phase P\n"
	"Ready=STATUS REASON: MESSAGE\") and for each platform event (\"event REASON:\n"
	"MESSAGE\"), until the gateway ends the stream or Ctrl-C (exit 0). With -o json:\n"
	"one JSON object per line, {\"sandbox\": {...}} or {\"event\": {...}}.\n";

enum {
	SB_OPT_WORKSPACE = 1,
	SB_OPT_IMAGE,
	SB_OPT_ENV,
	SB_OPT_LABEL,
	SB_OPT_ANNOTATION,
	SB_OPT_TTY,
	SB_OPT_WAIT,
	SB_OPT_ALL,
	SB_OPT_SELECTOR,
	SB_OPT_LIMIT,
	SB_OPT_OFFSET,
};

static void *sb_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p) {
		fputs("openshell: out of memory\n", stderr);
		abort();
	}
	return p;
}

static int64_t sb_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- K=V lists -------------------------------------------------------- */

typedef struct sb_kvs {
	size_t n;
	char **keys; /* malloc'd */
	const char **values; /* point into argv */
} sb_kvs;

static int sb_kvs_add(sb_kvs *kv, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return -1;
	size_t klen = (size_t)(eq - arg);
	for (size_t i = 0; i < kv->n; i++)
		if (strlen(kv->keys[i]) == klen && strncmp(kv->keys[i], arg, klen) == 0) {
			kv->values[i] = eq + 1; /* the last one wins */
			return 0;
		}
	char **k = realloc(kv->keys, (kv->n + 1) * sizeof(*k));
	const char **v = realloc(kv->values, (kv->n + 1) * sizeof(*v));
	if (k)
		kv->keys = k;
	if (v)
		kv->values = v;
	char *key = malloc(klen + 1);
	if (!k || !v || !key) {
		fputs("openshell: out of memory\n", stderr);
		abort();
	}
	memcpy(key, arg, klen);
	key[klen] = '\0';
	kv->keys[kv->n] = key;
	kv->values[kv->n] = eq + 1;
	kv->n++;
	return 0;
}

static void sb_kvs_free(sb_kvs *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		free(kv->keys[i]);
	free(kv->keys);
	free(kv->values);
}

/* Map entries of entry type d (fields key, value) for kv: an array of
 * kv->n message pointers, all in one allocation. Free with free(). */
static void *sb_map_entries(const ProtobufCMessageDescriptor *d, const sb_kvs *kv)
{
	size_t ptrs = kv->n * sizeof(void *);
	size_t align = sizeof(void *) > 8 ? sizeof(void *) : 8;
	ptrs = (ptrs + align - 1) / align * align;
	size_t sz = (d->sizeof_message + align - 1) / align * align;
	char *mem = sb_xcalloc(1, ptrs + kv->n * sz);
	void **arr = (void **)mem;
	for (size_t i = 0; i < kv->n; i++) {
		char *e = mem + ptrs + i * sz;
		protobuf_c_message_init(d, e);
		*(const char **)(e + d->fields[0].offset) = kv->keys[i];
		*(const char **)(e + d->fields[1].offset) = kv->values[i];
		arr[i] = e;
	}
	return arr;
}

/* ---- printing --------------------------------------------------------- */

static const Openshell__V1__SandboxCondition *sb_ready_condition(const Openshell__V1__Sandbox *sb)
{
	if (!sb->status)
		return NULL;
	for (size_t i = 0; i < sb->status->n_conditions; i++) {
		const Openshell__V1__SandboxCondition *c = sb->status->conditions[i];
		if (c && c->type && strcmp(c->type, "Ready") == 0)
			return c;
	}
	return NULL;
}

static int sb_phase(const Openshell__V1__Sandbox *sb)
{
	return sb->status ? (int)sb->status->phase : SB_PHASE(UNSPECIFIED);
}

static const char *sb_str(const char *s)
{
	return s ? s : "";
}

static const char *sb_name(const Openshell__V1__Sandbox *sb)
{
	return sb->metadata ? sb_str(sb->metadata->name) : "";
}

static const char *sb_image(const Openshell__V1__Sandbox *sb)
{
	return sb->spec && sb->spec->template_ ? sb_str(sb->spec->template_->image) : "";
}

/* "REASON: MESSAGE (exit code N)" of the Ready condition, as far as set. */
static void sb_ready_desc(const Openshell__V1__Sandbox *sb, char *buf, size_t n)
{
	const Openshell__V1__SandboxCondition *c = sb_ready_condition(sb);
	const char *reason = c ? sb_str(c->reason) : "";
	const char *message = c ? sb_str(c->message) : "";
	char code[40] = "";

	if (sb->status &&
	    sb->status->opt_exit_code_case == OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE)
		snprintf(code, sizeof(code), "exit code %d", (int)sb->status->exit_code);
	snprintf(buf, n, "%s%s%s%s%s%s", reason, *reason && *message ? ": " : "", message,
		 (*reason || *message) && *code ? " (" : "", code,
		 (*reason || *message) && *code ? ")" : "");
}

/* "phase PROVISIONING  Ready=False Starting: message" */
static void sb_print_snapshot_line(const Openshell__V1__Sandbox *sb, FILE *f)
{
	fprintf(f, "phase %s", cli_phase_name(sb_phase(sb)));
	const Openshell__V1__SandboxCondition *c = sb_ready_condition(sb);
	if (c) {
		fputs("  Ready=", f);
		cli_fputs_safe(sb_str(c->status), f);
		if (c->reason && *c->reason) {
			fputc(' ', f);
			cli_fputs_safe(c->reason, f);
		}
		if (c->message && *c->message) {
			fputs(": ", f);
			cli_fputs_safe(c->message, f);
		}
	}
	if (sb->status &&
	    sb->status->opt_exit_code_case == OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE)
		fprintf(f, " (exit code %d)", (int)sb->status->exit_code);
	fputc('\n', f);
	fflush(f);
}

/* "event REASON: MESSAGE" ("event REASON (Warning): ..." for non-Normal types). */
static void sb_print_event_line(const Openshell__V1__PlatformEvent *e, FILE *f)
{
	fputs("event ", f);
	cli_fputs_safe(*sb_str(e->reason) ? e->reason : sb_str(e->type), f);
	if (*sb_str(e->type) && strcmp(e->type, "Normal") != 0 && *sb_str(e->reason)) {
		fputs(" (", f);
		cli_fputs_safe(e->type, f);
		fputc(')', f);
	}
	if (*sb_str(e->message)) {
		fputs(": ", f);
		cli_fputs_safe(e->message, f);
	}
	fputc('\n', f);
	fflush(f);
}

static void sb_print_kv_line(const char *key, const char *value)
{
	printf("%-12s", key);
	cli_fputs_safe(value, stdout);
	putchar('\n');
}

static void sb_print_details(const Openshell__V1__Sandbox *sb)
{
	const Openshell__Datamodel__V1__ObjectMeta *md = sb->metadata;
	char when[64], age[32], line[128];

	sb_print_kv_line("name:", sb_name(sb));
	sb_print_kv_line("id:", md ? sb_str(md->id) : "");
	sb_print_kv_line("workspace:", md ? sb_str(md->workspace) : "");
	sb_print_kv_line("phase:", cli_phase_name(sb_phase(sb)));
	sb_print_kv_line("image:", sb_image(sb));
	if (sb->spec && sb->spec->n_command) {
		printf("%-12s", "command:");
		for (size_t i = 0; i < sb->spec->n_command; i++) {
			if (i)
				putchar(' ');
			cli_fputs_safe(sb_str(sb->spec->command[i]), stdout);
		}
		putchar('\n');
	}
	cli_format_time(md ? md->created_at_ms : 0, when, sizeof(when));
	cli_format_age(md ? md->created_at_ms : 0, age, sizeof(age));
	snprintf(line, sizeof(line), "%s (%s ago)", when, age);
	sb_print_kv_line("created:", md && md->created_at_ms > 0 ? line : "-");

	printf("%-12s", "labels:");
	if (!md || md->n_labels == 0)
		fputs("<none>", stdout);
	for (size_t i = 0; md && i < md->n_labels; i++) {
		if (!md->labels[i])
			continue;
		if (i)
			fputs(", ", stdout);
		cli_fputs_safe(sb_str(md->labels[i]->key), stdout);
		putchar('=');
		cli_fputs_safe(sb_str(md->labels[i]->value), stdout);
	}
	putchar('\n');

	size_t nc = sb->status ? sb->status->n_conditions : 0;
	fputs(nc ? "conditions:\n" : "conditions: <none>\n", stdout);
	for (size_t i = 0; i < nc; i++) {
		const Openshell__V1__SandboxCondition *c = sb->status->conditions[i];
		if (!c)
			continue;
		fputs("  ", stdout);
		cli_fputs_safe(sb_str(c->type), stdout);
		putchar('=');
		cli_fputs_safe(sb_str(c->status), stdout);
		if (*sb_str(c->reason)) {
			putchar(' ');
			cli_fputs_safe(c->reason, stdout);
		}
		if (*sb_str(c->message)) {
			fputs(": ", stdout);
			cli_fputs_safe(c->message, stdout);
		}
		if (*sb_str(c->last_transition_time)) {
			fputs(" (since ", stdout);
			cli_fputs_safe(c->last_transition_time, stdout);
			putchar(')');
		}
		putchar('\n');
	}
	if (sb->status &&
	    sb->status->opt_exit_code_case == OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE)
		printf("%-12s%d\n", "exit code:", (int)sb->status->exit_code);
}

/* ---- calls ------------------------------------------------------------ */

/* Call a method answering SandboxResponse; *resp and *sb on success. */
static int sb_call_sandbox(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
			   int64_t timeout_ms, Openshell__V1__SandboxResponse **resp,
			   const Openshell__V1__Sandbox **sb)
{
	ProtobufCMessage *m;
	if (cli_call(ctx, method, req, &openshell__v1__sandbox_response__descriptor, timeout_ms,
		     &m) != 0)
		return CLI_EXIT_FAIL;
	*resp = (Openshell__V1__SandboxResponse *)m;
	if (!(*resp)->sandbox) {
		cli_error("gateway sent a SandboxResponse without a sandbox");
		protobuf_c_message_free_unpacked(m, NULL);
		*resp = NULL;
		return CLI_EXIT_FAIL;
	}
	*sb = (*resp)->sandbox;
	return CLI_EXIT_OK;
}

/* ---- WatchSandbox ----------------------------------------------------- */

enum { SB_STREAM_DONE, SB_STREAM_ENDED, SB_STREAM_TIMEOUT, SB_STREAM_INTERRUPTED, SB_STREAM_BROKEN };

/* Called for each stream event; takes ownership of ev. Returns -1 to go
 * on, or an exit code to stop the stream. */
typedef int (*sb_event_fn)(void *ud, Openshell__V1__SandboxStreamEvent *ev);

/*
 * Follow WatchSandbox(id, follow_status, follow_events) until on_event
 * stops it (SB_STREAM_DONE, *rc = its code), the gateway ends it
 * (SB_STREAM_ENDED, *code and *message = final status), the monotonic
 * deadline_ms passes (< 0: none), Ctrl-C, or a malformed message
 * (SB_STREAM_BROKEN, already reported).
 */
static int sb_stream(cli_ctx *ctx, const char *id, uint32_t event_tail, int64_t deadline_ms,
		     sb_event_fn on_event, void *ud, int *rc, int *code, char **message)
{
	static const uint8_t empty[1];
	Openshell__V1__WatchSandboxRequest req = OPENSHELL__V1__WATCH_SANDBOX_REQUEST__INIT;
	req.id = (char *)id;
	req.follow_status = 1;
	req.follow_events = 1;
	req.event_tail = event_tail;
	size_t len = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *buf = sb_xcalloc(1, len);
	protobuf_c_message_pack(&req.base, buf);

	int outcome;
	*rc = CLI_EXIT_FAIL;
	*code = GRPC_STATUS_OK;
	*message = NULL;
	cli_interrupted = 0;
	cli_signals_catch();
	osh_client_stream *s =
		osh_client_stream_open(cli_client(ctx), CLI_SVC "WatchSandbox", buf, len, -1);
	free(buf);
	for (;;) {
		if (cli_interrupted) {
			outcome = SB_STREAM_INTERRUPTED;
			break;
		}
		int64_t wait = SB_POLL_MS;
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - sb_mono_ms();
			if (left <= 0) {
				outcome = SB_STREAM_TIMEOUT;
				break;
			}
			if (left < wait)
				wait = left;
		}
		uint8_t *msg;
		size_t mlen;
		int r = osh_client_stream_next(s, wait, &msg, &mlen);
		if (r < 0)
			continue;
		if (r == 0) {
			*code = osh_client_stream_status(s, message);
			outcome = SB_STREAM_ENDED;
			break;
		}
		Openshell__V1__SandboxStreamEvent *ev = openshell__v1__sandbox_stream_event__unpack(
			NULL, mlen, msg ? msg : empty);
		free(msg);
		if (!ev) {
			cli_error("gateway sent a malformed SandboxStreamEvent");
			outcome = SB_STREAM_BROKEN;
			break;
		}
		int stop = on_event(ud, ev);
		if (stop >= 0) {
			*rc = stop;
			outcome = SB_STREAM_DONE;
			break;
		}
	}
	osh_client_stream_free(s); /* cancels a running call */
	cli_signals_default();
	return outcome;
}

/* State of a --wait. */
typedef struct sb_wait {
	const char *name;
	int target; /* phase that ends the wait */
	int json;
	FILE *out; /* progress lines */
	int last_phase;
	char *last_ready; /* Ready condition of the last printed line */
	Openshell__V1__SandboxStreamEvent *last; /* owns the last snapshot */
} sb_wait;

static char *sb_ready_key(const Openshell__V1__Sandbox *sb)
{
	const Openshell__V1__SandboxCondition *c = sb_ready_condition(sb);
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s\n%s\n%s", c ? sb_str(c->status) : "",
		 c ? sb_str(c->reason) : "", c ? sb_str(c->message) : "");
	char *k = strdup(buf);
	if (!k)
		abort();
	return k;
}

/* Print a progress line when phase or Ready condition changed. */
static void sb_wait_progress(sb_wait *w, const Openshell__V1__Sandbox *sb)
{
	char *key = sb_ready_key(sb);
	if (sb_phase(sb) != w->last_phase || !w->last_ready || strcmp(key, w->last_ready) != 0) {
		sb_print_snapshot_line(sb, w->out);
		w->last_phase = sb_phase(sb);
		free(w->last_ready);
		w->last_ready = key;
	} else {
		free(key);
	}
}

static int sb_wait_on_event(void *ud, Openshell__V1__SandboxStreamEvent *ev)
{
	sb_wait *w = ud;
	int rc = -1;

	switch (ev->payload_case) {
	case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_SANDBOX: {
		const Openshell__V1__Sandbox *sb = ev->sandbox;
		if (!sb)
			break;
		sb_wait_progress(w, sb);
		int phase = sb_phase(sb);
		if (phase == w->target) {
			rc = CLI_EXIT_OK;
		} else if (phase == SB_PHASE(ERROR)) {
			char desc[1024];
			sb_ready_desc(sb, desc, sizeof(desc));
			cli_error("sandbox %s is in phase ERROR%s%s", w->name, *desc ? ": " : "",
				  desc);
			rc = CLI_EXIT_FAIL;
		} else if (phase == SB_PHASE(DELETING)) {
			cli_error("sandbox %s is being deleted", w->name);
			rc = CLI_EXIT_FAIL;
		}
		if (w->last)
			openshell__v1__sandbox_stream_event__free_unpacked(w->last, NULL);
		w->last = ev;
		return rc;
	}
	case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_EVENT:
		if (ev->event)
			sb_print_event_line(ev->event, w->out);
		break;
	case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_WARNING:
		if (ev->warning) {
			fputs("warning: ", w->out);
			cli_fputs_safe(sb_str(ev->warning->message), w->out);
			fputc('\n', w->out);
		}
		break;
	default:
		break;
	}
	openshell__v1__sandbox_stream_event__free_unpacked(ev, NULL);
	return rc;
}

/*
 * Follow sandbox `sb` (just returned by create/stop/start) until it
 * reaches `target`. In JSON mode the last known state is printed on
 * stdout at the end, whatever the outcome. Returns the exit code.
 */
static int sb_wait_for(cli_ctx *ctx, const Openshell__V1__Sandbox *sb, int target,
		       uint32_t event_tail, int64_t deadline_ms, int print_initial)
{
	sb_wait w;
	int rc, code;
	char *message = NULL;
	const char *id = sb->metadata ? sb_str(sb->metadata->id) : "";

	memset(&w, 0, sizeof(w));
	w.name = sb_name(sb);
	w.target = target;
	w.json = ctx->json;
	w.out = ctx->json ? stderr : stdout;
	w.last_phase = -1;
	if (!print_initial) {
		w.last_phase = sb_phase(sb);
		w.last_ready = sb_ready_key(sb);
	}
	if (!*id) {
		cli_error("gateway sent sandbox %s without an id", w.name);
		free(w.last_ready);
		return CLI_EXIT_FAIL;
	}

	int outcome = sb_stream(ctx, id, event_tail, deadline_ms, sb_wait_on_event, &w, &rc, &code,
				&message);
	const Openshell__V1__Sandbox *last = w.last ? w.last->sandbox : sb;
	switch (outcome) {
	case SB_STREAM_DONE:
		break;
	case SB_STREAM_TIMEOUT: {
		double secs = (double)(ctx->timeout_ms > 0 ? ctx->timeout_ms : CLI_WAIT_TIMEOUT_MS) / 1000;
		cli_error("timed out after %g s waiting for sandbox %s to become %s (phase %s)", secs,
			  w.name, cli_phase_name(target), cli_phase_name(sb_phase(last)));
		rc = CLI_EXIT_FAIL;
		break;
	}
	case SB_STREAM_INTERRUPTED:
		cli_error("interrupted while waiting for sandbox %s to become %s", w.name,
			  cli_phase_name(target));
		rc = CLI_EXIT_INTERRUPTED;
		break;
	case SB_STREAM_ENDED:
		if (code != GRPC_STATUS_OK)
			cli_print_status_error(ctx, code, message);
		else
			cli_error("the gateway ended the watch of sandbox %s before it became %s "
				  "(phase %s)",
				  w.name, cli_phase_name(target), cli_phase_name(sb_phase(last)));
		rc = CLI_EXIT_FAIL;
		break;
	default:
		rc = CLI_EXIT_FAIL;
		break;
	}
	if (ctx->json)
		cli_json_print(cli_json_from_message(&last->base), 0);
	free(message);
	free(w.last_ready);
	if (w.last)
		openshell__v1__sandbox_stream_event__free_unpacked(w.last, NULL);
	return rc;
}

/* ---- parsing helpers -------------------------------------------------- */

/* Exactly one positional NAME. */
static int sb_take_name(cli_parser *p, const char **name, const char *word)
{
	if (*name)
		return cli_usage_error(p, "unexpected argument '%s'", word);
	*name = word;
	return 0;
}

static int sb_need_name(cli_parser *p, const char *name)
{
	if (!name || !*name)
		return cli_usage_error(p, "missing sandbox NAME");
	return 0;
}

/* The common loop for commands taking NAME, --workspace and maybe --wait. */
static int sb_parse_name_cmd(cli_parser *p, const cli_opt *opts, const char **name,
			     const char **workspace, int *wait)
{
	int id;
	const char *v;
	for (;;) {
		switch (cli_parse_next(p, opts, &id, &v)) {
		case CLI_ARG_END:
			return sb_need_name(p, *name);
		case CLI_ARG_WORD:
			if (sb_take_name(p, name, v) != 0)
				return CLI_EXIT_USAGE;
			break;
		case CLI_ARG_OPT:
			if (id == SB_OPT_WORKSPACE)
				*workspace = v;
			else if (id == SB_OPT_WAIT && wait)
				*wait = 1;
			break;
		case CLI_ARG_DASHDASH:
			return cli_usage_error(p, "unexpected '--'");
		default:
			return CLI_EXIT_USAGE;
		}
	}
}

static int64_t sb_wait_deadline(const cli_ctx *ctx, int64_t start_ms)
{
	return start_ms + (ctx->timeout_ms > 0 ? ctx->timeout_ms : CLI_WAIT_TIMEOUT_MS);
}

/* ---- commands --------------------------------------------------------- */

static int sb_cmd_create(cli_parser *p)
{
	static const cli_opt opts[] = {
		{ "--image", NULL, 1, SB_OPT_IMAGE },
		{ "--env", "-e", 1, SB_OPT_ENV },
		{ "--label", "-l", 1, SB_OPT_LABEL },
		{ "--annotation", NULL, 1, SB_OPT_ANNOTATION },
		{ "--workspace", "-w", 1, SB_OPT_WORKSPACE },
		{ "--tty", "-t", 0, SB_OPT_TTY },
		{ "--wait", NULL, 0, SB_OPT_WAIT },
		{ NULL, NULL, 0, 0 },
	};
	cli_ctx *ctx = p->ctx;
	int64_t start = sb_mono_ms();
	const char *name = NULL, *image = NULL, *workspace = "", *v;
	int tty = 0, wait = 0, id, rc = CLI_EXIT_USAGE, done = 0;
	char **command = NULL;
	size_t n_command = 0;
	sb_kvs env = { 0 }, labels = { 0 }, annotations = { 0 };
	void *env_e = NULL, *label_e = NULL, *annot_e = NULL;
	Openshell__V1__SandboxResponse *resp = NULL;

	while (!done) {
		switch (cli_parse_next(p, opts, &id, &v)) {
		case CLI_ARG_END:
			done = 1;
			break;
		case CLI_ARG_DASHDASH:
			command = p->argv + p->i;
			n_command = (size_t)(p->argc - p->i);
			done = 1;
			break;
		case CLI_ARG_WORD:
			if (sb_take_name(p, &name, v) != 0)
				goto cleanup;
			break;
		case CLI_ARG_OPT:
			switch (id) {
			case SB_OPT_IMAGE:
				image = v;
				break;
			case SB_OPT_WORKSPACE:
				workspace = v;
				break;
			case SB_OPT_TTY:
				tty = 1;
				break;
			case SB_OPT_WAIT:
				wait = 1;
				break;
			case SB_OPT_ENV:
			case SB_OPT_LABEL:
			case SB_OPT_ANNOTATION: {
				sb_kvs *kv = id == SB_OPT_ENV ? &env : id == SB_OPT_LABEL ? &labels
										 : &annotations;
				if (sb_kvs_add(kv, v) != 0) {
					cli_usage_error(p, "%s needs KEY=VALUE, not '%s'",
							id == SB_OPT_ENV     ? "--env"
							: id == SB_OPT_LABEL ? "--label"
									     : "--annotation",
							v);
					goto cleanup;
				}
				break;
			}
			}
			break;
		default:
			goto cleanup;
		}
	}
	if (sb_need_name(p, name) != 0)
		goto cleanup;
	if (!image || !*image) {
		cli_usage_error(p, "--image IMG is required");
		goto cleanup;
	}

	Openshell__V1__SandboxTemplate tmpl = OPENSHELL__V1__SANDBOX_TEMPLATE__INIT;
	tmpl.image = (char *)image;
	Openshell__V1__SandboxSpec spec = OPENSHELL__V1__SANDBOX_SPEC__INIT;
	spec.template_ = &tmpl;
	spec.tty = tty;
	spec.n_command = n_command;
	spec.command = command;
	env_e = sb_map_entries(&openshell__v1__sandbox_spec__environment_entry__descriptor, &env);
	spec.n_environment = env.n;
	spec.environment = env_e;
	Openshell__V1__CreateSandboxRequest req = OPENSHELL__V1__CREATE_SANDBOX_REQUEST__INIT;
	req.spec = &spec;
	req.name = (char *)name;
	req.workspace = (char *)workspace;
	label_e = sb_map_entries(&openshell__v1__create_sandbox_request__labels_entry__descriptor,
				 &labels);
	req.n_labels = labels.n;
	req.labels = label_e;
	annot_e = sb_map_entries(
		&openshell__v1__create_sandbox_request__annotations_entry__descriptor, &annotations);
	req.n_annotations = annotations.n;
	req.annotations = annot_e;

	const Openshell__V1__Sandbox *sb;
	rc = sb_call_sandbox(ctx, CLI_SVC "CreateSandbox", &req.base, cli_request_timeout_ms(ctx),
			     &resp, &sb);
	if (rc != CLI_EXIT_OK)
		goto cleanup;
	if (!ctx->json || wait) {
		FILE *f = ctx->json ? stderr : stdout;
		fputs("created ", f);
		cli_fputs_safe(sb_name(sb), f);
		fputs(" (id ", f);
		cli_fputs_safe(sb->metadata ? sb_str(sb->metadata->id) : "", f);
		fputs(")\n", f);
		fflush(f);
	}
	if (wait)
		rc = sb_wait_for(ctx, sb, SB_PHASE(READY), SB_CREATE_EVENT_TAIL,
				 sb_wait_deadline(ctx, start), 1);
	else if (ctx->json)
		cli_json_print(cli_json_from_message(&sb->base), 0);

cleanup:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	free(env_e);
	free(label_e);
	free(annot_e);
	sb_kvs_free(&env);
	sb_kvs_free(&labels);
	sb_kvs_free(&annotations);
	return rc;
}

static int sb_cmd_get(cli_parser *p)
{
	static const cli_opt opts[] = { { "--workspace", "-w", 1, SB_OPT_WORKSPACE },
					{ NULL, NULL, 0, 0 } };
	const char *name = NULL, *workspace = "";
	if (sb_parse_name_cmd(p, opts, &name, &workspace, NULL) != 0)
		return CLI_EXIT_USAGE;

	Openshell__V1__GetSandboxRequest req = OPENSHELL__V1__GET_SANDBOX_REQUEST__INIT;
	req.name = (char *)name;
	req.workspace = (char *)workspace;
	Openshell__V1__SandboxResponse *resp;
	const Openshell__V1__Sandbox *sb;
	if (sb_call_sandbox(p->ctx, CLI_SVC "GetSandbox", &req.base,
			    cli_request_timeout_ms(p->ctx), &resp, &sb) != 0)
		return CLI_EXIT_FAIL;
	if (p->ctx->json)
		cli_json_print(cli_json_from_message(&sb->base), 0);
	else
		sb_print_details(sb);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return CLI_EXIT_OK;
}

static int sb_cmd_list(cli_parser *p)
{
	static const cli_opt opts[] = {
		{ "--workspace", "-w", 1, SB_OPT_WORKSPACE },
		{ "--all-workspaces", "-A", 0, SB_OPT_ALL },
		{ "--selector", "-l", 1, SB_OPT_SELECTOR },
		{ "--limit", NULL, 1, SB_OPT_LIMIT },
		{ "--offset", NULL, 1, SB_OPT_OFFSET },
		{ NULL, NULL, 0, 0 },
	};
	Openshell__V1__ListSandboxesRequest req = OPENSHELL__V1__LIST_SANDBOXES_REQUEST__INIT;
	const char *v;
	int id, done = 0, have_ws = 0;

	while (!done) {
		switch (cli_parse_next(p, opts, &id, &v)) {
		case CLI_ARG_END:
			done = 1;
			break;
		case CLI_ARG_WORD:
			return cli_usage_error(p, "unexpected argument '%s'", v);
		case CLI_ARG_DASHDASH:
			return cli_usage_error(p, "unexpected '--'");
		case CLI_ARG_OPT:
			if (id == SB_OPT_WORKSPACE) {
				req.workspace = (char *)v;
				have_ws = 1;
			} else if (id == SB_OPT_ALL) {
				req.all_workspaces = 1;
			} else if (id == SB_OPT_SELECTOR) {
				req.label_selector = (char *)v;
			} else if (cli_parse_u32(v, id == SB_OPT_LIMIT ? &req.limit : &req.offset) !=
				   0) {
				return cli_usage_error(p, "%s needs a number, not '%s'",
						       id == SB_OPT_LIMIT ? "--limit" : "--offset", v);
			}
			break;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (have_ws && req.all_workspaces)
		return cli_usage_error(p, "--workspace and --all-workspaces are mutually exclusive");

	ProtobufCMessage *m;
	if (cli_call(p->ctx, CLI_SVC "ListSandboxes", &req.base,
		     &openshell__v1__list_sandboxes_response__descriptor,
		     cli_request_timeout_ms(p->ctx), &m) != 0)
		return CLI_EXIT_FAIL;
	Openshell__V1__ListSandboxesResponse *r = (Openshell__V1__ListSandboxesResponse *)m;
	if (p->ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < r->n_sandboxes; i++)
			if (r->sandboxes[i])
				json_array_append_new(arr,
						      cli_json_from_message(&r->sandboxes[i]->base));
		cli_json_print(arr, 0);
	} else if (r->n_sandboxes == 0) {
		fputs("No sandboxes found.\n", stderr);
	} else {
		cli_table t;
		cli_table_init(&t, 5);
		const char *head[] = { "NAME", "WORKSPACE", "PHASE", "IMAGE", "AGE" };
		cli_table_add(&t, head);
		for (size_t i = 0; i < r->n_sandboxes; i++) {
			const Openshell__V1__Sandbox *sb = r->sandboxes[i];
			if (!sb)
				continue;
			char age[32];
			cli_format_age(sb->metadata ? sb->metadata->created_at_ms : 0, age,
				       sizeof(age));
			const char *row[] = { sb_name(sb),
					      sb->metadata ? sb_str(sb->metadata->workspace) : "",
					      cli_phase_name(sb_phase(sb)), sb_image(sb), age };
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return CLI_EXIT_OK;
}

static int sb_cmd_delete(cli_parser *p)
{
	static const cli_opt opts[] = { { "--workspace", "-w", 1, SB_OPT_WORKSPACE },
					{ NULL, NULL, 0, 0 } };
	const char *name = NULL, *workspace = "";
	if (sb_parse_name_cmd(p, opts, &name, &workspace, NULL) != 0)
		return CLI_EXIT_USAGE;

	Openshell__V1__DeleteSandboxRequest req = OPENSHELL__V1__DELETE_SANDBOX_REQUEST__INIT;
	req.name = (char *)name;
	req.workspace = (char *)workspace;
	ProtobufCMessage *m;
	if (cli_call(p->ctx, CLI_SVC "DeleteSandbox", &req.base,
		     &openshell__v1__delete_sandbox_response__descriptor,
		     cli_request_timeout_ms(p->ctx), &m) != 0)
		return CLI_EXIT_FAIL;
	int deleted = ((Openshell__V1__DeleteSandboxResponse *)m)->deleted;
	if (p->ctx->json) {
		json_t *o = json_object();
		json_t *js = json_string(name);
		json_object_set_new(o, "name", js ? js : json_string(""));
		json_object_set_new(o, "deleted", json_boolean(deleted));
		cli_json_print(o, 0);
	} else if (deleted) {
		fputs("deleted ", stdout);
		cli_fputs_safe(name, stdout);
		putchar('\n');
	} else {
		cli_fputs_safe(name, stdout);
		fputs(" was already gone\n", stdout);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return CLI_EXIT_OK;
}

/* stop and start: the same shape. */
static int sb_cmd_stop_start(cli_parser *p, int stop)
{
	static const cli_opt opts[] = { { "--workspace", "-w", 1, SB_OPT_WORKSPACE },
					{ "--wait", NULL, 0, SB_OPT_WAIT },
					{ NULL, NULL, 0, 0 } };
	cli_ctx *ctx = p->ctx;
	int64_t start = sb_mono_ms();
	const char *name = NULL, *workspace = "";
	int wait = 0, rc;
	if (sb_parse_name_cmd(p, opts, &name, &workspace, &wait) != 0)
		return CLI_EXIT_USAGE;

	/* Stop and Start requests have the same fields. */
	Openshell__V1__StopSandboxRequest sreq = OPENSHELL__V1__STOP_SANDBOX_REQUEST__INIT;
	Openshell__V1__StartSandboxRequest treq = OPENSHELL__V1__START_SANDBOX_REQUEST__INIT;
	sreq.name = treq.name = (char *)name;
	sreq.workspace = treq.workspace = (char *)workspace;
	Openshell__V1__SandboxResponse *resp;
	const Openshell__V1__Sandbox *sb;
	if (sb_call_sandbox(ctx, stop ? CLI_SVC "StopSandbox" : CLI_SVC "StartSandbox",
			    stop ? &sreq.base : &treq.base, cli_request_timeout_ms(ctx), &resp,
			    &sb) != 0)
		return CLI_EXIT_FAIL;

	int target = stop ? SB_PHASE(STOPPED) : SB_PHASE(READY);
	int phase = sb_phase(sb);
	if (!ctx->json || wait) {
		FILE *f = ctx->json ? stderr : stdout;
		if (phase == target) {
			fputs(stop ? "stopped " : "started ", f);
			cli_fputs_safe(sb_name(sb), f);
			fputc('\n', f);
		} else {
			fputs(stop ? "stopping " : "starting ", f);
			cli_fputs_safe(sb_name(sb), f);
			fprintf(f, " (phase %s)\n", cli_phase_name(phase));
		}
		fflush(f);
	}
	if (wait && phase != target)
		rc = sb_wait_for(ctx, sb, target, 0, sb_wait_deadline(ctx, start), 0);
	else {
		rc = CLI_EXIT_OK;
		if (ctx->json)
			cli_json_print(cli_json_from_message(&sb->base), 0);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc;
}

static int sb_watch_on_event(void *ud, Openshell__V1__SandboxStreamEvent *ev)
{
	const cli_ctx *ctx = ud;
	if (ctx->json) {
		cli_json_print(cli_json_from_message(&ev->base), 1);
	} else {
		switch (ev->payload_case) {
		case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_SANDBOX:
			if (ev->sandbox)
				sb_print_snapshot_line(ev->sandbox, stdout);
			break;
		case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_EVENT:
			if (ev->event)
				sb_print_event_line(ev->event, stdout);
			break;
		case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_WARNING:
			if (ev->warning) {
				fputs("warning: ", stdout);
				cli_fputs_safe(sb_str(ev->warning->message), stdout);
				putchar('\n');
				fflush(stdout);
			}
			break;
		case OPENSHELL__V1__SANDBOX_STREAM_EVENT__PAYLOAD_LOG:
			if (ev->log) {
				fputs("log ", stdout);
				cli_fputs_safe(sb_str(ev->log->level), stdout);
				putchar(' ');
				cli_fputs_safe(sb_str(ev->log->message), stdout);
				putchar('\n');
				fflush(stdout);
			}
			break;
		default:
			break;
		}
	}
	openshell__v1__sandbox_stream_event__free_unpacked(ev, NULL);
	return -1;
}

static int sb_cmd_watch(cli_parser *p)
{
	static const cli_opt opts[] = { { "--workspace", "-w", 1, SB_OPT_WORKSPACE },
					{ NULL, NULL, 0, 0 } };
	cli_ctx *ctx = p->ctx;
	const char *name = NULL, *workspace = "";
	if (sb_parse_name_cmd(p, opts, &name, &workspace, NULL) != 0)
		return CLI_EXIT_USAGE;

	Openshell__V1__GetSandboxRequest req = OPENSHELL__V1__GET_SANDBOX_REQUEST__INIT;
	req.name = (char *)name;
	req.workspace = (char *)workspace;
	Openshell__V1__SandboxResponse *resp;
	const Openshell__V1__Sandbox *sb;
	if (sb_call_sandbox(ctx, CLI_SVC "GetSandbox", &req.base, cli_request_timeout_ms(ctx),
			    &resp, &sb) != 0)
		return CLI_EXIT_FAIL;
	int rc = CLI_EXIT_OK, code;
	char *message = NULL;
	const char *id = sb->metadata ? sb_str(sb->metadata->id) : "";
	if (!*id) {
		cli_error("gateway sent sandbox %s without an id", name);
		rc = CLI_EXIT_FAIL;
		goto cleanup;
	}
	int outcome = sb_stream(ctx, id, 0, -1, sb_watch_on_event, ctx, &rc, &code, &message);
	if (outcome == SB_STREAM_ENDED && code != GRPC_STATUS_OK) {
		cli_print_status_error(ctx, code, message);
		rc = CLI_EXIT_FAIL;
	} else if (outcome == SB_STREAM_BROKEN) {
		rc = CLI_EXIT_FAIL;
	} else {
		rc = CLI_EXIT_OK; /* clean end or Ctrl-C */
	}
cleanup:
	free(message);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc;
}

int cli_cmd_sandbox(cli_ctx *ctx, int argc, char **argv, int i)
{
	static const struct {
		const char *name;
		const char *help;
	} cmds[] = {
		{ "create", sb_help_create }, { "get", sb_help_get },	    { "list", sb_help_list },
		{ "delete", sb_help_delete }, { "stop", sb_help_stop },	    { "start", sb_help_start },
		{ "watch", sb_help_watch },
	};
	cli_parser p = { argc, argv, i, "openshell sandbox", cli_help_sandbox, ctx };
	int id;
	const char *v = NULL;
	char cmdname[64];

	/* Global options may come before the subcommand; -h here is sandbox help. */
	int r = cli_parse_next(&p, NULL, &id, &v);
	if (r == CLI_ARG_BAD)
		return CLI_EXIT_USAGE;
	if (r != CLI_ARG_WORD)
		return cli_usage_error(&p, "missing command");
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(v, cmds[k].name) != 0)
			continue;
		snprintf(cmdname, sizeof(cmdname), "openshell sandbox %s", cmds[k].name);
		p.cmd = cmdname;
		p.help = cmds[k].help;
		if (cli_wants_help(argc, argv, p.i)) {
			fputs(cmds[k].help, stdout);
			return CLI_EXIT_OK;
		}
		switch (k) {
		case 0:
			return sb_cmd_create(&p);
		case 1:
			return sb_cmd_get(&p);
		case 2:
			return sb_cmd_list(&p);
		case 3:
			return sb_cmd_delete(&p);
		case 4:
			return sb_cmd_stop_start(&p, 1);
		case 5:
			return sb_cmd_stop_start(&p, 0);
		default:
			return sb_cmd_watch(&p);
		}
	}
	return cli_usage_error(&p, "unknown command 'sandbox %s'", v);
}
