#!/usr/bin/env bash
# bench/docker_bench.sh [BUILDDIR] [N]
#
# A benchmark, not a test: the time from CreateSandbox to READY through the
# gateway and the docker plugin (`openshell sandbox create NAME --image IMG
# --wait -- sleep 1000`) versus Docker directly (`docker run -d IMG sleep
# 1000`, then `docker inspect` until the container runs), N times each
# (default 20), interleaved so both see the same daemon state. Also times
# the bare Engine API calls (curl: create + start) as a floor. Prints the
# medians (and min / p90 / max) and the gateway/direct ratios.
#
# Runs its own dockerd (tests/integration/docker_env.sh: vfs storage, a
# busybox-static image) in a temporary directory; needs root, docker.io,
# runc and busybox-static. BUILDDIR defaults to the current directory and
# needs `make`. OSH_BENCH_KEEP=1 keeps the temporary directory.
set -u

BARG=${1:-.}
N=${2:-20}
B=$(cd "$BARG" 2>/dev/null && pwd) || { echo "docker_bench.sh: no build directory $BARG" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
for f in "$B/openshell-gateway" "$B/openshell" "$B/plugins/docker/.libs/docker.so"; do
	[ -e "$f" ] || { echo "docker_bench.sh: $f is missing; run make in $B" >&2; exit 2; }
done
unset KUBERNETES_SERVICE_HOST OPENSHELL_DRIVERS OPENSHELL_COMPUTE_DRIVER_SOCKET \
	OPENSHELL_GATEWAY_CONFIG OPENSHELL_DB_URL OPENSHELL_DRIVER_DIR DOCKER_HOST

T=$(mktemp -d /tmp/osh-dbench.XXXXXX) || exit 2
chmod 0755 "$T"
. "$SRC/tests/integration/docker_env.sh"
missing=$(docker_env_missing)
[ -z "$missing" ] || { echo "docker_bench.sh: needs:$missing" >&2; rm -rf "$T"; exit 2; }

GW_PID=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$GW_PID" ]; then
		kill -KILL "$GW_PID" 2>/dev/null
		wait "$GW_PID" 2>/dev/null
	fi
	docker_env_stop
	if [ -n "${OSH_BENCH_KEEP:-}" ]; then echo "docker_bench.sh: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker_env_start || exit 1
docker_env_image

mkdir -p "$T/drivers"
ln -s "$B/plugins/docker/.libs/docker.so" "$T/drivers/docker.so"
cat >"$T/gw.ini" <<EOF
[openshell.drivers.docker]
socket_path = $DOCKER_SOCK
stop_timeout_secs = 1
EOF
"$B/openshell-gateway" --config "$T/gw.ini" --driver-dir "$T/drivers" --drivers docker \
	--bind-address "unix:$T/gw.sock" --db-url "sqlite:$T/db.sqlite" --log-level warn \
	>>"$T/gateway.log" 2>&1 &
GW_PID=$!
for i in $(seq 1 100); do [ -S "$T/gw.sock" ] && break; sleep 0.1; done
export OPENSHELL_GATEWAY=unix:$T/gw.sock

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# One warm-up of each path (first image use, first connections).
"$B/openshell" sandbox create warm --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000 >/dev/null || {
	echo "docker_bench.sh: the gateway path failed; gateway log:" >&2
	tail -20 "$T/gateway.log" >&2
	exit 1
}
dk run -d --name warm "$DOCKER_TEST_IMAGE" sleep 1000 >/dev/null

: >"$T/gw.ms"
: >"$T/run.ms"
: >"$T/direct.ms"
: >"$T/api.ms"
for i in $(seq 1 "$N"); do
	t0=$(now_ms)
	"$B/openshell" sandbox create "g$i" --image "$DOCKER_TEST_IMAGE" --wait -- sleep 1000 >/dev/null ||
		{ echo "docker_bench.sh: gateway create g$i failed" >&2; exit 1; }
	t1=$(now_ms)
	echo $((t1 - t0)) >>"$T/gw.ms"

	t0=$(now_ms)
	dk run -d --name "d$i" "$DOCKER_TEST_IMAGE" sleep 1000 >/dev/null ||
		{ echo "docker_bench.sh: docker run d$i failed" >&2; exit 1; }
	t1=$(now_ms)
	until [ "$(dk inspect -f '{{.State.Running}}' "d$i" 2>/dev/null)" = true ]; do sleep 0.01; done
	t2=$(now_ms)
	echo $((t1 - t0)) >>"$T/run.ms"
	echo $((t2 - t0)) >>"$T/direct.ms"

	t0=$(now_ms)
	cid=$(curl -s --unix-socket "$DOCKER_SOCK" -X POST -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$DOCKER_TEST_IMAGE\",\"Cmd\":[\"sleep\",\"1000\"]}" \
		"http://docker/containers/create?name=a$i" | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p')
	[ -n "$cid" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" \
		-X POST "http://docker/containers/$cid/start")" = 204 ] ||
		{ echo "docker_bench.sh: API create/start a$i failed" >&2; exit 1; }
	t1=$(now_ms)
	echo $((t1 - t0)) >>"$T/api.ms"
done

# stats FILE: "median min p90 max" in ms
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = int(NR * 0.9 + 0.999); if (p < 1) p = 1; if (p > NR) p = NR
		printf "%d %d %d %d\n", m, v[1], v[p], v[NR] }'
}
read -r gm gmin gp90 gmax < <(stats "$T/gw.ms")
read -r rm rmin rp90 rmax < <(stats "$T/run.ms")
read -r dm dmin dp90 dmax < <(stats "$T/direct.ms")
read -r am amin ap90 amax < <(stats "$T/api.ms")
echo "docker plugin benchmark: $N sandboxes each, $(dk version -f 'Docker Engine {{.Server.Version}}'), storage vfs, $(nproc) CPUs"
printf '%-46s %8s %8s %8s %8s\n' "path (ms)" median min p90 max
printf '%-46s %8d %8d %8d %8d\n' "gateway: sandbox create --wait (to READY)" "$gm" "$gmin" "$gp90" "$gmax"
printf '%-46s %8d %8d %8d %8d\n' "direct: docker run -d" "$rm" "$rmin" "$rp90" "$rmax"
printf '%-46s %8d %8d %8d %8d\n' "direct: docker run -d + inspect until running" "$dm" "$dmin" "$dp90" "$dmax"
printf '%-46s %8d %8d %8d %8d\n' "Engine API (curl): create + start" "$am" "$amin" "$ap90" "$amax"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v g="$gm" -v d="$dm" -v r="$rm" -v a="$am" 'BEGIN {
	printf "ratio gateway / direct (docker run -d + running): %.2fx\n", g / d
	printf "ratio gateway / docker run -d alone: %.2fx; gateway / bare API create+start: %.2fx\n", g / r, g / a }'
