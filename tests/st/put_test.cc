// SPDX-License-Identifier: MIT
// PUT into persistent memory (docs/protocol.md "Persistent memory"): Data
// STUs with D_id 0, cut by the peer's Max_STU and 2^Bufsize, every one but
// the Last Silent, acknowledged by one Request_Answer.
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr uint64_t kKey = 0x5055540000000001ull;

// B (the target) announces 2^14-byte buffers and accepts STUs of 2^12, so a
// PUT at an unaligned offset has to be split at B's buffer boundaries.
constexpr unsigned kTargetBufsize = 14;
constexpr unsigned kTargetMaxStu = 12;
// Just below a buffer boundary: the first STU is 3 bytes.
constexpr uint64_t kRemoteOff = 2 * (1ull << kTargetBufsize) - 3;
constexpr uint64_t kLocalOff = 7;
constexpr uint64_t kCanary = 4096;

void TargetTweak(int ep, st_config *c)
{
	if (ep == 1) {
		c->bufsize_log2 = kTargetBufsize;
		c->max_stu_log2 = kTargetMaxStu;
		c->block_log2 = kTargetBufsize;
	}
}

struct PutFixture {
	Net net{2, TargetTweak};
	VcPair vp;
	Region *src = nullptr;
	Region *dst = nullptr;
	std::shared_ptr<TapLog> log;

	// src at A (local, no remote access), dst at B (REMOTE_WRITE) with key kKey.
	void Init(uint64_t src_len, uint64_t dst_len, unsigned dst_access = kW, bool tap = true)
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		src = net.AddRegion(0, src_len, 0);
		dst = net.AddRegion(1, dst_len, dst_access, kKey);
		Fill(src, 0x51);
		Fill(dst, 0xD5);  // canary pattern everywhere
		if (tap)
			log = net.TapBoth(0, 1);
	}

	st_event Put(uint64_t loff, uint64_t roff, uint64_t len, uint64_t ctx, unsigned flags = 0,
		     uint32_t imm = 0)
	{
		st_rma r = Rma(src->mx, loff, kKey, roff, len, flags, imm);
		int rc = st_put(net.eng(0), vp.a, &r, ctx);
		EXPECT_EQ(0, rc);
		if (rc)
			return st_event{};
		return net.WaitCompletion(0, ctx, ST_REQ_PUT);
	}

	std::vector<OpRecord> PutStus() const { return log->Filter(ST_OP_DATA, 0, 1); }
};

// Silent/Last/B_num/Sync/S_id of one PUT's STUs (in wire order, no repeats).
void ExpectPutFlags(const std::vector<OpRecord> &stus, uint16_t rmx, bool notify, uint32_t imm)
{
	ASSERT_FALSE(stus.empty());
	uint32_t n = (uint32_t)stus.size();
	std::set<uint32_t> indices;
	for (uint32_t i = 0; i < n; i++) {
		const OpRecord &r = stus[i];
		SCOPED_TRACE(FormatOp(r));
		bool last = i + 1 == n;
		EXPECT_EQ(1u, r.vc) << "Data on the data channel";
		EXPECT_EQ(0u, r.h.d_id) << "D_id 0: a PUT";
		EXPECT_EQ(rmx, r.h.b_id) << "B_id = R_Mx";
		EXPECT_EQ(0u, r.h.param);
		EXPECT_EQ(n, r.h.b_num) << "B_num = STUs in this PUT";
		EXPECT_EQ(stus[0].h.s_id, r.h.s_id) << "one PUT id";
		EXPECT_NE(0u, r.h.s_id);
		EXPECT_EQ(!last, (r.h.flags & ST_FLAG_SILENT) != 0) << "Silent on all but the Last";
		EXPECT_EQ(last, (r.h.flags & ST_FLAG_LAST) != 0) << "Last on the Last only";
		EXPECT_EQ(last && notify, (r.h.flags & ST_FLAG_INTERRUPT) != 0);
		if (!last) {
			indices.insert(r.h.sync);
		} else if (notify) {
			EXPECT_EQ(imm, r.h.sync) << "the Last STU's Sync carries the completion data";
		}
	}
	// Every non-Last STU has its own index in 0 .. B_num-2.
	EXPECT_EQ(n - 1, indices.size());
	if (!indices.empty()) {
		EXPECT_EQ(n - 2, *indices.rbegin());
	}
}

// ---- sizes ------------------------------------------------------------------------

struct PutSizeTest : ::testing::TestWithParam<uint64_t>, PutFixture {};

TEST_P(PutSizeTest, ByteExactAtUnalignedOffsetWithinPeerLimits)
{
	const uint64_t len = GetParam();
	Init(kLocalOff + len + 5, kRemoteOff + len + kCanary);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(kLocalOff, kRemoteOff, len, 0x100);
	ASSERT_EQ(ST_OK, e.status) << st_status_str(e.status) << " reason " << e.reason;
	EXPECT_EQ(len, e.len);
	EXPECT_EQ(vp.a, e.vc);
	EXPECT_TRUE(SameBytes(src->bytes, kLocalOff, dst->bytes, kRemoteOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, dst->bytes, kRemoteOff, len));
	EXPECT_EQ(0u, net.harness_errors());

	auto stus = PutStus();
	EXPECT_TRUE(StusCoverExactly(stus, kTargetBufsize, kTargetMaxStu, kRemoteOff, len));
	ExpectPutFlags(stus, dst->mx, false, 0);
	// One answer for the whole PUT, naming it and its length.
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ra.size()) << log->Trace();
	EXPECT_FALSE(IsReject(ra[0]));
	EXPECT_EQ(stus[0].h.s_id, ra[0].h.d_id);
	EXPECT_EQ(len, Len64(ra[0].h));
	EXPECT_EQ(len, net.Counters(0, vp.a).bytes_sent);
	EXPECT_EQ(len, net.Counters(1, vp.b).bytes_received);
	EXPECT_EQ(0u, net.Counters(0).retransmits);
}

INSTANTIATE_TEST_SUITE_P(Put, PutSizeTest,
			 ::testing::Values(1, 31, 32, 33, 4095, 4096, 4097, 65535, 65536, 65537,
					   kMiB + 7),
			 [](const ::testing::TestParamInfo<uint64_t> &i) {
				 return "len" + std::to_string(i.param);
			 });

// ---- fixed scenarios ------------------------------------------------------------------

struct PutTest : ::testing::Test, PutFixture {};

TEST_F(PutTest, SixtyFourMiBByteExact)
{
	const uint64_t len = 64 * kMiB;
	const uint64_t roff = 12345;  // unaligned, not near a buffer start
	Init(len + 3, roff + len + 64, kW, /*tap=*/false);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(3, roff, len, 0x64);
	ASSERT_EQ(ST_OK, e.status) << st_status_str(e.status);
	EXPECT_EQ(len, e.len);
	EXPECT_TRUE(SameBytes(src->bytes, 3, dst->bytes, roff, len));
	EXPECT_TRUE(OutsideUnchanged(before, dst->bytes, roff, len));
	EXPECT_EQ(len, net.Counters(1, vp.b).bytes_received);
	// Each STU is at most 2^12 and none crosses a 2^14 buffer: the count is exact.
	uint64_t buf = 1ull << kTargetBufsize;
	uint64_t head = buf - roff % buf, rest = len - head;
	uint64_t want = (head + 4095) / 4096 + rest / buf * (buf / 4096) + (rest % buf + 4095) / 4096;
	EXPECT_EQ(want, net.Counters(0, vp.a).ops_sent[ST_OP_DATA]);
}

TEST_F(PutTest, SmallPutExactOpSequence)
{
	Init(20000, 20000);
	st_event e = Put(0, 1000, 10000, 1);
	ASSERT_EQ(ST_OK, e.status);
	// 10000 bytes from 1000 in 2^12 STUs inside 2^14 buffers: 4096, 4096, 1808.
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_MEMORY_REGION, ST_OP_MEMORY_REGION_AVAILABLE,
					 ST_OP_DATA, ST_OP_DATA, ST_OP_DATA, ST_OP_REQUEST_ANSWER}),
		  log->Ops())
		<< log->Trace();
	auto stus = PutStus();
	ASSERT_EQ(3u, stus.size());
	ExpectPutFlags(stus, dst->mx, false, 0);
	EXPECT_EQ(1000u, Pos(stus[0].h, kTargetBufsize));
	EXPECT_TRUE(StusCoverExactly(stus, kTargetBufsize, kTargetMaxStu, 1000, 10000));
	// Bufx:Offset by B's Bufsize.
	EXPECT_EQ(0u, stus[0].h.bufx);
	EXPECT_EQ(1000u, stus[0].h.offset);
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ra.size());
	EXPECT_EQ(0u, ra[0].vc) << "the answer is a control op";
	EXPECT_EQ(stus[0].h.s_id, ra[0].h.d_id);
	EXPECT_EQ(10000u, Len64(ra[0].h));
	EXPECT_EQ(nullptr, net.FindEvent(1, ST_EV_DATA_PLACED)) << "no NOTIFY, no event";
}

TEST_F(PutTest, NotifyDeliversImmAsDataPlacedAtTheTarget)
{
	Init(20000, 40000);
	st_event e = Put(5, 16380, 9000, 2, ST_RMA_NOTIFY, 0xCAFEF00D);
	ASSERT_EQ(ST_OK, e.status);
	st_event p = net.WaitEvent(1, [](const st_event &ev) { return ev.type == ST_EV_DATA_PLACED; });
	EXPECT_EQ(ST_EV_DATA_PLACED, p.type);
	EXPECT_EQ(ST_REQ_PUT, p.kind);
	EXPECT_TRUE(p.has_value);
	EXPECT_EQ(0xCAFEF00Du, p.value);
	EXPECT_EQ(9000u, p.len);
	EXPECT_EQ(kKey, p.rkey);
	EXPECT_EQ(16380u, p.offset);
	EXPECT_EQ(vp.b, p.vc);
	EXPECT_EQ(0, memcmp(p.peer, net.ula(0), ST_ULA_LEN));
	EXPECT_EQ(1u, net.CountEvents(1, ST_EV_DATA_PLACED));
	auto stus = PutStus();
	ExpectPutFlags(stus, dst->mx, true, 0xCAFEF00D);
	EXPECT_TRUE(SameBytes(src->bytes, 5, dst->bytes, 16380, 9000));
	// The target learns of the data only once all of it is placed.
	EXPECT_GE(net.EventTime(1, [](const st_event &ev) { return ev.type == ST_EV_DATA_PLACED; }),
		  stus.back().at_ns);
}

TEST_F(PutTest, NotifyOnSingleStuPut)
{
	Init(100, 100);
	ASSERT_EQ(ST_OK, Put(0, 3, 1, 3, ST_RMA_NOTIFY, 7).status);
	auto stus = PutStus();
	ASSERT_EQ(1u, stus.size());
	EXPECT_EQ(ST_FLAG_LAST | ST_FLAG_INTERRUPT, stus[0].h.flags & (ST_FLAG_LAST | ST_FLAG_INTERRUPT | ST_FLAG_SILENT));
	EXPECT_EQ(1u, stus[0].h.b_num);
	EXPECT_EQ(7u, stus[0].h.sync);
	const st_event *p = net.FindEvent(1, ST_EV_DATA_PLACED);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(7u, p->value);
	EXPECT_EQ(1u, p->len);
	EXPECT_EQ(3u, p->offset);
}

TEST_F(PutTest, MissingRemoteWriteFailsAndLeavesTargetUnchanged)
{
	Init(8192, 8192, kR | kA);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(0, 100, 5000, 4);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_ACCESS, e.reason) << st_reject_str(e.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, before.size()));
	EXPECT_EQ(0u, dst->writes);
	EXPECT_EQ(nullptr, net.FindEvent(1, ST_EV_DATA_PLACED));
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_GE(ra.size(), 1u) << log->Trace();
	EXPECT_TRUE(IsReject(ra[0]));
	EXPECT_EQ(ST_OP_DATA, ra[0].h.b_id);
	EXPECT_EQ(1u, CountCompletions(net, 0, 4)) << net.DumpEvents(0);
}

// docs/protocol.md: a Reject of a PUT is final and kept, so the repeat that
// follows a lost Reject gets the same Reject (not a timeout, not a write).
TEST_F(PutTest, LostRejectIsAnsweredAgainOnRepeat)
{
	Init(8192, 8192, kR);
	Drop *d = net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_REQUEST_ANSWER));
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(0, 100, 5000, 8);
	EXPECT_EQ(1u, d->dropped());
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_ACCESS, e.reason);
	net.RunUntilIdle();
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, before.size()));
	for (const auto &ra : log->Filter(ST_OP_REQUEST_ANSWER, 1, 0)) {
		EXPECT_TRUE(IsReject(ra)) << FormatOp(ra);
		EXPECT_EQ(ST_REJ_ACCESS, ra.h.param) << FormatOp(ra);
	}
}

TEST_F(PutTest, EntirelyOutOfRangeFailsAndWritesNothing)
{
	Init(8192, 10000);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(0, 10000, 100, 5);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_BAD_RANGE, e.reason) << st_reject_str(e.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, before.size()));
	EXPECT_EQ(0u, net.harness_errors());
}

TEST_F(PutTest, SingleStuStraddlingTheEndWritesNothing)
{
	Init(8192, 10000);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(0, 9990, 20, 6);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status);
	EXPECT_EQ(ST_REJ_BAD_RANGE, e.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, before.size()))
		<< "nothing is placed before every check passed";
	EXPECT_EQ(0u, net.harness_errors());
}

TEST_F(PutTest, MultiStuPastTheEndFailsAndKeepsCanaryBeforeIt)
{
	Init(16384, 10000);
	std::vector<uint8_t> before = dst->bytes;
	st_event e = Put(0, 2000, 9000, 7);  // 1000 bytes too many
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, 2000)) << "canary before the target range";
	EXPECT_EQ(0u, net.harness_errors()) << "no access outside the region";
	EXPECT_EQ(1u, CountCompletions(net, 0, 7)) << net.DumpEvents(0);
}

TEST_F(PutTest, RemoteRangeThatCannotBeAddressedIsRejectedByTheApi)
{
	Init(100, 100);
	st_rma r = Rma(src->mx, 0, kKey, UINT64_MAX - 5, 10);
	EXPECT_EQ(-EINVAL, st_put(net.eng(0), vp.a, &r, 1)) << "offset + len overflows";
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
}

TEST_F(PutTest, ManyConcurrentPutsAllLandByteExact)
{
	const uint64_t n = 40, len = 3001;  // more than 16: slots are not involved, room is
	Init(n * len, n * len + 100);
	std::vector<uint8_t> before = dst->bytes;
	for (uint64_t i = 0; i < n; i++) {
		st_rma r = Rma(src->mx, i * len, kKey, 50 + i * len, len);
		ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, 1000 + i));
	}
	for (uint64_t i = 0; i < n; i++) {
		st_event e = net.WaitCompletion(0, 1000 + i, ST_REQ_PUT);
		EXPECT_EQ(ST_OK, e.status) << i;
		EXPECT_EQ(len, e.len);
	}
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 50, n * len));
	EXPECT_TRUE(OutsideUnchanged(before, dst->bytes, 50, n * len));
	EXPECT_EQ(n, log->Count(ST_OP_REQUEST_ANSWER, 1, 0));
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_MEMORY_REGION)) << "one RMR for all of them";
}

TEST(PutSmallPeerTest, StusFollowThePeersSmallMaxStuAndBufsize)
{
	// B: 2^10-byte buffers, STUs of at most 2^9.
	Net net(2, [](int ep, st_config *c) {
		if (ep == 1) {
			c->bufsize_log2 = 10;
			c->max_stu_log2 = 9;
			c->block_log2 = 10;
		}
	});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *src = net.AddRegion(0, 8000, 0);
	Region *dst = net.AddRegion(1, 8000, kW, kKey);
	Fill(src, 1);
	auto log = net.TapBoth(0, 1);
	st_rma r = Rma(src->mx, 11, kKey, 1023, 5000);
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, 1));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_PUT).status);
	auto stus = log->Filter(ST_OP_DATA, 0, 1);
	EXPECT_TRUE(StusCoverExactly(stus, 10, 9, 1023, 5000)) << log->Trace();
	EXPECT_EQ(1u, stus[0].payload_len) << "1023 is one byte before a 2^10 boundary";
	EXPECT_TRUE(SameBytes(src->bytes, 11, dst->bytes, 1023, 5000));
}

}  // namespace
}  // namespace sttest
