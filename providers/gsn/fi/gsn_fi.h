/* SPDX-License-Identifier: MIT */
/*
 * gsn_fi.h — private header of the libfabric provider "gsn" (libgsn-fi.so).
 *
 * The provider is an FI_EP_RDM provider on libgsn (the verbs-style driver of
 * the gsn device).  It is the single truth for the provider's objects and
 * the internal calls between its files; docs/fi.md explains the design and
 * fi_gsn(7) is the user's manual.
 *
 * Ownership: this header covers the provider-wide objects (fabric, domain,
 * MR, CQ, counter, EQ, AV); gsn_fi_ep.h covers the endpoint and its data
 * path.
 *
 * Files (one per libfabric object, as in prov/tcp):
 *   fi_init.c     fi_prov_ini, struct fi_provider, parameters, logging
 *   fi_attr.c     the attribute set we serve
 *   fi_getinfo.c  hint matching
 *   fi_fabric.c   fabric; fi_domain.c domain and its progress thread
 *   fi_av.c fi_cq.c fi_cntr.c fi_eq.c fi_mr.c   the objects of their name
 *   fi_ep.c       endpoint object: bind, enable, getname, cancel, options
 *   fi_cm.c       connection manager: RC QP per peer, set up over a UD QP
 *   fi_proto.c    the provider's wire protocol over the RC QPs (eager,
 *                 rendezvous, notifications, software atomics) and the
 *                 progress engine (polling libgsn CQs)
 *   fi_msg.c fi_tagged.c fi_rma.c fi_atomic.c   the data-path ops tables
 *   fi_match.c    receive matching (posted and unexpected queues)
 *
 * Concurrency: one lock per domain (domain->lock, recursive) serialises
 * every provider object of the domain, which makes FI_THREAD_SAFE hold.
 * Every entry point takes it; internal functions named *_locked expect it
 * held.  Progress runs under it, from application calls (fi_cq_read,
 * fi_cntr_read/wait, posting calls that find a resource exhausted) and
 * from the domain's progress thread (FI_PROGRESS_AUTO), which sleeps on
 * libgsn's completion channel while the application does not poll.  EQs
 * belong to the fabric and have a lock of their own.
 */
#ifndef GSN_FI_H
#define GSN_FI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>
#include <rdma/providers/fi_log.h>
#include <rdma/providers/fi_prov.h>

#include <libgsn.h>

#define GSNFI_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define GSNFI_PROV_NAME "gsn"
#define GSNFI_FABRIC_NAME "gsn"
#define GSNFI_MAJOR 0
#define GSNFI_MINOR 1
#define GSNFI_PROV_VERSION FI_VERSION(GSNFI_MAJOR, GSNFI_MINOR)
#define GSNFI_FI_VERSION FI_VERSION(1, 17)

/* The provider object: writable static storage (the core writes context). */
extern struct fi_provider gsnfi_prov;

#define GSNFI_WARN(subsys, ...) FI_WARN(&gsnfi_prov, subsys, __VA_ARGS__)
#define GSNFI_INFO(subsys, ...) FI_INFO(&gsnfi_prov, subsys, __VA_ARGS__)
#define GSNFI_DBG(subsys, ...) FI_DBG(&gsnfi_prov, subsys, __VA_ARGS__)

/* ---- parameters (fi_param_define in fi_init.c; FI_GSN_<NAME>) ------------ */

struct gsnfi_params {
	size_t eager_size;     /* FI_GSN_EAGER_SIZE: largest eager message (default 8192) */
	size_t rx_depth;       /* FI_GSN_RX_DEPTH: eager buffers posted per peer (default 64) */
	size_t tx_depth;       /* FI_GSN_TX_DEPTH: send-queue depth per peer (default 256) */
	size_t cq_size;        /* FI_GSN_CQ_SIZE: default fi_cq size (default 1024) */
	int progress_thread;   /* FI_GSN_PROGRESS_THREAD: 1 (default): auto progress thread */
	int conn_timeout_ms;   /* FI_GSN_CONN_TIMEOUT_MS: connection set-up (default 10000) */
	char *device;          /* FI_GSN_DEVICE: libgsn device name (default: first) */
};
/* Read once in fi_prov_ini; owned by the provider. */
extern struct gsnfi_params gsnfi_params;

/* ---- the attribute set (fi_attr.c) --------------------------------------- */

extern const struct fi_info gsnfi_info_template; /* filled by fi_attr.c */

/* Limits of the attribute set that other files enforce (fi_attr.c). */
#define GSNFI_INJECT_SIZE 4096     /* capped by FI_GSN_EAGER_SIZE */
#define GSNFI_MAX_MSG_SIZE (1ul << 30)
#define GSNFI_IOV_LIMIT 4          /* GSN_MAX_SGE */
#define GSNFI_RMA_IOV_LIMIT 1
#define GSNFI_MR_IOV_LIMIT 1
#define GSNFI_CQ_DATA_SIZE 8
#define GSNFI_MR_KEY_SIZE 8
#define GSNFI_QUEUE_SIZE 1024      /* tx_attr->size, rx_attr->size */
/* Secondary capabilities: returned only when asked for (or with no caps hint). */
#define GSNFI_SECONDARY_CAPS (FI_SOURCE | FI_RMA_EVENT)
/* The inject size in effect: GSNFI_INJECT_SIZE, at most the eager size. */
size_t gsnfi_inject_size(void);
/* The device name getinfo reports: FI_GSN_DEVICE, else GSN_DEVICE, else "gsn0". */
const char *gsnfi_default_device(void);
/* Builds the fi_info list for fi_getinfo (fi_getinfo.c). */
int gsnfi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
		  const struct fi_info *hints, struct fi_info **info);

/* ---- addresses ----------------------------------------------------------- */

/*
 * An endpoint's name (fi_getname, AV entries): where its gsn device is and
 * the UD QP its connection manager listens on.  16 bytes, network order
 * for the numbers; addr_format FI_FORMAT_UNSPEC.
 * Text form (fi_av_straddr): "gsn://02:00:00:00:00:01/qpn/nonce" (hex).
 */
struct gsnfi_addr {
	uint8_t ula[6];
	uint16_t reserved; /* 0 */
	uint32_t ud_qpn;   /* big-endian */
	uint32_t nonce;    /* big-endian: tells two incarnations apart */
};
#define GSNFI_ADDR_STRLEN 64
int gsnfi_addr_to_str(const struct gsnfi_addr *a, char *buf, size_t *len);
int gsnfi_addr_from_str(const char *s, struct gsnfi_addr *a);
/* A well-formed address (the reserved field is 0). */
static inline bool gsnfi_addr_valid(const struct gsnfi_addr *a) { return a->reserved == 0; }

/* ---- fabric / domain ------------------------------------------------------ */

struct gsnfi_fabric {
	struct fid_fabric fabric_fid; /* fabric_fid.api_version: set by the core */
	pthread_mutex_t lock;         /* refs */
	int refs;                     /* domains, eqs */
};

/* struct fi_provider's fabric call (fi_fabric.c). */
int gsnfi_fabric_open(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context);
void gsnfi_fabric_hold(struct gsnfi_fabric *f);
void gsnfi_fabric_release(struct gsnfi_fabric *f);

struct gsnfi_mr;
struct gsnfi_ep;

struct gsnfi_domain {
	struct fid_domain domain_fid;
	struct gsnfi_fabric *fabric;
	pthread_mutex_t lock; /* recursive; see the top of this file */
	/*
	 * Every object opened on the domain (ep, cq, av, cntr, mr) holds one
	 * reference from its open to its close (lock held); fi_close of the
	 * domain is -FI_EBUSY while any remains.
	 */
	int refs;
	char *name;            /* the device's name, domain_attr->name */
	uint32_t api_version;  /* the fabric's (the application's) API version */

	struct gsn_context *ctx; /* one libgsn context per domain */
	struct gsn_pd *pd;
	struct gsn_comp_channel *chan; /* every libgsn CQ of the domain */
	struct gsn_device_attr dev_attr;
	struct gsn_port_attr port_attr;

	/*
	 * FI_MR_* in effect, in the 1.5 bit form: FI_MR_BASIC is turned into
	 * VIRT_ADDR|PROV_KEY|ALLOCATED and FI_MR_SCALABLE into 0 at open.
	 */
	uint64_t mr_mode;
	enum fi_threading threading;
	enum fi_progress data_progress;
	uint64_t caps;

	/* MRs sorted by their provider key (the key fi_mr_key returns) */
	struct gsnfi_mr **mr_table;
	size_t mr_count, mr_cap;
	uint64_t next_prov_key; /* keys of zero-length MRs (no libgsn MR behind) */

	/* endpoints (for progress) */
	struct gsnfi_ep **eps;
	size_t ep_count, ep_cap;

	/* the progress thread (FI_PROGRESS_AUTO), see fi_domain.c */
	pthread_t progress_thread;
	bool progress_running;
	int wake_fd;   /* eventfd: stops the thread (stopping set) or makes it arm now */
	bool stopping; /* __atomic: the thread is to end */
	/*
	 * __atomic, relaxed.  app_active: set by the application's polling
	 * and posting calls (gsnfi_domain_note_app), taken by the thread at
	 * each tick.  ticking: the thread sleeps in short ticks with the CQs
	 * unarmed, because the application polls.  progress_passes: counts
	 * gsnfi_domain_progress_locked (written under the lock).
	 */
	bool app_active;
	bool ticking;
	uint64_t progress_passes;
};

static inline struct gsnfi_domain *gsnfi_domain_of(struct fid_domain *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_domain, domain_fid);
}

/* Key translation: provider keys <-> libgsn rkeys (see docs/fi.md). */
uint64_t gsnfi_rkey_of_key(const struct gsnfi_domain *d, uint64_t key);

int gsnfi_domain_open(struct fid_fabric *fabric, struct fi_info *info,
		      struct fid_domain **domain, void *context);
void gsnfi_domain_add_ep_locked(struct gsnfi_domain *d, struct gsnfi_ep *ep);
void gsnfi_domain_del_ep_locked(struct gsnfi_domain *d, struct gsnfi_ep *ep);
/* One progress pass over every endpoint of the domain (lock held). */
void gsnfi_domain_progress_locked(struct gsnfi_domain *d);
/* Takes the lock, progresses, releases. */
void gsnfi_domain_progress(struct gsnfi_domain *d);
/*
 * The progress thread (fi_domain.c).  While the application polls (its
 * polling and posting calls note it with gsnfi_domain_note_app) the thread
 * leaves the libgsn CQs unarmed, so completions cost no events and no
 * wake-ups, and only ticks every millisecond: a progress pass then, if the
 * application's calls made none (posting calls do not progress).  Once a
 * tick finds no call since the last one, it arms every endpoint
 * (gsnfi_ep_arm_locked), progresses, and sleeps in poll() on chan->fd and
 * wake_fd (timeout 100 ms for the CM's timers); on wake it takes and acks
 * the CQ events, progresses, and decides again.
 */
int gsnfi_progress_start(struct gsnfi_domain *d);
void gsnfi_progress_stop(struct gsnfi_domain *d);
/*
 * The application called a polling or posting function (not a blocking
 * wait): the progress thread need not arm the CQs.  One relaxed load (and
 * a store when it was clear) per call.
 */
static inline void gsnfi_domain_note_app(struct gsnfi_domain *d)
{
	if (!__atomic_load_n(&d->app_active, __ATOMIC_RELAXED))
		__atomic_store_n(&d->app_active, true, __ATOMIC_RELAXED);
}
/*
 * A caller is about to block (fi_cq_sread, fi_cntr_wait) or to let the
 * application sleep on a wait object (fi_trywait): the progress thread
 * must arm now rather than at its next tick.  Lock held or not.
 */
void gsnfi_domain_before_block(struct gsnfi_domain *d);
/*
 * For waiters when there is no progress thread (lock NOT held): arms every
 * endpoint, progresses, then sleeps up to timeout_ms (-1: forever) until a
 * device event or extra_fd (-1: none) is readable, and takes the events.
 * The caller progresses and checks its condition afterwards.
 */
void gsnfi_domain_wait(struct gsnfi_domain *d, int extra_fd, int timeout_ms);
/* Milliseconds left until deadline_ns (CLOCK_MONOTONIC), -1 when forever. */
int gsnfi_ms_left(uint64_t deadline_ns, bool forever);
uint64_t gsnfi_now_ns(void);
/* Deadline timeout_ms from now (CLOCK_MONOTONIC); *forever when timeout_ms < 0. */
uint64_t gsnfi_deadline(int timeout_ms, bool *forever);
/* Condition variables on CLOCK_MONOTONIC, and a wait until a deadline. */
int gsnfi_cond_init(pthread_cond_t *cond);
void gsnfi_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *m, uint64_t deadline_ns,
			   bool forever);

/* ---- memory registration (fi_mr.c) ---------------------------------------- */

struct gsnfi_cntr;

struct gsnfi_mr {
	struct fid_mr mr_fid; /* mr_fid.key is the provider key, mr_fid.mem_desc = this */
	struct gsnfi_domain *domain;
	struct gsn_mr *gmr; /* libgsn MR */
	void *addr;
	size_t len;
	uint64_t access; /* FI_SEND|FI_RECV|FI_READ|FI_WRITE|FI_REMOTE_READ|FI_REMOTE_WRITE */
	uint64_t flags;
	struct gsnfi_cntr *rma_cntr; /* fi_mr_bind with FI_REMOTE_WRITE/READ (FI_RMA_EVENT) */
	uint64_t cntr_flags;
};

int gsnfi_mr_reg(struct fid *fid, const void *buf, size_t len, uint64_t access,
		 uint64_t offset, uint64_t requested_key, uint64_t flags,
		 struct fid_mr **mr, void *context);
/*
 * Target side of software operations: the MR with this key covering
 * [addr, addr+len) (addr virtual or an offset, per mr_mode) with access;
 * *local gets the local address.  NULL (and -FI_EACCES/-FI_EINVAL in *err)
 * when there is none.
 */
struct gsnfi_mr *gsnfi_mr_lookup_locked(struct gsnfi_domain *d, uint64_t key, uint64_t addr,
					size_t len, uint64_t access, void **local, int *err);

/*
 * A local buffer made usable by the device for one operation: desc's MR if
 * the application gave one, else a temporary registration (freed by
 * gsnfi_lbuf_release).  Used by rma, atomics and rendezvous.
 */
struct gsnfi_lbuf {
	struct gsn_mr *gmr; /* NULL for a zero-length buffer */
	bool temporary;
	bool zero_based;    /* gmr is zero-based: peers address it by offset */
};
/* The address a peer uses for buf inside lb (for rendezvous reads). */
static inline uint64_t gsnfi_lbuf_raddr(const struct gsnfi_lbuf *lb, const void *buf)
{
	if (lb->zero_based && lb->gmr)
		return (uint64_t)((const char *)buf - (const char *)lb->gmr->addr);
	return (uint64_t)(uintptr_t)buf;
}
int gsnfi_lbuf_get_locked(struct gsnfi_domain *d, void *buf, size_t len, void *desc,
			  unsigned gsn_access, struct gsnfi_lbuf *lb);
void gsnfi_lbuf_release_locked(struct gsnfi_lbuf *lb);

/* ---- completion queues (fi_cq.c) ------------------------------------------ */

struct gsnfi_cq_entry {
	struct fi_cq_tagged_entry e;
	fi_addr_t src;
	bool is_err; /* a placeholder: the error is cq->err_head */
};

struct gsnfi_cq_err {
	struct gsnfi_cq_err *next;
	struct fi_cq_err_entry e;
	void *err_data_copy;
};

struct gsnfi_cq {
	struct fid_cq cq_fid;
	struct gsnfi_domain *domain;
	enum fi_cq_format format;
	enum fi_wait_obj wait_obj;
	enum fi_cq_wait_cond wait_cond; /* FI_CQ_COND_THRESHOLD: sread's cond is a count */
	int refs; /* bound endpoints */
	/* growable ring: never overruns (FI_RM_ENABLED) */
	struct gsnfi_cq_entry *ring;
	size_t head, tail, cap; /* count = tail - head */
	struct gsnfi_cq_err *err_head, *err_tail;
	pthread_cond_t cond; /* fi_cq_sread; signalled on each report */
	/*
	 * eventfd: readable while entries are queued (FI_WAIT_FD, fi_control
	 * FI_GETWAIT) or a waiter without a progress thread sleeps on it, and
	 * after fi_cq_signal.
	 */
	int signal_fd;
	bool fd_armed;       /* signal_fd holds a count (readable) */
	int fd_waiters;      /* sread callers asleep in poll() on signal_fd */
	bool signaled;       /* fi_cq_signal */
	struct fi_cq_err_entry last_err; /* readerr's provider-owned err_data */
	void *last_err_data;
	size_t dropped;      /* reports lost to memory exhaustion */
};

/* Report a completion (lock held).  flags are FI_SEND/FI_RECV/FI_MSG/... */
void gsnfi_cq_report_locked(struct gsnfi_cq *cq, void *op_context, uint64_t flags,
			    size_t len, void *buf, uint64_t data, uint64_t tag, fi_addr_t src);
/* Report an error completion; err is a positive FI_E* code, prov_errno the gsn status. */
void gsnfi_cq_report_error_locked(struct gsnfi_cq *cq, void *op_context, uint64_t flags,
				  int err, int prov_errno, size_t len, void *buf, uint64_t data,
				  uint64_t tag, size_t olen);
int gsnfi_cq_open(struct fid_domain *domain, struct fi_cq_attr *attr, struct fid_cq **cq,
		  void *context);
/* fi_trywait on a CQ / counter / EQ: 0 when the wait object may be waited on. */
int gsnfi_cq_trywait(struct fid *fid);
int gsnfi_cntr_trywait(struct fid *fid);
int gsnfi_eq_trywait(struct fid *fid);

/* ---- counters (fi_cntr.c) -------------------------------------------------- */

struct gsnfi_cntr {
	struct fid_cntr cntr_fid;
	struct gsnfi_domain *domain;
	uint64_t value, err;
	enum fi_wait_obj wait_obj;
	pthread_cond_t cond;
	int signal_fd;  /* eventfd: FI_WAIT_FD, and waits without a progress thread */
	int fd_waiters; /* fi_cntr_wait callers asleep in poll() on signal_fd */
	int refs;       /* bound endpoints and MRs */
};
void gsnfi_cntr_inc_locked(struct gsnfi_cntr *c);
void gsnfi_cntr_err_locked(struct gsnfi_cntr *c);
int gsnfi_cntr_open(struct fid_domain *domain, struct fi_cntr_attr *attr,
		    struct fid_cntr **cntr, void *context);

/* ---- event queues (fi_eq.c) ------------------------------------------------ */

int gsnfi_eq_open(struct fid_fabric *fabric, struct fi_eq_attr *attr, struct fid_eq **eq,
		  void *context);
/*
 * Queue an error entry (what fi_eq_readerr returns) on an EQ of this
 * provider; err is a positive FI_E* code.  Takes the EQ's own lock.
 */
int gsnfi_eq_write_error(struct fid_eq *eq, fid_t fid, void *context, uint64_t data, int err,
			 int prov_errno);
/* One reference per object bound to the EQ (AV, endpoint): close is -FI_EBUSY. */
void gsnfi_eq_hold(struct fid_eq *eq);
void gsnfi_eq_release(struct fid_eq *eq);

/* ---- address vectors (fi_av.c) --------------------------------------------- */

struct gsnfi_av {
	struct fid_av av_fid;
	struct gsnfi_domain *domain;
	enum fi_av_type type;
	uint64_t flags; /* FI_EVENT: every insert is asynchronous */
	int refs;       /* bound endpoints */
	struct fid_eq *eq; /* fi_av_bind */
	/* fi_addr = index into addrs for both types (fi_addr_t is opaque with
	 * FI_AV_MAP); indexes are never reused, as FI_AV_TABLE requires */
	struct gsnfi_addr *addrs;
	bool *used;
	size_t count, cap;
	/* reverse map: open addressing on the address, index + 1 (0: empty) */
	size_t *rev;
	size_t rev_cap; /* a power of two, > 2 * count */
};
/* The address of fi_addr, or NULL when it is not in the AV. */
const struct gsnfi_addr *gsnfi_av_lookup_locked(struct gsnfi_av *av, fi_addr_t fi_addr);
/* The fi_addr of an address (for FI_SOURCE), or FI_ADDR_NOTAVAIL. */
fi_addr_t gsnfi_av_reverse_locked(struct gsnfi_av *av, const struct gsnfi_addr *a);
int gsnfi_av_open(struct fid_domain *domain, struct fi_av_attr *attr, struct fid_av **av,
		  void *context);

/* ---- endpoints: the data path's own header is gsn_fi_ep.h ---------------- */

int gsnfi_ep_open(struct fid_domain *domain, struct fi_info *info, struct fid_ep **ep,
		  void *context);
/* Progress one endpoint: poll its libgsn CQs, run the CM's timers (lock held). */
void gsnfi_ep_progress_locked(struct gsnfi_ep *ep);
/* Arm the endpoint's libgsn CQs on domain->chan before the progress thread sleeps. */
void gsnfi_ep_arm_locked(struct gsnfi_ep *ep);
/*
 * Elements of elem_size bytes one atomic operation of that kind
 * (enum gsnfi_atomic_kind) may carry: what fits one protocol message
 * (fi_atomic.c; fi_query_atomic and fi_atomicvalid both answer with it).
 */
size_t gsnfi_atomic_max_count(size_t elem_size, int kind);

/* ---- shared by every fid (fi_fid.c) ----------------------------------------- */

/* fi_ops slots that no object of the provider implements: -FI_ENOSYS. */
int gsnfi_no_ops_open(struct fid *fid, const char *name, uint64_t flags, void **ops,
		      void *context);
int gsnfi_no_tostr(const struct fid *fid, char *buf, size_t len);
int gsnfi_no_ops_set(struct fid *fid, const char *name, uint64_t flags, void *ops,
		     void *context);
/* fi_control FI_GETWAIT / FI_GETWAITOBJ of an object with a wait object. */
int gsnfi_wait_control(int command, void *arg, enum fi_wait_obj wait_obj, int signal_fd,
		       pthread_mutex_t *mutex, pthread_cond_t *cond);

/* ---- small helpers --------------------------------------------------------- */

static inline void gsnfi_lock(struct gsnfi_domain *d) { pthread_mutex_lock(&d->lock); }
static inline void gsnfi_unlock(struct gsnfi_domain *d) { pthread_mutex_unlock(&d->lock); }

/* -errno from libgsn -> -FI_E* */
int gsnfi_errno(int neg_errno);

#endif /* GSN_FI_H */
