/* SPDX-License-Identifier: MIT */
/*
 * Queue pairs: the memfd with the send ring (256-byte WQEs) and the receive
 * ring (128-byte WQEs), the doorbell eventfd, need-wakeup, the verbs state
 * machine, and the ST VC behind a connected QP.
 *
 * Connection (docs/device.md "QP <-> ST VC").  At RTR the QP knows its
 * peer (ULA, QP number).  The end with the lower (ULA, QPN) connects:
 * st_connect to upper-layer port = the peer's QPN, local upper-layer port
 * = its own QPN.  The other listens on its own QPN (one manual listener
 * per QP) and accepts only a request from the expected ULA and QPN.  A
 * connect refused or timed out (the peer not at RTR yet) is tried again
 * with a back-off (10 ms doubling to 500 ms) for as long as the QP is in
 * RTR/RTS; once send work waits, the QP has timeout x (retry + 1) (default
 * 4 s) to get its VC, else the oldest request fails RETRY_EXC_ERR and the
 * QP goes to ERROR.  COMM_EST goes to the client when the VC is up.  An
 * RTR naming an IPv4 address (dest_ula all zero) resolves it with HARP
 * first; MODIFY_QP is answered when that is done.
 *
 * UD QPs (dev_ud.c) have no VC: RTR and RTS need no destination, each
 * send names its own, and a qkey (GSN_QP_ATTR_QKEY) guards the receive
 * side.  Their receive ring is read when a datagram arrives, so gsnd needs
 * no doorbell for it (NEED_WAKEUP stays clear there but in ERROR).
 *
 * ERROR: the VC is closed (the peer's QP goes to ERROR too) and all work
 * completes WR_FLUSH_ERR.  A VC that closes under a QP (peer gone, retries
 * exhausted) moves it to ERROR with GSN_EVENT_QP_FATAL.  RESET drops all
 * work without completions (consumer := producer on both rings).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dev.h"

#define RING_HDR ((size_t)sizeof(struct gsn_ring))

/* ---- rings and need-wakeup ---- */

static void ring_view(struct dev_ring *r, void *base, uint32_t log2, uint32_t esz)
{
	r->h = base;
	dev_ring_init(r->h, log2, esz);
	r->ents = (uint8_t *)base + RING_HDR;
	r->size = 1u << log2;
	r->mask = r->size - 1;
	r->esz = esz;
	r->idx = 0;
}

bool dev_ring_pending(const struct dev_ring *r)
{
	return __atomic_load_n(&r->h->producer, __ATOMIC_ACQUIRE) != r->idx;
}

/* Consumes everything posted so far without looking at it. */
static void ring_skip(struct dev_ring *r)
{
	r->idx = __atomic_load_n(&r->h->producer, __ATOMIC_ACQUIRE);
	__atomic_store_n(&r->h->consumer, r->idx, __ATOMIC_RELEASE);
}

bool dev_qp_sleep(struct dev_qp *qp)
{
	__atomic_fetch_or(&qp->sq.h->flags, GSN_RING_F_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	if (qp->type != GSN_QPT_UD || qp->state == GSN_QPS_ERR)
		__atomic_fetch_or(&qp->rq.h->flags, GSN_RING_F_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	return dev_exec_wants(qp) || dev_recv_wants(qp);
}

static void ring_wake(struct dev_ring *r)
{
	if (__atomic_load_n(&r->h->flags, __ATOMIC_RELAXED) & GSN_RING_F_NEED_WAKEUP)
		__atomic_fetch_and(&r->h->flags, ~GSN_RING_F_NEED_WAKEUP, __ATOMIC_SEQ_CST);
}

void dev_qp_wake(struct dev_qp *qp)
{
	ring_wake(&qp->sq);
	ring_wake(&qp->rq);
}

static void qp_doorbell(struct gsn_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)events;
	struct dev_qp *qp = arg;
	struct gsnd_dev *dev = qp->dev;
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
	dev_progress(dev);
	if (dev->sleeping && dev_qp_sleep(qp)) {
		dev_activity(dev);
		dev_progress(dev);
	}
}

/* ---- creation ---- */

static int create_check(const struct gsn_dev_create_qp_req *req)
{
	if ((req->qp_type != GSN_QPT_RC && req->qp_type != GSN_QPT_UD) ||
	    req->max_send_wr > DEV_MAX_QP_WR ||
	    req->max_recv_wr > DEV_MAX_QP_WR || req->max_send_sge > GSN_MAX_SGE ||
	    req->max_recv_sge > GSN_MAX_SGE || req->max_inline_data > GSN_MAX_INLINE)
		return -EINVAL;
	return 0;
}

static bool qpn_used(const struct gsnd_dev *dev, uint32_t qpn, uint32_t uid)
{
	for (const struct dev_qp *q = dev->qps; q; q = q->next)
		if (q->qpn == qpn || q->uid == uid)
			return true;
	return false;
}

static void qp_ids(struct gsnd_dev *dev, struct dev_qp *qp)
{
	do {
		qp->qpn = dev->next_qpn++;
		if (dev->next_qpn > DEV_QPN_MAX)
			dev->next_qpn = DEV_QPN_FIRST;
		qp->uid = ++dev->next_uid ? dev->next_uid : ++dev->next_uid;
	} while (qpn_used(dev, qp->qpn, qp->uid));
}

/* The memfd: SQ header and entries, then RQ header and entries. */
static int qp_shm(struct dev_qp *qp, uint32_t sl2, uint32_t rl2, int *memfd, uint64_t *rq_off)
{
	size_t sq_len = RING_HDR + ((size_t)sizeof(struct gsn_send_wqe) << sl2);
	size_t rq_len = RING_HDR + ((size_t)sizeof(struct gsn_recv_wqe) << rl2);
	int err;

	qp->map_len = dev_page_round(sq_len + rq_len);
	err = dev_shm_create("gsn-qp", qp->map_len, memfd, &qp->map);
	if (err) {
		qp->map = NULL;
		return err;
	}
	ring_view(&qp->sq, qp->map, sl2, sizeof(struct gsn_send_wqe));
	ring_view(&qp->rq, (uint8_t *)qp->map + sq_len, rl2, sizeof(struct gsn_recv_wqe));
	*rq_off = sq_len;
	qp->ops = calloc(qp->sq.size, sizeof(*qp->ops));
	qp->rcv = calloc(qp->rq.size, sizeof(*qp->rcv));
	return qp->ops && qp->rcv ? 0 : -ENOMEM;
}

static void qp_timer_fire(struct gsn_loop *loop, struct gsn_timer *t, void *arg);

/* Links a fully built QP into its client, PD, CQs and the device. */
static int qp_attach(struct dev_client *cl, struct dev_qp *qp)
{
	struct gsnd_dev *dev = cl->dev;
	int err = gsn_loop_add_fd(dev->d->loop, qp->dbfd, EPOLLIN, qp_doorbell, qp);

	if (err)
		return err;
	err = dev_tab_add(&cl->qps, qp, &qp->handle);
	if (err) {
		gsn_loop_del_fd(dev->d->loop, qp->dbfd);
		return err;
	}
	qp->pd->users++;
	qp->scq->users++;
	qp->rcq->users++;
	qp->next = dev->qps;
	dev->qps = qp;
	dev->nqps++;
	return 0;
}

static struct dev_qp *qp_alloc(struct dev_client *cl, const struct gsn_dev_create_qp_req *req)
{
	struct dev_qp *qp = calloc(1, sizeof(*qp));

	if (!qp)
		return NULL;
	qp->dev = cl->dev;
	qp->cl = cl;
	qp->dbfd = -1;
	qp->pd = dev_tab_get(&cl->pds, req->pd);
	qp->scq = dev_tab_get(&cl->cqs, req->send_cq);
	qp->rcq = dev_tab_get(&cl->cqs, req->recv_cq);
	qp->type = req->qp_type;
	qp->state = GSN_QPS_RESET;
	qp->max_send_sge = req->max_send_sge;
	qp->max_recv_sge = req->max_recv_sge;
	qp->max_inline = GSN_MAX_INLINE;
	qp->sig_all = req->sq_sig_all != 0;
	qp->timeout_ms = DEV_TIMEOUT_MS_DEFAULT;
	qp->retry_cnt = DEV_RETRY_DEFAULT;
	gsn_timer_init(&qp->timer, qp_timer_fire, qp);
	return qp;
}

static void qp_release(struct dev_qp *qp)
{
	if (qp->map)
		munmap(qp->map, qp->map_len);
	if (qp->dbfd >= 0)
		close(qp->dbfd);
	free(qp->ops);
	free(qp->rcv);
	free(qp);
}

int dev_qp_create(struct dev_client *cl, const struct gsn_dev_create_qp_req *req,
		  struct gsn_dev_create_qp_resp *resp, int *memfd)
{
	int err = create_check(req);

	if (err)
		return err;
	struct dev_qp *qp = qp_alloc(cl, req);

	if (!qp)
		return -ENOMEM;
	uint32_t sl2 = dev_log2_at_least(req->max_send_wr ? req->max_send_wr : 1);
	uint32_t rl2 = dev_log2_at_least(req->max_recv_wr ? req->max_recv_wr : 1);
	uint64_t rq_off = 0;

	*memfd = -1;
	err = !qp->pd || !qp->scq || !qp->rcq ? -ENOENT : qp_shm(qp, sl2, rl2, memfd, &rq_off);
	if (!err) {
		qp->dbfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		err = qp->dbfd < 0 ? -errno : 0;
	}
	if (!err) {
		qp_ids(cl->dev, qp);
		err = qp_attach(cl, qp);
	}
	if (err) {
		if (*memfd >= 0)
			close(*memfd);
		*memfd = -1;
		qp_release(qp);
		return err;
	}
	*resp = (struct gsn_dev_create_qp_resp){
		.handle = qp->handle,
		.qp_num = qp->qpn,
		.sq_log2_size = sl2,
		.rq_log2_size = rl2,
		.sq_offset = 0,
		.rq_offset = rq_off,
		.mmap_size = qp->map_len,
		.max_inline_data = qp->max_inline,
	};
	return 0;
}

/* ---- the connection ---- */

static bool work_waiting(const struct dev_qp *qp)
{
	return qp->op_tail != qp->op_head || dev_ring_pending(&qp->sq);
}

static void timer_arm(struct dev_qp *qp)
{
	uint64_t t = UINT64_MAX;

	if (qp->retry_at && qp->retry_at < t)
		t = qp->retry_at;
	if (qp->budget_at && qp->budget_at < t)
		t = qp->budget_at;
	if (qp->resolve_at && qp->resolve_at < t)
		t = qp->resolve_at;
	if (t == UINT64_MAX)
		gsn_loop_timer_cancel(qp->dev->d->loop, &qp->timer);
	else
		gsn_loop_timer_at(qp->dev->d->loop, &qp->timer, t, 0);
}

static void conn_reset(struct dev_qp *qp)
{
	struct gsnd_dev *dev = qp->dev;

	if (qp->listening)
		st_unlisten(dev->eng, qp->qpn);
	qp->listening = false;
	if (qp->vc) {
		dev_vc_unbind(dev, qp->vc, qp);
		st_disconnect(dev->eng, qp->vc); /* flushes its work at once; the peer gets RD */
	}
	qp->vc = 0;
	qp->conn = CONN_NONE;
	qp->connect_tries = 0;
	qp->retry_at = qp->budget_at = qp->resolve_at = 0;
	timer_arm(qp);
}

static void conn_retry_later(struct dev_qp *qp)
{
	uint64_t delay = DEV_CONNECT_RETRY_MIN_NS << (qp->connect_tries < 6 ? qp->connect_tries : 6);

	if (delay > DEV_CONNECT_RETRY_MAX_NS)
		delay = DEV_CONNECT_RETRY_MAX_NS;
	qp->connect_tries++;
	qp->conn = CONN_RETRY;
	qp->retry_at = dev_now(qp->dev) + delay;
	timer_arm(qp);
}

static void conn_connect(struct dev_qp *qp)
{
	struct gsnd_dev *dev = qp->dev;
	struct st_connect_params p = {
		.uport = qp->dest_qpn,
		.local_uport = qp->qpn,
		.ethertype = GSN_ETHERTYPE_ST,
	};
	uint16_t vc = 0;

	memcpy(p.peer, qp->dest_ula, GSN_ULA_LEN);
	qp->retry_at = 0;
	if (st_connect(dev->eng, &p, (uint64_t)qp->uid << 32, &vc)) {
		conn_retry_later(qp);
		return;
	}
	dev->st.connects++;
	qp->vc = vc;
	qp->conn = CONN_CONNECTING;
	dev_vc_bind(dev, vc, qp);
	timer_arm(qp);
}

/* The lower (ULA, QPN) pair connects, the other listens. */
static bool we_connect(const struct dev_qp *qp)
{
	int c = memcmp(qp->dev->d->ep->ula, qp->dest_ula, GSN_ULA_LEN);

	return c < 0 || (c == 0 && qp->qpn < qp->dest_qpn);
}

/* A QP whose destination is itself. */
static bool qp_is_self(const struct dev_qp *qp)
{
	return memcmp(qp->dest_ula, qp->dev->d->ep->ula, GSN_ULA_LEN) == 0 &&
	       qp->dest_qpn == qp->qpn;
}

static int conn_start(struct dev_qp *qp)
{
	struct st_listen_params lp = {.ethertype = GSN_ETHERTYPE_ST, .manual_accept = true};

	if (we_connect(qp)) {
		conn_connect(qp);
		return 0;
	}
	int err = st_listen(qp->dev->eng, qp->qpn, &lp);

	if (err)
		return err;
	qp->listening = true;
	qp->conn = CONN_LISTEN;
	return 0;
}

void dev_qp_connect_check(struct dev_qp *qp)
{
	uint64_t budget = (uint64_t)qp->timeout_ms * GSND_NS_PER_MS * (qp->retry_cnt + 1u);

	if (qp->conn == CONN_UP || qp->budget_at || qp->state != GSN_QPS_RTS ||
	    !work_waiting(qp))
		return;
	qp->budget_at = dev_now(qp->dev) + budget;
	timer_arm(qp);
}

/* ---- HARP ---- */

static void modify_answer(struct dev_qp *qp, int status)
{
	qp->modify_pending = false;
	gsnd_reply_later(qp->dev->d, &qp->modify_reply, status, NULL, 0);
}

static void resolve_poll(struct dev_qp *qp)
{
	struct gsn_harp *h = gsnd_harp_get(qp->dev->d);
	uint8_t ula[GSN_ULA_LEN];
	int rc = h ? gsn_harp_resolve(h, qp->dest_ipv4, ula) : -EINPROGRESS;

	qp->resolve_at = 0;
	if (rc == -EINPROGRESS && dev_now(qp->dev) < qp->resolve_deadline) {
		qp->resolve_at = dev_now(qp->dev) + DEV_RESOLVE_POLL_NS;
		return;
	}
	qp->conn = CONN_NONE;
	if (rc == 0) {
		memcpy(qp->dest_ula, ula, GSN_ULA_LEN);
		rc = qp_is_self(qp) ? -EINVAL : conn_start(qp);
		if (!rc)
			qp->state = GSN_QPS_RTR;
	}
	modify_answer(qp, rc == -EINPROGRESS ? -ETIMEDOUT : rc);
	dev_progress(qp->dev);
}

/* ---- the QP timer: connect retries, the connect budget, HARP polling ---- */

static void qp_timer_fire(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	struct dev_qp *qp = arg;
	uint64_t now = dev_now(qp->dev);

	if (qp->resolve_at && qp->resolve_at <= now)
		resolve_poll(qp);
	if (qp->retry_at && qp->retry_at <= now && qp->conn == CONN_RETRY)
		conn_connect(qp);
	if (qp->budget_at && qp->budget_at <= now) {
		qp->budget_at = 0;
		if (qp->conn != CONN_UP && qp->state == GSN_QPS_RTS) {
			GSN_INFO(&qp->dev->d->log, DEV_COMP, "qp %u: no VC to %u in time", qp->qpn,
				 qp->dest_qpn);
			dev_exec_fail(qp, GSN_WC_RETRY_EXC_ERR);
		}
	}
	timer_arm(qp);
	dev_progress(qp->dev);
}

/* ---- libst's connection events ---- */

struct dev_qp *dev_qp_by_qpn(const struct gsnd_dev *dev, uint32_t qpn)
{
	for (struct dev_qp *q = dev->qps; q; q = q->next)
		if (q->qpn == qpn)
			return q;
	return NULL;
}

void dev_qp_ev_request(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_qp_by_qpn(dev, ev->uport);
	struct st_vc_info vi;
	bool ok = qp && qp->type == GSN_QPT_RC && st_vc_info(dev->eng, ev->vc, &vi) == 0 &&
		  qp->listening &&
		  qp->conn == CONN_LISTEN && !qp->vc && vi.peer_uport == qp->dest_qpn &&
		  memcmp(ev->peer, qp->dest_ula, GSN_ULA_LEN) == 0 &&
		  (qp->state == GSN_QPS_RTR || qp->state == GSN_QPS_RTS);

	if (!ok || st_accept(dev->eng, ev->vc)) {
		dev->st.refusals++;
		st_refuse(dev->eng, ev->vc, ST_REJ_REFUSED);
		return;
	}
	dev->st.accepts++;
	qp->vc = ev->vc;
	dev_vc_bind(dev, ev->vc, qp);
}

void dev_qp_ev_connected(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_vc_qp(dev, ev->vc);

	if (!qp || (ev->user_ctx && qp->uid != (uint32_t)(ev->user_ctx >> 32)))
		return;
	if (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS) {
		conn_reset(qp);
		return;
	}
	if (qp->listening)
		st_unlisten(dev->eng, qp->qpn);
	qp->listening = false;
	qp->conn = CONN_UP;
	qp->connect_tries = 0;
	qp->retry_at = qp->budget_at = 0;
	timer_arm(qp);
	GSN_DBG(&dev->d->log, DEV_COMP, "qp %u: vc %u up to qp %u", qp->qpn, ev->vc,
		qp->dest_qpn);
	dev_async(dev, qp->cl, GSN_EVENT_COMM_EST, qp->handle);
	dev_activity(dev);
}

void dev_qp_ev_refused(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_ctx_qp(dev, ev->vc, ev->user_ctx);

	if (!qp)
		return;
	dev_vc_unbind(dev, ev->vc, qp);
	qp->vc = 0;
	if (qp->state != GSN_QPS_RTR && qp->state != GSN_QPS_RTS)
		return;
	GSN_DBG(&dev->d->log, DEV_COMP, "qp %u: connect to qp %u: %s (%s)", qp->qpn,
		qp->dest_qpn, st_status_str(ev->status), st_reject_str(ev->reason));
	conn_retry_later(qp);
	dev_qp_connect_check(qp);
}

void dev_qp_ev_closed(struct gsnd_dev *dev, const struct st_event *ev)
{
	struct dev_qp *qp = dev_vc_qp(dev, ev->vc);

	if (!qp)
		return;
	dev->st.vc_closed++;
	dev_vc_unbind(dev, ev->vc, qp);
	qp->vc = 0;
	qp->conn = CONN_CLOSED;
	GSN_DBG(&dev->d->log, DEV_COMP, "qp %u: vc %u closed (%s)", qp->qpn, ev->vc,
		st_status_str(ev->status));
	dev_qp_error(qp, true);
}

/* ---- states ---- */

void dev_qp_error(struct dev_qp *qp, bool fatal)
{
	if (qp->modify_pending)
		modify_answer(qp, -ECANCELED);
	conn_reset(qp);
	qp->conn = CONN_CLOSED;
	if (qp->state == GSN_QPS_ERR)
		return;
	qp->state = GSN_QPS_ERR;
	if (fatal && !qp->fatal_sent)
		dev_async(qp->dev, qp->cl, GSN_EVENT_QP_FATAL, qp->handle);
	qp->fatal_sent |= fatal;
	qp->dev->again = true; /* dev_progress flushes */
	dev_activity(qp->dev);
}

static void qp_reset(struct dev_qp *qp)
{
	if (qp->modify_pending)
		modify_answer(qp, -ECANCELED);
	conn_reset(qp);
	dev_exec_drop(qp);
	dev_recv_drop(qp);
	ring_skip(&qp->sq);
	ring_skip(&qp->rq);
	qp->state = GSN_QPS_RESET;
	qp->access = 0;
	qp->qkey = 0;
	qp->has_dest = false;
	qp->fatal_sent = false;
}

static bool transition_ok(uint32_t cur, uint32_t to)
{
	switch (to) {
	case GSN_QPS_RESET:
	case GSN_QPS_ERR:
		return true;
	case GSN_QPS_INIT:
		return cur == GSN_QPS_RESET || cur == GSN_QPS_INIT;
	case GSN_QPS_RTR:
		return cur == GSN_QPS_INIT;
	case GSN_QPS_RTS:
		return cur == GSN_QPS_RTR || cur == GSN_QPS_RTS;
	default:
		return false; /* SQD, SQE: not supported */
	}
}

static bool dest_same(const struct dev_qp *qp, const struct gsn_dev_modify_qp_req *req)
{
	return qp->has_dest && qp->dest_qpn == req->dest_qp_num &&
	       qp->dest_ipv4 == req->dest_ipv4 &&
	       memcmp(qp->dest_ula, req->dest_ula, GSN_ULA_LEN) == 0;
}

/* UD: a qkey at any time, access flags accepted (and ignored), never a destination. */
static int modify_check_ud(const struct gsn_dev_modify_qp_req *req)
{
	const uint32_t known = GSN_QP_ATTR_STATE | GSN_QP_ATTR_ACCESS | GSN_QP_ATTR_TIMEOUT |
			       GSN_QP_ATTR_RETRY | GSN_QP_ATTR_QKEY;

	return req->mask & ~known ? -EINVAL : 0;
}

static int modify_check(const struct dev_qp *qp, const struct gsn_dev_modify_qp_req *req)
{
	const uint32_t known = GSN_QP_ATTR_STATE | GSN_QP_ATTR_ACCESS | GSN_QP_ATTR_DEST |
			       GSN_QP_ATTR_TIMEOUT | GSN_QP_ATTR_RETRY |
			       (qp->type == GSN_QPT_UD ? GSN_QP_ATTR_QKEY : 0);
	const uint32_t acc = GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE |
			     GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC;
	uint32_t to = req->mask & GSN_QP_ATTR_STATE ? req->state : qp->state;
	static const uint8_t zero[GSN_ULA_LEN];

	if (req->mask & ~known)
		return -EINVAL;
	if ((req->mask & GSN_QP_ATTR_STATE) && !transition_ok(qp->state, req->state))
		return -EINVAL;
	if ((req->mask & GSN_QP_ATTR_ACCESS) && (req->access & ~acc))
		return -EINVAL;
	if ((req->mask & GSN_QP_ATTR_RETRY) && req->retry_cnt > 7)
		return -EINVAL;
	if (qp->type == GSN_QPT_UD)
		return modify_check_ud(req);
	if (req->mask & GSN_QP_ATTR_DEST) {
		/* the destination is fixed on the way to RTR */
		if (qp->state > GSN_QPS_INIT && !dest_same(qp, req))
			return -EINVAL;
		if (req->dest_qp_num > DEV_QPN_MAX ||
		    (memcmp(req->dest_ula, zero, GSN_ULA_LEN) == 0 && req->dest_ipv4 == 0))
			return -EINVAL;
	}
	if (to == GSN_QPS_RTR && qp->state == GSN_QPS_INIT && !qp->has_dest &&
	    !(req->mask & GSN_QP_ATTR_DEST))
		return -EINVAL;
	return 0;
}

static void modify_attrs(struct dev_qp *qp, const struct gsn_dev_modify_qp_req *req)
{
	if (req->mask & GSN_QP_ATTR_ACCESS)
		qp->access = req->access;
	if (req->mask & GSN_QP_ATTR_TIMEOUT)
		qp->timeout_ms = req->timeout_ms ? req->timeout_ms : DEV_TIMEOUT_MS_DEFAULT;
	if (req->mask & GSN_QP_ATTR_RETRY)
		qp->retry_cnt = req->retry_cnt;
	if (req->mask & GSN_QP_ATTR_QKEY)
		qp->qkey = req->qkey;
	if (req->mask & GSN_QP_ATTR_DEST) {
		memcpy(qp->dest_ula, req->dest_ula, GSN_ULA_LEN);
		qp->dest_ipv4 = req->dest_ipv4;
		qp->dest_qpn = req->dest_qp_num;
		qp->has_dest = true;
	}
}

/* The attributes MODIFY_QP sets, kept to undo a failed one. */
struct qp_attrs {
	uint32_t access, timeout_ms, retry_cnt, dest_ipv4, dest_qpn, qkey;
	uint8_t dest_ula[GSN_ULA_LEN];
	bool has_dest;
};

static void attrs_save(const struct dev_qp *qp, struct qp_attrs *a)
{
	*a = (struct qp_attrs){qp->access,   qp->timeout_ms, qp->retry_cnt, qp->dest_ipv4,
			       qp->dest_qpn, qp->qkey,       {0},           qp->has_dest};
	memcpy(a->dest_ula, qp->dest_ula, GSN_ULA_LEN);
}

static void attrs_restore(struct dev_qp *qp, const struct qp_attrs *a)
{
	qp->access = a->access;
	qp->timeout_ms = a->timeout_ms;
	qp->retry_cnt = a->retry_cnt;
	qp->dest_ipv4 = a->dest_ipv4;
	qp->dest_qpn = a->dest_qpn;
	qp->qkey = a->qkey;
	memcpy(qp->dest_ula, a->dest_ula, GSN_ULA_LEN);
	qp->has_dest = a->has_dest;
}

/* INIT -> RTR: the VC is asked for (or HARP first).  0, 1 (answer later), -errno. */
static int to_rtr(struct dev_qp *qp, const struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h)
{
	static const uint8_t zero[GSN_ULA_LEN];
	const struct gsnd *d = qp->dev->d;

	if (qp->type == GSN_QPT_UD) {
		qp->state = GSN_QPS_RTR; /* no VC: datagrams are taken from now on */
		return 0;
	}
	if (!d->ep->has_ula)
		return -EAGAIN;
	if (memcmp(qp->dest_ula, zero, GSN_ULA_LEN) == 0) {
		if (!d->cfg.has_ip)
			return -EHOSTUNREACH;
		qp->modify_pending = true;
		gsnd_reply_to(&qp->modify_reply, c, h);
		qp->conn = CONN_RESOLVING;
		qp->resolve_deadline = dev_now(qp->dev) + DEV_RESOLVE_TIMEOUT_NS;
		qp->resolve_at = dev_now(qp->dev);
		timer_arm(qp);
		return 1;
	}
	if (qp_is_self(qp))
		return -EINVAL; /* a QP connected to itself */
	int err = conn_start(qp);

	if (!err)
		qp->state = GSN_QPS_RTR;
	return err;
}

int dev_qp_modify(struct dev_qp *qp, const struct gsn_dev_modify_qp_req *req,
		  const struct gsn_ctl_client *c, const struct gsn_ctl_hdr *h)
{
	if (qp->modify_pending)
		return -EBUSY;
	int err = modify_check(qp, req);

	if (err)
		return err;
	struct qp_attrs saved;

	attrs_save(qp, &saved);
	modify_attrs(qp, req);
	if (!(req->mask & GSN_QP_ATTR_STATE))
		return 0;
	switch (req->state) {
	case GSN_QPS_RESET:
		qp_reset(qp);
		return 0;
	case GSN_QPS_ERR:
		dev_qp_error(qp, false);
		return 0;
	case GSN_QPS_RTR:
		err = to_rtr(qp, c, h);
		if (err < 0) /* a failed MODIFY_QP changes nothing */
			attrs_restore(qp, &saved);
		return err;
	default: /* INIT, RTS */
		qp->state = req->state;
		dev_activity(qp->dev);
		return 0;
	}
}

void dev_qp_query(const struct dev_qp *qp, struct gsn_dev_qp_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->state = qp->state;
	a->qp_num = qp->qpn;
	a->dest_qp_num = qp->dest_qpn;
	a->access = qp->access;
	memcpy(a->dest_ula, qp->dest_ula, GSN_ULA_LEN);
	a->st_vc = qp->conn == CONN_UP ? qp->vc : 0;
	a->qkey = qp->qkey;
}

/* ---- destruction ---- */

void dev_qp_free(struct dev_qp *qp)
{
	struct gsnd_dev *dev = qp->dev;

	if (qp->modify_pending)
		modify_answer(qp, -ECANCELED);
	conn_reset(qp);
	gsn_loop_timer_cancel(dev->d->loop, &qp->timer);
	dev_exec_drop(qp);
	dev_recv_drop(qp);
	gsn_loop_del_fd(dev->d->loop, qp->dbfd);
	for (struct dev_qp **pp = &dev->qps; *pp; pp = &(*pp)->next)
		if (*pp == qp) {
			*pp = qp->next;
			break;
		}
	dev->nqps--;
	qp->pd->users--;
	qp->scq->users--;
	qp->rcq->users--;
	dev_tab_del(&qp->cl->qps, qp->handle);
	qp_release(qp);
}
