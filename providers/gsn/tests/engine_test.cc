// SPDX-License-Identifier: MIT
// libgsn against the fake device's engine: two connected QPs move data
// through process_vm_readv/writev, completions come back through the CQ
// ring (small receives inline in the CQE), the engine sleeps and is woken
// by the need-wakeup doorbell, and completion events wake a waiter.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include <libgsn.h>

#include "test_util.h"

using gsntest::FakeDevTest;

namespace {

class LibgsnEngine : public FakeDevTest {
protected:
	gsn_context *ctx = nullptr;
	gsn_pd *pd = nullptr;
	gsn_comp_channel *ch = nullptr;
	gsn_cq *cq[2] = {};
	gsn_qp *qp[2] = {};
	std::vector<uint8_t> mem[2];
	gsn_mr *mr[2] = {};

	void configure(fake::Options &o) override
	{
		o.engine = true;
		o.spin_us = 200;
		o.idle_timeout_ms = 10000; // a missed doorbell shows as a 10 s stall
	}

	void SetUp() override
	{
		FakeDevTest::SetUp();
		if (HasFatalFailure())
			return;
		ctx = open_ctx();
		ASSERT_NE(ctx, nullptr);
		ASSERT_EQ(gsn_alloc_pd(ctx, &pd), 0);
		ASSERT_EQ(gsn_create_comp_channel(ctx, &ch), 0);
		for (int i = 0; i < 2; i++) {
			mem[i].assign(1 << 20, 0);
			ASSERT_EQ(gsn_reg_mr(pd, mem[i].data(), mem[i].size(),
					     GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE |
						     GSN_ACCESS_REMOTE_READ,
					     0, &mr[i]),
				  0);
			ASSERT_EQ(gsn_create_cq(ctx, 64, nullptr, ch, 0, &cq[i]), 0);
			gsn_qp_init_attr ia{};
			ia.send_cq = ia.recv_cq = cq[i];
			ia.cap = {32, 32, 4, 4, 128};
			ia.qp_type = GSN_QPT_RC;
			ASSERT_EQ(gsn_create_qp(pd, &ia, &qp[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			gsn_qp_attr a{};
			a.qp_state = GSN_QPS_INIT;
			a.qp_access_flags = GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ;
			ASSERT_EQ(gsn_modify_qp(qp[i], &a, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS), 0);
			a = {};
			a.qp_state = GSN_QPS_RTR;
			a.dest_ula[0] = 2;
			a.dest_ula[5] = 1;
			a.dest_qp_num = qp[1 - i]->qp_num;
			ASSERT_EQ(gsn_modify_qp(qp[i], &a, GSN_QP_STATE | GSN_QP_DEST), 0);
		}
		for (int i = 0; i < 2; i++) {
			gsn_qp_attr a{};
			a.qp_state = GSN_QPS_RTS;
			ASSERT_EQ(gsn_modify_qp(qp[i], &a, GSN_QP_STATE), 0);
		}
	}

	void TearDown() override
	{
		if (ctx) {
			EXPECT_EQ(gsn_close_device(ctx), 0);
		}
		FakeDevTest::TearDown();
	}

	// Polls cq until n completions or 5 s.
	std::vector<gsn_wc> wait(gsn_cq *c, size_t n)
	{
		std::vector<gsn_wc> out;
		auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
		while (out.size() < n && std::chrono::steady_clock::now() < end) {
			gsn_wc wc[8];
			int k = gsn_poll_cq(c, 8, wc);
			EXPECT_GE(k, 0);
			for (int i = 0; i < k; i++)
				out.push_back(wc[i]);
		}
		EXPECT_EQ(out.size(), n);
		return out;
	}

	uint64_t addr(int i, size_t off) { return (uint64_t)(uintptr_t)(mem[i].data() + off); }
};

TEST_F(LibgsnEngine, CommEstIsReported)
{
	gsn_async_event ev;
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_COMM_EST);
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_COMM_EST);
}

TEST_F(LibgsnEngine, SendRecvOfEverySizeLandsInThePostedBuffers)
{
	for (uint32_t size : {0u, 1u, 31u, 32u, 33u, 128u, 129u, 4096u, 65536u}) {
		std::fill(mem[1].begin(), mem[1].end(), 0);
		for (uint32_t i = 0; i < size; i++)
			mem[0][i] = (uint8_t)(i * 13 + size);
		// Receive into three pieces; send from two.
		uint32_t h = size / 2;
		gsn_sge rs[3] = {{addr(1, 100), h, mr[1]->lkey},
				 {addr(1, 200000), 10, mr[1]->lkey},
				 {addr(1, 300000), size, mr[1]->lkey}};
		gsn_recv_wr rw{};
		rw.wr_id = 500 + size;
		rw.sg_list = rs;
		rw.num_sge = 3;
		gsn_recv_wr *rbad;
		ASSERT_EQ(gsn_post_recv(qp[1], &rw, &rbad), 0);
		gsn_sge ss[2] = {{addr(0, 0), h, mr[0]->lkey}, {addr(0, h), size - h, mr[0]->lkey}};
		gsn_send_wr sw{};
		sw.wr_id = size;
		sw.sg_list = ss;
		sw.num_sge = 2;
		sw.opcode = GSN_WR_SEND_WITH_IMM;
		sw.imm_data = 0x1234 + size;
		sw.send_flags = GSN_SEND_SIGNALED | (size <= 128 ? GSN_SEND_INLINE : 0);
		gsn_send_wr *bad;
		ASSERT_EQ(gsn_post_send(qp[0], &sw, &bad), 0);
		auto s = wait(cq[0], 1);
		auto r = wait(cq[1], 1);
		ASSERT_EQ(s.size(), 1u);
		ASSERT_EQ(r.size(), 1u);
		EXPECT_EQ(s[0].status, GSN_WC_SUCCESS) << size;
		EXPECT_EQ(s[0].opcode, GSN_WC_SEND);
		EXPECT_EQ(s[0].wr_id, size);
		EXPECT_EQ(r[0].status, GSN_WC_SUCCESS) << size;
		EXPECT_EQ(r[0].opcode, GSN_WC_RECV);
		EXPECT_EQ(r[0].wr_id, 500u + size);
		EXPECT_EQ(r[0].byte_len, size);
		EXPECT_EQ(r[0].imm_data, 0x1234u + size);
		EXPECT_EQ(r[0].wc_flags, (unsigned)GSN_WC_WITH_IMM);
		EXPECT_EQ(r[0].src_qp, qp[0]->qp_num);
		std::vector<uint8_t> got;
		got.insert(got.end(), mem[1].begin() + 100, mem[1].begin() + 100 + h);
		got.insert(got.end(), mem[1].begin() + 200000, mem[1].begin() + 200010);
		got.insert(got.end(), mem[1].begin() + 300000, mem[1].begin() + 300000 + size);
		got.resize(size);
		EXPECT_TRUE(std::equal(got.begin(), got.end(), mem[0].begin())) << size;
	}
}

TEST_F(LibgsnEngine, RdmaWriteWithImmAndRead)
{
	for (int i = 0; i < 1000; i++)
		mem[0][i] = (uint8_t)(i ^ 0x5a);
	gsn_recv_wr rw{};
	rw.wr_id = 9;
	gsn_recv_wr *rbad;
	ASSERT_EQ(gsn_post_recv(qp[1], &rw, &rbad), 0);
	gsn_sge s = {addr(0, 0), 1000, mr[0]->lkey};
	gsn_send_wr w{};
	w.wr_id = 1;
	w.sg_list = &s;
	w.num_sge = 1;
	w.opcode = GSN_WR_RDMA_WRITE_WITH_IMM;
	w.imm_data = 4242;
	w.send_flags = GSN_SEND_SIGNALED;
	w.wr.rdma.remote_addr = addr(1, 5000);
	w.wr.rdma.rkey = mr[1]->rkey;
	gsn_send_wr *bad;
	ASSERT_EQ(gsn_post_send(qp[0], &w, &bad), 0);
	auto c = wait(cq[0], 1);
	auto r = wait(cq[1], 1);
	ASSERT_EQ(r.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_SUCCESS);
	EXPECT_EQ(c[0].opcode, GSN_WC_RDMA_WRITE);
	EXPECT_EQ(r[0].opcode, GSN_WC_RECV_RDMA_WITH_IMM);
	EXPECT_EQ(r[0].imm_data, 4242u);
	EXPECT_EQ(r[0].byte_len, 1000u);
	EXPECT_EQ(memcmp(&mem[1][5000], &mem[0][0], 1000), 0);

	// Read it back into another place.
	gsn_sge back = {addr(0, 100000), 1000, mr[0]->lkey};
	w = {};
	w.wr_id = 2;
	w.sg_list = &back;
	w.num_sge = 1;
	w.opcode = GSN_WR_RDMA_READ;
	w.send_flags = GSN_SEND_SIGNALED;
	w.wr.rdma.remote_addr = addr(1, 5000);
	w.wr.rdma.rkey = mr[1]->rkey;
	ASSERT_EQ(gsn_post_send(qp[0], &w, &bad), 0);
	c = wait(cq[0], 1);
	ASSERT_EQ(c.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_SUCCESS);
	EXPECT_EQ(c[0].opcode, GSN_WC_RDMA_READ);
	EXPECT_EQ(memcmp(&mem[0][100000], &mem[0][0], 1000), 0);

	// A wrong rkey is the peer's access error.
	w.wr_id = 3;
	w.wr.rdma.rkey = 12345;
	ASSERT_EQ(gsn_post_send(qp[0], &w, &bad), 0);
	c = wait(cq[0], 1);
	ASSERT_EQ(c.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_REM_ACCESS_ERR);
}

TEST_F(LibgsnEngine, SleepingEngineIsWokenByTheDoorbell)
{
	// Let the engine go to sleep (it asks for doorbells), then post.
	for (int round = 0; round < 5; round++) {
		std::this_thread::sleep_for(std::chrono::milliseconds(30));
		EXPECT_NE(dev->qp_flags(qp[0]->qp_num, true) & GSN_RING_F_NEED_WAKEUP, 0u);
		gsn_recv_wr rw{};
		gsn_recv_wr *rbad;
		ASSERT_EQ(gsn_post_recv(qp[1], &rw, &rbad), 0);
		gsn_send_wr sw{};
		sw.opcode = GSN_WR_SEND;
		sw.send_flags = GSN_SEND_SIGNALED;
		gsn_send_wr *bad;
		auto t0 = std::chrono::steady_clock::now();
		ASSERT_EQ(gsn_post_send(qp[0], &sw, &bad), 0);
		auto c = wait(cq[0], 1);
		ASSERT_EQ(c.size(), 1u);
		// Woken by the doorbell, not by the loop's 10 s timeout.
		EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
		wait(cq[1], 1);
	}
}

TEST_F(LibgsnEngine, CompletionEventWakesAWaiter)
{
	ASSERT_EQ(gsn_req_notify_cq(cq[1], 0), 0);
	gsn_recv_wr rw{};
	rw.wr_id = 77;
	gsn_recv_wr *rbad;
	ASSERT_EQ(gsn_post_recv(qp[1], &rw, &rbad), 0);
	std::thread sender([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		gsn_send_wr sw{};
		sw.opcode = GSN_WR_SEND;
		gsn_send_wr *bad;
		EXPECT_EQ(gsn_post_send(qp[0], &sw, &bad), 0);
	});
	gsn_cq *got = nullptr;
	void *cctx;
	ASSERT_EQ(gsn_get_cq_event(ch, &got, &cctx), 0);
	sender.join();
	EXPECT_EQ(got, cq[1]);
	gsn_ack_cq_events(got, 1);
	gsn_wc wc;
	ASSERT_EQ(gsn_poll_cq(cq[1], 1, &wc), 1);
	EXPECT_EQ(wc.wr_id, 77u);
	EXPECT_EQ(gsn_poll_cq(cq[0], 1, &wc), 0); // unsignaled send: no completion
}

TEST_F(LibgsnEngine, BadLkeyAndShortReceiveAndFlush)
{
	gsn_send_wr sw{};
	gsn_send_wr *bad;
	gsn_sge s = {addr(0, 0), 100, mr[0]->lkey + 1000};
	sw.wr_id = 1;
	sw.sg_list = &s;
	sw.num_sge = 1;
	sw.opcode = GSN_WR_SEND;
	gsn_recv_wr rw{};
	gsn_sge rs = {addr(1, 0), 50, mr[1]->lkey};
	rw.wr_id = 2;
	rw.sg_list = &rs;
	rw.num_sge = 1;
	gsn_recv_wr *rbad;
	ASSERT_EQ(gsn_post_recv(qp[1], &rw, &rbad), 0);
	ASSERT_EQ(gsn_post_send(qp[0], &sw, &bad), 0);
	auto c = wait(cq[0], 1); // errors complete even unsignaled
	ASSERT_EQ(c.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_LOC_PROT_ERR);
	// 100 bytes into a 50-byte receive.
	s.lkey = mr[0]->lkey;
	ASSERT_EQ(gsn_post_send(qp[0], &sw, &bad), 0);
	c = wait(cq[0], 1);
	auto r = wait(cq[1], 1);
	ASSERT_EQ(r.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_REM_INV_REQ_ERR);
	EXPECT_EQ(r[0].status, GSN_WC_LOC_LEN_ERR);
	// ERROR: posted receives are flushed, and so is later work.
	gsn_recv_wr more[3] = {};
	for (int i = 0; i < 3; i++) {
		more[i].wr_id = 10 + (uint64_t)i;
		more[i].next = i < 2 ? &more[i + 1] : nullptr;
	}
	ASSERT_EQ(gsn_post_recv(qp[1], more, &rbad), 0);
	gsn_qp_attr a{};
	a.qp_state = GSN_QPS_ERR;
	ASSERT_EQ(gsn_modify_qp(qp[1], &a, GSN_QP_STATE), 0);
	r = wait(cq[1], 3);
	ASSERT_EQ(r.size(), 3u);
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(r[i].status, GSN_WC_WR_FLUSH_ERR);
		EXPECT_EQ(r[i].opcode, GSN_WC_RECV);
		EXPECT_EQ(r[i].wr_id, 10u + (uint64_t)i);
	}
	sw.wr_id = 99;
	ASSERT_EQ(gsn_post_send(qp[1], &sw, &bad), 0);
	c = wait(cq[1], 1);
	ASSERT_EQ(c.size(), 1u);
	EXPECT_EQ(c[0].status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(c[0].wr_id, 99u);
}

TEST_F(LibgsnEngine, ConcurrentPostersAndPollers)
{
	constexpr int kThreads = 4, kEach = 250, kTotal = kThreads * kEach;
	std::atomic<int> sent{0}, received{0};
	std::atomic<bool> failed{false};
	// Receiver: keeps 32 receives posted, reposting as completions come.
	auto post_recv = [&](uint64_t id) {
		gsn_recv_wr rw{};
		rw.wr_id = id;
		gsn_recv_wr *bad;
		return gsn_post_recv(qp[1], &rw, &bad);
	};
	for (int i = 0; i < 32; i++)
		ASSERT_EQ(post_recv((uint64_t)i), 0);
	std::thread receiver([&] {
		auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
		while (received < kTotal && std::chrono::steady_clock::now() < end) {
			gsn_wc wc[8];
			int n = gsn_poll_cq(cq[1], 8, wc);
			for (int i = 0; i < n; i++) {
				if (wc[i].status != GSN_WC_SUCCESS || post_recv(wc[i].wr_id) != 0)
					failed = true;
				received++;
			}
		}
	});
	std::thread poller([&] {
		auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
		while (sent < kTotal && std::chrono::steady_clock::now() < end) {
			gsn_wc wc[8];
			int n = gsn_poll_cq(cq[0], 8, wc);
			for (int i = 0; i < n; i++) {
				if (wc[i].status != GSN_WC_SUCCESS)
					failed = true;
				sent++;
			}
		}
	});
	std::vector<std::thread> posters;
	for (int t = 0; t < kThreads; t++)
		posters.emplace_back([&, t] {
			for (int i = 0; i < kEach; i++) {
				gsn_send_wr sw{};
				sw.wr_id = (uint64_t)(t * kEach + i);
				sw.opcode = GSN_WR_SEND;
				sw.send_flags = GSN_SEND_SIGNALED;
				gsn_send_wr *bad;
				int r;
				while ((r = gsn_post_send(qp[0], &sw, &bad)) == -ENOMEM)
					std::this_thread::yield();
				if (r != 0)
					failed = true;
			}
		});
	for (auto &th : posters)
		th.join();
	poller.join();
	receiver.join();
	EXPECT_FALSE(failed.load());
	EXPECT_EQ(sent.load(), kTotal);
	EXPECT_EQ(received.load(), kTotal);
}

} // namespace
