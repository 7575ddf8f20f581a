// SPDX-License-Identifier: MIT
//
// fi_rma_test.cc — RMA of the gsn provider in both MR modes (virtual
// addresses with provider keys; offsets with user keys): write, read,
// writedata, inject_write, iovs, remote CQ data, remote counters
// (FI_RMA_EVENT), access errors and recovery after them.
#include "fi_ep_fixture.h"

#include <algorithm>

using namespace gsnfi_test;

namespace {

struct RmaMode {
	const char *name;
	uint64_t mr_mode;
};

class RmaTest : public PairTest, public ::testing::WithParamInterface<RmaMode> {
protected:
	static constexpr size_t kWin = 2 << 20;
	std::vector<uint8_t> win = std::vector<uint8_t>(kWin);
	fid_mr *win_mr = nullptr;
	uint64_t win_key = 0;

	bool virt() const { return GetParam().mr_mode & FI_MR_VIRT_ADDR; }

	void SetUp() override { open_with(0); }

	void open_with(uint64_t extra_caps)
	{
		PeerOpts o;
		int err = 0;

		o.mr_mode = GetParam().mr_mode;
		o.caps |= extra_caps;
		open_pair(o, o);
		ASSERT_EQ(b.info->domain_attr->mr_mode & (FI_MR_VIRT_ADDR | FI_MR_PROV_KEY),
			  GetParam().mr_mode & (FI_MR_VIRT_ADDR | FI_MR_PROV_KEY));
		win_mr = b.reg(win.data(), win.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x5150,
			       &err, extra_caps & FI_RMA_EVENT);
		ASSERT_NE(win_mr, nullptr) << fi_strerror(-err);
		win_key = fi_mr_key(win_mr);
		if (!(GetParam().mr_mode & FI_MR_PROV_KEY)) {
			ASSERT_EQ(win_key, 0x5150u);
		}
	}

	// The address a peer names for offset off of the window.
	uint64_t raddr(size_t off) const
	{
		return virt() ? (uint64_t)(uintptr_t)(win.data() + off) : (uint64_t)off;
	}

	int wait_tx(fi_cq_err_entry *err = nullptr)
	{
		fi_cq_tagged_entry e;

		return wait_cq(a.txcq, &e, err);
	}
};

TEST_P(RmaTest, WriteThenReadBack)
{
	for (size_t len : {(size_t)0, (size_t)1, (size_t)100, (size_t)8192, (size_t)1 << 20}) {
		std::vector<uint8_t> src = pattern(len, (uint32_t)len), back(len + 1, 0xcc);
		size_t off = 4096 + len % 7;

		ASSERT_EQ(fi_write(a.ep, src.data(), len, nullptr, a_to_b, raddr(off), win_key, &src),
			  0);
		ASSERT_EQ(wait_tx(), 1) << len;
		EXPECT_TRUE(std::equal(src.begin(), src.end(), win.begin() + (long)off)) << len;
		ASSERT_EQ(fi_read(a.ep, back.data(), len, nullptr, a_to_b, raddr(off), win_key, &back),
			  0);
		fi_cq_tagged_entry e;
		ASSERT_EQ(wait_cq(a.txcq, &e), 1);
		EXPECT_EQ(e.op_context, &back);
		EXPECT_TRUE(e.flags & FI_RMA);
		EXPECT_TRUE(e.flags & FI_READ);
		EXPECT_TRUE(std::equal(src.begin(), src.end(), back.begin())) << len;
		EXPECT_EQ(back[len], 0xcc);
	}
}

TEST_P(RmaTest, WriteDataRaisesRemoteCqData)
{
	std::vector<uint8_t> src = pattern(256, 1);
	fi_cq_tagged_entry e;

	ASSERT_EQ(fi_writedata(a.ep, src.data(), src.size(), nullptr, 0xfeedu, a_to_b, raddr(64),
			       win_key, nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.flags & (FI_REMOTE_CQ_DATA | FI_RMA | FI_REMOTE_WRITE),
		  FI_REMOTE_CQ_DATA | FI_RMA | FI_REMOTE_WRITE);
	EXPECT_EQ(e.data, 0xfeedu);
	EXPECT_EQ(e.len, 256u);
	EXPECT_TRUE(std::equal(src.begin(), src.end(), win.begin() + 64));
	// and injected
	ASSERT_EQ(fi_inject_writedata(a.ep, src.data(), 8, 0xbeefu, a_to_b, raddr(0), win_key), 0);
	ASSERT_EQ(wait_cq(b.rxcq, &e), 1);
	EXPECT_EQ(e.data, 0xbeefu);
}

TEST_P(RmaTest, InjectWriteIsOrderedBeforeARead)
{
	uint64_t v = 0x0102030405060708ull, back = 0;

	ASSERT_EQ(fi_inject_write(a.ep, &v, sizeof(v), a_to_b, raddr(128), win_key), 0);
	v = 0; // ours again
	ASSERT_EQ(fi_read(a.ep, &back, sizeof(back), nullptr, a_to_b, raddr(128), win_key, nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_EQ(back, 0x0102030405060708ull);
	EXPECT_TRUE(cq_stays_empty(a.txcq, 50)); // the inject reported nothing
}

TEST_P(RmaTest, MsgWithIovsAndDeliveryComplete)
{
	std::vector<uint8_t> p1 = pattern(1000, 1), p2 = pattern(70000, 2);
	iovec iov[2] = {{p1.data(), p1.size()}, {p2.data(), p2.size()}};
	fi_rma_iov rma = {raddr(10), p1.size() + p2.size(), win_key};
	fi_msg_rma msg = {iov, nullptr, 2, a_to_b, &rma, 1, &p1, 0};

	ASSERT_EQ(fi_writemsg(a.ep, &msg, FI_DELIVERY_COMPLETE), 0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_TRUE(std::equal(p1.begin(), p1.end(), win.begin() + 10));
	EXPECT_TRUE(std::equal(p2.begin(), p2.end(), win.begin() + 1010));
	std::vector<uint8_t> r1(500), r2(p1.size() + p2.size() - 500);
	iovec riov[2] = {{r1.data(), r1.size()}, {r2.data(), r2.size()}};
	fi_msg_rma rmsg = {riov, nullptr, 2, a_to_b, &rma, 1, &r1, 0};
	ASSERT_EQ(fi_readmsg(a.ep, &rmsg, 0), 0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_TRUE(std::equal(r1.begin(), r1.end(), win.begin() + 10));
	EXPECT_TRUE(std::equal(r2.begin(), r2.end(), win.begin() + 510));
}

TEST_P(RmaTest, RegisteredLocalBuffer)
{
	std::vector<uint8_t> src = pattern(50000, 3), dst(50000);
	fid_mr *smr = a.reg(src.data(), src.size(), FI_WRITE | FI_READ, 0x77);
	fid_mr *dmr = a.reg(dst.data(), dst.size(), FI_WRITE | FI_READ, 0x78);
	ASSERT_NE(smr, nullptr);
	ASSERT_NE(dmr, nullptr);

	ASSERT_EQ(fi_write(a.ep, src.data(), src.size(), fi_mr_desc(smr), a_to_b, raddr(0),
			   win_key, nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
	ASSERT_EQ(fi_read(a.ep, dst.data(), dst.size(), fi_mr_desc(dmr), a_to_b, raddr(0), win_key,
			  nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_EQ(dst, src);
}

TEST_P(RmaTest, WrongKeyThenRecovery)
{
	uint64_t v = 1;
	fi_cq_err_entry err;

	ASSERT_EQ(fi_write(a.ep, &v, sizeof(v), nullptr, a_to_b, raddr(0), win_key + 1000, &v), 0);
	ASSERT_EQ(wait_tx(&err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	EXPECT_EQ(err.op_context, &v);
	// a later operation gets through (on a new connection)
	v = 0x4242;
	ASSERT_EQ(fi_write(a.ep, &v, sizeof(v), nullptr, a_to_b, raddr(8), win_key, nullptr), 0);
	ASSERT_EQ(wait_tx(), 1);
	uint64_t got;
	memcpy(&got, win.data() + 8, 8);
	EXPECT_EQ(got, 0x4242u);
}

TEST_P(RmaTest, OutOfBoundsIsAnError)
{
	std::vector<uint8_t> src(64);
	fi_cq_err_entry err;

	ASSERT_EQ(fi_write(a.ep, src.data(), src.size(), nullptr, a_to_b, raddr(kWin - 32), win_key,
			   nullptr),
		  0);
	ASSERT_EQ(wait_tx(&err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	ASSERT_EQ(fi_read(a.ep, src.data(), src.size(), nullptr, a_to_b, raddr(kWin), win_key,
			  nullptr),
		  0);
	ASSERT_EQ(wait_tx(&err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	// the window's last bytes are fine
	ASSERT_EQ(fi_write(a.ep, src.data(), 32, nullptr, a_to_b, raddr(kWin - 32), win_key,
			   nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
}

TEST_P(RmaTest, ReadOnlyWindowRefusesWrites)
{
	std::vector<uint8_t> ro = pattern(4096, 4);
	fid_mr *mr = b.reg(ro.data(), ro.size(), FI_REMOTE_READ, 0x6160);
	uint64_t v = 0;
	fi_cq_err_entry err;

	ASSERT_NE(mr, nullptr);
	uint64_t at = virt() ? (uint64_t)(uintptr_t)ro.data() : 0;
	ASSERT_EQ(fi_read(a.ep, &v, 8, nullptr, a_to_b, at, fi_mr_key(mr), nullptr), 0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_EQ(memcmp(&v, ro.data(), 8), 0);
	ASSERT_EQ(fi_write(a.ep, &v, 8, nullptr, a_to_b, at, fi_mr_key(mr), nullptr), 0);
	ASSERT_EQ(wait_tx(&err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
}

INSTANTIATE_TEST_SUITE_P(
	Modes, RmaTest,
	::testing::Values(RmaMode{"VirtProvKey", FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED},
			  RmaMode{"OffsetUserKey", 0}),
	[](const ::testing::TestParamInfo<RmaMode> &i) { return std::string(i.param.name); });

// FI_RMA_EVENT: a counter bound to the target MR counts remote writes and
// reads; an endpoint counter bound with FI_REMOTE_WRITE counts them too.
class RmaEventTest : public RmaTest {
protected:
	void SetUp() override {}
};

TEST_P(RmaEventTest, TargetCountersCount)
{
	PeerOpts o;
	int err = 0;

	o.mr_mode = GetParam().mr_mode;
	o.caps |= FI_RMA_EVENT;
	o.enable = false;
	ASSERT_EQ(a.open(o), 0);
	ASSERT_EQ(b.open(o), 0);
	fid_cntr *ep_rw = b.counter();
	ASSERT_NE(ep_rw, nullptr);
	ASSERT_EQ(fi_ep_bind(b.ep, &ep_rw->fid, FI_REMOTE_WRITE), 0);
	ASSERT_EQ(a.enable(), 0);
	ASSERT_EQ(b.enable(), 0);
	a_to_b = a.insert(b);
	win_mr = b.reg(win.data(), win.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x5151, &err,
		       FI_RMA_EVENT);
	ASSERT_NE(win_mr, nullptr) << fi_strerror(-err);
	win_key = fi_mr_key(win_mr);
	fid_cntr *mr_w = b.counter();
	ASSERT_NE(mr_w, nullptr);
	ASSERT_EQ(fi_mr_bind(win_mr, &mr_w->fid, FI_REMOTE_WRITE), 0);
	ASSERT_EQ(fi_mr_enable(win_mr), 0);

	std::vector<uint8_t> src = pattern(3000, 5);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(fi_write(a.ep, src.data(), src.size(), nullptr, a_to_b, raddr(i * 3000),
				   win_key, nullptr),
			  0);
		ASSERT_EQ(wait_tx(), 1);
	}
	EXPECT_TRUE(wait_cntr(mr_w, 3));
	EXPECT_TRUE(wait_cntr(ep_rw, 3));
	EXPECT_EQ(fi_cntr_read(mr_w), 3u);
	// reads do not count as writes
	ASSERT_EQ(fi_read(a.ep, src.data(), 100, nullptr, a_to_b, raddr(0), win_key, nullptr), 0);
	ASSERT_EQ(wait_tx(), 1);
	ASSERT_EQ(fi_write(a.ep, src.data(), 100, nullptr, a_to_b, raddr(0), win_key, nullptr), 0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_TRUE(wait_cntr(mr_w, 4));
	EXPECT_EQ(fi_cntr_read(mr_w), 4u);
	EXPECT_TRUE(std::equal(src.begin(), src.begin() + 100, win.begin()));
}

TEST_P(RmaEventTest, ReadCounterCountsReadsOnly)
{
	PeerOpts o;

	o.mr_mode = GetParam().mr_mode;
	o.caps |= FI_RMA_EVENT;
	open_pair(o, o);
	win_mr = b.reg(win.data(), win.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x5153, nullptr,
		       FI_RMA_EVENT);
	ASSERT_NE(win_mr, nullptr);
	win_key = fi_mr_key(win_mr);
	fid_cntr *mr_r = b.counter();
	ASSERT_EQ(fi_mr_bind(win_mr, &mr_r->fid, FI_REMOTE_READ), 0);
	std::vector<uint8_t> buf(512);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(fi_read(a.ep, buf.data(), buf.size(), nullptr, a_to_b, raddr(0), win_key,
				  nullptr),
			  0);
		ASSERT_EQ(wait_tx(), 1);
	}
	ASSERT_EQ(fi_write(a.ep, buf.data(), buf.size(), nullptr, a_to_b, raddr(0), win_key,
			   nullptr),
		  0);
	ASSERT_EQ(wait_tx(), 1);
	ASSERT_EQ(fi_read(a.ep, buf.data(), 8, nullptr, a_to_b, raddr(0), win_key, nullptr), 0);
	ASSERT_EQ(wait_tx(), 1);
	EXPECT_TRUE(wait_cntr(mr_r, 3));
	EXPECT_EQ(fi_cntr_read(mr_r), 3u);
}

TEST_P(RmaEventTest, InitiatorCountersCount)
{
	PeerOpts o;

	o.mr_mode = GetParam().mr_mode;
	o.enable = false;
	ASSERT_EQ(a.open(o), 0);
	ASSERT_EQ(b.open(o), 0);
	fid_cntr *w = a.counter(), *r = a.counter();
	ASSERT_EQ(fi_ep_bind(a.ep, &w->fid, FI_WRITE), 0);
	ASSERT_EQ(fi_ep_bind(a.ep, &r->fid, FI_READ), 0);
	ASSERT_EQ(a.enable(), 0);
	ASSERT_EQ(b.enable(), 0);
	a_to_b = a.insert(b);
	win_mr = b.reg(win.data(), win.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x5152);
	ASSERT_NE(win_mr, nullptr);
	win_key = fi_mr_key(win_mr);
	uint64_t v = 5;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(fi_inject_write(a.ep, &v, 8, a_to_b, raddr(0), win_key), 0);
	ASSERT_EQ(fi_read(a.ep, &v, 8, nullptr, a_to_b, raddr(0), win_key, nullptr), 0);
	EXPECT_TRUE(wait_cntr(w, 4));
	EXPECT_TRUE(wait_cntr(r, 1));
	// an error counts as an error
	ASSERT_EQ(fi_inject_write(a.ep, &v, 8, a_to_b, raddr(0), win_key + 77), 0);
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
	while (fi_cntr_readerr(w) == 0 && std::chrono::steady_clock::now() < deadline)
		fi_cntr_read(w);
	EXPECT_EQ(fi_cntr_readerr(w), 1u);
}

INSTANTIATE_TEST_SUITE_P(
	Modes, RmaEventTest,
	::testing::Values(RmaMode{"VirtProvKey", FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED},
			  RmaMode{"OffsetUserKey", 0}),
	[](const ::testing::TestParamInfo<RmaMode> &i) { return std::string(i.param.name); });

} // namespace
