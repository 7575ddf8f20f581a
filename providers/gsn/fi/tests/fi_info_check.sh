#!/bin/sh
# fi_info (libfabric's own tool) finds the gsn provider: `fi_info -l` lists
# it, `fi_info -p gsn` shows an FI_EP_RDM endpoint, `fi_info -e` lists the
# FI_GSN_* parameters.  getinfo must neither start nor contact gsnd: the run
# directory given to libgsn stays empty although autostart is allowed.
# usage: fi_info_check.sh FI_INFO PROVIDER_DIR [PRELOAD]
set -eu
fi_info=$1
export FI_PROVIDER_PATH=$2
preload=${3:-}
rundir=$(mktemp -d /tmp/gsnfi-info-XXXXXX)
trap 'rm -rf "$rundir"' EXIT
export GSN_RUNDIR="$rundir"
unset GSN_AUTOSTART GSN_DEVICE FI_GSN_DEVICE FI_PROVIDER
if [ -n "$preload" ]; then
	# the provider is ASan-instrumented and fi_info is not
	export LD_PRELOAD="$preload"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
fi

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

out=$("$fi_info" -l) || fail "fi_info -l exited $?"
echo "$out" | grep -q '^gsn:' || fail "fi_info -l does not list gsn: $out"
echo "$out" | grep -A1 '^gsn:' | grep -q 'version: 0.1' || fail "gsn's version not 0.1"

out=$("$fi_info" -p gsn) || fail "fi_info -p gsn exited $?"
echo "$out" | grep -q 'provider: gsn' || fail "no gsn entry: $out"
echo "$out" | grep -q 'fabric: gsn' || fail "fabric name: $out"
echo "$out" | grep -q 'type: *FI_EP_RDM' || fail "no FI_EP_RDM: $out"

out=$("$fi_info" -p gsn -v) || fail "fi_info -p gsn -v exited $?"
for want in FI_TAGGED FI_RMA FI_ATOMIC FI_RMA_EVENT FI_THREAD_SAFE FI_RM_ENABLED FI_ORDER_SAS; do
	echo "$out" | grep -q "$want" || fail "fi_info -v lacks $want"
done

# endpoint types we do not serve: nothing for gsn
for t in FI_EP_MSG FI_EP_DGRAM; do
	if "$fi_info" -p gsn -t $t 2>/dev/null | grep -q 'provider: gsn'; then
		fail "gsn answers $t"
	fi
done

# without the progress thread the provider reports (and requires) manual progress
out=$(FI_GSN_PROGRESS_THREAD=0 "$fi_info" -p gsn -v) || fail "FI_GSN_PROGRESS_THREAD=0 fi_info exited $?"
echo "$out" | grep -q 'data_progress: FI_PROGRESS_MANUAL' || fail "FI_GSN_PROGRESS_THREAD=0: not manual"

out=$("$fi_info" -e) || fail "fi_info -e exited $?"
for p in EAGER_SIZE RX_DEPTH TX_DEPTH CQ_SIZE PROGRESS_THREAD CONN_TIMEOUT_MS DEVICE; do
	echo "$out" | grep -q "FI_GSN_$p" || fail "fi_info -e lacks FI_GSN_$p"
done
[ -z "$(ls -A "$rundir")" ] || fail "getinfo touched the run directory: $(ls -A "$rundir")"
echo "fi_info sees gsn"
