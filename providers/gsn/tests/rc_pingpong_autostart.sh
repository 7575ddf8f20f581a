#!/usr/bin/env bash
# rc_pingpong_autostart.sh GSN_RC_PINGPONG EMULATOR_BUILD_DIR
#
# Acceptance: "on a fresh machine, gsn_rc_pingpong (server) and
# gsn_rc_pingpong localhost (client) complete with data verified and print
# throughput, with no gsnd started by hand".  With an empty GSN_RUNDIR and
# no gsnd serving it, runs the server in the background and the client;
# both must exit 0 and print their throughput lines; libgsn must have
# autostarted one private gsnd, which must be gone within 10 s of the
# clients' exit.  Uses a free TCP port, a temporary run directory, and
# kills whatever it started that is still alive.
set -uo pipefail

[ $# -eq 2 ] || { echo "usage: $0 GSN_RC_PINGPONG EMULATOR_BUILD_DIR" >&2; exit 2; }
PP=$1
export GSND=$2/gsnd # libgsn looks next to the program, ../sbin, PATH: not the build tree
[ -x "$PP" ] && [ -x "$GSND" ] || { echo "missing $PP or $GSND" >&2; exit 2; }

rundir=$(mktemp -d "${TMPDIR:-/tmp}/gsn-autostart.XXXXXX")
export GSN_RUNDIR=$rundir
unset GSN_DEVICE GSN_AUTOSTART
started=()
fail=0

cleanup() {
	for p in "${started[@]}"; do kill "$p" 2>/dev/null; done
	gsnd_pid=$(gsnd_pids)
	[ -n "$gsnd_pid" ] && kill $gsnd_pid 2>/dev/null
	rm -rf "$rundir"
}
trap cleanup EXIT

# gsnd processes serving our run directory (ours alone: the rundir is new)
gsnd_pids() {
	local p
	for p in $(pgrep -x gsnd); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "--rundir $rundir " && echo "$p"
	done
}

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
[ -z "$(gsnd_pids)" ] || { echo "FAIL: a gsnd already serves $rundir"; exit 1; }

"$PP" -p "$port" -n 1000 >"$rundir/server.out" 2>&1 &
srv=$!
started+=("$srv")
# The client retries until the server listens (the server may be starting gsnd).
cli_rc=1
for _ in $(seq 1 50); do
	timeout 120 "$PP" -p "$port" -n 1000 localhost >"$rundir/client.out" 2>&1
	cli_rc=$?
	grep -q "Couldn't connect" "$rundir/client.out" || break
	sleep 0.2
done
srv_rc=0
if ! timeout 60 tail --pid="$srv" -f /dev/null; then
	echo "FAIL: server did not exit"
	fail=1
fi
wait "$srv"
srv_rc=$?
started=()

for side in server client; do
	echo "---- $side"
	cat "$rundir/$side.out"
done
[ "$srv_rc" -eq 0 ] || { echo "FAIL: server exit $srv_rc"; fail=1; }
[ "$cli_rc" -eq 0 ] || { echo "FAIL: client exit $cli_rc"; fail=1; }
for side in server client; do
	grep -Eq "^[0-9]+ bytes in [0-9.]+ seconds = [0-9.]+ Mbit/sec" "$rundir/$side.out" ||
		{ echo "FAIL: $side printed no throughput"; fail=1; }
	grep -Eq "^[0-9]+ iters in [0-9.]+ seconds = [0-9.]+ usec/iter" "$rundir/$side.out" ||
		{ echo "FAIL: $side printed no usec/iter"; fail=1; }
done
# Data verified: -c is on by default and a mismatch is reported.
grep -qi "mismatch\|bad receive" "$rundir/server.out" "$rundir/client.out" &&
	{ echo "FAIL: data mismatch"; fail=1; }
[ -S "$rundir/gsn0.sock" ] || [ -e "$rundir/gsn0.log" ] ||
	{ echo "FAIL: no autostarted gsnd left a trace in $rundir"; fail=1; }

gone=0
for _ in $(seq 1 100); do
	if [ -z "$(gsnd_pids)" ]; then gone=1; break; fi
	sleep 0.1
done
if [ "$gone" -ne 1 ]; then
	echo "FAIL: gsnd still alive 10 s after the clients exited: $(gsnd_pids)"
	ps -o pid,args -p "$(gsnd_pids | tr '\n' ',' | sed 's/,$//')" || true
	fail=1
fi
echo "---- gsnd log"
cat "$rundir/gsn0.log" 2>/dev/null | tail -n 20
[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
