/* SPDX-License-Identifier: MIT */
/*
 * admin — Admin micropacket processing of one element (endpoint or switch),
 * and the requester side used by gsnping and gsnd (PROTOCOL.md §3, the
 * layout in <gsn/admin.h>).  docs/admin.md describes the "ours" decisions.
 *
 * Pure: no I/O, no clock of its own, no globals.  The embedder feeds every
 * ADMIN micropacket's 32 data bytes to gsn_admin_input() with the port it
 * came in by, sends what ops.send emits, and calls gsn_admin_tick() when
 * gsn_admin_next_deadline() passes.
 *
 * Hop count and route (ours):
 *   - A request leaves its requester with hop count H (0..8), route[0..H-1] =
 *     the output port to take at each forwarding element in order, and
 *     status = 0.  In a request the status byte is the route pointer: the
 *     number of route bytes consumed so far.
 *   - An element receiving a request with hop count h > 0 takes
 *     p = status, sends it out of port route[p], writes the port it came in
 *     by into route[p], and sends it on with status p + 1, hop count h - 1.
 *   - At h = 0 the element processes the request and answers out of the port
 *     it came in by: same command and tag, flags 0x80 (| 0x40 on error),
 *     the real status, hop count = the request's status (the number of
 *     elements it crossed) and the route bytes as they arrived, which now
 *     hold the return path.
 *   - An element receiving a response with hop count h > 0 sends it out of
 *     port route[h - 1] with hop count h - 1; at h = 0 it is the requester's
 *     and is matched by tag and port.
 *   - A route byte naming no port (or the input port) is answered from that
 *     element with GSN_ADMIN_ST_BAD_ROUTE; requests with h + status > 8,
 *     responses with h > 8 or an unusable route byte, and requests carrying
 *     the error flag are malformed: dropped and counted.
 *
 * Re-entrancy: ops.send may deliver synchronously into another element's
 * gsn_admin_input() (tests wire elements that way), and may even come back
 * into this element; ops.response and ops.address may call
 * gsn_admin_request().
 *
 * Requests travel on VC1 and responses on VC2 (gsn_admin_wire_vc()).
 */
#ifndef GSN_EMU_ADMIN_H
#define GSN_EMU_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/admin.h>
#include <gsn/message.h>

#include "log.h"
#include "route.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_ADMIN_MAX_HOPS GSN_ADMIN_ROUTE_LEN /* 8 */
#define GSN_ADMIN_MAX_PORTS 255u                /* ports 0..254, 0xFF = none */
#define GSN_ADMIN_NO_PORT 0xffu

/* Status byte of a response (ours). */
enum gsn_admin_status {
	GSN_ADMIN_ST_OK = 0,
	GSN_ADMIN_ST_UNSUPPORTED = 1, /* unknown or unimplemented command (0x7F answer) */
	GSN_ADMIN_ST_BAD_ARGS = 2,
	GSN_ADMIN_ST_NOT_FOUND = 3,
	GSN_ADMIN_ST_NO_SPACE = 4,
	GSN_ADMIN_ST_BAD_PORT = 5,
	GSN_ADMIN_ST_BAD_ROUTE = 6, /* a forwarding element could not take its hop */
	GSN_ADMIN_ST_REFUSED = 7,   /* the element's callback refused (0x0A) */
};

enum gsn_admin_role {
	GSN_ADMIN_ROLE_ENDPOINT = 1,
	GSN_ADMIN_ROLE_SWITCH = 2,
};

/*
 * Argument layouts (bytes of args[16], ours):
 *   0x01  request: anything; response: the same 16 bytes (ping payload)
 *   0x02  response: [0] role, [1] port count, [2..7] element ULA (zero if
 *         none), [8] the port the request came in by
 *   0x03  request and response: [0..5] the element's new ULA (endpoints)
 *   0x04  request: [6] port to assign for, 0xFF = the port the request came in
 *         by; response: [0..5] the ULA, [6] the port
 *   0x07  request: [0..1] first index; response: [0..1] index to ask for next
 *         (0: the list is complete), [2] port and [3..8] ULA of entry a,
 *         [9] port and [10..15] ULA of entry b (port 0xFF: no entry)
 *   0x08  request: [0..5] ULA, [6] port (0xFF: remove the route); response:
 *         the same
 *   0x09  request: [0..5] ULA; response: [0..5] ULA, [6] port (0xFF: none),
 *         [7] gsn_route_kind
 *   0x7F  response to anything unknown: [0] the command that was not understood
 */
#define GSN_ADMIN_LIST_PER_ANSWER 2u

struct gsn_admin_elem;

struct gsn_admin_ops {
	/* Sends 32 data bytes of an ADMIN micropacket out of port.  Return 0 or
	 * a negative errno (counted as a send error). */
	int (*send)(void *ctx, unsigned out_port, const uint8_t data[GSN_ADMIN_LEN]);
	uint64_t (*now_ns)(void *ctx);
	/*
	 * Outcome of gsn_admin_request(): result 0 with the response (which may
	 * carry the error flag) and the round trip, or -ETIMEDOUT / -ENETDOWN
	 * (gsn_admin_link_down) with resp NULL.  May be NULL.
	 */
	void (*response)(void *ctx, uint32_t tag, int result, const struct gsn_admin *resp,
			 uint64_t rtt_ns);
	/* 0x0A initialize yourself: 0 to answer OK, else answered REFUSED.
	 * NULL: answered OK. */
	int (*initialize)(void *ctx);
	/*
	 * The element's ULA changed: status 0 with the ULA (0x03 received, or
	 * our 0x04 answered), or a negative errno when acquisition on port failed
	 * (ula NULL): -ETIMEDOUT, -ENETDOWN, -EOPNOTSUPP (the peer does not
	 * assign ULAs), -EPROTO (a bad answer).  May be NULL.
	 */
	void (*address)(void *ctx, unsigned port, const uint8_t *ula, int status);
	void *ctx;
};

struct gsn_admin_config {
	enum gsn_admin_role role;
	unsigned nports;           /* 1..GSN_ADMIN_MAX_PORTS */
	bool has_ula;
	uint8_t ula[GSN_ULA_LEN];  /* the element's address (a switch: gsn_route_switch_ula) */
	struct gsn_route *route;   /* switch: its table (not owned); NULL answers 0x04..0x09
				      as unsupported */
	uint64_t timeout_ns;       /* a request's answer deadline (default 500 ms) */
	unsigned max_pending;      /* outstanding requests (default 64) */
	unsigned acquire_retries;  /* ULA acquisition resends after a timeout (default 3) */
	const struct gsn_log *log; /* optional */
};

struct gsn_admin_stats {
	uint64_t received;       /* micropackets given to gsn_admin_input */
	uint64_t forwarded;      /* requests and responses sent on towards their hop */
	uint64_t answered;       /* responses we generated (0x7F and BAD_ROUTE included) */
	uint64_t invalid;        /* of which 0x7F answers to unknown commands */
	uint64_t bad_route;      /* of which BAD_ROUTE answers */
	uint64_t malformed;      /* dropped as malformed */
	uint64_t requests_sent;  /* our own requests, resends included */
	uint64_t resp_matched;   /* responses that matched an outstanding request */
	uint64_t resp_unmatched; /* responses for us that matched nothing */
	uint64_t timeouts;       /* requests that got no answer */
	uint64_t send_errors;    /* ops.send failures */
};

void gsn_admin_config_default(struct gsn_admin_config *cfg);
int gsn_admin_create(const struct gsn_admin_config *cfg, const struct gsn_admin_ops *ops,
		     struct gsn_admin_elem **out);
/* Frees everything; reports nothing for outstanding requests. */
void gsn_admin_destroy(struct gsn_admin_elem *adm);

/*
 * One ADMIN micropacket's data bytes, arrived by in_port.  Returns 0 when it
 * was forwarded, answered or matched; a negative errno when dropped (every
 * drop is counted): -EINVAL malformed, -ENOENT unmatched response.
 */
int gsn_admin_input(struct gsn_admin_elem *adm, unsigned in_port,
		    const uint8_t data[GSN_ADMIN_LEN]);

/*
 * Sends a request out of out_port with hop count hops (0..8) along route
 * (route[0..hops-1]; may be NULL when hops is 0), with args (NULL: zeros).
 * The answer, or the timeout, arrives through ops.response with this tag.
 * -EINVAL (bad port, hops, command), -EBUSY (tag outstanding), -ENOBUFS
 * (too many outstanding), or the error of ops.send.
 */
int gsn_admin_request(struct gsn_admin_elem *adm, unsigned out_port, unsigned hops,
		      const uint8_t *route, uint8_t cmd, const uint8_t *args, uint32_t tag);
/* A tag no outstanding request uses. */
uint32_t gsn_admin_new_tag(struct gsn_admin_elem *adm);
/* Forgets the request with this tag, without a callback (-ENOENT if none). */
int gsn_admin_cancel(struct gsn_admin_elem *adm, uint32_t tag);

/*
 * ULA acquisition (endpoints): sends assign-me-a-ULA with hop count 0 out of
 * port, so the switch on the other end processes it.  The answer is adopted
 * and reported by ops.address; a timeout is retried acquire_retries times.
 * -EOPNOTSUPP for a switch, -EALREADY when one is outstanding on port.
 */
int gsn_admin_acquire_ula(struct gsn_admin_elem *adm, unsigned port);
/* Link on port came up: an endpoint without a ULA starts acquisition. */
int gsn_admin_link_up(struct gsn_admin_elem *adm, unsigned port);
/* Link on port went down: its outstanding requests end with -ENETDOWN. */
void gsn_admin_link_down(struct gsn_admin_elem *adm, unsigned port);

/* The element's ULA; false if it has none yet. */
bool gsn_admin_get_ula(const struct gsn_admin_elem *adm, uint8_t ula[GSN_ULA_LEN]);
void gsn_admin_set_ula(struct gsn_admin_elem *adm, const uint8_t ula[GSN_ULA_LEN]);

/* Runs every timeout that has expired by ops.now_ns(). */
void gsn_admin_tick(struct gsn_admin_elem *adm);
/* Earliest time at which gsn_admin_tick() has work; UINT64_MAX if none. */
uint64_t gsn_admin_next_deadline(const struct gsn_admin_elem *adm);

void gsn_admin_get_stats(const struct gsn_admin_elem *adm, struct gsn_admin_stats *st);
const char *gsn_admin_cmd_name(unsigned cmd);
const char *gsn_admin_status_name(unsigned status);

/* VC an ADMIN micropacket travels on: 1 for requests, 2 for responses. */
static inline unsigned gsn_admin_wire_vc(const uint8_t data[GSN_ADMIN_LEN])
{
	return (data[2] & GSN_ADMIN_F_RESPONSE) ? 2u : 1u;
}

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_ADMIN_H */
