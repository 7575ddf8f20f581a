# shellcheck shell=bash
# lib.sh — what the client tests (fi_pingpong_test.sh, mpi_run.sh) and the
# demo share: a free TCP port from the kernel, waiting for a listener,
# the private gsnd of a run directory, and evidence that traffic crossed
# it (its STATS, read with gsnstat while the programs run).
#
# Source it; it defines functions only, safe under `set -euo pipefail`.
# Callers set GSN_RUNDIR.

# A TCP port the kernel considers free right now (perl-base is Essential in
# Debian, so this needs nothing installed).  Whoever binds it next may race
# with another process: callers retry with a new port when the bind fails.
clients_free_port() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
					      LocalPort => 0, ReuseAddr => 1)
			or die "no socket: $!\n";
		print $s->sockport, "\n";'
}

# clients_listening PORT: is some socket listening on TCP PORT (v4 or v6)?
clients_listening() {
	local hex f tables=()
	hex=$(printf '%04X' "$1")
	for f in /proc/net/tcp /proc/net/tcp6; do # tcp6 is absent without IPv6
		[ -r "$f" ] && tables+=("$f")
	done
	# "sl local_address rem_address st ...", st 0A = LISTEN
	awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }' "${tables[@]}"
}

# clients_wait_listen PORT PID SECONDS: waits until PORT listens.  Returns 0
# when it does, 1 when PID exited first, 2 after SECONDS.
clients_wait_listen() {
	local port=$1 pid=$2 deadline=$((SECONDS + $3))
	while ! clients_listening "$port"; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 2
		sleep 0.05
	done
	return 0
}

# clients_gsnd_pids RUNDIR: pids of the gsnd processes serving RUNDIR
# (from /proc: procps may not be installed).
clients_gsnd_pids() {
	local d comm
	for d in /proc/[0-9]*; do
		{ read -r comm <"$d/comm"; } 2>/dev/null || continue
		[ "$comm" = gsnd ] || continue
		tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "--rundir $1 " && echo "${d#/proc/}"
	done
	return 0
}

# clients_wait_gsnd_gone RUNDIR SECONDS: 0 once no gsnd serves RUNDIR.
clients_wait_gsnd_gone() {
	local deadline=$((SECONDS + $2))
	while [ -n "$(clients_gsnd_pids "$1")" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
	return 0
}

# ---- traffic evidence --------------------------------------------------------
#
# A private gsnd lives from the first client's open to a grace period after
# the last one left, so its counters are read while the programs run: a
# sampler reads gsnstat -k every 0.2 s and keeps the largest values seen of
#   st.bytes_sent       payload bytes the device's ST engine sent
#   dev.clients_total   device contexts ever opened (one or more per process)
#   dev.wqes            work requests the device executed
# in $1/evidence (key=value).  The counters only grow while the gsnd lives
# (one gsnd per run directory), so the largest values are the latest.

clients_sample_once() { # GSNSTAT RUNDIR EVIDENCE_FILE
	local out
	out=$("$1" --rundir "$2" -e gsn0 -k 2>/dev/null) || return 1
	awk -F= -v f="$3" '
		BEGIN { while ((getline l < f) > 0) { split(l, kv, "="); max[kv[1]] = kv[2] } }
		$1 == "st.bytes_sent" || $1 == "dev.clients_total" || $1 == "dev.wqes" {
			if (!($1 in max) || $2 + 0 > max[$1] + 0) max[$1] = $2
		}
		END { for (k in max) print k "=" max[k] > f }' <<<"$out"
}

# clients_sampler_start GSNSTAT RUNDIR EVIDENCE_FILE: starts the sampler in
# the background; its pid is in CLIENTS_SAMPLER.
clients_sampler_start() {
	: >"$3"
	(
		trap 'exit 0' TERM
		while :; do
			clients_sample_once "$1" "$2" "$3" || true
			sleep 0.2
		done
	) &
	CLIENTS_SAMPLER=$!
}

clients_sampler_stop() {
	[ -n "${CLIENTS_SAMPLER:-}" ] || return 0
	kill "$CLIENTS_SAMPLER" 2>/dev/null || true
	wait "$CLIENTS_SAMPLER" 2>/dev/null || true
	CLIENTS_SAMPLER=
	return 0
}

# clients_evidence FILE KEY: the largest value of KEY seen (0 if none).
clients_evidence() {
	awk -F= -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1" 2>/dev/null || echo 0
}

# ---- fi_pingpong server and client ---------------------------------------------
#
# clients_fi_pair OUTDIR TIMEOUT ARGS...: runs `fi_pingpong ARGS -B PORT`
# (server, background) and, once PORT listens, `fi_pingpong ARGS -P PORT
# 127.0.0.1` (client) on a port the kernel calls free.  If the server could
# not bind the port (taken since it was chosen; the client then reached
# whoever took it), both are run again on a new port, up to 3 times.  Each
# side is bounded by TIMEOUT seconds.  Output in OUTDIR/server.out and
# OUTDIR/client.out, exit statuses in CLIENTS_SERVER_RC and CLIENTS_CLIENT_RC.
# The program is $FI_PINGPONG (default fi_pingpong); CLIENTS_PRELOAD, when
# set, is put in its LD_PRELOAD (a sanitizer runtime) and nothing else's.
# shellcheck disable=SC2034 # CLIENTS_*_RC are the caller's results
clients_fi_pair() {
	local out=$1 tmo=$2 attempt port srv pre=()
	shift 2
	local prog=${FI_PINGPONG:-fi_pingpong}
	[ -n "${CLIENTS_PRELOAD:-}" ] && pre=(env "LD_PRELOAD=$CLIENTS_PRELOAD")
	for attempt in 1 2 3; do
		CLIENTS_SERVER_RC=1
		CLIENTS_CLIENT_RC=1
		port=$(clients_free_port) || return 1
		: >"$out/client.out"
		timeout -k 5 "$tmo" "${pre[@]}" "$prog" "$@" -B "$port" >"$out/server.out" 2>&1 &
		srv=$!
		if clients_wait_listen "$port" "$srv" 60; then
			timeout -k 5 "$tmo" "${pre[@]}" "$prog" "$@" -P "$port" 127.0.0.1 \
				>"$out/client.out" 2>&1 &
			local cli=$!
			# a client of a port taken by someone else would wait out its timeout
			while kill -0 "$cli" 2>/dev/null; do
				if ! kill -0 "$srv" 2>/dev/null &&
					grep -q 'bind().*Address already in use' "$out/server.out"; then
					kill "$cli" 2>/dev/null || true
					break
				fi
				sleep 0.1
			done
			CLIENTS_CLIENT_RC=0
			wait "$cli" || CLIENTS_CLIENT_RC=$?
		else
			echo "server on port $port did not listen" >"$out/client.out"
		fi
		# a server the client never reached waits in accept()
		[ "$CLIENTS_CLIENT_RC" -eq 0 ] || kill "$srv" 2>/dev/null || true
		CLIENTS_SERVER_RC=0
		wait "$srv" || CLIENTS_SERVER_RC=$?
		grep -q 'bind().*Address already in use' "$out/server.out" || return 0
		echo "port $port was taken (attempt $attempt), trying another" >&2
	done
	return 0
}

# clients_fi_result FILE: the last result line of fi_pingpong's output as
# "usec_per_xfer MB_per_sec" (columns: bytes #sent #ack total time MB/sec
# usec/xfer Mxfers/sec).
clients_fi_result() {
	awk '$1 != "bytes" && NF == 8 && $6 ~ /^[0-9.]+$/ { l = $7 " " $6 }
	     END { if (l == "") exit 1; print l }' "$1"
}
