// SPDX-License-Identifier: MIT
// <gsn/harp.h>: the HARP packet codec.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gsn/harp.h>

namespace {

gsn_harp_pkt sample()
{
	gsn_harp_pkt p{};
	p.hrd = GSN_HARP_HRD_HIPARP;
	p.op = GSN_HARP_OP_REPLY;
	const uint8_t sha[6] = {0x02, 0x00, 0x00, 0x01, 0x00, 0x03};
	const uint8_t tha[6] = {0x02, 0x00, 0x00, 0x01, 0x00, 0x04};
	memcpy(p.sha, sha, 6);
	memcpy(p.tha, tha, 6);
	p.spa = 0x0A000003u;
	p.tpa = 0x0A000004u;
	return p;
}

const uint8_t kSampleWire[32] = {
	0x00, 28,   0x08, 0x00, // hrd, pro
	6,    0,    0x00, 2,    // shtl, sstl, op
	4,    6,    0,    4,    // spln, thtl, tstl, tpln
	0x02, 0x00, 0x00, 0x01, 0x00, 0x03, 10, 0, 0, 3, // sender ULA, IP
	0x02, 0x00, 0x00, 0x01, 0x00, 0x04, 10, 0, 0, 4, // target ULA, IP
};

void expect_eq(const gsn_harp_pkt &a, const gsn_harp_pkt &b)
{
	EXPECT_EQ(a.hrd, b.hrd);
	EXPECT_EQ(a.op, b.op);
	EXPECT_EQ(0, memcmp(a.sha, b.sha, 6));
	EXPECT_EQ(0, memcmp(a.tha, b.tha, 6));
	EXPECT_EQ(a.spa, b.spa);
	EXPECT_EQ(a.tpa, b.tpa);
}

} // namespace

TEST(HarpCodec, EncodesTheDocumentedLayout)
{
	uint8_t out[GSN_HARP_LEN];
	memset(out, 0x77, sizeof(out));
	auto p = sample();
	gsn_harp_encode(&p, out);
	EXPECT_EQ(0, memcmp(kSampleWire, out, sizeof(out)));
}

TEST(HarpCodec, RoundTripsEveryOperation)
{
	for (uint16_t op : {1, 2, 8, 9, 10, 3, 0xFFFF}) {
		for (uint16_t hrd : {GSN_HARP_HRD_HIPARP, GSN_HARP_HRD_IEEE802}) {
			auto p = sample();
			p.op = op;
			p.hrd = hrd;
			uint8_t wire[GSN_HARP_LEN];
			gsn_harp_encode(&p, wire);
			gsn_harp_pkt q;
			ASSERT_EQ(GSN_HARP_OK, gsn_harp_decode(wire, sizeof(wire), &q));
			expect_eq(p, q);
			EXPECT_EQ(gsn_harp_op_known(op), op <= 2 || (op >= 8 && op <= 10));
		}
	}
	// trailing padding is ignored
	std::vector<uint8_t> padded(kSampleWire, kSampleWire + 32);
	padded.resize(64, 0);
	gsn_harp_pkt q;
	ASSERT_EQ(GSN_HARP_OK, gsn_harp_decode(padded.data(), padded.size(), &q));
	expect_eq(sample(), q);
}

TEST(HarpCodec, RejectsEveryTruncation)
{
	gsn_harp_pkt q;
	EXPECT_EQ(GSN_HARP_E_SHORT, gsn_harp_decode(nullptr, 0, &q));
	for (size_t len = 0; len < GSN_HARP_LEN; len++) {
		std::vector<uint8_t> buf(kSampleWire, kSampleWire + len); // exact size: ASan sees overreads
		EXPECT_EQ(GSN_HARP_E_SHORT, gsn_harp_decode(buf.data(), buf.size(), &q)) << len;
	}
}

TEST(HarpCodec, RejectsWrongTypesAndLengths)
{
	gsn_harp_pkt q;
	auto with = [](size_t off, uint8_t v) {
		std::vector<uint8_t> b(kSampleWire, kSampleWire + 32);
		b[off] = v;
		return b;
	};
	auto b = with(1, 27);
	EXPECT_EQ(GSN_HARP_E_HRD, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(2, 0x86);
	EXPECT_EQ(GSN_HARP_E_PRO, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(4, 20); // shtl
	EXPECT_EQ(GSN_HARP_E_ADDRLEN, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(5, 1); // sstl
	EXPECT_EQ(GSN_HARP_E_ADDRLEN, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(8, 16); // spln: IPv6 length
	EXPECT_EQ(GSN_HARP_E_ADDRLEN, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(10, 2); // tstl
	EXPECT_EQ(GSN_HARP_E_ADDRLEN, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(11, 255); // tpln
	EXPECT_EQ(GSN_HARP_E_ADDRLEN, gsn_harp_decode(b.data(), b.size(), &q));
	b = with(1, 6); // IEEE 802 hardware type is accepted
	EXPECT_EQ(GSN_HARP_OK, gsn_harp_decode(b.data(), b.size(), &q));
	EXPECT_STREQ("HARP packet truncated", gsn_harp_strerror(GSN_HARP_E_SHORT));
	EXPECT_STREQ("nak", gsn_harp_op_name(GSN_HARP_OP_NAK));
}

TEST(HarpCodec, ZeroLengthAddressesDecodeAsZero)
{
	// an InARP request without a target IP (tpln 0): 28 bytes
	std::vector<uint8_t> b(kSampleWire, kSampleWire + 28);
	b[7] = GSN_HARP_OP_INARP_REQUEST;
	b[11] = 0;
	gsn_harp_pkt q;
	ASSERT_EQ(GSN_HARP_OK, gsn_harp_decode(b.data(), b.size(), &q));
	EXPECT_EQ(0u, q.tpa);
	EXPECT_EQ(0x0A000003u, q.spa);
	// no target ULA either: the target IP moves up
	std::vector<uint8_t> c(kSampleWire, kSampleWire + 22);
	c[9] = 0;
	c.insert(c.end(), {10, 0, 0, 9});
	ASSERT_EQ(GSN_HARP_OK, gsn_harp_decode(c.data(), c.size(), &q));
	const uint8_t zero[6] = {};
	EXPECT_EQ(0, memcmp(zero, q.tha, 6));
	EXPECT_EQ(0x0A000009u, q.tpa);
	c.pop_back();
	EXPECT_EQ(GSN_HARP_E_SHORT, gsn_harp_decode(c.data(), c.size(), &q));
}

TEST(HarpCodec, GarbageNeverDecodesInconsistently)
{
	std::mt19937 rng(42);
	unsigned ok = 0;
	for (int i = 0; i < 20000; i++) {
		size_t len = rng() % 48;
		std::vector<uint8_t> b(len);
		for (auto &x : b)
			x = static_cast<uint8_t>(rng());
		if (len >= 12 && rng() % 2) { // make the header plausible half the time
			b[0] = 0;
			b[1] = 28;
			b[2] = 8;
			b[3] = 0;
			b[4] = (rng() % 2) ? 6 : 0;
			b[5] = 0;
			b[8] = (rng() % 2) ? 4 : 0;
			b[9] = (rng() % 2) ? 6 : 0;
			b[10] = 0;
			b[11] = (rng() % 2) ? 4 : 0;
		}
		gsn_harp_pkt q;
		int err = gsn_harp_decode(b.data(), b.size(), &q);
		if (err != GSN_HARP_OK)
			continue;
		ok++;
		size_t need = 12u + b[4] + b[8] + b[9] + b[11];
		EXPECT_LE(need, len);
		// a full-length packet re-encodes to its own first 32 bytes
		if (b[4] == 6 && b[8] == 4 && b[9] == 6 && b[11] == 4) {
			uint8_t out[GSN_HARP_LEN];
			gsn_harp_encode(&q, out);
			EXPECT_EQ(0, memcmp(out, b.data(), sizeof(out)));
		}
	}
	EXPECT_GT(ok, 100u);
}
