/* SPDX-License-Identifier: MIT */
/*
 * One end of a HIPPI-6400-PH link: handshake, credits, go-back-N, frames.
 * The rules are in link.h and docs/gsnd.md "Link details".
 *
 * Transmit side.  Every sequenced micropacket is encoded once, straight into
 * a ring of 40-byte cable-form micropackets that holds [una, end): una is the
 * oldest unacked, nxt the next to put into a frame, hw one past the highest
 * ever framed.  A rewind (timeout, duplicate acks) sets nxt back to una; the
 * pump frames ring[nxt..end).  Only the RSEQ byte of a stored micropacket can
 * go stale; it is patched (and the LCRC recomputed) when that happens.
 *
 * Receive side.  A frame is checked (header, header check, sequence fields),
 * then its micropackets are examined in two passes: the first checks each
 * LCRC and sequence number, applies credits and advances rseq over the
 * accepted run; the second hands the accepted run up.  The upper layer's
 * sends during the second pass therefore already carry the final ack.
 *
 * Runs.  The per-micropacket work is done a run at a time wherever the
 * result is the same as one at a time: a sender hands over runs
 * (gsn_link_send_run, gsn_link_send_back), whose LCRCs are computed four at
 * once (gsn_mpkt_seal) and which are framed with one copy per run; the
 * receive side checks a frame's LCRCs the same way, accepts in-order runs in
 * a tight loop and, with ops->rx_run, hands them up whole.  The bytes on
 * the cable do not depend on which entry points are used.
 */
#include "link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/cable.h>
#include <gsn/crc32c.h>
#include <gsn/wire_bytes.h>

#define COMP "link"
#define RTO_MAX_SHIFT 6  /* timeouts back off to 64 x rto */
#define DEAD_INCS 4      /* replaced peer incarnations remembered */
#define CR_MAX 63u       /* 6-bit CR field */
#define HS_FRAME_LEN (GSN_FRAME_HDR_LEN + GSN_MPKT_LEN)
#define MPKT_RSEQ_BYTE 2 /* control word bits 47..40 */
#define MPKT_TSEQ_BYTE 3 /* control word bits 39..32 */
#define ACK_BACK_MAX 65536u /* how far below una a reordered ack may lag */

struct gsn_link {
	struct gsn_link_config cfg;
	struct gsn_link_ops ops;
	enum gsn_link_state state;
	bool started;
	uint32_t peer_inc; /* 0 while unknown */
	uint32_t dead_inc[DEAD_INCS];
	unsigned dead_next;
	uint32_t gen; /* bumped whenever the sequence state restarts */

	/* handshake */
	uint32_t announce[GSN_VC_COUNT]; /* credits our handshakes carry */
	uint64_t hs_deadline;
	uint64_t hs_backoff;

	/* transmit */
	uint8_t *ring;
	uint32_t ring_mask;
	uint32_t isn, una, nxt, end, hw;
	uint32_t tx_credits[GSN_VC_COUNT];
	uint16_t peer_cum[GSN_VC_COUNT]; /* peer's cumulative CREDIT count seen */
	uint8_t want;                    /* VCs whose send was refused */
	bool pace_blocked;
	uint64_t rto_deadline;           /* 0: not armed */
	uint64_t rto_cur;
	unsigned dupacks;
	bool fast_done;                  /* fast retransmit done for this una */
	uint64_t probe_deadline;
	uint64_t pace_next, pace_frac, pace_q, pace_r, pace_burst_ns;

	/* receive */
	uint32_t rseq;
	uint32_t rx_buffered[GSN_VC_COUNT]; /* delivered up, not consumed */
	uint32_t ret_pending[GSN_VC_COUNT]; /* consumed, not returned */
	uint8_t ret_mask;                   /* VCs with ret_pending > 0 */
	uint8_t ret_rr;
	uint16_t ret_cum[GSN_VC_COUNT];     /* our cumulative CREDIT count */
	uint8_t refresh;                    /* VCs the peer asked us to restate */
	bool ack_owed, gap_owed;
	uint64_t ack_deadline;

	/* the pending frame */
	uint8_t *frame;
	uint32_t fcap, fcount;
	bool f_has_seq;
	uint32_t f_tseq;

	struct gsn_link_stats st;
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now(const struct gsn_link *l)
{
	return l->ops.now_ns(l->ops.ctx);
}

static const char *lname(const struct gsn_link *l)
{
	return l->cfg.name ? l->cfg.name : "link";
}

static void drop(struct gsn_link *l, enum gsn_link_drop why)
{
	l->st.drops[why]++;
	GSN_DBG(l->cfg.log, COMP, "%s: drop %s", lname(l), gsn_link_drop_name(why));
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static bool seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

uint32_t gsn_link_isn(uint32_t sender, uint32_t receiver)
{
	uint32_t h = sender * 0x9e3779b1u ^ (receiver << 16 | receiver >> 16) * 0x85ebca77u;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	h *= 0x297a2d39u;
	h ^= h >> 15;
	return h;
}

void gsn_link_hs_encode(const uint32_t credits[GSN_VC_COUNT], uint32_t sender,
			uint32_t believed_peer, uint8_t data[32])
{
	gsn_mpkt_init_encode(credits, data);
	gsn_put_be32(data + 16, sender);
	gsn_put_be32(data + 20, believed_peer);
}

void gsn_link_frame_seal(uint8_t *frame)
{
	frame[5] |= GSN_LINK_FRAME_F_HCRC;
	gsn_put_be32(frame + 20, gsn_crc32c(0, frame, 20));
}

static bool frame_hcrc_ok(const uint8_t *frame)
{
	if (!(frame[5] & GSN_LINK_FRAME_F_HCRC))
		return true;
	return gsn_get_be32(frame + 20) == gsn_crc32c(0, frame, 20);
}

/* ---- configuration, life cycle ------------------------------------------- */

void gsn_link_config_default(struct gsn_link_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rx_credits[0] = 256;
	for (unsigned vc = 1; vc < GSN_VC_COUNT; vc++)
		cfg->rx_credits[vc] = 1024;
	cfg->window = GSN_LINK_DEFAULT_WINDOW;
	cfg->rto_ns = GSN_LINK_DEFAULT_RTO_NS;
	cfg->frame_max = GSN_LINK_DEFAULT_FRAME_MAX;
	cfg->incarnation = 1;
	cfg->dupack_threshold = 3;
}

static bool config_ok(const struct gsn_link_config *cfg, const struct gsn_link_ops *ops)
{
	if (!ops || !ops->tx_frame || (!ops->rx_mpkt && !ops->rx_run) || !ops->now_ns)
		return false;
	if (!cfg->incarnation || !cfg->window || cfg->window > GSN_LINK_MAX_WINDOW)
		return false;
	if (!cfg->rto_ns || cfg->frame_max < GSN_LINK_MIN_FRAME_MAX)
		return false;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		if (cfg->rx_credits[vc] > GSN_LINK_MAX_CREDITS)
			return false;
	return true;
}

static void pace_setup(struct gsn_link *l)
{
	uint64_t rate = l->cfg.pace_bytes_per_sec;
	uint64_t per_mpkt = (uint64_t)GSN_MPKT_DATA * 1000000000ull;

	if (!rate)
		return;
	l->pace_q = per_mpkt / rate;
	l->pace_r = per_mpkt % rate;
	uint64_t burst = l->cfg.pace_burst_bytes ? l->cfg.pace_burst_bytes
						 : (uint64_t)l->fcap * GSN_MPKT_DATA;
	l->pace_burst_ns = burst / GSN_MPKT_DATA * l->pace_q;
}

int gsn_link_create(const struct gsn_link_config *cfg, const struct gsn_link_ops *ops,
		    struct gsn_link **out)
{
	if (!cfg || !out || !config_ok(cfg, ops))
		return -EINVAL;
	struct gsn_link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	l->ops = *ops;
	if (!l->cfg.dupack_threshold)
		l->cfg.dupack_threshold = 3;
	l->fcap = (uint32_t)gsn_frame_capacity(cfg->frame_max);
	uint32_t ring_n = pow2_at_least(cfg->window);
	l->ring_mask = ring_n - 1;
	l->ring = malloc((size_t)ring_n * GSN_MPKT_LEN);
	l->frame = malloc(gsn_frame_size(l->fcap));
	if (!l->ring || !l->frame) {
		gsn_link_destroy(l);
		return -ENOMEM;
	}
	l->rto_cur = cfg->rto_ns;
	l->hs_backoff = cfg->rto_ns;
	pace_setup(l);
	l->st.incarnation = cfg->incarnation;
	*out = l;
	return 0;
}

void gsn_link_destroy(struct gsn_link *l)
{
	if (!l)
		return;
	free(l->ring);
	free(l->frame);
	free(l);
}

/* ---- frames out ---------------------------------------------------------- */

static void tx(struct gsn_link *l, const uint8_t *frame, size_t len, unsigned count)
{
	l->st.frames_sent++;
	l->st.bytes_sent += len;
	l->st.mpkts_sent += count;
	if (l->ops.tx_frame(l->ops.ctx, frame, len) < 0)
		l->st.tx_frame_errors++;
}

/* Sends the pending frame, if any; it carries the current ack. */
static void emit_frame(struct gsn_link *l)
{
	if (!l->fcount)
		return;
	struct gsn_frame_hdr h = {
		.version = GSN_FRAME_VERSION,
		.count = (uint16_t)l->fcount,
		.incarnation = l->cfg.incarnation,
		.ext_tseq = l->f_has_seq ? l->f_tseq : l->nxt,
		.ext_rseq = l->rseq,
	};
	gsn_frame_hdr_encode(&h, l->frame);
	gsn_link_frame_seal(l->frame);
	unsigned count = l->fcount;
	l->fcount = 0;
	l->f_has_seq = false;
	l->ack_owed = false;
	l->gap_owed = false;
	l->ack_deadline = 0;
	tx(l, l->frame, gsn_frame_size(count), count);
}

/* Room for one more micropacket in the pending frame. */
static uint8_t *frame_slot(struct gsn_link *l)
{
	if (l->fcount == l->fcap)
		emit_frame(l);
	return l->frame + GSN_FRAME_HDR_LEN + (size_t)l->fcount++ * GSN_MPKT_LEN;
}

static uint8_t *ring_slot(const struct gsn_link *l, uint32_t seq)
{
	return l->ring + (size_t)(seq & l->ring_mask) * GSN_MPKT_LEN;
}

/* Stored micropackets [seq, seq + n) that are contiguous in the ring: at most n. */
static uint32_t ring_run(const struct gsn_link *l, uint32_t seq, uint32_t n)
{
	uint32_t to_wrap = l->ring_mask + 1 - (seq & l->ring_mask);

	return n < to_wrap ? n : to_wrap;
}

/* Refreshes the RSEQ of stored micropackets that went stale (retransmissions). */
static void ring_refresh_rseq(struct gsn_link *l, uint8_t *mp, uint32_t n)
{
	uint8_t rseq = (uint8_t)l->rseq;

	for (uint32_t i = 0; i < n; i++, mp += GSN_MPKT_LEN) {
		if (mp[MPKT_RSEQ_BYTE] == rseq)
			continue;
		mp[MPKT_RSEQ_BYTE] = rseq;
		gsn_mpkt_seal(mp, 1);
	}
}

/* n stored micropackets into the pending frame. */
static void frame_put_run(struct gsn_link *l, const uint8_t *mp, uint32_t n)
{
	uint8_t *dst = l->frame + GSN_FRAME_HDR_LEN + (size_t)l->fcount * GSN_MPKT_LEN;

	if (n == 1) /* a fixed size the compiler copies inline: one sent at a time */
		memcpy(dst, mp, GSN_MPKT_LEN);
	else
		memcpy(dst, mp, (size_t)n * GSN_MPKT_LEN);
	l->fcount += n;
}

/*
 * Frames ring[nxt..end) and arms the retransmission timer.  Whole runs go
 * into the pending frame at once: as many as fit, up to the ring's end.
 * Only a micropacket sent before (below hw) can carry a stale RSEQ: the
 * others were encoded just now, with the current one.
 */
static void pump(struct gsn_link *l)
{
	while (l->nxt != l->end) {
		if (l->fcount == l->fcap)
			emit_frame(l);
		uint32_t n = ring_run(l, l->nxt, min_u32(l->end - l->nxt, l->fcap - l->fcount));
		uint8_t *mp = ring_slot(l, l->nxt);

		if (seq_before(l->nxt, l->hw)) {
			uint32_t old = min_u32(n, l->hw - l->nxt);

			l->st.retx_mpkts += old;
			ring_refresh_rseq(l, mp, old);
		}
		if (!l->f_has_seq) {
			l->f_has_seq = true;
			l->f_tseq = l->nxt;
		}
		frame_put_run(l, mp, n);
		l->nxt += n;
		if (seq_before(l->hw, l->nxt))
			l->hw = l->nxt;
	}
	if (l->una != l->hw && !l->rto_deadline)
		l->rto_deadline = now(l) + l->rto_cur;
}

/* An unsequenced micropacket (NULL, CREDIT) into the pending frame. */
static void frame_put_ctl(struct gsn_link *l, struct gsn_mpkt_ctl *c)
{
	uint8_t *dst = frame_slot(l);

	c->rseq = (uint8_t)l->rseq;
	gsn_mpkt_encode(c, NULL, dst);
}

static void put_credit(struct gsn_link *l, unsigned vcr, bool probe, unsigned probe_vc)
{
	uint32_t n = min_u32(l->ret_pending[vcr], CR_MAX);

	l->ret_pending[vcr] -= n;
	if (!l->ret_pending[vcr])
		l->ret_mask &= (uint8_t)~(1u << vcr);
	l->ret_cum[vcr] = (uint16_t)(l->ret_cum[vcr] + n);
	struct gsn_mpkt_ctl c = {
		.vc = (uint8_t)probe_vc,
		.type = GSN_MPKT_T_CREDIT,
		.error = probe,
		.vcr = (uint8_t)vcr,
		.cr = (uint8_t)n,
		.ecrc = l->ret_cum[vcr],
	};
	frame_put_ctl(l, &c);
	l->st.credit_sent++;
	if (probe)
		l->st.credit_probes_sent++;
}

/* Every pending credit return (and restatement asked for) as CREDIT mpkts. */
static void put_credits(struct gsn_link *l)
{
	for (unsigned i = 0; i < GSN_VC_COUNT && (l->ret_mask || l->refresh); i++) {
		unsigned vc = (l->ret_rr + i) % GSN_VC_COUNT;
		bool restate = l->refresh & (1u << vc);

		while (l->ret_pending[vc] || restate) {
			put_credit(l, vc, false, 0);
			restate = false;
		}
		l->refresh &= (uint8_t)~(1u << vc);
	}
	l->ret_rr = (uint8_t)((l->ret_rr + 1) % GSN_VC_COUNT);
}

static void put_null(struct gsn_link *l, bool gap)
{
	struct gsn_mpkt_ctl c = {.type = GSN_MPKT_T_NULL, .error = gap};

	frame_put_ctl(l, &c);
	l->st.null_sent++;
}

static bool ack_due(struct gsn_link *l)
{
	if (l->gap_owed)
		return true;
	if (!l->ack_owed)
		return false;
	if (!l->cfg.ack_delay_ns)
		return true;
	uint64_t t = now(l);
	if (!l->ack_deadline)
		l->ack_deadline = t + l->cfg.ack_delay_ns;
	return t >= l->ack_deadline;
}

static void link_flush(struct gsn_link *l)
{
	if (l->state == GSN_LINK_DOWN)
		return;
	if (l->state == GSN_LINK_UP) {
		pump(l);
		put_credits(l);
	}
	/* a gap is always signalled; a plain ack only when nothing else carries it */
	if (l->gap_owed || (l->peer_inc && !l->fcount && ack_due(l)))
		put_null(l, l->gap_owed);
	emit_frame(l);
}

void gsn_link_flush(struct gsn_link *l)
{
	link_flush(l);
}

/* ---- handshake ----------------------------------------------------------- */

static void send_hs(struct gsn_link *l, unsigned type)
{
	uint8_t buf[HS_FRAME_LEN] = {0};
	uint8_t data[GSN_MPKT_DATA];
	struct gsn_mpkt_ctl c = {.type = (uint8_t)type};
	struct gsn_frame_hdr h = {
		.version = GSN_FRAME_VERSION,
		.count = 1,
		.incarnation = l->cfg.incarnation,
	};

	gsn_link_hs_encode(l->announce, l->cfg.incarnation, l->peer_inc, data);
	gsn_mpkt_encode(&c, data, buf + GSN_FRAME_HDR_LEN);
	gsn_frame_hdr_encode(&h, buf);
	gsn_link_frame_seal(buf);
	GSN_DBG(l->cfg.log, COMP, "%s: send %s peer %08x", lname(l), gsn_mpkt_type_name(type),
		l->peer_inc);
	tx(l, buf, sizeof(buf), 1);
}

static void send_request(struct gsn_link *l)
{
	send_hs(l, l->state == GSN_LINK_RESET ? GSN_MPKT_T_RESET : GSN_MPKT_T_INIT);
	l->st.handshakes_sent++;
	l->hs_deadline = now(l) + l->hs_backoff;
}

/* A new handshake phase: our announce is what is free now. */
static void new_phase(struct gsn_link *l)
{
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		l->announce[vc] = l->cfg.rx_credits[vc] - min_u32(l->rx_buffered[vc],
								   l->cfg.rx_credits[vc]);
		l->ret_pending[vc] = 0;
	}
	l->ret_mask = 0;
	l->hs_backoff = l->cfg.rto_ns;
}

/* Sequence numbers, credits and timers restart for the current peer. */
static void restart_seq(struct gsn_link *l)
{
	uint32_t isn = gsn_link_isn(l->cfg.incarnation, l->peer_inc);

	l->gen++;
	l->isn = l->una = l->nxt = l->end = l->hw = isn;
	l->rseq = gsn_link_isn(l->peer_inc, l->cfg.incarnation);
	memset(l->tx_credits, 0, sizeof(l->tx_credits));
	memset(l->peer_cum, 0, sizeof(l->peer_cum));
	memset(l->ret_cum, 0, sizeof(l->ret_cum));
	l->refresh = 0;
	l->rto_deadline = 0;
	l->rto_cur = l->cfg.rto_ns;
	l->dupacks = 0;
	l->fast_done = false;
	l->probe_deadline = 0;
	l->pace_blocked = false;
	l->ack_owed = l->gap_owed = false;
	l->ack_deadline = 0;
	l->fcount = 0;
	l->f_has_seq = false;
}

static bool is_dead(const struct gsn_link *l, uint32_t inc)
{
	for (unsigned i = 0; i < DEAD_INCS; i++)
		if (l->dead_inc[i] == inc)
			return true;
	return false;
}

static void emit_event(struct gsn_link *l, enum gsn_link_event ev)
{
	if (l->ops.event)
		l->ops.event(l->ops.ctx, ev, l->peer_inc);
}

/*
 * Takes S as the peer, with the credits it announced.  Replacing a known
 * peer, or restarting with the same one, is a reset the upper layer hears of.
 */
static void adopt(struct gsn_link *l, uint32_t S, const uint32_t C[GSN_VC_COUNT])
{
	uint32_t old = l->peer_inc;

	if (old && old != S) {
		l->dead_inc[l->dead_next] = old;
		l->dead_next = (l->dead_next + 1) % DEAD_INCS;
	}
	l->peer_inc = S;
	restart_seq(l);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		l->tx_credits[vc] = min_u32(C[vc], GSN_LINK_MAX_CREDITS);
	if (old) {
		l->st.resets++;
		GSN_INFO(l->cfg.log, COMP, "%s: reset, peer %08x -> %08x", lname(l), old, S);
		emit_event(l, GSN_LINK_EV_RESET);
	}
}

static void go_up(struct gsn_link *l)
{
	l->state = GSN_LINK_UP;
	l->hs_deadline = 0;
	l->st.ups++;
	GSN_INFO(l->cfg.log, COMP, "%s: up, incarnation %08x peer %08x", lname(l),
		 l->cfg.incarnation, l->peer_inc);
	emit_event(l, GSN_LINK_EV_UP);
}

/* We were up and the peer restarted (or restarted its state towards us). */
static void peer_restarted(struct gsn_link *l, uint32_t S, const uint32_t C[GSN_VC_COUNT])
{
	l->state = GSN_LINK_RESET;
	new_phase(l);
	adopt(l, S, C);
	if (l->state == GSN_LINK_DOWN)
		return;
	send_request(l);
}

/* Answers a request: an ACK when up, else our own request (which, naming
 * the peer, also acknowledges its request). */
static void hs_answer(struct gsn_link *l, unsigned req_type)
{
	if (l->state == GSN_LINK_DOWN)
		return;
	if (l->state != GSN_LINK_UP) {
		send_request(l);
		return;
	}
	send_hs(l, req_type == GSN_MPKT_T_INIT ? GSN_MPKT_T_INIT_ACK : GSN_MPKT_T_RESET_ACK);
	l->st.handshake_acks_sent++;
}

static void hs_from_new_peer(struct gsn_link *l, unsigned type, bool req, uint32_t S,
			     uint32_t X, const uint32_t C[GSN_VC_COUNT])
{
	uint32_t us = l->cfg.incarnation;

	if (!req && X != us) { /* an acknowledgement meant for someone else */
		drop(l, GSN_LINK_DROP_INCARNATION);
		return;
	}
	if (l->state == GSN_LINK_UP) {
		if (!req) {
			drop(l, GSN_LINK_DROP_INCARNATION);
			return;
		}
		peer_restarted(l, S, C);
		return;
	}
	adopt(l, S, C);
	if (l->state == GSN_LINK_DOWN)
		return;
	if (!req || X == us)
		go_up(l);
	if (req)
		hs_answer(l, type);
}

static void hs_mpkt(struct gsn_link *l, unsigned type, uint32_t S, uint32_t X,
		    const uint32_t C[GSN_VC_COUNT])
{
	uint32_t us = l->cfg.incarnation;
	bool req = type == GSN_MPKT_T_INIT || type == GSN_MPKT_T_RESET;

	if (is_dead(l, S)) {
		drop(l, GSN_LINK_DROP_INCARNATION);
		return;
	}
	if (S != l->peer_inc) {
		hs_from_new_peer(l, type, req, S, X, C);
		return;
	}
	if (!req) {
		if (X != us)
			drop(l, GSN_LINK_DROP_INCARNATION);
		else if (l->state != GSN_LINK_UP)
			go_up(l);
		return;
	}
	if (X != 0 && X != us) { /* it restarted its state for another incarnation of us */
		if (l->state == GSN_LINK_UP) {
			peer_restarted(l, S, C);
			return;
		}
		adopt(l, S, C);
	} else if (X == us && l->state != GSN_LINK_UP) {
		go_up(l);
	}
	hs_answer(l, type);
}

static bool is_hs_type(unsigned type)
{
	return type >= GSN_MPKT_T_RESET && type <= GSN_MPKT_T_INIT_ACK;
}

/*
 * True for a handshake frame: we send handshakes alone, so the first
 * micropacket decides (with a good LCRC, so that a corrupted DATA does not
 * pass for one).  A handshake type anywhere else is dropped as STATE.
 */
static bool frame_is_hs(const struct gsn_frame_view *v)
{
	const uint8_t *mp = gsn_frame_mpkt(v, 0);
	struct gsn_mpkt_ctl c;

	if (!mp)
		return false;
	gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &c);
	return is_hs_type(c.type) && gsn_mpkt_decode(mp, GSN_MPKT_LEN, &c, NULL) == 0;
}

static void hs_input(struct gsn_link *l, const struct gsn_frame_view *v)
{
	for (size_t i = 0; i < v->hdr.count && l->state != GSN_LINK_DOWN; i++) {
		struct gsn_mpkt_ctl c;
		uint8_t data[GSN_MPKT_DATA];
		int rc = gsn_mpkt_decode(gsn_frame_mpkt(v, i), GSN_MPKT_LEN, &c, data);

		if (rc == GSN_MPKT_E_LCRC) {
			drop(l, GSN_LINK_DROP_LCRC);
			continue;
		}
		if (rc) {
			drop(l, GSN_LINK_DROP_RESERVED);
			continue;
		}
		if (!is_hs_type(c.type)) { /* handshakes travel alone */
			drop(l, GSN_LINK_DROP_STATE);
			continue;
		}
		uint32_t S = gsn_get_be32(data + 16), X = gsn_get_be32(data + 20);
		uint32_t C[GSN_VC_COUNT];

		if (!S || S != v->hdr.incarnation) {
			drop(l, GSN_LINK_DROP_INCARNATION);
			continue;
		}
		gsn_mpkt_init_decode(data, C);
		hs_mpkt(l, c.type, S, X, C);
	}
}

int gsn_link_start(struct gsn_link *l)
{
	if (l->started)
		return -EALREADY;
	l->started = true;
	l->state = GSN_LINK_INIT;
	new_phase(l);
	restart_seq(l);
	send_request(l);
	return 0;
}

void gsn_link_stop(struct gsn_link *l)
{
	if (l->state == GSN_LINK_DOWN)
		return;
	l->started = true;
	l->state = GSN_LINK_DOWN;
	l->fcount = 0;
	emit_event(l, GSN_LINK_EV_DOWN);
}

/* ---- sending ------------------------------------------------------------- */

static bool pace_ok(struct gsn_link *l)
{
	return !l->cfg.pace_bytes_per_sec || l->pace_next <= now(l) + l->pace_burst_ns;
}

static void pace_charge(struct gsn_link *l)
{
	uint64_t t = now(l);

	if (l->pace_next < t)
		l->pace_next = t;
	l->pace_next += l->pace_q;
	l->pace_frac += l->pace_r;
	if (l->pace_frac >= l->cfg.pace_bytes_per_sec) {
		l->pace_frac -= l->cfg.pace_bytes_per_sec;
		l->pace_next++;
	}
}

/*
 * Returns some pending credits on the micropacket being built, VCs in turn
 * from ret_rr: its VCR and CR bits.  ret_mask has a bit for each VC with
 * ret_pending > 0, so the VC is the first set bit at or after ret_rr.
 */
static uint64_t piggyback(struct gsn_link *l)
{
	unsigned from = l->ret_rr % GSN_VC_COUNT;
	unsigned turned = ((unsigned)l->ret_mask | (unsigned)l->ret_mask << GSN_VC_COUNT) >> from;
	unsigned vc = (from + (unsigned)__builtin_ctz(turned)) % GSN_VC_COUNT;
	uint32_t n = min_u32(l->ret_pending[vc], CR_MAX);

	l->ret_pending[vc] -= n;
	if (!l->ret_pending[vc])
		l->ret_mask &= (uint8_t)~(1u << vc);
	l->ret_rr = (uint8_t)((vc + 1) % GSN_VC_COUNT);
	return (uint64_t)vc << 54 | (uint64_t)n << 48;
}

static int refuse(struct gsn_link *l, unsigned vc, int err)
{
	l->want |= (uint8_t)(1u << vc);
	return err;
}

static int send_check(struct gsn_link *l, unsigned vc)
{
	if (l->state != GSN_LINK_UP)
		return refuse(l, vc, -ENOTCONN);
	if (!l->tx_credits[vc]) {
		l->st.eagain_credit++;
		if (!l->probe_deadline)
			l->probe_deadline = now(l) + l->cfg.rto_ns;
		return refuse(l, vc, -EAGAIN);
	}
	if (l->end - l->una >= l->cfg.window) {
		l->st.eagain_window++;
		return refuse(l, vc, -EAGAIN);
	}
	if (l->cfg.pace_bytes_per_sec && !pace_ok(l)) {
		l->st.eagain_pace++;
		l->pace_blocked = true;
		return refuse(l, vc, -EAGAIN);
	}
	return 0;
}

/* Control-word bits a sender chooses: TYPE, TAIL, ERROR, ECRC. */
#define WORD_SENDER_BITS 0x3f000000ffff0000ull

static bool word_sequenced(uint64_t w)
{
	return gsn_mpkt_type_sequenced((unsigned)(w >> 58) & 0xfu);
}

/* The link's bits of a new sequenced micropacket's control word, but for TSEQ and CR. */
static uint64_t word_fixed(const struct gsn_link *l, unsigned vc)
{
	return (uint64_t)vc << 62 | (uint64_t)(uint8_t)l->rseq << 40;
}

/*
 * Stores the control word and data of new micropacket seq (LCRC to
 * follow); w lacks only TSEQ and a piggy-backed credit return.
 */
static void ring_put(struct gsn_link *l, uint32_t seq, uint64_t w, const uint8_t *data)
{
	uint8_t *mp = ring_slot(l, seq);

	w |= (uint64_t)(uint8_t)seq << 32;
	if (l->ret_mask)
		w |= piggyback(l);
	gsn_mpkt_put_ctl_word(mp, w);
	memcpy(mp + GSN_MPKT_CTL_LEN, data, GSN_MPKT_DATA);
}

/* Seals the k micropackets stored by ring_put() and makes them sent. */
static void ring_commit(struct gsn_link *l, unsigned vc, uint32_t k)
{
	for (uint32_t done = 0; done < k;) {
		uint32_t run = ring_run(l, l->end + done, k - done);

		gsn_mpkt_seal(ring_slot(l, l->end + done), run);
		done += run;
	}
	l->end += k;
	l->tx_credits[vc] -= k;
	l->st.seq_sent += k;
	if (l->cfg.pace_bytes_per_sec)
		pace_charge(l);
	pump(l);
}

/*
 * How many micropackets send_check() would let through on vc, one after
 * another: at least 1 once it has passed.
 */
static uint32_t send_room(const struct gsn_link *l, unsigned vc, size_t n)
{
	uint32_t room = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;

	room = min_u32(room, l->tx_credits[vc]);
	room = min_u32(room, l->cfg.window - (l->end - l->una));
	if (l->cfg.pace_bytes_per_sec)
		room = 1; /* pace_ok() moves with every micropacket */
	return room;
}

int gsn_link_send_run(struct gsn_link *l, unsigned vc, const uint64_t *words,
		      const uint8_t *data, unsigned n)
{
	if (vc >= GSN_VC_COUNT || !n || !word_sequenced(words[0]))
		return -EINVAL;
	int err = send_check(l, vc);
	if (err)
		return err;
	uint32_t room = send_room(l, vc, n);
	uint64_t fixed = word_fixed(l, vc);
	uint32_t end = l->end, k;

	for (k = 0; k < room && word_sequenced(words[k]); k++)
		ring_put(l, end + k, (words[k] & WORD_SENDER_BITS) | fixed,
			 data + (size_t)k * GSN_MPKT_DATA);
	ring_commit(l, vc, k);
	return (int)k;
}

/* gsn_link_consumed() for one micropacket of vc. */
static void consumed_one(struct gsn_link *l, unsigned vc)
{
	if (!l->rx_buffered[vc])
		return;
	l->rx_buffered[vc]--;
	l->ret_pending[vc]++;
	l->ret_mask |= (uint8_t)(1u << vc);
}

/*
 * gsn_link_send_back()'s steady state: nothing waits to go back but the
 * credit of the micropacket sent back before (ret_pending[vc] == 1, no
 * other VC), so each one carries CR 1 on VCR vc and, its own credit
 * returned, leaves the same state behind.  Encodes up to n from mpkts as
 * new ring entries seq, seq + 1, ... without touching the link's state in
 * the loop; returns how many (it stops at a TYPE that is not sequenced).
 * The caller does the bookkeeping.
 */
static uint32_t reflect_steady(const struct gsn_link *l, unsigned vc, const uint8_t *mpkts,
			       uint32_t seq, uint64_t fixed, uint32_t n)
{
	uint8_t *ring = l->ring;
	uint32_t mask = l->ring_mask;
	uint64_t bits = fixed | (uint64_t)vc << 54 | 1ull << 48;
	uint32_t k;

	for (k = 0; k < n; k++, mpkts += GSN_MPKT_LEN) {
		uint64_t w = gsn_mpkt_ctl_word(mpkts);
		uint8_t *mp = ring + (size_t)((seq + k) & mask) * GSN_MPKT_LEN;

		if (!word_sequenced(w))
			break;
		gsn_mpkt_put_ctl_word(mp, (w & WORD_SENDER_BITS) | bits |
					      (uint64_t)(uint8_t)(seq + k) << 32);
		memcpy(mp + GSN_MPKT_CTL_LEN, mpkts + GSN_MPKT_CTL_LEN, GSN_MPKT_DATA);
	}
	return k;
}

static bool reflect_is_steady(const struct gsn_link *l, unsigned vc)
{
	return l->ret_mask == 1u << vc && l->ret_pending[vc] == 1 && l->rx_buffered[vc];
}

int gsn_link_send_back(struct gsn_link *l, const uint8_t *mpkts, size_t n)
{
	if (!n)
		return -EINVAL;
	uint64_t w0 = gsn_mpkt_ctl_word(mpkts);
	unsigned vc = (unsigned)(w0 >> 62);

	if (!word_sequenced(w0))
		return -EINVAL;
	int err = send_check(l, vc);
	if (err)
		return err;
	uint32_t room = send_room(l, vc, n);
	uint64_t fixed = word_fixed(l, vc);
	uint32_t end = l->end, k = 0;

	while (k < room) {
		const uint8_t *mp = mpkts + (size_t)k * GSN_MPKT_LEN;

		if (reflect_is_steady(l, vc)) {
			uint32_t m = min_u32(room - k, l->rx_buffered[vc]);
			uint32_t done = reflect_steady(l, vc, mp, end + k, fixed, m);

			/* as piggyback() then consumed_one() done times */
			l->rx_buffered[vc] -= done;
			if (done)
				l->ret_rr = (uint8_t)((vc + 1) % GSN_VC_COUNT);
			k += done;
			if (done < m)
				break;
			continue;
		}
		uint64_t w = gsn_mpkt_ctl_word(mp);

		if (!word_sequenced(w))
			break;
		ring_put(l, end + k, (w & WORD_SENDER_BITS) | fixed, mp + GSN_MPKT_CTL_LEN);
		consumed_one(l, vc); /* the next one carries this credit back */
		k++;
	}
	ring_commit(l, vc, k);
	return (int)k;
}

int gsn_link_send(struct gsn_link *l, const struct gsn_mpkt_ctl *ctl, const uint8_t data[32])
{
	if (ctl->vc >= GSN_VC_COUNT || !gsn_mpkt_type_sequenced(ctl->type))
		return -EINVAL;
	struct gsn_mpkt_ctl c = {
		.type = ctl->type,
		.tail = ctl->tail,
		.error = ctl->error,
		.ecrc = ctl->ecrc,
	};
	uint64_t w = gsn_mpkt_ctl_pack(&c);
	int rc = gsn_link_send_run(l, ctl->vc, &w, data, 1);

	return rc < 0 ? rc : 0;
}

bool gsn_link_can_send(struct gsn_link *l, unsigned vc)
{
	return vc < GSN_VC_COUNT && l->state == GSN_LINK_UP && l->tx_credits[vc] &&
	       l->end - l->una < l->cfg.window && pace_ok(l);
}

unsigned gsn_link_tx_credits(const struct gsn_link *l, unsigned vc)
{
	return vc < GSN_VC_COUNT ? l->tx_credits[vc] : 0;
}

unsigned gsn_link_rx_credits(const struct gsn_link *l, unsigned vc)
{
	return vc < GSN_VC_COUNT ? l->cfg.rx_credits[vc] : 0;
}

void gsn_link_consumed(struct gsn_link *l, unsigned vc, unsigned n)
{
	if (vc >= GSN_VC_COUNT)
		return;
	n = min_u32(n, l->rx_buffered[vc]);
	if (!n)
		return;
	l->rx_buffered[vc] -= n;
	l->ret_pending[vc] += n;
	l->ret_mask |= (uint8_t)(1u << vc);
}

/* Tells the upper layer about VCs it was refused on and may use now. */
static void notify(struct gsn_link *l)
{
	if (l->state != GSN_LINK_UP || !l->want)
		return;
	l->pace_blocked = false;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		if (!(l->want & (1u << vc)))
			continue;
		if (!gsn_link_can_send(l, vc)) {
			if (l->cfg.pace_bytes_per_sec && l->tx_credits[vc] && !pace_ok(l))
				l->pace_blocked = true;
			continue;
		}
		l->want &= (uint8_t)~(1u << vc);
		if (l->ops.tx_ready)
			l->ops.tx_ready(l->ops.ctx, vc);
		if (l->state != GSN_LINK_UP)
			return;
	}
}

/* ---- receiving ----------------------------------------------------------- */

static void go_back(struct gsn_link *l)
{
	emit_frame(l);
	l->nxt = l->una;
	l->dupacks = 0;
}

static void ack_in(struct gsn_link *l, uint32_t ack, bool gap)
{
	if (ack == l->una) {
		if (!gap || l->una == l->hw || l->fast_done)
			return;
		if (++l->dupacks >= l->cfg.dupack_threshold) {
			go_back(l);
			l->fast_done = true;
			l->st.retx_dupacks++;
		}
		return;
	}
	if (seq_before(ack, l->una) || ack - l->una > l->hw - l->una)
		return; /* older than una (reordered), or never sent (ack_plausible
			   has already dropped such a frame) */
	l->una = ack;
	if (seq_before(l->nxt, l->una))
		l->nxt = l->una;
	l->dupacks = 0;
	l->fast_done = false;
	l->rto_cur = l->cfg.rto_ns;
	l->rto_deadline = l->una != l->hw ? now(l) + l->rto_cur : 0;
}

/*
 * An ack of this pairing lies between our initial sequence number (or, on a
 * long-lived link, a reordering margin below una) and the highest sequence
 * sent.  Anything else is a frame the peer sent before its last restart
 * towards us — its CREDIT counts and acks would corrupt ours.
 */
static bool ack_plausible(const struct gsn_link *l, uint32_t ack)
{
	uint32_t back = l->una - l->isn;
	uint32_t lo = l->una - (back < ACK_BACK_MAX ? back : ACK_BACK_MAX);

	return ack - lo <= l->hw - lo;
}

static void credit_in(struct gsn_link *l, const struct gsn_mpkt_ctl *c)
{
	uint16_t diff = (uint16_t)(c->ecrc - l->peer_cum[c->vcr]);

	if (diff && diff < 0x8000u) {
		l->tx_credits[c->vcr] += diff;
		l->peer_cum[c->vcr] = c->ecrc;
	}
	if (c->error)
		l->refresh |= (uint8_t)(1u << c->vc);
}

/*
 * Pass 1 over one sequenced micropacket, straight from its control word w
 * (VC 63..62, VCR 55..54, CR 53..48, TSEQ 39..32); true when accepted.
 */
static bool seq_in(struct gsn_link *l, uint64_t w, uint32_t s, bool *broken)
{
	unsigned vc = (unsigned)(w >> 62);

	if (*broken) {
		drop(l, GSN_LINK_DROP_OUT_OF_SEQ);
		return false;
	}
	if ((uint8_t)(w >> 32) != (uint8_t)s) {
		drop(l, GSN_LINK_DROP_SEQ);
		*broken = true;
		return false;
	}
	int32_t d = (int32_t)(s - l->rseq);
	if (d < 0) {
		drop(l, GSN_LINK_DROP_DUPLICATE);
		l->ack_owed = true;
		return false;
	}
	if (d > 0) {
		drop(l, GSN_LINK_DROP_OUT_OF_SEQ);
		l->gap_owed = true;
		*broken = true;
		return false;
	}
	if (l->rx_buffered[vc] >= l->cfg.rx_credits[vc]) {
		drop(l, GSN_LINK_DROP_OVERRUN);
		*broken = true;
		return false;
	}
	l->rx_buffered[vc]++;
	l->rseq++;
	l->ack_owed = true;
	l->tx_credits[(w >> 54) & 0x3] += (uint32_t)(w >> 48) & 0x3f;
	return true;
}

static bool mpkt_sequenced(const uint8_t *mp)
{
	return word_sequenced(gsn_mpkt_ctl_word(mp));
}

/* Hands the accepted run [first, last] up, in order, one by one. */
static void deliver_each(struct gsn_link *l, const struct gsn_frame_view *v, size_t first,
			 size_t last)
{
	uint32_t gen = l->gen;

	for (size_t i = first; i <= last; i++) {
		const uint8_t *mp = gsn_frame_mpkt(v, i);
		struct gsn_mpkt_ctl c;

		gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &c);
		if (!gsn_mpkt_type_sequenced(c.type))
			continue;
		l->st.seq_delivered++;
		l->ops.rx_mpkt(l->ops.ctx, &c, mp + GSN_MPKT_CTL_LEN);
		if (l->gen != gen || l->state == GSN_LINK_DOWN)
			return;
	}
}

/* Hands the accepted run [first, last] up as runs of sequenced micropackets. */
static void deliver_runs(struct gsn_link *l, const struct gsn_frame_view *v, size_t first,
			 size_t last)
{
	uint32_t gen = l->gen;

	for (size_t i = first, j; i <= last; i = j) {
		if (!mpkt_sequenced(gsn_frame_mpkt(v, i))) {
			j = i + 1;
			continue;
		}
		for (j = i + 1; j <= last && mpkt_sequenced(gsn_frame_mpkt(v, j)); j++)
			;
		l->st.seq_delivered += j - i;
		l->ops.rx_run(l->ops.ctx, gsn_frame_mpkt(v, i), j - i);
		if (l->gen != gen || l->state == GSN_LINK_DOWN)
			return;
	}
}

/*
 * Pass 2: hands the accepted run [first, last] up.  plain: pass 1 found it
 * all sequenced, nothing to skip.
 */
static void deliver(struct gsn_link *l, const struct gsn_frame_view *v, size_t first, size_t last,
		    bool plain)
{
	if (!l->ops.rx_run) {
		deliver_each(l, v, first, last);
	} else if (plain) {
		l->st.seq_delivered += last - first + 1;
		l->ops.rx_run(l->ops.ctx, gsn_frame_mpkt(v, first), last - first + 1);
	} else {
		deliver_runs(l, v, first, last);
	}
}

/* The first micropacket at or after i (of the frame's n) with a bad LCRC, or n. */
static size_t next_bad_lcrc(const struct gsn_frame_view *v, size_t i)
{
	size_t n = v->hdr.count;

	return i >= n ? n : i + gsn_mpkt_lcrc_good(gsn_frame_mpkt(v, i), n - i);
}

/*
 * Pass 1's common case: from micropacket i on (up to stop, a bad LCRC or
 * the end), sequenced micropackets that are each the next expected one
 * (TSEQ s, s + 1, ...) and within their VC's credits.  Accepts them as
 * seq_in() would, in a tighter loop, and returns how many; the general
 * loop takes over at the first that is anything else.
 */
static size_t accept_run(struct gsn_link *l, const struct gsn_frame_view *v, size_t i,
			 size_t stop, uint32_t s)
{
	const uint8_t *mp = gsn_frame_mpkt(v, i);
	size_t k = 0;

	if (s != l->rseq)
		return 0;
	for (; i + k < stop; k++, mp += GSN_MPKT_LEN) {
		uint64_t w = gsn_mpkt_ctl_word(mp);
		unsigned vc = (unsigned)(w >> 62);

		if (!word_sequenced(w) || (uint8_t)(w >> 32) != (uint8_t)(s + k) ||
		    l->rx_buffered[vc] >= l->cfg.rx_credits[vc])
			break;
		l->rx_buffered[vc]++;
		l->tx_credits[(w >> 54) & 0x3] += (uint32_t)(w >> 48) & 0x3f;
	}
	if (k) {
		l->rseq += (uint32_t)k;
		l->ack_owed = true;
	}
	return k;
}

/*
 * Pass 1.  The LCRCs are checked a run at a time ahead of the loop, which
 * stops at each bad one the way a failed gsn_mpkt_decode() would.
 */
static void data_input(struct gsn_link *l, const struct gsn_frame_view *v)
{
	uint32_t s = v->hdr.ext_tseq;
	bool broken = false, gap = false;
	size_t first = SIZE_MAX, last = 0;
	size_t bad = next_bad_lcrc(v, 0);
	bool plain = true; /* [first, last] came from one accept_run() */

	for (size_t i = 0; i < v->hdr.count; i++) {
		if (!broken && i != bad) {
			size_t n = accept_run(l, v, i, bad, s);

			if (n) {
				if (first == SIZE_MAX)
					first = i;
				else
					plain = false;
				last = i + n - 1;
				s += (uint32_t)n;
				i += n - 1;
				continue;
			}
		}
		if (i == bad) {
			drop(l, GSN_LINK_DROP_LCRC);
			broken = true;
			bad = next_bad_lcrc(v, i + 1);
			continue;
		}
		uint64_t w = gsn_mpkt_ctl_word(gsn_frame_mpkt(v, i));
		unsigned type = (unsigned)(w >> 58) & 0xfu;

		if (gsn_mpkt_type_sequenced(type)) {
			if (seq_in(l, w, s++, &broken)) {
				if (first != SIZE_MAX)
					plain = false;
				else
					first = i;
				last = i;
			}
		} else if (type == GSN_MPKT_T_NULL) {
			gap |= (w >> 56 & 1) != 0; /* ERROR: a gap was seen */
		} else if (type == GSN_MPKT_T_CREDIT) {
			struct gsn_mpkt_ctl c;

			gsn_mpkt_ctl_unpack(w, &c);
			credit_in(l, &c);
		} else if (!gsn_mpkt_type_valid(type)) {
			drop(l, GSN_LINK_DROP_RESERVED);
		} else { /* a handshake among data */
			drop(l, GSN_LINK_DROP_STATE);
		}
	}
	if (l->state == GSN_LINK_UP)
		ack_in(l, v->hdr.ext_rseq, gap);
	if (first != SIZE_MAX)
		deliver(l, v, first, last, plain);
}

static void count_parse_error(struct gsn_link *l, int rc)
{
	switch (rc) {
	case GSN_FRAME_E_MAGIC:
		drop(l, GSN_LINK_DROP_MAGIC);
		break;
	case GSN_FRAME_E_VERSION:
		drop(l, GSN_LINK_DROP_VERSION);
		break;
	default:
		drop(l, GSN_LINK_DROP_LENGTH);
		break;
	}
}

/*
 * The rule of gsn_frame_check_seq() (gsn/cable.h): every micropacket's RSEQ
 * is the low byte of ext_rseq, and the first sequenced one's TSEQ the low
 * byte of ext_tseq.  Reads those bytes only: it runs over every frame.
 */
static bool frame_seq_ok(const struct gsn_frame_view *v)
{
	const uint8_t rseq = (uint8_t)v->hdr.ext_rseq;
	const uint8_t *mp = v->mpkts, *end = v->mpkts + (size_t)v->hdr.count * GSN_MPKT_LEN;

	for (; mp < end; mp += GSN_MPKT_LEN) { /* up to the first sequenced one */
		if (mp[MPKT_RSEQ_BYTE] != rseq)
			return false;
		if (gsn_mpkt_type_sequenced(mp[0] >> 2 & 0xfu)) {
			if (mp[MPKT_TSEQ_BYTE] != (uint8_t)v->hdr.ext_tseq)
				return false;
			mp += GSN_MPKT_LEN;
			break;
		}
	}
	for (; mp < end; mp += GSN_MPKT_LEN)
		if (mp[MPKT_RSEQ_BYTE] != rseq)
			return false;
	return true;
}

void gsn_link_input_frame(struct gsn_link *l, const uint8_t *buf, size_t len)
{
	struct gsn_frame_view v;

	if (l->state == GSN_LINK_DOWN) {
		drop(l, GSN_LINK_DROP_STATE);
		return;
	}
	int rc = gsn_frame_parse(buf, len, &v);
	if (rc) {
		count_parse_error(l, rc);
		return;
	}
	if (!frame_hcrc_ok(buf)) {
		drop(l, GSN_LINK_DROP_HCRC);
		return;
	}
	if (!frame_seq_ok(&v)) {
		drop(l, GSN_LINK_DROP_SEQ);
		return;
	}
	l->st.frames_rcvd++;
	l->st.bytes_rcvd += len;
	l->st.mpkts_rcvd += v.hdr.count;
	if (frame_is_hs(&v)) {
		hs_input(l, &v);
	} else if (!l->peer_inc || v.hdr.incarnation != l->peer_inc) {
		drop(l, GSN_LINK_DROP_INCARNATION);
		return;
	} else if (!ack_plausible(l, v.hdr.ext_rseq)) {
		drop(l, GSN_LINK_DROP_STALE);
		return;
	} else {
		emit_frame(l); /* its micropackets carry the rseq that is about to move */
		data_input(l, &v);
	}
	notify(l);
	link_flush(l);
}

/* ---- timers -------------------------------------------------------------- */

static void on_timeout(struct gsn_link *l, uint64_t t)
{
	if (l->una == l->hw) {
		l->rto_deadline = 0;
		return;
	}
	go_back(l);
	l->fast_done = false;
	l->st.retx_timeouts++;
	if (l->rto_cur < l->cfg.rto_ns << RTO_MAX_SHIFT)
		l->rto_cur <<= 1;
	l->rto_deadline = t + l->rto_cur;
}

/* Asks the peer to restate its credits on VCs we starve on. */
static void on_probe(struct gsn_link *l, uint64_t t)
{
	uint8_t starving = 0;

	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		if ((l->want & (1u << vc)) && !l->tx_credits[vc])
			starving |= (uint8_t)(1u << vc);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		if (starving & (1u << vc))
			put_credit(l, vc, true, vc);
	l->probe_deadline = starving ? t + l->cfg.rto_ns : 0;
}

void gsn_link_tick(struct gsn_link *l)
{
	if (l->state == GSN_LINK_DOWN)
		return;
	uint64_t t = now(l);

	if (l->state != GSN_LINK_UP) {
		if (t >= l->hs_deadline) {
			if (l->hs_backoff < l->cfg.rto_ns << RTO_MAX_SHIFT)
				l->hs_backoff <<= 1;
			send_request(l);
		}
	} else {
		if (l->rto_deadline && t >= l->rto_deadline)
			on_timeout(l, t);
		if (l->probe_deadline && t >= l->probe_deadline)
			on_probe(l, t);
	}
	notify(l);
	link_flush(l);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t gsn_link_next_deadline(const struct gsn_link *l)
{
	uint64_t d = UINT64_MAX;

	if (l->state == GSN_LINK_DOWN)
		return d;
	if (l->ack_owed && l->ack_deadline)
		d = l->ack_deadline;
	if (l->state != GSN_LINK_UP)
		return min_u64(d, l->hs_deadline);
	if (l->rto_deadline)
		d = min_u64(d, l->rto_deadline);
	if (l->probe_deadline)
		d = min_u64(d, l->probe_deadline);
	if (l->pace_blocked && l->want)
		d = min_u64(d, l->pace_next); /* a whole burst is available again then */
	return d;
}

/* ---- queries ------------------------------------------------------------- */

enum gsn_link_state gsn_link_state(const struct gsn_link *l)
{
	return l->state;
}

void gsn_link_stats(const struct gsn_link *l, struct gsn_link_stats *st)
{
	*st = l->st;
	st->state = l->state;
	st->incarnation = l->cfg.incarnation;
	st->peer_incarnation = l->peer_inc;
	st->tseq = l->end;
	st->rseq = l->rseq;
	st->unacked = l->end - l->una;
	st->window = l->cfg.window;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		st->tx_credits[vc] = l->tx_credits[vc];
		st->rx_held[vc] = l->rx_buffered[vc];
		st->rx_return_pending[vc] = l->ret_pending[vc];
		uint32_t mine = l->rx_buffered[vc] + l->ret_pending[vc];
		st->rx_credits_out[vc] = mine < l->cfg.rx_credits[vc] ? l->cfg.rx_credits[vc] - mine : 0;
	}
	st->lcrc_errors = l->st.drops[GSN_LINK_DROP_LCRC];
}

const char *gsn_link_state_name(enum gsn_link_state s)
{
	switch (s) {
	case GSN_LINK_DOWN: return "DOWN";
	case GSN_LINK_INIT: return "INIT";
	case GSN_LINK_RESET: return "RESET";
	case GSN_LINK_UP: return "UP";
	}
	return "?";
}

const char *gsn_link_event_name(enum gsn_link_event ev)
{
	switch (ev) {
	case GSN_LINK_EV_UP: return "UP";
	case GSN_LINK_EV_RESET: return "RESET";
	case GSN_LINK_EV_DOWN: return "DOWN";
	}
	return "?";
}

const char *gsn_link_drop_name(enum gsn_link_drop d)
{
	static const char *const names[GSN_LINK_DROP_MAX] = {
		[GSN_LINK_DROP_MAGIC] = "bad_magic",
		[GSN_LINK_DROP_VERSION] = "bad_version",
		[GSN_LINK_DROP_LENGTH] = "bad_length",
		[GSN_LINK_DROP_HCRC] = "bad_header_check",
		[GSN_LINK_DROP_SEQ] = "seq_disagree",
		[GSN_LINK_DROP_LCRC] = "bad_lcrc",
		[GSN_LINK_DROP_RESERVED] = "reserved_type",
		[GSN_LINK_DROP_OUT_OF_SEQ] = "out_of_seq",
		[GSN_LINK_DROP_DUPLICATE] = "duplicate",
		[GSN_LINK_DROP_INCARNATION] = "wrong_incarnation",
		[GSN_LINK_DROP_OVERRUN] = "overrun",
		[GSN_LINK_DROP_STATE] = "bad_state",
		[GSN_LINK_DROP_STALE] = "stale",
	};
	return (unsigned)d < GSN_LINK_DROP_MAX ? names[d] : "?";
}
