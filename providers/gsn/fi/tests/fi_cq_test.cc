// SPDX-License-Identifier: MIT
// Completion queues through libfabric, without endpoints: opening each
// format and wait object, empty reads, sread timing out and woken by
// fi_cq_signal, the FD wait object, closing.  Reports themselves are
// covered by unit_cq_test.cc and the data-path tests.
#include <poll.h>

#include <chrono>
#include <thread>

#include "fi_obj_fixture.h"

namespace {

class CqTest : public gsnfi_test::DomainFixture {
protected:
	fid_cq *open_cq(fi_cq_format format = FI_CQ_FORMAT_CONTEXT,
			fi_wait_obj wait = FI_WAIT_UNSPEC, size_t size = 0)
	{
		fi_cq_attr attr = {};
		fid_cq *cq = nullptr;

		attr.format = format;
		attr.wait_obj = wait;
		attr.size = size;
		EXPECT_EQ(fi_cq_open(domain, &attr, &cq, nullptr), 0);
		return cq;
	}
};

} // namespace

TEST_F(CqTest, EveryFormatAndWaitObjectOpens)
{
	for (fi_cq_format f : {FI_CQ_FORMAT_UNSPEC, FI_CQ_FORMAT_CONTEXT, FI_CQ_FORMAT_MSG,
			       FI_CQ_FORMAT_DATA, FI_CQ_FORMAT_TAGGED}) {
		for (fi_wait_obj w : {FI_WAIT_NONE, FI_WAIT_UNSPEC, FI_WAIT_FD,
				      FI_WAIT_MUTEX_COND, FI_WAIT_YIELD}) {
			fid_cq *cq = open_cq(f, w, 16);

			ASSERT_NE(cq, nullptr);
			fi_cq_tagged_entry e[4];

			EXPECT_EQ(fi_cq_read(cq, e, 4), -FI_EAGAIN);
			EXPECT_EQ(fi_close(&cq->fid), 0);
		}
	}
	// without attributes: context format, default size
	fid_cq *cq = nullptr;

	ASSERT_EQ(fi_cq_open(domain, nullptr, &cq, nullptr), 0);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, UnsupportedAttributes)
{
	fi_cq_attr attr = {};
	fid_cq *cq = nullptr;

	attr.format = (fi_cq_format)42;
	EXPECT_EQ(fi_cq_open(domain, &attr, &cq, nullptr), -FI_ENOSYS);
	attr.format = FI_CQ_FORMAT_CONTEXT;
	attr.wait_obj = FI_WAIT_SET;
	EXPECT_EQ(fi_cq_open(domain, &attr, &cq, nullptr), -FI_ENOSYS);
	attr.wait_obj = FI_WAIT_UNSPEC;
	attr.wait_cond = (fi_cq_wait_cond)9;
	EXPECT_EQ(fi_cq_open(domain, &attr, &cq, nullptr), -FI_EINVAL);
}

TEST_F(CqTest, ReadAndReaderrOnEmpty)
{
	fid_cq *cq = open_cq(FI_CQ_FORMAT_TAGGED);
	ASSERT_NE(cq, nullptr);
	fi_cq_tagged_entry e;
	fi_cq_err_entry err = {};
	fi_addr_t src;

	EXPECT_EQ(fi_cq_read(cq, &e, 1), -FI_EAGAIN);
	EXPECT_EQ(fi_cq_readfrom(cq, &e, 1, &src), -FI_EAGAIN);
	EXPECT_EQ(fi_cq_readerr(cq, &err, 0), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, SreadTimesOut)
{
	fid_cq *cq = open_cq();
	ASSERT_NE(cq, nullptr);
	fi_cq_entry e;
	auto t0 = std::chrono::steady_clock::now();

	EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, 150), -FI_EAGAIN);
	EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
	EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, 0), -FI_EAGAIN);
	fi_addr_t src;
	EXPECT_EQ(fi_cq_sreadfrom(cq, &e, 1, &src, nullptr, 10), -FI_EAGAIN);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, SignalWakesSread)
{
	for (fi_wait_obj w : {FI_WAIT_UNSPEC, FI_WAIT_FD, FI_WAIT_MUTEX_COND, FI_WAIT_YIELD}) {
		fid_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, w);
		ASSERT_NE(cq, nullptr);
		// whichever comes first, the signal makes this sread return
		std::thread signaller([cq] { EXPECT_EQ(fi_cq_signal(cq), 0); });
		fi_cq_entry e;

		EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, -1), -FI_EAGAIN);
		signaller.join();
		// the signal is consumed: the next sread waits again (here: times out)
		EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, 20), -FI_EAGAIN);
		EXPECT_EQ(fi_close(&cq->fid), 0);
	}
}

TEST_F(CqTest, NoWaitObjectNoSread)
{
	fid_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE);
	ASSERT_NE(cq, nullptr);
	fi_cq_entry e;

	EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, 10), -FI_ENOSYS);
	int fd;
	EXPECT_EQ(fi_control(&cq->fid, FI_GETWAIT, &fd), -FI_ENODATA);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, FdWaitObject)
{
	fid_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_FD);
	ASSERT_NE(cq, nullptr);
	int fd = -1;
	fi_wait_obj w;

	ASSERT_EQ(fi_control(&cq->fid, FI_GETWAITOBJ, &w), 0);
	EXPECT_EQ(w, FI_WAIT_FD);
	ASSERT_EQ(fi_control(&cq->fid, FI_GETWAIT, &fd), 0);
	ASSERT_GE(fd, 0);
	fid *fids[] = {&cq->fid};
	pollfd p = {fd, POLLIN, 0};

	EXPECT_EQ(fi_trywait(fabric, fids, 1), 0);
	EXPECT_EQ(poll(&p, 1, 0), 0);
	EXPECT_EQ(fi_cq_signal(cq), 0);
	EXPECT_EQ(poll(&p, 1, 1000), 1);
	fi_cq_entry e;
	EXPECT_EQ(fi_cq_sread(cq, &e, 1, nullptr, 0), -FI_EAGAIN); // takes the signal
	EXPECT_EQ(fi_trywait(fabric, fids, 1), 0);
	EXPECT_EQ(poll(&p, 1, 0), 0);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, MutexCondWaitObject)
{
	fid_cq *cq = open_cq(FI_CQ_FORMAT_CONTEXT, FI_WAIT_MUTEX_COND);
	ASSERT_NE(cq, nullptr);
	fi_mutex_cond mc = {};

	ASSERT_EQ(fi_control(&cq->fid, FI_GETWAIT, &mc), 0);
	EXPECT_NE(mc.mutex, nullptr);
	EXPECT_NE(mc.cond, nullptr);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, StrerrorNamesDeviceStatuses)
{
	fid_cq *cq = open_cq();
	ASSERT_NE(cq, nullptr);
	char buf[64];
	const char *s = fi_cq_strerror(cq, 10 /* GSN_WC_REM_ACCESS_ERR */, nullptr, buf,
				       sizeof(buf));

	EXPECT_EQ(s, buf);
	EXPECT_GT(strlen(buf), 0u);
	EXPECT_NE(fi_cq_strerror(cq, 0, nullptr, nullptr, 0), nullptr);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}

TEST_F(CqTest, DomainBusyWhileCqOpen)
{
	fid_cq *cq = open_cq();
	ASSERT_NE(cq, nullptr);
	EXPECT_EQ(fi_close(&domain->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&cq->fid), 0);
}
