/* SPDX-License-Identifier: MIT */
/*
 * mpi_pingpong: latency and bandwidth between ranks 0 and 1 (other ranks
 * wait), with the data of every message checked.
 *
 *   latency    ping-pong of -s sizes (default 8, 64, 1024, 8192 B):
 *              one-way time = half the round trip; median and average
 *              over -n iterations (default 1000) after 10 warm-up rounds
 *   bandwidth  -w (default 16) nonblocking sends of -b bytes (default
 *              1 MiB) in flight, -m rounds (default 50), one acknowledgement
 *              per round; MB/s = 10^6 bytes per second, as fi_pingpong
 *
 * Usage: mpi_pingpong [-n ITERS] [-m ROUNDS] [-b BYTES] [-w WINDOW]
 */
#include <getopt.h>

#include "mpitest.h"

struct opts {
	int iters, rounds, window;
	size_t bw_bytes;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void latency(struct mpitest *t, const struct opts *o, size_t len, unsigned char *s,
		    unsigned char *r)
{
	int peer = 1 - t->rank, total = o->iters + 10;
	double *us = mpitest_alloc(sizeof(double) * (size_t)total);

	for (int i = 0; i < total; i++) {
		MPI_Status st;
		double t0 = mpitest_now();

		/* every byte checked on the first and last rounds; one byte the others */
		bool full = i == 0 || i == total - 1;

		if (full)
			mpitest_fill(s, len, t->rank, i);
		else if (len)
			s[0] = (unsigned char)i;
		if (t->rank == 0) {
			MPITEST_CALL(t, MPI_Send(s, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD));
			MPITEST_CALL(t, MPI_Recv(r, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &st));
		} else {
			MPITEST_CALL(t, MPI_Recv(r, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &st));
			MPITEST_CALL(t, MPI_Send(s, (int)len, MPI_BYTE, peer, 1, MPI_COMM_WORLD));
		}
		us[i] = (mpitest_now() - t0) * 1e6 / 2;
		if (full) {
			long bad = mpitest_verify(r, len, peer, i);

			MPITEST_CHECK(t, bad < 0, "latency %zu B round %d: byte %ld wrong", len, i, bad);
		} else if (len) {
			MPITEST_CHECK(t, r[0] == (unsigned char)i, "latency %zu B round %d: wrong", len, i);
		}
	}
	if (t->rank == 0) {
		double sum = 0;

		for (int i = 10; i < total; i++)
			sum += us[i];
		qsort(us + 10, (size_t)o->iters, sizeof(double), cmp_double);
		printf("mpi_pingpong: latency %8zu B: median %8.2f us, avg %8.2f us, min %8.2f us "
		       "(one way, %d iterations)\n",
		       len, us[10 + o->iters / 2], sum / o->iters, us[10], o->iters);
	}
	free(us);
}

static void verify_window(struct mpitest *t, const struct opts *o, const unsigned char *buf,
			  const char *when)
{
	for (int w = 0; w < o->window; w++) {
		long bad = mpitest_verify(buf + (size_t)w * o->bw_bytes, o->bw_bytes, 0, w);

		MPITEST_CHECK(t, bad < 0, "bandwidth %s message %d: byte %ld wrong", when, w, bad);
	}
}

static void bandwidth(struct mpitest *t, const struct opts *o)
{
	size_t len = o->bw_bytes;
	int peer = 1 - t->rank;
	unsigned char *buf = mpitest_alloc(len * (size_t)o->window);
	MPI_Request *req = mpitest_alloc(sizeof(*req) * (size_t)o->window);
	double t0 = 0;

	for (int w = 0; t->rank == 0 && w < o->window; w++)
		mpitest_fill(buf + (size_t)w * len, len, 0, w);
	if (t->rank == 1)
		memset(buf, 0, len * (size_t)o->window);
	for (int round = -1; round < o->rounds; round++) {
		if (round == 0) {
			/* round -1 warmed up; its data is checked outside the clock */
			if (t->rank == 1)
				verify_window(t, o, buf, "warm-up");
			MPITEST_CALL(t, MPI_Sendrecv(NULL, 0, MPI_BYTE, peer, 4, NULL, 0, MPI_BYTE, peer,
						     4, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
			t0 = mpitest_now();
		}
		for (int w = 0; w < o->window; w++) {
			if (t->rank == 0)
				MPITEST_CALL(t, MPI_Isend(buf + (size_t)w * len, (int)len, MPI_BYTE, peer,
							  2, MPI_COMM_WORLD, &req[w]));
			else
				MPITEST_CALL(t, MPI_Irecv(buf + (size_t)w * len, (int)len, MPI_BYTE, peer,
							  2, MPI_COMM_WORLD, &req[w]));
		}
		MPITEST_CALL(t, MPI_Waitall(o->window, req, MPI_STATUSES_IGNORE));
		if (t->rank == 0)
			MPITEST_CALL(t, MPI_Recv(NULL, 0, MPI_BYTE, peer, 3, MPI_COMM_WORLD,
						 MPI_STATUS_IGNORE));
		else
			MPITEST_CALL(t, MPI_Send(NULL, 0, MPI_BYTE, peer, 3, MPI_COMM_WORLD));
	}
	double secs = mpitest_now() - t0;

	if (t->rank == 1)
		verify_window(t, o, buf, "last round");
	if (t->rank == 0) {
		double bytes = (double)len * o->window * o->rounds;

		printf("mpi_pingpong: bandwidth %8zu B x %d in flight: %8.1f MB/s (%d rounds, %.2f s)\n",
		       len, o->window, bytes / secs / 1e6, o->rounds, secs);
	}
	free(buf);
	free(req);
}

int main(int argc, char **argv)
{
	static const size_t lat_sizes[] = {8, 64, 1024, 8192};
	struct opts o = {.iters = 1000, .rounds = 50, .window = 16, .bw_bytes = 1 << 20};
	struct mpitest t;
	int c;

	MPI_Init(&argc, &argv);
	mpitest_init(&t, "mpi_pingpong");
	while ((c = getopt(argc, argv, "n:m:b:w:")) != -1) {
		long v = c == '?' ? -1 : atol(optarg);

		if (v <= 0 || v > (1L << 30)) {
			if (t.rank == 0)
				fprintf(stderr, "usage: mpi_pingpong [-n ITERS] [-m ROUNDS] [-b BYTES] "
						"[-w WINDOW]\n");
			MPI_Finalize();
			return 2;
		}
		if (c == 'n')
			o.iters = (int)v;
		else if (c == 'm')
			o.rounds = (int)v;
		else if (c == 'b')
			o.bw_bytes = (size_t)v;
		else
			o.window = (int)v;
	}
	if (t.size < 2) {
		if (t.rank == 0)
			printf("mpi_pingpong: needs 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	if (t.rank == 0)
		printf("mpi_pingpong: ranks 0 and 1 of %d\n", t.size);
	mpitest_section(&t, "pingpong");
	if (t.rank < 2) {
		unsigned char *s = mpitest_alloc(8192), *r = mpitest_alloc(8192);

		for (size_t i = 0; i < sizeof(lat_sizes) / sizeof(lat_sizes[0]); i++)
			latency(&t, &o, lat_sizes[i], s, r);
		free(s);
		free(r);
		bandwidth(&t, &o);
	}
	mpitest_section_end(&t, "data of the first and last latency rounds, of the warm-up and "
				"last bandwidth rounds");
	return mpitest_finish(&t);
}
