// SPDX-License-Identifier: MIT
// Address vectors through libfabric: both types, insert/lookup/remove,
// malformed addresses, FI_SYNC_ERR, asynchronous inserts reported on a
// bound EQ, the text form (straddr, insertsvc), close rules.
#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "fi_obj_fixture.h"

namespace {

// struct gsnfi_addr, as the wire and fi_getname have it
struct Addr {
	uint8_t ula[6];
	uint16_t reserved;
	uint32_t ud_qpn; // big-endian
	uint32_t nonce;  // big-endian
};
static_assert(sizeof(Addr) == 16, "gsn addresses are 16 bytes");

Addr make_addr(uint32_t qpn, uint32_t nonce = 1, uint8_t last = 1)
{
	Addr a = {{2, 0, 0, 0, 0, last}, 0, htonl(qpn), htonl(nonce)};
	return a;
}

class AvTest : public gsnfi_test::DomainFixture {
protected:
	fid_av *open_av(fi_av_type type, uint64_t flags = 0, size_t count = 0)
	{
		fi_av_attr attr = {};
		fid_av *av = nullptr;

		attr.type = type;
		attr.flags = flags;
		attr.count = count;
		EXPECT_EQ(fi_av_open(domain, &attr, &av, nullptr), 0);
		return av;
	}
	fid_eq *open_eq()
	{
		fi_eq_attr attr = {};
		fid_eq *eq = nullptr;

		attr.wait_obj = FI_WAIT_UNSPEC;
		EXPECT_EQ(fi_eq_open(fabric, &attr, &eq, nullptr), 0);
		return eq;
	}
};

} // namespace

TEST_F(AvTest, TableIndexesInOrder)
{
	fid_av *av = open_av(FI_AV_TABLE);
	ASSERT_NE(av, nullptr);
	std::vector<Addr> addrs;

	for (uint32_t i = 0; i < 5; i++)
		addrs.push_back(make_addr(100 + i));
	fi_addr_t fa[5];

	ASSERT_EQ(fi_av_insert(av, addrs.data(), 5, fa, 0, nullptr), 5);
	for (fi_addr_t i = 0; i < 5; i++)
		EXPECT_EQ(fa[i], i);
	// later inserts continue the numbering; fi_addr may be NULL (OpenSHMEM)
	Addr more[2] = {make_addr(200), make_addr(201)};
	ASSERT_EQ(fi_av_insert(av, more, 2, nullptr, 0, nullptr), 2);
	Addr out;
	size_t len = sizeof(out);

	ASSERT_EQ(fi_av_lookup(av, 6, &out, &len), 0);
	EXPECT_EQ(memcmp(&out, &more[1], 16), 0);
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, MapInsertLookupRemove)
{
	fid_av *av = open_av(FI_AV_MAP);
	ASSERT_NE(av, nullptr);
	Addr a[3] = {make_addr(1), make_addr(2), make_addr(3)};
	fi_addr_t fa[3];

	ASSERT_EQ(fi_av_insert(av, a, 3, fa, 0, nullptr), 3);
	for (int i = 0; i < 3; i++) {
		Addr out;
		size_t len = sizeof(out);

		ASSERT_EQ(fi_av_lookup(av, fa[i], &out, &len), 0);
		EXPECT_EQ(len, 16u);
		EXPECT_EQ(memcmp(&out, &a[i], 16), 0);
	}
	ASSERT_EQ(fi_av_remove(av, &fa[1], 1, 0), 0);
	Addr out;
	size_t len = sizeof(out);

	EXPECT_EQ(fi_av_lookup(av, fa[1], &out, &len), -FI_EINVAL);
	EXPECT_EQ(fi_av_lookup(av, fa[2], &out, &len), 0);
	// removing twice, or what was never there
	EXPECT_EQ(fi_av_remove(av, &fa[1], 1, 0), -FI_EINVAL);
	fi_addr_t bogus = 12345;
	EXPECT_EQ(fi_av_remove(av, &bogus, 1, 0), -FI_EINVAL);
	EXPECT_EQ(fi_av_lookup(av, FI_ADDR_NOTAVAIL, &out, &len), -FI_EINVAL);
	EXPECT_EQ(fi_av_remove(av, fa, 1, FI_MORE), -FI_EBADFLAGS);
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, LookupTruncates)
{
	fid_av *av = open_av(FI_AV_MAP);
	ASSERT_NE(av, nullptr);
	Addr a = make_addr(77);
	fi_addr_t fa;

	ASSERT_EQ(fi_av_insert(av, &a, 1, &fa, 0, nullptr), 1);
	uint8_t small[4] = {0};
	size_t len = sizeof(small);

	ASSERT_EQ(fi_av_lookup(av, fa, small, &len), 0);
	EXPECT_EQ(len, 16u);
	EXPECT_EQ(memcmp(small, &a, 4), 0);
	len = 0;
	ASSERT_EQ(fi_av_lookup(av, fa, nullptr, &len), 0);
	EXPECT_EQ(len, 16u);
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, MalformedAddressFailsItsEntry)
{
	fid_av *av = open_av(FI_AV_TABLE);
	ASSERT_NE(av, nullptr);
	Addr a[3] = {make_addr(1), make_addr(2), make_addr(3)};
	fi_addr_t fa[3];

	a[1].reserved = htons(1);
	EXPECT_EQ(fi_av_insert(av, a, 3, fa, 0, nullptr), 2);
	EXPECT_EQ(fa[0], 0u);
	EXPECT_EQ(fa[1], FI_ADDR_NOTAVAIL);
	EXPECT_EQ(fa[2], 1u);

	int errs[3] = {-1, -1, -1};
	EXPECT_EQ(fi_av_insert(av, a, 3, fa, FI_SYNC_ERR, errs), 2);
	EXPECT_EQ(errs[0], 0);
	EXPECT_EQ(errs[1], FI_EINVAL);
	EXPECT_EQ(errs[2], 0);
	// FI_SYNC_ERR needs its array
	EXPECT_EQ(fi_av_insert(av, a, 3, fa, FI_SYNC_ERR, nullptr), -FI_EINVAL);
	EXPECT_EQ(fi_av_insert(av, a, 1, fa, FI_FENCE, nullptr), -FI_EBADFLAGS);
	EXPECT_EQ(fi_av_insert(av, a, 1, fa, FI_MORE, nullptr), 1);
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, AsyncInsertReportsOnEq)
{
	fid_av *av = open_av(FI_AV_MAP);
	ASSERT_NE(av, nullptr);
	Addr a[3] = {make_addr(1), make_addr(2), make_addr(3)};
	fi_addr_t fa[3];
	int ctx;

	a[2].reserved = 0xffff;
	EXPECT_EQ(fi_av_insert(av, a, 3, fa, FI_EVENT, &ctx), -FI_ENOEQ);
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	ASSERT_EQ(fi_av_bind(av, &eq->fid, 0), 0);
	ASSERT_EQ(fi_av_insert(av, a, 3, fa, FI_EVENT, &ctx), 0);

	// first the failed entry's error, then the completion with the count
	fi_eq_err_entry err = {};
	fi_eq_entry done = {};
	uint32_t event;

	EXPECT_EQ(fi_eq_read(eq, &event, &done, sizeof(done), 0), -FI_EAVAIL);
	ASSERT_EQ(fi_eq_readerr(eq, &err, 0), (ssize_t)sizeof(err));
	EXPECT_EQ(err.fid, &av->fid);
	EXPECT_EQ(err.context, &ctx);
	EXPECT_EQ(err.data, 2u);
	EXPECT_EQ(err.err, FI_EINVAL);
	ASSERT_EQ(fi_eq_sread(eq, &event, &done, sizeof(done), 1000, 0), (ssize_t)sizeof(done));
	EXPECT_EQ(event, (uint32_t)FI_AV_COMPLETE);
	EXPECT_EQ(done.fid, &av->fid);
	EXPECT_EQ(done.context, &ctx);
	EXPECT_EQ(done.data, 2u);
	EXPECT_EQ(fa[2], FI_ADDR_NOTAVAIL);

	// the EQ stays while the AV is bound to it
	EXPECT_EQ(fi_close(&eq->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&av->fid), 0);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(AvTest, EventFlagAtOpenMakesEveryInsertAsync)
{
	fid_av *av = open_av(FI_AV_TABLE, FI_EVENT);
	ASSERT_NE(av, nullptr);
	fid_eq *eq = open_eq();
	ASSERT_NE(eq, nullptr);
	ASSERT_EQ(fi_av_bind(av, &eq->fid, 0), 0);
	Addr a = make_addr(9);
	fi_addr_t fa;

	ASSERT_EQ(fi_av_insert(av, &a, 1, &fa, 0, nullptr), 0);
	fi_eq_entry done = {};
	uint32_t event;

	ASSERT_EQ(fi_eq_sread(eq, &event, &done, sizeof(done), 1000, 0), (ssize_t)sizeof(done));
	EXPECT_EQ(event, (uint32_t)FI_AV_COMPLETE);
	EXPECT_EQ(done.data, 1u);
	EXPECT_EQ(fa, 0u);
	EXPECT_EQ(fi_close(&av->fid), 0);
	EXPECT_EQ(fi_close(&eq->fid), 0);
}

TEST_F(AvTest, TextForm)
{
	fid_av *av = open_av(FI_AV_MAP);
	ASSERT_NE(av, nullptr);
	Addr a = make_addr(0x1a2b, 0xdeadbeef, 0x42);
	char buf[64];
	size_t len = sizeof(buf);

	ASSERT_EQ(fi_av_straddr(av, &a, buf, &len), buf);
	EXPECT_STREQ(buf, "gsn://02:00:00:00:00:42/1a2b/deadbeef");
	EXPECT_EQ(len, strlen(buf) + 1);

	// too small: truncated, NUL-terminated, the needed size returned
	char small[8];
	len = sizeof(small);
	fi_av_straddr(av, &a, small, &len);
	EXPECT_STREQ(small, "gsn://0");
	EXPECT_EQ(len, strlen(buf) + 1);

	// the text form goes back in
	fi_addr_t fa;
	ASSERT_EQ(fi_av_insertsvc(av, buf, nullptr, &fa, 0, nullptr), 1);
	Addr out;
	size_t olen = sizeof(out);
	ASSERT_EQ(fi_av_lookup(av, fa, &out, &olen), 0);
	EXPECT_EQ(memcmp(&out, &a, 16), 0);
	EXPECT_EQ(fi_av_insertsvc(av, "10.0.0.1", "7", &fa, 0, nullptr), -FI_EINVAL);
	EXPECT_EQ(fi_av_insertsym(av, "n", 1, "s", 1, &fa, 0, nullptr), -FI_ENOSYS);
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, ManyAddresses)
{
	fid_av *av = open_av(FI_AV_MAP, 0, 4);
	ASSERT_NE(av, nullptr);
	const uint32_t n = 20000;
	std::vector<Addr> addrs;
	std::vector<fi_addr_t> fa(n);

	for (uint32_t i = 0; i < n; i++)
		addrs.push_back(make_addr(i, i * 7 + 1, (uint8_t)i));
	ASSERT_EQ(fi_av_insert(av, addrs.data(), n, fa.data(), 0, nullptr), (int)n);
	for (uint32_t i = 0; i < n; i += 97) {
		Addr out;
		size_t len = sizeof(out);

		ASSERT_EQ(fi_av_lookup(av, fa[i], &out, &len), 0);
		ASSERT_EQ(memcmp(&out, &addrs[i], 16), 0);
	}
	EXPECT_EQ(fi_close(&av->fid), 0);
}

TEST_F(AvTest, UnsupportedAttributes)
{
	fi_av_attr attr = {};
	fid_av *av = nullptr;

	attr.type = FI_AV_TABLE;
	attr.rx_ctx_bits = 4;
	EXPECT_EQ(fi_av_open(domain, &attr, &av, nullptr), -FI_EINVAL);
	attr.rx_ctx_bits = 0;
	attr.name = "shared";
	EXPECT_EQ(fi_av_open(domain, &attr, &av, nullptr), -FI_ENOSYS);
	attr.name = nullptr;
	attr.type = (fi_av_type)9;
	EXPECT_EQ(fi_av_open(domain, &attr, &av, nullptr), -FI_EINVAL);
	attr.type = FI_AV_UNSPEC;
	ASSERT_EQ(fi_av_open(domain, &attr, &av, nullptr), 0);
	EXPECT_EQ(fi_close(&domain->fid), -FI_EBUSY);
	EXPECT_EQ(fi_close(&av->fid), 0);
}
