/* SPDX-License-Identifier: MIT */
/*
 * fi_fabric.c — the fabric object: the root of domains and event queues.
 * It holds no device resources (each domain opens its own libgsn context).
 */
#include <stdlib.h>
#include <string.h>

#include "gsn_fi.h"

static struct gsnfi_fabric *fabric_of(struct fid *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_fabric, fabric_fid.fid);
}

void gsnfi_fabric_hold(struct gsnfi_fabric *f)
{
	pthread_mutex_lock(&f->lock);
	f->refs++;
	pthread_mutex_unlock(&f->lock);
}

void gsnfi_fabric_release(struct gsnfi_fabric *f)
{
	pthread_mutex_lock(&f->lock);
	f->refs--;
	pthread_mutex_unlock(&f->lock);
}

static int fabric_close(struct fid *fid)
{
	struct gsnfi_fabric *f = fabric_of(fid);
	int refs;

	pthread_mutex_lock(&f->lock);
	refs = f->refs;
	pthread_mutex_unlock(&f->lock);
	if (refs) {
		GSNFI_WARN(FI_LOG_FABRIC, "fabric close: %d domains/EQs still open\n", refs);
		return -FI_EBUSY;
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static int fabric_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	(void)fid;
	(void)bfid;
	(void)flags;
	return -FI_ENOSYS;
}

static int fabric_control(struct fid *fid, int command, void *arg)
{
	(void)fid;
	(void)command;
	(void)arg;
	return -FI_ENOSYS;
}

static struct fi_ops gsnfi_fabric_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = fabric_close,
	.bind = fabric_bind,
	.control = fabric_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

static int fabric_passive_ep(struct fid_fabric *fabric, struct fi_info *info,
			     struct fid_pep **pep, void *context)
{
	(void)fabric;
	(void)info;
	(void)pep;
	(void)context;
	return -FI_ENOSYS; /* FI_EP_MSG only */
}

static int fabric_wait_open(struct fid_fabric *fabric, struct fi_wait_attr *attr,
			    struct fid_wait **waitset)
{
	(void)fabric;
	(void)attr;
	(void)waitset;
	return -FI_ENOSYS;
}

/*
 * 0 when every object's wait object may be slept on (nothing pending);
 * -FI_EAGAIN when one has something to read.
 */
static int fabric_trywait(struct fid_fabric *fabric, struct fid **fids, int count)
{
	(void)fabric;
	if (count < 0 || (count > 0 && !fids))
		return -FI_EINVAL;
	for (int i = 0; i < count; i++) {
		int ret;

		switch (fids[i]->fclass) {
		case FI_CLASS_CQ:
			ret = gsnfi_cq_trywait(fids[i]);
			break;
		case FI_CLASS_CNTR:
			ret = gsnfi_cntr_trywait(fids[i]);
			break;
		case FI_CLASS_EQ:
			ret = gsnfi_eq_trywait(fids[i]);
			break;
		default:
			ret = -FI_EINVAL;
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

static int fabric_domain2(struct fid_fabric *fabric, struct fi_info *info,
			  struct fid_domain **dom, uint64_t flags, void *context)
{
	if (flags)
		return -FI_EBADFLAGS; /* FI_PEER and the like */
	return gsnfi_domain_open(fabric, info, dom, context);
}

static struct fi_ops_fabric gsnfi_fabric_ops = {
	.size = sizeof(struct fi_ops_fabric),
	.domain = gsnfi_domain_open,
	.passive_ep = fabric_passive_ep,
	.eq_open = gsnfi_eq_open,
	.wait_open = fabric_wait_open,
	.trywait = fabric_trywait,
	.domain2 = fabric_domain2,
};

int gsnfi_fabric_open(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context)
{
	struct gsnfi_fabric *f;

	if (!attr || !fabric)
		return -FI_EINVAL;
	if (attr->name && strcmp(attr->name, GSNFI_FABRIC_NAME)) {
		GSNFI_WARN(FI_LOG_FABRIC, "fabric %s is not %s\n", attr->name, GSNFI_FABRIC_NAME);
		return -FI_ENODATA;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -FI_ENOMEM;
	if (pthread_mutex_init(&f->lock, NULL)) {
		free(f);
		return -FI_ENOMEM;
	}
	f->fabric_fid.fid.fclass = FI_CLASS_FABRIC;
	f->fabric_fid.fid.context = context;
	f->fabric_fid.fid.ops = &gsnfi_fabric_fi_ops;
	f->fabric_fid.ops = &gsnfi_fabric_ops;
	f->fabric_fid.api_version = attr->api_version;
	*fabric = &f->fabric_fid;
	return 0;
}
