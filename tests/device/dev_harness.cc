// SPDX-License-Identifier: MIT
// The raw device client and the gsnd fixture (see dev_harness.h).
#include "dev_harness.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "ctl_fds.h"
}

#ifndef GSN_BIN_DIR
#error "GSN_BIN_DIR must name the build's emulator/ directory"
#endif

namespace gsndev {

uint64_t NowMs()
{
	return (uint64_t)std::chrono::duration_cast<std::chrono::milliseconds>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

namespace {

constexpr int kCmdTimeoutMs = 10000;

void ring_view(Ring *r, void *base, uint32_t log2, uint32_t esz)
{
	r->h = static_cast<gsn_ring *>(base);
	r->e = static_cast<uint8_t *>(base) + r->h->entries_offset;
	r->size = 1u << log2;
	r->esz = esz;
}

} // namespace

// ---- Device ----

std::unique_ptr<Device> Device::Open(const std::string &rundir, const std::string &name)
{
	std::unique_ptr<Device> d(new Device());

	if (gsn_ctl_connect(rundir.c_str(), name.c_str(), &d->conn_))
		return nullptr;
	gsn_dev_open_req req{GSN_DEV_ABI_VERSION, 0};
	if (d->Cmd(GSN_DEV_CMD_OPEN, &req, sizeof(req), &d->open, sizeof(d->open)))
		return nullptr;
	return d;
}

Device::~Device()
{
	if (conn_)
		gsn_ctl_close(conn_);
}

int Device::fd() const
{
	return gsn_ctl_conn_fd(conn_);
}

void Device::OnAsync(void *arg, const gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	auto *d = static_cast<Device *>(arg);
	gsn_dev_async_event ev;

	if (h->type == GSN_DEV_CMD_ASYNC_EVENT && len == sizeof(ev)) {
		memcpy(&ev, body, sizeof(ev));
		d->async.push_back(ev);
	}
}

int Device::Cmd(uint16_t type, const void *req, size_t req_len, void *resp, size_t resp_len,
		int *fds, size_t nfds)
{
	std::vector<uint8_t> buf(resp_len + 64);
	size_t got = 0, nf = 0;
	int tmp[GSN_CTL_FDS_MAX];
	int st = gsn_ctl_call_fds(conn_, type, req, req_len, buf.data(), buf.size(), &got, tmp,
				  GSN_CTL_FDS_MAX, &nf, kCmdTimeoutMs, OnAsync, this);

	if (st == 0 && (got != resp_len || nf != nfds))
		st = -EPROTO;
	if (st == 0) {
		memcpy(resp, buf.data(), resp_len);
		for (size_t i = 0; i < nf; i++)
			fds[i] = tmp[i];
		return 0;
	}
	for (size_t i = 0; i < nf; i++)
		close(tmp[i]);
	return st;
}

int Device::Raw(uint16_t type, const void *req, size_t req_len, std::vector<uint8_t> *out)
{
	std::vector<uint8_t> buf(GSN_CTL_BODY_MAX);
	size_t got = 0, nf = 0;
	int tmp[GSN_CTL_FDS_MAX];
	int st = gsn_ctl_call_fds(conn_, type, req, req_len, buf.data(), buf.size(), &got, tmp,
				  GSN_CTL_FDS_MAX, &nf, kCmdTimeoutMs, OnAsync, this);

	for (size_t i = 0; i < nf; i++)
		close(tmp[i]);
	if (out)
		out->assign(buf.begin(), buf.begin() + (long)got);
	return st;
}

int Device::AllocPd(uint32_t *pd)
{
	gsn_dev_handle h{};
	int st = Cmd(GSN_DEV_CMD_ALLOC_PD, nullptr, 0, &h, sizeof(h));

	*pd = h.handle;
	return st;
}

int Device::RegMr(uint32_t pd, const void *addr, uint64_t len, uint32_t access, Mr *mr,
		  uint64_t requested_key)
{
	gsn_dev_reg_mr_req req{pd, access, (uint64_t)(uintptr_t)addr, len, requested_key};
	gsn_dev_reg_mr_resp r{};
	int st = Cmd(GSN_DEV_CMD_REG_MR, &req, sizeof(req), &r, sizeof(r));

	mr->handle = r.handle;
	mr->lkey = r.lkey;
	mr->rkey = r.rkey;
	return st;
}

int Device::DeregMr(const Mr &mr)
{
	gsn_dev_handle h{mr.handle, 0};
	char none;

	return Cmd(GSN_DEV_CMD_DEREG_MR, &h, sizeof(h), &none, 0);
}

int Device::CreateCq(uint32_t cqe, Cq *cq)
{
	gsn_dev_create_cq_req req{cqe, 0};
	gsn_dev_create_cq_resp r{};
	int fds[2] = {-1, -1};
	int st = Cmd(GSN_DEV_CMD_CREATE_CQ, &req, sizeof(req), &r, sizeof(r), fds, 2);

	if (st)
		return st;
	cq->handle = r.handle;
	cq->len = r.mmap_size;
	cq->map = mmap(nullptr, cq->len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	cq->efd = fds[1];
	if (cq->map == MAP_FAILED)
		return -errno;
	ring_view(&cq->r, cq->map, r.log2_size, sizeof(gsn_cqe));
	cq->r.idx = __atomic_load_n(&cq->r.h->consumer, __ATOMIC_ACQUIRE);
	return 0;
}

int Device::DestroyCq(Cq *cq)
{
	gsn_dev_handle h{cq->handle, 0};
	char none;
	int st = Cmd(GSN_DEV_CMD_DESTROY_CQ, &h, sizeof(h), &none, 0);

	if (st == 0) {
		munmap(cq->map, cq->len);
		close(cq->efd);
		*cq = Cq();
	}
	return st;
}

int Device::CreateQp(uint32_t pd, const Cq &scq, const Cq &rcq, const QpCaps &caps, Qp *qp)
{
	gsn_dev_create_qp_req req{pd,
				  scq.handle,
				  rcq.handle,
				  caps.type,
				  caps.send_wr,
				  caps.recv_wr,
				  caps.send_sge,
				  caps.recv_sge,
				  caps.inline_data,
				  caps.sig_all ? 1u : 0u};
	gsn_dev_create_qp_resp r{};
	int fds[2] = {-1, -1};
	int st = Cmd(GSN_DEV_CMD_CREATE_QP, &req, sizeof(req), &r, sizeof(r), fds, 2);

	if (st)
		return st;
	qp->handle = r.handle;
	qp->qpn = r.qp_num;
	qp->len = r.mmap_size;
	qp->map = mmap(nullptr, qp->len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	qp->db = fds[1];
	if (qp->map == MAP_FAILED)
		return -errno;
	ring_view(&qp->sq, static_cast<uint8_t *>(qp->map) + r.sq_offset, r.sq_log2_size,
		  sizeof(gsn_send_wqe));
	ring_view(&qp->rq, static_cast<uint8_t *>(qp->map) + r.rq_offset, r.rq_log2_size,
		  sizeof(gsn_recv_wqe));
	qp->sq.idx = qp->sq.h->producer;
	qp->rq.idx = qp->rq.h->producer;
	return 0;
}

int Device::DestroyQp(Qp *qp)
{
	gsn_dev_handle h{qp->handle, 0};
	char none;
	int st = Cmd(GSN_DEV_CMD_DESTROY_QP, &h, sizeof(h), &none, 0);

	if (st == 0) {
		munmap(qp->map, qp->len);
		close(qp->db);
		*qp = Qp();
	}
	return st;
}

int Device::Modify(const Qp &qp, uint32_t mask, uint32_t state, uint32_t access,
		   const uint8_t *dest_ula, uint32_t dest_qpn, uint32_t dest_ip, uint32_t qkey)
{
	gsn_dev_modify_qp_req req{};
	char none;

	req.handle = qp.handle;
	req.mask = mask;
	req.state = state;
	req.access = access;
	if (dest_ula)
		memcpy(req.dest_ula, dest_ula, 6);
	req.dest_ipv4 = dest_ip;
	req.dest_qp_num = dest_qpn;
	req.qkey = qkey;
	return Cmd(GSN_DEV_CMD_MODIFY_QP, &req, sizeof(req), &none, 0);
}

int Device::ReadyUd(const Qp &qp, uint32_t qkey)
{
	int st = Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_QKEY, GSN_QPS_INIT, 0, nullptr, 0, 0,
			qkey);

	if (!st)
		st = Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTR);
	if (!st)
		st = Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTS);
	return st;
}

int Device::Query(const Qp &qp, gsn_dev_qp_attr *a)
{
	gsn_dev_handle h{qp.handle, 0};

	return Cmd(GSN_DEV_CMD_QUERY_QP, &h, sizeof(h), a, sizeof(*a));
}

int Device::Connect(const Qp &qp, uint32_t access, const uint8_t ula[6], uint32_t dest_qpn)
{
	int st = Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_ACCESS, GSN_QPS_INIT, access);

	if (!st)
		st = Modify(qp, GSN_QP_ATTR_STATE | GSN_QP_ATTR_DEST, GSN_QPS_RTR, 0, ula, dest_qpn);
	if (!st)
		st = Modify(qp, GSN_QP_ATTR_STATE, GSN_QPS_RTS);
	return st;
}

static void kick(Qp &qp, Ring &r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t f = __atomic_load_n(&r.h->flags, __ATOMIC_SEQ_CST);

	if (!(f & GSN_RING_F_NEED_WAKEUP))
		return;
	f = __atomic_fetch_and(&r.h->flags, ~GSN_RING_F_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	if (f & GSN_RING_F_NEED_WAKEUP) {
		uint64_t one = 1;

		if (write(qp.db, &one, sizeof(one)) == (ssize_t)sizeof(one))
			qp.doorbells++;
	}
}

void Device::PostSend(Qp &qp, const gsn_send_wqe *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memcpy(qp.sq.slot(qp.sq.idx++), &w[i], sizeof(w[i]));
	__atomic_store_n(&qp.sq.h->producer, qp.sq.idx, __ATOMIC_RELEASE);
	kick(qp, qp.sq);
}

void Device::PostRecv(Qp &qp, const gsn_recv_wqe *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memcpy(qp.rq.slot(qp.rq.idx++), &w[i], sizeof(w[i]));
	__atomic_store_n(&qp.rq.h->producer, qp.rq.idx, __ATOMIC_RELEASE);
	kick(qp, qp.rq);
}

bool Device::Poll(Cq &cq, gsn_cqe *out, int timeout_ms)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;

	for (;;) {
		uint32_t prod = __atomic_load_n(&cq.r.h->producer, __ATOMIC_ACQUIRE);

		if (prod != cq.r.idx) {
			memcpy(out, cq.r.slot(cq.r.idx), sizeof(*out));
			cq.r.idx++;
			__atomic_store_n(&cq.r.h->consumer, cq.r.idx, __ATOMIC_RELEASE);
			return true;
		}
		if (NowMs() >= end)
			return false;
		std::this_thread::sleep_for(std::chrono::microseconds(100));
	}
}

bool Device::Quiet(Cq &cq, int ms)
{
	std::this_thread::sleep_for(std::chrono::milliseconds(ms));
	return __atomic_load_n(&cq.r.h->producer, __ATOMIC_ACQUIRE) == cq.r.idx;
}

bool Device::WaitAsync(uint32_t type, uint32_t handle, int timeout_ms)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;

	for (;;) {
		for (auto it = async.begin(); it != async.end(); ++it)
			if (it->type == type && (handle == ~0u || it->handle == handle)) {
				async.erase(it);
				return true;
			}
		uint64_t now = NowMs();

		if (now >= end)
			return false;
		gsn_ctl_hdr h{};
		uint8_t body[64];
		size_t len = 0, nf = 0;
		int fds[GSN_CTL_FDS_MAX];
		int rc = gsn_ctl_recv_fds(conn_, &h, body, sizeof(body), &len, fds, GSN_CTL_FDS_MAX,
					  &nf, (int)(end - now));

		for (size_t i = 0; i < nf; i++)
			close(fds[i]);
		if (rc == 0)
			OnAsync(this, &h, body, len);
		else if (rc != -ETIMEDOUT)
			return false;
	}
}

gsn_send_wqe SendWqe(uint8_t opcode, uint64_t wr_id, uint8_t flags)
{
	gsn_send_wqe w;

	memset(&w, 0, sizeof(w));
	w.wr_id = wr_id;
	w.opcode = opcode;
	w.flags = flags;
	return w;
}

void AddSge(gsn_send_wqe *w, const void *addr, uint32_t len, uint32_t lkey)
{
	w->sge[w->num_sge++] = gsn_sge{(uint64_t)(uintptr_t)addr, len, lkey};
}

gsn_recv_wqe RecvWqe(uint64_t wr_id, const void *addr, uint32_t len, uint32_t lkey)
{
	gsn_recv_wqe w;

	memset(&w, 0, sizeof(w));
	w.wr_id = wr_id;
	if (addr || len) {
		w.num_sge = 1;
		w.sge[0] = gsn_sge{(uint64_t)(uintptr_t)addr, len, lkey};
	}
	return w;
}

// ---- the fixture ----

void DeviceTest::SetUp()
{
	char tmpl[] = "/tmp/gsndev.XXXXXX";

	ASSERT_NE(mkdtemp(tmpl), nullptr);
	dir_ = tmpl;
	rundir_ = dir_ + "/run";
	ASSERT_EQ(mkdir(rundir_.c_str(), 0700), 0);
}

std::string DeviceTest::Log() const
{
	std::ifstream f(dir_ + "/" + name_ + ".log");
	std::stringstream ss;

	ss << f.rdbuf();
	return ss.str();
}

::testing::AssertionResult DeviceTest::WaitReady(const std::string &name)
{
	uint64_t end = NowMs() + 10000;

	while (NowMs() < end) {
		gsn_ctl_conn *c = nullptr;

		if (gsn_ctl_connect(rundir_.c_str(), name.c_str(), &c) == 0) {
			gsn_ctl_timeout t{5000};
			uint8_t b[GSN_CTL_TIMEOUT_LEN];
			gsn_ctl_hdr h{};
			const uint8_t *resp;
			size_t rl;

			gsn_ctl_timeout_encode(&t, b);
			int rc = gsn_ctl_call(c, GSN_CTL_LINK_WAIT, b, sizeof(b), &h, &resp, &rl, 10000);
			gsn_ctl_close(c);
			if (rc == 0 && h.status == 0)
				return ::testing::AssertionSuccess();
			return ::testing::AssertionFailure() << name << " LINK_WAIT: " << rc << "/"
							     << h.status;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return ::testing::AssertionFailure() << name << " did not come up";
}

::testing::AssertionResult DeviceTest::SpawnGsnd(const std::string &name, const std::string &ula,
						 const std::string &cable, int keep_fd, pid_t *pid,
						 const std::vector<std::string> &extra)
{
	std::vector<std::string> args = {std::string(GSN_BIN_DIR) + "/gsnd",
					 "--role",
					 "endpoint",
					 "--name",
					 name,
					 "--ula",
					 ula,
					 "--rundir",
					 rundir_,
					 "--cable",
					 cable};
	std::string log = dir_ + "/" + name + ".log";

	args.insert(args.end(), extra.begin(), extra.end());
	if (getenv("GSNDEV_VERBOSE"))
		args.insert(args.end(), {"-v", "-v"});
	*pid = fork();
	if (*pid < 0)
		return ::testing::AssertionFailure() << "fork: " << strerror(errno);
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		std::vector<char *> av;
		for (auto &a : args)
			av.push_back(const_cast<char *>(a.c_str()));
		av.push_back(nullptr);
		execv(av[0], av.data());
		_exit(127);
	}
	return ::testing::AssertionSuccess();
}

::testing::AssertionResult DeviceTest::StartGsnd(const std::vector<std::string> &extra)
{
	auto r = SpawnGsnd(name_, "02:00:00:00:00:01", "0=loopback", -1, &pid_, extra);

	if (!r)
		return r;
	r = WaitReady(name_);
	if (!r)
		return r << "\n" << Log();
	return r;
}

void DeviceTest::StopGsnd(pid_t *pid, const std::string &name, bool expect_exit)
{
	int status = 0;

	if (*pid <= 0)
		return;
	if (!expect_exit)
		kill(*pid, SIGTERM);
	uint64_t end = NowMs() + 10000;
	pid_t r = 0;
	while ((r = waitpid(*pid, &status, WNOHANG)) == 0 && NowMs() < end)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	if (r == 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &status, 0);
		ADD_FAILURE() << name << " did not stop";
	}
	*pid = -1;
	std::ifstream f(dir_ + "/" + name + ".log");
	std::stringstream ss;
	ss << f.rdbuf();
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		<< name << " exit status " << status << "\n"
		<< ss.str();
	EXPECT_EQ(ss.str().find("Sanitizer"), std::string::npos) << ss.str();
	EXPECT_EQ(ss.str().find("runtime error"), std::string::npos) << ss.str();
}

void DeviceTest::TearDown()
{
	if (pid_ > 0 && getenv("GSNDEV_STATS") && !expect_exit_)
		fprintf(stderr, "%s", Stats(getenv("GSNDEV_STATS")).c_str());
	StopGsnd(&pid2_, name2_, false);
	StopGsnd(&pid_, name_, expect_exit_);
	if (!HasFailure() && !getenv("GSNDEV_KEEP")) {
		std::string cmd = "rm -rf '" + dir_ + "'";
		if (system(cmd.c_str()) != 0) {
		}
	} else {
		fprintf(stderr, "kept %s\n", dir_.c_str());
	}
}

std::unique_ptr<Device> DeviceTest::OpenDevice()
{
	return Device::Open(rundir_, name_);
}

std::string DeviceTest::Stats(const std::string &prefix)
{
	gsn_ctl_conn *c = nullptr;
	std::string out;

	if (gsn_ctl_connect(rundir_.c_str(), name_.c_str(), &c))
		return out;
	gsn_ctl_hdr h{};
	const uint8_t *resp;
	size_t rl;

	if (gsn_ctl_call(c, GSN_CTL_STATS, prefix.data(), prefix.size(), &h, &resp, &rl, 5000) ==
		    0 &&
	    h.status == 0)
		out.assign(reinterpret_cast<const char *>(resp), rl);
	gsn_ctl_close(c);
	return out;
}

uint64_t DeviceTest::Stat(const std::string &key)
{
	std::string s = Stats(key);
	size_t p = s.find(key + "=");

	return p == std::string::npos ? ~0ull : strtoull(s.c_str() + p + key.size() + 1, nullptr, 0);
}

::testing::AssertionResult DeviceTest::MakePair(Side *a, Side *b, uint32_t access,
						const QpCaps &caps)
{
	for (Side *s : {a, b}) {
		s->dev = OpenDevice();
		if (!s->dev)
			return ::testing::AssertionFailure() << "open";
		if (int st = s->dev->AllocPd(&s->pd))
			return ::testing::AssertionFailure() << "alloc_pd " << st;
		if (int st = s->dev->CreateCq(256, &s->cq))
			return ::testing::AssertionFailure() << "create_cq " << st;
		if (int st = s->dev->CreateQp(s->pd, s->cq, s->cq, caps, &s->qp))
			return ::testing::AssertionFailure() << "create_qp " << st;
	}
	if (int st = a->dev->Connect(a->qp, access, b->dev->open.ula, b->qp.qpn))
		return ::testing::AssertionFailure() << "connect a " << st;
	if (int st = b->dev->Connect(b->qp, access, a->dev->open.ula, a->qp.qpn))
		return ::testing::AssertionFailure() << "connect b " << st;
	if (!a->dev->WaitAsync(GSN_EVENT_COMM_EST, a->qp.handle) ||
	    !b->dev->WaitAsync(GSN_EVENT_COMM_EST, b->qp.handle))
		return ::testing::AssertionFailure() << "no COMM_EST\n" << Log();
	return ::testing::AssertionSuccess();
}

} // namespace gsndev
