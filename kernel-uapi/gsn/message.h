/* SPDX-License-Identifier: MIT */
/*
 * GSN Message (PROTOCOL.md §2): one HEADER micropacket, then DATA
 * micropackets, the last with TAIL.  The 32 data bytes of the HEADER
 * micropacket:
 *
 *	 0..5   D_ULA (destination Universal LAN MAC Address)
 *	 6..11  S_ULA
 *	12..15  M_len: bytes of the Message from byte 16 on (LLC/SNAP and
 *	        upper-layer data), padding excluded
 *	16..23  LLC/SNAP: AA AA 03 00 00 00, EtherType (2)
 *	24..31  first 8 bytes of the upper-layer PDU
 *
 * Byte n of the Message is byte n % 32 of its micropacket n / 32; the last
 * micropacket is zero-padded.
 */
#ifndef GSN_MESSAGE_H
#define GSN_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpkt.h"
#include "st_wire.h"
#include "wire_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_ULA_LEN 6
#define GSN_ULA_STRLEN 18 /* "xx:xx:xx:xx:xx:xx" and its NUL */

#define GSN_MSG_HDR_LEN 32u   /* the HEADER micropacket's data bytes */
#define GSN_MSG_LEN_OFFSET 16u /* M_len counts from this byte */
#define GSN_MSG_SNAP_LEN 8u   /* LLC/SNAP with EtherType */
#define GSN_MSG_PDU_OFFSET 24u /* upper-layer PDU starts here */
#define GSN_MSG_PDU_IN_HDR 8u /* PDU bytes carried by the HEADER micropacket */

#define GSN_ETHERTYPE_IPV4 0x0800u
#define GSN_ETHERTYPE_HARP 0x0806u
#define GSN_ETHERTYPE_ST 0x8181u

/* Decoded HEADER micropacket. */
struct gsn_msg_hdr {
	uint8_t d_ula[GSN_ULA_LEN];
	uint8_t s_ula[GSN_ULA_LEN];
	uint32_t m_len;
	uint16_t ethertype;
	uint8_t pdu[GSN_MSG_PDU_IN_HDR]; /* first PDU bytes (zero padding if short) */
};

/* Return codes (describe with gsn_frame_strerror()). */
enum gsn_msg_err {
	GSN_MSG_OK = 0,
	GSN_MSG_E_SHORT = -20,   /* fewer than 32 bytes */
	GSN_MSG_E_SNAP = -21,    /* bytes 16..21 are not AA AA 03 00 00 00 */
	GSN_MSG_E_LEN = -22,     /* M_len < 8: shorter than its own LLC/SNAP */
	GSN_MSG_E_BAD_ULA = -23, /* gsn_ula_parse(): not xx:xx:xx:xx:xx:xx */
};

/* 802.2 LLC (DSAP AA, SSAP AA, UI) and SNAP OUI 00-00-00, before the EtherType. */
#define GSN_LLC_SNAP_PREFIX {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00}

/* Writes the 32 data bytes of the HEADER micropacket. */
static inline void gsn_msg_hdr_encode(const struct gsn_msg_hdr *h, uint8_t out[GSN_MSG_HDR_LEN])
{
	static const uint8_t snap[] = GSN_LLC_SNAP_PREFIX;

	for (size_t i = 0; i < GSN_ULA_LEN; i++) {
		out[i] = h->d_ula[i];
		out[GSN_ULA_LEN + i] = h->s_ula[i];
	}
	gsn_put_be32(out + 12, h->m_len);
	for (size_t i = 0; i < sizeof(snap); i++)
		out[16 + i] = snap[i];
	gsn_put_be16(out + 22, h->ethertype);
	for (size_t i = 0; i < GSN_MSG_PDU_IN_HDR; i++)
		out[GSN_MSG_PDU_OFFSET + i] = h->pdu[i];
}

/*
 * Decodes the first 32 bytes of in (a HEADER micropacket's data); never
 * reads past len.  Checks length, then the LLC/SNAP prefix, then M_len >= 8.
 * *h is written only when the length is sufficient.  The EtherType is not
 * checked: the upper layers decide what they serve.
 */
static inline int gsn_msg_hdr_decode(const uint8_t *in, size_t len, struct gsn_msg_hdr *h)
{
	static const uint8_t snap[] = GSN_LLC_SNAP_PREFIX;

	if (len < GSN_MSG_HDR_LEN)
		return GSN_MSG_E_SHORT;
	for (size_t i = 0; i < GSN_ULA_LEN; i++) {
		h->d_ula[i] = in[i];
		h->s_ula[i] = in[GSN_ULA_LEN + i];
	}
	h->m_len = gsn_get_be32(in + 12);
	h->ethertype = gsn_get_be16(in + 22);
	for (size_t i = 0; i < GSN_MSG_PDU_IN_HDR; i++)
		h->pdu[i] = in[GSN_MSG_PDU_OFFSET + i];
	for (size_t i = 0; i < sizeof(snap); i++)
		if (in[16 + i] != snap[i])
			return GSN_MSG_E_SNAP;
	if (h->m_len < GSN_MSG_SNAP_LEN)
		return GSN_MSG_E_LEN;
	return GSN_MSG_OK;
}

/*
 * Micropackets (HEADER included) a Message with this M_len occupies:
 * ceil((16 + M_len) / 32).  At most 134217729, so it fits 32 bits.
 */
static inline uint32_t gsn_message_mpkt_count(uint32_t m_len)
{
	uint64_t bytes = (uint64_t)GSN_MSG_LEN_OFFSET + m_len;

	return (uint32_t)((bytes + GSN_MPKT_DATA - 1) / GSN_MPKT_DATA);
}

/*
 * True when a Message with this M_len may travel on vc: its micropackets,
 * HEADER included, stay within the VC's limit (68, 4100, 4100, 2^27;
 * gsn_vc_max_message_bytes()).  False for vc > 3.
 */
static inline bool gsn_message_fits_vc(unsigned vc, uint32_t m_len)
{
	return (uint64_t)GSN_MSG_LEN_OFFSET + m_len <= gsn_vc_max_message_bytes(vc);
}

/* ULA helpers.  Byte 0 is the first on the wire. */

static inline bool gsn_ula_is_broadcast(const uint8_t ula[GSN_ULA_LEN])
{
	for (size_t i = 0; i < GSN_ULA_LEN; i++)
		if (ula[i] != 0xff)
			return false;
	return true;
}

/* Group (multicast or broadcast) address: bit 0x01 of byte 0. */
static inline bool gsn_ula_is_group(const uint8_t ula[GSN_ULA_LEN])
{
	return (ula[0] & 0x01) != 0;
}

/* Locally administered (emulated adapters): bit 0x02 of byte 0. */
static inline bool gsn_ula_is_local(const uint8_t ula[GSN_ULA_LEN])
{
	return (ula[0] & 0x02) != 0;
}

static inline bool gsn_ula_equal(const uint8_t a[GSN_ULA_LEN], const uint8_t b[GSN_ULA_LEN])
{
	for (size_t i = 0; i < GSN_ULA_LEN; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Writes "xx:xx:xx:xx:xx:xx" (lower-case hex) and a NUL into out. */
static inline void gsn_ula_format(const uint8_t ula[GSN_ULA_LEN], char out[GSN_ULA_STRLEN])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < GSN_ULA_LEN; i++) {
		out[3 * i] = hex[ula[i] >> 4];
		out[3 * i + 1] = hex[ula[i] & 0xf];
		out[3 * i + 2] = i + 1 < GSN_ULA_LEN ? ':' : '\0';
	}
}

static inline int gsn_hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Parses six colon-separated groups of one or two hex digits (either case),
 * nothing before or after.  Returns GSN_MSG_OK, or GSN_MSG_E_BAD_ULA with
 * ula untouched.
 */
static inline int gsn_ula_parse(const char *s, uint8_t ula[GSN_ULA_LEN])
{
	uint8_t v[GSN_ULA_LEN];

	for (size_t i = 0; i < GSN_ULA_LEN; i++) {
		int hi = gsn_hex_digit(*s);

		if (hi < 0)
			return GSN_MSG_E_BAD_ULA;
		s++;
		int lo = gsn_hex_digit(*s);
		if (lo >= 0) {
			v[i] = (uint8_t)(hi << 4 | lo);
			s++;
		} else {
			v[i] = (uint8_t)hi;
		}
		if (*s != (i + 1 < GSN_ULA_LEN ? ':' : '\0'))
			return GSN_MSG_E_BAD_ULA;
		s++;
	}
	for (size_t i = 0; i < GSN_ULA_LEN; i++)
		ula[i] = v[i];
	return GSN_MSG_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_MESSAGE_H */
