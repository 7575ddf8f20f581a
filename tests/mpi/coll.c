/* SPDX-License-Identifier: MIT */
/*
 * mpi_coll: MPI collectives, results checked on every rank.
 *
 *   barrier    nobody leaves MPI_Barrier before the last rank entered it
 *   bcast      every root, 1 B..4 MiB
 *   reduce     MPI_SUM / MPI_MAX / MPI_MIN on int and double, every root
 *   allreduce  MPI_SUM on long (1..1M elements), MPI_MAXLOC on pairs
 *   alltoall   MPI_Alltoall small and 256 KiB blocks
 *   allgather  MPI_Allgather and MPI_Allgatherv
 *   gather     MPI_Gather / MPI_Scatter, MPI_Gatherv / MPI_Scatterv with
 *              per-rank counts and displacements
 */
#include "mpitest.h"

/* A value only rank r would put at index i of its contribution. */
static long val(int r, long i)
{
	return (long)r * 1000003L + i * 7L + 1;
}

/*
 * MPI_Barrier: no rank leaves before the last one entered.  Each rank in
 * turn enters late (after 20 ms); every rank notes CLOCK_MONOTONIC when it
 * leaves, the late one when it enters.  The ranks run on one host, so the
 * clock is the same for all of them and causality gives exit >= entry for
 * a correct barrier, whatever the scheduling; the delay only gives a
 * broken barrier the chance to show.  (On several hosts the clocks differ:
 * the check then only requires completion.)
 */
static void test_barrier(struct mpitest *t)
{
	char name[MPI_MAX_PROCESSOR_NAME] = "", first[MPI_MAX_PROCESSOR_NAME] = "";
	int len = 0, same = 0, mine;

	mpitest_section(t, "barrier");
	MPI_Get_processor_name(name, &len);
	if (t->rank == 0)
		memcpy(first, name, sizeof(first));
	MPITEST_CALL(t, MPI_Bcast(first, sizeof(first), MPI_CHAR, 0, MPI_COMM_WORLD));
	mine = strcmp(first, name) == 0;
	MPITEST_CALL(t, MPI_Allreduce(&mine, &same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
	for (int late = 0; late < t->size; late++) {
		double entered = 0, left, latest_entry = 0, earliest_exit = 0;

		if (t->rank == late) {
			struct timespec d = {0, 20 * 1000 * 1000};

			nanosleep(&d, NULL);
			entered = mpitest_now();
		}
		MPITEST_CALL(t, MPI_Barrier(MPI_COMM_WORLD));
		left = mpitest_now();
		MPITEST_CALL(t, MPI_Allreduce(&entered, &latest_entry, 1, MPI_DOUBLE, MPI_MAX,
					      MPI_COMM_WORLD));
		MPITEST_CALL(t, MPI_Allreduce(&left, &earliest_exit, 1, MPI_DOUBLE, MPI_MIN,
					      MPI_COMM_WORLD));
		if (same)
			MPITEST_CHECK(t, earliest_exit >= latest_entry,
				      "a rank left the barrier %.3f ms before rank %d entered it",
				      (latest_entry - earliest_exit) * 1e3, late);
	}
	mpitest_section_end(t, same ? "each rank entering last once; nobody leaves before it enters"
				    : "ranks on several hosts: completion only");
}

static void test_bcast(struct mpitest *t)
{
	static const size_t sizes[] = {1, 64, 8191, 8192, 8193, 65536, 1048576, 4194304};
	unsigned char *b = mpitest_alloc(4194304);

	mpitest_section(t, "bcast");
	for (int root = 0; root < t->size; root++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t len = sizes[i];

			if (t->rank == root)
				mpitest_fill(b, len, root, (int)i);
			else
				memset(b, 0, len);
			MPITEST_CALL(t, MPI_Bcast(b, (int)len, MPI_BYTE, root, MPI_COMM_WORLD));
			long bad = mpitest_verify(b, len, root, (int)i);

			MPITEST_CHECK(t, bad < 0, "root %d, %zu B: byte %ld wrong", root, len, bad);
		}
	}
	free(b);
	mpitest_section_end(t, "every root, 1 B..4 MiB");
}

static void test_reduce(struct mpitest *t)
{
	const int n = 10000;
	int *ii = mpitest_alloc(sizeof(int) * (size_t)n), *io = mpitest_alloc(sizeof(int) * (size_t)n);
	double *di = mpitest_alloc(sizeof(double) * (size_t)n);
	double *dout = mpitest_alloc(sizeof(double) * (size_t)n);

	mpitest_section(t, "reduce");
	for (int root = 0; root < t->size; root++) {
		for (int i = 0; i < n; i++) {
			ii[i] = t->rank * n + i;
			di[i] = (double)(t->rank + 1) * 0.5 + i; /* exact in binary */
		}
		MPITEST_CALL(t, MPI_Reduce(ii, io, n, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
		for (int i = 0; t->rank == root && i < n; i++) {
			long want = (long)n * t->size * (t->size - 1) / 2 + (long)i * t->size;

			MPITEST_CHECK(t, io[i] == want, "root %d SUM int[%d] = %d, want %ld", root, i,
				      io[i], want);
		}
		MPITEST_CALL(t, MPI_Reduce(ii, io, n, MPI_INT, MPI_MAX, root, MPI_COMM_WORLD));
		for (int i = 0; t->rank == root && i < n; i++)
			MPITEST_CHECK(t, io[i] == (t->size - 1) * n + i, "root %d MAX int[%d] = %d",
				      root, i, io[i]);
		MPITEST_CALL(t, MPI_Reduce(ii, io, n, MPI_INT, MPI_MIN, root, MPI_COMM_WORLD));
		for (int i = 0; t->rank == root && i < n; i++)
			MPITEST_CHECK(t, io[i] == i, "root %d MIN int[%d] = %d", root, i, io[i]);
		MPITEST_CALL(t, MPI_Reduce(di, dout, n, MPI_DOUBLE, MPI_SUM, root, MPI_COMM_WORLD));
		for (int i = 0; t->rank == root && i < n; i++) {
			double want = 0.5 * t->size * (t->size + 1) / 2.0 + (double)i * t->size;

			MPITEST_CHECK(t, dout[i] == want, "root %d SUM double[%d] = %g, want %g", root, i,
				      dout[i], want);
		}
	}
	free(ii);
	free(io);
	free(di);
	free(dout);
	mpitest_section_end(t, "SUM/MAX/MIN on 10000 ints, SUM on 10000 doubles, every root");
}

static void test_allreduce(struct mpitest *t)
{
	static const int counts[] = {1, 7, 1024, 1025, 65536, 1 << 20};
	long *in = mpitest_alloc(sizeof(long) << 20), *out = mpitest_alloc(sizeof(long) << 20);

	mpitest_section(t, "allreduce");
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		int n = counts[c];

		for (int i = 0; i < n; i++)
			in[i] = val(t->rank, i);
		MPITEST_CALL(t, MPI_Allreduce(in, out, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD));
		long bad = 0;

		for (int i = 0; i < n; i++) {
			long want = 0;

			for (int r = 0; r < t->size; r++)
				want += val(r, i);
			if (out[i] != want && bad++ == 0)
				mpitest_fail(t, "%d longs: [%d] = %ld, want %ld", n, i, out[i], want);
		}
	}
	/* MAXLOC: the rank holding the maximum of element i is (i % size). */
	struct {
		double v;
		int loc;
	} pin[64], pout[64];
	for (int i = 0; i < 64; i++) {
		pin[i].v = (i % t->size == t->rank) ? 100.0 + i : (double)t->rank;
		pin[i].loc = t->rank;
	}
	MPITEST_CALL(t, MPI_Allreduce(pin, pout, 64, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD));
	for (int i = 0; i < 64; i++)
		MPITEST_CHECK(t, pout[i].v == 100.0 + i && pout[i].loc == i % t->size,
			      "MAXLOC[%d] = (%g, %d)", i, pout[i].v, pout[i].loc);
	free(in);
	free(out);
	mpitest_section_end(t, "MPI_SUM on 1..1M longs, MPI_MAXLOC on 64 pairs");
}

static void test_alltoall(struct mpitest *t)
{
	static const int blocks[] = {1, 100, 2048, 32768}; /* longs per block */
	size_t maxn = (size_t)blocks[3] * (size_t)t->size;
	long *s = mpitest_alloc(sizeof(long) * maxn), *r = mpitest_alloc(sizeof(long) * maxn);

	mpitest_section(t, "alltoall");
	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		int n = blocks[b];

		/* block d of rank s: val(s, d * n + i) */
		for (int d = 0; d < t->size; d++)
			for (int i = 0; i < n; i++)
				s[(size_t)d * n + i] = val(t->rank, (long)d * n + i);
		memset(r, 0, sizeof(long) * (size_t)n * (size_t)t->size);
		MPITEST_CALL(t, MPI_Alltoall(s, n, MPI_LONG, r, n, MPI_LONG, MPI_COMM_WORLD));
		long bad = 0;

		for (int src = 0; src < t->size; src++)
			for (int i = 0; i < n; i++) {
				long got = r[(size_t)src * n + i], want = val(src, (long)t->rank * n + i);

				if (got != want && bad++ == 0)
					mpitest_fail(t, "%d-long blocks: from %d [%d] = %ld, want %ld", n,
						     src, i, got, want);
			}
	}
	free(s);
	free(r);
	mpitest_section_end(t, "blocks of 1, 100, 2048 and 32768 longs (256 KiB)");
}

static void test_allgather(struct mpitest *t)
{
	const int n = 5000;
	long *s = mpitest_alloc(sizeof(long) * (size_t)(n + t->size));
	long *r = mpitest_alloc(sizeof(long) * (size_t)(n + t->size) * (size_t)t->size);
	int *counts = mpitest_alloc(sizeof(int) * (size_t)t->size);
	int *displs = mpitest_alloc(sizeof(int) * (size_t)t->size);

	mpitest_section(t, "allgather");
	for (int i = 0; i < n; i++)
		s[i] = val(t->rank, i);
	MPITEST_CALL(t, MPI_Allgather(s, n, MPI_LONG, r, n, MPI_LONG, MPI_COMM_WORLD));
	for (int src = 0; src < t->size; src++)
		for (int i = 0; i < n; i++)
			if (r[(size_t)src * n + i] != val(src, i)) {
				mpitest_fail(t, "allgather: from %d [%d] = %ld", src, i,
					     r[(size_t)src * n + i]);
				break;
			}
	/* v: rank k contributes k + 1 + 3k elements, placed in reverse rank order */
	int total = 0;

	for (int k = t->size - 1; k >= 0; k--) {
		counts[k] = 1 + 4 * k;
		displs[k] = total;
		total += counts[k];
	}
	for (int i = 0; i < counts[t->rank]; i++)
		s[i] = val(t->rank, 100000 + i);
	memset(r, 0, sizeof(long) * (size_t)total);
	MPITEST_CALL(t, MPI_Allgatherv(s, counts[t->rank], MPI_LONG, r, counts, displs, MPI_LONG,
				       MPI_COMM_WORLD));
	for (int k = 0; k < t->size; k++)
		for (int i = 0; i < counts[k]; i++)
			if (r[displs[k] + i] != val(k, 100000 + i)) {
				mpitest_fail(t, "allgatherv: from %d [%d] = %ld", k, i, r[displs[k] + i]);
				break;
			}
	free(s);
	free(r);
	free(counts);
	free(displs);
	mpitest_section_end(t, "MPI_Allgather 5000 longs per rank, MPI_Allgatherv uneven counts, "
			       "reversed placement");
}

static void test_gather_scatter(struct mpitest *t)
{
	const int n = 3000;
	size_t cap = (size_t)(n + 8 * t->size) * (size_t)t->size;
	long *s = mpitest_alloc(sizeof(long) * cap), *r = mpitest_alloc(sizeof(long) * cap);
	int *counts = mpitest_alloc(sizeof(int) * (size_t)t->size);
	int *displs = mpitest_alloc(sizeof(int) * (size_t)t->size);

	mpitest_section(t, "gather");
	for (int root = 0; root < t->size; root++) {
		/* Gather */
		for (int i = 0; i < n; i++)
			s[i] = val(t->rank, i + root);
		MPITEST_CALL(t, MPI_Gather(s, n, MPI_LONG, r, n, MPI_LONG, root, MPI_COMM_WORLD));
		for (int src = 0; t->rank == root && src < t->size; src++)
			for (int i = 0; i < n; i++)
				if (r[(size_t)src * n + i] != val(src, i + root)) {
					mpitest_fail(t, "gather root %d: from %d [%d]", root, src, i);
					break;
				}
		/* Scatter: block d of the root goes to rank d */
		if (t->rank == root)
			for (int d = 0; d < t->size; d++)
				for (int i = 0; i < n; i++)
					s[(size_t)d * n + i] = val(root, (long)d * n + i);
		MPITEST_CALL(t, MPI_Scatter(s, n, MPI_LONG, r, n, MPI_LONG, root, MPI_COMM_WORLD));
		for (int i = 0; i < n; i++)
			if (r[i] != val(root, (long)t->rank * n + i)) {
				mpitest_fail(t, "scatter root %d: [%d] = %ld", root, i, r[i]);
				break;
			}
		/* v: rank k has 2 + 8k elements; displacements leave gaps of 3 */
		int off = 0;

		for (int k = 0; k < t->size; k++) {
			counts[k] = 2 + 8 * k;
			displs[k] = off;
			off += counts[k] + 3;
		}
		for (int i = 0; i < counts[t->rank]; i++)
			s[i] = val(t->rank, 50000 + i + root);
		for (size_t i = 0; i < (size_t)off; i++)
			r[i] = -7;
		MPITEST_CALL(t, MPI_Gatherv(s, counts[t->rank], MPI_LONG, r, counts, displs, MPI_LONG,
					    root, MPI_COMM_WORLD));
		for (int k = 0; t->rank == root && k < t->size; k++) {
			for (int i = 0; i < counts[k]; i++)
				if (r[displs[k] + i] != val(k, 50000 + i + root)) {
					mpitest_fail(t, "gatherv root %d: from %d [%d]", root, k, i);
					break;
				}
			for (int g = 0; g < 3; g++)
				MPITEST_CHECK(t, r[displs[k] + counts[k] + g] == -7,
					      "gatherv root %d wrote into the gap after rank %d", root, k);
		}
		if (t->rank == root)
			for (int k = 0; k < t->size; k++)
				for (int i = 0; i < counts[k]; i++)
					s[displs[k] + i] = val(k, 70000 + i + root);
		memset(r, 0, sizeof(long) * (size_t)counts[t->rank]);
		MPITEST_CALL(t, MPI_Scatterv(s, counts, displs, MPI_LONG, r, counts[t->rank], MPI_LONG,
					     root, MPI_COMM_WORLD));
		for (int i = 0; i < counts[t->rank]; i++)
			if (r[i] != val(t->rank, 70000 + i + root)) {
				mpitest_fail(t, "scatterv root %d: [%d] = %ld", root, i, r[i]);
				break;
			}
	}
	free(s);
	free(r);
	free(counts);
	free(displs);
	mpitest_section_end(t, "MPI_Gather/MPI_Scatter 3000 longs, MPI_Gatherv/MPI_Scatterv uneven "
			       "counts with gaps, every root");
}

int main(int argc, char **argv)
{
	struct mpitest t;

	MPI_Init(&argc, &argv);
	mpitest_init(&t, "mpi_coll");
	if (t.rank == 0)
		printf("mpi_coll: %d ranks\n", t.size);
	test_barrier(&t);
	test_bcast(&t);
	test_reduce(&t);
	test_allreduce(&t);
	test_alltoall(&t);
	test_allgather(&t);
	test_gather_scatter(&t);
	return mpitest_finish(&t);
}
