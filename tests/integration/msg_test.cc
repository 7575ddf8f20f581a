// SPDX-License-Identifier: MIT
// GSN Messages between real gsnd processes: every size class on every VC
// through a switch and a faulty cable, byte-exact and in order; a receiver
// that stops reading stalls its sender with bounded memory, and loses
// nothing when it reads again.
#include "fabric_fixture.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

extern "C" {
#include <gsn/message.h>
#include <gsn/st_wire.h>
}

using namespace gsnit;

namespace {

constexpr uint16_t kEtherData = 0x88B5;
constexpr uint16_t kEtherStall = 0x88B7;
constexpr uint16_t kEtherSide = 0x88B8;

// Largest raw payload a VC carries: its micropacket limit minus the 24
// bytes of D_ULA, S_ULA, M_len and LLC/SNAP.
uint32_t VcMaxPayload(unsigned vc)
{
	return (uint32_t)(gsn_vc_max_message_bytes(vc) - 24);
}

class IntegMsg : public FabricTest {
protected:
	// A raw client on b stops reading; a sends N Messages of size on vc.
	void Stall(uint8_t vc, uint32_t size, uint32_t N);

	// RAW_SEND, retrying while gsnd says -EAGAIN; drains rx meanwhile.
	Reply SendRetry(Ctl &tx, Ctl *rx, uint8_t vc, uint16_t et, const uint8_t dst[6], const Bytes &p,
			int deadline_ms = 30000)
	{
		uint64_t end = NowMs() + (uint64_t)deadline_ms;
		for (;;) {
			Reply r = tx.RawSend(vc, et, dst, p, 15000);
			if (rx)
				rx->Drain();
			if (r.err || r.status != -EAGAIN || NowMs() > end)
				return r;
			if (rx)
				rx->WaitRaw(rx->raw.size() + 1, 20);
		}
	}
};

// a ─udp+faults─ sw0 ─shm─ b.  Every size class on every VC, a raw client on
// b compares every byte; GEN pushes the 4100-micropacket Messages on VC1/2
// and 1 MiB Messages on VC3 (beyond RAW_SEND's 128 KiB).
TEST_F(IntegMsg, EverySizeEveryVcByteExactThroughFaultySwitch)
{
	ASSERT_TRUE(StartFabric(
		"fabric name=faults\n"
		"switch sw0 ports=4\n"
		"endpoint a\n"
		"endpoint b\n"
		"cable a.0 sw0.0 udp "
		"filter=drop=0.05,seed=3+disorder=0.1,seed=4+dup=0.02,seed=5+corrupt=1e-4,unit=mpkt,seed=6\n"
		"cable b.0 sw0.1 shm\n"));
	auto a = Connect("a");
	auto b = Connect("b");
	auto bstats = Connect("b");
	ASSERT_TRUE(a && b && bstats);
	uint8_t aula[6], bula[6];
	ASSERT_TRUE(UlaParse(ulas_["a"], aula));
	ASSERT_TRUE(UlaParse(ulas_["b"], bula));
	Reply r = b->Bind(kEtherData);
	ASSERT_TRUE(r.ok()) << r.describe();

	ASSERT_EQ(VcMaxPayload(0), 2152u);
	const std::vector<uint32_t> small = {1, 31, 32, 33};
	std::vector<std::vector<uint32_t>> sizes(4);
	for (unsigned vc = 0; vc < 4; vc++) {
		sizes[vc] = small;
		if (vc == 0) {
			sizes[vc].push_back(VcMaxPayload(0) - 32); // 67 micropackets
			sizes[vc].push_back(VcMaxPayload(0));      // exactly 68
		} else {
			sizes[vc].push_back(4096);
			sizes[vc].push_back(GSN_CTL_RAW_DATA_MAX); // the largest raw payload
		}
	}
	// Send order interleaves the VCs; each VC's own order must survive.
	std::vector<std::vector<Bytes>> expect(4);
	size_t total = 0;
	const int reps = 3;
	for (int rep = 0; rep < reps; rep++)
		for (size_t i = 0; i < sizes[1].size(); i++)
			for (unsigned vc = 0; vc < 4; vc++) {
				if (i >= sizes[vc].size())
					continue;
				uint64_t k = expect[vc].size();
				Bytes p = Pattern((uint64_t)vc << 32 | k, sizes[vc][i]);
				r = SendRetry(*a, b.get(), (uint8_t)vc, kEtherData, bula, p);
				ASSERT_TRUE(r.ok())
					<< "vc " << vc << " size " << p.size() << ": " << r.describe();
				expect[vc].push_back(std::move(p));
				total++;
			}

	// One byte beyond VC0's 68 micropackets is refused, not sent.
	r = a->RawSend(0, kEtherData, bula, Bytes(VcMaxPayload(0) + 1, 0xab));
	EXPECT_EQ(r.err, 0) << r.describe();
	EXPECT_LT(r.status, 0) << "a 69-micropacket Message on VC0 must be refused";
	// No VC 4.
	r = a->RawSend(4, kEtherData, bula, Bytes(8, 1));
	EXPECT_EQ(r.status, -EINVAL) << r.describe();

	ASSERT_TRUE(b->WaitRaw(total, 90000))
		<< "received " << b->raw.size() << " of " << total << "\n"
		<< Dump(b->Stats(), "msg.") << Dump(a->Stats(), "port0.link.");
	std::vector<size_t> got(4, 0);
	for (auto &m : b->raw) {
		ASSERT_LT(m.vc, 4);
		size_t k = got[m.vc]++;
		ASSERT_LT(k, expect[m.vc].size()) << "extra Message on VC " << (int)m.vc;
		const Bytes &want = expect[m.vc][k];
		EXPECT_EQ(m.ethertype, kEtherData);
		EXPECT_EQ(UlaStr(m.src), ulas_["a"]);
		EXPECT_EQ(UlaStr(m.dst), ulas_["b"]);
		ASSERT_EQ(m.data.size(), want.size()) << "VC " << (int)m.vc << " Message " << k
						      << ": out of order or damaged";
		ASSERT_TRUE(m.data == want) << "VC " << (int)m.vc << " Message " << k << " ("
					    << want.size() << " bytes) differs";
	}
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_EQ(got[vc], expect[vc].size()) << "VC " << vc;
	b->Drain();
	EXPECT_EQ(b->raw.size(), total) << "nothing extra (duplicates) delivered";

	// GEN: the 4100-micropacket boundary on VC1 and VC2, 1 MiB Messages on VC3.
	KV before = bstats->Stats();
	const uint32_t vc12max = VcMaxPayload(1);
	ASSERT_EQ(vc12max, 131176u);
	const uint32_t mib = (1u << 20) - 24; // a whole Message of 1 MiB
	struct {
		uint8_t vc;
		uint32_t size, count;
	} gens[] = {{1, vc12max, 4}, {2, vc12max, 4}, {3, mib, 2}, {0, VcMaxPayload(0), 8}};
	uint64_t want_msgs = 0, want_bytes = 0;
	for (auto &g : gens) {
		// One generator per gsnd: the next GEN waits for the last to finish.
		KV ga;
		ASSERT_TRUE(WaitFor(
			[&] {
				ga = a->Stats();
				return U64(ga, "gen.active") == 0;
			},
			60000, 20))
			<< Dump(ga, "gen.");
		EXPECT_EQ(U64(ga, "gen.errors"), 0u) << Dump(ga, "gen.");
		r = a->Gen(bula, g.vc, g.size, g.count);
		ASSERT_TRUE(r.ok()) << "GEN vc " << (int)g.vc << " size " << g.size << ": " << r.describe();
		want_msgs += g.count;
		want_bytes += (uint64_t)g.size * g.count;
	}
	uint64_t msgs0 = U64(before, "sink.msgs"), bytes0 = U64(before, "sink.bytes");
	KV after;
	bool done = WaitFor(
		[&] {
			after = bstats->Stats();
			return U64(after, "sink.msgs") >= msgs0 + want_msgs;
		},
		90000, 50);
	ASSERT_TRUE(done) << Dump(after, "sink.") << Dump(a->Stats(), "gen.");
	EXPECT_EQ(U64(after, "sink.msgs") - msgs0, want_msgs);
	EXPECT_EQ(U64(after, "sink.bytes") - bytes0, want_bytes);
	// One byte beyond 4100 micropackets is refused.
	ASSERT_TRUE(WaitFor([&] { return U64(a->Stats(), "gen.active") == 0; }, 60000, 20));
	r = a->Gen(bula, 1, vc12max + 1, 1);
	EXPECT_EQ(r.err, 0) << r.describe();
	EXPECT_LT(r.status, 0) << "GEN of a 4101-micropacket Message on VC1 must be refused";

	// The faults happened and were repaired below the Message layer.
	KV sa = a->Stats();
	KV ssw = Connect("sw0")->Stats();
	KV sb = bstats->Stats();
	std::string ctx = "a:\n" + Dump(sa, "port0.") + "sw0:\n" + Dump(ssw, "port0.link") + "b:\n" +
			  Dump(sb, "msg.");
	printf("[ faults ] a: filter dropped=%llu duplicated=%llu reordered=%llu corrupted=%llu, "
	       "retransmits=%llu; sw0 port0: lcrc_errors=%llu duplicate=%llu out_of_seq=%llu\n",
	       (unsigned long long)SumKeys(sa, "port0.filter.", ".dropped"),
	       (unsigned long long)SumKeys(sa, "port0.filter.", ".duplicated"),
	       (unsigned long long)SumKeys(sa, "port0.filter.", ".reordered"),
	       (unsigned long long)SumKeys(sa, "port0.filter.", ".corrupted"),
	       (unsigned long long)U64(sa, "port0.link.retransmits"),
	       (unsigned long long)U64(ssw, "port0.link.lcrc_errors"),
	       (unsigned long long)U64(ssw, "port0.link.drops.duplicate"),
	       (unsigned long long)U64(ssw, "port0.link.drops.out_of_seq"));
	EXPECT_GT(SumKeys(sa, "port0.filter.", ".dropped"), 0u) << ctx;
	EXPECT_GT(SumKeys(sa, "port0.filter.", ".duplicated"), 0u) << ctx;
	EXPECT_GT(SumKeys(sa, "port0.filter.", ".reordered") + SumKeys(sa, "port0.filter.", ".released_late"),
		  0u)
		<< ctx;
	EXPECT_GT(SumKeys(sa, "port0.filter.", ".corrupted"), 0u) << ctx;
	EXPECT_GT(U64(sa, "port0.link.retransmits"), 0u) << ctx;
	EXPECT_GT(U64(ssw, "port0.link.lcrc_errors") + U64(sa, "port0.link.lcrc_errors"), 0u) << ctx;
	EXPECT_GT(U64(ssw, "port0.link.drops.duplicate") + U64(sa, "port0.link.drops.duplicate"), 0u)
		<< ctx;
	EXPECT_EQ(U64(ssw, "port0.link.resets"), 0u) << ctx;
	// Nothing damaged reached b's Message layer.
	EXPECT_EQ(U64(sb, "msg.ecrc_errors"), 0u) << ctx;
	EXPECT_EQ(SumKeys(sb, "msg.drops."), 0u) << ctx;
	for (unsigned vc = 0; vc < 4; vc++)
		EXPECT_GE(U64(sb, "msg.received.vc" + std::to_string(vc)), expect[vc].size()) << ctx;
}

// A raw client on b binds and then never reads its socket while a sends
// 64 KiB Messages to it: a's sends stall (credits run out), b's memory
// stays bounded, other VCs still flow; when the client reads, every Message
// arrives, in order.
void IntegMsg::Stall(uint8_t vc, uint32_t size, uint32_t N)
{
	ASSERT_TRUE(StartFabric("fabric name=stall\n"
				"switch sw0 ports=4\n"
				"endpoint a\n"
				"endpoint b\n"
				"cable a.0 sw0.0 shm\n"
				"cable b.0 sw0.1 shm\n"));
	auto a = Connect("a");
	auto a2 = Connect("a");
	auto astats = Connect("a");
	auto stalled = Connect("b");
	auto side = Connect("b");
	auto bstats = Connect("b");
	ASSERT_TRUE(a && a2 && astats && stalled && side && bstats);
	uint8_t bula[6];
	ASSERT_TRUE(UlaParse(ulas_["b"], bula));
	ASSERT_TRUE(stalled->Bind(kEtherStall).ok());
	ASSERT_TRUE(side->Bind(kEtherSide).ok());
	pid_t bpid = GsndPid("b");
	ASSERT_GT(bpid, 0);
	const long rss0 = VmRssKb(bpid);
	ASSERT_GT(rss0, 0);

	auto payload = [&](uint32_t i) {
		Bytes p = Pattern(0x5100 + i, size);
		gsn_put_be32(p.data(), i);
		return p;
	};
	auto body = [&](uint32_t i) {
		Bytes p = payload(i);
		gsn_ctl_raw h = {};
		h.vc = vc;
		h.ethertype = kEtherStall;
		memcpy(h.dst, bula, 6);
		Bytes b(GSN_CTL_RAW_HDR_LEN + p.size());
		gsn_ctl_raw_encode_head(&h, b.data());
		memcpy(b.data() + GSN_CTL_RAW_HDR_LEN, p.data(), p.size());
		return b;
	};

	// One RAW_SEND outstanding at a time, so order is the send order even
	// when gsnd answers -EAGAIN.
	uint32_t next = 0;
	bool pending = false;
	uint32_t pending_seq = 0;
	uint64_t sent_at = 0;
	int eagains = 0;
	uint64_t retry_at = 0;
	auto pump_sender = [&](int wait_ms) -> bool {
		if (!pending && next < N && NowMs() >= retry_at) {
			if (a->SendRequest(GSN_CTL_RAW_SEND, body(next), &pending_seq))
				return false;
			pending = true;
			sent_at = NowMs();
		}
		bool resp;
		gsn_ctl_hdr h;
		Bytes rb;
		int err = a->RecvOne(wait_ms, &resp, &h, &rb);
		if (err == -ETIMEDOUT)
			return true;
		if (err)
			return false;
		if (resp && h.type == GSN_CTL_RAW_SEND && h.seq == pending_seq) {
			pending = false;
			if (h.status == -EAGAIN) {
				eagains++;
				retry_at = NowMs() + 20; // back off before trying again
			} else if (h.status == 0) {
				next++;
			} else {
				return false;
			}
		}
		return true;
	};

	// Phase 1: send until the sender is stalled.
	bool stalled_seen = false;
	uint64_t end = NowMs() + 60000;
	KV as;
	const std::string credits_key = "port0.link.tx_credits.vc" + std::to_string(vc);
	const std::string rx_key = "msg.received.vc" + std::to_string(vc);
	while (NowMs() < end && next < N) {
		ASSERT_TRUE(pump_sender(100)) << "RAW_SEND failed at Message " << next;
		bool backed_up = eagains > 0 || (pending && NowMs() - sent_at > 1000);
		if (!backed_up)
			continue;
		as = astats->Stats();
		if (U64(as, credits_key, 1) == 0) {
			stalled_seen = true;
			break;
		}
	}
	ASSERT_TRUE(stalled_seen) << next << " of " << N << " Messages sent and no stall (eagains "
				  << eagains << ")\n"
				  << Dump(astats->Stats(), "port0.link.tx_credits")
				  << Dump(bstats->Stats(), "msg.") << Dump(bstats->Stats(), "raw.");
	const uint32_t accepted_at_stall = next;
	EXPECT_LT((uint64_t)accepted_at_stall * size, 32ull << 20)
		<< "the stall should come after a bounded amount of data";

	// Phase 2: stays stalled; b's memory stays put; another VC still flows.
	KV b1 = bstats->Stats();
	long rss_max = VmRssKb(bpid);
	uint64_t until = NowMs() + 1500;
	while (NowMs() < until) {
		ASSERT_TRUE(pump_sender(50));
		rss_max = std::max(rss_max, VmRssKb(bpid));
	}
	KV b2 = bstats->Stats();
	EXPECT_LE(next, accepted_at_stall + 2) << "sends kept being accepted during the stall";
	EXPECT_EQ(U64(b2, rx_key), U64(b1, rx_key)) << "b kept taking Messages on the stalled VC";
	EXPECT_EQ(U64(astats->Stats(), credits_key, 1), 0u);
	EXPECT_LT(rss_max - rss0, 32 * 1024) << "b's RSS grew from " << rss0 << " kB to " << rss_max << " kB";
	printf("[ stall ] VC%d: stalled after %u Messages (%.1f MiB, %d EAGAIN answers); "
	       "b holds %s Messages; b's RSS %ld -> %ld kB\n",
	       vc, accepted_at_stall, accepted_at_stall * (double)size / (1 << 20), eagains,
	       b2["raw.held"].c_str(), rss0, rss_max);

	Bytes side_p = Pattern(77, 1000);
	Reply r = a2->RawSend(0, kEtherSide, bula, side_p, 3000);
	EXPECT_TRUE(r.ok()) << "VC0 RAW_SEND (another client) while VC" << (int)vc
			    << " is stalled: " << r.describe() << "\n"
			    << Dump(astats->Stats(), "raw.");
	if (r.ok()) {
		EXPECT_TRUE(side->WaitRaw(1, 10000)) << "VC0 Message did not pass the stalled VC" << (int)vc;
		if (!side->raw.empty()) {
			EXPECT_TRUE(side->raw.front().data == side_p);
			EXPECT_EQ(side->raw.front().vc, 0);
		}
	}

	// Phase 3: the client reads; everything arrives, in order.
	end = NowMs() + 90000;
	while (NowMs() < end && (stalled->raw.size() < N || next < N)) {
		ASSERT_TRUE(pump_sender(0));
		stalled->WaitRaw(stalled->raw.size() + 1, 20);
		stalled->Drain();
	}
	ASSERT_EQ(next, N) << "sender did not finish";
	ASSERT_EQ(stalled->raw.size(), (size_t)N)
		<< "Messages lost by a client that stopped reading\n"
		<< Dump(bstats->Stats(), "msg.") << Dump(bstats->Stats(), "raw.");
	EXPECT_EQ(U64(bstats->Stats(), "raw.dropped"), 0u);
	for (uint32_t i = 0; i < N; i++) {
		const RawMsg &m = stalled->raw[i];
		ASSERT_EQ(m.data.size(), size) << "Message " << i;
		uint32_t idx = gsn_get_be32(m.data.data());
		ASSERT_EQ(idx, i) << "out of order or lost";
		ASSERT_TRUE(m.data == payload(i)) << "Message " << i << " damaged";
		EXPECT_EQ(m.vc, vc);
	}
	stalled->Drain();
	EXPECT_EQ(stalled->raw.size(), (size_t)N) << "duplicates delivered";
	EXPECT_LT(VmRssKb(bpid) - rss0, 64 * 1024);
}

TEST_F(IntegMsg, StalledReceiverStallsSenderWithBoundedMemoryVc1)
{
	Stall(1, 64 * 1024, 300);
}

// VC3: the largest raw payload (128 KiB); VC3's receive budget is the
// largest (2 x 1 MiB Messages).
TEST_F(IntegMsg, StalledReceiverStallsSenderWithBoundedMemoryVc3)
{
	Stall(3, GSN_CTL_RAW_DATA_MAX, 200);
}

}  // namespace
