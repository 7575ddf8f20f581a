/* SPDX-License-Identifier: MIT */
/*
 * fi_tagged.c — fi_tsend/fi_trecv and friends of the gsn provider: each
 * call becomes gsnfi_send_args / gsnfi_recv_args (tagged) for fi_proto.c
 * and fi_match.c.  fi_trecvmsg carries FI_PEEK, FI_CLAIM and FI_DISCARD.
 */
#include "gsn_fi_ep.h"

static ssize_t gsnfi_tagged_recv(struct fid_ep *ep_fid, void *buf, size_t len, void *desc,
				 fi_addr_t src_addr, uint64_t tag, uint64_t ignore, void *context)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct gsnfi_recv_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = src_addr,
		.context = context,
		.tag = tag,
		.ignore = ignore,
		.flags = gsnfi_ep_of(ep_fid)->rx_op_flags,
		.tagged = true,
	};

	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_tagged_recvv(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
				  size_t count, fi_addr_t src_addr, uint64_t tag, uint64_t ignore,
				  void *context)
{
	struct gsnfi_recv_args a = {
		.iov = iov,
		.desc = desc,
		.count = count,
		.addr = src_addr,
		.context = context,
		.tag = tag,
		.ignore = ignore,
		.flags = gsnfi_ep_of(ep_fid)->rx_op_flags,
		.tagged = true,
	};

	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_tagged_recvmsg(struct fid_ep *ep_fid, const struct fi_msg_tagged *msg,
				    uint64_t flags)
{
	struct gsnfi_recv_args a;

	if (!msg)
		return -FI_EINVAL;
	a = (struct gsnfi_recv_args){
		.iov = msg->msg_iov,
		.desc = msg->desc,
		.count = msg->iov_count,
		.addr = msg->addr,
		.context = msg->context,
		.tag = msg->tag,
		.ignore = msg->ignore,
		.flags = flags,
		.tagged = true,
	};
	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_tagged_send(struct fid_ep *ep_fid, const void *buf, size_t len, void *desc,
				 fi_addr_t dest_addr, uint64_t tag, void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = dest_addr,
		.context = context,
		.tag = tag,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
		.tagged = true,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_tagged_sendv(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
				  size_t count, fi_addr_t dest_addr, uint64_t tag, void *context)
{
	struct gsnfi_send_args a = {
		.iov = iov,
		.desc = desc,
		.count = count,
		.addr = dest_addr,
		.context = context,
		.tag = tag,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
		.tagged = true,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_tagged_sendmsg(struct fid_ep *ep_fid, const struct fi_msg_tagged *msg,
				    uint64_t flags)
{
	struct gsnfi_send_args a;

	if (!msg)
		return -FI_EINVAL;
	a = (struct gsnfi_send_args){
		.iov = msg->msg_iov,
		.desc = msg->desc,
		.count = msg->iov_count,
		.addr = msg->addr,
		.context = msg->context,
		.data = msg->data,
		.tag = msg->tag,
		.flags = flags,
		.tagged = true,
	};
	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_tagged_inject(struct fid_ep *ep_fid, const void *buf, size_t len,
				   fi_addr_t dest_addr, uint64_t tag)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.count = 1,
		.addr = dest_addr,
		.tag = tag,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT,
		.tagged = true,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_tagged_senddata(struct fid_ep *ep_fid, const void *buf, size_t len,
				     void *desc, uint64_t data, fi_addr_t dest_addr, uint64_t tag,
				     void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = dest_addr,
		.context = context,
		.data = data,
		.tag = tag,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags | FI_REMOTE_CQ_DATA,
		.tagged = true,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_tagged_injectdata(struct fid_ep *ep_fid, const void *buf, size_t len,
				       uint64_t data, fi_addr_t dest_addr, uint64_t tag)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.count = 1,
		.addr = dest_addr,
		.data = data,
		.tag = tag,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT |
			 FI_REMOTE_CQ_DATA,
		.tagged = true,
	};

	return gsnfi_send(ep_fid, &a);
}

struct fi_ops_tagged gsnfi_tagged_ops = {
	.size = sizeof(struct fi_ops_tagged),
	.recv = gsnfi_tagged_recv,
	.recvv = gsnfi_tagged_recvv,
	.recvmsg = gsnfi_tagged_recvmsg,
	.send = gsnfi_tagged_send,
	.sendv = gsnfi_tagged_sendv,
	.sendmsg = gsnfi_tagged_sendmsg,
	.inject = gsnfi_tagged_inject,
	.senddata = gsnfi_tagged_senddata,
	.injectdata = gsnfi_tagged_injectdata,
};
