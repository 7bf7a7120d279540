/* api.h - the gateway process: its parts, and the openshell.v1.OpenShell
 * gRPC service it serves. */
#ifndef OSH_API_H
#define OSH_API_H

#include "drivers.h"

#include <protobuf-c/protobuf-c.h>
#include "osh_server.h"
#include "settings.h"

typedef struct osh_gateway {
	const osh_config *cfg;
	osh_registry registry;
	osh_server *server;
	char gateway_id[64];
	struct osh_lifecycle *lc; /* sandbox lifecycle, store, reconciler (NULL until set up) */
} osh_gateway;

/* Pack m and reply OK (or RESOURCE_EXHAUSTED). Consumes the call. */
void osh_api_reply_msg(osh_call *call, const ProtobufCMessage *m);
/* Unpack the request as desc; on malformed bytes fail the call with
 * INVALID_ARGUMENT and return NULL. Free with protobuf_c_message_free_unpacked. */
ProtobufCMessage *osh_api_decode(osh_call *call, const ProtobufCMessageDescriptor *desc);

/* Register every method of openshell.v1.OpenShell on gw->server. */
int osh_api_register(osh_gateway *gw);

#endif
