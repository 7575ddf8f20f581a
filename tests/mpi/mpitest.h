/* SPDX-License-Identifier: MIT */
/*
 * mpitest.h — what the MPI test programs (tests/mpi/) share: a failure
 * counter with a message per mismatch, a byte pattern that names its
 * sender, size and round, a clock, and the end of a run, where every
 * rank's failures are summed and rank 0 prints the verdict.
 *
 * Each program prints one line per check it made ("check: ... ok" or
 * "FAIL: ...") from rank 0 (or from the rank that saw the mismatch) and
 * exits non-zero if any rank saw a mismatch.
 */
#ifndef GSN_MPITEST_H
#define GSN_MPITEST_H

#include <mpi.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mpitest {
	const char *prog;
	int rank, size;
	long failures;       /* this rank's mismatches */
	long section_failed; /* failures when the current section began */
	const char *section;
};

/* Exit status when the test cannot run here (ctest SKIP_RETURN_CODE). */
#define MPITEST_SKIP 77

static inline void mpitest_init(struct mpitest *t, const char *prog)
{
	memset(t, 0, sizeof(*t));
	t->prog = prog;
	MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &t->size);
	/* Errors come back as codes so a failing call is reported, not fatal. */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

__attribute__((format(printf, 2, 3))) static inline void mpitest_fail(struct mpitest *t,
								      const char *fmt, ...)
{
	va_list ap;

	t->failures++;
	/* Only the first few per section: a broken transfer fails every byte. */
	if (t->failures - t->section_failed > 10)
		return;
	fprintf(stdout, "%s: rank %d: FAIL [%s]: ", t->prog, t->rank,
		t->section ? t->section : "-");
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

#define MPITEST_CHECK(t, cond, ...)                  \
	do {                                         \
		if (!(cond))                         \
			mpitest_fail((t), __VA_ARGS__); \
	} while (0)

/* An MPI call that must return MPI_SUCCESS. */
#define MPITEST_CALL(t, call)                                                    \
	do {                                                                     \
		int mpitest_rc_ = (call);                                        \
		if (mpitest_rc_ != MPI_SUCCESS) {                                \
			char mpitest_msg_[MPI_MAX_ERROR_STRING];                  \
			int mpitest_len_ = 0;                                    \
			MPI_Error_string(mpitest_rc_, mpitest_msg_, &mpitest_len_); \
			mpitest_fail((t), "%s: %s", #call, mpitest_msg_);         \
		}                                                                \
	} while (0)

/* Starts a named group of checks (all ranks call it). */
static inline void mpitest_section(struct mpitest *t, const char *name)
{
	t->section = name;
	t->section_failed = t->failures;
}

/*
 * Ends the group: sums the failures of every rank in this section and
 * rank 0 prints "check: NAME ... ok" or the number of failures.  Collective
 * on MPI_COMM_WORLD.
 */
static inline void mpitest_section_end(struct mpitest *t, const char *detail)
{
	long mine = t->failures - t->section_failed, all = 0;

	if (MPI_Allreduce(&mine, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
		all = mine ? mine : 1;
	if (t->rank == 0) {
		if (all)
			printf("%s: check: %s (%s): FAILED, %ld mismatches\n", t->prog, t->section,
			       detail ? detail : "", all);
		else
			printf("%s: check: %s (%s): ok\n", t->prog, t->section, detail ? detail : "");
		fflush(stdout);
	}
}

/* Sums every rank's failures, prints the verdict, finalizes; the exit status. */
static inline int mpitest_finish(struct mpitest *t)
{
	long all = 0;

	if (MPI_Allreduce(&t->failures, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
		all = t->failures ? t->failures : 1;
	if (t->rank == 0) {
		if (all)
			printf("%s: FAIL: %ld mismatches on %d ranks\n", t->prog, all, t->size);
		else
			printf("%s: PASS on %d ranks\n", t->prog, t->size);
		fflush(stdout);
	}
	MPI_Finalize();
	return all ? 1 : 0;
}

/* The byte at index i of a message identified by (who, size, round). */
static inline unsigned char mpitest_byte(int who, size_t size, int round, size_t i)
{
	uint64_t x = ((uint64_t)(unsigned)who << 40) ^ ((uint64_t)size << 8) ^ (uint64_t)(unsigned)round;

	x ^= (uint64_t)i * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 13) ^ i);
}

static inline void mpitest_fill(void *buf, size_t len, int who, int round)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = mpitest_byte(who, len, round, i);
}

/* Index of the first wrong byte, or -1 when the buffer holds the pattern. */
static inline long mpitest_verify(const void *buf, size_t len, int who, int round)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != mpitest_byte(who, len, round, i))
			return (long)i;
	return -1;
}

static inline double mpitest_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* malloc that fails the test program outright (nothing to check without memory). */
static inline void *mpitest_alloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p) {
		fprintf(stderr, "out of memory (%zu bytes)\n", len);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	return p;
}

#endif /* GSN_MPITEST_H */
