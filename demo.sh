#!/bin/bash
# demo.sh - the main job from a fresh Debian 12 machine, as root: install what
# is needed, build, start dockerd if none answers, build a local demo image
# (busybox-static; no registry needed), start the gateway with the docker
# driver, create a sandbox, wait for READY, list it, delete it, stop
# everything this script started.
set -euo pipefail
cd "$(dirname "$0")"
src=$PWD
if [ "$(id -u)" -eq 0 ] && [ -z "${SKIP_APT:-}" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends build-essential autoconf automake \
		libtool pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev \
		libprotobuf-dev libinih-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev \
		libcriterion-dev docker.io runc busybox-static curl >/dev/null
fi
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build-demo
cd build-demo
[ -f Makefile ] || ../configure --quiet
make -j2 --quiet >/dev/null

T=$(mktemp -d /tmp/osh-demo.XXXXXX) # short: it holds Unix sockets
chmod 0755 "$T"
. "$src/tests/integration/docker_env.sh"
GW_PID=
finish() {
	local rc=$?
	set +xe
	if [ -n "$GW_PID" ]; then
		kill "$GW_PID" 2>/dev/null
		wait "$GW_PID" 2>/dev/null || true
	fi
	docker_env_stop # only stops a daemon this script started
	rm -rf "$T" 2>/dev/null || true
	exit $rc
}
trap finish EXIT
if curl -s -m 2 --unix-socket /var/run/docker.sock http://docker/_ping 2>/dev/null | grep -q OK; then
	DOCKER_SOCK=/var/run/docker.sock
	echo "using the running Docker daemon on $DOCKER_SOCK"
else
	echo "starting a private dockerd on $DOCKER_SOCK"
	docker_env_start
fi
IMAGE=openshell-demo/busybox:latest
dk image inspect "$IMAGE" >/dev/null 2>&1 || docker_env_image "$IMAGE"

mkdir "$T/drivers"
ln -s "$PWD/plugins/docker/.libs/docker.so" "$T/drivers/docker.so"
cat >"$T/gateway.ini" <<INI
[openshell.gateway]
compute_drivers = docker

[openshell.drivers.docker]
socket_path = $DOCKER_SOCK
default_image = $IMAGE
stop_timeout_secs = 2
INI
./openshell-gateway --config "$T/gateway.ini" --driver-dir "$T/drivers" --port 17670 \
	--db-url "sqlite:$T/openshell.db" 2>"$T/gateway.log" &
GW_PID=$!
for _ in $(seq 100); do ./openshell health >/dev/null 2>&1 && break; sleep 0.1; done

set -x
./openshell health
./openshell gateway info
./openshell sandbox create hello --image "$IMAGE" --env GREETING=hi --wait -- sleep 3600
./openshell sandbox list
dk ps --filter label=openshell.ai/sandbox-name=hello --format '{{.Names}}  {{.Status}}'
./openshell sandbox delete hello
./openshell sandbox list
