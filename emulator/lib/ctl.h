/* SPDX-License-Identifier: MIT */
/*
 * The control socket of a gsn element (docs/ctl.md): gsnd serves it, its
 * tools (gsnstat, gsnarp, gsnping, gsn-fabric) and later libgsn use it.
 *
 * A SOCK_SEQPACKET Unix socket at $GSN_RUNDIR/<element>.sock; one record is
 * one message: a 16-byte header, big-endian,
 *
 *	0..1   version (1)
 *	2..3   type (enum gsn_ctl_type)
 *	4..7   seq: chosen by the requester, echoed in the response; 0 for
 *	       messages gsnd sends on its own (RAW_RECV)
 *	8..11  status: 0 or -errno (responses)
 *	12..15 body_len: bytes that follow (must equal the record's rest)
 *
 * then the body.  A response has the type and seq of its request.  An error
 * response (status < 0) has an empty body.  Every decoder below checks the
 * exact length and never reads past it.
 */
#ifndef GSN_CTL_H
#define GSN_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_CTL_VERSION 1u
#define GSN_CTL_HDR_LEN 16u
#define GSN_CTL_RAW_DATA_MAX (128u * 1024u) /* bytes of a raw Message's payload */
#define GSN_CTL_RAW_HDR_LEN 16u
#define GSN_CTL_BODY_MAX (GSN_CTL_RAW_HDR_LEN + GSN_CTL_RAW_DATA_MAX)
#define GSN_CTL_MSG_MAX (GSN_CTL_HDR_LEN + GSN_CTL_BODY_MAX)
#define GSN_CTL_TEXT_MAX (64u * 1024u) /* text bodies */
#define GSN_CTL_CLIENTS_MAX 256u
#define GSN_CTL_QUEUE_MAX (4u << 20)   /* bytes queued for one slow client */

enum gsn_ctl_type {
	GSN_CTL_HELLO = 1,        /* text (client name) -> text (element, role, version) */
	GSN_CTL_STATUS = 2,       /* empty -> text key=value lines */
	GSN_CTL_STATS = 3,        /* empty -> text key=value lines */
	GSN_CTL_HARP_LIST = 4,    /* empty -> text, one entry per line */
	GSN_CTL_HARP_ADD = 5,     /* struct gsn_ctl_harp_add -> empty */
	GSN_CTL_HARP_DEL = 6,     /* struct gsn_ctl_ipv4 -> empty */
	GSN_CTL_HARP_RESOLVE = 7, /* struct gsn_ctl_resolve -> struct gsn_ctl_ula */
	GSN_CTL_ADMIN = 8,        /* struct gsn_ctl_admin_req -> struct gsn_ctl_admin_resp */
	GSN_CTL_RAW_BIND = 9,     /* struct gsn_ctl_bind -> empty */
	GSN_CTL_RAW_SEND = 10,    /* struct gsn_ctl_raw -> empty */
	GSN_CTL_RAW_RECV = 11,    /* gsnd -> client, seq 0: struct gsn_ctl_raw */
	GSN_CTL_LINK_WAIT = 12,   /* struct gsn_ctl_timeout -> empty, or -ETIMEDOUT */
	GSN_CTL_GEN = 13,         /* struct gsn_ctl_gen -> empty (then gsnd generates traffic) */
	GSN_CTL_TYPE_COUNT
};

/*
 * Device commands (kernel-uapi/gsn/dev_abi.h, GSN_DEV_CMD_*) use the types
 * GSN_CTL_DEV_FIRST .. GSN_CTL_DEV_FIRST + GSN_CTL_DEV_COUNT - 1; the server
 * dispatches them through gsn_ctl_server_ops.dev_handlers.
 */
#define GSN_CTL_DEV_FIRST 64u
#define GSN_CTL_DEV_COUNT 16u

const char *gsn_ctl_type_name(unsigned type); /* "HELLO", ... or "?" */

struct gsn_ctl_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t seq;
	int32_t status;
	uint32_t body_len;
};

void gsn_ctl_hdr_encode(const struct gsn_ctl_hdr *h, uint8_t out[GSN_CTL_HDR_LEN]);
/*
 * Decodes the header of a whole record of len bytes: -EBADMSG if shorter
 * than 16 or body_len != len - 16 or body_len > GSN_CTL_BODY_MAX,
 * -EPROTONOSUPPORT for another version (h is filled anyway, so the
 * answer can echo type and seq).
 */
int gsn_ctl_hdr_decode(const uint8_t *buf, size_t len, struct gsn_ctl_hdr *h);

/* ---- bodies (all fixed-size ones: exact length, else -EBADMSG) ---- */

#define GSN_CTL_HARP_STATIC 0x01u

struct gsn_ctl_harp_add { /* 12 bytes: ip[4] ula[6] flags[1] 0[1] */
	uint8_t ip[4];
	uint8_t ula[6];
	uint8_t flags;
};
#define GSN_CTL_HARP_ADD_LEN 12u
size_t gsn_ctl_harp_add_encode(const struct gsn_ctl_harp_add *b, uint8_t *out);
int gsn_ctl_harp_add_decode(const uint8_t *buf, size_t len, struct gsn_ctl_harp_add *b);

struct gsn_ctl_ipv4 { /* 4 bytes */
	uint8_t ip[4];
};
#define GSN_CTL_IPV4_LEN 4u
size_t gsn_ctl_ipv4_encode(const struct gsn_ctl_ipv4 *b, uint8_t *out);
int gsn_ctl_ipv4_decode(const uint8_t *buf, size_t len, struct gsn_ctl_ipv4 *b);

struct gsn_ctl_resolve { /* 8 bytes: ip[4] timeout_ms[4] (0: gsnd's default) */
	uint8_t ip[4];
	uint32_t timeout_ms;
};
#define GSN_CTL_RESOLVE_LEN 8u
size_t gsn_ctl_resolve_encode(const struct gsn_ctl_resolve *b, uint8_t *out);
int gsn_ctl_resolve_decode(const uint8_t *buf, size_t len, struct gsn_ctl_resolve *b);

struct gsn_ctl_ula { /* 6 bytes */
	uint8_t ula[6];
};
#define GSN_CTL_ULA_LEN 6u
size_t gsn_ctl_ula_encode(const struct gsn_ctl_ula *b, uint8_t *out);
int gsn_ctl_ula_decode(const uint8_t *buf, size_t len, struct gsn_ctl_ula *b);

enum gsn_ctl_admin_mode {
	GSN_CTL_ADMIN_TO_ULA = 0,   /* gsnd finds the way to ula */
	GSN_CTL_ADMIN_BY_ROUTE = 1, /* hops and route[] as given */
};

/*
 * 40 bytes: mode[1] hops[1] cmd[1] 0[1] timeout_ms[4] ula[6] 0[2]
 * route[8] args[16].  mode is 0 or 1 and hops at most 8, else -EINVAL.
 */
struct gsn_ctl_admin_req {
	uint8_t mode;
	uint8_t hops;
	uint8_t cmd;
	uint32_t timeout_ms;
	uint8_t ula[6];
	uint8_t route[8];
	uint8_t args[16];
};
#define GSN_CTL_ADMIN_REQ_LEN 40u
size_t gsn_ctl_admin_req_encode(const struct gsn_ctl_admin_req *b, uint8_t *out);
int gsn_ctl_admin_req_decode(const uint8_t *buf, size_t len, struct gsn_ctl_admin_req *b);

struct gsn_ctl_admin_resp { /* 40 bytes: admin[32] (the answer's data bytes) rtt_ns[8] */
	uint8_t admin[32];
	uint64_t rtt_ns;
};
#define GSN_CTL_ADMIN_RESP_LEN 40u
size_t gsn_ctl_admin_resp_encode(const struct gsn_ctl_admin_resp *b, uint8_t *out);
int gsn_ctl_admin_resp_decode(const uint8_t *buf, size_t len, struct gsn_ctl_admin_resp *b);

#define GSN_CTL_BIND_UNBIND 0x0001u
struct gsn_ctl_bind { /* 4 bytes: ethertype[2] flags[2] */
	uint16_t ethertype;
	uint16_t flags;
};
#define GSN_CTL_BIND_LEN 4u
size_t gsn_ctl_bind_encode(const struct gsn_ctl_bind *b, uint8_t *out);
int gsn_ctl_bind_decode(const uint8_t *buf, size_t len, struct gsn_ctl_bind *b);

/*
 * RAW_SEND and RAW_RECV: 16 bytes vc[1] 0[1] ethertype[2] dst[6] src[6],
 * then 0..GSN_CTL_RAW_DATA_MAX bytes of payload.  RAW_SEND's src is
 * ignored (gsnd sends from its own ULA); vc > 3 is -EINVAL.
 */
struct gsn_ctl_raw {
	uint8_t vc;
	uint16_t ethertype;
	uint8_t dst[6];
	uint8_t src[6];
	const uint8_t *data; /* decode: points into the buffer */
	size_t len;
};
/* Writes the 16-byte head only; the caller appends data.  Returns 16. */
size_t gsn_ctl_raw_encode_head(const struct gsn_ctl_raw *b, uint8_t *out);
int gsn_ctl_raw_decode(const uint8_t *buf, size_t len, struct gsn_ctl_raw *b);

struct gsn_ctl_timeout { /* 4 bytes */
	uint32_t timeout_ms;
};
#define GSN_CTL_TIMEOUT_LEN 4u
size_t gsn_ctl_timeout_encode(const struct gsn_ctl_timeout *b, uint8_t *out);
int gsn_ctl_timeout_decode(const uint8_t *buf, size_t len, struct gsn_ctl_timeout *b);

/*
 * GEN: 16 bytes dst[6] vc[1] 0[1] size[4] count[4].  gsnd answers at once
 * and then sends count Messages of size payload bytes, EtherType 0x88B6
 * (the test sink's), to dst on vc, as fast as credits allow.  vc > 3 is
 * -EINVAL.
 */
struct gsn_ctl_gen {
	uint8_t dst[6];
	uint8_t vc;
	uint32_t size;
	uint32_t count;
};
#define GSN_CTL_GEN_LEN 16u
size_t gsn_ctl_gen_encode(const struct gsn_ctl_gen *b, uint8_t *out);
int gsn_ctl_gen_decode(const uint8_t *buf, size_t len, struct gsn_ctl_gen *b);

/* ---- text bodies: "key=value\n" lines ---- */

/* 0 if buf is acceptable text (printable ASCII, '\t', '\n'; no NUL), else -EBADMSG. */
int gsn_ctl_text_check(const uint8_t *buf, size_t len);

struct gsn_ctl_kv {
	const char *key;
	size_t key_len;
	const char *val;
	size_t val_len;
};

/*
 * Iterates the lines of a text body from *pos: 1 with *kv filled, 0 at the
 * end, -EBADMSG for a non-empty line without '=' or an empty key.
 */
int gsn_ctl_kv_next(const uint8_t *buf, size_t len, size_t *pos, struct gsn_ctl_kv *kv);
/* Copies the value of the first line whose key is key (NUL-terminated); -ENOENT, -ENOSPC. */
int gsn_ctl_kv_get(const uint8_t *buf, size_t len, const char *key, char *out, size_t outlen);

/* Appends formatted text at buf[*off] (NUL kept); -ENOSPC when it does not fit. */
int gsn_ctl_textf(char *buf, size_t cap, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- paths ---- */

/*
 * The run directory: $GSN_RUNDIR, else $XDG_RUNTIME_DIR/gsn, else
 * /tmp/gsn-$UID.  0 or -ENAMETOOLONG.
 */
int gsn_ctl_rundir(char *buf, size_t len);
/*
 * Makes sure dir exists as a directory owned by this user: creates it
 * (mode 0700) if missing, refuses (-EPERM) one owned by somebody else or
 * writable by others.
 */
int gsn_ctl_rundir_ensure(const char *dir);
/* dir/element.sock; -EINVAL for a bad element name, -ENAMETOOLONG past sun_path. */
int gsn_ctl_sock_path(const char *dir, const char *element, char *buf, size_t len);

/* ---- server (gsnd) ---- */

struct gsn_ctl_server;
struct gsn_ctl_client;

/*
 * Handles one request; body is valid during the call.  Return 0 when it
 * has answered (gsn_ctl_reply) or will answer later (keep the client's id,
 * not its pointer), or -errno to make the server answer with that status
 * and an empty body.
 */
typedef int (*gsn_ctl_handler_fn)(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
				  const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len,
				  void *arg);

struct gsn_ctl_server_ops {
	gsn_ctl_handler_fn handlers[GSN_CTL_TYPE_COUNT]; /* NULL: -EOPNOTSUPP */
	/* [type - GSN_CTL_DEV_FIRST] for the device commands; NULL: -EOPNOTSUPP */
	gsn_ctl_handler_fn dev_handlers[GSN_CTL_DEV_COUNT];
	void (*connected)(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, void *arg);
	/* The client is going away: forget its id and anything it owned. */
	void (*disconnected)(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, void *arg);
	/*
	 * The client's outbound queue passed half of GSN_CTL_QUEUE_MAX
	 * (congested = true: stop producing for it, e.g. stop returning
	 * credits) or has drained (false).  While congested the server stops
	 * reading that client's requests.
	 */
	void (*backlog)(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, bool congested,
			void *arg);
};

/*
 * Listens on path (mode 0600; a stale socket nobody answers on is
 * replaced; one in use is -EADDRINUSE).  ops is copied.
 */
int gsn_ctl_server_new(struct gsn_loop *loop, const char *path,
		       const struct gsn_ctl_server_ops *ops, void *arg, const struct gsn_log *log,
		       struct gsn_ctl_server **out);
/* Disconnects every client (calling disconnected), unlinks the path. */
void gsn_ctl_server_free(struct gsn_ctl_server *srv);

/*
 * Sends a message to c: at once if the socket takes it, else queued.
 * 0, -ENOBUFS (queue full: not sent), -EMSGSIZE, -ENOTCONN (client gone).
 */
int gsn_ctl_send(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, uint16_t type,
		 uint32_t seq, int32_t status, const void *body, size_t len);
/* The response to request h. */
int gsn_ctl_reply(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		  const struct gsn_ctl_hdr *h, int32_t status, const void *body, size_t len);
/* Closes c's connection (deferred when inside one of c's callbacks). */
void gsn_ctl_server_drop(struct gsn_ctl_server *srv, struct gsn_ctl_client *c);

/* Clients are also known by a 64-bit id that is never reused. */
uint64_t gsn_ctl_client_id(const struct gsn_ctl_client *c);
struct gsn_ctl_client *gsn_ctl_server_client(struct gsn_ctl_server *srv, uint64_t id);
const struct ucred *gsn_ctl_client_cred(const struct gsn_ctl_client *c);
void gsn_ctl_client_set_data(struct gsn_ctl_client *c, void *data);
void *gsn_ctl_client_data(const struct gsn_ctl_client *c);
bool gsn_ctl_client_congested(const struct gsn_ctl_client *c);
size_t gsn_ctl_client_queued(const struct gsn_ctl_client *c); /* bytes waiting */
/* The client's socket, for messages with fds (ctl_fds.h's gsn_ctl_reply_fds). */
#define GSN_CTL_HAVE_CLIENT_FD 1
int gsn_ctl_client_fd(const struct gsn_ctl_client *c);

struct gsn_ctl_server_stats {
	uint64_t accepted, refused; /* refused: over GSN_CTL_CLIENTS_MAX */
	uint64_t requests, bad_requests, replies, queued, dropped;
	size_t clients;
};
void gsn_ctl_server_get_stats(const struct gsn_ctl_server *srv, struct gsn_ctl_server_stats *out);

/* ---- client (tools) ---- */

struct gsn_ctl_conn;

/* Called for messages that are not the awaited response (RAW_RECV...). */
typedef void (*gsn_ctl_async_fn)(void *arg, const struct gsn_ctl_hdr *h, const uint8_t *body,
				 size_t len);

/* Connects to rundir/element.sock (rundir NULL: gsn_ctl_rundir()). */
int gsn_ctl_connect(const char *rundir, const char *element, struct gsn_ctl_conn **out);
int gsn_ctl_connect_path(const char *path, struct gsn_ctl_conn **out);
void gsn_ctl_close(struct gsn_ctl_conn *c);
int gsn_ctl_conn_fd(const struct gsn_ctl_conn *c);
void gsn_ctl_set_async(struct gsn_ctl_conn *c, gsn_ctl_async_fn fn, void *arg);

/* Sends a request with the next seq (returned in *seq); waits up to timeout_ms to send. */
int gsn_ctl_send_request(struct gsn_ctl_conn *c, uint16_t type, const void *body, size_t len,
			 uint32_t *seq, int timeout_ms);
/*
 * Receives one message within timeout_ms (0: only if one is there, -1:
 * forever).  *body points into c's buffer until the next receive.
 * 0, -ETIMEDOUT, -ECONNRESET (gsnd went away), -EBADMSG, -EPROTONOSUPPORT.
 */
int gsn_ctl_recv(struct gsn_ctl_conn *c, struct gsn_ctl_hdr *h, const uint8_t **body,
		 size_t *len, int timeout_ms);
/*
 * Request and response: sends, then receives until the response with the
 * same type and seq (others go to the async callback).  0 with *h (check
 * h->status) and the body, or a transport error as above.
 */
int gsn_ctl_call(struct gsn_ctl_conn *c, uint16_t type, const void *req, size_t req_len,
		 struct gsn_ctl_hdr *h, const uint8_t **resp, size_t *resp_len, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* GSN_CTL_H */
