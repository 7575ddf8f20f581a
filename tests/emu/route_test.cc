// SPDX-License-Identifier: MIT
// route: a switch's ULA -> port table, assignment, broadcast verdicts.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "route.h"

namespace {

struct RouteDeleter {
	void operator()(gsn_route *rt) const { gsn_route_destroy(rt); }
};
using RoutePtr = std::unique_ptr<gsn_route, RouteDeleter>;

RoutePtr make_route(unsigned nports = 8, unsigned max_entries = 64, bool broadcast = false)
{
	gsn_route_config cfg;
	gsn_route_config_default(&cfg);
	cfg.switch_id[0] = 0xAB;
	cfg.switch_id[1] = 0xCD;
	cfg.switch_id[2] = 0xEF;
	cfg.nports = nports;
	cfg.max_entries = max_entries;
	cfg.broadcast = broadcast;
	gsn_route *rt = nullptr;
	EXPECT_EQ(0, gsn_route_create(&cfg, &rt));
	return RoutePtr(rt);
}

std::array<uint8_t, 6> ula(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f)
{
	return {a, b, c, d, e, f};
}

std::array<uint8_t, 6> host(unsigned n)
{
	return ula(0x02, 0x10, 0x00, 0x00, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n));
}

} // namespace

TEST(RouteTable, CreateRejectsBadConfig)
{
	gsn_route_config cfg;
	gsn_route_config_default(&cfg);
	gsn_route *rt = nullptr;
	cfg.nports = 0;
	EXPECT_EQ(-EINVAL, gsn_route_create(&cfg, &rt));
	cfg.nports = 256;
	EXPECT_EQ(-EINVAL, gsn_route_create(&cfg, &rt));
	cfg.nports = 4;
	cfg.max_entries = 0;
	EXPECT_EQ(-EINVAL, gsn_route_create(&cfg, &rt));
	EXPECT_EQ(nullptr, rt);
}

TEST(RouteTable, AssignGivesUniqueStableUlasPerPort)
{
	auto rt = make_route(16);
	std::set<std::array<uint8_t, 6>> seen;
	for (unsigned p = 0; p < 16; p++) {
		std::array<uint8_t, 6> u{};
		ASSERT_EQ(0, gsn_route_assign(rt.get(), p, u.data()));
		EXPECT_EQ(ula(0x02, 0xAB, 0xCD, 0xEF, 0x00, static_cast<uint8_t>(p)), u);
		EXPECT_TRUE(gsn_ula_is_local(u.data()));
		EXPECT_FALSE(gsn_ula_is_group(u.data()));
		EXPECT_TRUE(seen.insert(u).second);
		gsn_route_entry e;
		ASSERT_EQ(0, gsn_route_find(rt.get(), u.data(), &e));
		EXPECT_EQ(p, e.port);
		EXPECT_EQ(GSN_ROUTE_ASSIGNED, e.kind);
	}
	// asking again for a port gives the same address, no new entry
	std::array<uint8_t, 6> again{};
	ASSERT_EQ(0, gsn_route_assign(rt.get(), 5, again.data()));
	EXPECT_EQ(ula(0x02, 0xAB, 0xCD, 0xEF, 0x00, 0x05), again);
	EXPECT_EQ(16u, gsn_route_count(rt.get()));
	EXPECT_EQ(-EINVAL, gsn_route_assign(rt.get(), 16, again.data()));

	std::array<uint8_t, 6> sw{};
	gsn_route_switch_ula(rt.get(), sw.data());
	EXPECT_EQ(ula(0x02, 0xAB, 0xCD, 0xEF, 0xFF, 0xFF), sw);
	EXPECT_EQ(0u, seen.count(sw));
}

TEST(RouteTable, AssignSkipsAnAddressRoutedElsewhere)
{
	auto rt = make_route();
	auto taken = ula(0x02, 0xAB, 0xCD, 0xEF, 0x00, 0x03);
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), taken.data(), 5));
	std::array<uint8_t, 6> u{};
	ASSERT_EQ(0, gsn_route_assign(rt.get(), 3, u.data()));
	EXPECT_EQ(ula(0x02, 0xAB, 0xCD, 0xEF, 0x01, 0x03), u);
	gsn_route_entry e;
	ASSERT_EQ(0, gsn_route_find(rt.get(), taken.data(), &e));
	EXPECT_EQ(5u, e.port);
	EXPECT_EQ(GSN_ROUTE_STATIC, e.kind);
	// stable: the next request for port 3 returns the same, not generation 0
	std::array<uint8_t, 6> again{};
	ASSERT_EQ(0, gsn_route_assign(rt.get(), 3, again.data()));
	EXPECT_EQ(u, again);
}

TEST(RouteTable, LookupUnicastUnknownAndHairpin)
{
	auto rt = make_route();
	auto a = host(1), b = host(2);
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), a.data(), 1));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), b.data(), 2));
	unsigned out = 99;
	EXPECT_EQ(GSN_ROUTE_UNICAST, gsn_route_lookup(rt.get(), a.data(), 0, &out));
	EXPECT_EQ(1u, out);
	EXPECT_EQ(GSN_ROUTE_UNICAST, gsn_route_lookup(rt.get(), b.data(), GSN_ROUTE_NO_PORT, &out));
	EXPECT_EQ(2u, out);
	auto c = host(3);
	EXPECT_EQ(GSN_ROUTE_DROP, gsn_route_lookup(rt.get(), c.data(), 0, &out));
	EXPECT_EQ(GSN_ROUTE_DROP, gsn_route_lookup(rt.get(), a.data(), 1, &out)); // back where it came from
	gsn_route_stats st;
	gsn_route_get_stats(rt.get(), &st);
	EXPECT_EQ(4u, st.lookups);
	EXPECT_EQ(2u, st.unicast);
	EXPECT_EQ(1u, st.drop_unknown);
	EXPECT_EQ(1u, st.drop_hairpin);
}

TEST(RouteTable, BroadcastFloodsOrDropsByFabricFlag)
{
	auto rt = make_route(4, 16, false);
	auto bc = ula(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
	auto mc = ula(0x03, 0x00, 0x00, 0x00, 0x00, 0x01);
	unsigned out = 0;
	EXPECT_EQ(GSN_ROUTE_DROP, gsn_route_lookup(rt.get(), bc.data(), 0, &out));
	gsn_route_set_broadcast(rt.get(), true);
	EXPECT_TRUE(gsn_route_broadcast(rt.get()));
	EXPECT_EQ(GSN_ROUTE_FLOOD, gsn_route_lookup(rt.get(), bc.data(), 0, &out));
	EXPECT_EQ(GSN_ROUTE_DROP, gsn_route_lookup(rt.get(), mc.data(), 0, &out));
	// group addresses are never table entries
	EXPECT_EQ(-EINVAL, gsn_route_add_static(rt.get(), bc.data(), 1));
	EXPECT_EQ(-EINVAL, gsn_route_learn(rt.get(), mc.data(), 1));
	gsn_route_stats st;
	gsn_route_get_stats(rt.get(), &st);
	EXPECT_EQ(1u, st.drop_broadcast);
	EXPECT_EQ(1u, st.flooded);
	EXPECT_EQ(1u, st.drop_group);
}

TEST(RouteTable, StaticAndAssignedWinOverLearning)
{
	auto rt = make_route();
	auto a = host(1), b = host(2);
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), a.data(), 1));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), a.data(), 4)); // ignored
	gsn_route_entry e;
	ASSERT_EQ(0, gsn_route_find(rt.get(), a.data(), &e));
	EXPECT_EQ(1u, e.port);
	EXPECT_EQ(GSN_ROUTE_STATIC, e.kind);

	ASSERT_EQ(0, gsn_route_learn(rt.get(), b.data(), 2));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), b.data(), 3)); // station moved
	ASSERT_EQ(0, gsn_route_find(rt.get(), b.data(), &e));
	EXPECT_EQ(3u, e.port);
	EXPECT_EQ(GSN_ROUTE_LEARNED, e.kind);

	std::array<uint8_t, 6> u{};
	ASSERT_EQ(0, gsn_route_assign(rt.get(), 3, u.data()));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), u.data(), 6));
	ASSERT_EQ(0, gsn_route_find(rt.get(), u.data(), &e));
	EXPECT_EQ(3u, e.port);

	// a port going down forgets only what was learned behind it
	EXPECT_EQ(1u, gsn_route_port_down(rt.get(), 3));
	EXPECT_EQ(-ENOENT, gsn_route_find(rt.get(), b.data(), &e));
	EXPECT_EQ(0, gsn_route_find(rt.get(), u.data(), &e));
	EXPECT_EQ(0, gsn_route_find(rt.get(), a.data(), &e));
	EXPECT_EQ(-EINVAL, gsn_route_add_static(rt.get(), a.data(), 8));
}

TEST(RouteTable, BoundedTableEvictsOldestLearned)
{
	auto rt = make_route(8, 4);
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), host(1).data(), 1));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), host(2).data(), 2));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), host(3).data(), 3));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), host(4).data(), 4));
	EXPECT_EQ(4u, gsn_route_count(rt.get()));
	ASSERT_EQ(0, gsn_route_learn(rt.get(), host(5).data(), 5)); // evicts host 2
	EXPECT_EQ(4u, gsn_route_count(rt.get()));
	gsn_route_entry e;
	EXPECT_EQ(-ENOENT, gsn_route_find(rt.get(), host(2).data(), &e));
	EXPECT_EQ(0, gsn_route_find(rt.get(), host(5).data(), &e));
	// statics evict learned entries too, but never each other
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), host(6).data(), 6));
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), host(7).data(), 6));
	ASSERT_EQ(0, gsn_route_add_static(rt.get(), host(8).data(), 6));
	EXPECT_EQ(-ENOSPC, gsn_route_add_static(rt.get(), host(9).data(), 6));
	EXPECT_EQ(-ENOSPC, gsn_route_learn(rt.get(), host(10).data(), 6));
	std::array<uint8_t, 6> u{};
	EXPECT_EQ(-ENOSPC, gsn_route_assign(rt.get(), 0, u.data()));
	gsn_route_stats st;
	gsn_route_get_stats(rt.get(), &st);
	EXPECT_EQ(4u, st.evicted);
	EXPECT_EQ(3u, st.full);
}

TEST(RouteTable, RandomInsertRemoveKeepsEveryEntryReachable)
{
	auto rt = make_route(200, 1000);
	std::mt19937 rng(7);
	std::map<std::array<uint8_t, 6>, unsigned> model;
	for (int step = 0; step < 20000; step++) {
		auto u = host(rng() % 1500);
		if (rng() % 3 == 0) {
			int err = gsn_route_remove(rt.get(), u.data());
			EXPECT_EQ(model.erase(u) ? 0 : -ENOENT, err);
		} else if (model.size() < 1000 || model.count(u)) {
			unsigned port = rng() % 200;
			ASSERT_EQ(0, gsn_route_add_static(rt.get(), u.data(), port));
			model[u] = port;
		}
	}
	ASSERT_EQ(model.size(), gsn_route_count(rt.get()));
	for (const auto &[u, port] : model) {
		gsn_route_entry e;
		ASSERT_EQ(0, gsn_route_find(rt.get(), u.data(), &e));
		EXPECT_EQ(port, e.port);
	}
	// entry_at enumerates each entry exactly once
	std::set<std::array<uint8_t, 6>> listed;
	for (size_t i = 0; i < gsn_route_count(rt.get()); i++) {
		gsn_route_entry e;
		ASSERT_EQ(0, gsn_route_entry_at(rt.get(), i, &e));
		std::array<uint8_t, 6> u;
		memcpy(u.data(), e.ula, 6);
		EXPECT_TRUE(listed.insert(u).second);
		EXPECT_EQ(1u, model.count(u));
	}
	gsn_route_entry e;
	EXPECT_EQ(-ENOENT, gsn_route_entry_at(rt.get(), gsn_route_count(rt.get()), &e));
}
