/* SPDX-License-Identifier: MIT */
/*
 * gsnd's device server (docs/device.md): the NIC side of the device ABI
 * (kernel-uapi/gsn/dev_abi.h).  Clients of the control socket open the
 * device and create PDs, MRs, CQs and QPs; gsnd executes their work with
 * the Scheduled Transfer engine (libst) and places data straight into the
 * target process's registered memory with process_vm_readv/writev.
 *
 *	dev.c       the device: the libst engine and its lower layer (Messages
 *	            with EtherType 0x8181, a FIFO per GSN VC), the event pump,
 *	            VC <-> QP mapping, progress, spin and sleep, private mode
 *	dev_ctl.c   the command handlers and the per-client contexts
 *	dev_mr.c    MRs, their st regions, the temporary regions of work
 *	            requests, and DMA (every access checked)
 *	dev_cq.c    CQ rings (memfd), eventfds, notification
 *	dev_qp.c    QP rings, doorbells, need-wakeup, states, connections
 *	dev_exec.c  send work -> ST operations, completions in order, errors
 *	dev_recv.c  receive work, receive completions, immediate data
 *	dev_ud.c    UD queue pairs: datagrams (EtherType 0x88B6) out and in
 *	dev_loop.c  the loopback port (--cable 0=loopback)
 *
 * Handles given to libst are integers: a QP is known to ST events by its
 * uid (user_ctx = uid << 32 | sequence), never by a pointer, so an event
 * that arrives after its QP or work request is gone is simply dropped.
 */
#ifndef GSND_DEV_H
#define GSND_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gsn/dev_abi.h>
#include <gsn/ud_wire.h>
#include <st/st.h>

#include "element.h"

#define DEV_COMP "dev"

/* ---- limits (also what OPEN answers) ---- */
#define DEV_MAX_VCS 4096u          /* ST VCs of the engine */
#define DEV_MAX_PD 256u            /* per client */
#define DEV_MAX_MR 16384u
#define DEV_MAX_CQ 1024u
#define DEV_MAX_QP 1024u
#define DEV_MAX_QP_WR 4096u
#define DEV_MAX_CQE 65536u
#define DEV_MAX_MSG_LOG2 31u
#define DEV_MAX_MSG (1ull << DEV_MAX_MSG_LOG2)
#define DEV_MAX_MR_SIZE (1ull << 47)
#define DEV_QPN_MAX 0xFFFFFFu      /* QP numbers are 24-bit, as in verbs */
#define DEV_QPN_FIRST 0x10u

/* ---- the ST engine ---- */
#define DEV_BUFSIZE_LOG2 17u       /* regions up to 2^49 bytes */
#define DEV_MAX_STU_LOG2 17u       /* 128 KiB STUs: fit VC1's 131200-byte Messages */
#define DEV_BLOCK_LOG2 20u
#define DEV_PUT_CHUNK (1ull << 20) /* RDMA WRITE: one PUT per MiB */
#define DEV_GET_CHUNK 65535ull     /* RDMA READ: GET's T_len is 16 bits */
#define DEV_CHUNKS_INFLIGHT 16u    /* per work request */
#define DEV_TXQ_HIGH (8u << 20)    /* queued bytes above which no new work starts */
#define DEV_TXQ_MAX (256u << 20)   /* queued bytes above which operations are lost */
#define DEV_RKEY_CACHE 16u         /* remote region bases kept per QP */
#define DEV_PENDING_IMM 256u       /* immediates waiting for a receive, per QP */
#define DEV_UD_VC 1u               /* datagrams travel on VC1 (4100 micropackets) */
#define DEV_UD_BATCH 256u          /* UD send WQEs taken per QP and pump round */

/* ---- time ---- */
#define DEV_SPIN_US_DEFAULT 50u
#define DEV_PRIVATE_GRACE_MS_DEFAULT 2000u
#define DEV_PRIVATE_FIRST_MS 30000u /* a private gsnd nobody ever opened */
#define DEV_CONNECT_RETRY_MIN_NS (10ull * GSND_NS_PER_MS)
#define DEV_CONNECT_RETRY_MAX_NS (500ull * GSND_NS_PER_MS)
#define DEV_RESOLVE_POLL_NS (20ull * GSND_NS_PER_MS)
#define DEV_RESOLVE_TIMEOUT_NS (5000ull * GSND_NS_PER_MS)
#define DEV_TIMEOUT_MS_DEFAULT 1000u /* QP timeout (connect budget) when none given */
#define DEV_RETRY_DEFAULT 3u

/*
 * Region keys gsnd keeps for itself: the top 16 bits all ones.  REG_MR
 * refuses a requested_key there, and a work request naming one as its
 * rkey fails without reaching the wire.
 */
#define DEV_KEY_RESERVED 0xFFFF000000000000ull
#define DEV_KEY_ZSEND 0xFFFFFFFFFFFFFF01ull     /* zero-length SEND */
#define DEV_KEY_ZSEND_IMM 0xFFFFFFFFFFFFFF02ull /* zero-length SEND with immediate */
#define DEV_KEY_ZWIMM 0xFFFFFFFFFFFFFF03ull     /* zero-length RDMA WRITE with immediate */
#define DEV_KEY_ZLEN 0xFFFFFFFFFFFFFF04ull      /* length of the next WRITE with immediate */
#define DEV_KEY_ZSRC 0xFFFFFFFFFFFFFF05ull      /* (local) the byte the above send */
#define DEV_KEY_NONE 0xFFFFFFFFFFFFFF06ull      /* never registered: "no such region" */
#define DEV_SINKS 4u
#define DEV_SINK_LEN 8u

static inline bool dev_key_reserved(uint64_t key)
{
	return (key & DEV_KEY_RESERVED) == DEV_KEY_RESERVED;
}

/*
 * user_ctx of libst requests: the QP's uid in the upper half, then a bit
 * for receives (so st_abort of a receive can never name a send request)
 * and 31 bits of the request's sequence number.
 */
#define DEV_CTX_RECV 0x80000000u

static inline uint64_t dev_ctx(uint32_t uid, uint32_t seq, bool recv)
{
	return (uint64_t)uid << 32 | (recv ? DEV_CTX_RECV : 0u) | (seq & ~DEV_CTX_RECV);
}

static inline uint32_t dev_ctx_seq(uint64_t ctx)
{
	return (uint32_t)ctx & ~DEV_CTX_RECV;
}

/* ---- memory the engine reaches (region cookies) ---- */

enum dev_mem_kind {
	DEV_MEM_MR = 1, /* a client's MR with remote access */
	DEV_MEM_SGL,    /* a work request's SGEs */
	DEV_MEM_BUF,    /* bytes gsnd holds (inline data) */
	DEV_MEM_SINK,   /* gsnd's zero-length-message targets: writes vanish */
};

struct dev_mem {
	enum dev_mem_kind kind;
};

struct gsnd_dev;
struct dev_client;

/* A handle table: handle = generation << 16 | (index + 1). */
struct dev_tab {
	void **obj;
	uint16_t *gen;
	uint32_t cap, n, max;
};

struct dev_pd {
	struct dev_client *cl;
	uint32_t handle;
	uint32_t users; /* MRs and QPs */
};

struct dev_mr {
	struct dev_mem mem; /* first: the st region's cookie */
	struct dev_client *cl;
	struct dev_pd *pd;
	uint32_t handle;    /* also the lkey */
	uint32_t access;    /* GSN_ACCESS_* */
	uint64_t rkey, addr, len;
	uint64_t ekey;      /* the st region's key: unique in the engine (rkeys are per client) */
	uint16_t mx;        /* st region (every MR has one) */
	uint32_t refs;      /* work requests using it locally */
	bool dead;          /* deregistered while still referenced */
};

struct dev_sge {
	uint64_t addr, len;
	struct dev_mr *mr; /* referenced */
};

/*
 * The local buffer of a work request: a temporary st region without remote
 * access whose cookie this is.  DEV_MEM_SGL gathers/scatters over sge[];
 * DEV_MEM_BUF holds buf[] (inline data).  A receive shorter than one byte
 * gets a one-byte region whose byte is a sink (libst needs length >= 1).
 */
struct dev_sgl {
	struct dev_mem mem;
	struct dev_sgl *next; /* the device's zombie list */
	struct gsnd_dev *dev;
	pid_t pid;
	bool write;           /* a sink: every MR was checked for LOCAL_WRITE */
	bool dead;            /* released: every access fails */
	unsigned n;
	struct dev_sge sge[GSN_MAX_SGE];
	uint64_t total;       /* bytes described */
	uint64_t region_len;  /* >= 1 */
	uint16_t mx;          /* 0 until registered */
	uint8_t buf[GSN_MAX_INLINE];
};

struct dev_cq {
	struct dev_client *cl;
	uint32_t handle;
	void *map;
	size_t map_len;
	struct gsn_ring *ring;
	uint8_t *ents;
	uint32_t log2, prod;
	int efd;
	uint32_t users;       /* QPs */
	bool overflowed;      /* CQ_ERR sent, not yet drained */
	uint64_t cqes, overflows, notifies;
};

/* Our view of one ring of a QP: we consume, the client produces. */
struct dev_ring {
	struct gsn_ring *h;
	uint8_t *ents;
	uint32_t size, mask, esz;
	uint32_t idx; /* our consumer index (free-running) */
};

enum dev_op_state { OP_FREE = 0, OP_QUEUED, OP_ACTIVE, OP_DONE };

/* A send-queue work request gsnd copied out of the ring. */
struct dev_op {
	uint32_t seq;
	enum dev_op_state state;
	struct gsn_send_wqe w;  /* the copy: validated, never re-read from the ring */
	struct dev_sgl *sgl;    /* local buffer, or NULL */
	uint64_t total;         /* payload bytes */
	uint64_t issued, placed; /* bytes handed to libst / completed */
	uint64_t roff;          /* remote offset (region-relative) */
	uint32_t inflight;      /* libst operations not yet completed */
	uint8_t status;         /* GSN_WC_*: the first error */
	uint32_t vendor;
	bool prepared;          /* local buffer built and registered */
	bool has_roff;          /* roff is known */
	bool issued_all;        /* nothing more to hand to libst */
	bool zlen_done;         /* WRITE_WITH_IMM > 1 chunk: its length went ahead */
	uint8_t cls;            /* DEV_OPC_* bits counted in the QP */
};

#define DEV_OPC_RC_SEND 0x1u  /* consumes a receive through RTS/CTS */
#define DEV_OPC_RC_PUT 0x2u   /* consumes a receive through a PUT with notify */
#define DEV_OPC_WRITE 0x4u    /* writes the peer's memory */
#define DEV_OPC_READ 0x8u     /* RDMA READ or atomic */

enum dev_rcv_state { RCV_FREE = 0, RCV_POSTED, RCV_DONE };

struct dev_recv {
	uint32_t seq;
	enum dev_rcv_state state;
	uint64_t wr_id;
	struct dev_sgl *sgl;
	uint8_t status, opcode;
	uint16_t flags;
	uint32_t byte_len, imm, vendor;
};

/* A receive-consuming arrival waiting for a receive WQE. */
struct dev_imm {
	uint8_t opcode;
	uint16_t flags;
	uint32_t byte_len, imm;
};

enum dev_conn {
	CONN_NONE = 0,
	CONN_RESOLVING, /* RTR asked for by IPv4: HARP first */
	CONN_LISTEN,    /* the higher end: waiting for the peer's Request_Connection */
	CONN_CONNECTING,/* the lower end: Request_Connection out */
	CONN_RETRY,     /* the lower end: refused or timed out, trying again later */
	CONN_UP,
	CONN_CLOSED,
};

struct dev_rk {
	uint64_t rkey, base, len;
	bool used, ready;
};

struct dev_qp {
	struct dev_qp *next; /* the device's list */
	struct gsnd_dev *dev;
	struct dev_client *cl;
	struct dev_pd *pd;
	struct dev_cq *scq, *rcq;
	uint32_t handle, qpn, uid;
	uint32_t type;       /* enum gsn_qp_type */
	uint32_t qkey;       /* UD */
	uint32_t state;      /* enum gsn_qp_state */
	uint32_t access;     /* GSN_ACCESS_REMOTE_* allowed */
	uint32_t max_send_sge, max_recv_sge, max_inline;
	bool sig_all;
	bool has_dest;
	uint8_t dest_ula[GSN_ULA_LEN];
	uint32_t dest_ipv4, dest_qpn;
	uint32_t timeout_ms, retry_cnt;
	/* shared memory */
	void *map;
	size_t map_len;
	int dbfd;
	struct dev_ring sq, rq;
	/* the connection */
	enum dev_conn conn;
	uint16_t vc;
	bool listening;
	unsigned connect_tries;
	uint64_t retry_at;      /* next connect attempt (0: none) */
	uint64_t budget_at;     /* send work waits for the VC until then (0: none) */
	uint64_t resolve_at;    /* next HARP poll (0: none) */
	struct gsn_timer timer; /* the three above */
	bool modify_pending;    /* MODIFY_QP to RTR answered once HARP resolved */
	struct gsnd_reply modify_reply;
	uint64_t resolve_deadline;
	/* send work */
	struct dev_op *ops;     /* [sq.size] by seq & sq.mask */
	uint32_t op_head, op_issue, op_tail;
	uint32_t n_rc_send, n_rc_put, n_write, n_read; /* DEV_OPC_* not yet done */
	bool stop_issue;        /* an op failed: nothing more starts */
	bool rk_wait;           /* a region request for the head op is out */
	struct dev_rk rk[DEV_RKEY_CACHE];
	unsigned rk_next;
	/* receive work */
	struct dev_recv *rcv;   /* [rq.size] by seq & rq.mask */
	uint32_t rcv_head, rcv_tail;
	bool rq_stop;           /* a bad receive WQE: nothing more is posted */
	struct dev_imm imm[DEV_PENDING_IMM];
	uint32_t imm_head, imm_tail;
	bool has_imm_len;
	uint32_t imm_len;
	bool fatal_sent;
	uint64_t wqes, recvs;
};

/* A client's rkeys -> its MRs: open addressing, linear probing. */
struct dev_keymap {
	struct dev_mr **slot; /* NULL: free; DEV_KEYMAP_GONE: deleted */
	uint32_t cap;         /* a power of two, or 0 */
	uint32_t n, used;     /* live entries; live + deleted */
};

struct dev_client {
	struct dev_client *next;
	struct gsnd_dev *dev;
	uint64_t id; /* the control client's */
	pid_t pid;
	struct dev_tab pds, mrs, cqs, qps;
	struct dev_keymap keys; /* rkeys are this client's own name space */
};

struct dev_txmsg {
	struct dev_txmsg *next;
	uint8_t dst[GSN_ULA_LEN];
	uint16_t ethertype;
	size_t len;
	uint8_t data[];
};

struct dev_txq {
	struct dev_txmsg *head, *tail;
	size_t bytes;
};

struct dev_stats {
	uint64_t st_sent, st_queued, st_send_errors, st_received, st_input_drops;
	uint64_t events, wqes, recvs, cqes, cq_overflows, wc_errors, flushed;
	uint64_t dma_errors, access_denied, connects, accepts, refusals, vc_closed;
	uint64_t clients_total;
	/* UD: datagrams handed to the link, lost on the way out, delivered, dropped on arrival */
	uint64_t ud_sent, ud_send_errors, ud_received;
	uint64_t ud_drop_malformed, ud_drop_no_qp, ud_drop_state, ud_drop_qkey;
	uint64_t ud_drop_no_recv, ud_drop_short, ud_drop_bad_recv;
};

struct gsnd_dev {
	struct gsnd *d;
	st_engine *eng;
	int deadline_id;
	struct dev_client *clients;
	unsigned nclients;
	struct dev_qp *qps;
	unsigned nqps;
	struct dev_qp *vc_qp[DEV_MAX_VCS + 1];
	uint32_t next_qpn, next_uid;
	uint64_t next_temp_key;
	uint64_t next_ekey;     /* engine keys of MRs */
	uint8_t *ud_buf;        /* a datagram being built: wire header + payload */
	struct dev_txq txq[GSN_VC_COUNT];
	size_t txq_bytes;
	/* the incoming operation being handed to libst (remote access checks) */
	struct dev_qp *in_qp;
	uint32_t in_need;
	struct dev_sgl *zombies;
	struct dev_mem sink;
	struct dev_sgl zsrc;
	uint16_t sink_mx[DEV_SINKS];
	/* progress */
	uint64_t spin_ns, spin_until;
	bool sleeping;
	bool in_progress, again;
	int port_state;
	/* --private */
	struct gsn_timer private_timer;
	struct dev_stats st;
};

/* ---- dev.c ---- */
struct gsnd_dev *dev_of(const struct gsnd *d);
uint64_t dev_now(const struct gsnd_dev *dev);
/* Everything that can move: events, rings, completions; until quiet. */
void dev_progress(struct gsnd_dev *dev);
/* Drains the engine's events. */
void dev_events(struct gsnd_dev *dev);
/* Work arrived (doorbell, completion): keep polling the rings for a while. */
void dev_activity(struct gsnd_dev *dev);
void dev_vc_bind(struct gsnd_dev *dev, uint16_t vc, struct dev_qp *qp);
void dev_vc_unbind(struct gsnd_dev *dev, uint16_t vc, const struct dev_qp *qp);
struct dev_qp *dev_vc_qp(const struct gsnd_dev *dev, uint16_t vc);
/* The QP an event's user_ctx names on vc (uid in the upper half), or NULL. */
struct dev_qp *dev_ctx_qp(const struct gsnd_dev *dev, uint16_t vc, uint64_t user_ctx);
void dev_async(struct gsnd_dev *dev, const struct dev_client *cl, uint32_t type,
	       uint32_t handle);
bool dev_tx_backlogged(const struct gsnd_dev *dev);
/*
 * One Message to dst on vc: to msg at once, or into the FIFO behind what
 * waits there.  0 (handed over), 1 (queued), -errno (lost).
 */
int dev_tx(struct gsnd_dev *dev, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
	   uint16_t ethertype, const struct iovec *iov, unsigned n);
int dev_tab_add(struct dev_tab *t, void *obj, uint32_t *handle);
void *dev_tab_get(const struct dev_tab *t, uint32_t handle);
void dev_tab_del(struct dev_tab *t, uint32_t handle);
void dev_tab_free(struct dev_tab *t);
/* A client opened the device / went away (private mode counts them). */
void dev_client_opened(struct gsnd_dev *dev);
void dev_client_closed(struct gsnd_dev *dev);

/* ---- dev_ctl.c ---- */
void dev_client_free(struct dev_client *cl);

/* ---- dev_mr.c ---- */
int dev_mr_reg(struct dev_client *cl, const struct gsn_dev_reg_mr_req *req,
	       struct gsn_dev_reg_mr_resp *resp);
int dev_mr_dereg(struct dev_client *cl, uint32_t handle);
void dev_mr_free_all(struct dev_client *cl);
/* The client's MR with rkey, or NULL. */
struct dev_mr *dev_mr_by_rkey(const struct dev_client *cl, uint64_t rkey);
/*
 * The engine key an incoming Request_Memory_Region naming rkey resolves to:
 * rkeys name the MRs of the client whose QP the VC belongs to (qp), gsnd's
 * reserved keys name gsnd's own regions, anything else no region.
 */
uint64_t dev_rkey_resolve(const struct dev_qp *qp, uint64_t rkey);
/*
 * Builds the local buffer of n SGEs: each lkey an MR of the QP's client and
 * PD, the range inside it, LOCAL_WRITE for a sink.  GSN_WC_SUCCESS with
 * *out, else the completion status (LOC_PROT_ERR, LOC_LEN_ERR).
 */
uint8_t dev_sgl_build(struct dev_qp *qp, const struct gsn_sge *sge, unsigned n, bool write,
		      struct dev_sgl **out);
struct dev_sgl *dev_buf_new(struct dev_qp *qp, const uint8_t *data, uint32_t len);
/* Registers the temporary region (key in the reserved space, no remote access). */
int dev_sgl_register(struct gsnd_dev *dev, struct dev_sgl *s);
/* Deregisters and frees (or parks it while libst still uses it). */
void dev_sgl_release(struct gsnd_dev *dev, struct dev_sgl *s);
void dev_zombies_reap(struct gsnd_dev *dev, bool all);
/* The first len bytes of a work request's SGEs, read / written (0 or -errno). */
int dev_sgl_gather(struct gsnd_dev *dev, struct dev_sgl *s, void *dst, size_t len);
int dev_sgl_scatter(struct gsnd_dev *dev, struct dev_sgl *s, const struct iovec *src,
		    unsigned n);
int dev_mem_read(void *ctx, void *cookie, uint64_t off, void *dst, size_t len);
int dev_mem_write(void *ctx, void *cookie, uint64_t off, const void *src, size_t len);
int dev_regions_init(struct gsnd_dev *dev);

/* ---- dev_cq.c ---- */
size_t dev_page_round(size_t len);
uint32_t dev_log2_at_least(uint32_t n);
/* A sealed (no shrink, no grow) memfd of len bytes, mapped here. */
int dev_shm_create(const char *name, size_t len, int *fd, void **map);
void dev_ring_init(struct gsn_ring *h, uint32_t log2, uint32_t esz);
int dev_cq_create(struct dev_client *cl, const struct gsn_dev_create_cq_req *req,
		  struct gsn_dev_create_cq_resp *resp, int *memfd);
void dev_cq_free(struct dev_cq *cq);
/* Produces one CQE (false: the ring was full and it was lost). */
bool dev_cq_push(struct dev_cq *cq, const struct gsn_cqe *e, bool solicited);

/* ---- dev_qp.c ---- */
int dev_qp_create(struct dev_client *cl, const struct gsn_dev_create_qp_req *req,
		  struct gsn_dev_create_qp_resp *resp, int *memfd);
void dev_qp_free(struct dev_qp *qp);
/* 0 (answered), or 1 (answered later: HARP), or -errno. */
int dev_qp_modify(struct dev_qp *qp, const struct gsn_dev_modify_qp_req *req,
		  const struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h);
void dev_qp_query(const struct dev_qp *qp, struct gsn_dev_qp_attr *a);
/* The QP goes to ERROR: its VC closes, its work is flushed. */
void dev_qp_error(struct dev_qp *qp, bool fatal);
bool dev_ring_pending(const struct dev_ring *r);
/* need-wakeup: set on every ring, then true if work came meanwhile. */
bool dev_qp_sleep(struct dev_qp *qp);
void dev_qp_wake(struct dev_qp *qp);
/* libst's connection events. */
void dev_qp_ev_request(struct gsnd_dev *dev, const struct st_event *ev);
void dev_qp_ev_connected(struct gsnd_dev *dev, const struct st_event *ev);
void dev_qp_ev_refused(struct gsnd_dev *dev, const struct st_event *ev);
void dev_qp_ev_closed(struct gsnd_dev *dev, const struct st_event *ev);
/* Asks for the VC again if the QP waits for one and work is posted. */
void dev_qp_connect_check(struct dev_qp *qp);
struct dev_qp *dev_qp_by_qpn(const struct gsnd_dev *dev, uint32_t qpn);

/* ---- dev_exec.c ---- */
/* Copies, starts and retires send work; true if anything happened. */
bool dev_exec_pump(struct dev_qp *qp);
void dev_exec_ev_complete(struct gsnd_dev *dev, const struct st_event *ev);
void dev_exec_ev_region(struct gsnd_dev *dev, const struct st_event *ev);
/* True if the send ring has work the pump would take now. */
bool dev_exec_wants(const struct dev_qp *qp);
/* The oldest send request fails with status and the QP goes to ERROR. */
void dev_exec_fail(struct dev_qp *qp, uint8_t status);
/* ERROR: every op (and every WQE still in the ring) completes WR_FLUSH_ERR. */
bool dev_exec_flush(struct dev_qp *qp);
/* RESET / destroy: ops dropped without completions. */
void dev_exec_drop(struct dev_qp *qp);
uint8_t dev_wc_status(int st_status, int reason, bool receiver);
void dev_complete(struct dev_qp *qp, bool recv, const struct gsn_cqe *e, bool solicited);

/* ---- dev_recv.c ---- */
bool dev_recv_pump(struct dev_qp *qp);
bool dev_recv_wants(const struct dev_qp *qp);
void dev_recv_ev_complete(struct gsnd_dev *dev, const struct st_event *ev);
void dev_recv_ev_placed(struct gsnd_dev *dev, const struct st_event *ev);
bool dev_recv_flush(struct dev_qp *qp);
void dev_recv_drop(struct dev_qp *qp);

/* ---- dev_ud.c ---- */
/* Sends the UD QP's posted datagrams; true if anything happened. */
bool dev_ud_send_pump(struct dev_qp *qp);
bool dev_ud_send_wants(const struct dev_qp *qp);
void dev_ud_stats(const struct gsnd_dev *dev, char *buf, size_t cap, size_t *off);

#endif /* GSND_DEV_H */
