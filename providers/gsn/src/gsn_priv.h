/* SPDX-License-Identifier: MIT */
/*
 * libgsn internals: the private halves of the public objects, the ring
 * views and their C11-atomic accessors, and the functions the source files
 * share.  C only (stdatomic).
 *
 * Locking order: context lock (commands, object lists, async events) ->
 * CQ lock (polling, the CQ's list of receive QPs) -> QP send / receive
 * lock (posting).  The hot paths (post, poll) never take the context lock.
 */
#ifndef GSN_PRIV_H
#define GSN_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "ctl.h"
#include "libgsn.h"
#include "log.h"

#define COMP "libgsn"

#define GSN_RUNDIR_MAX 256
#define GSN_SOCK_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define GSN_VERSION_MAX 32
#define GSN_RING_LOG2_MAX 24u      /* 16 M entries: anything larger is a gsnd bug */
#define GSN_ASYNC_QUEUE_MAX 4096u  /* async events kept unread */
#define GSN_CMD_TIMEOUT_MS 30000   /* default wait for a command's answer */
#define GSN_PROBE_TIMEOUT_MS 2000  /* HELLO while listing devices */
#define GSN_AUTOSTART_TIMEOUT_MS 10000
#define GSN_AUTOSTART_ULA "02:00:00:00:00:01"
#define GSN_DEFAULT_DEVICE "gsn0"
/*
 * gsn_poll_cq() calls sched_yield() after this many empty polls in a row.
 * The "NIC" is gsnd, a process: an application spinning on its CQ on a
 * machine with few cores otherwise keeps it off the CPU for whole
 * scheduler slices (milliseconds per message).  Costs one system call per
 * this many idle polls.
 */
#define GSN_POLL_YIELD_EVERY 64u

#define gsn_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- intrusive lists ---- */

struct gsn_list {
	struct gsn_list *prev, *next;
};

static inline void gsn_list_init(struct gsn_list *h)
{
	h->prev = h->next = h;
}

static inline bool gsn_list_empty(const struct gsn_list *h)
{
	return h->next == h;
}

static inline void gsn_list_add(struct gsn_list *h, struct gsn_list *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void gsn_list_del(struct gsn_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* ---- objects ---- */

struct gsn_device {
	char name[GSN_DEV_NAME_MAX];
	char rundir[GSN_RUNDIR_MAX];
	char path[GSN_SOCK_PATH_MAX];
	char version[GSN_VERSION_MAX];
};

struct gsn_ctx {
	struct gsn_context pub;
	pthread_mutex_t lock; /* commands, lists, event queue */
	struct gsn_ctl_conn *conn;
	struct gsn_log log;
	char name[GSN_DEV_NAME_MAX];
	char version[GSN_VERSION_MAX];
	char log_prefix[GSN_DEV_NAME_MAX + 16];
	struct gsn_dev_open_resp open;
	int cmd_timeout_ms;
	pid_t gsnd_pid;
	int event_fd; /* eventfd: readable while the event queue is not empty */
	bool dead;    /* the control connection is gone */
	struct gsn_async_event *events; /* ring of GSN_ASYNC_QUEUE_MAX */
	unsigned ev_head, ev_count;
	uint64_t ev_dropped;
	struct gsn_list pds, mrs, channels, cqs, qps;
};

struct gsn_pd_priv {
	struct gsn_pd pub;
	struct gsn_list node;
	unsigned users; /* MRs and QPs (context lock) */
};

struct gsn_mr_priv {
	struct gsn_mr pub;
	struct gsn_list node;
};

struct gsn_channel_priv {
	struct gsn_comp_channel pub;
	struct gsn_list node;
};

/*
 * A view of one ring in shared memory.  idx is this side's free-running
 * index: the next entry to write (producer) or to read (consumer); only
 * this side writes its index in the header, so idx is its truth.
 */
struct gsn_qring {
	struct gsn_ring *hdr;
	uint8_t *entries;
	uint32_t size, mask, entry_size;
	uint32_t idx;
};

struct gsn_qp_priv;

struct gsn_cq_priv {
	struct gsn_cq pub;
	struct gsn_list node;
	pthread_mutex_t lock; /* polling, arming, rqps */
	struct gsn_qring ring;
	void *map;
	size_t map_len;
	int efd;        /* gsnd's eventfd: completion events */
	unsigned users; /* QPs using it (context lock) */
	struct gsn_list sqps, rqps;  /* QPs whose send_cq / recv_cq this is (lock) */
	struct gsn_qp_priv *last_sqp, *last_rqp; /* lookup caches (lock) */
	atomic_uint events_got, events_acked;
	unsigned empty_polls; /* in a row (lock) */
	bool broken;
};

/* A posted send as libgsn remembers it, to know which completion frees it. */
struct gsn_sq_shadow {
	uint64_t wr_id;
	bool signaled;
};

/* A posted receive as libgsn remembers it, for GSN_WC_F_INLINE payloads. */
struct gsn_rq_shadow {
	uint32_t num_sge;
	struct gsn_sge sge[GSN_MAX_SGE];
};

struct gsn_qp_priv {
	struct gsn_qp pub;
	struct gsn_list node;     /* context's list */
	struct gsn_list scq_node; /* send CQ's list */
	struct gsn_list rcq_node; /* recv CQ's list */
	pthread_mutex_t sq_lock, rq_lock;
	struct gsn_qring sq, rq;
	void *map;
	size_t map_len;
	int db_fd; /* doorbell eventfd (both rings) */
	struct gsn_qp_cap cap;
	int sq_sig_all;
	uint64_t max_msg;
	atomic_int state;
	uint32_t timeout_ms, retry_cnt; /* as last set (QUERY_QP lacks them) */
	uint32_t dest_ipv4;
	/*
	 * Work requests hold their slot until their completion is polled (as
	 * in verbs, so a CQ as large as the queues feeding it cannot
	 * overflow): the shadows remember what was posted, the done indices
	 * are advanced by the CQs' pollers.
	 */
	struct gsn_sq_shadow *sshadow; /* sq.size entries, slot = index & mask */
	struct gsn_rq_shadow *shadow;  /* rq.size entries */
	atomic_uint sq_done;           /* sends completed (send CQ's poller) */
	atomic_uint rq_done;           /* receives completed (recv CQ's poller) */
};

static inline struct gsn_ctx *to_ctx(struct gsn_context *c)
{
	return gsn_container_of(c, struct gsn_ctx, pub);
}
static inline struct gsn_pd_priv *to_pd(struct gsn_pd *p)
{
	return gsn_container_of(p, struct gsn_pd_priv, pub);
}
static inline struct gsn_mr_priv *to_mr(struct gsn_mr *m)
{
	return gsn_container_of(m, struct gsn_mr_priv, pub);
}
static inline struct gsn_channel_priv *to_channel(struct gsn_comp_channel *c)
{
	return gsn_container_of(c, struct gsn_channel_priv, pub);
}
static inline struct gsn_cq_priv *to_cq(struct gsn_cq *c)
{
	return gsn_container_of(c, struct gsn_cq_priv, pub);
}
static inline struct gsn_qp_priv *to_qp(struct gsn_qp *q)
{
	return gsn_container_of(q, struct gsn_qp_priv, pub);
}

/* ---- ring accessors: the ABI's protocol, C11 atomics on the shared header ---- */

_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "atomic u32 layout");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics across processes");

static inline _Atomic uint32_t *gsn_atomic32(uint32_t *p)
{
	return (_Atomic uint32_t *)p;
}

static inline uint32_t gsn_load_acquire(uint32_t *p)
{
	return atomic_load_explicit(gsn_atomic32(p), memory_order_acquire);
}

static inline void gsn_store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit(gsn_atomic32(p), v, memory_order_release);
}

static inline void *gsn_qring_slot(const struct gsn_qring *r, uint32_t idx)
{
	return r->entries + (size_t)(idx & r->mask) * r->entry_size;
}

/*
 * Producer: makes every entry written so far visible (release), then —
 * after a full fence, so that the store of producer is ordered before the
 * load of flags (the consumer does the mirror image: set NEED_WAKEUP, fence,
 * re-check producer) — takes NEED_WAKEUP if the consumer set it.  Returns
 * true when the caller must write the doorbell.
 */
static inline bool gsn_qring_publish(struct gsn_qring *r)
{
	gsn_store_release(&r->hdr->producer, r->idx);
	atomic_thread_fence(memory_order_seq_cst);
	if (!(atomic_load_explicit(gsn_atomic32(&r->hdr->flags), memory_order_relaxed) &
	      GSN_RING_F_NEED_WAKEUP))
		return false;
	uint32_t old = atomic_fetch_and_explicit(gsn_atomic32(&r->hdr->flags),
						 ~GSN_RING_F_NEED_WAKEUP, memory_order_seq_cst);

	return (old & GSN_RING_F_NEED_WAKEUP) != 0;
}

/*
 * Checks a ring header gsnd laid out in [base, base + region) against what
 * the command answer said, and sets up the view.  -EPROTO if it does not
 * fit (gsnd misbehaved).
 */
int gsn_qring_init(struct gsn_qring *r, void *base, size_t region, uint32_t log2_size,
		   uint32_t entry_size, bool producer);

/* ---- device.c ---- */

/*
 * One command: request, then exactly resp_len bytes of answer and exactly
 * nfds fds (else -EPROTO, fds closed).  Returns 0, gsnd's -errno, or a
 * transport error (-ECONNRESET when gsnd is gone: the context is dead
 * from then on).  The caller holds ctx->lock.
 */
/* False once gsnd has gone (checks the control connection without blocking). */
bool gsn_ctx_alive(struct gsn_ctx *ctx);
int gsn_cmd(struct gsn_ctx *ctx, uint16_t type, const void *req, size_t req_len, void *resp,
	    size_t resp_len, int *fds, size_t nfds);
/* True for errors that mean the connection, not the object, failed. */
bool gsn_conn_lost(int err);
int gsn_env_int(const char *name, int def);

/* ---- autostart.c ---- */

/*
 * Asks the element behind rundir/name.sock who it is: 0 if an endpoint
 * answers (version copied out when not NULL), -ENODEV for a switch,
 * else the connection's error.
 */
int gsn_probe(const char *rundir, const char *name, char *version, size_t vlen);
/*
 * Starts a private gsnd named name in rundir unless one answers already,
 * and waits until it is ready.  0 or -errno.
 */
int gsn_autostart(const char *rundir, const char *name, const struct gsn_log *log);

/* ---- cq.c / qp.c (used by device.c when the context closes) ---- */

void gsn_cq_free_local(struct gsn_cq_priv *cq);
void gsn_qp_free_local(struct gsn_qp_priv *qp);

#endif /* GSN_PRIV_H */
