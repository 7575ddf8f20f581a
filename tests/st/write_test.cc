// SPDX-License-Identifier: MIT
// Single-use write (docs/protocol.md "Single-use memory", Write RTS/CTS):
// st_send -> Request_To_Send -> Clear_To_Send per Block -> Data ->
// Request_Answer, into the peer's posted receives (st_post_recv).
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr unsigned kRecvBufsize = 14;  // B, the data receiver
constexpr unsigned kRecvMaxStu = 12;
constexpr uint64_t kSendOff = 5;
constexpr uint64_t kRecvOff = 13;
constexpr uint64_t kCanary = 64;

struct WriteFixture {
	Net net;
	VcPair vp;
	Region *src = nullptr;  // A
	Region *dst = nullptr;  // B
	std::shared_ptr<TapLog> log;

	explicit WriteFixture(const Net::Tweak &t) : net(2, t) {}

	void Init(uint64_t src_len, uint64_t dst_len, bool tap = true)
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		src = net.AddRegion(0, src_len, 0);
		dst = net.AddRegion(1, dst_len, 0);
		Fill(src, 0x5E);
		Fill(dst, 0xCA);
		if (tap)
			log = net.TapBoth(0, 1);
	}

	int PostRecv(uint64_t off, uint64_t len, uint64_t ctx)
	{
		return st_post_recv(net.eng(1), vp.b, dst->mx, off, len, ctx);
	}

	int Send(uint64_t off, uint64_t len, uint64_t ctx, bool has_imm = false, uint32_t imm = 0)
	{
		return st_send(net.eng(0), vp.a, src->mx, off, len, has_imm, imm, ctx);
	}

	// Sends len bytes into a receive posted beforehand; both completions.
	void Transfer(uint64_t len, st_event *send, st_event *recv)
	{
		ASSERT_EQ(0, PostRecv(kRecvOff, len, 0xB0));
		ASSERT_EQ(0, Send(kSendOff, len, 0xA0));
		*send = net.WaitCompletion(0, 0xA0, ST_REQ_SEND);
		*recv = net.WaitCompletion(1, 0xB0, ST_REQ_RECV);
	}
};

void RecvTweak(int ep, st_config *c)
{
	if (ep == 1) {
		c->bufsize_log2 = kRecvBufsize;
		c->max_stu_log2 = kRecvMaxStu;
	}
}

// Checks the Data of one write against the RTS/CTS ids and Block layout.
void ExpectDataFields(const TapLog &log, uint64_t len, unsigned stu_log2, unsigned buf_log2)
{
	auto rts = log.Filter(ST_OP_REQUEST_TO_SEND, 0, 1);
	auto cts = log.Filter(ST_OP_CLEAR_TO_SEND, 1, 0);
	auto data = log.Filter(ST_OP_DATA, 0, 1);
	ASSERT_EQ(1u, rts.size());
	ASSERT_FALSE(cts.empty());
	const uint32_t i_id = rts[0].h.s_id, r_id = cts[0].h.s_id;
	const unsigned blk = cts[0].h.param;
	const uint64_t stu = 1ull << stu_log2;
	EXPECT_TRUE(StusCoverExactly(data, buf_log2, stu_log2, 0, len));
	size_t lasts = 0;
	for (const auto &d : data) {
		SCOPED_TRACE(FormatOp(d));
		uint64_t pos = Pos(d.h, buf_log2);
		EXPECT_EQ(1u, d.vc);
		EXPECT_EQ(r_id, d.h.d_id) << "D_id = R_id";
		EXPECT_EQ(i_id, d.h.s_id) << "S_id = I_id";
		EXPECT_EQ(0u, d.h.b_id);
		EXPECT_EQ(pos >> blk, d.h.b_num) << "B_num = the Block";
		EXPECT_EQ((uint32_t)((pos >> blk) << blk), d.h.sync) << "Sync = F_Offset";
		EXPECT_EQ((pos & ((1ull << blk) - 1)) / stu, d.h.param) << "Param = STU index in the Block";
		bool final = pos + d.payload_len == len;
		EXPECT_EQ(final ? std::min<uint64_t>(stu, len - pos) : stu, d.payload_len)
			<< "every STU but the last is full";
		EXPECT_EQ(final, (d.h.flags & ST_FLAG_LAST) != 0);
		lasts += final;
	}
	EXPECT_EQ(1u, lasts);
	for (const auto &c : cts) {
		EXPECT_EQ(i_id, c.h.d_id);
		EXPECT_EQ(r_id, c.h.s_id);
		EXPECT_EQ(blk, c.h.param) << "one Blocksize per transfer";
	}
}

// ---- sizes ----------------------------------------------------------------------------------

struct WriteRtsCtsSizeTest : ::testing::TestWithParam<uint64_t>, WriteFixture {
	WriteRtsCtsSizeTest() : WriteFixture(RecvTweak) {}
};

TEST_P(WriteRtsCtsSizeTest, ByteExactIntoPostedReceive)
{
	const uint64_t len = GetParam();
	Init(kSendOff + len, kRecvOff + len + kCanary);
	std::vector<uint8_t> before = dst->bytes;
	st_event s, r;
	Transfer(len, &s, &r);
	ASSERT_EQ(ST_OK, s.status) << st_status_str(s.status) << " reason " << s.reason;
	ASSERT_EQ(ST_OK, r.status) << st_status_str(r.status);
	EXPECT_EQ(len, s.len);
	EXPECT_EQ(len, r.len);
	EXPECT_EQ(ST_EV_RECV_COMPLETE, r.type);
	EXPECT_FALSE(r.has_value);
	EXPECT_EQ(vp.b, r.vc);
	EXPECT_TRUE(SameBytes(src->bytes, kSendOff, dst->bytes, kRecvOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, dst->bytes, kRecvOff, len));
	EXPECT_EQ(0u, net.harness_errors());
	ExpectDataFields(*log, len, kRecvMaxStu, kRecvBufsize);
	EXPECT_EQ(0u, net.Counters(0).retransmits);
	EXPECT_EQ(len, net.Counters(1, vp.b).bytes_received);
}

INSTANTIATE_TEST_SUITE_P(WriteRtsCts, WriteRtsCtsSizeTest,
			 ::testing::Values(1, 31, 32, 33, 4095, 4096, 4097, 65535, 65536, 65537,
					   kMiB + 7),
			 [](const ::testing::TestParamInfo<uint64_t> &i) {
				 return "len" + std::to_string(i.param);
			 });

// ---- fixed scenarios ----------------------------------------------------------------------

struct WriteRtsCtsTest : ::testing::Test, WriteFixture {
	WriteRtsCtsTest() : WriteFixture(RecvTweak) {}
};

TEST_F(WriteRtsCtsTest, SixtyFourMiBByteExact)
{
	const uint64_t len = 64 * kMiB;
	Init(kSendOff + len, kRecvOff + len + kCanary, /*tap=*/false);
	std::vector<uint8_t> before = dst->bytes;
	st_event s, r;
	Transfer(len, &s, &r);
	ASSERT_EQ(ST_OK, s.status) << st_status_str(s.status);
	ASSERT_EQ(ST_OK, r.status) << st_status_str(r.status);
	EXPECT_EQ(len, s.len);
	EXPECT_EQ(len, r.len);
	EXPECT_TRUE(SameBytes(src->bytes, kSendOff, dst->bytes, kRecvOff, len));
	EXPECT_TRUE(OutsideUnchanged(before, dst->bytes, kRecvOff, len));
	EXPECT_EQ(len / 4096, net.Counters(0, vp.a).ops_sent[ST_OP_DATA]);
}

TEST_F(WriteRtsCtsTest, SmallWriteExactOpSequenceAndFields)
{
	Init(1000, 1000);
	ASSERT_EQ(0, PostRecv(kRecvOff, 500, 2));
	ASSERT_EQ(0, Send(kSendOff, 100, 1));
	ASSERT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_SEND).status);
	ASSERT_EQ(ST_OK, net.WaitCompletion(1, 2, ST_REQ_RECV).status);
	net.RunUntilIdle();
	ASSERT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_SEND, ST_OP_CLEAR_TO_SEND, ST_OP_DATA,
					 ST_OP_REQUEST_ANSWER}),
		  log->Ops())
		<< log->Trace();
	const st_hdr &rts = log->records()[0].h;
	const st_hdr &cts = log->records()[1].h;
	const st_hdr &data = log->records()[2].h;
	const st_hdr &ra = log->records()[3].h;
	const st_config &ca = net.cfg(0), &cb = net.cfg(1);
	EXPECT_EQ(ca.cts_req, rts.param) << "CTS_req";
	EXPECT_EQ(ca.block_log2, rts.b_id) << "Max_Block";
	EXPECT_EQ(100u, Len64(rts)) << "T_len";
	EXPECT_EQ(0xFFFFFFFFu, rts.d_id);
	EXPECT_NE(0u, rts.s_id);
	EXPECT_FALSE(rts.flags & (ST_FLAG_INTERRUPT | ST_FLAG_OUT_OF_ORDER));
	EXPECT_EQ(std::min(ca.block_log2, cb.block_log2), cts.param) << "Blocksize";
	EXPECT_EQ(0u, cts.b_id);
	EXPECT_EQ(0u, cts.bufx);
	EXPECT_EQ(0u, cts.offset);
	EXPECT_EQ(0u, cts.sync);
	EXPECT_EQ(0u, cts.b_num);
	EXPECT_EQ(rts.s_id, cts.d_id) << "D_id = I_id";
	EXPECT_NE(0u, cts.s_id) << "S_id = R_id";
	EXPECT_FALSE(cts.flags & ST_FLAG_OUT_OF_ORDER);
	EXPECT_EQ(0u, data.param);
	EXPECT_EQ(0u, data.b_id);
	EXPECT_EQ(0u, data.bufx);
	EXPECT_EQ(0u, data.offset);
	EXPECT_EQ(0u, data.sync);
	EXPECT_EQ(0u, data.b_num);
	EXPECT_EQ(cts.s_id, data.d_id) << "D_id = R_id";
	EXPECT_EQ(rts.s_id, data.s_id) << "S_id = I_id";
	EXPECT_TRUE(data.flags & ST_FLAG_LAST);
	EXPECT_EQ(100u, log->records()[2].payload_len);
	EXPECT_FALSE(ra.flags & ST_FLAG_REJECT);
	EXPECT_EQ(rts.s_id, ra.d_id) << "D_id = I_id";
	EXPECT_EQ(cts.s_id, ra.s_id) << "S_id = R_id";
	EXPECT_EQ(100u, Len64(ra));
	EXPECT_EQ(1, log->records()[3].src);
	EXPECT_TRUE(SameBytes(src->bytes, kSendOff, dst->bytes, kRecvOff, 100));
}

// The CTSs of B that are not yet answered by a complete Block, at the worst
// moment, from a tap log (CTS recorded when B sends it, Data when A sends it).
size_t MostOutstandingCts(const TapLog &log, unsigned blk, uint64_t total)
{
	std::map<uint64_t, uint64_t> out;  // block -> bytes still missing
	size_t most = 0;
	for (const auto &r : log.records()) {
		if (r.h.op == ST_OP_CLEAR_TO_SEND && r.src == 1) {
			uint64_t start = (uint64_t)r.h.b_num << blk;
			if (!out.count(r.h.b_num))
				out[r.h.b_num] = std::min<uint64_t>(1ull << blk, total - start);
		} else if (r.h.op == ST_OP_DATA && r.src == 0) {
			auto it = out.find(r.h.b_num);
			if (it != out.end()) {
				it->second -= std::min<uint64_t>(it->second, r.payload_len);
				if (it->second == 0)
					out.erase(it);
			}
		}
		most = std::max(most, out.size());
	}
	return most;
}

TEST(WriteRtsCtsWindowTest, NeverMoreCtsOutstandingThanCtsReq)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 0)
			c->cts_req = 3;
		else
			c->block_log2 = 12;  // 4 KiB Blocks
	});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	const uint64_t len = 64 * kKiB + 100;  // 17 Blocks
	Region *src = net.AddRegion(0, len, 0);
	Region *dst = net.AddRegion(1, len, 0);
	Fill(src, 3);
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, dst->mx, 0, len, 2));
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, len, false, 0, 1));
	ASSERT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_SEND).status);
	ASSERT_EQ(ST_OK, net.WaitCompletion(1, 2, ST_REQ_RECV).status);
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, len));
	auto rts = log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1);
	ASSERT_EQ(1u, rts.size());
	EXPECT_EQ(3u, rts[0].h.param);
	auto cts = log->Filter(ST_OP_CLEAR_TO_SEND, 1, 0);
	EXPECT_EQ(17u, cts.size()) << "one CTS per Block\n" << log->Trace();
	EXPECT_EQ(12u, cts[0].h.param);
	size_t most = MostOutstandingCts(*log, 12, len);
	EXPECT_LE(most, 3u) << log->Trace();
	EXPECT_EQ(3u, most) << "the receiver keeps CTS_req outstanding\n" << log->Trace();
	// The first three CTSs go out before any Data.
	auto ops = log->Ops();
	ASSERT_GE(ops.size(), 4u);
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_SEND, ST_OP_CLEAR_TO_SEND, ST_OP_CLEAR_TO_SEND,
					 ST_OP_CLEAR_TO_SEND}),
		  std::vector<unsigned>(ops.begin(), ops.begin() + 4))
		<< log->Trace();
}

// Disorder on B->A CTSs (added before the tap, so the tap sees what A gets).
struct WriteRtsCtsBlocksTest : ::testing::Test {
	std::unique_ptr<Net> net;
	VcPair vp;
	Region *src = nullptr, *dst = nullptr;
	std::shared_ptr<TapLog> log;
	Disorder *dis = nullptr;
	const uint64_t len = 128 * kKiB + 1000;  // 33 Blocks of 4 KiB

	void Init(bool ooo)
	{
		net = std::make_unique<Net>(2, [ooo](int ep, st_config *c) {
			c->allow_out_of_order = ooo;
			if (ep == 0)
				c->cts_req = 8;
			else
				c->block_log2 = 12;
		});
		vp = net->Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		src = net->AddRegion(0, len, 0);
		dst = net->AddRegion(1, len, 0);
		Fill(src, 11);
		Disorder::Options o;
		o.rate = 0.5;
		o.k = 3;
		o.seed = 42;
		o.match.op = ST_OP_CLEAR_TO_SEND;
		dis = net->AddLayer<Disorder>(1, 0, o);
		log = net->TapBoth(0, 1);
		ASSERT_EQ(0, st_post_recv(net->eng(1), vp.b, dst->mx, 0, len, 2));
		ASSERT_EQ(0, st_send(net->eng(0), vp.a, src->mx, 0, len, false, 0, 1));
		st_event s = net->WaitCompletion(0, 1, ST_REQ_SEND);
		st_event r = net->WaitCompletion(1, 2, ST_REQ_RECV);
		ASSERT_EQ(ST_OK, s.status) << st_status_str(s.status) << "\n" << log->Trace();
		ASSERT_EQ(ST_OK, r.status) << st_status_str(r.status);
		EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, len));
	}

	std::vector<uint32_t> CtsOrder() const
	{
		std::vector<uint32_t> v;
		for (const auto &c : log->Filter(ST_OP_CLEAR_TO_SEND, 1, 0))
			v.push_back(c.h.b_num);
		return v;
	}

	// Blocks in the order their first Data went out.
	std::vector<uint32_t> DataBlockOrder() const
	{
		std::vector<uint32_t> v;
		std::set<uint32_t> seen;
		for (const auto &d : log->Filter(ST_OP_DATA, 0, 1))
			if (seen.insert(d.h.b_num).second)
				v.push_back(d.h.b_num);
		return v;
	}
};

std::string Join(const std::vector<uint32_t> &v)
{
	std::string s;
	for (uint32_t x : v)
		s += std::to_string(x) + " ";
	return s;
}

TEST_F(WriteRtsCtsBlocksTest, BlocksGoOutInBNumOrderWhenCtsArriveDisordered)
{
	Init(false);
	std::vector<uint32_t> cts = CtsOrder();
	ASSERT_GT(dis->reordered(), 0u);
	ASSERT_FALSE(std::is_sorted(cts.begin(), cts.end())) << "the Disorder layer did nothing: " << Join(cts);
	for (const auto &c : log->Filter(ST_OP_CLEAR_TO_SEND, 1, 0))
		EXPECT_FALSE(c.h.flags & ST_FLAG_OUT_OF_ORDER) << FormatOp(c);
	EXPECT_FALSE(log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1)[0].h.flags & ST_FLAG_OUT_OF_ORDER);
	// Every Data STU in Block order (and within a Block in STU order).
	auto data = log->Filter(ST_OP_DATA, 0, 1);
	ASSERT_EQ(33u, DataBlockOrder().size());
	for (size_t i = 1; i < data.size(); i++) {
		EXPECT_TRUE(data[i - 1].h.b_num < data[i].h.b_num ||
			    (data[i - 1].h.b_num == data[i].h.b_num && data[i - 1].h.param < data[i].h.param))
			<< FormatOp(data[i - 1]) << " then " << FormatOp(data[i]);
	}
	EXPECT_EQ(0u, net->Counters(0).drops[ST_DROP_BAD_RANGE] + net->Counters(1).drops[ST_DROP_BAD_RANGE]);
}

TEST_F(WriteRtsCtsBlocksTest, OutOfOrderSenderServesCtsInArrivalOrder)
{
	Init(true);
	EXPECT_TRUE(log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1)[0].h.flags & ST_FLAG_OUT_OF_ORDER);
	for (const auto &c : log->Filter(ST_OP_CLEAR_TO_SEND, 1, 0))
		EXPECT_TRUE(c.h.flags & ST_FLAG_OUT_OF_ORDER) << FormatOp(c);
	std::vector<uint32_t> cts = CtsOrder();
	ASSERT_FALSE(std::is_sorted(cts.begin(), cts.end())) << "the Disorder layer did nothing: " << Join(cts);
	EXPECT_EQ(cts, DataBlockOrder()) << "CTS order:  " << Join(cts) << "\nData order: "
					 << Join(DataBlockOrder()) << "\n" << log->Trace();
}

TEST_F(WriteRtsCtsTest, ReceiveTooSmallFailsBothSidesWithLength)
{
	Init(1000, 1000);
	std::vector<uint8_t> before = dst->bytes;
	ASSERT_EQ(0, PostRecv(0, 100, 2));
	ASSERT_EQ(0, Send(0, 200, 1));
	st_event s = net.WaitCompletion(0, 1, ST_REQ_SEND);
	st_event r = net.WaitCompletion(1, 2, ST_REQ_RECV);
	EXPECT_EQ(ST_ERR_LENGTH, s.status) << st_status_str(s.status);
	EXPECT_EQ(ST_REJ_LENGTH, s.reason) << st_reject_str(s.reason);
	EXPECT_EQ(ST_ERR_LENGTH, r.status) << st_status_str(r.status);
	EXPECT_EQ(ST_EV_RECV_COMPLETE, r.type);
	net.RunUntilIdle();
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_SEND, ST_OP_REQUEST_ANSWER}), log->Ops())
		<< log->Trace();
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ra.size());
	EXPECT_TRUE(IsReject(ra[0]));
	EXPECT_EQ(ST_REJ_LENGTH, ra[0].h.param);
	EXPECT_EQ(ST_OP_REQUEST_TO_SEND, ra[0].h.b_id);
	EXPECT_EQ(log->records()[0].h.s_id, ra[0].h.d_id);
	EXPECT_TRUE(SameBytes(before, 0, dst->bytes, 0, before.size()));
	// The receive was consumed: the next RTS waits for a new one.
	ASSERT_EQ(0, PostRecv(0, 200, 4));
	ASSERT_EQ(0, Send(0, 200, 3));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 3, ST_REQ_SEND).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(1, 4, ST_REQ_RECV).status);
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, 200));
}

TEST(WriteRtsCtsNotReadyTest, NoReceivePostedIsRejectedWhenConfigured)
{
	Net net(2, [](int ep, st_config *c) {
		if (ep == 1)
			c->reject_when_not_ready = true;
	});
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	Region *src = net.AddRegion(0, 1000, 0);
	Region *dst = net.AddRegion(1, 1000, 0);
	Fill(src, 5);
	auto log = net.TapBoth(0, 1);
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, 300, false, 0, 1));
	st_event s = net.WaitCompletion(0, 1, ST_REQ_SEND);
	EXPECT_EQ(ST_ERR_NOT_READY, s.status) << st_status_str(s.status);
	EXPECT_EQ(ST_REJ_NOT_READY, s.reason);
	net.RunUntilIdle();
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_TO_SEND, ST_OP_REQUEST_ANSWER}), log->Ops())
		<< log->Trace();
	EXPECT_EQ(ST_REJ_NOT_READY, log->Filter(ST_OP_REQUEST_ANSWER, 1, 0)[0].h.param);
	EXPECT_EQ(0u, net.CountEvents(1, ST_EV_RECV_COMPLETE));
	// A receive posted afterwards serves the next send.
	ASSERT_EQ(0, st_post_recv(net.eng(1), vp.b, dst->mx, 0, 1000, 2));
	ASSERT_EQ(0, st_send(net.eng(0), vp.a, src->mx, 0, 300, false, 0, 3));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 3, ST_REQ_SEND).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(1, 2, ST_REQ_RECV).status);
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, 300));
}

TEST_F(WriteRtsCtsTest, HeldRtsCompletesWhenReceiveIsPostedLater)
{
	Init(100000, 100000);
	ASSERT_EQ(0, Send(100, 50000, 1, true, 77));
	// Far longer than the retry budget (1 s x 3): a held RTS must not time out.
	net.RunUntilIdle(10 * kSec);
	EXPECT_EQ(nullptr, net.FindCompletion(0, 1, ST_REQ_SEND)) << net.DumpEvents(0) << log->Trace();
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
	EXPECT_EQ(ST_VC_OPEN, net.Info(1, vp.b).state);
	EXPECT_EQ(0u, log->Count(ST_OP_DATA));
	EXPECT_EQ(0u, log->Count(ST_OP_CLEAR_TO_SEND));
	ASSERT_EQ(0, PostRecv(7, 60000, 2));
	st_event s = net.WaitCompletion(0, 1, ST_REQ_SEND);
	st_event r = net.WaitCompletion(1, 2, ST_REQ_RECV);
	EXPECT_EQ(ST_OK, s.status) << st_status_str(s.status);
	EXPECT_EQ(ST_OK, r.status);
	EXPECT_EQ(50000u, r.len);
	EXPECT_TRUE(r.has_value);
	EXPECT_EQ(77u, r.value);
	EXPECT_TRUE(SameBytes(src->bytes, 100, dst->bytes, 7, 50000));
	EXPECT_EQ(1u, CountCompletions(net, 0, 1));
	EXPECT_EQ(1u, CountCompletions(net, 1, 2));
}

TEST_F(WriteRtsCtsTest, ImmArrivesInRecvComplete)
{
	Init(1000, 1000);
	ASSERT_EQ(0, PostRecv(0, 1000, 2));
	ASSERT_EQ(0, PostRecv(0, 1000, 4));
	ASSERT_EQ(0, Send(0, 10, 1, true, 0xFEEDBEEF));
	ASSERT_EQ(0, Send(0, 10, 3, false, 0x12345678));
	st_event r1 = net.WaitCompletion(1, 2, ST_REQ_RECV);
	st_event r2 = net.WaitCompletion(1, 4, ST_REQ_RECV);
	ASSERT_EQ(ST_OK, r1.status);
	ASSERT_EQ(ST_OK, r2.status);
	EXPECT_TRUE(r1.has_value);
	EXPECT_EQ(0xFEEDBEEFu, r1.value);
	EXPECT_FALSE(r2.has_value) << "no imm, no value";
	auto rts = log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1);
	ASSERT_EQ(2u, rts.size());
	EXPECT_TRUE(rts[0].h.flags & ST_FLAG_INTERRUPT);
	EXPECT_EQ(0xFEEDBEEFu, rts[0].h.bufx) << "Bufx = completion data";
	EXPECT_FALSE(rts[1].h.flags & ST_FLAG_INTERRUPT);
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_SEND).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 3, ST_REQ_SEND).status);
}

TEST_F(WriteRtsCtsTest, ReceivesAreConsumedInPostingOrder)
{
	Init(20000, 20000);
	std::vector<uint8_t> before = dst->bytes;
	ASSERT_EQ(0, PostRecv(0, 5000, 11));
	ASSERT_EQ(0, PostRecv(5000, 5000, 12));
	ASSERT_EQ(0, PostRecv(10000, 5000, 13));
	ASSERT_EQ(0, Send(0, 3000, 1));
	ASSERT_EQ(0, Send(3000, 4000, 2));
	ASSERT_EQ(0, Send(7000, 100, 3));
	st_event r[3];
	for (int i = 0; i < 3; i++) {
		r[i] = net.WaitCompletion(1, 11 + i, ST_REQ_RECV);
		ASSERT_EQ(ST_OK, r[i].status) << i;
		EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1 + i, ST_REQ_SEND).status) << i;
	}
	EXPECT_EQ(3000u, r[0].len);
	EXPECT_EQ(4000u, r[1].len);
	EXPECT_EQ(100u, r[2].len);
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, 3000));
	EXPECT_TRUE(SameBytes(src->bytes, 3000, dst->bytes, 5000, 4000));
	EXPECT_TRUE(SameBytes(src->bytes, 7000, dst->bytes, 10000, 100));
	// The unused tails of the receives are untouched.
	EXPECT_TRUE(SameBytes(before, 3000, dst->bytes, 3000, 2000));
	EXPECT_TRUE(SameBytes(before, 9000, dst->bytes, 9000, 1000));
	EXPECT_TRUE(SameBytes(before, 10100, dst->bytes, 10100, 20000 - 10100));
	// Each RTS names its predecessor in Offset (0 for the VC's first).
	auto rts = log->Filter(ST_OP_REQUEST_TO_SEND, 0, 1);
	ASSERT_EQ(3u, rts.size()) << log->Trace();
	EXPECT_EQ(0u, rts[0].h.offset);
	EXPECT_EQ(rts[0].h.s_id, rts[1].h.offset);
	EXPECT_EQ(rts[1].h.s_id, rts[2].h.offset);
}

// docs/protocol.md "Order of consumption": a lost first RTS must not let the
// second message take the first receive.
TEST_F(WriteRtsCtsTest, LostRtsStillConsumesReceivesInSendingOrder)
{
	Init(20000, 20000);
	Drop *d = net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_REQUEST_TO_SEND));
	ASSERT_EQ(0, PostRecv(0, 5000, 11));
	ASSERT_EQ(0, PostRecv(5000, 5000, 12));
	ASSERT_EQ(0, Send(0, 3000, 1));
	ASSERT_EQ(0, Send(3000, 4000, 2));
	st_event r1 = net.WaitCompletion(1, 11, ST_REQ_RECV);
	st_event r2 = net.WaitCompletion(1, 12, ST_REQ_RECV);
	EXPECT_EQ(1u, d->dropped());
	ASSERT_EQ(ST_OK, r1.status);
	ASSERT_EQ(ST_OK, r2.status);
	EXPECT_EQ(3000u, r1.len) << "the first receive got the second message\n" << log->Trace();
	EXPECT_EQ(4000u, r2.len);
	EXPECT_TRUE(SameBytes(src->bytes, 0, dst->bytes, 0, 3000));
	EXPECT_TRUE(SameBytes(src->bytes, 3000, dst->bytes, 5000, 4000));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_SEND).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 2, ST_REQ_SEND).status);
}

TEST_F(WriteRtsCtsTest, LocalArgumentErrors)
{
	Init(1000, 1000);
	st_engine *a = net.eng(0), *b = net.eng(1);
	EXPECT_EQ(-EINVAL, st_send(a, vp.a, src->mx, 0, 0, false, 0, 1)) << "len 0";
	EXPECT_EQ(-ENOENT, st_send(a, vp.a, 4321, 0, 10, false, 0, 1)) << "unknown Mx";
	EXPECT_EQ(-EINVAL, st_send(a, vp.a, src->mx, 995, 10, false, 0, 1)) << "past the region";
	EXPECT_EQ(-ENOENT, st_send(a, 4321, src->mx, 0, 10, false, 0, 1)) << "no such VC";
	EXPECT_EQ(-EINVAL, st_post_recv(b, vp.b, dst->mx, 0, 0, 1));
	EXPECT_EQ(-ENOENT, st_post_recv(b, vp.b, 4321, 0, 10, 1));
	EXPECT_EQ(-EINVAL, st_post_recv(b, vp.b, dst->mx, 1000, 1, 1));
	EXPECT_EQ(-ENOENT, st_post_recv(b, 4321, dst->mx, 0, 10, 1));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
}

}  // namespace
}  // namespace sttest
