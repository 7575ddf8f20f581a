/* SPDX-License-Identifier: MIT */
/*
 * gsnstat: an element's counters (STATS through its control socket), as a
 * report in the manner of p4stat — a table per link, Message counters per
 * VC, HARP — or raw key=value lines (-k).  gsnstat(1).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define PROG "gsnstat"
#define VCS 4

enum { SEC_LINKS = 1, SEC_MSGS = 2, SEC_HARP = 4, SEC_ALL = 7 };

struct kv {
	char *key, *val;
};

struct stats {
	struct kv *v;
	size_t n, cap;
};

struct gsnstat {
	struct tool t;
	bool all, raw;
	unsigned sections;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gsnstat [--rundir DIR] (-e ELEMENT | -a) [-k] [-l] [-m] [-H]\n");
}

/* ---- the key=value store ---- */

static int stats_add(struct stats *s, const char *k, size_t kn, const char *v, size_t vn)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 512;
		struct kv *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	struct kv *e = &s->v[s->n];

	e->key = strndup(k, kn);
	e->val = strndup(v, vn);
	if (!e->key || !e->val) {
		free(e->key);
		free(e->val);
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

static void stats_free(struct stats *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].val);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static const char *get(const struct stats *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *get(const struct stats *s, const char *fmt, ...)
{
	char key[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].key, key) == 0)
			return s->v[i].val;
	return NULL;
}

/* The value or "-". */
#define G(...) (get(__VA_ARGS__) ? get(__VA_ARGS__) : "-")

static int stats_parse(struct stats *s, const uint8_t *body, size_t len)
{
	struct gsn_ctl_kv kv;
	size_t pos = 0;
	int r;

	while ((r = gsn_ctl_kv_next(body, len, &pos, &kv)) == 1)
		if (stats_add(s, kv.key, kv.key_len, kv.val, kv.val_len))
			return -ENOMEM;
	return r;
}

/* "portN..." (not "ports"). */
static bool is_port_key(const char *key)
{
	return strncmp(key, "port", 4) == 0 && key[4] >= '0' && key[4] <= '9';
}

/* Forgets the port lines (an answer cut at the text limit). */
static void drop_ports(struct stats *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (is_port_key(s->v[i].key)) {
			free(s->v[i].key);
			free(s->v[i].val);
			continue;
		}
		s->v[j++] = s->v[i];
	}
	s->n = j;
}

/*
 * STATS.  gsnd puts the ports last and cuts its answer at the text limit,
 * so for a big switch the ports are fetched one by one ("portN.").
 */
static int fetch(struct gsnstat *g, struct stats *s)
{
	const uint8_t *body;
	size_t len;
	char prefix[32];

	if (tool_call(&g->t, GSN_CTL_STATS, NULL, 0, &body, &len, TOOL_CALL_MS, "STATS") ||
	    stats_parse(s, body, len))
		return -1;
	if (len < GSN_CTL_TEXT_MAX - 4096)
		return 0;
	drop_ports(s);
	unsigned ports = (unsigned)atoi(G(s, "ports"));

	for (unsigned p = 0; p < ports; p++) {
		int n = snprintf(prefix, sizeof(prefix), "port%u.", p);

		if (tool_call(&g->t, GSN_CTL_STATS, prefix, (size_t)n, &body, &len, TOOL_CALL_MS,
			      "STATS") ||
		    stats_parse(s, body, len))
			return -1;
	}
	return 0;
}

/* ---- report ---- */

static bool is_endpoint(const struct stats *s)
{
	return strcmp(G(s, "role"), "endpoint") == 0;
}

/* "name=value" for every nonzero key starting with prefix, or "none". */
static void nonzero(const struct stats *s, const char *prefix)
{
	size_t plen = strlen(prefix);
	bool any = false;

	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i].key, prefix, plen) == 0 && strcmp(s->v[i].val, "0") != 0) {
			printf(" %s=%s", s->v[i].key + plen, s->v[i].val);
			any = true;
		}
	if (!any)
		printf(" none");
	putchar('\n');
}

static void link_table(const struct stats *s, unsigned p)
{
	printf("%-4u %-6s %-10s %-10s %10s %10s %7s %6s\n", p, G(s, "port%u.link.state", p),
	       G(s, "port%u.link.incarnation", p), G(s, "port%u.link.peer_incarnation", p),
	       G(s, "port%u.link.tseq", p), G(s, "port%u.link.rseq", p),
	       G(s, "port%u.link.unacked", p), G(s, "port%u.link.window", p));
	printf("     credits tx/rx:");
	for (unsigned vc = 0; vc < VCS; vc++)
		printf("  vc%u %s/%s", vc, G(s, "port%u.link.tx_credits.vc%u", p, vc),
		       G(s, "port%u.link.rx_credits.vc%u", p, vc));
	printf("\n     micropackets sent %s received %s, frames sent %s received %s\n",
	       G(s, "port%u.link.mpkts_sent", p), G(s, "port%u.link.mpkts_received", p),
	       G(s, "port%u.link.frames_sent", p), G(s, "port%u.link.frames_received", p));
	printf("     retransmits %s (timeouts %s, dup-acks %s), LCRC errors %s, resets %s\n",
	       G(s, "port%u.link.retransmits", p), G(s, "port%u.link.retx_timeouts", p),
	       G(s, "port%u.link.retx_dupacks", p), G(s, "port%u.link.lcrc_errors", p),
	       G(s, "port%u.link.resets", p));
}

static void port_details(const struct stats *s, unsigned p)
{
	char prefix[48];

	printf("     drops:");
	snprintf(prefix, sizeof(prefix), "port%u.link.drops.", p);
	nonzero(s, prefix);
	printf("     cable %s: frames in %s out %s, full %s, lost %s\n",
	       G(s, "port%u.cable.kind", p), G(s, "port%u.cable.frames_in", p),
	       G(s, "port%u.cable.frames_out", p), G(s, "port%u.cable.send_full", p),
	       G(s, "port%u.cable.send_errors", p));
	snprintf(prefix, sizeof(prefix), "port%u.filter.", p);
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->v[i].key, prefix, strlen(prefix)) == 0) {
			printf("     filters:");
			nonzero(s, prefix);
			break;
		}
	if (!get(s, "port%u.xbar.rx_mpkts", p))
		return;
	printf("     crossbar: in %s mpkts / %s msgs, out %s mpkts / %s msgs, drops:",
	       G(s, "port%u.xbar.rx_mpkts", p), G(s, "port%u.xbar.rx_msgs", p),
	       G(s, "port%u.xbar.tx_mpkts", p), G(s, "port%u.xbar.tx_msgs", p));
	snprintf(prefix, sizeof(prefix), "port%u.xbar.drops.", p);
	nonzero(s, prefix);
}

static void links(const struct stats *s)
{
	unsigned ports = (unsigned)atoi(G(s, "ports"));

	printf("\nLinks\n%-4s %-6s %-10s %-10s %10s %10s %7s %6s\n", "port", "state",
	       "incarn.", "peer", "TSEQ", "RSEQ", "unacked", "window");
	for (unsigned p = 0; p < ports; p++) {
		if (strcmp(G(s, "port%u.cable.kind", p), "none") == 0)
			continue;
		link_table(s, p);
		port_details(s, p);
	}
}

static void vc_row(const struct stats *s, const char *label, const char *key)
{
	printf("  %-16s", label);
	for (unsigned vc = 0; vc < VCS; vc++)
		printf(" %14s", G(s, "msg.%s.vc%u", key, vc));
	putchar('\n');
}

static void messages(const struct stats *s)
{
	printf("\n%-18s", "Messages");
	for (unsigned vc = 0; vc < VCS; vc++)
		printf("            vc%u", vc);
	putchar('\n');
	vc_row(s, "sent", "sent");
	vc_row(s, "received", "received");
	vc_row(s, "bytes sent", "bytes_sent");
	vc_row(s, "bytes received", "bytes_received");
	printf("  ECRC errors %s, drops:", G(s, "msg.ecrc_errors"));
	nonzero(s, "msg.drops.");
	printf("  sink: %s Messages, %s bytes; generator: %s Messages, %s bytes%s\n",
	       G(s, "sink.msgs"), G(s, "sink.bytes"), G(s, "gen.msgs"), G(s, "gen.bytes"),
	       strcmp(G(s, "gen.active"), "1") == 0 ? " (running)" : "");
	printf("  raw: delivered %s, unbound %s, held %s, sent %s\n", G(s, "raw.delivered"),
	       G(s, "raw.unbound"), G(s, "raw.held"), G(s, "raw.sent"));
}

static void harp(const struct stats *s)
{
	printf("\nHARP\n  mode %s, server %s, %s entries\n", G(s, "harp.mode"),
	       G(s, "harp.server"), G(s, "harp.entries"));
	if (!get(s, "harp.requests"))
		return;
	printf("  requests %s, replies %s, NAKs received %s sent %s, resolved %s, failed %s\n",
	       G(s, "harp.requests"), G(s, "harp.replies"), G(s, "harp.naks"),
	       G(s, "harp.naks_sent"), G(s, "harp.resolved"), G(s, "harp.failed"));
	printf("  registrations %s, cache hits %s misses %s, malformed %s\n",
	       G(s, "harp.registrations"), G(s, "harp.cache_hits"), G(s, "harp.cache_misses"),
	       G(s, "harp.malformed"));
}

static void report(const struct gsnstat *g, const struct stats *s)
{
	printf("%s: %s, ULA %s, %s port(s)%s\n", G(s, "name"), G(s, "role"), G(s, "ula"),
	       G(s, "ports"), strcmp(G(s, "ready"), "1") == 0 ? ", ready" : ", not ready");
	if (g->sections & SEC_LINKS)
		links(s);
	if ((g->sections & SEC_MSGS) && is_endpoint(s))
		messages(s);
	if ((g->sections & SEC_HARP) && is_endpoint(s))
		harp(s);
	if ((g->sections & SEC_MSGS) && !is_endpoint(s))
		printf("\nRoutes: %s entries (%s learnt, %s ULAs assigned), admin answered %s\n",
		       G(s, "route.entries"), G(s, "route.learned"), G(s, "route.assigned"),
		       G(s, "admin.answered"));
}

static bool in_sections(const struct gsnstat *g, const char *key)
{
	if (g->sections == SEC_ALL)
		return true;
	if ((g->sections & SEC_LINKS) && is_port_key(key))
		return true;
	if ((g->sections & SEC_HARP) && strncmp(key, "harp.", 5) == 0)
		return true;
	return (g->sections & SEC_MSGS) &&
	       (!strncmp(key, "msg.", 4) || !strncmp(key, "sink.", 5) ||
		!strncmp(key, "gen.", 4) || !strncmp(key, "raw.", 4));
}

static void raw_lines(const struct gsnstat *g, const struct stats *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (in_sections(g, s->v[i].key))
			printf("%s=%s\n", s->v[i].key, s->v[i].val);
}

static int show(struct gsnstat *g, const char *element)
{
	struct stats s = {0};
	int rc = tool_connect_to(&g->t, element);

	if (rc)
		return rc;
	rc = fetch(g, &s) ? 1 : 0;
	if (!rc && g->raw)
		raw_lines(g, &s);
	else if (!rc)
		report(g, &s);
	stats_free(&s);
	tool_close(&g->t);
	return rc;
}

/* ---- -a: every element with a socket in the run directory ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int show_all(struct gsnstat *g)
{
	char buf[256], *names[512];
	const char *dir = tool_rundir(&g->t, buf, sizeof(buf));
	DIR *dh = opendir(dir);
	size_t n = 0;
	int rc = 0;

	if (!dh)
		return tool_err(&g->t, "%s: %s", dir, strerror(errno));
	for (struct dirent *e; (e = readdir(dh)) && n < 512;) {
		size_t l = strlen(e->d_name);

		if (l > 5 && strcmp(e->d_name + l - 5, ".sock") == 0)
			names[n++] = strndup(e->d_name, l - 5);
	}
	closedir(dh);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (g->raw)
			printf("# %s\n", names[i] ? names[i] : "?");
		else if (i)
			printf("\n");
		rc |= names[i] ? show(g, names[i]) : 1;
		free(names[i]);
	}
	return n ? rc : tool_err(&g->t, "no elements in %s", dir);
}

static int parse_args(struct gsnstat *g, int argc, char **argv)
{
	static const struct option longs[] = {
		{"rundir", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "e:aklmHh", longs, NULL)) != -1) {
		if (c == 'e')
			g->t.element = optarg;
		else if (c == 'R')
			g->t.rundir = optarg;
		else if (c == 'a')
			g->all = true;
		else if (c == 'k')
			g->raw = true;
		else if (c == 'l')
			g->sections |= SEC_LINKS;
		else if (c == 'm')
			g->sections |= SEC_MSGS;
		else if (c == 'H')
			g->sections |= SEC_HARP;
		else if (c == 'h') {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!g->sections)
		g->sections = SEC_ALL;
	return 0;
}

int main(int argc, char **argv)
{
	struct gsnstat g = {0};

	tool_init(&g.t, PROG);
	if (parse_args(&g, argc, argv))
		return 1;
	return g.all ? show_all(&g) : show(&g, g.t.element);
}
