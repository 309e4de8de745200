// kztest checks libkizuna through its C ABI, as one rank of a job started by
// `kizuna run -np N` (or alone, as a job of one rank). Every rank checks its
// own results exactly and prints "rank R of N: ok K checks" at the end, or
// "FAIL ..." on stderr and exits 1.
//
// Usage: kztest DIR   (DIR: an empty directory shared by the ranks, for the
// barrier check)

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kizuna.h"

static int rank = -1, size = -1, checks = 0;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		checks++;                                                    \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL rank %d line %d: ", rank, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fprintf(stderr, " (last error: %s)\n", kz_last_error()); \
			exit(1);                                             \
		}                                                            \
	} while (0)

// CALL checks that a kz_* call succeeded.
#define CALL(expr)                                                                       \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		CHECK(rc_ == KZ_SUCCESS, "%s = %d (%s); want KZ_SUCCESS", #expr, rc_, kz_strerror(rc_)); \
	} while (0)

// FAILS checks that a call failed with code want and a message containing text.
#define FAILS(expr, want, text)                                                                       \
	do {                                                                                          \
		int rc_ = (expr);                                                                     \
		CHECK(rc_ == (want), "%s = %d (%s); want %s", #expr, rc_, kz_strerror(rc_), #want);   \
		CHECK(strstr(kz_last_error(), (text)) != NULL, "%s: last error %s lacks \"%s\"", #expr, \
		      kz_last_error(), (text));                                                       \
	} while (0)

static const char *dtypeNames[] = {"float32", "float64", "float16", "bfloat16", "int8", "uint8", "int32", "int64"};
static const size_t dtypeSizes[] = {4, 8, 2, 2, 1, 1, 4, 8};
static const char *opNames[] = {"sum", "prod", "min", "max", "avg"};

// f32bits and halfFrom convert exactly representable small values.
static uint32_t f32bits(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static uint16_t fp16From(double v) {
	float f = (float)v;
	uint32_t u = f32bits(f);
	if ((u & 0x7fffffff) == 0) {
		return (uint16_t)(u >> 16);
	}
	uint32_t sign = (u >> 16) & 0x8000;
	int exp = (int)((u >> 23) & 0xff) - 127 + 15;
	uint32_t mant = (u & 0x7fffff) >> 13;
	return (uint16_t)(sign | ((uint32_t)exp << 10) | mant);
}

static uint16_t bf16From(double v) { return (uint16_t)(f32bits((float)v) >> 16); }

// store writes v as element i of buf in dtype dt (v exactly representable).
static void store(void *buf, int dt, size_t i, double v) {
	switch (dt) {
	case KZ_FLOAT32: ((float *)buf)[i] = (float)v; break;
	case KZ_FLOAT64: ((double *)buf)[i] = v; break;
	case KZ_FLOAT16: ((uint16_t *)buf)[i] = fp16From(v); break;
	case KZ_BFLOAT16: ((uint16_t *)buf)[i] = bf16From(v); break;
	case KZ_INT8: ((int8_t *)buf)[i] = (int8_t)(int64_t)v; break;
	case KZ_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(int64_t)v; break;
	case KZ_INT32: ((int32_t *)buf)[i] = (int32_t)v; break;
	case KZ_INT64: ((int64_t *)buf)[i] = (int64_t)v; break;
	}
}

// input is element i of rank r's all-reduce input for op. For KZ_PROD it
// is 1 or 2, so that every partial product is a power of two, exact in every
// type. For the other ops it is b(i) + d(r), with the d(r) summing to zero
// over the ranks, so that every average is exact. Signed types get negative
// values too, so that a signed type mistaken for an unsigned one, or the
// reverse, gives different results.
static int64_t input(int dt, int op, int r, size_t i) {
	int neg;
	int64_t v;
	if (op == KZ_PROD) {
		v = 1 + (int64_t)((i + r) % 2);
		neg = (i + r) % 3 == 0;
	} else {
		int64_t tri = (int64_t)(size - 1) * (size - 2) / 2;
		int64_t d = r < size - 1 ? r : -tri;
		v = 1 + (int64_t)(i % 4) + tri + d;
		neg = i % 2 == 1;
	}
	return dt != KZ_UINT8 && neg ? -v : v;
}

// expected is element i of the all-reduce of input over all ranks, as a
// value of dt (integers wrap like two's complement, as Kizuna's do).
static void expected(void *buf, int dt, int op, size_t i) {
	int64_t acc = input(dt, op, 0, i);
	for (int r = 1; r < size; r++) {
		int64_t v = input(dt, op, r, i);
		switch (op) {
		case KZ_SUM:
		case KZ_AVG: acc += v; break;
		case KZ_PROD: acc *= v; break;
		case KZ_MIN: acc = v < acc ? v : acc; break;
		case KZ_MAX: acc = v > acc ? v : acc; break;
		}
	}
	if (op == KZ_AVG) {
		acc /= size; // exact: the sum is size*b(i), up to sign
	}
	switch (dt) { // wrap the integers first, as the reduction did
	case KZ_INT8: acc = (int8_t)(uint8_t)acc; break;
	case KZ_UINT8: acc = (uint8_t)acc; break;
	case KZ_INT32: acc = (int32_t)(uint32_t)acc; break;
	}
	store(buf, dt, i, (double)acc);
}

static void checkAllReduce(void) {
	const size_t count = 1001; // not a multiple of 3, so blocks are uneven
	for (int dt = KZ_FLOAT32; dt <= KZ_INT64; dt++) {
		size_t es = dtypeSizes[dt];
		unsigned char *buf = malloc(count * es), *want = malloc(count * es), *out = malloc(count * es);
		for (int op = KZ_SUM; op <= KZ_AVG; op++) {
			for (int inPlace = 1; inPlace >= 0; inPlace--) {
				for (size_t i = 0; i < count; i++) {
					store(buf, dt, i, (double)input(dt, op, rank, i));
					expected(want, dt, op, i);
				}
				memset(out, 0xAB, count * es);
				if (inPlace) {
					CALL(kz_allreduce(buf, count, dt, op));
				} else {
					CALL(kz_allreduce_into(buf, out, count, dt, op));
				}
				const unsigned char *got = inPlace ? buf : out;
				for (size_t i = 0; i < count; i++) {
					CHECK(memcmp(got + i * es, want + i * es, es) == 0,
					      "allreduce(%s, %s, in place %d) element %zu differs from the oracle",
					      dtypeNames[dt], opNames[op], inPlace, i);
				}
				if (!inPlace) { // out of place leaves send alone
					for (size_t i = 0; i < count; i++) {
						unsigned char in[8];
						store(in, dt, 0, (double)input(dt, op, rank, i));
						CHECK(memcmp(buf + i * es, in, es) == 0, "allreduce_into(%s) changed send", dtypeNames[dt]);
					}
				}
			}
		}
		free(buf);
		free(want);
		free(out);
	}
	CALL(kz_allreduce(NULL, 0, KZ_FLOAT32, KZ_SUM)); // zero elements
}

static void checkAllGather(void) {
	const size_t count = 5;
	int32_t send[5], *recv = malloc(sizeof(int32_t) * count * size);
	for (size_t i = 0; i < count; i++) send[i] = rank * 100 + (int32_t)i;
	CALL(kz_allgather(send, recv, count, KZ_INT32));
	for (int r = 0; r < size; r++)
		for (size_t i = 0; i < count; i++)
			CHECK(recv[r * count + i] == r * 100 + (int32_t)i, "allgather recv[%zu] = %d; want %d", r * count + i,
			      recv[r * count + i], r * 100 + (int)i);
	free(recv);

	double *all = malloc(sizeof(double) * count * size); // in place
	for (size_t k = 0; k < count * size; k++) all[k] = -1;
	for (size_t i = 0; i < count; i++) all[rank * count + i] = rank + i / 8.0;
	CALL(kz_allgather(all + rank * count, all, count, KZ_FLOAT64));
	for (int r = 0; r < size; r++)
		for (size_t i = 0; i < count; i++)
			CHECK(all[r * count + i] == r + i / 8.0, "allgather in place [%zu] = %g; want %g", r * count + i,
			      all[r * count + i], r + i / 8.0);
	free(all);
}

static void checkReduceScatter(void) {
	const size_t m = 7;
	size_t n = m * size;
	float *send = malloc(sizeof(float) * n), recv[7];
	for (size_t j = 0; j < n; j++) send[j] = (float)(rank + j);
	CALL(kz_reducescatter(send, recv, m, KZ_FLOAT32, KZ_SUM));
	for (size_t i = 0; i < m; i++) {
		float want = (float)(size * (rank * m + i) + size * (size - 1) / 2);
		CHECK(recv[i] == want, "reducescatter recv[%zu] = %g; want %g", i, recv[i], want);
	}
	// In place, with max.
	for (size_t j = 0; j < n; j++) send[j] = (float)(rank * (int)(j % 3) - (int)j);
	CALL(kz_reducescatter(send, send + rank * m, m, KZ_FLOAT32, KZ_MAX));
	for (size_t i = 0; i < m; i++) {
		size_t j = rank * m + i;
		float want = (float)((size - 1) * (int)(j % 3) - (int)j);
		CHECK(send[j] == want, "reducescatter in place [%zu] = %g; want %g", j, send[j], want);
	}
	free(send);
}

static void checkBroadcastReduce(void) {
	int64_t buf[9];
	int root = size - 1;
	for (int i = 0; i < 9; i++) buf[i] = rank == root ? (int64_t)1 << (40 + i) : -7;
	CALL(kz_broadcast(buf, 9, KZ_INT64, root));
	for (int i = 0; i < 9; i++)
		CHECK(buf[i] == (int64_t)1 << (40 + i), "broadcast buf[%d] = %lld; want %lld", i, (long long)buf[i],
		      (long long)1 << (40 + i));

	int32_t send[4] = {rank, rank + 1, -rank, 3}, recv[4] = {0};
	int rroot = size > 1 ? 1 : 0;
	CALL(kz_reduce(send, rank == rroot ? recv : NULL, 4, KZ_INT32, KZ_SUM, rroot));
	if (rank == rroot) {
		int32_t s = size * (size - 1) / 2;
		int32_t want[4] = {s, s + size, -s, 3 * size};
		for (int i = 0; i < 4; i++) CHECK(recv[i] == want[i], "reduce recv[%d] = %d; want %d", i, recv[i], want[i]);
	}
}

static void checkAllToAllSendRecv(void) {
	const size_t m = 3;
	int32_t *send = malloc(sizeof(int32_t) * m * size), *recv = malloc(sizeof(int32_t) * m * size);
	for (int j = 0; j < size; j++)
		for (size_t i = 0; i < m; i++) send[j * m + i] = rank * 1000 + j * 10 + (int32_t)i;
	CALL(kz_alltoall(send, recv, m, KZ_INT32));
	for (int j = 0; j < size; j++)
		for (size_t i = 0; i < m; i++)
			CHECK(recv[j * m + i] == j * 1000 + rank * 10 + (int32_t)i, "alltoall recv[%zu] = %d; want %d", j * m + i,
			      recv[j * m + i], j * 1000 + rank * 10 + (int)i);
	free(send);
	free(recv);

	if (size < 2) {
		return;
	}
	// A ring of messages: rank r sends to r+1 and receives from r-1.
	uint8_t out[6], in[6];
	for (int i = 0; i < 6; i++) out[i] = (uint8_t)(rank * 6 + i);
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	if (rank == 0) {
		CALL(kz_send(out, 6, KZ_UINT8, next, 7));
		CALL(kz_recv(in, 6, KZ_UINT8, prev, 7));
	} else {
		CALL(kz_recv(in, 6, KZ_UINT8, prev, 7));
		CALL(kz_send(out, 6, KZ_UINT8, next, 7));
	}
	for (int i = 0; i < 6; i++) CHECK(in[i] == prev * 6 + i, "recv in[%d] = %d; want %d", i, in[i], prev * 6 + i);
}

// checkBarrier: every rank creates its file in dir before the barrier, so
// after it every rank must see all of them.
static void arrive(const char *dir, const char *what) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.%d", dir, what, rank);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
	close(fd);
}

// arrived reports whether every rank has created its file what.
static int arrived(const char *dir, const char *what) {
	char path[4096];
	for (int r = 0; r < size; r++) {
		snprintf(path, sizeof path, "%s/%s.%d", dir, what, r);
		if (access(path, F_OK) != 0) {
			return 0;
		}
	}
	return 1;
}

static void checkBarrier(const char *dir) {
	if (rank == 0) {
		usleep(200 * 1000); // arrive last, so that a barrier that does not wait is caught
	}
	arrive(dir, "barrier");
	CALL(kz_barrier());
	CHECK(arrived(dir, "barrier"), "after kz_barrier, not every rank has arrived");
}

static void *failInThread(void *arg) {
	(void)arg;
	int rc = kz_allreduce(NULL, 1, 42, KZ_SUM);
	return (void *)(intptr_t)(rc == KZ_ERR_INVALID && strstr(kz_last_error(), "dtype 42") != NULL);
}

static void checkErrors(void) {
	float f[8] = {0};
	FAILS(kz_allreduce(f, 8, 99, KZ_SUM), KZ_ERR_INVALID, "dtype 99");
	FAILS(kz_allreduce(f, 8, KZ_FLOAT32, 17), KZ_ERR_INVALID, "op 17");
	FAILS(kz_allreduce(NULL, 8, KZ_FLOAT32, KZ_SUM), KZ_ERR_INVALID, "NULL");
	FAILS(kz_allreduce_into(f, f + 2, 6, KZ_FLOAT32, KZ_SUM), KZ_ERR_INVALID, "overlap");
	FAILS(kz_broadcast(f, 8, KZ_FLOAT32, size), KZ_ERR_INVALID, "root");
	FAILS(kz_broadcast(f, 8, KZ_FLOAT32, -1), KZ_ERR_INVALID, "root");
	FAILS(kz_allreduce(f, (size_t)-1, KZ_FLOAT64, KZ_SUM), KZ_ERR_INVALID, "address space");
	FAILS(kz_send(f, 8, KZ_FLOAT32, 0, KZ_RESERVED_TAGS), KZ_ERR_INVALID, "reserved");
	FAILS(kz_recv(f, 8, KZ_FLOAT32, size, 1), KZ_ERR_INVALID, "peer");
	FAILS(kz_init(), KZ_ERR_STATE, "already");

	// The error text is per thread: a failure in another thread leaves this
	// thread's message alone.
	const char *mine = "kz_init: libkizuna: kz_init has already been called";
	CHECK(strcmp(kz_last_error(), mine) == 0, "last error %s; want %s", kz_last_error(), mine);
	pthread_t th;
	void *ok;
	CHECK(pthread_create(&th, NULL, failInThread, NULL) == 0, "pthread_create");
	pthread_join(th, &ok);
	CHECK(ok != NULL, "the other thread did not get its own KZ_ERR_INVALID \"dtype 42\"");
	CHECK(strcmp(kz_last_error(), mine) == 0, "after another thread failed, last error %s; want %s", kz_last_error(), mine);

	// After local misuse the library is still usable.
	for (int i = 0; i < 8; i++) f[i] = (float)(rank + i);
	CALL(kz_allreduce(f, 8, KZ_FLOAT32, KZ_MAX));
	for (int i = 0; i < 8; i++) CHECK(f[i] == (float)(size - 1 + i), "allreduce after errors f[%d] = %g", i, f[i]);
}

// checkMismatch: rank 0 all-reduces 4 elements, the others 5. Every rank
// gets KZ_ERR_MISMATCH, and so does the next call, which says that the
// communicator is broken. It breaks the
// communicator, so it runs last.
static void checkMismatch(const char *dir) {
	if (size < 2) {
		return;
	}
	float f[5] = {1, 2, 3, 4, 5};
	FAILS(kz_allreduce(f, rank == 0 ? 4 : 5, KZ_FLOAT32, KZ_SUM), KZ_ERR_MISMATCH, "mismatch");
	FAILS(kz_barrier(), KZ_ERR_MISMATCH, "broken by an earlier failure");
	// The communicator is broken, so wait through the directory until
	// every rank has seen its error before any closes its connections:
	// this checks that the mismatch reaches every rank, not how a close
	// racing with its announcement is reported.
	arrive(dir, "mismatch");
	for (int i = 0; i < 3000 && !arrived(dir, "mismatch"); i++) {
		usleep(10 * 1000);
	}
	CHECK(arrived(dir, "mismatch"), "after 30s, not every rank has seen the mismatch");
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: kztest DIR\n");
		return 2;
	}
	CHECK(strncmp(kz_version(), "kizuna ", 7) == 0, "kz_version() = %s", kz_version());
	CHECK(strcmp(kz_last_error(), "") == 0, "last error before any call = %s; want \"\"", kz_last_error());
	CHECK(strcmp(kz_strerror(KZ_ERR_MISMATCH), "KZ_ERR_MISMATCH") == 0, "kz_strerror(KZ_ERR_MISMATCH) = %s", kz_strerror(KZ_ERR_MISMATCH));

	// Before kz_init.
	FAILS(kz_rank(), KZ_ERR_STATE, "kz_init has not been called");
	FAILS(kz_size(), KZ_ERR_STATE, "kz_init has not been called");
	float f[4] = {0};
	FAILS(kz_allreduce(f, 4, KZ_FLOAT32, KZ_SUM), KZ_ERR_STATE, "kz_allreduce: libkizuna: kz_init has not been called");
	FAILS(kz_barrier(), KZ_ERR_STATE, "kz_init");
	FAILS(kz_finalize(), KZ_ERR_STATE, "kz_init");

	CALL(kz_init());
	rank = kz_rank();
	size = kz_size();
	CHECK(size >= 1 && rank >= 0 && rank < size, "kz_rank() = %d, kz_size() = %d", rank, size);
	const char *envSize = getenv("KIZUNA_WORLD_SIZE");
	if (envSize != NULL) {
		CHECK(size == atoi(envSize), "kz_size() = %d; want KIZUNA_WORLD_SIZE=%s", size, envSize);
		CHECK(rank == atoi(getenv("KIZUNA_RANK")), "kz_rank() = %d; want KIZUNA_RANK=%s", rank, getenv("KIZUNA_RANK"));
	}

	checkAllReduce();
	checkAllGather();
	checkReduceScatter();
	checkBroadcastReduce();
	checkAllToAllSendRecv();
	checkBarrier(argv[1]);
	checkErrors();
	checkMismatch(argv[1]);

	CALL(kz_finalize());
	// After kz_finalize.
	FAILS(kz_allreduce(f, 4, KZ_FLOAT32, KZ_SUM), KZ_ERR_STATE, "kz_finalize has been called");
	FAILS(kz_rank(), KZ_ERR_STATE, "kz_finalize");
	FAILS(kz_finalize(), KZ_ERR_STATE, "kz_finalize");
	FAILS(kz_init(), KZ_ERR_STATE, "kz_finalize");

	printf("rank %d of %d: ok %d checks\n", rank, size, checks);
	return 0;
}
