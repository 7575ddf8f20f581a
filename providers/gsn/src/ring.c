/* SPDX-License-Identifier: MIT */
/* Ring views: checking the header gsnd laid out before trusting it. */
#include <errno.h>

#include "gsn_priv.h"

int gsn_qring_init(struct gsn_qring *r, void *base, size_t region, uint32_t log2_size,
		   uint32_t entry_size, bool producer)
{
	struct gsn_ring *h = base;

	if (region < sizeof(*h) || log2_size > GSN_RING_LOG2_MAX || ((uintptr_t)base % GSN_CACHELINE))
		return -EPROTO;
	/* Read once: later writes by gsnd to these fields change nothing here. */
	uint32_t l2 = atomic_load_explicit(gsn_atomic32(&h->log2_size), memory_order_relaxed);
	uint32_t es = atomic_load_explicit(gsn_atomic32(&h->entry_size), memory_order_relaxed);
	uint32_t off = atomic_load_explicit(gsn_atomic32(&h->entries_offset), memory_order_relaxed);

	if (l2 != log2_size || es != entry_size || off < sizeof(*h) || off % GSN_CACHELINE)
		return -EPROTO;
	if ((uint64_t)off + ((uint64_t)entry_size << log2_size) > region)
		return -EPROTO;
	uint32_t prod = gsn_load_acquire(&h->producer);
	uint32_t cons = gsn_load_acquire(&h->consumer);

	if (prod - cons > (1u << log2_size))
		return -EPROTO;
	r->hdr = h;
	r->entries = (uint8_t *)base + off;
	r->size = 1u << log2_size;
	r->mask = r->size - 1;
	r->entry_size = entry_size;
	r->idx = producer ? prod : cons;
	return 0;
}
