/* SPDX-License-Identifier: MIT */
/*
 * msg — GSN Messages over one link, at an endpoint (PROTOCOL.md §2).
 *
 * Pure, like link: driven by calls and by the link's upcalls, which the
 * element forwards here (gsn_msg_link_rx, gsn_msg_link_tx_ready,
 * gsn_msg_link_event).
 *
 * Transmit.  gsn_msg_send() lays a Message out at once as its micropackets'
 * data (HEADER with D_ULA, S_ULA, M_len, LLC/SNAP, EtherType and the first 8
 * PDU bytes; DATA; zero padding) in a bounded per-VC queue, then pumps the
 * queues into the link as credits allow: round-robin across VCs one
 * micropacket at a time, so VCs interleave while a Message stays contiguous
 * on its VC.  Each micropacket carries the running ECRC; the last has TAIL.
 *
 * Receive.  Per VC: HEADER, then DATA until TAIL, into a reassembly buffer.
 * At TAIL: mpkt count against M_len, ERROR bits, ECRC; then deliver().  A
 * bad Message is discarded and counted by reason; so is anything that does
 * not start with a HEADER.  ADMIN micropackets go to ops->admin.
 *
 * Memory and back-pressure.  Per VC, "used" counts micropackets of the
 * partial Message plus those of Messages delivered but not yet released.
 * A link credit is returned as soon as a micropacket is copied, while used
 * stays within rx_budget_mpkts; beyond that credits are held until
 * gsn_msg_release().  A consumer that stops releasing therefore stalls the
 * sender, and memory stays within budget + the link's rx credits.
 *
 * A link RESET or DOWN discards partial Messages (counted) and the unsent
 * rest of a Message being transmitted; queued whole Messages wait for UP.
 *
 * Like the link, msg never flushes on its own outside a link upcall: call
 * gsn_msg_flush() (or gsn_link_flush()) after sending from elsewhere.
 */
#ifndef GSN_EMU_MSG_H
#define GSN_EMU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <gsn/message.h>
#include <gsn/mpkt.h>

#include "link.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a received Message (or stray micropacket run) was discarded. */
enum gsn_msg_drop {
	GSN_MSG_DROP_NO_HEADER = 0, /* DATA with no Message open on its VC */
	GSN_MSG_DROP_BAD_HEADER,    /* LLC/SNAP or M_len */
	GSN_MSG_DROP_TOO_BIG,       /* beyond the VC limit or rx_max_mpkts */
	GSN_MSG_DROP_LENGTH,        /* micropacket count disagrees with M_len */
	GSN_MSG_DROP_NO_TAIL,       /* a HEADER arrived before the TAIL */
	GSN_MSG_DROP_ERROR_BIT,     /* a micropacket had ERROR set */
	GSN_MSG_DROP_ECRC,          /* end-to-end check failed */
	GSN_MSG_DROP_NOT_FOR_US,    /* D_ULA neither ours nor a group address */
	GSN_MSG_DROP_RESET,         /* partial when the link reset */
	GSN_MSG_DROP_NOMEM,
	GSN_MSG_DROP_MAX
};

struct gsn_msg_config {
	uint8_t ula[GSN_ULA_LEN];               /* ours: S_ULA, and D_ULA we accept */
	bool promiscuous;                       /* accept any D_ULA */
	uint32_t tx_queue_mpkts[GSN_VC_COUNT];  /* send queue per VC (default 136, 8200,
						   8200, 65536; rounded up to a power of 2) */
	uint32_t rx_max_mpkts[GSN_VC_COUNT];    /* largest Message accepted (default the
						   VC limit; VC3 32768) */
	uint32_t rx_budget_mpkts[GSN_VC_COUNT]; /* see "Memory" above (default 2 x
						   rx_max; never below rx_max) */
	unsigned admin_queue;                   /* ADMIN mpkts waiting for credit (32) */
	const struct gsn_log *log;
	const char *name;
};

struct gsn_msg_ops {
	/*
	 * A complete, checked Message; pdu (len bytes, the upper-layer data
	 * after LLC/SNAP) is valid during the call only.  Return true when done
	 * with it; false to keep its micropackets charged to the VC's budget
	 * until gsn_msg_release(msg, vc, gsn_msg_mpkts(len)).
	 */
	bool (*deliver)(void *ctx, unsigned vc, const uint8_t src_ula[GSN_ULA_LEN],
			const uint8_t dst_ula[GSN_ULA_LEN], uint16_t ethertype,
			const uint8_t *pdu, size_t len);
	/* An ADMIN micropacket; its credit is returned when this returns. */
	void (*admin)(void *ctx, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32]);
	/* A send on vc was refused with -EAGAIN and there is room now. */
	void (*tx_space)(void *ctx, unsigned vc);
	/* The link's events, after msg has handled them (optional). */
	void (*event)(void *ctx, enum gsn_link_event ev, uint32_t peer_incarnation);
	void *ctx;
};

struct gsn_msg_stats {
	uint64_t tx_msgs[GSN_VC_COUNT], tx_bytes[GSN_VC_COUNT]; /* handed to the link */
	uint64_t rx_msgs[GSN_VC_COUNT], rx_bytes[GSN_VC_COUNT]; /* delivered */
	uint64_t tx_mpkts, rx_mpkts;
	uint64_t ecrc_errors;                 /* = drops[GSN_MSG_DROP_ECRC] */
	uint64_t drops[GSN_MSG_DROP_MAX];
	uint64_t tx_aborted;                  /* Messages cut by a link reset */
	uint64_t tx_eagain;                   /* gsn_msg_send() refusals for space */
	uint64_t admin_rx, admin_tx;
	uint32_t tx_queued[GSN_VC_COUNT];     /* micropackets waiting */
	uint32_t rx_used[GSN_VC_COUNT];       /* partial + unreleased micropackets */
	uint32_t rx_held[GSN_VC_COUNT];       /* link credits held back */
	uint32_t rx_unreleased[GSN_VC_COUNT]; /* delivered, not yet released */
};

struct gsn_msg;

void gsn_msg_config_default(struct gsn_msg_config *cfg);
/* 0, -EINVAL or -ENOMEM.  The link must outlive the msg. */
int gsn_msg_create(const struct gsn_msg_config *cfg, struct gsn_link *link,
		   const struct gsn_msg_ops *ops, struct gsn_msg **out);
void gsn_msg_destroy(struct gsn_msg *msg);

/*
 * Queues one Message (the iovecs are its PDU) and pumps.  0, -EINVAL,
 * -EMSGSIZE (beyond the VC's limit or the queue), -ENOMEM, or -EAGAIN (no
 * room now: ops->tx_space(vc) follows).
 */
int gsn_msg_send(struct gsn_msg *msg, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
		 uint16_t ethertype, const struct iovec *iov, int iovcnt);
/* Queues one ADMIN micropacket on vc; 0, -EINVAL or -EAGAIN. */
int gsn_msg_send_admin(struct gsn_msg *msg, unsigned vc, const uint8_t data[32]);
/* Returns micropackets of Messages whose deliver() returned false. */
void gsn_msg_release(struct gsn_msg *msg, unsigned vc, uint32_t nmpkts);
/*
 * Changes our ULA: the S_ULA of Messages queued from now on and the D_ULA
 * we accept.  An endpoint often learns its address only after its link is
 * up (Admin assign-me-a-ULA, here-is-your-element-address).
 */
void gsn_msg_set_ula(struct gsn_msg *msg, const uint8_t ula[GSN_ULA_LEN]);
/* Micropackets of a Message with a PDU of len bytes. */
uint32_t gsn_msg_mpkts(size_t pdu_len);
void gsn_msg_flush(struct gsn_msg *msg);

/* The link's upcalls. */
void gsn_msg_link_rx(struct gsn_msg *msg, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32]);
/*
 * The link's rx_run upcall: the same as gsn_msg_link_rx() for each of the
 * n micropackets (cable form, GSN_MPKT_LEN bytes apart) in turn.
 */
void gsn_msg_link_rx_run(struct gsn_msg *msg, const uint8_t *mpkts, size_t n);
void gsn_msg_link_tx_ready(struct gsn_msg *msg, unsigned vc);
void gsn_msg_link_event(struct gsn_msg *msg, enum gsn_link_event ev, uint32_t peer_incarnation);

void gsn_msg_stats(const struct gsn_msg *msg, struct gsn_msg_stats *st);
const char *gsn_msg_drop_name(enum gsn_msg_drop d);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_MSG_H */
