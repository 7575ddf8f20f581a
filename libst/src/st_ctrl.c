/* SPDX-License-Identifier: MIT */
/*
 * Control operations: Request_State / Request_State_Response (slots and the
 * Send_State flag), and End / End_Ack (abort a transfer, release a region).
 */
#include "st_int.h"

/* ---- Request_State ---------------------------------------------------------------- */

struct st_state_req {
	struct st_req base;
};

static void state_send(st_engine *eng, struct st_req *req)
{
	struct st_hdr h;
	st_hdr_for_vc(req->vc, &h, ST_OP_REQUEST_STATE);
	h.s_id = req->id;
	st_send_hdr(eng, req->vc, &h, NULL, 0);
	st_req_arm(eng, req);
}

static void state_on_timeout(st_engine *eng, struct st_req *req)
{
	if (st_req_retry_or_fail(eng, req))
		state_send(eng, req);
}

static void state_on_finish(st_engine *eng, struct st_req *req, int status)
{
	st_req_complete(eng, req, status, ST_REJ_NONE, 0);
	st_req_free(eng, req);
}

static void plain_destroy(struct st_req *req)
{
	free(req);
}

static const struct st_req_ops state_ops = {
	.on_timeout = state_on_timeout,
	.on_finish = state_on_finish,
	.destroy = plain_destroy,
};

int st_request_state(st_engine *eng, uint16_t port, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_state_req *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (st_req_link(eng, vc, &s->base, &state_ops, ST_REQ_STATE, ST_ROLE_INITIATOR, user_ctx)) {
		free(s);
		return -ENOMEM;
	}
	if (st_req_assign_id(eng, &s->base)) {
		st_req_free(eng, &s->base);
		return -ENOMEM;
	}
	state_send(eng, &s->base);
	return 0;
}

void st_ctrl_send_state(st_engine *eng, struct st_vc *vc, uint32_t answer_to)
{
	struct st_hdr h;
	st_hdr_for_vc(vc, &h, ST_OP_REQUEST_STATE_RESPONSE);
	h.param = vc->our_grant;
	h.offset = st_su_b_seq(vc);
	h.d_id = answer_to;
	st_send_hdr(eng, vc, &h, NULL, 0);
}

void st_ctrl_on_state_request(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	st_ctrl_send_state(eng, vc, h->s_id);
}

void st_ctrl_on_state_response(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	struct st_req *req = NULL;
	if (h->d_id) {
		req = st_idmap_get(&vc->local, h->d_id);
		if (!req || req->kind != ST_REQ_STATE) {
			st_count_drop(eng, vc, req ? ST_DROP_BAD_PARAM : ST_DROP_DUPLICATE);
			return;
		}
	}
	vc->peer_slots = h->param;
	struct st_event ev = {0};
	ev.type = ST_EV_STATE;
	ev.kind = ST_REQ_STATE;
	ev.vc = vc->port;
	ev.slots = h->param;
	ev.b_seq = h->offset;
	ev.user_ctx = req ? req->user_ctx : 0;
	memcpy(ev.peer, vc->peer, ST_ULA_LEN);
	st_emit(eng, &ev);
	if (req)
		st_req_free(eng, req);
	st_slot_pump(eng, vc);
}

int st_set_slots(st_engine *eng, uint16_t port, uint16_t slots)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	vc->our_grant = slots;
	st_ctrl_send_state(eng, vc, 0);
	return 0;
}

/* ---- End / End_Ack ------------------------------------------------------------------ */

/* The End we send and repeat until End_Ack; its own id travels in Bufx. */
struct st_end_req {
	struct st_req base;
	uint32_t target_peer_id; /* D_id: the peer's id for the transfer */
	uint32_t target_own_id;  /* S_id: ours */
	uint16_t mx;             /* B_id: region to release */
};

static void end_send(st_engine *eng, struct st_req *req)
{
	struct st_end_req *e = ST_CONTAINER_OF(req, struct st_end_req, base);
	struct st_hdr h;
	st_hdr_for_vc(req->vc, &h, ST_OP_END);
	h.d_id = e->target_peer_id;
	h.s_id = e->target_own_id;
	h.b_id = e->mx;
	h.bufx = req->id;
	st_send_hdr(eng, req->vc, &h, NULL, 0);
	st_req_arm(eng, req);
}

static void end_on_timeout(st_engine *eng, struct st_req *req)
{
	if (st_req_retry_or_fail(eng, req))
		end_send(eng, req);
}

static const struct st_req_ops end_ops = {
	.on_timeout = end_on_timeout,
	.on_finish = state_on_finish,
	.destroy = plain_destroy,
};

static int end_start(st_engine *eng, struct st_vc *vc, enum st_req_kind kind, uint64_t user_ctx,
		     uint32_t peer_id, uint32_t own_id, uint16_t mx)
{
	struct st_end_req *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->target_peer_id = peer_id;
	e->target_own_id = own_id;
	e->mx = mx;
	if (st_req_link(eng, vc, &e->base, &end_ops, kind, ST_ROLE_INITIATOR, user_ctx)) {
		free(e);
		return -ENOMEM;
	}
	if (st_req_assign_id(eng, &e->base)) {
		st_req_free(eng, &e->base);
		return -ENOMEM;
	}
	end_send(eng, &e->base);
	return 0;
}

/* The ULP-visible operation with user_ctx (not an End or Request_State of ours). */
static struct st_req *find_by_ctx(struct st_vc *vc, uint64_t user_ctx)
{
	for (struct st_req *r = vc->reqs; r; r = r->next) {
		if (r->user_ctx != user_ctx || r->ops == &end_ops || r->kind == ST_REQ_STATE ||
		    r->kind == ST_REQ_NONE)
			continue;
		/* the peer's requests are not ours to name, except our own posted
		 * receives and sources once an RTS/RTR has bound them */
		if (r->role == ST_ROLE_RESPONDER && r->kind != ST_REQ_RECV && r->kind != ST_REQ_SOURCE)
			continue;
		return r;
	}
	return NULL;
}

int st_abort(st_engine *eng, uint16_t port, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	struct st_req *target = find_by_ctx(vc, user_ctx);
	if (!target)
		return -ENOENT;
	uint32_t own_id = target->id, peer_id = target->peer_id;
	target->ops->on_finish(eng, target, ST_ERR_ABORTED);
	if (own_id == 0 && peer_id == 0) {
		/* never reached the wire: nothing to tell the peer */
		struct st_event ev = {0};
		ev.type = ST_EV_COMPLETE;
		ev.kind = ST_REQ_ABORT;
		ev.vc = vc->port;
		ev.user_ctx = user_ctx;
		memcpy(ev.peer, vc->peer, ST_ULA_LEN);
		st_emit(eng, &ev);
		return 0;
	}
	return end_start(eng, vc, ST_REQ_ABORT, user_ctx, peer_id, own_id, 0);
}

int st_region_release(st_engine *eng, uint16_t port, uint64_t rkey, uint64_t user_ctx)
{
	int err;
	struct st_vc *vc = st_vc_open(eng, port, &err);
	if (!vc)
		return err;
	uint16_t mx = st_mem_cached_rmx(vc, rkey);
	if (mx == 0)
		return -ENOENT;
	st_mem_forget_rkey(eng, vc, rkey);
	return end_start(eng, vc, ST_REQ_REGION, user_ctx, 0, 0, mx);
}

void st_ctrl_on_end(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	struct st_req *target = NULL;
	if (h->d_id) {
		target = st_idmap_get(&vc->local, h->d_id);
		if (target && target->ops == &end_ops)
			target = NULL; /* an End never ends an End */
	}
	if (!target && h->s_id) {
		target = st_idmap_get(&vc->remote, h->s_id);
		/* ended before its request arrived: a late copy must not start it */
		if (!target && st_idwin_classify(&vc->peer_win, h->s_id) == ST_ID_NEW)
			st_idwin_mark(&vc->peer_win, h->s_id);
	}
	if (target)
		target->ops->on_finish(eng, target, ST_ERR_ABORTED);
	if (h->b_id)
		st_mem_release_exposure(eng, vc, h->b_id);

	struct st_hdr a;
	st_hdr_for_vc(vc, &a, ST_OP_END_ACK);
	a.bufx = h->bufx;
	a.d_id = h->s_id;
	a.s_id = h->d_id;
	a.b_id = h->b_id;
	st_send_hdr(eng, vc, &a, NULL, 0);
}

void st_ctrl_on_end_ack(st_engine *eng, struct st_vc *vc, const struct st_hdr *h)
{
	struct st_req *req = st_idmap_get(&vc->local, h->bufx);
	if (!req || req->ops != &end_ops) {
		st_count_drop(eng, vc, req ? ST_DROP_BAD_PARAM : ST_DROP_DUPLICATE);
		return;
	}
	st_req_complete(eng, req, ST_OK, ST_REJ_NONE, 0);
	st_req_free(eng, req);
}
