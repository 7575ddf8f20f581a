// SPDX-License-Identifier: MIT
//
// fi_msg_test.cc — untagged messages of the gsn provider between two RDM
// endpoints: eager and rendezvous sizes, inject, remote CQ data, iovs,
// unexpected messages, truncation, FI_SOURCE, ordering, counters and
// FI_DELIVERY_COMPLETE.
#include "fi_ep_fixture.h"

#include <algorithm>

#include <sys/wait.h>
#include <unistd.h>

using namespace gsnfi_test;

namespace {

class MsgTest : public PairTest {
protected:
	void SetUp() override { open_pair(); }

	// a sends len bytes to b; b receives into a buffer of rlen bytes.
	void exchange(size_t len, size_t rlen, uint32_t seed)
	{
		std::vector<uint8_t> src = pattern(len, seed);
		std::vector<uint8_t> dst(rlen + 16, 0xee);
		fi_cq_tagged_entry e;

		ASSERT_EQ(fi_recv(b.ep, dst.data(), rlen, nullptr, FI_ADDR_UNSPEC, &dst), 0);
		ASSERT_EQ(post_retry([&] { return fi_send(a.ep, src.data(), len, nullptr, a_to_b,
							  &src); },
				     nullptr),
			  0);
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		EXPECT_EQ(e.op_context, &src);
		EXPECT_TRUE(e.flags & FI_SEND);
		EXPECT_TRUE(e.flags & FI_MSG);
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1) << "len " << len;
		EXPECT_EQ(e.op_context, &dst);
		EXPECT_EQ(e.len, len);
		EXPECT_EQ(e.flags & (FI_RECV | FI_MSG), FI_RECV | FI_MSG);
		EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin())) << "len " << len;
		for (size_t i = len; i < dst.size(); i++) {
			if (dst[i] != 0xee) {
				ADD_FAILURE() << "byte " << i << " beyond the message written";
				break;
			}
		}
	}
};

TEST_F(MsgTest, SizesByteExact)
{
	size_t eager = eager_size();
	const size_t sizes[] = {0, 1, 64, 200, eager - 1, eager, eager + 1, 65536, 1 << 20,
				16 << 20};

	for (size_t len : sizes)
		exchange(len, len, (uint32_t)len);
}

TEST_F(MsgTest, BothDirections)
{
	std::vector<uint8_t> x = pattern(100, 1), y = pattern(100, 2);
	std::vector<uint8_t> rx(100), ry(100);
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_recv(a.ep, ry.data(), ry.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_recv(b.ep, rx.data(), rx.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	// both connect at once: the connection manager must settle on one QP pair
	ASSERT_EQ(fi_send(a.ep, x.data(), x.size(), nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(fi_send(b.ep, y.data(), y.size(), nullptr, b_to_a, nullptr), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	ASSERT_EQ(wait_cq(b.txcq, &e), 1);
	ASSERT_EQ(wait_cq(a.rxcq, &e), 1);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(rx, x);
	EXPECT_EQ(ry, y);
}

TEST_F(MsgTest, InjectReportsNothing)
{
	std::vector<uint8_t> src = pattern(48, 7);
	std::vector<uint8_t> dst(48);
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_recv(b.ep, dst.data(), dst.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_inject(a.ep, src.data(), src.size(), a_to_b), 0);
	src.assign(src.size(), 0); // the buffer is ours again at once
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(dst, pattern(48, 7));
	EXPECT_TRUE(cq_stays_empty(a.txcq, 100));
}

TEST_F(MsgTest, InjectTooLarge)
{
	std::vector<uint8_t> big(a.info->tx_attr->inject_size + 1);

	EXPECT_EQ(fi_inject(a.ep, big.data(), big.size(), a_to_b), -FI_EMSGSIZE);
}

TEST_F(MsgTest, SendDataCarriesRemoteCqData)
{
	char buf[16] = "hello";
	char rbuf[16] = {};
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_senddata(a.ep, buf, 6, nullptr, 0x1122334455667788ull, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_TRUE(e.flags & FI_REMOTE_CQ_DATA);
	EXPECT_EQ(e.data, 0x1122334455667788ull);
	EXPECT_STREQ(rbuf, "hello");
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);

	// and by injection, rendezvous size too
	std::vector<uint8_t> big = pattern(eager_size() * 3, 5), rbig(eager_size() * 3);
	ASSERT_EQ(fi_recv(b.ep, rbig.data(), rbig.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_senddata(a.ep, big.data(), big.size(), nullptr, 42, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_TRUE(e.flags & FI_REMOTE_CQ_DATA);
	EXPECT_EQ(e.data, 42u);
	EXPECT_EQ(rbig, big);
	ASSERT_EQ(fi_injectdata(a.ep, buf, 3, 7, a_to_b), 0);
	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.data, 7u);
	EXPECT_EQ(e.len, 3u);
}

TEST_F(MsgTest, IovsBothSides)
{
	size_t eager = eager_size();

	for (size_t total : {(size_t)90, eager * 4 + 3}) {
		std::vector<uint8_t> src = pattern(total, (uint32_t)total);
		size_t p1 = total / 3, p2 = total / 2;
		iovec siov[3] = {{src.data(), p1}, {src.data() + p1, p2 - p1},
				 {src.data() + p2, total - p2}};
		std::vector<uint8_t> d1(total / 4), d2(total - total / 4);
		iovec riov[2] = {{d1.data(), d1.size()}, {d2.data(), d2.size()}};
		fi_msg rmsg = {riov, nullptr, 2, FI_ADDR_UNSPEC, &d1, 0};
		fi_msg smsg = {siov, nullptr, 3, a_to_b, &src, 0};
		fi_cq_tagged_entry e;

		ASSERT_EQ(fi_recvmsg(b.ep, &rmsg, 0), 0);
		ASSERT_EQ(fi_sendmsg(a.ep, &smsg, FI_TRANSMIT_COMPLETE), 0);
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		EXPECT_EQ(e.len, total);
		std::vector<uint8_t> got(d1);
		got.insert(got.end(), d2.begin(), d2.end());
		EXPECT_EQ(got, src) << total;
	}
}

TEST_F(MsgTest, UnexpectedThousandThenReceives)
{
	const int n = 1000;
	std::vector<std::vector<uint8_t>> msgs;
	std::vector<fi_cq_tagged_entry> done;
	fi_cq_tagged_entry e;

	for (int i = 0; i < n; i++)
		msgs.push_back(pattern(16 + (i % 200), (uint32_t)i));
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(post_retry([&] { return fi_send(a.ep, msgs[i].data(), msgs[i].size(),
							  nullptr, a_to_b, nullptr); },
				     a.txcq, &done),
			  0);
	}
	while (done.size() < (size_t)n) {
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		done.push_back(e);
	}
	// every send completed before any receive was posted: all unexpected
	for (int i = 0; i < n; i++) {
		std::vector<uint8_t> buf(256);

		ASSERT_EQ(fi_recv(b.ep, buf.data(), buf.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		ASSERT_EQ(e.len, msgs[i].size()) << i;
		ASSERT_EQ(memcmp(buf.data(), msgs[i].data(), e.len), 0) << i;
	}
}

TEST_F(MsgTest, OrderOfThousandMixedSizes)
{
	const int n = 1000;
	size_t eager = eager_size();
	std::vector<std::vector<uint8_t>> rbufs(n);
	std::vector<fi_cq_tagged_entry> done;
	fi_cq_tagged_entry e;

	for (int i = 0; i < n; i++) {
		rbufs[i].resize(eager * 2);
		ASSERT_EQ(fi_recv(b.ep, rbufs[i].data(), rbufs[i].size(), nullptr, FI_ADDR_UNSPEC,
				  &rbufs[i]),
			  0);
	}
	std::vector<std::vector<uint8_t>> msgs(n);
	for (int i = 0; i < n; i++) {
		// every tenth one by rendezvous
		msgs[i] = pattern(i % 10 == 9 ? eager + 100 + i : 8 + i % 64, (uint32_t)i);
		memcpy(msgs[i].data(), &i, sizeof(i));
		ASSERT_EQ(post_retry([&] { return fi_send(a.ep, msgs[i].data(), msgs[i].size(),
							  nullptr, a_to_b, nullptr); },
				     a.txcq, &done),
			  0);
	}
	std::vector<size_t> len_of(n, SIZE_MAX);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		auto *rb = static_cast<std::vector<uint8_t> *>(e.op_context);
		len_of[rb - rbufs.data()] = e.len;
	}
	// Completions may come out of order (a rendezvous completes after
	// its read) but receives took the messages in sending order.
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(len_of[i], msgs[i].size()) << i;
		ASSERT_EQ(memcmp(rbufs[i].data(), msgs[i].data(), msgs[i].size()), 0) << i;
	}
	while (done.size() < (size_t)n) {
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		done.push_back(e);
	}
}

TEST_F(MsgTest, TruncationEagerAndRendezvous)
{
	for (size_t len : {(size_t)100, eager_size() * 2}) {
		std::vector<uint8_t> src = pattern(len, 3);
		std::vector<uint8_t> dst(len / 2);
		fi_cq_tagged_entry e;
		fi_cq_err_entry err;

		ASSERT_EQ(fi_recv(b.ep, dst.data(), dst.size(), nullptr, FI_ADDR_UNSPEC, &dst), 0);
		ASSERT_EQ(fi_send(a.ep, src.data(), len, nullptr, a_to_b, nullptr), 0);
		ASSERT_EQ(wait_cq(b.rxcq, &e, &err), -FI_EAVAIL);
		EXPECT_EQ(err.err, FI_ETRUNC);
		EXPECT_EQ(err.op_context, &dst);
		EXPECT_EQ(err.len, len / 2);
		EXPECT_EQ(err.olen, len - len / 2);
		EXPECT_EQ(memcmp(dst.data(), src.data(), dst.size()), 0);
		// the sender's side is not an error
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	}
}

TEST_F(MsgTest, SourceAddress)
{
	char buf[8] = "x", rbuf[8];
	fi_cq_tagged_entry e;
	fi_addr_t src = FI_ADDR_UNSPEC;

	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_send(a.ep, buf, 2, nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(src, b_to_a);
}

TEST(MsgSourceTest, SenderNotInAv)
{
	Peer a, b;
	char buf[8] = "x", rbuf[8];
	fi_cq_tagged_entry e;
	fi_addr_t src = 0;

	ASSERT_EQ(a.open(), 0);
	ASSERT_EQ(b.open(), 0);
	fi_addr_t a_to_b = a.insert(b); // b does not know a
	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_send(a.ep, buf, 2, nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(src, FI_ADDR_NOTAVAIL);
	EXPECT_STREQ(rbuf, "x");
}

// An endpoint sending to its own address (MPI's self sends, SHMEM's puts
// to itself): messages eager and rendezvous, tagged, delivery complete,
// RMA and atomics.
TEST(MsgSelfTest, ToOurOwnAddress)
{
	Peer p;
	ASSERT_EQ(p.open(), 0);
	fi_addr_t me = p.insert(p);
	ASSERT_NE(me, FI_ADDR_NOTAVAIL);
	fi_cq_tagged_entry e;
	fi_addr_t src = FI_ADDR_UNSPEC;

	for (size_t len : {(size_t)10, eager_size() * 3}) {
		std::vector<uint8_t> m = pattern(len, 1), r(len);
		ASSERT_EQ(fi_recv(p.ep, r.data(), len, nullptr, me, &r), 0);
		ASSERT_EQ(fi_send(p.ep, m.data(), len, nullptr, me, &m), 0);
		ASSERT_EQ(wait_cq(p.txcq, &e), 1);
		ASSERT_EQ(wait_cq(p.rxcq, &e, nullptr, kWaitMs, &src), 1);
		EXPECT_EQ(src, me);
		EXPECT_EQ(r, m);
		// tagged, unexpected, delivery complete
		iovec iov = {m.data(), len};
		fi_msg_tagged tm = {&iov, nullptr, 1, me, 5, 0, &m, 0};
		ASSERT_EQ(fi_tsendmsg(p.ep, &tm, FI_DELIVERY_COMPLETE), 0);
		EXPECT_TRUE(cq_stays_empty(p.txcq, 50));
		r.assign(len, 0);
		ASSERT_EQ(fi_trecv(p.ep, r.data(), len, nullptr, FI_ADDR_UNSPEC, 5, 0, &r), 0);
		ASSERT_EQ(wait_cq(p.rxcq, &e), 1);
		ASSERT_EQ(wait_cq(p.txcq, &e), 1);
		EXPECT_EQ(r, m);
	}
	std::vector<uint8_t> win(4096), src_buf = pattern(3000, 9);
	fid_mr *mr = p.reg(win.data(), win.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x55);
	ASSERT_NE(mr, nullptr);
	uint64_t base = (uint64_t)(uintptr_t)win.data();
	ASSERT_EQ(fi_write(p.ep, src_buf.data(), 3000, nullptr, me, base, fi_mr_key(mr), nullptr),
		  0);
	ASSERT_EQ(wait_cq(p.txcq, &e), 1);
	EXPECT_TRUE(std::equal(src_buf.begin(), src_buf.end(), win.begin()));
	uint64_t one = 1, old = 0;
	memset(win.data() + 3072, 0, 8);
	ASSERT_EQ(fi_fetch_atomic(p.ep, &one, 1, nullptr, &old, nullptr, me, base + 3072,
				  fi_mr_key(mr), FI_UINT64, FI_SUM, nullptr),
		  0);
	ASSERT_EQ(wait_cq(p.txcq, &e), 1);
	EXPECT_EQ(old, 0u);
	uint64_t now;
	memcpy(&now, win.data() + 3072, 8);
	EXPECT_EQ(now, 1u);
}

TEST(MsgAvTableTest, TableAddressing)
{
	Peer a, b;
	PeerOpts o;
	o.av_type = FI_AV_TABLE;
	ASSERT_EQ(a.open(o), 0);
	ASSERT_EQ(b.open(o), 0);
	fi_addr_t a_to_b = a.insert(b), b_to_a = b.insert(a);
	EXPECT_EQ(a_to_b, 0u); // FI_AV_TABLE: indexes from 0
	EXPECT_EQ(b_to_a, 0u);
	char rbuf[8];
	fi_cq_tagged_entry e;
	fi_addr_t src = FI_ADDR_UNSPEC;
	ASSERT_EQ(fi_recv(b.ep, rbuf, sizeof(rbuf), nullptr, b_to_a, nullptr), 0);
	ASSERT_EQ(fi_send(a.ep, "tbl", 4, nullptr, a_to_b, nullptr), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e, nullptr, kWaitMs, &src), 1);
	EXPECT_EQ(src, b_to_a);
	EXPECT_STREQ(rbuf, "tbl");
}

TEST_F(MsgTest, Counters)
{
	fid_cntr *sent, *recvd;
	Peer c, d; // fresh endpoints: counters bind before fi_enable
	PeerOpts o;
	o.enable = false;
	ASSERT_EQ(c.open(o), 0);
	ASSERT_EQ(d.open(o), 0);
	sent = c.counter();
	recvd = d.counter();
	ASSERT_NE(sent, nullptr);
	ASSERT_NE(recvd, nullptr);
	ASSERT_EQ(fi_ep_bind(c.ep, &sent->fid, FI_SEND), 0);
	ASSERT_EQ(fi_ep_bind(d.ep, &recvd->fid, FI_RECV), 0);
	ASSERT_EQ(c.enable(), 0);
	ASSERT_EQ(d.enable(), 0);
	fi_addr_t c_to_d = c.insert(d);
	std::vector<uint8_t> big = pattern(eager_size() * 2, 1), rbig(big.size());
	char buf[4] = "abc", rbuf[4];

	for (int i = 0; i < 5; i++)
		ASSERT_EQ(fi_recv(d.ep, rbuf, sizeof(rbuf), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	ASSERT_EQ(fi_recv(d.ep, rbig.data(), rbig.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(fi_send(c.ep, buf, 4, nullptr, c_to_d, nullptr), 0);
	for (int i = 0; i < 2; i++) // injects count, though they report nothing
		ASSERT_EQ(fi_inject(c.ep, buf, 4, c_to_d), 0);
	ASSERT_EQ(fi_send(c.ep, big.data(), big.size(), nullptr, c_to_d, nullptr), 0);
	EXPECT_TRUE(wait_cntr(sent, 6));
	EXPECT_TRUE(wait_cntr(recvd, 6));
	EXPECT_EQ(fi_cntr_read(sent), 6u);
	EXPECT_EQ(fi_cntr_read(recvd), 6u);
	EXPECT_EQ(fi_cntr_readerr(sent), 0u);
	EXPECT_EQ(rbig, big);
}

TEST_F(MsgTest, DeliveryCompleteWaitsForTheReceiver)
{
	for (size_t len : {(size_t)32, eager_size() * 2}) {
		std::vector<uint8_t> src = pattern(len, 9), dst(len);
		iovec iov = {src.data(), len};
		fi_msg msg = {&iov, nullptr, 1, a_to_b, &src, 0};
		fi_cq_tagged_entry e;

		ASSERT_EQ(fi_sendmsg(a.ep, &msg, FI_DELIVERY_COMPLETE), 0);
		// nothing is delivered while b has no receive posted
		EXPECT_TRUE(cq_stays_empty(a.txcq, 200)) << len;
		ASSERT_EQ(fi_recv(b.ep, dst.data(), len, nullptr, FI_ADDR_UNSPEC, nullptr), 0);
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		EXPECT_EQ(e.op_context, &src);
		ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
		EXPECT_EQ(dst, src);
	}
}

TEST_F(MsgTest, BadArguments)
{
	char buf[4];
	iovec iov[5] = {};
	fi_msg msg = {iov, nullptr, 5, a_to_b, nullptr, 0};

	EXPECT_EQ(fi_sendmsg(a.ep, &msg, 0), -FI_EINVAL); // beyond iov_limit
	EXPECT_EQ(fi_send(a.ep, buf, 1, nullptr, (fi_addr_t)12345, nullptr), -FI_EINVAL);
	EXPECT_EQ(fi_recvmsg(b.ep, &msg, 0), -FI_EINVAL);
}

// Two processes: a server child and this process exchange messages through
// the same gsnd, addresses passed over pipes.
TEST(MsgForkTest, PingPongAcrossProcesses)
{
	int to_child[2], to_parent[2];

	ASSERT_EQ(pipe(to_child), 0);
	ASSERT_EQ(pipe(to_parent), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		alarm(60);
		Peer s;
		std::vector<uint8_t> peer_name(16);
		int code = 0;

		if (s.open() || write(to_parent[1], s.name.data(), s.name.size()) != 16 ||
		    read(to_child[0], peer_name.data(), 16) != 16)
			_exit(2);
		fi_addr_t back = s.insert_name(peer_name);
		for (int i = 0; i < 100 && !code; i++) {
			std::vector<uint8_t> buf(i % 2 ? 100000 : 100);
			fi_cq_tagged_entry e;

			if (fi_recv(s.ep, buf.data(), buf.size(), nullptr, FI_ADDR_UNSPEC, nullptr) ||
			    wait_cq(s.rxcq, &e) != 1 || e.len != buf.size())
				code = 3;
			else if (fi_send(s.ep, buf.data(), buf.size(), nullptr, back, nullptr) ||
				 wait_cq(s.txcq, &e) != 1)
				code = 4;
		}
		s.close();
		_exit(code);
	}
	Peer c;
	std::vector<uint8_t> peer_name(16);
	ASSERT_EQ(c.open(), 0);
	ASSERT_EQ(read(to_parent[0], peer_name.data(), 16), 16);
	ASSERT_EQ(write(to_child[1], c.name.data(), c.name.size()), 16);
	fi_addr_t srv = c.insert_name(peer_name);
	for (int i = 0; i < 100; i++) {
		std::vector<uint8_t> out = pattern(i % 2 ? 100000 : 100, (uint32_t)i), in(out.size());
		fi_cq_tagged_entry e;

		ASSERT_EQ(fi_recv(c.ep, in.data(), in.size(), nullptr, FI_ADDR_UNSPEC, nullptr), 0);
		ASSERT_EQ(fi_send(c.ep, out.data(), out.size(), nullptr, srv, nullptr), 0);
		ASSERT_EQ(wait_cq(c.txcq, &e), 1);
		ASSERT_EQ(wait_cq(c.rxcq, &e), 1);
		ASSERT_EQ(in, out) << i;
	}
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]})
		close(fd);
}

} // namespace
