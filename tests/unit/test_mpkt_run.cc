// SPDX-License-Identifier: MIT
// Runs of micropackets: batched LCRCs (gsn_crc32c_mpkts, gsn_mpkt_seal,
// gsn_mpkt_lcrc_good), per-micropacket ECRCs in one call (gsn_crc32c_fold32,
// gsn_ecrc_run) and the control-word load and store.  Each is checked
// against the single-micropacket functions and the portable CRC, for run
// lengths around the four-at-a-time step and the internal batch of 16.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gsn/crc32c.h>
#include <gsn/mpkt.h>

namespace {

using Bytes = std::vector<uint8_t>;

// n micropackets in cable form with random control words and data.
Bytes RandomMpkts(size_t n, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	Bytes b(n * GSN_MPKT_LEN);

	for (auto &x : b)
		x = static_cast<uint8_t>(rng());
	return b;
}

// The LCRC input by the definition: data bytes, then wire bytes 0..5.
uint32_t ReferenceLcrcCrc(const uint8_t *mp)
{
	return gsn_crc32c_sw(gsn_crc32c_sw(0, mp + GSN_MPKT_CTL_LEN, GSN_MPKT_DATA), mp, 6);
}

const size_t kLengths[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 37, 64, 100};

} // namespace

TEST(MpktRun, Crc32cMpktsMatchesOneAtATime)
{
	for (size_t n : kLengths) {
		Bytes mp = RandomMpkts(n, n + 1);
		std::vector<uint32_t> crc(n + 1, 0xdeadbeef);

		gsn_crc32c_mpkts(mp.data(), n, crc.data());
		for (size_t i = 0; i < n; i++) {
			const uint8_t *p = mp.data() + i * GSN_MPKT_LEN;

			EXPECT_EQ(crc[i], ReferenceLcrcCrc(p)) << "n=" << n << " i=" << i;
			EXPECT_EQ(crc[i], gsn_crc32c_mpkt(p + GSN_MPKT_CTL_LEN, p));
		}
		EXPECT_EQ(crc[n], 0xdeadbeefu) << "wrote past n=" << n;
	}
}

TEST(MpktRun, Crc32cMpktsAtOddAddresses)
{
	Bytes buf = RandomMpkts(12, 99);
	Bytes shifted(buf.size() + 7);
	uint32_t crc[11];

	for (size_t off = 1; off < 8; off++) {
		memcpy(shifted.data() + off, buf.data(), 11 * GSN_MPKT_LEN);
		gsn_crc32c_mpkts(shifted.data() + off, 11, crc);
		for (size_t i = 0; i < 11; i++)
			EXPECT_EQ(crc[i], ReferenceLcrcCrc(buf.data() + i * GSN_MPKT_LEN));
	}
}

TEST(MpktRun, SealWritesWhatEncodeWrites)
{
	std::mt19937_64 rng(7);

	for (size_t n : kLengths) {
		Bytes want(n * GSN_MPKT_LEN), got(n * GSN_MPKT_LEN);

		for (size_t i = 0; i < n; i++) {
			gsn_mpkt_ctl c{};
			uint8_t data[GSN_MPKT_DATA];

			c.vc = static_cast<uint8_t>(rng() & 3);
			c.type = GSN_MPKT_T_DATA;
			c.tail = rng() & 1;
			c.vcr = static_cast<uint8_t>(rng() & 3);
			c.cr = static_cast<uint8_t>(rng() & 63);
			c.rseq = static_cast<uint8_t>(rng());
			c.tseq = static_cast<uint8_t>(i);
			c.ecrc = static_cast<uint16_t>(rng());
			for (auto &x : data)
				x = static_cast<uint8_t>(rng());
			gsn_mpkt_encode(&c, data, want.data() + i * GSN_MPKT_LEN);
			// the same micropacket with its LCRC field still garbage
			uint8_t *mp = got.data() + i * GSN_MPKT_LEN;
			gsn_mpkt_put_ctl_word(mp, gsn_mpkt_ctl_pack(&c) | 0xa5a5u);
			memcpy(mp + GSN_MPKT_CTL_LEN, data, GSN_MPKT_DATA);
		}
		gsn_mpkt_seal(got.data(), n);
		EXPECT_EQ(got, want) << "n=" << n;
	}
}

TEST(MpktRun, LcrcGoodFindsTheFirstBadOne)
{
	for (size_t n : kLengths) {
		Bytes mp = RandomMpkts(n, 1000 + n);

		gsn_mpkt_seal(mp.data(), n);
		EXPECT_EQ(gsn_mpkt_lcrc_good(mp.data(), n), n);
		for (size_t bad = 0; bad < n; bad++) {
			for (size_t byte : {0, 5, 6, 7, 8, 39}) { // control, LCRC, data
				Bytes c = mp;

				c[bad * GSN_MPKT_LEN + byte] ^= 0x10;
				EXPECT_EQ(gsn_mpkt_lcrc_good(c.data(), n), bad)
					<< "n=" << n << " bad=" << bad << " byte=" << byte;
			}
		}
	}
}

TEST(MpktRun, LcrcGoodSeesAFlipInEveryByte)
{
	// The LCRC covers the data and wire bytes 0..5; bytes 6..7 are the LCRC
	// itself.  No byte of the 40 is outside the check.
	Bytes mp = RandomMpkts(5, 3);

	gsn_mpkt_seal(mp.data(), 5);
	for (size_t byte = 0; byte < GSN_MPKT_LEN; byte++) {
		Bytes c = mp;

		c[2 * GSN_MPKT_LEN + byte] ^= 0x01;
		EXPECT_EQ(gsn_mpkt_lcrc_good(c.data(), 5), 2u) << "byte " << byte;
	}
}

TEST(MpktRun, SealedRunDecodes)
{
	Bytes mp = RandomMpkts(9, 11);

	for (size_t i = 0; i < 9; i++) // a valid TYPE in every control word
		mp[i * GSN_MPKT_LEN] = static_cast<uint8_t>((mp[i * GSN_MPKT_LEN] & 0xc3) | 1u << 2);
	gsn_mpkt_seal(mp.data(), 9);
	for (size_t i = 0; i < 9; i++) {
		gsn_mpkt_ctl c;

		EXPECT_EQ(gsn_mpkt_decode(mp.data() + i * GSN_MPKT_LEN, GSN_MPKT_LEN, &c, nullptr),
			  GSN_MPKT_OK);
	}
}

TEST(MpktRun, Fold32MatchesRunningCrc)
{
	for (size_t n : kLengths) {
		Bytes data = RandomMpkts(n, 50 + n); // any bytes: n * 40 >= n * 32
		std::vector<uint16_t> fold(n + 1, 0x5a5a);
		uint32_t start = n % 2 ? 0 : 0x12345678u;
		uint32_t got = gsn_crc32c_fold32(start, data.data(), n, fold.data());
		uint32_t want = start;

		for (size_t i = 0; i < n; i++) {
			want = gsn_crc32c_sw(want, data.data() + 32 * i, 32);
			EXPECT_EQ(fold[i], gsn_crc_fold16(want)) << "n=" << n << " i=" << i;
		}
		EXPECT_EQ(got, want);
		EXPECT_EQ(fold[n], 0x5a5a) << "wrote past n=" << n;
	}
}

TEST(MpktRun, EcrcRunMatchesEcrcUpdate)
{
	Bytes data = RandomMpkts(40, 77);
	uint16_t ecrc[40];
	uint32_t run = gsn_ecrc_run(0, data.data(), 40, ecrc);
	uint32_t one = 0;

	for (size_t i = 0; i < 40; i++) {
		one = gsn_ecrc_update(one, data.data() + 32 * i);
		EXPECT_EQ(ecrc[i], gsn_ecrc_value(one));
	}
	EXPECT_EQ(run, one);
}

TEST(MpktRun, ControlWordLoadAndStoreAreBigEndian)
{
	const uint64_t w = 0x0123456789abcdefull;
	uint8_t mp[GSN_MPKT_LEN] = {0};

	gsn_mpkt_put_ctl_word(mp, w);
	EXPECT_EQ(mp[0], 0x01);
	EXPECT_EQ(mp[7], 0xef);
	EXPECT_EQ(gsn_get_be64(mp), w);
	EXPECT_EQ(gsn_mpkt_ctl_word(mp), w);
	EXPECT_EQ(mp[8], 0); // the data is left alone
}

// Long buffers take three chains joined by a carry-less multiply (when the
// CPU has one); every length around the step sizes, at odd addresses.
TEST(MpktRun, LongCrcMatchesSoftware)
{
	Bytes pool = RandomMpkts(600, 5); // 24000 bytes
	const size_t step = 3 * 2048;

	for (size_t len : {step - 1, step, step + 1, step + 7, 2 * step - 1, 2 * step, 2 * step + 9,
			   3 * step + 5, pool.size() - 16}) {
		for (size_t off = 0; off < 9; off++) {
			uint32_t seed = off & 1 ? 0x9e3779b9u : 0;
			ASSERT_EQ(gsn_crc32c(seed, pool.data() + off, len),
				  gsn_crc32c_sw(seed, pool.data() + off, len))
				<< "len " << len << " offset " << off;
		}
	}
	for (size_t len = 0; len < pool.size() - 16; len += 1 + len / 3)
		ASSERT_EQ(gsn_crc32c(7, pool.data() + 3, len), gsn_crc32c_sw(7, pool.data() + 3, len))
			<< "len " << len;
}
