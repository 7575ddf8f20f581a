/* SPDX-License-Identifier: MIT */
/*
 * STATUS and STATS text (docs/gsnd.md "Counters").  Every line is
 * key=value; the keys named in docs/gsnd.md are a contract (tests and
 * gsnstat read them), others may be added freely.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "element.h"

#define FULL_CAP (1u << 20) /* all of STATS, before the prefix filter */

void gsnd_ula_str(const uint8_t *ula, bool has, char out[GSN_ULA_STRLEN])
{
	if (has)
		gsn_ula_format(ula, out);
	else
		snprintf(out, GSN_ULA_STRLEN, "-");
}

static bool element_ula(const struct gsnd *d, uint8_t ula[GSN_ULA_LEN])
{
	if (d->sw) {
		memcpy(ula, d->sw->ula, GSN_ULA_LEN);
		return true;
	}
	memcpy(ula, d->ep->ula, GSN_ULA_LEN);
	return d->ep->has_ula;
}

static const char *role_name(const struct gsnd *d)
{
	return d->ep ? "endpoint" : "switch";
}

/* ---- STATUS ---- */

size_t gsnd_status_text(const struct gsnd *d, char *buf, size_t cap)
{
	uint8_t ula[GSN_ULA_LEN];
	char s[GSN_ULA_STRLEN];
	size_t off = 0;
	bool has = element_ula(d, ula);

	buf[0] = '\0';
	gsnd_ula_str(ula, has, s);
	gsn_ctl_textf(buf, cap, &off, "name=%s\nrole=%s\nula=%s\nports=%u\n", d->cfg.name,
		      role_name(d), s, d->cfg.nports);
	for (unsigned p = 0; p < d->cfg.nports; p++)
		gsn_ctl_textf(buf, cap, &off, "link.%u=%s\n", p, gsnd_port_up(d, p) ? "up" : "down");
	gsn_ctl_textf(buf, cap, &off, "ready=%d\npid=%d\nversion=%s\nuptime_ms=%llu\n",
		      gsnd_is_ready(d), (int)getpid(), GSN_VERSION,
		      (unsigned long long)((gsnd_now(d) - d->start_ns) / GSND_NS_PER_MS));
	if (d->ep && d->cfg.has_ip)
		gsn_ctl_textf(buf, cap, &off, "ip=%u.%u.%u.%u\n", d->cfg.ip >> 24,
			      (d->cfg.ip >> 16) & 0xff, (d->cfg.ip >> 8) & 0xff, d->cfg.ip & 0xff);
	return off;
}

/* ---- STATS: per port ---- */

static void lower(const char *in, char *out, size_t len)
{
	size_t i = 0;

	for (; in[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

#define U(x) ((unsigned long long)(x))

static void link_stats(const struct gsn_link *l, unsigned p, char *buf, size_t cap,
		       size_t *off)
{
	struct gsn_link_stats s;
	char state[16];

	gsn_link_stats(l, &s);
	lower(gsn_link_state_name(s.state), state, sizeof(state));
	gsn_ctl_textf(buf, cap, off,
		      "port%u.link.state=%s\nport%u.link.incarnation=0x%08x\n"
		      "port%u.link.peer_incarnation=0x%08x\nport%u.link.tseq=%u\n"
		      "port%u.link.rseq=%u\nport%u.link.unacked=%u\nport%u.link.window=%u\n",
		      p, state, p, s.incarnation, p, s.peer_incarnation, p, s.tseq, p, s.rseq, p,
		      s.unacked, p, s.window);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		gsn_ctl_textf(buf, cap, off,
			      "port%u.link.tx_credits.vc%u=%u\nport%u.link.rx_credits.vc%u=%u\n"
			      "port%u.link.rx_held.vc%u=%u\nport%u.link.rx_return_pending.vc%u=%u\n",
			      p, vc, s.tx_credits[vc], p, vc, s.rx_credits_out[vc], p, vc,
			      s.rx_held[vc], p, vc, s.rx_return_pending[vc]);
	gsn_ctl_textf(buf, cap, off,
		      "port%u.link.mpkts_sent=%llu\nport%u.link.mpkts_received=%llu\n"
		      "port%u.link.frames_sent=%llu\nport%u.link.frames_received=%llu\n"
		      "port%u.link.bytes_sent=%llu\nport%u.link.bytes_received=%llu\n"
		      "port%u.link.retransmits=%llu\nport%u.link.retx_timeouts=%llu\n"
		      "port%u.link.retx_dupacks=%llu\nport%u.link.lcrc_errors=%llu\n"
		      "port%u.link.resets=%llu\nport%u.link.ups=%llu\n",
		      p, U(s.mpkts_sent), p, U(s.mpkts_rcvd), p, U(s.frames_sent), p,
		      U(s.frames_rcvd), p, U(s.bytes_sent), p, U(s.bytes_rcvd), p, U(s.retx_mpkts),
		      p, U(s.retx_timeouts), p, U(s.retx_dupacks), p, U(s.lcrc_errors), p,
		      U(s.resets), p, U(s.ups));
	gsn_ctl_textf(buf, cap, off,
		      "port%u.link.seq_sent=%llu\nport%u.link.seq_delivered=%llu\n"
		      "port%u.link.handshakes_sent=%llu\nport%u.link.null_sent=%llu\n"
		      "port%u.link.credit_sent=%llu\nport%u.link.credit_probes_sent=%llu\n"
		      "port%u.link.tx_frame_errors=%llu\nport%u.link.eagain_credit=%llu\n"
		      "port%u.link.eagain_window=%llu\nport%u.link.eagain_pace=%llu\n",
		      p, U(s.seq_sent), p, U(s.seq_delivered), p, U(s.handshakes_sent), p,
		      U(s.null_sent), p, U(s.credit_sent), p, U(s.credit_probes_sent), p,
		      U(s.tx_frame_errors), p, U(s.eagain_credit), p, U(s.eagain_window), p,
		      U(s.eagain_pace));
	for (unsigned r = 0; r < GSN_LINK_DROP_MAX; r++)
		gsn_ctl_textf(buf, cap, off, "port%u.link.drops.%s=%llu\n", p,
			      gsn_link_drop_name((enum gsn_link_drop)r), U(s.drops[r]));
}

static void cable_stats(const struct gsn_cable *top, unsigned p, char *buf, size_t cap,
			size_t *off)
{
	const struct gsn_cable *bottom = gsn_cable_bottom((struct gsn_cable *)top);
	char prefix[32];

	gsn_ctl_textf(buf, cap, off, "port%u.cable.kind=%s\n", p, bottom->ops->kind);
	snprintf(prefix, sizeof(prefix), "port%u.cable.", p);
	*off += gsn_cable_stats_format(&bottom->stats, prefix, buf + *off, cap - *off);
	snprintf(prefix, sizeof(prefix), "port%u.", p);
	*off += gsn_filter_stats_format(top, prefix, buf + *off, cap - *off);
}

static void xbar_stats(const struct gsnd *d, unsigned p, char *buf, size_t cap, size_t *off)
{
	struct gsn_xbar_port_stats s;

	if (gsn_xbar_port_stats(d->sw->xbar, p, &s))
		return;
	gsn_ctl_textf(buf, cap, off,
		      "port%u.xbar.rx_mpkts=%llu\nport%u.xbar.rx_msgs=%llu\n"
		      "port%u.xbar.tx_mpkts=%llu\nport%u.xbar.tx_msgs=%llu\n"
		      "port%u.xbar.admin_rx=%llu\nport%u.xbar.bcast_msgs=%llu\n"
		      "port%u.xbar.aborts_sent=%llu\nport%u.xbar.lock_waits=%llu\n",
		      p, U(s.rx_mpkts), p, U(s.rx_msgs), p, U(s.tx_mpkts), p, U(s.tx_msgs), p,
		      U(s.admin_rx), p, U(s.bcast_msgs), p, U(s.aborts_sent), p, U(s.lock_waits));
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		gsn_ctl_textf(buf, cap, off,
			      "port%u.xbar.held.vc%u=%u\nport%u.xbar.held_max.vc%u=%u\n"
			      "port%u.xbar.lock_owner.vc%u=%d\n",
			      p, vc, s.held[vc], p, vc, s.held_max[vc], p, vc, s.lock_owner[vc]);
	for (unsigned r = 0; r < GSN_XBAR_DROP_MAX; r++)
		gsn_ctl_textf(buf, cap, off, "port%u.xbar.drops.%s=%llu\n", p,
			      gsn_xbar_drop_name((enum gsn_xbar_drop)r), U(s.drops[r]));
}

static void port_stats(const struct gsnd *d, unsigned p, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_port *pt = &d->port[p];

	if (!pt->link) {
		gsn_ctl_textf(buf, cap, off, "port%u.link.state=down\nport%u.cable.kind=none\n", p,
			      p);
		return;
	}
	link_stats(pt->link, p, buf, cap, off);
	cable_stats(pt->cable, p, buf, cap, off);
	if (d->sw)
		xbar_stats(d, p, buf, cap, off);
}

/* ---- STATS: endpoint ---- */

static void msg_stats(const struct gsn_msg *m, char *buf, size_t cap, size_t *off)
{
	struct gsn_msg_stats s;

	gsn_msg_stats(m, &s);
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		gsn_ctl_textf(buf, cap, off,
			      "msg.sent.vc%u=%llu\nmsg.received.vc%u=%llu\n"
			      "msg.bytes_sent.vc%u=%llu\nmsg.bytes_received.vc%u=%llu\n"
			      "msg.tx_queued.vc%u=%u\nmsg.rx_used.vc%u=%u\nmsg.rx_held.vc%u=%u\n"
			      "msg.rx_unreleased.vc%u=%u\n",
			      vc, U(s.tx_msgs[vc]), vc, U(s.rx_msgs[vc]), vc, U(s.tx_bytes[vc]), vc,
			      U(s.rx_bytes[vc]), vc, s.tx_queued[vc], vc, s.rx_used[vc], vc,
			      s.rx_held[vc], vc, s.rx_unreleased[vc]);
	gsn_ctl_textf(buf, cap, off,
		      "msg.ecrc_errors=%llu\nmsg.tx_mpkts=%llu\nmsg.rx_mpkts=%llu\n"
		      "msg.tx_aborted=%llu\nmsg.tx_eagain=%llu\nmsg.admin_rx=%llu\n"
		      "msg.admin_tx=%llu\n",
		      U(s.ecrc_errors), U(s.tx_mpkts), U(s.rx_mpkts), U(s.tx_aborted),
		      U(s.tx_eagain), U(s.admin_rx), U(s.admin_tx));
	for (unsigned r = 0; r < GSN_MSG_DROP_MAX; r++)
		gsn_ctl_textf(buf, cap, off, "msg.drops.%s=%llu\n",
			      gsn_msg_drop_name((enum gsn_msg_drop)r), U(s.drops[r]));
}

static void admin_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	struct gsn_admin_stats s;

	gsn_admin_get_stats(d->admin, &s);
	gsn_ctl_textf(buf, cap, off,
		      "admin.received=%llu\nadmin.forwarded=%llu\nadmin.answered=%llu\n"
		      "admin.invalid=%llu\nadmin.bad_route=%llu\nadmin.malformed=%llu\n"
		      "admin.requests_sent=%llu\nadmin.resp_matched=%llu\n"
		      "admin.resp_unmatched=%llu\nadmin.timeouts=%llu\nadmin.send_errors=%llu\n",
		      U(s.received), U(s.forwarded), U(s.answered), U(s.invalid), U(s.bad_route),
		      U(s.malformed), U(s.requests_sent), U(s.resp_matched), U(s.resp_unmatched),
		      U(s.timeouts), U(s.send_errors));
}

static void endpoint_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_endpoint *ep = d->ep;
	char peer[GSN_ULA_STRLEN];

	msg_stats(ep->msg, buf, cap, off);
	gsnd_harp_stats(d, buf, cap, off);
	admin_stats(d, buf, cap, off);
	gsnd_ula_str(ep->peer.ula, ep->peer.known, peer);
	gsn_ctl_textf(buf, cap, off,
		      "admin.ula_source=%s\nadmin.setup=%s\nadmin.setup_runs=%llu\n"
		      "admin.ula_changes=%llu\nadmin.announce_errors=%llu\n"
		      "admin.peer_role=%s\nadmin.peer_ula=%s\nadmin.peer_port=%d\n",
		      gsnd_ula_source_name(ep->ula_source), gsnd_setup_name(ep->setup),
		      U(ep->setup_runs), U(ep->ula_changes), U(ep->announce_errors),
		      !ep->peer.known ? "-"
		      : ep->peer.role == GSN_ADMIN_ROLE_SWITCH ? "switch"
							     : "endpoint",
		      peer, ep->peer.known ? ep->peer.our_port : -1);
	gsnd_traffic_stats(d, buf, cap, off);
	gsnd_raw_stats(d, buf, cap, off);
	gsnd_dev_stats(d, buf, cap, off);
}

/* ---- STATS: switch ---- */

static void switch_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_switch *sw = d->sw;
	struct gsn_route_stats r;

	gsn_route_get_stats(sw->route, &r);
	gsn_ctl_textf(buf, cap, off,
		      "route.entries=%zu\nroute.broadcast=%d\nroute.lookups=%llu\n"
		      "route.unicast=%llu\nroute.flooded=%llu\nroute.drop_unknown=%llu\n"
		      "route.drop_broadcast=%llu\nroute.drop_group=%llu\nroute.drop_hairpin=%llu\n"
		      "route.learned=%llu\nroute.moved=%llu\nroute.evicted=%llu\n"
		      "route.assigned=%llu\nroute.full=%llu\n",
		      gsn_route_count(sw->route), gsn_route_broadcast(sw->route), U(r.lookups),
		      U(r.unicast), U(r.flooded), U(r.drop_unknown), U(r.drop_broadcast),
		      U(r.drop_group), U(r.drop_hairpin), U(r.learned), U(r.moved), U(r.evicted),
		      U(r.assigned), U(r.full));
	admin_stats(d, buf, cap, off);
	gsn_ctl_textf(buf, cap, off, "admin.queued=%llu\nadmin.queue_drops=%llu\n",
		      U(sw->admin_queued), U(sw->admin_dropped));
}

/* ---- STATS ---- */

static void common_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	uint8_t ula[GSN_ULA_LEN];
	char s[GSN_ULA_STRLEN];
	struct gsn_loop_stats ls;
	struct gsn_ctl_server_stats cs;

	gsnd_ula_str(ula, element_ula(d, ula), s);
	gsn_loop_get_stats(d->loop, &ls);
	gsn_ctl_server_get_stats(d->ctl, &cs);
	gsn_ctl_textf(buf, cap, off, "role=%s\nname=%s\nula=%s\nports=%u\nready=%d\n",
		      role_name(d), d->cfg.name, s, d->cfg.nports, gsnd_is_ready(d));
	gsn_ctl_textf(buf, cap, off,
		      "loop.iterations=%llu\nloop.fd_events=%llu\nloop.timers_fired=%llu\n"
		      "loop.deadlines_fired=%llu\nctl.clients=%zu\nctl.requests=%llu\n"
		      "ctl.bad_requests=%llu\nctl.queued=%llu\nctl.dropped=%llu\n",
		      U(ls.iterations), U(ls.fd_events), U(ls.timers_fired),
		      U(ls.deadlines_fired), cs.clients, U(cs.requests), U(cs.bad_requests),
		      U(cs.queued), U(cs.dropped));
}

static size_t all_stats(const struct gsnd *d, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	common_stats(d, buf, cap, &off);
	if (d->ep)
		endpoint_stats(d, buf, cap, &off);
	else
		switch_stats(d, buf, cap, &off);
	/* ports last: a big switch's answer is cut there (ask for "portN.") */
	for (unsigned p = 0; p < d->cfg.nports; p++)
		port_stats(d, p, buf, cap, &off);
	return off;
}

/* Copies the lines of in whose key starts with prefix, whole lines only. */
static size_t filter_lines(const char *in, size_t len, const char *prefix, char *out,
			   size_t cap)
{
	size_t plen = prefix ? strlen(prefix) : 0, off = 0;

	for (size_t pos = 0; pos < len;) {
		const char *line = in + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) + 1 : len - pos;

		pos += n;
		if (plen && (n < plen || memcmp(line, prefix, plen) != 0))
			continue;
		if (off + n >= cap)
			break;
		memcpy(out + off, line, n);
		off += n;
	}
	out[off] = '\0';
	return off;
}

size_t gsnd_stats_text(const struct gsnd *d, const char *prefix, char *buf, size_t cap)
{
	char *full = malloc(FULL_CAP);

	if (!full) {
		buf[0] = '\0';
		return 0;
	}
	size_t n = all_stats(d, full, FULL_CAP);

	n = filter_lines(full, n, prefix, buf, cap);
	free(full);
	return n;
}
