/* api.c - handlers of the openshell.v1.OpenShell service. Each runs on a
 * server worker thread; request bytes that do not decode are
 * INVALID_ARGUMENT. */
#include "config.h"

#include "api.h"

#include "openshell.pb-c.h"
#include "osh_log.h"

#include <grpc/status.h>
#include <stdlib.h>
#include <string.h>

#define OSH_SVC "/openshell.v1.OpenShell/"

void osh_api_reply_msg(osh_call *call, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	protobuf_c_message_pack(m, buf);
	osh_call_reply(call, buf, len);
	free(buf);
}

ProtobufCMessage *osh_api_decode(osh_call *call, const ProtobufCMessageDescriptor *desc)
{
	size_t len;
	const uint8_t *req = osh_call_request(call, &len);
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, req);
	if (!m)
		osh_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
			      "request is not a valid %s message", desc->name);
	return m;
}

static void osh_api_health(osh_call *call, void *ud)
{
	(void)ud;
	ProtobufCMessage *req = osh_api_decode(call, &openshell__v1__health_request__descriptor);
	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	Openshell__V1__HealthResponse resp = OPENSHELL__V1__HEALTH_RESPONSE__INIT;
	resp.status = OPENSHELL__V1__SERVICE_STATUS__SERVICE_STATUS_HEALTHY;
	resp.version = (char *)PACKAGE_VERSION;
	osh_api_reply_msg(call, &resp.base);
}

static void osh_api_gateway_info(osh_call *call, void *ud)
{
	osh_gateway *gw = ud;
	ProtobufCMessage *req =
		osh_api_decode(call, &openshell__v1__get_gateway_info_request__descriptor);
	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	size_t n = gw->registry.n;
	Openshell__V1__ComputeDriverInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Openshell__V1__ComputeDriverInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	Openshell__V1__ComputeDriverCapabilities *caps = calloc(n ? n : 1, sizeof(*caps));
	if (!infos || !ptrs || !caps) {
		osh_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		osh_driver *d = gw->registry.drivers[i];
		openshell__v1__compute_driver_info__init(&infos[i]);
		openshell__v1__compute_driver_capabilities__init(&caps[i]);
		caps[i].driver_name = d->driver_name;
		caps[i].driver_version = d->driver_version;
		infos[i].name = d->name;
		infos[i].capabilities = &caps[i];
		ptrs[i] = &infos[i];
	}
	Openshell__V1__GetGatewayInfoResponse resp = OPENSHELL__V1__GET_GATEWAY_INFO_RESPONSE__INIT;
	resp.status = OPENSHELL__V1__SERVICE_STATUS__SERVICE_STATUS_HEALTHY;
	resp.gateway_version = (char *)PACKAGE_VERSION;
	resp.n_compute_drivers = n;
	resp.compute_drivers = ptrs;
	osh_api_reply_msg(call, &resp.base);
cleanup:
	free(infos);
	free(ptrs);
	free(caps);
}

int osh_api_register(osh_gateway *gw)
{
	if (osh_server_add_method(gw->server, OSH_SVC "Health", osh_api_health, gw) != 0 ||
	    osh_server_add_method(gw->server, OSH_SVC "GetGatewayInfo", osh_api_gateway_info,
				  gw) != 0)
		return -1;
	return 0;
}
