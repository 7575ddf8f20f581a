/* SPDX-License-Identifier: MIT */
/*
 * Virtual Connections: listeners, Request_Connection / Connection_Answer with
 * parameter negotiation and refusal, teardown RD -> DA -> DC, and the VC
 * timers (connect retries, manual-accept deadline, disconnect retries,
 * TIME_WAIT).
 *
 *   initiator: CONNECTING --CA--> OPEN --st_disconnect--> CLOSING --DA--> TIME_WAIT --> gone
 *   responder: (RC) [ACCEPTING --st_accept-->] OPEN --RD--> CLOSE_WAIT --DC--> gone
 */
#include "st_int.h"

#define ST_ETHERTYPE_ST 0x8181

/* ---- allocation ---------------------------------------------------------------- */

static void vc_timer_fire(st_engine *eng, struct st_timer *t);

static struct st_vc *vc_alloc(st_engine *eng)
{
	uint32_t p = eng->port_hint;
	for (uint32_t n = 0; n < eng->vcs_cap; n++, p++) {
		if (p == 0 || p >= eng->vcs_cap)
			p = 1;
		if (!eng->vcs[p])
			break;
	}
	if (p == 0 || p >= eng->vcs_cap || eng->vcs[p])
		return NULL;
	struct st_vc *vc = calloc(1, sizeof(*vc));
	if (!vc)
		return NULL;
	vc->port = (uint16_t)p;
	vc->local_key = st_new_key(eng);
	vc->our_grant = eng->cfg.slots;
	vc->next_id = 1;
	vc->peer_win.floor = 1;
	st_timer_init(&vc->timer, vc_timer_fire);
	st_mem_vc_init(vc);
	st_su_vc_init(vc);
	eng->vcs[p] = vc;
	eng->vc_count++;
	eng->port_hint = (uint16_t)(p + 1);
	return vc;
}

void st_vc_destroy(st_engine *eng, struct st_vc *vc)
{
	st_timer_cancel(eng, &vc->timer);
	st_mem_vc_release(eng, vc);
	st_su_vc_release(eng, vc);
	st_idmap_free(&vc->local);
	st_idmap_free(&vc->remote);
	eng->vcs[vc->port] = NULL;
	eng->vc_count--;
	free(vc);
}

/* Finishes every request with status; the VC stays, marked dying. */
static void vc_flush(st_engine *eng, struct st_vc *vc, int status)
{
	vc->dying = true;
	while (vc->reqs) {
		struct st_req *r = vc->reqs;
		r->ops->on_finish(eng, r, status);
		if (vc->reqs == r) /* a module that forgot to free must not hang us */
			st_req_free(eng, r);
	}
}

static void emit_vc_event(st_engine *eng, struct st_vc *vc, enum st_event_type type, int status,
			  int reason)
{
	struct st_event ev = {0};
	ev.type = type;
	ev.status = status;
	ev.reason = reason;
	ev.vc = vc->port;
	ev.user_ctx = vc->user_ctx;
	ev.slots = vc->peer_slots;
	ev.uport = vc->initiator ? vc->peer_uport : vc->local_uport;
	ev.ethertype = vc->ethertype;
	memcpy(ev.peer, vc->peer, ST_ULA_LEN);
	st_emit(eng, &ev);
}

void st_vc_fail(st_engine *eng, struct st_vc *vc, int status)
{
	enum st_vc_state state = vc->state;
	vc_flush(eng, vc, ST_ERR_FLUSHED);
	if (state == ST_VC_CONNECTING)
		emit_vc_event(eng, vc, ST_EV_REFUSED, status, ST_REJ_NONE);
	else if (state == ST_VC_OPEN || state == ST_VC_CLOSING || state == ST_VC_ACCEPTING)
		emit_vc_event(eng, vc, ST_EV_CLOSED, status, ST_REJ_NONE);
	/* CLOSE_WAIT and TIME_WAIT already reported ST_EV_CLOSED */
	st_vc_destroy(eng, vc);
}

static void vc_arm(st_engine *eng, struct st_vc *vc, uint64_t timeouts)
{
	st_timer_arm(eng, &vc->timer, st_now(eng) + timeouts * eng->cfg.op_timeout_ns);
}

/* ---- listeners ------------------------------------------------------------------- */

static struct st_listener *listener_find(st_engine *eng, uint32_t uport)
{
	for (struct st_listener *l = eng->listeners; l; l = l->next)
		if (l->uport == uport)
			return l;
	return NULL;
}

int st_listen(st_engine *eng, uint32_t uport, const struct st_listen_params *p)
{
	if (!eng)
		return -EINVAL;
	if (listener_find(eng, uport))
		return -EADDRINUSE;
	struct st_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->uport = uport;
	if (p)
		l->p = *p;
	l->next = eng->listeners;
	eng->listeners = l;
	return 0;
}

int st_unlisten(st_engine *eng, uint32_t uport)
{
	if (!eng)
		return -EINVAL;
	for (struct st_listener **pp = &eng->listeners; *pp; pp = &(*pp)->next) {
		if ((*pp)->uport == uport) {
			struct st_listener *l = *pp;
			*pp = l->next;
			free(l);
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- connection set-up ------------------------------------------------------------- */

static void send_request_connection(st_engine *eng, struct st_vc *vc)
{
	struct st_hdr h = {0};
	h.op = ST_OP_REQUEST_CONNECTION;
	h.s_port = vc->port;
	h.param = vc->our_grant;
	h.b_id = vc->ethertype;
	h.bufx = eng->cfg.bufsize_log2;
	h.offset = vc->local_key;
	h.sync = eng->cfg.max_stu_log2;
	h.d_id = vc->peer_uport;
	h.s_id = vc->local_uport;
	st_send_hdr(eng, vc, &h, NULL, 0);
}

static void send_connection_answer(st_engine *eng, struct st_vc *vc)
{
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_CONNECTION_ANSWER);
	h.param = vc->our_grant;
	h.bufx = eng->cfg.bufsize_log2;
	h.offset = vc->local_key;
	h.sync = eng->cfg.max_stu_log2;
	h.d_id = vc->peer_uport;
	h.s_id = vc->local_uport;
	st_send_hdr(eng, vc, &h, NULL, 0);
}

/* Refusal of a Request_Connection, with or without a VC of ours behind it. */
static void send_refusal(st_engine *eng, struct st_vc *vc, const uint8_t dst[ST_ULA_LEN],
			 const struct st_hdr *rc, enum st_reject_reason reason)
{
	struct st_hdr h = {0};
	h.op = ST_OP_CONNECTION_ANSWER;
	h.flags = ST_FLAG_REJECT;
	h.d_port = rc->s_port;
	h.d_key = rc->offset;
	h.param = (uint16_t)reason;
	h.d_id = rc->s_id;
	h.s_id = rc->d_id;
	eng->ctr.rejects_sent++;
	if (vc)
		vc->ctr.rejects_sent++;
	st_send_to(eng, vc, dst, &h, NULL, 0);
}

int st_connect(st_engine *eng, const struct st_connect_params *p, uint64_t user_ctx, uint16_t *port)
{
	if (!eng || !p || !port)
		return -EINVAL;
	struct st_vc *vc = vc_alloc(eng);
	if (!vc)
		return -ENOSPC;
	memcpy(vc->peer, p->peer, ST_ULA_LEN);
	vc->peer_uport = p->uport;
	vc->local_uport = p->local_uport;
	vc->ethertype = p->ethertype ? p->ethertype : ST_ETHERTYPE_ST;
	vc->initiator = true;
	vc->user_ctx = user_ctx;
	vc->state = ST_VC_CONNECTING;
	send_request_connection(eng, vc);
	vc_arm(eng, vc, 1);
	*port = vc->port;
	return 0;
}

static bool size_exp_ok(uint32_t e)
{
	return e >= 6 && e <= 31;
}

/* A repeated Request_Connection: the VC it created, if any. */
static struct st_vc *find_accepted(st_engine *eng, const uint8_t src[ST_ULA_LEN],
				   const struct st_hdr *h)
{
	for (uint32_t p = 1; p < eng->vcs_cap; p++) {
		struct st_vc *vc = eng->vcs[p];
		if (vc && !vc->initiator && vc->peer_port == h->s_port &&
		    vc->peer_key == h->offset && memcmp(vc->peer, src, ST_ULA_LEN) == 0)
			return vc;
	}
	return NULL;
}

static void vc_open(st_engine *eng, struct st_vc *vc)
{
	vc->state = ST_VC_OPEN;
	st_timer_cancel(eng, &vc->timer);
	send_connection_answer(eng, vc);
	emit_vc_event(eng, vc, ST_EV_CONNECTED, ST_OK, ST_REJ_NONE);
}

void st_conn_on_request(st_engine *eng, const uint8_t src[ST_ULA_LEN], const struct st_hdr *h)
{
	struct st_vc *dup = find_accepted(eng, src, h);
	if (dup) {
		if (dup->state == ST_VC_OPEN)
			send_connection_answer(eng, dup);
		st_count_drop(eng, dup, ST_DROP_DUPLICATE);
		return;
	}
	if (h->s_port == 0 || h->offset == 0 || !size_exp_ok(h->bufx) || !size_exp_ok(h->sync) ||
	    h->d_port != 0 || h->d_key != 0) {
		st_count_drop(eng, NULL, ST_DROP_BAD_PARAM);
		send_refusal(eng, NULL, src, h, ST_REJ_BAD_PARAM);
		return;
	}
	struct st_listener *l = listener_find(eng, h->d_id);
	if (!l) {
		send_refusal(eng, NULL, src, h, ST_REJ_NO_LISTENER);
		return;
	}
	if (l->p.ethertype && l->p.ethertype != h->b_id) {
		send_refusal(eng, NULL, src, h, ST_REJ_ETHERTYPE);
		return;
	}
	struct st_vc *vc = vc_alloc(eng);
	if (!vc) {
		st_count_drop(eng, NULL, ST_DROP_RESOURCES);
		send_refusal(eng, NULL, src, h, ST_REJ_RESOURCES);
		return;
	}
	memcpy(vc->peer, src, ST_ULA_LEN);
	vc->peer_port = h->s_port;
	vc->peer_key = h->offset;
	vc->peer_uport = h->s_id;
	vc->local_uport = h->d_id;
	vc->ethertype = h->b_id;
	vc->peer_bufsize_log2 = (uint8_t)h->bufx;
	vc->peer_max_stu_log2 = (uint8_t)h->sync;
	vc->peer_slots = h->param;
	vc->ctr.ops_received[ST_OP_REQUEST_CONNECTION]++;
	if (!l->p.manual_accept) {
		vc_open(eng, vc);
		return;
	}
	vc->state = ST_VC_ACCEPTING;
	/* the initiator gives up after its retries; so do we */
	vc_arm(eng, vc, (uint64_t)eng->cfg.retries + 2);
	emit_vc_event(eng, vc, ST_EV_CONNECT_REQUEST, ST_OK, ST_REJ_NONE);
}

int st_accept(st_engine *eng, uint16_t port)
{
	struct st_vc *vc = eng ? st_vc_get(eng, port) : NULL;
	if (!vc)
		return -ENOENT;
	if (vc->state != ST_VC_ACCEPTING)
		return -EINVAL;
	vc_open(eng, vc);
	return 0;
}

int st_refuse(st_engine *eng, uint16_t port, enum st_reject_reason reason)
{
	struct st_vc *vc = eng ? st_vc_get(eng, port) : NULL;
	if (!vc)
		return -ENOENT;
	if (vc->state != ST_VC_ACCEPTING)
		return -EINVAL;
	struct st_hdr rc = {0};
	rc.s_port = vc->peer_port;
	rc.offset = vc->peer_key;
	rc.s_id = vc->peer_uport;
	rc.d_id = vc->local_uport;
	send_refusal(eng, vc, vc->peer, &rc, reason ? reason : ST_REJ_REFUSED);
	st_vc_destroy(eng, vc);
	return 0;
}

void st_conn_on_answer(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	if (vc->state != ST_VC_CONNECTING) {
		st_count_drop(eng, vc, vc->state == ST_VC_OPEN ? ST_DROP_DUPLICATE : ST_DROP_BAD_STATE);
		return;
	}
	if (h->flags & ST_FLAG_REJECT) {
		vc->ctr.rejects_received++;
		eng->ctr.rejects_received++;
		emit_vc_event(eng, vc, ST_EV_REFUSED, ST_ERR_REFUSED, h->param);
		st_vc_destroy(eng, vc);
		return;
	}
	if (h->s_port == 0 || h->offset == 0 || !size_exp_ok(h->bufx) || !size_exp_ok(h->sync)) {
		st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
		emit_vc_event(eng, vc, ST_EV_REFUSED, ST_ERR_REFUSED, ST_REJ_BAD_PARAM);
		st_vc_destroy(eng, vc);
		return;
	}
	vc->peer_port = h->s_port;
	vc->peer_key = h->offset;
	vc->peer_bufsize_log2 = (uint8_t)h->bufx;
	vc->peer_max_stu_log2 = (uint8_t)h->sync;
	vc->peer_slots = h->param;
	vc->state = ST_VC_OPEN;
	st_timer_cancel(eng, &vc->timer);
	emit_vc_event(eng, vc, ST_EV_CONNECTED, ST_OK, ST_REJ_NONE);
}

/* ---- teardown ---------------------------------------------------------------------- */

static void send_simple(st_engine *eng, struct st_vc *vc, unsigned op)
{
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, op);
	st_send_hdr(eng, vc, &h, NULL, 0);
}

int st_disconnect(st_engine *eng, uint16_t port)
{
	struct st_vc *vc = eng ? st_vc_get(eng, port) : NULL;
	if (!vc)
		return -ENOENT;
	switch (vc->state) {
	case ST_VC_CONNECTING:
		st_vc_fail(eng, vc, ST_ERR_FLUSHED);
		return 0;
	case ST_VC_ACCEPTING:
		return st_refuse(eng, port, ST_REJ_REFUSED);
	case ST_VC_OPEN:
		break;
	default:
		return -EALREADY;
	}
	vc_flush(eng, vc, ST_ERR_FLUSHED);
	vc->state = ST_VC_CLOSING;
	vc->tries = 0;
	send_simple(eng, vc, ST_OP_REQUEST_DISCONNECT);
	vc_arm(eng, vc, 1);
	return 0;
}

static void enter_time_wait(st_engine *eng, struct st_vc *vc)
{
	vc->state = ST_VC_TIME_WAIT;
	send_simple(eng, vc, ST_OP_DISCONNECT_COMPLETE);
	vc_arm(eng, vc, (uint64_t)eng->cfg.retries + 1);
	emit_vc_event(eng, vc, ST_EV_CLOSED, ST_OK, ST_REJ_NONE);
}

static void on_request_disconnect(st_engine *eng, struct st_vc *vc)
{
	switch (vc->state) {
	case ST_VC_OPEN:
		vc_flush(eng, vc, ST_ERR_FLUSHED);
		vc->state = ST_VC_CLOSE_WAIT;
		vc->tries = 0;
		send_simple(eng, vc, ST_OP_DISCONNECT_ANSWER);
		vc_arm(eng, vc, 1);
		emit_vc_event(eng, vc, ST_EV_CLOSED, ST_OK, ST_REJ_NONE);
		break;
	case ST_VC_CLOSE_WAIT: /* our DA was lost */
	case ST_VC_CLOSING:    /* both ends closing at once */
	case ST_VC_TIME_WAIT:  /* the peer's RD crossed our DC */
		send_simple(eng, vc, ST_OP_DISCONNECT_ANSWER);
		break;
	default:
		st_count_drop(eng, vc, ST_DROP_BAD_STATE);
	}
}

void st_conn_on_disconnect_op(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	switch (h->op) {
	case ST_OP_REQUEST_DISCONNECT:
		on_request_disconnect(eng, vc);
		break;
	case ST_OP_DISCONNECT_ANSWER:
		if (vc->state == ST_VC_CLOSING)
			enter_time_wait(eng, vc);
		else if (vc->state == ST_VC_TIME_WAIT)
			send_simple(eng, vc, ST_OP_DISCONNECT_COMPLETE);
		else
			st_count_drop(eng, vc, ST_DROP_BAD_STATE);
		break;
	case ST_OP_DISCONNECT_COMPLETE:
		if (vc->state == ST_VC_CLOSE_WAIT)
			st_vc_destroy(eng, vc);
		else
			st_count_drop(eng, vc, ST_DROP_BAD_STATE);
		break;
	default:
		break;
	}
}

/* ---- VC timer ------------------------------------------------------------------------ */

static bool vc_retry(st_engine *eng, struct st_vc *vc)
{
	if (vc->tries < eng->cfg.retries) {
		vc->tries++;
		st_count_retransmit(eng, vc);
		return true;
	}
	vc->ctr.timeouts++;
	eng->ctr.timeouts++;
	return false;
}

static void vc_timer_fire(st_engine *eng, struct st_timer *t)
{
	struct st_vc *vc = ST_CONTAINER_OF(t, struct st_vc, timer);
	switch (vc->state) {
	case ST_VC_CONNECTING:
		if (!vc_retry(eng, vc)) {
			st_vc_fail(eng, vc, ST_ERR_TIMEOUT);
			return;
		}
		send_request_connection(eng, vc);
		vc_arm(eng, vc, 1);
		break;
	case ST_VC_CLOSING:
		if (!vc_retry(eng, vc)) {
			st_vc_fail(eng, vc, ST_ERR_TIMEOUT);
			return;
		}
		send_simple(eng, vc, ST_OP_REQUEST_DISCONNECT);
		vc_arm(eng, vc, 1);
		break;
	case ST_VC_CLOSE_WAIT:
		if (!vc_retry(eng, vc)) {
			st_vc_destroy(eng, vc);
			return;
		}
		send_simple(eng, vc, ST_OP_DISCONNECT_ANSWER);
		vc_arm(eng, vc, 1);
		break;
	case ST_VC_ACCEPTING:
		vc->ctr.timeouts++;
		eng->ctr.timeouts++;
		st_vc_fail(eng, vc, ST_ERR_TIMEOUT);
		break;
	case ST_VC_TIME_WAIT:
		st_vc_destroy(eng, vc);
		break;
	case ST_VC_OPEN:
		break;
	}
}
