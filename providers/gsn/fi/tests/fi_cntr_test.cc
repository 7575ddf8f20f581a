// SPDX-License-Identifier: MIT
// Counters through libfabric: add/set/read and their error twins, waiting
// (reached, timed out, woken, error), wait objects, close.
#include <poll.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fi_obj_fixture.h"

namespace {

class CntrTest : public gsnfi_test::DomainFixture {
protected:
	fid_cntr *open_cntr(fi_wait_obj wait = FI_WAIT_UNSPEC)
	{
		fi_cntr_attr attr = {};
		fid_cntr *c = nullptr;

		attr.events = FI_CNTR_EVENTS_COMP;
		attr.wait_obj = wait;
		EXPECT_EQ(fi_cntr_open(domain, &attr, &c, nullptr), 0);
		return c;
	}
};

} // namespace

TEST_F(CntrTest, AddSetRead)
{
	fid_cntr *c = open_cntr();
	ASSERT_NE(c, nullptr);
	EXPECT_EQ(fi_cntr_read(c), 0u);
	EXPECT_EQ(fi_cntr_add(c, 5), 0);
	EXPECT_EQ(fi_cntr_add(c, 7), 0);
	EXPECT_EQ(fi_cntr_read(c), 12u);
	EXPECT_EQ(fi_cntr_set(c, 3), 0);
	EXPECT_EQ(fi_cntr_read(c), 3u);
	EXPECT_EQ(fi_cntr_readerr(c), 0u);
	EXPECT_EQ(fi_cntr_adderr(c, 2), 0);
	EXPECT_EQ(fi_cntr_adderr(c, 2), 0);
	EXPECT_EQ(fi_cntr_readerr(c), 4u);
	EXPECT_EQ(fi_cntr_seterr(c, 1), 0);
	EXPECT_EQ(fi_cntr_readerr(c), 1u);
	EXPECT_EQ(fi_cntr_read(c), 3u);
	EXPECT_EQ(fi_close(&c->fid), 0);
}

TEST_F(CntrTest, WaitReachedAndTimedOut)
{
	fid_cntr *c = open_cntr();
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(fi_cntr_set(c, 10), 0);
	EXPECT_EQ(fi_cntr_wait(c, 10, 0), 0);
	EXPECT_EQ(fi_cntr_wait(c, 5, -1), 0);
	auto t0 = std::chrono::steady_clock::now();

	EXPECT_EQ(fi_cntr_wait(c, 11, 120), -FI_ETIMEDOUT);
	EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(120));
	EXPECT_EQ(fi_cntr_wait(c, 11, 0), -FI_ETIMEDOUT);
	EXPECT_EQ(fi_close(&c->fid), 0);
}

TEST_F(CntrTest, WaitWokenByAdds)
{
	for (fi_wait_obj w : {FI_WAIT_UNSPEC, FI_WAIT_NONE, FI_WAIT_FD, FI_WAIT_YIELD}) {
		fid_cntr *c = open_cntr(w);
		ASSERT_NE(c, nullptr);
		std::thread adder([c] {
			for (int i = 0; i < 100; i++) {
				EXPECT_EQ(fi_cntr_add(c, 1), 0);
			}
		});

		EXPECT_EQ(fi_cntr_wait(c, 100, -1), 0);
		adder.join();
		EXPECT_EQ(fi_cntr_read(c), 100u);
		EXPECT_EQ(fi_close(&c->fid), 0);
	}
}

TEST_F(CntrTest, WaitEndsWithEavailOnError)
{
	fid_cntr *c = open_cntr();
	ASSERT_NE(c, nullptr);
	std::atomic<bool> done{false};
	int ret = 0;
	// an error counted after the wait began ends it; errors keep coming
	// until the waiter returns, so one surely comes after it began
	std::thread waiter([c, &done, &ret] {
		ret = fi_cntr_wait(c, 1, 20000);
		done = true;
	});
	uint64_t errors = 0;

	while (!done) {
		ASSERT_EQ(fi_cntr_adderr(c, 1), 0);
		errors++;
		std::this_thread::yield();
	}
	waiter.join();
	EXPECT_EQ(ret, -FI_EAVAIL);
	EXPECT_EQ(fi_cntr_readerr(c), errors);
	EXPECT_EQ(fi_cntr_read(c), 0u);
	EXPECT_EQ(fi_close(&c->fid), 0);
}

TEST_F(CntrTest, FdWaitObject)
{
	fid_cntr *c = open_cntr(FI_WAIT_FD);
	ASSERT_NE(c, nullptr);
	int fd = -1;

	ASSERT_EQ(fi_control(&c->fid, FI_GETWAIT, &fd), 0);
	ASSERT_GE(fd, 0);
	fid *fids[] = {&c->fid};
	pollfd p = {fd, POLLIN, 0};

	EXPECT_EQ(fi_trywait(fabric, fids, 1), 0);
	EXPECT_EQ(poll(&p, 1, 0), 0);
	EXPECT_EQ(fi_cntr_add(c, 1), 0);
	EXPECT_EQ(poll(&p, 1, 1000), 1);
	EXPECT_EQ(fi_trywait(fabric, fids, 1), 0);
	EXPECT_EQ(poll(&p, 1, 0), 0);
	EXPECT_EQ(fi_close(&c->fid), 0);
}

TEST_F(CntrTest, WaitObjectsAndAttributes)
{
	fid_cntr *c = open_cntr(FI_WAIT_MUTEX_COND);
	ASSERT_NE(c, nullptr);
	fi_mutex_cond mc = {};
	fi_wait_obj w;

	ASSERT_EQ(fi_control(&c->fid, FI_GETWAIT, &mc), 0);
	EXPECT_NE(mc.cond, nullptr);
	ASSERT_EQ(fi_control(&c->fid, FI_GETWAITOBJ, &w), 0);
	EXPECT_EQ(w, FI_WAIT_MUTEX_COND);
	EXPECT_EQ(fi_close(&c->fid), 0);

	fi_cntr_attr attr = {};
	attr.events = (fi_cntr_events)1;
	EXPECT_EQ(fi_cntr_open(domain, &attr, &c, nullptr), -FI_ENOSYS);
	attr.events = FI_CNTR_EVENTS_COMP;
	attr.wait_obj = FI_WAIT_SET;
	EXPECT_EQ(fi_cntr_open(domain, &attr, &c, nullptr), -FI_ENOSYS);
	// no attributes: completion events, default wait object
	ASSERT_EQ(fi_cntr_open(domain, nullptr, &c, nullptr), 0);
	EXPECT_EQ(fi_close(&c->fid), 0);
}

TEST_F(CntrTest, DomainBusyWhileCounterOpen)
{
	fid_cntr *c = open_cntr();
	ASSERT_NE(c, nullptr);
	EXPECT_EQ(fi_close(&domain->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&c->fid), 0);
}
