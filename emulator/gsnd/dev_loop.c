/* SPDX-License-Identifier: MIT */
/*
 * The loopback port (--cable 0=loopback): port 0's cable leads to a
 * reflector inside gsnd, a one-port element with a link of its own that
 * sends every micropacket it receives straight back on the same VC.  A
 * Message to our own ULA therefore crosses the whole path twice: msg ->
 * link -> cable -> reflector link -> back -> link -> msg, with credits,
 * sequence numbers and CRCs on both links, as docs/device.md asks ("the
 * emulator always emulates").
 *
 * The cable is two frame queues.  Frames are never handed over inside a
 * send (a link must not get a frame back synchronously): each side's
 * frames wait for the loop, which sees the queues as a deadline that is
 * due at once and delivers them from there.  The reflector returns an rx
 * credit when a micropacket has left again; what its link cannot take now
 * waits in a FIFO per VC (bounded by the credits it announced) for
 * tx_ready.  A cable end may be stacked with filters like any other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define LOOP_COMP "loopback"
#define FRAMEQ_MAX 512u /* frames waiting per direction; more are lost (the link repairs) */
#define LB_ROUNDS 16u   /* cable crossings per loop iteration */

struct frame {
	struct frame *next;
	size_t len;
	uint8_t data[];
};

struct frameq {
	struct frame *head, *tail;
	unsigned n;
};

struct held_mpkt {
	struct gsn_mpkt_ctl ctl;
	uint8_t data[32];
};

struct mpktq {
	struct held_mpkt *slot;
	uint32_t cap, head, n;
};

struct gsnd_loopback {
	struct gsn_cable cable; /* first: the port's end */
	struct gsnd *d;
	struct gsn_link *link;  /* the reflector's */
	struct frameq to_refl, to_port;
	struct mpktq held[GSN_VC_COUNT];
	int deadline_id;
	uint64_t reflected, held_total, frames_lost;
};

bool gsnd_loopback_spec(const char *spec)
{
	return strcmp(spec, "loopback") == 0;
}

/* ---- frame queues ---- */

static int frameq_push(struct frameq *q, const uint8_t *data, size_t len)
{
	if (q->n >= FRAMEQ_MAX)
		return -EAGAIN;
	struct frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return -ENOMEM;
	f->next = NULL;
	f->len = len;
	memcpy(f->data, data, len);
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->n++;
	return 0;
}

static struct frame *frameq_pop(struct frameq *q)
{
	struct frame *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return f;
}

static void frameq_free(struct frameq *q)
{
	struct frame *f;

	while ((f = frameq_pop(q)))
		free(f);
}

/* ---- the reflector ---- */

static bool held_push(struct mpktq *q, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32])
{
	if (q->n == q->cap)
		return false;
	struct held_mpkt *m = &q->slot[(q->head + q->n) % q->cap];

	m->ctl = *ctl;
	memcpy(m->data, data, 32);
	q->n++;
	return true;
}

/* Sends what waits on vc while the link takes it; each one's credit goes back. */
static void held_drain(struct gsnd_loopback *lb, unsigned vc)
{
	struct mpktq *q = &lb->held[vc];

	while (q->n) {
		struct held_mpkt *m = &q->slot[q->head];

		if (gsn_link_send(lb->link, &m->ctl, m->data))
			return;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		lb->reflected++;
		gsn_link_consumed(lb->link, vc, 1);
	}
}

/* Keeps a micropacket its VC cannot send now; its credit stays taken until it leaves. */
static void refl_hold(struct gsnd_loopback *lb, unsigned vc, const uint8_t *mp)
{
	struct gsn_mpkt_ctl ctl;

	gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &ctl);
	if (held_push(&lb->held[vc], &ctl, mp + GSN_MPKT_CTL_LEN)) {
		lb->held_total++;
		return;
	}
	gsn_link_consumed(lb->link, vc, 1); /* cannot happen within our credits: dropped */
}

/* How many micropackets from mpkts (n of them) are on the VC of the first. */
static size_t same_vc_run(const uint8_t *mpkts, size_t n)
{
	unsigned vc = mpkts[0] >> 6; /* control word bits 63..62 */
	size_t m = 1;

	while (m < n && (unsigned)(mpkts[m * GSN_MPKT_LEN] >> 6) == vc)
		m++;
	return m;
}

/*
 * Micropackets from the port, a run at a time: each goes straight back and
 * returns its credit, unless micropackets already wait on its VC; then it
 * waits behind them.  A send that stops short is tried again, so that the
 * link's refusal (and the tx_ready after it) happens as for single sends.
 */
static void refl_rx_run(void *ctx, const uint8_t *mpkts, size_t n)
{
	struct gsnd_loopback *lb = ctx;

	while (n) {
		unsigned vc = mpkts[0] >> 6;
		size_t m = same_vc_run(mpkts, n), sent = 0;

		while (!lb->held[vc].n && sent < m) {
			int k = gsn_link_send_back(lb->link, mpkts + sent * GSN_MPKT_LEN, m - sent);

			if (k <= 0)
				break;
			sent += (size_t)k;
			lb->reflected += (uint64_t)k;
		}
		for (size_t i = sent; i < m; i++)
			refl_hold(lb, vc, mpkts + i * GSN_MPKT_LEN);
		mpkts += m * GSN_MPKT_LEN;
		n -= m;
	}
}

static void refl_tx_ready(void *ctx, unsigned vc)
{
	struct gsnd_loopback *lb = ctx;

	if (vc < GSN_VC_COUNT)
		held_drain(lb, vc);
}

/* A reset peer: what we hold belongs to the old pairing; its credits come back. */
static void refl_event(void *ctx, enum gsn_link_event ev, uint32_t peer_inc)
{
	(void)peer_inc;
	struct gsnd_loopback *lb = ctx;

	if (ev == GSN_LINK_EV_UP)
		return;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		struct mpktq *q = &lb->held[vc];

		if (q->n)
			gsn_link_consumed(lb->link, vc, q->n);
		q->head = q->n = 0;
	}
}

static int refl_tx_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct gsnd_loopback *lb = ctx;
	int rc = frameq_push(&lb->to_port, frame, len);

	if (rc)
		lb->frames_lost++;
	return rc;
}

static uint64_t refl_now(void *ctx)
{
	(void)ctx;
	return gsn_clock_ns();
}

/* ---- the port's cable end ---- */

static int port_send(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	struct gsnd_loopback *lb = (struct gsnd_loopback *)c;

	if (len > c->mtu)
		return -EMSGSIZE;
	int rc = frameq_push(&lb->to_refl, frame, len);

	if (rc) {
		c->stats.send_full++;
		return rc;
	}
	c->stats.frames_out++;
	c->stats.bytes_out += len;
	return 0;
}

static void port_close(struct gsn_cable *c)
{
	struct gsnd_loopback *lb = (struct gsnd_loopback *)c;

	if (lb->deadline_id > 0)
		gsn_loop_remove(lb->d->loop, lb->deadline_id);
	gsn_link_destroy(lb->link);
	frameq_free(&lb->to_refl);
	frameq_free(&lb->to_port);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		free(lb->held[vc].slot);
	free(lb);
}

static const struct gsn_cable_ops port_ops = {
	.kind = "loopback",
	.send = port_send,
	.close = port_close,
};

/* ---- the loop: deliver what waits, run the reflector's timers ---- */

static uint64_t lb_next(void *arg)
{
	struct gsnd_loopback *lb = arg;

	if (lb->to_refl.n || lb->to_port.n)
		return 0;
	uint64_t t = gsn_link_next_deadline(lb->link);

	return t == UINT64_MAX ? GSN_LOOP_NEVER : t;
}

/* Hands over the frames waiting now (not those they cause); true if any. */
static bool lb_deliver(struct gsnd_loopback *lb)
{
	unsigned n = lb->to_refl.n, m = lb->to_port.n;
	struct frame *f;

	while (n-- && (f = frameq_pop(&lb->to_refl))) {
		gsn_link_input_frame(lb->link, f->data, f->len);
		free(f);
	}
	while (m-- && (f = frameq_pop(&lb->to_port))) {
		lb->cable.stats.frames_in++;
		lb->cable.stats.bytes_in += f->len;
		gsn_cable_deliver(&lb->cable, f->data, f->len);
		free(f);
	}
	return lb->to_refl.n || lb->to_port.n;
}

/*
 * Frames caused by a delivery (an ack, the reflected Message, the answer
 * the device sends back) are handed over too, a bounded number of rounds
 * per loop iteration: each round is a cable crossing, not a wake-up.
 */
static void lb_expire(void *arg, uint64_t now)
{
	struct gsnd_loopback *lb = arg;

	for (unsigned round = 0; round < LB_ROUNDS && lb_deliver(lb); round++)
		;
	if (gsn_link_next_deadline(lb->link) <= now)
		gsn_link_tick(lb->link);
	gsn_link_flush(lb->link);
}

static int refl_create(struct gsnd_loopback *lb)
{
	struct gsn_link_config lc;
	struct gsn_link_ops ops = {
		.tx_frame = refl_tx_frame,
		.rx_run = refl_rx_run,
		.tx_ready = refl_tx_ready,
		.event = refl_event,
		.now_ns = refl_now,
		.ctx = lb,
	};

	gsn_link_config_default(&lc);
	lc.incarnation = gsnd_random32();
	lc.log = &lb->d->log;
	lc.name = LOOP_COMP;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		lb->held[vc].cap = lc.rx_credits[vc];
		lb->held[vc].slot = calloc(lc.rx_credits[vc], sizeof(struct held_mpkt));
		if (!lb->held[vc].slot)
			return -ENOMEM;
	}
	int err = gsn_link_create(&lc, &ops, &lb->link);

	if (err) {
		lb->link = NULL;
		return err;
	}
	return gsn_link_start(lb->link);
}

int gsnd_loopback_open(struct gsnd *d, struct gsn_cable **out)
{
	struct gsnd_loopback *lb = calloc(1, sizeof(*lb));
	int err;

	if (!lb)
		return -ENOMEM;
	lb->d = d;
	lb->cable.ops = &port_ops;
	lb->cable.mtu = GSN_CABLE_FRAME_MAX;
	err = refl_create(lb);
	if (!err) {
		lb->deadline_id = gsn_loop_add_deadline(d->loop, lb_next, lb_expire, lb);
		err = lb->deadline_id < 0 ? lb->deadline_id : 0;
	}
	if (err) {
		port_close(&lb->cable);
		return err;
	}
	GSN_INFO(&d->log, LOOP_COMP, "port 0 cabled to the in-process reflector");
	*out = &lb->cable;
	return 0;
}
