/* SPDX-License-Identifier: MIT */
/*
 * Cable frame codec and the error strings of every wire codec.  Layout and
 * the exact-length rule are documented in gsn/cable.h and docs/wire.md.
 */
#include <gsn/admin.h>
#include <gsn/cable.h>
#include <gsn/message.h>
#include <gsn/mpkt.h>

void gsn_frame_hdr_encode(const struct gsn_frame_hdr *h, uint8_t out[GSN_FRAME_HDR_LEN])
{
	gsn_put_be32(out + 0, GSN_FRAME_MAGIC_BE);
	out[4] = h->version;
	out[5] = h->flags;
	gsn_put_be16(out + 6, h->count);
	gsn_put_be32(out + 8, h->incarnation);
	gsn_put_be32(out + 12, h->ext_tseq);
	gsn_put_be32(out + 16, h->ext_rseq);
	gsn_put_be32(out + 20, h->reserved);
}

int gsn_frame_hdr_decode(const uint8_t *buf, size_t len, struct gsn_frame_hdr *h)
{
	if (len < GSN_FRAME_HDR_LEN)
		return GSN_FRAME_E_TRUNCATED;
	if (gsn_get_be32(buf) != GSN_FRAME_MAGIC_BE)
		return GSN_FRAME_E_MAGIC;
	h->version = buf[4];
	h->flags = buf[5];
	h->count = gsn_get_be16(buf + 6);
	h->incarnation = gsn_get_be32(buf + 8);
	h->ext_tseq = gsn_get_be32(buf + 12);
	h->ext_rseq = gsn_get_be32(buf + 16);
	h->reserved = gsn_get_be32(buf + 20);
	if (h->version != GSN_FRAME_VERSION)
		return GSN_FRAME_E_VERSION;
	return GSN_FRAME_OK;
}

int gsn_frame_parse(const uint8_t *buf, size_t len, struct gsn_frame_view *out)
{
	struct gsn_frame_hdr h;
	int err = gsn_frame_hdr_decode(buf, len, &h);

	if (err)
		return err;

	size_t want = gsn_frame_size(h.count);
	if (len < want)
		return GSN_FRAME_E_TRUNCATED;
	if (len > want)
		return GSN_FRAME_E_LENGTH;
	out->hdr = h;
	out->mpkts = buf + GSN_FRAME_HDR_LEN;
	out->len = len;
	return GSN_FRAME_OK;
}

int gsn_frame_check_seq(const struct gsn_frame_view *v)
{
	uint8_t tseq = (uint8_t)v->hdr.ext_tseq;
	uint8_t rseq = (uint8_t)v->hdr.ext_rseq;
	bool first = true;

	for (size_t i = 0; i < v->hdr.count; i++) {
		struct gsn_mpkt_ctl c;

		gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(gsn_frame_mpkt(v, i)), &c);
		if (c.rseq != rseq)
			return GSN_FRAME_E_SEQ;
		if (first && gsn_mpkt_type_sequenced(c.type)) {
			if (c.tseq != tseq)
				return GSN_FRAME_E_SEQ;
			first = false;
		}
	}
	return GSN_FRAME_OK;
}

const char *gsn_frame_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case GSN_MPKT_E_SHORT: return "micropacket: shorter than 40 bytes";
	case GSN_MPKT_E_LCRC: return "micropacket: bad LCRC";
	case GSN_MPKT_E_RESERVED: return "micropacket: reserved TYPE";
	case GSN_MSG_E_SHORT: return "message header: shorter than 32 bytes";
	case GSN_MSG_E_SNAP: return "message header: bad LLC/SNAP prefix";
	case GSN_MSG_E_LEN: return "message header: M_len shorter than LLC/SNAP";
	case GSN_MSG_E_BAD_ULA: return "ULA: not xx:xx:xx:xx:xx:xx";
	case GSN_ADMIN_E_SHORT: return "admin: shorter than 32 bytes";
	case GSN_FRAME_E_MAGIC: return "frame: bad magic";
	case GSN_FRAME_E_VERSION: return "frame: unsupported version";
	case GSN_FRAME_E_TRUNCATED: return "frame: truncated";
	case GSN_FRAME_E_LENGTH: return "frame: length does not match count";
	case GSN_FRAME_E_SEQ: return "frame: sequence numbers disagree";
	default: return "unknown error";
	}
}
