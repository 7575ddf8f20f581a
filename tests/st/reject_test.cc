// SPDX-License-Identifier: MIT
// Refused connections: Connection_Answer with the Reject flag (docs/protocol.md).
#include <cstring>

#include "st_harness.h"

namespace sttest {
namespace {

// Starts st_connect from 0 to 1 and runs until A hears the outcome.
struct Attempt {
	uint16_t va = 0;
	st_event ev{};
	size_t b_connected_before = 0;
};

Attempt TryConnect(Net &net, uint32_t uport, uint16_t ethertype, uint64_t ctx)
{
	Attempt at;
	at.b_connected_before = net.CountEvents(1, ST_EV_CONNECTED);
	st_connect_params cp{};
	memcpy(cp.peer, net.ula(1), ST_ULA_LEN);
	cp.uport = uport;
	cp.local_uport = 5;
	cp.ethertype = ethertype;
	EXPECT_EQ(0, st_connect(net.eng(0), &cp, ctx, &at.va));
	at.ev = net.WaitEvent(
		0,
		[ctx](const st_event &e) {
			return (e.type == ST_EV_REFUSED || e.type == ST_EV_CONNECTED) && e.user_ctx == ctx;
		},
		30 * kSec);
	return at;
}

void ExpectRefused(Net &net, const Attempt &at, int reason, const TapLog &log)
{
	EXPECT_EQ(ST_EV_REFUSED, at.ev.type) << net.DumpEvents(0);
	EXPECT_EQ(ST_ERR_REFUSED, at.ev.status);
	EXPECT_EQ(reason, at.ev.reason);
	EXPECT_EQ(at.va, at.ev.vc);
	VcInfo i{};
	EXPECT_EQ(-ENOENT, st_vc_info(net.eng(0), at.va, &i)) << "the refused VC is gone";
	auto ca = log.Filter(ST_OP_CONNECTION_ANSWER, 1, 0);
	ASSERT_EQ(1u, ca.size()) << log.Trace();
	EXPECT_TRUE(ca[0].h.flags & ST_FLAG_REJECT);
	EXPECT_EQ(reason, ca[0].h.param);
	EXPECT_EQ(at.va, ca[0].h.d_port);
	EXPECT_EQ(at.b_connected_before, net.CountEvents(1, ST_EV_CONNECTED)) << net.DumpEvents(1);
}

TEST(RejectTest, NoListenerRefused)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	Attempt at = TryConnect(net, 7, 0, 0x51);
	ExpectRefused(net, at, ST_REJ_NO_LISTENER, *log);
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_CONNECTION)) << "a refusal is final: no repeat";
}

TEST(RejectTest, EthertypeMismatchRefused)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	st_listen_params lp{};
	lp.ethertype = 0x0800;
	ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
	Attempt at = TryConnect(net, 7, 0x8181, 0x52);
	ExpectRefused(net, at, ST_REJ_ETHERTYPE, *log);
}

TEST(RejectTest, MatchingEthertypeListenerAccepts)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	st_listen_params lp{};
	lp.ethertype = 0x0800;
	ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
	Attempt at = TryConnect(net, 7, 0x0800, 0x53);
	EXPECT_EQ(ST_EV_CONNECTED, at.ev.type) << log->Trace();
}

TEST(RejectTest, ManualRefuseCarriesReason)
{
	for (st_reject_reason reason : {ST_REJ_REFUSED, ST_REJ_RESOURCES}) {
		SCOPED_TRACE(reason);
		Net net(2);
		auto log = net.TapBoth(0, 1);
		st_listen_params lp{};
		lp.manual_accept = true;
		ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
		st_connect_params cp{};
		memcpy(cp.peer, net.ula(1), ST_ULA_LEN);
		cp.uport = 7;
		Attempt at;
		ASSERT_EQ(0, st_connect(net.eng(0), &cp, 0x54, &at.va));
		net.Pump();
		const st_event *req = net.FindEvent(1, ST_EV_CONNECT_REQUEST);
		ASSERT_NE(nullptr, req);
		uint16_t vb = req->vc;
		ASSERT_EQ(0, st_refuse(net.eng(1), vb, reason));
		at.ev = net.WaitEvent(0, ST_EV_REFUSED, 0x54);
		ExpectRefused(net, at, reason, *log);
		net.RunUntilIdle();
		VcInfo i{};
		EXPECT_EQ(-ENOENT, st_vc_info(net.eng(1), vb, &i)) << "B forgot the refused VC";
	}
}

TEST(RejectTest, AfterUnlistenRefusedButExistingVcStays)
{
	Net net(2);
	VcPair first = net.Connect(0, 1);
	ASSERT_TRUE(first.ok());
	ASSERT_EQ(0, st_unlisten(net.eng(1), kDefaultUport));
	net.ep(1).listening.erase(kDefaultUport);
	auto log = net.TapBoth(0, 1);
	Attempt at = TryConnect(net, kDefaultUport, 0, 0x55);
	ExpectRefused(net, at, ST_REJ_NO_LISTENER, *log);
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, first.a).state);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, first.b).state);
}

TEST(RejectTest, ListenAgainAfterUnlistenAccepts)
{
	Net net(2);
	st_listen_params lp{};
	ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
	ASSERT_EQ(0, st_unlisten(net.eng(1), 7));
	ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
	Attempt at = TryConnect(net, 7, 0, 0x56);
	EXPECT_EQ(ST_EV_CONNECTED, at.ev.type);
}

TEST(RejectTest, ListenTwiceOnOneUportAndUnlistenUnknownFail)
{
	Net net(1);
	st_listen_params lp{};
	ASSERT_EQ(0, st_listen(net.eng(0), 7, &lp));
	EXPECT_LT(st_listen(net.eng(0), 7, &lp), 0);
	EXPECT_LT(st_unlisten(net.eng(0), 8), 0);
	EXPECT_EQ(0, st_unlisten(net.eng(0), 7));
	EXPECT_LT(st_unlisten(net.eng(0), 7), 0);
}

TEST(RejectTest, UnusableBufsizeOrMaxStuRefusedBadParam)
{
	// Bufsize or Max_STU outside 6..31 is refused BAD_PARAM.  The requests are
	// injected as a foreign initiator (port 77, key 0x1234) would send them.
	const uint32_t bad[][2] = {{5, 12}, {32, 12}, {16, 5}, {16, 32}};
	for (const auto &p : bad) {
		SCOPED_TRACE(testing::Message() << "bufsize " << p[0] << " max_stu " << p[1]);
		Net net(2);
		auto log = net.TapBoth(1, 0);
		st_listen_params lp{};
		ASSERT_EQ(0, st_listen(net.eng(1), 7, &lp));
		st_hdr h{};
		h.op = ST_OP_REQUEST_CONNECTION;
		h.s_port = 77;
		h.param = 4;
		h.b_id = 0x8181;
		h.bufx = p[0];
		h.offset = 0x1234;
		h.sync = p[1];
		h.d_id = 7;
		h.s_id = 9;
		net.Inject(1, net.ula(0), 0, h);
		net.Pump();
		auto ca = log->Filter(ST_OP_CONNECTION_ANSWER, 1, 0);
		ASSERT_EQ(1u, ca.size()) << log->Trace();
		EXPECT_TRUE(ca[0].h.flags & ST_FLAG_REJECT);
		EXPECT_EQ(ST_REJ_BAD_PARAM, ca[0].h.param);
		EXPECT_EQ(77, ca[0].h.d_port);
		EXPECT_EQ(0x1234u, ca[0].h.d_key);
		EXPECT_EQ(0u, net.CountEvents(1, ST_EV_CONNECTED));
	}
}

TEST(RejectTest, OutOfVcsRefusedResources)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 1)
			c->max_vcs = 1;
	});
	VcPair first = net.Connect(0, 1);
	ASSERT_TRUE(first.ok());
	auto log = net.TapBoth(0, 1);
	Attempt at = TryConnect(net, kDefaultUport, 0, 0x57);
	ExpectRefused(net, at, ST_REJ_RESOURCES, *log);
}

}  // namespace
}  // namespace sttest
