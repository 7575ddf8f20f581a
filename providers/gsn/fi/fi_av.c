/* SPDX-License-Identifier: MIT */
/*
 * fi_av.c — address vectors and the text form of gsn addresses.
 *
 * Both AV types keep the addresses in one array: fi_addr is the index
 * (FI_AV_TABLE requires that; with FI_AV_MAP it is just as good an opaque
 * value).  Indexes are never reused.  The data path resolves the other way
 * on every FI_SOURCE receive, so a hash on the address maps back to the
 * index in O(1); removal rebuilds it (removals are rare).
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gsn_fi.h"

#define AV_MIN_CAP 16
#define GSNFI_ADDR_PREFIX "gsn://"

/* ---- the text form: "gsn://02:00:00:00:00:01/qpn/nonce" (hex) ----------------------- */

int gsnfi_addr_to_str(const struct gsnfi_addr *a, char *buf, size_t *len)
{
	char tmp[GSNFI_ADDR_STRLEN];
	int n = snprintf(tmp, sizeof(tmp), GSNFI_ADDR_PREFIX "%02x:%02x:%02x:%02x:%02x:%02x/%x/%x",
			 a->ula[0], a->ula[1], a->ula[2], a->ula[3], a->ula[4], a->ula[5],
			 be32toh(a->ud_qpn), be32toh(a->nonce));
	size_t need = (size_t)n + 1, have = *len;

	if (buf && have) {
		size_t c = need < have ? need : have;

		memcpy(buf, tmp, c);
		buf[c - 1] = '\0';
	}
	*len = need;
	return need <= have ? 0 : -FI_ETOOSMALL;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1..max_digits hex digits at *p; advances *p.  -1 when there are none or too many. */
static int parse_hex(const char **p, int max_digits, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0, d;

	while ((d = hex_digit(**p)) >= 0) {
		if (++n > max_digits)
			return -1;
		v = v << 4 | (uint32_t)d;
		(*p)++;
	}
	*out = v;
	return n ? 0 : -1;
}

int gsnfi_addr_from_str(const char *s, struct gsnfi_addr *a)
{
	const char *p;
	uint32_t v, qpn, nonce;

	if (!s || strncmp(s, GSNFI_ADDR_PREFIX, strlen(GSNFI_ADDR_PREFIX)))
		return -FI_EINVAL;
	p = s + strlen(GSNFI_ADDR_PREFIX);
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < 6; i++) {
		if (parse_hex(&p, 2, &v) || *p++ != (i < 5 ? ':' : '/'))
			return -FI_EINVAL;
		a->ula[i] = (uint8_t)v;
	}
	if (parse_hex(&p, 8, &qpn) || *p++ != '/' || parse_hex(&p, 8, &nonce) || *p)
		return -FI_EINVAL;
	a->ud_qpn = htobe32(qpn);
	a->nonce = htobe32(nonce);
	return 0;
}

/* ---- reverse map ---------------------------------------------------------------------- */

static size_t addr_hash(const struct gsnfi_addr *a)
{
	uint64_t w[2];

	memcpy(w, a, sizeof(w));
	uint64_t h = w[0] * 0x9e3779b97f4a7c15ull ^ w[1];

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static void rev_put(size_t *rev, size_t cap, const struct gsnfi_addr *addrs, size_t idx)
{
	size_t i = addr_hash(&addrs[idx]) & (cap - 1);

	while (rev[i]) {
		/* keep the first index of an address inserted twice */
		if (!memcmp(&addrs[rev[i] - 1], &addrs[idx], sizeof(*addrs)))
			return;
		i = (i + 1) & (cap - 1);
	}
	rev[i] = idx + 1;
}

/* Rebuilds the map with room for at least want entries. */
static int rev_rebuild(struct gsnfi_av *av, size_t want)
{
	size_t cap = av->rev_cap ? av->rev_cap : 32;
	size_t *rev;

	while (cap <= 2 * want)
		cap *= 2;
	rev = calloc(cap, sizeof(*rev));
	if (!rev)
		return -FI_ENOMEM;
	for (size_t i = 0; i < av->count; i++)
		if (av->used[i])
			rev_put(rev, cap, av->addrs, i);
	free(av->rev);
	av->rev = rev;
	av->rev_cap = cap;
	return 0;
}

fi_addr_t gsnfi_av_reverse_locked(struct gsnfi_av *av, const struct gsnfi_addr *a)
{
	if (!av || !av->rev_cap)
		return FI_ADDR_NOTAVAIL;
	for (size_t i = addr_hash(a) & (av->rev_cap - 1); av->rev[i];
	     i = (i + 1) & (av->rev_cap - 1)) {
		size_t idx = av->rev[i] - 1;

		if (!memcmp(&av->addrs[idx], a, sizeof(*a)))
			return av->used[idx] ? (fi_addr_t)idx : FI_ADDR_NOTAVAIL;
	}
	return FI_ADDR_NOTAVAIL;
}

const struct gsnfi_addr *gsnfi_av_lookup_locked(struct gsnfi_av *av, fi_addr_t fi_addr)
{
	if (!av || fi_addr >= av->count || !av->used[fi_addr])
		return NULL;
	return &av->addrs[fi_addr];
}

/* ---- insertion -------------------------------------------------------------------------- */

static int av_grow(struct gsnfi_av *av, size_t want)
{
	size_t cap = av->cap ? av->cap : AV_MIN_CAP;
	struct gsnfi_addr *addrs;
	bool *used;

	if (want <= av->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	addrs = realloc(av->addrs, cap * sizeof(*addrs));
	if (!addrs)
		return -FI_ENOMEM;
	av->addrs = addrs;
	used = realloc(av->used, cap * sizeof(*used));
	if (!used)
		return -FI_ENOMEM;
	av->used = used;
	av->cap = cap;
	return 0;
}

/* Appends one well-formed address; its index. */
static int av_append_locked(struct gsnfi_av *av, const struct gsnfi_addr *a, fi_addr_t *out)
{
	int ret = av_grow(av, av->count + 1);

	if (!ret && 2 * (av->count + 1) >= av->rev_cap)
		ret = rev_rebuild(av, av->count + 1);
	if (ret)
		return ret;
	av->addrs[av->count] = *a;
	av->used[av->count] = true;
	rev_put(av->rev, av->rev_cap, av->addrs, av->count);
	*out = (fi_addr_t)av->count++;
	return 0;
}

struct insert_result {
	size_t ok;
	int first_err;
};

/* One entry of an insert: its fi_addr, and how it failed (positive FI_E*) for reporting. */
static int insert_one_locked(struct gsnfi_av *av, const void *src, fi_addr_t *fi_addr)
{
	struct gsnfi_addr a;

	memcpy(&a, src, sizeof(a)); /* the application's buffer need not be aligned */
	*fi_addr = FI_ADDR_NOTAVAIL;
	if (!gsnfi_addr_valid(&a)) {
		GSNFI_INFO(FI_LOG_AV, "malformed address refused\n");
		return FI_EINVAL;
	}
	return -av_append_locked(av, &a, fi_addr);
}

static int av_insert_entries(struct gsnfi_av *av, const void *addr, size_t count,
			     fi_addr_t *fi_addr, uint64_t flags, void *context, bool async)
{
	struct insert_result r = {0};
	int *sync_err = (flags & FI_SYNC_ERR) ? context : NULL;

	gsnfi_lock(av->domain);
	for (size_t i = 0; i < count; i++) {
		fi_addr_t fa;
		int err = insert_one_locked(av, (const char *)addr + i * sizeof(struct gsnfi_addr),
					    &fa);

		if (fi_addr)
			fi_addr[i] = fa;
		if (sync_err)
			sync_err[i] = err;
		if (!err) {
			r.ok++;
			continue;
		}
		if (!r.first_err)
			r.first_err = err;
		if (async)
			gsnfi_eq_write_error(av->eq, &av->av_fid.fid, context, i, err, 0);
	}
	gsnfi_unlock(av->domain);
	if (async) {
		struct fi_eq_entry done = {.fid = &av->av_fid.fid, .context = context,
					   .data = r.ok};

		fi_eq_write(av->eq, FI_AV_COMPLETE, &done, sizeof(done), 0);
		return 0;
	}
	return (int)r.ok;
}

static int av_insert(struct fid_av *av_fid, const void *addr, size_t count, fi_addr_t *fi_addr,
		     uint64_t flags, void *context)
{
	struct gsnfi_av *av = GSNFI_CONTAINER_OF(av_fid, struct gsnfi_av, av_fid);
	bool async = (flags & FI_EVENT) || (av->flags & FI_EVENT);

	if (flags & ~(FI_MORE | FI_SYNC_ERR | FI_EVENT))
		return -FI_EBADFLAGS;
	if (count && !addr)
		return -FI_EINVAL;
	if ((flags & FI_SYNC_ERR) && (!context || async))
		return -FI_EINVAL;
	if (async && !av->eq)
		return -FI_ENOEQ;
	return av_insert_entries(av, addr, count, fi_addr, flags, context, async);
}

static int av_insertsvc(struct fid_av *av_fid, const char *node, const char *service,
			fi_addr_t *fi_addr, uint64_t flags, void *context)
{
	struct gsnfi_addr a;

	(void)service; /* a gsn address has no service part */
	if (gsnfi_addr_from_str(node, &a))
		return -FI_EINVAL;
	return av_insert(av_fid, &a, 1, fi_addr, flags, context);
}

static int av_insertsym(struct fid_av *av_fid, const char *node, size_t nodecnt,
			const char *service, size_t svccnt, fi_addr_t *fi_addr, uint64_t flags,
			void *context)
{
	(void)av_fid;
	(void)node;
	(void)nodecnt;
	(void)service;
	(void)svccnt;
	(void)fi_addr;
	(void)flags;
	(void)context;
	return -FI_ENOSYS;
}

static int av_remove(struct fid_av *av_fid, fi_addr_t *fi_addr, size_t count, uint64_t flags)
{
	struct gsnfi_av *av = GSNFI_CONTAINER_OF(av_fid, struct gsnfi_av, av_fid);
	int ret = 0;

	if (flags)
		return -FI_EBADFLAGS;
	if (count && !fi_addr)
		return -FI_EINVAL;
	gsnfi_lock(av->domain);
	for (size_t i = 0; i < count; i++) {
		if (fi_addr[i] >= av->count || !av->used[fi_addr[i]]) {
			ret = -FI_EINVAL;
			continue;
		}
		av->used[fi_addr[i]] = false;
	}
	/* the map must forget the removed ones (and find duplicates still in) */
	if (count && rev_rebuild(av, av->count))
		GSNFI_WARN(FI_LOG_AV, "out of memory rebuilding the reverse map\n");
	gsnfi_unlock(av->domain);
	return ret;
}

static int av_lookup(struct fid_av *av_fid, fi_addr_t fi_addr, void *addr, size_t *addrlen)
{
	struct gsnfi_av *av = GSNFI_CONTAINER_OF(av_fid, struct gsnfi_av, av_fid);
	const struct gsnfi_addr *a;
	size_t n;

	if (!addrlen || (*addrlen && !addr))
		return -FI_EINVAL;
	gsnfi_lock(av->domain);
	a = gsnfi_av_lookup_locked(av, fi_addr);
	if (a) {
		n = *addrlen < sizeof(*a) ? *addrlen : sizeof(*a);
		if (n) /* truncated to the buffer; *addrlen says how much there is */
			memcpy(addr, a, n);
		*addrlen = sizeof(*a);
	}
	gsnfi_unlock(av->domain);
	return a ? 0 : -FI_EINVAL;
}

static const char *av_straddr(struct fid_av *av_fid, const void *addr, char *buf, size_t *len)
{
	struct gsnfi_addr a;

	(void)av_fid;
	if (!addr || !len)
		return NULL;
	memcpy(&a, addr, sizeof(a));
	gsnfi_addr_to_str(&a, buf, len);
	return buf;
}

static int av_set(struct fid_av *av_fid, struct fi_av_set_attr *attr, struct fid_av_set **av_set,
		  void *context)
{
	(void)av_fid;
	(void)attr;
	(void)av_set;
	(void)context;
	return -FI_ENOSYS;
}

static struct fi_ops_av gsnfi_av_ops = {
	.size = sizeof(struct fi_ops_av),
	.insert = av_insert,
	.insertsvc = av_insertsvc,
	.insertsym = av_insertsym,
	.remove = av_remove,
	.lookup = av_lookup,
	.straddr = av_straddr,
	.av_set = av_set,
};

/* ---- fid ops ------------------------------------------------------------------------------ */

static int av_close(struct fid *fid)
{
	struct gsnfi_av *av = GSNFI_CONTAINER_OF(fid, struct gsnfi_av, av_fid.fid);
	struct gsnfi_domain *d = av->domain;

	gsnfi_lock(d);
	if (av->refs) {
		gsnfi_unlock(d);
		GSNFI_WARN(FI_LOG_AV, "AV close: %d endpoints still bound\n", av->refs);
		return -FI_EBUSY;
	}
	d->refs--;
	gsnfi_unlock(d);
	if (av->eq)
		gsnfi_eq_release(av->eq);
	free(av->addrs);
	free(av->used);
	free(av->rev);
	free(av);
	return 0;
}

static int av_bind(struct fid *fid, struct fid *bfid, uint64_t flags)
{
	struct gsnfi_av *av = GSNFI_CONTAINER_OF(fid, struct gsnfi_av, av_fid.fid);
	struct fid_eq *eq;

	if (!bfid || bfid->fclass != FI_CLASS_EQ)
		return -FI_EINVAL;
	if (flags)
		return -FI_EBADFLAGS;
	eq = GSNFI_CONTAINER_OF(bfid, struct fid_eq, fid);
	gsnfi_eq_hold(eq);
	gsnfi_lock(av->domain);
	if (av->eq)
		gsnfi_eq_release(av->eq);
	av->eq = eq;
	gsnfi_unlock(av->domain);
	return 0;
}

static int av_control(struct fid *fid, int command, void *arg)
{
	(void)fid;
	(void)command;
	(void)arg;
	return -FI_ENOSYS;
}

static struct fi_ops gsnfi_av_fi_ops = {
	.size = sizeof(struct fi_ops),
	.close = av_close,
	.bind = av_bind,
	.control = av_control,
	.ops_open = gsnfi_no_ops_open,
	.tostr = gsnfi_no_tostr,
	.ops_set = gsnfi_no_ops_set,
};

static int check_attr(const struct fi_av_attr *attr, enum fi_av_type *type)
{
	switch (attr->type) {
	case FI_AV_UNSPEC:
		*type = FI_AV_MAP;
		break;
	case FI_AV_MAP:
	case FI_AV_TABLE:
		*type = attr->type;
		break;
	default:
		return -FI_EINVAL;
	}
	if (attr->rx_ctx_bits) {
		GSNFI_WARN(FI_LOG_AV, "rx_ctx_bits: no scalable endpoints\n");
		return -FI_EINVAL;
	}
	if (attr->name || (attr->flags & FI_READ)) {
		GSNFI_WARN(FI_LOG_AV, "named (shared) AVs are not supported\n");
		return -FI_ENOSYS;
	}
	if (attr->flags & ~(FI_EVENT | FI_SYMMETRIC))
		return -FI_EBADFLAGS;
	return 0;
}

int gsnfi_av_open(struct fid_domain *domain, struct fi_av_attr *attr, struct fid_av **av_out,
		  void *context)
{
	struct gsnfi_domain *d = gsnfi_domain_of(domain);
	struct fi_av_attr def = {.type = FI_AV_UNSPEC};
	struct gsnfi_av *av;
	enum fi_av_type type;
	int ret;

	if (!av_out)
		return -FI_EINVAL;
	if (!attr)
		attr = &def;
	ret = check_attr(attr, &type);
	if (ret)
		return ret;
	av = calloc(1, sizeof(*av));
	if (!av)
		return -FI_ENOMEM;
	av->domain = d;
	av->type = type;
	av->flags = attr->flags;
	ret = av_grow(av, attr->count > AV_MIN_CAP ? attr->count : AV_MIN_CAP);
	if (!ret)
		ret = rev_rebuild(av, av->cap);
	if (ret) {
		free(av->addrs);
		free(av->used);
		free(av);
		return ret;
	}
	av->av_fid.fid.fclass = FI_CLASS_AV;
	av->av_fid.fid.context = context;
	av->av_fid.fid.ops = &gsnfi_av_fi_ops;
	av->av_fid.ops = &gsnfi_av_ops;
	gsnfi_lock(d);
	d->refs++;
	gsnfi_unlock(d);
	*av_out = &av->av_fid;
	return 0;
}
