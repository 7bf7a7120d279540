/* test_settings.c - drivers-list parsing, name normalisation and the
 * precedence flag > environment > config file > default. */
#include "config.h"

#include "settings.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void clear_env(void)
{
	static const char *const vars[] = {
		"OPENSHELL_GATEWAY_CONFIG", "OPENSHELL_BIND_ADDRESS", "OPENSHELL_PORT",
		"OPENSHELL_DRIVERS", "OPENSHELL_COMPUTE_DRIVER_SOCKET", "OPENSHELL_DRIVER_DIR",
		"OPENSHELL_LOG_LEVEL", "OPENSHELL_DB_URL", "OPENSHELL_STRICT_DRIVER_NAMES",
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

TestSuite(settings, .init = clear_env);

Test(settings, drivers_list_normalises_names)
{
	osh_driver_spec *v;
	size_t n;
	char err[256];
	cr_assert_eq(osh_drivers_parse(" Docker , kyma@/run/kyma.sock,My_Driver-2", &v, &n, err,
				       sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].name, "docker");
	cr_assert_null(v[0].socket);
	cr_assert_str_eq(v[1].name, "kyma");
	cr_assert_str_eq(v[1].socket, "/run/kyma.sock");
	cr_assert_str_eq(v[2].name, "my_driver-2");
	osh_driver_specs_free(v, n);
}

Test(settings, drivers_list_blank_is_empty)
{
	osh_driver_spec *v;
	size_t n = 7;
	char err[256];
	cr_assert_eq(osh_drivers_parse("   ", &v, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(osh_drivers_parse(NULL, &v, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
}

static void expect_bad(const char *list, const char *needle)
{
	osh_driver_spec *v = NULL;
	size_t n = 0;
	char err[256] = "";
	cr_assert_eq(osh_drivers_parse(list, &v, &n, err, sizeof(err)), -1, "%s accepted", list);
	cr_assert(strstr(err, needle), "\"%s\": expected \"%s\" in: %s", list, needle, err);
	cr_assert_null(v);
}

Test(settings, drivers_list_errors)
{
	expect_bad("docker,,podman", "cannot be empty");
	expect_bad(",", "cannot be empty");
	expect_bad("dock er", "invalid");
	expect_bad("dockér", "invalid");
	expect_bad("a.b", "invalid");
	expect_bad("kyma@run/kyma.sock", "must be absolute");
	expect_bad("kyma@", "must be absolute");
	expect_bad("docker,Docker", "more than once");
}

static char *write_ini(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/osh-ini-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(osh_config *cfg, char **argv, char *err)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	memset(cfg, 0, sizeof(*cfg));
	return osh_config_load(cfg, argc, argv, err, 512);
}

Test(settings, defaults)
{
	osh_config cfg;
	char err[512];
	char *argv[] = {"gw", NULL};
	cr_assert_eq(load(&cfg, argv, err), 0, "%s", err);
	cr_assert_str_eq(cfg.bind_address, "127.0.0.1");
	cr_assert_eq(cfg.port, 17670);
	cr_assert_null(cfg.drivers);
	cr_assert_str_eq(cfg.driver_dir, OSH_DRIVER_DIR);
	cr_assert_str_eq(cfg.log_level, "info");
	osh_config_free(&cfg);
}

Test(settings, precedence_flag_env_file_default)
{
	char *ini = write_ini("[openshell.gateway]\n"
			      "bind_address = 10.0.0.1\n"
			      "port = 1111\n"
			      "compute_drivers = fromfile\n"
			      "driver_dir = /file/dir\n"
			      "log_level = warn\n"
			      "[openshell.drivers.Kyma]\n"
			      "socket_path = /run/kyma.sock\n"
			      "timeout_ms = 500\n");
	osh_config cfg;
	char err[512];
	/* file only */
	char *a1[] = {"gw", "--config", ini, NULL};
	cr_assert_eq(load(&cfg, a1, err), 0, "%s", err);
	cr_assert_str_eq(cfg.bind_address, "10.0.0.1");
	cr_assert_eq(cfg.port, 1111);
	cr_assert_str_eq(cfg.drivers, "fromfile");
	cr_assert_str_eq(cfg.driver_dir, "/file/dir");
	const osh_driver_section *s = osh_config_driver_section(&cfg, "kyma");
	cr_assert_not_null(s, "section names are normalised");
	cr_assert_str_eq(osh_driver_section_get(s, "socket_path"), "/run/kyma.sock");
	cr_assert_str_eq(osh_driver_section_get(s, "timeout_ms"), "500");
	osh_config_free(&cfg);
	/* env beats file */
	setenv("OPENSHELL_PORT", "2222", 1);
	setenv("OPENSHELL_DRIVERS", "fromenv", 1);
	setenv("OPENSHELL_GATEWAY_CONFIG", ini, 1);
	char *a2[] = {"gw", NULL};
	cr_assert_eq(load(&cfg, a2, err), 0, "%s", err);
	cr_assert_eq(cfg.port, 2222);
	cr_assert_str_eq(cfg.drivers, "fromenv");
	cr_assert_str_eq(cfg.bind_address, "10.0.0.1", "file still fills what env leaves");
	osh_config_free(&cfg);
	/* flag beats env */
	char *a3[] = {"gw", "--port", "3333", "--drivers", "fromflag", "--log-level", "debug", NULL};
	cr_assert_eq(load(&cfg, a3, err), 0, "%s", err);
	cr_assert_eq(cfg.port, 3333);
	cr_assert_str_eq(cfg.drivers, "fromflag");
	cr_assert_str_eq(cfg.log_level, "debug");
	osh_config_free(&cfg);
	unlink(ini);
}

Test(settings, bad_inputs_are_named)
{
	osh_config cfg;
	char err[512];
	char *a1[] = {"gw", "--port", "70000", NULL};
	cr_assert_eq(load(&cfg, a1, err), -1);
	cr_assert(strstr(err, "--port \"70000\""), "%s", err);
	osh_config_free(&cfg);
	char *a2[] = {"gw", "--bogus", NULL};
	cr_assert_eq(load(&cfg, a2, err), -1);
	cr_assert(strstr(err, "--bogus"), "%s", err);
	osh_config_free(&cfg);
	char *a3[] = {"gw", "--log-level", "loud", NULL};
	cr_assert_eq(load(&cfg, a3, err), -1);
	cr_assert(strstr(err, "loud"), "%s", err);
	osh_config_free(&cfg);
	char *ini = write_ini("[openshell.gateway]\nportt = 1\n");
	char *a4[] = {"gw", "--config", ini, NULL};
	cr_assert_eq(load(&cfg, a4, err), -1);
	cr_assert(strstr(err, "unknown key \"portt\"") && strstr(err, ini), "%s", err);
	osh_config_free(&cfg);
	unlink(ini);
	ini = write_ini("[openshell.gateway]\ndb_url = sqlite:/x\n");
	char *a5[] = {"gw", "--config", ini, NULL};
	cr_assert_eq(load(&cfg, a5, err), -1);
	cr_assert(strstr(err, "not accepted in the config file"), "%s", err);
	osh_config_free(&cfg);
	unlink(ini);
	char *a6[] = {"gw", "--config", "/nonexistent.ini", NULL};
	cr_assert_eq(load(&cfg, a6, err), -1);
	cr_assert(strstr(err, "/nonexistent.ini"), "%s", err);
	osh_config_free(&cfg);
}
