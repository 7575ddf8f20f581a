/* SPDX-License-Identifier: MIT */
/*
 * UDP cable end: one connected, nonblocking datagram socket.  Receives up
 * to UDP_BATCH datagrams per recvmmsg and at most UDP_BUDGET per readable
 * event, so one busy cable cannot starve the rest of the loop (epoll is
 * level-triggered: the rest waits for the next iteration).
 */
#include "cable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_BATCH 16
#define UDP_BUDGET 64
#define UDP_SOCKBUF (4 << 20) /* asked for; the kernel caps it at [rw]mem_max */

struct udp_cable {
	struct gsn_cable c;
	struct gsn_loop *loop;
	const struct gsn_log *log;
	int fd;
	uint8_t *bufs; /* UDP_BATCH buffers of GSN_CABLE_FRAME_MAX bytes */
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
};

static int udp_send(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	struct udp_cable *u = (struct udp_cable *)c;

	if (len > c->mtu)
		return -EMSGSIZE;
	if (send(u->fd, frame, len, MSG_DONTWAIT) == (ssize_t)len) {
		c->stats.frames_out++;
		c->stats.bytes_out += len;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		c->stats.send_full++;
		return -EAGAIN;
	}
	if (errno == EMSGSIZE)
		return -EMSGSIZE;
	c->stats.send_errors++; /* e.g. ECONNREFUSED: the peer is not there (yet) */
	return 0;
}

static void udp_close(struct gsn_cable *c)
{
	struct udp_cable *u = (struct udp_cable *)c;

	gsn_loop_del_fd(u->loop, u->fd);
	close(u->fd);
	free(u->bufs);
	free(u);
}

static const struct gsn_cable_ops udp_ops = {
	.kind = "udp",
	.send = udp_send,
	.close = udp_close,
};

static void udp_deliver_batch(struct udp_cable *u, int n)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &u->msgs[i].msg_hdr;
		size_t len = u->msgs[i].msg_len;

		if (h->msg_flags & MSG_TRUNC) {
			u->c.stats.truncated++;
			continue;
		}
		u->c.stats.frames_in++;
		u->c.stats.bytes_in += len;
		gsn_cable_deliver(&u->c, u->iov[i].iov_base, len);
	}
}

static void udp_readable(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)events;
	struct udp_cable *u = arg;

	for (int got = 0; got < UDP_BUDGET;) {
		for (int i = 0; i < UDP_BATCH; i++) {
			u->msgs[i].msg_hdr.msg_flags = 0;
			u->msgs[i].msg_len = 0;
		}
		int n = recvmmsg(fd, u->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			u->c.stats.rx_errors++; /* ECONNREFUSED: ICMP from a dead peer */
			GSN_DBG(u->log, "cable", "udp recv: %s", strerror(errno));
			return;
		}
		bool more = n == UDP_BATCH;

		got += n;
		udp_deliver_batch(u, n);
		if (!more)
			return;
	}
}

static void udp_bufs_init(struct udp_cable *u)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		u->iov[i].iov_base = u->bufs + (size_t)i * GSN_CABLE_FRAME_MAX;
		u->iov[i].iov_len = GSN_CABLE_FRAME_MAX;
		memset(&u->msgs[i].msg_hdr, 0, sizeof(u->msgs[i].msg_hdr));
		u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

/* The socket must be a datagram socket with a peer. */
static int udp_check_fd(int fd)
{
	int type = 0;
	socklen_t tl = sizeof(type);
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return -errno;
	if (type != SOCK_DGRAM)
		return -EPROTOTYPE;
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return -errno;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	int sz = UDP_SOCKBUF;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)); /* best effort */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return 0;
}

static int udp_socket_for(const struct gsn_cable_spec *spec)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&spec->local, sizeof(spec->local)) < 0 ||
	    connect(fd, (const struct sockaddr *)&spec->remote, sizeof(spec->remote)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int udp_wrap(struct gsn_loop *loop, int fd, const struct gsn_log *log,
		    struct gsn_cable **out)
{
	struct udp_cable *u = calloc(1, sizeof(*u));
	int err = -ENOMEM;

	if (!u)
		goto fail;
	u->bufs = malloc((size_t)UDP_BATCH * GSN_CABLE_FRAME_MAX);
	if (!u->bufs)
		goto fail;
	u->c.ops = &udp_ops;
	u->c.mtu = GSN_CABLE_UDP_MTU;
	u->loop = loop;
	u->log = log;
	u->fd = fd;
	udp_bufs_init(u);
	err = gsn_loop_add_fd(loop, fd, EPOLLIN, udp_readable, u);
	if (err)
		goto fail;
	*out = &u->c;
	return 0;
fail:
	if (u)
		free(u->bufs);
	free(u);
	close(fd);
	return err;
}

int gsn_cable_udp_open(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
		       const struct gsn_log *log, struct gsn_cable **out)
{
	int fd;

	if (spec->type == GSN_CABLE_SPEC_UDP_FD) {
		fd = spec->fd;
		int err = udp_check_fd(fd);

		if (err) {
			GSN_ERR(log, "cable", "udp-fd:%d: %s", fd, strerror(-err));
			if (err != -EBADF)
				close(fd);
			return err;
		}
	} else if (spec->type == GSN_CABLE_SPEC_UDP) {
		fd = udp_socket_for(spec);
		if (fd < 0) {
			GSN_ERR(log, "cable", "udp: %s", strerror(-fd));
			return fd;
		}
	} else {
		return -EINVAL;
	}
	return udp_wrap(loop, fd, log, out);
}

static int udp_loopback_socket(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t l = sizeof(*sa);

	if (fd < 0)
		return -errno;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &l) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int gsn_cable_udp_create_pair(int fds[2])
{
	struct sockaddr_in sa[2];
	int err;

	fds[0] = udp_loopback_socket(&sa[0]);
	if (fds[0] < 0)
		return fds[0];
	fds[1] = udp_loopback_socket(&sa[1]);
	if (fds[1] < 0) {
		err = fds[1];
		goto fail0;
	}
	if (connect(fds[0], (struct sockaddr *)&sa[1], sizeof(sa[1])) < 0 ||
	    connect(fds[1], (struct sockaddr *)&sa[0], sizeof(sa[0])) < 0) {
		err = -errno;
		goto fail1;
	}
	return 0;
fail1:
	close(fds[1]);
fail0:
	close(fds[0]);
	fds[0] = fds[1] = -1;
	return err;
}
