/* SPDX-License-Identifier: MIT */
/*
 * gsnping: Admin are-you-there (or what-are-you, -w) from an element to a
 * ULA or along a route, through the element's control socket (ADMIN), with
 * ping's output.  gsnping(8).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsn/wire_bytes.h>

#include "admin.h"
#include "tool.h"

#define PROG "gsnping"

struct ping {
	struct tool t;
	unsigned long long count; /* 0: until interrupted */
	double interval_s, timeout_s;
	bool what;
	bool by_route;
	unsigned hops;
	uint8_t route[8];
	unsigned nroute;
	uint8_t ula[GSN_ULA_LEN];
	char target[64];
	sigset_t sigs;
	/* results */
	unsigned long long sent, received;
	double min_ms, max_ms, sum_ms;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gsnping [--rundir DIR] -e ELEMENT [-c COUNT] [-i INTERVAL_S] [-W TIMEOUT_S]\n"
		"               [-w] (ULA | --hops N [--route P,P,...])\n");
}

static const char *role_text(unsigned r)
{
	return r == 1 ? "endpoint" : r == 2 ? "switch" : "unknown";
}

/* ---- options ---- */

static int parse_route(struct ping *p, char *s)
{
	char *save = NULL;

	p->nroute = 0;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v = 0;

		if (p->nroute == 8)
			return tool_err(&p->t, "--route: at most 8 ports");
		if (tool_uint(&p->t, "--route", tok, 254, &v))
			return 1;
		p->route[p->nroute++] = (uint8_t)v;
	}
	return 0;
}

static int parse_opt(struct ping *p, int c, char *arg)
{
	unsigned long long v = 0;

	switch (c) {
	case 'e':
		p->t.element = arg;
		return 0;
	case 'R':
		p->t.rundir = arg;
		return 0;
	case 'c':
		if (tool_uint(&p->t, "-c", arg, 1000000000ull, &p->count))
			return 1;
		return 0;
	case 'i':
		return tool_seconds(&p->t, "-i", arg, &p->interval_s);
	case 'W':
		return tool_seconds(&p->t, "-W", arg, &p->timeout_s);
	case 'w':
		p->what = true;
		return 0;
	case 'H':
		if (tool_uint(&p->t, "--hops", arg, 8, &v))
			return 1;
		p->hops = (unsigned)v;
		p->by_route = true;
		return 0;
	case 'r':
		return parse_route(p, arg);
	default:
		usage(stderr);
		return 1;
	}
}

static int parse_args(struct ping *p, int argc, char **argv)
{
	static const struct option longs[] = {
		{"rundir", required_argument, NULL, 'R'}, {"hops", required_argument, NULL, 'H'},
		{"route", required_argument, NULL, 'r'},  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "e:c:i:W:wh", longs, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_opt(p, c, optarg))
			return 1;
	}
	if (p->by_route) {
		if (optind != argc)
			return tool_err(&p->t, "a ULA and --hops exclude each other");
		if (p->nroute < p->hops)
			return tool_err(&p->t, "--route names %u port(s) for %u hop(s)", p->nroute,
					p->hops);
		snprintf(p->target, sizeof(p->target), "hops %u", p->hops);
		return 0;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 1;
	}
	snprintf(p->target, sizeof(p->target), "%s", argv[optind]);
	return tool_ula(&p->t, argv[optind], p->ula);
}

/* ---- probes ---- */

static void request(const struct ping *p, uint32_t seq, struct gsn_ctl_admin_req *q)
{
	memset(q, 0, sizeof(*q));
	q->mode = p->by_route ? GSN_CTL_ADMIN_BY_ROUTE : GSN_CTL_ADMIN_TO_ULA;
	q->hops = (uint8_t)p->hops;
	q->cmd = p->what ? GSN_ADMIN_WHAT_ARE_YOU : GSN_ADMIN_ARE_YOU_THERE;
	q->timeout_ms = (uint32_t)(p->timeout_s * 1000 + 0.5);
	memcpy(q->ula, p->ula, GSN_ULA_LEN);
	memcpy(q->route, p->route, sizeof(q->route));
	memcpy(q->args, "gsnping!", 8);
	gsn_put_be32(q->args + 8, seq);
	gsn_put_be32(q->args + 12, (uint32_t)time(NULL));
}

static void record(struct ping *p, double ms)
{
	if (!p->received || ms < p->min_ms)
		p->min_ms = ms;
	if (!p->received || ms > p->max_ms)
		p->max_ms = ms;
	p->sum_ms += ms;
	p->received++;
}

static void print_reply(struct ping *p, uint32_t seq, const struct gsn_admin *a, double ms)
{
	char who[sizeof(p->target)];

	if (p->what && !(a->flags & GSN_ADMIN_F_ERROR))
		gsn_ula_format(a->args + 2, who);
	else
		snprintf(who, sizeof(who), "%s", p->target);
	printf("32 bytes from %s: seq=%u hops=%u time=%.3f ms", who, seq, a->hops, ms);
	if (p->what && !(a->flags & GSN_ADMIN_F_ERROR))
		printf(" role=%s ports=%u port=%u", role_text(a->args[0]), a->args[1], a->args[8]);
	putchar('\n');
}

/* One probe: 0 answered, 1 not. */
static int probe(struct ping *p, uint32_t seq)
{
	struct gsn_ctl_admin_req q;
	struct gsn_ctl_admin_resp r;
	struct gsn_admin a;
	uint8_t body[GSN_CTL_ADMIN_REQ_LEN];
	const uint8_t *resp;
	size_t len;

	request(p, seq, &q);
	gsn_ctl_admin_req_encode(&q, body);
	p->sent++;
	int err = tool_call(&p->t, GSN_CTL_ADMIN, body, sizeof(body), &resp, &len,
			    (int)(p->timeout_s * 1000) + TOOL_CALL_MS, NULL);

	if (!err)
		err = gsn_ctl_admin_resp_decode(resp, len, &r);
	if (err) {
		printf("no answer from %s: seq=%u: %s\n", p->target, seq,
		       err == -ETIMEDOUT ? "timed out" : strerror(-err));
		return err == -ECONNRESET ? -1 : 1;
	}
	gsn_admin_decode(r.admin, sizeof(r.admin), &a);
	if (a.flags & GSN_ADMIN_F_ERROR) {
		printf("error from %s: seq=%u: %s\n", p->target, seq, gsn_admin_status_name(a.status));
		return 1;
	}
	if (!p->what && memcmp(a.args, q.args, sizeof(q.args)) != 0) {
		printf("wrong data from %s: seq=%u\n", p->target, seq);
		return 1;
	}
	double ms = (double)r.rtt_ns / 1e6;

	record(p, ms);
	print_reply(p, seq, &a, ms);
	return 0;
}

/* Sleeps for the interval; false when SIGINT/SIGTERM came. */
static bool pause_interval(const struct ping *p)
{
	struct timespec ts = {(time_t)p->interval_s,
			      (long)((p->interval_s - (double)(time_t)p->interval_s) * 1e9)};

	return sigtimedwait(&p->sigs, NULL, &ts) < 0;
}

static bool interrupted(const struct ping *p)
{
	struct timespec zero = {0, 0};

	return sigtimedwait(&p->sigs, NULL, &zero) >= 0;
}

static void summary(const struct ping *p)
{
	double loss = p->sent ? 100.0 * (double)(p->sent - p->received) / (double)p->sent : 0;

	printf("\n--- %s gsnping statistics ---\n", p->target);
	printf("%llu packets transmitted, %llu received, %g%% packet loss\n", p->sent, p->received,
	       loss);
	if (!p->received)
		return;
	printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", p->min_ms, p->sum_ms / (double)p->received,
	       p->max_ms);
}

static void header(const struct ping *p)
{
	printf("GSNPING %s from %s: %s", p->target, p->t.element,
	       p->what ? "what-are-you" : "are-you-there, 16 data bytes");
	if (p->by_route && p->hops) {
		printf(", route");
		for (unsigned i = 0; i < p->hops; i++)
			printf("%c%u", i ? ',' : ' ', p->route[i]);
	}
	putchar('\n');
	fflush(stdout);
}

static int run(struct ping *p)
{
	int rc = 0;

	header(p);
	for (uint32_t seq = 1; !p->count || seq <= p->count; seq++) {
		rc = probe(p, seq);
		fflush(stdout);
		if (rc < 0 || interrupted(p))
			break;
		if ((p->count && seq == p->count) || !pause_interval(p))
			break;
	}
	summary(p);
	return rc < 0 || p->received != p->sent || !p->sent ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct ping p = {.count = 3, .interval_s = 1.0, .timeout_s = 1.0};
	int rc;

	tool_init(&p.t, PROG);
	if (parse_args(&p, argc, argv))
		return 1;
	tool_signals_block(&p.sigs);
	rc = tool_connect(&p.t) ? 1 : run(&p);
	tool_close(&p.t);
	tool_signals_release(&p.sigs);
	return rc;
}
