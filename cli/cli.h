/* cli.h - shared parts of the openshell command-line client: the run
 * context, argument parsing, RPC calls with error reporting, and output
 * helpers (JSON from protobuf-c messages, aligned tables, times). */
#ifndef OSH_CLI_H
#define OSH_CLI_H

#include "openshell.pb-c.h"
#include "osh_grpc.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,	  /* the gateway said no, or a wait failed/timed out */
	CLI_EXIT_USAGE = 2,	  /* bad command line */
	CLI_EXIT_INTERRUPTED = 130 /* Ctrl-C during --wait */
};

#define CLI_SVC "/openshell.v1.OpenShell/"
#define CLI_DEFAULT_GATEWAY "127.0.0.1:17670"
#define CLI_REQUEST_TIMEOUT_MS 30000
#define CLI_WAIT_TIMEOUT_MS 300000

typedef struct cli_ctx {
	const char *gateway; /* gRPC target */
	int json;	     /* -o json */
	int64_t timeout_ms;  /* --timeout, or -1 when not given */
	osh_client *client;  /* created on first use */
} cli_ctx;

/* ---- argument parsing (cli/openshell.c) ------------------------------- */

typedef struct cli_opt {
	const char *long_name;	/* "--env" */
	const char *short_name; /* "-o", or NULL */
	int has_value;
	int id;
} cli_opt;

/* Ids of the options every command accepts (anywhere before "--"). */
enum { CLI_OPT_GATEWAY = 1000, CLI_OPT_OUTPUT, CLI_OPT_TIMEOUT };

typedef struct cli_parser {
	int argc;
	char **argv;
	int i;
	const char *cmd;  /* "sandbox create", for messages */
	const char *help; /* that command's help text */
	cli_ctx *ctx;
} cli_parser;

enum { CLI_ARG_END, CLI_ARG_OPT, CLI_ARG_WORD, CLI_ARG_DASHDASH, CLI_ARG_BAD };

/* Next argument. CLI_ARG_OPT sets *id and *value (NULL for flags); global
 * options are handled here and not returned. CLI_ARG_WORD sets *value.
 * CLI_ARG_DASHDASH leaves p->i on the first argument after "--".
 * CLI_ARG_BAD: a usage error was printed (exit CLI_EXIT_USAGE). */
int cli_parse_next(cli_parser *p, const cli_opt *opts, int *id, const char **value);
/* Print "error: <cmd>: <msg>" and p's synopsis to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when an argument before "--" asks for help. */
int cli_wants_help(int argc, char **argv, int from);
/* Strict unsigned parse; -1 when s is not a number in [0, max]. */
int cli_parse_u32(const char *s, uint32_t *out);

/* ---- calls (cli/openshell.c) ------------------------------------------ */

/* The channel to ctx->gateway; the first call initialises gRPC. */
osh_client *cli_client(cli_ctx *ctx);
/* Deadline for one request: --timeout or 30 s. */
int64_t cli_request_timeout_ms(const cli_ctx *ctx);
/* Pack req, call CLI_SVC method, unpack the answer as resp_desc. Returns 0
 * with *out (free with protobuf_c_message_free_unpacked); otherwise prints
 * "error: STATUS: message" and returns CLI_EXIT_FAIL. */
int cli_call(cli_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
	     ProtobufCMessage **out);
/* "error: STATUS_NAME: message" on stderr. */
void cli_print_status_error(const cli_ctx *ctx, int code, const char *message);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Set by SIGINT/SIGTERM while cli_signals_catch is on. */
extern volatile sig_atomic_t cli_interrupted;
void cli_signals_catch(void);
void cli_signals_default(void);

/* ---- output (cli/cli_output.c) ---------------------------------------- */

/* A JSON value for any protobuf-c message: proto field names, enums by
 * their short name ("READY"), maps and google.protobuf.Struct as objects,
 * 64-bit integers as numbers, unset optional/oneof fields left out. */
json_t *cli_json_from_message(const ProtobufCMessage *m);
/* Print v (consumed) to stdout: indented, or one line when compact. */
void cli_json_print(json_t *v, int compact);

/* "READY" for OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_READY. */
const char *cli_phase_name(int phase);
const char *cli_service_status_name(int status);

/* Copy of s with control characters replaced by '?'. Never NULL. */
char *cli_sanitize(const char *s);
void cli_fputs_safe(const char *s, FILE *f);

/* "2026-11-29T16:00:00Z"; "-" for 0. */
void cli_format_time(int64_t ms, char *buf, size_t n);
/* "45s", "12m", "5h", "3d"; "-" for 0. */
void cli_format_age(int64_t created_ms, char *buf, size_t n);
int64_t cli_now_ms(void);

/* Aligned columns, two spaces apart. Cells are copied (sanitized). */
typedef struct cli_table {
	size_t ncols, nrows, cap;
	char **cells;
} cli_table;
void cli_table_init(cli_table *t, size_t ncols);
void cli_table_add(cli_table *t, const char *const *row);
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* ---- commands --------------------------------------------------------- */

int cli_cmd_sandbox(cli_ctx *ctx, int argc, char **argv, int i);
extern const char cli_help_sandbox[];

#endif
