/* SPDX-License-Identifier: MIT */
/*
 * fi_atomic.c — the gsn provider's atomics.
 *
 * Every atomic is executed in software by the target's provider: the
 * initiator sends ATOMIC {op, datatype, count, addr, key, operands,
 * compares}; the target (its progress thread or its application's calls)
 * checks the MR, applies the operation with gsnfi_atomic_apply() under
 * its domain lock and answers ATOMIC_RESP {status, old values}.  The
 * device's own FETCHOP is never used, so all of the provider's atomics
 * are atomic with respect to each other; they are not atomic against
 * RDMA writes or CPU stores to the same bytes.
 *
 * One operation is one message: count is limited to what fits in an
 * eager buffer (fi_atomicvalid says how many).
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "fi_atomic_exec.h"
#include "gsn_fi_ep.h"

struct gsnfi_atomic_args {
	const struct fi_msg_atomic *msg;
	const struct fi_ioc *comparev;
	size_t compare_count;
	struct fi_ioc *resultv;
	size_t result_count;
	uint64_t flags;
	enum gsnfi_atomic_kind kind;
};

/* Elements one message carries: operands (and compares) fill an eager buffer. */
size_t gsnfi_atomic_max_count(size_t elem_size, int kind)
{
	size_t eager = gsnfi_params.eager_size ? gsnfi_params.eager_size : 8192;

	if (!elem_size)
		return 0;
	return eager / (elem_size * (kind == GSNFI_ATOMIC_COMPARE ? 2 : 1));
}

static size_t gsnfi_ioc_count(const struct fi_ioc *ioc, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ioc[i].count;
	return c;
}

/* Gathers ioc elements into iovecs behind the request header. */
static size_t gsnfi_ioc_to_iov(const struct fi_ioc *ioc, size_t n, size_t elem, struct iovec *iov)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!ioc[i].count)
			continue;
		iov[k].iov_base = ioc[i].addr;
		iov[k].iov_len = ioc[i].count * elem;
		k++;
	}
	return k;
}

static int gsnfi_atomic_check(const struct gsnfi_atomic_args *a, size_t *elem, size_t *count)
{
	const struct fi_msg_atomic *msg = a->msg;
	int ret;

	if (!msg || msg->iov_count > GSNFI_MAX_IOV || (msg->iov_count && !msg->msg_iov) ||
	    msg->rma_iov_count != 1 || !msg->rma_iov)
		return -FI_EINVAL;
	ret = gsnfi_atomic_query(msg->datatype, msg->op, a->kind, elem);
	if (ret)
		return ret;
	*count = gsnfi_ioc_count(msg->msg_iov, msg->iov_count);
	if (!*count || *count > gsnfi_atomic_max_count(*elem, a->kind))
		return *count ? -FI_EMSGSIZE : -FI_EINVAL;
	if (msg->op != FI_ATOMIC_READ) {
		for (size_t i = 0; i < msg->iov_count; i++) {
			if (msg->msg_iov[i].count && !msg->msg_iov[i].addr)
				return -FI_EINVAL;
		}
	}
	if (a->kind == GSNFI_ATOMIC_COMPARE &&
	    (!a->comparev || a->compare_count > GSNFI_MAX_IOV ||
	     gsnfi_ioc_count(a->comparev, a->compare_count) != *count))
		return -FI_EINVAL;
	if (a->kind != GSNFI_ATOMIC_PLAIN &&
	    (!a->resultv || a->result_count > GSNFI_MAX_IOV ||
	     gsnfi_ioc_count(a->resultv, a->result_count) < *count))
		return -FI_EINVAL;
	return 0;
}

static int gsnfi_atomic_prep(struct gsnfi_op *op, const struct gsnfi_atomic_args *a, size_t elem,
			     size_t count)
{
	const struct fi_msg_atomic *msg = a->msg;
	struct gsnfi_wire_atomic req;
	struct iovec iov[2 * GSNFI_MAX_IOV];
	size_t n = 0, bytes = count * elem, payload = 0;
	int ret;

	ret = gsnfi_op_cookie_locked(op);
	if (ret)
		return ret;
	memset(&req, 0, sizeof(req));
	gsnfi_fill_hdr(&req.hdr, GSNFI_WOP_ATOMIC, 0, 0, op->cookie, count);
	req.op = (uint8_t)msg->op;
	req.datatype = (uint8_t)msg->datatype;
	req.kind = (uint8_t)a->kind;
	req.addr = htole64(msg->rma_iov[0].addr);
	req.key = htole64(msg->rma_iov[0].key);
	if (msg->op != FI_ATOMIC_READ) {
		n += gsnfi_ioc_to_iov(msg->msg_iov, msg->iov_count, elem, iov);
		payload += bytes;
	}
	if (a->kind == GSNFI_ATOMIC_COMPARE) {
		n += gsnfi_ioc_to_iov(a->comparev, a->compare_count, elem, iov + n);
		payload += bytes;
	}
	for (size_t i = 0; a->kind != GSNFI_ATOMIC_PLAIN && i < a->result_count; i++) {
		if (!a->resultv[i].count)
			continue;
		op->result[op->nresult].iov_base = a->resultv[i].addr;
		op->result[op->nresult].iov_len = a->resultv[i].count * elem;
		op->nresult++;
	}
	op->result_len = a->kind != GSNFI_ATOMIC_PLAIN ? bytes : 0;
	op->wait_peer = true;
	ret = gsnfi_op_prep_send_locked(op, &req, sizeof(req), iov, n, payload);
	if (ret == -FI_EAGAIN) {
		gsnfi_ep_progress_once_locked(op->ep);
		ret = gsnfi_op_prep_send_locked(op, &req, sizeof(req), iov, n, payload);
	}
	return ret;
}

static ssize_t gsnfi_atomic_locked(struct gsnfi_ep *ep, const struct gsnfi_atomic_args *a)
{
	const struct gsnfi_addr *peer;
	struct gsnfi_conn *conn;
	struct gsnfi_op *op;
	size_t elem = 0, count = 0;
	int ret;

	ret = gsnfi_ep_check_locked(ep);
	if (ret)
		return ret;
	ret = gsnfi_atomic_check(a, &elem, &count);
	if (ret)
		return ret;
	peer = gsnfi_ep_peer_locked(ep, a->msg->addr);
	if (!peer)
		return -FI_EINVAL;
	if (ep->tx_inflight >= ep->tx_size) {
		gsnfi_ep_progress_once_locked(ep);
		if (ep->tx_inflight >= ep->tx_size)
			return -FI_EAGAIN;
	}
	op = gsnfi_op_alloc_locked(ep, GSNFI_OPK_ATOMIC, true);
	if (!op)
		return -FI_ENOMEM;
	op->flags = a->flags;
	op->cq_flags = FI_ATOMIC | (a->kind == GSNFI_ATOMIC_PLAIN ? FI_WRITE : FI_READ);
	op->slot = a->kind == GSNFI_ATOMIC_PLAIN ? GSNFI_CNTR_WRITE : GSNFI_CNTR_READ;
	op->context = a->msg->context;
	op->len = count * elem;
	ret = gsnfi_atomic_prep(op, a, elem, count);
	conn = ret ? NULL : gsnfi_cm_get_conn_locked(ep, peer, &ret);
	if (!conn) {
		gsnfi_op_free_locked(op);
		return ret;
	}
	gsnfi_op_submit_locked(conn, op);
	return 0;
}

static ssize_t gsnfi_atomic_call(struct fid_ep *ep_fid, const struct gsnfi_atomic_args *a)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	ssize_t ret;

	gsnfi_domain_note_app(ep->domain);
	gsnfi_lock(ep->domain);
	ret = gsnfi_atomic_locked(ep, a);
	gsnfi_unlock(ep->domain);
	return ret;
}

/* ---- the initiator's answer ------------------------------------------------------------ */

void gsnfi_atomic_resp_locked(struct gsnfi_op *op, int status, const uint8_t *result, size_t len)
{
	if (status) {
		op->error = status;
	} else if (len != op->result_len) {
		op->error = FI_EIO; /* not what we asked for */
	} else {
		size_t off = 0;

		for (uint8_t i = 0; i < op->nresult && off < len; i++) {
			size_t n = op->result[i].iov_len;

			if (n > len - off)
				n = len - off;
			memcpy(op->result[i].iov_base, result + off, n);
			off += n;
		}
	}
	gsnfi_op_answered_locked(op);
}

/* ---- the target's side ---------------------------------------------------------------------- */

static bool gsnfi_atomic_kind_fits(enum fi_op op, enum gsnfi_atomic_kind kind)
{
	bool compare = op >= FI_CSWAP && op <= FI_MSWAP;

	if (kind == GSNFI_ATOMIC_COMPARE)
		return compare;
	if (compare)
		return false;
	return op != FI_ATOMIC_READ || kind == GSNFI_ATOMIC_FETCH;
}

static void gsnfi_atomic_answer(struct gsnfi_conn *conn, uint64_t cookie, int status,
				const void *result, size_t len)
{
	struct gsnfi_wire_hdr h;

	gsnfi_fill_hdr(&h, GSNFI_WOP_ATOMIC_RESP, 0, (uint64_t)status, cookie, status ? 0 : len);
	if (gsnfi_send_ctrl_locked(conn, &h, sizeof(h), result, status ? 0 : len))
		GSNFI_WARN(FI_LOG_EP_DATA, "cannot answer an atomic\n");
}

/* Executes a checked request on local memory; 0 or a positive FI_E*. */
static int gsnfi_atomic_execute(struct gsnfi_ep *ep, const struct gsnfi_wire_atomic *req,
				const uint8_t *payload, size_t plen, void *result)
{
	enum fi_op op = (enum fi_op)req->op;
	enum fi_datatype dt = (enum fi_datatype)req->datatype;
	enum gsnfi_atomic_kind kind = (enum gsnfi_atomic_kind)req->kind;
	size_t elem = 0, count = req->hdr.size, bytes, expect;
	uint64_t access = op == FI_ATOMIC_READ ? FI_REMOTE_READ : FI_REMOTE_WRITE;
	const uint8_t *operand = NULL, *compare = NULL;
	struct gsnfi_mr *mr;
	void *local = NULL;
	int err = 0, ret;

	if (req->kind > GSNFI_ATOMIC_COMPARE || !gsnfi_atomic_kind_fits(op, kind) ||
	    gsnfi_atomic_query(dt, op, kind, &elem))
		return FI_EOPNOTSUPP;
	if (!count || count > gsnfi_atomic_max_count(elem, kind))
		return FI_EINVAL;
	bytes = count * elem;
	expect = (op == FI_ATOMIC_READ ? 0 : bytes) + (kind == GSNFI_ATOMIC_COMPARE ? bytes : 0);
	if (plen != expect)
		return FI_EINVAL;
	if (op != FI_ATOMIC_READ)
		operand = payload;
	if (kind == GSNFI_ATOMIC_COMPARE)
		compare = payload + bytes;
	mr = gsnfi_mr_lookup_locked(ep->domain, req->key, req->addr, bytes, access, &local, &err);
	if (!mr)
		return err ? (err < 0 ? -err : err) : FI_EACCES;
	ret = gsnfi_atomic_apply(op, dt, local, operand, compare, result, count);
	if (ret)
		return -ret;
	if (mr->rma_cntr && (mr->cntr_flags & access))
		gsnfi_cntr_inc_locked(mr->rma_cntr);
	gsnfi_ep_cntr_inc_locked(ep, op == FI_ATOMIC_READ ? GSNFI_CNTR_REMOTE_READ
							   : GSNFI_CNTR_REMOTE_WRITE);
	return 0;
}

void gsnfi_atomic_target_locked(struct gsnfi_conn *conn, const struct gsnfi_wire_atomic *req,
				const uint8_t *payload, size_t payload_len)
{
	struct gsnfi_ep *ep = conn->ep;
	size_t bytes = 0;
	void *result = NULL;
	int status;

	/* room for the old values: at most an eager buffer (checked below) */
	if (req->kind != GSNFI_ATOMIC_PLAIN) {
		result = malloc(ep->eager_size ? ep->eager_size : 1);
		if (!result) {
			gsnfi_atomic_answer(conn, req->hdr.data, FI_ENOMEM, NULL, 0);
			return;
		}
	}
	status = gsnfi_atomic_execute(ep, req, payload, payload_len, result);
	if (!status && result) {
		size_t elem = 0;

		gsnfi_atomic_query((enum fi_datatype)req->datatype, (enum fi_op)req->op,
				   (enum gsnfi_atomic_kind)req->kind, &elem);
		bytes = req->hdr.size * elem;
	}
	if (status)
		ep->stats.rx_drops += status == FI_EINVAL;
	gsnfi_atomic_answer(conn, req->hdr.data, status, result, bytes);
	free(result);
}

/* ---- fi_ops_atomic ---------------------------------------------------------------------------- */

static ssize_t gsnfi_atomic_writemsg(struct fid_ep *ep_fid, const struct fi_msg_atomic *msg,
				     uint64_t flags)
{
	struct gsnfi_atomic_args a = {.msg = msg, .flags = flags, .kind = GSNFI_ATOMIC_PLAIN};

	return gsnfi_atomic_call(ep_fid, &a);
}

static ssize_t gsnfi_atomic_writev(struct fid_ep *ep_fid, const struct fi_ioc *iov, void **desc,
				   size_t count, fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				   enum fi_datatype datatype, enum fi_op op, void *context)
{
	struct fi_rma_ioc rma = {.addr = addr, .count = iov ? gsnfi_ioc_count(iov, count) : 0,
				 .key = key};
	struct fi_msg_atomic msg = {
		.msg_iov = iov, .desc = desc, .iov_count = count, .addr = dest_addr,
		.rma_iov = &rma, .rma_iov_count = 1, .datatype = datatype, .op = op,
		.context = context,
	};

	return gsnfi_atomic_writemsg(ep_fid, &msg, gsnfi_ep_of(ep_fid)->tx_op_flags);
}

static ssize_t gsnfi_atomic_write(struct fid_ep *ep_fid, const void *buf, size_t count,
				  void *desc, fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				  enum fi_datatype datatype, enum fi_op op, void *context)
{
	struct fi_ioc ioc = {.addr = (void *)buf, .count = count};

	return gsnfi_atomic_writev(ep_fid, &ioc, &desc, 1, dest_addr, addr, key, datatype, op,
				   context);
}

static ssize_t gsnfi_atomic_inject(struct fid_ep *ep_fid, const void *buf, size_t count,
				   fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				   enum fi_datatype datatype, enum fi_op op)
{
	struct fi_ioc ioc = {.addr = (void *)buf, .count = count};
	struct fi_rma_ioc rma = {.addr = addr, .count = count, .key = key};
	struct fi_msg_atomic msg = {
		.msg_iov = &ioc, .iov_count = 1, .addr = dest_addr, .rma_iov = &rma,
		.rma_iov_count = 1, .datatype = datatype, .op = op,
	};

	return gsnfi_atomic_writemsg(ep_fid, &msg,
				     (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) |
					     FI_INJECT);
}

static ssize_t gsnfi_atomic_readwritemsg(struct fid_ep *ep_fid, const struct fi_msg_atomic *msg,
					 struct fi_ioc *resultv, void **result_desc,
					 size_t result_count, uint64_t flags)
{
	struct gsnfi_atomic_args a = {
		.msg = msg, .resultv = resultv, .result_count = result_count, .flags = flags,
		.kind = GSNFI_ATOMIC_FETCH,
	};

	(void)result_desc; /* results are copied by the provider */
	return gsnfi_atomic_call(ep_fid, &a);
}

static ssize_t gsnfi_atomic_readwritev(struct fid_ep *ep_fid, const struct fi_ioc *iov,
				       void **desc, size_t count, struct fi_ioc *resultv,
				       void **result_desc, size_t result_count,
				       fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				       enum fi_datatype datatype, enum fi_op op, void *context)
{
	struct fi_rma_ioc rma = {.addr = addr, .count = iov ? gsnfi_ioc_count(iov, count) : 0,
				 .key = key};
	struct fi_msg_atomic msg = {
		.msg_iov = iov, .desc = desc, .iov_count = count, .addr = dest_addr,
		.rma_iov = &rma, .rma_iov_count = 1, .datatype = datatype, .op = op,
		.context = context,
	};

	return gsnfi_atomic_readwritemsg(ep_fid, &msg, resultv, result_desc, result_count,
					 gsnfi_ep_of(ep_fid)->tx_op_flags);
}

static ssize_t gsnfi_atomic_readwrite(struct fid_ep *ep_fid, const void *buf, size_t count,
				      void *desc, void *result, void *result_desc,
				      fi_addr_t dest_addr, uint64_t addr, uint64_t key,
				      enum fi_datatype datatype, enum fi_op op, void *context)
{
	struct fi_ioc ioc = {.addr = (void *)buf, .count = count};
	struct fi_ioc res = {.addr = result, .count = count};

	return gsnfi_atomic_readwritev(ep_fid, &ioc, &desc, 1, &res, &result_desc, 1, dest_addr,
				       addr, key, datatype, op, context);
}

static ssize_t gsnfi_atomic_compwritemsg(struct fid_ep *ep_fid, const struct fi_msg_atomic *msg,
					 const struct fi_ioc *comparev, void **compare_desc,
					 size_t compare_count, struct fi_ioc *resultv,
					 void **result_desc, size_t result_count, uint64_t flags)
{
	struct gsnfi_atomic_args a = {
		.msg = msg, .comparev = comparev, .compare_count = compare_count,
		.resultv = resultv, .result_count = result_count, .flags = flags,
		.kind = GSNFI_ATOMIC_COMPARE,
	};

	(void)compare_desc;
	(void)result_desc;
	return gsnfi_atomic_call(ep_fid, &a);
}

static ssize_t gsnfi_atomic_compwritev(struct fid_ep *ep_fid, const struct fi_ioc *iov,
				       void **desc, size_t count, const struct fi_ioc *comparev,
				       void **compare_desc, size_t compare_count,
				       struct fi_ioc *resultv, void **result_desc,
				       size_t result_count, fi_addr_t dest_addr, uint64_t addr,
				       uint64_t key, enum fi_datatype datatype, enum fi_op op,
				       void *context)
{
	struct fi_rma_ioc rma = {.addr = addr, .count = iov ? gsnfi_ioc_count(iov, count) : 0,
				 .key = key};
	struct fi_msg_atomic msg = {
		.msg_iov = iov, .desc = desc, .iov_count = count, .addr = dest_addr,
		.rma_iov = &rma, .rma_iov_count = 1, .datatype = datatype, .op = op,
		.context = context,
	};

	return gsnfi_atomic_compwritemsg(ep_fid, &msg, comparev, compare_desc, compare_count,
					 resultv, result_desc, result_count,
					 gsnfi_ep_of(ep_fid)->tx_op_flags);
}

static ssize_t gsnfi_atomic_compwrite(struct fid_ep *ep_fid, const void *buf, size_t count,
				      void *desc, const void *compare, void *compare_desc,
				      void *result, void *result_desc, fi_addr_t dest_addr,
				      uint64_t addr, uint64_t key, enum fi_datatype datatype,
				      enum fi_op op, void *context)
{
	struct fi_ioc ioc = {.addr = (void *)buf, .count = count};
	struct fi_ioc cmp = {.addr = (void *)compare, .count = count};
	struct fi_ioc res = {.addr = result, .count = count};

	return gsnfi_atomic_compwritev(ep_fid, &ioc, &desc, 1, &cmp, &compare_desc, 1, &res,
				       &result_desc, 1, dest_addr, addr, key, datatype, op,
				       context);
}

static int gsnfi_atomic_valid(struct fid_ep *ep_fid, enum fi_datatype dt, enum fi_op op,
			      enum gsnfi_atomic_kind kind, size_t *count)
{
	size_t elem = 0;
	int ret;

	(void)ep_fid;
	if (!gsnfi_atomic_kind_fits(op, kind))
		return -FI_EOPNOTSUPP;
	ret = gsnfi_atomic_query(dt, op, kind, &elem);
	if (ret)
		return ret;
	if (count)
		*count = gsnfi_atomic_max_count(elem, kind);
	return 0;
}

static int gsnfi_atomic_writevalid(struct fid_ep *ep_fid, enum fi_datatype dt, enum fi_op op,
				   size_t *count)
{
	return gsnfi_atomic_valid(ep_fid, dt, op, GSNFI_ATOMIC_PLAIN, count);
}

static int gsnfi_atomic_readwritevalid(struct fid_ep *ep_fid, enum fi_datatype dt, enum fi_op op,
				       size_t *count)
{
	return gsnfi_atomic_valid(ep_fid, dt, op, GSNFI_ATOMIC_FETCH, count);
}

static int gsnfi_atomic_compwritevalid(struct fid_ep *ep_fid, enum fi_datatype dt,
				       enum fi_op op, size_t *count)
{
	return gsnfi_atomic_valid(ep_fid, dt, op, GSNFI_ATOMIC_COMPARE, count);
}

struct fi_ops_atomic gsnfi_atomic_ops = {
	.size = sizeof(struct fi_ops_atomic),
	.write = gsnfi_atomic_write,
	.writev = gsnfi_atomic_writev,
	.writemsg = gsnfi_atomic_writemsg,
	.inject = gsnfi_atomic_inject,
	.readwrite = gsnfi_atomic_readwrite,
	.readwritev = gsnfi_atomic_readwritev,
	.readwritemsg = gsnfi_atomic_readwritemsg,
	.compwrite = gsnfi_atomic_compwrite,
	.compwritev = gsnfi_atomic_compwritev,
	.compwritemsg = gsnfi_atomic_compwritemsg,
	.writevalid = gsnfi_atomic_writevalid,
	.readwritevalid = gsnfi_atomic_readwritevalid,
	.compwritevalid = gsnfi_atomic_compwritevalid,
};
