/* SPDX-License-Identifier: MIT */
/*
 * gsnarp: an endpoint's HARP table through its control socket — list (-a),
 * add a static entry (-s IP ULA), delete (-d IP), resolve (-r IP).
 * gsnarp(8).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define PROG "gsnarp"
#define RESOLVE_MS 10000u

enum op { OP_NONE, OP_LIST, OP_ADD, OP_DEL, OP_RESOLVE };

struct arp {
	struct tool t;
	enum op op;
	const char *ip, *ula;
	unsigned timeout_ms;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gsnarp [--rundir DIR] -e ELEMENT (-a | -s IP ULA | -d IP | -r IP [-W SECONDS])\n");
}

static int set_op(struct arp *a, enum op op, const char *ip)
{
	if (a->op != OP_NONE)
		return tool_err(&a->t, "give one of -a, -s, -d, -r");
	a->op = op;
	a->ip = ip;
	return 0;
}

static int parse_args(struct arp *a, int argc, char **argv)
{
	static const struct option longs[] = {
		{"rundir", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double secs = 0;
	int c;

	while ((c = getopt_long(argc, argv, "e:as:d:r:W:h", longs, NULL)) != -1) {
		int err = 0;

		switch (c) {
		case 'e':
			a->t.element = optarg;
			break;
		case 'R':
			a->t.rundir = optarg;
			break;
		case 'a':
			err = set_op(a, OP_LIST, NULL);
			break;
		case 's':
			err = set_op(a, OP_ADD, optarg);
			break;
		case 'd':
			err = set_op(a, OP_DEL, optarg);
			break;
		case 'r':
			err = set_op(a, OP_RESOLVE, optarg);
			break;
		case 'W':
			err = tool_seconds(&a->t, "-W", optarg, &secs);
			a->timeout_ms = (unsigned)(secs * 1000 + 0.5);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 1;
		}
		if (err)
			return 1;
	}
	if (a->op == OP_ADD && optind < argc)
		a->ula = argv[optind++];
	if (a->op == OP_NONE || (a->op == OP_ADD && !a->ula) || optind != argc) {
		usage(stderr);
		return 1;
	}
	return 0;
}

/* ---- list ---- */

static int print_line(const char *line, size_t n)
{
	char ip[32], ula[32], flags[64];
	unsigned long long age_ms;
	char buf[256];

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, line, n);
	buf[n] = '\0';
	if (sscanf(buf, "%31s %31s %63s %llu", ip, ula, flags, &age_ms) != 4)
		return -1;
	printf("%-15s  %-17s  %-22s  %llu.%03llu s\n", ip, ula, flags, age_ms / 1000,
	       age_ms % 1000);
	return 0;
}

static int do_list(struct arp *a)
{
	const uint8_t *body;
	size_t len;

	if (tool_call(&a->t, GSN_CTL_HARP_LIST, NULL, 0, &body, &len, TOOL_CALL_MS,
		      "HARP table"))
		return 1;
	printf("%-15s  %-17s  %-22s  %s\n", "IP", "ULA", "flags", "age");
	for (size_t pos = 0; pos < len;) {
		const char *line = (const char *)body + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + 1;
		if (n && print_line(line, n))
			return tool_err(&a->t, "unexpected line in the HARP table: %.*s", (int)n,
					line);
	}
	return 0;
}

/* ---- add, delete, resolve ---- */

static int do_add(struct arp *a)
{
	struct gsn_ctl_harp_add q = {.flags = GSN_CTL_HARP_STATIC};
	uint8_t body[GSN_CTL_HARP_ADD_LEN];

	if (tool_ipv4(&a->t, a->ip, q.ip) || tool_ula(&a->t, a->ula, q.ula))
		return 1;
	gsn_ctl_harp_add_encode(&q, body);
	return tool_call(&a->t, GSN_CTL_HARP_ADD, body, sizeof(body), NULL, NULL, TOOL_CALL_MS,
			 a->ip) ? 1 : 0;
}

static int do_del(struct arp *a)
{
	struct gsn_ctl_ipv4 q;
	uint8_t body[GSN_CTL_IPV4_LEN];

	if (tool_ipv4(&a->t, a->ip, q.ip))
		return 1;
	gsn_ctl_ipv4_encode(&q, body);
	int err = tool_call(&a->t, GSN_CTL_HARP_DEL, body, sizeof(body), NULL, NULL, TOOL_CALL_MS,
			    NULL);

	if (err == -ENOENT)
		return tool_err(&a->t, "%s: no such entry", a->ip);
	return err ? tool_err(&a->t, "%s: %s", a->ip, strerror(-err)) : 0;
}

static int do_resolve(struct arp *a)
{
	struct gsn_ctl_resolve q = {.timeout_ms = a->timeout_ms ? a->timeout_ms : RESOLVE_MS};
	struct gsn_ctl_ula u;
	uint8_t body[GSN_CTL_RESOLVE_LEN];
	const uint8_t *resp;
	size_t len;
	char s[GSN_ULA_STRLEN];

	if (tool_ipv4(&a->t, a->ip, q.ip))
		return 1;
	gsn_ctl_resolve_encode(&q, body);
	int err = tool_call(&a->t, GSN_CTL_HARP_RESOLVE, body, sizeof(body), &resp, &len,
			    (int)q.timeout_ms + TOOL_CALL_MS, NULL);

	if (err == -EHOSTUNREACH)
		return tool_err(&a->t, "%s: unknown address (no HARP entry)", a->ip);
	if (err == -ETIMEDOUT)
		return tool_err(&a->t, "%s: no answer", a->ip);
	if (err)
		return tool_err(&a->t, "%s: %s", a->ip, strerror(-err));
	if (gsn_ctl_ula_decode(resp, len, &u))
		return tool_err(&a->t, "%s: malformed answer", a->ip);
	gsn_ula_format(u.ula, s);
	printf("%s\n", s);
	return 0;
}

int main(int argc, char **argv)
{
	struct arp a = {.op = OP_NONE};
	int rc;

	tool_init(&a.t, PROG);
	if (parse_args(&a, argc, argv) || tool_connect(&a.t))
		return 1;
	if (a.op == OP_LIST)
		rc = do_list(&a);
	else if (a.op == OP_ADD)
		rc = do_add(&a);
	else if (a.op == OP_DEL)
		rc = do_del(&a);
	else
		rc = do_resolve(&a);
	tool_close(&a.t);
	return rc;
}
