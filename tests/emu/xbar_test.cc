// SPDX-License-Identifier: MIT
//
// A switch (gsn_xbar over N links) with endpoints on its ports, all in
// memory (link_harness.h): forwarding by ULA, discards, serialisation per
// output VC, back-pressure through the switch, broadcast, ADMIN, resets.
#include "link_harness.h"

#include <cerrno>
#include <cstring>

namespace lktest {
namespace {

struct Fabric {
	explicit Fabric(unsigned n = 3, bool broadcast = false, const Faults *f = nullptr,
			const gsn_link_config *l = nullptr, unsigned endpoints = ~0u)
		: sw(w, n, 0x5a000000u, broadcast, l)
	{
		for (unsigned i = 0; i < n && i < endpoints; i++) {
			ep.push_back(std::make_unique<Endpoint>(w, (uint8_t)(10 + i), 0xe0000000u + i, l));
			Faults up, down;
			if (f) {
				up = down = *f;
				up.seed = f->seed + 2 * i;
				down.seed = f->seed + 2 * i + 1;
			}
			cables.push_back(&w.Connect(ep[i]->end, sw.Port(i), up, down));
			sw.routes[ep[i]->ula] = (int)i;
		}
	}
	void BringUp()
	{
		for (size_t i = 0; i < ep.size(); i++) {
			ep[i]->end.Start();
			sw.Port((unsigned)i).Start();
		}
		ASSERT_TRUE(w.RunUntil(
			[&] {
				for (size_t i = 0; i < ep.size(); i++)
					if (!ep[i]->end.Up() || !sw.Port((unsigned)i).Up())
						return false;
				return true;
			},
			30 * kSec));
	}
	Endpoint &E(unsigned i) { return *ep[i]; }

	World w;
	Switch sw;
	std::vector<std::unique_ptr<Endpoint>> ep;
	std::vector<Cable *> cables; // endpoint i <-> port i: ab up to the switch
};

struct Sent {
	unsigned src;
	unsigned vc;
	Bytes pdu;
};

// What dst received, per VC and source, equals what was sent to it, in order.
void ExpectDelivered(Fabric &f, unsigned dst, const std::vector<Sent> &sent)
{
	std::map<std::pair<unsigned, Ula>, std::vector<const Bytes *>> want, got;

	for (const Sent &s : sent)
		want[{s.vc, f.E(s.src).ula}].push_back(&s.pdu);
	for (const RxMsg &m : f.E(dst).got)
		got[{m.vc, m.src}].push_back(&m.pdu);
	ASSERT_EQ(got.size(), want.size());
	for (auto &kv : want) {
		auto &g = got[kv.first];
		ASSERT_EQ(g.size(), kv.second.size()) << "vc " << kv.first.first;
		for (size_t i = 0; i < g.size(); i++)
			ASSERT_TRUE(*g[i] == *kv.second[i]) << "vc " << kv.first.first << " #" << i;
	}
}

// No two Messages interleave within a VC of this micropacket stream.
void ExpectContiguous(const std::vector<Mpkt> &raw, unsigned *vc_switches = nullptr)
{
	std::array<bool, 4> open{};
	unsigned sw = 0;

	for (size_t i = 0; i < raw.size(); i++) {
		const gsn_mpkt_ctl &c = raw[i].ctl;
		if (i && c.vc != raw[i - 1].ctl.vc)
			sw++;
		if (c.type == GSN_MPKT_T_HEADER) {
			ASSERT_FALSE(open[c.vc]) << "interleaved on VC " << (int)c.vc << " at " << i;
			open[c.vc] = true;
		} else if (c.type == GSN_MPKT_T_DATA) {
			ASSERT_TRUE(open[c.vc]) << "DATA outside a Message at " << i;
		}
		if (c.tail)
			open[c.vc] = false;
	}
	if (vc_switches)
		*vc_switches = sw;
}

void ExpectNoHeldCredits(Fabric &f)
{
	for (unsigned p = 0; p < f.sw.ports.size(); p++) {
		auto s = f.sw.Port(p).Stats();
		auto x = f.sw.Stats(p);
		for (unsigned vc = 0; vc < 4; vc++) {
			EXPECT_EQ(s.rx_held[vc], 0u) << "port " << p << " vc " << vc;
			EXPECT_EQ(x.held[vc], 0u);
			EXPECT_EQ(x.lock_owner[vc], -1);
		}
	}
}

// ---- set-up -----------------------------------------------------------------

TEST(XbarCreate, ValidatesConfigAndPorts)
{
	gsn_xbar_ops ops{};
	ops.route = [](void *, const uint8_t *) { return -1; };
	gsn_xbar_config c{};
	gsn_xbar *x = nullptr;
	c.nports = 0;
	EXPECT_EQ(gsn_xbar_create(&c, &ops, &x), -EINVAL);
	c.nports = 65;
	EXPECT_EQ(gsn_xbar_create(&c, &ops, &x), -EINVAL);
	c.nports = 2;
	gsn_xbar_ops noroute{};
	EXPECT_EQ(gsn_xbar_create(&c, &noroute, &x), -EINVAL);
	ASSERT_EQ(gsn_xbar_create(&c, &ops, &x), 0);
	World w;
	LinkEnd a(w, LinkCfg(1), "a");
	EXPECT_EQ(gsn_xbar_attach(x, 2, a.link), -EINVAL);
	EXPECT_EQ(gsn_xbar_attach(x, 0, a.link), 0);
	EXPECT_EQ(gsn_xbar_attach(x, 0, a.link), -EBUSY);
	struct gsn_xbar_port_stats st;
	EXPECT_EQ(gsn_xbar_port_stats(x, 1, &st), 0);
	EXPECT_EQ(gsn_xbar_port_stats(x, 2, &st), -EINVAL);
	gsn_xbar_destroy(x);
	for (int d = 0; d < GSN_XBAR_DROP_MAX; d++)
		EXPECT_STRNE(gsn_xbar_drop_name((gsn_xbar_drop)d), "?");
}

// ---- forwarding -------------------------------------------------------------

TEST(XbarForward, ByUlaBetweenEveryPair)
{
	Fabric f;
	f.BringUp();
	std::vector<std::vector<Sent>> to(3);
	uint64_t seed = 1;
	for (unsigned s = 0; s < 3; s++)
		for (unsigned d = 0; d < 3; d++)
			for (unsigned i = 0; d != s && i < 4; i++) {
				Sent m{s, i, Pattern(seed++, 100 + 900 * i)};
				ASSERT_EQ(f.E(s).Send(m.vc, f.E(d).ula, m.pdu), 0);
				to[d].push_back(m);
			}
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(0).got.size() == 8 && f.E(1).got.size() == 8 &&
					      f.E(2).got.size() == 8; },
				 kSec));
	for (unsigned d = 0; d < 3; d++)
		ExpectDelivered(f, d, to[d]);
	for (unsigned p = 0; p < 3; p++) {
		auto x = f.sw.Stats(p);
		EXPECT_EQ(x.rx_msgs, 8u);
		EXPECT_EQ(x.tx_msgs, 8u);
		EXPECT_EQ(x.rx_mpkts, x.tx_mpkts);
		for (uint64_t d : x.drops)
			EXPECT_EQ(d, 0u);
	}
	f.w.Run(kMs);
	ExpectNoHeldCredits(f);
}

TEST(XbarForward, UnknownUlaIsDiscardedWholeAndCounted)
{
	Fabric f;
	f.BringUp();
	ASSERT_EQ(f.E(0).Send(1, MakeUla(99), Pattern(1, 5000)), 0);
	Bytes ok = Pattern(2, 5000);
	ASSERT_EQ(f.E(0).Send(1, f.E(1).ula, ok), 0);
	f.w.Run(kMs);
	auto x = f.sw.Stats(0);
	EXPECT_EQ(x.drops[GSN_XBAR_DROP_UNKNOWN_ULA], 1u);
	EXPECT_EQ(x.rx_msgs, 2u);
	EXPECT_TRUE(f.E(2).got.empty());
	ASSERT_EQ(f.E(1).got.size(), 1u);
	EXPECT_TRUE(f.E(1).got[0].pdu == ok);
	EXPECT_EQ(f.sw.Stats(1).tx_mpkts, gsn_msg_mpkts(5000)); // nothing of the first
	ExpectNoHeldCredits(f);
}

TEST(XbarForward, HairpinAndDownPortsAreDiscarded)
{
	Fabric f(4, false, nullptr, nullptr, 3); // port 3 has no cable: never up
	f.BringUp();
	f.sw.routes[MakeUla(98)] = 0; // back out of its own input
	f.sw.routes[MakeUla(97)] = 3;
	f.sw.routes[MakeUla(96)] = 9; // no such port
	for (uint8_t u : {98, 97, 96})
		ASSERT_EQ(f.E(0).Send(2, MakeUla(u), Pattern(u, 300)), 0);
	f.w.Run(kMs);
	auto x = f.sw.Stats(0);
	EXPECT_EQ(x.drops[GSN_XBAR_DROP_HAIRPIN], 1u);
	EXPECT_EQ(x.drops[GSN_XBAR_DROP_PORT_DOWN], 1u);
	EXPECT_EQ(x.drops[GSN_XBAR_DROP_UNKNOWN_ULA], 1u);
	for (unsigned i = 0; i < 3; i++)
		EXPECT_TRUE(f.E(i).got.empty());
	EXPECT_EQ(f.sw.Port(0).Stats().rx_held[2], 0u);
}

// ---- serialisation ----------------------------------------------------------

TEST(XbarSerialise, TwoInputsToOneOutputNeverInterleaveOnAVc)
{
	Fabric f;
	f.E(2).tap = true;
	Outbox o0(f.E(0)), o1(f.E(1));
	std::vector<Sent> sent;
	for (unsigned i = 0; i < 20; i++) {
		Sent a{0, 1, Pattern(100 + i, 5000 + i)}, b{1, 1, Pattern(200 + i, 7000 - i)};
		o0.Add(1, f.E(2).ula, a.pdu);
		o1.Add(1, f.E(2).ula, b.pdu);
		sent.push_back(a);
		sent.push_back(b);
	}
	o0.Pump();
	o1.Pump();
	f.BringUp();
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 40; }, 10 * kSec));
	ExpectDelivered(f, 2, sent);
	ExpectContiguous(f.E(2).raw);
	EXPECT_GT(f.sw.Stats(0).lock_waits + f.sw.Stats(1).lock_waits, 0u);
	// the output VC is handed over in turn: neither input monopolises it
	unsigned alternations = 0;
	for (size_t i = 1; i < f.E(2).got.size(); i++)
		alternations += f.E(2).got[i].src != f.E(2).got[i - 1].src;
	EXPECT_GT(alternations, 10u);
	f.w.Run(kMs);
	ExpectNoHeldCredits(f);
}

TEST(XbarSerialise, DifferentVcsInterleaveOnOneOutput)
{
	gsn_link_config l = LinkCfg(0);
	for (unsigned vc = 0; vc < 4; vc++)
		l.rx_credits[vc] = 32; // the output's credits pace both VCs
	Fabric f(3, false, nullptr, &l);
	f.E(2).tap = true;
	std::vector<Sent> sent;
	for (unsigned i = 0; i < 4; i++) {
		Sent a{0, 1, Pattern(300 + i, 20000)}, b{1, 2, Pattern(400 + i, 20000)};
		ASSERT_EQ(f.E(0).Send(a.vc, f.E(2).ula, a.pdu), 0);
		ASSERT_EQ(f.E(1).Send(b.vc, f.E(2).ula, b.pdu), 0);
		sent.push_back(a);
		sent.push_back(b);
	}
	f.BringUp();
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 8; }, 10 * kSec));
	ExpectDelivered(f, 2, sent);
	unsigned switches = 0;
	ExpectContiguous(f.E(2).raw, &switches);
	EXPECT_GT(switches, 100u);
	EXPECT_EQ(f.sw.Stats(0).lock_waits + f.sw.Stats(1).lock_waits, 0u);
}

// ---- back-pressure ----------------------------------------------------------

TEST(XbarBackpressure, StalledConsumerStallsTheSenderThroughTheSwitch)
{
	Fabric f;
	f.BringUp();
	f.E(2).consume = false;
	Outbox o0(f.E(0));
	std::vector<Sent> sent;
	for (unsigned i = 0; i < 300; i++) {
		Sent m{0, 1, Pattern(i, 4000)};
		o0.Add(1, f.E(2).ula, m.pdu);
		sent.push_back(m);
	}
	o0.Pump();
	f.w.Run(2 * kSec);
	EXPECT_FALSE(o0.Empty());
	EXPECT_LT(f.E(2).got.size(), 300u);
	auto x0 = f.sw.Stats(0);
	unsigned credits = f.sw.Port(0).cfg.rx_credits[1];
	EXPECT_EQ(x0.held[1], credits); // the switch holds what port 0 announced ...
	EXPECT_LE(x0.held_max[1], credits); // ... and never more
	EXPECT_EQ(f.E(0).end.Stats().tx_credits[1], 0u);
	EXPECT_GT(f.E(0).end.Stats().eagain_credit, 0u);
	EXPECT_GT(f.E(0).Stats().tx_eagain, 0u);
	EXPECT_EQ(f.sw.Port(2).Stats().tx_credits[1], 0u);
	// another VC to the same endpoint still flows
	Bytes other = Pattern(999, 3000);
	ASSERT_EQ(f.E(1).Send(2, f.E(2).ula, other), 0);
	size_t before = f.E(2).got.size();
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == before + 1; }, kSec));
	EXPECT_TRUE(f.E(2).got.back().pdu == other);
	f.E(2).got.pop_back();
	f.E(2).kept.pop_back();
	gsn_msg_release(f.E(2).msg, 2, gsn_msg_mpkts(3000));
	// resume
	f.E(2).consume = true;
	f.E(2).ReleaseAll();
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 300; }, 10 * kSec));
	ExpectDelivered(f, 2, sent);
	f.w.Run(kMs);
	ExpectNoHeldCredits(f);
}

// ---- broadcast --------------------------------------------------------------

TEST(XbarBroadcast, CopiedToEveryOtherPortWhenEnabled)
{
	Ula all;
	all.fill(0xff);
	{
		Fabric f(3, true);
		f.BringUp();
		f.E(2).consume = false; // the slowest port holds every copy back
		Bytes m = Pattern(5, 3000);
		Outbox o(f.E(0));
		for (int i = 0; i < 200; i++)
			o.Add(1, all, m);
		o.Pump();
		f.w.Run(100 * kMs);
		EXPECT_GT(f.E(1).got.size(), 0u);
		EXPECT_LT(f.E(1).got.size(), 200u);
		EXPECT_LE(f.E(1).got.size(), f.E(2).got.size() + 1);
		f.E(2).consume = true;
		f.E(2).ReleaseAll();
		ASSERT_TRUE(f.w.RunUntil([&] { return f.E(1).got.size() == 200 && f.E(2).got.size() == 200; },
					 kSec));
		EXPECT_TRUE(f.E(0).got.empty());
		EXPECT_TRUE(f.E(1).got[0].pdu == m);
		EXPECT_EQ(f.E(1).got.size(), f.E(2).got.size());
		EXPECT_EQ(f.sw.Stats(0).bcast_msgs, f.E(1).got.size());
		EXPECT_EQ(f.sw.Stats(1).tx_msgs, f.sw.Stats(2).tx_msgs);
		f.w.Run(kMs);
		ExpectNoHeldCredits(f);
	}
	{
		Fabric f(3, false);
		f.BringUp();
		ASSERT_EQ(f.E(0).Send(1, all, Pattern(6, 300)), 0);
		f.w.Run(kMs);
		EXPECT_EQ(f.sw.Stats(0).drops[GSN_XBAR_DROP_BROADCAST_OFF], 1u);
		EXPECT_TRUE(f.E(1).got.empty());
		EXPECT_TRUE(f.E(2).got.empty());
	}
}

// ---- ADMIN ------------------------------------------------------------------

TEST(XbarAdmin, AdminMicropacketsGoToTheAdminCallback)
{
	Fabric f;
	f.BringUp();
	std::array<uint8_t, 32> d{};
	d[0] = 0;
	d[1] = 0x05;
	ASSERT_EQ(gsn_msg_send_admin(f.E(1).msg, 1, d.data()), 0);
	f.w.Run(kMs);
	ASSERT_EQ(f.sw.admin.size(), 1u);
	EXPECT_EQ(f.sw.admin[0].first, 1u);
	EXPECT_EQ(f.sw.admin[0].second.ctl.type, GSN_MPKT_T_ADMIN);
	EXPECT_EQ(f.sw.admin[0].second.data, d);
	EXPECT_EQ(f.sw.Stats(1).admin_rx, 1u);
	EXPECT_TRUE(f.E(0).got.empty() && f.E(2).got.empty() && f.E(0).admin.empty());
	ExpectNoHeldCredits(f);
}

// ---- resets -----------------------------------------------------------------

TEST(XbarReset, InputRestartMidMessageEndsItWithAnErrorTail)
{
	Fabric f;
	f.BringUp();
	int frames = 0;
	f.cables[0]->ab.filter = [&](Bytes &) { return ++frames <= 2; };
	ASSERT_EQ(f.E(0).Send(1, f.E(2).ula, Pattern(1, 100000)), 0);
	f.w.Run(5 * kMs);
	EXPECT_GT(f.sw.Stats(2).tx_mpkts, 0u); // part of it went on to E2
	EXPECT_EQ(f.sw.Stats(2).lock_owner[1], 0);
	// meanwhile E1 queues behind the lock on E2's VC1
	Bytes waiting = Pattern(2, 2000);
	ASSERT_EQ(f.E(1).Send(1, f.E(2).ula, waiting), 0);
	f.w.Run(kMs);
	EXPECT_TRUE(f.E(2).got.empty());
	f.cables[0]->ab.filter = nullptr;
	f.E(0).Restart(0xe0000100u);
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 1; }, kSec));
	EXPECT_TRUE(f.E(2).got[0].pdu == waiting);
	EXPECT_EQ(f.sw.Stats(0).drops[GSN_XBAR_DROP_INPUT_RESET], 1u);
	EXPECT_EQ(f.sw.Stats(2).aborts_sent, 1u);
	EXPECT_EQ(f.E(2).Stats().drops[GSN_MSG_DROP_ERROR_BIT], 1u);
	// the restarted endpoint is reachable and can send again
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(0).end.Up() && f.sw.Port(0).Up(); }, kSec));
	Bytes again = Pattern(3, 100000);
	ASSERT_EQ(f.E(0).Send(1, f.E(2).ula, again), 0);
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 2; }, kSec));
	EXPECT_TRUE(f.E(2).got[1].pdu == again);
	f.w.Run(kMs);
	ExpectNoHeldCredits(f);
}

TEST(XbarReset, OutputRestartDiscardsTheRestOfCrossingMessages)
{
	Fabric f;
	f.BringUp();
	int frames = 0;
	f.cables[2]->ba.filter = [&](Bytes &) { return ++frames <= 2; }; // switch -> E2 breaks
	ASSERT_EQ(f.E(0).Send(1, f.E(2).ula, Pattern(1, 100000)), 0);
	f.w.Run(5 * kMs);
	f.cables[2]->ba.filter = nullptr;
	f.cables[2]->ba.Clear();
	f.E(2).Restart(0xe0000200u);
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).end.Up() && f.sw.Port(2).Up() &&
					      f.sw.Port(2).Stats().ups == 2; },
				 kSec));
	f.w.Run(100 * kMs);
	EXPECT_EQ(f.sw.Stats(0).drops[GSN_XBAR_DROP_OUTPUT_RESET], 1u);
	EXPECT_TRUE(f.E(2).got.empty());
	Bytes next = Pattern(2, 100000);
	ASSERT_EQ(f.E(0).Send(1, f.E(2).ula, next), 0);
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(2).got.size() == 1; }, kSec));
	EXPECT_TRUE(f.E(2).got[0].pdu == next);
	EXPECT_EQ(f.E(2).Stats().drops[GSN_MSG_DROP_NO_HEADER], 0u);
	f.w.Run(kMs);
	ExpectNoHeldCredits(f);
}

// ---- faults -----------------------------------------------------------------

TEST(XbarLossy, ForwardsEverythingUnderFaultsOnEveryCable)
{
	Faults fl;
	fl.drop = 0.05;
	fl.reorder = 0.02;
	fl.dup = 0.02;
	fl.corrupt_byte = 1e-4;
	fl.seed = 31;
	gsn_link_config l = LinkCfg(0, 1472);
	Fabric f(3, false, &fl, &l);
	f.BringUp();
	std::vector<std::unique_ptr<Outbox>> out;
	std::vector<std::vector<Sent>> to(3);
	for (unsigned s = 0; s < 3; s++)
		out.push_back(std::make_unique<Outbox>(f.E(s)));
	uint64_t seed = 50;
	for (unsigned i = 0; i < 30; i++)
		for (unsigned s = 0; s < 3; s++) {
			unsigned d = (s + 1 + i % 2) % 3;
			Sent m{s, i % 4, Pattern(seed++, (i * 977) % (i % 4 ? 20000 : 2000))};
			out[s]->Add(m.vc, f.E(d).ula, m.pdu);
			to[d].push_back(m);
		}
	for (auto &o : out)
		o->Pump();
	ASSERT_TRUE(f.w.RunUntil([&] { return f.E(0).got.size() == to[0].size() &&
					      f.E(1).got.size() == to[1].size() &&
					      f.E(2).got.size() == to[2].size(); },
				 3600 * kSec));
	for (unsigned d = 0; d < 3; d++)
		ExpectDelivered(f, d, to[d]);
	uint64_t retx = 0, lcrc = 0;
	for (unsigned p = 0; p < 3; p++) {
		retx += f.sw.Port(p).Stats().retx_mpkts + f.E(p).end.Stats().retx_mpkts;
		lcrc += f.sw.Port(p).Stats().lcrc_errors + f.E(p).end.Stats().lcrc_errors;
		EXPECT_EQ(f.E(p).Stats().ecrc_errors, 0u);
	}
	EXPECT_GT(retx, 0u);
	EXPECT_GT(lcrc, 0u);
}

} // namespace
} // namespace lktest
