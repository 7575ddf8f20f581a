/* SPDX-License-Identifier: MIT */
/*
 * libgsn — the user-space driver of the gsn device (the emulated GSN /
 * HIPPI-6400 NIC that gsnd is).  This header is its API documentation;
 * libgsn(3) is the same in manual form, docs/device.md the design.
 *
 * The API is verbs-shaped so that the libibverbs provider can map it 1:1
 * (ibv_foo -> gsn_foo) and the libfabric and UCX providers can sit on it:
 *
 *   gsn_get_device_list   gsn_open_device    gsn_query_device  gsn_query_port
 *   gsn_alloc_pd          gsn_reg_mr         gsn_create_comp_channel
 *   gsn_create_cq         gsn_poll_cq        gsn_req_notify_cq
 *   gsn_get_cq_event      gsn_ack_cq_events  gsn_create_qp     gsn_modify_qp
 *   gsn_query_qp          gsn_post_send      gsn_post_recv     gsn_get_async_event
 *
 * Conventions
 *  - Every function that can fail returns 0 (or a count) on success and a
 *    negative errno on failure; objects come back through an out pointer.
 *    No function sets errno as its way of reporting.
 *  - Objects are C structs whose public fields (below) are read-only to
 *    the application; libgsn keeps more state behind them.
 *  - A gsn_context is one connection to gsnd's control socket; every
 *    object created through it lives in gsnd and dies with the connection.
 *    gsn_close_device() frees whatever the application left.
 *  - Remote keys are 64-bit (they are also Scheduled Transfer region keys);
 *    local keys are 32-bit.  imm_data is in host byte order.
 *
 * Thread safety
 *  - Commands (create, destroy, modify, query) on one context are
 *    serialised by one mutex per context: any thread may call them.
 *  - Posting: one mutex per send queue and one per receive queue, so
 *    gsn_post_send() and gsn_post_recv() on one QP may run concurrently
 *    with each other and with themselves.
 *  - Polling: one mutex per CQ (gsn_poll_cq(), gsn_req_notify_cq()).
 *  - An object must not be destroyed while another thread uses it, as in
 *    verbs.
 *
 * Process-wide state (no hidden globals otherwise): on kernels with Yama
 * ptrace_scope 1, opening a device names that gsnd as this process's
 * ptracer (prctl PR_SET_PTRACER) so gsnd can move data with
 * process_vm_readv/writev; with devices of two different gsnd processes
 * open at once, PR_SET_PTRACER_ANY is used.  gsn_get_device_list() may
 * start a private gsnd (see below), which outlives the caller by design.
 *
 * Environment
 *  GSN_RUNDIR        run directory holding the control sockets (default
 *                    $XDG_RUNTIME_DIR/gsn, else /tmp/gsn-$UID)
 *  GSN_DEVICE        the one device (element name) to use, e.g. "gsn0"
 *  GSN_AUTOSTART     "0": never start a private gsnd
 *  GSND              the gsnd program to start
 *  GSN_AUTOSTART_TIMEOUT_MS  how long to wait for it to come up (default 10000)
 *  GSN_CMD_TIMEOUT_MS  how long a command waits for gsnd, ms (default 30000; 0: forever)
 *  GSN_LOG_LEVEL     error|warn|info|debug: libgsn's messages on stderr
 */
#ifndef LIBGSN_H
#define LIBGSN_H

#include <stddef.h>
#include <stdint.h>

#include <gsn/dev_abi.h> /* WQE/CQE layout, opcodes, statuses, access bits */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GSN_API __attribute__((visibility("default")))
#else
#define GSN_API
#endif

/* ======================================================================
 * Devices
 * ====================================================================== */

/*
 * A gsn device is an endpoint gsnd: its control socket
 * <rundir>/<name>.sock.  The list names the endpoints that answer (a
 * switch's socket or a stale one is skipped); with GSN_DEVICE set, only
 * that one.
 *
 * Default set-up: when no endpoint answers (or GSN_DEVICE names one that
 * does not) and GSN_AUTOSTART is not "0", gsn_get_device_list() starts a
 * private gsnd,
 *     gsnd --role endpoint --name NAME --ula 02:00:00:00:00:01
 *          --rundir RUNDIR --cable 0=loopback --private
 * (NAME: GSN_DEVICE or "gsn0"), detached (its own session), its output in
 * RUNDIR/NAME.log, and waits until its link is up.  The program is $GSND,
 * else gsnd next to the running program, else ../sbin/gsnd from it, else
 * the installed sbin directory, else the first gsnd on PATH.  Two
 * processes starting at once start one gsnd (a lock file RUNDIR/NAME.lock,
 * flock).  A private gsnd exits when its last client has gone.
 */
struct gsn_device; /* opaque */

/*
 * *list gets a NULL-terminated array of devices (possibly empty: then
 * -ENODEV is NOT returned; *num is 0).  num may be NULL.  Errors: a failed
 * autostart (-ENOENT: no gsnd program, -ETIMEDOUT: it did not come up),
 * -ENOMEM, run-directory errors (-EPERM, -ENAMETOOLONG).
 */
GSN_API int gsn_get_device_list(struct gsn_device ***list, int *num);
/* Frees the list; open contexts stay valid. */
GSN_API void gsn_free_device_list(struct gsn_device **list);
/* The element name, e.g. "gsn0". */
GSN_API const char *gsn_get_device_name(const struct gsn_device *dev);

/* An open device: one control connection to gsnd. */
struct gsn_context {
	const char *name; /* the device name */
	/*
	 * Readable when gsn_get_async_event() has an event to return; set
	 * O_NONBLOCK on it to make gsn_get_async_event() return -EAGAIN
	 * instead of waiting.
	 */
	int async_fd;
};

/*
 * Connects and sends OPEN with GSN_DEV_ABI_VERSION.  -EPROTO when gsnd
 * speaks another ABI version, -ECONNREFUSED/-ENOENT when it is gone.
 */
GSN_API int gsn_open_device(struct gsn_device *dev, struct gsn_context **ctx);
/*
 * Closes the connection (gsnd frees every object of it) and frees what the
 * application did not destroy: pointers to those objects become invalid.
 */
GSN_API int gsn_close_device(struct gsn_context *ctx);

struct gsn_device_attr {
	char name[GSN_DEV_NAME_MAX]; /* "gsn0" */
	char fw_ver[32];             /* gsnd's version */
	uint64_t node_guid;          /* the ULA in the low 48 bits */
	uint8_t ula[6];              /* Universal LAN Address (IEEE 802 MAC form) */
	uint8_t phys_port_cnt;       /* 1 */
	uint32_t abi_version;
	uint32_t max_qp, max_cq, max_mr, max_pd;
	uint32_t max_qp_wr;  /* work requests per queue */
	uint32_t max_cqe;    /* entries per CQ */
	uint32_t max_sge;    /* scatter/gather entries per work request (<= GSN_MAX_SGE) */
	uint32_t max_inline; /* bytes of inline data (<= GSN_MAX_INLINE) */
	uint64_t max_mr_size;
	uint64_t max_msg_size; /* bytes */
};

/* From the OPEN answer: no round trip. */
GSN_API int gsn_query_device(struct gsn_context *ctx, struct gsn_device_attr *attr);

struct gsn_port_attr {
	enum gsn_port_state state; /* GSN_PORT_ACTIVE: link up and ULA known */
	uint32_t max_mtu;          /* bytes: the largest ST transfer unit */
	uint32_t active_mtu;
	uint32_t link_rate_mbps;   /* 6400 */
	uint8_t ula[6];
	uint32_t ipv4;             /* host order, 0 if none */
};

/* Port 1 (the only one); -EINVAL for another number. */
GSN_API int gsn_query_port(struct gsn_context *ctx, uint8_t port_num,
			   struct gsn_port_attr *attr);

/* ======================================================================
 * Protection domains and memory regions
 * ====================================================================== */

struct gsn_pd {
	struct gsn_context *context;
	uint32_t handle;
};

GSN_API int gsn_alloc_pd(struct gsn_context *ctx, struct gsn_pd **pd);
/* -EBUSY while MRs or QPs use it. */
GSN_API int gsn_dealloc_pd(struct gsn_pd *pd);

struct gsn_mr {
	struct gsn_context *context;
	struct gsn_pd *pd;
	void *addr;
	size_t length;
	uint32_t handle;
	uint32_t lkey;   /* for gsn_sge.lkey */
	uint64_t rkey;   /* 64-bit remote key */
	unsigned access; /* GSN_ACCESS_* */
};

/*
 * Registers [addr, addr + length) of this process.  access is a mask of
 * GSN_ACCESS_LOCAL_WRITE, _REMOTE_WRITE, _REMOTE_READ, _REMOTE_ATOMIC;
 * remote write or atomic needs local write (-EINVAL otherwise, as in
 * verbs).  With GSN_ACCESS_ZERO_BASED the remote addresses peers use on
 * this MR (remote_addr of RDMA WRITE/READ and atomics) are offsets from
 * its first byte, 0 .. length - 1, instead of virtual addresses; local use
 * (lkey) is unchanged.
 *
 * requested_key 0 lets gsnd choose the rkey (random, 64-bit); otherwise
 * it is the rkey wanted (libfabric's requested_key): any value from 1 to
 * 0xFFFEFFFFFFFFFFFF (the keys with the top 16 bits all ones are gsnd's:
 * -EINVAL).  rkeys are per context: -EEXIST when this context already has
 * an MR with that rkey; other processes' keys do not matter, even on the
 * same gsnd.  The memory is not pinned: gsnd reads and writes it with
 * process_vm_readv/writev, so it must stay mapped until dereg.
 */
GSN_API int gsn_reg_mr(struct gsn_pd *pd, void *addr, size_t length, unsigned access,
		       uint64_t requested_key, struct gsn_mr **mr);
GSN_API int gsn_dereg_mr(struct gsn_mr *mr);

/* ======================================================================
 * Completion channels and completion queues
 * ====================================================================== */

/*
 * A completion channel groups CQs: fd (an epoll set of their eventfds) is
 * readable when one of them has an event.  Set O_NONBLOCK on fd to make
 * gsn_get_cq_event() return -EAGAIN instead of waiting.
 */
struct gsn_comp_channel {
	struct gsn_context *context;
	int fd;
	int refcnt; /* CQs attached */
};

GSN_API int gsn_create_comp_channel(struct gsn_context *ctx, struct gsn_comp_channel **ch);
/* -EBUSY while CQs are attached. */
GSN_API int gsn_destroy_comp_channel(struct gsn_comp_channel *ch);

struct gsn_cq {
	struct gsn_context *context;
	struct gsn_comp_channel *channel; /* NULL: no events */
	void *cq_context;
	int cqe;       /* entries: the request rounded up to a power of two */
	uint32_t handle;
};

/*
 * A CQ of at least cqe entries (1 ..max_cqe), a shared-memory ring that
 * gsnd fills.  comp_vector is accepted for verbs compatibility and ignored.
 */
GSN_API int gsn_create_cq(struct gsn_context *ctx, int cqe, void *cq_context,
			  struct gsn_comp_channel *channel, int comp_vector, struct gsn_cq **cq);
/*
 * -EBUSY while QPs use it or while events returned by gsn_get_cq_event()
 * are not acknowledged (verbs waits instead).
 */
GSN_API int gsn_destroy_cq(struct gsn_cq *cq);

#define GSN_WC_WITH_IMM GSN_WC_F_WITH_IMM /* gsn_wc.wc_flags: imm_data is valid */

struct gsn_wc {
	uint64_t wr_id;
	enum gsn_wc_status status;
	enum gsn_wc_opcode opcode; /* also set on errors */
	uint32_t vendor_err;       /* ST reject reason or status */
	uint32_t byte_len;         /* receives, RDMA READ, atomics */
	uint32_t imm_data;         /* host order, when wc_flags has GSN_WC_WITH_IMM */
	uint32_t qp_num;
	uint32_t src_qp;
	unsigned wc_flags;
};

/*
 * Takes up to num completions: returns how many (0 if none), or -EINVAL,
 * or -EIO when the ring is inconsistent (gsnd misbehaved; the CQ is dead)
 * or when gsnd has gone away and every completion it produced has been
 * taken (checked every 64 empty polls; GSN_EVENT_DEVICE_FATAL follows on
 * the async queue).
 * A receive whose data gsnd delivered inside the completion (small
 * messages, GSN_WC_F_INLINE) is copied here into the buffers of the
 * receive request, so the data is in place when the completion is seen.
 * After 64 empty polls in a row it yields the CPU once (sched_yield): the
 * device is a process that needs CPU time too.
 */
GSN_API int gsn_poll_cq(struct gsn_cq *cq, int num, struct gsn_wc *wc);

/*
 * Arms the CQ: the next completion (solicited_only: the next solicited or
 * error completion) makes one event on its channel.  As in verbs, poll
 * once more after arming: a completion that arrived just before does not
 * make an event.  -EINVAL without a channel.
 */
GSN_API int gsn_req_notify_cq(struct gsn_cq *cq, int solicited_only);

/*
 * Waits for an event on the channel: *cq is the CQ, *cq_context its
 * context.  The CQ is disarmed: re-arm with gsn_req_notify_cq().  Every
 * event must be acknowledged with gsn_ack_cq_events() before the CQ is
 * destroyed.  -EAGAIN if the channel's fd is non-blocking and nothing is
 * there, -EINTR on a signal.
 */
GSN_API int gsn_get_cq_event(struct gsn_comp_channel *ch, struct gsn_cq **cq, void **cq_context);
GSN_API void gsn_ack_cq_events(struct gsn_cq *cq, unsigned int nevents);

/* ======================================================================
 * Queue pairs
 * ====================================================================== */

struct gsn_qp_cap {
	uint32_t max_send_wr;  /* work requests the send queue holds */
	uint32_t max_recv_wr;
	uint32_t max_send_sge; /* <= GSN_MAX_SGE */
	uint32_t max_recv_sge;
	uint32_t max_inline_data; /* <= GSN_MAX_INLINE */
};

struct gsn_qp_init_attr {
	void *qp_context;
	struct gsn_cq *send_cq;
	struct gsn_cq *recv_cq;
	struct gsn_qp_cap cap;    /* in: wanted; out: granted (queues are powers of two) */
	enum gsn_qp_type qp_type; /* GSN_QPT_RC or GSN_QPT_UD */
	int sq_sig_all;           /* every send work request makes a completion */
};

struct gsn_qp {
	struct gsn_context *context;
	struct gsn_pd *pd;
	struct gsn_cq *send_cq;
	struct gsn_cq *recv_cq;
	void *qp_context;
	uint32_t handle;
	uint32_t qp_num;
	enum gsn_qp_state state; /* as last known: modify, query, QP_FATAL */
	enum gsn_qp_type qp_type;
};

/*
 * Creates a QP: a send and a receive ring shared with gsnd plus a
 * doorbell.  Both CQs must belong to the same context.
 *
 * GSN_QPT_RC: reliable connected, one Scheduled Transfer VC to one peer
 * QP; every opcode.
 *
 * GSN_QPT_UD: unreliable datagrams, as verbs UD.  RESET -> INIT (with
 * GSN_QP_QKEY; access flags are accepted and ignored) -> RTR -> RTS, no
 * GSN_QP_DEST (-EINVAL).  Sends are GSN_WR_SEND or GSN_WR_SEND_WITH_IMM
 * only, with at most GSN_UD_MAX_PAYLOAD bytes (SGEs or inline), each to
 * wr.ud.dest_ula (a unicast ULA; the device's own reaches its other QPs)
 * and wr.ud.remote_qpn, carrying wr.ud.remote_qkey, which must equal the
 * destination QP's qkey.  A send completes (GSN_WC_SEND) once gsnd has
 * handed the datagram to the link.  A datagram consumes the destination
 * QP's next receive: its first GSN_UD_HDR_LEN bytes get a struct
 * gsn_ud_hdr (the sender's ULA and QP number), then the payload;
 * byte_len = GSN_UD_HDR_LEN + payload, src_qp = the sender's QP number,
 * imm_data with GSN_WC_WITH_IMM.  Unreliable: a datagram finding no
 * receive posted (or one too short: it stays posted), a wrong qkey, no
 * such QP, or a QP not in RTR/RTS is dropped and counted by gsnd
 * (dev.ud_* in gsnstat), never an error at the sender.  Datagrams from
 * one QP to another arrive in the order they were posted.
 */
GSN_API int gsn_create_qp(struct gsn_pd *pd, struct gsn_qp_init_attr *init_attr,
			  struct gsn_qp **qp);

/* gsn_modify_qp() mask bits (the ABI's) */
#define GSN_QP_STATE GSN_QP_ATTR_STATE
#define GSN_QP_ACCESS_FLAGS GSN_QP_ATTR_ACCESS
#define GSN_QP_DEST GSN_QP_ATTR_DEST     /* dest_ula or dest_ipv4, and dest_qp_num */
#define GSN_QP_TIMEOUT GSN_QP_ATTR_TIMEOUT
#define GSN_QP_RETRY GSN_QP_ATTR_RETRY
#define GSN_QP_QKEY GSN_QP_ATTR_QKEY     /* UD only (-EINVAL on RC) */

struct gsn_qp_attr {
	enum gsn_qp_state qp_state;
	unsigned qp_access_flags; /* GSN_ACCESS_REMOTE_* the peer may use on this QP */
	uint8_t dest_ula[6];      /* all zero: resolve dest_ipv4 with HARP */
	uint32_t dest_ipv4;       /* host order */
	uint32_t dest_qp_num;
	uint32_t timeout_ms;      /* ST operation timeout (0: gsnd's default) */
	uint32_t retry_cnt;
	uint32_t qkey;            /* UD: what datagrams for this QP must carry */
	/* gsn_query_qp() only: */
	struct gsn_qp_cap cap;
	uint32_t qp_num;
	uint32_t st_vc; /* the ST VC's local port, 0 when not connected */
};

/*
 * Changes the attributes named by mask.  The usual sequence is RESET ->
 * INIT (with GSN_QP_ACCESS_FLAGS) -> RTR (with GSN_QP_DEST) -> RTS.  At RTR
 * gsnd sets up the ST virtual connection with the peer QP; work posted
 * before it is up waits (COMM_EST is reported when it is).  UD QPs: RESET
 * -> INIT (GSN_QP_QKEY) -> RTR -> RTS, no destination; GSN_QP_QKEY may
 * change at any time.  Errors come from gsnd (-EINVAL for a bad
 * transition or mask).
 */
GSN_API int gsn_modify_qp(struct gsn_qp *qp, struct gsn_qp_attr *attr, unsigned mask);
/* Fills attr from gsnd; init_attr (may be NULL) from the creation. */
GSN_API int gsn_query_qp(struct gsn_qp *qp, struct gsn_qp_attr *attr,
			 struct gsn_qp_init_attr *init_attr);
GSN_API int gsn_destroy_qp(struct gsn_qp *qp);

/* ---- posting ---- */

/* gsn_send_wr.send_flags (the WQE's GSN_WR_F_* bits) */
#define GSN_SEND_SIGNALED GSN_WR_F_SIGNALED   /* make a completion */
#define GSN_SEND_INLINE GSN_WR_F_INLINE       /* copy the data now (<= max_inline_data) */
#define GSN_SEND_FENCE GSN_WR_F_FENCE         /* after earlier RDMA READs and atomics */
#define GSN_SEND_SOLICITED GSN_WR_F_SOLICITED /* solicited event at the receiver */

struct gsn_send_wr {
	uint64_t wr_id;
	struct gsn_send_wr *next;
	struct gsn_sge *sg_list; /* addr, length, lkey */
	int num_sge;
	enum gsn_wr_opcode opcode;
	unsigned send_flags; /* GSN_SEND_* */
	uint32_t imm_data;   /* *_WITH_IMM, host order */
	union {
		struct {
			uint64_t remote_addr;
			uint64_t rkey;
		} rdma; /* RDMA WRITE / READ */
		struct {
			uint64_t remote_addr; /* 8-byte aligned */
			uint64_t compare_add; /* CMP_AND_SWP: compare; FETCH_AND_ADD: addend */
			uint64_t swap;        /* CMP_AND_SWP, SWAP: the new value */
			uint64_t rkey;
		} atomic; /* all GSN_WR_ATOMIC_*: one 8-byte SGE receives the old value */
		struct {
			uint8_t dest_ula[6];  /* unicast; the device's own reaches its QPs */
			uint32_t remote_qpn;
			uint32_t remote_qkey; /* the destination QP's qkey */
		} ud; /* SEND / SEND_WITH_IMM on a GSN_QPT_UD QP */
	} wr;
};

/*
 * Posts a chain of send work requests (every opcode of enum gsn_wr_opcode;
 * on a UD QP only SEND and SEND_WITH_IMM, at most GSN_UD_MAX_PAYLOAD
 * bytes, to a unicast dest_ula).
 * Checks: num_sge 0..max_send_sge, total length <= max message size,
 * inline only for SEND/RDMA WRITE and at most max_inline_data bytes,
 * atomics with exactly one 8-byte SGE and an aligned remote address, the
 * QP in RTS (or SQD, or ERROR: then the work completes with
 * GSN_WC_WR_FLUSH_ERR).  On failure *bad_wr is the first request not
 * posted (those before it are) and the return is -EINVAL (bad request or
 * state) or -ENOMEM (send queue full).  As in verbs, a request occupies
 * the send queue until its completion — for an unsignaled one, a later
 * signaled one's — has been polled: post a signaled request now and then.
 * Rings the doorbell only when gsnd sleeps (need-wakeup).
 */
GSN_API int gsn_post_send(struct gsn_qp *qp, struct gsn_send_wr *wr, struct gsn_send_wr **bad_wr);

struct gsn_recv_wr {
	uint64_t wr_id;
	struct gsn_recv_wr *next;
	struct gsn_sge *sg_list;
	int num_sge;
};

/*
 * Posts receive buffers (in any state but RESET).  -EINVAL (num_sge),
 * -ENOMEM (receive queue full: a receive counts until its completion has
 * been polled); *bad_wr as for gsn_post_send().
 */
GSN_API int gsn_post_recv(struct gsn_qp *qp, struct gsn_recv_wr *wr, struct gsn_recv_wr **bad_wr);

/* ======================================================================
 * Asynchronous events
 * ====================================================================== */

/* libgsn's own event, beyond the ABI's gsn_async_event_type: gsnd went away. */
#define GSN_EVENT_DEVICE_FATAL 256

struct gsn_async_event {
	int event_type; /* enum gsn_async_event_type or GSN_EVENT_DEVICE_FATAL */
	union {
		struct gsn_qp *qp; /* QP_FATAL, COMM_EST (NULL if already destroyed) */
		struct gsn_cq *cq; /* CQ_ERR */
		int port_num;      /* PORT_ACTIVE, PORT_ERR: 1 */
	} element;
	uint32_t handle; /* gsnd's handle of the QP or CQ */
};

/*
 * Waits for the next asynchronous event (ctx->async_fd non-blocking:
 * -EAGAIN when none).  QP_FATAL also moves qp->state to GSN_QPS_ERR.  When
 * gsnd goes away the event is GSN_EVENT_DEVICE_FATAL, once; later calls
 * return -ECONNRESET.  Events are kept in order; past 4096 unread ones the
 * newest are dropped.
 */
GSN_API int gsn_get_async_event(struct gsn_context *ctx, struct gsn_async_event *event);

/* ======================================================================
 * Strings
 * ====================================================================== */

GSN_API const char *gsn_wc_status_str(enum gsn_wc_status status); /* "success", ... */
GSN_API const char *gsn_wc_opcode_str(enum gsn_wc_opcode opcode);
GSN_API const char *gsn_event_type_str(int event_type);
GSN_API const char *gsn_port_state_str(enum gsn_port_state state); /* "PORT_ACTIVE" */
GSN_API const char *gsn_qp_state_str(enum gsn_qp_state state);     /* "RTS" */

#ifdef __cplusplus
}
#endif

#endif /* LIBGSN_H */
