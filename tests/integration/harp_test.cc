// SPDX-License-Identifier: MIT
// HARP between real gsnd processes: resolution on a broadcast fabric, with
// two servers on a non-broadcast one and failover when one dies, static
// entries.
#include "fabric_fixture.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstring>
#include <sstream>

#include <sys/wait.h>

using namespace gsnit;

namespace {

constexpr uint32_t Ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

std::string Lower(std::string s)
{
	for (auto &ch : s)
		ch = (char)tolower((unsigned char)ch);
	return s;
}

// The line of a listing that mentions ip ("" if none).
std::string LineWith(const std::string &text, const std::string &ip)
{
	std::istringstream ss(text);
	std::string line;

	while (std::getline(ss, line)) {
		size_t p = line.find(ip);
		// whole address: not followed by another digit
		while (p != std::string::npos) {
			size_t e = p + ip.size();
			auto part = [&](size_t i) {
				return isdigit((unsigned char)line[i]) || line[i] == '.';
			};
			bool left_ok = p == 0 || !part(p - 1);
			bool right_ok = e >= line.size() || !part(e);
			if (left_ok && right_ok)
				return line;
			p = line.find(ip, p + 1);
		}
	}
	return "";
}

std::string ResolvedUla(const Reply &r)
{
	gsn_ctl_ula u;

	if (!r.ok() || gsn_ctl_ula_decode(r.body.data(), r.body.size(), &u))
		return "";
	return UlaStr(u.ula);
}

class IntegHarp : public FabricTest {};

TEST_F(IntegHarp, ResolvesOnBroadcastFabric)
{
	ASSERT_TRUE(StartFabric("fabric name=hb broadcast=on\n"
				"switch sw0 ports=4\n"
				"endpoint a ip=10.0.0.1\n"
				"endpoint b ip=10.0.0.2\n"
				"endpoint c ip=10.0.0.3\n"
				"cable a.0 sw0.0 shm\n"
				"cable b.0 sw0.1 udp\n"
				"cable c.0 sw0.2 shm\n"));
	auto a = Connect("a");
	ASSERT_TRUE(a);
	std::string bula = Connect("b")->Status()["ula"];
	std::string cula = Connect("c")->Status()["ula"];
	ASSERT_FALSE(bula.empty());

	Reply r = a->Resolve(Ip(10, 0, 0, 2), 10000, 20000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), bula);
	// Our own address needs no network.
	r = a->Resolve(Ip(10, 0, 0, 1), 1000, 5000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), ulas_["a"]);

	ToolResult t = Tool("gsnarp", {"-e", "a", "-r", "10.0.0.3"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find(cula), std::string::npos) << t.describe();

	// The cache lists both.
	t = Tool("gsnarp", {"-e", "a", "-a"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(LineWith(t.out, "10.0.0.2").find(bula), std::string::npos) << t.out;
	EXPECT_NE(LineWith(t.out, "10.0.0.3").find(cula), std::string::npos) << t.out;
	Reply l = a->HarpList();
	ASSERT_TRUE(l.ok()) << l.describe();
	std::string list(l.body.begin(), l.body.end());
	EXPECT_NE(LineWith(list, "10.0.0.2").find(bula), std::string::npos) << list;

	// b learnt a from a's request addressed to it (RFC 826).
	auto b = Connect("b");
	r = b->Resolve(Ip(10, 0, 0, 1), 10000, 20000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), ulas_["a"]);

	// Nobody has this one: the resolution fails (it does not hang).
	uint64_t t0 = NowMs();
	r = a->Resolve(Ip(10, 0, 0, 77), 2500, 20000);
	EXPECT_EQ(r.err, 0) << r.describe();
	EXPECT_LT(r.status, 0) << r.describe();
	EXPECT_LT(NowMs() - t0, 15000u);
}

TEST_F(IntegHarp, TwoServersOnNonBroadcastFabricFailOver)
{
	ASSERT_TRUE(StartFabric("fabric name=hs broadcast=off\n"
				"switch sw0 ports=6\n"
				"endpoint a ip=10.0.1.1\n"
				"endpoint b ip=10.0.1.2\n"
				"endpoint s1 ip=10.0.1.101 harp-server=on\n"
				"endpoint s2 ip=10.0.1.102 harp-server=on\n"
				"harp servers=s1,s2\n"
				"cable a.0 sw0.0 shm\n"
				"cable b.0 sw0.1 shm\n"
				"cable s1.0 sw0.2 udp\n"
				"cable s2.0 sw0.3 udp\n"));
	auto a = Connect("a");
	auto b = Connect("b");
	ASSERT_TRUE(a && b);
	std::string bula = b->Status()["ula"];

	// A server NAKs an address nobody has registered yet, so wait until
	// both clients have registered (a detection timeout and a round).
	for (Ctl *c : {a.get(), b.get()})
		ASSERT_TRUE(WaitFor([&] { return c->Stats()["harp.mode"] == "registered"; }, 15000))
			<< Dump(c->Stats(), "harp.");
	Reply r = a->Resolve(Ip(10, 0, 1, 2), 15000, 25000);
	ASSERT_TRUE(r.ok()) << r.describe() << "\n" << Dump(a->Stats(), "harp.");
	EXPECT_EQ(ResolvedUla(r), bula);

	// Both servers know both clients (clients register with every server).
	for (const char *srv : {"s1", "s2"}) {
		auto sc = Connect(srv);
		ASSERT_TRUE(sc);
		for (uint32_t ip : {Ip(10, 0, 1, 1), Ip(10, 0, 1, 2)}) {
			r = sc->Resolve(ip, 1000, 5000);
			EXPECT_TRUE(r.ok()) << srv << " lacks the registration of " << (ip & 0xff) << ": "
					    << r.describe();
		}
	}

	// Kill the server a uses (the first to answer its registration).
	const std::string cur = a->Stats()["harp.server"];
	std::string victim, other;
	for (const char *s : {"s1", "s2"})
		(ulas_[s] == cur ? victim : other) = s;
	ASSERT_FALSE(victim.empty()) << "a's current server " << cur << " is neither s1 nor s2";
	ASSERT_FALSE(other.empty());
	pid_t vpid = GsndPid(victim);
	ASSERT_GT(vpid, 0) << "gsnd of " << victim << " not found among gsn-fabric's children";
	element_killed_ = true;
	ASSERT_EQ(kill(vpid, SIGKILL), 0);
	ASSERT_TRUE(WaitFor([&] { return !ProcAlive(vpid); }, 5000));

	// Forget b and ask again: the request goes to s1 first, s1 is dropped,
	// s2 answers.
	uint8_t del[GSN_CTL_IPV4_LEN] = {10, 0, 1, 2};
	Reply d = a->Call(GSN_CTL_HARP_DEL, del, sizeof(del));
	ASSERT_TRUE(d.ok()) << d.describe();
	r = a->Resolve(Ip(10, 0, 1, 2), 25000, 35000);
	ASSERT_TRUE(r.ok()) << "after failover: " << r.describe() << "\n" << Dump(a->Stats(), "harp.");
	EXPECT_EQ(ResolvedUla(r), bula);
	EXPECT_EQ(a->Stats()["harp.server"], ulas_[other]) << Dump(a->Stats(), "harp.");
	// And a new address: the surviving server's own.
	r = a->Resolve(other == "s1" ? Ip(10, 0, 1, 101) : Ip(10, 0, 1, 102), 15000, 25000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), ulas_[other]);
	// b fails over as well.
	r = b->Resolve(Ip(10, 0, 1, 1), 25000, 35000);
	ASSERT_TRUE(r.ok()) << r.describe() << "\n" << Dump(b->Stats(), "harp.");
	EXPECT_EQ(ResolvedUla(r), ulas_["a"]);
}

TEST_F(IntegHarp, StaticEntriesAreListedAsStaticAndWin)
{
	ASSERT_TRUE(StartFabric("fabric name=hst broadcast=on\n"
				"switch sw0 ports=4\n"
				"endpoint a ip=10.0.2.1\n"
				"endpoint b ip=10.0.2.2\n"
				"cable a.0 sw0.0 shm\n"
				"cable b.0 sw0.1 shm\n"));
	auto a = Connect("a");
	ASSERT_TRUE(a);

	ToolResult t = Tool("gsnarp", {"-e", "a", "-s", "10.0.2.99", "02:00:00:00:00:99"});
	ASSERT_EQ(t.code(), 0) << t.describe();
	// Through the control socket as well.
	uint8_t add[GSN_CTL_HARP_ADD_LEN];
	gsn_ctl_harp_add h = {{10, 0, 2, 98}, {0x02, 0, 0, 0, 0, 0x98}, GSN_CTL_HARP_STATIC};
	gsn_ctl_harp_add_encode(&h, add);
	Reply r = a->Call(GSN_CTL_HARP_ADD, add, sizeof(add));
	ASSERT_TRUE(r.ok()) << r.describe();

	// Resolution answers from them at once, without the network.
	uint64_t t0 = NowMs();
	r = a->Resolve(Ip(10, 0, 2, 99), 1000, 5000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), "02:00:00:00:00:99");
	r = a->Resolve(Ip(10, 0, 2, 98), 1000, 5000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), "02:00:00:00:00:98");
	EXPECT_LT(NowMs() - t0, 1000u);

	// A static entry for a live station's IP wins over what the network says.
	t = Tool("gsnarp", {"-e", "a", "-s", "10.0.2.2", "02:00:00:00:00:22"});
	ASSERT_EQ(t.code(), 0) << t.describe();
	r = a->Resolve(Ip(10, 0, 2, 2), 3000, 8000);
	ASSERT_TRUE(r.ok()) << r.describe();
	EXPECT_EQ(ResolvedUla(r), "02:00:00:00:00:22");

	// Listed, flagged static (both in HARP_LIST and in gsnarp -a).
	Reply l = a->HarpList();
	ASSERT_TRUE(l.ok()) << l.describe();
	std::string list(l.body.begin(), l.body.end());
	for (const char *ip : {"10.0.2.99", "10.0.2.98", "10.0.2.2"}) {
		std::string line = LineWith(list, ip);
		EXPECT_NE(line, "") << ip << " missing from HARP_LIST:\n" << list;
		EXPECT_NE(Lower(line).find("static"), std::string::npos) << "not flagged static: " << line;
	}
	t = Tool("gsnarp", {"-e", "a", "-a"});
	ASSERT_EQ(t.code(), 0) << t.describe();
	std::string line = LineWith(t.out, "10.0.2.99");
	EXPECT_NE(line.find("02:00:00:00:00:99"), std::string::npos) << t.out;
	EXPECT_NE(Lower(line).find("static"), std::string::npos) << t.out;

	// Deleted, gone.
	t = Tool("gsnarp", {"-e", "a", "-d", "10.0.2.99"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	l = a->HarpList();
	list.assign(l.body.begin(), l.body.end());
	EXPECT_EQ(LineWith(list, "10.0.2.99"), "") << list;
	EXPECT_NE(LineWith(list, "10.0.2.98"), "") << list;
}

}  // namespace
