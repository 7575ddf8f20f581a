// SPDX-License-Identifier: MIT
// Timers: op_timeout, retries, and what happens when they run out.
#include <cstring>

#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;

uint16_t StartConnect(Net &net, const uint8_t peer[ST_ULA_LEN], uint64_t ctx)
{
	st_connect_params cp{};
	memcpy(cp.peer, peer, ST_ULA_LEN);
	cp.uport = kDefaultUport;
	uint16_t va = 0;
	EXPECT_EQ(0, st_connect(net.eng(0), &cp, ctx, &va));
	return va;
}

TEST(TimeoutTest, ConnectFailsAfterOnePlusRetriesRequests)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	net.Blackhole(0, 1);
	uint64_t t0 = net.now();
	uint16_t va = StartConnect(net, net.ula(1), 0x70);
	st_event e = net.WaitEvent(0, ST_EV_REFUSED, 0x70);
	EXPECT_EQ(ST_ERR_TIMEOUT, e.status);
	EXPECT_EQ(va, e.vc);
	auto rc = log->Filter(ST_OP_REQUEST_CONNECTION, 0, 1);
	ASSERT_EQ(4u, rc.size()) << "1 + retries (3)\n" << log->Trace();
	for (size_t i = 0; i < rc.size(); i++) {
		EXPECT_EQ(t0 + i * kSec, rc[i].at_ns) << i;
		EXPECT_EQ(rc[0].h.offset, rc[i].h.offset) << "same I_Key on every repeat";
		EXPECT_EQ(rc[0].h.s_port, rc[i].h.s_port) << "same I_Port on every repeat";
	}
	uint64_t at = net.EventTime(0, [](const st_event &x) { return x.type == ST_EV_REFUSED; });
	EXPECT_EQ(4 * kSec, at - t0) << "(retries + 1) * op_timeout";
	st_counters c = net.Counters(0);
	EXPECT_EQ(1u, c.timeouts);
	EXPECT_EQ(3u, c.retransmits);
	EXPECT_EQ(4u, c.ops_sent[ST_OP_REQUEST_CONNECTION]);
	VcInfo i{};
	EXPECT_EQ(-ENOENT, st_vc_info(net.eng(0), va, &i));
}

TEST(TimeoutTest, ConnectRetriesAndTimeoutFollowConfig)
{
	Net net(2, [](int, st_config *c) {
		c->op_timeout_ns = 50 * kMs;
		c->retries = 1;
	});
	auto log = net.TapBoth(0, 1);
	net.Blackhole(0, 1);
	uint64_t t0 = net.now();
	StartConnect(net, net.ula(1), 0x71);
	st_event e = net.WaitEvent(0, ST_EV_REFUSED, 0x71);
	EXPECT_EQ(ST_ERR_TIMEOUT, e.status);
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_CONNECTION)) << log->Trace();
	EXPECT_EQ(100 * kMs,
		  net.EventTime(0, [](const st_event &x) { return x.type == ST_EV_REFUSED; }) - t0);
}

TEST(TimeoutTest, ConnectToAbsentUlaTimesOut)
{
	Net net(1);
	const uint8_t nobody[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, 0x99};
	StartConnect(net, nobody, 0x72);
	st_event e = net.WaitEvent(0, ST_EV_REFUSED, 0x72);
	EXPECT_EQ(ST_ERR_TIMEOUT, e.status);
}

TEST(TimeoutTest, IdleOpenVcHasNoDeadline)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	EXPECT_EQ(UINT64_MAX, st_next_deadline(net.eng(0)));
	EXPECT_EQ(UINT64_MAX, st_next_deadline(net.eng(1)));
	EXPECT_EQ(0u, net.RunUntilIdle());
}

TEST(TimeoutTest, SilentPeerClosesVcAndFailsPendingSend)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	net.Blackhole(0, 1);
	Region *src = net.AddRegion(0, 4096, kAll);
	uint64_t t0 = net.now();
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, 100, false, 0, 0x73));
	st_event closed = net.WaitEvent(0, [&](const st_event &e) { return e.type == ST_EV_CLOSED && e.vc == vp.a; });
	EXPECT_EQ(ST_ERR_TIMEOUT, closed.status);
	const st_event *c = net.FindCompletion(0, 0x73, ST_REQ_SEND);
	ASSERT_NE(nullptr, c) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_TIMEOUT, c->status);
	EXPECT_EQ(4u, log->Count(ST_OP_REQUEST_TO_SEND, 0, 1)) << log->Trace();
	uint64_t at = net.EventTime(0, [](const st_event &e) { return e.type == ST_EV_CLOSED; });
	EXPECT_EQ(4 * kSec, at - t0);
	st_counters g = net.Counters(0);
	EXPECT_GT(g.timeouts, 0u);
	EXPECT_GT(g.retransmits, 0u);
	EXPECT_EQ(3u, g.retransmits);
	VcInfo i{};
	EXPECT_EQ(-ENOENT, st_vc_info(net.eng(0), vp.a, &i)) << "torn down locally";
	EXPECT_EQ(0u, log->Count(ST_OP_REQUEST_DISCONNECT)) << "no handshake";
}

TEST(TimeoutTest, SilentPeerFailsStateRequest)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	net.Blackhole(1, 0);  // B hears A but its answers are lost
	uint64_t t0 = net.now();
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x74));
	st_event e = net.WaitEvent(0, [](const st_event &x) { return x.user_ctx == 0x74; });
	EXPECT_EQ(ST_ERR_TIMEOUT, e.status) << net.DumpEvents(0);
	st_event closed = net.WaitEvent(0, [](const st_event &x) { return x.type == ST_EV_CLOSED; });
	EXPECT_EQ(ST_ERR_TIMEOUT, closed.status);
	EXPECT_EQ(4 * kSec, net.EventTime(0, [](const st_event &x) { return x.type == ST_EV_CLOSED; }) - t0);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vp.b).state) << "B never noticed";
}

TEST(TimeoutTest, CulpritTimesOutOthersAreFlushed)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	net.Blackhole(0, 1);
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x75));  // times out first
	net.Advance(300 * kMs);
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x76));
	net.WaitEvent(0, [](const st_event &x) { return x.type == ST_EV_CLOSED; });
	const st_event *first = net.FindEvent(0, [](const st_event &x) { return x.user_ctx == 0x75; });
	const st_event *second = net.FindEvent(0, [](const st_event &x) { return x.user_ctx == 0x76; });
	ASSERT_NE(nullptr, first) << net.DumpEvents(0);
	ASSERT_NE(nullptr, second) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_TIMEOUT, first->status);
	EXPECT_EQ(ST_ERR_FLUSHED, second->status);
}

TEST(TimeoutTest, SilentPeerDuringDisconnectClosesWithTimeout)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	net.Blackhole(0, 1);
	ASSERT_EQ(0, st_disconnect(net.eng(0), vp.a));
	st_event e = net.WaitEvent(0, [](const st_event &x) { return x.type == ST_EV_CLOSED; });
	EXPECT_EQ(ST_ERR_TIMEOUT, e.status);
	EXPECT_EQ(4u, log->Count(ST_OP_REQUEST_DISCONNECT, 0, 1)) << log->Trace();
	net.RunUntilIdle();
	VcInfo i{};
	EXPECT_EQ(-ENOENT, st_vc_info(net.eng(0), vp.a, &i));
}

TEST(TimeoutTest, SendFailureIsTreatedAsLossAndRetried)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	net.ep(0).fail_sends = 1;
	ASSERT_EQ(0, st_request_state(net.eng(0), vp.a, 0x77));
	st_event e = net.WaitEvent(0, ST_EV_STATE, 0x77);
	EXPECT_EQ(ST_OK, e.status);
	st_counters c = net.Counters(0, vp.a);
	EXPECT_EQ(1u, c.send_failures);
	EXPECT_EQ(1u, c.retransmits);
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_STATE, 0, 1)) << "the failed send never reached the wire";
}

}  // namespace
}  // namespace sttest
