/* SPDX-License-Identifier: MIT */
/*
 * harp — HARP (PROTOCOL.md §4, RFC 2835) for one endpoint: the client that
 * every endpoint runs, and the server role (a configuration flag).
 * docs/harp.md describes the behaviour and the "ours" decisions.
 *
 * Pure: no I/O (apart from gsn_harp_load_static_file), no clock of its own,
 * no globals.  The embedder hands every Message with EtherType 0x0806 to
 * gsn_harp_input(), sends what ops.send_msg emits as such Messages, and calls
 * gsn_harp_tick() when gsn_harp_next_deadline() passes.
 *
 * Client life: gsn_harp_start() probes for a broadcasting fabric (an InARP
 * request for ourselves to FF:FF:FF:FF:FF:FF).  If the probe comes back, or
 * another station answers or sends its own probe, the client resolves
 * ARP-style by broadcast.  Otherwise it registers with the configured servers
 * (InARP request to each, every register_retry_ns until one answers) and
 * resolves through the server that answered, re-registering every
 * reregister_ns.  A server that stops answering is dropped and the client
 * registers again with the servers left (all of them once none is left).
 *
 * IPv4 addresses are uint32_t in host order (10.0.0.1 is 0x0a000001).
 * Functions returning int give 0 or a negative errno.
 *
 * Re-entrancy: ops.resolved may call any gsn_harp_* function.  ops.send_msg
 * should queue rather than deliver synchronously into gsn_harp_input() of
 * the same instance.
 */
#ifndef GSN_EMU_HARP_H
#define GSN_EMU_HARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/harp.h>
#include <gsn/message.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_HARP_MAX_SERVERS 8u

struct gsn_harp;

enum gsn_harp_mode {
	GSN_HARP_MODE_IDLE = 0,   /* not started */
	GSN_HARP_MODE_DETECT,     /* broadcast probe outstanding */
	GSN_HARP_MODE_REGISTER,   /* registering with the configured servers */
	GSN_HARP_MODE_REGISTERED, /* resolving through the current server */
	GSN_HARP_MODE_BROADCAST,  /* the fabric broadcasts: ARP-style resolution */
	GSN_HARP_MODE_SERVER,     /* we are a HARP server */
};

/* gsn_harp_entry.flags */
#define GSN_HARP_F_STATIC 0x01u       /* configured; never ages */
#define GSN_HARP_F_DYNAMIC 0x02u      /* learned by a client from an answer */
#define GSN_HARP_F_REGISTERED 0x04u   /* a server's registration of a client */
#define GSN_HARP_F_REVALIDATING 0x08u /* a client is re-asking for it */

struct gsn_harp_entry {
	uint32_t ip;
	uint8_t ula[GSN_ULA_LEN];
	unsigned flags;
	uint64_t age_ns; /* since added or last confirmed */
};

struct gsn_harp_config {
	uint8_t ula[GSN_ULA_LEN]; /* our ULA */
	uint32_t ip;              /* our IPv4 address (host order, not 0) */
	bool server;              /* act as a HARP server */
	unsigned nservers;        /* configured servers, in order of preference */
	uint8_t servers[GSN_HARP_MAX_SERVERS][GSN_ULA_LEN];
	uint16_t hrd;             /* hardware type we send (default 28) */

	uint64_t detect_timeout_ns;  /* wait for the broadcast probe (default 1 s) */
	uint64_t register_retry_ns;  /* registration round interval (default 2 s) */
	uint64_t reregister_ns;      /* re-registration interval (default 15 min) */
	uint64_t revalidate_ns;      /* dynamic entry age that triggers revalidation (15 min) */
	uint64_t server_forget_ns;   /* a server forgets a silent client (default 20 min) */
	uint64_t request_timeout_ns; /* resend interval of requests (default 1 s) */
	unsigned request_retries;    /* resends before a server or request is given up (3) */
	uint64_t resolve_timeout_ns; /* a pending resolution fails after this (default 10 s) */
	unsigned max_entries;        /* table bound (default 1024) */
	unsigned max_pending;        /* resolutions in progress (default 64) */
	const struct gsn_log *log;   /* optional */
};

struct gsn_harp_ops {
	/* Sends one HARP packet in a Message (EtherType 0x0806) to dst (may be
	 * broadcast).  Return 0 or a negative errno (counted). */
	int (*send_msg)(void *ctx, const uint8_t dst_ula[GSN_ULA_LEN], const uint8_t *payload,
			size_t len);
	uint64_t (*now_ns)(void *ctx);
	/*
	 * A resolution that gsn_harp_resolve() answered with -EINPROGRESS has
	 * ended: status 0 with the ULA, or -EHOSTUNREACH (the server NAKed),
	 * -ETIMEDOUT (nobody answered), with ula NULL.  May be NULL.
	 */
	void (*resolved)(void *ctx, uint32_t ip, const uint8_t *ula, int status);
	void *ctx;
};

struct gsn_harp_stats {
	uint64_t rx;              /* packets given to gsn_harp_input */
	uint64_t tx;              /* packets sent */
	uint64_t tx_errors;       /* ops.send_msg failures */
	uint64_t malformed;       /* undecodable or inconsistent: dropped */
	uint64_t unknown_op;      /* unknown operation: dropped silently */
	uint64_t ignored;         /* valid but not for us or not expected */
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t resolved;        /* pending resolutions answered */
	uint64_t failed;          /* pending resolutions failed (NAK or timeout) */
	uint64_t naks_rx;
	uint64_t naks_tx;
	uint64_t requests_tx;     /* ARP requests, resends included */
	uint64_t replies_tx;      /* replies and InARP replies we sent */
	uint64_t probes_tx;       /* broadcast probes */
	uint64_t registrations;   /* client: registrations (and re-registrations) confirmed */
	uint64_t server_drops;    /* client: servers dropped for not answering */
	uint64_t reg_restarts;    /* client: every server dropped, registration started over */
	uint64_t revalidations;   /* client: entries re-asked for */
	uint64_t expired;         /* client: dynamic entries removed (unused or unconfirmed) */
	uint64_t clients_registered; /* server: InARP registrations accepted */
	uint64_t clients_forgotten;  /* server: registrations aged out */
	uint64_t table_full;      /* insertions refused or evictions */
};

void gsn_harp_config_default(struct gsn_harp_config *cfg);
int gsn_harp_create(const struct gsn_harp_config *cfg, const struct gsn_harp_ops *ops,
		    struct gsn_harp **out);
/* Frees everything; pending resolutions are dropped without callbacks. */
void gsn_harp_destroy(struct gsn_harp *h);

/* Starts (or restarts) the client with broadcast detection; a server
 * starts serving.  Learned entries survive a restart. */
void gsn_harp_start(struct gsn_harp *h);

/* One HARP packet from the Message's source ULA.  0 when used, else a
 * negative errno (-EINVAL malformed, -EPROTONOSUPPORT unknown op, -ENOENT
 * ignored); every drop is counted. */
int gsn_harp_input(struct gsn_harp *h, const uint8_t src_ula[GSN_ULA_LEN],
		   const uint8_t *payload, size_t len);

/*
 * 0 with *ula_out filled (cache hit, static entry or our own address);
 * -EINPROGRESS: asked, ops.resolved reports the outcome (one callback per
 * address, however many callers asked); -EHOSTUNREACH on a server that has
 * no entry; -ENETDOWN before gsn_harp_start(); -ENOBUFS (too many pending);
 * -EINVAL for 0.0.0.0.
 */
int gsn_harp_resolve(struct gsn_harp *h, uint32_t ip, uint8_t ula_out[GSN_ULA_LEN]);

/* Static entries never age and are never replaced by learned ones.  Adding
 * one completes a pending resolution of its address. */
int gsn_harp_add_static(struct gsn_harp *h, uint32_t ip, const uint8_t ula[GSN_ULA_LEN]);
/* Removes the entry (any kind) for ip; -ENOENT if none. */
int gsn_harp_delete(struct gsn_harp *h, uint32_t ip);
/*
 * Static entries from text: one "IP ULA" per line (e.g. "10.0.0.2
 * 02:00:00:01:00:03"), blank lines and '#' comments allowed.  The whole text
 * is checked before anything is added: on a syntax error returns -EINVAL and
 * sets *bad_line (1-based, may be NULL) with nothing added.
 */
int gsn_harp_load_static(struct gsn_harp *h, const char *text, size_t len, unsigned *bad_line);
/* The same from a file (at most 1 MiB): -errno of open/read, -EFBIG. */
int gsn_harp_load_static_file(struct gsn_harp *h, const char *path, unsigned *bad_line);
/* Strict dotted quad "a.b.c.d" (decimal, 0..255, 1..3 digits each). */
int gsn_harp_parse_ip(const char *s, uint32_t *ip);

/* Calls fn for every table entry (our own address is not in the table). */
void gsn_harp_foreach(const struct gsn_harp *h,
		      void (*fn)(void *ctx, const struct gsn_harp_entry *e), void *ctx);
size_t gsn_harp_count(const struct gsn_harp *h);

enum gsn_harp_mode gsn_harp_get_mode(const struct gsn_harp *h);
const char *gsn_harp_mode_name(enum gsn_harp_mode mode);
/* The server we resolve through; false when not registered. */
bool gsn_harp_current_server(const struct gsn_harp *h, uint8_t ula[GSN_ULA_LEN]);

/* Runs every timer that has expired by ops.now_ns(). */
void gsn_harp_tick(struct gsn_harp *h);
/* Earliest time at which gsn_harp_tick() has work; UINT64_MAX if none. */
uint64_t gsn_harp_next_deadline(const struct gsn_harp *h);

void gsn_harp_get_stats(const struct gsn_harp *h, struct gsn_harp_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_HARP_H */
