// SPDX-License-Identifier: MIT
//
// Helpers shared by the data-path suites (memregion, put, get, fetchop,
// write, read, faults).  Everything here sits on top of st_harness.h and
// does not change it.
#ifndef ST_DATA_HELPERS_H
#define ST_DATA_HELPERS_H

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "st_harness.h"

namespace sttest {
namespace data {

constexpr unsigned kW = ST_ACCESS_REMOTE_WRITE;
constexpr unsigned kR = ST_ACCESS_REMOTE_READ;
constexpr unsigned kA = ST_ACCESS_REMOTE_ATOMIC;
constexpr unsigned kAll = kW | kR | kA;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;

// Fast deterministic fill (splitmix64, 8 bytes at a time): the 64 MiB tests
// run under ASan at -O0, where the harness's per-byte mt19937 is too slow.
inline void Fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		x += 0x9E3779B97F4A7C15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		z ^= z >> 31;
		memcpy(p + i, &z, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)(seed + i * 131);
}
inline void Fill(std::vector<uint8_t> &v, uint64_t seed) { Fill(v.data(), v.size(), seed); }
inline void Fill(Region *r, uint64_t seed) { Fill(r->bytes, seed); }

// Byte-exact comparison of a[aoff, aoff+len) with b[boff, boff+len); fast path memcmp.
inline ::testing::AssertionResult SameBytes(const std::vector<uint8_t> &a, size_t aoff,
					    const std::vector<uint8_t> &b, size_t boff, size_t len)
{
	if (aoff > a.size() || len > a.size() - aoff || boff > b.size() || len > b.size() - boff)
		return ::testing::AssertionFailure() << "range outside the buffers";
	if (len == 0 || memcmp(a.data() + aoff, b.data() + boff, len) == 0)
		return ::testing::AssertionSuccess();
	return BytesEqual(a.data() + aoff, b.data() + boff, len);
}

// Everything outside [from, from+len) of `now` equals `before` (canaries).
inline ::testing::AssertionResult OutsideUnchanged(const std::vector<uint8_t> &before,
						   const std::vector<uint8_t> &now, size_t from,
						   size_t len)
{
	if (before.size() != now.size())
		return ::testing::AssertionFailure() << "region size changed";
	auto head = SameBytes(before, 0, now, 0, from);
	if (!head)
		return head << " (before the target range)";
	size_t end = from + len;
	auto tail = SameBytes(before, end, now, end, before.size() - end);
	if (!tail)
		return tail << " (after the target range, which ends at " << end << ")";
	return ::testing::AssertionSuccess();
}

inline uint64_t Pos(const st_hdr &h, unsigned bs) { return ((uint64_t)h.bufx << bs) + h.offset; }
inline uint64_t Len64(const st_hdr &h) { return (uint64_t)h.sync << 32 | h.b_num; }

// Checks a list of Data STUs (already filtered to one transfer) against the
// placement rules: Offset inside one 2^bs buffer, no STU crossing a 2^bs
// boundary, none larger than 2^max_stu, and together they cover
// [first, first+len) exactly once.  Positions are Bufx:Offset by 2^bs.
inline ::testing::AssertionResult StusCoverExactly(const std::vector<OpRecord> &stus, unsigned bs,
						   unsigned max_stu, uint64_t first, uint64_t len)
{
	const uint64_t buf = 1ull << bs, stu_max = 1ull << max_stu;
	std::map<uint64_t, uint64_t> ranges;  // pos -> len
	for (const auto &r : stus) {
		uint64_t n = r.payload_len;
		if (r.h.offset >= buf)
			return ::testing::AssertionFailure() << "Offset beyond 2^" << bs << ": " << FormatOp(r);
		uint64_t pos = Pos(r.h, bs);
		if (n == 0)
			return ::testing::AssertionFailure() << "empty STU: " << FormatOp(r);
		if (n > stu_max)
			return ::testing::AssertionFailure()
			       << "STU of " << n << " bytes exceeds Max_STU 2^" << max_stu << ": " << FormatOp(r);
		if ((pos & (buf - 1)) + n > buf)
			return ::testing::AssertionFailure()
			       << "STU crosses a 2^" << bs << " boundary: pos " << pos << " len " << n << ": "
			       << FormatOp(r);
		if (!ranges.emplace(pos, n).second)
			return ::testing::AssertionFailure() << "two STUs at position " << pos;
	}
	uint64_t at = first;
	for (const auto &kv : ranges) {
		if (kv.first != at)
			return ::testing::AssertionFailure()
			       << (kv.first < at ? "overlap" : "gap") << " at position " << at << " (next STU at "
			       << kv.first << ")";
		at += kv.second;
	}
	if (at != first + len)
		return ::testing::AssertionFailure() << "STUs end at " << at << ", expected " << first + len;
	return ::testing::AssertionSuccess();
}

inline std::string OpsString(const std::vector<unsigned> &ops)
{
	std::string s;
	for (unsigned op : ops) {
		if (!s.empty())
			s += ",";
		s += OpShort(op);
	}
	return s;
}

// Collapses runs of the same opcode: RMR,MRA,DATA,DATA,RA -> RMR,MRA,DATA,RA.
inline std::vector<unsigned> Collapse(const std::vector<unsigned> &ops)
{
	std::vector<unsigned> v;
	for (unsigned op : ops)
		if (v.empty() || v.back() != op)
			v.push_back(op);
	return v;
}

inline st_rma Rma(uint16_t local_mx, uint64_t local_off, uint64_t rkey, uint64_t remote_off,
		  uint64_t len, unsigned flags = 0, uint32_t imm = 0)
{
	st_rma r{};
	r.local_mx = local_mx;
	r.local_off = local_off;
	r.rkey = rkey;
	r.remote_off = remote_off;
	r.len = len;
	r.flags = flags;
	r.imm = imm;
	return r;
}

// Number of ST_EV_COMPLETE / ST_EV_RECV_COMPLETE with this user_ctx.
inline size_t CountCompletions(const Net &net, int ep, uint64_t ctx)
{
	return net.CountEvents(ep, [ctx](const st_event &e) {
		return (e.type == ST_EV_COMPLETE || e.type == ST_EV_RECV_COMPLETE) && e.user_ctx == ctx;
	});
}

// Sum of a counter over every endpoint's global counters.
inline st_counters SumCounters(Net &net)
{
	st_counters s{};
	for (int i = 0; i < net.size(); i++) {
		st_counters c = net.Counters(i);
		for (int k = 0; k < ST_OP_COUNT; k++) {
			s.ops_sent[k] += c.ops_sent[k];
			s.ops_received[k] += c.ops_received[k];
		}
		for (int k = 0; k < ST_DROP_REASONS; k++)
			s.drops[k] += c.drops[k];
		s.bytes_sent += c.bytes_sent;
		s.bytes_received += c.bytes_received;
		s.retransmits += c.retransmits;
		s.timeouts += c.timeouts;
		s.rejects_sent += c.rejects_sent;
		s.rejects_received += c.rejects_received;
	}
	return s;
}

inline uint64_t Load64(const std::vector<uint8_t> &v, size_t off)
{
	uint64_t x;
	memcpy(&x, v.data() + off, 8);
	return x;
}

inline void Store64(std::vector<uint8_t> &v, size_t off, uint64_t x) { memcpy(v.data() + off, &x, 8); }

inline uint64_t Be64(const std::vector<uint8_t> &p, size_t off = 0)
{
	uint64_t x = 0;
	for (size_t i = 0; i < 8; i++)
		x = x << 8 | p[off + i];
	return x;
}

}  // namespace data
}  // namespace sttest

#endif  // ST_DATA_HELPERS_H
