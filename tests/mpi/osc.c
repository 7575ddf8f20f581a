/* SPDX-License-Identifier: MIT */
/*
 * mpi_osc: MPI one-sided communication, results checked.
 *
 * For a window from MPI_Win_allocate and one from MPI_Win_create (over
 * malloc'ed memory), in three synchronisation modes:
 *
 *   fence    MPI_Win_fence epochs: MPI_Put of one slot per origin into
 *            every rank, MPI_Get of them back, 1 MiB MPI_Put/MPI_Get,
 *            MPI_Accumulate MPI_SUM (int64 and double) and MPI_REPLACE,
 *            MPI_Get_accumulate MPI_SUM, MPI_Fetch_and_op MPI_SUM /
 *            MPI_REPLACE / MPI_NO_OP
 *   pscw     MPI_Win_post/start/complete/wait with every other rank:
 *            MPI_Put, MPI_Accumulate, MPI_Get
 *   passive  MPI_Win_lock exclusive + MPI_Put, shared + MPI_Get;
 *            MPI_Win_lock_all with MPI_Fetch_and_op and MPI_Win_flush
 *            (every fetched value distinct: atomicity), MPI_Accumulate
 *            with MPI_Win_flush_all, MPI_Get_accumulate
 *
 * No MPI_Compare_and_swap: Open MPI 4.1.4's btl ofi crashes on it even
 * over libfabric's own providers (the provider's tests cover it).
 *
 * Ranks on one host: Open MPI's osc rdma keeps MPI_Win_allocate windows
 * in a shared-memory segment there and moves their data with the CPU;
 * MPI_Win_create windows move their data through the btl (see
 * docs/clients.md).
 */
#include "mpitest.h"

#define BULK_BYTES (1024 * 1024)

/* Window layout, in int64 slots (disp_unit 8). */
struct layout {
	int n;        /* ranks */
	MPI_Aint put; /* [put, put + n): slot r written by rank r */
	MPI_Aint acc, repl, gacc, fop, dbl, pscw, lockc, lput, bulk;
	MPI_Aint slots;
};

static struct layout layout_of(int n)
{
	struct layout l;

	l.n = n;
	l.put = 0;
	l.acc = n;
	l.repl = n + 1;
	l.gacc = n + 2;
	l.fop = n + 3;
	l.dbl = n + 4;
	l.lockc = n + 5;
	l.pscw = n + 6;           /* n slots */
	l.lput = 2 * (MPI_Aint)n + 6; /* n slots */
	l.bulk = 3 * (MPI_Aint)n + 8;
	l.slots = l.bulk + BULK_BYTES / 8;
	return l;
}

/* A value only origin o would store at target t's slot (s). */
static int64_t tv(int o, int t, int s)
{
	return ((int64_t)o << 40) | ((int64_t)t << 20) | (int64_t)(s + 1);
}

struct win {
	const char *kind; /* "MPI_Win_allocate" / "MPI_Win_create" */
	MPI_Win win;
	int64_t *base;
	void *owned; /* malloc'ed memory of MPI_Win_create */
};

static void win_open(struct mpitest *t, struct win *w, const struct layout *l, bool create)
{
	MPI_Aint bytes = l->slots * 8;
	int rc;

	memset(w, 0, sizeof(*w));
	if (create) {
		w->kind = "MPI_Win_create";
		w->owned = mpitest_alloc((size_t)bytes);
		w->base = w->owned;
		rc = MPI_Win_create(w->base, bytes, 8, MPI_INFO_NULL, MPI_COMM_WORLD, &w->win);
	} else {
		w->kind = "MPI_Win_allocate";
		rc = MPI_Win_allocate(bytes, 8, MPI_INFO_NULL, MPI_COMM_WORLD, &w->base, &w->win);
	}
	if (rc != MPI_SUCCESS) {
		/* nothing below can run without the window */
		mpitest_fail(t, "%s failed (error %d): no one-sided transport?", w->kind, rc);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_Win_set_errhandler(w->win, MPI_ERRORS_RETURN);
}

static void win_close(struct mpitest *t, struct win *w)
{
	MPITEST_CALL(t, MPI_Win_free(&w->win));
	free(w->owned);
}

/*
 * Resets this rank's window memory; collective (fences around the local
 * stores, so no epoch sees them half done).  The second fence opens a
 * fence epoch only if fence synchronisation follows (next_fence), else it
 * asserts MPI_MODE_NOSUCCEED so PSCW or lock epochs may start.
 */
static void win_reset(struct mpitest *t, struct win *w, const struct layout *l, bool next_fence)
{
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	for (MPI_Aint i = 0; i < l->bulk; i++)
		w->base[i] = -1;
	w->base[l->acc] = 0;
	w->base[l->gacc] = 0;
	w->base[l->fop] = 0;
	w->base[l->lockc] = 0;
	double z = 0.0;

	memcpy(&w->base[l->dbl], &z, sizeof(z));
	memset(&w->base[l->bulk], 0, BULK_BYTES);
	MPITEST_CALL(t, MPI_Win_fence(next_fence ? 0 : MPI_MODE_NOSUCCEED, w->win));
}

/*
 * Every value in got[0..count) is distinct and in [0, count): the fetches
 * of count concurrent increments by 1 from 0 saw every intermediate value
 * exactly once.
 */
static void check_permutation(struct mpitest *t, const int64_t *got, int count, const char *what)
{
	char *seen = calloc((size_t)count, 1);

	for (int i = 0; seen && i < count; i++) {
		if (got[i] < 0 || got[i] >= count || seen[got[i]]++) {
			mpitest_fail(t, "%s: fetched value %lld twice or out of 0..%d", what,
				     (long long)got[i], count - 1);
			break;
		}
	}
	free(seen);
}

/* ---- fence ------------------------------------------------------------------ */

static void fence_put_get(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank;
	int64_t *vals = mpitest_alloc(sizeof(int64_t) * (size_t)n);
	int64_t *got = mpitest_alloc(sizeof(int64_t) * (size_t)n);

	for (int tgt = 0; tgt < n; tgt++) {
		vals[tgt] = tv(me, tgt, 0);
		MPITEST_CALL(t, MPI_Put(&vals[tgt], 1, MPI_INT64_T, tgt, l->put + me, 1, MPI_INT64_T,
					w->win));
	}
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	for (int o = 0; o < n; o++)
		MPITEST_CHECK(t, w->base[l->put + o] == tv(o, me, 0),
			      "%s fence MPI_Put: slot of rank %d = %#llx", w->kind, o,
			      (unsigned long long)w->base[l->put + o]);
	/* read the right neighbour's slots back */
	int right = (me + 1) % n;

	MPITEST_CALL(t, MPI_Get(got, n, MPI_INT64_T, right, l->put, n, MPI_INT64_T, w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	for (int o = 0; o < n; o++)
		MPITEST_CHECK(t, got[o] == tv(o, right, 0), "%s fence MPI_Get: rank %d slot %d = %#llx",
			      w->kind, right, o, (unsigned long long)got[o]);
	free(vals);
	free(got);
}

static void fence_bulk(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank, right = (me + 1) % n, left = (me + n - 1) % n;
	unsigned char *src = mpitest_alloc(BULK_BYTES), *dst = mpitest_alloc(BULK_BYTES);

	/* 1 MiB into the right neighbour, then 1 MiB back from it (our own bytes) */
	mpitest_fill(src, BULK_BYTES, me, 31);
	MPITEST_CALL(t, MPI_Put(src, BULK_BYTES, MPI_BYTE, right, l->bulk, BULK_BYTES, MPI_BYTE,
				w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	long bad = mpitest_verify(&w->base[l->bulk], BULK_BYTES, left, 31);

	MPITEST_CHECK(t, bad < 0, "%s fence 1 MiB MPI_Put from rank %d: byte %ld wrong", w->kind, left,
		      bad);
	memset(dst, 0, BULK_BYTES);
	MPITEST_CALL(t, MPI_Get(dst, BULK_BYTES, MPI_BYTE, right, l->bulk, BULK_BYTES, MPI_BYTE,
				w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	bad = mpitest_verify(dst, BULK_BYTES, me, 31);
	MPITEST_CHECK(t, bad < 0, "%s fence 1 MiB MPI_Get from rank %d: byte %ld wrong", w->kind, right,
		      bad);
	free(src);
	free(dst);
}

static void fence_accumulate(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank;
	int64_t add = me + 1, rep = tv(me, 0, 7);
	double dadd = 0.25 * (me + 1);

	for (int tgt = 0; tgt < n; tgt++) {
		MPITEST_CALL(t, MPI_Accumulate(&add, 1, MPI_INT64_T, tgt, l->acc, 1, MPI_INT64_T, MPI_SUM,
					       w->win));
		MPITEST_CALL(t, MPI_Accumulate(&rep, 1, MPI_INT64_T, tgt, l->repl, 1, MPI_INT64_T,
					       MPI_REPLACE, w->win));
	}
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	int64_t want = (int64_t)n * (n + 1) / 2;

	MPITEST_CHECK(t, w->base[l->acc] == want, "%s fence MPI_Accumulate SUM: %lld, want %lld",
		      w->kind, (long long)w->base[l->acc], (long long)want);
	int64_t r = w->base[l->repl];
	bool one_of = false;

	for (int o = 0; o < n; o++)
		one_of = one_of || r == tv(o, 0, 7);
	MPITEST_CHECK(t, one_of, "%s fence MPI_Accumulate REPLACE: %#llx is nobody's value", w->kind,
		      (unsigned long long)r);

	/* double SUM in a separate epoch (one datatype per location and epoch) */
	for (int tgt = 0; tgt < n; tgt++)
		MPITEST_CALL(t, MPI_Accumulate(&dadd, 1, MPI_DOUBLE, tgt, l->dbl, 1, MPI_DOUBLE, MPI_SUM,
					       w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	double d, dwant = 0.25 * n * (n + 1) / 2.0; /* exact in binary */

	memcpy(&d, &w->base[l->dbl], sizeof(d));
	MPITEST_CHECK(t, d == dwant, "%s fence MPI_Accumulate SUM double: %g, want %g", w->kind, d,
		      dwant);
}

/* Get_accumulate / Fetch_and_op: n increments of 1 on every rank's counter. */
static void fence_fetching(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank;
	int64_t one = 1;
	int64_t *ga = mpitest_alloc(sizeof(int64_t) * (size_t)n);
	int64_t *fo = mpitest_alloc(sizeof(int64_t) * (size_t)n);
	int64_t *all = mpitest_alloc(sizeof(int64_t) * (size_t)n * (size_t)n);
	int64_t *col = mpitest_alloc(sizeof(int64_t) * (size_t)n);

	for (int tgt = 0; tgt < n; tgt++) {
		MPITEST_CALL(t, MPI_Get_accumulate(&one, 1, MPI_INT64_T, &ga[tgt], 1, MPI_INT64_T, tgt,
						   l->gacc, 1, MPI_INT64_T, MPI_SUM, w->win));
		MPITEST_CALL(t, MPI_Fetch_and_op(&one, &fo[tgt], MPI_INT64_T, tgt, l->fop, MPI_SUM,
						 w->win));
	}
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	MPITEST_CHECK(t, w->base[l->gacc] == n, "%s fence MPI_Get_accumulate: counter %lld, want %d",
		      w->kind, (long long)w->base[l->gacc], n);
	MPITEST_CHECK(t, w->base[l->fop] == n, "%s fence MPI_Fetch_and_op: counter %lld, want %d",
		      w->kind, (long long)w->base[l->fop], n);
	/* what the n origins fetched from my counter: a permutation of 0..n-1 */
	for (int pass = 0; pass < 2; pass++) {
		MPITEST_CALL(t, MPI_Allgather(pass ? fo : ga, n, MPI_INT64_T, all, n, MPI_INT64_T,
					      MPI_COMM_WORLD));
		for (int o = 0; o < n; o++)
			col[o] = all[(size_t)o * n + me];
		check_permutation(t, col, n,
				  pass ? "fence MPI_Fetch_and_op SUM" : "fence MPI_Get_accumulate SUM");
	}

	/* MPI_REPLACE returns the old value and stores ours; MPI_NO_OP only reads */
	int right = (me + 1) % n;
	int64_t mine = tv(me, right, 9), old = -2, now = -2;

	MPITEST_CALL(t, MPI_Fetch_and_op(&mine, &old, MPI_INT64_T, right, l->put + me, MPI_REPLACE,
					 w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	MPITEST_CALL(t, MPI_Fetch_and_op(NULL, &now, MPI_INT64_T, right, l->put + me, MPI_NO_OP,
					 w->win));
	MPITEST_CALL(t, MPI_Win_fence(0, w->win));
	MPITEST_CHECK(t, old == tv(me, right, 0), "%s MPI_Fetch_and_op REPLACE fetched %#llx", w->kind,
		      (unsigned long long)old);
	MPITEST_CHECK(t, now == mine, "%s MPI_Fetch_and_op NO_OP read %#llx, want %#llx", w->kind,
		      (unsigned long long)now, (unsigned long long)mine);
	free(ga);
	free(fo);
	free(all);
	free(col);
}

static void test_fence(struct mpitest *t, struct win *w, const struct layout *l)
{
	char name[64];

	snprintf(name, sizeof(name), "fence %s", w->kind);
	mpitest_section(t, name);
	win_reset(t, w, l, true);
	fence_put_get(t, w, l);
	fence_bulk(t, w, l);
	fence_accumulate(t, w, l);
	fence_fetching(t, w, l);
	mpitest_section_end(t, "MPI_Put/MPI_Get per rank and 1 MiB, MPI_Accumulate SUM/REPLACE "
			       "(int64, double), MPI_Get_accumulate, MPI_Fetch_and_op SUM/REPLACE/NO_OP");
}

/* ---- PSCW --------------------------------------------------------------------- */

static void test_pscw(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank;
	char name[64];
	MPI_Group world, others;
	int *ranks = mpitest_alloc(sizeof(int) * (size_t)n);
	int64_t *got = mpitest_alloc(sizeof(int64_t) * (size_t)n);
	int64_t *vals = mpitest_alloc(sizeof(int64_t) * (size_t)n);
	int k = 0;

	snprintf(name, sizeof(name), "pscw %s", w->kind);
	mpitest_section(t, name);
	win_reset(t, w, l, false);
	for (int r = 0; r < n; r++)
		if (r != me)
			ranks[k++] = r;
	MPI_Comm_group(MPI_COMM_WORLD, &world);
	MPI_Group_incl(world, k, ranks, &others);

	/* epoch 1: put into every other rank's pscw slot, add to its counter */
	int64_t add = 10 + me;

	MPITEST_CALL(t, MPI_Win_post(others, 0, w->win));
	MPITEST_CALL(t, MPI_Win_start(others, 0, w->win));
	for (int i = 0; i < k; i++) {
		vals[i] = tv(me, ranks[i], 3);
		MPITEST_CALL(t, MPI_Put(&vals[i], 1, MPI_INT64_T, ranks[i], l->pscw + me, 1, MPI_INT64_T,
					w->win));
		MPITEST_CALL(t, MPI_Accumulate(&add, 1, MPI_INT64_T, ranks[i], l->acc, 1, MPI_INT64_T,
					       MPI_SUM, w->win));
	}
	MPITEST_CALL(t, MPI_Win_complete(w->win));
	MPITEST_CALL(t, MPI_Win_wait(w->win));
	int64_t want = 0;

	for (int i = 0; i < k; i++) {
		MPITEST_CHECK(t, w->base[l->pscw + ranks[i]] == tv(ranks[i], me, 3),
			      "%s PSCW MPI_Put from rank %d: %#llx", w->kind, ranks[i],
			      (unsigned long long)w->base[l->pscw + ranks[i]]);
		want += 10 + ranks[i];
	}
	MPITEST_CHECK(t, w->base[l->acc] == want, "%s PSCW MPI_Accumulate: %lld, want %lld", w->kind,
		      (long long)w->base[l->acc], (long long)want);

	/* epoch 2: read back what we put (test the exposure with MPI_Win_test) */
	MPITEST_CALL(t, MPI_Win_post(others, 0, w->win));
	MPITEST_CALL(t, MPI_Win_start(others, 0, w->win));
	for (int i = 0; i < k; i++)
		MPITEST_CALL(t, MPI_Get(&got[i], 1, MPI_INT64_T, ranks[i], l->pscw + me, 1, MPI_INT64_T,
					w->win));
	MPITEST_CALL(t, MPI_Win_complete(w->win));
	int flag = 0;

	while (!flag)
		MPITEST_CALL(t, MPI_Win_test(w->win, &flag));
	for (int i = 0; i < k; i++)
		MPITEST_CHECK(t, got[i] == tv(me, ranks[i], 3), "%s PSCW MPI_Get from rank %d: %#llx",
			      w->kind, ranks[i], (unsigned long long)got[i]);
	MPI_Group_free(&others);
	MPI_Group_free(&world);
	free(ranks);
	free(got);
	free(vals);
	mpitest_section_end(t, "MPI_Win_post/start/complete/wait with every other rank: MPI_Put, "
			       "MPI_Accumulate, MPI_Get, MPI_Win_test");
}

/* ---- passive target ------------------------------------------------------------ */

#define LOCK_ROUNDS 40

static void passive_lock(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank;
	int64_t *got = mpitest_alloc(sizeof(int64_t) * (size_t)n);

	/* exclusive lock, put my value into every rank's lput slot */
	for (int tgt = 0; tgt < n; tgt++) {
		int64_t v = tv(me, tgt, 5);

		MPITEST_CALL(t, MPI_Win_lock(MPI_LOCK_EXCLUSIVE, tgt, 0, w->win));
		MPITEST_CALL(t, MPI_Put(&v, 1, MPI_INT64_T, tgt, l->lput + me, 1, MPI_INT64_T, w->win));
		MPITEST_CALL(t, MPI_Win_unlock(tgt, w->win));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	/* shared lock, read the left neighbour's slots */
	int left = (me + n - 1) % n;

	MPITEST_CALL(t, MPI_Win_lock(MPI_LOCK_SHARED, left, 0, w->win));
	MPITEST_CALL(t, MPI_Get(got, n, MPI_INT64_T, left, l->lput, n, MPI_INT64_T, w->win));
	MPITEST_CALL(t, MPI_Win_unlock(left, w->win));
	for (int o = 0; o < n; o++)
		MPITEST_CHECK(t, got[o] == tv(o, left, 5), "%s lock: rank %d slot %d = %#llx", w->kind,
			      left, o, (unsigned long long)got[o]);
	free(got);
}

static void passive_lock_all(struct mpitest *t, struct win *w, const struct layout *l)
{
	int n = t->size, me = t->rank, total = n * LOCK_ROUNDS;
	int64_t one = 1, add = me + 1;
	int64_t *fetched = mpitest_alloc(sizeof(int64_t) * LOCK_ROUNDS);
	int64_t *all = mpitest_alloc(sizeof(int64_t) * (size_t)total);

	/* every rank increments rank 0's counter LOCK_ROUNDS times, flushing each */
	MPITEST_CALL(t, MPI_Win_lock_all(0, w->win));
	for (int i = 0; i < LOCK_ROUNDS; i++) {
		MPITEST_CALL(t, MPI_Fetch_and_op(&one, &fetched[i], MPI_INT64_T, 0, l->lockc, MPI_SUM,
						 w->win));
		MPITEST_CALL(t, MPI_Win_flush(0, w->win));
	}
	/* and adds to every rank's accumulator, flushed all at once */
	for (int tgt = 0; tgt < n; tgt++)
		MPITEST_CALL(t, MPI_Accumulate(&add, 1, MPI_INT64_T, tgt, l->acc, 1, MPI_INT64_T, MPI_SUM,
					       w->win));
	MPITEST_CALL(t, MPI_Win_flush_all(w->win));
	MPITEST_CALL(t, MPI_Win_unlock_all(w->win));
	MPITEST_CALL(t, MPI_Gather(fetched, LOCK_ROUNDS, MPI_INT64_T, all, LOCK_ROUNDS, MPI_INT64_T, 0,
				   MPI_COMM_WORLD));
	if (me == 0)
		check_permutation(t, all, total, "lock_all MPI_Fetch_and_op");
	MPI_Barrier(MPI_COMM_WORLD);

	/* the owners read their counters under a lock on themselves */
	MPITEST_CALL(t, MPI_Win_lock(MPI_LOCK_SHARED, me, 0, w->win));
	int64_t lc = w->base[l->lockc], acc = w->base[l->acc];

	MPITEST_CALL(t, MPI_Win_unlock(me, w->win));
	if (me == 0)
		MPITEST_CHECK(t, lc == total, "%s lock_all: counter %lld, want %d", w->kind,
			      (long long)lc, total);
	MPITEST_CHECK(t, acc == (int64_t)n * (n + 1) / 2, "%s lock_all MPI_Accumulate: %lld", w->kind,
		      (long long)acc);

	/* get_accumulate under a shared lock: fetch the total, add nothing */
	int64_t zero = 0, seen = -1;

	MPITEST_CALL(t, MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, w->win));
	MPITEST_CALL(t, MPI_Get_accumulate(&zero, 1, MPI_INT64_T, &seen, 1, MPI_INT64_T, 0, l->lockc, 1,
					   MPI_INT64_T, MPI_SUM, w->win));
	MPITEST_CALL(t, MPI_Win_unlock(0, w->win));
	MPITEST_CHECK(t, seen == total, "%s MPI_Get_accumulate under lock: %lld, want %d", w->kind,
		      (long long)seen, total);
	free(fetched);
	free(all);
}

static void test_passive(struct mpitest *t, struct win *w, const struct layout *l)
{
	char name[64];

	snprintf(name, sizeof(name), "passive %s", w->kind);
	mpitest_section(t, name);
	win_reset(t, w, l, false);
	passive_lock(t, w, l);
	passive_lock_all(t, w, l);
	mpitest_section_end(t, "MPI_Win_lock exclusive/shared with MPI_Put/MPI_Get, MPI_Win_lock_all "
			       "with MPI_Fetch_and_op + MPI_Win_flush (atomic), MPI_Accumulate + "
			       "MPI_Win_flush_all, MPI_Get_accumulate");
}

int main(int argc, char **argv)
{
	struct mpitest t;

	MPI_Init(&argc, &argv);
	mpitest_init(&t, "mpi_osc");
	if (t.rank == 0)
		printf("mpi_osc: %d ranks\n", t.size);

	struct layout l = layout_of(t.size);

	for (int create = 0; create < 2; create++) {
		struct win w;

		win_open(&t, &w, &l, create);
		test_fence(&t, &w, &l);
		test_pscw(&t, &w, &l);
		test_passive(&t, &w, &l);
		win_close(&t, &w);
	}
	return mpitest_finish(&t);
}
