/* SPDX-License-Identifier: MIT */
/*
 * The control socket (docs/ctl.md): the handler of every command, the
 * LINK_WAIT waiters, and what happens when a client congests, drains or
 * leaves.  Handlers decode and check; the modules do the work.  Commands
 * that answer later keep a struct gsnd_reply (client id, type, seq) and
 * answer through gsnd_reply_later(), which does nothing if the client has
 * gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "element.h"

#define COMP "ctl"
#define TEXT_CAP (GSN_CTL_TEXT_MAX + 1)
#define STATS_PREFIX_MAX 128u

struct gsnd_waiter {
	struct gsnd_waiter *next;
	struct gsnd *d;
	struct gsnd_reply to;
	struct gsn_timer timer;
};

void gsnd_reply_to(struct gsnd_reply *to, const struct gsn_ctl_client *c,
		   const struct gsn_ctl_hdr *h)
{
	to->client = gsn_ctl_client_id(c);
	to->type = h->type;
	to->seq = h->seq;
}

void gsnd_reply_later(struct gsnd *d, const struct gsnd_reply *to, int32_t status,
		      const void *body, size_t len)
{
	struct gsn_ctl_client *c = d->ctl ? gsn_ctl_server_client(d->ctl, to->client) : NULL;

	if (c)
		gsn_ctl_send(d->ctl, c, to->type, to->seq, status, status < 0 ? NULL : body,
			     status < 0 ? 0 : len);
}

/* ---- LINK_WAIT ---- */

static void waiter_free(struct gsnd_waiter *w)
{
	for (struct gsnd_waiter **pp = &w->d->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	gsn_loop_timer_cancel(w->d->loop, &w->timer);
	free(w);
}

static void waiter_timeout(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	struct gsnd_waiter *w = arg;

	gsnd_reply_later(w->d, &w->to, -ETIMEDOUT, NULL, 0);
	waiter_free(w);
}

void gsnd_ctl_poll_ready(struct gsnd *d)
{
	bool ready = gsnd_is_ready(d);

	if (ready != d->ready)
		GSN_INFO(&d->log, COMP, "element %s", ready ? "ready" : "not ready");
	d->ready = ready;
	while (ready && d->waiters) {
		gsnd_reply_later(d, &d->waiters->to, 0, NULL, 0);
		waiter_free(d->waiters);
	}
}

static int h_link_wait(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		       const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	struct gsnd *d = arg;
	struct gsn_ctl_timeout t;
	int err = gsn_ctl_timeout_decode(body, len, &t);

	if (err)
		return err;
	if (gsnd_is_ready(d)) {
		gsn_ctl_reply(srv, c, h, 0, NULL, 0);
		return 0;
	}
	struct gsnd_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->d = d;
	gsnd_reply_to(&w->to, c, h);
	gsn_timer_init(&w->timer, waiter_timeout, w);
	gsn_loop_timer_in(d->loop, &w->timer,
			  (uint64_t)(t.timeout_ms ? t.timeout_ms : GSND_LINK_WAIT_DEFAULT_MS) *
				  GSND_NS_PER_MS,
			  0);
	w->next = d->waiters;
	d->waiters = w;
	return 0;
}

/* ---- text commands ---- */

static int reply_text(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const char *text, size_t len)
{
	gsn_ctl_reply(srv, c, h, 0, text, len);
	return 0;
}

static int h_hello(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		   const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	struct gsnd *d = arg;
	char text[256];
	int n;

	if (gsn_ctl_text_check(body, len))
		return -EBADMSG;
	n = snprintf(text, sizeof(text), "element=%s\nrole=%s\nversion=%s\n", d->cfg.name,
		     d->ep ? "endpoint" : "switch", GSN_VERSION);
	GSN_DBG(&d->log, COMP, "HELLO from %.*s", (int)len, (const char *)body);
	return reply_text(srv, c, h, text, (size_t)n);
}

static int h_status(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		    const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	(void)body;
	(void)len;
	char text[8192];
	size_t n = gsnd_status_text(arg, text, sizeof(text));

	return reply_text(srv, c, h, text, n);
}

/* STATS takes an optional text body: only keys starting with it. */
static int h_stats(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		   const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	char prefix[STATS_PREFIX_MAX + 1];

	if (len > STATS_PREFIX_MAX || gsn_ctl_text_check(body, len) || memchr(body, '\n', len))
		return -EINVAL;
	memcpy(prefix, body, len);
	prefix[len] = '\0';
	char *text = malloc(TEXT_CAP);

	if (!text)
		return -ENOMEM;
	size_t n = gsnd_stats_text(arg, len ? prefix : NULL, text, TEXT_CAP);

	reply_text(srv, c, h, text, n);
	free(text);
	return 0;
}

/* ---- HARP ---- */

static int h_harp_list(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		       const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	(void)srv;
	(void)body;
	return len ? -EBADMSG : gsnd_ctl_harp_list(arg, c, h);
}

static int reply_empty(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		       const struct gsn_ctl_hdr *h, int err)
{
	if (err)
		return err;
	gsn_ctl_reply(srv, c, h, 0, NULL, 0);
	return 0;
}

static int h_harp_add(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	return reply_empty(srv, c, h, gsnd_ctl_harp_add(arg, body, len));
}

static int h_harp_del(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	return reply_empty(srv, c, h, gsnd_ctl_harp_del(arg, body, len));
}

static int h_harp_resolve(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
			  const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	(void)srv;
	return gsnd_ctl_harp_resolve(arg, c, h, body, len);
}

/* ---- Admin, raw, generator ---- */

static int h_admin(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		   const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	(void)srv;
	return gsnd_ctl_admin(arg, c, h, body, len);
}

static int h_raw_bind(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	return reply_empty(srv, c, h, gsnd_ctl_raw_bind(arg, c, body, len));
}

static int h_raw_send(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		      const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	(void)srv;
	return gsnd_ctl_raw_send(arg, c, h, body, len);
}

static int h_gen(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,
		 const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)
{
	return reply_empty(srv, c, h, gsnd_ctl_gen(arg, body, len));
}

/* ---- clients ---- */

static void on_disconnected(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, void *arg)
{
	(void)srv;
	struct gsnd *d = arg;
	uint64_t id = gsn_ctl_client_id(c);
	struct gsnd_waiter *w = d->waiters;

	while (w) {
		struct gsnd_waiter *next = w->next;

		if (w->to.client == id)
			waiter_free(w);
		w = next;
	}
	gsnd_ctl_admin_client_gone(d, id);
	if (d->ep) {
		gsnd_harp_client_gone(d, id);
		gsnd_raw_client_gone(d, id);
		gsnd_dev_client_gone(d, id);
	}
}

static void on_backlog(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, bool congested,
		       void *arg)
{
	(void)srv;
	struct gsnd *d = arg;

	GSN_DBG(&d->log, COMP, "client %llu %s", (unsigned long long)gsn_ctl_client_id(c),
		congested ? "congested" : "drained");
	if (!congested && d->ep)
		gsnd_raw_backlog(d);
}

int gsnd_ctl_init(struct gsnd *d)
{
	struct gsn_ctl_server_ops ops = {
		.disconnected = on_disconnected,
		.backlog = on_backlog,
	};
	char path[256];

	ops.handlers[GSN_CTL_HELLO] = h_hello;
	ops.handlers[GSN_CTL_STATUS] = h_status;
	ops.handlers[GSN_CTL_STATS] = h_stats;
	ops.handlers[GSN_CTL_ADMIN] = h_admin;
	ops.handlers[GSN_CTL_LINK_WAIT] = h_link_wait;
	if (d->ep) {
		ops.handlers[GSN_CTL_HARP_LIST] = h_harp_list;
		ops.handlers[GSN_CTL_HARP_ADD] = h_harp_add;
		ops.handlers[GSN_CTL_HARP_DEL] = h_harp_del;
		ops.handlers[GSN_CTL_HARP_RESOLVE] = h_harp_resolve;
		ops.handlers[GSN_CTL_RAW_BIND] = h_raw_bind;
		ops.handlers[GSN_CTL_RAW_SEND] = h_raw_send;
		ops.handlers[GSN_CTL_GEN] = h_gen;
		gsnd_dev_ctl_handlers(&ops);
	}
	int err = gsn_ctl_sock_path(d->cfg.rundir, d->cfg.name, path, sizeof(path));

	if (!err)
		err = gsn_ctl_server_new(d->loop, path, &ops, d, &d->log, &d->ctl);
	if (err) {
		d->ctl = NULL;
		GSN_ERR(&d->log, COMP, "control socket in %s: %s", d->cfg.rundir, strerror(-err));
	}
	return err;
}

void gsnd_ctl_fini(struct gsnd *d)
{
	while (d->waiters)
		waiter_free(d->waiters);
	gsn_ctl_server_free(d->ctl); /* disconnects every client */
	d->ctl = NULL;
}
