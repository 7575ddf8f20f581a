/* SPDX-License-Identifier: MIT */
/*
 * fi_rma.c — fi_write/fi_read and friends of the gsn provider.
 *
 * RMA maps to the device's RDMA WRITE and READ on the peer's QP: the
 * remote address is used as given (virtual, or an offset for zero-based
 * MRs: the device knows which), the rkey is gsnfi_rkey_of_key() of the
 * key.  A WRITE's device completion means the data is placed at the
 * target, so FI_DELIVERY_COMPLETE holds with no extra message.
 *
 * Remote CQ data (fi_writedata) and remote counters (FI_RMA_EVENT) need
 * the target's provider: a NOTIFY message follows the WRITE on the same
 * QP (the link delivers both in order), and the target reports the event
 * when it arrives.
 */
#include <endian.h>
#include <string.h>

#include "gsn_fi_ep.h"

struct gsnfi_rma_args {
	const struct iovec *iov;
	void **desc;
	size_t count;
	fi_addr_t addr;
	const struct fi_rma_iov *rma_iov;
	size_t rma_count;
	void *context;
	uint64_t data;
	uint64_t flags;
	bool read;
};

static size_t gsnfi_sum_iov(const struct iovec *iov, size_t count)
{
	size_t len = 0;

	for (size_t i = 0; i < count; i++)
		len += iov[i].iov_len;
	return len;
}

/* The NOTIFY work request that tells the target what happened. */
static int gsnfi_rma_add_notify(struct gsnfi_op *op, const struct gsnfi_rma_args *a, size_t len)
{
	struct gsnfi_wire_notify n;
	uint16_t wflags = a->read ? GSNFI_WF_READ : GSNFI_WF_WRITE;
	struct gsnfi_wr *w;

	if (!a->read && (a->flags & FI_REMOTE_CQ_DATA))
		wflags |= GSNFI_WF_CQ_DATA;
	memset(&n, 0, sizeof(n));
	gsnfi_fill_hdr(&n.hdr, GSNFI_WOP_NOTIFY, wflags, 0, a->data, len);
	n.key = htole64(a->rma_iov[0].key);
	n.addr = htole64(a->rma_iov[0].addr);
	if (op->nwr >= GSNFI_OP_MAX_WR || sizeof(n) > op->ep->max_inline)
		return -FI_EMSGSIZE;
	w = &op->wr[op->nwr++];
	memset(w, 0, sizeof(*w));
	w->opcode = GSN_WR_SEND;
	w->inl = true;
	w->inl_len = sizeof(n);
	memcpy(op->inl, &n, sizeof(n));
	return 0;
}

static int gsnfi_rma_prep(struct gsnfi_op *op, const struct gsnfi_rma_args *a, size_t len)
{
	struct gsnfi_ep *ep = op->ep;
	struct gsnfi_wire_seg seg[GSNFI_MAX_IOV];
	struct gsn_sge sge[GSNFI_MAX_IOV];
	size_t nsge = 0;
	int ret;

	for (size_t i = 0; i < a->rma_count; i++) {
		seg[i].addr = a->rma_iov[i].addr;
		seg[i].len = a->rma_iov[i].len;
		seg[i].rkey = gsnfi_rkey_of_key(ep->domain, a->rma_iov[i].key);
	}
	if (a->flags & FI_INJECT) {
		ret = gsnfi_copybuf_get_locked(ep, len, &op->copy);
		if (ret == -FI_EAGAIN) {
			gsnfi_ep_progress_once_locked(ep);
			ret = gsnfi_copybuf_get_locked(ep, len, &op->copy);
		}
		if (ret)
			return ret;
		for (size_t i = 0, off = 0; i < a->count; i++) {
			memcpy(op->copy.ptr + off, a->iov[i].iov_base, a->iov[i].iov_len);
			off += a->iov[i].iov_len;
		}
		if (len) {
			sge[0].addr = (uintptr_t)op->copy.ptr;
			sge[0].length = (uint32_t)len;
			sge[0].lkey = op->copy.lkey;
			nsge = 1;
		}
	} else {
		ret = gsnfi_op_map_iov_locked(op, a->iov, a->desc, a->count,
					      GSN_ACCESS_LOCAL_WRITE, sge, &nsge);
		if (ret)
			return ret;
	}
	ret = gsnfi_op_plan_rdma(op, a->read ? GSN_WR_RDMA_READ : GSN_WR_RDMA_WRITE, sge, nsge,
				 seg, a->rma_count, len);
	if (ret)
		return ret;
	if (a->flags & FI_FENCE)
		op->wr[0].flags |= GSN_SEND_FENCE;
	if ((!a->read && (a->flags & FI_REMOTE_CQ_DATA)) || (ep->caps & FI_RMA_EVENT))
		ret = gsnfi_rma_add_notify(op, a, len);
	return ret;
}

static ssize_t gsnfi_rma_locked(struct gsnfi_ep *ep, const struct gsnfi_rma_args *a)
{
	const struct gsnfi_addr *peer;
	struct gsnfi_conn *conn;
	struct gsnfi_op *op;
	size_t len, rlen = 0;
	int ret;

	ret = gsnfi_ep_check_locked(ep);
	if (ret)
		return ret;
	if (a->count > GSNFI_MAX_IOV || (a->count && !a->iov) || !a->rma_iov ||
	    a->rma_count < 1 || a->rma_count > GSNFI_MAX_IOV)
		return -FI_EINVAL;
	len = gsnfi_sum_iov(a->iov, a->count);
	for (size_t i = 0; i < a->rma_count; i++)
		rlen += a->rma_iov[i].len;
	if (len != rlen)
		return -FI_EINVAL;
	if (len > ep->max_msg_size)
		return -FI_EMSGSIZE;
	if ((a->flags & FI_INJECT) && (a->read || len > ep->inject_size))
		return a->read ? -FI_EINVAL : -FI_EMSGSIZE;
	peer = gsnfi_ep_peer_locked(ep, a->addr);
	if (!peer)
		return -FI_EINVAL;
	if (ep->tx_inflight >= ep->tx_size) {
		gsnfi_ep_progress_once_locked(ep);
		if (ep->tx_inflight >= ep->tx_size)
			return -FI_EAGAIN;
	}
	op = gsnfi_op_alloc_locked(ep, a->read ? GSNFI_OPK_READ : GSNFI_OPK_WRITE, true);
	if (!op)
		return -FI_ENOMEM;
	op->flags = a->flags;
	op->cq_flags = FI_RMA | (a->read ? FI_READ : FI_WRITE);
	op->slot = a->read ? GSNFI_CNTR_READ : GSNFI_CNTR_WRITE;
	op->context = a->context;
	op->len = len;
	ret = gsnfi_rma_prep(op, a, len);
	conn = ret ? NULL : gsnfi_cm_get_conn_locked(ep, peer, &ret);
	if (!conn) {
		gsnfi_op_free_locked(op);
		return ret;
	}
	gsnfi_op_submit_locked(conn, op);
	return 0;
}

static ssize_t gsnfi_rma(struct fid_ep *ep_fid, const struct gsnfi_rma_args *a)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	ssize_t ret;

	gsnfi_domain_note_app(ep->domain);
	gsnfi_lock(ep->domain);
	ret = gsnfi_rma_locked(ep, a);
	gsnfi_unlock(ep->domain);
	return ret;
}

/* ---- the target's side: NOTIFY ---------------------------------------------------------- */

void gsnfi_rma_notify_locked(struct gsnfi_ep *ep, const struct gsnfi_wire_notify *n)
{
	bool write = (n->hdr.flags & GSNFI_WF_WRITE) != 0;
	uint64_t access = write ? FI_REMOTE_WRITE : FI_REMOTE_READ;
	struct gsnfi_mr *mr;
	void *local = NULL;
	int err = 0;

	if (write == ((n->hdr.flags & GSNFI_WF_READ) != 0)) {
		ep->stats.rx_drops++;
		return;
	}
	/* The device checked and did the access; this only finds the MR
	 * whose counter counts it. */
	mr = gsnfi_mr_lookup_locked(ep->domain, n->key, n->addr, n->hdr.size, access, &local, &err);
	if (mr && mr->rma_cntr && (mr->cntr_flags & access))
		gsnfi_cntr_inc_locked(mr->rma_cntr);
	gsnfi_ep_cntr_inc_locked(ep, write ? GSNFI_CNTR_REMOTE_WRITE : GSNFI_CNTR_REMOTE_READ);
	if (write && (n->hdr.flags & GSNFI_WF_CQ_DATA) && ep->rx_cq)
		gsnfi_cq_report_locked(ep->rx_cq, NULL, FI_REMOTE_CQ_DATA | FI_RMA | FI_REMOTE_WRITE,
				       n->hdr.size, mr ? local : NULL, n->hdr.data, 0,
				       FI_ADDR_NOTAVAIL);
}

/* ---- fi_ops_rma ------------------------------------------------------------------------------ */

static ssize_t gsnfi_rma_read(struct fid_ep *ep_fid, void *buf, size_t len, void *desc,
			      fi_addr_t src_addr, uint64_t addr, uint64_t key, void *context)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct fi_rma_iov rma = {.addr = addr, .len = len, .key = key};
	struct gsnfi_rma_args a = {
		.iov = &iov, .desc = &desc, .count = 1, .addr = src_addr, .rma_iov = &rma,
		.rma_count = 1, .context = context, .flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
		.read = true,
	};

	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_readv(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
			       size_t count, fi_addr_t src_addr, uint64_t addr, uint64_t key,
			       void *context)
{
	struct fi_rma_iov rma = {.addr = addr, .len = gsnfi_sum_iov(iov, count), .key = key};
	struct gsnfi_rma_args a = {
		.iov = iov, .desc = desc, .count = count, .addr = src_addr, .rma_iov = &rma,
		.rma_count = 1, .context = context, .flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
		.read = true,
	};

	if (count && !iov)
		return -FI_EINVAL;
	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_readmsg(struct fid_ep *ep_fid, const struct fi_msg_rma *msg,
				 uint64_t flags)
{
	struct gsnfi_rma_args a;

	if (!msg)
		return -FI_EINVAL;
	a = (struct gsnfi_rma_args){
		.iov = msg->msg_iov, .desc = msg->desc, .count = msg->iov_count, .addr = msg->addr,
		.rma_iov = msg->rma_iov, .rma_count = msg->rma_iov_count, .context = msg->context,
		.data = msg->data, .flags = flags, .read = true,
	};
	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_write(struct fid_ep *ep_fid, const void *buf, size_t len, void *desc,
			       fi_addr_t dest_addr, uint64_t addr, uint64_t key, void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov rma = {.addr = addr, .len = len, .key = key};
	struct gsnfi_rma_args a = {
		.iov = &iov, .desc = &desc, .count = 1, .addr = dest_addr, .rma_iov = &rma,
		.rma_count = 1, .context = context, .flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
	};

	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_writev(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
				size_t count, fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				void *context)
{
	struct fi_rma_iov rma = {.addr = addr, .len = gsnfi_sum_iov(iov, count), .key = key};
	struct gsnfi_rma_args a = {
		.iov = iov, .desc = desc, .count = count, .addr = dest_addr, .rma_iov = &rma,
		.rma_count = 1, .context = context, .flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
	};

	if (count && !iov)
		return -FI_EINVAL;
	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_writemsg(struct fid_ep *ep_fid, const struct fi_msg_rma *msg,
				  uint64_t flags)
{
	struct gsnfi_rma_args a;

	if (!msg)
		return -FI_EINVAL;
	a = (struct gsnfi_rma_args){
		.iov = msg->msg_iov, .desc = msg->desc, .count = msg->iov_count, .addr = msg->addr,
		.rma_iov = msg->rma_iov, .rma_count = msg->rma_iov_count, .context = msg->context,
		.data = msg->data, .flags = flags,
	};
	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_inject(struct fid_ep *ep_fid, const void *buf, size_t len,
				fi_addr_t dest_addr, uint64_t addr, uint64_t key)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov rma = {.addr = addr, .len = len, .key = key};
	struct gsnfi_rma_args a = {
		.iov = &iov, .count = 1, .addr = dest_addr, .rma_iov = &rma, .rma_count = 1,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT,
	};

	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_writedata(struct fid_ep *ep_fid, const void *buf, size_t len, void *desc,
				   uint64_t data, fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				   void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov rma = {.addr = addr, .len = len, .key = key};
	struct gsnfi_rma_args a = {
		.iov = &iov, .desc = &desc, .count = 1, .addr = dest_addr, .rma_iov = &rma,
		.rma_count = 1, .context = context, .data = data,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags | FI_REMOTE_CQ_DATA,
	};

	return gsnfi_rma(ep_fid, &a);
}

static ssize_t gsnfi_rma_injectdata(struct fid_ep *ep_fid, const void *buf, size_t len,
				    uint64_t data, fi_addr_t dest_addr, uint64_t addr, uint64_t key)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct fi_rma_iov rma = {.addr = addr, .len = len, .key = key};
	struct gsnfi_rma_args a = {
		.iov = &iov, .count = 1, .addr = dest_addr, .rma_iov = &rma, .rma_count = 1,
		.data = data,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT |
			 FI_REMOTE_CQ_DATA,
	};

	return gsnfi_rma(ep_fid, &a);
}

struct fi_ops_rma gsnfi_rma_ops = {
	.size = sizeof(struct fi_ops_rma),
	.read = gsnfi_rma_read,
	.readv = gsnfi_rma_readv,
	.readmsg = gsnfi_rma_readmsg,
	.write = gsnfi_rma_write,
	.writev = gsnfi_rma_writev,
	.writemsg = gsnfi_rma_writemsg,
	.inject = gsnfi_rma_inject,
	.writedata = gsnfi_rma_writedata,
	.injectdata = gsnfi_rma_injectdata,
};
