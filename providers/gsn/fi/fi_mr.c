/* SPDX-License-Identifier: MIT */
/*
 * fi_mr.c — memory registration.
 *
 * An fi_mr is a libgsn MR (a gsnd region) plus the key libfabric sees:
 *  - FI_MR_PROV_KEY: the key is the MR's rkey, chosen by gsnd;
 *  - user keys (no PROV_KEY): the key is requested_key and the rkey asked
 *    of gsnd is requested_key + 1 (gsnd reserves rkey 0), so the initiator
 *    maps key -> rkey with gsnfi_rkey_of_key() without asking the target.
 *    gsnd keeps rkeys per client (per libgsn context, so per domain), as
 *    libfabric keeps keys per domain; the keys whose rkey would fall in
 *    gsnd's reserved range (top 16 bits all ones) are -FI_ENOKEY.
 * Without FI_MR_VIRT_ADDR the MR is zero-based (GSN_ACCESS_ZERO_BASED):
 * peers address it by offset.  Zero-length registrations have no libgsn MR
 * behind them (gsnd refuses them); under PROV_KEY they get keys from a
 * range gsnd never hands out.
 *
 * The domain keeps its MRs sorted by key for the target side of software
 * operations (atomics, remote-event notifications): gsnfi_mr_lookup_locked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gsn_fi.h"

static struct gsnfi_mr *mr_of(struct fid *fid)
{
	return GSNFI_CONTAINER_OF(fid, struct gsnfi_mr, mr_fid.fid);
}

uint64_t gsnfi_rkey_of_key(const struct gsnfi_domain *d, uint64_t key)
{
	return (d->mr_mode & FI_MR_PROV_KEY) ? key : key + 1;
}

/* ---- the domain's table, sorted by key ------------------------------------------ */

/* Index of key, or where it would go (*found false). */
static size_t table_search(const struct gsnfi_domain *d, uint64_t key, bool *found)
{
	size_t lo = 0, hi = d->mr_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k = d->mr_table[mid]->mr_fid.key;

		if (k == key) {
			*found = true;
			return mid;
		}
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct gsnfi_mr *table_find(const struct gsnfi_domain *d, uint64_t key)
{
	bool found;
	size_t i = table_search(d, key, &found);

	return found ? d->mr_table[i] : NULL;
}

static int table_insert(struct gsnfi_domain *d, struct gsnfi_mr *mr)
{
	bool found;
	size_t i = table_search(d, mr->mr_fid.key, &found);

	if (found)
		return -FI_ENOKEY;
	if (d->mr_count == d->mr_cap) {
		size_t cap = d->mr_cap ? 2 * d->mr_cap : 16;
		struct gsnfi_mr **t = realloc(d->mr_table, cap * sizeof(*t));

		if (!t)
			return -FI_ENOMEM;
		d->mr_table = t;
		d->mr_cap = cap;
	}
	memmove(&d->mr_table[i + 1], &d->mr_table[i], (d->mr_count - i) * sizeof(*d->mr_table));
	d->mr_table[i] = mr;
	d->mr_count++;
	return 0;
}

static void table_remove(struct gsnfi_domain *d, struct gsnfi_mr *mr)
{
	bool found;
	size_t i = table_search(d, mr->mr_fid.key, &found);

	if (!found || d->mr_table[i] != mr)
		return;
	memmove(&d->mr_table[i], &d->mr_table[i + 1], (d->mr_count - i - 1) * sizeof(*d->mr_table));
	d->mr_count--;
}

/* ---- lookups for the data path ------------------------------------------------------ */

struct gsnfi_mr *gsnfi_mr_lookup_locked(struct gsnfi_domain *d, uint64_t key, uint64_t addr,
					size_t len, uint64_t access, void **local, int *err)
{
	struct gsnfi_mr *mr = table_find(d, key);
	uint64_t off;

	if (!mr || (mr->access & access) != access) {
		*err = -FI_EACCES;
		return NULL;
	}
	if (d->mr_mode & FI_MR_VIRT_ADDR) {
		if (addr < (uint64_t)(uintptr_t)mr->addr) {
			*err = -FI_EACCES;
			return NULL;
		}
		off = addr - (uint64_t)(uintptr_t)mr->addr;
	} else {
		off = addr;
	}
	if (off > mr->len || len > mr->len - off) {
		*err = -FI_EACCES;
		return NULL;
	}
	*local = off ? (char *)mr->addr + off : mr->addr;
	*err = 0;
	return mr;
}

static bool gmr_covers(const struct gsn_mr *gmr, const void *buf, size_t len, unsigned access)
{
	uintptr_t b = (uintptr_t)buf, a = (uintptr_t)gmr->addr;

	return (gmr->access & access) == access && b >= a && b - a <= gmr->length &&
	       len <= gmr->length - (b - a);
}

int gsnfi_lbuf_get_locked(struct gsnfi_domain *d, void *buf, size_t len, void *desc,
			  unsigned gsn_access, struct gsnfi_lbuf *lb)
{
	struct gsnfi_mr *mr = desc;
	int ret;

	memset(lb, 0, sizeof(*lb));
	if (len == 0)
		return 0;
	gsn_access &= ~GSN_ACCESS_ZERO_BASED;
	if (mr && mr->domain == d && mr->gmr && gmr_covers(mr->gmr, buf, len, gsn_access)) {
		lb->gmr = mr->gmr;
		lb->zero_based = (mr->gmr->access & GSN_ACCESS_ZERO_BASED) != 0;
		return 0;
	}
	/* the device writes local buffers only with LOCAL_WRITE; asking always is harmless */
	ret = gsn_reg_mr(d->pd, buf, len, gsn_access | GSN_ACCESS_LOCAL_WRITE, 0, &lb->gmr);
	if (ret) {
		GSNFI_WARN(FI_LOG_MR, "temporary registration of %zu bytes: %s\n", len,
			   strerror(-ret));
		lb->gmr = NULL;
		return gsnfi_errno(ret);
	}
	lb->temporary = true;
	return 0;
}

void gsnfi_lbuf_release_locked(struct gsnfi_lbuf *lb)
{
	if (lb->temporary && lb->gmr)
		gsn_dereg_mr(lb->gmr);
	memset(lb, 0, sizeof(*lb));
}

/* ---- fid ops ------------------------------------------------------------------------ */

static int mr_close(struct fid *fid)
{
	struct gsnfi_mr *mr = mr_of(fid);
	struct gsnfi_domain *d = mr->domain;
	int ret = 0;

	gsnfi_lock(d);
	if (mr->gmr)
		ret = gsn_dereg_mr(mr->gmr);
	if (ret) {
		/* gsnd still knows it: keep it so the application may retry */
		gsnfi_unlock(d);
		GSNFI_WARN(FI_LOG_MR, "fi_close(mr): %s\n", strerror(-ret));
		return gsnfi_errno(ret);
	}
	table_remove(d, mr);
	if (mr->rma_cntr)
		mr->rma_cntr->refs--;
	d->refs--;
	gsnfi_unlock(d);
	free(mr);
	return 0;
}

static int mr_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	struct gsnfi_mr *mr = mr_of(fid);
	struct gsnfi_domain *d = mr->domain;
	struct gsnfi_cntr *c;

	if (!bfid || bfid->fclass != FI_CLASS_CNTR)
		return -FI_ENOSYS; /* EQs: no asynchronous registration */
	if (!(flags & (FI_REMOTE_WRITE | FI_REMOTE_READ)) ||
	    (flags & ~(FI_REMOTE_WRITE | FI_REMOTE_READ)))
		return -FI_EBADFLAGS;
	if (!(d->caps & FI_RMA_EVENT)) {
		GSNFI_WARN(FI_LOG_MR, "fi_mr_bind(counter) needs FI_RMA_EVENT\n");
		return -FI_EINVAL;
	}
	c = GSNFI_CONTAINER_OF(bfid, struct gsnfi_cntr, cntr_fid.fid);
	if (c->domain != d)
		return -FI_EINVAL;
	gsnfi_lock(d);
	if (mr->rma_cntr)
		mr->rma_cntr->refs--;
	mr->rma_cntr = c;
	mr->cntr_flags = flags;
	c->refs++;
	gsnfi_unlock(d);
	return 0;
}

static int mr_control(struct fid *fid, int command, void *arg)
{
	(void)fid;
	(void)arg;
	switch (command) {
	case FI_ENABLE:
		return 0; /* nothing to enable: bound counters count at once */
	default:
		return -FI_ENOSYS; /* FI_REFRESH and the rest */
	}
}

static struct fi_ops gsnfi_mr_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = mr_close,
	.bind = mr_bind,
	.control = mr_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

/* ---- registration ------------------------------------------------------------------ */

static unsigned gsn_access_of(const struct gsnfi_domain *d, uint64_t access)
{
	unsigned a = GSN_ACCESS_LOCAL_WRITE;

	if (access & FI_REMOTE_WRITE)
		a |= GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_ATOMIC;
	if (access & FI_REMOTE_READ)
		a |= GSN_ACCESS_REMOTE_READ;
	if (!(d->mr_mode & FI_MR_VIRT_ADDR))
		a |= GSN_ACCESS_ZERO_BASED;
	return a;
}

/* The libgsn MR behind a registration; its rkey becomes the key under PROV_KEY. */
static int register_gmr(struct gsnfi_domain *d, struct gsnfi_mr *mr, uint64_t requested_key)
{
	bool prov_key = (d->mr_mode & FI_MR_PROV_KEY) != 0;
	int ret;

	if (mr->len == 0) {
		mr->mr_fid.key = prov_key ? d->next_prov_key++ : requested_key;
		return 0;
	}
	ret = gsn_reg_mr(d->pd, mr->addr, mr->len, gsn_access_of(d, mr->access),
			 prov_key ? 0 : requested_key + 1, &mr->gmr);
	if (ret == -EEXIST) {
		GSNFI_INFO(FI_LOG_MR, "key %#llx is taken on this device\n",
			   (unsigned long long)requested_key);
		return -FI_ENOKEY;
	}
	if (ret) {
		GSNFI_WARN(FI_LOG_MR, "registration of %zu bytes: %s\n", mr->len, strerror(-ret));
		return gsnfi_errno(ret);
	}
	mr->mr_fid.key = prov_key ? mr->gmr->rkey : requested_key;
	return 0;
}

/* rkeys with the top 16 bits all ones are gsnd's own (libgsn.h, gsn_reg_mr). */
#define GSNFI_RKEY_RESERVED 0xFFFF000000000000ull

static int check_reg_args(struct gsnfi_domain *d, const void *buf, size_t len, uint64_t offset,
			  uint64_t requested_key, uint64_t flags, struct fid_mr **mr)
{
	if (!mr || (len && !buf))
		return -FI_EINVAL;
	if (offset) {
		GSNFI_WARN(FI_LOG_MR, "fi_mr_reg: offset must be 0\n");
		return -FI_EINVAL;
	}
	if (flags & ~FI_RMA_EVENT)
		return -FI_EBADFLAGS;
	if (!(d->mr_mode & FI_MR_PROV_KEY)) {
		if (requested_key == UINT64_MAX) /* its rkey would wrap to 0 */
			return -FI_EINVAL;
		if (((requested_key + 1) & GSNFI_RKEY_RESERVED) == GSNFI_RKEY_RESERVED)
			return -FI_ENOKEY;
		if (table_find(d, requested_key))
			return -FI_ENOKEY;
	}
	return 0;
}

int gsnfi_mr_reg(struct fid *fid, const void *buf, size_t len, uint64_t access, uint64_t offset,
		 uint64_t requested_key, uint64_t flags, struct fid_mr **mr_out, void *context)
{
	struct gsnfi_domain *d;
	struct gsnfi_mr *mr;
	int ret;

	if (!fid || fid->fclass != FI_CLASS_DOMAIN)
		return -FI_EINVAL;
	d = GSNFI_CONTAINER_OF(fid, struct gsnfi_domain, domain_fid.fid);
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -FI_ENOMEM;
	mr->domain = d;
	mr->addr = (void *)buf;
	mr->len = len;
	mr->access = access;
	mr->flags = flags;
	mr->mr_fid.fid.fclass = FI_CLASS_MR;
	mr->mr_fid.fid.context = context;
	mr->mr_fid.fid.ops = &gsnfi_mr_fi_ops;
	mr->mr_fid.mem_desc = mr;

	gsnfi_lock(d);
	ret = check_reg_args(d, buf, len, offset, requested_key, flags, mr_out);
	if (!ret)
		ret = register_gmr(d, mr, requested_key);
	if (!ret) {
		ret = table_insert(d, mr);
		if (ret && mr->gmr)
			gsn_dereg_mr(mr->gmr);
	}
	if (ret) {
		gsnfi_unlock(d);
		free(mr);
		return ret;
	}
	d->refs++;
	gsnfi_unlock(d);
	*mr_out = &mr->mr_fid;
	return 0;
}
