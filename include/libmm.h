/*
 * libmm - a memory manager for C.
 *
 * This is the one public header of libmm.  Every function declared here is
 * exported from libmm.so.1 under the symbol version LIBMM_1.0; nothing else
 * is.  See libmm(7) for the concepts and the man page of each function for
 * the details.
 *
 * Copyright (c) 2026 The libmm developers.  MIT licence, see COPYING.
 */
#ifndef LIBMM_H
#define LIBMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the headers; mm_version() gives the library's at run time. */
#define LIBMM_VERSION_MAJOR 1
#define LIBMM_VERSION_MINOR 0
#define LIBMM_VERSION_PATCH 0
#define LIBMM_VERSION_STRING "1.0.0"
#define LIBMM_VERSION LIBMM_VERSION_STRING
/* One number, comparable with <, >: 10000 * major + 100 * minor + patch. */
#define LIBMM_VERSION_NUMBER \
	(LIBMM_VERSION_MAJOR * 10000 + LIBMM_VERSION_MINOR * 100 + LIBMM_VERSION_PATCH)

#if defined(__GNUC__) || defined(__clang__)
#define MM_EXPORT __attribute__((visibility("default")))
#define MM_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#define MM_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define MM_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define MM_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MM_EXPORT
#define MM_MALLOC_ATTR
#define MM_ALLOC_SIZE(n)
#define MM_ALLOC_SIZE2(n, m)
#define MM_WARN_UNUSED
#endif

/* --- The default heap: the seed's four and what every allocator offers -- */

MM_EXPORT void *mm_malloc(size_t size) MM_MALLOC_ATTR MM_ALLOC_SIZE(1);
MM_EXPORT void mm_free(void *ptr);
MM_EXPORT void *mm_calloc(size_t nmemb, size_t size)
	MM_MALLOC_ATTR MM_ALLOC_SIZE2(1, 2);
MM_EXPORT void *mm_realloc(void *ptr, size_t size)
	MM_WARN_UNUSED MM_ALLOC_SIZE(2);
MM_EXPORT void *mm_reallocarray(void *ptr, size_t nmemb, size_t size)
	MM_WARN_UNUSED MM_ALLOC_SIZE2(2, 3);
MM_EXPORT void *mm_aligned_alloc(size_t alignment, size_t size)
	MM_MALLOC_ATTR MM_ALLOC_SIZE(2);
MM_EXPORT int mm_posix_memalign(void **memptr, size_t alignment, size_t size);
MM_EXPORT size_t mm_usable_size(const void *ptr);
/* Every block of the default heap on standard output, one line each. */
MM_EXPORT void mm_print_mem_list(void);

/* --- Explicit heaps ------------------------------------------------------ */

typedef struct mm_heap mm_heap_t;

/* Fit policy: at most one.  Default MM_FIT_GOOD. */
#define MM_FIT_GOOD 0x0001u	/* segregated good fit, O(1) */
#define MM_FIT_FIRST 0x0002u	/* lowest address that fits (the seed's) */
#define MM_FIT_BEST 0x0004u	/* smallest free block that fits */
/* Memory source for mm_heap_create: at most one.  Default MM_SOURCE_MMAP. */
#define MM_SOURCE_MMAP 0x0010u	/* anonymous mappings */
#define MM_SOURCE_BRK 0x0020u	/* the program break, falling back to mmap */
/* The caller serialises every call on the heap: no mutex is taken. */
#define MM_HEAP_NOLOCK 0x0100u

MM_EXPORT mm_heap_t *mm_heap_create(unsigned flags);
MM_EXPORT mm_heap_t *mm_heap_create_in(void *buf, size_t len, unsigned flags);
MM_EXPORT void mm_heap_destroy(mm_heap_t *heap);
MM_EXPORT void *mm_heap_malloc(mm_heap_t *heap, size_t size)
	MM_MALLOC_ATTR MM_ALLOC_SIZE(2);
MM_EXPORT void *mm_heap_calloc(mm_heap_t *heap, size_t nmemb, size_t size)
	MM_MALLOC_ATTR MM_ALLOC_SIZE2(2, 3);
MM_EXPORT void *mm_heap_realloc(mm_heap_t *heap, void *ptr, size_t size)
	MM_WARN_UNUSED MM_ALLOC_SIZE(3);
MM_EXPORT void *mm_heap_aligned_alloc(mm_heap_t *heap, size_t alignment,
	size_t size) MM_MALLOC_ATTR MM_ALLOC_SIZE(3);
MM_EXPORT void mm_heap_free(mm_heap_t *heap, void *ptr);

/* Called for each block: its address (what an allocation returned), its
 * usable size, whether it is allocated.  A non-zero return stops the walk. */
typedef int (*mm_visit_fn)(void *block, size_t size, int in_use, void *arg);
MM_EXPORT int mm_heap_walk(mm_heap_t *heap, mm_visit_fn visit, void *arg);
/* 0 when every invariant of the heap holds, -1 when it is corrupt. */
MM_EXPORT int mm_heap_check(mm_heap_t *heap);
MM_EXPORT void mm_heap_print(mm_heap_t *heap, int fd);
MM_EXPORT mm_heap_t *mm_default_heap(void);
/* Give free memory back to the OS, keeping pad bytes; 1 if any was. */
MM_EXPORT int mm_trim(size_t pad);

/* --- Options ------------------------------------------------------------- */

/* Requests of at least this many bytes get their own mapping (default
 * 128 KiB).  0 turns that off; ignored for heaps in a caller's buffer. */
#define MM_OPT_MMAP_THRESHOLD 1
/* A free span at the top of the program break of at least this many bytes
 * is given back at once (default 128 KiB). */
#define MM_OPT_TRIM_THRESHOLD 2
/* A freed block with a mapping of its own is kept this many milliseconds
 * for reuse before it is unmapped (default 250, or LIBMM_DECAY_MS); 0
 * unmaps at once. */
#define MM_OPT_DECAY_MS 3
MM_EXPORT int mm_heap_set_option(mm_heap_t *heap, int option, size_t value);

/* --- Statistics ---------------------------------------------------------- */

/* Fields are only ever added at the end: pass sizeof(struct mm_stats) as
 * the size and a newer library fills just the fields your build knows. */
struct mm_stats {
	size_t os_bytes;	/* bytes now held from the OS (or the pool) */
	size_t peak_os_bytes;	/* most ever held at once */
	size_t in_use_bytes;	/* usable bytes of allocated blocks */
	size_t peak_in_use_bytes;
	size_t free_bytes;	/* usable bytes of free blocks */
	size_t largest_free;	/* usable size of the largest free block */
	size_t in_use_blocks;
	size_t free_blocks;
	size_t mapped_blocks;	/* allocated blocks with their own mapping */
	size_t mapped_bytes;
	size_t regions;		/* spans of memory the heap carves blocks from */
	size_t alloc_count;	/* allocations since creation */
	size_t free_count;	/* frees since creation */
};
typedef struct mm_stats mm_stats_t;
/* Fills *stats (stats_size bytes of it); 0, or -1 with errno EINVAL. */
MM_EXPORT int mm_heap_stats(mm_heap_t *heap, mm_stats_t *stats,
	size_t stats_size);

/* --- Version ------------------------------------------------------------- */

/* The running library's version: "1.0.0". */
MM_EXPORT const char *mm_version(void);
/* The running library's LIBMM_VERSION_NUMBER. */
MM_EXPORT int mm_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBMM_H */
