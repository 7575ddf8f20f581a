#!/usr/bin/env bash
# fi_pingpong_test.sh --bindir DIR --provider-dir DIR [--preload LIBS]
#                     [--timeout S] [--min-bytes N] [--expect-size S] -- ARGS...
#
# libfabric's fi_pingpong (Debian libfabric-bin) over the gsn provider:
# server `fi_pingpong -p gsn ARGS -B PORT` and client `fi_pingpong -p gsn
# ARGS -P PORT 127.0.0.1` on a port the kernel calls free.  Passes when
#   - both exit 0 (with -c, fi_pingpong checks every byte and fails on a
#     mismatch) and printed result lines, one with size S if given
#     (fi_pingpong's notation: 64, 1k, 1m ...);
#   - the gsnd that libgsn autostarted in a fresh GSN_RUNDIR carried the
#     traffic: its ST engine sent at least N payload bytes (default 1) and
#     two clients opened the device (gsnstat while the pair runs);
#   - that gsnd exits by itself after the programs (within 15 s).
#
#   --bindir DIR        the build's emulator/ (gsnd, gsnstat)
#   --provider-dir DIR  where libgsn-fi.so is (FI_PROVIDER_PATH)
#   --preload LIBS      sanitizer runtime(s) for fi_pingpong's LD_PRELOAD
#                       (an instrumented provider in an uninstrumented
#                       program); the gsnd is then started without it
#   FI_PINGPONG         the program (default: fi_pingpong on PATH)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,3p' "$0" | sed 's/^# //' >&2
	exit 2
}
bindir='' provdir='' preload='' tmo=300 min_bytes=1 expect_size=''
while [ $# -gt 0 ]; do
	case $1 in
	--bindir) bindir=$2; shift 2 ;;
	--provider-dir) provdir=$2; shift 2 ;;
	--preload) preload=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--min-bytes) min_bytes=$2; shift 2 ;;
	--expect-size) expect_size=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ -n "$bindir" ] && [ -n "$provdir" ] || usage
for f in "$bindir/gsnd" "$bindir/gsnstat"; do
	[ -x "$f" ] || { echo "FAIL: $f missing" >&2; exit 1; }
done
ls "$provdir"/*fi.so >/dev/null 2>&1 || { echo "FAIL: no provider in $provdir" >&2; exit 1; }
command -v "${FI_PINGPONG:-fi_pingpong}" >/dev/null || { echo "FAIL: fi_pingpong missing" >&2; exit 1; }

rundir=$(mktemp -d "${TMPDIR:-/tmp}/gsn-fi-pingpong.XXXXXX")
export GSN_RUNDIR=$rundir FI_PROVIDER_PATH=$provdir
unset GSN_DEVICE GSN_AUTOSTART
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# The gsnd that fi_pingpong autostarts does not inherit its LD_PRELOAD
# (libgsn drops it), so the instrumented gsnd keeps its own runtime.
export GSND=$bindir/gsnd
[ -z "$preload" ] || export CLIENTS_PRELOAD=$preload

cleanup() {
	clients_sampler_stop
	local left
	left=$(clients_gsnd_pids "$rundir")
	[ -n "$left" ] && kill $left 2>/dev/null
	rm -rf "$rundir"
}
trap cleanup EXIT

fail=0
args=(-p gsn "$@")
echo "# fi_pingpong ${args[*]} (server and client on 127.0.0.1), GSN_RUNDIR=$rundir"
clients_sampler_start "$bindir/gsnstat" "$rundir" "$rundir/evidence"
clients_fi_pair "$rundir" "$tmo" "${args[@]}"
clients_sampler_stop
clients_sample_once "$bindir/gsnstat" "$rundir" "$rundir/evidence" || true

for side in server client; do
	echo "---- $side"
	cat "$rundir/$side.out"
done
echo "----"
[ "$CLIENTS_SERVER_RC" -eq 0 ] || { echo "FAIL: server exit $CLIENTS_SERVER_RC"; fail=1; }
[ "$CLIENTS_CLIENT_RC" -eq 0 ] || { echo "FAIL: client exit $CLIENTS_CLIENT_RC"; fail=1; }
for side in server client; do
	clients_fi_result "$rundir/$side.out" >/dev/null ||
		{ echo "FAIL: $side printed no result line"; fail=1; }
	if [ -n "$expect_size" ] &&
		! awk -v s="$expect_size" '$1 == s && NF == 8 { f = 1 } END { exit !f }' "$rundir/$side.out"; then
		echo "FAIL: $side printed no result for size $expect_size"
		fail=1
	fi
	grep -q "Error at iteration" "$rundir/$side.out" && { echo "FAIL: $side: data mismatch"; fail=1; }
done

bytes=$(clients_evidence "$rundir/evidence" st.bytes_sent)
clients=$(clients_evidence "$rundir/evidence" dev.clients_total)
wqes=$(clients_evidence "$rundir/evidence" dev.wqes)
echo "gsnd of $rundir: st.bytes_sent=$bytes dev.clients_total=$clients dev.wqes=$wqes"
[ "$clients" -ge 2 ] || { echo "FAIL: $clients device clients seen, want 2 (server, client)"; fail=1; }
[ "$bytes" -ge "$min_bytes" ] || { echo "FAIL: gsn carried $bytes bytes, want >= $min_bytes"; fail=1; }
if ! clients_wait_gsnd_gone "$rundir" 15; then
	echo "FAIL: the autostarted gsnd did not exit after its clients: $(clients_gsnd_pids "$rundir")"
	fail=1
fi
if [ -s "$rundir/gsn0.log" ]; then
	echo "---- gsnd log (tail)"
	tail -n 5 "$rundir/gsn0.log"
fi
[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
