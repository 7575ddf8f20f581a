/* SPDX-License-Identifier: MIT */
/*
 * Our own Admin requests: the link-up set-up of an endpoint and the ADMIN
 * control command send requests through gsnd_admin_call(), which takes a
 * free tag from the Admin element and remembers the callback; the Admin
 * element's response upcall finds it again by tag.
 */
#include <errno.h>
#include <stdlib.h>

#include "element.h"

#define CALLS_MAX 64u /* the Admin element's default max_pending */

struct call {
	bool used;
	uint32_t tag;
	gsnd_admin_cb cb;
	void *arg;
};

struct gsnd_calls {
	struct call c[CALLS_MAX];
};

int gsnd_calls_init(struct gsnd *d)
{
	d->calls = calloc(1, sizeof(*d->calls));
	return d->calls ? 0 : -ENOMEM;
}

void gsnd_calls_fini(struct gsnd *d)
{
	free(d->calls);
	d->calls = NULL;
}

uint64_t gsnd_admin_now(void *ctx)
{
	const struct gsnd *d = ctx;

	return gsnd_now(d);
}

static struct call *call_find(struct gsnd *d, uint32_t tag)
{
	for (unsigned i = 0; i < CALLS_MAX; i++)
		if (d->calls->c[i].used && d->calls->c[i].tag == tag)
			return &d->calls->c[i];
	return NULL;
}

static struct call *call_free_slot(struct gsnd *d)
{
	for (unsigned i = 0; i < CALLS_MAX; i++)
		if (!d->calls->c[i].used)
			return &d->calls->c[i];
	return NULL;
}

int gsnd_admin_call(struct gsnd *d, unsigned out_port, unsigned hops, const uint8_t *route,
		    uint8_t cmd, const uint8_t *args, gsnd_admin_cb cb, void *arg,
		    uint32_t *tag_out)
{
	struct call *c = call_free_slot(d);

	if (!c)
		return -ENOBUFS;
	uint32_t tag = gsn_admin_new_tag(d->admin);

	*c = (struct call){.used = true, .tag = tag, .cb = cb, .arg = arg};
	int err = gsn_admin_request(d->admin, out_port, hops, route, cmd, args, tag);

	if (err) {
		c = call_find(d, tag);
		if (c)
			c->used = false;
		return err;
	}
	*tag_out = tag;
	return 0;
}

void gsnd_admin_call_cancel(struct gsnd *d, uint32_t tag)
{
	struct call *c = call_find(d, tag);

	if (!c)
		return;
	c->used = false;
	gsn_admin_cancel(d->admin, tag);
}

void gsnd_admin_response(void *ctx, uint32_t tag, int result, const struct gsn_admin *resp,
			 uint64_t rtt_ns)
{
	struct gsnd *d = ctx;
	struct call *c = call_find(d, tag);

	if (!c)
		return;
	gsnd_admin_cb cb = c->cb;
	void *arg = c->arg;

	c->used = false; /* before the callback: it may call again */
	cb(d, arg, result, resp, rtt_ns);
}
