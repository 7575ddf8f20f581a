/* SPDX-License-Identifier: MIT */
/*
 * link_bench: what gsnd's data path costs per micropacket, in one process
 * and without I/O (docs/bench.md).
 *
 * The set-up is that of a gsnd started with --cable 0=loopback
 * (emulator/gsnd/dev_loop.c): an endpoint — msg over a link configured as
 * gsnd configures its ports — whose cable leads to a reflector, a link
 * with the library's defaults that sends every micropacket it receives
 * straight back on its VC.  The endpoint sends Messages to its own ULA, so
 * each one crosses msg -> link -> cable -> reflector link -> cable -> link
 * -> msg: every micropacket is encoded (control word, LCRC) twice and
 * decoded (LCRC check) twice, carries the ECRC computed when it was queued
 * and checked at reassembly, and travels in frames with credits, sequence
 * numbers and acks.  Nothing is left out.
 *
 * The cable is two FIFOs of frames, each frame copied into a buffer of its
 * own as gsnd's loopback cable does.  The clock is virtual: it moves only
 * when no frame is waiting, to the next link deadline.  A run therefore
 * executes the same instructions every time, which makes instruction
 * counts comparable across changes while the machine is busy:
 *
 *	valgrind --tool=callgrind --toggle-collect=bench_transfer link_bench
 *
 * counts the transfer only (not set-up and link bring-up); divide the
 * instructions by the micropackets printed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsn/crc32c.h>
#include <gsn/message.h>

#include "link.h"
#include "msg.h"

#define LINE_RATE_BPS 800e6   /* GSN: 800 MB/s of data per direction */
#define LINE_RATE_MPPS 25e6   /* 800e6 / 32 bytes per micropacket */
#define GSND_WINDOW 16384u    /* gsnd's --window and --credits defaults */
#define GSND_CREDITS 16384u
#define FIFO_MAX 512u         /* frames waiting per direction, as gsnd's loopback */
#define STUCK_LIMIT 1000000u  /* clock jumps without progress before giving up */

struct opts {
	uint32_t count;
	uint32_t size;
	unsigned vc[GSN_VC_COUNT]; /* Message i goes on vc[i % nvc] */
	unsigned nvc;
	bool verify;
	bool digest;
};

struct frame {
	struct frame *next;
	size_t len;
	uint8_t data[];
};

struct fifo {
	struct frame *head, *tail;
	unsigned n;
	uint64_t frames, lost;
	bool digest;
	uint32_t crc; /* CRC-32C of every frame pushed, in order (--digest) */
};

struct held_mpkt {
	struct gsn_mpkt_ctl ctl;
	uint8_t data[GSN_MPKT_DATA];
};

struct mpktq {
	struct held_mpkt *slot;
	uint32_t cap, head, n;
};

struct bench {
	uint64_t clock_ns;
	struct gsn_link *ep_link, *refl_link;
	struct gsn_msg *msg;
	struct fifo to_refl, to_ep;
	uint8_t ula[GSN_ULA_LEN];
	const uint8_t *payload;
	size_t size;
	bool verify;
	struct mpktq held[GSN_VC_COUNT]; /* the reflector's, as gsnd's loopback */
	uint64_t delivered, bad;
	uint64_t refl_dropped; /* beyond the reflector's credits: must stay 0 */
};

/* ---- the cable --------------------------------------------------------- */

static int fifo_push(struct fifo *q, const uint8_t *data, size_t len)
{
	if (q->n >= FIFO_MAX) {
		q->lost++;
		return -EAGAIN;
	}
	struct frame *f = malloc(sizeof(*f) + len);

	if (!f) {
		q->lost++;
		return -ENOMEM;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->data, data, len);
	if (q->digest)
		q->crc = gsn_crc32c(q->crc, data, len);
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->n++;
	q->frames++;
	return 0;
}

static struct frame *fifo_pop(struct fifo *q)
{
	struct frame *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return f;
}

static void fifo_free(struct fifo *q)
{
	struct frame *f;

	while ((f = fifo_pop(q)))
		free(f);
}

/* ---- the endpoint ------------------------------------------------------ */

static uint64_t bench_now(void *ctx)
{
	return ((const struct bench *)ctx)->clock_ns;
}

static int ep_tx_frame(void *ctx, const uint8_t *frame, size_t len)
{
	return fifo_push(&((struct bench *)ctx)->to_refl, frame, len);
}

static void ep_rx_run(void *ctx, const uint8_t *mpkts, size_t n)
{
	gsn_msg_link_rx_run(((struct bench *)ctx)->msg, mpkts, n);
}

static void ep_tx_ready(void *ctx, unsigned vc)
{
	gsn_msg_link_tx_ready(((struct bench *)ctx)->msg, vc);
}

static void ep_event(void *ctx, enum gsn_link_event ev, uint32_t peer_inc)
{
	gsn_msg_link_event(((struct bench *)ctx)->msg, ev, peer_inc);
}

static bool ep_deliver(void *ctx, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		       const uint8_t dst[GSN_ULA_LEN], uint16_t ethertype, const uint8_t *pdu,
		       size_t len)
{
	struct bench *b = ctx;

	(void)vc;
	(void)src;
	(void)dst;
	b->delivered++;
	if (ethertype != GSN_ETHERTYPE_ST || len != b->size ||
	    (b->verify && memcmp(pdu, b->payload, len) != 0))
		b->bad++;
	return true;
}

/* ---- the reflector ------------------------------------------------------ */

static int refl_tx_frame(void *ctx, const uint8_t *frame, size_t len)
{
	return fifo_push(&((struct bench *)ctx)->to_ep, frame, len);
}

/* A micropacket the reflector's link could not take yet, as in gsnd. */
static bool held_push(struct mpktq *q, const uint8_t *mp)
{
	if (q->n == q->cap)
		return false;
	struct held_mpkt *h = &q->slot[(q->head + q->n) % q->cap];

	gsn_mpkt_ctl_unpack(gsn_mpkt_ctl_word(mp), &h->ctl);
	memcpy(h->data, mp + GSN_MPKT_CTL_LEN, GSN_MPKT_DATA);
	q->n++;
	return true;
}

/*
 * gsnd's loopback (emulator/gsnd/dev_loop.c): each micropacket goes straight
 * back and returns its credit, unless others already wait on its VC; then
 * it waits behind them for tx_ready.
 */
static void refl_rx_run(void *ctx, const uint8_t *mpkts, size_t n)
{
	struct bench *b = ctx;

	while (n) {
		unsigned vc = mpkts[0] >> 6; /* control word bits 63..62 */
		size_t m = 1, sent = 0;

		while (m < n && (unsigned)(mpkts[m * GSN_MPKT_LEN] >> 6) == vc)
			m++;
		while (!b->held[vc].n && sent < m) {
			int k = gsn_link_send_back(b->refl_link, mpkts + sent * GSN_MPKT_LEN, m - sent);

			if (k <= 0)
				break;
			sent += (size_t)k;
		}
		for (size_t i = sent; i < m; i++) {
			if (held_push(&b->held[vc], mpkts + i * GSN_MPKT_LEN))
				continue;
			b->refl_dropped++;
			gsn_link_consumed(b->refl_link, vc, 1);
		}
		mpkts += m * GSN_MPKT_LEN;
		n -= m;
	}
}

static void refl_tx_ready(void *ctx, unsigned vc)
{
	struct bench *b = ctx;
	struct mpktq *q = &b->held[vc % GSN_VC_COUNT];

	while (q->n) {
		struct held_mpkt *h = &q->slot[q->head];

		if (gsn_link_send(b->refl_link, &h->ctl, h->data))
			return;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		gsn_link_consumed(b->refl_link, h->ctl.vc, 1);
	}
}

/* ---- set-up -------------------------------------------------------------- */

static int bench_open(struct bench *b)
{
	struct gsn_link_config lc;
	struct gsn_link_ops ep_ops = {
		.tx_frame = ep_tx_frame, .rx_run = ep_rx_run, .tx_ready = ep_tx_ready,
		.event = ep_event, .now_ns = bench_now, .ctx = b,
	};
	struct gsn_link_ops refl_ops = {
		.tx_frame = refl_tx_frame, .rx_run = refl_rx_run, .tx_ready = refl_tx_ready,
		.now_ns = bench_now, .ctx = b,
	};
	struct gsn_msg_config mc;
	struct gsn_msg_ops msg_ops = {.deliver = ep_deliver, .ctx = b};
	int err;

	gsn_link_config_default(&lc);
	lc.incarnation = 0x1234567u;
	lc.window = GSND_WINDOW;
	for (unsigned vc = 1; vc < GSN_VC_COUNT; vc++)
		lc.rx_credits[vc] = GSND_CREDITS;
	if ((err = gsn_link_create(&lc, &ep_ops, &b->ep_link)))
		return err;
	gsn_link_config_default(&lc);
	lc.incarnation = 0x89abcdefu;
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		b->held[vc].cap = lc.rx_credits[vc];
		b->held[vc].slot = calloc(lc.rx_credits[vc], sizeof(struct held_mpkt));
		if (!b->held[vc].slot)
			return -ENOMEM;
	}
	if ((err = gsn_link_create(&lc, &refl_ops, &b->refl_link)))
		return err;
	gsn_msg_config_default(&mc);
	memcpy(mc.ula, b->ula, GSN_ULA_LEN);
	return gsn_msg_create(&mc, b->ep_link, &msg_ops, &b->msg);
}

static void bench_close(struct bench *b)
{
	gsn_msg_destroy(b->msg);
	gsn_link_destroy(b->ep_link);
	gsn_link_destroy(b->refl_link);
	fifo_free(&b->to_refl);
	fifo_free(&b->to_ep);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		free(b->held[vc].slot);
}

/* ---- running ------------------------------------------------------------- */

/* Hands over the frames waiting now (not those they cause); true if any. */
static bool cable_step(struct bench *b)
{
	unsigned n = b->to_refl.n, m = b->to_ep.n;
	struct frame *f;

	if (!n && !m)
		return false;
	while (n-- && (f = fifo_pop(&b->to_refl))) {
		gsn_link_input_frame(b->refl_link, f->data, f->len);
		free(f);
	}
	while (m-- && (f = fifo_pop(&b->to_ep))) {
		gsn_link_input_frame(b->ep_link, f->data, f->len);
		free(f);
	}
	return true;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Nothing moves: jump to the next deadline and run the due timers. */
static int clock_jump(struct bench *b)
{
	uint64_t t = min_u64(gsn_link_next_deadline(b->ep_link),
			     gsn_link_next_deadline(b->refl_link));

	if (t == UINT64_MAX)
		return -EDEADLK;
	if (t > b->clock_ns)
		b->clock_ns = t;
	if (gsn_link_next_deadline(b->ep_link) <= b->clock_ns)
		gsn_link_tick(b->ep_link);
	if (gsn_link_next_deadline(b->refl_link) <= b->clock_ns)
		gsn_link_tick(b->refl_link);
	return 0;
}

static int bring_up(struct bench *b)
{
	gsn_link_start(b->refl_link);
	gsn_link_start(b->ep_link);
	for (unsigned i = 0; i < STUCK_LIMIT; i++) {
		if (gsn_link_state(b->ep_link) == GSN_LINK_UP &&
		    gsn_link_state(b->refl_link) == GSN_LINK_UP)
			return 0;
		if (!cable_step(b) && clock_jump(b))
			return -EDEADLK;
	}
	return -ETIMEDOUT;
}

/*
 * The measured part: queues count Messages as fast as msg takes them and
 * moves frames until all are back.  Kept out of line so that callgrind's
 * --toggle-collect can name it.
 */
__attribute__((noinline)) static int bench_transfer(struct bench *b, const struct opts *o)
{
	struct iovec iov = {.iov_base = (void *)b->payload, .iov_len = b->size};
	uint32_t sent = 0;
	unsigned stuck = 0;

	while (b->delivered < o->count) {
		bool moved = false;

		while (sent < o->count &&
		       gsn_msg_send(b->msg, o->vc[sent % o->nvc], b->ula, GSN_ETHERTYPE_ST, &iov,
				    1) == 0) {
			sent++;
			moved = true;
		}
		gsn_msg_flush(b->msg);
		if (cable_step(b))
			moved = true;
		gsn_link_flush(b->refl_link);
		if (moved) {
			stuck = 0;
			continue;
		}
		if (++stuck > STUCK_LIMIT || clock_jump(b))
			return -EDEADLK;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: link_bench [-n COUNT] [-s SIZE] [-v VC[,VC...]] [--verify] [--digest]\n"
		"  -n COUNT   Messages (default 256)\n"
		"  -s SIZE    payload bytes per Message (default 131176, the largest VC1\n"
		"             Message: 4100 micropackets)\n"
		"  -v VCS     virtual channel 0..3 (default 1, ST's data VC); a list such\n"
		"             as 1,2 sends the Messages on those VCs in turn\n"
		"  --verify   compare every delivered payload with the one sent\n"
		"  --digest   print a CRC of every frame that crossed the cable, per\n"
		"             direction: equal digests mean byte-identical runs\n");
}

/* "1" or "1,2,3": the VCs Messages go on, in turn. */
static int parse_vcs(const char *arg, struct opts *o)
{
	const char *p = arg;

	o->nvc = 0;
	for (;;) {
		char *end = NULL;
		unsigned long vc = strtoul(p, &end, 10);

		if (end == p || vc >= GSN_VC_COUNT || o->nvc == GSN_VC_COUNT)
			return -1;
		o->vc[o->nvc++] = (unsigned)vc;
		if (!*end)
			return 0;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"verify", no_argument, NULL, 'V'}, {"digest", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.count = 256, .size = 131176, .vc = {1}, .nvc = 1};
	while ((c = getopt_long(argc, argv, "n:s:v:h", lo, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 'n':
			o->count = (uint32_t)strtoul(optarg, &end, 0);
			if (*end || !o->count)
				return -1;
			break;
		case 's':
			o->size = (uint32_t)strtoul(optarg, &end, 0);
			if (*end)
				return -1;
			break;
		case 'v':
			if (parse_vcs(optarg, o))
				return -1;
			break;
		case 'V':
			o->verify = true;
			break;
		case 'D':
			o->digest = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	for (unsigned i = 0; i < o->nvc; i++)
		if (!gsn_message_fits_vc(o->vc[i], o->size + GSN_MSG_SNAP_LEN))
			return -1;
	return 0;
}

static uint8_t *make_payload(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	uint32_t x = 0x2545f491u;

	for (size_t i = 0; p && i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static void report(const struct bench *b, const struct opts *o, double secs)
{
	struct gsn_link_stats es, rs;
	uint64_t per_msg = gsn_msg_mpkts(o->size);
	uint64_t mpkts = per_msg * o->count;

	gsn_link_stats(b->ep_link, &es);
	gsn_link_stats(b->refl_link, &rs);
	printf("messages %" PRIu32 " x %" PRIu32 " bytes on VC", o->count, o->size);
	for (unsigned i = 0; i < o->nvc; i++)
		printf("%s%u", i ? "," : "", o->vc[i]);
	printf(": %" PRIu64 " micropackets each, %" PRIu64 " in all\n", per_msg, mpkts);
	printf("frames   endpoint->reflector %" PRIu64 ", reflector->endpoint %" PRIu64
	       "; retransmitted %" PRIu64 " + %" PRIu64 "; frames lost %" PRIu64 "\n",
	       b->to_refl.frames, b->to_ep.frames, es.retx_mpkts, rs.retx_mpkts,
	       b->to_refl.lost + b->to_ep.lost);
	printf("time     %.3f s: %.2f M mpkts/s (%.0f%% of 25 M/s), %.1f MB/s of payload"
	       " (%.0f%% of 800 MB/s)\n",
	       secs, (double)mpkts / secs / 1e6, (double)mpkts / secs / LINE_RATE_MPPS * 100,
	       (double)b->size * o->count / secs / 1e6,
	       (double)b->size * o->count / secs / LINE_RATE_BPS * 100);
	if (o->digest)
		printf("digest   endpoint->reflector %08" PRIx32 ", reflector->endpoint %08" PRIx32
		       "\n", b->to_refl.crc, b->to_ep.crc);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench b = {.clock_ns = 1000000000ull, .ula = {0x02, 0, 0, 0, 0, 0x01}};

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	b.size = o.size;
	b.verify = o.verify;
	b.to_refl.digest = b.to_ep.digest = o.digest;
	uint8_t *payload = make_payload(o.size);
	int err = payload ? bench_open(&b) : -ENOMEM;

	b.payload = payload;
	if (!err)
		err = bring_up(&b);
	if (err) {
		fprintf(stderr, "link_bench: set-up: %s\n", strerror(-err));
		bench_close(&b);
		free(payload);
		return 1;
	}
	double t0 = now_s();

	err = bench_transfer(&b, &o);
	double secs = now_s() - t0;

	if (err)
		fprintf(stderr, "link_bench: transfer stuck after %" PRIu64 " Messages\n",
			b.delivered);
	else
		report(&b, &o, secs);
	if (b.bad || b.refl_dropped) {
		fprintf(stderr, "link_bench: %" PRIu64 " bad Messages, %" PRIu64
			" micropackets dropped by the reflector\n", b.bad, b.refl_dropped);
		err = -EIO;
	}
	bench_close(&b);
	free(payload);
	return err ? 1 : 0;
}
