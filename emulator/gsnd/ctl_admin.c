/* SPDX-License-Identifier: MIT */
/*
 * The ADMIN control command (docs/ctl.md): an Admin request on behalf of a
 * client (gsnping), answered with the answer's 32 data bytes and the round
 * trip time.
 *
 * Mode BY_ROUTE sends the request as given: from an endpoint out of its
 * port with hops and route; from a switch route[0] is the switch's own
 * output port and the rest (hops - 1 bytes) the route beyond.
 *
 * Mode TO_ULA finds the way first, hop by hop: what-are-you to the element
 * at the current path; if it is the target, the request goes there; if it
 * is a switch, which-port (0x09) for the target extends the path by that
 * port; anything else is -EHOSTUNREACH.  From an endpoint the path starts
 * at the element on its cable (hop 0: a directly cabled peer, or the
 * switch); from a switch at its route table's port for the target.  So with
 * one switch: what-are-you (hop 0), which-port (hop 0), what-are-you
 * (hop 1), then the request (hop 1).
 *
 * An unanswered step is sent again (the Admin element gives up after
 * 500 ms) until the command's own timeout (default 1 s).  The answer's byte
 * 0 (its hop count, always 0 on arrival) is replaced by the number of hops
 * the request travelled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define COMP "admin"
#define OPS_MAX 32u

enum op_step { STEP_PROBE, STEP_WHICH, STEP_FINAL };

struct gsnd_admin_op {
	struct gsnd_admin_op *next;
	struct gsnd *d;
	struct gsnd_reply to;
	struct gsn_ctl_admin_req req;
	enum op_step step;
	unsigned out_port;
	unsigned k; /* hops of the current path */
	uint8_t path[GSN_ADMIN_MAX_HOPS];
	bool calling;
	uint32_t tag;
	uint64_t deadline;
	struct gsn_timer timer;
};

static void op_send(struct gsnd_admin_op *op);

static unsigned ops_count(const struct gsnd *d)
{
	unsigned n = 0;

	for (const struct gsnd_admin_op *op = d->admin_ops; op; op = op->next)
		n++;
	return n;
}

static void op_unlink(struct gsnd_admin_op *op)
{
	for (struct gsnd_admin_op **pp = &op->d->admin_ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			return;
		}
}

static void op_free(struct gsnd_admin_op *op)
{
	struct gsnd *d = op->d;

	op_unlink(op);
	if (op->calling)
		gsnd_admin_call_cancel(d, op->tag);
	gsn_loop_timer_cancel(d->loop, &op->timer);
	free(op);
}

static void op_finish(struct gsnd_admin_op *op, int status, const struct gsn_admin *resp,
		      uint64_t rtt_ns)
{
	struct gsn_ctl_admin_resp r = {.rtt_ns = rtt_ns};
	uint8_t body[GSN_CTL_ADMIN_RESP_LEN] = {0};

	op->calling = false;
	if (status == 0) {
		gsn_admin_encode(resp, r.admin);
		r.admin[0] = (uint8_t)(op->req.mode == GSN_CTL_ADMIN_TO_ULA ? op->k : op->req.hops);
		gsn_ctl_admin_resp_encode(&r, body);
	}
	gsnd_reply_later(op->d, &op->to, status, body, status == 0 ? sizeof(body) : 0);
	op_free(op);
}

/* The element at the path answered what-are-you. */
static void op_probed(struct gsnd_admin_op *op, const struct gsn_admin *resp)
{
	if (gsn_ula_equal(resp->args + 2, op->req.ula)) {
		op->step = STEP_FINAL;
	} else if (resp->args[0] == GSN_ADMIN_ROLE_SWITCH && op->k < GSN_ADMIN_MAX_HOPS) {
		op->step = STEP_WHICH;
	} else {
		op_finish(op, -EHOSTUNREACH, NULL, 0);
		return;
	}
	op_send(op);
}

/* A switch on the path said which port leads to the target. */
static void op_which(struct gsnd_admin_op *op, const struct gsn_admin *resp)
{
	if (gsn_admin_is_error(resp) || resp->args[6] == GSN_ADMIN_NO_PORT) {
		op_finish(op, -EHOSTUNREACH, NULL, 0);
		return;
	}
	op->path[op->k++] = resp->args[6];
	op->step = STEP_PROBE;
	op_send(op);
}

static void op_answer(struct gsnd *d, void *arg, int result, const struct gsn_admin *resp,
		      uint64_t rtt_ns)
{
	struct gsnd_admin_op *op = arg;

	op->calling = false;
	if (result == -ETIMEDOUT && gsnd_now(d) < op->deadline) {
		op_send(op); /* the Admin element gave up on it: once more */
		return;
	}
	if (result) {
		op_finish(op, result, NULL, 0);
		return;
	}
	switch (op->step) {
	case STEP_PROBE:
		if (gsn_admin_is_error(resp))
			op_finish(op, -EHOSTUNREACH, NULL, 0);
		else
			op_probed(op, resp);
		break;
	case STEP_WHICH:
		op_which(op, resp);
		break;
	case STEP_FINAL:
		op_finish(op, 0, resp, rtt_ns);
		break;
	}
}

static void op_send(struct gsnd_admin_op *op)
{
	uint8_t args[GSN_ADMIN_ARGS_LEN] = {0};
	uint8_t cmd = GSN_ADMIN_WHAT_ARE_YOU;

	if (op->step == STEP_WHICH) {
		cmd = GSN_ADMIN_WHICH_PORT;
		memcpy(args, op->req.ula, GSN_ULA_LEN);
	} else if (op->step == STEP_FINAL) {
		cmd = op->req.cmd;
		memcpy(args, op->req.args, sizeof(args));
	}
	int err = gsnd_admin_call(op->d, op->out_port, op->k, op->path, cmd, args, op_answer, op,
				  &op->tag);

	op->calling = err == 0;
	if (err)
		op_finish(op, err, NULL, 0);
}

static void op_timeout(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	op_finish(arg, -ETIMEDOUT, NULL, 0);
}

/* Where the request starts and how: 0 or -errno. */
static int op_plan(struct gsnd *d, struct gsnd_admin_op *op)
{
	const struct gsn_ctl_admin_req *q = &op->req;

	if (q->mode == GSN_CTL_ADMIN_BY_ROUTE) {
		op->step = STEP_FINAL;
		if (d->ep) {
			op->k = q->hops;
			memcpy(op->path, q->route, q->hops);
			return 0;
		}
		if (q->hops == 0)
			return -EINVAL; /* a switch needs route[0]: its own output port */
		op->out_port = q->route[0];
		op->k = q->hops - 1u;
		memcpy(op->path, q->route + 1, op->k);
		return 0;
	}
	op->step = STEP_PROBE;
	if (d->ep)
		return d->ep->has_ula && gsn_ula_equal(d->ep->ula, q->ula) ? -EINVAL : 0;
	if (gsn_ula_equal(d->sw->ula, q->ula))
		return -EINVAL;
	int port = gsnd_sw_route(d, q->ula);

	if (port < 0)
		return -EHOSTUNREACH;
	op->out_port = (unsigned)port;
	return 0;
}

static int op_check(const struct gsnd *d, const struct gsnd_admin_op *op)
{
	static const uint8_t zero[GSN_ULA_LEN];

	if (op->req.cmd == 0 || op->req.cmd > 0x7f)
		return -EINVAL;
	if (op->req.mode == GSN_CTL_ADMIN_TO_ULA &&
	    (gsn_ula_is_group(op->req.ula) || gsn_ula_equal(op->req.ula, zero)))
		return -EINVAL;
	if (op->out_port >= d->cfg.nports)
		return -EINVAL;
	return gsnd_port_up(d, op->out_port) ? 0 : -ENETDOWN;
}

int gsnd_ctl_admin(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		   const uint8_t *body, size_t len)
{
	struct gsnd_admin_op *op;
	int err;

	if (ops_count(d) >= OPS_MAX)
		return -EBUSY;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	err = gsn_ctl_admin_req_decode(body, len, &op->req);
	if (!err)
		err = op_plan(d, op);
	if (!err)
		err = op_check(d, op);
	if (err) {
		free(op);
		return err;
	}
	op->d = d;
	gsnd_reply_to(&op->to, c, h);
	uint64_t ms = op->req.timeout_ms ? op->req.timeout_ms : GSND_ADMIN_DEFAULT_MS;

	op->deadline = gsnd_now(d) + ms * GSND_NS_PER_MS;
	gsn_timer_init(&op->timer, op_timeout, op);
	gsn_loop_timer_at(d->loop, &op->timer, op->deadline, 0);
	op->next = d->admin_ops;
	d->admin_ops = op;
	op_send(op);
	return 0;
}

void gsnd_ctl_admin_client_gone(struct gsnd *d, uint64_t client)
{
	struct gsnd_admin_op *op = d->admin_ops;

	while (op) {
		struct gsnd_admin_op *next = op->next;

		if (op->to.client == client)
			op_free(op);
		op = next;
	}
}

void gsnd_ctl_admin_fini(struct gsnd *d)
{
	while (d->admin_ops)
		op_free(d->admin_ops);
}
