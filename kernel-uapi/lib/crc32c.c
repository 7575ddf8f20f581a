/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C: slicing-by-8 in portable C, the SSE4.2 crc32 instruction on
 * x86-64 and the ARMv8 CRC32C instructions on arm64.  The hardware paths are
 * compiled with a target attribute, so the library needs no special -m
 * flags, and are chosen at run time by asking the CPU.  Nothing is cached:
 * the check is a load and a test, and there is no mutable global state.
 *
 * The running value handed in and out is the finished CRC (already
 * complemented), which is what lets a CRC be continued across calls.
 */
#include <string.h>

#include <gsn/crc32c.h>

#include "crc32c_tables.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define GSN_CRC_HW_X86 1
#elif defined(__aarch64__) && defined(__BYTE_ORDER__) && \
	__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GSN_CRC_HW_ARM 1
#if !defined(__ARM_FEATURE_CRC32) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1ul << 7)
#endif
#endif
#endif

/* Little-endian 32-bit load, whatever the host order or alignment. */
static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t gsn_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	while (len >= 8) {
		uint32_t lo = c ^ load_le32(p);
		uint32_t hi = load_le32(p + 4);

		c = gsn_crc32c_tab[7][lo & 0xff] ^ gsn_crc32c_tab[6][(lo >> 8) & 0xff] ^
		    gsn_crc32c_tab[5][(lo >> 16) & 0xff] ^ gsn_crc32c_tab[4][lo >> 24] ^
		    gsn_crc32c_tab[3][hi & 0xff] ^ gsn_crc32c_tab[2][(hi >> 8) & 0xff] ^
		    gsn_crc32c_tab[1][(hi >> 16) & 0xff] ^ gsn_crc32c_tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ gsn_crc32c_tab[0][(c ^ *p++) & 0xff];
	return ~c;
}

#if defined(GSN_CRC_HW_X86)

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw_impl(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	/* Bytes up to an 8-byte boundary, then quadwords, then the tail. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	if (len >= 8) {
		unsigned long long q = c;

		while (len >= 8) {
			unsigned long long v;

			memcpy(&v, p, sizeof(v));
			q = _mm_crc32_u64(q, v);
			p += 8;
			len -= 8;
		}
		c = (uint32_t)q;
	}
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}

/*
 * The CPU model is filled in by the runtime's own constructor; this one only
 * guarantees it for code that runs in other constructors.  Keeping
 * __builtin_cpu_init() out of the per-call path matters: CRC-32C runs twice
 * per micropacket.
 */
__attribute__((constructor)) static void crc32c_cpu_init(void)
{
	__builtin_cpu_init();
}

bool gsn_crc32c_hw_available(void)
{
	return __builtin_cpu_supports("sse4.2");
}

/* Unaligned little-endian loads: the crc32 instruction consumes multi-byte
 * operands low byte first, i.e. in memory order on this little-endian ISA. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_mpkt_hw(const uint8_t *data, const uint8_t *ctl)
{
	unsigned long long q = 0xffffffffu;
	uint64_t v[4];
	uint32_t c4;
	uint16_t c2;

	memcpy(v, data, sizeof(v));
	q = _mm_crc32_u64(q, v[0]);
	q = _mm_crc32_u64(q, v[1]);
	q = _mm_crc32_u64(q, v[2]);
	q = _mm_crc32_u64(q, v[3]);
	memcpy(&c4, ctl, sizeof(c4));
	memcpy(&c2, ctl + 4, sizeof(c2));
	uint32_t c = _mm_crc32_u32((uint32_t)q, c4);
	c = _mm_crc32_u16(c, c2);
	return ~c;
}
#define GSN_CRC_HAVE_MPKT_HW 1

#elif defined(GSN_CRC_HW_ARM)

#if defined(__clang__)
#define GSN_TARGET_CRC __attribute__((target("crc")))
#define GSN_CRC32CD(c, v) __builtin_arm_crc32cd((c), (v))
#define GSN_CRC32CB(c, v) __builtin_arm_crc32cb((c), (v))
#else
#define GSN_TARGET_CRC __attribute__((target("+crc")))
#define GSN_CRC32CD(c, v) __builtin_aarch64_crc32cx((c), (v))
#define GSN_CRC32CB(c, v) __builtin_aarch64_crc32cb((c), (v))
#endif

GSN_TARGET_CRC
static uint32_t crc32c_hw_impl(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = GSN_CRC32CB(c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		c = GSN_CRC32CD(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = GSN_CRC32CB(c, *p++);
	return ~c;
}

bool gsn_crc32c_hw_available(void)
{
#if defined(__ARM_FEATURE_CRC32)
	return true;
#elif defined(__linux__)
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#else
	return false;
#endif
}

#else /* no hardware CRC-32C */

static uint32_t crc32c_hw_impl(uint32_t crc, const uint8_t *p, size_t len)
{
	return gsn_crc32c_sw(crc, p, len);
}

bool gsn_crc32c_hw_available(void)
{
	return false;
}

#endif

uint32_t gsn_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	if (!gsn_crc32c_hw_available())
		return gsn_crc32c_sw(crc, buf, len);
	return crc32c_hw_impl(crc, buf, len);
}

uint32_t gsn_crc32c_mpkt(const uint8_t data[32], const uint8_t ctl[6])
{
#if defined(GSN_CRC_HAVE_MPKT_HW)
	if (gsn_crc32c_hw_available())
		return crc32c_mpkt_hw(data, ctl);
#endif
	return gsn_crc32c(gsn_crc32c(0, data, 32), ctl, 6);
}

uint32_t gsn_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return gsn_crc32c_hw(crc, buf, len);
}
