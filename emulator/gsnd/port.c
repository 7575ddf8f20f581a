/* SPDX-License-Identifier: MIT */
/*
 * Ports: per cabled port a cable end (gsn_cable_open), its fault filters
 * (gsn_filter_push, in the order given) and a link.  Frames the link emits
 * go to the top of the cable stack; frames the stack delivers go to the
 * link; the link's upcalls go to the role (msg at an endpoint, xbar at a
 * switch).  A cable's -EAGAIN is a lost frame that the link repairs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "element.h"

#define COMP "port"

/* ---- link upcalls ---- */

static int port_tx_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct gsnd_port *p = ctx;

	return gsn_cable_send(p->cable, frame, len);
}

static void port_rx_mpkt(void *ctx, const struct gsn_mpkt_ctl *c, const uint8_t data[32])
{
	struct gsnd_port *p = ctx;

	if (p->d->ep)
		gsnd_ep_link_rx(p->d, c, data);
	else
		gsnd_sw_link_rx(p->d, p->index, c, data);
}

/* An endpoint's port: runs of micropackets straight to the Message layer. */
static void port_rx_run(void *ctx, const uint8_t *mpkts, size_t n)
{
	struct gsnd_port *p = ctx;

	gsn_msg_link_rx_run(p->d->ep->msg, mpkts, n);
}

static void port_tx_ready(void *ctx, unsigned vc)
{
	struct gsnd_port *p = ctx;

	if (p->d->ep)
		gsnd_ep_link_tx_ready(p->d, vc);
	else
		gsnd_sw_link_tx_ready(p->d, p->index, vc);
}

static void port_event(void *ctx, enum gsn_link_event ev, uint32_t peer_inc)
{
	struct gsnd_port *p = ctx;

	GSN_INFO(&p->d->log, COMP, "%s: link %s (peer incarnation %08x)", p->name,
		 gsn_link_event_name(ev), peer_inc);
	if (p->d->ep)
		gsnd_ep_link_event(p->d, ev, peer_inc);
	else
		gsnd_sw_link_event(p->d, p->index, ev, peer_inc);
}

static uint64_t port_now(void *ctx)
{
	struct gsnd_port *p = ctx;

	return gsn_loop_now_ns(p->d->loop);
}

static const struct gsn_link_ops port_link_ops = {
	.tx_frame = port_tx_frame,
	.rx_mpkt = port_rx_mpkt,
	.tx_ready = port_tx_ready,
	.event = port_event,
	.now_ns = port_now,
};

/* A frame from the cable stack. */
static void port_rx_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct gsnd_port *p = arg;

	gsn_link_input_frame(p->link, frame, len);
}

/* ---- loop deadlines ---- */

static uint64_t link_next(void *arg)
{
	struct gsnd_port *p = arg;

	return gsn_link_next_deadline(p->link);
}

static void link_expire(void *arg, uint64_t now)
{
	(void)now;
	struct gsnd_port *p = arg;

	gsn_link_tick(p->link);
}

static uint64_t admin_next(void *arg)
{
	struct gsnd *d = arg;

	return d->admin ? gsn_admin_next_deadline(d->admin) : GSN_LOOP_NEVER;
}

static void admin_expire(void *arg, uint64_t now)
{
	(void)now;
	struct gsnd *d = arg;

	if (d->admin)
		gsn_admin_tick(d->admin);
}

int gsnd_add_admin_deadline(struct gsnd *d)
{
	d->admin_deadline_id = gsn_loop_add_deadline(d->loop, admin_next, admin_expire, d);
	return d->admin_deadline_id < 0 ? d->admin_deadline_id : 0;
}

/* ---- opening ---- */

static int port_filters(struct gsnd *d, struct gsnd_port *p)
{
	for (unsigned i = 0; i < d->cfg.nfilters; i++) {
		const struct gsnd_filter_opt *f = &d->cfg.filters[i];

		if (f->port != p->index)
			continue;
		int err = gsn_filter_push(d->loop, &p->cable, f->spec, &d->log);

		if (err) {
			GSN_ERR(&d->log, COMP, "%s: filter '%s': %s", p->name, f->spec,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

static void port_link_config(const struct gsnd *d, const struct gsnd_port *p,
			     struct gsn_link_config *lc)
{
	gsn_link_config_default(lc);
	lc->incarnation = gsnd_random32();
	if (d->cfg.frame_max)
		lc->frame_max = d->cfg.frame_max;
	if (lc->frame_max > p->cable->mtu)
		lc->frame_max = p->cable->mtu;
	if (d->cfg.pace)
		lc->pace_bytes_per_sec = GSND_PACE_BYTES_PER_SEC;
	if (d->cfg.window)
		lc->window = d->cfg.window;
	for (unsigned vc = 1; d->cfg.credits && vc < GSN_VC_COUNT; vc++)
		lc->rx_credits[vc] = d->cfg.credits;
	lc->log = &d->log;
	lc->name = p->name;
}

static int port_open(struct gsnd *d, struct gsnd_port *p, const char *spec)
{
	struct gsn_link_config lc;
	struct gsn_link_ops ops = port_link_ops;
	int err = gsnd_loopback_spec(spec) ? gsnd_loopback_open(d, &p->cable)
					   : gsn_cable_open(d->loop, spec, &d->log, &p->cable);

	if (err) {
		p->cable = NULL;
		GSN_ERR(&d->log, COMP, "%s: cable '%s': %s", p->name, spec, strerror(-err));
		return err;
	}
	err = port_filters(d, p);
	if (err)
		return err;
	port_link_config(d, p, &lc);
	if (d->cfg.role == GSND_ENDPOINT) /* its msg exists before the links start */
		ops.rx_run = port_rx_run;
	ops.ctx = p;
	err = gsn_link_create(&lc, &ops, &p->link);
	if (err) {
		p->link = NULL;
		GSN_ERR(&d->log, COMP, "%s: link: %s", p->name, strerror(-err));
		return err;
	}
	gsn_cable_set_rx(p->cable, port_rx_frame, p);
	p->deadline_id = gsn_loop_add_deadline(d->loop, link_next, link_expire, p);
	return p->deadline_id < 0 ? p->deadline_id : 0;
}

int gsnd_ports_open(struct gsnd *d)
{
	for (unsigned i = 0; i < d->cfg.nports; i++) {
		struct gsnd_port *p = &d->port[i];

		p->d = d;
		p->index = i;
		snprintf(p->name, sizeof(p->name), "port%u", i);
		if (!d->cfg.cable[i])
			continue;
		int err = port_open(d, p, d->cfg.cable[i]);

		if (err)
			return err;
	}
	return 0;
}

int gsnd_ports_start(struct gsnd *d)
{
	for (unsigned i = 0; i < d->cfg.nports; i++) {
		if (!d->port[i].link)
			continue;
		int err = gsn_link_start(d->port[i].link);

		if (err && err != -EALREADY)
			return err;
	}
	return 0;
}

void gsnd_ports_close(struct gsnd *d)
{
	for (unsigned i = 0; i < d->cfg.nports; i++) {
		struct gsnd_port *p = &d->port[i];

		if (p->deadline_id > 0 && d->loop)
			gsn_loop_remove(d->loop, p->deadline_id);
		p->deadline_id = 0;
		gsn_cable_close(p->cable);
		p->cable = NULL;
		gsn_link_destroy(p->link);
		p->link = NULL;
	}
}

void gsnd_ports_flush(struct gsnd *d)
{
	for (unsigned i = 0; i < d->cfg.nports; i++)
		if (d->port[i].link)
			gsn_link_flush(d->port[i].link);
}

bool gsnd_port_cabled(const struct gsnd *d, unsigned p)
{
	return p < d->cfg.nports && d->port[p].link != NULL;
}

bool gsnd_port_up(const struct gsnd *d, unsigned p)
{
	return gsnd_port_cabled(d, p) && gsn_link_state(d->port[p].link) == GSN_LINK_UP;
}
