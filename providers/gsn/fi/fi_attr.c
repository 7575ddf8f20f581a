/* SPDX-License-Identifier: MIT */
/*
 * fi_attr.c — the one attribute set the provider serves (fi_gsn(7),
 * docs/fi.md "Attributes").  fi_getinfo.c matches hints against it and
 * narrows a copy of it to what was asked for.
 *
 * The values are what the provider can keep regardless of the device it
 * finds: getinfo must not start or contact gsnd, so nothing here comes from
 * gsn_query_device().
 */
#include <stdlib.h>

#include "gsn_fi.h"

/* libfabric's FI_TAG_GENERIC: every tag bit usable, bit 63 set. */
#define GSNFI_TAG_FORMAT 0xAAAAAAAAAAAAAAAAull

#define GSNFI_TX_CAPS                                                                   \
	(FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_SEND | FI_READ | FI_WRITE |      \
	 FI_LOCAL_COMM | FI_REMOTE_COMM)
#define GSNFI_RX_CAPS                                                                   \
	(FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_RECV | FI_REMOTE_READ |          \
	 FI_REMOTE_WRITE | FI_RMA_EVENT | FI_DIRECTED_RECV | FI_SOURCE | FI_LOCAL_COMM | \
	 FI_REMOTE_COMM)

/*
 * Ordering over one reliable connected QP per peer: messages are matched
 * and delivered in the order they were sent.  RMA is executed by the
 * device and atomics by the target's provider, so no order between RMA
 * and atomic operations is promised.
 */
#define GSNFI_MSG_ORDER FI_ORDER_SAS

static struct fi_tx_attr gsnfi_tx_attr = {
	.caps = GSNFI_TX_CAPS,
	.mode = 0,
	/* supported flags; returned as FI_TRANSMIT_COMPLETE without hints */
	.op_flags = FI_INJECT | FI_COMPLETION | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE |
		    FI_DELIVERY_COMPLETE,
	.msg_order = GSNFI_MSG_ORDER,
	.comp_order = FI_ORDER_NONE,
	.inject_size = GSNFI_INJECT_SIZE,
	.size = GSNFI_QUEUE_SIZE,
	.iov_limit = GSNFI_IOV_LIMIT,
	.rma_iov_limit = GSNFI_RMA_IOV_LIMIT,
};

static struct fi_rx_attr gsnfi_rx_attr = {
	.caps = GSNFI_RX_CAPS,
	.mode = 0,
	.op_flags = FI_COMPLETION,
	.msg_order = GSNFI_MSG_ORDER,
	.comp_order = FI_ORDER_NONE,
	.total_buffered_recv = 0, /* unexpected messages are buffered without a limit */
	.size = GSNFI_QUEUE_SIZE,
	.iov_limit = GSNFI_IOV_LIMIT,
};

static struct fi_ep_attr gsnfi_ep_attr = {
	.type = FI_EP_RDM,
	.protocol = FI_PROTO_UNSPEC,
	.protocol_version = 1,
	.max_msg_size = GSNFI_MAX_MSG_SIZE,
	.msg_prefix_size = 0,
	.max_order_raw_size = 0,
	.max_order_war_size = 0,
	.max_order_waw_size = 0,
	.mem_tag_format = GSNFI_TAG_FORMAT,
	.tx_ctx_cnt = 1,
	.rx_ctx_cnt = 1,
};

static struct fi_domain_attr gsnfi_domain_attr = {
	.name = NULL, /* set per call: gsnfi_default_device() */
	.threading = FI_THREAD_SAFE,
	.control_progress = FI_PROGRESS_AUTO,
	.data_progress = FI_PROGRESS_AUTO,
	.resource_mgmt = FI_RM_ENABLED,
	.av_type = FI_AV_UNSPEC, /* both; getinfo returns the one asked for, else MAP */
	/*
	 * The old values both describe something we can do; no 1.5 bit is
	 * required (see fi_getinfo.c for what is returned).
	 */
	.mr_mode = FI_MR_BASIC | FI_MR_SCALABLE,
	.mr_key_size = GSNFI_MR_KEY_SIZE,
	.cq_data_size = GSNFI_CQ_DATA_SIZE,
	.cq_cnt = 1024,
	.ep_cnt = 256,
	.tx_ctx_cnt = 256,
	.rx_ctx_cnt = 256,
	.max_ep_tx_ctx = 1,
	.max_ep_rx_ctx = 1,
	.max_ep_stx_ctx = 0,
	.max_ep_srx_ctx = 0,
	.cntr_cnt = 1024,
	.mr_iov_limit = GSNFI_MR_IOV_LIMIT,
	.caps = FI_LOCAL_COMM | FI_REMOTE_COMM,
	.mode = 0,
	.max_err_data = 0,
	.mr_cnt = 16384, /* gsnd's MR table */
};

static struct fi_fabric_attr gsnfi_fabric_attr = {
	.name = GSNFI_FABRIC_NAME,
	.prov_name = NULL, /* the core fills it in */
	.prov_version = GSNFI_PROV_VERSION,
	.api_version = GSNFI_FI_VERSION,
};

const struct fi_info gsnfi_info_template = {
	.caps = GSNFI_TX_CAPS | GSNFI_RX_CAPS,
	.mode = 0,
	.addr_format = FI_FORMAT_UNSPEC,
	.src_addrlen = 0,
	.dest_addrlen = 0,
	.tx_attr = &gsnfi_tx_attr,
	.rx_attr = &gsnfi_rx_attr,
	.ep_attr = &gsnfi_ep_attr,
	.domain_attr = &gsnfi_domain_attr,
	.fabric_attr = &gsnfi_fabric_attr,
};

size_t gsnfi_inject_size(void)
{
	return gsnfi_params.eager_size < GSNFI_INJECT_SIZE ? gsnfi_params.eager_size
							   : GSNFI_INJECT_SIZE;
}

const char *gsnfi_default_device(void)
{
	const char *env;

	if (gsnfi_params.device)
		return gsnfi_params.device;
	env = getenv("GSN_DEVICE");
	return env && *env ? env : "gsn0";
}
