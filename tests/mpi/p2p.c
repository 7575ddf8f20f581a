/* SPDX-License-Identifier: MIT */
/*
 * mpi_p2p: MPI point-to-point, every byte checked.
 *
 * Ranks pair up (0-1, 2-3, ...; an odd last rank only joins the
 * collective parts) and check:
 *   blocking     MPI_Send/MPI_Recv of sizes 0..16 MiB, with the sizes
 *                around the eager/rendezvous switch (8 KiB) and powers of
 *                two +-1; status source, tag and count
 *   nonblocking  every size posted at once (MPI_Irecv before or after
 *                MPI_Isend), completed with MPI_Waitall/MPI_Testall
 *   any          MPI_ANY_SOURCE + MPI_ANY_TAG at rank 0 from every rank
 *   probe        MPI_Probe, MPI_Iprobe (and a tag nobody sent: no match)
 *   mprobe       MPI_Mprobe + MPI_Mrecv, MPI_Improbe + MPI_Imrecv; a
 *                matched message is no longer visible to MPI_Iprobe
 *   cancel       MPI_Cancel of a posted receive (MPI_Test_cancelled) and
 *                a later message with that tag reaching a new receive
 *   ssend        MPI_Issend does not complete before the receive is
 *                posted; MPI_Ssend
 *   large        16 MiB both ways at once (MPI_Sendrecv)
 *   ring         a token and a 1 MiB buffer passed around all ranks
 *                (MPI_Sendrecv and MPI_Isend/MPI_Irecv)
 */
#include "mpitest.h"

#define MIB (1024u * 1024u)

static const size_t sizes[] = {
	0,	1,	2,	7,	8,	15,	31,	63,	64,	65,	255,
	256,	1023,	1024,	1025,	4095,	4096,	4097,	8191,	8192,	8193,	8194,
	12288,	16383,	16384,	16385,	65535,	65536,	65537,	262144, MIB - 1, MIB,
	MIB + 1, 4 * MIB + 3, 16 * MIB,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static int partner_of(const struct mpitest *t)
{
	int p = t->rank ^ 1;

	return p < t->size ? p : -1;
}

static void check_status(struct mpitest *t, const MPI_Status *st, int src, int tag, size_t len,
			 const char *what)
{
	int count = -1;

	MPI_Get_count(st, MPI_BYTE, &count);
	MPITEST_CHECK(t, st->MPI_SOURCE == src, "%s: source %d, want %d", what, st->MPI_SOURCE, src);
	MPITEST_CHECK(t, st->MPI_TAG == tag, "%s: tag %d, want %d", what, st->MPI_TAG, tag);
	MPITEST_CHECK(t, count == (int)len, "%s: count %d, want %zu", what, count, len);
}

static void check_data(struct mpitest *t, const void *buf, size_t len, int who, int round,
		       const char *what)
{
	long bad = mpitest_verify(buf, len, who, round);

	MPITEST_CHECK(t, bad < 0, "%s: %zu bytes from rank %d: byte %ld wrong", what, len, who, bad);
}

/* ---- blocking ------------------------------------------------------------ */

static void test_blocking(struct mpitest *t, unsigned char *sbuf, unsigned char *rbuf)
{
	int peer = partner_of(t);
	MPI_Status st;

	mpitest_section(t, "blocking");
	for (size_t i = 0; peer >= 0 && i < NSIZES; i++) {
		size_t len = sizes[i];
		int tag = (int)i;

		mpitest_fill(sbuf, len, t->rank, tag);
		memset(rbuf, 0, len);
		if (t->rank < peer) {
			MPITEST_CALL(t, MPI_Send(sbuf, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD));
			MPITEST_CALL(t, MPI_Recv(rbuf, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &st));
		} else {
			MPITEST_CALL(t, MPI_Recv(rbuf, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &st));
			MPITEST_CALL(t, MPI_Send(sbuf, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD));
		}
		check_status(t, &st, peer, tag, len, "MPI_Recv");
		check_data(t, rbuf, len, peer, tag, "MPI_Recv");
	}
	mpitest_section_end(t, "MPI_Send/MPI_Recv, 35 sizes 0 B..16 MiB, status and data");
}

/* ---- nonblocking: every size in flight at once ---------------------------- */

static void test_nonblocking(struct mpitest *t)
{
	int peer = partner_of(t);
	size_t total = 0, off[NSIZES];

	mpitest_section(t, "nonblocking");
	for (size_t i = 0; i < NSIZES; i++) {
		off[i] = total;
		total += sizes[i];
	}
	unsigned char *sbuf = mpitest_alloc(total), *rbuf = mpitest_alloc(total);
	MPI_Request req[2 * NSIZES];
	MPI_Status st[2 * NSIZES];

	for (int round = 0; peer >= 0 && round < 2; round++) {
		/* round 0: receives first; round 1: sends first, in reverse size order */
		int nreq = 0;

		memset(rbuf, 0, total);
		for (size_t i = 0; i < NSIZES; i++)
			mpitest_fill(sbuf + off[i], sizes[i], t->rank, 100 * round + (int)i);
		for (size_t k = 0; k < NSIZES; k++) {
			size_t i = round ? NSIZES - 1 - k : k;

			if (round == 0)
				MPITEST_CALL(t, MPI_Irecv(rbuf + off[i], (int)sizes[i], MPI_BYTE, peer,
							  (int)i, MPI_COMM_WORLD, &req[nreq++]));
			MPITEST_CALL(t, MPI_Isend(sbuf + off[i], (int)sizes[i], MPI_BYTE, peer,
						  (int)i, MPI_COMM_WORLD, &req[nreq++]));
		}
		if (round == 1)
			for (size_t i = 0; i < NSIZES; i++)
				MPITEST_CALL(t, MPI_Irecv(rbuf + off[i], (int)sizes[i], MPI_BYTE, peer,
							  (int)i, MPI_COMM_WORLD, &req[nreq++]));
		if (round == 0) {
			MPITEST_CALL(t, MPI_Waitall(nreq, req, st));
		} else {
			int done = 0;

			while (!done)
				MPITEST_CALL(t, MPI_Testall(nreq, req, &done, st));
		}
		for (size_t i = 0; i < NSIZES; i++)
			check_data(t, rbuf + off[i], sizes[i], peer, 100 * round + (int)i,
				   round ? "MPI_Isend first, MPI_Testall" : "MPI_Irecv first, MPI_Waitall");
	}
	free(sbuf);
	free(rbuf);
	mpitest_section_end(t, "35 sizes in flight at once, receives posted before and after");
}

/* ---- MPI_ANY_SOURCE / MPI_ANY_TAG ----------------------------------------- */

#define ANY_SMALL(r) (1000 + (size_t)(r))
#define ANY_LARGE(r) (65536 + 3 * (size_t)(r))

static void test_any(struct mpitest *t)
{
	mpitest_section(t, "any");
	if (t->rank != 0) {
		unsigned char *b = mpitest_alloc(ANY_LARGE(t->rank));

		mpitest_fill(b, ANY_SMALL(t->rank), t->rank, 1);
		MPITEST_CALL(t, MPI_Send(b, (int)ANY_SMALL(t->rank), MPI_BYTE, 0, 100 + t->rank,
					 MPI_COMM_WORLD));
		mpitest_fill(b, ANY_LARGE(t->rank), t->rank, 2);
		MPITEST_CALL(t, MPI_Send(b, (int)ANY_LARGE(t->rank), MPI_BYTE, 0, 200 + t->rank,
					 MPI_COMM_WORLD));
		free(b);
	} else {
		unsigned char *b = mpitest_alloc(ANY_LARGE(t->size));
		int *seen = calloc((size_t)t->size * 2, sizeof(int));

		for (int n = 0; seen && n < 2 * (t->size - 1); n++) {
			MPI_Status st;
			int count = -1;

			MPITEST_CALL(t, MPI_Recv(b, (int)ANY_LARGE(t->size), MPI_BYTE, MPI_ANY_SOURCE,
						 MPI_ANY_TAG, MPI_COMM_WORLD, &st));
			MPI_Get_count(&st, MPI_BYTE, &count);
			int src = st.MPI_SOURCE, large = st.MPI_TAG >= 200;

			if (src < 1 || src >= t->size || st.MPI_TAG != (large ? 200 : 100) + src) {
				mpitest_fail(t, "ANY_SOURCE/ANY_TAG: source %d tag %d", src, st.MPI_TAG);
				continue;
			}
			size_t want = large ? ANY_LARGE(src) : ANY_SMALL(src);

			MPITEST_CHECK(t, count == (int)want, "from %d tag %d: count %d, want %zu", src,
				      st.MPI_TAG, count, want);
			check_data(t, b, want, src, large ? 2 : 1, "ANY_SOURCE/ANY_TAG");
			seen[2 * src + large]++;
		}
		for (int r = 1; seen && r < t->size; r++)
			MPITEST_CHECK(t, seen[2 * r] == 1 && seen[2 * r + 1] == 1,
				      "from rank %d: %d small and %d large messages", r, seen[2 * r],
				      seen[2 * r + 1]);
		free(seen);
		free(b);
	}
	mpitest_section_end(t, "rank 0 receives 2 messages from every rank with "
			       "MPI_ANY_SOURCE/MPI_ANY_TAG, status and data");
}

/* ---- MPI_Probe / MPI_Iprobe ------------------------------------------------ */

static void test_probe(struct mpitest *t)
{
	int peer = partner_of(t);

	mpitest_section(t, "probe");
	for (int dir = 0; peer >= 0 && dir < 2; dir++) {
		bool sender = (t->rank < peer) == (dir == 0);
		const size_t len1 = 5000, len2 = 100000;

		if (sender) {
			unsigned char *b = mpitest_alloc(len2);

			mpitest_fill(b, len1, t->rank, 7);
			MPITEST_CALL(t, MPI_Send(b, (int)len1, MPI_BYTE, peer, 7, MPI_COMM_WORLD));
			mpitest_fill(b, len2, t->rank, 8);
			MPITEST_CALL(t, MPI_Send(b, (int)len2, MPI_BYTE, peer, 8, MPI_COMM_WORLD));
			free(b);
		} else {
			MPI_Status st;
			int flag = 1, count = -1;

			/* nobody sends tag 4242 in this program */
			MPITEST_CALL(t, MPI_Iprobe(peer, 4242, MPI_COMM_WORLD, &flag, &st));
			MPITEST_CHECK(t, !flag, "MPI_Iprobe found a message with a tag nobody sent");

			MPITEST_CALL(t, MPI_Probe(peer, 7, MPI_COMM_WORLD, &st));
			check_status(t, &st, peer, 7, len1, "MPI_Probe");
			MPI_Get_count(&st, MPI_BYTE, &count);
			unsigned char *b = mpitest_alloc(count > 0 ? (size_t)count : 1);

			MPITEST_CALL(t, MPI_Recv(b, count, MPI_BYTE, peer, 7, MPI_COMM_WORLD, &st));
			check_data(t, b, len1, peer, 7, "after MPI_Probe");
			free(b);

			flag = 0;
			while (!flag)
				MPITEST_CALL(t, MPI_Iprobe(MPI_ANY_SOURCE, 8, MPI_COMM_WORLD, &flag, &st));
			check_status(t, &st, peer, 8, len2, "MPI_Iprobe");
			MPI_Get_count(&st, MPI_BYTE, &count);
			b = mpitest_alloc(count > 0 ? (size_t)count : 1);
			MPITEST_CALL(t, MPI_Recv(b, count, MPI_BYTE, st.MPI_SOURCE, 8, MPI_COMM_WORLD, &st));
			check_data(t, b, len2, peer, 8, "after MPI_Iprobe");
			free(b);
		}
	}
	mpitest_section_end(t, "MPI_Probe 5000 B, MPI_Iprobe(ANY_SOURCE) 100000 B, "
			       "MPI_Iprobe of an unsent tag");
}

/* ---- MPI_Mprobe / MPI_Improbe ---------------------------------------------- */

static void test_mprobe(struct mpitest *t)
{
	int peer = partner_of(t);
	const size_t len1 = 3000, len2 = 300000;

	mpitest_section(t, "mprobe");
	for (int dir = 0; peer >= 0 && dir < 2; dir++) {
		bool sender = (t->rank < peer) == (dir == 0);

		if (sender) {
			unsigned char *b = mpitest_alloc(len2);

			mpitest_fill(b, len1, t->rank, 9);
			MPITEST_CALL(t, MPI_Send(b, (int)len1, MPI_BYTE, peer, 9, MPI_COMM_WORLD));
			mpitest_fill(b, len2, t->rank, 10);
			MPITEST_CALL(t, MPI_Send(b, (int)len2, MPI_BYTE, peer, 10, MPI_COMM_WORLD));
			free(b);
			continue;
		}
		MPI_Message msg = MPI_MESSAGE_NULL;
		MPI_Status st;
		MPI_Request req;
		int flag = 0, count = -1;
		unsigned char *b = mpitest_alloc(len2);

		MPITEST_CALL(t, MPI_Mprobe(MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &msg, &st));
		check_status(t, &st, peer, 9, len1, "MPI_Mprobe");
		/* the matched message is out of the matching queue now */
		MPITEST_CALL(t, MPI_Iprobe(MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &flag, &st));
		MPITEST_CHECK(t, !flag, "MPI_Iprobe still sees the message MPI_Mprobe matched");
		MPI_Get_count(&st, MPI_BYTE, &count);
		MPITEST_CALL(t, MPI_Mrecv(b, (int)len1, MPI_BYTE, &msg, &st));
		check_status(t, &st, peer, 9, len1, "MPI_Mrecv");
		check_data(t, b, len1, peer, 9, "MPI_Mrecv");
		MPITEST_CHECK(t, msg == MPI_MESSAGE_NULL, "MPI_Mrecv left the message handle set");

		flag = 0;
		while (!flag)
			MPITEST_CALL(t, MPI_Improbe(peer, 10, MPI_COMM_WORLD, &flag, &msg, &st));
		check_status(t, &st, peer, 10, len2, "MPI_Improbe");
		memset(b, 0, len2);
		MPITEST_CALL(t, MPI_Imrecv(b, (int)len2, MPI_BYTE, &msg, &req));
		MPITEST_CALL(t, MPI_Wait(&req, &st));
		check_status(t, &st, peer, 10, len2, "MPI_Imrecv");
		check_data(t, b, len2, peer, 10, "MPI_Imrecv");
		free(b);
	}
	mpitest_section_end(t, "MPI_Mprobe+MPI_Mrecv 3000 B, MPI_Improbe+MPI_Imrecv 300000 B, "
			       "matched message hidden from MPI_Iprobe");
}

/* ---- MPI_Cancel of a posted receive ---------------------------------------- */

static void test_cancel(struct mpitest *t)
{
	int peer = partner_of(t);
	const int tag = 31337;

	mpitest_section(t, "cancel");
	if (peer >= 0) {
		unsigned char b[64];
		MPI_Request req[2];
		MPI_Status st;
		int cancelled = 0;

		/* Nothing with this tag has been sent yet: both receives stay posted. */
		MPITEST_CALL(t, MPI_Irecv(b, sizeof(b), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &req[0]));
		MPITEST_CALL(t, MPI_Irecv(b, sizeof(b), MPI_BYTE, MPI_ANY_SOURCE, tag + 1,
					  MPI_COMM_WORLD, &req[1]));
		for (int i = 0; i < 2; i++) {
			MPITEST_CALL(t, MPI_Cancel(&req[i]));
			MPITEST_CALL(t, MPI_Wait(&req[i], &st));
			MPITEST_CALL(t, MPI_Test_cancelled(&st, &cancelled));
			MPITEST_CHECK(t, cancelled, "receive %d: MPI_Test_cancelled is false", i);
		}
	}
	/* Every receive above is cancelled before anyone sends that tag. */
	MPI_Barrier(MPI_COMM_WORLD);
	if (peer >= 0) {
		unsigned char s[48], r[64];
		MPI_Status st;

		mpitest_fill(s, sizeof(s), t->rank, tag);
		memset(r, 0, sizeof(r));
		MPITEST_CALL(t, MPI_Sendrecv(s, sizeof(s), MPI_BYTE, peer, tag, r, sizeof(r), MPI_BYTE,
					     peer, tag, MPI_COMM_WORLD, &st));
		check_status(t, &st, peer, tag, sizeof(s), "receive after cancel");
		check_data(t, r, sizeof(s), peer, tag, "receive after cancel");
	}
	mpitest_section_end(t, "MPI_Cancel of posted receives (named and ANY_SOURCE), "
			       "MPI_Test_cancelled true, the tag still usable");
}

/* ---- synchronous sends ------------------------------------------------------ */

static void test_ssend(struct mpitest *t)
{
	static const size_t ssizes[] = {0, 64, 8192, 65536, 16 * MIB};
	int peer = partner_of(t);
	unsigned char *b = mpitest_alloc(16 * MIB);

	mpitest_section(t, "ssend");
	for (size_t i = 0; peer >= 0 && i < sizeof(ssizes) / sizeof(ssizes[0]); i++) {
		size_t len = ssizes[i];
		int tag = 500 + (int)i, go = 600 + (int)i;
		MPI_Status st;

		if (t->rank < peer) {
			MPI_Request req;
			int flag = 0;

			mpitest_fill(b, len, t->rank, tag);
			MPITEST_CALL(t, MPI_Issend(b, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &req));
			/* The peer posts its receive only after our "go": no completion yet. */
			for (int k = 0; k < 100 && !flag; k++)
				MPITEST_CALL(t, MPI_Test(&req, &flag, &st));
			MPITEST_CHECK(t, !flag, "MPI_Issend of %zu B completed before the receive was posted",
				      len);
			MPITEST_CALL(t, MPI_Send(NULL, 0, MPI_BYTE, peer, go, MPI_COMM_WORLD));
			MPITEST_CALL(t, MPI_Wait(&req, &st));
			/* and back with the blocking call */
			memset(b, 0, len);
			MPITEST_CALL(t, MPI_Recv(b, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &st));
			check_status(t, &st, peer, tag, len, "MPI_Recv of MPI_Ssend");
			check_data(t, b, len, peer, tag, "MPI_Ssend");
		} else {
			MPITEST_CALL(t, MPI_Recv(NULL, 0, MPI_BYTE, peer, go, MPI_COMM_WORLD, &st));
			memset(b, 0, len);
			MPITEST_CALL(t, MPI_Recv(b, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &st));
			check_status(t, &st, peer, tag, len, "MPI_Recv of MPI_Issend");
			check_data(t, b, len, peer, tag, "MPI_Issend");
			mpitest_fill(b, len, t->rank, tag);
			MPITEST_CALL(t, MPI_Ssend(b, (int)len, MPI_BYTE, peer, tag, MPI_COMM_WORLD));
		}
	}
	free(b);
	mpitest_section_end(t, "MPI_Issend incomplete until the receive is posted, MPI_Ssend; "
			       "0 B..16 MiB");
}

/* ---- 16 MiB both ways at once ------------------------------------------------ */

static void test_large(struct mpitest *t, unsigned char *sbuf, unsigned char *rbuf)
{
	int peer = partner_of(t);
	const size_t len = 16 * MIB;

	mpitest_section(t, "large");
	for (int round = 0; peer >= 0 && round < 3; round++) {
		MPI_Status st;

		mpitest_fill(sbuf, len, t->rank, 700 + round);
		memset(rbuf, 0, len);
		MPITEST_CALL(t, MPI_Sendrecv(sbuf, (int)len, MPI_BYTE, peer, 700 + round, rbuf, (int)len,
					     MPI_BYTE, peer, 700 + round, MPI_COMM_WORLD, &st));
		check_status(t, &st, peer, 700 + round, len, "16 MiB MPI_Sendrecv");
		check_data(t, rbuf, len, peer, 700 + round, "16 MiB MPI_Sendrecv");
	}
	mpitest_section_end(t, "3 x 16 MiB exchanged both ways at once");
}

/* ---- ring ------------------------------------------------------------------ */

static void test_ring(struct mpitest *t, unsigned char *sbuf, unsigned char *rbuf)
{
	const size_t len = MIB;
	int right = (t->rank + 1) % t->size, left = (t->rank + t->size - 1) % t->size;
	long token = t->rank, sum = 0;

	mpitest_section(t, "ring");
	/*
	 * Round k: pass on what arrived in round k-1.  After k rounds this rank
	 * holds the buffer rank (rank - k) filled, and the token sum adds up
	 * every rank once after size rounds.
	 */
	mpitest_fill(sbuf, len, t->rank, 800);
	for (int k = 1; k <= t->size; k++) {
		MPI_Status st;
		long in = -1;
		int origin = (t->rank - k % t->size + t->size) % t->size;

		if (k % 2) {
			MPITEST_CALL(t, MPI_Sendrecv(sbuf, (int)len, MPI_BYTE, right, 800 + k, rbuf,
						     (int)len, MPI_BYTE, left, 800 + k, MPI_COMM_WORLD, &st));
			MPITEST_CALL(t, MPI_Sendrecv(&token, 1, MPI_LONG, right, 900 + k, &in, 1,
						     MPI_LONG, left, 900 + k, MPI_COMM_WORLD, &st));
		} else {
			MPI_Request req[4];

			MPITEST_CALL(t, MPI_Irecv(rbuf, (int)len, MPI_BYTE, left, 800 + k,
						  MPI_COMM_WORLD, &req[0]));
			MPITEST_CALL(t, MPI_Irecv(&in, 1, MPI_LONG, left, 900 + k, MPI_COMM_WORLD,
						  &req[1]));
			MPITEST_CALL(t, MPI_Isend(sbuf, (int)len, MPI_BYTE, right, 800 + k,
						  MPI_COMM_WORLD, &req[2]));
			MPITEST_CALL(t, MPI_Isend(&token, 1, MPI_LONG, right, 900 + k, MPI_COMM_WORLD,
						  &req[3]));
			MPITEST_CALL(t, MPI_Waitall(4, req, MPI_STATUSES_IGNORE));
		}
		check_data(t, rbuf, len, origin, 800, "ring buffer");
		MPITEST_CHECK(t, in == origin, "ring token round %d: %ld, want %d", k, in, origin);
		sum += in;
		token = in;
		memcpy(sbuf, rbuf, len);
	}
	long want = (long)t->size * (t->size - 1) / 2;

	MPITEST_CHECK(t, sum == want, "ring: token sum %ld, want %ld", sum, want);
	mpitest_section_end(t, "1 MiB buffer and a token passed around every rank, "
			       "MPI_Sendrecv and MPI_Isend/MPI_Irecv");
}

int main(int argc, char **argv)
{
	struct mpitest t;

	MPI_Init(&argc, &argv);
	mpitest_init(&t, "mpi_p2p");
	if (t.rank == 0)
		printf("mpi_p2p: %d ranks\n", t.size);

	unsigned char *sbuf = mpitest_alloc(16 * MIB), *rbuf = mpitest_alloc(16 * MIB);

	test_blocking(&t, sbuf, rbuf);
	test_nonblocking(&t);
	test_any(&t);
	test_probe(&t);
	test_mprobe(&t);
	test_cancel(&t);
	test_ssend(&t);
	test_large(&t, sbuf, rbuf);
	test_ring(&t, sbuf, rbuf);
	free(sbuf);
	free(rbuf);
	return mpitest_finish(&t);
}
