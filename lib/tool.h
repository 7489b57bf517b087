/*
 * Letting memory tools see libmm's blocks: valgrind's memcheck (configure
 * --enable-valgrind: MMI_VALGRIND) and AddressSanitizer (a build with
 * -fsanitize=address, which the compiler announces).  Without either,
 * every macro here is empty and MMI_TOOL_ON() is 0, so the default
 * build's code is what it was (the fast paths included).
 *
 * While a tool watches, the public functions hand every call to tool.c,
 * which calls the engine and then tells the tool what the caller got:
 * the requested bytes usable; the rest of the block (slack, and under
 * memcheck a 16-byte redzone added to each request) and, under memcheck,
 * the block header off limits; a freed block off limits whole.
 *
 * libmm's own accesses to that memory -- headers, free-list links,
 * footers -- are handled differently per tool:
 *   memcheck: every call into the engine runs with error reporting off for
 *     the thread (MMI_TOOL_ENTER/LEAVE); memcheck gives reads of off-limits
 *     bytes defined values, so nothing else changes.
 *   ASan: there is no such switch, so the engine never reads a word it
 *     did not write since the last poisoning, and every word it writes
 *     into a block's span is unpoisoned first (MMI_TOOL_OWN, in the
 *     header, footer and link accessors); memory that goes back to the
 *     OS or is reused whole is unpoisoned too (stale poison would hit its
 *     next user).  Only the checks that judge a forged header read
 *     anywhere, unchecked (MMI_NO_ASAN).
 */
#ifndef LIBMM_TOOL_H
#define LIBMM_TOOL_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define MMI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMI_ASAN 1
#endif
#endif

#if defined(MMI_ASAN) && defined(MMI_VALGRIND)
#error "valgrind cannot run an ASan build: choose --enable-valgrind or ASan"
#endif

#if defined(MMI_VALGRIND)
#include <valgrind/memcheck.h>
#define MMI_TOOLS 1
/* a few instructions, 0 when not under valgrind */
#define MMI_TOOL_ON() MMI_UNLIKELY(RUNNING_ON_VALGRIND)
#define MMI_TOOL_ENTER() VALGRIND_DISABLE_ERROR_REPORTING
#define MMI_TOOL_LEAVE() VALGRIND_ENABLE_ERROR_REPORTING
#define MMI_TOOL_OWN(addr, len) ((void)0)
#define MMI_TOOL_FRESH(addr, len) VALGRIND_MAKE_MEM_DEFINED((addr), (len))
#define MMI_TOOL_MOVED(h, p, len) \
	do { if (RUNNING_ON_VALGRIND) VALGRIND_MEMPOOL_FREE((h), (p)); } while (0)
#elif defined(MMI_ASAN)
#include <sanitizer/asan_interface.h>
#define MMI_TOOLS 1
#define MMI_TOOL_ON() 1
#define MMI_TOOL_ENTER() ((void)0)
#define MMI_TOOL_LEAVE() ((void)0)
#define MMI_TOOL_OWN(addr, len) __asan_unpoison_memory_region((const void *)(addr), (len))
#define MMI_TOOL_FRESH(addr, len) MMI_TOOL_OWN(addr, len)
#define MMI_TOOL_MOVED(h, p, len) \
	do { if (!mmi_secure_mode) __asan_poison_memory_region((p), (len)); } while (0)
#else
#define MMI_TOOL_ON() 0
#define MMI_TOOL_ENTER() ((void)0)
#define MMI_TOOL_LEAVE() ((void)0)
#define MMI_TOOL_OWN(addr, len) ((void)0)
#define MMI_TOOL_FRESH(addr, len) ((void)0)
#define MMI_TOOL_MOVED(h, p, len) ((void)0)
#endif
/* Checks that read words which may not be libmm's (a header forged by an
 * overflow points anywhere): ASan must not stop them, they judge. */
#ifdef MMI_ASAN
#define MMI_NO_ASAN __attribute__((no_sanitize_address))
#else
#define MMI_NO_ASAN
#endif
/* MMI_TOOL_OWN(addr, len): libmm writes its own data there next.
 * MMI_TOOL_FRESH(addr, len): memory reused whole, as if new from the OS.
 * MMI_TOOL_MOVED(h, p, len): realloc moved the block p of heap h, whose
 * len bytes are about to be freed (0: its mapping moved whole). */

struct mm_heap;

/* tool.c: the public functions while a tool watches.  h NULL: the
 * default heap, or for a block the heap that holds it. */
MMI_HIDDEN void *mmi_tool_alloc(struct mm_heap *h, size_t align, size_t size);
MMI_HIDDEN void *mmi_tool_calloc(struct mm_heap *h, size_t nmemb, size_t size);
MMI_HIDDEN void *mmi_tool_realloc(struct mm_heap *h, void *p, size_t size);
MMI_HIDDEN void mmi_tool_free(struct mm_heap *h, void *p);
MMI_HIDDEN size_t mmi_tool_usable(struct mm_heap *h, const void *p);
/* A heap made, and one gone (its blocks with it); for a pool, [lo, hi)
 * is the caller's buffer, handed back usable. */
#ifdef MMI_TOOLS
MMI_HIDDEN void mmi_tool_heap_new(struct mm_heap *h);
MMI_HIDDEN void mmi_tool_heap_gone(struct mm_heap *h, uintptr_t lo, uintptr_t hi);
#else
#define mmi_tool_heap_new(h) ((void)(h))
#define mmi_tool_heap_gone(h, lo, hi) ((void)(h), (void)(lo), (void)(hi))
#endif

#endif
