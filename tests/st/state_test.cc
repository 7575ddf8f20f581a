// SPDX-License-Identifier: MIT
// Request_State / Request_State_Response and slot grants (docs/protocol.md "Slots").
#include "st_harness.h"

namespace sttest {
namespace {

struct StateTest : ::testing::Test {
	Net net{2, [](int ep, st_config *c) { c->slots = ep == 0 ? 4 : 7; }};
	VcPair vp;
	void SetUp() override
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
	}
};

TEST_F(StateTest, RequestStateReportsPeerGrant)
{
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x77));
	st_event e = net.WaitEvent(0, ST_EV_STATE, 0x77);
	EXPECT_EQ(ST_OK, e.status);
	EXPECT_EQ(vp.a, e.vc);
	EXPECT_EQ(7, e.slots);
	auto q = log->Filter(ST_OP_REQUEST_STATE, 0, 1);
	auto r = log->Filter(ST_OP_REQUEST_STATE_RESPONSE, 1, 0);
	ASSERT_EQ(1u, q.size()) << log->Trace();
	ASSERT_EQ(1u, r.size()) << log->Trace();
	EXPECT_NE(0u, q[0].h.s_id);
	EXPECT_EQ(q[0].h.s_id, r[0].h.d_id) << "the response names the request";
	EXPECT_EQ(7, r[0].h.param);
	// The other direction sees A's grant.
	ASSERT_EQ(0, st_request_state(net.eng(1), vp.b, 0x78));
	EXPECT_EQ(4, net.WaitEvent(1, ST_EV_STATE, 0x78).slots);
}

TEST_F(StateTest, RequestIdsStartAtOneAndIncrease)
{
	auto log = net.TapBoth(0, 1);
	for (uint64_t ctx = 1; ctx <= 3; ctx++) {
		ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, ctx));
		net.WaitEvent(0, ST_EV_STATE, ctx);
	}
	auto q = log->Filter(ST_OP_REQUEST_STATE, 0, 1);
	ASSERT_EQ(3u, q.size());
	EXPECT_EQ(1u, q[0].h.s_id) << "ids are numbered per VC from 1";
	EXPECT_EQ(2u, q[1].h.s_id);
	EXPECT_EQ(3u, q[2].h.s_id);
}

TEST_F(StateTest, SetSlotsChangesWhatThePeerSees)
{
	auto log = net.TapBoth(0, 1);
	EXPECT_EQ(7, net.Info(0, vp.a).slots_granted_to_us);
	ASSERT_EQ(0, st_set_slots(net.eng(1), vp.b, 3));
	EXPECT_EQ(3, net.Info(1, vp.b).slots_we_grant);
	net.Pump();
	EXPECT_EQ(3, net.Info(0, vp.a).slots_granted_to_us);
	auto r = log->Filter(ST_OP_REQUEST_STATE_RESPONSE, 1, 0);
	ASSERT_EQ(1u, r.size()) << "st_set_slots tells the peer\n" << log->Trace();
	EXPECT_EQ(0u, r[0].h.d_id) << "unsolicited: D_id 0";
	EXPECT_EQ(3, r[0].h.param);

	ASSERT_EQ(0, st_set_slots(net.eng(1), vp.b, 12));
	net.Pump();
	EXPECT_EQ(12, net.Info(0, vp.a).slots_granted_to_us);
}

TEST_F(StateTest, RequestStateAfterSetSlotsAgrees)
{
	ASSERT_EQ(0, st_set_slots(net.eng(1), vp.b, 11));
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x99));
	EXPECT_EQ(11, net.WaitEvent(0, ST_EV_STATE, 0x99).slots);
}

TEST_F(StateTest, SendStateFlagGetsUnsolicitedResponse)
{
	auto log = net.TapBoth(1, 0);
	uint8_t src[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp.b, ST_OP_NOP, src);
	h.flags = ST_FLAG_SEND_STATE;
	net.Inject(1, src, 0, h);
	net.Pump();
	auto r = log->Filter(ST_OP_REQUEST_STATE_RESPONSE, 1, 0);
	ASSERT_EQ(1u, r.size()) << log->Trace();
	EXPECT_EQ(0u, r[0].h.d_id);
	EXPECT_EQ(7, r[0].h.param);
	EXPECT_EQ(vp.a, r[0].h.d_port);
}

TEST_F(StateTest, LostResponseIsRetriedWithTheSameId)
{
	auto log = net.TapBoth(0, 1);
	net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_REQUEST_STATE_RESPONSE));
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x42));
	st_event e = net.WaitEvent(0, ST_EV_STATE, 0x42);
	EXPECT_EQ(ST_OK, e.status);
	EXPECT_EQ(7, e.slots);
	auto q = log->Filter(ST_OP_REQUEST_STATE, 0, 1);
	ASSERT_EQ(2u, q.size()) << log->Trace();
	EXPECT_EQ(q[0].h.s_id, q[1].h.s_id) << "a repeat keeps its id";
	EXPECT_EQ(1 * kSec, q[1].at_ns - q[0].at_ns);
	EXPECT_EQ(1u, net.Counters(0, vp.a).retransmits);
	EXPECT_EQ(1u, net.Counters(0).retransmits);
}

TEST_F(StateTest, DuplicatedResponseGivesOneEvent)
{
	net.AddLayer<Duplicate>(1, 0, Duplicate::All(ST_OP_REQUEST_STATE_RESPONSE));
	net.AddLayer<Duplicate>(0, 1, Duplicate::All(ST_OP_REQUEST_STATE));
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x43));
	net.RunUntilIdle();
	EXPECT_EQ(1u, net.CountEvents(0, [](const st_event &e) { return e.user_ctx == 0x43; }))
		<< net.DumpEvents(0);
}

}  // namespace
}  // namespace sttest
