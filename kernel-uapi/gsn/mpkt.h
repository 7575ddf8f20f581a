/* SPDX-License-Identifier: MIT */
/*
 * HIPPI-6400-PH micropacket (PROTOCOL.md §1): 32 data bytes and a 64-bit
 * control word.  On a cable the control word comes first, big-endian:
 *
 *	bytes 0..7   control word (bit 63 is the MSB of byte 0)
 *	bytes 8..39  data
 *
 * Control word:
 *
 *	63..62 VC    61..58 TYPE   57 TAIL   56 ERROR   55..54 VCR   53..48 CR
 *	47..40 RSEQ  39..32 TSEQ   31..16 ECRC           15..0 LCRC
 *
 * LCRC (ours) = gsn_crc_fold16(CRC-32C over, in this order,
 *	1. the 32 data bytes, data[0] first, then
 *	2. control word bits 63..16 as 6 big-endian bytes, i.e. exactly wire
 *	   bytes 0..5 of the micropacket (VC/TYPE/TAIL/ERROR first, ECRC low
 *	   byte last)).
 * ECRC (ours) = gsn_crc_fold16 of the running CRC-32C over all 32 data bytes
 * of every micropacket of the Message so far, the HEADER micropacket and the
 * zero padding of the last one included (see gsn_ecrc_update()).
 */
#ifndef GSN_MPKT_H
#define GSN_MPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"
#include "wire_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_MPKT_LEN 40 /* bytes of a micropacket on a cable */
#define GSN_MPKT_CTL_LEN 8
#ifndef GSN_MPKT_DATA
#define GSN_MPKT_DATA 32u /* same text as in st_wire.h */
#endif
#define GSN_VC_COUNT 4

/* TYPE (ours), bits 61..58.  Every value not listed is reserved. */
enum gsn_mpkt_type {
	GSN_MPKT_T_NULL = 0,   /* idle: carries only CR/RSEQ */
	GSN_MPKT_T_DATA = 1,
	GSN_MPKT_T_HEADER = 2, /* first micropacket of a GSN Message */
	GSN_MPKT_T_CREDIT = 3, /* a NULL whose purpose is CR */
	GSN_MPKT_T_ADMIN = 4,
	GSN_MPKT_T_RESET = 8,
	GSN_MPKT_T_RESET_ACK = 9,
	GSN_MPKT_T_INIT = 10,
	GSN_MPKT_T_INIT_ACK = 11,
};

/* Decoded control word.  Field widths are those of the wire. */
struct gsn_mpkt_ctl {
	uint8_t vc;     /* 2 bits */
	uint8_t type;   /* 4 bits, enum gsn_mpkt_type */
	bool tail;
	bool error;
	uint8_t vcr;    /* 2 bits */
	uint8_t cr;     /* 6 bits */
	uint8_t rseq;
	uint8_t tseq;
	uint16_t ecrc;
	uint16_t lcrc;
};

/* Return codes of gsn_mpkt_decode() (describe with gsn_frame_strerror()). */
enum gsn_mpkt_err {
	GSN_MPKT_OK = 0,
	GSN_MPKT_E_SHORT = -10,    /* fewer than GSN_MPKT_LEN bytes */
	GSN_MPKT_E_LCRC = -11,     /* LCRC does not match */
	GSN_MPKT_E_RESERVED = -12, /* TYPE is a reserved value */
};

/* Builds the 64-bit control word; fields wider than the wire are masked. */
static inline uint64_t gsn_mpkt_ctl_pack(const struct gsn_mpkt_ctl *c)
{
	return (uint64_t)(c->vc & 0x3u) << 62 |
	       (uint64_t)(c->type & 0xfu) << 58 |
	       (uint64_t)(c->tail ? 1u : 0u) << 57 |
	       (uint64_t)(c->error ? 1u : 0u) << 56 |
	       (uint64_t)(c->vcr & 0x3u) << 54 |
	       (uint64_t)(c->cr & 0x3fu) << 48 |
	       (uint64_t)c->rseq << 40 |
	       (uint64_t)c->tseq << 32 |
	       (uint64_t)c->ecrc << 16 |
	       (uint64_t)c->lcrc;
}

static inline void gsn_mpkt_ctl_unpack(uint64_t w, struct gsn_mpkt_ctl *c)
{
	c->vc = (uint8_t)(w >> 62 & 0x3);
	c->type = (uint8_t)(w >> 58 & 0xf);
	c->tail = (w >> 57 & 1) != 0;
	c->error = (w >> 56 & 1) != 0;
	c->vcr = (uint8_t)(w >> 54 & 0x3);
	c->cr = (uint8_t)(w >> 48 & 0x3f);
	c->rseq = (uint8_t)(w >> 40);
	c->tseq = (uint8_t)(w >> 32);
	c->ecrc = (uint16_t)(w >> 16);
	c->lcrc = (uint16_t)w;
}

/* True for the TYPEs PROTOCOL.md §1 defines. */
static inline bool gsn_mpkt_type_valid(unsigned type)
{
	switch (type) {
	case GSN_MPKT_T_NULL: case GSN_MPKT_T_DATA: case GSN_MPKT_T_HEADER:
	case GSN_MPKT_T_CREDIT: case GSN_MPKT_T_ADMIN: case GSN_MPKT_T_RESET:
	case GSN_MPKT_T_RESET_ACK: case GSN_MPKT_T_INIT: case GSN_MPKT_T_INIT_ACK:
		return true;
	default:
		return false;
	}
}

/* True for the TYPEs that consume a TSEQ and are retransmitted. */
static inline bool gsn_mpkt_type_sequenced(unsigned type)
{
	return type == GSN_MPKT_T_HEADER || type == GSN_MPKT_T_DATA || type == GSN_MPKT_T_ADMIN;
}

/* Short upper-case name of a TYPE ("DATA", ...); "RESERVED" for the rest. */
const char *gsn_mpkt_type_name(unsigned type);

/*
 * LCRC of a micropacket with these data bytes and this control word (only
 * bits 63..16 of ctl_word are used; see the comment at the top).
 */
uint16_t gsn_mpkt_lcrc(const uint8_t data[GSN_MPKT_DATA], uint64_t ctl_word);

/*
 * Writes the 40-byte cable form of a micropacket.  c->lcrc is ignored: the
 * LCRC is computed.  data may be NULL for a micropacket whose data bytes are
 * all zero (NULL, CREDIT, RESET...).
 */
void gsn_mpkt_encode(const struct gsn_mpkt_ctl *c, const uint8_t *data, uint8_t out[GSN_MPKT_LEN]);

/*
 * Runs of micropackets in cable form, stored one after another (40 bytes
 * apart) in a frame or a transmit ring.  Both compute four LCRCs at once.
 *
 * gsn_mpkt_seal() writes the LCRC of each of the n micropackets at mp, whose
 * control words are otherwise complete (same bytes as gsn_mpkt_encode()).
 * gsn_mpkt_lcrc_good() returns how many of the n micropackets at mp, from
 * the first, carry a correct LCRC: n when all do, else the index of the
 * first bad one.
 */
void gsn_mpkt_seal(uint8_t *mp, size_t n);
size_t gsn_mpkt_lcrc_good(const uint8_t *mp, size_t n);

/*
 * Decodes the first GSN_MPKT_LEN bytes of in; never reads past len.  data
 * may be NULL.  Checks, in this order: length (GSN_MPKT_E_SHORT, nothing
 * written), LCRC (GSN_MPKT_E_LCRC), TYPE (GSN_MPKT_E_RESERVED).  On the last
 * two errors *c and data are still filled in, for logging only.
 */
int gsn_mpkt_decode(const uint8_t *in, size_t len, struct gsn_mpkt_ctl *c, uint8_t *data);

/*
 * The raw control word of a cable-form micropacket (no checks), and its
 * store: one load or store and a byte swap, as they run per micropacket.
 */
static inline uint64_t gsn_mpkt_ctl_word(const uint8_t mp[GSN_MPKT_LEN])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w;

	memcpy(&w, mp, sizeof(w));
	return __builtin_bswap64(w);
#else
	return gsn_get_be64(mp);
#endif
}

static inline void gsn_mpkt_put_ctl_word(uint8_t mp[GSN_MPKT_LEN], uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap64(w);
	memcpy(mp, &w, sizeof(w));
#else
	gsn_put_be64(mp, w);
#endif
}

/*
 * INIT / INIT-ACK data bytes: the initial credits the sender grants for
 * VC0..VC3, four big-endian 32-bit counts in bytes 0..15; bytes 16..31 are
 * zero when sent and ignored when received.
 */
static inline void gsn_mpkt_init_encode(const uint32_t credits[GSN_VC_COUNT],
					uint8_t data[GSN_MPKT_DATA])
{
	for (size_t i = 0; i < GSN_MPKT_DATA; i++)
		data[i] = 0;
	for (size_t vc = 0; vc < GSN_VC_COUNT; vc++)
		gsn_put_be32(data + 4 * vc, credits[vc]);
}

static inline void gsn_mpkt_init_decode(const uint8_t data[GSN_MPKT_DATA],
					uint32_t credits[GSN_VC_COUNT])
{
	for (size_t vc = 0; vc < GSN_VC_COUNT; vc++)
		credits[vc] = gsn_get_be32(data + 4 * vc);
}

/*
 * ECRC: start a Message with running = 0, feed each micropacket's 32 data
 * bytes in order (HEADER first), and put gsn_ecrc_value(running) into the
 * ECRC of the micropacket just fed.
 */
static inline uint32_t gsn_ecrc_update(uint32_t running, const uint8_t data[GSN_MPKT_DATA])
{
	return gsn_crc32c(running, data, GSN_MPKT_DATA);
}

static inline uint16_t gsn_ecrc_value(uint32_t running)
{
	return gsn_crc_fold16(running);
}

/*
 * gsn_ecrc_update() over the data of n consecutive micropackets (32 bytes
 * each, from data), with ecrc[i] = the ECRC of the i-th; returns the running
 * value after the last.
 */
static inline uint32_t gsn_ecrc_run(uint32_t running, const uint8_t *data, size_t n,
				    uint16_t *ecrc)
{
	return gsn_crc32c_fold32(running, data, n, ecrc);
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_MPKT_H */
