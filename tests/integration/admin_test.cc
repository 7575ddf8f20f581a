// SPDX-License-Identifier: MIT
// Admin micropackets between real gsnd processes: hop counts 0, 1 and 2,
// routes, ULA assignment by the switches, unknown commands, gsnping.
#include "fabric_fixture.h"

#include <cstring>

extern "C" {
#include <gsn/admin.h>
}

using namespace gsnit;

namespace {

const uint8_t kPing[16] = {0x50, 0x49, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

class IntegAdmin : public FabricTest {};

// Endpoint a and b on one shm cable, no switch: hop 0 is processed by b.
TEST_F(IntegAdmin, HopZeroEndpointToEndpointOnShm)
{
	ASSERT_TRUE(StartFabric("fabric name=ee\n"
				"endpoint a ula=02:00:00:00:01:0a\n"
				"endpoint b ula=02:00:00:00:01:0b\n"
				"cable a.0 b.0 shm\n"));
	auto a = Connect("a");
	ASSERT_TRUE(a);
	EXPECT_EQ(ulas_["a"], "02:00:00:00:01:0a");
	EXPECT_EQ(ulas_["b"], "02:00:00:00:01:0b");

	AdminAnswer r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_ARE_YOU_THERE, {}, nullptr, kPing);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.cmd, GSN_ADMIN_ARE_YOU_THERE);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_RESPONSE);
	EXPECT_FALSE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.status, 0);
	EXPECT_EQ(memcmp(r.args, kPing, 16), 0) << "the ping payload comes back unchanged";
	EXPECT_GT(r.rtt_ns, 0u);

	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_WHAT_ARE_YOU, {}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.args[0], 1) << "b is an endpoint";
	EXPECT_EQ(r.args[1], 1) << "with one port";
	EXPECT_EQ(UlaStr(r.args + 2), "02:00:00:00:01:0b");
	EXPECT_EQ(r.args[8], 0) << "arrival port";

	// Unknown command: answered "invalid" with the error flag.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, 0x55, {}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.cmd, GSN_ADMIN_INVALID);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_RESPONSE);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.status, 1) << "UNSUPPORTED";
	EXPECT_EQ(r.args[0], 0x55) << "names the command not understood";

	// A switch command at an endpoint is not understood either.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_LIST_ULAS, {}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.cmd, GSN_ADMIN_INVALID);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_ERROR);

	// By ULA, the same element.
	uint8_t bula[6];
	ASSERT_TRUE(UlaParse("02:00:00:00:01:0b", bula));
	r = Admin(*a, GSN_CTL_ADMIN_TO_ULA, 0, GSN_ADMIN_ARE_YOU_THERE, {}, bula, kPing);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(memcmp(r.args, kPing, 16), 0);

	ToolResult t = Tool("gsnping", {"-e", "a", "-c", "3", "-i", "0.05", "--hops", "0"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("32 bytes from"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("hops=0"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("3 packets transmitted, 3 received, 0% packet loss"), std::string::npos)
		<< t.out;

	t = Tool("gsnping", {"-e", "a", "-c", "2", "-i", "0.05", "02:00:00:00:01:0b"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("32 bytes from 02:00:00:00:01:0b: seq=1"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("2 packets transmitted, 2 received, 0% packet loss"), std::string::npos)
		<< t.out;
}

// a and c on sw0, b on sw1, sw0.3 -- sw1.2:
//
//   a ─0─ sw0 ─3───2─ sw1 ─1─ b
//          └─1─ c
TEST_F(IntegAdmin, HopsOneAndTwoThroughSwitchesAndAssignedUlas)
{
	ASSERT_TRUE(StartFabric("fabric name=sw2\n"
				"switch sw0 ports=4\n"
				"switch sw1 ports=4\n"
				"endpoint a\n"
				"endpoint b\n"
				"endpoint c\n"
				"cable a.0 sw0.0 shm\n"
				"cable c.0 sw0.1 udp\n"
				"cable sw0.3 sw1.2 udp\n"
				"cable b.0 sw1.1 shm\n"));
	auto a = Connect("a");
	ASSERT_TRUE(a);

	// ULAs assigned by the switches: 02:S0:S1:S2:G:P, distinct, as reported.
	std::map<std::string, std::string> status_ula;
	for (const char *e : {"a", "b", "c", "sw0", "sw1"}) {
		auto c = Connect(e);
		ASSERT_TRUE(c) << e;
		KV st = c->Status();
		status_ula[e] = st["ula"];
		EXPECT_EQ(st["ula"], ulas_[e]) << e << ": STATUS and gsn-fabric's report agree";
		EXPECT_EQ(st["name"], e);
		EXPECT_EQ(st["role"], e[0] == 's' ? "switch" : "endpoint");
	}
	uint8_t ua[6], ub[6], uc[6], us0[6], us1[6];
	ASSERT_TRUE(UlaParse(status_ula["a"], ua)) << status_ula["a"];
	ASSERT_TRUE(UlaParse(status_ula["b"], ub)) << status_ula["b"];
	ASSERT_TRUE(UlaParse(status_ula["c"], uc)) << status_ula["c"];
	ASSERT_TRUE(UlaParse(status_ula["sw0"], us0)) << status_ula["sw0"];
	ASSERT_TRUE(UlaParse(status_ula["sw1"], us1)) << status_ula["sw1"];
	for (const uint8_t *u : {ua, ub, uc})
		EXPECT_EQ(u[0], 0x02) << UlaStr(u) << ": locally administered, assigned";
	EXPECT_NE(status_ula["a"], status_ula["b"]);
	EXPECT_NE(status_ula["a"], status_ula["c"]);
	EXPECT_NE(status_ula["b"], status_ula["c"]);
	EXPECT_EQ(ua[5], 0) << "a is on sw0 port 0";
	EXPECT_EQ(uc[5], 1) << "c is on sw0 port 1";
	EXPECT_EQ(ub[5], 1) << "b is on sw1 port 1";
	EXPECT_EQ(memcmp(ua + 1, us0 + 1, 3), 0) << "a's ULA carries sw0's id";
	EXPECT_EQ(memcmp(uc + 1, us0 + 1, 3), 0) << "c's ULA carries sw0's id";
	EXPECT_EQ(memcmp(ub + 1, us1 + 1, 3), 0) << "b's ULA carries sw1's id";
	EXPECT_EQ(us0[4], 0xff);
	EXPECT_EQ(us0[5], 0xff);

	// Hop 0: the switch at the other end of a's cable answers.
	AdminAnswer r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_WHAT_ARE_YOU, {}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.args[0], 2) << "a switch";
	EXPECT_EQ(r.args[1], 4) << "four ports";
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["sw0"]);
	EXPECT_EQ(r.args[8], 0) << "a arrives on port 0";

	// Hop 1: out of sw0 port 1, c answers.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 1, GSN_ADMIN_WHAT_ARE_YOU, {1}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.args[0], 1);
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["c"]);

	// Hop 1 to sw1: out of sw0 port 3, sw1 answers (arrival port 2).
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 1, GSN_ADMIN_WHAT_ARE_YOU, {3}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.args[0], 2);
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["sw1"]);
	EXPECT_EQ(r.args[8], 2);

	// Hop 2: sw0 port 3, sw1 port 1: b answers, the ping payload comes back.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 2, GSN_ADMIN_WHAT_ARE_YOU, {3, 1}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.args[0], 1);
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["b"]);
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 2, GSN_ADMIN_ARE_YOU_THERE, {3, 1}, nullptr, kPing);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(memcmp(r.args, kPing, 16), 0);
	EXPECT_FALSE(r.flags & GSN_ADMIN_F_ERROR);

	// Switch commands: which port reaches b, at sw1 (hop 1).
	uint8_t args[16] = {};
	memcpy(args, ub, 6);
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 1, GSN_ADMIN_WHICH_PORT, {3}, nullptr, args);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_FALSE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.args[6], 1) << "sw1 reaches b by port 1";
	EXPECT_EQ(r.args[7], 2) << "an assigned entry";

	// A route byte naming no port: BAD_ROUTE from sw0.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 1, GSN_ADMIN_ARE_YOU_THERE, {9}, nullptr, kPing);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.status, 6) << "BAD_ROUTE";

	// Unknown commands, at a switch and two hops away.
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, 0x55, {}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.cmd, GSN_ADMIN_INVALID);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.args[0], 0x55);
	r = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 2, 0x55, {3, 1}, nullptr, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(r.cmd, GSN_ADMIN_INVALID);
	EXPECT_TRUE(r.flags & GSN_ADMIN_F_ERROR);
	EXPECT_EQ(r.status, 1);
	EXPECT_EQ(r.args[0], 0x55);

	// By ULA: gsnd finds the way hop by hop (which-port at each switch).
	// sw0 knows b only once it has learnt b's address from a Message:
	// switches assign the ULAs of their own ports and learn the rest.  A
	// broadcast from b teaches both switches; from a, likewise.
	auto bc = Connect("b");
	ASSERT_TRUE(bc);
	const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	Reply s = bc->RawSend(1, 0x88b9, bcast, Bytes(40, 1));
	ASSERT_TRUE(s.ok()) << s.describe();
	s = a->RawSend(1, 0x88b9, bcast, Bytes(40, 2));
	ASSERT_TRUE(s.ok()) << s.describe();
	memset(args, 0, sizeof(args));
	memcpy(args, ub, 6);
	EXPECT_TRUE(WaitFor(
		[&] {
			AdminAnswer w = Admin(*a, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_WHICH_PORT, {},
					      nullptr, args);
			return w.ok() && w.args[6] == 3 && w.args[7] == 3;
		},
		5000))
		<< "sw0 did not learn b's address behind port 3";
	r = Admin(*a, GSN_CTL_ADMIN_TO_ULA, 0, GSN_ADMIN_WHAT_ARE_YOU, {}, ub, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["b"]);
	r = Admin(*a, GSN_CTL_ADMIN_TO_ULA, 0, GSN_ADMIN_WHAT_ARE_YOU, {}, uc, nullptr);
	ASSERT_TRUE(r.ok()) << r.reply.describe();
	EXPECT_EQ(UlaStr(r.args + 2), status_ula["c"]);

	// gsnping: by ULA (what STATUS says is what answers), by hops and route.
	ToolResult t = Tool("gsnping", {"-e", "a", "-c", "2", "-i", "0.05", status_ula["b"]});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("32 bytes from " + status_ula["b"] + ": seq=1"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("hops=2"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("2 packets transmitted, 2 received, 0% packet loss"), std::string::npos)
		<< t.out;

	t = Tool("gsnping", {"-e", "a", "-c", "2", "-i", "0.05", "--hops", "2", "--route", "3,1"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("hops=2"), std::string::npos) << t.out;
	EXPECT_NE(t.out.find("2 received, 0% packet loss"), std::string::npos) << t.out;

	t = Tool("gsnping", {"-e", "b", "-c", "1", "--hops", "1", "--route", "2"});
	EXPECT_EQ(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("hops=1"), std::string::npos) << t.out;

	// Nobody has this ULA: every ping lost, exit status says so.
	t = Tool("gsnping", {"-e", "a", "-c", "2", "-i", "0.05", "-W", "0.3", "02:00:00:77:77:77"});
	EXPECT_NE(t.code(), 0) << t.describe();
	EXPECT_NE(t.out.find("2 packets transmitted, 0 received, 100% packet loss"), std::string::npos)
		<< t.describe();
}

}  // namespace
