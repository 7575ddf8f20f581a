/* SPDX-License-Identifier: MIT */
/*
 * Incoming operations: decode, find the VC, check the state, dispatch.
 * The per-operation checks (ranges, keys, access, ids) belong to the module
 * that executes the operation; this file only guarantees that a module sees
 * a well-formed header from the VC's own peer in a state that allows it.
 */
#include "st_int.h"

/* Ops a VC accepts in each state (OPEN accepts everything). */
static bool op_allowed(enum st_vc_state s, unsigned op)
{
	switch (s) {
	case ST_VC_OPEN:
		return true; /* a late Connection_Answer is a duplicate, counted there */
	case ST_VC_CONNECTING:
		return op == ST_OP_CONNECTION_ANSWER;
	case ST_VC_CLOSING:
	case ST_VC_CLOSE_WAIT:
	case ST_VC_TIME_WAIT:
		return op == ST_OP_REQUEST_DISCONNECT || op == ST_OP_DISCONNECT_ANSWER ||
		       op == ST_OP_DISCONNECT_COMPLETE;
	case ST_VC_ACCEPTING:
		return false;
	}
	return false;
}

static uint64_t total_drops(const struct st_counters *c)
{
	uint64_t n = 0;
	for (int i = 0; i < ST_DROP_REASONS; i++)
		n += c->drops[i];
	return n;
}

static struct st_vc *match_vc(st_engine *eng, const uint8_t src[ST_ULA_LEN], const struct st_hdr *h)
{
	struct st_vc *vc = st_vc_get(eng, h->d_port);
	if (!vc || h->d_key != vc->local_key || memcmp(vc->peer, src, ST_ULA_LEN) != 0)
		return NULL;
	/* the initiator learns the peer's port from the Connection_Answer itself */
	if (vc->state == ST_VC_CONNECTING)
		return h->op == ST_OP_CONNECTION_ANSWER ? vc : NULL;
	return h->s_port == vc->peer_port ? vc : NULL;
}

/*
 * An answer, CTS or Data named a request of ours that is not pending: a
 * duplicate if we issued that id once, otherwise a protocol error.
 */
static void unknown_target(st_engine *eng, struct st_vc *vc, const struct st_hdr *h, bool answer_it)
{
	uint32_t age = vc->next_id - h->d_id;
	bool issued = h->d_id != 0 && age != 0 && age < 0x80000000u;
	if (issued) {
		st_count_drop(eng, vc, ST_DROP_DUPLICATE);
		return;
	}
	st_count_drop(eng, vc, ST_DROP_NO_TRANSFER);
	if (answer_it)
		st_send_reject(eng, vc, h->s_id, h->op, ST_REJ_NO_TRANSFER);
}

static void dispatch_to_req(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
			    const uint8_t *payload, size_t plen)
{
	struct st_req *req = st_idmap_get(&vc->local, h->d_id);
	bool is_answer = h->op == ST_OP_REQUEST_ANSWER || h->op == ST_OP_MEMORY_REGION_AVAILABLE;
	if (!req) {
		unknown_target(eng, vc, h, !is_answer);
		return;
	}
	if (is_answer && (h->flags & ST_FLAG_REJECT)) {
		vc->ctr.rejects_received++;
		eng->ctr.rejects_received++;
	}
	switch (h->op) {
	case ST_OP_REQUEST_ANSWER:
	case ST_OP_MEMORY_REGION_AVAILABLE:
		if (req->ops->on_answer) {
			req->ops->on_answer(eng, req, h);
			return;
		}
		break;
	case ST_OP_CLEAR_TO_SEND:
		if (req->ops->on_cts) {
			req->ops->on_cts(eng, req, h);
			return;
		}
		break;
	case ST_OP_DATA:
		if (req->ops->on_data) {
			req->ops->on_data(eng, req, h, payload, plen);
			return;
		}
		break;
	default:
		break;
	}
	st_count_drop(eng, vc, ST_DROP_BAD_PARAM);
}

static void dispatch(st_engine *eng, struct st_vc *vc, const struct st_hdr *h,
		     const uint8_t *payload, size_t plen)
{
	switch (h->op) {
	case ST_OP_CONNECTION_ANSWER:
		st_conn_on_answer(eng, vc, h);
		break;
	case ST_OP_REQUEST_DISCONNECT:
	case ST_OP_DISCONNECT_ANSWER:
	case ST_OP_DISCONNECT_COMPLETE:
		st_conn_on_disconnect_op(eng, vc, h);
		break;
	case ST_OP_NOP:
		break;
	case ST_OP_REQUEST_MEMORY_REGION:
		st_mem_on_rmr(eng, vc, h);
		break;
	case ST_OP_GET:
		st_mem_on_get(eng, vc, h, payload, plen);
		break;
	case ST_OP_REQUEST_TO_SEND:
		st_su_on_rts(eng, vc, h);
		break;
	case ST_OP_REQUEST_TO_RECEIVE:
		st_su_on_rtr(eng, vc, h);
		break;
	case ST_OP_DATA:
		if (h->d_id == 0) {
			st_mem_on_put(eng, vc, h, payload, plen);
			break;
		}
		dispatch_to_req(eng, vc, h, payload, plen);
		break;
	case ST_OP_MEMORY_REGION_AVAILABLE:
	case ST_OP_REQUEST_ANSWER:
	case ST_OP_CLEAR_TO_SEND:
		dispatch_to_req(eng, vc, h, payload, plen);
		break;
	case ST_OP_REQUEST_STATE:
		st_ctrl_on_state_request(eng, vc, h);
		break;
	case ST_OP_REQUEST_STATE_RESPONSE:
		st_ctrl_on_state_response(eng, vc, h);
		break;
	case ST_OP_END:
		st_ctrl_on_end(eng, vc, h);
		break;
	case ST_OP_END_ACK:
		st_ctrl_on_end_ack(eng, vc, h);
		break;
	default:
		break;
	}
}

int st_input(st_engine *eng, const uint8_t src[ST_ULA_LEN], unsigned vcnum,
	     const void *op, size_t len)
{
	if (!eng || !src || (!op && len))
		return -EINVAL;
	struct st_hdr h;
	int rc = st_hdr_decode(op, len, &h);
	if (rc == ST_HDR_TRUNCATED) {
		st_count_drop(eng, NULL, ST_DROP_TRUNCATED);
		return -EMSGSIZE;
	}
	if (rc == ST_HDR_BAD_CKSUM) {
		st_count_drop(eng, NULL, ST_DROP_CKSUM);
		return -EBADMSG;
	}
	const uint8_t *payload = (const uint8_t *)op + ST_HDR_LEN;
	size_t plen = len - ST_HDR_LEN;
	/* control operations travel on VC0; Data on any ST data channel 0..3 */
	if (vcnum > 3 || (h.op != ST_OP_DATA && vcnum != 0)) {
		st_count_drop(eng, NULL, ST_DROP_BAD_PARAM);
		return -EPROTO;
	}

	if (h.op == ST_OP_REQUEST_CONNECTION) {
		eng->ctr.ops_received[h.op]++;
		st_conn_on_request(eng, src, &h);
		return 0;
	}
	struct st_vc *vc = match_vc(eng, src, &h);
	if (!vc) {
		st_count_drop(eng, NULL, st_opcode_valid(h.op) ? ST_DROP_NO_VC : ST_DROP_BAD_OPCODE);
		return -ENOENT;
	}
	if (!st_opcode_valid(h.op)) {
		st_count_drop(eng, vc, ST_DROP_BAD_OPCODE);
		st_send_reject(eng, vc, h.s_id, h.op, ST_REJ_BAD_OPCODE);
		return -EPROTO;
	}
	if (!op_allowed(vc->state, h.op)) {
		st_count_drop(eng, vc, ST_DROP_BAD_STATE);
		return -EPROTO;
	}
	uint16_t port = vc->port;
	uint64_t drops_before = total_drops(&eng->ctr);
	dispatch(eng, vc, &h, payload, plen);
	/* the operation may have closed the VC */
	vc = st_vc_get(eng, port);
	if (total_drops(&eng->ctr) != drops_before)
		return -EPROTO; /* the operation's own checks dropped it (counted there) */
	eng->ctr.ops_received[h.op]++;
	if (vc)
		vc->ctr.ops_received[h.op]++;
	if (vc && vc->state == ST_VC_OPEN && (h.flags & ST_FLAG_SEND_STATE) &&
	    h.op != ST_OP_REQUEST_STATE)
		st_ctrl_send_state(eng, vc, 0);
	return 0;
}
