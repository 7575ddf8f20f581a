// SPDX-License-Identifier: MIT
// Helpers of the provider-object tests: hints that select gsn, and a fabric
// plus domain opened through libfabric the way applications open them.
#ifndef GSNFI_OBJ_FIXTURE_H
#define GSNFI_OBJ_FIXTURE_H

#include <cstring>
#include <functional>

#include <gtest/gtest.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>

namespace gsnfi_test {

constexpr uint32_t kApi = FI_VERSION(1, 17);

// fi_allocinfo() with the provider name set: only gsn answers.
inline fi_info *gsn_hints()
{
	fi_info *h = fi_allocinfo();

	if (h)
		h->fabric_attr->prov_name = strdup("gsn");
	return h;
}

// fi_getinfo with gsn hints adjusted by edit; the result or nullptr, *ret
// the return value.
inline fi_info *getinfo(const std::function<void(fi_info *)> &edit, int *ret,
			uint32_t version = kApi, const char *node = nullptr, uint64_t flags = 0)
{
	fi_info *hints = gsn_hints();
	fi_info *info = nullptr;

	if (edit)
		edit(hints);
	*ret = fi_getinfo(version, node, nullptr, flags, hints, &info);
	fi_freeinfo(hints);
	return *ret ? nullptr : info;
}

// A fabric and a domain of gsn (the domain connects to gsnd, autostarting
// the test's private one).
class DomainFixture : public ::testing::Test {
protected:
	fi_info *info = nullptr;
	fid_fabric *fabric = nullptr;
	fid_domain *domain = nullptr;

	// Override to change the hints (caps, mr_mode, ...).
	virtual void edit_hints(fi_info *hints) { (void)hints; }

	void SetUp() override
	{
		int ret;

		info = getinfo([this](fi_info *h) { edit_hints(h); }, &ret);
		ASSERT_EQ(ret, 0) << fi_strerror(-ret);
		ASSERT_NE(info, nullptr);
		ret = fi_fabric(info->fabric_attr, &fabric, nullptr);
		ASSERT_EQ(ret, 0) << fi_strerror(-ret);
		ret = fi_domain(fabric, info, &domain, nullptr);
		ASSERT_EQ(ret, 0) << fi_strerror(-ret);
	}

	void TearDown() override
	{
		if (domain) {
			EXPECT_EQ(fi_close(&domain->fid), 0);
		}
		if (fabric) {
			EXPECT_EQ(fi_close(&fabric->fid), 0);
		}
		fi_freeinfo(info);
	}
};

} // namespace gsnfi_test

#endif // GSNFI_OBJ_FIXTURE_H
