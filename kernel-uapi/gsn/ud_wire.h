/* SPDX-License-Identifier: MIT */
/*
 * The datagram of a UD queue pair on the wire (ours, docs/protocol.md
 * "Datagrams"): a GSN Message with EtherType 0x88B6 whose PDU is this
 * 40-byte header, big-endian, then the payload.  40 bytes, like an ST
 * header, so the payload starts on a micropacket boundary (byte 64 of the
 * Message).
 *
 *	 0..3   magic "GSUD"
 *	 4      version (1)
 *	 5      flags: 0x01 imm carries immediate data, 0x02 solicited
 *	 6..7   reserved (sent 0, ignored)
 *	 8..11  destination QP number
 *	12..15  source QP number
 *	16..19  qkey (must equal the destination QP's)
 *	20..23  immediate data (0 without the imm flag)
 *	24..27  payload length (= PDU length - 40)
 *	28..39  reserved (sent 0, ignored)
 *
 * 0x88B6 (IEEE local experimental EtherType 2) is shared with gsnd's test
 * traffic sink (GEN): a PDU that does not start with the magic is not a
 * datagram.  gsnd's GEN payload starts with a Message counter below 2^32,
 * so it never carries the magic.
 */
#ifndef GSN_UD_WIRE_H
#define GSN_UD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_abi.h"
#include "wire_bytes.h"

#define GSN_ETHERTYPE_UD 0x88B6u
#define GSN_UD_WIRE_MAGIC 0x47535544u /* "GSUD" */
#define GSN_UD_WIRE_VERSION 1u
#define GSN_UD_WIRE_HDR_LEN 40u
#define GSN_UD_WIRE_F_IMM 0x01u
#define GSN_UD_WIRE_F_SOLICITED 0x02u
#define GSN_UD_WIRE_F_ALL (GSN_UD_WIRE_F_IMM | GSN_UD_WIRE_F_SOLICITED)
#define GSN_UD_QPN_MAX 0xFFFFFFu /* QP numbers are 24-bit */

struct gsn_ud_wire {
	uint8_t flags;     /* GSN_UD_WIRE_F_* */
	uint32_t dest_qpn;
	uint32_t src_qpn;
	uint32_t qkey;
	uint32_t imm;
	uint32_t len;      /* payload bytes */
};

enum gsn_ud_wire_status {
	GSN_UD_WIRE_OK = 0,
	GSN_UD_WIRE_NOT_UD = 1,     /* no magic: not a datagram (test traffic) */
	GSN_UD_WIRE_E_SHORT = -1,   /* the magic, but fewer than 40 bytes */
	GSN_UD_WIRE_E_VERSION = -2,
	GSN_UD_WIRE_E_FLAGS = -3,   /* unknown flag bits */
	GSN_UD_WIRE_E_LENGTH = -4,  /* length field disagrees with the PDU, or too long */
	GSN_UD_WIRE_E_QPN = -5,     /* a QP number beyond 24 bits */
};

/* True when the PDU claims to be a datagram (the magic), whatever else it holds. */
static inline bool gsn_ud_wire_is_ud(const uint8_t *pdu, size_t len)
{
	return len >= 4 && gsn_get_be32(pdu) == GSN_UD_WIRE_MAGIC;
}

/* Decodes and checks a PDU of len bytes; never reads past len. */
static inline int gsn_ud_wire_decode(const uint8_t *pdu, size_t len, struct gsn_ud_wire *h)
{
	if (!gsn_ud_wire_is_ud(pdu, len))
		return GSN_UD_WIRE_NOT_UD;
	if (len < GSN_UD_WIRE_HDR_LEN)
		return GSN_UD_WIRE_E_SHORT;
	if (pdu[4] != GSN_UD_WIRE_VERSION)
		return GSN_UD_WIRE_E_VERSION;
	h->flags = pdu[5];
	h->dest_qpn = gsn_get_be32(pdu + 8);
	h->src_qpn = gsn_get_be32(pdu + 12);
	h->qkey = gsn_get_be32(pdu + 16);
	h->imm = gsn_get_be32(pdu + 20);
	h->len = gsn_get_be32(pdu + 24);
	if (h->flags & ~GSN_UD_WIRE_F_ALL)
		return GSN_UD_WIRE_E_FLAGS;
	if (h->len > GSN_UD_MAX_PAYLOAD || h->len != len - GSN_UD_WIRE_HDR_LEN)
		return GSN_UD_WIRE_E_LENGTH;
	if (h->dest_qpn > GSN_UD_QPN_MAX || h->src_qpn > GSN_UD_QPN_MAX)
		return GSN_UD_WIRE_E_QPN;
	return GSN_UD_WIRE_OK;
}

static inline void gsn_ud_wire_encode(const struct gsn_ud_wire *h,
				      uint8_t out[GSN_UD_WIRE_HDR_LEN])
{
	for (unsigned i = 0; i < GSN_UD_WIRE_HDR_LEN; i++)
		out[i] = 0;
	gsn_put_be32(out, GSN_UD_WIRE_MAGIC);
	out[4] = GSN_UD_WIRE_VERSION;
	out[5] = h->flags;
	gsn_put_be32(out + 8, h->dest_qpn);
	gsn_put_be32(out + 12, h->src_qpn);
	gsn_put_be32(out + 16, h->qkey);
	gsn_put_be32(out + 20, h->imm);
	gsn_put_be32(out + 24, h->len);
}

#endif /* GSN_UD_WIRE_H */
