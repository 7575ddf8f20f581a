#!/usr/bin/env bash
# Installs what is missing, builds gsn in Release with gcc (warnings are
# errors there too), then with clang in Debug with ASan+UBSan, and runs the
# whole test suite through ctest: unit and sequence suites, the client
# tests (fi_pingpong and Open MPI over the gsn libfabric provider),
# fuzz-corpus replays, and a short timed run of every libFuzzer harness.
#
# Environment: BUILD_DIR (default build/test), GSN_FUZZ_SECONDS (per
# harness, default 60; 0 skips the timed runs), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh cmake make clang libclang-rt-14-dev g++ libgtest-dev pkg-config \
	libfabric-dev libfabric-bin openmpi-bin libopenmpi-dev

build=${BUILD_DIR:-build/test}
fuzz=${GSN_FUZZ_SECONDS:-60}
jobs=${JOBS:-$(nproc)}

# gcc, optimised: the demo's and the benchmarks' build must stay warning-free too
cmake -S . -B "$build-gcc-release" -DCMAKE_BUILD_TYPE=Release -DGSN_BUILD_FUZZERS=OFF
cmake --build "$build-gcc-release" -j"$jobs"

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DGSN_SANITIZE=ON \
	-DGSN_FUZZ_RUN_SECONDS="$fuzz"
cmake --build "$build" -j"$jobs"
cd "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j"$jobs"
