/* SPDX-License-Identifier: MIT */
/*
 * The endpoint role: Messages over the one port's link (msg), the
 * endpoint's Admin element, its ULA, the link-up set-up, and the dispatch
 * of received Messages by EtherType:
 *
 *	0x0806 (HARP)    -> the HARP instance
 *	0x88B6           -> UD datagrams ("GSUD" magic) to the device, the
 *	                    rest (test traffic) to the sink (counted,
 *	                    released at once)
 *	bound by clients -> RAW_RECV to every bound client (also for the two
 *	                    above, which then get a copy); a congested client
 *	                    makes gsnd hold the Message until it drains
 *	anything else    -> counted (raw.unbound) and released
 *
 * Link-up set-up (docs/gsnd.md "Wiring"): what-are-you (hop 0) to the
 * element on the other end; a switch is then asked for a ULA
 * (assign-me-a-ULA) or, with a configured ULA, told where we are
 * (change-route: our ULA -> the port we came in by, learnt from the
 * what-are-you answer); facing another endpoint, an endpoint without a ULA
 * makes one up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define COMP "endpoint"
#define SETUP_TRIES 3
#define ACQUIRE_RETRY_NS (1000ull * GSND_NS_PER_MS)

static void setup_probe(struct gsnd *d);
static void setup_announce(struct gsnd *d);

const char *gsnd_setup_name(enum gsnd_setup s)
{
	static const char *const names[] = {"down", "probing", "acquiring", "announcing", "done"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *gsnd_ula_source_name(enum gsnd_ula_source s)
{
	static const char *const names[] = {"none", "configured", "assigned", "set", "generated"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* ---- our ULA ---- */

static void adopt_ula(struct gsnd *d, const uint8_t ula[GSN_ULA_LEN], enum gsnd_ula_source src)
{
	struct gsnd_endpoint *ep = d->ep;
	char s[GSN_ULA_STRLEN];

	ep->ula_source = src;
	if (ep->has_ula && gsn_ula_equal(ep->ula, ula))
		return;
	if (ep->has_ula)
		ep->ula_changes++;
	memcpy(ep->ula, ula, GSN_ULA_LEN);
	ep->has_ula = true;
	gsn_msg_set_ula(ep->msg, ula);
	gsn_admin_set_ula(d->admin, ula);
	gsn_ula_format(ula, s);
	GSN_INFO(&d->log, COMP, "ULA %s (%s)", s, gsnd_ula_source_name(src));
	gsnd_harp_ula_changed(d);
}

/* A random locally administered unicast ULA. */
static void generate_ula(struct gsnd *d)
{
	uint32_t a = gsnd_random32(), b = gsnd_random32();
	uint8_t ula[GSN_ULA_LEN] = {0x02, (uint8_t)(a >> 24), (uint8_t)(a >> 16),
				    (uint8_t)(a >> 8), (uint8_t)a, (uint8_t)b};

	adopt_ula(d, ula, GSND_ULA_GENERATED);
}

/* ---- link-up set-up ---- */

static void setup_done(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;

	if (!ep->has_ula)
		generate_ula(d);
	ep->setup = GSND_SETUP_DONE;
	GSN_INFO(&d->log, COMP, "set-up done");
}

/* Ends any set-up step in flight (link reset or down). */
static void setup_abort(struct gsnd *d, enum gsnd_setup to)
{
	struct gsnd_endpoint *ep = d->ep;

	if (ep->setup_call)
		gsnd_admin_call_cancel(d, ep->setup_tag);
	ep->setup_call = false;
	gsn_loop_timer_cancel(d->loop, &ep->setup_timer);
	ep->setup = to;
}

static bool answer_ok(int result, const struct gsn_admin *resp)
{
	return result == 0 && !gsn_admin_is_error(resp);
}

static void setup_call(struct gsnd *d, uint8_t cmd, const uint8_t *args, gsnd_admin_cb cb)
{
	struct gsnd_endpoint *ep = d->ep;
	int err = gsnd_admin_call(d, 0, 0, NULL, cmd, args, cb, NULL, &ep->setup_tag);

	ep->setup_call = err == 0;
	if (err) {
		GSN_WARN(&d->log, COMP, "set-up: %s: %s", gsn_admin_cmd_name(cmd), strerror(-err));
		gsn_loop_timer_in(d->loop, &ep->setup_timer, ACQUIRE_RETRY_NS, 0);
	}
}

static void announce_done(struct gsnd *d, void *arg, int result, const struct gsn_admin *resp,
			  uint64_t rtt_ns)
{
	(void)arg;
	(void)rtt_ns;
	struct gsnd_endpoint *ep = d->ep;

	ep->setup_call = false;
	if (result == -ENETDOWN)
		return;
	if (result == -ETIMEDOUT && ++ep->setup_tries < SETUP_TRIES) {
		setup_announce(d);
		return;
	}
	if (!answer_ok(result, resp)) {
		ep->announce_errors++;
		GSN_WARN(&d->log, COMP, "route announcement failed (%s)",
			 result ? strerror(-result) : gsn_admin_status_name(resp->status));
	}
	setup_done(d);
}

/* Tells the switch: our ULA is behind the port we came in by (Admin 0x08). */
static void setup_announce(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;
	uint8_t args[GSN_ADMIN_ARGS_LEN] = {0};
	int err;

	ep->setup = GSND_SETUP_ANNOUNCE;
	memcpy(args, ep->ula, GSN_ULA_LEN);
	args[6] = ep->peer.our_port;
	err = gsnd_admin_call(d, 0, 0, NULL, GSN_ADMIN_SET_ROUTE, args, announce_done, NULL,
			      &ep->setup_tag);
	ep->setup_call = err == 0;
	if (err)
		gsn_loop_timer_in(d->loop, &ep->setup_timer, ACQUIRE_RETRY_NS, 0);
}

static void setup_acquire(struct gsnd *d)
{
	int err;

	d->ep->setup = GSND_SETUP_ACQUIRE;
	err = gsn_admin_acquire_ula(d->admin, 0);
	if (err && err != -EALREADY) {
		GSN_WARN(&d->log, COMP, "ULA acquisition: %s", strerror(-err));
		gsn_loop_timer_in(d->loop, &d->ep->setup_timer, ACQUIRE_RETRY_NS, 0);
	}
}

/* What the peer said it is decides the next step. */
static void setup_peer_known(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;

	if (ep->peer.role != GSN_ADMIN_ROLE_SWITCH) {
		setup_done(d);
		return;
	}
	if (!ep->has_ula || ep->ula_source == GSND_ULA_ASSIGNED)
		setup_acquire(d);
	else
		setup_announce(d);
}

static void probe_done(struct gsnd *d, void *arg, int result, const struct gsn_admin *resp,
		       uint64_t rtt_ns)
{
	(void)arg;
	(void)rtt_ns;
	struct gsnd_endpoint *ep = d->ep;

	ep->setup_call = false;
	if (result == -ENETDOWN)
		return;
	if (!answer_ok(result, resp)) {
		if (++ep->setup_tries < SETUP_TRIES) {
			setup_probe(d);
			return;
		}
		GSN_WARN(&d->log, COMP, "the element on the other end does not answer");
		setup_done(d);
		return;
	}
	ep->peer.known = true;
	ep->peer.role = resp->args[0];
	ep->peer.nports = resp->args[1];
	memcpy(ep->peer.ula, resp->args + 2, GSN_ULA_LEN);
	ep->peer.our_port = resp->args[8];
	ep->setup_tries = 0;
	setup_peer_known(d);
}

static void setup_probe(struct gsnd *d)
{
	d->ep->setup = GSND_SETUP_PROBE;
	setup_call(d, GSN_ADMIN_WHAT_ARE_YOU, NULL, probe_done);
}

/* The set-up timer: retry the step that could not be sent or failed. */
static void setup_retry(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	struct gsnd *d = arg;

	switch (d->ep->setup) {
	case GSND_SETUP_PROBE:
		setup_probe(d);
		break;
	case GSND_SETUP_ACQUIRE:
		setup_acquire(d);
		break;
	case GSND_SETUP_ANNOUNCE:
		setup_announce(d);
		break;
	default:
		break;
	}
}

static void setup_start(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;

	setup_abort(d, GSND_SETUP_PROBE);
	memset(&ep->peer, 0, sizeof(ep->peer));
	ep->setup_tries = 0;
	ep->setup_runs++;
	setup_probe(d);
}

/* gsn_admin_ops.address: a ULA assigned (0x04 answer) or set (0x03). */
static void ep_address(void *ctx, unsigned port, const uint8_t *ula, int status)
{
	(void)port;
	struct gsnd *d = ctx;
	struct gsnd_endpoint *ep = d->ep;
	bool acquiring = ep->setup == GSND_SETUP_ACQUIRE;

	if (status == 0) {
		adopt_ula(d, ula, acquiring ? GSND_ULA_ASSIGNED : GSND_ULA_SET);
		if (acquiring)
			setup_done(d);
		return;
	}
	if (!acquiring || status == -ENETDOWN)
		return;
	if (status == -ETIMEDOUT) {
		gsn_loop_timer_in(d->loop, &ep->setup_timer, ACQUIRE_RETRY_NS, 0);
		return;
	}
	GSN_WARN(&d->log, COMP, "the switch assigns no ULA (%s)", strerror(-status));
	setup_done(d);
}

/* ---- msg upcalls ---- */

static bool ep_deliver(void *ctx, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		       const uint8_t dst[GSN_ULA_LEN], uint16_t ethertype, const uint8_t *pdu,
		       size_t len)
{
	struct gsnd *d = ctx;
	bool bound = gsnd_raw_bound(d, ethertype);
	bool hold = bound && gsnd_raw_deliver(d, vc, src, dst, ethertype, pdu, len);

	if (ethertype == GSN_ETHERTYPE_HARP)
		gsnd_harp_input(d, src, pdu, len);
	else if (ethertype == GSN_ETHERTYPE_ST)
		gsnd_dev_input(d, vc, src, pdu, len);
	else if (ethertype == GSN_ETHERTYPE_TEST) {
		if (!gsnd_dev_ud_input(d, src, dst, pdu, len))
			gsnd_sink_input(d, vc, len);
	} else if (!bound)
		gsnd_raw_count_unbound(d);
	if (!hold)
		return true;
	gsnd_raw_hold(d, vc, gsn_msg_mpkts(len));
	return false;
}

static void ep_admin_in(void *ctx, const struct gsn_mpkt_ctl *c, const uint8_t data[32])
{
	(void)c;
	struct gsnd *d = ctx;

	gsn_admin_input(d->admin, 0, data);
}

static void ep_tx_space(void *ctx, unsigned vc)
{
	struct gsnd *d = ctx;

	gsnd_raw_tx_space(d, vc);
	gsnd_gen_tx_space(d, vc);
	gsnd_dev_tx_space(d, vc);
}

static void ep_event(void *ctx, enum gsn_link_event ev, uint32_t peer_inc)
{
	(void)peer_inc;
	struct gsnd *d = ctx;

	if (ev != GSN_LINK_EV_UP) {
		setup_abort(d, GSND_SETUP_DOWN);
		gsn_admin_link_down(d->admin, 0);
		return;
	}
	setup_start(d);
}

/* ---- the port's link upcalls ---- */

void gsnd_ep_link_rx(struct gsnd *d, const struct gsn_mpkt_ctl *c, const uint8_t data[32])
{
	gsn_msg_link_rx(d->ep->msg, c, data);
}

void gsnd_ep_link_tx_ready(struct gsnd *d, unsigned vc)
{
	gsn_msg_link_tx_ready(d->ep->msg, vc);
}

void gsnd_ep_link_event(struct gsnd *d, enum gsn_link_event ev, uint32_t peer_inc)
{
	gsn_msg_link_event(d->ep->msg, ev, peer_inc);
}

bool gsnd_ep_ready(const struct gsnd *d)
{
	const struct gsnd_endpoint *ep = d->ep;

	return ep->has_ula && ep->setup == GSND_SETUP_DONE && gsnd_harp_ready(d);
}

/* ---- Admin element ---- */

static int ep_admin_send(void *ctx, unsigned out_port, const uint8_t data[GSN_ADMIN_LEN])
{
	struct gsnd *d = ctx;

	if (out_port != 0)
		return -EINVAL;
	return gsn_msg_send_admin(d->ep->msg, gsn_admin_wire_vc(data), data);
}

static int ep_admin_create(struct gsnd *d)
{
	struct gsn_admin_config cfg;
	struct gsn_admin_ops ops = {
		.send = ep_admin_send,
		.now_ns = gsnd_admin_now,
		.response = gsnd_admin_response,
		.address = ep_address,
		.ctx = d,
	};

	gsn_admin_config_default(&cfg);
	cfg.role = GSN_ADMIN_ROLE_ENDPOINT;
	cfg.nports = 1;
	cfg.has_ula = d->ep->has_ula;
	memcpy(cfg.ula, d->ep->ula, GSN_ULA_LEN);
	cfg.log = &d->log;
	int err = gsn_admin_create(&cfg, &ops, &d->admin);

	if (err) {
		d->admin = NULL;
		return err;
	}
	return gsnd_add_admin_deadline(d);
}

static int ep_msg_create(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;
	struct gsn_msg_config cfg;
	struct gsn_msg_ops ops = {
		.deliver = ep_deliver,
		.admin = ep_admin_in,
		.tx_space = ep_tx_space,
		.event = ep_event,
		.ctx = d,
	};

	gsn_msg_config_default(&cfg);
	memcpy(cfg.ula, ep->ula, GSN_ULA_LEN);
	cfg.log = &d->log;
	cfg.name = d->port[0].name;
	int err = gsn_msg_create(&cfg, d->port[0].link, &ops, &ep->msg);

	if (err)
		ep->msg = NULL;
	return err;
}

int gsnd_endpoint_init(struct gsnd *d)
{
	struct gsnd_endpoint *ep = calloc(1, sizeof(*ep));
	int err;

	if (!ep)
		return -ENOMEM;
	d->ep = ep;
	gsn_timer_init(&ep->setup_timer, setup_retry, d);
	if (d->cfg.has_ula) {
		memcpy(ep->ula, d->cfg.ula, GSN_ULA_LEN);
		ep->has_ula = true;
		ep->ula_source = GSND_ULA_CONFIGURED;
	}
	err = ep_msg_create(d);
	if (!err)
		err = ep_admin_create(d);
	if (!err)
		err = gsnd_raw_init(d);
	if (!err)
		err = gsnd_traffic_init(d);
	if (!err)
		err = gsnd_dev_init(d);
	if (err)
		GSN_ERR(&d->log, COMP, "set-up: %s", strerror(-err));
	return err;
}

void gsnd_endpoint_fini(struct gsnd *d)
{
	struct gsnd_endpoint *ep = d->ep;

	if (!ep)
		return;
	if (d->loop)
		gsn_loop_timer_cancel(d->loop, &ep->setup_timer);
	gsnd_dev_fini(d);
	gsnd_traffic_fini(d);
	gsnd_raw_fini(d);
	if (d->admin_deadline_id > 0)
		gsn_loop_remove(d->loop, d->admin_deadline_id);
	d->admin_deadline_id = 0;
	gsn_admin_destroy(d->admin);
	d->admin = NULL;
	gsn_msg_destroy(ep->msg);
	free(ep);
	d->ep = NULL;
}
