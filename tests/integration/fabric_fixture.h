// SPDX-License-Identifier: MIT
// Multi-process integration tests: the fixture that runs real gsnd processes.
//
// FabricTest writes a fabric description into a fresh temporary directory,
// starts GSN_BIN_DIR/gsn-fabric on it with stdout piped, waits (polling, with
// a deadline) for its "fabric NAME up" report, and hands out control
// connections (Ctl) per element.  Tests may also start gsnd themselves
// (SpawnGsnd) to own its cables.  TearDown stops everything — SIGTERM, a
// deadline, SIGKILL — and fails the test if any gsnd survives or if a
// sanitizer complained in a process log.  Every child gets PR_SET_PDEATHSIG,
// so nothing outlives a crashed test binary.
#ifndef GSN_TESTS_INTEGRATION_FABRIC_FIXTURE_H
#define GSN_TESTS_INTEGRATION_FABRIC_FIXTURE_H

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

extern "C" {
#include "ctl.h"
}

namespace gsnit {

// GEN (ctl type 13): dst ula[6], vc[1], 0[1], size u32, count u32 -> empty.
constexpr uint16_t kCtlGen = 13;
constexpr uint16_t kEtherSink = 0x88B6;

using Bytes = std::vector<uint8_t>;
using KV = std::map<std::string, std::string>;

// ---- small helpers ----

uint64_t NowMs();
// Polls pred every interval_ms until it holds or timeout_ms passed.
bool WaitFor(const std::function<bool()> &pred, int timeout_ms, int interval_ms = 20);
std::string BinPath(const std::string &name);
std::string ReadFile(const std::string &path);
bool WriteFile(const std::string &path, const std::string &text);
KV ParseKV(const uint8_t *buf, size_t len);
// Decimal, or hex with 0x; missing or unparsable: def.
uint64_t U64(const KV &kv, const std::string &key, uint64_t def = 0);
// Sum of the numeric values of keys that start with prefix and end with suffix.
uint64_t SumKeys(const KV &kv, const std::string &prefix, const std::string &suffix = "");
// Lines of kv whose key starts with prefix, for failure messages.
std::string Dump(const KV &kv, const std::string &prefix = "");
// Canonical form of a hex value ("0x00AB" and "ab" both give "ab").
std::string HexNorm(const std::string &v);
std::string UlaStr(const uint8_t ula[6]);
bool UlaParse(const std::string &s, uint8_t ula[6]);
Bytes Pattern(uint64_t seed, size_t len);

// ---- processes ----

bool ProcAlive(pid_t pid);            // exists and is not a zombie
std::string ProcCmdline(pid_t pid);   // NULs as spaces
std::vector<std::string> ProcArgv(pid_t pid);
long VmRssKb(pid_t pid);              // -1 when unknown
std::vector<pid_t> ChildrenOf(pid_t parent);
// Live processes whose command line holds needle, or whose GSN_RUNDIR
// starts with it (the test directory).
std::vector<pid_t> ProcsWith(const std::string &needle);

struct SpawnOpts {
	std::vector<int> keep_fds;       // inherited (close-on-exec cleared)
	int out_fd = -1;                 // -1: /dev/null
	int err_fd = -1;
	std::vector<std::string> env;    // "K=V" additions
	int deathsig = SIGTERM;
};
pid_t Spawn(const std::vector<std::string> &argv, const SpawnOpts &o);
// Waits for pid up to timeout_ms; true when reaped (*status filled).
bool WaitExit(pid_t pid, int *status, int timeout_ms);
// SIGTERM, grace_ms, SIGKILL, reap.  Returns the wait status.
int StopProc(pid_t pid, int grace_ms);
std::string DescribeStatus(int status);

struct ToolResult {
	int status = -1;   // wait status
	bool timed_out = false;
	std::string out, err;
	int code() const;  // exit code, 128+signal, or -1
	std::string describe() const;
};

// ---- control connections ----

struct Reply {
	int err = 0;        // transport error (0 when a response came)
	int32_t status = 0; // the response's status
	Bytes body;
	bool ok() const { return err == 0 && status == 0; }
	std::string describe() const;
};

struct RawMsg {
	uint8_t vc = 0;
	uint16_t ethertype = 0;
	uint8_t dst[6] = {};
	uint8_t src[6] = {};
	Bytes data;
};

class Ctl {
public:
	// Connects, retrying until timeout_ms (the socket may not exist yet).
	static std::unique_ptr<Ctl> Connect(const std::string &rundir, const std::string &element,
					    int timeout_ms = 10000);
	~Ctl();
	Ctl(const Ctl &) = delete;
	Ctl &operator=(const Ctl &) = delete;

	Reply Call(uint16_t type, const void *body, size_t len, int timeout_ms = 10000);
	KV Status();
	KV Stats();
	int LinkWait(int timeout_ms);  // 0 or the error status
	Reply Bind(uint16_t ethertype, bool unbind = false);
	Reply RawSend(uint8_t vc, uint16_t ethertype, const uint8_t dst[6], const Bytes &payload,
		      int timeout_ms = 10000);
	Reply Gen(const uint8_t dst[6], uint8_t vc, uint32_t size, uint32_t count);
	Reply Resolve(uint32_t ip_host_order, uint32_t timeout_ms, int call_timeout_ms);
	Reply HarpList();
	// Raw request/response pieces for pipelined use.
	int SendRequest(uint16_t type, const Bytes &body, uint32_t *seq);
	// Receives one message within timeout_ms: RAW_RECV goes to raw, a
	// response to *h/*body.  0, -ETIMEDOUT or a transport error.  *got_response
	// says which.
	int RecvOne(int timeout_ms, bool *got_response, gsn_ctl_hdr *h, Bytes *body);
	// Reads RAW_RECV messages until n are queued or timeout_ms passed.
	bool WaitRaw(size_t n, int timeout_ms);
	// Takes whatever RAW_RECVs are already waiting (non-blocking).
	void Drain();
	int fd() const;

	std::deque<RawMsg> raw;
	std::deque<std::pair<gsn_ctl_hdr, Bytes>> stray; // responses nobody waited for

private:
	Ctl() = default;
	static void Async(void *arg, const gsn_ctl_hdr *h, const uint8_t *body, size_t len);
	void Take(const gsn_ctl_hdr *h, const uint8_t *body, size_t len);
	gsn_ctl_conn *conn_ = nullptr;
};

// Admin request through a gsnd (ctl ADMIN).  mode 0: to ula; 1: hops + route.
struct AdminAnswer {
	Reply reply;
	uint8_t hops = 0, cmd = 0, flags = 0, status = 0;
	uint32_t tag = 0;
	uint8_t route[8] = {};
	uint8_t args[16] = {};
	uint64_t rtt_ns = 0;
	bool ok() const { return reply.ok(); }
};
AdminAnswer Admin(Ctl &c, uint8_t mode, uint8_t hops, uint8_t cmd, const std::vector<uint8_t> &route,
		  const uint8_t ula[6], const uint8_t args[16], uint32_t timeout_ms = 2000);

// ---- the fixture ----

class FabricTest : public ::testing::Test {
protected:
	void SetUp() override;
	void TearDown() override;

	// Writes text to DIR/fabric.conf and runs gsn-fabric on it until it
	// reports the fabric up.  Fills ulas_ from its report.
	::testing::AssertionResult StartFabric(const std::string &text, double up_timeout_s = 40);
	std::unique_ptr<Ctl> Connect(const std::string &element, int timeout_ms = 10000);
	// The gsnd of a gsn-fabric element (a child of gsn-fabric named --name element).
	pid_t GsndPid(const std::string &element);
	// Runs a tool (GSN_BIN_DIR/name) with GSN_RUNDIR set; output captured.
	ToolResult Tool(const std::string &name, const std::vector<std::string> &args,
			int timeout_ms = 30000);
	// Starts a tool in the background; FinishTool waits for it.
	int StartTool(const std::string &name, const std::vector<std::string> &args);
	// Any program (argv[0] a path), same environment and capture.
	int StartCommand(const std::string &label, const std::vector<std::string> &argv);
	ToolResult FinishTool(int handle, int timeout_ms);
	pid_t ToolPid(int handle) const;
	std::string ToolOut(int handle) const; // stdout so far

	// A gsnd of our own (tests that own the cables).  Its stderr goes to
	// DIR/<name>.log.  args follow the program name.
	pid_t SpawnGsnd(const std::string &name, const std::vector<std::string> &args,
			const std::vector<int> &keep_fds);
	// Kills one of ours with sig and reaps it; returns the wait status.
	int KillGsnd(pid_t pid, int sig, int timeout_ms = 10000);
	// Stops one of ours (SIGTERM, grace, SIGKILL); returns the wait status.
	int StopGsnd(pid_t pid);

	// Set when a test kills a gsn-fabric element on purpose: gsn-fabric then
	// exits nonzero, which TearDown accepts.
	bool element_killed_ = false;

	std::string dir_;     // the test's temporary directory
	std::string rundir_;  // control sockets
	std::map<std::string, std::string> ulas_;  // from gsn-fabric's report
	std::string up_report_;
	pid_t fabric_pid_ = -1;

private:
	void StopFabric();
	void StopOwnGsnds();
	void CheckLogs();
	void DumpLogs();
	int fabric_out_ = -1;
	std::map<pid_t, std::string> own_gsnds_;
	struct BgTool {
		pid_t pid;
		std::string out, err;
	};
	std::map<int, BgTool> bg_;
	int next_bg_ = 1;
	int tool_seq_ = 0;
};

}  // namespace gsnit

#endif
