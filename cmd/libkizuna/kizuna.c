// The public kz_* functions of libkizuna.h: const-correct C entry points over
// the Go functions (kzgo_*) that cgo exports, and the thread-local error
// text behind kz_last_error.

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"

// The calling thread's most recent failure message lives in a buffer that
// a pthread key owns (freed when the thread exits). It is not a
// _Thread_local array: the Go runtime makes this library use the static TLS
// block, which has too little room left for one when Python dlopens it.
enum { errorCap = 2048 };
static pthread_key_t errorKey;
static pthread_once_t errorOnce = PTHREAD_ONCE_INIT;
static int errorKeyOK;

static void makeErrorKey(void) { errorKeyOK = pthread_key_create(&errorKey, free) == 0; }

void kzgo_set_error(const char *msg, size_t n) {
	pthread_once(&errorOnce, makeErrorKey);
	if (!errorKeyOK) {
		return;
	}
	char *buf = pthread_getspecific(errorKey);
	if (buf == NULL) {
		buf = malloc(errorCap);
		if (buf == NULL || pthread_setspecific(errorKey, buf) != 0) {
			free(buf);
			return;
		}
	}
	if (n >= errorCap) {
		n = errorCap - 1;
	}
	memcpy(buf, msg, n);
	buf[n] = 0;
}

const char *kz_last_error(void) {
	pthread_once(&errorOnce, makeErrorKey);
	const char *buf = errorKeyOK ? pthread_getspecific(errorKey) : NULL;
	return buf != NULL ? buf : "";
}

const char *kz_strerror(int code) {
	switch (code) {
	case KZ_SUCCESS: return "KZ_SUCCESS";
	case KZ_ERR_INVALID: return "KZ_ERR_INVALID";
	case KZ_ERR_STATE: return "KZ_ERR_STATE";
	case KZ_ERR_MISMATCH: return "KZ_ERR_MISMATCH";
	case KZ_ERR_TIMEOUT: return "KZ_ERR_TIMEOUT";
	case KZ_ERR_ABORTED: return "KZ_ERR_ABORTED";
	case KZ_ERR_FAILED: return "KZ_ERR_FAILED";
	}
	return code >= 0 ? "KZ_SUCCESS" : "KZ_ERR_UNKNOWN";
}

static char versionText[128];
static pthread_once_t versionOnce = PTHREAD_ONCE_INIT;

static void loadVersion(void) { kzgo_version(versionText, sizeof versionText); }

const char *kz_version(void) {
	pthread_once(&versionOnce, loadVersion);
	return versionText;
}

int kz_init(void) { return kzgo_init(); }
int kz_finalize(void) { return kzgo_finalize(); }
int kz_rank(void) { return kzgo_rank(); }
int kz_size(void) { return kzgo_size(); }
int kz_barrier(void) { return kzgo_barrier(); }
int kz_abort(void) { return kzgo_abort(); }

int kz_allreduce(void *buf, size_t count, int dtype, int op) {
	return kzgo_allreduce(buf, buf, count, dtype, op);
}

int kz_allreduce_into(const void *send, void *recv, size_t count, int dtype, int op) {
	return kzgo_allreduce((void *)send, recv, count, dtype, op);
}

int kz_reduce(const void *send, void *recv, size_t count, int dtype, int op, int root) {
	return kzgo_reduce((void *)send, recv, count, dtype, op, root);
}

int kz_broadcast(void *buf, size_t count, int dtype, int root) {
	return kzgo_broadcast(buf, count, dtype, root);
}

int kz_allgather(const void *send, void *recv, size_t count, int dtype) {
	return kzgo_allgather((void *)send, recv, count, dtype);
}

int kz_reducescatter(const void *send, void *recv, size_t recvcount, int dtype, int op) {
	return kzgo_reducescatter((void *)send, recv, recvcount, dtype, op);
}

int kz_alltoall(const void *send, void *recv, size_t count, int dtype) {
	return kzgo_alltoall((void *)send, recv, count, dtype);
}

int kz_send(const void *buf, size_t count, int dtype, int peer, uint32_t tag) {
	return kzgo_send((void *)buf, count, dtype, peer, tag);
}

int kz_recv(void *buf, size_t count, int dtype, int peer, uint32_t tag) {
	return kzgo_recv(buf, count, dtype, peer, tag);
}
