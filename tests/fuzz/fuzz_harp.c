/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the HARP codec (<gsn/harp.h>) and the HARP client and
 * server (emulator/lib/harp.h) on raw bytes.
 *
 * The whole input is decoded as a HARP packet at every length (round-trip
 * checked).  Then it is read as a script driving one client (two configured
 * servers) and one server in virtual time, each step one opcode byte:
 *
 *	0  packet to the client:  src selector, length n, n bytes
 *	1  packet to the server:  src selector, length n, n bytes
 *	2  advance time:          byte b -> b * 7 ms, then tick both
 *	3  client resolves:       10.0.0.<byte>
 *	4  static entry:          10.0.0.<byte> -> 02:00:00:01:00:<byte>
 *	5  delete:                10.0.0.<byte>
 *	6  (re)start the client
 *	7  static text:           length n, n bytes to gsn_harp_load_static
 *	8  server deaf:           byte odd -> packets to the server are lost
 *
 * Packets the two send are fed back to each other (bounded), so replies,
 * NAKs and registrations happen too.  tests/fuzz/make_harp_seeds.py writes
 * the seed corpus.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/harp.h>

#include "harp.h"

#define MS 1000000ull
#define QUEUE_LEN 64

struct fz_pkt {
	int to; /* 0 client, 1 server */
	uint8_t src[GSN_ULA_LEN];
	uint8_t len;
	uint8_t bytes[GSN_HARP_LEN];
};

struct fz_world {
	uint64_t now;
	struct gsn_harp *h[2];
	uint8_t ula[2][GSN_ULA_LEN];
	struct fz_pkt q[QUEUE_LEN];
	unsigned head, tail;
	unsigned resolved;
	bool server_deaf;
};

struct fz_node {
	struct fz_world *w;
	int id;
};

static int fz_send(void *ctx, const uint8_t dst[GSN_ULA_LEN], const uint8_t *payload, size_t len)
{
	struct fz_node *n = ctx;
	struct fz_world *w = n->w;

	if (len != GSN_HARP_LEN)
		abort(); /* the module always sends full packets */
	if (w->tail - w->head >= QUEUE_LEN)
		return -1;
	struct fz_pkt *p = &w->q[w->tail++ % QUEUE_LEN];
	p->to = 1 - n->id;
	memcpy(p->src, w->ula[n->id], GSN_ULA_LEN);
	p->len = (uint8_t)len;
	memcpy(p->bytes, payload, len);
	(void)dst;
	return 0;
}

static uint64_t fz_now(void *ctx)
{
	return ((struct fz_node *)ctx)->w->now;
}

static void fz_resolved(void *ctx, uint32_t ip, const uint8_t *ula, int status)
{
	struct fz_node *n = ctx;

	if ((status == 0) != (ula != NULL) || ip == 0)
		abort();
	n->w->resolved++;
}

static void fz_pump(struct fz_world *w)
{
	unsigned budget = 4 * QUEUE_LEN;

	while (w->head != w->tail && budget--) {
		struct fz_pkt p = w->q[w->head++ % QUEUE_LEN];
		if (p.to == 1 && w->server_deaf)
			continue;
		gsn_harp_input(w->h[p.to], p.src, p.bytes, p.len);
	}
	w->head = w->tail = 0;
}

static int fz_pkt_cmp(const struct gsn_harp_pkt *a, const struct gsn_harp_pkt *b)
{
	return a->hrd != b->hrd || a->op != b->op || a->spa != b->spa || a->tpa != b->tpa ||
	       memcmp(a->sha, b->sha, GSN_ULA_LEN) || memcmp(a->tha, b->tha, GSN_ULA_LEN);
}

static void fz_codec(const uint8_t *buf, size_t len)
{
	for (size_t l = 0; l <= len && l <= 48; l++) {
		struct gsn_harp_pkt p, q;
		int err = gsn_harp_decode(buf, l, &p);

		(void)gsn_harp_strerror(err);
		if (l < GSN_HARP_FIXED_LEN && err != GSN_HARP_E_SHORT)
			abort();
		if (err != GSN_HARP_OK)
			continue;
		(void)gsn_harp_op_name(p.op);
		uint8_t out[GSN_HARP_LEN];
		gsn_harp_encode(&p, out);
		if (gsn_harp_decode(out, sizeof(out), &q) != GSN_HARP_OK || fz_pkt_cmp(&p, &q))
			abort();
		if (buf[4] == 6 && buf[8] == 4 && buf[9] == 6 && buf[11] == 4 &&
		    (l < GSN_HARP_LEN || memcmp(out, buf, sizeof(out)) != 0))
			abort();
	}
}

static int fz_make(struct fz_world *w, struct fz_node nodes[2])
{
	for (int i = 0; i < 2; i++) {
		w->ula[i][0] = 0x02;
		w->ula[i][5] = (uint8_t)(i == 0 ? 1 : 101);
	}
	for (int i = 0; i < 2; i++) {
		struct gsn_harp_config c;
		struct gsn_harp_ops ops = {fz_send, fz_now, fz_resolved, &nodes[i]};

		gsn_harp_config_default(&c);
		c.detect_timeout_ns = 10 * MS;
		c.register_retry_ns = 20 * MS;
		c.reregister_ns = 300 * MS;
		c.revalidate_ns = 300 * MS;
		c.server_forget_ns = 400 * MS;
		c.request_timeout_ns = 10 * MS;
		c.resolve_timeout_ns = 200 * MS;
		c.max_entries = 16;
		c.max_pending = 4;
		memcpy(c.ula, w->ula[i], GSN_ULA_LEN);
		c.ip = 0x0a000000u | w->ula[i][5];
		c.server = i == 1;
		if (i == 0) {
			c.nservers = 2;
			memcpy(c.servers[0], w->ula[1], GSN_ULA_LEN);
			memcpy(c.servers[1], w->ula[1], GSN_ULA_LEN);
			c.servers[1][5] = 102;
		}
		nodes[i].w = w;
		nodes[i].id = i;
		if (gsn_harp_create(&c, &ops, &w->h[i]) != 0)
			return -1;
	}
	return 0;
}

static void fz_src(const struct fz_world *w, uint8_t sel, uint8_t src[GSN_ULA_LEN])
{
	static const uint8_t bc[GSN_ULA_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	switch (sel % 4) {
	case 0:
		memcpy(src, w->ula[0], GSN_ULA_LEN);
		break;
	case 1:
		memcpy(src, w->ula[1], GSN_ULA_LEN);
		break;
	case 2:
		memcpy(src, bc, GSN_ULA_LEN);
		break;
	default:
		memcpy(src, w->ula[1], GSN_ULA_LEN);
		src[5] = sel;
		break;
	}
}

static void fz_step(struct fz_world *w, const uint8_t *buf, size_t len, size_t *pos)
{
	uint8_t op = buf[(*pos)++] % 9;
	uint8_t arg = *pos < len ? buf[(*pos)++] : 0;
	uint8_t ula[GSN_ULA_LEN] = {0x02, 0, 0, 1, 0, arg};
	uint32_t ip = 0x0a000000u | arg;

	switch (op) {
	case 0:
	case 1: {
		uint8_t src[GSN_ULA_LEN];
		size_t n = *pos < len ? buf[(*pos)++] % 64 : 0;

		if (n > len - *pos)
			n = len - *pos;
		fz_src(w, arg, src);
		/* an exact-size copy, so any overread is caught */
		uint8_t *copy = malloc(n ? n : 1);
		if (!copy)
			return;
		memcpy(copy, buf + *pos, n);
		gsn_harp_input(w->h[op], src, copy, n);
		free(copy);
		*pos += n;
		break;
	}
	case 2:
		w->now += (uint64_t)arg * 7 * MS;
		gsn_harp_tick(w->h[0]);
		gsn_harp_tick(w->h[1]);
		break;
	case 3:
		(void)gsn_harp_resolve(w->h[0], ip, ula);
		break;
	case 4:
		(void)gsn_harp_add_static(w->h[arg & 1], ip, ula);
		break;
	case 5:
		(void)gsn_harp_delete(w->h[arg & 1], ip);
		break;
	case 6:
		gsn_harp_start(w->h[0]);
		break;
	case 8:
		w->server_deaf = arg & 1;
		break;
	default: {
		size_t n = arg;
		unsigned bad;

		if (n > len - *pos)
			n = len - *pos;
		char *text = malloc(n ? n : 1);
		if (!text)
			return;
		memcpy(text, buf + *pos, n);
		(void)gsn_harp_load_static(w->h[0], text, n, &bad);
		free(text);
		*pos += n;
		break;
	}
	}
	fz_pump(w);
}

static void fz_count(void *ctx, const struct gsn_harp_entry *e)
{
	if (e->ip == 0 || e->flags == 0)
		abort();
	(*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fz_world w;
	struct fz_node nodes[2];

	fz_codec(buf, len);
	memset(&w, 0, sizeof(w));
	if (fz_make(&w, nodes) != 0)
		abort(); /* the configuration is valid */
	gsn_harp_start(w.h[0]);
	gsn_harp_start(w.h[1]);
	fz_pump(&w);
	for (size_t pos = 0; pos < len;)
		fz_step(&w, buf, len, &pos);
	for (int i = 0; i < 2; i++) {
		size_t n = 0;

		gsn_harp_foreach(w.h[i], fz_count, &n);
		if (n != gsn_harp_count(w.h[i]) || n > 16)
			abort();
		if (gsn_harp_next_deadline(w.h[i]) < w.now)
			abort(); /* tick left expired work behind */
	}
	gsn_harp_destroy(w.h[0]);
	gsn_harp_destroy(w.h[1]);
	return 0;
}
