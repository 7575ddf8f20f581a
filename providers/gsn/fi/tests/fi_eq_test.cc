// SPDX-License-Identifier: MIT
// Event queues: fi_eq_write/fi_eq_read round trips, peeking, sizes, sread
// timing out and being woken, the FD and mutex/cond wait objects, close.
#include <poll.h>

#include <chrono>
#include <thread>

#include <rdma/fi_cm.h>

#include "fi_obj_fixture.h"

using gsnfi_test::getinfo;

namespace {

class EqTest : public ::testing::Test {
protected:
	fi_info *info = nullptr;
	fid_fabric *fabric = nullptr;

	void SetUp() override
	{
		int ret;

		info = getinfo(nullptr, &ret);
		ASSERT_NE(info, nullptr);
		ASSERT_EQ(fi_fabric(info->fabric_attr, &fabric, nullptr), 0);
	}
	void TearDown() override
	{
		if (fabric) {
			EXPECT_EQ(fi_close(&fabric->fid), 0);
		}
		fi_freeinfo(info);
	}
	fid_eq *open_eq(fi_wait_obj wait = FI_WAIT_UNSPEC)
	{
		fi_eq_attr attr = {};
		fid_eq *eq = nullptr;

		attr.wait_obj = wait;
		attr.flags = FI_WRITE;
		EXPECT_EQ(fi_eq_open(fabric, &attr, &eq, nullptr), 0);
		return eq;
	}
};

} // namespace

TEST_F(EqTest, WriteReadRoundTrip)
{
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	fi_eq_entry in = {}, out = {};
	uint32_t event = 0;
	int ctx;

	in.fid = &fabric->fid;
	in.context = &ctx;
	in.data = 0x1234;
	EXPECT_EQ(fi_eq_write(eq, FI_NOTIFY, &in, sizeof(in), 0), (ssize_t)sizeof(in));
	EXPECT_EQ(fi_eq_read(eq, &event, &out, sizeof(out), 0), (ssize_t)sizeof(out));
	EXPECT_EQ(event, (uint32_t)FI_NOTIFY);
	EXPECT_EQ(out.fid, &fabric->fid);
	EXPECT_EQ(out.context, &ctx);
	EXPECT_EQ(out.data, 0x1234u);
	EXPECT_EQ(fi_eq_read(eq, &event, &out, sizeof(out), 0), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, OrderPeekAndSize)
{
	fid_eq *eq = open_eq(FI_WAIT_NONE);
	ASSERT_NE(eq, nullptr);
	for (uint64_t i = 0; i < 100; i++) {
		fi_eq_entry e = {};

		e.data = i;
		ASSERT_EQ(fi_eq_write(eq, FI_NOTIFY, &e, sizeof(e), 0), (ssize_t)sizeof(e));
	}
	fi_eq_entry e = {};
	uint32_t event;
	char small[4];

	EXPECT_EQ(fi_eq_read(eq, &event, small, sizeof(small), 0), -FI_ETOOSMALL);
	EXPECT_EQ(fi_eq_read(eq, &event, &e, sizeof(e), FI_PEEK), (ssize_t)sizeof(e));
	EXPECT_EQ(e.data, 0u);
	for (uint64_t i = 0; i < 100; i++) {
		ASSERT_EQ(fi_eq_read(eq, &event, &e, sizeof(e), 0), (ssize_t)sizeof(e));
		EXPECT_EQ(e.data, i);
	}
	// no wait object: sread is not available
	EXPECT_EQ(fi_eq_sread(eq, &event, &e, sizeof(e), 10, 0), -FI_ENOSYS);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, ReaderrWithoutErrorIsEagain)
{
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	fi_eq_err_entry err = {};

	EXPECT_EQ(fi_eq_readerr(eq, &err, 0), -FI_EAGAIN);
	EXPECT_STRNE(fi_eq_strerror(eq, FI_EINVAL, nullptr, nullptr, 0), nullptr);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, SreadTimesOut)
{
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	fi_eq_entry e;
	uint32_t event;
	auto t0 = std::chrono::steady_clock::now();

	EXPECT_EQ(fi_eq_sread(eq, &event, &e, sizeof(e), 100, 0), -FI_EAGAIN);
	EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
	EXPECT_EQ(fi_eq_sread(eq, &event, &e, sizeof(e), 0, 0), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, SreadWokenByWriter)
{
	for (fi_wait_obj w : {FI_WAIT_UNSPEC, FI_WAIT_FD, FI_WAIT_MUTEX_COND}) {
		fid_eq *eq = open_eq(w);
		ASSERT_NE(eq, nullptr);
		std::thread writer([eq] {
			fi_eq_entry e = {};

			e.data = 42;
			EXPECT_EQ(fi_eq_write(eq, FI_NOTIFY, &e, sizeof(e), 0), (ssize_t)sizeof(e));
		});
		fi_eq_entry e = {};
		uint32_t event;

		EXPECT_EQ(fi_eq_sread(eq, &event, &e, sizeof(e), -1, 0), (ssize_t)sizeof(e));
		EXPECT_EQ(e.data, 42u);
		writer.join();
		EXPECT_EQ(fi_close(&eq->fid), 0);
	}
}

TEST_F(EqTest, FdWaitObjectReadableWhileEventsQueued)
{
	fid_eq *eq = open_eq(FI_WAIT_FD);
	ASSERT_NE(eq, nullptr);
	int fd = -1;
	fi_wait_obj w;

	ASSERT_EQ(fi_control(&eq->fid, FI_GETWAITOBJ, &w), 0);
	EXPECT_EQ(w, FI_WAIT_FD);
	ASSERT_EQ(fi_control(&eq->fid, FI_GETWAIT, &fd), 0);
	ASSERT_GE(fd, 0);
	pollfd p = {fd, POLLIN, 0};

	EXPECT_EQ(poll(&p, 1, 0), 0);
	fid *fids[] = {&eq->fid};

	EXPECT_EQ(fi_trywait(fabric, fids, 1), 0);
	fi_eq_entry e = {};
	uint32_t event;

	ASSERT_EQ(fi_eq_write(eq, FI_NOTIFY, &e, sizeof(e), 0), (ssize_t)sizeof(e));
	EXPECT_EQ(poll(&p, 1, 1000), 1);
	EXPECT_EQ(fi_trywait(fabric, fids, 1), -FI_EAGAIN);
	ASSERT_EQ(fi_eq_read(eq, &event, &e, sizeof(e), 0), (ssize_t)sizeof(e));
	EXPECT_EQ(poll(&p, 1, 0), 0);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, MutexCondWaitObject)
{
	fid_eq *eq = open_eq(FI_WAIT_MUTEX_COND);
	ASSERT_NE(eq, nullptr);
	fi_mutex_cond mc = {};

	ASSERT_EQ(fi_control(&eq->fid, FI_GETWAIT, &mc), 0);
	EXPECT_NE(mc.mutex, nullptr);
	EXPECT_NE(mc.cond, nullptr);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, FabricCloseBusyWhileEqOpen)
{
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	EXPECT_EQ(fi_close(&fabric->fid), -FI_EBUSY);
	// queued events are freed with the EQ
	fi_eq_entry e = {};
	ASSERT_EQ(fi_eq_write(eq, FI_NOTIFY, &e, sizeof(e), 0), (ssize_t)sizeof(e));
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(EqTest, UnsupportedWaitObjects)
{
	fi_eq_attr attr = {};
	fid_eq *eq = nullptr;

	attr.wait_obj = FI_WAIT_SET;
	EXPECT_EQ(fi_eq_open(fabric, &attr, &eq, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_wait_open(fabric, nullptr, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_passive_ep(fabric, info, nullptr, nullptr), -FI_ENOSYS);
}
