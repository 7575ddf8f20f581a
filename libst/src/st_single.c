/* SPDX-License-Identifier: MIT */
/*
 * Single-use memory (docs/protocol.md "Single-use memory"): the write
 * Request_To_Send -> Clear_To_Send per Block -> Data, the read
 * Request_To_Receive -> Request_Answer -> Clear_To_Send -> Data, posted
 * receives and posted sources.
 *
 * Every transfer has a data sender and a data receiver:
 *
 *   st_send  (RTS initiator)   data sender   | RTS responder (posted receive)  data receiver
 *   st_read  (RTR initiator)   data receiver | RTR responder (posted source)   data sender
 *
 * The data receiver (struct su_rx) chooses the Blocksize, keeps a window of
 * Blocks with a CTS outstanding, a bitmap of the STUs of each of them, and
 * places the data.  The data sender (struct su_tx) answers each CTS with the
 * STUs of that Block.  Both directions use the same two sets of functions.
 *
 * Life of the requests (all are struct su_xfer):
 *   - st_post_recv / st_post_source: an ST_ROLE_LOCAL request queued in
 *     su.posted_recv / su.posted_source, no wire id.
 *   - An incoming RTS/RTR: an ST_ROLE_RESPONDER request (kind NONE, indexed by
 *     the peer's id).  If nothing is posted it waits in su.held_rts /
 *     su.held_rtr.  When it meets a posted buffer it takes over the posted
 *     request's buffer, user_ctx and kind (RECV/SOURCE); the posted request is
 *     freed.  Only then does it get our wire id (R_id).
 *   - st_send / st_read: an ST_ROLE_INITIATOR request; the wire id is assigned
 *     when the RTS/RTR first goes out (after a slot was granted).
 */
#include "st_int.h"

#define SU_NO_ID 0xFFFFFFFFu   /* D_id of an RTS/RTR: the responder has no id yet */
#define SU_MAX_WIN 64u         /* Blocks a data receiver keeps a CTS out for, at most */
#define SU_TX_RING 1024u       /* early CTSs a data sender buffers in in-order mode */
#define SU_MAX_BLOCK_LOG2 31u  /* largest Blocksize either side uses or accepts */
#define SU_STU_IDX_LOG2 16u    /* the STU index travels in the 16-bit Param */
#define SU_B_NUM_MAX UINT32_MAX

enum su_role {
	SU_POSTED, /* st_post_recv / st_post_source, waiting for an RTS / RTR */
	SU_SEND,   /* st_send: RTS initiator, data sender */
	SU_READ,   /* st_read: RTR initiator, data receiver */
	SU_RECV,   /* RTS responder (bound to a posted receive): data receiver */
	SU_SOURCE, /* RTR responder (bound to a posted source): data sender */
};

/* The data receiver: Blocks [lo, hi) have a CTS out; all below lo are complete. */
struct su_rx {
	uint64_t total;   /* bytes of the transfer */
	uint64_t nblocks;
	uint64_t lo, hi;
	uint64_t bytes;   /* placed so far */
	uint32_t win;     /* hi - lo never exceeds it */
	uint32_t words;   /* bitmap words per window slot */
	uint64_t *bits;   /* win slots of `words` words; Block b uses slot b % win */
	uint32_t *got;    /* STUs placed per slot */
	uint8_t blk_log2, stu_log2, buf_log2; /* ours: positions are by our Bufsize */
};

/* The data sender: positions and STUs are by the peer's Bufsize / Max_STU. */
struct su_tx {
	uint64_t total;
	uint64_t nblocks;  /* 0 until the first CTS fixes the Blocksize */
	uint64_t next;     /* in-order mode: the next Block to send */
	uint8_t blk_log2, stu_log2, buf_log2;
	bool sent_last;    /* the transfer's final STU went out at least once */
	uint64_t early[SU_TX_RING / 64]; /* CTSs for Blocks next+1 .. next+RING-1, by b % RING */
};

struct su_xfer {
	struct st_req req;         /* first: st_req_free hands destroy() this pointer */
	enum su_role role;
	bool bound;                /* responder: has a buffer; READ: accepted */
	bool early;                /* responder: in su.early, waiting for its predecessor */
	uint32_t prev_id;          /* back-link: id of the previous RTS/RTR on the VC (0: none) */
	struct st_region *region;  /* counted in region->users while set */
	uint64_t off, buf_len;     /* the local buffer */
	uint64_t t_len;            /* length asked for: our len, or the peer's T_len */
	uint64_t xfer_len;         /* length actually moved */
	uint16_t peer_cts;         /* responder: the peer's CTS_req */
	uint16_t peer_max_block;   /* responder: the peer's Max_Block (exp) */
	bool has_imm;
	uint32_t imm;
	struct su_rx rx;
	struct su_tx tx;
};

static const struct st_req_ops su_posted_ops, su_send_ops, su_read_ops, su_recv_ops,
	su_source_ops;

/* ---- small helpers ---------------------------------------------------------------- */

static struct su_xfer *su_of(struct st_req *req)
{
	return ST_CONTAINER_OF(req, struct su_xfer, req);
}

static uint64_t su_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t su_hi_lo(uint32_t hi, uint32_t lo)
{
	return (uint64_t)hi << 32 | lo;
}

static uint64_t su_mask(unsigned log2)
{
	return st_pow2(log2) - 1;
}

static bool su_bit(const uint64_t *bits, uint64_t i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

static void su_bit_set(uint64_t *bits, uint64_t i)
{
	bits[i / 64] |= 1ull << (i % 64);
}

static void su_bit_clear(uint64_t *bits, uint64_t i)
{
	bits[i / 64] &= ~(1ull << (i % 64));
}

static unsigned su_op_of(const struct su_xfer *x)
{
	return x->role == SU_RECV ? ST_OP_REQUEST_TO_SEND : ST_OP_REQUEST_TO_RECEIVE;
}

/* The "held" answer of a responder still waiting for a posted buffer (see
 * su_send_held): no Reject, no R_id, no length. */
static bool su_is_held_answer(const struct st_hdr *h)
{
	return !(h->flags & ST_FLAG_REJECT) && h->s_id == 0 && h->sync == 0 && h->b_num == 0;
}

/* A reject reason from the peer as the ULP sees it. */
static int su_reject_status(unsigned reason)
{
	switch (reason) {
	case ST_REJ_LENGTH:
		return ST_ERR_LENGTH;
	case ST_REJ_NOT_READY:
		return ST_ERR_NOT_READY;
	case ST_REJ_ABORTED:
		return ST_ERR_ABORTED;
	default:
		return ST_ERR_REMOTE_OP;
	}
}

/* ---- request lifetime ---------------------------------------------------------------- */

static struct su_xfer *su_new(st_engine *eng, struct st_vc *vc, const struct st_req_ops *ops,
			      enum st_req_kind kind, enum st_req_role role, uint64_t user_ctx,
			      enum su_role su_role, uint32_t peer_id)
{
	struct su_xfer *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->role = su_role;
	x->req.peer_id = peer_id; /* st_req_link indexes responders by it */
	if (st_req_link(eng, vc, &x->req, ops, kind, role, user_ctx)) {
		free(x);
		return NULL;
	}
	return x;
}

static void su_hold_region(struct su_xfer *x, struct st_region *r, uint64_t off, uint64_t len)
{
	x->region = r;
	x->off = off;
	x->buf_len = len;
	r->users++;
}

static void su_destroy(struct st_req *req)
{
	struct su_xfer *x = su_of(req);
	/* regions outlive requests (st_engine_destroy frees VCs first; deregister
	 * refuses while users > 0), so the pointer is still valid here */
	if (x->region)
		x->region->users--;
	free(x->rx.bits);
	free(x->rx.got);
	free(x);
}

static void su_emit_recv(st_engine *eng, struct su_xfer *x, int status, int reason, uint64_t len)
{
	struct st_event ev = {0};
	ev.type = ST_EV_RECV_COMPLETE;
	ev.kind = x->req.kind;
	ev.status = status;
	ev.reason = reason;
	ev.vc = x->req.vc->port;
	ev.user_ctx = x->req.user_ctx;
	ev.len = len;
	if (status == ST_OK && x->has_imm) {
		ev.value = x->imm;
		ev.has_value = true;
	}
	memcpy(ev.peer, x->req.vc->peer, ST_ULA_LEN);
	st_emit(eng, &ev);
}

/* Reports x's completion to the ULP (if it has one) and frees x.  Never sends. */
static void su_finish(st_engine *eng, struct su_xfer *x, int status, int reason, uint64_t len)
{
	switch (x->req.kind) {
	case ST_REQ_SEND:
	case ST_REQ_READ:
		st_req_complete(eng, &x->req, status, reason, len);
		break;
	case ST_REQ_RECV:
	case ST_REQ_SOURCE:
		su_emit_recv(eng, x, status, reason, len);
		break;
	default:
		break; /* a held RTS/RTR the ULP never saw */
	}
	st_req_free(eng, &x->req);
}

static void su_on_finish(st_engine *eng, struct st_req *req, int status)
{
	su_finish(eng, su_of(req), status, ST_REJ_NONE, 0);
}

static void su_no_timeout(st_engine *eng, struct st_req *req)
{
	(void)eng;
	(void)req; /* never armed */
}

/*
 * Rejects the peer's RTS/RTR peer_id and keeps the answer in the recent ring,
 * so a repeat of the request gets the same final answer (never a second
 * execution).  The ring copy mirrors what st_send_reject puts on the wire.
 */
static void su_reject_request(st_engine *eng, struct st_vc *vc, uint32_t peer_id, unsigned op,
			      enum st_reject_reason reason)
{
	st_send_reject(eng, vc, peer_id, op, reason);
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_REQUEST_ANSWER);
	h.flags = ST_FLAG_REJECT;
	h.param = (uint16_t)reason;
	h.b_id = (uint16_t)op;
	h.d_id = peer_id;
	st_recent_add(vc, peer_id, &h);
}

/* A responder that cannot go on: complete its ULP side (if bound) and reject
 * the peer's request. */
static void su_refuse(st_engine *eng, struct su_xfer *x, int status, enum st_reject_reason reason)
{
	struct st_vc *vc = x->req.vc;
	uint32_t peer_id = x->req.peer_id;
	unsigned op = su_op_of(x);
	su_finish(eng, x, status, ST_REJ_NONE, 0);
	su_reject_request(eng, vc, peer_id, op, reason);
}

/* ---- local argument checks ------------------------------------------------------------- */

static int su_check_local(st_engine *eng, uint16_t port, uint16_t mx, uint64_t off, uint64_t len,
			  struct st_vc **vc_out, struct st_region **r_out)
{
	int err;
	if (!eng)
		return -EINVAL;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_region *r = st_region_get(eng, mx);
	if (!r)
		return -ENOENT;
	if (len == 0)
		return -EINVAL;
	if (off > r->len || len > r->len - off)
		return -EINVAL; /* as st_mem.c: a local range that does not fit */
	*vc_out = vc;
	*r_out = r;
	return 0;
}

/*
 * The STU we send to the peer (exp), or -1.  The peer expects exactly
 * min(2^Max_STU, 2^Bufsize) per STU (docs/protocol.md), so when our data
 * channel or scratch buffer cannot carry that much we cannot send at all.
 */
static int su_tx_stu_log2(const st_engine *eng, const struct st_vc *vc)
{
	unsigned stu = vc->peer_max_stu_log2 < vc->peer_bufsize_log2 ? vc->peer_max_stu_log2
								     : vc->peer_bufsize_log2;
	if (stu > SU_MAX_BLOCK_LOG2 || st_pow2(stu) > st_vc_stu_max(eng, vc))
		return -1;
	return (int)stu;
}

/* ---- the data sender ---------------------------------------------------------------- */

static int su_tx_setup(st_engine *eng, struct su_xfer *x, uint64_t total)
{
	int stu = su_tx_stu_log2(eng, x->req.vc);
	if (stu < 0)
		return -EMSGSIZE;
	memset(&x->tx, 0, sizeof(x->tx));
	x->tx.total = total;
	x->tx.stu_log2 = (uint8_t)stu;
	x->tx.buf_log2 = x->req.vc->peer_bufsize_log2;
	return 0;
}

/* Sends Block b as Data STUs.  ST_OK, or ST_ERR_LOCAL when our memory failed. */
static int su_tx_block(st_engine *eng, struct su_xfer *x, uint64_t b)
{
	struct su_tx *t = &x->tx;
	uint64_t start = b << t->blk_log2;
	uint64_t end = su_min(start + st_pow2(t->blk_log2), t->total);
	uint64_t stu = st_pow2(t->stu_log2);
	uint32_t idx = 0;
	for (uint64_t pos = start; pos < end; pos += stu, idx++) {
		size_t n = (size_t)su_min(stu, end - pos);
		if (st_region_read(eng, x->region, x->off + pos, eng->scratch, n) != ST_OK)
			return ST_ERR_LOCAL;
		struct st_hdr h;
		st_hdr_for_vc(x->req.vc, &h, ST_OP_DATA);
		h.param = (uint16_t)idx;
		h.bufx = (uint32_t)(pos >> t->buf_log2);
		h.offset = (uint32_t)(pos & su_mask(t->buf_log2));
		h.sync = (uint32_t)start; /* F_Offset */
		h.b_num = (uint32_t)b;
		h.d_id = x->req.peer_id;
		h.s_id = x->req.id;
		if (pos + n == t->total) {
			h.flags |= ST_FLAG_LAST;
			t->sent_last = true;
		}
		struct iovec iov = {.iov_base = eng->scratch, .iov_len = n};
		st_send_hdr(eng, x->req.vc, &h, &iov, 1);
		st_count_bytes_sent(eng, x->req.vc, n);
	}
	return ST_OK;
}

/*
 * The Blocksize (exp) of a CTS and the Block count it implies, or false.  The
 * first accepted CTS fixes it; every later one must repeat it.
 */
static bool su_tx_blocksize(const struct su_tx *t, unsigned exp, uint64_t *nblocks)
{
	if (t->nblocks) {
		*nblocks = t->nblocks;
		return exp == t->blk_log2;
	}
	if (exp < t->stu_log2 || exp > SU_MAX_BLOCK_LOG2 || exp - t->stu_log2 > SU_STU_IDX_LOG2)
		return false;
	uint64_t last = (t->total - 1) >> exp;
	*nblocks = last + 1;
	return last <= SU_B_NUM_MAX;
}

/* Checks a CTS against the transfer; ST_DROP_REASONS when it is good. */
static enum st_drop_reason su_tx_check(const struct su_tx *t, const struct st_hdr *h)
{
	uint64_t nblocks;
	if (!su_tx_blocksize(t, h->param, &nblocks))
		return ST_DROP_BAD_PARAM;
	uint64_t b = h->b_num;
	if (b >= nblocks)
		return ST_DROP_BAD_RANGE;
	uint64_t pos = b << h->param;
	if (h->sync != (uint32_t)pos || h->bufx != (uint32_t)(pos >> t->buf_log2) ||
	    h->offset != (uint32_t)(pos & su_mask(t->buf_log2)))
		return ST_DROP_BAD_RANGE;
	return ST_DROP_REASONS;
}

/* The CTS lets us send its Block out of order, and we are willing to. */
static bool su_tx_ooo(const st_engine *eng, const struct st_hdr *h)
{
	return (h->flags & ST_FLAG_OUT_OF_ORDER) && eng->cfg.allow_out_of_order;
}

/* In-order mode: send b if it is next (and every buffered Block after it), else keep it. */
static int su_tx_in_order(st_engine *eng, struct su_xfer *x, uint64_t b)
{
	struct su_tx *t = &x->tx;
	if (b > t->next) {
		su_bit_set(t->early, b % SU_TX_RING);
		return ST_OK;
	}
	int rc = su_tx_block(eng, x, b);
	t->next++;
	while (rc == ST_OK && t->next < t->nblocks && su_bit(t->early, t->next % SU_TX_RING)) {
		su_bit_clear(t->early, t->next % SU_TX_RING);
		rc = su_tx_block(eng, x, t->next);
		t->next++;
	}
	return rc;
}

/* Checks a CTS for the data sender x (a drop is counted); fixes the Blocksize. */
static bool su_tx_accept(st_engine *eng, struct su_xfer *x, const struct st_hdr *h)
{
	struct su_tx *t = &x->tx;
	struct st_vc *vc = x->req.vc;
	enum st_drop_reason why = su_tx_check(t, h);
	if (why != ST_DROP_REASONS) {
		st_count_drop(eng, vc, why);
		return false;
	}
	uint64_t b = h->b_num;
	if (!su_tx_ooo(eng, h) && b > t->next && b - t->next >= SU_TX_RING) {
		st_count_drop(eng, vc, ST_DROP_RESOURCES); /* the receiver repeats it */
		return false;
	}
	if (!t->nblocks) {
		t->blk_log2 = (uint8_t)h->param;
		t->nblocks = ((t->total - 1) >> h->param) + 1;
	}
	return true;
}

/* Serves an accepted CTS: its Block now, or in B_num order.  ST_OK or ST_ERR_LOCAL. */
static int su_tx_serve(st_engine *eng, struct su_xfer *x, const struct st_hdr *h)
{
	uint64_t b = h->b_num;
	/* a repeated CTS for a Block already sent asks for it again at once */
	if (su_tx_ooo(eng, h) || b < x->tx.next)
		return su_tx_block(eng, x, b);
	return su_tx_in_order(eng, x, b);
}

/* ---- the data receiver ------------------------------------------------------------------ */

/*
 * Chooses the Blocksize for total bytes (min of the sender's Max_Block and
 * ours, at least one STU, at most 2^16 STUs and 2^31 bytes, and large enough
 * that B_num fits 32 bits) and allocates the window's bitmaps.
 * 0, -EMSGSIZE (transfer too long to describe) or -ENOMEM.
 */
static int su_rx_setup(st_engine *eng, struct su_xfer *x, uint64_t total, unsigned max_block,
		       unsigned cts)
{
	const struct st_config *c = &eng->cfg;
	struct su_rx *r = &x->rx;
	unsigned stu = c->max_stu_log2 < c->bufsize_log2 ? c->max_stu_log2 : c->bufsize_log2;
	unsigned top = stu + SU_STU_IDX_LOG2 < SU_MAX_BLOCK_LOG2 ? stu + SU_STU_IDX_LOG2
								 : SU_MAX_BLOCK_LOG2;
	unsigned blk = max_block < c->block_log2 ? max_block : c->block_log2;
	if (blk < stu)
		blk = stu;
	if (blk > top)
		blk = top;
	while (((total - 1) >> blk) > SU_B_NUM_MAX && blk < top)
		blk++;
	if (((total - 1) >> blk) > SU_B_NUM_MAX)
		return -EMSGSIZE;
	r->total = total;
	r->blk_log2 = (uint8_t)blk;
	r->stu_log2 = (uint8_t)stu;
	r->buf_log2 = c->bufsize_log2;
	r->nblocks = ((total - 1) >> blk) + 1;
	r->lo = r->hi = r->bytes = 0;
	r->win = (uint32_t)su_min(cts ? cts : 1, SU_MAX_WIN);
	r->win = (uint32_t)su_min(r->win, r->nblocks);
	r->words = (uint32_t)((st_pow2(blk - stu) + 63) / 64);
	r->bits = calloc((size_t)r->win * r->words, sizeof(*r->bits));
	r->got = calloc(r->win, sizeof(*r->got));
	if (!r->bits || !r->got)
		return -ENOMEM; /* su_destroy frees what was allocated */
	/* Request_State_Response reports on the most recent incoming transfer */
	x->req.vc->su.b_seq_id = x->req.id;
	x->req.vc->su.last_b_seq = 0;
	return 0;
}

static uint32_t su_rx_block_stus(const struct su_rx *r, uint64_t b)
{
	uint64_t len = su_min(st_pow2(r->blk_log2), r->total - (b << r->blk_log2));
	return (uint32_t)((len + su_mask(r->stu_log2)) >> r->stu_log2);
}

static uint64_t *su_rx_bitmap(struct su_rx *r, uint64_t b)
{
	return r->bits + (size_t)(b % r->win) * r->words;
}

static bool su_rx_block_done(const struct su_rx *r, uint64_t b)
{
	return r->got[b % r->win] == su_rx_block_stus(r, b);
}

static void su_rx_send_cts(st_engine *eng, struct su_xfer *x, uint64_t b)
{
	struct su_rx *r = &x->rx;
	uint64_t pos = b << r->blk_log2;
	struct st_hdr h;
	st_hdr_for_vc(x->req.vc, &h, ST_OP_CLEAR_TO_SEND);
	h.param = r->blk_log2;
	h.bufx = (uint32_t)(pos >> r->buf_log2);
	h.offset = (uint32_t)(pos & su_mask(r->buf_log2));
	h.sync = (uint32_t)pos; /* F_Offset */
	h.b_num = (uint32_t)b;
	h.d_id = x->req.peer_id;
	h.s_id = x->req.id;
	if (eng->cfg.allow_out_of_order)
		h.flags |= ST_FLAG_OUT_OF_ORDER;
	st_send_hdr(eng, x->req.vc, &h, NULL, 0);
}

/* Issues CTSs until the window is full or every Block has had one. */
static void su_rx_fill(st_engine *eng, struct su_xfer *x)
{
	struct su_rx *r = &x->rx;
	while (r->hi < r->nblocks && r->hi - r->lo < r->win) {
		uint64_t b = r->hi++;
		memset(su_rx_bitmap(r, b), 0, (size_t)r->words * sizeof(*r->bits));
		r->got[b % r->win] = 0;
		su_rx_send_cts(eng, x, b);
	}
}

/* Repeats the CTS of every outstanding Block that is not complete. */
static void su_rx_resend(st_engine *eng, struct su_xfer *x)
{
	struct su_rx *r = &x->rx;
	for (uint64_t b = r->lo; b < r->hi; b++)
		if (!su_rx_block_done(r, b))
			su_rx_send_cts(eng, x, b);
}

/* Checks a Data STU against the window; ST_DROP_REASONS when it may be placed. */
static enum st_drop_reason su_rx_check(struct su_rx *r, const struct st_hdr *h, size_t len,
				       uint64_t *pos_out)
{
	uint64_t b = h->b_num;
	if (b >= r->nblocks)
		return ST_DROP_BAD_RANGE;
	if (b < r->lo)
		return ST_DROP_DUPLICATE; /* the whole Block is in */
	if (b >= r->hi)
		return ST_DROP_BAD_RANGE; /* no CTS for it yet */
	if (h->param >= su_rx_block_stus(r, b))
		return ST_DROP_BAD_RANGE;
	uint64_t start = b << r->blk_log2;
	uint64_t pos = start + ((uint64_t)h->param << r->stu_log2);
	if (h->sync != (uint32_t)start)
		return ST_DROP_BAD_PARAM;
	if (h->bufx != (uint32_t)(pos >> r->buf_log2) ||
	    h->offset != (uint32_t)(pos & su_mask(r->buf_log2)))
		return ST_DROP_BAD_RANGE;
	/* every STU is full but the transfer's last: the length is exact */
	if (len != su_min(st_pow2(r->stu_log2), r->total - pos))
		return ST_DROP_BAD_PARAM;
	if ((pos & su_mask(r->buf_log2)) + len > st_pow2(r->buf_log2))
		return ST_DROP_BAD_RANGE; /* would cross our buffer boundary */
	if (su_bit(su_rx_bitmap(r, b), h->param))
		return ST_DROP_DUPLICATE;
	*pos_out = pos;
	return ST_DROP_REASONS;
}

enum su_rx_result {
	SU_RX_DROPPED, /* counted */
	SU_RX_PLACED,
	SU_RX_BLOCK,   /* a Block completed (and the window moved on if it could) */
	SU_RX_DONE,    /* every byte is in */
	SU_RX_FAILED,  /* our memory refused the write */
};

/* Marks Block bookkeeping after an STU of Block b was placed. */
static enum su_rx_result su_rx_account(st_engine *eng, struct su_xfer *x, uint64_t b)
{
	struct su_rx *r = &x->rx;
	struct st_vc *vc = x->req.vc;
	if (!su_rx_block_done(r, b))
		return SU_RX_PLACED;
	while (r->lo < r->hi && su_rx_block_done(r, r->lo))
		r->lo++;
	if (r->lo > 0 && vc->su.b_seq_id == x->req.id)
		vc->su.last_b_seq = (uint32_t)(r->lo - 1);
	if (r->lo == r->nblocks)
		return SU_RX_DONE;
	su_rx_fill(eng, x);
	return SU_RX_BLOCK;
}

/* A Data STU for the data receiver x (D_id already matched by the core). */
static enum su_rx_result su_rx_on_data(st_engine *eng, struct su_xfer *x, const struct st_hdr *h,
				       const uint8_t *payload, size_t len)
{
	struct su_rx *r = &x->rx;
	struct st_vc *vc = x->req.vc;
	uint64_t pos = 0;
	enum st_drop_reason why = !x->bound || h->s_id != x->req.peer_id
					  ? ST_DROP_NO_TRANSFER
					  : su_rx_check(r, h, len, &pos);
	if (why != ST_DROP_REASONS) {
		st_count_drop(eng, vc, why);
		return SU_RX_DROPPED;
	}
	if (st_region_write(eng, x->region, x->off + pos, payload, len) != ST_OK)
		return SU_RX_FAILED;
	uint64_t b = h->b_num;
	su_bit_set(su_rx_bitmap(r, b), h->param);
	r->got[b % r->win]++;
	r->bytes += len;
	st_count_bytes_received(eng, vc, len);
	return su_rx_account(eng, x, b);
}

/* ---- st_send: the RTS initiator (data sender) ------------------------------------------- */

/* Sends (or repeats) our RTS/RTR and arms the retransmit timer. */
static void su_send_request(st_engine *eng, struct su_xfer *x)
{
	bool rts = x->role == SU_SEND;
	struct st_hdr h;
	st_hdr_for_vc(x->req.vc, &h, rts ? ST_OP_REQUEST_TO_SEND : ST_OP_REQUEST_TO_RECEIVE);
	h.param = eng->cfg.cts_req;
	h.b_id = eng->cfg.block_log2; /* Max_Block */
	h.sync = (uint32_t)(x->t_len >> 32);
	h.b_num = (uint32_t)x->t_len;
	h.offset = x->prev_id; /* ours: the back-link that keeps matching in sending order */
	h.d_id = SU_NO_ID;
	h.s_id = x->req.id;
	if (rts && x->has_imm) {
		h.flags |= ST_FLAG_INTERRUPT;
		h.bufx = x->imm;
	}
	if (rts && eng->cfg.allow_out_of_order)
		h.flags |= ST_FLAG_OUT_OF_ORDER;
	st_send_hdr(eng, x->req.vc, &h, NULL, 0);
	st_req_arm(eng, &x->req);
}

/* The responder holds our RTS/RTR until its ULP posts a buffer: it is alive,
 * so the retry budget starts again (the RTS/RTR keeps being repeated). */
static void su_initiator_held(struct st_req *req)
{
	struct su_xfer *x = su_of(req);
	if (req->peer_id || x->bound)
		return; /* late: the transfer has moved on */
	req->tries = 0;
}

/*
 * First transmission: the wire id, and the back-link to our previous RTS (or
 * RTR) on this VC, so the responder matches them to its posted buffers in the
 * order we sent them even when the network reorders or loses some.
 */
static int su_first_send(st_engine *eng, struct su_xfer *x)
{
	if (st_req_assign_id(eng, &x->req))
		return -ENOMEM;
	struct st_su_vc *su = &x->req.vc->su;
	uint32_t *last = x->role == SU_SEND ? &su->last_rts_id : &su->last_rtr_id;
	x->prev_id = *last;
	*last = x->req.id;
	su_send_request(eng, x);
	return 0;
}

/* A slot was granted to a queued st_send / st_read: it goes on the wire now. */
static void su_on_slot(st_engine *eng, struct st_req *req)
{
	if (su_first_send(eng, su_of(req)))
		su_finish(eng, su_of(req), ST_ERR_LOCAL, ST_REJ_NONE, 0);
}

static void su_send_on_timeout(st_engine *eng, struct st_req *req)
{
	/* whatever the phase, the RTS asks again: the responder answers with its
	 * outstanding CTSs or (from the recent ring) its final answer */
	if (st_req_retry_or_fail(eng, req))
		su_send_request(eng, su_of(req));
}

/*
 * Our memory failed while we were serving the peer's CTS: the transfer is
 * over on our side; the peer's request for it (h->s_id) is rejected so it
 * does not wait for Data forever.
 */
static void su_fail_on_cts(st_engine *eng, struct su_xfer *x, const struct st_hdr *h)
{
	struct st_vc *vc = x->req.vc;
	su_finish(eng, x, ST_ERR_LOCAL, ST_REJ_NONE, 0);
	st_send_reject(eng, vc, h->s_id, ST_OP_CLEAR_TO_SEND, ST_REJ_RESOURCES);
}

static void su_send_on_cts(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct su_xfer *x = su_of(req);
	if (h->s_id == 0 || (req->peer_id && h->s_id != req->peer_id)) {
		st_count_drop(eng, req->vc, ST_DROP_NO_TRANSFER);
		return;
	}
	if (!su_tx_accept(eng, x, h))
		return;
	bool first = req->peer_id == 0;
	req->peer_id = h->s_id; /* R_id: the D_id of our Data */
	if (su_tx_serve(eng, x, h) != ST_OK) {
		su_fail_on_cts(eng, x, h);
		return;
	}
	if (first)
		st_slot_release(eng, req); /* the first CTS frees the slot */
	/* The peer answered: the retry budget detects a silent peer (docs: a
	 * request "still unanswered after its last retry"), not a lossy one --
	 * a Block may need several rounds, and only the receiver sees its STUs
	 * fill in. */
	req->tries = 0;
	st_req_arm(eng, req);
}

static void su_send_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct su_xfer *x = su_of(req);
	if (h->flags & ST_FLAG_REJECT) {
		su_finish(eng, x, su_reject_status(h->param), h->param, 0);
		return;
	}
	if (su_is_held_answer(h)) {
		su_initiator_held(req);
		return;
	}
	uint64_t n = su_hi_lo(h->sync, h->b_num);
	if (n != x->t_len || (req->peer_id && h->s_id != req->peer_id)) {
		st_count_drop(eng, req->vc, ST_DROP_BAD_PARAM);
		return;
	}
	su_finish(eng, x, ST_OK, ST_REJ_NONE, n);
}

/* Common start of st_send / st_read: the request exists, now a slot and the wire. */
static int su_start_initiator(st_engine *eng, struct su_xfer *x)
{
	if (!st_slot_acquire(eng, &x->req))
		return 0; /* on_slot sends it */
	if (su_first_send(eng, x)) {
		st_req_free(eng, &x->req);
		return -ENOMEM;
	}
	return 0;
}

int st_send(st_engine *eng, uint16_t port, uint16_t local_mx, uint64_t local_off, uint64_t len,
	    bool has_imm, uint32_t imm, uint64_t user_ctx)
{
	struct st_vc *vc = NULL;
	struct st_region *r = NULL;
	int err = su_check_local(eng, port, local_mx, local_off, len, &vc, &r);
	if (err)
		return err;
	if (su_tx_stu_log2(eng, vc) < 0)
		return -EMSGSIZE;
	struct su_xfer *x =
		su_new(eng, vc, &su_send_ops, ST_REQ_SEND, ST_ROLE_INITIATOR, user_ctx, SU_SEND, 0);
	if (!x)
		return -ENOMEM;
	su_hold_region(x, r, local_off, len);
	x->t_len = x->xfer_len = len;
	x->has_imm = has_imm;
	x->imm = imm;
	su_tx_setup(eng, x, len);
	return su_start_initiator(eng, x);
}

/* ---- st_read: the RTR initiator (data receiver) ------------------------------------------ */

/* All data is in: complete the read, then the final answer frees the source. */
static void su_read_done(st_engine *eng, struct su_xfer *x)
{
	struct st_hdr a;
	st_hdr_for_vc(x->req.vc, &a, ST_OP_REQUEST_ANSWER);
	a.sync = (uint32_t)(x->rx.total >> 32);
	a.b_num = (uint32_t)x->rx.total;
	a.d_id = x->req.peer_id; /* R_id */
	a.s_id = x->req.id;
	st_send_hdr(eng, x->req.vc, &a, NULL, 0);
	su_finish(eng, x, ST_OK, ST_REJ_NONE, x->rx.total);
}

/* We cannot continue a read the responder accepted: tell its transfer R_id. */
static void su_read_fail(st_engine *eng, struct su_xfer *x, unsigned op)
{
	struct st_vc *vc = x->req.vc;
	uint32_t r_id = x->req.peer_id;
	su_finish(eng, x, ST_ERR_LOCAL, ST_REJ_NONE, 0);
	st_send_reject(eng, vc, r_id, op, ST_REJ_RESOURCES);
}

static void su_read_on_timeout(st_engine *eng, struct st_req *req)
{
	struct su_xfer *x = su_of(req);
	if (!st_req_retry_or_fail(eng, req))
		return;
	if (!x->bound) {
		su_send_request(eng, x); /* the accept has not arrived: repeat the RTR */
		return;
	}
	su_rx_resend(eng, x);
	st_req_arm(eng, req);
}

/* The responder accepted: it will send n bytes; issue the first CTSs. */
static void su_read_accepted(st_engine *eng, struct su_xfer *x, const struct st_hdr *h, uint64_t n)
{
	struct st_req *req = &x->req;
	req->peer_id = h->s_id;
	st_slot_release(eng, req); /* the accepting answer frees the slot */
	/* ours: the accept's B_id carries the responder's Max_Block (0: none) */
	unsigned max_block = h->b_id ? h->b_id : eng->cfg.block_log2;
	if (su_rx_setup(eng, x, n, max_block, eng->cfg.cts_req)) {
		su_read_fail(eng, x, ST_OP_REQUEST_ANSWER);
		return;
	}
	x->bound = true;
	x->xfer_len = n;
	req->tries = 0;
	su_rx_fill(eng, x);
	st_req_arm(eng, req);
}

static void su_read_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct su_xfer *x = su_of(req);
	if (h->flags & ST_FLAG_REJECT) {
		su_finish(eng, x, su_reject_status(h->param), h->param, 0);
		return;
	}
	if (su_is_held_answer(h)) {
		su_initiator_held(req);
		return;
	}
	if (x->bound) {
		st_count_drop(eng, req->vc, ST_DROP_DUPLICATE); /* a repeated accept */
		return;
	}
	uint64_t n = su_hi_lo(h->sync, h->b_num);
	if (h->s_id == 0 || n == 0 || n > x->t_len) {
		st_count_drop(eng, req->vc, ST_DROP_BAD_PARAM);
		return;
	}
	su_read_accepted(eng, x, h, n);
}

static void su_read_on_data(st_engine *eng, struct st_req *req, const struct st_hdr *h,
			    const uint8_t *payload, size_t len)
{
	struct su_xfer *x = su_of(req);
	switch (su_rx_on_data(eng, x, h, payload, len)) {
	case SU_RX_DONE:
		su_read_done(eng, x);
		break;
	case SU_RX_FAILED:
		su_read_fail(eng, x, ST_OP_DATA);
		break;
	case SU_RX_BLOCK:
	case SU_RX_PLACED:
		/* new bytes are progress: the budget starts again and the timer
		 * measures silence (duplicates alone never extend the read) */
		req->tries = 0;
		st_req_arm(eng, req);
		break;
	case SU_RX_DROPPED:
		break;
	}
}

int st_read(st_engine *eng, uint16_t port, uint16_t local_mx, uint64_t local_off, uint64_t len,
	    uint64_t user_ctx)
{
	struct st_vc *vc = NULL;
	struct st_region *r = NULL;
	int err = su_check_local(eng, port, local_mx, local_off, len, &vc, &r);
	if (err)
		return err;
	struct su_xfer *x =
		su_new(eng, vc, &su_read_ops, ST_REQ_READ, ST_ROLE_INITIATOR, user_ctx, SU_READ, 0);
	if (!x)
		return -ENOMEM;
	su_hold_region(x, r, local_off, len);
	x->t_len = len;
	return su_start_initiator(eng, x);
}

/* ---- the RTS responder (posted receive, data receiver) ------------------------------------ */

/* Every byte is in: complete the receive, answer the RTS and remember the answer. */
static void su_recv_done(st_engine *eng, struct su_xfer *x)
{
	struct st_vc *vc = x->req.vc;
	struct st_hdr a;
	st_hdr_for_vc(vc, &a, ST_OP_REQUEST_ANSWER);
	a.sync = (uint32_t)(x->rx.total >> 32);
	a.b_num = (uint32_t)x->rx.total;
	a.d_id = x->req.peer_id; /* I_id */
	a.s_id = x->req.id;
	uint32_t peer_id = x->req.peer_id;
	su_finish(eng, x, ST_OK, ST_REJ_NONE, x->rx.total);
	st_send_hdr(eng, vc, &a, NULL, 0);
	st_recent_add(vc, peer_id, &a);
}

static void su_recv_on_data(st_engine *eng, struct st_req *req, const struct st_hdr *h,
			    const uint8_t *payload, size_t len)
{
	struct su_xfer *x = su_of(req);
	switch (su_rx_on_data(eng, x, h, payload, len)) {
	case SU_RX_DONE:
		su_recv_done(eng, x);
		break;
	case SU_RX_FAILED:
		su_refuse(eng, x, ST_ERR_LOCAL, ST_REJ_RESOURCES);
		break;
	default:
		break;
	}
}

/* Only a Reject makes sense here: the sender no longer knows our CTS's transfer. */
static void su_recv_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	if (!(h->flags & ST_FLAG_REJECT)) {
		st_count_drop(eng, req->vc, ST_DROP_BAD_PARAM);
		return;
	}
	su_finish(eng, su_of(req), su_reject_status(h->param), h->param, 0);
}

/* Bound RTS: first CTSs out, and with them the peer's slot is free again. */
static void su_recv_start(st_engine *eng, struct su_xfer *x)
{
	int rc = su_rx_setup(eng, x, x->t_len, x->peer_max_block, x->peer_cts);
	if (rc) {
		bool too_long = rc == -EMSGSIZE;
		su_refuse(eng, x, too_long ? ST_ERR_LENGTH : ST_ERR_LOCAL,
			  too_long ? ST_REJ_LENGTH : ST_REJ_RESOURCES);
		return;
	}
	x->xfer_len = x->t_len;
	su_rx_fill(eng, x);
	st_peer_slot_give(x->req.vc, &x->req);
}

/* ---- the RTR responder (posted source, data sender) ------------------------------------- */

/*
 * The responder runs no retransmit timer, but it must not keep a source
 * forever when the reader's final answer is lost or the reader went away:
 * after (retries + 1) operation timeouts without a CTS or a repeated RTR the
 * source completes (see su_source_on_timeout).
 */
static void su_source_linger(st_engine *eng, struct su_xfer *x)
{
	uint64_t span = (uint64_t)(eng->cfg.retries + 1) * eng->cfg.op_timeout_ns;
	st_timer_arm(eng, &x->req.timer, st_now(eng) + span);
}

/* (Re)sends the accepting answer: D_id = I_id, S_id = R_id, the length we send. */
static void su_source_accept(st_engine *eng, struct su_xfer *x)
{
	struct st_hdr a;
	st_hdr_for_vc(x->req.vc, &a, ST_OP_REQUEST_ANSWER);
	a.b_id = eng->cfg.block_log2; /* ours: our Max_Block, like an RTS's */
	a.sync = (uint32_t)(x->xfer_len >> 32);
	a.b_num = (uint32_t)x->xfer_len;
	a.d_id = x->req.peer_id;
	a.s_id = x->req.id;
	st_send_hdr(eng, x->req.vc, &a, NULL, 0);
	su_source_linger(eng, x);
}

static void su_source_start(st_engine *eng, struct su_xfer *x)
{
	x->xfer_len = su_min(x->t_len, x->buf_len);
	if (su_tx_setup(eng, x, x->xfer_len)) {
		su_refuse(eng, x, ST_ERR_LOCAL, ST_REJ_BAD_PARAM);
		return;
	}
	su_source_accept(eng, x);
	st_peer_slot_give(x->req.vc, &x->req); /* the accept frees the peer's slot */
}

static void su_source_on_cts(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct su_xfer *x = su_of(req);
	if (!x->bound || h->s_id != req->peer_id) {
		st_count_drop(eng, req->vc, ST_DROP_NO_TRANSFER);
		return;
	}
	if (!su_tx_accept(eng, x, h))
		return;
	if (su_tx_serve(eng, x, h) != ST_OK) {
		su_fail_on_cts(eng, x, h);
		return;
	}
	su_source_linger(eng, x);
}

/* The reader's final answer (or its Reject) ends the source. */
static void su_source_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct su_xfer *x = su_of(req);
	if (h->flags & ST_FLAG_REJECT) {
		su_finish(eng, x, su_reject_status(h->param), h->param, 0);
		return;
	}
	if (h->s_id != req->peer_id) {
		st_count_drop(eng, req->vc, ST_DROP_NO_TRANSFER);
		return;
	}
	su_finish(eng, x, ST_OK, ST_REJ_NONE, x->xfer_len);
}

/*
 * The reader was silent for (retries + 1) timeouts.  A reader still missing
 * data would have repeated its CTSs within one timeout, so once every Block
 * went out the final answer was lost (OK); otherwise it gave up (TIMEOUT).
 * Either way only the source ends: the VC is the reader's to tear down.
 */
static void su_source_on_timeout(st_engine *eng, struct st_req *req)
{
	struct su_xfer *x = su_of(req);
	const struct su_tx *t = &x->tx;
	bool all_sent = t->sent_last && t->nblocks && (t->next == t->nblocks ||
							eng->cfg.allow_out_of_order);
	su_finish(eng, x, all_sent ? ST_OK : ST_ERR_TIMEOUT, ST_REJ_NONE,
		  all_sent ? x->xfer_len : 0);
}

/* ---- incoming RTS / RTR ------------------------------------------------------------------- */

/* x (an RTS/RTR) meets the posted buffer p: x takes over p's buffer and ULP identity. */
static void su_bind(st_engine *eng, struct su_xfer *x, struct su_xfer *p)
{
	if (x->role == SU_RECV && x->t_len > p->buf_len) {
		su_finish(eng, p, ST_ERR_LENGTH, ST_REJ_LENGTH, 0); /* the receive is consumed */
		su_refuse(eng, x, ST_ERR_LENGTH, ST_REJ_LENGTH);
		return;
	}
	x->region = p->region;
	p->region = NULL; /* the count in region->users moves with it */
	x->off = p->off;
	x->buf_len = p->buf_len;
	x->req.user_ctx = p->req.user_ctx;
	x->req.kind = p->req.kind;
	st_req_free(eng, &p->req);
	x->bound = true;
	if (st_req_assign_id(eng, &x->req)) {
		su_refuse(eng, x, ST_ERR_LOCAL, ST_REJ_RESOURCES);
		return;
	}
	if (x->role == SU_RECV)
		su_recv_start(eng, x);
	else
		su_source_start(eng, x);
}

/*
 * Ours (docs/protocol.md is silent): a repeated RTS/RTR we hold for want of a
 * posted buffer is answered "held" -- Request_Answer without Reject, S_id 0,
 * Sync:B_num 0 (a real answer always carries R_id and a length >= 1).  The
 * initiator keeps its slot and request but restarts its retry budget, so a
 * live peer that posts late does not get the VC torn down, while a dead one
 * still does.
 */
static void su_send_held(st_engine *eng, struct su_xfer *x)
{
	struct st_hdr a;
	st_hdr_for_vc(x->req.vc, &a, ST_OP_REQUEST_ANSWER);
	a.b_id = (uint16_t)su_op_of(x);
	a.d_id = x->req.peer_id;
	st_send_hdr(eng, x->req.vc, &a, NULL, 0);
}

/*
 * Ours: an RTS/RTR carries in Offset the id of the peer's previous one of the
 * same kind (0: none).  We match it to a posted buffer only after that one was
 * matched (or refused), so buffers are consumed in the peer's sending order.
 * A predecessor that never arrives either arrives later (the peer repeats it)
 * or was ended -- the core marks an ended id as seen, and the successor is
 * looked at again when it is repeated.
 */
static bool su_waits_for_prev(struct st_vc *vc, const struct su_xfer *x)
{
	if (x->prev_id == 0)
		return false;
	if (st_idwin_classify(&vc->peer_win, x->prev_id) == ST_ID_NEW)
		return true; /* not here yet (an id the window slid past counts as gone) */
	struct st_req *p = st_idmap_get(&vc->remote, x->prev_id);
	return p && p->ops == x->req.ops && su_of(p)->early;
}

/* Matches an in-order RTS/RTR: the next posted buffer, else NOT_READY or hold. */
static void su_match(st_engine *eng, struct su_xfer *x)
{
	struct st_vc *vc = x->req.vc;
	bool rts = x->role == SU_RECV;
	struct st_req *p = st_queue_pop(rts ? &vc->su.posted_recv : &vc->su.posted_source);
	if (p)
		su_bind(eng, x, su_of(p));
	else if (eng->cfg.reject_when_not_ready)
		su_refuse(eng, x, ST_ERR_NOT_READY, ST_REJ_NOT_READY);
	else
		st_queue_push(rts ? &vc->su.held_rts : &vc->su.held_rtr, &x->req);
}

/* The early request whose predecessor is prev_id, or NULL. */
static struct su_xfer *su_successor(struct st_vc *vc, uint32_t prev_id, const struct st_req_ops *ops)
{
	for (struct st_req *r = vc->su.early.head; r; r = r->q_next)
		if (r->ops == ops && su_of(r)->prev_id == prev_id)
			return su_of(r);
	return NULL;
}

/* Matches x, then every early request that was waiting for it, in chain order. */
static void su_match_chain(st_engine *eng, struct su_xfer *x)
{
	struct st_vc *vc = x->req.vc;
	const struct st_req_ops *ops = x->req.ops;
	while (x) {
		uint32_t id = x->req.peer_id; /* x may be gone after matching */
		su_match(eng, x);
		x = su_successor(vc, id, ops);
		if (x) {
			st_queue_remove(&x->req);
			x->early = false;
		}
	}
}

/* A new RTS/RTR: matched now, or parked until its predecessor has been. */
static void su_admit(st_engine *eng, struct su_xfer *x)
{
	if (su_waits_for_prev(x->req.vc, x)) {
		x->early = true;
		st_queue_push(&x->req.vc->su.early, &x->req);
		return;
	}
	su_match_chain(eng, x);
}

/* The peer repeated an RTS/RTR we still hold state for. */
static void su_on_repeat(st_engine *eng, struct su_xfer *x)
{
	if (x->early && !su_waits_for_prev(x->req.vc, x)) {
		/* the predecessor was ended meanwhile (End marks its id as seen) */
		st_queue_remove(&x->req);
		x->early = false;
		su_match_chain(eng, x);
		return;
	}
	if (!x->bound) {
		su_send_held(eng, x); /* still waiting for its turn or a buffer */
		return;
	}
	if (x->role == SU_RECV)
		su_rx_resend(eng, x);
	else
		su_source_accept(eng, x);
}

/* Id window check; true when h is a new request to execute (its id is now marked). */
static bool su_request_is_new(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
			      const struct st_req_ops *ops)
{
	switch (st_idwin_classify(&vc->peer_win, h->s_id)) {
	case ST_ID_NEW:
		st_idwin_mark(&vc->peer_win, h->s_id);
		return true;
	case ST_ID_SEEN:
	case ST_ID_STALE:
		break; /* the floor slides past contiguous ids: a live request may be either */
	}
	struct st_req *r = st_idmap_get(&vc->remote, h->s_id);
	if (r && r->ops == ops) {
		su_on_repeat(eng, su_of(r));
		return false;
	}
	if (!st_recent_resend(eng, vc, h->s_id))
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
	return false;
}

static void su_on_request(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
			  enum su_role role)
{
	const struct st_req_ops *ops = role == SU_RECV ? &su_recv_ops : &su_source_ops;
	unsigned op = h->op;
	if (h->s_id == 0) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM); /* no id to answer to */
		return;
	}
	if (!su_request_is_new(eng, vc, h, ops))
		return;
	uint64_t t_len = su_hi_lo(h->sync, h->b_num);
	if (t_len == 0 || h->d_id != SU_NO_ID) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		su_reject_request(eng, vc, h->s_id, op, ST_REJ_BAD_PARAM);
		return;
	}
	if (!st_peer_slot_take(vc, NULL)) {
		st_count_drop(eng, vc, ST_DROP_NO_SLOTS);
		su_reject_request(eng, vc, h->s_id, op, ST_REJ_NO_SLOTS);
		return;
	}
	struct su_xfer *x = su_new(eng, vc, ops, ST_REQ_NONE, ST_ROLE_RESPONDER, 0, role, h->s_id);
	if (!x) {
		st_count_drop(eng, vc, ST_DROP_RESOURCES);
		su_reject_request(eng, vc, h->s_id, op, ST_REJ_RESOURCES);
		return;
	}
	st_peer_slot_take(vc, &x->req); /* cannot fail: checked above */
	x->t_len = t_len;
	x->peer_cts = h->param;
	x->peer_max_block = h->b_id;
	if (role == SU_RECV && (h->flags & ST_FLAG_INTERRUPT)) {
		x->has_imm = true;
		x->imm = h->bufx;
	}
	x->prev_id = h->offset;
	su_admit(eng, x);
}

void st_su_on_rts(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	su_on_request(eng, vc, h, SU_RECV);
}

void st_su_on_rtr(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	su_on_request(eng, vc, h, SU_SOURCE);
}

/* ---- posted receives and sources ------------------------------------------------------------ */

static int su_post(st_engine *eng, uint16_t port, uint16_t mx, uint64_t off, uint64_t len,
		   uint64_t user_ctx, enum st_req_kind kind)
{
	struct st_vc *vc = NULL;
	struct st_region *r = NULL;
	int err = su_check_local(eng, port, mx, off, len, &vc, &r);
	if (err)
		return err;
	if (kind == ST_REQ_SOURCE && su_tx_stu_log2(eng, vc) < 0)
		return -EMSGSIZE;
	struct su_xfer *p = su_new(eng, vc, &su_posted_ops, kind, ST_ROLE_LOCAL, user_ctx,
				   SU_POSTED, 0);
	if (!p)
		return -ENOMEM;
	su_hold_region(p, r, off, len);
	bool recv = kind == ST_REQ_RECV;
	struct st_req *x = st_queue_pop(recv ? &vc->su.held_rts : &vc->su.held_rtr);
	if (x)
		su_bind(eng, su_of(x), p); /* the oldest held request takes it */
	else
		st_queue_push(recv ? &vc->su.posted_recv : &vc->su.posted_source, &p->req);
	return 0;
}

int st_post_recv(st_engine *eng, uint16_t port, uint16_t local_mx, uint64_t local_off,
		 uint64_t len, uint64_t user_ctx)
{
	return su_post(eng, port, local_mx, local_off, len, user_ctx, ST_REQ_RECV);
}

int st_post_source(st_engine *eng, uint16_t port, uint16_t local_mx, uint64_t local_off,
		   uint64_t len, uint64_t user_ctx)
{
	return su_post(eng, port, local_mx, local_off, len, user_ctx, ST_REQ_SOURCE);
}

/* ---- per-VC state ------------------------------------------------------------------------------ */

void st_su_vc_init(struct st_vc *vc)
{
	memset(&vc->su, 0, sizeof(vc->su));
}

/* The queued requests belong to vc->reqs, which the core has emptied (flush or
 * st_req_free) before it releases the VC: nothing of ours is left to free. */
void st_su_vc_release(st_engine *eng, struct st_vc *vc)
{
	(void)eng;
	memset(&vc->su, 0, sizeof(vc->su));
}

uint32_t st_su_b_seq(const struct st_vc *vc)
{
	return vc->su.last_b_seq;
}

/* ---- operation tables --------------------------------------------------------------------------- */

static const struct st_req_ops su_posted_ops = {
	.on_timeout = su_no_timeout,
	.on_finish = su_on_finish,
	.destroy = su_destroy,
};

static const struct st_req_ops su_send_ops = {
	.on_timeout = su_send_on_timeout,
	.on_slot = su_on_slot,
	.on_answer = su_send_on_answer,
	.on_cts = su_send_on_cts,
	.on_finish = su_on_finish,
	.destroy = su_destroy,
};

static const struct st_req_ops su_read_ops = {
	.on_timeout = su_read_on_timeout,
	.on_slot = su_on_slot,
	.on_answer = su_read_on_answer,
	.on_data = su_read_on_data,
	.on_finish = su_on_finish,
	.destroy = su_destroy,
};

static const struct st_req_ops su_recv_ops = {
	.on_timeout = su_no_timeout,
	.on_answer = su_recv_on_answer,
	.on_data = su_recv_on_data,
	.on_finish = su_on_finish,
	.destroy = su_destroy,
};

static const struct st_req_ops su_source_ops = {
	.on_timeout = su_source_on_timeout,
	.on_answer = su_source_on_answer,
	.on_cts = su_source_on_cts,
	.on_finish = su_on_finish,
	.destroy = su_destroy,
};
