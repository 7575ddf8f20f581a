/* SPDX-License-Identifier: MIT */
/*
 * fi_ep.c — the gsn provider's endpoint object: fi_endpoint, fi_ep_bind,
 * fi_enable, fi_getname, fi_cancel, options, fi_control and fi_close, plus
 * the completion helpers every data-path file reports through.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fi_collective.h>

#include "gsn_fi_ep.h"

#define GSNFI_DEFAULT_TX_SIZE 1024
#define GSNFI_DEFAULT_RX_SIZE 1024

int gsnfi_wc_status_err(enum gsn_wc_status status)
{
	switch (status) {
	case GSN_WC_SUCCESS:
		return 0;
	case GSN_WC_REM_ACCESS_ERR:
	case GSN_WC_LOC_PROT_ERR:
	case GSN_WC_LOC_ACCESS_ERR:
		return FI_EACCES;
	case GSN_WC_LOC_LEN_ERR:
	case GSN_WC_REM_INV_REQ_ERR:
		return FI_ETRUNC;
	case GSN_WC_RETRY_EXC_ERR:
	case GSN_WC_RNR_RETRY_EXC_ERR:
		return FI_EHOSTUNREACH;
	case GSN_WC_WR_FLUSH_ERR:
		return FI_ECANCELED;
	case GSN_WC_LOC_QP_OP_ERR:
		return FI_EINVAL;
	case GSN_WC_REM_OP_ERR:
		return FI_EREMOTEIO;
	default:
		return FI_EIO;
	}
}

/* ---- completion helpers ----------------------------------------------------------- */

static bool gsnfi_wants_completion(uint64_t cq_bind_flags, uint64_t op_flags)
{
	if (op_flags & FI_INJECT)
		return false;
	return !(cq_bind_flags & FI_SELECTIVE_COMPLETION) || (op_flags & FI_COMPLETION);
}

void gsnfi_ep_cntr_inc_locked(struct gsnfi_ep *ep, enum gsnfi_cntr_slot slot)
{
	if (ep->cntrs[slot])
		gsnfi_cntr_inc_locked(ep->cntrs[slot]);
}

void gsnfi_ep_tx_done_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			     uint64_t cq_flags, enum gsnfi_cntr_slot slot, size_t len, void *buf)
{
	if (ep->tx_cq && gsnfi_wants_completion(ep->tx_cq_flags, op_flags))
		gsnfi_cq_report_locked(ep->tx_cq, context, cq_flags, len, buf, 0, 0,
				       FI_ADDR_NOTAVAIL);
	gsnfi_ep_cntr_inc_locked(ep, slot);
}

void gsnfi_ep_tx_error_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			      uint64_t cq_flags, enum gsnfi_cntr_slot slot, int err, int prov_errno)
{
	/* Errors are reported even under selective completion; an inject has
	 * no context to report against, its counter tells. */
	if (ep->tx_cq && !(op_flags & FI_INJECT))
		gsnfi_cq_report_error_locked(ep->tx_cq, context, cq_flags, err, prov_errno, 0, NULL,
					     0, 0, 0);
	if (ep->cntrs[slot])
		gsnfi_cntr_err_locked(ep->cntrs[slot]);
}

void gsnfi_ep_rx_done_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			     uint64_t cq_flags, size_t len, void *buf, uint64_t data, uint64_t tag,
			     const struct gsnfi_addr *src)
{
	if (ep->rx_cq && gsnfi_wants_completion(ep->rx_cq_flags, op_flags)) {
		fi_addr_t from = FI_ADDR_NOTAVAIL;

		if ((ep->caps & FI_SOURCE) && src && ep->av)
			from = gsnfi_av_reverse_locked(ep->av, src);
		gsnfi_cq_report_locked(ep->rx_cq, context, cq_flags, len, buf, data, tag, from);
	}
	gsnfi_ep_cntr_inc_locked(ep, GSNFI_CNTR_RECV);
}

void gsnfi_ep_rx_error_locked(struct gsnfi_ep *ep, void *context, uint64_t cq_flags, int err,
			      int prov_errno, size_t len, void *buf, uint64_t data, uint64_t tag,
			      size_t olen)
{
	if (ep->rx_cq)
		gsnfi_cq_report_error_locked(ep->rx_cq, context, cq_flags, err, prov_errno, len, buf,
					     data, tag, olen);
	if (ep->cntrs[GSNFI_CNTR_RECV])
		gsnfi_cntr_err_locked(ep->cntrs[GSNFI_CNTR_RECV]);
}

const struct gsnfi_addr *gsnfi_ep_peer_locked(struct gsnfi_ep *ep, fi_addr_t fi_addr)
{
	if (!ep->av || fi_addr == FI_ADDR_UNSPEC || fi_addr == FI_ADDR_NOTAVAIL)
		return NULL;
	return gsnfi_av_lookup_locked(ep->av, fi_addr);
}

int gsnfi_ep_check_locked(struct gsnfi_ep *ep)
{
	if (!ep->enabled)
		return -FI_EOPBADSTATE;
	if (ep->dead)
		return -FI_EIO;
	return 0;
}

/* ---- fi_enable ------------------------------------------------------------------------ */

static uint32_t gsnfi_pow2_clamp(size_t want, uint32_t max)
{
	uint32_t n = 1;

	while (n < want && n < max)
		n <<= 1;
	return n > max ? max : n;
}

static int gsnfi_ep_create_cqs(struct gsnfi_ep *ep)
{
	struct gsnfi_domain *d = ep->domain;
	uint32_t max = d->dev_attr.max_cqe ? d->dev_attr.max_cqe : 4096;
	int ret;

	/* Every posted work request of the endpoint's QPs holds a CQ entry
	 * until its completion is polled (gsq_free/grq_free): an overrun
	 * would lose completions.  See docs/fi-proto.md, "Resources". */
	ret = gsn_create_cq(d->ctx, (int)gsnfi_pow2_clamp(16384, max), ep, d->chan, 0, &ep->gsq);
	if (ret)
		return gsnfi_errno(ret);
	ret = gsn_create_cq(d->ctx, (int)gsnfi_pow2_clamp(16384, max), ep, d->chan, 0, &ep->grq);
	if (ret) {
		gsn_destroy_cq(ep->gsq);
		ep->gsq = NULL;
		return gsnfi_errno(ret);
	}
	ep->gsq_free = (uint32_t)ep->gsq->cqe;
	ep->grq_free = (uint32_t)ep->grq->cqe;
	return 0;
}

static void gsnfi_ep_destroy_cqs(struct gsnfi_ep *ep)
{
	if (ep->gsq)
		gsn_destroy_cq(ep->gsq);
	if (ep->grq)
		gsn_destroy_cq(ep->grq);
	ep->gsq = ep->grq = NULL;
}

static uint32_t gsnfi_random_nonce(void)
{
	uint32_t n = 0;

	if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
		n = (uint32_t)gsnfi_now_ns() ^ (uint32_t)getpid();
	return n ? n : 1;
}

static int gsnfi_ep_enable_locked(struct gsnfi_ep *ep)
{
	int ret;

	if (ep->enabled)
		return 0;
	if (!ep->av)
		return -FI_ENOAV;
	if (!ep->tx_cq && !ep->rx_cq) {
		bool any_cntr = false;

		for (int i = 0; i < GSNFI_CNTR_MAX; i++)
			any_cntr = any_cntr || ep->cntrs[i];
		if (!any_cntr)
			return -FI_ENOCQ;
	}
	ret = gsnfi_ep_create_cqs(ep);
	if (ret)
		return ret;
	memcpy(ep->addr.ula, ep->domain->dev_attr.ula, sizeof(ep->addr.ula));
	ep->addr.reserved = 0;
	ep->addr.nonce = htobe32(gsnfi_random_nonce());
	ret = gsnfi_proto_enable_locked(ep);
	if (ret)
		goto err_cqs;
	ret = gsnfi_cm_enable_locked(ep); /* fills addr.ud_qpn */
	if (ret)
		goto err_proto;
	ep->enabled = true;
	gsnfi_domain_add_ep_locked(ep->domain, ep);
	gsnfi_ep_arm_locked(ep);
	return 0;

err_proto:
	gsnfi_proto_close_locked(ep);
err_cqs:
	gsnfi_ep_destroy_cqs(ep);
	return ret;
}

/* ---- fid ops ---------------------------------------------------------------------------- */

static void gsnfi_ep_unbind_all(struct gsnfi_ep *ep)
{
	if (ep->av)
		ep->av->refs--;
	if (ep->tx_cq)
		ep->tx_cq->refs--;
	if (ep->rx_cq && ep->rx_cq != ep->tx_cq)
		ep->rx_cq->refs--;
	for (int i = 0; i < GSNFI_CNTR_MAX; i++) {
		struct gsnfi_cntr *c = ep->cntrs[i];
		bool seen = false;

		/* one reference per distinct counter */
		for (int j = 0; j < i; j++)
			seen = seen || ep->cntrs[j] == c;
		if (c && !seen)
			c->refs--;
	}
}

static int gsnfi_ep_close(struct fid *fid)
{
	struct gsnfi_ep *ep = GSNFI_CONTAINER_OF(fid, struct gsnfi_ep, ep_fid.fid);
	struct gsnfi_domain *d = ep->domain;

	gsnfi_lock(d);
	if (ep->enabled) {
		GSNFI_INFO(FI_LOG_EP_CTRL,
			   "endpoint closes: %llu connections (%llu failed), %llu unexpected "
			   "messages, dropped %llu CM datagrams and %llu messages, "
			   "registration cache %llu hits %llu misses\n",
			   (unsigned long long)ep->stats.conns_opened,
			   (unsigned long long)ep->stats.conns_failed,
			   (unsigned long long)ep->stats.unexpected,
			   (unsigned long long)ep->stats.cm_drops,
			   (unsigned long long)ep->stats.rx_drops,
			   (unsigned long long)ep->mrc_hits, (unsigned long long)ep->mrc_misses);
		gsnfi_domain_del_ep_locked(d, ep);
		/* QPs first: then no completion can name our memory, and the
		 * CQs can go with whatever they still hold. */
		gsnfi_cm_close_locked(ep);
		gsnfi_ep_destroy_cqs(ep);
		gsnfi_match_close_locked(ep);
		gsnfi_proto_close_locked(ep);
		gsnfi_rx_cache_clear(ep);
		ep->enabled = false;
	}
	gsnfi_ep_unbind_all(ep);
	d->refs--;
	gsnfi_unlock(d);
	fi_freeinfo(ep->info);
	free(ep);
	return 0;
}

static int gsnfi_ep_bind_cq(struct gsnfi_ep *ep, struct gsnfi_cq *cq, uint64_t flags)
{
	bool had = ep->tx_cq == cq || ep->rx_cq == cq;

	if (!(flags & (FI_TRANSMIT | FI_RECV)))
		return -FI_EBADFLAGS;
	if (flags & ~(FI_TRANSMIT | FI_RECV | FI_SELECTIVE_COMPLETION))
		return -FI_EBADFLAGS;
	if (((flags & FI_TRANSMIT) && ep->tx_cq) || ((flags & FI_RECV) && ep->rx_cq))
		return -FI_EINVAL;
	if (flags & FI_TRANSMIT) {
		ep->tx_cq = cq;
		ep->tx_cq_flags = flags & FI_SELECTIVE_COMPLETION;
	}
	if (flags & FI_RECV) {
		ep->rx_cq = cq;
		ep->rx_cq_flags = flags & FI_SELECTIVE_COMPLETION;
	}
	if (!had)
		cq->refs++; /* one reference per distinct CQ */
	return 0;
}

static int gsnfi_ep_bind_cntr(struct gsnfi_ep *ep, struct gsnfi_cntr *c, uint64_t flags)
{
	static const struct {
		uint64_t flag;
		enum gsnfi_cntr_slot slot;
	} map[] = {
		{FI_SEND, GSNFI_CNTR_SEND},
		{FI_RECV, GSNFI_CNTR_RECV},
		{FI_READ, GSNFI_CNTR_READ},
		{FI_WRITE, GSNFI_CNTR_WRITE},
		{FI_REMOTE_READ, GSNFI_CNTR_REMOTE_READ},
		{FI_REMOTE_WRITE, GSNFI_CNTR_REMOTE_WRITE},
	};
	uint64_t known = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	bool had = false;

	if (!(flags & known) || (flags & ~known))
		return -FI_EBADFLAGS;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if ((flags & map[i].flag) && ep->cntrs[map[i].slot])
			return -FI_EINVAL;
	}
	for (int i = 0; i < GSNFI_CNTR_MAX; i++)
		had = had || ep->cntrs[i] == c;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (flags & map[i].flag)
			ep->cntrs[map[i].slot] = c;
	}
	if (!had)
		c->refs++;
	return 0;
}

static int gsnfi_ep_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	struct gsnfi_ep *ep = GSNFI_CONTAINER_OF(fid, struct gsnfi_ep, ep_fid.fid);
	int ret = 0;

	if (!bfid)
		return -FI_EINVAL;
	gsnfi_lock(ep->domain);
	if (ep->enabled) {
		ret = -FI_EOPBADSTATE;
		goto out;
	}
	switch (bfid->fclass) {
	case FI_CLASS_AV: {
		struct gsnfi_av *av = GSNFI_CONTAINER_OF(bfid, struct gsnfi_av, av_fid.fid);

		if (ep->av) {
			ret = -FI_EINVAL;
			break;
		}
		if (av->domain != ep->domain) {
			ret = -FI_EINVAL;
			break;
		}
		ep->av = av;
		av->refs++;
		break;
	}
	case FI_CLASS_CQ: {
		struct gsnfi_cq *cq = GSNFI_CONTAINER_OF(bfid, struct gsnfi_cq, cq_fid.fid);

		ret = cq->domain == ep->domain ? gsnfi_ep_bind_cq(ep, cq, flags) : -FI_EINVAL;
		break;
	}
	case FI_CLASS_CNTR: {
		struct gsnfi_cntr *c = GSNFI_CONTAINER_OF(bfid, struct gsnfi_cntr, cntr_fid.fid);

		ret = c->domain == ep->domain ? gsnfi_ep_bind_cntr(ep, c, flags) : -FI_EINVAL;
		break;
	}
	case FI_CLASS_EQ:
		/* Nothing is reported on it (RDM has no connection events) but
		 * fi_pingpong and others bind one. */
		ep->eq = GSNFI_CONTAINER_OF(bfid, struct fid_eq, fid);
		break;
	default:
		ret = -FI_ENOSYS;
		break;
	}
out:
	gsnfi_unlock(ep->domain);
	return ret;
}

static int gsnfi_ep_control(struct fid *fid, int command, void *arg)
{
	struct gsnfi_ep *ep = GSNFI_CONTAINER_OF(fid, struct gsnfi_ep, ep_fid.fid);
	uint64_t *flags = arg;
	int ret = 0;

	gsnfi_lock(ep->domain);
	switch (command) {
	case FI_ENABLE:
		ret = gsnfi_ep_enable_locked(ep);
		break;
	case FI_GETOPSFLAG:
		if (!flags || ((*flags & FI_TRANSMIT) && (*flags & FI_RECV)) ||
		    !(*flags & (FI_TRANSMIT | FI_RECV))) {
			ret = -FI_EINVAL;
			break;
		}
		*flags = (*flags & FI_TRANSMIT) ? ep->tx_op_flags : ep->rx_op_flags;
		break;
	case FI_SETOPSFLAG:
		if (!flags || ((*flags & FI_TRANSMIT) && (*flags & FI_RECV)) ||
		    !(*flags & (FI_TRANSMIT | FI_RECV))) {
			ret = -FI_EINVAL;
			break;
		}
		if (*flags & FI_TRANSMIT)
			ep->tx_op_flags = *flags & ~FI_TRANSMIT;
		else
			ep->rx_op_flags = *flags & ~FI_RECV;
		break;
	default:
		ret = -FI_ENOSYS;
		break;
	}
	gsnfi_unlock(ep->domain);
	return ret;
}

static struct fi_ops gsnfi_ep_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = gsnfi_ep_close,
	.bind = gsnfi_ep_bind,
	.control = gsnfi_ep_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

/* ---- fi_ops_ep ---------------------------------------------------------------------------- */

static ssize_t gsnfi_ep_cancel(fid_t fid, void *context)
{
	struct gsnfi_ep *ep = GSNFI_CONTAINER_OF(fid, struct gsnfi_ep, ep_fid.fid);
	ssize_t ret;

	gsnfi_lock(ep->domain);
	ret = ep->enabled ? gsnfi_match_cancel_locked(ep, context) : -FI_ENOENT;
	gsnfi_unlock(ep->domain);
	return ret;
}

static int gsnfi_ep_getopt(fid_t fid, int level, int optname, void *optval, size_t *optlen)
{
	(void)fid;
	(void)optname;
	(void)optval;
	(void)optlen;
	if (level != FI_OPT_ENDPOINT)
		return -FI_ENOPROTOOPT;
	return -FI_ENOPROTOOPT;
}

static int gsnfi_ep_setopt(fid_t fid, int level, int optname, const void *optval, size_t optlen)
{
	(void)fid;
	(void)optname;
	(void)optval;
	(void)optlen;
	if (level != FI_OPT_ENDPOINT)
		return -FI_ENOPROTOOPT;
	return -FI_ENOPROTOOPT;
}

static int gsnfi_ep_tx_ctx(struct fid_ep *sep, int index, struct fi_tx_attr *attr,
			   struct fid_ep **tx_ep, void *context)
{
	(void)sep;
	(void)index;
	(void)attr;
	(void)tx_ep;
	(void)context;
	return -FI_ENOSYS;
}

static int gsnfi_ep_rx_ctx(struct fid_ep *sep, int index, struct fi_rx_attr *attr,
			   struct fid_ep **rx_ep, void *context)
{
	(void)sep;
	(void)index;
	(void)attr;
	(void)rx_ep;
	(void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_ep_rx_size_left(struct fid_ep *ep_fid)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	size_t posted;
	ssize_t ret;

	gsnfi_lock(ep->domain);
	posted = ep->msg_rx.count + ep->tag_rx.count;
	ret = !ep->enabled ? -FI_EOPBADSTATE
			   : (ssize_t)(posted >= ep->rx_size ? 0 : ep->rx_size - posted);
	gsnfi_unlock(ep->domain);
	return ret;
}

static ssize_t gsnfi_ep_tx_size_left(struct fid_ep *ep_fid)
{
	struct gsnfi_ep *ep = gsnfi_ep_of(ep_fid);
	ssize_t ret;

	gsnfi_lock(ep->domain);
	ret = !ep->enabled ? -FI_EOPBADSTATE
			   : (ssize_t)(ep->tx_inflight >= ep->tx_size ? 0
								       : ep->tx_size - ep->tx_inflight);
	gsnfi_unlock(ep->domain);
	return ret;
}

static struct fi_ops_ep gsnfi_ep_ops = {
	.size = sizeof(struct fi_ops_ep),
	.cancel = gsnfi_ep_cancel,
	.getopt = gsnfi_ep_getopt,
	.setopt = gsnfi_ep_setopt,
	.tx_ctx = gsnfi_ep_tx_ctx,
	.rx_ctx = gsnfi_ep_rx_ctx,
	.rx_size_left = gsnfi_ep_rx_size_left,
	.tx_size_left = gsnfi_ep_tx_size_left,
};

/* ---- fi_ops_cm: only the name ------------------------------------------------------------ */

static int gsnfi_ep_getname(fid_t fid, void *addr, size_t *addrlen)
{
	struct gsnfi_ep *ep = GSNFI_CONTAINER_OF(fid, struct gsnfi_ep, ep_fid.fid);
	size_t have;
	int ret = 0;

	if (!addrlen)
		return -FI_EINVAL;
	gsnfi_lock(ep->domain);
	if (!ep->enabled) {
		/* the UD QP that is the address exists from fi_enable on */
		ret = -FI_EOPBADSTATE;
		goto out;
	}
	have = *addrlen;
	*addrlen = sizeof(ep->addr);
	if (!addr || have < sizeof(ep->addr)) {
		if (addr && have)
			memcpy(addr, &ep->addr, have);
		ret = -FI_ETOOSMALL;
		goto out;
	}
	memcpy(addr, &ep->addr, sizeof(ep->addr));
out:
	gsnfi_unlock(ep->domain);
	return ret;
}

static int gsnfi_ep_setname(fid_t fid, void *addr, size_t addrlen)
{
	(void)fid;
	(void)addr;
	(void)addrlen;
	return -FI_ENOSYS;
}

static int gsnfi_ep_getpeer(struct fid_ep *ep, void *addr, size_t *addrlen)
{
	(void)ep;
	(void)addr;
	(void)addrlen;
	return -FI_ENOSYS;
}

static int gsnfi_ep_connect(struct fid_ep *ep, const void *addr, const void *param,
			    size_t paramlen)
{
	(void)ep;
	(void)addr;
	(void)param;
	(void)paramlen;
	return -FI_ENOSYS;
}

static int gsnfi_ep_listen(struct fid_pep *pep)
{
	(void)pep;
	return -FI_ENOSYS;
}

static int gsnfi_ep_accept(struct fid_ep *ep, const void *param, size_t paramlen)
{
	(void)ep;
	(void)param;
	(void)paramlen;
	return -FI_ENOSYS;
}

static int gsnfi_ep_reject(struct fid_pep *pep, fid_t handle, const void *param, size_t paramlen)
{
	(void)pep;
	(void)handle;
	(void)param;
	(void)paramlen;
	return -FI_ENOSYS;
}

static int gsnfi_ep_shutdown(struct fid_ep *ep, uint64_t flags)
{
	(void)ep;
	(void)flags;
	return -FI_ENOSYS;
}

static int gsnfi_ep_join(struct fid_ep *ep, const void *addr, uint64_t flags, struct fid_mc **mc,
			 void *context)
{
	(void)ep;
	(void)addr;
	(void)flags;
	(void)mc;
	(void)context;
	return -FI_ENOSYS;
}

static struct fi_ops_cm gsnfi_ep_cm_ops = {
	.size = sizeof(struct fi_ops_cm),
	.setname = gsnfi_ep_setname,
	.getname = gsnfi_ep_getname,
	.getpeer = gsnfi_ep_getpeer,
	.connect = gsnfi_ep_connect,
	.listen = gsnfi_ep_listen,
	.accept = gsnfi_ep_accept,
	.reject = gsnfi_ep_reject,
	.shutdown = gsnfi_ep_shutdown,
	.join = gsnfi_ep_join,
};

/* ---- collectives: none --------------------------------------------------------------------- */

static ssize_t gsnfi_coll_barrier(struct fid_ep *ep, fi_addr_t coll_addr, void *context)
{
	(void)ep;
	(void)coll_addr;
	(void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_broadcast(struct fid_ep *ep, void *buf, size_t count, void *desc,
				    fi_addr_t coll_addr, fi_addr_t root_addr,
				    enum fi_datatype datatype, uint64_t flags, void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)coll_addr, (void)root_addr;
	(void)datatype, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_alltoall(struct fid_ep *ep, const void *buf, size_t count, void *desc,
				   void *result, void *result_desc, fi_addr_t coll_addr,
				   enum fi_datatype datatype, uint64_t flags, void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)datatype, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_allreduce(struct fid_ep *ep, const void *buf, size_t count, void *desc,
				    void *result, void *result_desc, fi_addr_t coll_addr,
				    enum fi_datatype datatype, enum fi_op op, uint64_t flags,
				    void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)datatype, (void)op, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_allgather(struct fid_ep *ep, const void *buf, size_t count, void *desc,
				    void *result, void *result_desc, fi_addr_t coll_addr,
				    enum fi_datatype datatype, uint64_t flags, void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)datatype, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_reduce_scatter(struct fid_ep *ep, const void *buf, size_t count,
					 void *desc, void *result, void *result_desc,
					 fi_addr_t coll_addr, enum fi_datatype datatype,
					 enum fi_op op, uint64_t flags, void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)datatype, (void)op, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_reduce(struct fid_ep *ep, const void *buf, size_t count, void *desc,
				 void *result, void *result_desc, fi_addr_t coll_addr,
				 fi_addr_t root_addr, enum fi_datatype datatype, enum fi_op op,
				 uint64_t flags, void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)root_addr, (void)datatype, (void)op, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_scatter(struct fid_ep *ep, const void *buf, size_t count, void *desc,
				  void *result, void *result_desc, fi_addr_t coll_addr,
				  fi_addr_t root_addr, enum fi_datatype datatype, uint64_t flags,
				  void *context)
{
	(void)ep, (void)buf, (void)count, (void)desc, (void)result, (void)result_desc;
	(void)coll_addr, (void)root_addr, (void)datatype, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_msg(struct fid_ep *ep, const struct fi_msg_collective *msg,
			      struct fi_ioc *resultv, void **result_desc, size_t result_count,
			      uint64_t flags)
{
	(void)ep, (void)msg, (void)resultv, (void)result_desc, (void)result_count, (void)flags;
	return -FI_ENOSYS;
}

static ssize_t gsnfi_coll_barrier2(struct fid_ep *ep, fi_addr_t coll_addr, uint64_t flags,
				   void *context)
{
	(void)ep, (void)coll_addr, (void)flags, (void)context;
	return -FI_ENOSYS;
}

static struct fi_ops_collective gsnfi_coll_ops = {
	.size = sizeof(struct fi_ops_collective),
	.barrier = gsnfi_coll_barrier,
	.broadcast = gsnfi_coll_broadcast,
	.alltoall = gsnfi_coll_alltoall,
	.allreduce = gsnfi_coll_allreduce,
	.allgather = gsnfi_coll_allgather,
	.reduce_scatter = gsnfi_coll_reduce_scatter,
	.reduce = gsnfi_coll_reduce,
	.scatter = gsnfi_coll_scatter,
	.gather = gsnfi_coll_scatter,
	.msg = gsnfi_coll_msg,
	.barrier2 = gsnfi_coll_barrier2,
};

/* ---- fi_endpoint ---------------------------------------------------------------------------- */

static void gsnfi_ep_limits(struct gsnfi_ep *ep, const struct fi_info *info)
{
	const struct gsnfi_domain *d = ep->domain;
	size_t dev_max = d->dev_attr.max_msg_size ? d->dev_attr.max_msg_size : (1ull << 31);

	ep->tx_size = info->tx_attr && info->tx_attr->size ? info->tx_attr->size
							   : GSNFI_DEFAULT_TX_SIZE;
	ep->rx_size = info->rx_attr && info->rx_attr->size ? info->rx_attr->size
							   : GSNFI_DEFAULT_RX_SIZE;
	ep->eager_size = gsnfi_params.eager_size ? gsnfi_params.eager_size : 8192;
	ep->inject_size = info->tx_attr && info->tx_attr->inject_size ? info->tx_attr->inject_size
								       : ep->eager_size;
	ep->max_msg_size = info->ep_attr && info->ep_attr->max_msg_size
				   ? info->ep_attr->max_msg_size
				   : dev_max;
	ep->max_inline = d->dev_attr.max_inline ? d->dev_attr.max_inline : GSN_MAX_INLINE;
	if (ep->max_inline > GSN_MAX_INLINE)
		ep->max_inline = GSN_MAX_INLINE;
	ep->rx_slot = GSNFI_HDR_ROOM + ep->eager_size;
	ep->rx_depth = gsnfi_params.rx_depth ? (uint32_t)gsnfi_params.rx_depth : 64;
	ep->tx_depth = gsnfi_params.tx_depth ? (uint32_t)gsnfi_params.tx_depth : 256;
	if (d->dev_attr.max_qp_wr) {
		if (ep->rx_depth > d->dev_attr.max_qp_wr)
			ep->rx_depth = d->dev_attr.max_qp_wr;
		if (ep->tx_depth > d->dev_attr.max_qp_wr)
			ep->tx_depth = d->dev_attr.max_qp_wr;
	}
}

int gsnfi_ep_open(struct fid_domain *domain, struct fi_info *info, struct fid_ep **ep_out,
		  void *context)
{
	struct gsnfi_domain *d = GSNFI_CONTAINER_OF(domain, struct gsnfi_domain, domain_fid);
	struct gsnfi_ep *ep;

	if (!info || !ep_out)
		return -FI_EINVAL;
	if (info->ep_attr && info->ep_attr->type != FI_EP_RDM &&
	    info->ep_attr->type != FI_EP_UNSPEC)
		return -FI_ENOPROTOOPT;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -FI_ENOMEM;
	ep->info = fi_dupinfo(info);
	if (!ep->info) {
		free(ep);
		return -FI_ENOMEM;
	}
	ep->domain = d;
	ep->caps = info->caps ? info->caps : d->caps;
	ep->tx_op_flags = info->tx_attr ? info->tx_attr->op_flags : 0;
	ep->rx_op_flags = info->rx_attr ? info->rx_attr->op_flags : 0;
	gsnfi_ep_limits(ep, info);

	ep->ep_fid.fid.fclass = FI_CLASS_EP;
	ep->ep_fid.fid.context = context;
	ep->ep_fid.fid.ops = &gsnfi_ep_fi_ops;
	ep->ep_fid.ops = &gsnfi_ep_ops;
	ep->ep_fid.cm = &gsnfi_ep_cm_ops;
	ep->ep_fid.msg = &gsnfi_msg_ops;
	ep->ep_fid.rma = &gsnfi_rma_ops;
	ep->ep_fid.tagged = &gsnfi_tagged_ops;
	ep->ep_fid.atomic = &gsnfi_atomic_ops;
	ep->ep_fid.collective = &gsnfi_coll_ops;

	gsnfi_lock(d);
	d->refs++;
	gsnfi_unlock(d);
	*ep_out = &ep->ep_fid;
	return 0;
}
