/* SPDX-License-Identifier: MIT */
/*
 * HARP at an endpoint with --ip: the instance (client, or server with
 * --harp-server), its Messages (EtherType 0x0806 on VC0), the names of
 * HARP servers, and the HARP_* control commands.
 *
 * The instance needs our ULA and every server's ULA, so it is created once
 * both are known.  A server given by element name is asked for its ULA
 * through its control socket (STATUS, ula=), every 100 ms until it answers
 * with one: it may start after us, and an assigned ULA comes only with its
 * link.  A server ignores the server list.  If our ULA changes later (a new
 * assignment, Admin 0x03) the instance is made again with the new one; its
 * static entries are carried over.
 *
 * HARP_RESOLVE waits (up to its timeout) for the instance if it does not
 * exist yet, then for HARP's own answer; every waiting request for an
 * address is answered by the one "resolved" upcall.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "element.h"

#define COMP "harp"
#define PENDING_MAX 64u
#define NAME_POLL_NS (100ull * GSND_NS_PER_MS)
#define NAME_LOG_EVERY 50u /* polls between "still waiting" lines */
#define LIST_MAX GSN_CTL_TEXT_MAX

struct server_name {
	struct gsnd_harp *g;
	const char *text;
	bool resolved;
	uint8_t ula[GSN_ULA_LEN];
	struct gsn_ctl_conn *conn;
	uint32_t seq;
	unsigned polls;
};

struct resolve_req {
	bool used;
	bool issued; /* handed to HARP (else waiting for the instance) */
	struct gsnd_reply to;
	uint32_t ip;
	uint64_t deadline;
};

struct gsnd_harp {
	struct gsnd *d;
	struct gsn_harp *h;
	int deadline_id, pending_id;
	struct server_name names[GSN_HARP_MAX_SERVERS];
	unsigned nnames;
	struct gsn_timer name_timer;
	char *static_text;
	size_t static_len;
	struct resolve_req pend[PENDING_MAX];
	uint8_t ula[GSN_ULA_LEN]; /* the instance's */
	uint64_t started_ns, detect_ns;
	unsigned nservers;        /* the instance's */
	uint64_t instances;
};

static void harp_try_create(struct gsnd *d);

static struct gsnd_harp *glue(const struct gsnd *d)
{
	return d->ep ? d->ep->harp : NULL;
}

struct gsn_harp *gsnd_harp_get(const struct gsnd *d)
{
	const struct gsnd_harp *g = glue(d);

	return g ? g->h : NULL;
}

static uint32_t ip_of(const uint8_t b[4])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* ---- HARP upcalls ---- */

static int harp_send(void *ctx, const uint8_t dst[GSN_ULA_LEN], const uint8_t *payload,
		     size_t len)
{
	struct gsnd_harp *g = ctx;
	struct iovec iov = {(void *)payload, len};

	return gsn_msg_send(g->d->ep->msg, 0, dst, GSN_ETHERTYPE_HARP, &iov, 1);
}

static uint64_t harp_now(void *ctx)
{
	struct gsnd_harp *g = ctx;

	return gsnd_now(g->d);
}

static void answer(struct gsnd *d, struct resolve_req *r, int status, const uint8_t *ula)
{
	struct gsn_ctl_ula u;
	uint8_t body[GSN_CTL_ULA_LEN] = {0};

	if (status == 0) {
		memcpy(u.ula, ula, GSN_ULA_LEN);
		gsn_ctl_ula_encode(&u, body);
	}
	gsnd_reply_later(d, &r->to, status, body, status == 0 ? sizeof(body) : 0);
	r->used = false;
}

static void harp_resolved(void *ctx, uint32_t ip, const uint8_t *ula, int status)
{
	struct gsnd_harp *g = ctx;

	for (unsigned i = 0; i < PENDING_MAX; i++)
		if (g->pend[i].used && g->pend[i].issued && g->pend[i].ip == ip)
			answer(g->d, &g->pend[i], status, ula);
}

/* ---- pending resolutions ---- */

/* Hands a request to HARP: answered now, or waits for harp_resolved. */
static void issue(struct gsnd_harp *g, struct resolve_req *r)
{
	uint8_t ula[GSN_ULA_LEN];
	int rc = gsn_harp_resolve(g->h, r->ip, ula);

	r->issued = true;
	if (rc != -EINPROGRESS)
		answer(g->d, r, rc, ula);
}

static void issue_waiting(struct gsnd_harp *g)
{
	for (unsigned i = 0; i < PENDING_MAX && g->h; i++)
		if (g->pend[i].used && !g->pend[i].issued)
			issue(g, &g->pend[i]);
}

static uint64_t pending_next(void *arg)
{
	const struct gsnd_harp *g = arg;
	uint64_t t = GSN_LOOP_NEVER;

	for (unsigned i = 0; i < PENDING_MAX; i++)
		if (g->pend[i].used && g->pend[i].deadline < t)
			t = g->pend[i].deadline;
	return t;
}

static void pending_expire(void *arg, uint64_t now)
{
	struct gsnd_harp *g = arg;

	for (unsigned i = 0; i < PENDING_MAX; i++)
		if (g->pend[i].used && g->pend[i].deadline <= now)
			answer(g->d, &g->pend[i], -ETIMEDOUT, NULL);
}

static uint64_t harp_next(void *arg)
{
	const struct gsnd_harp *g = arg;

	return g->h ? gsn_harp_next_deadline(g->h) : GSN_LOOP_NEVER;
}

static void harp_expire(void *arg, uint64_t now)
{
	(void)now;
	struct gsnd_harp *g = arg;

	if (g->h)
		gsn_harp_tick(g->h);
}

/* ---- the instance ---- */

struct statics {
	uint32_t ip[1024];
	uint8_t ula[1024][GSN_ULA_LEN];
	unsigned n;
};

static void keep_static(void *ctx, const struct gsn_harp_entry *e)
{
	struct statics *s = ctx;

	if ((e->flags & GSN_HARP_F_STATIC) && s->n < 1024) {
		s->ip[s->n] = e->ip;
		memcpy(s->ula[s->n++], e->ula, GSN_ULA_LEN);
	}
}

static void harp_config(const struct gsnd_harp *g, struct gsn_harp_config *cfg)
{
	const struct gsnd *d = g->d;

	gsn_harp_config_default(cfg);
	memcpy(cfg->ula, d->ep->ula, GSN_ULA_LEN);
	cfg->ip = d->cfg.ip;
	cfg->server = d->cfg.harp_server;
	cfg->log = &d->log;
	for (unsigned i = 0; i < g->nnames && !cfg->server; i++)
		if (!gsn_ula_equal(g->names[i].ula, d->ep->ula))
			memcpy(cfg->servers[cfg->nservers++], g->names[i].ula, GSN_ULA_LEN);
}

static int harp_make(struct gsnd_harp *g, struct gsn_harp **out)
{
	struct gsn_harp_config cfg;
	struct gsn_harp_ops ops = {
		.send_msg = harp_send,
		.now_ns = harp_now,
		.resolved = harp_resolved,
		.ctx = g,
	};

	harp_config(g, &cfg);
	g->nservers = cfg.nservers;
	g->detect_ns = cfg.detect_timeout_ns;
	int err = gsn_harp_create(&cfg, &ops, out);

	if (!err && g->static_text)
		err = gsn_harp_load_static(*out, g->static_text, g->static_len, NULL);
	if (err && *out) {
		gsn_harp_destroy(*out);
		*out = NULL;
	}
	return err;
}

/* Makes the instance again (our ULA changed), keeping static entries. */
static int harp_remake(struct gsnd_harp *g)
{
	struct statics *s = calloc(1, sizeof(*s));
	struct gsn_harp *h = NULL;

	if (!s)
		return -ENOMEM;
	gsn_harp_foreach(g->h, keep_static, s);
	int err = harp_make(g, &h);

	if (!err) {
		gsn_harp_destroy(g->h); /* pending resolutions: answered by ours below */
		g->h = h;
		for (unsigned i = 0; i < s->n; i++)
			gsn_harp_add_static(h, s->ip[i], s->ula[i]);
	}
	free(s);
	return err;
}

static bool names_resolved(const struct gsnd_harp *g)
{
	for (unsigned i = 0; i < g->nnames; i++)
		if (!g->names[i].resolved)
			return false;
	return true;
}

static void harp_try_create(struct gsnd *d)
{
	struct gsnd_harp *g = glue(d);
	int err;

	if (!g || !d->cfg.has_ip || !d->ep->has_ula || (!d->cfg.harp_server && !names_resolved(g)))
		return;
	if (g->h && gsn_ula_equal(g->ula, d->ep->ula))
		return;
	if (g->h) {
		err = harp_remake(g);
		for (unsigned i = 0; i < PENDING_MAX; i++)
			g->pend[i].issued = false;
	} else {
		err = harp_make(g, &g->h);
	}
	if (err) {
		GSN_ERR(&d->log, COMP, "cannot start HARP: %s", strerror(-err));
		return;
	}
	g->instances++;
	memcpy(g->ula, d->ep->ula, GSN_ULA_LEN);
	g->started_ns = gsnd_now(d);
	gsn_harp_start(g->h);
	GSN_INFO(&d->log, COMP, "started (%s)", gsn_harp_mode_name(gsn_harp_get_mode(g->h)));
	issue_waiting(g);
}

void gsnd_harp_ula_changed(struct gsnd *d)
{
	harp_try_create(d);
}

/*
 * HARP is ready when it can resolve: a server, a client that registered or
 * found a broadcasting fabric, or a client without servers once its first
 * detection period is over (it keeps probing, but nothing else will come).
 */
bool gsnd_harp_ready(const struct gsnd *d)
{
	const struct gsnd_harp *g = glue(d);

	if (!d->cfg.has_ip)
		return true;
	if (!g || !g->h)
		return false;
	switch (gsn_harp_get_mode(g->h)) {
	case GSN_HARP_MODE_SERVER:
	case GSN_HARP_MODE_REGISTERED:
	case GSN_HARP_MODE_BROADCAST:
		return true;
	default:
		return !g->nservers && gsnd_now(d) >= g->started_ns + g->detect_ns;
	}
}

void gsnd_harp_input(struct gsnd *d, const uint8_t src[GSN_ULA_LEN], const uint8_t *pdu,
		     size_t len)
{
	struct gsnd_harp *g = glue(d);

	if (g && g->h)
		gsn_harp_input(g->h, src, pdu, len);
}

/* ---- server names ---- */

static void name_close(struct gsnd *d, struct server_name *n)
{
	if (!n->conn)
		return;
	gsn_loop_del_fd(d->loop, gsn_ctl_conn_fd(n->conn));
	gsn_ctl_close(n->conn);
	n->conn = NULL;
}

static void name_got_status(struct gsnd *d, struct server_name *n, const uint8_t *body,
			    size_t len)
{
	char v[GSN_ULA_STRLEN + 8];

	if (gsn_ctl_kv_get(body, len, "ula", v, sizeof(v)) || gsn_ula_parse(v, n->ula))
		return; /* not known yet: ask again later */
	n->resolved = true;
	GSN_INFO(&d->log, COMP, "HARP server %s is %s", n->text, v);
	if (names_resolved(n->g)) {
		gsn_loop_timer_cancel(d->loop, &n->g->name_timer);
		harp_try_create(d);
	}
}

static void name_readable(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct server_name *n = arg;
	struct gsnd *d = n->g->d;
	struct gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;

	while (n->conn) {
		int err = gsn_ctl_recv(n->conn, &h, &body, &len, 0);

		if (err == -ETIMEDOUT)
			return;
		if (err == 0 && (h.type != GSN_CTL_STATUS || h.seq != n->seq))
			continue;
		if (err == 0 && h.status == 0)
			name_got_status(d, n, body, len);
		name_close(d, n);
	}
}

static void name_ask(struct gsnd *d, struct server_name *n)
{
	if (gsn_ctl_connect(d->cfg.rundir, n->text, &n->conn)) {
		n->conn = NULL;
		if (++n->polls % NAME_LOG_EVERY == 0)
			GSN_INFO(&d->log, COMP, "waiting for HARP server %s", n->text);
		return;
	}
	if (gsn_ctl_send_request(n->conn, GSN_CTL_STATUS, NULL, 0, &n->seq, 0) ||
	    gsn_loop_add_fd(d->loop, gsn_ctl_conn_fd(n->conn), EPOLLIN, name_readable, n)) {
		gsn_ctl_close(n->conn);
		n->conn = NULL;
	}
}

static void name_poll(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	struct gsnd_harp *g = arg;

	for (unsigned i = 0; i < g->nnames; i++)
		if (!g->names[i].resolved && !g->names[i].conn)
			name_ask(g->d, &g->names[i]);
}

/* A ULA, or our own name (known with our ULA), or another element's name. */
static void names_init(struct gsnd_harp *g)
{
	const struct gsnd *d = g->d;

	if (d->cfg.harp_server)
		return; /* a server registers with nobody */
	for (unsigned i = 0; i < d->cfg.n_harp_servers; i++) {
		struct server_name *n = &g->names[g->nnames];
		const char *t = d->cfg.harp_servers[i];

		if (strcmp(t, d->cfg.name) == 0)
			continue; /* ourselves: nothing to register with */
		n->g = g;
		n->text = t;
		n->resolved = gsn_ula_parse(t, n->ula) == 0;
		g->nnames++;
	}
	if (!names_resolved(g))
		gsn_loop_timer_in(d->loop, &g->name_timer, 0, NAME_POLL_NS);
}

/* ---- static file ---- */

static int static_load(struct gsnd_harp *g, const char *path)
{
	struct gsnd *d = g->d;
	FILE *f = fopen(path, "r");
	unsigned bad_line = 0;

	if (!f) {
		int err = -errno;

		GSN_ERR(&d->log, COMP, "--harp-static %s: %s", path, strerror(-err));
		return err;
	}
	g->static_text = malloc((1u << 20) + 1);
	g->static_len = g->static_text ? fread(g->static_text, 1, (1u << 20) + 1, f) : 0;
	fclose(f);
	if (!g->static_text)
		return -ENOMEM;
	if (g->static_len > (1u << 20)) {
		GSN_ERR(&d->log, COMP, "--harp-static %s: larger than 1 MiB", path);
		return -EFBIG;
	}
	/* check it now, with a throw-away instance, rather than when our ULA is known */
	struct gsn_harp_config cfg;
	struct gsn_harp_ops ops = {.send_msg = harp_send, .now_ns = harp_now, .ctx = g};
	struct gsn_harp *h = NULL;

	gsn_harp_config_default(&cfg);
	cfg.ula[0] = 0x02;
	cfg.ula[5] = 0x01;
	cfg.ip = d->cfg.ip;
	int err = gsn_harp_create(&cfg, &ops, &h);

	if (!err)
		err = gsn_harp_load_static(h, g->static_text, g->static_len, &bad_line);
	gsn_harp_destroy(h);
	if (err)
		GSN_ERR(&d->log, COMP, "--harp-static %s:%u: bad entry", path, bad_line);
	return err;
}

/* ---- life cycle ---- */

int gsnd_harp_init(struct gsnd *d)
{
	struct gsnd_harp *g = calloc(1, sizeof(*g));
	int err = 0;

	if (!g)
		return -ENOMEM;
	d->ep->harp = g;
	g->d = d;
	gsn_timer_init(&g->name_timer, name_poll, g);
	if (!d->cfg.has_ip)
		return 0;
	if (d->cfg.harp_static)
		err = static_load(g, d->cfg.harp_static);
	if (err)
		return err;
	g->deadline_id = gsn_loop_add_deadline(d->loop, harp_next, harp_expire, g);
	g->pending_id = gsn_loop_add_deadline(d->loop, pending_next, pending_expire, g);
	if (g->deadline_id < 0 || g->pending_id < 0)
		return -ENOMEM;
	names_init(g);
	harp_try_create(d);
	return 0;
}

void gsnd_harp_fini(struct gsnd *d)
{
	struct gsnd_harp *g = glue(d);

	if (!g)
		return;
	gsn_loop_timer_cancel(d->loop, &g->name_timer);
	for (unsigned i = 0; i < g->nnames; i++)
		name_close(d, &g->names[i]);
	if (g->deadline_id > 0)
		gsn_loop_remove(d->loop, g->deadline_id);
	if (g->pending_id > 0)
		gsn_loop_remove(d->loop, g->pending_id);
	gsn_harp_destroy(g->h);
	free(g->static_text);
	free(g);
	d->ep->harp = NULL;
}

void gsnd_harp_client_gone(struct gsnd *d, uint64_t client)
{
	struct gsnd_harp *g = glue(d);

	for (unsigned i = 0; g && i < PENDING_MAX; i++)
		if (g->pend[i].used && g->pend[i].to.client == client)
			g->pend[i].used = false;
}

/* ---- control commands ---- */

static int harp_needed(const struct gsnd *d)
{
	if (!d->ep || !d->cfg.has_ip)
		return -EOPNOTSUPP; /* no HARP without an IP address */
	return gsnd_harp_get(d) ? 0 : -EAGAIN;
}

int gsnd_ctl_harp_resolve(struct gsnd *d, struct gsn_ctl_client *c,
			  const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	struct gsn_ctl_resolve q;
	struct gsnd_harp *g = glue(d);
	int err = gsn_ctl_resolve_decode(body, len, &q);

	if (err)
		return err;
	err = harp_needed(d);
	if (err && err != -EAGAIN)
		return err;
	if (ip_of(q.ip) == 0)
		return -EINVAL;
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		struct resolve_req *r = &g->pend[i];

		if (r->used)
			continue;
		uint64_t ms = q.timeout_ms ? q.timeout_ms : GSND_RESOLVE_DEFAULT_MS;

		*r = (struct resolve_req){.used = true, .ip = ip_of(q.ip)};
		r->deadline = gsnd_now(d) + ms * GSND_NS_PER_MS;
		gsnd_reply_to(&r->to, c, h);
		if (g->h)
			issue(g, r);
		return 0;
	}
	return -ENOBUFS;
}

int gsnd_ctl_harp_add(struct gsnd *d, const uint8_t *body, size_t len)
{
	struct gsn_ctl_harp_add q;
	int err = gsn_ctl_harp_add_decode(body, len, &q);

	if (!err)
		err = harp_needed(d);
	if (err)
		return err;
	if (!(q.flags & GSN_CTL_HARP_STATIC))
		return -EINVAL; /* only static entries are added by hand */
	return gsn_harp_add_static(gsnd_harp_get(d), ip_of(q.ip), q.ula);
}

int gsnd_ctl_harp_del(struct gsnd *d, const uint8_t *body, size_t len)
{
	struct gsn_ctl_ipv4 q;
	int err = gsn_ctl_ipv4_decode(body, len, &q);

	if (!err)
		err = harp_needed(d);
	return err ? err : gsn_harp_delete(gsnd_harp_get(d), ip_of(q.ip));
}

struct list_ctx {
	char *buf;
	size_t cap, off;
};

static void flags_text(unsigned f, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s%s",
		 f & GSN_HARP_F_STATIC ? "static" : f & GSN_HARP_F_DYNAMIC ? "dynamic" : "",
		 f & GSN_HARP_F_REGISTERED ? "registered" : "",
		 f & GSN_HARP_F_REVALIDATING ? "," : "",
		 f & GSN_HARP_F_REVALIDATING ? "revalidating" : "");
}

static void list_one(void *ctx, const struct gsn_harp_entry *e)
{
	struct list_ctx *l = ctx;
	char ula[GSN_ULA_STRLEN], flags[48];

	gsn_ula_format(e->ula, ula);
	flags_text(e->flags, flags, sizeof(flags));
	gsn_ctl_textf(l->buf, l->cap, &l->off, "%u.%u.%u.%u %s %s %llu\n", e->ip >> 24,
		      (e->ip >> 16) & 0xff, (e->ip >> 8) & 0xff, e->ip & 0xff, ula, flags,
		      (unsigned long long)(e->age_ns / GSND_NS_PER_MS));
}

int gsnd_ctl_harp_list(struct gsnd *d, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h)
{
	int err = harp_needed(d);

	if (err)
		return err;
	struct list_ctx l = {.buf = malloc(LIST_MAX + 1), .cap = LIST_MAX + 1};

	if (!l.buf)
		return -ENOMEM;
	l.buf[0] = '\0';
	gsn_harp_foreach(gsnd_harp_get(d), list_one, &l);
	gsn_ctl_reply(d->ctl, c, h, 0, l.buf, l.off);
	free(l.buf);
	return 0;
}

/* ---- stats ---- */

static void harp_counters(const struct gsn_harp *h, char *buf, size_t cap, size_t *off)
{
	struct gsn_harp_stats s;

	gsn_harp_get_stats(h, &s);
	const struct {
		const char *k;
		uint64_t v;
	} f[] = {
		{"requests", s.requests_tx},   {"replies", s.replies_tx},
		{"naks", s.naks_rx},           {"naks_sent", s.naks_tx},
		{"rx", s.rx},                  {"tx", s.tx},
		{"tx_errors", s.tx_errors},    {"malformed", s.malformed},
		{"unknown_op", s.unknown_op},  {"ignored", s.ignored},
		{"cache_hits", s.cache_hits},  {"cache_misses", s.cache_misses},
		{"resolved", s.resolved},      {"failed", s.failed},
		{"probes", s.probes_tx},       {"registrations", s.registrations},
		{"server_drops", s.server_drops}, {"reg_restarts", s.reg_restarts},
		{"revalidations", s.revalidations}, {"expired", s.expired},
		{"clients_registered", s.clients_registered},
		{"clients_forgotten", s.clients_forgotten}, {"table_full", s.table_full},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		gsn_ctl_textf(buf, cap, off, "harp.%s=%llu\n", f[i].k, (unsigned long long)f[i].v);
}

void gsnd_harp_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_harp *g = glue(d);
	const struct gsn_harp *h = g ? g->h : NULL;
	uint8_t srv[GSN_ULA_LEN] = {0};
	char s[GSN_ULA_STRLEN];
	unsigned pending = 0, unresolved = 0;

	for (unsigned i = 0; g && i < PENDING_MAX; i++)
		pending += g->pend[i].used;
	for (unsigned i = 0; g && i < g->nnames; i++)
		unresolved += !g->names[i].resolved;
	gsnd_ula_str(srv, h && gsn_harp_current_server(h, srv), s);
	gsn_ctl_textf(buf, cap, off, "harp.mode=%s\nharp.server=%s\nharp.entries=%zu\n",
		      !d->cfg.has_ip ? "off" : h ? gsn_harp_mode_name(gsn_harp_get_mode(h))
						  : "waiting",
		      s, h ? gsn_harp_count(h) : 0);
	gsn_ctl_textf(buf, cap, off, "harp.pending=%u\nharp.servers_unresolved=%u\n", pending,
		      unresolved);
	if (h)
		harp_counters(h, buf, cap, off);
}
