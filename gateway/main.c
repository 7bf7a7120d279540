/* main.c - openshell-gateway: start-up, signal handling, shutdown. */
#include "config.h"

#include "api.h"
#include "drivers.h"
#include "lifecycle.h"
#include "osh_grpc.h"
#include "osh_log.h"
#include "settings.h"
#include "store.h"
#include "validate.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The store path from --db-url sqlite:PATH, else the XDG state dir. */
static char *osh_db_path(const osh_config *cfg, char *err, size_t errlen)
{
	char buf[4096];
	if (cfg->db_url) {
		if (strncmp(cfg->db_url, "sqlite:", 7) != 0 || !cfg->db_url[7]) {
			snprintf(err, errlen,
				 "database url \"%s\" is not supported: use sqlite:/path/to/file.db",
				 cfg->db_url);
			return NULL;
		}
		const char *p = cfg->db_url + 7;
		if (strncmp(p, "//", 2) == 0) /* sqlite:///abs/path */
			p += 2;
		return strdup(p);
	}
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	if (state && *state)
		snprintf(buf, sizeof(buf), "%s/openshell/openshell.db", state);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.local/state/openshell/openshell.db", home);
	else {
		snprintf(err, errlen, "neither XDG_STATE_HOME nor HOME is set; give --db-url");
		return NULL;
	}
	return strdup(buf);
}

/* A Unix-socket listen address that another live process already serves is
 * refused: gRPC would silently take the path over. */
static int osh_unix_listen_guard(const char *addr, char *err, size_t errlen)
{
	const char *path = addr + 5;
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "cannot listen on %s: the path exists and is not a socket",
			 addr);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	if (live) {
		snprintf(err, errlen, "cannot listen on %s: another process is serving it", addr);
		return -1;
	}
	unlink(path);
	return 0;
}

static int osh_gateway_id(osh_store *st, char out[64], char *err, size_t errlen)
{
	char *v = NULL;
	int rc = osh_store_meta_get(st, "gateway_id", &v);
	if (rc == OSH_STORE_OK) {
		snprintf(out, 64, "%s", v);
		free(v);
		return 0;
	}
	char id[37];
	osh_generate_uuid(id);
	if (osh_store_meta_set(st, "gateway_id", id) != OSH_STORE_OK) {
		snprintf(err, errlen, "cannot store the gateway id: %s", osh_store_errmsg(st));
		return -1;
	}
	snprintf(out, 64, "%s", id);
	return 0;
}

int main(int argc, char **argv)
{
	osh_config cfg = {0};
	osh_gateway gw;
	osh_store *store = NULL;
	char err[2048] = "";
	char *db_path = NULL;
	int rc = 1, grpc_up = 0, server_up = 0;
	memset(&gw, 0, sizeof(gw));

	if (osh_config_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "openshell-gateway: %s\n", err);
		osh_config_free(&cfg);
		return 2;
	}
	if (cfg.show_help) {
		osh_config_usage(stdout, "openshell-gateway");
		osh_config_free(&cfg);
		return 0;
	}
	if (cfg.show_version) {
		printf("openshell-gateway %s (driver ABI v%d)\n", PACKAGE_VERSION,
		       OPENSHELL_DRIVER_ABI_MAJOR);
		osh_config_free(&cfg);
		return 0;
	}
	if (cfg.list_drivers) {
		osh_drivers_list(stdout, cfg.driver_dir);
		osh_config_free(&cfg);
		return 0;
	}
	osh_log_set_level(osh_log_parse_level(cfg.log_level));
	gw.cfg = &cfg;

	/* Signals go to one sigwait() thread: gRPC's threads inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	db_path = osh_db_path(&cfg, err, sizeof(err));
	if (!db_path)
		goto cleanup;
	char *serr = NULL;
	if (osh_store_open(db_path, &store, &serr) != OSH_STORE_OK) {
		snprintf(err, sizeof(err), "cannot open the store %s: %s", db_path,
			 serr ? serr : "unknown error");
		free(serr);
		goto cleanup;
	}
	if (osh_gateway_id(store, gw.gateway_id, err, sizeof(err)) != 0)
		goto cleanup;

	osh_grpc_init();
	grpc_up = 1;
	if (osh_registry_load(&gw.registry, &cfg, gw.gateway_id, err, sizeof(err)) != 0)
		goto cleanup;

	gw.server = osh_server_new(0);
	if (!gw.server || osh_api_register(&gw) != 0) {
		snprintf(err, sizeof(err), "cannot set up the gRPC server");
		goto cleanup;
	}
	if (osh_lifecycle_start(&gw, store, err, sizeof(err)) != 0)
		goto cleanup;
	char addr[4200];
	if (strncmp(cfg.bind_address, "unix:", 5) == 0) {
		snprintf(addr, sizeof(addr), "%s", cfg.bind_address);
		if (osh_unix_listen_guard(addr, err, sizeof(err)) != 0)
			goto cleanup;
	} else if (strchr(cfg.bind_address, ':')) {
		snprintf(addr, sizeof(addr), "[%s]:%d", cfg.bind_address, cfg.port);
	} else {
		snprintf(addr, sizeof(addr), "%s:%d", cfg.bind_address, cfg.port);
	}
	int port = osh_server_listen(gw.server, addr);
	if (port == 0) {
		snprintf(err, sizeof(err),
			 "cannot listen on %s (address in use, or not a local address)", addr);
		goto cleanup;
	}
	if (osh_server_start(gw.server) != 0) {
		snprintf(err, sizeof(err), "cannot start the gRPC server");
		goto cleanup;
	}
	server_up = 1;
	osh_lifecycle_run(gw.lc);
	osh_info("openshell-gateway %s listening on %s (store %s, gateway id %s)", PACKAGE_VERSION,
		 addr, db_path, gw.gateway_id);

	int sig = 0;
	sigwait(&sigs, &sig);
	osh_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;

cleanup:
	if (rc != 0 && err[0])
		fprintf(stderr, "openshell-gateway: %s\n", err);
	/* Listeners and open calls first, then the reconcilers and the
	 * shutdown sweep, then what they used. */
	if (gw.server && server_up)
		osh_server_shutdown(gw.server);
	if (gw.lc)
		osh_lifecycle_stop(gw.lc);
	osh_server_free(gw.server);
	if (gw.lc)
		osh_lifecycle_free(gw.lc);
	osh_registry_close(&gw.registry);
	osh_store_close(store);
	if (grpc_up)
		osh_grpc_shutdown();
	free(db_path);
	osh_config_free(&cfg);
	return rc;
}
