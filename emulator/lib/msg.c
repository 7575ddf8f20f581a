/* SPDX-License-Identifier: MIT */
/*
 * GSN Messages over a link: segmentation with per-VC queues, round-robin
 * pumping, ECRC, and reassembly with budgeted credit return.  See msg.h.
 */
#include "msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/crc32c.h>
#include <gsn/wire_bytes.h>

#define COMP "msg"
#define MPKT GSN_MPKT_DATA
#define VC3_DEFAULT_MAX 32768u
#define SEND_BATCH 64u /* micropackets handed to the link per call */

/*
 * Transmit queue of one VC: a ring of micropacket data slots and, beside
 * it, each micropacket's ECRC, computed when its Message is queued.
 */
struct msg_txq {
	uint8_t (*slot)[MPKT];
	uint16_t *ecrc;
	uint32_t mask;       /* ring size - 1; slot == NULL until first use */
	uint32_t limit;      /* configured size (power of 2) */
	uint32_t head, tail; /* free-running */
	uint32_t nm, sent;   /* current Message: micropackets, already sent */
	bool blocked;        /* refused by the link; waiting for tx_ready */
	uint32_t want;       /* micropackets a refused send needed */
};

enum rx_state { RX_IDLE = 0, RX_ACTIVE, RX_DISCARD };

struct msg_rxs {
	enum rx_state state;
	uint8_t *buf;
	size_t cap;        /* bytes */
	uint32_t nm, got;  /* micropackets expected, received */
	bool error;
	uint32_t used, held, unreleased;
};

struct admin_ent {
	uint8_t vc;
	uint8_t data[MPKT];
};

struct gsn_msg {
	struct gsn_msg_config cfg;
	struct gsn_msg_ops ops;
	struct gsn_link *link;
	struct msg_txq tx[GSN_VC_COUNT];
	unsigned rr;
	struct admin_ent *adm;
	uint32_t adm_head, adm_tail;
	bool adm_blocked, adm_want;
	bool pumping;
	uint32_t link_events; /* counts the link's events (a run stops at one) */
	struct msg_rxs rx[GSN_VC_COUNT];
	struct gsn_msg_stats st;
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n && p < 0x80000000u)
		p <<= 1;
	return p;
}

static uint32_t vc_limit_mpkts(unsigned vc)
{
	return (uint32_t)(gsn_vc_max_message_bytes(vc) / MPKT);
}

/* ---- configuration, life cycle ------------------------------------------- */

void gsn_msg_config_default(struct gsn_msg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		uint32_t max = vc == 3 ? VC3_DEFAULT_MAX : vc_limit_mpkts(vc);

		cfg->rx_max_mpkts[vc] = max;
		cfg->rx_budget_mpkts[vc] = 2 * max;
		cfg->tx_queue_mpkts[vc] = vc == 3 ? 2 * VC3_DEFAULT_MAX : 2 * max;
	}
	cfg->admin_queue = 32;
}

int gsn_msg_create(const struct gsn_msg_config *cfg, struct gsn_link *link,
		   const struct gsn_msg_ops *ops, struct gsn_msg **out)
{
	if (!cfg || !link || !ops || !out || !cfg->admin_queue)
		return -EINVAL;
	struct gsn_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->ops = *ops;
	m->link = link;
	m->cfg.admin_queue = pow2_at_least(cfg->admin_queue);
	m->adm = calloc(m->cfg.admin_queue, sizeof(*m->adm));
	if (!m->adm) {
		free(m);
		return -ENOMEM;
	}
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		uint32_t max = cfg->rx_max_mpkts[vc];

		if (!max || max > vc_limit_mpkts(vc))
			m->cfg.rx_max_mpkts[vc] = max = vc_limit_mpkts(vc);
		if (m->cfg.rx_budget_mpkts[vc] < max)
			m->cfg.rx_budget_mpkts[vc] = max;
		m->tx[vc].limit = pow2_at_least(cfg->tx_queue_mpkts[vc] ? cfg->tx_queue_mpkts[vc] : 1);
	}
	*out = m;
	return 0;
}

void gsn_msg_destroy(struct gsn_msg *m)
{
	if (!m)
		return;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		free(m->tx[vc].slot);
		free(m->tx[vc].ecrc);
		free(m->rx[vc].buf);
	}
	free(m->adm);
	free(m);
}

void gsn_msg_set_ula(struct gsn_msg *m, const uint8_t ula[GSN_ULA_LEN])
{
	memcpy(m->cfg.ula, ula, GSN_ULA_LEN);
}

uint32_t gsn_msg_mpkts(size_t pdu_len)
{
	if (pdu_len > UINT32_MAX - GSN_MSG_SNAP_LEN)
		return UINT32_MAX;
	return gsn_message_mpkt_count((uint32_t)pdu_len + GSN_MSG_SNAP_LEN);
}

void gsn_msg_flush(struct gsn_msg *m)
{
	gsn_link_flush(m->link);
}

/* ---- transmit: the pump -------------------------------------------------- */

static uint32_t txq_used(const struct msg_txq *q)
{
	return q->tail - q->head;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * Hands the next micropackets of vc's queue to the link, at most max and
 * never past the end of the current Message or of the ring.  Returns how
 * many the link took, or its error.
 */
static int send_run(struct gsn_msg *m, unsigned vc, uint32_t max)
{
	struct msg_txq *q = &m->tx[vc];
	uint32_t idx = q->head & q->mask;
	uint64_t words[SEND_BATCH];

	if (!q->sent)
		q->nm = gsn_message_mpkt_count(gsn_get_be32(q->slot[idx] + 12));
	uint32_t n = min_u32(min_u32(q->nm - q->sent, q->limit - idx), min_u32(max, SEND_BATCH));

	for (uint32_t i = 0; i < n; i++)
		words[i] = (uint64_t)GSN_MPKT_T_DATA << 58 | (uint64_t)q->ecrc[idx + i] << 16;
	if (!q->sent)
		words[0] ^= (uint64_t)(GSN_MPKT_T_DATA ^ GSN_MPKT_T_HEADER) << 58;
	if (q->sent + n == q->nm)
		words[n - 1] |= 1ull << 57; /* TAIL */
	int k = gsn_link_send_run(m->link, vc, words, q->slot[idx], n);
	if (k <= 0)
		return k;
	m->st.tx_mpkts += (uint32_t)k;
	q->head += (uint32_t)k;
	q->sent += (uint32_t)k;
	if (q->sent == q->nm) {
		const uint8_t *h = q->slot[(q->head - q->nm) & q->mask];

		m->st.tx_msgs[vc]++;
		m->st.tx_bytes[vc] += gsn_get_be32(h + 12) - GSN_MSG_SNAP_LEN;
		q->sent = 0;
	}
	return k;
}

static void pump_admin(struct gsn_msg *m)
{
	while (!m->adm_blocked && m->adm_head != m->adm_tail) {
		struct admin_ent *e = &m->adm[m->adm_head & (m->cfg.admin_queue - 1)];
		struct gsn_mpkt_ctl c = {.vc = e->vc, .type = GSN_MPKT_T_ADMIN};

		if (gsn_link_send(m->link, &c, e->data)) {
			m->adm_blocked = true;
			return;
		}
		m->adm_head++;
		m->st.admin_tx++;
	}
}

static bool txq_ready(const struct msg_txq *q)
{
	return !q->blocked && q->head != q->tail;
}

/*
 * The rounds of pump_queues() when vc is the only VC with something to
 * send: its micropackets go in runs, and rr moves as those rounds would
 * have moved it (one per micropacket sent, one for the round that ends).
 */
static void pump_one_vc(struct gsn_msg *m, unsigned vc)
{
	struct msg_txq *q = &m->tx[vc];
	uint32_t rounds = 1;

	while (q->head != q->tail) {
		int k = send_run(m, vc, SEND_BATCH);

		if (k <= 0) {
			q->blocked = true;
			break;
		}
		rounds += (uint32_t)k;
	}
	m->rr = (m->rr + rounds % GSN_VC_COUNT) % GSN_VC_COUNT;
}

/* One micropacket per VC per round, VCs in turn, until nothing moves. */
static void pump_queues(struct gsn_msg *m)
{
	bool moved = true;

	while (moved) {
		unsigned ready = 0, last = 0;

		for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
			if (txq_ready(&m->tx[vc])) {
				ready++;
				last = vc;
			}
		}
		if (ready == 1) {
			pump_one_vc(m, last);
			return;
		}
		moved = false;
		for (unsigned i = 0; i < GSN_VC_COUNT; i++) {
			unsigned vc = (m->rr + i) % GSN_VC_COUNT;
			struct msg_txq *q = &m->tx[vc];

			if (!txq_ready(q))
				continue;
			if (send_run(m, vc, 1) <= 0)
				q->blocked = true;
			else
				moved = true;
		}
		m->rr = (m->rr + 1) % GSN_VC_COUNT;
	}
}

static void notify_space(struct gsn_msg *m)
{
	for (unsigned vc = 0; vc < GSN_VC_COUNT && m->ops.tx_space; vc++) {
		struct msg_txq *q = &m->tx[vc];

		if (q->want && q->limit - txq_used(q) >= q->want) {
			q->want = 0;
			m->ops.tx_space(m->ops.ctx, vc);
		}
	}
	if (m->adm_want && m->adm_tail - m->adm_head < m->cfg.admin_queue) {
		m->adm_want = false;
		if (m->ops.tx_space)
			m->ops.tx_space(m->ops.ctx, 1);
	}
}

static void pump(struct gsn_msg *m)
{
	if (m->pumping)
		return;
	m->pumping = true;
	pump_admin(m);
	pump_queues(m);
	m->pumping = false;
	notify_space(m);
}

/* ---- transmit: queueing -------------------------------------------------- */

struct iov_cursor {
	const struct iovec *iov;
	int cnt;
	size_t off;
};

/* Copies up to n bytes of the PDU into dst, zero-filling past its end. */
static void iov_take(struct iov_cursor *cur, uint8_t *dst, size_t n)
{
	while (n && cur->cnt) {
		size_t avail = cur->iov->iov_len - cur->off;
		size_t k = avail < n ? avail : n;

		if (k)
			memcpy(dst, (const uint8_t *)cur->iov->iov_base + cur->off, k);
		dst += k;
		n -= k;
		cur->off += k;
		if (cur->off == cur->iov->iov_len) {
			cur->iov++;
			cur->cnt--;
			cur->off = 0;
		}
	}
	memset(dst, 0, n);
}

static int iov_length(const struct iovec *iov, int iovcnt, size_t *len)
{
	size_t n = 0;

	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		if (iov[i].iov_len > UINT32_MAX - GSN_MSG_SNAP_LEN - n)
			return -EMSGSIZE;
		n += iov[i].iov_len;
	}
	*len = n;
	return 0;
}

static int txq_alloc(struct msg_txq *q)
{
	if (q->slot)
		return 0;
	q->slot = malloc((size_t)q->limit * MPKT);
	q->ecrc = malloc((size_t)q->limit * sizeof(*q->ecrc));
	if (!q->slot || !q->ecrc) {
		free(q->slot);
		free(q->ecrc);
		q->slot = NULL;
		q->ecrc = NULL;
		return -ENOMEM;
	}
	q->mask = q->limit - 1;
	return 0;
}

/* Slots [from, from + n) of the ring as at most two contiguous pieces. */
static uint32_t txq_run(const struct msg_txq *q, uint32_t from, uint32_t n)
{
	return min_u32(n, q->limit - (from & q->mask));
}

static void txq_write(struct gsn_msg *m, struct msg_txq *q, const uint8_t dst[GSN_ULA_LEN],
		      uint16_t ethertype, uint32_t m_len, uint32_t nm, struct iov_cursor *cur)
{
	struct gsn_msg_hdr h = {.m_len = m_len, .ethertype = ethertype};
	uint32_t e = 0;

	memcpy(h.d_ula, dst, GSN_ULA_LEN);
	memcpy(h.s_ula, m->cfg.ula, GSN_ULA_LEN);
	iov_take(cur, h.pdu, GSN_MSG_PDU_IN_HDR);
	gsn_msg_hdr_encode(&h, q->slot[q->tail & q->mask]);
	/* the rest of the PDU straight into the slots, zero padding included */
	for (uint32_t i = 1, run; i < nm; i += run) {
		run = txq_run(q, q->tail + i, nm - i);
		iov_take(cur, q->slot[(q->tail + i) & q->mask], (size_t)run * MPKT);
	}
	for (uint32_t i = 0, run; i < nm; i += run) {
		uint32_t idx = (q->tail + i) & q->mask;

		run = txq_run(q, idx, nm - i);
		e = gsn_ecrc_run(e, q->slot[idx], run, &q->ecrc[idx]);
	}
	q->tail += nm;
}

int gsn_msg_send(struct gsn_msg *m, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
		 uint16_t ethertype, const struct iovec *iov, int iovcnt)
{
	size_t len;

	if (vc >= GSN_VC_COUNT || !dst)
		return -EINVAL;
	int rc = iov_length(iov, iovcnt, &len);
	if (rc)
		return rc;
	uint32_t m_len = (uint32_t)len + GSN_MSG_SNAP_LEN;
	if (!gsn_message_fits_vc(vc, m_len))
		return -EMSGSIZE;
	struct msg_txq *q = &m->tx[vc];
	uint32_t nm = gsn_message_mpkt_count(m_len);
	if (nm > q->limit)
		return -EMSGSIZE;
	if ((rc = txq_alloc(q)))
		return rc;
	if (nm > q->limit - txq_used(q)) {
		q->want = nm;
		m->st.tx_eagain++;
		return -EAGAIN;
	}
	struct iov_cursor cur = {.iov = iov, .cnt = iovcnt};
	txq_write(m, q, dst, ethertype, m_len, nm, &cur);
	pump(m);
	return 0;
}

int gsn_msg_send_admin(struct gsn_msg *m, unsigned vc, const uint8_t data[32])
{
	if (vc >= GSN_VC_COUNT || !data)
		return -EINVAL;
	if (m->adm_tail - m->adm_head >= m->cfg.admin_queue) {
		m->adm_want = true;
		return -EAGAIN;
	}
	struct admin_ent *e = &m->adm[m->adm_tail++ & (m->cfg.admin_queue - 1)];
	e->vc = (uint8_t)vc;
	memcpy(e->data, data, MPKT);
	pump(m);
	return 0;
}

void gsn_msg_link_tx_ready(struct gsn_msg *m, unsigned vc)
{
	if (vc < GSN_VC_COUNT)
		m->tx[vc].blocked = false;
	m->adm_blocked = false;
	pump(m);
}

/* ---- receive: credits ---------------------------------------------------- */

/* Returns held credits while the VC is within its budget. */
static void unhold(struct gsn_msg *m, unsigned vc)
{
	struct msg_rxs *r = &m->rx[vc];
	uint32_t charged = r->used - r->held;
	uint32_t budget = m->cfg.rx_budget_mpkts[vc];
	uint32_t room = budget > charged ? budget - charged : 0;
	uint32_t n = r->held < room ? r->held : room;

	if (n) {
		r->held -= n;
		gsn_link_consumed(m->link, vc, n);
	}
}

/* One more micropacket in memory: its credit goes back at once while within budget. */
static void take_credit(struct gsn_msg *m, unsigned vc)
{
	struct msg_rxs *r = &m->rx[vc];

	r->used++;
	if (!r->held && r->used <= m->cfg.rx_budget_mpkts[vc]) { /* unhold()'s answer */
		gsn_link_consumed(m->link, vc, 1);
		return;
	}
	r->held++;
	unhold(m, vc);
}

/* n micropackets of vc are no longer in memory. */
static void free_mpkts(struct gsn_msg *m, unsigned vc, uint32_t n)
{
	struct msg_rxs *r = &m->rx[vc];

	r->used -= n < r->used ? n : r->used;
	if (r->held > r->used) {
		gsn_link_consumed(m->link, vc, r->held - r->used);
		r->held = r->used;
	}
	unhold(m, vc);
}

void gsn_msg_release(struct gsn_msg *m, unsigned vc, uint32_t nmpkts)
{
	if (vc >= GSN_VC_COUNT)
		return;
	struct msg_rxs *r = &m->rx[vc];
	uint32_t n = nmpkts < r->unreleased ? nmpkts : r->unreleased;

	r->unreleased -= n;
	free_mpkts(m, vc, n);
}

/* ---- receive: reassembly ------------------------------------------------- */

static void count_drop(struct gsn_msg *m, unsigned vc, enum gsn_msg_drop why)
{
	m->st.drops[why]++;
	if (why == GSN_MSG_DROP_ECRC)
		m->st.ecrc_errors++;
	GSN_DBG(m->cfg.log, COMP, "%s: vc%u discard %s", m->cfg.name ? m->cfg.name : "msg", vc,
		gsn_msg_drop_name(why));
}

static void discard_partial(struct gsn_msg *m, unsigned vc, enum gsn_msg_drop why)
{
	struct msg_rxs *r = &m->rx[vc];

	count_drop(m, vc, why);
	free_mpkts(m, vc, r->got);
	r->got = 0;
	r->state = RX_IDLE;
}

/* Drops this micropacket and the rest of its Message (up to TAIL). */
static void discard_from(struct gsn_msg *m, unsigned vc, const struct gsn_mpkt_ctl *c,
			 enum gsn_msg_drop why)
{
	count_drop(m, vc, why);
	gsn_link_consumed(m->link, vc, 1);
	m->rx[vc].state = c->tail ? RX_IDLE : RX_DISCARD;
}

static bool for_us(const struct gsn_msg *m, const uint8_t d[GSN_ULA_LEN])
{
	return m->cfg.promiscuous || gsn_ula_is_group(d) || gsn_ula_equal(d, m->cfg.ula);
}

static void complete(struct gsn_msg *m, unsigned vc, const struct gsn_mpkt_ctl *c)
{
	struct msg_rxs *r = &m->rx[vc];
	size_t bytes = (size_t)r->nm * MPKT;

	if (r->error) {
		discard_partial(m, vc, GSN_MSG_DROP_ERROR_BIT);
		return;
	}
	if (r->got != r->nm) {
		discard_partial(m, vc, GSN_MSG_DROP_LENGTH);
		return;
	}
	if (c->ecrc != gsn_ecrc_value(gsn_crc32c(0, r->buf, bytes))) {
		discard_partial(m, vc, GSN_MSG_DROP_ECRC);
		return;
	}
	uint32_t nm = r->nm;
	size_t len = gsn_get_be32(r->buf + 12) - GSN_MSG_SNAP_LEN;
	r->state = RX_IDLE;
	r->got = 0;
	m->st.rx_msgs[vc]++;
	m->st.rx_bytes[vc] += len;
	bool done = true;
	if (m->ops.deliver)
		done = m->ops.deliver(m->ops.ctx, vc, r->buf + GSN_ULA_LEN, r->buf,
				      gsn_get_be16(r->buf + 22), r->buf + GSN_MSG_PDU_OFFSET, len);
	if (done) {
		free_mpkts(m, vc, nm);
	} else {
		r->unreleased += nm;
	}
}

static int rx_reserve(struct msg_rxs *r, size_t bytes)
{
	if (r->cap >= bytes)
		return 0;
	uint8_t *b = realloc(r->buf, bytes);
	if (!b)
		return -ENOMEM;
	r->buf = b;
	r->cap = bytes;
	return 0;
}

static void rx_header(struct gsn_msg *m, unsigned vc, const struct gsn_mpkt_ctl *c,
		      const uint8_t data[32])
{
	struct msg_rxs *r = &m->rx[vc];
	struct gsn_msg_hdr h;

	if (r->state == RX_ACTIVE)
		discard_partial(m, vc, GSN_MSG_DROP_NO_TAIL);
	r->state = RX_IDLE;
	if (gsn_msg_hdr_decode(data, MPKT, &h)) {
		discard_from(m, vc, c, GSN_MSG_DROP_BAD_HEADER);
		return;
	}
	uint32_t nm = gsn_message_mpkt_count(h.m_len);
	if (!gsn_message_fits_vc(vc, h.m_len) || nm > m->cfg.rx_max_mpkts[vc]) {
		discard_from(m, vc, c, GSN_MSG_DROP_TOO_BIG);
		return;
	}
	if (!for_us(m, h.d_ula)) {
		discard_from(m, vc, c, GSN_MSG_DROP_NOT_FOR_US);
		return;
	}
	if (rx_reserve(r, (size_t)nm * MPKT)) {
		discard_from(m, vc, c, GSN_MSG_DROP_NOMEM);
		return;
	}
	memcpy(r->buf, data, MPKT);
	r->nm = nm;
	r->got = 1;
	r->error = c->error;
	r->state = RX_ACTIVE;
	take_credit(m, vc);
	if (c->tail)
		complete(m, vc, c);
}

static void rx_data(struct gsn_msg *m, unsigned vc, const struct gsn_mpkt_ctl *c,
		    const uint8_t data[32])
{
	struct msg_rxs *r = &m->rx[vc];

	switch (r->state) {
	case RX_IDLE:
		discard_from(m, vc, c, GSN_MSG_DROP_NO_HEADER);
		return;
	case RX_DISCARD:
		gsn_link_consumed(m->link, vc, 1);
		if (c->tail)
			r->state = RX_IDLE;
		return;
	case RX_ACTIVE:
		break;
	}
	if (r->got == r->nm) { /* longer than M_len says */
		discard_partial(m, vc, GSN_MSG_DROP_LENGTH);
		gsn_link_consumed(m->link, vc, 1);
		r->state = c->tail ? RX_IDLE : RX_DISCARD;
		return;
	}
	memcpy(r->buf + (size_t)r->got * MPKT, data, MPKT);
	r->got++;
	r->error |= c->error;
	take_credit(m, vc);
	if (c->tail)
		complete(m, vc, c);
}

/* Everything but the middle of a Message (gsn_msg_link_rx()). */
__attribute__((noinline)) static void rx_other(struct gsn_msg *m, const struct gsn_mpkt_ctl *c,
					       const uint8_t data[32])
{
	unsigned vc = c->vc;

	if (c->type == GSN_MPKT_T_ADMIN) {
		m->st.admin_rx++;
		if (m->ops.admin)
			m->ops.admin(m->ops.ctx, c, data);
		gsn_link_consumed(m->link, vc, 1);
		return;
	}
	if (c->type == GSN_MPKT_T_HEADER)
		rx_header(m, vc, c, data);
	else
		rx_data(m, vc, c, data);
}

/*
 * Per micropacket.  The common case, a DATA in the middle of a Message
 * being reassembled, is handled here without the rest of the state machine.
 */
void gsn_msg_link_rx(struct gsn_msg *m, const struct gsn_mpkt_ctl *c, const uint8_t data[32])
{
	unsigned vc = c->vc % GSN_VC_COUNT;
	struct msg_rxs *r = &m->rx[vc];

	m->st.rx_mpkts++;
	if (c->type != GSN_MPKT_T_DATA || c->tail || r->state != RX_ACTIVE || r->got >= r->nm) {
		rx_other(m, c, data);
		return;
	}
	memcpy(r->buf + (size_t)r->got * MPKT, data, MPKT);
	r->got++;
	r->error |= c->error;
	take_credit(m, vc);
}

/*
 * How many micropackets from mp (n of them) are DATA without TAIL on vc
 * that the Message being reassembled there still has room for.
 */
static size_t middle_run(const struct msg_rxs *r, unsigned vc, const uint8_t *mp, size_t n)
{
	/* VC and TYPE in control-word bits 63..58, TAIL in bit 57 */
	const uint64_t mask = 0xfeull << 56, want = (uint64_t)(vc << 4 | GSN_MPKT_T_DATA) << 58;
	size_t room = r->state == RX_ACTIVE ? r->nm - r->got : 0, k = 0;

	if (room)
		room--; /* the TAIL is left to gsn_msg_link_rx() */
	while (k < n && k < room && (gsn_mpkt_ctl_word(mp + k * GSN_MPKT_LEN) & mask) == want)
		k++;
	return k;
}

/* k micropackets more in memory: take_credit() k times, with one call to the link. */
static void take_credits(struct gsn_msg *m, unsigned vc, size_t k)
{
	struct msg_rxs *r = &m->rx[vc];

	if (!r->held && r->used + k <= m->cfg.rx_budget_mpkts[vc]) {
		r->used += (uint32_t)k;
		gsn_link_consumed(m->link, vc, (unsigned)k);
		return;
	}
	while (k--)
		take_credit(m, vc);
}

void gsn_msg_link_rx_run(struct gsn_msg *m, const uint8_t *mpkts, size_t n)
{
	uint32_t events = m->link_events;

	/* as the link's own delivery, stop when a callback restarted or stopped it */
	while (n && m->link_events == events) {
		unsigned vc = mpkts[0] >> 6; /* control word bits 63..62 */
		struct msg_rxs *r = &m->rx[vc];
		size_t k = middle_run(r, vc, mpkts, n);

		if (!k) {
			struct gsn_mpkt_ctl c;

			gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mpkts), &c);
			gsn_msg_link_rx(m, &c, mpkts + GSN_MPKT_CTL_LEN);
			mpkts += GSN_MPKT_LEN;
			n--;
			continue;
		}
		uint8_t *dst = r->buf + (size_t)r->got * MPKT;
		bool error = false;

		for (size_t i = 0; i < k; i++, dst += MPKT, mpkts += GSN_MPKT_LEN) {
			error |= (mpkts[0] & 1) != 0; /* ERROR, control word bit 56 */
			memcpy(dst, mpkts + GSN_MPKT_CTL_LEN, MPKT);
		}
		m->st.rx_mpkts += k;
		r->got += (uint32_t)k;
		r->error |= error;
		take_credits(m, vc, k);
		n -= k;
	}
}

/* ---- link events --------------------------------------------------------- */

static void reset_vc(struct gsn_msg *m, unsigned vc)
{
	struct msg_rxs *r = &m->rx[vc];
	struct msg_txq *q = &m->tx[vc];

	if (r->state == RX_ACTIVE)
		discard_partial(m, vc, GSN_MSG_DROP_RESET);
	r->state = RX_IDLE;
	if (q->sent) { /* the rest of a Message whose start is gone */
		q->head += q->nm - q->sent;
		q->sent = 0;
		m->st.tx_aborted++;
	}
	q->blocked = false;
}

void gsn_msg_link_event(struct gsn_msg *m, enum gsn_link_event ev, uint32_t peer_incarnation)
{
	m->link_events++;
	if (ev == GSN_LINK_EV_RESET || ev == GSN_LINK_EV_DOWN)
		for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
			reset_vc(m, vc);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		m->tx[vc].blocked = false;
	m->adm_blocked = false;
	if (m->ops.event)
		m->ops.event(m->ops.ctx, ev, peer_incarnation);
	pump(m);
}

/* ---- queries ------------------------------------------------------------- */

void gsn_msg_stats(const struct gsn_msg *m, struct gsn_msg_stats *st)
{
	*st = m->st;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		st->tx_queued[vc] = txq_used(&m->tx[vc]);
		st->rx_used[vc] = m->rx[vc].used;
		st->rx_held[vc] = m->rx[vc].held;
		st->rx_unreleased[vc] = m->rx[vc].unreleased;
	}
}

const char *gsn_msg_drop_name(enum gsn_msg_drop d)
{
	static const char *const names[GSN_MSG_DROP_MAX] = {
		[GSN_MSG_DROP_NO_HEADER] = "no_header",
		[GSN_MSG_DROP_BAD_HEADER] = "bad_header",
		[GSN_MSG_DROP_TOO_BIG] = "too_big",
		[GSN_MSG_DROP_LENGTH] = "length",
		[GSN_MSG_DROP_NO_TAIL] = "no_tail",
		[GSN_MSG_DROP_ERROR_BIT] = "error_bit",
		[GSN_MSG_DROP_ECRC] = "ecrc",
		[GSN_MSG_DROP_NOT_FOR_US] = "not_for_us",
		[GSN_MSG_DROP_RESET] = "reset",
		[GSN_MSG_DROP_NOMEM] = "nomem",
	};
	return (unsigned)d < GSN_MSG_DROP_MAX ? names[d] : "?";
}
