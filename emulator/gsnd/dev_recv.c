/* SPDX-License-Identifier: MIT */
/*
 * Receive work.  Once the QP's VC is up, every receive WQE is copied out
 * of the ring, its SGEs checked (lkey, PD, range, LOCAL_WRITE) and made a
 * temporary region, and handed to libst with st_post_recv: the peer's
 * SENDs (RTS/CTS) fill them in posting order, straight into the client's
 * memory.  A SEND finding nothing posted is held by libst until a receive
 * comes (hold mode).
 *
 * Arrivals that consume a receive without data in it come as
 * ST_EV_DATA_PLACED of a PUT with completion data: an RDMA WRITE with
 * immediate (into one of the client's MRs; byte_len = the WRITE's length)
 * or one of gsnd's sinks (zero-length SEND, with or without immediate;
 * zero-length WRITE with immediate).  The oldest posted receive is taken
 * back from libst (st_abort of a receive never bound to a transfer: no
 * wire traffic) and completes with the immediate.  The sender keeps such
 * work from overlapping any other receive-consuming work (dev_exec.c), so
 * no receive is ever bound to a SEND at that moment.  With no receive
 * posted the arrival waits (DEV_PENDING_IMM per QP) for the next one.
 * A WRITE with immediate longer than one PUT sends its total length ahead
 * into the DEV_KEY_ZLEN sink.
 *
 * Completions are produced in RQ order, exactly one per receive WQE,
 * flushed ones included (docs/device.md "What libgsn needs").  Every
 * receive completion counts as solicited: ST carries no solicited bit, and
 * a spurious wake-up is harmless where a missing one is not.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

static struct dev_recv *rcv_at(const struct dev_qp *qp, uint32_t seq)
{
	return &qp->rcv[seq & qp->rq.mask];
}

static bool rcv_room(const struct dev_qp *qp)
{
	return qp->rcv_tail - qp->rcv_head < qp->rq.size;
}

static bool imm_pending(const struct dev_qp *qp)
{
	return qp->imm_head != qp->imm_tail;
}

bool dev_recv_wants(const struct dev_qp *qp)
{
	if (qp->state == GSN_QPS_ERR)
		return dev_ring_pending(&qp->rq) || qp->rcv_head != qp->rcv_tail;
	if (qp->type == GSN_QPT_UD)
		return false; /* receives are taken as datagrams arrive (dev_ud.c) */
	return qp->conn == CONN_UP && (qp->state == GSN_QPS_RTR || qp->state == GSN_QPS_RTS) &&
	       !qp->rq_stop && rcv_room(qp) && dev_ring_pending(&qp->rq);
}

/* ---- posting ---- */

static struct dev_recv *rcv_new(struct dev_qp *qp, const struct gsn_recv_wqe *w)
{
	struct dev_recv *r = rcv_at(qp, qp->rcv_tail);

	memset(r, 0, sizeof(*r));
	r->seq = qp->rcv_tail++;
	r->wr_id = w->wr_id;
	r->opcode = GSN_WC_RECV;
	qp->rq.idx++;
	__atomic_store_n(&qp->rq.h->consumer, qp->rq.idx, __ATOMIC_RELEASE);
	qp->recvs++;
	qp->dev->st.recvs++;
	return r;
}

static void rcv_fail(struct dev_qp *qp, struct dev_recv *r, uint8_t status)
{
	r->status = status;
	r->state = RCV_DONE;
	qp->rq_stop = true; /* the QP goes to ERROR when this one completes */
}

/* Completes r with an arrival that carries no data for it. */
static void rcv_fill_imm(struct dev_recv *r, const struct dev_imm *im)
{
	r->opcode = im->opcode;
	r->flags = im->flags;
	r->byte_len = im->byte_len;
	r->imm = im->imm;
	r->status = GSN_WC_SUCCESS;
	r->state = RCV_DONE;
}

/*
 * The next receive WQE: checked and registered before it is consumed, so a
 * shortage of regions leaves it in the ring.  True if one was taken.
 */
static bool post_one(struct dev_qp *qp)
{
	struct gsnd_dev *dev = qp->dev;
	struct gsn_recv_wqe w;
	struct dev_sgl *sgl = NULL;
	uint8_t st;

	memcpy(&w, qp->rq.ents + (size_t)(qp->rq.idx & qp->rq.mask) * qp->rq.esz, sizeof(w));
	if (imm_pending(qp)) {
		rcv_fill_imm(rcv_new(qp, &w), &qp->imm[qp->imm_head++ % DEV_PENDING_IMM]);
		return true;
	}
	st = w.num_sge > GSN_MAX_SGE ? GSN_WC_LOC_QP_OP_ERR
				      : dev_sgl_build(qp, w.sge, w.num_sge, true, &sgl);
	if (st != GSN_WC_SUCCESS) {
		rcv_fail(qp, rcv_new(qp, &w), st);
		return true;
	}
	if (dev_sgl_register(dev, sgl)) {
		dev_sgl_release(dev, sgl);
		return false;
	}
	struct dev_recv *r = rcv_new(qp, &w);
	int rc = st_post_recv(dev->eng, qp->vc, sgl->mx, 0, sgl->region_len,
			      dev_ctx(qp->uid, r->seq, true));

	if (rc) {
		dev_sgl_release(dev, sgl);
		rcv_fail(qp, r, GSN_WC_LOC_QP_OP_ERR);
		return true;
	}
	r->sgl = sgl;
	r->state = RCV_POSTED;
	return true;
}

static bool post(struct dev_qp *qp)
{
	bool did = false;

	while (!qp->rq_stop && rcv_room(qp) && dev_ring_pending(&qp->rq) && post_one(qp))
		did = true;
	return did;
}

/* ---- completions ---- */

static void rcv_cqe(struct dev_qp *qp, const struct dev_recv *r, uint8_t status)
{
	struct gsn_cqe e = {
		.wr_id = r->wr_id,
		.status = status,
		.opcode = r->opcode,
		.flags = r->flags,
		.byte_len = status == GSN_WC_SUCCESS ? r->byte_len : 0,
		.imm_data = r->imm,
		.qp_num = qp->qpn,
		.src_qp = qp->dest_qpn,
		.vendor_err = r->vendor,
	};

	dev_complete(qp, true, &e, true);
}

static void rcv_free(struct dev_qp *qp, struct dev_recv *r)
{
	dev_sgl_release(qp->dev, r->sgl);
	r->sgl = NULL;
	r->state = RCV_FREE;
	qp->rcv_head++;
}

static bool retire(struct dev_qp *qp)
{
	bool did = false;

	while (qp->rcv_head != qp->rcv_tail) {
		struct dev_recv *r = rcv_at(qp, qp->rcv_head);
		uint8_t status = r->status;

		if (r->state != RCV_DONE)
			break;
		rcv_cqe(qp, r, status);
		rcv_free(qp, r);
		did = true;
		if (status != GSN_WC_SUCCESS) {
			dev_qp_error(qp, false);
			break;
		}
	}
	return did;
}

void dev_recv_ev_complete(struct gsnd_dev *dev, const struct st_event *ev)
{
	if (ev->kind != ST_REQ_RECV)
		return;
	struct dev_qp *qp = dev_ctx_qp(dev, ev->vc, ev->user_ctx);
	uint32_t seq = dev_ctx_seq(ev->user_ctx);

	if (!qp || !((uint32_t)ev->user_ctx & DEV_CTX_RECV))
		return;
	struct dev_recv *r = rcv_at(qp, seq);

	if (dev_ctx_seq(r->seq) != seq || r->state != RCV_POSTED)
		return;
	r->status = dev_wc_status(ev->status, ev->reason, true);
	if (r->status == GSN_WC_SUCCESS && ev->len > r->sgl->total)
		r->status = GSN_WC_LOC_LEN_ERR; /* a byte into an empty receive */
	r->byte_len = (uint32_t)ev->len;
	if (ev->has_value) {
		r->flags |= GSN_WC_F_WITH_IMM;
		r->imm = (uint32_t)ev->value;
	}
	if (r->status != GSN_WC_SUCCESS)
		r->vendor = (uint32_t)(ev->reason & 0xFFFF) << 16 | (uint32_t)(ev->status & 0xFFFF);
	dev_sgl_release(dev, r->sgl);
	r->sgl = NULL;
	r->state = RCV_DONE;
	dev->again = true;
}

/* ---- arrivals without data for the receive ---- */

/* The oldest receive still with libst, taken back; NULL if none. */
static struct dev_recv *take_posted(struct dev_qp *qp)
{
	for (uint32_t s = qp->rcv_head; s != qp->rcv_tail; s++) {
		struct dev_recv *r = rcv_at(qp, s);

		if (r->state != RCV_POSTED)
			continue;
		st_abort(qp->dev->eng, qp->vc, dev_ctx(qp->uid, r->seq, true));
		dev_sgl_release(qp->dev, r->sgl);
		r->sgl = NULL;
		return r;
	}
	return NULL;
}

static void arrival(struct dev_qp *qp, const struct dev_imm *im)
{
	struct dev_recv *r = take_posted(qp);

	qp->dev->again = true;
	if (r) {
		rcv_fill_imm(r, im);
		return;
	}
	if (qp->imm_tail - qp->imm_head >= DEV_PENDING_IMM) {
		GSN_WARN(&qp->dev->d->log, DEV_COMP, "qp %u: no receive for immediate data",
			 qp->qpn);
		dev_qp_error(qp, true);
		return;
	}
	qp->imm[qp->imm_tail++ % DEV_PENDING_IMM] = *im;
}

void dev_recv_ev_placed(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_vc_qp(dev, ev->vc);
	struct dev_imm im = {.opcode = GSN_WC_RECV, .flags = GSN_WC_F_WITH_IMM,
			     .imm = (uint32_t)ev->value};

	if (!qp || (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS))
		return;
	switch (ev->rkey) {
	case DEV_KEY_ZLEN:
		qp->imm_len = (uint32_t)ev->value;
		qp->has_imm_len = true;
		return;
	case DEV_KEY_ZSEND:
		im.flags = 0;
		im.imm = 0;
		break;
	case DEV_KEY_ZSEND_IMM:
		break;
	case DEV_KEY_ZWIMM:
		im.opcode = GSN_WC_RECV_RDMA_WITH_IMM;
		break;
	default:
		im.opcode = GSN_WC_RECV_RDMA_WITH_IMM;
		im.byte_len = qp->has_imm_len ? qp->imm_len : (uint32_t)ev->len;
		qp->has_imm_len = false;
		break;
	}
	arrival(qp, &im);
}

/* ---- ERROR and RESET ---- */

static void flush_ring(struct dev_qp *qp)
{
	while (dev_ring_pending(&qp->rq)) {
		struct gsn_recv_wqe w;
		struct gsn_cqe e = {.status = GSN_WC_WR_FLUSH_ERR, .opcode = GSN_WC_RECV,
				    .qp_num = qp->qpn, .src_qp = qp->dest_qpn};

		memcpy(&w, qp->rq.ents + (size_t)(qp->rq.idx & qp->rq.mask) * qp->rq.esz, sizeof(w));
		qp->rq.idx++;
		__atomic_store_n(&qp->rq.h->consumer, qp->rq.idx, __ATOMIC_RELEASE);
		e.wr_id = w.wr_id;
		dev_complete(qp, true, &e, true);
	}
}

bool dev_recv_flush(struct dev_qp *qp)
{
	bool did = qp->rcv_head != qp->rcv_tail || dev_ring_pending(&qp->rq);
	bool failed = false;

	while (qp->rcv_head != qp->rcv_tail) {
		struct dev_recv *r = rcv_at(qp, qp->rcv_head);
		uint8_t status = r->state == RCV_DONE && !failed ? r->status : GSN_WC_WR_FLUSH_ERR;

		failed |= status != GSN_WC_SUCCESS;
		rcv_cqe(qp, r, status);
		rcv_free(qp, r);
	}
	flush_ring(qp);
	dev_recv_drop(qp);
	return did;
}

bool dev_recv_pump(struct dev_qp *qp)
{
	if (qp->state == GSN_QPS_ERR)
		return dev_recv_flush(qp);
	if (qp->type == GSN_QPT_UD ||
	    (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS))
		return false;
	bool did = qp->conn == CONN_UP ? post(qp) : false;

	return retire(qp) || did;
}

void dev_recv_drop(struct dev_qp *qp)
{
	while (qp->rcv_head != qp->rcv_tail)
		rcv_free(qp, rcv_at(qp, qp->rcv_head));
	qp->imm_head = qp->imm_tail = 0;
	qp->has_imm_len = false;
	qp->rq_stop = false;
}
