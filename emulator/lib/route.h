/* SPDX-License-Identifier: MIT */
/*
 * route — a switch's forwarding table: destination ULA -> output port.
 *
 * Pure: no I/O, no clock, no globals.  The crossbar asks gsn_route_lookup()
 * once per Message (on its HEADER micropacket); Admin commands 0x04, 0x07,
 * 0x08 and 0x09 read and change the table through the functions below.
 *
 * Entries come in three kinds, in decreasing authority:
 *   static    set by configuration or Admin 0x08; never replaced by the others
 *   assigned  created when the switch hands out a ULA (Admin 0x04)
 *   learned   from the source ULA of Messages (gsn_route_learn); the oldest
 *             learned entry is evicted when the table is full
 *
 * ULA assignment (ours): the endpoint on port P of the switch whose id is
 * S0:S1:S2 gets 02:S0:S1:S2:G:P, G = 0 unless that address is already routed
 * to another port (then the smallest free G in 1..254).  Asking twice for the
 * same port gives the same ULA.  The switch's own ULA is 02:S0:S1:S2:FF:FF,
 * which no assignment can produce.  Ports are 0..254 (0xFF means "none").
 *
 * Broadcast (FF:FF:FF:FF:FF:FF) is a property of the fabric: when the table's
 * broadcast flag is set, the verdict is "flood" (every port but the input
 * port), else "drop".  Other group addresses are dropped.  A unicast
 * destination routed back to the port it came in by is dropped ("hairpin").
 *
 * Functions returning int give 0 or a negative errno.  See docs/admin.md.
 */
#ifndef GSN_EMU_ROUTE_H
#define GSN_EMU_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/message.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_ROUTE_MAX_PORTS 255u /* ports 0..254 */
#define GSN_ROUTE_NO_PORT 0xffu
#define GSN_ROUTE_DEFAULT_ENTRIES 1024u
#define GSN_ROUTE_MAX_ENTRIES 65535u

struct gsn_route;

enum gsn_route_kind {
	GSN_ROUTE_STATIC = 1,
	GSN_ROUTE_ASSIGNED = 2,
	GSN_ROUTE_LEARNED = 3,
};

enum gsn_route_verdict {
	GSN_ROUTE_DROP = 0,    /* nowhere to go (unknown, hairpin, broadcast off, group) */
	GSN_ROUTE_UNICAST = 1, /* out of *out_port */
	GSN_ROUTE_FLOOD = 2,   /* out of every port except the input port */
};

struct gsn_route_config {
	uint8_t switch_id[3];  /* bytes 1..3 of the ULAs this switch assigns */
	unsigned nports;       /* 1..GSN_ROUTE_MAX_PORTS */
	unsigned max_entries;  /* table bound (default 1024, at most 65535) */
	bool broadcast;        /* fabric broadcasts FF:FF:FF:FF:FF:FF (default false) */
};

struct gsn_route_entry {
	uint8_t ula[GSN_ULA_LEN];
	unsigned port;
	enum gsn_route_kind kind;
};

struct gsn_route_stats {
	uint64_t lookups;
	uint64_t unicast;
	uint64_t flooded;
	uint64_t drop_unknown;   /* no entry for the destination */
	uint64_t drop_broadcast; /* broadcast with the flag off */
	uint64_t drop_group;     /* multicast: not supported */
	uint64_t drop_hairpin;   /* route points back to the input port */
	uint64_t learned;        /* new learned entries */
	uint64_t moved;          /* learned entries that changed port */
	uint64_t evicted;        /* learned entries evicted for space */
	uint64_t assigned;       /* ULAs handed out (repeats included) */
	uint64_t full;           /* insertions refused: table full */
};

/* Defaults: switch id 0, 8 ports, 1024 entries, broadcast off. */
void gsn_route_config_default(struct gsn_route_config *cfg);
int gsn_route_create(const struct gsn_route_config *cfg, struct gsn_route **out);
void gsn_route_destroy(struct gsn_route *rt);

/*
 * Where a Message for dst that came in by in_port goes (in_port may be
 * GSN_ROUTE_NO_PORT for locally originated traffic).  On GSN_ROUTE_UNICAST
 * *out_port is set.  Counts the verdict.
 */
enum gsn_route_verdict gsn_route_lookup(struct gsn_route *rt, const uint8_t dst[GSN_ULA_LEN],
					unsigned in_port, unsigned *out_port);

/* Static route (replaces any entry for ula).  -EINVAL for a bad port or a
 * group/zero ULA, -ENOSPC when full. */
int gsn_route_add_static(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], unsigned port);
/* Learns ula behind port (source of a Message).  Static and assigned
 * entries are left alone.  Evicts the oldest learned entry when full. */
int gsn_route_learn(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN], unsigned port);
/* Assigns (or returns the already assigned) ULA of the endpoint on port. */
int gsn_route_assign(struct gsn_route *rt, unsigned port, uint8_t ula_out[GSN_ULA_LEN]);
/* Removes the entry for ula (-ENOENT if none). */
int gsn_route_remove(struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN]);
/* A port went down: forgets the learned entries behind it; returns how many. */
size_t gsn_route_port_down(struct gsn_route *rt, unsigned port);

/* The entry for ula (-ENOENT if none). */
int gsn_route_find(const struct gsn_route *rt, const uint8_t ula[GSN_ULA_LEN],
		   struct gsn_route_entry *e);
size_t gsn_route_count(const struct gsn_route *rt);
/*
 * The index-th entry (0 <= index < count) in table order, for listings and
 * Admin 0x07 paging.  The order is stable while the table does not change.
 */
int gsn_route_entry_at(const struct gsn_route *rt, size_t index, struct gsn_route_entry *e);

unsigned gsn_route_nports(const struct gsn_route *rt);
bool gsn_route_broadcast(const struct gsn_route *rt);
void gsn_route_set_broadcast(struct gsn_route *rt, bool on);
/* 02:S0:S1:S2:FF:FF */
void gsn_route_switch_ula(const struct gsn_route *rt, uint8_t ula_out[GSN_ULA_LEN]);
void gsn_route_get_stats(const struct gsn_route *rt, struct gsn_route_stats *st);
const char *gsn_route_kind_name(enum gsn_route_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* GSN_EMU_ROUTE_H */
