/* SPDX-License-Identifier: MIT */
/*
 * fi_getinfo.c — matching an application's hints against the attribute set
 * of fi_attr.c and narrowing a copy of it to what was asked for.
 *
 * The rules mirror libfabric's utility code (prov/util util_attr.c), which
 * external providers cannot link: a hint field that is zero/UNSPEC matches
 * anything; a size must not exceed ours; a mask must be a subset of ours; a
 * model (threading, progress, resource management) must be one we can
 * satisfy.  A mismatch is -FI_ENODATA and an FI_LOG_CORE info message.
 *
 * getinfo never starts or contacts gsnd: `fi_info` must stay cheap.
 */
#include <stdlib.h>
#include <string.h>

#include "gsn_fi.h"

#define MSG_DIRECTION_CAPS (FI_SEND | FI_RECV)
#define RMA_DIRECTION_CAPS (FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE)
/* Capabilities that only make sense on the other side (ignored there). */
#define TX_IGNORED_CAPS                                                                   \
	(FI_REMOTE_READ | FI_REMOTE_WRITE | FI_RECV | FI_DIRECTED_RECV | FI_VARIABLE_MSG | \
	 FI_MULTI_RECV | FI_SOURCE | FI_RMA_EVENT | FI_SOURCE_ERR)
#define RX_IGNORED_CAPS (FI_READ | FI_WRITE | FI_SEND | FI_FENCE | FI_MULTICAST | FI_NAMED_RX_CTX)
/* 1.5 mr_mode bits we make use of when the application offers them. */
#define GSNFI_MR_MODE_USED (FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED)

#define NODATA(...)                                    \
	do {                                           \
		GSNFI_INFO(FI_LOG_CORE, __VA_ARGS__); \
		return -FI_ENODATA;                    \
	} while (0)

/* ---- ranks of the models: a request must rank at or above what we give ---- */

static int thread_rank(enum fi_threading t)
{
	switch (t) {
	case FI_THREAD_SAFE:
		return 1;
	case FI_THREAD_FID:
		return 2;
	case FI_THREAD_ENDPOINT:
		return 3;
	case FI_THREAD_COMPLETION:
		return 4;
	case FI_THREAD_DOMAIN:
		return 5;
	case FI_THREAD_UNSPEC:
		return 6;
	default:
		return -1;
	}
}

static int progress_rank(enum fi_progress p)
{
	switch (p) {
	case FI_PROGRESS_AUTO:
		return 1;
	case FI_PROGRESS_MANUAL:
		return 2;
	case FI_PROGRESS_UNSPEC:
		return 3;
	default:
		return -1;
	}
}

static int rm_rank(enum fi_resource_mgmt rm)
{
	switch (rm) {
	case FI_RM_ENABLED:
		return 1;
	case FI_RM_DISABLED:
		return 2;
	case FI_RM_UNSPEC:
		return 3;
	default:
		return -1;
	}
}

/* What we give: automatic progress only with the progress thread. */
static enum fi_progress our_progress(void)
{
	return gsnfi_params.progress_thread ? FI_PROGRESS_AUTO : FI_PROGRESS_MANUAL;
}

/* Adds the direction bits a capability implies when none is given. */
static uint64_t expand_caps(uint64_t caps)
{
	if ((caps & (FI_MSG | FI_TAGGED)) && !(caps & MSG_DIRECTION_CAPS))
		caps |= MSG_DIRECTION_CAPS;
	if ((caps & (FI_RMA | FI_ATOMIC)) && !(caps & RMA_DIRECTION_CAPS))
		caps |= RMA_DIRECTION_CAPS;
	return caps;
}

/* ---- checks ---------------------------------------------------------------- */

static int check_fabric(const struct fi_fabric_attr *user)
{
	const struct fi_fabric_attr *ours = gsnfi_info_template.fabric_attr;

	/* prov_name is filtered by the core (it may list several providers). */
	if (user->name && strcmp(user->name, ours->name))
		NODATA("fabric name %s is not %s\n", user->name, ours->name);
	if (user->prov_version > ours->prov_version)
		NODATA("provider version %u.%u is newer than ours\n", FI_MAJOR(user->prov_version),
		       FI_MINOR(user->prov_version));
	return 0;
}

static int check_mr_mode(int user_mode)
{
	if (user_mode & FI_MR_BASIC) {
		if (user_mode & ~FI_MR_BASIC)
			NODATA("FI_MR_BASIC combined with other mr_mode bits\n");
	} else if (user_mode & FI_MR_SCALABLE) {
		if (user_mode & ~FI_MR_SCALABLE)
			NODATA("FI_MR_SCALABLE combined with other mr_mode bits\n");
	}
	/* Otherwise fine: we require none of the 1.5 bits. */
	return 0;
}

static int check_domain_models(const struct fi_domain_attr *user)
{
	const struct fi_domain_attr *ours = gsnfi_info_template.domain_attr;

	if (thread_rank(user->threading) < thread_rank(ours->threading))
		NODATA("threading model %d unknown\n", user->threading);
	if (progress_rank(user->control_progress) < progress_rank(our_progress()))
		NODATA("control progress %d not available (FI_GSN_PROGRESS_THREAD=0?)\n",
		       user->control_progress);
	if (progress_rank(user->data_progress) < progress_rank(our_progress()))
		NODATA("data progress %d not available (FI_GSN_PROGRESS_THREAD=0?)\n",
		       user->data_progress);
	if (rm_rank(user->resource_mgmt) < rm_rank(ours->resource_mgmt))
		NODATA("resource management %d unknown\n", user->resource_mgmt);
	if (user->av_type != FI_AV_UNSPEC && user->av_type != FI_AV_MAP &&
	    user->av_type != FI_AV_TABLE)
		NODATA("AV type %d not supported\n", user->av_type);
	return 0;
}

static int check_domain_limits(const struct fi_domain_attr *user)
{
	const struct fi_domain_attr *ours = gsnfi_info_template.domain_attr;

	if (user->cq_data_size > ours->cq_data_size)
		NODATA("cq_data_size %zu > %zu\n", user->cq_data_size, ours->cq_data_size);
	if (user->mr_key_size > ours->mr_key_size)
		NODATA("mr_key_size %zu > %zu\n", user->mr_key_size, ours->mr_key_size);
	if (user->cq_cnt > ours->cq_cnt || user->ep_cnt > ours->ep_cnt ||
	    user->tx_ctx_cnt > ours->tx_ctx_cnt || user->rx_ctx_cnt > ours->rx_ctx_cnt ||
	    user->cntr_cnt > ours->cntr_cnt || user->mr_cnt > ours->mr_cnt)
		NODATA("domain object counts exceed ours\n");
	if (user->max_ep_tx_ctx > ours->max_ep_tx_ctx || user->max_ep_rx_ctx > ours->max_ep_rx_ctx)
		NODATA("more than one tx/rx context per endpoint\n");
	if (user->max_ep_stx_ctx > ours->max_ep_stx_ctx ||
	    user->max_ep_srx_ctx > ours->max_ep_srx_ctx)
		NODATA("shared contexts are not supported\n");
	if (user->mr_iov_limit > ours->mr_iov_limit)
		NODATA("mr_iov_limit %zu > %zu\n", user->mr_iov_limit, ours->mr_iov_limit);
	if (user->max_err_data > ours->max_err_data)
		NODATA("max_err_data %zu > %zu\n", user->max_err_data, ours->max_err_data);
	if (user->caps & ~ours->caps)
		NODATA("domain caps %#llx not supported\n", (unsigned long long)user->caps);
	if (user->auth_key_size || user->auth_key)
		NODATA("authorization keys are not supported\n");
	return 0;
}

static int check_domain(const struct fi_domain_attr *user)
{
	int ret;

	if (user->name && strcmp(user->name, gsnfi_default_device()))
		NODATA("domain %s is not %s (FI_GSN_DEVICE/GSN_DEVICE)\n", user->name,
		       gsnfi_default_device());
	ret = check_domain_models(user);
	if (!ret)
		ret = check_domain_limits(user);
	if (!ret)
		ret = check_mr_mode(user->mr_mode);
	return ret;
}

static int check_ep(const struct fi_ep_attr *user, uint64_t caps)
{
	const struct fi_ep_attr *ours = gsnfi_info_template.ep_attr;

	if (user->type != FI_EP_UNSPEC && user->type != ours->type)
		NODATA("endpoint type %d: only FI_EP_RDM\n", user->type);
	if (user->protocol != FI_PROTO_UNSPEC && user->protocol != ours->protocol)
		NODATA("protocol %u not supported\n", user->protocol);
	if (user->protocol_version > ours->protocol_version)
		NODATA("protocol version %u > %u\n", user->protocol_version,
		       ours->protocol_version);
	if (user->max_msg_size > ours->max_msg_size)
		NODATA("max_msg_size %zu > %zu\n", user->max_msg_size, ours->max_msg_size);
	if (user->msg_prefix_size > ours->msg_prefix_size)
		NODATA("message prefixes are not supported\n");
	if (user->tx_ctx_cnt > ours->tx_ctx_cnt || user->rx_ctx_cnt > ours->rx_ctx_cnt)
		NODATA("%zu tx / %zu rx contexts: one of each (no shared contexts)\n",
		       user->tx_ctx_cnt, user->rx_ctx_cnt);
	if ((caps & (FI_RMA | FI_ATOMIC)) &&
	    (user->max_order_raw_size > ours->max_order_raw_size ||
	     user->max_order_war_size > ours->max_order_war_size ||
	     user->max_order_waw_size > ours->max_order_waw_size))
		NODATA("RMA ordering sizes are not supported\n");
	if (user->auth_key_size || user->auth_key)
		NODATA("authorization keys are not supported\n");
	/* mem_tag_format: ours has all 64 bits, any format fits */
	return 0;
}

/* Capabilities of one side: a subset of ours and of the info's caps. */
static int check_side_caps(uint64_t side_caps, uint64_t ignored, uint64_t ours, uint64_t info_caps)
{
	uint64_t c = side_caps & ~ignored;

	if (c & ~ours)
		NODATA("tx/rx caps %#llx not supported\n", (unsigned long long)c);
	if (info_caps && (c & ~expand_caps(info_caps)))
		NODATA("tx/rx caps %#llx not a subset of the info's caps\n",
		       (unsigned long long)c);
	return 0;
}

static int check_tx(const struct fi_tx_attr *user, uint64_t info_caps)
{
	const struct fi_tx_attr *ours = gsnfi_info_template.tx_attr;
	int ret = check_side_caps(user->caps, TX_IGNORED_CAPS, ours->caps, info_caps);

	if (ret)
		return ret;
	if (user->op_flags & ~ours->op_flags)
		NODATA("tx op_flags %#llx not supported\n", (unsigned long long)user->op_flags);
	if (user->msg_order & ~ours->msg_order)
		NODATA("tx msg_order %#llx not supported\n", (unsigned long long)user->msg_order);
	if (user->comp_order & ~ours->comp_order)
		NODATA("tx comp_order %#llx not supported\n",
		       (unsigned long long)user->comp_order);
	if (user->inject_size > gsnfi_inject_size())
		NODATA("inject_size %zu > %zu\n", user->inject_size, gsnfi_inject_size());
	if (user->size > ours->size)
		NODATA("tx size %zu > %zu\n", user->size, ours->size);
	if (user->iov_limit > ours->iov_limit)
		NODATA("tx iov_limit %zu > %zu\n", user->iov_limit, ours->iov_limit);
	if (user->rma_iov_limit > ours->rma_iov_limit)
		NODATA("rma_iov_limit %zu > %zu\n", user->rma_iov_limit, ours->rma_iov_limit);
	/* mode: we need none */
	return 0;
}

static int check_rx(const struct fi_rx_attr *user, uint64_t info_caps)
{
	const struct fi_rx_attr *ours = gsnfi_info_template.rx_attr;
	int ret = check_side_caps(user->caps, RX_IGNORED_CAPS, ours->caps, info_caps);

	if (ret)
		return ret;
	if (user->op_flags & ~ours->op_flags)
		NODATA("rx op_flags %#llx not supported\n", (unsigned long long)user->op_flags);
	if (user->msg_order & ~ours->msg_order)
		NODATA("rx msg_order %#llx not supported\n", (unsigned long long)user->msg_order);
	if (user->comp_order & ~ours->comp_order)
		NODATA("rx comp_order %#llx not supported\n",
		       (unsigned long long)user->comp_order);
	if (user->total_buffered_recv > ours->total_buffered_recv)
		GSNFI_INFO(FI_LOG_CORE, "total_buffered_recv ignored: unexpected messages "
					"are buffered without a limit\n");
	if (user->size > ours->size)
		NODATA("rx size %zu > %zu\n", user->size, ours->size);
	if (user->iov_limit > ours->iov_limit)
		NODATA("rx iov_limit %zu > %zu\n", user->iov_limit, ours->iov_limit);
	return 0;
}

/* An address given in the hints: ours only (16 bytes, reserved 0). */
static int check_hint_addr(const void *addr, size_t len, const char *which)
{
	if (!addr)
		return 0;
	if (len != sizeof(struct gsnfi_addr) || !gsnfi_addr_valid(addr))
		NODATA("%s address is not a gsn address\n", which);
	return 0;
}

static int check_hints(const struct fi_info *hints)
{
	const struct fi_info *ours = &gsnfi_info_template;
	int ret = 0;

	/* The endpoint type first: utility providers probe for MSG and DGRAM. */
	if (hints->ep_attr)
		ret = check_ep(hints->ep_attr, hints->caps);
	if (ret)
		return ret;
	if (hints->caps & ~ours->caps)
		NODATA("caps %#llx not supported\n",
		       (unsigned long long)(hints->caps & ~ours->caps));
	/* mode: we need none of the application's mode bits */
	if (hints->addr_format != FI_FORMAT_UNSPEC)
		NODATA("address format %u: gsn addresses are FI_FORMAT_UNSPEC\n",
		       hints->addr_format);
	ret = check_hint_addr(hints->src_addr, hints->src_addrlen, "source");
	if (!ret)
		ret = check_hint_addr(hints->dest_addr, hints->dest_addrlen, "destination");
	if (!ret && hints->fabric_attr)
		ret = check_fabric(hints->fabric_attr);
	if (!ret && hints->domain_attr)
		ret = check_domain(hints->domain_attr);
	if (!ret && hints->tx_attr)
		ret = check_tx(hints->tx_attr, hints->caps);
	if (!ret && hints->rx_attr)
		ret = check_rx(hints->rx_attr, hints->caps);
	return ret;
}

/* ---- narrowing the copy ------------------------------------------------------ */

/*
 * Primary capabilities as requested (with implied directions); secondary
 * ones (FI_SOURCE, FI_RMA_EVENT) only when requested, since they cost on
 * the data path.  No caps hint: everything.
 */
static uint64_t info_caps(const struct fi_info *hints)
{
	if (!hints || !hints->caps)
		return gsnfi_info_template.caps;
	return expand_caps(hints->caps);
}

static uint64_t side_caps(uint64_t hint_caps, uint64_t ignored, uint64_t ours, uint64_t caps)
{
	uint64_t c = hint_caps & ~ignored;

	return (c ? expand_caps(c) & caps : caps) & ours;
}

/*
 * mr_mode returned: the old values as given; otherwise what we use of the
 * 1.5 bits the application offers — FI_MR_LOCAL (descriptors let
 * rendezvous and RMA skip temporary registrations), FI_MR_VIRT_ADDR
 * (remote addresses are virtual, else offsets into the MR),
 * FI_MR_PROV_KEY (keys from gsnd, else the application's) and
 * FI_MR_ALLOCATED.  Offering nothing gets 0: user keys and offsets.
 */
static int returned_mr_mode(const struct fi_info *hints)
{
	int user_mode;

	if (!hints || !hints->domain_attr)
		return 0;
	user_mode = hints->domain_attr->mr_mode;
	if (user_mode & (FI_MR_BASIC | FI_MR_SCALABLE))
		return user_mode;
	return user_mode & GSNFI_MR_MODE_USED;
}

static void alter_domain(struct fi_domain_attr *d, const struct fi_info *hints)
{
	const struct fi_domain_attr *h = hints ? hints->domain_attr : NULL;

	d->mr_mode = returned_mr_mode(hints);
	d->av_type = FI_AV_MAP;
	d->control_progress = our_progress();
	d->data_progress = our_progress();
	if (!h)
		return;
	/* A weaker model asked for is returned as asked: we satisfy it. */
	if (h->threading != FI_THREAD_UNSPEC)
		d->threading = h->threading;
	if (h->control_progress != FI_PROGRESS_UNSPEC)
		d->control_progress = h->control_progress;
	if (h->data_progress != FI_PROGRESS_UNSPEC)
		d->data_progress = h->data_progress;
	if (h->av_type != FI_AV_UNSPEC)
		d->av_type = h->av_type;
}

static void alter_ep(struct fi_ep_attr *ep, const struct fi_ep_attr *h)
{
	if (!h)
		return;
	if (h->tx_ctx_cnt)
		ep->tx_ctx_cnt = h->tx_ctx_cnt;
	if (h->rx_ctx_cnt)
		ep->rx_ctx_cnt = h->rx_ctx_cnt;
}

static void alter_tx(struct fi_tx_attr *tx, const struct fi_tx_attr *h, uint64_t caps)
{
	tx->caps = side_caps(h ? h->caps : 0, TX_IGNORED_CAPS, tx->caps, caps);
	tx->inject_size = gsnfi_inject_size();
	tx->op_flags = FI_TRANSMIT_COMPLETE;
	if (!h)
		return;
	tx->op_flags = h->op_flags;
	if (h->inject_size)
		tx->inject_size = h->inject_size;
	if (h->size)
		tx->size = h->size;
	if (h->iov_limit)
		tx->iov_limit = h->iov_limit;
	if (h->rma_iov_limit)
		tx->rma_iov_limit = h->rma_iov_limit;
	if (h->msg_order)
		tx->msg_order = h->msg_order;
	if (h->comp_order)
		tx->comp_order = h->comp_order;
}

static void alter_rx(struct fi_rx_attr *rx, const struct fi_rx_attr *h, uint64_t caps)
{
	rx->caps = side_caps(h ? h->caps : 0, RX_IGNORED_CAPS, rx->caps, caps);
	rx->op_flags = 0;
	if (!h)
		return;
	rx->op_flags = h->op_flags;
	if (h->size)
		rx->size = h->size;
	if (h->iov_limit)
		rx->iov_limit = h->iov_limit;
	if (h->msg_order)
		rx->msg_order = h->msg_order;
	if (h->comp_order)
		rx->comp_order = h->comp_order;
}

static int set_addr(void **dst, size_t *dstlen, const struct gsnfi_addr *a)
{
	free(*dst);
	*dst = malloc(sizeof(*a));
	if (!*dst) {
		*dstlen = 0;
		return -FI_ENOMEM;
	}
	memcpy(*dst, a, sizeof(*a));
	*dstlen = sizeof(*a);
	return 0;
}

/*
 * node in our text form ("gsn://ULA/qpn/nonce") names the source address
 * with FI_SOURCE, else the destination.  Anything else names nothing we can
 * reach or bind to.  A service alone carries no meaning for gsn addresses
 * (an endpoint's UD QP number is assigned by the device) and is ignored.
 */
static int parse_node(const char *node, uint64_t flags, struct gsnfi_addr *a, bool *is_src)
{
	if (!node || !*node)
		return 1; /* nothing given */
	if (gsnfi_addr_from_str(node, a))
		NODATA("node %s is not a gsn address (gsn://ULA/qpn/nonce)\n", node);
	*is_src = (flags & FI_SOURCE) != 0;
	return 0;
}

static int fill_addrs(struct fi_info *fi, const struct fi_info *hints, const char *node,
		      uint64_t flags)
{
	struct gsnfi_addr a;
	bool is_src = false;
	int ret;

	if (hints && hints->src_addr) {
		ret = set_addr(&fi->src_addr, &fi->src_addrlen, hints->src_addr);
		if (ret)
			return ret;
	}
	if (hints && hints->dest_addr) {
		ret = set_addr(&fi->dest_addr, &fi->dest_addrlen, hints->dest_addr);
		if (ret)
			return ret;
	}
	ret = parse_node(node, flags, &a, &is_src);
	if (ret)
		return ret > 0 ? 0 : ret;
	if (is_src)
		return set_addr(&fi->src_addr, &fi->src_addrlen, &a);
	return set_addr(&fi->dest_addr, &fi->dest_addrlen, &a);
}

static int build_info(const char *node, uint64_t flags, const struct fi_info *hints,
		      struct fi_info **info)
{
	struct fi_info *fi = fi_dupinfo(&gsnfi_info_template);
	int ret;

	if (!fi)
		return -FI_ENOMEM;
	fi->caps = info_caps(hints);
	fi->mode = 0;
	alter_domain(fi->domain_attr, hints);
	alter_ep(fi->ep_attr, hints ? hints->ep_attr : NULL);
	alter_tx(fi->tx_attr, hints ? hints->tx_attr : NULL, fi->caps);
	alter_rx(fi->rx_attr, hints ? hints->rx_attr : NULL, fi->caps);
	fi->domain_attr->name = strdup(gsnfi_default_device());
	ret = fi->domain_attr->name ? 0 : -FI_ENOMEM;
	if (!ret)
		ret = fill_addrs(fi, hints, node, flags);
	if (ret) {
		fi_freeinfo(fi);
		return ret;
	}
	*info = fi;
	return 0;
}

/* The hints, one log line per line of fi_tostr (log lines are short). */
static void log_hints(uint32_t version, const struct fi_info *hints)
{
	char *text = strdup(fi_tostr(hints, FI_TYPE_INFO));
	char *save = NULL;

	GSNFI_INFO(FI_LOG_CORE, "API %u.%u, hints:\n", FI_MAJOR(version), FI_MINOR(version));
	if (!text)
		return;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		GSNFI_INFO(FI_LOG_CORE, "%s\n", line);
	free(text);
}

int gsnfi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
		  const struct fi_info *hints, struct fi_info **info)
{
	int ret;

	(void)service;
	*info = NULL;
	if (FI_VERSION_LT(version, FI_VERSION(1, 5)) || FI_VERSION_LT(GSNFI_FI_VERSION, version))
		NODATA("API version %u.%u not supported (1.5 .. 1.17)\n", FI_MAJOR(version),
		       FI_MINOR(version));
	if (hints && fi_log_enabled(&gsnfi_prov, FI_LOG_INFO, FI_LOG_CORE))
		log_hints(version, hints);
	if (hints) {
		ret = check_hints(hints);
		if (ret)
			return ret;
	}
	return build_info(node, flags, hints, info);
}
