/* SPDX-License-Identifier: MIT */
/* Control protocol: header and body codecs, text bodies, paths, client. */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <gsn/wire_bytes.h>

static const char *const type_names[GSN_CTL_TYPE_COUNT] = {
	[GSN_CTL_HELLO] = "HELLO",
	[GSN_CTL_STATUS] = "STATUS",
	[GSN_CTL_STATS] = "STATS",
	[GSN_CTL_HARP_LIST] = "HARP_LIST",
	[GSN_CTL_HARP_ADD] = "HARP_ADD",
	[GSN_CTL_HARP_DEL] = "HARP_DEL",
	[GSN_CTL_HARP_RESOLVE] = "HARP_RESOLVE",
	[GSN_CTL_ADMIN] = "ADMIN",
	[GSN_CTL_RAW_BIND] = "RAW_BIND",
	[GSN_CTL_RAW_SEND] = "RAW_SEND",
	[GSN_CTL_RAW_RECV] = "RAW_RECV",
	[GSN_CTL_LINK_WAIT] = "LINK_WAIT",
	[GSN_CTL_GEN] = "GEN",
};

const char *gsn_ctl_type_name(unsigned type)
{
	return type < GSN_CTL_TYPE_COUNT && type_names[type] ? type_names[type] : "?";
}

/* ---- header ---- */

void gsn_ctl_hdr_encode(const struct gsn_ctl_hdr *h, uint8_t out[GSN_CTL_HDR_LEN])
{
	gsn_put_be16(out, h->version);
	gsn_put_be16(out + 2, h->type);
	gsn_put_be32(out + 4, h->seq);
	gsn_put_be32(out + 8, (uint32_t)h->status);
	gsn_put_be32(out + 12, h->body_len);
}

int gsn_ctl_hdr_decode(const uint8_t *buf, size_t len, struct gsn_ctl_hdr *h)
{
	if (len < GSN_CTL_HDR_LEN)
		return -EBADMSG;
	h->version = gsn_get_be16(buf);
	h->type = gsn_get_be16(buf + 2);
	h->seq = gsn_get_be32(buf + 4);
	h->status = (int32_t)gsn_get_be32(buf + 8);
	h->body_len = gsn_get_be32(buf + 12);
	if (h->version != GSN_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (h->body_len != len - GSN_CTL_HDR_LEN || h->body_len > GSN_CTL_BODY_MAX)
		return -EBADMSG;
	return 0;
}

/* ---- fixed bodies ---- */

static void copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
}

size_t gsn_ctl_harp_add_encode(const struct gsn_ctl_harp_add *b, uint8_t *out)
{
	copy(out, b->ip, 4);
	copy(out + 4, b->ula, 6);
	out[10] = b->flags;
	out[11] = 0;
	return GSN_CTL_HARP_ADD_LEN;
}

int gsn_ctl_harp_add_decode(const uint8_t *buf, size_t len, struct gsn_ctl_harp_add *b)
{
	if (len != GSN_CTL_HARP_ADD_LEN)
		return -EBADMSG;
	copy(b->ip, buf, 4);
	copy(b->ula, buf + 4, 6);
	b->flags = buf[10];
	return 0;
}

size_t gsn_ctl_ipv4_encode(const struct gsn_ctl_ipv4 *b, uint8_t *out)
{
	copy(out, b->ip, 4);
	return GSN_CTL_IPV4_LEN;
}

int gsn_ctl_ipv4_decode(const uint8_t *buf, size_t len, struct gsn_ctl_ipv4 *b)
{
	if (len != GSN_CTL_IPV4_LEN)
		return -EBADMSG;
	copy(b->ip, buf, 4);
	return 0;
}

size_t gsn_ctl_resolve_encode(const struct gsn_ctl_resolve *b, uint8_t *out)
{
	copy(out, b->ip, 4);
	gsn_put_be32(out + 4, b->timeout_ms);
	return GSN_CTL_RESOLVE_LEN;
}

int gsn_ctl_resolve_decode(const uint8_t *buf, size_t len, struct gsn_ctl_resolve *b)
{
	if (len != GSN_CTL_RESOLVE_LEN)
		return -EBADMSG;
	copy(b->ip, buf, 4);
	b->timeout_ms = gsn_get_be32(buf + 4);
	return 0;
}

size_t gsn_ctl_ula_encode(const struct gsn_ctl_ula *b, uint8_t *out)
{
	copy(out, b->ula, 6);
	return GSN_CTL_ULA_LEN;
}

int gsn_ctl_ula_decode(const uint8_t *buf, size_t len, struct gsn_ctl_ula *b)
{
	if (len != GSN_CTL_ULA_LEN)
		return -EBADMSG;
	copy(b->ula, buf, 6);
	return 0;
}

size_t gsn_ctl_admin_req_encode(const struct gsn_ctl_admin_req *b, uint8_t *out)
{
	out[0] = b->mode;
	out[1] = b->hops;
	out[2] = b->cmd;
	out[3] = 0;
	gsn_put_be32(out + 4, b->timeout_ms);
	copy(out + 8, b->ula, 6);
	out[14] = out[15] = 0;
	copy(out + 16, b->route, 8);
	copy(out + 24, b->args, 16);
	return GSN_CTL_ADMIN_REQ_LEN;
}

int gsn_ctl_admin_req_decode(const uint8_t *buf, size_t len, struct gsn_ctl_admin_req *b)
{
	if (len != GSN_CTL_ADMIN_REQ_LEN)
		return -EBADMSG;
	b->mode = buf[0];
	b->hops = buf[1];
	b->cmd = buf[2];
	b->timeout_ms = gsn_get_be32(buf + 4);
	copy(b->ula, buf + 8, 6);
	copy(b->route, buf + 16, 8);
	copy(b->args, buf + 24, 16);
	if (b->mode > GSN_CTL_ADMIN_BY_ROUTE || b->hops > 8)
		return -EINVAL;
	return 0;
}

size_t gsn_ctl_admin_resp_encode(const struct gsn_ctl_admin_resp *b, uint8_t *out)
{
	copy(out, b->admin, 32);
	gsn_put_be64(out + 32, b->rtt_ns);
	return GSN_CTL_ADMIN_RESP_LEN;
}

int gsn_ctl_admin_resp_decode(const uint8_t *buf, size_t len, struct gsn_ctl_admin_resp *b)
{
	if (len != GSN_CTL_ADMIN_RESP_LEN)
		return -EBADMSG;
	copy(b->admin, buf, 32);
	b->rtt_ns = gsn_get_be64(buf + 32);
	return 0;
}

size_t gsn_ctl_bind_encode(const struct gsn_ctl_bind *b, uint8_t *out)
{
	gsn_put_be16(out, b->ethertype);
	gsn_put_be16(out + 2, b->flags);
	return GSN_CTL_BIND_LEN;
}

int gsn_ctl_bind_decode(const uint8_t *buf, size_t len, struct gsn_ctl_bind *b)
{
	if (len != GSN_CTL_BIND_LEN)
		return -EBADMSG;
	b->ethertype = gsn_get_be16(buf);
	b->flags = gsn_get_be16(buf + 2);
	return 0;
}

size_t gsn_ctl_raw_encode_head(const struct gsn_ctl_raw *b, uint8_t *out)
{
	out[0] = b->vc;
	out[1] = 0;
	gsn_put_be16(out + 2, b->ethertype);
	copy(out + 4, b->dst, 6);
	copy(out + 10, b->src, 6);
	return GSN_CTL_RAW_HDR_LEN;
}

int gsn_ctl_raw_decode(const uint8_t *buf, size_t len, struct gsn_ctl_raw *b)
{
	if (len < GSN_CTL_RAW_HDR_LEN || len - GSN_CTL_RAW_HDR_LEN > GSN_CTL_RAW_DATA_MAX)
		return -EBADMSG;
	b->vc = buf[0];
	b->ethertype = gsn_get_be16(buf + 2);
	copy(b->dst, buf + 4, 6);
	copy(b->src, buf + 10, 6);
	b->data = buf + GSN_CTL_RAW_HDR_LEN;
	b->len = len - GSN_CTL_RAW_HDR_LEN;
	return b->vc > 3 ? -EINVAL : 0;
}

size_t gsn_ctl_timeout_encode(const struct gsn_ctl_timeout *b, uint8_t *out)
{
	gsn_put_be32(out, b->timeout_ms);
	return GSN_CTL_TIMEOUT_LEN;
}

int gsn_ctl_timeout_decode(const uint8_t *buf, size_t len, struct gsn_ctl_timeout *b)
{
	if (len != GSN_CTL_TIMEOUT_LEN)
		return -EBADMSG;
	b->timeout_ms = gsn_get_be32(buf);
	return 0;
}

size_t gsn_ctl_gen_encode(const struct gsn_ctl_gen *b, uint8_t *out)
{
	copy(out, b->dst, 6);
	out[6] = b->vc;
	out[7] = 0;
	gsn_put_be32(out + 8, b->size);
	gsn_put_be32(out + 12, b->count);
	return GSN_CTL_GEN_LEN;
}

int gsn_ctl_gen_decode(const uint8_t *buf, size_t len, struct gsn_ctl_gen *b)
{
	if (len != GSN_CTL_GEN_LEN)
		return -EBADMSG;
	copy(b->dst, buf, 6);
	b->vc = buf[6];
	b->size = gsn_get_be32(buf + 8);
	b->count = gsn_get_be32(buf + 12);
	return b->vc > 3 ? -EINVAL : 0;
}

/* ---- text ---- */

int gsn_ctl_text_check(const uint8_t *buf, size_t len)
{
	if (len > GSN_CTL_TEXT_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++)
		if ((buf[i] < 0x20 || buf[i] > 0x7e) && buf[i] != '\n' && buf[i] != '\t')
			return -EBADMSG;
	return 0;
}

int gsn_ctl_kv_next(const uint8_t *buf, size_t len, size_t *pos, struct gsn_ctl_kv *kv)
{
	while (*pos < len) {
		const char *s = (const char *)buf + *pos;
		size_t rest = len - *pos;
		const char *nl = memchr(s, '\n', rest);
		size_t n = nl ? (size_t)(nl - s) : rest;

		*pos += nl ? n + 1 : n;
		if (n == 0)
			continue; /* blank line */
		const char *eq = memchr(s, '=', n);

		if (!eq || eq == s)
			return -EBADMSG;
		kv->key = s;
		kv->key_len = (size_t)(eq - s);
		kv->val = eq + 1;
		kv->val_len = n - kv->key_len - 1;
		return 1;
	}
	return 0;
}

int gsn_ctl_kv_get(const uint8_t *buf, size_t len, const char *key, char *out, size_t outlen)
{
	struct gsn_ctl_kv kv;
	size_t pos = 0, klen = strlen(key);
	int r;

	while ((r = gsn_ctl_kv_next(buf, len, &pos, &kv)) == 1) {
		if (kv.key_len != klen || memcmp(kv.key, key, klen) != 0)
			continue;
		if (kv.val_len >= outlen)
			return -ENOSPC;
		memcpy(out, kv.val, kv.val_len);
		out[kv.val_len] = '\0';
		return 0;
	}
	return r < 0 ? r : -ENOENT;
}

int gsn_ctl_textf(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;

	if (*off >= cap)
		return -ENOSPC;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *off, cap - *off, fmt, ap);

	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off) {
		buf[*off] = '\0';
		return -ENOSPC;
	}
	*off += (size_t)n;
	return 0;
}

/* ---- paths ---- */

int gsn_ctl_rundir(char *buf, size_t len)
{
	const char *env = getenv("GSN_RUNDIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, len, "%s/gsn", env);
	else
		n = snprintf(buf, len, "/tmp/gsn-%u", (unsigned)getuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gsn_ctl_rundir_ensure(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() || (st.st_mode & 0022))
		return -EPERM;
	return 0;
}

int gsn_ctl_sock_path(const char *dir, const char *element, char *buf, size_t len)
{
	struct sockaddr_un sun;

	if (!element || !*element || element[0] == '.' || strchr(element, '/') ||
	    strlen(element) > 64)
		return -EINVAL;
	int n = snprintf(buf, len, "%s/%s.sock", dir, element);

	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- client ---- */

struct gsn_ctl_conn {
	int fd;
	uint32_t seq;
	gsn_ctl_async_fn async;
	void *async_arg;
	uint8_t buf[GSN_CTL_MSG_MAX];
};

int gsn_ctl_connect_path(const char *path, struct gsn_ctl_conn **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	struct gsn_ctl_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

int gsn_ctl_connect(const char *rundir, const char *element, struct gsn_ctl_conn **out)
{
	char dir[256], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int err;

	if (!rundir) {
		err = gsn_ctl_rundir(dir, sizeof(dir));
		if (err)
			return err;
		rundir = dir;
	}
	err = gsn_ctl_sock_path(rundir, element, path, sizeof(path));
	return err ? err : gsn_ctl_connect_path(path, out);
}

void gsn_ctl_close(struct gsn_ctl_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int gsn_ctl_conn_fd(const struct gsn_ctl_conn *c)
{
	return c->fd;
}

void gsn_ctl_set_async(struct gsn_ctl_conn *c, gsn_ctl_async_fn fn, void *arg)
{
	c->async = fn;
	c->async_arg = arg;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for events on fd until deadline (UINT64_MAX: forever). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		uint64_t now = now_ms();
		int ms = deadline == UINT64_MAX ? -1
			 : deadline <= now     ? 0
			 : deadline - now > INT32_MAX ? INT32_MAX
						    : (int)(deadline - now);
		int n = poll(&p, 1, ms);

		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
}

int gsn_ctl_send_request(struct gsn_ctl_conn *c, uint16_t type, const void *body, size_t len,
			 uint32_t *seq, int timeout_ms)
{
	if (len > GSN_CTL_BODY_MAX)
		return -EMSGSIZE;
	if (++c->seq == 0)
		c->seq = 1;
	struct gsn_ctl_hdr h = {GSN_CTL_VERSION, type, c->seq, 0, (uint32_t)len};
	uint8_t hb[GSN_CTL_HDR_LEN];
	struct iovec iov[2] = {{hb, sizeof(hb)}, {(void *)body, len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	uint64_t deadline = deadline_of(timeout_ms);

	gsn_ctl_hdr_encode(&h, hb);
	for (;;) {
		if (sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			break;
		if (errno == EPIPE || errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int err = wait_fd(c->fd, POLLOUT, deadline);

		if (err)
			return err;
	}
	if (seq)
		*seq = c->seq;
	return 0;
}

int gsn_ctl_recv(struct gsn_ctl_conn *c, struct gsn_ctl_hdr *h, const uint8_t **body,
		 size_t *len, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);

	for (;;) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n == 0)
			return -ECONNRESET;
		if (n > 0) {
			if ((size_t)n > sizeof(c->buf))
				return -EBADMSG; /* larger than any message: dropped */
			int err = gsn_ctl_hdr_decode(c->buf, (size_t)n, h);

			if (err)
				return err;
			*body = c->buf + GSN_CTL_HDR_LEN;
			*len = h->body_len;
			return 0;
		}
		if (errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int err = wait_fd(c->fd, POLLIN, deadline);

		if (err)
			return err;
	}
}

int gsn_ctl_call(struct gsn_ctl_conn *c, uint16_t type, const void *req, size_t req_len,
		 struct gsn_ctl_hdr *h, const uint8_t **resp, size_t *resp_len, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	uint32_t seq;
	int err = gsn_ctl_send_request(c, type, req, req_len, &seq, timeout_ms);

	if (err)
		return err;
	for (;;) {
		uint64_t now = now_ms();
		int left = deadline == UINT64_MAX ? -1
			   : deadline <= now     ? 0
			   : (int)(deadline - now > INT32_MAX ? INT32_MAX : deadline - now);

		err = gsn_ctl_recv(c, h, resp, resp_len, left);
		if (err == -EBADMSG || err == -EPROTONOSUPPORT)
			continue; /* not ours to answer: skip it */
		if (err)
			return err;
		if (h->seq == seq && h->type == type)
			return 0;
		if (c->async)
			c->async(c->async_arg, h, *resp, *resp_len);
	}
}
