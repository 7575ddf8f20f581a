// SPDX-License-Identifier: MIT
// GET from persistent memory (docs/protocol.md "Persistent memory", GET):
// GET (Function 0, Param = T_len, B_id = R_Mx, position by B's Bufsize)
// answered by Data STUs positioned relative to the GET by A's Bufsize.
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr uint64_t kKey = 0x4745540000000002ull;

// A (the initiator, which receives the Data) announces 2^13-byte buffers and
// STUs of at most 2^11, so a long GET is cut by A's limits, not B's.
constexpr unsigned kInitBufsize = 13;
constexpr unsigned kInitMaxStu = 11;
constexpr uint64_t kRemoteOff = 65536 + 12347;  // Bufx 1 by B's 2^16 buffers
constexpr uint64_t kLocalOff = 9;
constexpr uint64_t kSinkCanary = 100;

void InitTweak(int ep, st_config *c)
{
	if (ep == 0) {
		c->bufsize_log2 = kInitBufsize;
		c->max_stu_log2 = kInitMaxStu;
		c->block_log2 = kInitBufsize;
	}
}

struct GetFixture {
	Net net{2, InitTweak};
	VcPair vp;
	Region *sink = nullptr;  // A
	Region *src = nullptr;   // B, key kKey
	std::shared_ptr<TapLog> log;

	void Init(uint64_t sink_len, uint64_t src_len, unsigned src_access = kR)
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		sink = net.AddRegion(0, sink_len, 0);
		src = net.AddRegion(1, src_len, src_access, kKey);
		Fill(sink, 0xC4);  // canary pattern
		Fill(src, 0x6E7);
		log = net.TapBoth(0, 1);
	}

	void Expose()
	{
		ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 0xE0));
		ASSERT_EQ(ST_OK, net.WaitEvent(0, ST_EV_REGION_EXPOSED, 0xE0).status);
	}

	st_event Get(uint64_t loff, uint64_t roff, uint64_t len, uint64_t ctx)
	{
		st_rma r = Rma(sink->mx, loff, kKey, roff, len);
		int rc = st_get(net.eng(0), vp.a, &r, ctx);
		EXPECT_EQ(0, rc);
		if (rc)
			return st_event{};
		return net.WaitCompletion(0, ctx, ST_REQ_GET);
	}
};

// ---- sizes --------------------------------------------------------------------------

struct GetSizeTest : ::testing::TestWithParam<uint64_t>, GetFixture {};

TEST_P(GetSizeTest, ByteExactWithinInitiatorLimits)
{
	const uint64_t len = GetParam();
	Init(kLocalOff + len + kSinkCanary, kRemoteOff + len + 10);
	std::vector<uint8_t> before = sink->bytes;
	st_event e = Get(kLocalOff, kRemoteOff, len, 0x200);
	ASSERT_EQ(ST_OK, e.status) << st_status_str(e.status) << " reason " << e.reason << "\n"
				   << log->Trace();
	EXPECT_EQ(len, e.len);
	EXPECT_EQ(ST_REQ_GET, e.kind);
	EXPECT_TRUE(SameBytes(src->bytes, kRemoteOff, sink->bytes, kLocalOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, sink->bytes, kLocalOff, len));
	EXPECT_EQ(0u, net.harness_errors());

	auto gets = log->Filter(ST_OP_GET, 0, 1);
	ASSERT_EQ(1u, gets.size()) << log->Trace();
	const st_hdr &g = gets[0].h;
	auto data = log->Filter(ST_OP_DATA, 1, 0);
	// Positions relative to the GET, by A's Bufsize; STUs by A's Max_STU.
	EXPECT_TRUE(StusCoverExactly(data, kInitBufsize, kInitMaxStu, 0, len)) << log->Trace();
	for (size_t i = 0; i < data.size(); i++) {
		SCOPED_TRACE(FormatOp(data[i]));
		EXPECT_EQ(1u, data[i].vc);
		EXPECT_EQ(g.s_id, data[i].h.d_id) << "D_id = G_num";
		EXPECT_EQ(0u, data[i].h.s_id);
		EXPECT_EQ(i + 1 == data.size(), (data[i].h.flags & ST_FLAG_LAST) != 0);
	}
	EXPECT_EQ(len, net.Counters(0, vp.a).bytes_received);
}

INSTANTIATE_TEST_SUITE_P(Get, GetSizeTest,
			 ::testing::Values(1, 31, 32, 33, 4095, 4096, 4097, 65535),
			 [](const ::testing::TestParamInfo<uint64_t> &i) {
				 return "len" + std::to_string(i.param);
			 });

// ---- fixed scenarios -----------------------------------------------------------------

struct GetTest : ::testing::Test, GetFixture {};

TEST_F(GetTest, SmallGetExactOpSequenceAndFields)
{
	Init(1000, 200000);
	st_event e = Get(3, kRemoteOff, 100, 1);
	ASSERT_EQ(ST_OK, e.status);
	ASSERT_EQ((std::vector<unsigned>{ST_OP_REQUEST_MEMORY_REGION, ST_OP_MEMORY_REGION_AVAILABLE,
					 ST_OP_GET, ST_OP_DATA}),
		  log->Ops())
		<< log->Trace();
	const OpRecord &get = log->records()[2];
	const OpRecord &data = log->records()[3];
	EXPECT_EQ(0u, get.vc);
	EXPECT_EQ(ST_FN_GET, st_hdr_function(&get.h));
	EXPECT_EQ(100u, get.h.param) << "T_len";
	EXPECT_EQ(src->mx, get.h.b_id) << "B_id = R_Mx";
	EXPECT_EQ(1u, get.h.bufx) << "position by B's 2^16 Bufsize";
	EXPECT_EQ(12347u, get.h.offset);
	EXPECT_EQ(0u, get.h.sync);
	EXPECT_EQ(0u, get.h.b_num);
	EXPECT_EQ(0u, get.h.d_id);
	EXPECT_NE(0u, get.h.s_id) << "G_num";
	EXPECT_EQ(0u, get.payload_len);
	EXPECT_EQ(1u, data.vc);
	EXPECT_EQ(get.h.s_id, data.h.d_id);
	EXPECT_EQ(0u, data.h.s_id);
	EXPECT_EQ(0u, data.h.bufx);
	EXPECT_EQ(0u, data.h.offset);
	EXPECT_TRUE(data.h.flags & ST_FLAG_LAST);
	EXPECT_EQ(100u, data.payload_len);
	EXPECT_TRUE(SameBytes(src->bytes, kRemoteOff, sink->bytes, 3, 100));
}

TEST_F(GetTest, LengthLimitsEnforcedByTheApi)
{
	Init(200000, 200000);
	st_rma r = Rma(sink->mx, 0, kKey, 0, 65536);
	EXPECT_EQ(-EINVAL, st_get(net.eng(0), vp.a, &r, 1)) << "T_len is 16 bits";
	r.len = 0;
	EXPECT_EQ(-EINVAL, st_get(net.eng(0), vp.a, &r, 1));
	r = Rma(sink->mx, sink->bytes.size() - 10, kKey, 0, 11);
	EXPECT_EQ(-EINVAL, st_get(net.eng(0), vp.a, &r, 1)) << "local sink too short";
	r = Rma(4321, 0, kKey, 0, 10);
	EXPECT_EQ(-ENOENT, st_get(net.eng(0), vp.a, &r, 1)) << "unknown local Mx";
	r = Rma(sink->mx, 0, 0, 0, 10);
	EXPECT_EQ(-EINVAL, st_get(net.eng(0), vp.a, &r, 1)) << "rkey 0";
	r = Rma(sink->mx, 0, kKey, 0, 10, ST_RMA_NOTIFY);
	EXPECT_EQ(-EINVAL, st_get(net.eng(0), vp.a, &r, 1)) << "NOTIFY is for PUT";
	r = Rma(sink->mx, 0, kKey, 0, 10);
	EXPECT_EQ(-ENOENT, st_get(net.eng(0), 4321, &r, 1));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
	// 65535 is allowed.
	st_event e = Get(0, 0, 65535, 2);
	EXPECT_EQ(ST_OK, e.status);
	EXPECT_TRUE(SameBytes(src->bytes, 0, sink->bytes, 0, 65535));
}

TEST_F(GetTest, SixtyFourOutstandingGetsQueueForSlotsAndAllComplete)
{
	const uint64_t n = 64, len = 3000;
	Init(n * len + 64, n * len + 1000);
	Expose();
	ASSERT_EQ(16, net.Info(0, vp.a).slots_granted_to_us);
	log->Clear();
	std::vector<uint8_t> before = sink->bytes;
	for (uint64_t i = 0; i < n; i++) {
		// Remote pieces in reverse order so that a mix-up cannot go unnoticed.
		st_rma r = Rma(sink->mx, 32 + i * len, kKey, (n - 1 - i) * len + 7, len);
		ASSERT_EQ(0, st_get(net.eng(0), vp.a, &r, 500 + i)) << i;
	}
	VcInfo info = net.Info(0, vp.a);
	EXPECT_EQ(16, info.slots_in_use);
	EXPECT_EQ(n - 16, info.queued_ops);
	for (uint64_t i = 0; i < n; i++) {
		st_event e = net.WaitCompletion(0, 500 + i, ST_REQ_GET);
		ASSERT_EQ(ST_OK, e.status) << i << "\n" << net.DumpEvents(0);
		EXPECT_EQ(len, e.len);
		EXPECT_TRUE(SameBytes(src->bytes, (n - 1 - i) * len + 7, sink->bytes, 32 + i * len, len)) << i;
	}
	EXPECT_TRUE(OutsideUnchanged(before, sink->bytes, 32, n * len));
	// Never more than 16 GETs awaiting their last Data.
	std::set<uint32_t> out;
	size_t most = 0;
	for (const auto &r : log->records()) {
		if (r.h.op == ST_OP_GET && r.src == 0)
			out.insert(r.h.s_id);
		else if (r.h.op == ST_OP_DATA && r.src == 1 && (r.h.flags & ST_FLAG_LAST))
			out.erase(r.h.d_id);
		most = std::max(most, out.size());
	}
	EXPECT_EQ(16u, most) << log->Trace();
	EXPECT_EQ(n, log->Count(ST_OP_GET, 0, 1)) << "no GET was repeated";
	EXPECT_EQ(0u, net.Counters(1).drops[ST_DROP_NO_SLOTS]);
	EXPECT_GE(net.Counters(0, vp.a).slot_waits, n - 16);
	EXPECT_EQ(0, net.Info(0, vp.a).slots_in_use);
	EXPECT_EQ(0u, net.Info(0, vp.a).queued_ops);
}

TEST_F(GetTest, MissingRemoteReadFailsAndLeavesSinkUnchanged)
{
	Init(10000, 10000, kW | kA);
	std::vector<uint8_t> before = sink->bytes;
	st_event e = Get(0, 0, 5000, 3);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_ACCESS, e.reason) << st_reject_str(e.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, sink->bytes, 0, before.size()));
	EXPECT_EQ(0u, log->Count(ST_OP_DATA)) << log->Trace();
	EXPECT_EQ(0u, src->reads);
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ra.size());
	EXPECT_TRUE(IsReject(ra[0]));
	EXPECT_EQ(ST_OP_GET, ra[0].h.b_id);
	EXPECT_EQ(log->Filter(ST_OP_GET, 0, 1)[0].h.s_id, ra[0].h.d_id);
	EXPECT_EQ(0, net.Info(0, vp.a).slots_in_use) << "the Reject frees the slot";
}

TEST_F(GetTest, OutOfRangeFailsAndLeavesSinkUnchanged)
{
	Init(10000, 10000);
	std::vector<uint8_t> before = sink->bytes;
	st_event e = Get(0, 9990, 20, 4);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status);
	EXPECT_EQ(ST_REJ_BAD_RANGE, e.reason) << st_reject_str(e.reason);
	st_event e2 = Get(0, 10000, 1, 5);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e2.status);
	EXPECT_EQ(ST_REJ_BAD_RANGE, e2.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, sink->bytes, 0, before.size()));
	EXPECT_EQ(0u, log->Count(ST_OP_DATA)) << log->Trace();
	EXPECT_EQ(0u, net.harness_errors());
	// The last byte is in range.
	EXPECT_EQ(ST_OK, Get(0, 9999, 1, 6).status);
	EXPECT_EQ(src->bytes[9999], sink->bytes[0]);
}

TEST_F(GetTest, LostDataIsRecoveredByRepeatingTheGet)
{
	Init(70000, 70000);
	Expose();
	log->Clear();
	Drop *d = net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_DATA));
	st_event e = Get(1, 100, 30000, 7);
	ASSERT_EQ(ST_OK, e.status) << log->Trace();
	EXPECT_EQ(1u, d->dropped());
	EXPECT_TRUE(SameBytes(src->bytes, 100, sink->bytes, 1, 30000));
	auto gets = log->Filter(ST_OP_GET, 0, 1);
	ASSERT_EQ(2u, gets.size()) << log->Trace();
	EXPECT_EQ(gets[0].h.s_id, gets[1].h.s_id) << "a repeat keeps its G_num";
	EXPECT_EQ(1u, CountCompletions(net, 0, 7));
	EXPECT_GE(net.Counters(0, vp.a).retransmits, 1u);
}

}  // namespace
}  // namespace sttest
