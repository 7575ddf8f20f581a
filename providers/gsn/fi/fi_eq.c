/* SPDX-License-Identifier: MIT */
/*
 * fi_eq.c — event queues.  An RDM endpoint has no connection events; the
 * EQ carries asynchronous AV insertions (FI_AV_COMPLETE and their errors)
 * and what the application writes with fi_eq_write.  The EQ belongs to
 * the fabric, not to a domain, so it has its own lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gsn_fi.h"

/* Largest event fi_eq_write accepts. */
#define EQ_MAX_EVENT (64 * 1024)

struct gsnfi_eq_event {
	struct gsnfi_eq_event *next;
	uint32_t event;
	bool is_err;
	struct fi_eq_err_entry err; /* is_err */
	size_t len;                 /* !is_err: bytes of data */
	uint8_t data[];
};

struct gsnfi_eq {
	struct fid_eq eq_fid;
	struct gsnfi_fabric *fabric;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum fi_wait_obj wait_obj;
	int signal_fd;      /* FI_WAIT_FD: readable while events are queued */
	bool fd_armed;
	int refs;           /* bound AVs and endpoints */
	struct gsnfi_eq_event *head, *tail;
	void *last_err_data; /* not used yet: events carry no error data */
};

static struct gsnfi_eq *eq_of(struct fid *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_eq, eq_fid.fid);
}

void gsnfi_eq_hold(struct fid_eq *eq_fid)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);

	pthread_mutex_lock(&eq->lock);
	eq->refs++;
	pthread_mutex_unlock(&eq->lock);
}

void gsnfi_eq_release(struct fid_eq *eq_fid)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);

	pthread_mutex_lock(&eq->lock);
	eq->refs--;
	pthread_mutex_unlock(&eq->lock);
}

/* ---- the queue (eq->lock held) --------------------------------------------------------- */

static void eq_push_locked(struct gsnfi_eq *eq, struct gsnfi_eq_event *ev)
{
	uint64_t one = 1;

	ev->next = NULL;
	if (eq->tail)
		eq->tail->next = ev;
	else
		eq->head = ev;
	eq->tail = ev;
	pthread_cond_broadcast(&eq->cond);
	if (eq->wait_obj == FI_WAIT_FD && !eq->fd_armed &&
	    write(eq->signal_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		eq->fd_armed = true;
}

static void eq_pop_locked(struct gsnfi_eq *eq)
{
	struct gsnfi_eq_event *ev = eq->head;
	uint64_t v;

	eq->head = ev->next;
	if (!eq->head)
		eq->tail = NULL;
	free(ev);
	if (!eq->head && eq->fd_armed &&
	    (read(eq->signal_fd, &v, sizeof(v)) == (ssize_t)sizeof(v) || errno == EAGAIN))
		eq->fd_armed = false;
}

int gsnfi_eq_write_error(struct fid_eq *eq_fid, fid_t fid, void *context, uint64_t data, int err,
			 int prov_errno)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);
	struct gsnfi_eq_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -FI_ENOMEM;
	ev->is_err = true;
	ev->err.fid = fid;
	ev->err.context = context;
	ev->err.data = data;
	ev->err.err = err;
	ev->err.prov_errno = prov_errno;
	pthread_mutex_lock(&eq->lock);
	eq_push_locked(eq, ev);
	pthread_mutex_unlock(&eq->lock);
	return 0;
}

/* ---- fi_ops_eq ------------------------------------------------------------------------- */

static ssize_t eq_write(struct fid_eq *eq_fid, uint32_t event, const void *buf, size_t len,
			uint64_t flags)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);
	struct gsnfi_eq_event *ev;

	(void)flags;
	if ((len && !buf) || len > EQ_MAX_EVENT)
		return -FI_EINVAL;
	ev = malloc(sizeof(*ev) + len);
	if (!ev)
		return -FI_ENOMEM;
	memset(ev, 0, sizeof(*ev));
	ev->event = event;
	ev->len = len;
	if (len)
		memcpy(ev->data, buf, len);
	pthread_mutex_lock(&eq->lock);
	eq_push_locked(eq, ev);
	pthread_mutex_unlock(&eq->lock);
	return (ssize_t)len;
}

/* The head event into the caller's buffers (lock held); -FI_EAGAIN when none. */
static ssize_t eq_take_locked(struct gsnfi_eq *eq, uint32_t *event, void *buf, size_t len,
			      uint64_t flags)
{
	struct gsnfi_eq_event *ev = eq->head;
	ssize_t n;

	if (!ev)
		return -FI_EAGAIN;
	if (ev->is_err)
		return -FI_EAVAIL;
	if (len < ev->len || (ev->len && !buf))
		return -FI_ETOOSMALL;
	if (event)
		*event = ev->event;
	if (ev->len)
		memcpy(buf, ev->data, ev->len);
	n = (ssize_t)ev->len;
	if (!(flags & FI_PEEK))
		eq_pop_locked(eq);
	return n;
}

static ssize_t eq_read(struct fid_eq *eq_fid, uint32_t *event, void *buf, size_t len,
		       uint64_t flags)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);
	ssize_t ret;

	pthread_mutex_lock(&eq->lock);
	ret = eq_take_locked(eq, event, buf, len, flags);
	pthread_mutex_unlock(&eq->lock);
	return ret;
}

static ssize_t eq_readerr(struct fid_eq *eq_fid, struct fi_eq_err_entry *buf, uint64_t flags)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);
	void *user_data;
	size_t user_size;

	if (!buf)
		return -FI_EINVAL;
	pthread_mutex_lock(&eq->lock);
	if (!eq->head || !eq->head->is_err) {
		pthread_mutex_unlock(&eq->lock);
		return -FI_EAGAIN;
	}
	/* API >= 1.5: the application's err_data buffer, else ours (there is none) */
	user_data = buf->err_data;
	user_size = buf->err_data_size;
	*buf = eq->head->err;
	buf->err_data = user_size ? user_data : eq->last_err_data;
	buf->err_data_size = 0;
	if (!(flags & FI_PEEK))
		eq_pop_locked(eq);
	pthread_mutex_unlock(&eq->lock);
	return (ssize_t)sizeof(*buf);
}

static ssize_t eq_sread(struct fid_eq *eq_fid, uint32_t *event, void *buf, size_t len,
			int timeout, uint64_t flags)
{
	struct gsnfi_eq *eq = eq_of(&eq_fid->fid);
	bool forever;
	uint64_t deadline = gsnfi_deadline(timeout, &forever);
	ssize_t ret;

	if (eq->wait_obj == FI_WAIT_NONE)
		return -FI_ENOSYS;
	pthread_mutex_lock(&eq->lock);
	for (;;) {
		ret = eq_take_locked(eq, event, buf, len, flags);
		if (ret != -FI_EAGAIN || gsnfi_ms_left(deadline, forever) == 0)
			break;
		gsnfi_cond_wait_until(&eq->cond, &eq->lock, deadline, forever);
	}
	pthread_mutex_unlock(&eq->lock);
	return ret;
}

static const char *eq_strerror(struct fid_eq *eq_fid, int prov_errno, const void *err_data,
			       char *buf, size_t len)
{
	const char *s = fi_strerror(prov_errno);

	(void)eq_fid;
	(void)err_data;
	if (buf && len) {
		strncpy(buf, s, len - 1);
		buf[len - 1] = '\0';
		return buf;
	}
	return s;
}

static struct fi_ops_eq gsnfi_eq_ops = {
	.size = sizeof(struct fi_ops_eq),
	.read = eq_read,
	.readerr = eq_readerr,
	.write = eq_write,
	.sread = eq_sread,
	.strerror = eq_strerror,
};

int gsnfi_eq_trywait(struct fid *fid)
{
	struct gsnfi_eq *eq = eq_of(fid);
	int ret;

	pthread_mutex_lock(&eq->lock);
	ret = eq->head ? -FI_EAGAIN : 0;
	pthread_mutex_unlock(&eq->lock);
	return ret;
}

/* ---- fid ops ---------------------------------------------------------------------------- */

static int eq_close(struct fid *fid)
{
	struct gsnfi_eq *eq = eq_of(fid);

	pthread_mutex_lock(&eq->lock);
	if (eq->refs) {
		pthread_mutex_unlock(&eq->lock);
		GSNFI_WARN(FI_LOG_EQ, "EQ close: %d objects still bound\n", eq->refs);
		return -FI_EBUSY;
	}
	while (eq->head) {
		struct gsnfi_eq_event *ev = eq->head;

		eq->head = ev->next;
		free(ev);
	}
	pthread_mutex_unlock(&eq->lock);
	gsnfi_fabric_release(eq->fabric);
	if (eq->signal_fd >= 0)
		close(eq->signal_fd);
	pthread_cond_destroy(&eq->cond);
	pthread_mutex_destroy(&eq->lock);
	free(eq);
	return 0;
}

static int eq_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	(void)fid;
	(void)bfid;
	(void)flags;
	return -FI_ENOSYS;
}

static int eq_control(struct fid *fid, int command, void *arg)
{
	struct gsnfi_eq *eq = eq_of(fid);

	return gsnfi_wait_control(command, arg, eq->wait_obj, eq->signal_fd, &eq->lock, &eq->cond);
}

static struct fi_ops gsnfi_eq_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = eq_close,
	.bind = eq_bind,
	.control = eq_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

static int eq_wait_obj(enum fi_wait_obj requested, enum fi_wait_obj *wait_obj)
{
	switch (requested) {
	case FI_WAIT_UNSPEC:
		*wait_obj = FI_WAIT_MUTEX_COND;
		return 0;
	case FI_WAIT_NONE:
	case FI_WAIT_FD:
	case FI_WAIT_MUTEX_COND:
	case FI_WAIT_YIELD:
		*wait_obj = requested;
		return 0;
	default:
		GSNFI_WARN(FI_LOG_EQ, "EQ wait object %d not supported\n", requested);
		return -FI_ENOSYS;
	}
}

static int eq_init(struct gsnfi_eq *eq)
{
	eq->signal_fd = -1;
	if (pthread_mutex_init(&eq->lock, NULL))
		return -FI_ENOMEM;
	if (gsnfi_cond_init(&eq->cond)) {
		pthread_mutex_destroy(&eq->lock);
		return -FI_ENOMEM;
	}
	if (eq->wait_obj == FI_WAIT_FD) {
		eq->signal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (eq->signal_fd < 0) {
			pthread_cond_destroy(&eq->cond);
			pthread_mutex_destroy(&eq->lock);
			return -FI_ENOMEM;
		}
	}
	return 0;
}

int gsnfi_eq_open(struct fid_fabric *fabric, struct fi_eq_attr *attr, struct fid_eq **eq_out,
		  void *context)
{
	struct gsnfi_fabric *f = GSNFI_CONTAINER_OF(fabric, struct gsnfi_fabric, fabric_fid);
	enum fi_wait_obj wait_obj = FI_WAIT_MUTEX_COND;
	struct gsnfi_eq *eq;
	int ret;

	if (!eq_out)
		return -FI_EINVAL;
	if (attr) {
		ret = eq_wait_obj(attr->wait_obj, &wait_obj);
		if (ret)
			return ret;
		if (attr->flags & ~(uint64_t)(FI_WRITE | FI_AFFINITY))
			return -FI_EBADFLAGS;
	}
	eq = calloc(1, sizeof(*eq));
	if (!eq)
		return -FI_ENOMEM;
	eq->wait_obj = wait_obj;
	ret = eq_init(eq);
	if (ret) {
		free(eq);
		return ret;
	}
	eq->fabric = f;
	eq->eq_fid.fid.fclass = FI_CLASS_EQ;
	eq->eq_fid.fid.context = context;
	eq->eq_fid.fid.ops = &gsnfi_eq_fi_ops;
	eq->eq_fid.ops = &gsnfi_eq_ops;
	gsnfi_fabric_hold(f);
	*eq_out = &eq->eq_fid;
	return 0;
}
