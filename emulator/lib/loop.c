/* SPDX-License-Identifier: MIT */
/*
 * epoll event loop: fd table indexed by fd (with a generation, so an event
 * already returned by epoll for an fd removed meanwhile is ignored), a
 * binary min-heap of timers, a list of deadline providers and hooks.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define EVENT_BATCH 64

struct fd_entry {
	gsn_loop_fd_fn fn;
	void *arg;
	uint32_t gen;
	bool active;
};

enum cb_kind { CB_DEADLINE, CB_HOOK };

struct cb_entry {
	int id;
	enum cb_kind kind;
	bool dead;
	gsn_deadline_next_fn next;
	gsn_deadline_expire_fn expire;
	gsn_loop_hook_fn hook;
	void *arg;
};

struct gsn_loop {
	int epfd;
	const struct gsn_log *log;
	bool stop;
	bool use_pwait2;

	struct fd_entry *fds;
	size_t nfds_cap;

	struct gsn_timer **heap;
	size_t heap_len, heap_cap;

	struct cb_entry *cbs;
	size_t ncbs, cbs_cap;
	int next_id;
	int cb_depth; /* > 0 while walking cbs: removal only marks */

	int sigfd;
	sigset_t old_mask;
	gsn_loop_signal_fn sig_fn;
	void *sig_arg;

	struct gsn_loop_stats stats;
};

uint64_t gsn_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gsn_loop_now_ns(const struct gsn_loop *loop)
{
	(void)loop;
	return gsn_clock_ns();
}

int gsn_loop_new(struct gsn_loop **out, const struct gsn_log *log)
{
	struct gsn_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = -errno;

		free(loop);
		return err;
	}
	loop->log = log;
	loop->sigfd = -1;
	loop->next_id = 1;
	loop->use_pwait2 = true;
	*out = loop;
	return 0;
}

static void signals_release(struct gsn_loop *loop)
{
	if (loop->sigfd < 0)
		return;
	gsn_loop_del_fd(loop, loop->sigfd);
	close(loop->sigfd);
	loop->sigfd = -1;
	sigprocmask(SIG_SETMASK, &loop->old_mask, NULL);
}

void gsn_loop_free(struct gsn_loop *loop)
{
	if (!loop)
		return;
	signals_release(loop);
	for (size_t i = 0; i < loop->heap_len; i++)
		loop->heap[i]->heap_idx = SIZE_MAX;
	close(loop->epfd);
	free(loop->fds);
	free(loop->heap);
	free(loop->cbs);
	free(loop);
}

/* ---- file descriptors ---- */

static int fd_table_reserve(struct gsn_loop *loop, int fd)
{
	if ((size_t)fd < loop->nfds_cap)
		return 0;
	size_t cap = loop->nfds_cap ? loop->nfds_cap : 64;

	while (cap <= (size_t)fd)
		cap *= 2;
	struct fd_entry *n = realloc(loop->fds, cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	memset(n + loop->nfds_cap, 0, (cap - loop->nfds_cap) * sizeof(*n));
	loop->fds = n;
	loop->nfds_cap = cap;
	return 0;
}

static uint64_t fd_key(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

int gsn_loop_add_fd(struct gsn_loop *loop, int fd, uint32_t events, gsn_loop_fd_fn fn, void *arg)
{
	if (fd < 0 || fd >= GSN_LOOP_MAX_FD || !fn)
		return -EBADF;
	int err = fd_table_reserve(loop, fd);

	if (err)
		return err;
	struct fd_entry *e = &loop->fds[fd];

	if (e->active)
		return -EEXIST;
	uint32_t gen = e->gen + 1;
	struct epoll_event ev = {.events = events, .data.u64 = fd_key(fd, gen)};

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	e->gen = gen;
	e->fn = fn;
	e->arg = arg;
	e->active = true;
	return 0;
}

static struct fd_entry *fd_lookup(struct gsn_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds_cap || !loop->fds[fd].active)
		return NULL;
	return &loop->fds[fd];
}

int gsn_loop_mod_fd(struct gsn_loop *loop, int fd, uint32_t events)
{
	struct fd_entry *e = fd_lookup(loop, fd);

	if (!e)
		return -ENOENT;
	struct epoll_event ev = {.events = events, .data.u64 = fd_key(fd, e->gen)};

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int gsn_loop_del_fd(struct gsn_loop *loop, int fd)
{
	struct fd_entry *e = fd_lookup(loop, fd);

	if (!e)
		return -ENOENT;
	e->active = false;
	e->gen++; /* events already fetched for the old registration are ignored */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	return 0;
}

/* ---- timers: binary min-heap on when ---- */

static void heap_set(struct gsn_loop *loop, size_t i, struct gsn_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct gsn_loop *loop, size_t i)
{
	struct gsn_timer *t = loop->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (loop->heap[p]->when <= t->when)
			break;
		heap_set(loop, i, loop->heap[p]);
		i = p;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct gsn_loop *loop, size_t i)
{
	struct gsn_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= loop->heap_len)
			break;
		if (c + 1 < loop->heap_len && loop->heap[c + 1]->when < loop->heap[c]->when)
			c++;
		if (t->when <= loop->heap[c]->when)
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct gsn_loop *loop, struct gsn_timer *t)
{
	size_t i = t->heap_idx;
	struct gsn_timer *last = loop->heap[--loop->heap_len];

	t->heap_idx = SIZE_MAX;
	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->heap_idx);
}

void gsn_timer_init(struct gsn_timer *t, gsn_timer_fn fn, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
	t->arg = arg;
	t->heap_idx = SIZE_MAX;
}

int gsn_loop_timer_at(struct gsn_loop *loop, struct gsn_timer *t, uint64_t when, uint64_t period)
{
	if (gsn_timer_armed(t)) {
		t->when = when;
		t->period = period;
		heap_up(loop, t->heap_idx);
		heap_down(loop, t->heap_idx);
		return 0;
	}
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct gsn_timer **n = realloc(loop->heap, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		loop->heap = n;
		loop->heap_cap = cap;
	}
	t->when = when;
	t->period = period;
	heap_set(loop, loop->heap_len++, t);
	heap_up(loop, t->heap_idx);
	return 0;
}

int gsn_loop_timer_in(struct gsn_loop *loop, struct gsn_timer *t, uint64_t delay_ns,
		      uint64_t period)
{
	uint64_t now = gsn_clock_ns();
	uint64_t when = delay_ns > GSN_LOOP_NEVER - now ? GSN_LOOP_NEVER : now + delay_ns;

	return gsn_loop_timer_at(loop, t, when, period);
}

void gsn_loop_timer_cancel(struct gsn_loop *loop, struct gsn_timer *t)
{
	if (gsn_timer_armed(t) && t->heap_idx < loop->heap_len && loop->heap[t->heap_idx] == t)
		heap_remove(loop, t);
}

/* Fires the timers due at now; at most as many as were armed on entry. */
static void timers_expire(struct gsn_loop *loop, uint64_t now)
{
	size_t budget = loop->heap_len;

	while (budget-- > 0 && loop->heap_len > 0 && loop->heap[0]->when <= now) {
		struct gsn_timer *t = loop->heap[0];

		heap_remove(loop, t);
		if (t->period) {
			uint64_t next = t->when + t->period;

			gsn_loop_timer_at(loop, t, next > now ? next : now + t->period, t->period);
		}
		loop->stats.timers_fired++;
		t->fn(loop, t, t->arg);
	}
}

/* ---- deadline providers and hooks ---- */

static int cb_add(struct gsn_loop *loop, const struct cb_entry *tmpl)
{
	if (loop->next_id == INT32_MAX)
		return -ENOSPC;
	if (loop->ncbs == loop->cbs_cap) {
		size_t cap = loop->cbs_cap ? loop->cbs_cap * 2 : 8;
		struct cb_entry *n = realloc(loop->cbs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		loop->cbs = n;
		loop->cbs_cap = cap;
	}
	struct cb_entry *e = &loop->cbs[loop->ncbs++];

	*e = *tmpl;
	e->id = loop->next_id++;
	e->dead = false;
	return e->id;
}

int gsn_loop_add_deadline(struct gsn_loop *loop, gsn_deadline_next_fn next,
			  gsn_deadline_expire_fn expire, void *arg)
{
	if (!next || !expire)
		return -EINVAL;
	struct cb_entry e = {.kind = CB_DEADLINE, .next = next, .expire = expire, .arg = arg};

	return cb_add(loop, &e);
}

int gsn_loop_add_hook(struct gsn_loop *loop, gsn_loop_hook_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	struct cb_entry e = {.kind = CB_HOOK, .hook = fn, .arg = arg};

	return cb_add(loop, &e);
}

static void cb_compact(struct gsn_loop *loop)
{
	size_t j = 0;

	for (size_t i = 0; i < loop->ncbs; i++)
		if (!loop->cbs[i].dead)
			loop->cbs[j++] = loop->cbs[i];
	loop->ncbs = j;
}

void gsn_loop_remove(struct gsn_loop *loop, int id)
{
	for (size_t i = 0; i < loop->ncbs; i++)
		if (loop->cbs[i].id == id)
			loop->cbs[i].dead = true;
	if (loop->cb_depth == 0)
		cb_compact(loop);
}

static uint64_t deadlines_earliest(struct gsn_loop *loop)
{
	uint64_t min = GSN_LOOP_NEVER;

	loop->cb_depth++;
	for (size_t i = 0; i < loop->ncbs; i++) {
		struct cb_entry e = loop->cbs[i];

		if (e.dead || e.kind != CB_DEADLINE)
			continue;
		uint64_t d = e.next(e.arg);

		if (d < min)
			min = d;
	}
	loop->cb_depth--;
	return min;
}

static void deadlines_expire(struct gsn_loop *loop, uint64_t now)
{
	loop->cb_depth++;
	for (size_t i = 0; i < loop->ncbs; i++) {
		struct cb_entry e = loop->cbs[i];

		if (e.dead || e.kind != CB_DEADLINE || e.next(e.arg) > now)
			continue;
		loop->stats.deadlines_fired++;
		e.expire(e.arg, now);
	}
	loop->cb_depth--;
}

static void hooks_run(struct gsn_loop *loop)
{
	loop->cb_depth++;
	for (size_t i = 0; i < loop->ncbs; i++) {
		struct cb_entry e = loop->cbs[i];

		if (!e.dead && e.kind == CB_HOOK)
			e.hook(loop, e.arg);
	}
	loop->cb_depth--;
	if (loop->cb_depth == 0)
		cb_compact(loop);
}

/* ---- signals ---- */

static void signal_ready(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	struct signalfd_siginfo si[8];

	for (;;) {
		ssize_t n = read(fd, si, sizeof(si));

		if (n <= 0)
			return;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
			if (loop->sig_fn)
				loop->sig_fn(loop, &si[i], loop->sig_arg);
		if (loop->sigfd != fd)
			return; /* replaced or released by the callback */
	}
}

int gsn_loop_signals(struct gsn_loop *loop, const int *sigs, size_t n, gsn_loop_signal_fn fn,
		     void *arg)
{
	sigset_t set, old;

	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		if (sigaddset(&set, sigs[i]) < 0)
			return -EINVAL;
	signals_release(loop);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		return -errno;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		return err;
	}
	int err = gsn_loop_add_fd(loop, fd, EPOLLIN, signal_ready, NULL);

	if (err) {
		close(fd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err;
	}
	loop->sigfd = fd;
	loop->old_mask = old;
	loop->sig_fn = fn;
	loop->sig_arg = arg;
	return 0;
}

/* ---- running ---- */

static uint64_t next_wakeup(struct gsn_loop *loop)
{
	uint64_t d = deadlines_earliest(loop);

	if (loop->heap_len > 0 && loop->heap[0]->when < d)
		d = loop->heap[0]->when;
	return d;
}

static int wait_events(struct gsn_loop *loop, struct epoll_event *ev, uint64_t wait_ns)
{
	if (loop->use_pwait2) {
		struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000u),
				      .tv_nsec = (long)(wait_ns % 1000000000u)};
		int n = epoll_pwait2(loop->epfd, ev, EVENT_BATCH,
				     wait_ns == GSN_LOOP_NEVER ? NULL : &ts, NULL);

		if (n >= 0 || errno != ENOSYS)
			return n;
		loop->use_pwait2 = false;
	}
	int ms = -1;

	if (wait_ns != GSN_LOOP_NEVER) {
		uint64_t m = (wait_ns + 999999u) / 1000000u; /* round up: never spin early */

		ms = m > INT32_MAX ? INT32_MAX : (int)m;
	}
	return epoll_wait(loop->epfd, ev, EVENT_BATCH, ms);
}

static void dispatch(struct gsn_loop *loop, const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)ev[i].data.u64;
		uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
		struct fd_entry *e = fd_lookup(loop, fd);

		if (!e || e->gen != gen)
			continue;
		loop->stats.fd_events++;
		e->fn(loop, fd, ev[i].events, e->arg);
	}
}

int gsn_loop_run_once(struct gsn_loop *loop, uint64_t max_wait_ns)
{
	struct epoll_event ev[EVENT_BATCH];
	uint64_t now = gsn_clock_ns();
	uint64_t due = next_wakeup(loop);
	uint64_t wait = due <= now ? 0 : due - now;

	if (wait > max_wait_ns)
		wait = max_wait_ns;
	loop->stats.iterations++;
	int n = wait_events(loop, ev, wait);

	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	dispatch(loop, ev, n);
	now = gsn_clock_ns();
	timers_expire(loop, now);
	deadlines_expire(loop, now);
	hooks_run(loop);
	return n;
}

int gsn_loop_run(struct gsn_loop *loop)
{
	int err = 0;

	while (!loop->stop) {
		int n = gsn_loop_run_once(loop, GSN_LOOP_NEVER);

		if (n < 0) {
			GSN_ERR(loop->log, "loop", "epoll: %s", strerror(-n));
			err = n;
			break;
		}
	}
	loop->stop = false;
	return err;
}

void gsn_loop_stop(struct gsn_loop *loop)
{
	loop->stop = true;
}

bool gsn_loop_stopped(const struct gsn_loop *loop)
{
	return loop->stop;
}

void gsn_loop_get_stats(const struct gsn_loop *loop, struct gsn_loop_stats *out)
{
	*out = loop->stats;
}
