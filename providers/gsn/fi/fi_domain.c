/* SPDX-License-Identifier: MIT */
/*
 * fi_domain.c — the domain: one libgsn context (a connection to gsnd), its
 * protection domain and completion channel, the domain lock, the list of
 * enabled endpoints and the progress thread.
 *
 * Locking: d->lock is recursive and serialises every object of the domain
 * (gsn_fi.h).  The progress thread sleeps without it, in poll() on its wake
 * eventfd (and on the completion channel when it armed the CQs), and takes
 * it only to progress.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fi_atomic_exec.h"
#include "gsn_fi.h"

uint64_t gsnfi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int gsnfi_ms_left(uint64_t deadline_ns, bool forever)
{
	uint64_t now;

	if (forever)
		return -1;
	now = gsnfi_now_ns();
	if (now >= deadline_ns)
		return 0;
	/* round up so a wait never ends just before the deadline */
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;

	return ms > 1000000 ? 1000000 : (int)ms;
}

uint64_t gsnfi_deadline(int timeout_ms, bool *forever)
{
	*forever = timeout_ms < 0;
	return *forever ? 0 : gsnfi_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

int gsnfi_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int ret;

	if (pthread_condattr_init(&ca))
		return -FI_ENOMEM;
	ret = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return ret ? -FI_ENOMEM : 0;
}

void gsnfi_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *m, uint64_t deadline_ns,
			   bool forever)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ull),
		.tv_nsec = (long)(deadline_ns % 1000000000ull),
	};

	if (forever)
		pthread_cond_wait(cond, m);
	else
		pthread_cond_timedwait(cond, m, &ts);
}

/* ---- endpoints and progress -------------------------------------------------- */

void gsnfi_domain_add_ep_locked(struct gsnfi_domain *d, struct gsnfi_ep *ep)
{
	if (d->ep_count == d->ep_cap) {
		size_t cap = d->ep_cap ? 2 * d->ep_cap : 8;
		struct gsnfi_ep **eps = realloc(d->eps, cap * sizeof(*eps));

		if (!eps) {
			/* not fatal: the endpoint progresses in its own calls */
			GSNFI_WARN(FI_LOG_DOMAIN, "out of memory: endpoint not auto-progressed\n");
			return;
		}
		d->eps = eps;
		d->ep_cap = cap;
	}
	d->eps[d->ep_count++] = ep;
}

void gsnfi_domain_del_ep_locked(struct gsnfi_domain *d, struct gsnfi_ep *ep)
{
	for (size_t i = 0; i < d->ep_count; i++) {
		if (d->eps[i] == ep) {
			d->eps[i] = d->eps[--d->ep_count];
			return;
		}
	}
}

void gsnfi_domain_progress_locked(struct gsnfi_domain *d)
{
	/* only ever written under the lock; the progress thread reads it without */
	__atomic_store_n(&d->progress_passes, d->progress_passes + 1, __ATOMIC_RELAXED);
	/* by index: progress may add or remove nothing but be safe anyway */
	for (size_t i = 0; i < d->ep_count; i++)
		gsnfi_ep_progress_locked(d->eps[i]);
}

void gsnfi_domain_progress(struct gsnfi_domain *d)
{
	gsnfi_lock(d);
	gsnfi_domain_progress_locked(d);
	gsnfi_unlock(d);
}

static void arm_all_locked(struct gsnfi_domain *d)
{
	for (size_t i = 0; i < d->ep_count; i++)
		gsnfi_ep_arm_locked(d->eps[i]);
}

/* Takes and acknowledges every pending CQ event of the channel (non-blocking fd). */
static void drain_events_locked(struct gsnfi_domain *d)
{
	struct gsn_cq *cq;
	void *cq_context;

	while (gsn_get_cq_event(d->chan, &cq, &cq_context) == 0)
		gsn_ack_cq_events(cq, 1);
}

/*
 * The progress thread.
 *
 * Armed, the thread costs a CQ event (an eventfd write by gsnd, a wake-up
 * here, the domain lock taken against the application) per completion.
 * That is the price of FI_PROGRESS_AUTO for an idle application, and a
 * waste for one that polls: its fi_cq_read progresses anyway.  So each
 * wake-up looks whether the application called in since the last one
 * (app_active, set by gsnfi_domain_note_app):
 *
 *  - yes: no arming; sleep PROGRESS_BUSY_TICK_MS on wake_fd, then look
 *    again.  If no progress pass ran in between (the application only
 *    posted, or an event woke us) make one, unless the application holds
 *    the lock right now.  Automatic progress is thus at most a tick late.
 *  - no: arm every endpoint, progress (what completed before the arming
 *    made no event), sleep on the completion channel, at most
 *    PROGRESS_TICK_MS (the CM's timers).
 *
 * Blocking waits cannot wait for the next tick to find the thread armed:
 * gsnfi_domain_before_block wakes it at once.
 */
#define PROGRESS_TICK_MS 100
#define PROGRESS_BUSY_TICK_MS 1

static bool progress_stopping(struct gsnfi_domain *d)
{
	return __atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE);
}

static void take_wakeup(struct gsnfi_domain *d)
{
	uint64_t v;

	if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		GSNFI_DBG(FI_LOG_DOMAIN, "progress thread: wake fd: %s\n", strerror(errno));
}

/* The application calls in: progress only if no pass ran since the last tick. */
static void progress_tick(struct gsnfi_domain *d, uint64_t *seen)
{
	uint64_t passes = __atomic_load_n(&d->progress_passes, __ATOMIC_RELAXED);

	if (passes != *seen) {
		*seen = passes; /* the application's calls progress */
		return;
	}
	if (pthread_mutex_trylock(&d->lock))
		return; /* the application is inside: it progresses itself */
	gsnfi_domain_progress_locked(d);
	*seen = d->progress_passes;
	gsnfi_unlock(d);
}

/* The application is away: events in, progress, arm, progress. */
static void progress_armed_pass(struct gsnfi_domain *d, uint64_t *seen)
{
	gsnfi_lock(d);
	drain_events_locked(d);
	gsnfi_domain_progress_locked(d);
	arm_all_locked(d);
	/* a completion that came before the arming made no event */
	gsnfi_domain_progress_locked(d);
	*seen = d->progress_passes;
	gsnfi_unlock(d);
}

/* Decides how to sleep next: true when the CQs are armed. */
static bool progress_decide(struct gsnfi_domain *d, uint64_t *seen)
{
	/* Dekker with gsnfi_domain_before_block: ticking before app_active */
	__atomic_store_n(&d->ticking, true, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&d->app_active, false, __ATOMIC_RELAXED)) {
		progress_tick(d, seen);
		return false;
	}
	__atomic_store_n(&d->ticking, false, __ATOMIC_RELAXED);
	progress_armed_pass(d, seen);
	return true;
}

static void *progress_main(void *arg)
{
	struct gsnfi_domain *d = arg;
	uint64_t seen = 0;
	bool armed = false;

	while (!progress_stopping(d)) {
		struct pollfd pfd[2] = {
			{.fd = d->wake_fd, .events = POLLIN},
			{.fd = d->chan->fd, .events = POLLIN},
		};
		int n = poll(pfd, armed ? 2 : 1, armed ? PROGRESS_TICK_MS : PROGRESS_BUSY_TICK_MS);

		if (n < 0 && errno != EINTR) {
			GSNFI_WARN(FI_LOG_DOMAIN, "progress thread: poll: %s\n", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			if (progress_stopping(d))
				break;
			take_wakeup(d);
		}
		armed = progress_decide(d, &seen);
	}
	return NULL;
}

void gsnfi_domain_before_block(struct gsnfi_domain *d)
{
	uint64_t one = 1;

	if (!d->progress_running)
		return;
	__atomic_store_n(&d->app_active, false, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&d->ticking, __ATOMIC_RELAXED))
		return; /* armed, or about to arm: it sees app_active clear */
	if (write(d->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		GSNFI_DBG(FI_LOG_DOMAIN, "cannot wake the progress thread: %s\n", strerror(errno));
}

int gsnfi_progress_start(struct gsnfi_domain *d)
{
	int ret;

	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake_fd < 0)
		return -FI_ENOMEM;
	d->stopping = false;
	ret = pthread_create(&d->progress_thread, NULL, progress_main, d);
	if (ret) {
		close(d->wake_fd);
		d->wake_fd = -1;
		GSNFI_WARN(FI_LOG_DOMAIN, "cannot start the progress thread: %s\n", strerror(ret));
		return -FI_EAGAIN;
	}
	d->progress_running = true;
	return 0;
}

void gsnfi_progress_stop(struct gsnfi_domain *d)
{
	uint64_t one = 1;

	if (!d->progress_running)
		return;
	__atomic_store_n(&d->stopping, true, __ATOMIC_RELEASE);
	if (write(d->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		GSNFI_WARN(FI_LOG_DOMAIN, "cannot wake the progress thread: %s\n", strerror(errno));
	pthread_join(d->progress_thread, NULL);
	close(d->wake_fd);
	d->wake_fd = -1;
	d->progress_running = false;
}

void gsnfi_domain_wait(struct gsnfi_domain *d, int extra_fd, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{.fd = d->chan->fd, .events = POLLIN},
		{.fd = extra_fd, .events = POLLIN},
	};

	gsnfi_lock(d);
	arm_all_locked(d);
	gsnfi_domain_progress_locked(d);
	gsnfi_unlock(d);
	if (poll(pfd, extra_fd >= 0 ? 2 : 1, timeout_ms) > 0 && (pfd[0].revents & POLLIN)) {
		gsnfi_lock(d);
		drain_events_locked(d);
		gsnfi_unlock(d);
	}
}

/* ---- fid ops -------------------------------------------------------------------- */

static void domain_free(struct gsnfi_domain *d)
{
	if (d->chan)
		gsn_destroy_comp_channel(d->chan);
	if (d->pd)
		gsn_dealloc_pd(d->pd);
	if (d->ctx)
		gsn_close_device(d->ctx);
	pthread_mutex_destroy(&d->lock);
	gsnfi_fabric_release(d->fabric);
	free(d->mr_table);
	free(d->eps);
	free(d->name);
	free(d);
}

static int domain_close(struct fid *fid)
{
	struct gsnfi_domain *d = GSNFI_CONTAINER_OF(fid, struct gsnfi_domain, domain_fid.fid);
	int refs;

	gsnfi_lock(d);
	refs = d->refs;
	gsnfi_unlock(d);
	if (refs) {
		GSNFI_WARN(FI_LOG_DOMAIN, "domain close: %d objects still open\n", refs);
		return -FI_EBUSY;
	}
	gsnfi_progress_stop(d);
	domain_free(d);
	return 0;
}

static int domain_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	(void)fid;
	(void)bfid;
	(void)flags;
	return -FI_ENOSYS; /* no asynchronous MR registration */
}

static int domain_control(struct fid *fid, int command, void *arg)
{
	(void)fid;
	(void)command;
	(void)arg;
	return -FI_ENOSYS;
}

static struct fi_ops gsnfi_domain_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = domain_close,
	.bind = domain_bind,
	.control = domain_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

/* ---- domain ops ------------------------------------------------------------------- */

static int domain_scalable_ep(struct fid_domain *domain, struct fi_info *info,
			      struct fid_ep **sep, void *context)
{
	(void)domain;
	(void)info;
	(void)sep;
	(void)context;
	return -FI_ENOSYS;
}

static int domain_poll_open(struct fid_domain *domain, struct fi_poll_attr *attr,
			    struct fid_poll **pollset)
{
	(void)domain;
	(void)attr;
	(void)pollset;
	return -FI_ENOSYS;
}

static int domain_stx_ctx(struct fid_domain *domain, struct fi_tx_attr *attr,
			  struct fid_stx **stx, void *context)
{
	(void)domain;
	(void)attr;
	(void)stx;
	(void)context;
	return -FI_ENOSYS;
}

static int domain_srx_ctx(struct fid_domain *domain, struct fi_rx_attr *attr,
			  struct fid_ep **rx_ep, void *context)
{
	(void)domain;
	(void)attr;
	(void)rx_ep;
	(void)context;
	return -FI_ENOSYS;
}

static int domain_query_atomic(struct fid_domain *domain, enum fi_datatype datatype,
			       enum fi_op op, struct fi_atomic_attr *attr, uint64_t flags)
{
	enum gsnfi_atomic_kind kind = GSNFI_ATOMIC_PLAIN;
	size_t size;
	int ret;

	(void)domain;
	if (!attr)
		return -FI_EINVAL;
	if ((flags & FI_FETCH_ATOMIC) && (flags & FI_COMPARE_ATOMIC))
		return -FI_EINVAL;
	if (flags & FI_COMPARE_ATOMIC)
		kind = GSNFI_ATOMIC_COMPARE;
	else if (flags & FI_FETCH_ATOMIC)
		kind = GSNFI_ATOMIC_FETCH;
	ret = gsnfi_atomic_query(datatype, op, kind, &size);
	if (ret)
		return ret;
	attr->size = size;
	attr->count = gsnfi_atomic_max_count(size, kind);
	return 0;
}

static int domain_query_collective(struct fid_domain *domain, enum fi_collective_op coll,
				   struct fi_collective_attr *attr, uint64_t flags)
{
	(void)domain;
	(void)coll;
	(void)attr;
	(void)flags;
	return -FI_ENOSYS;
}

static int domain_endpoint2(struct fid_domain *domain, struct fi_info *info, struct fid_ep **ep,
			    uint64_t flags, void *context)
{
	if (flags)
		return -FI_EBADFLAGS; /* FI_PEER and the like */
	return gsnfi_ep_open(domain, info, ep, context);
}

static struct fi_ops_domain gsnfi_domain_ops = {
	.size = sizeof(struct fi_ops_domain),
	.av_open = gsnfi_av_open,
	.cq_open = gsnfi_cq_open,
	.endpoint = gsnfi_ep_open,
	.scalable_ep = domain_scalable_ep,
	.cntr_open = gsnfi_cntr_open,
	.poll_open = domain_poll_open,
	.stx_ctx = domain_stx_ctx,
	.srx_ctx = domain_srx_ctx,
	.query_atomic = domain_query_atomic,
	.query_collective = domain_query_collective,
	.endpoint2 = domain_endpoint2,
};

static int mr_regv(struct fid *fid, const struct iovec *iov, size_t count, uint64_t access,
		   uint64_t offset, uint64_t requested_key, uint64_t flags, struct fid_mr **mr,
		   void *context)
{
	if (count > GSNFI_MR_IOV_LIMIT || (count && !iov)) {
		GSNFI_WARN(FI_LOG_MR, "fi_mr_regv: %zu iovs (limit %d)\n", count,
			   GSNFI_MR_IOV_LIMIT);
		return -FI_EINVAL;
	}
	return gsnfi_mr_reg(fid, count ? iov[0].iov_base : NULL, count ? iov[0].iov_len : 0,
			    access, offset, requested_key, flags, mr, context);
}

static int mr_regattr(struct fid *fid, const struct fi_mr_attr *attr, uint64_t flags,
		      struct fid_mr **mr)
{
	if (!attr)
		return -FI_EINVAL;
	if (attr->iface != FI_HMEM_SYSTEM) {
		GSNFI_WARN(FI_LOG_MR, "fi_mr_regattr: device memory is not supported\n");
		return -FI_ENOSYS;
	}
	if (attr->auth_key_size)
		return -FI_EINVAL;
	return mr_regv(fid, attr->mr_iov, attr->iov_count, attr->access, attr->offset,
		       attr->requested_key, flags, mr, attr->context);
}

static struct fi_ops_mr gsnfi_domain_mr_ops = {
	.size = sizeof(struct fi_ops_mr),
	.reg = gsnfi_mr_reg,
	.regv = mr_regv,
	.regattr = mr_regattr,
};

/* ---- open --------------------------------------------------------------------------- */

/* FI_MR_BASIC / FI_MR_SCALABLE in their 1.5 bit form. */
static uint64_t effective_mr_mode(int mr_mode)
{
	if (mr_mode & FI_MR_BASIC)
		return FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED;
	if (mr_mode & FI_MR_SCALABLE)
		return 0;
	return (uint64_t)mr_mode;
}

/* Opens the libgsn device named name (gsn_get_device_list may autostart gsnd). */
static int open_device(struct gsnfi_domain *d, const char *name)
{
	struct gsn_device **list;
	int num = 0, ret;

	ret = gsn_get_device_list(&list, &num);
	if (ret) {
		GSNFI_WARN(FI_LOG_DOMAIN, "no gsn devices: %s\n", strerror(-ret));
		return gsnfi_errno(ret);
	}
	ret = -FI_ENODEV;
	for (int i = 0; i < num; i++) {
		if (strcmp(gsn_get_device_name(list[i]), name))
			continue;
		ret = gsnfi_errno(gsn_open_device(list[i], &d->ctx));
		break;
	}
	gsn_free_device_list(list);
	if (ret == -FI_ENODEV)
		GSNFI_WARN(FI_LOG_DOMAIN, "gsn device %s not found\n", name);
	else if (ret)
		GSNFI_WARN(FI_LOG_DOMAIN, "cannot open %s: %s\n", name, fi_strerror(-ret));
	return ret;
}

static int domain_resources(struct gsnfi_domain *d)
{
	int ret;

	ret = gsn_alloc_pd(d->ctx, &d->pd);
	if (!ret)
		ret = gsn_create_comp_channel(d->ctx, &d->chan);
	if (!ret)
		ret = gsn_query_device(d->ctx, &d->dev_attr);
	if (!ret)
		ret = gsn_query_port(d->ctx, 1, &d->port_attr);
	if (ret) {
		GSNFI_WARN(FI_LOG_DOMAIN, "device set-up failed: %s\n", strerror(-ret));
		return gsnfi_errno(ret);
	}
	/* gsn_get_cq_event() must not block the progress thread */
	int fl = fcntl(d->chan->fd, F_GETFL);

	if (fl < 0 || fcntl(d->chan->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -FI_EOTHER;
	return 0;
}

static int domain_init_lock(struct gsnfi_domain *d)
{
	pthread_mutexattr_t ma;
	int ret;

	if (pthread_mutexattr_init(&ma))
		return -FI_ENOMEM;
	ret = pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = pthread_mutex_init(&d->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	return ret ? -FI_ENOMEM : 0;
}

static void domain_init_fid(struct gsnfi_domain *d, void *context)
{
	d->domain_fid.fid.fclass = FI_CLASS_DOMAIN;
	d->domain_fid.fid.context = context;
	d->domain_fid.fid.ops = &gsnfi_domain_fi_ops;
	d->domain_fid.ops = &gsnfi_domain_ops;
	d->domain_fid.mr = &gsnfi_domain_mr_ops;
}

static void domain_take_info(struct gsnfi_domain *d, const struct fi_info *info)
{
	const struct fi_domain_attr *da = info ? info->domain_attr : NULL;

	d->caps = info && info->caps ? info->caps : gsnfi_info_template.caps;
	d->mr_mode = effective_mr_mode(da ? da->mr_mode : 0);
	d->threading = da && da->threading ? da->threading : FI_THREAD_SAFE;
	d->data_progress = da && da->data_progress ? da->data_progress : FI_PROGRESS_AUTO;
}

int gsnfi_domain_open(struct fid_fabric *fabric, struct fi_info *info,
		      struct fid_domain **domain, void *context)
{
	struct gsnfi_fabric *f = GSNFI_CONTAINER_OF(fabric, struct gsnfi_fabric, fabric_fid);
	const char *name = gsnfi_default_device();
	struct gsnfi_domain *d;
	int ret;

	if (!domain)
		return -FI_EINVAL;
	if (info && info->domain_attr && info->domain_attr->name)
		name = info->domain_attr->name;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -FI_ENOMEM;
	d->wake_fd = -1;
	d->name = strdup(name);
	if (!d->name || domain_init_lock(d)) {
		free(d->name);
		free(d);
		return -FI_ENOMEM;
	}
	d->fabric = f;
	d->api_version = fabric->api_version;
	gsnfi_fabric_hold(f);
	domain_take_info(d, info);
	d->next_prov_key = 0xFFFF000000000000ull; /* zero-length MRs: never a device rkey */
	ret = open_device(d, d->name);
	if (!ret)
		ret = domain_resources(d);
	if (!ret && gsnfi_params.progress_thread)
		ret = gsnfi_progress_start(d);
	if (ret) {
		domain_free(d);
		return ret;
	}
	domain_init_fid(d, context);
	*domain = &d->domain_fid;
	return 0;
}
