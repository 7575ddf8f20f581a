/* SPDX-License-Identifier: MIT */
/*
 * link — one end of a HIPPI-6400-PH link (PROTOCOL.md §1, §6; docs/gsnd.md
 * "Link details").
 *
 * Pure: no sockets, no threads, no clock of its own.  Frames come in through
 * gsn_link_input_frame() and leave through ops->tx_frame; micropackets go up
 * through ops->rx_mpkt, or in runs through ops->rx_run; time is ops->now_ns;
 * timers run when the embedder calls gsn_link_tick() at
 * gsn_link_next_deadline().
 *
 * What it does: INIT/INIT-ACK bring-up and RESET/RESET-ACK recovery keyed by
 * incarnations, per-VC credits (announced in the handshake, returned with
 * CR/VCR piggy-backed on sequenced micropackets or in CREDIT micropackets),
 * 32-bit sequence numbers (extended TSEQ/RSEQ in the frame header),
 * go-back-N retransmission on timeout or three duplicate acks, LCRC checks,
 * batching of micropackets into frames, optional pacing.
 *
 * Batching rule: micropackets accumulate in one pending frame, which leaves
 * (1) when it is full (frame_max), (2) at the end of gsn_link_input_frame()
 * and gsn_link_tick(), (3) on gsn_link_flush().  The sends and
 * gsn_link_consumed() never flush by themselves: whoever calls them outside
 * a link callback (an event loop, a test) calls gsn_link_flush() when done.
 *
 * Re-entrancy: callbacks may call the sends (gsn_link_send(),
 * gsn_link_send_run(), gsn_link_send_back()), gsn_link_consumed(),
 * gsn_link_flush() and the queries on any link, this one included; they must
 * not call gsn_link_input_frame() or gsn_link_tick() on this link, and
 * ops->tx_frame must not feed a frame back into a link synchronously.
 */
#ifndef GSN_EMU_LINK_H
#define GSN_EMU_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/mpkt.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_LINK_DEFAULT_WINDOW 1024u
#define GSN_LINK_DEFAULT_RTO_NS 20000000ull /* 20 ms */
#define GSN_LINK_DEFAULT_FRAME_MAX 65507u   /* largest UDP payload: 1637 micropackets */
#define GSN_LINK_MIN_FRAME_MAX 64u          /* 24-byte header + one micropacket */
#define GSN_LINK_MAX_CREDITS 32767u         /* per VC (cumulative CREDIT counts are 16-bit) */
#define GSN_LINK_MAX_WINDOW (1u << 20)

/* Frame flag (ours): bytes 20..23 carry CRC-32C of bytes 0..19. */
#define GSN_LINK_FRAME_F_HCRC 0x01u

enum gsn_link_state {
	GSN_LINK_DOWN = 0, /* created and not started, or stopped */
	GSN_LINK_INIT,     /* INIT sent, waiting to be acknowledged */
	GSN_LINK_RESET,    /* was up; peer restarted; RESET sent, waiting */
	GSN_LINK_UP,
};

enum gsn_link_event {
	GSN_LINK_EV_UP = 0, /* handshake complete; sends possible */
	GSN_LINK_EV_RESET,  /* the peer restarted: sequence numbers and credits
			       restart, unacked micropackets are gone; discard
			       partial Messages */
	GSN_LINK_EV_DOWN,   /* gsn_link_stop() */
};

/* Why a frame or micropacket was dropped (struct gsn_link_stats.drops). */
enum gsn_link_drop {
	GSN_LINK_DROP_MAGIC = 0,   /* frame: not "GSNL" */
	GSN_LINK_DROP_VERSION,     /* frame: version != 1 */
	GSN_LINK_DROP_LENGTH,      /* frame: truncated or longer than its count says */
	GSN_LINK_DROP_HCRC,        /* frame: header check (ours) failed */
	GSN_LINK_DROP_SEQ,         /* frame/mpkt: TSEQ/RSEQ disagree with the extended numbers */
	GSN_LINK_DROP_LCRC,        /* mpkt: bad LCRC */
	GSN_LINK_DROP_RESERVED,    /* mpkt: reserved TYPE */
	GSN_LINK_DROP_OUT_OF_SEQ,  /* mpkt: not the next expected (a gap before it) */
	GSN_LINK_DROP_DUPLICATE,   /* mpkt: already received */
	GSN_LINK_DROP_INCARNATION, /* frame: unknown, stale or inconsistent incarnation */
	GSN_LINK_DROP_OVERRUN,     /* mpkt: sent without a credit */
	GSN_LINK_DROP_STATE,       /* frame: link down, or handshake mixed with data */
	GSN_LINK_DROP_STALE,       /* frame: its ack belongs to an earlier pairing */
	GSN_LINK_DROP_MAX
};

struct gsn_link_config {
	uint32_t rx_credits[GSN_VC_COUNT]; /* micropacket buffers per VC we announce
					      (default 256, 1024, 1024, 1024; max 32767) */
	uint32_t window;            /* max unacked sequenced mpkts (default 1024) */
	uint64_t rto_ns;            /* retransmission and handshake retry timeout (20 ms);
				       doubles on consecutive timeouts up to 64x */
	size_t frame_max;           /* bytes per frame (default 65507, at least 64) */
	uint64_t pace_bytes_per_sec; /* 0 = off; else limit on data bytes of new
					sequenced mpkts (GSN: 800e6) */
	uint64_t pace_burst_bytes;  /* pacing burst (default: one full frame) */
	uint32_t incarnation;       /* ours, nonzero (random at start) */
	uint64_t ack_delay_ns;      /* 0 (default): ack at the end of every input;
				       else a pure ack may wait this long */
	unsigned dupack_threshold;  /* duplicate acks that trigger go-back-N (3) */
	const struct gsn_log *log;  /* NULL: silent */
	const char *name;           /* for logs, e.g. "port1" */
};

struct gsn_link_ops {
	/* One frame for the cable.  A negative return counts as a lost frame. */
	int (*tx_frame)(void *ctx, const uint8_t *frame, size_t len);
	/*
	 * In-order HEADER/DATA/ADMIN micropacket; data points into the input
	 * frame and is valid during the call only.  The receiver then holds one
	 * rx credit of ctl->vc until it calls gsn_link_consumed().
	 */
	void (*rx_mpkt)(void *ctx, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32]);
	/*
	 * Optional; when set it replaces rx_mpkt: n >= 1 consecutive in-order
	 * HEADER/DATA/ADMIN micropackets in cable form, GSN_MPKT_LEN bytes apart
	 * (LCRC already checked), valid during the call only; each holds one rx
	 * credit as with rx_mpkt.  For elements that pass micropackets on
	 * (gsn_link_send_back()).  After a run that restarted or stopped this
	 * link, the rest of the frame is not delivered.
	 */
	void (*rx_run)(void *ctx, const uint8_t *mpkts, size_t n);
	/* A send on vc was refused earlier and may succeed now. */
	void (*tx_ready)(void *ctx, unsigned vc);
	/* UP, RESET (peer restarted), DOWN. */
	void (*event)(void *ctx, enum gsn_link_event ev, uint32_t peer_incarnation);
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

struct gsn_link_stats {
	enum gsn_link_state state;
	uint32_t incarnation;
	uint32_t peer_incarnation;    /* 0 while unknown */
	uint32_t tseq;                /* next extended TSEQ to assign */
	uint32_t rseq;                /* next extended TSEQ expected from the peer */
	uint32_t unacked;             /* sequenced mpkts sent and not yet acked */
	uint32_t window;
	uint32_t tx_credits[GSN_VC_COUNT];        /* what we may still send */
	uint32_t rx_held[GSN_VC_COUNT];           /* delivered up, not yet consumed */
	uint32_t rx_return_pending[GSN_VC_COUNT]; /* consumed, not yet returned */
	uint32_t rx_credits_out[GSN_VC_COUNT];    /* the rest: credits the peer holds
						     (unused or in flight) */
	uint64_t mpkts_sent, frames_sent, bytes_sent;       /* bytes: whole frames */
	uint64_t mpkts_rcvd, frames_rcvd, bytes_rcvd;       /* well-formed frames */
	uint64_t seq_sent;            /* new sequenced mpkts accepted by gsn_link_send */
	uint64_t seq_delivered;       /* sequenced mpkts delivered up */
	uint64_t retx_mpkts;          /* sequenced mpkts sent again */
	uint64_t retx_timeouts;       /* go-back-N after rto */
	uint64_t retx_dupacks;        /* go-back-N after duplicate acks */
	uint64_t lcrc_errors;         /* same as drops[GSN_LINK_DROP_LCRC] */
	uint64_t drops[GSN_LINK_DROP_MAX];
	uint64_t resets;              /* peer restarts seen (RESET events) */
	uint64_t ups;                 /* UP events */
	uint64_t handshakes_sent;     /* INIT/RESET requests, retries included */
	uint64_t handshake_acks_sent; /* INIT-ACK/RESET-ACK */
	uint64_t null_sent;
	uint64_t credit_sent;         /* CREDIT micropackets, probes included */
	uint64_t credit_probes_sent;
	uint64_t tx_frame_errors;     /* tx_frame returned < 0 */
	uint64_t eagain_credit, eagain_window, eagain_pace;
};

struct gsn_link;

/* Fills cfg with the defaults above (incarnation 1: set a random one). */
void gsn_link_config_default(struct gsn_link_config *cfg);

/* 0, -EINVAL (bad config or ops) or -ENOMEM. */
int gsn_link_create(const struct gsn_link_config *cfg, const struct gsn_link_ops *ops,
		    struct gsn_link **out);
void gsn_link_destroy(struct gsn_link *link);

/* Sends INIT and retries every rto until acknowledged.  -EALREADY if started. */
int gsn_link_start(struct gsn_link *link);
/* Goes DOWN for good (emits DOWN); a restarted end is a new link with a new
 * incarnation. */
void gsn_link_stop(struct gsn_link *link);

/* One frame from the cable.  Every bad frame or micropacket is dropped and
 * counted; nothing here trusts len or the bytes. */
void gsn_link_input_frame(struct gsn_link *link, const uint8_t *buf, size_t len);

/*
 * Sends one HEADER, DATA or ADMIN micropacket: ctl gives vc, type, tail,
 * error and ecrc (the rest is the link's).  0, -EINVAL (type or vc),
 * -ENOTCONN (not UP) or -EAGAIN (no credit on vc, window full or paced);
 * after a refusal ops->tx_ready(vc) says when to retry.  Never queues.
 */
int gsn_link_send(struct gsn_link *link, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32]);
/*
 * Sends up to n sequenced micropackets on vc, in order, exactly as n calls
 * of gsn_link_send() would (same bytes, same frames, same counters):
 * words[i] gives TYPE, TAIL, ERROR and ECRC of the i-th in control-word form
 * (gsn_mpkt_ctl_pack(); the VC, VCR, CR, RSEQ, TSEQ and LCRC bits are the
 * link's and ignored), data + 32 * i its data bytes.  Returns how many were
 * sent (1..n) or the error gsn_link_send() gives the first one.  It stops
 * early where gsn_link_send() would refuse (credits, window, pacing) or at
 * a TYPE that is not sequenced; the next call then gets the refusal, and
 * ops->tx_ready follows as usual.
 */
int gsn_link_send_run(struct gsn_link *link, unsigned vc, const uint64_t *words,
		      const uint8_t *data, unsigned n);
/*
 * A loopback element's step: sends n received micropackets (cable form, as
 * rx_run hands them, all on one VC) back in order, each keeping its VC,
 * TYPE, TAIL, ERROR, ECRC and data, and after each one sent returns its rx
 * credit (gsn_link_consumed(vc, 1)).  The same bytes as gsn_link_send()
 * then gsn_link_consumed() for each.  Returns how many were sent (the
 * rest keep their credits), or the error of the first one.
 */
int gsn_link_send_back(struct gsn_link *link, const uint8_t *mpkts, size_t n);
/* True when gsn_link_send() on vc would succeed now. */
bool gsn_link_can_send(struct gsn_link *link, unsigned vc);
unsigned gsn_link_tx_credits(const struct gsn_link *link, unsigned vc);
/* Buffers per VC this end announces (config rx_credits). */
unsigned gsn_link_rx_credits(const struct gsn_link *link, unsigned vc);

/* The upper layer freed n rx buffers of vc: their credits go back to the peer. */
void gsn_link_consumed(struct gsn_link *link, unsigned vc, unsigned n);

/* Emits the pending frame now (with any credits and ack owed). */
void gsn_link_flush(struct gsn_link *link);

/* Runs expired timers (retransmission, handshake retry, probes, pacing). */
void gsn_link_tick(struct gsn_link *link);
/* Earliest now_ns() at which gsn_link_tick() has work; UINT64_MAX if none. */
uint64_t gsn_link_next_deadline(const struct gsn_link *link);

enum gsn_link_state gsn_link_state(const struct gsn_link *link);
void gsn_link_stats(const struct gsn_link *link, struct gsn_link_stats *st);

const char *gsn_link_state_name(enum gsn_link_state s);
const char *gsn_link_event_name(enum gsn_link_event ev);
const char *gsn_link_drop_name(enum gsn_link_drop d);

/*
 * Handshake micropacket data (ours): bytes 0..15 the credits
 * (gsn_mpkt_init_encode), 16..19 the sender's incarnation, 20..23 the
 * incarnation the sender believes its peer has (0: none yet) — in an ACK the
 * incarnation acknowledged.  Exposed for tests and tools.
 */
void gsn_link_hs_encode(const uint32_t credits[GSN_VC_COUNT], uint32_t sender,
			uint32_t believed_peer, uint8_t data[32]);
/* Initial extended TSEQ of the direction sender -> receiver (ours). */
uint32_t gsn_link_isn(uint32_t sender_incarnation, uint32_t receiver_incarnation);
/* Writes the header check into a frame's bytes 20..23 and sets the flag. */
void gsn_link_frame_seal(uint8_t *frame);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_LINK_H */
