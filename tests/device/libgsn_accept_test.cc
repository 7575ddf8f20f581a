// SPDX-License-Identifier: MIT
// Acceptance tests of libgsn through real gsnd processes: sizes, atomics,
// bad work, faults, scale.  Every QP here is a libgsn QP; the gsnd
// processes are spawned with the device harness (dev_harness.h).
#include "libgsn_util.h"

extern "C" {
#include "cable.h"
}

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gsndev {
namespace {

constexpr unsigned kAll = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE |
			  GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC;

// One libgsn endpoint: context, PD, CQ, QP.
struct End {
	gsn_context *ctx = nullptr;
	gsn_pd *pd = nullptr;
	gsn_cq *cq = nullptr;
	gsn_qp *qp = nullptr;
	uint8_t ula[6] = {};
	std::vector<gsn_mr *> mrs;

	~End() { Close(); }
	void Close()
	{
		if (ctx)
			gsn_close_device(ctx); // frees everything left
		ctx = nullptr;
		pd = nullptr;
		cq = nullptr;
		qp = nullptr;
		mrs.clear();
	}
	gsn_mr *Reg(void *a, size_t n, unsigned access)
	{
		gsn_mr *m = nullptr;
		int st = gsn_reg_mr(pd, a, n, access, 0, &m);
		if (st)
			return nullptr;
		mrs.push_back(m);
		return m;
	}
};

int MakeEnd(const std::string &rundir, const std::string &name, End *e, int wr = 64,
	    int cqe = 256)
{
	int st = OpenCtx(rundir, name, &e->ctx);
	if (st)
		return st;
	gsn_device_attr da{};
	if ((st = gsn_query_device(e->ctx, &da)))
		return st;
	memcpy(e->ula, da.ula, 6);
	if ((st = gsn_alloc_pd(e->ctx, &e->pd)))
		return st;
	if ((st = gsn_create_cq(e->ctx, cqe, nullptr, nullptr, 0, &e->cq)))
		return st;
	gsn_qp_init_attr ia{};
	ia.send_cq = e->cq;
	ia.recv_cq = e->cq;
	ia.cap.max_send_wr = (uint32_t)wr;
	ia.cap.max_recv_wr = (uint32_t)wr;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	ia.qp_type = GSN_QPT_RC;
	return gsn_create_qp(e->pd, &ia, &e->qp);
}

int ConnectTo(gsn_qp *qp, unsigned access, const uint8_t ula[6], uint32_t dqpn,
	      uint32_t timeout_ms = 0)
{
	gsn_qp_attr a{};
	a.qp_state = GSN_QPS_INIT;
	a.qp_access_flags = access;
	int st = gsn_modify_qp(qp, &a, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS);
	if (st)
		return st;
	a = gsn_qp_attr{};
	a.qp_state = GSN_QPS_RTR;
	memcpy(a.dest_ula, ula, 6);
	a.dest_qp_num = dqpn;
	unsigned mask = GSN_QP_STATE | GSN_QP_DEST;
	if (timeout_ms) {
		a.timeout_ms = timeout_ms;
		mask |= GSN_QP_TIMEOUT;
	}
	if ((st = gsn_modify_qp(qp, &a, mask)))
		return st;
	a = gsn_qp_attr{};
	a.qp_state = GSN_QPS_RTS;
	return gsn_modify_qp(qp, &a, GSN_QP_STATE);
}

int Connect(End &a, End &b, unsigned access = kAll, uint32_t timeout_ms = 0)
{
	int st = ConnectTo(b.qp, access, a.ula, a.qp->qp_num, timeout_ms);
	if (!st)
		st = ConnectTo(a.qp, access, b.ula, b.qp->qp_num, timeout_ms);
	return st;
}

// Waits for an async event of type within timeout_ms.
bool WaitEvent(gsn_context *ctx, int type, int timeout_ms, gsn_async_event *out = nullptr)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;
	fcntl(ctx->async_fd, F_SETFL, fcntl(ctx->async_fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		gsn_async_event ev{};
		int st = gsn_get_async_event(ctx, &ev);
		if (st == 0 && ev.event_type == type) {
			if (out)
				*out = ev;
			return true;
		}
		if (st != 0 && st != -EAGAIN)
			return false;
		if (NowMs() >= end)
			return false;
		if (st == -EAGAIN) {
			pollfd p{ctx->async_fd, POLLIN, 0};
			poll(&p, 1, 50);
		}
	}
}

gsn_send_wr Wr(gsn_wr_opcode op, uint64_t id, gsn_sge *sge, int nsge)
{
	gsn_send_wr w{};
	w.wr_id = id;
	w.opcode = op;
	w.send_flags = GSN_SEND_SIGNALED;
	w.sg_list = sge;
	w.num_sge = nsge;
	return w;
}

// ---- fixtures ----

// Two gsnd on one UDP cable; extra args for each.
class AcceptTwo : public DeviceTest {
protected:
	::testing::AssertionResult StartTwo(const std::vector<std::string> &x1 = {},
					    const std::vector<std::string> &x2 = {})
	{
		int fds[2];
		if (gsn_cable_udp_create_pair(fds))
			return ::testing::AssertionFailure() << "udp pair";
		auto r = SpawnGsnd(name_, "02:00:00:00:00:01",
				   "0=udp-fd:" + std::to_string(fds[0]), fds[0], &pid_, x1);
		if (r)
			r = SpawnGsnd(name2_, "02:00:00:00:00:02",
				      "0=udp-fd:" + std::to_string(fds[1]), fds[1], &pid2_, x2);
		close(fds[0]);
		close(fds[1]);
		if (r)
			r = WaitReady(name_);
		if (r)
			r = WaitReady(name2_);
		return r;
	}
};

// One gsnd, loopback port.
class AcceptOne : public DeviceTest {
protected:
	void SetUp() override
	{
		DeviceTest::SetUp();
		ASSERT_TRUE(StartGsnd());
	}
};

// ======================================================================
// 1. Sizes
// ======================================================================

using DeviceAcceptSizes = AcceptTwo;

TEST_F(DeviceAcceptSizes, AllOpcodesAllSizesByteExact)
{
	ASSERT_TRUE(StartTwo());
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name2_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	gsn_device_attr da{};
	ASSERT_EQ(gsn_query_device(a.ctx, &da), 0);

	const size_t kBig = 64u << 20, kPad = 64;
	const size_t cap = kBig + kPad;
	auto mapbuf = [](size_t n) {
		void *p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return static_cast<uint8_t *>(p == MAP_FAILED ? nullptr : p);
	};
	uint8_t *src = mapbuf(cap), *back = mapbuf(cap), *dst = mapbuf(cap), *rbuf = mapbuf(cap);
	ASSERT_TRUE(src && back && dst && rbuf);
	gsn_mr *smr = a.Reg(src, cap, 0), *bmr = a.Reg(back, cap, GSN_ACCESS_LOCAL_WRITE);
	gsn_mr *dmr = b.Reg(dst, cap, kAll), *rmr = b.Reg(rbuf, cap, GSN_ACCESS_LOCAL_WRITE);
	ASSERT_TRUE(smr && bmr && dmr && rmr);

	const size_t sizes[] = {0, 1, 31, 32, 33, 4095, 65536, (1u << 20) + 7, kBig};
	const gsn_wr_opcode ops[] = {GSN_WR_SEND, GSN_WR_SEND_WITH_IMM, GSN_WR_RDMA_WRITE,
				     GSN_WR_RDMA_WRITE_WITH_IMM, GSN_WR_RDMA_READ};
	uint64_t id = 1;
	for (gsn_wr_opcode op : ops) {
		for (size_t n : sizes) {
			// 64 MiB once per family: SEND, RDMA WRITE, RDMA READ
			if (n == kBig && (op == GSN_WR_SEND_WITH_IMM || op == GSN_WR_RDMA_WRITE_WITH_IMM))
				continue;
			if (n > da.max_msg_size)
				continue;
			SCOPED_TRACE("op " + std::to_string(op) + " size " + std::to_string(n));
			uint64_t t0 = NowMs();
			uint8_t seed = (uint8_t)(id * 37);
			bool read = op == GSN_WR_RDMA_READ;
			bool to_rq = op == GSN_WR_SEND || op == GSN_WR_SEND_WITH_IMM ||
				     op == GSN_WR_RDMA_WRITE_WITH_IMM;
			uint8_t *from = read ? dst : src, *to = read ? back : (op <= 1 ? rbuf : dst);
			Fill(from, n, seed);
			memset(to, 0xEE, n + kPad);
			if (to_rq) {
				gsn_sge rs{(uint64_t)(uintptr_t)rbuf, (uint32_t)(op <= 1 ? n : 0), rmr->lkey};
				gsn_recv_wr rw{id, nullptr, &rs, op <= 1 && n ? 1 : 0};
				gsn_recv_wr *bad = nullptr;
				ASSERT_EQ(gsn_post_recv(b.qp, &rw, &bad), 0);
			}
			gsn_sge s{(uint64_t)(uintptr_t)(read ? back : src), (uint32_t)n,
				  read ? bmr->lkey : smr->lkey};
			gsn_send_wr w = Wr(op, id, &s, n ? 1 : 0);
			w.imm_data = 0xA5000000u + (uint32_t)id;
			w.wr.rdma.remote_addr = (uint64_t)(uintptr_t)dst;
			w.wr.rdma.rkey = dmr->rkey;
			gsn_send_wr *bad = nullptr;
			int st = gsn_post_send(a.qp, &w, &bad);
			if (n == 0 && st == -EINVAL) {
				// zero-length not legal for this opcode
				fprintf(stderr, "[ sizes ] op %d: zero length refused (-EINVAL)\n", (int)op);
				id++;
				continue;
			}
			ASSERT_EQ(st, 0);
			gsn_wc wc{};
			ASSERT_TRUE(PollOne(a.cq, &wc, 60000));
			EXPECT_EQ(wc.wr_id, id);
			ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
			if (to_rq) {
				ASSERT_TRUE(PollOne(b.cq, &wc, 20000));
				EXPECT_EQ(wc.wr_id, id);
				ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
				EXPECT_EQ(wc.byte_len, (uint32_t)n);
				bool imm = op != GSN_WR_SEND;
				EXPECT_EQ(!!(wc.wc_flags & GSN_WC_WITH_IMM), imm);
				if (imm) {
					EXPECT_EQ(wc.imm_data, 0xA5000000u + (uint32_t)id);
				}
				EXPECT_EQ(wc.opcode, op == GSN_WR_RDMA_WRITE_WITH_IMM
							     ? GSN_WC_RECV_RDMA_WITH_IMM
							     : GSN_WC_RECV);
			} else if (read) {
				EXPECT_EQ(wc.opcode, GSN_WC_RDMA_READ);
				EXPECT_EQ(wc.byte_len, (uint32_t)n);
			}
			EXPECT_EQ(memcmp(to, from, n), 0);
			for (size_t i = 0; i < kPad; i++)
				ASSERT_EQ(to[n + i], 0xEE) << "canary " << i;
			uint64_t dt = NowMs() - t0;
			if (n >= (1u << 20))
				fprintf(stderr, "[ sizes ] op %d size %zu: %llu ms\n", (int)op, n,
					(unsigned long long)dt);
			id++;
		}
	}
	a.Close();
	b.Close();
	for (uint8_t *p : {src, back, dst, rbuf})
		munmap(p, cap);
}

// ======================================================================
// 2. Atomics
// ======================================================================

using DeviceAcceptAtomics = AcceptTwo;

struct AtomicSetup {
	End a, b;
	alignas(8) uint64_t result[1] = {0};
	alignas(8) uint64_t target[3] = {0xCAFECAFECAFECAFEull, 0, 0xCAFECAFECAFECAFEull};
	gsn_mr *lres = nullptr, *rtgt = nullptr;
};

int DoAtomic(AtomicSetup &s, gsn_wr_opcode op, uint64_t cmp_add, uint64_t swap, uint64_t id,
	     gsn_wc *wc, int timeout_ms = 20000)
{
	gsn_sge sge{(uint64_t)(uintptr_t)s.result, 8, s.lres->lkey};
	gsn_send_wr w = Wr(op, id, &sge, 1);
	w.wr.atomic.remote_addr = (uint64_t)(uintptr_t)&s.target[1];
	w.wr.atomic.rkey = s.rtgt->rkey;
	w.wr.atomic.compare_add = cmp_add;
	w.wr.atomic.swap = swap;
	gsn_send_wr *bad = nullptr;
	int st = gsn_post_send(s.a.qp, &w, &bad);
	if (st)
		return st;
	if (!PollOne(s.a.cq, wc, timeout_ms))
		return -ETIMEDOUT;
	return 0;
}

TEST_F(DeviceAcceptAtomics, OldValuesAndMemory)
{
	ASSERT_TRUE(StartTwo());
	AtomicSetup s;
	ASSERT_EQ(MakeEnd(rundir_, name_, &s.a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name2_, &s.b), 0);
	ASSERT_EQ(Connect(s.a, s.b), 0);
	s.lres = s.a.Reg(s.result, 8, GSN_ACCESS_LOCAL_WRITE);
	s.rtgt = s.b.Reg(s.target, sizeof(s.target), kAll);
	ASSERT_TRUE(s.lres && s.rtgt);
	struct Step {
		gsn_wr_opcode op;
		uint64_t cmp_add, swap, before, after;
		gsn_wc_opcode wco;
	} steps[] = {
		{GSN_WR_ATOMIC_FETCH_AND_ADD, 5, 0, 100, 105, GSN_WC_FETCH_ADD},
		{GSN_WR_ATOMIC_FETCH_AND_ADD, ~0ull, 0, 105, 104, GSN_WC_FETCH_ADD}, // -1 wraps
		{GSN_WR_ATOMIC_CMP_AND_SWP, 104, 7, 104, 7, GSN_WC_COMP_SWAP},        // success
		{GSN_WR_ATOMIC_CMP_AND_SWP, 8, 9, 7, 7, GSN_WC_COMP_SWAP},            // failure
		{GSN_WR_ATOMIC_SWAP, 0, 0x1122334455667788ull, 7, 0x1122334455667788ull,
		 GSN_WC_ATOMIC},
		{GSN_WR_ATOMIC_FETCH_INC, 0, 0, 0x1122334455667788ull, 0x1122334455667789ull,
		 GSN_WC_ATOMIC},
		{GSN_WR_ATOMIC_FETCH_DEC, 0, 0, 0x1122334455667789ull, 0x1122334455667788ull,
		 GSN_WC_ATOMIC},
		{GSN_WR_ATOMIC_FETCH_CLEAR, 0, 0, 0x1122334455667788ull, 0, GSN_WC_ATOMIC},
	};
	s.target[1] = 100;
	uint64_t id = 1;
	for (const Step &st : steps) {
		SCOPED_TRACE("op " + std::to_string(st.op) + " id " + std::to_string(id));
		s.result[0] = 0xDEADDEADDEADDEADull;
		gsn_wc wc{};
		ASSERT_EQ(DoAtomic(s, st.op, st.cmp_add, st.swap, id, &wc), 0);
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
		EXPECT_EQ(wc.opcode, st.wco);
		EXPECT_EQ(wc.byte_len, 8u);
		EXPECT_EQ(s.result[0], st.before);
		EXPECT_EQ(__atomic_load_n(&s.target[1], __ATOMIC_ACQUIRE), st.after);
		EXPECT_EQ(s.target[0], 0xCAFECAFECAFECAFEull);
		EXPECT_EQ(s.target[2], 0xCAFECAFECAFECAFEull);
		id++;
	}
}

TEST_F(DeviceAcceptAtomics, ExactlyOnceUnderDrops)
{
	ASSERT_TRUE(StartTwo({"--filter", "0=drop=0.05,seed=3"}));
	AtomicSetup s;
	ASSERT_EQ(MakeEnd(rundir_, name_, &s.a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name2_, &s.b), 0);
	ASSERT_EQ(Connect(s.a, s.b, kAll, 100), 0);
	s.lres = s.a.Reg(s.result, 8, GSN_ACCESS_LOCAL_WRITE);
	s.rtgt = s.b.Reg(s.target, sizeof(s.target), kAll);
	ASSERT_TRUE(s.lres && s.rtgt);
	const uint64_t N = 1000;
	uint64_t t0 = NowMs();
	for (uint64_t i = 0; i < N; i++) {
		gsn_wc wc{};
		ASSERT_EQ(DoAtomic(s, GSN_WR_ATOMIC_FETCH_AND_ADD, 1, 0, i + 1, &wc, 30000), 0) << i;
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << i << " " << gsn_wc_status_str(wc.status);
		EXPECT_EQ(s.result[0], i) << "old value of add " << i;
	}
	EXPECT_EQ(__atomic_load_n(&s.target[1], __ATOMIC_ACQUIRE), N);
	EXPECT_EQ(s.target[0], 0xCAFECAFECAFECAFEull);
	EXPECT_EQ(s.target[2], 0xCAFECAFECAFECAFEull);
	uint64_t rtx = Stat("port0.link.retransmits"), tmo = Stat("st.retransmits");
	fprintf(stderr,
		"[ atomics ] %llu fetch-adds under 5%% drop: %llu ms (gsn0 link retransmits %llu "
		"st.retransmits %llu)\n",
		(unsigned long long)N, (unsigned long long)(NowMs() - t0), (unsigned long long)rtx,
		(unsigned long long)tmo);
	EXPECT_GT(rtx, 0u) << "the drop filter did not bite";
}

// ======================================================================
// 3. Bad work
// ======================================================================

using DeviceAcceptBadWork = AcceptOne;

TEST_F(DeviceAcceptBadWork, RemoteErrorsLeaveCanariesAlone)
{
	enum Case { WrongRkey, OutOfBounds, NoRemoteWrite, NoRemoteRead, NoRemoteAtomic, Dereg };
	const char *names[] = {"wrong rkey",     "out of bounds",     "no REMOTE_WRITE",
			       "no REMOTE_READ", "no REMOTE_ATOMIC", "deregistered MR"};
	for (int c = WrongRkey; c <= Dereg; c++) {
		SCOPED_TRACE(names[c]);
		End a, b;
		ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
		ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
		ASSERT_EQ(Connect(a, b), 0);
		alignas(8) uint8_t src[64], back[64];
		alignas(8) uint8_t region[256];
		memset(region, 0xC5, sizeof(region));
		Fill(src, sizeof(src), 3);
		gsn_mr *smr = a.Reg(src, sizeof(src), GSN_ACCESS_LOCAL_WRITE);
		gsn_mr *bmr = a.Reg(back, sizeof(back), GSN_ACCESS_LOCAL_WRITE);
		unsigned acc = kAll;
		if (c == NoRemoteWrite)
			acc = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC;
		if (c == NoRemoteRead)
			acc = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_ATOMIC;
		if (c == NoRemoteAtomic)
			acc = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ;
		// the MR is the middle 64 bytes: canaries either side
		gsn_mr *tmr = b.Reg(region + 96, 64, acc);
		ASSERT_TRUE(smr && bmr && tmr);
		uint64_t rkey = tmr->rkey;
		if (c == WrongRkey)
			rkey ^= 0x5a5a0000ull;
		if (c == Dereg) {
			ASSERT_EQ(gsn_dereg_mr(tmr), 0);
			b.mrs.pop_back();
		}
		uint64_t raddr = (uint64_t)(uintptr_t)(region + 96);
		gsn_sge s{(uint64_t)(uintptr_t)src, 64, smr->lkey};
		gsn_send_wr w = Wr(GSN_WR_RDMA_WRITE, 1, &s, 1);
		if (c == OutOfBounds)
			raddr += 32; // 32 bytes past the end
		if (c == NoRemoteRead) {
			s = gsn_sge{(uint64_t)(uintptr_t)back, 64, bmr->lkey};
			w.opcode = GSN_WR_RDMA_READ;
		}
		if (c == NoRemoteAtomic) {
			s = gsn_sge{(uint64_t)(uintptr_t)back, 8, bmr->lkey};
			w.opcode = GSN_WR_ATOMIC_FETCH_AND_ADD;
			w.wr.atomic.remote_addr = raddr;
			w.wr.atomic.rkey = rkey;
			w.wr.atomic.compare_add = 1;
		} else {
			w.wr.rdma.remote_addr = raddr;
			w.wr.rdma.rkey = rkey;
		}
		// a second (good) request behind the bad one, to another MR: flushed
		alignas(8) uint8_t side[8];
		memset(side, 0, sizeof(side));
		gsn_mr *sidemr = b.Reg(side, sizeof(side), kAll);
		ASSERT_TRUE(sidemr);
		gsn_send_wr w2 = Wr(GSN_WR_RDMA_WRITE, 2, &s, 1);
		gsn_sge s2{(uint64_t)(uintptr_t)src, 8, smr->lkey};
		w2.sg_list = &s2;
		w2.wr.rdma.remote_addr = (uint64_t)(uintptr_t)side;
		w2.wr.rdma.rkey = sidemr->rkey;
		w.next = &w2;
		gsn_send_wr *bad = nullptr;
		ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
		gsn_wc wc{};
		ASSERT_TRUE(PollOne(a.cq, &wc));
		EXPECT_EQ(wc.wr_id, 1u);
		EXPECT_EQ(wc.status, GSN_WC_REM_ACCESS_ERR) << gsn_wc_status_str(wc.status);
		ASSERT_TRUE(PollOne(a.cq, &wc));
		EXPECT_EQ(wc.wr_id, 2u);
		EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR) << gsn_wc_status_str(wc.status);
		// the requester's QP is in ERROR (no QP_FATAL for it: the error is
		// in its CQ); the peer's QP lost its VC: QP_FATAL there
		gsn_qp_attr qa{};
		ASSERT_EQ(gsn_query_qp(a.qp, &qa, nullptr), 0);
		EXPECT_EQ(qa.qp_state, GSN_QPS_ERR);
		EXPECT_TRUE(WaitEvent(b.ctx, GSN_EVENT_QP_FATAL, 5000));
		// nothing moved: the region and the canaries around it hold their fill
		for (size_t i = 0; i < sizeof(region); i++)
			ASSERT_EQ(region[i], 0xC5) << "byte " << i;
		// Observed (not asserted): a request pipelined behind a failing one may
		// have executed at the responder although it completes WR_FLUSH_ERR.
		if (side[0] != 0)
			fprintf(stderr, "[ badwork ] %s: the flushed WRITE behind it landed\n",
				names[c]);
	}
}

// Documented behaviour (docs/device.md, ReceiverNotReady): a SEND with no
// receive posted is held (ST receiver-not-ready: the sender retries, no
// RNR_RETRY_EXC_ERR) for longer than the ST timeout, and completes once the
// receiver posts a receive.
TEST_F(DeviceAcceptBadWork, ReceiverNotReadyHoldsTheSend)
{
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	std::vector<uint8_t> src(1000), rbuf(1000, 0);
	Fill(src.data(), src.size(), 9);
	gsn_mr *smr = a.Reg(src.data(), src.size(), 0);
	gsn_mr *rmr = b.Reg(rbuf.data(), rbuf.size(), GSN_ACCESS_LOCAL_WRITE);
	ASSERT_TRUE(smr && rmr);
	gsn_sge s{(uint64_t)(uintptr_t)src.data(), 1000, smr->lkey};
	gsn_send_wr w = Wr(GSN_WR_SEND, 1, &s, 1);
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	EXPECT_TRUE(QuietCq(a.cq, 1500)); // held, not failed
	EXPECT_TRUE(QuietCq(b.cq, 10));
	gsn_sge rs{(uint64_t)(uintptr_t)rbuf.data(), 1000, rmr->lkey};
	gsn_recv_wr rw{7, nullptr, &rs, 1};
	gsn_recv_wr *rbad = nullptr;
	ASSERT_EQ(gsn_post_recv(b.qp, &rw, &rbad), 0);
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(a.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	ASSERT_TRUE(PollOne(b.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	EXPECT_EQ(wc.wr_id, 7u);
	EXPECT_EQ(rbuf, src);
}

// ======================================================================
// 4. Faults
// ======================================================================

using DeviceAcceptFaults = AcceptOne;

TEST_F(DeviceAcceptFaults, KilledClientFlushesPeerAndGsndServesOn)
{
	int to_child[2], to_parent[2];
	ASSERT_EQ(pipe(to_child), 0);
	ASSERT_EQ(pipe(to_parent), 0);
	const size_t n = 1u << 20;
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		End c;
		std::vector<uint8_t> src(n, 0x42);
		if (MakeEnd(rundir_, name_, &c))
			_exit(2);
		gsn_mr *m = c.Reg(src.data(), n, 0);
		uint32_t mine[2] = {c.qp->qp_num, 0};
		uint8_t peer_ula[6];
		uint32_t peer_qpn;
		uint64_t peer[2];
		if (!m || write(to_parent[1], mine, 8) != 8 || write(to_parent[1], c.ula, 6) != 6 ||
		    read(to_child[0], &peer_qpn, 4) != 4 || read(to_child[0], peer_ula, 6) != 6 ||
		    read(to_child[0], peer, 16) != 16)
			_exit(3);
		if (ConnectTo(c.qp, kAll, peer_ula, peer_qpn))
			_exit(4);
		// writes forever, signaled every time
		for (uint64_t i = 0;; i++) {
			gsn_sge s{(uint64_t)(uintptr_t)src.data(), (uint32_t)n, m->lkey};
			gsn_send_wr w = Wr(GSN_WR_RDMA_WRITE, i, &s, 1);
			w.wr.rdma.remote_addr = peer[0];
			w.wr.rdma.rkey = peer[1];
			gsn_send_wr *bad = nullptr;
			if (gsn_post_send(c.qp, &w, &bad))
				_exit(5);
			gsn_wc wc{};
			if (!PollOne(c.cq, &wc) || wc.status)
				_exit(6);
			if (i == 0 && write(to_parent[1], "x", 1) != 1)
				_exit(7);
		}
	}
	close(to_child[0]);
	close(to_parent[1]);
	End p;
	ASSERT_EQ(MakeEnd(rundir_, name_, &p), 0);
	std::vector<uint8_t> dst(n), rbuf(64);
	gsn_mr *dmr = p.Reg(dst.data(), n, kAll);
	gsn_mr *rmr = p.Reg(rbuf.data(), 64, GSN_ACCESS_LOCAL_WRITE);
	ASSERT_TRUE(dmr && rmr);
	uint32_t cinfo[2];
	uint8_t cula[6];
	ASSERT_EQ(read(to_parent[0], cinfo, 8), 8);
	ASSERT_EQ(read(to_parent[0], cula, 6), 6);
	uint64_t mine[2] = {(uint64_t)(uintptr_t)dst.data(), dmr->rkey};
	ASSERT_EQ(write(to_child[1], &p.qp->qp_num, 4), 4);
	ASSERT_EQ(write(to_child[1], p.ula, 6), 6);
	ASSERT_EQ(write(to_child[1], mine, 16), 16);
	ASSERT_EQ(ConnectTo(p.qp, kAll, cula, cinfo[0]), 0);
	gsn_recv_wr rw[3];
	gsn_sge rs{(uint64_t)(uintptr_t)rbuf.data(), 64, rmr->lkey};
	for (int i = 0; i < 3; i++)
		rw[i] = gsn_recv_wr{(uint64_t)(20 + i), i < 2 ? &rw[i + 1] : nullptr, &rs, 1};
	gsn_recv_wr *rbad = nullptr;
	ASSERT_EQ(gsn_post_recv(p.qp, rw, &rbad), 0);
	char x;
	ASSERT_EQ(read(to_parent[0], &x, 1), 1) << "child did not start writing";
	usleep(20000); // mid-transfer
	kill(child, SIGKILL);
	int status;
	ASSERT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFSIGNALED(status)) << status;
	EXPECT_TRUE(WaitEvent(p.ctx, GSN_EVENT_QP_FATAL, 15000)) << Log();
	gsn_wc wc{};
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(PollOne(p.cq, &wc, 5000)) << i;
		EXPECT_EQ(wc.wr_id, 20u + i);
		EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR) << gsn_wc_status_str(wc.status);
	}
	gsn_qp_attr qa{};
	ASSERT_EQ(gsn_query_qp(p.qp, &qa, nullptr), 0);
	EXPECT_EQ(qa.qp_state, GSN_QPS_ERR);
	close(to_child[1]);
	close(to_parent[0]);
	// gsnd serves a new client
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	std::vector<uint8_t> s1(4096), d1(4096, 0);
	Fill(s1.data(), s1.size(), 77);
	gsn_mr *m1 = a.Reg(s1.data(), s1.size(), 0), *m2 = b.Reg(d1.data(), d1.size(), kAll);
	ASSERT_TRUE(m1 && m2);
	gsn_sge s{(uint64_t)(uintptr_t)s1.data(), 4096, m1->lkey};
	gsn_send_wr w = Wr(GSN_WR_RDMA_WRITE, 1, &s, 1);
	w.wr.rdma.remote_addr = (uint64_t)(uintptr_t)d1.data();
	w.wr.rdma.rkey = m2->rkey;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	ASSERT_TRUE(PollOne(a.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	EXPECT_EQ(d1, s1);
}

TEST_F(DeviceAcceptFaults, KilledGsndGivesErrorsNotHangs)
{
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	std::vector<uint8_t> s1(1u << 20, 1), d1(1u << 20, 0);
	gsn_mr *m1 = a.Reg(s1.data(), s1.size(), 0), *m2 = b.Reg(d1.data(), d1.size(), kAll);
	ASSERT_TRUE(m1 && m2);
	gsn_sge s{(uint64_t)(uintptr_t)s1.data(), (uint32_t)s1.size(), m1->lkey};
	gsn_send_wr w = Wr(GSN_WR_RDMA_WRITE, 1, &s, 1);
	w.wr.rdma.remote_addr = (uint64_t)(uintptr_t)d1.data();
	w.wr.rdma.rkey = m2->rkey;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	kill(pid_, SIGKILL);
	int status;
	waitpid(pid_, &status, 0);
	pid_ = -1;
	uint64_t t0 = NowMs();
	// the async stream says the device is gone
	EXPECT_TRUE(WaitEvent(a.ctx, GSN_EVENT_DEVICE_FATAL, 10000));
	gsn_async_event ev{};
	EXPECT_EQ(gsn_get_async_event(a.ctx, &ev), -ECONNRESET); // once, then ECONNRESET
	// commands fail
	gsn_qp_attr qa{};
	EXPECT_LT(gsn_query_qp(a.qp, &qa, nullptr), 0);
	gsn_mr *m = nullptr;
	EXPECT_LT(gsn_reg_mr(a.pd, s1.data(), 64, 0, 0, &m), 0);
	gsn_cq *cq = nullptr;
	EXPECT_LT(gsn_create_cq(a.ctx, 4, nullptr, nullptr, 0, &cq), 0);
	// posting/polling do not hang: either post fails or polling ends (a CQE, an
	// error, or nothing) within the bound
	int pst = gsn_post_send(a.qp, &w, &bad);
	gsn_wc wc[4];
	// a loop that only polls the CQ ends: -EIO once the device is known dead
	int pr = 0;
	for (int i = 0; i < 1000 && pr >= 0; i++)
		pr = gsn_poll_cq(a.cq, 4, wc);
	fprintf(stderr, "[ faults ] after gsnd died: post %d, poll %d, qp state %s\n", pst, pr,
		gsn_qp_state_str(a.qp->state));
	EXPECT_EQ(pr, -EIO) << "polling a dead device must end in an error";
	EXPECT_LT(NowMs() - t0, 15000u);
	// a new open fails cleanly
	gsn_context *c2 = nullptr;
	EXPECT_LT(OpenCtx(rundir_, name_, &c2), 0);
}

// ======================================================================
// 5. Scale
// ======================================================================

using DeviceAcceptScale = AcceptOne;

TEST_F(DeviceAcceptScale, ThousandQpsTenThousandMrs)
{
	End e;
	ASSERT_EQ(MakeEnd(rundir_, name_, &e, 4, 4096), 0);
	gsn_device_attr da{};
	ASSERT_EQ(gsn_query_device(e.ctx, &da), 0);
	const size_t NQ = 1000, NM = 10000;
	if (da.max_qp < NQ + 1 || da.max_mr < NM)
		GTEST_SKIP() << "device limits max_qp " << da.max_qp << " max_mr " << da.max_mr;
	uint64_t t0 = NowMs();
	std::vector<gsn_qp *> qps;
	for (size_t i = 0; i < NQ; i++) {
		gsn_qp_init_attr ia{};
		ia.send_cq = e.cq;
		ia.recv_cq = e.cq;
		ia.cap.max_send_wr = 4;
		ia.cap.max_recv_wr = 4;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		ia.qp_type = GSN_QPT_RC;
		gsn_qp *q = nullptr;
		ASSERT_EQ(gsn_create_qp(e.pd, &ia, &q), 0) << i;
		qps.push_back(q);
	}
	std::vector<uint8_t> mem(NM * 64);
	std::vector<gsn_mr *> mrs;
	for (size_t i = 0; i < NM; i++) {
		gsn_mr *m = nullptr;
		ASSERT_EQ(gsn_reg_mr(e.pd, mem.data() + i * 64, 64, kAll, 0, &m), 0) << i;
		mrs.push_back(m);
	}
	uint64_t t1 = NowMs();
	for (size_t i = 0; i < NQ; i += 97) {
		gsn_qp_attr qa{};
		ASSERT_EQ(gsn_query_qp(qps[i], &qa, nullptr), 0) << i;
		EXPECT_EQ(qa.qp_state, GSN_QPS_RESET);
		EXPECT_EQ(qa.qp_num, qps[i]->qp_num);
	}
	// one of the 1000 still works end to end: connect two of them
	End f;
	ASSERT_EQ(MakeEnd(rundir_, name_, &f), 0);
	ASSERT_EQ(ConnectTo(qps[NQ - 1], kAll, f.ula, f.qp->qp_num), 0);
	ASSERT_EQ(ConnectTo(f.qp, kAll, e.ula, qps[NQ - 1]->qp_num), 0);
	std::vector<uint8_t> d(64, 0);
	gsn_mr *dm = f.Reg(d.data(), 64, kAll);
	ASSERT_TRUE(dm);
	Fill(mem.data() + (NM - 1) * 64, 64, 5);
	gsn_sge s{(uint64_t)(uintptr_t)(mem.data() + (NM - 1) * 64), 64, mrs[NM - 1]->lkey};
	gsn_send_wr w = Wr(GSN_WR_RDMA_WRITE, 1, &s, 1);
	w.wr.rdma.remote_addr = (uint64_t)(uintptr_t)d.data();
	w.wr.rdma.rkey = dm->rkey;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(qps[NQ - 1], &w, &bad), 0);
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(e.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_SUCCESS);
	EXPECT_EQ(memcmp(d.data(), mem.data() + (NM - 1) * 64, 64), 0);
	for (gsn_mr *m : mrs)
		ASSERT_EQ(gsn_dereg_mr(m), 0);
	for (gsn_qp *q : qps)
		ASSERT_EQ(gsn_destroy_qp(q), 0);
	fprintf(stderr, "[ scale ] create %zu QPs + %zu MRs: %llu ms, total %llu ms\n", NQ, NM,
		(unsigned long long)(t1 - t0), (unsigned long long)(NowMs() - t0));
}

TEST_F(DeviceAcceptScale, SixteenClientProcesses)
{
	const int K = 16;
	std::vector<pid_t> kids;
	for (int k = 0; k < K; k++) {
		pid_t c = fork();
		ASSERT_GE(c, 0);
		if (c == 0) {
			End a, b;
			if (MakeEnd(rundir_, name_, &a) || MakeEnd(rundir_, name_, &b) || Connect(a, b))
				_exit(2);
			std::vector<uint8_t> src(4096), dst(4096, 0), back(4096, 0);
			Fill(src.data(), src.size(), (uint8_t)k);
			gsn_mr *sm = a.Reg(src.data(), 4096, 0);
			gsn_mr *bm = a.Reg(back.data(), 4096, GSN_ACCESS_LOCAL_WRITE);
			gsn_mr *dm = b.Reg(dst.data(), 4096, kAll);
			if (!sm || !bm || !dm)
				_exit(3);
			gsn_sge s1{(uint64_t)(uintptr_t)src.data(), 4096, sm->lkey};
			gsn_sge s2{(uint64_t)(uintptr_t)back.data(), 4096, bm->lkey};
			gsn_send_wr w1 = Wr(GSN_WR_RDMA_WRITE, 1, &s1, 1);
			gsn_send_wr w2 = Wr(GSN_WR_RDMA_READ, 2, &s2, 1);
			for (gsn_send_wr *w : {&w1, &w2}) {
				w->wr.rdma.remote_addr = (uint64_t)(uintptr_t)dst.data();
				w->wr.rdma.rkey = dm->rkey;
			}
			w1.next = &w2;
			gsn_send_wr *bad = nullptr;
			if (gsn_post_send(a.qp, &w1, &bad))
				_exit(4);
			for (int i = 0; i < 2; i++) {
				gsn_wc wc{};
				if (!PollOne(a.cq, &wc, 30000) || wc.status != GSN_WC_SUCCESS)
					_exit(5);
			}
			if (dst != src || back != src)
				_exit(6);
			a.Close();
			b.Close();
			_exit(0);
		}
		kids.push_back(c);
	}
	for (pid_t c : kids) {
		int status = 0;
		uint64_t end = NowMs() + 60000;
		pid_t r;
		while ((r = waitpid(c, &status, WNOHANG)) == 0 && NowMs() < end)
			usleep(10000);
		if (r == 0) {
			kill(c, SIGKILL);
			waitpid(c, &status, 0);
			ADD_FAILURE() << "client " << c << " hung";
			continue;
		}
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "client status " << status;
	}
}

// ======================================================================
// 6. Memory regions: zero-based addressing, requested keys
// ======================================================================

using DeviceAcceptMr = AcceptOne;

// One RDMA work request on a's QP; its completion in *wc.
int PostOne(End &a, gsn_wr_opcode op, gsn_sge *sge, uint64_t raddr, uint64_t rkey, gsn_wc *wc,
	    uint64_t add = 0)
{
	gsn_send_wr w = Wr(op, 1, sge, 1);
	if (op == GSN_WR_ATOMIC_FETCH_AND_ADD) {
		w.wr.atomic.remote_addr = raddr;
		w.wr.atomic.rkey = rkey;
		w.wr.atomic.compare_add = add;
	} else {
		w.wr.rdma.remote_addr = raddr;
		w.wr.rdma.rkey = rkey;
	}
	gsn_send_wr *bad = nullptr;
	int st = gsn_post_send(a.qp, &w, &bad);
	if (st)
		return st;
	return PollOne(a.cq, wc) ? 0 : -ETIMEDOUT;
}

// Remote addresses on a GSN_ACCESS_ZERO_BASED MR are offsets: 0 and len - 1
// reach its first and last byte, bounds are checked as for any MR.
TEST_F(DeviceAcceptMr, ZeroBasedOffsets)
{
	const size_t L = 4096, kPad = 64;
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	alignas(8) static uint8_t region[L + 2 * kPad];
	memset(region, 0xC5, sizeof(region));
	alignas(8) uint8_t src[64], back[64];
	Fill(src, sizeof(src), 17);
	gsn_mr *smr = a.Reg(src, sizeof(src), GSN_ACCESS_LOCAL_WRITE);
	gsn_mr *bmr = a.Reg(back, sizeof(back), GSN_ACCESS_LOCAL_WRITE);
	gsn_mr *tmr = b.Reg(region + kPad, L, kAll | GSN_ACCESS_ZERO_BASED);
	ASSERT_TRUE(smr && bmr && tmr);
	EXPECT_EQ(tmr->access, kAll | GSN_ACCESS_ZERO_BASED);
	uint8_t *t = region + kPad;
	gsn_wc wc{};

	// WRITE 8 bytes at offset 0 and 1 byte at offset L - 1
	gsn_sge s{(uint64_t)(uintptr_t)src, 8, smr->lkey};
	ASSERT_EQ(PostOne(a, GSN_WR_RDMA_WRITE, &s, 0, tmr->rkey, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	EXPECT_EQ(memcmp(t, src, 8), 0);
	s = {(uint64_t)(uintptr_t)(src + 8), 1, smr->lkey};
	ASSERT_EQ(PostOne(a, GSN_WR_RDMA_WRITE, &s, L - 1, tmr->rkey, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	EXPECT_EQ(t[L - 1], src[8]);

	// READ them back
	memset(back, 0, sizeof(back));
	s = {(uint64_t)(uintptr_t)back, 8, bmr->lkey};
	ASSERT_EQ(PostOne(a, GSN_WR_RDMA_READ, &s, 0, tmr->rkey, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	EXPECT_EQ(memcmp(back, src, 8), 0);
	s = {(uint64_t)(uintptr_t)(back + 8), 1, bmr->lkey};
	ASSERT_EQ(PostOne(a, GSN_WR_RDMA_READ, &s, L - 1, tmr->rkey, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	EXPECT_EQ(back[8], src[8]);

	// fetch-add at offset 16
	uint64_t v = 1000;
	memcpy(t + 16, &v, 8);
	s = {(uint64_t)(uintptr_t)back, 8, bmr->lkey};
	ASSERT_EQ(PostOne(a, GSN_WR_ATOMIC_FETCH_AND_ADD, &s, 16, tmr->rkey, &wc, 5), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	memcpy(&v, back, 8);
	EXPECT_EQ(v, 1000u);
	memcpy(&v, t + 16, 8);
	EXPECT_EQ(v, 1005u);
	for (size_t i = 0; i < kPad; i++) {
		ASSERT_EQ(region[i], 0xC5) << "canary before " << i;
		ASSERT_EQ(region[kPad + L + i], 0xC5) << "canary after " << i;
	}

	// out of bounds, each on a fresh pair (an error ends the QP): one byte
	// too many at the end, one byte past it, and the MR's virtual address
	struct Bad {
		gsn_wr_opcode op;
		uint64_t raddr;
		uint32_t len;
	} bad[] = {{GSN_WR_RDMA_WRITE, L - 1, 2},
		   {GSN_WR_RDMA_READ, L, 1},
		   {GSN_WR_RDMA_WRITE, (uint64_t)(uintptr_t)t, 1},
		   {GSN_WR_ATOMIC_FETCH_AND_ADD, L, 8}};
	for (const Bad &c : bad) {
		SCOPED_TRACE("op " + std::to_string(c.op) + " at " + std::to_string(c.raddr));
		End x, y;
		ASSERT_EQ(MakeEnd(rundir_, name_, &x), 0);
		ASSERT_EQ(MakeEnd(rundir_, name_, &y), 0);
		ASSERT_EQ(Connect(x, y), 0);
		gsn_mr *xs = x.Reg(src, sizeof(src), GSN_ACCESS_LOCAL_WRITE);
		ASSERT_TRUE(xs);
		gsn_mr *ym = y.Reg(t, L, kAll | GSN_ACCESS_ZERO_BASED);
		ASSERT_TRUE(ym);
		s = {(uint64_t)(uintptr_t)src, c.len, xs->lkey};
		ASSERT_EQ(PostOne(x, c.op, &s, c.raddr, ym->rkey, &wc), 0);
		EXPECT_EQ(wc.status, GSN_WC_REM_ACCESS_ERR) << gsn_wc_status_str(wc.status);
	}
	for (size_t i = 0; i < kPad; i++) {
		ASSERT_EQ(region[i], 0xC5) << "canary before " << i;
		ASSERT_EQ(region[kPad + L + i], 0xC5) << "canary after " << i;
	}
}

// requested_key: any value from 1 up to 0xFFFEFFFFFFFFFFFF, unique per
// context only (libfabric's user keys are per domain): two processes on one
// gsnd may use the same key, and a peer's access reaches the MR of the
// context whose QP it is connected to.
TEST_F(DeviceAcceptMr, RequestedKeysArePerContext)
{
	End a, b, ca, cb;
	for (End *e : {&a, &b, &ca, &cb})
		ASSERT_EQ(MakeEnd(rundir_, name_, e), 0);
	ASSERT_EQ(Connect(ca, a), 0);
	ASSERT_EQ(Connect(cb, b), 0);
	alignas(8) uint8_t ra[64] = {}, rb[64] = {}, other[64], src[8];
	memset(src, 0x5A, sizeof(src));
	gsn_mr *ma = nullptr, *mb = nullptr, *m = nullptr;
	ASSERT_EQ(gsn_reg_mr(a.pd, ra, sizeof(ra), kAll, 1, &ma), 0);
	EXPECT_EQ(ma->rkey, 1u);
	EXPECT_EQ(gsn_reg_mr(a.pd, other, sizeof(other), kAll, 1, &m), -EEXIST); // a has key 1
	ASSERT_EQ(gsn_reg_mr(b.pd, rb, sizeof(rb), kAll | GSN_ACCESS_ZERO_BASED, 1, &mb), 0);
	EXPECT_EQ(mb->rkey, 1u); // b may have it too
	EXPECT_EQ(gsn_reg_mr(a.pd, other, sizeof(other), kAll, 0xFFFF000000000000ull, &m), -EINVAL);
	EXPECT_EQ(gsn_reg_mr(a.pd, other, sizeof(other), kAll, ~0ull, &m), -EINVAL);
	ASSERT_EQ(gsn_reg_mr(a.pd, other, sizeof(other), kAll, 0xFFFEFFFFFFFFFFFFull, &m), 0);
	EXPECT_EQ(m->rkey, 0xFFFEFFFFFFFFFFFFull);
	ASSERT_EQ(gsn_dereg_mr(m), 0);
	ASSERT_EQ(gsn_reg_mr(a.pd, other, sizeof(other), kAll, 0, &m), 0); // gsnd's choice
	EXPECT_NE(m->rkey, 0u);
	EXPECT_NE(m->rkey >> 48, 0xFFFFu);

	// key 1 through ca reaches a's MR (virtual address), through cb b's (offset)
	gsn_mr *sa = ca.Reg(src, sizeof(src), 0), *sb = cb.Reg(src, sizeof(src), 0);
	ASSERT_TRUE(sa && sb);
	gsn_wc wc{};
	gsn_sge s{(uint64_t)(uintptr_t)src, 8, sa->lkey};
	ASSERT_EQ(PostOne(ca, GSN_WR_RDMA_WRITE, &s, (uint64_t)(uintptr_t)(ra + 8), 1, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	s.lkey = sb->lkey;
	ASSERT_EQ(PostOne(cb, GSN_WR_RDMA_WRITE, &s, 16, 1, &wc), 0);
	ASSERT_EQ(wc.status, GSN_WC_SUCCESS) << gsn_wc_status_str(wc.status);
	uint8_t want_a[64] = {}, want_b[64] = {};
	memset(want_a + 8, 0x5A, 8);
	memset(want_b + 16, 0x5A, 8);
	EXPECT_EQ(memcmp(ra, want_a, 64), 0);
	EXPECT_EQ(memcmp(rb, want_b, 64), 0);

	// a key the peer's context does not have is an access error, though others have it
	End cc, dd;
	ASSERT_EQ(MakeEnd(rundir_, name_, &cc), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &dd), 0);
	ASSERT_EQ(Connect(cc, dd), 0);
	gsn_mr *sc = cc.Reg(src, sizeof(src), 0);
	ASSERT_TRUE(sc);
	s.lkey = sc->lkey;
	ASSERT_EQ(PostOne(cc, GSN_WR_RDMA_WRITE, &s, 16, 1, &wc), 0);
	EXPECT_EQ(wc.status, GSN_WC_REM_ACCESS_ERR) << gsn_wc_status_str(wc.status);
	EXPECT_EQ(memcmp(ra, want_a, 64), 0);
	EXPECT_EQ(memcmp(rb, want_b, 64), 0);
}

} // namespace
} // namespace gsndev

namespace gsndev {
namespace {
// An RDMA READ rejected by the responder (its MR lacks REMOTE_READ) must stop
// an RDMA WRITE posted right behind it to the same region: the READ's GET
// travels on VC0 and the WRITE's data on VC1, so without an ordering gate the
// WRITE could overtake it, land, and still complete WR_FLUSH_ERR.  gsnd makes
// writes wait for earlier READs and atomics (dev_exec.c, gate_open).
TEST_F(DeviceAcceptBadWork, FlushedWriteBehindFailedReadDoesNotLand)
{
	End a, b;
	ASSERT_EQ(MakeEnd(rundir_, name_, &a), 0);
	ASSERT_EQ(MakeEnd(rundir_, name_, &b), 0);
	ASSERT_EQ(Connect(a, b), 0);
	alignas(8) uint8_t src[64], back[64], region[64];
	memset(region, 0xC5, 64);
	Fill(src, 64, 3);
	gsn_mr *smr = a.Reg(src, 64, GSN_ACCESS_LOCAL_WRITE);
	gsn_mr *bmr = a.Reg(back, 64, GSN_ACCESS_LOCAL_WRITE);
	gsn_mr *tmr = b.Reg(region, 64, GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE);
	gsn_sge s{(uint64_t)(uintptr_t)back, 64, bmr->lkey};
	gsn_send_wr w = Wr(GSN_WR_RDMA_READ, 1, &s, 1);
	w.wr.rdma.remote_addr = (uint64_t)(uintptr_t)region;
	w.wr.rdma.rkey = tmr->rkey;
	gsn_sge s2{(uint64_t)(uintptr_t)src, 8, smr->lkey};
	gsn_send_wr w2 = Wr(GSN_WR_RDMA_WRITE, 2, &s2, 1);
	w2.wr.rdma.remote_addr = (uint64_t)(uintptr_t)region;
	w2.wr.rdma.rkey = tmr->rkey;
	w.next = &w2;
	gsn_send_wr *bad = nullptr;
	ASSERT_EQ(gsn_post_send(a.qp, &w, &bad), 0);
	gsn_wc wc{};
	ASSERT_TRUE(PollOne(a.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_REM_ACCESS_ERR);
	ASSERT_TRUE(PollOne(a.cq, &wc));
	EXPECT_EQ(wc.status, GSN_WC_WR_FLUSH_ERR);
	usleep(100000);
	EXPECT_EQ(region[0], 0xC5) << "flushed WRITE landed";
}
}
}
