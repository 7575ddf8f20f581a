/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the libst engine.
 *
 * Two engines, A and B, joined by a tiny in-memory queue.  A connects to B,
 * exposes B's region X (all access) with st_region_request, and B posts a
 * receive and a source in its region Z.  The fuzz input is then a sequence of
 * records interpreted as ST operations fed to B through st_input "as if from
 * A" (headers optionally patched with the live VC's ports and key, the exposed
 * Mx, fresh request ids, or the ids of the last CTS / Request_Answer B sent,
 * so they get past validation and reach deep paths), interleaved with clock
 * advances + st_tick, delivery of the queued traffic, and a few upper-layer
 * calls.
 *
 * Invariant: memory outside the exposed ranges never changes.  Regions Y
 * (REMOTE_READ only, never writable) and A's region Q (never exposed) must
 * stay byte-identical, and Z may change only inside the posted receive (X
 * and A's W, targets of legitimate writes, may change anywhere).  Any
 * violation, or any out-of-bounds mem_read/mem_write, abort()s.  Everything
 * is destroyed at the end of each input (ASan/LSan keep it leak-free).
 *
 * Record format (all records start with a control byte c):
 *   c < 0x80   op:  [c][patch][len_lo][len_hi][40-byte header][len payload bytes]
 *                  c bit0: data VC (1) instead of VC0; bit1: from a stranger ULA;
 *                  bit2: keep the header's Cksum as given, else bit3: compute it
 *                  (neither: Cksum 0).  patch bits: see PATCH_* below.
 *   0x80..0x9F tick: [c][b]  advance the clock by b*b*100 us, st_tick both
 *   0xA0..0xBF pump: [c][n]  deliver up to n queued operations (0: all)
 *   0xC0..0xDF ulp:  [c][a]  an upper-layer call chosen by a (c & 0x10: B issues
 *                            PUT/GET/FETCHOP/send/read towards A's region W)
 *   0xE0..0xFF raw:  [c][len_lo][len_hi][len bytes] fed to B unmodified
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <st/st.h>

#define PATCH_ADDR 0x01      /* D_Port, S_Port, D_Key of the live VC */
#define PATCH_MX_X 0x02      /* B_id = Mx of the exposed region X */
#define PATCH_FRESH_ID 0x04  /* S_id = a fresh request id */
#define PATCH_FROM_CTS 0x08  /* D_id/S_id/B_num/Sync from the last CTS B sent */
#define PATCH_FROM_RA 0x10   /* D_id/S_id from the last Request_Answer B sent */
#define PATCH_LAST_ID 0x20   /* S_id = the last fresh id (FETCHOP completion) */
#define PATCH_MX_Y 0x40      /* B_id = Mx of region Y */
#define PATCH_MX_Z 0x80      /* B_id = Mx of region Z */

#define QCAP 1024
#define MAX_RECORDS 2048
#define MAX_OP_LEN 8192

enum { EP_A = 0, EP_B = 1 };
enum { R_X, R_Y, R_Z, R_Q, R_W, R_COUNT };

#define X_LEN 16384
#define Y_LEN 8192
#define Z_LEN 16384
#define Q_LEN 8192
#define W_LEN 16384 /* A's region that B's own requests target: may change */
#define RECV_OFF 4096
#define RECV_LEN 8192
#define SRC_OFF 0
#define SRC_LEN 4096

struct pkt {
	int src, dst;
	unsigned vc;
	size_t len;
	uint8_t *bytes;
};

struct region {
	int ep;
	size_t len;
	uint8_t *mem;
	uint8_t *snap;
	uint16_t mx;
	uint64_t key;
};

struct world;
struct ep {
	struct world *w;
	int idx;
	struct st_config cfg;
	st_engine *eng;
};

struct world {
	struct ep ep[2];
	uint64_t now;
	struct pkt q[QCAP];
	size_t qh, qn;
	struct region reg[R_COUNT];
	uint16_t vc_a, vc_b;
	struct st_vc_info info_b;
	uint32_t fresh_id, last_id;
	struct st_hdr last_cts, last_ra;
	int connected, exposed;
};

static const uint8_t ULA_A[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t ULA_B[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t ULA_STRANGER[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, 0x33};

static int trace; /* FUZZ_ST_TRACE=1: print every operation (for working on seeds) */

static void trace_op(const char *dir, const uint8_t *b, size_t len, int rc)
{
	struct st_hdr h;
	if (!trace)
		return;
	if (st_hdr_decode(b, len, &h) == ST_HDR_TRUNCATED) {
		fprintf(stderr, "%s truncated len=%zu rc=%d\n", dir, len, rc);
		return;
	}
	fprintf(stderr,
		"%s %-5s fl=%03x param=%u dp=%u sp=%u key=%08x bid=%u bufx=%u off=%u sync=%u bnum=%u did=%u sid=%u len=%zu rc=%d\n",
		dir, st_op_name(h.op), h.flags, h.param, h.d_port, h.s_port, h.d_key, h.b_id, h.bufx,
		h.offset, h.sync, h.b_num, h.d_id, h.s_id, len - ST_HDR_LEN, rc);
}

static void die(const char *what)
{
	fprintf(stderr, "fuzz_st_engine: %s\n", what);
	abort();
}

/* ---- lower layer ------------------------------------------------------------ */

static int cb_send(void *ctx, const uint8_t dst[ST_ULA_LEN], unsigned vc, const uint8_t hdr[ST_HDR_LEN],
		   const struct iovec *iov, unsigned iovcnt)
{
	struct ep *from = ctx;
	struct world *w = from->w;
	int to;
	if (memcmp(dst, ULA_A, ST_ULA_LEN) == 0)
		to = EP_A;
	else if (memcmp(dst, ULA_B, ST_ULA_LEN) == 0)
		to = EP_B;
	else
		return 0; /* nobody there */
	size_t len = ST_HDR_LEN;
	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len - ST_HDR_LEN > gsn_vc_max_st_payload(vc))
		die("engine sent more payload than the VC carries");
	if (from->idx == EP_B) {
		struct st_hdr h;
		if (st_hdr_decode(hdr, ST_HDR_LEN, &h) == ST_HDR_OK) {
			if (h.op == ST_OP_CLEAR_TO_SEND)
				w->last_cts = h;
			else if (h.op == ST_OP_REQUEST_ANSWER && !(h.flags & ST_FLAG_REJECT))
				w->last_ra = h;
		}
	}
	if (w->qn == QCAP)
		return 0; /* the queue overflows: lost */
	uint8_t *b = malloc(len);
	if (!b)
		return -12;
	memcpy(b, hdr, ST_HDR_LEN);
	size_t at = ST_HDR_LEN;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(b + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	trace_op(from->idx == EP_A ? "A>" : "B>", b, len, 0);
	struct pkt *p = &w->q[(w->qh + w->qn) % QCAP];
	p->src = from->idx;
	p->dst = to;
	p->vc = vc;
	p->len = len;
	p->bytes = b;
	w->qn++;
	return 0;
}

static uint64_t cb_now(void *ctx)
{
	struct ep *e = ctx;
	return e->w->now;
}

static struct region *region_of(struct ep *e, void *cookie, uint64_t off, size_t len)
{
	struct region *r = cookie;
	if (r < &e->w->reg[0] || r >= &e->w->reg[R_COUNT])
		die("foreign region cookie");
	if (r->ep != e->idx)
		die("region cookie of the other engine");
	if (off > r->len || len > r->len - off)
		die("mem access out of bounds (the engine must check ranges)");
	return r;
}

static int cb_read(void *ctx, void *cookie, uint64_t off, void *dst, size_t len)
{
	struct region *r = region_of(ctx, cookie, off, len);
	if (len)
		memcpy(dst, r->mem + off, len);
	return 0;
}

static int cb_write(void *ctx, void *cookie, uint64_t off, const void *src, size_t len)
{
	struct ep *e = ctx;
	struct region *r = region_of(e, cookie, off, len);
	size_t idx = (size_t)(r - e->w->reg);
	if (len && idx == R_Y)
		die("write into region Y (REMOTE_READ only)");
	if (len && idx == R_Q)
		die("write into region Q (never exposed)");
	if (len && idx == R_Z && (off < RECV_OFF || off + len > RECV_OFF + RECV_LEN))
		die("write into region Z outside the posted receive");
	if (len)
		memcpy(r->mem + off, src, len);
	return 0;
}

/* ---- driving ------------------------------------------------------------------ */

static void drain_events(struct world *w)
{
	for (int i = 0; i < 2; i++) {
		struct st_event ev;
		while (st_poll_event(w->ep[i].eng, &ev)) {
			if (i == EP_A && ev.type == ST_EV_CONNECTED)
				w->connected = 1;
			if (i == EP_A && ev.type == ST_EV_REGION_EXPOSED && ev.status == ST_OK)
				w->exposed = 1;
		}
	}
}

static void pump(struct world *w, size_t max)
{
	for (size_t n = 0; w->qn && n < max; n++) {
		struct pkt p = w->q[w->qh];
		w->qh = (w->qh + 1) % QCAP;
		w->qn--;
		st_input(w->ep[p.dst].eng, p.src == EP_A ? ULA_A : ULA_B, p.vc, p.bytes, p.len);
		free(p.bytes);
		drain_events(w);
	}
}

static void tick(struct world *w, uint64_t ns)
{
	w->now += ns;
	for (int i = 0; i < 2; i++)
		st_tick(w->ep[i].eng);
	drain_events(w);
}

static void check_memory(const struct world *w)
{
	for (int i = 0; i < R_COUNT; i++) {
		const struct region *r = &w->reg[i];
		if (i == R_X || i == R_W)
			continue;
		if (i == R_Z) {
			if (memcmp(r->mem, r->snap, RECV_OFF) != 0 ||
			    memcmp(r->mem + RECV_OFF + RECV_LEN, r->snap + RECV_OFF + RECV_LEN,
				   r->len - RECV_OFF - RECV_LEN) != 0)
				die("region Z changed outside the posted receive");
			continue;
		}
		if (memcmp(r->mem, r->snap, r->len) != 0)
			die("a region outside the exposed ranges changed");
	}
}

static void add_region(struct world *w, int which, int ep, size_t len, unsigned access, uint64_t key)
{
	struct region *r = &w->reg[which];
	r->ep = ep;
	r->len = len;
	r->key = key;
	r->mem = malloc(len);
	r->snap = malloc(len);
	if (!r->mem || !r->snap)
		die("out of memory");
	for (size_t i = 0; i < len; i++)
		r->mem[i] = (uint8_t)(i * 131 + (size_t)which * 17 + 5);
	memcpy(r->snap, r->mem, len);
	if (st_region_register(w->ep[ep].eng, len, access, key, r, &r->mx) != 0)
		die("st_region_register");
}

static void setup(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->now = 1000000000ull;
	w->fresh_id = 2; /* A's own RMR is id 1 */
	struct st_lower_ops lower = {
		.send = cb_send, .now_ns = cb_now, .mem_read = cb_read, .mem_write = cb_write,
	};
	for (int i = 0; i < 2; i++) {
		struct ep *e = &w->ep[i];
		e->w = w;
		e->idx = i;
		st_config_default(&e->cfg);
		memcpy(e->cfg.ula, i == EP_A ? ULA_A : ULA_B, ST_ULA_LEN);
		if (i == EP_B) {
			e->cfg.bufsize_log2 = 12;
			e->cfg.max_stu_log2 = 10;
			e->cfg.block_log2 = 12;
			e->cfg.slots = 8;
		}
		lower.ctx = e;
		if (st_engine_create(&e->cfg, &lower, &e->eng) != 0)
			die("st_engine_create");
	}
	const unsigned all = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;
	add_region(w, R_X, EP_B, X_LEN, all, 0x1111);
	add_region(w, R_Y, EP_B, Y_LEN, ST_ACCESS_REMOTE_READ, 0x2222);
	add_region(w, R_Z, EP_B, Z_LEN, 0, 0x3333);
	add_region(w, R_Q, EP_A, Q_LEN, all, 0x4444);
	add_region(w, R_W, EP_A, W_LEN, all, 0x5555);

	struct st_listen_params lp = {0};
	if (st_listen(w->ep[EP_B].eng, 7, &lp) != 0)
		die("st_listen");
	struct st_connect_params cp = {0};
	memcpy(cp.peer, ULA_B, ST_ULA_LEN);
	cp.uport = 7;
	cp.local_uport = 9;
	if (st_connect(w->ep[EP_A].eng, &cp, 1, &w->vc_a) != 0)
		die("st_connect");
	pump(w, 100);
	if (!w->connected)
		die("setup: A did not connect");
	struct st_vc_info ia;
	if (st_vc_info(w->ep[EP_A].eng, w->vc_a, &ia) != 0)
		die("setup: st_vc_info A");
	w->vc_b = ia.peer_port;
	if (st_vc_info(w->ep[EP_B].eng, w->vc_b, &w->info_b) != 0)
		die("setup: st_vc_info B");
	if (st_region_request(w->ep[EP_A].eng, w->vc_a, 0x1111, 2) != 0)
		die("st_region_request");
	pump(w, 100);
	if (!w->exposed)
		die("setup: region X not exposed");
	if (st_post_recv(w->ep[EP_B].eng, w->vc_b, w->reg[R_Z].mx, RECV_OFF, RECV_LEN, 10) != 0)
		die("st_post_recv");
	if (st_post_source(w->ep[EP_B].eng, w->vc_b, w->reg[R_Z].mx, SRC_OFF, SRC_LEN, 11) != 0)
		die("st_post_source");
	/* A serves B's own st_send/st_read from W. */
	if (st_post_recv(w->ep[EP_A].eng, w->vc_a, w->reg[R_W].mx, 0, 8192, 20) != 0 ||
	    st_post_source(w->ep[EP_A].eng, w->vc_a, w->reg[R_W].mx, 8192, 8192, 21) != 0)
		die("A: post");
	drain_events(w);
	check_memory(w);
}

static void teardown(struct world *w)
{
	for (int i = 0; i < 2; i++)
		st_engine_destroy(w->ep[i].eng);
	while (w->qn) {
		free(w->q[w->qh].bytes);
		w->qh = (w->qh + 1) % QCAP;
		w->qn--;
	}
	for (int i = 0; i < R_COUNT; i++) {
		free(w->reg[i].mem);
		free(w->reg[i].snap);
	}
}

static void feed_op(struct world *w, uint8_t c, uint8_t patch, const uint8_t *raw, size_t len)
{
	static uint8_t buf[ST_HDR_LEN + MAX_OP_LEN];
	memcpy(buf, raw, len);
	if (len >= ST_HDR_LEN) {
		struct st_hdr h;
		(void)st_hdr_decode(buf, len, &h); /* the raw Cksum may be wrong: fields are decoded anyway */
		if (patch & PATCH_ADDR) {
			h.d_port = w->info_b.local_port;
			h.s_port = w->info_b.peer_port;
			h.d_key = w->info_b.local_key;
		}
		if (patch & PATCH_MX_X)
			h.b_id = w->reg[R_X].mx;
		if (patch & PATCH_MX_Y)
			h.b_id = w->reg[R_Y].mx;
		if (patch & PATCH_MX_Z)
			h.b_id = w->reg[R_Z].mx;
		if (patch & PATCH_FRESH_ID) {
			w->last_id = w->fresh_id++;
			h.s_id = w->last_id;
		}
		if (patch & PATCH_LAST_ID)
			h.s_id = w->last_id;
		if (patch & PATCH_FROM_CTS) {
			h.d_id = w->last_cts.s_id;
			h.s_id = w->last_cts.d_id;
			h.b_num = w->last_cts.b_num;
			h.sync = w->last_cts.sync;
		}
		if (patch & PATCH_FROM_RA) {
			h.d_id = w->last_ra.s_id;
			h.s_id = w->last_ra.d_id;
		}
		st_hdr_encode(&h, buf, (c & 0x08) != 0);
		if (c & 0x04) {
			buf[12] = raw[12];
			buf[13] = raw[13];
		}
	}
	struct st_counters before, after;
	if (trace)
		st_get_counters(w->ep[EP_B].eng, 0, &before);
	int rc = st_input(w->ep[EP_B].eng, (c & 0x02) ? ULA_STRANGER : ULA_A,
			  (c & 0x01) ? w->ep[EP_A].cfg.data_vc : 0, buf, len);
	trace_op("fuzz>B", buf, len, rc);
	if (trace) {
		st_get_counters(w->ep[EP_B].eng, 0, &after);
		for (int d = 0; d < ST_DROP_REASONS; d++)
			if (after.drops[d] != before.drops[d])
				fprintf(stderr, "    dropped: %s\n", st_drop_str(d));
	}
	drain_events(w);
}

static void ulp(struct world *w, uint8_t a)
{
	st_engine *A = w->ep[EP_A].eng, *B = w->ep[EP_B].eng;
	switch (a & 7) {
	case 0:
		st_set_slots(B, w->vc_b, (uint16_t)(a >> 3));
		break;
	case 1:
		st_request_state(A, w->vc_a, 100 + a);
		break;
	case 2:
		st_request_state(B, w->vc_b, 200 + a);
		break;
	case 3:
		st_abort(B, w->vc_b, (a & 8) ? 10 : 11);
		break;
	case 4:
		st_post_recv(B, w->vc_b, w->reg[R_Z].mx, RECV_OFF, RECV_LEN, 12);
		break;
	case 5:
		st_post_source(B, w->vc_b, w->reg[R_Z].mx, SRC_OFF, SRC_LEN, 13);
		break;
	case 6:
		st_region_release(A, w->vc_a, 0x1111, 14);
		break;
	case 7:
		if (a & 8)
			st_disconnect((a & 16) ? A : B, (a & 16) ? w->vc_a : w->vc_b);
		else
			st_set_slots(A, w->vc_a, (uint16_t)(a >> 4));
		break;
	}
	drain_events(w);
}

/*
 * B as initiator, so that fuzzed operations also answer B's own requests:
 * sources in Y (read only locally), sinks in X (allowed to change), targets
 * in A's region W.
 */
static void ulp_initiator(struct world *w, uint8_t a)
{
	st_engine *B = w->ep[EP_B].eng;
	uint64_t ctx = 300 + a;
	uint64_t off = (uint64_t)(a >> 3) * 64;
	switch (a % 5) {
	case 0: {
		struct st_rma r = {.local_mx = w->reg[R_Y].mx, .local_off = off, .rkey = 0x5555,
				   .remote_off = off, .len = 1 + (uint64_t)a * 13, .flags = (a & 1) ? ST_RMA_NOTIFY : 0,
				   .imm = a};
		st_put(B, w->vc_b, &r, ctx);
		break;
	}
	case 1: {
		struct st_rma r = {.local_mx = w->reg[R_X].mx, .local_off = off, .rkey = 0x5555,
				   .remote_off = off, .len = 1 + (uint64_t)a * 11};
		st_get(B, w->vc_b, &r, ctx);
		break;
	}
	case 2: {
		struct st_fetchop f = {.fn = (enum st_get_function)(1 + a % 6), .rkey = 0x5555,
				       .remote_off = off & ~7ull, .operand = a, .compare = 0,
				       .local_mx = (a & 8) ? w->reg[R_X].mx : 0, .local_off = off & ~7ull};
		st_fetchop(B, w->vc_b, &f, ctx);
		break;
	}
	case 3:
		st_send(B, w->vc_b, w->reg[R_Y].mx, off, 1 + (uint64_t)a * 29, a & 1, a, ctx);
		break;
	case 4:
		st_read(B, w->vc_b, w->reg[R_X].mx, off, 1 + (uint64_t)a * 23, ctx);
		break;
	}
	drain_events(w);
}

static struct world W;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = &W;
	trace = getenv("FUZZ_ST_TRACE") != NULL;
	setup(w);
	const uint8_t *p = data, *end = data + size;
	for (int records = 0; p < end && records < MAX_RECORDS; records++) {
		uint8_t c = *p++;
		if (c < 0x80) {
			if (end - p < 3)
				break;
			uint8_t patch = p[0];
			size_t len = (size_t)p[1] | (size_t)p[2] << 8;
			p += 3;
			len = ST_HDR_LEN + (len % MAX_OP_LEN);
			if (len > (size_t)(end - p))
				len = (size_t)(end - p);
			feed_op(w, c, patch, p, len);
			p += len;
		} else if (c < 0xA0) {
			uint64_t b = p < end ? *p++ : 0;
			tick(w, b * b * 100000ull);
		} else if (c < 0xC0) {
			uint8_t n = p < end ? *p++ : 0;
			pump(w, n ? n : 100000);
		} else if (c < 0xE0) {
			uint8_t a = p < end ? *p++ : 0;
			if (c & 0x10)
				ulp_initiator(w, a);
			else
				ulp(w, a);
		} else {
			if (end - p < 2)
				break;
			size_t len = ((size_t)p[0] | (size_t)p[1] << 8) % (ST_HDR_LEN + MAX_OP_LEN);
			p += 2;
			if (len > (size_t)(end - p))
				len = (size_t)(end - p);
			int rc = st_input(w->ep[EP_B].eng, ULA_A, (c & 1) ? 1 : 0, p, len);
			trace_op("raw>B", p, len, rc);
			drain_events(w);
			p += len;
		}
		check_memory(w);
	}
	/* Let the engines settle: deliver everything, run every timer out. */
	for (int round = 0; round < 64; round++) {
		pump(w, 100000);
		uint64_t d = UINT64_MAX;
		for (int i = 0; i < 2; i++) {
			uint64_t e = st_next_deadline(w->ep[i].eng);
			d = e < d ? e : d;
		}
		if (d == UINT64_MAX)
			break;
		if (d > w->now)
			w->now = d;
		tick(w, 0);
	}
	check_memory(w);
	teardown(w);
	return 0;
}
