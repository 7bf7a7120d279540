/* remote_uds.c - the remote-uds driver plugin: carries every ComputeDriver
 * RPC, as wire bytes, to a process serving openshell.compute.v1.ComputeDriver
 * over gRPC on a Unix socket (config key socket_path). */
#include "config.h"

#include "openshell/driver.h"
#include "osh_grpc.h"
#include "osh_sockcheck.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_UDS_NAME "remote-uds"
#define REMOTE_UDS_SERVICE "/openshell.compute.v1.ComputeDriver/"
#define REMOTE_UDS_DEFAULT_TIMEOUT_MS 30000
#define REMOTE_UDS_MAX_TIMEOUT_MS (24LL * 3600 * 1000)
#define REMOTE_UDS_WATCH_WAIT_MS 200

typedef struct remote_uds {
	openshell_host_v1 host; /* zero-filled copy of the host's table */
	char *socket_path;
	osh_client *client;
	int64_t timeout_ms;
} remote_uds;

/* A host->alloc'd sentence, or NULL when there is no allocator or memory. */
__attribute__((format(printf, 2, 3))) static char *
remote_uds_msg(const openshell_host_v1 *host, const char *fmt, ...)
{
	va_list ap;
	char *m;
	int n;

	if (!host->alloc)
		return NULL;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(m = host->alloc((uint64_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(m, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return m;
}

__attribute__((format(printf, 3, 4))) static void
remote_uds_log(const openshell_host_v1 *host, int32_t level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	host->log(host->host_ctx, level, buf);
}

/*
 * The socket check before open and before every call. A missing socket is a
 * driver that is not running: UNAVAILABLE. Anything else it refuses is
 * FAILED_PRECONDITION. Returns OK or the code, with *message set.
 */
static int32_t remote_uds_check(const remote_uds *ru, char **message)
{
	char err[512];

	if (osh_sockcheck(ru->socket_path, err, sizeof(err)) == 0)
		return OPENSHELL_STATUS_OK;
	if (errno == ENOENT) {
		*message = remote_uds_msg(&ru->host,
					  REMOTE_UDS_NAME ": compute driver socket \"%s\" is "
							  "unavailable: %s",
					  ru->socket_path, err);
		return OPENSHELL_STATUS_UNAVAILABLE;
	}
	*message = remote_uds_msg(&ru->host, REMOTE_UDS_NAME ": driver \"%s\": %s",
				  ru->host.driver_name ? ru->host.driver_name : "?", err);
	return OPENSHELL_STATUS_FAILED_PRECONDITION;
}

static int32_t remote_uds_unavailable(const remote_uds *ru, const char *details,
				      char **message)
{
	*message = remote_uds_msg(&ru->host,
				  REMOTE_UDS_NAME ": compute driver socket \"%s\" is unavailable: %s",
				  ru->socket_path, details);
	return OPENSHELL_STATUS_UNAVAILABLE;
}

/* timeout_ms: a positive decimal integer of milliseconds. */
static int remote_uds_parse_timeout(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0 || v > REMOTE_UDS_MAX_TIMEOUT_MS)
		return -1;
	*out = v;
	return 0;
}

static void remote_uds_close(void *instance)
{
	remote_uds *ru = instance;

	if (!ru)
		return;
	osh_client_free(ru->client);
	free(ru->socket_path);
	free(ru);
	osh_grpc_shutdown();
}

static int32_t remote_uds_open(const openshell_host_v1 *h, void **instance, char **message)
{
	openshell_host_v1 host;
	remote_uds *ru = NULL;
	const char *name, *path, *timeout, *key;
	int64_t timeout_ms = REMOTE_UDS_DEFAULT_TIMEOUT_MS;
	int32_t rc;

	*instance = NULL;
	memset(&host, 0, sizeof(host));
	if (!h || h->abi_major != OPENSHELL_DRIVER_ABI_MAJOR)
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	memcpy(&host, h, h->struct_size < sizeof(host) ? h->struct_size : sizeof(host));
	if (!host.alloc || !host.config_get) {
		*message = remote_uds_msg(&host, REMOTE_UDS_NAME ": the host table lacks "
							"alloc or config_get");
		return OPENSHELL_STATUS_FAILED_PRECONDITION;
	}
	name = host.driver_name ? host.driver_name : REMOTE_UDS_NAME;

	path = host.config_get(host.host_ctx, "socket_path");
	if (!path || !*path) {
		*message = remote_uds_msg(&host, REMOTE_UDS_NAME ": driver \"%s\" has no socket_path",
					  name);
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	timeout = host.config_get(host.host_ctx, "timeout_ms");
	if (timeout && remote_uds_parse_timeout(timeout, &timeout_ms) != 0) {
		*message = remote_uds_msg(&host,
					  REMOTE_UDS_NAME ": driver \"%s\": timeout_ms \"%s\" is not "
							  "a positive integer of milliseconds (at most %lld)",
					  name, timeout, (long long)REMOTE_UDS_MAX_TIMEOUT_MS);
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	/* Keys the host adds for every driver are fine; anything else is most
	 * likely a typo, so say so (not fatal: the host may add keys later). */
	if (host.config_key_at)
		for (uint32_t i = 0; (key = host.config_key_at(host.host_ctx, i)); i++)
			if (strcmp(key, "socket_path") && strcmp(key, "timeout_ms") &&
			    strcmp(key, "gateway_id"))
				remote_uds_log(&host, OPENSHELL_LOG_WARN,
					       REMOTE_UDS_NAME ": driver \"%s\": ignoring unknown "
							       "config key \"%s\"",
					       name, key);

	ru = calloc(1, sizeof(*ru));
	if (!ru || !(ru->socket_path = strdup(path))) {
		free(ru);
		*message = remote_uds_msg(&host, REMOTE_UDS_NAME ": out of memory");
		return OPENSHELL_STATUS_RESOURCE_EXHAUSTED;
	}
	ru->host = host;
	ru->timeout_ms = timeout_ms;

	rc = remote_uds_check(ru, message);
	if (rc == OPENSHELL_STATUS_UNAVAILABLE) {
		/* Not running yet: calls say UNAVAILABLE until it is. */
		remote_uds_log(&host, OPENSHELL_LOG_WARN, "%s", *message ? *message : "");
		if (host.free)
			host.free(*message);
		*message = NULL;
	} else if (rc != OPENSHELL_STATUS_OK) {
		free(ru->socket_path);
		free(ru);
		return rc;
	}

	osh_grpc_init();
	size_t tlen = strlen(path) + sizeof("unix:");
	char *target = malloc(tlen);
	if (!target)
		abort();
	snprintf(target, tlen, "unix:%s", path);
	ru->client = osh_client_new(target);
	free(target);
	*instance = ru;
	return OPENSHELL_STATUS_OK;
}

static int32_t remote_uds_call(void *instance, const char *method, const uint8_t *request,
			       uint64_t request_len, uint8_t **response, uint64_t *response_len,
			       char **message)
{
	remote_uds *ru = instance;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char *details = NULL;
	int32_t rc;

	*response = NULL;
	*response_len = 0;
	*message = NULL;
	rc = remote_uds_check(ru, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;

	gpr_timespec deadline = osh_deadline_ms(ru->timeout_ms);
	rc = osh_client_unary(ru->client, method, request, (size_t)request_len, ru->timeout_ms,
			      &out, &out_len, &details);
	if (rc == OPENSHELL_STATUS_OK) {
		if (out_len) {
			*response = ru->host.alloc(out_len);
			if (!*response) {
				*message = remote_uds_msg(&ru->host,
							  REMOTE_UDS_NAME ": out of memory for a "
									  "%zu-byte response",
							  out_len);
				rc = OPENSHELL_STATUS_RESOURCE_EXHAUSTED;
				goto cleanup;
			}
			memcpy(*response, out, out_len);
			*response_len = out_len;
		}
	} else if (rc == OPENSHELL_STATUS_UNAVAILABLE ||
		   (rc == OPENSHELL_STATUS_DEADLINE_EXCEEDED &&
		    osh_deadline_left_ms(deadline) == 0)) {
		/* Our own deadline passed: the driver did not answer. A
		 * DEADLINE_EXCEEDED the driver returned early is its own. */
		if (rc == OPENSHELL_STATUS_DEADLINE_EXCEEDED) {
			char buf[640];
			snprintf(buf, sizeof(buf), "no answer within %lld ms (%s)",
				 (long long)ru->timeout_ms, details);
			rc = remote_uds_unavailable(ru, buf, message);
		} else {
			rc = remote_uds_unavailable(ru, details, message);
		}
	} else {
		*message = remote_uds_msg(&ru->host, "%s", details);
	}

cleanup:
	free(out);
	free(details);
	return rc;
}

#define REMOTE_UDS_UNARY(fn, rpc)                                                          \
	static int32_t remote_uds_##fn(void *instance, const uint8_t *request,             \
				       uint64_t request_len, uint8_t **response,           \
				       uint64_t *response_len, char **message)             \
	{                                                                                  \
		return remote_uds_call(instance, REMOTE_UDS_SERVICE rpc, request,          \
				       request_len, response, response_len, message);      \
	}

REMOTE_UDS_UNARY(get_capabilities, "GetCapabilities")
REMOTE_UDS_UNARY(get_gateway_listener_requirements, "GetGatewayListenerRequirements")
REMOTE_UDS_UNARY(validate_sandbox_create, "ValidateSandboxCreate")
REMOTE_UDS_UNARY(get_sandbox, "GetSandbox")
REMOTE_UDS_UNARY(list_sandboxes, "ListSandboxes")
REMOTE_UDS_UNARY(create_sandbox, "CreateSandbox")
REMOTE_UDS_UNARY(stop_sandbox, "StopSandbox")
REMOTE_UDS_UNARY(start_sandbox, "StartSandbox")
REMOTE_UDS_UNARY(delete_sandbox, "DeleteSandbox")
REMOTE_UDS_UNARY(ensure_workspace, "EnsureWorkspace")
REMOTE_UDS_UNARY(delete_workspace, "DeleteWorkspace")

static int32_t remote_uds_watch_sandboxes(void *instance, const uint8_t *request,
					  uint64_t request_len,
					  const openshell_watch_sink_v1 *sink_in, char **message)
{
	remote_uds *ru = instance;
	openshell_watch_sink_v1 sink;
	osh_client_stream *s;
	int32_t rc;

	*message = NULL;
	memset(&sink, 0, sizeof(sink));
	memcpy(&sink, sink_in,
	       sink_in->struct_size < sizeof(sink) ? sink_in->struct_size : sizeof(sink));
	if (!sink.emit) {
		*message = remote_uds_msg(&ru->host, REMOTE_UDS_NAME ": the watch sink has no emit");
		return OPENSHELL_STATUS_INVALID_ARGUMENT;
	}
	rc = remote_uds_check(ru, message);
	if (rc != OPENSHELL_STATUS_OK)
		return rc;

	s = osh_client_stream_open(ru->client, REMOTE_UDS_SERVICE "WatchSandboxes", request,
				   (size_t)request_len, -1);
	for (;;) {
		uint8_t *msg;
		size_t len;
		int n;

		if (sink.cancelled && sink.cancelled(sink.sink_ctx)) {
			osh_client_stream_cancel(s);
			rc = OPENSHELL_STATUS_CANCELLED;
			break;
		}
		n = osh_client_stream_next(s, REMOTE_UDS_WATCH_WAIT_MS, &msg, &len);
		if (n < 0)
			continue;
		if (n > 0) {
			int32_t stop = sink.emit(sink.sink_ctx, msg, len);
			free(msg);
			if (stop) {
				osh_client_stream_cancel(s);
				rc = OPENSHELL_STATUS_CANCELLED;
				break;
			}
			continue;
		}
		char *details = NULL;
		rc = osh_client_stream_status(s, &details);
		if (rc == OPENSHELL_STATUS_UNAVAILABLE)
			rc = remote_uds_unavailable(ru, details, message);
		else if (rc != OPENSHELL_STATUS_OK)
			*message = remote_uds_msg(&ru->host, "%s", details);
		free(details);
		break;
	}
	osh_client_stream_free(s);
	return rc;
}

static const openshell_driver_table_v1 remote_uds_table = {
	.abi_major = OPENSHELL_DRIVER_ABI_MAJOR,
	.struct_size = sizeof(openshell_driver_table_v1),
	.name = REMOTE_UDS_NAME,
	.version = PACKAGE_VERSION,
	.open = remote_uds_open,
	.close = remote_uds_close,
	.get_capabilities = remote_uds_get_capabilities,
	.get_gateway_listener_requirements = remote_uds_get_gateway_listener_requirements,
	.validate_sandbox_create = remote_uds_validate_sandbox_create,
	.get_sandbox = remote_uds_get_sandbox,
	.list_sandboxes = remote_uds_list_sandboxes,
	.create_sandbox = remote_uds_create_sandbox,
	.stop_sandbox = remote_uds_stop_sandbox,
	.start_sandbox = remote_uds_start_sandbox,
	.delete_sandbox = remote_uds_delete_sandbox,
	.watch_sandboxes = remote_uds_watch_sandboxes,
	.ensure_workspace = remote_uds_ensure_workspace,
	.delete_workspace = remote_uds_delete_workspace,
};

OPENSHELL_DRIVER_EXPORT const openshell_driver_table_v1 *openshell_driver_v1(void)
{
	return &remote_uds_table;
}
