// SPDX-License-Identifier: MIT
// gsnd's device server end to end, with a raw client: commands over the
// control socket, WQEs written straight into the rings, CQEs read back, and
// the bytes checked in this process's memory (gsnd moved them with
// process_vm_writev after crossing its loopback port: link, reflector,
// link).
#include "dev_harness.h"

extern "C" {
#include "cable.h"
}

#include <cerrno>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gsndev {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint8_t seed)
{
	std::vector<uint8_t> v(n);

	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	return v;
}

class Dev : public DeviceTest {
protected:
	void SetUp() override
	{
		DeviceTest::SetUp();
		ASSERT_TRUE(StartGsnd());
	}
};

// ---- commands ----

TEST_F(Dev, OpenAnswersTheDevice)
{
	auto d = OpenDevice();

	ASSERT_TRUE(d);
	EXPECT_EQ(d->open.abi_version, GSN_DEV_ABI_VERSION);
	EXPECT_STREQ(d->open.name, "gsn0");
	const uint8_t ula[6] = {2, 0, 0, 0, 0, 1};
	EXPECT_EQ(memcmp(d->open.ula, ula, 6), 0);
	EXPECT_EQ(d->open.node_guid, 0x020000000001ull);
	EXPECT_EQ(d->open.max_sge, GSN_MAX_SGE);
	EXPECT_EQ(d->open.max_inline, GSN_MAX_INLINE);
	gsn_dev_port_attr pa{};
	ASSERT_EQ(d->Cmd(GSN_DEV_CMD_QUERY_PORT, nullptr, 0, &pa, sizeof(pa)), 0);
	EXPECT_EQ(pa.state, (uint32_t)GSN_PORT_ACTIVE);
	EXPECT_EQ(pa.link_rate_mbps, 6400u);
}

TEST_F(Dev, CommandsCheckTheirInput)
{
	gsn_ctl_conn *c = nullptr;

	// before OPEN
	ASSERT_EQ(gsn_ctl_connect(rundir_.c_str(), name_.c_str(), &c), 0);
	gsn_ctl_hdr h{};
	const uint8_t *resp;
	size_t rl;
	ASSERT_EQ(gsn_ctl_call(c, GSN_DEV_CMD_ALLOC_PD, nullptr, 0, &h, &resp, &rl, 5000), 0);
	EXPECT_EQ(h.status, -EPERM);
	gsn_ctl_close(c);

	auto d = OpenDevice();
	ASSERT_TRUE(d);
	uint8_t junk[7] = {};
	EXPECT_EQ(d->Raw(GSN_DEV_CMD_ALLOC_PD, junk, 1), -EBADMSG);
	EXPECT_EQ(d->Raw(GSN_DEV_CMD_REG_MR, junk, sizeof(junk)), -EBADMSG);
	EXPECT_EQ(d->Raw(GSN_DEV_CMD_ASYNC_EVENT, nullptr, 0), -EOPNOTSUPP);
	EXPECT_EQ(d->Raw(GSN_DEV_CMD_MAX + 1, nullptr, 0), -EOPNOTSUPP);

	uint32_t pd;
	ASSERT_EQ(d->AllocPd(&pd), 0);
	std::vector<uint8_t> buf(4096);
	Mr mr;
	// access rules, lengths, addresses, keys
	EXPECT_EQ(d->RegMr(pd, buf.data(), buf.size(), GSN_ACCESS_REMOTE_WRITE, &mr), -EINVAL);
	EXPECT_EQ(d->RegMr(pd, buf.data(), 0, GSN_ACCESS_LOCAL_WRITE, &mr), -EINVAL);
	EXPECT_EQ(d->RegMr(pd, buf.data(), buf.size(), 0x100, &mr), -EINVAL);
	EXPECT_EQ(d->RegMr(pd + 1, buf.data(), buf.size(), GSN_ACCESS_LOCAL_WRITE, &mr), -ENOENT);
	EXPECT_EQ(d->RegMr(pd, (void *)8, 4096, GSN_ACCESS_LOCAL_WRITE, &mr), -EFAULT);
	EXPECT_EQ(d->RegMr(pd, buf.data(), buf.size(), GSN_ACCESS_LOCAL_WRITE, &mr,
			   0xFFFF000000000001ull),
		  -EINVAL);
	ASSERT_EQ(d->RegMr(pd, buf.data(), buf.size(), kAllAccess, &mr, 0x1234), 0);
	EXPECT_EQ(mr.rkey, 0x1234u);
	Mr mr2;
	EXPECT_EQ(d->RegMr(pd, buf.data(), buf.size(), kAllAccess, &mr2, 0x1234), -EEXIST);
	// a PD in use cannot go; handles of other types or stale ones are unknown
	gsn_dev_handle hd{pd, 0};
	char none;
	EXPECT_EQ(d->Cmd(GSN_DEV_CMD_DEALLOC_PD, &hd, sizeof(hd), &none, 0), -EBUSY);
	EXPECT_EQ(d->DeregMr(mr), 0);
	EXPECT_EQ(d->DeregMr(mr), -ENOENT);
	EXPECT_EQ(d->Cmd(GSN_DEV_CMD_DEALLOC_PD, &hd, sizeof(hd), &none, 0), 0);
	EXPECT_EQ(d->Cmd(GSN_DEV_CMD_DEALLOC_PD, &hd, sizeof(hd), &none, 0), -ENOENT);

	// CQ and QP creation bounds
	Cq cq;
	EXPECT_EQ(d->CreateCq(0, &cq), -EINVAL);
	EXPECT_EQ(d->CreateCq(1u << 20, &cq), -EINVAL);
	ASSERT_EQ(d->CreateCq(100, &cq), 0);
	EXPECT_EQ(cq.r.size, 128u);
	EXPECT_EQ(cq.r.h->entries_offset % 64, 0u);
	ASSERT_EQ(d->AllocPd(&pd), 0);
	Qp qp;
	QpCaps caps;
	caps.send_sge = 5;
	EXPECT_EQ(d->CreateQp(pd, cq, cq, caps, &qp), -EINVAL);
	caps = QpCaps();
	caps.inline_data = 4096;
	EXPECT_EQ(d->CreateQp(pd, cq, cq, caps, &qp), -EINVAL);
	ASSERT_EQ(d->CreateQp(pd, cq, cq, QpCaps(), &qp), 0);
	EXPECT_EQ(d->DestroyCq(&cq), -EBUSY);
	// state machine: RESET -> RTR is not a transition; RTR needs a destination
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTR), -EINVAL);
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTS), -EINVAL);
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_SQD), -EINVAL);
	EXPECT_EQ(d->Modify(qp, 0x100, GSN_QPS_INIT), -EINVAL);
	ASSERT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_INIT), 0);
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTR), -EINVAL);
	// a QP connected to itself
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, d->open.ula,
			    qp.qpn),
		  -EINVAL);
	// RTR by IPv4 needs HARP (this gsnd has no --ip)
	EXPECT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, nullptr, 77,
			    0x0a000001),
		  -EHOSTUNREACH);
	gsn_dev_qp_attr a{};
	ASSERT_EQ(d->Query(qp, &a), 0);
	EXPECT_EQ(a.state, (uint32_t)GSN_QPS_INIT);
	EXPECT_EQ(a.qp_num, qp.qpn);
	EXPECT_EQ(d->DestroyQp(&qp), 0);
	EXPECT_EQ(d->DestroyCq(&cq), 0);

	// another client's handles are not ours
	auto e = OpenDevice();
	ASSERT_TRUE(e);
	hd.handle = pd;
	EXPECT_EQ(e->Cmd(GSN_DEV_CMD_DEALLOC_PD, &hd, sizeof(hd), &none, 0), -ENOENT);
}

// ---- RDMA WRITE: the basic case the brief asks for ----

TEST_F(Dev, RdmaWriteLandsInTheTarget)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(5000, 1), dst(8192, 0xEE);
	Mr smr, dmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), src.size(), GSN_ACCESS_LOCAL_WRITE, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), dst.size(), kAllAccess, &dmr), 0);

	gsn_send_wqe w = SendWqe(GSN_WR_RDMA_WRITE, 0xABCD);
	AddSge(&w, src.data(), (uint32_t)src.size(), smr.lkey);
	w.remote_addr = (uint64_t)(uintptr_t)(dst.data() + 100);
	w.rkey = dmr.rkey;
	a.dev->PostSend(a.qp, &w);

	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e)) << Log();
	EXPECT_EQ(e.wr_id, 0xABCDu);
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	EXPECT_EQ(e.opcode, GSN_WC_RDMA_WRITE);
	EXPECT_EQ(e.byte_len, 5000u);
	EXPECT_EQ(e.qp_num, a.qp.qpn);
	EXPECT_EQ(e.src_qp, b.qp.qpn);
	EXPECT_EQ(memcmp(dst.data() + 100, src.data(), src.size()), 0);
	EXPECT_EQ(dst[99], 0xEE);
	EXPECT_EQ(dst[5100], 0xEE);
	EXPECT_TRUE(b.dev->Quiet(b.cq, 50)); // the target makes no call and gets no CQE
	// it went through the micropacket path: link out, reflector, link back
	EXPECT_GT(Stat("port0.link.mpkts_sent"), 5000u / 32);
	EXPECT_GT(Stat("dev.st_received"), 0u);
	EXPECT_EQ(Stat("dev.access_denied"), 0u);
}

// ---- more operations ----

TEST_F(Dev, LargeWriteReadAndSignaling)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	const size_t n = 3 * 1024 * 1024 + 123; // several PUTs, many GETs
	std::vector<uint8_t> src = Pattern(n, 3), dst(n, 0), back(n, 0);
	Mr smr, dmr, bmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), n, GSN_ACCESS_LOCAL_WRITE, &smr), 0);
	ASSERT_EQ(a.dev->RegMr(a.pd, back.data(), n, GSN_ACCESS_LOCAL_WRITE, &bmr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), n, kAllAccess, &dmr), 0);

	// unsignaled write, then a signaled read of the same bytes: one CQE, and
	// the read sees the write (READ waits for earlier writes)
	gsn_send_wqe w[2];
	w[0] = SendWqe(GSN_WR_RDMA_WRITE, 1, 0);
	AddSge(&w[0], src.data(), (uint32_t)n, smr.lkey);
	w[0].remote_addr = (uint64_t)(uintptr_t)dst.data();
	w[0].rkey = dmr.rkey;
	w[1] = SendWqe(GSN_WR_RDMA_READ, 2);
	AddSge(&w[1], back.data(), (uint32_t)(n / 2), bmr.lkey);
	AddSge(&w[1], back.data() + n / 2, (uint32_t)(n - n / 2), bmr.lkey);
	w[1].remote_addr = (uint64_t)(uintptr_t)dst.data();
	w[1].rkey = dmr.rkey;
	a.dev->PostSend(a.qp, w, 2);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e, 20000)) << Log();
	EXPECT_EQ(e.wr_id, 2u);
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	EXPECT_EQ(e.opcode, GSN_WC_RDMA_READ);
	EXPECT_EQ(e.byte_len, (uint32_t)n);
	EXPECT_TRUE(dst == src);
	EXPECT_TRUE(back == src);
	EXPECT_TRUE(a.dev->Quiet(a.cq, 20));
}

TEST_F(Dev, SendRecvWithImmInlineAndZeroLength)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(300000, 9), rbuf(4 * 300000, 0);
	Mr smr, rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), src.size(), 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), rbuf.size(), GSN_ACCESS_LOCAL_WRITE, &rmr), 0);

	// four receives: one in two SGEs
	gsn_recv_wqe r[4];
	for (int i = 0; i < 4; i++)
		r[i] = RecvWqe(100 + i, rbuf.data() + i * 300000, 300000, rmr.lkey);
	r[1].num_sge = 2;
	r[1].sge[0].length = 1000;
	r[1].sge[1] = gsn_sge{(uint64_t)(uintptr_t)(rbuf.data() + 300000 + 1000), 299000, rmr.lkey};
	b.dev->PostRecv(b.qp, r, 4);

	gsn_send_wqe w[4];
	w[0] = SendWqe(GSN_WR_SEND, 1);
	AddSge(&w[0], src.data(), 300000, smr.lkey);
	w[1] = SendWqe(GSN_WR_SEND_WITH_IMM, 2);
	AddSge(&w[1], src.data(), 200000, smr.lkey);
	w[1].imm_data = 0xCAFEF00D;
	w[2] = SendWqe(GSN_WR_SEND, 3, GSN_WR_F_SIGNALED | GSN_WR_F_INLINE);
	w[2].inline_len = 100;
	memcpy(w[2].inline_data, src.data() + 7, 100);
	w[3] = SendWqe(GSN_WR_SEND_WITH_IMM, 4); // zero length
	w[3].imm_data = 77;
	a.dev->PostSend(a.qp, w, 4);

	gsn_cqe e{};
	for (uint64_t i = 1; i <= 4; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e)) << i << Log();
		EXPECT_EQ(e.wr_id, i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS) << i;
		EXPECT_EQ(e.opcode, GSN_WC_SEND);
	}
	const uint32_t len[4] = {300000, 200000, 100, 0};
	for (int i = 0; i < 4; i++) {
		ASSERT_TRUE(b.dev->Poll(b.cq, &e)) << i;
		EXPECT_EQ(e.wr_id, 100u + i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS) << i;
		EXPECT_EQ(e.opcode, GSN_WC_RECV);
		EXPECT_EQ(e.byte_len, len[i]) << i;
		EXPECT_EQ(e.qp_num, b.qp.qpn);
		EXPECT_EQ(e.src_qp, a.qp.qpn);
		EXPECT_EQ(!!(e.flags & GSN_WC_F_WITH_IMM), i == 1 || i == 3) << i;
	}
	EXPECT_EQ(memcmp(rbuf.data(), src.data(), 300000), 0);
	EXPECT_EQ(memcmp(rbuf.data() + 300000, src.data(), 200000), 0);
	EXPECT_EQ(memcmp(rbuf.data() + 600000, src.data() + 7, 100), 0);
	EXPECT_EQ(rbuf[600100], 0);
	EXPECT_EQ(rbuf[900000], 0);
}

TEST_F(Dev, ReceiverNotReadyIsHeldUntilARecvComes)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(1000, 2), rbuf(1000, 0);
	Mr smr, rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), src.size(), 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), rbuf.size(), GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_send_wqe w = SendWqe(GSN_WR_SEND, 1);
	AddSge(&w, src.data(), 1000, smr.lkey);
	a.dev->PostSend(a.qp, &w);
	EXPECT_TRUE(a.dev->Quiet(a.cq, 1500)); // more than the ST timeout: held, not failed
	gsn_recv_wqe r = RecvWqe(9, rbuf.data(), 1000, rmr.lkey);
	b.dev->PostRecv(b.qp, &r);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	EXPECT_TRUE(rbuf == src);
}

TEST_F(Dev, WriteWithImmConsumesAReceive)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	const size_t big = 2 * 1024 * 1024 + 5;
	std::vector<uint8_t> src = Pattern(big, 4), dst(big, 0), rbuf(64, 0x55);
	Mr smr, dmr, rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), big, 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), big, kAllAccess, &dmr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), rbuf.size(), GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_recv_wqe r[4];
	for (int i = 0; i < 4; i++)
		r[i] = RecvWqe(50 + i, rbuf.data(), 64, rmr.lkey);
	b.dev->PostRecv(b.qp, r, 3);

	gsn_send_wqe w[4];
	w[0] = SendWqe(GSN_WR_RDMA_WRITE_WITH_IMM, 1); // one PUT
	AddSge(&w[0], src.data(), 4096, smr.lkey);
	w[0].remote_addr = (uint64_t)(uintptr_t)dst.data();
	w[0].rkey = dmr.rkey;
	w[0].imm_data = 0x11111111;
	w[1] = SendWqe(GSN_WR_SEND, 2); // a SEND between them keeps its order
	AddSge(&w[1], src.data(), 10, smr.lkey);
	w[2] = SendWqe(GSN_WR_RDMA_WRITE_WITH_IMM, 3); // several PUTs
	AddSge(&w[2], src.data(), (uint32_t)big, smr.lkey);
	w[2].remote_addr = (uint64_t)(uintptr_t)dst.data();
	w[2].rkey = dmr.rkey;
	w[2].imm_data = 0x33333333;
	w[3] = SendWqe(GSN_WR_RDMA_WRITE_WITH_IMM, 4); // zero length, before its receive
	w[3].imm_data = 0x44444444;
	a.dev->PostSend(a.qp, w, 4);

	gsn_cqe e{};
	for (uint64_t i = 1; i <= 4; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e, 20000)) << i << Log();
		EXPECT_EQ(e.wr_id, i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	}
	struct {
		uint8_t opcode;
		uint32_t len, imm;
	} want[4] = {{GSN_WC_RECV_RDMA_WITH_IMM, 4096, 0x11111111},
		     {GSN_WC_RECV, 10, 0},
		     {GSN_WC_RECV_RDMA_WITH_IMM, (uint32_t)big, 0x33333333},
		     {GSN_WC_RECV_RDMA_WITH_IMM, 0, 0x44444444}};
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(b.dev->Poll(b.cq, &e)) << i;
		EXPECT_EQ(e.wr_id, 50u + i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS);
		EXPECT_EQ(e.opcode, want[i].opcode) << i;
		EXPECT_EQ(e.byte_len, want[i].len) << i;
		if (want[i].opcode == GSN_WC_RECV_RDMA_WITH_IMM) {
			EXPECT_EQ(e.flags & GSN_WC_F_WITH_IMM, GSN_WC_F_WITH_IMM);
			EXPECT_EQ(e.imm_data, want[i].imm) << i;
		}
	}
	EXPECT_TRUE(b.dev->Quiet(b.cq, 100)); // the fourth waits for a receive
	b.dev->PostRecv(b.qp, &r[3]);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 53u);
	EXPECT_EQ(e.opcode, GSN_WC_RECV_RDMA_WITH_IMM);
	EXPECT_EQ(e.imm_data, 0x44444444u);
	EXPECT_TRUE(dst == src);
	EXPECT_EQ(memcmp(rbuf.data(), src.data(), 10), 0); // only the SEND wrote there
	EXPECT_EQ(rbuf[10], 0x55);
}

TEST_F(Dev, Atomics)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	alignas(8) uint64_t target[4] = {100, 7, 0xFFFF, 5};
	alignas(8) uint64_t old[6] = {};
	Mr tmr, omr;
	ASSERT_EQ(b.dev->RegMr(b.pd, target, sizeof(target), kAllAccess, &tmr), 0);
	ASSERT_EQ(a.dev->RegMr(a.pd, old, sizeof(old), GSN_ACCESS_LOCAL_WRITE, &omr), 0);
	const uint8_t ops[6] = {GSN_WR_ATOMIC_FETCH_AND_ADD, GSN_WR_ATOMIC_CMP_AND_SWP,
				GSN_WR_ATOMIC_CMP_AND_SWP,   GSN_WR_ATOMIC_SWAP,
				GSN_WR_ATOMIC_FETCH_INC,     GSN_WR_ATOMIC_FETCH_CLEAR};
	const int idx[6] = {0, 1, 1, 2, 3, 3};
	gsn_send_wqe w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = SendWqe(ops[i], 10 + i);
		AddSge(&w[i], &old[i], 8, omr.lkey);
		w[i].remote_addr = (uint64_t)(uintptr_t)&target[idx[i]];
		w[i].rkey = tmr.rkey;
	}
	w[0].compare_add = 23;     // 100 -> 123
	w[1].compare_add = 8;      // no match: stays 7
	w[1].swap = 99;
	w[2].compare_add = 7;      // match: 7 -> 42
	w[2].swap = 42;
	w[3].swap = 0xABCDEF;      // 0xFFFF -> 0xABCDEF
	a.dev->PostSend(a.qp, w, 6);
	gsn_cqe e{};
	for (int i = 0; i < 6; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e)) << i << Log();
		EXPECT_EQ(e.wr_id, 10u + i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS) << i;
	}
	EXPECT_EQ(old[0], 100u);
	EXPECT_EQ(old[1], 7u);
	EXPECT_EQ(old[2], 7u);
	EXPECT_EQ(old[3], 0xFFFFu);
	EXPECT_EQ(old[4], 5u);
	EXPECT_EQ(old[5], 6u);
	EXPECT_EQ(target[0], 123u);
	EXPECT_EQ(target[1], 42u);
	EXPECT_EQ(target[2], 0xABCDEFu);
	EXPECT_EQ(target[3], 0u);
}


// ---- errors ----

// The first failure has its own status, the QP goes to ERROR, the rest flush.
TEST_F(Dev, RemoteAccessErrorThenFlush)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(64, 1), dst(64, 0);
	Mr smr, dmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), 64, 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), 64, GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_READ,
			       &dmr),
		  0);
	gsn_send_wqe w[3];
	w[0] = SendWqe(GSN_WR_RDMA_WRITE, 1, 0); // unsignaled, no REMOTE_WRITE on the MR
	AddSge(&w[0], src.data(), 64, smr.lkey);
	w[0].remote_addr = (uint64_t)(uintptr_t)dst.data();
	w[0].rkey = dmr.rkey;
	w[1] = w[0];
	w[1].wr_id = 2;
	w[2] = w[0];
	w[2].wr_id = 3;
	a.dev->PostSend(a.qp, w, 3);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e));
	EXPECT_EQ(e.wr_id, 1u);
	EXPECT_EQ(e.status, GSN_WC_REM_ACCESS_ERR);
	EXPECT_NE(e.vendor_err, 0u);
	for (uint64_t i = 2; i <= 3; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.wr_id, i);
		EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
		EXPECT_EQ(e.opcode, GSN_WC_RDMA_WRITE);
	}
	EXPECT_EQ(dst, std::vector<uint8_t>(64, 0));
	gsn_dev_qp_attr qa{};
	ASSERT_EQ(a.dev->Query(a.qp, &qa), 0);
	EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_ERR);
	// the peer's QP lost its VC
	EXPECT_TRUE(b.dev->WaitAsync(GSN_EVENT_QP_FATAL, b.qp.handle));
	ASSERT_EQ(b.dev->Query(b.qp, &qa), 0);
	EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_ERR);
	// work posted in ERROR flushes too, receives with opcode RECV
	a.dev->PostSend(a.qp, &w[2]);
	ASSERT_TRUE(a.dev->Poll(a.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
	gsn_recv_wqe r = RecvWqe(7, dst.data(), 64, dmr.lkey);
	b.dev->PostRecv(b.qp, &r);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 7u);
	EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(e.opcode, GSN_WC_RECV);
}

// Remote checks: QP access flags, the MR's PD and client, the range.
TEST_F(Dev, RemoteChecks)
{
	struct Case {
		const char *what;
		uint32_t qp_access;
		int target; // 0: b's MR, 1: another client's MR, 2: b's MR, out of range
		uint8_t opcode;
	} cases[] = {
		{"qp without remote write", GSN_ACCESS_REMOTE_READ, 0, GSN_WR_RDMA_WRITE},
		{"qp without remote read", GSN_ACCESS_REMOTE_WRITE, 0, GSN_WR_RDMA_READ},
		{"qp without atomics", GSN_ACCESS_REMOTE_WRITE, 0, GSN_WR_ATOMIC_FETCH_AND_ADD},
		{"another client's rkey", kRemoteAll, 1, GSN_WR_RDMA_WRITE},
		{"beyond the region", kRemoteAll, 2, GSN_WR_RDMA_WRITE},
	};
	alignas(8) static uint8_t dst[64], other[64], src[64];
	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		Side a, b;
		ASSERT_TRUE(MakePair(&a, &b, c.qp_access));
		auto third = OpenDevice();
		uint32_t pd3;
		ASSERT_EQ(third->AllocPd(&pd3), 0);
		Mr smr, dmr, omr;
		ASSERT_EQ(a.dev->RegMr(a.pd, src, 64, GSN_ACCESS_LOCAL_WRITE, &smr), 0);
		ASSERT_EQ(b.dev->RegMr(b.pd, dst, 64, kAllAccess, &dmr), 0);
		ASSERT_EQ(third->RegMr(pd3, other, 64, kAllAccess, &omr), 0);
		memset(dst, 0, 64);
		memset(other, 0, 64);
		memset(src, 0x77, 64);
		gsn_send_wqe w = SendWqe(c.opcode, 1);
		AddSge(&w, src, c.opcode == GSN_WR_RDMA_WRITE || c.opcode == GSN_WR_RDMA_READ ? 64 : 8,
		       smr.lkey);
		w.remote_addr = (uint64_t)(uintptr_t)(c.target == 1 ? other : dst) + (c.target == 2 ? 8 : 0);
		w.rkey = c.target == 1 ? omr.rkey : dmr.rkey;
		a.dev->PostSend(a.qp, &w);
		gsn_cqe e{};
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.status, GSN_WC_REM_ACCESS_ERR);
		EXPECT_EQ(dst[0] | dst[63] | other[0] | other[63], 0);
	}
}

TEST_F(Dev, LocalErrors)
{
	struct Case {
		const char *what;
		uint8_t status;
	} cases[] = {
		{"unknown lkey", GSN_WC_LOC_PROT_ERR},
		{"sink without LOCAL_WRITE", GSN_WC_LOC_PROT_ERR},
		{"SGE beyond its MR", GSN_WC_LOC_PROT_ERR},
		{"bad opcode", GSN_WC_LOC_QP_OP_ERR},
		{"too many SGEs", GSN_WC_LOC_QP_OP_ERR},
		{"inline too long", GSN_WC_LOC_LEN_ERR},
		{"unknown flag", GSN_WC_LOC_QP_OP_ERR},
		{"reserved rkey", GSN_WC_REM_ACCESS_ERR},
		{"misaligned atomic", GSN_WC_REM_INV_REQ_ERR},
		{"atomic SGE too short", GSN_WC_LOC_LEN_ERR},
	};
	alignas(8) static uint8_t buf[256], dst[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		SCOPED_TRACE(cases[i].what);
		Side a, b;
		ASSERT_TRUE(MakePair(&a, &b));
		Mr ro, rw, dmr;
		ASSERT_EQ(a.dev->RegMr(a.pd, buf, 128, 0, &ro), 0);
		ASSERT_EQ(a.dev->RegMr(a.pd, buf + 128, 128, GSN_ACCESS_LOCAL_WRITE, &rw), 0);
		ASSERT_EQ(b.dev->RegMr(b.pd, dst, 256, kAllAccess, &dmr), 0);
		gsn_send_wqe w = SendWqe(GSN_WR_RDMA_WRITE, 5);
		w.remote_addr = (uint64_t)(uintptr_t)dst;
		w.rkey = dmr.rkey;
		switch (i) {
		case 0: AddSge(&w, buf, 8, ro.lkey + 0x10000); break;
		case 1: w.opcode = GSN_WR_RDMA_READ; AddSge(&w, buf, 8, ro.lkey); break;
		case 2: AddSge(&w, buf + 100, 64, ro.lkey); break;
		case 3: w.opcode = 11; break;
		case 4: w.num_sge = 5; break;
		case 5: w.flags |= GSN_WR_F_INLINE; w.inline_len = 129; break;
		case 6: w.flags |= 0x80; break;
		case 7: AddSge(&w, buf, 8, ro.lkey); w.rkey = 0xFFFFFFFFFFFFFF01ull; break;
		case 8: w.opcode = GSN_WR_ATOMIC_FETCH_AND_ADD; AddSge(&w, buf + 128, 8, rw.lkey);
			w.remote_addr += 4; break;
		case 9: w.opcode = GSN_WR_ATOMIC_SWAP; AddSge(&w, buf + 128, 4, rw.lkey); break;
		}
		a.dev->PostSend(a.qp, &w);
		gsn_cqe e{};
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.wr_id, 5u);
		EXPECT_EQ(e.status, cases[i].status);
		EXPECT_TRUE(a.dev->WaitAsync(~0u, ~0u, 0) || true);
		gsn_dev_qp_attr qa{};
		ASSERT_EQ(a.dev->Query(a.qp, &qa), 0);
		EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_ERR);
	}
	EXPECT_EQ(Stat("dev.clients"), 0u);
}

TEST_F(Dev, ReceiveTooShort)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(100, 1), rbuf(50, 0);
	Mr smr, rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), 100, 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), 50, GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_recv_wqe r[2] = {RecvWqe(1, rbuf.data(), 50, rmr.lkey), RecvWqe(2, rbuf.data(), 50, rmr.lkey)};
	b.dev->PostRecv(b.qp, r, 2);
	gsn_send_wqe w = SendWqe(GSN_WR_SEND, 9);
	AddSge(&w, src.data(), 100, smr.lkey);
	a.dev->PostSend(a.qp, &w);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_REM_INV_REQ_ERR);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 1u);
	EXPECT_EQ(e.status, GSN_WC_LOC_LEN_ERR);
	EXPECT_EQ(e.opcode, GSN_WC_RECV);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 2u);
	EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(rbuf, std::vector<uint8_t>(50, 0));
}

// A client that goes away takes its objects along; its peer's QP goes to
// ERROR (QP_FATAL) and its work flushes.
TEST_F(Dev, ClientGoneFlushesThePeer)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> rbuf(64);
	Mr rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, rbuf.data(), 64, GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_recv_wqe r[3];
	for (int i = 0; i < 3; i++)
		r[i] = RecvWqe(20 + i, rbuf.data(), 64, rmr.lkey);
	a.dev->PostRecv(a.qp, r, 3);
	EXPECT_EQ(Stat("dev.clients"), 2u);
	b.dev.reset();
	ASSERT_TRUE(a.dev->WaitAsync(GSN_EVENT_QP_FATAL, a.qp.handle));
	gsn_cqe e{};
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.wr_id, 20u + i);
		EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
		EXPECT_EQ(e.opcode, GSN_WC_RECV);
	}
	EXPECT_EQ(Stat("dev.clients"), 1u);
	EXPECT_EQ(Stat("dev.qps"), 1u);
}

// ---- QP states, CQs, doorbells ----

TEST_F(Dev, ResetDropsWorkWithoutCompletions)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> rbuf(64);
	Mr rmr;
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), 64, GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_recv_wqe r = RecvWqe(1, rbuf.data(), 64, rmr.lkey);
	b.dev->PostRecv(b.qp, &r);
	ASSERT_EQ(b.dev->Modify(b.qp, GSN_QP_ATTR_STATE, GSN_QPS_RESET), 0);
	EXPECT_EQ(__atomic_load_n(&b.qp.rq.h->consumer, __ATOMIC_ACQUIRE), b.qp.rq.idx);
	EXPECT_TRUE(b.dev->Quiet(b.cq, 100));
	// and the QP can be connected again (a new pair on the same gsnd)
	ASSERT_EQ(b.dev->Connect(b.qp, kRemoteAll, a.dev->open.ula, a.qp.qpn), 0);
	gsn_dev_qp_attr qa{};
	ASSERT_EQ(b.dev->Query(b.qp, &qa), 0);
	EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_RTS);
}

TEST_F(Dev, CqNotifyAndOverflow)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	Cq small;
	ASSERT_EQ(a.dev->CreateCq(2, &small), 0);
	Qp qp;
	ASSERT_EQ(a.dev->CreateQp(a.pd, small, small, QpCaps(), &qp), 0);
	ASSERT_EQ(a.dev->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_INIT), 0);
	// armed: the first CQE writes the eventfd once
	__atomic_fetch_or(&small.r.h->flags, GSN_RING_F_ARMED, __ATOMIC_SEQ_CST);
	std::vector<uint8_t> buf(64);
	Mr mr;
	ASSERT_EQ(a.dev->RegMr(a.pd, buf.data(), 64, GSN_ACCESS_LOCAL_WRITE, &mr), 0);
	gsn_recv_wqe r[4];
	for (int i = 0; i < 4; i++)
		r[i] = RecvWqe(i, buf.data(), 64, mr.lkey);
	a.dev->PostRecv(qp, r, 4);
	ASSERT_EQ(a.dev->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_ERR), 0); // 4 flushed CQEs into 2 slots
	ASSERT_TRUE(a.dev->WaitAsync(GSN_EVENT_CQ_ERR, small.handle));
	// CQ_ERR leaves with the first lost CQE: let gsnd finish the flush
	uint64_t end = NowMs() + 2000;
	while (__atomic_load_n(&small.r.h->overflow, __ATOMIC_RELAXED) < 2 && NowMs() < end)
		usleep(1000);
	uint64_t v = 0;
	EXPECT_EQ(read(small.efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	EXPECT_EQ(v, 1u);
	EXPECT_EQ(__atomic_load_n(&small.r.h->flags, __ATOMIC_SEQ_CST) & GSN_RING_F_ARMED, 0u);
	EXPECT_EQ(small.r.h->overflow, 2u);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(small, &e));
	EXPECT_EQ(e.wr_id, 0u);
	ASSERT_TRUE(a.dev->Poll(small, &e));
	EXPECT_EQ(e.wr_id, 1u);
	EXPECT_FALSE(a.dev->Poll(small, &e, 50));
}

// After activity gsnd spins, then sets NEED_WAKEUP and sleeps; a post then
// rings the doorbell and is served.
TEST_F(Dev, NeedWakeupAndDoorbell)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> src = Pattern(256, 5), dst(256);
	Mr smr, dmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), 256, 0, &smr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), 256, kAllAccess, &dmr), 0);
	uint64_t end = NowMs() + 2000;
	while (!(__atomic_load_n(&a.qp.sq.h->flags, __ATOMIC_SEQ_CST) & GSN_RING_F_NEED_WAKEUP) &&
	       NowMs() < end)
		usleep(1000);
	ASSERT_TRUE(__atomic_load_n(&a.qp.sq.h->flags, __ATOMIC_SEQ_CST) & GSN_RING_F_NEED_WAKEUP);
	EXPECT_EQ(Stat("dev.sleeping"), 1u);
	for (int i = 0; i < 20; i++) {
		gsn_send_wqe w = SendWqe(GSN_WR_RDMA_WRITE, i);
		AddSge(&w, src.data(), 256, smr.lkey);
		w.remote_addr = (uint64_t)(uintptr_t)dst.data();
		w.rkey = dmr.rkey;
		a.dev->PostSend(a.qp, &w);
		gsn_cqe e{};
		ASSERT_TRUE(a.dev->Poll(a.cq, &e)) << i;
		EXPECT_EQ(e.status, GSN_WC_SUCCESS);
		if (i % 5 == 4)
			usleep(20000); // let it fall asleep again
	}
	EXPECT_GE(a.qp.doorbells, 4u);
	EXPECT_TRUE(dst == src);
}

// Random WQEs (some fields made plausible): every one completes, gsnd
// survives, and nothing outside the registered buffers changes.
TEST_F(Dev, RandomWqesAreCompletionsNotCrashes)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	auto rnd = [&seed] {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		return seed;
	};
	alignas(64) static uint8_t arena[3 * 8192];
	uint8_t *canary_lo = arena, *mine = arena + 8192, *canary_hi = arena + 4096 + 8192;
	memset(arena, 0xC5, sizeof(arena));
	for (int round = 0; round < 24; round++) {
		Side a, b;
		ASSERT_TRUE(MakePair(&a, &b));
		Mr la, rb;
		ASSERT_EQ(a.dev->RegMr(a.pd, mine, 2048, kAllAccess, &la), 0);
		ASSERT_EQ(b.dev->RegMr(b.pd, mine + 2048, 2048, kAllAccess, &rb), 0);
		gsn_recv_wqe r[8];
		for (auto &x : r) {
			uint8_t *p = reinterpret_cast<uint8_t *>(&x);
			for (size_t i = 0; i < sizeof(x); i++)
				p[i] = (uint8_t)rnd();
			x.num_sge = (uint32_t)(rnd() % 6);
			for (auto &g : x.sge) {
				g.lkey = rnd() % 3 ? rb.lkey : (uint32_t)rnd();
				g.addr = (uint64_t)(uintptr_t)(mine + 2048) + rnd() % 4096 - 1024;
				g.length = (uint32_t)(rnd() % 3000);
			}
		}
		b.dev->PostRecv(b.qp, r, 8);
		gsn_send_wqe w[16];
		for (auto &x : w) {
			uint8_t *p = reinterpret_cast<uint8_t *>(&x);
			for (size_t i = 0; i < sizeof(x); i++)
				p[i] = (uint8_t)rnd();
			x.opcode = (uint8_t)(rnd() % 12);
			x.flags = (uint8_t)(rnd() % 8 ? rnd() & 0x0F : rnd());
			x.inline_len = (uint32_t)(rnd() % 140);
			if (rnd() % 2) {
				x.flags &= (uint8_t)~GSN_WR_F_INLINE;
				x.num_sge = (uint8_t)(rnd() % 6);
				for (auto &g : x.sge) {
					g.lkey = rnd() % 3 ? la.lkey : (uint32_t)rnd();
					g.addr = (uint64_t)(uintptr_t)mine + rnd() % 4096 - 1024;
					g.length = (uint32_t)(rnd() % 3000);
				}
			}
			x.rkey = rnd() % 3 ? rb.rkey : rnd();
			x.remote_addr = (uint64_t)(uintptr_t)(mine + 2048) + (rnd() % 4096) - 1024;
			if (rnd() % 2)
				x.remote_addr &= ~7ull;
		}
		a.dev->PostSend(a.qp, w, 16);
		gsn_cqe e{};
		int n = 0;
		uint64_t t0 = NowMs(), quiet_since = t0;
		while (NowMs() - quiet_since < 100) {
			if (a.dev->Poll(a.cq, &e, 0) || b.dev->Poll(b.cq, &e, 0)) {
				n++;
				quiet_since = NowMs();
			} else {
				usleep(1000);
			}
		}
		if (getenv("GSNDEV_DEBUG"))
			fprintf(stderr, "round %d: %d CQEs in %llu ms\n", round, n,
				(unsigned long long)(NowMs() - t0));
		EXPECT_GT(n, 0);
		for (size_t i = 0; i < 8192; i++)
			ASSERT_EQ(canary_lo[i], 0xC5) << "round " << round << " byte " << i;
		for (size_t i = 0; i < 4096; i++)
			ASSERT_EQ(canary_hi[i], 0xC5) << "round " << round << " byte " << i;
	}
	// and gsnd still works
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	EXPECT_EQ(Stat("dev.clients"), 2u);
}

// ---- another process's memory ----

TEST_F(Dev, WriteIntoAnotherProcess)
{
	int up[2], down[2];
	ASSERT_EQ(pipe(up), 0);
	ASSERT_EQ(pipe(down), 0);
	const size_t n = 200000;
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		// the target: registers a buffer, connects to the parent's QP, waits,
		// then reports whether the bytes arrived (it makes no device call)
		std::vector<uint8_t> buf(n, 0);
		Side s;
		s.dev = OpenDevice();
		struct {
			uint32_t qpn;
			uint64_t rkey, addr;
		} me{};
		Mr mr;
		if (!s.dev || s.dev->AllocPd(&s.pd) || s.dev->CreateCq(16, &s.cq) ||
		    s.dev->CreateQp(s.pd, s.cq, s.cq, QpCaps(), &s.qp) ||
		    s.dev->RegMr(s.pd, buf.data(), n, kAllAccess, &mr))
			_exit(2);
		me.qpn = s.qp.qpn;
		me.rkey = mr.rkey;
		me.addr = (uint64_t)(uintptr_t)buf.data();
		uint32_t peer = 0;
		if (write(up[1], &me, sizeof(me)) != (ssize_t)sizeof(me) ||
		    read(down[0], &peer, sizeof(peer)) != (ssize_t)sizeof(peer) ||
		    s.dev->Connect(s.qp, kRemoteAll, s.dev->open.ula, peer))
			_exit(3);
		char go;
		if (read(down[0], &go, 1) != 1)
			_exit(4);
		_exit(buf == Pattern(n, 42) ? 0 : 5);
	}
	struct {
		uint32_t qpn;
		uint64_t rkey, addr;
	} them{};
	ASSERT_EQ(read(up[0], &them, sizeof(them)), (ssize_t)sizeof(them));
	Side a;
	a.dev = OpenDevice();
	ASSERT_TRUE(a.dev);
	ASSERT_EQ(a.dev->AllocPd(&a.pd), 0);
	ASSERT_EQ(a.dev->CreateCq(16, &a.cq), 0);
	ASSERT_EQ(a.dev->CreateQp(a.pd, a.cq, a.cq, QpCaps(), &a.qp), 0);
	ASSERT_EQ(write(down[1], &a.qp.qpn, 4), 4);
	ASSERT_EQ(a.dev->Connect(a.qp, kRemoteAll, a.dev->open.ula, them.qpn), 0);
	ASSERT_TRUE(a.dev->WaitAsync(GSN_EVENT_COMM_EST, a.qp.handle));
	std::vector<uint8_t> src = Pattern(n, 42);
	Mr smr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), n, 0, &smr), 0);
	gsn_send_wqe w = SendWqe(GSN_WR_RDMA_WRITE, 1);
	AddSge(&w, src.data(), (uint32_t)n, smr.lkey);
	w.remote_addr = them.addr;
	w.rkey = them.rkey;
	a.dev->PostSend(a.qp, &w);
	gsn_cqe e{};
	ASSERT_TRUE(a.dev->Poll(a.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	ASSERT_EQ(write(down[1], "g", 1), 1);
	int status = 0;
	ASSERT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
	for (int fd : {up[0], up[1], down[0], down[1]})
		close(fd);
}

// ---- --private ----

// An idle gsnd sleeps: no CPU while nothing moves (need-wakeup set).
TEST_F(Dev, IdleUsesNoCpu)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	auto cpu = [&] {
		std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
		std::string line;
		std::getline(f, line);
		std::istringstream in(line.substr(line.rfind(')') + 2));
		std::string tok;
		uint64_t ut = 0, st = 0;
		for (int i = 3; i <= 15 && in >> tok; i++) {
			if (i == 14)
				ut = std::stoull(tok);
			if (i == 15)
				st = std::stoull(tok);
		}
		return ut + st;
	};
	usleep(200000);
	uint64_t before = cpu();
	usleep(1500000);
	EXPECT_LE(cpu() - before, 3u); // clock ticks (the ST VC has no timer while idle)
}

// Send work waiting for a VC that never comes fails after timeout x (retry + 1).
TEST_F(Dev, NoPeerRetryExceeded)
{
	auto d = OpenDevice();
	uint32_t pd;
	Cq cq;
	Qp qp;
	ASSERT_EQ(d->AllocPd(&pd), 0);
	ASSERT_EQ(d->CreateCq(16, &cq), 0);
	ASSERT_EQ(d->CreateQp(pd, cq, cq, QpCaps(), &qp), 0);
	gsn_dev_modify_qp_req req{};
	req.handle = qp.handle;
	req.mask = GSN_QP_ATTR_STATE | GSN_QP_ATTR_TIMEOUT | GSN_QP_ATTR_RETRY;
	req.state = GSN_QPS_INIT;
	req.timeout_ms = 100;
	req.retry_cnt = 1;
	char none;
	ASSERT_EQ(d->Cmd(GSN_DEV_CMD_MODIFY_QP, &req, sizeof(req), &none, 0), 0);
	const uint8_t nobody[6] = {2, 0, 0, 0, 0, 1};
	ASSERT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, nobody,
			    qp.qpn + 1000),
		  0);
	ASSERT_EQ(d->Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTS), 0);
	gsn_send_wqe w[2] = {SendWqe(GSN_WR_SEND, 1), SendWqe(GSN_WR_SEND, 2, 0)};
	uint64_t t0 = NowMs();
	d->PostSend(qp, w, 2);
	gsn_cqe e{};
	ASSERT_TRUE(d->Poll(cq, &e, 5000));
	EXPECT_GE(NowMs() - t0, 150u);
	EXPECT_EQ(e.wr_id, 1u);
	EXPECT_EQ(e.status, GSN_WC_RETRY_EXC_ERR);
	ASSERT_TRUE(d->Poll(cq, &e));
	EXPECT_EQ(e.wr_id, 2u);
	EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_TRUE(d->WaitAsync(GSN_EVENT_QP_FATAL, qp.handle));
}

// A bad receive WQE completes with its error in RQ order; the QP goes to ERROR.
TEST_F(Dev, BadReceiveWqe)
{
	Side a, b;
	ASSERT_TRUE(MakePair(&a, &b));
	std::vector<uint8_t> rbuf(64);
	Mr rmr;
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), 64, 0, &rmr), 0); // no LOCAL_WRITE
	gsn_recv_wqe r[2] = {RecvWqe(1, rbuf.data(), 64, rmr.lkey), RecvWqe(2, rbuf.data(), 64, rmr.lkey)};
	r[1].num_sge = 9;
	b.dev->PostRecv(b.qp, r, 2);
	gsn_cqe e{};
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 1u);
	EXPECT_EQ(e.status, GSN_WC_LOC_PROT_ERR);
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.wr_id, 2u);
	EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_TRUE(a.dev->WaitAsync(GSN_EVENT_QP_FATAL, a.qp.handle));
}

// ---- UD queue pairs, raw ----

// A client with a PD, one CQ and a UD QP in RTS.
struct UdSide {
	std::unique_ptr<Device> dev;
	uint32_t pd = 0;
	Cq cq;
	Qp qp;
};

::testing::AssertionResult MakeUd(DeviceTest *t, std::unique_ptr<Device> d, uint32_t qkey,
				  UdSide *s)
{
	QpCaps caps;
	caps.type = GSN_QPT_UD;
	s->dev = std::move(d);
	if (!s->dev)
		return ::testing::AssertionFailure() << "open";
	if (int st = s->dev->AllocPd(&s->pd))
		return ::testing::AssertionFailure() << "alloc_pd " << st;
	if (int st = s->dev->CreateCq(256, &s->cq))
		return ::testing::AssertionFailure() << "create_cq " << st;
	if (int st = s->dev->CreateQp(s->pd, s->cq, s->cq, caps, &s->qp))
		return ::testing::AssertionFailure() << "create_qp " << st;
	(void)t;
	if (int st = s->dev->ReadyUd(s->qp, qkey))
		return ::testing::AssertionFailure() << "modify " << st;
	return ::testing::AssertionSuccess();
}

gsn_send_wqe UdWqe(const UdSide &to, uint32_t qkey, uint64_t wr_id)
{
	gsn_send_wqe w = SendWqe(GSN_WR_SEND, wr_id);
	memcpy(w.ud_dest_ula, to.dev->open.ula, 6);
	w.ud_dest_qpn = to.qp.qpn;
	w.ud_qkey = qkey;
	return w;
}

TEST_F(Dev, UdModifyRules)
{
	UdSide a;
	ASSERT_TRUE(MakeUd(this, OpenDevice(), 5, &a));
	const uint8_t ula[6] = {2, 0, 0, 0, 0, 1};
	EXPECT_EQ(a.dev->Modify(a.qp, GSN_QP_ATTR_DEST, 0, 0, ula, 17), -EINVAL);
	EXPECT_EQ(a.dev->Modify(a.qp, 0x40, 0), -EINVAL); // unknown mask bit
	EXPECT_EQ(a.dev->Modify(a.qp, GSN_QP_ATTR_STATE, GSN_QPS_SQD), -EINVAL);
	gsn_dev_qp_attr qa{};
	ASSERT_EQ(a.dev->Query(a.qp, &qa), 0);
	EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_RTS);
	EXPECT_EQ(qa.qkey, 5u);
	Side r;
	r.dev = OpenDevice();
	ASSERT_TRUE(r.dev);
	ASSERT_EQ(r.dev->AllocPd(&r.pd), 0);
	ASSERT_EQ(r.dev->CreateCq(8, &r.cq), 0);
	ASSERT_EQ(r.dev->CreateQp(r.pd, r.cq, r.cq, QpCaps(), &r.qp), 0);
	EXPECT_EQ(r.dev->Modify(r.qp, GSN_QP_ATTR_QKEY, 0, 0, nullptr, 0, 0, 5), -EINVAL);
	QpCaps bad;
	bad.type = 3;
	Qp q;
	EXPECT_EQ(r.dev->CreateQp(r.pd, r.cq, r.cq, bad, &q), -EINVAL);
}

// gsnd's own checks of UD send WQEs (libgsn refuses these before posting).
TEST_F(Dev, UdLocalErrors)
{
	struct Case {
		const char *what;
		uint8_t status;
	} cases[] = {
		{"RDMA WRITE", GSN_WC_LOC_QP_OP_ERR},
		{"atomic", GSN_WC_LOC_QP_OP_ERR},
		{"group ULA", GSN_WC_LOC_QP_OP_ERR},
		{"zero ULA", GSN_WC_LOC_QP_OP_ERR},
		{"inline too long", GSN_WC_LOC_LEN_ERR},
		{"inline with SGEs", GSN_WC_LOC_QP_OP_ERR},
		{"payload too long", GSN_WC_LOC_LEN_ERR},
		{"too many SGEs", GSN_WC_LOC_QP_OP_ERR},
		{"unknown lkey", GSN_WC_LOC_PROT_ERR},
		{"unknown flag", GSN_WC_LOC_QP_OP_ERR},
	};
	static uint8_t buf[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		SCOPED_TRACE(cases[i].what);
		UdSide a, b;
		ASSERT_TRUE(MakeUd(this, OpenDevice(), 9, &a));
		ASSERT_TRUE(MakeUd(this, OpenDevice(), 9, &b));
		Mr mr;
		ASSERT_EQ(a.dev->RegMr(a.pd, buf, sizeof(buf), 0, &mr), 0);
		gsn_send_wqe w = UdWqe(b, 9, 5);
		switch (i) {
		case 0: w.opcode = GSN_WR_RDMA_WRITE; break;
		case 1: w.opcode = GSN_WR_ATOMIC_FETCH_AND_ADD; AddSge(&w, buf, 8, mr.lkey); break;
		case 2: w.ud_dest_ula[0] = 0x03; break;
		case 3: memset(w.ud_dest_ula, 0, 6); break;
		case 4: w.flags |= GSN_WR_F_INLINE; w.inline_len = 129; break;
		case 5: w.flags |= GSN_WR_F_INLINE; w.inline_len = 8;
			AddSge(&w, buf, 8, mr.lkey); break;
		case 6: AddSge(&w, buf, 65536, mr.lkey); AddSge(&w, buf, 1, mr.lkey); break;
		case 7: w.num_sge = 5; break;
		case 8: AddSge(&w, buf, 8, mr.lkey + 0x10000); break;
		case 9: w.flags |= 0x80; break;
		}
		gsn_send_wqe next = UdWqe(b, 9, 6);
		gsn_send_wqe both[2] = {w, next};
		a.dev->PostSend(a.qp, both, 2);
		gsn_cqe e{};
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.wr_id, 5u);
		EXPECT_EQ(e.status, cases[i].status);
		EXPECT_EQ(e.opcode, GSN_WC_SEND);
		ASSERT_TRUE(a.dev->Poll(a.cq, &e));
		EXPECT_EQ(e.wr_id, 6u);
		EXPECT_EQ(e.status, GSN_WC_WR_FLUSH_ERR);
		gsn_dev_qp_attr qa{};
		ASSERT_EQ(a.dev->Query(a.qp, &qa), 0);
		EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_ERR);
	}
	EXPECT_EQ(Stat("dev.ud_sent"), 0u);
}

// Random UD work (and random receives) never crash gsnd nor write outside the buffers.
TEST_F(Dev, UdRandomWqesAreCompletionsNotCrashes)
{
	uint64_t seed = 0x2545F4914F6CDD1Dull;
	auto rnd = [&seed] {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		return seed;
	};
	alignas(64) static uint8_t arena[3 * 8192];
	uint8_t *canary_lo = arena, *mine = arena + 8192, *canary_hi = arena + 4096 + 8192;
	memset(arena, 0xC5, sizeof(arena));
	uint64_t delivered = 0;
	for (int round = 0; round < 16; round++) {
		UdSide a, b;
		ASSERT_TRUE(MakeUd(this, OpenDevice(), 7, &a));
		ASSERT_TRUE(MakeUd(this, OpenDevice(), 7, &b));
		Mr la, rb;
		ASSERT_EQ(a.dev->RegMr(a.pd, mine, 2048, kAllAccess, &la), 0);
		ASSERT_EQ(b.dev->RegMr(b.pd, mine + 2048, 2048, kAllAccess, &rb), 0);
		// Mostly plausible work (so datagrams flow, to good and bad receives),
		// now and then anything at all.
		gsn_recv_wqe r[8];
		for (auto &x : r) {
			uint8_t *p = reinterpret_cast<uint8_t *>(&x);
			for (size_t i = 0; i < sizeof(x); i++)
				p[i] = (uint8_t)rnd();
			bool wild = rnd() % 8 == 0;
			x.num_sge = (uint32_t)(wild ? rnd() % 6 : 1 + rnd() % 4);
			for (auto &g : x.sge) {
				g.lkey = wild && rnd() % 2 ? (uint32_t)rnd() : rb.lkey;
				g.addr = (uint64_t)(uintptr_t)(mine + 2048) +
					 (wild ? rnd() % 4096 - 1024 : rnd() % 1024);
				g.length = (uint32_t)(wild ? rnd() % 3000 : rnd() % 1024);
			}
		}
		b.dev->PostRecv(b.qp, r, 8);
		gsn_send_wqe w[16];
		for (auto &x : w) {
			uint8_t *p = reinterpret_cast<uint8_t *>(&x);
			for (size_t i = 0; i < sizeof(x); i++)
				p[i] = (uint8_t)rnd();
			bool wild = rnd() % 8 == 0;
			x.opcode = (uint8_t)(wild ? rnd() % 12 : rnd() % 2);
			x.flags = (uint8_t)(wild ? rnd() : rnd() & 0x0F);
			x.inline_len = (uint32_t)(rnd() % (wild ? 140 : 129));
			if (rnd() % 2) {
				x.flags &= (uint8_t)~GSN_WR_F_INLINE;
				x.num_sge = (uint8_t)(wild ? rnd() % 6 : rnd() % 5);
				for (auto &g : x.sge) {
					g.lkey = wild && rnd() % 2 ? (uint32_t)rnd() : la.lkey;
					g.addr = (uint64_t)(uintptr_t)mine +
						 (wild ? rnd() % 4096 - 1024 : rnd() % 1024);
					g.length = (uint32_t)(wild ? rnd() % 3000 : rnd() % 1024);
				}
			} else {
				x.num_sge = 0;
			}
			if (!wild || rnd() % 2) {
				memcpy(x.ud_dest_ula, b.dev->open.ula, 6);
				x.ud_dest_qpn = rnd() % 8 ? b.qp.qpn : (uint32_t)rnd();
				x.ud_qkey = rnd() % 8 ? 7 : (uint32_t)rnd();
			}
		}
		a.dev->PostSend(a.qp, w, 16);
		gsn_cqe e{};
		uint64_t quiet_since = NowMs();
		while (NowMs() - quiet_since < 100) {
			bool got = false;
			if (a.dev->Poll(a.cq, &e, 0))
				got = true;
			if (b.dev->Poll(b.cq, &e, 0)) {
				got = true;
				delivered += e.status == GSN_WC_SUCCESS;
			}
			if (got)
				quiet_since = NowMs();
			else
				usleep(1000);
		}
		for (size_t i = 0; i < 8192; i++)
			ASSERT_EQ(canary_lo[i], 0xC5) << "round " << round << " byte " << i;
		for (size_t i = 0; i < 4096; i++)
			ASSERT_EQ(canary_hi[i], 0xC5) << "round " << round << " byte " << i;
	}
	fprintf(stderr, "[ ud random ] %llu datagrams delivered, %llu dropped\n",
		(unsigned long long)delivered, (unsigned long long)Stat("dev.ud_drops"));
	UdSide a;
	ASSERT_TRUE(MakeUd(this, OpenDevice(), 7, &a)); // and gsnd still works
	EXPECT_EQ(Stat("dev.clients"), 1u);
}

// RTR by IPv4: gsnd resolves it with HARP (here its own address: it is the server).
using DevHarp = DeviceTest;

TEST_F(DevHarp, RtrByIpv4)
{
	ASSERT_TRUE(StartGsnd({"--ip", "10.0.0.1", "--harp-server"}));
	Side a, b;
	for (Side *s : {&a, &b}) {
		s->dev = OpenDevice();
		ASSERT_TRUE(s->dev);
		ASSERT_EQ(s->dev->AllocPd(&s->pd), 0);
		ASSERT_EQ(s->dev->CreateCq(16, &s->cq), 0);
		ASSERT_EQ(s->dev->CreateQp(s->pd, s->cq, s->cq, QpCaps(), &s->qp), 0);
		ASSERT_EQ(s->dev->Modify(s->qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_ACCESS, GSN_QPS_INIT,
					 kRemoteAll),
			  0);
	}
	ASSERT_EQ(a.dev->Modify(a.qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, nullptr,
				b.qp.qpn, 0x0a000001),
		  0)
		<< Log();
	ASSERT_EQ(b.dev->Modify(b.qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, nullptr,
				a.qp.qpn, 0x0a000001),
		  0);
	gsn_dev_qp_attr qa{};
	ASSERT_EQ(a.dev->Query(a.qp, &qa), 0);
	EXPECT_EQ(memcmp(qa.dest_ula, a.dev->open.ula, 6), 0);
	EXPECT_TRUE(a.dev->WaitAsync(GSN_EVENT_COMM_EST, a.qp.handle));
	// an address nobody has
	Qp q3;
	ASSERT_EQ(a.dev->CreateQp(a.pd, a.cq, a.cq, QpCaps(), &q3), 0);
	ASSERT_EQ(a.dev->Modify(q3, GSN_QP_ATTR_STATE, GSN_QPS_INIT), 0);
	int st = a.dev->Modify(q3, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, nullptr, 5,
			       0x0a0000fe);
	EXPECT_TRUE(st == -EHOSTUNREACH || st == -ETIMEDOUT) << st;
	ASSERT_EQ(a.dev->Query(q3, &qa), 0);
	EXPECT_EQ(qa.state, (uint32_t)GSN_QPS_INIT);
}

using DevPrivate = DeviceTest;

TEST_F(DevPrivate, ExitsWhenTheLastClientLeft)
{
	ASSERT_TRUE(StartGsnd({"--private", "--private-grace", "300"}));
	{
		auto d = OpenDevice();
		ASSERT_TRUE(d);
		usleep(500000);
		int st = 0;
		EXPECT_EQ(waitpid(pid_, &st, WNOHANG), 0); // a client is there
	}
	expect_exit_ = true;
	uint64_t end = NowMs() + 5000;
	int st = 0;
	pid_t r = 0;
	while ((r = waitpid(pid_, &st, WNOHANG)) == 0 && NowMs() < end)
		usleep(10000);
	EXPECT_EQ(r, pid_);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
	EXPECT_EQ(Log().find("Sanitizer"), std::string::npos) << Log();
	pid_ = -1;
}

// Two gsnds on one UDP cable: the QPs' VC crosses a real cable.
using DevTwo = DeviceTest;

TEST_F(DevTwo, AcrossACable)
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
	Side a, b;
	a.dev = Device::Open(rundir_, name_);
	b.dev = Device::Open(rundir_, name2_);
	ASSERT_TRUE(a.dev && b.dev);
	EXPECT_NE(memcmp(a.dev->open.ula, b.dev->open.ula, 6), 0);
	for (Side *x : {&a, &b}) {
		ASSERT_EQ(x->dev->AllocPd(&x->pd), 0);
		ASSERT_EQ(x->dev->CreateCq(64, &x->cq), 0);
		ASSERT_EQ(x->dev->CreateQp(x->pd, x->cq, x->cq, QpCaps(), &x->qp), 0);
	}
	// the higher end goes to RTR first this time
	ASSERT_EQ(b.dev->Connect(b.qp, kRemoteAll, a.dev->open.ula, a.qp.qpn), 0);
	usleep(100000);
	ASSERT_EQ(a.dev->Connect(a.qp, kRemoteAll, b.dev->open.ula, b.qp.qpn), 0);
	ASSERT_TRUE(a.dev->WaitAsync(GSN_EVENT_COMM_EST, a.qp.handle));
	ASSERT_TRUE(b.dev->WaitAsync(GSN_EVENT_COMM_EST, b.qp.handle));
	const size_t n = 1 << 20;
	std::vector<uint8_t> src = Pattern(n, 11), dst(n, 0), back(n, 0), rbuf(n, 0);
	Mr smr, dmr, bmr, rmr;
	ASSERT_EQ(a.dev->RegMr(a.pd, src.data(), n, 0, &smr), 0);
	ASSERT_EQ(a.dev->RegMr(a.pd, back.data(), n, GSN_ACCESS_LOCAL_WRITE, &bmr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, dst.data(), n, kAllAccess, &dmr), 0);
	ASSERT_EQ(b.dev->RegMr(b.pd, rbuf.data(), n, GSN_ACCESS_LOCAL_WRITE, &rmr), 0);
	gsn_recv_wqe r = RecvWqe(1, rbuf.data(), (uint32_t)n, rmr.lkey);
	b.dev->PostRecv(b.qp, &r);
	gsn_send_wqe w[3] = {SendWqe(GSN_WR_RDMA_WRITE, 1), SendWqe(GSN_WR_RDMA_READ, 2),
			     SendWqe(GSN_WR_SEND_WITH_IMM, 3)};
	for (auto &x : w) {
		x.rkey = dmr.rkey;
		x.remote_addr = (uint64_t)(uintptr_t)dst.data();
	}
	AddSge(&w[0], src.data(), (uint32_t)n, smr.lkey);
	AddSge(&w[1], back.data(), (uint32_t)n, bmr.lkey);
	AddSge(&w[2], src.data(), (uint32_t)n, smr.lkey);
	w[2].imm_data = 5;
	a.dev->PostSend(a.qp, w, 3);
	gsn_cqe e{};
	for (uint64_t i = 1; i <= 3; i++) {
		ASSERT_TRUE(a.dev->Poll(a.cq, &e, 20000)) << i;
		EXPECT_EQ(e.wr_id, i);
		EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	}
	ASSERT_TRUE(b.dev->Poll(b.cq, &e));
	EXPECT_EQ(e.status, GSN_WC_SUCCESS);
	EXPECT_EQ(e.byte_len, (uint32_t)n);
	EXPECT_EQ(e.imm_data, 5u);
	EXPECT_TRUE(dst == src);
	EXPECT_TRUE(back == src);
	EXPECT_TRUE(rbuf == src);
	// the far gsnd goes away (its VCs close as it stops, best effort; else the
	// next request's retries run out): the near QP goes to ERROR
	StopGsnd(&pid2_, name2_, false);
	a.dev->PostSend(a.qp, w, 1);
	ASSERT_TRUE(a.dev->Poll(a.cq, &e, 15000)) << Log();
	EXPECT_TRUE(e.status == GSN_WC_RETRY_EXC_ERR || e.status == GSN_WC_WR_FLUSH_ERR)
		<< (int)e.status;
	EXPECT_TRUE(a.dev->WaitAsync(GSN_EVENT_QP_FATAL, a.qp.handle, 15000)) << Log();
}

} // namespace
} // namespace gsndev
