/* test_abi.c - the plugin ABI v1: layout pins, and the loader against old,
 * future and broken plugins built from a frozen copy of the v1 header. */
#include "config.h"

#include "drivers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Layout pins: these offsets are the v1 ABI. Moving a field breaks every
 * plugin ever built; add new slots at the end instead. */
#define PTR sizeof(void *)
_Static_assert(offsetof(openshell_driver_table_v1, abi_major) == 0, "abi_major");
_Static_assert(offsetof(openshell_driver_table_v1, struct_size) == 4, "struct_size");
_Static_assert(offsetof(openshell_driver_table_v1, name) == 8, "name");
_Static_assert(offsetof(openshell_driver_table_v1, version) == 8 + PTR, "version");
_Static_assert(offsetof(openshell_driver_table_v1, open) == 8 + 2 * PTR, "open");
_Static_assert(offsetof(openshell_driver_table_v1, close) == 8 + 3 * PTR, "close");
_Static_assert(offsetof(openshell_driver_table_v1, get_capabilities) == 8 + 4 * PTR, "caps");
_Static_assert(offsetof(openshell_driver_table_v1, delete_sandbox) == 8 + 12 * PTR, "delete");
_Static_assert(offsetof(openshell_driver_table_v1, watch_sandboxes) == 8 + 13 * PTR, "watch");
_Static_assert(offsetof(openshell_driver_table_v1, delete_workspace) == 8 + 15 * PTR, "dws");
_Static_assert(sizeof(openshell_driver_table_v1) == 8 + 16 * PTR, "table size");
_Static_assert(OPENSHELL_DRIVER_V1_MIN_SIZE == 8 + 16 * PTR, "min size");
_Static_assert(offsetof(openshell_host_v1, host_ctx) == 8, "host_ctx");
_Static_assert(offsetof(openshell_host_v1, driver_name) == 8 + PTR, "driver_name");
_Static_assert(offsetof(openshell_host_v1, log) == 8 + 2 * PTR, "log");
_Static_assert(offsetof(openshell_host_v1, config_get) == 8 + 3 * PTR, "config_get");
_Static_assert(offsetof(openshell_host_v1, config_key_at) == 8 + 4 * PTR, "config_key_at");
_Static_assert(offsetof(openshell_host_v1, alloc) == 8 + 5 * PTR, "alloc");
_Static_assert(offsetof(openshell_host_v1, free) == 8 + 6 * PTR, "free");
_Static_assert(offsetof(openshell_watch_sink_v1, sink_ctx) == 8, "sink_ctx");
_Static_assert(offsetof(openshell_watch_sink_v1, emit) == 8 + PTR, "emit");
_Static_assert(offsetof(openshell_watch_sink_v1, cancelled) == 8 + 2 * PTR, "cancelled");

static char *fixture(const char *name)
{
	static char path[4096];
	const char *b = getenv("OSH_BUILDDIR");
	snprintf(path, sizeof(path), "%s/tests/fixtures/.libs/%s.so", b ? b : ".", name);
	return path;
}

static void *test_alloc(uint64_t n)
{
	return malloc(n);
}
static void test_free(void *p)
{
	free(p);
}

Test(abi, old_v1_plugin_loads_and_answers)
{
	const openshell_driver_table_v1 *t;
	char err[1024];
	cr_assert_eq(osh_plugin_open(fixture("old-plugin"), &t, err, sizeof(err)), 0, "%s", err);
	openshell_driver_table_v1 mine;
	osh_driver_table_copy(&mine, t);
	cr_assert_str_eq(mine.name, "old");
	cr_assert_null(mine.watch_sandboxes, "slots the plugin left out read as NULL");
	openshell_host_v1 host = {.abi_major = 1, .struct_size = sizeof(host),
				  .alloc = test_alloc, .free = test_free};
	void *inst = NULL;
	char *msg = NULL;
	cr_assert_eq(mine.open(&host, &inst, &msg), OPENSHELL_STATUS_OK);
	uint8_t *resp = NULL;
	uint64_t len = 0;
	cr_assert_eq(mine.get_capabilities(inst, NULL, 0, &resp, &len, &msg), 0);
	/* field 1 (driver_name) = "old" */
	cr_assert_geq(len, 5);
	cr_assert_eq(resp[0], 0x0a);
	cr_assert_eq(memcmp(resp + 2, "old", 3), 0);
	free(resp);
}

Test(abi, future_plugin_with_bigger_table_loads)
{
	const openshell_driver_table_v1 *t;
	char err[1024];
	cr_assert_eq(osh_plugin_open(fixture("future-plugin"), &t, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_gt(t->struct_size, sizeof(openshell_driver_table_v1));
	openshell_driver_table_v1 mine;
	osh_driver_table_copy(&mine, t);
	cr_assert_eq(mine.struct_size, sizeof(mine), "the host copy has the host's size");
	cr_assert_str_eq(mine.name, "future");
}

static void expect_refusal(const char *plugin, const char *needle)
{
	const openshell_driver_table_v1 *t = NULL;
	char err[1024] = "";
	const char *path = fixture(plugin);
	cr_assert_eq(osh_plugin_open(path, &t, err, sizeof(err)), -1, "%s should be refused",
		     plugin);
	cr_assert(strstr(err, path) != NULL, "message names the path: %s", err);
	cr_assert(strstr(err, needle) != NULL, "message says why (%s): %s", needle, err);
}

Test(abi, small_table_is_refused)
{
	expect_refusal("small-plugin", "too small");
}

Test(abi, other_major_is_refused)
{
	expect_refusal("v2-plugin", "ABI major 2");
	expect_refusal("major-plugin", "major 7");
}

Test(abi, missing_entry_symbol_is_refused)
{
	expect_refusal("nosym-plugin", "openshell_driver_v1 not found");
}

Test(abi, missing_file_and_non_shared_object_are_refused)
{
	const openshell_driver_table_v1 *t;
	char err[1024];
	cr_assert_eq(osh_plugin_open("/nonexistent/x.so", &t, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/nonexistent/x.so: file not found"), "%s", err);
	char path[] = "/tmp/osh-abi-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	cr_assert_eq(osh_plugin_open(path, &t, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a loadable shared object"), "%s", err);
	unlink(path);
}
