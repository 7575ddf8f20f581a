/* SPDX-License-Identifier: MIT */
/*
 * fi_match.c — receive matching of the gsn provider.
 *
 * Two posted-receive queues (untagged, tagged) in posting order and two
 * unexpected queues in arrival order.  An arriving message takes the first
 * posted receive it matches; a posted receive takes the first unexpected
 * message it matches.  Tagged: (tag & ~ignore) == (msg_tag & ~ignore);
 * with FI_DIRECTED_RECV a receive names its source (FI_ADDR_UNSPEC: any).
 *
 * Unexpected eager messages are copied out of the receive buffer (which
 * goes back to the device at once); unexpected rendezvous messages keep
 * the sender's RTS until a receive matches, then the data is read.
 * FI_PEEK, FI_CLAIM and FI_DISCARD work on the unexpected queue.
 */
#include <stdlib.h>
#include <string.h>

#include "gsn_fi_ep.h"

static bool gsnfi_rx_matches(const struct gsnfi_rx_entry *rx, const struct gsnfi_msg_in *m)
{
	if (!rx->any_src && !gsnfi_addr_eq(&rx->src, &m->src))
		return false;
	if (rx->tagged)
		return ((rx->tag ^ m->tag) & ~rx->ignore) == 0;
	return true;
}

static uint64_t gsnfi_rx_cq_flags(const struct gsnfi_msg_in *m)
{
	return FI_RECV | (m->tagged ? FI_TAGGED : FI_MSG) |
	       ((m->wflags & GSNFI_WF_CQ_DATA) ? FI_REMOTE_CQ_DATA : 0);
}

/* Receive entries are kept for reuse: a posted receive costs no malloc. */
#define GSNFI_RX_CACHE_MAX 256

static struct gsnfi_rx_entry *gsnfi_rx_entry_alloc(struct gsnfi_ep *ep)
{
	struct gsnfi_rx_entry *rx = ep->rx_cache;

	if (!rx)
		return calloc(1, sizeof(*rx));
	ep->rx_cache = rx->next;
	ep->rx_cache_count--;
	memset(rx, 0, sizeof(*rx));
	return rx;
}

void gsnfi_rx_entry_free(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx)
{
	if (ep->rx_cache_count >= GSNFI_RX_CACHE_MAX) {
		free(rx);
		return;
	}
	rx->next = ep->rx_cache;
	ep->rx_cache = rx;
	ep->rx_cache_count++;
}

void gsnfi_rx_complete_locked(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			      const struct gsnfi_msg_in *m, size_t placed, int err, int prov_errno)
{
	uint64_t cq_flags = gsnfi_rx_cq_flags(m);
	void *buf = rx->iov_count ? rx->iov[0].iov_base : NULL;
	uint64_t tag = m->tagged ? m->tag : 0;
	uint64_t data = (m->wflags & GSNFI_WF_CQ_DATA) ? m->data : 0;

	if (err)
		gsnfi_ep_rx_error_locked(ep, rx->context, cq_flags, err, prov_errno, 0, buf, data,
					 tag, 0);
	else if (m->size > placed)
		gsnfi_ep_rx_error_locked(ep, rx->context, cq_flags, FI_ETRUNC, 0, placed, buf, data,
					 tag, m->size - placed);
	else
		gsnfi_ep_rx_done_locked(ep, rx->flags, rx->context, cq_flags, placed, buf, data,
					tag, &m->src);
	gsnfi_rx_entry_free(ep, rx);
}

static size_t gsnfi_copy_to_iov(const struct gsnfi_rx_entry *rx, const uint8_t *src, size_t len)
{
	size_t placed = 0;

	for (size_t i = 0; i < rx->iov_count && placed < len; i++) {
		size_t n = rx->iov[i].iov_len;

		if (n > len - placed)
			n = len - placed;
		if (n)
			memcpy(rx->iov[i].iov_base, src + placed, n);
		placed += n;
	}
	return placed;
}

/* A matched message goes into rx (rx is consumed). */
static void gsnfi_deliver(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			  const struct gsnfi_msg_in *m)
{
	size_t placed;

	if (m->rndv) {
		gsnfi_rndv_start_locked(ep, rx, m);
		return;
	}
	placed = gsnfi_copy_to_iov(rx, m->payload, m->size);
	gsnfi_rx_complete_locked(ep, rx, m, placed, 0, 0);
	if (m->ack)
		gsnfi_send_fin_locked(ep, m, placed, false);
}

/* ---- queues ---------------------------------------------------------------------------- */

static void gsnfi_rxq_append(struct gsnfi_rx_queue *q, struct gsnfi_rx_entry *rx)
{
	rx->next = NULL;
	if (q->tail)
		q->tail->next = rx;
	else
		q->head = rx;
	q->tail = rx;
	q->count++;
}

static void gsnfi_rxq_unlink(struct gsnfi_rx_queue *q, struct gsnfi_rx_entry *prev,
			     struct gsnfi_rx_entry *rx)
{
	if (prev)
		prev->next = rx->next;
	else
		q->head = rx->next;
	if (q->tail == rx)
		q->tail = prev;
	rx->next = NULL;
	q->count--;
}

static void gsnfi_uq_append(struct gsnfi_unexp_queue *q, struct gsnfi_unexp *u)
{
	u->next = NULL;
	if (q->tail)
		q->tail->next = u;
	else
		q->head = u;
	q->tail = u;
	q->count++;
}

static void gsnfi_uq_unlink(struct gsnfi_unexp_queue *q, struct gsnfi_unexp *prev,
			    struct gsnfi_unexp *u)
{
	if (prev)
		prev->next = u->next;
	else
		q->head = u->next;
	if (q->tail == u)
		q->tail = prev;
	u->next = NULL;
	q->count--;
}

static void gsnfi_unexp_free(struct gsnfi_unexp *u)
{
	free(u->data);
	free(u);
}

/* The first unclaimed unexpected message rx matches, unlinked; NULL if none. */
static struct gsnfi_unexp *gsnfi_uq_take(struct gsnfi_unexp_queue *q,
					 const struct gsnfi_rx_entry *rx)
{
	struct gsnfi_unexp *prev = NULL;

	for (struct gsnfi_unexp *u = q->head; u; prev = u, u = u->next) {
		if (!u->claimed && gsnfi_rx_matches(rx, &u->m)) {
			gsnfi_uq_unlink(q, prev, u);
			return u;
		}
	}
	return NULL;
}

/* ---- arrivals ----------------------------------------------------------------------------- */

static void gsnfi_add_unexpected(struct gsnfi_ep *ep, const struct gsnfi_msg_in *m)
{
	struct gsnfi_unexp *u = calloc(1, sizeof(*u));

	if (!u)
		goto nomem;
	u->m = *m;
	if (!m->rndv && m->size) {
		u->data = malloc(m->size);
		if (!u->data) {
			free(u);
			goto nomem;
		}
		memcpy(u->data, m->payload, m->size);
	}
	u->m.payload = u->data;
	gsnfi_uq_append(m->tagged ? &ep->tag_unexp : &ep->msg_unexp, u);
	ep->stats.unexpected++;
	return;
nomem:
	GSNFI_WARN(FI_LOG_EP_DATA, "out of memory: an unexpected message is lost\n");
	ep->stats.rx_drops++;
	if (m->ack || m->rndv)
		gsnfi_send_fin_locked(ep, m, 0, true);
}

void gsnfi_match_incoming_locked(struct gsnfi_ep *ep, const struct gsnfi_msg_in *m)
{
	struct gsnfi_rx_queue *q = m->tagged ? &ep->tag_rx : &ep->msg_rx;
	struct gsnfi_rx_entry *prev = NULL;

	for (struct gsnfi_rx_entry *rx = q->head; rx; prev = rx, rx = rx->next) {
		if (gsnfi_rx_matches(rx, m)) {
			gsnfi_rxq_unlink(q, prev, rx);
			gsnfi_deliver(ep, rx, m);
			return;
		}
	}
	gsnfi_add_unexpected(ep, m);
}

/* ---- posting receives ------------------------------------------------------------------------ */

static void gsnfi_deliver_unexp(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
				struct gsnfi_unexp *u)
{
	u->m.payload = u->data;
	gsnfi_deliver(ep, rx, &u->m);
	gsnfi_unexp_free(u);
}

static int gsnfi_rx_fill(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			 const struct gsnfi_recv_args *a)
{
	rx->context = a->context;
	rx->flags = a->flags;
	rx->tagged = a->tagged;
	rx->tag = a->tag;
	rx->ignore = a->ignore;
	rx->iov_count = a->count;
	for (size_t i = 0; i < a->count; i++) {
		rx->iov[i] = a->iov[i];
		rx->desc[i] = a->desc ? a->desc[i] : NULL;
		rx->len += a->iov[i].iov_len;
	}
	rx->any_src = true;
	if ((ep->caps & FI_DIRECTED_RECV) && a->addr != FI_ADDR_UNSPEC) {
		const struct gsnfi_addr *src = gsnfi_ep_peer_locked(ep, a->addr);

		if (!src)
			return -FI_EINVAL;
		rx->src = *src;
		rx->any_src = false;
	}
	return 0;
}

/* Reports straight to the receive CQ: peeks and cancels count nothing. */
static void gsnfi_rx_cq_report(struct gsnfi_ep *ep, void *context, uint64_t cq_flags,
			       const struct gsnfi_msg_in *m, size_t len)
{
	fi_addr_t from = FI_ADDR_NOTAVAIL;

	if (!ep->rx_cq)
		return;
	if ((ep->caps & FI_SOURCE) && ep->av)
		from = gsnfi_av_reverse_locked(ep->av, &m->src);
	gsnfi_cq_report_locked(ep->rx_cq, context, cq_flags, len, NULL,
			       (m->wflags & GSNFI_WF_CQ_DATA) ? m->data : 0,
			       m->tagged ? m->tag : 0, from);
}

static void gsnfi_discard(struct gsnfi_ep *ep, struct gsnfi_unexp *u)
{
	if (u->m.ack || u->m.rndv)
		gsnfi_send_fin_locked(ep, &u->m, 0, true);
	gsnfi_unexp_free(u);
}

static ssize_t gsnfi_peek_locked(struct gsnfi_ep *ep, const struct gsnfi_recv_args *a)
{
	struct gsnfi_unexp_queue *q = a->tagged ? &ep->tag_unexp : &ep->msg_unexp;
	struct gsnfi_rx_entry probe;
	struct gsnfi_unexp *u, *prev = NULL;
	int ret;

	memset(&probe, 0, sizeof(probe));
	ret = gsnfi_rx_fill(ep, &probe, a);
	if (ret)
		return ret;
	/* what the device holds has arrived too */
	gsnfi_ep_progress_once_locked(ep);
	for (u = q->head; u; prev = u, u = u->next) {
		if (!u->claimed && gsnfi_rx_matches(&probe, &u->m))
			break;
	}
	if (!u) {
		if (ep->rx_cq)
			gsnfi_cq_report_error_locked(ep->rx_cq, a->context,
						     FI_RECV | (a->tagged ? FI_TAGGED : FI_MSG),
						     FI_ENOMSG, 0, 0, NULL, 0, a->tag, 0);
		return 0;
	}
	gsnfi_rx_cq_report(ep, a->context, gsnfi_rx_cq_flags(&u->m), &u->m, u->m.size);
	if (a->flags & FI_CLAIM) {
		u->claimed = true;
		u->claim_context = a->context;
	} else if (a->flags & FI_DISCARD) {
		gsnfi_uq_unlink(q, prev, u);
		gsnfi_discard(ep, u);
	}
	return 0;
}

static ssize_t gsnfi_claim_locked(struct gsnfi_ep *ep, const struct gsnfi_recv_args *a)
{
	struct gsnfi_unexp_queue *q = a->tagged ? &ep->tag_unexp : &ep->msg_unexp;
	struct gsnfi_unexp *u, *prev = NULL;
	struct gsnfi_rx_entry *rx;
	int ret;

	for (u = q->head; u; prev = u, u = u->next) {
		if (u->claimed && u->claim_context == a->context)
			break;
	}
	if (!u)
		return -FI_EINVAL;
	if (a->flags & FI_DISCARD) {
		gsnfi_uq_unlink(q, prev, u);
		gsnfi_rx_cq_report(ep, a->context, gsnfi_rx_cq_flags(&u->m), &u->m, 0);
		gsnfi_discard(ep, u);
		return 0;
	}
	rx = gsnfi_rx_entry_alloc(ep);
	if (!rx)
		return -FI_ENOMEM;
	ret = gsnfi_rx_fill(ep, rx, a);
	if (ret) {
		gsnfi_rx_entry_free(ep, rx);
		return ret;
	}
	gsnfi_uq_unlink(q, prev, u);
	gsnfi_deliver_unexp(ep, rx, u);
	return 0;
}

static ssize_t gsnfi_recv_locked(struct gsnfi_ep *ep, const struct gsnfi_recv_args *a)
{
	struct gsnfi_rx_entry *rx;
	struct gsnfi_unexp *u;
	int ret;

	ret = gsnfi_ep_check_locked(ep);
	if (ret)
		return ret;
	if (a->count > GSNFI_MAX_IOV || (a->count && !a->iov))
		return -FI_EINVAL;
	if (a->flags & FI_PEEK)
		return gsnfi_peek_locked(ep, a);
	if (a->flags & FI_CLAIM)
		return gsnfi_claim_locked(ep, a);
	if (ep->msg_rx.count + ep->tag_rx.count >= ep->rx_size) {
		gsnfi_ep_progress_once_locked(ep); /* arrivals take receives */
		if (ep->msg_rx.count + ep->tag_rx.count >= ep->rx_size)
			return -FI_EAGAIN;
	}
	rx = gsnfi_rx_entry_alloc(ep);
	if (!rx)
		return -FI_ENOMEM;
	ret = gsnfi_rx_fill(ep, rx, a);
	if (ret) {
		gsnfi_rx_entry_free(ep, rx);
		return ret;
	}
	u = gsnfi_uq_take(a->tagged ? &ep->tag_unexp : &ep->msg_unexp, rx);
	if (u)
		gsnfi_deliver_unexp(ep, rx, u);
	else
		gsnfi_rxq_append(a->tagged ? &ep->tag_rx : &ep->msg_rx, rx);
	return 0;
}

ssize_t gsnfi_recv(struct fid_ep *ep_fid, const struct gsnfi_recv_args *a)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	ssize_t ret;

	gsnfi_domain_note_app(ep->domain);
	gsnfi_lock(ep->domain);
	ret = gsnfi_recv_locked(ep, a);
	gsnfi_unlock(ep->domain);
	return ret;
}

/* ---- cancel and close ---------------------------------------------------------------------- */

static bool gsnfi_cancel_in(struct gsnfi_ep *ep, struct gsnfi_rx_queue *q, void *context)
{
	struct gsnfi_rx_entry *prev = NULL;

	for (struct gsnfi_rx_entry *rx = q->head; rx; prev = rx, rx = rx->next) {
		if (rx->context != context)
			continue;
		gsnfi_rxq_unlink(q, prev, rx);
		if (ep->rx_cq)
			gsnfi_cq_report_error_locked(ep->rx_cq, rx->context,
						     FI_RECV | (rx->tagged ? FI_TAGGED : FI_MSG),
						     FI_ECANCELED, 0, 0,
						     rx->iov_count ? rx->iov[0].iov_base : NULL, 0,
						     rx->tag, 0);
		gsnfi_rx_entry_free(ep, rx);
		return true;
	}
	return false;
}

int gsnfi_match_cancel_locked(struct gsnfi_ep *ep, void *context)
{
	if (gsnfi_cancel_in(ep, &ep->tag_rx, context) || gsnfi_cancel_in(ep, &ep->msg_rx, context))
		return 0;
	return -FI_ENOENT;
}

static void gsnfi_uq_clear(struct gsnfi_unexp_queue *q)
{
	while (q->head) {
		struct gsnfi_unexp *u = q->head;

		gsnfi_uq_unlink(q, NULL, u);
		gsnfi_unexp_free(u);
	}
}

void gsnfi_match_close_locked(struct gsnfi_ep *ep)
{
	while (ep->tag_rx.head)
		gsnfi_cancel_in(ep, &ep->tag_rx, ep->tag_rx.head->context);
	while (ep->msg_rx.head)
		gsnfi_cancel_in(ep, &ep->msg_rx, ep->msg_rx.head->context);
	gsnfi_uq_clear(&ep->msg_unexp);
	gsnfi_uq_clear(&ep->tag_unexp);
}

void gsnfi_rx_cache_clear(struct gsnfi_ep *ep)
{
	while (ep->rx_cache) {
		struct gsnfi_rx_entry *rx = ep->rx_cache;

		ep->rx_cache = rx->next;
		free(rx);
	}
	ep->rx_cache_count = 0;
}
