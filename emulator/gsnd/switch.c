/* SPDX-License-Identifier: MIT */
/*
 * The switch role: the crossbar over every cabled port, the route table,
 * and the switch's Admin element (which assigns ULAs and answers 0x07,
 * 0x08 and 0x09).
 *
 * Routes come from three places: ULAs the switch assigns (0x04), routes
 * set with 0x08 (endpoints with a configured ULA announce themselves that
 * way at link-up), and learning: the source ULA of every HEADER
 * micropacket is learnt behind the port it came in by, so endpoints behind
 * other switches become reachable once they have sent anything.
 *
 * The switch id (bytes 1..3 of the ULAs it assigns) is the FNV-1a hash of
 * its element name, folded to 24 bits: names are unique in a fabric.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define COMP "switch"

static void switch_id_of(const char *name, uint8_t id[3])
{
	uint32_t h = 2166136261u;

	for (const char *s = name; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	h = (h >> 24) ^ (h & 0xffffff);
	id[0] = (uint8_t)(h >> 16);
	id[1] = (uint8_t)(h >> 8);
	id[2] = (uint8_t)h;
}

int gsnd_sw_route(struct gsnd *d, const uint8_t ula[GSN_ULA_LEN])
{
	unsigned out;

	return gsn_route_lookup(d->sw->route, ula, GSN_ROUTE_NO_PORT, &out) == GSN_ROUTE_UNICAST
		       ? (int)out
		       : -1;
}

/* ---- Admin micropackets out of a port, queued while the link has no credit ---- */

static unsigned adminq_len(const struct gsnd_sw_adminq *q)
{
	return q->tail - q->head;
}

static int admin_link_send(struct gsnd *d, unsigned port, const uint8_t data[GSN_ADMIN_LEN])
{
	struct gsn_mpkt_ctl c = {.vc = (uint8_t)gsn_admin_wire_vc(data), .type = GSN_MPKT_T_ADMIN};

	return gsn_link_send(d->port[port].link, &c, data);
}

static void adminq_drain(struct gsnd *d, unsigned port)
{
	struct gsnd_sw_adminq *q = &d->sw->adminq[port];

	while (adminq_len(q)) {
		int err = admin_link_send(d, port, q->data[q->head % GSND_SW_ADMINQ]);

		if (err == -EAGAIN)
			return;
		q->head++;
	}
}

static int sw_admin_send(void *ctx, unsigned out_port, const uint8_t data[GSN_ADMIN_LEN])
{
	struct gsnd *d = ctx;
	struct gsnd_switch *sw = d->sw;

	if (!gsnd_port_cabled(d, out_port))
		return -ENODEV;
	struct gsnd_sw_adminq *q = &sw->adminq[out_port];

	if (!adminq_len(q)) {
		int err = admin_link_send(d, out_port, data);

		if (err != -EAGAIN)
			return err;
	}
	if (adminq_len(q) == GSND_SW_ADMINQ) {
		sw->admin_dropped++;
		return -ENOBUFS;
	}
	memcpy(q->data[q->tail++ % GSND_SW_ADMINQ], data, GSN_ADMIN_LEN);
	sw->admin_queued++;
	return 0;
}

/* ---- crossbar upcalls ---- */

static int sw_route_op(void *ctx, const uint8_t dst[GSN_ULA_LEN])
{
	return gsnd_sw_route(ctx, dst);
}

static void sw_admin_in(void *ctx, unsigned port, const struct gsn_mpkt_ctl *c,
			const uint8_t data[32])
{
	(void)c;
	struct gsnd *d = ctx;

	gsn_admin_input(d->admin, port, data);
}

/* ---- the port links' upcalls ---- */

void gsnd_sw_link_rx(struct gsnd *d, unsigned port, const struct gsn_mpkt_ctl *c,
		     const uint8_t data[32])
{
	struct gsnd_switch *sw = d->sw;

	if (c->type == GSN_MPKT_T_HEADER) {
		sw->learned_headers++;
		gsn_route_learn(sw->route, data + GSN_ULA_LEN, port); /* S_ULA */
	}
	gsn_xbar_link_rx(sw->xbar, port, c, data);
}

void gsnd_sw_link_tx_ready(struct gsnd *d, unsigned port, unsigned vc)
{
	adminq_drain(d, port);
	gsn_xbar_link_tx_ready(d->sw->xbar, port, vc);
}

void gsnd_sw_link_event(struct gsnd *d, unsigned port, enum gsn_link_event ev,
			uint32_t peer_inc)
{
	struct gsnd_switch *sw = d->sw;

	if (ev != GSN_LINK_EV_UP) {
		size_t n = gsn_route_port_down(sw->route, port);

		if (n)
			GSN_INFO(&d->log, COMP, "port%u: forgot %zu learnt route(s)", port, n);
		sw->adminq[port].head = sw->adminq[port].tail;
		gsn_admin_link_down(d->admin, port);
	}
	gsn_xbar_link_event(sw->xbar, port, ev, peer_inc);
	if (ev == GSN_LINK_EV_UP)
		adminq_drain(d, port);
}

/* ---- life cycle ---- */

static int sw_route_create(struct gsnd *d)
{
	struct gsnd_switch *sw = d->sw;
	struct gsn_route_config rc;

	gsn_route_config_default(&rc);
	switch_id_of(d->cfg.name, rc.switch_id);
	rc.nports = d->cfg.nports;
	rc.broadcast = d->cfg.broadcast;
	int err = gsn_route_create(&rc, &sw->route);

	if (err) {
		sw->route = NULL;
		return err;
	}
	if (d->cfg.has_ula)
		memcpy(sw->ula, d->cfg.ula, GSN_ULA_LEN);
	else
		gsn_route_switch_ula(sw->route, sw->ula);
	return 0;
}

static int sw_xbar_create(struct gsnd *d)
{
	struct gsnd_switch *sw = d->sw;
	struct gsn_xbar_config xc = {
		.nports = d->cfg.nports,
		.broadcast = d->cfg.broadcast,
		.log = &d->log,
		.name = d->cfg.name,
	};
	struct gsn_xbar_ops ops = {.route = sw_route_op, .admin = sw_admin_in, .ctx = d};
	int err = gsn_xbar_create(&xc, &ops, &sw->xbar);

	if (err) {
		sw->xbar = NULL;
		return err;
	}
	for (unsigned p = 0; p < d->cfg.nports && !err; p++)
		if (gsnd_port_cabled(d, p))
			err = gsn_xbar_attach(sw->xbar, p, d->port[p].link);
	return err;
}

static int sw_admin_create(struct gsnd *d)
{
	struct gsn_admin_config cfg;
	struct gsn_admin_ops ops = {
		.send = sw_admin_send,
		.now_ns = gsnd_admin_now,
		.response = gsnd_admin_response,
		.ctx = d,
	};

	gsn_admin_config_default(&cfg);
	cfg.role = GSN_ADMIN_ROLE_SWITCH;
	cfg.nports = d->cfg.nports;
	cfg.has_ula = true;
	memcpy(cfg.ula, d->sw->ula, GSN_ULA_LEN);
	cfg.route = d->sw->route;
	cfg.log = &d->log;
	int err = gsn_admin_create(&cfg, &ops, &d->admin);

	if (err) {
		d->admin = NULL;
		return err;
	}
	return gsnd_add_admin_deadline(d);
}

int gsnd_switch_init(struct gsnd *d)
{
	int err;

	d->sw = calloc(1, sizeof(*d->sw));
	if (!d->sw)
		return -ENOMEM;
	err = sw_route_create(d);
	if (!err)
		err = sw_xbar_create(d);
	if (!err)
		err = sw_admin_create(d);
	if (err)
		GSN_ERR(&d->log, COMP, "set-up: %s", strerror(-err));
	return err;
}

void gsnd_switch_fini(struct gsnd *d)
{
	struct gsnd_switch *sw = d->sw;

	if (!sw)
		return;
	if (d->admin_deadline_id > 0)
		gsn_loop_remove(d->loop, d->admin_deadline_id);
	d->admin_deadline_id = 0;
	gsn_admin_destroy(d->admin);
	d->admin = NULL;
	gsn_xbar_destroy(sw->xbar);
	gsn_route_destroy(sw->route);
	free(sw);
	d->sw = NULL;
}
