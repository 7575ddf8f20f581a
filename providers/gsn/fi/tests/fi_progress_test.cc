// SPDX-License-Identifier: MIT
//
// fi_progress_test.cc — FI_PROGRESS_AUTO of the gsn provider (the domain's
// progress thread, fi_domain.c): while the application polls, the thread
// leaves the device CQs unarmed and only ticks; these tests check that
// progress never depends on the application's calls anyway.  The target
// first polls for a while (the thread then ticks), then
//   - stops calling the provider at all: a rendezvous into its posted
//     receive and an atomic on its memory must still complete;
//   - only posts (calls that do not progress): the same;
//   - blocks in fi_cq_sread: it must get its completion.
// Each peer is its own domain, so only the target's thread can progress it.
#include "fi_ep_fixture.h"

#include <algorithm>
#include <atomic>
#include <thread>

using namespace gsnfi_test;

namespace {

constexpr size_t kRndvLen = 256 * 1024; // well above any eager size
constexpr int kDoneMs = 10000;

// The target b polls its receive CQ for ms milliseconds while a small
// message from a arrives (its completion wakes b's progress thread, which
// then finds an application that polls and stops arming).
void target_polls(Peer &a, fi_addr_t a_to_b, Peer &b, int ms)
{
	auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
	static uint64_t got; // outlives a receive a failure leaves posted
	uint64_t ping = 0x70696e67;
	fi_cq_tagged_entry e;
	int seen = 0;

	got = 0;
	ASSERT_EQ(fi_recv(b.ep, &got, sizeof(got), nullptr, FI_ADDR_UNSPEC, &got), 0);
	ASSERT_EQ(fi_inject(a.ep, &ping, sizeof(ping), a_to_b), 0);
	while (std::chrono::steady_clock::now() < until || !seen) {
		ssize_t n = fi_cq_read(b.rxcq, &e, 1);

		ASSERT_TRUE(n == 1 || n == -FI_EAGAIN) << fi_strerror((int)-n);
		if (n == 1) {
			ASSERT_EQ(e.op_context, &got);
			seen++;
		}
		ASSERT_EQ(fi_cq_read(a.txcq, &e, 1), -FI_EAGAIN); // a's side of the inject
	}
	ASSERT_EQ(seen, 1);
	ASSERT_EQ(got, ping);
}

class ProgressTest : public PairTest {
protected:
	alignas(8) uint64_t word = 0;
	uint64_t word_key = 0;
	uint64_t one = 1, two = 2, old = 0; // fetch-add operands and result
	std::vector<uint8_t> src = pattern(kRndvLen, 7);
	std::vector<uint8_t> dst = std::vector<uint8_t>(kRndvLen, 0);

	// Operations may still be out after a failure: the endpoints go first.
	void TearDown() override
	{
		a.close();
		b.close();
	}

	void SetUp() override
	{
		open_pair();
		fid_mr *mr = b.reg(&word, sizeof(word), FI_REMOTE_WRITE | FI_REMOTE_READ);
		ASSERT_NE(mr, nullptr);
		word_key = fi_mr_key(mr);
		// connect first: the connection manager needs the target's
		// progress too, but the subject here is the data path
		fi_cq_tagged_entry e;
		ASSERT_EQ(fi_fetch_atomic(a.ep, &one, 1, nullptr, &old, nullptr, a_to_b,
					  (uint64_t)(uintptr_t)&word, word_key, FI_UINT64, FI_SUM,
					  nullptr),
			  0);
		ASSERT_EQ(wait_cq(a.txcq, &e, nullptr, kDoneMs), 1);
		ASSERT_EQ(word, 1u);
	}

	// a's rendezvous send into b's posted receive and a fetch-add on b's
	// word; a polls its own CQ only.  While the_target_meanwhile runs
	// between a's polls, b must progress without help.
	template <typename F> void initiator_needs_the_target(F &&the_target_meanwhile)
	{
		fi_cq_tagged_entry e;
		int done = 0;
		auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDoneMs);

		ASSERT_EQ(fi_send(a.ep, src.data(), src.size(), nullptr, a_to_b, &src), 0);
		ASSERT_EQ(fi_fetch_atomic(a.ep, &two, 1, nullptr, &old, nullptr, a_to_b,
					  (uint64_t)(uintptr_t)&word, word_key, FI_UINT64, FI_SUM,
					  &old),
			  0);
		while (done < 2 && std::chrono::steady_clock::now() < deadline) {
			ssize_t n = fi_cq_read(a.txcq, &e, 1);

			ASSERT_TRUE(n == 1 || n == -FI_EAGAIN) << fi_strerror((int)-n);
			done += n == 1;
			the_target_meanwhile();
		}
		ASSERT_EQ(done, 2) << "the target's provider made no progress on its own";
		EXPECT_EQ(old, 1u);
		EXPECT_EQ(word, 3u);
	}

	// Only now does b look: the message is in (cancelled receives report
	// FI_ECANCELED around it).
	void target_received()
	{
		fi_cq_tagged_entry e;
		fi_cq_err_entry err;
		int ret;

		while ((ret = wait_cq(b.rxcq, &e, &err, kDoneMs)) == -FI_EAVAIL)
			ASSERT_EQ(err.err, FI_ECANCELED);
		ASSERT_EQ(ret, 1);
		EXPECT_EQ(e.op_context, &dst);
		EXPECT_EQ(e.len, kRndvLen);
		EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin()));
	}
};

TEST_F(ProgressTest, TargetIdleAfterPolling)
{
	target_polls(a, a_to_b, b, 50);
	ASSERT_EQ(fi_recv(b.ep, dst.data(), dst.size(), nullptr, FI_ADDR_UNSPEC, &dst), 0);
	// from here on b's application calls nothing
	initiator_needs_the_target([] {});
	target_received();
}

TEST_F(ProgressTest, TargetOnlyPosts)
{
	target_polls(a, a_to_b, b, 50);
	ASSERT_EQ(fi_recv(b.ep, dst.data(), dst.size(), nullptr, FI_ADDR_UNSPEC, &dst), 0);
	// b keeps calling the provider, but never a call that progresses:
	// tagged receives nobody sends to (far fewer than rx_attr->size, so
	// none finds the queue full), then fi_cq_readerr on nothing
	std::vector<int> tag_ctx(256);
	size_t posted = 0;
	initiator_needs_the_target([&] {
		fi_cq_err_entry err = {};

		if (posted < tag_ctx.size()) {
			ASSERT_EQ(fi_trecv(b.ep, nullptr, 0, nullptr, FI_ADDR_UNSPEC, 0xdead, 0,
					   &tag_ctx[posted]),
				  0);
			posted++;
		} else {
			ASSERT_EQ(fi_cq_readerr(b.rxcq, &err, 0), -FI_EAGAIN);
		}
	});
	for (size_t i = 0; i < posted; i++)
		ASSERT_EQ(fi_cancel(&b.ep->fid, &tag_ctx[i]), 0);
	target_received();
}

TEST(ProgressBlockingTest, SreadAfterPollingGetsItsCompletion)
{
	// the buffers outlive the peers (a failure may leave operations out)
	std::vector<uint8_t> src = pattern(kRndvLen, 9), dst(kRndvLen, 0);
	Peer a, b;
	PeerOpts ob;
	ob.cq_wait = FI_WAIT_UNSPEC;
	ASSERT_EQ(a.open(), 0);
	ASSERT_EQ(b.open(ob), 0);
	fi_addr_t a_to_b = a.insert(b);
	ASSERT_NE(a_to_b, FI_ADDR_NOTAVAIL);
	fi_cq_tagged_entry e;

	for (int round = 0; round < 3; round++) {
		std::atomic<ssize_t> got{0};
		fi_cq_tagged_entry be = {};

		std::fill(dst.begin(), dst.end(), 0);
		target_polls(a, a_to_b, b, 20);
		ASSERT_EQ(fi_recv(b.ep, dst.data(), dst.size(), nullptr, FI_ADDR_UNSPEC, &dst), 0);
		std::thread waiter([&] { got = fi_cq_sread(b.rxcq, &be, 1, nullptr, kDoneMs); });
		// not fatal: the waiter is joined either way
		EXPECT_EQ(fi_send(a.ep, src.data(), src.size(), nullptr, a_to_b, &src), 0);
		EXPECT_EQ(wait_cq(a.txcq, &e, nullptr, kDoneMs), 1);
		waiter.join();
		ASSERT_EQ(got.load(), 1) << "round " << round;
		EXPECT_EQ(be.op_context, &dst);
		EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin()));
	}
}

} // namespace
