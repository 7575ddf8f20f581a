// SPDX-License-Identifier: MIT
// Connection set-up: Request_Connection -> Connection_Answer (docs/protocol.md).
#include <cstring>
#include <set>

#include "st_harness.h"

namespace sttest {
namespace {

TEST(ConnectTest, OpensVcOnBothSidesWithOneExchange)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vp.b).state);
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_CONNECTION, ST_OP_CONNECTION_ANSWER}), log->Ops())
		<< log->Trace();
	EXPECT_EQ(1u, net.CountEvents(0, ST_EV_CONNECTED));
	EXPECT_EQ(1u, net.CountEvents(1, ST_EV_CONNECTED));
}

TEST(ConnectTest, ConnectedEventsCarryPeerSlotsAndEthertype)
{
	Net net(2, [](int ep, st_config *c) { c->slots = ep == 0 ? 5 : 9; });
	ConnectOptions o;
	o.user_ctx = 0xABCDEF;
	VcPair vp = net.Connect(0, 1, o);
	ASSERT_TRUE(vp.ok());
	const st_event *ea = net.FindEvent(0, ST_EV_CONNECTED, 0xABCDEF);
	ASSERT_NE(nullptr, ea);
	EXPECT_EQ(vp.a, ea->vc);
	EXPECT_EQ(0, memcmp(ea->peer, net.ula(1), ST_ULA_LEN));
	EXPECT_EQ(9, ea->slots) << "A's CONNECTED carries the slots B grants";
	EXPECT_EQ(0x8181, ea->ethertype);
	const st_event *eb = net.FindEvent(1, ST_EV_CONNECTED);
	ASSERT_NE(nullptr, eb);
	EXPECT_EQ(vp.b, eb->vc);
	EXPECT_EQ(0, memcmp(eb->peer, net.ula(0), ST_ULA_LEN));
	EXPECT_EQ(5, eb->slots) << "B's CONNECTED carries the slots A grants";
	EXPECT_EQ(0x8181, eb->ethertype);
}

TEST(ConnectTest, NegotiatedParametersVisibleInVcInfoOnBothSides)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 0) {
			c->bufsize_log2 = 14;
			c->max_stu_log2 = 10;
			c->block_log2 = 14;
			c->slots = 5;
		} else {
			c->bufsize_log2 = 18;
			c->max_stu_log2 = 11;
			c->block_log2 = 18;
			c->slots = 7;
		}
	});
	ConnectOptions o;
	o.uport = 4242;
	o.local_uport = 77;
	VcPair vp = net.Connect(0, 1, o);
	ASSERT_TRUE(vp.ok());
	VcInfo a = net.Info(0, vp.a), b = net.Info(1, vp.b);
	EXPECT_EQ(vp.a, a.local_port);
	EXPECT_EQ(vp.b, a.peer_port);
	EXPECT_EQ(vp.b, b.local_port);
	EXPECT_EQ(vp.a, b.peer_port);
	EXPECT_NE(0u, a.local_key);
	EXPECT_NE(0u, b.local_key);
	EXPECT_EQ(b.local_key, a.peer_key);
	EXPECT_EQ(a.local_key, b.peer_key);
	EXPECT_EQ(77u, a.local_uport);
	EXPECT_EQ(4242u, a.peer_uport);
	EXPECT_EQ(4242u, b.local_uport);
	EXPECT_EQ(77u, b.peer_uport);
	EXPECT_EQ(0, memcmp(a.peer, net.ula(1), ST_ULA_LEN));
	EXPECT_EQ(0, memcmp(b.peer, net.ula(0), ST_ULA_LEN));
	// Each side learns the other's Bufsize and Max_STU ...
	EXPECT_EQ(18, a.peer_bufsize_log2);
	EXPECT_EQ(11, a.peer_max_stu_log2);
	EXPECT_EQ(14, b.peer_bufsize_log2);
	EXPECT_EQ(10, b.peer_max_stu_log2);
	// ... and the slots each grants the other.
	EXPECT_EQ(7, a.slots_granted_to_us);
	EXPECT_EQ(5, a.slots_we_grant);
	EXPECT_EQ(5, b.slots_granted_to_us);
	EXPECT_EQ(7, b.slots_we_grant);
	EXPECT_EQ(0, a.slots_in_use);
	EXPECT_EQ(0u, a.queued_ops);
	EXPECT_EQ(0x8181, a.ethertype);
	EXPECT_EQ(0x8181, b.ethertype);
}

TEST(ConnectTest, RequestConnectionAndAnswerWireFields)
{
	Net net(2, [](int ep, st_config *c) {
		c->slots = ep == 0 ? 3 : 6;
		c->bufsize_log2 = ep == 0 ? 15 : 17;
		c->max_stu_log2 = ep == 0 ? 9 : 12;
	});
	auto log = net.TapBoth(0, 1);
	ConnectOptions o;
	o.uport = 555;
	o.local_uport = 66;
	o.ethertype = 0x88B5;
	VcPair vp = net.Connect(0, 1, o);
	ASSERT_TRUE(vp.ok());
	VcInfo a = net.Info(0, vp.a), b = net.Info(1, vp.b);
	auto rc = log->Filter(ST_OP_REQUEST_CONNECTION, 0, 1);
	ASSERT_EQ(1u, rc.size()) << log->Trace();
	const st_hdr &q = rc[0].h;
	EXPECT_EQ(0, q.d_port);
	EXPECT_EQ(0u, q.d_key);
	EXPECT_EQ(vp.a, q.s_port);
	EXPECT_EQ(3, q.param) << "I_Slots";
	EXPECT_EQ(0x88B5, q.b_id) << "EtherType";
	EXPECT_EQ(15u, q.bufx) << "I_Bufsize";
	EXPECT_EQ(a.local_key, q.offset) << "I_Key";
	EXPECT_EQ(9u, q.sync) << "I_Max_STU";
	EXPECT_EQ(555u, q.d_id) << "R_UPort";
	EXPECT_EQ(66u, q.s_id) << "I_UPort";
	EXPECT_EQ(0u, rc[0].vc) << "control ops travel on VC0";

	auto ca = log->Filter(ST_OP_CONNECTION_ANSWER, 1, 0);
	ASSERT_EQ(1u, ca.size()) << log->Trace();
	const st_hdr &r = ca[0].h;
	EXPECT_FALSE(r.flags & ST_FLAG_REJECT);
	EXPECT_EQ(vp.a, r.d_port);
	EXPECT_EQ(vp.b, r.s_port) << "S_Port = R_Port";
	EXPECT_EQ(a.local_key, r.d_key) << "D_Key = I_Key";
	EXPECT_EQ(6, r.param) << "R_Slots";
	EXPECT_EQ(17u, r.bufx) << "R_Bufsize";
	EXPECT_EQ(b.local_key, r.offset) << "R_Key";
	EXPECT_EQ(12u, r.sync) << "R_Max_STU";
	EXPECT_EQ(66u, r.d_id) << "I_UPort";
	EXPECT_EQ(555u, r.s_id) << "R_UPort";
}

TEST(ConnectTest, EthertypeZeroMeansSt8181)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	EXPECT_EQ(0x8181, net.Info(0, vp.a).ethertype);
	EXPECT_EQ(0x8181, net.Info(1, vp.b).ethertype);
	auto rc = log->Filter(ST_OP_REQUEST_CONNECTION);
	ASSERT_EQ(1u, rc.size());
	EXPECT_EQ(0x8181, rc[0].h.b_id);
}

TEST(ConnectTest, AnyEthertypeListenerAcceptsCustomEthertype)
{
	Net net(2);
	ConnectOptions o;
	o.ethertype = 0x1234;
	o.listen_ethertype = 0;
	VcPair vp = net.Connect(0, 1, o);
	ASSERT_TRUE(vp.ok());
	EXPECT_EQ(0x1234, net.Info(0, vp.a).ethertype);
	EXPECT_EQ(0x1234, net.Info(1, vp.b).ethertype);
}

TEST(ConnectTest, ManualAcceptRaisesConnectRequestThenOpens)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	st_listen_params lp{};
	lp.manual_accept = true;
	ASSERT_EQ(0, st_listen(net.eng(1), 900, &lp));
	st_connect_params cp{};
	memcpy(cp.peer, net.ula(1), ST_ULA_LEN);
	cp.uport = 900;
	cp.local_uport = 12;
	uint16_t va = 0;
	ASSERT_EQ(0, st_connect(net.eng(0), &cp, 31, &va));
	net.Pump();

	const st_event *req = net.FindEvent(1, ST_EV_CONNECT_REQUEST);
	ASSERT_NE(nullptr, req) << net.DumpEvents(1);
	EXPECT_EQ(900u, req->uport);
	EXPECT_EQ(0x8181, req->ethertype);
	EXPECT_EQ(0, memcmp(req->peer, net.ula(0), ST_ULA_LEN));
	uint16_t vb = req->vc;
	ASSERT_NE(0, vb);
	EXPECT_EQ(ST_VC_ACCEPTING, net.Info(1, vb).state);
	EXPECT_EQ(ST_VC_CONNECTING, net.Info(0, va).state);
	EXPECT_EQ(0u, log->Count(ST_OP_CONNECTION_ANSWER)) << "no answer before st_accept\n" << log->Trace();
	EXPECT_EQ(nullptr, net.FindEvent(1, ST_EV_CONNECTED));

	ASSERT_EQ(0, st_accept(net.eng(1), vb));
	st_event ca = net.WaitEvent(0, ST_EV_CONNECTED, 31);
	EXPECT_EQ(va, ca.vc);
	const st_event *cb = net.FindEvent(1, ST_EV_CONNECTED);
	ASSERT_NE(nullptr, cb);
	EXPECT_EQ(vb, cb->vc);
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, va).state);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vb).state);
	EXPECT_EQ(vb, net.Info(0, va).peer_port);
	EXPECT_EQ(1u, log->Count(ST_OP_CONNECTION_ANSWER, 1, 0));
}

TEST(ConnectTest, AcceptOnOpenVcFails)
{
	Net net(2);
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	EXPECT_LT(st_accept(net.eng(1), vp.b), 0);
	EXPECT_LT(st_accept(net.eng(0), vp.a), 0);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vp.b).state);
}

TEST(ConnectTest, ManyVcsBetweenTheSamePair)
{
	Net net(2);
	std::vector<VcPair> vcs;
	std::set<uint16_t> a_ports, b_ports;
	std::set<uint32_t> b_keys;
	for (int i = 0; i < 32; i++) {
		ConnectOptions o;
		o.user_ctx = 1000 + i;
		VcPair vp = net.Connect(0, 1, o);
		ASSERT_TRUE(vp.ok()) << "VC " << i;
		vcs.push_back(vp);
		a_ports.insert(vp.a);
		b_ports.insert(vp.b);
		b_keys.insert(net.Info(1, vp.b).local_key);
	}
	EXPECT_EQ(32u, a_ports.size());
	EXPECT_EQ(32u, b_ports.size());
	EXPECT_EQ(32u, b_keys.size()) << "every VC gets its own key";
	for (const VcPair &vp : vcs) {
		EXPECT_EQ(vp.b, net.Info(0, vp.a).peer_port);
		EXPECT_EQ(vp.a, net.Info(1, vp.b).peer_port);
	}
	// Closing one leaves the others open.
	ASSERT_TRUE(net.Disconnect(0, vcs[5].a, 1, vcs[5].b));
	net.RunUntilIdle();
	for (size_t i = 0; i < vcs.size(); i++) {
		if (i == 5)
			continue;
		EXPECT_EQ(ST_VC_OPEN, net.Info(0, vcs[i].a).state) << i;
		EXPECT_EQ(ST_VC_OPEN, net.Info(1, vcs[i].b).state) << i;
	}
}

TEST(ConnectTest, ThreeEndpointsEachPairConnected)
{
	Net net(3);
	VcPair ab = net.Connect(0, 1);
	VcPair bc = net.Connect(1, 2);
	VcPair ca = net.Connect(2, 0);
	VcPair ac = net.Connect(0, 2);
	ASSERT_TRUE(ab.ok() && bc.ok() && ca.ok() && ac.ok());
	EXPECT_EQ(0, memcmp(net.Info(0, ab.a).peer, net.ula(1), ST_ULA_LEN));
	EXPECT_EQ(0, memcmp(net.Info(1, bc.a).peer, net.ula(2), ST_ULA_LEN));
	EXPECT_EQ(0, memcmp(net.Info(2, ca.a).peer, net.ula(0), ST_ULA_LEN));
	EXPECT_EQ(0, memcmp(net.Info(0, ac.a).peer, net.ula(2), ST_ULA_LEN));
	EXPECT_EQ(0, memcmp(net.Info(2, ac.b).peer, net.ula(0), ST_ULA_LEN));
	EXPECT_NE(ab.a, ac.a);
	// A state round trip on each VC proves the addressing is right.
	uint64_t ctx = 1;
	for (auto [ep, vc] : std::vector<std::pair<int, uint16_t>>{{0, ab.a}, {1, bc.a}, {2, ca.a}, {0, ac.a}, {2, ac.b}}) {
		ASSERT_EQ(0, st_request_state(net.eng(ep), vc, ctx));
		st_event e = net.WaitEvent(ep, ST_EV_STATE, ctx);
		EXPECT_EQ(ST_OK, e.status);
		EXPECT_EQ(vc, e.vc);
		ctx++;
	}
}

TEST(ConnectTest, DuplicatedRequestConnectionMakesOneVc)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	net.AddLayer<Duplicate>(0, 1, Duplicate::All(ST_OP_REQUEST_CONNECTION));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	net.RunUntilIdle();
	EXPECT_EQ(1u, net.CountEvents(1, ST_EV_CONNECTED)) << net.DumpEvents(1) << log->Trace();
	EXPECT_EQ(1u, net.CountEvents(0, ST_EV_CONNECTED));
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vp.b).state);
	// Every answer B sent names the same VC.
	for (const auto &r : log->Filter(ST_OP_CONNECTION_ANSWER, 1, 0))
		EXPECT_EQ(vp.b, r.h.s_port) << log->Trace();
}

TEST(ConnectTest, LostConnectionAnswerIsRecoveredByRepeat)
{
	Net net(2);
	auto log = net.TapBoth(0, 1);
	net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_CONNECTION_ANSWER));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok()) << log->Trace();
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_CONNECTION, 0, 1)) << log->Trace();
	EXPECT_EQ(2u, log->Count(ST_OP_CONNECTION_ANSWER, 1, 0)) << log->Trace();
	auto ca = log->Filter(ST_OP_CONNECTION_ANSWER, 1, 0);
	EXPECT_EQ(ca[0].h.s_port, ca[1].h.s_port) << "B answered the repeat from the same VC";
	EXPECT_EQ(ca[0].h.offset, ca[1].h.offset) << "same R_Key";
	net.RunUntilIdle();
	EXPECT_EQ(1u, net.CountEvents(1, ST_EV_CONNECTED)) << net.DumpEvents(1);
	EXPECT_GE(net.Counters(0).retransmits, 1u);
}

TEST(ConnectTest, StaleHandlesAnswerEnoent)
{
	Net net(2);
	VcInfo i{};
	EXPECT_EQ(-ENOENT, st_vc_info(net.eng(0), 4321, &i));
	EXPECT_EQ(-ENOENT, st_accept(net.eng(0), 4321));
	EXPECT_EQ(-ENOENT, st_refuse(net.eng(0), 4321, ST_REJ_REFUSED));
	EXPECT_EQ(-ENOENT, st_disconnect(net.eng(0), 4321));
	EXPECT_EQ(-ENOENT, st_request_state(net.eng(0), 4321, 1));
	EXPECT_EQ(-ENOENT, st_set_slots(net.eng(0), 4321, 3));
	EXPECT_EQ(-ENOENT, st_abort(net.eng(0), 4321, 1));
	st_counters c{};
	EXPECT_EQ(-ENOENT, st_get_counters(net.eng(0), 4321, &c));
}

}  // namespace
}  // namespace sttest
