/* SPDX-License-Identifier: MIT */
/*
 * gsnmsg: send and receive raw GSN Messages through an endpoint's control
 * socket (RAW_SEND, RAW_BIND/RAW_RECV), for the shell and demos.
 * gsnmsg(1).
 *
 *	gsnmsg -e A send --to ULA [--vc V] [--type 0xXXXX] [--size N | --file F] [--count N]
 *	gsnmsg -e B recv [--type 0xXXXX] [--count N] [--hex]
 *	gsnmsg -e A gen --to ULA [--vc V] [--size N] [--count N] [--wait]
 *
 * gen asks the element itself to generate the Messages (control command
 * GEN, EtherType 0x88B6, counted by the receiver's sink); with --wait it
 * waits until they are queued and prints the rate.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsn/crc32c.h>

#include "tool.h"

#define PROG "gsnmsg"
#define DEFAULT_TYPE 0x88B5u /* IEEE 802 local experimental EtherType 1 */
#define DEFAULT_SIZE 64u
#define POLL_MS 200

struct msgtool {
	struct tool t;
	bool has_cmd, send, gen, wait;
	uint8_t to[GSN_ULA_LEN];
	bool has_to;
	unsigned vc;
	uint16_t type;
	size_t size;
	const char *file;
	unsigned long long count; /* recv: 0 = until interrupted */
	bool hex;
	sigset_t sigs;
	/* recv */
	unsigned long long got;
	bool failed;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gsnmsg [--rundir DIR] -e ELEMENT send --to ULA [--vc V] [--type 0xXXXX]\n"
		"              [--size N | --file F] [--count N]\n"
		"       gsnmsg [--rundir DIR] -e ELEMENT recv [--type 0xXXXX] [--count N] [--hex]\n"
		"       gsnmsg [--rundir DIR] -e ELEMENT gen --to ULA [--vc V] [--size N] [--count N]\n"
		"              [--wait]\n");
}

/* ---- options ---- */

enum { O_TO = 256, O_VC, O_TYPE, O_SIZE, O_FILE, O_COUNT, O_HEX, O_RUNDIR, O_WAIT };

static int parse_opt(struct msgtool *m, int c, const char *arg)
{
	unsigned long long v = 0;

	switch (c) {
	case 'e':
		m->t.element = arg;
		return 0;
	case O_RUNDIR:
		m->t.rundir = arg;
		return 0;
	case O_TO:
		m->has_to = true;
		return tool_ula(&m->t, arg, m->to);
	case O_VC:
		if (tool_uint(&m->t, "--vc", arg, 3, &v))
			return 1;
		m->vc = (unsigned)v;
		return 0;
	case O_TYPE:
		if (tool_uint(&m->t, "--type", arg, 0xffff, &v))
			return 1;
		m->type = (uint16_t)v;
		return 0;
	case O_SIZE:
		if (tool_uint(&m->t, "--size", arg, 1u << 20, &v))
			return 1;
		m->size = (size_t)v;
		return 0;
	case O_FILE:
		m->file = arg;
		return 0;
	case O_COUNT:
		return tool_uint(&m->t, "--count", arg, 1000000000ull, &m->count);
	case O_HEX:
		m->hex = true;
		return 0;
	case O_WAIT:
		m->wait = true;
		return 0;
	default:
		usage(stderr);
		return 1;
	}
}

static int parse_args(struct msgtool *m, int argc, char **argv)
{
	static const struct option longs[] = {
		{"to", required_argument, NULL, O_TO},     {"vc", required_argument, NULL, O_VC},
		{"type", required_argument, NULL, O_TYPE}, {"size", required_argument, NULL, O_SIZE},
		{"file", required_argument, NULL, O_FILE}, {"count", required_argument, NULL, O_COUNT},
		{"hex", no_argument, NULL, O_HEX},         {"rundir", required_argument, NULL, O_RUNDIR},
		{"wait", no_argument, NULL, O_WAIT},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	/* options may come before and after the command word */
	while ((c = getopt_long(argc, argv, "-e:h", longs, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == 1) {
			if (m->has_cmd || (strcmp(optarg, "send") && strcmp(optarg, "recv") &&
					   strcmp(optarg, "gen")))
				return tool_err(&m->t, "unexpected '%s' (want send, recv or gen)",
						optarg);
			m->has_cmd = true;
			m->send = strcmp(optarg, "send") == 0;
			m->gen = strcmp(optarg, "gen") == 0;
			m->count = (m->send || m->gen) && !m->count ? 1 : m->count;
			continue;
		}
		if (parse_opt(m, c, optarg))
			return 1;
	}
	if (!m->has_cmd) {
		usage(stderr);
		return 1;
	}
	if ((m->send || m->gen) && !m->has_to)
		return tool_err(&m->t, "%s needs --to ULA", m->send ? "send" : "gen");
	if (m->send && m->size > GSN_CTL_RAW_DATA_MAX)
		return tool_err(&m->t, "--size: at most %u bytes for send", GSN_CTL_RAW_DATA_MAX);
	if (m->file && m->size != DEFAULT_SIZE)
		return tool_err(&m->t, "--size and --file exclude each other");
	return 0;
}

/* ---- send ---- */

static uint8_t *payload(struct msgtool *m, size_t *len)
{
	uint8_t *buf = malloc(GSN_CTL_RAW_HDR_LEN + GSN_CTL_RAW_DATA_MAX + 1);

	if (!buf)
		return NULL;
	uint8_t *data = buf + GSN_CTL_RAW_HDR_LEN;

	if (!m->file) {
		for (size_t i = 0; i < m->size; i++)
			data[i] = (uint8_t)(i * 7 + 1);
		*len = m->size;
		return buf;
	}
	FILE *f = fopen(m->file, "rb");

	if (!f) {
		tool_err(&m->t, "%s: %s", m->file, strerror(errno));
		free(buf);
		return NULL;
	}
	*len = fread(data, 1, GSN_CTL_RAW_DATA_MAX + 1, f);
	fclose(f);
	if (*len > GSN_CTL_RAW_DATA_MAX) {
		tool_err(&m->t, "%s: larger than %u bytes", m->file, GSN_CTL_RAW_DATA_MAX);
		free(buf);
		return NULL;
	}
	return buf;
}

static int do_send(struct msgtool *m)
{
	struct gsn_ctl_raw head = {.vc = (uint8_t)m->vc, .ethertype = m->type};
	size_t len;
	uint8_t *buf = payload(m, &len);
	char s[GSN_ULA_STRLEN];
	unsigned long long i;

	if (!buf)
		return 1;
	memcpy(head.dst, m->to, GSN_ULA_LEN);
	gsn_ctl_raw_encode_head(&head, buf);
	for (i = 0; i < m->count; i++)
		if (tool_call(&m->t, GSN_CTL_RAW_SEND, buf, GSN_CTL_RAW_HDR_LEN + len, NULL, NULL,
			      -1, "send"))
			break;
	free(buf);
	gsn_ula_format(m->to, s);
	printf("sent %llu Message(s) of %zu bytes to %s on vc%u, type 0x%04x\n", i, len, s, m->vc,
	       m->type);
	return i == m->count ? 0 : 1;
}

/* ---- recv ---- */

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf("  %04zx ", i);
		for (size_t j = i; j < i + 16 && j < n; j++)
			printf(" %02x", p[j]);
		putchar('\n');
	}
}

static void on_async(void *arg, const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	struct msgtool *m = arg;
	struct gsn_ctl_raw r;
	char src[GSN_ULA_STRLEN];

	if (h->type != GSN_CTL_RAW_RECV || gsn_ctl_raw_decode(body, len, &r))
		return;
	if (r.ethertype != m->type || (m->count && m->got >= m->count))
		return;
	m->got++;
	gsn_ula_format(r.src, src);
	printf("from %s vc%u type 0x%04x len %zu crc32c 0x%08x\n", src, r.vc, r.ethertype, r.len,
	       gsn_crc32c(0, r.data, r.len));
	if (m->hex)
		print_hex(r.data, r.len);
	fflush(stdout);
}

static bool interrupted(const struct msgtool *m)
{
	struct timespec zero = {0, 0};

	return sigtimedwait(&m->sigs, NULL, &zero) >= 0;
}

static int do_recv(struct msgtool *m)
{
	struct gsn_ctl_bind b = {.ethertype = m->type};
	uint8_t body[GSN_CTL_BIND_LEN];

	gsn_ctl_set_async(m->t.conn, on_async, m);
	gsn_ctl_bind_encode(&b, body);
	if (tool_call(&m->t, GSN_CTL_RAW_BIND, body, sizeof(body), NULL, NULL, TOOL_CALL_MS,
		      "bind"))
		return 1;
	while ((!m->count || m->got < m->count) && !interrupted(m)) {
		struct gsn_ctl_hdr h;
		const uint8_t *msg;
		size_t len;
		int err = gsn_ctl_recv(m->t.conn, &h, &msg, &len, POLL_MS);

		if (err == -ETIMEDOUT)
			continue;
		if (err)
			return tool_err(&m->t, "receive: %s",
					err == -ECONNRESET ? "the element went away" : strerror(-err));
		on_async(m, &h, msg, len);
	}
	return m->count && m->got < m->count ? 1 : 0;
}

/* ---- gen ---- */

static int gen_stat(struct msgtool *m, const char *key, char *out, size_t len)
{
	const uint8_t *body;
	size_t blen;
	int err = tool_call(&m->t, GSN_CTL_STATS, "gen.", 4, &body, &blen, TOOL_CALL_MS, "STATS");

	return err ? err : gsn_ctl_kv_get(body, blen, key, out, len);
}

static int gen_wait(struct msgtool *m)
{
	char done[16] = "0", err[16] = "0", start[32] = "0", end[32] = "0", bytes[32] = "0";
	struct timespec pause = {0, 50 * 1000 * 1000};

	while (strcmp(done, "1") != 0 && strcmp(err, "0") == 0) {
		nanosleep(&pause, NULL);
		if (gen_stat(m, "gen.done", done, sizeof(done)) ||
		    gen_stat(m, "gen.error", err, sizeof(err)))
			return 1;
	}
	if (strcmp(err, "0") != 0)
		return tool_err(&m->t, "generator stopped: %s", strerror(-atoi(err)));
	if (gen_stat(m, "gen.start_ns", start, sizeof(start)) ||
	    gen_stat(m, "gen.end_ns", end, sizeof(end)) ||
	    gen_stat(m, "gen.bytes", bytes, sizeof(bytes)))
		return 1;
	double secs = (double)(strtoull(end, NULL, 10) - strtoull(start, NULL, 10)) / 1e9;

	printf("queued %s bytes in %.3f s (%.1f MB/s)\n", bytes, secs,
	       secs > 0 ? (double)strtoull(bytes, NULL, 10) / secs / 1e6 : 0.0);
	return 0;
}

static int do_gen(struct msgtool *m)
{
	struct gsn_ctl_gen g = {.vc = (uint8_t)m->vc, .size = (uint32_t)m->size,
				.count = (uint32_t)m->count};
	uint8_t body[GSN_CTL_GEN_LEN];
	char s[GSN_ULA_STRLEN];

	memcpy(g.dst, m->to, GSN_ULA_LEN);
	gsn_ctl_gen_encode(&g, body);
	if (tool_call(&m->t, GSN_CTL_GEN, body, sizeof(body), NULL, NULL, TOOL_CALL_MS, "gen"))
		return 1;
	gsn_ula_format(m->to, s);
	printf("generating %llu Message(s) of %zu bytes to %s on vc%u\n", m->count, m->size, s,
	       m->vc);
	return m->wait ? gen_wait(m) : 0;
}

int main(int argc, char **argv)
{
	struct msgtool m = {.type = DEFAULT_TYPE, .size = DEFAULT_SIZE};
	int rc;

	tool_init(&m.t, PROG);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (parse_args(&m, argc, argv))
		return 1;
	tool_signals_block(&m.sigs);
	if (tool_connect(&m.t))
		rc = 1;
	else
		rc = m.send ? do_send(&m) : m.gen ? do_gen(&m) : do_recv(&m);
	tool_close(&m.t);
	tool_signals_release(&m.sigs);
	return rc;
}
