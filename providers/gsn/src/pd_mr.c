/* SPDX-License-Identifier: MIT */
/* Protection domains and memory regions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gsn_priv.h"

#define ACCESS_ALL                                                                 \
	(GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ | \
	 GSN_ACCESS_REMOTE_ATOMIC | GSN_ACCESS_ZERO_BASED)

int gsn_alloc_pd(struct gsn_context *pub, struct gsn_pd **out)
{
	struct gsn_ctx *ctx = to_ctx(pub);
	struct gsn_pd_priv *pd = calloc(1, sizeof(*pd));
	struct gsn_dev_handle h;

	if (!pd)
		return -ENOMEM;
	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_ALLOC_PD, NULL, 0, &h, sizeof(h), NULL, 0);

	if (!err) {
		pd->pub.context = pub;
		pd->pub.handle = h.handle;
		gsn_list_add(&ctx->pds, &pd->node);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (err) {
		free(pd);
		return err;
	}
	*out = &pd->pub;
	return 0;
}

int gsn_dealloc_pd(struct gsn_pd *pub)
{
	struct gsn_pd_priv *pd = to_pd(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_handle h = {.handle = pub->handle};
	int err;

	pthread_mutex_lock(&ctx->lock);
	if (pd->users) {
		pthread_mutex_unlock(&ctx->lock);
		return -EBUSY;
	}
	err = gsn_cmd(ctx, GSN_DEV_CMD_DEALLOC_PD, &h, sizeof(h), NULL, 0, NULL, 0);
	if (gsn_conn_lost(err))
		err = 0; /* gsnd is gone and the PD with it */
	if (!err)
		gsn_list_del(&pd->node);
	pthread_mutex_unlock(&ctx->lock);
	if (!err)
		free(pd);
	return err;
}

int gsn_reg_mr(struct gsn_pd *pd_pub, void *addr, size_t length, unsigned access,
	       uint64_t requested_key, struct gsn_mr **out)
{
	struct gsn_ctx *ctx = to_ctx(pd_pub->context);
	struct gsn_pd_priv *pd = to_pd(pd_pub);
	struct gsn_dev_reg_mr_req req = {
		.pd = pd_pub->handle,
		.access = access,
		.addr = (uint64_t)(uintptr_t)addr,
		.length = length,
		.requested_key = requested_key,
	};
	struct gsn_dev_reg_mr_resp resp;

	if ((access & ~ACCESS_ALL) ||
	    ((access & (GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_ATOMIC)) &&
	     !(access & GSN_ACCESS_LOCAL_WRITE)))
		return -EINVAL;
	if (!addr && length)
		return -EINVAL;
	if ((uint64_t)length > ctx->open.max_mr_size ||
	    (uint64_t)(uintptr_t)addr + length < (uint64_t)(uintptr_t)addr)
		return -EINVAL;
	struct gsn_mr_priv *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return -ENOMEM;
	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_REG_MR, &req, sizeof(req), &resp, sizeof(resp), NULL, 0);

	if (!err) {
		mr->pub.context = pd_pub->context;
		mr->pub.pd = pd_pub;
		mr->pub.addr = addr;
		mr->pub.length = length;
		mr->pub.handle = resp.handle;
		mr->pub.lkey = resp.lkey;
		mr->pub.rkey = resp.rkey;
		mr->pub.access = access;
		pd->users++;
		gsn_list_add(&ctx->mrs, &mr->node);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (err) {
		free(mr);
		return err;
	}
	*out = &mr->pub;
	return 0;
}

int gsn_dereg_mr(struct gsn_mr *pub)
{
	struct gsn_mr_priv *mr = to_mr(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_handle h = {.handle = pub->handle};

	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_DEREG_MR, &h, sizeof(h), NULL, 0, NULL, 0);

	if (gsn_conn_lost(err))
		err = 0;
	if (!err) {
		to_pd(pub->pd)->users--;
		gsn_list_del(&mr->node);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (!err)
		free(mr);
	return err;
}
