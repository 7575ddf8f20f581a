/* SPDX-License-Identifier: MIT */
/*
 * Admin micropacket processing: hop count and route handling, the endpoint
 * and switch commands, and the requester side (outstanding requests by tag,
 * timeouts, ULA acquisition).  The rules are in admin.h and docs/admin.md.
 */
#include "admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMP "admin"

struct admin_pending {
	bool used;
	bool acquire;          /* our own assign-me-a-ULA */
	uint32_t tag;
	unsigned port;
	unsigned retries_left; /* acquisition resends left */
	uint64_t sent_ns;      /* last transmission */
	uint64_t deadline;
	uint8_t wire[GSN_ADMIN_LEN];
};

struct gsn_admin_elem {
	struct gsn_admin_config cfg;
	struct gsn_admin_ops ops;
	struct admin_pending *pending;
	uint32_t next_tag;
	struct gsn_admin_stats stats;
};

void gsn_admin_config_default(struct gsn_admin_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = GSN_ADMIN_ROLE_ENDPOINT;
	cfg->nports = 1;
	cfg->timeout_ns = 500ull * 1000 * 1000;
	cfg->max_pending = 64;
	cfg->acquire_retries = 3;
}

int gsn_admin_create(const struct gsn_admin_config *cfg, const struct gsn_admin_ops *ops,
		     struct gsn_admin_elem **out)
{
	if (!cfg || !ops || !out || !ops->send || !ops->now_ns)
		return -EINVAL;
	if (cfg->role != GSN_ADMIN_ROLE_ENDPOINT && cfg->role != GSN_ADMIN_ROLE_SWITCH)
		return -EINVAL;
	if (cfg->nports == 0 || cfg->nports > GSN_ADMIN_MAX_PORTS || cfg->max_pending == 0 ||
	    cfg->timeout_ns == 0)
		return -EINVAL;
	struct gsn_admin_elem *adm = calloc(1, sizeof(*adm));
	if (!adm)
		return -ENOMEM;
	adm->pending = calloc(cfg->max_pending, sizeof(*adm->pending));
	if (!adm->pending) {
		free(adm);
		return -ENOMEM;
	}
	adm->cfg = *cfg;
	adm->ops = *ops;
	adm->next_tag = 1;
	*out = adm;
	return 0;
}

void gsn_admin_destroy(struct gsn_admin_elem *adm)
{
	if (!adm)
		return;
	free(adm->pending);
	free(adm);
}

static uint64_t admin_now(const struct gsn_admin_elem *adm)
{
	return adm->ops.now_ns(adm->ops.ctx);
}

static int admin_send(struct gsn_admin_elem *adm, unsigned port, const struct gsn_admin *a)
{
	uint8_t wire[GSN_ADMIN_LEN];

	gsn_admin_encode(a, wire);
	int err = adm->ops.send(adm->ops.ctx, port, wire);
	if (err)
		adm->stats.send_errors++;
	return err;
}

/* ---- answering -------------------------------------------------------- */

/* Turns the request in *a into its answer and sends it back out of in_port. */
static void admin_answer(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a,
			 uint8_t status)
{
	a->hops = a->status; /* elements crossed = route bytes holding the way back */
	a->flags = GSN_ADMIN_F_RESPONSE | (status != GSN_ADMIN_ST_OK ? GSN_ADMIN_F_ERROR : 0);
	a->status = status;
	adm->stats.answered++;
	admin_send(adm, in_port, a);
}

static uint8_t admin_invalid(struct gsn_admin_elem *adm, struct gsn_admin *a)
{
	uint8_t cmd = a->cmd;

	adm->stats.invalid++;
	a->cmd = GSN_ADMIN_INVALID;
	memset(a->args, 0, sizeof(a->args));
	a->args[0] = cmd;
	return GSN_ADMIN_ST_UNSUPPORTED;
}

static bool admin_ula_usable(const uint8_t ula[GSN_ULA_LEN])
{
	static const uint8_t zero[GSN_ULA_LEN];

	return !gsn_ula_is_group(ula) && !gsn_ula_equal(ula, zero);
}

static uint8_t cmd_what_are_you(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	memset(a->args, 0, sizeof(a->args));
	a->args[0] = (uint8_t)adm->cfg.role;
	a->args[1] = (uint8_t)adm->cfg.nports;
	if (adm->cfg.has_ula)
		memcpy(a->args + 2, adm->cfg.ula, GSN_ULA_LEN);
	a->args[8] = (uint8_t)in_port;
	return GSN_ADMIN_ST_OK;
}

static uint8_t cmd_element_addr(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	if (adm->cfg.role != GSN_ADMIN_ROLE_ENDPOINT)
		return admin_invalid(adm, a);
	if (!admin_ula_usable(a->args))
		return GSN_ADMIN_ST_BAD_ARGS;
	gsn_admin_set_ula(adm, a->args);
	GSN_INFO(adm->cfg.log, COMP, "element address set by 0x03");
	if (adm->ops.address)
		adm->ops.address(adm->ops.ctx, in_port, adm->cfg.ula, 0);
	return GSN_ADMIN_ST_OK;
}

static uint8_t cmd_initialize(struct gsn_admin_elem *adm)
{
	if (adm->ops.initialize && adm->ops.initialize(adm->ops.ctx) != 0)
		return GSN_ADMIN_ST_REFUSED;
	return GSN_ADMIN_ST_OK;
}

static uint8_t cmd_assign(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	unsigned port = a->args[6] == GSN_ADMIN_NO_PORT ? in_port : a->args[6];
	uint8_t ula[GSN_ULA_LEN];

	if (port >= adm->cfg.nports)
		return GSN_ADMIN_ST_BAD_PORT;
	int err = gsn_route_assign(adm->cfg.route, port, ula);
	if (err == -EINVAL)
		return GSN_ADMIN_ST_BAD_PORT;
	if (err)
		return GSN_ADMIN_ST_NO_SPACE;
	memset(a->args, 0, sizeof(a->args));
	memcpy(a->args, ula, GSN_ULA_LEN);
	a->args[6] = (uint8_t)port;
	return GSN_ADMIN_ST_OK;
}

static void list_put(const struct gsn_route *rt, size_t index, uint8_t *slot)
{
	struct gsn_route_entry e;

	if (gsn_route_entry_at(rt, index, &e) == 0) {
		slot[0] = (uint8_t)e.port;
		memcpy(slot + 1, e.ula, GSN_ULA_LEN);
	} else {
		slot[0] = GSN_ADMIN_NO_PORT;
		memset(slot + 1, 0, GSN_ULA_LEN);
	}
}

static uint8_t cmd_list(struct gsn_admin_elem *adm, struct gsn_admin *a)
{
	const struct gsn_route *rt = adm->cfg.route;
	size_t first = gsn_get_be16(a->args);
	size_t count = gsn_route_count(rt);
	size_t next = first + GSN_ADMIN_LIST_PER_ANSWER;

	if (next >= count || next > 0xffff)
		next = 0;
	gsn_put_be16(a->args, (uint16_t)next);
	list_put(rt, first, a->args + 2);
	list_put(rt, first + 1, a->args + 9);
	return GSN_ADMIN_ST_OK;
}

static uint8_t cmd_set_route(struct gsn_admin_elem *adm, struct gsn_admin *a)
{
	unsigned port = a->args[6];

	if (!admin_ula_usable(a->args))
		return GSN_ADMIN_ST_BAD_ARGS;
	if (port == GSN_ADMIN_NO_PORT)
		return gsn_route_remove(adm->cfg.route, a->args) ? GSN_ADMIN_ST_NOT_FOUND
								 : GSN_ADMIN_ST_OK;
	if (port >= gsn_route_nports(adm->cfg.route))
		return GSN_ADMIN_ST_BAD_PORT;
	int err = gsn_route_add_static(adm->cfg.route, a->args, port);
	if (err)
		return err == -ENOSPC ? GSN_ADMIN_ST_NO_SPACE : GSN_ADMIN_ST_BAD_ARGS;
	return GSN_ADMIN_ST_OK;
}

static uint8_t cmd_which_port(struct gsn_admin_elem *adm, struct gsn_admin *a)
{
	struct gsn_route_entry e;

	memset(a->args + GSN_ULA_LEN, 0, sizeof(a->args) - GSN_ULA_LEN);
	if (gsn_route_find(adm->cfg.route, a->args, &e) != 0) {
		a->args[6] = GSN_ADMIN_NO_PORT;
		return GSN_ADMIN_ST_NOT_FOUND;
	}
	a->args[6] = (uint8_t)e.port;
	a->args[7] = (uint8_t)e.kind;
	return GSN_ADMIN_ST_OK;
}

/* Switch-only commands that need the table. */
static bool admin_has_table(const struct gsn_admin_elem *adm)
{
	return adm->cfg.role == GSN_ADMIN_ROLE_SWITCH && adm->cfg.route;
}

/* Executes the request in *a (rewriting its args) and returns the status. */
static uint8_t admin_execute(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	switch (a->cmd) {
	case GSN_ADMIN_ARE_YOU_THERE:
		return GSN_ADMIN_ST_OK; /* args echoed */
	case GSN_ADMIN_WHAT_ARE_YOU:
		return cmd_what_are_you(adm, in_port, a);
	case GSN_ADMIN_ELEMENT_ADDR:
		return cmd_element_addr(adm, in_port, a);
	case GSN_ADMIN_INITIALIZE:
		return cmd_initialize(adm);
	case GSN_ADMIN_ASSIGN_ULA:
	case GSN_ADMIN_LIST_ULAS:
	case GSN_ADMIN_SET_ROUTE:
	case GSN_ADMIN_WHICH_PORT:
		break;
	default:
		return admin_invalid(adm, a);
	}
	if (!admin_has_table(adm))
		return admin_invalid(adm, a);
	switch (a->cmd) {
	case GSN_ADMIN_ASSIGN_ULA:
		return cmd_assign(adm, in_port, a);
	case GSN_ADMIN_LIST_ULAS:
		return cmd_list(adm, a);
	case GSN_ADMIN_SET_ROUTE:
		return cmd_set_route(adm, a);
	default:
		return cmd_which_port(adm, a);
	}
}

/* ---- input ------------------------------------------------------------ */

static int admin_malformed(struct gsn_admin_elem *adm, const char *why)
{
	adm->stats.malformed++;
	GSN_DBG(adm->cfg.log, COMP, "malformed: %s", why);
	return -EINVAL;
}

/* An output port for a hop that arrived by in_port. */
static bool admin_hop_ok(const struct gsn_admin_elem *adm, unsigned out, unsigned in_port)
{
	return out < adm->cfg.nports && out != in_port;
}

static int admin_request_in(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	unsigned ptr = a->status;

	if (a->flags & GSN_ADMIN_F_ERROR)
		return admin_malformed(adm, "request with the error flag");
	if (a->hops > GSN_ADMIN_MAX_HOPS || ptr > GSN_ADMIN_ROUTE_LEN ||
	    a->hops + ptr > GSN_ADMIN_ROUTE_LEN)
		return admin_malformed(adm, "hop count beyond the route");
	if (a->hops == 0) {
		uint8_t status = admin_execute(adm, in_port, a);

		admin_answer(adm, in_port, a, status);
		return 0;
	}
	unsigned out = a->route[ptr];
	if (!admin_hop_ok(adm, out, in_port)) {
		adm->stats.bad_route++;
		admin_answer(adm, in_port, a, GSN_ADMIN_ST_BAD_ROUTE);
		return 0;
	}
	a->route[ptr] = (uint8_t)in_port;
	a->status = (uint8_t)(ptr + 1);
	a->hops--;
	adm->stats.forwarded++;
	admin_send(adm, out, a);
	return 0;
}

static struct admin_pending *admin_find(struct gsn_admin_elem *adm, uint32_t tag)
{
	for (unsigned i = 0; i < adm->cfg.max_pending; i++)
		if (adm->pending[i].used && adm->pending[i].tag == tag)
			return &adm->pending[i];
	return NULL;
}

static int admin_errno_of(uint8_t status)
{
	switch (status) {
	case GSN_ADMIN_ST_UNSUPPORTED:
		return -EOPNOTSUPP;
	case GSN_ADMIN_ST_NO_SPACE:
		return -ENOSPC;
	default:
		return -EPROTO;
	}
}

static void admin_acquired(struct gsn_admin_elem *adm, unsigned port, const struct gsn_admin *a)
{
	int status = 0;

	if (gsn_admin_is_error(a))
		status = admin_errno_of(a->status);
	else if (a->cmd != GSN_ADMIN_ASSIGN_ULA || !admin_ula_usable(a->args))
		status = -EPROTO;
	if (status) {
		GSN_WARN(adm->cfg.log, COMP, "ULA acquisition on port %u failed (status %u)", port,
			 a->status);
		if (adm->ops.address)
			adm->ops.address(adm->ops.ctx, port, NULL, status);
		return;
	}
	gsn_admin_set_ula(adm, a->args);
	char s[GSN_ULA_STRLEN];
	gsn_ula_format(adm->cfg.ula, s);
	GSN_INFO(adm->cfg.log, COMP, "ULA %s assigned on port %u", s, port);
	if (adm->ops.address)
		adm->ops.address(adm->ops.ctx, port, adm->cfg.ula, 0);
}

static int admin_response_for_us(struct gsn_admin_elem *adm, unsigned in_port,
				 const struct gsn_admin *a)
{
	struct admin_pending *p = admin_find(adm, a->tag);

	if (!p || p->port != in_port) {
		adm->stats.resp_unmatched++;
		return -ENOENT;
	}
	bool acquire = p->acquire;
	uint64_t rtt = admin_now(adm) - p->sent_ns;

	p->used = false; /* free before the callback: it may send again */
	adm->stats.resp_matched++;
	if (acquire)
		admin_acquired(adm, in_port, a);
	else if (adm->ops.response)
		adm->ops.response(adm->ops.ctx, a->tag, 0, a, rtt);
	return 0;
}

static int admin_response_in(struct gsn_admin_elem *adm, unsigned in_port, struct gsn_admin *a)
{
	if (a->hops > GSN_ADMIN_MAX_HOPS)
		return admin_malformed(adm, "response hop count beyond the route");
	if (a->hops == 0)
		return admin_response_for_us(adm, in_port, a);
	unsigned out = a->route[a->hops - 1];
	if (!admin_hop_ok(adm, out, in_port))
		return admin_malformed(adm, "response route names no port");
	a->hops--;
	adm->stats.forwarded++;
	admin_send(adm, out, a);
	return 0;
}

int gsn_admin_input(struct gsn_admin_elem *adm, unsigned in_port,
		    const uint8_t data[GSN_ADMIN_LEN])
{
	struct gsn_admin a;

	adm->stats.received++;
	if (!data || in_port >= adm->cfg.nports)
		return admin_malformed(adm, "no such input port");
	gsn_admin_decode(data, GSN_ADMIN_LEN, &a);
	if (gsn_admin_is_response(&a))
		return admin_response_in(adm, in_port, &a);
	return admin_request_in(adm, in_port, &a);
}

/* ---- requester -------------------------------------------------------- */

static struct admin_pending *admin_slot(struct gsn_admin_elem *adm)
{
	for (unsigned i = 0; i < adm->cfg.max_pending; i++)
		if (!adm->pending[i].used)
			return &adm->pending[i];
	return NULL;
}

uint32_t gsn_admin_new_tag(struct gsn_admin_elem *adm)
{
	while (admin_find(adm, adm->next_tag))
		adm->next_tag++;
	return adm->next_tag++;
}

static int admin_transmit(struct gsn_admin_elem *adm, struct admin_pending *p)
{
	uint64_t now = admin_now(adm);

	p->sent_ns = now;
	p->deadline = now + adm->cfg.timeout_ns;
	adm->stats.requests_sent++;
	int err = adm->ops.send(adm->ops.ctx, p->port, p->wire);
	if (err)
		adm->stats.send_errors++;
	return err;
}

/* Registers and sends a request; on a send error it is forgotten again. */
static int admin_start(struct gsn_admin_elem *adm, unsigned out_port, const struct gsn_admin *a,
		       bool acquire)
{
	if (admin_find(adm, a->tag))
		return -EBUSY;
	struct admin_pending *p = admin_slot(adm);
	if (!p)
		return -ENOBUFS;
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->acquire = acquire;
	p->tag = a->tag;
	p->port = out_port;
	p->retries_left = acquire ? adm->cfg.acquire_retries : 0;
	gsn_admin_encode(a, p->wire);
	uint32_t tag = a->tag;
	int err = admin_transmit(adm, p);
	if (err) {
		/* the slot may have been answered and reused meanwhile */
		struct admin_pending *q = admin_find(adm, tag);
		if (q)
			q->used = false;
	}
	return err;
}

int gsn_admin_request(struct gsn_admin_elem *adm, unsigned out_port, unsigned hops,
		      const uint8_t *route, uint8_t cmd, const uint8_t *args, uint32_t tag)
{
	struct gsn_admin a;

	if (out_port >= adm->cfg.nports || hops > GSN_ADMIN_MAX_HOPS || (hops && !route) ||
	    cmd == 0)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.hops = (uint8_t)hops;
	a.cmd = cmd;
	a.tag = tag;
	if (route)
		memcpy(a.route, route, hops);
	if (args)
		memcpy(a.args, args, GSN_ADMIN_ARGS_LEN);
	return admin_start(adm, out_port, &a, false);
}

int gsn_admin_cancel(struct gsn_admin_elem *adm, uint32_t tag)
{
	struct admin_pending *p = admin_find(adm, tag);

	if (!p)
		return -ENOENT;
	p->used = false;
	return 0;
}

static bool admin_acquiring(const struct gsn_admin_elem *adm, unsigned port)
{
	for (unsigned i = 0; i < adm->cfg.max_pending; i++) {
		const struct admin_pending *p = &adm->pending[i];

		if (p->used && p->acquire && p->port == port)
			return true;
	}
	return false;
}

int gsn_admin_acquire_ula(struct gsn_admin_elem *adm, unsigned port)
{
	struct gsn_admin a;

	if (adm->cfg.role != GSN_ADMIN_ROLE_ENDPOINT)
		return -EOPNOTSUPP;
	if (port >= adm->cfg.nports)
		return -EINVAL;
	if (admin_acquiring(adm, port))
		return -EALREADY;
	memset(&a, 0, sizeof(a));
	a.cmd = GSN_ADMIN_ASSIGN_ULA;
	a.tag = gsn_admin_new_tag(adm);
	a.args[6] = GSN_ADMIN_NO_PORT;
	return admin_start(adm, port, &a, true);
}

int gsn_admin_link_up(struct gsn_admin_elem *adm, unsigned port)
{
	if (adm->cfg.role != GSN_ADMIN_ROLE_ENDPOINT || adm->cfg.has_ula)
		return 0;
	int err = gsn_admin_acquire_ula(adm, port);
	return err == -EALREADY ? 0 : err;
}

/* Ends pending request p with result (no answer). */
static void admin_fail(struct gsn_admin_elem *adm, struct admin_pending *p, int result)
{
	bool acquire = p->acquire;
	uint32_t tag = p->tag;
	unsigned port = p->port;

	p->used = false;
	if (acquire) {
		GSN_WARN(adm->cfg.log, COMP, "ULA acquisition on port %u failed: %d", port,
			 result);
		if (adm->ops.address)
			adm->ops.address(adm->ops.ctx, port, NULL, result);
	} else if (adm->ops.response) {
		adm->ops.response(adm->ops.ctx, tag, result, NULL, 0);
	}
}

void gsn_admin_link_down(struct gsn_admin_elem *adm, unsigned port)
{
	for (unsigned i = 0; i < adm->cfg.max_pending; i++) {
		struct admin_pending *p = &adm->pending[i];

		if (p->used && p->port == port)
			admin_fail(adm, p, -ENETDOWN);
	}
}

bool gsn_admin_get_ula(const struct gsn_admin_elem *adm, uint8_t ula[GSN_ULA_LEN])
{
	if (adm->cfg.has_ula)
		memcpy(ula, adm->cfg.ula, GSN_ULA_LEN);
	return adm->cfg.has_ula;
}

void gsn_admin_set_ula(struct gsn_admin_elem *adm, const uint8_t ula[GSN_ULA_LEN])
{
	memcpy(adm->cfg.ula, ula, GSN_ULA_LEN);
	adm->cfg.has_ula = true;
}

void gsn_admin_tick(struct gsn_admin_elem *adm)
{
	uint64_t now = admin_now(adm);

	for (unsigned i = 0; i < adm->cfg.max_pending; i++) {
		struct admin_pending *p = &adm->pending[i];

		if (!p->used || p->deadline > now)
			continue;
		if (p->acquire && p->retries_left > 0) {
			p->retries_left--;
			admin_transmit(adm, p);
			continue;
		}
		adm->stats.timeouts++;
		admin_fail(adm, p, -ETIMEDOUT);
	}
}

uint64_t gsn_admin_next_deadline(const struct gsn_admin_elem *adm)
{
	uint64_t d = UINT64_MAX;

	for (unsigned i = 0; i < adm->cfg.max_pending; i++)
		if (adm->pending[i].used && adm->pending[i].deadline < d)
			d = adm->pending[i].deadline;
	return d;
}

void gsn_admin_get_stats(const struct gsn_admin_elem *adm, struct gsn_admin_stats *st)
{
	*st = adm->stats;
}

const char *gsn_admin_cmd_name(unsigned cmd)
{
	switch (cmd) {
	case GSN_ADMIN_ARE_YOU_THERE:
		return "are-you-there";
	case GSN_ADMIN_WHAT_ARE_YOU:
		return "what-are-you";
	case GSN_ADMIN_ELEMENT_ADDR:
		return "here-is-your-element-address";
	case GSN_ADMIN_ASSIGN_ULA:
		return "assign-me-a-ULA";
	case GSN_ADMIN_READ_REG:
		return "read-admin-register";
	case GSN_ADMIN_WRITE_REG:
		return "write-admin-register";
	case GSN_ADMIN_LIST_ULAS:
		return "list-attached-ULAs";
	case GSN_ADMIN_SET_ROUTE:
		return "change-route";
	case GSN_ADMIN_WHICH_PORT:
		return "which-port";
	case GSN_ADMIN_INITIALIZE:
		return "initialize-yourself";
	case GSN_ADMIN_INVALID:
		return "invalid";
	}
	return "unknown";
}

const char *gsn_admin_status_name(unsigned status)
{
	static const char *const names[] = {
		"ok", "unsupported", "bad arguments", "not found",
		"no space", "bad port", "bad route", "refused",
	};

	return status < sizeof(names) / sizeof(names[0]) ? names[status] : "unknown";
}
