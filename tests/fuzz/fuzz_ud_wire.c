/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the UD datagram decoder (gsn/ud_wire.h) on raw PDUs,
 * at every length of the input.  A PDU it accepts must re-encode to the
 * same bytes (reserved bytes aside), carry exactly its payload and name
 * 24-bit QP numbers; a PDU without the magic is never a datagram, one
 * with it never reported as "not a datagram".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/ud_wire.h>

static void fuzz_decode(const uint8_t *buf, size_t len)
{
	struct gsn_ud_wire h;
	int st = gsn_ud_wire_decode(buf, len, &h);

	if ((st == GSN_UD_WIRE_NOT_UD) == gsn_ud_wire_is_ud(buf, len))
		abort();
	if (st != GSN_UD_WIRE_OK)
		return;
	if (len < GSN_UD_WIRE_HDR_LEN || h.len != len - GSN_UD_WIRE_HDR_LEN ||
	    h.len > GSN_UD_MAX_PAYLOAD || (h.flags & ~GSN_UD_WIRE_F_ALL) ||
	    h.dest_qpn > GSN_UD_QPN_MAX || h.src_qpn > GSN_UD_QPN_MAX)
		abort();
	uint8_t out[GSN_UD_WIRE_HDR_LEN];
	struct gsn_ud_wire back;

	gsn_ud_wire_encode(&h, out);
	if (memcmp(out, buf, 6) != 0 || memcmp(out + 8, buf + 8, 20) != 0)
		abort();
	if (gsn_ud_wire_decode(out, GSN_UD_WIRE_HDR_LEN, &back) == GSN_UD_WIRE_OK &&
	    h.len != 0)
		abort(); /* the header alone claims no payload it lacks */
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	for (size_t l = 0; l <= len && l <= GSN_UD_WIRE_HDR_LEN + 64; l++)
		fuzz_decode(buf, l);
	fuzz_decode(buf, len);
	return 0;
}
