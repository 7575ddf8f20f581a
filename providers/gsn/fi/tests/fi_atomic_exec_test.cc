// SPDX-License-Identifier: MIT
// The provider's atomic executor (fi_atomic_exec.h): the supported (op,
// datatype, kind) set against an independent listing of fi_atomic(3) and
// the provider's choices; every supported combination applied with count 1
// and count 7 over unaligned buffers and checked against a straightforward
// reference (target, old values in result, untouched inputs and guard
// bytes); hand-computed cases for wrap-around, the direction of the
// CSWAP_xx comparisons, MSWAP, signed order, floats and complex numbers;
// rejected combinations and missing buffers leave memory alone.  Built with
// UBSan, the signed overflow cases also prove there is no undefined
// behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "fi_atomic_exec.h"

namespace {

const fi_op kPlainOps[] = {
	FI_MIN, FI_MAX, FI_SUM, FI_PROD, FI_LOR, FI_LAND,
	FI_BOR, FI_BAND, FI_LXOR, FI_BXOR, FI_ATOMIC_WRITE,
};
const fi_op kCompareOps[] = {
	FI_CSWAP, FI_CSWAP_NE, FI_CSWAP_LE, FI_CSWAP_LT,
	FI_CSWAP_GE, FI_CSWAP_GT, FI_MSWAP,
};
const gsnfi_atomic_kind kKinds[] = {
	GSNFI_ATOMIC_PLAIN, GSNFI_ATOMIC_FETCH, GSNFI_ATOMIC_COMPARE,
};

std::vector<fi_op> ops_of(gsnfi_atomic_kind kind)
{
	std::vector<fi_op> ops;

	switch (kind) {
	case GSNFI_ATOMIC_PLAIN:
		ops.assign(std::begin(kPlainOps), std::end(kPlainOps));
		break;
	case GSNFI_ATOMIC_FETCH:
		ops.assign(std::begin(kPlainOps), std::end(kPlainOps));
		ops.push_back(FI_ATOMIC_READ);
		break;
	case GSNFI_ATOMIC_COMPARE:
		ops.assign(std::begin(kCompareOps), std::end(kCompareOps));
		break;
	}
	return ops;
}

bool contains(const std::vector<fi_op> &ops, fi_op op)
{
	return std::find(ops.begin(), ops.end(), op) != ops.end();
}

enum class TypeClass { Integer, Real, Complex, Unsupported };

TypeClass class_of(fi_datatype dt)
{
	switch (dt) {
	case FI_INT8: case FI_UINT8: case FI_INT16: case FI_UINT16:
	case FI_INT32: case FI_UINT32: case FI_INT64: case FI_UINT64:
		return TypeClass::Integer;
	case FI_FLOAT: case FI_DOUBLE: case FI_LONG_DOUBLE:
		return TypeClass::Real;
	case FI_FLOAT_COMPLEX: case FI_DOUBLE_COMPLEX:
	case FI_LONG_DOUBLE_COMPLEX:
		return TypeClass::Complex;
	default:
		return TypeClass::Unsupported;
	}
}

size_t size_of(fi_datatype dt)
{
	switch (dt) {
	case FI_INT8: case FI_UINT8: return 1;
	case FI_INT16: case FI_UINT16: return 2;
	case FI_INT32: case FI_UINT32: return 4;
	case FI_INT64: case FI_UINT64: return 8;
	case FI_FLOAT: return sizeof(float);
	case FI_DOUBLE: return sizeof(double);
	case FI_LONG_DOUBLE: return sizeof(long double);
	case FI_FLOAT_COMPLEX: return sizeof(std::complex<float>);
	case FI_DOUBLE_COMPLEX: return sizeof(std::complex<double>);
	case FI_LONG_DOUBLE_COMPLEX: return sizeof(std::complex<long double>);
	default: return 0;
	}
}

// What the executor must support, spelled out from the specification.
bool spec_supported(fi_datatype dt, fi_op op, gsnfi_atomic_kind kind)
{
	if (!contains(ops_of(kind), op))
		return false;
	switch (class_of(dt)) {
	case TypeClass::Integer:
		return true;
	case TypeClass::Real:
		return op != FI_BOR && op != FI_BAND && op != FI_BXOR &&
		       op != FI_MSWAP;
	case TypeClass::Complex:
		return op == FI_SUM || op == FI_PROD || op == FI_ATOMIC_READ ||
		       op == FI_ATOMIC_WRITE || op == FI_CSWAP ||
		       op == FI_CSWAP_NE;
	case TypeClass::Unsupported:
		break;
	}
	return false;
}

gsnfi_atomic_kind kind_of(fi_op op)
{
	if (op == FI_ATOMIC_READ)
		return GSNFI_ATOMIC_FETCH;
	for (fi_op c : kCompareOps) {
		if (c == op)
			return GSNFI_ATOMIC_COMPARE;
	}
	return GSNFI_ATOMIC_PLAIN;
}

std::string describe(fi_datatype dt, fi_op op, gsnfi_atomic_kind kind)
{
	return "datatype " + std::to_string(dt) + " op " + std::to_string(op) +
	       " kind " + std::to_string(kind);
}

// ---- the reference ----------------------------------------------------

// Arithmetic type in which T's sum and product wrap without overflow.
template <typename T>
using Wide = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned,
				std::make_unsigned_t<T>>;

template <typename T> bool truth(T v)
{
	return v != T(0);
}

template <typename T> T reference_sum(T t, T o)
{
	if constexpr (std::is_integral_v<T>)
		return static_cast<T>(static_cast<Wide<T>>(t) +
				      static_cast<Wide<T>>(o));
	else
		return t + o;
}

template <typename T> T reference_prod(T t, T o)
{
	if constexpr (std::is_integral_v<T>)
		return static_cast<T>(static_cast<Wide<T>>(t) *
				      static_cast<Wide<T>>(o));
	else
		return t * o;
}

// fi_atomic(3)'s pseudo-code for one element: the new target value.
template <typename T> T reference(fi_op op, T t, T o, T c)
{
	switch (op) {
	case FI_MIN: return o < t ? o : t;
	case FI_MAX: return o > t ? o : t;
	case FI_SUM: return reference_sum(t, o);
	case FI_PROD: return reference_prod(t, o);
	case FI_LOR: return T(truth(t) || truth(o));
	case FI_LAND: return T(truth(t) && truth(o));
	case FI_LXOR:
		return T((truth(t) && !truth(o)) || (!truth(t) && truth(o)));
	case FI_ATOMIC_READ: return t;
	case FI_ATOMIC_WRITE: return o;
	case FI_CSWAP: return c == t ? o : t;
	case FI_CSWAP_NE: return c != t ? o : t;
	case FI_CSWAP_LE: return c <= t ? o : t;
	case FI_CSWAP_LT: return c < t ? o : t;
	case FI_CSWAP_GE: return c >= t ? o : t;
	case FI_CSWAP_GT: return c > t ? o : t;
	default: break;
	}
	if constexpr (std::is_integral_v<T>) {
		switch (op) {
		case FI_BOR: return static_cast<T>(t | o);
		case FI_BAND: return static_cast<T>(t & o);
		case FI_BXOR: return static_cast<T>(t ^ o);
		case FI_MSWAP: return static_cast<T>((o & c) | (t & ~c));
		default: break;
		}
	}
	ADD_FAILURE() << "no reference for op " << op;
	return t;
}

template <typename F>
std::complex<F> reference(fi_op op, std::complex<F> t, std::complex<F> o,
			  std::complex<F> c)
{
	switch (op) {
	case FI_SUM: return t + o;
	case FI_PROD: return t * o;
	case FI_ATOMIC_READ: return t;
	case FI_ATOMIC_WRITE: return o;
	case FI_CSWAP: return c == t ? o : t;
	case FI_CSWAP_NE: return c != t ? o : t;
	default: break;
	}
	ADD_FAILURE() << "no complex reference for op " << op;
	return t;
}

// Equal values: NaN matches NaN, and zeros must agree on their sign.
template <typename T> bool same_value(T a, T b)
{
	if constexpr (std::is_floating_point_v<T>) {
		if (std::isnan(a) || std::isnan(b))
			return std::isnan(a) && std::isnan(b);
		return a == b && std::signbit(a) == std::signbit(b);
	} else {
		return a == b;
	}
}

template <typename F>
bool same_value(std::complex<F> a, std::complex<F> b)
{
	return same_value(a.real(), b.real()) && same_value(a.imag(), b.imag());
}

template <typename T> std::string show(T v)
{
	std::ostringstream s;

	if constexpr (std::is_integral_v<T>) {
		if constexpr (std::is_signed_v<T>)
			s << static_cast<long long>(v);
		else
			s << static_cast<unsigned long long>(v);
	} else {
		s << v;
	}
	return s.str();
}

// ---- unaligned buffers with guard bytes ------------------------------

constexpr unsigned char kGuard = 0xA5;

class Buffer {
public:
	// One leading byte puts the elements off any natural alignment.
	static constexpr size_t kLead = 1, kTrail = 8;

	Buffer(size_t elem_size, size_t count)
		: elem_size_(elem_size), count_(count),
		  bytes_(kLead + elem_size * count + kTrail, kGuard)
	{
	}

	unsigned char *data() { return bytes_.data() + kLead; }
	const unsigned char *data() const { return bytes_.data() + kLead; }
	size_t length() const { return elem_size_ * count_; }

	template <typename T> void put(size_t i, T v)
	{
		std::memcpy(data() + i * sizeof(T), &v, sizeof(T));
	}

	template <typename T> T get(size_t i) const
	{
		T v;

		std::memcpy(&v, data() + i * sizeof(T), sizeof(T));
		return v;
	}

	bool guards_intact() const
	{
		auto good = [](unsigned char b) { return b == kGuard; };

		return std::all_of(bytes_.begin(), bytes_.begin() + kLead,
				   good) &&
		       std::all_of(bytes_.end() - kTrail, bytes_.end(), good);
	}

	std::vector<unsigned char> contents() const
	{
		return std::vector<unsigned char>(data(), data() + length());
	}

private:
	size_t elem_size_, count_;
	std::vector<unsigned char> bytes_;
};

// ---- driving every supported combination -----------------------------

template <typename T> struct Triple {
	T target, operand, compare;
};

template <typename T>
std::vector<Triple<T>> all_triples(const std::vector<T> &values)
{
	std::vector<Triple<T>> triples;

	for (const T &t : values)
		for (const T &o : values)
			for (const T &c : values)
				triples.push_back({t, o, c});
	return triples;
}

// Applies op to the given elements; true if everything matches the
// reference (the first mismatch is reported).
template <typename T>
bool check_apply(fi_datatype dt, fi_op op, const std::vector<Triple<T>> &in,
		 bool with_result)
{
	const size_t n = in.size();
	const bool compare_op = kind_of(op) == GSNFI_ATOMIC_COMPARE;
	Buffer target(sizeof(T), n), operand(sizeof(T), n);
	Buffer compare(sizeof(T), n), result(sizeof(T), n);

	for (size_t i = 0; i < n; i++) {
		target.put(i, in[i].target);
		operand.put(i, in[i].operand);
		compare.put(i, in[i].compare);
	}
	const auto old_target = target.contents();
	const auto old_operand = operand.contents();
	const auto old_compare = compare.contents();
	const auto untouched_result = result.contents();

	// READ ignores its operand, which may then be NULL.
	int ret = gsnfi_atomic_apply(
		op, dt, target.data(),
		op == FI_ATOMIC_READ ? nullptr : operand.data(),
		compare_op ? compare.data() : nullptr,
		with_result ? result.data() : nullptr, n);
	if (ret != 0) {
		ADD_FAILURE() << "apply returned " << ret;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const Triple<T> &e = in[i];
		const T want = reference(op, e.target, e.operand, e.compare);
		const T got = target.get<T>(i);

		if (!same_value(got, want)) {
			ADD_FAILURE() << "element " << i << " of " << n
				      << ": target " << show(e.target)
				      << " operand " << show(e.operand)
				      << " compare " << show(e.compare)
				      << " -> " << show(got) << ", expected "
				      << show(want);
			return false;
		}
	}
	EXPECT_EQ(result.contents(),
		  with_result ? old_target : untouched_result);
	EXPECT_EQ(operand.contents(), old_operand);
	EXPECT_EQ(compare.contents(), old_compare);
	EXPECT_TRUE(target.guards_intact());
	EXPECT_TRUE(operand.guards_intact());
	EXPECT_TRUE(compare.guards_intact());
	EXPECT_TRUE(result.guards_intact());
	return !::testing::Test::HasFailure();
}

// Every supported (op, kind) of dt over every triple of values: one
// element at a time, then seven at a time.
template <typename T>
void check_datatype(fi_datatype dt, const std::vector<T> &values)
{
	const auto triples = all_triples(values);
	size_t size = 0;
	int combinations = 0;

	ASSERT_EQ(size_of(dt), sizeof(T));
	for (gsnfi_atomic_kind kind : kKinds) {
		for (fi_op op : ops_of(kind)) {
			if (!spec_supported(dt, op, kind))
				continue;
			SCOPED_TRACE(describe(dt, op, kind));
			ASSERT_EQ(gsnfi_atomic_query(dt, op, kind, &size), 0);
			ASSERT_EQ(size, sizeof(T));
			combinations++;

			// fi_atomic returns nothing, the others the old values;
			// READ needs its result buffer.
			std::vector<bool> result_modes;
			if (kind != GSNFI_ATOMIC_FETCH)
				result_modes.push_back(false);
			if (kind != GSNFI_ATOMIC_PLAIN)
				result_modes.push_back(true);

			for (bool with_result : result_modes) {
				for (const auto &e : triples) {
					if (!check_apply<T>(dt, op, {e},
							    with_result))
						return;
				}
				for (size_t at = 0; at < triples.size();
				     at += 7) {
					std::vector<Triple<T>> seven;

					for (size_t i = 0; i < 7; i++)
						seven.push_back(
							triples[(at + i) %
								triples.size()]);
					if (!check_apply<T>(dt, op, seven,
							    with_result))
						return;
				}
			}
		}
	}
	// (op, kind) pairs: plain + fetch + compare.
	switch (class_of(dt)) {
	case TypeClass::Integer: EXPECT_EQ(combinations, 11 + 12 + 7); break;
	case TypeClass::Real: EXPECT_EQ(combinations, 8 + 9 + 6); break;
	case TypeClass::Complex: EXPECT_EQ(combinations, 3 + 4 + 2); break;
	case TypeClass::Unsupported: ADD_FAILURE(); break;
	}
}

template <typename T> std::vector<T> signed_values()
{
	return {0, 1, static_cast<T>(-1), 3, std::numeric_limits<T>::min(),
		std::numeric_limits<T>::max()};
}

template <typename T> std::vector<T> unsigned_values()
{
	const T max = std::numeric_limits<T>::max();

	return {0, 1, 3, static_cast<T>(max / 2 + 1),
		static_cast<T>(0x5A5A5A5A5A5A5A5AULL), max};
}

template <typename T> std::vector<T> real_values()
{
	return {T(0), -T(0), T(1), T(-1.5), T(3.25),
		std::numeric_limits<T>::infinity(),
		std::numeric_limits<T>::quiet_NaN()};
}

template <typename F> std::vector<std::complex<F>> complex_values()
{
	return {{0, 0}, {1, 0}, {0, 1}, {F(-1.5), 2}, {F(3.25), F(-0.5)}};
}

TEST(GsnFiAtomicExec, Int8MatchesReference)
{
	check_datatype<int8_t>(FI_INT8, signed_values<int8_t>());
}

TEST(GsnFiAtomicExec, Uint8MatchesReference)
{
	check_datatype<uint8_t>(FI_UINT8, unsigned_values<uint8_t>());
}

TEST(GsnFiAtomicExec, Int16MatchesReference)
{
	check_datatype<int16_t>(FI_INT16, signed_values<int16_t>());
}

TEST(GsnFiAtomicExec, Uint16MatchesReference)
{
	check_datatype<uint16_t>(FI_UINT16, unsigned_values<uint16_t>());
}

TEST(GsnFiAtomicExec, Int32MatchesReference)
{
	check_datatype<int32_t>(FI_INT32, signed_values<int32_t>());
}

TEST(GsnFiAtomicExec, Uint32MatchesReference)
{
	check_datatype<uint32_t>(FI_UINT32, unsigned_values<uint32_t>());
}

TEST(GsnFiAtomicExec, Int64MatchesReference)
{
	check_datatype<int64_t>(FI_INT64, signed_values<int64_t>());
}

TEST(GsnFiAtomicExec, Uint64MatchesReference)
{
	check_datatype<uint64_t>(FI_UINT64, unsigned_values<uint64_t>());
}

TEST(GsnFiAtomicExec, FloatMatchesReference)
{
	check_datatype<float>(FI_FLOAT, real_values<float>());
}

TEST(GsnFiAtomicExec, DoubleMatchesReference)
{
	check_datatype<double>(FI_DOUBLE, real_values<double>());
}

TEST(GsnFiAtomicExec, LongDoubleMatchesReference)
{
	check_datatype<long double>(FI_LONG_DOUBLE, real_values<long double>());
}

TEST(GsnFiAtomicExec, FloatComplexMatchesReference)
{
	check_datatype<std::complex<float>>(FI_FLOAT_COMPLEX,
					    complex_values<float>());
}

TEST(GsnFiAtomicExec, DoubleComplexMatchesReference)
{
	check_datatype<std::complex<double>>(FI_DOUBLE_COMPLEX,
					     complex_values<double>());
}

TEST(GsnFiAtomicExec, LongDoubleComplexMatchesReference)
{
	check_datatype<std::complex<long double>>(
		FI_LONG_DOUBLE_COMPLEX, complex_values<long double>());
}

// ---- the supported set and its rejections ----------------------------

TEST(GsnFiAtomicExec, QueryMatchesSpecification)
{
	std::vector<fi_datatype> dts;
	std::vector<fi_op> ops;

	for (int dt = FI_INT8; dt <= FI_UINT128; dt++)
		dts.push_back(static_cast<fi_datatype>(dt));
	dts.push_back(FI_VOID);
	for (int op = FI_MIN; op < FI_ATOMIC_OP_LAST; op++)
		ops.push_back(static_cast<fi_op>(op));
	ops.push_back(FI_NOOP);

	for (fi_datatype dt : dts) {
		for (fi_op op : ops) {
			for (gsnfi_atomic_kind kind : kKinds) {
				SCOPED_TRACE(describe(dt, op, kind));
				const size_t sentinel = 12345;
				size_t size = sentinel;
				int ret = gsnfi_atomic_query(dt, op, kind,
							     &size);

				if (spec_supported(dt, op, kind)) {
					EXPECT_EQ(ret, 0);
					EXPECT_EQ(size, size_of(dt));
					EXPECT_EQ(gsnfi_atomic_query(
							  dt, op, kind, nullptr),
						  0);
				} else {
					EXPECT_EQ(ret, -FI_EOPNOTSUPP);
					EXPECT_EQ(size, sentinel);
				}
			}
		}
	}
}

TEST(GsnFiAtomicExec, QueryRejectsValuesOutsideTheEnums)
{
	size_t size = 0;
	// In the range of the C++ enums (0..511), but no enumerator.
	const int bad_dts[] = {FI_UINT128 + 1, 100, 255, 257, 511};
	const int bad_ops[] = {FI_ATOMIC_OP_LAST, 100, 255, 257, 511};

	for (int dt : bad_dts) {
		EXPECT_EQ(gsnfi_atomic_query(static_cast<fi_datatype>(dt),
					     FI_SUM, GSNFI_ATOMIC_PLAIN, &size),
			  -FI_EINVAL)
			<< dt;
	}
	for (int op : bad_ops) {
		EXPECT_EQ(gsnfi_atomic_query(FI_INT32, static_cast<fi_op>(op),
					     GSNFI_ATOMIC_FETCH, &size),
			  -FI_EINVAL)
			<< op;
	}
	EXPECT_EQ(gsnfi_atomic_query(FI_INT32, FI_SUM,
				     static_cast<gsnfi_atomic_kind>(3), &size),
		  -FI_EINVAL);
	// Known but unsupported values are not "invalid".
	EXPECT_EQ(gsnfi_atomic_query(FI_INT128, FI_SUM, GSNFI_ATOMIC_PLAIN,
				     &size),
		  -FI_EOPNOTSUPP);
	EXPECT_EQ(gsnfi_atomic_query(FI_VOID, FI_SUM, GSNFI_ATOMIC_PLAIN,
				     &size),
		  -FI_EOPNOTSUPP);
	EXPECT_EQ(gsnfi_atomic_query(FI_INT32, FI_NOOP, GSNFI_ATOMIC_PLAIN,
				     &size),
		  -FI_EOPNOTSUPP);
}

// What apply refuses it does not touch.
TEST(GsnFiAtomicExec, ApplyRejectsUnsupportedCombinations)
{
	struct Case {
		fi_op op;
		fi_datatype dt;
		int error;
	} cases[] = {
		{FI_BOR, FI_FLOAT, -FI_EOPNOTSUPP},
		{FI_BXOR, FI_DOUBLE, -FI_EOPNOTSUPP},
		{FI_MSWAP, FI_LONG_DOUBLE, -FI_EOPNOTSUPP},
		{FI_MIN, FI_FLOAT_COMPLEX, -FI_EOPNOTSUPP},
		{FI_MAX, FI_DOUBLE_COMPLEX, -FI_EOPNOTSUPP},
		{FI_LOR, FI_DOUBLE_COMPLEX, -FI_EOPNOTSUPP},
		{FI_CSWAP_LE, FI_LONG_DOUBLE_COMPLEX, -FI_EOPNOTSUPP},
		{FI_CSWAP_GT, FI_FLOAT_COMPLEX, -FI_EOPNOTSUPP},
		{FI_SUM, FI_INT128, -FI_EOPNOTSUPP},
		{FI_CSWAP, FI_UINT128, -FI_EOPNOTSUPP},
		{FI_SUM, FI_VOID, -FI_EOPNOTSUPP},
		{FI_NOOP, FI_INT32, -FI_EOPNOTSUPP},
		{static_cast<fi_op>(FI_ATOMIC_OP_LAST), FI_INT32, -FI_EINVAL},
		{FI_SUM, static_cast<fi_datatype>(FI_UINT128 + 1), -FI_EINVAL},
	};

	for (const Case &c : cases) {
		SCOPED_TRACE(describe(c.dt, c.op, kind_of(c.op)));
		Buffer target(32, 2), operand(32, 2), compare(32, 2);
		Buffer result(32, 2);

		for (size_t i = 0; i < target.length(); i++) {
			target.data()[i] = static_cast<unsigned char>(i + 1);
			operand.data()[i] = static_cast<unsigned char>(0x80 + i);
			compare.data()[i] = static_cast<unsigned char>(i + 1);
		}
		const auto before = target.contents();
		const auto result_before = result.contents();

		EXPECT_EQ(gsnfi_atomic_apply(c.op, c.dt, target.data(),
					     operand.data(), compare.data(),
					     result.data(), 2),
			  c.error);
		EXPECT_EQ(target.contents(), before);
		EXPECT_EQ(result.contents(), result_before);
	}
}

TEST(GsnFiAtomicExec, ApplyNeedsItsBuffers)
{
	uint32_t target = 7, operand = 1, compare = 7, result = 0;

	EXPECT_EQ(gsnfi_atomic_apply(FI_SUM, FI_UINT32, nullptr, &operand,
				     nullptr, nullptr, 1),
		  -FI_EINVAL);
	EXPECT_EQ(gsnfi_atomic_apply(FI_SUM, FI_UINT32, &target, nullptr,
				     nullptr, nullptr, 1),
		  -FI_EINVAL);
	EXPECT_EQ(gsnfi_atomic_apply(FI_ATOMIC_WRITE, FI_UINT32, &target,
				     nullptr, nullptr, &result, 1),
		  -FI_EINVAL);
	EXPECT_EQ(gsnfi_atomic_apply(FI_CSWAP, FI_UINT32, &target, &operand,
				     nullptr, &result, 1),
		  -FI_EINVAL);
	EXPECT_EQ(gsnfi_atomic_apply(FI_ATOMIC_READ, FI_UINT32, &target,
				     nullptr, nullptr, nullptr, 1),
		  -FI_EINVAL);
	EXPECT_EQ(target, 7u);
	EXPECT_EQ(result, 0u);

	// Nothing to do is fine, even without buffers; the combination is
	// still checked.
	EXPECT_EQ(gsnfi_atomic_apply(FI_SUM, FI_UINT32, nullptr, nullptr,
				     nullptr, nullptr, 0),
		  0);
	EXPECT_EQ(gsnfi_atomic_apply(FI_BOR, FI_FLOAT, nullptr, nullptr,
				     nullptr, nullptr, 0),
		  -FI_EOPNOTSUPP);

	// Non-compare ops ignore compare; the operand is ignored by READ.
	EXPECT_EQ(gsnfi_atomic_apply(FI_SUM, FI_UINT32, &target, &operand,
				     &compare, nullptr, 1),
		  0);
	EXPECT_EQ(target, 8u);
	EXPECT_EQ(gsnfi_atomic_apply(FI_ATOMIC_READ, FI_UINT32, &target,
				     &operand, nullptr, &result, 1),
		  0);
	EXPECT_EQ(target, 8u);
	EXPECT_EQ(result, 8u);
}

// ---- hand-computed cases ---------------------------------------------

template <typename T>
T apply_one(fi_op op, fi_datatype dt, T target, T operand, T compare = T())
{
	T result{};

	EXPECT_EQ(gsnfi_atomic_apply(op, dt, &target, &operand, &compare,
				     &result, 1),
		  0);
	return target;
}

TEST(GsnFiAtomicExec, SignedOverflowWraps)
{
	EXPECT_EQ(apply_one<int8_t>(FI_SUM, FI_INT8, INT8_MAX, 1), INT8_MIN);
	EXPECT_EQ(apply_one<int8_t>(FI_PROD, FI_INT8, INT8_MIN, -1), INT8_MIN);
	EXPECT_EQ(apply_one<int16_t>(FI_PROD, FI_INT16, 300, 300), 24464);
	EXPECT_EQ(apply_one<int16_t>(FI_SUM, FI_INT16, INT16_MIN, -1),
		  INT16_MAX);
	EXPECT_EQ(apply_one<int32_t>(FI_SUM, FI_INT32, INT32_MAX, 1), INT32_MIN);
	EXPECT_EQ(apply_one<int32_t>(FI_PROD, FI_INT32, INT32_MIN, -1),
		  INT32_MIN);
	EXPECT_EQ(apply_one<int32_t>(FI_PROD, FI_INT32, 65536, 65537), 65536);
	EXPECT_EQ(apply_one<int64_t>(FI_SUM, FI_INT64, INT64_MAX, INT64_MAX),
		  -2);
	EXPECT_EQ(apply_one<int64_t>(FI_PROD, FI_INT64, INT64_MIN, -1),
		  INT64_MIN);
	// Unsigned types narrower than int must not overflow int either.
	EXPECT_EQ(apply_one<uint16_t>(FI_PROD, FI_UINT16, 65535, 65535), 1);
	EXPECT_EQ(apply_one<uint8_t>(FI_PROD, FI_UINT8, 200, 2), 144);
	EXPECT_EQ(apply_one<uint32_t>(FI_SUM, FI_UINT32, UINT32_MAX, 2), 1u);
	EXPECT_EQ(apply_one<uint64_t>(FI_PROD, FI_UINT64, UINT64_MAX,
				      UINT64_MAX),
		  1u);
}

// fi_atomic(3): "if (compare[i] <= addr[i]) addr[i] = buf[i]", etc.
TEST(GsnFiAtomicExec, CompareIsTheLeftHandSide)
{
	const int32_t target = 5, operand = 9;

	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LE, FI_INT32, target, operand, 1),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LE, FI_INT32, target, operand, 5),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LE, FI_INT32, target, operand, 6),
		  5);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LT, FI_INT32, target, operand, 1),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LT, FI_INT32, target, operand, 5),
		  5);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_GE, FI_INT32, target, operand, 1),
		  5);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_GE, FI_INT32, target, operand, 5),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_GT, FI_INT32, target, operand, 6),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_GT, FI_INT32, target, operand, 5),
		  5);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP, FI_INT32, target, operand, 5),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP, FI_INT32, target, operand, 4),
		  5);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_NE, FI_INT32, target, operand, 4),
		  9);
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_NE, FI_INT32, target, operand, 5),
		  5);
	// Signed order: -1 < 5 for INT32, 0xFFFFFFFF > 5 for UINT32.
	EXPECT_EQ(apply_one<int32_t>(FI_CSWAP_LT, FI_INT32, target, operand, -1),
		  9);
	EXPECT_EQ(apply_one<uint32_t>(FI_CSWAP_LT, FI_UINT32, 5, 9, UINT32_MAX),
		  5u);
}

TEST(GsnFiAtomicExec, MinMaxFollowSignedness)
{
	EXPECT_EQ(apply_one<int8_t>(FI_MIN, FI_INT8, 1, -1), -1);
	EXPECT_EQ(apply_one<uint8_t>(FI_MIN, FI_UINT8, 1, 0xFF), 1);
	EXPECT_EQ(apply_one<int8_t>(FI_MAX, FI_INT8, 1, -1), 1);
	EXPECT_EQ(apply_one<uint8_t>(FI_MAX, FI_UINT8, 1, 0xFF), 0xFF);
	EXPECT_EQ(apply_one<int64_t>(FI_MAX, FI_INT64, -5, INT64_MIN), -5);
	EXPECT_EQ(apply_one<int64_t>(FI_MIN, FI_INT64, -5, INT64_MIN),
		  INT64_MIN);
	EXPECT_EQ(apply_one<uint64_t>(FI_MAX, FI_UINT64, 5, UINT64_MAX),
		  UINT64_MAX);
	EXPECT_EQ(apply_one<int16_t>(FI_MIN, FI_INT16, INT16_MIN, INT16_MAX),
		  INT16_MIN);
}

TEST(GsnFiAtomicExec, BitwiseAndLogical)
{
	EXPECT_EQ(apply_one<uint16_t>(FI_MSWAP, FI_UINT16, 0xF0F0, 0x1234,
				      0x00FF),
		  0xF034);
	EXPECT_EQ(apply_one<int8_t>(FI_MSWAP, FI_INT8, 0, -1, 0x0F), 0x0F);
	EXPECT_EQ(apply_one<uint32_t>(FI_BOR, FI_UINT32, 0xF0, 0x0F), 0xFFu);
	EXPECT_EQ(apply_one<uint32_t>(FI_BAND, FI_UINT32, 0xF3, 0x3F), 0x33u);
	EXPECT_EQ(apply_one<uint32_t>(FI_BXOR, FI_UINT32, 0xF3, 0x3F), 0xCCu);
	EXPECT_EQ(apply_one<int32_t>(FI_LOR, FI_INT32, 0, 42), 1);
	EXPECT_EQ(apply_one<int32_t>(FI_LAND, FI_INT32, 7, 42), 1);
	EXPECT_EQ(apply_one<int32_t>(FI_LAND, FI_INT32, 7, 0), 0);
	EXPECT_EQ(apply_one<int32_t>(FI_LXOR, FI_INT32, 7, 42), 0);
	EXPECT_EQ(apply_one<int32_t>(FI_LXOR, FI_INT32, 0, -3), 1);
	// A nonzero high byte alone is true.
	EXPECT_EQ(apply_one<uint64_t>(FI_LAND, FI_UINT64, 1ULL << 63, 1), 1u);
}

TEST(GsnFiAtomicExec, Floats)
{
	EXPECT_EQ(apply_one<double>(FI_SUM, FI_DOUBLE, 0.25, 0.5), 0.75);
	EXPECT_EQ(apply_one<float>(FI_PROD, FI_FLOAT, 1.5f, -4.0f), -6.0f);
	EXPECT_EQ(apply_one<float>(FI_LOR, FI_FLOAT, 0.5f, 0.0f), 1.0f);
	EXPECT_EQ(apply_one<double>(FI_LAND, FI_DOUBLE, 0.5, 0.0), 0.0);
	EXPECT_EQ(apply_one<double>(FI_LXOR, FI_DOUBLE, 2.0, 3.0), 0.0);
	EXPECT_EQ(apply_one<long double>(FI_MIN, FI_LONG_DOUBLE, 2.0L, -3.0L),
		  -3.0L);
	EXPECT_EQ(apply_one<long double>(FI_SUM, FI_LONG_DOUBLE, 1.0L,
					 0x1p-63L),
		  1.0L + 0x1p-63L);

	// Comparisons as C does them: -0.0 == +0.0, NaN equals nothing.
	const double nan = std::numeric_limits<double>::quiet_NaN();
	EXPECT_EQ(apply_one<double>(FI_CSWAP, FI_DOUBLE, 0.0, 8.0, -0.0), 8.0);
	EXPECT_EQ(apply_one<double>(FI_CSWAP, FI_DOUBLE, 1.0, 8.0, nan), 1.0);
	EXPECT_EQ(apply_one<double>(FI_CSWAP_NE, FI_DOUBLE, 1.0, 8.0, nan),
		  8.0);
	EXPECT_EQ(apply_one<double>(FI_MIN, FI_DOUBLE, 1.0, nan), 1.0);
	EXPECT_TRUE(std::isnan(apply_one<double>(FI_MAX, FI_DOUBLE, nan, 1.0)));
}

// Bytes the executor does not compute are copied exactly: a NaN payload
// written with WRITE, and the old value returned in result.
TEST(GsnFiAtomicExec, WriteAndReadCopyBytes)
{
	const uint64_t payload_nan = 0x7FF4000000000123ULL;
	double operand, target = 1.0, result = 0.0;

	std::memcpy(&operand, &payload_nan, sizeof(operand));
	ASSERT_EQ(gsnfi_atomic_apply(FI_ATOMIC_WRITE, FI_DOUBLE, &target,
				     &operand, nullptr, &result, 1),
		  0);
	EXPECT_EQ(std::memcmp(&target, &payload_nan, sizeof(target)), 0);
	EXPECT_EQ(result, 1.0);
	ASSERT_EQ(gsnfi_atomic_apply(FI_ATOMIC_READ, FI_DOUBLE, &target,
				     nullptr, nullptr, &result, 1),
		  0);
	EXPECT_EQ(std::memcmp(&result, &payload_nan, sizeof(result)), 0);
	EXPECT_EQ(std::memcmp(&target, &payload_nan, sizeof(target)), 0);
}

TEST(GsnFiAtomicExec, Complex)
{
	using cf = std::complex<float>;
	using cd = std::complex<double>;
	using cld = std::complex<long double>;

	EXPECT_EQ(apply_one<cd>(FI_PROD, FI_DOUBLE_COMPLEX, {1, 2}, {3, 4}),
		  cd(-5, 10));
	EXPECT_EQ(apply_one<cf>(FI_SUM, FI_FLOAT_COMPLEX, {1, 2}, {3, -4}),
		  cf(4, -2));
	EXPECT_EQ(apply_one<cld>(FI_PROD, FI_LONG_DOUBLE_COMPLEX, {0, 1},
				 {0, 1}),
		  cld(-1, 0));
	// Equal only if both parts are.
	EXPECT_EQ(apply_one<cd>(FI_CSWAP, FI_DOUBLE_COMPLEX, {1, 2}, {9, 9},
				{1, 2}),
		  cd(9, 9));
	EXPECT_EQ(apply_one<cd>(FI_CSWAP, FI_DOUBLE_COMPLEX, {1, 2}, {9, 9},
				{1, 3}),
		  cd(1, 2));
	EXPECT_EQ(apply_one<cf>(FI_CSWAP_NE, FI_FLOAT_COMPLEX, {1, 2}, {9, 9},
				{2, 2}),
		  cf(9, 9));
}

// Fetching: old values, element by element, and the in-place form where
// result is the operand buffer.
TEST(GsnFiAtomicExec, FetchReturnsOldValues)
{
	uint32_t target[3] = {1, 2, 3}, operand[3] = {10, 20, 30};
	uint32_t result[3] = {};

	ASSERT_EQ(gsnfi_atomic_apply(FI_SUM, FI_UINT32, target, operand,
				     nullptr, result, 3),
		  0);
	EXPECT_EQ(target[0], 11u);
	EXPECT_EQ(target[1], 22u);
	EXPECT_EQ(target[2], 33u);
	EXPECT_EQ(result[0], 1u);
	EXPECT_EQ(result[1], 2u);
	EXPECT_EQ(result[2], 3u);

	int64_t t64[4] = {1, 5, 9, -2}, io[4] = {4, 4, 4, 4};
	int64_t cmp[4] = {1, 0, 9, -2};
	ASSERT_EQ(gsnfi_atomic_apply(FI_CSWAP, FI_INT64, t64, io, cmp, io, 4),
		  0);
	EXPECT_EQ(t64[0], 4);
	EXPECT_EQ(t64[1], 5);
	EXPECT_EQ(t64[2], 4);
	EXPECT_EQ(t64[3], 4);
	EXPECT_EQ(io[0], 1);
	EXPECT_EQ(io[1], 5);
	EXPECT_EQ(io[2], 9);
	EXPECT_EQ(io[3], -2);
}

} // namespace
