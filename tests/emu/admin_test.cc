// SPDX-License-Identifier: MIT
// admin: Admin micropackets through an in-process chain
// endpoint E1 - switch S1 - switch S2 - endpoint E2, wired with direct
// callbacks (synchronous delivery) or a queue (for round-trip times).
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "admin.h"
#include "route.h"

namespace {

using Ula = std::array<uint8_t, 6>;
using Wire = std::array<uint8_t, 32>;

struct Net;

struct Node {
	struct Resp {
		uint32_t tag;
		int result;
		gsn_admin resp;
		uint64_t rtt;
	};
	struct Addr {
		unsigned port;
		Ula ula;
		int status;
	};

	Net *net = nullptr;
	int id = 0;
	gsn_admin_elem *adm = nullptr;
	gsn_route *rt = nullptr;
	std::vector<Resp> responses;
	std::vector<Addr> addrs;
	int init_calls = 0;
	int init_result = 0;
	int pings_left = 0; // ResponseCallbackMaySendAgain

	~Node()
	{
		gsn_admin_destroy(adm);
		gsn_route_destroy(rt);
	}
	gsn_admin_stats stats() const
	{
		gsn_admin_stats st;
		gsn_admin_get_stats(adm, &st);
		return st;
	}
};

struct Sent {
	int node;
	unsigned port;
	Wire data;
};

struct Net {
	uint64_t now = 0;
	bool queued = false;
	uint64_t hop_ns = 1000;
	std::vector<std::unique_ptr<Node>> nodes;
	std::map<std::pair<int, unsigned>, std::pair<int, unsigned>> wires;
	std::deque<Sent> queue;
	std::vector<Sent> tap;

	void cable(int a, unsigned pa, int b, unsigned pb)
	{
		wires[{a, pa}] = {b, pb};
		wires[{b, pb}] = {a, pa};
	}
	void deliver(const Sent &s)
	{
		auto it = wires.find({s.node, s.port});
		if (it == wires.end())
			return; // nothing on that port
		Node *peer = nodes[it->second.first].get();
		gsn_admin_input(peer->adm, it->second.second, s.data.data());
	}
	void pump()
	{
		while (!queue.empty()) {
			Sent s = queue.front();
			queue.pop_front();
			now += hop_ns;
			deliver(s);
		}
	}
	// Runs virtual time forward by ns, firing every deadline on the way.
	void advance(uint64_t ns)
	{
		uint64_t target = now + ns;
		for (;;) {
			uint64_t d = UINT64_MAX;
			for (auto &n : nodes)
				d = std::min(d, gsn_admin_next_deadline(n->adm));
			if (d > target)
				break;
			now = std::max(now, d);
			for (auto &n : nodes)
				gsn_admin_tick(n->adm);
			pump();
		}
		now = target;
	}
};

int cb_send(void *ctx, unsigned port, const uint8_t data[GSN_ADMIN_LEN])
{
	auto *n = static_cast<Node *>(ctx);
	Sent s{n->id, port, {}};
	memcpy(s.data.data(), data, GSN_ADMIN_LEN);
	n->net->tap.push_back(s);
	if (n->net->queued)
		n->net->queue.push_back(s);
	else
		n->net->deliver(s);
	return 0;
}

uint64_t cb_now(void *ctx)
{
	return static_cast<Node *>(ctx)->net->now;
}

void cb_response(void *ctx, uint32_t tag, int result, const gsn_admin *resp, uint64_t rtt)
{
	auto *n = static_cast<Node *>(ctx);
	Node::Resp r{tag, result, {}, rtt};
	if (resp)
		r.resp = *resp;
	n->responses.push_back(r);
	if (n->pings_left > 0) {
		n->pings_left--;
		uint8_t route[8] = {3, 0};
		EXPECT_EQ(0, gsn_admin_request(n->adm, 0, 2, route, GSN_ADMIN_ARE_YOU_THERE, nullptr,
					       gsn_admin_new_tag(n->adm)));
	}
}

int cb_initialize(void *ctx)
{
	auto *n = static_cast<Node *>(ctx);
	n->init_calls++;
	return n->init_result;
}

void cb_address(void *ctx, unsigned port, const uint8_t *ula, int status)
{
	auto *n = static_cast<Node *>(ctx);
	Node::Addr a{port, {}, status};
	if (ula)
		memcpy(a.ula.data(), ula, 6);
	n->addrs.push_back(a);
}

constexpr Ula kE1 = {0x02, 0x00, 0x00, 0x00, 0x00, 0xE1};
constexpr Ula kE2 = {0x02, 0x00, 0x00, 0x00, 0x00, 0xE2};

int add_node(Net &net, gsn_admin_role role, unsigned nports, const Ula *ula, uint8_t switch_id = 0)
{
	auto n = std::make_unique<Node>();
	n->net = &net;
	n->id = static_cast<int>(net.nodes.size());
	gsn_admin_config cfg;
	gsn_admin_config_default(&cfg);
	cfg.role = role;
	cfg.nports = nports;
	if (role == GSN_ADMIN_ROLE_SWITCH) {
		gsn_route_config rc;
		gsn_route_config_default(&rc);
		rc.switch_id[2] = switch_id;
		rc.nports = nports;
		EXPECT_EQ(0, gsn_route_create(&rc, &n->rt));
		cfg.route = n->rt;
		cfg.has_ula = true;
		gsn_route_switch_ula(n->rt, cfg.ula);
	} else if (ula) {
		cfg.has_ula = true;
		memcpy(cfg.ula, ula->data(), 6);
	}
	gsn_admin_ops ops{};
	ops.send = cb_send;
	ops.now_ns = cb_now;
	ops.response = cb_response;
	ops.initialize = cb_initialize;
	ops.address = cb_address;
	ops.ctx = n.get();
	EXPECT_EQ(0, gsn_admin_create(&cfg, &ops, &n->adm));
	net.nodes.push_back(std::move(n));
	return static_cast<int>(net.nodes.size()) - 1;
}

// E1(port 0) - (port 2) S1 (port 3) - (port 1) S2 (port 0) - (port 0) E2
class AdminChain : public ::testing::Test {
protected:
	void SetUp() override
	{
		e1 = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, &kE1);
		s1 = add_node(net, GSN_ADMIN_ROLE_SWITCH, 4, nullptr, 1);
		s2 = add_node(net, GSN_ADMIN_ROLE_SWITCH, 3, nullptr, 2);
		e2 = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, &kE2);
		net.cable(e1, 0, s1, 2);
		net.cable(s1, 3, s2, 1);
		net.cable(s2, 0, e2, 0);
	}
	Node &n(int i) { return *net.nodes[i]; }
	// One request from E1; returns its single response.
	Node::Resp ask(unsigned hops, std::vector<uint8_t> route, uint8_t cmd,
		       const uint8_t *args = nullptr, uint32_t tag = 0x1234)
	{
		route.resize(8);
		size_t before = n(e1).responses.size();
		EXPECT_EQ(0, gsn_admin_request(n(e1).adm, 0, hops, route.data(), cmd, args, tag));
		net.pump();
		EXPECT_EQ(before + 1, n(e1).responses.size());
		if (n(e1).responses.size() != before + 1)
			return {};
		return n(e1).responses.back();
	}

	Net net;
	int e1 = 0, s1 = 0, s2 = 0, e2 = 0;
};

} // namespace

TEST_F(AdminChain, HopZeroIsAnsweredByTheFirstSwitch)
{
	auto r = ask(0, {}, GSN_ADMIN_WHAT_ARE_YOU, nullptr, 0xCAFE0001u);
	EXPECT_EQ(0, r.result);
	EXPECT_EQ(0xCAFE0001u, r.tag);
	EXPECT_EQ(0xCAFE0001u, r.resp.tag);
	EXPECT_EQ(GSN_ADMIN_WHAT_ARE_YOU, r.resp.cmd);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE, r.resp.flags);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	EXPECT_EQ(0, r.resp.hops);
	EXPECT_EQ(GSN_ADMIN_ROLE_SWITCH, r.resp.args[0]);
	EXPECT_EQ(4, r.resp.args[1]);
	const uint8_t s1_ula[6] = {0x02, 0x00, 0x00, 0x01, 0xFF, 0xFF};
	EXPECT_EQ(0, memcmp(s1_ula, r.resp.args + 2, 6));
	EXPECT_EQ(2, r.resp.args[8]); // the port it came in by
	EXPECT_EQ(1u, n(s1).stats().answered);
	EXPECT_EQ(0u, n(s2).stats().received);
	EXPECT_EQ(1u, n(e1).stats().resp_matched);
}

TEST_F(AdminChain, HopOneIsForwardedOnceAndAnsweredByTheSecondSwitch)
{
	auto r = ask(1, {3}, GSN_ADMIN_WHAT_ARE_YOU);
	EXPECT_EQ(0, r.result);
	EXPECT_EQ(GSN_ADMIN_ROLE_SWITCH, r.resp.args[0]);
	EXPECT_EQ(3, r.resp.args[1]);
	EXPECT_EQ(1, r.resp.args[8]);
	EXPECT_EQ(0, r.resp.hops);
	EXPECT_EQ(2, r.resp.route[0]); // S1 recorded its input port
	EXPECT_EQ(2u, n(s1).stats().forwarded); // the request and the response
	EXPECT_EQ(0u, n(s1).stats().answered);
	EXPECT_EQ(1u, n(s2).stats().answered);
	EXPECT_EQ(0u, n(e2).stats().received);
}

TEST_F(AdminChain, HopTwoReachesTheFarEndpoint)
{
	auto r = ask(2, {3, 0}, GSN_ADMIN_WHAT_ARE_YOU, nullptr, 77);
	EXPECT_EQ(0, r.result);
	EXPECT_EQ(77u, r.resp.tag);
	EXPECT_EQ(GSN_ADMIN_ROLE_ENDPOINT, r.resp.args[0]);
	EXPECT_EQ(1, r.resp.args[1]);
	EXPECT_EQ(0, memcmp(kE2.data(), r.resp.args + 2, 6));
	EXPECT_EQ(0, r.resp.args[8]);
	EXPECT_EQ(2u, n(s1).stats().forwarded);
	EXPECT_EQ(2u, n(s2).stats().forwarded);
	EXPECT_EQ(1u, n(e2).stats().answered);
}

TEST_F(AdminChain, ResponseRetracesTheRecordedPath)
{
	ask(2, {3, 0}, GSN_ADMIN_ARE_YOU_THERE);
	// request: E1 p0 -> S1 p3 -> S2 p0 -> E2; response: E2 p0 -> S2 p1 -> S1 p2 -> E1
	std::vector<std::pair<int, unsigned>> path;
	for (const auto &s : net.tap)
		path.emplace_back(s.node, s.port);
	std::vector<std::pair<int, unsigned>> want = {{e1, 0}, {s1, 3}, {s2, 0},
						      {e2, 0}, {s2, 1}, {s1, 2}};
	EXPECT_EQ(want, path);
	ASSERT_EQ(6u, net.tap.size());
	// on the way out: hop count down, route pointer (status) up, input ports recorded
	EXPECT_EQ(2, net.tap[0].data[0]);
	EXPECT_EQ(0, net.tap[0].data[3]);
	EXPECT_EQ(1, net.tap[1].data[0]);
	EXPECT_EQ(1, net.tap[1].data[3]);
	EXPECT_EQ(2, net.tap[1].data[8]);
	EXPECT_EQ(0, net.tap[2].data[0]);
	EXPECT_EQ(2, net.tap[2].data[3]);
	EXPECT_EQ(1, net.tap[2].data[9]);
	// the answer leaves E2 with hop count 2 and the return path
	EXPECT_EQ(2, net.tap[3].data[0]);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE, net.tap[3].data[2]);
	EXPECT_EQ(2, net.tap[3].data[8]);
	EXPECT_EQ(1, net.tap[3].data[9]);
	EXPECT_EQ(1, net.tap[4].data[0]);
	EXPECT_EQ(0, net.tap[5].data[0]);
	EXPECT_EQ(2u, gsn_admin_wire_vc(net.tap[3].data.data()));
	EXPECT_EQ(1u, gsn_admin_wire_vc(net.tap[0].data.data()));
}

TEST_F(AdminChain, AreYouThereEchoesArgsAndMeasuresRoundTrip)
{
	net.queued = true;
	uint8_t args[16];
	for (int i = 0; i < 16; i++)
		args[i] = static_cast<uint8_t>(0xA0 + i);
	auto r = ask(2, {3, 0}, GSN_ADMIN_ARE_YOU_THERE, args, 9);
	EXPECT_EQ(0, r.result);
	EXPECT_EQ(0, memcmp(args, r.resp.args, 16));
	EXPECT_EQ(6000u, r.rtt); // three links out, three back, 1 us each
	r = ask(0, {}, GSN_ADMIN_ARE_YOU_THERE, args, 10);
	EXPECT_EQ(2000u, r.rtt);
}

TEST_F(AdminChain, UnknownCommandsAreAnsweredInvalid)
{
	auto r = ask(2, {3, 0}, 0x42);
	EXPECT_EQ(GSN_ADMIN_INVALID, r.resp.cmd);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE | GSN_ADMIN_F_ERROR, r.resp.flags);
	EXPECT_EQ(GSN_ADMIN_ST_UNSUPPORTED, r.resp.status);
	EXPECT_EQ(0x42, r.resp.args[0]);
	EXPECT_EQ(0x1234u, r.resp.tag);
	// known but unimplemented, and switch commands at an endpoint
	r = ask(0, {}, GSN_ADMIN_READ_REG);
	EXPECT_EQ(GSN_ADMIN_INVALID, r.resp.cmd);
	EXPECT_EQ(GSN_ADMIN_READ_REG, r.resp.args[0]);
	r = ask(2, {3, 0}, GSN_ADMIN_WHICH_PORT);
	EXPECT_EQ(GSN_ADMIN_INVALID, r.resp.cmd);
	EXPECT_EQ(2u, n(e2).stats().invalid);
	EXPECT_EQ(1u, n(s1).stats().invalid);
}

TEST_F(AdminChain, UnusableRouteByteIsAnsweredByTheForwarder)
{
	auto r = ask(1, {9}, GSN_ADMIN_WHAT_ARE_YOU); // S1 has 4 ports
	EXPECT_EQ(GSN_ADMIN_WHAT_ARE_YOU, r.resp.cmd);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE | GSN_ADMIN_F_ERROR, r.resp.flags);
	EXPECT_EQ(GSN_ADMIN_ST_BAD_ROUTE, r.resp.status);
	r = ask(1, {2}, GSN_ADMIN_WHAT_ARE_YOU); // back out of the input port
	EXPECT_EQ(GSN_ADMIN_ST_BAD_ROUTE, r.resp.status);
	EXPECT_EQ(2u, n(s1).stats().bad_route);
	r = ask(2, {3, 7}, GSN_ADMIN_WHAT_ARE_YOU); // S2 cannot take the second hop
	EXPECT_EQ(GSN_ADMIN_ST_BAD_ROUTE, r.resp.status);
	EXPECT_EQ(1u, n(s2).stats().bad_route);
	EXPECT_EQ(0u, n(e2).stats().received);
}

TEST_F(AdminChain, ResponseCallbackMaySendAgain)
{
	n(e1).pings_left = 4;
	uint8_t route[8] = {3, 0};
	ASSERT_EQ(0, gsn_admin_request(n(e1).adm, 0, 2, route, GSN_ADMIN_ARE_YOU_THERE, nullptr,
				       1000));
	EXPECT_EQ(5u, n(e1).responses.size());
	std::set<uint32_t> tags;
	for (const auto &r : n(e1).responses) {
		EXPECT_EQ(0, r.result);
		tags.insert(r.tag);
	}
	EXPECT_EQ(5u, tags.size());
	EXPECT_EQ(5u, n(e2).stats().answered);
	EXPECT_EQ(UINT64_MAX, gsn_admin_next_deadline(n(e1).adm));
}

TEST_F(AdminChain, SwitchTableCommands)
{
	const Ula x = {0x02, 0x99, 0, 0, 0, 1};
	const Ula y = {0x02, 0x99, 0, 0, 0, 2};
	uint8_t args[16] = {};

	memcpy(args, x.data(), 6);
	args[6] = 2;
	auto r = ask(1, {3}, GSN_ADMIN_SET_ROUTE, args);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	memcpy(args, y.data(), 6);
	args[6] = 1;
	EXPECT_EQ(GSN_ADMIN_ST_OK, ask(1, {3}, GSN_ADMIN_SET_ROUTE, args).resp.status);
	args[6] = 5;
	r = ask(1, {3}, GSN_ADMIN_SET_ROUTE, args);
	EXPECT_EQ(GSN_ADMIN_ST_BAD_PORT, r.resp.status);
	EXPECT_TRUE(gsn_admin_is_error(&r.resp));
	memset(args, 0xFF, 6);
	args[6] = 1;
	EXPECT_EQ(GSN_ADMIN_ST_BAD_ARGS, ask(1, {3}, GSN_ADMIN_SET_ROUTE, args).resp.status);

	memset(args, 0, sizeof(args));
	memcpy(args, x.data(), 6);
	r = ask(1, {3}, GSN_ADMIN_WHICH_PORT, args);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	EXPECT_EQ(2, r.resp.args[6]);
	EXPECT_EQ(GSN_ROUTE_STATIC, r.resp.args[7]);

	memset(args, 0, sizeof(args));
	args[6] = 0; // assign for S2's port 0 (E2's)
	r = ask(1, {3}, GSN_ADMIN_ASSIGN_ULA, args);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	const Ula assigned = {0x02, 0x00, 0x00, 0x02, 0x00, 0x00};
	EXPECT_EQ(0, memcmp(assigned.data(), r.resp.args, 6));
	EXPECT_EQ(0, r.resp.args[6]);

	// list in pages of two
	std::set<Ula> listed;
	unsigned next = 0, pages = 0;
	do {
		memset(args, 0, sizeof(args));
		gsn_put_be16(args, static_cast<uint16_t>(next));
		r = ask(1, {3}, GSN_ADMIN_LIST_ULAS, args);
		EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
		for (int k = 0; k < 2; k++) {
			const uint8_t *slot = r.resp.args + 2 + 7 * k;
			if (slot[0] == GSN_ADMIN_NO_PORT)
				continue;
			Ula u;
			memcpy(u.data(), slot + 1, 6);
			listed.insert(u);
		}
		next = gsn_get_be16(r.resp.args);
		pages++;
	} while (next != 0 && pages < 10);
	EXPECT_EQ(2u, pages);
	EXPECT_EQ((std::set<Ula>{x, y, assigned}), listed);

	// remove x (port 0xFF), then it is not found
	memset(args, 0, sizeof(args));
	memcpy(args, x.data(), 6);
	args[6] = 0xFF;
	EXPECT_EQ(GSN_ADMIN_ST_OK, ask(1, {3}, GSN_ADMIN_SET_ROUTE, args).resp.status);
	r = ask(1, {3}, GSN_ADMIN_WHICH_PORT, args);
	EXPECT_EQ(GSN_ADMIN_ST_NOT_FOUND, r.resp.status);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE | GSN_ADMIN_F_ERROR, r.resp.flags);
	EXPECT_EQ(GSN_ADMIN_NO_PORT, r.resp.args[6]);
}

TEST_F(AdminChain, InitializeAndElementAddressAtTheEndpoint)
{
	auto r = ask(2, {3, 0}, GSN_ADMIN_INITIALIZE);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	EXPECT_EQ(1, n(e2).init_calls);
	n(e2).init_result = -1;
	r = ask(2, {3, 0}, GSN_ADMIN_INITIALIZE);
	EXPECT_EQ(GSN_ADMIN_ST_REFUSED, r.resp.status);
	EXPECT_TRUE(gsn_admin_is_error(&r.resp));

	const Ula fresh = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	uint8_t args[16] = {};
	memcpy(args, fresh.data(), 6);
	r = ask(2, {3, 0}, GSN_ADMIN_ELEMENT_ADDR, args);
	EXPECT_EQ(GSN_ADMIN_ST_OK, r.resp.status);
	ASSERT_EQ(1u, n(e2).addrs.size());
	EXPECT_EQ(0, n(e2).addrs[0].status);
	EXPECT_EQ(fresh, n(e2).addrs[0].ula);
	Ula got{};
	EXPECT_TRUE(gsn_admin_get_ula(n(e2).adm, got.data()));
	EXPECT_EQ(fresh, got);

	memset(args, 0xFF, 6);
	EXPECT_EQ(GSN_ADMIN_ST_BAD_ARGS, ask(2, {3, 0}, GSN_ADMIN_ELEMENT_ADDR, args).resp.status);
	// a switch does not take an element address
	EXPECT_EQ(GSN_ADMIN_INVALID, ask(0, {}, GSN_ADMIN_ELEMENT_ADDR, args).resp.cmd);
}

TEST(AdminElement, MalformedInputIsDroppedAndCounted)
{
	Net net;
	int s = add_node(net, GSN_ADMIN_ROLE_SWITCH, 4, nullptr, 3);
	gsn_admin_elem *adm = net.nodes[s]->adm;
	auto mk = [](uint8_t hops, uint8_t flags, uint8_t status, uint8_t route0) {
		gsn_admin a{};
		a.hops = hops;
		a.cmd = GSN_ADMIN_ARE_YOU_THERE;
		a.flags = flags;
		a.status = status;
		a.route[0] = route0;
		Wire w;
		gsn_admin_encode(&a, w.data());
		return w;
	};
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 0, mk(9, 0, 0, 1).data()));           // hops > 8
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 0, mk(0, 0x40, 0, 0).data()));        // error flag on a request
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 0, mk(3, 0, 6, 1).data()));           // route exhausted
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 0, mk(1, 0x80, 0, 9).data()));        // response to no port
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 0, mk(9, 0x80, 0, 1).data()));        // response hops > 8
	EXPECT_EQ(-EINVAL, gsn_admin_input(adm, 7, mk(0, 0, 0, 0).data()));           // no such port
	EXPECT_EQ(-ENOENT, gsn_admin_input(adm, 0, mk(0, 0x80, 0, 0).data()));        // nobody asked
	EXPECT_TRUE(net.tap.empty());
	auto st = net.nodes[s]->stats();
	EXPECT_EQ(7u, st.received);
	EXPECT_EQ(6u, st.malformed);
	EXPECT_EQ(1u, st.resp_unmatched);
	EXPECT_EQ(0u, st.answered);
	EXPECT_STREQ("bad route", gsn_admin_status_name(GSN_ADMIN_ST_BAD_ROUTE));
	EXPECT_STREQ("which-port", gsn_admin_cmd_name(GSN_ADMIN_WHICH_PORT));
}

TEST(AdminElement, UnansweredRequestTimesOut)
{
	Net net;
	int e = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, &kE1);
	Node &node = *net.nodes[e];
	net.now = 1000;
	ASSERT_EQ(0, gsn_admin_request(node.adm, 0, 0, nullptr, GSN_ADMIN_ARE_YOU_THERE, nullptr, 5));
	EXPECT_EQ(1000u + 500000000u, gsn_admin_next_deadline(node.adm));
	net.advance(499999999);
	EXPECT_TRUE(node.responses.empty());
	net.advance(1);
	ASSERT_EQ(1u, node.responses.size());
	EXPECT_EQ(-ETIMEDOUT, node.responses[0].result);
	EXPECT_EQ(5u, node.responses[0].tag);
	EXPECT_EQ(1u, node.stats().timeouts);
	EXPECT_EQ(UINT64_MAX, gsn_admin_next_deadline(node.adm));
	// bad requests
	EXPECT_EQ(-EINVAL, gsn_admin_request(node.adm, 1, 0, nullptr, 1, nullptr, 6));
	EXPECT_EQ(-EINVAL, gsn_admin_request(node.adm, 0, 9, nullptr, 1, nullptr, 6));
	EXPECT_EQ(-EINVAL, gsn_admin_request(node.adm, 0, 1, nullptr, 1, nullptr, 6));
}

TEST(AdminElement, BusyTagsAndLinkDown)
{
	Net net;
	net.queued = true;
	int e1 = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, &kE1);
	int sw = add_node(net, GSN_ADMIN_ROLE_SWITCH, 2, nullptr, 1);
	net.cable(e1, 0, sw, 0);
	Node &node = *net.nodes[e1];
	ASSERT_EQ(0, gsn_admin_request(node.adm, 0, 0, nullptr, GSN_ADMIN_ARE_YOU_THERE, nullptr, 7));
	EXPECT_EQ(-EBUSY, gsn_admin_request(node.adm, 0, 0, nullptr, 1, nullptr, 7));
	EXPECT_NE(7u, gsn_admin_new_tag(node.adm));
	gsn_admin_link_down(node.adm, 0);
	ASSERT_EQ(1u, node.responses.size());
	EXPECT_EQ(-ENETDOWN, node.responses[0].result);
	net.pump(); // the answer arrives late
	EXPECT_EQ(1u, node.responses.size());
	EXPECT_EQ(1u, node.stats().resp_unmatched);
	// cancel forgets silently
	ASSERT_EQ(0, gsn_admin_request(node.adm, 0, 0, nullptr, 1, nullptr, 8));
	EXPECT_EQ(0, gsn_admin_cancel(node.adm, 8));
	EXPECT_EQ(-ENOENT, gsn_admin_cancel(node.adm, 8));
	EXPECT_EQ(UINT64_MAX, gsn_admin_next_deadline(node.adm));
}

TEST(AdminSwitch, EndpointAcquiresItsUlaAtLinkUp)
{
	Net net;
	int e = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, nullptr);
	int s = add_node(net, GSN_ADMIN_ROLE_SWITCH, 4, nullptr, 7);
	net.cable(e, 0, s, 2);
	Node &ep = *net.nodes[e];
	Ula got{};
	EXPECT_FALSE(gsn_admin_get_ula(ep.adm, got.data()));
	ASSERT_EQ(0, gsn_admin_link_up(ep.adm, 0));
	ASSERT_EQ(1u, ep.addrs.size());
	EXPECT_EQ(0, ep.addrs[0].status);
	EXPECT_EQ(0u, ep.addrs[0].port);
	const Ula want = {0x02, 0x00, 0x00, 0x07, 0x00, 0x02};
	EXPECT_EQ(want, ep.addrs[0].ula);
	EXPECT_TRUE(gsn_admin_get_ula(ep.adm, got.data()));
	EXPECT_EQ(want, got);
	gsn_route_entry re;
	ASSERT_EQ(0, gsn_route_find(net.nodes[s]->rt, want.data(), &re));
	EXPECT_EQ(2u, re.port);
	EXPECT_EQ(GSN_ROUTE_ASSIGNED, re.kind);
	EXPECT_TRUE(ep.responses.empty()); // acquisition is not a user request
	// the next link-up keeps the address
	ASSERT_EQ(0, gsn_admin_link_up(ep.adm, 0));
	EXPECT_EQ(1u, ep.addrs.size());
	EXPECT_EQ(-EOPNOTSUPP, gsn_admin_acquire_ula(net.nodes[s]->adm, 0));
}

TEST(AdminSwitch, AcquisitionRetriesThenReportsTimeout)
{
	Net net;
	int e = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, nullptr); // nothing attached
	Node &ep = *net.nodes[e];
	ASSERT_EQ(0, gsn_admin_link_up(ep.adm, 0));
	EXPECT_EQ(-EALREADY, gsn_admin_acquire_ula(ep.adm, 0));
	net.advance(10ull * 1000 * 1000 * 1000);
	ASSERT_EQ(1u, ep.addrs.size());
	EXPECT_EQ(-ETIMEDOUT, ep.addrs[0].status);
	EXPECT_EQ(4u, ep.stats().requests_sent); // 1 + 3 retries
	EXPECT_EQ(1u, ep.stats().timeouts);
	EXPECT_EQ(4u, net.tap.size());
}

TEST(AdminSwitch, AcquisitionFromAnEndpointPeerIsUnsupported)
{
	Net net;
	int a = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, nullptr);
	int b = add_node(net, GSN_ADMIN_ROLE_ENDPOINT, 1, &kE2);
	net.cable(a, 0, b, 0);
	ASSERT_EQ(0, gsn_admin_link_up(net.nodes[a]->adm, 0));
	ASSERT_EQ(1u, net.nodes[a]->addrs.size());
	EXPECT_EQ(-EOPNOTSUPP, net.nodes[a]->addrs[0].status);
	Ula got{};
	EXPECT_FALSE(gsn_admin_get_ula(net.nodes[a]->adm, got.data()));
	EXPECT_EQ(1u, net.nodes[b]->stats().invalid);
}
