/* SPDX-License-Identifier: MIT */
/*
 * gsnd: one emulated GSN element (docs/gsnd.md).  This header is shared by
 * the files of the program, one per responsibility:
 *
 *	main.c          flags, environment, start-up and shut-down
 *	port.c          per port: cable + filters + link, their loop wiring
 *	endpoint.c      endpoint role: msg, Admin, ULA, link-up set-up, Messages
 *	switch.c        switch role: crossbar, route table, Admin, learning
 *	admin_req.c     our own Admin requests (tags, callbacks)
 *	ctl_admin.c     the control socket's ADMIN command (route discovery)
 *	harp_glue.c     the HARP instance, server names, pending resolutions
 *	raw.c           RAW_BIND/RAW_SEND/RAW_RECV, back-pressure on clients
 *	traffic.c       the test sink (EtherType 0x88B6) and the GEN generator
 *	ctl_handlers.c  the control socket: handlers, LINK_WAIT, clients
 *	stats.c         STATUS and STATS text
 *	dev*.c          the device server (dev.h, docs/device.md)
 *
 * Everything hangs off one struct gsnd; there are no globals.  Nothing
 * here is thread-safe: gsnd is one thread and one event loop.
 */
#ifndef GSND_ELEMENT_H
#define GSND_ELEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gsn/message.h>

#include "admin.h"
#include "cable.h"
#include "ctl.h"
#include "filter.h"
#include "harp.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "route.h"
#include "xbar.h"

#ifndef GSN_VERSION
#define GSN_VERSION "0.1.0"
#endif

/*
 * IEEE 802 "local experimental" EtherType 2: UD datagrams of the device
 * (PDUs starting with the "GSUD" magic, gsn/ud_wire.h), and the test sink
 * and GEN (everything else).
 */
#define GSN_ETHERTYPE_TEST 0x88B6u

#define GSND_MAX_PORTS GSN_XBAR_MAX_PORTS /* 64 */
#define GSND_SWITCH_PORTS 8u            /* --ports default of a switch, as in fabric files */
#define GSND_MAX_FILTERS 64u             /* --filter options in all */
#define GSND_RUNDIR_MAX 200u
#define GSND_LINK_WAIT_DEFAULT_MS 10000u /* LINK_WAIT with timeout 0 */
#define GSND_ADMIN_DEFAULT_MS 1000u      /* ADMIN with timeout 0 */
#define GSND_RESOLVE_DEFAULT_MS 10000u   /* HARP_RESOLVE with timeout 0 */
#define GSND_PACE_BYTES_PER_SEC 800000000ull /* --pace on: GSN's 6.4 Gb/s */
/*
 * Links between processes see wake-up latencies of tens of microseconds, so
 * the bytes in flight bound throughput: 16384 micropackets (512 KiB of data)
 * per window and per VC's credits keeps a link busy (docs/bench.md).
 */
#define GSND_DEFAULT_WINDOW 16384u
#define GSND_DEFAULT_CREDITS 16384u
#define GSND_NS_PER_MS 1000000ull

enum gsnd_role { GSND_ENDPOINT, GSND_SWITCH };

struct gsnd_filter_opt {
	unsigned port;
	const char *spec;
};

/* The command line, resolved (strings point into argv). */
struct gsnd_config {
	enum gsnd_role role;
	const char *name;
	unsigned nports;
	bool has_ula;
	uint8_t ula[GSN_ULA_LEN];
	bool has_ip;
	uint32_t ip; /* host order */
	bool harp_server;
	const char *harp_servers[GSN_HARP_MAX_SERVERS]; /* ULAs or element names */
	unsigned n_harp_servers;
	const char *harp_static; /* file, or NULL */
	bool broadcast;
	char rundir[GSND_RUNDIR_MAX];
	const char *cable[GSND_MAX_PORTS]; /* spec per port, NULL: no cable */
	struct gsnd_filter_opt filters[GSND_MAX_FILTERS];
	unsigned nfilters;
	bool pace;
	size_t frame_max; /* 0: the link's default (bounded by the cable's mtu) */
	uint32_t window;  /* --window: go-back-N window in micropackets */
	uint32_t credits; /* --credits: receive buffers announced on VC1..VC3 */
	bool private_mode;          /* --private: exit when the last device client left */
	unsigned private_grace_ms;  /* --private-grace */
	unsigned dev_spin_us;       /* --dev-spin-us: ring polling after activity */
};

/* Where a deferred control answer goes: the client is found again by id. */
struct gsnd_reply {
	uint64_t client;
	uint16_t type;
	uint32_t seq;
};

struct gsnd;

struct gsnd_port {
	struct gsnd *d;
	unsigned index;
	char name[16];            /* "port3", for logs and stats */
	struct gsn_cable *cable;  /* top of the cable's stack; NULL: no cable */
	struct gsn_link *link;    /* NULL when there is no cable */
	int deadline_id;
};

/* ---- endpoint ---- */

enum gsnd_ula_source {
	GSND_ULA_NONE = 0,
	GSND_ULA_CONFIGURED, /* --ula */
	GSND_ULA_ASSIGNED,   /* Admin 0x04 answered by the switch */
	GSND_ULA_SET,        /* Admin 0x03 received */
	GSND_ULA_GENERATED,  /* no switch to ask: random locally administered */
};

/* Link-up set-up of an endpoint (docs/gsnd.md "Wiring"). */
enum gsnd_setup {
	GSND_SETUP_DOWN = 0, /* link not up */
	GSND_SETUP_PROBE,    /* what-are-you sent to the peer */
	GSND_SETUP_ACQUIRE,  /* assign-me-a-ULA sent to the switch */
	GSND_SETUP_ANNOUNCE, /* change-route (our ULA -> our port) sent to the switch */
	GSND_SETUP_DONE,
};

/* What the element on the other end of the cable said about itself. */
struct gsnd_peer {
	bool known;
	uint8_t role; /* enum gsn_admin_role */
	uint8_t nports;
	uint8_t ula[GSN_ULA_LEN];
	uint8_t our_port; /* the port of the peer our cable is on */
};

struct gsnd_harp;
struct gsnd_raw;
struct gsnd_traffic;
struct gsnd_dev;

struct gsnd_endpoint {
	struct gsn_msg *msg;
	bool has_ula;
	uint8_t ula[GSN_ULA_LEN];
	enum gsnd_ula_source ula_source;
	enum gsnd_setup setup;
	unsigned setup_tries;
	uint32_t setup_tag;
	bool setup_call; /* setup_tag is outstanding */
	struct gsn_timer setup_timer;
	struct gsnd_peer peer;
	uint64_t ula_changes;
	uint64_t setup_runs;
	uint64_t announce_errors;
	struct gsnd_harp *harp;
	struct gsnd_raw *raw;
	struct gsnd_traffic *traffic;
	struct gsnd_dev *dev;
};

/* ---- switch ---- */

#define GSND_SW_ADMINQ 16u /* ADMIN micropackets waiting for a credit, per port */

struct gsnd_sw_adminq {
	uint8_t data[GSND_SW_ADMINQ][GSN_ADMIN_LEN];
	unsigned head, tail; /* free-running */
};

struct gsnd_switch {
	struct gsn_xbar *xbar;
	struct gsn_route *route;
	uint8_t ula[GSN_ULA_LEN];
	struct gsnd_sw_adminq adminq[GSND_MAX_PORTS];
	uint64_t admin_queued, admin_dropped, learned_headers;
};

/* ---- the element ---- */

struct gsnd_calls;
struct gsnd_admin_op;
struct gsnd_waiter;

struct gsnd {
	struct gsnd_config cfg;
	struct gsn_log log;
	char log_prefix[64];
	struct gsn_loop *loop;
	struct gsn_ctl_server *ctl;
	struct gsnd_port port[GSND_MAX_PORTS];
	struct gsn_admin_elem *admin;
	int admin_deadline_id;
	int hook_id;
	struct gsnd_calls *calls;
	struct gsnd_admin_op *admin_ops;
	struct gsnd_waiter *waiters;
	struct gsnd_endpoint *ep; /* endpoint role */
	struct gsnd_switch *sw;   /* switch role */
	uint64_t start_ns;
	bool ready;
	bool stopping;
};

/* ---- main.c ---- */
uint64_t gsnd_now(const struct gsnd *d);
/* A random nonzero 32-bit value (getrandom). */
uint32_t gsnd_random32(void);
/* Whether the element is ready: links up, ULA known, set-up and HARP done. */
bool gsnd_is_ready(const struct gsnd *d);

/* ---- port.c ---- */
int gsnd_ports_open(struct gsnd *d);
int gsnd_ports_start(struct gsnd *d);
void gsnd_ports_close(struct gsnd *d);
void gsnd_ports_flush(struct gsnd *d);
bool gsnd_port_cabled(const struct gsnd *d, unsigned p);
bool gsnd_port_up(const struct gsnd *d, unsigned p);
/* Loop deadline wrapper for a pure module: next/expire with NULL-safety. */
int gsnd_add_admin_deadline(struct gsnd *d);

/* ---- endpoint.c ---- */
int gsnd_endpoint_init(struct gsnd *d);
void gsnd_endpoint_fini(struct gsnd *d);
void gsnd_ep_link_rx(struct gsnd *d, const struct gsn_mpkt_ctl *c, const uint8_t data[32]);
void gsnd_ep_link_tx_ready(struct gsnd *d, unsigned vc);
void gsnd_ep_link_event(struct gsnd *d, enum gsn_link_event ev, uint32_t peer_inc);
bool gsnd_ep_ready(const struct gsnd *d);
const char *gsnd_setup_name(enum gsnd_setup s);
const char *gsnd_ula_source_name(enum gsnd_ula_source s);

/* ---- switch.c ---- */
int gsnd_switch_init(struct gsnd *d);
void gsnd_switch_fini(struct gsnd *d);
void gsnd_sw_link_rx(struct gsnd *d, unsigned port, const struct gsn_mpkt_ctl *c,
		     const uint8_t data[32]);
void gsnd_sw_link_tx_ready(struct gsnd *d, unsigned port, unsigned vc);
void gsnd_sw_link_event(struct gsnd *d, unsigned port, enum gsn_link_event ev,
			uint32_t peer_inc);
/* The output port towards ula, or -1. */
int gsnd_sw_route(struct gsnd *d, const uint8_t ula[GSN_ULA_LEN]);

/* ---- admin_req.c: our own Admin requests ---- */
typedef void (*gsnd_admin_cb)(struct gsnd *d, void *arg, int result,
			      const struct gsn_admin *resp, uint64_t rtt_ns);
int gsnd_calls_init(struct gsnd *d);
void gsnd_calls_fini(struct gsnd *d);
/* Sends a request; cb runs once with the answer, -ETIMEDOUT or -ENETDOWN. */
int gsnd_admin_call(struct gsnd *d, unsigned out_port, unsigned hops, const uint8_t *route,
		    uint8_t cmd, const uint8_t *args, gsnd_admin_cb cb, void *arg,
		    uint32_t *tag_out);
/* Forgets an outstanding call without running its callback. */
void gsnd_admin_call_cancel(struct gsnd *d, uint32_t tag);
/* gsn_admin_ops.response */
void gsnd_admin_response(void *ctx, uint32_t tag, int result, const struct gsn_admin *resp,
			 uint64_t rtt_ns);
uint64_t gsnd_admin_now(void *ctx);

/* ---- ctl_admin.c: the ADMIN control command ---- */
int gsnd_ctl_admin(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		   const uint8_t *body, size_t len);
void gsnd_ctl_admin_client_gone(struct gsnd *d, uint64_t client);
void gsnd_ctl_admin_fini(struct gsnd *d);

/* ---- harp_glue.c ---- */
int gsnd_harp_init(struct gsnd *d);
void gsnd_harp_fini(struct gsnd *d);
/* Our ULA is known or changed: (re)creates and starts HARP when possible. */
void gsnd_harp_ula_changed(struct gsnd *d);
bool gsnd_harp_ready(const struct gsnd *d);
void gsnd_harp_input(struct gsnd *d, const uint8_t src[GSN_ULA_LEN], const uint8_t *pdu,
		     size_t len);
struct gsn_harp *gsnd_harp_get(const struct gsnd *d);
int gsnd_ctl_harp_list(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h);
int gsnd_ctl_harp_add(struct gsnd *d, const uint8_t *body, size_t len);
int gsnd_ctl_harp_del(struct gsnd *d, const uint8_t *body, size_t len);
int gsnd_ctl_harp_resolve(struct gsnd *d, struct gsn_ctl_client *c,
			  const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len);
void gsnd_harp_client_gone(struct gsnd *d, uint64_t client);
/* "harp.*" lines. */
void gsnd_harp_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off);

/* ---- raw.c ---- */
int gsnd_raw_init(struct gsnd *d);
void gsnd_raw_fini(struct gsnd *d);
bool gsnd_raw_bound(const struct gsnd *d, uint16_t ethertype);
/* Copies a Message to its bound clients; true when it must be held. */
bool gsnd_raw_deliver(struct gsnd *d, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		      const uint8_t dst[GSN_ULA_LEN], uint16_t ethertype, const uint8_t *pdu,
		      size_t len);
void gsnd_raw_hold(struct gsnd *d, unsigned vc, uint32_t nmpkts);
void gsnd_raw_count_unbound(struct gsnd *d);
int gsnd_ctl_raw_bind(struct gsnd *d, struct gsn_ctl_client *c, const uint8_t *body,
		      size_t len);
int gsnd_ctl_raw_send(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		      const uint8_t *body, size_t len);
void gsnd_raw_client_gone(struct gsnd *d, uint64_t client);
void gsnd_raw_backlog(struct gsnd *d);
void gsnd_raw_tx_space(struct gsnd *d, unsigned vc);
/* From the loop hook: sends what waits for queue space. */
void gsnd_raw_pump(struct gsnd *d);
void gsnd_raw_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off);

/* ---- traffic.c ---- */
int gsnd_traffic_init(struct gsnd *d);
void gsnd_traffic_fini(struct gsnd *d);
void gsnd_sink_input(struct gsnd *d, unsigned vc, size_t len);
int gsnd_ctl_gen(struct gsnd *d, const uint8_t *body, size_t len);
void gsnd_gen_tx_space(struct gsnd *d, unsigned vc);
void gsnd_gen_pump(struct gsnd *d);
void gsnd_traffic_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off);

/* ---- dev*.c: the device server (dev.h, docs/device.md) ---- */
int gsnd_dev_init(struct gsnd *d);
void gsnd_dev_fini(struct gsnd *d);
/* A Message with EtherType 0x8181 (an ST operation). */
void gsnd_dev_input(struct gsnd *d, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		    const uint8_t *pdu, size_t len);
/*
 * A Message with EtherType 0x88B6: false when it is not a UD datagram (no
 * magic: test traffic for the sink), true when the device took it
 * (delivered, or dropped and counted).
 */
bool gsnd_dev_ud_input(struct gsnd *d, const uint8_t src[GSN_ULA_LEN],
		       const uint8_t dst[GSN_ULA_LEN], const uint8_t *pdu, size_t len);
void gsnd_dev_tx_space(struct gsnd *d, unsigned vc);
/* From the loop hook, before the links flush. */
void gsnd_dev_pump(struct gsnd *d);
void gsnd_dev_ctl_handlers(struct gsn_ctl_server_ops *ops);
void gsnd_dev_client_gone(struct gsnd *d, uint64_t client);
void gsnd_dev_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off);
/* --cable 0=loopback: port 0 cabled to an in-process reflector (dev_loop.c). */
bool gsnd_loopback_spec(const char *spec);
int gsnd_loopback_open(struct gsnd *d, struct gsn_cable **out);

/* ---- ctl_handlers.c ---- */
int gsnd_ctl_init(struct gsnd *d);
void gsnd_ctl_fini(struct gsnd *d);
/* Answers a deferred request (if its client is still there). */
void gsnd_reply_later(struct gsnd *d, const struct gsnd_reply *to, int32_t status,
		      const void *body, size_t len);
void gsnd_reply_to(struct gsnd_reply *to, const struct gsn_ctl_client *c,
		   const struct gsn_ctl_hdr *h);
/* From the loop hook: answers LINK_WAIT when the element became ready. */
void gsnd_ctl_poll_ready(struct gsnd *d);

/* ---- stats.c ---- */
/* STATUS text into buf; bytes written. */
size_t gsnd_status_text(const struct gsnd *d, char *buf, size_t cap);
/* STATS text (lines whose key starts with prefix; NULL: all). */
size_t gsnd_stats_text(const struct gsnd *d, const char *prefix, char *buf, size_t cap);
/* "%s" of a ULA, or "-" when none. */
void gsnd_ula_str(const uint8_t *ula, bool has, char out[GSN_ULA_STRLEN]);

#endif /* GSND_ELEMENT_H */
