/* SPDX-License-Identifier: MIT */
/*
 * Forwarding table of a switch: an open-addressing hash table (linear
 * probing, backward-shift deletion, no tombstones) sized to twice the entry
 * bound, so probes stay short and nothing is allocated after create.
 */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gsn/wire_bytes.h>

struct route_slot {
	uint8_t ula[GSN_ULA_LEN];
	bool used;
	uint8_t kind;
	uint16_t port;
	uint64_t stamp; /* learned entries: insertion order, for eviction */
};

struct gsn_route {
	struct gsn_route_config cfg;
	struct route_slot *slots;
	size_t mask; /* capacity - 1 (capacity a power of two) */
	unsigned shift;
	size_t count;
	uint64_t next_stamp;
	struct gsn_route_stats stats;
};

void gsn_route_config_default(struct gsn_route_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nports = 8;
	cfg->max_entries = GSN_ROUTE_DEFAULT_ENTRIES;
	cfg->broadcast = false;
}

int gsn_route_create(const struct gsn_route_config *cfg, struct gsn_route **out)
{
	if (!cfg || !out || cfg->nports == 0 || cfg->nports > GSN_ROUTE_MAX_PORTS ||
	    cfg->max_entries == 0 || cfg->max_entries > GSN_ROUTE_MAX_ENTRIES)
		return -EINVAL;
	struct gsn_route *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	size_t cap = 8;
	unsigned bits = 3;
	while (cap < 2 * (size_t)cfg->max_entries) {
		cap <<= 1;
		bits++;
	}
	rt->slots = calloc(cap, sizeof(*rt->slots));
	if (!rt->slots) {
		free(rt);
		return -ENOMEM;
	}
	rt->cfg = *cfg;
	rt->mask = cap - 1;
	rt->shift = 64 - bits;
	*out = rt;
	return 0;
}

void gsn_route_destroy(struct gsn_route *rt)
{
	if (!rt)
		return;
	free(rt->slots);
	free(rt);
}

static size_t route_home(const struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN])
{
	uint64_t x = gsn_get_be48(ula) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(x >> rt->shift) & rt->mask;
}

/* Slot holding ula, or the empty slot where it would go; *found says which. */
static size_t route_probe(const struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], bool *found)
{
	size_t i = route_home(rt, ula);

	while (rt->slots[i].used) {
		if (gsn_ula_equal(rt->slots[i].ula, ula)) {
			*found = true;
			return i;
		}
		i = (i + 1) & rt->mask;
	}
	*found = false;
	return i;
}

/* True when home position k lies cyclically in (i, j]. */
static bool route_between(size_t i, size_t k, size_t j)
{
	if (i <= j)
		return i < k && k <= j;
	return i < k || k <= j;
}

static void route_remove_at(struct gsn_route *rt, size_t i)
{
	size_t j = i;

	for (;;) {
		j = (j + 1) & rt->mask;
		if (!rt->slots[j].used)
			break;
		size_t k = route_home(rt, rt->slots[j].ula);
		if (route_between(i, k, j))
			continue;
		rt->slots[i] = rt->slots[j];
		i = j;
	}
	memset(&rt->slots[i], 0, sizeof(rt->slots[i]));
	rt->count--;
}

static bool route_ula_ok(const uint8_t ula[GSN_ULA_LEN])
{
	static const uint8_t zero[GSN_ULA_LEN];

	return !gsn_ula_is_group(ula) && !gsn_ula_equal(ula, zero);
}

/* Removes the oldest learned entry; false if there is none. */
static bool route_evict_learned(struct gsn_route *rt)
{
	size_t best = SIZE_MAX;

	for (size_t i = 0; i <= rt->mask; i++) {
		const struct route_slot *s = &rt->slots[i];

		if (s->used && s->kind == GSN_ROUTE_LEARNED &&
		    (best == SIZE_MAX || s->stamp < rt->slots[best].stamp))
			best = i;
	}
	if (best == SIZE_MAX)
		return false;
	route_remove_at(rt, best);
	rt->stats.evicted++;
	return true;
}

/*
 * Inserts a new entry (ula must be absent).  When full, a learned entry is
 * evicted if evict is set.
 */
static int route_insert(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], unsigned port,
			enum gsn_route_kind kind, bool evict)
{
	if (rt->count >= rt->cfg.max_entries && !(evict && route_evict_learned(rt))) {
		rt->stats.full++;
		return -ENOSPC;
	}
	bool found;
	size_t i = route_probe(rt, ula, &found);
	struct route_slot *s = &rt->slots[i];

	memcpy(s->ula, ula, GSN_ULA_LEN);
	s->used = true;
	s->kind = (uint8_t)kind;
	s->port = (uint16_t)port;
	s->stamp = rt->next_stamp++;
	rt->count++;
	return 0;
}

enum gsn_route_verdict gsn_route_lookup(struct gsn_route *rt, const uint8_t dst[GSN_ULA_LEN],
					unsigned in_port, unsigned *out_port)
{
	rt->stats.lookups++;
	if (gsn_ula_is_broadcast(dst)) {
		if (!rt->cfg.broadcast) {
			rt->stats.drop_broadcast++;
			return GSN_ROUTE_DROP;
		}
		rt->stats.flooded++;
		return GSN_ROUTE_FLOOD;
	}
	if (gsn_ula_is_group(dst)) {
		rt->stats.drop_group++;
		return GSN_ROUTE_DROP;
	}
	bool found;
	size_t i = route_probe(rt, dst, &found);
	if (!found) {
		rt->stats.drop_unknown++;
		return GSN_ROUTE_DROP;
	}
	if (rt->slots[i].port == in_port) {
		rt->stats.drop_hairpin++;
		return GSN_ROUTE_DROP;
	}
	*out_port = rt->slots[i].port;
	rt->stats.unicast++;
	return GSN_ROUTE_UNICAST;
}

int gsn_route_add_static(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], unsigned port)
{
	if (port >= rt->cfg.nports || !route_ula_ok(ula))
		return -EINVAL;
	bool found;
	size_t i = route_probe(rt, ula, &found);
	if (found) {
		rt->slots[i].kind = GSN_ROUTE_STATIC;
		rt->slots[i].port = (uint16_t)port;
		return 0;
	}
	return route_insert(rt, ula, port, GSN_ROUTE_STATIC, true);
}

int gsn_route_learn(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], unsigned port)
{
	if (port >= rt->cfg.nports || !route_ula_ok(ula))
		return -EINVAL;
	bool found;
	size_t i = route_probe(rt, ula, &found);
	if (found) {
		struct route_slot *s = &rt->slots[i];

		if (s->kind == GSN_ROUTE_LEARNED && s->port != port) {
			s->port = (uint16_t)port;
			s->stamp = rt->next_stamp++;
			rt->stats.moved++;
		}
		return 0;
	}
	int err = route_insert(rt, ula, port, GSN_ROUTE_LEARNED, true);
	if (err == 0)
		rt->stats.learned++;
	return err;
}

static void route_make_ula(const struct gsn_route *rt, unsigned gen, unsigned port,
			   uint8_t ula[GSN_ULA_LEN])
{
	ula[0] = 0x02;
	ula[1] = rt->cfg.switch_id[0];
	ula[2] = rt->cfg.switch_id[1];
	ula[3] = rt->cfg.switch_id[2];
	ula[4] = (uint8_t)gen;
	ula[5] = (uint8_t)port;
}

/* The ULA already assigned to port, if any. */
static bool route_assigned_on(const struct gsn_route *rt, unsigned port, uint8_t ula[GSN_ULA_LEN])
{
	for (size_t i = 0; i <= rt->mask; i++) {
		const struct route_slot *s = &rt->slots[i];

		if (s->used && s->kind == GSN_ROUTE_ASSIGNED && s->port == port) {
			memcpy(ula, s->ula, GSN_ULA_LEN);
			return true;
		}
	}
	return false;
}

int gsn_route_assign(struct gsn_route *rt, unsigned port, uint8_t ula_out[GSN_ULA_LEN])
{
	if (port >= rt->cfg.nports)
		return -EINVAL;
	if (route_assigned_on(rt, port, ula_out)) {
		rt->stats.assigned++;
		return 0;
	}
	for (unsigned gen = 0; gen < 0xff; gen++) {
		uint8_t ula[GSN_ULA_LEN];
		bool found;

		route_make_ula(rt, gen, port, ula);
		size_t i = route_probe(rt, ula, &found);
		if (found && rt->slots[i].port != port)
			continue; /* taken by another port */
		if (found) {
			/* already routed to this very port: a learned entry
			 * becomes assigned, a static one stays static */
			if (rt->slots[i].kind == GSN_ROUTE_LEARNED)
				rt->slots[i].kind = GSN_ROUTE_ASSIGNED;
		} else {
			int err = route_insert(rt, ula, port, GSN_ROUTE_ASSIGNED, true);
			if (err)
				return err;
		}
		memcpy(ula_out, ula, GSN_ULA_LEN);
		rt->stats.assigned++;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

int gsn_route_remove(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN])
{
	bool found;
	size_t i = route_probe(rt, ula, &found);

	if (!found)
		return -ENOENT;
	route_remove_at(rt, i);
	return 0;
}

size_t gsn_route_port_down(struct gsn_route *rt, unsigned port)
{
	size_t n = 0;

	/* Backward shift only moves entries towards i, so re-check slot i. */
	for (size_t i = 0; i <= rt->mask; i++) {
		while (rt->slots[i].used && rt->slots[i].kind == GSN_ROUTE_LEARNED &&
		       rt->slots[i].port == port) {
			route_remove_at(rt, i);
			n++;
		}
	}
	return n;
}

static void route_fill(const struct route_slot *s, struct gsn_route_entry *e)
{
	memcpy(e->ula, s->ula, GSN_ULA_LEN);
	e->port = s->port;
	e->kind = (enum gsn_route_kind)s->kind;
}

int gsn_route_find(const struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN],
		   struct gsn_route_entry *e)
{
	bool found;
	size_t i = route_probe(rt, ula, &found);

	if (!found)
		return -ENOENT;
	route_fill(&rt->slots[i], e);
	return 0;
}

size_t gsn_route_count(const struct gsn_route *rt)
{
	return rt->count;
}

int gsn_route_entry_at(const struct gsn_route *rt, size_t index, struct gsn_route_entry *e)
{
	if (index >= rt->count)
		return -ENOENT;
	for (size_t i = 0; i <= rt->mask; i++) {
		if (!rt->slots[i].used)
			continue;
		if (index-- == 0) {
			route_fill(&rt->slots[i], e);
			return 0;
		}
	}
	return -ENOENT;
}

unsigned gsn_route_nports(const struct gsn_route *rt)
{
	return rt->cfg.nports;
}

bool gsn_route_broadcast(const struct gsn_route *rt)
{
	return rt->cfg.broadcast;
}

void gsn_route_set_broadcast(struct gsn_route *rt, bool on)
{
	rt->cfg.broadcast = on;
}

void gsn_route_switch_ula(const struct gsn_route *rt, uint8_t ula_out[GSN_ULA_LEN])
{
	route_make_ula(rt, 0xff, 0xff, ula_out);
}

void gsn_route_get_stats(const struct gsn_route *rt, struct gsn_route_stats *st)
{
	*st = rt->stats;
}

const char *gsn_route_kind_name(enum gsn_route_kind kind)
{
	switch (kind) {
	case GSN_ROUTE_STATIC:
		return "static";
	case GSN_ROUTE_ASSIGNED:
		return "assigned";
	case GSN_ROUTE_LEARNED:
		return "learned";
	}
	return "?";
}
