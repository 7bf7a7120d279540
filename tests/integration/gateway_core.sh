#!/bin/bash
# gateway_core.sh - the gateway's start-up contract: flags, plugin loading
# and its failure messages, the remote-uds path to a driver socket, Health
# and GetGatewayInfo, clean shutdown, malformed requests.
. "$(dirname "$0")/lib.sh"

GW="$B/openshell-gateway"

# --version / --help
check "--version names the ABI" bash -c "'$GW' --version | grep -q 'driver ABI v1'"
check "--help lists every flag" bash -c "out=\$('$GW' --help) && for f in --config --bind-address --port --drivers --compute-driver-socket --driver-dir --log-level --list-drivers --version --db-url; do grep -q -- \"\$f\" <<<\"\$out\" || exit 1; done"

# Every built plugin exports exactly one dynamic symbol: openshell_driver_v1.
for so in "$B"/plugins/*/.libs/*.so; do
	syms=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^_' | sort)
	check "$(basename "$so") exports only openshell_driver_v1 (got: $(echo $syms))" test "$syms" = "openshell_driver_v1"
done

# --list-drivers reports loadable and broken plugins, one line each.
LD=$T/listdir
mkdir -p "$LD"
cp "$B/plugins/remote-uds/.libs/remote-uds.so" "$LD/"
cp "$B/tests/fixtures/.libs/small-plugin.so" "$LD/"
echo "not a plugin" >"$LD/junk.so"
out=$("$GW" --list-drivers --driver-dir "$LD")
check "--list-drivers: remote-uds loadable" grep -q 'remote-uds .*ABI v1.*loadable' <<<"$out"
check "--list-drivers: small table explained" grep -q 'small-plugin .*not loadable: .*too small' <<<"$out"
check "--list-drivers: junk explained" grep -q 'junk .*not loadable: .*not a loadable shared object' <<<"$out"

# Loading failures: non-zero exit, one line naming the plugin and the cause.
fails_with() { # description, expected text, gateway args...
	local d=$1 want=$2
	shift 2
	local out rc=0
	out=$(OPENSHELL_DRIVER_CONNECT_TIMEOUT=2 "$GW" --db-url "sqlite:$T/fail.db" \
		--bind-address "unix:$T/fail.sock" "$@" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] && grep -q -- "$want" <<<"$out"; then
		ok "$d"
	else
		not_ok "$d (rc=$rc): $out"
	fi
}
FD=$T/faildir
mkdir -p "$FD"
for v in small v2 nosym major openfail; do
	cp "$B/tests/fixtures/.libs/$v-plugin.so" "$FD/$v.so"
done
echo "not a plugin" >"$FD/junk.so"
fails_with "missing plugin" "driver nosuch: plugin $FD/nosuch.so: file not found" --driver-dir "$FD" --drivers nosuch
fails_with "not a shared object" "plugin $FD/junk.so: not a loadable shared object" --driver-dir "$FD" --drivers junk
fails_with "entry symbol missing" "plugin $FD/nosym.so: entry symbol openshell_driver_v1 not found" --driver-dir "$FD" --drivers nosym
fails_with "other ABI major (symbol)" "plugin $FD/v2.so: built for driver ABI major 2" --driver-dir "$FD" --drivers v2
fails_with "other ABI major (table)" "plugin $FD/major.so: table says driver ABI major 7" --driver-dir "$FD" --drivers major
fails_with "table too small" "plugin $FD/small.so: driver table is too small" --driver-dir "$FD" --drivers small
fails_with "open failed" "plugin $FD/openfail.so: open failed: old: cannot reach the backend" --driver-dir "$FD" --drivers openfail
fails_with "bad driver name" "compute driver name \"no.dots\" is invalid" --driver-dir "$FD" --drivers no.dots
fails_with "relative socket" "must be absolute" --driver-dir "$DRIVER_DIR" --drivers kyma@run/kyma.sock
fails_with "socket flag needs one name" "needs exactly one driver name" --driver-dir "$DRIVER_DIR" --compute-driver-socket "$DRV_SOCK"
fails_with "driver socket that never answers" "compute driver socket \"$T/absent.sock\" did not answer within 2 s" --driver-dir "$DRIVER_DIR" --drivers "kyma@$T/absent.sock"
ln -s "$DRV_SOCK" "$T/link.sock"
start_driver
fails_with "symlinked driver socket refused" "symbolic link" --driver-dir "$DRIVER_DIR" --drivers "kyma@$T/link.sock"
chmod 0666 "$DRV_SOCK"
fails_with "world-writable driver socket refused" "writable" --driver-dir "$DRIVER_DIR" --drivers "kyma@$DRV_SOCK"
chmod 0600 "$DRV_SOCK"
if ! curl -s --max-time 1 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
	HOME=$T XDG_RUNTIME_DIR=$T DOCKER_HOST=unix://$T/none OPENSHELL_PODMAN_SOCKET=$T/none \
		fails_with "nothing configured, nothing detected" "choose one with --drivers" --driver-dir "$DRIVER_DIR"
fi

# The same driver bound three ways: name@sock, INI socket_path, --compute-driver-socket.
start_gateway
check "Health answers HEALTHY" bash -c "'$B/openshell' health | grep -q HEALTHY"
info=$(cli -o json gateway info)
check "GetGatewayInfo lists the driver under its configured name" /usr/bin/python3 -c "
import json,sys; i=json.loads(sys.argv[1]); d=i['compute_drivers']
assert len(d)==1 and d[0]['name']=='test' and d[0]['capabilities']['driver_name']=='test', i" "$info"
check "gateway logs configured and advertised names" grep -q 'driver test: loaded .*advertises driver_name "test"' "$T/gateway.log"
check "a second gateway on the same socket is refused" bash -c "! '$GW' --driver-dir '$DRIVER_DIR' --drivers 'test@$DRV_SOCK' --bind-address 'unix:$GW_SOCK' --db-url 'sqlite:$T/other.db' 2>&1 | grep -q 'another process is serving it' && exit 1 || exit 0"
check "SIGTERM shuts down cleanly (exit 0)" stop_gateway TERM
cat >"$T/gw.ini" <<INI
[openshell.gateway]
compute_drivers = kyma
[openshell.drivers.kyma]
socket_path = $DRV_SOCK
INI
rm -f "$GW_SOCK"
"$GW" --driver-dir "$DRIVER_DIR" --config "$T/gw.ini" --bind-address "unix:$GW_SOCK" \
	--db-url "sqlite:$DB" >>"$T/gateway.log" 2>&1 &
GW_PID=$!
wait_for_socket "$GW_SOCK"
info=$(cli -o json gateway info)
check "INI socket_path binds kyma to remote-uds" grep -q '"kyma"' <<<"$info"
stop_gateway
rm -f "$GW_SOCK"
"$GW" --driver-dir "$DRIVER_DIR" --drivers kyma --compute-driver-socket "$DRV_SOCK" \
	--bind-address "unix:$GW_SOCK" --db-url "sqlite:$DB" >>"$T/gateway.log" 2>&1 &
GW_PID=$!
wait_for_socket "$GW_SOCK"
info=$(cli -o json gateway info)
check "--compute-driver-socket binds kyma to remote-uds" grep -q '"kyma"' <<<"$info"

# Several drivers at once: one GetGatewayInfo entry each, in the order given.
stop_gateway
rm -f "$GW_SOCK"
"$GW" --driver-dir "$DRIVER_DIR" --drivers "alpha@$DRV_SOCK,beta@$DRV_SOCK" \
	--bind-address "unix:$GW_SOCK" --db-url "sqlite:$DB" >>"$T/gateway.log" 2>&1 &
GW_PID=$!
wait_for_socket "$GW_SOCK"
info=$(cli -o json gateway info)
check "two drivers: GetGatewayInfo lists both in order" /usr/bin/python3 -c "
import json,sys; d=json.loads(sys.argv[1])['compute_drivers']
assert [x['name'] for x in d]==['alpha','beta'], d" "$info"

# Malformed protobuf straight to the gateway: INVALID_ARGUMENT, still serving.
check "garbage bytes get INVALID_ARGUMENT and the gateway keeps serving" /usr/bin/python3 - "$GW_SOCK" <<'PY'
import sys, grpc
ch = grpc.insecure_channel("unix:" + sys.argv[1])
for m in ["CreateSandbox", "GetSandbox", "ListSandboxes", "DeleteSandbox", "StopSandbox", "StartSandbox", "Health", "GetGatewayInfo"]:
    try:
        ch.unary_unary("/openshell.v1.OpenShell/" + m)(b"\xff\xff\xff\xff\x0f", timeout=5)
        sys.exit("%s accepted garbage" % m)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
            sys.exit("%s: %s %s" % (m, e.code(), e.details()))
try:
    list(ch.unary_stream("/openshell.v1.OpenShell/WatchSandbox")(b"\x0a\x05ab", timeout=5))
    sys.exit("WatchSandbox accepted garbage")
except grpc.RpcError as e:
    if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
        sys.exit("WatchSandbox: %s" % e.code())
try:
    ch.unary_unary("/openshell.v1.OpenShell/NoSuchMethod")(b"", timeout=5)
    sys.exit("unknown method answered OK")
except grpc.RpcError as e:
    if e.code() != grpc.StatusCode.UNIMPLEMENTED:
        sys.exit("unknown method: %s" % e.code())
ch.unary_unary("/openshell.v1.OpenShell/Health")(b"", timeout=5)
PY
check "SIGINT shuts down cleanly (exit 0)" stop_gateway INT

# TCP listener on the default port family.
PORT=$((20000 + RANDOM % 20000))
"$GW" --driver-dir "$DRIVER_DIR" --drivers "test@$DRV_SOCK" --port "$PORT" \
	--db-url "sqlite:$DB" >>"$T/gateway.log" 2>&1 &
GW_PID=$!
for i in $(seq 1 100); do cli --gateway "127.0.0.1:$PORT" health >/dev/null 2>&1 && break; sleep 0.05; done
check "serves on TCP 127.0.0.1:$PORT" bash -c "'$B/openshell' --gateway 127.0.0.1:$PORT health | grep -q HEALTHY"
stop_gateway
finish
