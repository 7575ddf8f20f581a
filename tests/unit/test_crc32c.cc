// SPDX-License-Identifier: MIT
// CRC-32C: known answers, hardware/software agreement, incremental use.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gsn/crc32c.h>

namespace {

// Bit-at-a-time reference, independent of the library's tables.
uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
	}
	return ~c;
}

using CrcFn = uint32_t (*)(uint32_t, const void *, size_t);

const CrcFn kImpls[] = {gsn_crc32c, gsn_crc32c_sw, gsn_crc32c_hw};

void expect_all(const std::vector<uint8_t> &buf, uint32_t want)
{
	for (CrcFn fn : kImpls)
		EXPECT_EQ(fn(0, buf.data(), buf.size()), want);
	EXPECT_EQ(crc32c_bitwise(0, buf.data(), buf.size()), want);
}

std::vector<uint8_t> random_bytes(std::mt19937 &rng, size_t n)
{
	std::vector<uint8_t> v(n);
	for (auto &b : v)
		b = static_cast<uint8_t>(rng());
	return v;
}

} // namespace

TEST(Crc32c, KnownAnswerCheckString)
{
	const char *s = "123456789";
	expect_all(std::vector<uint8_t>(s, s + 9), 0xE3069283u);
}

// The four 32-byte vectors of RFC 3720 appendix B.4.
TEST(Crc32c, KnownAnswer32Zeros)
{
	expect_all(std::vector<uint8_t>(32, 0x00), 0x8A9136AAu);
}

TEST(Crc32c, KnownAnswer32Ones)
{
	expect_all(std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u);
}

TEST(Crc32c, KnownAnswer32Incrementing)
{
	std::vector<uint8_t> v(32);
	for (size_t i = 0; i < v.size(); i++)
		v[i] = static_cast<uint8_t>(i);
	expect_all(v, 0x46DD794Eu);
}

TEST(Crc32c, KnownAnswer32Decrementing)
{
	std::vector<uint8_t> v(32);
	for (size_t i = 0; i < v.size(); i++)
		v[i] = static_cast<uint8_t>(31 - i);
	expect_all(v, 0x113FDB5Cu);
}

TEST(Crc32c, EmptyInputLeavesCrcUnchanged)
{
	for (CrcFn fn : kImpls) {
		EXPECT_EQ(fn(0, nullptr, 0), 0u);
		EXPECT_EQ(fn(0xDEADBEEFu, nullptr, 0), 0xDEADBEEFu);
	}
}

TEST(Crc32c, SoftwareMatchesBitwiseReferenceEveryLength)
{
	std::mt19937 rng(1);
	for (size_t len = 0; len <= 300; len++) {
		auto v = random_bytes(rng, len);
		ASSERT_EQ(gsn_crc32c_sw(0, v.data(), len), crc32c_bitwise(0, v.data(), len)) << len;
		ASSERT_EQ(gsn_crc32c_sw(0x12345678u, v.data(), len),
			  crc32c_bitwise(0x12345678u, v.data(), len)) << len;
	}
}

TEST(Crc32c, HardwareMatchesSoftwareEveryLengthAndAlignment)
{
	if (!gsn_crc32c_hw_available())
		GTEST_SKIP() << "no CRC-32C instruction (gsn_crc32c_hw falls back to software)";
	std::mt19937 rng(2);
	auto pool = random_bytes(rng, 300 + 16);
	for (size_t len = 0; len <= 300; len++) {
		for (size_t off = 0; off < 16; off++) {
			const uint8_t *p = pool.data() + off;
			uint32_t seed = off & 1 ? static_cast<uint32_t>(rng()) : 0;
			ASSERT_EQ(gsn_crc32c_hw(seed, p, len), gsn_crc32c_sw(seed, p, len))
				<< "len " << len << " offset " << off;
		}
	}
}

TEST(Crc32c, DispatcherMatchesSoftware)
{
	std::mt19937 rng(3);
	for (int i = 0; i < 200; i++) {
		size_t len = rng() % 2000;
		auto v = random_bytes(rng, len);
		ASSERT_EQ(gsn_crc32c(0, v.data(), len), gsn_crc32c_sw(0, v.data(), len));
	}
}

TEST(Crc32c, HardwareAvailabilityMatchesCpu)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	EXPECT_EQ(gsn_crc32c_hw_available(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#else
	GTEST_SKIP() << "only checked on x86-64";
#endif
}

TEST(Crc32c, IncrementalEqualsOneShotAtEverySplit)
{
	std::mt19937 rng(4);
	auto v = random_bytes(rng, 97);
	for (CrcFn fn : kImpls) {
		uint32_t whole = fn(0, v.data(), v.size());
		for (size_t cut = 0; cut <= v.size(); cut++) {
			uint32_t c = fn(0, v.data(), cut);
			c = fn(c, v.data() + cut, v.size() - cut);
			ASSERT_EQ(c, whole) << cut;
		}
		// Byte by byte.
		uint32_t c = 0;
		for (uint8_t b : v)
			c = fn(c, &b, 1);
		EXPECT_EQ(c, whole);
	}
}

TEST(Crc32c, DetectsEverySingleBitFlip)
{
	std::mt19937 rng(5);
	auto v = random_bytes(rng, 40);
	uint32_t base = gsn_crc32c(0, v.data(), v.size());
	for (size_t bit = 0; bit < v.size() * 8; bit++) {
		v[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
		EXPECT_NE(gsn_crc32c(0, v.data(), v.size()), base) << bit;
		v[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
	}
}

TEST(Crc32c, Fold16)
{
	EXPECT_EQ(gsn_crc_fold16(0), 0u);
	EXPECT_EQ(gsn_crc_fold16(0x12345678u), 0x1234u ^ 0x5678u);
	EXPECT_EQ(gsn_crc_fold16(0xFFFF0000u), 0xFFFFu);
	EXPECT_EQ(gsn_crc_fold16(0x0000FFFFu), 0xFFFFu);
	EXPECT_EQ(gsn_crc_fold16(0xFFFFFFFFu), 0u);
	EXPECT_EQ(gsn_crc_fold16(0xE3069283u), 0xE306u ^ 0x9283u);
}

TEST(Crc32c, MicropacketFormMatchesReferenceAtEveryAlignment)
{
	std::mt19937 rng(3);
	auto pool = random_bytes(rng, 64);
	for (int round = 0; round < 200; round++) {
		for (size_t off = 0; off < 8; off++) {
			for (auto &b : pool)
				b = static_cast<uint8_t>(rng());
			const uint8_t *data = pool.data() + off;
			const uint8_t *ctl = pool.data() + 40 + (7 - off);
			uint32_t want = crc32c_bitwise(crc32c_bitwise(0, data, 32), ctl, 6);
			ASSERT_EQ(gsn_crc32c_mpkt(data, ctl), want) << "offset " << off;
		}
	}
}
