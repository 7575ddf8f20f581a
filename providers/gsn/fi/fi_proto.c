/* SPDX-License-Identifier: MIT */
/*
 * fi_proto.c — the gsn provider's protocol over its RC QPs and the
 * progress engine.
 *
 * Operations (struct gsnfi_op) are prepared as a short list of device work
 * requests, queued on their connection in order and posted as far as the
 * send queue and the endpoint's send CQ allow.  A completion names its op
 * (wr_id); an op is finished when all its work requests completed and,
 * for those that wait for the peer (rendezvous, acknowledged eager sends,
 * atomics), the peer's answer arrived.  Answers find their op through a
 * cookie table that is checked: cookies come from the wire.
 *
 * Received messages are parsed and bounds-checked here, then handed to the
 * matching engine (fi_match.c), the RMA notifications (fi_rma.c) or the
 * atomic executor (fi_atomic.c).  Anything malformed is dropped and
 * counted.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gsn_fi_ep.h"

#define GSNFI_POLL_BATCH 16
#define GSNFI_OP_CACHE_MAX 256
#define GSNFI_BOUNCE_MAX 256
/* the largest piece one work request moves (gsn_sge.length is 32-bit) */
#define GSNFI_WR_MAX_BYTES (1ull << 30)

static void gsnfi_op_check_done(struct gsnfi_op *op);

/* ---- wire helpers ------------------------------------------------------------------ */

void gsnfi_fill_hdr(struct gsnfi_wire_hdr *h, uint8_t op, uint16_t flags, uint64_t tag,
		    uint64_t data, uint64_t size)
{
	h->op = op;
	h->version = GSNFI_WIRE_VERSION;
	h->flags = htole16(flags);
	h->reserved = 0;
	h->tag = htole64(tag);
	h->data = htole64(data);
	h->size = htole64(size);
}

/* A received header in host order (copied: the buffer's alignment is ours,
 * its contents are the peer's). */
static void gsnfi_load_hdr(const uint8_t *buf, struct gsnfi_wire_hdr *h)
{
	memcpy(h, buf, sizeof(*h));
	h->flags = le16toh(h->flags);
	h->tag = le64toh(h->tag);
	h->data = le64toh(h->data);
	h->size = le64toh(h->size);
}

/* ---- cookies ------------------------------------------------------------------------- */

int gsnfi_op_cookie_locked(struct gsnfi_op *op)
{
	struct gsnfi_ep *ep = op->ep;
	size_t idx;

	for (idx = 0; idx < ep->cookie_cap && ep->cookies[idx]; idx++)
		;
	if (idx == ep->cookie_cap) {
		size_t n = ep->cookie_cap ? ep->cookie_cap * 2 : 64;
		struct gsnfi_op **t = realloc(ep->cookies, n * sizeof(*t));

		if (!t || n > UINT32_MAX)
			return -FI_ENOMEM;
		memset(t + ep->cookie_cap, 0, (n - ep->cookie_cap) * sizeof(*t));
		ep->cookies = t;
		ep->cookie_cap = n;
	}
	if (++ep->cookie_gen == 0)
		ep->cookie_gen = 1;
	op->cookie = ((uint64_t)ep->cookie_gen << 32) | idx;
	ep->cookies[idx] = op;
	return 0;
}

static void gsnfi_op_uncookie(struct gsnfi_op *op)
{
	struct gsnfi_ep *ep = op->ep;
	size_t idx = (size_t)(op->cookie & 0xffffffffu);

	if (op->cookie && idx < ep->cookie_cap && ep->cookies[idx] == op)
		ep->cookies[idx] = NULL;
	op->cookie = 0;
}

/* The op a peer's answer names, if it is one waiting for this connection. */
static struct gsnfi_op *gsnfi_op_by_cookie(struct gsnfi_conn *conn, uint64_t cookie)
{
	struct gsnfi_ep *ep = conn->ep;
	size_t idx = (size_t)(cookie & 0xffffffffu);
	struct gsnfi_op *op;

	if (idx >= ep->cookie_cap)
		return NULL;
	op = ep->cookies[idx];
	if (!op || op->cookie != cookie || op->conn != conn || !op->wait_peer)
		return NULL;
	return op;
}

/* ---- copy buffers -------------------------------------------------------------------- */

static int gsnfi_copybuf_get(struct gsnfi_ep *ep, size_t len, bool must, struct gsnfi_copybuf *cb)
{
	int ret;

	memset(cb, 0, sizeof(*cb));
	cb->slot = -1;
	if (len <= ep->rx_slot && ep->bounce_nfree) {
		cb->slot = ep->bounce_free[--ep->bounce_nfree];
		cb->ptr = ep->bounce + (size_t)cb->slot * ep->rx_slot;
		cb->lkey = ep->bounce_mr->lkey;
		return 0;
	}
	if (len <= ep->rx_slot && !must)
		return -FI_EAGAIN;
	cb->ptr = malloc(len ? len : 1);
	if (!cb->ptr)
		return -FI_ENOMEM;
	ret = gsnfi_lbuf_get_locked(ep->domain, cb->ptr, len ? len : 1, NULL,
				    GSN_ACCESS_LOCAL_WRITE, &cb->lb);
	if (ret) {
		free(cb->ptr);
		cb->ptr = NULL;
		return ret;
	}
	cb->lkey = cb->lb.gmr->lkey;
	return 0;
}

int gsnfi_copybuf_get_locked(struct gsnfi_ep *ep, size_t len, struct gsnfi_copybuf *cb)
{
	return gsnfi_copybuf_get(ep, len, false, cb);
}

void gsnfi_copybuf_put_locked(struct gsnfi_ep *ep, struct gsnfi_copybuf *cb)
{
	if (!cb->ptr)
		return;
	if (cb->slot >= 0) {
		ep->bounce_free[ep->bounce_nfree++] = cb->slot;
	} else {
		gsnfi_lbuf_release_locked(&cb->lb);
		free(cb->ptr);
	}
	memset(cb, 0, sizeof(*cb));
	cb->slot = -1;
}

/* ---- the registration cache ------------------------------------------------------- */

static uintptr_t gsnfi_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uintptr_t)ps : 4096;
}

static int gsnfi_mrc_find(struct gsnfi_ep *ep, uintptr_t b, uintptr_t e, unsigned access)
{
	for (int i = 0; i < GSNFI_MRC_SLOTS; i++) {
		const struct gsnfi_mrc_entry *m = &ep->mrc[i];

		if (m->gmr && m->start <= b && e <= m->end && (m->access & access) == access)
			return i;
	}
	return -1;
}

/* A free slot, or the least recently used idle one (deregistered); -1 if all are busy. */
static int gsnfi_mrc_victim(struct gsnfi_ep *ep)
{
	int victim = -1;

	for (int i = 0; i < GSNFI_MRC_SLOTS; i++) {
		struct gsnfi_mrc_entry *m = &ep->mrc[i];

		if (!m->gmr)
			return i;
		if (!m->refs && (victim < 0 || m->last_use < ep->mrc[victim].last_use))
			victim = i;
	}
	if (victim >= 0) {
		gsn_dereg_mr(ep->mrc[victim].gmr);
		memset(&ep->mrc[victim], 0, sizeof(ep->mrc[victim]));
	}
	return victim;
}

/* The slot of a cached registration covering [buf, buf+len) with access (a
 * reference taken), or -1 when the cache cannot help. */
static int gsnfi_mrc_get(struct gsnfi_ep *ep, void *buf, size_t len, unsigned access)
{
	uintptr_t ps = gsnfi_page_size();
	uintptr_t b = (uintptr_t)buf, e = b + len;
	struct gsnfi_mrc_entry *m;
	int i;

	access |= GSN_ACCESS_LOCAL_WRITE;
	i = gsnfi_mrc_find(ep, b, e, access);
	if (i < 0) {
		i = gsnfi_mrc_victim(ep);
		if (i < 0)
			return -1;
		m = &ep->mrc[i];
		m->start = b & ~(ps - 1);
		m->end = (e + ps - 1) & ~(ps - 1);
		m->access = access;
		if (gsn_reg_mr(ep->domain->pd, (void *)m->start, m->end - m->start, access, 0,
			       &m->gmr)) {
			memset(m, 0, sizeof(*m));
			return -1;
		}
		ep->mrc_misses++;
	} else {
		ep->mrc_hits++;
	}
	m = &ep->mrc[i];
	m->refs++;
	m->last_use = ++ep->mrc_clock;
	return i;
}

static void gsnfi_mrc_put(struct gsnfi_ep *ep, int i)
{
	if (i >= 0 && i < GSNFI_MRC_SLOTS && ep->mrc[i].refs)
		ep->mrc[i].refs--;
}

static void gsnfi_mrc_clear(struct gsnfi_ep *ep)
{
	for (int i = 0; i < GSNFI_MRC_SLOTS; i++) {
		if (ep->mrc[i].gmr)
			gsn_dereg_mr(ep->mrc[i].gmr);
		memset(&ep->mrc[i], 0, sizeof(ep->mrc[i]));
	}
}

/* ---- operations ------------------------------------------------------------------------ */

struct gsnfi_op *gsnfi_op_alloc_locked(struct gsnfi_ep *ep, enum gsnfi_op_kind kind, bool user)
{
	struct gsnfi_op *op = ep->op_cache;

	if (op) {
		ep->op_cache = op->next;
		ep->op_cache_count--;
	} else {
		op = malloc(sizeof(*op));
	}
	if (!op)
		return NULL;
	/* all but the work requests and inline bytes, written before use */
	memset(op, 0, offsetof(struct gsnfi_op, wr));
	op->nwr = op->wr_next = op->wr_pending = 0;
	memset(&op->copy, 0, sizeof(*op) - offsetof(struct gsnfi_op, copy));
	op->copy.slot = -1;
	op->ep = ep;
	op->kind = kind;
	op->user = user;
	op->all_next = ep->ops;
	if (ep->ops)
		ep->ops->all_prev = op;
	ep->ops = op;
	if (user)
		ep->tx_inflight++;
	return op;
}

void gsnfi_op_free_locked(struct gsnfi_op *op)
{
	struct gsnfi_ep *ep = op->ep;

	gsnfi_op_uncookie(op);
	gsnfi_copybuf_put_locked(ep, &op->copy);
	for (uint8_t i = 0; i < op->nlbuf; i++) {
		if (op->mrc_slot[i] >= 0)
			gsnfi_mrc_put(ep, op->mrc_slot[i]);
		else
			gsnfi_lbuf_release_locked(&op->lbufs[i]);
	}
	op->nlbuf = 0;
	free(op->heap);
	op->heap = NULL;
	if (op->all_prev)
		op->all_prev->all_next = op->all_next;
	else
		ep->ops = op->all_next;
	if (op->all_next)
		op->all_next->all_prev = op->all_prev;
	if (op->user)
		ep->tx_inflight--;
	if (ep->op_cache_count < GSNFI_OP_CACHE_MAX) {
		op->next = ep->op_cache;
		ep->op_cache = op;
		ep->op_cache_count++;
	} else {
		free(op);
	}
}

static struct gsnfi_msg_in gsnfi_op_rx_msg(const struct gsnfi_op *op)
{
	struct gsnfi_msg_in m = {
		.tagged = (op->rx_wflags & GSNFI_WF_TAGGED) != 0,
		.rndv = true,
		.wflags = op->rx_wflags,
		.tag = op->rx_tag,
		.data = op->rx_data,
		.size = op->rx_size,
		.src = op->rx_src,
		.conn_id = op->rx_conn_id,
		.cookie = op->peer_cookie,
	};

	return m;
}

void gsnfi_op_fail_locked(struct gsnfi_op *op, int err, int prov_errno)
{
	struct gsnfi_ep *ep = op->ep;

	if (op->user) {
		gsnfi_ep_tx_error_locked(ep, op->flags, op->context, op->cq_flags, op->slot, err,
					 prov_errno);
	} else if (op->kind == GSNFI_OPK_RNDV_READ && op->rx) {
		struct gsnfi_msg_in m = gsnfi_op_rx_msg(op);

		gsnfi_rx_complete_locked(ep, op->rx, &m, 0, err, prov_errno);
		op->rx = NULL;
	}
	gsnfi_op_free_locked(op);
}

static void gsnfi_op_finish(struct gsnfi_op *op)
{
	struct gsnfi_ep *ep = op->ep;

	if (op->kind == GSNFI_OPK_RNDV_READ) {
		struct gsnfi_msg_in m = gsnfi_op_rx_msg(op);
		size_t placed = op->len;

		gsnfi_rx_complete_locked(ep, op->rx, &m, placed, 0, 0);
		op->rx = NULL;
		gsnfi_send_fin_locked(ep, &m, placed, false);
	} else if (op->user) {
		gsnfi_ep_tx_done_locked(ep, op->flags, op->context, op->cq_flags, op->slot, op->len,
					NULL);
	}
	gsnfi_op_free_locked(op);
}

static void gsnfi_op_check_done(struct gsnfi_op *op)
{
	if (op->wr_next < op->nwr || op->wr_pending || op->wait_peer)
		return;
	if (op->error)
		gsnfi_op_fail_locked(op, op->error, op->prov_errno);
	else
		gsnfi_op_finish(op);
}

void gsnfi_op_answered_locked(struct gsnfi_op *op)
{
	op->wait_peer = false;
	gsnfi_op_uncookie(op);
	gsnfi_op_check_done(op);
}

/* ---- preparing work requests ------------------------------------------------------------- */

/* desc's MR when it covers the buffer with the access the device needs. */
static bool gsnfi_desc_covers(const struct gsnfi_domain *d, const void *desc, const void *buf,
			      size_t len, unsigned access)
{
	const struct gsnfi_mr *mr = desc;
	uintptr_t b = (uintptr_t)buf, a;

	if (!mr || mr->domain != d || !mr->gmr)
		return false;
	a = (uintptr_t)mr->gmr->addr;
	return (mr->gmr->access & access) == access && b >= a && b - a <= mr->gmr->length &&
	       len <= mr->gmr->length - (b - a);
}

int gsnfi_op_map_iov_locked(struct gsnfi_op *op, const struct iovec *iov, void **desc,
			    size_t count, unsigned gsn_access, struct gsn_sge *sge, size_t *nsge)
{
	struct gsnfi_ep *ep = op->ep;
	struct gsnfi_domain *d = ep->domain;

	*nsge = 0;
	for (size_t i = 0; i < count; i++) {
		struct gsnfi_lbuf *lb = &op->lbufs[op->nlbuf];
		void *md = desc ? desc[i] : NULL;
		int slot = -1, ret;

		if (!iov[i].iov_len)
			continue;
		if (!iov[i].iov_base || op->nlbuf >= GSNFI_MAX_IOV)
			return -FI_EINVAL;
		/* the application's MR, else a cached registration, else a
		 * temporary one */
		if (!gsnfi_desc_covers(d, md, iov[i].iov_base, iov[i].iov_len, gsn_access))
			slot = gsnfi_mrc_get(ep, iov[i].iov_base, iov[i].iov_len, gsn_access);
		if (slot >= 0) {
			memset(lb, 0, sizeof(*lb));
			lb->gmr = ep->mrc[slot].gmr;
		} else {
			ret = gsnfi_lbuf_get_locked(d, iov[i].iov_base, iov[i].iov_len, md,
						    gsn_access, lb);
			if (ret)
				return ret;
		}
		op->mrc_slot[op->nlbuf] = (int8_t)slot;
		op->nlbuf++;
		sge[*nsge].addr = (uintptr_t)iov[i].iov_base;
		sge[*nsge].length = (uint32_t)iov[i].iov_len;
		sge[*nsge].lkey = lb->gmr->lkey;
		(*nsge)++;
	}
	return 0;
}

static struct gsnfi_wr *gsnfi_op_new_wr(struct gsnfi_op *op, uint8_t opcode)
{
	struct gsnfi_wr *w;

	if (op->nwr >= GSNFI_OP_MAX_WR)
		return NULL;
	w = &op->wr[op->nwr++];
	memset(w, 0, sizeof(*w));
	w->opcode = opcode;
	return w;
}

int gsnfi_op_plan_rdma(struct gsnfi_op *op, uint8_t opcode, const struct gsn_sge *local,
		       size_t nlocal, const struct gsnfi_wire_seg *remote, size_t nremote,
		       size_t total)
{
	size_t li = 0, loff = 0, left = total;

	if (!total) {
		struct gsnfi_wr *w = gsnfi_op_new_wr(op, opcode);

		if (!w)
			return -FI_EMSGSIZE;
		w->raddr = nremote ? remote[0].addr : 0;
		w->rkey = nremote ? remote[0].rkey : 0;
		return 0;
	}
	for (size_t r = 0; r < nremote && left; r++) {
		uint64_t roff = 0;
		uint64_t rleft = remote[r].len < left ? remote[r].len : left;

		while (rleft) {
			struct gsnfi_wr *w = gsnfi_op_new_wr(op, opcode);
			uint64_t chunk = rleft < GSNFI_WR_MAX_BYTES ? rleft : GSNFI_WR_MAX_BYTES;
			uint64_t done = 0;

			if (!w)
				return -FI_EMSGSIZE;
			w->raddr = remote[r].addr + roff;
			w->rkey = remote[r].rkey;
			while (done < chunk && w->nsge < GSNFI_MAX_IOV) {
				uint64_t piece;

				if (li >= nlocal)
					return -FI_EINVAL;
				piece = local[li].length - loff;
				if (piece > chunk - done)
					piece = chunk - done;
				w->sge[w->nsge].addr = local[li].addr + loff;
				w->sge[w->nsge].length = (uint32_t)piece;
				w->sge[w->nsge].lkey = local[li].lkey;
				w->nsge++;
				done += piece;
				loff += piece;
				if (loff == local[li].length) {
					li++;
					loff = 0;
				}
			}
			roff += done;
			rleft -= done;
			left -= done;
		}
	}
	return left ? -FI_EINVAL : 0;
}

static int gsnfi_op_prep_send(struct gsnfi_op *op, const void *hdr, size_t hdr_len,
			      const struct iovec *payload, size_t npayload, size_t payload_len,
			      bool must)
{
	struct gsnfi_ep *ep = op->ep;
	size_t total = hdr_len + payload_len;
	struct gsnfi_wr *w = gsnfi_op_new_wr(op, GSN_WR_SEND);
	uint8_t *dst;
	int ret;

	if (!w)
		return -FI_EMSGSIZE;
	if (total <= ep->max_inline) {
		w->inl = true;
		w->inl_len = (uint32_t)total;
		dst = op->inl;
	} else {
		ret = gsnfi_copybuf_get(ep, total, must, &op->copy);
		if (ret) {
			op->nwr--;
			return ret;
		}
		w->nsge = 1;
		w->sge[0].addr = (uintptr_t)op->copy.ptr;
		w->sge[0].length = (uint32_t)total;
		w->sge[0].lkey = op->copy.lkey;
		dst = op->copy.ptr;
	}
	memcpy(dst, hdr, hdr_len);
	dst += hdr_len;
	for (size_t i = 0; i < npayload; i++) {
		if (!payload[i].iov_len)
			continue;
		memcpy(dst, payload[i].iov_base, payload[i].iov_len);
		dst += payload[i].iov_len;
	}
	return 0;
}

int gsnfi_op_prep_send_locked(struct gsnfi_op *op, const void *hdr, size_t hdr_len,
			      const struct iovec *payload, size_t npayload, size_t payload_len)
{
	return gsnfi_op_prep_send(op, hdr, hdr_len, payload, npayload, payload_len, false);
}

/* ---- posting ------------------------------------------------------------------------------- */

static int gsnfi_post_wr(struct gsnfi_conn *conn, struct gsnfi_op *op, const struct gsnfi_wr *w)
{
	struct gsn_sge inl_sge;
	struct gsn_send_wr wr;
	struct gsn_send_wr *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = (uint64_t)(uintptr_t)op | GSNFI_WRID_OP;
	wr.opcode = w->opcode;
	wr.send_flags = GSN_SEND_SIGNALED | w->flags;
	if (w->inl) {
		inl_sge.addr = (uintptr_t)op->inl;
		inl_sge.length = w->inl_len;
		inl_sge.lkey = 0;
		wr.sg_list = &inl_sge;
		wr.num_sge = 1;
		wr.send_flags |= GSN_SEND_INLINE;
	} else {
		wr.sg_list = (struct gsn_sge *)w->sge;
		wr.num_sge = w->nsge;
	}
	wr.wr.rdma.remote_addr = w->raddr;
	wr.wr.rdma.rkey = w->rkey;
	return gsn_post_send(conn->qp, &wr, &bad);
}

void gsnfi_conn_kick_locked(struct gsnfi_conn *conn)
{
	struct gsnfi_ep *ep = conn->ep;
	struct gsnfi_op *op;

	while ((op = conn->pend_head) != NULL) {
		if (conn->state != GSNFI_CONN_CONNECTED)
			return;
		while (op->wr_next < op->nwr) {
			int ret;

			if (conn->sq_posted >= conn->sq_cap)
				return;
			if (!ep->gsq_free) {
				ep->sq_starved = true;
				return;
			}
			ret = gsnfi_post_wr(conn, op, &op->wr[op->wr_next]);
			if (ret) {
				GSNFI_WARN(FI_LOG_EP_DATA, "post to QP %u: %s\n", conn->qp->qp_num,
					   fi_strerror(-gsnfi_errno(ret)));
				gsnfi_conn_fail_locked(conn, FI_EIO);
				return;
			}
			op->wr_next++;
			op->wr_pending++;
			conn->sq_posted++;
			ep->gsq_free--;
			ep->rc_sq_posted++;
		}
		conn->pend_head = op->next;
		if (!conn->pend_head)
			conn->pend_tail = NULL;
		op->next = NULL;
	}
}

void gsnfi_op_submit_locked(struct gsnfi_conn *conn, struct gsnfi_op *op)
{
	op->conn = conn;
	op->next = NULL;
	if (conn->state == GSNFI_CONN_CLOSING) {
		/* nothing more goes out on a failed connection */
		gsnfi_op_fail_locked(op, conn->error ? conn->error : FI_ECONNRESET, 0);
		return;
	}
	if (conn->pend_tail)
		conn->pend_tail->next = op;
	else
		conn->pend_head = op;
	conn->pend_tail = op;
	if (conn->pend_head == op)
		gsnfi_conn_kick_locked(conn);
}

int gsnfi_send_ctrl_locked(struct gsnfi_conn *conn, const void *msg, size_t len,
			   const void *extra, size_t extra_len)
{
	struct gsnfi_op *op;
	struct iovec iov = {.iov_base = (void *)extra, .iov_len = extra_len};
	int ret;

	if (conn->state == GSNFI_CONN_CLOSING)
		return -FI_ECONNRESET;
	op = gsnfi_op_alloc_locked(conn->ep, GSNFI_OPK_CTRL, false);
	if (!op)
		return -FI_ENOMEM;
	ret = gsnfi_op_prep_send(op, msg, len, &iov, extra_len ? 1 : 0, extra_len, true);
	if (ret) {
		gsnfi_op_free_locked(op);
		return ret;
	}
	gsnfi_op_submit_locked(conn, op);
	return 0;
}

/* ---- sends ---------------------------------------------------------------------------------- */

static size_t gsnfi_iov_len(const struct iovec *iov, size_t count)
{
	size_t len = 0;

	for (size_t i = 0; i < count; i++)
		len += iov[i].iov_len;
	return len;
}

void gsnfi_ep_progress_once_locked(struct gsnfi_ep *ep)
{
	gsnfi_ep_progress_locked(ep);
}

static int gsnfi_prep_eager(struct gsnfi_op *op, const struct gsnfi_send_args *a, size_t len)
{
	uint8_t hdr[sizeof(struct gsnfi_wire_hdr) + sizeof(uint64_t)];
	uint16_t wflags = (a->tagged ? GSNFI_WF_TAGGED : 0) |
			  ((a->flags & FI_REMOTE_CQ_DATA) ? GSNFI_WF_CQ_DATA : 0);
	size_t hdr_len = sizeof(struct gsnfi_wire_hdr);
	int ret;

	/* FI_DELIVERY_COMPLETE: done when the receiver matched it (FIN). */
	if (a->flags & (FI_DELIVERY_COMPLETE | FI_MATCH_COMPLETE)) {
		uint64_t c;

		ret = gsnfi_op_cookie_locked(op);
		if (ret)
			return ret;
		wflags |= GSNFI_WF_ACK;
		c = htole64(op->cookie);
		memcpy(hdr + hdr_len, &c, sizeof(c));
		hdr_len += sizeof(c);
		op->wait_peer = true;
	}
	gsnfi_fill_hdr((struct gsnfi_wire_hdr *)hdr, GSNFI_WOP_EAGER, wflags, a->tag, a->data, len);
	return gsnfi_op_prep_send_locked(op, hdr, hdr_len, a->iov, a->count, len);
}

static int gsnfi_prep_rts(struct gsnfi_op *op, const struct gsnfi_send_args *a, size_t len)
{
	struct gsnfi_wire_rts rts;
	struct gsn_sge sge[GSNFI_MAX_IOV];
	const struct iovec *iov = a->iov;
	void **desc = a->desc;
	struct iovec copy;
	size_t nsge, rts_len;
	uint16_t wflags = (a->tagged ? GSNFI_WF_TAGGED : 0) |
			  ((a->flags & FI_REMOTE_CQ_DATA) ? GSNFI_WF_CQ_DATA : 0);
	int ret;

	if (a->flags & FI_INJECT) {
		/* the application's buffer is free on return: send a copy */
		op->heap = malloc(len);
		if (!op->heap)
			return -FI_ENOMEM;
		copy.iov_base = op->heap;
		copy.iov_len = len;
		for (size_t i = 0, off = 0; i < a->count; i++) {
			memcpy((uint8_t *)op->heap + off, a->iov[i].iov_base, a->iov[i].iov_len);
			off += a->iov[i].iov_len;
		}
		iov = &copy;
		desc = NULL;
	}
	ret = gsnfi_op_map_iov_locked(op, iov, desc, iov == &copy ? 1 : a->count,
				      GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_READ, sge, &nsge);
	if (ret)
		return ret;
	ret = gsnfi_op_cookie_locked(op);
	if (ret)
		return ret;
	memset(&rts, 0, sizeof(rts));
	gsnfi_fill_hdr(&rts.hdr, GSNFI_WOP_RTS, wflags, a->tag, a->data, len);
	rts.cookie = htole64(op->cookie);
	rts.nseg = htole32((uint32_t)nsge);
	for (size_t i = 0; i < nsge; i++) {
		const struct gsnfi_lbuf *lb = &op->lbufs[i];

		rts.seg[i].addr = htole64(gsnfi_lbuf_raddr(lb, (void *)(uintptr_t)sge[i].addr));
		rts.seg[i].len = htole64(sge[i].length);
		rts.seg[i].rkey = htole64(lb->gmr->rkey);
	}
	rts_len = offsetof(struct gsnfi_wire_rts, seg) + nsge * sizeof(rts.seg[0]);
	op->wait_peer = true;
	return gsnfi_op_prep_send(op, &rts, rts_len, NULL, 0, 0, true);
}

/* A bounded resource: one progress pass may free it. */
static bool gsnfi_tx_room(struct gsnfi_ep *ep)
{
	if (ep->tx_inflight < ep->tx_size)
		return true;
	gsnfi_ep_progress_once_locked(ep);
	return ep->tx_inflight < ep->tx_size;
}

ssize_t gsnfi_send_locked(struct gsnfi_ep *ep, const struct gsnfi_send_args *a)
{
	const struct gsnfi_addr *peer;
	struct gsnfi_conn *conn;
	struct gsnfi_op *op;
	size_t len;
	int ret;

	ret = gsnfi_ep_check_locked(ep);
	if (ret)
		return ret;
	if (a->count > GSNFI_MAX_IOV || (a->count && !a->iov))
		return -FI_EINVAL;
	len = gsnfi_iov_len(a->iov, a->count);
	if (len > ep->max_msg_size)
		return -FI_EMSGSIZE;
	if ((a->flags & FI_INJECT) && len > ep->inject_size)
		return -FI_EMSGSIZE;
	peer = gsnfi_ep_peer_locked(ep, a->addr);
	if (!peer)
		return -FI_EINVAL;
	if (!gsnfi_tx_room(ep))
		return -FI_EAGAIN;

	op = gsnfi_op_alloc_locked(ep, len <= ep->eager_size ? GSNFI_OPK_SEND : GSNFI_OPK_RNDV_SEND,
				   true);
	if (!op)
		return -FI_ENOMEM;
	op->flags = a->flags;
	op->cq_flags = FI_SEND | (a->tagged ? FI_TAGGED : FI_MSG);
	op->slot = GSNFI_CNTR_SEND;
	op->context = a->context;
	op->len = len;
	if (op->kind == GSNFI_OPK_SEND) {
		ret = gsnfi_prep_eager(op, a, len);
		if (ret == -FI_EAGAIN) {
			/* every bounce buffer is out: completions may free one */
			gsnfi_op_uncookie(op);
			op->wait_peer = false;
			gsnfi_ep_progress_once_locked(ep);
			ret = gsnfi_prep_eager(op, a, len);
		}
	} else {
		ret = gsnfi_prep_rts(op, a, len);
	}
	/* after any progress pass: connections may have come and gone */
	conn = ret ? NULL : gsnfi_cm_get_conn_locked(ep, peer, &ret);
	if (!conn) {
		gsnfi_op_free_locked(op);
		return ret;
	}
	gsnfi_op_submit_locked(conn, op);
	return 0;
}

ssize_t gsnfi_send(struct fid_ep *ep_fid, const struct gsnfi_send_args *a)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	ssize_t ret;

	gsnfi_domain_note_app(ep->domain);
	gsnfi_lock(ep->domain);
	ret = gsnfi_send_locked(ep, a);
	gsnfi_unlock(ep->domain);
	return ret;
}

/* ---- rendezvous: the receiver's side ------------------------------------------------------- */

void gsnfi_send_fin_locked(struct gsnfi_ep *ep, const struct gsnfi_msg_in *m, uint64_t delivered,
			   bool discarded)
{
	struct gsnfi_conn *conn = gsnfi_cm_find_conn_locked(ep, &m->src, m->conn_id);
	struct gsnfi_wire_hdr fin;

	if (!conn)
		return; /* that connection is gone: so is the sender's op */
	gsnfi_fill_hdr(&fin, GSNFI_WOP_FIN, discarded ? GSNFI_WF_DISCARDED : 0, 0, m->cookie,
		       delivered);
	if (gsnfi_send_ctrl_locked(conn, &fin, sizeof(fin), NULL, 0))
		GSNFI_WARN(FI_LOG_EP_DATA, "cannot send FIN\n");
}

void gsnfi_rndv_start_locked(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			     const struct gsnfi_msg_in *m)
{
	struct gsnfi_conn *conn = gsnfi_cm_find_conn_locked(ep, &m->src, m->conn_id);
	struct gsn_sge sge[GSNFI_MAX_IOV];
	size_t nsge, placed;
	struct gsnfi_op *op;
	int ret;

	if (!conn) {
		gsnfi_rx_complete_locked(ep, rx, m, 0, FI_ECONNABORTED, 0);
		return;
	}
	op = gsnfi_op_alloc_locked(ep, GSNFI_OPK_RNDV_READ, false);
	if (!op) {
		gsnfi_rx_complete_locked(ep, rx, m, 0, FI_ENOMEM, 0);
		gsnfi_send_fin_locked(ep, m, 0, true);
		return;
	}
	placed = m->size < rx->len ? m->size : rx->len;
	op->rx = rx;
	op->conn = conn;
	op->peer_cookie = m->cookie;
	op->rx_size = m->size;
	op->rx_tag = m->tag;
	op->rx_data = m->data;
	op->rx_wflags = m->wflags;
	op->rx_src = m->src;
	op->rx_conn_id = m->conn_id;
	op->len = placed;
	ret = gsnfi_op_map_iov_locked(op, rx->iov, rx->desc, rx->iov_count, GSN_ACCESS_LOCAL_WRITE,
				      sge, &nsge);
	if (!ret && placed)
		ret = gsnfi_op_plan_rdma(op, GSN_WR_RDMA_READ, sge, nsge, m->seg, m->nseg, placed);
	if (ret) {
		gsnfi_op_fail_locked(op, -ret, 0);
		gsnfi_send_fin_locked(ep, m, 0, true);
		return;
	}
	if (!op->nwr) {
		gsnfi_op_finish(op); /* nothing to read: a zero-length receive */
		return;
	}
	gsnfi_op_submit_locked(conn, op);
}

/* ---- incoming messages ------------------------------------------------------------------------ */

static bool gsnfi_parse_eager(struct gsnfi_ep *ep, const struct gsnfi_wire_hdr *h,
			      const uint8_t *buf, uint32_t len, struct gsnfi_msg_in *m)
{
	size_t off = sizeof(*h);

	if (h->flags & GSNFI_WF_ACK) {
		uint64_t c;

		if (len < off + sizeof(c))
			return false;
		memcpy(&c, buf + off, sizeof(c));
		m->ack = true;
		m->cookie = le64toh(c);
		off += sizeof(c);
	}
	if (len < off || h->size != len - off || h->size > ep->eager_size)
		return false;
	m->payload = buf + off;
	return true;
}

static bool gsnfi_parse_rts(const struct gsnfi_wire_hdr *h, const uint8_t *buf, uint32_t len,
			    struct gsnfi_msg_in *m)
{
	struct gsnfi_wire_rts rts;
	size_t head = offsetof(struct gsnfi_wire_rts, seg);
	uint64_t sum = 0;

	if (len < head || len > sizeof(rts))
		return false;
	memset(&rts, 0, sizeof(rts));
	memcpy(&rts, buf, len);
	m->nseg = le32toh(rts.nseg);
	if (m->nseg < 1 || m->nseg > GSNFI_MAX_IOV || len != head + m->nseg * sizeof(rts.seg[0]))
		return false;
	for (uint32_t i = 0; i < m->nseg; i++) {
		m->seg[i].addr = le64toh(rts.seg[i].addr);
		m->seg[i].len = le64toh(rts.seg[i].len);
		m->seg[i].rkey = le64toh(rts.seg[i].rkey);
		if (m->seg[i].len > h->size || sum + m->seg[i].len < sum)
			return false;
		sum += m->seg[i].len;
	}
	if (sum != h->size || !h->size)
		return false;
	m->cookie = le64toh(rts.cookie);
	m->rndv = true;
	return true;
}

static void gsnfi_on_message(struct gsnfi_ep *ep, const struct gsnfi_wire_hdr *h,
			     struct gsnfi_conn *conn, const uint8_t *buf, uint32_t len)
{
	struct gsnfi_msg_in m;
	bool ok;

	memset(&m, 0, sizeof(m));
	m.tagged = (h->flags & GSNFI_WF_TAGGED) != 0;
	m.wflags = h->flags;
	m.tag = h->tag;
	m.data = h->data;
	m.size = h->size;
	m.src = conn->peer;
	m.conn_id = conn->id;
	ok = h->op == GSNFI_WOP_EAGER ? gsnfi_parse_eager(ep, h, buf, len, &m)
				      : gsnfi_parse_rts(h, buf, len, &m);
	if (!ok) {
		ep->stats.rx_drops++;
		return;
	}
	gsnfi_match_incoming_locked(ep, &m);
}

static void gsnfi_on_fin(struct gsnfi_conn *conn, const struct gsnfi_wire_hdr *h, uint32_t len)
{
	struct gsnfi_op *op;

	if (len != sizeof(*h) || !(op = gsnfi_op_by_cookie(conn, h->data)) ||
	    (op->kind != GSNFI_OPK_SEND && op->kind != GSNFI_OPK_RNDV_SEND)) {
		conn->ep->stats.rx_drops++;
		return;
	}
	gsnfi_op_answered_locked(op);
}

static void gsnfi_on_notify(struct gsnfi_ep *ep, const uint8_t *buf, uint32_t len)
{
	struct gsnfi_wire_notify n;

	if (len != sizeof(n)) {
		ep->stats.rx_drops++;
		return;
	}
	memcpy(&n, buf, sizeof(n));
	n.hdr.flags = le16toh(n.hdr.flags);
	n.hdr.data = le64toh(n.hdr.data);
	n.hdr.size = le64toh(n.hdr.size);
	n.key = le64toh(n.key);
	n.addr = le64toh(n.addr);
	gsnfi_rma_notify_locked(ep, &n);
}

static void gsnfi_on_atomic(struct gsnfi_conn *conn, const uint8_t *buf, uint32_t len)
{
	struct gsnfi_wire_atomic req;

	if (len < sizeof(req)) {
		conn->ep->stats.rx_drops++;
		return;
	}
	memcpy(&req, buf, sizeof(req));
	req.hdr.flags = le16toh(req.hdr.flags);
	req.hdr.data = le64toh(req.hdr.data);
	req.hdr.size = le64toh(req.hdr.size);
	req.addr = le64toh(req.addr);
	req.key = le64toh(req.key);
	gsnfi_atomic_target_locked(conn, &req, buf + sizeof(req), len - sizeof(req));
}

static void gsnfi_on_atomic_resp(struct gsnfi_conn *conn, const struct gsnfi_wire_hdr *h,
				 const uint8_t *buf, uint32_t len)
{
	struct gsnfi_op *op;

	if (len < sizeof(*h) || h->size != len - sizeof(*h) || h->tag > INT32_MAX ||
	    !(op = gsnfi_op_by_cookie(conn, h->data)) || op->kind != GSNFI_OPK_ATOMIC) {
		conn->ep->stats.rx_drops++;
		return;
	}
	gsnfi_atomic_resp_locked(op, (int)h->tag, buf + sizeof(*h), (size_t)h->size);
}

static void gsnfi_dispatch(struct gsnfi_conn *conn, const uint8_t *buf, uint32_t len)
{
	struct gsnfi_ep *ep = conn->ep;
	struct gsnfi_wire_hdr h;

	if (len < sizeof(h) || len > ep->rx_slot) {
		ep->stats.rx_drops++;
		return;
	}
	gsnfi_load_hdr(buf, &h);
	if (h.version != GSNFI_WIRE_VERSION) {
		ep->stats.rx_drops++;
		return;
	}
	switch (h.op) {
	case GSNFI_WOP_EAGER:
	case GSNFI_WOP_RTS:
		gsnfi_on_message(ep, &h, conn, buf, len);
		break;
	case GSNFI_WOP_FIN:
		gsnfi_on_fin(conn, &h, len);
		break;
	case GSNFI_WOP_NOTIFY:
		gsnfi_on_notify(ep, buf, len);
		break;
	case GSNFI_WOP_ATOMIC:
		gsnfi_on_atomic(conn, buf, len);
		break;
	case GSNFI_WOP_ATOMIC_RESP:
		gsnfi_on_atomic_resp(conn, &h, buf, len);
		break;
	default:
		ep->stats.rx_drops++;
		break;
	}
}

/* ---- completions ---------------------------------------------------------------------------- */

static void gsnfi_on_send_wc(struct gsnfi_ep *ep, const struct gsn_wc *wc)
{
	uint64_t tag = wc->wr_id & GSNFI_WRID_TAG_MASK;
	struct gsnfi_op *op;
	struct gsnfi_conn *conn;
	int err;

	if (tag == GSNFI_WRID_CM_SEND) {
		/* its gsq entry is one of the GSNFI_CM_DEPTH reserved at enable */
		ep->cm_sq_posted--;
		return;
	}
	if (tag != GSNFI_WRID_OP)
		return;
	op = (struct gsnfi_op *)(uintptr_t)wc->wr_id;
	conn = op->conn;
	if (conn->sq_posted != UINT32_MAX)
		conn->sq_posted--;
	ep->gsq_free++;
	ep->rc_sq_posted--;
	op->wr_pending--;
	err = gsnfi_wc_status_err(wc->status);
	if (err) {
		if (!op->error) {
			op->error = err;
			op->prov_errno = (int)wc->status;
		}
		op->wait_peer = false; /* no answer comes over a failed QP */
		gsnfi_op_uncookie(op);
	}
	gsnfi_op_check_done(op); /* may free op */
	if (err)
		gsnfi_conn_fail_locked(conn, err == FI_ECANCELED ? FI_ECONNRESET : err);
	else if (conn->pend_head)
		gsnfi_conn_kick_locked(conn);
}

static void gsnfi_on_recv_wc(struct gsnfi_ep *ep, const struct gsn_wc *wc)
{
	uint64_t tag = wc->wr_id & GSNFI_WRID_TAG_MASK;
	struct gsnfi_rxbuf *rb;
	struct gsnfi_conn *conn;

	if (tag == GSNFI_WRID_CM_RECV) {
		gsnfi_cm_recv_locked(ep, (uint32_t)(wc->wr_id >> 3), wc);
		return;
	}
	if (tag != GSNFI_WRID_RXBUF)
		return;
	rb = (struct gsnfi_rxbuf *)(uintptr_t)(wc->wr_id & ~(uint64_t)GSNFI_WRID_TAG_MASK);
	conn = rb->conn;
	if (conn->rq_posted != UINT32_MAX)
		conn->rq_posted--;
	if (wc->status != GSN_WC_SUCCESS) {
		/* flushed: the QP is in ERROR (peer gone, or we failed it) */
		gsnfi_conn_fail_locked(conn, wc->status == GSN_WC_WR_FLUSH_ERR
						     ? FI_ECONNRESET
						     : gsnfi_wc_status_err(wc->status));
		return;
	}
	if (conn->state == GSNFI_CONN_CLOSING)
		return;
	gsnfi_dispatch(conn, rb->buf, wc->byte_len);
	gsnfi_conn_repost_locked(conn, rb);
}

static void gsnfi_ep_die(struct gsnfi_ep *ep)
{
	if (ep->dead)
		return;
	GSNFI_WARN(FI_LOG_EP_DATA, "the gsn device failed: the endpoint is dead\n");
	ep->dead = true;
	while (ep->ops)
		gsnfi_op_fail_locked(ep->ops, FI_EIO, 0);
}

static void gsnfi_kick_one(struct gsnfi_conn *conn)
{
	if (conn->pend_head)
		gsnfi_conn_kick_locked(conn);
}

void gsnfi_ep_progress_locked(struct gsnfi_ep *ep)
{
	struct gsn_wc wc[GSNFI_POLL_BATCH];
	int n;

	if (!ep->enabled || ep->dead)
		return;
	for (int round = 0; round < 4; round++) {
		int total = 0;

		/* Nothing posted, nothing to complete: an idle send CQ costs no
		 * poll (and no libgsn yield while the application waits). */
		if (ep->rc_sq_posted || ep->cm_sq_posted) {
			n = gsn_poll_cq(ep->gsq, GSNFI_POLL_BATCH, wc);
			if (n < 0)
				goto dead;
			for (int i = 0; i < n; i++)
				gsnfi_on_send_wc(ep, &wc[i]);
			total += n;
		}
		n = gsn_poll_cq(ep->grq, GSNFI_POLL_BATCH, wc);
		if (n < 0)
			goto dead;
		for (int i = 0; i < n; i++)
			gsnfi_on_recv_wc(ep, &wc[i]);
		total += n;
		if (total < GSNFI_POLL_BATCH)
			break;
	}
	if (ep->connecting)
		gsnfi_cm_timers_locked(ep);
	if (ep->sq_starved && ep->gsq_free) {
		ep->sq_starved = false;
		gsnfi_cm_foreach_locked(ep, gsnfi_kick_one);
	}
	if (ep->closing)
		gsnfi_cm_reap_locked(ep);
	return;
dead:
	gsnfi_ep_die(ep);
}

void gsnfi_ep_arm_locked(struct gsnfi_ep *ep)
{
	if (!ep->enabled || ep->dead)
		return;
	gsn_req_notify_cq(ep->gsq, 0);
	gsn_req_notify_cq(ep->grq, 0);
}

/* ---- enable / close ------------------------------------------------------------------------ */

int gsnfi_proto_enable_locked(struct gsnfi_ep *ep)
{
	size_t count = ep->tx_size < GSNFI_BOUNCE_MAX ? ep->tx_size : GSNFI_BOUNCE_MAX;
	void *mem = NULL;
	int ret;

	/* slots are 64-byte multiples: headers in them are aligned */
	ep->rx_slot = (ep->rx_slot + 63) & ~(size_t)63;
	if (posix_memalign(&mem, 64, count * ep->rx_slot))
		return -FI_ENOMEM;
	ep->bounce = mem;
	ep->bounce_free = calloc(count, sizeof(*ep->bounce_free));
	if (!ep->bounce_free) {
		ret = -FI_ENOMEM;
		goto err;
	}
	ret = gsn_reg_mr(ep->domain->pd, ep->bounce, count * ep->rx_slot, GSN_ACCESS_LOCAL_WRITE, 0,
			 &ep->bounce_mr);
	if (ret) {
		ret = gsnfi_errno(ret);
		goto err;
	}
	ep->bounce_count = count;
	for (size_t i = 0; i < count; i++)
		ep->bounce_free[i] = (int)(count - 1 - i);
	ep->bounce_nfree = count;
	return 0;
err:
	free(ep->bounce_free);
	free(ep->bounce);
	ep->bounce_free = NULL;
	ep->bounce = NULL;
	return ret;
}

void gsnfi_proto_close_locked(struct gsnfi_ep *ep)
{
	/* The QPs are gone: whatever is outstanding will not complete. */
	while (ep->ops) {
		struct gsnfi_op *op = ep->ops;

		op->next = NULL;
		gsnfi_op_fail_locked(op, FI_ECANCELED, 0);
	}
	while (ep->op_cache) {
		struct gsnfi_op *op = ep->op_cache;

		ep->op_cache = op->next;
		free(op);
	}
	ep->op_cache_count = 0;
	if (ep->bounce_mr)
		gsn_dereg_mr(ep->bounce_mr);
	ep->bounce_mr = NULL;
	free(ep->bounce);
	free(ep->bounce_free);
	ep->bounce = NULL;
	ep->bounce_free = NULL;
	ep->bounce_count = ep->bounce_nfree = 0;
	free(ep->cookies);
	ep->cookies = NULL;
	ep->cookie_cap = 0;
	gsnfi_mrc_clear(ep);
}
