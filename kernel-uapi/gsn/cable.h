/* SPDX-License-Identifier: MIT */
/*
 * Cable frame (PROTOCOL.md §6, ours): one UDP datagram or shared-memory ring
 * entry between two link ends.  A 24-byte header, big-endian:
 *
 *	 0..3   magic "GSNL"
 *	 4      version (1)
 *	 5      flags (none defined yet; sent 0, ignored)
 *	 6..7   count of micropackets that follow
 *	 8..11  link incarnation (changes when an end restarts)
 *	12..15  extended TSEQ of the first sequenced micropacket
 *	16..19  extended RSEQ (cumulative ack)
 *	20..23  reserved (sent 0, ignored)
 *
 * then count micropackets of GSN_MPKT_LEN (40) bytes each.
 *
 * Length rule (ours): a frame is exactly 24 + 40 * count bytes.  Fewer is
 * GSN_FRAME_E_TRUNCATED, more is GSN_FRAME_E_LENGTH; both are dropped.  A
 * frame with count 0 (24 bytes) is valid.
 */
#ifndef GSN_CABLE_H
#define GSN_CABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpkt.h"
#include "wire_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_FRAME_HDR_LEN 24
#define GSN_FRAME_MAGIC "GSNL"
#define GSN_FRAME_MAGIC_BE 0x47534e4cu /* "GSNL" read as a big-endian word */
#define GSN_FRAME_VERSION 1
#define GSN_FRAME_MAX_COUNT 0xffffu

struct gsn_frame_hdr {
	uint8_t version;
	uint8_t flags;
	uint16_t count;
	uint32_t incarnation;
	uint32_t ext_tseq;
	uint32_t ext_rseq;
	uint32_t reserved;
};

/* A parsed frame; points into the caller's buffer. */
struct gsn_frame_view {
	struct gsn_frame_hdr hdr;
	const uint8_t *mpkts; /* hdr.count * GSN_MPKT_LEN bytes */
	size_t len;           /* bytes of the whole frame */
};

/*
 * Return codes of the frame functions.  gsn_frame_strerror() also describes
 * the codes of gsn/mpkt.h, gsn/message.h and gsn/admin.h: all are distinct.
 */
enum gsn_frame_err {
	GSN_FRAME_OK = 0,
	GSN_FRAME_E_MAGIC = -40,     /* bytes 0..3 are not "GSNL" */
	GSN_FRAME_E_VERSION = -41,   /* version is not 1 */
	GSN_FRAME_E_TRUNCATED = -42, /* fewer than 24 + 40 * count bytes */
	GSN_FRAME_E_LENGTH = -43,    /* more than 24 + 40 * count bytes */
	GSN_FRAME_E_SEQ = -44,       /* TSEQ/RSEQ disagree with the extended numbers */
};

/* Bytes of a frame carrying count micropackets. */
static inline size_t gsn_frame_size(size_t count)
{
	return GSN_FRAME_HDR_LEN + count * GSN_MPKT_LEN;
}

/* Most micropackets a frame of at most max_bytes can carry (0xffff at most). */
static inline size_t gsn_frame_capacity(size_t max_bytes)
{
	if (max_bytes < GSN_FRAME_HDR_LEN)
		return 0;
	size_t n = (max_bytes - GSN_FRAME_HDR_LEN) / GSN_MPKT_LEN;
	return n > GSN_FRAME_MAX_COUNT ? GSN_FRAME_MAX_COUNT : n;
}

/* Writes the 24-byte header: the magic, then h as given. */
void gsn_frame_hdr_encode(const struct gsn_frame_hdr *h, uint8_t out[GSN_FRAME_HDR_LEN]);

/*
 * Decodes a frame header; never reads past len.  Checks, in this order,
 * len >= 24 (GSN_FRAME_E_TRUNCATED), magic, version.  Does not look at the
 * micropackets: that is gsn_frame_parse().
 */
int gsn_frame_hdr_decode(const uint8_t *buf, size_t len, struct gsn_frame_hdr *h);

/*
 * Validates a received frame (header, then the exact length rule) and fills
 * *out; never reads past len.  It does not decode micropackets or check
 * their LCRC.  *out is valid only on GSN_FRAME_OK.
 */
int gsn_frame_parse(const uint8_t *buf, size_t len, struct gsn_frame_view *out);

/* The i-th micropacket (40 bytes) of a parsed frame, NULL when i >= count. */
static inline const uint8_t *gsn_frame_mpkt(const struct gsn_frame_view *v, size_t i)
{
	return i < v->hdr.count ? v->mpkts + i * GSN_MPKT_LEN : NULL;
}

/*
 * Checks the sequence fields of a parsed frame from the raw control words
 * (no LCRC check): the first micropacket whose TYPE is sequenced (HEADER,
 * DATA, ADMIN) has TSEQ == low 8 bits of ext_tseq, and every micropacket
 * has RSEQ == low 8 bits of ext_rseq.  GSN_FRAME_OK or GSN_FRAME_E_SEQ.
 */
int gsn_frame_check_seq(const struct gsn_frame_view *v);

/*
 * Extends an 8-bit sequence number to 32 bits: the value congruent to low8
 * mod 256 nearest to ref, in ref - 128 .. ref + 127 (wrapping mod 2^32).
 */
static inline uint32_t gsn_seq_extend(uint32_t ref, uint8_t low8)
{
	uint8_t d = (uint8_t)(low8 - (uint8_t)ref); /* forward distance mod 256 */

	return d < 128 ? ref + d : ref + d - 256u;
}

/* A short description of any negative code of the wire codecs. */
const char *gsn_frame_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* GSN_CABLE_H */
