// SPDX-License-Identifier: MIT
// Single-use read (docs/protocol.md "Single-use memory", Read RTR): st_read
// -> Request_To_Receive -> Request_Answer (accept, length) -> Clear_To_Send
// per Block (from the reader) -> Data -> Request_Answer, from the peer's
// posted sources (st_post_source).
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr unsigned kReaderBufsize = 14;  // A, the data receiver
constexpr unsigned kReaderMaxStu = 12;
constexpr uint64_t kSrcOff = 3;
constexpr uint64_t kSinkOff = 17;
constexpr uint64_t kCanary = 64;

void ReaderTweak(int ep, st_config *c)
{
	if (ep == 0) {
		c->bufsize_log2 = kReaderBufsize;
		c->max_stu_log2 = kReaderMaxStu;
	}
}

struct ReadFixture {
	Net net;
	VcPair vp;
	Region *sink = nullptr;  // A
	Region *src = nullptr;   // B
	std::shared_ptr<TapLog> log;

	explicit ReadFixture(const Net::Tweak &t = ReaderTweak) : net(2, t) {}

	void Init(uint64_t sink_len, uint64_t src_len, bool tap = true)
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		sink = net.AddRegion(0, sink_len, 0);
		src = net.AddRegion(1, src_len, 0);
		Fill(sink, 0x51);
		Fill(src, 0x50);
		if (tap)
			log = net.TapBoth(0, 1);
	}

	int PostSource(uint64_t off, uint64_t len, uint64_t ctx)
	{
		return st_post_source(net.eng(1), vp.b, src->mx, off, len, ctx);
	}

	int Read(uint64_t off, uint64_t len, uint64_t ctx)
	{
		return st_read(net.eng(0), vp.a, sink->mx, off, len, ctx);
	}

	void Transfer(uint64_t len, st_event *read, st_event *source)
	{
		ASSERT_EQ(0, PostSource(kSrcOff, len, 0xB0));
		ASSERT_EQ(0, Read(kSinkOff, len, 0xA0));
		*read = net.WaitCompletion(0, 0xA0, ST_REQ_READ);
		*source = net.WaitCompletion(1, 0xB0, ST_REQ_SOURCE);
	}
};

// Data from B (the source) for one read: ids, Blocks and STU layout by A's limits.
void ExpectReadData(const TapLog &log, uint64_t len, unsigned stu_log2, unsigned buf_log2)
{
	auto rtr = log.Filter(ST_OP_REQUEST_TO_RECEIVE, 0, 1);
	auto acc = log.Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	auto cts = log.Filter(ST_OP_CLEAR_TO_SEND, 0, 1);
	auto data = log.Filter(ST_OP_DATA, 1, 0);
	ASSERT_EQ(1u, rtr.size());
	ASSERT_EQ(1u, acc.size());
	ASSERT_FALSE(cts.empty());
	const uint32_t i_id = rtr[0].h.s_id, r_id = acc[0].h.s_id;
	const unsigned blk = cts[0].h.param;
	const uint64_t stu = 1ull << stu_log2;
	EXPECT_TRUE(StusCoverExactly(data, buf_log2, stu_log2, 0, len));
	for (const auto &c : cts) {
		EXPECT_EQ(r_id, c.h.d_id) << FormatOp(c);
		EXPECT_EQ(i_id, c.h.s_id) << FormatOp(c);
	}
	size_t lasts = 0;
	for (const auto &d : data) {
		SCOPED_TRACE(FormatOp(d));
		uint64_t pos = Pos(d.h, buf_log2);
		EXPECT_EQ(1u, d.vc);
		EXPECT_EQ(i_id, d.h.d_id) << "D_id = I_id";
		EXPECT_EQ(r_id, d.h.s_id) << "S_id = R_id";
		EXPECT_EQ(pos >> blk, d.h.b_num);
		EXPECT_EQ((uint32_t)((pos >> blk) << blk), d.h.sync) << "F_Offset";
		EXPECT_EQ((pos & ((1ull << blk) - 1)) / stu, d.h.param);
		bool final = pos + d.payload_len == len;
		EXPECT_EQ(final ? std::min<uint64_t>(stu, len - pos) : stu, d.payload_len);
		EXPECT_EQ(final, (d.h.flags & ST_FLAG_LAST) != 0);
		lasts += final;
	}
	EXPECT_EQ(1u, lasts);
}

// ---- sizes -----------------------------------------------------------------------------------

struct ReadRtrSizeTest : ::testing::TestWithParam<uint64_t>, ReadFixture {};

TEST_P(ReadRtrSizeTest, ByteExactFromPostedSource)
{
	const uint64_t len = GetParam();
	Init(kSinkOff + len + kCanary, kSrcOff + len);
	std::vector<uint8_t> before = sink->bytes;
	st_event rd, so;
	Transfer(len, &rd, &so);
	ASSERT_EQ(ST_OK, rd.status) << st_status_str(rd.status) << " reason " << rd.reason;
	ASSERT_EQ(ST_OK, so.status) << st_status_str(so.status);
	EXPECT_EQ(len, rd.len);
	EXPECT_EQ(len, so.len);
	EXPECT_EQ(ST_EV_COMPLETE, rd.type);
	EXPECT_EQ(ST_EV_RECV_COMPLETE, so.type);
	EXPECT_EQ(vp.b, so.vc);
	EXPECT_TRUE(SameBytes(src->bytes, kSrcOff, sink->bytes, kSinkOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, sink->bytes, kSinkOff, len));
	EXPECT_EQ(0u, net.harness_errors());
	ExpectReadData(*log, len, kReaderMaxStu, kReaderBufsize);
	EXPECT_EQ(0u, net.Counters(0).retransmits);
}

INSTANTIATE_TEST_SUITE_P(ReadRtr, ReadRtrSizeTest,
			 ::testing::Values(1, 31, 32, 33, 4095, 4096, 4097, 65535, 65536, 65537,
					   kMiB + 7),
			 [](const ::testing::TestParamInfo<uint64_t> &i) {
				 return "len" + std::to_string(i.param);
			 });

// ---- fixed scenarios ---------------------------------------------------------------------

struct ReadRtrTest : ::testing::Test, ReadFixture {};

TEST_F(ReadRtrTest, SixtyFourMiBByteExact)
{
	const uint64_t len = 64 * kMiB;
	Init(kSinkOff + len + kCanary, kSrcOff + len, /*tap=*/false);
	std::vector<uint8_t> before = sink->bytes;
	st_event rd, so;
	Transfer(len, &rd, &so);
	ASSERT_EQ(ST_OK, rd.status) << st_status_str(rd.status);
	ASSERT_EQ(ST_OK, so.status) << st_status_str(so.status);
	EXPECT_EQ(len, rd.len);
	EXPECT_EQ(len, so.len);
	EXPECT_TRUE(SameBytes(src->bytes, kSrcOff, sink->bytes, kSinkOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, sink->bytes, kSinkOff, len));
	EXPECT_EQ(len / 4096, net.Counters(1, vp.b).ops_sent[ST_OP_DATA]);
}

TEST_F(ReadRtrTest, SmallReadExactOpSequenceAndFields)
{
	Init(1000, 1000);
	ASSERT_EQ(0, PostSource(kSrcOff, 100, 2));
	ASSERT_EQ(0, Read(kSinkOff, 100, 1));
	ASSERT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_READ).status);
	ASSERT_EQ(ST_OK, net.WaitCompletion(1, 2, ST_REQ_SOURCE).status);
	net.RunUntilIdle();
	ASSERT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_RECEIVE, ST_OP_REQUEST_ANSWER,
					 ST_OP_CLEAR_TO_SEND, ST_OP_DATA, ST_OP_REQUEST_ANSWER}),
		  log->Ops())
		<< log->Trace();
	const auto &recs = log->records();
	const st_hdr &rtr = recs[0].h, &acc = recs[1].h, &cts = recs[2].h, &data = recs[3].h,
		     &fin = recs[4].h;
	EXPECT_EQ((std::vector<int>{0, 1, 0, 1, 0}),
		  (std::vector<int>{recs[0].src, recs[1].src, recs[2].src, recs[3].src, recs[4].src}));
	EXPECT_EQ(net.cfg(0).cts_req, rtr.param);
	EXPECT_EQ(net.cfg(0).block_log2, rtr.b_id);
	EXPECT_EQ(100u, Len64(rtr));
	EXPECT_EQ(0xFFFFFFFFu, rtr.d_id);
	EXPECT_NE(0u, rtr.s_id);
	EXPECT_FALSE(acc.flags & ST_FLAG_REJECT);
	EXPECT_EQ(rtr.s_id, acc.d_id) << "D_id = I_id";
	EXPECT_NE(0u, acc.s_id) << "S_id = R_id";
	EXPECT_EQ(100u, Len64(acc)) << "the length B will send";
	EXPECT_EQ(net.cfg(1).block_log2, acc.b_id) << "the accept's B_id carries B's Max_Block";
	EXPECT_EQ(acc.s_id, cts.d_id) << "CTS D_id = R_id";
	EXPECT_EQ(rtr.s_id, cts.s_id) << "CTS S_id = I_id";
	EXPECT_EQ(0u, cts.b_num);
	EXPECT_EQ(0u, cts.sync);
	EXPECT_EQ(rtr.s_id, data.d_id) << "Data D_id = I_id";
	EXPECT_EQ(acc.s_id, data.s_id) << "Data S_id = R_id";
	EXPECT_TRUE(data.flags & ST_FLAG_LAST);
	EXPECT_EQ(100u, recs[3].payload_len);
	EXPECT_FALSE(fin.flags & ST_FLAG_REJECT);
	EXPECT_EQ(acc.s_id, fin.d_id) << "final answer D_id = R_id";
	EXPECT_EQ(rtr.s_id, fin.s_id) << "final answer S_id = I_id";
	EXPECT_TRUE(SameBytes(src->bytes, kSrcOff, sink->bytes, kSinkOff, 100));
}

TEST_F(ReadRtrTest, ShorterSourceCompletesWithTheSourceLength)
{
	Init(10000, 10000);
	std::vector<uint8_t> before = sink->bytes;
	ASSERT_EQ(0, PostSource(50, 100, 2));
	ASSERT_EQ(0, Read(0, 5000, 1));
	st_event rd = net.WaitCompletion(0, 1, ST_REQ_READ);
	st_event so = net.WaitCompletion(1, 2, ST_REQ_SOURCE);
	ASSERT_EQ(ST_OK, rd.status) << st_status_str(rd.status);
	ASSERT_EQ(ST_OK, so.status);
	EXPECT_EQ(100u, rd.len);
	EXPECT_EQ(100u, so.len);
	EXPECT_TRUE(SameBytes(src->bytes, 50, sink->bytes, 0, 100));
	EXPECT_TRUE(OutsideUnchanged(before, sink->bytes, 0, 100));
	auto acc = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, acc.size());
	EXPECT_EQ(100u, Len64(acc[0].h)) << "min(T_len, source length)";
	auto data = log->Filter(ST_OP_DATA, 1, 0);
	ASSERT_EQ(1u, data.size()) << log->Trace();
	EXPECT_EQ(100u, data[0].payload_len);
	EXPECT_TRUE(data[0].h.flags & ST_FLAG_LAST);
}

TEST(ReadRtrNotReadyTest, NoSourcePostedIsRejectedWhenConfigured)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 1)
			c->reject_when_not_ready = true;
	});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *sink = net.AddRegion(0, 1000, 0);
	Region *src = net.AddRegion(1, 1000, 0);
	Fill(src, 9);
	std::vector<uint8_t> before = sink->bytes;
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_read(net.eng(0), vp.a, sink->mx, 0, 300, 1));
	st_event rd = net.WaitCompletion(0, 1, ST_REQ_READ);
	EXPECT_EQ(ST_ERR_NOT_READY, rd.status) << st_status_str(rd.status);
	EXPECT_EQ(ST_REJ_NOT_READY, rd.reason);
	net.RunUntilIdle();
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_RECEIVE, ST_OP_REQUEST_ANSWER}), log->Ops())
		<< log->Trace();
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	EXPECT_TRUE(IsReject(ra[0]));
	EXPECT_EQ(ST_OP_REQUEST_TO_RECEIVE, ra[0].h.b_id);
	EXPECT_TRUE(SameBytes(before, 0, sink->bytes, 0, before.size()));
	// A source posted afterwards serves the next read.
	ASSERT_EQ(0, st_post_source(net.eng(1), vp.b, src->mx, 0, 300, 2));
	ASSERT_EQ(0, st_read(net.eng(0), vp.a, sink->mx, 0, 300, 3));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 3, ST_REQ_READ).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(1, 2, ST_REQ_SOURCE).status);
	EXPECT_TRUE(SameBytes(src->bytes, 0, sink->bytes, 0, 300));
}

TEST_F(ReadRtrTest, HeldRtrCompletesWhenSourceIsPostedLater)
{
	Init(100000, 100000);
	ASSERT_EQ(0, Read(11, 40000, 1));
	net.RunUntilIdle(10 * kSec);  // longer than the whole retry budget
	EXPECT_EQ(nullptr, net.FindCompletion(0, 1, ST_REQ_READ)) << net.DumpEvents(0) << log->Trace();
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	EXPECT_EQ(0u, log->Count(ST_OP_DATA));
	ASSERT_EQ(0, PostSource(1000, 40000, 2));
	st_event rd = net.WaitCompletion(0, 1, ST_REQ_READ);
	st_event so = net.WaitCompletion(1, 2, ST_REQ_SOURCE);
	EXPECT_EQ(ST_OK, rd.status) << st_status_str(rd.status);
	EXPECT_EQ(ST_OK, so.status);
	EXPECT_EQ(40000u, rd.len);
	EXPECT_TRUE(SameBytes(src->bytes, 1000, sink->bytes, 11, 40000));
	EXPECT_EQ(1u, CountCompletions(net, 0, 1));
}

TEST_F(ReadRtrTest, SourcesAreConsumedInPostingOrder)
{
	Init(20000, 20000);
	ASSERT_EQ(0, PostSource(0, 3000, 11));
	ASSERT_EQ(0, PostSource(5000, 4000, 12));
	ASSERT_EQ(0, Read(0, 5000, 1));
	ASSERT_EQ(0, Read(6000, 5000, 2));
	st_event r1 = net.WaitCompletion(0, 1, ST_REQ_READ);
	st_event r2 = net.WaitCompletion(0, 2, ST_REQ_READ);
	ASSERT_EQ(ST_OK, r1.status);
	ASSERT_EQ(ST_OK, r2.status);
	EXPECT_EQ(3000u, r1.len);
	EXPECT_EQ(4000u, r2.len);
	EXPECT_TRUE(SameBytes(src->bytes, 0, sink->bytes, 0, 3000));
	EXPECT_TRUE(SameBytes(src->bytes, 5000, sink->bytes, 6000, 4000));
	EXPECT_EQ(3000u, net.WaitCompletion(1, 11, ST_REQ_SOURCE).len);
	EXPECT_EQ(4000u, net.WaitCompletion(1, 12, ST_REQ_SOURCE).len);
	// Each RTR names its predecessor RTR in Offset (0 for the VC's first).
	auto rtr = log->Filter(ST_OP_REQUEST_TO_RECEIVE, 0, 1);
	ASSERT_EQ(2u, rtr.size()) << log->Trace();
	EXPECT_EQ(0u, rtr[0].h.offset);
	EXPECT_EQ(rtr[0].h.s_id, rtr[1].h.offset);
}

// docs/protocol.md "Order of consumption" (RTRs have their own chain): a
// lost first RTR must not let the second read take the first source.
TEST_F(ReadRtrTest, LostRtrStillConsumesSourcesInSendingOrder)
{
	Init(20000, 20000);
	Drop *d = net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_REQUEST_TO_RECEIVE));
	ASSERT_EQ(0, PostSource(0, 3000, 11));
	ASSERT_EQ(0, PostSource(5000, 4000, 12));
	ASSERT_EQ(0, Read(0, 5000, 1));
	ASSERT_EQ(0, Read(6000, 5000, 2));
	st_event r1 = net.WaitCompletion(0, 1, ST_REQ_READ);
	st_event r2 = net.WaitCompletion(0, 2, ST_REQ_READ);
	EXPECT_EQ(1u, d->dropped());
	ASSERT_EQ(ST_OK, r1.status);
	ASSERT_EQ(ST_OK, r2.status);
	EXPECT_EQ(3000u, r1.len) << "the first read got the second source\n" << log->Trace();
	EXPECT_EQ(4000u, r2.len);
	EXPECT_TRUE(SameBytes(src->bytes, 0, sink->bytes, 0, 3000));
	EXPECT_TRUE(SameBytes(src->bytes, 5000, sink->bytes, 6000, 4000));
}

TEST_F(ReadRtrTest, LocalArgumentErrors)
{
	Init(1000, 1000);
	st_engine *a = net.eng(0), *b = net.eng(1);
	EXPECT_EQ(-EINVAL, st_read(a, vp.a, sink->mx, 0, 0, 1)) << "len 0";
	EXPECT_EQ(-ENOENT, st_read(a, vp.a, 4321, 0, 10, 1));
	EXPECT_EQ(-EINVAL, st_read(a, vp.a, sink->mx, 999, 2, 1));
	EXPECT_EQ(-ENOENT, st_read(a, 4321, sink->mx, 0, 10, 1));
	EXPECT_EQ(-EINVAL, st_post_source(b, vp.b, src->mx, 0, 0, 1));
	EXPECT_EQ(-ENOENT, st_post_source(b, vp.b, 4321, 0, 10, 1));
	EXPECT_EQ(-EINVAL, st_post_source(b, vp.b, src->mx, 10, 991, 1));
	EXPECT_EQ(-ENOENT, st_post_source(b, 4321, src->mx, 0, 10, 1));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
}

}  // namespace
}  // namespace sttest
