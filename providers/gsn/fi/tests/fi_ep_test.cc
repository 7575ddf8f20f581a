// SPDX-License-Identifier: MIT
//
// fi_ep_test.cc — the gsn provider's endpoint object and connection
// manager: fi_getname, binding and enabling rules, options, fi_control,
// unreachable peers, new incarnations, peers that die, many peers, closing
// with work outstanding; and untrusted input: a raw libgsn client that
// speaks the provider's CM and wire protocol sends it malformed datagrams
// and messages, which must be dropped without harm.
#include "fi_ep_fixture.h"

#include <sys/wait.h>
#include <unistd.h>

#include <endian.h>

#include <libgsn.h>

#include "gsn_fi_ep.h"

using namespace gsnfi_test;

namespace {

TEST(EpTest, GetnameSizes)
{
	Peer p;
	PeerOpts o;
	o.enable = false;
	ASSERT_EQ(p.open(o), 0);
	size_t len = 0;
	// the name is the UD QP made at fi_enable
	EXPECT_EQ(fi_getname(&p.ep->fid, nullptr, &len), -FI_EOPBADSTATE);
	ASSERT_EQ(p.enable(), 0);
	len = 0;
	EXPECT_EQ(fi_getname(&p.ep->fid, nullptr, &len), -FI_ETOOSMALL);
	EXPECT_EQ(len, sizeof(struct gsnfi_addr));
	uint8_t small[4];
	len = sizeof(small);
	EXPECT_EQ(fi_getname(&p.ep->fid, small, &len), -FI_ETOOSMALL);
	EXPECT_EQ(len, sizeof(struct gsnfi_addr));
	struct gsnfi_addr a;
	len = sizeof(a) + 8;
	ASSERT_EQ(fi_getname(&p.ep->fid, &a, &len), 0);
	EXPECT_EQ(len, sizeof(a));
	EXPECT_EQ(a.reserved, 0);
	EXPECT_NE(a.nonce, 0u);
	EXPECT_EQ(memcmp(&a, p.name.data(), sizeof(a)), 0);
	char text[GSNFI_ADDR_STRLEN];
	size_t tl = sizeof(text);
	EXPECT_NE(fi_av_straddr(p.av, &a, text, &tl), nullptr);
}

TEST(EpTest, EnableNeedsAvAndCompletions)
{
	Peer p;
	PeerOpts o;
	o.enable = false;
	ASSERT_EQ(p.open(o), 0);
	fid_ep *bare = nullptr;
	ASSERT_EQ(fi_endpoint(p.domain, p.info, &bare, nullptr), 0);
	EXPECT_EQ(fi_enable(bare), -FI_ENOAV);
	ASSERT_EQ(fi_ep_bind(bare, &p.av->fid, 0), 0);
	EXPECT_EQ(fi_enable(bare), -FI_ENOCQ);
	EXPECT_EQ(fi_ep_bind(bare, &p.av->fid, 0), -FI_EINVAL); // one AV
	EXPECT_EQ(fi_ep_bind(bare, &p.txcq->fid, 0), -FI_EBADFLAGS);
	EXPECT_EQ(fi_ep_bind(bare, &p.txcq->fid, FI_TRANSMIT | FI_TAGGED), -FI_EBADFLAGS);
	ASSERT_EQ(fi_ep_bind(bare, &p.txcq->fid, FI_TRANSMIT | FI_RECV), 0);
	EXPECT_EQ(fi_ep_bind(bare, &p.rxcq->fid, FI_RECV), -FI_EINVAL); // RECV taken
	ASSERT_EQ(fi_enable(bare), 0);
	EXPECT_EQ(fi_enable(bare), 0);
	EXPECT_EQ(fi_ep_bind(bare, &p.rxcq->fid, FI_RECV), -FI_EOPBADSTATE);
	// bound objects may not close under it
	EXPECT_EQ(fi_close(&p.av->fid), -FI_EBUSY);
	ASSERT_EQ(fi_close(&bare->fid), 0);
}

TEST(EpTest, OnlyRdm)
{
	Peer p;
	ASSERT_EQ(p.open(), 0);
	fi_info *info = fi_dupinfo(p.info);
	fid_ep *ep = nullptr;
	info->ep_attr->type = FI_EP_MSG;
	EXPECT_NE(fi_endpoint(p.domain, info, &ep, nullptr), 0);
	fi_freeinfo(info);
}

TEST(EpTest, OptionsAndControl)
{
	Peer p;
	ASSERT_EQ(p.open(), 0);
	size_t v = 0, vl = sizeof(v);
	EXPECT_EQ(fi_getopt(&p.ep->fid, FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &v, &vl),
		  -FI_ENOPROTOOPT);
	EXPECT_EQ(fi_setopt(&p.ep->fid, FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &v, sizeof(v)),
		  -FI_ENOPROTOOPT);
	EXPECT_EQ(fi_setname(&p.ep->fid, p.name.data(), p.name.size()), -FI_ENOSYS);
	EXPECT_EQ(fi_getpeer(p.ep, &v, &vl), -FI_ENOSYS);
	EXPECT_EQ(fi_connect(p.ep, p.name.data(), nullptr, 0), -FI_ENOSYS);
	EXPECT_EQ(fi_shutdown(p.ep, 0), -FI_ENOSYS);

	uint64_t flags = FI_TRANSMIT;
	ASSERT_EQ(fi_control(&p.ep->fid, FI_GETOPSFLAG, &flags), 0);
	flags = FI_TRANSMIT | FI_COMPLETION | FI_DELIVERY_COMPLETE;
	ASSERT_EQ(fi_control(&p.ep->fid, FI_SETOPSFLAG, &flags), 0);
	flags = FI_TRANSMIT;
	ASSERT_EQ(fi_control(&p.ep->fid, FI_GETOPSFLAG, &flags), 0);
	EXPECT_EQ(flags, FI_COMPLETION | FI_DELIVERY_COMPLETE);
	flags = FI_RECV | FI_COMPLETION;
	ASSERT_EQ(fi_control(&p.ep->fid, FI_SETOPSFLAG, &flags), 0);
	flags = FI_RECV;
	ASSERT_EQ(fi_control(&p.ep->fid, FI_GETOPSFLAG, &flags), 0);
	EXPECT_EQ(flags, FI_COMPLETION);
	flags = FI_RECV | FI_TRANSMIT;
	EXPECT_EQ(fi_control(&p.ep->fid, FI_GETOPSFLAG, &flags), -FI_EINVAL);
	EXPECT_EQ(fi_control(&p.ep->fid, FI_GETOPSFLAG, nullptr), -FI_EINVAL);
	EXPECT_EQ(fi_control(&p.ep->fid, FI_GETWAIT, &flags), -FI_ENOSYS);

	// fi_rx_size_left/fi_tx_size_left are deprecated wrappers of these slots
	EXPECT_GT(p.ep->ops->rx_size_left(p.ep), 0);
	EXPECT_GT(p.ep->ops->tx_size_left(p.ep), 0);
	int ctx;
	EXPECT_EQ(fi_cancel(&p.ep->fid, &ctx), -FI_ENOENT);
}

TEST(EpTest, UnreachablePeerFailsTheQueuedOps)
{
	Peer p;
	ASSERT_EQ(p.open(), 0);
	// a well-formed name nobody has: our device, a QP number not in use
	struct gsnfi_addr nobody;
	memcpy(&nobody, p.name.data(), sizeof(nobody));
	nobody.ud_qpn = htobe32(0x00fffff0);
	std::vector<uint8_t> n((uint8_t *)&nobody, (uint8_t *)&nobody + sizeof(nobody));
	fi_addr_t to = p.insert_name(n);
	ASSERT_NE(to, FI_ADDR_NOTAVAIL);
	char buf[32] = "x";
	std::vector<uint8_t> big(eager_size() * 2);
	int c1, c2;
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;

	ASSERT_EQ(fi_send(p.ep, buf, sizeof(buf), nullptr, to, &c1), 0);
	ASSERT_EQ(fi_send(p.ep, big.data(), big.size(), nullptr, to, &c2), 0);
	auto start = std::chrono::steady_clock::now();
	ASSERT_EQ(wait_cq(p.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EHOSTUNREACH);
	EXPECT_EQ(err.op_context, &c1);
	ASSERT_EQ(wait_cq(p.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EHOSTUNREACH);
	EXPECT_EQ(err.op_context, &c2);
	// FI_GSN_CONN_TIMEOUT_MS=3000 in these tests
	EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

TEST(EpTest, NewIncarnationOfAPeer)
{
	Peer a, b;
	ASSERT_EQ(a.open(), 0);
	ASSERT_EQ(b.open(), 0);
	fi_addr_t a_to_b = a.insert(b);
	b.insert(a);
	char buf[8] = "one", rbuf[8];
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;

	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_send(a.ep, buf, 4, nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);

	// b goes away and comes back as a new endpoint (maybe even the same QPN)
	std::vector<uint8_t> old_name = b.name;
	b.close();
	ASSERT_EQ(b.open(), 0);
	EXPECT_NE(b.name, old_name);
	// the new b reaches a (a drops what it had with the old b)
	fi_addr_t b_to_a = b.insert(a);
	ASSERT_EQ(fi_recv(a.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_send(b.ep, "two", 4, nullptr, b_to_a, nullptr), 0);
	ASSERT_EQ(wait_cq(b.txcq, &e), 1);
	ASSERT_EQ(wait_cq(a.rxcq, &e), 1);
	EXPECT_STREQ(rbuf, "two");
	// and a reaches the new b, but not the old one
	fi_addr_t a_to_new_b = a.insert(b);
	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_send(a.ep, "three", 6, nullptr, a_to_new_b, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_STREQ(rbuf, "three");
	ASSERT_EQ(fi_send(a.ep, "four", 5, nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_TRUE(err.err == FI_EHOSTUNREACH || err.err == FI_ECONNRESET ||
		    err.err == FI_ECANCELED)
		<< fi_strerror(err.err);
	EXPECT_TRUE(cq_stays_empty(b.rxcq, 50));
}

TEST(EpTest, PeerProcessDies)
{
	int to_parent[2], to_child[2];
	ASSERT_EQ(pipe(to_parent), 0);
	ASSERT_EQ(pipe(to_child), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		alarm(60);
		Peer s;
		char buf[8];
		fi_cq_tagged_entry e;

		if (s.open() || write(to_parent[1], s.name.data(), 16) != 16)
			_exit(2);
		if (fi_recv(s.ep, buf, sizeof(buf), nullptr, FI_ADDR_UNSPEC, nullptr) ||
		    wait_cq(s.rxcq, &e) != 1)
			_exit(3);
		if (read(to_child[0], buf, 1) != 1)
			_exit(4);
		_exit(0); // gone without closing anything
	}
	Peer c;
	std::vector<uint8_t> n(16);
	ASSERT_EQ(c.open(), 0);
	ASSERT_EQ(read(to_parent[0], n.data(), 16), 16);
	fi_addr_t to = c.insert_name(n);
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;
	ASSERT_EQ(fi_send(c.ep, "hi", 3, nullptr, to, nullptr), 0);
	ASSERT_EQ(wait_cq(c.txcq, &e), 1);
	// a receive posted for the peer's answer, then the peer dies
	char rbuf[8];
	ASSERT_EQ(fi_recv(c.ep, rbuf, sizeof(rbuf), nullptr, to, rbuf), 0);
	ASSERT_EQ(write(to_child[1], "x", 1), 1);
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EQ(WEXITSTATUS(status), 0);
	// sends to it fail, they do not hang
	std::vector<uint8_t> big(eager_size() * 4);
	ASSERT_EQ(fi_send(c.ep, big.data(), big.size(), nullptr, to, nullptr), 0);
	ASSERT_EQ(wait_cq(c.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_NE(err.err, 0);
	// our receive is still ours to cancel
	ASSERT_EQ(fi_cancel(&c.ep->fid, rbuf), 0);
	for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]})
		close(fd);
}

TEST(EpTest, ManyClientsOneServer)
{
	const int n = 6;
	Peer srv;
	Peer cl[n];
	ASSERT_EQ(srv.open(), 0);
	fi_addr_t to[n];
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(cl[i].open(), 0);
		to[i] = cl[i].insert(srv);
	}
	std::vector<std::vector<uint8_t>> rb(4 * n, std::vector<uint8_t>(eager_size() * 2));
	for (auto &r : rb)
		ASSERT_EQ(fi_recv(srv.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	// everyone connects at once, with eager and rendezvous sizes
	std::vector<uint8_t> small = pattern(100, 1), big = pattern(eager_size() * 2, 2);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < n; i++) {
			ASSERT_EQ(fi_send(cl[i].ep, small.data(), small.size(), nullptr, to[i],
					  nullptr),
				  0);
			ASSERT_EQ(fi_send(cl[i].ep, big.data(), big.size(), nullptr, to[i], nullptr),
				  0);
		}
	}
	fi_cq_tagged_entry e;
	size_t smalls = 0, bigs = 0;
	for (int i = 0; i < 4 * n; i++) {
		ASSERT_EQ(wait_cq(srv.rxcq, &e), 1);
		(e.len == small.size() ? smalls : bigs)++;
	}
	EXPECT_EQ(smalls, 2u * n);
	EXPECT_EQ(bigs, 2u * n);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			ASSERT_EQ(wait_cq(cl[i].txcq, &e), 1);
}

TEST(EpTest, CloseWithWorkOutstanding)
{
	Peer a, b;
	ASSERT_EQ(a.open(), 0);
	ASSERT_EQ(b.open(), 0);
	fi_addr_t a_to_b = a.insert(b);
	std::vector<uint8_t> big(eager_size() * 8), r(64);
	int ctx;
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;

	// b: a posted receive of another tag and an unexpected rendezvous
	ASSERT_EQ(fi_trecv(b.ep, r.data(), r.size(), nullptr, FI_ADDR_UNSPEC, 1, 0, &ctx), 0);
	ASSERT_EQ(fi_tsend(a.ep, big.data(), big.size(), nullptr, a_to_b, 2, &big), 0);
	ASSERT_EQ(fi_tsend(a.ep, "x", 2, nullptr, a_to_b, 3, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1); // the small one: b got it unexpected
	// a closes with the rendezvous still waiting for b: it is cancelled
	ASSERT_EQ(fi_close(&a.ep->fid), 0);
	a.ep = nullptr;
	ASSERT_EQ(wait_cq(a.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_ECANCELED);
	EXPECT_EQ(err.op_context, &big);
	// b closes with its receive posted: cancelled too
	ASSERT_EQ(fi_close(&b.ep->fid), 0);
	b.ep = nullptr;
	ASSERT_EQ(wait_cq(b.rxcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_ECANCELED);
	EXPECT_EQ(err.op_context, &ctx);
}

// ---- untrusted input: a raw libgsn client --------------------------------------------

class RawWireTest : public ::testing::Test {
protected:
	Peer p, good;
	fi_addr_t good_to_p = FI_ADDR_NOTAVAIL;
	struct gsnfi_addr paddr = {};
	struct gsnfi_addr me = {};

	gsn_device **devs = nullptr;
	gsn_context *ctx = nullptr;
	gsn_pd *pd = nullptr;
	gsn_cq *cq = nullptr;
	gsn_qp *ud = nullptr, *rc = nullptr;
	std::vector<uint8_t> mem = std::vector<uint8_t>(1 << 16);
	gsn_mr *mr = nullptr;
	uint32_t p_rc_qpn = 0;

	void SetUp() override
	{
		ASSERT_EQ(p.open(), 0);
		ASSERT_EQ(good.open(), 0);
		good_to_p = good.insert(p);
		memcpy(&paddr, p.name.data(), sizeof(paddr));

		int num = 0;
		ASSERT_EQ(gsn_get_device_list(&devs, &num), 0);
		ASSERT_GE(num, 1);
		ASSERT_EQ(gsn_open_device(devs[0], &ctx), 0);
		ASSERT_EQ(gsn_alloc_pd(ctx, &pd), 0);
		ASSERT_EQ(gsn_create_cq(ctx, 256, nullptr, nullptr, 0, &cq), 0);
		ASSERT_EQ(gsn_reg_mr(pd, mem.data(), mem.size(), GSN_ACCESS_LOCAL_WRITE, 0, &mr), 0);
		gsn_qp_init_attr ia = {};
		ia.send_cq = ia.recv_cq = cq;
		ia.cap.max_send_wr = 64;
		ia.cap.max_recv_wr = 64;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		ia.cap.max_inline_data = 128;
		ia.qp_type = GSN_QPT_UD;
		ia.sq_sig_all = 1;
		ASSERT_EQ(gsn_create_qp(pd, &ia, &ud), 0);
		gsn_qp_attr at = {};
		at.qp_state = GSN_QPS_INIT;
		at.qkey = GSNFI_UD_QKEY;
		ASSERT_EQ(gsn_modify_qp(ud, &at, GSN_QP_STATE | GSN_QP_QKEY), 0);
		at.qp_state = GSN_QPS_RTR;
		ASSERT_EQ(gsn_modify_qp(ud, &at, GSN_QP_STATE), 0);
		at.qp_state = GSN_QPS_RTS;
		ASSERT_EQ(gsn_modify_qp(ud, &at, GSN_QP_STATE), 0);
		gsn_device_attr da;
		ASSERT_EQ(gsn_query_device(ctx, &da), 0);
		memcpy(me.ula, da.ula, 6);
		me.ud_qpn = htobe32(ud->qp_num);
		me.nonce = htobe32(0x1234);
		// receive buffers: UD in the first half, RC in the second
		for (int i = 0; i < 16; i++)
			post_recv(ud, (size_t)i * 512, 512);
	}

	void TearDown() override
	{
		if (rc)
			gsn_destroy_qp(rc);
		if (ud)
			gsn_destroy_qp(ud);
		if (mr)
			gsn_dereg_mr(mr);
		if (cq)
			gsn_destroy_cq(cq);
		if (pd)
			gsn_dealloc_pd(pd);
		if (ctx)
			gsn_close_device(ctx);
		if (devs)
			gsn_free_device_list(devs);
	}

	void post_recv(gsn_qp *qp, size_t off, uint32_t len)
	{
		gsn_sge sge = {(uint64_t)(uintptr_t)(mem.data() + off), len, mr->lkey};
		gsn_recv_wr wr = {};
		gsn_recv_wr *bad;
		wr.wr_id = off;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		ASSERT_EQ(gsn_post_recv(qp, &wr, &bad), 0);
	}

	// One send on qp (UD: to p's UD QP); waits for its completion.
	void send(gsn_qp *qp, const void *data, size_t len)
	{
		ASSERT_LE(len, 4096u);
		memcpy(mem.data() + 60000, data, len);
		gsn_sge sge = {(uint64_t)(uintptr_t)(mem.data() + 60000), (uint32_t)len, mr->lkey};
		gsn_send_wr wr = {};
		gsn_send_wr *bad;
		wr.wr_id = 1;
		wr.sg_list = &sge;
		wr.num_sge = len ? 1 : 0;
		wr.opcode = GSN_WR_SEND;
		wr.send_flags = GSN_SEND_SIGNALED;
		if (qp == ud) {
			memcpy(wr.wr.ud.dest_ula, paddr.ula, 6);
			wr.wr.ud.remote_qpn = be32toh(paddr.ud_qpn);
			wr.wr.ud.remote_qkey = GSNFI_UD_QKEY;
		}
		ASSERT_EQ(gsn_post_send(qp, &wr, &bad), 0);
		gsn_wc wc;
		ASSERT_TRUE(poll_one(&wc, true));
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS);
	}

	// Next completion (send side when want_send, else receive side).
	bool poll_one(gsn_wc *wc, bool want_send, int timeout_ms = 10000)
	{
		auto deadline = std::chrono::steady_clock::now() +
				std::chrono::milliseconds(timeout_ms);
		while (std::chrono::steady_clock::now() < deadline) {
			int n = gsn_poll_cq(cq, 1, wc);
			if (n < 0)
				return false;
			if (n == 1 && (wc->opcode < GSN_WC_RECV) == want_send)
				return true;
			if (n == 1 && wc->opcode >= GSN_WC_RECV)
				stash.push_back(*wc);
			if (!want_send && !stash.empty()) {
				*wc = stash.front();
				stash.erase(stash.begin());
				return true;
			}
		}
		return false;
	}
	std::vector<gsn_wc> stash;

	struct gsnfi_cm_msg cm(uint8_t type, uint32_t rc_qpn, uint32_t conn_id)
	{
		struct gsnfi_cm_msg m = {};
		m.magic = htobe32(GSNFI_CM_MAGIC);
		m.version = GSNFI_CM_VERSION;
		m.type = type;
		m.src = me;
		m.dst = paddr;
		m.src_rc_qpn = htobe32(rc_qpn);
		m.conn_id = htobe32(conn_id);
		return m;
	}

	// p still serves a well-behaved peer.
	void p_still_works()
	{
		char r[16] = {};
		fi_cq_tagged_entry e;
		ASSERT_EQ(fi_recv(p.ep, r, sizeof(r), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
		ASSERT_EQ(fi_send(good.ep, "alive", 6, nullptr, good_to_p, nullptr), 0);
		ASSERT_EQ(wait_cq(good.txcq, &e), 1);
		ASSERT_EQ(wait_cq(p.rxcq, &e), 1);
		EXPECT_STREQ(r, "alive");
	}

	// Connects a raw RC QP to p through p's CM; returns p's RC QPN.
	void connect_rc()
	{
		gsn_qp_init_attr ia = {};
		ia.send_cq = ia.recv_cq = cq;
		ia.cap.max_send_wr = 64;
		ia.cap.max_recv_wr = 64;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		ia.cap.max_inline_data = 128;
		ia.qp_type = GSN_QPT_RC;
		ia.sq_sig_all = 1;
		ASSERT_EQ(gsn_create_qp(pd, &ia, &rc), 0);
		gsn_qp_attr at = {};
		at.qp_state = GSN_QPS_INIT;
		at.qp_access_flags = GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ;
		ASSERT_EQ(gsn_modify_qp(rc, &at, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS), 0);
		for (int i = 0; i < 16; i++)
			post_recv(rc, 16384 + (size_t)i * 2048, 2048);
		struct gsnfi_cm_msg req = cm(GSNFI_CM_CONNREQ, rc->qp_num, 77);
		send(ud, &req, sizeof(req));
		gsn_wc wc;
		ASSERT_TRUE(poll_one(&wc, false));
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS);
		ASSERT_EQ(wc.byte_len, GSN_UD_HDR_LEN + sizeof(struct gsnfi_cm_msg));
		struct gsnfi_cm_msg rep;
		memcpy(&rep, mem.data() + wc.wr_id + GSN_UD_HDR_LEN, sizeof(rep));
		ASSERT_EQ(rep.type, GSNFI_CM_CONNREP);
		ASSERT_EQ(be32toh(rep.dst_rc_qpn), rc->qp_num);
		ASSERT_EQ(be32toh(rep.conn_id), 77u);
		p_rc_qpn = be32toh(rep.src_rc_qpn);
		at = {};
		at.qp_state = GSN_QPS_RTR;
		memcpy(at.dest_ula, paddr.ula, 6);
		at.dest_qp_num = p_rc_qpn;
		ASSERT_EQ(gsn_modify_qp(rc, &at, GSN_QP_STATE | GSN_QP_DEST), 0);
		at.qp_state = GSN_QPS_RTS;
		ASSERT_EQ(gsn_modify_qp(rc, &at, GSN_QP_STATE), 0);
	}

	static struct gsnfi_wire_hdr hdr(uint8_t op, uint16_t flags, uint64_t tag, uint64_t data,
					 uint64_t size)
	{
		struct gsnfi_wire_hdr h = {};
		h.op = op;
		h.version = GSNFI_WIRE_VERSION;
		h.flags = htole16(flags);
		h.tag = htole64(tag);
		h.data = htole64(data);
		h.size = htole64(size);
		return h;
	}
};

TEST_F(RawWireTest, MalformedDatagramsAreDropped)
{
	std::vector<uint8_t> junk = pattern(300, 1);
	struct gsnfi_cm_msg m;

	send(ud, junk.data(), 0);
	send(ud, junk.data(), 3);
	send(ud, junk.data(), sizeof(m));
	send(ud, junk.data(), 300); // longer than any CM message
	m = cm(GSNFI_CM_CONNREQ, 5, 1);
	m.magic = 0;
	send(ud, &m, sizeof(m));
	m = cm(GSNFI_CM_CONNREQ, 5, 1);
	m.version = 9;
	send(ud, &m, sizeof(m));
	m = cm(77, 5, 1);
	send(ud, &m, sizeof(m));
	m = cm(GSNFI_CM_CONNREQ, 5, 1);
	m.src.ud_qpn = htobe32(be32toh(m.src.ud_qpn) + 1); // not where it came from
	send(ud, &m, sizeof(m));
	m = cm(GSNFI_CM_CONNREQ, 5, 1);
	m.dst.nonce ^= 1; // for another incarnation
	send(ud, &m, sizeof(m));
	m = cm(GSNFI_CM_CONNREP, 5, 1); // an answer to nothing
	send(ud, &m, sizeof(m));
	m = cm(GSNFI_CM_CONNREQ, 5, 1);
	send(ud, &m, sizeof(m) - 1);
	// none of them got an answer
	gsn_wc wc;
	EXPECT_FALSE(poll_one(&wc, false, 200));
	p_still_works();
}

TEST_F(RawWireTest, DuplicateConnreqGetsTheSameAnswer)
{
	connect_rc();
	struct gsnfi_cm_msg req = cm(GSNFI_CM_CONNREQ, rc->qp_num, 77);
	send(ud, &req, sizeof(req));
	gsn_wc wc;
	ASSERT_TRUE(poll_one(&wc, false));
	struct gsnfi_cm_msg rep;
	memcpy(&rep, mem.data() + wc.wr_id + GSN_UD_HDR_LEN, sizeof(rep));
	EXPECT_EQ(rep.type, GSNFI_CM_CONNREP);
	EXPECT_EQ(be32toh(rep.src_rc_qpn), p_rc_qpn);
}

TEST_F(RawWireTest, MalformedMessagesAreDroppedAndTheConnectionLives)
{
	connect_rc();
	std::vector<uint8_t> junk = pattern(2000, 2);
	std::vector<std::vector<uint8_t>> bad;
	auto add = [&](const void *d, size_t len) {
		bad.emplace_back((const uint8_t *)d, (const uint8_t *)d + len);
	};
	// a header followed by zeros, for messages longer than a header
	auto add_hdr = [&](const struct gsnfi_wire_hdr &hh, size_t len) {
		std::vector<uint8_t> v(len < sizeof(hh) ? sizeof(hh) : len);
		memcpy(v.data(), &hh, sizeof(hh));
		v.resize(len);
		bad.push_back(v);
	};
	struct gsnfi_wire_hdr h;

	add(junk.data(), 1);
	add(junk.data(), 31);
	add(junk.data(), 2000);
	h = hdr(GSNFI_WOP_EAGER, 0, 0, 0, 10);
	h.version = 2;
	add(&h, sizeof(h));
	h = hdr(200, 0, 0, 0, 0);
	add(&h, sizeof(h));
	h = hdr(GSNFI_WOP_EAGER, 0, 0, 0, 10); // says 10 bytes, has none
	add(&h, sizeof(h));
	h = hdr(GSNFI_WOP_EAGER, GSNFI_WF_ACK, 0, 0, 0); // ack without its cookie
	add(&h, sizeof(h));
	h = hdr(GSNFI_WOP_EAGER, 0, 0, 0, UINT64_MAX);
	add(&h, sizeof(h));
	{
		struct gsnfi_wire_rts r = {};
		r.hdr = hdr(GSNFI_WOP_RTS, 0, 0, 0, 100);
		r.nseg = htole32(0);
		add(&r, offsetof(struct gsnfi_wire_rts, seg));
		r.nseg = htole32(5);
		add(&r, sizeof(r));
		r.nseg = htole32(2); // the segments do not add up
		r.seg[0].len = htole64(10);
		r.seg[1].len = htole64(10);
		add(&r, offsetof(struct gsnfi_wire_rts, seg) + 2 * sizeof(r.seg[0]));
		r.nseg = htole32(1); // wrapping sums
		r.hdr = hdr(GSNFI_WOP_RTS, 0, 0, 0, 0);
		r.seg[0].len = 0;
		add(&r, offsetof(struct gsnfi_wire_rts, seg) + sizeof(r.seg[0]));
	}
	h = hdr(GSNFI_WOP_FIN, 0, 0, 0x123456789ull, 0); // a cookie nobody has
	add(&h, sizeof(h));
	h = hdr(GSNFI_WOP_FIN, 0, 0, 0, 0);
	add_hdr(h, sizeof(h) + 1);
	h = hdr(GSNFI_WOP_NOTIFY, GSNFI_WF_WRITE | GSNFI_WF_READ, 0, 0, 0);
	add_hdr(h, sizeof(struct gsnfi_wire_notify));
	h = hdr(GSNFI_WOP_NOTIFY, 0, 0, 0, 0);
	add(&h, sizeof(h));
	h = hdr(GSNFI_WOP_ATOMIC_RESP, 0, 0, 42, 8);
	add(&h, sizeof(h)); // size says 8 result bytes, none there
	h = hdr(GSNFI_WOP_ATOMIC, 0, 0, 1, 1);
	add(&h, sizeof(h)); // shorter than an atomic request
	for (auto &b : bad)
		send(rc, b.data(), b.size());

	// atomics that make no sense are answered with an error, never applied
	struct {
		struct gsnfi_wire_atomic a;
		uint64_t v[2];
	} at = {};
	uint64_t target = 5;
	fid_mr *tmr = p.reg(&target, 8, FI_REMOTE_WRITE | FI_REMOTE_READ, 0x99);
	ASSERT_NE(tmr, nullptr);
	const struct {
		uint8_t op, dt, kind;
		uint64_t count;
		size_t payload;
		uint64_t key;
		int want;
	} cases[] = {
		{FI_SUM, FI_UINT64, 0, 1, 8, fi_mr_key(tmr) + 1, FI_EACCES},  // key
		{FI_SUM, 200, 0, 1, 8, fi_mr_key(tmr), FI_EOPNOTSUPP},       // datatype
		{FI_CSWAP, FI_UINT64, 0, 1, 8, fi_mr_key(tmr), FI_EOPNOTSUPP}, // kind
		{FI_SUM, FI_UINT64, 7, 1, 8, fi_mr_key(tmr), FI_EOPNOTSUPP},  // kind
		{FI_SUM, FI_UINT64, 0, 2, 8, fi_mr_key(tmr), FI_EINVAL},      // count
		{FI_SUM, FI_UINT64, 0, 0, 0, fi_mr_key(tmr), FI_EINVAL},      // count 0
		{FI_SUM, FI_UINT64, 0, 1ull << 62, 8, fi_mr_key(tmr), FI_EINVAL},
		{FI_SUM, FI_UINT64, 0, 2, 16, fi_mr_key(tmr), FI_EACCES},     // past the MR
	};
	uint64_t cookie = 1000;
	for (auto &c : cases) {
		at.a.hdr = hdr(GSNFI_WOP_ATOMIC, 0, 0, cookie, c.count);
		at.a.op = c.op;
		at.a.datatype = c.dt;
		at.a.kind = c.kind;
		at.a.addr = htole64((uint64_t)(uintptr_t)&target);
		at.a.key = htole64(c.key);
		at.v[0] = at.v[1] = 1;
		send(rc, &at, sizeof(at.a) + c.payload);
		gsn_wc wc;
		ASSERT_TRUE(poll_one(&wc, false));
		ASSERT_EQ(wc.status, GSN_WC_SUCCESS);
		struct gsnfi_wire_hdr r;
		ASSERT_EQ(wc.byte_len, sizeof(r));
		memcpy(&r, mem.data() + wc.wr_id, sizeof(r));
		EXPECT_EQ(r.op, GSNFI_WOP_ATOMIC_RESP);
		EXPECT_EQ(le64toh(r.data), cookie);
		EXPECT_EQ(le64toh(r.tag), (uint64_t)c.want) << "case " << cookie - 1000;
		post_recv(rc, wc.wr_id, 2048);
		cookie++;
	}
	EXPECT_EQ(target, 5u);

	// a good message after all that: p receives it on this connection
	char r[16] = {};
	fi_cq_tagged_entry e;
	fi_addr_t src = 0;
	ASSERT_EQ(fi_recv(p.ep, r, sizeof(r), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	struct {
		struct gsnfi_wire_hdr h;
		char text[6];
	} msg = {hdr(GSNFI_WOP_EAGER, 0, 0, 0, 6), "hello"};
	send(rc, &msg, sizeof(msg.h) + sizeof(msg.text));
	ASSERT_EQ(wait_cq(p.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_STREQ(r, "hello");
	EXPECT_EQ(src, FI_ADDR_NOTAVAIL); // we are in nobody's AV
	p_still_works();
}

TEST_F(RawWireTest, RendezvousWithABadKeyFailsTheReceive)
{
	connect_rc();
	char r[64];
	int ctx;
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;
	ASSERT_EQ(fi_recv(p.ep, r, sizeof(r), nullptr, FI_ADDR_UNSPEC, &ctx), 0);
	struct gsnfi_wire_rts rts = {};
	rts.hdr = hdr(GSNFI_WOP_RTS, 0, 0, 0, 64);
	rts.cookie = htole64(5);
	rts.nseg = htole32(1);
	rts.seg[0].addr = htole64((uint64_t)(uintptr_t)mem.data());
	rts.seg[0].len = htole64(64);
	rts.seg[0].rkey = htole64(0xdeadbeefull); // no such region
	send(rc, &rts, offsetof(struct gsnfi_wire_rts, seg) + sizeof(rts.seg[0]));
	ASSERT_EQ(wait_cq(p.rxcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.op_context, &ctx);
	EXPECT_EQ(err.err, FI_EACCES);
	p_still_works();
}

} // namespace
