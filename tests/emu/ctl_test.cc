// SPDX-License-Identifier: MIT
// Control protocol: codecs round-trip and reject bad lengths, text bodies,
// paths, and a server and client in one process driven by the loop.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern "C" {
#include "ctl.h"
#include "loop.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

TEST(CtlCodec, HeaderRoundTripAndChecks)
{
	gsn_ctl_hdr h = {GSN_CTL_VERSION, GSN_CTL_ADMIN, 0x01020304, -EHOSTUNREACH, 3};
	uint8_t buf[GSN_CTL_HDR_LEN + 3] = {};
	gsn_ctl_hdr_encode(&h, buf);
	EXPECT_EQ(buf[0], 0);
	EXPECT_EQ(buf[1], 1);
	EXPECT_EQ(buf[3], GSN_CTL_ADMIN);
	gsn_ctl_hdr d;
	ASSERT_EQ(gsn_ctl_hdr_decode(buf, sizeof(buf), &d), 0);
	EXPECT_EQ(d.type, GSN_CTL_ADMIN);
	EXPECT_EQ(d.seq, 0x01020304u);
	EXPECT_EQ(d.status, -EHOSTUNREACH);
	EXPECT_EQ(d.body_len, 3u);
	EXPECT_EQ(gsn_ctl_hdr_decode(buf, sizeof(buf) - 1, &d), -EBADMSG); // body short
	EXPECT_EQ(gsn_ctl_hdr_decode(buf, 15, &d), -EBADMSG);
	buf[1] = 2;
	EXPECT_EQ(gsn_ctl_hdr_decode(buf, sizeof(buf), &d), -EPROTONOSUPPORT);
	EXPECT_EQ(d.seq, 0x01020304u); // filled anyway, for the answer
	EXPECT_STREQ(gsn_ctl_type_name(GSN_CTL_LINK_WAIT), "LINK_WAIT");
	EXPECT_STREQ(gsn_ctl_type_name(999), "?");
}

// Round-trips a fixed-size body and checks that one byte less or more fails.
template <typename T, typename Enc, typename Dec>
void fixed_body(const T &in, size_t len, Enc enc, Dec dec, T *out)
{
	Bytes b(len + 1, 0xee);
	ASSERT_EQ(enc(&in, b.data()), len);
	EXPECT_EQ(b[len], 0xee); // wrote exactly len bytes
	ASSERT_EQ(dec(b.data(), len, out), 0);
	EXPECT_EQ(dec(b.data(), len - 1, out), -EBADMSG);
	EXPECT_EQ(dec(b.data(), len + 1, out), -EBADMSG);
	EXPECT_EQ(dec(b.data(), 0, out), -EBADMSG);
}

TEST(CtlCodec, FixedBodiesRoundTripAndRejectBadLengths)
{
	gsn_ctl_harp_add ha = {{10, 0, 0, 7}, {2, 0, 0, 0, 0, 9}, GSN_CTL_HARP_STATIC}, ha2{};
	fixed_body(ha, GSN_CTL_HARP_ADD_LEN, gsn_ctl_harp_add_encode, gsn_ctl_harp_add_decode, &ha2);
	EXPECT_EQ(memcmp(&ha, &ha2, sizeof(ha)), 0);

	gsn_ctl_ipv4 ip = {{192, 168, 1, 2}}, ip2{};
	fixed_body(ip, GSN_CTL_IPV4_LEN, gsn_ctl_ipv4_encode, gsn_ctl_ipv4_decode, &ip2);
	EXPECT_EQ(memcmp(&ip, &ip2, sizeof(ip)), 0);

	gsn_ctl_resolve rs = {{1, 2, 3, 4}, 2500}, rs2{};
	fixed_body(rs, GSN_CTL_RESOLVE_LEN, gsn_ctl_resolve_encode, gsn_ctl_resolve_decode, &rs2);
	EXPECT_EQ(rs2.timeout_ms, 2500u);
	EXPECT_EQ(memcmp(rs.ip, rs2.ip, 4), 0);

	gsn_ctl_ula u = {{2, 1, 2, 3, 4, 5}}, u2{};
	fixed_body(u, GSN_CTL_ULA_LEN, gsn_ctl_ula_encode, gsn_ctl_ula_decode, &u2);
	EXPECT_EQ(memcmp(&u, &u2, sizeof(u)), 0);

	gsn_ctl_admin_req ar{}, ar2{};
	ar.mode = GSN_CTL_ADMIN_BY_ROUTE;
	ar.hops = 2;
	ar.cmd = 0x09;
	ar.timeout_ms = 100;
	for (int i = 0; i < 8; i++)
		ar.route[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		ar.args[i] = (uint8_t)(0xa0 + i);
	ar.ula[5] = 0x55;
	fixed_body(ar, GSN_CTL_ADMIN_REQ_LEN, gsn_ctl_admin_req_encode, gsn_ctl_admin_req_decode, &ar2);
	EXPECT_EQ(memcmp(&ar, &ar2, sizeof(ar)), 0);
	uint8_t b[GSN_CTL_ADMIN_REQ_LEN];
	ar.hops = 9;
	gsn_ctl_admin_req_encode(&ar, b);
	EXPECT_EQ(gsn_ctl_admin_req_decode(b, sizeof(b), &ar2), -EINVAL);
	ar.hops = 1;
	ar.mode = 2;
	gsn_ctl_admin_req_encode(&ar, b);
	EXPECT_EQ(gsn_ctl_admin_req_decode(b, sizeof(b), &ar2), -EINVAL);

	gsn_ctl_admin_resp rp{}, rp2{};
	for (int i = 0; i < 32; i++)
		rp.admin[i] = (uint8_t)(i * 3);
	rp.rtt_ns = 0x0102030405060708ull;
	fixed_body(rp, GSN_CTL_ADMIN_RESP_LEN, gsn_ctl_admin_resp_encode, gsn_ctl_admin_resp_decode,
		   &rp2);
	EXPECT_EQ(memcmp(&rp, &rp2, sizeof(rp)), 0);

	gsn_ctl_bind bd = {0x8181, GSN_CTL_BIND_UNBIND}, bd2{};
	fixed_body(bd, GSN_CTL_BIND_LEN, gsn_ctl_bind_encode, gsn_ctl_bind_decode, &bd2);
	EXPECT_EQ(bd2.ethertype, 0x8181);
	EXPECT_EQ(bd2.flags, GSN_CTL_BIND_UNBIND);

	gsn_ctl_timeout to = {12345}, to2{};
	fixed_body(to, GSN_CTL_TIMEOUT_LEN, gsn_ctl_timeout_encode, gsn_ctl_timeout_decode, &to2);
	EXPECT_EQ(to2.timeout_ms, 12345u);
}

TEST(CtlCodec, GenBody)
{
	gsn_ctl_gen g = {{2, 0, 0, 0, 0, 0x0b}, 3, 131176, 0x01020304}, g2{};
	fixed_body(g, GSN_CTL_GEN_LEN, gsn_ctl_gen_encode, gsn_ctl_gen_decode, &g2);
	EXPECT_EQ(memcmp(g.dst, g2.dst, 6), 0);
	EXPECT_EQ(g2.vc, 3);
	EXPECT_EQ(g2.size, 131176u);
	EXPECT_EQ(g2.count, 0x01020304u);
	uint8_t b[GSN_CTL_GEN_LEN];
	gsn_ctl_gen_encode(&g, b);
	EXPECT_EQ(b[7], 0); // reserved
	EXPECT_EQ(b[8], 0);
	EXPECT_EQ(b[11], 0x68); // size big-endian
	b[6] = 4;
	EXPECT_EQ(gsn_ctl_gen_decode(b, sizeof(b), &g2), -EINVAL);
	EXPECT_STREQ(gsn_ctl_type_name(GSN_CTL_GEN), "GEN");
}

TEST(CtlCodec, RawBody)
{
	gsn_ctl_raw r{};
	r.vc = 1;
	r.ethertype = 0x0800;
	memset(r.dst, 0xff, 6);
	r.src[0] = 2;
	Bytes b(GSN_CTL_RAW_HDR_LEN + 5);
	ASSERT_EQ(gsn_ctl_raw_encode_head(&r, b.data()), GSN_CTL_RAW_HDR_LEN);
	memcpy(b.data() + GSN_CTL_RAW_HDR_LEN, "hello", 5);
	gsn_ctl_raw d{};
	ASSERT_EQ(gsn_ctl_raw_decode(b.data(), b.size(), &d), 0);
	EXPECT_EQ(d.vc, 1);
	EXPECT_EQ(d.ethertype, 0x0800);
	EXPECT_EQ(memcmp(d.dst, r.dst, 6), 0);
	EXPECT_EQ(memcmp(d.src, r.src, 6), 0);
	ASSERT_EQ(d.len, 5u);
	EXPECT_EQ(memcmp(d.data, "hello", 5), 0);
	EXPECT_EQ(gsn_ctl_raw_decode(b.data(), GSN_CTL_RAW_HDR_LEN, &d), 0);
	EXPECT_EQ(d.len, 0u);
	EXPECT_EQ(gsn_ctl_raw_decode(b.data(), GSN_CTL_RAW_HDR_LEN - 1, &d), -EBADMSG);
	Bytes big(GSN_CTL_RAW_HDR_LEN + GSN_CTL_RAW_DATA_MAX + 1);
	EXPECT_EQ(gsn_ctl_raw_decode(big.data(), big.size(), &d), -EBADMSG);
	b[0] = 4;
	EXPECT_EQ(gsn_ctl_raw_decode(b.data(), b.size(), &d), -EINVAL);
}

TEST(CtlText, KeyValueLines)
{
	char buf[128];
	size_t off = 0;
	ASSERT_EQ(gsn_ctl_textf(buf, sizeof(buf), &off, "role=%s\n", "switch"), 0);
	ASSERT_EQ(gsn_ctl_textf(buf, sizeof(buf), &off, "\nula=%s\nempty=\n", "02:00:00:00:00:01"), 0);
	const uint8_t *t = (const uint8_t *)buf;
	EXPECT_EQ(gsn_ctl_text_check(t, off), 0);
	char v[32];
	ASSERT_EQ(gsn_ctl_kv_get(t, off, "ula", v, sizeof(v)), 0);
	EXPECT_STREQ(v, "02:00:00:00:00:01");
	ASSERT_EQ(gsn_ctl_kv_get(t, off, "empty", v, sizeof(v)), 0);
	EXPECT_STREQ(v, "");
	EXPECT_EQ(gsn_ctl_kv_get(t, off, "ul", v, sizeof(v)), -ENOENT);
	EXPECT_EQ(gsn_ctl_kv_get(t, off, "ula", v, 5), -ENOSPC);
	size_t pos = 0;
	gsn_ctl_kv kv;
	int n = 0;
	while (gsn_ctl_kv_next(t, off, &pos, &kv) == 1)
		n++;
	EXPECT_EQ(n, 3);
	const char *bad = "a=1\nnoequals\n";
	pos = 0;
	EXPECT_EQ(gsn_ctl_kv_next((const uint8_t *)bad, strlen(bad), &pos, &kv), 1);
	EXPECT_EQ(gsn_ctl_kv_next((const uint8_t *)bad, strlen(bad), &pos, &kv), -EBADMSG);
	EXPECT_EQ(gsn_ctl_text_check((const uint8_t *)"a=\x01", 3), -EBADMSG);
	EXPECT_EQ(gsn_ctl_text_check((const uint8_t *)"a=\0", 3), -EBADMSG);
	char small[8];
	off = 0;
	EXPECT_EQ(gsn_ctl_textf(small, sizeof(small), &off, "%s", "0123456789"), -ENOSPC);
	EXPECT_EQ(off, 0u);
}

struct EnvGuard {
	std::string name;
	std::string old;
	bool had;
	EnvGuard(const char *n, const char *v) : name(n)
	{
		const char *o = getenv(n);
		had = o != nullptr;
		if (o)
			old = o;
		if (v)
			setenv(n, v, 1);
		else
			unsetenv(n);
	}
	~EnvGuard()
	{
		if (had)
			setenv(name.c_str(), old.c_str(), 1);
		else
			unsetenv(name.c_str());
	}
};

TEST(CtlPaths, RundirPrecedenceAndSocketPaths)
{
	char buf[256];
	{
		EnvGuard a("GSN_RUNDIR", "/x/run"), b("XDG_RUNTIME_DIR", "/run/user/5");
		ASSERT_EQ(gsn_ctl_rundir(buf, sizeof(buf)), 0);
		EXPECT_STREQ(buf, "/x/run");
	}
	{
		EnvGuard a("GSN_RUNDIR", nullptr), b("XDG_RUNTIME_DIR", "/run/user/5");
		ASSERT_EQ(gsn_ctl_rundir(buf, sizeof(buf)), 0);
		EXPECT_STREQ(buf, "/run/user/5/gsn");
	}
	{
		EnvGuard a("GSN_RUNDIR", nullptr), b("XDG_RUNTIME_DIR", nullptr);
		ASSERT_EQ(gsn_ctl_rundir(buf, sizeof(buf)), 0);
		EXPECT_EQ(std::string(buf), "/tmp/gsn-" + std::to_string(getuid()));
	}
	EXPECT_EQ(gsn_ctl_rundir(buf, 4), -ENAMETOOLONG);
	ASSERT_EQ(gsn_ctl_sock_path("/r", "sw0", buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "/r/sw0.sock");
	EXPECT_EQ(gsn_ctl_sock_path("/r", "../x", buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(gsn_ctl_sock_path("/r", "a/b", buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(gsn_ctl_sock_path("/r", "", buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(gsn_ctl_sock_path(std::string(120, 'd').c_str(), "a", buf, sizeof(buf)),
		  -ENAMETOOLONG);

	std::string dir = "/tmp/gsn-ctl-test-" + std::to_string(getpid());
	ASSERT_EQ(gsn_ctl_rundir_ensure(dir.c_str()), 0);
	struct stat st;
	ASSERT_EQ(stat(dir.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0700u);
	EXPECT_EQ(gsn_ctl_rundir_ensure(dir.c_str()), 0); // exists: fine
	chmod(dir.c_str(), 0777);
	EXPECT_EQ(gsn_ctl_rundir_ensure(dir.c_str()), -EPERM);
	rmdir(dir.c_str());
}

// ---- server and client in one process ----

struct Srv {
	gsn_loop *loop = nullptr;
	gsn_ctl_server *srv = nullptr;
	std::string dir, path;
	int connected = 0, disconnected = 0;
	std::vector<bool> backlog;
	uint64_t last_id = 0;
	pid_t peer_pid = 0;
	// deferred HARP_RESOLVE answer
	gsn_timer later;
	uint64_t later_client = 0;
	gsn_ctl_hdr later_hdr{};

	Srv()
	{
		EXPECT_EQ(gsn_loop_new(&loop, nullptr), 0);
		dir = "/tmp/gsn-ctl-srv-" + std::to_string(getpid());
		EXPECT_EQ(gsn_ctl_rundir_ensure(dir.c_str()), 0);
		path = dir + "/el.sock";
		gsn_timer_init(&later, answer_later, this);
		gsn_ctl_server_ops ops{};
		ops.handlers[GSN_CTL_STATUS] = status;
		ops.handlers[GSN_CTL_HARP_RESOLVE] = resolve;
		ops.handlers[GSN_CTL_LINK_WAIT] = link_wait;
		ops.connected = [](gsn_ctl_server *, gsn_ctl_client *c, void *a) {
			auto *s = static_cast<Srv *>(a);
			s->connected++;
			s->last_id = gsn_ctl_client_id(c);
			s->peer_pid = gsn_ctl_client_cred(c)->pid;
		};
		ops.disconnected = [](gsn_ctl_server *, gsn_ctl_client *, void *a) {
			static_cast<Srv *>(a)->disconnected++;
		};
		ops.backlog = [](gsn_ctl_server *, gsn_ctl_client *, bool on, void *a) {
			static_cast<Srv *>(a)->backlog.push_back(on);
		};
		EXPECT_EQ(gsn_ctl_server_new(loop, path.c_str(), &ops, this, nullptr, &srv), 0);
	}
	~Srv()
	{
		gsn_loop_timer_cancel(loop, &later);
		gsn_ctl_server_free(srv);
		gsn_loop_free(loop);
		rmdir(dir.c_str());
	}
	static int status(gsn_ctl_server *s, gsn_ctl_client *c, const gsn_ctl_hdr *h,
			  const uint8_t *, size_t len, void *)
	{
		if (len)
			return -EINVAL;
		const char text[] = "role=switch\nports=4\n";
		return gsn_ctl_reply(s, c, h, 0, text, sizeof(text) - 1);
	}
	static int resolve(gsn_ctl_server *, gsn_ctl_client *c, const gsn_ctl_hdr *h,
			   const uint8_t *body, size_t len, void *a)
	{
		auto *s = static_cast<Srv *>(a);
		gsn_ctl_resolve r;
		int err = gsn_ctl_resolve_decode(body, len, &r);
		if (err)
			return err;
		s->later_client = gsn_ctl_client_id(c);
		s->later_hdr = *h;
		gsn_loop_timer_in(s->loop, &s->later, 2000000, 0);
		return 0; // answered later
	}
	static void answer_later(gsn_loop *, gsn_timer *, void *a)
	{
		auto *s = static_cast<Srv *>(a);
		gsn_ctl_client *c = gsn_ctl_server_client(s->srv, s->later_client);
		if (!c)
			return;
		gsn_ctl_ula u = {{2, 0, 0, 0, 0, 0x42}};
		uint8_t b[GSN_CTL_ULA_LEN];
		gsn_ctl_ula_encode(&u, b);
		gsn_ctl_reply(s->srv, c, &s->later_hdr, 0, b, sizeof(b));
	}
	static int link_wait(gsn_ctl_server *, gsn_ctl_client *, const gsn_ctl_hdr *,
			     const uint8_t *, size_t, void *)
	{
		return -ETIMEDOUT;
	}
	// Runs the loop until the client has a message.
	int recv(gsn_ctl_conn *c, gsn_ctl_hdr *h, const uint8_t **body, size_t *len)
	{
		uint64_t end = gsn_clock_ns() + 2000000000ull;
		for (;;) {
			int r = gsn_ctl_recv(c, h, body, len, 0);
			if (r != -ETIMEDOUT || gsn_clock_ns() > end)
				return r;
			gsn_loop_run_once(loop, 1000000);
		}
	}
};

TEST(CtlServer, RequestResponseInOneProcess)
{
	Srv s;
	struct stat st;
	ASSERT_EQ(stat(s.path.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600u);
	gsn_ctl_conn *c = nullptr;
	ASSERT_EQ(gsn_ctl_connect(s.dir.c_str(), "el", &c), 0);
	gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;
	uint32_t seq;

	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_STATUS, nullptr, 0, &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(s.connected, 1);
	EXPECT_EQ(s.peer_pid, getpid());
	EXPECT_EQ(h.type, GSN_CTL_STATUS);
	EXPECT_EQ(h.seq, seq);
	EXPECT_EQ(h.status, 0);
	char v[16];
	ASSERT_EQ(gsn_ctl_kv_get(body, len, "ports", v, sizeof(v)), 0);
	EXPECT_STREQ(v, "4");

	// a deferred answer
	gsn_ctl_resolve r = {{10, 0, 0, 2}, 0};
	uint8_t rb[GSN_CTL_RESOLVE_LEN];
	gsn_ctl_resolve_encode(&r, rb);
	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_HARP_RESOLVE, rb, sizeof(rb), &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.seq, seq);
	EXPECT_EQ(h.status, 0);
	gsn_ctl_ula u;
	ASSERT_EQ(gsn_ctl_ula_decode(body, len, &u), 0);
	EXPECT_EQ(u.ula[5], 0x42);

	// a bad body: the handler's error becomes the status
	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_HARP_RESOLVE, rb, 3, &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.status, -EBADMSG);
	EXPECT_EQ(len, 0u);
	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_LINK_WAIT, nullptr, 0, &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.status, -ETIMEDOUT);
	// no handler
	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_HARP_LIST, nullptr, 0, &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.status, -EOPNOTSUPP);
	ASSERT_EQ(gsn_ctl_send_request(c, 777, nullptr, 0, &seq, 1000), 0);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.type, 777);
	EXPECT_EQ(h.status, -EOPNOTSUPP);

	// raw records: another version, a header that lies about its length, a runt
	int fd = gsn_ctl_conn_fd(c);
	uint8_t raw[GSN_CTL_HDR_LEN];
	gsn_ctl_hdr bad = {2, GSN_CTL_STATUS, 99, 0, 0};
	gsn_ctl_hdr_encode(&bad, raw);
	ASSERT_EQ(send(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
	gsn_loop_run_once(s.loop, 100000000);
	ASSERT_EQ(recv(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
	ASSERT_EQ(gsn_ctl_hdr_decode(raw, sizeof(raw), &h), 0);
	EXPECT_EQ(h.seq, 99u);
	EXPECT_EQ(h.status, -EPROTONOSUPPORT);
	bad = {1, GSN_CTL_STATUS, 100, 0, 50};
	gsn_ctl_hdr_encode(&bad, raw);
	ASSERT_EQ(send(fd, raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.seq, 100u);
	EXPECT_EQ(h.status, -EBADMSG);
	ASSERT_EQ(send(fd, "ab", 2, 0), 2);
	ASSERT_EQ(s.recv(c, &h, &body, &len), 0);
	EXPECT_EQ(h.status, -EBADMSG);

	gsn_ctl_server_stats st2;
	gsn_ctl_server_get_stats(s.srv, &st2);
	EXPECT_EQ(st2.clients, 1u);
	EXPECT_EQ(st2.bad_requests, 5u);

	gsn_ctl_close(c);
	for (int i = 0; i < 10 && s.disconnected == 0; i++)
		gsn_loop_run_once(s.loop, 10000000);
	EXPECT_EQ(s.disconnected, 1);
	EXPECT_EQ(gsn_ctl_server_client(s.srv, s.last_id), nullptr);
}

TEST(CtlServer, SocketInUseAndStaleSocket)
{
	Srv s;
	gsn_ctl_server *second = nullptr;
	gsn_ctl_server_ops ops{};
	EXPECT_EQ(gsn_ctl_server_new(s.loop, s.path.c_str(), &ops, nullptr, nullptr, &second),
		  -EADDRINUSE);
	// a stale socket (bound, nobody listening) is replaced
	std::string stale = s.dir + "/stale.sock";
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, stale.c_str());
	ASSERT_EQ(bind(fd, (sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ASSERT_EQ(gsn_ctl_server_new(s.loop, stale.c_str(), &ops, nullptr, nullptr, &second), 0);
	gsn_ctl_server_free(second);
	EXPECT_NE(access(stale.c_str(), F_OK), 0); // unlinked on free
}

TEST(CtlServer, ClientThatStopsReadingIsBoundedAndReported)
{
	Srv s;
	gsn_ctl_conn *c = nullptr;
	ASSERT_EQ(gsn_ctl_connect_path(s.path.c_str(), &c), 0);
	uint32_t seq;
	ASSERT_EQ(gsn_ctl_send_request(c, GSN_CTL_STATUS, nullptr, 0, &seq, 1000), 0);
	for (int i = 0; i < 10 && s.connected == 0; i++)
		gsn_loop_run_once(s.loop, 10000000);
	gsn_ctl_client *cl = gsn_ctl_server_client(s.srv, s.last_id);
	ASSERT_NE(cl, nullptr);
	Bytes msg(GSN_CTL_RAW_HDR_LEN + 60000, 0x5a);
	int sent = 0, r = 0;
	for (int i = 0; i < 1000; i++) {
		r = gsn_ctl_send(s.srv, cl, GSN_CTL_RAW_RECV, 0, 0, msg.data(), msg.size());
		if (r)
			break;
		sent++;
	}
	EXPECT_EQ(r, -ENOBUFS);
	ASSERT_FALSE(s.backlog.empty());
	EXPECT_TRUE(s.backlog[0]);
	EXPECT_TRUE(gsn_ctl_client_congested(cl));
	EXPECT_LE(gsn_ctl_client_queued(cl), (size_t)GSN_CTL_QUEUE_MAX);
	// the client reads everything: the queue drains and the server says so
	int got = 0;
	gsn_ctl_hdr h;
	const uint8_t *body;
	size_t len;
	while (got < sent + 1 && s.recv(c, &h, &body, &len) == 0)
		got++;
	EXPECT_EQ(got, sent + 1); // the STATUS answer came first, before the queue filled
	for (int i = 0; i < 5; i++)
		gsn_loop_run_once(s.loop, 1000000);
	EXPECT_EQ(s.backlog.back(), false);
	EXPECT_FALSE(gsn_ctl_client_congested(cl));
	EXPECT_EQ(gsn_ctl_client_queued(cl), 0u);
	gsn_ctl_close(c);
}

} // namespace
