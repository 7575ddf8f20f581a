/* SPDX-License-Identifier: MIT */
/*
 * The event loop of gsnd and its tools: one thread, epoll.
 *
 *  - file descriptors with a callback and epoll events;
 *  - timers (one-shot and periodic, ns on CLOCK_MONOTONIC) kept in a binary
 *    min-heap; the epoll timeout is the earliest timer or deadline, so an
 *    idle loop sleeps;
 *  - deadline providers: a pure module (link, msg, harp...) exposes "when do
 *    you next need to run" and "run now"; the loop asks after every
 *    iteration, so such modules need no timer objects of their own;
 *  - post-iteration hooks (flush link frames once per iteration);
 *  - signals through a signalfd.
 *
 * One iteration: compute the timeout; epoll_pwait2; dispatch fd events;
 * expire timers; expire deadline providers whose deadline has passed; run
 * the hooks.  Callbacks may add or remove fds, timers, providers and hooks,
 * including their own, at any time.
 *
 * Times are absolute CLOCK_MONOTONIC nanoseconds (gsn_loop_now_ns()).
 */
#ifndef GSN_LOOP_H
#define GSN_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_LOOP_NEVER UINT64_MAX /* "no deadline" */
#define GSN_LOOP_MAX_FD (1 << 20) /* fds above this are refused (-EBADF) */

struct gsn_loop;
struct gsn_timer;

/* events: the EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits that fired. */
typedef void (*gsn_loop_fd_fn)(struct gsn_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*gsn_timer_fn)(struct gsn_loop *loop, struct gsn_timer *t, void *arg);
/* The next absolute deadline of a module, or GSN_LOOP_NEVER. */
typedef uint64_t (*gsn_deadline_next_fn)(void *arg);
/* Called when that deadline has passed; now is the loop's clock. */
typedef void (*gsn_deadline_expire_fn)(void *arg, uint64_t now);
typedef void (*gsn_loop_hook_fn)(struct gsn_loop *loop, void *arg);
/* A signal from gsn_loop_signals(); info->ssi_pid etc. are available. */
struct signalfd_siginfo;
typedef void (*gsn_loop_signal_fn)(struct gsn_loop *loop, const struct signalfd_siginfo *info,
				   void *arg);

/*
 * A timer.  The caller owns the memory (embed it in its object), initialises
 * it once with gsn_timer_init() and arms/cancels it; it must be cancelled
 * (or have fired, one-shot) before its memory goes away.
 */
struct gsn_timer {
	uint64_t when;   /* absolute ns */
	uint64_t period; /* 0: one-shot */
	gsn_timer_fn fn;
	void *arg;
	size_t heap_idx; /* SIZE_MAX when not armed */
};

/* CLOCK_MONOTONIC in ns. */
uint64_t gsn_clock_ns(void);

/* A new loop; log may be NULL.  0 or -errno. */
int gsn_loop_new(struct gsn_loop **out, const struct gsn_log *log);
/* Closes the epoll fd and signalfd (restoring the signal mask); NULL is fine. */
void gsn_loop_free(struct gsn_loop *loop);

/* The loop's clock: CLOCK_MONOTONIC ns. */
uint64_t gsn_loop_now_ns(const struct gsn_loop *loop);

/*
 * Watches fd for events (EPOLLIN, EPOLLOUT, EPOLLET...).  The loop does not
 * own fd: gsn_loop_del_fd() before closing it.  0, -EEXIST, -EBADF or -errno.
 */
int gsn_loop_add_fd(struct gsn_loop *loop, int fd, uint32_t events, gsn_loop_fd_fn fn, void *arg);
int gsn_loop_mod_fd(struct gsn_loop *loop, int fd, uint32_t events);
int gsn_loop_del_fd(struct gsn_loop *loop, int fd);

void gsn_timer_init(struct gsn_timer *t, gsn_timer_fn fn, void *arg);
/* Arms (or re-arms) t at absolute time when; period > 0 makes it periodic. */
int gsn_loop_timer_at(struct gsn_loop *loop, struct gsn_timer *t, uint64_t when, uint64_t period);
/* Arms t delay_ns from now. */
int gsn_loop_timer_in(struct gsn_loop *loop, struct gsn_timer *t, uint64_t delay_ns,
		      uint64_t period);
void gsn_loop_timer_cancel(struct gsn_loop *loop, struct gsn_timer *t);
static inline bool gsn_timer_armed(const struct gsn_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

/*
 * Deadline providers and post-iteration hooks.  Each add returns an id
 * (> 0) for the remove, or -errno.  Providers run in order of addition.
 */
int gsn_loop_add_deadline(struct gsn_loop *loop, gsn_deadline_next_fn next,
			  gsn_deadline_expire_fn expire, void *arg);
int gsn_loop_add_hook(struct gsn_loop *loop, gsn_loop_hook_fn fn, void *arg);
void gsn_loop_remove(struct gsn_loop *loop, int id);

/*
 * Blocks the n signals (sigprocmask) and delivers them through a signalfd
 * to fn.  One set per loop (a second call replaces it).  gsn_loop_free()
 * restores the previous mask.  Typical: SIGINT, SIGTERM, SIGCHLD.
 */
int gsn_loop_signals(struct gsn_loop *loop, const int *sigs, size_t n, gsn_loop_signal_fn fn,
		     void *arg);

/* Runs iterations until gsn_loop_stop(); 0, or -errno if epoll fails. */
int gsn_loop_run(struct gsn_loop *loop);
/*
 * One iteration that waits at most max_wait_ns (0: poll, GSN_LOOP_NEVER: as
 * long as nothing is due).  Returns the number of fd events dispatched, or
 * -errno.  For tests and for callers with their own outer loop.
 */
int gsn_loop_run_once(struct gsn_loop *loop, uint64_t max_wait_ns);
/* Makes gsn_loop_run() return after the current iteration (or at once, if
 * called before it runs); the flag is cleared when gsn_loop_run() returns. */
void gsn_loop_stop(struct gsn_loop *loop);
bool gsn_loop_stopped(const struct gsn_loop *loop);

/* Counters: iterations, epoll wake-ups, timers and deadlines fired. */
struct gsn_loop_stats {
	uint64_t iterations;
	uint64_t fd_events;
	uint64_t timers_fired;
	uint64_t deadlines_fired;
};
void gsn_loop_get_stats(const struct gsn_loop *loop, struct gsn_loop_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* GSN_LOOP_H */
