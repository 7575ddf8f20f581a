/* SPDX-License-Identifier: MIT */
/*
 * wire_bench: Message throughput of endpoint -> switch -> endpoint fabrics of
 * real gsnd processes, over shm and over UDP cables (docs/bench.md).
 *
 * For each cable type it starts `gsn-fabric` on a three-element fabric
 * (a ─ sw0 ─ b), then per direction and repetition asks the source gsnd to
 * GENerate N Messages of the given size on the given VC towards the other
 * endpoint's sink, polls the destination's STATS until the sink has them
 * all, and prints micropackets/s (the destination port's
 * link.mpkts_received delta) and payload MB/s, then a line comparing the
 * best run with the GSN line rate (800 MB/s, 25 M micropackets/s).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsn/message.h>
#include <gsn/st_wire.h>

#include "ctl.h"

#ifndef GSN_BIN_DIR
#define GSN_BIN_DIR "."
#endif

#define LINE_RATE_BPS 800e6   /* GSN: 800 MB/s of data per direction */
#define LINE_RATE_MPPS 25e6   /* 800e6 / 32 bytes per micropacket */
#define POLL_MS 5
#define GEN_CHUNK 1000000u    /* count per GEN request */

struct opts {
	uint32_t count;       /* 0: per-case default */
	uint32_t size;        /* 0: default cases */
	int vc;               /* -1: default cases */
	bool shm, udp;
	int reps;
	double timeout_s;
	const char *bindir;
	bool verbose;
};

struct bench_case {
	unsigned vc;
	uint32_t size;
	uint32_t count;
};

struct fabric {
	pid_t pid;
	int out;
	char dir[64];
	char rundir[96];
	char ula[2][GSN_ULA_STRLEN]; /* a, b */
	struct gsn_ctl_conn *ctl[2];
};

struct result {
	double secs, mpps, mbps, data_mpps;
	uint64_t mpkts, bytes, msgs;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wire_bench [-n COUNT] [-s SIZE] [-v VC] [--shm|--udp|--both] [-r REPS]\n"
		"                  [-t SECONDS] [-b BINDIR] [--verbose]\n"
		"  -n COUNT   Messages per run (default: 2048 on VC0-2, 256 on VC3)\n"
		"  -s SIZE    payload bytes per Message (default: two cases, the largest\n"
		"             VC1 Message, 4100 micropackets = 131176 payload bytes, and a\n"
		"             1 MiB Message on VC3 = 1048552 payload bytes)\n"
		"  -v VC      virtual channel 0..3 (default: 1 with -s, else both cases)\n"
		"  --shm, --udp, --both   cable types (default both)\n"
		"  -r REPS    repetitions per direction (default 3)\n"
		"  -t SECONDS give up on a run after this long (default 120)\n"
		"  -b BINDIR  where gsn-fabric and gsnd are (default %s)\n",
		GSN_BIN_DIR);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"shm", no_argument, NULL, 'S'}, {"udp", no_argument, NULL, 'U'},
		{"both", no_argument, NULL, 'B'}, {"verbose", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.vc = -1, .reps = 3, .timeout_s = 120, .bindir = GSN_BIN_DIR};
	while ((c = getopt_long(argc, argv, "n:s:v:r:t:b:h", lo, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 'n':
			o->count = (uint32_t)strtoul(optarg, &end, 0);
			if (*end || !o->count)
				return -1;
			break;
		case 's':
			o->size = (uint32_t)strtoul(optarg, &end, 0);
			if (*end || !o->size)
				return -1;
			break;
		case 'v':
			o->vc = (int)strtol(optarg, &end, 0);
			if (*end || o->vc < 0 || o->vc > 3)
				return -1;
			break;
		case 'r':
			o->reps = (int)strtol(optarg, &end, 0);
			if (*end || o->reps < 1)
				return -1;
			break;
		case 't':
			o->timeout_s = strtod(optarg, &end);
			if (*end || !(o->timeout_s > 0))
				return -1;
			break;
		case 'b':
			o->bindir = optarg;
			break;
		case 'S':
			o->shm = true;
			break;
		case 'U':
			o->udp = true;
			break;
		case 'B':
			o->shm = o->udp = true;
			break;
		case 'V':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	if (!o->shm && !o->udp)
		o->shm = o->udp = true;
	return 0;
}

/* ---- the fabric ---- */

static void fabric_stop(struct fabric *f)
{
	for (int i = 0; i < 2; i++)
		if (f->ctl[i]) {
			gsn_ctl_close(f->ctl[i]);
			f->ctl[i] = NULL;
		}
	if (f->pid > 0) {
		int st;
		double end = now_s() + 20;

		kill(f->pid, SIGTERM);
		while (waitpid(f->pid, &st, WNOHANG) == 0) {
			if (now_s() > end) {
				fprintf(stderr, "wire_bench: gsn-fabric slow to stop: SIGKILL\n");
				kill(f->pid, SIGKILL);
				waitpid(f->pid, &st, 0);
				break;
			}
			sleep_ms(10);
		}
		f->pid = -1;
	}
	if (f->out >= 0)
		close(f->out);
	f->out = -1;
	if (f->dir[0]) {
		char path[128];

		snprintf(path, sizeof(path), "%s/fabric.conf", f->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/fabric.log", f->dir);
		unlink(path);
		rmdir(f->rundir);
		rmdir(f->dir);
		f->dir[0] = '\0';
	}
}

static void show_log(const struct fabric *f)
{
	char path[128], buf[4096];
	FILE *l;

	snprintf(path, sizeof(path), "%s/fabric.log", f->dir);
	l = fopen(path, "r");
	if (!l)
		return;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), l)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(l);
}

/* Reads gsn-fabric's report up to its "rundir" line; fills the ULAs. */
static int read_report(struct fabric *f, double timeout_s)
{
	char buf[8192];
	size_t len = 0;
	double end = now_s() + timeout_s;

	buf[0] = '\0';
	while (!strstr(buf, "\nrundir ")) {
		double left = end - now_s();
		struct pollfd p = {f->out, POLLIN, 0};

		if (left <= 0 || len + 1 >= sizeof(buf))
			return -ETIMEDOUT;
		int n = poll(&p, 1, (int)(left * 1000) + 1);
		if (n <= 0)
			continue;
		ssize_t r = read(f->out, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			return -EPIPE;
		len += (size_t)r;
		buf[len] = '\0';
	}
	const char *names[2] = {"\n  a ", "\n  b "};
	for (int i = 0; i < 2; i++) {
		const char *l = strstr(buf, names[i]);
		const char *u = l ? strstr(l, "ula=") : NULL;

		if (!u)
			return -EBADMSG;
		snprintf(f->ula[i], sizeof(f->ula[i]), "%.17s", u + 4);
	}
	return 0;
}

static int fabric_start(struct fabric *f, const struct opts *o, const char *cable)
{
	char conf[128], log[128], prog[512];
	int pfd[2];

	memset(f, 0, sizeof(*f));
	f->pid = -1;
	f->out = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/wire_bench.XXXXXX");
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		return -errno;
	}
	snprintf(f->rundir, sizeof(f->rundir), "%s/run", f->dir);
	snprintf(conf, sizeof(conf), "%s/fabric.conf", f->dir);
	snprintf(log, sizeof(log), "%s/fabric.log", f->dir);
	snprintf(prog, sizeof(prog), "%s/gsn-fabric", o->bindir);
	FILE *c = fopen(conf, "w");
	if (!c)
		return -errno;
	fprintf(c,
		"fabric name=bench\n"
		"switch sw0 ports=2\n"
		"endpoint a\n"
		"endpoint b\n"
		"cable a.0 sw0.0 %s\n"
		"cable b.0 sw0.1 %s\n",
		cable, cable);
	fclose(c);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t parent = getpid();
	f->pid = fork();
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		dup2(pfd[1], 1);
		if (logfd >= 0)
			dup2(logfd, 2);
		execl(prog, prog, "-d", f->rundir, "-t", "60", conf, (char *)NULL);
		fprintf(stderr, "wire_bench: exec %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	if (logfd >= 0)
		close(logfd);
	f->out = pfd[0];
	if (f->pid < 0)
		return -errno;
	int err = read_report(f, 90);
	if (err) {
		fprintf(stderr, "wire_bench: %s fabric did not come up (%s); gsn-fabric log:\n", cable,
			strerror(-err));
		show_log(f);
		return err;
	}
	for (int i = 0; i < 2; i++) {
		err = gsn_ctl_connect(f->rundir, i ? "b" : "a", &f->ctl[i]);
		if (err) {
			fprintf(stderr, "wire_bench: connect %s: %s\n", i ? "b" : "a", strerror(-err));
			return err;
		}
	}
	return 0;
}

/* ---- control calls ---- */

struct stats {
	uint64_t sink_msgs, sink_bytes, mpkts_rcvd;
	bool gen_done;
};

static uint64_t kv_u64(const uint8_t *body, size_t len, const char *key)
{
	char v[64];

	if (gsn_ctl_kv_get(body, len, key, v, sizeof(v)) < 0)
		return 0;
	return strtoull(v, NULL, 0);
}

static int get_stats(struct gsn_ctl_conn *c, struct stats *s)
{
	struct gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;
	int err = gsn_ctl_call(c, GSN_CTL_STATS, NULL, 0, &h, &body, &len, 10000);

	if (err)
		return err;
	if (h.status)
		return h.status;
	s->sink_msgs = kv_u64(body, len, "sink.msgs");
	s->sink_bytes = kv_u64(body, len, "sink.bytes");
	s->mpkts_rcvd = kv_u64(body, len, "port0.link.mpkts_received");
	s->gen_done = kv_u64(body, len, "gen.done") != 0;
	return 0;
}

static int gen(struct gsn_ctl_conn *c, const char *dst_ula, unsigned vc, uint32_t size, uint32_t count)
{
	uint8_t b[16] = {0};
	struct gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;

	if (gsn_ula_parse(dst_ula, b) != GSN_MSG_OK)
		return -EINVAL;
	b[6] = (uint8_t)vc;
	gsn_put_be32(b + 8, size);
	gsn_put_be32(b + 12, count);
	int err = gsn_ctl_call(c, 13 /* GEN */, b, sizeof(b), &h, &body, &len, 10000);
	return err ? err : h.status;
}

/* One run: src GENerates to dst, timed until dst's sink has every Message. */
static int run_once(struct fabric *f, int src, const struct bench_case *bc, const struct opts *o,
		    struct result *r)
{
	int dst = 1 - src;
	struct stats s0, s1;
	int err = get_stats(f->ctl[dst], &s0);

	if (err)
		return err;
	double t0 = now_s();
	for (uint32_t left = bc->count; left;) {
		uint32_t n = left > GEN_CHUNK ? GEN_CHUNK : left;

		err = gen(f->ctl[src], f->ula[dst], bc->vc, bc->size, n);
		if (err) {
			fprintf(stderr, "wire_bench: GEN: %s\n", strerror(-err));
			return err;
		}
		left -= n;
	}
	for (;;) {
		err = get_stats(f->ctl[dst], &s1);
		if (err)
			return err;
		if (s1.sink_msgs >= s0.sink_msgs + bc->count)
			break;
		if (now_s() - t0 > o->timeout_s) {
			fprintf(stderr, "wire_bench: timed out: %" PRIu64 " of %u Messages arrived\n",
				s1.sink_msgs - s0.sink_msgs, bc->count);
			return -ETIMEDOUT;
		}
		sleep_ms(POLL_MS);
	}
	r->secs = now_s() - t0;
	r->msgs = s1.sink_msgs - s0.sink_msgs;
	r->bytes = s1.sink_bytes - s0.sink_bytes;
	r->mpkts = s1.mpkts_rcvd - s0.mpkts_rcvd;
	r->mpps = (double)r->mpkts / r->secs;
	r->mbps = (double)r->bytes / r->secs / 1e6;
	r->data_mpps = (double)r->msgs * gsn_message_mpkt_count(bc->size + 8) / r->secs;
	return 0;
}

static int bench_cable(const char *cable, const struct bench_case *cases, size_t ncases,
		       const struct opts *o)
{
	struct fabric f;
	int err = fabric_start(&f, o, cable);

	if (err) {
		fabric_stop(&f);
		return err;
	}
	if (o->verbose)
		fprintf(stderr, "wire_bench: %s fabric up: a=%s b=%s\n", cable, f.ula[0], f.ula[1]);
	for (size_t i = 0; i < ncases && !err; i++) {
		const struct bench_case *bc = &cases[i];

		for (int src = 0; src < 2 && !err; src++) {
			struct result best = {0}, sum = {0};

			for (int rep = 1; rep <= o->reps; rep++) {
				struct result r;

				err = run_once(&f, src, bc, o, &r);
				if (err)
					break;
				printf("%-5s %s  VC%u %8u %4d %8" PRIu64 " %9.3f %9.2f %9.2f %9.1f\n", cable,
				       src ? "b->a" : "a->b", bc->vc, bc->size, rep, r.msgs, r.secs,
				       r.mpps / 1e6, r.data_mpps / 1e6, r.mbps);
				fflush(stdout);
				if (r.mbps > best.mbps)
					best = r;
				sum.mbps += r.mbps;
				sum.mpps += r.mpps;
			}
			if (err)
				break;
			printf("%-5s %s  VC%u %8u best %.2f M mpkts/s (%.0f%% of 25 M/s), "
			       "%.1f MB/s (%.0f%% of the 800 MB/s line rate); mean %.1f MB/s\n",
			       cable, src ? "b->a" : "a->b", bc->vc, bc->size, best.mpps / 1e6,
			       100 * best.mpps / LINE_RATE_MPPS, best.mbps,
			       100 * best.mbps * 1e6 / LINE_RATE_BPS, sum.mbps / o->reps);
			fflush(stdout);
		}
	}
	if (err)
		show_log(&f);
	fabric_stop(&f);
	return err;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench_case cases[2];
	size_t ncases = 0;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.size || o.vc >= 0) {
		unsigned vc = o.vc >= 0 ? (unsigned)o.vc : 1;
		uint32_t max = (uint32_t)(gsn_vc_max_message_bytes(vc) - 24);

		if (vc == 3 && max > (1u << 20) - 24)
			max = (1u << 20) - 24; /* gsnd's default VC3 receive limit: 1 MiB Messages */
		cases[ncases++] = (struct bench_case){vc, o.size ? o.size : max, 0};
	} else {
		cases[ncases++] = (struct bench_case){1, (uint32_t)(gsn_vc_max_message_bytes(1) - 24), 0};
		cases[ncases++] = (struct bench_case){3, (1u << 20) - 24, 0};
	}
	for (size_t i = 0; i < ncases; i++) {
		cases[i].count = o.count ? o.count : cases[i].vc == 3 ? 256 : 2048;
		if ((uint64_t)cases[i].size + 24 > gsn_vc_max_message_bytes(cases[i].vc)) {
			fprintf(stderr, "wire_bench: %u bytes do not fit a VC%u Message\n", cases[i].size,
				cases[i].vc);
			return 2;
		}
	}
	printf("wire_bench: a -- sw0 -- b, %d repetition(s) per direction; "
	       "line rate 800 MB/s, 25 M mpkts/s\n",
	       o.reps);
	printf("%-5s %-5s %-3s %8s %4s %8s %9s %9s %9s %9s\n", "cable", "dir", "vc", "size", "rep", "msgs",
	       "seconds", "Mmpkt/s", "Mdata/s", "MB/s");
	int rc = 0;
	if (o.shm && bench_cable("shm", cases, ncases, &o))
		rc = 1;
	if (o.udp && bench_cable("udp", cases, ncases, &o))
		rc = 1;
	return rc;
}
