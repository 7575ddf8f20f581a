/* SPDX-License-Identifier: MIT */
/*
 * Scheduled Transfer operation header (PROTOCOL.md §5): 40 bytes, big-endian,
 * followed by the operation's payload.  This header is the single truth for
 * the layout; libst, gsnd and the test tools all use these codecs.
 */
#ifndef GSN_ST_WIRE_H
#define GSN_ST_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_bytes.h"

#define ST_HDR_LEN 40

/* ST operations (Op, bits 15..11 of the first 16-bit word). */
enum st_opcode {
	ST_OP_REQUEST_CONNECTION = 0x01,
	ST_OP_CONNECTION_ANSWER = 0x02,
	ST_OP_REQUEST_DISCONNECT = 0x03,
	ST_OP_DISCONNECT_ANSWER = 0x04,
	ST_OP_DISCONNECT_COMPLETE = 0x05,
	ST_OP_NOP = 0x10,
	ST_OP_REQUEST_MEMORY_REGION = 0x13,
	ST_OP_MEMORY_REGION_AVAILABLE = 0x14,
	ST_OP_GET = 0x15, /* also FETCHOP and FETCHOP completion */
	ST_OP_REQUEST_TO_SEND = 0x16,
	ST_OP_REQUEST_ANSWER = 0x17,
	ST_OP_REQUEST_TO_RECEIVE = 0x18,
	ST_OP_CLEAR_TO_SEND = 0x1A,
	ST_OP_DATA = 0x1B, /* also PUT */
	ST_OP_REQUEST_STATE = 0x1C,
	ST_OP_REQUEST_STATE_RESPONSE = 0x1D,
	ST_OP_END = 0x1E,
	ST_OP_END_ACK = 0x1F,
};
#define ST_OP_COUNT 32 /* Op is 5 bits */

/* Flags (bits 10..0 of the first word). */
#define ST_FLAG_SILENT 0x0080u
#define ST_FLAG_INTERRUPT 0x0040u
#define ST_FLAG_SEND_STATE 0x0020u
#define ST_FLAG_OUT_OF_ORDER 0x0010u
#define ST_FLAG_LAST 0x0008u
#define ST_FLAG_REJECT 0x0004u
#define ST_FLAG_RESERVED 0x0003u
#define ST_FLAG_FUNCTION_SHIFT 8
#define ST_FLAG_FUNCTION_MASK 0x0700u

/* Function field of GET (bits 10..8).  4, 5, 6 are gsn's extension. */
enum st_get_function {
	ST_FN_GET = 0,
	ST_FN_FETCH_INCREMENT = 1,
	ST_FN_FETCH_DECREMENT = 2,
	ST_FN_FETCH_CLEAR = 3,
	ST_FN_FETCH_ADD = 4,
	ST_FN_SWAP = 5,
	ST_FN_COMPARE_SWAP = 6,
	ST_FN_FETCHOP_COMPLETE = 7,
};

/*
 * Decoded header.  Field names follow the wire; each opcode gives some of
 * them an operation-specific meaning (see the table in PROTOCOL.md §5 and
 * docs/protocol.md).
 */
struct st_hdr {
	uint8_t op;      /* 5 bits */
	uint16_t flags;  /* 11 bits, including the Function field */
	uint16_t param;
	uint16_t d_port;
	uint16_t s_port;
	uint32_t d_key;
	uint16_t cksum;
	uint16_t b_id;
	uint32_t bufx;
	uint32_t offset;
	uint32_t sync;
	uint32_t b_num;
	uint32_t d_id;
	uint32_t s_id;
};

static inline unsigned st_hdr_function(const struct st_hdr *h)
{
	return (h->flags & ST_FLAG_FUNCTION_MASK) >> ST_FLAG_FUNCTION_SHIFT;
}

static inline void st_hdr_set_function(struct st_hdr *h, unsigned fn)
{
	h->flags = (uint16_t)((h->flags & ~ST_FLAG_FUNCTION_MASK) |
			      ((fn << ST_FLAG_FUNCTION_SHIFT) & ST_FLAG_FUNCTION_MASK));
}

/* RFC 1071 one's-complement sum over the 40 header bytes. */
static inline uint16_t st_hdr_checksum(const uint8_t raw[ST_HDR_LEN])
{
	uint32_t sum = 0;
	for (size_t i = 0; i < ST_HDR_LEN; i += 2) {
		if (i == 12)
			continue; /* the Cksum field counts as zero */
		sum += gsn_get_be16(raw + i);
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	return c ? c : 0xffff; /* 0 means "not computed" on the wire */
}

/*
 * Encodes h into raw.  With with_cksum the Cksum field is computed and
 * h->cksum is ignored; otherwise h->cksum is written as given.
 */
static inline void st_hdr_encode(const struct st_hdr *h, uint8_t raw[ST_HDR_LEN], bool with_cksum)
{
	gsn_put_be16(raw + 0, (uint16_t)(((unsigned)h->op & 0x1f) << 11 | (h->flags & 0x7ff)));
	gsn_put_be16(raw + 2, h->param);
	gsn_put_be16(raw + 4, h->d_port);
	gsn_put_be16(raw + 6, h->s_port);
	gsn_put_be32(raw + 8, h->d_key);
	gsn_put_be16(raw + 12, 0);
	gsn_put_be16(raw + 14, h->b_id);
	gsn_put_be32(raw + 16, h->bufx);
	gsn_put_be32(raw + 20, h->offset);
	gsn_put_be32(raw + 24, h->sync);
	gsn_put_be32(raw + 28, h->b_num);
	gsn_put_be32(raw + 32, h->d_id);
	gsn_put_be32(raw + 36, h->s_id);
	gsn_put_be16(raw + 12, with_cksum ? st_hdr_checksum(raw) : h->cksum);
}

enum st_hdr_decode_status {
	ST_HDR_OK = 0,
	ST_HDR_TRUNCATED = -1, /* fewer than 40 bytes */
	ST_HDR_BAD_CKSUM = -2, /* Cksum present and wrong */
};

/* Decodes the first 40 bytes of buf; never reads past len. */
static inline int st_hdr_decode(const uint8_t *buf, size_t len, struct st_hdr *h)
{
	if (len < ST_HDR_LEN)
		return ST_HDR_TRUNCATED;
	uint16_t w0 = gsn_get_be16(buf);
	h->op = (uint8_t)(w0 >> 11);
	h->flags = w0 & 0x7ff;
	h->param = gsn_get_be16(buf + 2);
	h->d_port = gsn_get_be16(buf + 4);
	h->s_port = gsn_get_be16(buf + 6);
	h->d_key = gsn_get_be32(buf + 8);
	h->cksum = gsn_get_be16(buf + 12);
	h->b_id = gsn_get_be16(buf + 14);
	h->bufx = gsn_get_be32(buf + 16);
	h->offset = gsn_get_be32(buf + 20);
	h->sync = gsn_get_be32(buf + 24);
	h->b_num = gsn_get_be32(buf + 28);
	h->d_id = gsn_get_be32(buf + 32);
	h->s_id = gsn_get_be32(buf + 36);
	if (h->cksum != 0 && h->cksum != st_hdr_checksum(buf))
		return ST_HDR_BAD_CKSUM;
	return ST_HDR_OK;
}

/* True for the opcodes PROTOCOL.md §5 defines; every other value is a syntax error. */
static inline bool st_opcode_valid(unsigned op)
{
	switch (op) {
	case ST_OP_REQUEST_CONNECTION: case ST_OP_CONNECTION_ANSWER:
	case ST_OP_REQUEST_DISCONNECT: case ST_OP_DISCONNECT_ANSWER:
	case ST_OP_DISCONNECT_COMPLETE: case ST_OP_NOP:
	case ST_OP_REQUEST_MEMORY_REGION: case ST_OP_MEMORY_REGION_AVAILABLE:
	case ST_OP_GET: case ST_OP_REQUEST_TO_SEND: case ST_OP_REQUEST_ANSWER:
	case ST_OP_REQUEST_TO_RECEIVE: case ST_OP_CLEAR_TO_SEND: case ST_OP_DATA:
	case ST_OP_REQUEST_STATE: case ST_OP_REQUEST_STATE_RESPONSE:
	case ST_OP_END: case ST_OP_END_ACK:
		return true;
	default:
		return false;
	}
}

/*
 * Reject reasons (ours): carried in Param of Request_Answer or
 * Connection_Answer when the Reject flag is set.
 */
enum st_reject_reason {
	ST_REJ_NONE = 0,
	ST_REJ_BAD_OPCODE = 1,   /* syntax error: unknown opcode */
	ST_REJ_BAD_RANGE = 2,    /* Bufx/Offset/length outside the region or crossing a buffer */
	ST_REJ_ACCESS = 3,       /* region lacks the access the operation needs */
	ST_REJ_NO_TRANSFER = 4,  /* Data or CTS for no known transfer */
	ST_REJ_NO_SLOTS = 5,     /* more slot-consuming operations than granted */
	ST_REJ_NOT_READY = 6,    /* no receive (or source) posted */
	ST_REJ_LENGTH = 7,       /* transfer longer than the posted buffer */
	ST_REJ_NO_LISTENER = 8,  /* nobody listens on the upper-layer port */
	ST_REJ_ETHERTYPE = 9,    /* EtherType not served on that port */
	ST_REJ_BAD_PARAM = 10,   /* unusable Bufsize/Max_STU/slots/... */
	ST_REJ_RESOURCES = 11,   /* out of VCs, regions or memory */
	ST_REJ_REFUSED = 12,     /* the upper layer refused */
	ST_REJ_BAD_KEY = 13,     /* no region with that key */
	ST_REJ_ABORTED = 14,     /* the transfer was ended */
	ST_REJ_BAD_FUNCTION = 15,/* unsupported GET Function or operand size */
};

/*
 * Size limits per virtual channel (PROTOCOL.md §1), in data bytes of a GSN
 * Message: 68, 4100 and 4100 micropackets of 32 bytes; VC3 up to 2^27
 * micropackets.  An ST operation sits 24 bytes into the Message.
 */
#define GSN_MPKT_DATA 32u
static inline uint64_t gsn_vc_max_message_bytes(unsigned vc)
{
	static const uint64_t mpkts[4] = {68, 4100, 4100, 134217728};
	return vc < 4 ? mpkts[vc] * GSN_MPKT_DATA : 0;
}

#define GSN_ST_MSG_OFFSET 24u /* D_ULA, S_ULA, M_len, LLC/SNAP */

/* Largest ST payload (bytes after the 40-byte header) a VC can carry. */
static inline uint64_t gsn_vc_max_st_payload(unsigned vc)
{
	uint64_t m = gsn_vc_max_message_bytes(vc);
	return m > GSN_ST_MSG_OFFSET + ST_HDR_LEN ? m - GSN_ST_MSG_OFFSET - ST_HDR_LEN : 0;
}

#endif /* GSN_ST_WIRE_H */
