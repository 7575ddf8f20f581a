/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: micropacket, Message header and Admin decoders on raw
 * bytes.  The input is decoded as a micropacket at every offset, and its
 * leading bytes as a HEADER micropacket's and an Admin micropacket's data,
 * with every truncated length; the ULA parser gets the input as a string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/admin.h>
#include <gsn/cable.h>
#include <gsn/message.h>
#include <gsn/mpkt.h>

static void fuzz_msg_hdr(const uint8_t *buf, size_t len)
{
	struct gsn_msg_hdr h;
	int err = gsn_msg_hdr_decode(buf, len, &h);

	if (len < GSN_MSG_HDR_LEN) {
		if (err != GSN_MSG_E_SHORT)
			abort();
		return;
	}
	if (err == GSN_MSG_E_SHORT)
		abort();
	if (err == GSN_MSG_OK) {
		uint8_t out[GSN_MSG_HDR_LEN];

		gsn_msg_hdr_encode(&h, out);
		if (memcmp(out, buf, sizeof(out)) != 0)
			abort();
		if (gsn_message_mpkt_count(h.m_len) == 0)
			abort();
		for (unsigned vc = 0; vc <= GSN_VC_COUNT; vc++)
			(void)gsn_message_fits_vc(vc, h.m_len);

		char s[GSN_ULA_STRLEN];
		uint8_t back[GSN_ULA_LEN];

		gsn_ula_format(h.d_ula, s);
		if (gsn_ula_parse(s, back) != GSN_MSG_OK || !gsn_ula_equal(back, h.d_ula))
			abort();
		(void)gsn_ula_is_broadcast(h.s_ula);
		(void)gsn_ula_is_local(h.s_ula);
	}
}

static void fuzz_admin(const uint8_t *buf, size_t len)
{
	struct gsn_admin a;
	int err = gsn_admin_decode(buf, len, &a);

	if ((len < GSN_ADMIN_LEN) != (err == GSN_ADMIN_E_SHORT))
		abort();
	if (err == GSN_ADMIN_OK) {
		uint8_t out[GSN_ADMIN_LEN];

		gsn_admin_encode(&a, out);
		if (memcmp(out, buf, sizeof(out)) != 0)
			abort();
		(void)gsn_admin_cmd_known(a.cmd);
	}
}

static void fuzz_mpkt(const uint8_t *buf, size_t len)
{
	struct gsn_mpkt_ctl c;
	uint8_t data[GSN_MPKT_DATA];
	int err = gsn_mpkt_decode(buf, len, &c, data);

	if ((len < GSN_MPKT_LEN) != (err == GSN_MPKT_E_SHORT))
		abort();
	if (err == GSN_MPKT_OK || err == GSN_MPKT_E_RESERVED) {
		uint8_t out[GSN_MPKT_LEN];

		gsn_mpkt_encode(&c, data, out);
		if (memcmp(out, buf, sizeof(out)) != 0)
			abort();
		if ((err == GSN_MPKT_OK) != gsn_mpkt_type_valid(c.type))
			abort();
		(void)gsn_mpkt_type_name(c.type);
	}
	(void)gsn_frame_strerror(err);
}

/* The ULA parser on arbitrary text (NUL-terminated copy of the input). */
static void fuzz_ula_parse(const uint8_t *buf, size_t len)
{
	if (len > 64)
		len = 64;
	char s[65];
	memcpy(s, buf, len);
	s[len] = '\0';

	uint8_t u[GSN_ULA_LEN];
	if (gsn_ula_parse(s, u) == GSN_MSG_OK) {
		char f[GSN_ULA_STRLEN];
		uint8_t back[GSN_ULA_LEN];

		gsn_ula_format(u, f);
		if (gsn_ula_parse(f, back) != GSN_MSG_OK || !gsn_ula_equal(u, back))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	/* Every offset, so each decoder sees every alignment and length. */
	for (size_t off = 0; off < len && off < 2 * GSN_MPKT_LEN; off++)
		fuzz_mpkt(buf + off, len - off);
	for (size_t l = 0; l <= len && l <= GSN_MPKT_LEN; l++) {
		fuzz_msg_hdr(buf, l);
		fuzz_admin(buf, l);
	}
	if (len >= GSN_MPKT_CTL_LEN) {
		/* The data bytes of a micropacket starting at byte 0. */
		fuzz_msg_hdr(buf + GSN_MPKT_CTL_LEN, len - GSN_MPKT_CTL_LEN);
		fuzz_admin(buf + GSN_MPKT_CTL_LEN, len - GSN_MPKT_CTL_LEN);
	}
	fuzz_ula_parse(buf, len);
	return 0;
}
