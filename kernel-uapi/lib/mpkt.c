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

uint16_t gsn_mpkt_lcrc(const uint8_t data[GSN_MPKT_DATA], uint64_t ctl_word)
{
	uint8_t w[GSN_MPKT_CTL_LEN];

	gsn_put_be64(w, ctl_word);
	/* The data bytes first, then control bits 63..16 (wire bytes 0..5). */
	return gsn_crc_fold16(gsn_crc32c_mpkt(data, w));
}

void gsn_mpkt_encode(const struct gsn_mpkt_ctl *c, const uint8_t *data, uint8_t out[GSN_MPKT_LEN])
{
	uint8_t *d = out + GSN_MPKT_CTL_LEN;

	if (data)
		memmove(d, data, GSN_MPKT_DATA);
	else
		memset(d, 0, GSN_MPKT_DATA);

	uint64_t w = gsn_mpkt_ctl_pack(c) & ~(uint64_t)0xffff;
	w |= gsn_mpkt_lcrc(d, w);
	gsn_put_be64(out, w);
}

int gsn_mpkt_decode(const uint8_t *in, size_t len, struct gsn_mpkt_ctl *c, uint8_t *data)
{
	if (len < GSN_MPKT_LEN)
		return GSN_MPKT_E_SHORT;

	uint64_t w = gsn_get_be64(in);
	const uint8_t *d = in + GSN_MPKT_CTL_LEN;
	uint16_t lcrc = gsn_mpkt_lcrc(d, w);

	gsn_mpkt_ctl_unpack(w, c);
	if (data)
		memmove(data, d, GSN_MPKT_DATA);
	if (lcrc != c->lcrc)
		return GSN_MPKT_E_LCRC;
	if (!gsn_mpkt_type_valid(c->type))
		return GSN_MPKT_E_RESERVED;
	return GSN_MPKT_OK;
}
