#!/usr/bin/env bash
# bench/run.sh [BUILDDIR] [osh-bench options...]
#
# A benchmark, not a test: starts the C test driver (--ready-delay-ms 0) and
# the gateway (remote-uds plugin, fresh SQLite store) in a private temporary
# directory, runs bench/osh-bench against them, prints its report and stops
# everything. BUILDDIR defaults to the current directory; it needs
#   make && make tests/fixtures/test-driver
# (the test driver is a check program, not built by `make`).
# Extra arguments go to osh-bench (e.g. --sandboxes 2000 --per-thread-clients).
# OSH_BENCH_KEEP=1 keeps the temporary directory (store, logs) for a look
# afterwards, e.g. sqlite3 DIR/db.sqlite 'EXPLAIN QUERY PLAN ...'.
set -u

BARG=${1:-.}
[ $# -gt 0 ] && shift
B=$(cd "$BARG" 2>/dev/null && pwd) || { echo "run.sh: no build directory $BARG" >&2; exit 2; }

GW_BIN=$B/openshell-gateway
DRV_BIN=$B/tests/fixtures/test-driver
BENCH_BIN=$B/bench/osh-bench
PLUGIN=$B/plugins/remote-uds/.libs/remote-uds.so
for f in "$GW_BIN" "$DRV_BIN" "$BENCH_BIN" "$PLUGIN"; do
	if [ ! -e "$f" ]; then
		echo "run.sh: $f is missing; in $B run: make && make tests/fixtures/test-driver" >&2
		exit 2
	fi
done

unset KUBERNETES_SERVICE_HOST OPENSHELL_DRIVERS OPENSHELL_COMPUTE_DRIVER_SOCKET \
	OPENSHELL_GATEWAY_CONFIG OPENSHELL_DB_URL OPENSHELL_BIND_ADDRESS OPENSHELL_PORT \
	OPENSHELL_DRIVER_DIR OPENSHELL_LOG_LEVEL

T=$(mktemp -d /tmp/osh-bench.XXXXXX) || exit 2
chmod 0755 "$T" # the driver socket's directory must not be group/world writable
mkdir -p "$T/drivers"
ln -s "$PLUGIN" "$T/drivers/remote-uds.so"
DRV_SOCK=$T/drv.sock
GW_SOCK=$T/gw.sock
DRV_PID=
GW_PID=

stop() { # PID NAME: TERM, up to 10 s, then KILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null && echo "run.sh: $2 did not stop on TERM within 10 s; killed" >&2
	wait "$pid" 2>/dev/null
}

cleanup() {
	trap - EXIT INT TERM
	[ -n "$GW_PID" ] && stop "$GW_PID" gateway
	[ -n "$DRV_PID" ] && stop "$DRV_PID" driver
	if [ -n "${OSH_BENCH_KEEP:-}" ]; then
		echo "run.sh: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_socket() { # PATH PID
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "run.sh: socket $1 did not appear" >&2
	return 1
}

"$DRV_BIN" --socket "$DRV_SOCK" --ready-delay-ms 0 --log-level warn >"$T/driver.log" 2>&1 &
DRV_PID=$!
wait_for_socket "$DRV_SOCK" "$DRV_PID" || { cat "$T/driver.log" >&2; exit 1; }

"$GW_BIN" --driver-dir "$T/drivers" --drivers "test@$DRV_SOCK" --bind-address "unix:$GW_SOCK" \
	--db-url "sqlite:$T/db.sqlite" --log-level warn >"$T/gateway.log" 2>&1 &
GW_PID=$!
wait_for_socket "$GW_SOCK" "$GW_PID" || { cat "$T/gateway.log" >&2; exit 1; }

echo "=== osh-bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -sr), $(nproc) cores," \
	"$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
# Other work on the machine skews every figure: say how busy it was.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH_BIN" --gateway "unix:$GW_SOCK" --driver "unix:$DRV_SOCK" --gateway-pid "$GW_PID" \
	--driver-pid "$DRV_PID" "$@"
rc=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Shutdown time of the gateway with the filled store.
t0=$(date +%s%N)
stop "$GW_PID" gateway
GW_PID=
echo "gateway stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms after TERM"
if [ -s "$T/gateway.log" ]; then
	echo "--- gateway log (warnings and errors, last 10 lines) ---"
	tail -10 "$T/gateway.log"
fi
if [ -s "$T/driver.log" ]; then
	echo "--- driver log (last 5 lines) ---"
	tail -5 "$T/driver.log"
fi
exit $rc
