// SPDX-License-Identifier: MIT
// The harness itself: fault layers are deterministic and do what they say,
// the tap decodes, out-of-bounds memory access fails the test.
#include <gtest/gtest-spi.h>

#include "st_harness.h"

namespace sttest {
namespace {

Packet MakePacket(unsigned op, uint32_t id)
{
	st_hdr h{};
	h.op = (uint8_t)op;
	h.s_id = id;
	Packet p;
	p.src = 0;
	p.dst = 1;
	p.bytes.resize(ST_HDR_LEN);
	st_hdr_encode(&h, p.bytes.data(), false);
	return p;
}

uint32_t IdOf(const Packet &p)
{
	st_hdr h{};
	st_hdr_decode(p.bytes.data(), p.bytes.size(), &h);
	return h.s_id;
}

std::vector<uint32_t> Through(Layer &l, const std::vector<Packet> &in)
{
	std::vector<uint32_t> out;
	l.Bind([&out](Packet p) { out.push_back(IdOf(p)); });
	for (const Packet &p : in)
		l.Push(p);
	while (l.Flush()) {
	}
	return out;
}

std::vector<Packet> Seq(int n, unsigned op = ST_OP_NOP)
{
	std::vector<Packet> v;
	for (int i = 1; i <= n; i++)
		v.push_back(MakePacket(op, (uint32_t)i));
	return v;
}

TEST(HarnessTest, DropEveryNthAndOnlyMatchingOpcode)
{
	Drop d(Drop::Nth(3));
	EXPECT_EQ((std::vector<uint32_t>{1, 2, 4, 5, 7}), Through(d, Seq(7)));
	EXPECT_EQ(2u, d.dropped());

	std::vector<Packet> mixed = {MakePacket(ST_OP_NOP, 1), MakePacket(ST_OP_END, 2),
				     MakePacket(ST_OP_NOP, 3), MakePacket(ST_OP_END, 4)};
	Drop once(Drop::Once(ST_OP_END));
	EXPECT_EQ((std::vector<uint32_t>{1, 3, 4}), Through(once, mixed));
}

TEST(HarnessTest, SeededDropRateIsDeterministic)
{
	Drop a(Drop::Rate(0.3, 42)), b(Drop::Rate(0.3, 42)), c(Drop::Rate(0.3, 43));
	auto ra = Through(a, Seq(200)), rb = Through(b, Seq(200)), rc = Through(c, Seq(200));
	EXPECT_EQ(ra, rb);
	EXPECT_NE(ra, rc);
	EXPECT_GT(a.dropped(), 30u);
	EXPECT_LT(a.dropped(), 90u);
}

TEST(HarnessTest, DisorderReleasesHeldPacketAfterK)
{
	Disorder::Options o;
	o.rate = 1.0;
	o.k = 2;
	o.match.op = ST_OP_END;  // hold only Ends
	Disorder d(o);
	std::vector<Packet> in = {MakePacket(ST_OP_END, 1), MakePacket(ST_OP_NOP, 2),
				  MakePacket(ST_OP_NOP, 3), MakePacket(ST_OP_NOP, 4)};
	EXPECT_EQ((std::vector<uint32_t>{2, 3, 1, 4}), Through(d, in));
	// Held packets come out when the network goes idle.
	Disorder e(o);
	EXPECT_EQ((std::vector<uint32_t>{2, 1}),
		  Through(e, {MakePacket(ST_OP_END, 1), MakePacket(ST_OP_NOP, 2)}));
}

TEST(HarnessTest, DisorderKeepsEveryPacket)
{
	Disorder::Options o;
	o.rate = 0.4;
	o.k = 3;
	o.seed = 7;
	Disorder d(o);
	auto out = Through(d, Seq(100));
	std::vector<uint32_t> sorted = out;
	std::sort(sorted.begin(), sorted.end());
	std::vector<uint32_t> expect;
	for (uint32_t i = 1; i <= 100; i++)
		expect.push_back(i);
	EXPECT_EQ(expect, sorted);
	EXPECT_NE(expect, out);
}

TEST(HarnessTest, DuplicateEveryNth)
{
	Duplicate::Options o;
	o.every_nth = 2;
	Duplicate d(o);
	EXPECT_EQ((std::vector<uint32_t>{1, 2, 2, 3, 4, 4}), Through(d, Seq(4)));
	EXPECT_EQ(2u, d.duplicated());
}

TEST(HarnessTest, TapFormatsReadableTrace)
{
	st_hdr h{};
	h.op = ST_OP_REQUEST_TO_SEND;
	h.b_num = 100;
	h.s_id = 1;
	h.d_id = 0xFFFFFFFF;
	Packet p;
	p.src = 0;
	p.dst = 1;
	p.bytes.resize(ST_HDR_LEN);
	st_hdr_encode(&h, p.bytes.data(), false);
	TapLog log;
	log.Record(p, kStartNs);
	ASSERT_EQ(1u, log.records().size());
	std::string s = FormatOp(log.records()[0]);
	EXPECT_EQ(0u, s.find("A->B RTS T_len=100 id=1")) << s;
	EXPECT_EQ(1u, log.Count(ST_OP_REQUEST_TO_SEND, 0, 1));
	EXPECT_EQ(0u, log.Count(ST_OP_REQUEST_TO_SEND, 1, 0));
}

TEST(HarnessTest, OutOfBoundsMemoryAccessFailsTheTest)
{
	Net net(1);
	Region *r = net.AddRegion(0, 50, 0);
	uint8_t buf[16] = {};
	EXPECT_EQ(0, net.MemAccess(r, 34, buf, 16, false));
	EXPECT_NONFATAL_FAILURE(net.MemAccess(r, 40, buf, 16, false), "out of bounds");
	EXPECT_NONFATAL_FAILURE(net.MemAccess(r, UINT64_MAX - 4, buf, 16, true), "out of bounds");
}

TEST(HarnessTest, RunUntilIdleWithNothingToDoKeepsTheClock)
{
	Net net(2);
	uint64_t t = net.now();
	EXPECT_EQ(kStartNs, t);
	EXPECT_EQ(0u, net.RunUntilIdle());
	EXPECT_EQ(t, net.now());
	EXPECT_EQ(0x02, net.ula(1)[0]);
	EXPECT_EQ(2, net.ula(1)[5]);
	EXPECT_EQ(1, net.Find(net.ula(1)));
}

}  // namespace
}  // namespace sttest
