// SPDX-License-Identifier: MIT
//
// fi_ep_fixture.h — endpoints of the gsn provider for the data-path tests:
// each Peer is its own fabric, domain, AV, CQs and RDM endpoint, used the
// way applications use them (through libfabric, FI_PROVIDER_PATH naming the
// build directory of libgsn-fi.so).  Peers of one test talk through the
// test's private gsnd (GSN_RUNDIR), which libgsn starts on first use.
#ifndef GSNFI_EP_FIXTURE_H
#define GSNFI_EP_FIXTURE_H

#include <gtest/gtest.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace gsnfi_test {

// fi_test_env.cc points libfabric at this build's provider and gsnd; the
// data-path tests also want a short connection time-out, so that failures
// to connect are seen in seconds (unless the caller chose one).
inline const bool env_ready = [] {
	setenv("FI_GSN_CONN_TIMEOUT_MS", "3000", 0);
	return true;
}();

// FI_GSN_EAGER_SIZE as the provider sees it.
inline size_t eager_size()
{
	const char *s = getenv("FI_GSN_EAGER_SIZE");

	return s ? strtoul(s, nullptr, 0) : 8192;
}

constexpr uint64_t kDefaultCaps = FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_DIRECTED_RECV |
				  FI_SOURCE;
constexpr int kWaitMs = 30000;

struct PeerOpts {
	uint64_t caps = kDefaultCaps;
	uint64_t mr_mode = FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED;
	uint64_t tx_op_flags = 0;
	uint64_t rx_op_flags = 0;
	bool selective = false; // bind the CQs with FI_SELECTIVE_COMPLETION
	enum fi_av_type av_type = FI_AV_MAP;
	enum fi_wait_obj cq_wait = FI_WAIT_NONE; // of both CQs
	bool enable = true;
};

class Peer {
public:
	fi_info *info = nullptr;
	fid_fabric *fabric = nullptr;
	fid_domain *domain = nullptr;
	fid_av *av = nullptr;
	fid_cq *txcq = nullptr;
	fid_cq *rxcq = nullptr;
	fid_ep *ep = nullptr;
	std::vector<uint8_t> name;
	std::vector<fid_mr *> mrs;
	std::vector<fid_cntr *> cntrs;

	Peer() = default;
	Peer(const Peer &) = delete;
	Peer &operator=(const Peer &) = delete;
	~Peer() { close(); }

	// 0 or a libfabric error; every object is closed again by close().
	int open(const PeerOpts &o = PeerOpts())
	{
		fi_info *hints = fi_allocinfo();
		fi_cq_attr cq_attr = {};
		fi_av_attr av_attr = {};
		int ret;

		if (!hints)
			return -FI_ENOMEM;
		hints->ep_attr->type = FI_EP_RDM;
		hints->caps = o.caps;
		hints->mode = FI_CONTEXT;
		hints->domain_attr->mr_mode = (int)o.mr_mode;
		hints->domain_attr->threading = FI_THREAD_SAFE;
		hints->domain_attr->av_type = o.av_type;
		hints->tx_attr->op_flags = o.tx_op_flags;
		hints->rx_attr->op_flags = o.rx_op_flags;
		hints->fabric_attr->prov_name = strdup("gsn");
		ret = fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &info);
		fi_freeinfo(hints);
		if (ret)
			return ret;
		ret = fi_fabric(info->fabric_attr, &fabric, nullptr);
		if (!ret)
			ret = fi_domain(fabric, info, &domain, nullptr);
		if (ret)
			return ret;
		cq_attr.format = FI_CQ_FORMAT_TAGGED;
		cq_attr.wait_obj = o.cq_wait;
		ret = fi_cq_open(domain, &cq_attr, &txcq, nullptr);
		if (!ret)
			ret = fi_cq_open(domain, &cq_attr, &rxcq, nullptr);
		av_attr.type = o.av_type;
		if (!ret)
			ret = fi_av_open(domain, &av_attr, &av, nullptr);
		if (!ret)
			ret = fi_endpoint(domain, info, &ep, nullptr);
		if (ret)
			return ret;
		uint64_t sel = o.selective ? FI_SELECTIVE_COMPLETION : 0;
		ret = fi_ep_bind(ep, &av->fid, 0);
		if (!ret)
			ret = fi_ep_bind(ep, &txcq->fid, FI_TRANSMIT | sel);
		if (!ret)
			ret = fi_ep_bind(ep, &rxcq->fid, FI_RECV | sel);
		if (ret || !o.enable)
			return ret;
		return enable();
	}

	int enable()
	{
		size_t len = 0;
		int ret = fi_enable(ep);

		if (ret)
			return ret;
		ret = fi_getname(&ep->fid, nullptr, &len);
		if (ret != -FI_ETOOSMALL)
			return ret ? ret : -FI_EOTHER;
		name.resize(len);
		return fi_getname(&ep->fid, name.data(), &len);
	}

	// The other peer's fi_addr in our AV.
	fi_addr_t insert(const Peer &other) { return insert_name(other.name); }

	fi_addr_t insert_name(const std::vector<uint8_t> &n)
	{
		fi_addr_t a = FI_ADDR_NOTAVAIL;

		if (fi_av_insert(av, n.data(), 1, &a, 0, nullptr) != 1)
			return FI_ADDR_NOTAVAIL;
		return a;
	}

	fid_cntr *counter()
	{
		fi_cntr_attr attr = {};
		fid_cntr *c = nullptr;

		attr.events = FI_CNTR_EVENTS_COMP;
		attr.wait_obj = FI_WAIT_UNSPEC;
		if (fi_cntr_open(domain, &attr, &c, nullptr))
			return nullptr;
		cntrs.push_back(c);
		return c;
	}

	// Registers buf; nullptr on failure (ret in *err).
	fid_mr *reg(void *buf, size_t len, uint64_t access, uint64_t key = 0, int *err = nullptr,
		    uint64_t flags = 0)
	{
		fid_mr *mr = nullptr;
		int ret = fi_mr_reg(domain, buf, len, access, 0, key, flags, &mr, nullptr);

		if (err)
			*err = ret;
		if (ret)
			return nullptr;
		mrs.push_back(mr);
		return mr;
	}

	void close()
	{
		if (ep)
			fi_close(&ep->fid);
		ep = nullptr;
		for (fid_mr *mr : mrs)
			fi_close(&mr->fid);
		mrs.clear();
		for (fid_cntr *c : cntrs)
			fi_close(&c->fid);
		cntrs.clear();
		if (av)
			fi_close(&av->fid);
		if (rxcq)
			fi_close(&rxcq->fid);
		if (txcq)
			fi_close(&txcq->fid);
		if (domain)
			fi_close(&domain->fid);
		if (fabric)
			fi_close(&fabric->fid);
		if (info)
			fi_freeinfo(info);
		av = nullptr;
		rxcq = txcq = nullptr;
		domain = nullptr;
		fabric = nullptr;
		info = nullptr;
	}
};

// Reads one completion: 1, -FI_EAVAIL (with *err filled), or -FI_ETIMEDOUT.
inline int wait_cq(fid_cq *cq, fi_cq_tagged_entry *e, fi_cq_err_entry *err = nullptr,
		   int timeout_ms = kWaitMs, fi_addr_t *src = nullptr)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
	fi_cq_err_entry scratch = {};

	for (;;) {
		ssize_t n = src ? fi_cq_readfrom(cq, e, 1, src) : fi_cq_read(cq, e, 1);

		if (n == 1)
			return 1;
		if (n == -FI_EAVAIL) {
			fi_cq_err_entry *ee = err ? err : &scratch;

			*ee = {};
			if (fi_cq_readerr(cq, ee, 0) != 1)
				return -FI_EOTHER;
			return -FI_EAVAIL;
		}
		if (n != -FI_EAGAIN)
			return (int)n;
		if (std::chrono::steady_clock::now() > deadline)
			return -FI_ETIMEDOUT;
	}
}

// True when no completion (and no error) arrives on cq within ms.
inline bool cq_stays_empty(fid_cq *cq, int ms)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
	fi_cq_tagged_entry e;

	while (std::chrono::steady_clock::now() < deadline) {
		ssize_t n = fi_cq_read(cq, &e, 1);

		if (n != -FI_EAGAIN)
			return false;
	}
	return true;
}

// Retries a posting call while it answers -FI_EAGAIN, reading (and
// keeping) completions of cq in the meantime so progress happens.
template <typename F>
inline ssize_t post_retry(F &&post, fid_cq *cq, std::vector<fi_cq_tagged_entry> *seen = nullptr,
			  int timeout_ms = kWaitMs)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);

	for (;;) {
		ssize_t ret = post();
		fi_cq_tagged_entry e;

		if (ret != -FI_EAGAIN)
			return ret;
		if (cq && fi_cq_read(cq, &e, 1) == 1 && seen)
			seen->push_back(e);
		if (std::chrono::steady_clock::now() > deadline)
			return -FI_ETIMEDOUT;
	}
}

// Waits until the counter reaches value: true, or false after timeout.
inline bool wait_cntr(fid_cntr *c, uint64_t value, int timeout_ms = kWaitMs)
{
	return fi_cntr_wait(c, value, timeout_ms) == 0;
}

inline std::vector<uint8_t> pattern(size_t len, uint32_t seed)
{
	std::vector<uint8_t> v(len);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		v[i] = (uint8_t)(x >> 24);
	}
	return v;
}

// Two connected peers, each in its own fabric and domain.
class PairTest : public ::testing::Test {
protected:
	Peer a, b;
	fi_addr_t a_to_b = FI_ADDR_NOTAVAIL, b_to_a = FI_ADDR_NOTAVAIL;

	void open_pair(const PeerOpts &oa = PeerOpts(), const PeerOpts &ob = PeerOpts())
	{
		ASSERT_EQ(a.open(oa), 0);
		ASSERT_EQ(b.open(ob), 0);
		a_to_b = a.insert(b);
		b_to_a = b.insert(a);
		ASSERT_NE(a_to_b, FI_ADDR_NOTAVAIL);
		ASSERT_NE(b_to_a, FI_ADDR_NOTAVAIL);
	}
};

} // namespace gsnfi_test

#endif // GSNFI_EP_FIXTURE_H
