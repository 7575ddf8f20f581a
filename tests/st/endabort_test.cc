// SPDX-License-Identifier: MIT
// End / End_Ack: st_abort of pending transfers and st_region_release.
#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;
constexpr uint64_t kLen = 32768;

struct EndAbortTest : ::testing::Test {
	Net net{2};
	VcPair vp;
	Region *a_mem = nullptr, *b_mem = nullptr;
	std::vector<uint8_t> a_before, b_before;
	void SetUp() override
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		a_mem = net.AddRegion(0, 65536, kAll);
		b_mem = net.AddRegion(1, 65536, kAll);
		Net::FillPattern(a_mem, 1);
		Net::FillPattern(b_mem, 2);
		a_before = a_mem->bytes;
		b_before = b_mem->bytes;
	}
	// A sends kLen bytes into B's posted receive; every Data is lost, so the
	// transfer stays in progress on both sides.
	void StartStalledSend(uint64_t send_ctx, uint64_t recv_ctx)
	{
		net.AddLayer<Drop>(0, 1, Drop::All(ST_OP_DATA));
		ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, b_mem->mx, 0, kLen, recv_ctx));
		ASSERT_EQ(0, st_send(net.eng(0), vp.a, a_mem->mx, 0, kLen, false, 0, send_ctx));
		net.Pump();
		ASSERT_EQ(nullptr, net.FindCompletion(0, send_ctx, ST_REQ_SEND)) << net.DumpEvents(0);
		ASSERT_EQ(nullptr, net.FindCompletion(1, recv_ctx, ST_REQ_RECV)) << net.DumpEvents(1);
	}
};

TEST_F(EndAbortTest, AbortPendingSendEndsItOnBothSides)
{
	auto log = net.TapBoth(0, 1);
	StartStalledSend(0xA1, 0xB1);
	ASSERT_EQ(0, st_abort(net.eng(0), vp.a, 0xA1));
	net.Pump();
	const st_event *s = net.FindCompletion(0, 0xA1, ST_REQ_SEND);
	ASSERT_NE(nullptr, s) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_ABORTED, s->status);
	const st_event *ab = net.FindCompletion(0, 0xA1, ST_REQ_ABORT);
	ASSERT_NE(nullptr, ab) << "the abort's own completion\n" << net.DumpEvents(0);
	EXPECT_EQ(ST_OK, ab->status);
	const st_event *r = net.FindCompletion(1, 0xB1, ST_REQ_RECV);
	ASSERT_NE(nullptr, r) << net.DumpEvents(1);
	EXPECT_EQ(ST_ERR_ABORTED, r->status);

	auto rts = log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1);
	auto cts = log->Filter(ST_OP_CLEAR_TO_SEND, 1, 0);
	auto end = log->Filter(ST_OP_END, 0, 1);
	auto ack = log->Filter(ST_OP_END_ACK, 1, 0);
	ASSERT_EQ(1u, rts.size()) << log->Trace();
	ASSERT_GE(cts.size(), 1u) << log->Trace();
	ASSERT_EQ(1u, end.size()) << log->Trace();
	ASSERT_EQ(1u, ack.size()) << log->Trace();
	EXPECT_EQ(cts[0].h.s_id, end[0].h.d_id) << "D_id = the receiver's id (R_id)";
	EXPECT_EQ(rts[0].h.s_id, end[0].h.s_id) << "S_id = the sender's id (I_id)";
	EXPECT_EQ(end[0].h.bufx, ack[0].h.bufx) << "End_Ack echoes the End's sequence";
	EXPECT_TRUE(BytesEqual(b_before, b_mem->bytes)) << "no Data arrived";
	net.RunUntilIdle();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_TO_SEND, 0, 1)) << "no retransmission after abort";
}

TEST_F(EndAbortTest, AbortHeldSendWithoutPeerReceive)
{
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, a_mem->mx, 0, 1000, false, 0, 0xA2));
	net.Pump();  // B holds the RTS: nothing posted
	ASSERT_EQ(0, st_abort(net.eng(0), vp.a, 0xA2));
	net.Pump();
	const st_event *s = net.FindCompletion(0, 0xA2, ST_REQ_SEND);
	ASSERT_NE(nullptr, s);
	EXPECT_EQ(ST_ERR_ABORTED, s->status);
	ASSERT_NE(nullptr, net.FindCompletion(0, 0xA2, ST_REQ_ABORT));
	// A receive posted now must not be bound to the aborted RTS.
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, b_mem->mx, 0, 1000, 0xB2));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->Count(ST_OP_CLEAR_TO_SEND)) << log->Trace();
	EXPECT_EQ(nullptr, net.FindCompletion(1, 0xB2, ST_REQ_RECV)) << net.DumpEvents(1);
	EXPECT_TRUE(BytesEqual(b_before, b_mem->bytes));
}

TEST_F(EndAbortTest, AbortPendingReadEndsItOnBothSides)
{
	net.AddLayer<Drop>(1, 0, Drop::All(ST_OP_DATA));
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_post_source(net.eng(1), vp.b, b_mem->mx, 0, kLen, 0xB3));
	ASSERT_EQ(0, st_read(net.eng(0), vp.a, a_mem->mx, 0, kLen, 0xA3));
	net.Pump();
	ASSERT_EQ(nullptr, net.FindCompletion(0, 0xA3, ST_REQ_READ));
	ASSERT_EQ(0, st_abort(net.eng(0), vp.a, 0xA3));
	net.Pump();
	const st_event *r = net.FindCompletion(0, 0xA3, ST_REQ_READ);
	ASSERT_NE(nullptr, r) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_ABORTED, r->status);
	ASSERT_NE(nullptr, net.FindCompletion(0, 0xA3, ST_REQ_ABORT));
	const st_event *s = net.FindCompletion(1, 0xB3, ST_REQ_SOURCE);
	ASSERT_NE(nullptr, s) << net.DumpEvents(1) << log->Trace();
	EXPECT_EQ(ST_ERR_ABORTED, s->status);
	EXPECT_TRUE(BytesEqual(a_before, a_mem->bytes));
}

TEST_F(EndAbortTest, LostEndIsRepeated)
{
	auto log = net.TapBoth(0, 1);
	StartStalledSend(0xA4, 0xB4);
	net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_END));
	uint64_t t0 = net.now();
	ASSERT_EQ(0, st_abort(net.eng(0), vp.a, 0xA4));
	st_event ab = net.WaitCompletion(0, 0xA4, ST_REQ_ABORT);
	EXPECT_EQ(ST_OK, ab.status);
	auto end = log->Filter(ST_OP_END, 0, 1);
	ASSERT_EQ(2u, end.size()) << log->Trace();
	EXPECT_EQ(end[0].h.bufx, end[1].h.bufx) << "a repeat keeps the End's sequence";
	EXPECT_EQ(end[0].h.d_id, end[1].h.d_id);
	EXPECT_EQ(t0 + kSec, end[1].at_ns);
	EXPECT_EQ(1u, log->Count(ST_OP_END_ACK, 1, 0));
	EXPECT_EQ(t0 + kSec,
		  net.EventTime(0, [](const st_event &e) { return e.kind == ST_REQ_ABORT; }));
	const st_event *r = net.FindCompletion(1, 0xB4, ST_REQ_RECV);
	ASSERT_NE(nullptr, r);
	EXPECT_EQ(ST_ERR_ABORTED, r->status);
}

TEST_F(EndAbortTest, LostEndAckIsRepeatedAndEndIsIdempotent)
{
	auto log = net.TapBoth(0, 1);
	StartStalledSend(0xA5, 0xB5);
	net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_END_ACK));
	ASSERT_EQ(0, st_abort(net.eng(0), vp.a, 0xA5));
	net.WaitCompletion(0, 0xA5, ST_REQ_ABORT);
	net.RunUntilIdle();
	EXPECT_EQ(2u, log->Count(ST_OP_END, 0, 1)) << log->Trace();
	EXPECT_EQ(2u, log->Count(ST_OP_END_ACK, 1, 0)) << "End_Ack even for a transfer already ended";
	EXPECT_EQ(1u, net.CountEvents(1, [](const st_event &e) { return e.user_ctx == 0xB5; }))
		<< net.DumpEvents(1);
	EXPECT_EQ(1u, net.CountEvents(0, [](const st_event &e) {
		return e.user_ctx == 0xA5 && e.kind == ST_REQ_ABORT;
	}));
}

TEST_F(EndAbortTest, AbortUnknownOrFinishedRequestFails)
{
	EXPECT_EQ(-ENOENT, st_abort(net.eng(0), vp.a, 0xDEAD));
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0xA6));
	net.WaitEvent(0, ST_EV_STATE, 0xA6);
	EXPECT_EQ(-ENOENT, st_abort(net.eng(0), vp.a, 0xA6));
}

TEST_F(EndAbortTest, RegionReleaseSendsEndWithMx)
{
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, b_mem->key, 0xC1));
	st_event ex = net.WaitEvent(0, ST_EV_REGION_EXPOSED, 0xC1);
	EXPECT_EQ(ST_OK, ex.status);
	EXPECT_EQ(65536u, ex.len);
	EXPECT_EQ(b_mem->key, ex.rkey);
	auto mra = log->Filter(ST_OP_MEMORY_REGION_AVAILABLE, 1, 0);
	ASSERT_EQ(1u, mra.size()) << log->Trace();
	EXPECT_EQ(b_mem->mx, mra[0].h.b_id);

	ASSERT_EQ(0, st_region_release(net.eng(0), vp.a, b_mem->key, 0xC2));
	st_event rel = net.WaitCompletion(0, 0xC2, ST_REQ_REGION);
	EXPECT_EQ(ST_OK, rel.status);
	auto end = log->Filter(ST_OP_END, 0, 1);
	ASSERT_EQ(1u, end.size()) << log->Trace();
	EXPECT_EQ(b_mem->mx, end[0].h.b_id) << "End names the Mx to release";
	EXPECT_EQ(1u, log->Count(ST_OP_END_ACK, 1, 0));

	// The exposure is gone: a PUT naming that Mx is refused.
	uint8_t src[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp.b, ST_OP_DATA, src);
	h.b_id = b_mem->mx;
	h.b_num = 1;
	h.flags = ST_FLAG_LAST;
	h.s_id = 50;
	net.Inject(1, src, 1, h, std::vector<uint8_t>(64, 0xEE));
	net.Pump();
	EXPECT_TRUE(BytesEqual(b_before, b_mem->bytes));
	EXPECT_EQ(1u, net.Counters(1).drops[ST_DROP_ACCESS]);
}

TEST_F(EndAbortTest, PutAfterReleaseRequestsTheRegionAgain)
{
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, b_mem->key, 0xC3));
	net.WaitEvent(0, ST_EV_REGION_EXPOSED, 0xC3);
	ASSERT_EQ(0, st_region_release(net.eng(0), vp.a, b_mem->key, 0xC4));
	net.WaitCompletion(0, 0xC4, ST_REQ_REGION);
	st_rma r{};
	r.local_mx = a_mem->mx;
	r.rkey = b_mem->key;
	r.remote_off = 100;
	r.len = 500;
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, 0xC5));
	st_event done = net.WaitCompletion(0, 0xC5, ST_REQ_PUT);
	EXPECT_EQ(ST_OK, done.status);
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_MEMORY_REGION, 0, 1)) << log->Trace();
	EXPECT_TRUE(BytesEqual(a_mem->bytes.data(), b_mem->bytes.data() + 100, 500));
}

}  // namespace
}  // namespace sttest
