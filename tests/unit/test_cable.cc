// SPDX-License-Identifier: MIT
// Cable frame: header codec, exact-length parser, sequence check, errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gsn/admin.h>
#include <gsn/cable.h>
#include <gsn/message.h>
#include <gsn/mpkt.h>

namespace {

gsn_frame_hdr sample_hdr(uint16_t count)
{
	gsn_frame_hdr h;
	h.version = GSN_FRAME_VERSION;
	h.flags = 0;
	h.count = count;
	h.incarnation = 0x11223344u;
	h.ext_tseq = 0x00000105u;
	h.ext_rseq = 0xABCDEF07u;
	h.reserved = 0;
	return h;
}

struct MpSpec {
	unsigned type;
	unsigned tseq;
	unsigned rseq;
};

// A frame: header h (count is overwritten) followed by the micropackets.
std::vector<uint8_t> build_frame(gsn_frame_hdr h, const std::vector<MpSpec> &mps)
{
	h.count = static_cast<uint16_t>(mps.size());
	std::vector<uint8_t> f(gsn_frame_size(mps.size()));
	gsn_frame_hdr_encode(&h, f.data());
	for (size_t i = 0; i < mps.size(); i++) {
		gsn_mpkt_ctl c = {};
		c.vc = 1;
		c.type = static_cast<uint8_t>(mps[i].type);
		c.tseq = static_cast<uint8_t>(mps[i].tseq);
		c.rseq = static_cast<uint8_t>(mps[i].rseq);
		uint8_t d[32];
		memset(d, static_cast<int>(i), sizeof(d));
		gsn_mpkt_encode(&c, d, f.data() + GSN_FRAME_HDR_LEN + i * GSN_MPKT_LEN);
	}
	return f;
}

// A typical frame: ext TSEQ 0x105, ext RSEQ ...07.
std::vector<uint8_t> good_frame()
{
	return build_frame(sample_hdr(0), {
		{GSN_MPKT_T_CREDIT, 0x99, 0x07}, // not sequenced: its TSEQ is not checked
		{GSN_MPKT_T_HEADER, 0x05, 0x07},
		{GSN_MPKT_T_DATA, 0x06, 0x07},
	});
}

// Parses from an exactly sized heap copy, so ASan catches reads past len.
int parse_exact(const std::vector<uint8_t> &f, size_t len, gsn_frame_view *v)
{
	std::unique_ptr<uint8_t[]> p(new uint8_t[len ? len : 1]);
	memcpy(p.get(), f.data(), len);
	int err = gsn_frame_parse(p.get(), len, v);
	v->mpkts = nullptr; // the copy dies here
	return err;
}

} // namespace

TEST(Cable, HdrEncodeKnownBytes)
{
	auto h = sample_hdr(0x0203);
	h.flags = 0x5A;
	h.reserved = 0x01020304u;
	uint8_t out[GSN_FRAME_HDR_LEN];
	gsn_frame_hdr_encode(&h, out);
	const uint8_t want[24] = {
		'G', 'S', 'N', 'L', 0x01, 0x5A, 0x02, 0x03,
		0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x01, 0x05,
		0xAB, 0xCD, 0xEF, 0x07, 0x01, 0x02, 0x03, 0x04,
	};
	EXPECT_EQ(0, memcmp(out, want, sizeof(want)));
	EXPECT_EQ(0, memcmp(out, GSN_FRAME_MAGIC, 4));
}

TEST(Cable, HdrRoundTrip)
{
	auto h = sample_hdr(77);
	h.flags = 3;
	h.reserved = 9;
	uint8_t out[GSN_FRAME_HDR_LEN];
	gsn_frame_hdr_encode(&h, out);
	gsn_frame_hdr g;
	ASSERT_EQ(gsn_frame_hdr_decode(out, sizeof(out), &g), GSN_FRAME_OK);
	EXPECT_EQ(g.version, h.version);
	EXPECT_EQ(g.flags, h.flags);
	EXPECT_EQ(g.count, h.count);
	EXPECT_EQ(g.incarnation, h.incarnation);
	EXPECT_EQ(g.ext_tseq, h.ext_tseq);
	EXPECT_EQ(g.ext_rseq, h.ext_rseq);
	EXPECT_EQ(g.reserved, h.reserved);
}

TEST(Cable, HdrDecodeShortAtEveryLength)
{
	auto h = sample_hdr(0);
	uint8_t out[GSN_FRAME_HDR_LEN];
	gsn_frame_hdr_encode(&h, out);
	for (size_t len = 0; len < GSN_FRAME_HDR_LEN; len++) {
		std::unique_ptr<uint8_t[]> p(new uint8_t[len + 1]);
		memcpy(p.get(), out, len);
		gsn_frame_hdr g;
		EXPECT_EQ(gsn_frame_hdr_decode(p.get(), len, &g), GSN_FRAME_E_TRUNCATED) << len;
	}
}

TEST(Cable, ParseValidFrame)
{
	auto f = good_frame();
	ASSERT_EQ(f.size(), 24u + 3 * 40);
	gsn_frame_view v;
	ASSERT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_OK);
	EXPECT_EQ(v.hdr.count, 3);
	EXPECT_EQ(v.len, f.size());
	EXPECT_EQ(v.mpkts, f.data() + 24);
	EXPECT_EQ(v.hdr.incarnation, 0x11223344u);
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *mp = gsn_frame_mpkt(&v, i);
		ASSERT_EQ(mp, f.data() + 24 + 40 * i);
		gsn_mpkt_ctl c;
		uint8_t d[32];
		ASSERT_EQ(gsn_mpkt_decode(mp, GSN_MPKT_LEN, &c, d), GSN_MPKT_OK);
		EXPECT_EQ(d[0], i);
	}
	EXPECT_EQ(gsn_frame_mpkt(&v, 3), nullptr);
	EXPECT_EQ(gsn_frame_mpkt(&v, SIZE_MAX), nullptr);
	EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_OK);
}

TEST(Cable, ParseEmptyFrame)
{
	auto f = build_frame(sample_hdr(0), {});
	ASSERT_EQ(f.size(), 24u);
	gsn_frame_view v;
	ASSERT_EQ(parse_exact(f, f.size(), &v), GSN_FRAME_OK);
	EXPECT_EQ(v.hdr.count, 0);
	EXPECT_EQ(gsn_frame_mpkt(&v, 0), nullptr);
	EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_OK);
}

TEST(Cable, ParseRejectsBadMagicAtEachByte)
{
	auto f = good_frame();
	for (size_t i = 0; i < 4; i++) {
		auto g = f;
		g[i] ^= 0x20; // "gSNL", ...
		gsn_frame_view v;
		EXPECT_EQ(gsn_frame_parse(g.data(), g.size(), &v), GSN_FRAME_E_MAGIC) << i;
	}
}

TEST(Cable, ParseRejectsOtherVersions)
{
	auto f = good_frame();
	for (unsigned ver : {0u, 2u, 0x81u, 0xFFu}) {
		f[4] = static_cast<uint8_t>(ver);
		gsn_frame_view v;
		EXPECT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_E_VERSION) << ver;
	}
}

TEST(Cable, ParseTruncatedAtEveryLength)
{
	auto f = good_frame();
	for (size_t len = 0; len < f.size(); len++) {
		gsn_frame_view v;
		EXPECT_EQ(parse_exact(f, len, &v), GSN_FRAME_E_TRUNCATED) << len;
	}
	gsn_frame_view v;
	EXPECT_EQ(parse_exact(f, f.size(), &v), GSN_FRAME_OK);
}

TEST(Cable, ParseRejectsTrailingBytes)
{
	auto f = good_frame();
	for (size_t extra : {1u, 39u, 40u, 41u}) {
		auto g = f;
		g.resize(f.size() + extra, 0);
		gsn_frame_view v;
		EXPECT_EQ(gsn_frame_parse(g.data(), g.size(), &v), GSN_FRAME_E_LENGTH) << extra;
	}
}

TEST(Cable, ParseCountLargerThanBuffer)
{
	auto f = good_frame();
	gsn_put_be16(f.data() + 6, 0xFFFF);
	gsn_frame_view v;
	EXPECT_EQ(parse_exact(f, f.size(), &v), GSN_FRAME_E_TRUNCATED);
	gsn_put_be16(f.data() + 6, 2);
	EXPECT_EQ(parse_exact(f, f.size(), &v), GSN_FRAME_E_LENGTH);
}

TEST(Cable, FlagsAndReservedAreIgnored)
{
	auto f = good_frame();
	f[5] = 0xFF;
	gsn_put_be32(f.data() + 20, 0xFFFFFFFFu);
	gsn_frame_view v;
	ASSERT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_OK);
	EXPECT_EQ(v.hdr.flags, 0xFF);
	EXPECT_EQ(v.hdr.reserved, 0xFFFFFFFFu);
}

TEST(Cable, CheckSeqRejectsRseqMismatchAnywhere)
{
	for (size_t bad = 0; bad < 3; bad++) {
		std::vector<MpSpec> mps = {
			{GSN_MPKT_T_NULL, 0, 0x07},
			{GSN_MPKT_T_DATA, 0x05, 0x07},
			{GSN_MPKT_T_DATA, 0x06, 0x07},
		};
		mps[bad].rseq = 0x08;
		auto f = build_frame(sample_hdr(0), mps);
		gsn_frame_view v;
		ASSERT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_OK);
		EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_E_SEQ) << bad;
	}
}

TEST(Cable, CheckSeqComparesFirstSequencedTseq)
{
	for (unsigned type : {GSN_MPKT_T_HEADER, GSN_MPKT_T_DATA, GSN_MPKT_T_ADMIN}) {
		auto ok = build_frame(sample_hdr(0), {{GSN_MPKT_T_INIT, 0x44, 0x07}, {type, 0x05, 0x07}});
		auto bad = build_frame(sample_hdr(0), {{GSN_MPKT_T_INIT, 0x05, 0x07}, {type, 0x04, 0x07}});
		gsn_frame_view v;
		ASSERT_EQ(gsn_frame_parse(ok.data(), ok.size(), &v), GSN_FRAME_OK);
		EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_OK) << type;
		ASSERT_EQ(gsn_frame_parse(bad.data(), bad.size(), &v), GSN_FRAME_OK);
		EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_E_SEQ) << type;
	}
}

TEST(Cable, CheckSeqWithoutSequencedMicropackets)
{
	auto f = build_frame(sample_hdr(0), {
		{GSN_MPKT_T_NULL, 0x01, 0x07},
		{GSN_MPKT_T_CREDIT, 0x02, 0x07},
		{GSN_MPKT_T_RESET, 0x03, 0x07},
	});
	gsn_frame_view v;
	ASSERT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_OK);
	EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_OK);
}

TEST(Cable, CheckSeqUsesLow8BitsOfExtendedNumbers)
{
	auto h = sample_hdr(0);
	h.ext_tseq = 0xFFFFFFFFu;
	h.ext_rseq = 0x12345600u;
	auto f = build_frame(h, {{GSN_MPKT_T_DATA, 0xFF, 0x00}, {GSN_MPKT_T_DATA, 0x00, 0x00}});
	gsn_frame_view v;
	ASSERT_EQ(gsn_frame_parse(f.data(), f.size(), &v), GSN_FRAME_OK);
	EXPECT_EQ(gsn_frame_check_seq(&v), GSN_FRAME_OK);
}

TEST(Cable, SeqExtend)
{
	EXPECT_EQ(gsn_seq_extend(0x105, 0x05), 0x105u);
	EXPECT_EQ(gsn_seq_extend(0x105, 0x06), 0x106u);
	EXPECT_EQ(gsn_seq_extend(0x105, 0x04), 0x104u);
	EXPECT_EQ(gsn_seq_extend(0x1FF, 0x00), 0x200u); // forward across a byte wrap
	EXPECT_EQ(gsn_seq_extend(0x200, 0xFF), 0x1FFu); // backward across it
	EXPECT_EQ(gsn_seq_extend(0x100, 0x7F), 0x17Fu); // +127
	EXPECT_EQ(gsn_seq_extend(0x100, 0x80), 0x080u); // -128
	EXPECT_EQ(gsn_seq_extend(0xFFFFFFFFu, 0x00), 0x00000000u); // 32-bit wrap
	EXPECT_EQ(gsn_seq_extend(0x00000000u, 0xFF), 0xFFFFFFFFu);
	for (uint32_t ref : {0u, 0x80u, 0x12345678u, 0xFFFFFF80u})
		for (int d = -128; d < 128; d++) {
			uint32_t want = ref + static_cast<uint32_t>(d);
			ASSERT_EQ(gsn_seq_extend(ref, static_cast<uint8_t>(want)), want) << ref << " " << d;
		}
}

TEST(Cable, SizeAndCapacity)
{
	EXPECT_EQ(gsn_frame_size(0), 24u);
	EXPECT_EQ(gsn_frame_size(3), 144u);
	EXPECT_EQ(gsn_frame_capacity(0), 0u);
	EXPECT_EQ(gsn_frame_capacity(23), 0u);
	EXPECT_EQ(gsn_frame_capacity(24), 0u);
	EXPECT_EQ(gsn_frame_capacity(63), 0u);
	EXPECT_EQ(gsn_frame_capacity(64), 1u);
	EXPECT_EQ(gsn_frame_capacity(1472), 36u);   // UDP payload under a 1500 MTU
	EXPECT_EQ(gsn_frame_capacity(65507), 1637u); // largest UDP/IPv4 payload
	EXPECT_EQ(gsn_frame_capacity(SIZE_MAX), 0xFFFFu);
	for (size_t n = 0; n < 3000; n++)
		ASSERT_LE(gsn_frame_size(gsn_frame_capacity(n)), n < 24 ? 24 : n);
}

TEST(Cable, ErrorCodesAreDistinctAndDescribed)
{
	const int codes[] = {
		GSN_MPKT_E_SHORT, GSN_MPKT_E_LCRC, GSN_MPKT_E_RESERVED,
		GSN_MSG_E_SHORT, GSN_MSG_E_SNAP, GSN_MSG_E_LEN, GSN_MSG_E_BAD_ULA,
		GSN_ADMIN_E_SHORT,
		GSN_FRAME_E_MAGIC, GSN_FRAME_E_VERSION, GSN_FRAME_E_TRUNCATED,
		GSN_FRAME_E_LENGTH, GSN_FRAME_E_SEQ,
	};
	std::set<int> seen;
	std::set<std::string> texts;
	for (int c : codes) {
		EXPECT_LT(c, 0);
		EXPECT_TRUE(seen.insert(c).second) << c;
		std::string s = gsn_frame_strerror(c);
		EXPECT_NE(s, "unknown error") << c;
		EXPECT_TRUE(texts.insert(s).second) << s;
	}
	EXPECT_STREQ(gsn_frame_strerror(0), "ok");
	EXPECT_STREQ(gsn_frame_strerror(-9999), "unknown error");
	EXPECT_STREQ(gsn_frame_strerror(12345), "unknown error");
}
