// SPDX-License-Identifier: MIT
// ST operation header (kernel-uapi/gsn/st_wire.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>

#include <gsn/st_wire.h>

namespace {

st_hdr sample_hdr()
{
	st_hdr h;
	h.op = ST_OP_DATA;
	h.flags = ST_FLAG_SILENT | ST_FLAG_LAST;
	h.param = 0x0102;
	h.d_port = 0x0304;
	h.s_port = 0x0506;
	h.d_key = 0x0708090Au;
	h.cksum = 0;
	h.b_id = 0x0B0C;
	h.bufx = 0x0D0E0F10u;
	h.offset = 0x11121314u;
	h.sync = 0x15161718u;
	h.b_num = 0x191A1B1Cu;
	h.d_id = 0x1D1E1F20u;
	h.s_id = 0x21222324u;
	return h;
}

// sample_hdr() on the wire with Cksum 0; 0xD888 = Op 0x1B << 11 | 0x0088.
const uint8_t kSampleWire[ST_HDR_LEN] = {
	0xD8, 0x88, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	0x07, 0x08, 0x09, 0x0A, 0x00, 0x00, 0x0B, 0x0C,
	0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14,
	0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C,
	0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24,
};

void expect_hdr_eq(const st_hdr &a, const st_hdr &b)
{
	EXPECT_EQ(a.op, b.op);
	EXPECT_EQ(a.flags, b.flags);
	EXPECT_EQ(a.param, b.param);
	EXPECT_EQ(a.d_port, b.d_port);
	EXPECT_EQ(a.s_port, b.s_port);
	EXPECT_EQ(a.d_key, b.d_key);
	EXPECT_EQ(a.b_id, b.b_id);
	EXPECT_EQ(a.bufx, b.bufx);
	EXPECT_EQ(a.offset, b.offset);
	EXPECT_EQ(a.sync, b.sync);
	EXPECT_EQ(a.b_num, b.b_num);
	EXPECT_EQ(a.d_id, b.d_id);
	EXPECT_EQ(a.s_id, b.s_id);
}

st_hdr random_hdr(std::mt19937 &rng)
{
	st_hdr h;
	h.op = static_cast<uint8_t>(rng() & 0x1F);
	h.flags = static_cast<uint16_t>(rng() & 0x7FF);
	h.param = static_cast<uint16_t>(rng());
	h.d_port = static_cast<uint16_t>(rng());
	h.s_port = static_cast<uint16_t>(rng());
	h.d_key = static_cast<uint32_t>(rng());
	h.cksum = 0;
	h.b_id = static_cast<uint16_t>(rng());
	h.bufx = static_cast<uint32_t>(rng());
	h.offset = static_cast<uint32_t>(rng());
	h.sync = static_cast<uint32_t>(rng());
	h.b_num = static_cast<uint32_t>(rng());
	h.d_id = static_cast<uint32_t>(rng());
	h.s_id = static_cast<uint32_t>(rng());
	return h;
}

} // namespace

TEST(StWire, EncodeKnownBytesWithoutChecksum)
{
	auto h = sample_hdr();
	h.cksum = 0;
	uint8_t out[ST_HDR_LEN];
	st_hdr_encode(&h, out, false);
	EXPECT_EQ(0, memcmp(out, kSampleWire, ST_HDR_LEN));
}

TEST(StWire, EncodeKnownChecksum)
{
	// RFC 1071 sum of kSampleWire's words, computed by hand (python): 0xE21F.
	auto h = sample_hdr();
	h.cksum = 0x9999; // ignored when computing
	uint8_t out[ST_HDR_LEN];
	st_hdr_encode(&h, out, true);
	EXPECT_EQ(out[12], 0xE2);
	EXPECT_EQ(out[13], 0x1F);
	EXPECT_EQ(st_hdr_checksum(kSampleWire), 0xE21F);
	out[12] = out[13] = 0;
	EXPECT_EQ(0, memcmp(out, kSampleWire, ST_HDR_LEN));
}

TEST(StWire, EncodeWritesGivenChecksumWhenNotComputing)
{
	auto h = sample_hdr();
	h.cksum = 0xBEEF;
	uint8_t out[ST_HDR_LEN];
	st_hdr_encode(&h, out, false);
	EXPECT_EQ(out[12], 0xBE);
	EXPECT_EQ(out[13], 0xEF);
}

TEST(StWire, DecodeKnownBytes)
{
	st_hdr h;
	ASSERT_EQ(st_hdr_decode(kSampleWire, sizeof(kSampleWire), &h), ST_HDR_OK);
	expect_hdr_eq(h, sample_hdr());
	EXPECT_EQ(h.cksum, 0);
}

TEST(StWire, RoundTripRandomWithAndWithoutChecksum)
{
	std::mt19937 rng(40);
	for (int i = 0; i < 2000; i++) {
		st_hdr h = random_hdr(rng), got;
		uint8_t out[ST_HDR_LEN];
		bool ck = i & 1;
		st_hdr_encode(&h, out, ck);
		ASSERT_EQ(st_hdr_decode(out, sizeof(out), &got), ST_HDR_OK);
		expect_hdr_eq(got, h);
		if (ck)
			EXPECT_NE(got.cksum, 0);
		else
			EXPECT_EQ(got.cksum, 0);
	}
}

TEST(StWire, ChecksumDetectsEverySingleBitFlip)
{
	auto h = sample_hdr();
	uint8_t out[ST_HDR_LEN];
	st_hdr_encode(&h, out, true);
	for (size_t bit = 0; bit < ST_HDR_LEN * 8; bit++) {
		uint8_t w[ST_HDR_LEN];
		memcpy(w, out, sizeof(w));
		w[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
		st_hdr got;
		int want = ST_HDR_BAD_CKSUM;
		if (gsn_get_be16(w + 12) == 0)
			want = ST_HDR_OK; // the flip turned Cksum into "not computed"
		EXPECT_EQ(st_hdr_decode(w, sizeof(w), &got), want) << bit;
	}
}

TEST(StWire, ZeroChecksumMeansNotComputed)
{
	uint8_t w[ST_HDR_LEN];
	memcpy(w, kSampleWire, sizeof(w));
	w[39] ^= 0xFF; // anything goes without a checksum
	st_hdr got;
	EXPECT_EQ(st_hdr_decode(w, sizeof(w), &got), ST_HDR_OK);
	EXPECT_EQ(got.s_id, 0x212223DBu);
}

TEST(StWire, ChecksumNeverZeroAndIgnoresItsOwnField)
{
	std::mt19937 rng(41);
	for (int i = 0; i < 2000; i++) {
		st_hdr h = random_hdr(rng);
		uint8_t out[ST_HDR_LEN];
		st_hdr_encode(&h, out, true);
		uint16_t c = st_hdr_checksum(out);
		ASSERT_NE(c, 0);
		ASSERT_EQ(c, gsn_get_be16(out + 12));
		out[12] ^= 0x5A;
		ASSERT_EQ(st_hdr_checksum(out), c);
	}
	// All-zero header: sum 0, ~0 = 0xFFFF.
	uint8_t z[ST_HDR_LEN] = {};
	EXPECT_EQ(st_hdr_checksum(z), 0xFFFF);
}

TEST(StWire, DecodeTruncatedAtEveryLength)
{
	for (size_t len = 0; len < ST_HDR_LEN; len++) {
		std::unique_ptr<uint8_t[]> p(new uint8_t[len + 1]);
		memcpy(p.get(), kSampleWire, len);
		st_hdr h;
		EXPECT_EQ(st_hdr_decode(p.get(), len, &h), ST_HDR_TRUNCATED) << len;
	}
	EXPECT_NE(ST_HDR_TRUNCATED, ST_HDR_BAD_CKSUM);
}

TEST(StWire, OpAndFlagsPacking)
{
	st_hdr h = {};
	h.op = 0x1F;
	h.flags = 0x7FF;
	uint8_t out[ST_HDR_LEN];
	st_hdr_encode(&h, out, false);
	EXPECT_EQ(out[0], 0xFF);
	EXPECT_EQ(out[1], 0xFF);
	h.op = 0x21;     // masked to 5 bits: 0x01
	h.flags = 0xF804; // masked to 11 bits: Reject
	st_hdr_encode(&h, out, false);
	EXPECT_EQ(out[0], 0x08);
	EXPECT_EQ(out[1], 0x04);
	st_hdr got;
	ASSERT_EQ(st_hdr_decode(out, sizeof(out), &got), ST_HDR_OK);
	EXPECT_EQ(got.op, ST_OP_REQUEST_CONNECTION);
	EXPECT_EQ(got.flags, ST_FLAG_REJECT);
}

TEST(StWire, FlagValues)
{
	EXPECT_EQ(ST_FLAG_SILENT, 0x0080u);
	EXPECT_EQ(ST_FLAG_INTERRUPT, 0x0040u);
	EXPECT_EQ(ST_FLAG_SEND_STATE, 0x0020u);
	EXPECT_EQ(ST_FLAG_OUT_OF_ORDER, 0x0010u);
	EXPECT_EQ(ST_FLAG_LAST, 0x0008u);
	EXPECT_EQ(ST_FLAG_REJECT, 0x0004u);
	EXPECT_EQ(ST_FLAG_RESERVED, 0x0003u);
	EXPECT_EQ(ST_FLAG_FUNCTION_MASK, 0x0700u);
	EXPECT_EQ(ST_FLAG_SILENT | ST_FLAG_INTERRUPT | ST_FLAG_SEND_STATE | ST_FLAG_OUT_OF_ORDER |
		  ST_FLAG_LAST | ST_FLAG_REJECT | ST_FLAG_RESERVED | ST_FLAG_FUNCTION_MASK, 0x07FFu);
}

TEST(StWire, FunctionFieldHelpers)
{
	for (unsigned fn = 0; fn < 8; fn++) {
		st_hdr h = {};
		h.op = ST_OP_GET;
		h.flags = ST_FLAG_SILENT | ST_FLAG_LAST | ST_FLAG_FUNCTION_MASK;
		st_hdr_set_function(&h, fn);
		EXPECT_EQ(st_hdr_function(&h), fn);
		EXPECT_EQ(h.flags & ~ST_FLAG_FUNCTION_MASK, ST_FLAG_SILENT | ST_FLAG_LAST) << fn;
		EXPECT_EQ(h.flags & ST_FLAG_FUNCTION_MASK, fn << 8);
		uint8_t out[ST_HDR_LEN];
		st_hdr_encode(&h, out, true);
		st_hdr got;
		ASSERT_EQ(st_hdr_decode(out, sizeof(out), &got), ST_HDR_OK);
		EXPECT_EQ(st_hdr_function(&got), fn);
	}
	st_hdr h = {};
	st_hdr_set_function(&h, 9); // out of range: only the low 3 bits land
	EXPECT_EQ(st_hdr_function(&h), 1u);
	EXPECT_EQ(h.flags, 0x0100);
	EXPECT_EQ(ST_FN_GET, 0);
	EXPECT_EQ(ST_FN_FETCH_INCREMENT, 1);
	EXPECT_EQ(ST_FN_FETCH_DECREMENT, 2);
	EXPECT_EQ(ST_FN_FETCH_CLEAR, 3);
	EXPECT_EQ(ST_FN_FETCH_ADD, 4);
	EXPECT_EQ(ST_FN_SWAP, 5);
	EXPECT_EQ(ST_FN_COMPARE_SWAP, 6);
	EXPECT_EQ(ST_FN_FETCHOP_COMPLETE, 7);
}

TEST(StWire, OpcodeValidOverAll32Values)
{
	const unsigned valid[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x13, 0x14, 0x15,
				  0x16, 0x17, 0x18, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F};
	int n = 0;
	for (unsigned op = 0; op < ST_OP_COUNT; op++) {
		bool want = false;
		for (unsigned v : valid)
			want = want || v == op;
		EXPECT_EQ(st_opcode_valid(op), want) << op;
		n += want;
	}
	EXPECT_EQ(n, 18);
	EXPECT_FALSE(st_opcode_valid(32));
	EXPECT_FALSE(st_opcode_valid(0x21));
}

TEST(StWire, VcSizeLimits)
{
	EXPECT_EQ(gsn_vc_max_message_bytes(0), 68u * 32);
	EXPECT_EQ(gsn_vc_max_message_bytes(1), 4100u * 32);
	EXPECT_EQ(gsn_vc_max_message_bytes(2), 4100u * 32);
	EXPECT_EQ(gsn_vc_max_message_bytes(3), 134217728ull * 32);
	EXPECT_EQ(gsn_vc_max_message_bytes(4), 0u);
	EXPECT_EQ(gsn_vc_max_st_payload(0), 68u * 32 - 24 - 40);
	EXPECT_EQ(gsn_vc_max_st_payload(3), 134217728ull * 32 - 64);
	EXPECT_EQ(gsn_vc_max_st_payload(7), 0u);
}
