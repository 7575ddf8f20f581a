/* SPDX-License-Identifier: MIT */
/*
 * Fault layers on a cable end (x-kernel style).  A filter is a struct
 * gsn_cable over another one: send() pushes a frame down, the lower's rx
 * callback delivers up, so layers stack on a real cable in any number.
 *
 * Spec: layers separated by '+', listed from the top (the link layer's
 * side) down to the cable.  A transmitted frame passes them left to right,
 * a received one right to left; so in "drop=0.1+tap=x.pcap" the tap records
 * what really crossed the cable.  Each layer is comma-separated items, the
 * first naming its kind:
 *
 *	drop=P | drop-nth=N              lose frames
 *	disorder=P[,after=K][,hold-us=U] hold a frame, release it after K later
 *	                                 frames (default 2) or U µs (default 1000)
 *	dup=P | dup-nth=N                send/deliver a frame twice
 *	corrupt=P[,unit=frame|mpkt][,bits=B][,header=on]
 *	                                 flip B random bits (default 1)
 *	tap=PATH                         append frames to a pcap file
 *	                                 (LINKTYPE_USER0 = 147)
 *
 * and, for any kind: seed=N (default 1), dir=tx|rx|both (default both).
 * P is a probability in [0, 1]; N >= 1.
 *
 * Decisions, exactly (tests replicate them with the gsn_rng below): each
 * direction has its own generator, tx seeded with seed and rx with ~seed.
 *  - drop=P, dup=P: one draw per frame; act when gsn_rng_unit() < P.
 *  - drop-nth=N, dup-nth=N: act on the frames numbered N, 2N, ... (counted
 *    from 1 per direction).
 *  - disorder: while no frame is held, one draw per frame; < P holds it
 *    (counted in held).  While one is held, frames pass without a draw;
 *    after the K-th the held one follows (counted in reordered); if the
 *    timer fires first it is released alone (released_late).
 *  - corrupt: unit=frame (default): one draw per frame, < P corrupts it;
 *    unit=mpkt: one draw per 40-byte micropacket, each hit corrupts that
 *    micropacket.  A corruption flips B bits, each at gsn_rng_next() modulo
 *    the number of bits in range (repeats may cancel).  The range is the
 *    micropacket bytes (from byte 24 on): the frame header has no check of
 *    its own (PROTOCOL.md §6), while the LCRC of every micropacket catches
 *    the damage and the link retransmits; header=on includes the header.
 *    "corrupted" counts frames (unit=frame) or micropackets (unit=mpkt).
 *  - tap: one pcap record per frame, the frame's bytes exactly,
 *    CLOCK_REALTIME µs timestamps; both directions go to one file (use two
 *    taps with dir= to separate them).  Written with one writev per frame
 *    (unbuffered), so a killed process leaves a readable file.
 */
#ifndef GSN_FILTER_H
#define GSN_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cable.h"
#include "log.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_FILTER_SPEC_MAX 1024u /* longest spec string */
#define GSN_FILTER_LAYERS_MAX 16u /* layers in one spec */
#define GSN_FILTER_PATH_MAX 256u
#define GSN_PCAP_LINKTYPE 147u    /* LINKTYPE_USER0 */

/* splitmix64: small, fast, documented, reproducible in any language. */
struct gsn_rng {
	uint64_t s;
};

static inline void gsn_rng_seed(struct gsn_rng *r, uint64_t seed)
{
	r->s = seed;
}

static inline uint64_t gsn_rng_next(struct gsn_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 bits. */
static inline double gsn_rng_unit(struct gsn_rng *r)
{
	return (double)(gsn_rng_next(r) >> 11) * 0x1.0p-53;
}

enum gsn_filter_kind {
	GSN_FILTER_DROP,
	GSN_FILTER_DISORDER,
	GSN_FILTER_DUP,
	GSN_FILTER_CORRUPT,
	GSN_FILTER_TAP,
};

#define GSN_FILTER_DIR_TX 1u
#define GSN_FILTER_DIR_RX 2u

struct gsn_filter_conf {
	enum gsn_filter_kind kind;
	double rate;       /* drop, disorder, dup, corrupt (when nth == 0) */
	uint64_t nth;      /* drop-nth, dup-nth */
	uint64_t seed;
	unsigned dirs;     /* GSN_FILTER_DIR_* */
	unsigned after;    /* disorder */
	uint64_t hold_ns;  /* disorder */
	bool per_mpkt;     /* corrupt unit=mpkt */
	unsigned bits;     /* corrupt */
	bool header;       /* corrupt header=on */
	char path[GSN_FILTER_PATH_MAX]; /* tap */
};

struct gsn_filter_stats {
	uint64_t frames;        /* frames that reached this layer (both directions) */
	uint64_t dropped;
	uint64_t held;          /* disorder: frames held back */
	uint64_t reordered;     /* disorder: held frames released after later ones */
	uint64_t released_late; /* disorder: held frames released by the timer */
	uint64_t duplicated;
	uint64_t corrupted;
	uint64_t tapped;
	uint64_t errors;        /* tap write errors, lost releases */
};

/*
 * Parses a spec into at most max layers (top first).  0 or -EINVAL with a
 * message ("layer 2: ...") in err.  Pure: opens nothing.
 */
int gsn_filter_parse(const char *spec, struct gsn_filter_conf *confs, size_t max, size_t *n,
		     char *err, size_t errlen);

/*
 * Parses spec and stacks its layers on *top (a cable or filter), replacing
 * *top with the new top.  On failure nothing is pushed and *top is
 * unchanged.  0 or -errno (-EINVAL for a bad spec, a tap open error).
 */
int gsn_filter_push(struct gsn_loop *loop, struct gsn_cable **top, const char *spec,
		    const struct gsn_log *log);

/* The layer's configuration and counters; NULL when c is not a filter. */
const struct gsn_filter_conf *gsn_filter_get_conf(const struct gsn_cable *c);
const struct gsn_filter_stats *gsn_filter_get_stats(const struct gsn_cable *c);

/* The kind's name as in specs ("drop", "disorder", ...). */
const char *gsn_filter_kind_name(enum gsn_filter_kind k);

/*
 * "key=value" lines for every filter layer of the stack from top down,
 * keys prefixed "<prefix>filter.<i>.<kind>." (i from 0 at the top), e.g.
 * "port0.filter.0.drop.dropped=12".  Returns the bytes written.
 */
size_t gsn_filter_stats_format(const struct gsn_cable *top, const char *prefix, char *buf,
			       size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GSN_FILTER_H */
