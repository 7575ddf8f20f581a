/* SPDX-License-Identifier: MIT */
/*
 * mpi_threads: MPI_THREAD_MULTIPLE.  Four threads per rank talk to the
 * partner rank (0-1, 2-3, ...) at the same time, each on its own tags:
 *
 *   tagged     MPI_Isend/MPI_Irecv of 0 B..300 KB (eager and rendezvous),
 *              50 rounds per thread, data checked
 *   mprobe     MPI_Mprobe(MPI_ANY_SOURCE) + MPI_Mrecv on the thread's tag
 *   comm       blocking MPI_Sendrecv and MPI_Allreduce on a communicator
 *              of the thread's own (MPI_Comm_dup'ed before the threads)
 *
 * Exits 77 (skipped) with a message if the library does not grant
 * MPI_THREAD_MULTIPLE.
 */
#include <pthread.h>

#include "mpitest.h"

#define NTHREADS 4
#define ROUNDS 50

static const size_t tsizes[] = {0, 100, 8191, 8193, 65536, 300000};
#define NTSIZES (sizeof(tsizes) / sizeof(tsizes[0]))

struct worker {
	pthread_t tid;
	int id;
	int rank, peer, size;
	MPI_Comm comm; /* this thread's own */
	long failures;
	const char *prog;
};

__attribute__((format(printf, 2, 3))) static void wfail(struct worker *w, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (w->failures++ >= 10)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("%s: rank %d thread %d: FAIL: %s\n", w->prog, w->rank, w->id, line);
	fflush(stdout);
}

static void wcheck_rc(struct worker *w, int rc, const char *what)
{
	if (rc != MPI_SUCCESS)
		wfail(w, "%s returned %d", what, rc);
}

static void wcheck_data(struct worker *w, const void *b, size_t len, int round, const char *what)
{
	long bad = mpitest_verify(b, len, w->peer, round);

	if (bad >= 0)
		wfail(w, "%s: %zu bytes round %d: byte %ld wrong", what, len, round, bad);
}

/* Tags of thread t: t * 10000 + n, never shared between threads. */
static int tag_of(const struct worker *w, int n)
{
	return w->id * 10000 + n;
}

static void run_tagged(struct worker *w, unsigned char *s, unsigned char *r)
{
	for (int k = 0; k < ROUNDS; k++) {
		size_t len = tsizes[(size_t)(k + w->id) % NTSIZES];
		int tag = tag_of(w, k);
		MPI_Request req[2];
		MPI_Status st[2];
		int count = -1;

		mpitest_fill(s, len, w->rank, tag);
		memset(r, 0, len);
		wcheck_rc(w, MPI_Irecv(r, (int)len, MPI_BYTE, w->peer, tag, MPI_COMM_WORLD, &req[0]),
			  "MPI_Irecv");
		wcheck_rc(w, MPI_Isend(s, (int)len, MPI_BYTE, w->peer, tag, MPI_COMM_WORLD, &req[1]),
			  "MPI_Isend");
		wcheck_rc(w, MPI_Waitall(2, req, st), "MPI_Waitall");
		MPI_Get_count(&st[0], MPI_BYTE, &count);
		if (count != (int)len || st[0].MPI_TAG != tag || st[0].MPI_SOURCE != w->peer)
			wfail(w, "tagged round %d: count %d tag %d source %d", k, count, st[0].MPI_TAG,
			      st[0].MPI_SOURCE);
		wcheck_data(w, r, len, tag, "tagged");
	}
}

static void run_mprobe(struct worker *w, unsigned char *s, unsigned char *r)
{
	for (int k = 0; k < 10; k++) {
		size_t len = tsizes[(size_t)k % NTSIZES];
		int tag = tag_of(w, 1000 + k);
		MPI_Request req;
		MPI_Message msg;
		MPI_Status st;
		int count = -1;

		mpitest_fill(s, len, w->rank, tag);
		wcheck_rc(w, MPI_Isend(s, (int)len, MPI_BYTE, w->peer, tag, MPI_COMM_WORLD, &req),
			  "MPI_Isend");
		wcheck_rc(w, MPI_Mprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &msg, &st), "MPI_Mprobe");
		MPI_Get_count(&st, MPI_BYTE, &count);
		if (count != (int)len || st.MPI_SOURCE != w->peer)
			wfail(w, "mprobe round %d: count %d source %d", k, count, st.MPI_SOURCE);
		memset(r, 0, len);
		wcheck_rc(w, MPI_Mrecv(r, (int)len, MPI_BYTE, &msg, &st), "MPI_Mrecv");
		wcheck_rc(w, MPI_Wait(&req, MPI_STATUS_IGNORE), "MPI_Wait");
		wcheck_data(w, r, len, tag, "mprobe");
	}
}

static void run_comm(struct worker *w, unsigned char *s, unsigned char *r)
{
	for (int k = 0; k < 10; k++) {
		size_t len = tsizes[(size_t)(k + 2 * w->id) % NTSIZES];
		MPI_Status st;

		mpitest_fill(s, len, w->rank, 5000 + k);
		memset(r, 0, len);
		wcheck_rc(w, MPI_Sendrecv(s, (int)len, MPI_BYTE, w->peer, k, r, (int)len, MPI_BYTE,
					  w->peer, k, w->comm, &st),
			  "MPI_Sendrecv");
		wcheck_data(w, r, len, 5000 + k, "own communicator");

		long in = (long)w->rank * 100 + w->id + k, out = -1, want = 0;

		for (int q = 0; q < w->size; q++)
			want += (long)q * 100 + w->id + k;
		wcheck_rc(w, MPI_Allreduce(&in, &out, 1, MPI_LONG, MPI_SUM, w->comm), "MPI_Allreduce");
		if (out != want)
			wfail(w, "MPI_Allreduce on own communicator: %ld, want %ld", out, want);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t max = tsizes[NTSIZES - 1];
	unsigned char *s = malloc(max), *r = malloc(max);

	if (!s || !r) {
		wfail(w, "out of memory");
	} else {
		if (w->peer >= 0) {
			run_tagged(w, s, r);
			run_mprobe(w, s, r);
		}
		run_comm(w, s, r);
	}
	free(s);
	free(r);
	return NULL;
}

int main(int argc, char **argv)
{
	struct mpitest t;
	struct worker w[NTHREADS];
	int provided = MPI_THREAD_SINGLE;

	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	mpitest_init(&t, "mpi_threads");
	if (provided < MPI_THREAD_MULTIPLE) {
		if (t.rank == 0)
			printf("mpi_threads: SKIP: the MPI library grants thread level %d, not "
			       "MPI_THREAD_MULTIPLE (%d)\n",
			       provided, MPI_THREAD_MULTIPLE);
		MPI_Finalize();
		return MPITEST_SKIP;
	}
	if (t.rank == 0)
		printf("mpi_threads: %d ranks x %d threads, MPI_THREAD_MULTIPLE granted\n", t.size,
		       NTHREADS);

	mpitest_section(&t, "threads");
	int peer = t.rank ^ 1;

	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].rank = t.rank;
		w[i].size = t.size;
		w[i].peer = peer < t.size ? peer : -1;
		w[i].prog = t.prog;
		MPITEST_CALL(&t, MPI_Comm_dup(MPI_COMM_WORLD, &w[i].comm));
	}
	int started = 0;

	for (; started < NTHREADS; started++)
		if (pthread_create(&w[started].tid, NULL, worker_main, &w[started]) != 0) {
			mpitest_fail(&t, "pthread_create failed");
			MPI_Abort(MPI_COMM_WORLD, 2); /* the peers' threads would wait forever */
		}
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		t.failures += w[i].failures;
		MPI_Comm_free(&w[i].comm);
	}
	mpitest_section_end(&t, "4 threads per rank at once: 50 tagged exchanges 0 B..300 KB, "
				"10 MPI_Mprobe+MPI_Mrecv, 10 MPI_Sendrecv+MPI_Allreduce on own "
				"communicators");
	return mpitest_finish(&t);
}
