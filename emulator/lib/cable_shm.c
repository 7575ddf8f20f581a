/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory cable: a memfd holding a header and two SPSC rings of
 * fixed-size frame slots.  Ring i is produced by side i and consumed by
 * side 1 - i.
 *
 *	offset 0      header (one cache line): magic "GSNR", version, nslots,
 *	              slot_bytes, total size
 *	then per ring (ring 0, ring 1):
 *	  cache line  head        (producer's index, release-stored)
 *	  cache line  tail        (consumer's index, release-stored)
 *	              need_wakeup (set by a consumer about to sleep)
 *	  nslots slots of stride round_up(8 + slot_bytes, 64):
 *	              u32 len, u32 unused, then the frame
 *
 * Indices run freely (mod 2^32); slot = index & (nslots - 1).  The memfd is
 * sealed against shrinking, so a peer cannot make us fault; everything read
 * from the shared header is validated once at open and kept locally, and a
 * slot length above slot_bytes is counted (truncated) and skipped.
 *
 * Need-wakeup (Dekker with seq_cst fences on both sides):
 *   consumer: need_wakeup = 1; fence; if (head != tail) { need_wakeup = 0;
 *             stay awake } else sleep in epoll on its eventfd
 *   producer: head = h + 1 (release); fence; if (need_wakeup &&
 *             exchange(need_wakeup, 0)) write the peer's eventfd
 */
#include "cable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_MAGIC 0x47534e52u /* "GSNR" */
#define SHM_VERSION 1u
#define CACHE_LINE 64u
#define SLOT_HDR 8u
#define SHM_BUDGET 64 /* frames per drain before other work gets a turn */
#define SHM_SIZE_MAX (1ull << 30)

struct shm_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;
	uint32_t slot_bytes;
	uint64_t size;
};

struct ring_ctl {
	_Alignas(CACHE_LINE) _Atomic uint32_t head;
	_Alignas(CACHE_LINE) _Atomic uint32_t tail;
	_Atomic uint32_t need_wakeup;
};

_Static_assert(sizeof(struct shm_hdr) <= CACHE_LINE, "header fits a cache line");
_Static_assert(sizeof(struct ring_ctl) == 2 * CACHE_LINE, "two cache lines");

struct shm_ring {
	struct ring_ctl *ctl;
	uint8_t *slots;
};

struct shm_cable {
	struct gsn_cable c;
	struct gsn_loop *loop;
	const struct gsn_log *log;
	uint8_t *map;
	size_t map_len;
	uint32_t nslots, slot_bytes, stride;
	struct shm_ring tx, rx;
	uint32_t tx_head; /* our copy of tx.head: we are its only writer */
	uint32_t rx_tail; /* our copy of rx.tail */
	int evfd_mine, evfd_peer;
	bool awake;
	uint64_t spin_ns, last_activity;
	int deadline_id;
};

static size_t slot_stride(size_t slot_bytes)
{
	return (SLOT_HDR + slot_bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
}

static size_t ring_size(uint32_t nslots, size_t slot_bytes)
{
	return sizeof(struct ring_ctl) + (size_t)nslots * slot_stride(slot_bytes);
}

static size_t shm_total(uint32_t nslots, size_t slot_bytes)
{
	return CACHE_LINE + 2 * ring_size(nslots, slot_bytes);
}

static bool sizes_ok(uint64_t nslots, uint64_t slot_bytes)
{
	return nslots >= 1 && nslots <= GSN_CABLE_SHM_SLOTS_MAX && (nslots & (nslots - 1)) == 0 &&
	       slot_bytes >= GSN_CABLE_SHM_SLOT_MIN && slot_bytes <= GSN_CABLE_FRAME_MAX &&
	       shm_total((uint32_t)nslots, slot_bytes) <= SHM_SIZE_MAX;
}

static uint8_t *slot_at(const struct shm_cable *s, const struct shm_ring *r, uint32_t idx)
{
	return r->slots + (size_t)(idx & (s->nslots - 1)) * s->stride;
}

/* ---- producer ---- */

static void kick_peer(struct shm_cable *s)
{
	uint64_t one = 1;

	if (write(s->evfd_peer, &one, sizeof(one)) == sizeof(one))
		s->c.stats.kicks_sent++;
}

static int shm_send(struct gsn_cable *c, const uint8_t *frame, size_t len)
{
	struct shm_cable *s = (struct shm_cable *)c;
	struct ring_ctl *ctl = s->tx.ctl;

	if (len > s->slot_bytes)
		return -EMSGSIZE;
	uint32_t tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);

	if (s->tx_head - tail >= s->nslots) {
		c->stats.send_full++;
		return -EAGAIN;
	}
	uint8_t *slot = slot_at(s, &s->tx, s->tx_head);
	uint32_t l32 = (uint32_t)len;

	memcpy(slot, &l32, sizeof(l32));
	if (len)
		memcpy(slot + SLOT_HDR, frame, len);
	atomic_store_explicit(&ctl->head, ++s->tx_head, memory_order_release);
	c->stats.frames_out++;
	c->stats.bytes_out += len;
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&ctl->need_wakeup, memory_order_relaxed) &&
	    atomic_exchange_explicit(&ctl->need_wakeup, 0, memory_order_acq_rel))
		kick_peer(s);
	return 0;
}

/* ---- consumer ---- */

static uint32_t rx_avail(struct shm_cable *s)
{
	uint32_t head = atomic_load_explicit(&s->rx.ctl->head, memory_order_acquire);
	uint32_t avail = head - s->rx_tail;

	if (avail > s->nslots) { /* a broken peer: resynchronise, drop what is there */
		s->c.stats.truncated++;
		s->rx_tail = head;
		atomic_store_explicit(&s->rx.ctl->tail, head, memory_order_release);
		return 0;
	}
	return avail;
}

/* Delivers up to SHM_BUDGET frames; returns how many slots it consumed. */
static unsigned shm_drain(struct shm_cable *s)
{
	unsigned done = 0;

	for (uint32_t avail = rx_avail(s); avail > 0 && done < SHM_BUDGET; avail--, done++) {
		const uint8_t *slot = slot_at(s, &s->rx, s->rx_tail);
		uint32_t len;

		memcpy(&len, slot, sizeof(len));
		if (len > s->slot_bytes) {
			s->c.stats.truncated++;
		} else {
			s->c.stats.frames_in++;
			s->c.stats.bytes_in += len;
			gsn_cable_deliver(&s->c, slot + SLOT_HDR, len);
		}
		atomic_store_explicit(&s->rx.ctl->tail, ++s->rx_tail, memory_order_release);
	}
	return done;
}

/* After a drain: stay awake (polled by the loop) or announce sleep. */
static void shm_settle(struct shm_cable *s, uint64_t now)
{
	struct ring_ctl *ctl = s->rx.ctl;

	if (rx_avail(s) > 0 || now - s->last_activity < s->spin_ns) {
		s->awake = true;
		return;
	}
	atomic_store_explicit(&ctl->need_wakeup, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (rx_avail(s) > 0) {
		atomic_store_explicit(&ctl->need_wakeup, 0, memory_order_relaxed);
		s->awake = true;
		return;
	}
	s->awake = false;
}

static void shm_poll(struct shm_cable *s, uint64_t now)
{
	if (shm_drain(s) > 0)
		s->last_activity = now;
	shm_settle(s, now);
}

static uint64_t shm_next(void *arg)
{
	struct shm_cable *s = arg;

	return s->awake ? 0 : GSN_LOOP_NEVER;
}

static void shm_expire(void *arg, uint64_t now)
{
	shm_poll(arg, now);
}

static void shm_doorbell(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct shm_cable *s = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) == sizeof(v))
		s->c.stats.wakeups++;
	atomic_store_explicit(&s->rx.ctl->need_wakeup, 0, memory_order_relaxed);
	shm_poll(s, gsn_loop_now_ns(loop));
}

/* ---- life cycle ---- */

static void shm_free(struct shm_cable *s)
{
	if (s->deadline_id > 0)
		gsn_loop_remove(s->loop, s->deadline_id);
	if (s->evfd_mine >= 0) {
		gsn_loop_del_fd(s->loop, s->evfd_mine);
		close(s->evfd_mine);
	}
	if (s->evfd_peer >= 0)
		close(s->evfd_peer);
	if (s->map)
		munmap(s->map, s->map_len);
	free(s);
}

static void shm_close(struct gsn_cable *c)
{
	shm_free((struct shm_cable *)c);
}

static const struct gsn_cable_ops shm_ops = {
	.kind = "shm",
	.send = shm_send,
	.close = shm_close,
};

/* Maps memfd (then closes it) and validates the header into s. */
static int shm_map(struct shm_cable *s, int memfd)
{
	struct stat st;
	int err = 0;

	if (fstat(memfd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (st.st_size < (off_t)CACHE_LINE || (uint64_t)st.st_size > SHM_SIZE_MAX) {
		err = -EINVAL;
		goto out;
	}
	s->map_len = (size_t)st.st_size;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		err = -errno;
		goto out;
	}
	struct shm_hdr h;

	memcpy(&h, s->map, sizeof(h));
	if (h.magic != SHM_MAGIC || h.version != SHM_VERSION || !sizes_ok(h.nslots, h.slot_bytes) ||
	    h.size != shm_total(h.nslots, h.slot_bytes) || h.size > s->map_len)
		err = -EINVAL;
	s->nslots = h.nslots;
	s->slot_bytes = h.slot_bytes;
	s->stride = (uint32_t)slot_stride(h.slot_bytes);
out:
	close(memfd);
	return err;
}

static void shm_rings_init(struct shm_cable *s, int side)
{
	size_t rs = ring_size(s->nslots, s->slot_bytes);
	uint8_t *ring[2] = {s->map + CACHE_LINE, s->map + CACHE_LINE + rs};

	s->tx.ctl = (struct ring_ctl *)ring[side];
	s->tx.slots = ring[side] + sizeof(struct ring_ctl);
	s->rx.ctl = (struct ring_ctl *)ring[1 - side];
	s->rx.slots = ring[1 - side] + sizeof(struct ring_ctl);
	s->tx_head = atomic_load_explicit(&s->tx.ctl->head, memory_order_acquire);
	s->rx_tail = atomic_load_explicit(&s->rx.ctl->tail, memory_order_acquire);
}

static int shm_register(struct shm_cable *s)
{
	int fl = fcntl(s->evfd_mine, F_GETFL);

	if (fl < 0 || fcntl(s->evfd_mine, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(s->evfd_mine, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(s->evfd_peer, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	int id = gsn_loop_add_deadline(s->loop, shm_next, shm_expire, s);

	if (id < 0)
		return id;
	s->deadline_id = id;
	return gsn_loop_add_fd(s->loop, s->evfd_mine, EPOLLIN, shm_doorbell, s);
}

int gsn_cable_shm_open(struct gsn_loop *loop, const struct gsn_cable_spec *spec,
		       const struct gsn_log *log, struct gsn_cable **out)
{
	struct shm_cable *s = calloc(1, sizeof(*s));
	int err;

	if (!s) {
		close(spec->memfd);
		close(spec->evfd_mine);
		close(spec->evfd_peer);
		return -ENOMEM;
	}
	s->c.ops = &shm_ops;
	s->loop = loop;
	s->log = log;
	s->evfd_mine = spec->evfd_mine;
	s->evfd_peer = spec->evfd_peer;
	s->spin_ns = spec->spin_ns;
	err = shm_map(s, spec->memfd);
	if (err || spec->side < 0 || spec->side > 1) {
		err = err ? err : -EINVAL;
		goto fail;
	}
	s->c.mtu = s->slot_bytes;
	shm_rings_init(s, spec->side);
	s->awake = true;
	s->last_activity = gsn_loop_now_ns(loop);
	err = shm_register(s);
	if (err)
		goto fail;
	*out = &s->c;
	return 0;
fail:
	GSN_ERR(log, "cable", "shm-fd:%d side %d: %s", spec->memfd, spec->side, strerror(-err));
	shm_free(s);
	return err;
}

/* ---- creation (launcher) ---- */

static int shm_memfd(uint32_t nslots, size_t slot_bytes)
{
	size_t size = shm_total(nslots, slot_bytes);
	int fd = memfd_create("gsn-cable", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	struct shm_hdr h = {SHM_MAGIC, SHM_VERSION, nslots, (uint32_t)slot_bytes, size};

	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto fail;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	return fd;
fail:;
	int err = errno ? -errno : -EIO;

	close(fd);
	return err;
}

int gsn_cable_shm_create_pair(struct gsn_cable_shm_pair *out, unsigned nslots,
			      size_t slot_bytes)
{
	out->memfd = out->evfd[0] = out->evfd[1] = -1;
	if (!nslots)
		nslots = GSN_CABLE_SHM_SLOTS;
	if (!slot_bytes)
		slot_bytes = GSN_CABLE_FRAME_MAX;
	if (!sizes_ok(nslots, slot_bytes))
		return -EINVAL;
	int fd = shm_memfd(nslots, slot_bytes);

	if (fd < 0)
		return fd;
	out->memfd = fd;
	for (int i = 0; i < 2; i++) {
		out->evfd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (out->evfd[i] < 0) {
			int err = -errno;

			gsn_cable_shm_pair_close(out);
			return err;
		}
	}
	return 0;
}

void gsn_cable_shm_pair_close(struct gsn_cable_shm_pair *p)
{
	int *fds[3] = {&p->memfd, &p->evfd[0], &p->evfd[1]};

	for (int i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
