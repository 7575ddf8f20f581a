/* SPDX-License-Identifier: MIT */
/* Fault layers on frames: drop, disorder, duplicate, corrupt, pcap tap. */
#include "filter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gsn/cable.h>

#define FRAME_HDR GSN_FRAME_HDR_LEN
#define MPKT_LEN GSN_MPKT_LEN

/* ---- spec parsing ---- */

struct perr {
	char *buf;
	size_t len;
	unsigned layer;
};

static int fail(struct perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct perr *e, const char *fmt, ...)
{
	if (e->buf && e->len) {
		int n = snprintf(e->buf, e->len, "layer %u: ", e->layer);
		va_list ap;

		if (n < 0 || (size_t)n >= e->len)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_prob(const char *s, double *out)
{
	char *end;

	if (!*s || strlen(s) > 32)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789.eE-+", *p))
			return -EINVAL; /* no "nan", "inf", hex floats */
	errno = 0;
	double v = strtod(s, &end);

	if (errno || *end || !isfinite(v) || v < 0.0 || v > 1.0)
		return -EINVAL;
	*out = v;
	return 0;
}

static const char *const kind_names[] = {"drop", "disorder", "dup", "corrupt", "tap"};

const char *gsn_filter_kind_name(enum gsn_filter_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static void conf_defaults(struct gsn_filter_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->seed = 1;
	c->dirs = GSN_FILTER_DIR_TX | GSN_FILTER_DIR_RX;
	c->after = 2;
	c->hold_ns = 1000000;
	c->bits = 1;
}

/* The first item: the kind and its main value. */
static int parse_kind(struct gsn_filter_conf *c, const char *key, const char *val, struct perr *e)
{
	static const struct {
		const char *name;
		enum gsn_filter_kind kind;
		bool nth;
	} kinds[] = {
		{"drop", GSN_FILTER_DROP, false},     {"drop-nth", GSN_FILTER_DROP, true},
		{"disorder", GSN_FILTER_DISORDER, false}, {"dup", GSN_FILTER_DUP, false},
		{"dup-nth", GSN_FILTER_DUP, true},    {"corrupt", GSN_FILTER_CORRUPT, false},
		{"tap", GSN_FILTER_TAP, false},
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(key, kinds[i].name) != 0)
			continue;
		c->kind = kinds[i].kind;
		if (!val)
			return fail(e, "'%s' needs a value", key);
		if (c->kind == GSN_FILTER_TAP) {
			if (!*val || strlen(val) >= sizeof(c->path))
				return fail(e, "tap: bad path");
			strcpy(c->path, val);
			return 0;
		}
		if (kinds[i].nth)
			return parse_uint(val, 1, 1000000000, &c->nth) ? fail(e, "%s: want 1..1e9", key)
								       : 0;
		return parse_prob(val, &c->rate) ? fail(e, "%s: want a probability 0..1", key) : 0;
	}
	return fail(e, "unknown kind '%s'", key);
}

static int parse_dir(struct gsn_filter_conf *c, const char *val, struct perr *e)
{
	if (strcmp(val, "tx") == 0)
		c->dirs = GSN_FILTER_DIR_TX;
	else if (strcmp(val, "rx") == 0)
		c->dirs = GSN_FILTER_DIR_RX;
	else if (strcmp(val, "both") == 0)
		c->dirs = GSN_FILTER_DIR_TX | GSN_FILTER_DIR_RX;
	else
		return fail(e, "dir: want tx, rx or both");
	return 0;
}

/* Options after the first item. */
static int parse_option(struct gsn_filter_conf *c, const char *key, const char *val,
			struct perr *e)
{
	uint64_t v;

	if (!val)
		return fail(e, "'%s' needs a value", key);
	if (strcmp(key, "seed") == 0)
		return parse_uint(val, 0, UINT64_MAX, &c->seed) ? fail(e, "seed: bad number") : 0;
	if (strcmp(key, "dir") == 0)
		return parse_dir(c, val, e);
	if (c->kind == GSN_FILTER_DISORDER && strcmp(key, "after") == 0) {
		if (parse_uint(val, 1, 1000, &v))
			return fail(e, "after: want 1..1000");
		c->after = (unsigned)v;
		return 0;
	}
	if (c->kind == GSN_FILTER_DISORDER && strcmp(key, "hold-us") == 0) {
		if (parse_uint(val, 1, 10000000, &v))
			return fail(e, "hold-us: want 1..10000000");
		c->hold_ns = v * 1000;
		return 0;
	}
	if (c->kind == GSN_FILTER_CORRUPT && strcmp(key, "unit") == 0) {
		if (strcmp(val, "frame") != 0 && strcmp(val, "mpkt") != 0)
			return fail(e, "unit: want frame or mpkt");
		c->per_mpkt = strcmp(val, "mpkt") == 0;
		return 0;
	}
	if (c->kind == GSN_FILTER_CORRUPT && strcmp(key, "bits") == 0) {
		if (parse_uint(val, 1, 64, &v))
			return fail(e, "bits: want 1..64");
		c->bits = (unsigned)v;
		return 0;
	}
	if (c->kind == GSN_FILTER_CORRUPT && strcmp(key, "header") == 0) {
		if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
			return fail(e, "header: want on or off");
		c->header = strcmp(val, "on") == 0;
		return 0;
	}
	return fail(e, "unknown option '%s' for %s", key, gsn_filter_kind_name(c->kind));
}

/* One layer: "kind=value,key=value,..." (modified in place). */
static int parse_layer(char *s, struct gsn_filter_conf *c, struct perr *e)
{
	conf_defaults(c);
	if (!*s)
		return fail(e, "empty");
	bool first = true;

	for (char *save = NULL, *item = strtok_r(s, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		const char *val = NULL;

		if (eq) {
			*eq = '\0';
			val = eq + 1;
		}
		int err = first ? parse_kind(c, item, val, e) : parse_option(c, item, val, e);

		if (err)
			return err;
		first = false;
	}
	return first ? fail(e, "empty") : 0;
}

int gsn_filter_parse(const char *spec, struct gsn_filter_conf *confs, size_t max, size_t *n,
		     char *err, size_t errlen)
{
	char buf[GSN_FILTER_SPEC_MAX + 1];
	struct perr e = {err, errlen, 0};
	size_t len = spec ? strnlen(spec, sizeof(buf)) : 0;

	*n = 0;
	if (len == 0)
		return fail(&e, "empty filter spec");
	if (len >= sizeof(buf))
		return fail(&e, "filter spec longer than %u bytes", GSN_FILTER_SPEC_MAX);
	memcpy(buf, spec, len + 1);
	if (buf[len - 1] == '+' || buf[0] == '+' || strstr(buf, "++") || strstr(buf, ",,"))
		return fail(&e, "empty layer or item");
	for (char *save = NULL, *l = strtok_r(buf, "+", &save); l; l = strtok_r(NULL, "+", &save)) {
		e.layer = (unsigned)*n + 1;
		if (*n >= max || *n >= GSN_FILTER_LAYERS_MAX)
			return fail(&e, "too many layers");
		if (l[0] == ',' || l[strlen(l) - 1] == ',')
			return fail(&e, "empty item");
		int r = parse_layer(l, &confs[*n], &e);

		if (r)
			return r;
		(*n)++;
	}
	return 0;
}

/* ---- the layer ---- */

enum { DIR_TX, DIR_RX };

struct filter;

struct fdir {
	struct filter *f;
	int dir;
	struct gsn_rng rng;
	uint64_t count;   /* frames seen in this direction */
	uint8_t *held;    /* disorder: the held frame (GSN_CABLE_FRAME_MAX bytes) */
	size_t held_len;
	bool holding;
	unsigned passed;  /* frames passed since holding */
	struct gsn_timer timer;
	uint8_t *scratch; /* corrupt: the damaged copy */
};

struct filter {
	struct gsn_cable c;
	struct gsn_loop *loop;
	const struct gsn_log *log;
	struct gsn_filter_conf conf;
	struct gsn_filter_stats stats;
	struct fdir d[2];
	int tap_fd;
};

static const struct gsn_cable_ops filter_ops;

static int emit(struct fdir *d, const uint8_t *frame, size_t len)
{
	if (d->dir == DIR_TX)
		return gsn_cable_send(d->f->c.lower, frame, len);
	gsn_cable_deliver(&d->f->c, frame, len);
	return 0;
}

static bool hit(struct fdir *d, uint64_t nth, double rate)
{
	if (nth)
		return d->count % nth == 0;
	return gsn_rng_unit(&d->rng) < rate;
}

static int do_drop(struct fdir *d, const uint8_t *frame, size_t len)
{
	if (hit(d, d->f->conf.nth, d->f->conf.rate)) {
		d->f->stats.dropped++;
		return 0;
	}
	return emit(d, frame, len);
}

static int do_dup(struct fdir *d, const uint8_t *frame, size_t len)
{
	bool twice = hit(d, d->f->conf.nth, d->f->conf.rate);
	int r = emit(d, frame, len);

	if (twice && r == 0) {
		d->f->stats.duplicated++;
		emit(d, frame, len);
	}
	return r;
}

static void release_held(struct fdir *d)
{
	d->holding = false;
	gsn_loop_timer_cancel(d->f->loop, &d->timer);
	if (emit(d, d->held, d->held_len) != 0)
		d->f->stats.errors++; /* the cable was full: lost, the link repairs it */
}

static void disorder_timeout(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	struct fdir *d = arg;

	if (!d->holding)
		return;
	d->f->stats.released_late++;
	release_held(d);
}

static int do_disorder(struct fdir *d, const uint8_t *frame, size_t len)
{
	struct filter *f = d->f;

	if (!d->holding) {
		if (gsn_rng_unit(&d->rng) >= f->conf.rate)
			return emit(d, frame, len);
		if (!d->held && !(d->held = malloc(GSN_CABLE_FRAME_MAX)))
			return emit(d, frame, len);
		if (len)
			memcpy(d->held, frame, len);
		d->held_len = len;
		d->holding = true;
		d->passed = 0;
		f->stats.held++;
		gsn_loop_timer_in(f->loop, &d->timer, f->conf.hold_ns, 0);
		return 0;
	}
	int r = emit(d, frame, len);

	if (d->holding && ++d->passed >= f->conf.after) {
		f->stats.reordered++;
		release_held(d);
	}
	return r;
}

static void flip_bits(struct fdir *d, uint8_t *p, size_t nbytes)
{
	for (unsigned i = 0; i < d->f->conf.bits; i++) {
		uint64_t bit = gsn_rng_next(&d->rng) % (nbytes * 8);

		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

static int do_corrupt(struct fdir *d, const uint8_t *frame, size_t len)
{
	struct filter *f = d->f;
	size_t start = f->conf.header ? 0 : FRAME_HDR;
	bool copied = false;

	if (!d->scratch && !(d->scratch = malloc(GSN_CABLE_FRAME_MAX)))
		return emit(d, frame, len);
	if (!f->conf.per_mpkt) {
		if (gsn_rng_unit(&d->rng) < f->conf.rate && len > start) {
			memcpy(d->scratch, frame, len);
			copied = true;
			flip_bits(d, d->scratch + start, len - start);
			f->stats.corrupted++;
		}
	} else {
		for (size_t off = FRAME_HDR; off + MPKT_LEN <= len; off += MPKT_LEN) {
			if (gsn_rng_unit(&d->rng) >= f->conf.rate)
				continue;
			if (!copied)
				memcpy(d->scratch, frame, len);
			copied = true;
			flip_bits(d, d->scratch + off, MPKT_LEN);
			f->stats.corrupted++;
		}
	}
	return emit(d, copied ? d->scratch : frame, len);
}

static void tap_write(struct filter *f, const uint8_t *frame, size_t len)
{
	struct timespec ts;
	uint32_t rec[4];

	if (f->tap_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec[0] = (uint32_t)ts.tv_sec;
	rec[1] = (uint32_t)(ts.tv_nsec / 1000);
	rec[2] = rec[3] = (uint32_t)len;
	struct iovec iov[2] = {{rec, sizeof(rec)}, {(void *)frame, len}};

	if (writev(f->tap_fd, iov, 2) != (ssize_t)(sizeof(rec) + len)) {
		f->stats.errors++;
		GSN_WARN(f->log, "filter", "tap %s: write failed, tap stopped", f->conf.path);
		close(f->tap_fd);
		f->tap_fd = -1;
		return;
	}
	f->stats.tapped++;
}

static int process(struct fdir *d, const uint8_t *frame, size_t len)
{
	struct filter *f = d->f;

	if (!(f->conf.dirs & (d->dir == DIR_TX ? GSN_FILTER_DIR_TX : GSN_FILTER_DIR_RX)) ||
	    len > GSN_CABLE_FRAME_MAX)
		return emit(d, frame, len);
	f->stats.frames++;
	d->count++;
	switch (f->conf.kind) {
	case GSN_FILTER_DROP:
		return do_drop(d, frame, len);
	case GSN_FILTER_DISORDER:
		return do_disorder(d, frame, len);
	case GSN_FILTER_DUP:
		return do_dup(d, frame, len);
	case GSN_FILTER_CORRUPT:
		return do_corrupt(d, frame, len);
	case GSN_FILTER_TAP:
		tap_write(f, frame, len);
		return emit(d, frame, len);
	}
	return emit(d, frame, len);
}

static int filter_send(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	struct filter *f = (struct filter *)c;

	if (len > c->mtu)
		return -EMSGSIZE;
	return process(&f->d[DIR_TX], frame, len);
}

static void filter_rx(void *arg, const uint8_t *frame, size_t len)
{
	struct filter *f = arg;

	process(&f->d[DIR_RX], frame, len);
}

/* Frees the layer alone (not lower). */
static void filter_free(struct filter *f)
{
	for (int i = 0; i < 2; i++) {
		gsn_loop_timer_cancel(f->loop, &f->d[i].timer);
		free(f->d[i].held);
		free(f->d[i].scratch);
	}
	if (f->tap_fd >= 0)
		close(f->tap_fd);
	free(f);
}

static void filter_close(struct gsn_cable *c)
{
	struct gsn_cable *lower = c->lower;

	filter_free((struct filter *)c);
	gsn_cable_close(lower);
}

static const struct gsn_cable_ops filter_ops = {
	.kind = "filter",
	.send = filter_send,
	.close = filter_close,
};

static int tap_open(struct filter *f)
{
	/* pcap global header in host byte order: readers detect it by the magic */
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} gh = {0xa1b2c3d4u, 2, 4, 0, 0, GSN_CABLE_FRAME_MAX, GSN_PCAP_LINKTYPE};

	_Static_assert(sizeof(gh) == 24, "pcap global header is 24 bytes");
	f->tap_fd = open(f->conf.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->tap_fd < 0)
		return -errno;
	if (write(f->tap_fd, &gh, sizeof(gh)) != (ssize_t)sizeof(gh))
		return errno ? -errno : -EIO;
	return 0;
}

static int filter_new(struct gsn_loop *loop, const struct gsn_filter_conf *conf,
		      const struct gsn_log *log, struct filter **out)
{
	struct filter *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->c.ops = &filter_ops;
	f->loop = loop;
	f->log = log;
	f->conf = *conf;
	f->tap_fd = -1;
	for (int i = 0; i < 2; i++) {
		f->d[i].f = f;
		f->d[i].dir = i;
		gsn_rng_seed(&f->d[i].rng, i == DIR_TX ? conf->seed : ~conf->seed);
		gsn_timer_init(&f->d[i].timer, disorder_timeout, &f->d[i]);
	}
	if (conf->kind == GSN_FILTER_TAP) {
		int err = tap_open(f);

		if (err) {
			GSN_ERR(log, "filter", "tap %s: %s", conf->path, strerror(-err));
			filter_free(f);
			return err;
		}
	}
	*out = f;
	return 0;
}

/* Puts f on top of *top. */
static void filter_link(struct filter *f, struct gsn_cable **top)
{
	struct gsn_cable *lower = *top;

	f->c.lower = lower;
	f->c.mtu = lower->mtu;
	f->c.rx = lower->rx;
	f->c.rx_arg = lower->rx_arg;
	gsn_cable_set_rx(lower, filter_rx, f);
	*top = &f->c;
}

int gsn_filter_push(struct gsn_loop *loop, struct gsn_cable **top, const char *spec,
		    const struct gsn_log *log)
{
	struct gsn_filter_conf confs[GSN_FILTER_LAYERS_MAX];
	struct filter *made[GSN_FILTER_LAYERS_MAX];
	char msg[160];
	size_t n;
	int err = gsn_filter_parse(spec, confs, GSN_FILTER_LAYERS_MAX, &n, msg, sizeof(msg));

	if (err) {
		GSN_ERR(log, "filter", "'%.64s': %s", spec ? spec : "", msg);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		err = filter_new(loop, &confs[i], log, &made[i]);
		if (err) {
			while (i-- > 0)
				filter_free(made[i]);
			return err;
		}
	}
	/* bottom-most layer (last listed) first */
	for (size_t i = n; i-- > 0;)
		filter_link(made[i], top);
	return 0;
}

const struct gsn_filter_conf *gsn_filter_get_conf(const struct gsn_cable *c)
{
	return c && c->ops == &filter_ops ? &((const struct filter *)c)->conf : NULL;
}

const struct gsn_filter_stats *gsn_filter_get_stats(const struct gsn_cable *c)
{
	return c && c->ops == &filter_ops ? &((const struct filter *)c)->stats : NULL;
}

size_t gsn_filter_stats_format(const struct gsn_cable *top, const char *prefix, char *buf,
			       size_t len)
{
	size_t off = 0;
	unsigned i = 0;

	if (len)
		buf[0] = '\0';
	for (const struct gsn_cable *c = top; c && c->ops == &filter_ops; c = c->lower, i++) {
		const struct filter *f = (const struct filter *)c;
		const struct gsn_filter_stats *s = &f->stats;
		const uint64_t v[] = {s->frames, s->dropped, s->held, s->reordered,
				      s->released_late, s->duplicated, s->corrupted, s->tapped,
				      s->errors};
		static const char *const k[] = {"frames", "dropped", "held", "reordered",
						"released_late", "duplicated", "corrupted",
						"tapped", "errors"};

		for (size_t j = 0; j < sizeof(v) / sizeof(v[0]); j++) {
			if (off >= len)
				return off;
			int m = snprintf(buf + off, len - off, "%sfilter.%u.%s.%s=%" PRIu64 "\n",
					 prefix ? prefix : "", i, gsn_filter_kind_name(f->conf.kind),
					 k[j], v[j]);

			if (m < 0 || (size_t)m >= len - off) {
				buf[off] = '\0';
				return off;
			}
			off += (size_t)m;
		}
	}
	return off;
}
