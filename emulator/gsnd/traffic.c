/* SPDX-License-Identifier: MIT */
/*
 * Test traffic at an endpoint:
 *
 *  - the sink: Messages with EtherType 0x88B6 are counted (messages, bytes,
 *    first and last arrival on CLOCK_MONOTONIC) and released at once;
 *  - the generator (control command GEN): count Messages of size payload
 *    bytes, EtherType 0x88B6, to a ULA on a VC, handed to msg as fast as
 *    its queue takes them.  When msg refuses (-EAGAIN) the generator waits
 *    for msg's tx_space; it never polls.  The payload is a pattern whose
 *    first 8 bytes carry the Message's number (big-endian), for taps.
 *
 * gen.* describe the last GEN command (reset by each), sink.* everything
 * received since start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/wire_bytes.h>

#include "element.h"

#define COMP "gen"
#define GEN_SIZE_MAX (1u << 20) /* payload bytes of a generated Message */

struct gsnd_traffic {
	/* sink */
	uint64_t sink_msgs, sink_bytes, sink_first_ns, sink_last_ns;
	uint64_t sink_msgs_vc[GSN_VC_COUNT];
	/* generator */
	bool active, waiting;
	uint8_t dst[GSN_ULA_LEN];
	unsigned vc;
	uint32_t size, count;
	uint8_t *buf;
	uint64_t msgs, bytes, eagain, errors, runs, start_ns, end_ns;
	int last_error;
};

static struct gsnd_traffic *tr(const struct gsnd *d)
{
	return d->ep->traffic;
}

void gsnd_sink_input(struct gsnd *d, unsigned vc, size_t len)
{
	struct gsnd_traffic *t = tr(d);
	uint64_t now = gsnd_now(d);

	if (!t->sink_msgs)
		t->sink_first_ns = now;
	t->sink_last_ns = now;
	t->sink_msgs++;
	t->sink_bytes += len;
	t->sink_msgs_vc[vc & 3]++;
}

static void gen_stop(struct gsnd *d, int err)
{
	struct gsnd_traffic *t = tr(d);

	t->active = false;
	t->waiting = false;
	t->end_ns = gsnd_now(d);
	t->last_error = err;
	if (err)
		GSN_WARN(&d->log, COMP, "stopped after %llu Messages: %s",
			 (unsigned long long)t->msgs, strerror(-err));
	else
		GSN_INFO(&d->log, COMP, "%llu Messages (%llu bytes) queued",
			 (unsigned long long)t->msgs, (unsigned long long)t->bytes);
}

void gsnd_gen_pump(struct gsnd *d)
{
	struct gsnd_traffic *t = tr(d);

	while (t->active && !t->waiting) {
		if (t->msgs == t->count) {
			gen_stop(d, 0);
			return;
		}
		struct iovec iov = {t->buf, t->size};

		if (t->size >= 8)
			gsn_put_be64(t->buf, t->msgs);
		int err = gsn_msg_send(d->ep->msg, t->vc, t->dst, GSN_ETHERTYPE_TEST, &iov, 1);

		if (err == -EAGAIN) {
			t->eagain++;
			t->waiting = true;
			return;
		}
		if (err) {
			t->errors++;
			gen_stop(d, err);
			return;
		}
		t->msgs++;
		t->bytes += t->size;
	}
}

void gsnd_gen_tx_space(struct gsnd *d, unsigned vc)
{
	struct gsnd_traffic *t = tr(d);

	if (t->active && vc == t->vc)
		t->waiting = false;
}

static int gen_check(const struct gsnd *d, const struct gsn_ctl_gen *g)
{
	static const uint8_t zero[GSN_ULA_LEN];

	if (tr(d)->active)
		return -EBUSY;
	if (!d->ep->has_ula)
		return -ENETDOWN;
	if (gsn_ula_equal(g->dst, zero))
		return -EINVAL;
	if (g->size > GEN_SIZE_MAX || !gsn_message_fits_vc(g->vc, g->size + GSN_MSG_SNAP_LEN))
		return -EMSGSIZE;
	return 0;
}

int gsnd_ctl_gen(struct gsnd *d, const uint8_t *body, size_t len)
{
	struct gsnd_traffic *t = tr(d);
	struct gsn_ctl_gen g;
	int err = gsn_ctl_gen_decode(body, len, &g);

	if (!err)
		err = gen_check(d, &g);
	if (err)
		return err;
	uint8_t *buf = malloc(g.size ? g.size : 1);

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < g.size; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	free(t->buf);
	t->buf = buf;
	memcpy(t->dst, g.dst, GSN_ULA_LEN);
	t->vc = g.vc;
	t->size = g.size;
	t->count = g.count;
	t->msgs = t->bytes = t->eagain = t->errors = 0;
	t->last_error = 0;
	t->runs++;
	t->start_ns = gsnd_now(d);
	t->end_ns = 0;
	t->active = true;
	t->waiting = false;
	return 0; /* the caller answers; the hook sends */
}

int gsnd_traffic_init(struct gsnd *d)
{
	d->ep->traffic = calloc(1, sizeof(struct gsnd_traffic));
	return d->ep->traffic ? 0 : -ENOMEM;
}

void gsnd_traffic_fini(struct gsnd *d)
{
	if (!d->ep->traffic)
		return;
	free(d->ep->traffic->buf);
	free(d->ep->traffic);
	d->ep->traffic = NULL;
}

void gsnd_traffic_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_traffic *t = tr(d);

	gsn_ctl_textf(buf, cap, off,
		      "sink.msgs=%llu\nsink.bytes=%llu\nsink.first_ns=%llu\nsink.last_ns=%llu\n",
		      (unsigned long long)t->sink_msgs, (unsigned long long)t->sink_bytes,
		      (unsigned long long)t->sink_first_ns, (unsigned long long)t->sink_last_ns);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		gsn_ctl_textf(buf, cap, off, "sink.msgs.vc%u=%llu\n", vc,
			      (unsigned long long)t->sink_msgs_vc[vc]);
	gsn_ctl_textf(buf, cap, off,
		      "gen.msgs=%llu\ngen.bytes=%llu\ngen.done=%d\ngen.active=%d\ngen.count=%u\n"
		      "gen.size=%u\ngen.vc=%u\ngen.eagain=%llu\ngen.errors=%llu\ngen.error=%d\n"
		      "gen.runs=%llu\ngen.start_ns=%llu\ngen.end_ns=%llu\n",
		      (unsigned long long)t->msgs, (unsigned long long)t->bytes,
		      t->runs && !t->active && !t->errors, t->active, t->count, t->size, t->vc,
		      (unsigned long long)t->eagain, (unsigned long long)t->errors, t->last_error,
		      (unsigned long long)t->runs, (unsigned long long)t->start_ns,
		      (unsigned long long)t->end_ns);
}
