// SPDX-License-Identifier: MIT
// Event loop: timers (order, periodic, cancel), fds, deadline providers,
// hooks, signals, idling without spinning.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <vector>

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

extern "C" {
#include "loop.h"
}

namespace {

struct Loop {
	gsn_loop *l = nullptr;
	Loop() { EXPECT_EQ(gsn_loop_new(&l, nullptr), 0); }
	~Loop() { gsn_loop_free(l); }
};

struct Tagged {
	gsn_timer t;
	int tag;
	std::vector<int> *order;
};

void record_tag(gsn_loop *, gsn_timer *, void *arg)
{
	auto *x = static_cast<Tagged *>(arg);
	x->order->push_back(x->tag);
}

TEST(LoopTimers, FireInDeadlineOrder)
{
	Loop L;
	std::vector<int> order;
	Tagged t[5];
	const uint64_t delay_ms[5] = {30, 10, 20, 0, 15};

	for (int i = 0; i < 5; i++) {
		t[i].tag = i;
		t[i].order = &order;
		gsn_timer_init(&t[i].t, record_tag, &t[i]);
		ASSERT_EQ(gsn_loop_timer_in(L.l, &t[i].t, delay_ms[i] * 1000000, 0), 0);
	}
	gsn_loop_timer_cancel(L.l, &t[4].t); // 15 ms one never fires
	EXPECT_FALSE(gsn_timer_armed(&t[4].t));
	uint64_t start = gsn_clock_ns();
	while (order.size() < 4 && gsn_clock_ns() - start < 2000000000ull)
		ASSERT_GE(gsn_loop_run_once(L.l, GSN_LOOP_NEVER), 0);
	EXPECT_EQ(order, (std::vector<int>{3, 1, 2, 0}));
	EXPECT_GE(gsn_clock_ns() - start, 30000000ull);
	for (auto &x : t)
		EXPECT_FALSE(gsn_timer_armed(&x.t));
}

TEST(LoopTimers, ManyTimersHeapOrder)
{
	Loop L;
	std::vector<int> order;
	std::vector<Tagged> t(200);
	uint64_t base = gsn_loop_now_ns(L.l);

	for (int i = 0; i < 200; i++) {
		t[i].tag = (i * 37) % 200;
		t[i].order = &order;
		gsn_timer_init(&t[i].t, record_tag, &t[i]);
		ASSERT_EQ(gsn_loop_timer_at(L.l, &t[i].t, base + (uint64_t)t[i].tag * 1000, 0), 0);
	}
	for (int i = 0; i < 200; i += 3) // cancel a third, from the middle of the heap
		gsn_loop_timer_cancel(L.l, &t[i].t);
	while (gsn_clock_ns() < base + 300000)
		;
	ASSERT_GE(gsn_loop_run_once(L.l, 0), 0);
	std::vector<int> want;
	for (int tag = 0; tag < 200; tag++) {
		bool cancelled = false;
		for (int i = 0; i < 200; i += 3)
			if (t[i].tag == tag)
				cancelled = true;
		if (!cancelled)
			want.push_back(tag);
	}
	EXPECT_EQ(order, want);
}

struct Periodic {
	gsn_timer t;
	int count = 0;
};

void periodic_fire(gsn_loop *l, gsn_timer *t, void *arg)
{
	auto *p = static_cast<Periodic *>(arg);
	if (++p->count == 4) {
		gsn_loop_timer_cancel(l, t);
		gsn_loop_stop(l);
	}
}

TEST(LoopTimers, PeriodicUntilCancelled)
{
	Loop L;
	Periodic p;
	gsn_timer_init(&p.t, periodic_fire, &p);
	ASSERT_EQ(gsn_loop_timer_in(L.l, &p.t, 2000000, 2000000), 0);
	uint64_t start = gsn_clock_ns();
	ASSERT_EQ(gsn_loop_run(L.l), 0);
	EXPECT_EQ(p.count, 4);
	EXPECT_GE(gsn_clock_ns() - start, 8000000ull);
	EXPECT_FALSE(gsn_timer_armed(&p.t));
}

struct FdProbe {
	int calls = 0;
	uint32_t events = 0;
	int other_fd = -1; // removed by this callback
};

void fd_probe(gsn_loop *l, int fd, uint32_t events, void *arg)
{
	auto *p = static_cast<FdProbe *>(arg);
	p->calls++;
	p->events = events;
	char buf[64];
	(void)!read(fd, buf, sizeof(buf));
	if (p->other_fd >= 0)
		gsn_loop_del_fd(l, p->other_fd);
}

TEST(LoopFd, ReadableCallbackAndRemoval)
{
	Loop L;
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	FdProbe probe;
	ASSERT_EQ(gsn_loop_add_fd(L.l, p[0], EPOLLIN, fd_probe, &probe), 0);
	EXPECT_EQ(gsn_loop_add_fd(L.l, p[0], EPOLLIN, fd_probe, &probe), -EEXIST);
	EXPECT_EQ(gsn_loop_run_once(L.l, 0), 0);
	EXPECT_EQ(probe.calls, 0);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	EXPECT_EQ(gsn_loop_run_once(L.l, 1000000000), 1);
	EXPECT_EQ(probe.calls, 1);
	EXPECT_TRUE(probe.events & EPOLLIN);
	ASSERT_EQ(gsn_loop_del_fd(L.l, p[0]), 0);
	EXPECT_EQ(gsn_loop_del_fd(L.l, p[0]), -ENOENT);
	ASSERT_EQ(write(p[1], "y", 1), 1);
	EXPECT_EQ(gsn_loop_run_once(L.l, 0), 0);
	EXPECT_EQ(probe.calls, 1);
	EXPECT_EQ(gsn_loop_add_fd(L.l, -1, EPOLLIN, fd_probe, &probe), -EBADF);
	close(p[0]);
	close(p[1]);
}

TEST(LoopFd, CallbackRemovingAnotherReadyFdSuppressesIt)
{
	Loop L;
	int a[2], b[2];
	ASSERT_EQ(pipe(a), 0);
	ASSERT_EQ(pipe(b), 0);
	FdProbe pa, pb;
	pa.other_fd = b[0];
	pb.other_fd = a[0];
	ASSERT_EQ(gsn_loop_add_fd(L.l, a[0], EPOLLIN, fd_probe, &pa), 0);
	ASSERT_EQ(gsn_loop_add_fd(L.l, b[0], EPOLLIN, fd_probe, &pb), 0);
	ASSERT_EQ(write(a[1], "x", 1), 1);
	ASSERT_EQ(write(b[1], "x", 1), 1);
	usleep(1000);
	gsn_loop_run_once(L.l, 1000000000);
	EXPECT_EQ(pa.calls + pb.calls, 1); // whichever ran first removed the other
	for (int fd : {a[0], a[1], b[0], b[1]})
		close(fd);
}

struct Provider {
	uint64_t deadline;
	int expired = 0;
	uint64_t expired_at = 0;
};

uint64_t provider_next(void *arg)
{
	return static_cast<Provider *>(arg)->deadline;
}

void provider_expire(void *arg, uint64_t now)
{
	auto *p = static_cast<Provider *>(arg);
	p->expired++;
	p->expired_at = now;
	p->deadline = GSN_LOOP_NEVER;
}

TEST(LoopDeadline, ProviderDrivesTheTimeout)
{
	Loop L;
	Provider p;
	uint64_t start = gsn_clock_ns();
	p.deadline = start + 20000000;
	int id = gsn_loop_add_deadline(L.l, provider_next, provider_expire, &p);
	ASSERT_GT(id, 0);
	gsn_loop_stats before;
	gsn_loop_get_stats(L.l, &before);
	while (!p.expired && gsn_clock_ns() - start < 2000000000ull)
		gsn_loop_run_once(L.l, GSN_LOOP_NEVER);
	gsn_loop_stats after;
	gsn_loop_get_stats(L.l, &after);
	EXPECT_EQ(p.expired, 1);
	EXPECT_GE(p.expired_at, start + 20000000);
	// one sleep, not a spin (allow a spurious early wake-up or two)
	EXPECT_LE(after.iterations - before.iterations, 3u);
	gsn_loop_remove(L.l, id);
	p.deadline = 0; // due, but removed
	gsn_loop_run_once(L.l, 0);
	EXPECT_EQ(p.expired, 1);
}

TEST(LoopDeadline, IdleLoopSleeps)
{
	Loop L;
	uint64_t start = gsn_clock_ns();
	EXPECT_EQ(gsn_loop_run_once(L.l, 30000000), 0);
	EXPECT_GE(gsn_clock_ns() - start, 29000000ull);
	gsn_loop_stats s;
	gsn_loop_get_stats(L.l, &s);
	EXPECT_EQ(s.iterations, 1u);
}

void count_hook(gsn_loop *, void *arg)
{
	(*static_cast<int *>(arg))++;
}

TEST(LoopHook, RunsOncePerIterationUntilRemoved)
{
	Loop L;
	int n = 0;
	int id = gsn_loop_add_hook(L.l, count_hook, &n);
	ASSERT_GT(id, 0);
	for (int i = 0; i < 3; i++)
		gsn_loop_run_once(L.l, 0);
	EXPECT_EQ(n, 3);
	gsn_loop_remove(L.l, id);
	gsn_loop_run_once(L.l, 0);
	EXPECT_EQ(n, 3);
}

void on_signal(gsn_loop *l, const signalfd_siginfo *si, void *arg)
{
	static_cast<std::vector<int> *>(arg)->push_back((int)si->ssi_signo);
	gsn_loop_stop(l);
}

TEST(LoopSignals, DeliveredThroughSignalfdAndMaskRestored)
{
	sigset_t before;
	sigprocmask(SIG_SETMASK, nullptr, &before);
	std::vector<int> got;
	{
		Loop L;
		const int sigs[] = {SIGUSR1, SIGUSR2};
		ASSERT_EQ(gsn_loop_signals(L.l, sigs, 2, on_signal, &got), 0);
		raise(SIGUSR2);
		ASSERT_EQ(gsn_loop_run(L.l), 0);
		EXPECT_EQ(got, (std::vector<int>{SIGUSR2}));
	}
	sigset_t after;
	sigprocmask(SIG_SETMASK, nullptr, &after);
	EXPECT_EQ(sigismember(&after, SIGUSR2), sigismember(&before, SIGUSR2));
}

void stop_timer(gsn_loop *l, gsn_timer *, void *)
{
	gsn_loop_stop(l);
}

TEST(LoopRun, StopFromATimerReturnsAndCanRunAgain)
{
	Loop L;
	gsn_timer t;
	gsn_timer_init(&t, stop_timer, nullptr);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(gsn_loop_timer_in(L.l, &t, 1000000, 0), 0);
		EXPECT_EQ(gsn_loop_run(L.l), 0);
		EXPECT_FALSE(gsn_loop_stopped(L.l));
	}
}

} // namespace
