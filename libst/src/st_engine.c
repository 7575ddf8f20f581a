/* SPDX-License-Identifier: MIT */
/*
 * libst core services: engine lifetime, events, timers, id maps, the peer id
 * window, the recent-answer ring, the request framework, slots, regions,
 * sending, counters and introspection.
 */
#include "st_int.h"

#define ST_SCRATCH_MAX (1u << 20)

/* ---- configuration ------------------------------------------------------------ */

void st_config_default(struct st_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bufsize_log2 = 16;
	cfg->max_stu_log2 = 12;
	cfg->block_log2 = 16;
	cfg->data_vc = 1;
	cfg->slots = 16;
	cfg->cts_req = 4;
	cfg->max_vcs = 1024;
	cfg->op_timeout_ns = 1000000000ull;
	cfg->retries = 3;
}

static unsigned log2_floor(uint64_t v)
{
	unsigned n = 0;
	while (v >>= 1)
		n++;
	return n;
}

static int config_check(const struct st_config *c)
{
	if (c->data_vc > 3 || c->max_vcs == 0 || c->op_timeout_ns == 0 || c->slots == 0 ||
	    c->cts_req == 0)
		return -EINVAL;
	if (c->bufsize_log2 < 6 || c->bufsize_log2 > 31)
		return -EINVAL;
	/* an STU must fit the data channel's Message size */
	uint64_t vc_max = gsn_vc_max_st_payload(c->data_vc);
	if (c->max_stu_log2 < 6 || c->max_stu_log2 > c->bufsize_log2 ||
	    c->max_stu_log2 > log2_floor(vc_max < ST_SCRATCH_MAX ? vc_max : ST_SCRATCH_MAX))
		return -EINVAL;
	if (c->block_log2 < c->max_stu_log2 || c->block_log2 > 31)
		return -EINVAL;
	return 0;
}

/* ---- engine lifetime ------------------------------------------------------------- */

static uint64_t rng_next(st_engine *eng)
{
	uint64_t x = eng->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	eng->rng = x;
	return x;
}

uint32_t st_new_key(st_engine *eng)
{
	uint32_t k;
	do
		k = (uint32_t)(rng_next(eng) >> 16);
	while (k == 0);
	return k;
}

int st_engine_create(const struct st_config *cfg, const struct st_lower_ops *lower,
		     st_engine **out)
{
	if (!cfg || !lower || !out || !lower->send || !lower->now_ns || !lower->mem_read ||
	    !lower->mem_write)
		return -EINVAL;
	int rc = config_check(cfg);
	if (rc)
		return rc;
	st_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	eng->cfg = *cfg;
	eng->lower = *lower;
	eng->vcs_cap = (uint32_t)cfg->max_vcs + 1;
	eng->vcs = calloc(eng->vcs_cap, sizeof(*eng->vcs));
	uint64_t vc_max = gsn_vc_max_st_payload(cfg->data_vc);
	eng->scratch_len = vc_max < ST_SCRATCH_MAX ? (size_t)vc_max : ST_SCRATCH_MAX;
	eng->scratch = malloc(eng->scratch_len);
	if (!eng->vcs || !eng->scratch) {
		free(eng->vcs);
		free(eng->scratch);
		free(eng);
		return -ENOMEM;
	}
	/* Keys only need to differ between incarnations and peers: seed from the
	 * clock and our address. */
	uint64_t seed = lower->now_ns(lower->ctx) ^ 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < ST_ULA_LEN; i++)
		seed = (seed ^ cfg->ula[i]) * 0x100000001b3ull;
	eng->rng = seed ? seed : 1;
	eng->port_hint = 1;
	eng->mx_hint = 1;
	*out = eng;
	return 0;
}

void st_engine_destroy(st_engine *eng)
{
	if (!eng)
		return;
	for (uint32_t p = 1; p < eng->vcs_cap; p++) {
		struct st_vc *vc = eng->vcs[p];
		if (!vc)
			continue;
		vc->dying = true;
		while (vc->reqs)
			st_req_free(eng, vc->reqs);
		st_vc_destroy(eng, vc);
	}
	for (uint32_t m = 1; m < eng->regions_cap; m++)
		free(eng->regions[m]);
	st_idmap_free(&eng->region_keys);
	while (eng->listeners) {
		struct st_listener *l = eng->listeners;
		eng->listeners = l->next;
		free(l);
	}
	free(eng->regions);
	free(eng->vcs);
	free(eng->evq);
	free(eng->heap);
	free(eng->scratch);
	free(eng);
}

uint64_t st_now(const st_engine *eng)
{
	return eng->lower.now_ns(eng->lower.ctx);
}

/* ---- events ------------------------------------------------------------------------ */

void st_emit(st_engine *eng, const struct st_event *ev)
{
	if (eng->ev_len == eng->ev_cap) {
		size_t cap = eng->ev_cap ? eng->ev_cap * 2 : 64;
		struct st_event *q = malloc(cap * sizeof(*q));
		if (!q)
			return; /* events are lost only when memory is */
		for (size_t i = 0; i < eng->ev_len; i++)
			q[i] = eng->evq[(eng->ev_head + i) % eng->ev_cap];
		free(eng->evq);
		eng->evq = q;
		eng->ev_cap = cap;
		eng->ev_head = 0;
	}
	eng->evq[(eng->ev_head + eng->ev_len) % eng->ev_cap] = *ev;
	eng->ev_len++;
}

bool st_poll_event(st_engine *eng, struct st_event *ev)
{
	if (!eng || !ev || eng->ev_len == 0)
		return false;
	*ev = eng->evq[eng->ev_head];
	eng->ev_head = (eng->ev_head + 1) % eng->ev_cap;
	eng->ev_len--;
	return true;
}

/* ---- timers ------------------------------------------------------------------------ */

void st_timer_init(struct st_timer *t, st_timer_fn fire)
{
	t->deadline = 0;
	t->heap_idx = SIZE_MAX;
	t->fire = fire;
}

static void heap_set(st_engine *eng, size_t i, struct st_timer *t)
{
	eng->heap[i] = t;
	t->heap_idx = i;
}

static void heap_sift_up(st_engine *eng, size_t i)
{
	struct st_timer *t = eng->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (eng->heap[parent]->deadline <= t->deadline)
			break;
		heap_set(eng, i, eng->heap[parent]);
		i = parent;
	}
	heap_set(eng, i, t);
}

static void heap_sift_down(st_engine *eng, size_t i)
{
	struct st_timer *t = eng->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t best = t->deadline;
		if (l < eng->heap_len && eng->heap[l]->deadline < best) {
			m = l;
			best = eng->heap[l]->deadline;
		}
		if (r < eng->heap_len && eng->heap[r]->deadline < best)
			m = r;
		if (m == i)
			break;
		heap_set(eng, i, eng->heap[m]);
		i = m;
	}
	heap_set(eng, i, t);
}

void st_timer_cancel(st_engine *eng, struct st_timer *t)
{
	size_t i = t->heap_idx;
	if (i == SIZE_MAX)
		return;
	t->heap_idx = SIZE_MAX;
	eng->heap_len--;
	if (i == eng->heap_len)
		return;
	heap_set(eng, i, eng->heap[eng->heap_len]);
	heap_sift_up(eng, i);
	heap_sift_down(eng, eng->heap[i]->heap_idx);
}

void st_timer_arm(st_engine *eng, struct st_timer *t, uint64_t deadline)
{
	st_timer_cancel(eng, t);
	if (eng->heap_len == eng->heap_cap) {
		size_t cap = eng->heap_cap ? eng->heap_cap * 2 : 64;
		struct st_timer **h = realloc(eng->heap, cap * sizeof(*h));
		if (!h)
			return; /* without memory the operation relies on its peer */
		eng->heap = h;
		eng->heap_cap = cap;
	}
	t->deadline = deadline;
	heap_set(eng, eng->heap_len++, t);
	heap_sift_up(eng, t->heap_idx);
}

void st_tick(st_engine *eng)
{
	uint64_t now = st_now(eng);
	while (eng->heap_len > 0 && eng->heap[0]->deadline <= now) {
		struct st_timer *t = eng->heap[0];
		st_timer_cancel(eng, t);
		t->fire(eng, t);
	}
}

uint64_t st_next_deadline(const st_engine *eng)
{
	return eng->heap_len ? eng->heap[0]->deadline : UINT64_MAX;
}

/* ---- id map ------------------------------------------------------------------------ */

static size_t idmap_slot(uint64_t id, size_t cap)
{
	return (size_t)(((id * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1));
}

static int idmap_grow(struct st_idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	void **vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = idmap_slot(m->keys[i], cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int st_idmap_put(struct st_idmap *m, uint64_t id, void *val)
{
	if (id == 0)
		return -EINVAL;
	if ((m->count + 1) * 2 > m->cap && idmap_grow(m))
		return -ENOMEM;
	size_t i = idmap_slot(id, m->cap);
	while (m->keys[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	if (!m->keys[i])
		m->count++;
	m->keys[i] = id;
	m->vals[i] = val;
	return 0;
}

void *st_idmap_get(const struct st_idmap *m, uint64_t id)
{
	if (id == 0 || m->cap == 0)
		return NULL;
	size_t i = idmap_slot(id, m->cap);
	while (m->keys[i]) {
		if (m->keys[i] == id)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

void st_idmap_del(struct st_idmap *m, uint64_t id)
{
	if (id == 0 || m->cap == 0)
		return;
	size_t i = idmap_slot(id, m->cap);
	while (m->keys[i] && m->keys[i] != id)
		i = (i + 1) & (m->cap - 1);
	if (!m->keys[i])
		return;
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->count--;
	/* re-insert the rest of the cluster so lookups never stop early */
	for (size_t j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
		uint64_t k = m->keys[j];
		void *v = m->vals[j];
		m->keys[j] = 0;
		m->vals[j] = NULL;
		size_t s = idmap_slot(k, m->cap);
		while (m->keys[s])
			s = (s + 1) & (m->cap - 1);
		m->keys[s] = k;
		m->vals[s] = v;
	}
}

void st_idmap_free(struct st_idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- peer id window ------------------------------------------------------------------ */

static bool idwin_bit(const struct st_idwin *w, uint32_t id)
{
	uint32_t i = id % ST_IDWIN;
	return (w->bits[i / 64] >> (i % 64)) & 1;
}

enum st_idclass st_idwin_classify(const struct st_idwin *w, uint32_t id)
{
	uint32_t d = id - w->floor; /* serial arithmetic */
	if (id == 0 || d >= 0x80000000u)
		return ST_ID_STALE;
	/* beyond the window: never marked, so new; marking it slides the window */
	if (d >= ST_IDWIN)
		return ST_ID_NEW;
	return idwin_bit(w, id) ? ST_ID_SEEN : ST_ID_NEW;
}

static void idwin_advance(struct st_idwin *w)
{
	uint32_t f = w->floor % ST_IDWIN;
	w->bits[f / 64] &= ~(1ull << (f % 64));
	w->floor++;
	if (w->floor == 0)
		w->floor = 1;
}

void st_idwin_mark(struct st_idwin *w, uint32_t id)
{
	if (st_idwin_classify(w, id) != ST_ID_NEW)
		return;
	/*
	 * An id beyond the window means ids below it never arrived and the
	 * sender has moved on: slide so the id fits; the skipped ids become
	 * stale.  Without this a single lost id would pin the floor and jam
	 * the VC once the sender got ST_IDWIN ids ahead.
	 */
	uint32_t d = id - w->floor;
	if (d >= ST_IDWIN) {
		uint32_t shift = d - ST_IDWIN + 1;
		if (shift >= ST_IDWIN) {
			memset(w->bits, 0, sizeof(w->bits));
			w->floor += shift;
			if (w->floor == 0)
				w->floor = 1;
		} else {
			while (shift--)
				idwin_advance(w);
		}
	}
	uint32_t i = id % ST_IDWIN;
	w->bits[i / 64] |= 1ull << (i % 64);
	/* slide past the contiguous run of arrived ids; their bits are reused */
	while (idwin_bit(w, w->floor))
		idwin_advance(w);
}

/* ---- recent answers --------------------------------------------------------------------- */

void st_recent_add(struct st_vc *vc, uint32_t peer_id, const struct st_hdr *ans)
{
	struct st_recent *r = &vc->recent[vc->recent_next];
	vc->recent_next = (vc->recent_next + 1) % ST_RECENT;
	r->peer_id = peer_id;
	r->ans = *ans;
}

bool st_recent_resend(st_engine *eng, struct st_vc *vc, uint32_t peer_id)
{
	for (unsigned i = 0; i < ST_RECENT; i++) {
		if (peer_id == 0 || vc->recent[i].peer_id != peer_id)
			continue;
		struct st_hdr h = vc->recent[i].ans;
		h.d_port = vc->peer_port;
		h.s_port = vc->port;
		h.d_key = vc->peer_key;
		st_send_hdr(eng, vc, &h, NULL, 0);
		return true;
	}
	return false;
}

/* ---- queues ------------------------------------------------------------------------------ */

void st_queue_push(struct st_req_queue *q, struct st_req *r)
{
	st_queue_remove(r);
	r->q_next = NULL;
	r->q_prev = q->tail;
	if (q->tail)
		q->tail->q_next = r;
	else
		q->head = r;
	q->tail = r;
	q->len++;
	r->queue = q;
}

void st_queue_remove(struct st_req *r)
{
	struct st_req_queue *q = r->queue;
	if (!q)
		return;
	if (r->q_prev)
		r->q_prev->q_next = r->q_next;
	else
		q->head = r->q_next;
	if (r->q_next)
		r->q_next->q_prev = r->q_prev;
	else
		q->tail = r->q_prev;
	q->len--;
	r->queue = NULL;
	r->q_prev = r->q_next = NULL;
}

struct st_req *st_queue_pop(struct st_req_queue *q)
{
	struct st_req *r = q->head;
	if (r)
		st_queue_remove(r);
	return r;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void req_timer_fire(st_engine *eng, struct st_timer *t)
{
	struct st_req *req = ST_CONTAINER_OF(t, struct st_req, timer);
	req->ops->on_timeout(eng, req);
}

int st_req_link(st_engine *eng, struct st_vc *vc, struct st_req *req, const struct st_req_ops *ops,
		enum st_req_kind kind, enum st_req_role role, uint64_t user_ctx)
{
	(void)eng;
	req->ops = ops;
	req->vc = vc;
	req->kind = kind;
	req->role = role;
	req->user_ctx = user_ctx;
	req->queue = NULL;
	req->q_prev = req->q_next = NULL;
	st_timer_init(&req->timer, req_timer_fire);
	if (role == ST_ROLE_RESPONDER && req->peer_id &&
	    st_idmap_put(&vc->remote, req->peer_id, req))
		return -ENOMEM;
	req->prev = NULL;
	req->next = vc->reqs;
	if (vc->reqs)
		vc->reqs->prev = req;
	vc->reqs = req;
	return 0;
}

int st_req_assign_id(st_engine *eng, struct st_req *req)
{
	(void)eng;
	struct st_vc *vc = req->vc;
	if (req->id)
		return 0;
	uint32_t id = vc->next_id++;
	if (vc->next_id == 0)
		vc->next_id = 1;
	if (st_idmap_put(&vc->local, id, req))
		return -ENOMEM;
	req->id = id;
	return 0;
}

void st_req_free(st_engine *eng, struct st_req *req)
{
	struct st_vc *vc = req->vc;
	st_queue_remove(req);
	st_timer_cancel(eng, &req->timer);
	st_peer_slot_give(vc, req);
	if (req->id && st_idmap_get(&vc->local, req->id) == req)
		st_idmap_del(&vc->local, req->id);
	if (req->role == ST_ROLE_RESPONDER && req->peer_id &&
	    st_idmap_get(&vc->remote, req->peer_id) == req)
		st_idmap_del(&vc->remote, req->peer_id);
	if (req->prev)
		req->prev->next = req->next;
	else
		vc->reqs = req->next;
	if (req->next)
		req->next->prev = req->prev;
	bool held = req->holds_slot;
	req->holds_slot = false;
	req->ops->destroy(req);
	if (held) {
		vc->slots_in_use--;
		st_slot_pump(eng, vc);
	}
}

void st_req_complete(st_engine *eng, struct st_req *req, int status, int reason, uint64_t len)
{
	struct st_event ev = {0};
	ev.type = ST_EV_COMPLETE;
	ev.kind = req->kind;
	ev.status = status;
	ev.reason = reason;
	ev.vc = req->vc->port;
	ev.user_ctx = req->user_ctx;
	ev.len = len;
	memcpy(ev.peer, req->vc->peer, ST_ULA_LEN);
	st_emit(eng, &ev);
}

void st_req_arm(st_engine *eng, struct st_req *req)
{
	st_timer_arm(eng, &req->timer, st_now(eng) + eng->cfg.op_timeout_ns);
}

bool st_req_retry_or_fail(st_engine *eng, struct st_req *req)
{
	struct st_vc *vc = req->vc;
	if (req->tries < eng->cfg.retries) {
		req->tries++;
		st_count_retransmit(eng, vc);
		return true;
	}
	vc->ctr.timeouts++;
	eng->ctr.timeouts++;
	vc->dying = true;
	req->ops->on_finish(eng, req, ST_ERR_TIMEOUT);
	st_vc_fail(eng, vc, ST_ERR_TIMEOUT);
	return false;
}

/* ---- slots ------------------------------------------------------------------------------ */

bool st_slot_acquire(st_engine *eng, struct st_req *req)
{
	struct st_vc *vc = req->vc;
	if (req->holds_slot)
		return true;
	if (vc->slot_wait.len == 0 && vc->slots_in_use < vc->peer_slots) {
		vc->slots_in_use++;
		req->holds_slot = true;
		return true;
	}
	st_queue_push(&vc->slot_wait, req);
	vc->ctr.slot_waits++;
	eng->ctr.slot_waits++;
	return false;
}

void st_slot_release(st_engine *eng, struct st_req *req)
{
	if (!req->holds_slot)
		return;
	req->holds_slot = false;
	req->vc->slots_in_use--;
	st_slot_pump(eng, req->vc);
}

void st_slot_pump(st_engine *eng, struct st_vc *vc)
{
	while (!vc->dying && vc->slot_wait.len && vc->slots_in_use < vc->peer_slots) {
		struct st_req *r = st_queue_pop(&vc->slot_wait);
		vc->slots_in_use++;
		r->holds_slot = true;
		r->ops->on_slot(eng, r);
	}
}

bool st_peer_slot_take(struct st_vc *vc, struct st_req *req)
{
	if (vc->peer_slots_active >= vc->our_grant)
		return false;
	if (req) {
		if (req->holds_peer_slot)
			return true;
		vc->peer_slots_active++;
		req->holds_peer_slot = true;
	}
	return true;
}

void st_peer_slot_give(struct st_vc *vc, struct st_req *req)
{
	if (!req || !req->holds_peer_slot)
		return;
	req->holds_peer_slot = false;
	vc->peer_slots_active--;
}

/* ---- regions ------------------------------------------------------------------------------ */

struct st_region *st_region_get(st_engine *eng, uint16_t mx)
{
	return mx && mx < eng->regions_cap ? eng->regions[mx] : NULL;
}

struct st_region *st_region_by_key(st_engine *eng, uint64_t key)
{
	return st_idmap_get(&eng->region_keys, key);
}

static int regions_reserve(st_engine *eng)
{
	if (eng->region_count + 1 < eng->regions_cap)
		return 0;
	if (eng->regions_cap >= 65536)
		return -ENOSPC;
	uint32_t cap = eng->regions_cap ? eng->regions_cap * 2 : 64;
	if (cap > 65536)
		cap = 65536;
	struct st_region **r = realloc(eng->regions, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r + eng->regions_cap, 0, (cap - eng->regions_cap) * sizeof(*r));
	eng->regions = r;
	eng->regions_cap = cap;
	return 0;
}

int st_region_register(st_engine *eng, uint64_t len, unsigned access, uint64_t key,
		       void *cookie, uint16_t *mx)
{
	if (!eng || !mx || len == 0 || key == 0 ||
	    (access & ~(ST_ACCESS_REMOTE_WRITE | ST_ACCESS_REMOTE_READ | ST_ACCESS_REMOTE_ATOMIC)))
		return -EINVAL;
	if (st_region_by_key(eng, key))
		return -EEXIST;
	int rc = regions_reserve(eng);
	if (rc)
		return rc;
	uint32_t m = eng->mx_hint;
	for (uint32_t n = 0; n < eng->regions_cap; n++, m++) {
		if (m == 0 || m >= eng->regions_cap)
			m = 1;
		if (!eng->regions[m])
			break;
	}
	struct st_region *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (st_idmap_put(&eng->region_keys, key, r)) {
		free(r);
		return -ENOMEM;
	}
	r->mx = (uint16_t)m;
	r->access = access;
	r->len = len;
	r->key = key;
	r->cookie = cookie;
	eng->regions[m] = r;
	eng->region_count++;
	eng->mx_hint = (uint16_t)(m + 1);
	*mx = (uint16_t)m;
	return 0;
}

int st_region_deregister(st_engine *eng, uint16_t mx)
{
	struct st_region *r = eng ? st_region_get(eng, mx) : NULL;
	if (!r)
		return -ENOENT;
	if (r->users)
		return -EBUSY;
	/* only regions with remote access are ever exposed (RMR refuses the rest),
	 * so short-lived local regions skip the walk over every VC */
	for (uint32_t p = 1; r->access && p < eng->vcs_cap; p++)
		if (eng->vcs[p])
			st_mem_release_exposure(eng, eng->vcs[p], mx);
	st_idmap_del(&eng->region_keys, r->key);
	eng->regions[mx] = NULL;
	eng->region_count--;
	free(r);
	return 0;
}

int st_region_set_base(st_engine *eng, uint16_t mx, uint64_t base)
{
	struct st_region *r = eng ? st_region_get(eng, mx) : NULL;
	if (!r)
		return -ENOENT;
	r->base = base;
	return 0;
}

static bool range_ok(const struct st_region *r, uint64_t off, uint64_t len)
{
	return off <= r->len && len <= r->len - off;
}

int st_region_read(st_engine *eng, struct st_region *r, uint64_t off, void *dst, size_t len)
{
	if (!range_ok(r, off, len))
		return ST_ERR_LOCAL;
	if (len == 0)
		return ST_OK;
	return eng->lower.mem_read(eng->lower.ctx, r->cookie, off, dst, len) ? ST_ERR_LOCAL : ST_OK;
}

int st_region_write(st_engine *eng, struct st_region *r, uint64_t off, const void *src, size_t len)
{
	if (!range_ok(r, off, len))
		return ST_ERR_LOCAL;
	if (len == 0)
		return ST_OK;
	return eng->lower.mem_write(eng->lower.ctx, r->cookie, off, src, len) ? ST_ERR_LOCAL : ST_OK;
}

/* ---- sending ------------------------------------------------------------------------------ */

void st_hdr_for_vc(const struct st_vc *vc, struct st_hdr *h, unsigned op)
{
	memset(h, 0, sizeof(*h));
	h->op = (uint8_t)op;
	h->d_port = vc->peer_port;
	h->s_port = vc->port;
	h->d_key = vc->peer_key;
}

int st_send_to(st_engine *eng, struct st_vc *vc, const uint8_t dst[ST_ULA_LEN], struct st_hdr *h,
	       const struct iovec *payload, unsigned iovcnt)
{
	uint8_t raw[ST_HDR_LEN];
	st_hdr_encode(h, raw, eng->cfg.checksum);
	unsigned vcnum = h->op == ST_OP_DATA ? eng->cfg.data_vc : 0;
	eng->ctr.ops_sent[h->op & 0x1f]++;
	if (vc)
		vc->ctr.ops_sent[h->op & 0x1f]++;
	int rc = eng->lower.send(eng->lower.ctx, dst, vcnum, raw, payload, iovcnt);
	if (rc < 0) {
		eng->ctr.send_failures++;
		if (vc)
			vc->ctr.send_failures++;
	}
	return rc;
}

int st_send_hdr(st_engine *eng, struct st_vc *vc, struct st_hdr *h,
		const struct iovec *payload, unsigned iovcnt)
{
	return st_send_to(eng, vc, vc->peer, h, payload, iovcnt);
}

void st_send_reject(st_engine *eng, struct st_vc *vc, uint32_t peer_id, unsigned op_rejected,
		    enum st_reject_reason reason)
{
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_REQUEST_ANSWER);
	h.flags = ST_FLAG_REJECT;
	h.param = (uint16_t)reason;
	h.b_id = (uint16_t)op_rejected;
	h.d_id = peer_id;
	vc->ctr.rejects_sent++;
	eng->ctr.rejects_sent++;
	st_send_hdr(eng, vc, &h, NULL, 0);
}

/* ---- counters ------------------------------------------------------------------------------ */

void st_count_drop(st_engine *eng, struct st_vc *vc, enum st_drop_reason why)
{
	if ((unsigned)why >= ST_DROP_REASONS)
		return;
	eng->ctr.drops[why]++;
	if (vc)
		vc->ctr.drops[why]++;
}

void st_count_retransmit(st_engine *eng, struct st_vc *vc)
{
	eng->ctr.retransmits++;
	if (vc)
		vc->ctr.retransmits++;
}

void st_count_bytes_sent(st_engine *eng, struct st_vc *vc, uint64_t n)
{
	eng->ctr.bytes_sent += n;
	if (vc)
		vc->ctr.bytes_sent += n;
}

void st_count_bytes_received(st_engine *eng, struct st_vc *vc, uint64_t n)
{
	eng->ctr.bytes_received += n;
	if (vc)
		vc->ctr.bytes_received += n;
}

int st_get_counters(const st_engine *eng, uint16_t vc, struct st_counters *out)
{
	if (!eng || !out)
		return -EINVAL;
	if (vc == 0) {
		*out = eng->ctr;
		return 0;
	}
	const struct st_vc *v = st_vc_get(eng, vc);
	if (!v)
		return -ENOENT;
	*out = v->ctr;
	return 0;
}

/* ---- VCs ---------------------------------------------------------------------------------- */

struct st_vc *st_vc_get(const st_engine *eng, uint16_t port)
{
	return port && port < eng->vcs_cap ? eng->vcs[port] : NULL;
}

struct st_vc *st_vc_open(st_engine *eng, uint16_t port, int *err)
{
	struct st_vc *vc = eng ? st_vc_get(eng, port) : NULL;
	if (!vc) {
		*err = -ENOENT;
		return NULL;
	}
	if (vc->state != ST_VC_OPEN) {
		*err = -ENOTCONN;
		return NULL;
	}
	*err = 0;
	return vc;
}

uint64_t st_vc_stu_max(const st_engine *eng, const struct st_vc *vc)
{
	uint64_t m = st_pow2(vc->peer_max_stu_log2);
	uint64_t vcmax = gsn_vc_max_st_payload(eng->cfg.data_vc);
	if (m == 0 || m > vcmax)
		m = vcmax;
	if (m > eng->scratch_len)
		m = eng->scratch_len;
	return m;
}

int st_vc_info(const st_engine *eng, uint16_t port, struct st_vc_info *out)
{
	const struct st_vc *vc = eng ? st_vc_get(eng, port) : NULL;
	if (!vc || !out)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->state = vc->state;
	memcpy(out->peer, vc->peer, ST_ULA_LEN);
	out->local_port = vc->port;
	out->peer_port = vc->peer_port;
	out->local_key = vc->local_key;
	out->peer_key = vc->peer_key;
	out->local_uport = vc->local_uport;
	out->peer_uport = vc->peer_uport;
	out->ethertype = vc->ethertype;
	out->peer_bufsize_log2 = vc->peer_bufsize_log2;
	out->peer_max_stu_log2 = vc->peer_max_stu_log2;
	out->slots_granted_to_us = vc->peer_slots;
	out->slots_in_use = vc->slots_in_use;
	out->slots_we_grant = vc->our_grant;
	out->queued_ops = vc->slot_wait.len;
	return 0;
}

/* ---- names ------------------------------------------------------------------------------ */

const char *st_status_str(int status)
{
	static const char *const names[] = {
		[ST_OK] = "success",
		[ST_ERR_REFUSED] = "connection refused",
		[ST_ERR_TIMEOUT] = "retries exhausted",
		[ST_ERR_REMOTE_ACCESS] = "remote access error",
		[ST_ERR_REMOTE_OP] = "remote operation error",
		[ST_ERR_LENGTH] = "length error",
		[ST_ERR_NOT_READY] = "receiver not ready",
		[ST_ERR_ABORTED] = "aborted",
		[ST_ERR_FLUSHED] = "flushed",
		[ST_ERR_LOCAL] = "local memory error",
	};
	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]) || !names[status])
		return "unknown status";
	return names[status];
}

const char *st_reject_str(int reason)
{
	static const char *const names[] = {
		[ST_REJ_NONE] = "none",
		[ST_REJ_BAD_OPCODE] = "bad opcode",
		[ST_REJ_BAD_RANGE] = "bad range",
		[ST_REJ_ACCESS] = "access denied",
		[ST_REJ_NO_TRANSFER] = "no such transfer",
		[ST_REJ_NO_SLOTS] = "no slots",
		[ST_REJ_NOT_READY] = "not ready",
		[ST_REJ_LENGTH] = "length",
		[ST_REJ_NO_LISTENER] = "no listener",
		[ST_REJ_ETHERTYPE] = "EtherType not served",
		[ST_REJ_BAD_PARAM] = "bad parameter",
		[ST_REJ_RESOURCES] = "out of resources",
		[ST_REJ_REFUSED] = "refused",
		[ST_REJ_BAD_KEY] = "unknown region key",
		[ST_REJ_ABORTED] = "aborted",
		[ST_REJ_BAD_FUNCTION] = "unsupported function",
	};
	if (reason < 0 || (size_t)reason >= sizeof(names) / sizeof(names[0]) || !names[reason])
		return "unknown reason";
	return names[reason];
}

const char *st_op_name(unsigned op)
{
	switch (op) {
	case ST_OP_REQUEST_CONNECTION: return "Request_Connection";
	case ST_OP_CONNECTION_ANSWER: return "Connection_Answer";
	case ST_OP_REQUEST_DISCONNECT: return "Request_Disconnect";
	case ST_OP_DISCONNECT_ANSWER: return "Disconnect_Answer";
	case ST_OP_DISCONNECT_COMPLETE: return "Disconnect_Complete";
	case ST_OP_NOP: return "Nop";
	case ST_OP_REQUEST_MEMORY_REGION: return "Request_Memory_Region";
	case ST_OP_MEMORY_REGION_AVAILABLE: return "Memory_Region_Available";
	case ST_OP_GET: return "GET";
	case ST_OP_REQUEST_TO_SEND: return "Request_To_Send";
	case ST_OP_REQUEST_ANSWER: return "Request_Answer";
	case ST_OP_REQUEST_TO_RECEIVE: return "Request_To_Receive";
	case ST_OP_CLEAR_TO_SEND: return "Clear_To_Send";
	case ST_OP_DATA: return "Data";
	case ST_OP_REQUEST_STATE: return "Request_State";
	case ST_OP_REQUEST_STATE_RESPONSE: return "Request_State_Response";
	case ST_OP_END: return "End";
	case ST_OP_END_ACK: return "End_Ack";
	default: return "unknown";
	}
}

const char *st_drop_str(int reason)
{
	static const char *const names[ST_DROP_REASONS] = {
		[ST_DROP_TRUNCATED] = "truncated",
		[ST_DROP_CKSUM] = "bad checksum",
		[ST_DROP_BAD_OPCODE] = "bad opcode",
		[ST_DROP_NO_VC] = "no VC",
		[ST_DROP_BAD_STATE] = "bad state",
		[ST_DROP_BAD_RANGE] = "bad range",
		[ST_DROP_ACCESS] = "access",
		[ST_DROP_NO_TRANSFER] = "no transfer",
		[ST_DROP_BAD_PARAM] = "bad parameter",
		[ST_DROP_NO_SLOTS] = "no slots",
		[ST_DROP_DUPLICATE] = "duplicate",
		[ST_DROP_RESOURCES] = "resources",
	};
	if (reason < 0 || reason >= ST_DROP_REASONS)
		return "unknown";
	return names[reason];
}
