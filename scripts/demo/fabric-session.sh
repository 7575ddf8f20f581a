#!/usr/bin/env bash
# Runs inside gsn-fabric (GSN_RUNDIR is set): resolves b by HARP, pings it,
# moves Messages through the lossy cable, and shows the repairs.
set -euo pipefail
bin=$1
wait_registered() {
	for _ in $(seq 1 100); do
		"$bin/gsnstat" -e "$1" -k | grep -q '^harp.mode=registered' && return 0
		sleep 0.1
	done
	echo "demo: $1 did not register with the HARP server" >&2
	return 1
}
wait_registered a
wait_registered b
echo "== gsnarp -e a -r 10.0.0.2   (HARP resolution through the server)"
ula=$("$bin/gsnarp" -e a -r 10.0.0.2)
echo "$ula"
echo "== gsnping -e a -c 3 $ula"
"$bin/gsnping" -e a -c 3 -i 0.2 "$ula"
echo "== gsnarp -e a -a"
"$bin/gsnarp" -e a -a
echo "== gsnmsg: 2000 Messages of 64 KiB from a to b on VC1, through the lossy cable"
"$bin/gsnmsg" -e a gen --to "$ula" --vc 1 --size 65536 --count 2000 --wait
echo "== gsnstat -e sw0 -l   (the switch: the drop layer on the cable to b forced go-back-N retransmissions on port 1)"
"$bin/gsnstat" -e sw0 -l
echo "== gsnstat -e b -m   (b's Messages: all arrived, none failed the ECRC)"
"$bin/gsnstat" -e b -m
