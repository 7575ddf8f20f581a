#!/usr/bin/env bash
# Builds gsn (Release) and runs the main demo: two Scheduled Transfer
# endpoints exchange every ST sequence and print the operations on the wire.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make gcc g++ libgtest-dev
build=${BUILD_DIR:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGSN_BUILD_FUZZERS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target st-demo >/dev/null
"$build/libst/st-demo" "$@"
