/* SPDX-License-Identifier: MIT */
/*
 * Queue pairs: CREATE_QP maps the memfd holding the send and receive rings
 * and keeps the doorbell eventfd; MODIFY/QUERY/DESTROY are plain commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gsn_priv.h"

#define MAP_MAX ((uint64_t)1 << 32)
#define MASK_ALL                                                                 \
	(GSN_QP_ATTR_STATE | GSN_QP_ATTR_ACCESS | GSN_QP_ATTR_DEST | GSN_QP_ATTR_TIMEOUT | \
	 GSN_QP_ATTR_RETRY | GSN_QP_ATTR_QKEY)

static void set_state(struct gsn_qp_priv *qp, enum gsn_qp_state s)
{
	atomic_store(&qp->state, (int)s);
	qp->pub.state = s;
}

/* Undoes the local half; the context lock is held (or the context is closing). */
void gsn_qp_free_local(struct gsn_qp_priv *qp)
{
	struct gsn_cq_priv *rcq = to_cq(qp->pub.recv_cq);

	struct gsn_cq_priv *scq = to_cq(qp->pub.send_cq);

	gsn_list_del(&qp->node);
	pthread_mutex_lock(&scq->lock);
	gsn_list_del(&qp->scq_node);
	if (scq->last_sqp == qp)
		scq->last_sqp = NULL;
	pthread_mutex_unlock(&scq->lock);
	pthread_mutex_lock(&rcq->lock);
	gsn_list_del(&qp->rcq_node);
	if (rcq->last_rqp == qp)
		rcq->last_rqp = NULL;
	pthread_mutex_unlock(&rcq->lock);
	rcq->users--;
	scq->users--;
	to_pd(qp->pub.pd)->users--;
	if (qp->map)
		munmap(qp->map, qp->map_len);
	if (qp->db_fd >= 0)
		close(qp->db_fd);
	free(qp->shadow);
	free(qp->sshadow);
	pthread_mutex_destroy(&qp->sq_lock);
	pthread_mutex_destroy(&qp->rq_lock);
	free(qp);
}

/* The bytes from off up to the other ring's start (if after it) or the end. */
static size_t region(uint64_t off, uint64_t other, uint64_t total)
{
	return (size_t)((other > off ? other : total) - off);
}

/* Maps the rings of a CREATE_QP answer; fds[0] is consumed. */
static int qp_map(struct gsn_qp_priv *qp, const struct gsn_dev_create_qp_resp *r, int *fds,
		  const struct gsn_qp_cap *want)
{
	int err;

	if (r->sq_log2_size > GSN_RING_LOG2_MAX || r->rq_log2_size > GSN_RING_LOG2_MAX ||
	    (1u << r->sq_log2_size) < want->max_send_wr ||
	    (1u << r->rq_log2_size) < want->max_recv_wr || r->mmap_size > MAP_MAX ||
	    r->sq_offset >= r->mmap_size || r->rq_offset >= r->mmap_size ||
	    r->sq_offset == r->rq_offset)
		return -EPROTO;
	qp->map_len = (size_t)r->mmap_size;
	qp->map = mmap(NULL, qp->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	fds[0] = -1;
	if (qp->map == MAP_FAILED) {
		qp->map = NULL;
		return -errno;
	}
	err = gsn_qring_init(&qp->sq, (uint8_t *)qp->map + r->sq_offset,
			     region(r->sq_offset, r->rq_offset, r->mmap_size), r->sq_log2_size,
			     sizeof(struct gsn_send_wqe), true);
	if (!err)
		err = gsn_qring_init(&qp->rq, (uint8_t *)qp->map + r->rq_offset,
				     region(r->rq_offset, r->sq_offset, r->mmap_size),
				     r->rq_log2_size, sizeof(struct gsn_recv_wqe), true);
	if (err)
		return err;
	qp->shadow = calloc(qp->rq.size, sizeof(*qp->shadow));
	qp->sshadow = calloc(qp->sq.size, sizeof(*qp->sshadow));
	if (!qp->shadow || !qp->sshadow)
		return -ENOMEM;
	atomic_store(&qp->rq_done, qp->rq.idx);
	atomic_store(&qp->sq_done, qp->sq.idx);
	int fl = fcntl(qp->db_fd, F_GETFL);

	if (fl < 0 || fcntl(qp->db_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int check_init_attr(struct gsn_ctx *ctx, struct gsn_pd *pd,
			   const struct gsn_qp_init_attr *ia)
{
	const struct gsn_dev_open_resp *o = &ctx->open;
	const struct gsn_qp_cap *c = &ia->cap;

	if (!ia->send_cq || !ia->recv_cq || ia->send_cq->context != pd->context ||
	    ia->recv_cq->context != pd->context ||
	    (ia->qp_type != GSN_QPT_RC && ia->qp_type != GSN_QPT_UD))
		return -EINVAL;
	if (c->max_send_wr > o->max_qp_wr || c->max_recv_wr > o->max_qp_wr ||
	    c->max_send_sge > o->max_sge || c->max_recv_sge > o->max_sge ||
	    c->max_inline_data > o->max_inline)
		return -EINVAL;
	return 0;
}

int gsn_create_qp(struct gsn_pd *pd, struct gsn_qp_init_attr *ia, struct gsn_qp **out)
{
	struct gsn_ctx *ctx = to_ctx(pd->context);
	struct gsn_dev_create_qp_resp resp;
	int fds[2] = {-1, -1};
	int err = check_init_attr(ctx, pd, ia);

	if (err)
		return err;
	struct gsn_dev_create_qp_req req = {
		.pd = pd->handle,
		.send_cq = ia->send_cq->handle,
		.recv_cq = ia->recv_cq->handle,
		.qp_type = ia->qp_type,
		.max_send_wr = ia->cap.max_send_wr,
		.max_recv_wr = ia->cap.max_recv_wr,
		.max_send_sge = ia->cap.max_send_sge,
		.max_recv_sge = ia->cap.max_recv_sge,
		.max_inline_data = ia->cap.max_inline_data,
		.sq_sig_all = ia->sq_sig_all ? 1 : 0,
	};
	struct gsn_qp_priv *qp = calloc(1, sizeof(*qp));

	if (!qp)
		return -ENOMEM;
	pthread_mutex_init(&qp->sq_lock, NULL);
	pthread_mutex_init(&qp->rq_lock, NULL);
	gsn_list_init(&qp->node);
	gsn_list_init(&qp->scq_node);
	gsn_list_init(&qp->rcq_node);
	qp->db_fd = -1;
	qp->pub.context = pd->context;
	qp->pub.pd = pd;
	qp->pub.send_cq = ia->send_cq;
	qp->pub.recv_cq = ia->recv_cq;
	qp->pub.qp_context = ia->qp_context;
	qp->pub.qp_type = ia->qp_type;
	qp->sq_sig_all = ia->sq_sig_all ? 1 : 0;
	qp->max_msg = ia->qp_type == GSN_QPT_UD ? GSN_UD_MAX_PAYLOAD
						: (uint64_t)1 << ctx->open.max_msg_size_log2;
	set_state(qp, GSN_QPS_RESET);

	pthread_mutex_lock(&ctx->lock);
	err = gsn_cmd(ctx, GSN_DEV_CMD_CREATE_QP, &req, sizeof(req), &resp, sizeof(resp), fds, 2);
	if (err) {
		pthread_mutex_unlock(&ctx->lock);
		pthread_mutex_destroy(&qp->sq_lock);
		pthread_mutex_destroy(&qp->rq_lock);
		free(qp);
		return err;
	}
	qp->pub.handle = resp.handle;
	qp->pub.qp_num = resp.qp_num;
	qp->db_fd = fds[1];
	/* Linked first so that the error path below can simply undo everything. */
	to_pd(pd)->users++;
	to_cq(ia->send_cq)->users++;
	to_cq(ia->recv_cq)->users++;
	gsn_list_add(&ctx->qps, &qp->node);
	err = qp_map(qp, &resp, fds, &ia->cap);
	if (err) {
		struct gsn_dev_handle h = {.handle = resp.handle};

		if (fds[0] >= 0)
			close(fds[0]);
		gsn_cmd(ctx, GSN_DEV_CMD_DESTROY_QP, &h, sizeof(h), NULL, 0, NULL, 0);
		gsn_qp_free_local(qp);
		pthread_mutex_unlock(&ctx->lock);
		return err;
	}
	qp->cap.max_send_wr = qp->sq.size;
	qp->cap.max_recv_wr = qp->rq.size;
	qp->cap.max_send_sge = ia->cap.max_send_sge;
	qp->cap.max_recv_sge = ia->cap.max_recv_sge;
	qp->cap.max_inline_data =
		resp.max_inline_data < GSN_MAX_INLINE ? resp.max_inline_data : GSN_MAX_INLINE;
	ia->cap = qp->cap;
	struct gsn_cq_priv *scq = to_cq(ia->send_cq), *rcq = to_cq(ia->recv_cq);

	pthread_mutex_lock(&scq->lock);
	gsn_list_add(&scq->sqps, &qp->scq_node);
	pthread_mutex_unlock(&scq->lock);
	pthread_mutex_lock(&rcq->lock);
	gsn_list_add(&rcq->rqps, &qp->rcq_node);
	pthread_mutex_unlock(&rcq->lock);
	pthread_mutex_unlock(&ctx->lock);
	*out = &qp->pub;
	return 0;
}

/* After RESET: gsnd dropped the queued work, so does libgsn. */
static void forget_work(struct gsn_qp_priv *qp)
{
	struct gsn_cq_priv *scq = to_cq(qp->pub.send_cq), *rcq = to_cq(qp->pub.recv_cq);

	pthread_mutex_lock(&scq->lock);
	pthread_mutex_lock(&qp->sq_lock);
	atomic_store(&qp->sq_done, qp->sq.idx);
	pthread_mutex_unlock(&qp->sq_lock);
	pthread_mutex_unlock(&scq->lock);
	pthread_mutex_lock(&rcq->lock);
	pthread_mutex_lock(&qp->rq_lock);
	atomic_store(&qp->rq_done, qp->rq.idx);
	pthread_mutex_unlock(&qp->rq_lock);
	pthread_mutex_unlock(&rcq->lock);
}

int gsn_modify_qp(struct gsn_qp *pub, struct gsn_qp_attr *attr, unsigned mask)
{
	struct gsn_qp_priv *qp = to_qp(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_modify_qp_req req = {
		.handle = pub->handle,
		.mask = mask,
		.state = (uint32_t)attr->qp_state,
		.access = attr->qp_access_flags,
		.dest_ipv4 = attr->dest_ipv4,
		.dest_qp_num = attr->dest_qp_num,
		.timeout_ms = attr->timeout_ms,
		.retry_cnt = attr->retry_cnt,
		.qkey = attr->qkey,
	};

	if (!mask || (mask & ~MASK_ALL))
		return -EINVAL;
	if ((mask & GSN_QP_ATTR_STATE) && (unsigned)attr->qp_state > GSN_QPS_ERR)
		return -EINVAL;
	memcpy(req.dest_ula, attr->dest_ula, sizeof(req.dest_ula));
	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_MODIFY_QP, &req, sizeof(req), NULL, 0, NULL, 0);

	if (!err) {
		if (mask & GSN_QP_ATTR_TIMEOUT)
			qp->timeout_ms = attr->timeout_ms;
		if (mask & GSN_QP_ATTR_RETRY)
			qp->retry_cnt = attr->retry_cnt;
		if (mask & GSN_QP_ATTR_DEST)
			qp->dest_ipv4 = attr->dest_ipv4;
		if (mask & GSN_QP_ATTR_STATE) {
			if (attr->qp_state == GSN_QPS_RESET)
				forget_work(qp);
			set_state(qp, attr->qp_state);
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	return err;
}

int gsn_query_qp(struct gsn_qp *pub, struct gsn_qp_attr *attr, struct gsn_qp_init_attr *init_attr)
{
	struct gsn_qp_priv *qp = to_qp(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_handle h = {.handle = pub->handle};
	struct gsn_dev_qp_attr a;

	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_QUERY_QP, &h, sizeof(h), &a, sizeof(a), NULL, 0);

	if (!err && a.state <= GSN_QPS_ERR)
		set_state(qp, (enum gsn_qp_state)a.state);
	pthread_mutex_unlock(&ctx->lock);
	if (err)
		return err;
	memset(attr, 0, sizeof(*attr));
	attr->qp_state = (enum gsn_qp_state)a.state;
	attr->qp_access_flags = a.access;
	memcpy(attr->dest_ula, a.dest_ula, sizeof(attr->dest_ula));
	attr->dest_ipv4 = qp->dest_ipv4;
	attr->dest_qp_num = a.dest_qp_num;
	attr->timeout_ms = qp->timeout_ms;
	attr->retry_cnt = qp->retry_cnt;
	attr->qkey = a.qkey;
	attr->cap = qp->cap;
	attr->qp_num = a.qp_num;
	attr->st_vc = a.st_vc;
	if (init_attr) {
		memset(init_attr, 0, sizeof(*init_attr));
		init_attr->qp_context = pub->qp_context;
		init_attr->send_cq = pub->send_cq;
		init_attr->recv_cq = pub->recv_cq;
		init_attr->cap = qp->cap;
		init_attr->qp_type = pub->qp_type;
		init_attr->sq_sig_all = qp->sq_sig_all;
	}
	return 0;
}

int gsn_destroy_qp(struct gsn_qp *pub)
{
	struct gsn_qp_priv *qp = to_qp(pub);
	struct gsn_ctx *ctx = to_ctx(pub->context);
	struct gsn_dev_handle h = {.handle = pub->handle};

	pthread_mutex_lock(&ctx->lock);
	int err = gsn_cmd(ctx, GSN_DEV_CMD_DESTROY_QP, &h, sizeof(h), NULL, 0, NULL, 0);

	if (gsn_conn_lost(err))
		err = 0;
	if (!err)
		gsn_qp_free_local(qp);
	pthread_mutex_unlock(&ctx->lock);
	return err;
}
