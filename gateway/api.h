/* api.h - the gateway process: its parts, and the openshell.v1.OpenShell
 * gRPC service it serves. */
#ifndef OSH_API_H
#define OSH_API_H

#include "drivers.h"
#include "osh_server.h"
#include "settings.h"

typedef struct osh_gateway {
	const osh_config *cfg;
	osh_registry registry;
	osh_server *server;
	char gateway_id[64];
	struct osh_lifecycle *lc; /* sandbox lifecycle, store, reconciler (NULL until set up) */
} osh_gateway;

/* Register every method of openshell.v1.OpenShell on gw->server. */
int osh_api_register(osh_gateway *gw);

#endif
