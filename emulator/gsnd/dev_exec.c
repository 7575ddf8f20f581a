/* SPDX-License-Identifier: MIT */
/*
 * Send work -> ST operations (docs/device.md "Work -> ST"), completions in
 * order per QP, and the mapping of ST outcomes to completion statuses.
 *
 * gsnd copies each WQE out of the send ring into its own array of ops
 * (then advances consumer: the ring slot is free), validates the copy and
 * starts ops in ring order:
 *
 *   SEND (+imm)        st_send: RTS/CTS into the peer's next posted receive
 *   RDMA WRITE (+imm)  st_put per MiB into the region named by rkey; with
 *                      imm the last PUT carries ST_RMA_NOTIFY and goes only
 *                      when the others are in (a WRITE longer than one PUT
 *                      first sends its length, see dev_recv.c)
 *   RDMA READ          st_get per 65535 bytes
 *   atomics            st_fetchop, the old value written to the local SGE
 *   zero-length SEND and WRITE with imm: a one-byte PUT with notify into
 *                      one of gsnd's sink regions (libst moves >= 1 byte)
 *
 * A remote address becomes an offset with the region's base, which the
 * QP caches per rkey from st_region_request (ST_EV_REGION_EXPOSED).
 *
 * Ordering: ST carries control operations on VC0 and data on VC1, so gsnd
 * keeps the verbs guarantees by gating starts: READ/atomics wait for
 * earlier writes and sends to complete, writes and sends wait for earlier
 * READs and atomics (so nothing lands behind a refused READ), FENCE waits
 * for earlier READs and atomics, and work that consumes a receive through a PUT (WRITE with
 * imm, zero-length SEND) never overlaps other receive-consuming work (so
 * the peer matches receives in order).  Up to DEV_CHUNKS_INFLIGHT pieces of
 * one op are in libst at once, and nothing new starts while the lower
 * layer's FIFOs are backlogged.
 *
 * Completions are produced strictly in ring order: an op that finishes
 * early waits for those before it.  The first failure stops new starts;
 * when the failed op reaches the head its CQE (always produced, signaled
 * or not) is followed by ERROR and WR_FLUSH_ERR for the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

enum step { STEP_WAIT = -1, STEP_SOME = 0, STEP_ALL = 1 };

/* ---- opcodes and statuses ---- */

static bool is_send(uint8_t op)
{
	return op == GSN_WR_SEND || op == GSN_WR_SEND_WITH_IMM;
}

static bool is_write(uint8_t op)
{
	return op == GSN_WR_RDMA_WRITE || op == GSN_WR_RDMA_WRITE_WITH_IMM;
}

static bool is_atomic(uint8_t op)
{
	return op >= GSN_WR_ATOMIC_CMP_AND_SWP && op <= GSN_WR_ATOMIC_FETCH_CLEAR;
}

uint8_t dev_wc_status(int st, int reason, bool receiver)
{
	(void)reason;
	switch (st) {
	case ST_OK:
		return GSN_WC_SUCCESS;
	case ST_ERR_TIMEOUT:
		return GSN_WC_RETRY_EXC_ERR;
	case ST_ERR_REMOTE_ACCESS:
		return GSN_WC_REM_ACCESS_ERR;
	case ST_ERR_REMOTE_OP:
	case ST_ERR_REFUSED:
		return GSN_WC_REM_OP_ERR;
	case ST_ERR_LENGTH:
		return receiver ? GSN_WC_LOC_LEN_ERR : GSN_WC_REM_INV_REQ_ERR;
	case ST_ERR_NOT_READY:
		return GSN_WC_RNR_RETRY_EXC_ERR;
	case ST_ERR_ABORTED:
	case ST_ERR_FLUSHED:
		return GSN_WC_WR_FLUSH_ERR;
	case ST_ERR_LOCAL:
		return GSN_WC_LOC_PROT_ERR;
	default:
		return GSN_WC_GENERAL_ERR;
	}
}

static uint32_t vendor_of(int st, int reason)
{
	return (uint32_t)(reason & 0xFFFF) << 16 | (uint32_t)(st & 0xFFFF);
}

void dev_complete(struct dev_qp *qp, bool recv, const struct gsn_cqe *e, bool solicited)
{
	struct gsnd_dev *dev = qp->dev;

	if (e->status == GSN_WC_WR_FLUSH_ERR)
		dev->st.flushed++;
	else if (e->status != GSN_WC_SUCCESS)
		dev->st.wc_errors++;
	dev_cq_push(recv ? qp->rcq : qp->scq, e, solicited);
}

/* ---- the op array ---- */

static struct dev_op *op_at(const struct dev_qp *qp, uint32_t seq)
{
	return &qp->ops[seq & qp->sq.mask];
}

static bool op_room(const struct dev_qp *qp)
{
	return qp->op_tail - qp->op_head < qp->sq.size;
}

static uint64_t op_ctx(const struct dev_qp *qp, const struct dev_op *op)
{
	return dev_ctx(qp->uid, op->seq, false);
}

/* Copies posted WQEs out of the ring while there is room for them. */
static bool copy_in(struct dev_qp *qp)
{
	bool did = false;

	while (op_room(qp) && dev_ring_pending(&qp->sq)) {
		struct dev_op *op = op_at(qp, qp->op_tail);

		memset(op, 0, sizeof(*op));
		memcpy(&op->w, qp->sq.ents + (size_t)(qp->sq.idx & qp->sq.mask) * qp->sq.esz,
		       sizeof(op->w));
		op->seq = qp->op_tail++;
		op->state = OP_QUEUED;
		qp->sq.idx++;
		__atomic_store_n(&qp->sq.h->consumer, qp->sq.idx, __ATOMIC_RELEASE);
		qp->wqes++;
		qp->dev->st.wqes++;
		did = true;
	}
	return did;
}

/* The op is over on libst's side when nothing of it is in flight. */
static void op_settle(struct dev_qp *qp, struct dev_op *op)
{
	if (op->state != OP_ACTIVE || op->inflight ||
	    (!op->issued_all && op->status == GSN_WC_SUCCESS))
		return;
	op->state = OP_DONE;
	if (op->cls & DEV_OPC_RC_SEND)
		qp->n_rc_send--;
	if (op->cls & DEV_OPC_RC_PUT)
		qp->n_rc_put--;
	if (op->cls & DEV_OPC_WRITE)
		qp->n_write--;
	if (op->cls & DEV_OPC_READ)
		qp->n_read--;
	qp->dev->again = true;
}

static void op_fail(struct dev_qp *qp, struct dev_op *op, uint8_t status, uint32_t vendor)
{
	if (op->status == GSN_WC_SUCCESS) {
		op->status = status;
		op->vendor = vendor;
	}
	qp->stop_issue = true;
	if (op->state == OP_QUEUED)
		op->state = OP_ACTIVE;
	op_settle(qp, op);
}

/* ---- the peer's regions: base addresses per rkey ---- */

static struct dev_rk *rk_find(struct dev_qp *qp, uint64_t rkey)
{
	for (unsigned i = 0; i < DEV_RKEY_CACHE; i++)
		if (qp->rk[i].used && qp->rk[i].rkey == rkey)
			return &qp->rk[i];
	return NULL;
}

static void rk_forget(struct dev_qp *qp, uint64_t rkey)
{
	struct dev_rk *rk = rk_find(qp, rkey);

	if (rk)
		rk->used = false;
}

/* A slot for rkey: a free one, else the next ready one round-robin. */
static struct dev_rk *rk_new(struct dev_qp *qp, uint64_t rkey)
{
	struct dev_rk *rk = NULL;

	for (unsigned i = 0; i < DEV_RKEY_CACHE && !rk; i++)
		if (!qp->rk[i].used)
			rk = &qp->rk[i];
	for (unsigned i = 0; i < DEV_RKEY_CACHE && !rk; i++) {
		struct dev_rk *r = &qp->rk[qp->rk_next++ % DEV_RKEY_CACHE];

		if (r->ready)
			rk = r;
	}
	if (rk)
		*rk = (struct dev_rk){.rkey = rkey, .used = true};
	return rk;
}

/* The region offset of the op's remote range: STEP_ALL, STEP_WAIT, or failed. */
static enum step op_remote(struct dev_qp *qp, struct dev_op *op, uint64_t len)
{
	uint64_t rkey = op->w.rkey, addr = op->w.remote_addr;
	struct dev_rk *rk;

	if (rkey == 0 || dev_key_reserved(rkey)) {
		op_fail(qp, op, GSN_WC_REM_ACCESS_ERR, 0);
		return STEP_WAIT;
	}
	rk = rk_find(qp, rkey);
	if (rk && rk->ready) {
		if (addr < rk->base || addr - rk->base > rk->len || len > rk->len - (addr - rk->base)) {
			op_fail(qp, op, GSN_WC_REM_ACCESS_ERR, 0);
			return STEP_WAIT;
		}
		op->roff = addr - rk->base;
		return STEP_ALL;
	}
	if (!rk) {
		rk = rk_new(qp, rkey);
		if (!rk || st_region_request(qp->dev->eng, qp->vc, rkey, (uint64_t)qp->uid << 32)) {
			if (rk)
				rk->used = false;
			op_fail(qp, op, GSN_WC_GENERAL_ERR, 0);
			return STEP_WAIT;
		}
	}
	qp->rk_wait = true;
	return STEP_WAIT;
}

/* ---- starting an op ---- */

static uint8_t wqe_check(const struct gsn_send_wqe *w)
{
	const uint8_t known = GSN_WR_F_SIGNALED | GSN_WR_F_INLINE | GSN_WR_F_FENCE |
			      GSN_WR_F_SOLICITED;

	if (w->opcode > GSN_WR_ATOMIC_FETCH_CLEAR || (w->flags & ~known))
		return GSN_WC_LOC_QP_OP_ERR;
	if (w->flags & GSN_WR_F_INLINE) {
		if (!is_send(w->opcode) && !is_write(w->opcode))
			return GSN_WC_LOC_QP_OP_ERR;
		if (w->num_sge != 0)
			return GSN_WC_LOC_QP_OP_ERR;
		if (w->inline_len > GSN_MAX_INLINE)
			return GSN_WC_LOC_LEN_ERR;
	} else if (w->num_sge > GSN_MAX_SGE) {
		return GSN_WC_LOC_QP_OP_ERR;
	}
	if (is_atomic(w->opcode) && (w->remote_addr % 8))
		return GSN_WC_REM_INV_REQ_ERR;
	return GSN_WC_SUCCESS;
}

/* The DEV_OPC_* classes of an op (its ordering constraints). */
static uint8_t op_class(const struct dev_op *op)
{
	uint8_t o = op->w.opcode;

	if (is_send(o))
		return DEV_OPC_WRITE | (op->total ? DEV_OPC_RC_SEND : DEV_OPC_RC_PUT);
	if (o == GSN_WR_RDMA_WRITE_WITH_IMM)
		return DEV_OPC_WRITE | DEV_OPC_RC_PUT;
	if (o == GSN_WR_RDMA_WRITE)
		return op->total ? DEV_OPC_WRITE : 0;
	return DEV_OPC_READ; /* READ and atomics */
}

/* Whether the ordering rules let an op of class cls (and these flags) start now. */
static bool gate_open(const struct dev_qp *qp, uint8_t cls, uint8_t flags)
{
	if ((flags & GSN_WR_F_FENCE) && qp->n_read)
		return false;
	if ((cls & DEV_OPC_READ) && qp->n_write)
		return false;
	/*
	 * A READ or atomic travels as a GET on VC0 while write data travels on
	 * VC1 and could overtake it: if the responder refused the READ, a later
	 * write must not have landed there.  So writes and sends wait for
	 * earlier READs and atomics, as a verbs responder's ordering implies.
	 */
	if ((cls & DEV_OPC_WRITE) && qp->n_read)
		return false;
	if ((cls & DEV_OPC_RC_SEND) && qp->n_rc_put)
		return false;
	if ((cls & DEV_OPC_RC_PUT) && (qp->n_rc_send || qp->n_rc_put))
		return false;
	return true;
}

/* Payload bytes the WQE describes (num_sge checked). */
static uint64_t wqe_total(const struct gsn_send_wqe *w)
{
	uint64_t n = 0;

	if (is_atomic(w->opcode))
		return 8;
	if (w->flags & GSN_WR_F_INLINE)
		return w->inline_len;
	for (unsigned i = 0; i < w->num_sge; i++)
		n += w->sge[i].length;
	return n;
}

/* Local buffer: SGEs (or inline bytes) -> a registered temporary region.
 * 0 ready, 1 not now (out of regions), -1 failed. */
static int op_local(struct dev_qp *qp, struct dev_op *op)
{
	const struct gsn_send_wqe *w = &op->w;
	bool sink = w->opcode == GSN_WR_RDMA_READ || is_atomic(w->opcode);
	uint8_t st = GSN_WC_SUCCESS;

	if (op->total == 0)
		return 0;
	if (w->flags & GSN_WR_F_INLINE) {
		op->sgl = dev_buf_new(qp, w->inline_data, w->inline_len);
		st = op->sgl ? GSN_WC_SUCCESS : GSN_WC_GENERAL_ERR;
	} else {
		st = dev_sgl_build(qp, w->sge, w->num_sge, sink, &op->sgl);
	}
	if (st == GSN_WC_SUCCESS && op->sgl->total < (is_atomic(w->opcode) ? 8 : op->total))
		st = GSN_WC_LOC_LEN_ERR;
	if (st != GSN_WC_SUCCESS) {
		dev_sgl_release(qp->dev, op->sgl);
		op->sgl = NULL;
		op_fail(qp, op, st, 0);
		return -1;
	}
	if (dev_sgl_register(qp->dev, op->sgl)) {
		dev_sgl_release(qp->dev, op->sgl); /* out of regions: try again later */
		op->sgl = NULL;
		return 1;
	}
	return 0;
}

/* Validation, ordering gate, local buffer; the op becomes ACTIVE.  STEP_ALL when ready. */
static enum step op_prepare(struct dev_qp *qp, struct dev_op *op)
{
	uint8_t st = wqe_check(&op->w);

	if (st != GSN_WC_SUCCESS) {
		op_fail(qp, op, st, 0);
		return STEP_WAIT;
	}
	op->total = wqe_total(&op->w);
	if (op->total > DEV_MAX_MSG) {
		op_fail(qp, op, GSN_WC_LOC_LEN_ERR, 0);
		return STEP_WAIT;
	}
	uint8_t cls = op_class(op);

	if (!gate_open(qp, cls, op->w.flags) || op_local(qp, op))
		return STEP_WAIT;
	op->cls = cls;
	op->prepared = true;
	op->state = OP_ACTIVE;
	qp->n_rc_send += !!(cls & DEV_OPC_RC_SEND);
	qp->n_rc_put += !!(cls & DEV_OPC_RC_PUT);
	qp->n_write += !!(cls & DEV_OPC_WRITE);
	qp->n_read += !!(cls & DEV_OPC_READ);
	return STEP_ALL;
}

/* ---- handing pieces to libst ---- */

static bool libst_ok(struct dev_qp *qp, struct dev_op *op, int rc)
{
	if (rc == 0) {
		op->inflight++;
		return true;
	}
	GSN_DBG(&qp->dev->d->log, DEV_COMP, "qp %u: wr %llu: st: %s", qp->qpn,
		(unsigned long long)op->w.wr_id, strerror(-rc));
	op_fail(qp, op, rc == -ENOMEM ? GSN_WC_GENERAL_ERR : GSN_WC_LOC_QP_OP_ERR, 0);
	return false;
}

/* A one-byte PUT with notify into one of gsnd's sinks on the peer. */
static enum step put_sink(struct dev_qp *qp, struct dev_op *op, uint64_t key, uint32_t imm)
{
	struct st_rma r = {
		.local_mx = qp->dev->zsrc.mx,
		.rkey = key,
		.len = 1,
		.flags = ST_RMA_NOTIFY,
		.imm = imm,
	};

	if (!libst_ok(qp, op, st_put(qp->dev->eng, qp->vc, &r, op_ctx(qp, op))))
		return STEP_WAIT;
	op->issued_all = key != DEV_KEY_ZLEN;
	return op->issued_all ? STEP_ALL : STEP_SOME;
}

static bool room_for_piece(const struct dev_qp *qp, const struct dev_op *op)
{
	return op->inflight < DEV_CHUNKS_INFLIGHT && !dev_tx_backlogged(qp->dev) &&
	       op->status == GSN_WC_SUCCESS;
}

static enum step issue_write(struct dev_qp *qp, struct dev_op *op)
{
	bool imm = op->w.opcode == GSN_WR_RDMA_WRITE_WITH_IMM;
	enum step r = STEP_WAIT;

	while (op->issued < op->total && room_for_piece(qp, op)) {
		uint64_t len = op->total - op->issued < DEV_PUT_CHUNK ? op->total - op->issued
								      : DEV_PUT_CHUNK;
		bool last = op->issued + len == op->total;
		struct st_rma p = {
			.local_mx = op->sgl->mx,
			.local_off = op->issued,
			.rkey = op->w.rkey,
			.remote_off = op->roff + op->issued,
			.len = len,
		};

		if (imm && last && op->inflight)
			break; /* the notifying PUT goes when the rest is in */
		if (imm && last && op->total > DEV_PUT_CHUNK && !op->zlen_done) {
			op->zlen_done = true; /* the length first (dev_recv.c) */
			return put_sink(qp, op, DEV_KEY_ZLEN, (uint32_t)op->total) == STEP_WAIT
				       ? r
				       : STEP_SOME;
		}
		if (imm && last) {
			p.flags = ST_RMA_NOTIFY;
			p.imm = op->w.imm_data;
		}
		if (!libst_ok(qp, op, st_put(qp->dev->eng, qp->vc, &p, op_ctx(qp, op))))
			return STEP_WAIT;
		op->issued += len;
		r = STEP_SOME;
	}
	op->issued_all = op->issued == op->total;
	return op->issued_all ? STEP_ALL : r;
}

static enum step issue_read(struct dev_qp *qp, struct dev_op *op)
{
	enum step r = STEP_WAIT;

	while (op->issued < op->total && room_for_piece(qp, op)) {
		uint64_t len = op->total - op->issued < DEV_GET_CHUNK ? op->total - op->issued
								      : DEV_GET_CHUNK;
		struct st_rma g = {
			.local_mx = op->sgl->mx,
			.local_off = op->issued,
			.rkey = op->w.rkey,
			.remote_off = op->roff + op->issued,
			.len = len,
		};

		if (!libst_ok(qp, op, st_get(qp->dev->eng, qp->vc, &g, op_ctx(qp, op))))
			return STEP_WAIT;
		op->issued += len;
		r = STEP_SOME;
	}
	op->issued_all = op->issued == op->total;
	return op->issued_all ? STEP_ALL : r;
}

static enum st_get_function fetch_fn(uint8_t op)
{
	switch (op) {
	case GSN_WR_ATOMIC_CMP_AND_SWP:
		return ST_FN_COMPARE_SWAP;
	case GSN_WR_ATOMIC_FETCH_AND_ADD:
		return ST_FN_FETCH_ADD;
	case GSN_WR_ATOMIC_SWAP:
		return ST_FN_SWAP;
	case GSN_WR_ATOMIC_FETCH_INC:
		return ST_FN_FETCH_INCREMENT;
	case GSN_WR_ATOMIC_FETCH_DEC:
		return ST_FN_FETCH_DECREMENT;
	default:
		return ST_FN_FETCH_CLEAR;
	}
}

static enum step issue_atomic(struct dev_qp *qp, struct dev_op *op)
{
	uint8_t o = op->w.opcode;
	struct st_fetchop f = {
		.fn = fetch_fn(o),
		.rkey = op->w.rkey,
		.remote_off = op->roff,
		.operand = o == GSN_WR_ATOMIC_FETCH_AND_ADD ? op->w.compare_add : op->w.swap,
		.compare = op->w.compare_add,
		.local_mx = op->sgl->mx,
	};

	if (!libst_ok(qp, op, st_fetchop(qp->dev->eng, qp->vc, &f, op_ctx(qp, op))))
		return STEP_WAIT;
	op->issued = 8;
	op->issued_all = true;
	return STEP_ALL;
}

static enum step issue_send(struct dev_qp *qp, struct dev_op *op)
{
	bool imm = op->w.opcode == GSN_WR_SEND_WITH_IMM;

	if (op->total == 0)
		return put_sink(qp, op, imm ? DEV_KEY_ZSEND_IMM : DEV_KEY_ZSEND, op->w.imm_data);
	if (!libst_ok(qp, op, st_send(qp->dev->eng, qp->vc, op->sgl->mx, 0, op->total, imm,
				      op->w.imm_data, op_ctx(qp, op))))
		return STEP_WAIT;
	op->issued = op->total;
	op->issued_all = true;
	return STEP_ALL;
}

/* Hands the op (more of it) to libst. */
static enum step op_issue(struct dev_qp *qp, struct dev_op *op)
{
	uint8_t o = op->w.opcode;

	if (is_send(o))
		return issue_send(qp, op);
	if (op->total == 0 && o == GSN_WR_RDMA_WRITE_WITH_IMM)
		return put_sink(qp, op, DEV_KEY_ZWIMM, op->w.imm_data);
	if (op->total == 0) { /* nothing to move: done at once, in order */
		op->issued_all = true;
		return STEP_ALL;
	}
	if (!op->has_roff) {
		enum step r = op_remote(qp, op, op->total);

		if (r != STEP_ALL)
			return r;
		op->has_roff = true;
	}
	if (is_write(o))
		return issue_write(qp, op);
	if (o == GSN_WR_RDMA_READ)
		return issue_read(qp, op);
	return issue_atomic(qp, op);
}

/* One op one step further: STEP_ALL moves the cursor on. */
static enum step op_step(struct dev_qp *qp, struct dev_op *op)
{
	enum step r;

	if (!op->prepared) {
		r = op_prepare(qp, op);
		if (r != STEP_ALL)
			return op->status != GSN_WC_SUCCESS ? STEP_ALL : STEP_WAIT;
	}
	r = op_issue(qp, op);
	op_settle(qp, op);
	if (op->status != GSN_WC_SUCCESS)
		return STEP_ALL;
	return r;
}

static bool issue(struct dev_qp *qp)
{
	bool did = false;

	while (!qp->stop_issue && !qp->rk_wait && qp->op_issue != qp->op_tail &&
	       !dev_tx_backlogged(qp->dev)) {
		struct dev_op *op = op_at(qp, qp->op_issue);
		uint32_t before = op->inflight;
		enum step r = op_step(qp, op);

		did |= r != STEP_WAIT || op->inflight != before;
		if (r != STEP_ALL)
			break;
		qp->op_issue++;
	}
	return did;
}

/* ---- completions ---- */

static void op_cqe(struct dev_qp *qp, const struct dev_op *op, uint8_t status)
{
	struct gsn_cqe e = {
		.wr_id = op->w.wr_id,
		.status = status,
		.opcode = gsn_wc_opcode_of(op->w.opcode),
		.byte_len = (uint32_t)op->total,
		.qp_num = qp->qpn,
		.src_qp = qp->dest_qpn,
		.vendor_err = op->vendor,
	};

	dev_complete(qp, false, &e, false);
}

static void op_free(struct dev_qp *qp, struct dev_op *op)
{
	dev_sgl_release(qp->dev, op->sgl);
	op->sgl = NULL;
	op->state = OP_FREE;
	qp->op_head++;
	if ((int32_t)(qp->op_issue - qp->op_head) < 0)
		qp->op_issue = qp->op_head;
}

static bool retire(struct dev_qp *qp)
{
	bool did = false;

	while (qp->op_head != qp->op_tail) {
		struct dev_op *op = op_at(qp, qp->op_head);
		uint8_t status = op->status;

		if (op->state != OP_DONE)
			break;
		if (status != GSN_WC_SUCCESS || (op->w.flags & GSN_WR_F_SIGNALED) || qp->sig_all)
			op_cqe(qp, op, status);
		op_free(qp, op);
		did = true;
		if (status != GSN_WC_SUCCESS) {
			dev_qp_error(qp, false);
			break;
		}
	}
	return did;
}

void dev_exec_ev_complete(struct gsnd_dev *dev, const struct st_event *ev)
{
	if (ev->kind != ST_REQ_PUT && ev->kind != ST_REQ_GET && ev->kind != ST_REQ_FETCHOP &&
	    ev->kind != ST_REQ_SEND)
		return;
	struct dev_qp *qp = dev_ctx_qp(dev, ev->vc, ev->user_ctx);
	uint32_t seq = dev_ctx_seq(ev->user_ctx);

	if (!qp || ((uint32_t)ev->user_ctx & DEV_CTX_RECV))
		return;
	struct dev_op *op = op_at(qp, seq);

	if (dev_ctx_seq(op->seq) != seq || op->state != OP_ACTIVE || !op->inflight)
		return;
	op->inflight--;
	if (ev->status == ST_OK) {
		op->placed += ev->len;
	} else {
		if (ev->status == ST_ERR_REMOTE_ACCESS)
			rk_forget(qp, op->w.rkey);
		op_fail(qp, op, dev_wc_status(ev->status, ev->reason, false),
			vendor_of(ev->status, ev->reason));
	}
	op_settle(qp, op);
	dev->again = true;
}

void dev_exec_ev_region(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_ctx_qp(dev, ev->vc, ev->user_ctx);
	struct dev_rk *rk = qp ? rk_find(qp, ev->rkey) : NULL;

	if (!rk || rk->ready)
		return;
	qp->rk_wait = false;
	dev->again = true;
	if (ev->status == ST_OK) {
		rk->ready = true;
		rk->base = ev->offset;
		rk->len = ev->len;
		return;
	}
	rk->used = false;
	if (qp->op_issue != qp->op_tail)
		op_fail(qp, op_at(qp, qp->op_issue), dev_wc_status(ev->status, ev->reason, false),
			vendor_of(ev->status, ev->reason));
}

/* ---- the pump ---- */

bool dev_exec_wants(const struct dev_qp *qp)
{
	if (qp->state == GSN_QPS_ERR)
		return dev_ring_pending(&qp->sq) || qp->op_head != qp->op_tail;
	if (qp->type == GSN_QPT_UD)
		return dev_ud_send_wants(qp);
	return qp->state == GSN_QPS_RTS && qp->conn == CONN_UP && op_room(qp) &&
	       dev_ring_pending(&qp->sq);
}

bool dev_exec_pump(struct dev_qp *qp)
{
	if (qp->state == GSN_QPS_ERR)
		return dev_exec_flush(qp);
	if (qp->type == GSN_QPT_UD)
		return dev_ud_send_pump(qp);
	if (qp->state != GSN_QPS_RTS)
		return false;
	if (qp->conn != CONN_UP) {
		dev_qp_connect_check(qp);
		return false;
	}
	bool did = copy_in(qp);

	did |= issue(qp);
	did |= retire(qp);
	return did;
}

void dev_exec_fail(struct dev_qp *qp, uint8_t status)
{
	copy_in(qp);
	if (qp->op_head != qp->op_tail) {
		struct dev_op *op = op_at(qp, qp->op_head);

		if (op->state != OP_DONE && op->status == GSN_WC_SUCCESS)
			op->status = status;
	}
	dev_qp_error(qp, true);
}

static void flush_ring(struct dev_qp *qp)
{
	while (dev_ring_pending(&qp->sq)) {
		struct gsn_send_wqe w;
		struct gsn_cqe e = {.status = GSN_WC_WR_FLUSH_ERR, .qp_num = qp->qpn,
				    .src_qp = qp->dest_qpn};

		memcpy(&w, qp->sq.ents + (size_t)(qp->sq.idx & qp->sq.mask) * qp->sq.esz, sizeof(w));
		qp->sq.idx++;
		__atomic_store_n(&qp->sq.h->consumer, qp->sq.idx, __ATOMIC_RELEASE);
		e.wr_id = w.wr_id;
		e.opcode = gsn_wc_opcode_of(w.opcode);
		dev_complete(qp, false, &e, false);
	}
}

/*
 * In ERROR libst holds nothing of the QP any more (its VC was closed, which
 * finished every request at once), so every op can go: successes before the
 * first failure as usual, the failure with its status, the rest flushed.
 */
bool dev_exec_flush(struct dev_qp *qp)
{
	bool did = qp->op_head != qp->op_tail || dev_ring_pending(&qp->sq);
	bool failed = false;

	while (qp->op_head != qp->op_tail) {
		struct dev_op *op = op_at(qp, qp->op_head);
		bool ok = op->state == OP_DONE && op->status == GSN_WC_SUCCESS && !failed;
		uint8_t status = op->status;

		if (!ok && status == GSN_WC_SUCCESS)
			status = GSN_WC_WR_FLUSH_ERR;
		failed |= !ok;
		if (!ok || (op->w.flags & GSN_WR_F_SIGNALED) || qp->sig_all)
			op_cqe(qp, op, status);
		op_free(qp, op);
	}
	dev_exec_drop(qp);
	flush_ring(qp);
	return did;
}

void dev_exec_drop(struct dev_qp *qp)
{
	while (qp->op_head != qp->op_tail)
		op_free(qp, op_at(qp, qp->op_head));
	qp->op_issue = qp->op_tail = qp->op_head; /* free-running: no sequence is reused soon */
	qp->n_rc_send = qp->n_rc_put = qp->n_write = qp->n_read = 0;
	qp->stop_issue = false;
	qp->rk_wait = false;
	memset(qp->rk, 0, sizeof(qp->rk));
}
