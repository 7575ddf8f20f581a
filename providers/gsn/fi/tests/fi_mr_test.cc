// SPDX-License-Identifier: MIT
// Memory registration through libfabric: provider keys and user keys (and
// their uniqueness on one gsnd), zero-length regions, regv/regattr limits,
// binding counters (FI_RMA_EVENT), refresh/enable, close rules.
#include <climits>
#include <vector>

#include "fi_obj_fixture.h"

using gsnfi_test::getinfo;

namespace {

constexpr uint64_t kRemote = FI_REMOTE_READ | FI_REMOTE_WRITE;

// A domain with caps RMA|RMA_EVENT and the given mr_mode offered.
class MrTest : public gsnfi_test::DomainFixture {
protected:
	int mr_mode = 0;
	std::vector<char> buf = std::vector<char>(8192);

	void edit_hints(fi_info *h) override
	{
		h->caps = FI_RMA | FI_ATOMIC | FI_RMA_EVENT;
		h->domain_attr->mr_mode = mr_mode;
	}
	int reg(fid_domain *d, void *p, size_t len, uint64_t key, fid_mr **mr,
		uint64_t access = kRemote)
	{
		return fi_mr_reg(d, p, len, access, 0, key, 0, mr, nullptr);
	}
};

class ProvKeyTest : public MrTest {
protected:
	void SetUp() override
	{
		mr_mode = FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED;
		MrTest::SetUp();
	}
};

class UserKeyTest : public MrTest {
protected:
	void SetUp() override
	{
		mr_mode = 0;
		MrTest::SetUp();
	}
};

} // namespace

TEST_F(ProvKeyTest, KeysComeFromTheDevice)
{
	ASSERT_EQ(info->domain_attr->mr_mode, FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED);
	fid_mr *a = nullptr, *b = nullptr;

	// the requested key is ignored under FI_MR_PROV_KEY
	ASSERT_EQ(reg(domain, buf.data(), 4096, 7, &a), 0);
	ASSERT_EQ(reg(domain, buf.data() + 4096, 4096, 7, &b), 0);
	EXPECT_NE(fi_mr_key(a), fi_mr_key(b));
	EXPECT_NE(fi_mr_key(a), 0u);
	EXPECT_NE(fi_mr_desc(a), nullptr);
	EXPECT_NE(fi_mr_desc(a), fi_mr_desc(b));
	EXPECT_EQ(fi_close(&a->fid), 0);
	EXPECT_EQ(fi_close(&b->fid), 0);
}

TEST_F(ProvKeyTest, ZeroLengthRegions)
{
	fid_mr *a = nullptr, *b = nullptr;

	ASSERT_EQ(reg(domain, buf.data(), 0, 0, &a), 0);
	ASSERT_EQ(reg(domain, nullptr, 0, 0, &b), 0);
	EXPECT_NE(fi_mr_key(a), fi_mr_key(b));
	EXPECT_EQ(fi_close(&a->fid), 0);
	EXPECT_EQ(fi_close(&b->fid), 0);
}

TEST_F(UserKeyTest, KeysAreTheApplications)
{
	ASSERT_EQ(info->domain_attr->mr_mode, 0);
	fid_mr *a = nullptr, *b = nullptr, *c = nullptr;

	ASSERT_EQ(reg(domain, buf.data(), 4096, 0, &a), 0); // key 0 is fine
	EXPECT_EQ(fi_mr_key(a), 0u);
	ASSERT_EQ(reg(domain, buf.data() + 4096, 4096, 0x5eed, &b), 0);
	EXPECT_EQ(fi_mr_key(b), 0x5eedu);
	// a key held is not available again
	EXPECT_EQ(reg(domain, buf.data(), 16, 0x5eed, &c), -FI_ENOKEY);
	EXPECT_EQ(fi_close(&b->fid), 0);
	// after the close it is
	ASSERT_EQ(reg(domain, buf.data(), 16, 0x5eed, &c), 0);
	EXPECT_EQ(fi_mr_key(c), 0x5eedu);
	EXPECT_EQ(fi_close(&c->fid), 0);
	EXPECT_EQ(fi_close(&a->fid), 0);
}

TEST_F(UserKeyTest, LargeKeys)
{
	fid_mr *a = nullptr;
	uint64_t ptr_key = (uint64_t)(uintptr_t)buf.data(); // what btl ofi passes

	ASSERT_EQ(reg(domain, buf.data(), 64, ptr_key, &a), 0);
	EXPECT_EQ(fi_mr_key(a), ptr_key);
	EXPECT_EQ(fi_close(&a->fid), 0);
	// its rkey would wrap to 0
	EXPECT_EQ(reg(domain, buf.data(), 64, UINT64_MAX, &a), -FI_EINVAL);
}

TEST_F(UserKeyTest, KeysArePerDomain)
{
	fid_domain *d2 = nullptr;
	fid_mr *a = nullptr, *b = nullptr;

	// two domains on one gsnd (as two processes would be): each has its keys
	ASSERT_EQ(fi_domain(fabric, info, &d2, nullptr), 0);
	ASSERT_EQ(reg(domain, buf.data(), 64, 0xabcdef, &a), 0);
	ASSERT_EQ(reg(d2, buf.data() + 64, 64, 0xabcdef, &b), 0);
	EXPECT_EQ(fi_mr_key(b), 0xabcdefu);
	EXPECT_EQ(fi_close(&b->fid), 0);
	EXPECT_EQ(fi_close(&a->fid), 0);
	EXPECT_EQ(fi_close(&d2->fid), 0);
}

TEST_F(UserKeyTest, KeysInTheDevicesReservedRange)
{
	fid_mr *a = nullptr;

	// key + 1 would be one of gsnd's own rkeys
	EXPECT_EQ(reg(domain, buf.data(), 64, 0xFFFF000000000000ull - 1, &a), -FI_ENOKEY);
	EXPECT_EQ(reg(domain, buf.data(), 64, 0xFFFFFFFFFFFFFFFEull, &a), -FI_ENOKEY);
	ASSERT_EQ(reg(domain, buf.data(), 64, 0xFFFF000000000000ull - 2, &a), 0);
	EXPECT_EQ(fi_close(&a->fid), 0);
}

TEST_F(UserKeyTest, ZeroLengthRegionKeepsItsKey)
{
	fid_mr *a = nullptr, *b = nullptr;

	ASSERT_EQ(reg(domain, nullptr, 0, 99, &a), 0);
	EXPECT_EQ(fi_mr_key(a), 99u);
	EXPECT_EQ(reg(domain, buf.data(), 8, 99, &b), -FI_ENOKEY);
	EXPECT_EQ(fi_close(&a->fid), 0);
}

TEST_F(ProvKeyTest, RegvAndRegattr)
{
	iovec iov[2] = {{buf.data(), 100}, {buf.data() + 200, 100}};
	fid_mr *mr = nullptr;

	EXPECT_EQ(fi_mr_regv(domain, iov, 2, kRemote, 0, 0, 0, &mr, nullptr), -FI_EINVAL);
	ASSERT_EQ(fi_mr_regv(domain, iov, 1, kRemote, 0, 0, 0, &mr, nullptr), 0);
	EXPECT_EQ(fi_close(&mr->fid), 0);

	fi_mr_attr attr = {};
	int ctx;

	attr.mr_iov = iov;
	attr.iov_count = 1;
	attr.access = FI_REMOTE_READ;
	attr.context = &ctx;
	attr.iface = FI_HMEM_SYSTEM;
	ASSERT_EQ(fi_mr_regattr(domain, &attr, 0, &mr), 0);
	EXPECT_EQ(mr->fid.context, &ctx);
	EXPECT_EQ(fi_close(&mr->fid), 0);
	attr.iface = FI_HMEM_CUDA;
	EXPECT_EQ(fi_mr_regattr(domain, &attr, 0, &mr), -FI_ENOSYS);
}

TEST_F(ProvKeyTest, BadArguments)
{
	fid_mr *mr = nullptr;

	EXPECT_EQ(fi_mr_reg(domain, buf.data(), 64, kRemote, 8, 0, 0, &mr, nullptr), -FI_EINVAL);
	EXPECT_EQ(fi_mr_reg(domain, buf.data(), 64, kRemote, 0, 0, FI_RMA_PMEM, &mr, nullptr),
		  -FI_EBADFLAGS);
	EXPECT_EQ(fi_mr_reg(domain, nullptr, 64, kRemote, 0, 0, 0, &mr, nullptr), -FI_EINVAL);
	// FI_RMA_EVENT as a registration flag is fine
	ASSERT_EQ(fi_mr_reg(domain, buf.data(), 64, kRemote, 0, 0, FI_RMA_EVENT, &mr, nullptr), 0);
	EXPECT_EQ(fi_mr_enable(mr), 0);
	EXPECT_EQ(fi_mr_refresh(mr, nullptr, 0, 0), -FI_ENOSYS);
	EXPECT_EQ(fi_close(&mr->fid), 0);
}

TEST_F(UserKeyTest, BindCounterForRemoteEvents)
{
	fid_cntr *cntr = nullptr;
	fid_mr *mr = nullptr;
	fi_cntr_attr attr = {};

	attr.events = FI_CNTR_EVENTS_COMP;
	ASSERT_EQ(fi_cntr_open(domain, &attr, &cntr, nullptr), 0);
	ASSERT_EQ(reg(domain, buf.data(), 4096, 1, &mr, FI_REMOTE_WRITE), 0);
	EXPECT_EQ(fi_mr_bind(mr, &cntr->fid, 0), -FI_EBADFLAGS);
	EXPECT_EQ(fi_mr_bind(mr, &cntr->fid, FI_SEND), -FI_EBADFLAGS);
	ASSERT_EQ(fi_mr_bind(mr, &cntr->fid, FI_REMOTE_WRITE), 0);
	EXPECT_EQ(fi_mr_enable(mr), 0);
	// the counter is in use by the MR
	EXPECT_EQ(fi_close(&cntr->fid), -FI_EBUSY);
	// binding the same counter again (other flags) keeps one reference
	ASSERT_EQ(fi_mr_bind(mr, &cntr->fid, FI_REMOTE_WRITE | FI_REMOTE_READ), 0);
	EXPECT_EQ(fi_close(&mr->fid), 0);
	EXPECT_EQ(fi_close(&cntr->fid), 0);
}

TEST_F(ProvKeyTest, DomainBusyWhileMrOpen)
{
	fid_mr *mr = nullptr;

	ASSERT_EQ(reg(domain, buf.data(), 64, 0, &mr), 0);
	EXPECT_EQ(fi_close(&domain->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&mr->fid), 0);
}

// Without FI_RMA_EVENT in the domain's caps there are no remote events.
class MrNoEventTest : public gsnfi_test::DomainFixture {
protected:
	void edit_hints(fi_info *h) override { h->caps = FI_RMA; }
};

TEST_F(MrNoEventTest, BindCounterNeedsRmaEvent)
{
	fid_cntr *cntr = nullptr;
	fid_mr *mr = nullptr;
	char b[64];

	ASSERT_EQ(fi_cntr_open(domain, nullptr, &cntr, nullptr), 0);
	ASSERT_EQ(fi_mr_reg(domain, b, sizeof(b), FI_REMOTE_WRITE, 0, 3, 0, &mr, nullptr), 0);
	EXPECT_EQ(fi_mr_bind(mr, &cntr->fid, FI_REMOTE_WRITE), -FI_EINVAL);
	EXPECT_EQ(fi_close(&mr->fid), 0);
	EXPECT_EQ(fi_close(&cntr->fid), 0);
}
