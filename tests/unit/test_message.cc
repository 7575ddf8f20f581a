// SPDX-License-Identifier: MIT
// GSN Message HEADER micropacket, size rules and ULA helpers.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include <gsn/message.h>

namespace {

gsn_msg_hdr sample_hdr()
{
	gsn_msg_hdr h;
	const uint8_t d[6] = {0x02, 0x00, 0x5E, 0x10, 0x20, 0x30};
	const uint8_t s[6] = {0x06, 0x11, 0x22, 0x33, 0x44, 0x55};
	memcpy(h.d_ula, d, 6);
	memcpy(h.s_ula, s, 6);
	h.m_len = 0x00010203;
	h.ethertype = GSN_ETHERTYPE_ST;
	for (int i = 0; i < 8; i++)
		h.pdu[i] = static_cast<uint8_t>(0xC0 + i);
	return h;
}

const uint8_t kSampleWire[32] = {
	0x02, 0x00, 0x5E, 0x10, 0x20, 0x30,             // D_ULA
	0x06, 0x11, 0x22, 0x33, 0x44, 0x55,             // S_ULA
	0x00, 0x01, 0x02, 0x03,                         // M_len
	0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x81, 0x81, // LLC/SNAP, EtherType ST
	0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, // first PDU bytes
};

} // namespace

TEST(Message, EncodeKnownBytes)
{
	auto h = sample_hdr();
	uint8_t out[GSN_MSG_HDR_LEN];
	memset(out, 0x5A, sizeof(out));
	gsn_msg_hdr_encode(&h, out);
	EXPECT_EQ(0, memcmp(out, kSampleWire, sizeof(kSampleWire)));
}

TEST(Message, DecodeKnownBytes)
{
	gsn_msg_hdr h;
	ASSERT_EQ(gsn_msg_hdr_decode(kSampleWire, sizeof(kSampleWire), &h), GSN_MSG_OK);
	auto want = sample_hdr();
	EXPECT_EQ(0, memcmp(h.d_ula, want.d_ula, 6));
	EXPECT_EQ(0, memcmp(h.s_ula, want.s_ula, 6));
	EXPECT_EQ(h.m_len, 0x00010203u);
	EXPECT_EQ(h.ethertype, GSN_ETHERTYPE_ST);
	EXPECT_EQ(0, memcmp(h.pdu, want.pdu, 8));
}

TEST(Message, RoundTripRandom)
{
	std::mt19937 rng(20);
	for (int i = 0; i < 1000; i++) {
		gsn_msg_hdr h, got;
		for (auto &b : h.d_ula)
			b = static_cast<uint8_t>(rng());
		for (auto &b : h.s_ula)
			b = static_cast<uint8_t>(rng());
		h.m_len = 8 + rng() % 0xFFFFFFF0u;
		h.ethertype = static_cast<uint16_t>(rng());
		for (auto &b : h.pdu)
			b = static_cast<uint8_t>(rng());
		uint8_t wire[GSN_MSG_HDR_LEN];
		gsn_msg_hdr_encode(&h, wire);
		ASSERT_EQ(gsn_msg_hdr_decode(wire, sizeof(wire), &got), GSN_MSG_OK);
		ASSERT_EQ(0, memcmp(&h.d_ula, &got.d_ula, 6));
		ASSERT_EQ(0, memcmp(&h.s_ula, &got.s_ula, 6));
		ASSERT_EQ(h.m_len, got.m_len);
		ASSERT_EQ(h.ethertype, got.ethertype);
		ASSERT_EQ(0, memcmp(h.pdu, got.pdu, 8));
	}
}

TEST(Message, DecodeShortAtEveryLength)
{
	for (size_t len = 0; len < GSN_MSG_HDR_LEN; len++) {
		std::unique_ptr<uint8_t[]> p(new uint8_t[len + 1]);
		memcpy(p.get(), kSampleWire, len);
		gsn_msg_hdr h;
		EXPECT_EQ(gsn_msg_hdr_decode(p.get(), len, &h), GSN_MSG_E_SHORT) << len;
	}
}

TEST(Message, DecodeRejectsBadLlcSnapAtEachByte)
{
	for (size_t i = 16; i < 22; i++) {
		uint8_t w[32];
		memcpy(w, kSampleWire, 32);
		w[i] ^= 0x01;
		gsn_msg_hdr h;
		EXPECT_EQ(gsn_msg_hdr_decode(w, sizeof(w), &h), GSN_MSG_E_SNAP) << i;
	}
}

TEST(Message, DecodeRejectsMlenShorterThanSnap)
{
	uint8_t w[32];
	memcpy(w, kSampleWire, 32);
	gsn_msg_hdr h;
	for (uint32_t m = 0; m < 8; m++) {
		gsn_put_be32(w + 12, m);
		EXPECT_EQ(gsn_msg_hdr_decode(w, sizeof(w), &h), GSN_MSG_E_LEN) << m;
	}
	gsn_put_be32(w + 12, 8);
	EXPECT_EQ(gsn_msg_hdr_decode(w, sizeof(w), &h), GSN_MSG_OK);
	EXPECT_NE(GSN_MSG_E_SHORT, GSN_MSG_E_SNAP);
	EXPECT_NE(GSN_MSG_E_SNAP, GSN_MSG_E_LEN);
	EXPECT_NE(GSN_MSG_E_SHORT, GSN_MSG_E_LEN);
}

TEST(Message, EtherTypesAndOffsets)
{
	EXPECT_EQ(GSN_ETHERTYPE_ST, 0x8181u);
	EXPECT_EQ(GSN_ETHERTYPE_IPV4, 0x0800u);
	EXPECT_EQ(GSN_ETHERTYPE_HARP, 0x0806u);
	EXPECT_EQ(GSN_MSG_PDU_OFFSET, GSN_ST_MSG_OFFSET);
	// An ST payload starts on a micropacket boundary (byte 64).
	EXPECT_EQ((GSN_MSG_PDU_OFFSET + ST_HDR_LEN) % GSN_MPKT_DATA, 0u);
}

TEST(Message, MpktCount)
{
	EXPECT_EQ(gsn_message_mpkt_count(8), 1u);  // LLC/SNAP only: 24 bytes
	EXPECT_EQ(gsn_message_mpkt_count(16), 1u); // fills the HEADER micropacket
	EXPECT_EQ(gsn_message_mpkt_count(17), 2u);
	EXPECT_EQ(gsn_message_mpkt_count(48), 2u);
	EXPECT_EQ(gsn_message_mpkt_count(49), 3u);
	EXPECT_EQ(gsn_message_mpkt_count(8 + ST_HDR_LEN), 2u); // bare ST header: 64 bytes
	EXPECT_EQ(gsn_message_mpkt_count(8 + ST_HDR_LEN + 1), 3u);
	EXPECT_EQ(gsn_message_mpkt_count(0xFFFFFFFFu), 134217729u);
	for (uint32_t m = 8; m < 2000; m++)
		ASSERT_EQ(gsn_message_mpkt_count(m), (16 + m + 31) / 32) << m;
}

TEST(Message, FitsVcLimits)
{
	const uint32_t last_fit[4] = {68 * 32 - 16, 4100 * 32 - 16, 4100 * 32 - 16, 0xFFFFFFF0u};
	const uint32_t limit[4] = {68, 4100, 4100, 134217728};
	for (unsigned vc = 0; vc < 4; vc++) {
		EXPECT_TRUE(gsn_message_fits_vc(vc, 8)) << vc;
		EXPECT_TRUE(gsn_message_fits_vc(vc, last_fit[vc])) << vc;
		EXPECT_EQ(gsn_message_mpkt_count(last_fit[vc]), limit[vc]);
		EXPECT_FALSE(gsn_message_fits_vc(vc, last_fit[vc] + 1)) << vc;
		EXPECT_EQ(gsn_message_mpkt_count(last_fit[vc] + 1), limit[vc] + 1);
	}
	EXPECT_FALSE(gsn_message_fits_vc(3, 0xFFFFFFFFu));
	EXPECT_FALSE(gsn_message_fits_vc(4, 8));
	// The largest ST payload on VC0 fits exactly.
	EXPECT_TRUE(gsn_message_fits_vc(0, static_cast<uint32_t>(8 + ST_HDR_LEN + gsn_vc_max_st_payload(0))));
	EXPECT_FALSE(gsn_message_fits_vc(0, static_cast<uint32_t>(8 + ST_HDR_LEN + gsn_vc_max_st_payload(0) + 1)));
}

TEST(MessageUla, BroadcastGroupLocal)
{
	const uint8_t bcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
	const uint8_t almost[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
	const uint8_t local[6] = {0x02, 0, 0, 0, 0, 1};
	const uint8_t global[6] = {0x08, 0x00, 0x69, 0x12, 0x34, 0x56};
	const uint8_t mcast[6] = {0x01, 0x00, 0x5E, 0, 0, 1};
	EXPECT_TRUE(gsn_ula_is_broadcast(bcast));
	EXPECT_FALSE(gsn_ula_is_broadcast(almost));
	EXPECT_FALSE(gsn_ula_is_broadcast(local));
	EXPECT_TRUE(gsn_ula_is_group(bcast));
	EXPECT_TRUE(gsn_ula_is_group(mcast));
	EXPECT_FALSE(gsn_ula_is_group(local));
	EXPECT_TRUE(gsn_ula_is_local(local));
	EXPECT_FALSE(gsn_ula_is_local(global));
	EXPECT_FALSE(gsn_ula_is_local(mcast));
	EXPECT_TRUE(gsn_ula_equal(local, local));
	EXPECT_FALSE(gsn_ula_equal(bcast, almost));
}

TEST(MessageUla, Format)
{
	const uint8_t u[6] = {0x02, 0xAB, 0x0C, 0xD0, 0x00, 0xFF};
	char s[GSN_ULA_STRLEN];
	memset(s, 'x', sizeof(s));
	gsn_ula_format(u, s);
	EXPECT_STREQ(s, "02:ab:0c:d0:00:ff");
	EXPECT_EQ(strlen(s) + 1, static_cast<size_t>(GSN_ULA_STRLEN));
}

TEST(MessageUla, ParseAccepts)
{
	uint8_t u[6];
	ASSERT_EQ(gsn_ula_parse("02:ab:0c:d0:00:ff", u), GSN_MSG_OK);
	const uint8_t want[6] = {0x02, 0xAB, 0x0C, 0xD0, 0x00, 0xFF};
	EXPECT_EQ(0, memcmp(u, want, 6));
	ASSERT_EQ(gsn_ula_parse("02:AB:0C:D0:00:FF", u), GSN_MSG_OK);
	EXPECT_EQ(0, memcmp(u, want, 6));
	ASSERT_EQ(gsn_ula_parse("2:0:0:0:0:1", u), GSN_MSG_OK);
	const uint8_t want2[6] = {2, 0, 0, 0, 0, 1};
	EXPECT_EQ(0, memcmp(u, want2, 6));
}

TEST(MessageUla, ParseRejects)
{
	const char *bad[] = {
		"", ":", "02:ab:0c:d0:00", "02:ab:0c:d0:00:", "02:ab:0c:d0:00:ff:",
		"02:ab:0c:d0:00:ff:11", "02:ab:0c:d0:00:fff", "002:ab:0c:d0:00:ff",
		"02-ab-0c-d0-00-ff", "02:ab:0c:d0:00:fg", " 02:ab:0c:d0:00:ff",
		"02:ab:0c:d0:00:ff ", "02::0c:d0:00:ff", "g2:ab:0c:d0:00:ff",
	};
	for (const char *s : bad) {
		uint8_t u[6] = {1, 2, 3, 4, 5, 6};
		EXPECT_EQ(gsn_ula_parse(s, u), GSN_MSG_E_BAD_ULA) << '"' << s << '"';
		EXPECT_EQ(u[0], 1) << "untouched on error";
		EXPECT_EQ(u[5], 6) << "untouched on error";
	}
}

TEST(MessageUla, FormatParseRoundTrip)
{
	std::mt19937 rng(21);
	for (int i = 0; i < 1000; i++) {
		uint8_t u[6], back[6];
		for (auto &b : u)
			b = static_cast<uint8_t>(rng());
		char s[GSN_ULA_STRLEN];
		gsn_ula_format(u, s);
		ASSERT_EQ(gsn_ula_parse(s, back), GSN_MSG_OK) << s;
		ASSERT_EQ(0, memcmp(u, back, 6)) << s;
	}
}
