// SPDX-License-Identifier: MIT
// Hostile input fed straight into st_input on an endpoint with a live VC
// (docs/protocol.md "Validation of incoming operations").
#include <cstring>

#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;
constexpr size_t kExposedLen = 16000;  // not a multiple of the 4 KiB buffers

struct ValidationTest : ::testing::Test {
	// B: 2^12-byte buffers, STUs of at most 2^10 bytes.
	Net net{2, [](int ep, st_config *c) {
			if (ep == 1) {
				c->bufsize_log2 = 12;
				c->max_stu_log2 = 10;
				c->block_log2 = 12;
			}
		}};
	VcPair vp;
	uint8_t a_ula[ST_ULA_LEN]{};
	Region *exposed = nullptr;    // all access, exposed to A
	Region *hidden = nullptr;     // all access, never exposed
	Region *read_only = nullptr;  // REMOTE_READ, exposed
	Region *write_only = nullptr; // REMOTE_WRITE, exposed
	std::shared_ptr<TapLog> log;
	std::vector<std::vector<uint8_t>> snap;
	st_counters g0{}, v0{};

	void SetUp() override
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		exposed = net.AddRegion(1, kExposedLen, kAll);
		hidden = net.AddRegion(1, 16384, kAll);
		read_only = net.AddRegion(1, 8192, ST_ACCESS_REMOTE_READ);
		write_only = net.AddRegion(1, 8192, ST_ACCESS_REMOTE_WRITE);
		uint32_t seed = 10;
		for (auto &r : net.ep(1).regions)
			Net::FillPattern(r.get(), seed++);
		uint64_t ctx = 1;
		for (Region *r : {exposed, read_only, write_only}) {
			ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, r->key, ctx));
			st_event e = net.WaitEvent(0, ST_EV_REGION_EXPOSED, ctx);
			ASSERT_EQ(ST_OK, e.status) << "exposing " << r->key;
			ctx++;
		}
		log = net.TapBoth(0, 1);
		net.HdrTo(1, vp.b, ST_OP_NOP, a_ula);
		for (auto &r : net.ep(1).regions)
			snap.push_back(r->bytes);
		g0 = net.Counters(1);
		v0 = net.Counters(1, vp.b);
	}

	st_hdr Hdr(unsigned op) { return net.HdrTo(1, vp.b, op); }

	// A single-STU PUT (the Last STU of a one-STU PUT).
	st_hdr Put(uint16_t mx, uint32_t bufx, uint32_t off, uint32_t id)
	{
		st_hdr h = Hdr(ST_OP_DATA);
		h.flags = ST_FLAG_LAST;
		h.b_id = mx;
		h.bufx = bufx;
		h.offset = off;
		h.b_num = 1;
		h.d_id = 0;
		h.s_id = id;
		return h;
	}

	st_hdr Get(unsigned fn, uint16_t mx, uint32_t bufx, uint32_t off, uint16_t len, uint32_t id)
	{
		st_hdr h = Hdr(ST_OP_GET);
		st_hdr_set_function(&h, fn);
		h.param = len;
		h.b_id = mx;
		h.bufx = bufx;
		h.offset = off;
		h.s_id = id;
		return h;
	}

	int InjectB(const st_hdr &h, const std::vector<uint8_t> &payload = {}, unsigned vc = 0)
	{
		int rc = net.Inject(1, a_ula, vc, h, payload);
		net.Pump();
		return rc;
	}

	::testing::AssertionResult RegionsUnchanged()
	{
		auto &regs = net.ep(1).regions;
		for (size_t i = 0; i < snap.size(); i++) {
			auto r = BytesEqual(snap[i], regs[i]->bytes);
			if (!r)
				return r << " (region Mx " << regs[i]->mx << ")";
		}
		return ::testing::AssertionSuccess();
	}

	std::vector<OpRecord> Answers() { return log->Filter(-1, 1, 0); }

	// Exactly one answer from B: Request_Answer + Reject with reason, naming id and op.
	void ExpectOneReject(int reason, uint32_t id, unsigned op)
	{
		auto a = Answers();
		ASSERT_EQ(1u, a.size()) << log->Trace();
		EXPECT_EQ(ST_OP_REQUEST_ANSWER, a[0].h.op) << log->Trace();
		EXPECT_TRUE(IsReject(a[0])) << log->Trace();
		EXPECT_EQ(reason, a[0].h.param) << log->Trace();
		EXPECT_EQ(id, a[0].h.d_id) << "D_id = the rejected request's id";
		EXPECT_EQ(op, a[0].h.b_id) << "B_id = the rejected opcode";
		EXPECT_EQ(vp.a, a[0].h.d_port);
	}

	uint64_t Drops(int why) { return net.Counters(1).drops[why] - g0.drops[why]; }
	uint64_t VcDrops(int why) { return net.Counters(1, vp.b).drops[why] - v0.drops[why]; }
};

TEST_F(ValidationTest, TruncatedOpsDroppedSilently)
{
	uint8_t buf[64] = {};
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 5;
	st_hdr_encode(&h, buf, false);
	for (size_t len : {0, 1, 20, 39})
		EXPECT_LT(net.Inject(1, a_ula, 0, buf, len), 0) << len;
	net.Pump();
	EXPECT_EQ(4u, Drops(ST_DROP_TRUNCATED));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
	EXPECT_EQ(g0.ops_received[ST_OP_REQUEST_STATE], net.Counters(1).ops_received[ST_OP_REQUEST_STATE]);
}

TEST_F(ValidationTest, BadChecksumDroppedGoodChecksumAccepted)
{
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 5;
	uint8_t buf[ST_HDR_LEN];
	st_hdr_encode(&h, buf, true);
	uint16_t good = (uint16_t)(buf[12] << 8 | buf[13]);
	uint16_t bad = good == 0x1234 ? 0x4321 : 0x1234;
	buf[12] = (uint8_t)(bad >> 8);
	buf[13] = (uint8_t)bad;
	EXPECT_LT(net.Inject(1, a_ula, 0, buf, sizeof(buf)), 0);
	net.Pump();
	EXPECT_EQ(1u, Drops(ST_DROP_CKSUM));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
	// The same request with the right checksum is answered.
	st_hdr_encode(&h, buf, true);
	EXPECT_EQ(0, net.Inject(1, a_ula, 0, buf, sizeof(buf)));
	net.Pump();
	EXPECT_EQ(1u, Drops(ST_DROP_CKSUM));
	EXPECT_GE(log->Count(ST_OP_REQUEST_STATE_RESPONSE, 1, 0), 1u) << log->Trace();
}

TEST_F(ValidationTest, UnknownOpcodesOnVcAnsweredBadOpcode)
{
	std::vector<unsigned> bad;
	for (unsigned op = 0; op < 32; op++)
		if (!st_opcode_valid(op))
			bad.push_back(op);
	ASSERT_EQ(14u, bad.size());
	for (size_t i = 0; i < bad.size(); i++) {
		st_hdr h = Hdr(bad[i]);
		h.s_id = 300 + (uint32_t)i;
		EXPECT_LT(InjectB(h), 0) << "op " << bad[i];
	}
	EXPECT_EQ(14u, Drops(ST_DROP_BAD_OPCODE));
	auto a = Answers();
	ASSERT_EQ(14u, a.size()) << log->Trace();
	for (size_t i = 0; i < a.size(); i++) {
		SCOPED_TRACE(FormatOp(a[i]));
		EXPECT_EQ(ST_OP_REQUEST_ANSWER, a[i].h.op);
		EXPECT_TRUE(IsReject(a[i]));
		EXPECT_EQ(ST_REJ_BAD_OPCODE, a[i].h.param);
		EXPECT_EQ(bad[i], a[i].h.b_id);
		EXPECT_EQ(300 + i, a[i].h.d_id);
	}
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, UnknownOpcodeWithoutVcNotAnswered)
{
	st_hdr h = Hdr(0x19);
	h.d_port = (uint16_t)(vp.b + 100);
	EXPECT_LT(InjectB(h), 0);
	EXPECT_EQ(1u, Drops(ST_DROP_BAD_OPCODE) + Drops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
}

TEST_F(ValidationTest, CorrectlyAddressedRequestIsAnswered)
{
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 7;
	EXPECT_EQ(0, InjectB(h));
	auto a = Answers();
	ASSERT_EQ(1u, a.size()) << log->Trace();
	EXPECT_EQ(ST_OP_REQUEST_STATE_RESPONSE, a[0].h.op);
	EXPECT_EQ(7u, a[0].h.d_id);
	EXPECT_EQ(0u, Drops(ST_DROP_NO_VC));
}

TEST_F(ValidationTest, WrongDPortDroppedNoVc)
{
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 7;
	h.d_port = (uint16_t)(h.d_port + 1);
	EXPECT_LT(InjectB(h), 0);
	EXPECT_EQ(1u, Drops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, VcDrops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
}

TEST_F(ValidationTest, WrongSPortDroppedNoVc)
{
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 7;
	h.s_port = (uint16_t)(h.s_port + 1);
	EXPECT_LT(InjectB(h), 0);
	EXPECT_EQ(1u, Drops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
}

TEST_F(ValidationTest, WrongDKeyDroppedNoVc)
{
	uint32_t key = Hdr(ST_OP_REQUEST_STATE).d_key;
	ASSERT_NE(0u, key) << "D_Key is never 0";
	for (uint32_t wrong : {0u, key + 1 ? key + 1 : 2u, key ^ 0x80000000u}) {
		st_hdr h = Hdr(ST_OP_REQUEST_STATE);
		h.s_id = 7;
		h.d_key = wrong;
		EXPECT_LT(InjectB(h), 0) << wrong;
	}
	EXPECT_EQ(3u, Drops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, VcDrops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, Answers().size()) << log->Trace();
}

TEST_F(ValidationTest, WrongSourceUlaDroppedNoVc)
{
	st_hdr h = Hdr(ST_OP_REQUEST_STATE);
	h.s_id = 7;
	const uint8_t stranger[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, 0x33};
	EXPECT_LT(net.Inject(1, stranger, 0, h), 0);
	net.Pump();
	EXPECT_EQ(1u, Drops(ST_DROP_NO_VC));
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
}

TEST_F(ValidationTest, DataForNoTransferRejectedNoTransfer)
{
	st_hdr h = Hdr(ST_OP_DATA);
	h.flags = ST_FLAG_LAST;
	h.d_id = 999;
	h.s_id = 77;
	InjectB(h, std::vector<uint8_t>(16, 0xAB), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_NO_TRANSFER));
	ExpectOneReject(ST_REJ_NO_TRANSFER, 77, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, ClearToSendForNoTransferDropped)
{
	st_hdr h = Hdr(ST_OP_CLEAR_TO_SEND);
	h.param = 12;
	h.d_id = 999;
	h.s_id = 78;
	InjectB(h);
	EXPECT_EQ(1u, Drops(ST_DROP_NO_TRANSFER));
	EXPECT_EQ(0u, log->Count(ST_OP_DATA, 1, 0)) << log->Trace();
}

TEST_F(ValidationTest, ValidPutIsPlacedAndAnswered)
{
	std::vector<uint8_t> payload(64);
	Net::FillPattern(payload, 99);
	EXPECT_EQ(0, InjectB(Put(exposed->mx, 1, 100, 400), payload, 1));
	auto a = Answers();
	ASSERT_EQ(1u, a.size()) << log->Trace();
	EXPECT_EQ(ST_OP_REQUEST_ANSWER, a[0].h.op);
	EXPECT_FALSE(IsReject(a[0])) << log->Trace();
	EXPECT_EQ(400u, a[0].h.d_id);
	EXPECT_EQ(64u, (uint64_t)a[0].h.sync << 32 | a[0].h.b_num) << "Sync:B_num = bytes";
	EXPECT_TRUE(BytesEqual(payload.data(), exposed->bytes.data() + 4096 + 100, 64));
	// Everything else is untouched.
	std::vector<uint8_t> expect = snap[0];
	memcpy(expect.data() + 4096 + 100, payload.data(), 64);
	EXPECT_TRUE(BytesEqual(expect, exposed->bytes));
}

TEST_F(ValidationTest, PutToUnexposedMxRejectedRegionUnchanged)
{
	InjectB(Put(hidden->mx, 0, 0, 401), std::vector<uint8_t>(64, 0xEE), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_ACCESS));
	ExpectOneReject(ST_REJ_ACCESS, 401, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutToUnregisteredMxRejected)
{
	InjectB(Put(0x7777, 0, 0, 402), std::vector<uint8_t>(64, 0xEE), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_ACCESS));
	ExpectOneReject(ST_REJ_ACCESS, 402, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutWithoutWriteAccessRejectedRegionUnchanged)
{
	InjectB(Put(read_only->mx, 0, 0, 403), std::vector<uint8_t>(64, 0xEE), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_ACCESS));
	ExpectOneReject(ST_REJ_ACCESS, 403, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutPastRegionEndRejectedRegionUnchanged)
{
	// 3 * 4096 + 3900 + 64 > 16000, inside one buffer.
	InjectB(Put(exposed->mx, 3, 3900, 404), std::vector<uint8_t>(64, 0xEE), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_BAD_RANGE));
	ExpectOneReject(ST_REJ_BAD_RANGE, 404, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutWithOutOfRangeBufxRejected)
{
	uint32_t id = 405;
	for (uint32_t bufx : {4u, 0x10000u, 0x100000u, 0xFFFFFFFFu}) {
		InjectB(Put(exposed->mx, bufx, 0, id++), std::vector<uint8_t>(64, 0xEE), 1);
	}
	EXPECT_EQ(4u, Drops(ST_DROP_BAD_RANGE));
	auto a = Answers();
	ASSERT_EQ(4u, a.size()) << log->Trace();
	for (const auto &r : a) {
		EXPECT_TRUE(IsReject(r));
		EXPECT_EQ(ST_REJ_BAD_RANGE, r.h.param);
	}
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutWithOutOfRangeOffsetRejected)
{
	uint32_t id = 410;
	for (uint32_t off : {0xFFFFFFC0u, 0x80000000u}) {
		InjectB(Put(exposed->mx, 0, off, id++), std::vector<uint8_t>(64, 0xEE), 1);
	}
	EXPECT_EQ(2u, Drops(ST_DROP_BAD_RANGE));
	EXPECT_EQ(2u, Answers().size()) << log->Trace();
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutCrossingBufferBoundaryRejected)
{
	// 4064 + 64 crosses the 4096-byte buffer boundary of B.
	InjectB(Put(exposed->mx, 1, 4064, 420), std::vector<uint8_t>(64, 0xEE), 1);
	EXPECT_EQ(1u, Drops(ST_DROP_BAD_RANGE));
	ExpectOneReject(ST_REJ_BAD_RANGE, 420, ST_OP_DATA);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, PutLongerThanMaxStuDropped)
{
	// 2048 bytes at the start of a buffer: inside the region and the buffer,
	// but more than B's Max_STU of 2^10.
	InjectB(Put(exposed->mx, 0, 0, 421), std::vector<uint8_t>(2048, 0xEE), 1);
	auto a = Answers();
	ASSERT_EQ(1u, a.size()) << log->Trace();
	EXPECT_TRUE(IsReject(a[0]));
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, GetWithoutReadAccessRejected)
{
	InjectB(Get(ST_FN_GET, write_only->mx, 0, 0, 100, 430));
	EXPECT_EQ(1u, Drops(ST_DROP_ACCESS));
	ExpectOneReject(ST_REJ_ACCESS, 430, ST_OP_GET);
	EXPECT_EQ(0u, log->Count(ST_OP_DATA, 1, 0));
}

TEST_F(ValidationTest, GetPastRegionEndRejected)
{
	InjectB(Get(ST_FN_GET, exposed->mx, 3, 3900, 1000, 431));
	EXPECT_EQ(1u, Drops(ST_DROP_BAD_RANGE));
	ExpectOneReject(ST_REJ_BAD_RANGE, 431, ST_OP_GET);
	EXPECT_EQ(0u, log->Count(ST_OP_DATA, 1, 0));
}

TEST_F(ValidationTest, FetchopWithoutAtomicAccessRejectedRegionUnchanged)
{
	InjectB(Get(ST_FN_FETCH_INCREMENT, write_only->mx, 0, 8, 8, 432));
	EXPECT_EQ(1u, Drops(ST_DROP_ACCESS));
	ExpectOneReject(ST_REJ_ACCESS, 432, ST_OP_GET);
	EXPECT_TRUE(RegionsUnchanged());
}

TEST_F(ValidationTest, MisalignedFetchopRejectedRegionUnchanged)
{
	InjectB(Get(ST_FN_FETCH_INCREMENT, exposed->mx, 0, 4, 8, 433));
	auto a = Answers();
	ASSERT_EQ(1u, a.size()) << log->Trace();
	EXPECT_TRUE(IsReject(a[0]));
	EXPECT_EQ(433u, a[0].h.d_id);
	EXPECT_TRUE(RegionsUnchanged());
}

// st.h: st_input "Returns 0 when the operation was accepted, or a negative
// errno when it was dropped".  Every drop from the per-operation checks must
// show up in the return value, not only in the counters.
TEST_F(ValidationTest, InputReturnsErrorForOpsDroppedByOperationChecks)
{
	struct Case {
		const char *what;
		st_hdr h;
		std::vector<uint8_t> payload;
		unsigned vc;
	};
	st_hdr data = Hdr(ST_OP_DATA);
	data.flags = ST_FLAG_LAST;
	data.d_id = 999;
	data.s_id = 77;
	st_hdr cts = Hdr(ST_OP_CLEAR_TO_SEND);
	cts.param = 12;
	cts.d_id = 999;
	cts.s_id = 78;
	std::vector<Case> cases = {
		{"Data for no transfer", data, std::vector<uint8_t>(16, 1), 1},
		{"CTS for no transfer", cts, {}, 0},
		{"PUT to unexposed Mx", Put(hidden->mx, 0, 0, 500), std::vector<uint8_t>(64, 1), 1},
		{"PUT without write access", Put(read_only->mx, 0, 0, 501), std::vector<uint8_t>(64, 1), 1},
		{"PUT past region end", Put(exposed->mx, 3, 3900, 502), std::vector<uint8_t>(64, 1), 1},
		{"PUT crossing a buffer", Put(exposed->mx, 1, 4064, 503), std::vector<uint8_t>(64, 1), 1},
		{"GET without read access", Get(ST_FN_GET, write_only->mx, 0, 0, 100, 504), {}, 0},
		{"FETCHOP misaligned", Get(ST_FN_FETCH_INCREMENT, exposed->mx, 0, 4, 8, 505), {}, 0},
	};
	uint64_t drops_before = 0, drops_after = 0;
	for (int d = 0; d < ST_DROP_REASONS; d++)
		drops_before += net.Counters(1).drops[d];
	for (const Case &c : cases)
		EXPECT_LT(InjectB(c.h, c.payload, c.vc), 0) << c.what << " was dropped but st_input returned 0";
	for (int d = 0; d < ST_DROP_REASONS; d++)
		drops_after += net.Counters(1).drops[d];
	EXPECT_EQ(cases.size(), drops_after - drops_before) << "each case is one counted drop";
	EXPECT_TRUE(RegionsUnchanged());
}

}  // namespace
}  // namespace sttest
