#!/usr/bin/env bash
# bench/podman_bench.sh [BUILDDIR] [N]
#
# A benchmark, not a test: how much the gateway adds to starting a Podman
# container. In a private rootful Podman service (tests/integration/
# podman_env.sh: vfs storage, runc, a local busybox-static image) it times,
# N times each (default 20), interleaved:
#   gateway: `openshell sandbox create NAME --image IMG --wait -- CMD`
#            (CreateSandbox through the gateway and the podman plugin, until
#            the CLI sees READY)
#   podman:  `podman --url unix://SOCK run -d IMG CMD`
#            (the same image and command, straight to the same service)
#   REST:    libpod containers/create + start with curl: the service's own
#            floor, without any client
# and prints the medians and the ratios. Needs root, podman, runc, conmon,
# busybox-static, and `make` done in BUILDDIR (default: the current dir).
set -u

B=${1:-.}
N=${2:-20}
B=$(cd "$B" 2>/dev/null && pwd) || { echo "podman_bench.sh: no build directory ${1:-.}" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
for f in "$B/openshell-gateway" "$B/openshell" "$B/plugins/podman/.libs/podman.so"; do
	[ -e "$f" ] || { echo "podman_bench.sh: $f is missing; run make in $B" >&2; exit 2; }
done
. "$SRC/tests/integration/podman_env.sh"
podman_env_usable || { echo "podman_bench.sh: cannot run: $PM_WHY" >&2; exit 2; }

unset KUBERNETES_SERVICE_HOST OPENSHELL_DRIVERS OPENSHELL_COMPUTE_DRIVER_SOCKET \
	OPENSHELL_GATEWAY_CONFIG OPENSHELL_DB_URL OPENSHELL_BIND_ADDRESS OPENSHELL_PORT \
	OPENSHELL_DRIVER_DIR OPENSHELL_LOG_LEVEL
T=$(mktemp -d /tmp/osh-pbench.XXXXXX) || exit 2
chmod 0755 "$T"
GW_PID=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$GW_PID" ]; then
		kill -TERM "$GW_PID" 2>/dev/null
		wait "$GW_PID" 2>/dev/null
	fi
	podman_env_destroy
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman_env_init "$T/pm"
podman_env_image || { echo "podman_bench.sh: building the image failed" >&2; exit 1; }
podman_env_start || exit 1
mkdir -p "$T/drivers"
ln -s "$B/plugins/podman/.libs/podman.so" "$T/drivers/podman.so"
printf '[openshell.drivers.podman]\nsocket_path = %s\nstop_timeout_secs = 2\n' "$PM_SOCK" >"$T/gw.ini"
"$B/openshell-gateway" --driver-dir "$T/drivers" --drivers podman --config "$T/gw.ini" \
	--bind-address "unix:$T/gw.sock" --db-url "sqlite:$T/db.sqlite" --log-level warn \
	>"$T/gateway.log" 2>&1 &
GW_PID=$!
for i in $(seq 1 200); do
	[ -S "$T/gw.sock" ] && break
	sleep 0.05
done
[ -S "$T/gw.sock" ] || { cat "$T/gateway.log" >&2; exit 1; }
export OPENSHELL_GATEWAY=unix:$T/gw.sock

CMD='trap "exit 0" TERM; while :; do sleep 1; done'
now_ns() { date +%s%N; }

# One warm-up of each, not counted (first use of the image, the network).
"$B/openshell" sandbox create warm --image "$PM_IMAGE" --wait -- sh -c "$CMD" >/dev/null ||
	{ echo "podman_bench.sh: warm-up create failed" >&2; tail -20 "$T/gateway.log" >&2; exit 1; }
pmr run -d --name warm-direct "$PM_IMAGE" sh -c "$CMD" >/dev/null

: >"$T/gw.ms"
: >"$T/pm.ms"
: >"$T/rest.ms"
run_gw() { # i: one CreateSandbox -> READY through the gateway
	local t0 t1
	t0=$(now_ns)
	"$B/openshell" sandbox create "b$1" --image "$PM_IMAGE" --wait -- sh -c "$CMD" >/dev/null ||
		{ echo "podman_bench.sh: create b$1 failed" >&2; exit 1; }
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000)) >>"$T/gw.ms"
}
run_pm() { # i: podman run -d through the service
	local t0 t1
	t0=$(now_ns)
	pmr run -d --name "direct$1" "$PM_IMAGE" sh -c "$CMD" >/dev/null ||
		{ echo "podman_bench.sh: podman run direct$1 failed" >&2; exit 1; }
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000)) >>"$T/pm.ms"
}
run_rest() { # i: libpod create + start with curl
	local t0 t1 body
	body=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "image": sys.argv[2], "command": ["sh", "-c", sys.argv[3]]}))' \
		"rest$1" "$PM_IMAGE" "$CMD")
	t0=$(now_ns)
	pm_api POST /containers/create -H 'Content-Type: application/json' -d "$body" | grep -q 'HTTP 201' &&
		pm_api POST "/containers/rest$1/start" | grep -q 'HTTP 204' ||
		{ echo "podman_bench.sh: REST create/start rest$1 failed" >&2; exit 1; }
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000)) >>"$T/rest.ms"
}
# The order rotates, so no side always runs with one container more.
for i in $(seq 1 "$N"); do
	case $((i % 3)) in
	0) run_gw "$i"; run_pm "$i"; run_rest "$i" ;;
	1) run_pm "$i"; run_rest "$i"; run_gw "$i" ;;
	2) run_rest "$i"; run_gw "$i"; run_pm "$i" ;;
	esac
done

/usr/bin/python3 - "$T/gw.ms" "$T/pm.ms" "$N" "$(podman --version)" "$T/rest.ms" <<'PY'
import statistics, sys
gw = [int(x) / 1000 for x in open(sys.argv[1])]
pm = [int(x) / 1000 for x in open(sys.argv[2])]
rest = [int(x) / 1000 for x in open(sys.argv[5])]
def row(name, v):
    v = sorted(v)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    print(f"{name:<44} median {statistics.median(v):7.1f} ms   min {v[0]:7.1f}   p90 {p90:7.1f}   max {v[-1]:7.1f}")
print(f"{sys.argv[4]}, {sys.argv[3]} runs each, interleaved")
row("gateway: sandbox create --wait (to READY)", gw)
row("podman --url run -d", pm)
row("REST create + start (curl)", rest)
print(f"ratio of medians (gateway / podman run -d): {statistics.median(gw) / statistics.median(pm):.2f}x")
print(f"ratio of medians (gateway / REST create + start): {statistics.median(gw) / statistics.median(rest):.2f}x")
PY
