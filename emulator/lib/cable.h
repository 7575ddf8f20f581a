/* SPDX-License-Identifier: MIT */
/*
 * A cable end: moves whole frames (PROTOCOL.md §6, at most
 * GSN_CABLE_FRAME_MAX bytes) to the other end of the cable.  It does not
 * look inside them.
 *
 * Two transports:
 *
 *  - UDP: one connected datagram socket per end.  Spec "udp-fd:N" (an
 *    inherited socket, already bound and connected) or
 *    "udp:LOCALIP:PORT=REMOTEIP:PORT" (IPv4).  Receives in batches
 *    (recvmmsg).
 *  - Shared memory: a memfd with two single-producer/single-consumer rings
 *    of frame slots, one per direction, and an eventfd per end as its
 *    doorbell.  Spec "shm-fd:MEMFD,SIDE,EVFD_MINE,EVFD_PEER[,spin=NS]".
 *    The doorbell rings only when the consumer has said it sleeps (a
 *    need-wakeup flag in the ring, as io_uring's SQ_NEED_WAKEUP): the
 *    consumer sets the flag, re-checks the ring, then sleeps in epoll; a
 *    producer that finds the flag set clears it and writes the eventfd, so a
 *    burst costs one wake-up.  spin=NS keeps a consumer polling that long
 *    after its last frame before it sleeps (default 0: sleep at once).
 *
 * send() returns 0 when the frame left (or was lost: a cable may lose
 * frames, the link layer repairs that; counted in send_errors), -EAGAIN
 * when the cable is full for now (UDP socket buffer, shm ring: the link
 * layer backs off and retransmits), -EMSGSIZE when len > mtu.
 *
 * Filters (filter.h) have the same interface and stack on a cable: every
 * struct gsn_cable is either a real end (lower == NULL) or a layer over
 * lower.  gsn_cable_close() closes a whole stack from the top.
 */
#ifndef GSN_EMU_CABLE_H
#define GSN_EMU_CABLE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_CABLE_FRAME_MAX 65536u  /* the largest frame any cable carries */
#define GSN_CABLE_UDP_MTU 65507u    /* the largest UDP/IPv4 payload */
#define GSN_CABLE_SPEC_MAX 128u     /* longest spec string accepted */
#define GSN_CABLE_SHM_SLOTS 64u     /* default slots per direction */
#define GSN_CABLE_SHM_SLOTS_MAX 4096u
#define GSN_CABLE_SHM_SLOT_MIN 64u  /* bytes of frame per slot, bounds */

struct gsn_cable_stats {
	uint64_t frames_in, bytes_in;   /* delivered upward */
	uint64_t frames_out, bytes_out; /* accepted by send() */
	uint64_t send_full;             /* send() returned -EAGAIN */
	uint64_t send_errors;           /* frames lost on send (e.g. ECONNREFUSED) */
	uint64_t truncated;             /* received frames too long or malformed: dropped */
	uint64_t rx_errors;             /* receive errors other than "no more" */
	uint64_t no_rx;                 /* received while no rx callback was set */
	uint64_t kicks_sent;            /* shm: doorbells rung for a sleeping peer */
	uint64_t wakeups;               /* shm: doorbells received */
};

struct gsn_cable;

/* A received frame; valid only during the call (it may point into the ring). */
typedef void (*gsn_cable_rx_fn)(void *arg, const uint8_t *frame, size_t len);

struct gsn_cable_ops {
	const char *kind; /* "udp", "shm", or the filter's name */
	int (*send)(struct gsn_cable *c, const uint8_t *frame, size_t len);
	void (*close)(struct gsn_cable *c); /* frees c (and closes c->lower) */
};

struct gsn_cable {
	const struct gsn_cable_ops *ops;
	struct gsn_cable *lower; /* the layer below, NULL for a real cable end */
	size_t mtu;              /* largest frame send() accepts */
	gsn_cable_rx_fn rx;
	void *rx_arg;
	struct gsn_cable_stats stats; /* real ends; filters keep their own counters */
};

static inline int gsn_cable_send(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	return c->ops->send(c, frame, len);
}

/* Where received frames go.  Until it is set they are dropped (no_rx). */
static inline void gsn_cable_set_rx(struct gsn_cable *c, gsn_cable_rx_fn fn, void *arg)
{
	c->rx = fn;
	c->rx_arg = arg;
}

/* For implementations: hands a received frame to the layer above. */
static inline void gsn_cable_deliver(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	if (!c->rx) {
		c->stats.no_rx++;
		return;
	}
	c->rx(c->rx_arg, frame, len);
}

/* The real cable end at the bottom of a stack. */
static inline struct gsn_cable *gsn_cable_bottom(struct gsn_cable *c)
{
	while (c->lower)
		c = c->lower;
	return c;
}

/*
 * Closes the stack from c down; NULL is fine.  Never from inside one of the
 * stack's own rx callbacks (defer it, e.g. to a loop hook).
 */
void gsn_cable_close(struct gsn_cable *c);

/* ---- specs ---- */

enum gsn_cable_spec_type { GSN_CABLE_SPEC_UDP_FD, GSN_CABLE_SPEC_UDP, GSN_CABLE_SPEC_SHM_FD };

struct gsn_cable_spec {
	enum gsn_cable_spec_type type;
	int fd;                            /* udp-fd */
	struct sockaddr_in local, remote;  /* udp */
	int memfd, side, evfd_mine, evfd_peer; /* shm-fd */
	uint64_t spin_ns;                  /* shm-fd */
};

/*
 * Parses "udp-fd:N", "udp:A.B.C.D:PORT=A.B.C.D:PORT" or
 * "shm-fd:MEMFD,SIDE,EVFD_MINE,EVFD_PEER[,spin=NS]".  0 or -EINVAL.
 */
int gsn_cable_spec_parse(const char *s, struct gsn_cable_spec *out);
/* The spec string of *spec; -ENOSPC if it does not fit. */
int gsn_cable_spec_format(const struct gsn_cable_spec *spec, char *buf, size_t len);

/*
 * Opens a cable end and registers it with loop.  The end takes ownership of
 * every fd named in the spec: it closes them on gsn_cable_close() and when
 * the open fails.  0 or -errno (-EINVAL for a bad spec).
 */
int gsn_cable_open(struct gsn_loop *loop, const char *spec, const struct gsn_log *log,
		   struct gsn_cable **out);
int gsn_cable_open_spec(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
			const struct gsn_log *log, struct gsn_cable **out);

/* ---- for the launcher (gsn-fabric) and tests ---- */

/*
 * Two UDP sockets on 127.0.0.1 with kernel-chosen ports, each connected to
 * the other; close-on-exec set.  0 or -errno.
 */
int gsn_cable_udp_create_pair(int fds[2]);

struct gsn_cable_shm_pair {
	int memfd;
	int evfd[2]; /* evfd[i]: the doorbell of side i (EVFD_MINE of side i) */
};

/*
 * A memfd holding both rings (nslots per direction, a power of two; 0 for
 * GSN_CABLE_SHM_SLOTS; slot_bytes of frame per slot, 0 for
 * GSN_CABLE_FRAME_MAX) and the two eventfds; close-on-exec set.  0 or
 * -errno (-EINVAL for sizes out of bounds).
 */
int gsn_cable_shm_create_pair(struct gsn_cable_shm_pair *out, unsigned nslots,
			      size_t slot_bytes);
/* Closes the three fds (those not -1). */
void gsn_cable_shm_pair_close(struct gsn_cable_shm_pair *p);

/* The implementations behind gsn_cable_open_spec(). */
int gsn_cable_udp_open(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
		       const struct gsn_log *log, struct gsn_cable **out);
int gsn_cable_shm_open(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
		       const struct gsn_log *log, struct gsn_cable **out);

/* Writes "key=value" lines of c's stats into buf (NUL-terminated); bytes written. */
size_t gsn_cable_stats_format(const struct gsn_cable_stats *s, const char *prefix, char *buf,
			      size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_CABLE_H */
