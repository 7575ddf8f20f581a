/* SPDX-License-Identifier: MIT */
/*
 * fi_cm.c — the gsn provider's connection manager.
 *
 * An RDM endpoint reaches each peer over one reliable-connected QP.  The
 * first operation to a peer creates it and sends CONNREQ over the
 * endpoint's UD QP; the peer creates its own QP, connects it to ours and
 * answers CONNREP; then ours is connected to it.  CONNREQ is repeated every
 * GSNFI_CM_RETRY_MS until FI_GSN_CONN_TIMEOUT_MS, after which the queued
 * operations fail with FI_EHOSTUNREACH.  docs/fi-proto.md has the rules
 * for duplicates, simultaneous connects and new incarnations.
 *
 * Connections are found by the peer's address (not by fi_addr: a peer need
 * not be in our AV to connect to us).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "gsn_fi_ep.h"

int gsnfi_addr_cmp(const struct gsnfi_addr *a, const struct gsnfi_addr *b)
{
	return memcmp(a, b, sizeof(*a));
}

bool gsnfi_addr_eq(const struct gsnfi_addr *a, const struct gsnfi_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Same endpoint name, maybe another incarnation (nonce). */
static bool gsnfi_addr_same_place(const struct gsnfi_addr *a, const struct gsnfi_addr *b)
{
	return memcmp(a->ula, b->ula, sizeof(a->ula)) == 0 && a->ud_qpn == b->ud_qpn;
}

/* ---- the table of open connections ------------------------------------------------ */

static size_t gsnfi_addr_hash(const struct gsnfi_addr *a, size_t buckets)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over ULA and UD QPN */
	const uint8_t *p = (const uint8_t *)a;

	for (size_t i = 0; i < offsetof(struct gsnfi_addr, nonce); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h & (buckets - 1));
}

static int gsnfi_conn_hash_grow(struct gsnfi_ep *ep)
{
	size_t n = ep->conn_buckets ? ep->conn_buckets * 2 : 64;
	struct gsnfi_conn **t = calloc(n, sizeof(*t));

	if (!t)
		return -FI_ENOMEM;
	for (size_t i = 0; i < ep->conn_buckets; i++) {
		struct gsnfi_conn *c = ep->conn_hash[i];

		while (c) {
			struct gsnfi_conn *next = c->hnext;
			size_t b = gsnfi_addr_hash(&c->peer, n);

			c->hnext = t[b];
			t[b] = c;
			c = next;
		}
	}
	free(ep->conn_hash);
	ep->conn_hash = t;
	ep->conn_buckets = n;
	return 0;
}

static void gsnfi_conn_hash_insert(struct gsnfi_ep *ep, struct gsnfi_conn *c)
{
	size_t b = gsnfi_addr_hash(&c->peer, ep->conn_buckets);

	c->hnext = ep->conn_hash[b];
	ep->conn_hash[b] = c;
	ep->conn_count++;
}

static void gsnfi_conn_hash_remove(struct gsnfi_ep *ep, struct gsnfi_conn *c)
{
	struct gsnfi_conn **pp = &ep->conn_hash[gsnfi_addr_hash(&c->peer, ep->conn_buckets)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = c->hnext;
		ep->conn_count--;
	}
	c->hnext = NULL;
}

struct gsnfi_conn *gsnfi_cm_find_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer)
{
	struct gsnfi_conn *c;

	if (!ep->conn_buckets)
		return NULL;
	c = ep->conn_hash[gsnfi_addr_hash(peer, ep->conn_buckets)];
	while (c && !gsnfi_addr_eq(&c->peer, peer))
		c = c->hnext;
	return c;
}

struct gsnfi_conn *gsnfi_cm_find_conn_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer,
					     uint32_t conn_id)
{
	struct gsnfi_conn *c = gsnfi_cm_find_locked(ep, peer);

	if (c && c->id == conn_id && c->state == GSNFI_CONN_CONNECTED)
		return c;
	c = ep->self_conn;
	if (c && c->id == conn_id && c->state == GSNFI_CONN_CONNECTED &&
	    gsnfi_addr_eq(peer, &ep->addr))
		return c;
	return NULL;
}

void gsnfi_cm_foreach_locked(struct gsnfi_ep *ep, void (*fn)(struct gsnfi_conn *))
{
	if (ep->self_conn)
		fn(ep->self_conn);
	for (size_t i = 0; i < ep->conn_buckets; i++) {
		struct gsnfi_conn *c = ep->conn_hash[i];

		while (c) {
			struct gsnfi_conn *next = c->hnext; /* fn may close c */

			fn(c);
			c = next;
		}
	}
}

/* ---- UD: the CM's datagrams ----------------------------------------------------------- */

static int gsnfi_cm_post_recv(struct gsnfi_ep *ep, uint32_t index)
{
	struct gsn_sge sge = {
		.addr = (uintptr_t)(ep->cm_bufs + (size_t)index * GSNFI_CM_BUF),
		.length = GSNFI_CM_BUF,
		.lkey = ep->cm_mr->lkey,
	};
	struct gsn_recv_wr wr = {
		.wr_id = ((uint64_t)index << 3) | GSNFI_WRID_CM_RECV,
		.sg_list = &sge,
		.num_sge = 1,
	};
	struct gsn_recv_wr *bad;

	return gsn_post_recv(ep->ud_qp, &wr, &bad);
}

static void gsnfi_cm_send(struct gsnfi_ep *ep, uint8_t type, struct gsnfi_conn *conn)
{
	struct gsnfi_cm_msg m = {
		.magic = htobe32(GSNFI_CM_MAGIC),
		.version = GSNFI_CM_VERSION,
		.type = type,
		.src = ep->addr,
		.dst = conn->peer,
		.src_rc_qpn = htobe32(conn->qp->qp_num),
		.dst_rc_qpn = htobe32(type == GSNFI_CM_CONNREP ? conn->peer_rc_qpn : 0),
		.conn_id = htobe32(type == GSNFI_CM_CONNREP ? conn->peer_conn_id : conn->id),
	};
	struct gsn_sge sge = {.addr = (uintptr_t)&m, .length = sizeof(m), .lkey = 0};
	struct gsn_send_wr wr = {
		.wr_id = GSNFI_WRID_CM_SEND,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = GSN_WR_SEND,
		.send_flags = GSN_SEND_SIGNALED | GSN_SEND_INLINE,
	};
	struct gsn_send_wr *bad;

	/* Datagrams may be lost anyway: a full queue loses this one, the
	 * requester's retransmission repairs it. */
	if (ep->cm_sq_posted >= GSNFI_CM_DEPTH)
		return;
	memcpy(wr.wr.ud.dest_ula, conn->peer.ula, sizeof(wr.wr.ud.dest_ula));
	wr.wr.ud.remote_qpn = be32toh(conn->peer.ud_qpn);
	wr.wr.ud.remote_qkey = GSNFI_UD_QKEY;
	if (gsn_post_send(ep->ud_qp, &wr, &bad) == 0)
		ep->cm_sq_posted++;
}

int gsnfi_cm_enable_locked(struct gsnfi_ep *ep)
{
	struct gsnfi_domain *d = ep->domain;
	struct gsn_qp_init_attr init = {
		.qp_context = ep,
		.send_cq = ep->gsq,
		.recv_cq = ep->grq,
		.cap = {
			.max_send_wr = GSNFI_CM_DEPTH,
			.max_recv_wr = GSNFI_CM_DEPTH,
			.max_send_sge = 1,
			.max_recv_sge = 1,
			.max_inline_data = sizeof(struct gsnfi_cm_msg),
		},
		.qp_type = GSN_QPT_UD,
	};
	struct gsn_qp_attr attr = {0};
	size_t bytes = (size_t)GSNFI_CM_DEPTH * GSNFI_CM_BUF;
	int ret;

	ret = gsnfi_conn_hash_grow(ep);
	if (ret)
		return ret;
	ep->cm_bufs = calloc(1, bytes);
	if (!ep->cm_bufs) {
		ret = -FI_ENOMEM;
		goto err;
	}
	ret = gsn_reg_mr(d->pd, ep->cm_bufs, bytes, GSN_ACCESS_LOCAL_WRITE, 0, &ep->cm_mr);
	if (ret)
		goto err_gsn;
	ret = gsn_create_qp(d->pd, &init, &ep->ud_qp);
	if (ret)
		goto err_gsn;
	attr.qp_state = GSN_QPS_INIT;
	attr.qkey = GSNFI_UD_QKEY;
	ret = gsn_modify_qp(ep->ud_qp, &attr, GSN_QP_STATE | GSN_QP_QKEY);
	if (ret)
		goto err_gsn;
	attr.qp_state = GSN_QPS_RTR;
	ret = gsn_modify_qp(ep->ud_qp, &attr, GSN_QP_STATE);
	if (ret)
		goto err_gsn;
	attr.qp_state = GSN_QPS_RTS;
	ret = gsn_modify_qp(ep->ud_qp, &attr, GSN_QP_STATE);
	if (ret)
		goto err_gsn;
	for (uint32_t i = 0; i < GSNFI_CM_DEPTH; i++) {
		ret = gsnfi_cm_post_recv(ep, i);
		if (ret)
			goto err_gsn;
	}
	ep->gsq_free -= GSNFI_CM_DEPTH;
	ep->grq_free -= GSNFI_CM_DEPTH;
	ep->addr.ud_qpn = htobe32(ep->ud_qp->qp_num);
	return 0;

err_gsn:
	ret = gsnfi_errno(ret);
err:
	gsnfi_cm_close_locked(ep);
	return ret;
}

/* ---- connections ------------------------------------------------------------------------ */

static void gsnfi_conn_destroy(struct gsnfi_conn *conn)
{
	struct gsnfi_ep *ep = conn->ep;

	if (conn->qp)
		gsn_destroy_qp(conn->qp);
	if (conn->rx_mr)
		gsn_dereg_mr(conn->rx_mr);
	ep->grq_free += conn->rx_count;
	free(conn->rx_mem);
	free(conn->rxbufs);
	free(conn);
}

static int gsnfi_conn_post_all_recvs(struct gsnfi_conn *conn)
{
	for (uint32_t i = 0; i < conn->rx_count; i++) {
		struct gsnfi_rxbuf *rb = &conn->rxbufs[i];
		struct gsn_sge sge = {
			.addr = (uintptr_t)rb->buf,
			.length = (uint32_t)conn->ep->rx_slot,
			.lkey = conn->rx_mr->lkey,
		};
		struct gsn_recv_wr wr = {
			.wr_id = (uint64_t)(uintptr_t)rb | GSNFI_WRID_RXBUF,
			.sg_list = &sge,
			.num_sge = 1,
		};
		struct gsn_recv_wr *bad;
		int ret = gsn_post_recv(conn->qp, &wr, &bad);

		if (ret)
			return gsnfi_errno(ret);
		conn->rq_posted++;
	}
	return 0;
}

/* Posts every held buffer with one call (one doorbell at most). */
static void gsnfi_conn_post_held(struct gsnfi_conn *conn)
{
	struct gsn_recv_wr wr[GSNFI_REPOST_MAX], *bad = NULL;
	struct gsn_sge sge[GSNFI_REPOST_MAX];
	uint32_t n = 0;
	int ret;

	for (struct gsnfi_rxbuf *rb = conn->held; rb && n < GSNFI_REPOST_MAX; rb = rb->next, n++) {
		sge[n].addr = (uintptr_t)rb->buf;
		sge[n].length = (uint32_t)conn->ep->rx_slot;
		sge[n].lkey = conn->rx_mr->lkey;
		wr[n].wr_id = (uint64_t)(uintptr_t)rb | GSNFI_WRID_RXBUF;
		wr[n].sg_list = &sge[n];
		wr[n].num_sge = 1;
		wr[n].next = n ? &wr[n - 1] : NULL; /* the list is newest first: post oldest first */
	}
	conn->held = NULL;
	conn->nheld = 0;
	if (!n)
		return;
	ret = gsn_post_recv(conn->qp, &wr[n - 1], &bad);
	/* what came before bad is posted */
	for (struct gsn_recv_wr *w = &wr[n - 1]; w && w != bad; w = w->next)
		conn->rq_posted++;
	if (ret)
		gsnfi_conn_fail_locked(conn, FI_EIO);
}

void gsnfi_conn_repost_locked(struct gsnfi_conn *conn, struct gsnfi_rxbuf *rb)
{
	if (conn->state == GSNFI_CONN_CLOSING)
		return; /* the memory goes with the connection */
	rb->next = conn->held;
	conn->held = rb;
	if (++conn->nheld >= conn->repost_batch)
		gsnfi_conn_post_held(conn);
}

/* A connection with its RC QP in INIT and its receive buffers posted. */
static struct gsnfi_conn *gsnfi_conn_create(struct gsnfi_ep *ep, const struct gsnfi_addr *peer,
					    int *err)
{
	struct gsnfi_domain *d = ep->domain;
	uint32_t rx_count = ep->rx_depth;
	struct gsn_qp_init_attr init = {0};
	struct gsn_qp_attr attr = {0};
	struct gsnfi_conn *conn;
	int ret;

	/* The endpoint's receive CQ must hold a completion for every posted
	 * buffer: beyond it, connections get fewer buffers, then none. */
	if (rx_count > ep->grq_free)
		rx_count = ep->grq_free;
	if (rx_count < 4) {
		*err = -FI_ENOSPC;
		return NULL;
	}
	if (ep->conn_count + 1 > ep->conn_buckets * 2 && gsnfi_conn_hash_grow(ep)) {
		*err = -FI_ENOMEM;
		return NULL;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		*err = -FI_ENOMEM;
		return NULL;
	}
	conn->ep = ep;
	conn->peer = *peer;
	conn->id = ++ep->next_conn_id;
	conn->rx_count = rx_count;
	/* at least 7/8 of the buffers stay posted (rx_count >= 4) */
	conn->repost_batch = rx_count / 8 ? rx_count / 8 : 1;
	if (conn->repost_batch > GSNFI_REPOST_MAX)
		conn->repost_batch = GSNFI_REPOST_MAX;
	ep->grq_free -= rx_count;
	conn->rx_mem = calloc(rx_count, ep->rx_slot);
	conn->rxbufs = calloc(rx_count, sizeof(*conn->rxbufs));
	if (!conn->rx_mem || !conn->rxbufs) {
		ret = -FI_ENOMEM;
		goto err;
	}
	for (uint32_t i = 0; i < rx_count; i++) {
		conn->rxbufs[i].conn = conn;
		conn->rxbufs[i].buf = conn->rx_mem + (size_t)i * ep->rx_slot;
	}
	ret = gsn_reg_mr(d->pd, conn->rx_mem, (size_t)rx_count * ep->rx_slot,
			 GSN_ACCESS_LOCAL_WRITE, 0, &conn->rx_mr);
	if (ret)
		goto err_gsn;

	init.qp_context = conn;
	init.send_cq = ep->gsq;
	init.recv_cq = ep->grq;
	init.cap.max_send_wr = ep->tx_depth;
	init.cap.max_recv_wr = rx_count;
	init.cap.max_send_sge = GSNFI_MAX_IOV;
	init.cap.max_recv_sge = 1;
	init.cap.max_inline_data = ep->max_inline;
	init.qp_type = GSN_QPT_RC;
	ret = gsn_create_qp(d->pd, &init, &conn->qp);
	if (ret)
		goto err_gsn;
	conn->sq_cap = init.cap.max_send_wr < ep->tx_depth ? init.cap.max_send_wr : ep->tx_depth;
	/* what the device granted bounds every later inline send */
	if (init.cap.max_inline_data < ep->max_inline)
		ep->max_inline = init.cap.max_inline_data;
	attr.qp_state = GSN_QPS_INIT;
	attr.qp_access_flags =
		GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC;
	ret = gsn_modify_qp(conn->qp, &attr, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS);
	if (ret)
		goto err_gsn;
	ret = gsnfi_conn_post_all_recvs(conn);
	if (ret)
		goto err;
	gsnfi_conn_hash_insert(ep, conn);
	ep->stats.conns_opened++;
	return conn;

err_gsn:
	ret = gsnfi_errno(ret);
err:
	/* nothing was received yet: destroying the QP drops its receives */
	gsnfi_conn_destroy(conn);
	*err = ret;
	return NULL;
}

/* RTR and RTS towards the peer's QP. */
static int gsnfi_conn_connect_qp(struct gsnfi_conn *conn, uint32_t peer_rc_qpn)
{
	struct gsn_qp_attr attr = {0};
	int ret;

	attr.qp_state = GSN_QPS_RTR;
	memcpy(attr.dest_ula, conn->peer.ula, sizeof(attr.dest_ula));
	attr.dest_qp_num = peer_rc_qpn;
	ret = gsn_modify_qp(conn->qp, &attr, GSN_QP_STATE | GSN_QP_DEST);
	if (ret)
		return gsnfi_errno(ret);
	attr.qp_state = GSN_QPS_RTS;
	ret = gsn_modify_qp(conn->qp, &attr, GSN_QP_STATE);
	if (ret)
		return gsnfi_errno(ret);
	conn->peer_rc_qpn = peer_rc_qpn;
	return 0;
}

static void gsnfi_conn_established(struct gsnfi_conn *conn)
{
	if (conn->state == GSNFI_CONN_CONNECTING)
		conn->ep->connecting--;
	conn->state = GSNFI_CONN_CONNECTED;
	gsnfi_conn_kick_locked(conn);
}

static void gsnfi_cm_arm_timer(struct gsnfi_conn *conn, uint64_t now)
{
	int timeout_ms = gsnfi_params.conn_timeout_ms > 0 ? gsnfi_params.conn_timeout_ms : 10000;

	conn->next_retry_ns = now + (uint64_t)GSNFI_CM_RETRY_MS * 1000000u;
	conn->deadline_ns = now + (uint64_t)timeout_ms * 1000000u;
}

/*
 * A connection to our own address needs no CM: two RC QPs of the
 * endpoint, connected to each other.  The sending half is the one found by
 * address; messages arrive on the other (ep->self_conn), which answers on
 * its own QP like any peer's connection would.
 */
static struct gsnfi_conn *gsnfi_cm_connect_self(struct gsnfi_ep *ep, int *err)
{
	struct gsnfi_conn *out, *in;
	int ret;

	if (ep->self_conn) {
		/* the receiving half of an earlier pair is still about */
		gsnfi_conn_fail_locked(ep->self_conn, FI_ECONNRESET);
	}
	out = gsnfi_conn_create(ep, &ep->addr, err);
	if (!out)
		return NULL;
	in = gsnfi_conn_create(ep, &ep->addr, err);
	if (!in) {
		gsnfi_conn_fail_locked(out, -*err);
		return NULL;
	}
	/* the receiving half is not found by address */
	gsnfi_conn_hash_remove(ep, in);
	ep->self_conn = in;
	out->twin = in;
	in->twin = out;
	in->state = out->state = GSNFI_CONN_CONNECTED;
	ret = gsnfi_conn_connect_qp(in, out->qp->qp_num);
	if (!ret)
		ret = gsnfi_conn_connect_qp(out, in->qp->qp_num);
	if (ret) {
		*err = ret;
		gsnfi_conn_fail_locked(out, -ret);
		return NULL;
	}
	return out;
}

struct gsnfi_conn *gsnfi_cm_get_conn_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer,
					    int *err)
{
	struct gsnfi_conn *conn = gsnfi_cm_find_locked(ep, peer);

	if (conn)
		return conn;
	if (peer->reserved != 0) {
		*err = -FI_EINVAL;
		return NULL;
	}
	if (gsnfi_addr_eq(peer, &ep->addr))
		return gsnfi_cm_connect_self(ep, err);
	conn = gsnfi_conn_create(ep, peer, err);
	if (!conn)
		return NULL;
	conn->state = GSNFI_CONN_CONNECTING;
	ep->connecting++;
	gsnfi_cm_arm_timer(conn, gsnfi_now_ns());
	gsnfi_cm_send(ep, GSNFI_CM_CONNREQ, conn);
	return conn;
}

/* Fails the ops of a connection that is going away (its device work flushes). */
static void gsnfi_conn_fail_ops(struct gsnfi_conn *conn, int err)
{
	struct gsnfi_ep *ep = conn->ep;
	struct gsnfi_op *op = conn->pend_head;
	struct gsnfi_op *next;

	conn->pend_head = conn->pend_tail = NULL;
	while (op) {
		next = op->next;
		op->next = NULL;
		/* posted pieces will flush; nothing more is posted */
		op->nwr = op->wr_next;
		if (!op->error)
			op->error = err;
		op->wait_peer = false;
		if (!op->wr_pending)
			gsnfi_op_fail_locked(op, op->error, 0);
		op = next;
	}
	/* ops that already went out and wait for the peer's answer */
	for (op = ep->ops; op; op = next) {
		next = op->all_next;
		if (op->conn != conn || !op->wait_peer)
			continue;
		op->wait_peer = false;
		if (!op->error)
			op->error = err;
		if (!op->wr_pending)
			gsnfi_op_fail_locked(op, op->error, 0);
	}
}

void gsnfi_conn_fail_locked(struct gsnfi_conn *conn, int err)
{
	struct gsnfi_ep *ep = conn->ep;
	struct gsn_qp_attr attr = {0};

	if (conn->state == GSNFI_CONN_CLOSING)
		return;
	if (conn->state == GSNFI_CONN_CONNECTING)
		ep->connecting--;
	GSNFI_INFO(FI_LOG_EP_CTRL, "connection %u to QP %u failed: %s\n", conn->id,
		   conn->peer_rc_qpn, fi_strerror(err));
	conn->state = GSNFI_CONN_CLOSING;
	conn->error = err;
	ep->stats.conns_failed++;
	if (ep->self_conn == conn)
		ep->self_conn = NULL;
	else
		gsnfi_conn_hash_remove(ep, conn);
	conn->hnext = ep->closing;
	ep->closing = conn;
	/* ERROR flushes everything posted: each piece of work completes, so
	 * nothing of ours is named by a completion after the reap. */
	attr.qp_state = GSN_QPS_ERR;
	if (gsn_modify_qp(conn->qp, &attr, GSN_QP_STATE)) {
		/* no flush to wait for: the device is gone or refuses; keep
		 * the memory until the endpoint closes */
		conn->sq_posted = conn->rq_posted = UINT32_MAX;
	}
	gsnfi_conn_fail_ops(conn, err);
	if (conn->twin) {
		struct gsnfi_conn *twin = conn->twin;

		conn->twin = NULL;
		twin->twin = NULL;
		gsnfi_conn_fail_locked(twin, err);
	}
}

void gsnfi_cm_reap_locked(struct gsnfi_ep *ep)
{
	struct gsnfi_conn **pp = &ep->closing;

	while (*pp) {
		struct gsnfi_conn *c = *pp;

		if (c->sq_posted == 0 && c->rq_posted == 0) {
			*pp = c->hnext;
			GSNFI_INFO(FI_LOG_EP_CTRL, "connection %u flushed and freed\n", c->id);
			gsnfi_conn_destroy(c);
		} else {
			pp = &c->hnext;
		}
	}
}

void gsnfi_cm_close_locked(struct gsnfi_ep *ep)
{
	for (size_t i = 0; i < ep->conn_buckets; i++) {
		while (ep->conn_hash[i]) {
			struct gsnfi_conn *c = ep->conn_hash[i];

			ep->conn_hash[i] = c->hnext;
			gsnfi_conn_destroy(c);
		}
	}
	if (ep->self_conn)
		gsnfi_conn_destroy(ep->self_conn);
	ep->self_conn = NULL;
	while (ep->closing) {
		struct gsnfi_conn *c = ep->closing;

		ep->closing = c->hnext;
		gsnfi_conn_destroy(c);
	}
	free(ep->conn_hash);
	ep->conn_hash = NULL;
	ep->conn_buckets = ep->conn_count = 0;
	ep->connecting = 0;
	if (ep->ud_qp)
		gsn_destroy_qp(ep->ud_qp);
	ep->ud_qp = NULL;
	if (ep->cm_mr)
		gsn_dereg_mr(ep->cm_mr);
	ep->cm_mr = NULL;
	free(ep->cm_bufs);
	ep->cm_bufs = NULL;
}

/* ---- incoming CM messages ------------------------------------------------------------------ */

/* A peer's new incarnation replaces every connection to its old one. */
static void gsnfi_cm_drop_old_incarnations(struct gsnfi_ep *ep, const struct gsnfi_addr *peer)
{
	struct gsnfi_conn *c = ep->conn_hash[gsnfi_addr_hash(peer, ep->conn_buckets)];

	while (c) {
		struct gsnfi_conn *next = c->hnext;

		if (gsnfi_addr_same_place(&c->peer, peer) && c->peer.nonce != peer->nonce)
			gsnfi_conn_fail_locked(c, FI_ECONNRESET);
		c = next;
	}
}

static void gsnfi_cm_accept(struct gsnfi_ep *ep, struct gsnfi_conn *conn,
			    const struct gsnfi_cm_msg *m)
{
	int ret = gsnfi_conn_connect_qp(conn, be32toh(m->src_rc_qpn));

	if (ret) {
		gsnfi_conn_fail_locked(conn, -ret);
		return;
	}
	conn->peer_conn_id = be32toh(m->conn_id);
	gsnfi_cm_send(ep, GSNFI_CM_CONNREP, conn);
	gsnfi_conn_established(conn);
}

static void gsnfi_cm_on_connreq(struct gsnfi_ep *ep, const struct gsnfi_cm_msg *m)
{
	struct gsnfi_conn *conn = gsnfi_cm_find_locked(ep, &m->src);
	uint32_t peer_qpn = be32toh(m->src_rc_qpn);
	int err = 0;

	if (conn && conn->state == GSNFI_CONN_CONNECTED) {
		if (conn->peer_rc_qpn == peer_qpn) {
			/* our CONNREP was lost, or this is a retransmission */
			if (conn->peer_conn_id == be32toh(m->conn_id))
				gsnfi_cm_send(ep, GSNFI_CM_CONNREP, conn);
			return;
		}
		/* the peer gave up on this connection and made a new QP */
		gsnfi_conn_fail_locked(conn, FI_ECONNRESET);
		conn = NULL;
	}
	if (conn && conn->state == GSNFI_CONN_CONNECTING) {
		/* Simultaneous connect: the higher address answers the lower's
		 * request with the QP it already has; the lower waits for that
		 * answer to its own request. */
		if (gsnfi_addr_cmp(&ep->addr, &m->src) > 0)
			gsnfi_cm_accept(ep, conn, m);
		return;
	}
	gsnfi_cm_drop_old_incarnations(ep, &m->src);
	conn = gsnfi_conn_create(ep, &m->src, &err);
	if (!conn) {
		GSNFI_WARN(FI_LOG_EP_CTRL, "cannot accept a connection: %s\n", fi_strerror(-err));
		ep->stats.cm_drops++;
		return;
	}
	conn->state = GSNFI_CONN_CONNECTED; /* established just below */
	gsnfi_cm_accept(ep, conn, m);
}

static void gsnfi_cm_on_connrep(struct gsnfi_ep *ep, const struct gsnfi_cm_msg *m)
{
	struct gsnfi_conn *conn = gsnfi_cm_find_locked(ep, &m->src);
	uint32_t peer_qpn = be32toh(m->src_rc_qpn);
	int ret;

	if (!conn) {
		ep->stats.cm_drops++;
		return;
	}
	if (conn->state == GSNFI_CONN_CONNECTED) {
		if (conn->peer_rc_qpn != peer_qpn)
			ep->stats.cm_drops++;
		return; /* a duplicate answer */
	}
	if (be32toh(m->dst_rc_qpn) != conn->qp->qp_num || be32toh(m->conn_id) != conn->id) {
		ep->stats.cm_drops++; /* for an earlier attempt */
		return;
	}
	ret = gsnfi_conn_connect_qp(conn, peer_qpn);
	if (ret) {
		gsnfi_conn_fail_locked(conn, -ret);
		return;
	}
	gsnfi_conn_established(conn);
}

/* Parses and checks one datagram; NULL when it is not for us. */
static const struct gsnfi_cm_msg *gsnfi_cm_parse(struct gsnfi_ep *ep, const uint8_t *buf,
						  uint32_t byte_len)
{
	const struct gsn_ud_hdr *uh = (const struct gsn_ud_hdr *)buf;
	const struct gsnfi_cm_msg *m = (const struct gsnfi_cm_msg *)(buf + GSN_UD_HDR_LEN);

	if (byte_len < GSN_UD_HDR_LEN + sizeof(*m) || byte_len > GSNFI_CM_BUF)
		return NULL;
	if (be32toh(m->magic) != GSNFI_CM_MAGIC || m->version != GSNFI_CM_VERSION)
		return NULL;
	if (m->type != GSNFI_CM_CONNREQ && m->type != GSNFI_CM_CONNREP)
		return NULL;
	/* the name it claims is where it came from */
	if (memcmp(uh->src_ula, m->src.ula, sizeof(uh->src_ula)) != 0 ||
	    uh->src_qpn != be32toh(m->src.ud_qpn) || m->src.reserved != 0)
		return NULL;
	/* for this incarnation of this endpoint, from another one (we reach
	 * ourselves without the CM) */
	if (!gsnfi_addr_eq(&m->dst, &ep->addr) || gsnfi_addr_eq(&m->src, &ep->addr))
		return NULL;
	return m;
}

void gsnfi_cm_recv_locked(struct gsnfi_ep *ep, uint32_t index, const struct gsn_wc *wc)
{
	const struct gsnfi_cm_msg *m;

	if (index >= GSNFI_CM_DEPTH || !ep->ud_qp)
		return;
	if (wc->status != GSN_WC_SUCCESS) {
		if (wc->status == GSN_WC_WR_FLUSH_ERR)
			return; /* the UD QP is going away */
		ep->stats.cm_drops++;
		goto repost;
	}
	m = gsnfi_cm_parse(ep, ep->cm_bufs + (size_t)index * GSNFI_CM_BUF, wc->byte_len);
	if (!m) {
		ep->stats.cm_drops++;
		goto repost;
	}
	if (m->type == GSNFI_CM_CONNREQ)
		gsnfi_cm_on_connreq(ep, m);
	else
		gsnfi_cm_on_connrep(ep, m);
repost:
	if (gsnfi_cm_post_recv(ep, index))
		GSNFI_WARN(FI_LOG_EP_CTRL, "cannot repost a CM receive buffer\n");
}

/* ---- timers ---------------------------------------------------------------------------------- */

static void gsnfi_cm_timer_one(struct gsnfi_conn *conn)
{
	uint64_t now;

	if (conn->state != GSNFI_CONN_CONNECTING)
		return;
	now = gsnfi_now_ns();
	if (now >= conn->deadline_ns) {
		gsnfi_conn_fail_locked(conn, FI_EHOSTUNREACH);
		return;
	}
	if (now >= conn->next_retry_ns) {
		conn->next_retry_ns = now + (uint64_t)GSNFI_CM_RETRY_MS * 1000000u;
		gsnfi_cm_send(conn->ep, GSNFI_CM_CONNREQ, conn);
	}
}

void gsnfi_cm_timers_locked(struct gsnfi_ep *ep)
{
	if (ep->connecting)
		gsnfi_cm_foreach_locked(ep, gsnfi_cm_timer_one);
}
