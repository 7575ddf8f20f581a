// SPDX-License-Identifier: MIT
// Micropacket control word, LCRC, cable form, INIT payload, ECRC.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gsn/crc32c.h>
#include <gsn/mpkt.h>

namespace {

gsn_mpkt_ctl make_ctl(unsigned vc, unsigned type, bool tail, bool error, unsigned vcr,
		      unsigned cr, unsigned rseq, unsigned tseq, unsigned ecrc, unsigned lcrc = 0)
{
	gsn_mpkt_ctl c;
	c.vc = static_cast<uint8_t>(vc);
	c.type = static_cast<uint8_t>(type);
	c.tail = tail;
	c.error = error;
	c.vcr = static_cast<uint8_t>(vcr);
	c.cr = static_cast<uint8_t>(cr);
	c.rseq = static_cast<uint8_t>(rseq);
	c.tseq = static_cast<uint8_t>(tseq);
	c.ecrc = static_cast<uint16_t>(ecrc);
	c.lcrc = static_cast<uint16_t>(lcrc);
	return c;
}

void expect_ctl_eq(const gsn_mpkt_ctl &a, const gsn_mpkt_ctl &b)
{
	EXPECT_EQ(a.vc, b.vc);
	EXPECT_EQ(a.type, b.type);
	EXPECT_EQ(a.tail, b.tail);
	EXPECT_EQ(a.error, b.error);
	EXPECT_EQ(a.vcr, b.vcr);
	EXPECT_EQ(a.cr, b.cr);
	EXPECT_EQ(a.rseq, b.rseq);
	EXPECT_EQ(a.tseq, b.tseq);
	EXPECT_EQ(a.ecrc, b.ecrc);
}

std::array<uint8_t, 32> incrementing()
{
	std::array<uint8_t, 32> d;
	for (size_t i = 0; i < d.size(); i++)
		d[i] = static_cast<uint8_t>(i);
	return d;
}

const unsigned kValidTypes[] = {0, 1, 2, 3, 4, 8, 9, 10, 11};
const unsigned kReservedTypes[] = {5, 6, 7, 12, 13, 14, 15};

} // namespace

TEST(Mpkt, Sizes)
{
	EXPECT_EQ(GSN_MPKT_LEN, 40);
	EXPECT_EQ(GSN_MPKT_DATA, 32u);
	EXPECT_EQ(GSN_MPKT_CTL_LEN + GSN_MPKT_DATA, static_cast<unsigned>(GSN_MPKT_LEN));
}

TEST(Mpkt, CtlPackBitPositions)
{
	auto z = make_ctl(0, 0, false, false, 0, 0, 0, 0, 0, 0);
	EXPECT_EQ(gsn_mpkt_ctl_pack(&z), 0u);

	gsn_mpkt_ctl c = z;
	c.vc = 3;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0xC000000000000000ull);
	c = z;
	c.type = 15;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x3C00000000000000ull);
	c = z;
	c.tail = true;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x0200000000000000ull);
	c = z;
	c.error = true;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x0100000000000000ull);
	c = z;
	c.vcr = 3;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x00C0000000000000ull);
	c = z;
	c.cr = 63;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x003F000000000000ull);
	c = z;
	c.rseq = 0xFF;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x0000FF0000000000ull);
	c = z;
	c.tseq = 0xFF;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x000000FF00000000ull);
	c = z;
	c.ecrc = 0xFFFF;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x00000000FFFF0000ull);
	c = z;
	c.lcrc = 0xFFFF;
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0x000000000000FFFFull);
}

TEST(Mpkt, CtlPackMasksOverwideFields)
{
	auto c = make_ctl(0xFF, 0xFF, false, false, 0xFF, 0xFF, 0, 0, 0, 0);
	EXPECT_EQ(gsn_mpkt_ctl_pack(&c), 0xFCFF000000000000ull);
	gsn_mpkt_ctl u;
	gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_pack(&c), &u);
	EXPECT_EQ(u.vc, 3);
	EXPECT_EQ(u.type, 15);
	EXPECT_EQ(u.vcr, 3);
	EXPECT_EQ(u.cr, 63);
	EXPECT_FALSE(u.tail);
	EXPECT_FALSE(u.error);
}

TEST(Mpkt, CtlPackUnpackRoundTrip)
{
	std::mt19937_64 rng(7);
	for (int i = 0; i < 10000; i++) {
		uint64_t w = rng();
		gsn_mpkt_ctl c;
		gsn_mpkt_ctl_unpack(w, &c);
		ASSERT_EQ(gsn_mpkt_ctl_pack(&c), w);
	}
}

TEST(Mpkt, EncodeKnownBytes)
{
	// VC 1, DATA, TAIL, VCR 2, CR 5, RSEQ 0x12, TSEQ 0x34, ECRC 0xBEEF.
	auto c = make_ctl(1, GSN_MPKT_T_DATA, true, false, 2, 5, 0x12, 0x34, 0xBEEF, 0x5555);
	auto d = incrementing();
	uint8_t out[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, d.data(), out);

	// 01|0001|1|0 = 0x46, 10|000101 = 0x85; LCRC computed independently
	// (python) over 00..1F then 46 85 12 34 BE EF.
	const uint8_t want_ctl[8] = {0x46, 0x85, 0x12, 0x34, 0xBE, 0xEF, 0x6F, 0x1E};
	EXPECT_EQ(0, memcmp(out, want_ctl, 8));
	EXPECT_EQ(0, memcmp(out + 8, d.data(), 32));
}

TEST(Mpkt, EncodeNullDataIsZeroFilled)
{
	auto c = make_ctl(0, GSN_MPKT_T_NULL, false, false, 0, 0, 0, 0, 0);
	uint8_t out[GSN_MPKT_LEN];
	memset(out, 0xAA, sizeof(out));
	gsn_mpkt_encode(&c, nullptr, out);
	// All-zero control bits and data: LCRC = fold16(CRC-32C of 38 zero bytes).
	const uint8_t want[8] = {0, 0, 0, 0, 0, 0, 0xF2, 0x79};
	EXPECT_EQ(0, memcmp(out, want, 8));
	for (size_t i = 8; i < GSN_MPKT_LEN; i++)
		EXPECT_EQ(out[i], 0);
}

TEST(Mpkt, EncodeInPlace)
{
	auto c = make_ctl(2, GSN_MPKT_T_HEADER, false, false, 0, 1, 2, 3, 4);
	auto d = incrementing();
	uint8_t ref[GSN_MPKT_LEN], buf[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, d.data(), ref);
	memcpy(buf + 8, d.data(), 32);
	gsn_mpkt_encode(&c, buf + 8, buf);
	EXPECT_EQ(0, memcmp(ref, buf, sizeof(buf)));
}

TEST(Mpkt, LcrcByteOrder)
{
	// LCRC = fold16(CRC-32C(data[0..31] || control bytes 0..5)).
	std::mt19937_64 rng(8);
	for (int i = 0; i < 200; i++) {
		uint8_t buf[38];
		for (auto &b : buf)
			b = static_cast<uint8_t>(rng());
		uint64_t w = rng();
		for (int k = 0; k < 6; k++)
			buf[32 + k] = static_cast<uint8_t>(w >> (56 - 8 * k));
		uint16_t want = gsn_crc_fold16(gsn_crc32c_sw(0, buf, sizeof(buf)));
		ASSERT_EQ(gsn_mpkt_lcrc(buf, w), want);
		// Bits 15..0 (the LCRC field itself) do not take part.
		ASSERT_EQ(gsn_mpkt_lcrc(buf, w ^ 0xFFFF), want);
	}
}

TEST(Mpkt, LcrcCoversEcrcAndEveryControlBit)
{
	auto d = incrementing();
	uint16_t base = gsn_mpkt_lcrc(d.data(), 0);
	for (int bit = 16; bit < 64; bit++)
		EXPECT_NE(gsn_mpkt_lcrc(d.data(), 1ull << bit), base) << bit;
}

TEST(Mpkt, RoundTripEveryValidType)
{
	std::mt19937 rng(9);
	for (unsigned type : kValidTypes) {
		for (int i = 0; i < 50; i++) {
			auto c = make_ctl(rng() & 3, type, rng() & 1, rng() & 1, rng() & 3, rng() & 63,
					  rng() & 255, rng() & 255, rng() & 0xFFFF);
			uint8_t d[32], got_d[32];
			for (auto &b : d)
				b = static_cast<uint8_t>(rng());
			uint8_t wire[GSN_MPKT_LEN];
			gsn_mpkt_encode(&c, d, wire);
			gsn_mpkt_ctl got;
			ASSERT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, got_d), GSN_MPKT_OK);
			expect_ctl_eq(got, c);
			EXPECT_EQ(got.lcrc, gsn_get_be16(wire + 6));
			EXPECT_EQ(0, memcmp(got_d, d, 32));
		}
	}
}

TEST(Mpkt, DecodeShortAtEveryLength)
{
	auto c = make_ctl(0, GSN_MPKT_T_DATA, false, false, 0, 0, 0, 0, 0);
	uint8_t wire[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, nullptr, wire);
	for (size_t len = 0; len < GSN_MPKT_LEN; len++) {
		// An exactly sized heap copy, so ASan sees any read past len.
		std::unique_ptr<uint8_t[]> p(new uint8_t[len + 1]);
		memcpy(p.get(), wire, len);
		gsn_mpkt_ctl got;
		EXPECT_EQ(gsn_mpkt_decode(p.get(), len, &got, nullptr), GSN_MPKT_E_SHORT) << len;
	}
}

TEST(Mpkt, DecodeAcceptsLongerInputAndNullData)
{
	auto c = make_ctl(3, GSN_MPKT_T_ADMIN, true, true, 1, 9, 8, 7, 6);
	std::vector<uint8_t> buf(100, 0xEE);
	gsn_mpkt_encode(&c, nullptr, buf.data());
	gsn_mpkt_ctl got;
	EXPECT_EQ(gsn_mpkt_decode(buf.data(), buf.size(), &got, nullptr), GSN_MPKT_OK);
	expect_ctl_eq(got, c);
}

TEST(Mpkt, DecodeDetectsEverySingleBitFlip)
{
	auto c = make_ctl(1, GSN_MPKT_T_DATA, false, false, 2, 17, 0x80, 0x7F, 0x1234);
	auto d = incrementing();
	uint8_t wire[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, d.data(), wire);
	for (size_t bit = 0; bit < GSN_MPKT_LEN * 8; bit++) {
		wire[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
		gsn_mpkt_ctl got;
		EXPECT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, nullptr), GSN_MPKT_E_LCRC) << bit;
		wire[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
	}
	gsn_mpkt_ctl got;
	EXPECT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, nullptr), GSN_MPKT_OK);
}

TEST(Mpkt, DecodeRejectsReservedTypes)
{
	for (unsigned type : kReservedTypes) {
		auto c = make_ctl(0, type, false, false, 0, 0, 0, 0, 0);
		uint8_t wire[GSN_MPKT_LEN];
		gsn_mpkt_encode(&c, nullptr, wire);
		gsn_mpkt_ctl got;
		EXPECT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, nullptr), GSN_MPKT_E_RESERVED) << type;
		EXPECT_EQ(got.type, type); // still filled in, for counters and logs
	}
}

TEST(Mpkt, ErrorCodesDistinct)
{
	EXPECT_LT(GSN_MPKT_E_SHORT, 0);
	EXPECT_NE(GSN_MPKT_E_SHORT, GSN_MPKT_E_LCRC);
	EXPECT_NE(GSN_MPKT_E_SHORT, GSN_MPKT_E_RESERVED);
	EXPECT_NE(GSN_MPKT_E_LCRC, GSN_MPKT_E_RESERVED);
}

TEST(Mpkt, TypeClassification)
{
	for (unsigned t = 0; t < 16; t++) {
		bool valid = t <= 4 || (t >= 8 && t <= 11);
		EXPECT_EQ(gsn_mpkt_type_valid(t), valid) << t;
		bool seq = t == GSN_MPKT_T_HEADER || t == GSN_MPKT_T_DATA || t == GSN_MPKT_T_ADMIN;
		EXPECT_EQ(gsn_mpkt_type_sequenced(t), seq) << t;
		EXPECT_EQ(std::string(gsn_mpkt_type_name(t)) == "RESERVED", !valid) << t;
	}
	EXPECT_FALSE(gsn_mpkt_type_valid(16));
	EXPECT_FALSE(gsn_mpkt_type_sequenced(16 + GSN_MPKT_T_DATA));
	EXPECT_STREQ(gsn_mpkt_type_name(GSN_MPKT_T_INIT_ACK), "INIT-ACK");
	EXPECT_EQ(GSN_MPKT_T_NULL, 0);
	EXPECT_EQ(GSN_MPKT_T_DATA, 1);
	EXPECT_EQ(GSN_MPKT_T_HEADER, 2);
	EXPECT_EQ(GSN_MPKT_T_CREDIT, 3);
	EXPECT_EQ(GSN_MPKT_T_ADMIN, 4);
	EXPECT_EQ(GSN_MPKT_T_RESET, 8);
	EXPECT_EQ(GSN_MPKT_T_RESET_ACK, 9);
	EXPECT_EQ(GSN_MPKT_T_INIT, 10);
	EXPECT_EQ(GSN_MPKT_T_INIT_ACK, 11);
}

TEST(Mpkt, InitPayloadKnownBytes)
{
	const uint32_t credits[4] = {0x01020304u, 68, 4100, 0xFFFFFFFFu};
	uint8_t d[32];
	memset(d, 0xAA, sizeof(d));
	gsn_mpkt_init_encode(credits, d);
	const uint8_t want[32] = {
		0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x44,
		0x00, 0x00, 0x10, 0x04, 0xFF, 0xFF, 0xFF, 0xFF,
	};
	EXPECT_EQ(0, memcmp(d, want, 32));

	uint32_t got[4];
	d[20] = 0x99; // trailing bytes are ignored
	gsn_mpkt_init_decode(d, got);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(got[i], credits[i]);
}

TEST(Mpkt, InitMicropacketRoundTrip)
{
	const uint32_t credits[4] = {16, 64, 64, 1024};
	uint8_t d[32], wire[GSN_MPKT_LEN], back[32];
	gsn_mpkt_init_encode(credits, d);
	auto c = make_ctl(0, GSN_MPKT_T_INIT_ACK, false, false, 0, 0, 0, 0, 0);
	gsn_mpkt_encode(&c, d, wire);
	gsn_mpkt_ctl got;
	ASSERT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, back), GSN_MPKT_OK);
	EXPECT_EQ(got.type, GSN_MPKT_T_INIT_ACK);
	uint32_t out[4];
	gsn_mpkt_init_decode(back, out);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(out[i], credits[i]);
}

TEST(Mpkt, EcrcIsRunningCrcOverMessageData)
{
	std::mt19937 rng(10);
	std::vector<uint8_t> msg(5 * 32);
	for (auto &b : msg)
		b = static_cast<uint8_t>(rng());
	uint32_t running = 0;
	for (size_t k = 0; k < 5; k++) {
		running = gsn_ecrc_update(running, msg.data() + 32 * k);
		uint32_t whole = gsn_crc32c_sw(0, msg.data(), 32 * (k + 1));
		EXPECT_EQ(running, whole);
		EXPECT_EQ(gsn_ecrc_value(running), gsn_crc_fold16(whole));
	}
}

TEST(Mpkt, CtlWordAccessor)
{
	const uint8_t mp[GSN_MPKT_LEN] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
	EXPECT_EQ(gsn_mpkt_ctl_word(mp), 0x0123456789ABCDEFull);
}
