/* SPDX-License-Identifier: MIT */
/*
 * fi_msg.c — fi_send/fi_recv and friends of the gsn provider: each call
 * is turned into gsnfi_send_args / gsnfi_recv_args for fi_proto.c and
 * fi_match.c.  Calls without flags use the endpoint's operation flags
 * (fi_endpoint(3): tx_attr/rx_attr op_flags, FI_SETOPSFLAG).
 */
#include "gsn_fi_ep.h"

static ssize_t gsnfi_msg_recv(struct fid_ep *ep_fid, void *buf, size_t len, void *desc,
			      fi_addr_t src_addr, void *context)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct gsnfi_recv_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = src_addr,
		.context = context,
		.flags = gsnfi_ep_of(ep_fid)->rx_op_flags,
	};

	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_msg_recvv(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
			       size_t count, fi_addr_t src_addr, void *context)
{
	struct gsnfi_recv_args a = {
		.iov = iov,
		.desc = desc,
		.count = count,
		.addr = src_addr,
		.context = context,
		.flags = gsnfi_ep_of(ep_fid)->rx_op_flags,
	};

	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_msg_recvmsg(struct fid_ep *ep_fid, const struct fi_msg *msg, uint64_t flags)
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
		.flags = flags,
	};
	return gsnfi_recv(ep_fid, &a);
}

static ssize_t gsnfi_msg_send(struct fid_ep *ep_fid, const void *buf, size_t len, void *desc,
			      fi_addr_t dest_addr, void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = dest_addr,
		.context = context,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_msg_sendv(struct fid_ep *ep_fid, const struct iovec *iov, void **desc,
			       size_t count, fi_addr_t dest_addr, void *context)
{
	struct gsnfi_send_args a = {
		.iov = iov,
		.desc = desc,
		.count = count,
		.addr = dest_addr,
		.context = context,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_msg_sendmsg(struct fid_ep *ep_fid, const struct fi_msg *msg, uint64_t flags)
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
		.flags = flags,
	};
	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_msg_inject(struct fid_ep *ep_fid, const void *buf, size_t len,
				fi_addr_t dest_addr)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.count = 1,
		.addr = dest_addr,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_msg_senddata(struct fid_ep *ep_fid, const void *buf, size_t len, void *desc,
				  uint64_t data, fi_addr_t dest_addr, void *context)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.desc = &desc,
		.count = 1,
		.addr = dest_addr,
		.context = context,
		.data = data,
		.flags = gsnfi_ep_of(ep_fid)->tx_op_flags | FI_REMOTE_CQ_DATA,
	};

	return gsnfi_send(ep_fid, &a);
}

static ssize_t gsnfi_msg_injectdata(struct fid_ep *ep_fid, const void *buf, size_t len,
				    uint64_t data, fi_addr_t dest_addr)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct gsnfi_send_args a = {
		.iov = &iov,
		.count = 1,
		.addr = dest_addr,
		.data = data,
		.flags = (gsnfi_ep_of(ep_fid)->tx_op_flags & ~FI_COMPLETION) | FI_INJECT |
			 FI_REMOTE_CQ_DATA,
	};

	return gsnfi_send(ep_fid, &a);
}

struct fi_ops_msg gsnfi_msg_ops = {
	.size = sizeof(struct fi_ops_msg),
	.recv = gsnfi_msg_recv,
	.recvv = gsnfi_msg_recvv,
	.recvmsg = gsnfi_msg_recvmsg,
	.send = gsnfi_msg_send,
	.sendv = gsnfi_msg_sendv,
	.sendmsg = gsnfi_msg_sendmsg,
	.inject = gsnfi_msg_inject,
	.senddata = gsnfi_msg_senddata,
	.injectdata = gsnfi_msg_injectdata,
};
