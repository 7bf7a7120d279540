/* openshell.c - the command-line client of openshell-gateway: main(),
 * argument parsing, RPC calls, and the health and gateway commands. The
 * sandbox commands are in cli_sandbox.c, output helpers in cli_output.c.
 *
 *   openshell [--gateway HOST:PORT|unix:PATH] [-o table|json] [--timeout S] COMMAND
 *     health
 *     gateway info
 *     sandbox create NAME --image IMG [--env K=V]... [--label K=V]...
 *                    [--annotation K=V]... [--workspace W] [--tty] [--wait]
 *                    [--timeout SECONDS] [-- COMMAND ARGS...]
 *     sandbox get NAME [--workspace W]
 *     sandbox list [--workspace W | --all-workspaces] [--selector k=v,...]
 *                  [--limit N] [--offset N]
 *     sandbox delete NAME [--workspace W]
 *     sandbox stop NAME [--workspace W] [--wait]
 *     sandbox start NAME [--workspace W] [--wait]
 *     sandbox watch NAME [--workspace W]
 *
 *   Examples:
 *     openshell --gateway unix:/run/openshell/gw.sock health
 *     openshell sandbox create demo --image alpine:3 --env A=1 --wait -- sleep 600
 *     openshell -o json sandbox list --all-workspaces | python3 -m json.tool
 *
 * The gateway address is --gateway, else $OPENSHELL_GATEWAY, else
 * 127.0.0.1:17670. Every request has a deadline (--timeout, default 30 s);
 * --wait gives up after --timeout (default 300 s). Exit status: 0 success,
 * 1 error from the gateway / wait failed or timed out, 2 bad command line,
 * 130 interrupted during --wait.
 */
#include "config.h"

#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char cli_help_top[] =
	"Usage: openshell [--gateway ADDR] [-o table|json] [--timeout SECONDS] COMMAND\n"
	"\n"
	"Command-line client of the OpenShell gateway.\n"
	"\n"
	"Commands:\n"
	"  health          check that the gateway answers (exit 1 unless HEALTHY)\n"
	"  gateway info    gateway version and its compute drivers\n"
	"  sandbox ...     create, get, list, delete, stop, start and watch sandboxes\n"
	"                  (see 'openshell sandbox --help')\n"
	"\n"
	"Options (before or after the command):\n"
	"  --gateway ADDR       the gateway: HOST:PORT (plain TCP) or unix:PATH\n"
	"                       (default: $OPENSHELL_GATEWAY, else " CLI_DEFAULT_GATEWAY ")\n"
	"  -o, --output FORMAT  table (default) or json. JSON uses the proto field\n"
	"                       names (snake_case); enums are short names (phase\n"
	"                       \"READY\", status \"HEALTHY\"); 64-bit numbers are JSON\n"
	"                       numbers; unset optional fields are left out\n"
	"  --timeout SECONDS    deadline of each request (default 30); with --wait,\n"
	"                       how long to wait in all (default 300)\n"
	"  -h, --help           show help (works after any command too)\n"
	"  --version            print the client version\n"
	"\n"
	"Exit status: 0 success; 1 the gateway returned an error, or a wait ended\n"
	"in ERROR or timed out; 2 bad command line; 130 interrupted during --wait.\n"
	"Errors go to stderr as \"error: STATUS: message\" (gRPC status name).\n";

static const char cli_help_health[] =
	"Usage: openshell health\n"
	"\n"
	"Ask the gateway for its health. Prints status and version (JSON with -o\n"
	"json: {\"status\": \"HEALTHY\", \"version\": ...}). Exit 0 when HEALTHY,\n"
	"1 otherwise or when the gateway cannot be reached.\n";

static const char cli_help_gateway[] =
	"Usage: openshell gateway info\n"
	"\n"
	"Print the gateway's version and the compute drivers it runs (name,\n"
	"driver name, driver version). With -o json: the GetGatewayInfoResponse.\n";

volatile sig_atomic_t cli_interrupted;

static void cli_on_signal(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void cli_signals_catch(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_signals_default(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

/* ---- errors ----------------------------------------------------------- */

void cli_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fputs("error: ", stderr);
	cli_fputs_safe(buf, stderr);
	fputc('\n', stderr);
}

void cli_print_status_error(const cli_ctx *ctx, int code, const char *message)
{
	fprintf(stderr, "error: %s: ", osh_status_name(code));
	cli_fputs_safe(message ? message : "", stderr);
	fputc('\n', stderr);
	if (code == GRPC_STATUS_UNAVAILABLE) {
		fputs("hint: is the gateway running at ", stderr);
		cli_fputs_safe(ctx->gateway, stderr);
		fputs("? (set --gateway or OPENSHELL_GATEWAY)\n", stderr);
	}
}

/* The help text up to its first blank line. */
static void cli_print_synopsis(const char *help, FILE *f)
{
	const char *end = strstr(help, "\n\n");
	fwrite(help, 1, end ? (size_t)(end - help) + 1 : strlen(help), f);
}

int cli_usage_error(const cli_parser *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fputs("error: ", stderr);
	cli_fputs_safe(buf, stderr);
	fputc('\n', stderr);
	cli_print_synopsis(p->help, stderr);
	fprintf(stderr, "Run '%s --help' for more.\n", p->cmd);
	return CLI_EXIT_USAGE;
}

/* ---- argument parsing ------------------------------------------------- */

enum { CLI_OPT_HELP = 1100 };

static const cli_opt cli_global_opts[] = {
	{ "--gateway", NULL, 1, CLI_OPT_GATEWAY },
	{ "--output", "-o", 1, CLI_OPT_OUTPUT },
	{ "--timeout", NULL, 1, CLI_OPT_TIMEOUT },
	{ "--help", "-h", 0, CLI_OPT_HELP },
	{ NULL, NULL, 0, 0 },
};

int cli_wants_help(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Find an option named by arg[0..len) (long name, or short name with an
 * optional glued value: "-ojson"). *glued gets that value. */
static const cli_opt *cli_opt_find(const cli_opt *opts, const char *arg, size_t len,
				   const char **glued)
{
	for (; opts && opts->long_name; opts++) {
		if (strlen(opts->long_name) == len && strncmp(opts->long_name, arg, len) == 0)
			return opts;
		if (opts->short_name && arg[1] != '-') {
			size_t sl = strlen(opts->short_name);
			if (len == sl && strncmp(opts->short_name, arg, sl) == 0)
				return opts;
			if (opts->has_value && len > sl && strncmp(opts->short_name, arg, sl) == 0) {
				*glued = arg + sl;
				return opts;
			}
		}
	}
	return NULL;
}

static int cli_global_opt(cli_parser *p, int id, const char *v)
{
	cli_ctx *ctx = p->ctx;
	switch (id) {
	case CLI_OPT_GATEWAY:
		if (!*v)
			return cli_usage_error(p, "--gateway needs an address (HOST:PORT or unix:PATH)");
		ctx->gateway = v;
		return 0;
	case CLI_OPT_OUTPUT:
		if (strcmp(v, "json") == 0)
			ctx->json = 1;
		else if (strcmp(v, "table") == 0)
			ctx->json = 0;
		else
			return cli_usage_error(p, "unknown output format '%s' (table or json)", v);
		return 0;
	case CLI_OPT_TIMEOUT: {
		char *end;
		errno = 0;
		double s = strtod(v, &end);
		if (errno || end == v || *end || !(s > 0) || s > 31536000)
			return cli_usage_error(p, "--timeout needs a positive number of seconds, not '%s'",
					       v);
		ctx->timeout_ms = (int64_t)(s * 1000);
		if (ctx->timeout_ms < 1)
			ctx->timeout_ms = 1;
		return 0;
	}
	case CLI_OPT_HELP:
		fputs(p->help, stdout);
		exit(CLI_EXIT_OK);
	}
	return 0;
}

int cli_parse_next(cli_parser *p, const cli_opt *opts, int *id, const char **value)
{
	for (;;) {
		if (p->i >= p->argc)
			return CLI_ARG_END;
		const char *a = p->argv[p->i++];
		if (strcmp(a, "--") == 0)
			return CLI_ARG_DASHDASH;
		if (a[0] != '-' || a[1] == '\0') {
			*value = a;
			return CLI_ARG_WORD;
		}
		const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const char *glued = NULL;
		const cli_opt *o = cli_opt_find(opts, a, len, &glued);
		if (!o)
			o = cli_opt_find(cli_global_opts, a, len, &glued);
		if (!o) {
			cli_usage_error(p, "unknown option '%.*s'", (int)len, a);
			return CLI_ARG_BAD;
		}
		const char *v = NULL;
		if (o->has_value) {
			if (eq)
				v = eq + 1;
			else if (glued)
				v = glued;
			else if (p->i < p->argc)
				v = p->argv[p->i++];
			else {
				cli_usage_error(p, "option %s needs a value", o->long_name);
				return CLI_ARG_BAD;
			}
		} else if (eq) {
			cli_usage_error(p, "option %s takes no value", o->long_name);
			return CLI_ARG_BAD;
		}
		if (o->id >= CLI_OPT_GATEWAY) {
			if (cli_global_opt(p, o->id, v) != 0)
				return CLI_ARG_BAD;
			continue;
		}
		*id = o->id;
		*value = v;
		return CLI_ARG_OPT;
	}
}

/* Parse to the end accepting only global options. */
static int cli_parse_no_args(cli_parser *p)
{
	int id;
	const char *v;
	for (;;) {
		switch (cli_parse_next(p, NULL, &id, &v)) {
		case CLI_ARG_END:
			return 0;
		case CLI_ARG_WORD:
			return cli_usage_error(p, "unexpected argument '%s'", v);
		case CLI_ARG_DASHDASH:
			return cli_usage_error(p, "unexpected '--'");
		default:
			return CLI_EXIT_USAGE;
		}
	}
}

/* ---- calls ------------------------------------------------------------ */

osh_client *cli_client(cli_ctx *ctx)
{
	if (!ctx->client) {
		/* gRPC's own logging would interleave with our output. */
		setenv("GRPC_VERBOSITY", "ERROR", 0);
		osh_grpc_init();
		ctx->client = osh_client_new(ctx->gateway);
	}
	return ctx->client;
}

int64_t cli_request_timeout_ms(const cli_ctx *ctx)
{
	return ctx->timeout_ms > 0 ? ctx->timeout_ms : CLI_REQUEST_TIMEOUT_MS;
}

int cli_call(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
	     ProtobufCMessage **out)
{
	static const uint8_t empty[1];
	uint8_t *reqbuf = NULL, *resp = NULL;
	char *msg = NULL;
	size_t resp_len = 0;
	int rc = CLI_EXIT_FAIL;

	*out = NULL;
	size_t len = protobuf_c_message_get_packed_size(req);
	reqbuf = malloc(len ? len : 1);
	if (!reqbuf) {
		cli_error("out of memory");
		goto cleanup;
	}
	protobuf_c_message_pack(req, reqbuf);
	int code = osh_client_unary(cli_client(ctx), method, reqbuf, len, timeout_ms, &resp, &resp_len,
				    &msg);
	if (code != GRPC_STATUS_OK) {
		cli_print_status_error(ctx, code, msg);
		goto cleanup;
	}
	*out = protobuf_c_message_unpack(resp_desc, NULL, resp_len, resp ? resp : empty);
	if (!*out) {
		cli_error("gateway sent a malformed %s", resp_desc->short_name);
		goto cleanup;
	}
	rc = CLI_EXIT_OK;
cleanup:
	free(reqbuf);
	free(resp);
	free(msg);
	return rc;
}

/* ---- health, gateway info --------------------------------------------- */

static int cli_cmd_health(cli_ctx *ctx, int argc, char **argv, int i)
{
	cli_parser p = { argc, argv, i, "openshell health", cli_help_health, ctx };
	if (cli_wants_help(argc, argv, i)) {
		fputs(cli_help_health, stdout);
		return CLI_EXIT_OK;
	}
	if (cli_parse_no_args(&p) != 0)
		return CLI_EXIT_USAGE;

	Openshell__V1__HealthRequest req = OPENSHELL__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *m;
	if (cli_call(ctx, CLI_SVC "Health", &req.base, &openshell__v1__health_response__descriptor,
		     cli_request_timeout_ms(ctx), &m) != 0)
		return CLI_EXIT_FAIL;
	Openshell__V1__HealthResponse *r = (Openshell__V1__HealthResponse *)m;
	if (ctx->json) {
		cli_json_print(cli_json_from_message(m), 0);
	} else {
		printf("status:   %s\nversion:  ", cli_service_status_name(r->status));
		cli_fputs_safe(r->version, stdout);
		putchar('\n');
	}
	int rc = r->status == OPENSHELL__V1__SERVICE_STATUS__SERVICE_STATUS_HEALTHY ? CLI_EXIT_OK
										     : CLI_EXIT_FAIL;
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static int cli_cmd_gateway(cli_ctx *ctx, int argc, char **argv, int i)
{
	cli_parser p = { argc, argv, i, "openshell gateway", cli_help_gateway, ctx };
	int id;
	const char *v = NULL;

	if (cli_wants_help(argc, argv, i)) {
		fputs(cli_help_gateway, stdout);
		return CLI_EXIT_OK;
	}
	int r = cli_parse_next(&p, NULL, &id, &v);
	if (r == CLI_ARG_BAD)
		return CLI_EXIT_USAGE;
	if (r != CLI_ARG_WORD)
		return cli_usage_error(&p, "missing subcommand (info)");
	if (strcmp(v, "info") != 0)
		return cli_usage_error(&p, "unknown command 'gateway %s'", v);
	p.cmd = "openshell gateway info";
	if (cli_parse_no_args(&p) != 0)
		return CLI_EXIT_USAGE;

	Openshell__V1__GetGatewayInfoRequest req = OPENSHELL__V1__GET_GATEWAY_INFO_REQUEST__INIT;
	ProtobufCMessage *m;
	if (cli_call(ctx, CLI_SVC "GetGatewayInfo", &req.base,
		     &openshell__v1__get_gateway_info_response__descriptor,
		     cli_request_timeout_ms(ctx), &m) != 0)
		return CLI_EXIT_FAIL;
	Openshell__V1__GetGatewayInfoResponse *info = (Openshell__V1__GetGatewayInfoResponse *)m;
	if (ctx->json) {
		cli_json_print(cli_json_from_message(m), 0);
	} else {
		printf("status:   %s\nversion:  ", cli_service_status_name(info->status));
		cli_fputs_safe(info->gateway_version, stdout);
		printf("\ndrivers:  %zu\n", info->n_compute_drivers);
		if (info->n_compute_drivers) {
			cli_table t;
			cli_table_init(&t, 3);
			const char *head[] = { "NAME", "DRIVER", "VERSION" };
			cli_table_add(&t, head);
			for (size_t k = 0; k < info->n_compute_drivers; k++) {
				const Openshell__V1__ComputeDriverInfo *d = info->compute_drivers[k];
				const Openshell__V1__ComputeDriverCapabilities *c =
					d ? d->capabilities : NULL;
				const char *row[] = { d ? d->name : "", c ? c->driver_name : "",
						      c ? c->driver_version : "" };
				cli_table_add(&t, row);
			}
			putchar('\n');
			cli_table_print(&t, stdout);
			cli_table_free(&t);
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return CLI_EXIT_OK;
}

/* ---- main ------------------------------------------------------------- */

static int cli_run(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt top_opts[] = { { "--version", NULL, 0, 1 }, { NULL, NULL, 0, 0 } };
	cli_parser p = { argc, argv, 1, "openshell", cli_help_top, ctx };
	int id;
	const char *v = NULL;

	for (;;) {
		switch (cli_parse_next(&p, top_opts, &id, &v)) {
		case CLI_ARG_OPT: /* --version */
			printf("openshell %s\n", PACKAGE_VERSION);
			return CLI_EXIT_OK;
		case CLI_ARG_WORD:
			if (strcmp(v, "health") == 0)
				return cli_cmd_health(ctx, argc, argv, p.i);
			if (strcmp(v, "gateway") == 0)
				return cli_cmd_gateway(ctx, argc, argv, p.i);
			if (strcmp(v, "sandbox") == 0)
				return cli_cmd_sandbox(ctx, argc, argv, p.i);
			if (strcmp(v, "help") == 0) {
				fputs(cli_help_top, stdout);
				return CLI_EXIT_OK;
			}
			return cli_usage_error(&p, "unknown command '%s'", v);
		case CLI_ARG_END:
			return cli_usage_error(&p, "missing command");
		case CLI_ARG_DASHDASH:
			return cli_usage_error(&p, "unexpected '--'");
		default:
			return CLI_EXIT_USAGE;
		}
	}
}

int main(int argc, char **argv)
{
	cli_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.timeout_ms = -1;
	const char *env = getenv("OPENSHELL_GATEWAY");
	ctx.gateway = env && *env ? env : CLI_DEFAULT_GATEWAY;

	int rc = cli_run(&ctx, argc, argv);
	if (ctx.client) {
		osh_client_free(ctx.client);
		osh_grpc_shutdown();
	}
	return rc;
}
