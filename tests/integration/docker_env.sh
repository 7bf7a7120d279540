# docker_env.sh - a private Docker daemon for the docker plugin's tests and
# benchmark: its own data root, exec root and socket under $T (keep $T short:
# a Unix socket path has at most 107 bytes), the vfs storage driver, no
# iptables, no bridge, --live-restore (containers survive a daemon restart),
# and a local image built from Debian's busybox-static.
#
# Sourced after T is set. Functions:
#   docker_env_missing      prints what is missing to run a daemon (empty: ok)
#   docker_env_start        start dockerd, wait for GET /_ping (30 s)
#   docker_env_stop         remove every container, stop dockerd (+ its containerd)
#   docker_env_restart      stop and start dockerd, keeping the containers
#   docker_env_image [REF]  import the busybox image (default $DOCKER_TEST_IMAGE)
#   dk ARGS...              the docker CLI on this daemon
DOCKER_SOCK=$T/docker.sock
DOCKER_TEST_IMAGE=openshell-test/busybox:latest
DOCKERD_PID=
# Prefer Debian's CLI (same release as the daemon) when both exist.
if [ -x /usr/bin/docker ]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI=$(command -v docker || true); fi

dk() { "$DOCKER_CLI" -H "unix://$DOCKER_SOCK" "$@"; }

docker_env_missing() {
	local m=
	[ "$(id -u)" = 0 ] || m="$m root"
	command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || m="$m dockerd(docker.io)"
	[ -n "$DOCKER_CLI" ] || m="$m docker-cli(docker.io)"
	command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || m="$m runc"
	[ -x /bin/busybox ] || m="$m /bin/busybox(busybox-static)"
	command -v curl >/dev/null 2>&1 || m="$m curl"
	echo "$m"
}

docker_env_ping() {
	curl -s -m 2 --unix-socket "$DOCKER_SOCK" http://docker/_ping 2>/dev/null | grep -q OK
}

docker_env_start() {
	mkdir -p "$T/docker" "$T/exec"
	[ -f "$T/daemon.json" ] || echo '{}' >"$T/daemon.json"
	PATH=$PATH:/usr/sbin:/sbin dockerd --config-file "$T/daemon.json" \
		--storage-driver=vfs --iptables=false --ip-masq=false --bridge=none \
		--live-restore --shutdown-timeout 2 \
		--containerd-namespace osh-test --containerd-plugins-namespace osh-test-plugins \
		--data-root "$T/docker" --exec-root "$T/exec" --pidfile "$T/docker.pid" \
		--host "unix://$DOCKER_SOCK" >>"$T/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local i
	for i in $(seq 1 300); do
		docker_env_ping && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "dockerd did not answer on $DOCKER_SOCK; its log:" >&2
	tail -20 "$T/dockerd.log" >&2
	return 1
}

# Stop dockerd (and the containerd it started) without touching containers.
docker_env_kill_daemon() {
	[ -n "$DOCKERD_PID" ] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null
	local i
	for i in $(seq 1 200); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DOCKERD_PID" 2>/dev/null
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
	return 0
}

docker_env_restart() {
	docker_env_kill_daemon
	docker_env_start
}

docker_env_stop() {
	if [ -n "$DOCKERD_PID" ] && docker_env_ping; then
		local ids
		ids=$(dk ps -aq 2>/dev/null)
		[ -n "$ids" ] && dk rm -f $ids >/dev/null 2>&1
	fi
	docker_env_kill_daemon
	# Anything the daemon left mounted under $T would stop rm -rf.
	local m
	for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	return 0
}

# A minimal image: busybox-static and its applets in /bin.
docker_env_image() {
	local ref=${1:-$DOCKER_TEST_IMAGE} root=$T/rootfs a
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/tmp" "$root/etc"
	chmod 1777 "$root/tmp"
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
	tar -C "$root" -c . | dk import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$ref" >/dev/null
	rm -rf "$root"
}
