// SPDX-License-Identifier: MIT
//
// fi_atomic_test.cc — atomics of the gsn provider: every (op, datatype)
// the provider advertises through fi_atomicvalid / fi_fetch_atomicvalid /
// fi_compare_atomicvalid is run through fi_atomic / fi_fetch_atomic /
// fi_compare_atomic and checked against a reference computed here; what
// it does not advertise must be refused.  Then concurrency (two initiators
// doing fetch-adds on one word), offsets with user keys, errors, inject.
#include "fi_ep_fixture.h"

#include <atomic>
#include <complex>
#include <set>
#include <thread>
#include <type_traits>

using namespace gsnfi_test;

namespace {

enum Kind { kPlain, kFetch, kCompare };

// ---- the reference: what fi_atomic(3) says each op does ---------------------

template <typename T> struct is_complex : std::false_type {};
template <typename T> struct is_complex<std::complex<T>> : std::true_type {};

template <typename T> T wrap_add(T a, T b)
{
	if constexpr (std::is_integral_v<T>) {
		using U = std::make_unsigned_t<T>;
		return (T)(U)((U)a + (U)b);
	} else {
		return a + b;
	}
}

template <typename T> T wrap_mul(T a, T b)
{
	if constexpr (std::is_integral_v<T>) {
		using U = std::make_unsigned_t<T>;
		// promote: unsigned char * unsigned char is int arithmetic
		return (T)(U)((unsigned long long)(U)a * (unsigned long long)(U)b);
	} else {
		return a * b;
	}
}

template <typename T> bool truth(T v) { return v != T(0); }

// The new value of target, or false when the op does not apply to T.
template <typename T> bool reference(fi_op op, T target, T operand, T compare, T *out)
{
	constexpr bool cplx = is_complex<T>::value;
	switch (op) {
	case FI_ATOMIC_READ:
		*out = target;
		return true;
	case FI_ATOMIC_WRITE:
		*out = operand;
		return true;
	case FI_SUM:
		*out = wrap_add(target, operand);
		return true;
	case FI_PROD:
		*out = wrap_mul(target, operand);
		return true;
	case FI_CSWAP:
		*out = compare == target ? operand : target;
		return true;
	case FI_CSWAP_NE:
		*out = compare != target ? operand : target;
		return true;
	default:
		break;
	}
	if constexpr (!cplx) {
		switch (op) {
		case FI_MIN:
			*out = operand < target ? operand : target;
			return true;
		case FI_MAX:
			*out = operand > target ? operand : target;
			return true;
		case FI_LOR:
			*out = (T)(truth(target) || truth(operand));
			return true;
		case FI_LAND:
			*out = (T)(truth(target) && truth(operand));
			return true;
		case FI_LXOR:
			*out = (T)(truth(target) != truth(operand));
			return true;
		case FI_CSWAP_LE:
			*out = compare <= target ? operand : target;
			return true;
		case FI_CSWAP_LT:
			*out = compare < target ? operand : target;
			return true;
		case FI_CSWAP_GE:
			*out = compare >= target ? operand : target;
			return true;
		case FI_CSWAP_GT:
			*out = compare > target ? operand : target;
			return true;
		default:
			break;
		}
		if constexpr (std::is_integral_v<T>) {
			switch (op) {
			case FI_BOR:
				*out = (T)(target | operand);
				return true;
			case FI_BAND:
				*out = (T)(target & operand);
				return true;
			case FI_BXOR:
				*out = (T)(target ^ operand);
				return true;
			case FI_MSWAP:
				*out = (T)((operand & compare) | (target & ~compare));
				return true;
			default:
				break;
			}
		}
	}
	return false;
}

// Values: the first element's compare matches the target, the others not.
template <typename T> T value(int which, int i)
{
	static const long long t[3] = {5, -3, 100};
	static const long long o[3] = {7, 2, -100};
	static const long long c[3] = {5, 1, 101};
	const long long *v = which == 0 ? t : which == 1 ? o : c;

	if constexpr (is_complex<T>::value) {
		using R = typename T::value_type;
		return T((R)v[i] + (R)0.5, (R)(i + 1));
	} else if constexpr (std::is_floating_point_v<T>) {
		return (T)v[i] + (T)0.25;
	} else {
		return (T)v[i];
	}
}

const fi_op kOps[] = {FI_MIN,     FI_MAX,     FI_SUM,     FI_PROD,         FI_LOR,
		      FI_LAND,    FI_BOR,     FI_BAND,    FI_LXOR,         FI_BXOR,
		      FI_ATOMIC_READ, FI_ATOMIC_WRITE, FI_CSWAP, FI_CSWAP_NE, FI_CSWAP_LE,
		      FI_CSWAP_LT, FI_CSWAP_GE, FI_CSWAP_GT, FI_MSWAP};

bool is_compare_op(fi_op op) { return op >= FI_CSWAP && op <= FI_MSWAP; }

class AtomicTest : public PairTest {
protected:
	static constexpr size_t kWin = 4096;
	alignas(64) uint8_t win[kWin] = {};
	fid_mr *win_mr = nullptr;
	uint64_t win_key = 0;
	bool virt = true;

	void open_mode(uint64_t mr_mode)
	{
		PeerOpts o;

		o.mr_mode = mr_mode;
		open_pair(o, o);
		virt = (b.info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0;
		win_mr = b.reg(win, kWin, FI_REMOTE_WRITE | FI_REMOTE_READ, 0x600d);
		ASSERT_NE(win_mr, nullptr);
		win_key = fi_mr_key(win_mr);
	}

	void SetUp() override { open_mode(FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED); }

	uint64_t raddr(size_t off) const
	{
		return virt ? (uint64_t)(uintptr_t)(win + off) : (uint64_t)off;
	}

	int valid(Kind k, fi_datatype dt, fi_op op, size_t *count)
	{
		switch (k) {
		case kPlain:
			return fi_atomicvalid(a.ep, dt, op, count);
		case kFetch:
			return fi_fetch_atomicvalid(a.ep, dt, op, count);
		default:
			return fi_compare_atomicvalid(a.ep, dt, op, count);
		}
	}

	ssize_t post(Kind k, fi_datatype dt, fi_op op, const void *operand, const void *compare,
		     void *result, size_t count, size_t off, void *ctx)
	{
		switch (k) {
		case kPlain:
			return fi_atomic(a.ep, operand, count, nullptr, a_to_b, raddr(off), win_key, dt,
					 op, ctx);
		case kFetch:
			return fi_fetch_atomic(a.ep, operand, count, nullptr, result, nullptr, a_to_b,
					       raddr(off), win_key, dt, op, ctx);
		default:
			return fi_compare_atomic(a.ep, operand, count, nullptr, compare, nullptr,
						 result, nullptr, a_to_b, raddr(off), win_key, dt,
						 op, ctx);
		}
	}

	// Runs (k, dt, op) on 3 elements at an unaligned offset when advertised;
	// checks it is refused otherwise.  Returns whether it was advertised.
	template <typename T> bool run_one(Kind k, fi_datatype dt, fi_op op)
	{
		size_t count = 0;
		int v = valid(k, dt, op, &count);
		T t[3], o[3], c[3], r[3], want[3];
		bool applies = true;

		for (int i = 0; i < 3; i++) {
			t[i] = value<T>(0, i);
			o[i] = value<T>(1, i);
			c[i] = value<T>(2, i);
			r[i] = T();
			applies = applies && reference<T>(op, t[i], o[i], c[i], &want[i]);
		}
		bool kind_ok = k == kCompare ? is_compare_op(op)
					     : !is_compare_op(op) && (op != FI_ATOMIC_READ || k == kFetch);
		const size_t off = 3; // unaligned on purpose
		if (v) {
			EXPECT_EQ(v, -FI_EOPNOTSUPP) << "dt " << dt << " op " << op << " kind " << k;
			EXPECT_EQ(post(k, dt, op, o, c, r, 3, off, nullptr), -FI_EOPNOTSUPP)
				<< "dt " << dt << " op " << op << " kind " << k;
			// the reference and fi_atomic(3) agree it should not be there
			EXPECT_FALSE(applies && kind_ok) << "dt " << dt << " op " << op << " kind " << k;
			return false;
		}
		EXPECT_TRUE(applies && kind_ok) << "dt " << dt << " op " << op << " kind " << k;
		EXPECT_GE(count, 3u);
		memset(win, 0x5a, 256);
		memcpy(win + off, t, sizeof(t));
		fi_cq_tagged_entry e;
		fi_cq_err_entry err;
		EXPECT_EQ(post(k, dt, op, o, c, r, 3, off, &e), 0);
		int ret = wait_cq(a.txcq, &e, &err);
		EXPECT_EQ(ret, 1) << "dt " << dt << " op " << op << " kind " << k << ": "
				  << fi_strerror(err.err);
		if (ret != 1)
			return true;
		EXPECT_TRUE(e.flags & FI_ATOMIC);
		EXPECT_TRUE(e.flags & (k == kPlain ? FI_WRITE : FI_READ));
		T now[3];
		memcpy(now, win + off, sizeof(now));
		for (int i = 0; i < 3; i++) {
			EXPECT_TRUE(now[i] == want[i])
				<< "dt " << dt << " op " << op << " kind " << k << " element " << i;
			if (k != kPlain) {
				EXPECT_TRUE(r[i] == t[i])
					<< "dt " << dt << " op " << op << " kind " << k << " old " << i;
			}
		}
		EXPECT_EQ(win[off - 1], 0x5a); // nothing around it moved
		EXPECT_EQ(win[off + sizeof(t)], 0x5a);
		return true;
	}

	template <typename T> int run_type(fi_datatype dt)
	{
		int n = 0;

		for (fi_op op : kOps)
			for (Kind k : {kPlain, kFetch, kCompare})
				n += run_one<T>(k, dt, op);
		return n;
	}
};

TEST_F(AtomicTest, EveryAdvertisedCombinationComputesRightly)
{
	int n = 0;

	n += run_type<int8_t>(FI_INT8);
	n += run_type<uint8_t>(FI_UINT8);
	n += run_type<int16_t>(FI_INT16);
	n += run_type<uint16_t>(FI_UINT16);
	n += run_type<int32_t>(FI_INT32);
	n += run_type<uint32_t>(FI_UINT32);
	n += run_type<int64_t>(FI_INT64);
	n += run_type<uint64_t>(FI_UINT64);
	n += run_type<float>(FI_FLOAT);
	n += run_type<double>(FI_DOUBLE);
	n += run_type<long double>(FI_LONG_DOUBLE);
	n += run_type<std::complex<float>>(FI_FLOAT_COMPLEX);
	n += run_type<std::complex<double>>(FI_DOUBLE_COMPLEX);
	n += run_type<std::complex<long double>>(FI_LONG_DOUBLE_COMPLEX);
	// what the clients need is among them (INTEGRATION: Open MPI, OpenSHMEM)
	EXPECT_GT(n, 300);
}

TEST_F(AtomicTest, WhatClientsNeedIsValid)
{
	size_t count = 0;

	for (fi_datatype dt : {FI_INT32, FI_INT64, FI_UINT32, FI_UINT64}) {
		EXPECT_EQ(fi_atomicvalid(a.ep, dt, FI_SUM, &count), 0);
		EXPECT_EQ(fi_fetch_atomicvalid(a.ep, dt, FI_SUM, &count), 0);
		EXPECT_EQ(fi_fetch_atomicvalid(a.ep, dt, FI_ATOMIC_WRITE, &count), 0);
		EXPECT_EQ(fi_compare_atomicvalid(a.ep, dt, FI_CSWAP, &count), 0);
		EXPECT_EQ(fi_compare_atomicvalid(a.ep, dt, FI_MSWAP, &count), 0);
	}
	for (fi_datatype dt : {FI_INT32, FI_INT64, FI_FLOAT, FI_DOUBLE}) {
		EXPECT_EQ(fi_fetch_atomicvalid(a.ep, dt, FI_ATOMIC_READ, &count), 0);
		EXPECT_EQ(fi_atomicvalid(a.ep, dt, FI_ATOMIC_WRITE, &count), 0);
	}
	// the count is what one message holds, and it works
	ASSERT_EQ(fi_atomicvalid(a.ep, FI_UINT64, FI_SUM, &count), 0);
	ASSERT_GE(count, 1u);
	std::vector<uint64_t> ones(count, 1);
	std::vector<uint8_t> big(count * 8 + 8);
	fid_mr *mr = b.reg(big.data(), big.size(), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x600e);
	ASSERT_NE(mr, nullptr);
	ASSERT_EQ(fi_atomic(a.ep, ones.data(), count, nullptr, a_to_b,
			    virt ? (uint64_t)(uintptr_t)big.data() : 0, fi_mr_key(mr), FI_UINT64,
			    FI_SUM, nullptr),
		  0);
	fi_cq_tagged_entry e;
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	uint64_t last;
	memcpy(&last, big.data() + (count - 1) * 8, 8);
	EXPECT_EQ(last, 1u);
	ones.push_back(1);
	EXPECT_EQ(fi_atomic(a.ep, ones.data(), count + 1, nullptr, a_to_b,
			    virt ? (uint64_t)(uintptr_t)big.data() : 0, fi_mr_key(mr), FI_UINT64,
			    FI_SUM, nullptr),
		  -FI_EMSGSIZE);
}

TEST_F(AtomicTest, ErrorsComeBackAsCompletions)
{
	uint64_t one = 1, old = 0;
	fi_cq_tagged_entry e;
	fi_cq_err_entry err;

	// a wrong key
	ASSERT_EQ(fi_fetch_atomic(a.ep, &one, 1, nullptr, &old, nullptr, a_to_b, raddr(0),
				  win_key + 5, FI_UINT64, FI_SUM, &old),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	EXPECT_EQ(err.op_context, &old);
	// outside the window
	ASSERT_EQ(fi_atomic(a.ep, &one, 1, nullptr, a_to_b, raddr(kWin - 4), win_key, FI_UINT64,
			    FI_SUM, nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	// a window that may only be read
	uint64_t ro = 9;
	fid_mr *mr = b.reg(&ro, 8, FI_REMOTE_READ, 0x600f);
	ASSERT_NE(mr, nullptr);
	uint64_t at = virt ? (uint64_t)(uintptr_t)&ro : 0;
	ASSERT_EQ(fi_atomic(a.ep, &one, 1, nullptr, a_to_b, at, fi_mr_key(mr), FI_UINT64, FI_SUM,
			    nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e, &err), -FI_EAVAIL);
	EXPECT_EQ(err.err, FI_EACCES);
	ASSERT_EQ(fi_fetch_atomic(a.ep, nullptr, 1, nullptr, &old, nullptr, a_to_b, at,
				  fi_mr_key(mr), FI_UINT64, FI_ATOMIC_READ, nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_EQ(old, 9u);
	EXPECT_EQ(ro, 9u);
	// software atomics do not break the connection: the next one works
	memset(win, 0, 8);
	ASSERT_EQ(fi_atomic(a.ep, &one, 1, nullptr, a_to_b, raddr(0), win_key, FI_UINT64, FI_SUM,
			    nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	uint64_t v;
	memcpy(&v, win, 8);
	EXPECT_EQ(v, 1u);
}

TEST_F(AtomicTest, InjectThenFetchSeesIt)
{
	uint64_t add = 40, two = 2, old = 0;
	fi_cq_tagged_entry e;

	memset(win, 0, 16);
	ASSERT_EQ(fi_inject_atomic(a.ep, &add, 1, a_to_b, raddr(8), win_key, FI_UINT64, FI_SUM), 0);
	add = 0;
	ASSERT_EQ(fi_fetch_atomic(a.ep, &two, 1, nullptr, &old, nullptr, a_to_b, raddr(8), win_key,
				  FI_UINT64, FI_SUM, nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_EQ(old, 40u);
	uint64_t v;
	memcpy(&v, win + 8, 8);
	EXPECT_EQ(v, 42u);
	EXPECT_TRUE(cq_stays_empty(a.txcq, 50));
}

TEST_F(AtomicTest, IocVectors)
{
	uint32_t o1[2] = {1, 2}, o2[1] = {3}, c1[3] = {0, 0, 0}, r1[1], r2[2];
	fi_ioc op_iov[2] = {{o1, 2}, {o2, 1}};
	fi_ioc cmp_iov[1] = {{c1, 3}};
	fi_ioc res_iov[2] = {{r1, 1}, {r2, 2}};
	fi_rma_ioc rma = {raddr(16), 3, win_key};
	fi_msg_atomic msg = {op_iov, nullptr, 2, a_to_b, &rma, 1, FI_UINT32, FI_CSWAP, nullptr, 0};
	uint32_t init[3] = {0, 7, 0};
	fi_cq_tagged_entry e;

	memcpy(win + 16, init, sizeof(init));
	ASSERT_EQ(fi_compare_atomicmsg(a.ep, &msg, cmp_iov, nullptr, 1, res_iov, nullptr, 2, 0), 0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	uint32_t now[3];
	memcpy(now, win + 16, sizeof(now));
	EXPECT_EQ(now[0], 1u);
	EXPECT_EQ(now[1], 7u); // compare 0 != 7: unchanged
	EXPECT_EQ(now[2], 3u);
	EXPECT_EQ(r1[0], 0u);
	EXPECT_EQ(r2[0], 7u);
	EXPECT_EQ(r2[1], 0u);
}

TEST(AtomicOffsetTest, UserKeysAndOffsets)
{
	Peer a, b;
	PeerOpts o;
	o.mr_mode = 0;
	ASSERT_EQ(a.open(o), 0);
	ASSERT_EQ(b.open(o), 0);
	fi_addr_t a_to_b = a.insert(b);
	uint64_t win[4] = {10, 20, 30, 40};
	fid_mr *mr = b.reg(win, sizeof(win), FI_REMOTE_WRITE | FI_REMOTE_READ, 0x4000);
	ASSERT_NE(mr, nullptr);
	ASSERT_EQ(fi_mr_key(mr), 0x4000u);
	uint64_t cmp = 30, swp = 33, old = 0;
	fi_cq_tagged_entry e;
	ASSERT_EQ(fi_compare_atomic(a.ep, &swp, 1, nullptr, &cmp, nullptr, &old, nullptr, a_to_b,
				    16, 0x4000, FI_UINT64, FI_CSWAP, nullptr),
		  0);
	ASSERT_EQ(wait_cq(a.txcq, &e), 1);
	EXPECT_EQ(old, 30u);
	EXPECT_EQ(win[2], 33u);
}

// Two initiators (own domains, own threads) x 1000 fetch-adds on one word:
// the word ends at 2000 and the old values seen are exactly 0..1999.
TEST(AtomicConcurrencyTest, TwoInitiatorsFetchAdd)
{
	Peer t, x, y;
	ASSERT_EQ(t.open(), 0);
	ASSERT_EQ(x.open(), 0);
	ASSERT_EQ(y.open(), 0);
	alignas(8) uint64_t word = 0;
	fid_mr *mr = t.reg(&word, 8, FI_REMOTE_WRITE | FI_REMOTE_READ, 0x7000);
	ASSERT_NE(mr, nullptr);
	uint64_t key = fi_mr_key(mr);
	const int n = 1000, window = 32;
	std::vector<uint64_t> seen_x(n), seen_y(n);
	std::atomic<int> failures{0};

	auto run = [&](Peer &p, std::vector<uint64_t> &seen) {
		fi_addr_t to = p.insert(t);
		uint64_t one = 1;
		int posted = 0, done = 0;
		fi_cq_tagged_entry e;

		while (done < n) {
			while (posted < n && posted - done < window) {
				ssize_t r = fi_fetch_atomic(p.ep, &one, 1, nullptr, &seen[posted],
							    nullptr, to, (uint64_t)(uintptr_t)&word,
							    key, FI_UINT64, FI_SUM, nullptr);
				if (r == -FI_EAGAIN)
					break;
				if (r) {
					failures++;
					return;
				}
				posted++;
			}
			int ret = wait_cq(p.txcq, &e);
			if (ret != 1) {
				failures++;
				return;
			}
			done++;
		}
	};
	std::thread tx([&] { run(x, seen_x); });
	std::thread ty([&] { run(y, seen_y); });
	tx.join();
	ty.join();
	ASSERT_EQ(failures.load(), 0);
	EXPECT_EQ(word, 2u * n);
	std::set<uint64_t> all(seen_x.begin(), seen_x.end());
	all.insert(seen_y.begin(), seen_y.end());
	EXPECT_EQ(all.size(), 2u * n);
	EXPECT_EQ(*all.begin(), 0u);
	EXPECT_EQ(*all.rbegin(), 2u * n - 1);
}

} // namespace
