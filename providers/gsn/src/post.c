/* SPDX-License-Identifier: MIT */
/*
 * Posting: work requests become WQEs in the shared rings.  Each WQE is
 * built in full on the stack and copied into its slot, so gsnd never sees
 * stale reserved bytes; the producer index is published once per call
 * (release), and the doorbell is written only if gsnd asked for it
 * (need-wakeup, see gsn_qring_publish()).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gsn_priv.h"

#define SEND_FLAGS_ALL (GSN_SEND_SIGNALED | GSN_SEND_INLINE | GSN_SEND_FENCE | GSN_SEND_SOLICITED)

static void ring_doorbell(struct gsn_qp_priv *qp)
{
	uint64_t one = 1;

	if (write(qp->db_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, gsnd will wake anyway */
	}
}

static bool is_atomic(enum gsn_wr_opcode op)
{
	return op >= GSN_WR_ATOMIC_CMP_AND_SWP && op <= GSN_WR_ATOMIC_FETCH_CLEAR;
}

/* UD: SEND (+imm) to a unicast ULA (not zero, group bit clear); -EINVAL otherwise. */
static int encode_ud(const struct gsn_send_wr *wr, struct gsn_send_wqe *w)
{
	static const uint8_t zero[6];

	if ((wr->opcode != GSN_WR_SEND && wr->opcode != GSN_WR_SEND_WITH_IMM) ||
	    (wr->wr.ud.dest_ula[0] & 1) || memcmp(wr->wr.ud.dest_ula, zero, sizeof(zero)) == 0)
		return -EINVAL;
	memcpy(w->ud_dest_ula, wr->wr.ud.dest_ula, sizeof(w->ud_dest_ula));
	w->ud_dest_qpn = wr->wr.ud.remote_qpn;
	w->ud_qkey = wr->wr.ud.remote_qkey;
	return 0;
}

/* Builds the WQE for wr; -EINVAL if wr is not valid on this QP. */
static int encode_send(const struct gsn_qp_priv *qp, const struct gsn_send_wr *wr,
		       struct gsn_send_wqe *w)
{
	uint64_t total = 0;

	if ((unsigned)wr->opcode > GSN_WR_ATOMIC_FETCH_CLEAR || (wr->send_flags & ~SEND_FLAGS_ALL) ||
	    wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_send_sge ||
	    (wr->num_sge && !wr->sg_list))
		return -EINVAL;
	for (int i = 0; i < wr->num_sge; i++)
		total += wr->sg_list[i].length;
	if (total > qp->max_msg)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	if (qp->pub.qp_type == GSN_QPT_UD && encode_ud(wr, w))
		return -EINVAL;
	w->wr_id = wr->wr_id;
	w->opcode = (uint8_t)wr->opcode;
	w->flags = (uint8_t)(wr->send_flags | (qp->sq_sig_all ? GSN_SEND_SIGNALED : 0));
	switch (wr->opcode) {
	case GSN_WR_SEND_WITH_IMM:
	case GSN_WR_RDMA_WRITE_WITH_IMM:
		w->imm_data = wr->imm_data;
		break;
	default:
		break;
	}
	switch (wr->opcode) {
	case GSN_WR_RDMA_WRITE:
	case GSN_WR_RDMA_WRITE_WITH_IMM:
	case GSN_WR_RDMA_READ:
		w->remote_addr = wr->wr.rdma.remote_addr;
		w->rkey = wr->wr.rdma.rkey;
		break;
	default:
		break;
	}
	if (is_atomic(wr->opcode)) {
		if (wr->num_sge != 1 || wr->sg_list[0].length != 8 || (wr->wr.atomic.remote_addr & 7))
			return -EINVAL;
		w->remote_addr = wr->wr.atomic.remote_addr;
		w->rkey = wr->wr.atomic.rkey;
		if (wr->opcode == GSN_WR_ATOMIC_CMP_AND_SWP || wr->opcode == GSN_WR_ATOMIC_FETCH_AND_ADD)
			w->compare_add = wr->wr.atomic.compare_add;
		if (wr->opcode == GSN_WR_ATOMIC_CMP_AND_SWP || wr->opcode == GSN_WR_ATOMIC_SWAP)
			w->swap = wr->wr.atomic.swap;
	}
	if (wr->send_flags & GSN_SEND_INLINE) {
		/* Only for operations that carry data to the peer. */
		if (wr->opcode == GSN_WR_RDMA_READ || is_atomic(wr->opcode) ||
		    total > qp->cap.max_inline_data)
			return -EINVAL;
		uint8_t *p = w->inline_data;

		for (int i = 0; i < wr->num_sge; i++) {
			if (!wr->sg_list[i].length)
				continue;
			memcpy(p, (const void *)(uintptr_t)wr->sg_list[i].addr, wr->sg_list[i].length);
			p += wr->sg_list[i].length;
		}
		w->inline_len = (uint32_t)total;
		w->num_sge = 0;
		return 0;
	}
	w->num_sge = (uint8_t)wr->num_sge;
	if (wr->num_sge)
		memcpy(w->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(struct gsn_sge));
	return 0;
}

/*
 * Free send slots: a WQE holds its slot until its completion (or a later
 * signaled one's) is polled — never before gsnd consumed it, so this also
 * bounds the ring.
 */
static uint32_t sq_room(struct gsn_qp_priv *qp)
{
	uint32_t used = qp->sq.idx - atomic_load_explicit(&qp->sq_done, memory_order_acquire);

	return used >= qp->sq.size ? 0 : qp->sq.size - used;
}

int gsn_post_send(struct gsn_qp *pub, struct gsn_send_wr *wr, struct gsn_send_wr **bad_wr)
{
	struct gsn_qp_priv *qp = to_qp(pub);
	struct gsn_qring *r = &qp->sq;
	uint32_t room = 0, start;
	int err = 0;
	int state = atomic_load_explicit(&qp->state, memory_order_relaxed);

	if (state != GSN_QPS_RTS && state != GSN_QPS_SQD && state != GSN_QPS_ERR) {
		if (bad_wr)
			*bad_wr = wr;
		return -EINVAL;
	}
	pthread_mutex_lock(&qp->sq_lock);
	start = r->idx;
	for (; wr; wr = wr->next) {
		struct gsn_send_wqe w;

		if (room == 0 && (room = sq_room(qp)) == 0) {
			err = -ENOMEM;
			break;
		}
		err = encode_send(qp, wr, &w);
		if (err)
			break;
		struct gsn_sq_shadow *s = &qp->sshadow[r->idx & r->mask];

		s->wr_id = w.wr_id;
		s->signaled = (w.flags & GSN_WR_F_SIGNALED) != 0;
		memcpy(gsn_qring_slot(r, r->idx), &w, sizeof(w));
		r->idx++;
		room--;
	}
	if (r->idx != start && gsn_qring_publish(r))
		ring_doorbell(qp);
	pthread_mutex_unlock(&qp->sq_lock);
	if (err && bad_wr)
		*bad_wr = wr;
	return err;
}

int gsn_post_recv(struct gsn_qp *pub, struct gsn_recv_wr *wr, struct gsn_recv_wr **bad_wr)
{
	struct gsn_qp_priv *qp = to_qp(pub);
	struct gsn_qring *r = &qp->rq;
	uint32_t start;
	int err = 0;

	if (atomic_load_explicit(&qp->state, memory_order_relaxed) == GSN_QPS_RESET) {
		if (bad_wr)
			*bad_wr = wr;
		return -EINVAL;
	}
	pthread_mutex_lock(&qp->rq_lock);
	start = r->idx;
	for (; wr; wr = wr->next) {
		/*
		 * A receive holds its slot until its completion is polled
		 * (rq_done), which is never before gsnd consumed it: this bounds
		 * the ring and the shadow alike.
		 */
		if (r->idx - atomic_load_explicit(&qp->rq_done, memory_order_acquire) >= r->size) {
			err = -ENOMEM;
			break;
		}
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->cap.max_recv_sge ||
		    (wr->num_sge && !wr->sg_list)) {
			err = -EINVAL;
			break;
		}
		struct gsn_recv_wqe w;
		struct gsn_rq_shadow *s = &qp->shadow[r->idx & r->mask];

		memset(&w, 0, sizeof(w));
		w.wr_id = wr->wr_id;
		w.num_sge = (uint32_t)wr->num_sge;
		if (wr->num_sge)
			memcpy(w.sge, wr->sg_list, (size_t)wr->num_sge * sizeof(struct gsn_sge));
		s->num_sge = w.num_sge;
		memcpy(s->sge, w.sge, sizeof(s->sge));
		memcpy(gsn_qring_slot(r, r->idx), &w, sizeof(w));
		r->idx++;
	}
	if (r->idx != start && gsn_qring_publish(r))
		ring_doorbell(qp);
	pthread_mutex_unlock(&qp->rq_lock);
	if (err && bad_wr)
		*bad_wr = wr;
	return err;
}
