/* SPDX-License-Identifier: MIT */
/*
 * Raw Messages for control-socket clients (gsnmsg, tests):
 *
 *  - RAW_BIND: a client asks for every received Message of an EtherType
 *    (several clients may bind one; each gets a copy as RAW_RECV).
 *  - Back-pressure: a copy for a congested client (its queue is past half
 *    of GSN_CTL_QUEUE_MAX) is kept here, behind any copies already waiting
 *    for it, and the Message is held: gsnd does not release it to msg until
 *    every bound client has taken its copies.  msg then stops returning link
 *    credits once its budget is used, so a stopped reader stalls the sender,
 *    hop by hop.  Memory stays bounded by the link's credits plus msg's
 *    budget, because every kept copy still holds its credits; no copy is
 *    ever dropped for a slow reader.
 *  - RAW_SEND: sent at once when msg has room; otherwise kept, in order per
 *    VC, and answered when it could be queued (so a client that waits for
 *    each answer is paced by the link).  VCs wait independently: a stalled
 *    VC holds up only its own sends.  At most RAW_DEFERRED_MAX wait in all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define COMP "raw"
#define RAW_BINDS_MAX 256u
#define RAW_DEFERRED_MAX 64u

/* A RAW_RECV body waiting for a congested client, in arrival order. */
struct raw_pending {
	struct raw_pending *next;
	size_t len;
	uint8_t body[];
};

struct raw_bind {
	uint64_t client;
	uint16_t ethertype;
	struct raw_pending *p_head, *p_tail;
};

struct raw_held {
	uint8_t vc;
	uint32_t nmpkts;
};

struct raw_send {
	struct raw_send *next;
	struct gsnd_reply to;
	uint8_t vc;
	uint16_t ethertype;
	uint8_t dst[GSN_ULA_LEN];
	size_t len;
	uint8_t data[];
};

struct gsnd_raw {
	struct raw_bind binds[RAW_BINDS_MAX];
	unsigned nbinds;
	struct raw_held *held;
	size_t nheld, held_cap;
	struct raw_send *q_head[GSN_VC_COUNT], *q_tail[GSN_VC_COUNT];
	unsigned q_len;
	bool waiting[GSN_VC_COUNT];
	uint8_t *scratch; /* RAW_RECV body */
	uint64_t delivered, unbound, held_total, released, dropped, too_big, kept;
	uint64_t sent, send_errors, deferred;
};

static struct gsnd_raw *raw_of(const struct gsnd *d)
{
	return d->ep->raw;
}

/* ---- bindings ---- */

bool gsnd_raw_bound(const struct gsnd *d, uint16_t ethertype)
{
	const struct gsnd_raw *r = raw_of(d);

	for (unsigned i = 0; i < r->nbinds; i++)
		if (r->binds[i].ethertype == ethertype)
			return true;
	return false;
}

/* Removes binding i; copies still waiting for its client are dropped (it is gone). */
static void bind_drop(struct gsnd_raw *r, unsigned i)
{
	struct raw_pending *p = r->binds[i].p_head;
	while (p) {
		struct raw_pending *next = p->next;
		free(p);
		r->dropped++;
		p = next;
	}
	r->binds[i] = r->binds[--r->nbinds];
}

static int bind_find(const struct gsnd_raw *r, uint64_t client, uint16_t ethertype)
{
	for (unsigned i = 0; i < r->nbinds; i++)
		if (r->binds[i].client == client && r->binds[i].ethertype == ethertype)
			return (int)i;
	return -1;
}

int gsnd_ctl_raw_bind(struct gsnd *d, struct gsn_ctl_client *c, const uint8_t *body,
		      size_t len)
{
	struct gsnd_raw *r = raw_of(d);
	struct gsn_ctl_bind b;
	int err = gsn_ctl_bind_decode(body, len, &b);

	if (err)
		return err;
	uint64_t id = gsn_ctl_client_id(c);
	int i = bind_find(r, id, b.ethertype);

	if (b.flags & GSN_CTL_BIND_UNBIND) {
		if (i < 0)
			return -ENOENT;
		bind_drop(r, (unsigned)i);
		gsnd_raw_backlog(d); /* what it held may go now */
		return 0;
	}
	if (i >= 0)
		return 0;
	if (r->nbinds == RAW_BINDS_MAX)
		return -ENOSPC;
	r->binds[r->nbinds++] = (struct raw_bind){id, b.ethertype, NULL, NULL};
	GSN_DBG(&d->log, COMP, "client %llu bound 0x%04x", (unsigned long long)id, b.ethertype);
	return 0;
}

/* ---- receive ---- */

static size_t recv_body(struct gsnd_raw *r, unsigned vc, const uint8_t src[GSN_ULA_LEN],
			const uint8_t dst[GSN_ULA_LEN], uint16_t ethertype, const uint8_t *pdu,
			size_t len)
{
	struct gsn_ctl_raw head = {.vc = (uint8_t)vc, .ethertype = ethertype};

	memcpy(head.dst, dst, GSN_ULA_LEN);
	memcpy(head.src, src, GSN_ULA_LEN);
	gsn_ctl_raw_encode_head(&head, r->scratch);
	if (len)
		memcpy(r->scratch + GSN_CTL_RAW_HDR_LEN, pdu, len);
	return GSN_CTL_RAW_HDR_LEN + len;
}

static int keep_copy(struct gsnd_raw *r, struct raw_bind *b, size_t len);

bool gsnd_raw_deliver(struct gsnd *d, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		      const uint8_t dst[GSN_ULA_LEN], uint16_t ethertype, const uint8_t *pdu,
		      size_t len)
{
	struct gsnd_raw *r = raw_of(d);
	size_t body_len = 0;
	bool hold = false;

	if (len > GSN_CTL_RAW_DATA_MAX) {
		r->too_big++;
		return false;
	}
	for (unsigned i = 0; i < r->nbinds; i++) {
		struct gsn_ctl_client *c;

		if (r->binds[i].ethertype != ethertype ||
		    !(c = gsn_ctl_server_client(d->ctl, r->binds[i].client)))
			continue;
		if (!body_len)
			body_len = recv_body(r, vc, src, dst, ethertype, pdu, len);
		struct raw_bind *b = &r->binds[i];
		if (!b->p_head && !gsn_ctl_client_congested(c) &&
		    gsn_ctl_send(d->ctl, c, GSN_CTL_RAW_RECV, 0, 0, r->scratch, body_len) == 0) {
			r->delivered++;
			continue;
		}
		if (keep_copy(r, b, body_len))
			r->dropped++; /* out of memory: the only loss there is */
		hold = true;
	}
	return hold;
}

static int keep_copy(struct gsnd_raw *r, struct raw_bind *b, size_t len)
{
	struct raw_pending *p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	p->next = NULL;
	p->len = len;
	memcpy(p->body, r->scratch, len);
	if (b->p_tail)
		b->p_tail->next = p;
	else
		b->p_head = p;
	b->p_tail = p;
	r->kept++;
	return 0;
}

/* Sends b's kept copies while its client takes them; true when none is left. */
static bool flush_kept(struct gsnd *d, struct gsnd_raw *r, struct raw_bind *b)
{
	struct gsn_ctl_client *c = gsn_ctl_server_client(d->ctl, b->client);
	while (c && b->p_head && !gsn_ctl_client_congested(c)) {
		struct raw_pending *p = b->p_head;
		if (gsn_ctl_send(d->ctl, c, GSN_CTL_RAW_RECV, 0, 0, p->body, p->len))
			break;
		b->p_head = p->next;
		if (!b->p_head)
			b->p_tail = NULL;
		free(p);
		r->delivered++;
	}
	return b->p_head == NULL;
}

void gsnd_raw_hold(struct gsnd *d, unsigned vc, uint32_t nmpkts)
{
	struct gsnd_raw *r = raw_of(d);

	if (r->nheld == r->held_cap) {
		size_t cap = r->held_cap ? 2 * r->held_cap : 64;
		struct raw_held *n = realloc(r->held, cap * sizeof(*n));

		if (!n) { /* cannot remember it: let it go rather than leak credits */
			gsn_msg_release(d->ep->msg, vc, nmpkts);
			return;
		}
		r->held = n;
		r->held_cap = cap;
	}
	r->held[r->nheld++] = (struct raw_held){(uint8_t)vc, nmpkts};
	r->held_total++;
}

void gsnd_raw_count_unbound(struct gsnd *d)
{
	raw_of(d)->unbound++;
}

static bool any_bound_congested(struct gsnd *d)
{
	const struct gsnd_raw *r = raw_of(d);

	for (unsigned i = 0; i < r->nbinds; i++) {
		struct gsn_ctl_client *c = gsn_ctl_server_client(d->ctl, r->binds[i].client);

		if (c && gsn_ctl_client_congested(c))
			return true;
	}
	return false;
}

/*
 * A client drained, unbound or left: hand out kept copies, then release the
 * held Messages once every client has taken its copies and none is congested.
 */
void gsnd_raw_backlog(struct gsnd *d)
{
	struct gsnd_raw *r = raw_of(d);
	bool all_flushed = true;

	for (unsigned i = 0; i < r->nbinds; i++)
		all_flushed &= flush_kept(d, r, &r->binds[i]);
	if (!r->nheld || !all_flushed || any_bound_congested(d))
		return;
	for (size_t i = 0; i < r->nheld; i++)
		gsn_msg_release(d->ep->msg, r->held[i].vc, r->held[i].nmpkts);
	r->released += r->nheld;
	r->nheld = 0;
}

/* ---- send ---- */

static int raw_msg_send(struct gsnd *d, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
			uint16_t ethertype, const uint8_t *data, size_t len)
{
	struct iovec iov = {(void *)data, len};

	return gsn_msg_send(d->ep->msg, vc, dst, ethertype, &iov, 1);
}

static int defer_send(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		      const struct gsn_ctl_raw *m)
{
	struct gsnd_raw *r = raw_of(d);

	if (r->q_len >= RAW_DEFERRED_MAX)
		return -ENOBUFS;
	struct raw_send *s = malloc(sizeof(*s) + m->len);

	if (!s)
		return -ENOMEM;
	s->next = NULL;
	gsnd_reply_to(&s->to, c, h);
	s->vc = m->vc;
	s->ethertype = m->ethertype;
	memcpy(s->dst, m->dst, GSN_ULA_LEN);
	s->len = m->len;
	if (m->len)
		memcpy(s->data, m->data, m->len);
	if (r->q_tail[s->vc])
		r->q_tail[s->vc]->next = s;
	else
		r->q_head[s->vc] = s;
	r->q_tail[s->vc] = s;
	r->q_len++;
	r->deferred++;
	return 0;
}

int gsnd_ctl_raw_send(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		      const uint8_t *body, size_t len)
{
	struct gsnd_raw *r = raw_of(d);
	struct gsn_ctl_raw m;
	int err = gsn_ctl_raw_decode(body, len, &m);

	if (err)
		return err;
	if (!d->ep->has_ula)
		return -ENETDOWN; /* no source address yet */
	if (r->q_head[m.vc] || r->waiting[m.vc])
		return defer_send(d, c, h, &m);
	err = raw_msg_send(d, m.vc, m.dst, m.ethertype, m.data, m.len);
	if (err == -EAGAIN) {
		r->waiting[m.vc] = true;
		return defer_send(d, c, h, &m);
	}
	if (err) {
		r->send_errors++;
		return err;
	}
	r->sent++;
	gsn_ctl_reply(d->ctl, c, h, 0, NULL, 0);
	return 0;
}

void gsnd_raw_tx_space(struct gsnd *d, unsigned vc)
{
	if (vc < GSN_VC_COUNT)
		raw_of(d)->waiting[vc] = false;
}

/* Sends vc's deferred RAW_SENDs in order while msg takes them. */
static void pump_vc(struct gsnd *d, unsigned vc)
{
	struct gsnd_raw *r = raw_of(d);

	while (r->q_head[vc] && !r->waiting[vc]) {
		struct raw_send *s = r->q_head[vc];
		int err = raw_msg_send(d, vc, s->dst, s->ethertype, s->data, s->len);

		if (err == -EAGAIN) {
			r->waiting[vc] = true;
			return;
		}
		if (err)
			r->send_errors++;
		else
			r->sent++;
		gsnd_reply_later(d, &s->to, err, NULL, 0);
		r->q_head[vc] = s->next;
		if (!r->q_head[vc])
			r->q_tail[vc] = NULL;
		r->q_len--;
		free(s);
	}
}

void gsnd_raw_pump(struct gsnd *d)
{
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		pump_vc(d, vc);
}

/* ---- clients and life cycle ---- */

void gsnd_raw_client_gone(struct gsnd *d, uint64_t client)
{
	struct gsnd_raw *r = raw_of(d);

	for (unsigned i = 0; i < r->nbinds;) {
		if (r->binds[i].client == client)
			bind_drop(r, i);
		else
			i++;
	}
	gsnd_raw_backlog(d);
}

int gsnd_raw_init(struct gsnd *d)
{
	struct gsnd_raw *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	d->ep->raw = r;
	r->scratch = malloc(GSN_CTL_BODY_MAX);
	return r->scratch ? 0 : -ENOMEM;
}

void gsnd_raw_fini(struct gsnd *d)
{
	struct gsnd_raw *r = d->ep->raw;

	if (!r)
		return;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		while (r->q_head[vc]) {
			struct raw_send *s = r->q_head[vc];

			r->q_head[vc] = s->next;
			free(s);
		}
	while (r->nbinds)
		bind_drop(r, r->nbinds - 1);
	free(r->held);
	free(r->scratch);
	free(r);
	d->ep->raw = NULL;
}

void gsnd_raw_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_raw *r = raw_of(d);

	gsn_ctl_textf(buf, cap, off,
		      "raw.delivered=%llu\nraw.unbound=%llu\nraw.held=%zu\nraw.held_total=%llu\n"
		      "raw.released=%llu\nraw.dropped=%llu\nraw.too_big=%llu\nraw.sent=%llu\n"
		      "raw.send_errors=%llu\nraw.deferred=%llu\nraw.waiting=%u\nraw.bindings=%u\n"
		      "raw.kept=%llu\n",
		      (unsigned long long)r->delivered, (unsigned long long)r->unbound, r->nheld,
		      (unsigned long long)r->held_total, (unsigned long long)r->released,
		      (unsigned long long)r->dropped, (unsigned long long)r->too_big,
		      (unsigned long long)r->sent, (unsigned long long)r->send_errors,
		      (unsigned long long)r->deferred, r->q_len, r->nbinds, (unsigned long long)r->kept);
}
