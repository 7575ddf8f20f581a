// SPDX-License-Identifier: MIT
// Links between gsnd processes this test starts itself, so it owns the
// cables: a restarted endpoint resets the link with a new incarnation;
// malformed frames from a raw UDP socket are dropped and counted, and the
// link still works with a proper peer afterwards.
#include "fabric_fixture.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include <gsn/admin.h>
#include <gsn/cable.h>
#include <gsn/mpkt.h>
#include "cable.h"
#include "link.h"
}

using namespace gsnit;

namespace {

const char *kUlaA = "02:00:00:00:0a:0a";
const char *kUlaB = "02:00:00:00:0b:0b";
constexpr uint16_t kEther = 0x88B5;
const uint8_t kPing[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

class IntegLink : public FabricTest {
protected:
	std::vector<std::string> EndpointArgs(const std::string &name, const char *ula,
					      const std::string &cable)
	{
		return {"--role", "endpoint", "--name", name, "--ports", "1", "--ula", ula,
			"--broadcast", "on", "--rundir", rundir_, "--cable", "0=" + cable};
	}

	// Waits for the element's links; returns its connection.
	std::unique_ptr<Ctl> Up(const std::string &name)
	{
		auto c = Connect(name, 20000);
		if (!c) {
			ADD_FAILURE() << name << ": no control socket";
			return nullptr;
		}
		int rc = c->LinkWait(20000);
		EXPECT_EQ(rc, 0) << name << ": LINK_WAIT " << strerror(-rc) << "\n"
				 << Dump(c->Stats(), "port0.link.");
		return c;
	}

	void PingAndMessage(Ctl &from, Ctl &to_rx, const char *to_ula)
	{
		AdminAnswer r =
			Admin(from, GSN_CTL_ADMIN_BY_ROUTE, 0, GSN_ADMIN_ARE_YOU_THERE, {}, nullptr, kPing);
		ASSERT_TRUE(r.ok()) << r.reply.describe();
		EXPECT_EQ(memcmp(r.args, kPing, 16), 0);
		uint8_t dst[6];
		ASSERT_TRUE(UlaParse(to_ula, dst));
		Bytes p = Pattern(NowMs(), 5000);
		size_t before = to_rx.raw.size();
		Reply s = from.RawSend(1, kEther, dst, p);
		ASSERT_TRUE(s.ok()) << s.describe();
		ASSERT_TRUE(to_rx.WaitRaw(before + 1, 10000)) << "Message not delivered";
		EXPECT_TRUE(to_rx.raw.back().data == p);
	}
};

// a ─udp─ b, both started here.  b is killed (SIGKILL) and started again on
// its end of the same cable.
TEST_F(IntegLink, RestartedEndpointResetsLinkWithNewIncarnation)
{
	int fds[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(fds), 0);
	// Each gsnd gets a dup: the test keeps b's end to restart b on it.
	int afd = dup(fds[0]);
	close(fds[0]);
	int bfd = fds[1];
	ASSERT_GE(afd, 0);
	pid_t apid = SpawnGsnd("a", EndpointArgs("a", kUlaA, "udp-fd:" + std::to_string(afd)), {afd});
	close(afd);
	pid_t bpid = SpawnGsnd("b", EndpointArgs("b", kUlaB, "udp-fd:" + std::to_string(bfd)), {bfd});
	ASSERT_GT(apid, 0);
	ASSERT_GT(bpid, 0);

	auto a = Up("a");
	auto b = Up("b");
	ASSERT_TRUE(a && b);
	ASSERT_TRUE(b->Bind(kEther).ok());
	KV sa = a->Stats(), sb = b->Stats();
	const std::string inc_a = HexNorm(sa["port0.link.incarnation"]);
	const std::string inc_b1 = HexNorm(sb["port0.link.incarnation"]);
	ASSERT_NE(inc_a, "0") << Dump(sa, "port0.link.");
	ASSERT_NE(inc_b1, "0") << Dump(sb, "port0.link.");
	EXPECT_EQ(HexNorm(sa["port0.link.peer_incarnation"]), inc_b1);
	EXPECT_EQ(HexNorm(sb["port0.link.peer_incarnation"]), inc_a);
	EXPECT_EQ(sa["port0.link.state"], "up");
	EXPECT_EQ(a->Status()["link.0"], "up");
	const uint64_t resets0 = U64(sa, "port0.link.resets");
	PingAndMessage(*a, *b, kUlaB);

	// Kill b outright and start a new b on the same cable end.
	b.reset();
	int st = KillGsnd(bpid, SIGKILL);
	ASSERT_TRUE(WIFSIGNALED(st)) << DescribeStatus(st);
	bpid = SpawnGsnd("b", EndpointArgs("b", kUlaB, "udp-fd:" + std::to_string(bfd)), {bfd});
	ASSERT_GT(bpid, 0);
	b = Up("b");
	ASSERT_TRUE(b);
	ASSERT_TRUE(b->Bind(kEther).ok());

	// a saw the new incarnation and reset the link.
	KV sa2;
	bool reset_seen = WaitFor(
		[&] {
			sa2 = a->Stats();
			return U64(sa2, "port0.link.resets") > resets0 && sa2["port0.link.state"] == "up";
		},
		15000, 50);
	KV sb2 = b->Stats();
	const std::string inc_b2 = HexNorm(sb2["port0.link.incarnation"]);
	EXPECT_TRUE(reset_seen) << "a:\n" << Dump(sa2, "port0.link.") << "b:\n" << Dump(sb2, "port0.link.");
	EXPECT_NE(inc_b2, inc_b1) << "a restarted gsnd must choose a new incarnation";
	EXPECT_NE(inc_b2, "0");
	EXPECT_EQ(HexNorm(sa2["port0.link.peer_incarnation"]), inc_b2) << "a adopted b's new incarnation";
	EXPECT_EQ(HexNorm(sa2["port0.link.incarnation"]), inc_a) << "a itself did not restart";
	EXPECT_EQ(HexNorm(sb2["port0.link.peer_incarnation"]), inc_a);
	EXPECT_EQ(a->Status()["link.0"], "up");
	EXPECT_EQ(b->Status()["ula"], kUlaB);

	// And the link carries traffic both ways again.
	auto arx = Connect("a");
	ASSERT_TRUE(arx->Bind(kEther).ok());
	PingAndMessage(*a, *b, kUlaB);
	PingAndMessage(*b, *arx, kUlaA);

	// A graceful restart (SIGTERM) too.
	b.reset();
	st = StopGsnd(bpid);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "gsnd on SIGTERM: " << DescribeStatus(st);
	bpid = SpawnGsnd("b", EndpointArgs("b", kUlaB, "udp-fd:" + std::to_string(bfd)), {bfd});
	b = Up("b");
	ASSERT_TRUE(b);
	ASSERT_TRUE(b->Bind(kEther).ok());
	const uint64_t resets1 = U64(sa2, "port0.link.resets");
	EXPECT_TRUE(WaitFor([&] { return U64(a->Stats(), "port0.link.resets") > resets1; }, 15000, 50))
		<< Dump(a->Stats(), "port0.link.");
	EXPECT_NE(HexNorm(b->Stats()["port0.link.incarnation"]), inc_b2);
	PingAndMessage(*a, *b, kUlaB);
	close(bfd);
}

std::string ShmSpec(const gsn_cable_shm_pair &p, int side)
{
	return "shm-fd:" + std::to_string(p.memfd) + "," + std::to_string(side) + "," +
	       std::to_string(p.evfd[side]) + "," + std::to_string(p.evfd[1 - side]);
}

// sw with a on port 0 and b on port 1, shm cables, all started here, ULAs
// assigned by sw.  b is killed while a streams Messages to it and started
// again on its end of the same ring pair: it gets the same ULA back, sw's
// link resets, the stream resumes, and new Messages arrive complete and in
// order.
TEST_F(IntegLink, EndpointRestartedBehindSwitchOnShmKeepsItsUla)
{
	gsn_cable_shm_pair ca, cb;
	ASSERT_EQ(gsn_cable_shm_create_pair(&ca, 0, 0), 0);
	ASSERT_EQ(gsn_cable_shm_create_pair(&cb, 0, 0), 0);
	const std::vector<int> fa = {ca.memfd, ca.evfd[0], ca.evfd[1]};
	const std::vector<int> fb = {cb.memfd, cb.evfd[0], cb.evfd[1]};
	std::vector<int> fsw = fa;
	fsw.insert(fsw.end(), fb.begin(), fb.end());
	auto ep = [&](const std::string &name, const gsn_cable_shm_pair &p) {
		return std::vector<std::string>{"--role", "endpoint", "--name", name, "--ports", "1",
						"--broadcast", "on", "--rundir", rundir_, "--cable",
						"0=" + ShmSpec(p, 1)};
	};
	ASSERT_GT(SpawnGsnd("sw", {"--role", "switch", "--name", "sw", "--ports", "2", "--broadcast", "on",
				   "--rundir", rundir_, "--cable", "0=" + ShmSpec(ca, 0), "--cable",
				   "1=" + ShmSpec(cb, 0)},
			    fsw),
		  0);
	ASSERT_GT(SpawnGsnd("a", ep("a", ca), fa), 0);
	pid_t bpid = SpawnGsnd("b", ep("b", cb), fb);
	ASSERT_GT(bpid, 0);
	auto sw = Up("sw");
	auto a = Up("a");
	auto b = Up("b");
	ASSERT_TRUE(sw && a && b);
	const std::string bula = b->Status()["ula"];
	uint8_t bu[6];
	ASSERT_TRUE(UlaParse(bula, bu)) << bula;
	EXPECT_EQ(bu[5], 1) << "b is on sw's port 1";
	const std::string sw_peer1 = HexNorm(sw->Stats()["port1.link.peer_incarnation"]);

	// Stream to b; kill b in the middle of it.
	Reply r = a->Gen(bu, 1, 60000, 500);
	ASSERT_TRUE(r.ok()) << r.describe();
	ASSERT_TRUE(WaitFor([&] { return U64(b->Stats(), "sink.msgs") >= 20; }, 20000))
		<< Dump(b->Stats(), "sink.");
	b.reset();
	KillGsnd(bpid, SIGKILL);
	bpid = SpawnGsnd("b", ep("b", cb), fb);
	ASSERT_GT(bpid, 0);
	b = Up("b");
	ASSERT_TRUE(b);
	EXPECT_EQ(b->Status()["ula"], bula) << "a restarted endpoint gets its address back";
	KV ssw;
	EXPECT_TRUE(WaitFor(
		[&] {
			ssw = sw->Stats();
			return U64(ssw, "port1.link.resets") > 0 && ssw["port1.link.state"] == "up";
		},
		15000, 50))
		<< Dump(ssw, "port1.link.");
	EXPECT_NE(HexNorm(ssw["port1.link.peer_incarnation"]), sw_peer1);
	EXPECT_EQ(HexNorm(ssw["port1.link.peer_incarnation"]), HexNorm(b->Stats()["port0.link.incarnation"]));

	// The stream finishes (what was cut is lost; nothing wedges).
	KV ga;
	ASSERT_TRUE(WaitFor(
		[&] {
			ga = a->Stats();
			return U64(ga, "gen.active") == 0;
		},
		60000, 50))
		<< "a's generator never finished after b's restart\n"
		<< Dump(ga, "gen.") << Dump(ga, "port0.link.") << Dump(sw->Stats(), "port1.link.");
	EXPECT_EQ(U64(ga, "gen.msgs"), 500u) << Dump(ga, "gen.");

	// New Messages, both ways, complete and in order.
	ASSERT_TRUE(b->Bind(kEther).ok());
	std::vector<Bytes> sent;
	for (int i = 0; i < 40; i++) {
		sent.push_back(Pattern(900 + i, 1000 + 997 * i));
		Reply s = a->RawSend(1, kEther, bu, sent.back());
		ASSERT_TRUE(s.ok()) << s.describe();
	}
	ASSERT_TRUE(b->WaitRaw(sent.size(), 30000)) << b->raw.size() << " of " << sent.size()
						    << "\n" << Dump(b->Stats(), "msg.");
	for (size_t i = 0; i < sent.size(); i++)
		ASSERT_TRUE(b->raw[i].data == sent[i]) << "Message " << i;
	auto arx = Connect("a");
	ASSERT_TRUE(arx->Bind(kEther).ok());
	PingAndMessage(*b, *arx, a->Status()["ula"].c_str());
	AdminAnswer w = Admin(*a, GSN_CTL_ADMIN_TO_ULA, 0, GSN_ADMIN_WHAT_ARE_YOU, {}, bu, nullptr);
	ASSERT_TRUE(w.ok()) << w.reply.describe();
	EXPECT_EQ(UlaStr(w.args + 2), bula);
	gsn_cable_shm_pair_close(&ca);
	gsn_cable_shm_pair_close(&cb);
}

// ---- malformed frames ----

struct Frame {
	Bytes b;
};

Bytes FrameHeader(uint8_t version, uint8_t flags, uint16_t count, uint32_t inc, uint32_t tseq, uint32_t rseq)
{
	gsn_frame_hdr h = {version, flags, count, inc, tseq, rseq, 0};
	Bytes b(GSN_FRAME_HDR_LEN);
	gsn_frame_hdr_encode(&h, b.data());
	return b;
}

void AppendMpkt(Bytes &f, uint8_t vc, uint8_t type, uint8_t tseq, uint8_t rseq, const uint8_t *data)
{
	gsn_mpkt_ctl c = {};
	c.vc = vc;
	c.type = type;
	c.tseq = tseq;
	c.rseq = rseq;
	uint8_t mp[GSN_MPKT_LEN];
	gsn_mpkt_encode(&c, data, mp);
	f.insert(f.end(), mp, mp + GSN_MPKT_LEN);
}

class Garbage {
public:
	explicit Garbage(int fd) : fd_(fd) {}
	void Send(const Bytes &b)
	{
		ssize_t n = send(fd_, b.data(), b.size(), 0);
		if (n == (ssize_t)b.size())
			sent++;
		else
			ADD_FAILURE() << "send " << b.size() << ": " << strerror(errno);
	}
	// Every kind of bad frame; returns how many of each went out.
	std::map<std::string, int> All(uint64_t seed)
	{
		std::map<std::string, int> n;
		uint8_t data[32];
		Bytes rnd = Pattern(seed, 70000);
		size_t off = 0;
		// random bytes (never starting with the magic)
		for (int i = 0; i < 20; i++) {
			size_t len = 24 + (size_t)(rnd[off] * 7 + i * 97) % 3000;
			Bytes b(rnd.begin() + (long)off, rnd.begin() + (long)(off + len));
			b[0] = 'X';
			off = (off + len) % 60000;
			Send(b);
			n["bad_magic"]++;
		}
		// right magic, wrong version
		Bytes f = FrameHeader(2, 0, 1, 0x1234, 0, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 0, 0, rnd.data());
		Send(f);
		n["bad_version"]++;
		// wrong magic, otherwise fine
		f = FrameHeader(1, 0, 1, 0x1234, 0, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 0, 0, rnd.data());
		f[3] = 'X';
		Send(f);
		n["bad_magic"]++;
		// truncated: count says 3, one micropacket follows; and a short header
		f = FrameHeader(1, 0, 3, 0x1234, 0, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 0, 0, rnd.data());
		Send(f);
		Send(Bytes(f.begin(), f.begin() + 10));
		Send(Bytes(f.begin(), f.begin() + 1));
		n["bad_length"] += 3;
		// longer than its count
		f = FrameHeader(1, 0, 1, 0x1234, 0, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 0, 0, rnd.data());
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 1, 0, rnd.data());
		Send(f);
		n["bad_length"]++;
		// micropacket bytes cut in the middle
		f = FrameHeader(1, 0, 2, 0x1234, 0, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 0, 0, rnd.data());
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 1, 0, rnd.data());
		f.resize(f.size() - 17);
		Send(f);
		n["bad_length"]++;
		// header check flag with a wrong check
		f = FrameHeader(1, GSN_LINK_FRAME_F_HCRC, 1, 0x1234, 5, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 5, 0, rnd.data());
		f[20] ^= 0xff;
		Send(f);
		n["bad_header_check"]++;
		// sequence numbers disagreeing with the header (TSEQ, then RSEQ)
		f = FrameHeader(1, 0, 1, 0x1234, 100, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 7, 0, rnd.data());
		Send(f);
		f = FrameHeader(1, 0, 1, 0x1234, 100, 50);
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 100, 51, rnd.data());
		Send(f);
		n["seq_disagree"] += 2;
		// a handshake with a damaged LCRC must not (re)start anything
		uint32_t credits[4] = {100, 100, 100, 100};
		gsn_link_hs_encode(credits, 0xdead0001, 0, data);
		f = FrameHeader(1, 0, 1, 0xdead0001, 0, 0);
		AppendMpkt(f, 0, GSN_MPKT_T_INIT, 0, 0, data);
		f[GSN_FRAME_HDR_LEN + 8 + 3] ^= 0x10;
		gsn_link_frame_seal(f.data());
		Send(f);
		n["bad_lcrc"]++;
		// well-formed data from an incarnation nobody adopted
		f = FrameHeader(1, 0, 2, 0xdead0002, 9, 0);
		AppendMpkt(f, 1, GSN_MPKT_T_HEADER, 9, 0, rnd.data());
		AppendMpkt(f, 1, GSN_MPKT_T_DATA, 10, 0, rnd.data());
		gsn_link_frame_seal(f.data());
		Send(f);
		n["wrong_incarnation"]++;
		// a reserved micropacket type
		f = FrameHeader(1, 0, 1, 0xdead0002, 0, 0);
		AppendMpkt(f, 1, 6, 0, 0, rnd.data());
		Send(f);
		n["any"]++;
		// an empty datagram
		Send(Bytes());
		n["any"]++;
		return n;
	}
	int sent = 0;

private:
	int fd_;
};

uint16_t FreeUdpPort()
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_in sa = {};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	if (s < 0 || bind(s, (sockaddr *)&sa, sizeof(sa)) || getsockname(s, (sockaddr *)&sa, &len)) {
		if (s >= 0)
			close(s);
		return 0;
	}
	close(s);
	return ntohs(sa.sin_port);
}

uint64_t AllDrops(const KV &kv)
{
	return SumKeys(kv, "port0.link.drops.") + U64(kv, "port0.cable.truncated") +
	       U64(kv, "port0.cable.rx_errors");
}

// gsnd a on udp:127.0.0.1:P1=127.0.0.1:P2; the test owns P2's socket.
// Garbage first while a's link waits for a peer, then a real gsnd b takes
// over P2's socket; more garbage while the link is up; the link stays up
// and carries traffic.
TEST_F(IntegLink, MalformedFramesAreDroppedAndCounted)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	sockaddr_in mine = {}, peer = {};
	mine.sin_family = AF_INET;
	mine.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(mine);
	ASSERT_EQ(bind(s, (sockaddr *)&mine, sizeof(mine)), 0);
	ASSERT_EQ(getsockname(s, (sockaddr *)&mine, &len), 0);
	uint16_t p1 = FreeUdpPort();
	ASSERT_NE(p1, 0);
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.sin_port = htons(p1);
	ASSERT_EQ(connect(s, (sockaddr *)&peer, sizeof(peer)), 0);
	int p2 = ntohs(mine.sin_port);

	std::string spec = "udp:127.0.0.1:" + std::to_string(p1) + "=127.0.0.1:" + std::to_string(p2);
	pid_t apid = SpawnGsnd("a", EndpointArgs("a", kUlaA, spec), {});
	ASSERT_GT(apid, 0);
	auto a = Connect("a", 20000);
	ASSERT_TRUE(a) << "gsnd a has no control socket";
	ASSERT_TRUE(WaitFor([&] { return a->Stats()["port0.link.state"] == "init"; }, 10000))
		<< Dump(a->Stats(), "port0.");

	// Round 1: a's link has no peer yet.
	Garbage g(s);
	KV s0 = a->Stats();
	auto n = g.All(1);
	KV s1;
	bool counted = WaitFor(
		[&] {
			s1 = a->Stats();
			return AllDrops(s1) >= AllDrops(s0) + (uint64_t)g.sent;
		},
		10000, 50);
	EXPECT_TRUE(counted) << g.sent << " bad frames sent; drops:\n" << Dump(s1, "port0.");
	auto delta = [&](const KV &x, const KV &y, const std::string &why) {
		return U64(y, "port0.link.drops." + why) - U64(x, "port0.link.drops." + why);
	};
	for (const char *why : {"bad_magic", "bad_version", "bad_length", "bad_header_check", "seq_disagree"})
		EXPECT_GE(delta(s0, s1, why), (uint64_t)n[why]) << why << "\n" << Dump(s1, "port0.");
	EXPECT_NE(s1["port0.link.state"], "up") << "garbage brought the link up";
	EXPECT_EQ(a->Status()["name"], "a") << "gsnd still answers";

	// A proper peer on the same socket (the test keeps its copy).
	pid_t bpid = SpawnGsnd("b", EndpointArgs("b", kUlaB, "udp-fd:" + std::to_string(s)), {s});
	ASSERT_GT(bpid, 0);
	auto b = Up("b");
	ASSERT_TRUE(b);
	ASSERT_EQ(a->LinkWait(20000), 0) << Dump(a->Stats(), "port0.");
	ASSERT_TRUE(b->Bind(kEther).ok());
	auto arx = Connect("a");
	ASSERT_TRUE(arx->Bind(kEther).ok());
	PingAndMessage(*a, *b, kUlaB);
	KV s2 = a->Stats();

	// Round 2: garbage from the peer's own address while the link is up.
	auto n2 = g.All(2);
	KV s3;
	counted = WaitFor(
		[&] {
			s3 = a->Stats();
			return AllDrops(s3) >= AllDrops(s2) + (uint64_t)(n2["bad_magic"] + n2["bad_length"]);
		},
		10000, 50);
	EXPECT_TRUE(counted) << Dump(s3, "port0.");
	for (const char *why : {"bad_magic", "bad_version", "bad_length", "bad_header_check"})
		EXPECT_GE(delta(s2, s3, why), (uint64_t)n2[why]) << why << "\n" << Dump(s3, "port0.");
	EXPECT_GE(delta(s2, s3, "bad_lcrc") + delta(s2, s3, "wrong_incarnation") +
			  delta(s2, s3, "seq_disagree"),
		  1u)
		<< Dump(s3, "port0.");
	EXPECT_EQ(U64(s3, "port0.link.resets"), U64(s2, "port0.link.resets")) << "garbage reset the link";
	EXPECT_EQ(s3["port0.link.state"], "up");
	EXPECT_EQ(HexNorm(s3["port0.link.peer_incarnation"]), HexNorm(b->Stats()["port0.link.incarnation"]));
	PingAndMessage(*a, *b, kUlaB);
	PingAndMessage(*b, *arx, kUlaA);
	close(s);
}

}  // namespace
