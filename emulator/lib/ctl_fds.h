/* SPDX-License-Identifier: MIT */
/*
 * File descriptors on the control socket (SCM_RIGHTS).
 *
 * The device ABI (kernel-uapi/gsn/dev_abi.h) answers CREATE_CQ and
 * CREATE_QP with shared memory and eventfds: the response record carries
 * them as one SCM_RIGHTS control message, in the order the response struct
 * lists them.  This module adds fd passing next to ctl.{h,c} without
 * touching them:
 *
 *  - client: gsn_ctl_recv_fds() receives one message with its fds,
 *    gsn_ctl_call_fds() sends a request and waits for its response (same
 *    type and seq), handing other messages to a callback;
 *  - server: gsn_ctl_send_fds_sock() sends one message with fds on a
 *    socket, gsn_ctl_reply_fds() answers a request of a gsn_ctl_server
 *    client.
 *
 * Received fds are always close-on-exec (MSG_CMSG_CLOEXEC).  An fd that
 * arrives with a message nobody takes (another message, a malformed one,
 * more fds than the caller asked for) is closed at once: no path leaks one.
 */
#ifndef GSN_CTL_FDS_H
#define GSN_CTL_FDS_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many fds travel with one message. */
#define GSN_CTL_FDS_MAX 8u

/* ---- client ---- */

/*
 * Receives one message within timeout_ms (0: only if one is there, -1:
 * forever): the header into *h, the body into body[0..cap) with its length
 * in *len, and up to max_fds fds into fds[] with their number in *nfds.
 *
 * 0, or -ETIMEDOUT, -ECONNRESET (the peer went away), -EBADMSG /
 * -EPROTONOSUPPORT (a bad header: the record is consumed, *h may be
 * partial), -EMSGSIZE (the body did not fit in cap: consumed, *h is
 * valid, no fds returned), -EPROTO (more fds than max_fds or than
 * GSN_CTL_FDS_MAX: consumed, *h valid, no fds returned).  On every error
 * *nfds is 0 and no fd is left open.
 */
int gsn_ctl_recv_fds(struct gsn_ctl_conn *c, struct gsn_ctl_hdr *h, void *body, size_t cap,
		     size_t *len, int *fds, size_t max_fds, size_t *nfds, int timeout_ms);

/*
 * Request and response with fds: sends the request (type, req[0..req_len))
 * with the connection's next seq, then receives until the message with
 * that type and seq.  Other messages (ASYNC_EVENT, RAW_RECV, a response to
 * an earlier call that timed out) go to async(async_arg, ...) when async
 * is not NULL, else they are dropped; fds that come with them are closed.
 * (ctl.h keeps the callback of gsn_ctl_set_async() private to ctl.c, hence
 * the explicit parameter.)
 *
 * On success the response body is in resp[0..*resp_len) and its fds in
 * fds[0..*nfds); the return value is then the response's status: 0, or
 * the server's -errno (with an empty body and no fds).  A transport error
 * returns as in gsn_ctl_recv_fds() (-ETIMEDOUT, -ECONNRESET, -EMSGSIZE,
 * -EPROTO) or from gsn_ctl_send_request(); then *resp_len and *nfds are 0.
 * timeout_ms bounds the whole call (-1: forever).
 */
int gsn_ctl_call_fds(struct gsn_ctl_conn *c, uint16_t type, const void *req, size_t req_len,
		     void *resp, size_t resp_cap, size_t *resp_len, int *fds, size_t max_fds,
		     size_t *nfds, int timeout_ms, gsn_ctl_async_fn async, void *async_arg);

/* ---- server ---- */

/*
 * Sends one message (header built from type, seq, status) with body and
 * nfds fds on a connected SOCK_SEQPACKET socket, without blocking.  The
 * fds stay open in the caller (the kernel duplicates them into the
 * message).  0, -EAGAIN (the socket would block: nothing sent), -EINVAL
 * (nfds > GSN_CTL_FDS_MAX), -EMSGSIZE, -ENOTCONN (peer gone), -errno.
 * An error status (< 0) sends an empty body and no fds, as ctl.h's replies
 * do.
 */
int gsn_ctl_send_fds_sock(int sock, uint16_t type, uint32_t seq, int32_t status,
			  const void *body, size_t len, const int *fds, size_t nfds);

/*
 * The response to request h of client c, with fds (status 0), sent on the
 * client's socket (gsn_ctl_client_fd(); without GSN_CTL_HAVE_CLIENT_FD in
 * ctl.h this is -ENOSYS).  A message with fds cannot join the server's
 * queue of pending output (out_msg has no room for fds), so when that
 * queue is not empty — the reply would overtake it — or the socket is
 * full, nothing is sent and the result is -EAGAIN: the caller undoes the
 * object and answers with that status (return it from the handler).
 * Otherwise as gsn_ctl_send_fds_sock().  The fds stay the caller's.
 */
int gsn_ctl_reply_fds(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const void *body, size_t len, const int *fds,
		      size_t nfds);

#ifdef __cplusplus
}
#endif

#endif /* GSN_CTL_FDS_H */
