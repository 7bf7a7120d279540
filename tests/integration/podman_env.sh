# podman_env.sh - a private, rootful Podman service for the podman tests and
# the podman benchmark: its own storage (vfs), run root, temp dir, CNI config
# dir and containers.conf under one directory, a socket there, and a local
# busybox-static image, so nothing touches the host's Podman state and no
# registry is needed.
#
# Source it, then:
#   podman_env_init DIR     # DIR: where everything lives (keep it short: the
#                           # socket path must stay under 108 bytes)
#   podman_env_start        # start `podman system service`, wait for /_ping
#   podman_env_image        # build $PM_IMAGE from /bin/busybox (podman import)
#   pm ...                  # podman on the same storage, no service involved
#                           # (use it for exec: an exec through the service
#                           # leaves its conmon behind in Podman 4.3)
#   pmr ...                 # podman --url unix://$PM_SOCK (through the service)
#   pm_api METHOD PATH [curl args]   # curl on the socket, /v4.0.0/libpod prefix
#   podman_env_stop         # stop the service (containers keep running)
#   podman_env_destroy      # remove every container and volume, stop the service
# podman_env_usable returns 1, with the reason in PM_WHY, when the machine
# cannot run it: not root, or podman, runc, conmon or a static busybox missing.
#
# Run directly (`bash podman_env.sh`) it starts a service in a temporary
# directory, builds the image, runs a create/start/stop/inspect/events smoke
# check through the REST API and stops everything.

PM_IMAGE=localhost/openshell-test/busybox:latest
PM_API=/v4.0.0/libpod
PM_PID=

podman_env_usable() {
	local b
	if [ "$(id -u)" != 0 ]; then
		PM_WHY="not root (the test service runs rootful)"
		return 1
	fi
	for b in podman runc conmon curl; do
		command -v $b >/dev/null 2>&1 || { PM_WHY="$b is not installed"; return 1; }
	done
	PM_BUSYBOX=
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then # static: ldd refuses it
			PM_BUSYBOX=$b
			break
		fi
	done
	[ -n "$PM_BUSYBOX" ] || { PM_WHY="no static busybox (apt-get install busybox-static)"; return 1; }
	return 0
}

# A value for containers.conf default_ulimits: the hard limit, capped at
# 1048576 and, for nproc, at kernel.pid_max (the podman service lowers its own
# nproc limit to that). Podman's own defaults are above what this machine
# allows: "setrlimit: Operation not permitted" at container start.
podman_env_limit() { # ulimit flag
	local v max
	v=$(ulimit -H "$1")
	[ "$v" = unlimited ] && v=1048576
	[ "$v" -gt 1048576 ] && v=1048576
	if [ "$1" = -u ]; then
		max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
		[ "$v" -gt "$max" ] && v=$max
	fi
	echo "$v"
}

podman_env_init() { # DIR
	PM_DIR=$1
	PM_SOCK=$PM_DIR/podman.sock
	mkdir -p "$PM_DIR/cni" "$PM_DIR/tmp"
	local nofile nproc
	nofile=$(podman_env_limit -n)
	nproc=$(podman_env_limit -u)
	cat >"$PM_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PM_DIR/tmp"

[network]
network_config_dir = "$PM_DIR/cni"
EOF
	# No registries: a pull of anything not local fails at once.
	printf 'unqualified-search-registries = []\n' >"$PM_DIR/registries.conf"
	export CONTAINERS_CONF=$PM_DIR/containers.conf
	export CONTAINERS_REGISTRIES_CONF=$PM_DIR/registries.conf
	PM_FLAGS=(--root "$PM_DIR/root" --runroot "$PM_DIR/run" --storage-driver vfs
		--cgroup-manager cgroupfs --runtime runc)
}

pm() { podman "${PM_FLAGS[@]}" "$@"; }
pmr() { podman --url "unix://$PM_SOCK" "$@"; }
pm_api() { # METHOD PATH [curl args...]: body on stdout, then a line "HTTP <code>"
	local m=$1 p=$2
	shift 2
	curl -sS --unix-socket "$PM_SOCK" -X "$m" -w '\nHTTP %{http_code}\n' "$@" "http://d$PM_API$p"
}

podman_env_ping() {
	[ "$(curl -s -m 2 --unix-socket "$PM_SOCK" http://d/_ping 2>/dev/null)" = OK ]
}

podman_env_start() {
	local i
	rm -f "$PM_SOCK"
	podman "${PM_FLAGS[@]}" system service --time=0 "unix://$PM_SOCK" >>"$PM_DIR/service.log" 2>&1 &
	PM_PID=$!
	for i in $(seq 1 200); do
		podman_env_ping && return 0
		kill -0 "$PM_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "podman service did not answer /_ping on $PM_SOCK" >&2
	tail -20 "$PM_DIR/service.log" >&2
	return 1
}

podman_env_stop() { # signal (default TERM)
	[ -n "$PM_PID" ] || return 0
	kill -"${1:-TERM}" "$PM_PID" 2>/dev/null
	wait "$PM_PID" 2>/dev/null
	PM_PID=
	return 0
}

podman_env_image() {
	local r=$PM_DIR/rootfs a
	rm -rf "$r"
	mkdir -p "$r/bin" "$r/sandbox" "$r/tmp" "$r/etc" "$r/proc" "$r/sys" "$r/dev"
	cp "$PM_BUSYBOX" "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	chmod 1777 "$r/tmp"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
	echo 'root:x:0:' >"$r/etc/group"
	tar -C "$r" -cf "$PM_DIR/rootfs.tar" . &&
		pm import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
			"$PM_DIR/rootfs.tar" "$PM_IMAGE" >>"$PM_DIR/service.log" 2>&1
	local rc=$?
	rm -rf "$r" "$PM_DIR/rootfs.tar"
	return $rc
}

# conmon processes of this service's containers still alive (by pid).
podman_env_conmons() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q "^/usr/bin/conmon .*$PM_DIR/" && echo "$pid"
	done
	return 0
}

podman_env_destroy() {
	[ -n "${PM_DIR:-}" ] || return 0
	pm rm -a -f -t 0 >/dev/null 2>&1
	pm volume rm -a -f >/dev/null 2>&1
	podman_env_stop
	# Podman 4.3 leaves the conmon of an exec made through the service
	# (`podman --url ... exec`) running after the exec ended: end ours.
	local pids
	pids=$(podman_env_conmons)
	[ -n "$pids" ] && kill $pids 2>/dev/null
	return 0
}

# ---- run directly: the smoke check ----------------------------------------
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	podman_env_usable || { echo "podman_env.sh: skipped: $PM_WHY"; exit 77; }
	D=$(mktemp -d /tmp/pm.XXXXXX)
	trap 'podman_env_destroy; rm -rf "$D"' EXIT
	podman_env_init "$D"
	podman_env_image || exit 1
	podman_env_start || exit 1
	fail=0
	expect() { # DESCRIPTION PATTERN TEXT
		if grep -q -- "$2" <<<"$3"; then echo "ok - $1"; else echo "not ok - $1: $3"; fail=1; fi
	}
	curl -sN --unix-socket "$PM_SOCK" \
		"http://d$PM_API/events?stream=true&filters=%7B%22type%22%3A%5B%22container%22%5D%7D" \
		>"$D/events" 2>/dev/null &
	ev=$!
	sleep 0.3
	body='{"name":"smoke","image":"'$PM_IMAGE'","command":["sh","-c","trap \"exit 0\" TERM; echo $GREETING; while :; do sleep 1; done"],"env":{"GREETING":"hi"},"labels":{"openshell.ai/managed-by":"openshell"}}'
	expect "create: 201 with Id" '"Id":".*HTTP 201' "$(pm_api POST /containers/create -H 'Content-Type: application/json' -d "$body" | tr -d '\n')"
	expect "start: 204" 'HTTP 204' "$(pm_api POST /containers/smoke/start)"
	expect "inspect: running" '"Status":"running"' "$(pm_api GET /containers/smoke/json)"
	expect "logs show the env" '^hi$' "$(pmr logs smoke)"
	expect "stop: 204" 'HTTP 204' "$(pm_api POST '/containers/smoke/stop?timeout=5')"
	expect "inspect: exited 0" '"Status":"exited".*"ExitCode":0' "$(pm_api GET /containers/smoke/json | tr -d '\n')"
	expect "delete: 200" 'HTTP 200' "$(pm_api DELETE '/containers/smoke?force=true')"
	sleep 0.5
	kill "$ev" 2>/dev/null
	wait "$ev" 2>/dev/null
	expect "events: start, died (ExitCode in Actor.Attributes), remove" \
		'"Action":"start".*"Action":"died".*"containerExitCode":"0".*"Action":"remove"' "$(tr -d '\n' <"$D/events")"
	exit $fail
fi
