// SPDX-License-Identifier: MIT
// A fake gsn device server: the other side of kernel-uapi/gsn/dev_abi.h,
// just enough of it to test libgsn before gsnd's device server exists.
//
// It serves the control socket <rundir>/<name>.sock (HELLO, LINK_WAIT and
// every GSN_DEV_CMD_*), creates CQ and QP rings in memfds and passes them
// with SCM_RIGHTS, and either
//  - lets a test play the device by hand (pop WQEs, push CQEs, set
//    NEED_WAKEUP, read doorbells, send async events), or
//  - runs a small engine (Options::engine): SEND/RECV (with imm), RDMA
//    WRITE (with imm) and READ between QPs of this device through
//    process_vm_readv/writev, small receives delivered inline in the CQE,
//    flush in ERROR, need-wakeup sleeping, CQ arming, COMM_EST.
// No ST, no link: this is a test double, not an emulator.
#ifndef GSN_FAKE_DEV_H
#define GSN_FAKE_DEV_H

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

extern "C" {
#include <gsn/dev_abi.h>
}

namespace fake {

// One ring as the device sees it.
struct SRing {
	gsn_ring *h = nullptr;
	uint8_t *e = nullptr;
	uint32_t size = 0, esz = 0;
	uint32_t idx = 0; // consumer (SQ, RQ) or producer (CQ) index of the device
	uint64_t overflow = 0;

	void *slot(uint32_t i) const { return e + (size_t)(i & (size - 1)) * esz; }
	uint32_t producer() const { return __atomic_load_n(&h->producer, __ATOMIC_ACQUIRE); }
	uint32_t consumer() const { return __atomic_load_n(&h->consumer, __ATOMIC_ACQUIRE); }
	bool empty() const { return producer() == idx; }
	bool peek(void *out) const;
	bool pop(void *out);
	bool push(const void *in); // false (and overflow++) when full
};

struct Client {
	int fd = -1;
	uint64_t id = 0;
	pid_t pid = 0;
};

struct Mr {
	uint32_t handle, lkey, pd, access;
	uint64_t rkey, addr, length, client;
};

struct Cq {
	uint32_t handle = 0;
	uint64_t client = 0;
	void *map = nullptr;
	size_t len = 0;
	int efd = -1;
	SRing ring;
	uint64_t notified = 0; // eventfd writes
};

struct Qp {
	uint32_t handle = 0, qp_num = 0;
	uint64_t client = 0;
	pid_t pid = 0;
	void *map = nullptr;
	size_t len = 0;
	int db = -1;
	SRing sq, rq;
	uint32_t send_cq = 0, recv_cq = 0, pd = 0;
	uint32_t state = GSN_QPS_RESET, access = 0, dest_qp = 0;
	uint32_t type = GSN_QPT_RC, qkey = 0; // UD: no engine, the test plays the device
	uint8_t dest_ula[6] = {};
	bool sig_all = false, comm_est = false, blocked = false;
	uint32_t rq_seen = 0;
};

struct Options {
	std::string rundir;
	std::string name = "gsn0";
	uint8_t ula[6] = {2, 0, 0, 0, 0, 1};
	uint32_t abi_version = GSN_DEV_ABI_VERSION; // what OPEN answers
	uint32_t ring_start = 0;                   // initial ring indices (wrap tests)
	bool engine = false;
	bool inline_cqe = true;     // engine: receives of <= 32 bytes travel in the CQE
	bool private_mode = false;  // exit when the last client has gone (after grace_ms)
	unsigned grace_ms = 2000;
	uint32_t max_inline = GSN_MAX_INLINE;
	uint32_t bad_cq_entry_size = 0; // != 0: CREATE_CQ lays out this entry size (a gsnd bug)
	bool cq_one_fd = false;         // CREATE_CQ passes only the memfd (a gsnd bug)
	unsigned spin_us = 100;         // engine: busy time after activity before sleeping
	int idle_timeout_ms = 200;      // longest sleep (private mode checks its clients then)
};

class FakeDev {
public:
	explicit FakeDev(Options o);
	~FakeDev();
	FakeDev(const FakeDev &) = delete;
	FakeDev &operator=(const FakeDev &) = delete;

	int listen();  // binds the socket: 0 or -errno
	int start();   // listen() and run the loop in a thread
	void run();    // the loop, in the calling thread, until stop() (or private exit)
	void stop();
	const std::string &sock_path() const { return path_; }

	// ---- the test plays the device (all thread-safe) ----
	bool pop_send(uint32_t qp_num, gsn_send_wqe *w);
	bool pop_recv(uint32_t qp_num, gsn_recv_wqe *w);
	bool push_cqe(uint32_t cq_handle, const gsn_cqe &e, bool solicited = false);
	void set_flag(uint32_t qp_num, bool sq, uint32_t flag, bool on);
	uint32_t qp_flags(uint32_t qp_num, bool sq);
	uint32_t cq_flags(uint32_t cq_handle);
	uint64_t take_doorbell(uint32_t qp_num); // eventfd count, 0 if none
	uint64_t cq_notified(uint32_t cq_handle);
	int send_async(uint32_t type, uint32_t handle); // to every client
	void drop_clients();                            // closes every connection
	uint32_t qp_state(uint32_t qp_num);
	size_t clients();
	size_t objects(); // PDs + MRs + CQs + QPs alive
	unsigned count(uint16_t type); // requests of a type seen

	std::mutex mu;

private:
	void loop();
	void accept_clients();
	void serve(Client &c);
	void client_gone(uint64_t id);
	int handle(Client &c, uint16_t type, uint32_t seq, const uint8_t *body, size_t len);
	int reply(Client &c, uint16_t type, uint32_t seq, const void *body, size_t len,
		  const int *fds = nullptr, size_t nfds = 0);
	int create_cq(Client &c, uint32_t seq, const uint8_t *body, size_t len);
	int create_qp(Client &c, uint32_t seq, const uint8_t *body, size_t len);
	int modify_qp(Client &c, const uint8_t *body, size_t len);
	void free_qp(Qp &q);
	void free_cq(Cq &q);
	Qp *qp_num(uint32_t n);
	Cq *cq(uint32_t handle);
	Client *client(uint64_t id);
	void async_to(uint64_t client, uint32_t type, uint32_t handle);
	void comm_est(Qp &q);
	// engine
	bool step();
	bool step_qp(Qp &q);
	bool flush(Qp &q);
	void complete(Qp &q, bool recv, const gsn_cqe &e, bool solicited);
	int gather(const Qp &q, const gsn_send_wqe &w, std::vector<uint8_t> &out);
	int scatter(const Qp &q, const gsn_sge *sge, uint32_t n, const std::vector<uint8_t> &d);
	const Mr *mr_by_lkey(uint64_t client, uint32_t lkey, uint64_t addr, uint64_t len);
	const Mr *mr_by_rkey(uint64_t client, uint64_t rkey, uint64_t addr, uint64_t len,
			     uint32_t access);
	bool work_pending();
	void sleep_flags(bool on);

	Options o_;
	std::string path_;
	int lfd_ = -1, wake_ = -1;
	std::thread th_;
	std::atomic<bool> stopping_{false};
	std::vector<Client> clients_;
	uint64_t next_client_ = 0;
	uint32_t next_handle_ = 0;
	std::map<uint32_t, Mr> mrs_;
	std::map<uint32_t, uint64_t> pds_; // handle -> client
	std::map<uint32_t, Cq> cqs_;
	std::map<uint32_t, Qp> qps_; // by handle
	std::map<uint16_t, unsigned> counts_;
	uint64_t last_activity_ms_ = 0;
	bool ever_connected_ = false;
	std::vector<uint8_t> rxbuf_;
};

} // namespace fake

#endif
