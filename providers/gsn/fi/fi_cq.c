/* SPDX-License-Identifier: MIT */
/*
 * fi_cq.c — completion queues.
 *
 * A CQ is a growable ring under the domain lock: a report never overruns
 * it (FI_RM_ENABLED), the ring doubles instead.  Errors keep their place
 * in the order of completions: the ring holds a placeholder and the error
 * itself waits on a list until fi_cq_readerr takes it; fi_cq_read returns
 * -FI_EAVAIL when one is at the head.
 *
 * Waiting (fi_cq_sread): with the domain's progress thread the caller
 * sleeps on cq->cond, broadcast by every report and by fi_cq_signal;
 * without it the caller drives progress itself and sleeps in poll() on the
 * completion channel and the CQ's eventfd (gsnfi_domain_wait).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gsn_fi.h"

#define CQ_MIN_CAP 16

static struct gsnfi_cq *cq_of(struct fid *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_cq, cq_fid.fid);
}

static size_t cq_count(const struct gsnfi_cq *cq)
{
	return cq->tail - cq->head;
}

static struct gsnfi_cq_entry *cq_slot(struct gsnfi_cq *cq, size_t pos)
{
	return &cq->ring[pos & (cq->cap - 1)];
}

/* ---- the eventfd ------------------------------------------------------------------ */

static void fd_set_readable(struct gsnfi_cq *cq)
{
	uint64_t one = 1;

	if (cq->fd_armed || cq->signal_fd < 0)
		return;
	if (write(cq->signal_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		cq->fd_armed = true;
}

static void fd_clear(struct gsnfi_cq *cq)
{
	uint64_t v;

	if (!cq->fd_armed)
		return;
	if (read(cq->signal_fd, &v, sizeof(v)) == (ssize_t)sizeof(v) || errno == EAGAIN)
		cq->fd_armed = false;
}

/* Wakes waiters: sread sleepers and whoever watches the fd. */
static void cq_wake(struct gsnfi_cq *cq)
{
	pthread_cond_broadcast(&cq->cond);
	if (cq->wait_obj == FI_WAIT_FD || cq->fd_waiters)
		fd_set_readable(cq);
}

/* ---- reporting (data path, lock held) ------------------------------------------------ */

static int cq_grow(struct gsnfi_cq *cq)
{
	size_t n = cq_count(cq), cap = cq->cap * 2;
	struct gsnfi_cq_entry *ring = malloc(cap * sizeof(*ring));

	if (!ring)
		return -FI_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ring[i] = *cq_slot(cq, cq->head + i);
	free(cq->ring);
	cq->ring = ring;
	cq->cap = cap;
	cq->head = 0;
	cq->tail = n;
	return 0;
}

static struct gsnfi_cq_entry *cq_push(struct gsnfi_cq *cq)
{
	if (cq_count(cq) == cq->cap && cq_grow(cq)) {
		cq->dropped++;
		GSNFI_WARN(FI_LOG_CQ, "out of memory: completion lost (%zu so far)\n", cq->dropped);
		return NULL;
	}
	return cq_slot(cq, cq->tail++);
}

void gsnfi_cq_report_locked(struct gsnfi_cq *cq, void *op_context, uint64_t flags, size_t len,
			    void *buf, uint64_t data, uint64_t tag, fi_addr_t src)
{
	struct gsnfi_cq_entry *e = cq_push(cq);

	if (!e)
		return;
	e->e.op_context = op_context;
	e->e.flags = flags;
	e->e.len = len;
	e->e.buf = buf;
	e->e.data = data;
	e->e.tag = tag;
	e->src = src;
	e->is_err = false;
	cq_wake(cq);
}

void gsnfi_cq_report_error_locked(struct gsnfi_cq *cq, void *op_context, uint64_t flags, int err,
				  int prov_errno, size_t len, void *buf, uint64_t data,
				  uint64_t tag, size_t olen)
{
	struct gsnfi_cq_err *ce = calloc(1, sizeof(*ce));
	struct gsnfi_cq_entry *e;

	if (!ce) {
		cq->dropped++;
		GSNFI_WARN(FI_LOG_CQ, "out of memory: error completion lost\n");
		return;
	}
	e = cq_push(cq);
	if (!e) {
		free(ce);
		return;
	}
	memset(e, 0, sizeof(*e));
	e->is_err = true;
	e->src = FI_ADDR_NOTAVAIL;
	ce->e.op_context = op_context;
	ce->e.flags = flags;
	ce->e.len = len;
	ce->e.buf = buf;
	ce->e.data = data;
	ce->e.tag = tag;
	ce->e.olen = olen;
	ce->e.err = err;
	ce->e.prov_errno = prov_errno;
	if (cq->err_tail)
		cq->err_tail->next = ce;
	else
		cq->err_head = ce;
	cq->err_tail = ce;
	cq_wake(cq);
}

/* ---- reading --------------------------------------------------------------------------- */

static size_t entry_size(enum fi_cq_format format)
{
	switch (format) {
	case FI_CQ_FORMAT_MSG:
		return sizeof(struct fi_cq_msg_entry);
	case FI_CQ_FORMAT_DATA:
		return sizeof(struct fi_cq_data_entry);
	case FI_CQ_FORMAT_TAGGED:
		return sizeof(struct fi_cq_tagged_entry);
	default:
		return sizeof(struct fi_cq_entry);
	}
}

static void copy_entry(enum fi_cq_format format, void *dst, const struct fi_cq_tagged_entry *e)
{
	switch (format) {
	case FI_CQ_FORMAT_MSG: {
		struct fi_cq_msg_entry m = {e->op_context, e->flags, e->len};

		memcpy(dst, &m, sizeof(m));
		break;
	}
	case FI_CQ_FORMAT_DATA: {
		struct fi_cq_data_entry m = {e->op_context, e->flags, e->len, e->buf, e->data};

		memcpy(dst, &m, sizeof(m));
		break;
	}
	case FI_CQ_FORMAT_TAGGED:
		memcpy(dst, e, sizeof(*e));
		break;
	default: {
		struct fi_cq_entry m = {e->op_context};

		memcpy(dst, &m, sizeof(m));
		break;
	}
	}
}

/* After entries left: the fd stops being readable once the ring is empty. */
static void cq_after_read(struct gsnfi_cq *cq)
{
	if (cq_count(cq) == 0 && !cq->signaled)
		fd_clear(cq);
}

static ssize_t read_locked(struct gsnfi_cq *cq, void *buf, size_t count, fi_addr_t *src_addr)
{
	size_t esz = entry_size(cq->format), n = 0;

	if (cq_count(cq) == 0)
		return -FI_EAGAIN;
	if (cq_slot(cq, cq->head)->is_err)
		return -FI_EAVAIL;
	while (n < count && cq_count(cq)) {
		struct gsnfi_cq_entry *e = cq_slot(cq, cq->head);

		if (e->is_err)
			break;
		copy_entry(cq->format, (char *)buf + n * esz, &e->e);
		if (src_addr)
			src_addr[n] = e->src;
		cq->head++;
		n++;
	}
	cq_after_read(cq);
	return (ssize_t)n;
}

static ssize_t cq_readfrom(struct fid_cq *cq_fid, void *buf, size_t count, fi_addr_t *src_addr)
{
	struct gsnfi_cq *cq = cq_of(&cq_fid->fid);
	ssize_t ret;

	if (count && !buf)
		return -FI_EINVAL;
	gsnfi_domain_note_app(cq->domain);
	gsnfi_lock(cq->domain);
	gsnfi_domain_progress_locked(cq->domain);
	ret = read_locked(cq, buf, count, src_addr);
	gsnfi_unlock(cq->domain);
	return ret;
}

static ssize_t cq_read(struct fid_cq *cq_fid, void *buf, size_t count)
{
	return cq_readfrom(cq_fid, buf, count, NULL);
}

/*
 * API >= 1.5: with err_data_size 0 the application gets our buffer (valid
 * until the next readerr); otherwise we copy into its buffer.
 */
static void copy_error(struct gsnfi_cq *cq, struct gsnfi_cq_err *ce, struct fi_cq_err_entry *buf)
{
	void *user_data = buf->err_data;
	size_t user_size = buf->err_data_size;

	free(cq->last_err_data);
	cq->last_err_data = ce->err_data_copy;
	cq->last_err = ce->e;
	*buf = ce->e;
	if (user_size) {
		size_t n = user_size < ce->e.err_data_size ? user_size : ce->e.err_data_size;

		if (n)
			memcpy(user_data, cq->last_err_data, n);
		buf->err_data = user_data;
		buf->err_data_size = n;
	} else {
		buf->err_data = cq->last_err_data;
		buf->err_data_size = cq->last_err_data ? ce->e.err_data_size : 0;
	}
}

static ssize_t cq_readerr(struct fid_cq *cq_fid, struct fi_cq_err_entry *buf, uint64_t flags)
{
	struct gsnfi_cq *cq = cq_of(&cq_fid->fid);
	struct gsnfi_cq_err *ce;

	(void)flags;
	if (!buf)
		return -FI_EINVAL;
	gsnfi_domain_note_app(cq->domain);
	gsnfi_lock(cq->domain);
	if (cq_count(cq) == 0 || !cq_slot(cq, cq->head)->is_err || !cq->err_head) {
		gsnfi_unlock(cq->domain);
		return -FI_EAGAIN;
	}
	ce = cq->err_head;
	cq->err_head = ce->next;
	if (!cq->err_head)
		cq->err_tail = NULL;
	cq->head++;
	copy_error(cq, ce, buf);
	free(ce);
	cq_after_read(cq);
	gsnfi_unlock(cq->domain);
	return 1;
}

/* ---- waiting ------------------------------------------------------------------------ */

/* Sleeps until woken or the deadline passes (lock held on entry and exit). */
static void cq_sleep_locked(struct gsnfi_cq *cq, uint64_t deadline_ns, bool forever)
{
	struct gsnfi_domain *d = cq->domain;

	if (d->progress_running) {
		gsnfi_domain_before_block(d);
		gsnfi_cond_wait_until(&cq->cond, &d->lock, deadline_ns, forever);
		return;
	}
	/* no progress thread: sleep on the device and our fd, progressing ourselves */
	int ms = gsnfi_ms_left(deadline_ns, forever);

	if (ms < 0 || ms > 100)
		ms = 100; /* the CM's timers need progress now and then */
	cq->fd_waiters++;
	gsnfi_unlock(d);
	gsnfi_domain_wait(d, cq->signal_fd, ms);
	gsnfi_lock(d);
	cq->fd_waiters--;
	/* the fd woke us; unless the application watches it, it has done its job */
	if (cq->wait_obj != FI_WAIT_FD && !cq->signaled)
		fd_clear(cq);
}

static ssize_t cq_sreadfrom(struct fid_cq *cq_fid, void *buf, size_t count, fi_addr_t *src_addr,
			    const void *cond, int timeout)
{
	struct gsnfi_cq *cq = cq_of(&cq_fid->fid);
	struct gsnfi_domain *d = cq->domain;
	size_t threshold = 1;
	bool forever;
	uint64_t deadline = gsnfi_deadline(timeout, &forever);
	ssize_t ret;

	if (cq->wait_obj == FI_WAIT_NONE)
		return -FI_ENOSYS;
	if (count && !buf)
		return -FI_EINVAL;
	if (cond && cq->wait_cond == FI_CQ_COND_THRESHOLD)
		threshold = (size_t)(uintptr_t)cond;
	if (threshold > count)
		threshold = count;
	if (threshold == 0)
		threshold = 1;
	gsnfi_lock(d);
	for (;;) {
		gsnfi_domain_progress_locked(d);
		if (cq_count(cq) >= threshold || (cq_count(cq) && cq_slot(cq, cq->head)->is_err)) {
			ret = read_locked(cq, buf, count, src_addr);
			break;
		}
		if (cq->signaled) {
			cq->signaled = false;
			cq_after_read(cq);
			ret = -FI_EAGAIN;
			break;
		}
		if (gsnfi_ms_left(deadline, forever) == 0) {
			/* what arrived below the threshold is still worth returning */
			ret = read_locked(cq, buf, count, src_addr);
			break;
		}
		cq_sleep_locked(cq, deadline, forever);
	}
	gsnfi_unlock(d);
	return ret;
}

static ssize_t cq_sread(struct fid_cq *cq_fid, void *buf, size_t count, const void *cond,
			int timeout)
{
	return cq_sreadfrom(cq_fid, buf, count, NULL, cond, timeout);
}

static int cq_signal(struct fid_cq *cq_fid)
{
	struct gsnfi_cq *cq = cq_of(&cq_fid->fid);
	uint64_t one = 1;

	gsnfi_lock(cq->domain);
	cq->signaled = true;
	pthread_cond_broadcast(&cq->cond);
	if (cq->signal_fd >= 0 && !cq->fd_armed &&
	    write(cq->signal_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		cq->fd_armed = true;
	gsnfi_unlock(cq->domain);
	return 0;
}

static const char *cq_strerror(struct fid_cq *cq_fid, int prov_errno, const void *err_data,
			       char *buf, size_t len)
{
	const char *s = gsn_wc_status_str((enum gsn_wc_status)prov_errno);

	(void)cq_fid;
	(void)err_data;
	if (buf && len) {
		strncpy(buf, s, len - 1);
		buf[len - 1] = '\0';
		return buf;
	}
	return s;
}

static struct fi_ops_cq gsnfi_cq_ops = {
	.size = sizeof(struct fi_ops_cq),
	.read = cq_read,
	.readfrom = cq_readfrom,
	.readerr = cq_readerr,
	.sread = cq_sread,
	.sreadfrom = cq_sreadfrom,
	.signal = cq_signal,
	.strerror = cq_strerror,
};

int gsnfi_cq_trywait(struct fid *fid)
{
	struct gsnfi_cq *cq = cq_of(fid);
	int ret = 0;

	gsnfi_lock(cq->domain);
	gsnfi_domain_progress_locked(cq->domain);
	if (cq_count(cq))
		ret = -FI_EAGAIN;
	else if (cq->wait_obj == FI_WAIT_FD && !cq->signaled)
		fd_clear(cq);
	if (!ret)
		gsnfi_domain_before_block(cq->domain); /* the application sleeps next */
	gsnfi_unlock(cq->domain);
	return ret;
}

/* ---- fid ops ------------------------------------------------------------------------- */

static void cq_free(struct gsnfi_cq *cq)
{
	while (cq->err_head) {
		struct gsnfi_cq_err *ce = cq->err_head;

		cq->err_head = ce->next;
		free(ce->err_data_copy);
		free(ce);
	}
	if (cq->signal_fd >= 0)
		close(cq->signal_fd);
	pthread_cond_destroy(&cq->cond);
	free(cq->last_err_data);
	free(cq->ring);
	free(cq);
}

static int cq_close(struct fid *fid)
{
	struct gsnfi_cq *cq = cq_of(fid);
	struct gsnfi_domain *d = cq->domain;

	gsnfi_lock(d);
	if (cq->refs) {
		gsnfi_unlock(d);
		GSNFI_WARN(FI_LOG_CQ, "CQ close: %d endpoints still bound\n", cq->refs);
		return -FI_EBUSY;
	}
	d->refs--;
	gsnfi_unlock(d);
	cq_free(cq);
	return 0;
}

static int cq_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	(void)fid;
	(void)bfid;
	(void)flags;
	return -FI_ENOSYS;
}

static int cq_control(struct fid *fid, int command, void *arg)
{
	struct gsnfi_cq *cq = cq_of(fid);

	return gsnfi_wait_control(command, arg, cq->wait_obj, cq->signal_fd, &cq->domain->lock, &cq->cond);
}

static struct fi_ops gsnfi_cq_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = cq_close,
	.bind = cq_bind,
	.control = cq_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

/* ---- open ------------------------------------------------------------------------------ */

static int check_attr(const struct fi_cq_attr *attr, enum fi_cq_format *format,
		      enum fi_wait_obj *wait_obj)
{
	switch (attr->format) {
	case FI_CQ_FORMAT_UNSPEC:
		*format = FI_CQ_FORMAT_CONTEXT;
		break;
	case FI_CQ_FORMAT_CONTEXT:
	case FI_CQ_FORMAT_MSG:
	case FI_CQ_FORMAT_DATA:
	case FI_CQ_FORMAT_TAGGED:
		*format = attr->format;
		break;
	default:
		GSNFI_WARN(FI_LOG_CQ, "CQ format %d not supported\n", attr->format);
		return -FI_ENOSYS;
	}
	switch (attr->wait_obj) {
	case FI_WAIT_UNSPEC:
		*wait_obj = FI_WAIT_MUTEX_COND;
		break;
	case FI_WAIT_NONE:
	case FI_WAIT_FD:
	case FI_WAIT_MUTEX_COND:
	case FI_WAIT_YIELD:
		*wait_obj = attr->wait_obj;
		break;
	default:
		GSNFI_WARN(FI_LOG_CQ, "CQ wait object %d not supported\n", attr->wait_obj);
		return -FI_ENOSYS;
	}
	if (attr->wait_cond != FI_CQ_COND_NONE && attr->wait_cond != FI_CQ_COND_THRESHOLD)
		return -FI_EINVAL;
	if (attr->flags & ~(uint64_t)FI_AFFINITY)
		return -FI_EBADFLAGS;
	return 0;
}

static int cq_init(struct gsnfi_cq *cq, const struct fi_cq_attr *attr)
{
	size_t want = attr->size ? attr->size : gsnfi_params.cq_size;

	cq->cap = CQ_MIN_CAP;
	while (cq->cap < want && cq->cap < ((size_t)1 << 24))
		cq->cap *= 2;
	cq->ring = malloc(cq->cap * sizeof(*cq->ring));
	if (!cq->ring)
		return -FI_ENOMEM;
	cq->signal_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cq->signal_fd < 0) {
		free(cq->ring);
		return -FI_ENOMEM;
	}
	if (gsnfi_cond_init(&cq->cond)) {
		close(cq->signal_fd);
		free(cq->ring);
		return -FI_ENOMEM;
	}
	return 0;
}

int gsnfi_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq_out,
		  void *context)
{
	struct gsnfi_domain *d = gsnfi_domain_of(domain);
	struct fi_cq_attr def = {0};
	struct gsnfi_cq *cq;
	enum fi_cq_format format;
	enum fi_wait_obj wait_obj;
	int ret;

	if (!cq_out)
		return -FI_EINVAL;
	if (!attr)
		attr = &def;
	ret = check_attr(attr, &format, &wait_obj);
	if (ret)
		return ret;
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return -FI_ENOMEM;
	ret = cq_init(cq, attr);
	if (ret) {
		free(cq);
		return ret;
	}
	cq->domain = d;
	cq->format = format;
	cq->wait_obj = wait_obj;
	cq->wait_cond = attr->wait_cond;
	cq->cq_fid.fid.fclass = FI_CLASS_CQ;
	cq->cq_fid.fid.context = context;
	cq->cq_fid.fid.ops = &gsnfi_cq_fi_ops;
	cq->cq_fid.ops = &gsnfi_cq_ops;
	gsnfi_lock(d);
	d->refs++;
	gsnfi_unlock(d);
	*cq_out = &cq->cq_fid;
	return 0;
}
