// SPDX-License-Identifier: MIT
// libgsn against a fake device that the test drives by hand: device list,
// OPEN and the version check, PD/MR/CQ/QP commands with fd passing and
// ring mapping, CQE consumption (wrap-around, inline payloads), WQE
// encoding of every opcode, the need-wakeup doorbell, CQ arming and
// completion channels, async events, and every error path checked for
// leaked fds (and, under ASan, memory).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libgsn.h>

#include "test_util.h"

using gsntest::Env;
using gsntest::FakeDevTest;

namespace {

class LibgsnApi : public FakeDevTest {
protected:
	gsn_context *ctx = nullptr;
	gsn_pd *pd = nullptr;

	void SetUp() override
	{
		FakeDevTest::SetUp();
		if (HasFatalFailure())
			return;
		ctx = open_ctx();
		ASSERT_NE(ctx, nullptr);
		ASSERT_EQ(gsn_alloc_pd(ctx, &pd), 0);
	}

	void TearDown() override
	{
		if (ctx) {
			EXPECT_EQ(gsn_close_device(ctx), 0);
		}
		FakeDevTest::TearDown();
	}

	gsn_cq *make_cq(int cqe, gsn_comp_channel *ch = nullptr, void *cq_ctx = nullptr)
	{
		gsn_cq *cq = nullptr;
		EXPECT_EQ(gsn_create_cq(ctx, cqe, cq_ctx, ch, 0, &cq), 0);
		return cq;
	}

	gsn_qp *make_qp(gsn_cq *cq, uint32_t sq, uint32_t rq, int sig_all = 0,
			gsn_qp_init_attr *out = nullptr)
	{
		gsn_qp_init_attr ia{};
		ia.send_cq = cq;
		ia.recv_cq = cq;
		ia.cap.max_send_wr = sq;
		ia.cap.max_recv_wr = rq;
		ia.cap.max_send_sge = GSN_MAX_SGE;
		ia.cap.max_recv_sge = GSN_MAX_SGE;
		ia.cap.max_inline_data = GSN_MAX_INLINE;
		ia.qp_type = GSN_QPT_RC;
		ia.sq_sig_all = sig_all;
		gsn_qp *qp = nullptr;
		EXPECT_EQ(gsn_create_qp(pd, &ia, &qp), 0);
		if (out)
			*out = ia;
		return qp;
	}

	void to_rts(gsn_qp *qp)
	{
		gsn_qp_attr a{};
		a.qp_state = GSN_QPS_INIT;
		a.qp_access_flags = GSN_ACCESS_REMOTE_WRITE;
		ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS), 0);
		a = {};
		a.qp_state = GSN_QPS_RTR;
		a.dest_ula[0] = 2;
		a.dest_ula[5] = 9;
		a.dest_qp_num = 0x77;
		ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE | GSN_QP_DEST), 0);
		a = {};
		a.qp_state = GSN_QPS_RTS;
		a.timeout_ms = 1500;
		a.retry_cnt = 5;
		ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE | GSN_QP_TIMEOUT | GSN_QP_RETRY), 0);
	}

	static gsn_cqe cqe(uint64_t wr_id, uint8_t opcode, uint32_t qp_num, uint8_t status = 0)
	{
		gsn_cqe e{};
		e.wr_id = wr_id;
		e.opcode = opcode;
		e.qp_num = qp_num;
		e.status = status;
		return e;
	}
};

// ---- devices ----

TEST_F(LibgsnApi, DeviceListSkipsStaleSocketsAndHonoursGsnDevice)
{
	// A stale socket (nobody listening) and a file that is no socket.
	std::string stale = dir.path() + "/stale.sock";
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, stale.c_str());
	ASSERT_EQ(bind(s, (sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	int f = open((dir.path() + "/file.sock").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(f);

	gsn_device **list;
	int n = -1;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	ASSERT_EQ(n, 1);
	EXPECT_STREQ(gsn_get_device_name(list[0]), "gsn0");
	EXPECT_EQ(list[1], nullptr);
	gsn_free_device_list(list);
	{
		Env e("GSN_DEVICE", "nosuch");
		ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
		EXPECT_EQ(n, 0); // autostart is off: an empty list, not an error
		EXPECT_EQ(list[0], nullptr);
		gsn_free_device_list(list);
	}
	{
		Env e("GSN_DEVICE", "gsn0");
		ASSERT_EQ(gsn_get_device_list(&list, nullptr), 0);
		ASSERT_NE(list[0], nullptr);
		EXPECT_STREQ(gsn_get_device_name(list[0]), "gsn0");
		gsn_free_device_list(list);
	}
	unlink(stale.c_str());
	unlink((dir.path() + "/file.sock").c_str());
}

TEST_F(LibgsnApi, QueryDeviceAndPort)
{
	gsn_device_attr a;
	ASSERT_EQ(gsn_query_device(ctx, &a), 0);
	EXPECT_STREQ(a.name, "gsn0");
	EXPECT_STREQ(a.fw_ver, "fake-1");
	EXPECT_EQ(a.node_guid, 0x020000000001ull);
	EXPECT_EQ(a.ula[0], 2);
	EXPECT_EQ(a.ula[5], 1);
	EXPECT_EQ(a.phys_port_cnt, 1);
	EXPECT_EQ(a.abi_version, GSN_DEV_ABI_VERSION);
	EXPECT_EQ(a.max_sge, GSN_MAX_SGE);
	EXPECT_EQ(a.max_inline, GSN_MAX_INLINE);
	EXPECT_EQ(a.max_msg_size, 1ull << 31);
	EXPECT_STREQ(ctx->name, "gsn0");

	gsn_port_attr p;
	ASSERT_EQ(gsn_query_port(ctx, 1, &p), 0);
	EXPECT_EQ(p.state, GSN_PORT_ACTIVE);
	EXPECT_EQ(p.link_rate_mbps, 6400u);
	EXPECT_EQ(p.active_mtu, 65536u);
	EXPECT_EQ(p.ula[5], 1);
	EXPECT_EQ(gsn_query_port(ctx, 2, &p), -EINVAL);
	EXPECT_EQ(dev->count(GSN_DEV_CMD_OPEN), 1u);
}

class LibgsnAbiMismatch : public FakeDevTest {
	void configure(fake::Options &o) override { o.abi_version = GSN_DEV_ABI_VERSION + 1; }
};

TEST_F(LibgsnAbiMismatch, OpenRefusesAnotherAbiVersion)
{
	gsn_device **list;
	int n;
	gsn_context *ctx = nullptr;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(gsn_open_device(list[0], &ctx), -EPROTO);
	EXPECT_EQ(ctx, nullptr);
	gsn_free_device_list(list);
}

// ---- PDs and MRs ----

TEST_F(LibgsnApi, RegMrChecksAccessAndKeepsKeys)
{
	static uint8_t buf[4096];
	gsn_mr *mr = nullptr, *mr2 = nullptr;

	EXPECT_EQ(gsn_reg_mr(pd, buf, sizeof(buf), GSN_ACCESS_REMOTE_WRITE, 0, &mr), -EINVAL);
	EXPECT_EQ(gsn_reg_mr(pd, buf, sizeof(buf), GSN_ACCESS_REMOTE_ATOMIC, 0, &mr), -EINVAL);
	EXPECT_EQ(gsn_reg_mr(pd, buf, sizeof(buf), 0x100, 0, &mr), -EINVAL);
	EXPECT_EQ(gsn_reg_mr(pd, nullptr, 10, 0, 0, &mr), -EINVAL);
	ASSERT_EQ(gsn_reg_mr(pd, buf, sizeof(buf),
			     GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ,
			     0, &mr),
		  0);
	EXPECT_EQ(mr->addr, buf);
	EXPECT_EQ(mr->length, sizeof(buf));
	EXPECT_EQ(mr->pd, pd);
	EXPECT_NE(mr->lkey, 0u);
	EXPECT_GT(mr->rkey, 0xffffffffull); // 64-bit keys pass through whole
	// requested_key: a 64-bit pointer-like key, and a taken one refused by gsnd.
	uint64_t want = 0x7ffd12345678ull;
	ASSERT_EQ(gsn_reg_mr(pd, buf, 64, GSN_ACCESS_REMOTE_READ, want, &mr2), 0);
	EXPECT_EQ(mr2->rkey, want);
	gsn_mr *mr3 = nullptr;
	EXPECT_EQ(gsn_reg_mr(pd, buf, 64, GSN_ACCESS_REMOTE_READ, want, &mr3), -EEXIST);
	EXPECT_EQ(gsn_dealloc_pd(pd), -EBUSY);
	EXPECT_EQ(gsn_dereg_mr(mr), 0);
	EXPECT_EQ(gsn_dereg_mr(mr2), 0);
	EXPECT_EQ(gsn_dealloc_pd(pd), 0);
	pd = nullptr;
	EXPECT_EQ(dev->objects(), 0u);
}

// ---- CQs ----

TEST_F(LibgsnApi, PollReturnsCqesInOrderAndFreesRingSlots)
{
	gsn_cq *cq = make_cq(5);
	ASSERT_NE(cq, nullptr);
	EXPECT_EQ(cq->cqe, 8); // rounded up to a power of two
	gsn_wc wc[16];
	EXPECT_EQ(gsn_poll_cq(cq, 16, wc), 0);
	EXPECT_EQ(gsn_poll_cq(cq, -1, wc), -EINVAL);

	gsn_cqe e = cqe(1, GSN_WC_RDMA_READ, 0x99, GSN_WC_SUCCESS);
	e.byte_len = 4096;
	e.vendor_err = 7;
	e.src_qp = 0x55;
	e.imm_data = 0xdeadbeef;
	e.flags = GSN_WC_F_WITH_IMM;
	// The ring holds 8: the 9th is lost until libgsn consumes.
	for (int i = 0; i < 8; i++) {
		e.wr_id = (uint64_t)i;
		ASSERT_TRUE(dev->push_cqe(cq->handle, e));
	}
	EXPECT_FALSE(dev->push_cqe(cq->handle, e));
	ASSERT_EQ(gsn_poll_cq(cq, 3, wc), 3);
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(wc[i].wr_id, (uint64_t)i);
		EXPECT_EQ(wc[i].status, GSN_WC_SUCCESS);
		EXPECT_EQ(wc[i].opcode, GSN_WC_RDMA_READ);
		EXPECT_EQ(wc[i].byte_len, 4096u);
		EXPECT_EQ(wc[i].vendor_err, 7u);
		EXPECT_EQ(wc[i].qp_num, 0x99u);
		EXPECT_EQ(wc[i].src_qp, 0x55u);
		EXPECT_EQ(wc[i].imm_data, 0xdeadbeefu);
		EXPECT_EQ(wc[i].wc_flags, (unsigned)GSN_WC_WITH_IMM);
	}
	for (int i = 8; i < 11; i++) { // room again for three
		e.wr_id = (uint64_t)i;
		ASSERT_TRUE(dev->push_cqe(cq->handle, e));
	}
	EXPECT_FALSE(dev->push_cqe(cq->handle, e));
	ASSERT_EQ(gsn_poll_cq(cq, 16, wc), 8);
	for (int i = 0; i < 8; i++) {
		EXPECT_EQ(wc[i].wr_id, (uint64_t)(3 + i));
	}
	EXPECT_EQ(gsn_destroy_cq(cq), 0);
	EXPECT_EQ(dev->count(GSN_DEV_CMD_DESTROY_CQ), 1u);
}

class LibgsnWrap : public LibgsnApi {
	void configure(fake::Options &o) override { o.ring_start = 0xfffffff0u; }
};

TEST_F(LibgsnWrap, IndicesWrapAroundTwoToThe32)
{
	gsn_cq *cq = make_cq(4);
	ASSERT_NE(cq, nullptr);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	uint64_t next = 0, seen = 0;
	gsn_wc wc[4];
	static uint8_t buf[64];
	gsn_mr *mr;
	ASSERT_EQ(gsn_reg_mr(pd, buf, sizeof(buf), GSN_ACCESS_LOCAL_WRITE, 0, &mr), 0);
	// 40 rounds through 4-entry rings: the free-running indices pass 2^32.
	for (int round = 0; round < 40; round++) {
		gsn_sge sge = {(uint64_t)(uintptr_t)buf, 8, mr->lkey};
		gsn_send_wr wr{};
		wr.wr_id = next;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = GSN_WR_SEND;
		wr.send_flags = GSN_SEND_SIGNALED;
		gsn_send_wr *bad;
		ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
		gsn_recv_wr rw{};
		rw.wr_id = 1000 + next;
		rw.sg_list = &sge;
		rw.num_sge = 1;
		gsn_recv_wr *rbad;
		ASSERT_EQ(gsn_post_recv(qp, &rw, &rbad), 0);
		gsn_send_wqe w;
		ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
		EXPECT_EQ(w.wr_id, next);
		gsn_recv_wqe r;
		ASSERT_TRUE(dev->pop_recv(qp->qp_num, &r));
		EXPECT_EQ(r.wr_id, 1000 + next);
		ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(next, GSN_WC_SEND, qp->qp_num)));
		gsn_cqe re = cqe(1000 + next, GSN_WC_RECV, qp->qp_num);
		re.flags = GSN_WC_F_INLINE;
		re.byte_len = 1;
		re.inline_data[0] = (uint8_t)next;
		ASSERT_TRUE(dev->push_cqe(cq->handle, re));
		int n = gsn_poll_cq(cq, 4, wc);
		ASSERT_EQ(n, 2);
		EXPECT_EQ(wc[0].wr_id, next);
		EXPECT_EQ(wc[1].wr_id, 1000 + next);
		EXPECT_EQ(buf[0], (uint8_t)next);
		next++;
		seen += 2;
	}
	EXPECT_EQ(seen, 80u);
	EXPECT_EQ(gsn_destroy_qp(qp), 0);
	EXPECT_EQ(gsn_dereg_mr(mr), 0);
	EXPECT_EQ(gsn_destroy_cq(cq), 0);
}

class LibgsnBadCqLayout : public LibgsnApi {
	void configure(fake::Options &o) override { o.bad_cq_entry_size = 128; }
};

TEST_F(LibgsnBadCqLayout, CreateCqRefusesAForeignRingLayoutAndUndoesIt)
{
	gsn_cq *cq = nullptr;
	EXPECT_EQ(gsn_create_cq(ctx, 4, nullptr, nullptr, 0, &cq), -EPROTO);
	EXPECT_EQ(cq, nullptr);
	EXPECT_EQ(dev->count(GSN_DEV_CMD_DESTROY_CQ), 1u); // the half-made CQ is undone
}

class LibgsnCqOneFd : public LibgsnApi {
	void configure(fake::Options &o) override { o.cq_one_fd = true; }
};

TEST_F(LibgsnCqOneFd, CreateCqWantsExactlyTwoFds)
{
	gsn_cq *cq = nullptr;
	EXPECT_EQ(gsn_create_cq(ctx, 4, nullptr, nullptr, 0, &cq), -EPROTO);
	EXPECT_EQ(cq, nullptr);
}

TEST_F(LibgsnApi, CreateCqChecksArguments)
{
	gsn_cq *cq = nullptr;
	EXPECT_EQ(gsn_create_cq(ctx, 0, nullptr, nullptr, 0, &cq), -EINVAL);
	EXPECT_EQ(gsn_create_cq(ctx, 65537, nullptr, nullptr, 0, &cq), -EINVAL);
	EXPECT_EQ(cq, nullptr);
}

TEST_F(LibgsnApi, ReqNotifyArmsTheRing)
{
	gsn_comp_channel *ch;
	ASSERT_EQ(gsn_create_comp_channel(ctx, &ch), 0);
	gsn_cq *plain = make_cq(4);
	gsn_cq *cq = make_cq(4, ch);
	ASSERT_NE(cq, nullptr);
	EXPECT_EQ(gsn_req_notify_cq(plain, 0), -EINVAL); // no channel
	EXPECT_EQ(dev->cq_flags(cq->handle), 0u);
	EXPECT_EQ(gsn_req_notify_cq(cq, 1), 0);
	EXPECT_EQ(dev->cq_flags(cq->handle), GSN_RING_F_ARMED_SOLICITED);
	EXPECT_EQ(gsn_req_notify_cq(cq, 0), 0);
	EXPECT_EQ(dev->cq_flags(cq->handle), GSN_RING_F_ARMED | GSN_RING_F_ARMED_SOLICITED);
	EXPECT_EQ(gsn_destroy_cq(plain), 0);
	EXPECT_EQ(gsn_destroy_comp_channel(ch), -EBUSY);
	EXPECT_EQ(gsn_destroy_cq(cq), 0);
	EXPECT_EQ(gsn_destroy_comp_channel(ch), 0);
}

TEST_F(LibgsnApi, CompletionChannelReportsTheArmedCq)
{
	gsn_comp_channel *ch;
	ASSERT_EQ(gsn_create_comp_channel(ctx, &ch), 0);
	int tag1, tag2;
	gsn_cq *cq1 = make_cq(4, ch, &tag1);
	gsn_cq *cq2 = make_cq(4, ch, &tag2);
	ASSERT_NE(cq2, nullptr);
	EXPECT_EQ(ch->refcnt, 2);
	fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK);
	gsn_cq *got = nullptr;
	void *got_ctx = nullptr;
	EXPECT_EQ(gsn_get_cq_event(ch, &got, &got_ctx), -EAGAIN);

	// Not armed: a completion makes no event.
	ASSERT_TRUE(dev->push_cqe(cq2->handle, cqe(5, GSN_WC_SEND, 1)));
	EXPECT_EQ(gsn_get_cq_event(ch, &got, &got_ctx), -EAGAIN);
	// Armed for solicited only: a plain success makes none, an error does.
	ASSERT_EQ(gsn_req_notify_cq(cq2, 1), 0);
	ASSERT_TRUE(dev->push_cqe(cq2->handle, cqe(6, GSN_WC_SEND, 1)));
	EXPECT_EQ(gsn_get_cq_event(ch, &got, &got_ctx), -EAGAIN);
	ASSERT_TRUE(dev->push_cqe(cq2->handle, cqe(7, GSN_WC_SEND, 1, GSN_WC_REM_ACCESS_ERR)));
	pollfd p = {ch->fd, POLLIN, 0};
	EXPECT_EQ(poll(&p, 1, 1000), 1); // the channel's fd is pollable
	ASSERT_EQ(gsn_get_cq_event(ch, &got, &got_ctx), 0);
	EXPECT_EQ(got, cq2);
	EXPECT_EQ(got_ctx, &tag2);
	// One event per arming.
	ASSERT_TRUE(dev->push_cqe(cq2->handle, cqe(8, GSN_WC_SEND, 1, GSN_WC_REM_ACCESS_ERR)));
	EXPECT_EQ(gsn_get_cq_event(ch, &got, &got_ctx), -EAGAIN);
	EXPECT_EQ(gsn_destroy_cq(cq2), -EBUSY); // the event is not acknowledged
	gsn_ack_cq_events(cq2, 1);

	// The other CQ, blocking wait.
	fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) & ~O_NONBLOCK);
	ASSERT_EQ(gsn_req_notify_cq(cq1, 0), 0);
	ASSERT_TRUE(dev->push_cqe(cq1->handle, cqe(9, GSN_WC_SEND, 1)));
	ASSERT_EQ(gsn_get_cq_event(ch, &got, nullptr), 0);
	EXPECT_EQ(got, cq1);
	gsn_ack_cq_events(cq1, 1);
	gsn_wc wc[8];
	EXPECT_EQ(gsn_poll_cq(cq2, 8, wc), 4);
	EXPECT_EQ(gsn_poll_cq(cq1, 8, wc), 1);
	EXPECT_EQ(gsn_destroy_cq(cq1), 0);
	EXPECT_EQ(gsn_destroy_cq(cq2), 0);
	EXPECT_EQ(ch->refcnt, 0);
	EXPECT_EQ(gsn_destroy_comp_channel(ch), 0);
}

// ---- QPs ----

TEST_F(LibgsnApi, QpCreationModifyAndQuery)
{
	gsn_cq *cq = make_cq(16);
	gsn_qp_init_attr ia{};
	int qctx;
	gsn_qp *qp = nullptr;

	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = GSN_QPT_RC;
	ia.qp_context = &qctx;
	ia.cap.max_send_wr = 5;
	ia.cap.max_recv_wr = 3;
	ia.cap.max_send_sge = 2;
	ia.cap.max_recv_sge = 1;
	ia.cap.max_inline_data = 64;
	ia.cap.max_send_sge = 5;
	EXPECT_EQ(gsn_create_qp(pd, &ia, &qp), -EINVAL); // more SGEs than the device has
	ia.cap.max_send_sge = 2;
	ia.qp_type = (gsn_qp_type)3;
	EXPECT_EQ(gsn_create_qp(pd, &ia, &qp), -EINVAL);
	ia.qp_type = GSN_QPT_RC;
	ASSERT_EQ(gsn_create_qp(pd, &ia, &qp), 0);
	EXPECT_EQ(ia.cap.max_send_wr, 8u);
	EXPECT_EQ(ia.cap.max_recv_wr, 4u);
	EXPECT_EQ(ia.cap.max_inline_data, (uint32_t)GSN_MAX_INLINE);
	EXPECT_EQ(qp->state, GSN_QPS_RESET);
	EXPECT_EQ(qp->qp_context, &qctx);
	EXPECT_EQ(qp->send_cq, cq);
	EXPECT_NE(qp->qp_num, 0u);

	gsn_qp_attr a{};
	EXPECT_EQ(gsn_modify_qp(qp, &a, 0), -EINVAL);
	EXPECT_EQ(gsn_modify_qp(qp, &a, 0x100), -EINVAL);
	a.qp_state = GSN_QPS_RTS;
	EXPECT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE), -EINVAL); // gsnd: RESET -> RTS
	EXPECT_EQ(qp->state, GSN_QPS_RESET);
	to_rts(qp);
	EXPECT_EQ(qp->state, GSN_QPS_RTS);
	EXPECT_EQ(dev->qp_state(qp->qp_num), (uint32_t)GSN_QPS_RTS);

	gsn_qp_attr q;
	gsn_qp_init_attr qi;
	ASSERT_EQ(gsn_query_qp(qp, &q, &qi), 0);
	EXPECT_EQ(q.qp_state, GSN_QPS_RTS);
	EXPECT_EQ(q.qp_num, qp->qp_num);
	EXPECT_EQ(q.dest_qp_num, 0x77u);
	EXPECT_EQ(q.dest_ula[5], 9);
	EXPECT_EQ(q.qp_access_flags, (unsigned)GSN_ACCESS_REMOTE_WRITE);
	EXPECT_EQ(q.timeout_ms, 1500u);
	EXPECT_EQ(q.retry_cnt, 5u);
	EXPECT_NE(q.st_vc, 0u);
	EXPECT_EQ(q.cap.max_send_wr, 8u);
	EXPECT_EQ(qi.qp_context, &qctx);
	EXPECT_EQ(qi.cap.max_recv_wr, 4u);

	EXPECT_EQ(gsn_destroy_cq(cq), -EBUSY);
	EXPECT_EQ(gsn_dealloc_pd(pd), -EBUSY);
	EXPECT_EQ(gsn_destroy_qp(qp), 0);
	EXPECT_EQ(gsn_destroy_cq(cq), 0);
}

TEST_F(LibgsnApi, PostSendEncodesEveryOpcode)
{
	gsn_cq *cq = make_cq(64);
	gsn_qp *qp = make_qp(cq, 32, 4);
	ASSERT_NE(qp, nullptr);
	static uint8_t buf[256];
	gsn_send_wr wr{};
	gsn_send_wr *bad = nullptr;
	gsn_sge sge[4] = {{0x1000, 10, 1}, {0x2000, 20, 2}, {0x3000, 30, 3}, {0x4000, 40, 4}};

	wr.opcode = GSN_WR_SEND;
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), -EINVAL); // RESET
	EXPECT_EQ(bad, &wr);
	to_rts(qp);

	for (int op = GSN_WR_SEND; op <= GSN_WR_ATOMIC_FETCH_CLEAR; op++) {
		bool atomic = op >= GSN_WR_ATOMIC_CMP_AND_SWP;
		gsn_sge one = {(uint64_t)(uintptr_t)buf, 8, 7};
		wr = {};
		wr.wr_id = 0x1000 + (uint64_t)op;
		wr.opcode = (gsn_wr_opcode)op;
		wr.sg_list = atomic ? &one : sge;
		wr.num_sge = atomic ? 1 : 4;
		wr.send_flags = GSN_SEND_SIGNALED | GSN_SEND_FENCE | GSN_SEND_SOLICITED;
		wr.imm_data = 0xabcd0000u + (uint32_t)op;
		if (atomic) {
			wr.wr.atomic.remote_addr = 0x10000;
			wr.wr.atomic.rkey = 0x123456789abcull;
			wr.wr.atomic.compare_add = 11;
			wr.wr.atomic.swap = 22;
		} else {
			wr.wr.rdma.remote_addr = 0x20000;
			wr.wr.rdma.rkey = 0xfedcba987654ull;
		}
		ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0) << op;
		gsn_send_wqe w;
		ASSERT_TRUE(dev->pop_send(qp->qp_num, &w)) << op;
		EXPECT_EQ(w.wr_id, wr.wr_id);
		EXPECT_EQ(w.opcode, op);
		EXPECT_EQ(w.flags, GSN_WR_F_SIGNALED | GSN_WR_F_FENCE | GSN_WR_F_SOLICITED);
		EXPECT_EQ(w.inline_len, 0u);
		bool imm = op == GSN_WR_SEND_WITH_IMM || op == GSN_WR_RDMA_WRITE_WITH_IMM;
		EXPECT_EQ(w.imm_data, imm ? wr.imm_data : 0u) << op;
		bool rdma = op >= GSN_WR_RDMA_WRITE && op <= GSN_WR_RDMA_READ;
		EXPECT_EQ(w.remote_addr, rdma ? 0x20000u : atomic ? 0x10000u : 0u) << op;
		EXPECT_EQ(w.rkey, rdma ? 0xfedcba987654ull : atomic ? 0x123456789abcull : 0u) << op;
		bool cmp_add = op == GSN_WR_ATOMIC_CMP_AND_SWP || op == GSN_WR_ATOMIC_FETCH_AND_ADD;
		bool swap = op == GSN_WR_ATOMIC_CMP_AND_SWP || op == GSN_WR_ATOMIC_SWAP;
		EXPECT_EQ(w.compare_add, cmp_add ? 11u : 0u) << op;
		EXPECT_EQ(w.swap, swap ? 22u : 0u) << op;
		if (atomic) {
			EXPECT_EQ(w.num_sge, 1);
			EXPECT_EQ(w.sge[0].addr, (uint64_t)(uintptr_t)buf);
			EXPECT_EQ(w.sge[0].length, 8u);
		} else {
			ASSERT_EQ(w.num_sge, 4);
			for (int i = 0; i < 4; i++) {
				EXPECT_EQ(w.sge[i].addr, sge[i].addr);
				EXPECT_EQ(w.sge[i].length, sge[i].length);
				EXPECT_EQ(w.sge[i].lkey, sge[i].lkey);
			}
		}
		for (uint8_t b : w.reserved2) {
			ASSERT_EQ(b, 0);
		}
		EXPECT_EQ(w.ud_dest_qpn, 0u); // the UD fields stay clear on RC
		EXPECT_EQ(w.ud_qkey, 0u);
	}
}

TEST_F(LibgsnApi, UdQpEncodesDatagramsAndItsQkey)
{
	gsn_cq *cq = make_cq(16);
	gsn_qp_init_attr ia{};
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = GSN_QPT_UD;
	ia.cap.max_send_wr = 8;
	ia.cap.max_recv_wr = 8;
	ia.cap.max_send_sge = GSN_MAX_SGE;
	ia.cap.max_recv_sge = 1;
	ia.cap.max_inline_data = GSN_MAX_INLINE;
	gsn_qp *qp = nullptr, *rc = make_qp(cq, 4, 4);
	ASSERT_EQ(gsn_create_qp(pd, &ia, &qp), 0);
	EXPECT_EQ(qp->qp_type, GSN_QPT_UD);
	gsn_qp_attr a{};
	a.qp_state = GSN_QPS_INIT;
	a.qkey = 0x5eed;
	EXPECT_EQ(gsn_modify_qp(rc, &a, GSN_QP_STATE | GSN_QP_QKEY), -EINVAL); // RC: no qkey
	ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE | GSN_QP_QKEY), 0);
	a = {};
	a.qp_state = GSN_QPS_RTR; // no destination
	ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE), 0);
	a.qp_state = GSN_QPS_RTS;
	ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE), 0);
	gsn_qp_attr q{};
	gsn_qp_init_attr qi{};
	ASSERT_EQ(gsn_query_qp(qp, &q, &qi), 0);
	EXPECT_EQ(q.qkey, 0x5eedu);
	EXPECT_EQ(qi.qp_type, GSN_QPT_UD);

	gsn_sge sge[2] = {{0x1000, 60000, 1}, {0x2000, 5536, 2}}; // GSN_UD_MAX_PAYLOAD in all
	gsn_send_wr wr{};
	gsn_send_wr *bad = nullptr;
	wr.wr_id = 7;
	wr.opcode = GSN_WR_SEND_WITH_IMM;
	wr.imm_data = 0x1234;
	wr.sg_list = sge;
	wr.num_sge = 2;
	wr.send_flags = GSN_SEND_SIGNALED | GSN_SEND_SOLICITED;
	const uint8_t ula[6] = {2, 0, 0, 0, 0, 0x42};
	memcpy(wr.wr.ud.dest_ula, ula, 6);
	wr.wr.ud.remote_qpn = 0xabcdef;
	wr.wr.ud.remote_qkey = 0x5eed;
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	gsn_send_wqe w;
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	EXPECT_EQ(w.wr_id, 7u);
	EXPECT_EQ(w.opcode, GSN_WR_SEND_WITH_IMM);
	EXPECT_EQ(w.imm_data, 0x1234u);
	EXPECT_EQ(w.flags, GSN_WR_F_SIGNALED | GSN_WR_F_SOLICITED);
	EXPECT_EQ(memcmp(w.ud_dest_ula, ula, 6), 0);
	EXPECT_EQ(w.ud_reserved, 0u);
	EXPECT_EQ(w.ud_dest_qpn, 0xabcdefu);
	EXPECT_EQ(w.ud_qkey, 0x5eedu);
	EXPECT_EQ(w.remote_addr, 0u);
	EXPECT_EQ(w.rkey, 0u);
	ASSERT_EQ(w.num_sge, 2);
	EXPECT_EQ(w.sge[1].length, 5536u);
	for (uint8_t b : w.reserved2) {
		ASSERT_EQ(b, 0);
	}

	// inline works as on RC
	uint8_t data[16] = {1, 2, 3};
	gsn_sge isge = {(uint64_t)(uintptr_t)data, sizeof(data), 0};
	wr.opcode = GSN_WR_SEND;
	wr.sg_list = &isge;
	wr.num_sge = 1;
	wr.send_flags = GSN_SEND_INLINE;
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	EXPECT_EQ(w.inline_len, 16u);
	EXPECT_EQ(w.inline_data[2], 3);
	EXPECT_EQ(w.ud_dest_qpn, 0xabcdefu);

	// refused: more than GSN_UD_MAX_PAYLOAD, another opcode, a group or zero ULA
	wr.sg_list = sge;
	wr.num_sge = 2;
	wr.send_flags = 0;
	sge[1].length++;
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), -EINVAL);
	sge[1].length--;
	for (int op = GSN_WR_RDMA_WRITE; op <= GSN_WR_ATOMIC_FETCH_CLEAR; op++) {
		gsn_sge one = {0x1000, 8, 1};
		gsn_send_wr x = wr;
		x.opcode = (gsn_wr_opcode)op;
		x.sg_list = &one;
		x.num_sge = 1;
		EXPECT_EQ(gsn_post_send(qp, &x, &bad), -EINVAL) << op;
	}
	wr.wr.ud.dest_ula[0] = 3;
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), -EINVAL);
	memset(wr.wr.ud.dest_ula, 0, 6);
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), -EINVAL);
	EXPECT_FALSE(dev->pop_send(qp->qp_num, &w));
}

TEST_F(LibgsnApi, PostSendInlineCopiesTheDataAtPostTime)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 8, 4, /*sig_all*/ 1);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	uint8_t a[100], b[28];
	for (int i = 0; i < 100; i++)
		a[i] = (uint8_t)i;
	for (int i = 0; i < 28; i++)
		b[i] = (uint8_t)(200 + i);
	gsn_sge sge[2] = {{(uint64_t)(uintptr_t)a, 100, 0}, {(uint64_t)(uintptr_t)b, 28, 0}};
	gsn_send_wr wr{};
	gsn_send_wr *bad;
	wr.wr_id = 42;
	wr.opcode = GSN_WR_RDMA_WRITE;
	wr.sg_list = sge;
	wr.num_sge = 2;
	wr.send_flags = GSN_SEND_INLINE; // sq_sig_all adds SIGNALED
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	memset(a, 0xee, sizeof(a)); // the buffer may be reused at once
	gsn_send_wqe w;
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	EXPECT_EQ(w.flags, GSN_WR_F_INLINE | GSN_WR_F_SIGNALED);
	EXPECT_EQ(w.inline_len, 128u);
	EXPECT_EQ(w.num_sge, 0);
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(w.inline_data[i], (uint8_t)i);
	}
	for (int i = 0; i < 28; i++) {
		ASSERT_EQ(w.inline_data[100 + i], (uint8_t)(200 + i));
	}
}

TEST_F(LibgsnApi, PostSendRejectsBadRequestsAndPostsTheOnesBefore)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 8, 4);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	static uint8_t buf[256];
	gsn_sge sge[5];
	for (auto &s : sge)
		s = {(uint64_t)(uintptr_t)buf, 8, 1};
	auto try_one = [&](gsn_send_wr wr) {
		gsn_send_wr *bad = nullptr;
		int r = gsn_post_send(qp, &wr, &bad);
		EXPECT_TRUE(r == 0 || bad == &wr);
		return r;
	};
	gsn_send_wr base{};
	base.opcode = GSN_WR_SEND;
	base.sg_list = sge;
	base.num_sge = 1;

	gsn_send_wr w = base;
	w.num_sge = 5;
	EXPECT_EQ(try_one(w), -EINVAL); // more than max_send_sge
	w = base;
	w.num_sge = -1;
	EXPECT_EQ(try_one(w), -EINVAL);
	w = base;
	w.opcode = (gsn_wr_opcode)11;
	EXPECT_EQ(try_one(w), -EINVAL);
	w = base;
	w.send_flags = 0x80;
	EXPECT_EQ(try_one(w), -EINVAL);
	w = base;
	w.send_flags = GSN_SEND_INLINE;
	sge[0].length = 129;
	EXPECT_EQ(try_one(w), -EINVAL); // inline beyond 128
	sge[0].length = 8;
	w.opcode = GSN_WR_RDMA_READ;
	EXPECT_EQ(try_one(w), -EINVAL); // inline READ
	w = base;
	w.opcode = GSN_WR_ATOMIC_FETCH_AND_ADD;
	w.send_flags = GSN_SEND_INLINE;
	EXPECT_EQ(try_one(w), -EINVAL); // inline atomic
	w.send_flags = 0;
	w.wr.atomic.remote_addr = 0x1004;
	EXPECT_EQ(try_one(w), -EINVAL); // misaligned
	w.wr.atomic.remote_addr = 0x1008;
	sge[0].length = 4;
	EXPECT_EQ(try_one(w), -EINVAL); // operand not 8 bytes
	sge[0].length = 8;
	w.num_sge = 2;
	EXPECT_EQ(try_one(w), -EINVAL);
	w.num_sge = 1;
	EXPECT_EQ(try_one(w), 0);
	w = base;
	w.num_sge = 2;
	sge[0].length = 0x80000000u;
	sge[1].length = 0x80000000u;
	EXPECT_EQ(try_one(w), -EINVAL); // beyond max_msg_size
	sge[0].length = sge[1].length = 8;

	// A chain: good, bad, good -> the first is posted, bad_wr is the second.
	gsn_send_wr c1 = base, c2 = base, c3 = base;
	c1.wr_id = 1;
	c2.wr_id = 2;
	c2.num_sge = 9;
	c3.wr_id = 3;
	c1.next = &c2;
	c2.next = &c3;
	gsn_send_wr *bad = nullptr;
	EXPECT_EQ(gsn_post_send(qp, &c1, &bad), -EINVAL);
	EXPECT_EQ(bad, &c2);
	gsn_send_wqe q;
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &q)); // the atomic
	EXPECT_EQ(q.opcode, GSN_WR_ATOMIC_FETCH_AND_ADD);
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &q));
	EXPECT_EQ(q.wr_id, 1u);
	EXPECT_FALSE(dev->pop_send(qp->qp_num, &q));
}

TEST_F(LibgsnApi, SendSlotsFreeWhenTheirCompletionIsPolled)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	gsn_send_wr wr[8] = {};
	for (int i = 0; i < 8; i++) {
		wr[i].wr_id = (uint64_t)i;
		wr[i].opcode = GSN_WR_SEND;
		wr[i].next = i < 7 ? &wr[i + 1] : nullptr;
	}
	wr[1].send_flags = GSN_SEND_SIGNALED;
	wr[5].send_flags = GSN_SEND_SIGNALED;
	gsn_send_wr *bad = nullptr;
	EXPECT_EQ(gsn_post_send(qp, wr, &bad), -ENOMEM); // 0..3 fit
	EXPECT_EQ(bad, &wr[4]);
	// Consumed by gsnd is not enough: a slot is free once its completion
	// (or a later signaled one's) has been polled.
	gsn_send_wqe w;
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	EXPECT_EQ(gsn_post_send(qp, &wr[4], &bad), -ENOMEM);
	ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(1, GSN_WC_SEND, qp->qp_num)));
	EXPECT_EQ(gsn_post_send(qp, &wr[4], &bad), -ENOMEM); // not polled yet
	gsn_wc wc[4];
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 1);
	wr[5].next = nullptr;
	EXPECT_EQ(gsn_post_send(qp, &wr[4], &bad), 0); // 4 and 5: two slots
	EXPECT_EQ(gsn_post_send(qp, &wr[6], &bad), -ENOMEM);
	// An error completes an unsignaled request too: it frees just that one.
	ASSERT_TRUE(dev->pop_send(qp->qp_num, &w));
	EXPECT_EQ(w.wr_id, 2u);
	ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(2, GSN_WC_SEND, qp->qp_num, GSN_WC_REM_ACCESS_ERR)));
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 1);
	wr[6].next = nullptr;
	EXPECT_EQ(gsn_post_send(qp, &wr[6], &bad), 0);
	EXPECT_EQ(gsn_post_send(qp, &wr[7], &bad), -ENOMEM);
	// Outstanding: 3, 4, 5 (signaled), 6.  The next success frees 3..5.
	ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(5, GSN_WC_SEND, qp->qp_num)));
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 1);
	gsn_send_wr three[3] = {};
	three[0].next = &three[1];
	three[1].next = &three[2];
	EXPECT_EQ(gsn_post_send(qp, three, &bad), 0);
	EXPECT_EQ(gsn_post_send(qp, &wr[7], &bad), -ENOMEM);
	// A success completion with no signaled request outstanding frees
	// nothing (a device bug must not free slots still in use).
	ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(9, GSN_WC_SEND, qp->qp_num)));
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 1);
	EXPECT_EQ(gsn_post_send(qp, &wr[7], &bad), -ENOMEM);
}

TEST_F(LibgsnApi, DoorbellOnlyWhenGsndSleeps)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 8, 8);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	gsn_send_wr wr{};
	wr.opcode = GSN_WR_SEND;
	gsn_send_wr *bad;
	gsn_recv_wr rw{};
	gsn_recv_wr *rbad;

	// gsnd busy: publishing costs no system call.
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	ASSERT_EQ(gsn_post_recv(qp, &rw, &rbad), 0);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 0u);

	// gsnd asleep on the send queue: one kick, and the flag is taken.
	dev->set_flag(qp->qp_num, true, GSN_RING_F_NEED_WAKEUP, true);
	gsn_send_wr two[2] = {};
	two[0].opcode = two[1].opcode = GSN_WR_SEND;
	two[0].next = &two[1];
	ASSERT_EQ(gsn_post_send(qp, two, &bad), 0);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 1u); // one per call, not per WQE
	EXPECT_EQ(dev->qp_flags(qp->qp_num, true) & GSN_RING_F_NEED_WAKEUP, 0u);
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 0u);

	// The receive queue has its own flag.
	dev->set_flag(qp->qp_num, false, GSN_RING_F_NEED_WAKEUP, true);
	ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 0u);
	ASSERT_EQ(gsn_post_recv(qp, &rw, &rbad), 0);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 1u);
	EXPECT_EQ(dev->qp_flags(qp->qp_num, false) & GSN_RING_F_NEED_WAKEUP, 0u);
	// A failed post publishes nothing and rings nothing.
	dev->set_flag(qp->qp_num, true, GSN_RING_F_NEED_WAKEUP, true);
	wr.num_sge = 99;
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), -EINVAL);
	EXPECT_EQ(dev->take_doorbell(qp->qp_num), 0u);
	EXPECT_NE(dev->qp_flags(qp->qp_num, true) & GSN_RING_F_NEED_WAKEUP, 0u);
}

TEST_F(LibgsnApi, InlineReceiveIsScatteredIntoThePostedBuffers)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	gsn_recv_wr rw{};
	gsn_recv_wr *rbad = nullptr;
	EXPECT_EQ(gsn_post_recv(qp, &rw, &rbad), -EINVAL); // RESET
	EXPECT_EQ(rbad, &rw);
	to_rts(qp);
	uint8_t a[10], b[30], c[5];
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(c, 0, sizeof(c));
	gsn_sge s1[2] = {{(uint64_t)(uintptr_t)a, 10, 1}, {(uint64_t)(uintptr_t)b, 30, 1}};
	gsn_sge s2[1] = {{(uint64_t)(uintptr_t)c, 5, 1}};
	gsn_recv_wr r1{}, r2{};
	r1.wr_id = 11;
	r1.sg_list = s1;
	r1.num_sge = 2;
	r1.next = &r2;
	r2.wr_id = 12;
	r2.sg_list = s2;
	r2.num_sge = 1;
	ASSERT_EQ(gsn_post_recv(qp, &r1, &rbad), 0);
	gsn_recv_wqe w;
	ASSERT_TRUE(dev->pop_recv(qp->qp_num, &w));
	EXPECT_EQ(w.wr_id, 11u);
	ASSERT_EQ(w.num_sge, 2u);
	EXPECT_EQ(w.sge[1].addr, (uint64_t)(uintptr_t)b);
	EXPECT_EQ(w.sge[1].length, 30u);
	ASSERT_TRUE(dev->pop_recv(qp->qp_num, &w));

	gsn_cqe e = cqe(11, GSN_WC_RECV, qp->qp_num);
	e.flags = GSN_WC_F_INLINE | GSN_WC_F_WITH_IMM;
	e.imm_data = 77;
	e.byte_len = 20;
	for (int i = 0; i < 20; i++)
		e.inline_data[i] = (uint8_t)(i + 1);
	ASSERT_TRUE(dev->push_cqe(cq->handle, e));
	// The second receive (5 bytes) gets 6: a local length error, no copy.
	gsn_cqe e2 = cqe(12, GSN_WC_RECV, qp->qp_num);
	e2.flags = GSN_WC_F_INLINE;
	e2.byte_len = 6;
	memset(e2.inline_data, 0x55, 6);
	ASSERT_TRUE(dev->push_cqe(cq->handle, e2));
	gsn_wc wc[4];
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 2);
	EXPECT_EQ(wc[0].status, GSN_WC_SUCCESS);
	EXPECT_EQ(wc[0].opcode, GSN_WC_RECV);
	EXPECT_EQ(wc[0].byte_len, 20u);
	EXPECT_EQ(wc[0].wc_flags, (unsigned)GSN_WC_WITH_IMM);
	EXPECT_EQ(wc[0].imm_data, 77u);
	for (int i = 0; i < 10; i++) {
		EXPECT_EQ(a[i], i + 1);
	}
	for (int i = 0; i < 10; i++) {
		EXPECT_EQ(b[i], i + 11);
	}
	EXPECT_EQ(b[10], 0);
	EXPECT_EQ(wc[1].status, GSN_WC_LOC_LEN_ERR);
	EXPECT_EQ(c[0], 0);
}

TEST_F(LibgsnApi, ReceiveSlotsFreeOnlyWhenTheirCompletionIsPolled)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	uint8_t bufs[6][8] = {};
	gsn_sge sge[6];
	gsn_recv_wr rw[6] = {};
	for (int i = 0; i < 6; i++) {
		sge[i] = {(uint64_t)(uintptr_t)bufs[i], 8, 1};
		rw[i].wr_id = (uint64_t)i;
		rw[i].sg_list = &sge[i];
		rw[i].num_sge = 1;
		rw[i].next = i < 5 ? &rw[i + 1] : nullptr;
	}
	gsn_recv_wr *bad = nullptr;
	EXPECT_EQ(gsn_post_recv(qp, rw, &bad), -ENOMEM);
	EXPECT_EQ(bad, &rw[4]);
	gsn_recv_wqe w;
	ASSERT_TRUE(dev->pop_recv(qp->qp_num, &w));
	ASSERT_TRUE(dev->pop_recv(qp->qp_num, &w));
	rw[4].next = nullptr;
	EXPECT_EQ(gsn_post_recv(qp, &rw[4], &bad), -ENOMEM); // consumed, not completed
	// The first is flushed, the second carries data: it must land in bufs[1].
	ASSERT_TRUE(dev->push_cqe(cq->handle, cqe(0, GSN_WC_RECV, qp->qp_num, GSN_WC_WR_FLUSH_ERR)));
	gsn_cqe e = cqe(1, GSN_WC_RECV, qp->qp_num);
	e.flags = GSN_WC_F_INLINE;
	e.byte_len = 3;
	e.inline_data[0] = 9;
	e.inline_data[1] = 8;
	e.inline_data[2] = 7;
	ASSERT_TRUE(dev->push_cqe(cq->handle, e));
	gsn_wc wc[4];
	ASSERT_EQ(gsn_poll_cq(cq, 4, wc), 2);
	EXPECT_EQ(wc[0].status, GSN_WC_WR_FLUSH_ERR);
	EXPECT_EQ(bufs[0][0], 0);
	EXPECT_EQ(bufs[1][0], 9);
	EXPECT_EQ(bufs[1][2], 7);
	EXPECT_EQ(gsn_post_recv(qp, &rw[4], &bad), 0);
	rw[5].next = nullptr;
	EXPECT_EQ(gsn_post_recv(qp, &rw[5], &bad), 0);
	EXPECT_EQ(gsn_post_recv(qp, &rw[5], &bad), -ENOMEM);
	// RESET forgets the posted receives (gsnd drops them without completions).
	gsn_qp_attr a{};
	a.qp_state = GSN_QPS_RESET;
	ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE), 0);
	a.qp_state = GSN_QPS_INIT;
	ASSERT_EQ(gsn_modify_qp(qp, &a, GSN_QP_STATE), 0);
	rw[0].next = rw[1].next = rw[2].next = rw[3].next = nullptr;
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(gsn_post_recv(qp, &rw[i], &bad), 0) << i;
	}
}

// ---- async events ----

TEST_F(LibgsnApi, AsyncEventsNameTheirObjects)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	to_rts(qp);
	gsn_async_event ev;
	fcntl(ctx->async_fd, F_SETFL, fcntl(ctx->async_fd, F_GETFL) | O_NONBLOCK);
	EXPECT_EQ(gsn_get_async_event(ctx, &ev), -EAGAIN);

	ASSERT_EQ(dev->send_async(GSN_EVENT_COMM_EST, qp->handle), 1);
	pollfd p = {ctx->async_fd, POLLIN, 0};
	EXPECT_EQ(poll(&p, 1, 2000), 1);
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_COMM_EST);
	EXPECT_EQ(ev.element.qp, qp);

	// Events that arrive while a command waits are kept for later, in order.
	dev->send_async(GSN_EVENT_CQ_ERR, cq->handle);
	dev->send_async(GSN_EVENT_QP_FATAL, qp->handle);
	dev->send_async(GSN_EVENT_PORT_ERR, 0);
	usleep(20000);
	gsn_port_attr pa;
	ASSERT_EQ(gsn_query_port(ctx, 1, &pa), 0);
	EXPECT_EQ(qp->state, GSN_QPS_ERR); // QP_FATAL applies at once
	EXPECT_EQ(poll(&p, 1, 0), 1);     // and async_fd says so
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_CQ_ERR);
	EXPECT_EQ(ev.element.cq, cq);
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_QP_FATAL);
	EXPECT_EQ(ev.element.qp, qp);
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.event_type, GSN_EVENT_PORT_ERR);
	EXPECT_EQ(ev.element.port_num, 1);
	EXPECT_EQ(gsn_get_async_event(ctx, &ev), -EAGAIN);
	EXPECT_EQ(poll(&p, 1, 0), 0);

	// An event for an object already destroyed names none.
	dev->send_async(GSN_EVENT_COMM_EST, 9999);
	EXPECT_EQ(poll(&p, 1, 2000), 1);
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0);
	EXPECT_EQ(ev.element.qp, nullptr);
	// A QP in ERROR still takes work (it will be flushed).
	gsn_send_wr wr{};
	wr.opcode = GSN_WR_SEND;
	gsn_send_wr *bad;
	EXPECT_EQ(gsn_post_send(qp, &wr, &bad), 0);
}

TEST_F(LibgsnApi, GsndGoneIsOneDeviceFatalThenEconnreset)
{
	gsn_cq *cq = make_cq(8);
	gsn_qp *qp = make_qp(cq, 4, 4);
	gsn_comp_channel *ch;
	ASSERT_EQ(gsn_create_comp_channel(ctx, &ch), 0);
	ASSERT_NE(qp, nullptr);
	dev->drop_clients();
	gsn_async_event ev;
	ASSERT_EQ(gsn_get_async_event(ctx, &ev), 0); // blocking: it comes
	EXPECT_EQ(ev.event_type, GSN_EVENT_DEVICE_FATAL);
	EXPECT_EQ(gsn_get_async_event(ctx, &ev), -ECONNRESET);
	gsn_port_attr pa;
	EXPECT_EQ(gsn_query_port(ctx, 1, &pa), -ECONNRESET);
	gsn_pd *pd2;
	EXPECT_EQ(gsn_alloc_pd(ctx, &pd2), -ECONNRESET);
	// Destroying still frees the local halves.
	EXPECT_EQ(gsn_destroy_qp(qp), 0);
	EXPECT_EQ(gsn_destroy_cq(cq), 0);
	EXPECT_EQ(gsn_destroy_comp_channel(ch), 0);
	EXPECT_EQ(gsn_dealloc_pd(pd), 0);
	pd = nullptr;
}

TEST_F(LibgsnApi, CloseDeviceFreesWhatTheApplicationLeft)
{
	static uint8_t buf[64];
	gsn_mr *mr;
	gsn_comp_channel *ch;
	ASSERT_EQ(gsn_reg_mr(pd, buf, sizeof(buf), GSN_ACCESS_LOCAL_WRITE, 0, &mr), 0);
	ASSERT_EQ(gsn_create_comp_channel(ctx, &ch), 0);
	gsn_cq *cq = make_cq(8, ch);
	gsn_qp *qp = make_qp(cq, 4, 4);
	ASSERT_NE(qp, nullptr);
	EXPECT_EQ(dev->objects(), 4u);
	EXPECT_EQ(gsn_close_device(ctx), 0);
	ctx = nullptr;
	for (int i = 0; i < 400 && dev->objects(); i++)
		usleep(5000);
	EXPECT_EQ(dev->objects(), 0u); // gsnd freed them with the connection
}

} // namespace
