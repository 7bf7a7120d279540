/* test_phase.c - table-driven tests for gateway/phase.c: stage A and stage C of
 * BEHAVIOR 1.9, snapshot application (ERROR/DELETING fences, status copy, exit
 * codes), condition upsert, and the 1.6 public -> driver translation. */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openshell/driver.h"
#include "phase.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define P_UNSPEC OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNSPECIFIED
#define P_PROV OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_PROVISIONING
#define P_READY OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_READY
#define P_ERROR OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_ERROR
#define P_DEL OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_DELETING
#define P_UNK OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_UNKNOWN
#define P_STOPPING OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPING
#define P_STOPPED OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STOPPED
#define P_STARTING OPENSHELL__V1__SANDBOX_PHASE__SANDBOX_PHASE_STARTING

/* ---- heap-tree helpers ---- */

static char *hs(const char *s)
{
	if (!s || !*s)
		return (char *)protobuf_c_empty_string;
	return strdup(s);
}

static void *hmsg(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

static void hfree(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

struct kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

static void map_add(size_t *n, void *arr, const ProtobufCMessageDescriptor *d, const char *k,
		    const char *v)
{
	struct kv ***a = arr;
	struct kv *e = hmsg(d);
	e->key = hs(k);
	e->value = hs(v);
	*a = realloc(*a, (*n + 1) * sizeof(**a));
	(*a)[(*n)++] = e;
}

/* Criterion copies parameters into a freshly exec'd worker, so rows hold
 * arrays, not pointers; an empty type ends a condition list. */
struct cond {
	char type[16], status[16], reason[32], message[48];
};

#define MAX_CONDS 4
#define NOCONDS {{"", "", "", ""}}

static Openshell__Compute__V1__DriverSandboxStatus *driver_status(int deleting,
								  const struct cond *c)
{
	Openshell__Compute__V1__DriverSandboxStatus *st =
		hmsg(&openshell__compute__v1__driver_sandbox_status__descriptor);
	st->deleting = deleting;
	for (int i = 0; i < MAX_CONDS && c[i].type[0]; i++) {
		Openshell__Compute__V1__DriverCondition *dc =
			hmsg(&openshell__compute__v1__driver_condition__descriptor);
		dc->type = hs(c[i].type);
		dc->status = hs(c[i].status);
		dc->reason = hs(c[i].reason);
		dc->message = hs(c[i].message);
		dc->last_transition_time = hs("2026-01-01T00:00:00Z");
		st->conditions = realloc(st->conditions, (st->n_conditions + 1) * sizeof(*st->conditions));
		st->conditions[st->n_conditions++] = dc;
	}
	return st;
}

static Openshell__V1__SandboxCondition *pub_cond(const char *type, const char *status,
						 const char *reason, const char *message)
{
	Openshell__V1__SandboxCondition *c = hmsg(&openshell__v1__sandbox_condition__descriptor);
	c->type = hs(type);
	c->status = hs(status);
	c->reason = hs(reason);
	c->message = hs(message);
	c->last_transition_time = hs("2025-12-31T00:00:00Z");
	return c;
}

/* A stored sandbox in the given phase with one Ready condition. */
static Openshell__V1__Sandbox *stored(Openshell__V1__SandboxPhase phase, const char *name)
{
	Openshell__V1__Sandbox *sb = hmsg(&openshell__v1__sandbox__descriptor);
	sb->metadata = hmsg(&openshell__datamodel__v1__object_meta__descriptor);
	sb->metadata->id = hs("0b5a7c1e-0000-4000-8000-000000000001");
	sb->metadata->name = hs(name);
	sb->metadata->workspace = hs("default");
	sb->metadata->resource_version = 7;
	sb->status = hmsg(&openshell__v1__sandbox_status__descriptor);
	sb->status->phase = phase;
	sb->status->sandbox_name = hs(name);
	sb->status->agent_pod = hs("old-pod");
	sb->status->current_policy_version = 3;
	sb->status->main_process_instance_id = hs("mp-1");
	sb->status->conditions = malloc(sizeof(*sb->status->conditions));
	sb->status->conditions[0] = pub_cond("Ready", "False", "Stored", "stored condition");
	sb->status->n_conditions = 1;
	return sb;
}

/* ---- stage A ---- */

struct stage_a_row {
	char label[48];
	int has_status;
	int deleting;
	struct cond c[MAX_CONDS];
	Openshell__V1__SandboxPhase want;
};

ParameterizedTestParameters(phase, stage_a)
{
	static struct stage_a_row rows[] = {
		{"status absent", 0, 0, NOCONDS, P_UNK},
		{"deleting", 1, 1, NOCONDS, P_DEL},
		{"deleting beats Ready=True", 1, 1, {{"Ready", "True", "", ""}}, P_DEL},
		{"deleting beats Suspended", 1, 1, {{"Suspended", "True", "", ""}}, P_DEL},
		{"Suspended=True", 1, 0, {{"Suspended", "True", "", ""}}, P_STOPPED},
		{"suspended=TRUE (case-insensitive)", 1, 0, {{"suspended", "TRUE", "", ""}}, P_STOPPED},
		{"Suspended=True after Ready=True", 1, 0,
		 {{"Ready", "True", "", ""}, {"Suspended", "True", "", ""}}, P_STOPPED},
		{"Suspended=False, Ready=True", 1, 0,
		 {{"Suspended", "False", "PodTerminating", ""}, {"Ready", "True", "", ""}}, P_READY},
		{"Ready=True", 1, 0, {{"Ready", "True", "", ""}}, P_READY},
		{"Ready=true", 1, 0, {{"Ready", "true", "", ""}}, P_READY},
		{"type ready is case-sensitive", 1, 0, {{"ready", "True", "", ""}}, P_PROV},
		{"type READY is case-sensitive", 1, 0, {{"READY", "False", "OOMKilled", ""}}, P_PROV},
		{"Ready=Unknown", 1, 0, {{"Ready", "Unknown", "ContainerExited", ""}}, P_PROV},
		{"Ready empty status", 1, 0, {{"Ready", "", "OOMKilled", ""}}, P_PROV},
		{"no conditions", 1, 0, NOCONDS, P_PROV},
		{"no Ready condition", 1, 0, {{"Scheduled", "True", "", ""}}, P_PROV},
		{"first Ready wins (True)", 1, 0,
		 {{"Ready", "True", "", ""}, {"Ready", "False", "OOMKilled", ""}}, P_READY},
		{"first Ready wins (False)", 1, 0,
		 {{"Ready", "False", "OOMKilled", ""}, {"Ready", "True", "", ""}}, P_ERROR},
		/* Ready=False with transient reasons -> PROVISIONING */
		{"transient ReconcilerError", 1, 0, {{"Ready", "False", "ReconcilerError", ""}}, P_PROV},
		{"transient DependenciesNotReady", 1, 0, {{"Ready", "False", "DependenciesNotReady", ""}}, P_PROV},
		{"transient SupervisorNotConnected", 1, 0, {{"Ready", "False", "SupervisorNotConnected", ""}}, P_PROV},
		{"transient Starting", 1, 0, {{"Ready", "False", "Starting", ""}}, P_PROV},
		{"transient ContainerStarting", 1, 0, {{"Ready", "False", "ContainerStarting", ""}}, P_PROV},
		{"transient ContainerCreated", 1, 0, {{"Ready", "False", "ContainerCreated", ""}}, P_PROV},
		{"transient HealthCheckStarting", 1, 0, {{"Ready", "False", "HealthCheckStarting", ""}}, P_PROV},
		{"transient InspectFailed", 1, 0, {{"Ready", "False", "InspectFailed", ""}}, P_PROV},
		{"transient lower-case", 1, 0, {{"Ready", "false", "containerstarting", ""}}, P_PROV},
		{"transient upper-case", 1, 0, {{"Ready", "FALSE", "INSPECTFAILED", ""}}, P_PROV},
		/* Ready=False with terminal reasons -> ERROR */
		{"terminal ContainerExited", 1, 0, {{"Ready", "False", "ContainerExited", ""}}, P_ERROR},
		{"terminal ContainerStopped", 1, 0, {{"Ready", "False", "ContainerStopped", ""}}, P_ERROR},
		{"terminal ProcessExited", 1, 0, {{"Ready", "False", "ProcessExited", ""}}, P_ERROR},
		{"terminal Unschedulable", 1, 0, {{"Ready", "False", "Unschedulable", ""}}, P_ERROR},
		{"terminal HealthCheckFailed", 1, 0, {{"Ready", "False", "HealthCheckFailed", ""}}, P_ERROR},
		{"terminal OOMKilled", 1, 0, {{"Ready", "False", "OOMKilled", ""}}, P_ERROR},
		{"terminal ContainerRestarting", 1, 0, {{"Ready", "False", "ContainerRestarting", ""}}, P_ERROR},
		{"terminal Deleting (not flagged)", 1, 0, {{"Ready", "False", "Deleting", ""}}, P_ERROR},
		{"terminal empty reason", 1, 0, {{"Ready", "False", "", ""}}, P_ERROR},
	};
	return cr_make_param_array(struct stage_a_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct stage_a_row *row, phase, stage_a)
{
	Openshell__Compute__V1__DriverSandboxStatus *st =
		row->has_status ? driver_status(row->deleting, row->c) : NULL;
	Openshell__V1__SandboxPhase got = osh_phase_from_driver_status(st);
	cr_expect_eq(got, row->want, "[%s] got %s, want %s", row->label, osh_phase_name(got),
		     osh_phase_name(row->want));
	hfree(st);
}

struct reason_row {
	char reason[32];
	int terminal;
};

ParameterizedTestParameters(phase, reason_is_terminal)
{
	static struct reason_row rows[] = {
		{"reconcilererror", 0},	     {"ReconcilerError", 0},	 {"DependenciesNotReady", 0},
		{"SupervisorNotConnected", 0}, {"Starting", 0},	 {"STARTING", 0},
		{"ContainerStarting", 0},    {"ContainerCreated", 0},	 {"HealthCheckStarting", 0},
		{"InspectFailed", 0},	     {"ContainerExited", 1},	 {"ContainerStopped", 1},
		{"ProcessExited", 1},	     {"Unschedulable", 1},	 {"HealthCheckFailed", 1},
		{"OOMKilled", 1},	     {"ContainerRestarting", 1}, {"Deleting", 1},
		{"", 1},		     {"Starting ", 1},		 {"Start", 1},
	};
	return cr_make_param_array(struct reason_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct reason_row *row, phase, reason_is_terminal)
{
	cr_expect_eq(osh_reason_is_terminal(row->reason), row->terminal, "[%s]", row->reason);
}

Test(phase, reason_null_is_terminal)
{
	cr_expect(osh_reason_is_terminal(NULL));
}

/* ---- stage C ---- */

struct fence_row {
	char label[48];
	Openshell__V1__SandboxPhase old, backend;
	struct cond c[MAX_CONDS];
	Openshell__V1__SandboxPhase want;
};

ParameterizedTestParameters(phase, stage_c)
{
	static struct fence_row rows[] = {
		/* old STOPPING */
		{"STOPPING + STOPPED", P_STOPPING, P_STOPPED, {{"Suspended", "True", "", ""}}, P_STOPPED},
		{"STOPPING + ContainerExited", P_STOPPING, P_ERROR, {{"Ready", "False", "ContainerExited", ""}}, P_STOPPED},
		{"STOPPING + containerstopped (any type)", P_STOPPING, P_PROV, {{"Running", "false", "containerstopped", ""}}, P_STOPPED},
		{"STOPPING + ContainerExited status True ignored", P_STOPPING, P_READY, {{"Exited", "True", "ContainerExited", ""}}, P_STOPPING},
		{"STOPPING + PodTerminating beats ERROR", P_STOPPING, P_ERROR,
		 {{"Suspended", "False", "PodTerminating", ""}, {"Ready", "False", "OOMKilled", ""}}, P_STOPPING},
		{"STOPPING + PodNotTerminated", P_STOPPING, P_PROV, {{"suspended", "FALSE", "podnotterminated", ""}}, P_STOPPING},
		{"STOPPING + stopped beats PodTerminating", P_STOPPING, P_ERROR,
		 {{"Suspended", "False", "PodTerminating", ""}, {"Ready", "False", "ContainerStopped", ""}}, P_STOPPED},
		{"STOPPING + ERROR", P_STOPPING, P_ERROR, {{"Ready", "False", "OOMKilled", ""}}, P_ERROR},
		{"STOPPING + READY", P_STOPPING, P_READY, {{"Ready", "True", "", ""}}, P_STOPPING},
		{"STOPPING + PROVISIONING", P_STOPPING, P_PROV, NOCONDS, P_STOPPING},
		{"STOPPING + DELETING", P_STOPPING, P_DEL, NOCONDS, P_STOPPING},
		{"STOPPING + UNKNOWN", P_STOPPING, P_UNK, NOCONDS, P_STOPPING},
		/* old STOPPED */
		{"STOPPED + READY", P_STOPPED, P_READY, {{"Ready", "True", "", ""}}, P_STOPPED},
		{"STOPPED + ERROR", P_STOPPED, P_ERROR, {{"Ready", "False", "OOMKilled", ""}}, P_STOPPED},
		{"STOPPED + PROVISIONING", P_STOPPED, P_PROV, NOCONDS, P_STOPPED},
		{"STOPPED + DELETING", P_STOPPED, P_DEL, NOCONDS, P_STOPPED},
		/* old STARTING */
		{"STARTING + READY", P_STARTING, P_READY, {{"Ready", "True", "", ""}}, P_READY},
		{"STARTING + ERROR", P_STARTING, P_ERROR, {{"Ready", "False", "ContainerExited", ""}}, P_ERROR},
		{"STARTING + PROVISIONING", P_STARTING, P_PROV, {{"Ready", "False", "ContainerStarting", ""}}, P_STARTING},
		{"STARTING + STOPPED", P_STARTING, P_STOPPED, {{"Suspended", "True", "", ""}}, P_STARTING},
		{"STARTING + DELETING", P_STARTING, P_DEL, NOCONDS, P_STARTING},
		{"STARTING + UNKNOWN", P_STARTING, P_UNK, NOCONDS, P_STARTING},
		/* frozen */
		{"ERROR + READY", P_ERROR, P_READY, {{"Ready", "True", "", ""}}, P_ERROR},
		{"DELETING + READY", P_DEL, P_READY, {{"Ready", "True", "", ""}}, P_DEL},
		/* no fence: backend wins */
		{"PROVISIONING + READY", P_PROV, P_READY, {{"Ready", "True", "", ""}}, P_READY},
		{"PROVISIONING + ERROR", P_PROV, P_ERROR, NOCONDS, P_ERROR},
		{"READY + PROVISIONING", P_READY, P_PROV, NOCONDS, P_PROV},
		{"READY + ERROR", P_READY, P_ERROR, NOCONDS, P_ERROR},
		{"READY + STOPPED", P_READY, P_STOPPED, NOCONDS, P_STOPPED},
		{"READY + DELETING", P_READY, P_DEL, NOCONDS, P_DEL},
		{"UNKNOWN + READY", P_UNK, P_READY, NOCONDS, P_READY},
		{"UNSPECIFIED + PROVISIONING", P_UNSPEC, P_PROV, NOCONDS, P_PROV},
	};
	return cr_make_param_array(struct fence_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct fence_row *row, phase, stage_c)
{
	Openshell__Compute__V1__DriverSandboxStatus *st = driver_status(0, row->c);
	Openshell__V1__SandboxPhase got = osh_phase_fence(row->old, row->backend, st);
	cr_expect_eq(got, row->want, "[%s] got %s, want %s", row->label, osh_phase_name(got),
		     osh_phase_name(row->want));
	hfree(st);
}

Test(phase, stage_c_null_status)
{
	cr_expect_eq(osh_phase_fence(P_STOPPING, P_PROV, NULL), P_STOPPING);
	cr_expect_eq(osh_phase_fence(P_STOPPING, P_STOPPED, NULL), P_STOPPED);
	cr_expect_eq(osh_phase_fence(P_READY, P_UNK, NULL), P_UNK);
}

/* ---- applying snapshots ---- */

struct apply_row {
	char label[56];
	Openshell__V1__SandboxPhase old;
	char ds_name[16];
	int has_status;
	int deleting;
	struct cond c[MAX_CONDS];
	int flags;
	int want_ret;
	Openshell__V1__SandboxPhase want_phase;
	char want_name[16];	    /* metadata.name after */
	int conds_from_driver;	    /* 1: conditions replaced by the snapshot's */
	int want_exit;		    /* -1000: exit_code unset */
};

#define NOEXIT (-1000)

ParameterizedTestParameters(phase, apply_snapshot)
{
	static struct apply_row rows[] = {
		/* ERROR is frozen: only the name is refreshed */
		{"ERROR + Ready=True, renamed", P_ERROR, "renamed", 1, 0, {{"Ready", "True", "", ""}}, 0,
		 1, P_ERROR, "renamed", 0, NOEXIT},
		{"ERROR + Ready=True, same name", P_ERROR, "demo", 1, 0, {{"Ready", "True", "", ""}}, 0,
		 0, P_ERROR, "demo", 0, NOEXIT},
		{"ERROR + empty ds name", P_ERROR, "", 1, 0, {{"Ready", "True", "", ""}}, 0, 0,
		 P_ERROR, "demo", 0, NOEXIT},
		{"ERROR + deleting", P_ERROR, "demo", 1, 1, NOCONDS, 0, 0, P_ERROR, "demo", 0, NOEXIT},
		{"ERROR + exited with code", P_ERROR, "demo", 1, 0,
		 {{"Ready", "False", "ContainerExited", "exit code 9"}}, 0, 0, P_ERROR, "demo", 0, NOEXIT},
		/* DELETING ignores snapshots entirely */
		{"DELETING + Ready=True", P_DEL, "renamed", 1, 0, {{"Ready", "True", "", ""}}, 0, 0,
		 P_DEL, "demo", 0, NOEXIT},
		{"DELETING + no status", P_DEL, "renamed", 0, 0, NOCONDS, 0, 0, P_DEL, "demo", 0, NOEXIT},
		{"DELETING bypass + deleting", P_DEL, "demo", 1, 1, {{"Ready", "False", "Deleting", ""}},
		 OSH_APPLY_BYPASS_DELETING_GUARD, 1, P_DEL, "demo", 1, NOEXIT},
		{"DELETING bypass + Ready=True", P_DEL, "demo", 1, 0, {{"Ready", "True", "", ""}},
		 OSH_APPLY_BYPASS_DELETING_GUARD, 1, P_READY, "demo", 1, NOEXIT},
		/* regular stage A + C through apply */
		{"PROVISIONING + Ready=True", P_PROV, "demo", 1, 0, {{"Ready", "True", "Running", ""}}, 0,
		 1, P_READY, "demo", 1, NOEXIT},
		{"PROVISIONING + transient", P_PROV, "demo", 1, 0,
		 {{"Ready", "False", "ContainerCreated", ""}}, 0, 1, P_PROV, "demo", 1, NOEXIT},
		{"READY + exited code 3", P_READY, "demo", 1, 0,
		 {{"Ready", "False", "ContainerExited", "container exited with exit code 3"}}, 0, 1,
		 P_ERROR, "demo", 1, 3},
		{"READY + exited code 0", P_READY, "demo", 1, 0,
		 {{"Ready", "False", "ContainerExited", "container exited with exit code 0"}}, 0, 1,
		 P_ERROR, "demo", 1, 0},
		{"READY + exited (lower-case reason)", P_READY, "demo", 1, 0,
		 {{"Ready", "false", "containerexited", "Exit code 137 (killed)"}}, 0, 1, P_ERROR, "demo",
		 1, 137},
		{"READY + exited without code", P_READY, "demo", 1, 0,
		 {{"Ready", "False", "ContainerExited", "container exited"}}, 0, 1, P_ERROR, "demo", 1,
		 NOEXIT},
		{"READY + OOMKilled with code (not ContainerExited)", P_READY, "demo", 1, 0,
		 {{"Ready", "False", "OOMKilled", "exit code 137"}}, 0, 1, P_ERROR, "demo", 1, NOEXIT},
		{"READY + exit code on a non-Ready condition", P_READY, "demo", 1, 0,
		 {{"Ready", "True", "", ""}, {"Exited", "False", "ContainerExited", "exit code 5"}}, 0, 1,
		 P_READY, "demo", 1, NOEXIT},
		{"STOPPING + ContainerExited code 143", P_STOPPING, "demo", 1, 0,
		 {{"Ready", "False", "ContainerExited", "container exited with exit code 143"}}, 0, 1,
		 P_STOPPED, "demo", 1, 143},
		{"STOPPING + Ready=True", P_STOPPING, "demo", 1, 0, {{"Ready", "True", "", ""}}, 0, 1,
		 P_STOPPING, "demo", 1, NOEXIT},
		{"STOPPED + Ready=True", P_STOPPED, "demo", 1, 0, {{"Ready", "True", "", ""}}, 0, 1,
		 P_STOPPED, "demo", 1, NOEXIT},
		{"STARTING + transient", P_STARTING, "demo", 1, 0,
		 {{"Ready", "False", "ContainerStarting", ""}}, 0, 1, P_STARTING, "demo", 1, NOEXIT},
		{"STARTING + Ready=True", P_STARTING, "demo", 1, 0, {{"Ready", "True", "", ""}}, 0, 1,
		 P_READY, "demo", 1, NOEXIT},
		{"READY + deleting", P_READY, "demo", 1, 1, NOCONDS, 0, 1, P_DEL, "demo", 1, NOEXIT},
		/* status absent: phase and status kept */
		{"READY + no status", P_READY, "demo", 0, 0, NOCONDS, 0, 0, P_READY, "demo", 0, NOEXIT},
		{"READY + no status, renamed", P_READY, "renamed", 0, 0, NOCONDS, 0, 1, P_READY,
		 "renamed", 0, NOEXIT},
		{"STOPPING + no status", P_STOPPING, "demo", 0, 0, NOCONDS, 0, 0, P_STOPPING, "demo", 0,
		 NOEXIT},
		{"PROVISIONING + no status, empty name", P_PROV, "", 0, 0, NOCONDS, 0, 0, P_PROV, "demo",
		 0, NOEXIT},
	};
	return cr_make_param_array(struct apply_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct apply_row *row, phase, apply_snapshot)
{
	Openshell__V1__Sandbox *sb = stored(row->old, "demo");
	Openshell__Compute__V1__DriverSandbox *ds =
		hmsg(&openshell__compute__v1__driver_sandbox__descriptor);
	ds->id = hs(sb->metadata->id);
	ds->name = hs(row->ds_name);
	if (row->has_status) {
		ds->status = driver_status(row->deleting, row->c);
		ds->status->instance_id = hs("container-42");
		ds->status->agent_fd = hs("fd-a");
	}
	Openshell__V1__Sandbox *before = (Openshell__V1__Sandbox *)osh_message_dup(&sb->base);

	int ret = osh_sandbox_apply_driver_snapshot_ex(sb, ds, row->flags);
	cr_expect_eq(ret, row->want_ret, "[%s] returned %d", row->label, ret);
	cr_assert(sb->status);
	cr_expect_eq(sb->status->phase, row->want_phase, "[%s] phase %s, want %s", row->label,
		     osh_phase_name(sb->status->phase), osh_phase_name(row->want_phase));
	cr_expect_str_eq(sb->metadata->name, row->want_name, "[%s]", row->label);

	if (row->conds_from_driver) {
		cr_expect_eq(sb->status->n_conditions, ds->status->n_conditions, "[%s]", row->label);
		for (size_t i = 0; i < sb->status->n_conditions; i++) {
			cr_expect_str_eq(sb->status->conditions[i]->type, ds->status->conditions[i]->type);
			cr_expect_str_eq(sb->status->conditions[i]->reason,
					 ds->status->conditions[i]->reason);
			cr_expect_str_eq(sb->status->conditions[i]->message,
					 ds->status->conditions[i]->message);
			cr_expect_str_eq(sb->status->conditions[i]->last_transition_time,
					 "2026-01-01T00:00:00Z");
		}
		cr_expect_str_eq(sb->status->agent_pod, "container-42", "[%s]", row->label);
		cr_expect_str_eq(sb->status->agent_fd, "fd-a");
		/* sandbox_name empty in the snapshot -> filled from the DS name */
		cr_expect_str_eq(sb->status->sandbox_name, row->ds_name);
	} else {
		/* status untouched apart from what the row says */
		cr_expect_eq(sb->status->n_conditions, 1, "[%s]", row->label);
		cr_expect_str_eq(sb->status->conditions[0]->reason, "Stored", "[%s]", row->label);
		cr_expect_str_eq(sb->status->agent_pod, "old-pod", "[%s]", row->label);
	}
	/* always kept */
	cr_expect_str_eq(sb->status->main_process_instance_id, "mp-1", "[%s]", row->label);
	cr_expect_eq(sb->status->current_policy_version, 3, "[%s]", row->label);
	cr_expect_eq(sb->metadata->resource_version, 7);
	if (row->want_exit == NOEXIT) {
		cr_expect_eq(sb->status->opt_exit_code_case,
			     OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE__NOT_SET, "[%s]", row->label);
	} else {
		cr_expect_eq(sb->status->opt_exit_code_case,
			     OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE, "[%s]", row->label);
		cr_expect_eq(sb->status->exit_code, row->want_exit, "[%s] exit %d", row->label,
			     sb->status->exit_code);
	}
	/* ignored snapshots leave the tree byte-identical */
	if (!ret) {
		size_t a = protobuf_c_message_get_packed_size(&sb->base);
		size_t b = protobuf_c_message_get_packed_size(&before->base);
		cr_expect_eq(a, b, "[%s] unchanged tree", row->label);
	}
	/* applying the same snapshot twice changes nothing the second time */
	if (ret && !(row->old == P_ERROR))
		cr_expect_eq(osh_sandbox_apply_driver_snapshot_ex(sb, ds, row->flags), 0,
			     "[%s] second apply", row->label);
	hfree(before);
	hfree(ds);
	hfree(sb);
}

Test(phase, apply_keeps_stored_exit_code)
{
	Openshell__V1__Sandbox *sb = stored(P_READY, "demo");
	sb->status->opt_exit_code_case = OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE;
	sb->status->exit_code = 12;
	Openshell__Compute__V1__DriverSandbox *ds =
		hmsg(&openshell__compute__v1__driver_sandbox__descriptor);
	ds->name = hs("demo");
	struct cond c[MAX_CONDS] = {{"Ready", "True", "", ""}};
	ds->status = driver_status(0, c);
	ds->status->sandbox_name = hs("from-driver");
	cr_expect_eq(osh_sandbox_apply_driver_snapshot(sb, ds), 1);
	cr_expect_eq(sb->status->phase, P_READY);
	cr_expect_eq(sb->status->exit_code, 12);
	cr_expect_eq(sb->status->opt_exit_code_case,
		     OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE);
	cr_expect_str_eq(sb->status->sandbox_name, "from-driver");
	hfree(ds);
	hfree(sb);
}

Test(phase, apply_creates_status_and_metadata)
{
	Openshell__V1__Sandbox *sb = hmsg(&openshell__v1__sandbox__descriptor);
	Openshell__Compute__V1__DriverSandbox *ds =
		hmsg(&openshell__compute__v1__driver_sandbox__descriptor);
	ds->name = hs("fresh");
	cr_expect_eq(osh_sandbox_apply_driver_snapshot(sb, ds), 1);
	cr_assert(sb->status && sb->metadata);
	cr_expect_eq(sb->status->phase, P_UNSPEC);
	cr_expect_str_eq(sb->status->sandbox_name, "fresh");
	cr_expect_str_eq(sb->metadata->name, "fresh");
	cr_expect_eq(osh_sandbox_apply_driver_snapshot(NULL, ds), 0);
	cr_expect_eq(osh_sandbox_apply_driver_snapshot(sb, NULL), 0);
	hfree(ds);
	hfree(sb);
}

/* ---- exit code parsing ---- */

struct exit_row {
	char msg[48];
	int found;
	int code;
};

ParameterizedTestParameters(phase, parse_exit_code)
{
	static struct exit_row rows[] = {
		{"container exited with exit code 3", 1, 3},
		{"exit code 0", 1, 0},
		{"Exit Code: 137", 1, 137},
		{"exit code=2; restarting", 1, 2},
		{"exit code -1", 1, -1},
		{"exit code 2147483647", 1, 2147483647},
		{"exit code 2147483648", 0, 0},
		{"exit code 99999999999999999999", 0, 0},
		{"exit code", 0, 0},
		{"exit code abc", 0, 0},
		{"exit code -", 0, 0},
		{"exitcode 3", 0, 0},
		{"exit code x then exit code 4", 1, 4},
		{"", 0, 0},
	};
	return cr_make_param_array(struct exit_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct exit_row *row, phase, parse_exit_code)
{
	int code = -77;
	int found = osh_parse_exit_code(row->msg, &code);
	cr_expect_eq(found, row->found, "[%s]", row->msg);
	if (row->found)
		cr_expect_eq(code, row->code, "[%s] code %d", row->msg, code);
	else
		cr_expect_eq(code, -77, "[%s] code touched", row->msg);
}

Test(phase, parse_exit_code_null)
{
	int code = -77;
	cr_expect_not(osh_parse_exit_code(NULL, &code));
	cr_expect_eq(code, -77);
}

/* ---- set_condition ---- */

static int is_rfc3339(const char *s)
{
	regex_t re;
	regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", REG_EXTENDED | REG_NOSUB);
	int ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

Test(phase, set_condition_upserts)
{
	Openshell__V1__Sandbox *sb = stored(P_READY, "demo");
	Openshell__V1__SandboxStatus *st = sb->status;
	st->conditions = realloc(st->conditions, 3 * sizeof(*st->conditions));
	st->conditions[1] = pub_cond("Scheduled", "True", "", "");
	st->conditions[2] = pub_cond("Ready", "True", "Second", "second ready");
	st->n_conditions = 3;

	osh_sandbox_set_condition(sb, "Ready", "False", "Stopping", "Sandbox stop requested");
	cr_assert_eq(st->n_conditions, 3);
	cr_expect_str_eq(st->conditions[0]->type, "Ready");
	cr_expect_str_eq(st->conditions[0]->status, "False");
	cr_expect_str_eq(st->conditions[0]->reason, "Stopping");
	cr_expect_str_eq(st->conditions[0]->message, "Sandbox stop requested");
	cr_expect(is_rfc3339(st->conditions[0]->last_transition_time), "%s",
		  st->conditions[0]->last_transition_time);
	cr_expect_str_eq(st->conditions[2]->reason, "Second", "only the first match is replaced");

	osh_sandbox_set_condition(sb, "Stopped", "True", NULL, "");
	cr_assert_eq(st->n_conditions, 4);
	cr_expect_str_eq(st->conditions[3]->type, "Stopped");
	cr_expect_str_eq(st->conditions[3]->reason, "");
	cr_expect(st->conditions[3]->reason == protobuf_c_empty_string);

	/* type match is exact */
	osh_sandbox_set_condition(sb, "ready", "True", "x", "y");
	cr_expect_eq(st->n_conditions, 5);
	hfree(sb);
}

Test(phase, set_condition_creates_status)
{
	Openshell__V1__Sandbox *sb = hmsg(&openshell__v1__sandbox__descriptor);
	osh_sandbox_set_condition(sb, "Ready", "False", "Starting", "Sandbox start requested");
	cr_assert(sb->status);
	cr_assert_eq(sb->status->n_conditions, 1);
	cr_expect_str_eq(sb->status->conditions[0]->reason, "Starting");
	osh_sandbox_set_condition(NULL, "Ready", "True", "", "");
	hfree(sb);
}

Test(phase, phase_names)
{
	cr_expect_str_eq(osh_phase_name(P_UNSPEC), "UNSPECIFIED");
	cr_expect_str_eq(osh_phase_name(P_PROV), "PROVISIONING");
	cr_expect_str_eq(osh_phase_name(P_READY), "READY");
	cr_expect_str_eq(osh_phase_name(P_ERROR), "ERROR");
	cr_expect_str_eq(osh_phase_name(P_DEL), "DELETING");
	cr_expect_str_eq(osh_phase_name(P_UNK), "UNKNOWN");
	cr_expect_str_eq(osh_phase_name(P_STOPPING), "STOPPING");
	cr_expect_str_eq(osh_phase_name(P_STOPPED), "STOPPED");
	cr_expect_str_eq(osh_phase_name(P_STARTING), "STARTING");
	cr_expect_str_eq(osh_phase_name((Openshell__V1__SandboxPhase)42), "UNRECOGNIZED");
}

/* ---- 1.6 translation ---- */

/* Compact text form of a Struct/Value for comparisons: {k:v,...} in order. */
static void value_text(const Google__Protobuf__Value *v, char *out, size_t n);

static void struct_text(const Google__Protobuf__Struct *s, char *out, size_t n)
{
	if (!s) {
		snprintf(out, n, "-");
		return;
	}
	size_t o = (size_t)snprintf(out, n, "{");
	for (size_t i = 0; i < s->n_fields && o < n; i++) {
		o += (size_t)snprintf(out + o, n - o, "%s%s:", i ? "," : "", s->fields[i]->key);
		if (o < n)
			value_text(s->fields[i]->value, out + o, n - o);
		o = strlen(out);
	}
	if (o < n)
		snprintf(out + o, n - o, "}");
}

static void value_text(const Google__Protobuf__Value *v, char *out, size_t n)
{
	if (!v) {
		snprintf(out, n, "?");
		return;
	}
	switch (v->kind_case) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE: snprintf(out, n, "null"); break;
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE: snprintf(out, n, "%g", v->number_value); break;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE: snprintf(out, n, "'%s'", v->string_value); break;
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE: snprintf(out, n, "%s", v->bool_value ? "true" : "false"); break;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE: struct_text(v->struct_value, out, n); break;
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE: {
		size_t o = (size_t)snprintf(out, n, "[");
		for (size_t i = 0; v->list_value && i < v->list_value->n_values && o < n; i++) {
			if (i)
				o += (size_t)snprintf(out + o, n - o, ",");
			if (o < n)
				value_text(v->list_value->values[i], out + o, n - o);
			o = strlen(out);
		}
		if (o < n)
			snprintf(out + o, n - o, "]");
		break;
	}
	default: snprintf(out, n, "unset"); break;
	}
}

/* Struct builder: a tiny parser for the same text form (no spaces, keys
 * without quotes and up to ':', strings in single quotes, numbers, true/false/null,
 * nested {..} and [..]). */
static Google__Protobuf__Value *parse_value(const char **p);

static Google__Protobuf__Struct *parse_struct(const char **p)
{
	Google__Protobuf__Struct *s = hmsg(&google__protobuf__struct__descriptor);
	cr_assert_eq(**p, '{');
	(*p)++;
	while (**p && **p != '}') {
		const char *k = *p;
		while (**p != ':')
			(*p)++;
		Google__Protobuf__Struct__FieldsEntry *e =
			hmsg(&google__protobuf__struct__fields_entry__descriptor);
		e->key = strndup(k, (size_t)(*p - k));
		(*p)++;
		e->value = parse_value(p);
		s->fields = realloc(s->fields, (s->n_fields + 1) * sizeof(*s->fields));
		s->fields[s->n_fields++] = e;
		if (**p == ',')
			(*p)++;
	}
	(*p)++;
	return s;
}

static Google__Protobuf__Value *parse_value(const char **p)
{
	Google__Protobuf__Value *v = hmsg(&google__protobuf__value__descriptor);
	if (**p == '{') {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		v->struct_value = parse_struct(p);
	} else if (**p == '[') {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		v->list_value = hmsg(&google__protobuf__list_value__descriptor);
		(*p)++;
		while (**p && **p != ']') {
			Google__Protobuf__ListValue *l = v->list_value;
			l->values = realloc(l->values, (l->n_values + 1) * sizeof(*l->values));
			l->values[l->n_values++] = parse_value(p);
			if (**p == ',')
				(*p)++;
		}
		(*p)++;
	} else if (**p == '\'') {
		const char *b = ++(*p);
		while (**p != '\'')
			(*p)++;
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		v->string_value = strndup(b, (size_t)(*p - b));
		(*p)++;
	} else if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		v->bool_value = **p == 't';
		*p += v->bool_value ? 4 : 5;
	} else if (strncmp(*p, "null", 4) == 0) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		*p += 4;
	} else {
		char *end;
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v->number_value = strtod(*p, &end);
		*p = end;
	}
	return v;
}

static Google__Protobuf__Struct *st_of(const char *text)
{
	if (!text || !*text)
		return NULL;
	const char *p = text;
	return parse_struct(&p);
}

/* A stored public sandbox with a template built from the row. */
static Openshell__V1__Sandbox *public_with_template(const char *resources, const char *driver_config,
						    const char *runtime_class, int user_ns,
						    const char *ann_k, const char *ann_v)
{
	Openshell__V1__Sandbox *sb = stored(P_READY, "demo");
	sb->spec = hmsg(&openshell__v1__sandbox_spec__descriptor);
	Openshell__V1__SandboxTemplate *t = hmsg(&openshell__v1__sandbox_template__descriptor);
	sb->spec->template_ = t;
	t->image = hs("alpine:3");
	t->resources = st_of(resources);
	t->driver_config = st_of(driver_config);
	t->runtime_class_name = hs(runtime_class);
	if (user_ns >= 0) {
		t->opt_user_namespaces_case =
			OPENSHELL__V1__SANDBOX_TEMPLATE__OPT_USER_NAMESPACES_USER_NAMESPACES;
		t->user_namespaces = user_ns;
	}
	if (ann_k && *ann_k)
		map_add(&t->n_annotations, &t->annotations,
			&openshell__v1__sandbox_template__annotations_entry__descriptor, ann_k, ann_v);
	return sb;
}

struct resources_row {
	char label[40];
	char resources[96];				   /* "" = absent */
	int typed;					   /* 0: typed message omitted */
	char cpu_req[8], cpu_lim[8], mem_req[8], mem_lim[8];
	char platform_config[64];			   /* text form or "-" */
};

ParameterizedTestParameters(translate, resources)
{
	static struct resources_row rows[] = {
		{"absent", "", 0, "", "", "", "", "-"},
		{"empty", "{}", 0, "", "", "", "", "-"},
		{"all four", "{requests:{cpu:'250m',memory:'256Mi'},limits:{cpu:'1',memory:'1Gi'}}", 1,
		 "250m", "1", "256Mi", "1Gi", "-"},
		{"limits only", "{limits:{cpu:'2'}}", 1, "", "2", "", "", "-"},
		{"requests memory only", "{requests:{memory:'64Mi'}}", 1, "", "", "64Mi", "", "-"},
		{"numbers do not count", "{limits:{cpu:2,memory:'1Gi'}}", 1, "", "", "", "1Gi",
		 "{resources_raw:{limits:{cpu:2}}}"},
		{"only numbers", "{requests:{cpu:1}}", 0, "", "", "", "",
		 "{resources_raw:{requests:{cpu:1}}}"},
		{"extra resource kept raw", "{limits:{cpu:'1',nvidia.com/gpu:'1'}}", 1, "", "1", "", "",
		 "{resources_raw:{limits:{nvidia.com/gpu:'1'}}}"},
		{"other section kept raw", "{claims:['a'],requests:{cpu:'1'}}", 1, "1", "", "", "",
		 "{resources_raw:{claims:['a']}}"},
		{"non-struct section kept raw", "{limits:'big'}", 0, "", "", "", "",
		 "{resources_raw:{limits:'big'}}"},
		{"empty section dropped", "{limits:{},requests:{memory:'1Gi'}}", 1, "", "", "1Gi", "", "-"},
		{"duplicate key: last wins", "{limits:{cpu:'1',cpu:'3'}}", 1, "", "3", "", "", "-"},
	};
	return cr_make_param_array(struct resources_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct resources_row *row, translate, resources)
{
	char err[256] = "", text[1024];
	Openshell__V1__Sandbox *sb = public_with_template(row->resources, "", "", -1, "", "");
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)),
		     OPENSHELL_STATUS_OK, "%s", err);
	const Openshell__Compute__V1__DriverResourceRequirements *r = ds->spec->template_->resources;
	if (!row->typed) {
		cr_expect_null(r, "[%s] typed resources should be omitted", row->label);
	} else {
		cr_assert_not_null(r, "[%s]", row->label);
		cr_expect_str_eq(r->cpu_request, row->cpu_req, "[%s]", row->label);
		cr_expect_str_eq(r->cpu_limit, row->cpu_lim, "[%s]", row->label);
		cr_expect_str_eq(r->memory_request, row->mem_req, "[%s]", row->label);
		cr_expect_str_eq(r->memory_limit, row->mem_lim, "[%s]", row->label);
	}
	struct_text(ds->spec->template_->platform_config, text, sizeof(text));
	cr_expect_str_eq(text, row->platform_config, "[%s]", row->label);
	hfree(ds);
	hfree(sb);
}

struct platform_row {
	char label[32];
	char runtime_class[16];
	int user_ns; /* -1 unset */
	char ann_k[8], ann_v[8]; /* ann_k "" = no annotation */
	char resources[32];
	char want[128];
};

ParameterizedTestParameters(translate, platform_config)
{
	static struct platform_row rows[] = {
		{"nothing", "", -1, "", "", "", "-"},
		{"runtime class", "gvisor", -1, "", "", "", "{runtime_class_name:'gvisor'}"},
		{"user_namespaces true", "", 1, "", "", "", "{host_users:false}"},
		{"user_namespaces false", "", 0, "", "", "", "{host_users:true}"},
		{"annotations", "", -1, "team", "agents", "", "{annotations:{team:'agents'}}"},
		{"everything (sorted keys)", "kata", 1, "a", "", "{limits:{x:1}}",
		 "{annotations:{a:''},host_users:false,resources_raw:{limits:{x:1}},runtime_class_name:'kata'}"},
	};
	return cr_make_param_array(struct platform_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct platform_row *row, translate, platform_config)
{
	char err[256] = "", text[1024];
	Openshell__V1__Sandbox *sb = public_with_template(row->resources, NULL, row->runtime_class,
							  row->user_ns, row->ann_k, row->ann_v);
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)),
		     OPENSHELL_STATUS_OK, "%s", err);
	struct_text(ds->spec->template_->platform_config, text, sizeof(text));
	cr_expect_str_eq(text, row->want, "[%s]", row->label);
	hfree(ds);
	hfree(sb);
}

struct dc_row {
	char label[32];
	char driver_config[64];
	char driver_name[16]; /* "" stands for NULL (no configured name) */
	int code;
	char want[64]; /* text form, "-" for none, or error message */
};

ParameterizedTestParameters(translate, driver_config)
{
	static struct dc_row rows[] = {
		{"absent", "", "docker", OPENSHELL_STATUS_OK, "-"},
		{"selected", "{docker:{network:'none',cpus:2},podman:'x'}", "docker", OPENSHELL_STATUS_OK,
		 "{network:'none',cpus:2}"},
		{"empty object", "{docker:{}}", "docker", OPENSHELL_STATUS_OK, "{}"},
		{"other driver only", "{podman:{a:1}}", "docker", OPENSHELL_STATUS_OK, "-"},
		{"other keys never validated", "{podman:'not an object'}", "docker", OPENSHELL_STATUS_OK, "-"},
		{"exact key", "{Docker:{a:1}}", "docker", OPENSHELL_STATUS_OK, "-"},
		{"no configured name", "{docker:{a:1}}", "", OPENSHELL_STATUS_OK, "-"},
		{"string", "{docker:'x'}", "docker", OPENSHELL_STATUS_INVALID_ARGUMENT,
		 "template.driver_config.docker must be an object"},
		{"number", "{vm:3}", "vm", OPENSHELL_STATUS_INVALID_ARGUMENT,
		 "template.driver_config.vm must be an object"},
		{"list", "{docker:[{a:1}]}", "docker", OPENSHELL_STATUS_INVALID_ARGUMENT,
		 "template.driver_config.docker must be an object"},
		{"null", "{docker:null}", "docker", OPENSHELL_STATUS_INVALID_ARGUMENT,
		 "template.driver_config.docker must be an object"},
		{"bool", "{docker:true}", "docker", OPENSHELL_STATUS_INVALID_ARGUMENT,
		 "template.driver_config.docker must be an object"},
	};
	return cr_make_param_array(struct dc_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct dc_row *row, translate, driver_config)
{
	char err[256] = "", text[1024];
	Openshell__V1__Sandbox *sb = public_with_template("", row->driver_config, "", -1, "", "");
	Openshell__Compute__V1__DriverSandbox *ds = (void *)1;
	int rc = osh_driver_sandbox_from_public(sb, row->driver_name[0] ? row->driver_name : NULL,
						&ds, err, sizeof(err));
	cr_expect_eq(rc, row->code, "[%s] rc %d (%s)", row->label, rc, err);
	if (rc == OPENSHELL_STATUS_OK) {
		struct_text(ds->spec->template_->driver_config, text, sizeof(text));
		cr_expect_str_eq(text, row->want, "[%s]", row->label);
		hfree(ds);
	} else {
		cr_expect_null(ds);
		cr_expect_str_eq(err, row->want, "[%s]", row->label);
	}
	hfree(sb);
}

Test(translate, field_mapping)
{
	char err[256] = "";
	Openshell__V1__Sandbox *sb = stored(P_DEL, "demo");
	Openshell__V1__SandboxSpec *s = hmsg(&openshell__v1__sandbox_spec__descriptor);
	sb->spec = s;
	s->log_level = hs("debug");
	map_add(&s->n_environment, &s->environment,
		&openshell__v1__sandbox_spec__environment_entry__descriptor, "FOO", "bar");
	map_add(&s->n_environment, &s->environment,
		&openshell__v1__sandbox_spec__environment_entry__descriptor, "EMPTY", "");
	s->command = malloc(2 * sizeof(char *));
	s->command[0] = hs("sh");
	s->command[1] = strdup(""); /* repeated strings are always malloc'd */
	s->n_command = 2;
	s->tty = 1;
	s->providers = malloc(sizeof(char *));
	s->providers[0] = hs("not-sent");
	s->n_providers = 1;
	s->resource_requirements = hmsg(&openshell__v1__resource_requirements__descriptor);
	s->resource_requirements->gpu = hmsg(&openshell__v1__gpu_resource_requirements__descriptor);
	s->resource_requirements->gpu->opt_count_case =
		OPENSHELL__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT;
	s->resource_requirements->gpu->count = 2;
	Openshell__V1__SandboxTemplate *t = hmsg(&openshell__v1__sandbox_template__descriptor);
	s->template_ = t;
	t->image = hs("busybox:1");
	t->agent_socket = hs("/run/agent.sock");
	map_add(&t->n_labels, &t->labels, &openshell__v1__sandbox_template__labels_entry__descriptor,
		"app", "web");
	map_add(&t->n_environment, &t->environment,
		&openshell__v1__sandbox_template__environment_entry__descriptor, "TZ", "UTC");
	sb->status->agent_fd = hs("afd");
	sb->status->sandbox_fd = hs("sfd");
	sb->status->opt_exit_code_case = OPENSHELL__V1__SANDBOX_STATUS__OPT_EXIT_CODE_EXIT_CODE;
	sb->status->exit_code = 1;
	map_add(&sb->metadata->n_labels, &sb->metadata->labels,
		&openshell__datamodel__v1__object_meta__labels_entry__descriptor, "team", "x");

	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)),
		     OPENSHELL_STATUS_OK, "%s", err);
	cr_expect_str_eq(ds->id, "0b5a7c1e-0000-4000-8000-000000000001");
	cr_expect_str_eq(ds->name, "demo");
	cr_expect_str_eq(ds->workspace, "default");
	cr_expect_str_eq(ds->namespace_, "");
	cr_assert_not_null(ds->spec);
	cr_expect_str_eq(ds->spec->log_level, "debug");
	cr_assert_eq(ds->spec->n_environment, 2);
	cr_expect_str_eq(ds->spec->environment[0]->key, "FOO");
	cr_expect_str_eq(ds->spec->environment[0]->value, "bar");
	cr_expect_str_eq(ds->spec->environment[1]->key, "EMPTY");
	cr_expect_str_eq(ds->spec->environment[1]->value, "");
	cr_assert_eq(ds->spec->n_command, 2);
	cr_expect_str_eq(ds->spec->command[1], "");
	cr_expect(ds->spec->tty);
	cr_expect_str_eq(ds->spec->sandbox_token, "");
	cr_assert_not_null(ds->spec->resource_requirements);
	cr_assert_not_null(ds->spec->resource_requirements->gpu);
	cr_expect_eq(ds->spec->resource_requirements->gpu->opt_count_case,
		     OPENSHELL__COMPUTE__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT);
	cr_expect_eq(ds->spec->resource_requirements->gpu->count, 2);
	const Openshell__Compute__V1__DriverSandboxTemplate *dt = ds->spec->template_;
	cr_assert_not_null(dt);
	cr_expect_str_eq(dt->image, "busybox:1");
	cr_expect_str_eq(dt->agent_socket_path, "/run/agent.sock");
	cr_assert_eq(dt->n_labels, 1);
	cr_expect_str_eq(dt->labels[0]->key, "app");
	cr_expect_str_eq(dt->labels[0]->value, "web");
	cr_assert_eq(dt->n_environment, 1);
	cr_expect_str_eq(dt->environment[0]->value, "UTC");
	cr_expect_null(dt->resources);
	cr_expect_null(dt->platform_config);
	cr_expect_null(dt->driver_config);
	/* status */
	cr_assert_not_null(ds->status);
	cr_expect_str_eq(ds->status->sandbox_name, "demo");
	cr_expect_str_eq(ds->status->instance_id, "old-pod");
	cr_expect_str_eq(ds->status->agent_fd, "afd");
	cr_expect_str_eq(ds->status->sandbox_fd, "sfd");
	cr_expect(ds->status->deleting);
	cr_assert_eq(ds->status->n_conditions, 1);
	cr_expect_str_eq(ds->status->conditions[0]->type, "Ready");
	cr_expect_str_eq(ds->status->conditions[0]->status, "False");
	cr_expect_str_eq(ds->status->conditions[0]->reason, "Stored");
	cr_expect_str_eq(ds->status->conditions[0]->message, "stored condition");
	cr_expect_str_eq(ds->status->conditions[0]->last_transition_time, "2025-12-31T00:00:00Z");

	/* the result round-trips through the wire (a well-formed heap tree) */
	ProtobufCMessage *copy = osh_message_dup(&ds->base);
	cr_expect_not_null(copy);
	hfree(copy);
	hfree(ds);
	hfree(sb);
}

struct gpu_row {
	char label[40];
	int has_rr, has_gpu, has_count;
	uint32_t count;
};

ParameterizedTestParameters(translate, gpu)
{
	static struct gpu_row rows[] = {
		{"no resource_requirements", 0, 0, 0, 0},
		{"resource_requirements without gpu", 1, 0, 0, 0},
		{"gpu without count", 1, 1, 0, 0},
		{"gpu count 0 (presence kept)", 1, 1, 1, 0},
		{"gpu count 4", 1, 1, 1, 4},
	};
	return cr_make_param_array(struct gpu_row, rows, NELEM(rows), NULL);
}

ParameterizedTest(struct gpu_row *row, translate, gpu)
{
	char err[128];
	Openshell__V1__Sandbox *sb = stored(P_READY, "demo");
	sb->spec = hmsg(&openshell__v1__sandbox_spec__descriptor);
	if (row->has_rr) {
		sb->spec->resource_requirements = hmsg(&openshell__v1__resource_requirements__descriptor);
		if (row->has_gpu) {
			Openshell__V1__GpuResourceRequirements *g =
				hmsg(&openshell__v1__gpu_resource_requirements__descriptor);
			if (row->has_count) {
				g->opt_count_case = OPENSHELL__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT;
				g->count = row->count;
			}
			sb->spec->resource_requirements->gpu = g;
		}
	}
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)), 0);
	const Openshell__Compute__V1__ResourceRequirements *rr = ds->spec->resource_requirements;
	cr_expect_eq(rr != NULL, row->has_rr, "[%s]", row->label);
	if (rr) {
		cr_expect_eq(rr->gpu != NULL, row->has_gpu, "[%s]", row->label);
		if (rr->gpu) {
			cr_expect_eq(rr->gpu->opt_count_case ==
					     OPENSHELL__COMPUTE__V1__GPU_RESOURCE_REQUIREMENTS__OPT_COUNT_COUNT,
				     row->has_count, "[%s]", row->label);
			cr_expect_eq(rr->gpu->count, row->count, "[%s]", row->label);
		}
	}
	hfree(ds);
	hfree(sb);
}

Test(translate, minimal_sandbox)
{
	char err[128];
	Openshell__V1__Sandbox *sb = hmsg(&openshell__v1__sandbox__descriptor);
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)), 0);
	cr_expect_str_eq(ds->id, "");
	cr_expect_null(ds->spec);
	cr_expect_null(ds->status);
	hfree(ds);
	cr_expect_eq(osh_driver_sandbox_from_public(NULL, "docker", &ds, err, sizeof(err)),
		     OPENSHELL_STATUS_INVALID_ARGUMENT);
	cr_expect_null(ds);
	hfree(sb);
}

Test(translate, not_deleting_flag)
{
	char err[128];
	Openshell__V1__Sandbox *sb = stored(P_STOPPING, "demo");
	Openshell__Compute__V1__DriverSandbox *ds = NULL;
	cr_assert_eq(osh_driver_sandbox_from_public(sb, "docker", &ds, err, sizeof(err)), 0);
	cr_expect_not(ds->status->deleting);
	hfree(ds);
	hfree(sb);
}
