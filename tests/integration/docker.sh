#!/bin/bash
# docker.sh - the docker plugin end to end against a real Docker daemon: the
# openshell CLI (and a Python client for driver_config) -> gateway ->
# docker.so -> a private dockerd (docker_env.sh). Skipped (77) when the
# machine cannot run dockerd. OSH_DOCKER_TEST_VALGRIND=1 runs the gateway
# under valgrind (slow).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/docker_env.sh"

missing=$(docker_env_missing)
if [ -n "$missing" ]; then
	echo "SKIP: the docker test needs:$missing"
	# CI installs everything this needs (.ci/run): there, a skip would hide a failure.
	[ -n "${CI:-}" ] && exit 1
	exit 77
fi
trap 'stop_gateway KILL; docker_env_stop; cleanup' EXIT
ln -s "$B/plugins/docker/.libs/docker.so" "$DRIVER_DIR/docker.so"
unset DOCKER_HOST
GW_WRAP=
if [ "${OSH_DOCKER_TEST_VALGRIND:-0}" = 1 ]; then
	GW_WRAP="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$T/valgrind.%p.log"
fi

docker_env_start || { echo "not ok - dockerd did not start"; exit 1; }
docker_env_image
dk volume create oshvol >/dev/null

cat >"$T/gw.ini" <<EOF
[openshell.drivers.docker]
socket_path = $DOCKER_SOCK
stop_timeout_secs = 1
EOF

start_docker_gateway() {
	rm -f "$GW_SOCK"
	$GW_WRAP "$B/openshell-gateway" --config "$T/gw.ini" --driver-dir "$DRIVER_DIR" \
		--drivers docker --bind-address "unix:$GW_SOCK" --db-url "sqlite:$DB" \
		--log-level debug "$@" >>"$T/gateway.log" 2>&1 &
	GW_PID=$!
	wait_for_socket "$GW_SOCK" 60
}

sid() { cli -o json sandbox get "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["id"])'; }
# The container of a sandbox id, as docker names it ("" when none).
container_of() { dk ps -aq --no-trunc --filter "label=openshell.ai/sandbox-id=$1"; }
cstate() { dk inspect -f '{{.State.Status}}' "$1" 2>/dev/null || echo gone; }
wait_gone() { # ID [SECONDS]: until docker has no container for the sandbox
	local i
	for i in $(seq 1 $((${2:-10} * 10))); do
		[ -z "$(container_of "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

# A typo in the driver's section stops the gateway, naming the key.
printf '[openshell.drivers.docker]\nsocket_path = %s\nstop_timeout = 1\n' "$DOCKER_SOCK" >"$T/bad.ini"
out=$(timeout 20 "$B/openshell-gateway" --config "$T/bad.ini" --driver-dir "$DRIVER_DIR" --drivers docker \
	--bind-address "unix:$T/bad.sock" --db-url "sqlite:$T/bad.db" 2>&1)
rc=$?
check "unknown config key: the gateway exits non-zero" test "$rc" != 0 -a "$rc" != 124
check "... naming the key" grep -q 'unknown config key "stop_timeout" in \[openshell.drivers.docker\]' <<<"$out"

start_docker_gateway
GW_ID=
for i in $(seq 1 150); do # the line may follow the socket (valgrind is slow)
	GW_ID=$(grep -o 'gateway id [0-9a-f-]*' "$T/gateway.log" | head -1 | awk '{print $3}')
	[ -n "$GW_ID" ] && break
	sleep 0.2
done
check "the gateway logged its id" test -n "$GW_ID"

check "gateway info names the docker driver and the daemon version" bash -c \
	"'$B/openshell' gateway info | grep -q 'docker' && '$B/openshell' gateway info | grep -q '$(dk version -f '{{.Server.Version}}')'"

# create -> READY -> env seen by the process -> stop -> start -> delete
check "create with command and env reaches READY" \
	cli sandbox create demo --image "$DOCKER_TEST_IMAGE" --env GREETING=hello --label app=demo \
	--wait -- sh -c 'echo "greeting=$GREETING sandbox=$OPENSHELL_SANDBOX ws=$OPENSHELL_SANDBOX_WORKSPACE"; sleep 1000'
ID=$(sid demo)
C=$(container_of "$ID")
check "one container carries the sandbox id label" test "$(echo "$C" | wc -w)" = 1
check "container name is openshell-{ws}--{name}-{id}" \
	test "$(dk inspect -f '{{.Name}}' "$C")" = "/openshell-default--demo-$ID"
L=$(dk inspect -f '{{json .Config.Labels}}' "$C")
check "labels: managed-by, name, workspace, gateway-id" bash -c \
	"grep -q '\"openshell.ai/managed-by\":\"openshell\"' <<<'$L' &&
	 grep -q '\"openshell.ai/sandbox-name\":\"demo\"' <<<'$L' &&
	 grep -q '\"openshell.ai/sandbox-workspace\":\"default\"' <<<'$L' &&
	 grep -q '\"openshell.ai/gateway-id\":\"$GW_ID\"' <<<'$L'"
sleep 0.3
check "the process saw its env (docker logs)" bash -c \
	"'$DOCKER_CLI' -H 'unix://$DOCKER_SOCK' logs $C | grep -qx 'greeting=hello sandbox=demo ws=default'"
check "the env is there for an exec too, OPENSHELL_SANDBOX_ID included" \
	test "$(dk exec "$C" sh -c 'echo $GREETING/$OPENSHELL_SANDBOX_ID')" = "hello/$ID"
check "pids limit 2048, restart policy no" \
	test "$(dk inspect -f '{{.HostConfig.PidsLimit}}/{{.HostConfig.RestartPolicy.Name}}' "$C")" = "2048/no"
check "stop --wait reaches STOPPED" cli sandbox stop demo --wait
check "the container is exited" test "$(cstate "$C")" = exited
check "start --wait reaches READY" cli sandbox start demo --wait
check "the same container runs again" test "$(cstate "$C")" = running
check "still READY a moment later (no stale exit applied)" bash -c "sleep 1; test \"\$('$B/openshell' -o json sandbox get demo | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"phase\"])')\" = READY"
check "delete" cli sandbox delete demo
check "the container is gone" wait_gone "$ID"
check "the row is gone" test "$(phase demo)" = GONE

# A command that exits 3: ERROR with the exit code.
cli sandbox create crash --image "$DOCKER_TEST_IMAGE" -- sh -c 'exit 3' >/dev/null
check "exit 3 ends in ERROR" wait_phase crash ERROR 20
check "the condition names exit code 3" bash -c "'$B/openshell' sandbox get crash | grep -q 'container exited with exit code 3'"
check "status.exit_code is 3" bash -c "'$B/openshell' -o json sandbox get crash | /usr/bin/python3 -c 'import json,sys; assert json.load(sys.stdin)[\"status\"][\"exit_code\"] == 3'"
cli sandbox delete crash >/dev/null

# A command that cannot start: the container is removed, the sandbox is ERROR.
cli sandbox create nostart --image "$DOCKER_TEST_IMAGE" -- /no/such/program >/dev/null
check "a start failure ends in ERROR (ContainerStartFailed)" wait_phase nostart ERROR 20
check "the condition says why" bash -c "'$B/openshell' sandbox get nostart | grep -q 'ContainerStartFailed.*no/such/program'"
NID=$(sid nostart)
check "the failed container was removed" wait_gone "$NID"
check "delete of the failed sandbox" cli sandbox delete nostart
check "its row is gone" test "$(phase nostart)" = GONE

# Missing image: FAILED_PRECONDITION naming the image (the pull fails:
# no registry is reachable), nothing stored.
out=$(cli sandbox create noimg --image openshell-test/missing:latest 2>&1)
check "missing image: FAILED_PRECONDITION naming the image" grep -q 'FAILED_PRECONDITION: .*openshell-test/missing:latest' <<<"$out"
check "missing image: the message names the daemon socket" grep -q "$DOCKER_SOCK" <<<"$out"
check "missing image: nothing stored" test "$(phase noimg)" = GONE

# driver_config mounts and resource limits, over the public API.
cat >"$T/dk_wire.py" <<'PY'
import os, subprocess, sys, time
src, work, sock = sys.argv[1:4]
gen = os.path.join(work, "py")
os.makedirs(gen, exist_ok=True)
subprocess.check_call(["protoc", "-I" + os.path.join(src, "proto"), "-I/usr/include",
                       "--python_out=" + gen, "openshell.proto", "datamodel.proto"])
sys.path.insert(0, gen)
import grpc
import openshell_pb2 as pb
from google.protobuf import struct_pb2
ch = grpc.insecure_channel("unix:" + sock)

def create(name, resources=None, dc=None, command=("sleep", "1000")):
    t = pb.SandboxTemplate(image="openshell-test/busybox:latest")
    if resources is not None:
        t.resources.update(resources)
    if dc is not None:
        t.driver_config.update({"docker": dc})
    req = pb.CreateSandboxRequest(name=name, spec=pb.SandboxSpec(command=list(command), template=t))
    f = ch.unary_unary("/openshell.v1.OpenShell/CreateSandbox")
    return pb.SandboxResponse.FromString(f(req.SerializeToString(), timeout=60)).sandbox

def refused(code, needle, name, **kw):
    try:
        create(name, **kw)
    except grpc.RpcError as e:
        if e.code() != code or needle not in e.details():
            sys.exit("%s: got %s %r, wanted %s with %r" % (name, e.code(), e.details(), code, needle))
        return
    sys.exit("%s: accepted" % name)

sb = create("res", resources={"limits": {"cpu": "500m", "memory": "64Mi"}},
            dc={"mounts": [{"type": "tmpfs", "target": "/scratch", "size_bytes": 1048576, "mode": "1777"},
                           {"type": "volume", "source": "oshvol", "target": "/data"}]})
print(sb.metadata.id)
FP, IA = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT
refused(FP, "enable_bind_mounts", "bind", dc={"mounts": [{"type": "bind", "source": "/tmp", "target": "/host"}]})
refused(IA, "unknown key \"bogus\"", "bogus", dc={"bogus": 1})
refused(FP, "volume \"nosuchvol\" does not exist", "novol", dc={"mounts": [{"type": "volume", "source": "nosuchvol", "target": "/v"}]})
refused(IA, "reserved path /etc/openshell", "reserved", dc={"mounts": [{"type": "tmpfs", "target": "/etc/openshell/x"}]})
refused(FP, "subpath needs Docker Engine API 1.45", "subpath", dc={"mounts": [{"type": "volume", "source": "oshvol", "target": "/v", "subpath": "a"}]})
refused(FP, "limits.cpu \"lots\"", "badcpu", resources={"limits": {"cpu": "lots"}})
refused(FP, "limits.memory \"0\"", "zeromem", resources={"limits": {"memory": "0"}})
refused(FP, "resource requests are not supported", "req", resources={"requests": {"cpu": "1"}})
PY
RID=$(/usr/bin/python3 "$T/dk_wire.py" "$OSH_SRCDIR" "$T" "$GW_SOCK" 2>"$T/dk_wire.err")
check "driver_config and resources: accepted and refused as documented" bash -c "[ -n '$RID' ] && ! grep -q . '$T/dk_wire.err' || { cat '$T/dk_wire.err'; false; }"
check "the mounted sandbox reaches READY" wait_phase res READY 20
RC=$(container_of "$RID")
check "NanoCpus 500m and Memory 64Mi reach the container" \
	test "$(dk inspect -f '{{.HostConfig.NanoCpus}}/{{.HostConfig.Memory}}' "$RC")" = "500000000/67108864"
check "tmpfs /scratch with size and mode" bash -c \
	"'$DOCKER_CLI' -H 'unix://$DOCKER_SOCK' inspect -f '{{json .HostConfig.Tmpfs}}' $RC | grep -q '\"/scratch\":\"size=1048576,mode=1777\"'"
check "the named volume is mounted at /data" bash -c \
	"'$DOCKER_CLI' -H 'unix://$DOCKER_SOCK' exec $RC sh -c 'grep -q \" /data \" /proc/mounts && grep -q \" /scratch tmpfs\" /proc/mounts'"
cli sandbox delete res >/dev/null

# 20 sandboxes created concurrently all reach READY.
pids=
for i in $(seq 1 20); do
	cli sandbox create "c$i" --image "$DOCKER_TEST_IMAGE" --wait --timeout 120 -- sleep 1000 >"$T/c$i.out" 2>&1 &
	pids="$pids $!"
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
check "20 concurrent creates all reach READY" test "$fails" = 0
check "20 READY rows" test "$(cli sandbox list | grep -c ' READY ')" = 20
check "20 running containers of this gateway" \
	test "$(dk ps -q --filter "label=openshell.ai/gateway-id=$GW_ID" | wc -l)" = 20
pids=
for i in $(seq 3 20); do
	cli sandbox delete "c$i" >/dev/null 2>&1 &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
check "18 concurrent deletes leave 2 containers" \
	test "$(dk ps -aq --filter "label=openshell.ai/gateway-id=$GW_ID" | wc -l)" = 2

# Behind the gateway's back: a container removed -> the row goes away; a
# container stopped -> ERROR with its exit code (the watch sees both).
C1=$(container_of "$(sid c1)")
dk rm -f "$C1" >/dev/null
check "docker rm -f: the sandbox row goes away" wait_phase c1 GONE 15
C2=$(container_of "$(sid c2)")
dk kill -s KILL "$C2" >/dev/null
check "docker kill: the sandbox goes to ERROR" wait_phase c2 ERROR 15
check "... with exit code 137" bash -c "'$B/openshell' sandbox get c2 | grep -q 'exit code 137'"
cli sandbox delete c2 >/dev/null

# dockerd restarted under a running gateway: calls fail UNAVAILABLE while it
# is down, then the watch recovers and state converges.
cli sandbox create r1 --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000 >/dev/null
cli sandbox create r2 --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000 >/dev/null
docker_env_kill_daemon
out=$(cli sandbox stop r1 2>&1)
check "daemon down: stop fails UNAVAILABLE naming the socket" grep -q "UNAVAILABLE: .*$DOCKER_SOCK" <<<"$out"
check "daemon down: the store is untouched (still READY)" test "$(phase r1)" = READY
out=$(cli sandbox create during --image "$DOCKER_TEST_IMAGE" 2>&1)
check "daemon down: create fails UNAVAILABLE" grep -q UNAVAILABLE <<<"$out"
check "daemon down: the refused create left no row" test "$(phase during)" = GONE
docker_env_start || { echo "not ok - dockerd did not come back"; exit 1; }
check "daemon back: r1 and r2 still READY (live-restore kept them)" bash -c \
	"sleep 1; test \"\$('$B/openshell' sandbox list | grep -c ' READY ')\" = 2"
dk stop -t 0 "$(container_of "$(sid r2)")" >/dev/null
check "daemon back: the watch recovered (docker stop of r2 seen: ERROR)" wait_phase r2 ERROR 30
check "daemon back: stop works again" cli sandbox stop r1 --wait
check "daemon back: start works again" cli sandbox start r1 --wait
check "daemon back: a new create reaches READY" cli sandbox create after --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000

# The gateway restarted: rows and containers agree, nothing is recreated.
stop_gateway
start_docker_gateway
check "gateway restart: r1 READY again" wait_phase r1 READY 20
check "gateway restart: still one container per sandbox" \
	test "$(dk ps -aq --filter "label=openshell.ai/gateway-id=$GW_ID" | wc -l)" = 3
for n in r1 r2 after; do cli sandbox delete "$n" >/dev/null; done

# image_pull_policy = Never: a missing image is refused without a pull.
stop_gateway
printf 'image_pull_policy = never\n' >>"$T/gw.ini"
start_docker_gateway
out=$(cli sandbox create never --image openshell-test/missing:latest 2>&1)
check "policy Never: FAILED_PRECONDITION naming the image and the policy" \
	grep -q 'FAILED_PRECONDITION: .*openshell-test/missing:latest.*image_pull_policy is Never' <<<"$out"
check "policy Never: local images still work" cli sandbox create local --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000
cli sandbox delete local >/dev/null
check "after deleting everything, no container of this gateway is left" \
	test -z "$(dk ps -aq --filter "label=openshell.ai/gateway-id=$GW_ID")"
check "gateway exits cleanly" stop_gateway TERM
if [ -n "$GW_WRAP" ]; then
	check "valgrind: every gateway run with 0 errors (definite leaks count)" \
		test "$(cat "$T"/valgrind.*.log | grep -c 'ERROR SUMMARY: 0 errors')" = "$(ls "$T"/valgrind.*.log | wc -l)"
	grep -h 'ERROR SUMMARY\|definitely lost\|indirectly lost\|possibly lost' "$T"/valgrind.*.log
fi
finish
