// SPDX-License-Identifier: MIT
//
// HIPPI-6400-PH link ends joined by in-memory cables (link_harness.h):
// handshake, data, credits, window, go-back-N under faults, malformed input,
// peer restarts, pacing.
#include "link_harness.h"

#include <cerrno>
#include <cstring>

#include <gsn/cable.h>
#include <gsn/crc32c.h>

namespace lktest {
namespace {

constexpr uint32_t kIncA = 0xa1a1a1a1u;
constexpr uint32_t kIncB = 0xb2b2b2b2u;

struct Pair {
	explicit Pair(const gsn_link_config &ca = LinkCfg(kIncA),
		      const gsn_link_config &cb = LinkCfg(kIncB), const Faults &ab = Faults(),
		      const Faults &ba = Faults())
		: a(w, ca, "A"), b(w, cb, "B"), cable(&w.Connect(a, b, ab, ba))
	{
	}
	void BringUp()
	{
		a.Start();
		b.Start();
		ASSERT_TRUE(w.RunUntil([&] { return a.Up() && b.Up(); }, 30 * kSec));
	}

	World w;
	LinkEnd a, b;
	Cable *cable;
};

std::array<uint8_t, 32> MpktData(unsigned vc, uint32_t index)
{
	std::array<uint8_t, 32> d{};
	Bytes p = Pattern(vc * 1000003ull + index, 32);

	std::copy(p.begin(), p.end(), d.begin());
	gsn_put_be32(d.data(), vc);
	gsn_put_be32(d.data() + 4, index);
	return d;
}

// Sends per_vc DATA micropackets on each VC of vcmask, as credits allow.
struct Stream {
	Stream(LinkEnd &s, unsigned n, unsigned mask = 0xf) : src(s), per_vc(n), vcmask(mask)
	{
		src.on_tx_ready = [this](unsigned) { Pump(); };
	}
	void Pump()
	{
		for (bool moved = true; moved;) {
			moved = false;
			for (unsigned vc = 0; vc < 4; vc++) {
				if (!(vcmask & (1u << vc)) || next[vc] >= per_vc)
					continue;
				auto d = MpktData(vc, next[vc]);
				if (src.Send(vc, GSN_MPKT_T_DATA, d.data()) == 0) {
					next[vc]++;
					moved = true;
				}
			}
		}
	}
	bool Sent() const
	{
		for (unsigned vc = 0; vc < 4; vc++)
			if ((vcmask & (1u << vc)) && next[vc] < per_vc)
				return false;
		return true;
	}

	LinkEnd &src;
	unsigned per_vc;
	unsigned vcmask;
	std::array<unsigned, 4> next{};
};

// Every VC of vcmask received exactly per_vc micropackets, in order, intact.
void ExpectStream(const std::vector<Mpkt> &rx, unsigned per_vc, unsigned vcmask = 0xf)
{
	std::array<unsigned, 4> next{};

	for (const Mpkt &m : rx) {
		unsigned vc = m.ctl.vc;
		ASSERT_TRUE(vcmask & (1u << vc));
		ASSERT_EQ(m.ctl.type, GSN_MPKT_T_DATA);
		ASSERT_EQ(m.data, MpktData(vc, next[vc])) << "vc " << vc << " index " << next[vc];
		next[vc]++;
	}
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(next[vc], (vcmask & (1u << vc)) ? per_vc : 0u) << "vc " << vc;
}

// A frame of hand-made micropackets, header-checked.
Bytes BuildFrame(uint32_t inc, uint32_t ext_tseq, uint32_t ext_rseq,
		 const std::vector<std::pair<gsn_mpkt_ctl, std::array<uint8_t, 32>>> &mps,
		 bool seal = true)
{
	Bytes f(gsn_frame_size(mps.size()));
	gsn_frame_hdr h{};

	h.version = GSN_FRAME_VERSION;
	h.count = (uint16_t)mps.size();
	h.incarnation = inc;
	h.ext_tseq = ext_tseq;
	h.ext_rseq = ext_rseq;
	gsn_frame_hdr_encode(&h, f.data());
	for (size_t i = 0; i < mps.size(); i++) {
		gsn_mpkt_ctl c = mps[i].first;
		c.rseq = (uint8_t)ext_rseq;
		gsn_mpkt_encode(&c, mps[i].second.data(), f.data() + GSN_FRAME_HDR_LEN + i * 40);
	}
	if (seal)
		gsn_link_frame_seal(f.data());
	return f;
}

gsn_mpkt_ctl Ctl(unsigned vc, unsigned type, uint8_t tseq = 0)
{
	gsn_mpkt_ctl c{};

	c.vc = (uint8_t)vc;
	c.type = (uint8_t)type;
	c.tseq = tseq;
	return c;
}

uint64_t DropSum(const struct gsn_link_stats &s)
{
	uint64_t n = 0;

	for (uint64_t d : s.drops)
		n += d;
	return n;
}

// True when the frame carries a micropacket of this TYPE.
bool FrameHasType(const Bytes &f, unsigned type)
{
	for (size_t off = GSN_FRAME_HDR_LEN; off + 40 <= f.size(); off += 40) {
		gsn_mpkt_ctl c;
		gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(f.data() + off), &c);
		if (c.type == type)
			return true;
	}
	return false;
}

// ---- configuration ----------------------------------------------------------

TEST(LinkConfig, DefaultsAndValidation)
{
	gsn_link_config c;
	gsn_link_config_default(&c);
	EXPECT_EQ(c.window, 1024u);
	EXPECT_EQ(c.rto_ns, 20 * kMs);
	EXPECT_EQ(c.frame_max, 65507u);
	EXPECT_EQ(c.rx_credits[0], 256u);
	EXPECT_EQ(c.rx_credits[3], 1024u);
	EXPECT_EQ(c.pace_bytes_per_sec, 0u);

	World w;
	gsn_link_ops ops{};
	ops.tx_frame = [](void *, const uint8_t *, size_t) { return 0; };
	ops.rx_mpkt = [](void *, const gsn_mpkt_ctl *, const uint8_t *) {};
	ops.now_ns = [](void *) -> uint64_t { return 0; };
	gsn_link *l = nullptr;
	ASSERT_EQ(gsn_link_create(&c, &ops, &l), 0);
	EXPECT_EQ(gsn_link_state(l), GSN_LINK_DOWN);
	EXPECT_EQ(gsn_link_next_deadline(l), UINT64_MAX);
	EXPECT_EQ(gsn_link_start(l), 0);
	EXPECT_EQ(gsn_link_start(l), -EALREADY);
	gsn_link_destroy(l);

	auto bad = [&](void (*mut)(gsn_link_config &)) {
		gsn_link_config b = c;
		mut(b);
		gsn_link *x = nullptr;
		return gsn_link_create(&b, &ops, &x) == -EINVAL && x == nullptr;
	};
	EXPECT_TRUE(bad([](gsn_link_config &b) { b.incarnation = 0; }));
	EXPECT_TRUE(bad([](gsn_link_config &b) { b.window = 0; }));
	EXPECT_TRUE(bad([](gsn_link_config &b) { b.frame_max = 63; }));
	EXPECT_TRUE(bad([](gsn_link_config &b) { b.rto_ns = 0; }));
	EXPECT_TRUE(bad([](gsn_link_config &b) { b.rx_credits[2] = 40000; }));
	gsn_link_ops no_tx = ops;
	no_tx.tx_frame = nullptr;
	EXPECT_EQ(gsn_link_create(&c, &no_tx, &l), -EINVAL);
}

// ---- handshake --------------------------------------------------------------

TEST(LinkHandshake, BothEndsComeUpAndLearnEachOther)
{
	Pair p;
	p.BringUp();
	auto sa = p.a.Stats(), sb = p.b.Stats();
	EXPECT_EQ(sa.peer_incarnation, kIncB);
	EXPECT_EQ(sb.peer_incarnation, kIncA);
	ASSERT_EQ(p.a.events.size(), 1u);
	EXPECT_EQ(p.a.events[0].first, GSN_LINK_EV_UP);
	EXPECT_EQ(p.a.events[0].second, kIncB);
	EXPECT_EQ(sa.ups, 1u);
	EXPECT_EQ(sa.resets, 0u);
	// the credits each end announced
	for (unsigned vc = 0; vc < 4; vc++) {
		EXPECT_EQ(sa.tx_credits[vc], p.b.cfg.rx_credits[vc]);
		EXPECT_EQ(sb.tx_credits[vc], p.a.cfg.rx_credits[vc]);
	}
	// both directions start at the agreed initial sequence numbers
	EXPECT_EQ(sa.tseq, gsn_link_isn(kIncA, kIncB));
	EXPECT_EQ(sb.rseq, gsn_link_isn(kIncA, kIncB));
	// an idle up link has no timers
	p.w.Run(kSec);
	EXPECT_EQ(gsn_link_next_deadline(p.a.link), UINT64_MAX);
	EXPECT_EQ(gsn_link_next_deadline(p.b.link), UINT64_MAX);
	EXPECT_EQ(p.a.Stats().handshakes_sent, sa.handshakes_sent);
}

TEST(LinkHandshake, LateStarterComesUpAndRetriesBackOff)
{
	Pair p;
	p.a.Start();
	p.w.Run(300 * kMs);
	EXPECT_EQ(gsn_link_state(p.a.link), GSN_LINK_INIT);
	// 20, 40, 80, 160 ms apart: INIT at 0, 20, 60, 140 and 300 ms
	EXPECT_EQ(p.a.Stats().handshakes_sent, 5u);
	EXPECT_EQ(p.b.Stats().drops[GSN_LINK_DROP_STATE], 5u); // B not started
	p.b.Start();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.Up() && p.b.Up(); }, kSec));
	EXPECT_EQ(p.a.Stats().ups, 1u);
	EXPECT_EQ(p.b.Stats().ups, 1u);
}

TEST(LinkHandshake, SurvivesHeavyLoss)
{
	Faults f;
	f.drop = 0.5;
	f.seed = 7;
	Faults g = f;
	g.seed = 8;
	Pair p(LinkCfg(kIncA), LinkCfg(kIncB), f, g);
	p.BringUp();
	EXPECT_GT(p.a.Stats().handshakes_sent + p.b.Stats().handshakes_sent, 2u);
	Stream s(p.a, 200);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 800; }, 60 * kSec));
	ExpectStream(p.b.rx, 200);
}

TEST(LinkHandshake, AckForAnotherIncarnationIsIgnored)
{
	Pair p;
	p.a.Start();
	p.a.out->cut = true;
	// an INIT-ACK from B acknowledging some other incarnation of A
	std::array<uint8_t, 32> d{};
	uint32_t cr[4] = {8, 8, 8, 8};
	gsn_link_hs_encode(cr, kIncB, 0x12345678u, d.data());
	Bytes f = BuildFrame(kIncB, 0, 0, {{Ctl(0, GSN_MPKT_T_INIT_ACK), d}});
	gsn_link_input_frame(p.a.link, f.data(), f.size());
	EXPECT_EQ(gsn_link_state(p.a.link), GSN_LINK_INIT);
	EXPECT_EQ(p.a.Stats().drops[GSN_LINK_DROP_INCARNATION], 1u);
	// the same acknowledging A is taken
	gsn_link_hs_encode(cr, kIncB, kIncA, d.data());
	f = BuildFrame(kIncB, 0, 0, {{Ctl(0, GSN_MPKT_T_INIT_ACK), d}});
	gsn_link_input_frame(p.a.link, f.data(), f.size());
	EXPECT_TRUE(p.a.Up());
	EXPECT_EQ(p.a.Stats().tx_credits[2], 8u);
	// a handshake whose inner incarnation disagrees with the frame's
	gsn_link_hs_encode(cr, 0x999u, kIncA, d.data());
	f = BuildFrame(kIncB, 0, 0, {{Ctl(0, GSN_MPKT_T_INIT), d}});
	gsn_link_input_frame(p.a.link, f.data(), f.size());
	EXPECT_EQ(p.a.Stats().drops[GSN_LINK_DROP_INCARNATION], 2u);
}

TEST(LinkHandshake, StoppedLinkDropsAndReportsDown)
{
	Pair p;
	p.BringUp();
	gsn_link_stop(p.b.link);
	EXPECT_EQ(gsn_link_state(p.b.link), GSN_LINK_DOWN);
	ASSERT_FALSE(p.b.events.empty());
	EXPECT_EQ(p.b.events.back().first, GSN_LINK_EV_DOWN);
	uint64_t before = p.b.Stats().drops[GSN_LINK_DROP_STATE];
	auto d = MpktData(1, 0);
	ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	p.w.Run(10 * kMs);
	EXPECT_GT(p.b.Stats().drops[GSN_LINK_DROP_STATE], before);
	EXPECT_TRUE(p.b.rx.empty());
	EXPECT_EQ(p.b.Send(1, GSN_MPKT_T_DATA, d.data()), -ENOTCONN);
}

// ---- data -------------------------------------------------------------------

TEST(LinkData, InOrderExactlyOnceOnEveryVc)
{
	Pair p;
	p.BringUp();
	Stream s(p.a, 3000);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 12000; }, 10 * kSec));
	ExpectStream(p.b.rx, 3000);
	p.w.Run(kSec);
	auto sa = p.a.Stats(), sb = p.b.Stats();
	EXPECT_EQ(sa.seq_sent, 12000u);
	EXPECT_EQ(sb.seq_delivered, 12000u);
	EXPECT_EQ(sa.retx_mpkts, 0u);
	EXPECT_EQ(DropSum(sb), 0u);
	EXPECT_EQ(sa.unacked, 0u);
	EXPECT_EQ(sa.tseq, sb.rseq);
	// every credit came back
	for (unsigned vc = 0; vc < 4; vc++) {
		EXPECT_EQ(sa.tx_credits[vc], p.b.cfg.rx_credits[vc]);
		EXPECT_EQ(sb.rx_held[vc], 0u);
		EXPECT_EQ(sb.rx_return_pending[vc], 0u);
	}
}

TEST(LinkData, BatchesMicropacketsIntoFrames)
{
	Pair p(LinkCfg(kIncA, 1472), LinkCfg(kIncB));
	p.BringUp();
	uint64_t f0 = p.a.Stats().frames_sent;
	for (uint32_t i = 0; i < 100; i++) {
		auto d = MpktData(1, i);
		ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	}
	// 36 fit in 1472 bytes: two full frames left on their own, the rest waits
	EXPECT_EQ(p.a.Stats().frames_sent - f0, 2u);
	gsn_link_flush(p.a.link);
	EXPECT_EQ(p.a.Stats().frames_sent - f0, 3u);
	std::vector<size_t> sizes;
	p.cable->ab.filter = [&](Bytes &fr) {
		sizes.push_back(fr.size());
		return true;
	};
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 100; }, kSec));
	Stream s(p.a, 500, 0x2);
	s.next[1] = 100;
	p.b.rx.clear();
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 400; }, kSec));
	for (size_t n : sizes)
		EXPECT_LE(n, 1472u);
	EXPECT_EQ(p.a.Stats().mpkts_sent, p.b.Stats().mpkts_rcvd);
}

TEST(LinkData, SendRejectsBadArgumentsAndDownLink)
{
	Pair p;
	auto d = MpktData(0, 0);
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_DATA, d.data()), -ENOTCONN);
	p.BringUp();
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_NULL, d.data()), -EINVAL);
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_CREDIT, d.data()), -EINVAL);
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_INIT, d.data()), -EINVAL);
	EXPECT_EQ(p.a.Send(4, GSN_MPKT_T_DATA, d.data()), -EINVAL);
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_ADMIN, d.data()), 0);
	EXPECT_EQ(p.a.Send(0, GSN_MPKT_T_HEADER, d.data(), true, false, 0x1234), 0);
	p.w.Run(kMs);
	ASSERT_EQ(p.b.rx.size(), 2u);
	EXPECT_EQ(p.b.rx[0].ctl.type, GSN_MPKT_T_ADMIN);
	EXPECT_EQ(p.b.rx[1].ctl.type, GSN_MPKT_T_HEADER);
	EXPECT_TRUE(p.b.rx[1].ctl.tail);
	EXPECT_EQ(p.b.rx[1].ctl.ecrc, 0x1234);
}

TEST(LinkData, OneMicropacketFramesWork)
{
	Pair p(LinkCfg(kIncA, GSN_LINK_MIN_FRAME_MAX), LinkCfg(kIncB, GSN_LINK_MIN_FRAME_MAX));
	p.BringUp();
	Stream s(p.a, 300);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 1200; }, 10 * kSec));
	ExpectStream(p.b.rx, 300);
	EXPECT_EQ(p.a.Stats().frames_sent, p.a.Stats().mpkts_sent);
}

TEST(LinkData, DelayedAckWaitsThenAcks)
{
	gsn_link_config cb = LinkCfg(kIncB);
	cb.ack_delay_ns = 2 * kMs;
	Pair p(LinkCfg(kIncA), cb);
	p.BringUp();
	uint64_t null0 = p.b.Stats().null_sent;
	p.b.auto_consume = false; // no credit return to carry the ack either
	auto d = MpktData(1, 0);
	ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	gsn_link_flush(p.a.link);
	p.w.Run(kMs);
	EXPECT_EQ(p.b.rx.size(), 1u);
	EXPECT_EQ(p.a.Stats().unacked, 1u); // not acked yet
	EXPECT_EQ(p.b.Stats().null_sent, null0);
	p.w.Run(2 * kMs);
	EXPECT_EQ(p.a.Stats().unacked, 0u);
	EXPECT_EQ(p.b.Stats().null_sent, null0 + 1);
	EXPECT_EQ(p.a.Stats().retx_mpkts, 0u);
}

// ---- credits ----------------------------------------------------------------

TEST(LinkCredits, NoCreditMeansEagainUntilConsumed)
{
	gsn_link_config cb = LinkCfg(kIncB);
	cb.rx_credits[1] = 8;
	Pair p(LinkCfg(kIncA), cb);
	p.b.auto_consume = false;
	p.BringUp();
	for (uint32_t i = 0; i < 8; i++) {
		auto d = MpktData(1, i);
		ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	}
	auto d = MpktData(1, 8);
	EXPECT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), -EAGAIN);
	EXPECT_FALSE(gsn_link_can_send(p.a.link, 1));
	EXPECT_TRUE(gsn_link_can_send(p.a.link, 2)); // other VCs unaffected
	p.w.Run(200 * kMs);
	EXPECT_EQ(p.b.rx.size(), 8u);
	EXPECT_EQ(p.b.Stats().rx_held[1], 8u);
	EXPECT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), -EAGAIN);
	EXPECT_EQ(p.a.tx_ready_calls[1], 0u);
	EXPECT_EQ(p.b.Stats().rx_credits_out[1], 0u);
	EXPECT_EQ(p.b.Stats().rx_credits_out[2], 1024u);
	EXPECT_GT(p.a.Stats().eagain_credit, 0u);
	EXPECT_GT(p.a.Stats().credit_probes_sent, 0u); // it asked, B had nothing to give
	gsn_link_consumed(p.b.link, 1, 3);
	gsn_link_flush(p.b.link);
	p.w.Run(kMs);
	EXPECT_EQ(p.a.tx_ready_calls[1], 1u);
	EXPECT_EQ(p.a.Stats().tx_credits[1], 3u);
	EXPECT_EQ(p.b.Stats().credit_sent > 0, true);
	ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
}

TEST(LinkCredits, CreditsRideOnReverseTraffic)
{
	gsn_link_config ca = LinkCfg(kIncA), cb = LinkCfg(kIncB);
	ca.rx_credits[1] = cb.rx_credits[1] = 2;
	Pair p(ca, cb);
	p.BringUp();
	// ping-pong on VC1: each end consumes and answers within the upcall
	unsigned pings = 0, pongs = 0, piggybacked = 0;
	p.b.on_rx = [&](const gsn_mpkt_ctl *c, const uint8_t *) {
		gsn_link_consumed(p.b.link, c->vc, 1);
		piggybacked += c->cr > 0;
		auto d = MpktData(1, pongs++);
		EXPECT_EQ(p.b.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	};
	p.a.on_rx = [&](const gsn_mpkt_ctl *c, const uint8_t *) {
		gsn_link_consumed(p.a.link, c->vc, 1);
		piggybacked += c->cr > 0;
		if (pings < 1000) {
			auto d = MpktData(1, pings++);
			EXPECT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
		}
	};
	auto d = MpktData(1, pings++);
	ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	p.w.Run(kSec);
	EXPECT_EQ(pings, 1000u);
	EXPECT_EQ(pongs, 1000u);
	EXPECT_GE(piggybacked, 1998u); // every answer carried the credit back
	EXPECT_EQ(p.b.Stats().credit_sent, 0u);
	EXPECT_LE(p.a.Stats().credit_sent, 1u); // the last one had nothing to ride on
}

TEST(LinkCredits, AllFourVcsGetTheirCreditsBackInTurn)
{
	gsn_link_config cb = LinkCfg(kIncB);
	for (unsigned vc = 0; vc < 4; vc++)
		cb.rx_credits[vc] = 4;
	Pair p(LinkCfg(kIncA), cb);
	p.BringUp();
	Stream s(p.a, 500);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 2000; }, 10 * kSec));
	ExpectStream(p.b.rx, 500);
	p.w.Run(kSec);
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(p.a.Stats().tx_credits[vc], 4u);
	EXPECT_GT(p.b.Stats().credit_sent, 2000u / 4 / 2);
}

TEST(LinkCredits, LostCreditReturnsAreRecovered)
{
	gsn_link_config cb = LinkCfg(kIncB);
	cb.rx_credits[2] = 16;
	Pair p(LinkCfg(kIncA), cb);
	p.BringUp();
	// lose the first ten frames that return credits
	int lost = 0;
	p.cable->ba.filter = [&](Bytes &fr) {
		if (lost < 10 && FrameHasType(fr, GSN_MPKT_T_CREDIT)) {
			lost++;
			return false;
		}
		return true;
	};
	Stream s(p.a, 400, 0x4);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 400; }, 10 * kSec));
	ExpectStream(p.b.rx, 400, 0x4);
	EXPECT_EQ(lost, 10);
	p.w.Run(kSec);
	EXPECT_EQ(p.a.Stats().tx_credits[2], 16u); // nothing leaked
}

TEST(LinkCredits, MicropacketBeyondTheCreditsIsAnOverrun)
{
	gsn_link_config cb = LinkCfg(kIncB);
	cb.rx_credits[0] = 4;
	Pair p(LinkCfg(kIncA), cb);
	p.b.auto_consume = false;
	p.BringUp();
	// a misbehaving A sends six on VC0 against four credits
	uint32_t s0 = gsn_link_isn(kIncA, kIncB);
	std::vector<std::pair<gsn_mpkt_ctl, std::array<uint8_t, 32>>> mps;
	for (uint32_t i = 0; i < 6; i++)
		mps.push_back({Ctl(0, GSN_MPKT_T_DATA, (uint8_t)(s0 + i)), MpktData(0, i)});
	Bytes f = BuildFrame(kIncA, s0, gsn_link_isn(kIncB, kIncA), mps);
	gsn_link_input_frame(p.b.link, f.data(), f.size());
	EXPECT_EQ(p.b.rx.size(), 4u);
	auto sb = p.b.Stats();
	EXPECT_EQ(sb.drops[GSN_LINK_DROP_OVERRUN], 1u);
	EXPECT_EQ(sb.drops[GSN_LINK_DROP_OUT_OF_SEQ], 1u);
	EXPECT_EQ(sb.rx_held[0], 4u);
}

// ---- window and retransmission ----------------------------------------------

TEST(LinkWindow, FullWindowMeansEagainThenTxReady)
{
	gsn_link_config ca = LinkCfg(kIncA);
	ca.window = 16;
	Pair p(ca, LinkCfg(kIncB));
	p.BringUp();
	p.cable->ba.cut = true; // no acks come back
	for (uint32_t i = 0; i < 16; i++) {
		auto d = MpktData(3, i);
		ASSERT_EQ(p.a.Send(3, GSN_MPKT_T_DATA, d.data()), 0);
	}
	auto d = MpktData(3, 16);
	EXPECT_EQ(p.a.Send(3, GSN_MPKT_T_DATA, d.data()), -EAGAIN);
	EXPECT_EQ(p.a.Stats().eagain_window, 1u);
	EXPECT_EQ(p.a.Stats().unacked, 16u);
	p.w.Run(100 * kMs);
	EXPECT_GT(p.a.Stats().retx_timeouts, 0u);
	EXPECT_EQ(p.b.rx.size(), 16u); // retransmissions were duplicates
	EXPECT_GT(p.b.Stats().drops[GSN_LINK_DROP_DUPLICATE], 0u);
	p.cable->ba.cut = false;
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.tx_ready_calls[3] > 0; }, kSec));
	EXPECT_EQ(p.a.Stats().unacked, 0u);
	EXPECT_EQ(p.a.Send(3, GSN_MPKT_T_DATA, d.data()), 0);
}

TEST(LinkRetransmit, TimeoutResendsTheLostTail)
{
	Pair p;
	p.BringUp();
	bool dropped = false;
	p.cable->ab.filter = [&](Bytes &fr) {
		if (!dropped && FrameHasType(fr, GSN_MPKT_T_DATA)) {
			dropped = true;
			return false;
		}
		return true;
	};
	Stream s(p.a, 10, 0x2);
	s.Pump();
	uint64_t t0 = p.w.now;
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 10; }, kSec));
	ExpectStream(p.b.rx, 10, 0x2);
	EXPECT_EQ(p.a.Stats().retx_timeouts, 1u);
	EXPECT_EQ(p.a.Stats().retx_mpkts, 10u);
	EXPECT_EQ(p.w.now - t0, 20 * kMs); // exactly one rto
}

TEST(LinkRetransmit, DuplicateAcksGoBackBeforeTheTimeout)
{
	Pair p(LinkCfg(kIncA, 1472), LinkCfg(kIncB));
	p.BringUp();
	int n = 0;
	p.cable->ab.filter = [&](Bytes &fr) { return !(FrameHasType(fr, GSN_MPKT_T_DATA) && ++n == 2); };
	Stream s(p.a, 360, 0x2); // ten frames
	uint64_t t0 = p.w.now;
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 360; }, kSec));
	ExpectStream(p.b.rx, 360, 0x2);
	auto sa = p.a.Stats();
	EXPECT_EQ(sa.retx_dupacks, 1u);
	EXPECT_EQ(sa.retx_timeouts, 0u);
	EXPECT_LT(p.w.now - t0, 20 * kMs);
	EXPECT_GT(p.b.Stats().drops[GSN_LINK_DROP_OUT_OF_SEQ], 0u);
}

TEST(LinkRetransmit, LossyCableDeliversEverythingInOrderExactlyOnce)
{
	Faults f;
	f.drop = 0.05;
	f.reorder = 0.02;
	f.dup = 0.02;
	f.corrupt_byte = 1e-4;
	f.seed = 11;
	Faults g = f;
	g.seed = 12;
	Pair p(LinkCfg(kIncA, 1472), LinkCfg(kIncB, 1472), f, g);
	p.BringUp();
	Stream ab(p.a, 5000), ba(p.b, 1000, 0x3);
	ab.Pump();
	ba.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 20000 && p.a.rx.size() == 2000; },
				 600 * kSec));
	ExpectStream(p.b.rx, 5000);
	ExpectStream(p.a.rx, 1000, 0x3);
	auto sa = p.a.Stats(), sb = p.b.Stats();
	EXPECT_GT(sa.retx_mpkts, 0u);
	EXPECT_GT(sa.retx_timeouts + sa.retx_dupacks, 0u);
	EXPECT_GT(sb.lcrc_errors + sa.lcrc_errors, 0u);
	EXPECT_GT(sb.drops[GSN_LINK_DROP_DUPLICATE], 0u);
	EXPECT_GT(sb.drops[GSN_LINK_DROP_OUT_OF_SEQ], 0u);
	EXPECT_GT(p.cable->ab.stats.corrupted, 0u);
	EXPECT_EQ(sa.resets + sb.resets, 0u);
	EXPECT_EQ(sb.seq_delivered, 20000u);
}

TEST(LinkRetransmit, TimeoutBacksOffWhileThePeerIsSilent)
{
	Pair p;
	p.BringUp();
	p.cable->ab.cut = true;
	auto d = MpktData(1, 0);
	ASSERT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	gsn_link_flush(p.a.link);
	std::vector<uint64_t> gaps;
	uint64_t last = p.w.now;
	for (int i = 0; i < 8; i++) {
		uint64_t next = gsn_link_next_deadline(p.a.link);
		gaps.push_back(next - last);
		last = next;
		p.w.now = next;
		gsn_link_tick(p.a.link);
	}
	EXPECT_EQ(gaps[0], 20 * kMs);
	EXPECT_EQ(gaps[1], 40 * kMs);
	EXPECT_EQ(gaps[2], 80 * kMs);
	EXPECT_EQ(gaps[6], 1280 * kMs); // capped at 64 x rto
	EXPECT_EQ(gaps[7], 1280 * kMs);
	p.cable->ab.cut = false;
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 1; }, 2 * kSec));
	p.w.Run(kSec);
	EXPECT_EQ(gsn_link_next_deadline(p.a.link), UINT64_MAX);
}

// ---- malformed input --------------------------------------------------------

TEST(LinkMalformed, RandomBytesAreDroppedAndCounted)
{
	Pair p;
	p.BringUp();
	std::mt19937_64 rng(5);
	auto before = p.b.Stats();
	for (int i = 0; i < 2000; i++) {
		Bytes junk(rng() % 300);
		for (auto &c : junk)
			c = (uint8_t)rng();
		if (i % 3 == 0 && junk.size() >= 4)
			std::memcpy(junk.data(), "GSNL", 4); // get past the magic sometimes
		if (i % 6 == 0 && junk.size() >= 5)
			junk[4] = 1;
		gsn_link_input_frame(p.b.link, junk.data(), junk.size());
	}
	auto after = p.b.Stats();
	EXPECT_EQ(DropSum(after) - DropSum(before), 2000u);
	EXPECT_EQ(after.frames_rcvd, before.frames_rcvd);
	EXPECT_TRUE(p.b.rx.empty());
	EXPECT_TRUE(p.b.Up());
	Stream s(p.a, 100);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 400; }, kSec));
	ExpectStream(p.b.rx, 100);
}

// Captures the next data frame from A to B without delivering it.
Bytes CaptureDataFrame(Pair &p, unsigned count)
{
	Bytes got;
	p.cable->ab.filter = [&](Bytes &fr) {
		if (got.empty() && FrameHasType(fr, GSN_MPKT_T_DATA)) {
			got = fr;
			return false;
		}
		return true;
	};
	for (uint32_t i = 0; i < count; i++) {
		auto d = MpktData(1, i);
		EXPECT_EQ(p.a.Send(1, GSN_MPKT_T_DATA, d.data()), 0);
	}
	gsn_link_flush(p.a.link);
	p.cable->ab.filter = nullptr;
	return got;
}

TEST(LinkMalformed, TruncatedOverlongWrongMagicAndVersion)
{
	Pair p;
	p.BringUp();
	Bytes f = CaptureDataFrame(p, 3);
	ASSERT_EQ(f.size(), gsn_frame_size(3));
	for (size_t cut = 1; cut < 40; cut += 7)
		gsn_link_input_frame(p.b.link, f.data(), f.size() - cut);
	gsn_link_input_frame(p.b.link, f.data(), 10);
	Bytes longer = f;
	longer.push_back(0);
	gsn_link_input_frame(p.b.link, longer.data(), longer.size());
	Bytes magic = f;
	magic[0] = 'X';
	gsn_link_input_frame(p.b.link, magic.data(), magic.size());
	Bytes version = f;
	version[4] = 2;
	gsn_link_input_frame(p.b.link, version.data(), version.size());
	auto s = p.b.Stats();
	EXPECT_EQ(s.drops[GSN_LINK_DROP_LENGTH], 8u);
	EXPECT_EQ(s.drops[GSN_LINK_DROP_MAGIC], 1u);
	EXPECT_EQ(s.drops[GSN_LINK_DROP_VERSION], 1u);
	EXPECT_TRUE(p.b.rx.empty());
	gsn_link_input_frame(p.b.link, f.data(), f.size());
	EXPECT_EQ(p.b.rx.size(), 3u);
}

TEST(LinkMalformed, HeaderCheckAndSequenceDisagreement)
{
	Pair p;
	p.BringUp();
	Bytes f = CaptureDataFrame(p, 2);
	ASSERT_FALSE(f.empty());
	Bytes flipped = f;
	flipped[9] ^= 0x10; // incarnation, unsealed: the header check catches it
	gsn_link_input_frame(p.b.link, flipped.data(), flipped.size());
	EXPECT_EQ(p.b.Stats().drops[GSN_LINK_DROP_HCRC], 1u);
	Bytes seq = f;
	seq[15] ^= 0x01; // ext TSEQ low byte no longer matches the micropackets
	gsn_link_frame_seal(seq.data());
	gsn_link_input_frame(p.b.link, seq.data(), seq.size());
	Bytes ack = f;
	ack[19] ^= 0x04; // ext RSEQ likewise
	gsn_link_frame_seal(ack.data());
	gsn_link_input_frame(p.b.link, ack.data(), ack.size());
	EXPECT_EQ(p.b.Stats().drops[GSN_LINK_DROP_SEQ], 2u);
	// a frame from a stranger
	Bytes other = f;
	gsn_put_be32(other.data() + 8, 0x0badcafe);
	gsn_link_frame_seal(other.data());
	gsn_link_input_frame(p.b.link, other.data(), other.size());
	EXPECT_EQ(p.b.Stats().drops[GSN_LINK_DROP_INCARNATION], 1u);
	// an unsealed frame (flag clear) is accepted as the wire format allows
	Bytes plain = f;
	plain[5] = 0;
	gsn_put_be32(plain.data() + 20, 0);
	gsn_link_input_frame(p.b.link, plain.data(), plain.size());
	EXPECT_EQ(p.b.rx.size(), 2u);
	EXPECT_EQ(p.b.Stats().resets, 0u);
}

TEST(LinkMalformed, BadLcrcCostsOnlyThatMicropacketAndWhatFollows)
{
	Pair p;
	p.BringUp();
	Bytes f = CaptureDataFrame(p, 5);
	ASSERT_EQ(f.size(), gsn_frame_size(5));
	Bytes bad = f;
	bad[GSN_FRAME_HDR_LEN + 2 * 40 + 20] ^= 0x80; // data of the third
	gsn_link_input_frame(p.b.link, bad.data(), bad.size());
	EXPECT_EQ(p.b.rx.size(), 2u);
	auto s = p.b.Stats();
	EXPECT_EQ(s.lcrc_errors, 1u);
	EXPECT_EQ(s.drops[GSN_LINK_DROP_OUT_OF_SEQ], 2u);
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 5; }, kSec)); // resent
	ExpectStream(p.b.rx, 5, 0x2);
}

TEST(LinkMalformed, ReservedTypeIsDroppedAndCounted)
{
	Pair p;
	p.BringUp();
	std::array<uint8_t, 32> d{};
	Bytes f = BuildFrame(kIncA, gsn_link_isn(kIncA, kIncB), gsn_link_isn(kIncB, kIncA),
			     {{Ctl(0, 5), d}, {Ctl(0, 15), d}});
	gsn_link_input_frame(p.b.link, f.data(), f.size());
	EXPECT_EQ(p.b.Stats().drops[GSN_LINK_DROP_RESERVED], 2u);
	EXPECT_TRUE(p.b.Up());
	EXPECT_TRUE(p.b.rx.empty());
}

// ---- restarts ---------------------------------------------------------------

TEST(LinkReset, PeerRestartResetsTheLinkAndTrafficFlowsAgain)
{
	Pair p;
	p.BringUp();
	Stream s1(p.a, 50);
	s1.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 200; }, kSec));
	// B restarts: a new incarnation; A hears RESET, both come back up
	const uint32_t kIncB2 = 0xb3b3b3b3u;
	p.b.Recreate(kIncB2);
	p.b.Start();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.Up() && p.b.Up() && p.a.Stats().ups == 2; },
				 kSec));
	auto sa = p.a.Stats();
	EXPECT_EQ(sa.resets, 1u);
	EXPECT_EQ(sa.peer_incarnation, kIncB2);
	ASSERT_GE(p.a.events.size(), 3u);
	EXPECT_EQ(p.a.events[1].first, GSN_LINK_EV_RESET);
	EXPECT_EQ(p.a.events[1].second, kIncB2);
	EXPECT_EQ(p.a.events[2].first, GSN_LINK_EV_UP);
	EXPECT_EQ(sa.tseq, gsn_link_isn(kIncA, kIncB2));
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(sa.tx_credits[vc], p.b.cfg.rx_credits[vc]);
	Stream s2(p.a, 100), s3(p.b, 100);
	s2.Pump();
	s3.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 400 && p.a.rx.size() == 400; },
				 kSec));
	ExpectStream(p.b.rx, 100);
	ExpectStream(p.a.rx, 100);
}

TEST(LinkReset, LostResetAckIsRetried)
{
	Pair p;
	p.BringUp();
	p.b.Recreate(0xb4b4b4b4u);
	int lost = 0;
	p.cable->ba.filter = [&](Bytes &fr) {
		if (lost < 3 && FrameHasType(fr, GSN_MPKT_T_RESET_ACK)) {
			lost++;
			return false;
		}
		return true;
	};
	uint64_t hs0 = p.a.Stats().handshakes_sent;
	p.b.Start();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.Up() && p.b.Up(); }, 5 * kSec));
	EXPECT_EQ(lost, 3);
	EXPECT_EQ(p.a.Stats().handshakes_sent - hs0, 4u); // one RESET and three retries
	EXPECT_EQ(p.a.Stats().resets, 1u);
	Stream s(p.a, 10);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 40; }, kSec));
}

TEST(LinkReset, FramesOfTheOldIncarnationAreIgnored)
{
	Pair p;
	p.BringUp();
	// remember one of old B's handshakes and one of its data frames
	Bytes old_init, old_data;
	p.cable->ba.filter = [&](Bytes &fr) {
		if (old_data.empty() && FrameHasType(fr, GSN_MPKT_T_DATA))
			old_data = fr;
		return true;
	};
	Stream s(p.b, 5, 0x1);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.rx.size() == 5; }, kSec));
	std::array<uint8_t, 32> d{};
	uint32_t cr[4] = {1, 1, 1, 1};
	gsn_link_hs_encode(cr, kIncB, 0, d.data());
	old_init = BuildFrame(kIncB, 0, 0, {{Ctl(0, GSN_MPKT_T_INIT), d}});
	p.cable->ba.filter = nullptr;
	p.b.Recreate(0xb5b5b5b5u);
	p.b.Start();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.Up() && p.b.Up() && p.a.Stats().ups == 2; },
				 kSec));
	uint64_t inc_drops = p.a.Stats().drops[GSN_LINK_DROP_INCARNATION];
	gsn_link_input_frame(p.a.link, old_init.data(), old_init.size());
	gsn_link_input_frame(p.a.link, old_data.data(), old_data.size());
	EXPECT_EQ(p.a.Stats().drops[GSN_LINK_DROP_INCARNATION], inc_drops + 2);
	EXPECT_EQ(p.a.Stats().resets, 1u);
	EXPECT_TRUE(p.a.Up());
	EXPECT_EQ(p.a.rx.size(), 5u);
}

TEST(LinkReset, SurvivorsFramesFromBeforeTheResetAreIgnored)
{
	Pair p;
	p.BringUp();
	// a frame in which B returns credits to the A of before the restart
	Bytes old_credit;
	p.cable->ba.filter = [&](Bytes &fr) {
		if (old_credit.empty() && FrameHasType(fr, GSN_MPKT_T_CREDIT))
			old_credit = fr;
		return true;
	};
	Stream s(p.a, 300, 0x2);
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.rx.size() == 300; }, kSec));
	ASSERT_FALSE(old_credit.empty());
	p.cable->ba.filter = nullptr;
	p.a.Recreate(0xa2a2a2a2u);
	p.a.Start();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.a.Up() && p.b.Up() && p.b.Stats().ups == 2; },
				 kSec));
	// B kept its incarnation, so the old frame passes the incarnation check;
	// its ack does not fit the new pairing, and its CREDIT counts must not
	// be taken
	gsn_link_input_frame(p.a.link, old_credit.data(), old_credit.size());
	auto sa = p.a.Stats();
	EXPECT_EQ(sa.drops[GSN_LINK_DROP_STALE], 1u);
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(sa.tx_credits[vc], p.b.cfg.rx_credits[vc]);
}

// ---- pacing -----------------------------------------------------------------

TEST(LinkPacing, LimitsTheDataRate)
{
	gsn_link_config ca = LinkCfg(kIncA);
	ca.pace_bytes_per_sec = 800000000ull; // GSN: 800 MB/s of data
	Pair p(ca, LinkCfg(kIncB));
	p.BringUp();
	p.b.record = false;
	Stream s(p.a, 6250);
	uint64_t t0 = p.w.now;
	s.Pump();
	ASSERT_TRUE(p.w.RunUntil([&] { return p.b.Stats().seq_delivered == 25000; }, 10 * kSec));
	// 25000 x 32 bytes at 800e6 B/s = 1 ms, less the initial burst (one
	// frame: 1637 micropackets, 65.5 us)
	uint64_t took = p.w.now - t0;
	EXPECT_GE(took, 920 * kUs);
	EXPECT_LE(took, 1000 * kUs); // bursts come a frame at a time
	EXPECT_GT(p.a.Stats().eagain_pace, 0u);
}

TEST(LinkStats, NamesAreDefined)
{
	for (int d = 0; d < GSN_LINK_DROP_MAX; d++)
		EXPECT_STRNE(gsn_link_drop_name((gsn_link_drop)d), "?");
	EXPECT_STREQ(gsn_link_state_name(GSN_LINK_UP), "UP");
	EXPECT_STREQ(gsn_link_event_name(GSN_LINK_EV_RESET), "RESET");
}

} // namespace
} // namespace lktest
