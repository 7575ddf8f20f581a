/* SPDX-License-Identifier: MIT */
/*
 * Persistent memory (docs/protocol.md, "Persistent memory").
 *
 * Initiator side: a per-VC cache of the peer's regions (rkey -> R_Mx, filled
 * by Request_Memory_Region -> Memory_Region_Available), and PUT, GET and
 * FETCHOP on top of it.  An operation on an rkey that is not cached yet waits
 * on the cache entry; the first one to ask sends the RMR.
 *
 * Responder side: exposing our regions to a VC, placing incoming PUTs (one
 * tracker per incomplete PUT), answering GETs with Data, and applying each
 * FETCHOP exactly once (the result is kept until fetchop-complete).
 *
 * Every request here embeds struct st_req as its first member: the core frees
 * a request through ops->destroy, which frees the whole allocation.
 */
#include "st_int.h"

#define MEM_PUTS_ACTIVE_MAX 1024u      /* our PUTs on the wire per VC; the rest queue */
#define MEM_TRACKERS_MAX 64u           /* the peer's incomplete PUTs per VC */
#define MEM_PUT_STUS_MAX (1u << 24)    /* B_num bound of one PUT */
#define MEM_FOP_KEPT_MAX 1024u         /* FETCHOP results kept per VC */
#define MEM_GET_LEN_MAX 65535u         /* T_len is 16 bits */
#define MEM_FOP_LEN 8u

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Length of the STU that starts at pos: at most stu and left, never across 2^bs. */
static uint64_t stu_len(uint64_t pos, uint64_t left, uint64_t stu, unsigned bs)
{
	uint64_t buf = st_pow2(bs);
	return min_u64(min_u64(left, stu), buf - (pos & (buf - 1)));
}

/* How many STUs stu_len() cuts [pos, pos + len) into (closed form of that loop). */
static uint64_t stu_count(uint64_t pos, uint64_t len, uint64_t stu, unsigned bs)
{
	uint64_t buf = st_pow2(bs);
	uint64_t head = buf - (pos & (buf - 1));
	if (len <= head)
		return div_up(len, stu);
	uint64_t rest = len - head;
	return div_up(head, stu) + rest / buf * div_up(buf, stu) + div_up(rest % buf, stu);
}

/* A byte position as Bufx:Offset in the memory of an owner with 2^bs buffers. */
static void hdr_set_pos(struct st_hdr *h, uint64_t pos, unsigned bs)
{
	h->bufx = (uint32_t)(pos >> bs);
	h->offset = (uint32_t)(pos & (st_pow2(bs) - 1));
}

static uint64_t hdr_pos(const struct st_hdr *h, unsigned bs)
{
	return ((uint64_t)h->bufx << bs) + h->offset;
}

/* 64-bit lengths travel in Sync (high) : B_num (low). */
static void hdr_set_len64(struct st_hdr *h, uint64_t v)
{
	h->sync = (uint32_t)(v >> 32);
	h->b_num = (uint32_t)v;
}

static uint64_t hdr_len64(const struct st_hdr *h)
{
	return (uint64_t)h->sync << 32 | h->b_num;
}

static bool range_fits(uint64_t total, uint64_t off, uint64_t len)
{
	return off <= total && len <= total - off;
}

/* Counts the clear bits of [from, from + n) and sets them when set is true. */
static uint64_t bits_fill(uint64_t *w, uint64_t from, uint64_t n, bool set)
{
	uint64_t clear = 0;
	while (n) {
		unsigned b = (unsigned)(from % 64);
		uint64_t take = min_u64(64 - b, n);
		uint64_t mask = (take == 64 ? ~0ull : ((1ull << take) - 1)) << b;
		clear += (uint64_t)__builtin_popcountll(mask & ~w[from / 64]);
		if (set)
			w[from / 64] |= mask;
		from += take;
		n -= take;
	}
	return clear;
}

/* What the ULP sees when the peer rejected one of our operations. */
static int reject_status(unsigned reason)
{
	switch (reason) {
	case ST_REJ_ACCESS:
	case ST_REJ_BAD_RANGE:
	case ST_REJ_BAD_KEY:
		return ST_ERR_REMOTE_ACCESS;
	default:
		return ST_ERR_REMOTE_OP;
	}
}

/* The drop counter that goes with a reject reason of ours. */
static enum st_drop_reason drop_for(enum st_reject_reason rej)
{
	switch (rej) {
	case ST_REJ_BAD_RANGE:
		return ST_DROP_BAD_RANGE;
	case ST_REJ_ACCESS:
	case ST_REJ_BAD_KEY:
		return ST_DROP_ACCESS;
	case ST_REJ_NO_SLOTS:
		return ST_DROP_NO_SLOTS;
	case ST_REJ_RESOURCES:
		return ST_DROP_RESOURCES;
	default:
		return ST_DROP_BAD_PARAM;
	}
}

/*
 * Drops the peer's request peer_id, counts it and answers with a Reject: its
 * final answer.  The id is marked arrived, as after any final answer, so it
 * never holds the window's floor back.  Requests that must not run twice (PUT,
 * FETCHOP) keep the Reject in the recent ring for their repeats; RMR and GET
 * are simply checked again.
 */
static void refuse(st_engine *eng, struct st_vc *vc, uint32_t peer_id, unsigned op,
		   enum st_reject_reason rej, bool keep)
{
	st_count_drop(eng, vc, drop_for(rej));
	st_send_reject(eng, vc, peer_id, op, rej);
	st_idwin_mark(&vc->peer_win, peer_id);
	if (keep) {
		struct st_hdr h; /* as st_send_reject built it */
		st_hdr_for_vc(vc, &h, ST_OP_REQUEST_ANSWER);
		h.flags = ST_FLAG_REJECT;
		h.param = (uint16_t)rej;
		h.b_id = (uint16_t)op;
		h.d_id = peer_id;
		st_recent_add(vc, peer_id, &h);
	}
}

/* ---- the cache of the peer's regions ------------------------------------------------ */

enum rk_state { RK_PENDING, RK_READY };

struct mem_rmr;

struct st_rkey_entry {
	struct st_rkey_entry *prev, *next; /* vc->mem.rkeys */
	uint64_t rkey;
	enum rk_state state;
	uint16_t rmx;                      /* READY: the peer's Mx */
	uint64_t rlen;                     /* READY: the region's length */
	uint64_t rbase;                    /* READY: its base address at the owner */
	struct st_req_queue waiters;       /* PENDING: operations waiting, in call order */
	struct mem_rmr *rmr;               /* PENDING: our Request_Memory_Region */
};

static struct st_rkey_entry *rk_find(const struct st_mem_vc *m, uint64_t rkey)
{
	return st_idmap_get(&m->rkeys_by_key, rkey);
}

static struct st_rkey_entry *rk_add(struct st_mem_vc *m, uint64_t rkey)
{
	struct st_rkey_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->rkey = rkey;
	if (st_idmap_put(&m->rkeys_by_key, rkey, e)) {
		free(e);
		return NULL;
	}
	e->next = m->rkeys;
	if (m->rkeys)
		m->rkeys->prev = e;
	m->rkeys = e;
	return e;
}

/* Unlinks and frees e; nothing may wait on it any more. */
static void rk_drop(struct st_mem_vc *m, struct st_rkey_entry *e)
{
	st_idmap_del(&m->rkeys_by_key, e->rkey);
	if (e->prev)
		e->prev->next = e->next;
	else
		m->rkeys = e->next;
	if (e->next)
		e->next->prev = e->prev;
	free(e);
}

/* ---- our operations: the common part ------------------------------------------------- */

enum op_state {
	OP_WAIT_KEY,  /* in the rkey entry's waiters */
	OP_WAIT_ROOM, /* PUT: in vc->mem.put_wait */
	OP_WAIT_SLOT, /* GET/FETCHOP: in the core's slot queue */
	OP_SENT,      /* on the wire, timer armed */
	OP_DONE,      /* FETCHOP: completed, lingering to answer repeated results */
};

/* st_region_request, st_put, st_get, st_fetchop. */
struct mem_op {
	struct st_req req;          /* first: destroy frees the whole op through it */
	enum op_state state;
	uint64_t rkey;
	uint16_t rmx;               /* the peer's Mx, once the rkey is cached */
	struct st_region *lr;       /* our source/sink, users held; NULL for none */
	uint64_t local_off, remote_off;
	uint64_t len;               /* REGION: the region's length once known */
	unsigned flags;             /* PUT: ST_RMA_* */
	uint32_t imm;               /* PUT: completion data */
	uint64_t *got;              /* GET: one bit per byte received */
	uint64_t received;          /* GET: bytes received */
	enum st_get_function fn;    /* FETCHOP */
	uint64_t operand, compare;  /* FETCHOP */
};

static struct mem_op *op_of(struct st_req *r)
{
	return ST_CONTAINER_OF(r, struct mem_op, req);
}

static void op_destroy(struct st_req *req)
{
	struct mem_op *op = op_of(req);
	free(op->got);
	free(op);
}

/* The ULP's event for op: REGION_EXPOSED for a region request, COMPLETE otherwise. */
static void op_emit(st_engine *eng, struct mem_op *op, int status, int reason,
		    const uint64_t *value)
{
	struct st_vc *vc = op->req.vc;
	struct st_event ev = {0};
	bool region = op->req.kind == ST_REQ_REGION;
	ev.type = region ? ST_EV_REGION_EXPOSED : ST_EV_COMPLETE;
	ev.kind = op->req.kind;
	ev.status = status;
	ev.reason = reason;
	ev.vc = vc->port;
	ev.user_ctx = op->req.user_ctx;
	ev.len = status == ST_OK ? op->len : 0;
	if (region) {
		ev.rkey = op->rkey;
		ev.offset = status == ST_OK ? op->remote_off : 0;
	}
	if (value) {
		ev.value = *value;
		ev.has_value = true;
	}
	memcpy(ev.peer, vc->peer, ST_ULA_LEN);
	st_emit(eng, &ev);
}

/* Returns the local region and the room on the wire, then frees op.  Emits nothing. */
static void op_free(st_engine *eng, struct mem_op *op)
{
	struct st_vc *vc = op->req.vc;
	if (op->lr) {
		op->lr->users--;
		op->lr = NULL;
	}
	if (op->req.kind == ST_REQ_PUT && op->state == OP_SENT)
		vc->mem.puts_active--;
	st_req_free(eng, &op->req); /* also returns a slot it held */
}

static void op_end(st_engine *eng, struct mem_op *op, int status, int reason)
{
	op_emit(eng, op, status, reason, NULL);
	op_free(eng, op);
}

/*
 * The peer rejected op.  ACCESS is also the answer to an Mx no longer exposed
 * to us (the region was deregistered or re-registered), so forget the cached
 * R_Mx: the next operation on that rkey asks for it again.  When the access
 * flag was really missing, that costs one more RMR round trip per failure.
 */
static void op_rejected(st_engine *eng, struct mem_op *op, unsigned reason)
{
	struct st_mem_vc *m = &op->req.vc->mem;
	if (reason == ST_REJ_ACCESS || reason == ST_REJ_BAD_KEY) {
		struct st_rkey_entry *e = rk_find(m, op->rkey);
		if (e && e->state == RK_READY && e->rmx == op->rmx)
			rk_drop(m, e);
	}
	op_end(eng, op, reject_status(reason), (int)reason);
}

static void op_on_finish(st_engine *eng, struct st_req *req, int status)
{
	struct mem_op *op = op_of(req);
	bool room = req->kind == ST_REQ_PUT && op->state == OP_SENT;
	struct st_vc *vc = req->vc;
	if (op->state != OP_DONE)
		op_emit(eng, op, status, ST_REJ_NONE, NULL);
	op_free(eng, op);
	/* on_finish must not send: let the first waiting PUT's timer start the
	 * queue from st_tick (a flushed VC is dying and starts nothing) */
	struct st_req *next = vc->mem.put_wait.head;
	if (room && next && !vc->dying)
		st_timer_arm(eng, &next->timer, st_now(eng));
}

static void op_on_slot_unused(st_engine *eng, struct st_req *req)
{
	(void)eng;
	(void)req; /* region waiters, PUTs and the peer's requests never queue for a slot */
}

/* ---- Request_Memory_Region (ours) ------------------------------------------------------- */

/* Internal: owned by its cache entry, never a ULP operation itself (kind NONE,
 * so st_abort never picks it). */
struct mem_rmr {
	struct st_req req; /* first */
	struct st_rkey_entry *ent;
};

static struct mem_rmr *rmr_of(struct st_req *r)
{
	return ST_CONTAINER_OF(r, struct mem_rmr, req);
}

static void op_begin(st_engine *eng, struct mem_op *op, const struct st_rkey_entry *e);

/* The RMR failed (Reject, timeout, flush, End): every waiter fails with it and
 * the entry goes, so a later operation asks again. */
static void rmr_fail(st_engine *eng, struct mem_rmr *m, int status, int reason)
{
	struct st_vc *vc = m->req.vc;
	struct st_rkey_entry *e = m->ent;
	struct st_req *w;
	while ((w = st_queue_pop(&e->waiters)))
		op_end(eng, op_of(w), status, reason);
	rk_drop(&vc->mem, e);
	st_req_free(eng, &m->req);
}

static void rmr_ready(st_engine *eng, struct mem_rmr *m, uint16_t rmx, uint64_t rlen,
		      uint64_t rbase)
{
	struct st_rkey_entry *e = m->ent;
	e->state = RK_READY;
	e->rmx = rmx;
	e->rlen = rlen;
	e->rbase = rbase;
	e->rmr = NULL;
	st_req_free(eng, &m->req); /* frees its slot before the waiters ask for theirs */
	struct st_req *w;
	while ((w = st_queue_pop(&e->waiters)))
		op_begin(eng, op_of(w), e);
}

static void rmr_send(st_engine *eng, struct mem_rmr *m)
{
	struct st_vc *vc = m->req.vc;
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_REQUEST_MEMORY_REGION);
	h.bufx = (uint32_t)(m->ent->rkey >> 32);
	h.offset = (uint32_t)m->ent->rkey;
	/* Sync:B_num = T_len 0: the whole region */
	h.s_id = m->req.id;
	st_send_hdr(eng, vc, &h, NULL, 0);
	st_req_arm(eng, &m->req);
}

/* First transmission (it has its slot): only now does it take a wire id. */
static void rmr_on_slot(st_engine *eng, struct st_req *req)
{
	struct mem_rmr *m = rmr_of(req);
	if (st_req_assign_id(eng, req)) {
		rmr_fail(eng, m, ST_ERR_LOCAL, ST_REJ_RESOURCES);
		return;
	}
	rmr_send(eng, m);
}

static void rmr_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct mem_rmr *m = rmr_of(req);
	bool reject = h->flags & ST_FLAG_REJECT;
	if (h->op == ST_OP_MEMORY_REGION_AVAILABLE && !reject && h->b_id != 0) {
		rmr_ready(eng, m, h->b_id, hdr_len64(h), (uint64_t)h->bufx << 32 | h->offset);
		return;
	}
	if (h->op == ST_OP_REQUEST_ANSWER && reject) {
		rmr_fail(eng, m, reject_status(h->param), h->param);
		return;
	}
	st_count_drop(eng, req->vc, ST_DROP_BAD_PARAM);
}

static void rmr_on_timeout(st_engine *eng, struct st_req *req)
{
	if (st_req_retry_or_fail(eng, req))
		rmr_send(eng, rmr_of(req));
}

static void rmr_on_finish(st_engine *eng, struct st_req *req, int status)
{
	rmr_fail(eng, rmr_of(req), status, ST_REJ_NONE);
}

static void rmr_destroy(struct st_req *req)
{
	free(rmr_of(req));
}

static const struct st_req_ops rmr_ops = {
	.on_timeout = rmr_on_timeout,
	.on_slot = rmr_on_slot,
	.on_answer = rmr_on_answer,
	.on_finish = rmr_on_finish,
	.destroy = rmr_destroy,
};

/* A PENDING entry for rkey with its (not yet started) RMR, or NULL without memory. */
static struct st_rkey_entry *rk_pending(st_engine *eng, struct st_vc *vc, uint64_t rkey)
{
	struct mem_rmr *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	struct st_rkey_entry *e = rk_add(&vc->mem, rkey);
	if (!e || st_req_link(eng, vc, &m->req, &rmr_ops, ST_REQ_NONE, ST_ROLE_INITIATOR, 0)) {
		if (e)
			rk_drop(&vc->mem, e);
		free(m);
		return NULL;
	}
	m->ent = e;
	e->rmr = m;
	return e;
}

static void rmr_start(st_engine *eng, struct mem_rmr *m)
{
	if (st_slot_acquire(eng, &m->req))
		rmr_on_slot(eng, &m->req);
}

/* ---- PUT (ours) ---------------------------------------------------------------------------- */

static void put_send_stu(st_engine *eng, struct mem_op *op, uint64_t pos, size_t len,
			 uint32_t index, uint32_t count)
{
	struct st_vc *vc = op->req.vc;
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_DATA);
	h.b_id = op->rmx;
	hdr_set_pos(&h, pos, vc->peer_bufsize_log2);
	h.b_num = count;
	h.sync = index;
	h.s_id = op->req.id;
	h.flags = ST_FLAG_SILENT;
	if (index + 1 == count) {
		h.flags = ST_FLAG_LAST;
		if (op->flags & ST_RMA_NOTIFY) {
			h.flags |= ST_FLAG_INTERRUPT;
			h.sync = op->imm; /* the Last STU's Sync carries the completion data */
		}
	}
	struct iovec iov = {.iov_base = eng->scratch, .iov_len = len};
	st_send_hdr(eng, vc, &h, &iov, 1);
	st_count_bytes_sent(eng, vc, len);
}

/* Sends (or repeats) the whole PUT, then waits for its Request_Answer. */
static void put_send(st_engine *eng, struct mem_op *op)
{
	struct st_vc *vc = op->req.vc;
	uint64_t stu = st_vc_stu_max(eng, vc);
	unsigned bs = vc->peer_bufsize_log2;
	uint32_t count = (uint32_t)stu_count(op->remote_off, op->len, stu, bs);
	uint64_t done = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t pos = op->remote_off + done;
		size_t len = (size_t)stu_len(pos, op->len - done, stu, bs);
		if (st_region_read(eng, op->lr, op->local_off + done, eng->scratch, len) != ST_OK) {
			op_end(eng, op, ST_ERR_LOCAL, ST_REJ_NONE);
			return;
		}
		put_send_stu(eng, op, pos, len, i, count);
		done += len;
	}
	st_req_arm(eng, &op->req);
}

/* Starts queued PUTs while there is room on the wire, in call order. */
static void put_pump(st_engine *eng, struct st_vc *vc)
{
	struct st_req *r;
	while (!vc->dying && vc->mem.puts_active < MEM_PUTS_ACTIVE_MAX &&
	       (r = st_queue_pop(&vc->mem.put_wait))) {
		struct mem_op *op = op_of(r);
		st_timer_cancel(eng, &r->timer); /* a pending kick from op_on_finish */
		if (st_req_assign_id(eng, r)) {
			op_end(eng, op, ST_ERR_LOCAL, ST_REJ_RESOURCES);
			continue;
		}
		op->state = OP_SENT;
		vc->mem.puts_active++;
		put_send(eng, op);
	}
}

static void put_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct st_vc *vc = req->vc;
	if (h->op != ST_OP_REQUEST_ANSWER) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		return;
	}
	if (h->flags & ST_FLAG_REJECT)
		op_rejected(eng, op_of(req), h->param);
	else
		op_end(eng, op_of(req), ST_OK, ST_REJ_NONE);
	put_pump(eng, vc);
}

static void put_on_timeout(st_engine *eng, struct st_req *req)
{
	struct mem_op *op = op_of(req);
	if (op->state == OP_WAIT_ROOM) {
		put_pump(eng, req->vc); /* the kick armed by op_on_finish */
		return;
	}
	if (st_req_retry_or_fail(eng, req))
		put_send(eng, op);
}

static const struct st_req_ops put_ops = {
	.on_timeout = put_on_timeout,
	.on_slot = op_on_slot_unused,
	.on_answer = put_on_answer,
	.on_finish = op_on_finish,
	.destroy = op_destroy,
};

/* ---- GET and FETCHOP (ours) ---------------------------------------------------------------- */

/* FETCHOP operands, big-endian: addend/new value, or compare then swap value. */
static size_t fop_operands(const struct mem_op *op, uint8_t out[16])
{
	switch (op->fn) {
	case ST_FN_FETCH_ADD:
	case ST_FN_SWAP:
		gsn_put_be64(out, op->operand);
		return 8;
	case ST_FN_COMPARE_SWAP:
		gsn_put_be64(out, op->compare);
		gsn_put_be64(out + 8, op->operand);
		return 16;
	default:
		return 0;
	}
}

/* Sends (or repeats) the GET/FETCHOP request. */
static void rq_send(st_engine *eng, struct mem_op *op)
{
	struct st_vc *vc = op->req.vc;
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_GET);
	st_hdr_set_function(&h, op->fn);
	h.param = (uint16_t)op->len; /* GET: T_len; FETCHOP: 8 */
	h.b_id = op->rmx;
	hdr_set_pos(&h, op->remote_off, vc->peer_bufsize_log2);
	h.s_id = op->req.id; /* G_num */
	uint8_t arg[16];
	struct iovec iov = {.iov_base = arg, .iov_len = fop_operands(op, arg)};
	st_send_hdr(eng, vc, &h, iov.iov_len ? &iov : NULL, iov.iov_len ? 1 : 0);
	st_count_bytes_sent(eng, vc, iov.iov_len);
	st_req_arm(eng, &op->req);
}

/* It has its slot: first transmission. */
static void rq_on_slot(st_engine *eng, struct st_req *req)
{
	struct mem_op *op = op_of(req);
	if (st_req_assign_id(eng, req)) {
		op_end(eng, op, ST_ERR_LOCAL, ST_REJ_RESOURCES);
		return;
	}
	op->state = OP_SENT;
	rq_send(eng, op);
}

static void rq_on_answer(st_engine *eng, struct st_req *req, const struct st_hdr *h)
{
	struct mem_op *op = op_of(req);
	if (op->state == OP_SENT && h->op == ST_OP_REQUEST_ANSWER && (h->flags & ST_FLAG_REJECT)) {
		op_rejected(eng, op, h->param);
		return;
	}
	st_count_drop(eng, req->vc, op->state == OP_DONE ? ST_DROP_DUPLICATE : ST_DROP_BAD_PARAM);
}

static void rq_on_timeout(st_engine *eng, struct st_req *req)
{
	struct mem_op *op = op_of(req);
	if (op->state == OP_DONE) {
		op_free(eng, op); /* the responder has stopped repeating its result */
		return;
	}
	if (st_req_retry_or_fail(eng, req))
		rq_send(eng, op);
}

/*
 * Where a Data answering our GET goes: relative position Bufx:Offset by OUR
 * Bufsize, inside [0, T_len), not across one of our buffers, at most our
 * Max_STU.  The responder may cut smaller STUs than ours (its data channel or
 * its own limits), so any such split is accepted and bytes are counted in a
 * per-byte bitmap, which also recognises duplicates.
 */
static bool get_data_pos(const st_engine *eng, const struct mem_op *op, const struct st_hdr *h,
			 size_t len, uint64_t *rel)
{
	unsigned bs = eng->cfg.bufsize_log2;
	uint64_t buf = st_pow2(bs);
	if (len == 0 || len > st_pow2(eng->cfg.max_stu_log2))
		return false;
	if (h->offset >= buf || len > buf - h->offset)
		return false;
	*rel = hdr_pos(h, bs);
	return range_fits(op->len, *rel, len);
}

static void get_on_data(st_engine *eng, struct st_req *req, const struct st_hdr *h,
			const uint8_t *payload, size_t len)
{
	struct mem_op *op = op_of(req);
	struct st_vc *vc = req->vc;
	uint64_t rel;
	if (op->state != OP_SENT || !get_data_pos(eng, op, h, len, &rel)) {
		st_count_drop(eng, vc, ST_DROP_BAD_RANGE);
		return;
	}
	if (bits_fill(op->got, rel, len, false) == 0) {
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
		return;
	}
	if (st_region_write(eng, op->lr, op->local_off + rel, payload, len) != ST_OK) {
		op_end(eng, op, ST_ERR_LOCAL, ST_REJ_NONE);
		return;
	}
	op->received += bits_fill(op->got, rel, len, true);
	st_count_bytes_received(eng, vc, len);
	if (op->received == op->len)
		op_end(eng, op, ST_OK, ST_REJ_NONE);
}

static const struct st_req_ops get_ops = {
	.on_timeout = rq_on_timeout,
	.on_slot = rq_on_slot,
	.on_answer = rq_on_answer,
	.on_data = get_on_data,
	.on_finish = op_on_finish,
	.destroy = op_destroy,
};

/* fetchop-complete: GET Function 7, S_id = the G_num being completed. */
static void fop_send_complete(st_engine *eng, struct st_vc *vc, uint32_t gnum)
{
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_GET);
	st_hdr_set_function(&h, ST_FN_FETCHOP_COMPLETE);
	h.s_id = gnum;
	st_send_hdr(eng, vc, &h, NULL, 0);
}

/*
 * The result arrived: report it, give back the slot and the local region,
 * and stay (as kind NONE, invisible to st_abort) for as long as the responder
 * may repeat its result, so every repeat is answered with fetchop-complete
 * (the core silently drops Data for an id that is no longer pending).
 */
static void fop_finish(st_engine *eng, struct mem_op *op, int status, uint64_t old)
{
	op_emit(eng, op, status, ST_REJ_NONE, &old);
	st_slot_release(eng, &op->req);
	if (op->lr) {
		op->lr->users--;
		op->lr = NULL;
	}
	op->state = OP_DONE;
	op->req.kind = ST_REQ_NONE;
	uint64_t linger = (uint64_t)(eng->cfg.retries + 1) * eng->cfg.op_timeout_ns;
	st_timer_arm(eng, &op->req.timer, st_now(eng) + linger);
}

static void fop_on_data(st_engine *eng, struct st_req *req, const struct st_hdr *h,
			const uint8_t *payload, size_t len)
{
	(void)h;
	struct mem_op *op = op_of(req);
	struct st_vc *vc = req->vc;
	if (len != MEM_FOP_LEN || (op->state != OP_SENT && op->state != OP_DONE)) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		return;
	}
	fop_send_complete(eng, vc, req->id);
	if (op->state == OP_DONE) {
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
		return;
	}
	uint64_t old = gsn_get_be64(payload);
	st_count_bytes_received(eng, vc, len);
	int status = ST_OK;
	if (op->lr && st_region_write(eng, op->lr, op->local_off, &old, sizeof(old)) != ST_OK)
		status = ST_ERR_LOCAL;
	fop_finish(eng, op, status, old);
}

static const struct st_req_ops fop_ops = {
	.on_timeout = rq_on_timeout,
	.on_slot = rq_on_slot,
	.on_answer = rq_on_answer,
	.on_data = fop_on_data,
	.on_finish = op_on_finish,
	.destroy = op_destroy,
};

/* ---- region requests and starting operations ----------------------------------------------- */

static void region_on_timeout(st_engine *eng, struct st_req *req)
{
	(void)eng;
	(void)req; /* never armed */
}

static const struct st_req_ops region_ops = {
	.on_timeout = region_on_timeout,
	.on_slot = op_on_slot_unused,
	.on_finish = op_on_finish,
	.destroy = op_destroy,
};

/* The rkey is cached: op learns R_Mx and goes. */
static void op_begin(st_engine *eng, struct mem_op *op, const struct st_rkey_entry *e)
{
	struct st_vc *vc = op->req.vc;
	op->rmx = e->rmx;
	switch (op->req.kind) {
	case ST_REQ_REGION:
		op->len = e->rlen;
		op->remote_off = e->rbase; /* reported as the event's offset */
		op_end(eng, op, ST_OK, ST_REJ_NONE);
		break;
	case ST_REQ_PUT:
		op->state = OP_WAIT_ROOM;
		st_queue_push(&vc->mem.put_wait, &op->req);
		put_pump(eng, vc);
		break;
	default:
		op->state = OP_WAIT_SLOT;
		if (st_slot_acquire(eng, &op->req))
			rq_on_slot(eng, &op->req);
		break;
	}
}

/* Starts op now if its rkey is cached, else waits for it (asking the peer if
 * nobody has yet).  On error op is freed without an event. */
static int op_launch(st_engine *eng, struct mem_op *op)
{
	struct st_vc *vc = op->req.vc;
	struct st_rkey_entry *e = rk_find(&vc->mem, op->rkey);
	if (e && e->state == RK_READY) {
		op_begin(eng, op, e);
		return 0;
	}
	bool fresh = !e;
	if (fresh && !(e = rk_pending(eng, vc, op->rkey))) {
		op_free(eng, op);
		return -ENOMEM;
	}
	op->state = OP_WAIT_KEY;
	st_queue_push(&e->waiters, &op->req);
	if (fresh)
		rmr_start(eng, e->rmr);
	return 0;
}

static struct mem_op *op_new(st_engine *eng, struct st_vc *vc, enum st_req_kind kind,
			     const struct st_req_ops *ops, uint64_t rkey, uint64_t user_ctx)
{
	struct mem_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->rkey = rkey;
	if (st_req_link(eng, vc, &op->req, ops, kind, ST_ROLE_INITIATOR, user_ctx)) {
		free(op);
		return NULL;
	}
	return op;
}

static void op_hold_local(struct mem_op *op, struct st_region *lr, uint64_t off)
{
	op->lr = lr;
	op->local_off = off;
	if (lr)
		lr->users++;
}

/* ---- the upper-layer API ------------------------------------------------------------------ */

/* [off, off + len) must be expressible as Bufx:Offset in the peer's memory. */
static int remote_check(const struct st_vc *vc, uint64_t off, uint64_t len)
{
	if (off + len < off || ((off + len - 1) >> vc->peer_bufsize_log2) > UINT32_MAX)
		return -EINVAL;
	return 0;
}

static int rma_check(st_engine *eng, const struct st_vc *vc, const struct st_rma *r,
		     uint64_t max_len, unsigned flags_ok, struct st_region **lr)
{
	if (!r || r->len == 0 || r->len > max_len || r->rkey == 0 || (r->flags & ~flags_ok))
		return -EINVAL;
	*lr = st_region_get(eng, r->local_mx);
	if (!*lr)
		return -ENOENT;
	if (!range_fits((*lr)->len, r->local_off, r->len))
		return -EINVAL;
	return remote_check(vc, r->remote_off, r->len);
}

int st_region_request(st_engine *eng, uint16_t port, uint64_t rkey, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	if (rkey == 0)
		return -EINVAL;
	struct mem_op *op = op_new(eng, vc, ST_REQ_REGION, &region_ops, rkey, user_ctx);
	if (!op)
		return -ENOMEM;
	return op_launch(eng, op);
}

int st_put(st_engine *eng, uint16_t port, const struct st_rma *r, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_region *lr;
	err = rma_check(eng, vc, r, UINT64_MAX, ST_RMA_NOTIFY, &lr);
	if (err)
		return err;
	uint64_t stu = st_vc_stu_max(eng, vc);
	if (stu == 0 || stu_count(r->remote_off, r->len, stu, vc->peer_bufsize_log2) > MEM_PUT_STUS_MAX)
		return -EMSGSIZE;
	struct mem_op *op = op_new(eng, vc, ST_REQ_PUT, &put_ops, r->rkey, user_ctx);
	if (!op)
		return -ENOMEM;
	op_hold_local(op, lr, r->local_off);
	op->remote_off = r->remote_off;
	op->len = r->len;
	op->flags = r->flags;
	op->imm = r->imm;
	put_pump(eng, vc); /* room freed by aborted PUTs goes to those already waiting */
	return op_launch(eng, op);
}

int st_get(st_engine *eng, uint16_t port, const struct st_rma *r, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_region *lr;
	err = rma_check(eng, vc, r, MEM_GET_LEN_MAX, 0, &lr);
	if (err)
		return err;
	struct mem_op *op = op_new(eng, vc, ST_REQ_GET, &get_ops, r->rkey, user_ctx);
	if (!op)
		return -ENOMEM;
	op->got = calloc((size_t)div_up(r->len, 64), sizeof(*op->got));
	if (!op->got) {
		op_free(eng, op);
		return -ENOMEM;
	}
	op_hold_local(op, lr, r->local_off);
	op->remote_off = r->remote_off;
	op->len = r->len;
	op->fn = ST_FN_GET;
	return op_launch(eng, op);
}

static int fetchop_check(st_engine *eng, const struct st_vc *vc, const struct st_fetchop *f,
			 struct st_region **lr)
{
	if (!f || f->fn < ST_FN_FETCH_INCREMENT || f->fn > ST_FN_COMPARE_SWAP || f->rkey == 0 ||
	    f->remote_off % MEM_FOP_LEN)
		return -EINVAL;
	*lr = NULL;
	if (f->local_mx) {
		*lr = st_region_get(eng, f->local_mx);
		if (!*lr)
			return -ENOENT;
		if (!range_fits((*lr)->len, f->local_off, MEM_FOP_LEN))
			return -EINVAL;
	}
	return remote_check(vc, f->remote_off, MEM_FOP_LEN);
}

int st_fetchop(st_engine *eng, uint16_t port, const struct st_fetchop *f, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_region *lr;
	err = fetchop_check(eng, vc, f, &lr);
	if (err)
		return err;
	struct mem_op *op = op_new(eng, vc, ST_REQ_FETCHOP, &fop_ops, f->rkey, user_ctx);
	if (!op)
		return -ENOMEM;
	op_hold_local(op, lr, f->local_off);
	op->remote_off = f->remote_off;
	op->len = MEM_FOP_LEN;
	op->fn = f->fn;
	op->operand = f->operand;
	op->compare = f->compare;
	return op_launch(eng, op);
}

/* ---- the peer's requests: common checks ------------------------------------------------- */

/*
 * Ids of requests that may simply be executed again (RMR, GET).  A repeat is
 * served whether its id is SEEN or already STALE: the window's floor slides
 * past every contiguous run of arrived ids, so the repeat of a request whose
 * answer was lost is usually below it.  Executing a late copy again is
 * harmless (the initiator drops answers for ids no longer pending).
 */
static bool repeatable_id_ok(st_engine *eng, struct st_vc *vc, uint32_t id)
{
	if (id == 0) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		return false;
	}
	return true;
}

/*
 * The target of a PUT/GET/FETCHOP: Mx exposed to this VC, the access the
 * operation needs, Offset inside one of our 2^Bufsize buffers, [pos, pos+len)
 * inside the region and, when one_buffer, inside that buffer.
 */
static enum st_reject_reason target_check(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
					  uint64_t len, unsigned access, bool one_buffer,
					  struct st_region **r, uint64_t *pos)
{
	uint64_t buf = st_pow2(eng->cfg.bufsize_log2);
	*r = st_idmap_get(&vc->mem.exposed, h->b_id);
	if (!*r)
		return ST_REJ_ACCESS; /* not exposed on this VC (or never registered) */
	if (((*r)->access & access) != access)
		return ST_REJ_ACCESS;
	if (h->offset >= buf || (one_buffer && len > buf - h->offset))
		return ST_REJ_BAD_RANGE;
	*pos = hdr_pos(h, eng->cfg.bufsize_log2);
	if (!range_fits((*r)->len, *pos, len))
		return ST_REJ_BAD_RANGE;
	return ST_REJ_NONE;
}

/* ---- Request_Memory_Region (the peer's) ------------------------------------------------- */

static enum st_reject_reason rmr_check(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
				       struct st_region **r)
{
	if (!st_peer_slot_take(vc, NULL))
		return ST_REJ_NO_SLOTS;
	*r = st_region_by_key(eng, (uint64_t)h->bufx << 32 | h->offset);
	if (!*r)
		return ST_REJ_BAD_KEY;
	unsigned remote = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;
	if (!((*r)->access & remote))
		return ST_REJ_ACCESS; /* registered for local use only */
	if (hdr_len64(h) > (*r)->len)
		return ST_REJ_BAD_RANGE;
	return ST_REJ_NONE;
}

/* Answered at once, so the slot check needs no slot held across calls; a
 * repeat is answered again (exposing twice changes nothing). */
void st_mem_on_rmr(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	uint32_t iid = h->s_id;
	if (!repeatable_id_ok(eng, vc, iid))
		return;
	struct st_region *r = NULL;
	enum st_reject_reason rej = rmr_check(eng, vc, h, &r);
	if (!rej && st_idmap_put(&vc->mem.exposed, r->mx, r))
		rej = ST_REJ_RESOURCES;
	if (rej) {
		refuse(eng, vc, iid, ST_OP_REQUEST_MEMORY_REGION, rej, false);
		return;
	}
	st_idwin_mark(&vc->peer_win, iid);
	struct st_hdr a;
	st_hdr_for_vc(vc, &a, ST_OP_MEMORY_REGION_AVAILABLE);
	a.b_id = r->mx;
	/* Bufx:Offset carry the owner's base address (ours); positions stay
	 * relative to the region's start */
	a.bufx = (uint32_t)(r->base >> 32);
	a.offset = (uint32_t)r->base;
	hdr_set_len64(&a, r->len);
	a.d_id = iid;
	st_send_hdr(eng, vc, &a, NULL, 0);
}

/* ---- GET (the peer's) ---------------------------------------------------------------------- */

static enum st_reject_reason get_check(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
				       size_t len, struct st_region **r, uint64_t *pos)
{
	if (!st_peer_slot_take(vc, NULL))
		return ST_REJ_NO_SLOTS;
	if (len != 0 || h->param == 0)
		return ST_REJ_BAD_PARAM;
	return target_check(eng, vc, h, h->param, ST_ACCESS_REMOTE_READ, false, r, pos);
}

/* Data STUs cut by the PEER's Bufsize (positions relative to the GET) and Max_STU. */
static enum st_reject_reason get_send_data(st_engine *eng, struct st_vc *vc, uint32_t gnum,
					   struct st_region *r, uint64_t pos, uint64_t tlen)
{
	uint64_t stu = st_vc_stu_max(eng, vc);
	unsigned bs = vc->peer_bufsize_log2;
	uint64_t rel = 0;
	for (uint16_t i = 0; rel < tlen; i++) {
		size_t len = (size_t)stu_len(rel, tlen - rel, stu, bs);
		if (st_region_read(eng, r, pos + rel, eng->scratch, len) != ST_OK)
			return ST_REJ_ACCESS;
		struct st_hdr d;
		st_hdr_for_vc(vc, &d, ST_OP_DATA);
		d.param = i; /* STU_num */
		hdr_set_pos(&d, rel, bs);
		d.d_id = gnum;
		if (rel + len == tlen)
			d.flags = ST_FLAG_LAST;
		struct iovec iov = {.iov_base = eng->scratch, .iov_len = len};
		st_send_hdr(eng, vc, &d, &iov, 1);
		st_count_bytes_sent(eng, vc, len);
		rel += len;
	}
	return ST_REJ_NONE;
}

/* GET is idempotent: a repeat (lost Data) is simply executed again. */
static void get_serve(st_engine *eng, struct st_vc *vc, const struct st_hdr *h, size_t len)
{
	uint32_t gnum = h->s_id;
	if (!repeatable_id_ok(eng, vc, gnum))
		return;
	struct st_region *r = NULL;
	uint64_t pos = 0;
	enum st_reject_reason rej = get_check(eng, vc, h, len, &r, &pos);
	if (!rej)
		rej = get_send_data(eng, vc, gnum, r, pos, h->param);
	if (rej)
		refuse(eng, vc, gnum, ST_OP_GET, rej, false);
	else
		st_idwin_mark(&vc->peer_win, gnum);
}

/* ---- FETCHOP (the peer's) ------------------------------------------------------------------- */

/* The result of a FETCHOP we applied, kept (role RESPONDER, peer_id = G_num,
 * indexed in vc->remote) until fetchop-complete or the retries run out. */
struct fop_res {
	struct st_req req; /* first */
	uint64_t old;
};

static struct fop_res *fres_of(struct st_req *r)
{
	return ST_CONTAINER_OF(r, struct fop_res, req);
}

static void fres_free(st_engine *eng, struct fop_res *f)
{
	f->req.vc->mem.fetchops_kept--;
	st_req_free(eng, &f->req);
}

static void fres_send(st_engine *eng, struct fop_res *f)
{
	struct st_vc *vc = f->req.vc;
	struct st_hdr d;
	st_hdr_for_vc(vc, &d, ST_OP_DATA);
	d.flags = ST_FLAG_LAST;
	d.d_id = f->req.peer_id;
	uint8_t v[MEM_FOP_LEN];
	gsn_put_be64(v, f->old);
	struct iovec iov = {.iov_base = v, .iov_len = sizeof(v)};
	st_send_hdr(eng, vc, &d, &iov, 1);
	st_count_bytes_sent(eng, vc, sizeof(v));
	st_req_arm(eng, &f->req);
}

/* Repeats the result every operation timeout; after the retries it forgets it
 * (the initiator has given up; this does not tear the VC down). */
static void fres_on_timeout(st_engine *eng, struct st_req *req)
{
	if (req->tries >= eng->cfg.retries) {
		fres_free(eng, fres_of(req));
		return;
	}
	req->tries++;
	st_count_retransmit(eng, req->vc);
	fres_send(eng, fres_of(req));
}

static void fres_on_finish(st_engine *eng, struct st_req *req, int status)
{
	(void)status; /* the peer's operation: nothing to report to our ULP */
	fres_free(eng, fres_of(req));
}

static void fres_destroy(struct st_req *req)
{
	free(fres_of(req));
}

static const struct st_req_ops fres_ops = {
	.on_timeout = fres_on_timeout,
	.on_slot = op_on_slot_unused,
	.on_finish = fres_on_finish,
	.destroy = fres_destroy,
};

static struct fop_res *fres_find(struct st_vc *vc, uint32_t gnum)
{
	struct st_req *r = st_idmap_get(&vc->remote, gnum);
	return r && r->ops == &fres_ops ? fres_of(r) : NULL;
}

static size_t fop_operand_len(unsigned fn)
{
	switch (fn) {
	case ST_FN_FETCH_ADD:
	case ST_FN_SWAP:
		return 8;
	case ST_FN_COMPARE_SWAP:
		return 16;
	default:
		return 0;
	}
}

/* The new value of the target; *write is false when it stays as it is. */
static uint64_t fop_new_value(unsigned fn, uint64_t old, const uint8_t *arg, bool *write)
{
	*write = true;
	switch (fn) {
	case ST_FN_FETCH_INCREMENT:
		return old + 1;
	case ST_FN_FETCH_DECREMENT:
		return old - 1;
	case ST_FN_FETCH_ADD:
		return old + gsn_get_be64(arg);
	case ST_FN_SWAP:
		return gsn_get_be64(arg);
	case ST_FN_COMPARE_SWAP:
		*write = old == gsn_get_be64(arg);
		return gsn_get_be64(arg + 8);
	default: /* ST_FN_FETCH_CLEAR */
		return 0;
	}
}

static enum st_reject_reason fop_check(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
				       size_t len, struct st_region **r, uint64_t *pos)
{
	if (!st_peer_slot_take(vc, NULL))
		return ST_REJ_NO_SLOTS;
	if (h->param != MEM_FOP_LEN)
		return ST_REJ_BAD_PARAM;
	if (len != fop_operand_len(st_hdr_function(h)))
		return ST_REJ_BAD_FUNCTION;
	enum st_reject_reason rej =
		target_check(eng, vc, h, MEM_FOP_LEN, ST_ACCESS_REMOTE_ATOMIC, true, r, pos);
	if (rej)
		return rej;
	if (*pos % MEM_FOP_LEN)
		return ST_REJ_BAD_RANGE;
	if (vc->mem.fetchops_kept >= MEM_FOP_KEPT_MAX)
		return ST_REJ_RESOURCES;
	return ST_REJ_NONE;
}

/* Applies the FETCHOP once and keeps its result.  The state is allocated
 * before memory is touched, so running out of memory never half-applies it. */
static enum st_reject_reason fop_execute(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
					 const uint8_t *arg, struct st_region *r, uint64_t pos)
{
	struct fop_res *f = calloc(1, sizeof(*f));
	if (!f)
		return ST_REJ_RESOURCES;
	f->req.peer_id = h->s_id;
	if (st_req_link(eng, vc, &f->req, &fres_ops, ST_REQ_FETCHOP, ST_ROLE_RESPONDER, 0)) {
		free(f);
		return ST_REJ_RESOURCES;
	}
	vc->mem.fetchops_kept++;
	uint64_t old, val;
	bool write;
	if (st_region_read(eng, r, pos, &old, sizeof(old)) != ST_OK) {
		fres_free(eng, f);
		return ST_REJ_ACCESS;
	}
	val = fop_new_value(st_hdr_function(h), old, arg, &write);
	if (write && st_region_write(eng, r, pos, &val, sizeof(val)) != ST_OK) {
		fres_free(eng, f);
		return ST_REJ_ACCESS;
	}
	f->old = old;
	st_idwin_mark(&vc->peer_win, h->s_id);
	fres_send(eng, f);
	return ST_REJ_NONE;
}

/* Exactly once: a repeat with a kept result gets that result again; a repeat
 * whose result is gone (completed or forgotten) is dropped, never re-applied. */
static void fop_serve(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		      const uint8_t *payload, size_t len)
{
	uint32_t gnum = h->s_id;
	struct fop_res *f = fres_find(vc, gnum);
	if (f) {
		st_count_bytes_received(eng, vc, len);
		fres_send(eng, f);
		return;
	}
	enum st_idclass c = st_idwin_classify(&vc->peer_win, gnum);
	if (gnum == 0 || c != ST_ID_NEW) {
		st_count_drop(eng, vc, gnum == 0 ? ST_DROP_BAD_PARAM : ST_DROP_DUPLICATE);
		if (gnum)
			st_recent_resend(eng, vc, gnum); /* a Reject it may have had */
		return;
	}
	struct st_region *r = NULL;
	uint64_t pos = 0;
	enum st_reject_reason rej = fop_check(eng, vc, h, len, &r, &pos);
	if (!rej)
		rej = fop_execute(eng, vc, h, payload, r, pos);
	if (rej)
		refuse(eng, vc, gnum, ST_OP_GET, rej, true);
	else
		st_count_bytes_received(eng, vc, len);
}

/* fetchop-complete: the initiator has the result; S_id = G_num. */
static void fop_completed(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	struct fop_res *f = fres_find(vc, h->s_id);
	if (f)
		fres_free(eng, f);
	else
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
}

void st_mem_on_get(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		   const uint8_t *payload, size_t len)
{
	unsigned fn = st_hdr_function(h);
	if (fn == ST_FN_GET)
		get_serve(eng, vc, h, len);
	else if (fn == ST_FN_FETCHOP_COMPLETE)
		fop_completed(eng, vc, h);
	else
		fop_serve(eng, vc, h, payload, len);
}

/* ---- PUT (the peer's) ------------------------------------------------------------------------ */

/* One incomplete incoming PUT (role RESPONDER, peer_id = the PUT's id). */
struct put_trk {
	struct st_req req;  /* first */
	uint16_t mx;
	uint64_t key;       /* the region's key, for ST_EV_DATA_PLACED */
	uint32_t b_num, got;
	uint64_t bytes;
	uint64_t start;     /* lowest position placed: the PUT's offset once complete */
	bool notify;        /* the Last STU carried Interrupt */
	uint32_t imm;       /* ... and this completion data */
	uint64_t bits[];    /* one bit per STU index */
};

/* What put_check learnt about one STU. */
struct put_stu {
	struct st_region *r;
	uint64_t pos;
	uint32_t index;
	bool last;
};

static struct put_trk *trk_of(struct st_req *r)
{
	return ST_CONTAINER_OF(r, struct put_trk, req);
}

static void trk_free(st_engine *eng, struct put_trk *t)
{
	t->req.vc->mem.active_put_trackers--;
	st_req_free(eng, &t->req);
}

/* A tracker whose sender went quiet for longer than the sender's whole retry
 * budget will never complete: forget it so it does not hold one of the 64. */
static void trk_arm(st_engine *eng, struct put_trk *t)
{
	uint64_t idle = (uint64_t)(eng->cfg.retries + 2) * eng->cfg.op_timeout_ns;
	st_timer_arm(eng, &t->req.timer, st_now(eng) + idle);
}

static void trk_on_timeout(st_engine *eng, struct st_req *req)
{
	trk_free(eng, trk_of(req));
}

static void trk_on_finish(st_engine *eng, struct st_req *req, int status)
{
	(void)status; /* the peer's operation: nothing to report to our ULP */
	trk_free(eng, trk_of(req));
}

static void trk_destroy(struct st_req *req)
{
	free(trk_of(req));
}

static const struct st_req_ops trk_ops = {
	.on_timeout = trk_on_timeout,
	.on_slot = op_on_slot_unused,
	.on_finish = trk_on_finish,
	.destroy = trk_destroy,
};

static struct put_trk *trk_find(struct st_vc *vc, uint32_t put_id)
{
	struct st_req *r = st_idmap_get(&vc->remote, put_id);
	return r && r->ops == &trk_ops ? trk_of(r) : NULL;
}

static struct put_trk *trk_new(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
			       const struct put_stu *s)
{
	if (vc->mem.active_put_trackers >= MEM_TRACKERS_MAX) {
		/* not marked seen: the sender's repeat is placed once there is room */
		st_count_drop(eng, vc, ST_DROP_RESOURCES);
		return NULL;
	}
	size_t words = (size_t)div_up(h->b_num, 64);
	struct put_trk *t = calloc(1, sizeof(*t) + words * sizeof(t->bits[0]));
	if (!t) {
		st_count_drop(eng, vc, ST_DROP_RESOURCES);
		return NULL;
	}
	t->req.peer_id = h->s_id;
	t->mx = h->b_id;
	t->key = s->r->key;
	t->b_num = h->b_num;
	t->start = UINT64_MAX;
	if (st_req_link(eng, vc, &t->req, &trk_ops, ST_REQ_PUT, ST_ROLE_RESPONDER, 0)) {
		free(t);
		st_count_drop(eng, vc, ST_DROP_RESOURCES);
		return NULL;
	}
	vc->mem.active_put_trackers++;
	st_idwin_mark(&vc->peer_win, h->s_id);
	return t;
}

/* A PUT id without a tracker: true if it starts a new PUT.  Otherwise the PUT
 * is finished (or long gone): a duplicate, whose Last gets the answer again. */
static bool put_is_new(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	switch (st_idwin_classify(&vc->peer_win, h->s_id)) {
	case ST_ID_NEW:
		return true;
	default:
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
		if (h->flags & ST_FLAG_LAST)
			st_recent_resend(eng, vc, h->s_id);
		return false;
	}
}

/* Every check of one STU, before anything is written (t: its tracker, if any). */
static enum st_reject_reason put_check(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
				       size_t len, const struct put_trk *t, struct put_stu *s)
{
	s->last = h->flags & ST_FLAG_LAST;
	if (len == 0 || len > st_pow2(eng->cfg.max_stu_log2))
		return ST_REJ_BAD_PARAM;
	if (h->b_num == 0 || h->b_num > MEM_PUT_STUS_MAX)
		return ST_REJ_BAD_PARAM;
	/* index B_num - 1 is the Last STU's; every other index must be below it */
	if (!s->last && h->sync >= h->b_num - 1)
		return ST_REJ_BAD_PARAM;
	if (t && (t->b_num != h->b_num || t->mx != h->b_id))
		return ST_REJ_BAD_PARAM;
	s->index = s->last ? h->b_num - 1 : h->sync;
	return target_check(eng, vc, h, len, ST_ACCESS_REMOTE_WRITE, true, &s->r, &s->pos);
}

/* All STUs are in: Request_Answer (kept for repeats) and the ULP's event. */
static void put_done(st_engine *eng, struct st_vc *vc, struct put_trk *t)
{
	struct st_hdr a;
	st_hdr_for_vc(vc, &a, ST_OP_REQUEST_ANSWER);
	a.d_id = t->req.peer_id;
	hdr_set_len64(&a, t->bytes);
	st_send_hdr(eng, vc, &a, NULL, 0);
	st_recent_add(vc, a.d_id, &a);
	if (t->notify) {
		struct st_event ev = {0};
		ev.type = ST_EV_DATA_PLACED;
		ev.kind = ST_REQ_PUT;
		ev.vc = vc->port;
		ev.len = t->bytes;
		ev.value = t->imm;
		ev.has_value = true;
		ev.rkey = t->key;
		ev.offset = t->start;
		memcpy(ev.peer, vc->peer, ST_ULA_LEN);
		st_emit(eng, &ev);
	}
	trk_free(eng, t);
}

static void put_place(st_engine *eng, struct st_vc *vc, struct put_trk *t, const struct put_stu *s,
		      const struct st_hdr *h, const uint8_t *payload, size_t len)
{
	if (bits_fill(t->bits, s->index, 1, false) == 0) {
		st_count_drop(eng, vc, ST_DROP_DUPLICATE); /* from a repeat of the whole PUT */
		return;
	}
	if (st_region_write(eng, s->r, s->pos, payload, len) != ST_OK) {
		refuse(eng, vc, t->req.peer_id, ST_OP_DATA, ST_REJ_ACCESS, true);
		trk_free(eng, t);
		return;
	}
	bits_fill(t->bits, s->index, 1, true);
	t->got++;
	t->bytes += len;
	t->start = min_u64(t->start, s->pos);
	st_count_bytes_received(eng, vc, len);
	if (s->last) {
		t->notify = h->flags & ST_FLAG_INTERRUPT;
		t->imm = h->sync;
	}
	if (t->got == t->b_num) /* includes index B_num - 1, which only a Last has */
		put_done(eng, vc, t);
	else
		trk_arm(eng, t);
}

void st_mem_on_put(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		   const uint8_t *payload, size_t len)
{
	uint32_t put_id = h->s_id;
	if (put_id == 0) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		return;
	}
	struct put_trk *t = trk_find(vc, put_id);
	if (!t && !put_is_new(eng, vc, h))
		return;
	struct put_stu s;
	enum st_reject_reason rej = put_check(eng, vc, h, len, t, &s);
	if (rej) {
		/* final: the rest of this PUT (and its repeats) are duplicates, and
		 * a repeated Last gets the Reject again */
		refuse(eng, vc, put_id, ST_OP_DATA, rej, true);
		if (t)
			trk_free(eng, t);
		return;
	}
	if (!t && !(t = trk_new(eng, vc, h, &s)))
		return;
	put_place(eng, vc, t, &s, h, payload, len);
}

/* ---- per-VC state ------------------------------------------------------------------------------ */

void st_mem_vc_init(struct st_vc *vc)
{
	memset(&vc->mem, 0, sizeof(vc->mem));
}

/* Every request is gone by now (the core finished or freed them). */
void st_mem_vc_release(st_engine *eng, struct st_vc *vc)
{
	(void)eng;
	struct st_mem_vc *m = &vc->mem;
	while (m->rkeys) {
		struct st_rkey_entry *e = m->rkeys;
		m->rkeys = e->next;
		free(e);
	}
	st_idmap_free(&m->rkeys_by_key);
	st_idmap_free(&m->exposed);
	memset(m, 0, sizeof(*m));
}

bool st_mem_release_exposure(st_engine *eng, struct st_vc *vc, uint16_t mx)
{
	(void)eng;
	if (!st_idmap_get(&vc->mem.exposed, mx))
		return false;
	st_idmap_del(&vc->mem.exposed, mx);
	return true;
}

/* A pending entry stays: its RMR is on the wire and operations wait on it. */
void st_mem_forget_rkey(st_engine *eng, struct st_vc *vc, uint64_t rkey)
{
	(void)eng;
	struct st_rkey_entry *e = rk_find(&vc->mem, rkey);
	if (e && e->state == RK_READY)
		rk_drop(&vc->mem, e);
}

uint16_t st_mem_cached_rmx(const struct st_vc *vc, uint64_t rkey)
{
	const struct st_rkey_entry *e = rk_find(&vc->mem, rkey);
	return e && e->state == RK_READY ? e->rmx : 0;
}
