/* SPDX-License-Identifier: MIT */
/*
 * gsn_rc_pingpong: ibv_rc_pingpong for gsn.  Two processes connect an RC
 * QP each (addresses exchanged over TCP), then bounce a message back and
 * forth with SEND/RECV:
 *
 *   server:  gsn_rc_pingpong [options]
 *   client:  gsn_rc_pingpong [options] HOST
 *
 * Options as ibv_rc_pingpong's: -p PORT (TCP, 18515), -d DEVICE, -i PORT
 * (1), -s SIZE (4096), -r RX_DEPTH (500), -n ITERS (1000), -e (sleep on
 * completion events instead of polling), -c / -C (check the data against
 * a per-message pattern: on by default / off).  Prints the addresses, then
 *   N bytes in T seconds = X Mbit/sec
 *   N iters in T seconds = U usec/iter
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libgsn.h>

#define SEND_WRID 2u
#define RECV_WRID 1u /* wr_id = slot << 2 | RECV_WRID */
#define ADDR_MSG_LEN 27 /* "xx:xx:xx:xx:xx:xx:qqqqqqqq" + NUL */

struct opts {
	const char *server; /* NULL: we are the server */
	const char *dev;
	int tcp_port;
	unsigned size, rx_depth, iters;
	bool events, check;
};

struct pp {
	struct opts o;
	struct gsn_device **list;
	struct gsn_context *ctx;
	struct gsn_comp_channel *ch;
	struct gsn_pd *pd;
	struct gsn_mr *mr;
	struct gsn_cq *cq;
	struct gsn_qp *qp;
	uint8_t *buf; /* send buffer, then rx_depth receive slots */
	size_t buf_len;
	bool inline_send;
	int sock;
	unsigned cq_events;
	unsigned long mismatches;
};

struct dest {
	uint8_t ula[6];
	uint32_t qpn;
};

static void usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage:\n"
		"  %s            start a server and wait for connection\n"
		"  %s <host>     connect to server at <host>\n"
		"\n"
		"Options:\n"
		"  -p, --port=<port>      listen on/connect to port <port> (default 18515)\n"
		"  -d, --ib-dev=<dev>     use device <dev> (default first device found)\n"
		"  -i, --ib-port=<port>   use port <port> of the device (default 1)\n"
		"  -s, --size=<size>      size of message to exchange (default 4096)\n"
		"  -r, --rx-depth=<dep>   number of receives to post at a time (default 500)\n"
		"  -n, --iters=<iters>    number of exchanges (default 1000)\n"
		"  -e, --events           sleep on CQ events (default poll)\n"
		"  -c, --chk              validate received buffer (default on)\n"
		"  -C, --no-chk           do not validate received buffer\n",
		argv0, argv0);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{"port", required_argument, NULL, 'p'},	  {"ib-dev", required_argument, NULL, 'd'},
		{"ib-port", required_argument, NULL, 'i'}, {"size", required_argument, NULL, 's'},
		{"rx-depth", required_argument, NULL, 'r'}, {"iters", required_argument, NULL, 'n'},
		{"events", no_argument, NULL, 'e'},	  {"chk", no_argument, NULL, 'c'},
		{"no-chk", no_argument, NULL, 'C'},	  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned v;
	int c;

	*o = (struct opts){.tcp_port = 18515, .size = 4096, .rx_depth = 500, .iters = 1000,
			   .check = true};
	while ((c = getopt_long(argc, argv, "p:d:i:s:r:n:ecCh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_uint(optarg, 1, 65535, &v))
				goto bad;
			o->tcp_port = (int)v;
			break;
		case 'd':
			o->dev = optarg;
			break;
		case 'i':
			if (parse_uint(optarg, 1, 1, &v))
				goto bad;
			break;
		case 's':
			if (parse_uint(optarg, 1, 1u << 30, &o->size))
				goto bad;
			break;
		case 'r':
			if (parse_uint(optarg, 1, 1u << 20, &o->rx_depth))
				goto bad;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 1u << 30, &o->iters))
				goto bad;
			break;
		case 'e':
			o->events = true;
			break;
		case 'c':
			o->check = true;
			break;
		case 'C':
			o->check = false;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc - 1)
		o->server = argv[optind];
	else if (optind < argc)
		goto bad;
	return 0;
bad:
	usage(stderr, argv[0]);
	return -1;
}

/* ---- TCP side channel ---- */

static int tcp_connect(const char *host, int port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *t;
	char service[8];
	int fd = -1;

	snprintf(service, sizeof(service), "%d", port);
	int n = getaddrinfo(host, service, &hints, &res);

	if (n) {
		fprintf(stderr, "%s for %s:%d\n", gai_strerror(n), host, port);
		return -1;
	}
	/* The server may still be setting up: try for a few seconds. */
	for (int attempt = 0; fd < 0 && attempt < 50; attempt++) {
		for (t = res; t; t = t->ai_next) {
			fd = socket(t->ai_family, t->ai_socktype | SOCK_CLOEXEC, t->ai_protocol);
			if (fd < 0)
				continue;
			if (connect(fd, t->ai_addr, t->ai_addrlen) == 0)
				break;
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			usleep(100000);
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "Couldn't connect to %s:%d\n", host, port);
	return fd;
}

static int tcp_accept(int port)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM},
			*res, *t;
	char service[8];
	int lfd = -1, one = 1;

	snprintf(service, sizeof(service), "%d", port);
	int n = getaddrinfo(NULL, service, &hints, &res);

	if (n) {
		fprintf(stderr, "%s for port %d\n", gai_strerror(n), port);
		return -1;
	}
	for (t = res; t; t = t->ai_next) {
		lfd = socket(t->ai_family, t->ai_socktype | SOCK_CLOEXEC, t->ai_protocol);
		if (lfd < 0)
			continue;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd, t->ai_addr, t->ai_addrlen) == 0 && listen(lfd, 1) == 0)
			break;
		close(lfd);
		lfd = -1;
	}
	freeaddrinfo(res);
	if (lfd < 0) {
		fprintf(stderr, "Couldn't listen to port %d\n", port);
		return -1;
	}
	int fd = accept(lfd, NULL, NULL);

	close(lfd);
	if (fd < 0)
		fprintf(stderr, "accept() failed\n");
	return fd;
}

static int full_io(int fd, void *buf, size_t len, bool writing)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void dest_encode(const struct dest *d, char msg[ADDR_MSG_LEN])
{
	snprintf(msg, ADDR_MSG_LEN, "%02x:%02x:%02x:%02x:%02x:%02x:%08x", d->ula[0], d->ula[1],
		 d->ula[2], d->ula[3], d->ula[4], d->ula[5], d->qpn);
}

static int dest_decode(const char msg[ADDR_MSG_LEN], struct dest *d)
{
	unsigned u[6], q;

	if (msg[ADDR_MSG_LEN - 1] != '\0' ||
	    sscanf(msg, "%2x:%2x:%2x:%2x:%2x:%2x:%8x", &u[0], &u[1], &u[2], &u[3], &u[4], &u[5],
		   &q) != 7)
		return -1;
	for (int i = 0; i < 6; i++)
		d->ula[i] = (uint8_t)u[i];
	d->qpn = q;
	return 0;
}

/* Client: send ours, read theirs.  Server: read theirs, send ours. */
static int exchange(struct pp *pp, const struct dest *mine, struct dest *theirs)
{
	char out[ADDR_MSG_LEN], in[ADDR_MSG_LEN];

	dest_encode(mine, out);
	pp->sock = pp->o.server ? tcp_connect(pp->o.server, pp->o.tcp_port)
				: tcp_accept(pp->o.tcp_port);
	if (pp->sock < 0)
		return -1;
	if (pp->o.server) {
		if (full_io(pp->sock, out, sizeof(out), true) || full_io(pp->sock, in, sizeof(in), false))
			goto fail;
	} else {
		if (full_io(pp->sock, in, sizeof(in), false) || full_io(pp->sock, out, sizeof(out), true))
			goto fail;
	}
	if (dest_decode(in, theirs) == 0)
		return 0;
fail:
	fprintf(stderr, "Couldn't exchange addresses\n");
	return -1;
}

/* ---- verbs-style set-up ---- */

static uint8_t *send_buf(struct pp *pp)
{
	return pp->buf;
}

static uint8_t *recv_slot(struct pp *pp, unsigned slot)
{
	return pp->buf + (size_t)pp->o.size * (1 + slot);
}

/* Message number n: byte i is (n * 7 + i) mod 251 (a prime: no short period). */
static void fill_pattern(uint8_t *p, unsigned size, unsigned n)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)((n * 7u + i) % 251u);
}

static bool check_pattern(const uint8_t *p, unsigned size, unsigned n)
{
	for (unsigned i = 0; i < size; i++)
		if (p[i] != (uint8_t)((n * 7u + i) % 251u))
			return false;
	return true;
}

static int post_recv(struct pp *pp, unsigned slot)
{
	struct gsn_sge sge = {
		.addr = (uint64_t)(uintptr_t)recv_slot(pp, slot),
		.length = pp->o.size,
		.lkey = pp->mr->lkey,
	};
	struct gsn_recv_wr wr = {.wr_id = (uint64_t)slot << 2 | RECV_WRID, .sg_list = &sge,
				 .num_sge = 1};
	struct gsn_recv_wr *bad;

	return gsn_post_recv(pp->qp, &wr, &bad);
}

static int post_send(struct pp *pp, unsigned n)
{
	struct gsn_sge sge = {
		.addr = (uint64_t)(uintptr_t)send_buf(pp),
		.length = pp->o.size,
		.lkey = pp->mr->lkey,
	};
	struct gsn_send_wr wr = {
		.wr_id = SEND_WRID,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = GSN_WR_SEND,
		.send_flags = GSN_SEND_SIGNALED | (pp->inline_send ? GSN_SEND_INLINE : 0),
	};
	struct gsn_send_wr *bad;

	if (pp->o.check)
		fill_pattern(send_buf(pp), pp->o.size, n);
	return gsn_post_send(pp->qp, &wr, &bad);
}

static struct gsn_device *pick_device(struct pp *pp)
{
	int n, err = gsn_get_device_list(&pp->list, &n);

	if (err) {
		fprintf(stderr, "Failed to get gsn devices list: %s\n", strerror(-err));
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if (!pp->o.dev || strcmp(gsn_get_device_name(pp->list[i]), pp->o.dev) == 0)
			return pp->list[i];
	fprintf(stderr, pp->o.dev ? "gsn device %s not found\n" : "No gsn devices found\n",
		pp->o.dev);
	return NULL;
}

static int setup(struct pp *pp, struct dest *mine)
{
	struct gsn_device *dev = pick_device(pp);
	struct gsn_device_attr da;
	struct gsn_port_attr pa;
	int err;

	if (!dev)
		return -1;
	if ((err = gsn_open_device(dev, &pp->ctx))) {
		fprintf(stderr, "Couldn't get context for %s: %s\n", gsn_get_device_name(dev),
			strerror(-err));
		return -1;
	}
	if ((err = gsn_query_device(pp->ctx, &da)) || (err = gsn_query_port(pp->ctx, 1, &pa))) {
		fprintf(stderr, "Couldn't get port info: %s\n", strerror(-err));
		return -1;
	}
	if (pa.state != GSN_PORT_ACTIVE)
		fprintf(stderr, "warning: port 1 is %s\n", gsn_port_state_str(pa.state));
	if (pp->o.size > da.max_msg_size || pp->o.rx_depth + 1 > da.max_cqe ||
	    pp->o.rx_depth > da.max_qp_wr) {
		fprintf(stderr, "size or rx-depth beyond the device's limits\n");
		return -1;
	}
	pp->buf_len = (size_t)pp->o.size * (pp->o.rx_depth + 1);
	long pg = sysconf(_SC_PAGESIZE);

	if (posix_memalign((void **)&pp->buf, pg > 0 ? (size_t)pg : 4096, pp->buf_len)) {
		pp->buf = NULL;
		fprintf(stderr, "Couldn't allocate work buf.\n");
		return -1;
	}
	memset(pp->buf, 0x7b, pp->buf_len);
	if (pp->o.events && (err = gsn_create_comp_channel(pp->ctx, &pp->ch))) {
		fprintf(stderr, "Couldn't create completion channel: %s\n", strerror(-err));
		return -1;
	}
	if ((err = gsn_alloc_pd(pp->ctx, &pp->pd))) {
		fprintf(stderr, "Couldn't allocate PD: %s\n", strerror(-err));
		return -1;
	}
	if ((err = gsn_reg_mr(pp->pd, pp->buf, pp->buf_len, GSN_ACCESS_LOCAL_WRITE, 0, &pp->mr))) {
		fprintf(stderr, "Couldn't register MR: %s\n", strerror(-err));
		return -1;
	}
	if ((err = gsn_create_cq(pp->ctx, (int)pp->o.rx_depth + 1, NULL, pp->ch, 0, &pp->cq))) {
		fprintf(stderr, "Couldn't create CQ: %s\n", strerror(-err));
		return -1;
	}
	struct gsn_qp_init_attr ia = {
		.send_cq = pp->cq,
		.recv_cq = pp->cq,
		.cap = {.max_send_wr = 1, .max_recv_wr = pp->o.rx_depth, .max_send_sge = 1,
			.max_recv_sge = 1, .max_inline_data = da.max_inline},
		.qp_type = GSN_QPT_RC,
	};

	if ((err = gsn_create_qp(pp->pd, &ia, &pp->qp))) {
		fprintf(stderr, "Couldn't create QP: %s\n", strerror(-err));
		return -1;
	}
	pp->inline_send = pp->o.size <= ia.cap.max_inline_data;
	struct gsn_qp_attr attr = {.qp_state = GSN_QPS_INIT, .qp_access_flags = 0};

	if ((err = gsn_modify_qp(pp->qp, &attr, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS))) {
		fprintf(stderr, "Failed to modify QP to INIT: %s\n", strerror(-err));
		return -1;
	}
	for (unsigned i = 0; i < pp->o.rx_depth; i++)
		if ((err = post_recv(pp, i))) {
			fprintf(stderr, "Couldn't post receive (%u): %s\n", i, strerror(-err));
			return -1;
		}
	if (pp->o.events && (err = gsn_req_notify_cq(pp->cq, 0))) {
		fprintf(stderr, "Couldn't request CQ notification: %s\n", strerror(-err));
		return -1;
	}
	memcpy(mine->ula, pa.ula, sizeof(mine->ula));
	mine->qpn = pp->qp->qp_num;
	return 0;
}

static int connect_qp(struct pp *pp, const struct dest *d)
{
	struct gsn_qp_attr attr = {.qp_state = GSN_QPS_RTR, .dest_qp_num = d->qpn};
	int err;

	memcpy(attr.dest_ula, d->ula, sizeof(attr.dest_ula));
	if ((err = gsn_modify_qp(pp->qp, &attr, GSN_QP_STATE | GSN_QP_DEST))) {
		fprintf(stderr, "Failed to modify QP to RTR: %s\n", strerror(-err));
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = GSN_QPS_RTS;
	attr.timeout_ms = 0; /* gsnd's default */
	attr.retry_cnt = 7;
	if ((err = gsn_modify_qp(pp->qp, &attr, GSN_QP_STATE | GSN_QP_TIMEOUT | GSN_QP_RETRY))) {
		fprintf(stderr, "Failed to modify QP to RTS: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

static void teardown(struct pp *pp)
{
	if (pp->cq_events && pp->cq)
		gsn_ack_cq_events(pp->cq, pp->cq_events);
	if (pp->qp && gsn_destroy_qp(pp->qp))
		fprintf(stderr, "Couldn't destroy QP\n");
	if (pp->cq && gsn_destroy_cq(pp->cq))
		fprintf(stderr, "Couldn't destroy CQ\n");
	if (pp->mr && gsn_dereg_mr(pp->mr))
		fprintf(stderr, "Couldn't deregister MR\n");
	if (pp->pd && gsn_dealloc_pd(pp->pd))
		fprintf(stderr, "Couldn't deallocate PD\n");
	if (pp->ch && gsn_destroy_comp_channel(pp->ch))
		fprintf(stderr, "Couldn't destroy completion channel\n");
	if (pp->ctx)
		gsn_close_device(pp->ctx);
	gsn_free_device_list(pp->list);
	free(pp->buf);
	if (pp->sock >= 0)
		close(pp->sock);
}

static double now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The ping-pong proper: 0 when every message went and came (and checked). */
static int run(struct pp *pp)
{
	unsigned rcnt = 0, scnt = 0, pending = RECV_WRID;
	int err;

	if (pp->o.server) { /* the client sends first */
		if ((err = post_send(pp, scnt))) {
			fprintf(stderr, "Couldn't post send: %s\n", strerror(-err));
			return -1;
		}
		pending |= SEND_WRID;
	}
	while (rcnt < pp->o.iters || scnt < pp->o.iters) {
		struct gsn_wc wc[2];
		int n;

		if (pp->o.events) {
			struct gsn_cq *ev_cq;
			void *ev_ctx;

			if ((err = gsn_get_cq_event(pp->ch, &ev_cq, &ev_ctx))) {
				fprintf(stderr, "Failed to get cq_event: %s\n", strerror(-err));
				return -1;
			}
			pp->cq_events++;
			if (ev_cq != pp->cq) {
				fprintf(stderr, "CQ event for unknown CQ %p\n", (void *)ev_cq);
				return -1;
			}
			if ((err = gsn_req_notify_cq(pp->cq, 0))) {
				fprintf(stderr, "Couldn't request CQ notification: %s\n", strerror(-err));
				return -1;
			}
		}
		do {
			n = gsn_poll_cq(pp->cq, 2, wc);
			if (n < 0) {
				fprintf(stderr, "poll CQ failed %d\n", n);
				return -1;
			}
		} while (!pp->o.events && n < 1);
		for (int i = 0; i < n; i++) {
			if (wc[i].status != GSN_WC_SUCCESS) {
				fprintf(stderr, "Failed status %s (%d) for wr_id %d\n",
					gsn_wc_status_str(wc[i].status), (int)wc[i].status,
					(int)wc[i].wr_id);
				return -1;
			}
			unsigned kind = (unsigned)(wc[i].wr_id & 3);

			if (kind == SEND_WRID) {
				++scnt;
			} else if (kind == RECV_WRID) {
				unsigned slot = (unsigned)(wc[i].wr_id >> 2);

				if (slot >= pp->o.rx_depth || wc[i].byte_len != pp->o.size) {
					fprintf(stderr, "Bad receive completion: slot %u, %u bytes\n",
						slot, wc[i].byte_len);
					return -1;
				}
				if (pp->o.check && !check_pattern(recv_slot(pp, slot), pp->o.size, rcnt))
					pp->mismatches++;
				if ((err = post_recv(pp, slot))) {
					fprintf(stderr, "Couldn't post receive: %s\n", strerror(-err));
					return -1;
				}
				++rcnt;
			} else {
				fprintf(stderr, "Completion for unknown wr_id %d\n", (int)wc[i].wr_id);
				return -1;
			}
			pending &= ~kind;
			if (scnt < pp->o.iters && !pending) {
				if ((err = post_send(pp, scnt))) {
					fprintf(stderr, "Couldn't post send: %s\n", strerror(-err));
					return -1;
				}
				pending = RECV_WRID | SEND_WRID;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pp pp = {.sock = -1};
	struct dest mine, theirs;
	int rc = 1;

	if (parse_args(argc, argv, &pp.o))
		return 1;
	if (setup(&pp, &mine))
		goto out;
	printf("  local address:  ULA %02x:%02x:%02x:%02x:%02x:%02x, QPN 0x%06x\n", mine.ula[0],
	       mine.ula[1], mine.ula[2], mine.ula[3], mine.ula[4], mine.ula[5], mine.qpn);
	fflush(stdout);
	if (exchange(&pp, &mine, &theirs))
		goto out;
	printf("  remote address: ULA %02x:%02x:%02x:%02x:%02x:%02x, QPN 0x%06x\n", theirs.ula[0],
	       theirs.ula[1], theirs.ula[2], theirs.ula[3], theirs.ula[4], theirs.ula[5], theirs.qpn);
	fflush(stdout);
	if (connect_qp(&pp, &theirs))
		goto out;
	double start = now_usec();

	if (run(&pp))
		goto out;
	double usec = now_usec() - start;
	long long bytes = (long long)pp.o.size * pp.o.iters * 2;

	printf("%lld bytes in %.2f seconds = %.2f Mbit/sec\n", bytes, usec / 1000000.,
	       bytes * 8. / usec);
	printf("%u iters in %.2f seconds = %.2f usec/iter\n", pp.o.iters, usec / 1000000.,
	       usec / pp.o.iters);
	if (pp.mismatches) {
		fprintf(stderr, "%lu received messages did not match the pattern\n", pp.mismatches);
		goto out;
	}
	/* Both sides are done before either tears its QP down. */
	char done = 'd';

	if (full_io(pp.sock, &done, 1, true) || full_io(pp.sock, &done, 1, false)) {
		fprintf(stderr, "Couldn't synchronise the end\n");
		goto out;
	}
	rc = 0;
out:
	teardown(&pp);
	return rc;
}
