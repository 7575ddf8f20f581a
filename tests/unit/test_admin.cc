// SPDX-License-Identifier: MIT
// Admin micropacket data bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>

#include <gsn/admin.h>
#include <gsn/mpkt.h>

namespace {

gsn_admin sample_admin()
{
	gsn_admin a;
	a.hops = 3;
	a.cmd = GSN_ADMIN_WHICH_PORT;
	a.flags = GSN_ADMIN_F_RESPONSE | GSN_ADMIN_F_ERROR;
	a.status = 0x42;
	a.tag = 0xCAFEF00Du;
	for (int i = 0; i < 8; i++)
		a.route[i] = static_cast<uint8_t>(0x10 + i);
	for (int i = 0; i < 16; i++)
		a.args[i] = static_cast<uint8_t>(0xA0 + i);
	return a;
}

const uint8_t kSampleWire[32] = {
	0x03, 0x09, 0xC0, 0x42,                         // hops, cmd, flags, status
	0xCA, 0xFE, 0xF0, 0x0D,                         // tag
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // route
	0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, // args
	0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
};

void expect_admin_eq(const gsn_admin &a, const gsn_admin &b)
{
	EXPECT_EQ(a.hops, b.hops);
	EXPECT_EQ(a.cmd, b.cmd);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.status, b.status);
	EXPECT_EQ(a.tag, b.tag);
	EXPECT_EQ(0, memcmp(a.route, b.route, sizeof(a.route)));
	EXPECT_EQ(0, memcmp(a.args, b.args, sizeof(a.args)));
}

} // namespace

TEST(Admin, EncodeKnownBytes)
{
	auto a = sample_admin();
	uint8_t out[GSN_ADMIN_LEN];
	memset(out, 0x77, sizeof(out));
	gsn_admin_encode(&a, out);
	EXPECT_EQ(0, memcmp(out, kSampleWire, sizeof(out)));
}

TEST(Admin, DecodeKnownBytes)
{
	gsn_admin a;
	ASSERT_EQ(gsn_admin_decode(kSampleWire, sizeof(kSampleWire), &a), GSN_ADMIN_OK);
	expect_admin_eq(a, sample_admin());
	EXPECT_TRUE(gsn_admin_is_response(&a));
	EXPECT_TRUE(gsn_admin_is_error(&a));
}

TEST(Admin, RoundTripRandom)
{
	std::mt19937 rng(30);
	for (int i = 0; i < 1000; i++) {
		gsn_admin a, got;
		a.hops = static_cast<uint8_t>(rng());
		a.cmd = static_cast<uint8_t>(rng());
		a.flags = static_cast<uint8_t>(rng());
		a.status = static_cast<uint8_t>(rng());
		a.tag = static_cast<uint32_t>(rng());
		for (auto &b : a.route)
			b = static_cast<uint8_t>(rng());
		for (auto &b : a.args)
			b = static_cast<uint8_t>(rng());
		uint8_t wire[GSN_ADMIN_LEN];
		gsn_admin_encode(&a, wire);
		// Unknown commands and flag bits decode fine: they get answered with 0x7F.
		ASSERT_EQ(gsn_admin_decode(wire, sizeof(wire), &got), GSN_ADMIN_OK);
		expect_admin_eq(got, a);
	}
}

TEST(Admin, DecodeShortAtEveryLength)
{
	for (size_t len = 0; len < GSN_ADMIN_LEN; len++) {
		std::unique_ptr<uint8_t[]> p(new uint8_t[len + 1]);
		memcpy(p.get(), kSampleWire, len);
		gsn_admin a;
		EXPECT_EQ(gsn_admin_decode(p.get(), len, &a), GSN_ADMIN_E_SHORT) << len;
	}
}

TEST(Admin, CommandValues)
{
	EXPECT_EQ(GSN_ADMIN_ARE_YOU_THERE, 0x01);
	EXPECT_EQ(GSN_ADMIN_WHAT_ARE_YOU, 0x02);
	EXPECT_EQ(GSN_ADMIN_ELEMENT_ADDR, 0x03);
	EXPECT_EQ(GSN_ADMIN_ASSIGN_ULA, 0x04);
	EXPECT_EQ(GSN_ADMIN_READ_REG, 0x05);
	EXPECT_EQ(GSN_ADMIN_WRITE_REG, 0x06);
	EXPECT_EQ(GSN_ADMIN_LIST_ULAS, 0x07);
	EXPECT_EQ(GSN_ADMIN_SET_ROUTE, 0x08);
	EXPECT_EQ(GSN_ADMIN_WHICH_PORT, 0x09);
	EXPECT_EQ(GSN_ADMIN_INITIALIZE, 0x0A);
	EXPECT_EQ(GSN_ADMIN_INVALID, 0x7F);
	EXPECT_EQ(GSN_ADMIN_F_RESPONSE, 0x80u);
	EXPECT_EQ(GSN_ADMIN_F_ERROR, 0x40u);
}

TEST(Admin, CommandKnownOverAllValues)
{
	for (unsigned c = 0; c < 256; c++)
		EXPECT_EQ(gsn_admin_cmd_known(c), (c >= 1 && c <= 10) || c == 0x7F) << c;
}

TEST(Admin, FlagHelpers)
{
	gsn_admin a = sample_admin();
	a.flags = 0;
	EXPECT_FALSE(gsn_admin_is_response(&a));
	EXPECT_FALSE(gsn_admin_is_error(&a));
	a.flags = GSN_ADMIN_F_RESPONSE;
	EXPECT_TRUE(gsn_admin_is_response(&a));
	EXPECT_FALSE(gsn_admin_is_error(&a));
	a.flags = GSN_ADMIN_F_ERROR | 0x3F;
	EXPECT_FALSE(gsn_admin_is_response(&a));
	EXPECT_TRUE(gsn_admin_is_error(&a));
}

TEST(Admin, CarriedInAdminMicropacket)
{
	auto a = sample_admin();
	uint8_t d[32], wire[GSN_MPKT_LEN], back[32];
	gsn_admin_encode(&a, d);
	gsn_mpkt_ctl c = {};
	c.vc = 1;
	c.type = GSN_MPKT_T_ADMIN;
	c.tail = true;
	gsn_mpkt_encode(&c, d, wire);
	gsn_mpkt_ctl got;
	ASSERT_EQ(gsn_mpkt_decode(wire, sizeof(wire), &got, back), GSN_MPKT_OK);
	EXPECT_TRUE(gsn_mpkt_type_sequenced(got.type));
	gsn_admin b;
	ASSERT_EQ(gsn_admin_decode(back, sizeof(back), &b), GSN_ADMIN_OK);
	expect_admin_eq(b, a);
}
