/* SPDX-License-Identifier: MIT */
/*
 * The device commands (GSN_DEV_CMD_*, dev_abi.h) and the per-client device
 * contexts.  A control client becomes a device client with OPEN (its pid
 * from SO_PEERCRED is whose memory gsnd reaches); every other command
 * before OPEN is -EPERM.  Bodies must be exactly their struct's size
 * (-EBADMSG); handles name only the client's own objects (-ENOENT).
 * CREATE_CQ and CREATE_QP answer with their fds (SCM_RIGHTS); if that
 * answer cannot be sent the object is undone and the command fails.  When
 * the client goes away everything it created is destroyed, QPs first
 * (their VCs close: the peers' QPs go to ERROR).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_fds.h"
#include "dev.h"

#define HANDLER(name)                                                                       \
	static int name(struct gsn_ctl_server *srv, struct gsn_ctl_client *c,               \
			const struct gsn_ctl_hdr *h, const uint8_t *body, size_t len, void *arg)

/* ---- clients ---- */

static struct dev_client *client_find(struct gsnd_dev *dev, uint64_t id)
{
	for (struct dev_client *cl = dev->clients; cl; cl = cl->next)
		if (cl->id == id)
			return cl;
	return NULL;
}

static struct dev_client *client_of(struct gsnd *d, const struct gsn_ctl_client *c)
{
	struct gsnd_dev *dev = dev_of(d);

	return dev ? client_find(dev, gsn_ctl_client_id(c)) : NULL;
}

static struct dev_client *client_new(struct gsnd_dev *dev, const struct gsn_ctl_client *c)
{
	struct dev_client *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return NULL;
	cl->dev = dev;
	cl->id = gsn_ctl_client_id(c);
	cl->pid = gsn_ctl_client_cred(c)->pid;
	cl->pds.max = DEV_MAX_PD;
	cl->mrs.max = DEV_MAX_MR;
	cl->cqs.max = DEV_MAX_CQ;
	cl->qps.max = DEV_MAX_QP;
	cl->next = dev->clients;
	dev->clients = cl;
	dev_client_opened(dev);
	GSN_INFO(&dev->d->log, DEV_COMP, "client %llu (pid %d) opened the device",
		 (unsigned long long)cl->id, (int)cl->pid);
	return cl;
}

static void free_table(struct dev_tab *t, void (*fn)(void *))
{
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->obj[i])
			fn(t->obj[i]);
	dev_tab_free(t);
}

static void qp_free_cb(void *o)
{
	dev_qp_free(o);
}

static void cq_free_cb(void *o)
{
	dev_cq_free(o);
}

void dev_client_free(struct dev_client *cl)
{
	free_table(&cl->qps, qp_free_cb);
	dev_mr_free_all(cl);
	dev_tab_free(&cl->mrs);
	free_table(&cl->cqs, cq_free_cb);
	free_table(&cl->pds, free);
	free(cl);
}

void gsnd_dev_client_gone(struct gsnd *d, uint64_t client)
{
	struct gsnd_dev *dev = dev_of(d);

	if (!dev)
		return;
	for (struct dev_client **pp = &dev->clients; *pp; pp = &(*pp)->next) {
		struct dev_client *cl = *pp;

		if (cl->id != client)
			continue;
		*pp = cl->next;
		GSN_INFO(&d->log, DEV_COMP, "client %llu (pid %d) left", (unsigned long long)cl->id,
			 (int)cl->pid);
		dev_client_free(cl);
		dev_client_closed(dev);
		dev_progress(dev);
		return;
	}
}

/* ---- helpers ---- */

/* Answers with an empty body (err 0) or lets the server answer err; then progress. */
static int done(struct gsn_ctl_server *srv, struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h,
		struct gsnd *d, int err)
{
	if (!err)
		gsn_ctl_reply(srv, c, h, 0, NULL, 0);
	dev_progress(dev_of(d));
	return err;
}

static int decode_handle(const uint8_t *body, size_t len, uint32_t *handle)
{
	struct gsn_dev_handle hd;

	if (len != sizeof(hd))
		return -EBADMSG;
	memcpy(&hd, body, sizeof(hd));
	*handle = hd.handle;
	return 0;
}

/* ---- OPEN, QUERY_PORT ---- */

static void open_resp(const struct gsnd *d, struct gsn_dev_open_resp *r)
{
	const struct gsnd_endpoint *ep = d->ep;

	memset(r, 0, sizeof(*r));
	r->abi_version = GSN_DEV_ABI_VERSION;
	r->max_qp = DEV_MAX_QP;
	r->max_cq = DEV_MAX_CQ;
	r->max_mr = DEV_MAX_MR;
	r->max_pd = DEV_MAX_PD;
	r->max_qp_wr = DEV_MAX_QP_WR;
	r->max_cqe = DEV_MAX_CQE;
	r->max_sge = GSN_MAX_SGE;
	r->max_inline = GSN_MAX_INLINE;
	r->max_msg_size_log2 = DEV_MAX_MSG_LOG2;
	r->max_mr_size = DEV_MAX_MR_SIZE;
	if (ep->has_ula)
		memcpy(r->ula, ep->ula, GSN_ULA_LEN);
	strncpy(r->name, d->cfg.name, sizeof(r->name) - 1);
	for (unsigned i = 0; i < GSN_ULA_LEN; i++)
		r->node_guid = r->node_guid << 8 | r->ula[i];
}

HANDLER(h_open)
{
	struct gsnd *d = arg;
	struct gsnd_dev *dev = dev_of(d);
	struct gsn_dev_open_req req;
	struct gsn_dev_open_resp r;

	if (!dev)
		return -EOPNOTSUPP;
	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	if (!client_of(d, c) && !client_new(dev, c))
		return -ENOMEM;
	open_resp(d, &r);
	gsn_ctl_reply(srv, c, h, 0, &r, sizeof(r));
	return 0;
}

HANDLER(h_query_port)
{
	(void)body;
	struct gsnd *d = arg;
	struct gsn_dev_port_attr a = {0};

	if (!client_of(d, c))
		return -EPERM;
	if (len)
		return -EBADMSG;
	bool up = gsnd_port_up(d, 0);

	a.state = up && d->ep->has_ula ? GSN_PORT_ACTIVE : up ? GSN_PORT_INIT : GSN_PORT_DOWN;
	a.max_mtu = 1u << DEV_MAX_STU_LOG2;
	a.active_mtu = a.max_mtu;
	a.link_rate_mbps = 6400;
	if (d->ep->has_ula)
		memcpy(a.ula, d->ep->ula, GSN_ULA_LEN);
	a.ipv4 = d->cfg.has_ip ? d->cfg.ip : 0;
	gsn_ctl_reply(srv, c, h, 0, &a, sizeof(a));
	return 0;
}

/* ---- PDs and MRs ---- */

HANDLER(h_alloc_pd)
{
	(void)body;
	struct dev_client *cl = client_of(arg, c);
	struct gsn_dev_handle r = {0};

	if (!cl)
		return -EPERM;
	if (len)
		return -EBADMSG;
	struct dev_pd *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return -ENOMEM;
	pd->cl = cl;
	int err = dev_tab_add(&cl->pds, pd, &pd->handle);

	if (err) {
		free(pd);
		return err;
	}
	r.handle = pd->handle;
	gsn_ctl_reply(srv, c, h, 0, &r, sizeof(r));
	return 0;
}

HANDLER(h_dealloc_pd)
{
	struct dev_client *cl = client_of(arg, c);
	uint32_t handle;
	int err = cl ? decode_handle(body, len, &handle) : -EPERM;
	struct dev_pd *pd = err ? NULL : dev_tab_get(&cl->pds, handle);

	if (!err && !pd)
		err = -ENOENT;
	if (!err && pd->users)
		err = -EBUSY;
	if (!err) {
		dev_tab_del(&cl->pds, handle);
		free(pd);
	}
	return done(srv, c, h, arg, err);
}

HANDLER(h_reg_mr)
{
	struct dev_client *cl = client_of(arg, c);
	struct gsn_dev_reg_mr_req req;
	struct gsn_dev_reg_mr_resp r = {0};

	if (!cl)
		return -EPERM;
	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	int err = dev_mr_reg(cl, &req, &r);

	if (err)
		return err;
	gsn_ctl_reply(srv, c, h, 0, &r, sizeof(r));
	return 0;
}

HANDLER(h_dereg_mr)
{
	struct dev_client *cl = client_of(arg, c);
	uint32_t handle;
	int err = cl ? decode_handle(body, len, &handle) : -EPERM;

	if (!err)
		err = dev_mr_dereg(cl, handle);
	return done(srv, c, h, arg, err);
}

/* ---- CQs ---- */

HANDLER(h_create_cq)
{
	struct dev_client *cl = client_of(arg, c);
	struct gsn_dev_create_cq_req req;
	struct gsn_dev_create_cq_resp r = {0};
	int memfd = -1;

	if (!cl)
		return -EPERM;
	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	int err = dev_cq_create(cl, &req, &r, &memfd);

	if (err)
		return err;
	struct dev_cq *cq = dev_tab_get(&cl->cqs, r.handle);
	int fds[2] = {memfd, cq->efd};

	err = gsn_ctl_reply_fds(srv, c, h, &r, sizeof(r), fds, 2);
	close(memfd);
	if (err) {
		dev_tab_del(&cl->cqs, r.handle);
		dev_cq_free(cq);
		return err == -ENOTCONN ? 0 : err;
	}
	return 0;
}

HANDLER(h_destroy_cq)
{
	struct dev_client *cl = client_of(arg, c);
	uint32_t handle;
	int err = cl ? decode_handle(body, len, &handle) : -EPERM;
	struct dev_cq *cq = err ? NULL : dev_tab_get(&cl->cqs, handle);

	if (!err && !cq)
		err = -ENOENT;
	if (!err && cq->users)
		err = -EBUSY;
	if (!err) {
		dev_tab_del(&cl->cqs, handle);
		dev_cq_free(cq);
	}
	return done(srv, c, h, arg, err);
}

/* ---- QPs ---- */

HANDLER(h_create_qp)
{
	struct dev_client *cl = client_of(arg, c);
	struct gsn_dev_create_qp_req req;
	struct gsn_dev_create_qp_resp r = {0};
	int memfd = -1;

	if (!cl)
		return -EPERM;
	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	int err = dev_qp_create(cl, &req, &r, &memfd);

	if (err)
		return err;
	struct dev_qp *qp = dev_tab_get(&cl->qps, r.handle);
	int fds[2] = {memfd, qp->dbfd};

	err = gsn_ctl_reply_fds(srv, c, h, &r, sizeof(r), fds, 2);
	close(memfd);
	if (err) {
		dev_qp_free(qp);
		return err == -ENOTCONN ? 0 : err;
	}
	return 0;
}

HANDLER(h_modify_qp)
{
	struct dev_client *cl = client_of(arg, c);
	struct gsn_dev_modify_qp_req req;

	if (!cl)
		return -EPERM;
	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	struct dev_qp *qp = dev_tab_get(&cl->qps, req.handle);
	int err = qp ? dev_qp_modify(qp, &req, c, h) : -ENOENT;

	if (err == 1) { /* answered when HARP has resolved the address */
		dev_progress(dev_of(arg));
		return 0;
	}
	return done(srv, c, h, arg, err);
}

HANDLER(h_query_qp)
{
	struct dev_client *cl = client_of(arg, c);
	uint32_t handle;
	int err = cl ? decode_handle(body, len, &handle) : -EPERM;
	struct dev_qp *qp = err ? NULL : dev_tab_get(&cl->qps, handle);
	struct gsn_dev_qp_attr a;

	if (err)
		return err;
	if (!qp)
		return -ENOENT;
	dev_qp_query(qp, &a);
	gsn_ctl_reply(srv, c, h, 0, &a, sizeof(a));
	return 0;
}

HANDLER(h_destroy_qp)
{
	struct dev_client *cl = client_of(arg, c);
	uint32_t handle;
	int err = cl ? decode_handle(body, len, &handle) : -EPERM;
	struct dev_qp *qp = err ? NULL : dev_tab_get(&cl->qps, handle);

	if (!err && !qp)
		err = -ENOENT;
	if (!err)
		dev_qp_free(qp);
	return done(srv, c, h, arg, err);
}

void gsnd_dev_ctl_handlers(struct gsn_ctl_server_ops *ops)
{
	static const struct {
		unsigned type;
		gsn_ctl_handler_fn fn;
	} tab[] = {
		{GSN_DEV_CMD_OPEN, h_open},           {GSN_DEV_CMD_QUERY_PORT, h_query_port},
		{GSN_DEV_CMD_ALLOC_PD, h_alloc_pd},   {GSN_DEV_CMD_DEALLOC_PD, h_dealloc_pd},
		{GSN_DEV_CMD_REG_MR, h_reg_mr},       {GSN_DEV_CMD_DEREG_MR, h_dereg_mr},
		{GSN_DEV_CMD_CREATE_CQ, h_create_cq}, {GSN_DEV_CMD_DESTROY_CQ, h_destroy_cq},
		{GSN_DEV_CMD_CREATE_QP, h_create_qp}, {GSN_DEV_CMD_MODIFY_QP, h_modify_qp},
		{GSN_DEV_CMD_QUERY_QP, h_query_qp},   {GSN_DEV_CMD_DESTROY_QP, h_destroy_qp},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		ops->dev_handlers[tab[i].type - GSN_CTL_DEV_FIRST] = tab[i].fn;
}
