// SPDX-License-Identifier: MIT
// gsn-fabric and the tools end to end: two endpoints, a switch and a HARP
// server; gsnping, gsnarp, gsnstat and gsnmsg against them; gsn-fabric's
// command mode and its clean stop.
#include "fabric_fixture.h"

#include <csignal>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace gsnit;

namespace {

class IntegFabric : public FabricTest {};

uint64_t KeyFromText(const std::string &text, const std::string &key)
{
	std::istringstream ss(text);
	std::string line;

	while (std::getline(ss, line)) {
		size_t eq = line.find('=');
		if (eq != std::string::npos && line.compare(0, eq, key) == 0)
			return strtoull(line.c_str() + eq + 1, nullptr, 0);
	}
	return 0;
}

TEST_F(IntegFabric, ToolsOnTwoEndpointsSwitchAndHarpServer)
{
	ASSERT_TRUE(StartFabric("fabric name=tools broadcast=off\n"
				"switch sw0 ports=4\n"
				"endpoint a ip=10.1.0.1\n"
				"endpoint b ip=10.1.0.2\n"
				"endpoint srv ip=10.1.0.100 harp-server=on\n"
				"harp servers=srv\n"
				"cable a.0 sw0.0 udp filter=drop=0.2,seed=11,dir=tx\n"
				"cable b.0 sw0.1 shm\n"
				"cable srv.0 sw0.2 shm\n"));
	EXPECT_NE(up_report_.find("fabric tools up: 4 elements"), std::string::npos) << up_report_;
	for (const char *e : {"a", "b", "srv", "sw0"})
		EXPECT_FALSE(ulas_[e].empty() || ulas_[e] == "-") << e << " has no ULA in\n" << up_report_;
	const std::string bula = ulas_["b"];

	// gsnping by ULA.
	ToolResult t = Tool("gsnping", {"-e", "a", "-c", "3", "-i", "0.05", bula});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("32 bytes from " + bula + ": seq=1 hops="), std::string::npos) << t.out;
	EXPECT_NE(t.out.find(" time="), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("3 packets transmitted, 3 received, 0% packet loss"), std::string::npos)
		<< t.out;
	// --rundir instead of the environment.
	t = Tool("gsnping", {"--rundir", rundir_, "-e", "b", "-c", "1", ulas_["a"]});
	EXPECT_EQ(t.code(), 0) << t.describe();

	// gsnarp: resolve through the server, then list.  The server NAKs an
	// address not registered yet: wait for both clients' registration.
	for (const char *e : {"a", "b"}) {
		auto c = Connect(e);
		ASSERT_TRUE(c);
		ASSERT_TRUE(WaitFor([&] { return c->Stats()["harp.mode"] == "registered"; }, 15000))
			<< e << "\n" << Dump(c->Stats(), "harp.");
	}
	t = Tool("gsnarp", {"-e", "a", "-r", "10.1.0.2"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find(bula), std::string::npos) << t.describe();
	t = Tool("gsnarp", {"-e", "a", "-a"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("10.1.0.2"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find(bula), std::string::npos) << t.out;
	// The server lists its registrations.
	t = Tool("gsnarp", {"-e", "srv", "-a"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("10.1.0.1"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("10.1.0.2"), std::string::npos) << t.out;

	// gsnmsg: b receives what a sends, over the lossy cable.
	const int count = 500;
	int rx = StartTool("gsnmsg",
			   {"-e", "b", "recv", "--type", "0x88b5", "--count", std::to_string(count)});
	// Messages reaching b before gsnmsg has bound are dropped (raw.unbound):
	// probe until one is delivered to it, then send the rest.
	auto bc = Connect("b");
	auto ac = Connect("a");
	ASSERT_TRUE(bc && ac);
	uint8_t dst[6];
	ASSERT_TRUE(UlaParse(bula, dst));
	const uint64_t d0 = U64(bc->Stats(), "raw.delivered");
	bool bound = WaitFor(
		[&] {
			Reply p = ac->RawSend(1, 0x88b5, dst, Bytes(3000, 0x5a));
			EXPECT_TRUE(p.ok()) << p.describe();
			return WaitFor([&] { return U64(bc->Stats(), "raw.delivered") > d0; }, 300, 10);
		},
		15000, 1);
	ASSERT_TRUE(bound) << "gsnmsg recv never got a Message\n" << Dump(bc->Stats(), "raw.");
	t = Tool("gsnmsg",
		 {"-e", "a", "send", "--to", bula, "--vc", "1", "--type", "0x88b5", "--size", "3000",
		  "--count", std::to_string(count - 1)},
		 60000);
	EXPECT_EQ(t.code(), 0) << t.describe();
	ToolResult r = FinishTool(rx, 60000);
	EXPECT_EQ(r.code(), 0) << r.describe();

	// gsnstat: the drop layer on a's cable made a retransmit.
	t = Tool("gsnstat", {"-e", "a", "-k"});
	ASSERT_EQ(t.code(), 0) << t.describe();
	EXPECT_GT(KeyFromText(t.out, "port0.link.retransmits"), 0u) << t.out;
	EXPECT_GT(KeyFromText(t.out, "port0.filter.0.drop.dropped"), 0u) << t.out;
	t = Tool("gsnstat", {"-e", "b", "-k"});
	ASSERT_EQ(t.code(), 0) << t.describe();
	EXPECT_GE(KeyFromText(t.out, "msg.received.vc1"), (uint64_t)count) << t.out;
	t = Tool("gsnstat", {"-e", "a"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_FALSE(t.out.empty());
	t = Tool("gsnstat", {"-e", "a", "-a"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	// A missing element is an error, not a hang.
	t = Tool("gsnstat", {"-e", "nosuch"}, 10000);
	EXPECT_FALSE(t.timed_out);
	EXPECT_NE(t.code(), 0) << t.describe();
}

// Tools that run until interrupted stop promptly on SIGINT — delivered
// twice, as timeout(1) does (to the command, then to its process group) —
// and print their summary.  (timeout(1) itself is not used: it also sends
// SIGCONT to the group, which in sanitizer builds can cancel the SIGSTOP of
// LeakSanitizer's exit-time ptrace attach and hang the leak check — a
// sanitizer-runtime race, not the tool's.)
TEST_F(IntegFabric, ToolsStopOnRepeatedSigint)
{
	ASSERT_TRUE(StartFabric("fabric name=sig\n"
				"endpoint a ula=02:00:00:00:06:0a\n"
				"endpoint b ula=02:00:00:00:06:0b\n"
				"cable a.0 b.0 shm\n"));
	std::vector<int> pings;
	for (int i = 0; i < 3; i++)
		pings.push_back(StartTool("gsnping", {"-e", i % 2 ? "b" : "a", "-c", "0", "-i", "0.05",
						      i % 2 ? "02:00:00:00:06:0a" : "02:00:00:00:06:0b"}));
	int recv = StartTool("gsnmsg", {"-e", "b", "recv", "--type", "0x88b5"});
	for (int h : pings)
		ASSERT_TRUE(WaitFor([&] { return ToolOut(h).find("seq=3 ") != std::string::npos; }, 10000))
			<< ToolOut(h);
	std::vector<int> all = pings;
	all.push_back(recv);
	for (int h : all)
		kill(ToolPid(h), SIGINT);
	for (int h : all)
		kill(ToolPid(h), SIGINT);
	for (int h : pings) {
		ToolResult p = FinishTool(h, 15000);
		EXPECT_FALSE(p.timed_out) << "gsnping did not stop on SIGINT\n" << p.describe();
		EXPECT_EQ(p.code(), 0) << "every ping was answered\n" << p.describe();
		EXPECT_NE(p.out.find("packets transmitted"), std::string::npos) << p.describe();
		EXPECT_NE(p.out.find(" 0% packet loss"), std::string::npos) << p.describe();
	}
	ToolResult r = FinishTool(recv, 15000);
	EXPECT_FALSE(r.timed_out) << "gsnmsg recv did not stop on SIGINT\n" << r.describe();
	EXPECT_TRUE(WIFEXITED(r.status) || (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGINT))
		<< r.describe();
}

// gsn-fabric runs a command with GSN_RUNDIR exported and returns its status.
TEST_F(IntegFabric, RunsCommandAndStopsEverything)
{
	std::string conf = dir_ + "/cmd.conf";
	ASSERT_TRUE(WriteFile(conf, "fabric name=cmd\n"
				    "switch sw0 ports=2\n"
				    "endpoint a\n"
				    "endpoint b\n"
				    "cable a.0 sw0.0 shm\n"
				    "cable b.0 sw0.1 udp\n"));
	std::string script = "test -S \"$GSN_RUNDIR/a.sock\" && test -S \"$GSN_RUNDIR/sw0.sock\" && " +
			     BinPath("gsnstat") + " -e b -k > " + dir_ + "/cmd.stat && exit 7";
	int out = open((dir_ + "/cmd.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = open((dir_ + "/cmd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	SpawnOpts o;
	o.out_fd = out;
	o.err_fd = err;
	std::string rd = dir_ + "/cmdrun";
	pid_t pid = Spawn(
		{BinPath("gsn-fabric"), "-d", rd, "-t", "30", conf, "--", "/bin/sh", "-c", script}, o);
	close(out);
	close(err);
	ASSERT_GT(pid, 0);
	int st = 0;
	ASSERT_TRUE(WaitExit(pid, &st, 60000)) << "gsn-fabric with a command did not finish";
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7)
		<< DescribeStatus(st) << "\n"
		<< ReadFile(dir_ + "/cmd.out") << ReadFile(dir_ + "/cmd.log");
	EXPECT_NE(ReadFile(dir_ + "/cmd.out").find("fabric cmd up: 3 elements"), std::string::npos);
	EXPECT_NE(ReadFile(dir_ + "/cmd.stat").find("port0.link.state=up"), std::string::npos)
		<< ReadFile(dir_ + "/cmd.stat");
	EXPECT_TRUE(WaitFor([&] { return ProcsWith(rd).empty(); }, 5000)) << "gsnd left behind";
	EXPECT_NE(access(rd.c_str(), F_OK), 0) << "run directory left behind";
}

// gsn-fabric killed outright: its gsnds still go (PDEATHSIG).
TEST_F(IntegFabric, KilledLauncherTakesItsElementsAlong)
{
	ASSERT_TRUE(StartFabric("fabric name=kill\n"
				"endpoint a ula=02:00:00:00:05:0a\n"
				"endpoint b ula=02:00:00:00:05:0b\n"
				"cable a.0 b.0 udp\n"));
	std::vector<pid_t> gsnds = ChildrenOf(fabric_pid_);
	ASSERT_EQ(gsnds.size(), 2u);
	ASSERT_EQ(kill(fabric_pid_, SIGKILL), 0);
	int st;
	ASSERT_TRUE(WaitExit(fabric_pid_, &st, 5000));
	fabric_pid_ = -1;
	for (pid_t p : gsnds)
		EXPECT_TRUE(WaitFor([&] { return !ProcAlive(p); }, 15000))
			<< "gsnd " << p << " outlived gsn-fabric: " << ProcCmdline(p);
}

}  // namespace
