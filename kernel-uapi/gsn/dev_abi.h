/* SPDX-License-Identifier: MIT */
/*
 * The gsn device ABI: the single truth shared by gsnd's device server and
 * libgsn, in the manner of a kernel driver's uAPI header.
 *
 * Control path: device commands travel as control-socket messages
 * (docs/ctl.md) of types GSN_DEV_CMD_*; bodies are the packed little-endian
 * structs below (host order: both ends run on one host), each of exact size.
 * Responses that hand over shared memory or an eventfd carry the file
 * descriptors with SCM_RIGHTS, in the order the response struct lists them.
 *
 * Data path: every queue (send, receive, completion) is a single-producer /
 * single-consumer ring in a memfd: a struct gsn_ring header (producer and
 * consumer indices on their own cache lines), then 2^log2_size entries of
 * entry_size bytes.  Indices are free-running 32-bit counters; entry i lives
 * at (i & mask).  The producer writes the entry, then stores producer with
 * release order; the consumer loads producer with acquire order, reads, then
 * stores consumer with release order.
 *
 * Doorbells ("need wakeup"): a consumer that is about to sleep sets
 * GSN_RING_F_NEED_WAKEUP in the ring's flags, re-checks the ring, then waits
 * on the ring's eventfd.  A producer that finds the flag set after
 * publishing clears it and writes the eventfd.  A busy consumer therefore
 * costs its producer no system call.
 *
 * Completion channel: a CQ's eventfd is also its completion channel.
 * Requesting notification (ibv_req_notify_cq) sets GSN_RING_F_ARMED (or
 * GSN_RING_F_ARMED_SOLICITED); gsnd, after producing a CQE that satisfies
 * the arming, clears it and writes the eventfd once.
 */
#ifndef GSN_DEV_ABI_H
#define GSN_DEV_ABI_H

#include <stdint.h>

/*
 * 2: UD queue pairs (send WQE ud_* fields, MODIFY_QP qkey, QUERY_QP qkey)
 *    and zero-based MRs.
 */
#define GSN_DEV_ABI_VERSION 2u

#define GSN_CACHELINE 64

#ifdef __cplusplus
#define GSN_STATIC_ASSERT static_assert
#define GSN_ALIGNAS(n) alignas(n)
#else
#define GSN_STATIC_ASSERT _Static_assert
#define GSN_ALIGNAS(n) _Alignas(n)
#endif

/* ---- rings ------------------------------------------------------------------- */

#define GSN_RING_F_NEED_WAKEUP 0x1u    /* consumer sleeps: producer must kick the eventfd */
#define GSN_RING_F_ARMED 0x2u          /* CQ: notify on the next completion */
#define GSN_RING_F_ARMED_SOLICITED 0x4u /* CQ: notify on the next solicited/error completion */

struct gsn_ring {
	GSN_ALIGNAS(GSN_CACHELINE) uint32_t producer;
	GSN_ALIGNAS(GSN_CACHELINE) uint32_t consumer;
	GSN_ALIGNAS(GSN_CACHELINE) uint32_t flags;  /* GSN_RING_F_*, updated atomically */
	uint32_t log2_size;                      /* entries = 1 << log2_size */
	uint32_t entry_size;                     /* bytes, multiple of 64 */
	uint32_t entries_offset;                 /* from the start of this header */
	uint64_t overflow;                       /* CQ: completions lost to a full ring */
};
GSN_STATIC_ASSERT(sizeof(struct gsn_ring) == 3 * GSN_CACHELINE, "ring header size");

/* ---- work requests ----------------------------------------------------------- */

enum gsn_wr_opcode {
	GSN_WR_SEND = 0,
	GSN_WR_SEND_WITH_IMM = 1,
	GSN_WR_RDMA_WRITE = 2,
	GSN_WR_RDMA_WRITE_WITH_IMM = 3,
	GSN_WR_RDMA_READ = 4,
	GSN_WR_ATOMIC_CMP_AND_SWP = 5,
	GSN_WR_ATOMIC_FETCH_AND_ADD = 6,
	GSN_WR_ATOMIC_SWAP = 7,       /* ST extension */
	GSN_WR_ATOMIC_FETCH_INC = 8,  /* ST FETCHOP increment */
	GSN_WR_ATOMIC_FETCH_DEC = 9,  /* ST FETCHOP decrement */
	GSN_WR_ATOMIC_FETCH_CLEAR = 10, /* ST FETCHOP clear */
};

#define GSN_WR_F_SIGNALED 0x01u  /* produce a CQE (always on error) */
#define GSN_WR_F_INLINE 0x02u    /* payload in inline_data, not in sge[] */
#define GSN_WR_F_FENCE 0x04u     /* wait for earlier RDMA READ/atomics */
#define GSN_WR_F_SOLICITED 0x08u /* solicited event at the receiver */

#define GSN_MAX_SGE 4u
#define GSN_MAX_INLINE 128u

struct gsn_sge {
	uint64_t addr;
	uint32_t length;
	uint32_t lkey;
};
GSN_STATIC_ASSERT(sizeof(struct gsn_sge) == 16, "sge size");

/* Send-queue entry: 256 bytes. */
struct gsn_send_wqe {
	uint64_t wr_id;
	uint8_t opcode;     /* enum gsn_wr_opcode */
	uint8_t flags;      /* GSN_WR_F_* */
	uint8_t num_sge;    /* 0..GSN_MAX_SGE */
	uint8_t reserved0;
	uint32_t imm_data;  /* *_WITH_IMM, in host order */
	uint32_t inline_len;
	uint32_t reserved1;
	uint64_t remote_addr;
	uint64_t rkey;      /* 64-bit remote keys */
	uint64_t compare_add; /* CMP_AND_SWP: compare; FETCH_AND_ADD: addend */
	uint64_t swap;        /* CMP_AND_SWP and SWAP: the new value */
	/* UD QPs: where the datagram goes (the RC fields above are unused). */
	uint8_t ud_dest_ula[6];
	uint16_t ud_reserved;
	uint32_t ud_dest_qpn;
	uint32_t ud_qkey;     /* must equal the destination QP's qkey */
	uint8_t reserved2[56];
	union {
		struct gsn_sge sge[GSN_MAX_SGE];
		uint8_t inline_data[GSN_MAX_INLINE];
	};
};
GSN_STATIC_ASSERT(sizeof(struct gsn_send_wqe) == 256, "send wqe size");
GSN_STATIC_ASSERT(__builtin_offsetof(struct gsn_send_wqe, ud_dest_ula) == 56, "ud fields");
GSN_STATIC_ASSERT(__builtin_offsetof(struct gsn_send_wqe, reserved2) == 72, "ud fields");
GSN_STATIC_ASSERT(__builtin_offsetof(struct gsn_send_wqe, sge) == 128, "sge offset");

/* Receive-queue entry: 128 bytes. */
struct gsn_recv_wqe {
	uint64_t wr_id;
	uint32_t num_sge;
	uint32_t reserved0;
	uint8_t reserved1[48];
	struct gsn_sge sge[GSN_MAX_SGE];
};
GSN_STATIC_ASSERT(sizeof(struct gsn_recv_wqe) == 128, "recv wqe size");

/* ---- completions ------------------------------------------------------------- */

enum gsn_wc_status {
	GSN_WC_SUCCESS = 0,
	GSN_WC_LOC_LEN_ERR = 1,
	GSN_WC_LOC_QP_OP_ERR = 2,
	GSN_WC_LOC_PROT_ERR = 4,
	GSN_WC_WR_FLUSH_ERR = 5,
	GSN_WC_BAD_RESP_ERR = 7,
	GSN_WC_LOC_ACCESS_ERR = 8,
	GSN_WC_REM_INV_REQ_ERR = 9,
	GSN_WC_REM_ACCESS_ERR = 10,
	GSN_WC_REM_OP_ERR = 11,
	GSN_WC_RETRY_EXC_ERR = 12,
	GSN_WC_RNR_RETRY_EXC_ERR = 13,
	GSN_WC_FATAL_ERR = 19,
	GSN_WC_GENERAL_ERR = 21,
};

enum gsn_wc_opcode {
	GSN_WC_SEND = 0,
	GSN_WC_RDMA_WRITE = 1,
	GSN_WC_RDMA_READ = 2,
	GSN_WC_COMP_SWAP = 3,
	GSN_WC_FETCH_ADD = 4,
	GSN_WC_ATOMIC = 5,     /* the ST-only atomics */
	GSN_WC_RECV = 128,
	GSN_WC_RECV_RDMA_WITH_IMM = 129,
};

/* The completion opcode a send-queue work request completes with. */
static inline uint8_t gsn_wc_opcode_of(uint8_t wr_opcode)
{
	switch (wr_opcode) {
	case GSN_WR_SEND:
	case GSN_WR_SEND_WITH_IMM:
		return GSN_WC_SEND;
	case GSN_WR_RDMA_WRITE:
	case GSN_WR_RDMA_WRITE_WITH_IMM:
		return GSN_WC_RDMA_WRITE;
	case GSN_WR_RDMA_READ:
		return GSN_WC_RDMA_READ;
	case GSN_WR_ATOMIC_CMP_AND_SWP:
		return GSN_WC_COMP_SWAP;
	case GSN_WR_ATOMIC_FETCH_AND_ADD:
		return GSN_WC_FETCH_ADD;
	default:
		return GSN_WC_ATOMIC;
	}
}

#define GSN_WC_F_WITH_IMM 0x1u
#define GSN_WC_F_INLINE 0x2u  /* payload in inline_data: libgsn copies it to the receive buffer */

#define GSN_CQE_INLINE 32u

/* Completion-queue entry: 64 bytes. */
struct gsn_cqe {
	uint64_t wr_id;
	uint8_t status;     /* enum gsn_wc_status */
	uint8_t opcode;     /* enum gsn_wc_opcode */
	uint16_t flags;     /* GSN_WC_F_* */
	uint32_t byte_len;
	uint32_t imm_data;  /* host order */
	uint32_t qp_num;
	uint32_t src_qp;
	uint32_t vendor_err; /* ST reject reason or st_status */
	uint8_t inline_data[GSN_CQE_INLINE];
};
GSN_STATIC_ASSERT(sizeof(struct gsn_cqe) == 64, "cqe size");

/* ---- commands (control-socket message types) ----------------------------------- */

enum gsn_dev_cmd {
	GSN_DEV_CMD_OPEN = 64,        /* gsn_dev_open_req -> gsn_dev_open_resp */
	GSN_DEV_CMD_QUERY_PORT = 65,  /* empty -> gsn_dev_port_attr */
	GSN_DEV_CMD_ALLOC_PD = 66,    /* empty -> gsn_dev_handle */
	GSN_DEV_CMD_DEALLOC_PD = 67,  /* gsn_dev_handle -> empty */
	GSN_DEV_CMD_REG_MR = 68,      /* gsn_dev_reg_mr_req -> gsn_dev_reg_mr_resp */
	GSN_DEV_CMD_DEREG_MR = 69,    /* gsn_dev_handle -> empty */
	GSN_DEV_CMD_CREATE_CQ = 70,   /* gsn_dev_create_cq_req -> gsn_dev_create_cq_resp + fds */
	GSN_DEV_CMD_DESTROY_CQ = 71,  /* gsn_dev_handle -> empty */
	GSN_DEV_CMD_CREATE_QP = 72,   /* gsn_dev_create_qp_req -> gsn_dev_create_qp_resp + fds */
	GSN_DEV_CMD_MODIFY_QP = 73,   /* gsn_dev_modify_qp_req -> empty */
	GSN_DEV_CMD_QUERY_QP = 74,    /* gsn_dev_handle -> gsn_dev_qp_attr */
	GSN_DEV_CMD_DESTROY_QP = 75,  /* gsn_dev_handle -> empty */
	GSN_DEV_CMD_ASYNC_EVENT = 76, /* gsnd -> client, seq 0: gsn_dev_async_event */
	GSN_DEV_CMD_MAX
};

#define GSN_DEV_NAME_MAX 32

struct gsn_dev_open_req {
	uint32_t abi_version;  /* GSN_DEV_ABI_VERSION */
	uint32_t reserved;
};

struct gsn_dev_open_resp {
	uint32_t abi_version;
	uint32_t max_qp, max_cq, max_mr, max_pd;
	uint32_t max_qp_wr, max_cqe, max_sge, max_inline;
	uint32_t max_msg_size_log2;  /* largest message: 2^n bytes */
	uint32_t reserved;
	uint64_t max_mr_size;
	uint8_t ula[6];
	uint8_t reserved2[2];
	char name[GSN_DEV_NAME_MAX];  /* NUL-terminated: "gsn0" */
	uint64_t node_guid;           /* the ULA in the low 48 bits */
};

enum gsn_port_state { GSN_PORT_DOWN = 1, GSN_PORT_INIT = 2, GSN_PORT_ACTIVE = 4 };

struct gsn_dev_port_attr {
	uint32_t state;       /* enum gsn_port_state: ACTIVE when the link is up and the ULA known */
	uint32_t max_mtu;     /* bytes: the largest STU */
	uint32_t active_mtu;
	uint32_t link_rate_mbps; /* 6400 */
	uint8_t ula[6];
	uint8_t reserved[2];
	uint32_t ipv4;        /* host order, 0 if none */
	uint32_t reserved2;
};

struct gsn_dev_handle {
	uint32_t handle;
	uint32_t reserved;
};

#define GSN_ACCESS_LOCAL_WRITE 0x1u
#define GSN_ACCESS_REMOTE_WRITE 0x2u
#define GSN_ACCESS_REMOTE_READ 0x4u
#define GSN_ACCESS_REMOTE_ATOMIC 0x8u
/*
 * The MR's remote addresses are offsets from its first byte (0 .. length-1)
 * instead of virtual addresses, as verbs' IBV_ACCESS_ZERO_BASED: the
 * remote_addr of RDMA WRITE/READ and atomics naming its rkey.  Local use
 * (lkey in SGEs) still takes virtual addresses.
 */
#define GSN_ACCESS_ZERO_BASED 0x10u

struct gsn_dev_reg_mr_req {
	uint32_t pd;
	uint32_t access;      /* GSN_ACCESS_* */
	uint64_t addr;        /* in the client's address space */
	uint64_t length;
	/*
	 * 0: gsnd chooses; else the rkey wanted (fi_mr_reg's requested_key):
	 * any value but those with the top 16 bits all ones (gsnd's own,
	 * -EINVAL).  Keys are per client (per open device): -EEXIST when this
	 * client already has an MR with that rkey; other clients' keys do not
	 * matter.
	 */
	uint64_t requested_key;
};

struct gsn_dev_reg_mr_resp {
	uint32_t handle;
	uint32_t lkey;
	uint64_t rkey;        /* 64-bit */
};

struct gsn_dev_create_cq_req {
	uint32_t cqe;         /* requested entries (rounded up to a power of two) */
	uint32_t reserved;
};

/* fds: [0] memfd holding the ring, [1] eventfd (doorbell and completion channel) */
struct gsn_dev_create_cq_resp {
	uint32_t handle;
	uint32_t log2_size;
	uint64_t mmap_size;   /* bytes to map from the memfd */
};

enum gsn_qp_type {
	GSN_QPT_RC = 2, /* reliable connected: one ST VC */
	GSN_QPT_UD = 4, /* unreliable datagram: SEND only, GSN Messages of their own */
};

/*
 * UD: every receive buffer gets this header in its first GSN_UD_HDR_LEN
 * bytes (scattered over the SGEs like data, as verbs' GRH space), then the
 * payload; the completion's byte_len counts both.
 */
#define GSN_UD_HDR_LEN 40u
/* Payload bytes (after the header) one UD send may carry: one GSN Message on VC1. */
#define GSN_UD_MAX_PAYLOAD 65536u

struct gsn_ud_hdr {
	uint8_t src_ula[6];  /* the sending device's ULA */
	uint16_t reserved0;
	uint32_t src_qpn;    /* the sending QP, host order */
	uint8_t reserved1[28];
};
GSN_STATIC_ASSERT(sizeof(struct gsn_ud_hdr) == GSN_UD_HDR_LEN, "ud header size");

struct gsn_dev_create_qp_req {
	uint32_t pd;
	uint32_t send_cq, recv_cq;
	uint32_t qp_type;     /* enum gsn_qp_type */
	uint32_t max_send_wr, max_recv_wr;
	uint32_t max_send_sge, max_recv_sge;
	uint32_t max_inline_data;
	uint32_t sq_sig_all;  /* every send produces a CQE */
};

/*
 * fds: [0] memfd holding both rings (SQ at sq_offset, RQ at rq_offset),
 * [1] eventfd: the doorbell gsnd waits on for both rings.
 */
struct gsn_dev_create_qp_resp {
	uint32_t handle;
	uint32_t qp_num;
	uint32_t sq_log2_size, rq_log2_size;
	uint64_t sq_offset, rq_offset;
	uint64_t mmap_size;
	uint32_t max_inline_data;
	uint32_t reserved;
};

enum gsn_qp_state {
	GSN_QPS_RESET = 0,
	GSN_QPS_INIT = 1,
	GSN_QPS_RTR = 2,
	GSN_QPS_RTS = 3,
	GSN_QPS_SQD = 4,
	GSN_QPS_SQE = 5,
	GSN_QPS_ERR = 6,
};

#define GSN_QP_ATTR_STATE 0x01u
#define GSN_QP_ATTR_ACCESS 0x02u
#define GSN_QP_ATTR_DEST 0x04u     /* remote ULA (or IPv4) and QP number */
#define GSN_QP_ATTR_TIMEOUT 0x08u
#define GSN_QP_ATTR_RETRY 0x10u
#define GSN_QP_ATTR_QKEY 0x20u     /* UD only */

struct gsn_dev_modify_qp_req {
	uint32_t handle;
	uint32_t mask;          /* GSN_QP_ATTR_* */
	uint32_t state;         /* enum gsn_qp_state */
	uint32_t access;        /* GSN_ACCESS_REMOTE_* allowed on this QP */
	uint8_t dest_ula[6];    /* all zero: use dest_ipv4 through HARP */
	uint8_t reserved[2];
	uint32_t dest_ipv4;     /* host order */
	uint32_t dest_qp_num;
	uint32_t timeout_ms;    /* ST operation timeout */
	uint32_t retry_cnt;
	uint32_t qkey;          /* UD: datagrams must carry it */
	uint32_t reserved2;
};

struct gsn_dev_qp_attr {
	uint32_t state;
	uint32_t qp_num;
	uint32_t dest_qp_num;
	uint32_t access;
	uint8_t dest_ula[6];
	uint8_t reserved[2];
	uint32_t st_vc;         /* the ST VC's local port, 0 when not connected */
	uint32_t qkey;          /* UD */
};

enum gsn_async_event_type {
	GSN_EVENT_QP_FATAL = 1,     /* the QP went to ERROR (peer gone, retries exhausted) */
	GSN_EVENT_COMM_EST = 2,     /* the QP's VC is up */
	GSN_EVENT_PORT_ACTIVE = 3,
	GSN_EVENT_PORT_ERR = 4,
	GSN_EVENT_CQ_ERR = 5,       /* completions were lost to a full CQ */
};

struct gsn_dev_async_event {
	uint32_t type;     /* enum gsn_async_event_type */
	uint32_t handle;   /* QP or CQ handle; 0 for port events */
};

#endif /* GSN_DEV_ABI_H */
