// SPDX-License-Identifier: MIT
// Helpers shared by the libgsn tests: a temporary run directory, a fake
// device in it, environment overrides, fd counting.
#ifndef GSN_TEST_UTIL_H
#define GSN_TEST_UTIL_H

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include <libgsn.h>

#include "fake_dev.h"

namespace gsntest {

// Open fds of this process.
inline int count_fds()
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

// "fd -> target" lines, for messages.
inline std::string list_fds()
{
	std::string out;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return out;
	while (dirent *e = readdir(d)) {
		char target[256] = {};
		std::string p = std::string("/proc/self/fd/") + e->d_name;
		if (readlink(p.c_str(), target, sizeof(target) - 1) > 0)
			out += std::string(e->d_name) + " -> " + target + "\n";
	}
	closedir(d);
	return out;
}

// Sets (or, with nullptr, unsets) an environment variable for a scope.
class Env {
public:
	Env(const char *name, const char *value) : name_(name)
	{
		const char *old = getenv(name);
		had_ = old != nullptr;
		if (had_)
			old_ = old;
		if (value)
			setenv(name, value, 1);
		else
			unsetenv(name);
	}
	~Env()
	{
		if (had_)
			setenv(name_.c_str(), old_.c_str(), 1);
		else
			unsetenv(name_.c_str());
	}

private:
	std::string name_, old_;
	bool had_ = false;
};

// A fresh 0700 run directory, removed (with its contents) at the end.
class TempRundir {
public:
	TempRundir()
	{
		char tmpl[] = "/tmp/libgsn_test.XXXXXX";
		if (mkdtemp(tmpl))
			path_ = tmpl;
	}
	~TempRundir()
	{
		if (path_.empty())
			return;
		// A gsnd on its way out may still be there: try a few times.
		for (int attempt = 0; attempt < 20; attempt++) {
			DIR *d = opendir(path_.c_str());
			if (d) {
				while (dirent *e = readdir(d))
					if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
						unlink((path_ + "/" + e->d_name).c_str());
				closedir(d);
			}
			if (rmdir(path_.c_str()) == 0 || errno != ENOTEMPTY)
				return;
			usleep(50000);
		}
	}
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// A fake device (in a thread of this process) in a temporary run
// directory that libgsn is pointed at, autostart off; checks that the test
// leaked no fd.
class FakeDevTest : public ::testing::Test {
protected:
	TempRundir dir;
	std::unique_ptr<Env> env_rundir, env_auto, env_dev;
	std::unique_ptr<fake::FakeDev> dev;
	int fds_before = 0;
	std::string fd_list_before;

	virtual void configure(fake::Options &) {}

	void SetUp() override
	{
		ASSERT_FALSE(dir.path().empty());
		env_rundir = std::make_unique<Env>("GSN_RUNDIR", dir.path().c_str());
		env_auto = std::make_unique<Env>("GSN_AUTOSTART", "0");
		env_dev = std::make_unique<Env>("GSN_DEVICE", nullptr);
		fake::Options o;
		o.rundir = dir.path();
		configure(o);
		dev = std::make_unique<fake::FakeDev>(o);
		ASSERT_EQ(dev->start(), 0);
		fds_before = count_fds();
		fd_list_before = list_fds();
	}

	void TearDown() override
	{
		// The fake notices closed connections asynchronously.
		for (int i = 0; i < 400 && dev->clients() > 0; i++)
			usleep(5000);
		EXPECT_EQ(count_fds(), fds_before) << "an fd leaked: before\n"
						    << fd_list_before << "after\n"
						    << list_fds();
		dev.reset();
	}

	// Opens the first (only) device.
	gsn_context *open_ctx()
	{
		gsn_device **list = nullptr;
		int n = -1;
		gsn_context *ctx = nullptr;

		EXPECT_EQ(gsn_get_device_list(&list, &n), 0);
		EXPECT_EQ(n, 1);
		if (n >= 1) {
			EXPECT_EQ(gsn_open_device(list[0], &ctx), 0);
		}
		gsn_free_device_list(list);
		return ctx;
	}
};

} // namespace gsntest

#endif
