// SPDX-License-Identifier: MIT
// Fabric and domain through libfabric: opening and closing, the device
// chosen by name, unsupported domain operations, and the autostart of the
// build tree's gsnd from a process that is not next to it.
#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <rdma/fi_endpoint.h>

#include "fi_obj_fixture.h"

using gsnfi_test::getinfo;

namespace {

class DomainTest : public gsnfi_test::DomainFixture {};

int remove_entry(const char *path, const struct stat *, int, struct FTW *)
{
	remove(path);
	return 0;
}

} // namespace

TEST_F(DomainTest, TwoDomainsOfOneFabric)
{
	fid_domain *d2 = nullptr;

	ASSERT_EQ(fi_domain(fabric, info, &d2, nullptr), 0);
	EXPECT_EQ(fi_close(&fabric->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&d2->fid), 0);
}

TEST_F(DomainTest, UnsupportedOperations)
{
	fid_ep *ep = nullptr;
	fid_poll *ps = nullptr;
	fid_stx *stx = nullptr;
	fid_domain *d2 = nullptr;

	EXPECT_EQ(fi_scalable_ep(domain, info, &ep, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_poll_open(domain, nullptr, &ps), -FI_ENOSYS);
	EXPECT_EQ(fi_stx_context(domain, nullptr, &stx, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_srx_context(domain, nullptr, &ep, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_domain_bind(domain, &fabric->fid, 0), -FI_ENOSYS);
	EXPECT_EQ(fi_open_ops(&domain->fid, "x", 0, nullptr, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_domain2(fabric, info, &d2, FI_PEER, nullptr), -FI_EBADFLAGS);
	EXPECT_EQ(fi_endpoint2(domain, info, &ep, FI_PEER, nullptr), -FI_EBADFLAGS);
	ASSERT_EQ(fi_domain2(fabric, info, &d2, 0, nullptr), 0);
	EXPECT_EQ(fi_close(&d2->fid), 0);
}

TEST(DomainOpen, UnknownDeviceIsRefused)
{
	int ret;
	fi_info *info = getinfo(nullptr, &ret);
	fid_fabric *fabric = nullptr;
	fid_domain *domain = nullptr;

	ASSERT_NE(info, nullptr);
	ASSERT_EQ(fi_fabric(info->fabric_attr, &fabric, nullptr), 0);
	free(info->domain_attr->name);
	info->domain_attr->name = strdup("gsn7");
	EXPECT_EQ(fi_domain(fabric, info, &domain, nullptr), -FI_ENODEV);
	EXPECT_EQ(fi_close(&fabric->fid), 0);
	fi_freeinfo(info);
}

// The module carries libgsn with the build tree's gsnd path compiled in: a
// domain opened with no GSND set, in a run directory of its own, starts that
// gsnd.  A child process, so the environment change stays there.
TEST(DomainOpen, AutostartsTheBuildTreesGsnd)
{
	char dir[] = "/tmp/gsnfi-autostart-XXXXXX";

	ASSERT_NE(mkdtemp(dir), nullptr);
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int ret;

		setenv("GSN_RUNDIR", dir, 1);
		unsetenv("GSND");
		fi_info *info = getinfo(nullptr, &ret);
		fid_fabric *fabric = nullptr;
		fid_domain *domain = nullptr;

		if (!info || fi_fabric(info->fabric_attr, &fabric, nullptr))
			_exit(2);
		ret = fi_domain(fabric, info, &domain, nullptr);
		if (ret)
			_exit(3);
		if (fi_close(&domain->fid) || fi_close(&fabric->fid))
			_exit(4);
		fi_freeinfo(info);
		_exit(access((std::string(dir) + "/gsn0.log").c_str(), F_OK) == 0 ? 0 : 5);
	}
	int status = 0;

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0) << "see " << dir << "/gsn0.log";
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
