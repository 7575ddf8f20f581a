/* SPDX-License-Identifier: MIT */
/*
 * Devices and contexts: listing the endpoint gsnds of the run directory,
 * opening one (OPEN, ABI version check), the command path, and the
 * asynchronous events gsnd sends on the control connection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_fds.h"
#include "gsn_priv.h"

int gsn_env_int(const char *name, int def)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	long v = strtol(s, &end, 10);

	return errno || *end || v < 0 || v > INT32_MAX ? def : (int)v;
}

bool gsn_conn_lost(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN;
}

/* ---- the device list ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The element names of rundir's sockets, sorted; *n of them. */
static int scan_rundir(const char *rundir, char ***names, size_t *n)
{
	DIR *d = opendir(rundir);
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= 5 || len - 5 >= GSN_DEV_NAME_MAX || e->d_name[0] == '.' ||
		    strcmp(e->d_name + len - 5, ".sock") != 0)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nn = realloc(*names, ncap * sizeof(*nn));

			if (!nn)
				goto nomem;
			*names = nn;
			cap = ncap;
		}
		char *s = strndup(e->d_name, len - 5);

		if (!s)
			goto nomem;
		(*names)[(*n)++] = s;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < *n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
	*n = 0;
	return -ENOMEM;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Appends the device rundir/name if an endpoint answers there. */
static int try_add(struct gsn_device ***list, size_t *n, const char *rundir, const char *name)
{
	struct gsn_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	if (strlen(name) >= sizeof(dev->name) || strlen(rundir) >= sizeof(dev->rundir) ||
	    gsn_ctl_sock_path(rundir, name, dev->path, sizeof(dev->path)) != 0 ||
	    gsn_probe(rundir, name, dev->version, sizeof(dev->version)) != 0) {
		free(dev);
		return 0; /* not a device: skip it */
	}
	strcpy(dev->name, name);
	strcpy(dev->rundir, rundir);
	struct gsn_device **nl = realloc(*list, (*n + 2) * sizeof(*nl));

	if (!nl) {
		free(dev);
		return -ENOMEM;
	}
	nl[(*n)++] = dev;
	nl[*n] = NULL;
	*list = nl;
	return 0;
}

int gsn_get_device_list(struct gsn_device ***out, int *num)
{
	char rundir[GSN_RUNDIR_MAX];
	const char *want = getenv("GSN_DEVICE");
	struct gsn_device **list = calloc(1, sizeof(*list));
	char **names = NULL;
	size_t nnames = 0, n = 0;
	struct gsn_log log;
	int err;

	gsn_log_init(&log, "libgsn");
	if (!list)
		return -ENOMEM;
	if (want && !*want)
		want = NULL;
	err = gsn_ctl_rundir(rundir, sizeof(rundir));
	if (!err && !want)
		err = scan_rundir(rundir, &names, &nnames);
	for (size_t i = 0; !err && i < nnames; i++)
		err = try_add(&list, &n, rundir, names[i]);
	if (!err && want)
		err = try_add(&list, &n, rundir, want);
	free_names(names, nnames);
	if (!err && n == 0 && gsn_env_int("GSN_AUTOSTART", 1) != 0) {
		const char *name = want ? want : GSN_DEFAULT_DEVICE;

		err = gsn_autostart(rundir, name, &log);
		if (!err)
			err = try_add(&list, &n, rundir, name);
		if (!err && n == 0)
			err = -ENODEV; /* it started but does not answer as an endpoint */
	}
	if (err) {
		gsn_free_device_list(list);
		return err;
	}
	*out = list;
	if (num)
		*num = (int)n;
	return 0;
}

void gsn_free_device_list(struct gsn_device **list)
{
	if (!list)
		return;
	for (struct gsn_device **d = list; *d; d++)
		free(*d);
	free(list);
}

const char *gsn_get_device_name(const struct gsn_device *dev)
{
	return dev->name;
}

/* ---- ptrace permission for gsnd's process_vm_readv/writev ---- */

/*
 * Yama's ptrace exception is per process and holds one pid: this is the
 * one piece of process-wide state libgsn keeps (documented in libgsn.h).
 */
static pthread_mutex_t ptracer_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t ptracer_pid;

static void allow_ptrace(struct gsn_ctx *ctx)
{
	char buf[8] = {0};
	int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return; /* no Yama: same-uid access is allowed */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	close(fd);
	if (n <= 0 || buf[0] == '0')
		return;
	if (buf[0] != '1') {
		GSN_WARN(&ctx->log, COMP,
			 "Yama ptrace_scope %c: gsnd cannot reach this process's memory", buf[0]);
		return;
	}
	pthread_mutex_lock(&ptracer_lock);
	if (ptracer_pid != ctx->gsnd_pid) {
		unsigned long who = ptracer_pid == 0 ? (unsigned long)ctx->gsnd_pid
						     : (unsigned long)PR_SET_PTRACER_ANY;

		if (prctl(PR_SET_PTRACER, who, 0, 0, 0) == 0)
			ptracer_pid = ptracer_pid == 0 ? ctx->gsnd_pid : -1;
		else
			GSN_WARN(&ctx->log, COMP, "PR_SET_PTRACER: %s", strerror(errno));
	}
	pthread_mutex_unlock(&ptracer_lock);
}

/* ---- async events ---- */

static void ev_wake(struct gsn_ctx *ctx)
{
	uint64_t one = 1;

	if (write(ctx->event_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only at 2^64 - 2: it is readable then anyway */
	}
}

static void ev_unwake(struct gsn_ctx *ctx)
{
	uint64_t v;

	if (read(ctx->event_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to reset */
	}
}

/* Queues an event (force: even when full). */
static void ev_push(struct gsn_ctx *ctx, const struct gsn_async_event *ev, bool force)
{
	if (ctx->ev_count == GSN_ASYNC_QUEUE_MAX && !force) {
		ctx->ev_dropped++;
		return;
	}
	if (ctx->ev_count == GSN_ASYNC_QUEUE_MAX) /* drop the oldest for the final event */
		ctx->ev_head = (ctx->ev_head + 1) % GSN_ASYNC_QUEUE_MAX, ctx->ev_count--;
	ctx->events[(ctx->ev_head + ctx->ev_count) % GSN_ASYNC_QUEUE_MAX] = *ev;
	if (ctx->ev_count++ == 0)
		ev_wake(ctx);
}

static struct gsn_qp_priv *qp_by_handle(struct gsn_ctx *ctx, uint32_t handle)
{
	for (struct gsn_list *l = ctx->qps.next; l != &ctx->qps; l = l->next) {
		struct gsn_qp_priv *qp = gsn_container_of(l, struct gsn_qp_priv, node);

		if (qp->pub.handle == handle)
			return qp;
	}
	return NULL;
}

static struct gsn_cq_priv *cq_by_handle(struct gsn_ctx *ctx, uint32_t handle)
{
	for (struct gsn_list *l = ctx->cqs.next; l != &ctx->cqs; l = l->next) {
		struct gsn_cq_priv *cq = gsn_container_of(l, struct gsn_cq_priv, node);

		if (cq->pub.handle == handle)
			return cq;
	}
	return NULL;
}

/* A message from gsnd that is not a command's answer.  ctx->lock is held. */
static void on_message(void *arg, const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	struct gsn_ctx *ctx = arg;
	struct gsn_dev_async_event e;
	struct gsn_async_event ev = {0};

	if (h->type != GSN_DEV_CMD_ASYNC_EVENT || h->seq != 0 || len != sizeof(e)) {
		GSN_DBG(&ctx->log, COMP, "%s: ignoring message type %u seq %u", ctx->name, h->type,
			h->seq);
		return;
	}
	memcpy(&e, body, sizeof(e));
	ev.event_type = (int)e.type;
	ev.handle = e.handle;
	if (e.type == GSN_EVENT_QP_FATAL) {
		struct gsn_qp_priv *qp = qp_by_handle(ctx, e.handle);

		if (qp) {
			atomic_store(&qp->state, GSN_QPS_ERR);
			qp->pub.state = GSN_QPS_ERR;
		}
	}
	GSN_DBG(&ctx->log, COMP, "%s: event %s handle %u", ctx->name, gsn_event_type_str(ev.event_type),
		e.handle);
	ev_push(ctx, &ev, false);
}

/* The connection is gone: one DEVICE_FATAL event, then -ECONNRESET. */
static void mark_dead(struct gsn_ctx *ctx)
{
	struct gsn_async_event ev = {.event_type = GSN_EVENT_DEVICE_FATAL};

	if (ctx->dead)
		return;
	ctx->dead = true;
	epoll_ctl(ctx->pub.async_fd, EPOLL_CTL_DEL, gsn_ctl_conn_fd(ctx->conn), NULL);
	GSN_WARN(&ctx->log, COMP, "%s: gsnd went away", ctx->name);
	ev_push(ctx, &ev, true);
}

/* Takes whatever gsnd has sent; ctx->lock held. */
static void drain(struct gsn_ctx *ctx)
{
	uint8_t body[64];

	while (!ctx->dead) {
		struct gsn_ctl_hdr h;
		size_t len, nfds;
		int err = gsn_ctl_recv_fds(ctx->conn, &h, body, sizeof(body), &len, NULL, 0, &nfds, 0);

		if (err == 0)
			on_message(ctx, &h, body, len);
		else if (gsn_conn_lost(err))
			mark_dead(ctx);
		else if (err == -ETIMEDOUT || (err != -EMSGSIZE && err != -EPROTO &&
					       err != -EBADMSG && err != -EPROTONOSUPPORT))
			return;
	}
}

int gsn_cmd(struct gsn_ctx *ctx, uint16_t type, const void *req, size_t req_len, void *resp,
	    size_t resp_len, int *fds, size_t nfds)
{
	uint8_t buf[256];
	int got[GSN_CTL_FDS_MAX];
	size_t len = 0, ngot = 0;

	if (ctx->dead)
		return -ECONNRESET;
	int err = gsn_ctl_call_fds(ctx->conn, type, req, req_len, buf, sizeof(buf), &len, got,
				   GSN_CTL_FDS_MAX, &ngot, ctx->cmd_timeout_ms, on_message, ctx);

	if (gsn_conn_lost(err)) {
		mark_dead(ctx);
		return -ECONNRESET;
	}
	if (err)
		return err;
	if (len != resp_len || ngot != nfds) {
		GSN_ERR(&ctx->log, COMP, "%s: command %u: answer of %zu bytes and %zu fds, want %zu and %zu",
			ctx->name, type, len, ngot, resp_len, nfds);
		for (size_t i = 0; i < ngot; i++)
			close(got[i]);
		return -EPROTO;
	}
	if (resp_len)
		memcpy(resp, buf, resp_len);
	if (nfds)
		memcpy(fds, got, nfds * sizeof(int));
	return 0;
}

bool gsn_ctx_alive(struct gsn_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	drain(ctx); /* non-blocking: a closed connection marks the device dead */
	bool alive = !ctx->dead;
	pthread_mutex_unlock(&ctx->lock);
	return alive;
}

int gsn_get_async_event(struct gsn_context *pub, struct gsn_async_event *event)
{
	struct gsn_ctx *ctx = to_ctx(pub);

	for (;;) {
		pthread_mutex_lock(&ctx->lock);
		drain(ctx);
		if (ctx->ev_count) {
			*event = ctx->events[ctx->ev_head];
			ctx->ev_head = (ctx->ev_head + 1) % GSN_ASYNC_QUEUE_MAX;
			if (--ctx->ev_count == 0)
				ev_unwake(ctx);
			switch (event->event_type) {
			case GSN_EVENT_QP_FATAL:
			case GSN_EVENT_COMM_EST: {
				struct gsn_qp_priv *qp = qp_by_handle(ctx, event->handle);

				event->element.qp = qp ? &qp->pub : NULL;
				break;
			}
			case GSN_EVENT_CQ_ERR: {
				struct gsn_cq_priv *cq = cq_by_handle(ctx, event->handle);

				event->element.cq = cq ? &cq->pub : NULL;
				break;
			}
			case GSN_EVENT_PORT_ACTIVE:
			case GSN_EVENT_PORT_ERR:
				event->element.port_num = 1;
				break;
			default:
				break;
			}
			pthread_mutex_unlock(&ctx->lock);
			return 0;
		}
		bool dead = ctx->dead;

		pthread_mutex_unlock(&ctx->lock);
		if (dead)
			return -ECONNRESET;
		int fl = fcntl(pub->async_fd, F_GETFL);

		if (fl >= 0 && (fl & O_NONBLOCK))
			return -EAGAIN;
		struct pollfd p = {.fd = pub->async_fd, .events = POLLIN};

		if (poll(&p, 1, -1) < 0 && errno == EINTR)
			return -EINTR;
	}
}

/* ---- open and close ---- */

static void ctx_free(struct gsn_ctx *ctx)
{
	if (ctx->pub.async_fd >= 0)
		close(ctx->pub.async_fd);
	if (ctx->event_fd >= 0)
		close(ctx->event_fd);
	gsn_ctl_close(ctx->conn);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->events);
	free(ctx);
}

static int ctx_open(struct gsn_ctx *ctx, const struct gsn_device *dev)
{
	struct gsn_dev_open_req req = {.abi_version = GSN_DEV_ABI_VERSION};
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int err = gsn_ctl_connect_path(dev->path, &ctx->conn);

	if (err)
		return err;
	if (getsockopt(gsn_ctl_conn_fd(ctx->conn), SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		ctx->gsnd_pid = cred.pid;
	ctx->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ctx->pub.async_fd = epoll_create1(EPOLL_CLOEXEC);
	if (ctx->event_fd < 0 || ctx->pub.async_fd < 0)
		return -errno;
	struct epoll_event e1 = {.events = EPOLLIN}, e2 = {.events = EPOLLIN};

	if (epoll_ctl(ctx->pub.async_fd, EPOLL_CTL_ADD, gsn_ctl_conn_fd(ctx->conn), &e1) < 0 ||
	    epoll_ctl(ctx->pub.async_fd, EPOLL_CTL_ADD, ctx->event_fd, &e2) < 0)
		return -errno;
	pthread_mutex_lock(&ctx->lock);
	err = gsn_cmd(ctx, GSN_DEV_CMD_OPEN, &req, sizeof(req), &ctx->open, sizeof(ctx->open), NULL,
		      0);
	pthread_mutex_unlock(&ctx->lock);
	if (err)
		return err;
	if (ctx->open.abi_version != GSN_DEV_ABI_VERSION) {
		GSN_ERR(&ctx->log, COMP, "%s: gsnd speaks device ABI %u, libgsn %u", dev->name,
			ctx->open.abi_version, GSN_DEV_ABI_VERSION);
		return -EPROTO;
	}
	ctx->open.name[sizeof(ctx->open.name) - 1] = '\0';
	if (ctx->open.max_sge > GSN_MAX_SGE)
		ctx->open.max_sge = GSN_MAX_SGE;
	if (ctx->open.max_inline > GSN_MAX_INLINE)
		ctx->open.max_inline = GSN_MAX_INLINE;
	if (ctx->open.max_msg_size_log2 > 63)
		ctx->open.max_msg_size_log2 = 63;
	allow_ptrace(ctx);
	return 0;
}

int gsn_open_device(struct gsn_device *dev, struct gsn_context **out)
{
	struct gsn_ctx *ctx = calloc(1, sizeof(*ctx));
	int err;

	if (!ctx)
		return -ENOMEM;
	ctx->event_fd = -1;
	ctx->pub.async_fd = -1;
	ctx->events = calloc(GSN_ASYNC_QUEUE_MAX, sizeof(*ctx->events));
	if (!ctx->events) {
		free(ctx);
		return -ENOMEM;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	snprintf(ctx->name, sizeof(ctx->name), "%s", dev->name);
	snprintf(ctx->version, sizeof(ctx->version), "%s", dev->version);
	snprintf(ctx->log_prefix, sizeof(ctx->log_prefix), "libgsn[%s]", dev->name);
	gsn_log_init(&ctx->log, ctx->log_prefix);
	ctx->cmd_timeout_ms = gsn_env_int("GSN_CMD_TIMEOUT_MS", GSN_CMD_TIMEOUT_MS);
	if (ctx->cmd_timeout_ms == 0)
		ctx->cmd_timeout_ms = -1; /* 0: wait as long as it takes */
	ctx->pub.name = ctx->name;
	gsn_list_init(&ctx->pds);
	gsn_list_init(&ctx->mrs);
	gsn_list_init(&ctx->channels);
	gsn_list_init(&ctx->cqs);
	gsn_list_init(&ctx->qps);
	err = ctx_open(ctx, dev);
	if (err) {
		ctx_free(ctx);
		return err;
	}
	*out = &ctx->pub;
	return 0;
}

int gsn_close_device(struct gsn_context *pub)
{
	struct gsn_ctx *ctx;

	if (!pub)
		return -EINVAL;
	ctx = to_ctx(pub);
	/* gsnd frees every object of the connection; free our halves. */
	while (!gsn_list_empty(&ctx->qps))
		gsn_qp_free_local(gsn_container_of(ctx->qps.next, struct gsn_qp_priv, node));
	while (!gsn_list_empty(&ctx->cqs))
		gsn_cq_free_local(gsn_container_of(ctx->cqs.next, struct gsn_cq_priv, node));
	while (!gsn_list_empty(&ctx->channels)) {
		struct gsn_channel_priv *ch =
			gsn_container_of(ctx->channels.next, struct gsn_channel_priv, node);

		gsn_list_del(&ch->node);
		close(ch->pub.fd);
		free(ch);
	}
	while (!gsn_list_empty(&ctx->mrs)) {
		struct gsn_mr_priv *mr = gsn_container_of(ctx->mrs.next, struct gsn_mr_priv, node);

		gsn_list_del(&mr->node);
		free(mr);
	}
	while (!gsn_list_empty(&ctx->pds)) {
		struct gsn_pd_priv *pd = gsn_container_of(ctx->pds.next, struct gsn_pd_priv, node);

		gsn_list_del(&pd->node);
		free(pd);
	}
	ctx_free(ctx);
	return 0;
}

/* ---- queries ---- */

int gsn_query_device(struct gsn_context *pub, struct gsn_device_attr *attr)
{
	struct gsn_ctx *ctx = to_ctx(pub);
	const struct gsn_dev_open_resp *o = &ctx->open;

	memset(attr, 0, sizeof(*attr));
	snprintf(attr->name, sizeof(attr->name), "%s", o->name[0] ? o->name : ctx->name);
	snprintf(attr->fw_ver, sizeof(attr->fw_ver), "%s", ctx->version);
	attr->node_guid = o->node_guid;
	memcpy(attr->ula, o->ula, sizeof(attr->ula));
	attr->phys_port_cnt = 1;
	attr->abi_version = o->abi_version;
	attr->max_qp = o->max_qp;
	attr->max_cq = o->max_cq;
	attr->max_mr = o->max_mr;
	attr->max_pd = o->max_pd;
	attr->max_qp_wr = o->max_qp_wr;
	attr->max_cqe = o->max_cqe;
	attr->max_sge = o->max_sge;
	attr->max_inline = o->max_inline;
	attr->max_mr_size = o->max_mr_size;
	attr->max_msg_size = (uint64_t)1 << o->max_msg_size_log2;
	return 0;
}

int gsn_query_port(struct gsn_context *pub, uint8_t port_num, struct gsn_port_attr *attr)
{
	struct gsn_ctx *ctx = to_ctx(pub);
	struct gsn_dev_port_attr pa;

	if (port_num != 1)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_QUERY_PORT, NULL, 0, &pa, sizeof(pa), NULL, 0);

	pthread_mutex_unlock(&ctx->lock);
	if (err)
		return err;
	memset(attr, 0, sizeof(*attr));
	attr->state = (enum gsn_port_state)pa.state;
	attr->max_mtu = pa.max_mtu;
	attr->active_mtu = pa.active_mtu;
	attr->link_rate_mbps = pa.link_rate_mbps;
	memcpy(attr->ula, pa.ula, sizeof(attr->ula));
	attr->ipv4 = pa.ipv4;
	return 0;
}
