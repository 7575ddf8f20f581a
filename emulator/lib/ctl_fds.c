/* SPDX-License-Identifier: MIT */
/* File descriptors on the control socket: SCM_RIGHTS send and receive. */
#include "ctl_fds.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Room for GSN_CTL_FDS_MAX fds, aligned for struct cmsghdr. */
union fd_cmsg {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int) * GSN_CTL_FDS_MAX)];
};

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = now_ms();

	if (deadline == UINT64_MAX)
		return -1;
	if (deadline <= now)
		return 0;
	return deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
}

/* Waits until fd is readable or the deadline passes. */
static int wait_readable(int fd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, ms_left(deadline));

		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Moves the fds of a received message into out[0..cap).  Returns 0 with
 * *n set, or -EPROTO when there were more than cap (or the kernel had to
 * truncate them): then every one is closed and *n is 0.
 */
static int take_fds(struct msghdr *m, int *out, size_t cap, size_t *n)
{
	bool over = (m->msg_flags & MSG_CTRUNC) != 0;
	size_t got = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *p = CMSG_DATA(cm);

		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, p + i * sizeof(int), sizeof(int));
			if (got < cap && out) {
				out[got++] = fd;
			} else {
				close(fd);
				over = true;
			}
		}
	}
	if (over) {
		close_fds(out, got);
		*n = 0;
		return -EPROTO;
	}
	*n = got;
	return 0;
}

/*
 * Receives one record: its first 16 bytes into hb, the rest into
 * body[0..cap), fds as take_fds().  Returns the record's full length
 * (which may exceed 16 + cap: truncated), 0 at end of stream, or -errno.
 * *fd_err is take_fds()'s result.
 */
static ssize_t recv_record(int sock, uint8_t hb[GSN_CTL_HDR_LEN], void *body, size_t cap,
			   int *fds, size_t max_fds, size_t *nfds, int *fd_err, uint64_t deadline)
{
	for (;;) {
		union fd_cmsg cbuf;
		struct iovec iov[2] = {{hb, GSN_CTL_HDR_LEN}, {body, cap}};
		struct msghdr m = {
			.msg_iov = iov,
			.msg_iovlen = cap ? 2 : 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);

		if (n >= 0) {
			*fd_err = take_fds(&m, fds, max_fds, nfds);
			if (m.msg_flags & MSG_TRUNC && (size_t)n <= GSN_CTL_HDR_LEN + cap)
				n = (ssize_t)(GSN_CTL_HDR_LEN + cap + 1); /* be sure to call it truncated */
			return n;
		}
		if (errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		int err = wait_readable(sock, deadline);

		if (err)
			return err;
	}
}

int gsn_ctl_recv_fds(struct gsn_ctl_conn *c, struct gsn_ctl_hdr *h, void *body, size_t cap,
		     size_t *len, int *fds, size_t max_fds, size_t *nfds, int timeout_ms)
{
	uint8_t hb[GSN_CTL_HDR_LEN] = {0};
	int fd_err = 0;
	size_t got = 0;
	ssize_t n;

	*len = 0;
	*nfds = 0;
	n = recv_record(gsn_ctl_conn_fd(c), hb, body, cap, fds, max_fds, &got, &fd_err,
			deadline_of(timeout_ms));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	int err = gsn_ctl_hdr_decode(hb, (size_t)n, h);

	if (!err && (size_t)n > GSN_CTL_HDR_LEN + cap)
		err = -EMSGSIZE;
	if (!err)
		err = fd_err;
	if (err) {
		if (!fd_err)
			close_fds(fds, got);
		return err;
	}
	*len = h->body_len;
	*nfds = got;
	return 0;
}

/* Receives the record at the head of the queue and hands it to async. */
static int divert(int sock, size_t n, gsn_ctl_async_fn async, void *arg, uint64_t deadline)
{
	uint8_t hb[GSN_CTL_HDR_LEN] = {0};
	size_t cap = n > GSN_CTL_HDR_LEN ? n - GSN_CTL_HDR_LEN : 0;
	uint8_t *body = NULL;
	size_t nfds = 0;
	int fd_err = 0;
	struct gsn_ctl_hdr h;

	if (cap > GSN_CTL_BODY_MAX)
		cap = 0; /* larger than any message: consume and drop */
	if (cap && !(body = malloc(cap)))
		return -ENOMEM;
	ssize_t r = recv_record(sock, hb, body, cap, NULL, 0, &nfds, &fd_err, deadline);

	if (r > 0 && async && gsn_ctl_hdr_decode(hb, (size_t)r, &h) == 0 &&
	    (size_t)r <= GSN_CTL_HDR_LEN + cap)
		async(arg, &h, body, h.body_len);
	free(body);
	return r < 0 ? (int)r : r == 0 ? -ECONNRESET : 0;
}

/* Looks at the next record's header without taking it: its full length. */
static ssize_t peek_record(int sock, uint8_t hb[GSN_CTL_HDR_LEN], uint64_t deadline)
{
	for (;;) {
		struct iovec iov = {hb, GSN_CTL_HDR_LEN};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);

		if (n >= 0)
			return n;
		if (errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		int err = wait_readable(sock, deadline);

		if (err)
			return err;
	}
}

int gsn_ctl_call_fds(struct gsn_ctl_conn *c, uint16_t type, const void *req, size_t req_len,
		     void *resp, size_t resp_cap, size_t *resp_len, int *fds, size_t max_fds,
		     size_t *nfds, int timeout_ms, gsn_ctl_async_fn async, void *async_arg)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int sock = gsn_ctl_conn_fd(c);
	uint32_t seq;
	int err;

	*resp_len = 0;
	*nfds = 0;
	err = gsn_ctl_send_request(c, type, req, req_len, &seq, timeout_ms);
	if (err)
		return err;
	for (;;) {
		uint8_t hb[GSN_CTL_HDR_LEN] = {0};
		struct gsn_ctl_hdr h;
		ssize_t n = peek_record(sock, hb, deadline);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		/* Only the header is in hb: decode it as if the record were whole. */
		if (gsn_ctl_hdr_decode(hb, (size_t)n, &h) != 0 || h.seq != seq || h.type != type) {
			err = divert(sock, (size_t)n, async, async_arg, deadline);
			if (err)
				return err;
			continue;
		}
		err = gsn_ctl_recv_fds(c, &h, resp, resp_cap, resp_len, fds, max_fds, nfds, 0);
		if (err)
			return err;
		if (h.status < 0) {
			close_fds(fds, *nfds);
			*nfds = 0;
			*resp_len = 0;
			return h.status;
		}
		return 0;
	}
}

int gsn_ctl_send_fds_sock(int sock, uint16_t type, uint32_t seq, int32_t status,
			  const void *body, size_t len, const int *fds, size_t nfds)
{
	if (status < 0) {
		len = 0;
		nfds = 0;
	}
	if (nfds > GSN_CTL_FDS_MAX)
		return -EINVAL;
	if (len > GSN_CTL_BODY_MAX)
		return -EMSGSIZE;
	struct gsn_ctl_hdr h = {GSN_CTL_VERSION, type, seq, status, (uint32_t)len};
	uint8_t hb[GSN_CTL_HDR_LEN];
	struct iovec iov[2] = {{hb, sizeof(hb)}, {(void *)body, len}};
	union fd_cmsg cbuf;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};

	gsn_ctl_hdr_encode(&h, hb);
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	for (;;) {
		if (sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
			return -ENOTCONN;
		return -errno;
	}
}

int gsn_ctl_reply_fds(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const void *body, size_t len, const int *fds,
		      size_t nfds)
{
#ifdef GSN_CTL_HAVE_CLIENT_FD
	(void)srv;
	if (gsn_ctl_client_queued(c) > 0)
		return -EAGAIN; /* would overtake queued output */
	return gsn_ctl_send_fds_sock(gsn_ctl_client_fd(c), h->type, h->seq, 0, body, len, fds,
				     nfds);
#else
	(void)srv;
	(void)c;
	(void)h;
	(void)body;
	(void)len;
	(void)fds;
	(void)nfds;
	return -ENOSYS;
#endif
}
