/* SPDX-License-Identifier: MIT */
/*
 * gsn_fi_ep.h — the endpoint and data path of the gsn libfabric provider:
 * fi_ep.c, fi_cm.c, fi_proto.c, fi_match.c, fi_msg.c, fi_tagged.c,
 * fi_rma.c, fi_atomic.c.  The provider-wide objects are in gsn_fi.h;
 * docs/fi-proto.md describes the wire protocol and the data path.
 *
 * An FI_EP_RDM endpoint is a UD QP (its address: the connection manager
 * listens there) plus one RC QP per peer, created on first use.  Every QP
 * of the endpoint completes into two libgsn CQs: gsq (send side) and grq
 * (receive side).  Work request ids are tagged pointers (GSNFI_WRID_*) so
 * one poll loop dispatches every completion.
 *
 * Everything here runs under the domain lock.
 */
#ifndef GSN_FI_EP_H
#define GSN_FI_EP_H

#include "gsn_fi.h"

/* The endpoint's counters, by what they count (fi_ep_bind flags). */
enum gsnfi_cntr_slot {
	GSNFI_CNTR_SEND,
	GSNFI_CNTR_RECV,
	GSNFI_CNTR_READ,
	GSNFI_CNTR_WRITE,
	GSNFI_CNTR_REMOTE_READ,
	GSNFI_CNTR_REMOTE_WRITE,
	GSNFI_CNTR_MAX,
};

/* ---- limits ------------------------------------------------------------------ */

#define GSNFI_MAX_IOV 4     /* iovs per operation = the device's SGEs per WR */
#define GSNFI_OP_MAX_WR 8   /* device work requests one operation may need */
#define GSNFI_HDR_ROOM 64   /* room for the largest protocol header before a payload */
#define GSNFI_UD_QKEY 0x47534e31u
#define GSNFI_CM_DEPTH 64   /* UD receive buffers and UD send queue */
#define GSNFI_CM_BUF 256    /* bytes per UD receive buffer (GSN_UD_HDR_LEN + message) */
#define GSNFI_CM_RETRY_MS 200

/* ---- the protocol over RC (little-endian on the wire; docs/fi-proto.md) ------ */

#define GSNFI_WIRE_VERSION 1

enum gsnfi_wire_op {
	GSNFI_WOP_EAGER = 1,       /* a message with its payload */
	GSNFI_WOP_RTS = 2,         /* rendezvous: read my buffer, then FIN */
	GSNFI_WOP_FIN = 3,         /* the receiver is done with a cookie's message */
	GSNFI_WOP_NOTIFY = 4,      /* an RDMA WRITE/READ happened: remote events */
	GSNFI_WOP_ATOMIC = 5,      /* execute an atomic, answer ATOMIC_RESP */
	GSNFI_WOP_ATOMIC_RESP = 6,
};

/* gsnfi_wire_hdr.flags */
#define GSNFI_WF_TAGGED 0x0001u    /* EAGER/RTS: tagged message */
#define GSNFI_WF_CQ_DATA 0x0002u   /* EAGER/RTS/NOTIFY: data is remote CQ data */
#define GSNFI_WF_ACK 0x0004u       /* EAGER: a cookie follows the header; FIN it when matched */
#define GSNFI_WF_DISCARDED 0x0008u /* FIN: the receiver discarded the message */
#define GSNFI_WF_WRITE 0x0010u     /* NOTIFY: after an RDMA WRITE */
#define GSNFI_WF_READ 0x0020u      /* NOTIFY: after an RDMA READ */

struct gsnfi_wire_hdr {
	uint8_t op;      /* enum gsnfi_wire_op */
	uint8_t version; /* GSNFI_WIRE_VERSION */
	uint16_t flags;  /* GSNFI_WF_* */
	uint32_t reserved;
	uint64_t tag;    /* EAGER/RTS: the tag; FIN, ATOMIC_RESP: status (positive FI_E*) */
	uint64_t data;   /* EAGER/RTS/NOTIFY: CQ data; FIN, ATOMIC, ATOMIC_RESP: cookie */
	uint64_t size;   /* message/transfer bytes; ATOMIC: count; ATOMIC_RESP: result bytes */
};

struct gsnfi_wire_seg {
	uint64_t addr; /* as the device wants it: virtual or an offset (zero-based MR) */
	uint64_t len;
	uint64_t rkey;
};

struct gsnfi_wire_rts {
	struct gsnfi_wire_hdr hdr;
	uint64_t cookie;
	uint32_t nseg; /* 1..GSNFI_MAX_IOV */
	uint32_t reserved;
	struct gsnfi_wire_seg seg[GSNFI_MAX_IOV];
};

struct gsnfi_wire_notify {
	struct gsnfi_wire_hdr hdr;
	uint64_t key; /* the libfabric key the initiator used */
	uint64_t addr;
};

struct gsnfi_wire_atomic {
	struct gsnfi_wire_hdr hdr; /* data: cookie, size: count */
	uint8_t op;                /* enum fi_op */
	uint8_t datatype;          /* enum fi_datatype */
	uint8_t kind;              /* enum gsnfi_atomic_kind */
	uint8_t reserved[5];
	uint64_t addr;
	uint64_t key;
	/* then count operands (none for FI_ATOMIC_READ), then count compares */
};

/* ---- the connection manager's messages over UD (big-endian numbers) ---------- */

#define GSNFI_CM_MAGIC 0x47534e43u /* "GSNC" */
#define GSNFI_CM_VERSION 1

enum gsnfi_cm_type {
	GSNFI_CM_CONNREQ = 1,
	GSNFI_CM_CONNREP = 2,
};

struct gsnfi_cm_msg {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t reserved;
	struct gsnfi_addr src;  /* the sender's endpoint name */
	struct gsnfi_addr dst;  /* whom it is for: a stale incarnation's messages are dropped */
	uint32_t src_rc_qpn;    /* the sender's RC QP for this connection */
	uint32_t dst_rc_qpn;    /* CONNREP: the requester's RC QPN it answers */
	uint32_t conn_id;       /* CONNREQ: the requester's id; CONNREP: echoed */
	uint32_t reserved2;
};

/* ---- work request ids: tagged pointers ---------------------------------------- */

enum gsnfi_wrid_tag {
	GSNFI_WRID_OP = 0,      /* struct gsnfi_op * (send queue of an RC QP) */
	GSNFI_WRID_RXBUF = 1,   /* struct gsnfi_rxbuf * (receive queue of an RC QP) */
	GSNFI_WRID_CM_RECV = 2, /* index << 3: a UD receive buffer */
	GSNFI_WRID_CM_SEND = 3, /* a UD send (nothing to release) */
};
#define GSNFI_WRID_TAG_MASK 7u

/* ---- connections (fi_cm.c) ----------------------------------------------------- */

enum gsnfi_conn_state {
	GSNFI_CONN_CONNECTING, /* our CONNREQ is out; ops wait on the pending list */
	GSNFI_CONN_CONNECTED,  /* RTS both ways as far as we know */
	GSNFI_CONN_CLOSING,    /* in ERROR: waiting for the device to flush its work */
};

struct gsnfi_conn;

/* A receive buffer of a connection (wr_id = this | GSNFI_WRID_RXBUF). */
struct gsnfi_rxbuf {
	struct gsnfi_conn *conn;
	uint8_t *buf;
	struct gsnfi_rxbuf *next; /* conn->held */
};

/* Handled receive buffers go back to the device in batches of at most this. */
#define GSNFI_REPOST_MAX 16

struct gsnfi_op;

struct gsnfi_conn {
	struct gsnfi_ep *ep;
	struct gsnfi_conn *hnext; /* hash chain (open connections) or closing list */
	struct gsnfi_addr peer;
	uint32_t id;              /* local serial: tells connections to one peer apart */
	uint32_t peer_conn_id;    /* the id in the peer's CONNREQ we accepted */
	enum gsnfi_conn_state state;
	int error;                /* positive FI_E* once failed */

	struct gsn_qp *qp;
	uint32_t peer_rc_qpn;
	uint32_t sq_cap, sq_posted;  /* send work requests in the device */
	uint32_t rq_posted;          /* receive buffers in the device */

	/* receive buffers: rx_count slots of ep->rx_slot bytes, one MR */
	uint8_t *rx_mem;
	struct gsn_mr *rx_mr;
	struct gsnfi_rxbuf *rxbufs;
	uint32_t rx_count;
	/* handled buffers not yet reposted: one gsn_post_recv (and at most
	 * one doorbell) per repost_batch messages instead of per message */
	struct gsnfi_rxbuf *held;
	uint32_t nheld, repost_batch;

	/* operations not yet (completely) handed to the device, in order */
	struct gsnfi_op *pend_head, *pend_tail;

	/* connection set-up */
	uint64_t next_retry_ns, deadline_ns;

	/* to our own address: the connection whose QP is this one's peer */
	struct gsnfi_conn *twin;
};

/* ---- operations (fi_proto.c) ------------------------------------------------------ */

enum gsnfi_op_kind {
	GSNFI_OPK_SEND,      /* eager send: one SEND, maybe waiting for a FIN (ack) */
	GSNFI_OPK_RNDV_SEND, /* rendezvous sender: RTS, waits for FIN */
	GSNFI_OPK_RNDV_READ, /* rendezvous receiver: RDMA READs, then FIN */
	GSNFI_OPK_WRITE,     /* fi_write & co: RDMA WRITEs (+ NOTIFY) */
	GSNFI_OPK_READ,      /* fi_read & co: RDMA READs (+ NOTIFY) */
	GSNFI_OPK_ATOMIC,    /* ATOMIC request, waits for ATOMIC_RESP */
	GSNFI_OPK_CTRL,      /* provider-internal message (FIN, ATOMIC_RESP, NOTIFY alone) */
};

/* One device work request, prepared before it can be posted. */
struct gsnfi_wr {
	uint8_t opcode; /* GSN_WR_* */
	uint8_t nsge;
	bool inl;       /* payload: op->inl (inl_len bytes) */
	uint32_t inl_len;
	struct gsn_sge sge[GSNFI_MAX_IOV];
	uint64_t raddr, rkey;
	unsigned flags; /* GSN_SEND_FENCE */
};

/*
 * The registration cache (fi_proto.c): registrations the provider made for
 * buffers the application did not register, kept for reuse.  gsnd does
 * not pin memory (it reaches it with process_vm_readv/writev at each
 * access), so a cached registration of a range that was unmapped and
 * mapped again still moves the right bytes.
 */
#define GSNFI_MRC_SLOTS 64
struct gsnfi_mrc_entry {
	uintptr_t start, end; /* page-aligned */
	unsigned access;      /* GSN_ACCESS_* */
	struct gsn_mr *gmr;   /* NULL: free slot */
	uint32_t refs;        /* ops using it */
	uint64_t last_use;
};

/* A buffer the provider copied data into: a bounce slot, or malloc + registration. */
struct gsnfi_copybuf {
	uint8_t *ptr;
	uint32_t lkey;
	int slot;       /* bounce slot, or -1 */
	struct gsnfi_lbuf lb; /* when slot < 0 and ptr != NULL */
};

struct gsnfi_rx_entry;

struct gsnfi_op {
	struct gsnfi_op *next;              /* conn pending list */
	struct gsnfi_op *all_prev, *all_next; /* ep->ops: every live op */
	struct gsnfi_ep *ep;
	struct gsnfi_conn *conn;
	enum gsnfi_op_kind kind;
	bool user;       /* counts against the tx size */
	bool wait_peer;  /* a FIN or ATOMIC_RESP is still to come */
	int error;       /* first error, positive FI_E* */
	int prov_errno;

	uint64_t flags;    /* operation flags: FI_COMPLETION, FI_INJECT, ... */
	uint64_t cq_flags; /* FI_SEND|FI_MSG, FI_RMA|FI_WRITE, ... */
	enum gsnfi_cntr_slot slot;
	void *context;
	size_t len;
	uint64_t cookie;   /* 0: none */

	struct gsnfi_wr wr[GSNFI_OP_MAX_WR];
	uint8_t nwr, wr_next;   /* prepared, posted so far */
	uint8_t wr_pending;     /* posted and not completed */
	uint8_t inl[GSN_MAX_INLINE];

	struct gsnfi_copybuf copy;
	struct gsnfi_lbuf lbufs[GSNFI_MAX_IOV];
	int8_t mrc_slot[GSNFI_MAX_IOV]; /* lbufs[i] from the cache, or -1 */
	uint8_t nlbuf;
	void *heap;        /* malloc'd data owned by the op (inject copies) */

	/* GSNFI_OPK_RNDV_READ: the receive being filled; FIN to send */
	struct gsnfi_rx_entry *rx;
	uint64_t peer_cookie;
	size_t rx_size;    /* the sender's size (for truncation) */
	uint64_t rx_tag, rx_data;
	uint16_t rx_wflags;
	uint32_t rx_conn_id;
	struct gsnfi_addr rx_src;

	/* GSNFI_OPK_ATOMIC: where the old values go */
	struct iovec result[GSNFI_MAX_IOV];
	uint8_t nresult;
	size_t result_len;
};

/* ---- receive matching (fi_match.c) ---------------------------------------------- */

struct gsnfi_rx_entry {
	struct gsnfi_rx_entry *next;
	void *context;
	uint64_t flags;    /* FI_COMPLETION, FI_CLAIM, FI_DISCARD, ... */
	bool tagged;
	bool any_src;
	struct gsnfi_addr src;
	uint64_t tag, ignore;
	struct iovec iov[GSNFI_MAX_IOV];
	void *desc[GSNFI_MAX_IOV];
	size_t iov_count;
	size_t len;        /* sum of the iovs */
};

/* What arrived: a message's header, parsed and checked. */
struct gsnfi_msg_in {
	bool tagged, rndv;
	uint16_t wflags;
	uint64_t tag, data, size;
	struct gsnfi_addr src;
	uint32_t conn_id;
	/* eager */
	const uint8_t *payload;
	bool ack;
	uint64_t cookie;   /* ack cookie or rendezvous cookie */
	/* rendezvous */
	uint32_t nseg;
	struct gsnfi_wire_seg seg[GSNFI_MAX_IOV];
};

struct gsnfi_unexp {
	struct gsnfi_unexp *next;
	struct gsnfi_msg_in m; /* m.payload points to data (eager) */
	void *data;            /* malloc'd eager payload */
	bool claimed;
	void *claim_context;
};

struct gsnfi_rx_queue {
	struct gsnfi_rx_entry *head, *tail;
	size_t count;
};
struct gsnfi_unexp_queue {
	struct gsnfi_unexp *head, *tail;
	size_t count;
};

/* ---- the endpoint (fi_ep.c) -------------------------------------------------------- */

struct gsnfi_ep_stats {
	uint64_t cm_drops;    /* malformed, stale or unexpected CM datagrams */
	uint64_t rx_drops;    /* malformed protocol messages */
	uint64_t conns_opened, conns_failed;
	uint64_t unexpected;  /* messages that arrived before their receive */
};

struct gsnfi_ep {
	struct fid_ep ep_fid;
	struct gsnfi_domain *domain;
	struct fi_info *info; /* fi_dupinfo of the info it was opened with */
	uint64_t caps;
	uint64_t tx_op_flags, rx_op_flags;
	bool enabled;
	bool dead;            /* the device failed under us: nothing works any more */

	struct gsnfi_av *av;
	struct gsnfi_cq *tx_cq, *rx_cq;
	uint64_t tx_cq_flags, rx_cq_flags; /* FI_SELECTIVE_COMPLETION */
	struct gsnfi_cntr *cntrs[GSNFI_CNTR_MAX];
	struct fid_eq *eq;

	/* limits */
	size_t tx_size, rx_size;   /* user operations outstanding, posted receives */
	size_t eager_size;
	size_t inject_size;
	size_t max_msg_size;
	uint32_t max_inline;
	size_t rx_slot;            /* bytes per receive buffer: GSNFI_HDR_ROOM + eager */
	uint32_t rx_depth, tx_depth;

	/* device resources, created at fi_enable */
	struct gsn_cq *gsq; /* send completions of every QP of the endpoint */
	struct gsn_cq *grq; /* receive completions */
	uint32_t gsq_free, grq_free; /* CQ entries not promised to posted work */
	/* send work requests of the RC QPs in the device: with cm_sq_posted,
	 * whether gsq can hold anything (progress polls it only then) */
	uint32_t rc_sq_posted;
	struct gsn_qp *ud_qp;
	struct gsnfi_addr addr;

	/* connection manager (fi_cm.c) */
	struct gsnfi_conn **conn_hash; /* open connections, by (ula, ud_qpn) */
	size_t conn_count, conn_buckets;
	struct gsnfi_conn *closing;    /* failed connections, until flushed */
	struct gsnfi_conn *self_conn;  /* the receiving half of a connection to ourselves */
	size_t connecting;             /* connections waiting for CONNREP */
	uint32_t next_conn_id;
	uint8_t *cm_bufs;              /* UD receive buffers */
	struct gsn_mr *cm_mr;
	uint32_t cm_sq_posted;
	bool sq_starved;               /* an op waits for gsq room */

	/* receive matching */
	struct gsnfi_rx_queue msg_rx, tag_rx;
	struct gsnfi_unexp_queue msg_unexp, tag_unexp;
	struct gsnfi_rx_entry *rx_cache; /* freed entries for reuse */
	size_t rx_cache_count;

	/* eager bounce buffers for sends, registered once */
	uint8_t *bounce;
	struct gsn_mr *bounce_mr;
	size_t bounce_count;
	int *bounce_free;     /* stack of free slots */
	size_t bounce_nfree;

	/* registrations of application buffers, for reuse */
	struct gsnfi_mrc_entry mrc[GSNFI_MRC_SLOTS];
	uint64_t mrc_clock;
	uint64_t mrc_hits, mrc_misses;

	/* operations */
	struct gsnfi_op *ops;        /* every live op */
	struct gsnfi_op *op_cache;   /* freed ops for reuse */
	size_t op_cache_count;
	size_t tx_inflight;          /* user ops */
	struct gsnfi_op **cookies;   /* ops waiting for a peer, by cookie index */
	size_t cookie_cap;
	uint32_t cookie_gen;

	struct gsnfi_ep_stats stats;
};

/* ---- fi_ep.c ---------------------------------------------------------------------- */

/* Completion helpers used by the data path: report to the ep's CQ (honouring
 * FI_SELECTIVE_COMPLETION and FI_COMPLETION; injects never report) and bump
 * the counter. */
void gsnfi_ep_tx_done_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			     uint64_t cq_flags, enum gsnfi_cntr_slot slot, size_t len, void *buf);
void gsnfi_ep_tx_error_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			      uint64_t cq_flags, enum gsnfi_cntr_slot slot, int err, int prov_errno);
void gsnfi_ep_rx_done_locked(struct gsnfi_ep *ep, uint64_t op_flags, void *context,
			     uint64_t cq_flags, size_t len, void *buf, uint64_t data, uint64_t tag,
			     const struct gsnfi_addr *src);
void gsnfi_ep_rx_error_locked(struct gsnfi_ep *ep, void *context, uint64_t cq_flags, int err,
			      int prov_errno, size_t len, void *buf, uint64_t data, uint64_t tag,
			      size_t olen);
/* A counter bump without a completion (remote events). */
void gsnfi_ep_cntr_inc_locked(struct gsnfi_ep *ep, enum gsnfi_cntr_slot slot);
/* fi_addr -> address; NULL when not in the AV. */
const struct gsnfi_addr *gsnfi_ep_peer_locked(struct gsnfi_ep *ep, fi_addr_t fi_addr);
/* Checks before a data-path call: enabled, not dead.  0 or -FI_E*. */
int gsnfi_ep_check_locked(struct gsnfi_ep *ep);

static inline struct gsnfi_ep *gsnfi_ep_of(struct fid_ep *ep_fid)
{
	return GSNFI_CONTAINER_OF(ep_fid, struct gsnfi_ep, ep_fid);
}

/* gsn_wc status -> positive FI_E* */
int gsnfi_wc_status_err(enum gsn_wc_status status);

/* ---- fi_cm.c ------------------------------------------------------------------------ */

int gsnfi_cm_enable_locked(struct gsnfi_ep *ep);   /* UD QP, buffers */
void gsnfi_cm_close_locked(struct gsnfi_ep *ep);   /* every connection, the UD QP */
/* The open (connecting or connected) connection to a peer, created (and its
 * CONNREQ sent) when there is none.  NULL with *err on failure. */
struct gsnfi_conn *gsnfi_cm_get_conn_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer,
					    int *err);
/* The open connection to an address; NULL when there is none. */
struct gsnfi_conn *gsnfi_cm_find_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer);
/* The connected connection a message with this source and connection id
 * came in on (to answer on it); NULL when it is gone. */
struct gsnfi_conn *gsnfi_cm_find_conn_locked(struct gsnfi_ep *ep, const struct gsnfi_addr *peer,
					     uint32_t conn_id);
void gsnfi_cm_recv_locked(struct gsnfi_ep *ep, uint32_t index, const struct gsn_wc *wc);
void gsnfi_cm_timers_locked(struct gsnfi_ep *ep);
/* A connection failed: ERROR state, fail its pending/waiting ops with err. */
void gsnfi_conn_fail_locked(struct gsnfi_conn *conn, int err);
/* Free closing connections the device has flushed. */
void gsnfi_cm_reap_locked(struct gsnfi_ep *ep);
/* Gives a handled receive buffer back to the device (batched: see
 * gsnfi_conn.held). */
void gsnfi_conn_repost_locked(struct gsnfi_conn *conn, struct gsnfi_rxbuf *rb);
/* Calls fn for every open connection (and ep->self_conn); fn may fail it. */
void gsnfi_cm_foreach_locked(struct gsnfi_ep *ep, void (*fn)(struct gsnfi_conn *));
int gsnfi_addr_cmp(const struct gsnfi_addr *a, const struct gsnfi_addr *b);
bool gsnfi_addr_eq(const struct gsnfi_addr *a, const struct gsnfi_addr *b);

/* ---- fi_proto.c ---------------------------------------------------------------------- */

struct gsnfi_op *gsnfi_op_alloc_locked(struct gsnfi_ep *ep, enum gsnfi_op_kind kind, bool user);
/* Releases an op that was never submitted (or is finished). */
void gsnfi_op_free_locked(struct gsnfi_op *op);
/* Queues the op's work requests on the connection and posts what fits. */
void gsnfi_op_submit_locked(struct gsnfi_conn *conn, struct gsnfi_op *op);
/* Posts what waits on the pending list, as far as the queues allow. */
void gsnfi_conn_kick_locked(struct gsnfi_conn *conn);
/* Fails an op that will see no more device completions (it leaves every list). */
void gsnfi_op_fail_locked(struct gsnfi_op *op, int err, int prov_errno);
int gsnfi_op_cookie_locked(struct gsnfi_op *op);
/* The peer's answer (FIN, ATOMIC_RESP) arrived: finish the op if it is done. */
void gsnfi_op_answered_locked(struct gsnfi_op *op);
/* Copy buffers (bounce slot when it fits, else malloc + registration). */
int gsnfi_copybuf_get_locked(struct gsnfi_ep *ep, size_t len, struct gsnfi_copybuf *cb);
void gsnfi_copybuf_put_locked(struct gsnfi_ep *ep, struct gsnfi_copybuf *cb);
/* Registered local pieces for iovs: desc's MR when it covers them with
 * gsn_access, else the registration cache, else a temporary registration. */
int gsnfi_op_map_iov_locked(struct gsnfi_op *op, const struct iovec *iov, void **desc,
			    size_t count, unsigned gsn_access, struct gsn_sge *sge, size_t *nsge);
/* Splits (local pieces) x (remote segments) into RDMA work requests on op. */
int gsnfi_op_plan_rdma(struct gsnfi_op *op, uint8_t opcode, const struct gsn_sge *local,
		       size_t nlocal, const struct gsnfi_wire_seg *remote, size_t nremote,
		       size_t total);
/* Prepares a SEND of hdr (hdr_len) + payload pieces on op: inline when it fits. */
int gsnfi_op_prep_send_locked(struct gsnfi_op *op, const void *hdr, size_t hdr_len,
			      const struct iovec *payload, size_t npayload, size_t payload_len);
/* A provider-internal message (FIN, NOTIFY, ATOMIC_RESP) on the connection. */
int gsnfi_send_ctrl_locked(struct gsnfi_conn *conn, const void *msg, size_t len,
			   const void *extra, size_t extra_len);
void gsnfi_fill_hdr(struct gsnfi_wire_hdr *h, uint8_t op, uint16_t flags, uint64_t tag,
		    uint64_t data, uint64_t size);
/* Waits for a bounded resource: one progress pass, then the caller retries. */
void gsnfi_ep_progress_once_locked(struct gsnfi_ep *ep);
/* Fails every op of the endpoint (fi_close). */
void gsnfi_proto_close_locked(struct gsnfi_ep *ep);
int gsnfi_proto_enable_locked(struct gsnfi_ep *ep);

/* Sends: fi_msg.c and fi_tagged.c call this. */
struct gsnfi_send_args {
	const struct iovec *iov;
	void **desc;
	size_t count;
	fi_addr_t addr;
	void *context;
	uint64_t data;
	uint64_t tag;
	uint64_t flags;
	bool tagged;
};
ssize_t gsnfi_send_locked(struct gsnfi_ep *ep, const struct gsnfi_send_args *a);
ssize_t gsnfi_send(struct fid_ep *ep_fid, const struct gsnfi_send_args *a);
/* Starts the RDMA READs of a matched rendezvous into rx (consumes rx). */
void gsnfi_rndv_start_locked(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			     const struct gsnfi_msg_in *m);
/* Answers a message the receiver is done with (ack or rendezvous FIN). */
void gsnfi_send_fin_locked(struct gsnfi_ep *ep, const struct gsnfi_msg_in *m, uint64_t delivered,
			   bool discarded);

/* ---- fi_match.c ------------------------------------------------------------------------ */

/* A message arrived (eager payload in m->payload, valid during the call). */
void gsnfi_match_incoming_locked(struct gsnfi_ep *ep, const struct gsnfi_msg_in *m);
struct gsnfi_recv_args {
	const struct iovec *iov;
	void **desc;
	size_t count;
	fi_addr_t addr;
	void *context;
	uint64_t tag, ignore;
	uint64_t flags;
	bool tagged;
};
ssize_t gsnfi_recv(struct fid_ep *ep_fid, const struct gsnfi_recv_args *a);
/* fi_cancel of a posted receive: 0, or -FI_ENOENT. */
int gsnfi_match_cancel_locked(struct gsnfi_ep *ep, void *context);
/* Completes a receive with data placed (eager copy or rendezvous done). */
void gsnfi_rx_complete_locked(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx,
			      const struct gsnfi_msg_in *m, size_t placed, int err, int prov_errno);
/* Returns rx to the endpoint's cache of entries (or frees it). */
void gsnfi_rx_entry_free(struct gsnfi_ep *ep, struct gsnfi_rx_entry *rx);
void gsnfi_match_close_locked(struct gsnfi_ep *ep);
/* Frees the cached entries: last, after every op holding one is gone. */
void gsnfi_rx_cache_clear(struct gsnfi_ep *ep);

/* ---- fi_rma.c / fi_atomic.c: target side ------------------------------------------------ */

void gsnfi_rma_notify_locked(struct gsnfi_ep *ep, const struct gsnfi_wire_notify *n);
void gsnfi_atomic_target_locked(struct gsnfi_conn *conn, const struct gsnfi_wire_atomic *req,
				const uint8_t *payload, size_t payload_len);
void gsnfi_atomic_resp_locked(struct gsnfi_op *op, int status, const uint8_t *result,
			      size_t len);

/* Data-path ops tables (fi_msg.c, fi_tagged.c, fi_rma.c, fi_atomic.c). */
extern struct fi_ops_msg gsnfi_msg_ops;
extern struct fi_ops_tagged gsnfi_tagged_ops;
extern struct fi_ops_rma gsnfi_rma_ops;
extern struct fi_ops_atomic gsnfi_atomic_ops;

#endif /* GSN_FI_EP_H */
