// SPDX-License-Identifier: MIT
// The default set-up: gsn_get_device_list() starts a private gsnd when none
// answers.  The program started is the fake gsnd (GSND=...), which takes
// gsnd's command line, records each start in FAKE_GSND_COUNT_FILE and, as
// --private asks, exits when its last client has gone.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libgsn.h>

#include "test_util.h"

using gsntest::Env;
using gsntest::TempRundir;

namespace {

std::vector<pid_t> started(const std::string &file)
{
	std::vector<pid_t> pids;
	std::ifstream in(file);
	std::string word;
	int pid;
	while (in >> word >> pid)
		pids.push_back(pid);
	return pids;
}

// Running (a zombie its new parent has not reaped yet counts as gone).
bool alive(pid_t pid)
{
	if (kill(pid, 0) != 0)
		return false;
	std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
	std::string line;
	std::getline(st, line);
	size_t rp = line.rfind(')');
	return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] != 'Z' &&
	       line[rp + 2] != 'X';
}

// Kills whatever fake gsnd a test started, whatever happens.
struct Reaper {
	std::string count_file;
	~Reaper()
	{
		for (pid_t p : started(count_file)) {
			kill(p, SIGTERM);
			for (int i = 0; i < 300 && alive(p); i++)
				usleep(10000);
		}
	}
};

class LibgsnAutostart : public ::testing::Test {
protected:
	TempRundir dir;
	std::string count_file;
	std::unique_ptr<Env> e1, e2, e3, e4, e5, e6;
	std::unique_ptr<Reaper> reaper;

	void SetUp() override
	{
		ASSERT_FALSE(dir.path().empty());
		count_file = dir.path() + "/starts";
		e1 = std::make_unique<Env>("GSN_RUNDIR", dir.path().c_str());
		e2 = std::make_unique<Env>("GSN_AUTOSTART", nullptr);
		e3 = std::make_unique<Env>("GSN_DEVICE", nullptr);
		e4 = std::make_unique<Env>("GSND", FAKE_GSND);
		e5 = std::make_unique<Env>("FAKE_GSND_COUNT_FILE", count_file.c_str());
		e6 = std::make_unique<Env>("FAKE_GSND_GRACE_MS", "500");
		reaper = std::make_unique<Reaper>();
		reaper->count_file = count_file;
	}

	void TearDown() override
	{
		reaper.reset(); // the fake gsnds are gone before the directory goes
	}
};

TEST_F(LibgsnAutostart, StartsAPrivateGsndThatOutlivesNothingButItsClients)
{
	// A descriptor of ours without close-on-exec: gsnd must not inherit it.
	int leak = open("/dev/null", O_RDONLY);
	ASSERT_GE(leak, 0);
	struct stat leak_st;
	fstat(leak, &leak_st);

	gsn_device **list;
	int n = -1;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	ASSERT_EQ(n, 1);
	EXPECT_STREQ(gsn_get_device_name(list[0]), "gsn0");
	gsn_context *ctx;
	ASSERT_EQ(gsn_open_device(list[0], &ctx), 0);
	gsn_free_device_list(list);

	auto pids = started(count_file);
	ASSERT_EQ(pids.size(), 1u);
	pid_t pid = pids[0];
	EXPECT_NE(getsid(pid), getsid(0)); // its own session
	// Its fds: 0-2 and its own, none of ours.
	std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
	DIR *d = opendir(fd_dir.c_str());
	ASSERT_NE(d, nullptr);
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (stat((fd_dir + "/" + e->d_name).c_str(), &st) == 0 && atoi(e->d_name) > 2) {
			EXPECT_FALSE(st.st_ino == leak_st.st_ino && st.st_dev == leak_st.st_dev)
				<< "gsnd inherited fd " << e->d_name;
		}
	}
	closedir(d);
	close(leak);
	struct stat log;
	EXPECT_EQ(stat((dir.path() + "/gsn0.log").c_str(), &log), 0);
	EXPECT_EQ(log.st_mode & 0777, 0600u);

	// A second listing finds it running: no second start.
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	EXPECT_EQ(n, 1);
	gsn_free_device_list(list);
	EXPECT_EQ(started(count_file).size(), 1u);

	// While a client is connected it stays; after the last one, it goes.
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	EXPECT_TRUE(alive(pid));
	EXPECT_EQ(gsn_close_device(ctx), 0);
	bool gone = false;
	for (int i = 0; i < 300 && !gone; i++) {
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
		gone = !alive(pid);
	}
	EXPECT_TRUE(gone) << "private gsnd did not exit";
}

TEST_F(LibgsnAutostart, ConcurrentStartersStartOneGsnd)
{
	Env slow("FAKE_GSND_DELAY_MS", "300"); // widen the window
	std::atomic<int> ok{0};
	std::vector<std::thread> t;
	for (int i = 0; i < 4; i++)
		t.emplace_back([&] {
			gsn_device **list = nullptr;
			int n = 0;
			if (gsn_get_device_list(&list, &n) == 0 && n == 1)
				ok++;
			gsn_free_device_list(list);
		});
	for (auto &th : t)
		th.join();
	EXPECT_EQ(ok.load(), 4);
	EXPECT_EQ(started(count_file).size(), 1u);
}

TEST_F(LibgsnAutostart, NamedDeviceIsStartedUnderThatName)
{
	Env dev("GSN_DEVICE", "mynic");
	gsn_device **list;
	int n = -1;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	ASSERT_EQ(n, 1);
	EXPECT_STREQ(gsn_get_device_name(list[0]), "mynic");
	gsn_free_device_list(list);
}

TEST_F(LibgsnAutostart, MissingProgramIsEnoent)
{
	Env g("GSND", "/nonexistent/gsnd");
	gsn_device **list = nullptr;
	int n;
	EXPECT_EQ(gsn_get_device_list(&list, &n), -ENOENT);
	EXPECT_EQ(list, nullptr);
}

TEST_F(LibgsnAutostart, GsndThatExitsAtOnceIsEchildNotATimeout)
{
	Env fail("FAKE_GSND_EXIT", "3");
	gsn_device **list;
	int n;
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(gsn_get_device_list(&list, &n), -ECHILD);
	EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(LibgsnAutostart, AutostartCanBeTurnedOff)
{
	Env off("GSN_AUTOSTART", "0");
	gsn_device **list;
	int n = -1;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	EXPECT_EQ(n, 0);
	gsn_free_device_list(list);
	EXPECT_TRUE(started(count_file).empty());
}

} // namespace

TEST_F(LibgsnAutostart, GsndDoesNotInheritTheCallersPreload)
{
	// A preload meant for the application (here one that does not exist:
	// the loader only warns) must not reach gsnd; the rest of the
	// environment must.
	Env preload("LD_PRELOAD", "/nonexistent/libgsn-test-preload.so");
	gsn_device **list;
	int n = -1;
	ASSERT_EQ(gsn_get_device_list(&list, &n), 0);
	ASSERT_EQ(n, 1);
	gsn_free_device_list(list);
	auto pids = started(count_file);
	ASSERT_EQ(pids.size(), 1u);

	std::ifstream in("/proc/" + std::to_string(pids[0]) + "/environ", std::ios::binary);
	std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	ASSERT_FALSE(env.empty());
	std::vector<std::string> vars;
	for (size_t at = 0; at < env.size();) {
		size_t end = env.find('\0', at);
		vars.push_back(env.substr(at, end - at));
		at = end == std::string::npos ? env.size() : end + 1;
	}
	bool has_rundir = false;
	for (const auto &v : vars) {
		EXPECT_NE(v.rfind("LD_PRELOAD=", 0), 0u) << v;
		has_rundir |= v == "GSN_RUNDIR=" + dir.path();
	}
	EXPECT_TRUE(has_rundir);
}
