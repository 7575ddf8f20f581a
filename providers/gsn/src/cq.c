/* SPDX-License-Identifier: MIT */
/*
 * Completion channels and CQs.  A CQ is a ring gsnd produces into and
 * libgsn consumes; its eventfd is the completion channel's source, written
 * by gsnd once per arming (GSN_RING_F_ARMED*).  A channel is an epoll set
 * of its CQs' eventfds.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gsn_priv.h"

#define MAP_MAX ((uint64_t)1 << 32) /* no ring needs more: a larger answer is a gsnd bug */

/* ---- channels ---- */

int gsn_create_comp_channel(struct gsn_context *pub, struct gsn_comp_channel **out)
{
	struct gsn_ctx *ctx = to_ctx(pub);
	struct gsn_channel_priv *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	ch->pub.context = pub;
	ch->pub.fd = epoll_create1(EPOLL_CLOEXEC);
	if (ch->pub.fd < 0) {
		int err = -errno;

		free(ch);
		return err;
	}
	pthread_mutex_lock(&ctx->lock);
	gsn_list_add(&ctx->channels, &ch->node);
	pthread_mutex_unlock(&ctx->lock);
	*out = &ch->pub;
	return 0;
}

int gsn_destroy_comp_channel(struct gsn_comp_channel *pub)
{
	struct gsn_channel_priv *ch = to_channel(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);

	pthread_mutex_lock(&ctx->lock);
	if (pub->refcnt) {
		pthread_mutex_unlock(&ctx->lock);
		return -EBUSY;
	}
	gsn_list_del(&ch->node);
	pthread_mutex_unlock(&ctx->lock);
	close(pub->fd);
	free(ch);
	return 0;
}

/* ---- CQs ---- */

/* Undoes the local half; the context lock is held (or the context is closing). */
void gsn_cq_free_local(struct gsn_cq_priv *cq)
{
	gsn_list_del(&cq->node);
	if (cq->pub.channel) {
		epoll_ctl(cq->pub.channel->fd, EPOLL_CTL_DEL, cq->efd, NULL);
		cq->pub.channel->refcnt--;
	}
	if (cq->map)
		munmap(cq->map, cq->map_len);
	if (cq->efd >= 0)
		close(cq->efd);
	pthread_mutex_destroy(&cq->lock);
	free(cq);
}

/* Maps the ring of a CREATE_CQ answer; fds[0] is consumed. */
static int cq_map(struct gsn_cq_priv *cq, const struct gsn_dev_create_cq_resp *resp, int *fds,
		  int want)
{
	int err;

	if (resp->log2_size > GSN_RING_LOG2_MAX || (1u << resp->log2_size) < (unsigned)want ||
	    resp->mmap_size < sizeof(struct gsn_ring) || resp->mmap_size > MAP_MAX)
		return -EPROTO;
	cq->map_len = (size_t)resp->mmap_size;
	cq->map = mmap(NULL, cq->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	fds[0] = -1;
	if (cq->map == MAP_FAILED) {
		cq->map = NULL;
		return -errno;
	}
	err = gsn_qring_init(&cq->ring, cq->map, cq->map_len, resp->log2_size,
			     sizeof(struct gsn_cqe), false);
	if (err)
		return err;
	/* gsnd shares this file description: it wants non-blocking too. */
	int fl = fcntl(cq->efd, F_GETFL);

	if (fl < 0 || fcntl(cq->efd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	cq->pub.cqe = (int)cq->ring.size;
	return 0;
}

int gsn_create_cq(struct gsn_context *pub, int cqe, void *cq_context,
		  struct gsn_comp_channel *channel, int comp_vector, struct gsn_cq **out)
{
	struct gsn_ctx *ctx = to_ctx(pub);
	struct gsn_dev_create_cq_req req = {.cqe = (uint32_t)cqe};
	struct gsn_dev_create_cq_resp resp;
	int fds[2] = {-1, -1};
	int err;

	(void)comp_vector;
	if (cqe < 1 || (uint32_t)cqe > ctx->open.max_cqe || (channel && channel->context != pub))
		return -EINVAL;
	struct gsn_cq_priv *cq = calloc(1, sizeof(*cq));

	if (!cq)
		return -ENOMEM;
	pthread_mutex_init(&cq->lock, NULL);
	gsn_list_init(&cq->sqps);
	gsn_list_init(&cq->rqps);
	gsn_list_init(&cq->node);
	cq->efd = -1;
	cq->pub.context = pub;
	cq->pub.cq_context = cq_context;
	pthread_mutex_lock(&ctx->lock);
	err = gsn_cmd(ctx, GSN_DEV_CMD_CREATE_CQ, &req, sizeof(req), &resp, sizeof(resp), fds, 2);
	if (err) {
		pthread_mutex_unlock(&ctx->lock);
		pthread_mutex_destroy(&cq->lock);
		free(cq);
		return err;
	}
	cq->pub.handle = resp.handle;
	cq->efd = fds[1];
	err = cq_map(cq, &resp, fds, cqe);
	if (!err && channel) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cq};

		if (epoll_ctl(channel->fd, EPOLL_CTL_ADD, cq->efd, &ev) < 0)
			err = -errno;
		else
			cq->pub.channel = channel, channel->refcnt++;
	}
	if (err) {
		struct gsn_dev_handle h = {.handle = resp.handle};

		if (fds[0] >= 0)
			close(fds[0]);
		gsn_cmd(ctx, GSN_DEV_CMD_DESTROY_CQ, &h, sizeof(h), NULL, 0, NULL, 0);
		gsn_cq_free_local(cq);
		pthread_mutex_unlock(&ctx->lock);
		return err;
	}
	gsn_list_add(&ctx->cqs, &cq->node);
	pthread_mutex_unlock(&ctx->lock);
	*out = &cq->pub;
	return 0;
}

int gsn_destroy_cq(struct gsn_cq *pub)
{
	struct gsn_cq_priv *cq = to_cq(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_handle h = {.handle = pub->handle};

	pthread_mutex_lock(&ctx->lock);
	if (cq->users || atomic_load(&cq->events_got) != atomic_load(&cq->events_acked)) {
		pthread_mutex_unlock(&ctx->lock);
		return -EBUSY;
	}
	int err = gsn_cmd(ctx, GSN_DEV_CMD_DESTROY_CQ, &h, sizeof(h), NULL, 0, NULL, 0);

	if (gsn_conn_lost(err))
		err = 0;
	if (!err)
		gsn_cq_free_local(cq);
	pthread_mutex_unlock(&ctx->lock);
	return err;
}

/* ---- polling ---- */

/* The QP of a completion: send side (list sqps) or receive side (rqps). */
static struct gsn_qp_priv *find_qp(struct gsn_cq_priv *cq, uint32_t qp_num, bool recv)
{
	struct gsn_qp_priv **last = recv ? &cq->last_rqp : &cq->last_sqp;
	struct gsn_list *head = recv ? &cq->rqps : &cq->sqps;

	if (*last && (*last)->pub.qp_num == qp_num)
		return *last;
	for (struct gsn_list *l = head->next; l != head; l = l->next) {
		struct gsn_qp_priv *qp = recv ? gsn_container_of(l, struct gsn_qp_priv, rcq_node)
					      : gsn_container_of(l, struct gsn_qp_priv, scq_node);

		if (qp->pub.qp_num == qp_num)
			return *last = qp;
	}
	return NULL;
}

/* Copies an inline payload into the receive's buffers; false if it does not fit. */
static bool scatter(const struct gsn_rq_shadow *s, const uint8_t *data, uint32_t len)
{
	uint64_t room = 0;

	for (uint32_t i = 0; i < s->num_sge; i++)
		room += s->sge[i].length;
	if (len > room)
		return false;
	for (uint32_t i = 0; i < s->num_sge && len; i++) {
		uint32_t n = s->sge[i].length < len ? s->sge[i].length : len;

		if (n)
			memcpy((void *)(uintptr_t)s->sge[i].addr, data, n);
		data += n;
		len -= n;
	}
	return true;
}

/*
 * A completion of a receive WQE: receives complete in RQ order, one CQE
 * each (also when flushed), so it belongs to the oldest outstanding one.
 */
static void complete_recv(struct gsn_cq_priv *cq, const struct gsn_cqe *e, struct gsn_wc *wc)
{
	struct gsn_qp_priv *qp = find_qp(cq, e->qp_num, true);

	if (!qp)
		return; /* destroyed, or not a QP of this CQ */
	uint32_t done = atomic_load_explicit(&qp->rq_done, memory_order_relaxed);

	if (done == gsn_load_acquire(&qp->rq.hdr->producer))
		return; /* nothing outstanding: gsnd's bug, keep the count sane */
	const struct gsn_rq_shadow *s = &qp->shadow[done & qp->rq.mask];

	if ((e->flags & GSN_WC_F_INLINE) && e->status == GSN_WC_SUCCESS) {
		if (e->byte_len > GSN_CQE_INLINE)
			wc->status = GSN_WC_GENERAL_ERR;
		else if (!scatter(s, e->inline_data, e->byte_len))
			wc->status = GSN_WC_LOC_LEN_ERR;
	}
	atomic_store_explicit(&qp->rq_done, done + 1, memory_order_release);
}

/*
 * A completion of send WQEs: completions are in order per QP, and a
 * successful one stands for the first signaled WQE outstanding and the
 * unsignaled ones before it; an error one (made even for an unsignaled
 * WQE) for the first outstanding WQE with its wr_id.  Frees their slots.
 * A completion that matches nothing frees nothing (conservative).
 */
static void complete_send(struct gsn_cq_priv *cq, const struct gsn_cqe *e)
{
	struct gsn_qp_priv *qp = find_qp(cq, e->qp_num, false);

	if (!qp)
		return;
	uint32_t done = atomic_load_explicit(&qp->sq_done, memory_order_relaxed);
	uint32_t posted = gsn_load_acquire(&qp->sq.hdr->producer);

	for (uint32_t i = done; i != posted; i++) {
		const struct gsn_sq_shadow *s = &qp->sshadow[i & qp->sq.mask];

		if (e->status == GSN_WC_SUCCESS ? s->signaled : s->wr_id == e->wr_id) {
			atomic_store_explicit(&qp->sq_done, i + 1, memory_order_release);
			return;
		}
	}
}

int gsn_poll_cq(struct gsn_cq *pub, int num, struct gsn_wc *wc)
{
	struct gsn_cq_priv *cq = to_cq(pub);
	struct gsn_qring *r = &cq->ring;
	int n = 0;

	if (num < 0)
		return -EINVAL;
	pthread_mutex_lock(&cq->lock);
	if (cq->broken) {
		pthread_mutex_unlock(&cq->lock);
		return -EIO;
	}
	uint32_t avail = gsn_load_acquire(&r->hdr->producer) - r->idx;

	if (avail > r->size) {
		cq->broken = true;
		pthread_mutex_unlock(&cq->lock);
		return -EIO;
	}
	for (; n < num && (uint32_t)n < avail; n++) {
		struct gsn_cqe e;
		struct gsn_wc *w = &wc[n];

		/* One copy out of shared memory: every check below sees the same bytes. */
		memcpy(&e, gsn_qring_slot(r, r->idx + (uint32_t)n), sizeof(e));
		w->wr_id = e.wr_id;
		w->status = (enum gsn_wc_status)e.status;
		w->opcode = (enum gsn_wc_opcode)e.opcode;
		w->vendor_err = e.vendor_err;
		w->byte_len = e.byte_len;
		w->imm_data = e.imm_data;
		w->qp_num = e.qp_num;
		w->src_qp = e.src_qp;
		w->wc_flags = e.flags & GSN_WC_F_WITH_IMM;
		if (e.opcode & GSN_WC_RECV)
			complete_recv(cq, &e, w);
		else
			complete_send(cq, &e);
	}
	bool yield = false;

	if (n) {
		r->idx += (uint32_t)n;
		gsn_store_release(&r->hdr->consumer, r->idx);
		cq->empty_polls = 0;
	} else {
		yield = ++cq->empty_polls % GSN_POLL_YIELD_EVERY == 0;
	}
	pthread_mutex_unlock(&cq->lock);
	if (yield) {
		sched_yield(); /* the NIC is a process: let it run (see gsn_priv.h) */
		/* A dead gsnd produces nothing more: say so rather than let a
		 * polling loop spin forever (completions already in the ring
		 * were delivered first). */
		if (!gsn_ctx_alive(to_ctx(pub->context)))
			return -EIO;
	}
	return n;
}

/* ---- events ---- */

int gsn_req_notify_cq(struct gsn_cq *pub, int solicited_only)
{
	struct gsn_cq_priv *cq = to_cq(pub);

	if (!pub->channel)
		return -EINVAL;
	/* seq_cst: ordered before the poll that follows (and gsnd's CQE publish). */
	atomic_fetch_or(gsn_atomic32(&cq->ring.hdr->flags),
			solicited_only ? GSN_RING_F_ARMED_SOLICITED : GSN_RING_F_ARMED);
	return 0;
}

int gsn_get_cq_event(struct gsn_comp_channel *ch, struct gsn_cq **cq_out, void **cq_context)
{
	int fl = fcntl(ch->fd, F_GETFL);
	int timeout = fl >= 0 && (fl & O_NONBLOCK) ? 0 : -1;

	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(ch->fd, &ev, 1, timeout);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EAGAIN;
		struct gsn_cq_priv *cq = ev.data.ptr;
		uint64_t v;

		if (read(cq->efd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			continue; /* another thread took it */
		atomic_fetch_add(&cq->events_got, 1);
		*cq_out = &cq->pub;
		if (cq_context)
			*cq_context = cq->pub.cq_context;
		return 0;
	}
}

void gsn_ack_cq_events(struct gsn_cq *pub, unsigned int nevents)
{
	atomic_fetch_add(&to_cq(pub)->events_acked, nevents);
}
