// SPDX-License-Identifier: MIT
//
// gsn_msg_link_rx_run() against gsn_msg_link_rx(): one stream of
// micropackets — good Messages interleaved on several VCs, ADMIN
// micropackets, and every kind of bad Message reassembly discards — fed to
// one msg a micropacket at a time and to another in runs of varying length
// must give the same Messages, the same drops and the same counters,
// including the budget's held credits when Messages are kept.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gsn/message.h>

#include "link.h"
#include "msg.h"

namespace {

using Bytes = std::vector<uint8_t>;
using Ula = std::array<uint8_t, GSN_ULA_LEN>;

const Ula kUs = {0x02, 0, 0, 0, 0, 0x11};
const Ula kThem = {0x02, 0, 0, 0, 0, 0x22};

enum class Flaw { kNone, kErrorBit, kBadEcrc, kTooLong, kNoTail };

// Appends a Message's micropackets in cable form to stream.
void AppendMessage(Bytes &stream, unsigned vc, const Ula &dst, const Bytes &pdu, Flaw flaw)
{
	uint32_t m_len = static_cast<uint32_t>(pdu.size()) + GSN_MSG_SNAP_LEN;
	uint32_t nm = gsn_message_mpkt_count(m_len);
	Bytes data(static_cast<size_t>(nm) * GSN_MPKT_DATA, 0);
	gsn_msg_hdr h{};

	h.m_len = m_len;
	h.ethertype = GSN_ETHERTYPE_ST;
	memcpy(h.d_ula, dst.data(), GSN_ULA_LEN);
	memcpy(h.s_ula, kThem.data(), GSN_ULA_LEN);
	memcpy(h.pdu, pdu.data(), std::min<size_t>(pdu.size(), GSN_MSG_PDU_IN_HDR));
	gsn_msg_hdr_encode(&h, data.data());
	if (pdu.size() > GSN_MSG_PDU_IN_HDR)
		memcpy(data.data() + GSN_MPKT_DATA, pdu.data() + GSN_MSG_PDU_IN_HDR,
		       pdu.size() - GSN_MSG_PDU_IN_HDR);
	uint32_t count = flaw == Flaw::kTooLong ? nm + 1 : flaw == Flaw::kNoTail ? nm - 1 : nm;
	data.resize(static_cast<size_t>(count) * GSN_MPKT_DATA, 0x5a);
	uint32_t ecrc = 0;

	for (uint32_t i = 0; i < count; i++) {
		gsn_mpkt_ctl c{};
		uint8_t mp[GSN_MPKT_LEN];

		ecrc = gsn_ecrc_update(ecrc, data.data() + i * GSN_MPKT_DATA);
		c.vc = static_cast<uint8_t>(vc);
		c.type = i ? GSN_MPKT_T_DATA : GSN_MPKT_T_HEADER;
		c.tail = i + 1 == count && flaw != Flaw::kNoTail;
		c.error = flaw == Flaw::kErrorBit && i == count / 2;
		c.ecrc = gsn_ecrc_value(ecrc);
		if (flaw == Flaw::kBadEcrc && c.tail)
			c.ecrc ^= 1;
		gsn_mpkt_encode(&c, data.data() + i * GSN_MPKT_DATA, mp);
		stream.insert(stream.end(), mp, mp + GSN_MPKT_LEN);
	}
}

void AppendLone(Bytes &stream, unsigned vc, unsigned type, bool tail)
{
	gsn_mpkt_ctl c{};
	uint8_t data[GSN_MPKT_DATA], mp[GSN_MPKT_LEN];

	memset(data, 0x33, sizeof(data));
	c.vc = static_cast<uint8_t>(vc);
	c.type = static_cast<uint8_t>(type);
	c.tail = tail;
	gsn_mpkt_encode(&c, data, mp);
	stream.insert(stream.end(), mp, mp + GSN_MPKT_LEN);
}

Bytes Pdu(size_t len, unsigned seed)
{
	Bytes p(len);

	for (size_t i = 0; i < len; i++)
		p[i] = static_cast<uint8_t>(seed * 131 + i * 7);
	return p;
}

// Interleaves whole Messages of different VCs micropacket by micropacket,
// as a link carrying several VCs does.
Bytes Interleave(const std::vector<Bytes> &streams)
{
	Bytes out;
	std::vector<size_t> at(streams.size(), 0);
	bool more = true;

	for (size_t round = 0; more; round++) {
		more = false;
		for (size_t s = 0; s < streams.size(); s++) {
			size_t take = (round + s) % 3 + 1; // uneven slices
			for (size_t k = 0; k < take && at[s] < streams[s].size(); k++) {
				out.insert(out.end(), streams[s].begin() + static_cast<long>(at[s]),
					   streams[s].begin() + static_cast<long>(at[s] + GSN_MPKT_LEN));
				at[s] += GSN_MPKT_LEN;
			}
			more |= at[s] < streams[s].size();
		}
	}
	return out;
}

struct Delivered {
	unsigned vc;
	Bytes pdu;
	bool operator==(const Delivered &o) const { return vc == o.vc && pdu == o.pdu; }
};

struct Sink {
	gsn_link *link = nullptr;
	gsn_msg *msg = nullptr;
	std::vector<Delivered> got;
	std::vector<Bytes> admin;
	unsigned keep_every = 0; // deliver() keeps every Nth Message
	unsigned n = 0;

	explicit Sink(unsigned keep)
		: keep_every(keep)
	{
		gsn_link_config lc;
		gsn_link_ops lo{};
		gsn_msg_config mc;
		gsn_msg_ops mo{};

		gsn_link_config_default(&lc);
		lo.tx_frame = [](void *, const uint8_t *, size_t) { return 0; };
		lo.rx_mpkt = [](void *, const gsn_mpkt_ctl *, const uint8_t *) {};
		lo.now_ns = [](void *) -> uint64_t { return 1; };
		EXPECT_EQ(gsn_link_create(&lc, &lo, &link), 0);
		gsn_msg_config_default(&mc);
		memcpy(mc.ula, kUs.data(), GSN_ULA_LEN);
		for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
			mc.rx_max_mpkts[vc] = 64;
			mc.rx_budget_mpkts[vc] = 64;
		}
		mo.deliver = Deliver;
		mo.admin = Admin;
		mo.ctx = this;
		EXPECT_EQ(gsn_msg_create(&mc, link, &mo, &msg), 0);
	}
	~Sink()
	{
		gsn_msg_destroy(msg);
		gsn_link_destroy(link);
	}
	Sink(const Sink &) = delete;
	Sink &operator=(const Sink &) = delete;

	static bool Deliver(void *ctx, unsigned vc, const uint8_t *, const uint8_t *, uint16_t,
			    const uint8_t *pdu, size_t len)
	{
		Sink *s = static_cast<Sink *>(ctx);

		s->got.push_back({vc, Bytes(pdu, pdu + len)});
		return !(s->keep_every && ++s->n % s->keep_every == 0);
	}
	static void Admin(void *ctx, const gsn_mpkt_ctl *, const uint8_t data[32])
	{
		static_cast<Sink *>(ctx)->admin.push_back(Bytes(data, data + 32));
	}
};

void ExpectSameStats(const gsn_msg *a, const gsn_msg *b)
{
	struct gsn_msg_stats x, y;

	gsn_msg_stats(a, &x);
	gsn_msg_stats(b, &y);
	EXPECT_EQ(x.rx_mpkts, y.rx_mpkts);
	EXPECT_EQ(x.admin_rx, y.admin_rx);
	for (unsigned d = 0; d < GSN_MSG_DROP_MAX; d++)
		EXPECT_EQ(x.drops[d], y.drops[d]) << gsn_msg_drop_name(static_cast<gsn_msg_drop>(d));
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		EXPECT_EQ(x.rx_msgs[vc], y.rx_msgs[vc]) << vc;
		EXPECT_EQ(x.rx_bytes[vc], y.rx_bytes[vc]) << vc;
		EXPECT_EQ(x.rx_used[vc], y.rx_used[vc]) << vc;
		EXPECT_EQ(x.rx_held[vc], y.rx_held[vc]) << vc;
		EXPECT_EQ(x.rx_unreleased[vc], y.rx_unreleased[vc]) << vc;
	}
}

// Everything reassembly can meet, on VCs 1..3 at once.
Bytes MixedStream()
{
	std::vector<Bytes> per_vc(3);
	const Flaw flaws[] = {Flaw::kNone, Flaw::kErrorBit, Flaw::kNone,   Flaw::kBadEcrc,
			      Flaw::kNone, Flaw::kTooLong,  Flaw::kNoTail, Flaw::kNone};

	for (unsigned vc = 1; vc <= 3; vc++) {
		Bytes &s = per_vc[vc - 1];
		for (unsigned i = 0; i < 24; i++) {
			size_t len = (i * 397 + vc * 61) % 1900 + (i % 5 == 0 ? 0 : 1);
			if (i % 6 == 2)
				AppendLone(s, vc, GSN_MPKT_T_ADMIN, false);
			if (i % 9 == 4)
				AppendLone(s, vc, GSN_MPKT_T_DATA, i % 2 == 0); // no HEADER
			AppendMessage(s, vc, i % 7 == 3 ? kThem : kUs, Pdu(len, i + vc * 100),
				      flaws[(i + vc) % 8]);
		}
	}
	return Interleave(per_vc);
}

void FeedEach(Sink &s, const Bytes &stream)
{
	for (size_t off = 0; off < stream.size(); off += GSN_MPKT_LEN) {
		gsn_mpkt_ctl c;

		gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(stream.data() + off), &c);
		gsn_msg_link_rx(s.msg, &c, stream.data() + off + GSN_MPKT_CTL_LEN);
	}
}

void FeedRuns(Sink &s, const Bytes &stream)
{
	size_t n = stream.size() / GSN_MPKT_LEN;

	for (size_t i = 0, k = 1; i < n; i += k, k = k % 13 + 1) {
		k = std::min(k, n - i);
		gsn_msg_link_rx_run(s.msg, stream.data() + i * GSN_MPKT_LEN, k);
	}
}

} // namespace

TEST(MsgRun, RxRunReassemblesWhatRxDoes)
{
	Bytes stream = MixedStream();
	Sink each(0), run(0);

	FeedEach(each, stream);
	FeedRuns(run, stream);
	ASSERT_FALSE(each.got.empty());
	EXPECT_EQ(each.got, run.got);
	EXPECT_EQ(each.admin, run.admin);
	ExpectSameStats(each.msg, run.msg);
	struct gsn_msg_stats st;
	gsn_msg_stats(run.msg, &st);
	for (unsigned d : {GSN_MSG_DROP_ERROR_BIT, GSN_MSG_DROP_ECRC, GSN_MSG_DROP_LENGTH,
			   GSN_MSG_DROP_NO_TAIL, GSN_MSG_DROP_NO_HEADER, GSN_MSG_DROP_NOT_FOR_US})
		EXPECT_GT(st.drops[d], 0u) << gsn_msg_drop_name(static_cast<gsn_msg_drop>(d));
}

TEST(MsgRun, RxRunChargesTheBudgetAsRxDoes)
{
	// every 2nd Message kept: the VCs run over budget and hold credits
	Bytes stream = MixedStream();
	Sink each(2), run(2);

	FeedEach(each, stream);
	FeedRuns(run, stream);
	EXPECT_EQ(each.got, run.got);
	ExpectSameStats(each.msg, run.msg);
	struct gsn_msg_stats st;
	gsn_msg_stats(run.msg, &st);
	uint32_t held = 0;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		held += st.rx_held[vc];
	EXPECT_GT(held, 0u);
}

TEST(MsgRun, RxRunOfOneMessageInOneCall)
{
	Bytes stream;
	Sink s(0);
	Bytes pdu = Pdu(1500, 9);

	AppendMessage(stream, 2, kUs, pdu, Flaw::kNone);
	gsn_msg_link_rx_run(s.msg, stream.data(), stream.size() / GSN_MPKT_LEN);
	ASSERT_EQ(s.got.size(), 1u);
	EXPECT_EQ(s.got[0].vc, 2u);
	EXPECT_EQ(s.got[0].pdu, pdu);
}
