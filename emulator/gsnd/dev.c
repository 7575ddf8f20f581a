/* SPDX-License-Identifier: MIT */
/*
 * The device (docs/device.md): one libst engine per endpoint gsnd, its
 * lower layer, the event pump, the VC -> QP map, progress (spin after
 * activity, then need-wakeup and sleep) and --private.
 *
 * Lower layer.  An ST operation travels as one GSN Message with EtherType
 * 0x8181 to the peer's ULA, control operations on VC0 and Data on VC1
 * (libst's data channel).  msg copies a Message at once; when its queue
 * for the VC is full the operation waits, copied, in a FIFO per VC that
 * drains on msg's tx_space and from the loop hook, so nothing libst sends
 * is lost to a full queue (only a link reset, or FIFOs past DEV_TXQ_MAX
 * while a link stays down, lose operations; libst's timers repair that).
 * New work does not start while the FIFOs hold more than DEV_TXQ_HIGH
 * bytes.  UD datagrams (dev_ud.c) take the same FIFOs, so they keep their
 * order with each other and with ST Data on VC1.
 *
 * Region keys.  rkeys are per client: each MR's st region has an engine
 * key of gsnd's choosing, and an incoming Request_Memory_Region has its key
 * translated (dev_rkey_resolve) by the client of the QP its VC belongs to
 * before libst sees it.  No other ST operation names a region by key.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

/* ---- small helpers ---- */

struct gsnd_dev *dev_of(const struct gsnd *d)
{
	return d->ep ? d->ep->dev : NULL;
}

uint64_t dev_now(const struct gsnd_dev *dev)
{
	(void)dev;
	return gsn_clock_ns();
}

static uint64_t lower_now(void *ctx)
{
	return dev_now(ctx);
}

/* ---- handle tables ---- */

static int tab_grow(struct dev_tab *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 16;

	if (cap > t->max)
		cap = t->max;
	if (cap <= t->cap)
		return -ENOSPC;
	void **obj = realloc(t->obj, cap * sizeof(*obj));

	if (!obj)
		return -ENOMEM;
	t->obj = obj;
	uint16_t *gen = realloc(t->gen, cap * sizeof(*gen));

	if (!gen)
		return -ENOMEM;
	t->gen = gen;
	for (uint32_t i = t->cap; i < cap; i++) {
		t->obj[i] = NULL;
		t->gen[i] = (uint16_t)(i * 0x9e37u + 1u);
	}
	t->cap = cap;
	return 0;
}

int dev_tab_add(struct dev_tab *t, void *obj, uint32_t *handle)
{
	uint32_t i;

	for (i = 0; i < t->cap && t->obj[i]; i++)
		;
	if (i == t->cap) {
		int err = tab_grow(t);

		if (err)
			return err;
	}
	t->obj[i] = obj;
	if (++t->gen[i] == 0)
		t->gen[i] = 1;
	t->n++;
	*handle = (uint32_t)t->gen[i] << 16 | (i + 1);
	return 0;
}

void *dev_tab_get(const struct dev_tab *t, uint32_t handle)
{
	uint32_t i = (handle & 0xFFFFu) - 1;

	if ((handle & 0xFFFFu) == 0 || i >= t->cap || t->gen[i] != handle >> 16)
		return NULL;
	return t->obj[i];
}

void dev_tab_del(struct dev_tab *t, uint32_t handle)
{
	uint32_t i = (handle & 0xFFFFu) - 1;

	if (dev_tab_get(t, handle)) {
		t->obj[i] = NULL;
		t->n--;
	}
}

void dev_tab_free(struct dev_tab *t)
{
	free(t->obj);
	free(t->gen);
	t->obj = NULL;
	t->gen = NULL;
	t->cap = t->n = 0;
}

/* ---- VCs and QPs ---- */

void dev_vc_bind(struct gsnd_dev *dev, uint16_t vc, struct dev_qp *qp)
{
	if (vc && vc <= DEV_MAX_VCS)
		dev->vc_qp[vc] = qp;
}

void dev_vc_unbind(struct gsnd_dev *dev, uint16_t vc, const struct dev_qp *qp)
{
	if (vc && vc <= DEV_MAX_VCS && dev->vc_qp[vc] == qp)
		dev->vc_qp[vc] = NULL;
}

struct dev_qp *dev_vc_qp(const struct gsnd_dev *dev, uint16_t vc)
{
	return vc && vc <= DEV_MAX_VCS ? dev->vc_qp[vc] : NULL;
}

struct dev_qp *dev_ctx_qp(const struct gsnd_dev *dev, uint16_t vc, uint64_t user_ctx)
{
	struct dev_qp *qp = dev_vc_qp(dev, vc);

	return qp && qp->uid == (uint32_t)(user_ctx >> 32) ? qp : NULL;
}

void dev_async(struct gsnd_dev *dev, const struct dev_client *cl, uint32_t type,
	       uint32_t handle)
{
	struct gsnd *d = dev->d;
	struct gsn_ctl_client *c = d->ctl ? gsn_ctl_server_client(d->ctl, cl->id) : NULL;
	struct gsn_dev_async_event ev = {.type = type, .handle = handle};

	if (c)
		gsn_ctl_send(d->ctl, c, GSN_DEV_CMD_ASYNC_EVENT, 0, 0, &ev, sizeof(ev));
}

/* ---- the lower layer: ST operations as Messages ---- */

bool dev_tx_backlogged(const struct gsnd_dev *dev)
{
	return dev->txq_bytes > DEV_TXQ_HIGH;
}

static int txq_push(struct gsnd_dev *dev, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
		    uint16_t ethertype, const struct iovec *iov, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (dev->txq_bytes + len > DEV_TXQ_MAX)
		return -ENOBUFS; /* lost: libst's timers repair it (a link down for long) */
	struct dev_txmsg *m = malloc(sizeof(*m) + len);

	if (!m)
		return -ENOMEM;
	m->next = NULL;
	memcpy(m->dst, dst, GSN_ULA_LEN);
	m->ethertype = ethertype;
	m->len = len;
	len = 0;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(m->data + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	struct dev_txq *q = &dev->txq[vc];

	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->len;
	dev->txq_bytes += m->len;
	return 0;
}

int dev_tx(struct gsnd_dev *dev, unsigned vc, const uint8_t dst[GSN_ULA_LEN],
	   uint16_t ethertype, const struct iovec *iov, unsigned n)
{
	if (vc >= GSN_VC_COUNT || !dev->d->ep)
		return -EINVAL;
	if (!dev->txq[vc].head) {
		int rc = gsn_msg_send(dev->d->ep->msg, vc, dst, ethertype, iov, (int)n);

		if (rc != -EAGAIN)
			return rc;
	}
	int rc = txq_push(dev, vc, dst, ethertype, iov, n);

	return rc ? rc : 1;
}

static int lower_send(void *ctx, const uint8_t dst[ST_ULA_LEN], unsigned vc,
		      const uint8_t hdr[ST_HDR_LEN], const struct iovec *payload, unsigned iovcnt)
{
	struct gsnd_dev *dev = ctx;
	struct iovec iov[8];

	if (iovcnt > 7)
		return -EINVAL;
	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = ST_HDR_LEN;
	for (unsigned i = 0; i < iovcnt; i++)
		iov[i + 1] = payload[i];
	int rc = dev_tx(dev, vc, dst, GSN_ETHERTYPE_ST, iov, iovcnt + 1);

	if (rc < 0) {
		dev->st.st_send_errors++;
		return rc;
	}
	if (rc)
		dev->st.st_queued++;
	else
		dev->st.st_sent++;
	return 0;
}

/* A Message that waited in a FIFO left (rc 0) or was lost. */
static void txq_count(struct gsnd_dev *dev, uint16_t ethertype, int rc)
{
	if (ethertype != GSN_ETHERTYPE_ST) {
		if (rc)
			dev->st.ud_send_errors++;
		return;
	}
	if (rc)
		dev->st.st_send_errors++;
	else
		dev->st.st_sent++;
}

static void txq_pump(struct gsnd_dev *dev, unsigned vc)
{
	struct dev_txq *q = &dev->txq[vc];

	while (q->head) {
		struct dev_txmsg *m = q->head;
		struct iovec iov = {m->data, m->len};
		int rc = gsn_msg_send(dev->d->ep->msg, vc, m->dst, m->ethertype, &iov, 1);

		if (rc == -EAGAIN)
			return;
		txq_count(dev, m->ethertype, rc);
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= m->len;
		dev->txq_bytes -= m->len;
		free(m);
	}
}

static void txq_free(struct gsnd_dev *dev)
{
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++) {
		struct dev_txq *q = &dev->txq[vc];

		while (q->head) {
			struct dev_txmsg *m = q->head;

			q->head = m->next;
			free(m);
		}
		q->tail = NULL;
		q->bytes = 0;
	}
	dev->txq_bytes = 0;
}

/* ---- events ---- */

static void dev_event(struct gsnd_dev *dev, const struct st_event *ev)
{
	dev->st.events++;
	switch (ev->type) {
	case ST_EV_CONNECT_REQUEST:
		dev_qp_ev_request(dev, ev);
		break;
	case ST_EV_CONNECTED:
		dev_qp_ev_connected(dev, ev);
		break;
	case ST_EV_REFUSED:
		dev_qp_ev_refused(dev, ev);
		break;
	case ST_EV_CLOSED:
		dev_qp_ev_closed(dev, ev);
		break;
	case ST_EV_REGION_EXPOSED:
		dev_exec_ev_region(dev, ev);
		break;
	case ST_EV_DATA_PLACED:
		dev_recv_ev_placed(dev, ev);
		break;
	case ST_EV_COMPLETE:
		dev_exec_ev_complete(dev, ev);
		break;
	case ST_EV_RECV_COMPLETE:
		dev_recv_ev_complete(dev, ev);
		break;
	case ST_EV_ERROR:
		GSN_DBG(&dev->d->log, DEV_COMP, "st error on vc %u: %s", ev->vc,
			st_status_str(ev->status));
		break;
	default:
		break;
	}
}

void dev_events(struct gsnd_dev *dev)
{
	struct st_event ev;

	while (st_poll_event(dev->eng, &ev))
		dev_event(dev, &ev);
}

/* ---- progress, spin and sleep ---- */

void dev_activity(struct gsnd_dev *dev)
{
	dev->spin_until = dev_now(dev) + dev->spin_ns;
	if (!dev->sleeping)
		return;
	dev->sleeping = false;
	for (struct dev_qp *qp = dev->qps; qp; qp = qp->next)
		dev_qp_wake(qp);
}

/* One round over every QP; true if anything moved. */
static bool pump_qps(struct gsnd_dev *dev)
{
	bool did = false;

	for (struct dev_qp *qp = dev->qps; qp; qp = qp->next) {
		did |= dev_recv_pump(qp);
		did |= dev_exec_pump(qp);
	}
	return did;
}

void dev_progress(struct gsnd_dev *dev)
{
	bool any = false;

	if (dev->in_progress) {
		dev->again = true;
		return;
	}
	dev->in_progress = true;
	for (unsigned round = 0; round < 64; round++) {
		dev->again = false;
		dev_events(dev);
		bool did = pump_qps(dev);

		dev_events(dev);
		any |= did;
		if (!did && !dev->again)
			break;
	}
	dev_zombies_reap(dev, false);
	dev->in_progress = false;
	if (any)
		dev_activity(dev);
}

/* Sets NEED_WAKEUP everywhere; if work slipped in meanwhile, keeps going. */
static void try_sleep(struct gsnd_dev *dev)
{
	bool woke = false;

	dev->sleeping = true;
	for (struct dev_qp *qp = dev->qps; qp; qp = qp->next)
		woke |= dev_qp_sleep(qp);
	if (woke) {
		dev_activity(dev);
		dev_progress(dev);
	}
}

static uint64_t dev_next(void *arg)
{
	struct gsnd_dev *dev = arg;
	uint64_t t = st_next_deadline(dev->eng);

	if (!dev->sleeping)
		return 0; /* spinning: poll the rings every iteration */
	return t == UINT64_MAX ? GSN_LOOP_NEVER : t;
}

static void dev_expire(void *arg, uint64_t now)
{
	struct gsnd_dev *dev = arg;
	uint64_t spin_until = dev->spin_until;

	if (st_next_deadline(dev->eng) <= now)
		st_tick(dev->eng);
	dev_progress(dev);
	if (!dev->sleeping && dev_now(dev) >= dev->spin_until)
		try_sleep(dev);
	else if (!dev->sleeping && dev->spin_until == spin_until)
		sched_yield(); /* an idle spin: a client queued on this CPU runs now */
}

/* ---- --private ---- */

static void private_expired(struct gsn_loop *loop, struct gsn_timer *t, void *arg)
{
	(void)t;
	struct gsnd_dev *dev = arg;

	if (dev->nclients)
		return;
	GSN_INFO(&dev->d->log, DEV_COMP, "private: no device client left, exiting");
	dev->d->stopping = true;
	gsn_loop_stop(loop);
}

void dev_client_opened(struct gsnd_dev *dev)
{
	dev->nclients++;
	dev->st.clients_total++;
	gsn_loop_timer_cancel(dev->d->loop, &dev->private_timer);
}

void dev_client_closed(struct gsnd_dev *dev)
{
	const struct gsnd_config *cfg = &dev->d->cfg;

	if (dev->nclients)
		dev->nclients--;
	if (dev->nclients || !cfg->private_mode || dev->d->stopping)
		return;
	gsn_loop_timer_in(dev->d->loop, &dev->private_timer,
			  (uint64_t)cfg->private_grace_ms * GSND_NS_PER_MS, 0);
}

/* ---- life cycle ---- */

static int engine_create(struct gsnd_dev *dev)
{
	const struct gsnd_endpoint *ep = dev->d->ep;
	struct st_config cfg;
	struct st_lower_ops lower = {
		.send = lower_send,
		.now_ns = lower_now,
		.mem_read = dev_mem_read,
		.mem_write = dev_mem_write,
		.ctx = dev,
	};

	st_config_default(&cfg);
	if (ep->has_ula)
		memcpy(cfg.ula, ep->ula, GSN_ULA_LEN);
	cfg.bufsize_log2 = DEV_BUFSIZE_LOG2;
	cfg.max_stu_log2 = DEV_MAX_STU_LOG2;
	cfg.block_log2 = DEV_BLOCK_LOG2;
	cfg.data_vc = 1;
	cfg.max_vcs = DEV_MAX_VCS;
	cfg.reject_when_not_ready = false; /* hold mode: receiver-not-ready waits */
	return st_engine_create(&cfg, &lower, &dev->eng);
}

int gsnd_dev_init(struct gsnd *d)
{
	struct gsnd_dev *dev = calloc(1, sizeof(*dev));
	int err;

	if (!dev)
		return -ENOMEM;
	d->ep->dev = dev;
	dev->d = d;
	dev->next_qpn = DEV_QPN_FIRST;
	dev->next_uid = gsnd_random32();
	dev->spin_ns = (uint64_t)d->cfg.dev_spin_us * 1000u;
	dev->sleeping = true;
	dev->port_state = -1;
	gsn_timer_init(&dev->private_timer, private_expired, dev);
	err = engine_create(dev);
	if (!err)
		err = dev_regions_init(dev);
	if (!err) {
		dev->ud_buf = malloc(GSN_UD_WIRE_HDR_LEN + GSN_UD_MAX_PAYLOAD);
		err = dev->ud_buf ? 0 : -ENOMEM;
	}
	if (!err) {
		dev->deadline_id = gsn_loop_add_deadline(d->loop, dev_next, dev_expire, dev);
		err = dev->deadline_id < 0 ? dev->deadline_id : 0;
	}
	if (!err && d->cfg.private_mode) {
		unsigned ms = d->cfg.private_grace_ms > DEV_PRIVATE_FIRST_MS ? d->cfg.private_grace_ms
									   : DEV_PRIVATE_FIRST_MS;

		gsn_loop_timer_in(d->loop, &dev->private_timer, (uint64_t)ms * GSND_NS_PER_MS, 0);
	}
	return err;
}

void gsnd_dev_fini(struct gsnd *d)
{
	struct gsnd_dev *dev = d->ep ? d->ep->dev : NULL;

	if (!dev)
		return;
	while (dev->clients) {
		struct dev_client *cl = dev->clients;

		dev->clients = cl->next;
		dev_client_free(cl);
	}
	/* best effort: the Request_Disconnects of the VCs just closed leave now */
	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		txq_pump(dev, vc);
	gsnd_ports_flush(d);
	if (dev->deadline_id > 0)
		gsn_loop_remove(d->loop, dev->deadline_id);
	gsn_loop_timer_cancel(d->loop, &dev->private_timer);
	st_engine_destroy(dev->eng);
	dev_zombies_reap(dev, true);
	txq_free(dev);
	free(dev->ud_buf);
	free(dev);
	d->ep->dev = NULL;
}

/* ---- entry points from the endpoint ---- */

/* The access an incoming operation needs of our memory (0: none of a client's MRs). */
static uint32_t access_needed(const struct st_hdr *h)
{
	unsigned fn = st_hdr_function(h);

	if (h->op == ST_OP_DATA && h->d_id == 0)
		return GSN_ACCESS_REMOTE_WRITE;
	if (h->op != ST_OP_GET || fn == ST_FN_FETCHOP_COMPLETE)
		return 0;
	return fn == ST_FN_GET ? GSN_ACCESS_REMOTE_READ : GSN_ACCESS_REMOTE_ATOMIC;
}

/*
 * Request_Memory_Region names the region by the rkey its owner's client
 * knows: rewrites it (into raw) as the engine key it resolves to for the
 * QP the VC belongs to.  False for a malformed one (RMR carries no payload).
 */
static bool rmr_translate(const struct gsnd_dev *dev, struct st_hdr *h, size_t len,
			  uint8_t raw[ST_HDR_LEN])
{
	if (len != ST_HDR_LEN)
		return false;
	uint64_t key = dev_rkey_resolve(dev->in_qp, (uint64_t)h->bufx << 32 | h->offset);

	h->bufx = (uint32_t)(key >> 32);
	h->offset = (uint32_t)key;
	st_hdr_encode(h, raw, h->cksum != 0);
	return true;
}

void gsnd_dev_input(struct gsnd *d, unsigned vc, const uint8_t src[GSN_ULA_LEN],
		    const uint8_t *pdu, size_t len)
{
	struct gsnd_dev *dev = dev_of(d);
	uint8_t raw[ST_HDR_LEN];
	struct st_hdr h;
	bool ok = true;

	if (!dev)
		return;
	dev->st.st_received++;
	dev->in_qp = NULL;
	dev->in_need = 0;
	if (st_hdr_decode(pdu, len, &h) == ST_HDR_OK) {
		dev->in_qp = dev_vc_qp(dev, h.d_port);
		dev->in_need = access_needed(&h);
		if (h.op == ST_OP_REQUEST_MEMORY_REGION) {
			ok = rmr_translate(dev, &h, len, raw);
			pdu = raw;
		}
	}
	if (!ok || st_input(dev->eng, src, vc, pdu, len) < 0)
		dev->st.st_input_drops++;
	dev->in_qp = NULL;
	dev->in_need = 0;
	dev_progress(dev);
}

void gsnd_dev_tx_space(struct gsnd *d, unsigned vc)
{
	struct gsnd_dev *dev = dev_of(d);

	if (dev && vc < GSN_VC_COUNT)
		txq_pump(dev, vc);
}

/* Port state changes go to every client as PORT_ACTIVE / PORT_ERR. */
static void port_events(struct gsnd_dev *dev)
{
	int state = gsnd_port_up(dev->d, 0) && dev->d->ep->has_ula;

	if (state == dev->port_state)
		return;
	bool first = dev->port_state < 0;

	dev->port_state = state;
	if (first)
		return;
	for (struct dev_client *cl = dev->clients; cl; cl = cl->next)
		dev_async(dev, cl, state ? GSN_EVENT_PORT_ACTIVE : GSN_EVENT_PORT_ERR, 0);
}

void gsnd_dev_pump(struct gsnd *d)
{
	struct gsnd_dev *dev = dev_of(d);

	if (!dev)
		return;
	bool backlogged = dev_tx_backlogged(dev);

	for (unsigned vc = 0; vc < GSN_VC_COUNT; vc++)
		txq_pump(dev, vc);
	if (backlogged && !dev_tx_backlogged(dev))
		dev_progress(dev); /* work held back for the backlog may start */
	port_events(dev);
}

void gsnd_dev_stats(const struct gsnd *d, char *buf, size_t cap, size_t *off)
{
	const struct gsnd_dev *dev = dev_of(d);

	if (!dev)
		return;
	const struct dev_stats *s = &dev->st;
	struct st_counters c;

	st_get_counters(dev->eng, 0, &c);
	gsn_ctl_textf(buf, cap, off,
		      "dev.clients=%u\ndev.clients_total=%llu\ndev.qps=%u\ndev.st_sent=%llu\n"
		      "dev.st_queued=%llu\ndev.st_send_errors=%llu\ndev.st_received=%llu\n"
		      "dev.st_input_drops=%llu\ndev.txq_bytes=%zu\ndev.events=%llu\n"
		      "dev.wqes=%llu\ndev.recvs=%llu\ndev.cqes=%llu\ndev.cq_overflows=%llu\n"
		      "dev.wc_errors=%llu\ndev.flushed=%llu\ndev.dma_errors=%llu\n"
		      "dev.access_denied=%llu\ndev.connects=%llu\ndev.accepts=%llu\n"
		      "dev.refusals=%llu\ndev.vc_closed=%llu\ndev.sleeping=%d\n",
		      dev->nclients, (unsigned long long)s->clients_total, dev->nqps,
		      (unsigned long long)s->st_sent, (unsigned long long)s->st_queued,
		      (unsigned long long)s->st_send_errors, (unsigned long long)s->st_received,
		      (unsigned long long)s->st_input_drops, dev->txq_bytes,
		      (unsigned long long)s->events, (unsigned long long)s->wqes,
		      (unsigned long long)s->recvs, (unsigned long long)s->cqes,
		      (unsigned long long)s->cq_overflows, (unsigned long long)s->wc_errors,
		      (unsigned long long)s->flushed, (unsigned long long)s->dma_errors,
		      (unsigned long long)s->access_denied, (unsigned long long)s->connects,
		      (unsigned long long)s->accepts, (unsigned long long)s->refusals,
		      (unsigned long long)s->vc_closed, dev->sleeping ? 1 : 0);
	dev_ud_stats(dev, buf, cap, off);
	gsn_ctl_textf(buf, cap, off,
		      "st.retransmits=%llu\nst.timeouts=%llu\nst.rejects_sent=%llu\n"
		      "st.rejects_received=%llu\nst.bytes_sent=%llu\nst.bytes_received=%llu\n"
		      "st.send_failures=%llu\n",
		      (unsigned long long)c.retransmits, (unsigned long long)c.timeouts,
		      (unsigned long long)c.rejects_sent, (unsigned long long)c.rejects_received,
		      (unsigned long long)c.bytes_sent, (unsigned long long)c.bytes_received,
		      (unsigned long long)c.send_failures);
	for (int i = 0; i < ST_DROP_REASONS; i++)
		if (c.drops[i])
			gsn_ctl_textf(buf, cap, off, "st.drops.%d=%llu\n", i,
				      (unsigned long long)c.drops[i]);
}
