/* SPDX-License-Identifier: MIT */
/*
 * Memory: MRs, the st regions behind them, the temporary regions of work
 * requests, and every byte gsnd moves in or out of a client.
 *
 * Every MR is an st region.  Its rkey (requested or random) is unique
 * among the MRs of its client only: libfabric's user keys are per domain,
 * and two processes on one gsnd may well ask for the same.  The st region
 * has an engine key of gsnd's choosing (a counter), and the key of an
 * incoming Request_Memory_Region is translated by the client of the QP the
 * VC belongs to (dev_rkey_resolve) before libst looks it up.  Only MRs with
 * a remote access flag can be exposed to peers, and libst checks the flag
 * and the range.  gsnd checks again when the bytes move: an incoming
 * operation reaches an MR only if the VC it came on belongs to a QP of the
 * MR's client and PD that is in RTR or RTS and allows that access
 * (GSN_QP_ATTR_ACCESS), and the MR allows it too.  The region's base
 * (told to peers in Memory_Region_Available) is the MR's address, or 0 for
 * a zero-based MR, whose remote addresses are offsets.
 *
 * A work request's local SGEs are checked once against the client's MR
 * table (lkey, PD, range, LOCAL_WRITE for a sink) and become a temporary
 * region without remote access whose cookie scatters/gathers over them;
 * it holds a reference on each MR, so a DEREG_MR while work is in flight
 * leaves a dead MR that fails every later access instead of letting the
 * bytes go anywhere.  DMA is process_vm_readv/writev on the owner's pid; a
 * failure (EFAULT, ESRCH, EPERM) is a local memory error to libst.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "dev.h"

#define RKEY_TRIES 16

static unsigned st_access_of(uint32_t a)
{
	unsigned st = 0;

	if (a & GSN_ACCESS_REMOTE_WRITE)
		st |= ST_ACCESS_REMOTE_WRITE;
	if (a & GSN_ACCESS_REMOTE_READ)
		st |= ST_ACCESS_REMOTE_READ;
	if (a & GSN_ACCESS_REMOTE_ATOMIC)
		st |= ST_ACCESS_REMOTE_ATOMIC;
	return st;
}

/* A random rkey outside the reserved space. */
static uint64_t rkey_random(void)
{
	uint64_t k = 0;

	while (k == 0 || dev_key_reserved(k))
		if (getrandom(&k, sizeof(k), 0) != (ssize_t)sizeof(k))
			k = gsn_clock_ns() * 0x9e3779b97f4a7c15ull;
	return k;
}

/* ---- DMA ---- */

static int dma(pid_t pid, void *local, size_t len, const struct iovec *remote, unsigned n,
	       bool write)
{
	struct iovec l = {local, len};
	ssize_t rc = write ? process_vm_writev(pid, &l, 1, remote, n, 0)
			   : process_vm_readv(pid, &l, 1, remote, n, 0);

	if (rc == (ssize_t)len)
		return 0;
	return rc < 0 ? -errno : -EFAULT;
}

/* 0 when the client's bytes at the first and last address of the range answer. */
static int probe(pid_t pid, uint64_t addr, uint64_t len)
{
	uint8_t b;
	struct iovec r = {(void *)(uintptr_t)addr, 1};
	int err = dma(pid, &b, 1, &r, 1, false);

	if (err || len == 1)
		return err;
	r.iov_base = (void *)(uintptr_t)(addr + len - 1);
	return dma(pid, &b, 1, &r, 1, false);
}

/* ---- the client's rkeys ---- */

#define KEYMAP_GONE ((struct dev_mr *)(uintptr_t)1) /* a deleted slot */
#define KEYMAP_MIN 64u

static uint32_t keymap_hash(uint64_t key, uint32_t mask)
{
	key *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(key >> 32) & mask;
}

/* The slot holding key, or the first free one where it would go (NULL: map empty). */
static struct dev_mr **keymap_slot(const struct dev_keymap *m, uint64_t key, bool for_insert)
{
	struct dev_mr **gone = NULL;

	if (!m->cap)
		return NULL;
	for (uint32_t i = keymap_hash(key, m->cap - 1), n = 0; n < m->cap;
	     i = (i + 1) & (m->cap - 1), n++) {
		struct dev_mr **s = &m->slot[i];

		if (*s == KEYMAP_GONE) {
			if (!gone)
				gone = s;
			continue;
		}
		if (!*s)
			return for_insert && gone ? gone : s;
		if ((*s)->rkey == key)
			return s;
	}
	return for_insert ? gone : NULL;
}

/* Rehashes into a table a quarter full of live entries (deleted slots go). */
static int keymap_rehash(struct dev_keymap *m)
{
	uint32_t cap = KEYMAP_MIN;

	while (cap < (m->n + 1) * 4)
		cap *= 2;
	struct dev_keymap bigger = {.slot = calloc(cap, sizeof(struct dev_mr *)), .cap = cap};

	if (!bigger.slot)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		struct dev_mr *mr = m->slot[i];

		if (mr && mr != KEYMAP_GONE) {
			*keymap_slot(&bigger, mr->rkey, true) = mr;
			bigger.n++;
		}
	}
	bigger.used = bigger.n;
	free(m->slot);
	*m = bigger;
	return 0;
}

struct dev_mr *dev_mr_by_rkey(const struct dev_client *cl, uint64_t rkey)
{
	struct dev_mr **s = keymap_slot(&cl->keys, rkey, false);

	return s && *s && *s != KEYMAP_GONE ? *s : NULL;
}

/* Rehashes first (at half load, deleted slots counted), so the insert finds a free slot. */
static int keymap_add(struct dev_keymap *m, struct dev_mr *mr)
{
	if ((m->used + 1) * 2 > m->cap) {
		int err = keymap_rehash(m);

		if (err)
			return err;
	}
	struct dev_mr **s = keymap_slot(m, mr->rkey, true);

	if (!*s)
		m->used++;
	*s = mr;
	m->n++;
	return 0;
}

static void keymap_del(struct dev_keymap *m, const struct dev_mr *mr)
{
	struct dev_mr **s = keymap_slot(m, mr->rkey, false);

	if (s && *s == mr) {
		*s = KEYMAP_GONE;
		m->n--;
	}
}

static void keymap_free(struct dev_keymap *m)
{
	free(m->slot);
	*m = (struct dev_keymap){0};
}

uint64_t dev_rkey_resolve(const struct dev_qp *qp, uint64_t rkey)
{
	if (dev_key_reserved(rkey))
		return rkey; /* gsnd's sinks (and regions without remote access) */
	const struct dev_mr *mr = qp ? dev_mr_by_rkey(qp->cl, rkey) : NULL;

	return mr ? mr->ekey : DEV_KEY_NONE;
}

/* ---- MRs ---- */

static int mr_check_req(const struct gsn_dev_reg_mr_req *req)
{
	const uint32_t known = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE |
			       GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC |
			       GSN_ACCESS_ZERO_BASED;

	if (req->access & ~known)
		return -EINVAL;
	/* verbs: remote write or atomic access needs local write */
	if ((req->access & (GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_ATOMIC)) &&
	    !(req->access & GSN_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	if (req->length == 0 || req->length > DEV_MAX_MR_SIZE ||
	    req->addr + req->length < req->addr)
		return -EINVAL;
	if (req->requested_key && dev_key_reserved(req->requested_key))
		return -EINVAL;
	return 0;
}

/* The rkey: the requested one (-EEXIST if the client has it), or a random one it has not. */
static int mr_rkey(const struct dev_client *cl, struct dev_mr *mr, uint64_t requested)
{
	if (requested) {
		mr->rkey = requested;
		return dev_mr_by_rkey(cl, requested) ? -EEXIST : 0;
	}
	for (int i = 0; i < RKEY_TRIES; i++) {
		mr->rkey = rkey_random();
		if (!dev_mr_by_rkey(cl, mr->rkey))
			return 0;
	}
	return -EEXIST;
}

/* The next engine key: never 0, never in the reserved space, unique (a 64-bit counter). */
static uint64_t ekey_next(struct gsnd_dev *dev)
{
	if (++dev->next_ekey == 0 || dev_key_reserved(dev->next_ekey))
		dev->next_ekey = 1; /* after 2^64 - 2^48 registrations: -EEXIST retried below */
	return dev->next_ekey;
}

/* The st region of mr, with an engine key and its base (0: zero-based). */
static int mr_region(struct gsnd_dev *dev, struct dev_mr *mr)
{
	unsigned access = st_access_of(mr->access);
	int err = -EEXIST;

	for (int i = 0; i < RKEY_TRIES && err == -EEXIST; i++) {
		mr->ekey = ekey_next(dev);
		err = st_region_register(dev->eng, mr->len, access, mr->ekey, mr, &mr->mx);
	}
	if (err)
		return err;
	st_region_set_base(dev->eng, mr->mx,
			   mr->access & GSN_ACCESS_ZERO_BASED ? 0 : mr->addr);
	return 0;
}

int dev_mr_reg(struct dev_client *cl, const struct gsn_dev_reg_mr_req *req,
	       struct gsn_dev_reg_mr_resp *resp)
{
	struct dev_pd *pd = dev_tab_get(&cl->pds, req->pd);
	int err = mr_check_req(req);

	if (err)
		return err;
	if (!pd)
		return -ENOENT;
	err = probe(cl->pid, req->addr, req->length);
	if (err)
		return err == -ESRCH || err == -EPERM ? -EPERM : -EFAULT;
	struct dev_mr *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return -ENOMEM;
	mr->mem.kind = DEV_MEM_MR;
	mr->cl = cl;
	mr->pd = pd;
	mr->access = req->access;
	mr->addr = req->addr;
	mr->len = req->length;
	err = mr_rkey(cl, mr, req->requested_key);
	if (!err)
		err = mr_region(cl->dev, mr);
	if (!err) {
		err = keymap_add(&cl->keys, mr);
		if (err)
			st_region_deregister(cl->dev->eng, mr->mx);
	}
	if (!err) {
		err = dev_tab_add(&cl->mrs, mr, &mr->handle);
		if (err) {
			keymap_del(&cl->keys, mr);
			st_region_deregister(cl->dev->eng, mr->mx);
		}
	}
	if (err) {
		free(mr);
		return err;
	}
	pd->users++;
	resp->handle = mr->handle;
	resp->lkey = mr->handle;
	resp->rkey = mr->rkey;
	return 0;
}

static void mr_unref(struct dev_mr *mr)
{
	if (--mr->refs == 0 && mr->dead)
		free(mr);
}

static void mr_dereg(struct dev_client *cl, struct dev_mr *mr)
{
	st_region_deregister(cl->dev->eng, mr->mx); /* also ends its exposure on every VC */
	keymap_del(&cl->keys, mr);
	dev_tab_del(&cl->mrs, mr->handle);
	mr->pd->users--;
	mr->pd = NULL;
	if (mr->refs) {
		mr->dead = true; /* the last work request using it frees it */
		return;
	}
	free(mr);
}

int dev_mr_dereg(struct dev_client *cl, uint32_t handle)
{
	struct dev_mr *mr = dev_tab_get(&cl->mrs, handle);

	if (!mr)
		return -ENOENT;
	mr_dereg(cl, mr);
	return 0;
}

void dev_mr_free_all(struct dev_client *cl)
{
	for (uint32_t i = 0; i < cl->mrs.cap; i++)
		if (cl->mrs.obj[i])
			mr_dereg(cl, cl->mrs.obj[i]);
	keymap_free(&cl->keys);
}

/* ---- the local buffers of work requests ---- */

static void sgl_unref(struct dev_sgl *s)
{
	for (unsigned i = 0; i < s->n; i++)
		mr_unref(s->sge[i].mr);
	s->n = 0;
}

/* One SGE against the client's MR table: GSN_WC_SUCCESS or the status. */
static uint8_t sge_check(const struct dev_qp *qp, const struct gsn_sge *g, bool write,
			 struct dev_mr **out)
{
	struct dev_mr *mr = dev_tab_get(&qp->cl->mrs, g->lkey);

	if (!mr || mr->pd != qp->pd)
		return GSN_WC_LOC_PROT_ERR;
	if (write && !(mr->access & GSN_ACCESS_LOCAL_WRITE))
		return GSN_WC_LOC_PROT_ERR;
	if (g->addr < mr->addr || g->addr - mr->addr > mr->len ||
	    g->length > mr->len - (g->addr - mr->addr))
		return GSN_WC_LOC_PROT_ERR;
	*out = mr;
	return GSN_WC_SUCCESS;
}

static struct dev_sgl *sgl_new(struct dev_qp *qp, enum dev_mem_kind kind, bool write)
{
	struct dev_sgl *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->mem.kind = kind;
	s->dev = qp->dev;
	s->pid = qp->cl->pid;
	s->write = write;
	return s;
}

uint8_t dev_sgl_build(struct dev_qp *qp, const struct gsn_sge *sge, unsigned n, bool write,
		      struct dev_sgl **out)
{
	if (n > GSN_MAX_SGE)
		return GSN_WC_LOC_LEN_ERR;
	struct dev_sgl *s = sgl_new(qp, DEV_MEM_SGL, write);

	if (!s)
		return GSN_WC_GENERAL_ERR;
	for (unsigned i = 0; i < n; i++) {
		struct dev_mr *mr = NULL;
		uint8_t st;

		if (sge[i].length == 0)
			continue;
		st = sge_check(qp, &sge[i], write, &mr);
		if (st == GSN_WC_SUCCESS && s->total + sge[i].length > DEV_MAX_MSG)
			st = GSN_WC_LOC_LEN_ERR;
		if (st != GSN_WC_SUCCESS) {
			sgl_unref(s);
			free(s);
			return st;
		}
		mr->refs++;
		s->sge[s->n++] = (struct dev_sge){sge[i].addr, sge[i].length, mr};
		s->total += sge[i].length;
	}
	s->region_len = s->total ? s->total : 1;
	*out = s;
	return GSN_WC_SUCCESS;
}

struct dev_sgl *dev_buf_new(struct dev_qp *qp, const uint8_t *data, uint32_t len)
{
	struct dev_sgl *s = len <= GSN_MAX_INLINE ? sgl_new(qp, DEV_MEM_BUF, false) : NULL;

	if (!s)
		return NULL;
	memcpy(s->buf, data, len);
	s->total = len;
	s->region_len = len ? len : 1;
	return s;
}

int dev_sgl_register(struct gsnd_dev *dev, struct dev_sgl *s)
{
	int err = -EEXIST;

	for (int i = 0; i < RKEY_TRIES && err == -EEXIST; i++) {
		uint64_t key = DEV_KEY_RESERVED | (++dev->next_temp_key & ~DEV_KEY_RESERVED);

		if (key >= DEV_KEY_ZSEND) { /* wrapped (never, in practice) */
			dev->next_temp_key = 0;
			continue;
		}
		err = st_region_register(dev->eng, s->region_len, 0, key, s, &s->mx);
	}
	return err;
}

void dev_sgl_release(struct gsnd_dev *dev, struct dev_sgl *s)
{
	if (!s)
		return;
	if (s->mx && st_region_deregister(dev->eng, s->mx) == -EBUSY) {
		s->dead = true; /* libst still names it: park it, every access fails */
		s->next = dev->zombies;
		dev->zombies = s;
		return;
	}
	sgl_unref(s);
	free(s);
}

void dev_zombies_reap(struct gsnd_dev *dev, bool all)
{
	for (struct dev_sgl **pp = &dev->zombies; *pp;) {
		struct dev_sgl *s = *pp;

		if (!all && st_region_deregister(dev->eng, s->mx) == -EBUSY) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		sgl_unref(s);
		free(s);
	}
}

/* ---- the engine's memory callbacks ---- */

/* May the operation being input reach [off, off + len) of mr? */
static bool mr_allowed(struct gsnd_dev *dev, const struct dev_mr *mr, uint64_t off, size_t len)
{
	const struct dev_qp *qp = dev->in_qp;
	uint32_t need = dev->in_need;

	if (mr->dead || !qp || !need || qp->cl != mr->cl || qp->pd != mr->pd)
		return false;
	if (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS)
		return false;
	if (!(qp->access & need) || !(mr->access & need))
		return false;
	return off <= mr->len && len <= mr->len - off;
}

static int mr_io(struct gsnd_dev *dev, struct dev_mr *mr, uint64_t off, void *buf, size_t len,
		 bool write)
{
	if (!mr_allowed(dev, mr, off, len)) {
		dev->st.access_denied++;
		return -EACCES;
	}
	struct iovec r = {(void *)(uintptr_t)(mr->addr + off), len};
	int err = dma(mr->cl->pid, buf, len, &r, 1, write);

	if (err)
		dev->st.dma_errors++;
	return err;
}

/*
 * [off, off + len) of a work request's SGEs as remote iovecs.  Bytes past
 * the SGEs exist only in the one-byte region of an empty receive: *sink
 * counts them (written nowhere).  -EFAULT for anything else out of range.
 */
static int sgl_map(const struct dev_sgl *s, uint64_t off, size_t len, struct iovec *r,
		   unsigned *n, size_t *sink)
{
	*n = 0;
	*sink = 0;
	if (off > s->region_len || len > s->region_len - off)
		return -EFAULT;
	for (unsigned i = 0; i < s->n && len; i++) {
		const struct dev_sge *g = &s->sge[i];

		if (off >= g->len) {
			off -= g->len;
			continue;
		}
		if (g->mr->dead)
			return -EFAULT;
		size_t k = g->len - off < len ? (size_t)(g->len - off) : len;

		r[(*n)++] = (struct iovec){(void *)(uintptr_t)(g->addr + off), k};
		len -= k;
		off = 0;
	}
	*sink = len;
	return 0;
}

static int sgl_io(struct gsnd_dev *dev, struct dev_sgl *s, uint64_t off, void *buf, size_t len,
		  bool write)
{
	struct iovec r[GSN_MAX_SGE];
	unsigned n;
	size_t sink;
	int err = s->dead || (write && !s->write) ? -EFAULT : sgl_map(s, off, len, r, &n, &sink);

	if (!err && sink && !write)
		err = -EFAULT; /* reading past the data: never */
	if (!err && len > sink)
		err = dma(s->pid, buf, len - sink, r, n, write);
	if (err)
		dev->st.dma_errors++;
	return err;
}

int dev_sgl_gather(struct gsnd_dev *dev, struct dev_sgl *s, void *dst, size_t len)
{
	return sgl_io(dev, s, 0, dst, len, false);
}

int dev_sgl_scatter(struct gsnd_dev *dev, struct dev_sgl *s, const struct iovec *src,
		    unsigned n)
{
	struct iovec r[GSN_MAX_SGE];
	unsigned nr;
	size_t sink, len = 0;

	for (unsigned i = 0; i < n; i++)
		len += src[i].iov_len;
	int err = s->dead || !s->write ? -EFAULT : sgl_map(s, 0, len, r, &nr, &sink);

	if (!err && sink)
		err = -EFAULT; /* the caller checked that it fits */
	if (!err && len) {
		ssize_t rc = process_vm_writev(s->pid, src, n, r, nr, 0);

		err = rc == (ssize_t)len ? 0 : rc < 0 ? -errno : -EFAULT;
	}
	if (err)
		dev->st.dma_errors++;
	return err;
}

static int buf_io(struct dev_sgl *b, uint64_t off, void *buf, size_t len, bool write)
{
	if (write || b->dead || off > b->total || len > b->total - off)
		return -EFAULT;
	memcpy(buf, b->buf + off, len);
	return 0;
}

static int mem_io(struct gsnd_dev *dev, void *cookie, uint64_t off, void *buf, size_t len,
		  bool write)
{
	struct dev_mem *m = cookie;

	switch (m->kind) {
	case DEV_MEM_MR:
		return mr_io(dev, (struct dev_mr *)m, off, buf, len, write);
	case DEV_MEM_SGL:
		return sgl_io(dev, (struct dev_sgl *)m, off, buf, len, write);
	case DEV_MEM_BUF:
		return buf_io((struct dev_sgl *)m, off, buf, len, write);
	case DEV_MEM_SINK:
		if (!write)
			memset(buf, 0, len);
		return 0;
	}
	return -EFAULT;
}

int dev_mem_read(void *ctx, void *cookie, uint64_t off, void *dst, size_t len)
{
	return mem_io(ctx, cookie, off, dst, len, false);
}

int dev_mem_write(void *ctx, void *cookie, uint64_t off, const void *src, size_t len)
{
	return mem_io(ctx, cookie, off, (void *)src, len, true);
}

/*
 * gsnd's own regions: the sinks that carry zero-length messages (a PUT of
 * one byte with completion data; the byte goes nowhere) and the byte they
 * are sent from.
 */
int dev_regions_init(struct gsnd_dev *dev)
{
	static const uint64_t keys[DEV_SINKS] = {DEV_KEY_ZSEND, DEV_KEY_ZSEND_IMM, DEV_KEY_ZWIMM,
						 DEV_KEY_ZLEN};
	uint16_t mx;
	int err;

	dev->sink.kind = DEV_MEM_SINK;
	for (unsigned i = 0; i < DEV_SINKS; i++) {
		err = st_region_register(dev->eng, DEV_SINK_LEN, ST_ACCESS_REMOTE_WRITE, keys[i],
					 &dev->sink, &dev->sink_mx[i]);
		if (err)
			return err;
	}
	dev->zsrc.mem.kind = DEV_MEM_BUF;
	dev->zsrc.dev = dev;
	dev->zsrc.total = 1;
	dev->zsrc.region_len = 1;
	err = st_region_register(dev->eng, 1, 0, DEV_KEY_ZSRC, &dev->zsrc, &mx);
	if (!err)
		dev->zsrc.mx = mx;
	return err;
}
