/* SPDX-License-Identifier: MIT */
/*
 * UD queue pairs: unreliable datagrams with verbs-UD semantics
 * (docs/device.md "UD queue pairs").
 *
 * Out.  In RTS every send WQE is copied out of the ring (consumer
 * advances), checked (SEND or SEND_WITH_IMM, payload at most
 * GSN_UD_MAX_PAYLOAD, a unicast destination ULA), its payload gathered
 * behind a wire header (gsn/ud_wire.h) — inline bytes, or the SGEs through
 * the MR table with process_vm_readv — and the datagram handed to the link
 * as one GSN Message with EtherType 0x88B6 on VC1, through the FIFOs ST
 * uses (dev_tx).  Then it completes GSN_WC_SEND (when signaled): it is on
 * its way and nothing will acknowledge it.  A bad WQE completes with its
 * status and the QP goes to ERROR, as on RC.  Nothing new is taken while
 * the FIFOs are backlogged.
 *
 * In.  A datagram for one of our UD QPs takes that QP's next receive WQE
 * straight from the ring when it arrives: a struct gsn_ud_hdr (source ULA
 * and QPN) and the payload are scattered over its SGEs with one
 * process_vm_writev, and it completes GSN_WC_RECV with byte_len =
 * GSN_UD_HDR_LEN + payload, src_qp, and the immediate.  Unreliable: a
 * malformed datagram, no such QP, a QP not in RTR/RTS, a wrong qkey, no
 * receive posted or one too short drop it (that receive stays posted) and
 * count it; the sender never hears of it.  A receive WQE naming memory
 * badly completes with its status, the datagram is dropped, and the QP
 * goes to ERROR.
 *
 * Order: the link delivers the Messages of one VC in order, so the
 * datagrams of one QP to another arrive in the order they were posted.
 */
#include <errno.h>
#include <string.h>

#include "dev.h"

/* ---- sending ---- */

static bool ula_unicast(const uint8_t ula[GSN_ULA_LEN])
{
	static const uint8_t zero[GSN_ULA_LEN];

	return !gsn_ula_is_group(ula) && memcmp(ula, zero, GSN_ULA_LEN) != 0;
}

/* A UD send WQE: GSN_WC_SUCCESS and its payload length, or the completion status. */
static uint8_t ud_wqe_check(const struct gsn_send_wqe *w, uint64_t *total)
{
	const uint8_t known = GSN_WR_F_SIGNALED | GSN_WR_F_INLINE | GSN_WR_F_FENCE |
			      GSN_WR_F_SOLICITED;

	*total = 0;
	if ((w->opcode != GSN_WR_SEND && w->opcode != GSN_WR_SEND_WITH_IMM) ||
	    (w->flags & ~known) || !ula_unicast(w->ud_dest_ula))
		return GSN_WC_LOC_QP_OP_ERR;
	if (w->flags & GSN_WR_F_INLINE) {
		if (w->num_sge)
			return GSN_WC_LOC_QP_OP_ERR;
		*total = w->inline_len;
		return w->inline_len > GSN_MAX_INLINE ? GSN_WC_LOC_LEN_ERR : GSN_WC_SUCCESS;
	}
	if (w->num_sge > GSN_MAX_SGE)
		return GSN_WC_LOC_QP_OP_ERR;
	for (unsigned i = 0; i < w->num_sge; i++)
		*total += w->sge[i].length;
	return *total > GSN_UD_MAX_PAYLOAD ? GSN_WC_LOC_LEN_ERR : GSN_WC_SUCCESS;
}

/* The payload into dst: inline bytes, or the SGEs checked against the MR table. */
static uint8_t ud_gather(struct dev_qp *qp, const struct gsn_send_wqe *w, uint8_t *dst,
			 uint64_t total)
{
	struct dev_sgl *sgl = NULL;

	if (w->flags & GSN_WR_F_INLINE) {
		memcpy(dst, w->inline_data, total);
		return GSN_WC_SUCCESS;
	}
	uint8_t st = dev_sgl_build(qp, w->sge, w->num_sge, false, &sgl);

	if (st != GSN_WC_SUCCESS)
		return st;
	if (total && dev_sgl_gather(qp->dev, sgl, dst, total))
		st = GSN_WC_LOC_PROT_ERR;
	dev_sgl_release(qp->dev, sgl);
	return st;
}

/* Hands the datagram (payload already in ud_buf) to the link; a loss is only counted. */
static void ud_transmit(struct dev_qp *qp, const struct gsn_send_wqe *w, uint64_t total)
{
	struct gsnd_dev *dev = qp->dev;
	struct gsn_ud_wire h = {
		.flags = (w->opcode == GSN_WR_SEND_WITH_IMM ? GSN_UD_WIRE_F_IMM : 0) |
			 (w->flags & GSN_WR_F_SOLICITED ? GSN_UD_WIRE_F_SOLICITED : 0),
		.dest_qpn = w->ud_dest_qpn,
		.src_qpn = qp->qpn,
		.qkey = w->ud_qkey,
		.imm = w->opcode == GSN_WR_SEND_WITH_IMM ? w->imm_data : 0,
		.len = (uint32_t)total,
	};
	struct iovec iov = {dev->ud_buf, GSN_UD_WIRE_HDR_LEN + total};
	int rc = -ENETDOWN;

	gsn_ud_wire_encode(&h, dev->ud_buf);
	if (dev->d->ep->has_ula)
		rc = dev_tx(dev, DEV_UD_VC, w->ud_dest_ula, GSN_ETHERTYPE_UD, &iov, 1);
	if (rc < 0) {
		dev->st.ud_send_errors++;
		GSN_DBG(&dev->d->log, DEV_COMP, "qp %u: datagram to qp %u lost: %s", qp->qpn,
			w->ud_dest_qpn, strerror(-rc));
		return;
	}
	dev->st.ud_sent++;
}

static void ud_send_complete(struct dev_qp *qp, const struct gsn_send_wqe *w, uint8_t status,
			     uint64_t total)
{
	if (status == GSN_WC_SUCCESS && !(w->flags & GSN_WR_F_SIGNALED) && !qp->sig_all)
		return;
	struct gsn_cqe e = {
		.wr_id = w->wr_id,
		.status = status,
		.opcode = GSN_WC_SEND,
		.byte_len = status == GSN_WC_SUCCESS ? (uint32_t)total : 0,
		.qp_num = qp->qpn,
	};

	dev_complete(qp, false, &e, false);
}

/* One send WQE out of the ring; false when it failed (the QP is in ERROR). */
static bool ud_send_one(struct dev_qp *qp)
{
	struct dev_ring *r = &qp->sq;
	struct gsn_send_wqe w;
	uint64_t total;

	memcpy(&w, r->ents + (size_t)(r->idx & r->mask) * r->esz, sizeof(w));
	r->idx++;
	__atomic_store_n(&r->h->consumer, r->idx, __ATOMIC_RELEASE);
	qp->wqes++;
	qp->dev->st.wqes++;
	uint8_t st = ud_wqe_check(&w, &total);

	if (st == GSN_WC_SUCCESS)
		st = ud_gather(qp, &w, qp->dev->ud_buf + GSN_UD_WIRE_HDR_LEN, total);
	if (st == GSN_WC_SUCCESS)
		ud_transmit(qp, &w, total);
	ud_send_complete(qp, &w, st, total);
	if (st == GSN_WC_SUCCESS)
		return true;
	dev_qp_error(qp, false);
	return false;
}

bool dev_ud_send_wants(const struct dev_qp *qp)
{
	return qp->state == GSN_QPS_RTS && dev_ring_pending(&qp->sq) &&
	       !dev_tx_backlogged(qp->dev);
}

bool dev_ud_send_pump(struct dev_qp *qp)
{
	bool did = false;

	for (unsigned n = 0; n < DEV_UD_BATCH && dev_ud_send_wants(qp); n++) {
		did = true;
		if (!ud_send_one(qp))
			break;
	}
	return did;
}

/* ---- receiving ---- */

static void ud_recv_complete(struct dev_qp *qp, const struct gsn_recv_wqe *w, uint8_t status,
			     const struct gsn_ud_wire *h)
{
	bool ok = status == GSN_WC_SUCCESS;
	struct gsn_cqe e = {
		.wr_id = w->wr_id,
		.status = status,
		.opcode = GSN_WC_RECV,
		.flags = ok && (h->flags & GSN_UD_WIRE_F_IMM) ? GSN_WC_F_WITH_IMM : 0,
		.byte_len = ok ? GSN_UD_HDR_LEN + h->len : 0,
		.imm_data = ok ? h->imm : 0,
		.qp_num = qp->qpn,
		.src_qp = h->src_qpn,
	};

	dev_complete(qp, true, &e, (h->flags & GSN_UD_WIRE_F_SOLICITED) || !ok);
}

/* The header and the payload over the receive's SGEs: GSN_WC_SUCCESS or the status. */
static uint8_t ud_place(struct dev_qp *qp, struct dev_sgl *sgl, const uint8_t src[GSN_ULA_LEN],
			const struct gsn_ud_wire *h, const uint8_t *payload)
{
	struct gsn_ud_hdr uh;
	struct iovec iov[2] = {{&uh, sizeof(uh)}, {(void *)payload, h->len}};

	memset(&uh, 0, sizeof(uh));
	memcpy(uh.src_ula, src, GSN_ULA_LEN);
	uh.src_qpn = h->src_qpn;
	return dev_sgl_scatter(qp->dev, sgl, iov, h->len ? 2 : 1) ? GSN_WC_LOC_PROT_ERR
								   : GSN_WC_SUCCESS;
}

/* The datagram into the QP's next receive WQE (or dropped). */
static void ud_deliver(struct dev_qp *qp, const uint8_t src[GSN_ULA_LEN],
		       const struct gsn_ud_wire *h, const uint8_t *payload)
{
	struct gsnd_dev *dev = qp->dev;
	struct dev_ring *r = &qp->rq;
	struct dev_sgl *sgl = NULL;
	struct gsn_recv_wqe w;

	if (!dev_ring_pending(r)) {
		dev->st.ud_drop_no_recv++;
		return;
	}
	memcpy(&w, r->ents + (size_t)(r->idx & r->mask) * r->esz, sizeof(w));
	uint8_t st = w.num_sge > GSN_MAX_SGE ? GSN_WC_LOC_QP_OP_ERR
					      : dev_sgl_build(qp, w.sge, w.num_sge, true, &sgl);

	if (st == GSN_WC_SUCCESS && sgl->total < GSN_UD_HDR_LEN + (uint64_t)h->len) {
		dev_sgl_release(dev, sgl); /* the receive stays posted */
		dev->st.ud_drop_short++;
		return;
	}
	if (st == GSN_WC_SUCCESS)
		st = ud_place(qp, sgl, src, h, payload);
	dev_sgl_release(dev, sgl);
	r->idx++;
	__atomic_store_n(&r->h->consumer, r->idx, __ATOMIC_RELEASE);
	qp->recvs++;
	dev->st.recvs++;
	ud_recv_complete(qp, &w, st, h);
	if (st == GSN_WC_SUCCESS) {
		dev->st.ud_received++;
		return;
	}
	dev->st.ud_drop_bad_recv++;
	dev_qp_error(qp, false);
	dev_progress(dev); /* flushes the rest */
}

bool gsnd_dev_ud_input(struct gsnd *d, const uint8_t src[GSN_ULA_LEN],
		       const uint8_t dst[GSN_ULA_LEN], const uint8_t *pdu, size_t len)
{
	struct gsnd_dev *dev = dev_of(d);
	struct gsn_ud_wire h;

	if (!dev || !gsn_ud_wire_is_ud(pdu, len))
		return false;
	if (gsn_ud_wire_decode(pdu, len, &h) != GSN_UD_WIRE_OK || gsn_ula_is_group(dst)) {
		dev->st.ud_drop_malformed++;
		return true;
	}
	struct dev_qp *qp = dev_qp_by_qpn(dev, h.dest_qpn);

	if (!qp || qp->type != GSN_QPT_UD)
		dev->st.ud_drop_no_qp++;
	else if (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS)
		dev->st.ud_drop_state++;
	else if (h.qkey != qp->qkey)
		dev->st.ud_drop_qkey++;
	else
		ud_deliver(qp, src, &h, pdu + GSN_UD_WIRE_HDR_LEN);
	return true;
}

void dev_ud_stats(const struct gsnd_dev *dev, char *buf, size_t cap, size_t *off)
{
	const struct dev_stats *s = &dev->st;
	uint64_t drops = s->ud_drop_malformed + s->ud_drop_no_qp + s->ud_drop_state +
			 s->ud_drop_qkey + s->ud_drop_no_recv + s->ud_drop_short +
			 s->ud_drop_bad_recv;

	gsn_ctl_textf(buf, cap, off,
		      "dev.ud_sent=%llu\ndev.ud_send_errors=%llu\ndev.ud_received=%llu\n"
		      "dev.ud_drops=%llu\ndev.ud_drop_malformed=%llu\ndev.ud_drop_no_qp=%llu\n"
		      "dev.ud_drop_state=%llu\ndev.ud_drop_qkey=%llu\ndev.ud_drop_no_recv=%llu\n"
		      "dev.ud_drop_short=%llu\ndev.ud_drop_bad_recv=%llu\n",
		      (unsigned long long)s->ud_sent, (unsigned long long)s->ud_send_errors,
		      (unsigned long long)s->ud_received, (unsigned long long)drops,
		      (unsigned long long)s->ud_drop_malformed,
		      (unsigned long long)s->ud_drop_no_qp, (unsigned long long)s->ud_drop_state,
		      (unsigned long long)s->ud_drop_qkey, (unsigned long long)s->ud_drop_no_recv,
		      (unsigned long long)s->ud_drop_short, (unsigned long long)s->ud_drop_bad_recv);
}
