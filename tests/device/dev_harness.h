// SPDX-License-Identifier: MIT
// gsnd's device server, driven raw: a test plays libgsn by hand over the
// control socket (commands, SCM_RIGHTS fds) and the shared rings (WQEs
// written into the SQ/RQ, doorbells rung per need-wakeup, CQEs read).
//
// DeviceTest starts one gsnd per test: an endpoint whose port 0 is cabled
// to the in-process loopback reflector, in a fresh run directory.  TearDown
// stops it (SIGTERM), and fails the test if it did not exit 0 or if a
// sanitizer wrote to its log.
#ifndef GSN_TESTS_DEVICE_DEV_HARNESS_H
#define GSN_TESTS_DEVICE_DEV_HARNESS_H

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include <gsn/dev_abi.h>

extern "C" {
#include "ctl.h"
}

namespace gsndev {

uint64_t NowMs();

// One side of a shared ring as the test sees it.
struct Ring {
	gsn_ring *h = nullptr;
	uint8_t *e = nullptr;
	uint32_t size = 0, esz = 0;
	uint32_t idx = 0; // producer (SQ, RQ) or consumer (CQ), free-running
	void *slot(uint32_t i) const { return e + (size_t)(i & (size - 1)) * esz; }
};

struct Mr {
	uint32_t handle = 0, lkey = 0;
	uint64_t rkey = 0;
};

struct Cq {
	uint32_t handle = 0;
	void *map = nullptr;
	size_t len = 0;
	int efd = -1;
	Ring r;
};

struct Qp {
	uint32_t handle = 0, qpn = 0;
	void *map = nullptr;
	size_t len = 0;
	int db = -1;
	Ring sq, rq;
	uint64_t doorbells = 0;
};

struct QpCaps {
	uint32_t send_wr = 64, recv_wr = 64, send_sge = 4, recv_sge = 4, inline_data = 128;
	bool sig_all = false;
	uint32_t type = GSN_QPT_RC;
};

// One control connection: one device client.
class Device {
public:
	static std::unique_ptr<Device> Open(const std::string &rundir, const std::string &name);
	~Device();
	Device(const Device &) = delete;
	Device &operator=(const Device &) = delete;

	// One command; returns the response's status (or a transport error).
	// The response body must be exactly resp_len bytes and bring nfds fds.
	int Cmd(uint16_t type, const void *req, size_t req_len, void *resp, size_t resp_len,
		int *fds = nullptr, size_t nfds = 0);
	// Raw request, any body: the status, the body in *out.
	int Raw(uint16_t type, const void *req, size_t req_len, std::vector<uint8_t> *out = nullptr);

	int AllocPd(uint32_t *pd);
	int RegMr(uint32_t pd, const void *addr, uint64_t len, uint32_t access, Mr *mr,
		  uint64_t requested_key = 0);
	int DeregMr(const Mr &mr);
	int CreateCq(uint32_t cqe, Cq *cq);
	int DestroyCq(Cq *cq);
	int CreateQp(uint32_t pd, const Cq &scq, const Cq &rcq, const QpCaps &caps, Qp *qp);
	int DestroyQp(Qp *qp);
	int Modify(const Qp &qp, uint32_t mask, uint32_t state, uint32_t access = 0,
		   const uint8_t *dest_ula = nullptr, uint32_t dest_qpn = 0, uint32_t dest_ip = 0,
		   uint32_t qkey = 0);
	// A UD QP: INIT with qkey, RTR, RTS.
	int ReadyUd(const Qp &qp, uint32_t qkey);
	int Query(const Qp &qp, gsn_dev_qp_attr *a);
	// INIT (with access), RTR to (ula, qpn), RTS.
	int Connect(const Qp &qp, uint32_t access, const uint8_t ula[6], uint32_t dest_qpn);

	// Posting as libgsn does: entries, one release store, fence, need-wakeup.
	void PostSend(Qp &qp, const gsn_send_wqe *w, size_t n = 1);
	void PostRecv(Qp &qp, const gsn_recv_wqe *w, size_t n = 1);
	// Polls one CQE within timeout_ms.
	bool Poll(Cq &cq, gsn_cqe *out, int timeout_ms = 5000);
	// Nothing arrives on cq for ms milliseconds.
	bool Quiet(Cq &cq, int ms);
	// Waits for an ASYNC_EVENT of type (and handle, unless ~0u).
	bool WaitAsync(uint32_t type, uint32_t handle, int timeout_ms = 5000);

	gsn_dev_open_resp open{};
	std::deque<gsn_dev_async_event> async;
	int fd() const;

private:
	Device() = default;
	static void OnAsync(void *arg, const gsn_ctl_hdr *h, const uint8_t *body, size_t len);
	gsn_ctl_conn *conn_ = nullptr;
};

// WQE builders (reserved bytes zero).
gsn_send_wqe SendWqe(uint8_t opcode, uint64_t wr_id, uint8_t flags = GSN_WR_F_SIGNALED);
void AddSge(gsn_send_wqe *w, const void *addr, uint32_t len, uint32_t lkey);
gsn_recv_wqe RecvWqe(uint64_t wr_id, const void *addr, uint32_t len, uint32_t lkey);

constexpr uint32_t kRemoteAll =
	GSN_ACCESS_REMOTE_WRITE | GSN_ACCESS_REMOTE_READ | GSN_ACCESS_REMOTE_ATOMIC;
constexpr uint32_t kAllAccess = GSN_ACCESS_LOCAL_WRITE | kRemoteAll;

class DeviceTest : public ::testing::Test {
protected:
	void SetUp() override;
	void TearDown() override;

	// Starts gsnd (loopback port) with extra arguments; waits until LINK_WAIT answers.
	::testing::AssertionResult StartGsnd(const std::vector<std::string> &extra = {});
	// Any endpoint gsnd: its log is DIR/<name>.log; keep_fd is inherited.
	::testing::AssertionResult SpawnGsnd(const std::string &name, const std::string &ula,
					     const std::string &cable, int keep_fd, pid_t *pid,
					     const std::vector<std::string> &extra = {});
	::testing::AssertionResult WaitReady(const std::string &name);
	void StopGsnd(pid_t *pid, const std::string &name, bool expect_exit);
	std::unique_ptr<Device> OpenDevice();
	std::string Stats(const std::string &prefix);
	uint64_t Stat(const std::string &key);
	std::string Log() const;

	// Two clients, each with a PD, a CQ (send and receive) and a QP, connected.
	struct Side {
		std::unique_ptr<Device> dev;
		uint32_t pd = 0;
		Cq cq;
		Qp qp;
	};
	::testing::AssertionResult MakePair(Side *a, Side *b, uint32_t access = kRemoteAll,
					    const QpCaps &caps = QpCaps());

	std::string dir_, rundir_, name_ = "gsn0";
	pid_t pid_ = -1;
	bool expect_exit_ = false; // the test stops gsnd itself
	pid_t pid2_ = -1;          // a second gsnd (name2_), when a test starts one
	std::string name2_ = "gsn1";
};

} // namespace gsndev

#endif
