// SPDX-License-Identifier: MIT
//
// GSN Messages between two endpoints over in-memory cables (link_harness.h):
// every size class on every VC, faults, ECRC, malformed Messages, VC limits,
// back-pressure from a stalled consumer, link resets, ADMIN.
#include "link_harness.h"

#include <cerrno>
#include <cstring>

#include <gsn/cable.h>
#include <gsn/crc32c.h>

namespace lktest {
namespace {

constexpr uint32_t kIncA = 0x0a0a0a01u;
constexpr uint32_t kIncB = 0x0b0b0b02u;

struct Two {
	explicit Two(const Faults &ab = Faults(), const Faults &ba = Faults(),
		     const gsn_link_config *la = nullptr, const gsn_link_config *lb = nullptr,
		     const gsn_msg_config *ma = nullptr, const gsn_msg_config *mb = nullptr)
		: a(w, 1, kIncA, la, ma), b(w, 2, kIncB, lb, mb),
		  cable(&w.Connect(a.end, b.end, ab, ba))
	{
	}
	void BringUp()
	{
		a.end.Start();
		b.end.Start();
		ASSERT_TRUE(w.RunUntil([&] { return a.end.Up() && b.end.Up(); }, 30 * kSec));
	}

	World w;
	Endpoint a, b;
	Cable *cable;
};

// Largest PDU a VC carries: the VC's micropackets, less D/S_ULA, M_len, LLC/SNAP.
size_t MaxPdu(unsigned vc)
{
	return gsn_vc_max_message_bytes(vc) - GSN_MSG_PDU_OFFSET;
}

struct Expect {
	unsigned vc;
	Bytes pdu;
	uint16_t ethertype;
};

void ExpectGot(const Endpoint &rx, const Ula &src, const std::vector<Expect> &want)
{
	std::array<std::vector<const Expect *>, 4> per;
	std::array<std::vector<const RxMsg *>, 4> got;

	for (const Expect &e : want)
		per[e.vc].push_back(&e);
	for (const RxMsg &m : rx.got)
		got[m.vc].push_back(&m);
	for (unsigned vc = 0; vc < 4; vc++) {
		ASSERT_EQ(got[vc].size(), per[vc].size()) << "vc " << vc;
		for (size_t i = 0; i < got[vc].size(); i++) {
			const RxMsg &m = *got[vc][i];
			ASSERT_EQ(m.pdu.size(), per[vc][i]->pdu.size()) << "vc " << vc << " #" << i;
			ASSERT_TRUE(m.pdu == per[vc][i]->pdu) << "vc " << vc << " #" << i;
			EXPECT_EQ(m.ethertype, per[vc][i]->ethertype);
			EXPECT_EQ(m.src, src);
			EXPECT_EQ(m.dst, rx.ula);
		}
	}
}

// Every size class the VC allows, by default VC3's too (up to 1 MiB).
std::vector<size_t> SizeClasses(unsigned vc)
{
	std::vector<size_t> s = {0, 1, 7, 8, 9, 23, 24, 25, 31, 32, 33, 40, 41, 56, 100, 1000,
				 MaxPdu(0)};
	if (vc >= 1)
		s.insert(s.end(), {MaxPdu(0) + 1, 4096, 65536, MaxPdu(1)});
	if (vc == 3)
		s.insert(s.end(), {200000, 32768u * 32 - GSN_MSG_PDU_OFFSET});
	return s;
}

std::vector<Expect> QueueAllSizes(Outbox &out, const Ula &dst)
{
	std::vector<Expect> want;
	uint64_t seed = 1;

	for (unsigned vc = 0; vc < 4; vc++)
		for (size_t n : SizeClasses(vc)) {
			uint16_t et = (uint16_t)(0x8000 + seed);
			Bytes pdu = Pattern(seed++, n);
			out.Add(vc, dst, pdu, et);
			want.push_back({vc, pdu, et});
		}
	return want;
}

// One Message made by hand, micropacket by micropacket, on the raw link.
struct RawMsg {
	unsigned vc = 1;
	Ula dst{}, src{};
	uint32_t m_len = 0;     // 0: from the PDU
	Bytes pdu;
	int tail_at = -1;       // index of the TAIL micropacket (-1: the last)
	int error_at = -1;      // micropacket with ERROR
	int extra = 0;          // DATA micropackets after the natural end
	bool good_ecrc = true;
};

// The data of each micropacket of m.
std::vector<std::array<uint8_t, 32>> Layout(const RawMsg &m)
{
	uint32_t m_len = m.m_len ? m.m_len : (uint32_t)m.pdu.size() + GSN_MSG_SNAP_LEN;
	gsn_msg_hdr h{};
	std::memcpy(h.d_ula, m.dst.data(), 6);
	std::memcpy(h.s_ula, m.src.data(), 6);
	h.m_len = m_len;
	h.ethertype = GSN_ETHERTYPE_ST;
	std::memcpy(h.pdu, m.pdu.data(), std::min<size_t>(8, m.pdu.size()));
	std::vector<std::array<uint8_t, 32>> mp(1);
	gsn_msg_hdr_encode(&h, mp[0].data());
	for (size_t off = 8; off < m.pdu.size(); off += 32) {
		std::array<uint8_t, 32> d{};
		std::memcpy(d.data(), m.pdu.data() + off, std::min<size_t>(32, m.pdu.size() - off));
		mp.push_back(d);
	}
	for (int i = 0; i < m.extra; i++)
		mp.push_back({});
	return mp;
}

void SendRaw(LinkEnd &e, const RawMsg &m)
{
	auto mp = Layout(m);
	size_t last = m.tail_at >= 0 ? (size_t)m.tail_at : mp.size() - 1;
	uint32_t crc = 0;

	for (size_t i = 0; i <= last; i++) {
		crc = gsn_ecrc_update(crc, mp[i].data());
		uint16_t ecrc = gsn_ecrc_value(crc) ^ (m.good_ecrc ? 0 : 1);
		ASSERT_EQ(e.Send(m.vc, i ? GSN_MPKT_T_DATA : GSN_MPKT_T_HEADER, mp[i].data(),
				 i == last, (int)i == m.error_at, ecrc),
			  0);
	}
}

// ---- sending ----------------------------------------------------------------

TEST(MsgSend, RejectsBadArgumentsAndOversizeMessages)
{
	Two t;
	Ula d = t.b.ula;
	iovec iov{nullptr, 0};
	EXPECT_EQ(gsn_msg_send(t.a.msg, 4, d.data(), 0x8181, &iov, 1), -EINVAL);
	EXPECT_EQ(gsn_msg_send(t.a.msg, 0, nullptr, 0x8181, &iov, 1), -EINVAL);
	EXPECT_EQ(gsn_msg_send(t.a.msg, 0, d.data(), 0x8181, &iov, -1), -EINVAL);
	EXPECT_EQ(gsn_msg_send(t.a.msg, 0, d.data(), 0x8181, nullptr, 1), -EINVAL);
	iovec nobase{nullptr, 5};
	EXPECT_EQ(gsn_msg_send(t.a.msg, 0, d.data(), 0x8181, &nobase, 1), -EINVAL);
	// the largest PDU of each VC is taken (queued while the link is down) ...
	for (unsigned vc = 0; vc < 3; vc++)
		EXPECT_EQ(t.a.Send(vc, d, Bytes(MaxPdu(vc))), 0) << vc;
	// ... one byte more is too big
	for (unsigned vc = 0; vc < 3; vc++)
		EXPECT_EQ(t.a.Send(vc, d, Bytes(MaxPdu(vc) + 1)), -EMSGSIZE) << vc;
	// VC3: beyond its queue, and beyond the VC's 2^27 micropackets (never touched)
	EXPECT_EQ(t.a.Send(3, d, Bytes(65536u * 32)), -EMSGSIZE);
	iovec huge{reinterpret_cast<void *>(uintptr_t{1}), 0xffffffffull - 23};
	EXPECT_EQ(gsn_msg_send(t.a.msg, 3, d.data(), 0x8181, &huge, 1), -EMSGSIZE);
	EXPECT_EQ(gsn_msg_mpkts(0), 1u);
	EXPECT_EQ(gsn_msg_mpkts(8), 1u);
	EXPECT_EQ(gsn_msg_mpkts(9), 2u);
	EXPECT_EQ(gsn_msg_mpkts(MaxPdu(0)), 68u);
}

TEST(MsgSend, GatherFromSeveralIovecs)
{
	Two t;
	t.BringUp();
	Bytes all = Pattern(3, 1000);
	iovec iov[4] = {{all.data(), 3}, {all.data() + 3, 0}, {all.data() + 3, 500},
			{all.data() + 503, 497}};
	ASSERT_EQ(gsn_msg_send(t.a.msg, 1, t.b.ula.data(), 0x0800, iov, 4), 0);
	t.w.Run(kMs);
	ASSERT_EQ(t.b.got.size(), 1u);
	EXPECT_TRUE(t.b.got[0].pdu == all);
	EXPECT_EQ(t.b.got[0].ethertype, 0x0800);
}

// ---- round trips ------------------------------------------------------------

TEST(MsgRoundTrip, EverySizeClassOnEveryVcByteExactAndInOrder)
{
	Two t;
	t.BringUp();
	Outbox out(t.a);
	auto want = QueueAllSizes(out, t.b.ula);
	out.Pump();
	ASSERT_TRUE(t.w.RunUntil([&] { return t.b.got.size() == want.size(); }, 10 * kSec));
	ExpectGot(t.b, t.a.ula, want);
	auto sa = t.a.Stats(), sb = t.b.Stats();
	size_t bytes = 0;
	for (auto &e : want)
		bytes += e.pdu.size();
	uint64_t tx = 0, rx = 0;
	for (unsigned vc = 0; vc < 4; vc++) {
		tx += sa.tx_bytes[vc];
		rx += sb.rx_bytes[vc];
		EXPECT_EQ(sa.tx_msgs[vc], sb.rx_msgs[vc]);
		EXPECT_EQ(sb.rx_used[vc], 0u);
		EXPECT_EQ(sb.rx_held[vc], 0u);
	}
	EXPECT_EQ(tx, bytes);
	EXPECT_EQ(rx, bytes);
	for (uint64_t d : sb.drops)
		EXPECT_EQ(d, 0u);
	EXPECT_EQ(sa.tx_mpkts, sb.rx_mpkts);
}

TEST(MsgRoundTrip, UnderDropReorderDuplicationAndCorruption)
{
	Faults f;
	f.drop = 0.05;
	f.reorder = 0.02;
	f.dup = 0.02;
	f.corrupt_byte = 1e-4;
	f.seed = 21;
	Faults g = f;
	g.seed = 22;
	gsn_link_config l = LinkCfg(0, 1472);
	Two t(f, g, &l, &l);
	t.BringUp();
	Outbox ab(t.a), ba(t.b);
	auto want_b = QueueAllSizes(ab, t.b.ula);
	std::vector<Expect> want_a;
	for (unsigned i = 0; i < 200; i++) { // some traffic the other way too
		Bytes pdu = Pattern(1000 + i, 40 + i * 7);
		ba.Add(i % 4, t.a.ula, pdu, GSN_ETHERTYPE_IPV4);
		want_a.push_back({i % 4, pdu, GSN_ETHERTYPE_IPV4});
	}
	ab.Pump();
	ba.Pump();
	ASSERT_TRUE(t.w.RunUntil(
		[&] { return t.b.got.size() == want_b.size() && t.a.got.size() == want_a.size(); },
		3600 * kSec));
	ExpectGot(t.b, t.a.ula, want_b);
	ExpectGot(t.a, t.b.ula, want_a);
	auto la = t.a.end.Stats(), lb = t.b.end.Stats();
	EXPECT_GT(la.retx_mpkts, 0u);
	EXPECT_GT(la.lcrc_errors + lb.lcrc_errors, 0u);
	EXPECT_EQ(t.a.Stats().ecrc_errors + t.b.Stats().ecrc_errors, 0u); // LCRC caught it all
	EXPECT_EQ(la.resets + lb.resets, 0u);
}

TEST(MsgInterleave, VcsInterleaveWhileEachMessageStaysContiguous)
{
	Two t;
	t.b.tap = true;
	Outbox out(t.a);
	std::vector<Expect> want;
	for (unsigned i = 0; i < 8; i++) {
		Bytes pdu = Pattern(i, 6000 + i);
		out.Add(1 + i % 3, t.b.ula, pdu);
		want.push_back({1 + i % 3, pdu, GSN_ETHERTYPE_ST});
	}
	out.Pump(); // queued while the link is down: the VCs compete once it is up
	t.BringUp();
	ASSERT_TRUE(t.w.RunUntil([&] { return t.b.got.size() == want.size(); }, kSec));
	ExpectGot(t.b, t.a.ula, want);
	std::array<bool, 4> open{};
	unsigned switches = 0;
	for (size_t i = 0; i < t.b.raw.size(); i++) {
		const gsn_mpkt_ctl &c = t.b.raw[i].ctl;
		if (i && c.vc != t.b.raw[i - 1].ctl.vc)
			switches++;
		if (c.type == GSN_MPKT_T_HEADER) {
			EXPECT_FALSE(open[c.vc]) << "Messages interleaved within VC " << (int)c.vc;
			open[c.vc] = true;
		} else {
			EXPECT_TRUE(open[c.vc]);
		}
		if (c.tail)
			open[c.vc] = false;
	}
	EXPECT_GT(switches, 500u); // micropacket-by-micropacket round-robin
}

// ---- end-to-end check and malformed Messages --------------------------------

TEST(MsgEcrc, DataBitFlippedWithAGoodLcrcIsCaughtAtTheDestination)
{
	Two t;
	t.BringUp();
	bool done = false;
	t.cable->ab.filter = [&](Bytes &fr) {
		for (size_t off = GSN_FRAME_HDR_LEN; !done && off + 40 <= fr.size(); off += 40) {
			uint8_t *mp = fr.data() + off;
			gsn_mpkt_ctl c;
			gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &c);
			if (c.type != GSN_MPKT_T_DATA)
				continue;
			mp[8 + 17] ^= 0x04;
			gsn_put_be16(mp + 6, gsn_mpkt_lcrc(mp + 8, gsn_mpkt_ctl_word(mp)));
			done = true;
		}
		return true;
	};
	ASSERT_EQ(t.a.Send(1, t.b.ula, Pattern(1, 500)), 0);
	t.w.Run(kMs);
	ASSERT_TRUE(done);
	EXPECT_TRUE(t.b.got.empty());
	auto sb = t.b.Stats();
	EXPECT_EQ(sb.ecrc_errors, 1u);
	EXPECT_EQ(sb.drops[GSN_MSG_DROP_ECRC], 1u);
	EXPECT_EQ(t.b.end.Stats().lcrc_errors, 0u);
	EXPECT_EQ(sb.rx_used[1], 0u);
	EXPECT_EQ(t.b.end.Stats().rx_held[1], 0u); // its credits went back
	Bytes next = Pattern(2, 500);
	ASSERT_EQ(t.a.Send(1, t.b.ula, next), 0);
	t.w.Run(kMs);
	ASSERT_EQ(t.b.got.size(), 1u);
	EXPECT_TRUE(t.b.got[0].pdu == next);
}

// Runs one hand-made Message from A to B and returns B's msg drops by reason.
struct RawCase {
	Two t;
	RawCase() { t.BringUp(); }
	void Send(RawMsg m)
	{
		if (m.dst == Ula{})
			m.dst = t.b.ula;
		m.src = t.a.ula;
		SendRaw(t.a.end, m);
		t.w.Run(kMs);
	}
	uint64_t Drops(gsn_msg_drop d) { return t.b.Stats().drops[d]; }
	void ExpectCreditsBack()
	{
		for (unsigned vc = 0; vc < 4; vc++) {
			EXPECT_EQ(t.b.end.Stats().rx_held[vc], 0u);
			EXPECT_EQ(t.b.Stats().rx_used[vc], 0u);
		}
	}
};

TEST(MsgRx, DataWithoutHeaderIsDiscarded)
{
	RawCase r;
	std::array<uint8_t, 32> d{};
	ASSERT_EQ(r.t.a.end.Send(2, GSN_MPKT_T_DATA, d.data()), 0);
	ASSERT_EQ(r.t.a.end.Send(2, GSN_MPKT_T_DATA, d.data(), true), 0);
	r.t.w.Run(kMs);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_NO_HEADER), 1u); // one run, counted once
	EXPECT_TRUE(r.t.b.got.empty());
	r.ExpectCreditsBack();
	RawMsg m;
	m.pdu = Pattern(1, 77);
	r.Send(m);
	ASSERT_EQ(r.t.b.got.size(), 1u);
	EXPECT_TRUE(r.t.b.got[0].pdu == m.pdu);
}

TEST(MsgRx, ErrorBitDiscardsTheMessage)
{
	RawCase r;
	RawMsg m;
	m.pdu = Pattern(1, 200);
	m.error_at = 3;
	r.Send(m);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_ERROR_BIT), 1u);
	EXPECT_TRUE(r.t.b.got.empty());
	r.ExpectCreditsBack();
}

TEST(MsgRx, MicropacketCountMustMatchMlen)
{
	RawCase r;
	RawMsg early;
	early.pdu = Pattern(1, 200); // 7 micropackets ...
	early.tail_at = 4;           // ... TAIL on the fifth
	r.Send(early);
	RawMsg late;
	late.pdu = Pattern(2, 200);
	late.extra = 2; // TAIL two micropackets after M_len's end
	r.Send(late);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_LENGTH), 2u);
	EXPECT_TRUE(r.t.b.got.empty());
	r.ExpectCreditsBack();
}

TEST(MsgRx, HeaderBeforeTailCutsThePartial)
{
	RawCase r;
	RawMsg cut;
	cut.dst = r.t.b.ula;
	cut.src = r.t.a.ula;
	cut.pdu = Pattern(1, 300);
	cut.tail_at = 3;
	auto mp = Layout(cut);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(r.t.a.end.Send(1, i ? GSN_MPKT_T_DATA : GSN_MPKT_T_HEADER, mp[i].data()), 0);
	RawMsg whole;
	whole.pdu = Pattern(2, 300);
	r.Send(whole);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_NO_TAIL), 1u);
	ASSERT_EQ(r.t.b.got.size(), 1u);
	EXPECT_TRUE(r.t.b.got[0].pdu == whole.pdu);
	r.ExpectCreditsBack();
}

TEST(MsgRx, BadHeaderAndBadEcrcAreDiscarded)
{
	RawCase r;
	RawMsg shortlen;
	shortlen.pdu = Pattern(1, 50);
	shortlen.m_len = 7; // shorter than its own LLC/SNAP
	r.Send(shortlen);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_BAD_HEADER), 1u);
	RawMsg bad;
	bad.pdu = Pattern(2, 50);
	bad.good_ecrc = false;
	r.Send(bad);
	EXPECT_EQ(r.Drops(GSN_MSG_DROP_ECRC), 1u);
	EXPECT_EQ(r.t.b.Stats().ecrc_errors, 1u);
	EXPECT_TRUE(r.t.b.got.empty());
	r.ExpectCreditsBack();
}

TEST(MsgVcLimits, OversizeMessagesAreDiscardedAtTheReceiver)
{
	gsn_msg_config mb;
	gsn_msg_config_default(&mb);
	mb.rx_max_mpkts[2] = 100;
	Two t(Faults(), Faults(), nullptr, nullptr, nullptr, &mb);
	t.BringUp();
	// VC0 carries 68 micropackets at most: a HEADER announcing 2161 bytes
	RawMsg big;
	big.vc = 0;
	big.dst = t.b.ula;
	big.src = t.a.ula;
	big.pdu = Pattern(1, 2153);
	SendRaw(t.a.end, big);
	// VC2 is limited to 100 micropackets at B
	RawMsg mid = big;
	mid.vc = 2;
	mid.pdu = Pattern(2, 100 * 32);
	SendRaw(t.a.end, mid);
	t.w.Run(kMs);
	EXPECT_EQ(t.b.Stats().drops[GSN_MSG_DROP_TOO_BIG], 2u);
	EXPECT_TRUE(t.b.got.empty());
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(t.b.end.Stats().rx_held[vc], 0u);
	// the largest that fits still goes through
	Bytes fits = Pattern(3, 100 * 32 - GSN_MSG_PDU_OFFSET);
	ASSERT_EQ(t.a.Send(2, t.b.ula, fits), 0);
	ASSERT_EQ(t.a.Send(0, t.b.ula, Pattern(4, MaxPdu(0))), 0);
	t.w.Run(kMs);
	ASSERT_EQ(t.b.got.size(), 2u);
}

TEST(MsgRx, OnlyOurUlaOrGroupAddressesAreDelivered)
{
	Two t;
	t.BringUp();
	ASSERT_EQ(t.a.Send(1, MakeUla(99), Pattern(1, 64)), 0);
	Ula bcast;
	bcast.fill(0xff);
	ASSERT_EQ(t.a.Send(1, bcast, Pattern(2, 64)), 0);
	t.w.Run(kMs);
	EXPECT_EQ(t.b.Stats().drops[GSN_MSG_DROP_NOT_FOR_US], 1u);
	ASSERT_EQ(t.b.got.size(), 1u);
	EXPECT_EQ(t.b.got[0].dst, bcast);
	EXPECT_EQ(t.b.end.Stats().rx_held[1], 0u);
}

// ---- back-pressure ----------------------------------------------------------

TEST(MsgBackpressure, StalledConsumerStallsTheSenderWithBoundedMemory)
{
	Two t;
	t.BringUp();
	t.b.consume = false;
	Outbox out(t.a);
	std::vector<Expect> want;
	for (unsigned i = 0; i < 300; i++) {
		Bytes pdu = Pattern(i, 4000);
		out.Add(1, t.b.ula, pdu);
		want.push_back({1, pdu, GSN_ETHERTYPE_ST});
	}
	out.Pump();
	t.w.Run(2 * kSec);
	auto sa = t.a.Stats(), sb = t.b.Stats();
	auto la = t.a.end.Stats(), lb = t.b.end.Stats();
	EXPECT_LT(t.b.got.size(), 300u);
	EXPECT_FALSE(out.Empty());
	// bounded: the budget plus what the link lets the sender push into it
	EXPECT_LE(sb.rx_used[1], 2 * 4100u + t.b.end.cfg.rx_credits[1]);
	EXPECT_EQ(sb.rx_held[1], lb.rx_held[1]);
	EXPECT_EQ(lb.rx_held[1], t.b.end.cfg.rx_credits[1]); // every buffer is taken
	EXPECT_EQ(la.tx_credits[1], 0u);
	EXPECT_GT(la.eagain_credit, 0u);                      // the link said -EAGAIN
	EXPECT_GT(sa.tx_eagain, 0u);                          // so did msg
	EXPECT_GT(sa.tx_queued[1], 16384u - 126u);            // its queue is full
	auto d = std::array<uint8_t, 32>{};
	EXPECT_EQ(t.a.end.Send(1, GSN_MPKT_T_DATA, d.data()), -EAGAIN);
	EXPECT_LE(la.unacked, la.window);
	unsigned space0 = t.a.tx_space[1];
	// the consumer resumes
	t.b.consume = true;
	t.b.ReleaseAll();
	ASSERT_TRUE(t.w.RunUntil([&] { return t.b.got.size() == 300; }, 10 * kSec));
	ExpectGot(t.b, t.a.ula, want);
	EXPECT_GT(t.a.tx_space[1], space0);
	EXPECT_EQ(t.b.Stats().rx_used[1], 0u);
}

// ---- resets -----------------------------------------------------------------

TEST(MsgReset, PeerRestartDiscardsThePartialAndTrafficResumes)
{
	Two t;
	t.BringUp();
	int frames = 0;
	t.cable->ab.filter = [&](Bytes &) { return ++frames <= 3; }; // then the cable breaks
	ASSERT_EQ(t.a.Send(1, t.b.ula, Pattern(1, 100000)), 0);
	t.w.Run(10 * kMs);
	EXPECT_GT(t.b.Stats().rx_used[1], 0u); // B holds a partial
	EXPECT_TRUE(t.b.got.empty());
	t.cable->ab.filter = nullptr;
	t.a.Restart(0x0a0a0a11u);
	ASSERT_TRUE(t.w.RunUntil([&] { return t.a.end.Up() && t.b.end.Up() && t.b.end.Stats().ups == 2; },
				 kSec));
	auto sb = t.b.Stats();
	EXPECT_EQ(sb.drops[GSN_MSG_DROP_RESET], 1u);
	EXPECT_EQ(sb.rx_used[1], 0u);
	EXPECT_EQ(t.b.end.Stats().resets, 1u);
	Bytes again = Pattern(2, 100000);
	ASSERT_EQ(t.a.Send(1, t.b.ula, again), 0);
	ASSERT_TRUE(t.w.RunUntil([&] { return t.b.got.size() == 1; }, kSec));
	EXPECT_TRUE(t.b.got[0].pdu == again);
	// every buffer is back: the old partial's and the new Message's
	t.w.Run(kMs);
	EXPECT_EQ(t.a.end.Stats().tx_credits[1], t.b.end.cfg.rx_credits[1]);
}

TEST(MsgReset, SenderDropsTheRestOfAMessageCutByAReset)
{
	Two t;
	t.BringUp();
	t.cable->ab.cut = true;
	Bytes first = Pattern(1, 100000), second = Pattern(2, 5000);
	ASSERT_EQ(t.a.Send(1, t.b.ula, first), 0);
	ASSERT_EQ(t.a.Send(1, t.b.ula, second), 0);
	t.w.Run(kMs);
	EXPECT_GT(t.a.Stats().tx_queued[1], 0u);
	t.cable->ab.Clear();
	t.cable->ab.cut = false;
	t.b.Restart(0x0b0b0b12u);
	ASSERT_TRUE(t.w.RunUntil([&] { return t.b.got.size() == 1; }, kSec));
	EXPECT_TRUE(t.b.got[0].pdu == second);
	EXPECT_EQ(t.a.Stats().tx_aborted, 1u);
	EXPECT_EQ(t.b.Stats().drops[GSN_MSG_DROP_NO_HEADER], 0u);
}

// ---- ADMIN ------------------------------------------------------------------

TEST(MsgAdmin, AdminMicropacketsBypassReassembly)
{
	Two t;
	t.BringUp();
	// an ADMIN in the middle of a Message on the same VC does not disturb it
	ASSERT_EQ(t.a.Send(1, t.b.ula, Pattern(1, 3000)), 0);
	for (uint8_t i = 0; i < 3; i++) {
		std::array<uint8_t, 32> d{};
		d[0] = 8;
		d[1] = (uint8_t)(i + 1);
		ASSERT_EQ(gsn_msg_send_admin(t.a.msg, 1 + i % 2, d.data()), 0);
	}
	t.w.Run(kMs);
	ASSERT_EQ(t.b.admin.size(), 3u);
	for (uint8_t i = 0; i < 3; i++) {
		EXPECT_EQ(t.b.admin[i].ctl.type, GSN_MPKT_T_ADMIN);
		EXPECT_EQ(t.b.admin[i].data[1], i + 1);
	}
	ASSERT_EQ(t.b.got.size(), 1u);
	EXPECT_EQ(t.a.Stats().admin_tx, 3u);
	EXPECT_EQ(t.b.Stats().admin_rx, 3u);
	EXPECT_EQ(t.b.end.Stats().rx_held[1], 0u);
	EXPECT_EQ(gsn_msg_send_admin(t.a.msg, 5, t.b.admin[0].data.data()), -EINVAL);
}

TEST(MsgStats, DropNamesAreDefined)
{
	for (int d = 0; d < GSN_MSG_DROP_MAX; d++)
		EXPECT_STRNE(gsn_msg_drop_name((gsn_msg_drop)d), "?");
}

} // namespace
} // namespace lktest
