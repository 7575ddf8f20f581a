/* SPDX-License-Identifier: MIT */
/*
 * Completion queues: a ring of 64-byte CQEs in a memfd shared with the
 * client (dev_abi.h), and an eventfd that is both the doorbell gsnd rings
 * and the completion channel.
 *
 * gsnd is the only producer: it writes the CQE, then stores producer with
 * release order.  The consumer index comes from the client and is only
 * used to decide whether there is room: a full ring (or a consumer index
 * that makes no sense) loses the completion, counts it in the header's
 * overflow and sends GSN_EVENT_CQ_ERR once per episode.  After producing,
 * a seq_cst fence, then the flags: ARMED (any CQE) or ARMED_SOLICITED (a
 * solicited or error CQE) is cleared with fetch_and and, if this call
 * cleared it, the eventfd is written once.
 *
 * Shared memory is sealed against shrinking and growing, so a client that
 * truncates its memfd cannot make gsnd fault on the mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev.h"

#define PAGE 4096u

size_t dev_page_round(size_t len)
{
	return (len + PAGE - 1) & ~(size_t)(PAGE - 1);
}

uint32_t dev_log2_at_least(uint32_t n)
{
	uint32_t l = 0;

	while ((1u << l) < n && l < 31)
		l++;
	return l;
}

int dev_shm_create(const char *name, size_t len, int *fd_out, void **map_out)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int err;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	*fd_out = fd;
	*map_out = map;
	return 0;
}

void dev_ring_init(struct gsn_ring *h, uint32_t log2, uint32_t esz)
{
	__atomic_store_n(&h->producer, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&h->consumer, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&h->flags, 0, __ATOMIC_RELAXED);
	h->log2_size = log2;
	h->entry_size = esz;
	h->entries_offset = (uint32_t)sizeof(struct gsn_ring);
	h->overflow = 0;
}

int dev_cq_create(struct dev_client *cl, const struct gsn_dev_create_cq_req *req,
		  struct gsn_dev_create_cq_resp *resp, int *memfd)
{
	if (req->cqe == 0 || req->cqe > DEV_MAX_CQE)
		return -EINVAL;
	struct dev_cq *cq = calloc(1, sizeof(*cq));
	int err;

	if (!cq)
		return -ENOMEM;
	cq->cl = cl;
	cq->efd = -1;
	cq->log2 = dev_log2_at_least(req->cqe);
	cq->map_len = dev_page_round(sizeof(struct gsn_ring) + ((size_t)sizeof(struct gsn_cqe)
								 << cq->log2));
	err = dev_shm_create("gsn-cq", cq->map_len, memfd, &cq->map);
	if (err) {
		free(cq);
		return err;
	}
	cq->ring = cq->map;
	cq->ents = (uint8_t *)cq->map + sizeof(struct gsn_ring);
	dev_ring_init(cq->ring, cq->log2, sizeof(struct gsn_cqe));
	cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	err = cq->efd < 0 ? -errno : dev_tab_add(&cl->cqs, cq, &cq->handle);
	if (err) {
		close(*memfd);
		*memfd = -1;
		dev_cq_free(cq);
		return err;
	}
	resp->handle = cq->handle;
	resp->log2_size = cq->log2;
	resp->mmap_size = cq->map_len;
	return 0;
}

void dev_cq_free(struct dev_cq *cq)
{
	if (!cq)
		return;
	if (cq->map)
		munmap(cq->map, cq->map_len);
	if (cq->efd >= 0)
		close(cq->efd);
	free(cq);
}

static void cq_notify(struct dev_cq *cq, bool solicited_or_error)
{
	const uint32_t armed = GSN_RING_F_ARMED | GSN_RING_F_ARMED_SOLICITED;
	uint32_t f;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	f = __atomic_load_n(&cq->ring->flags, __ATOMIC_SEQ_CST);
	if (!(f & GSN_RING_F_ARMED) && !((f & GSN_RING_F_ARMED_SOLICITED) && solicited_or_error))
		return;
	f = __atomic_fetch_and(&cq->ring->flags, ~armed, __ATOMIC_SEQ_CST);
	if (!(f & armed))
		return;
	uint64_t one = 1;

	if (write(cq->efd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		cq->notifies++;
}

bool dev_cq_push(struct dev_cq *cq, const struct gsn_cqe *e, bool solicited)
{
	struct gsn_ring *h = cq->ring;
	uint32_t size = 1u << cq->log2;
	uint32_t cons = __atomic_load_n(&h->consumer, __ATOMIC_ACQUIRE);
	struct gsnd_dev *dev = cq->cl->dev;

	if (cq->prod - cons >= size) {
		__atomic_fetch_add(&h->overflow, 1, __ATOMIC_RELAXED);
		cq->overflows++;
		dev->st.cq_overflows++;
		if (!cq->overflowed)
			dev_async(dev, cq->cl, GSN_EVENT_CQ_ERR, cq->handle);
		cq->overflowed = true;
		return false;
	}
	memcpy(cq->ents + (size_t)(cq->prod & (size - 1)) * sizeof(*e), e, sizeof(*e));
	cq->prod++;
	__atomic_store_n(&h->producer, cq->prod, __ATOMIC_RELEASE);
	cq->overflowed = false;
	cq->cqes++;
	dev->st.cqes++;
	cq_notify(cq, solicited || e->status != GSN_WC_SUCCESS);
	return true;
}
