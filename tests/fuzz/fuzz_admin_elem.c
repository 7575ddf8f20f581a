/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: Admin micropacket processing (emulator/lib/admin.h) of
 * a chain endpoint E1 - switch S - endpoint E2 wired with synchronous
 * callbacks (E1 port 0 = S port 1, S port 2 = E2 port 0; S ports 0 and 3
 * lead nowhere).  The input is a script, each step one opcode byte:
 *
 *	0  micropacket into element <byte % 3> by port <byte>: 32 data bytes
 *	1  request from element <byte % 3>: out port, hops, 8 route bytes,
 *	   command, 16 argument bytes
 *	2  advance time:       byte b -> b * 50 ms, then tick every element
 *	3  E1's link:          byte odd -> up (acquires a ULA), even -> down
 *	4  cancel:             tag <byte>
 *
 * Missing bytes at the end of the input read as zero.  Forwarding is bounded
 * by the hop count, so the synchronous recursion must stay shallow; the
 * harness checks that and the counters' consistency.
 * tests/fuzz/make_admin_elem_seeds.py writes the seed corpus.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/admin.h>

#include "admin.h"
#include "route.h"

#define MS 1000000ull
#define MAX_DEPTH 40

struct fz_world;

struct fz_elem {
	struct fz_world *w;
	int id;
	struct gsn_admin_elem *adm;
};

struct fz_world {
	uint64_t now;
	unsigned depth;
	struct gsn_route *rt;
	struct fz_elem e[3]; /* E1, S, E2 */
};

/* Where (element, port) leads: -1 for nowhere. */
static int fz_peer(int id, unsigned port, unsigned *peer_port)
{
	if (id == 0 && port == 0) {
		*peer_port = 1;
		return 1;
	}
	if (id == 1 && port == 1) {
		*peer_port = 0;
		return 0;
	}
	if (id == 1 && port == 2) {
		*peer_port = 0;
		return 2;
	}
	if (id == 2 && port == 0) {
		*peer_port = 2;
		return 1;
	}
	return -1;
}

static int fz_send(void *ctx, unsigned out_port, const uint8_t data[GSN_ADMIN_LEN])
{
	struct fz_elem *e = ctx;
	struct fz_world *w = e->w;
	unsigned pp;
	int peer = fz_peer(e->id, out_port, &pp);
	uint8_t copy[GSN_ADMIN_LEN];

	if (peer < 0)
		return 0;
	if (++w->depth > MAX_DEPTH)
		abort(); /* forwarding must be bounded by the hop count */
	memcpy(copy, data, sizeof(copy));
	gsn_admin_input(w->e[peer].adm, pp, copy);
	w->depth--;
	return 0;
}

static uint64_t fz_now(void *ctx)
{
	return ((struct fz_elem *)ctx)->w->now;
}

static void fz_response(void *ctx, uint32_t tag, int result, const struct gsn_admin *resp,
			uint64_t rtt_ns)
{
	(void)ctx;
	(void)tag;
	(void)rtt_ns;
	if ((result == 0) != (resp != NULL))
		abort();
	if (resp && (!gsn_admin_is_response(resp) || resp->hops != 0))
		abort();
}

static void fz_address(void *ctx, unsigned port, const uint8_t *ula, int status)
{
	(void)ctx;
	(void)port;
	if ((status == 0) != (ula != NULL))
		abort();
	if (ula && gsn_ula_is_group(ula))
		abort();
}

static int fz_make(struct fz_world *w)
{
	static const uint8_t e2_ula[GSN_ULA_LEN] = {0x02, 0, 0, 0, 0, 0xe2};
	struct gsn_route_config rc;

	gsn_route_config_default(&rc);
	rc.nports = 4;
	rc.max_entries = 8;
	rc.switch_id[2] = 1;
	if (gsn_route_create(&rc, &w->rt) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		struct gsn_admin_config c;
		struct gsn_admin_ops ops = {fz_send, fz_now, fz_response, NULL, fz_address,
					    &w->e[i]};

		gsn_admin_config_default(&c);
		c.role = i == 1 ? GSN_ADMIN_ROLE_SWITCH : GSN_ADMIN_ROLE_ENDPOINT;
		c.nports = i == 1 ? 4 : 1;
		c.max_pending = 4;
		if (i == 1) {
			c.route = w->rt;
			c.has_ula = true;
			gsn_route_switch_ula(w->rt, c.ula);
		} else if (i == 2) {
			c.has_ula = true;
			memcpy(c.ula, e2_ula, GSN_ULA_LEN);
		}
		w->e[i].w = w;
		w->e[i].id = i;
		if (gsn_admin_create(&c, &ops, &w->e[i].adm) != 0)
			return -1;
	}
	return 0;
}

/* The next n script bytes (zero past the end). */
static void fz_take(const uint8_t *buf, size_t len, size_t *pos, uint8_t *out, size_t n)
{
	memset(out, 0, n);
	size_t have = len - *pos < n ? len - *pos : n;
	memcpy(out, buf + *pos, have);
	*pos += have;
}

static void fz_step(struct fz_world *w, const uint8_t *buf, size_t len, size_t *pos)
{
	uint8_t op = buf[(*pos)++] % 5;
	uint8_t arg;
	uint8_t b[27];

	fz_take(buf, len, pos, &arg, 1);
	struct gsn_admin_elem *adm = w->e[arg % 3].adm;
	switch (op) {
	case 0: {
		uint8_t port;
		uint8_t data[GSN_ADMIN_LEN];

		fz_take(buf, len, pos, &port, 1);
		fz_take(buf, len, pos, data, sizeof(data));
		gsn_admin_input(adm, port, data);
		break;
	}
	case 1:
		fz_take(buf, len, pos, b, sizeof(b));
		(void)gsn_admin_request(adm, b[0], b[1] % 10, b + 2, b[10], b + 11,
					gsn_admin_new_tag(adm));
		break;
	case 2:
		w->now += (uint64_t)arg * 50 * MS;
		for (int i = 0; i < 3; i++)
			gsn_admin_tick(w->e[i].adm);
		for (int i = 0; i < 3; i++)
			if (gsn_admin_next_deadline(w->e[i].adm) <= w->now)
				abort(); /* tick left expired work behind */
		break;
	case 3:
		if (arg & 1)
			(void)gsn_admin_link_up(w->e[0].adm, 0);
		else
			gsn_admin_link_down(w->e[0].adm, 0);
		break;
	default:
		(void)gsn_admin_cancel(adm, arg);
		break;
	}
	if (w->depth != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fz_world w;

	memset(&w, 0, sizeof(w));
	if (fz_make(&w) != 0)
		abort(); /* the configuration is valid */
	for (size_t pos = 0; pos < len;)
		fz_step(&w, buf, len, &pos);
	for (int i = 0; i < 3; i++) {
		struct gsn_admin_stats st;

		gsn_admin_get_stats(w.e[i].adm, &st);
		if (st.invalid + st.bad_route > st.answered ||
		    st.resp_matched + st.resp_unmatched + st.malformed > st.received)
			abort();
		gsn_admin_destroy(w.e[i].adm);
	}
	gsn_route_destroy(w.rt);
	return 0;
}
