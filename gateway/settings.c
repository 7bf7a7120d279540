/* settings.c - flags, environment and INI file, merged with precedence
 * flag > environment > file > default. */
#include "config.h"

#include "settings.h"

#include "osh_log.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GATEWAY_SECTION "openshell.gateway"
#define DRIVERS_PREFIX "openshell.drivers."

static void osh_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void osh_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void osh_set(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
}

char *osh_driver_name_normalize(const char *raw, char *err, size_t errlen)
{
	while (*raw && isspace((unsigned char)*raw))
		raw++;
	size_t len = strlen(raw);
	while (len && isspace((unsigned char)raw[len - 1]))
		len--;
	if (len == 0) {
		osh_seterr(err, errlen, "compute driver name cannot be empty");
		return NULL;
	}
	char *out = malloc(len + 1);
	if (!out) {
		osh_seterr(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if (!(isascii(ch) && (isalnum(ch) || ch == '-' || ch == '_'))) {
			osh_seterr(err, errlen,
				   "compute driver name \"%.*s\" is invalid: only ASCII letters, "
				   "digits, '-' and '_' are allowed",
				   (int)len, raw);
			free(out);
			return NULL;
		}
		out[i] = (char)tolower(ch);
	}
	out[len] = '\0';
	return out;
}

void osh_driver_specs_free(osh_driver_spec *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].socket);
	}
	free(v);
}

int osh_drivers_parse(const char *list, osh_driver_spec **out, size_t *n, char *err,
		      size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (!list)
		return 0;
	const char *p = list;
	while (*p && isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;

	char *copy = strdup(list);
	osh_driver_spec *v = NULL;
	size_t count = 0;
	int rc = -1;
	if (!copy)
		goto cleanup;
	/* strtok would skip empty items; walk by hand so "a,,b" is an error. */
	char *item = copy;
	for (;;) {
		char *comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		char *at = strchr(item, '@');
		char *sock = NULL;
		if (at) {
			*at = '\0';
			sock = at + 1;
			while (*sock && isspace((unsigned char)*sock))
				sock++;
			size_t sl = strlen(sock);
			while (sl && isspace((unsigned char)sock[sl - 1]))
				sock[--sl] = '\0';
			if (sock[0] != '/') {
				osh_seterr(err, errlen,
					   "compute driver \"%s@%s\": the socket path must be "
					   "absolute",
					   item, sock);
				goto cleanup;
			}
		}
		char *name = osh_driver_name_normalize(item, err, errlen);
		if (!name)
			goto cleanup;
		for (size_t i = 0; i < count; i++) {
			if (strcmp(v[i].name, name) == 0) {
				osh_seterr(err, errlen,
					   "compute driver \"%s\" is listed more than once", name);
				free(name);
				goto cleanup;
			}
		}
		osh_driver_spec *nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv) {
			free(name);
			osh_seterr(err, errlen, "out of memory");
			goto cleanup;
		}
		v = nv;
		v[count].name = name;
		v[count].socket = sock ? strdup(sock) : NULL;
		count++;
		if (!comma)
			break;
		item = comma + 1;
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	rc = 0;
cleanup:
	osh_driver_specs_free(v, count);
	free(copy);
	return rc;
}

/* ---- INI file -------------------------------------------------------- */

struct osh_ini_ctx {
	osh_config *file; /* values from the file only */
	char *err;
	size_t errlen;
	int failed;
};

static osh_driver_section *osh_section_get_or_add(osh_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	osh_driver_section *nv =
		realloc(cfg->sections, (cfg->n_sections + 1) * sizeof(*cfg->sections));
	if (!nv)
		return NULL;
	cfg->sections = nv;
	osh_driver_section *s = &cfg->sections[cfg->n_sections++];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	return s;
}

int osh_driver_section_set(osh_driver_section *s, const char *key, const char *value)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->keys[i], key) == 0) {
			osh_set(&s->values[i], value);
			return 0;
		}
	}
	char **nk = realloc(s->keys, (s->n + 1) * sizeof(char *));
	if (!nk)
		return -1;
	s->keys = nk;
	char **nvv = realloc(s->values, (s->n + 1) * sizeof(char *));
	if (!nvv)
		return -1;
	s->values = nvv;
	s->keys[s->n] = strdup(key);
	s->values[s->n] = strdup(value);
	s->n++;
	return 0;
}

static int osh_parse_port(const char *v, int *port)
{
	char *end;
	errno = 0;
	long p = strtol(v, &end, 10);
	if (errno || end == v || *end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

static int osh_parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int osh_ini_handler(void *user, const char *section, const char *name,
			   const char *value)
{
	struct osh_ini_ctx *ctx = user;
	osh_config *f = ctx->file;
	if (ctx->failed)
		return 0;
	if (strcmp(section, GATEWAY_SECTION) == 0) {
		if (!strcmp(name, "bind_address")) {
			osh_set(&f->bind_address, value);
		} else if (!strcmp(name, "port")) {
			if (osh_parse_port(value, &f->port) != 0) {
				osh_seterr(ctx->err, ctx->errlen,
					   "[" GATEWAY_SECTION "] port \"%s\" is not a port number",
					   value);
				ctx->failed = 1;
				return 0;
			}
		} else if (!strcmp(name, "compute_drivers")) {
			osh_set(&f->drivers, value);
		} else if (!strcmp(name, "driver_dir")) {
			osh_set(&f->driver_dir, value);
		} else if (!strcmp(name, "log_level")) {
			osh_set(&f->log_level, value);
		} else if (!strcmp(name, "strict_driver_names")) {
			if (osh_parse_bool(value, &f->strict_driver_names) != 0) {
				osh_seterr(ctx->err, ctx->errlen,
					   "[" GATEWAY_SECTION "] strict_driver_names \"%s\" is "
					   "not a boolean",
					   value);
				ctx->failed = 1;
				return 0;
			}
		} else if (!strcmp(name, "db_url") || !strcmp(name, "database_url")) {
			osh_seterr(ctx->err, ctx->errlen,
				   "[" GATEWAY_SECTION "] %s is not accepted in the config file; "
				   "use --db-url or OPENSHELL_DB_URL",
				   name);
			ctx->failed = 1;
			return 0;
		} else {
			osh_seterr(ctx->err, ctx->errlen,
				   "[" GATEWAY_SECTION "] unknown key \"%s\"", name);
			ctx->failed = 1;
			return 0;
		}
		return 1;
	}
	if (strncmp(section, DRIVERS_PREFIX, strlen(DRIVERS_PREFIX)) == 0) {
		char nerr[256];
		char *dname = osh_driver_name_normalize(section + strlen(DRIVERS_PREFIX), nerr,
							sizeof(nerr));
		if (!dname) {
			osh_seterr(ctx->err, ctx->errlen, "[%s]: %s", section, nerr);
			ctx->failed = 1;
			return 0;
		}
		osh_driver_section *s = osh_section_get_or_add(f, dname);
		free(dname);
		if (!s || osh_driver_section_set(s, name, value) != 0) {
			osh_seterr(ctx->err, ctx->errlen, "out of memory");
			ctx->failed = 1;
			return 0;
		}
		return 1;
	}
	osh_seterr(ctx->err, ctx->errlen,
		   "unknown section [%s]; expected [" GATEWAY_SECTION "] or [" DRIVERS_PREFIX
		   "<name>]",
		   section);
	ctx->failed = 1;
	return 0;
}

static int osh_config_read_file(const char *path, osh_config *file, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		osh_seterr(err, errlen, "cannot open config file \"%s\": %s", path,
			   strerror(errno));
		return -1;
	}
	struct osh_ini_ctx ctx = {.file = file, .err = err, .errlen = errlen};
	file->port = -1;
	int line = ini_parse_file(fp, osh_ini_handler, &ctx);
	fclose(fp);
	if (ctx.failed) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", err);
		osh_seterr(err, errlen, "config file \"%s\": %s", path, tmp);
		return -1;
	}
	if (line != 0) {
		osh_seterr(err, errlen, "config file \"%s\": syntax error on line %d", path, line);
		return -1;
	}
	return 0;
}

/* ---- flags ----------------------------------------------------------- */

enum {
	OPT_CONFIG = 256,
	OPT_BIND,
	OPT_PORT,
	OPT_DRIVERS,
	OPT_SOCKET,
	OPT_DRIVER_DIR,
	OPT_LOG_LEVEL,
	OPT_DB_URL,
	OPT_LIST,
	OPT_VERSION,
	OPT_STRICT,
};

void osh_config_usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [OPTIONS]\n"
		"\n"
		"The OpenShell gateway: serves the openshell.v1.OpenShell sandbox API over gRPC,\n"
		"keeps every sandbox in SQLite and runs them through compute driver plugins.\n"
		"\n"
		"Options (each also settable by environment variable and config file key;\n"
		"flag > environment > file > default):\n"
		"  --config FILE               INI config file           OPENSHELL_GATEWAY_CONFIG\n"
		"  --bind-address ADDR         listen address (127.0.0.1) OPENSHELL_BIND_ADDRESS\n"
		"                              or unix:/abs/path for a Unix socket\n"
		"  --port N                    listen port (17670)       OPENSHELL_PORT\n"
		"  --drivers LIST              compute drivers: name or name@/abs/path.sock,\n"
		"                              comma-separated           OPENSHELL_DRIVERS\n"
		"                              (default: auto-detect kubernetes, podman, docker)\n"
		"  --compute-driver-socket P   serve the single --drivers name through the\n"
		"                              remote-uds plugin on socket P\n"
		"                                                        OPENSHELL_COMPUTE_DRIVER_SOCKET\n"
		"  --driver-dir DIR            plugin directory          OPENSHELL_DRIVER_DIR\n"
		"                              (default " OSH_DRIVER_DIR ")\n"
		"  --db-url sqlite:PATH        the store (default $XDG_STATE_HOME/openshell/openshell.db)\n"
		"                                                        OPENSHELL_DB_URL\n"
		"  --log-level LEVEL           error, warn, info, debug  OPENSHELL_LOG_LEVEL\n"
		"  --strict-driver-names       exit when a driver advertises another name than\n"
		"                              the one it is configured under\n"
		"  --list-drivers              list the plugins in the driver directory and exit\n"
		"  --version                   print the version and exit\n"
		"  --help                      print this help and exit\n",
		argv0);
}

static int osh_config_flags(osh_config *fl, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"bind-address", required_argument, NULL, OPT_BIND},
		{"port", required_argument, NULL, OPT_PORT},
		{"drivers", required_argument, NULL, OPT_DRIVERS},
		{"driver", required_argument, NULL, OPT_DRIVERS},
		{"compute-driver-socket", required_argument, NULL, OPT_SOCKET},
		{"driver-dir", required_argument, NULL, OPT_DRIVER_DIR},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"db-url", required_argument, NULL, OPT_DB_URL},
		{"list-drivers", no_argument, NULL, OPT_LIST},
		{"strict-driver-names", no_argument, NULL, OPT_STRICT},
		{"version", no_argument, NULL, OPT_VERSION},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	fl->port = -1;
	fl->strict_driver_names = -1;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: osh_set(&fl->config_path, optarg); break;
		case OPT_BIND: osh_set(&fl->bind_address, optarg); break;
		case OPT_PORT:
			if (osh_parse_port(optarg, &fl->port) != 0) {
				osh_seterr(err, errlen, "--port \"%s\" is not a port number", optarg);
				return -1;
			}
			break;
		case OPT_DRIVERS: osh_set(&fl->drivers, optarg); break;
		case OPT_SOCKET: osh_set(&fl->compute_driver_socket, optarg); break;
		case OPT_DRIVER_DIR: osh_set(&fl->driver_dir, optarg); break;
		case OPT_LOG_LEVEL: osh_set(&fl->log_level, optarg); break;
		case OPT_DB_URL: osh_set(&fl->db_url, optarg); break;
		case OPT_LIST: fl->list_drivers = 1; break;
		case OPT_STRICT: fl->strict_driver_names = 1; break;
		case OPT_VERSION: fl->show_version = 1; break;
		case 'h': fl->show_help = 1; break;
		case ':':
			osh_seterr(err, errlen, "option %s needs a value", argv[optind - 1]);
			return -1;
		default:
			osh_seterr(err, errlen, "unknown option \"%s\" (see --help)",
				   argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		osh_seterr(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
	}
	return 0;
}

static const char *osh_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* dst = first non-NULL of flag, env, file. */
static void osh_pick(char **dst, const char *flag, const char *env, const char *file,
		     const char *def)
{
	const char *v = flag ? flag : env ? env : file ? file : def;
	osh_set(dst, v);
}

int osh_config_load(osh_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	osh_config fl = {0}, file = {0};
	int rc = -1;
	if (osh_config_flags(&fl, argc, argv, err, errlen) != 0)
		goto cleanup;
	cfg->list_drivers = fl.list_drivers;
	cfg->show_version = fl.show_version;
	cfg->show_help = fl.show_help;
	if (fl.show_help || fl.show_version) {
		rc = 0;
		goto cleanup;
	}

	osh_pick(&cfg->config_path, fl.config_path, osh_env("OPENSHELL_GATEWAY_CONFIG"), NULL,
		 NULL);
	file.port = -1;
	file.strict_driver_names = -1;
	if (cfg->config_path &&
	    osh_config_read_file(cfg->config_path, &file, err, errlen) != 0)
		goto cleanup;

	osh_pick(&cfg->bind_address, fl.bind_address, osh_env("OPENSHELL_BIND_ADDRESS"),
		 file.bind_address, OSH_DEFAULT_BIND_ADDRESS);
	cfg->port = OSH_DEFAULT_PORT;
	if (file.port >= 0)
		cfg->port = file.port;
	const char *env_port = osh_env("OPENSHELL_PORT");
	if (env_port && osh_parse_port(env_port, &cfg->port) != 0) {
		osh_seterr(err, errlen, "OPENSHELL_PORT \"%s\" is not a port number", env_port);
		goto cleanup;
	}
	if (fl.port >= 0)
		cfg->port = fl.port;
	osh_pick(&cfg->drivers, fl.drivers, osh_env("OPENSHELL_DRIVERS"), file.drivers, NULL);
	osh_pick(&cfg->compute_driver_socket, fl.compute_driver_socket,
		 getenv("OPENSHELL_COMPUTE_DRIVER_SOCKET"), NULL, NULL);
	osh_pick(&cfg->driver_dir, fl.driver_dir, osh_env("OPENSHELL_DRIVER_DIR"),
		 file.driver_dir, OSH_DRIVER_DIR);
	osh_pick(&cfg->log_level, fl.log_level, osh_env("OPENSHELL_LOG_LEVEL"), file.log_level,
		 "info");
	osh_pick(&cfg->db_url, fl.db_url, osh_env("OPENSHELL_DB_URL"), NULL, NULL);
	cfg->strict_driver_names = 0;
	if (file.strict_driver_names >= 0)
		cfg->strict_driver_names = file.strict_driver_names;
	const char *env_strict = osh_env("OPENSHELL_STRICT_DRIVER_NAMES");
	if (env_strict && osh_parse_bool(env_strict, &cfg->strict_driver_names) != 0) {
		osh_seterr(err, errlen, "OPENSHELL_STRICT_DRIVER_NAMES \"%s\" is not a boolean",
			   env_strict);
		goto cleanup;
	}
	if (fl.strict_driver_names >= 0)
		cfg->strict_driver_names = fl.strict_driver_names;

	if (cfg->compute_driver_socket && !*cfg->compute_driver_socket) {
		osh_seterr(err, errlen, "--compute-driver-socket cannot be empty");
		goto cleanup;
	}
	if (osh_log_parse_level(cfg->log_level) < 0) {
		osh_seterr(err, errlen,
			   "log level \"%s\" is invalid: use error, warn, info or debug",
			   cfg->log_level);
		goto cleanup;
	}
	cfg->sections = file.sections;
	cfg->n_sections = file.n_sections;
	file.sections = NULL;
	file.n_sections = 0;
	rc = 0;
cleanup:
	osh_config_free(&fl);
	osh_config_free(&file);
	return rc;
}

void osh_config_free(osh_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->config_path);
	free(cfg->bind_address);
	free(cfg->drivers);
	free(cfg->compute_driver_socket);
	free(cfg->driver_dir);
	free(cfg->log_level);
	free(cfg->db_url);
	for (size_t i = 0; i < cfg->n_sections; i++)
		osh_driver_section_clear(&cfg->sections[i]);
	free(cfg->sections);
	memset(cfg, 0, sizeof(*cfg));
}

void osh_driver_section_clear(osh_driver_section *s)
{
	for (size_t j = 0; j < s->n; j++) {
		free(s->keys[j]);
		free(s->values[j]);
	}
	free(s->keys);
	free(s->values);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

const osh_driver_section *osh_config_driver_section(const osh_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_sections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

const char *osh_driver_section_get(const osh_driver_section *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return s->values[i];
	return NULL;
}
