#!/usr/bin/env bash
# clients.sh BUILD_DIR — parts 3 and 4 of the main demo (scripts/demo.sh):
# unmodified clients over the gsn libfabric provider, with nothing started
# by hand: each run gets a fresh GSN_RUNDIR, where the first process to
# open the gsn device autostarts a private gsnd, which exits after the last.
#
#  3. libfabric's fi_pingpong -p gsn -e rdm (Debian libfabric-bin), 64 B and
#     1 MiB, data checked (-c): its usec/xfer and MB/sec, and the gsnd's
#     counters showing the bytes crossed it;
#  4. an Open MPI job on 2 ranks over gsn (pml cm, mtl ofi): tests/mpi's
#     point-to-point checks, then a latency/bandwidth ping-pong.
set -euo pipefail
B=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
clients=$root/tests/clients
bin=$B/emulator
prov=$B/providers/gsn/fi

echo "### 3. libfabric: fi_pingpong over gsn (FI_PROVIDER_PATH=$prov)"
echo "== fi_info -p gsn"
FI_PROVIDER_PATH=$prov fi_info -p gsn
summary=()
for size in 64 1048576; do
	iters=10000
	[ "$size" -gt 64 ] && iters=200
	echo
	echo "== fi_pingpong -p gsn -e rdm -S $size -I $iters -c   (server, then client to 127.0.0.1)"
	out=$("$clients/fi_pingpong_test.sh" --bindir "$bin" --provider-dir "$prov" \
		-- -e rdm -S "$size" -I "$iters" -c) || { echo "$out"; exit 1; }
	echo "$out"
	line=$(sed -n '/^---- client/,/^----$/p' <<<"$out" | awk '$1 != "bytes" && NF == 8 { l = $0 } END { print l }')
	summary+=("$(awk -v s="$size" '{ printf "%8s B: %s usec/xfer, %s MB/s", s, $7, $6 }' <<<"$line")")
done
echo
echo "== fi_pingpong over gsn, client's figures"
printf '%s\n' "${summary[@]}"

echo
echo "### 4. MPI over gsn: Open MPI, pml cm + mtl ofi, provider gsn, 2 ranks"
# mtl ofi's selection lines, but for the provider it chose, are left out
mpi() {
	"$clients/mpi_run.sh" --mode mtl --np 2 --bindir "$bin" --provider-dir "$prov" -- "$@" |
		grep -v -E 'provider_(include|exclude) = |fi_getinfo\(\): Success'
}
mpi "$B/tests/mpi/mpi_p2p"
echo
mpi "$B/tests/mpi/mpi_pingpong" -n 2000 -m 20
