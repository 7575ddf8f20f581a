// SPDX-License-Identifier: MIT
// Persistent memory regions: Request_Memory_Region -> Memory_Region_Available,
// the per-VC cache of the peer's regions, End releasing an exposure, and the
// local region API (docs/protocol.md "Persistent memory").
#include <cerrno>
#include <cstring>

#include "data_helpers.h"

namespace sttest {
namespace {

using namespace data;

// A 64-bit key whose halves differ, so Bufx:Offset must carry both.
constexpr uint64_t kKey = 0xA1B2C3D4E5F60718ull;

struct MemoryRegionTest : ::testing::Test {
	Net net{2};
	VcPair vp;
	Region *target = nullptr;  // B, all access, key kKey
	Region *src = nullptr;     // A, local source
	std::shared_ptr<TapLog> log;

	void SetUp() override
	{
		vp = net.Connect(0, 1);
		ASSERT_TRUE(vp.ok());
		target = net.AddRegion(1, 12345, kAll, kKey);
		src = net.AddRegion(0, 64 * kKiB, 0);
		Fill(src, 7);
		log = net.TapBoth(0, 1);
	}

	st_event Request(uint64_t rkey, uint64_t ctx)
	{
		EXPECT_EQ(0, st_region_request(net.eng(0), vp.a, rkey, ctx));
		return net.WaitEvent(0, ST_EV_REGION_EXPOSED, ctx);
	}

	st_event Put(uint64_t rkey, uint64_t roff, uint64_t len, uint64_t ctx, uint16_t vc = 0)
	{
		st_rma r = Rma(src->mx, 0, rkey, roff, len);
		EXPECT_EQ(0, st_put(net.eng(0), vc ? vc : vp.a, &r, ctx));
		return net.WaitCompletion(0, ctx, ST_REQ_PUT);
	}
};

TEST_F(MemoryRegionTest, RequestExposesRegionWithItsLength)
{
	st_event e = Request(kKey, 0x77);
	EXPECT_EQ(ST_EV_REGION_EXPOSED, e.type);
	EXPECT_EQ(ST_REQ_REGION, e.kind);
	EXPECT_EQ(ST_OK, e.status) << st_status_str(e.status);
	EXPECT_EQ(12345u, e.len);
	EXPECT_EQ(kKey, e.rkey);
	EXPECT_EQ(vp.a, e.vc);
	EXPECT_EQ(0, memcmp(e.peer, net.ula(1), ST_ULA_LEN));

	// RMR -> MRA on VC0 with the documented fields.
	ASSERT_EQ((std::vector<unsigned>{ST_OP_REQUEST_MEMORY_REGION, ST_OP_MEMORY_REGION_AVAILABLE}),
		  log->Ops())
		<< log->Trace();
	const OpRecord &rmr = log->records()[0];
	const OpRecord &mra = log->records()[1];
	EXPECT_EQ(0u, rmr.vc);
	EXPECT_EQ(0u, mra.vc);
	EXPECT_EQ((uint32_t)(kKey >> 32), rmr.h.bufx) << "key high half in Bufx";
	EXPECT_EQ((uint32_t)kKey, rmr.h.offset) << "key low half in Offset";
	EXPECT_EQ(0u, Len64(rmr.h)) << "T_len 0: the whole region";
	EXPECT_NE(0u, rmr.h.s_id) << "I_id";
	EXPECT_EQ(target->mx, mra.h.b_id) << "R_Mx";
	EXPECT_EQ(0u, mra.h.bufx) << "no base address registered: 0";
	EXPECT_EQ(0u, mra.h.offset) << "no base address registered: 0";
	EXPECT_EQ(0u, e.offset);
	EXPECT_EQ(12345u, Len64(mra.h)) << "region length in Sync:B_num";
	EXPECT_EQ(rmr.h.s_id, mra.h.d_id) << "D_id = I_id";
	EXPECT_FALSE(IsReject(mra));
}

TEST_F(MemoryRegionTest, BaseAddressTravelsInMraAndEvent)
{
	const uint64_t base = 0x00007f12345678c0ull;
	ASSERT_EQ(0, st_region_set_base(net.eng(1), target->mx, base));
	EXPECT_EQ(-ENOENT, st_region_set_base(net.eng(1), 0xfff0, base));
	st_event e = Request(kKey, 0x78);
	ASSERT_EQ(ST_OK, e.status) << st_status_str(e.status);
	EXPECT_EQ(base, e.offset) << "REGION_EXPOSED reports the owner's base address";
	auto mra = log->Filter(ST_OP_MEMORY_REGION_AVAILABLE, 1, 0);
	ASSERT_EQ(1u, mra.size()) << log->Trace();
	EXPECT_EQ((uint32_t)(base >> 32), mra[0].h.bufx) << "base high half in Bufx";
	EXPECT_EQ((uint32_t)base, mra[0].h.offset) << "base low half in Offset";
	// Positions stay relative to the region: a PUT at offset 100 lands at byte 100.
	st_event p = Put(kKey, 100, 64, 0x79);
	ASSERT_EQ(ST_OK, p.status) << st_status_str(p.status);
	EXPECT_EQ(0, memcmp(target->bytes.data() + 100, src->bytes.data(), 64));
}

TEST_F(MemoryRegionTest, UnknownKeyFailsWithBadKey)
{
	st_event e = Request(0x1234567, 5);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status);
	EXPECT_EQ(ST_REJ_BAD_KEY, e.reason) << st_reject_str(e.reason);
	EXPECT_EQ(0u, e.len);
	auto rmr = log->Filter(ST_OP_REQUEST_MEMORY_REGION, 0, 1);
	auto ans = log->Filter(-1, 1, 0);
	ASSERT_EQ(1u, rmr.size()) << log->Trace();
	ASSERT_EQ(1u, ans.size()) << log->Trace();
	EXPECT_EQ(ST_OP_REQUEST_ANSWER, ans[0].h.op);
	EXPECT_TRUE(IsReject(ans[0]));
	EXPECT_EQ(ST_REJ_BAD_KEY, ans[0].h.param);
	EXPECT_EQ(rmr[0].h.s_id, ans[0].h.d_id) << "D_id = the rejected request's id";
	EXPECT_EQ(ST_OP_REQUEST_MEMORY_REGION, ans[0].h.b_id) << "B_id = the rejected opcode";
	// Nothing was cached: asking again goes to the wire again.
	st_event e2 = Request(0x1234567, 6);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e2.status);
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_MEMORY_REGION, 0, 1)) << log->Trace();
}

TEST_F(MemoryRegionTest, SecondRequestIsAnsweredFromTheCache)
{
	st_event e1 = Request(kKey, 1);
	ASSERT_EQ(ST_OK, e1.status);
	log->Clear();
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 2));
	net.Drain();  // no packet delivered, no time passed
	const st_event *e2 = net.FindEvent(0, ST_EV_REGION_EXPOSED, 2);
	ASSERT_NE(nullptr, e2) << "a cached key must be answered at once\n" << net.DumpEvents(0);
	EXPECT_EQ(ST_OK, e2->status);
	EXPECT_EQ(12345u, e2->len);
	EXPECT_EQ(kKey, e2->rkey);
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->Count(ST_OP_REQUEST_MEMORY_REGION)) << log->Trace();
	EXPECT_EQ(0u, log->records().size()) << log->Trace();
}

TEST_F(MemoryRegionTest, FirstPutIssuesTheRmrImplicitly)
{
	st_event e = Put(kKey, 100, 300, 9);
	EXPECT_EQ(ST_OK, e.status) << st_status_str(e.status) << "\n" << log->Trace();
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_MEMORY_REGION, ST_OP_MEMORY_REGION_AVAILABLE,
					 ST_OP_DATA, ST_OP_REQUEST_ANSWER}),
		  log->Ops())
		<< log->Trace();
	EXPECT_TRUE(SameBytes(src->bytes, 0, target->bytes, 100, 300));
	// The key is now cached: a region request needs no wire traffic.
	log->Clear();
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 10));
	net.Drain();
	EXPECT_NE(nullptr, net.FindEvent(0, ST_EV_REGION_EXPOSED, 10));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->Count(ST_OP_REQUEST_MEMORY_REGION)) << log->Trace();
}

TEST_F(MemoryRegionTest, OperationsWaitingForOneKeyShareOneRmr)
{
	Region *sink = net.AddRegion(0, 4096, 0);
	Fill(target, 99);
	st_rma p1 = Rma(src->mx, 0, kKey, 0, 1000);
	st_rma p2 = Rma(src->mx, 1000, kKey, 1000, 1000);
	st_rma g = Rma(sink->mx, 0, kKey, 5000, 2000);
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &p1, 1));
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &p2, 2));
	ASSERT_EQ(0, st_get(net.eng(0), vp.a, &g, 3));
	ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, kKey, 4));
	std::vector<uint8_t> before = target->bytes;
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_PUT).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 2, ST_REQ_PUT).status);
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 3, ST_REQ_GET).status);
	EXPECT_EQ(ST_OK, net.WaitEvent(0, ST_EV_REGION_EXPOSED, 4).status);
	net.RunUntilIdle();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_MEMORY_REGION)) << log->Trace();
	EXPECT_EQ(1u, log->Count(ST_OP_MEMORY_REGION_AVAILABLE)) << log->Trace();
	EXPECT_TRUE(SameBytes(src->bytes, 0, target->bytes, 0, 2000));
	EXPECT_TRUE(SameBytes(before, 5000, sink->bytes, 0, 2000));
}

TEST_F(MemoryRegionTest, ReleaseSendsEndAndTheNextPutRequestsAgain)
{
	ASSERT_EQ(ST_OK, Put(kKey, 0, 64, 1).status);
	log->Clear();
	ASSERT_EQ(0, st_region_release(net.eng(0), vp.a, kKey, 0x5E));
	st_event rel = net.WaitCompletion(0, 0x5E, ST_REQ_REGION);
	EXPECT_EQ(ST_OK, rel.status) << st_status_str(rel.status);
	EXPECT_EQ(ST_EV_COMPLETE, rel.type);
	net.RunUntilIdle();
	ASSERT_EQ((std::vector<unsigned>{ST_OP_END, ST_OP_END_ACK}), log->Ops()) << log->Trace();
	const OpRecord &end = log->records()[0];
	const OpRecord &ack = log->records()[1];
	EXPECT_EQ(target->mx, end.h.b_id) << "End B_id = the Mx to release";
	EXPECT_EQ(end.h.bufx, ack.h.bufx) << "End_Ack echoes the End's sequence number";
	EXPECT_EQ(0, end.src);
	EXPECT_EQ(1, ack.src);

	// Forgotten: a second release has nothing to release ...
	EXPECT_EQ(-ENOENT, st_region_release(net.eng(0), vp.a, kKey, 0x5F));
	// ... and the next PUT with the same rkey asks for the region again.
	log->Clear();
	ASSERT_EQ(ST_OK, Put(kKey, 200, 64, 2).status) << log->Trace();
	EXPECT_EQ((std::vector<unsigned>{ST_OP_REQUEST_MEMORY_REGION, ST_OP_MEMORY_REGION_AVAILABLE,
					 ST_OP_DATA, ST_OP_REQUEST_ANSWER}),
		  log->Ops())
		<< log->Trace();
	EXPECT_TRUE(SameBytes(src->bytes, 0, target->bytes, 200, 64));
}

TEST_F(MemoryRegionTest, ReleaseRevokesTheExposureAtTheResponder)
{
	ASSERT_EQ(ST_OK, Request(kKey, 1).status);
	ASSERT_EQ(0, st_region_release(net.eng(0), vp.a, kKey, 2));
	ASSERT_EQ(ST_OK, net.WaitCompletion(0, 2, ST_REQ_REGION).status);
	net.RunUntilIdle();
	log->Clear();
	std::vector<uint8_t> before = target->bytes;
	// A PUT STU naming the released Mx, as A would have sent it.
	uint8_t a_ula[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp.b, ST_OP_DATA, a_ula);
	h.flags = ST_FLAG_LAST;
	h.b_id = target->mx;
	h.b_num = 1;
	h.s_id = 100;
	std::vector<uint8_t> payload(16, 0xEE);
	net.Inject(1, a_ula, net.cfg(0).data_vc, h, payload);
	net.Pump();
	EXPECT_TRUE(SameBytes(before, 0, target->bytes, 0, before.size()));
	auto ans = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ans.size()) << log->Trace();
	EXPECT_TRUE(IsReject(ans[0]));
	EXPECT_EQ(ST_REJ_ACCESS, ans[0].h.param) << FormatOp(ans[0]);
	EXPECT_EQ(100u, ans[0].h.d_id);
}

TEST_F(MemoryRegionTest, DeregisteredRegionAnswersBadKey)
{
	ASSERT_EQ(0, st_region_deregister(net.eng(1), target->mx));
	st_event e = Request(kKey, 3);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << st_status_str(e.status);
	EXPECT_EQ(ST_REJ_BAD_KEY, e.reason) << st_reject_str(e.reason) << "\n" << log->Trace();
	// A PUT on that key fails the same way and writes nothing.
	st_event p = Put(kKey, 0, 10, 4);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, p.status);
	EXPECT_EQ(ST_REJ_BAD_KEY, p.reason) << log->Trace();
	EXPECT_EQ(0u, log->Count(ST_OP_DATA)) << log->Trace();
	EXPECT_EQ(0u, target->writes);
}

TEST_F(MemoryRegionTest, CachedKeyOfADeregisteredRegionNeverReachesItsSuccessor)
{
	ASSERT_EQ(ST_OK, Request(kKey, 1).status);
	uint16_t old_mx = target->mx;
	ASSERT_EQ(0, st_region_deregister(net.eng(1), old_mx));
	// B registers a new region (possibly reusing the Mx) under another key.
	Region *other = net.AddRegion(1, 12345, kAll, 0xBEEF);
	Fill(other, 3);
	std::vector<uint8_t> before = other->bytes;
	log->Clear();
	st_event p = Put(kKey, 0, 100, 2);
	EXPECT_EQ(ST_ERR_REMOTE_ACCESS, p.status) << st_status_str(p.status) << "\n" << log->Trace();
	EXPECT_TRUE(SameBytes(before, 0, other->bytes, 0, before.size()))
		<< "a PUT with a stale R_Mx " << old_mx << " landed in region Mx " << other->mx;
	EXPECT_EQ(0u, other->writes);
}

TEST_F(MemoryRegionTest, ExposureIsPerVc)
{
	VcPair vp2 = net.Connect(0, 1);
	ASSERT_TRUE(vp2.ok());
	ASSERT_EQ(ST_OK, Request(kKey, 1).status);  // exposed on vp only
	log->Clear();
	std::vector<uint8_t> before = target->bytes;
	uint8_t a_ula[ST_ULA_LEN];
	st_hdr h = net.HdrTo(1, vp2.b, ST_OP_DATA, a_ula);
	h.flags = ST_FLAG_LAST;
	h.b_id = target->mx;
	h.b_num = 1;
	h.s_id = 50;
	net.Inject(1, a_ula, net.cfg(0).data_vc, h, std::vector<uint8_t>(8, 0xAA));
	net.Pump();
	EXPECT_TRUE(SameBytes(before, 0, target->bytes, 0, before.size()));
	auto ans = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ans.size()) << log->Trace();
	EXPECT_TRUE(IsReject(ans[0]));
	EXPECT_EQ(ST_REJ_ACCESS, ans[0].h.param) << FormatOp(ans[0]);
	EXPECT_EQ(vp2.a, ans[0].h.d_port) << "answered on the VC it came on";
	// Through the API the second VC asks for the region itself and succeeds.
	log->Clear();
	st_event p = Put(kKey, 10, 20, 2, vp2.a);
	EXPECT_EQ(ST_OK, p.status);
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_MEMORY_REGION)) << log->Trace();
	EXPECT_TRUE(SameBytes(src->bytes, 0, target->bytes, 10, 20));
}

TEST_F(MemoryRegionTest, LostRmrIsRepeated)
{
	net.AddLayer<Drop>(0, 1, Drop::Once(ST_OP_REQUEST_MEMORY_REGION));
	st_event e = Request(kKey, 1);
	EXPECT_EQ(ST_OK, e.status);
	EXPECT_EQ(12345u, e.len);
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_MEMORY_REGION, 0, 1)) << log->Trace();
	EXPECT_GE(net.Counters(0, vp.a).retransmits, 1u);
	auto rmr = log->Filter(ST_OP_REQUEST_MEMORY_REGION, 0, 1);
	ASSERT_EQ(2u, rmr.size());
	EXPECT_EQ(rmr[0].h.s_id, rmr[1].h.s_id) << "a repeat keeps its id";
}

TEST_F(MemoryRegionTest, LocalRegionApiErrors)
{
	st_engine *a = net.eng(0);
	const size_t events_before = net.ep(0).events.size();
	uint16_t mx = 0;
	int dummy = 0;
	EXPECT_EQ(-EINVAL, st_region_register(a, 0, kAll, 0x99, &dummy, &mx)) << "length 0";
	EXPECT_EQ(-EINVAL, st_region_register(a, 100, kAll, 0, &dummy, &mx)) << "key 0";
	EXPECT_EQ(-EINVAL, st_region_register(a, 100, 0x80, 0x99, &dummy, &mx)) << "unknown access bit";
	EXPECT_LT(st_region_register(a, 100, kAll, src->key, &dummy, &mx), 0) << "duplicate key";
	EXPECT_EQ(-ENOENT, st_region_deregister(a, 0));
	EXPECT_EQ(-ENOENT, st_region_deregister(a, 4321));
	EXPECT_EQ(-EINVAL, st_region_request(a, vp.a, 0, 1)) << "rkey 0";
	EXPECT_EQ(-ENOENT, st_region_request(a, 4321, kKey, 1)) << "no such VC";
	EXPECT_EQ(-ENOENT, st_region_release(a, vp.a, kKey, 1)) << "never cached";
	EXPECT_EQ(-ENOENT, st_region_release(a, 4321, kKey, 1));

	st_rma r = Rma(src->mx, 0, kKey, 0, 10);
	r.local_mx = 4321;
	EXPECT_EQ(-ENOENT, st_put(a, vp.a, &r, 1)) << "unknown local Mx";
	r = Rma(src->mx, src->bytes.size() - 5, kKey, 0, 10);
	EXPECT_EQ(-EINVAL, st_put(a, vp.a, &r, 1)) << "local range past the region";
	r = Rma(src->mx, 0, kKey, 0, 0);
	EXPECT_EQ(-EINVAL, st_put(a, vp.a, &r, 1)) << "length 0";
	r = Rma(src->mx, 0, 0, 0, 10);
	EXPECT_EQ(-EINVAL, st_put(a, vp.a, &r, 1)) << "rkey 0";
	r = Rma(src->mx, 0, kKey, 0, 10, 0x80);
	EXPECT_EQ(-EINVAL, st_put(a, vp.a, &r, 1)) << "unknown flag";
	r = Rma(src->mx, 0, kKey, 0, 10);
	EXPECT_EQ(-EINVAL, st_put(a, vp.a, nullptr, 1));
	EXPECT_EQ(-ENOENT, st_put(a, 4321, &r, 1));
	net.RunUntilIdle();
	EXPECT_EQ(0u, log->records().size()) << "nothing reached the wire\n" << log->Trace();
	EXPECT_EQ(events_before, net.ep(0).events.size()) << net.DumpEvents(0);
}

TEST_F(MemoryRegionTest, DeregisterIsBusyWhileAnOperationUsesTheRegion)
{
	st_rma r = Rma(src->mx, 0, kKey, 0, 5000);
	ASSERT_EQ(0, st_put(net.eng(0), vp.a, &r, 1));
	EXPECT_EQ(-EBUSY, st_region_deregister(net.eng(0), src->mx));
	EXPECT_EQ(ST_OK, net.WaitCompletion(0, 1, ST_REQ_PUT).status);
	EXPECT_EQ(0, st_region_deregister(net.eng(0), src->mx));
	EXPECT_EQ(-ENOENT, st_region_deregister(net.eng(0), src->mx));
	// The stale handle is refused, never used.
	EXPECT_EQ(-ENOENT, st_put(net.eng(0), vp.a, &r, 2));
}

}  // namespace
}  // namespace sttest
