/* SPDX-License-Identifier: MIT */
/*
 * HARP client and server.  One table (static, dynamic and registered
 * entries), a small array of pending resolutions, the configured servers and
 * one mode timer.  Tables are fixed-size arrays searched linearly: HARP
 * tables of one logical IP subnet are small, and nothing is allocated after
 * create.  Behaviour: harp.h and docs/harp.md.
 */
#include "harp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "harp"
#define NEVER UINT64_MAX
#define MS (1000ull * 1000)
#define SEC (1000 * MS)
#define LINE_MAX_LEN 255u
#define FILE_MAX_LEN (1u << 20)

enum entry_kind { K_STATIC = 1, K_DYNAMIC = 2, K_REGISTERED = 3 };

struct harp_entry {
	bool used;
	uint8_t kind;
	bool used_since;   /* resolved from since last confirmed (dynamic) */
	bool revalidating; /* a revalidation is pending */
	uint32_t ip;
	uint8_t ula[GSN_ULA_LEN];
	uint64_t updated_ns; /* added or last confirmed */
};

struct harp_pending {
	bool used;
	bool revalidate; /* ours, for an entry; no callback */
	uint32_t ip;
	unsigned sends;     /* transmissions to the current target */
	uint64_t next_ns;   /* next (re)send; NEVER: waiting for a mode that can send */
	uint64_t expire_ns; /* gives up at this time */
};

struct harp_server {
	uint8_t ula[GSN_ULA_LEN];
	bool dropped;
	bool asked;      /* sent an InARP request this registration round */
	unsigned misses; /* unanswered registration rounds */
};

struct gsn_harp {
	struct gsn_harp_config cfg;
	struct gsn_harp_ops ops;
	enum gsn_harp_mode mode;
	struct harp_entry *entries;
	struct harp_pending *pending;
	struct harp_server servers[GSN_HARP_MAX_SERVERS];
	int current;            /* index of the server we resolve through, -1 */
	uint64_t timer_ns;      /* mode timer */
	unsigned rereg_sends;   /* re-registration transmissions, 0 when not re-registering */
	struct gsn_harp_stats stats;
};

static const uint8_t k_broadcast[GSN_ULA_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t k_zero_ula[GSN_ULA_LEN];

void gsn_harp_config_default(struct gsn_harp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hrd = GSN_HARP_HRD_HIPARP;
	cfg->detect_timeout_ns = 1 * SEC;
	cfg->register_retry_ns = 2 * SEC;
	cfg->reregister_ns = 15 * 60 * SEC;
	cfg->revalidate_ns = 15 * 60 * SEC;
	cfg->server_forget_ns = 20 * 60 * SEC;
	cfg->request_timeout_ns = 1 * SEC;
	cfg->request_retries = 3;
	cfg->resolve_timeout_ns = 10 * SEC;
	cfg->max_entries = 1024;
	cfg->max_pending = 64;
}

static bool ula_usable(const uint8_t ula[GSN_ULA_LEN])
{
	return !gsn_ula_is_group(ula) && !gsn_ula_equal(ula, k_zero_ula);
}

static bool config_ok(const struct gsn_harp_config *cfg)
{
	if (!ula_usable(cfg->ula) || cfg->ip == 0 || cfg->nservers > GSN_HARP_MAX_SERVERS)
		return false;
	if (cfg->hrd != GSN_HARP_HRD_HIPARP && cfg->hrd != GSN_HARP_HRD_IEEE802)
		return false;
	for (unsigned i = 0; i < cfg->nservers; i++)
		if (!ula_usable(cfg->servers[i]))
			return false;
	return cfg->detect_timeout_ns && cfg->register_retry_ns && cfg->reregister_ns &&
	       cfg->revalidate_ns && cfg->server_forget_ns && cfg->request_timeout_ns &&
	       cfg->resolve_timeout_ns && cfg->max_entries && cfg->max_pending;
}

int gsn_harp_create(const struct gsn_harp_config *cfg, const struct gsn_harp_ops *ops,
		    struct gsn_harp **out)
{
	if (!cfg || !ops || !out || !ops->send_msg || !ops->now_ns || !config_ok(cfg))
		return -EINVAL;
	struct gsn_harp *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->entries = calloc(cfg->max_entries, sizeof(*h->entries));
	h->pending = calloc(cfg->max_pending, sizeof(*h->pending));
	if (!h->entries || !h->pending) {
		free(h->entries);
		free(h->pending);
		free(h);
		return -ENOMEM;
	}
	h->cfg = *cfg;
	h->ops = *ops;
	h->mode = GSN_HARP_MODE_IDLE;
	h->current = -1;
	h->timer_ns = NEVER;
	for (unsigned i = 0; i < cfg->nservers; i++)
		memcpy(h->servers[i].ula, cfg->servers[i], GSN_ULA_LEN);
	*out = h;
	return 0;
}

void gsn_harp_destroy(struct gsn_harp *h)
{
	if (!h)
		return;
	free(h->entries);
	free(h->pending);
	free(h);
}

static uint64_t now_of(const struct gsn_harp *h)
{
	return h->ops.now_ns(h->ops.ctx);
}

/* ---- sending ------------------------------------------------------------ */

static void send_pkt(struct gsn_harp *h, const uint8_t dst[GSN_ULA_LEN],
		     const struct gsn_harp_pkt *p)
{
	uint8_t wire[GSN_HARP_LEN];

	gsn_harp_encode(p, wire);
	h->stats.tx++;
	if (h->ops.send_msg(h->ops.ctx, dst, wire, sizeof(wire)) != 0)
		h->stats.tx_errors++;
}

/* A packet from us (sender = our ULA and IP). */
static void send_ours(struct gsn_harp *h, const uint8_t dst[GSN_ULA_LEN], unsigned op,
		      const uint8_t tha[GSN_ULA_LEN], uint32_t tpa)
{
	struct gsn_harp_pkt p;

	p.hrd = h->cfg.hrd;
	p.op = (uint16_t)op;
	memcpy(p.sha, h->cfg.ula, GSN_ULA_LEN);
	p.spa = h->cfg.ip;
	memcpy(p.tha, tha, GSN_ULA_LEN);
	p.tpa = tpa;
	send_pkt(h, dst, &p);
}

static void send_probe(struct gsn_harp *h)
{
	h->stats.probes_tx++;
	send_ours(h, k_broadcast, GSN_HARP_OP_INARP_REQUEST, h->cfg.ula, h->cfg.ip);
}

/* InARP reply from us to the sender of q. */
static void send_inarp_reply(struct gsn_harp *h, const uint8_t dst[GSN_ULA_LEN],
			     const struct gsn_harp_pkt *q)
{
	h->stats.replies_tx++;
	send_ours(h, dst, GSN_HARP_OP_INARP_REPLY, q->sha, q->spa);
}

/* Reply to request q: ip is at ula. */
static void send_reply(struct gsn_harp *h, const uint8_t dst[GSN_ULA_LEN],
		       const struct gsn_harp_pkt *q, uint32_t ip, const uint8_t ula[GSN_ULA_LEN])
{
	struct gsn_harp_pkt p;

	p.hrd = h->cfg.hrd;
	p.op = GSN_HARP_OP_REPLY;
	memcpy(p.sha, ula, GSN_ULA_LEN);
	p.spa = ip;
	memcpy(p.tha, q->sha, GSN_ULA_LEN);
	p.tpa = q->spa;
	h->stats.replies_tx++;
	send_pkt(h, dst, &p);
}

/* ---- table -------------------------------------------------------------- */

static struct harp_entry *entry_find(struct gsn_harp *h, uint32_t ip)
{
	for (unsigned i = 0; i < h->cfg.max_entries; i++)
		if (h->entries[i].used && h->entries[i].ip == ip)
			return &h->entries[i];
	return NULL;
}

static struct harp_entry *entry_oldest_dynamic(struct gsn_harp *h)
{
	struct harp_entry *best = NULL;

	for (unsigned i = 0; i < h->cfg.max_entries; i++) {
		struct harp_entry *e = &h->entries[i];

		if (e->used && e->kind == K_DYNAMIC && (!best || e->updated_ns < best->updated_ns))
			best = e;
	}
	return best;
}

/* A free slot, evicting the oldest dynamic entry if evict is set. */
static struct harp_entry *entry_alloc(struct gsn_harp *h, bool evict)
{
	for (unsigned i = 0; i < h->cfg.max_entries; i++)
		if (!h->entries[i].used)
			return &h->entries[i];
	h->stats.table_full++;
	struct harp_entry *e = evict ? entry_oldest_dynamic(h) : NULL;
	if (e)
		memset(e, 0, sizeof(*e));
	return e;
}

static struct harp_entry *entry_set(struct gsn_harp *h, struct harp_entry *e, uint32_t ip,
				    const uint8_t ula[GSN_ULA_LEN], enum entry_kind kind)
{
	e->used = true;
	e->kind = (uint8_t)kind;
	e->ip = ip;
	memcpy(e->ula, ula, GSN_ULA_LEN);
	e->updated_ns = now_of(h);
	e->used_since = false;
	return e;
}

/* A client learns (or confirms) ip -> ula.  Static entries win. */
static void learn(struct gsn_harp *h, uint32_t ip, const uint8_t ula[GSN_ULA_LEN])
{
	if (ip == 0 || ip == h->cfg.ip)
		return;
	struct harp_entry *e = entry_find(h, ip);
	if (e && e->kind == K_STATIC)
		return;
	if (!e)
		e = entry_alloc(h, true);
	if (e)
		entry_set(h, e, ip, ula, K_DYNAMIC);
}

/* Updates an existing dynamic entry only (RFC 826 merge). */
static void merge(struct gsn_harp *h, uint32_t ip, const uint8_t ula[GSN_ULA_LEN])
{
	struct harp_entry *e = entry_find(h, ip);

	if (e && e->kind == K_DYNAMIC) {
		memcpy(e->ula, ula, GSN_ULA_LEN);
		e->updated_ns = now_of(h);
	}
}

static void entry_remove(struct harp_entry *e)
{
	memset(e, 0, sizeof(*e));
}

/* ---- pending resolutions ------------------------------------------------ */

static struct harp_pending *pending_find(struct gsn_harp *h, uint32_t ip)
{
	for (unsigned i = 0; i < h->cfg.max_pending; i++)
		if (h->pending[i].used && h->pending[i].ip == ip)
			return &h->pending[i];
	return NULL;
}

static struct harp_pending *pending_alloc(struct gsn_harp *h)
{
	for (unsigned i = 0; i < h->cfg.max_pending; i++)
		if (!h->pending[i].used)
			return &h->pending[i];
	return NULL;
}

/* Where requests go now, or NULL when the mode cannot resolve. */
static const uint8_t *request_target(const struct gsn_harp *h)
{
	if (h->mode == GSN_HARP_MODE_BROADCAST)
		return k_broadcast;
	if (h->mode == GSN_HARP_MODE_REGISTERED && h->current >= 0)
		return h->servers[h->current].ula;
	return NULL;
}

static void pending_send(struct gsn_harp *h, struct harp_pending *p)
{
	const uint8_t *dst = request_target(h);

	if (!dst) {
		p->next_ns = NEVER;
		return;
	}
	p->sends++;
	p->next_ns = now_of(h) + h->cfg.request_timeout_ns;
	h->stats.requests_tx++;
	send_ours(h, dst, GSN_HARP_OP_REQUEST, k_zero_ula, p->ip);
}

/* Every pending resolution waits for the next usable mode. */
static void pending_hold_all(struct gsn_harp *h)
{
	for (unsigned i = 0; i < h->cfg.max_pending; i++) {
		h->pending[i].sends = 0;
		h->pending[i].next_ns = NEVER;
	}
}

/* Sends every waiting resolution (the mode just became usable). */
static void pending_flush(struct gsn_harp *h)
{
	for (unsigned i = 0; i < h->cfg.max_pending; i++) {
		struct harp_pending *p = &h->pending[i];

		if (p->used && p->next_ns == NEVER) {
			p->sends = 0;
			pending_send(h, p);
		}
	}
}

static void pending_complete(struct gsn_harp *h, struct harp_pending *p,
			     const uint8_t ula[GSN_ULA_LEN])
{
	uint32_t ip = p->ip;
	bool revalidate = p->revalidate;
	uint8_t copy[GSN_ULA_LEN];

	memcpy(copy, ula, GSN_ULA_LEN);
	memset(p, 0, sizeof(*p));
	struct harp_entry *e = entry_find(h, ip);
	if (e)
		e->revalidating = false;
	if (revalidate)
		return;
	h->stats.resolved++;
	if (h->ops.resolved)
		h->ops.resolved(h->ops.ctx, ip, copy, 0);
}

static void pending_fail(struct gsn_harp *h, struct harp_pending *p, int status)
{
	uint32_t ip = p->ip;
	bool revalidate = p->revalidate;

	memset(p, 0, sizeof(*p));
	h->stats.failed++;
	struct harp_entry *e = entry_find(h, ip);
	if (e)
		e->revalidating = false;
	if (revalidate) {
		if (e && e->kind == K_DYNAMIC) {
			h->stats.expired++;
			entry_remove(e);
		}
		return;
	}
	if (h->ops.resolved)
		h->ops.resolved(h->ops.ctx, ip, NULL, status);
}

static struct harp_pending *pending_start(struct gsn_harp *h, uint32_t ip, bool revalidate)
{
	struct harp_pending *p = pending_alloc(h);

	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->revalidate = revalidate;
	p->ip = ip;
	p->expire_ns = now_of(h) + h->cfg.resolve_timeout_ns;
	pending_send(h, p);
	return p;
}

/* ---- modes -------------------------------------------------------------- */

static void set_mode(struct gsn_harp *h, enum gsn_harp_mode mode, const char *why)
{
	if (h->mode != mode)
		GSN_INFO(h->cfg.log, COMP, "%s -> %s (%s)", gsn_harp_mode_name(h->mode),
			 gsn_harp_mode_name(mode), why);
	h->mode = mode;
}

static void enter_detect(struct gsn_harp *h)
{
	set_mode(h, GSN_HARP_MODE_DETECT, "start");
	h->current = -1;
	h->rereg_sends = 0;
	pending_hold_all(h);
	h->timer_ns = now_of(h) + h->cfg.detect_timeout_ns;
	send_probe(h);
}

static void enter_broadcast(struct gsn_harp *h, const char *why)
{
	set_mode(h, GSN_HARP_MODE_BROADCAST, why);
	h->current = -1;
	h->rereg_sends = 0;
	h->timer_ns = NEVER;
	pending_flush(h);
}

static void enter_registered(struct gsn_harp *h, int idx)
{
	struct harp_server *s = &h->servers[idx];

	set_mode(h, GSN_HARP_MODE_REGISTERED, "a server answered");
	h->current = idx;
	s->dropped = false;
	s->misses = 0;
	h->rereg_sends = 0;
	h->timer_ns = now_of(h) + h->cfg.reregister_ns;
	h->stats.registrations++;
	pending_flush(h);
}

static bool servers_all_dropped(const struct gsn_harp *h)
{
	for (unsigned i = 0; i < h->cfg.nservers; i++)
		if (!h->servers[i].dropped)
			return false;
	return true;
}

/*
 * One registration round: servers asked in the last round that did not
 * answer get a miss (request_retries + 1 misses drop them); with none left,
 * all start over; then every server not dropped is asked.
 */
static void register_round(struct gsn_harp *h)
{
	for (unsigned i = 0; i < h->cfg.nservers; i++) {
		struct harp_server *s = &h->servers[i];

		if (s->asked && !s->dropped && ++s->misses > h->cfg.request_retries) {
			s->dropped = true;
			h->stats.server_drops++;
		}
		s->asked = false;
	}
	if (servers_all_dropped(h)) {
		for (unsigned i = 0; i < h->cfg.nservers; i++) {
			h->servers[i].dropped = false;
			h->servers[i].misses = 0;
		}
		h->stats.reg_restarts++;
	}
	h->timer_ns = now_of(h) + h->cfg.register_retry_ns;
	for (unsigned i = 0; i < h->cfg.nservers && h->mode == GSN_HARP_MODE_REGISTER; i++) {
		if (h->servers[i].dropped)
			continue;
		h->servers[i].asked = true;
		send_ours(h, h->servers[i].ula, GSN_HARP_OP_INARP_REQUEST, h->servers[i].ula, 0);
	}
}

static void enter_register(struct gsn_harp *h, const char *why)
{
	set_mode(h, GSN_HARP_MODE_REGISTER, why);
	h->current = -1;
	h->rereg_sends = 0;
	for (unsigned i = 0; i < h->cfg.nservers; i++)
		h->servers[i].asked = false;
	register_round(h);
}

/* The current server stopped answering: drop it and register again. */
static void server_failed(struct gsn_harp *h)
{
	struct harp_server *s = &h->servers[h->current];
	char u[GSN_ULA_STRLEN];

	gsn_ula_format(s->ula, u);
	GSN_WARN(h->cfg.log, COMP, "server %s stopped answering; dropped", u);
	s->dropped = true;
	h->stats.server_drops++;
	pending_hold_all(h);
	enter_register(h, "server dropped");
}

static int server_index(const struct gsn_harp *h, const uint8_t ula[GSN_ULA_LEN])
{
	for (unsigned i = 0; i < h->cfg.nservers; i++)
		if (gsn_ula_equal(h->servers[i].ula, ula))
			return (int)i;
	return -1;
}

void gsn_harp_start(struct gsn_harp *h)
{
	if (h->cfg.server) {
		set_mode(h, GSN_HARP_MODE_SERVER, "start");
		h->timer_ns = NEVER;
		return;
	}
	for (unsigned i = 0; i < h->cfg.nservers; i++) {
		h->servers[i].dropped = false;
		h->servers[i].asked = false;
		h->servers[i].misses = 0;
	}
	enter_detect(h);
}

/* ---- input -------------------------------------------------------------- */

static int drop_malformed(struct gsn_harp *h)
{
	h->stats.malformed++;
	return -EINVAL;
}

static int drop_ignored(struct gsn_harp *h)
{
	h->stats.ignored++;
	return -ENOENT;
}

static bool unresolved_mode(const struct gsn_harp *h)
{
	return h->mode == GSN_HARP_MODE_DETECT || h->mode == GSN_HARP_MODE_REGISTER;
}

/* Server: a registration refreshes on any packet from a registered client. */
static void server_heard(struct gsn_harp *h, uint32_t ip, const uint8_t ula[GSN_ULA_LEN])
{
	struct harp_entry *e = entry_find(h, ip);

	if (e && e->kind == K_REGISTERED && gsn_ula_equal(e->ula, ula))
		e->updated_ns = now_of(h);
}

static int server_request(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN],
			  struct gsn_harp_pkt *q)
{
	if (q->spa)
		server_heard(h, q->spa, q->sha);
	if (q->tpa == h->cfg.ip) {
		send_reply(h, src, q, h->cfg.ip, h->cfg.ula);
		return 0;
	}
	const struct harp_entry *e = entry_find(h, q->tpa);
	if (e) {
		send_reply(h, src, q, e->ip, e->ula);
		return 0;
	}
	q->op = GSN_HARP_OP_NAK; /* the request, returned with op NAK */
	h->stats.naks_tx++;
	send_pkt(h, src, q);
	return 0;
}

static int in_request(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN], struct gsn_harp_pkt *q)
{
	if (q->tpa == 0)
		return drop_malformed(h);
	if (h->cfg.server)
		return server_request(h, src, q);
	if (q->tpa == h->cfg.ip) {
		learn(h, q->spa, q->sha);
		send_reply(h, src, q, h->cfg.ip, h->cfg.ula);
		/* the asker answers our own question about it, if we had one */
		struct harp_pending *pend = q->spa ? pending_find(h, q->spa) : NULL;
		const struct harp_entry *e = pend ? entry_find(h, q->spa) : NULL;
		if (e && e->kind == K_DYNAMIC)
			pending_complete(h, pend, e->ula);
		return 0;
	}
	if (q->spa)
		merge(h, q->spa, q->sha);
	return drop_ignored(h);
}

static int in_reply(struct gsn_harp *h, const struct gsn_harp_pkt *p)
{
	if (h->cfg.server || !gsn_ula_equal(p->tha, h->cfg.ula))
		return drop_ignored(h);
	if (p->spa == 0)
		return drop_malformed(h);
	struct harp_pending *pend = pending_find(h, p->spa);
	struct harp_entry *e = entry_find(h, p->spa);
	if (!pend && !(e && e->kind == K_DYNAMIC))
		return drop_ignored(h);
	learn(h, p->spa, p->sha);
	if (pend)
		pending_complete(h, pend, p->sha);
	return 0;
}

/* An InARP request for the sender itself: a broadcast probe. */
static int in_probe(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN], const struct gsn_harp_pkt *q)
{
	if (h->cfg.server)
		return drop_ignored(h);
	if (gsn_ula_equal(q->sha, h->cfg.ula)) {
		if (unresolved_mode(h))
			enter_broadcast(h, "own probe came back");
		return 0;
	}
	if (unresolved_mode(h))
		enter_broadcast(h, "heard another station's probe");
	if (h->mode != GSN_HARP_MODE_BROADCAST)
		return drop_ignored(h);
	merge(h, q->spa, q->sha);
	send_inarp_reply(h, src, q);
	return 0;
}

static int server_register(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN],
			   const struct gsn_harp_pkt *q)
{
	if (q->spa == 0 || q->spa == h->cfg.ip)
		return drop_malformed(h);
	struct harp_entry *e = entry_find(h, q->spa);
	if (!e)
		e = entry_alloc(h, false);
	if (!e)
		return -ENOSPC; /* counted as table_full; the client tries elsewhere */
	if (e->kind != K_STATIC)
		entry_set(h, e, q->spa, q->sha, K_REGISTERED);
	h->stats.clients_registered++;
	send_inarp_reply(h, src, q);
	return 0;
}

static int in_inarp_request(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN],
			    const struct gsn_harp_pkt *q)
{
	if (gsn_ula_equal(q->sha, q->tha))
		return in_probe(h, src, q);
	if (!gsn_ula_equal(q->tha, h->cfg.ula))
		return drop_ignored(h);
	if (h->cfg.server)
		return server_register(h, src, q);
	if (q->spa)
		merge(h, q->spa, q->sha);
	send_inarp_reply(h, src, q);
	return 0;
}

static void reregistered(struct gsn_harp *h)
{
	h->rereg_sends = 0;
	h->timer_ns = now_of(h) + h->cfg.reregister_ns;
	h->stats.registrations++;
}

static int in_inarp_reply(struct gsn_harp *h, const struct gsn_harp_pkt *p)
{
	if (h->cfg.server || !gsn_ula_equal(p->tha, h->cfg.ula))
		return drop_ignored(h);
	int si = server_index(h, p->sha);

	switch (h->mode) {
	case GSN_HARP_MODE_DETECT:
		merge(h, p->spa, p->sha);
		enter_broadcast(h, "a station answered the probe");
		return 0;
	case GSN_HARP_MODE_REGISTER:
		if (si < 0) {
			merge(h, p->spa, p->sha);
			enter_broadcast(h, "a station answered the probe");
			return 0;
		}
		learn(h, p->spa, p->sha); /* the server's own address */
		enter_registered(h, si);
		return 0;
	case GSN_HARP_MODE_REGISTERED:
		if (si == h->current) {
			learn(h, p->spa, p->sha);
			reregistered(h);
			return 0;
		}
		if (si >= 0) {
			h->servers[si].dropped = false;
			h->servers[si].misses = 0;
			return 0;
		}
		merge(h, p->spa, p->sha);
		return 0;
	case GSN_HARP_MODE_BROADCAST:
		merge(h, p->spa, p->sha);
		return 0;
	default:
		return drop_ignored(h);
	}
}

static int in_nak(struct gsn_harp *h, const uint8_t src[GSN_ULA_LEN], const struct gsn_harp_pkt *p)
{
	if (h->cfg.server || h->mode != GSN_HARP_MODE_REGISTERED ||
	    !gsn_ula_equal(src, h->servers[h->current].ula) || !gsn_ula_equal(p->sha, h->cfg.ula))
		return drop_ignored(h);
	struct harp_pending *pend = pending_find(h, p->tpa);
	if (!pend)
		return drop_ignored(h);
	h->stats.naks_rx++;
	pending_fail(h, pend, -EHOSTUNREACH);
	return 0;
}

int gsn_harp_input(struct gsn_harp *h, const uint8_t src_ula[GSN_ULA_LEN],
		   const uint8_t *payload, size_t len)
{
	struct gsn_harp_pkt p;

	h->stats.rx++;
	if (!src_ula || gsn_ula_is_group(src_ula) ||
	    gsn_harp_decode(payload, len, &p) != GSN_HARP_OK)
		return drop_malformed(h);
	if (!gsn_harp_op_known(p.op)) {
		h->stats.unknown_op++;
		return -EPROTONOSUPPORT;
	}
	if (p.op != GSN_HARP_OP_NAK && !ula_usable(p.sha))
		return drop_malformed(h);
	if (h->mode == GSN_HARP_MODE_IDLE)
		return drop_ignored(h);
	switch (p.op) {
	case GSN_HARP_OP_REQUEST:
		return in_request(h, src_ula, &p);
	case GSN_HARP_OP_REPLY:
		return in_reply(h, &p);
	case GSN_HARP_OP_INARP_REQUEST:
		return in_inarp_request(h, src_ula, &p);
	case GSN_HARP_OP_INARP_REPLY:
		return in_inarp_reply(h, &p);
	default:
		return in_nak(h, src_ula, &p);
	}
}

/* ---- resolution and static entries ---------------------------------------- */

int gsn_harp_resolve(struct gsn_harp *h, uint32_t ip, uint8_t ula_out[GSN_ULA_LEN])
{
	if (ip == 0)
		return -EINVAL;
	if (ip == h->cfg.ip) {
		memcpy(ula_out, h->cfg.ula, GSN_ULA_LEN);
		return 0;
	}
	struct harp_entry *e = entry_find(h, ip);
	if (e) {
		e->used_since = true;
		memcpy(ula_out, e->ula, GSN_ULA_LEN);
		h->stats.cache_hits++;
		return 0;
	}
	h->stats.cache_misses++;
	if (h->cfg.server)
		return -EHOSTUNREACH;
	if (h->mode == GSN_HARP_MODE_IDLE)
		return -ENETDOWN;
	if (pending_find(h, ip))
		return -EINPROGRESS;
	return pending_start(h, ip, false) ? -EINPROGRESS : -ENOBUFS;
}

int gsn_harp_add_static(struct gsn_harp *h, uint32_t ip, const uint8_t ula[GSN_ULA_LEN])
{
	if (ip == 0 || ip == h->cfg.ip || !ula_usable(ula))
		return -EINVAL;
	struct harp_entry *e = entry_find(h, ip);
	if (!e)
		e = entry_alloc(h, true);
	if (!e)
		return -ENOSPC;
	entry_set(h, e, ip, ula, K_STATIC);
	e->revalidating = false;
	struct harp_pending *p = pending_find(h, ip);
	if (p)
		pending_complete(h, p, ula);
	return 0;
}

int gsn_harp_delete(struct gsn_harp *h, uint32_t ip)
{
	struct harp_entry *e = entry_find(h, ip);

	if (!e)
		return -ENOENT;
	entry_remove(e);
	struct harp_pending *p = pending_find(h, ip);
	if (p && p->revalidate)
		memset(p, 0, sizeof(*p));
	return 0;
}

int gsn_harp_parse_ip(const char *s, uint32_t *ip)
{
	uint32_t v = 0;

	for (int part = 0; part < 4; part++) {
		unsigned n = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			n = n * 10 + (unsigned)(*s - '0');
			s++;
			digits++;
		}
		if (digits == 0 || digits > 3 || n > 255)
			return -EINVAL;
		v = v << 8 | n;
		if (*s != (part < 3 ? '.' : '\0'))
			return -EINVAL;
		if (part < 3)
			s++;
	}
	*ip = v;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated token of line[*pos..n) into tok (NUL-ended). */
static size_t next_token(const char *line, size_t n, size_t *pos, char *tok, size_t cap)
{
	size_t i = *pos, len = 0;

	while (i < n && is_blank(line[i]))
		i++;
	while (i < n && !is_blank(line[i])) {
		if (len + 1 < cap)
			tok[len] = line[i];
		len++;
		i++;
	}
	*pos = i;
	tok[len < cap ? len : cap - 1] = '\0';
	return len;
}

/* One line: 0 with *empty for blanks and comments, else an entry or -EINVAL. */
static int parse_line(const char *line, size_t n, uint32_t *ip, uint8_t ula[GSN_ULA_LEN],
		      bool *empty)
{
	char a[24], b[24], c[2];
	size_t pos = 0;

	for (size_t i = 0; i < n; i++) {
		if (line[i] == '\0')
			return -EINVAL;
		if (line[i] == '#') {
			n = i;
			break;
		}
	}
	size_t la = next_token(line, n, &pos, a, sizeof(a));
	*empty = la == 0;
	if (*empty)
		return 0;
	size_t lb = next_token(line, n, &pos, b, sizeof(b));
	if (la >= sizeof(a) || lb == 0 || lb >= sizeof(b) || next_token(line, n, &pos, c, sizeof(c)))
		return -EINVAL;
	if (gsn_harp_parse_ip(a, ip) || *ip == 0 || gsn_ula_parse(b, ula) != GSN_MSG_OK ||
	    !ula_usable(ula))
		return -EINVAL;
	return 0;
}

/* Checks (apply false) or adds (apply true) every line of text. */
static int load_pass(struct gsn_harp *h, const char *text, size_t len, bool apply,
		     unsigned *bad_line)
{
	size_t start = 0;
	unsigned lineno = 0;

	while (start < len) {
		size_t end = start;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		uint32_t ip = 0;
		uint8_t ula[GSN_ULA_LEN] = {0};
		bool empty = true;
		int err = end - start > LINE_MAX_LEN ? -EINVAL
						     : parse_line(text + start, end - start, &ip, ula, &empty);
		if (!err && !empty && ip == h->cfg.ip)
			err = -EINVAL; /* our own address is not a table entry */
		if (!err && !empty && apply)
			err = gsn_harp_add_static(h, ip, ula);
		if (err) {
			if (bad_line)
				*bad_line = lineno;
			return err;
		}
		start = end + 1;
	}
	return 0;
}

int gsn_harp_load_static(struct gsn_harp *h, const char *text, size_t len, unsigned *bad_line)
{
	if (!text && len)
		return -EINVAL;
	int err = load_pass(h, text, len, false, bad_line);
	if (err)
		return err;
	return load_pass(h, text, len, true, bad_line);
}

int gsn_harp_load_static_file(struct gsn_harp *h, const char *path, unsigned *bad_line)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char *buf = malloc(FILE_MAX_LEN + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, FILE_MAX_LEN + 1, f);
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (!err && n > FILE_MAX_LEN)
		err = -EFBIG;
	if (!err)
		err = gsn_harp_load_static(h, buf, n, bad_line);
	free(buf);
	return err;
}

/* ---- listing ---------------------------------------------------------------- */

static unsigned entry_flags(const struct harp_entry *e)
{
	unsigned f = e->kind == K_STATIC    ? GSN_HARP_F_STATIC
		     : e->kind == K_DYNAMIC ? GSN_HARP_F_DYNAMIC
					    : GSN_HARP_F_REGISTERED;

	return f | (e->revalidating ? GSN_HARP_F_REVALIDATING : 0);
}

void gsn_harp_foreach(const struct gsn_harp *h,
		      void (*fn)(void *ctx, const struct gsn_harp_entry *e), void *ctx)
{
	uint64_t now = now_of(h);

	for (unsigned i = 0; i < h->cfg.max_entries; i++) {
		const struct harp_entry *e = &h->entries[i];
		struct gsn_harp_entry out;

		if (!e->used)
			continue;
		out.ip = e->ip;
		memcpy(out.ula, e->ula, GSN_ULA_LEN);
		out.flags = entry_flags(e);
		out.age_ns = now > e->updated_ns ? now - e->updated_ns : 0;
		fn(ctx, &out);
	}
}

size_t gsn_harp_count(const struct gsn_harp *h)
{
	size_t n = 0;

	for (unsigned i = 0; i < h->cfg.max_entries; i++)
		n += h->entries[i].used;
	return n;
}

enum gsn_harp_mode gsn_harp_get_mode(const struct gsn_harp *h)
{
	return h->mode;
}

const char *gsn_harp_mode_name(enum gsn_harp_mode mode)
{
	switch (mode) {
	case GSN_HARP_MODE_IDLE:
		return "idle";
	case GSN_HARP_MODE_DETECT:
		return "detect";
	case GSN_HARP_MODE_REGISTER:
		return "register";
	case GSN_HARP_MODE_REGISTERED:
		return "registered";
	case GSN_HARP_MODE_BROADCAST:
		return "broadcast";
	case GSN_HARP_MODE_SERVER:
		return "server";
	}
	return "?";
}

bool gsn_harp_current_server(const struct gsn_harp *h, uint8_t ula[GSN_ULA_LEN])
{
	if (h->mode != GSN_HARP_MODE_REGISTERED || h->current < 0)
		return false;
	memcpy(ula, h->servers[h->current].ula, GSN_ULA_LEN);
	return true;
}

void gsn_harp_get_stats(const struct gsn_harp *h, struct gsn_harp_stats *st)
{
	*st = h->stats;
}

/* ---- timers ---------------------------------------------------------------- */

static void mode_timer(struct gsn_harp *h)
{
	switch (h->mode) {
	case GSN_HARP_MODE_DETECT:
		if (h->cfg.nservers) {
			enter_register(h, "no broadcast");
		} else {
			h->timer_ns = now_of(h) + h->cfg.register_retry_ns;
			send_probe(h); /* no servers: keep probing */
		}
		break;
	case GSN_HARP_MODE_REGISTER:
		register_round(h);
		break;
	case GSN_HARP_MODE_REGISTERED:
		if (h->rereg_sends > h->cfg.request_retries) {
			server_failed(h);
			break;
		}
		h->rereg_sends++;
		h->timer_ns = now_of(h) + h->cfg.request_timeout_ns;
		send_ours(h, h->servers[h->current].ula, GSN_HARP_OP_INARP_REQUEST,
			  h->servers[h->current].ula, 0);
		break;
	default:
		h->timer_ns = NEVER;
		break;
	}
}

static void pending_timer(struct gsn_harp *h, struct harp_pending *p, uint64_t now)
{
	if (now >= p->expire_ns) {
		pending_fail(h, p, -ETIMEDOUT);
		return;
	}
	if (p->next_ns > now)
		return;
	if (p->sends <= h->cfg.request_retries) {
		pending_send(h, p);
		return;
	}
	if (h->mode == GSN_HARP_MODE_REGISTERED)
		server_failed(h); /* holds every pending resolution */
	else
		pending_fail(h, p, -ETIMEDOUT);
}

/* Dynamic entries due for revalidation; server registrations due to go. */
static void entry_timer(struct gsn_harp *h, struct harp_entry *e, uint64_t now)
{
	if (e->kind == K_REGISTERED && now - e->updated_ns >= h->cfg.server_forget_ns) {
		h->stats.clients_forgotten++;
		entry_remove(e);
		return;
	}
	if (e->kind != K_DYNAMIC || e->revalidating ||
	    now - e->updated_ns < h->cfg.revalidate_ns)
		return;
	if (!e->used_since || h->cfg.server) {
		h->stats.expired++;
		entry_remove(e);
		return;
	}
	uint32_t ip = e->ip;
	e->revalidating = true;
	h->stats.revalidations++;
	if (!pending_find(h, ip) && !pending_start(h, ip, true)) {
		h->stats.expired++;
		entry_remove(e);
	}
}

void gsn_harp_tick(struct gsn_harp *h)
{
	uint64_t now = now_of(h);

	if (h->timer_ns <= now)
		mode_timer(h);
	for (unsigned i = 0; i < h->cfg.max_pending; i++)
		if (h->pending[i].used)
			pending_timer(h, &h->pending[i], now);
	for (unsigned i = 0; i < h->cfg.max_entries; i++)
		if (h->entries[i].used && h->entries[i].updated_ns <= now)
			entry_timer(h, &h->entries[i], now);
}

static uint64_t entry_due(const struct gsn_harp *h, const struct harp_entry *e)
{
	if (e->kind == K_REGISTERED)
		return e->updated_ns + h->cfg.server_forget_ns;
	if (e->kind == K_DYNAMIC && !e->revalidating)
		return e->updated_ns + h->cfg.revalidate_ns;
	return NEVER;
}

uint64_t gsn_harp_next_deadline(const struct gsn_harp *h)
{
	uint64_t d = h->timer_ns;

	for (unsigned i = 0; i < h->cfg.max_pending; i++) {
		const struct harp_pending *p = &h->pending[i];

		if (!p->used)
			continue;
		if (p->next_ns < d)
			d = p->next_ns;
		if (p->expire_ns < d)
			d = p->expire_ns;
	}
	for (unsigned i = 0; i < h->cfg.max_entries; i++) {
		uint64_t due = h->entries[i].used ? entry_due(h, &h->entries[i]) : NEVER;

		if (due < d)
			d = due;
	}
	return d;
}
