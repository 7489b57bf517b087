/*
 * dlclose(libmm) must not leave a dangling thread-exit hook behind.
 *
 * libmm's per-thread cache registers a pthread key whose destructor returns
 * a thread's cached blocks when the thread exits.  glibc has no way to take
 * that destructor away again, so the library must stay mapped after
 * dlclose() (it is linked with -z nodelete).  This program is linked with
 * libc, libdl and the thread library only, never with libmm:
 *
 *   1. dlopen() the library named by argv[1] (RTLD_LOCAL);
 *   2. a second thread calls its mm_malloc and mm_free, so that the
 *      thread's cache (and the key's destructor) is set up, and waits;
 *   3. main dlclose()s the library, then lets the thread exit and joins it:
 *      without -z nodelete the thread-exit destructor jumps into unmapped
 *      memory and the process dies of SIGSEGV;
 *   4. the library must still be in the process (dlopen RTLD_NOLOAD).
 *
 * Exit status 0: passed; 1: failed; a crash also fails.  The driver
 * tests/dlclose.sh runs it for libmm.so.1 and libmm-malloc.so.1.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

static malloc_fn lib_malloc;
static free_fn lib_free;
static pthread_barrier_t used;	/* the thread has used the library */
static pthread_barrier_t closed;	/* main has closed the library */

static void *worker(void *arg)
{
	void *p[8];
	int ok = 1;

	(void)arg;
	/* Small blocks, freed: they go to this thread's cache, which
	 * registers the thread-exit destructor on first use. */
	for (int i = 0; i < 8; i++) {
		p[i] = lib_malloc(16 + 16 * (size_t)i);
		if (!p[i])
			ok = 0;
		else
			memset(p[i], 0xa5, 16);
	}
	for (int i = 0; i < 8; i++)
		lib_free(p[i]);
	pthread_barrier_wait(&used);
	pthread_barrier_wait(&closed);
	/* Returning runs the key destructors: libmm's, if registered. */
	return ok ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
	void *lib, *again, *ret = NULL;
	void *sym;
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "FAIL: dlopen %s: %s\n", argv[1], dlerror());
		return 1;
	}
	sym = dlsym(lib, "mm_malloc");
	memcpy(&lib_malloc, &sym, sizeof sym);
	sym = dlsym(lib, "mm_free");
	memcpy(&lib_free, &sym, sizeof sym);
	if (!lib_malloc || !lib_free) {
		fprintf(stderr, "FAIL: %s has no mm_malloc or mm_free\n", argv[1]);
		return 1;
	}
	pthread_barrier_init(&used, NULL, 2);
	pthread_barrier_init(&closed, NULL, 2);
	if (pthread_create(&t, NULL, worker, NULL) != 0) {
		fprintf(stderr, "FAIL: pthread_create\n");
		return 1;
	}
	pthread_barrier_wait(&used);
	if (dlclose(lib) != 0) {
		fprintf(stderr, "FAIL: dlclose: %s\n", dlerror());
		return 1;
	}
	lib_malloc = NULL;
	lib_free = NULL;
	pthread_barrier_wait(&closed);
	if (pthread_join(t, &ret) != 0 || ret != NULL) {
		fprintf(stderr, "FAIL: the thread's mm_malloc failed\n");
		return 1;
	}
	printf("ok: a thread that used %s exited after dlclose\n", argv[1]);

	again = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
	if (!again) {
		fprintf(stderr, "FAIL: %s was unloaded by dlclose "
			"(not linked with -z nodelete)\n", argv[1]);
		return 1;
	}
	dlclose(again);
	printf("ok: %s stays loaded after dlclose (nodelete)\n", argv[1]);
	return 0;
}
