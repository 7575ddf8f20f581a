#!/usr/bin/env bash
# compare.sh BUILD_DIR [ITERS]
#
# One-host comparison of the gsn device (gsn_perf through libgsn, a private
# gsnd autostarted in a temporary GSN_RUNDIR) with libfabric's tcp provider
# (fi_pingpong -p tcp -e rdm, server in the background, client to
# 127.0.0.1).  BUILD_DIR is a Release build of this tree.  Prints each
# figure and the ratios gsn/tcp (latency: lower is better; bandwidth:
# higher is better).  See docs/bench.md, "Device: libgsn vs libfabric tcp".
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [ITERS]" >&2; exit 2; }
B=$(cd "$1" && pwd)
ITERS=${2:-10000}
BW_ITERS=${BW_ITERS:-1000}
here=$(cd "$(dirname "$0")" && pwd)
GSN_PERF=$B/perftest/gsn_perf
export GSND=${GSND:-$B/emulator/gsnd}
for f in "$GSN_PERF" "$GSND"; do
	[ -x "$f" ] || { echo "compare.sh: $f missing (build $B first)" >&2; exit 1; }
done
if ! command -v fi_pingpong >/dev/null; then
	"$here/../scripts/deps.sh" libfabric-bin
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rundir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$rundir"
}
trap cleanup EXIT

# field NAME LINE: the value of NAME=value in a gsn_perf line
field() { grep -o " $1=[0-9.]*" <<<"$2" | head -n 1 | cut -d= -f2; }

# fi_pingpong SIZE ITERS: prints "usec_per_xfer MB_per_sec" (client's line)
fi_run() {
	local size=$1 iters=$2 port out
	port=$(free_port)
	timeout 120 fi_pingpong -p tcp -e rdm -B "$port" -S "$size" -I "$iters" \
		>"$rundir/fi_srv.out" 2>&1 &
	pids+=($!)
	local srv=$!
	sleep 0.5
	out=$(timeout 120 fi_pingpong -p tcp -e rdm -P "$port" -S "$size" -I "$iters" 127.0.0.1)
	wait "$srv" || true
	# bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
	# (the bytes column is abbreviated: 1m): take the last data line
	awk '$1 != "bytes" && NF >= 8 { l = $7 " " $6 } END { if (l == "") exit 1; print l }' <<<"$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

export GSN_RUNDIR=$rundir
unset GSN_DEVICE
echo "# gsn: $GSN_PERF (gsnd $GSND, rundir $rundir)"
echo "# tcp: $(command -v fi_pingpong) -p tcp -e rdm, 127.0.0.1"
echo

declare -A gsn_lat tcp_lat
for size in 8 64; do
	line=$("$GSN_PERF" --lat -s "$size" -n "$ITERS")
	echo "gsn  $line"
	gsn_lat[$size]=$(field avg "$line")
	gsn_med=$(field median "$line")
	read -r lat bw < <(fi_run "$size" "$ITERS")
	tcp_lat[$size]=$lat
	echo "tcp  lat  bytes=$size iters=$ITERS usec/xfer=$lat MB/s=$bw"
	echo "=>   latency ${size} B: gsn avg ${gsn_lat[$size]} us (median $gsn_med) / tcp $lat us" \
		"= $(ratio "${gsn_lat[$size]}" "$lat")"
	echo
done

size=1048576
line=$("$GSN_PERF" --bw -S $size -n "$BW_ITERS")
echo "gsn  $line"
gsn_bw=$(field MB/s "$line")
line=$("$GSN_PERF" --lat -s $size -n 200)
echo "gsn  $line"
gsn_pp_bw=$(awk -v s=$size -v t="$(field avg "$line")" 'BEGIN { printf "%.1f", s / t }')
read -r lat tcp_bw < <(fi_run $size 200)
echo "tcp  bw   bytes=$size iters=200 usec/xfer=$lat MB/s=$tcp_bw (ping-pong)"
echo "=>   bandwidth 1 MiB: gsn RDMA WRITE $gsn_bw MB/s / tcp $tcp_bw MB/s = $(ratio "$gsn_bw" "$tcp_bw")"
echo "=>   bandwidth 1 MiB ping-pong (like for like): gsn $gsn_pp_bw MB/s / tcp $tcp_bw MB/s" \
	"= $(ratio "$gsn_pp_bw" "$tcp_bw")"
