/* SPDX-License-Identifier: MIT */
/*
 * HARP packet (PROTOCOL.md §4, RFC 2835 modelled on RFC 2225 ATMARP),
 * carried in a GSN Message with EtherType 0x0806.  Header-only codec.
 *
 *	 0..1   hrd   hardware type: 28 HIPARP (6 IEEE 802 accepted)
 *	 2..3   pro   0x0800 IPv4
 *	 4      shtl  sender ULA length (6)
 *	 5      sstl  sender subaddress length (0)
 *	 6..7   op    1 request, 2 reply, 8 InARP request, 9 InARP reply, 10 NAK
 *	 8      spln  sender IP length (4)
 *	 9      thtl  target ULA length (6)
 *	10      tstl  target subaddress length (0)
 *	11      tpln  target IP length (4)
 *	12..    sender ULA, sender IP, target ULA, target IP (shtl, spln, thtl,
 *	        tpln bytes: 32 bytes in all when every address is present)
 *
 * The encoder always writes the full 32 bytes.  The decoder is bounds-checked
 * and, as RFC 2225 allows, also takes an address length of 0 (address
 * absent, decoded as zero); any other length is rejected.  Bytes after the
 * addresses (padding) are ignored.  Unknown operations decode fine: the
 * protocol drops them (gsn_harp_op_known()).
 *
 * IPv4 addresses are held in host order (10.0.0.1 is 0x0a000001).
 */
#ifndef GSN_HARP_H
#define GSN_HARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "wire_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_HARP_FIXED_LEN 12u /* hrd .. tpln */
#define GSN_HARP_LEN 32u       /* with all four addresses */
#define GSN_HARP_HRD_HIPARP 28u
#define GSN_HARP_HRD_IEEE802 6u
#define GSN_HARP_PRO_IPV4 0x0800u
#define GSN_HARP_HTL GSN_ULA_LEN /* 6 */
#define GSN_HARP_PLN 4u

enum gsn_harp_op {
	GSN_HARP_OP_REQUEST = 1,
	GSN_HARP_OP_REPLY = 2,
	GSN_HARP_OP_INARP_REQUEST = 8,
	GSN_HARP_OP_INARP_REPLY = 9,
	GSN_HARP_OP_NAK = 10,
};

struct gsn_harp_pkt {
	uint16_t hrd;
	uint16_t op;
	uint8_t sha[GSN_ULA_LEN]; /* sender ULA */
	uint32_t spa;             /* sender IPv4, host order */
	uint8_t tha[GSN_ULA_LEN]; /* target ULA */
	uint32_t tpa;             /* target IPv4, host order */
};

/* Return codes (disjoint from the other codecs'; gsn_harp_strerror()). */
enum gsn_harp_err {
	GSN_HARP_OK = 0,
	GSN_HARP_E_SHORT = -50,   /* shorter than the fixed part or the announced addresses */
	GSN_HARP_E_HRD = -51,     /* hardware type neither 28 nor 6 */
	GSN_HARP_E_PRO = -52,     /* protocol type not 0x0800 */
	GSN_HARP_E_ADDRLEN = -53, /* an address length other than 0/6 (ULA), 0/4 (IP), 0 (sub) */
};

static inline bool gsn_harp_op_known(unsigned op)
{
	return op == GSN_HARP_OP_REQUEST || op == GSN_HARP_OP_REPLY ||
	       op == GSN_HARP_OP_INARP_REQUEST || op == GSN_HARP_OP_INARP_REPLY ||
	       op == GSN_HARP_OP_NAK;
}

static inline const char *gsn_harp_op_name(unsigned op)
{
	switch (op) {
	case GSN_HARP_OP_REQUEST:
		return "request";
	case GSN_HARP_OP_REPLY:
		return "reply";
	case GSN_HARP_OP_INARP_REQUEST:
		return "inarp-request";
	case GSN_HARP_OP_INARP_REPLY:
		return "inarp-reply";
	case GSN_HARP_OP_NAK:
		return "nak";
	}
	return "unknown";
}

static inline const char *gsn_harp_strerror(int err)
{
	switch (err) {
	case GSN_HARP_OK:
		return "ok";
	case GSN_HARP_E_SHORT:
		return "HARP packet truncated";
	case GSN_HARP_E_HRD:
		return "HARP hardware type not 28 or 6";
	case GSN_HARP_E_PRO:
		return "HARP protocol type not IPv4";
	case GSN_HARP_E_ADDRLEN:
		return "HARP address length unsupported";
	}
	return "unknown HARP error";
}

/* Writes the 32 bytes of p (hrd as given, pro 0x0800, full lengths). */
static inline void gsn_harp_encode(const struct gsn_harp_pkt *p, uint8_t out[GSN_HARP_LEN])
{
	gsn_put_be16(out, p->hrd);
	gsn_put_be16(out + 2, GSN_HARP_PRO_IPV4);
	out[4] = GSN_HARP_HTL;
	out[5] = 0;
	gsn_put_be16(out + 6, p->op);
	out[8] = GSN_HARP_PLN;
	out[9] = GSN_HARP_HTL;
	out[10] = 0;
	out[11] = GSN_HARP_PLN;
	for (size_t i = 0; i < GSN_ULA_LEN; i++) {
		out[12 + i] = p->sha[i];
		out[22 + i] = p->tha[i];
	}
	gsn_put_be32(out + 18, p->spa);
	gsn_put_be32(out + 28, p->tpa);
}

/*
 * Reads an address of length n (0 or want) at *off into dst (zero-filled if
 * absent): GSN_HARP_E_ADDRLEN for another n, GSN_HARP_E_SHORT when the bytes
 * run past len.
 */
static inline int gsn_harp_field_(const uint8_t *in, size_t len, size_t *off, unsigned n,
				  unsigned want, uint8_t *dst)
{
	for (unsigned i = 0; i < want; i++)
		dst[i] = 0;
	if (n != 0 && n != want)
		return GSN_HARP_E_ADDRLEN;
	if (len - *off < n)
		return GSN_HARP_E_SHORT;
	for (unsigned i = 0; i < n && i < want; i++) /* n == want here; the bound is for the compiler */
		dst[i] = in[*off + i];
	*off += n;
	return GSN_HARP_OK;
}

/*
 * Decodes in[0..len); never reads past len.  Checks, in order: the fixed
 * part's length, hrd, pro, the subaddress lengths, then each address (length
 * and bounds).  *p is fully written on GSN_HARP_OK, unspecified otherwise.
 */
static inline int gsn_harp_decode(const uint8_t *in, size_t len, struct gsn_harp_pkt *p)
{
	uint8_t spa[GSN_HARP_PLN], tpa[GSN_HARP_PLN];
	size_t off = GSN_HARP_FIXED_LEN;
	int err;

	if (!in || len < GSN_HARP_FIXED_LEN)
		return GSN_HARP_E_SHORT;
	p->hrd = gsn_get_be16(in);
	p->op = gsn_get_be16(in + 6);
	if (p->hrd != GSN_HARP_HRD_HIPARP && p->hrd != GSN_HARP_HRD_IEEE802)
		return GSN_HARP_E_HRD;
	if (gsn_get_be16(in + 2) != GSN_HARP_PRO_IPV4)
		return GSN_HARP_E_PRO;
	if (in[5] != 0 || in[10] != 0)
		return GSN_HARP_E_ADDRLEN;
	if ((err = gsn_harp_field_(in, len, &off, in[4], GSN_HARP_HTL, p->sha)) ||
	    (err = gsn_harp_field_(in, len, &off, in[8], GSN_HARP_PLN, spa)) ||
	    (err = gsn_harp_field_(in, len, &off, in[9], GSN_HARP_HTL, p->tha)) ||
	    (err = gsn_harp_field_(in, len, &off, in[11], GSN_HARP_PLN, tpa)))
		return err;
	p->spa = gsn_get_be32(spa);
	p->tpa = gsn_get_be32(tpa);
	return GSN_HARP_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_HARP_H */
