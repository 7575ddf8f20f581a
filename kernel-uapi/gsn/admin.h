/* SPDX-License-Identifier: MIT */
/*
 * Admin micropacket (HIPPI-6400-SC, PROTOCOL.md §3; the layout is ours).
 * A micropacket of TYPE ADMIN whose 32 data bytes are:
 *
 *	 0      hop count: > 0 decrement and forward, 0 process and answer
 *	 1      command
 *	 2      flags: 0x80 response, 0x40 error
 *	 3      status
 *	 4..7   transaction tag (big-endian, echoed in the answer)
 *	 8..15  route: output port per hop; return path recorded on the way
 *	16..31  arguments (meaning per command)
 */
#ifndef GSN_ADMIN_H
#define GSN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_ADMIN_LEN 32u
#define GSN_ADMIN_ROUTE_LEN 8u
#define GSN_ADMIN_ARGS_LEN 16u

enum gsn_admin_cmd {
	GSN_ADMIN_ARE_YOU_THERE = 0x01, /* answer: yes-I-am */
	GSN_ADMIN_WHAT_ARE_YOU = 0x02,  /* endpoint or switch, ports */
	GSN_ADMIN_ELEMENT_ADDR = 0x03,  /* here-is-your-element-address */
	GSN_ADMIN_ASSIGN_ULA = 0x04,    /* assign-me-a-ULA / here-is-your-ULA */
	GSN_ADMIN_READ_REG = 0x05,
	GSN_ADMIN_WRITE_REG = 0x06,
	GSN_ADMIN_LIST_ULAS = 0x07,     /* list attached ULAs */
	GSN_ADMIN_SET_ROUTE = 0x08,     /* change route for a ULA to a port */
	GSN_ADMIN_WHICH_PORT = 0x09,    /* which port reaches this ULA */
	GSN_ADMIN_INITIALIZE = 0x0A,    /* initialize yourself */
	GSN_ADMIN_INVALID = 0x7F,       /* invalid / unsupported: the answer to anything unknown */
};

#define GSN_ADMIN_F_RESPONSE 0x80u
#define GSN_ADMIN_F_ERROR 0x40u

struct gsn_admin {
	uint8_t hops;
	uint8_t cmd;
	uint8_t flags;
	uint8_t status;
	uint32_t tag;
	uint8_t route[GSN_ADMIN_ROUTE_LEN];
	uint8_t args[GSN_ADMIN_ARGS_LEN];
};

/* Return codes (describe with gsn_frame_strerror()). */
enum gsn_admin_err {
	GSN_ADMIN_OK = 0,
	GSN_ADMIN_E_SHORT = -30, /* fewer than 32 bytes */
};

/* True for the commands defined above (0x01..0x0A and 0x7F). */
static inline bool gsn_admin_cmd_known(unsigned cmd)
{
	return (cmd >= GSN_ADMIN_ARE_YOU_THERE && cmd <= GSN_ADMIN_INITIALIZE) ||
	       cmd == GSN_ADMIN_INVALID;
}

static inline bool gsn_admin_is_response(const struct gsn_admin *a)
{
	return (a->flags & GSN_ADMIN_F_RESPONSE) != 0;
}

static inline bool gsn_admin_is_error(const struct gsn_admin *a)
{
	return (a->flags & GSN_ADMIN_F_ERROR) != 0;
}

/* Writes the 32 data bytes of an Admin micropacket. */
static inline void gsn_admin_encode(const struct gsn_admin *a, uint8_t out[GSN_ADMIN_LEN])
{
	out[0] = a->hops;
	out[1] = a->cmd;
	out[2] = a->flags;
	out[3] = a->status;
	gsn_put_be32(out + 4, a->tag);
	for (size_t i = 0; i < GSN_ADMIN_ROUTE_LEN; i++)
		out[8 + i] = a->route[i];
	for (size_t i = 0; i < GSN_ADMIN_ARGS_LEN; i++)
		out[16 + i] = a->args[i];
}

/*
 * Decodes the first 32 bytes of in; never reads past len.  Unknown commands
 * and flag bits are accepted: the element answers them with
 * GSN_ADMIN_INVALID.
 */
static inline int gsn_admin_decode(const uint8_t *in, size_t len, struct gsn_admin *a)
{
	if (len < GSN_ADMIN_LEN)
		return GSN_ADMIN_E_SHORT;
	a->hops = in[0];
	a->cmd = in[1];
	a->flags = in[2];
	a->status = in[3];
	a->tag = gsn_get_be32(in + 4);
	for (size_t i = 0; i < GSN_ADMIN_ROUTE_LEN; i++)
		a->route[i] = in[8 + i];
	for (size_t i = 0; i < GSN_ADMIN_ARGS_LEN; i++)
		a->args[i] = in[16 + i];
	return GSN_ADMIN_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_ADMIN_H */
