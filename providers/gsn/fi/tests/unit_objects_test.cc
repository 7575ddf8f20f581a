// SPDX-License-Identifier: MIT
// The provider's internal calls, with its objects linked in (no dlopen):
// CQ reports in every format, error ordering and err_data rules, growth,
// waits without a progress thread; counters; the AV's reverse map; the text
// form of addresses; MR lookups and local-buffer registrations.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "gsn_fi.h"

struct fi_provider *fi_prov_ini(void); /* the entry point (FI_EXT_INI) */
}

namespace {

// Parameters as fi_prov_ini reads them (defaults: the environment is clean).
struct ProvInit {
	ProvInit() { fi_prov_ini(); }
};
const ProvInit prov_init;

// A domain without a device: what CQs, counters and AVs need of it (the
// lock, the reference count, an idle completion channel, no endpoints and
// no progress thread).
class FakeDomain : public ::testing::Test {
protected:
	gsnfi_domain *d = nullptr;
	gsn_comp_channel chan = {};

	void SetUp() override
	{
		pthread_mutexattr_t ma;

		d = (gsnfi_domain *)calloc(1, sizeof(*d));
		ASSERT_NE(d, nullptr);
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&d->lock, &ma);
		pthread_mutexattr_destroy(&ma);
		chan.fd = eventfd(0, EFD_NONBLOCK);
		d->chan = &chan;
		d->wake_fd = -1;
		d->domain_fid.fid.fclass = FI_CLASS_DOMAIN;
	}
	void TearDown() override
	{
		EXPECT_EQ(d->refs, 0);
		close(chan.fd);
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
	gsnfi_cq *open_cq(fi_cq_format format, fi_wait_obj wait = FI_WAIT_UNSPEC, size_t size = 0,
			  fi_cq_wait_cond cond = FI_CQ_COND_NONE)
	{
		fi_cq_attr attr = {};
		fid_cq *cq = nullptr;

		attr.format = format;
		attr.wait_obj = wait;
		attr.size = size;
		attr.wait_cond = cond;
		EXPECT_EQ(gsnfi_cq_open(&d->domain_fid, &attr, &cq, nullptr), 0);
		return cq ? GSNFI_CONTAINER_OF(cq, gsnfi_cq, cq_fid) : nullptr;
	}
	void report(gsnfi_cq *cq, uintptr_t ctx, uint64_t tag = 0, fi_addr_t src = FI_ADDR_NOTAVAIL)
	{
		gsnfi_lock(d);
		gsnfi_cq_report_locked(cq, (void *)ctx, FI_RECV | FI_TAGGED, ctx * 10,
				       (void *)(ctx + 1), ctx + 2, tag, src);
		gsnfi_unlock(d);
	}
	void report_error(gsnfi_cq *cq, uintptr_t ctx, int err)
	{
		gsnfi_lock(d);
		gsnfi_cq_report_error_locked(cq, (void *)ctx, FI_SEND | FI_MSG, err, 10, 5, nullptr,
					     7, 8, 99);
		gsnfi_unlock(d);
	}
};

} // namespace

// ---- completion queues ----------------------------------------------------------------

TEST_F(FakeDomain, CqFormats)
{
	struct {
		fi_cq_format format;
		size_t size;
	} formats[] = {
		{FI_CQ_FORMAT_CONTEXT, sizeof(fi_cq_entry)},
		{FI_CQ_FORMAT_MSG, sizeof(fi_cq_msg_entry)},
		{FI_CQ_FORMAT_DATA, sizeof(fi_cq_data_entry)},
		{FI_CQ_FORMAT_TAGGED, sizeof(fi_cq_tagged_entry)},
	};
	for (const auto &f : formats) {
		gsnfi_cq *cq = open_cq(f.format);
		ASSERT_NE(cq, nullptr);
		report(cq, 4, 0x77);
		report(cq, 5, 0x78);
		std::vector<uint8_t> buf(4 * f.size, 0xee);

		ASSERT_EQ(fi_cq_read(&cq->cq_fid, buf.data(), 4), 2);
		// nothing written past the two entries
		EXPECT_EQ(buf[2 * f.size], 0xee);
		fi_cq_tagged_entry e = {};

		memcpy(&e, buf.data() + f.size, f.size);
		EXPECT_EQ(e.op_context, (void *)5);
		if (f.format != FI_CQ_FORMAT_CONTEXT) {
			EXPECT_EQ(e.flags, (uint64_t)(FI_RECV | FI_TAGGED));
			EXPECT_EQ(e.len, 50u);
		}
		if (f.format == FI_CQ_FORMAT_DATA || f.format == FI_CQ_FORMAT_TAGGED) {
			EXPECT_EQ(e.buf, (void *)6);
			EXPECT_EQ(e.data, 7u);
		}
		if (f.format == FI_CQ_FORMAT_TAGGED) {
			EXPECT_EQ(e.tag, 0x78u);
		}
		EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
	}
}

TEST_F(FakeDomain, CqReadfromAndCount)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT);
	ASSERT_NE(cq, nullptr);
	for (uintptr_t i = 1; i <= 5; i++)
		report(cq, i, 0, (fi_addr_t)(i * 100));
	fi_cq_entry e[3];
	fi_addr_t src[3];

	ASSERT_EQ(fi_cq_readfrom(&cq->cq_fid, e, 3, src), 3);
	EXPECT_EQ(e[0].op_context, (void *)1);
	EXPECT_EQ(src[2], 300u);
	ASSERT_EQ(fi_cq_readfrom(&cq->cq_fid, e, 3, src), 2);
	EXPECT_EQ(src[1], 500u);
	EXPECT_EQ(fi_cq_read(&cq->cq_fid, e, 3), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqErrorsKeepTheirPlace)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_MSG);
	ASSERT_NE(cq, nullptr);
	report(cq, 1);
	report_error(cq, 2, FI_ETRUNC);
	report(cq, 3);
	fi_cq_msg_entry e[4];
	fi_cq_err_entry err = {};

	EXPECT_EQ(fi_cq_readerr(&cq->cq_fid, &err, 0), -FI_EAGAIN); // not at the head yet
	ASSERT_EQ(fi_cq_read(&cq->cq_fid, e, 4), 1);
	EXPECT_EQ(e[0].op_context, (void *)1);
	EXPECT_EQ(fi_cq_read(&cq->cq_fid, e, 4), -FI_EAVAIL);
	ASSERT_EQ(fi_cq_readerr(&cq->cq_fid, &err, 0), 1);
	EXPECT_EQ(err.op_context, (void *)2);
	EXPECT_EQ(err.flags, (uint64_t)(FI_SEND | FI_MSG));
	EXPECT_EQ(err.err, FI_ETRUNC);
	EXPECT_EQ(err.prov_errno, 10);
	EXPECT_EQ(err.len, 5u);
	EXPECT_EQ(err.data, 7u);
	EXPECT_EQ(err.tag, 8u);
	EXPECT_EQ(err.olen, 99u);
	// no error data: the provider's pointer (none) when the application gave no buffer
	EXPECT_EQ(err.err_data, nullptr);
	EXPECT_EQ(err.err_data_size, 0u);
	ASSERT_EQ(fi_cq_read(&cq->cq_fid, e, 4), 1);
	EXPECT_EQ(e[0].op_context, (void *)3);

	// with the application's buffer: it stays its own, nothing copied
	char mine[16];
	report_error(cq, 4, FI_ECANCELED);
	err.err_data = mine;
	err.err_data_size = sizeof(mine);
	ASSERT_EQ(fi_cq_readerr(&cq->cq_fid, &err, 0), 1);
	EXPECT_EQ(err.err, FI_ECANCELED);
	EXPECT_EQ(err.err_data, (void *)mine);
	EXPECT_EQ(err.err_data_size, 0u);
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqGrowsWithoutLoss)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE, 1);
	ASSERT_NE(cq, nullptr);
	const uintptr_t n = 100000;

	// interleave reads so head and tail wrap before growing
	for (uintptr_t i = 1; i <= 10; i++)
		report(cq, i);
	fi_cq_entry e[7];
	ASSERT_EQ(fi_cq_read(&cq->cq_fid, e, 7), 7);
	for (uintptr_t i = 11; i <= n; i++)
		report(cq, i);
	uintptr_t next = 8;
	ssize_t got;

	while ((got = fi_cq_read(&cq->cq_fid, e, 7)) > 0)
		for (ssize_t i = 0; i < got; i++)
			ASSERT_EQ(e[i].op_context, (void *)next++);
	EXPECT_EQ(got, -FI_EAGAIN);
	EXPECT_EQ(next, n + 1);
	EXPECT_EQ(cq->dropped, 0u);
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqSreadThreshold)
{
	gsnfi_cq *plain = open_cq(FI_CQ_FORMAT_CONTEXT);
	ASSERT_NE(plain, nullptr);
	report(plain, 1);
	fi_cq_entry one;

	// without FI_CQ_COND_THRESHOLD cond means nothing: one entry is enough
	EXPECT_EQ(fi_cq_sread(&plain->cq_fid, &one, 1, (void *)(uintptr_t)3, -1), 1);
	EXPECT_EQ(fi_close(&plain->cq_fid.fid), 0);

	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_UNSPEC, 0, FI_CQ_COND_THRESHOLD);
	ASSERT_NE(cq, nullptr);
	report(cq, 1);
	report(cq, 2);
	fi_cq_entry e[4];

	// the threshold is not reached: at the timeout what is there comes back
	EXPECT_EQ(fi_cq_sread(&cq->cq_fid, e, 4, (void *)(uintptr_t)3, 30), 2);
	report(cq, 3);
	report(cq, 4);
	report(cq, 5);
	EXPECT_EQ(fi_cq_sread(&cq->cq_fid, e, 4, (void *)(uintptr_t)3, -1), 3);
	EXPECT_EQ(fi_cq_sread(&cq->cq_fid, e, 4, nullptr, 0), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqSreadWithoutProgressThreadWokenByReport)
{
	for (fi_wait_obj w : {FI_WAIT_UNSPEC, FI_WAIT_FD}) {
		gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, w);
		ASSERT_NE(cq, nullptr);
		std::thread reporter([this, cq] { report(cq, 42); });
		fi_cq_entry e;

		EXPECT_EQ(fi_cq_sread(&cq->cq_fid, &e, 1, nullptr, 20000), 1);
		EXPECT_EQ(e.op_context, (void *)42);
		reporter.join();
		EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
	}
}

TEST_F(FakeDomain, CqSignalWithoutProgressThread)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT);
	ASSERT_NE(cq, nullptr);
	std::thread signaller([cq] { EXPECT_EQ(fi_cq_signal(&cq->cq_fid), 0); });
	fi_cq_entry e;

	EXPECT_EQ(fi_cq_sread(&cq->cq_fid, &e, 1, nullptr, 20000), -FI_EAGAIN);
	signaller.join();
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqFdReadableWhileEntriesQueued)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_FD);
	ASSERT_NE(cq, nullptr);
	int fd;

	ASSERT_EQ(fi_control(&cq->cq_fid.fid, FI_GETWAIT, &fd), 0);
	auto readable = [fd] {
		pollfd p = {fd, POLLIN, 0};
		return poll(&p, 1, 0) == 1;
	};
	EXPECT_FALSE(readable());
	report(cq, 1);
	report(cq, 2);
	EXPECT_TRUE(readable());
	EXPECT_EQ(gsnfi_cq_trywait(&cq->cq_fid.fid), -FI_EAGAIN);
	fi_cq_entry e;
	ASSERT_EQ(fi_cq_read(&cq->cq_fid, &e, 1), 1);
	EXPECT_TRUE(readable());
	ASSERT_EQ(fi_cq_read(&cq->cq_fid, &e, 1), 1);
	EXPECT_FALSE(readable());
	EXPECT_EQ(gsnfi_cq_trywait(&cq->cq_fid.fid), 0);
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

TEST_F(FakeDomain, CqCloseBusyWhileBound)
{
	gsnfi_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT);
	ASSERT_NE(cq, nullptr);
	cq->refs = 1; // an endpoint's binding
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), -FI_EBUSY);
	cq->refs = 0;
	report_error(cq, 1, FI_EIO); // undelivered errors are freed with the CQ
	EXPECT_EQ(fi_close(&cq->cq_fid.fid), 0);
}

// ---- counters ---------------------------------------------------------------------------

TEST_F(FakeDomain, CntrWaitWithoutProgressThread)
{
	fid_cntr *cf = nullptr;

	ASSERT_EQ(gsnfi_cntr_open(&d->domain_fid, nullptr, &cf, nullptr), 0);
	gsnfi_cntr *c = GSNFI_CONTAINER_OF(cf, gsnfi_cntr, cntr_fid);
	std::thread incer([this, c] {
		for (int i = 0; i < 50; i++) {
			gsnfi_lock(d);
			gsnfi_cntr_inc_locked(c);
			gsnfi_unlock(d);
		}
	});

	EXPECT_EQ(fi_cntr_wait(cf, 50, 20000), 0);
	incer.join();
	EXPECT_EQ(fi_cntr_read(cf), 50u);

	std::atomic<bool> done{false};
	int ret = 0;
	std::thread waiter([cf, &done, &ret] {
		ret = fi_cntr_wait(cf, 51, 20000);
		done = true;
	});
	while (!done) {
		gsnfi_lock(d);
		gsnfi_cntr_err_locked(c);
		gsnfi_unlock(d);
		std::this_thread::yield();
	}
	waiter.join();
	EXPECT_EQ(ret, -FI_EAVAIL);
	c->refs = 1; // bound
	EXPECT_EQ(fi_close(&cf->fid), -FI_EBUSY);
	c->refs = 0;
	EXPECT_EQ(fi_close(&cf->fid), 0);
}

// ---- address vectors and the text form -------------------------------------------------

namespace {

gsnfi_addr make_addr(uint32_t qpn, uint32_t nonce, uint8_t last)
{
	gsnfi_addr a = {{2, 0, 0, 0, 0, last}, 0, htonl(qpn), htonl(nonce)};
	return a;
}

} // namespace

TEST(AddrText, RoundTrip)
{
	gsnfi_addr a = make_addr(0x123, 0xcafef00d, 0xab), b;
	char buf[GSNFI_ADDR_STRLEN];
	size_t len = sizeof(buf);

	ASSERT_EQ(gsnfi_addr_to_str(&a, buf, &len), 0);
	EXPECT_STREQ(buf, "gsn://02:00:00:00:00:ab/123/cafef00d");
	ASSERT_EQ(gsnfi_addr_from_str(buf, &b), 0);
	EXPECT_EQ(memcmp(&a, &b, sizeof(a)), 0);
	ASSERT_EQ(gsnfi_addr_from_str("GSN://2:0:0:0:0:AB/123/CAFEF00D", &b), -FI_EINVAL);
	ASSERT_EQ(gsnfi_addr_from_str("gsn://2:0:0:0:0:AB/123/CAFEF00D", &b), 0);
	EXPECT_EQ(memcmp(&a, &b, sizeof(a)), 0);
	len = 4;
	EXPECT_EQ(gsnfi_addr_to_str(&a, buf, &len), -FI_ETOOSMALL);
	EXPECT_STREQ(buf, "gsn");
	EXPECT_EQ(len, strlen("gsn://02:00:00:00:00:ab/123/cafef00d") + 1);
	len = 0;
	EXPECT_EQ(gsnfi_addr_to_str(&a, nullptr, &len), -FI_ETOOSMALL);
}

TEST(AddrText, Rejects)
{
	gsnfi_addr b;

	for (const char *s : {"", "gsn:/", "gsn://", "gsn://02:00:00:00:00:01",
			      "gsn://02:00:00:00:00:01/", "gsn://02:00:00:00:00:01/1/",
			      "gsn://02:00:00:00:00:01/1/2 ", "gsn://02:00:00:00:00:01/1/2/3",
			      "gsn://002:00:00:00:00:01/1/2", "gsn://02:00:00:00:00:01/123456789/2",
			      "gsn://02:00:00:00:00:01/1/fffffffff", "gsn://02-00-00-00-00-01/1/2",
			      "gsn://02:00:00:00:00:0g/1/2", "tcp://02:00:00:00:00:01/1/2"}) {
		EXPECT_EQ(gsnfi_addr_from_str(s, &b), -FI_EINVAL) << s;
	}
	EXPECT_EQ(gsnfi_addr_from_str(nullptr, &b), -FI_EINVAL);
}

TEST_F(FakeDomain, AvReverseMap)
{
	fi_av_attr attr = {};
	fid_av *avf = nullptr;

	attr.type = FI_AV_MAP;
	ASSERT_EQ(gsnfi_av_open(&d->domain_fid, &attr, &avf, nullptr), 0);
	gsnfi_av *av = GSNFI_CONTAINER_OF(avf, gsnfi_av, av_fid);
	const uint32_t n = 10000;
	std::vector<gsnfi_addr> addrs;
	std::vector<fi_addr_t> fa(n);

	for (uint32_t i = 0; i < n; i++)
		addrs.push_back(make_addr(i % 100, i / 100, (uint8_t)i));
	ASSERT_EQ(fi_av_insert(avf, addrs.data(), n, fa.data(), 0, nullptr), (int)n);
	size_t wrong = 0;

	gsnfi_lock(d);
	for (uint32_t i = 0; i < n; i++) {
		const gsnfi_addr *a = gsnfi_av_lookup_locked(av, fa[i]);

		if (gsnfi_av_reverse_locked(av, &addrs[i]) != fa[i] || !a ||
		    memcmp(a, &addrs[i], sizeof(*a)))
			wrong++;
	}
	EXPECT_EQ(wrong, 0u);
	gsnfi_addr stranger = make_addr(5000, 5000, 1);
	EXPECT_EQ(gsnfi_av_reverse_locked(av, &stranger), FI_ADDR_NOTAVAIL);
	EXPECT_EQ(gsnfi_av_lookup_locked(av, n), nullptr);
	EXPECT_EQ(gsnfi_av_lookup_locked(av, FI_ADDR_UNSPEC), nullptr);
	EXPECT_EQ(gsnfi_av_reverse_locked(nullptr, &stranger), FI_ADDR_NOTAVAIL);
	EXPECT_EQ(gsnfi_av_lookup_locked(nullptr, 0), nullptr);
	gsnfi_unlock(d);

	// an address inserted twice maps back to its first index while it is in
	fi_addr_t dup;
	ASSERT_EQ(fi_av_insert(avf, &addrs[7], 1, &dup, 0, nullptr), 1);
	gsnfi_lock(d);
	EXPECT_EQ(gsnfi_av_reverse_locked(av, &addrs[7]), fa[7]);
	gsnfi_unlock(d);
	ASSERT_EQ(fi_av_remove(avf, &fa[7], 1, 0), 0);
	ASSERT_EQ(fi_av_remove(avf, &fa[8], 1, 0), 0);
	gsnfi_lock(d);
	EXPECT_EQ(gsnfi_av_reverse_locked(av, &addrs[7]), dup);
	EXPECT_EQ(gsnfi_av_reverse_locked(av, &addrs[8]), FI_ADDR_NOTAVAIL);
	EXPECT_EQ(gsnfi_av_lookup_locked(av, fa[8]), nullptr);
	EXPECT_EQ(gsnfi_av_reverse_locked(av, &addrs[9]), fa[9]);
	gsnfi_unlock(d);
	av->refs = 1;
	EXPECT_EQ(fi_close(&avf->fid), -FI_EBUSY);
	av->refs = 0;
	EXPECT_EQ(fi_close(&avf->fid), 0);
}

// ---- MRs on a real domain ------------------------------------------------------------------

namespace {

class RealDomain : public ::testing::Test {
protected:
	fid_fabric *fabric = nullptr;
	fid_domain *domain = nullptr;
	gsnfi_domain *d = nullptr;
	std::vector<char> buf = std::vector<char>(8192);

	void open(int mr_mode)
	{
		fi_info *hints = fi_allocinfo(), *info = nullptr;

		ASSERT_NE(hints, nullptr);
		hints->caps = FI_RMA | FI_ATOMIC;
		hints->domain_attr->mr_mode = mr_mode;
		ASSERT_EQ(gsnfi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &info), 0);
		fi_freeinfo(hints);
		fi_fabric_attr fattr = *info->fabric_attr;

		fattr.api_version = FI_VERSION(1, 17);
		ASSERT_EQ(gsnfi_fabric_open(&fattr, &fabric, nullptr), 0);
		int ret = fi_domain(fabric, info, &domain, nullptr);
		fi_freeinfo(info);
		ASSERT_EQ(ret, 0) << fi_strerror(-ret);
		d = gsnfi_domain_of(domain);
	}
	void TearDown() override
	{
		if (domain) {
			EXPECT_EQ(fi_close(&domain->fid), 0);
		}
		if (fabric) {
			EXPECT_EQ(fi_close(&fabric->fid), 0);
		}
	}
	gsnfi_mr *reg(size_t off, size_t len, uint64_t access, uint64_t key = 0)
	{
		fid_mr *mr = nullptr;
		int ret = fi_mr_reg(domain, buf.data() + off, len, access, 0, key, 0, &mr, nullptr);

		EXPECT_EQ(ret, 0) << fi_strerror(-ret);
		return mr ? (gsnfi_mr *)mr->mem_desc : nullptr;
	}
	// the lock only around the call: a failed assertion must not leave it held
	int lbuf_get(void *p, size_t len, gsnfi_mr *desc, unsigned access, gsnfi_lbuf *lb)
	{
		gsnfi_lock(d);
		int ret = gsnfi_lbuf_get_locked(d, p, len, desc, access, lb);
		gsnfi_unlock(d);
		return ret;
	}
	void lbuf_release(gsnfi_lbuf *lb)
	{
		gsnfi_lock(d);
		gsnfi_lbuf_release_locked(lb);
		gsnfi_unlock(d);
	}
	gsnfi_mr *lookup(uint64_t key, uint64_t addr, size_t len, uint64_t access, void **local,
			 int *err)
	{
		gsnfi_lock(d);
		gsnfi_mr *m = gsnfi_mr_lookup_locked(d, key, addr, len, access, local, err);
		gsnfi_unlock(d);
		return m;
	}
};

} // namespace

TEST_F(RealDomain, VirtualAddressesAndProviderKeys)
{
	open(FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED);
	ASSERT_NE(d, nullptr);
	EXPECT_EQ(d->mr_mode, (uint64_t)(FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED));
	gsnfi_mr *mr = reg(1024, 4096, FI_REMOTE_WRITE);
	ASSERT_NE(mr, nullptr);
	uint64_t key = mr->mr_fid.key, base = (uint64_t)(uintptr_t)(buf.data() + 1024);
	void *local = nullptr;
	int err = 1;

	EXPECT_EQ(gsnfi_rkey_of_key(d, key), key);
	EXPECT_EQ(mr->gmr->rkey, key);
	EXPECT_EQ(mr->gmr->access & GSN_ACCESS_ZERO_BASED, 0u);
	EXPECT_EQ(lookup(key, base + 100, 16, FI_REMOTE_WRITE, &local, &err), mr);
	EXPECT_EQ(err, 0);
	EXPECT_EQ(local, buf.data() + 1124);
	EXPECT_EQ(lookup(key, base, 4096, FI_REMOTE_WRITE, &local, &err), mr);
	EXPECT_EQ(lookup(key, base + 4096, 0, FI_REMOTE_WRITE, &local, &err), mr);
	// out of bounds on either side, wrong access, wrong key
	EXPECT_EQ(lookup(key, base + 4095, 2, FI_REMOTE_WRITE, &local, &err), nullptr);
	EXPECT_EQ(err, -FI_EACCES);
	EXPECT_EQ(lookup(key, base - 1, 2, FI_REMOTE_WRITE, &local, &err), nullptr);
	EXPECT_EQ(lookup(key, base, UINT64_MAX, FI_REMOTE_WRITE, &local, &err), nullptr);
	EXPECT_EQ(lookup(key, base, 8, FI_REMOTE_READ, &local, &err), nullptr);
	EXPECT_EQ(err, -FI_EACCES);
	EXPECT_EQ(lookup(key + 1, base, 8, FI_REMOTE_WRITE, &local, &err), nullptr);
	EXPECT_EQ(fi_close(&mr->mr_fid.fid), 0);
	EXPECT_EQ(lookup(key, base, 8, FI_REMOTE_WRITE, &local, &err), nullptr);
}

TEST_F(RealDomain, OffsetsAndUserKeys)
{
	open(0);
	ASSERT_NE(d, nullptr);
	EXPECT_EQ(d->mr_mode, 0u);
	gsnfi_mr *a = reg(0, 4096, FI_REMOTE_READ | FI_REMOTE_WRITE, 1);
	gsnfi_mr *b = reg(4096, 100, FI_REMOTE_READ, 0);
	ASSERT_NE(a, nullptr);
	ASSERT_NE(b, nullptr);
	void *local = nullptr;
	int err;

	EXPECT_EQ(gsnfi_rkey_of_key(d, 1), 2u);
	EXPECT_EQ(a->gmr->rkey, 2u);
	EXPECT_EQ(b->gmr->rkey, 1u);
	EXPECT_NE(a->gmr->access & GSN_ACCESS_ZERO_BASED, 0u);
	EXPECT_EQ(lookup(1, 0, 4096, FI_REMOTE_READ | FI_REMOTE_WRITE, &local, &err), a);
	EXPECT_EQ(local, buf.data());
	EXPECT_EQ(lookup(0, 99, 1, FI_REMOTE_READ, &local, &err), b);
	EXPECT_EQ(local, buf.data() + 4096 + 99);
	EXPECT_EQ(lookup(0, 100, 1, FI_REMOTE_READ, &local, &err), nullptr);
	EXPECT_EQ(lookup(0, 0, 1, FI_REMOTE_WRITE, &local, &err), nullptr);
	// keys stay sorted for the binary search, whatever the insertion order
	std::vector<gsnfi_mr *> more;
	for (uint64_t k : {900, 5, 77, 3, 1000, 42})
		more.push_back(reg(0, 16, FI_REMOTE_WRITE, k));
	for (gsnfi_mr *m : more) {
		ASSERT_NE(m, nullptr);
		EXPECT_EQ(lookup(m->mr_fid.key, 0, 16, FI_REMOTE_WRITE, &local, &err), m);
	}
	for (gsnfi_mr *m : more)
		EXPECT_EQ(fi_close(&m->mr_fid.fid), 0);
	EXPECT_EQ(fi_close(&a->mr_fid.fid), 0);
	EXPECT_EQ(fi_close(&b->mr_fid.fid), 0);
}

TEST_F(RealDomain, LocalBuffers)
{
	open(FI_MR_VIRT_ADDR | FI_MR_PROV_KEY);
	ASSERT_NE(d, nullptr);
	gsnfi_mr *mr = reg(0, 4096, FI_REMOTE_READ);
	ASSERT_NE(mr, nullptr);
	gsnfi_lbuf lb;

	// the application's MR covers it
	ASSERT_EQ(lbuf_get(buf.data() + 10, 100, mr, GSN_ACCESS_REMOTE_READ, &lb), 0);
	EXPECT_EQ(lb.gmr, mr->gmr);
	EXPECT_FALSE(lb.temporary);
	EXPECT_EQ(gsnfi_lbuf_raddr(&lb, buf.data() + 10), (uint64_t)(uintptr_t)(buf.data() + 10));
	lbuf_release(&lb);
	// no descriptor, or one that does not cover it: a temporary registration
	ASSERT_EQ(lbuf_get(buf.data() + 5000, 100, nullptr, 0, &lb), 0);
	ASSERT_NE(lb.gmr, nullptr);
	EXPECT_TRUE(lb.temporary);
	EXPECT_EQ(lb.gmr->addr, buf.data() + 5000);
	lbuf_release(&lb);
	EXPECT_EQ(lb.gmr, nullptr);
	ASSERT_EQ(lbuf_get(buf.data() + 4000, 200, mr, 0, &lb), 0);
	EXPECT_TRUE(lb.temporary);
	lbuf_release(&lb);
	// access the MR lacks: a temporary registration with it
	ASSERT_EQ(lbuf_get(buf.data(), 8, mr, GSN_ACCESS_REMOTE_WRITE, &lb), 0);
	EXPECT_TRUE(lb.temporary);
	ASSERT_NE(lb.gmr, nullptr);
	EXPECT_NE(lb.gmr->access & GSN_ACCESS_REMOTE_WRITE, 0u);
	lbuf_release(&lb);
	// nothing to register
	ASSERT_EQ(lbuf_get(buf.data(), 0, nullptr, 0, &lb), 0);
	EXPECT_EQ(lb.gmr, nullptr);
	lbuf_release(&lb);
	EXPECT_EQ(fi_close(&mr->mr_fid.fid), 0);
}

TEST_F(RealDomain, ZeroBasedDescriptorGivesOffsets)
{
	open(FI_MR_PROV_KEY);
	ASSERT_NE(d, nullptr);
	gsnfi_mr *mr = reg(0, 4096, FI_REMOTE_READ);
	ASSERT_NE(mr, nullptr);
	gsnfi_lbuf lb;

	ASSERT_EQ(lbuf_get(buf.data() + 300, 10, mr, GSN_ACCESS_REMOTE_READ, &lb), 0);
	EXPECT_TRUE(lb.zero_based);
	EXPECT_EQ(gsnfi_lbuf_raddr(&lb, buf.data() + 300), 300u);
	lbuf_release(&lb);
	EXPECT_EQ(fi_close(&mr->mr_fid.fid), 0);
}

TEST_F(RealDomain, QueryAtomic)
{
	open(0);
	ASSERT_NE(domain, nullptr);
	fi_atomic_attr attr = {};

	ASSERT_EQ(fi_query_atomic(domain, FI_UINT64, FI_SUM, &attr, 0), 0);
	EXPECT_EQ(attr.size, 8u);
	EXPECT_GE(attr.count, 1u);
	ASSERT_EQ(fi_query_atomic(domain, FI_INT32, FI_CSWAP, &attr, FI_COMPARE_ATOMIC), 0);
	EXPECT_EQ(attr.size, 4u);
	ASSERT_EQ(fi_query_atomic(domain, FI_DOUBLE, FI_ATOMIC_READ, &attr, FI_FETCH_ATOMIC), 0);
	EXPECT_NE(fi_query_atomic(domain, FI_DOUBLE, FI_BOR, &attr, 0), 0);
	EXPECT_NE(fi_query_atomic(domain, FI_UINT64, FI_CSWAP, &attr, 0), 0);
	EXPECT_EQ(fi_query_atomic(domain, FI_UINT64, FI_SUM, &attr,
				  FI_FETCH_ATOMIC | FI_COMPARE_ATOMIC), -FI_EINVAL);
}
