#!/usr/bin/env bash
# fi_compare.sh BUILD_DIR [REPS]
#
# libfabric's own benchmark, fi_pingpong -e rdm (Debian libfabric-bin), over
# three providers on this host: gsn (this tree's libgsn-fi.so, a private
# gsnd autostarted in a fresh run directory per run), tcp and shm.  For
# REPS repetitions (default 5), the providers take turns (gsn, tcp, shm,
# gsn, ...), each measuring
#   - 64-byte latency:   -S 64 -I LAT_ITERS (default 10000), usec/xfer
#   - 1 MiB throughput:  -S 1048576 -I BW_ITERS (default 200), MB/sec
# (fi_pingpong's client line; usec/xfer is half a round trip, MB/s are
# 10^6 bytes/s of ping-pong traffic).  Prints every run, then a table of
# medians, the latency ratios gsn/tcp and gsn/shm (below 1 favours gsn) and
# gsn's 1 MiB figure against the 800 MB/s GSN line rate.
#
# BUILD_DIR is a Release build of this tree with the provider, e.g.
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=Release -DGSN_BUILD_FUZZERS=OFF
#   cmake --build build/rel -j --target gsn-fi gsnd
# See docs/bench.md, "libfabric: fi_pingpong over gsn, tcp and shm".
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [REPS]" >&2; exit 2; }
B=$(cd "$1" && pwd)
REPS=${2:-5}
LAT_ITERS=${LAT_ITERS:-10000}
BW_ITERS=${BW_ITERS:-200}
TIMEOUT=${TIMEOUT:-300}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/clients/lib.sh
. "$here/../tests/clients/lib.sh"

provdir=$B/providers/gsn/fi
export GSND=${GSND:-$B/emulator/gsnd}
[ -x "$GSND" ] || { echo "fi_compare.sh: $GSND missing (build $B first)" >&2; exit 1; }
[ -e "$provdir/libgsn-fi.so" ] ||
	{ echo "fi_compare.sh: $provdir/libgsn-fi.so missing (build target gsn-fi)" >&2; exit 1; }
command -v fi_pingpong >/dev/null || "$here/../scripts/deps.sh" libfabric-bin
export FI_PROVIDER_PATH=$provdir
unset GSN_DEVICE GSN_AUTOSTART

work=$(mktemp -d)
cleanup() {
	local d
	for d in "$work"/run.*; do
		[ -d "$d" ] || continue
		local left
		left=$(clients_gsnd_pids "$d")
		[ -n "$left" ] && kill $left 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

# run PROVIDER SIZE ITERS: one fi_pingpong pair; prints "usec MB/s"
nrun=0
run() {
	local prov=$1 size=$2 iters=$3 d
	nrun=$((nrun + 1))
	d=$work/run.$nrun
	mkdir -p "$d"
	GSN_RUNDIR=$d clients_fi_pair "$d" "$TIMEOUT" -p "$prov" -e rdm -S "$size" -I "$iters"
	if [ "$CLIENTS_SERVER_RC" -ne 0 ] || [ "$CLIENTS_CLIENT_RC" -ne 0 ]; then
		echo "fi_compare.sh: fi_pingpong -p $prov -S $size failed (server $CLIENTS_SERVER_RC," \
			"client $CLIENTS_CLIENT_RC):" >&2
		cat "$d/server.out" "$d/client.out" >&2
		return 1
	fi
	clients_fi_result "$d/client.out"
}

median() {
	tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

provs=(gsn tcp shm)
declare -A lat bw
echo "# fi_pingpong -e rdm on $(hostname), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# gsn: $provdir/libgsn-fi.so, gsnd $GSND"
echo "# $REPS repetitions; 64 B x $LAT_ITERS iterations, 1 MiB x $BW_ITERS iterations"
printf '%-4s %-4s %14s %14s\n' rep prov "64B usec/xfer" "1MiB MB/s"
for rep in $(seq 1 "$REPS"); do
	for prov in "${provs[@]}"; do
		read -r l _ < <(run "$prov" 64 "$LAT_ITERS")
		read -r _ m < <(run "$prov" 1048576 "$BW_ITERS")
		[ -n "${l:-}" ] && [ -n "${m:-}" ] || { echo "fi_compare.sh: no figures from $prov" >&2; exit 1; }
		lat[$prov]="${lat[$prov]:-} $l"
		bw[$prov]="${bw[$prov]:-} $m"
		printf '%-4s %-4s %14s %14s\n' "$rep" "$prov" "$l" "$m"
	done
done

echo
echo "Medians of $REPS runs"
printf '| %-8s | %-22s | %-18s |\n' provider "64 B latency (usec)" "1 MiB (MB/s)"
printf '|%s|%s|%s|\n' ---------- ------------------------ --------------------
declare -A mlat mbw
for prov in "${provs[@]}"; do
	mlat[$prov]=$(median <<<"${lat[$prov]}")
	mbw[$prov]=$(median <<<"${bw[$prov]}")
	printf '| %-8s | %-22s | %-18s |\n' "$prov" "${mlat[$prov]}" "${mbw[$prov]}"
done
echo
echo "latency gsn/tcp = $(ratio "${mlat[gsn]}" "${mlat[tcp]}")," \
	"gsn/shm = $(ratio "${mlat[gsn]}" "${mlat[shm]}") (below 1: gsn faster)"
echo "1 MiB  gsn/tcp = $(ratio "${mbw[gsn]}" "${mbw[tcp]}")," \
	"gsn/shm = $(ratio "${mbw[gsn]}" "${mbw[shm]}") (above 1: gsn faster)"
echo "gsn 1 MiB: ${mbw[gsn]} MB/s =" \
	"$(awk -v m="${mbw[gsn]}" 'BEGIN { printf "%.0f", m / 8 }') % of the 800 MB/s GSN line rate"
