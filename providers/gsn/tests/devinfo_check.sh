#!/usr/bin/env bash
# devinfo_check.sh GSN_DEVINFO EMULATOR_BUILD_DIR
#
# gsn_devinfo against a real (autostarted, private) gsnd in a temporary
# run directory: it must print the device, its ULA, the port state and the
# limits (-v).  Kills the gsnd if it outlives the test.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 GSN_DEVINFO EMULATOR_BUILD_DIR" >&2; exit 2; }
DI=$1
export GSND=$2/gsnd
rundir=$(mktemp -d "${TMPDIR:-/tmp}/gsn-devinfo.XXXXXX")
export GSN_RUNDIR=$rundir
unset GSN_DEVICE GSN_AUTOSTART
cleanup() {
	for p in $(pgrep -x gsnd); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "--rundir $rundir " && kill "$p"
	done
	rm -rf "$rundir"
}
trap cleanup EXIT

out=$(timeout 60 "$DI" -v 2>&1)
rc=$?
echo "$out"
fail=0
[ "$rc" -eq 0 ] || { echo "FAIL: gsn_devinfo -v exit $rc"; fail=1; }
while IFS= read -r re; do
	grep -Eq "$re" <<<"$out" || { echo "FAIL: no line matching: $re"; fail=1; }
done <<'PATTERNS'
^hca_id:[[:space:]]+gsn0$
^[[:space:]]+fw_ver:[[:space:]]+[^[:space:]]+
^[[:space:]]+node_guid:[[:space:]]+0000:0200:0000:0001$
^[[:space:]]+ula:[[:space:]]+02:00:00:00:00:01$
^[[:space:]]+state:[[:space:]]+PORT_ACTIVE \(4\)$
^[[:space:]]+active_mtu:[[:space:]]+[0-9]+
^[[:space:]]+link_rate:[[:space:]]+[0-9]+ Mb/s$
^[[:space:]]+max_qp:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_cq:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_mr:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_sge:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_inline:[[:space:]]+[0-9]+$
^[[:space:]]+max_qp_wr:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_cqe:[[:space:]]+[1-9][0-9]*$
^[[:space:]]+max_msg_size:[[:space:]]+0x[0-9a-f]+$
PATTERNS
list=$(timeout 60 "$DI" -l 2>&1)
grep -q "1 HCA found:" <<<"$list" || { echo "FAIL: -l: $list"; fail=1; }
[ "$fail" -eq 0 ] && echo PASS
exit "$fail"
