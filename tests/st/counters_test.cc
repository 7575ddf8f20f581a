// SPDX-License-Identifier: MIT
// st_get_counters: per-VC and global counters agree with what went on the wire.
#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;

void ExpectOpsMatchTap(Net &net, const TapLog &log, int ep, int peer, uint16_t vc = 0)
{
	st_counters c = net.Counters(ep, vc);
	for (unsigned op = 0; op < ST_OP_COUNT; op++) {
		EXPECT_EQ(log.Count((int)op, ep, peer), c.ops_sent[op])
			<< EpName(ep) << " ops_sent[" << OpShort(op) << "]\n" << log.Trace();
		EXPECT_EQ(log.Count((int)op, peer, ep), c.ops_received[op])
			<< EpName(ep) << " ops_received[" << OpShort(op) << "]\n" << log.Trace();
	}
}

::testing::AssertionResult SumEquals(const st_counters &global, const std::vector<st_counters> &vcs)
{
	st_counters s{};
	for (const auto &c : vcs) {
		for (unsigned op = 0; op < ST_OP_COUNT; op++) {
			s.ops_sent[op] += c.ops_sent[op];
			s.ops_received[op] += c.ops_received[op];
		}
		for (int d = 0; d < ST_DROP_REASONS; d++)
			s.drops[d] += c.drops[d];
		s.bytes_sent += c.bytes_sent;
		s.bytes_received += c.bytes_received;
		s.rejects_sent += c.rejects_sent;
		s.rejects_received += c.rejects_received;
		s.retransmits += c.retransmits;
		s.timeouts += c.timeouts;
		s.send_failures += c.send_failures;
		s.slot_waits += c.slot_waits;
	}
#define CMP(field, name)                                                                       \
	if (global.field != s.field)                                                           \
		return ::testing::AssertionFailure() << name << ": global " << global.field        \
						     << " != sum over VCs " << s.field;
	for (unsigned op = 0; op < ST_OP_COUNT; op++) {
		CMP(ops_sent[op], std::string("ops_sent[") + OpShort(op) + "]");
		CMP(ops_received[op], std::string("ops_received[") + OpShort(op) + "]");
	}
	for (int d = 0; d < ST_DROP_REASONS; d++)
		CMP(drops[d], "drops[" + std::to_string(d) + "]");
	CMP(bytes_sent, "bytes_sent");
	CMP(bytes_received, "bytes_received");
	CMP(rejects_sent, "rejects_sent");
	CMP(rejects_received, "rejects_received");
	CMP(retransmits, "retransmits");
	CMP(timeouts, "timeouts");
	CMP(send_failures, "send_failures");
	CMP(slot_waits, "slot_waits");
#undef CMP
	return ::testing::AssertionSuccess();
}

TEST(CountersTest, OpsByOpcodeMatchTapForConnectAndDisconnect)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	ExpectOpsMatchTap(net, *log, 0, 1);
	ExpectOpsMatchTap(net, *log, 1, 0);
	ExpectOpsMatchTap(net, *log, 0, 1, vp.a);
	ExpectOpsMatchTap(net, *log, 1, 0, vp.b);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	ExpectOpsMatchTap(net, *log, 0, 1);
	ExpectOpsMatchTap(net, *log, 1, 0);
	EXPECT_EQ(1u, net.Counters(0).ops_sent[ST_OP_REQUEST_CONNECTION]);
	EXPECT_EQ(1u, net.Counters(0).ops_sent[ST_OP_DISCONNECT_COMPLETE]);
}

TEST(CountersTest, OpsMatchTapUnderLossAndDuplication)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);  // above the faults: counts what was sent
	net.AddLayer<Drop>(0, 1, Drop::Nth(3));
	net.AddLayer<Duplicate>(1, 0, Duplicate::Options{2, 0.0, 1, Match{}, UINT64_MAX});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	for (uint64_t ctx = 1; ctx <= 5; ctx++) {
		ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, ctx));
		net.WaitEvent(0, ST_EV_STATE, ctx);
	}
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	st_counters a = net.Counters(0);
	for (unsigned op = 0; op < ST_OP_COUNT; op++)
		EXPECT_EQ(log->Count((int)op, 0, 1), a.ops_sent[op]) << OpShort(op) << "\n" << log->Trace();
	EXPECT_GT(a.retransmits, 0u);
}

TEST(CountersTest, GlobalIsSumOverOpenVcs)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 1)
			c->slots = 1;
	});
	std::vector<VcPair> vcs;
	for (int i = 0; i < 3; i++) {
		ConnectOptions o;
		o.user_ctx = 10 + i;
		vcs.push_back(net.Connect(0, 1, o));
		ASSERT_TRUE(vcs.back().ok());
	}
	uint64_t ctx = 100;
	for (size_t i = 0; i < vcs.size(); i++) {
		for (size_t k = 0; k <= i; k++) {
			ASSERT_EQ(0, st_request_state(net.eng(0), vcs[i].a, ctx++));
			ASSERT_EQ(0, st_region_request(net.eng(0), vcs[i].a, 0xBAD0 + k, ctx++));
		}
	}
	ASSERT_EQ(0, st_set_slots(net.eng(0), vcs[1].a, 9));
	net.RunUntilIdle();
	std::vector<st_counters> a, b;
	for (const auto &vp : vcs) {
		a.push_back(net.Counters(0, vp.a));
		b.push_back(net.Counters(1, vp.b));
	}
	EXPECT_TRUE(SumEquals(net.Counters(0), a));
	EXPECT_TRUE(SumEquals(net.Counters(1), b));
	EXPECT_GT(net.Counters(0).slot_waits, 0u);
	EXPECT_EQ(6u, net.Counters(1).rejects_sent);
}

TEST(CountersTest, GlobalKeepsCountsOfClosedVcs)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 1));
	net.WaitEvent(0, ST_EV_STATE, 1);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	st_counters c{};
	EXPECT_EQ(-ENOENT, st_get_counters(net.eng(0), vp.a, &c));
	st_counters g = net.Counters(0);
	EXPECT_EQ(1u, g.ops_sent[ST_OP_REQUEST_STATE]);
	EXPECT_EQ(1u, g.ops_received[ST_OP_REQUEST_STATE_RESPONSE]);
	EXPECT_EQ(1u, g.ops_sent[ST_OP_REQUEST_DISCONNECT]);
	EXPECT_EQ(1u, net.Counters(1).ops_received[ST_OP_REQUEST_DISCONNECT]);
}

TEST(CountersTest, RejectsCountedOnBothSides)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, 0xBAD, 1));
	net.WaitEvent(0, ST_EV_REGION_EXPOSED, 1);
	EXPECT_EQ(1u, net.Counters(1, vp.b).rejects_sent);
	EXPECT_EQ(1u, net.Counters(1).rejects_sent);
	EXPECT_EQ(1u, net.Counters(0, vp.a).rejects_received);
	EXPECT_EQ(1u, net.Counters(0).rejects_received);
	EXPECT_EQ(0u, net.Counters(0).rejects_sent);
}

TEST(CountersTest, PayloadBytesCountedForSend)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	Region *src = net.AddRegion(0, 10000, kAll);
	Region *dst = net.AddRegion(1, 10000, kAll);
	Net::FillPattern(src, 4);
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, dst->mx, 0, 10000, 2));
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, 9000, false, 0, 1));
	st_event e = net.WaitCompletion(0, 1, ST_REQ_SEND);
	EXPECT_EQ(ST_OK, e.status);
	net.RunUntilIdle();
	uint64_t wire = 0;
	for (const auto &r : log->Filter(-1, 0, 1))
		wire += r.payload_len;
	EXPECT_EQ(9000u, wire) << log->Trace();
	EXPECT_EQ(9000u, net.Counters(0).bytes_sent);
	EXPECT_EQ(9000u, net.Counters(1).bytes_received);
	EXPECT_EQ(9000u, net.Counters(0, vp.a).bytes_sent);
	EXPECT_TRUE(BytesEqual(src->bytes.data(), dst->bytes.data(), 9000));
}

TEST(CountersTest, DropsWithoutVcCountedOnlyGlobally)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	uint8_t src[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp.b, ST_OP_REQUEST_STATE, src);
	h.d_key ^= 0x55;
	EXPECT_LT(net.Inject(1, src, 0, h), 0);
	EXPECT_EQ(1u, net.Counters(1).drops[ST_DROP_NO_VC]);
	st_counters v = net.Counters(1, vp.b);
	for (int d = 0; d < ST_DROP_REASONS; d++)
		EXPECT_EQ(0u, v.drops[d]) << st_drop_str(d);
	EXPECT_EQ(0u, net.Counters(1).ops_received[ST_OP_REQUEST_STATE]) << "dropped ops are not received";
}

TEST(CountersTest, OpsReceivedExcludesOpsDroppedByOperationChecks)
{
	// ops_received counts operations "accepted by validation"; a PUT that the
	// per-operation checks drop (Mx never exposed) is counted as a drop only.
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *hidden = net.AddRegion(1, 4096, kAll);
	uint8_t src[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp.b, ST_OP_DATA, src);
	h.flags = ST_FLAG_LAST;
	h.b_id = hidden->mx;
	h.b_num = 1;
	h.s_id = 9;
	st_counters before = net.Counters(1);
	net.Inject(1, src, 1, h, std::vector<uint8_t>(32, 1));
	st_counters after = net.Counters(1);
	EXPECT_EQ(before.drops[ST_DROP_ACCESS] + 1, after.drops[ST_DROP_ACCESS]);
	EXPECT_EQ(before.ops_received[ST_OP_DATA], after.ops_received[ST_OP_DATA]);
	EXPECT_EQ(before.bytes_received, after.bytes_received) << "dropped payload is not received";
}

TEST(CountersTest, NamesForEveryValue)
{
	for (int s = ST_OK; s <= ST_ERR_LOCAL; s++)
		EXPECT_NE(nullptr, st_status_str(s));
	for (int r = 0; r <= ST_REJ_BAD_FUNCTION; r++)
		EXPECT_NE(nullptr, st_reject_str(r));
	for (int d = 0; d < ST_DROP_REASONS; d++)
		EXPECT_NE(nullptr, st_drop_str(d));
	for (unsigned op = 0; op < ST_OP_COUNT; op++)
		EXPECT_NE(nullptr, st_op_name(op));
	EXPECT_NE(nullptr, st_status_str(1000));
	EXPECT_NE(nullptr, st_reject_str(-1));
	EXPECT_NE(nullptr, st_drop_str(ST_DROP_REASONS));
	EXPECT_NE(nullptr, st_op_name(999));
}

}  // namespace
}  // namespace sttest
