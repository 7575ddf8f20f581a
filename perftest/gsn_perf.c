/* SPDX-License-Identifier: MIT */
/*
 * gsn_perf: latency and bandwidth of the gsn device through libgsn, between
 * two processes on one host (this program forks the second one; the QP
 * addresses and rkeys are exchanged over a socketpair).
 *
 *   gsn_perf [--lat] [--bw] [-n ITERS] [-s SIZE] [-w WINDOW] [-d DEVICE]
 *
 *  --lat  SEND/RECV ping-pong of -s bytes (default 8): one-way latency
 *         (half the round trip) in usec: min, median, average, p99, max,
 *         like ib_send_lat's columns.
 *  --bw   RDMA WRITE of --bw-size bytes (default 1 MiB) with WINDOW
 *         (default 16) writes outstanding: MB/s (10^6 bytes/s, as
 *         fi_pingpong), like ib_write_bw's average column.
 *  Neither: both.  -n: iterations (latency 10000, bandwidth 2000).
 *
 * The device is the one libgsn finds (GSN_RUNDIR, GSN_DEVICE), else the
 * private gsnd it autostarts.  Output lines are machine-readable:
 *   lat  bytes=8 iters=10000 min=.. median=.. avg=.. p99=.. max=.. (usec)
 *   bw   bytes=1048576 iters=2000 window=16 MB/s=.. msg/s=..
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libgsn.h>

#define RX_DEPTH 64u
#define WRID_RECV 1u
#define WRID_SEND 2u
#define WRID_WRITE 3u

struct opts {
	bool lat, bw;
	unsigned lat_iters, bw_iters, lat_size, window;
	size_t bw_size;
	const char *dev;
};

struct peer_info {
	uint8_t ula[6];
	uint32_t qpn;
	uint64_t addr, rkey;
};

struct ep {
	int sock;
	bool active; /* the forked child: starts the ping-pong, does the writes */
	struct gsn_device **list;
	struct gsn_context *ctx;
	struct gsn_pd *pd;
	struct gsn_cq *cq;
	struct gsn_qp *qp;
	struct gsn_mr *mr;
	uint8_t *buf;
	size_t buf_len, slot;
	unsigned max_inline;
	unsigned recvs_in, sends_in; /* completions polled, not yet consumed */
	struct peer_info peer;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int xfer_all(int fd, void *p, size_t n, bool wr)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = wr ? write(fd, b, n) : read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int barrier(struct ep *e)
{
	char c = 'b';

	if (xfer_all(e->sock, &c, 1, true) || xfer_all(e->sock, &c, 1, false)) {
		fprintf(stderr, "gsn_perf: side channel lost\n");
		return -1;
	}
	return 0;
}

#define FAIL(what, err)                                                                    \
	do {                                                                               \
		fprintf(stderr, "gsn_perf[%s]: %s: %s\n", e->active ? "client" : "server", \
			what, strerror(-(err)));                                           \
		return -1;                                                                 \
	} while (0)

static int post_recv(struct ep *e, unsigned i)
{
	struct gsn_sge sge = {.addr = (uintptr_t)(e->buf + e->slot * (1 + i)),
			      .length = (uint32_t)e->slot,
			      .lkey = e->mr->lkey};
	struct gsn_recv_wr wr = {.wr_id = (uint64_t)i << 4 | WRID_RECV, .sg_list = &sge, .num_sge = 1};
	struct gsn_recv_wr *bad;

	return gsn_post_recv(e->qp, &wr, &bad);
}

static int setup(struct ep *e, const struct opts *o)
{
	int n, err = gsn_get_device_list(&e->list, &n);
	struct gsn_device *dev = NULL;

	if (err)
		FAIL("gsn_get_device_list", err);
	for (int i = 0; i < n; i++)
		if (!o->dev || strcmp(o->dev, gsn_get_device_name(e->list[i])) == 0) {
			dev = e->list[i];
			break;
		}
	if (!dev)
		FAIL("no gsn device", -ENODEV);
	if ((err = gsn_open_device(dev, &e->ctx)))
		FAIL("gsn_open_device", err);
	struct gsn_device_attr da;
	struct gsn_port_attr pa;

	if ((err = gsn_query_device(e->ctx, &da)))
		FAIL("gsn_query_device", err);
	if ((err = gsn_query_port(e->ctx, 1, &pa)))
		FAIL("gsn_query_port", err);
	if (o->bw && (o->bw_size > da.max_msg_size || o->bw_size > UINT32_MAX))
		FAIL("bandwidth size beyond max_msg_size", -EINVAL);
	e->slot = o->lat_size ? o->lat_size : 1;
	size_t lat_len = e->slot * (RX_DEPTH + 1);

	e->buf_len = lat_len > o->bw_size ? lat_len : o->bw_size;
	if (posix_memalign((void **)&e->buf, 4096, e->buf_len))
		FAIL("posix_memalign", -ENOMEM);
	memset(e->buf, e->active ? 0xa5 : 0x5a, e->buf_len);
	if ((err = gsn_alloc_pd(e->ctx, &e->pd)))
		FAIL("gsn_alloc_pd", err);
	if ((err = gsn_reg_mr(e->pd, e->buf, e->buf_len,
			      GSN_ACCESS_LOCAL_WRITE | GSN_ACCESS_REMOTE_WRITE, 0, &e->mr)))
		FAIL("gsn_reg_mr", err);
	unsigned sq = o->window > 16 ? o->window : 16;

	if ((err = gsn_create_cq(e->ctx, (int)(sq + RX_DEPTH), NULL, NULL, 0, &e->cq)))
		FAIL("gsn_create_cq", err);
	struct gsn_qp_init_attr ia = {
		.send_cq = e->cq,
		.recv_cq = e->cq,
		.cap = {.max_send_wr = sq, .max_recv_wr = RX_DEPTH, .max_send_sge = 1,
			.max_recv_sge = 1, .max_inline_data = da.max_inline},
		.qp_type = GSN_QPT_RC,
	};

	if ((err = gsn_create_qp(e->pd, &ia, &e->qp)))
		FAIL("gsn_create_qp", err);
	e->max_inline = ia.cap.max_inline_data;
	struct gsn_qp_attr attr = {.qp_state = GSN_QPS_INIT,
				   .qp_access_flags = GSN_ACCESS_REMOTE_WRITE};

	if ((err = gsn_modify_qp(e->qp, &attr, GSN_QP_STATE | GSN_QP_ACCESS_FLAGS)))
		FAIL("modify QP to INIT", err);
	for (unsigned i = 0; i < RX_DEPTH; i++)
		if ((err = post_recv(e, i)))
			FAIL("gsn_post_recv", err);

	struct peer_info me = {.qpn = e->qp->qp_num, .addr = (uintptr_t)e->buf, .rkey = e->mr->rkey};

	memcpy(me.ula, pa.ula, sizeof(me.ula));
	if (xfer_all(e->sock, &me, sizeof(me), true) ||
	    xfer_all(e->sock, &e->peer, sizeof(e->peer), false))
		FAIL("address exchange", -EPIPE);

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = GSN_QPS_RTR;
	attr.dest_qp_num = e->peer.qpn;
	memcpy(attr.dest_ula, e->peer.ula, sizeof(attr.dest_ula));
	if ((err = gsn_modify_qp(e->qp, &attr, GSN_QP_STATE | GSN_QP_DEST)))
		FAIL("modify QP to RTR", err);
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = GSN_QPS_RTS;
	attr.retry_cnt = 7;
	if ((err = gsn_modify_qp(e->qp, &attr, GSN_QP_STATE | GSN_QP_TIMEOUT | GSN_QP_RETRY)))
		FAIL("modify QP to RTS", err);
	return barrier(e);
}

static void teardown(struct ep *e)
{
	if (e->qp)
		gsn_destroy_qp(e->qp);
	if (e->cq)
		gsn_destroy_cq(e->cq);
	if (e->mr)
		gsn_dereg_mr(e->mr);
	if (e->pd)
		gsn_dealloc_pd(e->pd);
	if (e->ctx)
		gsn_close_device(e->ctx);
	if (e->list)
		gsn_free_device_list(e->list);
	free(e->buf);
}

/*
 * Polls until `recvs` receives and `sends` send completions are in (and
 * consumes them); completions beyond those are kept for the next call.
 */
static int wait_for(struct ep *e, unsigned recvs, unsigned sends)
{
	struct gsn_wc wc[16];

	while (e->recvs_in < recvs || e->sends_in < sends) {
		int n = gsn_poll_cq(e->cq, 16, wc);

		if (n < 0)
			FAIL("gsn_poll_cq", n);
		for (int i = 0; i < n; i++) {
			if (wc[i].status != GSN_WC_SUCCESS) {
				fprintf(stderr, "gsn_perf: completion %s, wr_id %llu, vendor_err %u\n",
					gsn_wc_status_str(wc[i].status),
					(unsigned long long)wc[i].wr_id, wc[i].vendor_err);
				return -1;
			}
			int err;

			switch (wc[i].wr_id & 0xf) {
			case WRID_RECV:
				if ((err = post_recv(e, (unsigned)(wc[i].wr_id >> 4))))
					FAIL("gsn_post_recv", err);
				e->recvs_in++;
				break;
			default:
				e->sends_in++;
			}
		}
	}
	e->recvs_in -= recvs;
	e->sends_in -= sends;
	return 0;
}

static int post_send(struct ep *e, unsigned size)
{
	struct gsn_sge sge = {.addr = (uintptr_t)e->buf, .length = size, .lkey = e->mr->lkey};
	struct gsn_send_wr wr = {.wr_id = WRID_SEND, .sg_list = &sge, .num_sge = 1,
				 .opcode = GSN_WR_SEND, .send_flags = GSN_SEND_SIGNALED};
	struct gsn_send_wr *bad;

	if (size <= e->max_inline)
		wr.send_flags |= GSN_SEND_INLINE;
	return gsn_post_send(e->qp, &wr, &bad);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run_lat(struct ep *e, const struct opts *o)
{
	unsigned warm = o->lat_iters / 10 + 10, total = warm + o->lat_iters;
	double *samp = e->active ? calloc(o->lat_iters, sizeof(double)) : NULL;
	int err;

	if (e->active && !samp)
		FAIL("calloc", -ENOMEM);
	for (unsigned i = 0; i < total; i++) {
		if (e->active) {
			double t0 = now_us();

			if ((err = post_send(e, o->lat_size)))
				FAIL("gsn_post_send", err);
			if (wait_for(e, 1, 1))
				goto fail;
			if (i >= warm)
				samp[i - warm] = (now_us() - t0) / 2;
		} else {
			if (wait_for(e, 1, 0))
				goto fail;
			if ((err = post_send(e, o->lat_size)))
				FAIL("gsn_post_send", err);
			if (wait_for(e, 0, 1))
				goto fail;
		}
	}
	if (e->active) {
		double sum = 0;
		unsigned n = o->lat_iters;

		qsort(samp, n, sizeof(double), cmp_double);
		for (unsigned i = 0; i < n; i++)
			sum += samp[i];
		unsigned p99 = (unsigned)((double)n * 0.99);

		if (p99 >= n)
			p99 = n - 1;
		printf("lat  bytes=%u iters=%u min=%.2f median=%.2f avg=%.2f p99=%.2f max=%.2f (usec, one-way)\n",
		       o->lat_size, n, samp[0], samp[n / 2], sum / n, samp[p99], samp[n - 1]);
		fflush(stdout);
		free(samp);
	}
	return barrier(e);
fail:
	free(samp);
	return -1;
}

static int run_bw(struct ep *e, const struct opts *o)
{
	if (e->active) {
		struct gsn_sge sge = {.addr = (uintptr_t)e->buf, .length = (uint32_t)o->bw_size,
				      .lkey = e->mr->lkey};
		struct gsn_send_wr wr = {.wr_id = WRID_WRITE, .sg_list = &sge, .num_sge = 1,
					 .opcode = GSN_WR_RDMA_WRITE,
					 .send_flags = GSN_SEND_SIGNALED,
					 .wr = {.rdma = {.remote_addr = e->peer.addr, .rkey = e->peer.rkey}}};
		struct gsn_send_wr *bad;
		unsigned warm = o->bw_iters / 10 + 4;
		double t0 = 0;

		for (int phase = 0; phase < 2; phase++) {
			unsigned iters = phase ? o->bw_iters : warm, posted = 0, done = 0;
			struct gsn_wc wc[16];

			if (phase)
				t0 = now_us();
			while (done < iters) {
				while (posted < iters && posted - done < o->window) {
					int err = gsn_post_send(e->qp, &wr, &bad);

					if (err)
						FAIL("gsn_post_send (RDMA WRITE)", err);
					posted++;
				}
				int n = gsn_poll_cq(e->cq, 16, wc);

				if (n < 0)
					FAIL("gsn_poll_cq", n);
				for (int i = 0; i < n; i++) {
					if (wc[i].status != GSN_WC_SUCCESS) {
						fprintf(stderr, "gsn_perf: RDMA WRITE completion %s (vendor_err %u)\n",
							gsn_wc_status_str(wc[i].status), wc[i].vendor_err);
						return -1;
					}
					done++;
				}
			}
		}
		double us = now_us() - t0;
		double bytes = (double)o->bw_size * o->bw_iters;

		printf("bw   bytes=%zu iters=%u window=%u MB/s=%.1f msg/s=%.0f (10^6 bytes/s)\n",
		       o->bw_size, o->bw_iters, o->window, bytes / us, o->bw_iters / us * 1e6);
		fflush(stdout);
	}
	return barrier(e);
}

static int run(int sock, bool active, const struct opts *o)
{
	struct ep e = {.sock = sock, .active = active};
	int rc = setup(&e, o);

	if (!rc && o->lat)
		rc = run_lat(&e, o);
	if (!rc && o->bw)
		rc = run_bw(&e, o);
	teardown(&e);
	close(sock);
	return rc ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: gsn_perf [--lat] [--bw] [-n ITERS] [-s SIZE] [--bw-size BYTES]\n"
		   "                [-w WINDOW] [-d DEVICE]\n"
		   "  --lat        SEND/RECV ping-pong latency (default size 8)\n"
		   "  --bw         RDMA WRITE bandwidth (default 1 MiB, window 16)\n"
		   "  -n ITERS     iterations (latency 10000, bandwidth 2000)\n"
		   "  -s SIZE      ping-pong message size in bytes\n"
		   "  -S BYTES     RDMA WRITE size (--bw-size)\n"
		   "  -w WINDOW    RDMA WRITEs outstanding\n"
		   "  -d DEVICE    gsn device (default: the first, or GSN_DEVICE)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"lat", no_argument, NULL, 'L'},      {"bw", no_argument, NULL, 'B'},
		{"iters", required_argument, NULL, 'n'}, {"size", required_argument, NULL, 's'},
		{"bw-size", required_argument, NULL, 'S'}, {"window", required_argument, NULL, 'w'},
		{"dev", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.lat_size = 8, .bw_size = 1u << 20, .window = 16};
	unsigned iters = 0;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:S:w:d:h", lo, NULL)) != -1) {
		char *end;
		unsigned long v = 0;

		if (c == 'n' || c == 's' || c == 'S' || c == 'w') {
			v = strtoul(optarg, &end, 0);
			if (*end || v == 0 || v > (1ul << 30)) {
				fprintf(stderr, "gsn_perf: bad number %s\n", optarg);
				return 2;
			}
		}
		switch (c) {
		case 'L': o.lat = true; break;
		case 'B': o.bw = true; break;
		case 'n': iters = (unsigned)v; break;
		case 's': o.lat_size = (unsigned)v; break;
		case 'S': o.bw_size = v; break;
		case 'w': o.window = (unsigned)v; break;
		case 'd': o.dev = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!o.lat && !o.bw)
		o.lat = o.bw = true;
	o.lat_iters = iters ? iters : 10000;
	o.bw_iters = iters ? iters : 2000;
	if (o.window > 1024)
		o.window = 1024;

	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("gsn_perf: socketpair");
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();

	if (pid < 0) {
		perror("gsn_perf: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(run(sv[1], true, &o));
	}
	close(sv[1]);
	int rc = run(sv[0], false, &o), st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		rc = 1;
	return rc;
}
