// SPDX-License-Identifier: MIT
// Slot accounting: never more slot-consuming requests outstanding than granted.
#include <algorithm>
#include <set>

#include "st_harness.h"

namespace sttest {
namespace {

constexpr unsigned kAll = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;

bool IsSlotRequest(const st_hdr &h)
{
	switch (h.op) {
	case ST_OP_REQUEST_MEMORY_REGION:
	case ST_OP_REQUEST_TO_SEND:
	case ST_OP_REQUEST_TO_RECEIVE:
		return true;
	case ST_OP_GET:
		return st_hdr_function(&h) != ST_FN_FETCHOP_COMPLETE;
	default:
		return false;
	}
}

// Replays the tap log and returns the largest number of slot-consuming
// requests from `from` to `to` that were on the wire and not yet answered
// (docs/protocol.md: MRA, last Data of a GET, FETCHOP result, first CTS of an
// RTS, accepting Request_Answer of an RTR, any Reject free the slot).
size_t MaxOutstanding(const TapLog &log, int from, int to)
{
	std::set<uint32_t> out;
	size_t max = 0;
	for (const auto &r : log.records()) {
		const st_hdr &h = r.h;
		if (r.src == from && r.dst == to && IsSlotRequest(h)) {
			out.insert(h.s_id);
			max = std::max(max, out.size());
		} else if (r.src == to && r.dst == from) {
			switch (h.op) {
			case ST_OP_MEMORY_REGION_AVAILABLE:
			case ST_OP_CLEAR_TO_SEND:
			case ST_OP_REQUEST_ANSWER:
				out.erase(h.d_id);
				break;
			case ST_OP_DATA:
				if (h.flags & ST_FLAG_LAST)
					out.erase(h.d_id);
				break;
			default:
				break;
			}
		}
	}
	return max;
}

Net::Tweak GrantFromB(uint16_t slots)
{
	return [slots](int ep, st_config *c) {
		if (ep == 1)
			c->slots = slots;
		c->reject_when_not_ready = false;
	};
}

TEST(SlotsTest, HeldReadsNeverExceedGrantAndAllCompleteOncePosted)
{
	Net net(2, GrantFromB(2));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	Region *sink = net.AddRegion(0, 5 * 4096, kAll);
	Region *src = net.AddRegion(1, 5 * 4096, kAll);
	Net::FillPattern(src, 77);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, st_read(net.eng(0), vp.a, sink->mx, i * 4096, 4096, 10 + i));
	net.Pump();
	EXPECT_EQ(2u, log->Count(ST_OP_REQUEST_TO_RECEIVE, 0, 1)) << log->Trace();
	VcInfo ia = net.Info(0, vp.a);
	EXPECT_EQ(2, ia.slots_in_use);
	EXPECT_EQ(3u, ia.queued_ops);
	EXPECT_EQ(3u, net.Counters(0, vp.a).slot_waits);
	EXPECT_EQ(3u, net.Counters(0).slot_waits);

	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, st_post_source(net.eng(1), vp.b, src->mx, i * 4096, 4096, 20 + i));
	net.RunUntilIdle();
	for (int i = 0; i < 5; i++) {
		const st_event *e = net.FindCompletion(0, 10 + i, ST_REQ_READ);
		ASSERT_NE(nullptr, e) << i << "\n" << net.DumpEvents(0) << log->Trace();
		EXPECT_EQ(ST_OK, e->status);
		EXPECT_EQ(4096u, e->len);
		const st_event *s = net.FindCompletion(1, 20 + i, ST_REQ_SOURCE);
		ASSERT_NE(nullptr, s) << i << "\n" << net.DumpEvents(1);
		EXPECT_EQ(ST_OK, s->status);
	}
	EXPECT_TRUE(BytesEqual(src->bytes, sink->bytes));
	EXPECT_LE(MaxOutstanding(*log, 0, 1), 2u) << log->Trace();
	EXPECT_EQ(5u, log->Filter(ST_OP_REQUEST_TO_RECEIVE, 0, 1).size()) << log->Trace();
	EXPECT_EQ(0, net.Info(0, vp.a).slots_in_use);
	EXPECT_EQ(0u, net.Info(0, vp.a).queued_ops);
}

TEST(SlotsTest, RegionRequestsForUnknownKeysNeverExceedGrant)
{
	Net net(2, GrantFromB(2));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, st_region_request(net.eng(0), vp.a, 0xBAD000 + i, 40 + i));
	EXPECT_EQ(3u, net.Info(0, vp.a).queued_ops);
	net.RunUntilIdle();
	for (int i = 0; i < 5; i++) {
		st_event e = net.WaitEvent(0, ST_EV_REGION_EXPOSED, 40 + i);
		EXPECT_EQ(ST_ERR_REMOTE_ACCESS, e.status) << i;
		EXPECT_EQ(ST_REJ_BAD_KEY, e.reason) << i;
	}
	EXPECT_EQ(5u, log->Count(ST_OP_REQUEST_MEMORY_REGION, 0, 1)) << log->Trace();
	EXPECT_EQ(5u, log->Count(ST_OP_REQUEST_ANSWER, 1, 0)) << log->Trace();
	EXPECT_EQ(2u, MaxOutstanding(*log, 0, 1)) << log->Trace();
	EXPECT_EQ(3u, net.Counters(0).slot_waits);
	EXPECT_EQ(0u, net.Counters(1).drops[ST_DROP_NO_SLOTS]);
}

TEST(SlotsTest, RaisingGrantReleasesQueuedOps)
{
	Net net(2, GrantFromB(1));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	Region *sink = net.AddRegion(0, 4 * 1024, kAll);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, st_read(net.eng(0), vp.a, sink->mx, i * 1024, 1024, 60 + i));
	net.Pump();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_TO_RECEIVE, 0, 1));
	EXPECT_EQ(3u, net.Info(0, vp.a).queued_ops);
	ASSERT_EQ(0, st_set_slots(net.eng(1), vp.b, 4));
	net.Pump();
	EXPECT_EQ(4u, log->Count(ST_OP_REQUEST_TO_RECEIVE, 0, 1)) << log->Trace();
	VcInfo ia = net.Info(0, vp.a);
	EXPECT_EQ(4, ia.slots_granted_to_us);
	EXPECT_EQ(4, ia.slots_in_use);
	EXPECT_EQ(0u, ia.queued_ops);
	EXPECT_LE(MaxOutstanding(*log, 0, 1), 4u);
}

TEST(SlotsTest, LoweredGrantQueuesNewOps)
{
	Net net(2, GrantFromB(4));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	ASSERT_EQ(0, st_set_slots(net.eng(1), vp.b, 1));
	net.Pump();
	auto log = net.TapBoth(0, 1);
	Region *sink = net.AddRegion(0, 3 * 1024, kAll);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, st_read(net.eng(0), vp.a, sink->mx, i * 1024, 1024, 70 + i));
	net.Pump();
	EXPECT_EQ(1u, log->Count(ST_OP_REQUEST_TO_RECEIVE, 0, 1)) << log->Trace();
	EXPECT_EQ(2u, net.Info(0, vp.a).queued_ops);
	EXPECT_EQ(0u, net.Counters(1).drops[ST_DROP_NO_SLOTS]);
}

TEST(SlotsTest, PeerExceedingGrantIsRejectedNoSlots)
{
	Net net(2, GrantFromB(2));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(1, 0);
	uint8_t src[ST_ULA_LEN];
	for (uint32_t id = 1; id <= 3; id++) {
		st_hdr h = net.HdrTo(1, vp.b, ST_OP_REQUEST_TO_RECEIVE, src);
		h.param = 4;
		h.b_id = 16;
		h.b_num = 100;
		h.d_id = 0xFFFFFFFF;
		h.s_id = id;
		net.Inject(1, src, 0, h);
	}
	net.Pump();
	auto ra = log->Filter(ST_OP_REQUEST_ANSWER, 1, 0);
	ASSERT_EQ(1u, ra.size()) << "only the third is answered (the others are held)\n" << log->Trace();
	EXPECT_TRUE(IsReject(ra[0]));
	EXPECT_EQ(ST_REJ_NO_SLOTS, ra[0].h.param);
	EXPECT_EQ(3u, ra[0].h.d_id);
	EXPECT_EQ(ST_OP_REQUEST_TO_RECEIVE, ra[0].h.b_id);
	EXPECT_EQ(1u, net.Counters(1).drops[ST_DROP_NO_SLOTS]);
	EXPECT_EQ(1u, net.Counters(1, vp.b).drops[ST_DROP_NO_SLOTS]);
}

TEST(SlotsTest, GetsWithTwoSlotsAllCompleteWithinGrant)
{
	Net net(2, GrantFromB(2));
	VcPair vp = net.Connect(0, 1);
	ASSERT_TRUE(vp.ok());
	auto log = net.TapBoth(0, 1);
	Region *remote = net.AddRegion(1, 6 * 1000, kAll);
	Net::FillPattern(remote, 5);
	Region *local = net.AddRegion(0, 6 * 1000, kAll);
	for (int i = 0; i < 6; i++) {
		st_rma r{};
		r.local_mx = local->mx;
		r.local_off = i * 1000;
		r.rkey = remote->key;
		r.remote_off = i * 1000;
		r.len = 1000;
		ASSERT_EQ(0, st_get(net.eng(0), vp.a, &r, 80 + i));
	}
	net.RunUntilIdle();
	for (int i = 0; i < 6; i++) {
		const st_event *e = net.FindCompletion(0, 80 + i, ST_REQ_GET);
		ASSERT_NE(nullptr, e) << i << "\n" << net.DumpEvents(0) << log->Trace();
		EXPECT_EQ(ST_OK, e->status);
	}
	EXPECT_TRUE(BytesEqual(remote->bytes, local->bytes));
	EXPECT_LE(MaxOutstanding(*log, 0, 1), 2u) << log->Trace();
	EXPECT_EQ(0u, net.Counters(1).drops[ST_DROP_NO_SLOTS]);
	EXPECT_EQ(0u, net.Counters(1).rejects_sent);
}

}  // namespace
}  // namespace sttest
