#!/bin/bash
# demo.sh - the main job from a fresh Debian 12 machine, as root: install the
# build dependencies, build, start a compute driver and the gateway, create a
# sandbox, wait for READY, list it, delete it, stop everything.
# The compute driver is the project's test driver served on a Unix socket
# (the docker plugin will take its place once it exists).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -eq 0 ] && [ -z "${SKIP_APT:-}" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends build-essential autoconf automake \
		libtool pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev \
		libprotobuf-dev libinih-dev libsqlite3-dev libcurl4-openssl-dev libjansson-dev \
		libcriterion-dev >/dev/null
fi
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build-demo
cd build-demo
[ -f Makefile ] || ../configure --quiet
make -j2 --quiet >/dev/null
make -j2 --quiet tests/fixtures/test-driver >/dev/null

run=$(mktemp -d /tmp/openshell-demo.XXXXXX)
chmod 0755 "$run"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$run"' EXIT
mkdir "$run/drivers"
ln -s "$PWD/plugins/remote-uds/.libs/remote-uds.so" "$run/drivers/"
./tests/fixtures/test-driver --socket "$run/driver.sock" --ready-delay-ms 500 2>"$run/driver.log" &
./openshell-gateway --driver-dir "$run/drivers" --drivers "demo@$run/driver.sock" \
	--port 17670 --db-url "sqlite:$run/openshell.db" 2>"$run/gateway.log" &
for _ in $(seq 100); do ./openshell health >/dev/null 2>&1 && break; sleep 0.1; done

set -x
./openshell health
./openshell gateway info
./openshell sandbox create hello --image demo/busybox --env GREETING=hi --wait -- sleep 3600
./openshell sandbox list
./openshell sandbox delete hello
./openshell sandbox list
