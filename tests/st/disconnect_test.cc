// SPDX-License-Identifier: MIT
// Teardown: Request_Disconnect -> Disconnect_Answer -> Disconnect_Complete.
#include <cstring>

#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;

bool Gone(Net &net, int ep, uint16_t vc)
{
	VcInfo i{};
	return st_vc_info(net.eng(ep), vc, &i) == -ENOENT;
}

size_t Closed(Net &net, int ep, uint16_t vc, int status)
{
	return net.CountEvents(ep, [=](const st_event &e) {
		return e.type == ST_EV_CLOSED && e.vc == vc && e.status == status;
	});
}

TEST(DisconnectTest, ExactSequenceRdDaDcAndClosedOkOnBothSides)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	VcInfo a = net.Info(0, vp.a), b = net.Info(1, vp.b);
	auto log = net.TapBoth(0, 1);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	ASSERT_EQ((std::vector<unsigned>{ST_OP_REQUEST_DISCONNECT, ST_OP_DISCONNECT_ANSWER,
					 ST_OP_DISCONNECT_COMPLETE}),
		  log->Ops())
		<< log->Trace();
	const auto &r = log->records();
	EXPECT_EQ(0, r[0].src);
	EXPECT_EQ(1, r[1].src);
	EXPECT_EQ(0, r[2].src);
	// Addressing: D_Port/S_Port/D_Key of the receiver's VC.
	EXPECT_EQ(vp.b, r[0].h.d_port);
	EXPECT_EQ(vp.a, r[0].h.s_port);
	EXPECT_EQ(b.local_key, r[0].h.d_key);
	EXPECT_EQ(vp.a, r[1].h.d_port);
	EXPECT_EQ(vp.b, r[1].h.s_port);
	EXPECT_EQ(a.local_key, r[1].h.d_key);
	EXPECT_EQ(b.local_key, r[2].h.d_key);
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK)) << net.DumpEvents(0);
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK)) << net.DumpEvents(1);
	EXPECT_TRUE(Gone(net, 0, vp.a));
	EXPECT_TRUE(Gone(net, 1, vp.b));
}

TEST(DisconnectTest, ResponderMayDisconnectToo)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	ASSERT_TRUE(net.Disconnect(1, vp.b, 0, vp.a));
	net.RunUntilIdle();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_DISCONNECT, 1, 0)) << log->Trace();
	EXPECT_EQ(1u, log->Count(ST_OP_DISCONNECT_ANSWER, 0, 1));
	EXPECT_EQ(1u, log->Count(ST_OP_DISCONNECT_COMPLETE, 1, 0));
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK));
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK));
}

TEST(DisconnectTest, TimeWaitLastsRetriesPlusOneTimeouts)
{
	Net net(2, [](int, st_config *c) {
		c->op_timeout_ns = 200 * kMs;
		c->retries = 2;
	});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	EXPECT_EQ(ST_VC_TIME_WAIT, net.Info(0, vp.a).state) << "the DC sender waits";
	uint64_t elapsed = net.RunUntilIdle();
	EXPECT_EQ(3 * 200 * kMs, elapsed);
	EXPECT_TRUE(Gone(net, 0, vp.a));
	EXPECT_EQ(UINT64_MAX, st_next_deadline(net.eng(0)));
	EXPECT_EQ(UINT64_MAX, st_next_deadline(net.eng(1)));
}

TEST(DisconnectTest, SimultaneousDisconnectClosesBothOnce)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_disconnect(net.eng(0), vp.a));
	ASSERT_EQ(0, st_disconnect(net.eng(1), vp.b));
	net.RunUntilIdle();
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK)) << net.DumpEvents(0) << log->Trace();
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK)) << net.DumpEvents(1) << log->Trace();
	EXPECT_EQ(1u, net.CountEvents(0, ST_EV_CLOSED));
	EXPECT_EQ(1u, net.CountEvents(1, ST_EV_CLOSED));
	EXPECT_TRUE(Gone(net, 0, vp.a));
	EXPECT_TRUE(Gone(net, 1, vp.b));
	EXPECT_EQ(0u, net.Counters(0).timeouts) << log->Trace();
	EXPECT_EQ(0u, net.Counters(1).timeouts) << log->Trace();
}

TEST(DisconnectTest, PendingSendFlushed)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *src = net.AddRegion(0, 4096, kAll);
	// No receive is posted at B: B holds the RTS, the send stays pending.
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, 1000, false, 0, 0x5E));
	net.Pump();
	ASSERT_EQ(nullptr, net.FindCompletion(0, 0x5E, ST_REQ_SEND)) << net.DumpEvents(0);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	const st_event *e = net.FindCompletion(0, 0x5E, ST_REQ_SEND);
	ASSERT_NE(nullptr, e) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_FLUSHED, e->status);
	EXPECT_EQ(ST_EV_COMPLETE, e->type);
	net.RunUntilIdle();
	EXPECT_EQ(1u, net.CountEvents(0, [](const st_event &x) { return x.user_ctx == 0x5E; }))
		<< "completed exactly once\n" << net.DumpEvents(0);
}

TEST(DisconnectTest, PendingReceiveAtPeerFlushed)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *sink = net.AddRegion(1, 4096, kAll);
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, sink->mx, 0, 4096, 0x7E));
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	const st_event *e = net.FindCompletion(1, 0x7E, ST_REQ_RECV);
	ASSERT_NE(nullptr, e) << net.DumpEvents(1);
	EXPECT_EQ(ST_ERR_FLUSHED, e->status);
}

TEST(DisconnectTest, PendingGetFlushed)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *remote = net.AddRegion(1, 8192, kAll);
	Net::FillPattern(remote, 3);
	Region *local = net.AddRegion(0, 8192, kAll);
	net.AddLayer<Drop>(1, 0, Drop::All(ST_OP_DATA));  // the GET's answer never arrives
	st_rma r{};
	r.local_mx = local->mx;
	r.rkey = remote->key;
	r.len = 1024;
	ASSERT_EQ(0, st_get(net.eng(0), vp.a, &r, 0x6E));
	net.Pump();
	ASSERT_EQ(nullptr, net.FindCompletion(0, 0x6E, ST_REQ_GET)) << net.DumpEvents(0);
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	const st_event *e = net.FindCompletion(0, 0x6E, ST_REQ_GET);
	ASSERT_NE(nullptr, e) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_FLUSHED, e->status);
	std::vector<uint8_t> zero(8192, 0);
	EXPECT_TRUE(BytesEqual(zero, local->bytes));
}

TEST(DisconnectTest, LostDisconnectCompleteRecovered)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);  // above the drop: sees the lost DC too
	net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_DISCONNECT_COMPLETE));
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_DISCONNECT)) << log->Trace();
	EXPECT_EQ(2u, log->Count(ST_OP_DISCONNECT_ANSWER, 1, 0)) << "B repeats DA until DC\n" << log->Trace();
	EXPECT_EQ(2u, log->Count(ST_OP_DISCONNECT_COMPLETE, 0, 1)) << "A answers the late DA\n" << log->Trace();
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK));
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK)) << net.DumpEvents(1);
	EXPECT_TRUE(Gone(net, 0, vp.a));
	EXPECT_TRUE(Gone(net, 1, vp.b));
}

TEST(DisconnectTest, LostDisconnectAnswerRecovered)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_DISCONNECT_ANSWER));
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	EXPECT_GE(log->Count(ST_OP_DISCONNECT_ANSWER, 1, 0), 2u) << log->Trace();
	EXPECT_GE(log->Count(ST_OP_DISCONNECT_COMPLETE, 0, 1), 1u) << log->Trace();
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK)) << net.DumpEvents(0);
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK)) << net.DumpEvents(1);
	EXPECT_EQ(0u, net.Counters(0).timeouts);
	EXPECT_EQ(0u, net.Counters(1).timeouts);
}

TEST(DisconnectTest, LostRequestDisconnectRepeated)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_REQUEST_DISCONNECT));
	ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
	net.RunUntilIdle();
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_DISCONNECT, 0, 1)) << log->Trace();
	auto rd = log->Filter(ST_OP_REQUEST_DISCONNECT);
	EXPECT_EQ(1 * kSec, rd[1].at_ns - rd[0].at_ns) << "repeated after one op_timeout";
	EXPECT_EQ(1u, Closed(net, 0, vp.a, ST_OK));
	EXPECT_EQ(1u, Closed(net, 1, vp.b, ST_OK));
}

TEST(DisconnectTest, PortReusableAfterClose)
{
	// One VC at most on each side: a second connect works only if the first
	// VC (including its TIME_WAIT) is really gone.
	Net net(2, [](int, st_config *c) { c->max_vcs = 1; });
	for (int round = 0; round < 3; round++) {
		SCOPED_TRACE(round);
		ConnectOptions o;
		o.user_ctx = 100 + round;
		VcPair vp = net.Connect(0, 1, o);
		ASSERT_TRUE(vp.ok());
		ASSERT_TRUE(net.Disconnect(0, vp.a, 1, vp.b));
		net.RunUntilIdle();
		EXPECT_TRUE(Gone(net, 0, vp.a));
		EXPECT_TRUE(Gone(net, 1, vp.b));
	}
}

TEST(DisconnectTest, NoNewRequestsOnAClosingVc)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *src = net.AddRegion(0, 4096, kAll);
	ASSERT_EQ(0, st_disconnect(net.eng(0), vp.a));
	EXPECT_EQ(ST_VC_CLOSING, net.Info(0, vp.a).state);
	EXPECT_LT(st_request_state(net.eng(0), vp.a, 1), 0);
	EXPECT_LT(st_send(net.eng(0), vp.a, src->mx, 0, 10, false, 0, 2), 0);
	EXPECT_LT(st_region_request(net.eng(0), vp.a, 0x1234, 3), 0);
	net.RunUntilIdle();
	EXPECT_EQ(0u, net.CountEvents(0, ST_EV_COMPLETE)) << net.DumpEvents(0);
}

}  // namespace
}  // namespace sttest
