#!/usr/bin/env bash
# mpi_run.sh --mode mtl|osc --np N --bindir DIR --provider-dir DIR
#            [--timeout S] [--min-bytes N] -- PROGRAM [ARGS...]
#
# Runs an MPI program on N ranks of this host with Open MPI over the gsn
# libfabric provider, in a fresh GSN_RUNDIR (the first rank's libgsn
# autostarts a private gsnd there; it exits after the last rank):
#
#   mtl      --mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include gsn
#            (two-sided MPI; no other transport is left to fall back on)
#   osc      --mca pml ob1 --mca btl self,tcp,ofi --mca osc rdma
#            --mca btl_ofi_provider_include gsn (one-sided MPI: osc rdma
#            needs an RDMA btl with atomics, which only ofi over gsn
#            provides here)
#
# Passes when mpirun exits 0 within S seconds (default 600) and the run
# really used gsn (exit 77, the programs' "skipped", is passed on):
#   - mtl: each of the N ranks reported "mtl:ofi:prov: gsn" (mtl_ofi_verbose);
#   - the gsnd's counters, read with gsnstat while the job runs, show N or
#     more device clients and at least N bytes (--min-bytes, default 1 MB)
#     sent by its Scheduled Transfer engine;
#   - that gsnd exits by itself within 15 s of the job.
#
# The ranks are not bound to cores (--bind-to none): the autostarted gsnd
# inherits the affinity of the rank that starts it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
	sed -n '2,3p' "$0" | sed 's/^# //' >&2
	exit 2
}
mode='' np='' bindir='' provdir='' tmo=600 min_bytes=1000000
while [ $# -gt 0 ]; do
	case $1 in
	--mode) mode=$2; shift 2 ;;
	--np) np=$2; shift 2 ;;
	--bindir) bindir=$2; shift 2 ;;
	--provider-dir) provdir=$2; shift 2 ;;
	--timeout) tmo=$2; shift 2 ;;
	--min-bytes) min_bytes=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ -n "$mode" ] && [ -n "$np" ] && [ -n "$bindir" ] && [ -n "$provdir" ] && [ $# -ge 1 ] || usage
for f in "$bindir/gsnd" "$bindir/gsnstat" "$1"; do
	[ -x "$f" ] || { echo "FAIL: $f missing" >&2; exit 1; }
done
ls "$provdir"/*fi.so >/dev/null 2>&1 || { echo "FAIL: no provider in $provdir" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "FAIL: mpirun missing (openmpi-bin)" >&2; exit 1; }

# shellcheck disable=SC2054 # commas inside MCA values
case $mode in
mtl) mca=(--mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include gsn --mca mtl_ofi_verbose 1) ;;
osc) mca=(--mca pml ob1 --mca btl self,tcp,ofi --mca osc rdma --mca btl_ofi_provider_include gsn) ;;
*) usage ;;
esac

rundir=$(mktemp -d "${TMPDIR:-/tmp}/gsn-mpi.XXXXXX")
export GSN_RUNDIR=$rundir FI_PROVIDER_PATH=$provdir GSND=$bindir/gsnd
unset GSN_DEVICE GSN_AUTOSTART
# Open MPI keeps memory until exit: leak reports would be its, not ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

cleanup() {
	clients_sampler_stop
	local left
	left=$(clients_gsnd_pids "$rundir")
	[ -n "$left" ] && kill $left 2>/dev/null
	rm -rf "$rundir"
}
trap cleanup EXIT

cmd=(mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$np" "${mca[@]}"
	-x FI_PROVIDER_PATH -x GSN_RUNDIR -x GSND -x ASAN_OPTIONS -x UBSAN_OPTIONS "$@")
echo "# ${cmd[*]}"
echo "# GSN_RUNDIR=$rundir FI_PROVIDER_PATH=$provdir GSND=$GSND"
clients_sampler_start "$bindir/gsnstat" "$rundir" "$rundir/evidence"
timeout -k 10 "$tmo" "${cmd[@]}" >"$rundir/job.out" 2>&1
rc=$?
clients_sampler_stop
clients_sample_once "$bindir/gsnstat" "$rundir" "$rundir/evidence" || true

# the verbose selection lines for every provider gsn is not are noise
grep -v 'not in include list' "$rundir/job.out"
echo "----"
if [ "$rc" -eq 77 ]; then
	echo "SKIP: the program cannot run here (exit 77)"
	exit 77
fi
fail=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "FAIL: mpirun did not finish within $tmo s"
	fail=1
elif [ "$rc" -ne 0 ]; then
	echo "FAIL: mpirun exit $rc"
	fail=1
fi
if [ "$mode" = mtl ]; then
	n=$(grep -c 'mtl:ofi:prov: gsn$' "$rundir/job.out")
	other=$(grep 'mtl:ofi:prov: ' "$rundir/job.out" | grep -vc 'mtl:ofi:prov: gsn$')
	echo "mtl ofi chose provider gsn on $n ranks (another provider on $other)"
	[ "$n" -eq "$np" ] && [ "$other" -eq 0 ] || { echo "FAIL: not every rank ran on gsn"; fail=1; }
fi
bytes=$(clients_evidence "$rundir/evidence" st.bytes_sent)
clients=$(clients_evidence "$rundir/evidence" dev.clients_total)
wqes=$(clients_evidence "$rundir/evidence" dev.wqes)
echo "gsnd of $rundir: st.bytes_sent=$bytes dev.clients_total=$clients dev.wqes=$wqes"
[ "$clients" -ge "$np" ] || { echo "FAIL: $clients device clients seen, want >= $np ranks"; fail=1; }
[ "$bytes" -ge "$min_bytes" ] || { echo "FAIL: gsn carried $bytes bytes, want >= $min_bytes"; fail=1; }
if ! clients_wait_gsnd_gone "$rundir" 15; then
	echo "FAIL: the autostarted gsnd did not exit after the job: $(clients_gsnd_pids "$rundir")"
	fail=1
fi
[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
