// SPDX-License-Identifier: MIT
//
// fi_tagged_test.cc — tagged messages of the gsn provider: exact and
// ignore-mask matching, directed and any-source receives, unexpected
// messages (eager and rendezvous), FI_PEEK / FI_CLAIM / FI_DISCARD,
// fi_cancel, and selective completion as Open MPI's mtl ofi uses it.
#include "fi_ep_fixture.h"

using namespace gsnfi_test;

namespace {

class TaggedTest : public PairTest {
protected:
	void SetUp() override { open_pair(); }

	ssize_t tsend(const std::vector<uint8_t> &v, uint64_t tag, void *ctx = nullptr)
	{
		return fi_tsend(a.ep, v.data(), v.size(), nullptr, a_to_b, tag, ctx);
	}

	// Posts a trecvmsg with flags on b.
	ssize_t trecvmsg(void *buf, size_t len, uint64_t tag, uint64_t ignore, void *ctx,
			 uint64_t flags, fi_addr_t src = FI_ADDR_UNSPEC)
	{
		iovec iov = {buf, len};
		fi_msg_tagged m = {&iov, nullptr, (size_t)(buf ? 1 : 0), src, tag, ignore, ctx, 0};

		return fi_trecvmsg(b.ep, &m, flags);
	}

	// Waits until a's sends have all completed.
	void drain_tx(int n)
	{
		fi_cq_tagged_entry e;

		for (int i = 0; i < n; i++)
			ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	}
};

TEST_F(TaggedTest, ExactMatchPicksTheTag)
{
	std::vector<uint8_t> m1 = pattern(10, 1), m2 = pattern(20, 2);
	std::vector<uint8_t> r1(64), r2(64);
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_trecv(b.ep, r2.data(), r2.size(), nullptr, FI_ADDR_UNSPEC, 0x22, 0, &r2), 0);
	ASSERT_EQ(fi_trecv(b.ep, r1.data(), r1.size(), nullptr, FI_ADDR_UNSPEC, 0x11, 0, &r1), 0);
	ASSERT_EQ(tsend(m1, 0x11), 0);
	ASSERT_EQ(tsend(m2, 0x22), 0);
	drain_tx(2);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		EXPECT_EQ(e.flags & (FI_RECV | FI_TAGGED), FI_RECV | FI_TAGGED);
		if (e.op_context == &r1) {
			EXPECT_EQ(e.tag, 0x11u);
			EXPECT_EQ(e.len, 10u);
		} else {
			EXPECT_EQ(e.op_context, &r2);
			EXPECT_EQ(e.tag, 0x22u);
			EXPECT_EQ(e.len, 20u);
		}
	}
	EXPECT_TRUE(std::equal(m1.begin(), m1.end(), r1.begin()));
	EXPECT_TRUE(std::equal(m2.begin(), m2.end(), r2.begin()));
}

TEST_F(TaggedTest, IgnoreMask)
{
	std::vector<uint8_t> m = pattern(8, 3), r(8);
	fi_cq_tagged_entry e;

	// matches any tag whose low 16 bits are 0xbeef
	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 0xbeef,
			   0xffffffffffff0000ull, &r),
		  0);
	ASSERT_EQ(tsend(m, 0x1234567800000000ull | 0xbeef), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.tag, 0x1234567800000000ull | 0xbeef);
	EXPECT_EQ(r, m);
	// a tag differing in an unmasked bit does not match
	std::vector<uint8_t> r2(8);
	ASSERT_EQ(fi_trecv(b.ep, r2.data(), r2.size(), nullptr, FI_ADDR_UNSPEC, 0xbeef,
			   0xffffffffffff0000ull, &r2),
		  0);
	ASSERT_EQ(tsend(m, 0xbeee), 0);
	EXPECT_TRUE(cq_stays_empty(b.rxcq, 100));
	ASSERT_EQ(fi_cancel(&b.ep->fid, &r2), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), -FI_EAVAIL);
	drain_tx(2);
}

TEST_F(TaggedTest, UnexpectedEagerAndRendezvous)
{
	std::vector<uint8_t> small = pattern(100, 4), big = pattern(3 << 20, 5);
	std::vector<uint8_t> rs(100), rb(3 << 20);
	fi_cq_tagged_entry e;

	ASSERT_EQ(tsend(big, 7), 0);
	ASSERT_EQ(tsend(small, 8), 0);
	// the eager one completes without a receive; the rendezvous waits
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_TRUE(cq_stays_empty(a.txcq, 100));
	ASSERT_EQ(fi_trecv(b.ep, rs.data(), rs.size(), nullptr, FI_ADDR_UNSPEC, 8, 0, nullptr), 0);
	ASSERT_EQ(fi_trecv(b.ep, rb.data(), rb.size(), nullptr, FI_ADDR_UNSPEC, 7, 0, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_EQ(rs, small);
	EXPECT_EQ(rb, big);
}

TEST(TaggedDirectedTest, DirectedAndAnySource)
{
	Peer a, b, c;

	ASSERT_EQ(a.open(), 0);
	ASSERT_EQ(b.open(), 0);
	ASSERT_EQ(c.open(), 0);
	fi_addr_t a_to_b = a.insert(b), c_to_b = c.insert(b);
	fi_addr_t b_from_a = b.insert(a), b_from_c = b.insert(c);
	std::vector<uint8_t> ma = pattern(16, 1), mc = pattern(16, 2), r1(16), r2(16), r3(16);
	fi_cq_tagged_entry e;
	fi_addr_t src;

	// both send tag 5; a receive directed at c must take c's message
	ASSERT_EQ(fi_tsend(a.ep, ma.data(), 16, nullptr, a_to_b, 5, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	ASSERT_EQ(fi_tsend(c.ep, mc.data(), 16, nullptr, c_to_b, 5, nullptr), 0);
	ASSERT_EQ(wait_cq(c.txcq, &e), 1);
	ASSERT_EQ(fi_trecv(b.ep, r1.data(), 16, nullptr, b_from_c, 5, 0, &r1), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(e.op_context, &r1);
	EXPECT_EQ(src, b_from_c);
	EXPECT_EQ(r1, mc);
	// any source takes a's
	ASSERT_EQ(fi_trecv(b.ep, r2.data(), 16, nullptr, FI_ADDR_UNSPEC, 5, 0, &r2), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(src, b_from_a);
	EXPECT_EQ(r2, ma);
	// a posted receive directed at a ignores c's message
	ASSERT_EQ(fi_trecv(b.ep, r3.data(), 16, nullptr, b_from_a, 6, 0, &r3), 0);
	ASSERT_EQ(fi_tsend(c.ep, mc.data(), 16, nullptr, c_to_b, 6, nullptr), 0);
	ASSERT_EQ(wait_cq(c.txcq, &e), 1);
	EXPECT_TRUE(cq_stays_empty(b.rxcq, 100));
	ASSERT_EQ(fi_tsend(a.ep, ma.data(), 16, nullptr, a_to_b, 6, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(e.op_context, &r3);
	EXPECT_EQ(src, b_from_a);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
}

TEST_F(TaggedTest, PeekWithoutMatchIsEnomsg)
{
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;
	int ctx;

	ASSERT_EQ(trecvmsg(nullptr, 0, 99, 0, &ctx, FI_PEEK), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_ENOMSG);
	EXPECT_EQ(err.op_context, &ctx);
}

TEST_F(TaggedTest, PeekFindsAndLeavesTheMessage)
{
	std::vector<uint8_t> m = pattern(300, 6), r(300);
	iovec iov = {m.data(), m.size()};
	fi_msg_tagged sm = {&iov, nullptr, 1, a_to_b, 42, 0, nullptr, 0xabcdef};
	fi_cq_tagged_entry e;
	int ctx;

	ASSERT_EQ(fi_tsendmsg(a.ep, &sm, FI_REMOTE_CQ_DATA), 0);
	drain_tx(1);
	// the message is there once the send completed: a peek must see it
	ASSERT_EQ(trecvmsg(nullptr, 0, 42, 0, &ctx, FI_PEEK), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.op_context, &ctx);
	EXPECT_EQ(e.len, 300u);
	EXPECT_EQ(e.tag, 42u);
	EXPECT_EQ(e.data, 0xabcdefu);
	EXPECT_TRUE(e.flags & FI_REMOTE_CQ_DATA);
	// still there for a receive
	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 42, 0, &r), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.op_context, &r);
	EXPECT_EQ(r, m);
}

TEST_F(TaggedTest, PeekClaimThenClaim)
{
	for (size_t len : {(size_t)3000, (size_t)300000}) {
		std::vector<uint8_t> m = pattern(len, 7), r(len), other(len);
		fi_cq_tagged_entry e;
		fi_context ctx;

		ASSERT_EQ(tsend(m, 77), 0);
		if (len < eager_size())
			drain_tx(1);
		// the peek may run before a rendezvous's RTS arrived: retry
		for (;;) {
			fi_cq_err_entry err;

			ASSERT_EQ(trecvmsg(nullptr, 0, 77, 0, &ctx, FI_PEEK | FI_CLAIM), 0);
			int ret = wait_cq(b.rxcq, &e, &err);
			if (ret == 1)
				break;
			ASSERT_EQ(ret, -FI_EAVAIL);
			ASSERT_EQ(err.err, FI_ENOMSG);
		}
		EXPECT_EQ(e.len, len);
		// a plain receive for the same tag does not get the claimed message
		ASSERT_EQ(fi_trecv(b.ep, other.data(), len, nullptr, FI_ADDR_UNSPEC, 77, 0, &other),
			  0);
		EXPECT_TRUE(cq_stays_empty(b.rxcq, 50));
		ASSERT_EQ(trecvmsg(r.data(), len, 77, 0, &ctx, FI_CLAIM), 0);
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		EXPECT_EQ(e.op_context, &ctx);
		EXPECT_EQ(e.len, len);
		EXPECT_EQ(r, m);
		if (len >= eager_size())
			drain_tx(1);
		ASSERT_EQ(fi_cancel(&b.ep->fid, &other), 0);
		ASSERT_EQ(wait_cq(b.rxcq, &e), -FI_EAVAIL);
	}
}

TEST_F(TaggedTest, DiscardWithPeekAndWithClaim)
{
	std::vector<uint8_t> m = pattern(64, 8), big = pattern(eager_size() * 2, 9);
	fi_cq_tagged_entry e;
	fi_context c1, c2;

	ASSERT_EQ(tsend(m, 1), 0);
	drain_tx(1);
	ASSERT_EQ(trecvmsg(nullptr, 0, 1, 0, &c1, FI_PEEK | FI_DISCARD), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.op_context, &c1);
	// it is gone
	ASSERT_EQ(trecvmsg(nullptr, 0, 1, 0, &c1, FI_PEEK), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), -FI_EAVAIL);

	// a rendezvous message claimed then discarded: its sender completes
	ASSERT_EQ(tsend(big, 2), 0);
	for (;;) {
		ASSERT_EQ(trecvmsg(nullptr, 0, 2, 0, &c2, FI_PEEK | FI_CLAIM), 0);
		if (wait_cq(b.rxcq, &e) == 1)
			break;
	}
	ASSERT_EQ(trecvmsg(nullptr, 0, 2, 0, &c2, FI_CLAIM | FI_DISCARD), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.op_context, &c2);
	drain_tx(1);
}

TEST_F(TaggedTest, CancelPostedReceive)
{
	std::vector<uint8_t> r(32);
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;
	fi_context ctx;

	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 1234, 0, &ctx), 0);
	ASSERT_EQ(fi_cancel(&b.ep->fid, &ctx), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_ECANCELED);
	EXPECT_EQ(err.op_context, &ctx);
	EXPECT_EQ(err.olen, 0u);
	EXPECT_TRUE(err.flags & FI_RECV);
	// nothing to cancel any more
	EXPECT_EQ(fi_cancel(&b.ep->fid, &ctx), -FI_ENOENT);
	// the tag still works
	std::vector<uint8_t> m = pattern(32, 1);
	ASSERT_EQ(tsend(m, 1234), 0);
	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 1234, 0, &ctx), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(r, m);
	drain_tx(1);
}

TEST_F(TaggedTest, InjectAndInjectData)
{
	uint32_t v = 0xdeadbeef, r = 0, r2 = 0;
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_trecv(b.ep, &r, 4, nullptr, FI_ADDR_UNSPEC, 3, 0, nullptr), 0);
	ASSERT_EQ(fi_trecv(b.ep, &r2, 4, nullptr, FI_ADDR_UNSPEC, 4, 0, nullptr), 0);
	ASSERT_EQ(fi_tinject(a.ep, &v, 4, a_to_b, 3), 0);
	ASSERT_EQ(fi_tinjectdata(a.ep, &v, 4, 99, a_to_b, 4), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.tag, 3u);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.tag, 4u);
	EXPECT_EQ(e.data, 99u);
	EXPECT_EQ(r, v);
	EXPECT_EQ(r2, v);
	EXPECT_TRUE(cq_stays_empty(a.txcq, 50));
}

// As Open MPI's mtl ofi: CQs bound with FI_SELECTIVE_COMPLETION, FI_COMPLETION
// in the endpoint's op_flags; a tsendmsg without FI_COMPLETION stays silent.
TEST(TaggedSelectiveTest, OnlyOpsWithCompletionReport)
{
	Peer a, b;
	PeerOpts o;
	o.selective = true;
	o.tx_op_flags = FI_COMPLETION;
	o.rx_op_flags = FI_COMPLETION;
	ASSERT_EQ(a.open(o), 0);
	ASSERT_EQ(b.open(o), 0);
	ASSERT_TRUE(a.info->tx_attr->op_flags & FI_COMPLETION);
	fi_addr_t a_to_b = a.insert(b);
	std::vector<uint8_t> m = pattern(40, 1), r(40);
	fi_cq_tagged_entry e;
	iovec iov = {m.data(), m.size()};
	fi_msg_tagged sm = {&iov, nullptr, 1, a_to_b, 9, 0, &m, 0};

	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 9, 0, &r), 0);
	ASSERT_EQ(fi_tsendmsg(a.ep, &sm, 0), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_TRUE(cq_stays_empty(a.txcq, 100));
	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 9, 0, &r), 0);
	ASSERT_EQ(fi_tsend(a.ep, m.data(), m.size(), nullptr, a_to_b, 9, &m), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_EQ(e.op_context, &m);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
}

TEST_F(TaggedTest, ManyTagsOutOfOrderPosting)
{
	const int n = 200;
	std::vector<std::vector<uint8_t>> r(n, std::vector<uint8_t>(8));
	fi_cq_tagged_entry e;

	for (int i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i;
		std::vector<uint8_t> m(8);
		memcpy(m.data(), &v, 8);
		ASSERT_EQ(post_retry([&] { return tsend(m, (uint64_t)i); }, a.txcq), 0);
	}
	// receives posted in reverse tag order still each find their tag
	for (int i = n - 1; i >= 0; i--)
		ASSERT_EQ(fi_trecv(b.ep, r[i].data(), 8, nullptr, FI_ADDR_UNSPEC, (uint64_t)i, 0,
				   &r[i]),
			  0);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	for (int i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, r[i].data(), 8);
		EXPECT_EQ(v, (uint64_t)i);
	}
}

} // namespace
