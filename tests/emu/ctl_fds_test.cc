// SPDX-License-Identifier: MIT
// File descriptors on the control socket: SCM_RIGHTS send and receive,
// seq matching with other messages diverted, and no fd ever leaked.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern "C" {
#include "ctl.h"
#include "ctl_fds.h"
#include "loop.h"
}

namespace {

// Open fds of this process.
int count_fds()
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int make_memfd(const char *text)
{
	int fd = memfd_create("ctl_fds_test", MFD_CLOEXEC);

	if (fd >= 0 && write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return fd;
}

std::string read_all(int fd)
{
	char buf[64] = {};
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	return n > 0 ? std::string(buf, (size_t)n) : std::string();
}

// A listening socket in a fresh directory, a client connected with ctl.h,
// and the server's end of that connection.
struct CtlFdsConn : ::testing::Test {
	std::string dir, path;
	int lfd = -1, srv = -1;
	gsn_ctl_conn *conn = nullptr;
	int fds_before = 0;

	void SetUp() override
	{
		char tmpl[] = "/tmp/ctl_fds_test.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/e.sock";
		sockaddr_un sa{};
		sa.sun_family = AF_UNIX;
		strcpy(sa.sun_path, path.c_str());
		lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		ASSERT_GE(lfd, 0);
		ASSERT_EQ(bind(lfd, (sockaddr *)&sa, sizeof(sa)), 0);
		ASSERT_EQ(listen(lfd, 4), 0);
		ASSERT_EQ(gsn_ctl_connect_path(path.c_str(), &conn), 0);
		srv = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
		ASSERT_GE(srv, 0);
		fds_before = count_fds();
	}

	void TearDown() override
	{
		EXPECT_EQ(count_fds(), fds_before) << "an fd leaked";
		gsn_ctl_close(conn);
		if (srv >= 0)
			close(srv);
		close(lfd);
		unlink(path.c_str());
		rmdir(dir.c_str());
	}

	// The request the client sent: returns its seq.
	uint32_t read_request(uint16_t want_type)
	{
		uint8_t buf[256];
		ssize_t n = recv(srv, buf, sizeof(buf), 0);
		gsn_ctl_hdr h{};

		EXPECT_GE(n, (ssize_t)GSN_CTL_HDR_LEN);
		EXPECT_EQ(gsn_ctl_hdr_decode(buf, (size_t)n, &h), 0);
		EXPECT_EQ(h.type, want_type);
		return h.seq;
	}
};

struct Diverted {
	int count = 0;
	std::vector<uint16_t> types;
	std::vector<uint32_t> seqs;
	std::string last_body;
};

void on_async(void *arg, const gsn_ctl_hdr *h, const uint8_t *body, size_t len)
{
	auto *d = static_cast<Diverted *>(arg);

	d->count++;
	d->types.push_back(h->type);
	d->seqs.push_back(h->seq);
	d->last_body.assign((const char *)body, len);
}

TEST(CtlFdsSocketpair, FdsArriveAsTheSameFilesAndCloseOnExec)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int mfd = make_memfd("hello");
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_GE(mfd, 0);
	ASSERT_GE(efd, 0);
	int fds[2] = {mfd, efd};
	const char body[] = "resp";

	ASSERT_EQ(gsn_ctl_send_fds_sock(sv[0], 70, 5, 0, body, 4, fds, 2), 0);

	// Receive by hand: the record carries the header, body and both fds.
	uint8_t buf[64];
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	iovec iov = {buf, sizeof(buf)};
	msghdr m{};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	ssize_t n = recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC);
	ASSERT_EQ(n, (ssize_t)GSN_CTL_HDR_LEN + 4);
	gsn_ctl_hdr h{};
	ASSERT_EQ(gsn_ctl_hdr_decode(buf, (size_t)n, &h), 0);
	EXPECT_EQ(h.type, 70);
	EXPECT_EQ(h.seq, 5u);
	EXPECT_EQ(memcmp(buf + GSN_CTL_HDR_LEN, "resp", 4), 0);
	cmsghdr *cm = CMSG_FIRSTHDR(&m);
	ASSERT_NE(cm, nullptr);
	ASSERT_EQ(cm->cmsg_type, SCM_RIGHTS);
	ASSERT_EQ(cm->cmsg_len, CMSG_LEN(sizeof(int) * 2));
	int got[2];
	memcpy(got, CMSG_DATA(cm), sizeof(got));
	EXPECT_EQ(read_all(got[0]), "hello");
	uint64_t v = 3;
	ASSERT_EQ(write(got[1], &v, 8), 8);
	ASSERT_EQ(read(efd, &v, 8), 8);
	EXPECT_EQ(v, 3u);
	EXPECT_TRUE(fcntl(got[0], F_GETFD) & FD_CLOEXEC);

	// Limits and an error status (empty body, no fds).
	int many[GSN_CTL_FDS_MAX + 1];
	for (auto &f : many)
		f = mfd;
	EXPECT_EQ(gsn_ctl_send_fds_sock(sv[0], 70, 6, 0, nullptr, 0, many, GSN_CTL_FDS_MAX + 1),
		  -EINVAL);
	ASSERT_EQ(gsn_ctl_send_fds_sock(sv[0], 70, 7, -ENOMEM, body, 4, fds, 2), 0);
	m.msg_controllen = sizeof(cbuf);
	n = recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC);
	ASSERT_EQ(n, (ssize_t)GSN_CTL_HDR_LEN);
	EXPECT_EQ(CMSG_FIRSTHDR(&m), nullptr);
	ASSERT_EQ(gsn_ctl_hdr_decode(buf, (size_t)n, &h), 0);
	EXPECT_EQ(h.status, -ENOMEM);

	for (int fd : {got[0], got[1], mfd, efd, sv[0], sv[1]})
		close(fd);
}

TEST(CtlFdsSocketpair, FullSocketIsEagainAndGonePeerIsEnotconn)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	static uint8_t big[8192];
	int r = 0;
	for (int i = 0; i < 100000 && r == 0; i++)
		r = gsn_ctl_send_fds_sock(sv[0], 1, 1, 0, big, sizeof(big), nullptr, 0);
	EXPECT_EQ(r, -EAGAIN);
	close(sv[1]);
	EXPECT_EQ(gsn_ctl_send_fds_sock(sv[0], 1, 1, 0, big, 1, nullptr, 0), -ENOTCONN);
	close(sv[0]);
}

TEST_F(CtlFdsConn, CallReturnsBodyAndFds)
{
	// The first request of a new connection has seq 1: answer it ahead.
	int mfd = make_memfd("ring");
	int efd = eventfd(0, EFD_CLOEXEC);
	int fds[2] = {mfd, efd};
	uint8_t resp_body[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 70, 1, 0, resp_body, sizeof(resp_body), fds, 2), 0);
	close(mfd);
	close(efd);

	uint8_t req[8] = {7};
	uint8_t resp[64];
	size_t resp_len = 99, nfds = 99;
	int got[4] = {-1, -1, -1, -1};
	ASSERT_EQ(gsn_ctl_call_fds(conn, 70, req, sizeof(req), resp, sizeof(resp), &resp_len, got, 4,
				   &nfds, 1000, nullptr, nullptr),
		  0);
	EXPECT_EQ(read_request(70), 1u);
	ASSERT_EQ(resp_len, sizeof(resp_body));
	EXPECT_EQ(memcmp(resp, resp_body, sizeof(resp_body)), 0);
	ASSERT_EQ(nfds, 2u);
	EXPECT_EQ(read_all(got[0]), "ring");
	EXPECT_TRUE(fcntl(got[1], F_GETFD) & FD_CLOEXEC);
	close(got[0]);
	close(got[1]);
}

TEST_F(CtlFdsConn, OtherMessagesAreDivertedAndTheirFdsClosed)
{
	int mfd = make_memfd("x");
	// An async event (seq 0) with an fd, a stale response (seq 9) with an
	// fd, a bad version record, then the real response (seq 1) with one fd.
	const uint8_t ev[8] = {2, 0, 0, 0, 5, 0, 0, 0};
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 76, 0, 0, ev, sizeof(ev), &mfd, 1), 0);
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 72, 9, 0, "old", 3, &mfd, 1), 0);
	uint8_t bad[GSN_CTL_HDR_LEN] = {0, 9};
	ASSERT_EQ(send(srv, bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 72, 1, 0, "new", 3, &mfd, 1), 0);
	close(mfd);

	Diverted d;
	char resp[8];
	size_t resp_len = 0, nfds = 0;
	int got = -1;
	ASSERT_EQ(gsn_ctl_call_fds(conn, 72, nullptr, 0, resp, sizeof(resp), &resp_len, &got, 1,
				   &nfds, 1000, on_async, &d),
		  0);
	read_request(72);
	EXPECT_EQ(std::string(resp, resp_len), "new");
	ASSERT_EQ(nfds, 1u);
	close(got);
	ASSERT_EQ(d.count, 2); // the bad record is skipped, not diverted
	EXPECT_EQ(d.types[0], 76);
	EXPECT_EQ(d.seqs[0], 0u);
	EXPECT_EQ(d.types[1], 72);
	EXPECT_EQ(d.seqs[1], 9u);
	EXPECT_EQ(d.last_body, "old");
}

TEST_F(CtlFdsConn, ErrorStatusIsReturnedWithoutBodyOrFds)
{
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 70, 1, -ENOSPC, nullptr, 0, nullptr, 0), 0);
	char resp[8];
	size_t resp_len = 5, nfds = 5;
	int got[2];
	EXPECT_EQ(gsn_ctl_call_fds(conn, 70, nullptr, 0, resp, sizeof(resp), &resp_len, got, 2,
				   &nfds, 1000, nullptr, nullptr),
		  -ENOSPC);
	read_request(70);
	EXPECT_EQ(resp_len, 0u);
	EXPECT_EQ(nfds, 0u);
}

TEST_F(CtlFdsConn, TooManyFdsIsEprotoAndAllAreClosed)
{
	int mfd = make_memfd("x");
	int three[3] = {mfd, mfd, mfd};
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 70, 1, 0, "b", 1, three, 3), 0);
	close(mfd);
	char resp[8];
	size_t resp_len = 0, nfds = 0;
	int got[2] = {-1, -1};
	EXPECT_EQ(gsn_ctl_call_fds(conn, 70, nullptr, 0, resp, sizeof(resp), &resp_len, got, 2,
				   &nfds, 1000, nullptr, nullptr),
		  -EPROTO);
	read_request(70);
	EXPECT_EQ(nfds, 0u);
}

TEST_F(CtlFdsConn, BodyLargerThanTheBufferIsEmsgsize)
{
	int mfd = make_memfd("x");
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 70, 1, 0, "0123456789", 10, &mfd, 1), 0);
	close(mfd);
	char resp[4];
	size_t resp_len = 0, nfds = 0;
	int got = -1;
	EXPECT_EQ(gsn_ctl_call_fds(conn, 70, nullptr, 0, resp, sizeof(resp), &resp_len, &got, 1,
				   &nfds, 1000, nullptr, nullptr),
		  -EMSGSIZE);
	read_request(70);
	EXPECT_EQ(nfds, 0u);
}

TEST_F(CtlFdsConn, RecvFdsTimesOutAndSeesThePeerGo)
{
	gsn_ctl_hdr h{};
	char body[8];
	size_t len = 0, nfds = 0;
	int got;
	EXPECT_EQ(gsn_ctl_recv_fds(conn, &h, body, sizeof(body), &len, &got, 1, &nfds, 0), -ETIMEDOUT);
	EXPECT_EQ(gsn_ctl_recv_fds(conn, &h, body, sizeof(body), &len, &got, 1, &nfds, 30),
		  -ETIMEDOUT);
	// An async message is received as such by the plain receive.
	const uint8_t ev[8] = {1, 0, 0, 0, 3, 0, 0, 0};
	ASSERT_EQ(gsn_ctl_send_fds_sock(srv, 76, 0, 0, ev, sizeof(ev), nullptr, 0), 0);
	ASSERT_EQ(gsn_ctl_recv_fds(conn, &h, body, sizeof(body), &len, &got, 1, &nfds, 100), 0);
	EXPECT_EQ(h.type, 76);
	EXPECT_EQ(len, 8u);
	EXPECT_EQ(nfds, 0u);
	close(srv);
	srv = -1;
	fds_before--;
	EXPECT_EQ(gsn_ctl_recv_fds(conn, &h, body, sizeof(body), &len, &got, 1, &nfds, 100),
		  -ECONNRESET);
	size_t rl = 0;
	int r = gsn_ctl_call_fds(conn, 70, nullptr, 0, body, sizeof(body), &rl, &got, 1, &nfds, 100,
				 nullptr, nullptr);
	EXPECT_TRUE(r == -ECONNRESET || r == -EPIPE) << r;
}

TEST_F(CtlFdsConn, CallTimesOut)
{
	char resp[8];
	size_t resp_len = 0, nfds = 0;
	int got;
	EXPECT_EQ(gsn_ctl_call_fds(conn, 70, nullptr, 0, resp, sizeof(resp), &resp_len, &got, 1,
				   &nfds, 30, nullptr, nullptr),
		  -ETIMEDOUT);
	read_request(70);
}

#ifdef GSN_CTL_HAVE_CLIENT_FD
// gsn_ctl_reply_fds() through a real gsn_ctl_server driven by its loop.
struct FdServer {
	gsn_loop *loop = nullptr;
	gsn_ctl_server *srv = nullptr;
	std::string dir, path;
	int handled = 0, reply_err = 1;
	gsn_ctl_client *client = nullptr;

	FdServer()
	{
		char tmpl[] = "/tmp/ctl_fds_srv.XXXXXX";
		EXPECT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/el.sock";
		EXPECT_EQ(gsn_loop_new(&loop, nullptr), 0);
		gsn_ctl_server_ops ops{};
		ops.dev_handlers[70 - GSN_CTL_DEV_FIRST] = create;
		ops.connected = [](gsn_ctl_server *, gsn_ctl_client *c, void *a) {
			static_cast<FdServer *>(a)->client = c;
		};
		EXPECT_EQ(gsn_ctl_server_new(loop, path.c_str(), &ops, this, nullptr, &srv), 0);
	}
	~FdServer()
	{
		gsn_ctl_server_free(srv);
		gsn_loop_free(loop);
		rmdir(dir.c_str());
	}
	// Answers with a memfd and an eventfd, as CREATE_CQ does.
	static int create(gsn_ctl_server *s, gsn_ctl_client *c, const gsn_ctl_hdr *h,
			  const uint8_t *, size_t, void *a)
	{
		auto *self = static_cast<FdServer *>(a);
		int fds[2] = {make_memfd("cq ring"), eventfd(0, EFD_CLOEXEC)};
		self->handled++;
		self->reply_err = gsn_ctl_reply_fds(s, c, h, "abcd", 4, fds, 2);
		close(fds[0]);
		close(fds[1]);
		return self->reply_err; // < 0: the server answers with that status
	}
	void spin(int rounds)
	{
		for (int i = 0; i < rounds; i++)
			gsn_loop_run_once(loop, 2000000);
	}
};

TEST(CtlFdsServer, ReplyFdsGoesOutThroughTheServersClientSocket)
{
	FdServer s;
	gsn_ctl_conn *conn = nullptr;
	ASSERT_EQ(gsn_ctl_connect_path(s.path.c_str(), &conn), 0);
	s.spin(3);
	ASSERT_NE(s.client, nullptr);
	int before = count_fds();

	uint32_t seq = 0;
	ASSERT_EQ(gsn_ctl_send_request(conn, 70, nullptr, 0, &seq, 1000), 0);
	s.spin(3);
	EXPECT_EQ(s.handled, 1);
	EXPECT_EQ(s.reply_err, 0);
	gsn_ctl_hdr h{};
	char body[16];
	size_t len = 0, nfds = 0;
	int got[2] = {-1, -1};
	ASSERT_EQ(gsn_ctl_recv_fds(conn, &h, body, sizeof(body), &len, got, 2, &nfds, 1000), 0);
	EXPECT_EQ(h.type, 70);
	EXPECT_EQ(h.seq, seq);
	EXPECT_EQ(h.status, 0);
	EXPECT_EQ(std::string(body, len), "abcd");
	ASSERT_EQ(nfds, 2u);
	EXPECT_EQ(read_all(got[0]), "cq ring");
	close(got[0]);
	close(got[1]);

	// With output queued for the client, an fd reply would overtake it:
	// it is refused (-EAGAIN) and the server answers that status in order.
	static uint8_t big[60000];
	int queued = 0;
	while (gsn_ctl_client_queued(s.client) == 0 && queued < 1000) {
		ASSERT_EQ(gsn_ctl_send(s.srv, s.client, GSN_CTL_RAW_RECV, 0, 0, big, sizeof(big)), 0);
		queued++;
	}
	ASSERT_GT(gsn_ctl_client_queued(s.client), 0u);
	ASSERT_EQ(gsn_ctl_send_request(conn, 70, nullptr, 0, &seq, 1000), 0);
	s.spin(3);
	EXPECT_EQ(s.handled, 2);
	EXPECT_EQ(s.reply_err, -EAGAIN);
	std::vector<uint8_t> buf(GSN_CTL_MSG_MAX);
	bool answered = false;
	for (int i = 0; i < queued + 5 && !answered; i++) {
		s.spin(2);
		int r = gsn_ctl_recv_fds(conn, &h, buf.data(), buf.size(), &len, got, 2, &nfds, 100);
		if (r == -ETIMEDOUT)
			continue;
		ASSERT_EQ(r, 0);
		EXPECT_EQ(nfds, 0u);
		if (h.type == 70) {
			EXPECT_EQ(h.seq, seq);
			EXPECT_EQ(h.status, -EAGAIN);
			answered = true;
		}
	}
	EXPECT_TRUE(answered);
	EXPECT_EQ(count_fds(), before);
	gsn_ctl_close(conn);
	s.spin(2);
}
#else
TEST(CtlFdsServer, ReplyNeedsTheClientFdAccessor)
{
	gsn_ctl_hdr h = {GSN_CTL_VERSION, 70, 1, 0, 0};
	int fd = 0;
	EXPECT_EQ(gsn_ctl_reply_fds(nullptr, nullptr, &h, nullptr, 0, &fd, 1), -ENOSYS);
}
#endif

} // namespace
