/* SPDX-License-Identifier: MIT */
/*
 * libst private header: the engine, VCs, requests and the services the core
 * (st_engine.c, st_input.c, st_conn.c, st_ctrl.c) offers the operation modules
 * (st_mem.c: persistent memory; st_single.c: single-use memory).
 *
 * Ownership: the engine owns VCs and regions; a VC owns every request on it
 * (vc->reqs).  A request is created by one module and freed only through
 * st_req_free(), which unlinks it from every map and queue.
 */
#ifndef ST_INT_H
#define ST_INT_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <st/st.h>

#define ST_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* ---- timers: an intrusive binary min-heap ------------------------------------ */

struct st_timer;
typedef void (*st_timer_fn)(st_engine *eng, struct st_timer *t);

struct st_timer {
	uint64_t deadline;
	size_t heap_idx;  /* SIZE_MAX when not armed */
	st_timer_fn fire;
};

void st_timer_init(struct st_timer *t, st_timer_fn fire);
void st_timer_arm(st_engine *eng, struct st_timer *t, uint64_t deadline);
void st_timer_cancel(st_engine *eng, struct st_timer *t);
static inline bool st_timer_armed(const struct st_timer *t) { return t->heap_idx != SIZE_MAX; }

/* ---- key -> pointer map (open addressing, key 0 is never stored) -----------------
 * Keys are 64-bit so one map serves wire ids and region keys alike. */

struct st_idmap {
	uint64_t *keys;
	void **vals;
	size_t cap, count; /* cap is 0 or a power of two */
};

int st_idmap_put(struct st_idmap *m, uint64_t id, void *val);
void *st_idmap_get(const struct st_idmap *m, uint64_t id);
void st_idmap_del(struct st_idmap *m, uint64_t id);
void st_idmap_free(struct st_idmap *m);

/* ---- the window over the peer's request ids -------------------------------------
 * Each side numbers the requests it puts on the wire from 1 upwards (per VC,
 * in order of first transmission).  The receiver remembers which ids in
 * [floor, floor + ST_IDWIN) have arrived, so a duplicate or a late copy of a
 * finished request is recognised and never executed twice.
 */
#define ST_IDWIN 16384u

enum st_idclass { ST_ID_NEW, ST_ID_SEEN, ST_ID_STALE };

struct st_idwin {
	uint32_t floor;
	uint64_t bits[ST_IDWIN / 64];
};

enum st_idclass st_idwin_classify(const struct st_idwin *w, uint32_t id);
void st_idwin_mark(struct st_idwin *w, uint32_t id);

/* ---- recent final answers, re-sent when a finished request is repeated ----------- */

#define ST_RECENT 64u

struct st_recent {
	uint32_t peer_id;   /* 0: empty */
	struct st_hdr ans;  /* the answer as sent (ports/key are refilled on re-send) */
};

/* ---- requests ---------------------------------------------------------------------- */

struct st_vc;
struct st_req;

struct st_req_ops {
	/* The retransmit timer fired (req->tries already counts the sends so far). */
	void (*on_timeout)(st_engine *eng, struct st_req *req);
	/* A slot was granted to a request that waited in the slot queue: send it. */
	void (*on_slot)(st_engine *eng, struct st_req *req);
	/* Request_Answer addressed to this request (D_id == req->id). */
	void (*on_answer)(st_engine *eng, struct st_req *req, const struct st_hdr *h);
	/* Data addressed to this request (D_id == req->id). */
	void (*on_data)(st_engine *eng, struct st_req *req, const struct st_hdr *h,
			const uint8_t *payload, size_t len);
	/* Clear_To_Send addressed to this request (D_id == req->id). */
	void (*on_cts)(st_engine *eng, struct st_req *req, const struct st_hdr *h);
	/*
	 * The request ends with status (flush on VC close, abort, timeout): emit
	 * the ULP's completion if it has one, then st_req_free().  Never sends.
	 */
	void (*on_finish)(st_engine *eng, struct st_req *req, int status);
	/* Frees the module's part of the request (the core frees the rest). */
	void (*destroy)(struct st_req *req);
};

enum st_req_role {
	ST_ROLE_INITIATOR, /* ours: id from vc->next_id, in vc->local */
	ST_ROLE_RESPONDER, /* the peer's request we serve: keyed by peer_id in vc->remote */
	ST_ROLE_LOCAL,     /* posted buffers and other state that owns a local id but may not
			      be on the wire yet */
};

struct st_req {
	const struct st_req_ops *ops;
	struct st_vc *vc;
	enum st_req_kind kind;
	enum st_req_role role;
	uint32_t id;        /* our id on the wire (0 until assigned) */
	uint32_t peer_id;   /* the peer's id for the same transfer (0 if unknown) */
	uint64_t user_ctx;
	struct st_timer timer;
	unsigned tries;     /* retransmissions so far (0 after the first send) */
	bool holds_slot;    /* we hold one of the peer's slots */
	bool holds_peer_slot; /* (responder) this request occupies a slot we granted */
	struct st_req *prev, *next;           /* vc->reqs */
	struct st_req *q_prev, *q_next;       /* the one queue it waits in, if any */
	struct st_req_queue *queue;
};

struct st_req_queue {
	struct st_req *head, *tail;
	uint32_t len;
};

void st_queue_push(struct st_req_queue *q, struct st_req *r);
struct st_req *st_queue_pop(struct st_req_queue *q);
void st_queue_remove(struct st_req *r); /* no-op when not queued */

/*
 * Links a module-allocated request into vc.  ST_ROLE_INITIATOR requests get
 * their wire id later (st_req_assign_id) when first sent; responder requests
 * are indexed by peer_id.  Returns -ENOMEM on failure (req not linked).
 */
int st_req_link(st_engine *eng, struct st_vc *vc, struct st_req *req, const struct st_req_ops *ops,
		enum st_req_kind kind, enum st_req_role role, uint64_t user_ctx);
/* Gives req the next wire id of its VC and indexes it (vc->local). */
int st_req_assign_id(st_engine *eng, struct st_req *req);
/* Unlinks req from everything (maps, queues, timer, slot) and frees it. */
void st_req_free(st_engine *eng, struct st_req *req);
/* Emits ST_EV_COMPLETE for req (kind, ctx, vc) with status/reason/len. */
void st_req_complete(st_engine *eng, struct st_req *req, int status, int reason, uint64_t len);
/* Arms req's retransmit timer one op_timeout from now. */
void st_req_arm(st_engine *eng, struct st_req *req);
/* For on_timeout: true if another try is allowed (tries++, counts a
 * retransmit: the caller re-sends and re-arms); false after counting the
 * timeout, finishing req with ST_ERR_TIMEOUT and failing the VC — req and
 * its VC are gone and must not be touched. */
bool st_req_retry_or_fail(st_engine *eng, struct st_req *req);

/* ---- slots ------------------------------------------------------------------------ */

/* Takes one of the peer's slots for req, or queues req (on_slot later).  True if taken. */
bool st_slot_acquire(st_engine *eng, struct st_req *req);
/* Returns req's slot (if it holds one) and grants waiting requests. */
void st_slot_release(st_engine *eng, struct st_req *req);
/* Responder side: true if the peer may start one more slot-consuming request;
 * on true the request is marked holds_peer_slot. */
bool st_peer_slot_take(struct st_vc *vc, struct st_req *req);
void st_peer_slot_give(struct st_vc *vc, struct st_req *req);
/* Grants waiting requests after peer_slots changed. */
void st_slot_pump(st_engine *eng, struct st_vc *vc);

/* ---- regions ---------------------------------------------------------------------- */

struct st_region {
	uint16_t mx;
	unsigned access;
	uint64_t len;
	uint64_t key;
	uint64_t base;  /* the owner's address of byte 0, told to peers in MRA */
	void *cookie;
	uint32_t users; /* local requests using it as source/sink */
};

struct st_region *st_region_get(st_engine *eng, uint16_t mx);
struct st_region *st_region_by_key(st_engine *eng, uint64_t key);
/* Reads/writes a region with a bounds check; ST_OK or ST_ERR_LOCAL. */
int st_region_read(st_engine *eng, struct st_region *r, uint64_t off, void *dst, size_t len);
int st_region_write(st_engine *eng, struct st_region *r, uint64_t off, const void *src, size_t len);

/* ---- module state kept per VC -------------------------------------------------------
 * Defined here so the core can allocate VCs; each module owns its own struct
 * and alone reads or writes it.
 */

struct st_rkey_entry; /* st_mem.c */

struct st_mem_vc {
	struct st_idmap rkeys_by_key;     /* rkey -> st_rkey_entry (st_mem.c) */
	struct st_rkey_entry *rkeys;      /* list of cached/pending peer regions */
	struct st_idmap exposed;          /* our Mx exposed to this VC: mx -> struct st_region */
	struct st_req_queue put_wait;     /* our PUTs waiting for room on the wire */
	uint32_t puts_active;             /* our PUTs sent and not yet answered */
	uint32_t active_put_trackers;     /* the peer's PUTs being placed */
	uint32_t fetchops_kept;           /* FETCHOP results kept for the peer's repeats */
};

struct st_su_vc {
	struct st_req_queue posted_recv;   /* st_post_recv, in order */
	struct st_req_queue posted_source; /* st_post_source, in order */
	struct st_req_queue held_rts;      /* RTS waiting for a posted recv */
	struct st_req_queue held_rtr;      /* RTR waiting for a posted source */
	struct st_req_queue early;         /* RTS/RTR waiting for the peer's previous one */
	uint32_t last_rts_id, last_rtr_id; /* our previous RTS/RTR on the wire (back-links) */
	uint32_t last_b_seq;               /* for Request_State_Response */
	uint32_t b_seq_id;                 /* our id of the transfer last_b_seq follows */
};

struct st_vc {
	uint16_t port;
	enum st_vc_state state;
	uint8_t peer[ST_ULA_LEN];
	uint16_t peer_port;
	uint32_t local_key, peer_key;
	uint32_t local_uport, peer_uport;
	uint16_t ethertype;
	uint8_t peer_bufsize_log2, peer_max_stu_log2;
	bool initiator;          /* we sent Request_Connection */
	uint64_t user_ctx;       /* st_connect's */

	uint16_t peer_slots;     /* granted to us */
	uint16_t slots_in_use;
	uint16_t our_grant;      /* we grant the peer */
	uint16_t peer_slots_active; /* peer requests holding our slots */

	uint32_t next_id;        /* next wire id for our requests */
	struct st_idwin peer_win;
	struct st_idmap local;   /* our id -> req */
	struct st_idmap remote;  /* peer id -> responder req */
	struct st_req *reqs;     /* every request on this VC */
	struct st_req_queue slot_wait;
	struct st_recent recent[ST_RECENT];
	unsigned recent_next;

	struct st_timer timer;   /* connect / accept / disconnect / time-wait */
	unsigned tries;
	bool dying;              /* being torn down: grant no more slots */

	struct st_mem_vc mem;
	struct st_su_vc su;
	struct st_counters ctr;
};

/* ---- the engine ------------------------------------------------------------------- */

struct st_listener {
	struct st_listener *next;
	uint32_t uport;
	struct st_listen_params p;
};

struct st_engine {
	struct st_config cfg;
	struct st_lower_ops lower;

	struct st_vc **vcs;          /* indexed by local port, [0] unused */
	uint32_t vcs_cap;            /* cfg.max_vcs + 1 */
	uint32_t vc_count;
	uint16_t port_hint;

	struct st_region **regions;  /* indexed by mx, [0] unused */
	uint32_t regions_cap;
	struct st_idmap region_keys; /* key -> struct st_region */
	uint32_t region_count;
	uint16_t mx_hint;

	struct st_listener *listeners;

	struct st_event *evq;        /* ring */
	size_t ev_head, ev_len, ev_cap;

	struct st_timer **heap;
	size_t heap_len, heap_cap;

	uint64_t rng;                /* key generator state (xorshift) */
	uint8_t *scratch;            /* one STU of payload */
	size_t scratch_len;

	struct st_counters ctr;
};

/* ---- services ------------------------------------------------------------------------ */

uint64_t st_now(const st_engine *eng);
void st_emit(st_engine *eng, const struct st_event *ev);
/* Largest STU we may send to the peer of vc (its Max_STU, our data VC, and our scratch). */
uint64_t st_vc_stu_max(const st_engine *eng, const struct st_vc *vc);
/* Fills a header with the VC's addressing (D_Port, S_Port, D_Key) and op. */
void st_hdr_for_vc(const struct st_vc *vc, struct st_hdr *h, unsigned op);
/* Encodes h, counts it (on vc when not NULL, and globally) and passes it to dst. */
int st_send_to(st_engine *eng, struct st_vc *vc, const uint8_t dst[ST_ULA_LEN], struct st_hdr *h,
	       const struct iovec *payload, unsigned iovcnt);
/*
 * Encodes h, counts it and passes it down to vc's peer.  Data operations go on the data
 * VC, everything else on VC0.  Returns the lower layer's result.
 */
int st_send_hdr(st_engine *eng, struct st_vc *vc, struct st_hdr *h,
		const struct iovec *payload, unsigned iovcnt);
/* Request_Answer + Reject (reason) to the peer for its request peer_id. */
void st_send_reject(st_engine *eng, struct st_vc *vc, uint32_t peer_id, unsigned op_rejected,
		    enum st_reject_reason reason);
/* Remembers a final answer for peer_id and re-sends it on request. */
void st_recent_add(struct st_vc *vc, uint32_t peer_id, const struct st_hdr *ans);
bool st_recent_resend(st_engine *eng, struct st_vc *vc, uint32_t peer_id);

void st_count_drop(st_engine *eng, struct st_vc *vc, enum st_drop_reason why);
void st_count_retransmit(st_engine *eng, struct st_vc *vc);
void st_count_bytes_sent(st_engine *eng, struct st_vc *vc, uint64_t n);
void st_count_bytes_received(st_engine *eng, struct st_vc *vc, uint64_t n);

struct st_vc *st_vc_get(const st_engine *eng, uint16_t port);
/* Only an OPEN VC accepts new upper-layer requests: the VC or NULL with *err set. */
struct st_vc *st_vc_open(st_engine *eng, uint16_t port, int *err);
/* Frees a VC whose requests are all gone; emits nothing. */
void st_vc_destroy(st_engine *eng, struct st_vc *vc);
/* A fresh non-zero 32-bit key. */
uint32_t st_new_key(st_engine *eng);
/* Tears vc down at once: every request finishes (the culprit with status, the
 * rest ST_ERR_FLUSHED), ST_EV_CLOSED(status), VC freed.  No wire traffic. */
void st_vc_fail(st_engine *eng, struct st_vc *vc, int status);

/* Log2 sizes from the wire are exponents; this turns one into bytes safely. */
static inline uint64_t st_pow2(unsigned n) { return n < 64 ? (uint64_t)1 << n : 0; }

/* ---- module entry points (called by st_input.c and the core) ------------------------ */

/* st_conn.c */
void st_conn_on_request(st_engine *eng, const uint8_t src[ST_ULA_LEN], const struct st_hdr *h);
void st_conn_on_answer(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_conn_on_disconnect_op(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);

/* st_ctrl.c */
void st_ctrl_on_state_request(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_ctrl_on_state_response(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_ctrl_send_state(st_engine *eng, struct st_vc *vc, uint32_t answer_to);
void st_ctrl_on_end(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_ctrl_on_end_ack(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);

/* st_mem.c */
void st_mem_vc_init(struct st_vc *vc);
void st_mem_vc_release(st_engine *eng, struct st_vc *vc);
void st_mem_on_rmr(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_mem_on_get(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		   const uint8_t *payload, size_t len);
void st_mem_on_put(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		   const uint8_t *payload, size_t len);
/* End with B_id = Mx: the peer releases our region; true if it was exposed. */
bool st_mem_release_exposure(st_engine *eng, struct st_vc *vc, uint16_t mx);
/* Forget the cached peer region (st_region_release). */
void st_mem_forget_rkey(st_engine *eng, struct st_vc *vc, uint64_t rkey);
/* The Mx the peer gave us for rkey, or 0 if not cached. */
uint16_t st_mem_cached_rmx(const struct st_vc *vc, uint64_t rkey);

/* st_single.c */
void st_su_vc_init(struct st_vc *vc);
void st_su_vc_release(st_engine *eng, struct st_vc *vc);
void st_su_on_rts(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
void st_su_on_rtr(st_engine *eng, struct st_vc *vc, const struct st_hdr *h);
/* Highest Block received in order for the latest incoming transfer (Request_State_Response). */
uint32_t st_su_b_seq(const struct st_vc *vc);

#endif /* ST_INT_H */
