/* SPDX-License-Identifier: MIT */
/*
 * Control socket server: listen, accept (SO_PEERCRED), read one record per
 * request, dispatch by type, send replies, queue what a slow client does
 * not take (bounded), and tell the owner when a client is congested.
 *
 * A client that goes away (or is dropped) is only marked dead at once; it
 * is freed, and its disconnected callback runs, in a post-iteration hook,
 * so no callback ever sees a client vanish under its feet.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_BUDGET 16 /* requests read per client per event */

struct out_msg {
	struct out_msg *next;
	size_t len;
	uint8_t data[];
};

struct gsn_ctl_client {
	struct gsn_ctl_server *srv;
	struct gsn_ctl_client *next;
	int fd;
	uint64_t id;
	struct ucred cred;
	void *data;
	struct out_msg *head, *tail;
	size_t queued;
	bool congested;
	bool dead;
};

struct gsn_ctl_server {
	struct gsn_loop *loop;
	const struct gsn_log *log;
	struct gsn_ctl_server_ops ops;
	void *arg;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct gsn_ctl_client *clients;
	uint64_t next_id;
	int hook_id;
	bool has_dead;
	uint8_t *rxbuf; /* GSN_CTL_MSG_MAX + 1 */
	struct gsn_ctl_server_stats stats;
};

/* ---- clients ---- */

uint64_t gsn_ctl_client_id(const struct gsn_ctl_client *c)
{
	return c->id;
}

const struct ucred *gsn_ctl_client_cred(const struct gsn_ctl_client *c)
{
	return &c->cred;
}

void gsn_ctl_client_set_data(struct gsn_ctl_client *c, void *data)
{
	c->data = data;
}

void *gsn_ctl_client_data(const struct gsn_ctl_client *c)
{
	return c->data;
}

bool gsn_ctl_client_congested(const struct gsn_ctl_client *c)
{
	return c->congested;
}

size_t gsn_ctl_client_queued(const struct gsn_ctl_client *c)
{
	return c->queued;
}

int gsn_ctl_client_fd(const struct gsn_ctl_client *c)
{
	return c->fd;
}

struct gsn_ctl_client *gsn_ctl_server_client(struct gsn_ctl_server *srv, uint64_t id)
{
	for (struct gsn_ctl_client *c = srv->clients; c; c = c->next)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

void gsn_ctl_server_drop(struct gsn_ctl_server *srv, struct gsn_ctl_client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	srv->has_dead = true;
	gsn_loop_del_fd(srv->loop, c->fd);
}

static void client_free(struct gsn_ctl_server *srv, struct gsn_ctl_client *c)
{
	if (srv->ops.disconnected)
		srv->ops.disconnected(srv, c, srv->arg);
	gsn_loop_del_fd(srv->loop, c->fd);
	close(c->fd);
	while (c->head) {
		struct out_msg *m = c->head;

		c->head = m->next;
		free(m);
	}
	srv->stats.clients--;
	free(c);
}

/* Frees the dead clients; runs after every loop iteration. */
static void reap(struct gsn_loop *loop, void *arg)
{
	(void)loop;
	struct gsn_ctl_server *srv = arg;

	if (!srv->has_dead)
		return;
	srv->has_dead = false;
	for (struct gsn_ctl_client **pp = &srv->clients; *pp;) {
		struct gsn_ctl_client *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		client_free(srv, c);
	}
}

/* ---- sending ---- */

static void update_events(struct gsn_ctl_server *srv, struct gsn_ctl_client *c)
{
	uint32_t ev = c->congested ? 0 : EPOLLIN;

	if (c->head)
		ev |= EPOLLOUT;
	gsn_loop_mod_fd(srv->loop, c->fd, ev);
}

static void set_congested(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, bool on)
{
	if (c->congested == on)
		return;
	c->congested = on;
	if (srv->ops.backlog)
		srv->ops.backlog(srv, c, on, srv->arg);
}

/* 1 sent, 0 would block, -ENOTCONN gone. */
static int try_send(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, struct iovec *iov,
		    int iovcnt)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};

	for (;;) {
		if (sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			srv->stats.replies++;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		GSN_DBG(srv->log, "ctl", "client %llu: send: %s", (unsigned long long)c->id,
			strerror(errno));
		gsn_ctl_server_drop(srv, c);
		return -ENOTCONN;
	}
}

static int enqueue(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, const uint8_t *hdr,
		   const void *body, size_t len)
{
	size_t total = GSN_CTL_HDR_LEN + len;

	if (c->queued + total > GSN_CTL_QUEUE_MAX) {
		srv->stats.dropped++;
		return -ENOBUFS;
	}
	struct out_msg *m = malloc(sizeof(*m) + total);

	if (!m) {
		srv->stats.dropped++;
		return -ENOBUFS;
	}
	m->next = NULL;
	m->len = total;
	memcpy(m->data, hdr, GSN_CTL_HDR_LEN);
	if (len)
		memcpy(m->data + GSN_CTL_HDR_LEN, body, len);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	c->queued += total;
	srv->stats.queued++;
	if (c->queued > GSN_CTL_QUEUE_MAX / 2)
		set_congested(srv, c, true);
	update_events(srv, c);
	return 0;
}

int gsn_ctl_send(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, uint16_t type,
		 uint32_t seq, int32_t status, const void *body, size_t len)
{
	if (c->dead)
		return -ENOTCONN;
	if (len > GSN_CTL_BODY_MAX)
		return -EMSGSIZE;
	struct gsn_ctl_hdr h = {GSN_CTL_VERSION, type, seq, status, (uint32_t)len};
	uint8_t hb[GSN_CTL_HDR_LEN];

	gsn_ctl_hdr_encode(&h, hb);
	if (!c->head) {
		struct iovec iov[2] = {{hb, sizeof(hb)}, {(void *)body, len}};
		int r = try_send(srv, c, iov, len ? 2 : 1);

		if (r != 0)
			return r < 0 ? r : 0;
	}
	return enqueue(srv, c, hb, body, len);
}

int gsn_ctl_reply(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		  const struct gsn_ctl_hdr *h, int32_t status, const void *body, size_t len)
{
	return gsn_ctl_send(srv, c, h->type, h->seq, status, status < 0 ? NULL : body,
			    status < 0 ? 0 : len);
}

static void flush(struct gsn_ctl_server *srv, struct gsn_ctl_client *c)
{
	while (c->head) {
		struct out_msg *m = c->head;
		struct iovec iov = {m->data, m->len};
		int r = try_send(srv, c, &iov, 1);

		if (r <= 0)
			return;
		c->head = m->next;
		if (!c->head)
			c->tail = NULL;
		c->queued -= m->len;
		free(m);
	}
	set_congested(srv, c, false);
	update_events(srv, c);
}

/* ---- receiving ---- */

/* The handler of type, or NULL. */
static gsn_ctl_handler_fn handler_of(const struct gsn_ctl_server *srv, unsigned type)
{
	if (type < GSN_CTL_TYPE_COUNT)
		return srv->ops.handlers[type];
	if (type >= GSN_CTL_DEV_FIRST && type < GSN_CTL_DEV_FIRST + GSN_CTL_DEV_COUNT)
		return srv->ops.dev_handlers[type - GSN_CTL_DEV_FIRST];
	return NULL;
}

static void dispatch(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, size_t n)
{
	gsn_ctl_handler_fn fn = NULL;
	struct gsn_ctl_hdr h = {0};
	int err;

	srv->stats.requests++;
	if (n > GSN_CTL_MSG_MAX) {
		err = n >= GSN_CTL_HDR_LEN ? -EMSGSIZE : -EBADMSG;
		gsn_ctl_hdr_decode(srv->rxbuf, GSN_CTL_HDR_LEN, &h); /* for type and seq */
	} else {
		err = gsn_ctl_hdr_decode(srv->rxbuf, n, &h);
	}
	if (!err && !(fn = handler_of(srv, h.type)))
		err = -EOPNOTSUPP;
	if (!err)
		err = fn(srv, c, &h, srv->rxbuf + GSN_CTL_HDR_LEN, h.body_len, srv->arg);
	else
		srv->stats.bad_requests++;
	if (err < 0)
		gsn_ctl_send(srv, c, h.type, h.seq, err, NULL, 0);
}

static void client_readable(struct gsn_ctl_server *srv, struct gsn_ctl_client *c)
{
	for (int i = 0; i < READ_BUDGET && !c->dead && !c->congested; i++) {
		ssize_t n = recv(c->fd, srv->rxbuf, GSN_CTL_MSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);

		if (n == 0) {
			gsn_ctl_server_drop(srv, c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				gsn_ctl_server_drop(srv, c);
			return;
		}
		if ((size_t)n < GSN_CTL_HDR_LEN)
			memset(srv->rxbuf + n, 0, GSN_CTL_HDR_LEN - (size_t)n);
		dispatch(srv, c, (size_t)n);
	}
}

static void client_event(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	struct gsn_ctl_client *c = arg;
	struct gsn_ctl_server *srv = c->srv;

	if (events & EPOLLOUT)
		flush(srv, c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		client_readable(srv, c);
	if (!c->dead && c->congested && (events & (EPOLLHUP | EPOLLERR)))
		gsn_ctl_server_drop(srv, c);
}

/* ---- accepting ---- */

static void accept_one(struct gsn_ctl_server *srv, int fd)
{
	struct gsn_ctl_client *c = calloc(1, sizeof(*c));
	socklen_t l = sizeof(struct ucred);
	int sz = 2 * (int)GSN_CTL_MSG_MAX;

	if (!c || srv->stats.clients >= GSN_CTL_CLIENTS_MAX ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &l) < 0) {
		srv->stats.refused++;
		free(c);
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)); /* best effort */
	c->srv = srv;
	c->fd = fd;
	c->id = ++srv->next_id;
	if (gsn_loop_add_fd(srv->loop, fd, EPOLLIN, client_event, c) < 0) {
		srv->stats.refused++;
		free(c);
		close(fd);
		return;
	}
	c->next = srv->clients;
	srv->clients = c;
	srv->stats.accepted++;
	srv->stats.clients++;
	GSN_DBG(srv->log, "ctl", "client %llu: pid %d uid %u", (unsigned long long)c->id,
		(int)c->cred.pid, (unsigned)c->cred.uid);
	if (srv->ops.connected)
		srv->ops.connected(srv, c, srv->arg);
}

static void listen_ready(struct gsn_loop *loop, int lfd, uint32_t events, void *arg)
{
	(void)loop;
	(void)events;
	struct gsn_ctl_server *srv = arg;

	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		accept_one(srv, fd);
	}
}

/* ---- life cycle ---- */

/* -EADDRINUSE if someone answers on path; removes a stale socket. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	strcpy(sa.sun_path, path);
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;

	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (e != ECONNREFUSED && e != ENOENT)
		return -e;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err = claim_path(path);

	if (err)
		return err;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	mode_t old = umask(0177); /* the socket is born 0600 */

	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (!err && (chmod(path, 0600) < 0 || listen(fd, 64) < 0)) {
		err = -errno;
		unlink(path);
	}
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int gsn_ctl_server_new(struct gsn_loop *loop, const char *path,
		       const struct gsn_ctl_server_ops *ops, void *arg, const struct gsn_log *log,
		       struct gsn_ctl_server **out)
{
	struct gsn_ctl_server *srv;
	int err = -ENOMEM;

	if (strlen(path) >= sizeof(srv->path))
		return -ENAMETOOLONG;
	srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->rxbuf = malloc(GSN_CTL_MSG_MAX + 1)))
		goto fail;
	srv->loop = loop;
	srv->log = log;
	srv->ops = *ops;
	srv->arg = arg;
	srv->listen_fd = -1;
	strcpy(srv->path, path);
	srv->hook_id = gsn_loop_add_hook(loop, reap, srv);
	if (srv->hook_id < 0) {
		err = srv->hook_id;
		goto fail;
	}
	srv->listen_fd = listen_on(path);
	if (srv->listen_fd < 0) {
		err = srv->listen_fd;
		GSN_ERR(log, "ctl", "listen on %s: %s", path, strerror(-err));
		goto fail;
	}
	err = gsn_loop_add_fd(loop, srv->listen_fd, EPOLLIN, listen_ready, srv);
	if (err) {
		unlink(path);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	if (srv) {
		if (srv->hook_id > 0)
			gsn_loop_remove(loop, srv->hook_id);
		if (srv->listen_fd >= 0)
			close(srv->listen_fd);
		free(srv->rxbuf);
	}
	free(srv);
	return err;
}

void gsn_ctl_server_free(struct gsn_ctl_server *srv)
{
	if (!srv)
		return;
	for (struct gsn_ctl_client *c = srv->clients; c; c = c->next)
		gsn_ctl_server_drop(srv, c);
	reap(srv->loop, srv);
	gsn_loop_remove(srv->loop, srv->hook_id);
	gsn_loop_del_fd(srv->loop, srv->listen_fd);
	close(srv->listen_fd);
	unlink(srv->path);
	free(srv->rxbuf);
	free(srv);
}

void gsn_ctl_server_get_stats(const struct gsn_ctl_server *srv, struct gsn_ctl_server_stats *out)
{
	*out = srv->stats;
}
