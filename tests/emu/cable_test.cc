// SPDX-License-Identifier: MIT
// Cable ends: spec parsing, UDP pair and shared-memory pair moving frames
// both ways byte-exact, ring full, need-wakeup doorbells, two processes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "cable.h"
#include "loop.h"
}

namespace {

using Frame = std::vector<uint8_t>;

struct Sink {
	std::vector<Frame> got;
	static void rx(void *arg, const uint8_t *f, size_t len)
	{
		static_cast<Sink *>(arg)->got.emplace_back(f, f + len);
	}
};

Frame pattern(size_t len, unsigned seed)
{
	Frame f(len);
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
	return f;
}

bool run_until(gsn_loop *l, const std::function<bool()> &done, uint64_t ms = 3000)
{
	uint64_t end = gsn_clock_ns() + ms * 1000000;
	while (!done()) {
		if (gsn_clock_ns() > end)
			return false;
		gsn_loop_run_once(l, 10000000);
	}
	return true;
}

bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

TEST(CableSpec, ParsesAndFormats)
{
	gsn_cable_spec s;
	char buf[GSN_CABLE_SPEC_MAX];

	ASSERT_EQ(gsn_cable_spec_parse("udp-fd:7", &s), 0);
	EXPECT_EQ(s.type, GSN_CABLE_SPEC_UDP_FD);
	EXPECT_EQ(s.fd, 7);
	ASSERT_EQ(gsn_cable_spec_format(&s, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "udp-fd:7");

	ASSERT_EQ(gsn_cable_spec_parse("udp:127.0.0.1:4000=10.1.2.3:65535", &s), 0);
	EXPECT_EQ(s.type, GSN_CABLE_SPEC_UDP);
	EXPECT_EQ(ntohs(s.local.sin_port), 4000);
	EXPECT_EQ(ntohs(s.remote.sin_port), 65535);
	EXPECT_EQ(ntohl(s.remote.sin_addr.s_addr), 0x0a010203u);
	ASSERT_EQ(gsn_cable_spec_format(&s, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "udp:127.0.0.1:4000=10.1.2.3:65535");

	ASSERT_EQ(gsn_cable_spec_parse("shm-fd:3,1,4,5", &s), 0);
	EXPECT_EQ(s.type, GSN_CABLE_SPEC_SHM_FD);
	EXPECT_EQ(s.memfd, 3);
	EXPECT_EQ(s.side, 1);
	EXPECT_EQ(s.evfd_mine, 4);
	EXPECT_EQ(s.evfd_peer, 5);
	EXPECT_EQ(s.spin_ns, 0u);
	ASSERT_EQ(gsn_cable_spec_parse("shm-fd:3,0,4,5,spin=2000", &s), 0);
	EXPECT_EQ(s.spin_ns, 2000u);
	ASSERT_EQ(gsn_cable_spec_format(&s, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "shm-fd:3,0,4,5,spin=2000");

	for (const char *bad : {"", "udp-fd:", "udp-fd:-1", "udp-fd:1x", "udp-fd:99999999999",
				"udp:1.2.3.4:5", "udp:1.2.3.4=5.6.7.8:9", "udp:1.2.3:4=5.6.7.8:9",
				"udp:1.2.3.4:65536=5.6.7.8:9", "shm-fd:1,2,3,4", "shm-fd:1,0,3",
				"shm-fd:1,0,3,4,", "shm-fd:1,0,3,4,spin=", "shm-fd:1,0,3,4,x=1",
				"shm-fd:1,0,3,4,spin=1,spin=2", "tcp:1", "shm:1,0,3,4"})
		EXPECT_EQ(gsn_cable_spec_parse(bad, &s), -EINVAL) << bad;
	std::string longs(GSN_CABLE_SPEC_MAX + 1, '1');
	EXPECT_EQ(gsn_cable_spec_parse(("udp-fd:" + longs).c_str(), &s), -EINVAL);
}

struct Pair {
	gsn_loop *loop = nullptr;
	gsn_cable *end[2] = {nullptr, nullptr};
	Sink sink[2];
	Pair() { EXPECT_EQ(gsn_loop_new(&loop, nullptr), 0); }
	~Pair()
	{
		gsn_cable_close(end[0]);
		gsn_cable_close(end[1]);
		gsn_loop_free(loop);
	}
	void wire()
	{
		for (int i = 0; i < 2; i++)
			gsn_cable_set_rx(end[i], Sink::rx, &sink[i]);
	}
	void exchange(const std::vector<size_t> &sizes)
	{
		std::vector<Frame> sent[2];
		for (size_t k = 0; k < sizes.size(); k++)
			for (int i = 0; i < 2; i++) {
				Frame f = pattern(sizes[k], (unsigned)(k * 2 + i));
				ASSERT_EQ(gsn_cable_send(end[i], f.data(), f.size()), 0);
				sent[i].push_back(f);
			}
		ASSERT_TRUE(run_until(loop, [&] {
			return sink[0].got.size() >= sizes.size() && sink[1].got.size() >= sizes.size();
		}));
		EXPECT_EQ(sink[1].got, sent[0]);
		EXPECT_EQ(sink[0].got, sent[1]);
		for (int i = 0; i < 2; i++) {
			EXPECT_EQ(end[i]->stats.frames_out, sizes.size());
			EXPECT_EQ(end[i]->stats.frames_in, sizes.size());
		}
	}
};

std::string udp_fd_spec(int fd)
{
	return "udp-fd:" + std::to_string(fd);
}

TEST(CableUdp, PairMovesFramesBothWaysByteExact)
{
	Pair p;
	int fds[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(fds), 0);
	EXPECT_TRUE(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(gsn_cable_open(p.loop, udp_fd_spec(fds[i]).c_str(), nullptr, &p.end[i]), 0);
	p.wire();
	EXPECT_EQ(p.end[0]->mtu, GSN_CABLE_UDP_MTU);
	p.exchange({24, 64, 1, 1000, 24 + 40 * 255, GSN_CABLE_UDP_MTU, 0});
	Frame big(GSN_CABLE_UDP_MTU + 1);
	EXPECT_EQ(gsn_cable_send(p.end[0], big.data(), big.size()), -EMSGSIZE);
}

TEST(CableUdp, AddressSpec)
{
	// two free ports from the kernel
	int probe[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(probe), 0);
	sockaddr_in sa[2];
	for (int i = 0; i < 2; i++) {
		socklen_t l = sizeof(sa[i]);
		ASSERT_EQ(getsockname(probe[i], (sockaddr *)&sa[i], &l), 0);
		close(probe[i]);
	}
	Pair p;
	for (int i = 0; i < 2; i++) {
		std::string spec = "udp:127.0.0.1:" + std::to_string(ntohs(sa[i].sin_port)) +
				   "=127.0.0.1:" + std::to_string(ntohs(sa[1 - i].sin_port));
		ASSERT_EQ(gsn_cable_open(p.loop, spec.c_str(), nullptr, &p.end[i]), 0) << spec;
	}
	p.wire();
	p.exchange({24, 4000});
}

TEST(CableUdp, RejectsAnFdThatIsNotAConnectedDatagramSocket)
{
	gsn_loop *loop;
	ASSERT_EQ(gsn_loop_new(&loop, nullptr), 0);
	gsn_cable *c = nullptr;
	int s = socket(AF_INET, SOCK_DGRAM, 0); // not connected
	ASSERT_GE(s, 0);
	EXPECT_EQ(gsn_cable_open(loop, udp_fd_spec(s).c_str(), nullptr, &c), -ENOTCONN);
	EXPECT_FALSE(fd_open(s)); // ownership: closed on failure
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	EXPECT_EQ(gsn_cable_open(loop, udp_fd_spec(p[0]).c_str(), nullptr, &c), -ENOTSOCK);
	close(p[1]);
	gsn_loop_free(loop);
}

TEST(CableUdp, DeadPeerIsALostFrameNotAnError)
{
	Pair p;
	int fds[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(fds), 0);
	ASSERT_EQ(gsn_cable_open(p.loop, udp_fd_spec(fds[0]).c_str(), nullptr, &p.end[0]), 0);
	close(fds[1]);
	gsn_cable_set_rx(p.end[0], Sink::rx, &p.sink[0]);
	Frame f = pattern(100, 1);
	for (int i = 0; i < 5; i++) {
		EXPECT_EQ(gsn_cable_send(p.end[0], f.data(), f.size()), 0);
		gsn_loop_run_once(p.loop, 1000000);
	}
	EXPECT_GT(p.end[0]->stats.send_errors + p.end[0]->stats.rx_errors, 0u);
}

// ---- shared memory ----

struct ShmPair : Pair {
	gsn_cable_shm_pair fds;
	explicit ShmPair(unsigned nslots = 0, size_t slot = 0, uint64_t spin1 = 0)
	{
		EXPECT_EQ(gsn_cable_shm_create_pair(&fds, nslots, slot), 0);
		// Both ends in one process: each takes its own copies of the fds.
		for (int side = 0; side < 2; side++) {
			gsn_cable_spec s{};
			s.type = GSN_CABLE_SPEC_SHM_FD;
			s.memfd = dup(fds.memfd);
			s.side = side;
			s.evfd_mine = dup(fds.evfd[side]);
			s.evfd_peer = dup(fds.evfd[1 - side]);
			s.spin_ns = side == 1 ? spin1 : 0;
			EXPECT_EQ(gsn_cable_open_spec(loop, &s, nullptr, &end[side]), 0);
		}
		gsn_cable_shm_pair_close(&fds);
		wire();
	}
};

TEST(CableShm, PairMovesFramesBothWaysByteExact)
{
	ShmPair p;
	EXPECT_EQ(p.end[0]->mtu, GSN_CABLE_FRAME_MAX);
	p.exchange({24, 64, 1, 1000, 24 + 40 * 255, GSN_CABLE_FRAME_MAX, 0});
	Frame big(GSN_CABLE_FRAME_MAX + 1);
	EXPECT_EQ(gsn_cable_send(p.end[0], big.data(), big.size()), -EMSGSIZE);
}

TEST(CableShm, LongRunWrapsTheIndices)
{
	ShmPair p(8, 256);
	size_t sent = 0;
	for (int round = 0; round < 300; round++) {
		for (int k = 0; k < 5; k++) {
			Frame f = pattern(24 + (sent % 200), (unsigned)sent);
			ASSERT_EQ(gsn_cable_send(p.end[0], f.data(), f.size()), 0);
			sent++;
		}
		ASSERT_TRUE(run_until(p.loop, [&] { return p.sink[1].got.size() == sent; }));
	}
	for (size_t i = 0; i < sent; i++)
		ASSERT_EQ(p.sink[1].got[i], pattern(24 + (i % 200), (unsigned)i)) << i;
}

TEST(CableShm, RingFullReturnsEagain)
{
	ShmPair p(4, 128);
	Frame f = pattern(100, 3);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(gsn_cable_send(p.end[0], f.data(), f.size()), 0);
	EXPECT_EQ(gsn_cable_send(p.end[0], f.data(), f.size()), -EAGAIN);
	EXPECT_EQ(p.end[0]->stats.send_full, 1u);
	EXPECT_EQ(p.end[0]->stats.frames_out, 4u);
	Frame big(129);
	EXPECT_EQ(gsn_cable_send(p.end[0], big.data(), big.size()), -EMSGSIZE);
	ASSERT_TRUE(run_until(p.loop, [&] { return p.sink[1].got.size() == 4; }));
	EXPECT_EQ(gsn_cable_send(p.end[0], f.data(), f.size()), 0);
	ASSERT_TRUE(run_until(p.loop, [&] { return p.sink[1].got.size() == 5; }));
	// the other direction was never full
	EXPECT_EQ(gsn_cable_send(p.end[1], f.data(), f.size()), 0);
}

// Need-wakeup: each end on its own loop so each side's state is controlled.
struct SplitShm {
	gsn_loop *loop[2] = {nullptr, nullptr};
	gsn_cable *end[2] = {nullptr, nullptr};
	Sink sink[2];
	SplitShm(uint64_t spin1)
	{
		gsn_cable_shm_pair fds;
		EXPECT_EQ(gsn_cable_shm_create_pair(&fds, 16, 256), 0);
		for (int side = 0; side < 2; side++) {
			EXPECT_EQ(gsn_loop_new(&loop[side], nullptr), 0);
			gsn_cable_spec s{};
			s.type = GSN_CABLE_SPEC_SHM_FD;
			s.memfd = dup(fds.memfd);
			s.side = side;
			s.evfd_mine = dup(fds.evfd[side]);
			s.evfd_peer = dup(fds.evfd[1 - side]);
			s.spin_ns = side == 1 ? spin1 : 0;
			EXPECT_EQ(gsn_cable_open_spec(loop[side], &s, nullptr, &end[side]), 0);
			gsn_cable_set_rx(end[side], Sink::rx, &sink[side]);
		}
		gsn_cable_shm_pair_close(&fds);
	}
	~SplitShm()
	{
		for (int i = 0; i < 2; i++) {
			gsn_cable_close(end[i]);
			gsn_loop_free(loop[i]);
		}
	}
};

TEST(CableShm, SleepingConsumerGetsOneKickPerBurst)
{
	SplitShm s(0);
	gsn_loop_run_once(s.loop[1], 0); // consumer finds nothing and goes to sleep
	Frame f = pattern(64, 1);
	ASSERT_EQ(gsn_cable_send(s.end[0], f.data(), f.size()), 0);
	EXPECT_EQ(s.end[0]->stats.kicks_sent, 1u);
	ASSERT_EQ(gsn_cable_send(s.end[0], f.data(), f.size()), 0);
	ASSERT_EQ(gsn_cable_send(s.end[0], f.data(), f.size()), 0);
	EXPECT_EQ(s.end[0]->stats.kicks_sent, 1u); // the flag was consumed by the first
	// the consumer sleeps in epoll and is woken by the eventfd
	gsn_loop_run_once(s.loop[1], 1000000000);
	EXPECT_EQ(s.sink[1].got.size(), 3u);
	EXPECT_EQ(s.end[1]->stats.wakeups, 1u);
	// asleep again: the next frame kicks again
	ASSERT_EQ(gsn_cable_send(s.end[0], f.data(), f.size()), 0);
	EXPECT_EQ(s.end[0]->stats.kicks_sent, 2u);
	gsn_loop_run_once(s.loop[1], 1000000000);
	EXPECT_EQ(s.sink[1].got.size(), 4u);
}

TEST(CableShm, AwakeConsumerGetsNoKicks)
{
	SplitShm s(10ull * 1000000000); // spins 10 s after activity: stays awake
	gsn_loop_run_once(s.loop[1], 0);
	Frame f = pattern(64, 2);
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(gsn_cable_send(s.end[0], f.data(), f.size()), 0);
		if (i % 8 == 7)
			gsn_loop_run_once(s.loop[1], 0); // polled, not woken
	}
	gsn_loop_run_once(s.loop[1], 0);
	EXPECT_EQ(s.end[0]->stats.kicks_sent, 0u);
	EXPECT_EQ(s.end[1]->stats.wakeups, 0u);
	EXPECT_EQ(s.sink[1].got.size(), 100u);
}

TEST(CableShm, RejectsABadMemfdAndClosesTheFds)
{
	gsn_loop *loop;
	ASSERT_EQ(gsn_loop_new(&loop, nullptr), 0);
	int mfd = memfd_create("junk", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(ftruncate(mfd, 1 << 16), 0);
	ASSERT_EQ(pwrite(mfd, "nonsense", 8, 0), 8);
	int p[2];
	ASSERT_EQ(pipe(p), 0);
	gsn_cable_spec s{};
	s.type = GSN_CABLE_SPEC_SHM_FD;
	s.memfd = mfd;
	s.side = 0;
	s.evfd_mine = p[0];
	s.evfd_peer = p[1];
	gsn_cable *c = nullptr;
	EXPECT_EQ(gsn_cable_open_spec(loop, &s, nullptr, &c), -EINVAL);
	EXPECT_FALSE(fd_open(mfd));
	EXPECT_FALSE(fd_open(p[0]));
	EXPECT_FALSE(fd_open(p[1]));
	gsn_cable_shm_pair pr;
	EXPECT_EQ(gsn_cable_shm_create_pair(&pr, 3, 0), -EINVAL); // not a power of two
	EXPECT_EQ(gsn_cable_shm_create_pair(&pr, 4, 8), -EINVAL); // slot too small
	EXPECT_EQ(gsn_cable_shm_create_pair(&pr, 4, GSN_CABLE_FRAME_MAX + 1), -EINVAL);
	gsn_loop_free(loop);
}

// Child: echoes every frame back until it receives a 1-byte frame.
[[noreturn]] void echo_child(const gsn_cable_shm_pair &fds)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(60);
	gsn_loop *loop;
	gsn_cable *c;
	if (gsn_loop_new(&loop, nullptr))
		_exit(2);
	char spec[64];
	snprintf(spec, sizeof(spec), "shm-fd:%d,1,%d,%d", fds.memfd, fds.evfd[1], fds.evfd[0]);
	if (gsn_cable_open(loop, spec, nullptr, &c))
		_exit(3);
	struct Echo {
		gsn_cable *c;
		std::deque<Frame> q;
		bool done = false;
	} e{c, {}, false};
	gsn_cable_set_rx(
		c,
		[](void *arg, const uint8_t *f, size_t len) {
			auto *e = static_cast<Echo *>(arg);
			if (len == 1)
				e->done = true;
			else
				e->q.emplace_back(f, f + len);
		},
		&e);
	while (!e.done || !e.q.empty()) {
		while (!e.q.empty() && gsn_cable_send(c, e.q.front().data(), e.q.front().size()) == 0)
			e.q.pop_front();
		gsn_loop_run_once(loop, e.q.empty() ? 100000000 : 100000);
	}
	gsn_cable_close(c);
	gsn_loop_free(loop);
	_exit(0);
}

TEST(CableShm, TwoProcessesExchangeTenThousandFrames)
{
	gsn_cable_shm_pair fds;
	ASSERT_EQ(gsn_cable_shm_create_pair(&fds, 32, 2048), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		echo_child(fds);
	gsn_loop *loop;
	ASSERT_EQ(gsn_loop_new(&loop, nullptr), 0);
	char spec[64];
	snprintf(spec, sizeof(spec), "shm-fd:%d,0,%d,%d", fds.memfd, fds.evfd[0], fds.evfd[1]);
	gsn_cable *c;
	ASSERT_EQ(gsn_cable_open(loop, spec, nullptr, &c), 0);
	Sink sink;
	gsn_cable_set_rx(c, Sink::rx, &sink);
	const size_t N = 10000;
	size_t next = 0;
	uint64_t end = gsn_clock_ns() + 30ull * 1000000000;
	while (sink.got.size() < N && gsn_clock_ns() < end) {
		while (next < N) {
			Frame f = pattern(24 + 40 * (next % 50), (unsigned)next);
			if (gsn_cable_send(c, f.data(), f.size()) != 0)
				break;
			next++;
		}
		gsn_loop_run_once(loop, next < N ? 100000 : 100000000);
	}
	uint8_t stop = 0;
	while (gsn_cable_send(c, &stop, 1) == -EAGAIN)
		gsn_loop_run_once(loop, 1000000);
	ASSERT_EQ(sink.got.size(), N);
	for (size_t i = 0; i < N; i++)
		ASSERT_EQ(sink.got[i], pattern(24 + 40 * (i % 50), (unsigned)i)) << i;
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
	gsn_cable_close(c);
	gsn_loop_free(loop);
}

} // namespace
