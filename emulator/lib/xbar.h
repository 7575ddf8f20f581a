/* SPDX-License-Identifier: MIT */
/*
 * xbar — the crossbar of a gsn switch: cut-through forwarding of
 * micropackets between N links (docs/gsnd.md "Crossbar details").
 *
 * Pure: the element forwards each port link's upcalls here
 * (gsn_xbar_link_rx, gsn_xbar_link_tx_ready, gsn_xbar_link_event).
 *
 * Per input port and VC, micropackets are handled in order:
 *   HEADER  -> ops->route(D_ULA) gives the output port (-1: the whole
 *              Message is discarded and counted); the output VC is then
 *              locked to this input until the TAIL has left, so Messages
 *              never interleave within a VC of an output; other VCs and
 *              other outputs interleave freely.  Waiting inputs get a freed
 *              output VC in round-robin order.
 *   DATA    -> follows its HEADER.
 *   ADMIN   -> ops->admin (the switch's admin module decides the rest);
 *              its credit is returned when the callback returns.
 * A micropacket leaves only when the output link takes it (it has a credit
 * and window); otherwise it is held in the input's FIFO — at most the
 * input's rx credits, so memory is bounded — and retried on the output's
 * tx_ready.  The input credit is returned when the micropacket has left.
 *
 * Broadcast (D_ULA all ones, when enabled): copied to every other port whose
 * link is UP, all of them locked for the Message; each copy leaves as its
 * output has a credit, and the input credit returns when the last copy of
 * that micropacket has left.
 *
 * Link resets: see docs/gsnd.md.  In short, an input reset cuts the partial
 * Message at the end of its FIFO and, if that Message had started on an
 * output, ends it there with a DATA micropacket carrying TAIL and ERROR; an
 * output reset (or DOWN) discards the rest of the Messages that were
 * crossing to it.  HEADERs for outputs that are not UP are discarded.
 *
 * Like the link, the xbar never flushes on its own: call gsn_xbar_flush()
 * once the current batch of input has been handled.
 */
#ifndef GSN_EMU_XBAR_H
#define GSN_EMU_XBAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/message.h>
#include <gsn/mpkt.h>

#include "link.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_XBAR_MAX_PORTS 64

/* Why a Message (counted once) or a micropacket was discarded, per input port. */
enum gsn_xbar_drop {
	GSN_XBAR_DROP_UNKNOWN_ULA = 0, /* route() said -1 or an unattached port */
	GSN_XBAR_DROP_BROADCAST_OFF,   /* broadcast D_ULA with broadcast disabled */
	GSN_XBAR_DROP_PORT_DOWN,       /* the output link is not UP */
	GSN_XBAR_DROP_HAIRPIN,         /* routed back to its input port */
	GSN_XBAR_DROP_NO_HEADER,       /* DATA with no Message open on its VC */
	GSN_XBAR_DROP_OVERFLOW,        /* input FIFO full (a peer ignoring credits) */
	GSN_XBAR_DROP_INPUT_RESET,     /* partial cut by a reset of the input link */
	GSN_XBAR_DROP_OUTPUT_RESET,    /* rest discarded: the output link reset */
	GSN_XBAR_DROP_MAX
};

struct gsn_xbar_config {
	unsigned nports;     /* 1..64 */
	bool broadcast;      /* copy broadcast Messages to every other port */
	const struct gsn_log *log;
	const char *name;
};

struct gsn_xbar_ops {
	/* Output port for a D_ULA, or -1 when unknown. */
	int (*route)(void *ctx, const uint8_t dst_ula[GSN_ULA_LEN]);
	/* An ADMIN micropacket received on port. */
	void (*admin)(void *ctx, unsigned port, const struct gsn_mpkt_ctl *ctl,
		      const uint8_t data[32]);
	void *ctx;
};

struct gsn_xbar_port_stats {
	uint64_t rx_mpkts, rx_msgs;  /* micropackets / HEADERs received on this port */
	uint64_t tx_mpkts, tx_msgs;  /* forwarded out of this port (TAILs for msgs) */
	uint64_t admin_rx;
	uint64_t bcast_msgs;         /* broadcast Messages received */
	uint64_t aborts_sent;        /* ERROR-tailed cuts sent out of this port */
	uint64_t lock_waits;         /* HEADERs that found their output VC busy */
	uint64_t drops[GSN_XBAR_DROP_MAX];
	uint32_t held[GSN_VC_COUNT];     /* micropackets in the input FIFO now */
	uint32_t held_max[GSN_VC_COUNT]; /* and at most */
	int lock_owner[GSN_VC_COUNT];    /* input holding this output VC, -1 free */
};

struct gsn_xbar;

/* 0, -EINVAL or -ENOMEM. */
int gsn_xbar_create(const struct gsn_xbar_config *cfg, const struct gsn_xbar_ops *ops,
		    struct gsn_xbar **out);
void gsn_xbar_destroy(struct gsn_xbar *x);

/* Puts link on port (once per port; sizes the port's FIFOs from its rx
 * credits).  0, -EINVAL, -EBUSY or -ENOMEM. */
int gsn_xbar_attach(struct gsn_xbar *x, unsigned port, struct gsn_link *link);

/* The port links' upcalls. */
void gsn_xbar_link_rx(struct gsn_xbar *x, unsigned port, const struct gsn_mpkt_ctl *ctl,
		      const uint8_t data[32]);
void gsn_xbar_link_tx_ready(struct gsn_xbar *x, unsigned port, unsigned vc);
void gsn_xbar_link_event(struct gsn_xbar *x, unsigned port, enum gsn_link_event ev,
			 uint32_t peer_incarnation);

/* Flushes every port link. */
void gsn_xbar_flush(struct gsn_xbar *x);

/* 0 or -EINVAL. */
int gsn_xbar_port_stats(const struct gsn_xbar *x, unsigned port, struct gsn_xbar_port_stats *st);
const char *gsn_xbar_drop_name(enum gsn_xbar_drop d);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_XBAR_H */
