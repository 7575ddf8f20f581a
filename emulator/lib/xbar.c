/* SPDX-License-Identifier: MIT */
/*
 * The switch crossbar.  See xbar.h and docs/gsnd.md "Crossbar details".
 *
 * Each (input port, VC) is a small state machine over its micropackets:
 *
 *   IDLE --HEADER--> WAIT --output VC free--> FWD --TAIL sent--> IDLE
 *   IDLE --broadcast HEADER--> BWAIT --all free--> BCAST --TAIL sent--> IDLE
 *   IDLE --unroutable / DATA first--> DISCARD --TAIL--> IDLE
 *
 * A micropacket that cannot advance waits in the input's FIFO; the input is
 * serviced again when its output VC is handed to it or the output link says
 * tx_ready.  Services run from a work list, never recursively.
 */
#include "xbar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMP "xbar"

enum xin_state { XS_IDLE = 0, XS_WAIT, XS_FWD, XS_BWAIT, XS_BCAST, XS_DISCARD };

struct xent {
	uint64_t w; /* control word */
	uint8_t data[GSN_MPKT_DATA];
};

struct xin {
	struct xent *q;
	uint32_t mask, head, tail; /* free-running */
	uint8_t state;
	bool abort;     /* a TAIL+ERROR is owed to the output(s) */
	bool started;   /* the current Message has reached an output */
	bool waited;    /* lock_waits counted for this HEADER */
	bool queued;    /* on the work list */
	int target;
	uint64_t targets, bsent; /* broadcast outputs; those that have the head */
};

struct xport {
	struct gsn_link *link;
	struct xin in[GSN_VC_COUNT];
	int lock[GSN_VC_COUNT]; /* input owning this output VC, -1 free */
	unsigned lock_rr[GSN_VC_COUNT];
	struct gsn_xbar_port_stats st;
};

struct gsn_xbar {
	struct gsn_xbar_config cfg;
	struct gsn_xbar_ops ops;
	struct xport *ports;
	uint16_t *work;
	uint32_t work_mask, work_head, work_tail;
	bool running;
};

static const uint8_t zero_data[GSN_MPKT_DATA];

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* ---- life cycle ---------------------------------------------------------- */

int gsn_xbar_create(const struct gsn_xbar_config *cfg, const struct gsn_xbar_ops *ops,
		    struct gsn_xbar **out)
{
	if (!cfg || !ops || !out || !ops->route || !cfg->nports ||
	    cfg->nports > GSN_XBAR_MAX_PORTS)
		return -EINVAL;
	struct gsn_xbar *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cfg = *cfg;
	x->ops = *ops;
	uint32_t wn = pow2_at_least(cfg->nports * GSN_VC_COUNT);
	x->work_mask = wn - 1;
	x->ports = calloc(cfg->nports, sizeof(*x->ports));
	x->work = calloc(wn, sizeof(*x->work));
	if (!x->ports || !x->work) {
		gsn_xbar_destroy(x);
		return -ENOMEM;
	}
	for (unsigned p = 0; p < cfg->nports; p++)
		for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
			x->ports[p].lock[vc] = -1;
			x->ports[p].lock_rr[vc] = p;
		}
	*out = x;
	return 0;
}

void gsn_xbar_destroy(struct gsn_xbar *x)
{
	if (!x)
		return;
	if (x->ports)
		for (unsigned p = 0; p < x->cfg.nports; p++)
			for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
				free(x->ports[p].in[vc].q);
	free(x->ports);
	free(x->work);
	free(x);
}

int gsn_xbar_attach(struct gsn_xbar *x, unsigned port, struct gsn_link *link)
{
	if (port >= x->cfg.nports || !link)
		return -EINVAL;
	struct xport *P = &x->ports[port];
	if (P->link)
		return -EBUSY;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		uint32_t n = pow2_at_least(gsn_link_rx_credits(link, vc) ? gsn_link_rx_credits(link, vc) : 1);

		P->in[vc].q = calloc(n, sizeof(struct xent));
		if (!P->in[vc].q)
			return -ENOMEM;
		P->in[vc].mask = n - 1;
	}
	P->link = link;
	return 0;
}

/* ---- work list ----------------------------------------------------------- */

static void schedule(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xin *in = &x->ports[p].in[vc];

	if (in->queued)
		return;
	in->queued = true;
	x->work[x->work_tail++ & x->work_mask] = (uint16_t)(p * GSN_VC_COUNT + vc);
}

static void service(struct gsn_xbar *x, unsigned p, unsigned vc);

static void run(struct gsn_xbar *x)
{
	if (x->running)
		return;
	x->running = true;
	while (x->work_head != x->work_tail) {
		unsigned w = x->work[x->work_head++ & x->work_mask];
		unsigned p = w / GSN_VC_COUNT, vc = w % GSN_VC_COUNT;

		x->ports[p].in[vc].queued = false;
		service(x, p, vc);
	}
	x->running = false;
}

/* ---- locks --------------------------------------------------------------- */

static void drop(struct gsn_xbar *x, unsigned p, enum gsn_xbar_drop why)
{
	x->ports[p].st.drops[why]++;
	GSN_DBG(x->cfg.log, COMP, "%s: port %u drop %s", x->cfg.name ? x->cfg.name : "xbar", p,
		gsn_xbar_drop_name(why));
}

static void consume(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	gsn_link_consumed(x->ports[p].link, vc, 1);
}

static bool bit(uint64_t mask, unsigned p)
{
	return (mask >> p) & 1;
}

static bool all_free(const struct gsn_xbar *x, unsigned p, unsigned vc, uint64_t targets)
{
	for (unsigned o = 0; o < x->cfg.nports; o++)
		if (bit(targets, o) && x->ports[o].lock[vc] >= 0 && x->ports[o].lock[vc] != (int)p)
			return false;
	return true;
}

static void lock_all(struct gsn_xbar *x, unsigned p, unsigned vc, uint64_t targets)
{
	for (unsigned o = 0; o < x->cfg.nports; o++)
		if (bit(targets, o))
			x->ports[o].lock[vc] = (int)p;
}

/* Output VC (o, vc) is free: hands it to the next waiting input in turn. */
static void handoff(struct gsn_xbar *x, unsigned o, unsigned vc)
{
	struct xport *O = &x->ports[o];
	unsigned n = x->cfg.nports;

	for (unsigned i = 1; i <= n && O->lock[vc] < 0; i++) {
		unsigned q = (O->lock_rr[vc] + i) % n;
		struct xin *in = &x->ports[q].in[vc];

		if (in->state == XS_WAIT && in->target == (int)o) {
			O->lock[vc] = (int)q;
			in->state = XS_FWD;
		} else if (in->state == XS_BWAIT && bit(in->targets, o) &&
			   all_free(x, q, vc, in->targets)) {
			lock_all(x, q, vc, in->targets);
			in->state = XS_BCAST;
		} else {
			continue;
		}
		O->lock_rr[vc] = q;
		schedule(x, q, vc);
	}
}

static void unlock(struct gsn_xbar *x, unsigned o, unsigned vc)
{
	x->ports[o].lock[vc] = -1;
	handoff(x, o, vc);
}

static void unlock_all(struct gsn_xbar *x, unsigned vc, uint64_t targets)
{
	for (unsigned o = 0; o < x->cfg.nports; o++)
		if (bit(targets, o))
			x->ports[o].lock[vc] = -1;
	for (unsigned o = 0; o < x->cfg.nports; o++)
		if (bit(targets, o))
			handoff(x, o, vc);
}

/* The current Message of (p, vc) is over. */
static void finish(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xin *in = &x->ports[p].in[vc];

	if (in->state == XS_FWD)
		unlock(x, (unsigned)in->target, vc);
	else if (in->state == XS_BCAST)
		unlock_all(x, vc, in->targets);
	in->state = XS_IDLE;
	in->started = false;
	in->abort = false;
	in->bsent = 0;
}

/* ---- one micropacket ----------------------------------------------------- */

static bool port_up(const struct gsn_xbar *x, unsigned o)
{
	return x->ports[o].link && gsn_link_state(x->ports[o].link) == GSN_LINK_UP;
}

static void discard_msg(struct gsn_xbar *x, unsigned p, unsigned vc, enum gsn_xbar_drop why)
{
	drop(x, p, why);
	x->ports[p].in[vc].state = XS_DISCARD;
}

/* A micropacket at IDLE: decides where its Message goes. */
static void start_msg(struct gsn_xbar *x, unsigned p, unsigned vc, const struct gsn_mpkt_ctl *c,
		      const uint8_t *data)
{
	struct xin *in = &x->ports[p].in[vc];

	in->waited = false;
	in->started = false;
	if (c->type != GSN_MPKT_T_HEADER) {
		discard_msg(x, p, vc, GSN_XBAR_DROP_NO_HEADER);
		return;
	}
	if (gsn_ula_is_broadcast(data)) {
		x->ports[p].st.bcast_msgs++;
		if (!x->cfg.broadcast) {
			discard_msg(x, p, vc, GSN_XBAR_DROP_BROADCAST_OFF);
			return;
		}
		in->targets = 0;
		in->bsent = 0;
		for (unsigned o = 0; o < x->cfg.nports; o++)
			if (o != p && port_up(x, o))
				in->targets |= 1ull << o;
		if (!in->targets)
			discard_msg(x, p, vc, GSN_XBAR_DROP_PORT_DOWN);
		else
			in->state = XS_BWAIT;
		return;
	}
	int r = x->ops.route(x->ops.ctx, data);
	if (r < 0 || (unsigned)r >= x->cfg.nports || !x->ports[r].link)
		discard_msg(x, p, vc, GSN_XBAR_DROP_UNKNOWN_ULA);
	else if ((unsigned)r == p)
		discard_msg(x, p, vc, GSN_XBAR_DROP_HAIRPIN);
	else if (!port_up(x, (unsigned)r))
		discard_msg(x, p, vc, GSN_XBAR_DROP_PORT_DOWN);
	else {
		in->target = r;
		in->state = XS_WAIT;
	}
}

static bool acquire(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xin *in = &x->ports[p].in[vc];
	bool bcast = in->state == XS_BWAIT;
	bool ok = bcast ? all_free(x, p, vc, in->targets)
			: x->ports[in->target].lock[vc] < 0 ||
				  x->ports[in->target].lock[vc] == (int)p;

	if (!ok) {
		if (!in->waited)
			x->ports[p].st.lock_waits++;
		in->waited = true;
		return false;
	}
	if (bcast) {
		lock_all(x, p, vc, in->targets);
		in->state = XS_BCAST;
	} else {
		x->ports[in->target].lock[vc] = (int)p;
		in->state = XS_FWD;
	}
	return true;
}

static void count_out(struct gsn_xbar *x, unsigned o, const struct gsn_mpkt_ctl *c)
{
	x->ports[o].st.tx_mpkts++;
	if (c->tail)
		x->ports[o].st.tx_msgs++;
}

/* Forwards to the locked output; false when it has no room. */
static bool fwd(struct gsn_xbar *x, unsigned p, unsigned vc, const struct gsn_mpkt_ctl *c,
		const uint8_t *data)
{
	struct xin *in = &x->ports[p].in[vc];
	unsigned o = (unsigned)in->target;
	int rc = gsn_link_send(x->ports[o].link, c, data);

	if (rc == -EAGAIN)
		return false;
	consume(x, p, vc);
	if (rc) { /* the output went away under this Message */
		drop(x, p, GSN_XBAR_DROP_OUTPUT_RESET);
		unlock(x, o, vc);
		in->started = false;
		in->state = c->tail ? XS_IDLE : XS_DISCARD;
		return true;
	}
	in->started = true;
	count_out(x, o, c);
	if (c->tail)
		finish(x, p, vc);
	return true;
}

/* Sends the head micropacket to every broadcast output still missing it. */
static bool bcast_send(struct gsn_xbar *x, unsigned p, unsigned vc,
		       const struct gsn_mpkt_ctl *c, const uint8_t *data)
{
	struct xin *in = &x->ports[p].in[vc];

	for (unsigned o = 0; o < x->cfg.nports; o++) {
		if (!bit(in->targets & ~in->bsent, o))
			continue;
		int rc = gsn_link_send(x->ports[o].link, c, data);

		if (rc == -EAGAIN)
			continue;
		if (rc) {
			in->targets &= ~(1ull << o);
			unlock(x, o, vc);
			continue;
		}
		in->bsent |= 1ull << o;
		in->started = true;
		count_out(x, o, c);
	}
	return !(in->targets & ~in->bsent);
}

static bool bcast(struct gsn_xbar *x, unsigned p, unsigned vc, const struct gsn_mpkt_ctl *c,
		  const uint8_t *data)
{
	struct xin *in = &x->ports[p].in[vc];

	if (!bcast_send(x, p, vc, c, data))
		return false;
	consume(x, p, vc);
	in->bsent = 0;
	if (c->tail) {
		finish(x, p, vc);
	} else if (!in->targets) {
		drop(x, p, GSN_XBAR_DROP_OUTPUT_RESET);
		in->state = XS_DISCARD;
	}
	return true;
}

/* Advances (p, vc) with one micropacket; true when it is done with it. */
static bool step(struct gsn_xbar *x, unsigned p, unsigned vc, const struct gsn_mpkt_ctl *c,
		 const uint8_t *data)
{
	struct xin *in = &x->ports[p].in[vc];

	for (;;) {
		switch (in->state) {
		case XS_IDLE:
			start_msg(x, p, vc, c, data);
			continue;
		case XS_WAIT:
		case XS_BWAIT:
			if (!acquire(x, p, vc))
				return false;
			continue;
		case XS_FWD:
			return fwd(x, p, vc, c, data);
		case XS_BCAST:
			return bcast(x, p, vc, c, data);
		default: /* XS_DISCARD */
			consume(x, p, vc);
			if (c->tail)
				in->state = XS_IDLE;
			return true;
		}
	}
}

/* Sends the owed TAIL+ERROR; true when done. */
static bool do_abort(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xin *in = &x->ports[p].in[vc];
	struct gsn_mpkt_ctl c = {
		.vc = (uint8_t)vc, .type = GSN_MPKT_T_DATA, .tail = true, .error = true,
	};

	if (in->state == XS_FWD) {
		unsigned o = (unsigned)in->target;
		int rc = gsn_link_send(x->ports[o].link, &c, zero_data);

		if (rc == -EAGAIN)
			return false;
		if (!rc)
			x->ports[o].st.aborts_sent++;
	} else if (in->state == XS_BCAST) {
		uint64_t before = in->bsent;

		if (!bcast_send(x, p, vc, &c, zero_data))
			return false;
		for (unsigned o = 0; o < x->cfg.nports; o++)
			if (bit(in->bsent & ~before, o))
				x->ports[o].st.aborts_sent++;
	}
	finish(x, p, vc);
	return true;
}

static void service(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xin *in = &x->ports[p].in[vc];

	if (in->abort && !do_abort(x, p, vc))
		return;
	while (in->head != in->tail) {
		struct xent *e = &in->q[in->head & in->mask];
		struct gsn_mpkt_ctl c;

		gsn_mpkt_ctl_unpack(e->w, &c);
		if (!step(x, p, vc, &c, e->data))
			return;
		in->head++;
	}
}

/* ---- upcalls ------------------------------------------------------------- */

static void enqueue(struct gsn_xbar *x, unsigned p, const struct gsn_mpkt_ctl *c,
		    const uint8_t *data)
{
	struct xport *P = &x->ports[p];
	struct xin *in = &P->in[c->vc];
	uint32_t n = in->tail - in->head;

	if (n > in->mask) {
		drop(x, p, GSN_XBAR_DROP_OVERFLOW);
		consume(x, p, c->vc);
		return;
	}
	struct xent *e = &in->q[in->tail++ & in->mask];
	e->w = gsn_mpkt_ctl_pack(c);
	memcpy(e->data, data, GSN_MPKT_DATA);
	if (n + 1 > P->st.held_max[c->vc])
		P->st.held_max[c->vc] = n + 1;
}

void gsn_xbar_link_rx(struct gsn_xbar *x, unsigned p, const struct gsn_mpkt_ctl *c,
		      const uint8_t data[32])
{
	if (p >= x->cfg.nports || !x->ports[p].link)
		return;
	struct xport *P = &x->ports[p];
	unsigned vc = c->vc;
	struct xin *in = &P->in[vc];

	P->st.rx_mpkts++;
	if (c->type == GSN_MPKT_T_ADMIN) {
		P->st.admin_rx++;
		if (x->ops.admin)
			x->ops.admin(x->ops.ctx, p, c, data);
		consume(x, p, vc);
	} else {
		if (c->type == GSN_MPKT_T_HEADER)
			P->st.rx_msgs++;
		bool idle = in->head == in->tail && !in->abort && !in->queued;

		if (!idle || !step(x, p, vc, c, data))
			enqueue(x, p, c, data);
	}
	run(x);
}

void gsn_xbar_link_tx_ready(struct gsn_xbar *x, unsigned port, unsigned vc)
{
	if (port >= x->cfg.nports || vc >= GSN_VC_COUNT)
		return;
	int owner = x->ports[port].lock[vc];

	if (owner >= 0)
		schedule(x, (unsigned)owner, vc);
	run(x);
}

/* The input link of p reset: its last Message, if partial, is cut. */
static void input_reset(struct gsn_xbar *x, unsigned p, unsigned vc)
{
	struct xport *P = &x->ports[p];
	struct xin *in = &P->in[vc];
	uint32_t keep = in->head;

	for (uint32_t i = in->tail; i != in->head; i--)
		if ((in->q[(i - 1) & in->mask].w >> 57) & 1) { /* TAIL */
			keep = i;
			break;
		}
	uint32_t cut = in->tail - keep;
	if (cut) {
		gsn_link_consumed(P->link, vc, cut);
		in->tail = keep;
	}
	if (in->head != in->tail)
		return; /* complete Messages remain; the current one ends normally */
	switch (in->state) {
	case XS_FWD:
	case XS_BCAST:
		drop(x, p, GSN_XBAR_DROP_INPUT_RESET);
		if (in->started) {
			in->abort = true;
			in->bsent = 0;
			schedule(x, p, vc);
		} else {
			finish(x, p, vc);
		}
		break;
	case XS_WAIT:
	case XS_BWAIT:
		drop(x, p, GSN_XBAR_DROP_INPUT_RESET);
		in->state = XS_IDLE;
		break;
	case XS_DISCARD:
		in->state = XS_IDLE;
		break;
	default:
		break;
	}
}

/* The output link of o reset: Messages crossing to it lose their rest. */
static void output_reset(struct gsn_xbar *x, unsigned o, unsigned vc)
{
	for (unsigned p = 0; p < x->cfg.nports; p++) {
		struct xin *in = &x->ports[p].in[vc];
		bool mine = x->ports[o].lock[vc] == (int)p;

		if (in->state == XS_BWAIT && bit(in->targets, o)) {
			in->targets &= ~(1ull << o);
			if (!in->targets)
				discard_msg(x, p, vc, GSN_XBAR_DROP_OUTPUT_RESET);
			schedule(x, p, vc);
			continue;
		}
		if (!mine)
			continue;
		if (in->state == XS_BCAST) {
			in->targets &= ~(1ull << o);
			in->bsent &= ~(1ull << o);
			if (in->targets) {
				x->ports[o].lock[vc] = -1;
				schedule(x, p, vc);
				continue;
			}
		}
		x->ports[o].lock[vc] = -1;
		if (in->abort) {
			in->abort = false;
			in->state = XS_IDLE;
		} else {
			discard_msg(x, p, vc, GSN_XBAR_DROP_OUTPUT_RESET);
		}
		in->started = false;
		in->bsent = 0;
		schedule(x, p, vc);
	}
	handoff(x, o, vc);
}

void gsn_xbar_link_event(struct gsn_xbar *x, unsigned port, enum gsn_link_event ev,
			 uint32_t peer_incarnation)
{
	(void)peer_incarnation;
	if (port >= x->cfg.nports || !x->ports[port].link)
		return;
	if (ev == GSN_LINK_EV_RESET || ev == GSN_LINK_EV_DOWN) {
		GSN_INFO(x->cfg.log, COMP, "%s: port %u %s", x->cfg.name ? x->cfg.name : "xbar",
			 port, gsn_link_event_name(ev));
		for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
			input_reset(x, port, vc);
			output_reset(x, port, vc);
		}
	}
	run(x);
}

void gsn_xbar_flush(struct gsn_xbar *x)
{
	for (unsigned p = 0; p < x->cfg.nports; p++)
		if (x->ports[p].link)
			gsn_link_flush(x->ports[p].link);
}

/* ---- queries ------------------------------------------------------------- */

int gsn_xbar_port_stats(const struct gsn_xbar *x, unsigned port, struct gsn_xbar_port_stats *st)
{
	if (port >= x->cfg.nports)
		return -EINVAL;
	const struct xport *P = &x->ports[port];

	*st = P->st;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		st->held[vc] = P->in[vc].tail - P->in[vc].head;
		st->lock_owner[vc] = P->lock[vc];
	}
	return 0;
}

const char *gsn_xbar_drop_name(enum gsn_xbar_drop d)
{
	static const char *const names[GSN_XBAR_DROP_MAX] = {
		[GSN_XBAR_DROP_UNKNOWN_ULA] = "unknown_ula",
		[GSN_XBAR_DROP_BROADCAST_OFF] = "broadcast_off",
		[GSN_XBAR_DROP_PORT_DOWN] = "port_down",
		[GSN_XBAR_DROP_HAIRPIN] = "hairpin",
		[GSN_XBAR_DROP_NO_HEADER] = "no_header",
		[GSN_XBAR_DROP_OVERFLOW] = "overflow",
		[GSN_XBAR_DROP_INPUT_RESET] = "input_reset",
		[GSN_XBAR_DROP_OUTPUT_RESET] = "output_reset",
	};
	return (unsigned)d < GSN_XBAR_DROP_MAX ? names[d] : "?";
}
