/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: a received cable frame.  Parses it, checks the sequence
 * fields, decodes every micropacket (one with a bad LCRC is repaired and
 * decoded again) and, by TYPE, its payload (HEADER -> Message header,
 * ADMIN -> Admin, INIT/INIT-ACK -> credits), and checks that whatever
 * decodes re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/admin.h>
#include <gsn/cable.h>
#include <gsn/message.h>
#include <gsn/mpkt.h>

static void check_mpkt(const uint8_t *mp)
{
	struct gsn_mpkt_ctl c;
	uint8_t data[GSN_MPKT_DATA];
	int err = gsn_mpkt_decode(mp, GSN_MPKT_LEN, &c, data);

	if (err == GSN_MPKT_E_LCRC) {
		/*
		 * Mutations rarely keep the LCRC right: go on with a repaired
		 * copy so the payload decoders still see the mutated bytes.
		 */
		uint8_t fixed[GSN_MPKT_LEN];

		gsn_mpkt_encode(&c, data, fixed);
		if (gsn_mpkt_decode(fixed, sizeof(fixed), &c, data) == GSN_MPKT_E_LCRC)
			abort();
		check_mpkt(fixed);
		return;
	}
	if (err != GSN_MPKT_OK && err != GSN_MPKT_E_RESERVED)
		abort();

	/* A micropacket with a good LCRC re-encodes to itself. */
	uint8_t again[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, data, again);
	if (memcmp(again, mp, GSN_MPKT_LEN) != 0)
		abort();
	if (err)
		return;

	switch (c.type) {
	case GSN_MPKT_T_HEADER: {
		struct gsn_msg_hdr h;
		uint8_t out[GSN_MSG_HDR_LEN];

		if (gsn_msg_hdr_decode(data, sizeof(data), &h) == GSN_MSG_OK) {
			gsn_msg_hdr_encode(&h, out);
			if (memcmp(out, data, sizeof(out)) != 0)
				abort();
			(void)gsn_message_fits_vc(c.vc, h.m_len);
			(void)gsn_message_mpkt_count(h.m_len);
		}
		break;
	}
	case GSN_MPKT_T_ADMIN: {
		struct gsn_admin a;
		uint8_t out[GSN_ADMIN_LEN];

		if (gsn_admin_decode(data, sizeof(data), &a) != GSN_ADMIN_OK)
			abort();
		gsn_admin_encode(&a, out);
		if (memcmp(out, data, sizeof(out)) != 0)
			abort();
		break;
	}
	case GSN_MPKT_T_INIT:
	case GSN_MPKT_T_INIT_ACK: {
		uint32_t credits[GSN_VC_COUNT];
		uint8_t out[GSN_MPKT_DATA];

		gsn_mpkt_init_decode(data, credits);
		gsn_mpkt_init_encode(credits, out);
		if (memcmp(out, data, 16) != 0)
			abort();
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct gsn_frame_view v;
	int err = gsn_frame_parse(buf, len, &v);

	(void)gsn_frame_strerror(err);
	if (err)
		return 0;
	if (v.len != len || v.len != gsn_frame_size(v.hdr.count))
		abort();

	/* The header re-encodes to the bytes it came from. */
	uint8_t hdr[GSN_FRAME_HDR_LEN];
	gsn_frame_hdr_encode(&v.hdr, hdr);
	if (memcmp(hdr, buf, sizeof(hdr)) != 0)
		abort();

	(void)gsn_frame_check_seq(&v);
	for (size_t i = 0; i < v.hdr.count; i++) {
		const uint8_t *mp = gsn_frame_mpkt(&v, i);

		if (!mp)
			abort();
		check_mpkt(mp);
		struct gsn_mpkt_ctl c;
		gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &c);
		if (gsn_seq_extend(v.hdr.ext_tseq, c.tseq) % 256 != c.tseq)
			abort();
	}
	if (gsn_frame_mpkt(&v, v.hdr.count) != NULL)
		abort();
	return 0;
}
