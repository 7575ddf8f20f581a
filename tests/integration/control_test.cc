// SPDX-License-Identifier: MIT
// gsnd's control socket against bad requests: each is answered with an
// error status, none harms gsnd, and the commands an element does not
// serve are refused.
#include "fabric_fixture.h"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <unistd.h>

extern "C" {
#include <gsn/admin.h>
#include "cable.h"
}

using namespace gsnit;

namespace {

class IntegCtl : public FabricTest {};

// Sends one raw record on c's socket and returns the status of the answer
// with that seq (or a transport error).
int RawRecord(Ctl &c, uint16_t version, uint16_t type, uint32_t seq, const Bytes &body,
	      int32_t body_len_delta = 0)
{
	Bytes rec(GSN_CTL_HDR_LEN + body.size());
	gsn_ctl_hdr h = {version, type, seq, 0, (uint32_t)((int32_t)body.size() + body_len_delta)};
	gsn_ctl_hdr_encode(&h, rec.data());
	if (!body.empty())
		memcpy(rec.data() + GSN_CTL_HDR_LEN, body.data(), body.size());
	if (send(c.fd(), rec.data(), rec.size(), 0) != (ssize_t)rec.size())
		return -errno;
	uint64_t end = NowMs() + 5000;
	while (NowMs() < end) {
		bool resp;
		gsn_ctl_hdr rh;
		Bytes rb;
		int err = c.RecvOne(200, &resp, &rh, &rb);
		if (err == -ETIMEDOUT)
			continue;
		if (err)
			return err;
		if (resp && rh.seq == seq)
			return rh.status;
	}
	return -ETIMEDOUT;
}

TEST_F(IntegCtl, BadRequestsAreAnsweredAndHarmless)
{
	ASSERT_TRUE(StartFabric("fabric name=ctl\n"
				"switch sw0 ports=2\n"
				"endpoint a ip=10.3.0.1\n"
				"endpoint b ip=10.3.0.2\n"
				"cable a.0 sw0.0 shm\n"
				"cable b.0 sw0.1 shm\n"));
	auto a = Connect("a");
	auto sw = Connect("sw0");
	ASSERT_TRUE(a && sw);

	// Header-level errors.
	EXPECT_EQ(RawRecord(*a, 2, GSN_CTL_STATUS, 1001, {}), -EPROTONOSUPPORT);
	EXPECT_EQ(RawRecord(*a, 1, GSN_CTL_STATUS, 1002, {1, 2, 3}, +1), -EBADMSG);
	EXPECT_EQ(RawRecord(*a, 1, 99, 1003, {}), -EOPNOTSUPP);
	EXPECT_EQ(RawRecord(*a, 1, GSN_CTL_RAW_RECV, 1004, Bytes(16, 0)), -EOPNOTSUPP)
		<< "RAW_RECV goes from gsnd to clients only";
	// Bodies of the wrong length.
	for (gsn_ctl_type type : {GSN_CTL_HARP_ADD, GSN_CTL_HARP_DEL, GSN_CTL_HARP_RESOLVE, GSN_CTL_ADMIN,
			      GSN_CTL_RAW_BIND, GSN_CTL_LINK_WAIT, (gsn_ctl_type)kCtlGen}) {
		int st = RawRecord(*a, 1, type, 2000 + type, Bytes(3, 0));
		EXPECT_TRUE(st == -EBADMSG || st == -EINVAL) << gsn_ctl_type_name(type) << ": " << st;
	}
	EXPECT_LT(RawRecord(*a, 1, GSN_CTL_RAW_SEND, 2100, Bytes(5, 0)), 0);
	// Well-formed but invalid.
	uint8_t ula0[6] = {};
	Reply r = a->Gen(ula0, 1, 100, 1);
	EXPECT_EQ(r.status, -EINVAL) << "GEN to the zero ULA: " << r.describe();
	uint8_t some[6] = {0x02, 0, 0, 0, 0, 0x42};
	r = a->Gen(some, 4, 100, 1);
	EXPECT_EQ(r.status, -EINVAL) << "GEN on VC 4: " << r.describe();
	r = a->Gen(some, 0, 3000, 1);
	EXPECT_LT(r.status, 0) << "GEN beyond VC0's 68 micropackets: " << r.describe();
	Bytes adm(GSN_CTL_ADMIN_REQ_LEN, 0);
	adm[0] = 2; // mode
	EXPECT_EQ(RawRecord(*a, 1, GSN_CTL_ADMIN, 2200, adm), -EINVAL) << "ADMIN mode 2";
	adm[0] = 1;
	adm[1] = 9; // hops
	EXPECT_EQ(RawRecord(*a, 1, GSN_CTL_ADMIN, 2201, adm), -EINVAL) << "ADMIN with 9 hops";
	// Not a text body: control characters in HELLO.
	EXPECT_LT(RawRecord(*a, 1, GSN_CTL_HELLO, 2300, {'x', 0, 'y'}), 0);

	// A switch has no Messages of its own.
	uint8_t bula[6];
	ASSERT_TRUE(UlaParse(ulas_["b"], bula));
	r = sw->RawSend(1, 0x88b5, bula, Bytes(10, 1));
	EXPECT_LT(r.status, 0) << "RAW_SEND at a switch: " << r.describe();
	r = sw->Gen(bula, 1, 100, 1);
	EXPECT_LT(r.status, 0) << "GEN at a switch: " << r.describe();
	r = sw->Bind(0x88b5);
	EXPECT_LT(r.status, 0) << "RAW_BIND at a switch: " << r.describe();

	// HELLO names the element.
	const char name[] = "integration-test";
	r = a->Call(GSN_CTL_HELLO, name, sizeof(name) - 1);
	ASSERT_TRUE(r.ok()) << r.describe();
	KV hello = ParseKV(r.body.data(), r.body.size());
	EXPECT_EQ(hello["element"], "a");
	EXPECT_EQ(hello["role"], "endpoint");
	EXPECT_FALSE(hello["version"].empty());

	// Everything still works.
	EXPECT_EQ(a->Status()["name"], "a");
	EXPECT_EQ(sw->Status()["role"], "switch");
	AdminAnswer w = Admin(*a, GSN_CTL_ADMIN_TO_ULA, 0, GSN_ADMIN_ARE_YOU_THERE, {}, bula, nullptr);
	EXPECT_TRUE(w.ok()) << w.reply.describe();
	auto a2 = Connect("a");
	ASSERT_TRUE(a2);
	EXPECT_EQ(a2->LinkWait(1000), 0);
	KV st = a->Stats();
	EXPECT_GT(U64(st, "ctl.bad_requests"), 0u) << Dump(st, "ctl.");
}

// LINK_WAIT on an element whose peer never comes times out, and says so.
TEST_F(IntegCtl, LinkWaitTimesOutWithoutPeer)
{
	int fds[2];
	ASSERT_EQ(gsn_cable_udp_create_pair(fds), 0);
	// Nobody reads fds[1]: a's link never comes up.
	pid_t pid = SpawnGsnd("a",
			      {"--role", "endpoint", "--name", "a", "--ports", "1", "--ula",
			       "02:00:00:00:0c:0a", "--broadcast", "on", "--rundir", rundir_, "--cable",
			       "0=udp-fd:" + std::to_string(fds[0])},
			      {fds[0]});
	close(fds[0]);
	ASSERT_GT(pid, 0);
	auto a = Connect("a", 20000);
	ASSERT_TRUE(a);
	uint64_t t0 = NowMs();
	EXPECT_EQ(a->LinkWait(300), -ETIMEDOUT);
	uint64_t dt = NowMs() - t0;
	EXPECT_GE(dt, 250u);
	EXPECT_LT(dt, 5000u);
	KV s = a->Status();
	EXPECT_EQ(s["link.0"], "down") << Dump(s);
	EXPECT_EQ(a->Stats()["port0.link.state"], "init");
	// Messages cannot go anywhere yet; gsnd says so or queues them, but lives.
	uint8_t dst[6] = {0x02, 0, 0, 0, 0x0c, 0x0b};
	Reply r = a->RawSend(1, 0x88b5, dst, Bytes(100, 1), 3000);
	EXPECT_EQ(r.err == 0 || r.err == -ETIMEDOUT, true) << r.describe();
	EXPECT_EQ(a->Status()["name"], "a");
	close(fds[1]);
}

}  // namespace
