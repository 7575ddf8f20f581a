/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value ~0,
 * final xor ~0 — the CRC of iSCSI, SCTP and ext4.  gsn uses it for the
 * micropacket LCRC and ECRC, folded to 16 bits (PROTOCOL.md §1).
 *
 * The running value is the finished CRC of the bytes so far, so a CRC is
 * started with 0 and fed piece by piece:
 *
 *	uint32_t c = gsn_crc32c(0, a, alen);
 *	c = gsn_crc32c(c, b, blen);	// == gsn_crc32c(0, a||b, alen + blen)
 *
 * gsn_crc32c() uses the CPU's CRC-32C instruction when it has one (SSE4.2 on
 * x86-64, the ARMv8 CRC extension on arm64) and a slicing-by-8 table
 * otherwise; all three give the same result.
 */
#ifndef GSN_CRC32C_H
#define GSN_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CRC-32C of buf[0..len) continuing from crc (0 to start). */
uint32_t gsn_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table-driven implementation. */
uint32_t gsn_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/*
 * The hardware implementation.  Falls back to gsn_crc32c_sw() when
 * gsn_crc32c_hw_available() is false, so it is always safe to call.
 */
uint32_t gsn_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/*
 * CRC-32C (from 0) of the 32 data bytes of a micropacket followed by 6
 * control-word bytes: the LCRC's input.  Same value as two gsn_crc32c()
 * calls, without their loops and dispatch: it runs twice per micropacket.
 */
uint32_t gsn_crc32c_mpkt(const uint8_t data[32], const uint8_t ctl[6]);

/*
 * gsn_crc32c_mpkt() of each of n micropackets in cable form (40 bytes, the
 * control word first), stored one after another from mp: crc[i] is the CRC
 * of bytes 8..39 then 0..5 of mp + 40 * i.  With the CRC-32C instruction four
 * micropackets run at once: the instruction's latency, not its throughput,
 * bounds one CRC chain.
 */
void gsn_crc32c_mpkts(const uint8_t *mp, size_t n, uint32_t *crc);

/*
 * The LCRC field of n micropackets in cable form, stored one after another
 * from mp: gsn_crc32c_lcrc_seal() writes into bytes 6..7 of each (big-
 * endian) gsn_crc_fold16() of its gsn_crc32c_mpkt() value;
 * gsn_crc32c_lcrc_check() returns how many, from the first, already carry
 * exactly that (n when all do).  Four at once, as gsn_crc32c_mpkts(), and
 * straight from registers into the micropackets.
 */
void gsn_crc32c_lcrc_seal(uint8_t *mp, size_t n);
size_t gsn_crc32c_lcrc_check(const uint8_t *mp, size_t n);

/*
 * Continues crc over n consecutive 32-byte blocks from p and stores in
 * fold[i] gsn_crc_fold16() of the CRC up to the end of block i; returns the
 * CRC after the last block.  The ECRC of every micropacket of a Message in
 * one call.
 */
uint32_t gsn_crc32c_fold32(uint32_t crc, const uint8_t *p, size_t n, uint16_t *fold);

/* True when this build and this CPU have a CRC-32C instruction. */
bool gsn_crc32c_hw_available(void);

/* Folds a CRC-32C to the 16 bits carried in ECRC and LCRC. */
static inline uint16_t gsn_crc_fold16(uint32_t c)
{
	return (uint16_t)((c >> 16) ^ (c & 0xffff));
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_CRC32C_H */
