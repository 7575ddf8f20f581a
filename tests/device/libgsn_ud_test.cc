// SPDX-License-Identifier: MIT
// UD queue pairs through libgsn and real gsnd processes (docs/device.md
// "UD queue pairs"): datagrams between QPs of two contexts on one gsnd
// (through its loopback port) and between two gsnds on a UDP cable; the
// receive header, immediate data, inline and SGE sends, the size limit,
// drops (no receive, short receive, wrong qkey, unknown QP, wrong state,
// malformed Messages) counted by gsnd, ordering, and the state machine.
#include "libgsn_util.h"

extern "C" {
#include "cable.h"
#include "ctl.h"
}
#include <gsn/ud_wire.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace gsndev {
namespace {

constexpr uint32_t kQkey = 0x11223344u;
constexpr size_t kSlot = GSN_UD_HDR_LEN + 4096; // one receive buffer

// One libgsn UD endpoint: context, PD, send and receive CQ, UD QP, a send
// area and receive slots, each registered.
struct UdEnd {
	gsn_context *ctx = nullptr;
	gsn_pd *pd = nullptr;
	gsn_cq *scq = nullptr, *rcq = nullptr;
	gsn_qp *qp = nullptr;
	uint8_t ula[6] = {};
	std::vector<uint8_t> sbuf, rbuf;
	gsn_mr *smr = nullptr, *rmr = nullptr;
	size_t slot = kSlot;

	UdEnd() = default;
	UdEnd(const UdEnd &) = delete;
	UdEnd &operator=(const UdEnd &) = delete;
	~UdEnd()
	{
		if (ctx)
			gsn_close_device(ctx); // frees every object
	}
	uint8_t *Slot(size_t i) { return rbuf.data() + i * slot; }
	uint32_t Qpn() const { return qp->qp_num; }
};

int ModifyUd(gsn_qp *qp, gsn_qp_state s, uint32_t qkey, unsigned extra_mask = 0)
{
	gsn_qp_attr a{};
	a.qp_state = s;
	a.qkey = qkey;
	return gsn_modify_qp(qp, &a, GSN_QP_STATE | extra_mask);
}

// Opens, creates everything, and brings the QP to RTS with qkey.
int MakeUd(const std::string &rundir, const std::string &name, UdEnd *e, uint32_t qkey = kQkey,
	   uint32_t wr = 64, size_t slot = kSlot, size_t nslots = 64)
{
	int st = OpenCtx(rundir, name, &e->ctx);
	gsn_device_attr da{};
	if (!st)
		st = gsn_query_device(e->ctx, &da);
	if (st)
		return st;
	memcpy(e->ula, da.ula, 6);
	e->slot = slot;
	if ((st = gsn_alloc_pd(e->ctx, &e->pd)) ||
	    (st = gsn_create_cq(e->ctx, (int)wr, nullptr, nullptr, 0, &e->scq)) ||
	    (st = gsn_create_cq(e->ctx, (int)wr, nullptr, nullptr, 0, &e->rcq)))
		return st;
	gsn_qp_init_attr ia{};
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.cap.max_send_wr = wr;
	ia.cap.max_recv_wr = wr;
	ia.cap.max_send_sge = GSN_MAX_SGE;
	ia.cap.max_recv_sge = GSN_MAX_SGE;
	ia.cap.max_inline_data = GSN_MAX_INLINE;
	ia.qp_type = GSN_QPT_UD;
	if ((st = gsn_create_qp(e->pd, &ia, &e->qp)))
		return st;
	if ((st = ModifyUd(e->qp, GSN_QPS_INIT, qkey, GSN_QP_QKEY)) ||
	    (st = ModifyUd(e->qp, GSN_QPS_RTR, 0)) || (st = ModifyUd(e->qp, GSN_QPS_RTS, 0)))
		return st;
	e->sbuf.assign(GSN_UD_MAX_PAYLOAD + 64, 0);
	e->rbuf.assign(slot * nslots, 0);
	if ((st = gsn_reg_mr(e->pd, e->sbuf.data(), e->sbuf.size(), 0, 0, &e->smr)))
		return st;
	return gsn_reg_mr(e->pd, e->rbuf.data(), e->rbuf.size(), GSN_ACCESS_LOCAL_WRITE, 0,
			  &e->rmr);
}

// Posts receive wr_id into slot i (len bytes of it; the whole slot by default).
int PostRecv(UdEnd &e, uint64_t wr_id, size_t i, uint32_t len = 0)
{
	gsn_sge s{(uint64_t)(uintptr_t)e.Slot(i), len ? len : (uint32_t)e.slot, e.rmr->lkey};
	gsn_recv_wr w{wr_id, nullptr, &s, 1};
	gsn_recv_wr *bad = nullptr;
	return gsn_post_recv(e.qp, &w, &bad);
}

gsn_send_wr UdWr(uint64_t wr_id, const UdEnd &to, gsn_sge *sge, int nsge,
		 uint32_t qkey = kQkey)
{
	gsn_send_wr w{};
	w.wr_id = wr_id;
	w.opcode = GSN_WR_SEND;
	w.send_flags = GSN_SEND_SIGNALED;
	w.sg_list = sge;
	w.num_sge = nsge;
	memcpy(w.wr.ud.dest_ula, to.ula, 6);
	w.wr.ud.remote_qpn = to.Qpn();
	w.wr.ud.remote_qkey = qkey;
	return w;
}

// Sends len bytes of from's send area (filled with seed) to `to`, one SGE; waits for the CQE.
::testing::AssertionResult SendOne(UdEnd &from, const UdEnd &to, uint64_t wr_id, size_t len,
				   uint8_t seed, uint32_t qkey = kQkey)
{
	Fill(from.sbuf.data(), len, seed);
	gsn_sge s{(uint64_t)(uintptr_t)from.sbuf.data(), (uint32_t)len, from.smr->lkey};
	gsn_send_wr w = UdWr(wr_id, to, &s, 1, qkey);
	gsn_send_wr *bad = nullptr;
	if (int st = gsn_post_send(from.qp, &w, &bad))
		return ::testing::AssertionFailure() << "post_send " << st;
	gsn_wc wc{};
	if (!PollOne(from.scq, &wc, 5000))
		return ::testing::AssertionFailure() << "no send completion";
	if (wc.wr_id != wr_id || wc.status != GSN_WC_SUCCESS || wc.opcode != GSN_WC_SEND)
		return ::testing::AssertionFailure()
		       << "send completion " << wc.wr_id << " " << gsn_wc_status_str(wc.status);
	return ::testing::AssertionSuccess();
}

// The receive completion and the header gsnd wrote: from `from`, len payload bytes.
::testing::AssertionResult CheckHeader(const uint8_t *slot, const gsn_wc &wc, const UdEnd &from,
				       size_t len)
{
	gsn_ud_hdr h;
	memcpy(&h, slot, sizeof(h));
	static const uint8_t zero[28] = {};
	if (wc.status != GSN_WC_SUCCESS || wc.opcode != GSN_WC_RECV)
		return ::testing::AssertionFailure() << "status " << gsn_wc_status_str(wc.status)
						     << " opcode " << wc.opcode;
	if (wc.byte_len != GSN_UD_HDR_LEN + len || wc.src_qp != from.Qpn())
		return ::testing::AssertionFailure()
		       << "byte_len " << wc.byte_len << " src_qp " << wc.src_qp;
	if (memcmp(h.src_ula, from.ula, 6) != 0 || h.src_qpn != from.Qpn() || h.reserved0 != 0 ||
	    memcmp(h.reserved1, zero, sizeof(zero)) != 0)
		return ::testing::AssertionFailure() << "header src_qpn " << h.src_qpn;
	return ::testing::AssertionSuccess();
}

class UdTest : public DeviceTest {
protected:
	void SetUp() override
	{
		DeviceTest::SetUp();
		ASSERT_TRUE(StartGsnd());
	}

	// Polls gsnd's counter until it reads want (timeout: false).
	bool WaitStat(const std::string &key, uint64_t want, int timeout_ms = 5000)
	{
		uint64_t end = NowMs() + (uint64_t)timeout_ms;
		for (;;) {
			if (Stat(key) == want)
				return true;
			if (NowMs() >= end)
				return false;
			std::this_thread::sleep_for(std::chrono::milliseconds(2));
		}
	}

	// A Message with EtherType 0x88B6 from gsnd to itself (RAW_SEND).
	int RawToSelf(Device &d, const std::vector<uint8_t> &pdu)
	{
		gsn_ctl_raw head{};
		head.vc = 1;
		head.ethertype = GSN_ETHERTYPE_UD;
		memcpy(head.dst, d.open.ula, 6);
		std::vector<uint8_t> body(GSN_CTL_RAW_HDR_LEN);
		gsn_ctl_raw_encode_head(&head, body.data());
		body.insert(body.end(), pdu.begin(), pdu.end());
		return d.Raw(GSN_CTL_RAW_SEND, body.data(), body.size());
	}
};

// ---- datagrams between two contexts on one gsnd ----

TEST_F(UdTest, PingPongHeaderImmInlineAndSges)
{
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b), 0);
	ASSERT_NE(a.Qpn(), b.Qpn());

	// 1. one SGE, 100 bytes, a -> b
	ASSERT_EQ(PostRecv(b, 10, 0), 0);
	ASSERT_TRUE(SendOne(a, b, 1, 100, 7));
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 10u);
	EXPECT_TRUE(CheckHeader(b.Slot(0), wc, a, 100));
	EXPECT_FALSE(wc.wc_flags & GSN_WC_WITH_IMM);
	EXPECT_EQ(memcmp(b.Slot(0) + GSN_UD_HDR_LEN, a.sbuf.data(), 100), 0);

	// 2. the answer, inline with immediate data, b -> a
	ASSERT_EQ(PostRecv(a, 20, 0), 0);
	uint8_t msg[64];
	Fill(msg, sizeof(msg), 99);
	gsn_sge s{(uint64_t)(uintptr_t)msg, sizeof(msg), 0};
	gsn_send_wr w = UdWr(2, a, &s, 1);
	w.opcode = GSN_WR_SEND_WITH_IMM;
	w.imm_data = 0xfeedf00du;
	w.send_flags |= GSN_SEND_INLINE;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(b.qp, &w, &bad), 0);
	memset(msg, 0, sizeof(msg)); // inline: copied at post time
	ASSERT_TRUE(PollOne(b.scq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	EXPECT_EQ(wc.opcode, GSN_WC_SEND);
	ASSERT_TRUE(PollOne(a.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 20u);
	EXPECT_TRUE(CheckHeader(a.Slot(0), wc, b, sizeof(msg)));
	EXPECT_TRUE(wc.wc_flags & GSN_WC_WITH_IMM);
	EXPECT_EQ(wc.imm_data, 0xfeedf00du);
	uint8_t want[64];
	Fill(want, sizeof(want), 99);
	EXPECT_EQ(memcmp(a.Slot(0) + GSN_UD_HDR_LEN, want, sizeof(want)), 0);

	// 3. three send SGEs into a receive of three SGEs that splits the header
	Fill(a.sbuf.data(), 3000, 42);
	gsn_sge ss[3] = {{(uint64_t)(uintptr_t)a.sbuf.data(), 1000, a.smr->lkey},
			 {(uint64_t)(uintptr_t)(a.sbuf.data() + 1000), 1, a.smr->lkey},
			 {(uint64_t)(uintptr_t)(a.sbuf.data() + 1001), 1999, a.smr->lkey}};
	uint8_t *r = b.Slot(1);
	gsn_sge rs[3] = {{(uint64_t)(uintptr_t)r, 16, b.rmr->lkey},
			 {(uint64_t)(uintptr_t)(r + 100), 1000, b.rmr->lkey},
			 {(uint64_t)(uintptr_t)(r + 2000), 2100, b.rmr->lkey}};
	memset(r, 0xEE, kSlot);
	gsn_recv_wr rw{11, nullptr, rs, 3};
	gsn_recv_wr *rbad = nullptr;
	ASSERT_EQ(gsn_post_recv(b.qp, &rw, &rbad), 0);
	w = UdWr(3, b, ss, 3);
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 11u);
	EXPECT_EQ(wc.byte_len, GSN_UD_HDR_LEN + 3000);
	// gather what landed back into one stream: header, then payload
	std::vector<uint8_t> got;
	got.insert(got.end(), r, r + 16);
	got.insert(got.end(), r + 100, r + 1100);
	got.insert(got.end(), r + 2000, r + 2000 + (GSN_UD_HDR_LEN + 3000 - 1016));
	gsn_ud_hdr h;
	memcpy(&h, got.data(), sizeof(h));
	EXPECT_EQ(memcmp(h.src_ula, a.ula, 6), 0);
	EXPECT_EQ(h.src_qpn, a.Qpn());
	EXPECT_EQ(memcmp(got.data() + GSN_UD_HDR_LEN, a.sbuf.data(), 3000), 0);
	EXPECT_EQ(r[16], 0xEE) << "a byte between the SGEs was written";
	EXPECT_EQ(r[2000 + 2024], 0xEE) << "a byte past the datagram was written";
	EXPECT_EQ(Stat("dev.ud_received"), 3u);
	EXPECT_EQ(Stat("dev.ud_sent"), 3u);
	EXPECT_EQ(Stat("dev.ud_drops"), 0u);
	EXPECT_EQ(Stat("raw.unbound"), 0u); // the device took them: not "nobody's"
}

TEST_F(UdTest, MaxPayloadAndTooLong)
{
	UdEnd a, b;
	const size_t big = GSN_UD_HDR_LEN + GSN_UD_MAX_PAYLOAD;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b, kQkey, 64, big, 2), 0);
	ASSERT_EQ(PostRecv(b, 1, 0), 0);
	ASSERT_TRUE(SendOne(a, b, 1, GSN_UD_MAX_PAYLOAD, 3));
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_TRUE(CheckHeader(b.Slot(0), wc, a, GSN_UD_MAX_PAYLOAD));
	EXPECT_EQ(memcmp(b.Slot(0) + GSN_UD_HDR_LEN, a.sbuf.data(), GSN_UD_MAX_PAYLOAD), 0);

	// one byte more is refused at posting, and so is an RDMA opcode or a group address
	gsn_sge s{(uint64_t)(uintptr_t)a.sbuf.data(), GSN_UD_MAX_PAYLOAD + 1, a.smr->lkey};
	gsn_send_wr w = UdWr(2, b, &s, 1);
	gsn_send_wr *bad = nullptr;
	EXPECT_EQ(gsn_post_send(a.qp, &w, &bad), -EINVAL);
	EXPECT_EQ(bad, &w);
	s.length = 8;
	w.opcode = GSN_WR_RDMA_WRITE;
	EXPECT_EQ(gsn_post_send(a.qp, &w, &bad), -EINVAL);
	w.opcode = GSN_WR_SEND;
	w.wr.ud.dest_ula[0] |= 1;
	EXPECT_EQ(gsn_post_send(a.qp, &w, &bad), -EINVAL);
	memset(w.wr.ud.dest_ula, 0, 6);
	EXPECT_EQ(gsn_post_send(a.qp, &w, &bad), -EINVAL);
	EXPECT_TRUE(QuietCq(a.scq, 50));
	EXPECT_EQ(Stat("dev.ud_sent"), 1u);
}

TEST_F(UdTest, NoReceiveIsDroppedAndCountedThenTheNextIsDelivered)
{
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b), 0);
	ASSERT_TRUE(SendOne(a, b, 1, 500, 1)); // nothing posted at b: the sender does not know
	ASSERT_TRUE(WaitStat("dev.ud_drop_no_recv", 1)) << Stats("dev.ud");
	EXPECT_EQ(Stat("dev.ud_drops"), 1u);
	EXPECT_TRUE(QuietCq(b.rcq, 20));
	ASSERT_EQ(PostRecv(b, 5, 0), 0);
	ASSERT_TRUE(SendOne(a, b, 2, 600, 2));
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 5u);
	EXPECT_TRUE(CheckHeader(b.Slot(0), wc, a, 600)); // the second one, not the first
	EXPECT_EQ(memcmp(b.Slot(0) + GSN_UD_HDR_LEN, a.sbuf.data(), 600), 0);
	EXPECT_EQ(Stat("dev.ud_drops"), 1u);
}

TEST_F(UdTest, WrongQkeyShortReceiveUnknownQpAndStateAreDropped)
{
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b), 0);
	ASSERT_EQ(PostRecv(b, 1, 0, GSN_UD_HDR_LEN + 10), 0); // room for 10 bytes of payload
	ASSERT_EQ(PostRecv(b, 2, 1), 0);

	ASSERT_TRUE(SendOne(a, b, 1, 8, 1, kQkey + 1)); // wrong qkey
	ASSERT_TRUE(WaitStat("dev.ud_drop_qkey", 1));
	ASSERT_TRUE(SendOne(a, b, 2, 11, 2)); // one byte too long for receive 1
	ASSERT_TRUE(WaitStat("dev.ud_drop_short", 1));
	EXPECT_TRUE(QuietCq(b.rcq, 20));
	ASSERT_TRUE(SendOne(a, b, 3, 10, 3)); // fits: receive 1 was kept for it
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 1u);
	EXPECT_TRUE(CheckHeader(b.Slot(0), wc, a, 10));

	// a QP number nobody has, and a UD QP that is not ready to receive
	UdEnd c;
	ASSERT_EQ(OpenCtx(rundir_, name_, &c.ctx), 0);
	memcpy(c.ula, b.ula, 6);
	ASSERT_EQ(gsn_alloc_pd(c.ctx, &c.pd), 0);
	ASSERT_EQ(gsn_create_cq(c.ctx, 8, nullptr, nullptr, 0, &c.scq), 0);
	gsn_qp_init_attr ia{};
	ia.send_cq = ia.recv_cq = c.scq;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
	ia.qp_type = GSN_QPT_UD;
	ASSERT_EQ(gsn_create_qp(c.pd, &ia, &c.qp), 0);
	ASSERT_EQ(ModifyUd(c.qp, GSN_QPS_INIT, kQkey, GSN_QP_QKEY), 0);
	std::vector<uint8_t> cbuf(kSlot);
	gsn_mr *cmr = nullptr;
	ASSERT_EQ(gsn_reg_mr(c.pd, cbuf.data(), cbuf.size(), GSN_ACCESS_LOCAL_WRITE, 0, &cmr), 0);
	gsn_sge cs{(uint64_t)(uintptr_t)cbuf.data(), (uint32_t)cbuf.size(), cmr->lkey};
	gsn_recv_wr crw{1, nullptr, &cs, 1};
	gsn_recv_wr *cbad = nullptr;
	ASSERT_EQ(gsn_post_recv(c.qp, &crw, &cbad), 0); // posted in INIT: allowed, not used yet
	ASSERT_TRUE(SendOne(a, c, 4, 10, 4));
	ASSERT_TRUE(WaitStat("dev.ud_drop_state", 1));
	gsn_send_wr w = UdWr(5, b, nullptr, 0);
	w.wr.ud.remote_qpn = 0xFFFFFE; // nobody's
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	ASSERT_TRUE(WaitStat("dev.ud_drop_no_qp", 1));
	EXPECT_TRUE(QuietCq(c.scq, 20));
	// RTR: now it takes datagrams (the receive posted in INIT)
	ASSERT_EQ(ModifyUd(c.qp, GSN_QPS_RTR, 0), 0);
	ASSERT_TRUE(SendOne(a, c, 6, 10, 6));
	ASSERT_TRUE(PollOne(c.scq, &wc));
	EXPECT_EQ(wc.wr_id, 1u);
	EXPECT_TRUE(CheckHeader(cbuf.data(), wc, a, 10));
	EXPECT_EQ(Stat("dev.ud_drops"), 4u);
}

TEST_F(UdTest, ThousandDatagramsArriveInOrder)
{
	const uint32_t N = 1000;
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a, kQkey, 1024), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b, kQkey, 1024, GSN_UD_HDR_LEN + 256, N), 0);
	for (uint32_t i = 0; i < N; i++)
		ASSERT_EQ(PostRecv(b, 1000 + i, i), 0) << i;
	// every datagram a different size, its number in the payload and the immediate
	for (uint32_t i = 0; i < N; i++) {
		uint8_t *p = a.sbuf.data() + (size_t)i * 60;
		memcpy(p, &i, 4);
		Fill(p + 4, 52, (uint8_t)i);
		gsn_sge s{(uint64_t)(uintptr_t)p, 4 + i % 53, a.smr->lkey};
		gsn_send_wr w = UdWr(i, b, &s, 1);
		w.opcode = GSN_WR_SEND_WITH_IMM;
		w.imm_data = i;
		w.send_flags = i % 100 == 99 ? GSN_SEND_SIGNALED : 0; // a signaled one now and then
		gsn_send_wr *bad = nullptr;
		ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0) << i;
		if (i % 100 == 99) {
			gsn_wc wc{};
			ASSERT_TRUE(PollOne(a.scq, &wc)) << i;
			ASSERT_EQ(wc.wr_id, i);
			ASSERT_EQ(wc.status, GSN_WC_SUCCESS);
		}
	}
	for (uint32_t i = 0; i < N; i++) {
		gsn_wc wc{};
		ASSERT_TRUE(PollOne(b.rcq, &wc)) << i;
		ASSERT_EQ(wc.wr_id, 1000u + i);
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS);
		ASSERT_EQ(wc.imm_data, i) << "out of order";
		ASSERT_EQ(wc.byte_len, GSN_UD_HDR_LEN + 4 + i % 53);
		uint32_t seq;
		memcpy(&seq, b.Slot(i) + GSN_UD_HDR_LEN, 4);
		ASSERT_EQ(seq, i);
		ASSERT_EQ(memcmp(b.Slot(i) + GSN_UD_HDR_LEN + 4, a.sbuf.data() + (size_t)i * 60 + 4,
				 i % 53),
			  0)
			<< i;
	}
	EXPECT_EQ(Stat("dev.ud_received"), N);
	EXPECT_EQ(Stat("dev.ud_drops"), 0u);
}

TEST_F(UdTest, StateMachineAndAttributes)
{
	UdEnd a;
	ASSERT_EQ(OpenCtx(rundir_, name_, &a.ctx), 0);
	ASSERT_EQ(gsn_alloc_pd(a.ctx, &a.pd), 0);
	ASSERT_EQ(gsn_create_cq(a.ctx, 8, nullptr, nullptr, 0, &a.scq), 0);
	gsn_qp_init_attr ia{};
	ia.send_cq = ia.recv_cq = a.scq;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
	ia.qp_type = GSN_QPT_UD;
	ASSERT_EQ(gsn_create_qp(a.pd, &ia, &a.qp), 0);
	gsn_qp *rc = nullptr;
	ia.qp_type = GSN_QPT_RC;
	ASSERT_EQ(gsn_create_qp(a.pd, &ia, &rc), 0);

	gsn_qp_attr at{};
	at.qp_state = GSN_QPS_RTR; // RESET -> RTR: as on RC, no
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE), -EINVAL);
	at.qp_state = GSN_QPS_INIT;
	at.qkey = 77;
	at.qp_access_flags = GSN_ACCESS_REMOTE_WRITE; // accepted, ignored
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE | GSN_QP_QKEY | GSN_QP_ACCESS_FLAGS), 0);
	EXPECT_EQ(gsn_modify_qp(rc, &at, GSN_QP_STATE | GSN_QP_QKEY), -EINVAL); // no qkey on RC
	at.qp_state = GSN_QPS_RTR;
	at.dest_qp_num = a.qp->qp_num;
	memcpy(at.dest_ula, "\x02\0\0\0\0\x01", 6);
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE | GSN_QP_DEST), -EINVAL); // no DEST on UD
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE), 0);
	at.qp_state = GSN_QPS_RTS;
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE), 0);
	at.qkey = 78; // at any time
	EXPECT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_QKEY), 0);
	gsn_qp_attr q{};
	gsn_qp_init_attr qi{};
	ASSERT_EQ(gsn_query_qp(a.qp, &q, &qi), 0);
	EXPECT_EQ(q.qp_state, GSN_QPS_RTS);
	EXPECT_EQ(q.qkey, 78u);
	EXPECT_EQ(q.st_vc, 0u);
	EXPECT_EQ(qi.qp_type, GSN_QPT_UD);

	// ERROR flushes posted receives and sends; RESET forgets the qkey
	std::vector<uint8_t> buf(kSlot);
	gsn_mr *mr = nullptr;
	ASSERT_EQ(gsn_reg_mr(a.pd, buf.data(), buf.size(), GSN_ACCESS_LOCAL_WRITE, 0, &mr), 0);
	gsn_sge s{(uint64_t)(uintptr_t)buf.data(), (uint32_t)buf.size(), mr->lkey};
	gsn_recv_wr rw{9, nullptr, &s, 1};
	gsn_recv_wr *rbad = nullptr;
	ASSERT_EQ(gsn_post_recv(a.qp, &rw, &rbad), 0);
	at.qp_state = GSN_QPS_ERR;
	ASSERT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE), 0);
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.wr_id, 9u);
	EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(wc.opcode, GSN_WC_RECV);
	gsn_send_wr w{};
	w.wr_id = 10;
	w.opcode = GSN_WR_SEND;
	memcpy(w.wr.ud.dest_ula, "\x02\0\0\0\0\x01", 6);
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0); // in ERROR: flushed
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.wr_id, 10u);
	EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR);
	at.qp_state = GSN_QPS_RESET;
	ASSERT_EQ(gsn_modify_qp(a.qp, &at, GSN_QP_STATE), 0);
	ASSERT_EQ(gsn_query_qp(a.qp, &q, nullptr), 0);
	EXPECT_EQ(q.qkey, 0u);
}

// ---- what the device server does with bad input ----

// Hand-made Messages with EtherType 0x88B6 (RAW_SEND from gsnd to itself):
// well-formed ones are delivered, malformed ones dropped and counted, and
// test traffic without the magic still goes to the sink.
TEST_F(UdTest, WireFormatAndMalformedDatagrams)
{
	UdEnd b;
	ASSERT_EQ(MakeUd(rundir_, name_, &b), 0);
	ASSERT_EQ(PostRecv(b, 1, 0), 0);
	auto dev = OpenDevice();
	ASSERT_TRUE(dev);
	auto datagram = [&](uint8_t version, uint8_t flags, uint32_t dqpn, uint32_t sqpn,
			    uint32_t len_field, size_t payload) {
		gsn_ud_wire h{flags, dqpn, sqpn, kQkey, 0xabcdef01u, len_field};
		std::vector<uint8_t> pdu(GSN_UD_WIRE_HDR_LEN + payload);
		gsn_ud_wire_encode(&h, pdu.data());
		pdu[4] = version;
		for (size_t i = 0; i < payload; i++)
			pdu[GSN_UD_WIRE_HDR_LEN + i] = (uint8_t)(i + 1);
		return pdu;
	};
	// the layout of docs/protocol.md, byte by byte
	std::vector<uint8_t> good = datagram(1, GSN_UD_WIRE_F_IMM, b.Qpn(), 0x123, 5, 5);
	const uint8_t head[28] = {'G', 'S', 'U', 'D', 1, 1, 0, 0, 0, (uint8_t)(b.Qpn() >> 16),
				  (uint8_t)(b.Qpn() >> 8), (uint8_t)b.Qpn(), 0, 0, 0x01, 0x23,
				  0x11, 0x22, 0x33, 0x44, 0xab, 0xcd, 0xef, 0x01, 0, 0, 0, 5};
	ASSERT_EQ(memcmp(good.data(), head, sizeof(head)), 0);

	std::vector<std::vector<uint8_t>> bad = {
		datagram(2, 0, b.Qpn(), 1, 5, 5),                      // version
		datagram(1, 0x80, b.Qpn(), 1, 5, 5),                   // unknown flag
		datagram(1, 0, b.Qpn(), 1, 6, 5),                      // length field too big
		datagram(1, 0, b.Qpn(), 1, 4, 5),                      // length field too small
		datagram(1, 0, 0x1000000u | b.Qpn(), 1, 5, 5),         // QPN beyond 24 bits
		std::vector<uint8_t>(good.begin(), good.begin() + 20), // magic, short header
	};
	for (auto &p : bad)
		ASSERT_EQ(RawToSelf(*dev, p), 0);
	ASSERT_TRUE(WaitStat("dev.ud_drop_malformed", bad.size())) << Stats("dev.ud");
	gsn_wc wc{};
	EXPECT_TRUE(QuietCq(b.rcq, 20));

	ASSERT_EQ(RawToSelf(*dev, good), 0);
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	EXPECT_EQ(wc.src_qp, 0x123u);
	EXPECT_EQ(wc.byte_len, GSN_UD_HDR_LEN + 5);
	EXPECT_TRUE(wc.wc_flags & GSN_WC_WITH_IMM);
	EXPECT_EQ(wc.imm_data, 0xabcdef01u);
	gsn_ud_hdr h;
	memcpy(&h, b.Slot(0), sizeof(h));
	EXPECT_EQ(memcmp(h.src_ula, b.ula, 6), 0); // gsnd sent it: its own ULA
	EXPECT_EQ(h.src_qpn, 0x123u);
	const uint8_t payload[5] = {1, 2, 3, 4, 5};
	EXPECT_EQ(memcmp(b.Slot(0) + GSN_UD_HDR_LEN, payload, 5), 0);

	// GEN's test traffic shares the EtherType: the sink counts it, UD does not
	uint64_t sink = Stat("sink.msgs");
	gsn_ctl_gen g{};
	memcpy(g.dst, dev->open.ula, 6);
	g.vc = 1;
	g.size = 100;
	g.count = 3;
	uint8_t body[GSN_CTL_GEN_LEN];
	gsn_ctl_gen_encode(&g, body);
	ASSERT_EQ(dev->Raw(GSN_CTL_GEN, body, sizeof(body)), 0);
	ASSERT_TRUE(WaitStat("sink.msgs", sink + 3));
	EXPECT_EQ(Stat("dev.ud_drops"), bad.size());
	EXPECT_EQ(Stat("dev.ud_received"), 1u);
}

// A raw client's bad UD work requests complete with errors and ERROR, as on RC.
TEST_F(UdTest, BadWorkRequestsFailTheQp)
{
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name_, &b), 0);
	// a receive naming memory of no MR: its datagram is dropped, the QP fails
	gsn_sge rs{(uint64_t)(uintptr_t)b.Slot(0), 100, b.rmr->lkey + 0x10000u};
	gsn_recv_wr rw{1, nullptr, &rs, 1};
	gsn_recv_wr *rbad = nullptr;
	ASSERT_EQ(gsn_post_recv(b.qp, &rw, &rbad), 0);
	ASSERT_EQ(PostRecv(b, 2, 1), 0);
	ASSERT_TRUE(SendOne(a, b, 1, 10, 1));
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 1u);
	EXPECT_EQ(wc.status, GSN_WC_LOC_PROT_ERR);
	ASSERT_TRUE(PollOne(b.rcq, &wc));
	EXPECT_EQ(wc.wr_id, 2u);
	EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(Stat("dev.ud_drop_bad_recv"), 1u);
	gsn_qp_attr q{};
	ASSERT_EQ(gsn_query_qp(b.qp, &q, nullptr), 0);
	EXPECT_EQ(q.qp_state, GSN_QPS_ERR);

	// a send whose SGE names no MR of the sender
	gsn_sge s{(uint64_t)(uintptr_t)a.sbuf.data(), 10, a.smr->lkey + 0x10000u};
	gsn_send_wr w = UdWr(2, b, &s, 1);
	gsn_send_wr w2 = UdWr(3, b, nullptr, 0);
	w.next = &w2;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.wr_id, 2u);
	EXPECT_EQ(wc.status, GSN_WC_LOC_PROT_ERR);
	ASSERT_TRUE(PollOne(a.scq, &wc));
	EXPECT_EQ(wc.wr_id, 3u);
	EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR);
}

// ---- two gsnds on a UDP cable ----

class UdTwo : public UdTest {
protected:
	void SetUp() override { DeviceTest::SetUp(); }
};

TEST_F(UdTwo, BetweenTwoDevices)
{
	int fds[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(fds), 0);
	ASSERT_TRUE(SpawnGsnd(name_, "02:00:00:00:00:01", "0=udp-fd:" + std::to_string(fds[0]),
			      fds[0], &pid_));
	ASSERT_TRUE(SpawnGsnd(name2_, "02:00:00:00:00:02", "0=udp-fd:" + std::to_string(fds[1]),
			      fds[1], &pid2_));
	close(fds[0]);
	close(fds[1]);
	ASSERT_TRUE(WaitReady(name_));
	ASSERT_TRUE(WaitReady(name2_));
	UdEnd a, b;
	ASSERT_EQ(MakeUd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeUd(rundir_, name2_, &b), 0);
	ASSERT_NE(memcmp(a.ula, b.ula, 6), 0);
	for (uint64_t i = 0; i < 16; i++)
		ASSERT_EQ(PostRecv(b, i, i), 0);
	for (uint64_t i = 0; i < 16; i++) {
		ASSERT_TRUE(SendOne(a, b, i, 1000 + i * 200, (uint8_t)i));
		gsn_wc wc{};
		ASSERT_TRUE(PollOne(b.rcq, &wc)) << i;
		EXPECT_EQ(wc.wr_id, i);
		EXPECT_TRUE(CheckHeader(b.Slot(i), wc, a, 1000 + i * 200)); // a's ULA, not b's
		EXPECT_EQ(memcmp(b.Slot(i) + GSN_UD_HDR_LEN, a.sbuf.data(), 1000 + i * 200), 0);
	}
}

} // namespace
} // namespace gsndev
