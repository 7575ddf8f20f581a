/* SPDX-License-Identifier: MIT */
/*
 * st-demo: two libst endpoints in one process, joined by an in-memory wire,
 * run every ST sequence once and print the operations they exchange.
 *
 *   st-demo [-q] [-s bytes]
 *
 * -q prints only the summary; -s sets the single-use transfer size
 * (default 100000 bytes).  Exit status 0 when every transfer arrived intact.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <st/st.h>

#define MAX_OPS 65536

struct wire_op {
	int dst; /* endpoint index */
	uint8_t src[ST_ULA_LEN];
	unsigned vc;
	size_t len;
	uint8_t *bytes;
};

struct region {
	uint8_t *mem;
	size_t len;
};

struct demo {
	uint64_t now;
	st_engine *ep[2];
	uint8_t ula[2][ST_ULA_LEN];
	struct wire_op *q;
	size_t q_head, q_len;
	bool quiet;
	unsigned long ops;
};

struct endpoint_ctx {
	struct demo *d;
	int self;
};

static uint64_t demo_now(void *ctx)
{
	return ((struct endpoint_ctx *)ctx)->d->now;
}

static int demo_mem_read(void *ctx, void *cookie, uint64_t off, void *dst, size_t len)
{
	(void)ctx;
	struct region *r = cookie;
	if (off > r->len || len > r->len - off)
		return -1;
	memcpy(dst, r->mem + off, len);
	return 0;
}

static int demo_mem_write(void *ctx, void *cookie, uint64_t off, const void *src, size_t len)
{
	(void)ctx;
	struct region *r = cookie;
	if (off > r->len || len > r->len - off)
		return -1;
	memcpy(r->mem + off, src, len);
	return 0;
}

static void print_op(const struct demo *d, int from, const uint8_t *hdr, size_t plen)
{
	struct st_hdr h;
	if (d->quiet || st_hdr_decode(hdr, ST_HDR_LEN, &h) != ST_HDR_OK)
		return;
	printf("  %c -> %c  %-24s", from ? 'B' : 'A', from ? 'A' : 'B', st_op_name(h.op));
	if (h.op == ST_OP_DATA)
		printf(" Bufx=%" PRIu32 " Offset=%" PRIu32 " B_num=%" PRIu32 " D_id=%" PRIu32 " len=%zu%s",
		       h.bufx, h.offset, h.b_num, h.d_id, plen,
		       (h.flags & ST_FLAG_LAST) ? " Last" : "");
	else if (h.op == ST_OP_GET)
		printf(" Function=%u T_len=%u G_num=%" PRIu32, st_hdr_function(&h), h.param, h.s_id);
	else if (h.op == ST_OP_CLEAR_TO_SEND)
		printf(" Block=%" PRIu32 " Blocksize=2^%u", h.b_num, h.param);
	else if (h.op == ST_OP_REQUEST_TO_SEND || h.op == ST_OP_REQUEST_TO_RECEIVE)
		printf(" T_len=%" PRIu64 " CTS_req=%u", (uint64_t)h.sync << 32 | h.b_num, h.param);
	else if (h.flags & ST_FLAG_REJECT)
		printf(" Reject(%s)", st_reject_str(h.param));
	printf("\n");
}

static int demo_send(void *ctx, const uint8_t dst[ST_ULA_LEN], unsigned vc,
		     const uint8_t hdr[ST_HDR_LEN], const struct iovec *iov, unsigned iovcnt)
{
	struct endpoint_ctx *e = ctx;
	struct demo *d = e->d;
	if (d->q_len == MAX_OPS)
		return -1;
	size_t plen = 0;
	for (unsigned i = 0; i < iovcnt; i++)
		plen += iov[i].iov_len;
	uint8_t *b = malloc(ST_HDR_LEN + plen);
	if (!b)
		return -1;
	memcpy(b, hdr, ST_HDR_LEN);
	size_t at = ST_HDR_LEN;
	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(b + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	struct wire_op *op = &d->q[(d->q_head + d->q_len++) % MAX_OPS];
	op->dst = memcmp(dst, d->ula[0], ST_ULA_LEN) == 0 ? 0 : 1;
	memcpy(op->src, d->ula[e->self], ST_ULA_LEN);
	op->vc = vc;
	op->len = at;
	op->bytes = b;
	print_op(d, e->self, hdr, plen);
	d->ops++;
	return 0;
}

/* Delivers everything in flight, then lets timers run, until quiet. */
static void run(struct demo *d)
{
	for (int rounds = 0; rounds < 1000000; rounds++) {
		if (d->q_len) {
			struct wire_op op = d->q[d->q_head];
			d->q_head = (d->q_head + 1) % MAX_OPS;
			d->q_len--;
			st_input(d->ep[op.dst], op.src, op.vc, op.bytes, op.len);
			free(op.bytes);
			continue;
		}
		uint64_t next = st_next_deadline(d->ep[0]);
		uint64_t n1 = st_next_deadline(d->ep[1]);
		if (n1 < next)
			next = n1;
		if (next == UINT64_MAX || next > d->now + 60ull * 1000000000ull)
			return;
		d->now = next;
		st_tick(d->ep[0]);
		st_tick(d->ep[1]);
	}
}

/* Drains both endpoints' events; returns how many reported an error. */
static int drain(struct demo *d, struct st_event *last_a, struct st_event *last_b)
{
	int errors = 0;
	struct st_event ev;
	for (int i = 0; i < 2; i++) {
		while (st_poll_event(d->ep[i], &ev)) {
			if (ev.status != ST_OK) {
				errors++;
				fprintf(stderr, "  %c: event %d failed: %s\n", i ? 'B' : 'A', ev.type,
					st_status_str(ev.status));
			}
			if (i == 0 && last_a)
				*last_a = ev;
			if (i == 1 && last_b)
				*last_b = ev;
		}
	}
	return errors;
}

static void title(const struct demo *d, const char *text)
{
	if (!d->quiet)
		printf("%s\n", text);
}

int main(int argc, char **argv)
{
	struct demo d = {.now = 1000000000ull};
	size_t xfer = 100000;
	int opt;
	while ((opt = getopt(argc, argv, "qs:h")) != -1) {
		switch (opt) {
		case 'q':
			d.quiet = true;
			break;
		case 's':
			xfer = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-q] [-s bytes]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (xfer == 0)
		xfer = 1;
	d.q = calloc(MAX_OPS, sizeof(*d.q));
	struct region ra = {calloc(1, xfer + 4096), xfer + 4096};
	struct region rb = {calloc(1, xfer + 4096), xfer + 4096};
	if (!d.q || !ra.mem || !rb.mem)
		return 1;
	struct endpoint_ctx ctx[2] = {{&d, 0}, {&d, 1}};
	for (int i = 0; i < 2; i++) {
		struct st_config cfg;
		st_config_default(&cfg);
		uint8_t ula[ST_ULA_LEN] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
		memcpy(cfg.ula, ula, ST_ULA_LEN);
		memcpy(d.ula[i], ula, ST_ULA_LEN);
		struct st_lower_ops lower = {demo_send, demo_now, demo_mem_read, demo_mem_write, &ctx[i]};
		if (st_engine_create(&cfg, &lower, &d.ep[i])) {
			fprintf(stderr, "st_engine_create failed\n");
			return 1;
		}
	}
	for (size_t i = 0; i < ra.len; i++)
		ra.mem[i] = (uint8_t)(i * 7 + 3);
	const unsigned all = ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC;
	uint16_t mxa, mxb, vca = 0;
	st_region_register(d.ep[0], ra.len, all, 0xA0A0, &ra, &mxa);
	st_region_register(d.ep[1], rb.len, all, 0xB0B0, &rb, &mxb);
	st_listen(d.ep[1], 7, NULL);

	int errors = 0;
	struct st_event ea, eb;
	struct st_connect_params cp = {.uport = 7, .local_uport = 1};
	memcpy(cp.peer, d.ula[1], ST_ULA_LEN);
	title(&d, "connect:");
	st_connect(d.ep[0], &cp, 1, &vca);
	run(&d);
	errors += drain(&d, &ea, &eb);
	uint16_t vcb = eb.vc;

	struct st_rma put = {.local_mx = mxa, .rkey = 0xB0B0, .len = 5000};
	title(&d, "PUT 5000 bytes into persistent memory (with Request_Memory_Region):");
	st_put(d.ep[0], vca, &put, 2);
	run(&d);
	errors += drain(&d, NULL, NULL);

	struct st_rma get = {.local_mx = mxa, .local_off = 8192, .rkey = 0xB0B0, .len = 5000};
	title(&d, "GET 5000 bytes back:");
	st_get(d.ep[0], vca, &get, 3);
	run(&d);
	errors += drain(&d, NULL, NULL);
	bool get_ok = memcmp(ra.mem, ra.mem + 8192, 5000) == 0;

	struct st_fetchop fo = {.fn = ST_FN_FETCH_ADD, .rkey = 0xB0B0, .remote_off = 0, .operand = 5};
	uint64_t before;
	memcpy(&before, rb.mem, 8);
	title(&d, "FETCHOP fetch-add 5:");
	st_fetchop(d.ep[0], vca, &fo, 4);
	run(&d);
	errors += drain(&d, &ea, NULL);
	uint64_t after;
	memcpy(&after, rb.mem, 8);
	bool fetch_ok = ea.value == before && after == before + 5;

	memset(rb.mem, 0, rb.len);
	bool q = d.quiet;
	if (!q)
		printf("single-use write of %zu bytes (RTS/CTS; Data operations not shown)\n", xfer);
	d.quiet = true;
	st_post_recv(d.ep[1], vcb, mxb, 0, xfer, 5);
	st_send(d.ep[0], vca, mxa, 0, xfer, true, 42, 6);
	run(&d);
	d.quiet = q;
	errors += drain(&d, NULL, NULL);
	bool send_ok = memcmp(ra.mem, rb.mem, xfer) == 0;

	memset(ra.mem + 4096, 0, xfer);
	title(&d, "single-use read of 3000 bytes (RTR):");
	st_post_source(d.ep[1], vcb, mxb, 0, 3000, 7);
	st_read(d.ep[0], vca, mxa, 4096, 3000, 8);
	run(&d);
	errors += drain(&d, NULL, NULL);
	bool read_ok = memcmp(ra.mem + 4096, rb.mem, 3000) == 0;

	title(&d, "Request_State:");
	st_request_state(d.ep[0], vca, 9);
	run(&d);
	errors += drain(&d, NULL, NULL);

	title(&d, "disconnect:");
	st_disconnect(d.ep[0], vca);
	run(&d);
	errors += drain(&d, NULL, NULL);

	struct st_counters c;
	st_get_counters(d.ep[0], 0, &c);
	printf("operations exchanged: %lu; A sent %" PRIu64 " payload bytes, %" PRIu64 " retransmits\n",
	       d.ops, c.bytes_sent, c.retransmits);
	printf("GET %s, FETCHOP %s, single-use write %s, single-use read %s, %d failed events\n",
	       get_ok ? "ok" : "WRONG", fetch_ok ? "ok" : "WRONG", send_ok ? "ok" : "WRONG",
	       read_ok ? "ok" : "WRONG", errors);
	st_engine_destroy(d.ep[0]);
	st_engine_destroy(d.ep[1]);
	while (d.q_len) {
		free(d.q[d.q_head].bytes);
		d.q_head = (d.q_head + 1) % MAX_OPS;
		d.q_len--;
	}
	free(d.q);
	free(ra.mem);
	free(rb.mem);
	return get_ok && fetch_ok && send_ok && read_ok && errors == 0 ? 0 : 1;
}
