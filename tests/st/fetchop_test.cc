// SPDX-License-Identifier: MIT
// FETCHOP (docs/protocol.md "Persistent memory", FETCHOP): GET with Function
// 1..6 -> one result Data (old value, big-endian) -> fetchop-complete (GET
// Function 7).  Applied exactly once whatever is lost or repeated.
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

constexpr uint64_t kKey = 0xF0F0000000000003ull;
constexpr uint64_t kTargetOff = 65536 + 24;  // Bufx 1 with B's 2^16 buffers, 8-aligned
constexpr uint64_t kResultOff = 16;          // where A wants the old value too
constexpr uint64_t kInit = 0x0123456789ABCDEFull;

struct FetchopFixture {
	Net net;
	VcPair vp;
	Region *target = nullptr;  // B
	Region *result = nullptr;  // A
	std::shared_ptr<TapLog> log;

	explicit FetchopFixture(const Net::Tweak &t = {}) : net(2, t) {}

	void Init(unsigned access = kA, uint64_t target_len = 2 * 65536)
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		target = net.AddRegion(1, target_len, access, kKey);
		result = net.AddRegion(0, 64, 0);
		Fill(target, 0xA70);
		Fill(result, 0x2E5);
		if (target_len >= kTargetOff + 8)
			Store64(target->bytes, kTargetOff, kInit);
		log = net.TapBoth(0, 1);
	}

	void Expose()
	{
		ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 0xE0));
		ASSERT_EQ(ST_OK, net.WaitEvent(0, ST_EV_REGION_EXPOSED, 0xE0).status);
		log->Clear();
	}

	int Start(st_get_function fn, uint64_t operand, uint64_t compare, uint64_t ctx,
		  uint64_t roff = kTargetOff, uint16_t local_mx = 0xFFFF)
	{
		struct st_fetchop f{};
		f.fn = fn;
		f.rkey = kKey;
		f.remote_off = roff;
		f.operand = operand;
		f.compare = compare;
		f.local_mx = local_mx == 0xFFFF ? result->mx : local_mx;
		f.local_off = kResultOff;
		return st_fetchop(net.eng(0), vp.a, &f, ctx);
	}

	st_event Fop(st_get_function fn, uint64_t operand, uint64_t compare, uint64_t ctx,
		     uint64_t roff = kTargetOff)
	{
		int rc = Start(fn, operand, compare, ctx, roff);
		EXPECT_EQ(0, rc);
		if (rc)
			return st_event{};
		return net.WaitCompletion(0, ctx, ST_REQ_FETCHOP);
	}

	uint64_t Value() const { return Load64(target->bytes, kTargetOff); }
};

// ---- every function ------------------------------------------------------------------

struct FnCase {
	const char *name;
	st_get_function fn;
	uint64_t init, operand, compare, want;
};

const FnCase kCases[] = {
	{"Increment", ST_FN_FETCH_INCREMENT, kInit, 0, 0, kInit + 1},
	{"DecrementWrapsBelowZero", ST_FN_FETCH_DECREMENT, 0, 0, 0, UINT64_MAX},
	{"Clear", ST_FN_FETCH_CLEAR, kInit, 0, 0, 0},
	{"AddWithCarry", ST_FN_FETCH_ADD, 0xFFFFFFFF00000001ull, 0x00000001FFFFFFFFull, 0,
	 0xFFFFFFFF00000001ull + 0x00000001FFFFFFFFull},
	{"Swap", ST_FN_SWAP, kInit, 0xDEADBEEFCAFEBABEull, 0, 0xDEADBEEFCAFEBABEull},
	{"CompareSwapSucceeds", ST_FN_COMPARE_SWAP, kInit, 0x1111222233334444ull, kInit,
	 0x1111222233334444ull},
	{"CompareSwapFails", ST_FN_COMPARE_SWAP, kInit, 0x1111222233334444ull, kInit ^ 1, kInit},
};

struct FetchopFnTest : ::testing::TestWithParam<FnCase>, FetchopFixture {};

TEST_P(FetchopFnTest, ReturnsOldValueAndLeavesNewValue)
{
	const FnCase &c = GetParam();
	Init();
	Store64(target->bytes, kTargetOff, c.init);
	std::vector<uint8_t> before = target->bytes;
	st_event e = Fop(c.fn, c.operand, c.compare, 0x300);
	ASSERT_EQ(ST_OK, e.status) << st_status_str(e.status) << " reason " << e.reason << "\n"
				   << log->Trace();
	EXPECT_EQ(ST_REQ_FETCHOP, e.kind);
	EXPECT_TRUE(e.has_value);
	EXPECT_EQ(c.init, e.value) << std::hex << "old value: got 0x" << e.value;
	EXPECT_EQ(c.want, Value()) << std::hex << "new value: got 0x" << Value();
	EXPECT_EQ(c.init, Load64(result->bytes, kResultOff)) << "old value also in the local region";
	EXPECT_TRUE(OutsideUnchanged(before, target->bytes, kTargetOff, 8));
	net.RunUntilIdle();
	EXPECT_EQ(1u, CountCompletions(net, 0, 0x300)) << net.DumpEvents(0);
	EXPECT_EQ(c.want, Value()) << "applied once";
}

INSTANTIATE_TEST_SUITE_P(Fetchop, FetchopFnTest, ::testing::ValuesIn(kCases),
			 [](const ::testing::TestParamInfo<FnCase> &i) { return std::string(i.param.name); });

// ---- fixed scenarios -----------------------------------------------------------------

struct FetchopTest : ::testing::Test, FetchopFixture {};

TEST_F(FetchopTest, ExactOpSequenceAndFields)
{
	Init();
	Expose();
	st_event e = Fop(ST_FN_FETCH_ADD, 0x0102030405060708ull, 0, 1);
	ASSERT_EQ(ST_OK, e.status);
	net.RunUntilIdle();
	ASSERT_EQ((std::vector<unsigned>{ST_OP_GET, ST_OP_DATA, ST_OP_GET}), log->Ops()) << log->Trace();
	const OpRecord &req = log->records()[0];
	const OpRecord &res = log->records()[1];
	const OpRecord &done = log->records()[2];
	EXPECT_EQ(0, req.src);
	EXPECT_EQ(ST_FN_FETCH_ADD, st_hdr_function(&req.h));
	EXPECT_EQ(8u, req.h.param);
	EXPECT_EQ(target->mx, req.h.b_id);
	EXPECT_EQ(1u, req.h.bufx);
	EXPECT_EQ(24u, req.h.offset);
	EXPECT_EQ(0u, req.h.d_id);
	EXPECT_NE(0u, req.h.s_id);
	ASSERT_EQ(8u, req.payload_len) << "FETCH_ADD carries the addend";
	EXPECT_EQ(0x0102030405060708ull, Be64(req.payload)) << "big-endian on the wire";

	EXPECT_EQ(1, res.src);
	EXPECT_EQ(1u, res.vc);
	EXPECT_EQ(req.h.s_id, res.h.d_id) << "D_id = G_num";
	EXPECT_TRUE(res.h.flags & ST_FLAG_LAST);
	ASSERT_EQ(8u, res.payload_len);
	EXPECT_EQ(kInit, Be64(res.payload));

	EXPECT_EQ(0, done.src);
	EXPECT_EQ(ST_FN_FETCHOP_COMPLETE, st_hdr_function(&done.h));
	EXPECT_EQ(0u, done.h.param);
	EXPECT_EQ(0u, done.h.b_id);
	EXPECT_EQ(0u, done.h.bufx);
	EXPECT_EQ(0u, done.h.offset);
	EXPECT_EQ(req.h.s_id, done.h.s_id) << "S_id = the G_num being completed";
	EXPECT_EQ(0u, done.payload_len);
	EXPECT_EQ(kInit + 0x0102030405060708ull, Value());
}

TEST_F(FetchopTest, OperandPayloadSizes)
{
	Init();
	Expose();
	ASSERT_EQ(ST_OK, Fop(ST_FN_COMPARE_SWAP, 0x5555, kInit, 1).status);
	ASSERT_EQ(ST_OK, Fop(ST_FN_SWAP, 0x6666, 0, 2).status);
	ASSERT_EQ(ST_OK, Fop(ST_FN_FETCH_INCREMENT, 0, 0, 3).status);
	ASSERT_EQ(ST_OK, Fop(ST_FN_FETCH_DECREMENT, 0, 0, 4).status);
	ASSERT_EQ(ST_OK, Fop(ST_FN_FETCH_CLEAR, 0, 0, 5).status);
	auto reqs = log->Filter(ST_OP_GET, 0, 1);
	std::vector<OpRecord> ops;
	for (auto &r : reqs)
		if (st_hdr_function(&r.h) != ST_FN_FETCHOP_COMPLETE)
			ops.push_back(r);
	ASSERT_EQ(5u, ops.size()) << log->Trace();
	ASSERT_EQ(16u, ops[0].payload_len) << "COMPARE_SWAP: compare, then swap value";
	EXPECT_EQ(kInit, Be64(ops[0].payload, 0));
	EXPECT_EQ(0x5555u, Be64(ops[0].payload, 8));
	ASSERT_EQ(8u, ops[1].payload_len);
	EXPECT_EQ(0x6666u, Be64(ops[1].payload));
	EXPECT_EQ(0u, ops[2].payload_len);
	EXPECT_EQ(0u, ops[3].payload_len);
	EXPECT_EQ(0u, ops[4].payload_len);
	EXPECT_EQ(0u, Value());
}

TEST_F(FetchopTest, ResultOnlyInTheEventWithoutLocalRegion)
{
	Init();
	std::vector<uint8_t> before = result->bytes;
	ASSERT_EQ(0, Start(ST_FN_FETCH_INCREMENT, 0, 0, 9, kTargetOff, 0));
	st_event e = net.WaitCompletion(0, 9, ST_REQ_FETCHOP);
	ASSERT_EQ(ST_OK, e.status);
	EXPECT_EQ(kInit, e.value);
	EXPECT_TRUE(SameBytes(before, 0, result->bytes, 0, before.size()));
}

TEST_F(FetchopTest, LostResultIsNotAppliedTwice)
{
	Init();
	Expose();
	Drop *d = net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_DATA));
	st_event e = Fop(ST_FN_FETCH_ADD, 10, 0, 1);
	ASSERT_EQ(ST_OK, e.status) << log->Trace();
	EXPECT_EQ(1u, d->dropped());
	EXPECT_EQ(kInit, e.value);
	net.RunUntilIdle();
	EXPECT_EQ(kInit + 10, Value()) << "applied exactly once\n" << log->Trace();
	EXPECT_GE(log->Count(ST_OP_DATA, 1, 0), 2u) << "the result was sent again";
	for (const auto &r : log->Filter(ST_OP_DATA, 1, 0))
		EXPECT_EQ(kInit, Be64(r.payload)) << "every copy carries the same old value";
	EXPECT_EQ(1u, CountCompletions(net, 0, 1));
}

TEST_F(FetchopTest, LostFetchopCompleteIsAnsweredAgain)
{
	Init();
	Expose();
	Drop::Options o = Drop::Once(ST_OP_GET);
	o.match.function = ST_FN_FETCHOP_COMPLETE;
	Drop *d = net.AddLayer<Drop>(0, 1, o);
	st_event e = Fop(ST_FN_FETCH_ADD, 10, 0, 1);
	ASSERT_EQ(ST_OK, e.status);
	EXPECT_EQ(kInit, e.value);
	net.RunUntilIdle();
	EXPECT_EQ(1u, d->dropped());
	EXPECT_EQ(kInit + 10, Value()) << log->Trace();
	// B repeats its result until a fetchop-complete arrives; A answers every copy.
	auto results = log->Filter(ST_OP_DATA, 1, 0);
	size_t completes = 0;
	for (const auto &r : log->Filter(ST_OP_GET, 0, 1))
		completes += st_hdr_function(&r.h) == ST_FN_FETCHOP_COMPLETE;
	EXPECT_EQ(2u, results.size()) << log->Trace();
	EXPECT_EQ(2u, completes) << log->Trace();
	EXPECT_EQ(1u, CountCompletions(net, 0, 1));
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
}

TEST_F(FetchopTest, LostRequestIsRepeatedAndAppliedOnce)
{
	Init();
	Expose();
	Drop::Options o = Drop::Once(ST_OP_GET);
	o.match.function = ST_FN_FETCH_ADD;
	Drop *d = net.AddLayer<Drop>(0, 1, o);
	st_event e = Fop(ST_FN_FETCH_ADD, 10, 0, 1);
	ASSERT_EQ(ST_OK, e.status);
	EXPECT_EQ(kInit, e.value);
	net.RunUntilIdle();
	EXPECT_EQ(1u, d->dropped());
	EXPECT_EQ(kInit + 10, Value());
	size_t reqs = 0;
	for (const auto &r : log->Filter(ST_OP_GET, 0, 1))
		reqs += st_hdr_function(&r.h) == ST_FN_FETCH_ADD;
	EXPECT_EQ(2u, reqs) << log->Trace();
}

TEST_F(FetchopTest, DuplicatedRequestIsAppliedOnce)
{
	Init();
	Expose();
	Duplicate::Options o = Duplicate::All(ST_OP_GET);
	o.match.function = ST_FN_FETCH_ADD;
	net.AddLayer<Duplicate>(0, 1, o);
	st_event e = Fop(ST_FN_FETCH_ADD, 10, 0, 1);
	ASSERT_EQ(ST_OK, e.status);
	net.RunUntilIdle();
	EXPECT_EQ(kInit + 10, Value()) << log->Trace();
	EXPECT_EQ(kInit, e.value);
	EXPECT_EQ(1u, CountCompletions(net, 0, 1));
}

TEST_F(FetchopTest, MisalignedAndMalformedRequestsRejectedByTheApi)
{
	Init();
	for (uint64_t off : {kTargetOff + 1, kTargetOff + 4, kTargetOff + 7})
		EXPECT_EQ(-EINVAL, Start(ST_FN_FETCH_INCREMENT, 0, 0, 1, off)) << off;
	EXPECT_EQ(-EINVAL, Start(ST_FN_GET, 0, 0, 1)) << "Function 0 is a GET";
	EXPECT_EQ(-EINVAL, Start(ST_FN_FETCHOP_COMPLETE, 0, 0, 1));
	EXPECT_EQ(-ENOENT, Start(ST_FN_FETCH_INCREMENT, 0, 0, 1, kTargetOff, 4321)) << "unknown local Mx";
	struct st_fetchop f{};
	f.fn = ST_FN_FETCH_INCREMENT;
	f.rkey = kKey;
	f.remote_off = kTargetOff;
	f.local_mx = result->mx;
	f.local_off = 60;  // 60 + 8 > 64
	EXPECT_EQ(-EINVAL, st_fetchop(net.eng(0), vp.a, &f, 1)) << "local result past the region";
	f.local_off = 0;
	f.rkey = 0;
	EXPECT_EQ(-EINVAL, st_fetchop(net.eng(0), vp.a, &f, 1)) << "rkey 0";
	f.rkey = kKey;
	EXPECT_EQ(-EINVAL, st_fetchop(net.eng(0), vp.a, nullptr, 1));
	EXPECT_EQ(-ENOENT, st_fetchop(net.eng(0), 4321, &f, 1));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
	EXPECT_EQ(kInit, Value());
}

TEST_F(FetchopTest, MissingRemoteAtomicFails)
{
	Init(kW | kR);
	std::vector<uint8_t> before = target->bytes;
	st_event e = Fop(ST_FN_FETCH_ADD, 1, 0, 1);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_ACCESS, e.reason) << st_reject_str(e.reason);
	net.RunUntilIdle();
	EXPECT_TRUE(SameBytes(before, 0, target->bytes, 0, before.size()));
	EXPECT_EQ(0u, target->writes);
	EXPECT_EQ(0u, log->Count(ST_OP_DATA)) << log->Trace();
}

// A Reject is final: after a lost Reject the repeat is rejected again, never applied.
TEST_F(FetchopTest, LostRejectIsAnsweredAgainOnRepeat)
{
	Init(kW | kR);
	Expose();
	Drop *d = net.AddLayer<Drop>(1, 0, Drop::Once(ST_OP_REQUEST_ANSWER));
	st_event e = Fop(ST_FN_FETCH_ADD, 1, 0, 1);
	EXPECT_EQ(1u, d->dropped());
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ(ST_REJ_ACCESS, e.reason);
	net.RunUntilIdle();
	EXPECT_EQ(kInit, Value());
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
}

TEST_F(FetchopTest, OutOfRangeFails)
{
	Init(kA, 4096);
	std::vector<uint8_t> before = target->bytes;
	st_event e = Fop(ST_FN_SWAP, 1, 0, 1, 4096);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status);
	EXPECT_EQ(ST_REJ_BAD_RANGE, e.reason) << st_reject_str(e.reason);
	EXPECT_TRUE(SameBytes(before, 0, target->bytes, 0, before.size()));
	EXPECT_EQ(0u, net.harness_errors());
	// The last aligned word is in range.
	st_event ok = Fop(ST_FN_SWAP, 0xAB, 0, 2, 4088);
	EXPECT_EQ(ST_OK, ok.status);
	EXPECT_EQ(0xABu, Load64(target->bytes, 4088));
	EXPECT_EQ(Load64(before, 4088), ok.value);
}

// ---- exactly once under loss -----------------------------------------------------------

struct FetchopLossTest : ::testing::TestWithParam<uint64_t>, FetchopFixture {
	// A generous retry budget: at 20% loss each way an exchange fails one time
	// in three, and this test is about exactly-once, not about giving up.
	FetchopLossTest() : FetchopFixture([](int, st_config *c) { c->retries = 12; }) {}
};

TEST_P(FetchopLossTest, FetchAddsUnderTwentyPercentLossSumExactly)
{
	const uint64_t seed = GetParam();
	const uint64_t n = 40;
	Init();
	Store64(target->bytes, kTargetOff, 0);
	Drop *ab = net.AddLayer<Drop>(0, 1, Drop::Rate(0.2, seed));
	Drop *ba = net.AddLayer<Drop>(1, 0, Drop::Rate(0.2, seed * 7919 + 1));
	for (uint64_t i = 0; i < n; i++)
		ASSERT_EQ(0, Start(ST_FN_FETCH_ADD, 1, 0, 100 + i, kTargetOff, 0));
	std::set<uint64_t> olds;
	for (uint64_t i = 0; i < n; i++) {
		st_event e = net.WaitCompletion(0, 100 + i, ST_REQ_FETCHOP, 600 * kSec);
		ASSERT_EQ(ST_OK, e.status) << i << " " << st_status_str(e.status) << "\n" << net.DumpEvents(0);
		olds.insert(e.value);
	}
	net.RunUntilIdle();
	EXPECT_EQ(n, Value()) << "dropped A->B " << ab->dropped() << ", B->A " << ba->dropped();
	// Each add saw a different old value: 0 .. n-1, every one once.
	EXPECT_EQ(n, olds.size());
	EXPECT_EQ(0u, *olds.begin());
	EXPECT_EQ(n - 1, *olds.rbegin());
	EXPECT_GT(ab->dropped(), 0u);
	EXPECT_GT(ba->dropped(), 0u);
	EXPECT_GT(net.Counters(0).retransmits + net.Counters(1).retransmits, 0u);
	for (uint64_t i = 0; i < n; i++)
		EXPECT_EQ(1u, CountCompletions(net, 0, 100 + i)) << i;
	EXPECT_EQ(ST_VC_OPEN, net.Info(0, vp.a).state);
}

INSTANTIATE_TEST_SUITE_P(Fetchop, FetchopLossTest, ::testing::Values(1, 2, 3),
			 [](const ::testing::TestParamInfo<uint64_t> &i) {
				 return "seed" + std::to_string(i.param);
			 });

}  // namespace
}  // namespace sttest
