// SPDX-License-Identifier: MIT
// The fake device server (see fake_dev.h).
#include "fake_dev.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

extern "C" {
#include "ctl.h"
#include "ctl_fds.h"
}

namespace fake {

namespace {

uint64_t now_ms()
{
	return (uint64_t)std::chrono::duration_cast<std::chrono::milliseconds>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

uint64_t now_us()
{
	return (uint64_t)std::chrono::duration_cast<std::chrono::microseconds>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

uint32_t log2_at_least(uint32_t n)
{
	uint32_t l = 0;

	while ((1u << l) < n && l < 31)
		l++;
	return l;
}

void ring_init(gsn_ring *h, uint32_t log2, uint32_t esz, uint32_t start)
{
	memset((void *)h, 0, sizeof(*h));
	h->log2_size = log2;
	h->entry_size = esz;
	h->entries_offset = sizeof(gsn_ring);
	h->producer = start;
	h->consumer = start;
}

void sring(SRing &r, void *base, uint32_t start)
{
	r.h = static_cast<gsn_ring *>(base);
	r.e = static_cast<uint8_t *>(base) + r.h->entries_offset;
	r.size = 1u << r.h->log2_size;
	r.esz = r.h->entry_size;
	r.idx = start;
}

// A memfd of len bytes mapped here.
int make_shm(size_t len, void **map, int *memfd)
{
	int fd = memfd_create("gsn-fake-ring", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e;
	}
	*map = m;
	*memfd = fd;
	return 0;
}

} // namespace

// ---- rings ----

bool SRing::peek(void *out) const
{
	if (empty())
		return false;
	memcpy(out, slot(idx), esz);
	return true;
}

bool SRing::pop(void *out)
{
	if (!peek(out))
		return false;
	idx++;
	__atomic_store_n(&h->consumer, idx, __ATOMIC_RELEASE);
	return true;
}

bool SRing::push(const void *in)
{
	if (idx - consumer() >= size) {
		overflow++;
		__atomic_fetch_add(&h->overflow, 1, __ATOMIC_RELAXED);
		return false;
	}
	memcpy(slot(idx), in, esz);
	idx++;
	__atomic_store_n(&h->producer, idx, __ATOMIC_RELEASE);
	return true;
}

// ---- life cycle ----

FakeDev::FakeDev(Options o) : o_(std::move(o)), rxbuf_(GSN_CTL_MSG_MAX)
{
	wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

FakeDev::~FakeDev()
{
	stop();
	for (auto &c : clients_)
		close(c.fd);
	for (auto &kv : qps_)
		free_qp(kv.second);
	for (auto &kv : cqs_)
		free_cq(kv.second);
	if (lfd_ >= 0) {
		close(lfd_);
		unlink(path_.c_str());
	}
	close(wake_);
}

int FakeDev::listen()
{
	char buf[256];
	int err = gsn_ctl_rundir_ensure(o_.rundir.c_str());

	if (err)
		return err;
	err = gsn_ctl_sock_path(o_.rundir.c_str(), o_.name.c_str(), buf, sizeof(buf));
	if (err)
		return err;
	path_ = buf;
	unlink(path_.c_str());
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path_.c_str());
	lfd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd_ < 0)
		return -errno;
	if (bind(lfd_, (sockaddr *)&sa, sizeof(sa)) < 0 || ::listen(lfd_, 16) < 0)
		return -errno;
	last_activity_ms_ = now_ms();
	return 0;
}

int FakeDev::start()
{
	int err = listen();

	if (err)
		return err;
	std::atomic<bool> running{false};
	th_ = std::thread([this, &running] {
		running = true;
		loop();
	});
	// Thread start-up may open fds for a moment (the stack bounds come from
	// /proc/self/maps): wait, so that callers count fds in a quiet state.
	while (!running)
		std::this_thread::yield();
	return 0;
}

void FakeDev::run()
{
	loop();
}

void FakeDev::stop()
{
	stopping_ = true;
	uint64_t one = 1;
	if (write(wake_, &one, sizeof(one)) < 0) {
	}
	if (th_.joinable())
		th_.join();
}

// ---- lookups ----

Qp *FakeDev::qp_num(uint32_t n)
{
	for (auto &kv : qps_)
		if (kv.second.qp_num == n)
			return &kv.second;
	return nullptr;
}

Cq *FakeDev::cq(uint32_t handle)
{
	auto it = cqs_.find(handle);
	return it == cqs_.end() ? nullptr : &it->second;
}

Client *FakeDev::client(uint64_t id)
{
	for (auto &c : clients_)
		if (c.id == id)
			return &c;
	return nullptr;
}

// ---- the loop ----

void FakeDev::accept_clients()
{
	for (;;) {
		int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		ucred cr{};
		socklen_t l = sizeof(cr);
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l);
		Client c;
		c.fd = fd;
		c.id = ++next_client_;
		c.pid = cr.pid;
		clients_.push_back(c);
		ever_connected_ = true;
		last_activity_ms_ = now_ms();
	}
}

void FakeDev::client_gone(uint64_t id)
{
	for (auto it = qps_.begin(); it != qps_.end();)
		if (it->second.client == id) {
			free_qp(it->second);
			it = qps_.erase(it);
		} else {
			++it;
		}
	for (auto it = cqs_.begin(); it != cqs_.end();)
		if (it->second.client == id) {
			free_cq(it->second);
			it = cqs_.erase(it);
		} else {
			++it;
		}
	for (auto it = mrs_.begin(); it != mrs_.end();)
		it = it->second.client == id ? mrs_.erase(it) : std::next(it);
	for (auto it = pds_.begin(); it != pds_.end();)
		it = it->second == id ? pds_.erase(it) : std::next(it);
	for (auto it = clients_.begin(); it != clients_.end(); ++it)
		if (it->id == id) {
			close(it->fd);
			clients_.erase(it);
			break;
		}
	last_activity_ms_ = now_ms();
}

void FakeDev::serve(Client &c)
{
	uint8_t *buf = rxbuf_.data();
	uint64_t id = c.id;

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c.fd, buf, rxbuf_.size(), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_gone(id);
			return;
		}
		if (n < 0)
			return;
		gsn_ctl_hdr h{};
		if (gsn_ctl_hdr_decode(buf, (size_t)n, &h) != 0)
			continue;
		counts_[h.type]++;
		int err = handle(c, h.type, h.seq, buf + GSN_CTL_HDR_LEN, h.body_len);
		if (err < 0)
			gsn_ctl_send_fds_sock(c.fd, h.type, h.seq, err, nullptr, 0, nullptr, 0);
	}
}

void FakeDev::sleep_flags(bool on)
{
	for (auto &kv : qps_)
		for (SRing *r : {&kv.second.sq, &kv.second.rq}) {
			if (on)
				__atomic_fetch_or(&r->h->flags, GSN_RING_F_NEED_WAKEUP, __ATOMIC_SEQ_CST);
			else
				__atomic_fetch_and(&r->h->flags, ~GSN_RING_F_NEED_WAKEUP,
						   __ATOMIC_SEQ_CST);
		}
}

bool FakeDev::work_pending()
{
	for (auto &kv : qps_) {
		Qp &q = kv.second;
		if ((!q.sq.empty() && !q.blocked) || q.rq.producer() != q.rq_seen)
			return true;
		if (q.state == GSN_QPS_ERR && (!q.sq.empty() || !q.rq.empty()))
			return true;
	}
	return false;
}

void FakeDev::loop()
{
	uint64_t busy_until = 0;

	while (!stopping_) {
		std::vector<pollfd> p;
		std::vector<uint64_t> ids;
		int timeout = o_.idle_timeout_ms;
		{
			std::lock_guard<std::mutex> g(mu);
			if (o_.engine) {
				if (step())
					busy_until = now_us() + o_.spin_us;
				if (now_us() < busy_until) {
					timeout = 0;
				} else {
					// About to sleep: ask for doorbells, then look again.
					sleep_flags(true);
					if (work_pending()) {
						sleep_flags(false);
						timeout = 0;
					}
				}
			}
			p.push_back({wake_, POLLIN, 0});
			p.push_back({lfd_, POLLIN, 0});
			for (auto &c : clients_) {
				p.push_back({c.fd, POLLIN, 0});
				ids.push_back(c.id);
			}
			if (o_.engine)
				for (auto &kv : qps_)
					p.push_back({kv.second.db, POLLIN, 0});
			if (o_.private_mode && clients_.empty() &&
			    now_ms() - last_activity_ms_ > o_.grace_ms)
				break;
		}
		int n = poll(p.data(), p.size(), timeout);
		if (n < 0 && errno != EINTR)
			break;
		std::lock_guard<std::mutex> g(mu);
		if (o_.engine && timeout != 0)
			sleep_flags(false);
		if (n <= 0)
			continue;
		uint64_t v;
		if (p[0].revents && read(wake_, &v, sizeof(v)) < 0) {
		}
		if (p[1].revents)
			accept_clients();
		for (size_t i = 0; i < ids.size(); i++)
			if (p[2 + i].revents) {
				Client *c = client(ids[i]);
				if (c)
					serve(*c);
			}
		for (size_t i = 2 + ids.size(); i < p.size(); i++)
			if (p[i].revents && read(p[i].fd, &v, sizeof(v)) < 0) {
			}
	}
}

// ---- commands ----

int FakeDev::reply(Client &c, uint16_t type, uint32_t seq, const void *body, size_t len,
		   const int *fds, size_t nfds)
{
	int err = gsn_ctl_send_fds_sock(c.fd, type, seq, 0, body, len, fds, nfds);
	return err < 0 && err != -ENOTCONN ? err : 0;
}

int FakeDev::handle(Client &c, uint16_t type, uint32_t seq, const uint8_t *body, size_t len)
{
	gsn_dev_handle h{};

	switch (type) {
	case GSN_CTL_HELLO: {
		std::string t = "element=" + o_.name + "\nrole=endpoint\nversion=fake-1\n";
		return reply(c, type, seq, t.data(), t.size());
	}
	case GSN_CTL_LINK_WAIT:
		return reply(c, type, seq, nullptr, 0);
	case GSN_DEV_CMD_OPEN: {
		gsn_dev_open_req req;
		if (len != sizeof(req))
			return -EBADMSG;
		gsn_dev_open_resp r{};
		r.abi_version = o_.abi_version;
		r.max_qp = 256;
		r.max_cq = 256;
		r.max_mr = 1024;
		r.max_pd = 64;
		r.max_qp_wr = 4096;
		r.max_cqe = 65536;
		r.max_sge = GSN_MAX_SGE;
		r.max_inline = o_.max_inline;
		r.max_msg_size_log2 = 31;
		r.max_mr_size = (uint64_t)1 << 40;
		memcpy(r.ula, o_.ula, 6);
		snprintf(r.name, sizeof(r.name), "%s", o_.name.c_str());
		for (int i = 0; i < 6; i++)
			r.node_guid = r.node_guid << 8 | o_.ula[i];
		return reply(c, type, seq, &r, sizeof(r));
	}
	case GSN_DEV_CMD_QUERY_PORT: {
		gsn_dev_port_attr a{};
		a.state = GSN_PORT_ACTIVE;
		a.max_mtu = 65536;
		a.active_mtu = 65536;
		a.link_rate_mbps = 6400;
		memcpy(a.ula, o_.ula, 6);
		return reply(c, type, seq, &a, sizeof(a));
	}
	case GSN_DEV_CMD_ALLOC_PD:
		h.handle = ++next_handle_;
		pds_[h.handle] = c.id;
		return reply(c, type, seq, &h, sizeof(h));
	case GSN_DEV_CMD_REG_MR: {
		gsn_dev_reg_mr_req req;
		if (len != sizeof(req))
			return -EBADMSG;
		memcpy(&req, body, sizeof(req));
		if (!pds_.count(req.pd))
			return -ENOENT;
		Mr m{};
		m.handle = ++next_handle_;
		m.lkey = 0x100 + m.handle;
		m.rkey = req.requested_key ? req.requested_key : 0xabc000000000ull + m.handle;
		for (auto &kv : mrs_)
			if (kv.second.rkey == m.rkey)
				return -EEXIST;
		m.pd = req.pd;
		m.access = req.access;
		m.addr = req.addr;
		m.length = req.length;
		m.client = c.id;
		mrs_[m.handle] = m;
		gsn_dev_reg_mr_resp r{m.handle, m.lkey, m.rkey};
		return reply(c, type, seq, &r, sizeof(r));
	}
	case GSN_DEV_CMD_CREATE_CQ:
		return create_cq(c, seq, body, len);
	case GSN_DEV_CMD_CREATE_QP:
		return create_qp(c, seq, body, len);
	case GSN_DEV_CMD_MODIFY_QP: {
		int err = modify_qp(c, body, len);
		return err ? err : reply(c, type, seq, nullptr, 0);
	}
	case GSN_DEV_CMD_QUERY_QP: {
		if (len != sizeof(h))
			return -EBADMSG;
		memcpy(&h, body, sizeof(h));
		auto it = qps_.find(h.handle);
		if (it == qps_.end() || it->second.client != c.id)
			return -ENOENT;
		gsn_dev_qp_attr a{};
		a.state = it->second.state;
		a.qp_num = it->second.qp_num;
		a.dest_qp_num = it->second.dest_qp;
		a.access = it->second.access;
		memcpy(a.dest_ula, it->second.dest_ula, 6);
		a.st_vc = it->second.state >= GSN_QPS_RTR ? 1000 + it->second.qp_num : 0;
		a.qkey = it->second.qkey;
		return reply(c, type, seq, &a, sizeof(a));
	}
	case GSN_DEV_CMD_DEALLOC_PD:
	case GSN_DEV_CMD_DEREG_MR:
	case GSN_DEV_CMD_DESTROY_CQ:
	case GSN_DEV_CMD_DESTROY_QP: {
		if (len != sizeof(h))
			return -EBADMSG;
		memcpy(&h, body, sizeof(h));
		if (type == GSN_DEV_CMD_DEALLOC_PD) {
			if (!pds_.count(h.handle))
				return -ENOENT;
			pds_.erase(h.handle);
		} else if (type == GSN_DEV_CMD_DEREG_MR) {
			if (!mrs_.count(h.handle))
				return -ENOENT;
			mrs_.erase(h.handle);
		} else if (type == GSN_DEV_CMD_DESTROY_CQ) {
			Cq *q = cq(h.handle);
			if (!q)
				return -ENOENT;
			for (auto &kv : qps_)
				if (kv.second.send_cq == h.handle || kv.second.recv_cq == h.handle)
					return -EBUSY;
			free_cq(*q);
			cqs_.erase(h.handle);
		} else {
			auto it = qps_.find(h.handle);
			if (it == qps_.end())
				return -ENOENT;
			free_qp(it->second);
			qps_.erase(it);
		}
		return reply(c, type, seq, nullptr, 0);
	}
	default:
		return -EOPNOTSUPP;
	}
}

int FakeDev::create_cq(Client &c, uint32_t seq, const uint8_t *body, size_t len)
{
	gsn_dev_create_cq_req req;

	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	if (req.cqe == 0 || req.cqe > 65536)
		return -EINVAL;
	Cq q;
	uint32_t l2 = log2_at_least(req.cqe);
	uint32_t esz = o_.bad_cq_entry_size ? o_.bad_cq_entry_size : sizeof(gsn_cqe);
	int memfd;

	q.len = sizeof(gsn_ring) + ((size_t)sizeof(gsn_cqe) << l2);
	int err = make_shm(q.len, &q.map, &memfd);
	if (err)
		return err;
	ring_init(static_cast<gsn_ring *>(q.map), l2, esz, o_.ring_start);
	sring(q.ring, q.map, o_.ring_start);
	q.ring.esz = sizeof(gsn_cqe);
	q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q.handle = ++next_handle_;
	q.client = c.id;
	gsn_dev_create_cq_resp r{q.handle, l2, q.len};
	int fds[2] = {memfd, q.efd};
	err = reply(c, GSN_DEV_CMD_CREATE_CQ, seq, &r, sizeof(r), fds, o_.cq_one_fd ? 1 : 2);
	close(memfd);
	if (err) {
		free_cq(q);
		return err;
	}
	cqs_[q.handle] = q;
	return 0;
}

int FakeDev::create_qp(Client &c, uint32_t seq, const uint8_t *body, size_t len)
{
	gsn_dev_create_qp_req req;

	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	if (!pds_.count(req.pd) || !cq(req.send_cq) || !cq(req.recv_cq) ||
	    (req.qp_type != GSN_QPT_RC && req.qp_type != GSN_QPT_UD) ||
	    req.max_send_wr > 4096 || req.max_recv_wr > 4096 || req.max_send_sge > GSN_MAX_SGE ||
	    req.max_recv_sge > GSN_MAX_SGE || req.max_inline_data > o_.max_inline)
		return -EINVAL;
	Qp q;
	uint32_t sl2 = log2_at_least(std::max(req.max_send_wr, 1u));
	uint32_t rl2 = log2_at_least(std::max(req.max_recv_wr, 1u));
	size_t sq_len = sizeof(gsn_ring) + ((size_t)sizeof(gsn_send_wqe) << sl2);
	size_t rq_len = sizeof(gsn_ring) + ((size_t)sizeof(gsn_recv_wqe) << rl2);
	int memfd;

	q.len = sq_len + rq_len;
	int err = make_shm(q.len, &q.map, &memfd);
	if (err)
		return err;
	uint8_t *base = static_cast<uint8_t *>(q.map);
	ring_init(reinterpret_cast<gsn_ring *>(base), sl2, sizeof(gsn_send_wqe), o_.ring_start);
	ring_init(reinterpret_cast<gsn_ring *>(base + sq_len), rl2, sizeof(gsn_recv_wqe),
		  o_.ring_start);
	sring(q.sq, base, o_.ring_start);
	sring(q.rq, base + sq_len, o_.ring_start);
	q.rq_seen = o_.ring_start;
	q.db = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q.handle = ++next_handle_;
	q.qp_num = 0x40 + q.handle;
	q.client = c.id;
	q.pid = c.pid;
	q.pd = req.pd;
	q.send_cq = req.send_cq;
	q.recv_cq = req.recv_cq;
	q.sig_all = req.sq_sig_all != 0;
	q.type = req.qp_type;
	gsn_dev_create_qp_resp r{};
	r.handle = q.handle;
	r.qp_num = q.qp_num;
	r.sq_log2_size = sl2;
	r.rq_log2_size = rl2;
	r.sq_offset = 0;
	r.rq_offset = sq_len;
	r.mmap_size = q.len;
	r.max_inline_data = o_.max_inline;
	int fds[2] = {memfd, q.db};
	err = reply(c, GSN_DEV_CMD_CREATE_QP, seq, &r, sizeof(r), fds, 2);
	close(memfd);
	if (err) {
		free_qp(q);
		return err;
	}
	qps_[q.handle] = q;
	return 0;
}

int FakeDev::modify_qp(Client &c, const uint8_t *body, size_t len)
{
	gsn_dev_modify_qp_req req;

	if (len != sizeof(req))
		return -EBADMSG;
	memcpy(&req, body, sizeof(req));
	auto it = qps_.find(req.handle);
	if (it == qps_.end() || it->second.client != c.id)
		return -ENOENT;
	Qp &q = it->second;
	if (req.mask & GSN_QP_ATTR_STATE) {
		uint32_t s = req.state, cur = q.state;
		bool ok = s == GSN_QPS_RESET || s == GSN_QPS_ERR || (s == GSN_QPS_INIT && cur <= GSN_QPS_INIT) ||
			  (s == GSN_QPS_RTR && cur == GSN_QPS_INIT) ||
			  (s == GSN_QPS_RTS && (cur == GSN_QPS_RTR || cur == GSN_QPS_RTS));
		if (!ok || (s == GSN_QPS_RTR && q.type == GSN_QPT_RC &&
			    !(req.mask & GSN_QP_ATTR_DEST) && q.dest_qp == 0))
			return -EINVAL;
	}
	if ((req.mask & GSN_QP_ATTR_QKEY) && q.type != GSN_QPT_UD)
		return -EINVAL;
	if (req.mask & GSN_QP_ATTR_QKEY)
		q.qkey = req.qkey;
	if (req.mask & GSN_QP_ATTR_ACCESS)
		q.access = req.access;
	if (req.mask & GSN_QP_ATTR_DEST) {
		memcpy(q.dest_ula, req.dest_ula, 6);
		q.dest_qp = req.dest_qp_num;
	}
	if (req.mask & GSN_QP_ATTR_STATE) {
		q.state = req.state;
		if (q.state == GSN_QPS_RESET) { // drop queued work without completions
			q.sq.idx = q.sq.producer();
			__atomic_store_n(&q.sq.h->consumer, q.sq.idx, __ATOMIC_RELEASE);
			q.rq.idx = q.rq.producer();
			__atomic_store_n(&q.rq.h->consumer, q.rq.idx, __ATOMIC_RELEASE);
			q.comm_est = false;
		}
		if (q.state == GSN_QPS_RTS)
			comm_est(q);
	}
	return 0;
}

void FakeDev::free_qp(Qp &q)
{
	if (q.map)
		munmap(q.map, q.len);
	if (q.db >= 0)
		close(q.db);
	q.map = nullptr;
	q.db = -1;
}

void FakeDev::free_cq(Cq &q)
{
	if (q.map)
		munmap(q.map, q.len);
	if (q.efd >= 0)
		close(q.efd);
	q.map = nullptr;
	q.efd = -1;
}

void FakeDev::async_to(uint64_t id, uint32_t type, uint32_t handle)
{
	Client *c = client(id);
	gsn_dev_async_event ev{type, handle};

	if (c)
		gsn_ctl_send_fds_sock(c->fd, GSN_DEV_CMD_ASYNC_EVENT, 0, 0, &ev, sizeof(ev), nullptr, 0);
}

// COMM_EST to both ends once both are RTS and name each other.
void FakeDev::comm_est(Qp &q)
{
	Qp *p = qp_num(q.dest_qp);

	if (!p || p->dest_qp != q.qp_num || p->state != GSN_QPS_RTS || q.comm_est)
		return;
	q.comm_est = p->comm_est = true;
	async_to(q.client, GSN_EVENT_COMM_EST, q.handle);
	async_to(p->client, GSN_EVENT_COMM_EST, p->handle);
}

// ---- the engine ----

const Mr *FakeDev::mr_by_lkey(uint64_t client, uint32_t lkey, uint64_t addr, uint64_t len)
{
	for (auto &kv : mrs_) {
		const Mr &m = kv.second;
		if (m.client == client && m.lkey == lkey && addr >= m.addr &&
		    addr + len <= m.addr + m.length)
			return &m;
	}
	return nullptr;
}

const Mr *FakeDev::mr_by_rkey(uint64_t client, uint64_t rkey, uint64_t addr, uint64_t len,
			      uint32_t access)
{
	for (auto &kv : mrs_) {
		const Mr &m = kv.second;
		if (m.client == client && m.rkey == rkey && (m.access & access) && addr >= m.addr &&
		    addr + len <= m.addr + m.length)
			return &m;
	}
	return nullptr;
}

int FakeDev::gather(const Qp &q, const gsn_send_wqe &w, std::vector<uint8_t> &out)
{
	if (w.flags & GSN_WR_F_INLINE) {
		if (w.inline_len > GSN_MAX_INLINE)
			return GSN_WC_LOC_LEN_ERR;
		out.assign(w.inline_data, w.inline_data + w.inline_len);
		return GSN_WC_SUCCESS;
	}
	out.clear();
	for (unsigned i = 0; i < w.num_sge && i < GSN_MAX_SGE; i++) {
		const gsn_sge &s = w.sge[i];
		if (!mr_by_lkey(q.client, s.lkey, s.addr, s.length))
			return GSN_WC_LOC_PROT_ERR;
		size_t at = out.size();
		out.resize(at + s.length);
		iovec l = {out.data() + at, s.length}, r = {(void *)(uintptr_t)s.addr, s.length};
		if (s.length && process_vm_readv(q.pid, &l, 1, &r, 1, 0) != (ssize_t)s.length)
			return GSN_WC_LOC_ACCESS_ERR;
	}
	return GSN_WC_SUCCESS;
}

int FakeDev::scatter(const Qp &q, const gsn_sge *sge, uint32_t n, const std::vector<uint8_t> &d)
{
	size_t off = 0;

	for (uint32_t i = 0; i < n && i < GSN_MAX_SGE && off < d.size(); i++) {
		size_t k = std::min<size_t>(sge[i].length, d.size() - off);
		if (!mr_by_lkey(q.client, sge[i].lkey, sge[i].addr, k))
			return GSN_WC_LOC_PROT_ERR;
		iovec l = {(void *)(d.data() + off), k}, r = {(void *)(uintptr_t)sge[i].addr, k};
		if (process_vm_writev(q.pid, &l, 1, &r, 1, 0) != (ssize_t)k)
			return GSN_WC_LOC_ACCESS_ERR;
		off += k;
	}
	return off == d.size() ? GSN_WC_SUCCESS : GSN_WC_LOC_LEN_ERR;
}

void FakeDev::complete(Qp &q, bool recv, const gsn_cqe &e, bool solicited)
{
	Cq *c = cq(recv ? q.recv_cq : q.send_cq);

	if (!c || !c->ring.push(&e))
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t f = __atomic_load_n(&c->ring.h->flags, __ATOMIC_RELAXED);
	bool fire = (f & GSN_RING_F_ARMED) ||
		    ((f & GSN_RING_F_ARMED_SOLICITED) && (solicited || e.status != GSN_WC_SUCCESS));
	if (!fire)
		return;
	uint32_t old = __atomic_fetch_and(&c->ring.h->flags,
					  ~(GSN_RING_F_ARMED | GSN_RING_F_ARMED_SOLICITED),
					  __ATOMIC_SEQ_CST);
	if (old & (GSN_RING_F_ARMED | GSN_RING_F_ARMED_SOLICITED)) {
		uint64_t one = 1;
		if (write(c->efd, &one, sizeof(one)) == sizeof(one))
			c->notified++;
	}
}

bool FakeDev::flush(Qp &q)
{
	bool did = false;
	gsn_send_wqe w;
	gsn_recv_wqe r;

	while (q.sq.pop(&w)) {
		gsn_cqe e{};
		e.wr_id = w.wr_id;
		e.status = GSN_WC_WR_FLUSH_ERR;
		e.opcode = gsn_wc_opcode_of(w.opcode);
		e.qp_num = q.qp_num;
		complete(q, false, e, false);
		did = true;
	}
	while (q.rq.pop(&r)) {
		gsn_cqe e{};
		e.wr_id = r.wr_id;
		e.status = GSN_WC_WR_FLUSH_ERR;
		e.opcode = GSN_WC_RECV;
		e.qp_num = q.qp_num;
		complete(q, true, e, false);
		did = true;
	}
	return did;
}

bool FakeDev::step_qp(Qp &q)
{
	if (q.state == GSN_QPS_ERR)
		return flush(q);
	if (q.state != GSN_QPS_RTS)
		return false;
	Qp *p = qp_num(q.dest_qp);
	if (!p || p->state < GSN_QPS_RTR || p->state == GSN_QPS_ERR)
		return false;
	bool did = false;
	gsn_send_wqe w;

	while (q.sq.peek(&w)) {
		bool needs_recv = w.opcode == GSN_WR_SEND || w.opcode == GSN_WR_SEND_WITH_IMM ||
				  w.opcode == GSN_WR_RDMA_WRITE_WITH_IMM;
		if (needs_recv && p->rq.empty()) {
			q.blocked = true; // held until the peer posts a receive
			break;
		}
		gsn_cqe se{}, re{};
		bool solicited = w.flags & GSN_WR_F_SOLICITED;
		std::vector<uint8_t> data;
		se.wr_id = w.wr_id;
		se.opcode = gsn_wc_opcode_of(w.opcode);
		se.qp_num = q.qp_num;
		se.src_qp = p->qp_num;
		se.status = GSN_WC_SUCCESS;
		bool recv_done = false;

		switch (w.opcode) {
		case GSN_WR_SEND:
		case GSN_WR_SEND_WITH_IMM: {
			se.status = (uint8_t)gather(q, w, data);
			if (se.status != GSN_WC_SUCCESS)
				break; /* nothing went: the receive stays posted */
			gsn_recv_wqe r;
			p->rq.pop(&r);
			re.wr_id = r.wr_id;
			re.opcode = GSN_WC_RECV;
			re.qp_num = p->qp_num;
			re.src_qp = q.qp_num;
			recv_done = true;
			uint64_t room = 0;
			for (unsigned i = 0; i < r.num_sge && i < GSN_MAX_SGE; i++)
				room += r.sge[i].length;
			if (data.size() > room) {
				re.status = GSN_WC_LOC_LEN_ERR;
				se.status = GSN_WC_REM_INV_REQ_ERR;
				break;
			}
			re.byte_len = (uint32_t)data.size();
			if (w.opcode == GSN_WR_SEND_WITH_IMM) {
				re.flags |= GSN_WC_F_WITH_IMM;
				re.imm_data = w.imm_data;
			}
			if (o_.inline_cqe && data.size() <= GSN_CQE_INLINE) {
				re.flags |= GSN_WC_F_INLINE;
				if (!data.empty())
					memcpy(re.inline_data, data.data(), data.size());
			} else {
				re.status = (uint8_t)scatter(*p, r.sge, r.num_sge, data);
				if (re.status != GSN_WC_SUCCESS)
					se.status = GSN_WC_REM_OP_ERR;
			}
			break;
		}
		case GSN_WR_RDMA_WRITE:
		case GSN_WR_RDMA_WRITE_WITH_IMM: {
			se.status = (uint8_t)gather(q, w, data);
			if (se.status != GSN_WC_SUCCESS)
				break;
			if (!(p->access & GSN_ACCESS_REMOTE_WRITE) ||
			    !mr_by_rkey(p->client, w.rkey, w.remote_addr, data.size(),
					GSN_ACCESS_REMOTE_WRITE)) {
				se.status = GSN_WC_REM_ACCESS_ERR;
				break;
			}
			iovec l = {data.data(), data.size()}, r = {(void *)(uintptr_t)w.remote_addr, data.size()};
			if (!data.empty() && process_vm_writev(p->pid, &l, 1, &r, 1, 0) != (ssize_t)data.size()) {
				se.status = GSN_WC_REM_ACCESS_ERR;
				break;
			}
			if (w.opcode == GSN_WR_RDMA_WRITE_WITH_IMM) {
				gsn_recv_wqe rw;
				p->rq.pop(&rw);
				re.wr_id = rw.wr_id;
				re.opcode = GSN_WC_RECV_RDMA_WITH_IMM;
				re.qp_num = p->qp_num;
				re.src_qp = q.qp_num;
				re.byte_len = (uint32_t)data.size();
				re.flags = GSN_WC_F_WITH_IMM;
				re.imm_data = w.imm_data;
				recv_done = true;
			}
			break;
		}
		case GSN_WR_RDMA_READ: {
			uint64_t len = 0;
			for (unsigned i = 0; i < w.num_sge && i < GSN_MAX_SGE; i++)
				len += w.sge[i].length;
			if (!(p->access & GSN_ACCESS_REMOTE_READ) ||
			    !mr_by_rkey(p->client, w.rkey, w.remote_addr, len, GSN_ACCESS_REMOTE_READ)) {
				se.status = GSN_WC_REM_ACCESS_ERR;
				break;
			}
			data.resize(len);
			iovec l = {data.data(), len}, r = {(void *)(uintptr_t)w.remote_addr, len};
			if (len && process_vm_readv(p->pid, &l, 1, &r, 1, 0) != (ssize_t)len) {
				se.status = GSN_WC_REM_ACCESS_ERR;
				break;
			}
			se.status = (uint8_t)scatter(q, w.sge, w.num_sge, data);
			se.byte_len = (uint32_t)len;
			break;
		}
		default:
			se.status = GSN_WC_REM_OP_ERR; // the fake has no atomics
			break;
		}
		q.sq.pop(&w);
		did = true;
		if (recv_done)
			complete(*p, true, re, solicited);
		if ((w.flags & GSN_WR_F_SIGNALED) || q.sig_all || se.status != GSN_WC_SUCCESS)
			complete(q, false, se, false);
	}
	return did;
}

bool FakeDev::step()
{
	bool did = false;

	for (auto &kv : qps_) {
		kv.second.rq_seen = kv.second.rq.producer();
		kv.second.blocked = false;
	}
	for (auto &kv : qps_)
		did |= step_qp(kv.second);
	return did;
}

// ---- test hooks ----

bool FakeDev::pop_send(uint32_t n, gsn_send_wqe *w)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	return q && q->sq.pop(w);
}

bool FakeDev::pop_recv(uint32_t n, gsn_recv_wqe *w)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	return q && q->rq.pop(w);
}

bool FakeDev::push_cqe(uint32_t handle, const gsn_cqe &e, bool solicited)
{
	std::lock_guard<std::mutex> g(mu);
	Cq *c = cq(handle);
	if (!c)
		return false;
	uint32_t before = c->ring.idx;
	Qp tmp;
	tmp.send_cq = tmp.recv_cq = handle;
	complete(tmp, false, e, solicited);
	return c->ring.idx != before;
}

void FakeDev::set_flag(uint32_t n, bool sq, uint32_t flag, bool on)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	if (!q)
		return;
	uint32_t *f = &(sq ? q->sq : q->rq).h->flags;
	if (on)
		__atomic_fetch_or(f, flag, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(f, ~flag, __ATOMIC_SEQ_CST);
}

uint32_t FakeDev::qp_flags(uint32_t n, bool sq)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	return q ? __atomic_load_n(&(sq ? q->sq : q->rq).h->flags, __ATOMIC_SEQ_CST) : 0;
}

uint32_t FakeDev::cq_flags(uint32_t handle)
{
	std::lock_guard<std::mutex> g(mu);
	Cq *c = cq(handle);
	return c ? __atomic_load_n(&c->ring.h->flags, __ATOMIC_SEQ_CST) : 0;
}

uint64_t FakeDev::take_doorbell(uint32_t n)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	uint64_t v = 0;
	if (q && read(q->db, &v, sizeof(v)) != sizeof(v))
		v = 0;
	return v;
}

uint64_t FakeDev::cq_notified(uint32_t handle)
{
	std::lock_guard<std::mutex> g(mu);
	Cq *c = cq(handle);
	return c ? c->notified : 0;
}

int FakeDev::send_async(uint32_t type, uint32_t handle)
{
	std::lock_guard<std::mutex> g(mu);
	for (auto &c : clients_)
		async_to(c.id, type, handle);
	return (int)clients_.size();
}

void FakeDev::drop_clients()
{
	std::lock_guard<std::mutex> g(mu);
	while (!clients_.empty())
		client_gone(clients_.front().id);
}

uint32_t FakeDev::qp_state(uint32_t n)
{
	std::lock_guard<std::mutex> g(mu);
	Qp *q = qp_num(n);
	return q ? q->state : UINT32_MAX;
}

size_t FakeDev::clients()
{
	std::lock_guard<std::mutex> g(mu);
	return clients_.size();
}

size_t FakeDev::objects()
{
	std::lock_guard<std::mutex> g(mu);
	return pds_.size() + mrs_.size() + cqs_.size() + qps_.size();
}

unsigned FakeDev::count(uint16_t type)
{
	std::lock_guard<std::mutex> g(mu);
	auto it = counts_.find(type);
	return it == counts_.end() ? 0 : it->second;
}

} // namespace fake
