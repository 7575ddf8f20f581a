/* SPDX-License-Identifier: MIT */
/*
 * Micropacket codec: control word, LCRC, 40-byte cable form.  The layout
 * and the LCRC byte order are documented in gsn/mpkt.h and docs/wire.md.
 */
#include <string.h>

#include <gsn/mpkt.h>

const char *gsn_mpkt_type_name(unsigned type)
{
	switch (type) {
	case GSN_MPKT_T_NULL: return "NULL";
	case GSN_MPKT_T_DATA: return "DATA";
	case GSN_MPKT_T_HEADER: return "HEADER";
	case GSN_MPKT_T_CREDIT: return "CREDIT";
	case GSN_MPKT_T_ADMIN: return "ADMIN";
	case GSN_MPKT_T_RESET: return "RESET";
	case GSN_MPKT_T_RESET_ACK: return "RESET-ACK";
	case GSN_MPKT_T_INIT: return "INIT";
	case GSN_MPKT_T_INIT_ACK: return "INIT-ACK";
	default: return "RESERVED";
	}
}

#define MPKT_LCRC_OFF 6 /* control word bits 15..0 */

uint16_t gsn_mpkt_lcrc(const uint8_t data[GSN_MPKT_DATA], uint64_t ctl_word)
{
	uint8_t w[GSN_MPKT_CTL_LEN];

	gsn_put_be64(w, ctl_word);
	/* The data bytes first, then control bits 63..16 (wire bytes 0..5). */
	return gsn_crc_fold16(gsn_crc32c_mpkt(data, w));
}

void gsn_mpkt_seal(uint8_t *mp, size_t n)
{
	gsn_crc32c_lcrc_seal(mp, n);
}

size_t gsn_mpkt_lcrc_good(const uint8_t *mp, size_t n)
{
	return gsn_crc32c_lcrc_check(mp, n);
}

/* 32 bytes through registers: src and dst may overlap. */
static inline void copy32(uint8_t *dst, const uint8_t *src)
{
	uint64_t v[4];

	memcpy(v, src, sizeof(v));
	memcpy(dst, v, sizeof(v));
}

void gsn_mpkt_encode(const struct gsn_mpkt_ctl *c, const uint8_t *data, uint8_t out[GSN_MPKT_LEN])
{
	uint8_t *d = out + GSN_MPKT_CTL_LEN;

	if (data)
		copy32(d, data);
	else
		memset(d, 0, GSN_MPKT_DATA);

	/* The LCRC covers wire bytes 0..5, so the control word goes out first. */
	gsn_mpkt_put_ctl_word(out, gsn_mpkt_ctl_pack(c) & ~(uint64_t)0xffff);
	gsn_put_be16(out + MPKT_LCRC_OFF, gsn_crc_fold16(gsn_crc32c_mpkt(d, out)));
}

int gsn_mpkt_decode(const uint8_t *in, size_t len, struct gsn_mpkt_ctl *c, uint8_t *data)
{
	if (len < GSN_MPKT_LEN)
		return GSN_MPKT_E_SHORT;

	const uint8_t *d = in + GSN_MPKT_CTL_LEN;
	uint16_t lcrc = gsn_crc_fold16(gsn_crc32c_mpkt(d, in));

	gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(in), c);
	if (data)
		copy32(data, d);
	if (lcrc != c->lcrc)
		return GSN_MPKT_E_LCRC;
	if (!gsn_mpkt_type_valid(c->type))
		return GSN_MPKT_E_RESERVED;
	return GSN_MPKT_OK;
}
