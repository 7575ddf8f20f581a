// SPDX-License-Identifier: MIT
// harp: clients and servers on an in-process medium (broadcasting or not),
// in virtual time with timers scaled to milliseconds.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "harp.h"

namespace {

using Ula = std::array<uint8_t, 6>;
constexpr uint64_t kMs = 1000ull * 1000;
constexpr uint64_t kSec = 1000 * kMs;

struct Medium;

struct Station {
	struct Result {
		uint32_t ip;
		Ula ula;
		int status;
	};
	Medium *m = nullptr;
	int id = 0;
	gsn_harp *h = nullptr;
	Ula ula{};
	uint32_t ip = 0;
	bool alive = true;
	std::vector<Result> results;

	~Station() { gsn_harp_destroy(h); }
	gsn_harp_stats stats() const
	{
		gsn_harp_stats st;
		gsn_harp_get_stats(h, &st);
		return st;
	}
	gsn_harp_mode mode() const { return gsn_harp_get_mode(h); }
};

struct Pkt {
	int from;
	Ula src;
	Ula dst;
	std::vector<uint8_t> bytes;
	uint16_t op() const { return static_cast<uint16_t>(bytes[6] << 8 | bytes[7]); }
};

struct Medium {
	uint64_t now = 0;
	bool broadcast = true; // the fabric delivers FF:FF:FF:FF:FF:FF
	bool reflect = false;  // ... to the sender as well (a shared medium)
	std::vector<std::unique_ptr<Station>> st;
	std::deque<Pkt> q;
	std::vector<Pkt> log;

	void deliver(const Pkt &p)
	{
		bool bc = gsn_ula_is_broadcast(p.dst.data());
		if (bc && !broadcast)
			return;
		for (auto &s : st) {
			if (!s->alive)
				continue;
			if (bc ? (s->id == p.from && !reflect) : s->ula != p.dst)
				continue;
			gsn_harp_input(s->h, p.src.data(), p.bytes.data(), p.bytes.size());
		}
	}
	void pump()
	{
		while (!q.empty()) {
			Pkt p = q.front();
			q.pop_front();
			deliver(p);
		}
	}
	void advance(uint64_t ns)
	{
		uint64_t target = now + ns;
		pump();
		for (;;) {
			uint64_t d = UINT64_MAX;
			for (auto &s : st)
				if (s->alive)
					d = std::min(d, gsn_harp_next_deadline(s->h));
			if (d > target)
				break;
			now = std::max(now, d);
			for (auto &s : st)
				if (s->alive)
					gsn_harp_tick(s->h);
			pump();
		}
		now = target;
	}
	size_t count(int from, uint16_t op, bool to_broadcast) const
	{
		size_t n = 0;
		for (const auto &p : log)
			if (p.from == from && p.op() == op &&
			    gsn_ula_is_broadcast(p.dst.data()) == to_broadcast)
				n++;
		return n;
	}
};

int cb_send(void *ctx, const uint8_t dst[6], const uint8_t *payload, size_t len)
{
	auto *s = static_cast<Station *>(ctx);
	Pkt p{s->id, s->ula, {}, std::vector<uint8_t>(payload, payload + len)};
	memcpy(p.dst.data(), dst, 6);
	s->m->log.push_back(p);
	s->m->q.push_back(p);
	return 0;
}

uint64_t cb_now(void *ctx)
{
	return static_cast<Station *>(ctx)->m->now;
}

void cb_resolved(void *ctx, uint32_t ip, const uint8_t *ula, int status)
{
	auto *s = static_cast<Station *>(ctx);
	Station::Result r{ip, {}, status};
	if (ula)
		memcpy(r.ula.data(), ula, 6);
	s->results.push_back(r);
}

Ula ula_of(unsigned n)
{
	return {0x02, 0x00, 0x00, 0x01, 0x00, static_cast<uint8_t>(n)};
}

uint32_t ip_of(unsigned n)
{
	return 0x0A000000u | n;
}

// Timers in milliseconds: detect 10, register retry 20, re-register 900,
// revalidate 900, server forget 1200, request timeout 10 (3 retries),
// resolution gives up after 1000.
void ms_timers(gsn_harp_config &c)
{
	c.detect_timeout_ns = 10 * kMs;
	c.register_retry_ns = 20 * kMs;
	c.reregister_ns = 900 * kMs;
	c.revalidate_ns = 900 * kMs;
	c.server_forget_ns = 1200 * kMs;
	c.request_timeout_ns = 10 * kMs;
	c.request_retries = 3;
	c.resolve_timeout_ns = 1000 * kMs;
}

Station &add(Medium &m, unsigned n, bool server = false, std::vector<unsigned> servers = {},
	     bool ms = true)
{
	auto s = std::make_unique<Station>();
	s->m = &m;
	s->id = static_cast<int>(m.st.size());
	s->ula = ula_of(n);
	s->ip = ip_of(n);
	gsn_harp_config c;
	gsn_harp_config_default(&c);
	if (ms)
		ms_timers(c);
	memcpy(c.ula, s->ula.data(), 6);
	c.ip = s->ip;
	c.server = server;
	c.nservers = static_cast<unsigned>(servers.size());
	for (size_t i = 0; i < servers.size(); i++)
		memcpy(c.servers[i], ula_of(servers[i]).data(), 6);
	gsn_harp_ops ops{};
	ops.send_msg = cb_send;
	ops.now_ns = cb_now;
	ops.resolved = cb_resolved;
	ops.ctx = s.get();
	EXPECT_EQ(0, gsn_harp_create(&c, &ops, &s->h));
	m.st.push_back(std::move(s));
	return *m.st.back();
}

struct Listed {
	std::map<uint32_t, gsn_harp_entry> e;
};

Listed list(const Station &s)
{
	Listed l;
	gsn_harp_foreach(
		s.h,
		[](void *ctx, const gsn_harp_entry *e) { static_cast<Listed *>(ctx)->e[e->ip] = *e; },
		&l);
	return l;
}

// Two servers (101, 102) and clients 1 and 2, on a fabric without broadcast.
class HarpServer : public ::testing::Test {
protected:
	void SetUp() override
	{
		m.broadcast = false;
		s1 = &add(m, 101, true);
		s2 = &add(m, 102, true);
		a = &add(m, 1, false, {101, 102});
		b = &add(m, 2, false, {101, 102});
		for (auto &s : m.st)
			gsn_harp_start(s->h);
		m.advance(15 * kMs); // detection times out at 10 ms, then registration
	}
	Medium m;
	Station *s1 = nullptr, *s2 = nullptr, *a = nullptr, *b = nullptr;
};

} // namespace

TEST(HarpBroadcast, ReflectedProbeSelectsBroadcastAndResolves)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1), &b = add(m, 2), &c = add(m, 3);
	for (auto &s : m.st)
		gsn_harp_start(s->h);
	EXPECT_EQ(GSN_HARP_MODE_DETECT, a.mode());
	m.pump();
	for (auto &s : m.st)
		EXPECT_EQ(GSN_HARP_MODE_BROADCAST, s->mode());

	Ula got{};
	EXPECT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
	EXPECT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data())); // one request only
	EXPECT_EQ(1u, m.count(a.id, GSN_HARP_OP_REQUEST, true));
	m.pump();
	ASSERT_EQ(1u, a.results.size());
	EXPECT_EQ(0, a.results[0].status);
	EXPECT_EQ(b.ip, a.results[0].ip);
	EXPECT_EQ(b.ula, a.results[0].ula);
	EXPECT_EQ(0, gsn_harp_resolve(a.h, b.ip, got.data()));
	EXPECT_EQ(b.ula, got);
	// b learned a from the request it answered; c did not learn anything
	EXPECT_EQ(0, gsn_harp_resolve(b.h, a.ip, got.data()));
	EXPECT_EQ(a.ula, got);
	EXPECT_EQ(0u, gsn_harp_count(c.h));
	EXPECT_EQ(0, gsn_harp_resolve(a.h, a.ip, got.data())); // ourselves
	EXPECT_EQ(a.ula, got);
}

TEST(HarpBroadcast, FloodingFabricDetectsThroughAnotherStation)
{
	Medium m; // a switch floods broadcast to every other port: no echo
	auto &a = add(m, 1), &b = add(m, 2);
	gsn_harp_start(a.h);
	m.advance(50 * kMs); // alone: no answer, no servers, keeps probing
	EXPECT_EQ(GSN_HARP_MODE_DETECT, a.mode());
	EXPECT_GE(a.stats().probes_tx, 3u);
	gsn_harp_start(b.h);
	m.pump(); // a hears b's probe and answers it
	EXPECT_EQ(GSN_HARP_MODE_BROADCAST, a.mode());
	EXPECT_EQ(GSN_HARP_MODE_BROADCAST, b.mode());
	EXPECT_EQ(1u, a.stats().replies_tx);
	EXPECT_EQ(0u, gsn_harp_count(a.h)); // probes and their answers fill no cache
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(b.h, a.ip, got.data()));
	m.pump();
	EXPECT_EQ(0, gsn_harp_resolve(b.h, a.ip, got.data()));
	EXPECT_EQ(a.ula, got);
}

TEST(HarpBroadcast, UnansweredRequestTimesOut)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1);
	gsn_harp_start(a.h);
	m.pump();
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, ip_of(99), got.data()));
	m.advance(100 * kMs);
	ASSERT_EQ(1u, a.results.size());
	EXPECT_EQ(-ETIMEDOUT, a.results[0].status);
	EXPECT_EQ(4u, a.stats().requests_tx); // 1 + 3 retries
	EXPECT_EQ(UINT64_MAX, gsn_harp_next_deadline(a.h));
}

TEST_F(HarpServer, ClientsRegisterAndResolveThroughTheServer)
{
	for (Station *c : {a, b}) {
		EXPECT_EQ(GSN_HARP_MODE_REGISTERED, c->mode());
		Ula cur{};
		ASSERT_TRUE(gsn_harp_current_server(c->h, cur.data()));
		EXPECT_EQ(s1->ula, cur); // the first to answer
	}
	// both servers registered both clients in the same round
	for (Station *s : {s1, s2}) {
		auto l = list(*s);
		ASSERT_EQ(2u, l.e.size());
		EXPECT_EQ(GSN_HARP_F_REGISTERED, l.e[a->ip].flags);
		EXPECT_EQ(a->ula, (Ula{l.e[a->ip].ula[0], l.e[a->ip].ula[1], l.e[a->ip].ula[2],
				      l.e[a->ip].ula[3], l.e[a->ip].ula[4], l.e[a->ip].ula[5]}));
	}
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, b->ip, got.data()));
	m.pump();
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(0, a->results[0].status);
	EXPECT_EQ(b->ula, a->results[0].ula);
	// the request went to s1, not to broadcast
	EXPECT_EQ(0u, m.count(a->id, GSN_HARP_OP_REQUEST, true));
	ASSERT_EQ(1u, m.count(a->id, GSN_HARP_OP_REQUEST, false));
	for (const auto &p : m.log) {
		if (p.from == a->id && p.op() == GSN_HARP_OP_REQUEST) {
			EXPECT_EQ(s1->ula, p.dst);
		}
	}
	EXPECT_EQ(3u, s1->stats().replies_tx); // two InARP replies (registrations), one reply
	// the server resolves from its table, synchronously
	EXPECT_EQ(0, gsn_harp_resolve(s1->h, b->ip, got.data()));
	EXPECT_EQ(b->ula, got);
	EXPECT_EQ(-EHOSTUNREACH, gsn_harp_resolve(s1->h, ip_of(77), got.data()));
}

TEST_F(HarpServer, NakFailsTheResolution)
{
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, ip_of(77), got.data()));
	m.pump();
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(-EHOSTUNREACH, a->results[0].status);
	EXPECT_EQ(ip_of(77), a->results[0].ip);
	EXPECT_EQ(1u, a->stats().naks_rx);
	EXPECT_EQ(1u, s1->stats().naks_tx);
	EXPECT_EQ(1u, gsn_harp_count(a->h)); // only s1's own mapping, learned at registration
	// a NAK from someone other than the current server is ignored
	gsn_harp_pkt nak{};
	nak.hrd = GSN_HARP_HRD_HIPARP;
	nak.op = GSN_HARP_OP_NAK;
	memcpy(nak.sha, a->ula.data(), 6);
	nak.tpa = ip_of(78);
	uint8_t wire[GSN_HARP_LEN];
	gsn_harp_encode(&nak, wire);
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, ip_of(78), got.data()));
	EXPECT_EQ(-ENOENT, gsn_harp_input(a->h, b->ula.data(), wire, sizeof(wire)));
	EXPECT_EQ(1u, a->results.size());
}

TEST_F(HarpServer, FailoverWhenTheServerStopsAnswering)
{
	s1->alive = false;
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, b->ip, got.data()));
	m.advance(100 * kMs);
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(0, a->results[0].status);
	EXPECT_EQ(b->ula, a->results[0].ula);
	Ula cur{};
	ASSERT_TRUE(gsn_harp_current_server(a->h, cur.data()));
	EXPECT_EQ(s2->ula, cur);
	EXPECT_EQ(1u, a->stats().server_drops);
	EXPECT_EQ(5u, m.count(a->id, GSN_HARP_OP_REQUEST, false)); // 4 to s1, then 1 to s2
}

TEST_F(HarpServer, WithEveryServerGoneRegistrationStartsOverUntilOneAnswers)
{
	s1->alive = false;
	s2->alive = false;
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, b->ip, got.data()));
	m.advance(300 * kMs);
	EXPECT_EQ(GSN_HARP_MODE_REGISTER, a->mode());
	EXPECT_GE(a->stats().server_drops, 2u);
	EXPECT_GE(a->stats().reg_restarts, 1u);
	EXPECT_TRUE(a->results.empty()); // still waiting (gives up after 1 s)
	size_t inarp_before = m.count(a->id, GSN_HARP_OP_INARP_REQUEST, false);
	m.advance(100 * kMs); // rounds every 20 ms keep going
	EXPECT_GE(m.count(a->id, GSN_HARP_OP_INARP_REQUEST, false), inarp_before + 5);
	s2->alive = true;
	m.advance(25 * kMs);
	EXPECT_EQ(GSN_HARP_MODE_REGISTERED, a->mode());
	Ula cur{};
	ASSERT_TRUE(gsn_harp_current_server(a->h, cur.data()));
	EXPECT_EQ(s2->ula, cur);
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(0, a->results[0].status);
	EXPECT_EQ(b->ula, a->results[0].ula);
}

TEST_F(HarpServer, PendingResolutionGivesUpAfterTheResolveTimeout)
{
	s1->alive = false;
	s2->alive = false;
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, b->ip, got.data()));
	m.advance(1100 * kMs);
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(-ETIMEDOUT, a->results[0].status);
}

TEST_F(HarpServer, ClientsReregisterAndServersKeepThem)
{
	uint64_t before = a->stats().registrations;
	m.advance(5 * kSec); // re-register every 900 ms; servers forget after 1200 ms
	EXPECT_GE(a->stats().registrations, before + 5);
	EXPECT_EQ(GSN_HARP_MODE_REGISTERED, a->mode());
	auto l = list(*s1);
	ASSERT_EQ(1u, l.e.count(a->ip));
	EXPECT_LT(l.e[a->ip].age_ns, 900 * kMs);
	EXPECT_EQ(0u, s1->stats().clients_forgotten);
}

TEST_F(HarpServer, ServerForgetsSilentClients)
{
	b->alive = false;
	m.advance(1300 * kMs);
	auto l = list(*s1);
	EXPECT_EQ(0u, l.e.count(b->ip));
	EXPECT_EQ(1u, l.e.count(a->ip));
	EXPECT_EQ(1u, s1->stats().clients_forgotten);
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a->h, b->ip, got.data()));
	m.pump();
	ASSERT_EQ(1u, a->results.size());
	EXPECT_EQ(-EHOSTUNREACH, a->results[0].status);
}

TEST(HarpServerStart, ResolutionWaitsForRegistration)
{
	Medium m;
	m.broadcast = false;
	auto &s = add(m, 101, true);
	auto &a = add(m, 1, false, {101});
	auto &b = add(m, 2, false, {101});
	gsn_harp_start(s.h);
	gsn_harp_start(b.h);
	m.advance(15 * kMs);
	gsn_harp_start(a.h);
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
	EXPECT_EQ(0u, m.count(a.id, GSN_HARP_OP_REQUEST, false));
	m.advance(15 * kMs);
	ASSERT_EQ(1u, a.results.size());
	EXPECT_EQ(0, a.results[0].status);
	EXPECT_EQ(b.ula, a.results[0].ula);
	EXPECT_EQ(1u, m.count(a.id, GSN_HARP_OP_REQUEST, false));
}

TEST(HarpStatic, StaticEntriesNeverAge)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1, false, {}, false); // default timers: 15 min
	auto &b = add(m, 2, false, {}, false);
	for (auto &s : m.st)
		gsn_harp_start(s->h);
	m.pump();
	ASSERT_EQ(0, gsn_harp_add_static(a.h, ip_of(3), ula_of(3).data()));
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
	m.pump();
	ASSERT_EQ(2u, gsn_harp_count(a.h));
	size_t sent = m.log.size();

	m.advance(5ull * 3600 * kSec); // five hours
	auto l = list(a);
	ASSERT_EQ(1u, l.e.size()); // the unused dynamic entry is gone
	EXPECT_EQ(GSN_HARP_F_STATIC, l.e[ip_of(3)].flags);
	EXPECT_GE(l.e[ip_of(3)].age_ns, 5ull * 3600 * kSec);
	EXPECT_EQ(0, gsn_harp_resolve(a.h, ip_of(3), got.data()));
	EXPECT_EQ(ula_of(3), got);
	EXPECT_EQ(sent, m.log.size()); // nothing was asked about the static entry
	EXPECT_EQ(1u, a.stats().expired);
	EXPECT_EQ(UINT64_MAX, gsn_harp_next_deadline(a.h));
	// learned answers never replace a static entry
	ASSERT_EQ(0, gsn_harp_add_static(a.h, b.ip, ula_of(9).data()));
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(b.h, a.ip, got.data()));
	m.pump();
	EXPECT_EQ(0, gsn_harp_resolve(a.h, b.ip, got.data()));
	EXPECT_EQ(ula_of(9), got);
}

TEST(HarpStatic, LoadFromTextAndFileAndDelete)
{
	Medium m;
	auto &a = add(m, 1);
	const char good[] = "# gsn static HARP entries\n"
			    "10.0.0.5   02:00:00:01:00:05\n"
			    "\n"
			    "\t10.0.0.6\t2:0:0:1:0:6   # trailing comment\r\n"
			    "10.0.0.7 02:00:00:01:00:07";
	unsigned bad = 0;
	ASSERT_EQ(0, gsn_harp_load_static(a.h, good, strlen(good), &bad));
	EXPECT_EQ(3u, gsn_harp_count(a.h));
	Ula got{};
	EXPECT_EQ(0, gsn_harp_resolve(a.h, ip_of(6), got.data()));
	EXPECT_EQ(ula_of(6), got);

	for (const char *text : {"10.0.0.8 02:00:00:01:00:08\n10.0.0.9\n",
				 "10.0.0.8 02:00:00:01:00:08\n10.0.0.300 02:00:00:01:00:09\n",
				 "10.0.0.8 02:00:00:01:00:08\n10.0.0.9 ff:ff:ff:ff:ff:ff\n",
				 "10.0.0.8 02:00:00:01:00:08\n10.0.0.9 02:00:00:01:00:09 extra\n",
				 "10.0.0.8 02:00:00:01:00:08\n10.0.0.1 02:00:00:01:00:09\n",
				 "10.0.0.8 02:00:00:01:00:08\n010.0.0.9.1 02:00:00:01:00:09\n"}) {
		bad = 0;
		EXPECT_EQ(-EINVAL, gsn_harp_load_static(a.h, text, strlen(text), &bad)) << text;
		EXPECT_EQ(2u, bad) << text;
		EXPECT_EQ(3u, gsn_harp_count(a.h)) << text; // nothing added
	}

	char path[] = "/tmp/gsn-harp-static-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	const char file[] = "10.0.0.10 02:00:00:01:00:0a\n";
	ASSERT_EQ(static_cast<ssize_t>(strlen(file)), write(fd, file, strlen(file)));
	close(fd);
	EXPECT_EQ(0, gsn_harp_load_static_file(a.h, path, &bad));
	unlink(path);
	EXPECT_EQ(-ENOENT, gsn_harp_load_static_file(a.h, path, &bad));
	EXPECT_EQ(4u, gsn_harp_count(a.h));

	EXPECT_EQ(0, gsn_harp_delete(a.h, ip_of(10)));
	EXPECT_EQ(-ENOENT, gsn_harp_delete(a.h, ip_of(10)));
	EXPECT_EQ(3u, gsn_harp_count(a.h));

	uint32_t ip = 0;
	EXPECT_EQ(0, gsn_harp_parse_ip("192.168.1.255", &ip));
	EXPECT_EQ(0xC0A801FFu, ip);
	for (const char *s : {"", "1.2.3", "1.2.3.4.", "1.2.3.256", "1..2.3", "1.2.3.4 ", "a.b.c.d",
			      "1.2.3.0004"})
		EXPECT_EQ(-EINVAL, gsn_harp_parse_ip(s, &ip)) << s;
}

TEST(HarpStatic, AddingAStaticEntryCompletesAPendingResolution)
{
	Medium m;
	m.broadcast = false;
	auto &a = add(m, 1, false, {101}); // its server never answers
	gsn_harp_start(a.h);
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, ip_of(5), got.data()));
	m.advance(50 * kMs);
	EXPECT_TRUE(a.results.empty());
	ASSERT_EQ(0, gsn_harp_add_static(a.h, ip_of(5), ula_of(5).data()));
	ASSERT_EQ(1u, a.results.size());
	EXPECT_EQ(0, a.results[0].status);
	EXPECT_EQ(ula_of(5), a.results[0].ula);
	EXPECT_EQ(-EINVAL, gsn_harp_add_static(a.h, a.ip, ula_of(5).data()));
	EXPECT_EQ(-EINVAL, gsn_harp_add_static(a.h, ip_of(6), Ula{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}.data()));
}

TEST(HarpCache, UsedEntriesAreRevalidatedUnusedOnesExpire)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1), &b = add(m, 2), &c = add(m, 3);
	for (auto &s : m.st)
		gsn_harp_start(s->h);
	m.pump();
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, c.ip, got.data()));
	m.pump();
	ASSERT_EQ(2u, a.results.size());
	EXPECT_EQ(0, gsn_harp_resolve(a.h, b.ip, got.data())); // b is in use, c is not

	m.advance(905 * kMs);
	auto l = list(a);
	EXPECT_EQ(0u, l.e.count(c.ip));
	ASSERT_EQ(1u, l.e.count(b.ip));
	EXPECT_EQ(GSN_HARP_F_DYNAMIC, l.e[b.ip].flags);
	EXPECT_LT(l.e[b.ip].age_ns, 10 * kMs); // confirmed again
	EXPECT_EQ(1u, a.stats().revalidations);
	EXPECT_EQ(2u, a.results.size()); // revalidation is silent

	// b goes away while in use: the revalidation fails and the entry goes
	EXPECT_EQ(0, gsn_harp_resolve(a.h, b.ip, got.data()));
	b.alive = false;
	m.advance(950 * kMs);
	EXPECT_EQ(2u, a.stats().revalidations);
	EXPECT_EQ(0u, list(a).e.count(b.ip));
	EXPECT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
}

TEST(HarpBroadcast, CrossingRequestsCompleteBothResolutions)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1), &b = add(m, 2);
	for (auto &s : m.st)
		gsn_harp_start(s->h);
	m.pump();
	Ula got{};
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(a.h, b.ip, got.data()));
	ASSERT_EQ(-EINPROGRESS, gsn_harp_resolve(b.h, a.ip, got.data()));
	m.pump();
	for (Station *s : {&a, &b}) {
		ASSERT_EQ(1u, s->results.size());
		EXPECT_EQ(0, s->results[0].status);
	}
	EXPECT_EQ(b.ula, a.results[0].ula);
	EXPECT_EQ(a.ula, b.results[0].ula);
	m.advance(100 * kMs); // no late timeout
	EXPECT_EQ(1u, a.results.size());
	EXPECT_EQ(1u, b.results.size());
}

TEST(HarpInput, UnknownOperationsAndGarbageAreDroppedAndCounted)
{
	Medium m;
	m.reflect = true;
	auto &a = add(m, 1), &b = add(m, 2);
	uint8_t wire[GSN_HARP_LEN];
	gsn_harp_pkt p{};
	p.hrd = GSN_HARP_HRD_IEEE802; // accepted
	p.op = GSN_HARP_OP_REQUEST;
	memcpy(p.sha, b.ula.data(), 6);
	p.spa = b.ip;
	p.tpa = a.ip;
	gsn_harp_encode(&p, wire);
	// not started: ignored
	EXPECT_EQ(-ENOENT, gsn_harp_input(a.h, b.ula.data(), wire, sizeof(wire)));
	gsn_harp_start(a.h);
	m.pump();
	size_t sent = m.log.size();
	EXPECT_EQ(0, gsn_harp_input(a.h, b.ula.data(), wire, sizeof(wire)));
	EXPECT_EQ(sent + 1, m.log.size()); // answered
	EXPECT_EQ(GSN_HARP_OP_REPLY, m.log.back().op());

	p.op = 3; // RARP request: not ours
	gsn_harp_encode(&p, wire);
	EXPECT_EQ(-EPROTONOSUPPORT, gsn_harp_input(a.h, b.ula.data(), wire, sizeof(wire)));
	EXPECT_EQ(-EINVAL, gsn_harp_input(a.h, b.ula.data(), wire, 20));
	uint8_t junk[40];
	memset(junk, 0xA5, sizeof(junk));
	EXPECT_EQ(-EINVAL, gsn_harp_input(a.h, b.ula.data(), junk, sizeof(junk)));
	p.op = GSN_HARP_OP_REQUEST;
	memset(p.sha, 0xFF, 6); // a group sender
	gsn_harp_encode(&p, wire);
	EXPECT_EQ(-EINVAL, gsn_harp_input(a.h, b.ula.data(), wire, sizeof(wire)));
	memcpy(p.sha, b.ula.data(), 6);
	gsn_harp_encode(&p, wire);
	const Ula bc = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}; // a Message source is never a group
	EXPECT_EQ(-EINVAL, gsn_harp_input(a.h, bc.data(), wire, sizeof(wire)));
	EXPECT_EQ(sent + 1, m.log.size()); // none of these was answered
	auto st = a.stats();
	EXPECT_EQ(1u, st.unknown_op);
	EXPECT_EQ(4u, st.malformed);
}
