/* podman_status.c - a Podman container as a DriverSandbox snapshot: one
 * Ready condition from the container state (BEHAVIOR.md 2.2, adapted by
 * section 0: no supervisor and no health check of our own, so a running
 * container is Ready=True).
 *
 *   running            True  ContainerRunning   (HealthCheckPassed when the
 *                                                image's health check says
 *                                                healthy; unhealthy ->
 *                                                False HealthCheckFailed;
 *                                                starting -> False
 *                                                HealthCheckStarting)
 *   created/configured False ContainerCreated   (transient)
 *   exited/stopped     False ContainerExited    "container exited with exit code N"
 *                      False OOMKilled          when State.OOMKilled
 *   paused             False ContainerPaused
 *   stopping           Unknown ContainerStopping (not an error while a stop runs)
 *   removing           False ContainerRemoving, deleting
 *   dead               False ContainerDead
 *   other              Unknown Unknown
 *
 * last_transition_time: StartedAt for running, FinishedAt (or StartedAt
 * when later: Podman can stamp a very short run's FinishedAt before its
 * StartedAt) for exited, Created otherwise; RFC 3339 UTC with milliseconds. */
#include "config.h"

#include "podman.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct podman_state {
	const char *status, *reason;
	char message[160];
	int deleting;
};

static void podman_map_state(const char *state, const char *health, int oom, long long code,
			     struct podman_state *s)
{
	memset(s, 0, sizeof(*s));
	if (strcasecmp(state, "running") == 0) {
		if (strcasecmp(health, "unhealthy") == 0) {
			s->status = "False";
			s->reason = "HealthCheckFailed";
			snprintf(s->message, sizeof(s->message), "container health check failed");
		} else if (strcasecmp(health, "starting") == 0) {
			s->status = "False";
			s->reason = "HealthCheckStarting";
			snprintf(s->message, sizeof(s->message),
				 "container is running; waiting for its health check");
		} else if (strcasecmp(health, "healthy") == 0) {
			s->status = "True";
			s->reason = "HealthCheckPassed";
			snprintf(s->message, sizeof(s->message), "container is running and healthy");
		} else {
			s->status = "True";
			s->reason = "ContainerRunning";
			snprintf(s->message, sizeof(s->message), "container is running");
		}
	} else if (strcasecmp(state, "created") == 0 || strcasecmp(state, "configured") == 0 ||
		   strcasecmp(state, "initialized") == 0) {
		s->status = "False";
		s->reason = "ContainerCreated";
		snprintf(s->message, sizeof(s->message), "container created, not started");
	} else if (strcasecmp(state, "exited") == 0 || strcasecmp(state, "stopped") == 0) {
		s->status = "False";
		if (oom) {
			s->reason = "OOMKilled";
			snprintf(s->message, sizeof(s->message),
				 "container was killed for running out of memory (exit code %lld)",
				 code);
		} else {
			s->reason = "ContainerExited";
			snprintf(s->message, sizeof(s->message),
				 "container exited with exit code %lld", code);
		}
	} else if (strcasecmp(state, "paused") == 0) {
		s->status = "False";
		s->reason = "ContainerPaused";
		snprintf(s->message, sizeof(s->message), "container is paused");
	} else if (strcasecmp(state, "stopping") == 0) {
		s->status = "Unknown";
		s->reason = "ContainerStopping";
		snprintf(s->message, sizeof(s->message), "container is stopping");
	} else if (strcasecmp(state, "removing") == 0) {
		s->status = "False";
		s->reason = "ContainerRemoving";
		snprintf(s->message, sizeof(s->message), "container is being removed");
		s->deleting = 1;
	} else if (strcasecmp(state, "dead") == 0) {
		s->status = "False";
		s->reason = "ContainerDead";
		snprintf(s->message, sizeof(s->message), "container is dead");
	} else {
		s->status = "Unknown";
		s->reason = "Unknown";
		snprintf(s->message, sizeof(s->message), "container state \"%s\"", state);
	}
}

static int podman_is_running(const char *state)
{
	return strcasecmp(state, "running") == 0;
}

static int podman_is_exited(const char *state)
{
	return strcasecmp(state, "exited") == 0 || strcasecmp(state, "stopped") == 0;
}

/* Seconds since the epoch as RFC 3339 UTC ("" for 0). */
static void podman_time_from_unix(long long t, char *buf, size_t len)
{
	struct tm tm;
	time_t s = (time_t)t;
	buf[0] = '\0';
	if (t <= 0 || !gmtime_r(&s, &tm))
		return;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The normalised form of t into buf, or "" when t does not parse. */
static void podman_time(const char *t, char *buf, size_t len)
{
	if (osh_engine_time_normalize(t, buf, len) != 0)
		buf[0] = '\0';
}

static osh_engine_ds *podman_snapshot(const json_t *labels, const char *cid, const char *cname,
				      const struct podman_state *s, const char *ltt)
{
	const char *id = osh_json_str(labels, OSH_LABEL_SANDBOX_ID);
	const char *ws = osh_json_str(labels, OSH_LABEL_WORKSPACE);
	char shortid[13];
	if (!*id || !*ws)
		return NULL;
	snprintf(shortid, sizeof(shortid), "%s", cid);
	osh_engine_snapshot_args a = {
		.id = id,
		.name = osh_json_str(labels, OSH_LABEL_SANDBOX_NAME),
		.workspace = ws,
		.instance_id = shortid,
		.sandbox_name = cname,
		.status = s->status,
		.reason = s->reason,
		.message = s->message,
		.last_transition_time = ltt,
		.deleting = s->deleting,
	};
	return osh_engine_snapshot_new(&a);
}

osh_engine_ds *podman_snapshot_from_inspect(const json_t *in)
{
	const json_t *st = json_object_get(in, "State");
	const char *state = osh_json_str(st, "Status");
	const char *health = osh_json_str(json_object_get(st, "Health"), "Status");
	const json_t *oom = json_object_get(st, "OOMKilled");
	struct podman_state s;
	char started[64], finished[64], ltt[64];
	const char *name = osh_json_str(in, "Name");

	podman_map_state(state, health, json_is_true(oom), osh_json_int(st, "ExitCode", -1), &s);
	podman_time(osh_json_str(st, "StartedAt"), started, sizeof(started));
	podman_time(osh_json_str(st, "FinishedAt"), finished, sizeof(finished));
	if (podman_is_running(state))
		snprintf(ltt, sizeof(ltt), "%s", started);
	else if (podman_is_exited(state))
		snprintf(ltt, sizeof(ltt), "%s", strcmp(finished, started) >= 0 ? finished : started);
	else
		podman_time(osh_json_str(in, "Created"), ltt, sizeof(ltt));
	if (*name == '/')
		name++;
	return podman_snapshot(osh_json_path(in, "Config", "Labels", NULL), osh_json_str(in, "Id"),
			       name, &s, ltt);
}

osh_engine_ds *podman_snapshot_from_list(const json_t *e)
{
	const char *state = osh_json_str(e, "State");
	struct podman_state s;
	char ltt[64] = "";
	const json_t *n0 = json_array_get(json_object_get(e, "Names"), 0);
	const char *name = json_is_string(n0) ? json_string_value(n0) : "";
	/* The list's Status is free text; health shows there as "(healthy)". */
	const char *text = osh_json_str(e, "Status");
	const char *health = strstr(text, "(unhealthy)")  ? "unhealthy"
			     : strstr(text, "(healthy)")  ? "healthy"
			     : strstr(text, "(starting)") ? "starting"
							  : "";
	podman_map_state(state, health, 0, osh_json_int(e, "ExitCode", -1), &s);
	long long started = osh_json_int(e, "StartedAt", 0), exited = osh_json_int(e, "ExitedAt", 0);
	if (podman_is_running(state))
		podman_time_from_unix(started, ltt, sizeof(ltt));
	else if (podman_is_exited(state))
		podman_time_from_unix(exited > started ? exited : started, ltt, sizeof(ltt));
	else
		podman_time(osh_json_str(e, "Created"), ltt, sizeof(ltt));
	return podman_snapshot(json_object_get(e, "Labels"), osh_json_str(e, "Id"), name, &s, ltt);
}

const char *podman_event_label(const json_t *ev, const char *key)
{
	return osh_json_str(osh_json_path(ev, "Actor", "Attributes", NULL), key);
}
