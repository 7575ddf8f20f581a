/* SPDX-License-Identifier: MIT */
/*
 * libst — the Scheduled Transfer engine.
 *
 * Pure protocol: no sockets, no threads, no clock of its own.  The embedder
 * (gsnd, or a test) supplies a lower layer that carries ST operations to a
 * destination ULA, a clock, and access to registered memory.  It feeds
 * incoming operations to st_input(), calls st_tick() when st_next_deadline()
 * passes, issues upper-layer requests (connect, put, get, fetchop, send, ...)
 * and drains what happened with st_poll_event().
 *
 * Handles are small integers, never pointers: a VC is named by its local ST
 * port, a region by its memory index (Mx).  A stale handle is answered with
 * -ENOENT, never a crash.  Functions returning int give 0 or a negative errno.
 *
 * Re-entrancy: the lower-layer callbacks must not call back into the engine.
 * Events are queued and only leave through st_poll_event(), so an embedder may
 * call any st_* function while handling one.
 *
 * docs/libst.md explains the state machines; docs/protocol.md the wire use.
 */
#ifndef ST_ST_H
#define ST_ST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <gsn/st_wire.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ST_ULA_LEN 6

typedef struct st_engine st_engine;

/* ---- what the embedder provides ---------------------------------------- */

struct st_lower_ops {
	/*
	 * Carries one ST operation (header + payload) to dst on virtual channel
	 * vc.  The engine owns hdr and the payload only for the duration of the
	 * call.  Return 0 when taken; a negative errno counts as a send failure
	 * (the operation is treated as lost and recovered by timeouts).
	 */
	int (*send)(void *ctx, const uint8_t dst[ST_ULA_LEN], unsigned vc,
		    const uint8_t hdr[ST_HDR_LEN], const struct iovec *payload, unsigned iovcnt);
	/* Monotonic time in nanoseconds. */
	uint64_t (*now_ns)(void *ctx);
	/* Read/write len bytes at offset off of a registered region (the engine
	 * has already checked the range against the region's length). */
	int (*mem_read)(void *ctx, void *region_cookie, uint64_t off, void *dst, size_t len);
	int (*mem_write)(void *ctx, void *region_cookie, uint64_t off, const void *src, size_t len);
	void *ctx;
};

struct st_config {
	uint8_t ula[ST_ULA_LEN];  /* this endpoint's ULA */
	uint8_t bufsize_log2;     /* our buffer size 2^n announced to peers (default 16) */
	uint8_t max_stu_log2;     /* largest STU we accept (default 12; bounded by data_vc) */
	uint8_t block_log2;       /* Blocksize we grant in CTS (default 16, >= max_stu) */
	uint8_t data_vc;          /* data channel: VC for Data ops (default 1) */
	uint16_t slots;           /* slots we grant each peer (default 16) */
	uint16_t cts_req;         /* CTS outstanding we ask for in RTS/RTR (default 4) */
	uint16_t max_vcs;         /* default 1024, at most 65535 */
	uint64_t op_timeout_ns;   /* default 1 s */
	unsigned retries;         /* retransmissions before giving up (default 3) */
	bool allow_out_of_order;  /* grant Out_of_order Blocks to RTS senders (default false) */
	bool reject_when_not_ready; /* RTS/RTR with nothing posted: reject at once (true) or
				       hold it until a buffer is posted (false, default) */
	bool checksum;            /* compute the header Cksum on send (default false) */
};

/* Fills cfg with the defaults above (ULA all zero). */
void st_config_default(struct st_config *cfg);

int st_engine_create(const struct st_config *cfg, const struct st_lower_ops *lower,
		     st_engine **out);
/* Frees everything; emits nothing on the wire. */
void st_engine_destroy(st_engine *eng);

/* ---- driving the engine -------------------------------------------------- */

/*
 * One incoming ST operation (40-byte header + payload) from src on vc.
 * Returns 0 when the operation was accepted, or a negative errno when it was
 * dropped (every drop is also counted; see struct st_counters).
 */
int st_input(st_engine *eng, const uint8_t src[ST_ULA_LEN], unsigned vc,
	     const void *op, size_t len);
/* Runs every timer that has expired by now_ns(). */
void st_tick(st_engine *eng);
/* Earliest time (now_ns() clock) at which st_tick() has work; UINT64_MAX if none. */
uint64_t st_next_deadline(const st_engine *eng);

/* ---- events -------------------------------------------------------------- */

enum st_status {
	ST_OK = 0,
	ST_ERR_REFUSED = 1,       /* connection refused by the peer (see reason) */
	ST_ERR_TIMEOUT = 2,       /* retries exhausted */
	ST_ERR_REMOTE_ACCESS = 3, /* bad key, range or access at the responder */
	ST_ERR_REMOTE_OP = 4,     /* the responder rejected the operation */
	ST_ERR_LENGTH = 5,        /* message longer than the posted receive */
	ST_ERR_NOT_READY = 6,     /* the responder had nothing posted */
	ST_ERR_ABORTED = 7,       /* ended by st_abort() or by the peer's End */
	ST_ERR_FLUSHED = 8,       /* the VC closed with the operation pending */
	ST_ERR_LOCAL = 9,         /* local memory access failed */
};

enum st_event_type {
	ST_EV_CONNECT_REQUEST = 1, /* a peer asks to connect to a manual listener: st_accept/st_refuse */
	ST_EV_CONNECTED,           /* VC is open (both roles) */
	ST_EV_REFUSED,             /* our connect was refused (reason) or timed out (status) */
	ST_EV_CLOSED,              /* VC is gone (status: OK for an orderly close) */
	ST_EV_REGION_EXPOSED,      /* st_region_request answered (MRA) or failed */
	ST_EV_DATA_PLACED,         /* a PUT carrying completion data was placed (responder side) */
	ST_EV_COMPLETE,            /* a ULP operation finished (status, user_ctx, op) */
	ST_EV_RECV_COMPLETE,       /* a posted receive (st_post_recv) was filled, or a posted
				      source (st_post_source) was fully read */
	ST_EV_STATE,               /* Request_State_Response received */
	ST_EV_ERROR,               /* something went wrong outside any ULP operation */
};

/* Which ULP request an ST_EV_COMPLETE reports. */
enum st_req_kind {
	ST_REQ_NONE = 0,
	ST_REQ_PUT,
	ST_REQ_GET,
	ST_REQ_FETCHOP,
	ST_REQ_SEND,     /* single-use write: RTS/CTS */
	ST_REQ_READ,     /* single-use read: RTR */
	ST_REQ_RECV,     /* a posted receive */
	ST_REQ_SOURCE,   /* a posted source */
	ST_REQ_REGION,   /* st_region_request / st_region_release */
	ST_REQ_STATE,    /* st_request_state */
	ST_REQ_ABORT,    /* st_abort's own completion */
};

struct st_event {
	enum st_event_type type;
	enum st_req_kind kind;
	int status;          /* enum st_status */
	int reason;          /* enum st_reject_reason when the peer rejected */
	uint16_t vc;         /* local port of the VC (0: none) */
	uint64_t user_ctx;   /* as given by the ULP request */
	uint64_t len;        /* bytes transferred / placed / exposed */
	uint64_t value;      /* FETCHOP: the old value; DATA_PLACED/RECV_COMPLETE: completion data */
	bool has_value;      /* value carries completion data */
	uint16_t slots;      /* STATE: slots the peer grants; CONNECTED: slots granted to us */
	uint32_t b_seq;      /* STATE: highest in-order block the peer has */
	uint32_t uport;      /* CONNECT_REQUEST/CONNECTED: the upper-layer port */
	uint16_t ethertype;  /* CONNECT_REQUEST/CONNECTED */
	uint8_t peer[ST_ULA_LEN];
	uint64_t rkey;       /* REGION_EXPOSED: the region key; DATA_PLACED: key written */
	uint64_t offset;     /* DATA_PLACED: offset of the PUT in the region;
				REGION_EXPOSED: the region's base address (st_region_set_base) */
};

/* Removes the oldest queued event into ev; false when none is queued. */
bool st_poll_event(st_engine *eng, struct st_event *ev);

/* ---- connections --------------------------------------------------------- */

struct st_listen_params {
	uint16_t ethertype;  /* 0 accepts any */
	bool manual_accept;  /* raise ST_EV_CONNECT_REQUEST instead of accepting at once */
};

int st_listen(st_engine *eng, uint32_t uport, const struct st_listen_params *p);
int st_unlisten(st_engine *eng, uint32_t uport);

struct st_connect_params {
	uint8_t peer[ST_ULA_LEN];
	uint32_t uport;       /* the responder's upper-layer port */
	uint32_t local_uport; /* ours, reported to the responder */
	uint16_t ethertype;   /* default 0x8181 when 0 */
};

/* Starts Request_Connection; *vc is the new VC's local port.  Outcome comes as
 * ST_EV_CONNECTED or ST_EV_REFUSED carrying user_ctx. */
int st_connect(st_engine *eng, const struct st_connect_params *p, uint64_t user_ctx, uint16_t *vc);
int st_accept(st_engine *eng, uint16_t vc);
int st_refuse(st_engine *eng, uint16_t vc, enum st_reject_reason reason);
/* Orderly teardown RD -> DA -> DC; pending operations complete ST_ERR_FLUSHED. */
int st_disconnect(st_engine *eng, uint16_t vc);

/* ---- persistent memory ----------------------------------------------------- */

#define ST_ACCESS_REMOTE_WRITE 0x1u
#define ST_ACCESS_REMOTE_READ 0x2u
#define ST_ACCESS_REMOTE_ATOMIC 0x4u

/*
 * Registers len bytes the embedder can reach through mem_read/mem_write with
 * cookie.  key (non-zero, unique in the engine) is what peers name the region
 * by in Request_Memory_Region.  *mx receives the memory index.
 */
int st_region_register(st_engine *eng, uint64_t len, unsigned access, uint64_t key,
		       void *cookie, uint16_t *mx);
/* Fails with -EBUSY while local operations still use the region. */
int st_region_deregister(st_engine *eng, uint16_t mx);
/*
 * Records the address of the region's first byte in its owner's address
 * space.  Memory_Region_Available tells it to peers (ST_EV_REGION_EXPOSED's
 * offset), so a verbs-style embedder can turn remote virtual addresses into
 * region offsets.  Offsets on the wire stay relative to the region's start.
 */
int st_region_set_base(st_engine *eng, uint16_t mx, uint64_t base);

/*
 * Asks the peer to expose its region with key rkey (Request_Memory_Region ->
 * Memory_Region_Available).  The answer is cached on the VC; PUT/GET/FETCHOP
 * on an rkey not yet cached issue this themselves.
 */
int st_region_request(st_engine *eng, uint16_t vc, uint64_t rkey, uint64_t user_ctx);
/* Tells the peer we are done with rkey (End -> End_Ack) and forgets it. */
int st_region_release(st_engine *eng, uint16_t vc, uint64_t rkey, uint64_t user_ctx);

#define ST_RMA_NOTIFY 0x1u /* PUT: deliver imm to the responder as ST_EV_DATA_PLACED */

struct st_rma {
	uint16_t local_mx;   /* our region: source of a PUT, sink of a GET */
	uint64_t local_off;
	uint64_t rkey;       /* the peer's region */
	uint64_t remote_off;
	uint64_t len;        /* PUT: any length; GET: 1..65535 */
	unsigned flags;      /* ST_RMA_* */
	uint32_t imm;        /* completion data with ST_RMA_NOTIFY */
};

int st_put(st_engine *eng, uint16_t vc, const struct st_rma *r, uint64_t user_ctx);
int st_get(st_engine *eng, uint16_t vc, const struct st_rma *r, uint64_t user_ctx);

struct st_fetchop {
	enum st_get_function fn; /* FETCH_INCREMENT .. COMPARE_SWAP */
	uint64_t rkey;
	uint64_t remote_off;     /* 8-byte aligned */
	uint64_t operand;        /* FETCH_ADD addend, SWAP new value, COMPARE_SWAP swap value */
	uint64_t compare;        /* COMPARE_SWAP: expected value */
	uint16_t local_mx;       /* 0: result only in the event; else also written here */
	uint64_t local_off;
};

/* 8-byte FETCHOP; the old value arrives in ST_EV_COMPLETE.value.  Applied at
 * most once at the responder even when operations are lost or duplicated. */
int st_fetchop(st_engine *eng, uint16_t vc, const struct st_fetchop *f, uint64_t user_ctx);

/* ---- single-use memory ----------------------------------------------------- */

/* Single-use write: RTS -> CTS per Block -> Data, into the peer's next posted
 * receive.  len >= 1.  With has_imm, imm arrives with the peer's
 * ST_EV_RECV_COMPLETE. */
int st_send(st_engine *eng, uint16_t vc, uint16_t local_mx, uint64_t local_off, uint64_t len,
	    bool has_imm, uint32_t imm, uint64_t user_ctx);
/* Sink for the next incoming RTS on vc, in posting order. */
int st_post_recv(st_engine *eng, uint16_t vc, uint16_t local_mx, uint64_t local_off,
		 uint64_t len, uint64_t user_ctx);
/* Single-use read: RTR asks the peer's next posted source for len bytes. */
int st_read(st_engine *eng, uint16_t vc, uint16_t local_mx, uint64_t local_off, uint64_t len,
	    uint64_t user_ctx);
/* Source for the next incoming RTR on vc, in posting order. */
int st_post_source(st_engine *eng, uint16_t vc, uint16_t local_mx, uint64_t local_off,
		   uint64_t len, uint64_t user_ctx);

/* ---- control --------------------------------------------------------------- */

/* Ends the pending operation with user_ctx (End -> End_Ack): both sides
 * complete it ST_ERR_ABORTED; the abort itself completes as ST_REQ_ABORT. */
int st_abort(st_engine *eng, uint16_t vc, uint64_t user_ctx);
/* Request_State; the answer arrives as ST_EV_STATE with user_ctx. */
int st_request_state(st_engine *eng, uint16_t vc, uint64_t user_ctx);
/* Changes the slots we grant the peer and tells it (Request_State_Response). */
int st_set_slots(st_engine *eng, uint16_t vc, uint16_t slots);

/* ---- introspection --------------------------------------------------------- */

enum st_vc_state {
	ST_VC_CONNECTING = 1, /* Request_Connection sent */
	ST_VC_ACCEPTING,      /* request received, waiting for st_accept */
	ST_VC_OPEN,
	ST_VC_CLOSING,        /* RD sent, waiting for DA */
	ST_VC_CLOSE_WAIT,     /* DA sent, waiting for DC */
	ST_VC_TIME_WAIT,      /* DC sent; answers late DAs, then goes away */
};

struct st_vc_info {
	enum st_vc_state state;
	uint8_t peer[ST_ULA_LEN];
	uint16_t local_port, peer_port;
	uint32_t local_key, peer_key;
	uint32_t local_uport, peer_uport;
	uint16_t ethertype;
	uint8_t peer_bufsize_log2, peer_max_stu_log2;
	uint16_t slots_granted_to_us;  /* what the peer lets us have outstanding */
	uint16_t slots_in_use;         /* our slot-consuming ops awaiting an answer */
	uint16_t slots_we_grant;
	uint32_t queued_ops;           /* ops waiting for a slot */
};

int st_vc_info(const st_engine *eng, uint16_t vc, struct st_vc_info *out);

enum st_drop_reason {
	ST_DROP_TRUNCATED = 0, /* shorter than a header */
	ST_DROP_CKSUM,         /* bad header checksum */
	ST_DROP_BAD_OPCODE,    /* unknown opcode */
	ST_DROP_NO_VC,         /* ports/key/source match no VC */
	ST_DROP_BAD_STATE,     /* operation not valid in the VC's state */
	ST_DROP_BAD_RANGE,     /* Bufx/Offset/length out of range or crossing a buffer */
	ST_DROP_ACCESS,        /* region key unknown or access missing */
	ST_DROP_NO_TRANSFER,   /* Data/CTS/answer for no pending transfer */
	ST_DROP_BAD_PARAM,     /* malformed fields or payload length */
	ST_DROP_NO_SLOTS,      /* peer exceeded the slots we granted */
	ST_DROP_DUPLICATE,     /* duplicate of something already handled */
	ST_DROP_RESOURCES,     /* out of memory or table space */
	ST_DROP_REASONS
};

struct st_counters {
	uint64_t ops_sent[ST_OP_COUNT];
	uint64_t ops_received[ST_OP_COUNT];  /* accepted by validation */
	uint64_t bytes_sent, bytes_received; /* payload bytes */
	uint64_t rejects_sent, rejects_received;
	uint64_t drops[ST_DROP_REASONS];
	uint64_t retransmits;
	uint64_t timeouts;                   /* retry budgets exhausted */
	uint64_t send_failures;              /* lower layer refused an op */
	uint64_t slot_waits;                 /* ops queued for lack of a slot */
};

/* vc 0: the engine's global counters (sum over all VCs, past and present, plus
 * drops that matched no VC); otherwise that VC's own. */
int st_get_counters(const st_engine *eng, uint16_t vc, struct st_counters *out);

const char *st_status_str(int status);
const char *st_reject_str(int reason);
const char *st_op_name(unsigned op);
const char *st_drop_str(int reason);

#ifdef __cplusplus
}
#endif

#endif /* ST_ST_H */
