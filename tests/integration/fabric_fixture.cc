// SPDX-License-Identifier: MIT
// The integration fixture: processes, control connections, gsn-fabric.
#include "fabric_fixture.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern "C" {
#include <gsn/admin.h>
#include <gsn/message.h>
}

#ifndef GSN_BIN_DIR
#error "GSN_BIN_DIR must name the build's emulator/ directory"
#endif

extern char **environ;

namespace gsnit {

// ---- small helpers ----

uint64_t NowMs()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void SleepMs(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

bool WaitFor(const std::function<bool()> &pred, int timeout_ms, int interval_ms)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;

	for (;;) {
		if (pred())
			return true;
		if (NowMs() >= end)
			return false;
		SleepMs(interval_ms);
	}
}

std::string BinPath(const std::string &name)
{
	return std::string(GSN_BIN_DIR) + "/" + name;
}

std::string ReadFile(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	std::stringstream ss;

	ss << f.rdbuf();
	return ss.str();
}

bool WriteFile(const std::string &path, const std::string &text)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);

	f << text;
	return f.good();
}

KV ParseKV(const uint8_t *buf, size_t len)
{
	KV kv;
	size_t pos = 0;
	gsn_ctl_kv e;

	while (gsn_ctl_kv_next(buf, len, &pos, &e) == 1)
		kv[std::string(e.key, e.key_len)] = std::string(e.val, e.val_len);
	return kv;
}

static bool ParseNum(const std::string &s, uint64_t *out)
{
	if (s.empty())
		return false;
	char *end = nullptr;
	errno = 0;
	unsigned long long v = strtoull(s.c_str(), &end, 0);
	if (errno || !end || *end)
		return false;
	*out = v;
	return true;
}

uint64_t U64(const KV &kv, const std::string &key, uint64_t def)
{
	auto it = kv.find(key);
	uint64_t v;

	if (it == kv.end() || !ParseNum(it->second, &v))
		return def;
	return v;
}

static bool EndsWith(const std::string &s, const std::string &suffix)
{
	return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t SumKeys(const KV &kv, const std::string &prefix, const std::string &suffix)
{
	uint64_t sum = 0;

	for (auto it = kv.lower_bound(prefix); it != kv.end(); ++it) {
		if (it->first.compare(0, prefix.size(), prefix) != 0)
			break;
		uint64_t v;
		if (EndsWith(it->first, suffix) && ParseNum(it->second, &v))
			sum += v;
	}
	return sum;
}

std::string Dump(const KV &kv, const std::string &prefix)
{
	std::string s;

	for (auto it = kv.lower_bound(prefix); it != kv.end(); ++it) {
		if (it->first.compare(0, prefix.size(), prefix) != 0)
			break;
		s += "  " + it->first + "=" + it->second + "\n";
	}
	return s;
}

std::string HexNorm(const std::string &v)
{
	std::string s = v;

	if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s = s.substr(2);
	for (auto &ch : s)
		ch = (char)tolower((unsigned char)ch);
	size_t nz = s.find_first_not_of('0');
	return nz == std::string::npos ? "0" : s.substr(nz);
}

std::string UlaStr(const uint8_t ula[6])
{
	char buf[GSN_ULA_STRLEN];

	gsn_ula_format(ula, buf);
	return buf;
}

bool UlaParse(const std::string &s, uint8_t ula[6])
{
	return gsn_ula_parse(s.c_str(), ula) == GSN_MSG_OK;
}

Bytes Pattern(uint64_t seed, size_t len)
{
	Bytes b(len);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		b[i] = (uint8_t)(s >> 24);
	}
	return b;
}

// ---- processes ----

static bool ProcStat(pid_t pid, char *state, pid_t *ppid)
{
	std::string s = ReadFile("/proc/" + std::to_string(pid) + "/stat");
	size_t rp = s.rfind(')');

	if (s.empty() || rp == std::string::npos || rp + 4 > s.size())
		return false;
	char st = s[rp + 2];
	long pp = strtol(s.c_str() + rp + 4, nullptr, 10);
	if (state)
		*state = st;
	if (ppid)
		*ppid = (pid_t)pp;
	return true;
}

bool ProcAlive(pid_t pid)
{
	char st;

	if (pid <= 0 || !ProcStat(pid, &st, nullptr))
		return false;
	return st != 'Z' && st != 'X';
}

std::vector<std::string> ProcArgv(pid_t pid)
{
	std::string s = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
	std::vector<std::string> v;
	size_t start = 0;

	for (size_t i = 0; i < s.size(); i++)
		if (s[i] == '\0') {
			v.push_back(s.substr(start, i - start));
			start = i + 1;
		}
	if (start < s.size())
		v.push_back(s.substr(start));
	return v;
}

std::string ProcCmdline(pid_t pid)
{
	std::string r;

	for (auto &a : ProcArgv(pid))
		r += (r.empty() ? "" : " ") + a;
	return r;
}

long VmRssKb(pid_t pid)
{
	std::string s = ReadFile("/proc/" + std::to_string(pid) + "/status");
	size_t p = s.find("VmRSS:");

	if (p == std::string::npos)
		return -1;
	return strtol(s.c_str() + p + 6, nullptr, 10);
}

static std::vector<pid_t> AllPids()
{
	std::vector<pid_t> v;
	DIR *d = opendir("/proc");

	if (!d)
		return v;
	while (struct dirent *e = readdir(d)) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end == '\0' && pid > 0)
			v.push_back((pid_t)pid);
	}
	closedir(d);
	return v;
}

std::vector<pid_t> ChildrenOf(pid_t parent)
{
	std::vector<pid_t> v;

	for (pid_t pid : AllPids()) {
		char st;
		pid_t pp;
		if (ProcStat(pid, &st, &pp) && pp == parent && st != 'Z' && st != 'X')
			v.push_back(pid);
	}
	return v;
}

std::vector<pid_t> ProcsWith(const std::string &needle)
{
	std::vector<pid_t> v;

	for (pid_t pid : AllPids()) {
		if (pid == getpid() || !ProcAlive(pid))
			continue;
		bool hit = false;
		for (auto &a : ProcArgv(pid))
			hit = hit || a.find(needle) != std::string::npos;
		// tools get the run directory in GSN_RUNDIR
		std::string env = ReadFile("/proc/" + std::to_string(pid) + "/environ");
		for (size_t p = env.find("GSN_RUNDIR="); !hit && p != std::string::npos;
		     p = env.find("GSN_RUNDIR=", p + 1))
			hit = (p == 0 || env[p - 1] == '\0') &&
			      env.compare(p + 11, needle.size(), needle) == 0;
		if (hit)
			v.push_back(pid);
	}
	return v;
}

pid_t Spawn(const std::vector<std::string> &argv, const SpawnOpts &o)
{
	std::vector<char *> av;
	for (auto &a : argv)
		av.push_back(const_cast<char *>(a.c_str()));
	av.push_back(nullptr);

	std::vector<std::string> envs;
	for (char **e = environ; *e; e++) {
		std::string s = *e;
		bool replaced = false;
		for (auto &add : o.env) {
			size_t eq = add.find('=');
			if (s.compare(0, eq + 1, add, 0, eq + 1) == 0)
				replaced = true;
		}
		if (!replaced)
			envs.push_back(s);
	}
	for (auto &add : o.env)
		envs.push_back(add);
	std::vector<char *> ev;
	for (auto &e : envs)
		ev.push_back(const_cast<char *>(e.c_str()));
	ev.push_back(nullptr);

	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0) {
		if (devnull >= 0)
			close(devnull);
		return pid;
	}
	// child: async-signal-safe calls only from here
	prctl(PR_SET_PDEATHSIG, o.deathsig);
	if (getppid() != parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
	dup2(devnull, 0);
	dup2(o.out_fd >= 0 ? o.out_fd : devnull, 1);
	dup2(o.err_fd >= 0 ? o.err_fd : devnull, 2);
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	for (int fd : o.keep_fds)
		fcntl(fd, F_SETFD, 0);
	execve(av[0], av.data(), ev.data());
	static const char msg[] = "spawn: exec failed\n";
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(127);
}

bool WaitExit(pid_t pid, int *status, int timeout_ms)
{
	int st = 0;
	bool done = WaitFor(
		[&] {
			pid_t r = waitpid(pid, &st, WNOHANG);
			return r == pid || (r < 0 && errno == ECHILD);
		},
		timeout_ms, 10);
	if (done && status)
		*status = st;
	return done;
}

int StopProc(pid_t pid, int grace_ms)
{
	int st = 0;

	kill(pid, SIGTERM);
	if (WaitExit(pid, &st, grace_ms))
		return st;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

std::string DescribeStatus(int status)
{
	char buf[64];

	if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof(buf), "status 0x%x", status);
	return buf;
}

int ToolResult::code() const
{
	if (timed_out || status < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

std::string ToolResult::describe() const
{
	return std::string(timed_out ? "TIMED OUT" : DescribeStatus(status)) + "\n--- stdout:\n" + out +
	       "--- stderr:\n" + err;
}

// ---- control connections ----

std::string Reply::describe() const
{
	char buf[96];

	snprintf(buf, sizeof(buf), "transport %d (%s), status %d (%s), %zu body bytes", err,
		 err ? strerror(-err) : "ok", status, status ? strerror(-status) : "ok", body.size());
	return buf;
}

std::unique_ptr<Ctl> Ctl::Connect(const std::string &rundir, const std::string &element, int timeout_ms)
{
	std::unique_ptr<Ctl> c(new Ctl());
	int err = -1;

	WaitFor(
		[&] {
			err = gsn_ctl_connect(rundir.c_str(), element.c_str(), &c->conn_);
			return err == 0;
		},
		timeout_ms, 20);
	if (err) {
		c->conn_ = nullptr;
		return nullptr;
	}
	gsn_ctl_set_async(c->conn_, &Ctl::Async, c.get());
	return c;
}

Ctl::~Ctl()
{
	if (conn_)
		gsn_ctl_close(conn_);
}

int Ctl::fd() const
{
	return gsn_ctl_conn_fd(conn_);
}

void Ctl::Async(void *arg, const gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	static_cast<Ctl *>(arg)->Take(h, body, len);
}

void Ctl::Take(const gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	if (h->type == GSN_CTL_RAW_RECV && h->seq == 0) {
		gsn_ctl_raw r;
		if (gsn_ctl_raw_decode(body, len, &r) == 0) {
			RawMsg m;
			m.vc = r.vc;
			m.ethertype = r.ethertype;
			memcpy(m.dst, r.dst, 6);
			memcpy(m.src, r.src, 6);
			m.data.assign(r.data, r.data + r.len);
			raw.push_back(std::move(m));
			return;
		}
	}
	stray.emplace_back(*h, Bytes(body, body + len));
}

Reply Ctl::Call(uint16_t type, const void *body, size_t len, int timeout_ms)
{
	Reply r;
	gsn_ctl_hdr h;
	const uint8_t *resp = nullptr;
	size_t rlen = 0;

	r.err = gsn_ctl_call(conn_, type, body, len, &h, &resp, &rlen, timeout_ms);
	if (r.err)
		return r;
	r.status = h.status;
	if (resp && rlen)
		r.body.assign(resp, resp + rlen);
	return r;
}

KV Ctl::Status()
{
	Reply r = Call(GSN_CTL_STATUS, nullptr, 0);
	return r.ok() ? ParseKV(r.body.data(), r.body.size()) : KV();
}

KV Ctl::Stats()
{
	Reply r = Call(GSN_CTL_STATS, nullptr, 0);
	return r.ok() ? ParseKV(r.body.data(), r.body.size()) : KV();
}

int Ctl::LinkWait(int timeout_ms)
{
	gsn_ctl_timeout t = {(uint32_t)timeout_ms};
	uint8_t b[GSN_CTL_TIMEOUT_LEN];

	gsn_ctl_timeout_encode(&t, b);
	Reply r = Call(GSN_CTL_LINK_WAIT, b, sizeof(b), timeout_ms + 5000);
	return r.err ? r.err : r.status;
}

Reply Ctl::Bind(uint16_t ethertype, bool unbind)
{
	gsn_ctl_bind b = {ethertype, (uint16_t)(unbind ? GSN_CTL_BIND_UNBIND : 0)};
	uint8_t buf[GSN_CTL_BIND_LEN];

	gsn_ctl_bind_encode(&b, buf);
	return Call(GSN_CTL_RAW_BIND, buf, sizeof(buf));
}

static Bytes RawBody(uint8_t vc, uint16_t ethertype, const uint8_t dst[6], const Bytes &payload)
{
	gsn_ctl_raw r = {};
	Bytes body(GSN_CTL_RAW_HDR_LEN + payload.size());

	r.vc = vc;
	r.ethertype = ethertype;
	memcpy(r.dst, dst, 6);
	gsn_ctl_raw_encode_head(&r, body.data());
	if (!payload.empty())
		memcpy(body.data() + GSN_CTL_RAW_HDR_LEN, payload.data(), payload.size());
	return body;
}

Reply Ctl::RawSend(uint8_t vc, uint16_t ethertype, const uint8_t dst[6], const Bytes &payload,
		   int timeout_ms)
{
	Bytes body = RawBody(vc, ethertype, dst, payload);
	return Call(GSN_CTL_RAW_SEND, body.data(), body.size(), timeout_ms);
}

Reply Ctl::Gen(const uint8_t dst[6], uint8_t vc, uint32_t size, uint32_t count)
{
	uint8_t b[16] = {};

	memcpy(b, dst, 6);
	b[6] = vc;
	gsn_put_be32(b + 8, size);
	gsn_put_be32(b + 12, count);
	return Call(kCtlGen, b, sizeof(b));
}

Reply Ctl::Resolve(uint32_t ip, uint32_t timeout_ms, int call_timeout_ms)
{
	gsn_ctl_resolve q = {{(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip},
			     timeout_ms};
	uint8_t b[GSN_CTL_RESOLVE_LEN];

	gsn_ctl_resolve_encode(&q, b);
	return Call(GSN_CTL_HARP_RESOLVE, b, sizeof(b), call_timeout_ms);
}

Reply Ctl::HarpList()
{
	return Call(GSN_CTL_HARP_LIST, nullptr, 0);
}

int Ctl::SendRequest(uint16_t type, const Bytes &body, uint32_t *seq)
{
	return gsn_ctl_send_request(conn_, type, body.empty() ? nullptr : body.data(), body.size(), seq,
				    10000);
}

int Ctl::RecvOne(int timeout_ms, bool *got_response, gsn_ctl_hdr *h, Bytes *body)
{
	const uint8_t *b = nullptr;
	size_t len = 0;
	gsn_ctl_hdr hh;
	int err = gsn_ctl_recv(conn_, &hh, &b, &len, timeout_ms);

	*got_response = false;
	if (err)
		return err;
	if (hh.type == GSN_CTL_RAW_RECV && hh.seq == 0) {
		Take(&hh, b, len);
		return 0;
	}
	*got_response = true;
	if (h)
		*h = hh;
	if (body)
		body->assign(b, b + len);
	return 0;
}

bool Ctl::WaitRaw(size_t n, int timeout_ms)
{
	uint64_t end = NowMs() + (uint64_t)timeout_ms;

	while (raw.size() < n) {
		uint64_t now = NowMs();
		if (now >= end)
			return false;
		bool resp;
		gsn_ctl_hdr h;
		Bytes body;
		int err = RecvOne((int)(end - now), &resp, &h, &body);
		if (err == -ETIMEDOUT)
			continue;
		if (err)
			return false;
		if (resp)
			stray.emplace_back(h, std::move(body));
	}
	return true;
}

void Ctl::Drain()
{
	for (;;) {
		bool resp;
		gsn_ctl_hdr h;
		Bytes body;
		if (RecvOne(0, &resp, &h, &body))
			return;
		if (resp)
			stray.emplace_back(h, std::move(body));
	}
}

AdminAnswer Admin(Ctl &c, uint8_t mode, uint8_t hops, uint8_t cmd, const std::vector<uint8_t> &route,
		  const uint8_t ula[6], const uint8_t args[16], uint32_t timeout_ms)
{
	gsn_ctl_admin_req q = {};
	uint8_t b[GSN_CTL_ADMIN_REQ_LEN];
	AdminAnswer a;

	q.mode = mode;
	q.hops = hops;
	q.cmd = cmd;
	q.timeout_ms = timeout_ms;
	if (ula)
		memcpy(q.ula, ula, 6);
	for (size_t i = 0; i < route.size() && i < 8; i++)
		q.route[i] = route[i];
	if (args)
		memcpy(q.args, args, 16);
	gsn_ctl_admin_req_encode(&q, b);
	a.reply = c.Call(GSN_CTL_ADMIN, b, sizeof(b), (int)timeout_ms + 5000);
	if (!a.reply.ok())
		return a;
	gsn_ctl_admin_resp resp;
	if (gsn_ctl_admin_resp_decode(a.reply.body.data(), a.reply.body.size(), &resp)) {
		a.reply.status = -EBADMSG;
		return a;
	}
	gsn_admin ad;
	gsn_admin_decode(resp.admin, sizeof(resp.admin), &ad);
	a.hops = ad.hops;
	a.cmd = ad.cmd;
	a.flags = ad.flags;
	a.status = ad.status;
	a.tag = ad.tag;
	memcpy(a.route, ad.route, 8);
	memcpy(a.args, ad.args, 16);
	a.rtt_ns = resp.rtt_ns;
	return a;
}

// ---- the fixture ----

static int RemoveEntry(const char *path, const struct stat *, int, struct FTW *)
{
	remove(path);
	return 0;
}

void FabricTest::SetUp()
{
	char tmpl[] = "/tmp/gsnit.XXXXXX";

	ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
	dir_ = tmpl;
	rundir_ = dir_ + "/run";
	ASSERT_EQ(access(BinPath("gsnd").c_str(), X_OK), 0)
		<< BinPath("gsnd") << " is not built: " << strerror(errno);
}

void FabricTest::TearDown()
{
	// Background tools first (they talk to the elements).
	for (auto &t : bg_) {
		int st;
		kill(t.second.pid, SIGTERM);
		if (!WaitExit(t.second.pid, &st, 2000)) {
			// still ours (unreaped): its group too, in case it leads one
			kill(-t.second.pid, SIGKILL);
			kill(t.second.pid, SIGKILL);
			waitpid(t.second.pid, &st, 0);
		}
	}
	bg_.clear();
	StopFabric();
	StopOwnGsnds();
	// Nothing with our run directory in its command line may survive.
	std::vector<pid_t> left;
	WaitFor(
		[&] {
			left = ProcsWith(dir_);
			return left.empty();
		},
		3000);
	for (pid_t p : left) {
		ADD_FAILURE() << "process left behind: " << p << " " << ProcCmdline(p);
		kill(p, SIGKILL);
	}
	CheckLogs();
	if (HasFailure() || getenv("GSNIT_LOGS"))
		DumpLogs();
	if (getenv("GSNIT_KEEP"))
		fprintf(stderr, "[ gsnit ] kept %s\n", dir_.c_str());
	else if (!dir_.empty())
		nftw(dir_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

void FabricTest::StopFabric()
{
	if (fabric_pid_ <= 0)
		return;
	std::vector<pid_t> gsnds = ChildrenOf(fabric_pid_);
	int st = 0;
	kill(fabric_pid_, SIGTERM);
	// gsn-fabric gives its elements 5 s before SIGKILL; ASan exits are slow.
	bool exited = WaitExit(fabric_pid_, &st, 20000);
	if (!exited) {
		ADD_FAILURE() << "gsn-fabric did not exit within 20 s of SIGTERM";
		kill(fabric_pid_, SIGKILL);
		waitpid(fabric_pid_, &st, 0);
	} else if (!element_killed_) {
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
			<< "gsn-fabric after SIGTERM: " << DescribeStatus(st);
	}
	for (pid_t p : gsnds) {
		bool gone = WaitFor([&] { return !ProcAlive(p); }, 3000);
		EXPECT_TRUE(gone) << "gsnd " << p << " survived gsn-fabric: " << ProcCmdline(p);
		if (!gone)
			kill(p, SIGKILL);
	}
	fabric_pid_ = -1;
	if (fabric_out_ >= 0)
		close(fabric_out_);
	fabric_out_ = -1;
}

void FabricTest::StopOwnGsnds()
{
	for (auto &g : own_gsnds_) {
		int st = StopProc(g.first, 10000);
		bool clean = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
			     (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
		EXPECT_TRUE(clean) << "gsnd " << g.second << " (pid " << g.first
				   << ") on SIGTERM: " << DescribeStatus(st);
	}
	own_gsnds_.clear();
}

static std::vector<std::string> LogFiles(const std::string &dir)
{
	std::vector<std::string> v;
	DIR *d = opendir(dir.c_str());

	if (!d)
		return v;
	while (struct dirent *e = readdir(d)) {
		std::string n = e->d_name;
		if (EndsWith(n, ".log") || EndsWith(n, ".err"))
			v.push_back(dir + "/" + n);
	}
	closedir(d);
	std::sort(v.begin(), v.end());
	return v;
}

void FabricTest::CheckLogs()
{
	static const char *bad[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
				    "runtime error:", "ERROR: UndefinedBehaviorSanitizer"};

	for (auto &f : LogFiles(dir_)) {
		std::string s = ReadFile(f);
		for (const char *b : bad) {
			size_t p = s.find(b);
			if (p != std::string::npos) {
				size_t from = s.rfind('\n', p > 200 ? p - 200 : 0);
				ADD_FAILURE() << "sanitizer report in " << f << ":\n"
					      << s.substr(from == std::string::npos ? 0 : from, 6000);
				break;
			}
		}
	}
}

void FabricTest::DumpLogs()
{
	for (auto &f : LogFiles(dir_)) {
		std::string s = ReadFile(f);
		if (s.size() > 12000)
			s = "[...]\n" + s.substr(s.size() - 12000);
		fprintf(stderr, "----- %s -----\n%s\n", f.c_str(), s.c_str());
	}
}

::testing::AssertionResult FabricTest::StartFabric(const std::string &text, double up_timeout_s)
{
	std::string conf = dir_ + "/fabric.conf";
	if (!WriteFile(conf, text))
		return ::testing::AssertionFailure() << "cannot write " << conf;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ::testing::AssertionFailure() << "pipe: " << strerror(errno);
	int err = open((dir_ + "/fabric.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	char tbuf[32];
	snprintf(tbuf, sizeof(tbuf), "%g", up_timeout_s - 5);
	SpawnOpts o;
	o.out_fd = pfd[1];
	o.err_fd = err;
	fabric_pid_ = Spawn({BinPath("gsn-fabric"), "-d", rundir_, "-t", tbuf, conf}, o);
	close(pfd[1]);
	if (err >= 0)
		close(err);
	fabric_out_ = pfd[0];
	if (fabric_pid_ < 0)
		return ::testing::AssertionFailure() << "fork: " << strerror(errno);

	// Read the report until its "rundir" line (it follows the "up" line).
	std::string out;
	uint64_t end = NowMs() + (uint64_t)(up_timeout_s * 1000);
	bool eof = false;
	while (out.find("\nrundir ") == std::string::npos) {
		uint64_t now = NowMs();
		if (now >= end || eof)
			break;
		struct pollfd p = {fabric_out_, POLLIN, 0};
		int n = poll(&p, 1, (int)std::min<uint64_t>(end - now, 100));
		if (n > 0) {
			char buf[4096];
			ssize_t r = read(fabric_out_, buf, sizeof(buf));
			if (r > 0)
				out.append(buf, (size_t)r);
			else if (r == 0)
				eof = true;
		}
	}
	up_report_ = out;
	if (out.find("\nrundir ") == std::string::npos || out.find(" up: ") == std::string::npos) {
		int st;
		std::string why = eof ? "gsn-fabric closed stdout" : "timed out";
		if (WaitExit(fabric_pid_, &st, eof ? 5000 : 0)) {
			why += ", exited with " + DescribeStatus(st);
			fabric_pid_ = -1;
		}
		return ::testing::AssertionFailure()
		       << "fabric not up (" << why << ")\n--- stdout:\n"
		       << out << "--- log:\n"
		       << ReadFile(dir_ + "/fabric.log");
	}
	// "  NAME ROLE ula=ULA [ip=IP]"
	std::istringstream ss(out);
	std::string line;
	while (std::getline(ss, line)) {
		std::istringstream ls(line);
		std::string name, role, ula;
		if (line.size() < 2 || line[0] != ' ' || !(ls >> name >> role >> ula))
			continue;
		if (ula.compare(0, 4, "ula=") == 0)
			ulas_[name] = ula.substr(4);
	}
	return ::testing::AssertionSuccess();
}

std::unique_ptr<Ctl> FabricTest::Connect(const std::string &element, int timeout_ms)
{
	return Ctl::Connect(rundir_, element, timeout_ms);
}

pid_t FabricTest::GsndPid(const std::string &element)
{
	for (auto &g : own_gsnds_)
		if (g.second == element)
			return g.first;
	if (fabric_pid_ <= 0)
		return -1;
	for (pid_t p : ChildrenOf(fabric_pid_)) {
		auto av = ProcArgv(p);
		for (size_t i = 0; i + 1 < av.size(); i++)
			if (av[i] == "--name" && av[i + 1] == element)
				return p;
	}
	return -1;
}

ToolResult FabricTest::Tool(const std::string &name, const std::vector<std::string> &args, int timeout_ms)
{
	int h = StartTool(name, args);
	return FinishTool(h, timeout_ms);
}

int FabricTest::StartTool(const std::string &name, const std::vector<std::string> &args)
{
	std::vector<std::string> argv = {BinPath(name)};
	argv.insert(argv.end(), args.begin(), args.end());
	return StartCommand(name, argv);
}

int FabricTest::StartCommand(const std::string &label, const std::vector<std::string> &argv)
{
	int seq = ++tool_seq_;
	std::string base = dir_ + "/tool" + std::to_string(seq) + "-" + label;
	BgTool t;
	t.out = base + ".out";
	t.err = base + ".err";
	int ofd = open(t.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int efd = open(t.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	SpawnOpts o;
	o.out_fd = ofd;
	o.err_fd = efd;
	o.env = {"GSN_RUNDIR=" + rundir_};
	o.deathsig = SIGKILL;
	t.pid = Spawn(argv, o);
	close(ofd);
	close(efd);
	int h = next_bg_++;
	bg_[h] = t;
	return h;
}

ToolResult FabricTest::FinishTool(int handle, int timeout_ms)
{
	ToolResult r;
	auto it = bg_.find(handle);

	if (it == bg_.end())
		return r;
	BgTool t = it->second;
	bg_.erase(it);
	if (!WaitExit(t.pid, &r.status, timeout_ms)) {
		r.timed_out = true;
		kill(-t.pid, SIGKILL); // a wrapper such as timeout(1) leads its own group
		kill(t.pid, SIGKILL);
		waitpid(t.pid, &r.status, 0);
	}
	r.out = ReadFile(t.out);
	r.err = ReadFile(t.err);
	return r;
}

pid_t FabricTest::ToolPid(int handle) const
{
	auto it = bg_.find(handle);
	return it == bg_.end() ? -1 : it->second.pid;
}

std::string FabricTest::ToolOut(int handle) const
{
	auto it = bg_.find(handle);
	return it == bg_.end() ? "" : ReadFile(it->second.out);
}

pid_t FabricTest::SpawnGsnd(const std::string &name, const std::vector<std::string> &args,
			    const std::vector<int> &keep_fds)
{
	if (access(rundir_.c_str(), F_OK) < 0)
		mkdir(rundir_.c_str(), 0700);
	int err = open((dir_ + "/" + name + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		       0600);
	std::vector<std::string> argv = {BinPath("gsnd")};
	argv.insert(argv.end(), args.begin(), args.end());
	SpawnOpts o;
	o.keep_fds = keep_fds;
	o.err_fd = err;
	o.out_fd = err;
	pid_t pid = Spawn(argv, o);
	if (err >= 0)
		close(err);
	if (pid > 0)
		own_gsnds_[pid] = name;
	return pid;
}

int FabricTest::KillGsnd(pid_t pid, int sig, int timeout_ms)
{
	int st = 0;

	kill(pid, sig);
	if (!WaitExit(pid, &st, timeout_ms)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	own_gsnds_.erase(pid);
	return st;
}

int FabricTest::StopGsnd(pid_t pid)
{
	int st = StopProc(pid, 10000);
	own_gsnds_.erase(pid);
	return st;
}

}  // namespace gsnit
