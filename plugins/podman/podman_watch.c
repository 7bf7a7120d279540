/* podman_watch.c - WatchSandboxes of the podman plugin: the service's event
 * stream (GET /events?stream=true, filtered to this gateway's containers),
 * opened before the current state is replayed so nothing falls in between;
 * every container event is answered with a fresh inspect, "remove" with a
 * deleted event. Snapshots the RPCs publish (osh_engine_hub) are delivered
 * in order with the events. A lost stream ends the call with UNAVAILABLE. */
#include "config.h"

#include "podman.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PODMAN_WATCH_WAIT_MS 1000L
#define PODMAN_WATCH_PING_MS 10000L /* a silent stream is checked this often */

/* Event actions after which a container is inspected again. */
static const char *const podman_watch_actions[] = {
	"create", "start", "restart", "died",	       "die",	 "stop",
	"pause",  "unpause", "health_status", "exited", NULL};

static int64_t podman_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void podman_watch_wake(void *arg)
{
	osh_engine_stream_wake(arg);
}

/* Sends the current snapshot of container ref, or deleted for sandbox_id
 * when it is gone. Returns non-zero when the sink wants to stop. */
static int podman_watch_emit_current(podman *p, osh_engine_sub *sub, const char *ref,
				     const char *sandbox_id, const json_t *labels)
{
	json_t *in = NULL;
	char err[512];
	int stop = 0;
	int32_t rc = podman_inspect(p, ref, &in, err, sizeof(err));
	if (rc == OPENSHELL_STATUS_NOT_FOUND) {
		if (sandbox_id && *sandbox_id)
			stop = osh_engine_sub_emit_deleted(sub, sandbox_id);
	} else if (rc != OPENSHELL_STATUS_OK) {
		/* Say so rather than guess (upstream: Ready=Unknown InspectFailed). */
		if (labels && sandbox_id && *sandbox_id) {
			osh_engine_snapshot_args a = {
				.id = sandbox_id,
				.name = osh_json_str(labels, OSH_LABEL_SANDBOX_NAME),
				.workspace = osh_json_str(labels, OSH_LABEL_WORKSPACE),
				.instance_id = "",
				.sandbox_name = osh_json_str(labels, "name"),
				.status = "Unknown",
				.reason = "InspectFailed",
				.message = err,
			};
			osh_engine_ds *ds = osh_engine_snapshot_new(&a);
			stop = osh_engine_sub_emit_snapshot(sub, ds);
			osh_engine_ds_free(ds);
		}
	} else {
		osh_engine_ds *ds = podman_snapshot_from_inspect(in);
		if (ds)
			stop = osh_engine_sub_emit_snapshot(sub, ds);
		osh_engine_ds_free(ds);
	}
	json_decref(in);
	return stop;
}

static int podman_watch_event(podman *p, osh_engine_sub *sub, const json_t *ev)
{
	const char *type = osh_json_str(ev, "Type");
	const char *action = osh_json_str(ev, "Action");
	const char *sid = podman_event_label(ev, OSH_LABEL_SANDBOX_ID);
	const char *cid = osh_json_str(osh_json_path(ev, "Actor", NULL), "ID");

	if (*type && strcmp(type, "container") != 0)
		return 0;
	if (!*action)
		action = osh_json_str(ev, "status");
	if (!*cid)
		cid = osh_json_str(ev, "id");
	if (!*sid || !*cid)
		return 0; /* not a sandbox container */
	if (strcmp(podman_event_label(ev, OSH_LABEL_MANAGED_BY), OSH_LABEL_MANAGED_BY_VALUE) != 0 ||
	    (*p->gateway_id &&
	     strcmp(podman_event_label(ev, OSH_LABEL_GATEWAY_ID), p->gateway_id) != 0))
		return 0; /* another gateway's, or not ours at all */
	if (strcmp(action, "remove") == 0)
		return osh_engine_sub_emit_deleted(sub, sid);
	for (size_t i = 0; podman_watch_actions[i]; i++)
		if (strcmp(action, podman_watch_actions[i]) == 0)
			return podman_watch_emit_current(
				p, sub, cid, sid, osh_json_path(ev, "Actor", "Attributes", NULL));
	return 0;
}

/* Replays every managed container. Returns non-zero when the sink stops,
 * -1 with err when the list fails. */
static int podman_watch_replay(podman *p, osh_engine_sub *sub, char *err, size_t errlen)
{
	json_t *list = NULL, *e;
	size_t i;
	int stop = 0;
	if (podman_list(p, NULL, NULL, &list, err, errlen) != OPENSHELL_STATUS_OK)
		return -1;
	json_array_foreach(list, i, e)
	{
		json_t *labels = json_object_get(e, "Labels");
		if (stop)
			break;
		stop = podman_watch_emit_current(p, sub, osh_json_str(e, "Id"),
						 osh_json_str(labels, OSH_LABEL_SANDBOX_ID), labels);
	}
	json_decref(list);
	return stop;
}

/* GET /_ping: 0 when the service answers. */
static int podman_watch_ping(podman *p, char *err, size_t errlen)
{
	osh_engine_resp r = {0};
	int ret = osh_engine_request(p->eng, "GET", "/_ping", NULL, 5000, &r, err, errlen);
	if (ret == 0 && r.status != 200) {
		snprintf(err, errlen, "the Podman service at %s answered /_ping with HTTP %ld",
			 osh_engine_where(p->eng), r.status);
		ret = -1;
	}
	osh_engine_resp_clear(&r);
	return ret;
}

int32_t podman_watch(void *instance, const uint8_t *request, uint64_t request_len,
		     const openshell_watch_sink_v1 *sink, char **message)
{
	podman *p = instance;
	char err[1024];
	char *labels[2] = {NULL}, *filter = NULL, *path = NULL;
	osh_engine_stream *stream = NULL;
	osh_engine_sub *sub = osh_engine_hub_join(p->hub, sink);
	int32_t rc;
	long status = 0;
	size_t nl = 0;

	if ((rc = podman_ready(p, err, sizeof(err))) != OPENSHELL_STATUS_OK) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": watch: %s", err);
		goto cleanup;
	}
	/* Podman ORs label filters of events (it ANDs them when listing), so
	 * the service filters by the most specific label and podman_watch_event
	 * checks both. */
	if (*p->gateway_id) {
		if (asprintf(&labels[nl++], "%s=%s", OSH_LABEL_GATEWAY_ID, p->gateway_id) < 0)
			abort();
	} else if (asprintf(&labels[nl++], "%s=%s", OSH_LABEL_MANAGED_BY,
			    OSH_LABEL_MANAGED_BY_VALUE) < 0) {
		abort();
	}
	filter = osh_engine_label_filter((const char *const *)labels, "type", "container");
	if (asprintf(&path, "/events?stream=true&filters=%s", filter) < 0)
		abort();
	stream = osh_engine_stream_open(p->eng, "GET", path, NULL, &status, err, sizeof(err));
	if (!stream) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": watch: the event stream of %s did not open: %s",
				     osh_engine_where(p->eng), err);
		goto cleanup;
	}
	osh_engine_sub_set_wake(p->hub, sub, podman_watch_wake, stream);

	int stop = podman_watch_replay(p, sub, err, sizeof(err));
	if (stop < 0) {
		rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
				     PODMAN_NAME ": watch: %s", err);
		goto cleanup;
	}
	int64_t last_ping = podman_now_ms();
	rc = OPENSHELL_STATUS_OK;
	while (!stop) {
		json_t *obj = NULL;
		if ((stop = osh_engine_sub_flush(sub)) || (stop = osh_engine_sub_cancelled(sub)))
			break;
		int r = osh_engine_stream_next(stream, PODMAN_WATCH_WAIT_MS, &obj, err, sizeof(err));
		if (r == OSH_ENGINE_STREAM_OBJECT) {
			stop = podman_watch_event(p, sub, obj);
			json_decref(obj);
		} else if (r == OSH_ENGINE_STREAM_IDLE) {
			/* The stream says nothing while nothing happens: make sure
			 * the service is still there. */
			if (osh_engine_stream_idle_ms(stream) >= PODMAN_WATCH_PING_MS &&
			    podman_now_ms() - last_ping >= PODMAN_WATCH_PING_MS) {
				last_ping = podman_now_ms();
				if (podman_watch_ping(p, err, sizeof(err)) != 0) {
					rc = osh_engine_fail(&p->host, message,
							     OPENSHELL_STATUS_UNAVAILABLE,
							     PODMAN_NAME ": watch: %s", err);
					break;
				}
			}
		} else {
			if (r == OSH_ENGINE_STREAM_END)
				snprintf(err, sizeof(err), "the Podman service at %s ended it",
					 osh_engine_where(p->eng));
			rc = osh_engine_fail(&p->host, message, OPENSHELL_STATUS_UNAVAILABLE,
					     PODMAN_NAME ": watch: lost the event stream: %s", err);
			break;
		}
	}
cleanup:
	/* No publisher may wake the stream once it is closed. */
	osh_engine_sub_set_wake(p->hub, sub, NULL, NULL);
	osh_engine_stream_close(stream);
	osh_engine_hub_leave(p->hub, sub);
	for (size_t i = 0; i < nl; i++)
		free(labels[i]);
	free(filter);
	free(path);
	return rc;
}
