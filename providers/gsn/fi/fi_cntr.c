/* SPDX-License-Identifier: MIT */
/*
 * fi_cntr.c — counters: a success and an error count under the domain
 * lock.  Reading or waiting progresses the domain first, so applications
 * that only poll counters (OpenSHMEM) see their operations complete even
 * without the progress thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gsn_fi.h"

static struct gsnfi_cntr *cntr_of(struct fid *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_cntr, cntr_fid.fid);
}

/* Every change wakes waiters and makes the fd readable (until fi_trywait). */
static void cntr_wake(struct gsnfi_cntr *c)
{
	uint64_t one = 1;

	pthread_cond_broadcast(&c->cond);
	if (c->wait_obj != FI_WAIT_FD && !c->fd_waiters)
		return; /* nobody watches the fd: spare the system call */
	if (write(c->signal_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		GSNFI_DBG(FI_LOG_CNTR, "counter eventfd write failed\n");
}

void gsnfi_cntr_inc_locked(struct gsnfi_cntr *c)
{
	c->value++;
	cntr_wake(c);
}

void gsnfi_cntr_err_locked(struct gsnfi_cntr *c)
{
	c->err++;
	cntr_wake(c);
}

static uint64_t cntr_read(struct fid_cntr *cntr_fid)
{
	struct gsnfi_cntr *c = cntr_of(&cntr_fid->fid);
	uint64_t v;

	gsnfi_domain_note_app(c->domain);
	gsnfi_lock(c->domain);
	gsnfi_domain_progress_locked(c->domain);
	v = c->value;
	gsnfi_unlock(c->domain);
	return v;
}

static uint64_t cntr_readerr(struct fid_cntr *cntr_fid)
{
	struct gsnfi_cntr *c = cntr_of(&cntr_fid->fid);
	uint64_t v;

	gsnfi_domain_note_app(c->domain);
	gsnfi_lock(c->domain);
	gsnfi_domain_progress_locked(c->domain);
	v = c->err;
	gsnfi_unlock(c->domain);
	return v;
}

/* Applies one update under the lock and wakes waiters. */
static int cntr_update(struct fid_cntr *cntr_fid, uint64_t *field, uint64_t value, bool add)
{
	struct gsnfi_cntr *c = cntr_of(&cntr_fid->fid);

	gsnfi_lock(c->domain);
	*field = add ? *field + value : value;
	cntr_wake(c);
	gsnfi_unlock(c->domain);
	return 0;
}

static int cntr_add(struct fid_cntr *cntr_fid, uint64_t value)
{
	return cntr_update(cntr_fid, &cntr_of(&cntr_fid->fid)->value, value, true);
}

static int cntr_set(struct fid_cntr *cntr_fid, uint64_t value)
{
	return cntr_update(cntr_fid, &cntr_of(&cntr_fid->fid)->value, value, false);
}

static int cntr_adderr(struct fid_cntr *cntr_fid, uint64_t value)
{
	return cntr_update(cntr_fid, &cntr_of(&cntr_fid->fid)->err, value, true);
}

static int cntr_seterr(struct fid_cntr *cntr_fid, uint64_t value)
{
	return cntr_update(cntr_fid, &cntr_of(&cntr_fid->fid)->err, value, false);
}

static void fd_drain(int fd)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		GSNFI_DBG(FI_LOG_CNTR, "counter eventfd read failed\n");
}

/* Sleeps until a change or the deadline (lock held on entry and exit). */
static void cntr_sleep_locked(struct gsnfi_cntr *c, uint64_t deadline_ns, bool forever)
{
	struct gsnfi_domain *d = c->domain;
	int ms;

	if (d->progress_running) {
		gsnfi_domain_before_block(d);
		gsnfi_cond_wait_until(&c->cond, &d->lock, deadline_ns, forever);
		return;
	}
	ms = gsnfi_ms_left(deadline_ns, forever);
	if (ms < 0 || ms > 100)
		ms = 100; /* the CM's timers need progress now and then */
	c->fd_waiters++;
	gsnfi_unlock(d);
	gsnfi_domain_wait(d, c->signal_fd, ms);
	gsnfi_lock(d);
	c->fd_waiters--;
	if (c->wait_obj != FI_WAIT_FD)
		fd_drain(c->signal_fd);
}

/*
 * fi_cntr(3): 0 once the value reaches threshold, -FI_ETIMEDOUT after
 * timeout ms (-1: never), -FI_EAVAIL as soon as the error count changes.
 */
static int cntr_wait(struct fid_cntr *cntr_fid, uint64_t threshold, int timeout)
{
	struct gsnfi_cntr *c = cntr_of(&cntr_fid->fid);
	struct gsnfi_domain *d = c->domain;
	bool forever;
	uint64_t deadline = gsnfi_deadline(timeout, &forever), err0;
	int ret;

	gsnfi_lock(d);
	err0 = c->err;
	for (;;) {
		gsnfi_domain_progress_locked(d);
		if (c->value >= threshold) {
			ret = 0;
			break;
		}
		if (c->err != err0) {
			ret = -FI_EAVAIL;
			break;
		}
		if (gsnfi_ms_left(deadline, forever) == 0) {
			ret = -FI_ETIMEDOUT;
			break;
		}
		cntr_sleep_locked(c, deadline, forever);
	}
	gsnfi_unlock(d);
	return ret;
}

static struct fi_ops_cntr gsnfi_cntr_ops = {
	.size = sizeof(struct fi_ops_cntr),
	.read = cntr_read,
	.readerr = cntr_readerr,
	.add = cntr_add,
	.set = cntr_set,
	.wait = cntr_wait,
	.adderr = cntr_adderr,
	.seterr = cntr_seterr,
};

int gsnfi_cntr_trywait(struct fid *fid)
{
	struct gsnfi_cntr *c = cntr_of(fid);

	gsnfi_lock(c->domain);
	gsnfi_domain_progress_locked(c->domain);
	fd_drain(c->signal_fd);
	gsnfi_domain_before_block(c->domain); /* the application sleeps next */
	gsnfi_unlock(c->domain);
	return 0;
}

/* ---- fid ops ------------------------------------------------------------------------- */

static int cntr_close(struct fid *fid)
{
	struct gsnfi_cntr *c = cntr_of(fid);
	struct gsnfi_domain *d = c->domain;

	gsnfi_lock(d);
	if (c->refs) {
		gsnfi_unlock(d);
		GSNFI_WARN(FI_LOG_CNTR, "counter close: %d endpoints/MRs still bound\n", c->refs);
		return -FI_EBUSY;
	}
	d->refs--;
	gsnfi_unlock(d);
	close(c->signal_fd);
	pthread_cond_destroy(&c->cond);
	free(c);
	return 0;
}

static int cntr_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	(void)fid;
	(void)bfid;
	(void)flags;
	return -FI_ENOSYS;
}

static int cntr_control(struct fid *fid, int command, void *arg)
{
	struct gsnfi_cntr *c = cntr_of(fid);

	return gsnfi_wait_control(command, arg, c->wait_obj, c->signal_fd, &c->domain->lock, &c->cond);
}

static struct fi_ops gsnfi_cntr_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = cntr_close,
	.bind = cntr_bind,
	.control = cntr_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

static int check_attr(const struct fi_cntr_attr *attr, enum fi_wait_obj *wait_obj)
{
	if (attr->events != FI_CNTR_EVENTS_COMP)
		return -FI_ENOSYS;
	if (attr->flags)
		return -FI_EBADFLAGS;
	switch (attr->wait_obj) {
	case FI_WAIT_UNSPEC:
		*wait_obj = FI_WAIT_MUTEX_COND;
		return 0;
	case FI_WAIT_NONE:
	case FI_WAIT_FD:
	case FI_WAIT_MUTEX_COND:
	case FI_WAIT_YIELD:
		*wait_obj = attr->wait_obj;
		return 0;
	default:
		GSNFI_WARN(FI_LOG_CNTR, "counter wait object %d not supported\n", attr->wait_obj);
		return -FI_ENOSYS;
	}
}

int gsnfi_cntr_open(struct fid_domain *domain, struct fi_cntr_attr *attr,
		    struct fid_cntr **cntr_out, void *context)
{
	struct gsnfi_domain *d = gsnfi_domain_of(domain);
	struct fi_cntr_attr def = {.events = FI_CNTR_EVENTS_COMP};
	enum fi_wait_obj wait_obj;
	struct gsnfi_cntr *c;
	int ret;

	if (!cntr_out)
		return -FI_EINVAL;
	ret = check_attr(attr ? attr : &def, &wait_obj);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -FI_ENOMEM;
	/* also for waits without the progress thread, whatever the wait object */
	c->signal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->signal_fd < 0 || gsnfi_cond_init(&c->cond)) {
		if (c->signal_fd >= 0)
			close(c->signal_fd);
		free(c);
		return -FI_ENOMEM;
	}
	c->domain = d;
	c->wait_obj = wait_obj;
	c->cntr_fid.fid.fclass = FI_CLASS_CNTR;
	c->cntr_fid.fid.context = context;
	c->cntr_fid.fid.ops = &gsnfi_cntr_fi_ops;
	c->cntr_fid.ops = &gsnfi_cntr_ops;
	gsnfi_lock(d);
	d->refs++;
	gsnfi_unlock(d);
	*cntr_out = &c->cntr_fid;
	return 0;
}
