/* phase.h - sandbox phase derivation and driver <-> public translation
 * (BEHAVIOR 1.6 and 1.9, with the section 0 adaptation: there is no in-sandbox
 * supervisor, so stage B of 1.9 collapses to "backend phase is public phase").
 *
 * All functions are pure apart from reading the clock and are thread-safe on
 * distinct objects. Message trees are heap trees in which every pointer is
 * individually malloc'd (freed with protobuf_c_message_free_unpacked(m, NULL));
 * functions that modify a tree free what they replace and malloc what they
 * insert. Unset strings are protobuf_c_empty_string.
 */
#ifndef OSH_GATEWAY_PHASE_H
#define OSH_GATEWAY_PHASE_H

#include <stddef.h>

#include "compute_driver.pb-c.h"
#include "openshell.pb-c.h"

/* Stage A of 1.9: the backend phase of a driver status. NULL -> UNKNOWN;
 * deleting -> DELETING; any Suspended(type, case-insensitive)=True -> STOPPED;
 * first condition of type exactly "Ready": True -> READY, False -> ERROR when
 * the reason is terminal else PROVISIONING, other status -> PROVISIONING;
 * no Ready condition -> PROVISIONING. Status strings compare case-insensitively. */
Openshell__V1__SandboxPhase
osh_phase_from_driver_status(const Openshell__Compute__V1__DriverSandboxStatus *st);

/* 1 unless reason is one of the transient reasons (case-insensitive):
 * ReconcilerError, DependenciesNotReady, SupervisorNotConnected, Starting,
 * ContainerStarting, ContainerCreated, HealthCheckStarting, InspectFailed.
 * NULL or "" is terminal. */
int osh_reason_is_terminal(const char *reason);

/* Stage C of 1.9: the phase to store given the stored phase and the backend
 * phase (after the collapsed stage B) of a snapshot whose status is st (may be
 * NULL). old STOPPING -> STOPPED when backend is STOPPED or any condition has
 * status False and reason ContainerExited/ContainerStopped; stays STOPPING when
 * a Suspended/False condition has reason PodTerminating/PodNotTerminated;
 * otherwise STOPPING unless backend is ERROR. old STOPPED -> STOPPED. old
 * STARTING -> STARTING unless backend is READY or ERROR. For completeness, old
 * ERROR -> ERROR and old DELETING -> DELETING (apply_snapshot never asks for
 * these). Any other old phase -> backend. */
Openshell__V1__SandboxPhase
osh_phase_fence(Openshell__V1__SandboxPhase old_phase, Openshell__V1__SandboxPhase backend,
		const Openshell__Compute__V1__DriverSandboxStatus *st);

/* Flags for osh_sandbox_apply_driver_snapshot_ex(). */
#define OSH_APPLY_BYPASS_DELETING_GUARD 1 /* apply even when stored phase is DELETING (1.10) */

/* Apply one driver snapshot to a stored Sandbox (heap tree, modified in place)
 * per 1.9:
 *  - stored DELETING: ignored (returns 0), unless _ex with
 *    OSH_APPLY_BYPASS_DELETING_GUARD, then the phase is the backend phase;
 *  - stored ERROR: frozen; only metadata.name is refreshed from ds->name;
 *  - snapshot with status: status rebuilt from the driver status (sandbox_name,
 *    filled from ds->name when empty; agent_pod <- instance_id; agent_fd;
 *    sandbox_fd; conditions copied 1:1), keeping the stored
 *    main_process_instance_id, exit_code and current_policy_version; phase =
 *    fence(old, stage A);
 *  - snapshot without status: stored status and phase kept (sandbox_name
 *    filled when empty);
 *  - metadata.name <- ds->name when ds->name is non-empty;
 *  - exit code: when the first Ready condition of the snapshot is
 *    False/ContainerExited (case-insensitive) and its message contains
 *    "exit code N" (e.g. "container exited with exit code 3"), status.exit_code
 *    is set to N. This is how this project's drivers report process exits
 *    (upstream learns it from its supervisor instead).
 * sb->status is created when absent (except in the ignored cases).
 * Returns 1 when the sandbox changed and should be written, 0 when the
 * snapshot was ignored or changed nothing. */
int osh_sandbox_apply_driver_snapshot(Openshell__V1__Sandbox *sb,
				      const Openshell__Compute__V1__DriverSandbox *ds);
int osh_sandbox_apply_driver_snapshot_ex(Openshell__V1__Sandbox *sb,
					 const Openshell__Compute__V1__DriverSandbox *ds, int flags);

/* Parse "exit code N" out of a condition message. Returns 1 and sets *code
 * when found and N fits an int32. */
int osh_parse_exit_code(const char *message, int *code);

/* Upsert a condition of the given type in sb->status (created when absent):
 * replaces the first condition with exactly that type, else appends.
 * last_transition_time = now (RFC 3339, UTC, seconds). NULL strings -> "". */
void osh_sandbox_set_condition(Openshell__V1__Sandbox *sb, const char *type, const char *status,
			       const char *reason, const char *message);

/* "UNSPECIFIED", "PROVISIONING", "READY", "ERROR", "DELETING", "UNKNOWN",
 * "STOPPING", "STOPPED", "STARTING"; "UNRECOGNIZED" for other values. */
const char *osh_phase_name(Openshell__V1__SandboxPhase p);

/* 1.6: the DriverSandbox to send to a driver for a stored public Sandbox.
 * configured_driver_name selects template.driver_config.fields[<name>] (exact
 * key; NULL selects nothing); present but not a struct -> INVALID_ARGUMENT
 * "template.driver_config.<name> must be an object". sandbox_token is left
 * empty; policy, providers and request labels/annotations are not sent.
 * On OK *out is a new heap tree (free with protobuf_c_message_free_unpacked);
 * on error *out is NULL and err holds the message. Out of memory ->
 * RESOURCE_EXHAUSTED. */
int osh_driver_sandbox_from_public(const Openshell__V1__Sandbox *sb,
				   const char *configured_driver_name,
				   Openshell__Compute__V1__DriverSandbox **out, char *err,
				   size_t errlen);

/* Deep copy of any message as a heap tree (pack + unpack); NULL on NULL input
 * or out of memory. */
ProtobufCMessage *osh_message_dup(const ProtobufCMessage *m);

#endif
