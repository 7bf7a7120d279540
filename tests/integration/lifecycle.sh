#!/bin/bash
# lifecycle.sh - sandbox lifecycle end to end: the openshell CLI -> gateway
# -> remote-uds -> the C test driver. Restarts, SIGKILLs, a driver that goes
# away, validation and paging over the wire.
. "$(dirname "$0")/lib.sh"

# Rows the driver no longer lists are looked up after 1 s, not 5 min.
export OPENSHELL_SWEEP_GRACE_MS=1000
WIRE="/usr/bin/python3 $OSH_SRCDIR/tests/integration/wire_checks.py $OSH_SRCDIR $T $GW_SOCK"

start_driver --ready-delay-ms 300
start_gateway

# create -> READY -> stop -> STOPPED -> start -> READY -> delete -> gone,
# by the CLI, with the gateway restarted between steps.
check "create --wait reaches READY" bash -c "'$B/openshell' sandbox create demo --image test/img --env GREETING=hi --label app=demo --wait -- sleep 100 >'$T/create.out'"
check "create --wait printed progress" grep -q 'READY' "$T/create.out"
stop_gateway; start_gateway
check "after restart: still READY" test "$(phase demo)" = READY
check "stop --wait reaches STOPPED" cli sandbox stop demo --wait
stop_gateway; start_gateway
check "after restart: still STOPPED" test "$(phase demo)" = STOPPED
check "start --wait reaches READY" cli sandbox start demo --wait
stop_gateway; start_gateway
check "after restart: READY again" wait_phase demo READY
check "get shows labels and image" bash -c "'$B/openshell' sandbox get demo | grep -q 'app=demo' && '$B/openshell' sandbox get demo | grep -q test/img"
check "list shows the sandbox" bash -c "'$B/openshell' sandbox list | grep -q '^demo '"
check "json list is valid JSON with one sandbox" bash -c "'$B/openshell' -o json sandbox list | /usr/bin/python3 -c 'import json,sys; l=json.load(sys.stdin); assert [s[\"metadata\"][\"name\"] for s in l]==[\"demo\"], l'"
check "delete" cli sandbox delete demo
stop_gateway; start_gateway
check "after restart: gone" test "$(phase demo)" = GONE
err=$(cli sandbox get demo 2>&1)
check "get of a deleted sandbox: NOT_FOUND by the CLI, exit 1" bash -c "! '$B/openshell' sandbox get demo 2>/dev/null && grep -q 'error: NOT_FOUND: sandbox not found' <<<'$err'"
check "stop of a missing sandbox: NOT_FOUND" bash -c "'$B/openshell' sandbox stop nothere 2>&1 | grep -q NOT_FOUND"

# A command that exits with a code: ERROR, with the code shown.
check "exiting command ends in ERROR with the exit code" bash -c "! '$B/openshell' sandbox create crash --image test/img --wait -- exit 3 >'$T/crash.out' 2>&1"
check "the CLI shows exit code 3" grep -q 'exit code 3' "$T/crash.out"
check "stop of an ERROR sandbox: FAILED_PRECONDITION" bash -c "'$B/openshell' sandbox stop crash 2>&1 | grep -q 'FAILED_PRECONDITION: sandbox must be Ready to stop (current phase: ERROR)'"
cli sandbox delete crash >/dev/null

# Missing image: FAILED_PRECONDITION from the driver, nothing stored.
check "missing image: FAILED_PRECONDITION naming the image" bash -c "'$B/openshell' sandbox create noimg --image missing/img 2>&1 | grep -q 'FAILED_PRECONDITION: .*missing/img'"
check "missing image: nothing stored" test "$(phase noimg)" = GONE

# Watch ordering, validation, duplicates and opaque fields over the wire.
check "watch: snapshot, events and updates in order" $WIRE watch
check "validation and duplicates over the wire" $WIRE validation

# SIGKILL during create: the interrupted create is finished after restart.
stop_gateway
stop_driver
start_driver --create-delay-ms $((1500 * S))
start_gateway
cli --timeout $((10 * S)) sandbox create killedcreate --image test/img -- sleep 1 >/dev/null 2>&1 &
CLI_PID=$!
check "during create: the intent row is PROVISIONING" wait_phase killedcreate PROVISIONING 5
stop_gateway KILL
wait $CLI_PID 2>/dev/null
stop_driver
start_driver
start_gateway
check "SIGKILL during create: row kept and converges to READY" wait_phase killedcreate READY 10

# SIGKILL during delete: the interrupted delete is finished after restart.
stop_gateway
stop_driver
start_driver --delete-delay-ms $((1500 * S))
start_gateway
cli --timeout $((10 * S)) sandbox delete killedcreate >/dev/null 2>&1 &
CLI_PID=$!
check "during delete: the row says DELETING" wait_phase killedcreate DELETING 5
stop_gateway KILL
wait $CLI_PID 2>/dev/null
stop_driver
start_driver
start_gateway
check "SIGKILL during delete: converges to gone" wait_phase killedcreate GONE 10

# A driver killed while sandboxes exist: calls fail UNAVAILABLE and the store
# is untouched; when it is back, state converges without a gateway restart.
for n in keep1 keep2; do cli sandbox create $n --image test/img --wait -- sleep 100 >/dev/null; done
stop_driver KILL
out=$(cli sandbox stop keep1 2>&1)
check "driver down: stop fails UNAVAILABLE naming the socket" grep -q "UNAVAILABLE: .*$DRV_SOCK" <<<"$out"
check "driver down: the store is untouched (still READY)" test "$(phase keep1)" = READY
out=$(cli sandbox create during --image test/img 2>&1)
check "driver down: create fails UNAVAILABLE" grep -q UNAVAILABLE <<<"$out"
check "driver down: the refused create left no row" test "$(phase during)" = GONE
check "driver down: reads still work" bash -c "'$B/openshell' sandbox list | grep -q keep2"
start_driver
check "driver back: stop works again" cli sandbox stop keep1 --wait
check "driver back: the watch resynced (keep2 READY)" wait_phase keep2 READY
check "driver back: a new create reaches READY" cli sandbox create after --image test/img --wait -- sleep 100
# A sandbox removed behind the gateway's back (the driver forgets it).
stop_driver KILL
/usr/bin/python3 - "$T/drv.state" <<'PY'
import sys
# drop every sandbox from the driver's state file: an empty ListSandboxesResponse
open(sys.argv[1], "wb").close()
PY
start_driver
check "backend object gone: the row goes away" wait_phase keep2 GONE 15

# gateway_manages_lifecycle: a graceful shutdown stops running sandboxes
# (their rows keep READY), the next start starts them again.
stop_gateway
stop_driver
start_driver --manages-lifecycle
start_gateway
cli sandbox create managed --image test/img --wait -- sleep 100 >/dev/null
mid=$(cli -o json sandbox get managed | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["id"])')
stop_gateway TERM
check "shutdown stopped the running sandbox" grep -q "sandbox \"$mid\" stopped" "$T/driver.log"
start_gateway
check "start-up started it again" bash -c "for i in \$(seq 50); do grep -q 'sandbox \"$mid\" starting' '$T/driver.log' && exit 0; sleep 0.1; done; exit 1"
check "and it is READY" wait_phase managed READY

# 1,000 sandboxes: pagination and label selectors.
stop_gateway
stop_driver
rm -f "$DB" "$DB"-wal "$DB"-shm "$T/drv.state"
DRV_STATE=
start_driver --ready-delay-ms 0
start_gateway --log-level warn
check "1,000 sandboxes: paging and selectors" $WIRE many
check "gateway exits cleanly after all this" stop_gateway TERM
finish
