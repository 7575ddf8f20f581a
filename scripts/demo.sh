#!/usr/bin/env bash
# Builds gsn (Release) and runs the main demo:
#  1. st-demo: two Scheduled Transfer endpoints exchange every ST sequence
#     and print the operations on the wire;
#  2. an emulated fabric (scripts/demo/fabric.gsn): two endpoints and a
#     HARP server behind a switch, one cable lossy; HARP resolution,
#     gsnping, Messages pushed through the lossy cable, link counters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make gcc g++ libgtest-dev
build=${BUILD_DIR:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSN_BUILD_FUZZERS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target st-demo gsnd gsn-fabric gsnstat gsnarp gsnping gsnmsg >/dev/null
echo "### 1. Scheduled Transfer between two endpoints (st-demo)"
"$build/libst/st-demo" "$@"
echo
echo "### 2. An emulated GSN fabric (scripts/demo/fabric.gsn)"
bin=$(cd "$build/emulator" && pwd)
"$bin/gsn-fabric" scripts/demo/fabric.gsn -- scripts/demo/fabric-session.sh "$bin"
