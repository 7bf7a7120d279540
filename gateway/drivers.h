/* drivers.h - the gateway's registry of active compute drivers: choosing
 * them (flags, config, auto-detect), loading their plugins with dlopen, the
 * host services handed to each, calling their slots, and the capability
 * snapshot taken at start. There is no global "the driver": every driver is
 * an osh_driver, found by its configured name. */
#ifndef OSH_DRIVERS_H
#define OSH_DRIVERS_H

#include "settings.h"

#include <openshell/driver.h>
#include <stddef.h>
#include <stdint.h>

/* Slots of openshell_driver_table_v1, for osh_driver_call. */
typedef enum osh_rpc {
	OSH_RPC_GET_CAPABILITIES,
	OSH_RPC_GET_GATEWAY_LISTENER_REQUIREMENTS,
	OSH_RPC_VALIDATE_SANDBOX_CREATE,
	OSH_RPC_GET_SANDBOX,
	OSH_RPC_LIST_SANDBOXES,
	OSH_RPC_CREATE_SANDBOX,
	OSH_RPC_STOP_SANDBOX,
	OSH_RPC_START_SANDBOX,
	OSH_RPC_DELETE_SANDBOX,
	OSH_RPC_ENSURE_WORKSPACE,
	OSH_RPC_DELETE_WORKSPACE,
	OSH_RPC_COUNT
} osh_rpc;

const char *osh_rpc_name(osh_rpc rpc); /* "GetSandbox", ... */

typedef struct osh_driver {
	char *name;	   /* configured (routing) name */
	char *plugin_path; /* the .so loaded */
	char *socket;	   /* remote-uds endpoint, or NULL */
	openshell_driver_table_v1 table; /* zero-filled copy of the plugin's table */
	void *instance;
	openshell_host_v1 host;
	osh_driver_section cfg; /* what config_get/config_key_at serve */

	/* GetCapabilities snapshot, taken once at start. */
	char *driver_name;
	char *driver_version;
	char *default_image;
	int manages_lifecycle;
} osh_driver;

typedef struct osh_registry {
	osh_driver **drivers;
	size_t n;
} osh_registry;

/*
 * Resolve the configured drivers (or auto-detect), load each plugin, open an
 * instance and take its capability snapshot. gateway_id is handed to every
 * driver as config key "gateway_id". Returns 0, or -1 with one clear line in
 * err naming the driver, the plugin path or socket, and the cause.
 */
int osh_registry_load(osh_registry *reg, const osh_config *cfg, const char *gateway_id,
		      char *err, size_t errlen);
void osh_registry_close(osh_registry *reg); /* calls close() on instances; never dlclose */
osh_driver *osh_registry_find(const osh_registry *reg, const char *name);

/*
 * Call one unary slot. Thread-safe (slots are thread-safe by the ABI).
 * Returns the gRPC status code. On OK *resp and *resp_len hold the response
 * (malloc'd, may be NULL). On error *msg is a malloc'd sentence, never NULL
 * (synthesized when the plugin gave none). A NULL slot is UNIMPLEMENTED.
 */
int osh_driver_call(osh_driver *d, osh_rpc rpc, const uint8_t *req, size_t req_len,
		    uint8_t **resp, size_t *resp_len, char **msg);

/* Run the watch slot (blocking) with sink; same status/message rules. */
int osh_driver_watch(osh_driver *d, const openshell_watch_sink_v1 *sink, char **msg);

/* Print one line per plugin (.so file) in dir: name, ABI, loadable or why not. */
void osh_drivers_list(FILE *out, const char *dir);

/*
 * Check that a plugin file can be used: dlopen, entry symbol, ABI major,
 * table size. On success *table points at the plugin's static table.
 * Returns 0 or -1 with err ("plugin <path>: <cause>").
 */
int osh_plugin_open(const char *path, const openshell_driver_table_v1 **table, char *err,
		    size_t errlen);

/* Copy a plugin table (of any struct_size >= the v1 minimum) into a zeroed
 * table of the host's size. */
void osh_driver_table_copy(openshell_driver_table_v1 *dst, const openshell_driver_table_v1 *src);

/* Probe a Docker-API socket with GET /_ping (1 s timeout). kind: "docker"
 * requires Api-Version and no Libpod-Api-Version; "podman" requires
 * Libpod-Api-Version. Returns 1 when it answers as that kind. */
int osh_probe_ping(const char *socket_path, const char *kind);

#endif
