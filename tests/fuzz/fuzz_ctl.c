/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the control protocol's decoders (emulator/lib/ctl.h).
 * The first byte picks the decoder (0..31 header, 32..63 the first eight
 * fixed bodies, 64..95 later fixed bodies such as GEN, 96..127 RAW, the rest
 * text), the rest is the record or body.  What
 * decodes must re-encode to the same bytes (reserved bytes aside); text
 * bodies are walked line by line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define SAME(a, b, n) \
	do { \
		if (memcmp((a), (b), (n)) != 0) \
			abort(); \
	} while (0)

/* Re-encodes a fixed-size body; bytes listed in zero[] are reserved (sent 0). */
static void same_but(const uint8_t *in, const uint8_t *out, size_t n, const int *zero, size_t nz)
{
	uint8_t want[64];

	memcpy(want, in, n);
	for (size_t i = 0; i < nz; i++)
		want[zero[i]] = 0;
	SAME(want, out, n);
}

static void header(const uint8_t *d, size_t n)
{
	struct gsn_ctl_hdr h;
	uint8_t out[GSN_CTL_HDR_LEN];

	if (gsn_ctl_hdr_decode(d, n, &h) == 0) {
		if (h.body_len != n - GSN_CTL_HDR_LEN)
			abort();
		gsn_ctl_hdr_encode(&h, out);
		SAME(d, out, GSN_CTL_HDR_LEN);
		(void)gsn_ctl_type_name(h.type);
	}
}

static void fixed(unsigned which, const uint8_t *d, size_t n)
{
	uint8_t out[64];

	switch (which % 8) {
	case 0: {
		struct gsn_ctl_harp_add b;
		static const int z[] = {11};
		if (!gsn_ctl_harp_add_decode(d, n, &b))
			same_but(d, out, gsn_ctl_harp_add_encode(&b, out), z, 1);
		break;
	}
	case 1: {
		struct gsn_ctl_ipv4 b;
		if (!gsn_ctl_ipv4_decode(d, n, &b))
			same_but(d, out, gsn_ctl_ipv4_encode(&b, out), NULL, 0);
		break;
	}
	case 2: {
		struct gsn_ctl_resolve b;
		if (!gsn_ctl_resolve_decode(d, n, &b))
			same_but(d, out, gsn_ctl_resolve_encode(&b, out), NULL, 0);
		break;
	}
	case 3: {
		struct gsn_ctl_ula b;
		if (!gsn_ctl_ula_decode(d, n, &b))
			same_but(d, out, gsn_ctl_ula_encode(&b, out), NULL, 0);
		break;
	}
	case 4: {
		struct gsn_ctl_admin_req b;
		static const int z[] = {3, 14, 15};
		if (!gsn_ctl_admin_req_decode(d, n, &b))
			same_but(d, out, gsn_ctl_admin_req_encode(&b, out), z, 3);
		break;
	}
	case 5: {
		struct gsn_ctl_admin_resp b;
		if (!gsn_ctl_admin_resp_decode(d, n, &b))
			same_but(d, out, gsn_ctl_admin_resp_encode(&b, out), NULL, 0);
		break;
	}
	case 6: {
		struct gsn_ctl_bind b;
		if (!gsn_ctl_bind_decode(d, n, &b))
			same_but(d, out, gsn_ctl_bind_encode(&b, out), NULL, 0);
		break;
	}
	case 7: {
		struct gsn_ctl_timeout b;
		if (!gsn_ctl_timeout_decode(d, n, &b))
			same_but(d, out, gsn_ctl_timeout_encode(&b, out), NULL, 0);
		break;
	}
	}
}

/* Fixed bodies added after the first eight: GEN (sel 64..95). */
static void fixed2(const uint8_t *d, size_t n)
{
	struct gsn_ctl_gen b;
	uint8_t out[GSN_CTL_GEN_LEN];
	static const int z[] = {7};

	if (gsn_ctl_gen_decode(d, n, &b))
		return;
	if (b.vc > 3)
		abort();
	same_but(d, out, gsn_ctl_gen_encode(&b, out), z, 1);
}

static void raw(const uint8_t *d, size_t n)
{
	struct gsn_ctl_raw b;
	uint8_t out[GSN_CTL_RAW_HDR_LEN];
	static const int z[] = {1};

	if (gsn_ctl_raw_decode(d, n, &b))
		return;
	if (b.data != d + GSN_CTL_RAW_HDR_LEN || b.len != n - GSN_CTL_RAW_HDR_LEN || b.vc > 3)
		abort();
	same_but(d, out, gsn_ctl_raw_encode_head(&b, out), z, 1);
}

static void text(const uint8_t *d, size_t n)
{
	struct gsn_ctl_kv kv;
	size_t pos = 0;
	char v[64];
	int r;

	if (gsn_ctl_text_check(d, n))
		return;
	while ((r = gsn_ctl_kv_next(d, n, &pos, &kv)) == 1)
		if (kv.key < (const char *)d || kv.val + kv.val_len > (const char *)d + n ||
		    kv.key_len == 0 || pos > n)
			abort();
	(void)gsn_ctl_kv_get(d, n, "ula", v, sizeof(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	const uint8_t *d = data + 1;
	size_t n = size - 1;

	switch (sel >> 5) {
	case 0:
		header(d, n);
		break;
	case 1:
		fixed(sel, d, n);
		break;
	case 2:
		fixed2(d, n);
		break;
	case 3:
		raw(d, n);
		break;
	default:
		text(d, n);
		break;
	}
	return 0;
}
