#!/usr/bin/env bash
# Builds gsn (Release) and runs the main demo:
#  1. st-demo: two Scheduled Transfer endpoints exchange every ST sequence
#     and print the operations on the wire;
#  2. an emulated fabric (scripts/demo/fabric.gsn): two endpoints and a
#     HARP server behind a switch, one cable lossy; HARP resolution,
#     gsnping, Messages pushed through the lossy cable, link counters;
#  3. libfabric's fi_pingpong over the gsn provider, 64 B and 1 MiB;
#  4. an Open MPI job on 2 ranks over gsn (mtl ofi): point-to-point checks
#     and a latency/bandwidth ping-pong
#     (3 and 4: scripts/demo/clients.sh; a private gsnd autostarts).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make gcc g++ libgtest-dev pkg-config \
	libfabric-dev libfabric-bin openmpi-bin libopenmpi-dev
build=${BUILD_DIR:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSN_BUILD_FUZZERS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target st-demo gsnd gsn-fabric gsnstat gsnarp gsnping gsnmsg \
	gsn-fi mpi_p2p mpi_pingpong >/dev/null
echo "### 1. Scheduled Transfer between two endpoints (st-demo)"
"$build/libst/st-demo" "$@"
echo
echo "### 2. An emulated GSN fabric (scripts/demo/fabric.gsn)"
bin=$(cd "$build/emulator" && pwd)
"$bin/gsn-fabric" scripts/demo/fabric.gsn -- scripts/demo/fabric-session.sh "$bin"
echo
scripts/demo/clients.sh "$build"
