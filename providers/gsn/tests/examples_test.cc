// SPDX-License-Identifier: MIT
// The examples as programs, end to end against the fake gsnd (autostarted
// through GSND): gsn_devinfo's report, and gsn_rc_pingpong's server and
// client processes ping-ponging with data checks, polling and events.
#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <regex>
#include <string>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

using gsntest::Env;
using gsntest::TempRundir;

namespace {

struct Result {
	int status = -1;
	std::string out;
};

Result run(const std::string &cmd)
{
	Result r;
	FILE *f = popen((cmd + " 2>&1").c_str(), "r");
	if (!f)
		return r;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		r.out.append(buf, n);
	int st = pclose(f);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return r;
}

int free_tcp_port()
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof(a);
	int port = 0;
	if (bind(s, (sockaddr *)&a, sizeof(a)) == 0 && getsockname(s, (sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	close(s);
	return port;
}

class LibgsnExamples : public ::testing::Test {
protected:
	TempRundir dir;
	std::unique_ptr<Env> e1, e2, e3, e4, e5;

	void SetUp() override
	{
		ASSERT_FALSE(dir.path().empty());
		e1 = std::make_unique<Env>("GSN_RUNDIR", dir.path().c_str());
		e2 = std::make_unique<Env>("GSN_AUTOSTART", nullptr);
		e3 = std::make_unique<Env>("GSN_DEVICE", nullptr);
		e4 = std::make_unique<Env>("GSND", FAKE_GSND);
		e5 = std::make_unique<Env>("FAKE_GSND_GRACE_MS", "300");
	}

	void TearDown() override
	{
		// The private fake gsnd exits on its own once nobody is connected.
		std::string sock = dir.path() + "/gsn0.sock";
		for (int i = 0; i < 300 && access(sock.c_str(), F_OK) == 0; i++)
			usleep(10000);
	}

	void pingpong(const std::string &opts)
	{
		int port = free_tcp_port();
		ASSERT_GT(port, 0);
		std::string p = " -p " + std::to_string(port) + " ";
		auto server = std::async(std::launch::async,
					 [&] { return run(std::string(GSN_RC_PINGPONG) + p + opts); });
		Result client = run(std::string(GSN_RC_PINGPONG) + p + opts + " localhost");
		Result srv = server.get();
		EXPECT_EQ(client.status, 0) << client.out;
		EXPECT_EQ(srv.status, 0) << srv.out;
		std::regex bytes(R"(\d+ bytes in [0-9.]+ seconds = [0-9.]+ Mbit/sec)");
		std::regex iters(R"(\d+ iters in [0-9.]+ seconds = [0-9.]+ usec/iter)");
		for (const Result *r : {&client, &srv}) {
			EXPECT_TRUE(std::regex_search(r->out, bytes)) << r->out;
			EXPECT_TRUE(std::regex_search(r->out, iters)) << r->out;
			EXPECT_NE(r->out.find("local address:  ULA 02:00:00:00:00:01, QPN 0x"),
				  std::string::npos)
				<< r->out;
			EXPECT_NE(r->out.find("remote address: ULA 02:00:00:00:00:01"), std::string::npos)
				<< r->out;
		}
	}
};

TEST_F(LibgsnExamples, DevinfoReportsTheDevice)
{
	Result r = run(GSN_DEVINFO);
	ASSERT_EQ(r.status, 0) << r.out;
	for (const char *want : {"hca_id:\tgsn0", "fw_ver:\t\t\t\tfake-1",
				 "node_guid:\t\t\t0000:0200:0000:0001", "ula:\t\t\t\t02:00:00:00:00:01",
				 "max_inline:\t\t\t128", "max_sge:\t\t\t4", "state:\t\t\tPORT_ACTIVE (4)",
				 "active_mtu:\t\t65536", "link_rate:\t\t6400 Mb/s"})
		EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
	EXPECT_EQ(r.out.find("max_qp_wr"), std::string::npos);

	r = run(std::string(GSN_DEVINFO) + " -v");
	ASSERT_EQ(r.status, 0) << r.out;
	EXPECT_NE(r.out.find("max_qp_wr:\t\t\t4096"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("max_msg_size:\t\t\t0x80000000"), std::string::npos) << r.out;

	r = run(std::string(GSN_DEVINFO) + " -l");
	EXPECT_EQ(r.status, 0);
	EXPECT_NE(r.out.find("1 HCA found:\n\tgsn0"), std::string::npos) << r.out;
	r = run(std::string(GSN_DEVINFO) + " -d nosuch");
	EXPECT_EQ(r.status, 1);
	r = run(std::string(GSN_DEVINFO) + " -x");
	EXPECT_EQ(r.status, 2);
}

TEST_F(LibgsnExamples, PingpongPollingDefaultSize)
{
	pingpong("-n 200");
}

TEST_F(LibgsnExamples, PingpongSmallInlineWithEvents)
{
	pingpong("-s 16 -n 500 -e");
}

TEST_F(LibgsnExamples, PingpongLargeWithFewReceives)
{
	pingpong("-s 100000 -r 4 -n 50");
}

TEST_F(LibgsnExamples, PingpongWithoutAServerFails)
{
	Env off("GSN_AUTOSTART", "0");
	Result r = run(std::string(GSN_RC_PINGPONG) + " -n 1 localhost");
	EXPECT_NE(r.status, 0);
	EXPECT_NE(r.out.find("No gsn devices found"), std::string::npos) << r.out;
}

} // namespace
