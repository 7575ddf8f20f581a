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
#include <wmmintrin.h>
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

/* A micropacket's LCRC field: bytes 6..7, big-endian, the folded CRC. */
static inline void lcrc_put(uint8_t *mp, uint32_t crc)
{
	uint16_t f = gsn_crc_fold16(crc);

	mp[6] = (uint8_t)(f >> 8);
	mp[7] = (uint8_t)f;
}

static inline bool lcrc_matches(const uint8_t *mp, uint32_t crc)
{
	return ((unsigned)mp[6] << 8 | mp[7]) == gsn_crc_fold16(crc);
}

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

/*
 * Long buffers (a reassembled Message's ECRC) run as three CRC chains over
 * consecutive blocks of CRC_BLOCK bytes, since one chain waits three cycles
 * per crc32.  The chains are joined by moving the first two past the blocks
 * after them: for a raw CRC register s, the register after n more zero
 * bytes is crc32_u64(0, clmul(s, K)) with K = x^(8n - 33) mod P, bit-
 * reflected like the register (clmul's product lands one bit low, and the
 * crc32 multiplies by x^32).  K for n = CRC_BLOCK and n = 2 * CRC_BLOCK:
 */
#define CRC_BLOCK 2048u
#define CRC_SHIFT_1 0xa51b6135u /* x^(8 * 2048 - 33) mod P */
#define CRC_SHIFT_2 0x82f89c77u /* x^(8 * 4096 - 33) mod P */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

__attribute__((target("sse4.2,pclmul")))
static inline uint32_t crc32c_shift_hw(uint32_t s, uint32_t k)
{
	__m128i prod = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)s), _mm_cvtsi32_si128((int)k), 0);

	return (uint32_t)_mm_crc32_u64(0, (unsigned long long)_mm_cvtsi128_si64(prod));
}

/* Consumes steps of 3 * CRC_BLOCK bytes from *pp; c and the result are raw registers. */
__attribute__((target("sse4.2,pclmul")))
static uint32_t crc32c_3way_hw(uint32_t c, const uint8_t **pp, size_t *lenp)
{
	const uint8_t *p = *pp;
	size_t len = *lenp;

	for (; len >= 3 * CRC_BLOCK; p += 3 * CRC_BLOCK, len -= 3 * CRC_BLOCK) {
		unsigned long long a = c, b = 0, d = 0;

		for (size_t i = 0; i < CRC_BLOCK; i += 8) {
			a = _mm_crc32_u64(a, load64(p + i));
			b = _mm_crc32_u64(b, load64(p + CRC_BLOCK + i));
			d = _mm_crc32_u64(d, load64(p + 2 * CRC_BLOCK + i));
		}
		c = crc32c_shift_hw((uint32_t)a, CRC_SHIFT_2) ^ crc32c_shift_hw((uint32_t)b, CRC_SHIFT_1) ^
		    (uint32_t)d;
	}
	*pp = p;
	*lenp = len;
	return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw_impl(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	/* Bytes up to an 8-byte boundary, then quadwords, then the tail. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	if (len >= 3 * CRC_BLOCK && __builtin_cpu_supports("pclmul"))
		c = crc32c_3way_hw(c, &p, &len);
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

/* Unaligned little-endian loads (load64 above): the crc32 instruction
 * consumes multi-byte operands low byte first, i.e. in memory order on this
 * little-endian ISA. */

/* Continues q over the 32 bytes at p. */
__attribute__((target("sse4.2")))
static inline unsigned long long crc32c_32_hw(unsigned long long q, const uint8_t *p)
{
	q = _mm_crc32_u64(q, load64(p));
	q = _mm_crc32_u64(q, load64(p + 8));
	q = _mm_crc32_u64(q, load64(p + 16));
	return _mm_crc32_u64(q, load64(p + 24));
}

/* Finishes an LCRC: q (over the data) continued over the 6 control bytes. */
__attribute__((target("sse4.2")))
static inline uint32_t crc32c_ctl6_hw(unsigned long long q, const uint8_t *ctl)
{
	uint32_t c4;
	uint16_t c2;

	memcpy(&c4, ctl, sizeof(c4));
	memcpy(&c2, ctl + 4, sizeof(c2));
	uint32_t c = _mm_crc32_u32((uint32_t)q, c4);
	c = _mm_crc32_u16(c, c2);
	return ~c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_mpkt_hw(const uint8_t *data, const uint8_t *ctl)
{
	return crc32c_ctl6_hw(crc32c_32_hw(0xffffffffu, data), ctl);
}

struct crc4 {
	uint32_t c[4];
};

/*
 * gsn_crc32c_mpkt() of the four micropackets at mp, in four independent
 * chains: each crc32 waits three cycles for its predecessor in the same
 * chain, and the CPU issues one per cycle.
 */
__attribute__((target("sse4.2")))
static inline struct crc4 crc32c_mpkt4_hw(const uint8_t *mp)
{
	unsigned long long a = 0xffffffffu, b = a, c = a, d = a;
	struct crc4 r;

	for (size_t k = 8; k < 40; k += 8) {
		a = _mm_crc32_u64(a, load64(mp + k));
		b = _mm_crc32_u64(b, load64(mp + 40 + k));
		c = _mm_crc32_u64(c, load64(mp + 80 + k));
		d = _mm_crc32_u64(d, load64(mp + 120 + k));
	}
	r.c[0] = crc32c_ctl6_hw(a, mp);
	r.c[1] = crc32c_ctl6_hw(b, mp + 40);
	r.c[2] = crc32c_ctl6_hw(c, mp + 80);
	r.c[3] = crc32c_ctl6_hw(d, mp + 120);
	return r;
}

__attribute__((target("sse4.2")))
static void crc32c_mpkts_hw(const uint8_t *mp, size_t n, uint32_t *crc)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4, mp += 4 * 40) {
		struct crc4 r = crc32c_mpkt4_hw(mp);

		for (unsigned j = 0; j < 4; j++)
			crc[i + j] = r.c[j];
	}
	for (; i < n; i++, mp += 40)
		crc[i] = crc32c_mpkt_hw(mp + 8, mp);
}

__attribute__((target("sse4.2")))
static void crc32c_lcrc_seal_hw(uint8_t *mp, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4, mp += 4 * 40) {
		struct crc4 r = crc32c_mpkt4_hw(mp);

		for (unsigned j = 0; j < 4; j++)
			lcrc_put(mp + 40 * j, r.c[j]);
	}
	for (; i < n; i++, mp += 40)
		lcrc_put(mp, crc32c_mpkt_hw(mp + 8, mp));
}

__attribute__((target("sse4.2")))
static size_t crc32c_lcrc_check_hw(const uint8_t *mp, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4, mp += 4 * 40) {
		struct crc4 r = crc32c_mpkt4_hw(mp);

		for (unsigned j = 0; j < 4; j++)
			if (!lcrc_matches(mp + 40 * j, r.c[j]))
				return i + j;
	}
	for (; i < n; i++, mp += 40)
		if (!lcrc_matches(mp, crc32c_mpkt_hw(mp + 8, mp)))
			return i;
	return n;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_fold32_hw(uint32_t crc, const uint8_t *p, size_t n, uint16_t *fold)
{
	unsigned long long q = (uint32_t)~crc;

	for (size_t i = 0; i < n; i++, p += 32) {
		q = crc32c_32_hw(q, p);
		fold[i] = gsn_crc_fold16(~(uint32_t)q);
	}
	return ~(uint32_t)q;
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

void gsn_crc32c_mpkts(const uint8_t *mp, size_t n, uint32_t *crc)
{
#if defined(GSN_CRC_HAVE_MPKT_HW)
	if (gsn_crc32c_hw_available()) {
		crc32c_mpkts_hw(mp, n, crc);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++, mp += 40)
		crc[i] = gsn_crc32c_mpkt(mp + 8, mp);
}

void gsn_crc32c_lcrc_seal(uint8_t *mp, size_t n)
{
#if defined(GSN_CRC_HAVE_MPKT_HW)
	if (gsn_crc32c_hw_available()) {
		crc32c_lcrc_seal_hw(mp, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++, mp += 40)
		lcrc_put(mp, gsn_crc32c_mpkt(mp + 8, mp));
}

size_t gsn_crc32c_lcrc_check(const uint8_t *mp, size_t n)
{
#if defined(GSN_CRC_HAVE_MPKT_HW)
	if (gsn_crc32c_hw_available())
		return crc32c_lcrc_check_hw(mp, n);
#endif
	for (size_t i = 0; i < n; i++, mp += 40)
		if (!lcrc_matches(mp, gsn_crc32c_mpkt(mp + 8, mp)))
			return i;
	return n;
}

uint32_t gsn_crc32c_fold32(uint32_t crc, const uint8_t *p, size_t n, uint16_t *fold)
{
#if defined(GSN_CRC_HAVE_MPKT_HW)
	if (gsn_crc32c_hw_available())
		return crc32c_fold32_hw(crc, p, n, fold);
#endif
	for (size_t i = 0; i < n; i++, p += 32) {
		crc = gsn_crc32c(crc, p, 32);
		fold[i] = gsn_crc_fold16(crc);
	}
	return crc;
}

uint32_t gsn_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return gsn_crc32c_hw(crc, buf, len);
}
