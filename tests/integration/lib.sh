# lib.sh - shared helpers of the end-to-end scripts: a private directory,
# the C test driver, the gateway and the CLI, all from the build tree.
# Sourced by tests/integration/*.sh; needs OSH_BUILDDIR (set by make check).
set -u
unset KUBERNETES_SERVICE_HOST OPENSHELL_DRIVERS OPENSHELL_COMPUTE_DRIVER_SOCKET OPENSHELL_GATEWAY_CONFIG OPENSHELL_DB_URL
B=${OSH_BUILDDIR:?run through make check, or set OSH_BUILDDIR}
T=$(mktemp -d /tmp/osh-it.XXXXXX)
chmod 0755 "$T"
DRV_SOCK=$T/drv.sock
GW_SOCK=$T/gw.sock
DB=$T/db.sqlite
DRIVER_DIR=$T/drivers
DRV_STATE=$T/drv.state # unset to run the test driver without a state file
mkdir -p "$DRIVER_DIR"
ln -s "$B/plugins/remote-uds/.libs/remote-uds.so" "$DRIVER_DIR/remote-uds.so"
export OPENSHELL_GATEWAY=unix:$GW_SOCK
# Multiplies every wait (and the test driver's injected delays in the scripts),
# e.g. OSH_TIME_SCALE=10 with OSH_GATEWAY_WRAPPER=valgrind.
S=${OSH_TIME_SCALE:-1}
PASS=0
FAIL=0
DRV_PID=
GW_PID=

cleanup() {
	[ -n "$GW_PID" ] && kill -9 "$GW_PID" 2>/dev/null
	[ -n "$DRV_PID" ] && kill -9 "$DRV_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

wait_for_socket() { # PATH [SECONDS]
	local i
	for i in $(seq 1 $((${2:-10} * 20 * S))); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	echo "socket $1 did not appear" >&2
	return 1
}

start_driver() { # extra test-driver flags
	"$B/tests/fixtures/test-driver" --socket "$DRV_SOCK" ${DRV_STATE:+--state "$DRV_STATE"} "$@" \
		>>"$T/driver.log" 2>&1 &
	DRV_PID=$!
	wait_for_socket "$DRV_SOCK"
}

stop_driver() { # signal (default TERM)
	[ -n "$DRV_PID" ] || return 0
	kill -"${1:-TERM}" "$DRV_PID" 2>/dev/null
	wait "$DRV_PID" 2>/dev/null
	DRV_PID=
	[ "${1:-TERM}" = KILL ] && rm -f "$DRV_SOCK"
	return 0
}

start_gateway() { # extra gateway flags
	rm -f "$GW_SOCK"
	# OSH_GATEWAY_WRAPPER, e.g. "valgrind --leak-check=full --error-exitcode=99",
	# runs the gateway under a checker.
	${OSH_GATEWAY_WRAPPER:-} "$B/openshell-gateway" --driver-dir "$DRIVER_DIR" --drivers "test@$DRV_SOCK" \
		--bind-address "unix:$GW_SOCK" --db-url "sqlite:$DB" --log-level debug "$@" \
		>>"$T/gateway.log" 2>&1 &
	GW_PID=$!
	wait_for_socket "$GW_SOCK" 60
}

stop_gateway() { # signal (default TERM); returns the gateway's exit status
	[ -n "$GW_PID" ] || return 0
	kill -"${1:-TERM}" "$GW_PID" 2>/dev/null
	local rc=0
	wait "$GW_PID" 2>/dev/null || rc=$?
	GW_PID=
	# A graceful stop must exit 0: under ASan a leak report makes it non-zero.
	if [ "${1:-TERM}" != KILL ] && [ "$rc" -ne 0 ]; then
		not_ok "gateway exited with status $rc after SIG${1:-TERM}"
		grep -A30 'ERROR: \|LeakSanitizer' "$T/gateway.log" | head -60
	fi
	return $rc
}

cli() { "$B/openshell" "$@"; }

# phase NAME: the sandbox's phase as the CLI reports it (json), or "GONE".
phase() {
	cli -o json sandbox get "$1" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])' 2>/dev/null ||
		echo GONE
}

# wait_phase NAME PHASE [SECONDS]
wait_phase() {
	local i p
	for i in $(seq 1 $((${3:-10} * 10 * S))); do
		p=$(phase "$1")
		[ "$p" = "$2" ] && return 0
		sleep 0.1
	done
	echo "sandbox $1: phase $p, wanted $2" >&2
	return 1
}

finish() {
	echo "$PASS passed, $FAIL failed"
	if [ "$FAIL" -ne 0 ]; then
		echo "--- gateway log (tail) ---"
		tail -40 "$T/gateway.log" 2>/dev/null
		echo "--- driver log (tail) ---"
		tail -20 "$T/driver.log" 2>/dev/null
		exit 1
	fi
	exit 0
}
