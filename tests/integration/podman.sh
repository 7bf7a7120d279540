#!/bin/bash
# podman.sh - the podman plugin end to end against a real Podman service:
# the openshell CLI -> gateway -> podman.so -> libpod REST API -> a private
# rootful `podman system service` (tests/integration/podman_env.sh) running
# a busybox-static image built locally. The containers are looked at with
# `podman --url` (through the service) and, for exec, with podman on the same
# storage (see podman_env.sh). Skipped (exit 77) when the machine cannot run
# it (not root, podman/runc/conmon/busybox-static missing).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman_env.sh"

if ! podman_env_usable; then
	echo "SKIP: $PM_WHY"
	# CI installs everything this needs (.ci/run): there, a skip would hide a failure.
	[ -n "${CI:-}" ] && exit 1
	exit 77
fi

# Rows the driver no longer lists are looked up after 1 s (not 5 min), and
# the sweep runs every 3 s.
export OPENSHELL_SWEEP_GRACE_MS=1000 OPENSHELL_SWEEP_INTERVAL_MS=3000
podman_env_init "$T/pm"
trap 'podman_env_destroy; cleanup' EXIT
ln -s "$B/plugins/podman/.libs/podman.so" "$DRIVER_DIR/podman.so"
cat >"$T/gateway.ini" <<EOF
[openshell.drivers.podman]
socket_path = $PM_SOCK
stop_timeout_secs = 2
EOF

start_pm_gateway() {
	rm -f "$GW_SOCK"
	"$B/openshell-gateway" --driver-dir "$DRIVER_DIR" --drivers podman --config "$T/gateway.ini" \
		--bind-address "unix:$GW_SOCK" --db-url "sqlite:$DB" --log-level debug "$@" \
		>>"$T/gateway.log" 2>&1 &
	GW_PID=$!
	wait_for_socket "$GW_SOCK" 30
}

IMG=$PM_IMAGE
LOOP='trap "exit 0" TERM; while :; do sleep 1; done'

# container NAME: the container of sandbox NAME ("" when there is none).
container() { pmr ps -a --filter "label=openshell.ai/sandbox-name=$1" --format '{{.Names}}'; }
state() { pmr inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
volume_of() { echo "openshell-sandbox-$1-workspace"; }
sandbox_id() { cli -o json sandbox get "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["id"])'; }
has_volume() { pmr volume exists "$1"; }
no_volume() { ! pmr volume exists "$1"; }

check "service: busybox image built" podman_env_image
check "service: podman system service answers /_ping" podman_env_start
check "gateway starts with --drivers podman" start_pm_gateway
check "gateway info: podman driver with the service's version" \
	bash -c "'$B/openshell' gateway info | grep -q 'podman.*$(podman --version | awk '{print $3}')'"

# --- lifecycle through the CLI ------------------------------------------------
check "create --wait reaches READY" cli sandbox create demo --image "$IMG" --env GREETING=hi --wait \
	-- sh -c "echo \"greeting=\$GREETING sandbox=\$OPENSHELL_SANDBOX ws=\$OPENSHELL_SANDBOX_WORKSPACE\"; $LOOP"
C=$(container demo)
ID=$(sandbox_id demo)
check "container is named openshell-default--demo-<id>" test "$C" = "openshell-default--demo-$ID"
check "container runs" test "$(state "$C")" = running
check "the command's output shows the env (podman logs)" \
	bash -c "podman --url 'unix://$PM_SOCK' logs '$C' | grep -qx 'greeting=hi sandbox=demo ws=default'"
check "exec sees OPENSHELL_SANDBOX_ID" test "$(pm exec "$C" sh -c 'echo $OPENSHELL_SANDBOX_ID')" = "$ID"
labels=$(pmr inspect --format '{{json .Config.Labels}}' "$C")
check "labels: managed-by, sandbox id, name, workspace, gateway id" /usr/bin/python3 -c "
import json, sys
l = json.loads(sys.argv[1])
assert l['openshell.ai/managed-by'] == 'openshell', l
assert l['openshell.ai/sandbox-id'] == '$ID', l
assert l['openshell.ai/sandbox-name'] == 'demo', l
assert l['openshell.ai/sandbox-workspace'] == 'default', l
assert len(l['openshell.ai/gateway-id']) > 0, l" "$labels"
check "pids limit 2048" test "$(pmr inspect --format '{{.HostConfig.PidsLimit}}' "$C")" = 2048
check "workspace volume exists" has_volume "$(volume_of "$ID")"
check "write a file into /sandbox" pm exec "$C" sh -c 'echo kept > /sandbox/data'
check "stop --wait reaches STOPPED" cli sandbox stop demo --wait
check "stopped: container exited" test "$(state "$C")" = exited
check "start --wait reaches READY" cli sandbox start demo --wait
check "started: container runs again" test "$(state "$C")" = running
check "the workspace file survived stop/start" test "$(pm exec "$C" cat /sandbox/data)" = kept
check "delete" cli sandbox delete demo
check "deleted: row gone" test "$(phase demo)" = GONE
check "deleted: container gone" test -z "$(container demo)"
check "deleted: workspace volume gone" no_volume "$(volume_of "$ID")"
check "delete again: NOT_FOUND" bash -c "'$B/openshell' sandbox delete demo 2>&1 | grep -q NOT_FOUND"

# --- the gateway restarted: it stops its sandboxes on the way out and starts
# them again when it comes back (gateway_manages_lifecycle) ------------------
cli sandbox create persist --image "$IMG" --wait -- sh -c "$LOOP" >/dev/null
P_C=$(container persist)
pm exec "$P_C" sh -c 'echo still-here > /sandbox/data'
stop_gateway TERM
check "gateway stopped: its running sandbox was stopped" test "$(state "$P_C")" = exited
start_pm_gateway
check "gateway back: the sandbox is READY again" wait_phase persist READY 20
check "gateway back: its container runs" test "$(state "$P_C")" = running
check "gateway back: the workspace kept its file" test "$(pm exec "$P_C" cat /sandbox/data)" = still-here
cli sandbox delete persist >/dev/null

# --- a command that exits with 3 ----------------------------------------------
cli sandbox create crash --image "$IMG" -- sh -c 'exit 3' >/dev/null
check "exiting command ends in ERROR" wait_phase crash ERROR 20
check "the CLI shows exit code 3" bash -c "'$B/openshell' sandbox get crash | grep -q 'exit code 3'"
check "ContainerExited is the reason" bash -c "'$B/openshell' sandbox get crash | grep -q ContainerExited"
cli sandbox delete crash >/dev/null

# --- images and failed starts: FAILED_PRECONDITION, nothing left behind -------
out=$(cli sandbox create noimg --image missing/img 2>&1)
check "missing image: FAILED_PRECONDITION naming the image" grep -q 'FAILED_PRECONDITION: .*missing/img' <<<"$out"
check "missing image: nothing stored" test "$(phase noimg)" = GONE
check "missing image: no container" test -z "$(container noimg)"
out=$(cli sandbox create badcmd --image "$IMG" -- /no/such/command 2>&1)
check "command that cannot run: FAILED_PRECONDITION" grep -q 'FAILED_PRECONDITION: .*did not start' <<<"$out"
check "command that cannot run: container rolled back" test -z "$(container badcmd)"
check "command that cannot run: volume rolled back" \
	test -z "$(pmr volume ls -q --filter label=openshell.ai/managed-by=openshell)"

# --- 20 concurrent creates --------------------------------------------------------
# (a generous deadline: on a loaded 2-core machine the last of 20 container
# starts can take longer than the CLI's default 30 s)
t0=$SECONDS
pids=()
for i in $(seq 1 20); do
	cli --timeout 120 sandbox create "c$i" --image "$IMG" --wait -- sh -c "$LOOP" >"$T/c$i.out" 2>&1 &
	pids+=($!)
done
n=0
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then
		n=$((n + 1))
	else
		echo "# create c$((i + 1)) failed:"
		sed 's/^/#   /' "$T/c$((i + 1)).out"
	fi
done
check "20 concurrent creates: all READY ($n, in $((SECONDS - t0)) s)" test "$n" = 20
check "20 concurrent creates: 20 containers running" \
	test "$(pmr ps --filter label=openshell.ai/managed-by=openshell --format '{{.Names}}' | wc -l)" = 20
t0=$SECONDS
pids=()
for i in $(seq 1 20); do
	cli --timeout 120 sandbox delete "c$i" >"$T/d$i.out" 2>&1 &
	pids+=($!)
done
n=0
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then
		n=$((n + 1))
	else
		echo "# delete c$((i + 1)) failed:"
		sed 's/^/#   /' "$T/d$((i + 1)).out"
	fi
done
check "20 concurrent deletes ($n, in $((SECONDS - t0)) s)" test "$n" = 20
check "20 deleted: no container, no volume left" test -z "$(pmr ps -aq)$(pmr volume ls -q)"

# --- a container removed behind the gateway's back ----------------------------
cli sandbox create oob --image "$IMG" --wait -- sh -c "$LOOP" >/dev/null
pmr rm -f -t 0 "$(container oob)" >/dev/null
check "container removed out of band: the row goes away" wait_phase oob GONE 15

# --- the service restarted under a running gateway ------------------------------
cli sandbox create keep --image "$IMG" --wait -- sh -c "$LOOP" >/dev/null
cli sandbox create downstop --image "$IMG" --wait -- sh -c "$LOOP" >/dev/null
cli sandbox create downrm --image "$IMG" --wait -- sh -c "$LOOP" >/dev/null
KEEP_C=$(container keep)
DOWNSTOP_C=$(container downstop)
DOWNRM_C=$(container downrm)
podman_env_stop
# While the service is down, change things with podman itself (no service).
pm stop -t 0 "$DOWNSTOP_C" >/dev/null
pm rm -f -t 0 "$DOWNRM_C" >/dev/null
out=$(cli sandbox create during --image "$IMG" 2>&1)
check "service down: create fails UNAVAILABLE" grep -q UNAVAILABLE <<<"$out"
check "service down: the refused create left no row" test "$(phase during)" = GONE
check "service down: reads still work" test "$(phase keep)" = READY
check "service restarted" podman_env_start
check "after the restart: stopped out of band -> ERROR" wait_phase downstop ERROR 40
check "after the restart: removed out of band -> row gone" wait_phase downrm GONE 40
check "after the restart: untouched sandbox still READY" test "$(phase keep)" = READY
check "after the restart: the watch is live again (stop seen)" bash -c \
	"podman --url 'unix://$PM_SOCK' stop -t 0 '$KEEP_C' >/dev/null"
check "after the restart: out-of-band stop -> ERROR" wait_phase keep ERROR 15
check "after the restart: a new create reaches READY" cli sandbox create after --image "$IMG" --wait -- sh -c "$LOOP"
for n in keep downstop after; do cli sandbox delete "$n" >/dev/null; done

check "gateway exits cleanly" stop_gateway TERM
finish
