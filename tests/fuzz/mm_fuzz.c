/*
 * mm_fuzz: a libFuzzer target that reads each input as a short program of
 * allocator operations and runs it on one kind of heap, checking after
 * every step what <libmm.h> and the man pages promise:
 *
 *   - every block is aligned to 16 bytes (and to its alignment, if asked),
 *     and no two live blocks share a byte, their usable sizes included;
 *   - a block keeps its contents until it is freed, and a resized one
 *     keeps the smaller of its two sizes; calloc gives zeros;
 *   - mm_usable_size is at least the request (in the secure mode exactly
 *     the request, pools aside) and changes only by realloc;
 *   - failures are NULL with the documented errno, and leave the block
 *     passed in untouched; a pool fails only for what does not fit;
 *   - walks report each live block once, with its usable size, and no
 *     in-use block the program does not hold; statistics agree with that;
 *   - mm_heap_check(heap) is 0 every 32 operations and after each input;
 *   - a pool writes nothing outside its buffer.
 *
 * A broken promise prints one line on stderr ("mm_fuzz: ...") and aborts,
 * so libFuzzer saves the input.  Each input frees what it allocated and
 * destroys its heap; the default heap lives on (its options are reset).
 *
 * The secure mode (lib/secure.c, man/libmm.7) is the library's to choose
 * when it starts, from LIBMM_SECURE in the environment, before any code of
 * this file runs: the harness does not switch it, but asks the library at
 * start (a block of 1 byte has a usable size of exactly 1 only in that
 * mode) and checks what the mode promises.  There, a heap that is not a
 * pool gives usable sizes of exactly the request; its walks and statistics
 * count blocks held back from reuse as in use and report each block's
 * whole size, a tail of at least 16 bytes past the request included, so
 * they may show more blocks and bytes in use than the input holds (never
 * fewer).  Everything else is checked as in the default mode, and pools,
 * which the secure mode leaves alone, exactly as there.  MM_FUZZ_KIND=
 * secure-<kind> (secure-default, secure-good, ...) is <kind> run in the
 * secure mode: it refuses to start unless the library is in it
 * (LIBMM_SECURE=1 or zero in the environment, or a build configured with
 * --enable-secure).  tests/fuzz/run.sh sets LIBMM_SECURE=1 for such kinds.
 * Small blocks come in a random order in that mode, so an input may not
 * fail the same way twice.
 *
 * Input layout: byte 0 picks the heap kind (unless MM_FUZZ_KIND pins it,
 * read once at start: default, good, first, best, nolock or pool, or one
 * of these after secure-), byte 1
 * its variant (program break, fit policy and locking of explicit heaps;
 * bit 7: destroy an explicit heap with its blocks still allocated), then
 * for a pool three bytes of buffer offset and length.  Operations
 * follow, each an opcode byte (the low four bits the operation, the high
 * four a variant such as which entry point to call) and its arguments.
 * Bytes missing at the end read as zero.  MM_FUZZ_TRACE=1 prints each
 * operation on stderr, to follow a saved input.
 *
 * tests/fuzz/gen-corpus.py writes the seeds of tests/fuzz/corpus in this
 * layout; keep the two in step.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- Heap kinds ------------------------------------------------------------ */

enum kind { K_DEFAULT, K_GOOD, K_FIRST, K_BEST, K_NOLOCK, K_POOL, K_COUNT };

static const char *const kind_name[K_COUNT] = {
	"default", "good", "first", "best", "nolock", "pool",
};

static int pinned_kind = -1;	/* from MM_FUZZ_KIND, or -1 */
static int secure;		/* the library runs in its secure mode */
static int trace;		/* MM_FUZZ_TRACE=1: each operation on stderr */
static int devnull = -1;	/* mm_heap_print's output */

/* --- Limits ---------------------------------------------------------------- */

#define MAX_LIVE 256			/* blocks held at once */
#define LIVE_CAP (64u << 20)		/* bytes held at once, pools aside */
#define LARGE_MAX (4u << 20)		/* the largest ordinary request */
#define CHECK_EVERY 32			/* mm_heap_check every so many ops */

/* A pool lives in this buffer, at an offset and length the input picks;
 * GUARD bytes on each side of it must stay as the harness left them. */
#define POOL_MIN 2048u
#define POOL_MAX (4u << 20)
#define GUARD 4096u
#define GUARD_BYTE 0xa5
static _Alignas(4096) unsigned char pool_area[GUARD + 16 + POOL_MAX + GUARD];

/* --- The contents of blocks -------------------------------------------------- */

/*
 * Offset i of a block filled with seed holds byte i of a stream that
 * depends only on seed and i, so a prefix can be checked after realloc.
 * Blocks up to DENSE_MAX are filled whole; larger ones in their first and
 * last EDGE bytes and STRIPE bytes of every STRIDE between: a page in four
 * is touched, and no step writes megabytes.  The extent filled is the
 * usable size (so a usable size that reaches into a neighbour shows), or
 * for a pool, whose usable sizes only a walk tells, the request.
 */
#define DENSE_MAX 65536u
#define EDGE 4096u
#define STRIDE 16384u
#define STRIPE 64u
#define NO_FAULT ((size_t)-1)

static inline uint64_t pattern_word(uint32_t seed, size_t off8)
{
	uint64_t x = ((uint64_t)seed << 32 | seed) ^ ((uint64_t)off8 * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static inline unsigned char pattern_byte(uint32_t seed, size_t i)
{
	uint64_t w = pattern_word(seed, i & ~(size_t)7);
	unsigned char b[8];

	memcpy(b, &w, 8);
	return b[i & 7];
}

/* The range functions touch memory ASan knows nothing of (libmm's own
 * mappings), and their loops say nothing about libmm's paths: neither
 * ASan nor coverage instrumentation would do more than slow them down. */
#define PLAIN_LOOP __attribute__((no_sanitize("address", "coverage")))
typedef size_t range_fn(unsigned char *p, size_t lo, size_t hi, uint32_t seed);

PLAIN_LOOP
static size_t range_fill(unsigned char *p, size_t lo, size_t hi, uint32_t seed)
{
	size_t i = lo;

	for (; i < hi && (i & 7); i++)
		p[i] = pattern_byte(seed, i);
	for (; i + 8 <= hi; i += 8) {
		uint64_t w = pattern_word(seed, i);
		memcpy(p + i, &w, 8);
	}
	for (; i < hi; i++)
		p[i] = pattern_byte(seed, i);
	return NO_FAULT;
}

/* The offset of the first byte that differs from the pattern, or NO_FAULT. */
PLAIN_LOOP
static size_t range_check(unsigned char *p, size_t lo, size_t hi, uint32_t seed)
{
	size_t i = lo;

	for (; i < hi && (i & 7); i++)
		if (p[i] != pattern_byte(seed, i))
			return i;
	for (; i + 8 <= hi; i += 8) {
		uint64_t w = pattern_word(seed, i), got;
		memcpy(&got, p + i, 8);
		if (got != w)
			for (size_t j = i; j < i + 8; j++)
				if (p[j] != pattern_byte(seed, j))
					return j;
	}
	for (; i < hi; i++)
		if (p[i] != pattern_byte(seed, i))
			return i;
	return NO_FAULT;
}

PLAIN_LOOP
static size_t range_zero(unsigned char *p, size_t lo, size_t hi, uint32_t seed)
{
	(void)seed;
	for (size_t i = lo; i < hi; i++)
		if (p[i])
			return i;
	return NO_FAULT;
}

static size_t piece(range_fn *fn, unsigned char *p, size_t lo, size_t hi,
	size_t start, size_t end, uint32_t seed)
{
	size_t a = lo > start ? lo : start, b = hi < end ? hi : end;

	return a < b ? fn(p, a, b, seed) : NO_FAULT;
}

/* fn over the bytes of [lo, hi) that a block of extent n has filled. */
static size_t layout_apply(range_fn *fn, unsigned char *p, size_t n, size_t lo,
	size_t hi, uint32_t seed)
{
	size_t r, s;

	if (hi > n)
		hi = n;
	if (n <= DENSE_MAX)
		return piece(fn, p, lo, hi, 0, n, seed);
	if ((r = piece(fn, p, lo, hi, 0, EDGE, seed)) != NO_FAULT)
		return r;
	/* stripes start at EDGE + k * STRIDE */
	s = lo > EDGE ? lo - (lo - EDGE) % STRIDE : EDGE;
	for (; s < n - EDGE && s < hi; s += STRIDE) {
		size_t e = s + STRIPE < n - EDGE ? s + STRIPE : n - EDGE;
		if ((r = piece(fn, p, lo, hi, s, e, seed)) != NO_FAULT)
			return r;
	}
	return piece(fn, p, lo, hi, n - EDGE, n, seed);
}

/* --- State of one input ---------------------------------------------------------- */

struct block {
	unsigned char *p;
	size_t req;	/* what was asked for */
	size_t ext;	/* bytes filled: the usable size, or req in a pool */
	uint32_t seed;
};

static struct run {
	int kind;
	int pool;		/* a pool: no mm_usable_size, failures allowed */
	mm_heap_t *heap;	/* NULL for the default heap */
	unsigned flags;
	unsigned char *pool_buf;
	size_t pool_len;
	int destroy_full;	/* end by destroying the heap with its blocks */
	struct block live[MAX_LIVE];
	size_t nlive;
	size_t live_bytes;	/* sum of ext */
	uint32_t next_seed;
	unsigned long op_index;
	const char *op;
	const uint8_t *in, *end;
} run;

__attribute__((format(printf, 1, 2), noreturn))
static void finding(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mm_fuzz: %s%s heap (flags %#x), op %lu (%s): ",
		secure ? "secure " : "", kind_name[run.kind], run.flags, run.op_index,
		run.op ? run.op : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* --- Reading the input -------------------------------------------------------- */

static unsigned in_u8(void)
{
	return run.in < run.end ? *run.in++ : 0;
}

static unsigned in_u16(void)
{
	unsigned v = in_u8();
	return v | in_u8() << 8;
}

static size_t in_u24(void)
{
	size_t v = in_u16();
	return v | (size_t)in_u8() << 16;
}

/* Sizes around the edges libmm cares about: its granule, the slab
 * classes' end, the mmap threshold (131072 with the header: 131056), the
 * decay cache's pieces. */
static const size_t edge_size[] = {
	0, 1, 8, 16, 17, 24, 32, 48, 64, 128, 256, 512, 1008, 1024, 2048,
	4080, 4096, 8192, 16368, 16384, 16400, 32768, 65536, 131040, 131056,
	131072, 262144, 1u << 20, 2u << 20, LARGE_MAX,
};
#define N_EDGE (sizeof edge_size / sizeof edge_size[0])

/* A request size: mostly tiny and slab sizes, some medium, a few large
 * (large ones cost page faults, and the fuzzer's speed with them). */
static size_t in_size(void)
{
	unsigned c = in_u8();
	size_t n;

	switch (c & 7) {
	case 0: case 1: case 2:
		return in_u8();
	case 3: case 4:
		return in_u16() % 16385;
	case 5:
		return in_u24() % ((c & 8 ? 1u << 20 : 1u << 18) + 1);
	case 6:
		n = edge_size[(c >> 3) % N_EDGE] + in_u8() % 33;
		return n > 16 ? n - 16 : 0;
	default:
		if (c & 0x18)
			return in_u24() % ((1u << 18) + 1);
		return (1u << 20) + in_u24() % (LARGE_MAX - (1u << 20) + 17);
	}
}

/* --- Checks on blocks ------------------------------------------------------------- */

static mm_heap_t *heap_arg(unsigned variant)
{
	/* The default heap is NULL or its handle: both must work. */
	if (run.kind == K_DEFAULT)
		return (variant & 8) ? mm_default_heap() : NULL;
	return run.heap;
}

/* Whether walks and statistics of this input's heap may count blocks held
 * back from reuse (the secure mode's, in any heap but a pool). */
static int secure_counts(void)
{
	return secure && !run.pool;
}

static int disjoint(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	/* A block of 0 bytes still owns its address. */
	na = na ? na : 1;
	nb = nb ? nb : 1;
	return x + na <= y || y + nb <= x;
}

/* Bytes past the request that a block of the secure mode holds at least
 * (its canary and size word), in walks and statistics. */
#define SECURE_TAIL 16u

/* Only for blocks of heaps that are not pools, which the secure mode seals. */
static size_t usable_size_or_die(const unsigned char *p, size_t req)
{
	size_t u = mm_usable_size(p);

	if (u < req)
		finding("mm_usable_size(%p) = %zu, less than the %zu asked", (void *)p, u, req);
	if (secure && u != req)
		finding("mm_usable_size(%p) = %zu in the secure mode, not the %zu asked",
			(void *)p, u, req);
	return u;
}

/* Whether p, just returned for req bytes aligned to align, may join the
 * live blocks; skip is a live block it replaces (realloc), or -1. */
static size_t accept_block(unsigned char *p, size_t req, size_t align, long skip)
{
	size_t ext;

	if ((uintptr_t)p % 16)
		finding("%p for %zu bytes is not aligned to 16", (void *)p, req);
	if (align > 16 && (uintptr_t)p % align)
		finding("%p for %zu bytes is not aligned to %zu", (void *)p, req, align);
	if (run.pool) {
		unsigned char *lo = run.pool_buf, *hi = run.pool_buf + run.pool_len;
		if (p < lo || p + req > hi)
			finding("%p + %zu lies outside the pool [%p, %p)", (void *)p, req,
				(void *)lo, (void *)hi);
		ext = req;
	} else {
		ext = usable_size_or_die(p, req);
	}
	for (size_t i = 0; i < run.nlive; i++) {
		struct block *b = &run.live[i];
		if ((long)i != skip && !disjoint(p, ext, b->p, b->ext))
			finding("%p + %zu overlaps live block %p + %zu", (void *)p, ext,
				(void *)b->p, b->ext);
	}
	return ext;
}

static void verify_block(const struct block *b, size_t upto, const char *when)
{
	size_t bad = layout_apply(range_check, b->p, b->ext, 0, upto, b->seed);

	if (bad != NO_FAULT)
		finding("block %p (%zu bytes asked, %zu filled) changed at offset %zu %s",
			(void *)b->p, b->req, b->ext, bad, when);
}

static void fill_block(struct block *b)
{
	b->seed = ++run.next_seed;
	layout_apply(range_fill, b->p, b->ext, 0, b->ext, b->seed);
}

static void add_block(unsigned char *p, size_t req, size_t ext)
{
	struct block *b = &run.live[run.nlive++];

	b->p = p;
	b->req = req;
	b->ext = ext;
	run.live_bytes += ext;
	fill_block(b);
}

static void drop_block(size_t i)
{
	run.live_bytes -= run.live[i].ext;
	run.live[i] = run.live[--run.nlive];
}

static void verify_all(const char *when)
{
	for (size_t i = 0; i < run.nlive; i++)
		verify_block(&run.live[i], run.live[i].ext, when);
}

/* Room for a new block of req bytes. */
static int room_for(size_t req)
{
	if (run.nlive >= MAX_LIVE)
		return 0;
	return run.pool || run.live_bytes + req <= LIVE_CAP;
}

static void stats_or_die(mm_stats_t *st)
{
	memset(st, 0, sizeof *st);
	if (mm_heap_stats(heap_arg(0), st, sizeof *st) != 0)
		finding("mm_heap_stats failed, errno %d", errno);
}

/* A NULL where the contract allows one: only with ENOMEM, only in a pool,
 * and for a plain request only when the pool's largest free block (which
 * mm_heap_stats(3) calls the largest request that can succeed) is smaller. */
static void allow_failure(size_t req, int plain)
{
	int e = errno;
	mm_stats_t st;

	if (!run.pool)
		finding("NULL (errno %d) for %zu bytes in a heap that can grow", e, req);
	if (e != ENOMEM)
		finding("NULL for %zu bytes in a pool with errno %d, not ENOMEM", req, e);
	if (plain) {
		stats_or_die(&st);
		if (st.free_blocks && req <= st.largest_free)
			finding("NULL for %zu bytes though the largest free block has %zu",
				req, st.largest_free);
	}
}

/* --- Operations --------------------------------------------------------------------- */

static void op_malloc(unsigned v, size_t req)
{
	unsigned char *p;

	if (!room_for(req))
		return;
	errno = 0;
	if (run.kind == K_DEFAULT && !(v & 1))
		p = mm_malloc(req);
	else if ((v & 6) == 2)
		p = mm_heap_realloc(heap_arg(v), NULL, req);	/* realloc(NULL, n) */
	else
		p = mm_heap_malloc(heap_arg(v), req);
	if (!p) {
		allow_failure(req, 1);
		return;
	}
	add_block(p, req, accept_block(p, req, 16, -1));
}

static void op_calloc(unsigned v)
{
	size_t total = in_size(), nmemb = (size_t)1 << (v & 7), size = total / nmemb;
	size_t req = nmemb * size;
	unsigned char *p;
	size_t ext, bad;

	if (!room_for(req))
		return;
	errno = 0;
	if (run.kind == K_DEFAULT && !(v & 8))
		p = mm_calloc(nmemb, size);
	else
		p = mm_heap_calloc(heap_arg(v), nmemb, size);
	if (!p) {
		allow_failure(req, 1);
		return;
	}
	ext = accept_block(p, req, 16, -1);
	bad = layout_apply(range_zero, p, req, 0, req, 0);
	if (bad != NO_FAULT)
		finding("calloc(%zu, %zu) = %p has a non-zero byte at offset %zu",
			nmemb, size, (void *)p, bad);
	add_block(p, req, ext);
}

static void op_aligned(unsigned v)
{
	unsigned a = in_u8();
	/* up to 64 KiB, and now and then up to 4 MiB */
	size_t align = (size_t)1 << ((a & 0xe0) == 0xe0 ? 17 + a % 6 : a % 17), req = in_size();
	unsigned char *p;

	if (!room_for(req + align))
		return;
	errno = 0;
	if (run.kind == K_DEFAULT && (v & 3) == 1 && align >= sizeof(void *)) {
		void *q = (void *)&run;	/* must stay as it is on failure */
		int e, rc = mm_posix_memalign(&q, align, req);
		e = errno;
		if (rc != 0) {
			if (q != (void *)&run)
				finding("posix_memalign failed (%d) and changed *memptr", rc);
			errno = rc;
			allow_failure(req, 0);
			return;
		}
		if (e != 0)
			finding("posix_memalign succeeded and set errno to %d", e);
		p = q;
	} else if (run.kind == K_DEFAULT && (v & 3) == 2) {
		p = mm_aligned_alloc(align, req);
	} else {
		p = mm_heap_aligned_alloc(heap_arg(v), align, req);
	}
	if (!p) {
		allow_failure(req, 0);
		return;
	}
	add_block(p, req, accept_block(p, req, align, -1));
}

static void op_free(unsigned v)
{
	size_t i = in_u8();
	struct block *b;

	if (!run.nlive) {
		/* Freeing NULL does nothing, and mm_free leaves errno alone. */
		errno = 4242;
		if (run.pool)
			mm_heap_free(run.heap, NULL);
		else
			mm_free(NULL);
		if (errno != 4242)
			finding("freeing NULL changed errno to %d", errno);
		return;
	}
	i %= run.nlive;
	b = &run.live[i];
	verify_block(b, b->ext, "before free");
	if (!run.pool && (run.kind == K_DEFAULT || (v & 1))) {
		errno = 4242;
		mm_free(b->p);
		if (errno != 4242)
			finding("mm_free(%p) changed errno to %d", (void *)b->p, errno);
	} else {
		mm_heap_free(heap_arg(v), b->p);
	}
	drop_block(i);
}

/* Free every step-th block from a start, to empty pages and regions. */
static void op_free_many(unsigned v)
{
	size_t start = in_u8(), step = 1 + in_u8() % 8;

	if (!run.nlive)
		return;
	start %= run.nlive;
	/* From the end down, so that drop_block's swap keeps the indices
	 * still to visit in place. */
	for (size_t k = run.nlive; k-- > start;) {
		if ((k - start) % step)
			continue;
		verify_block(&run.live[k], run.live[k].ext, "before free");
		mm_heap_free(heap_arg(v), run.live[k].p);
		drop_block(k);
	}
}

static void op_realloc(unsigned v)
{
	struct block *b, old;
	unsigned char *p;
	size_t i = in_u8(), arg = 0, req, keep;
	unsigned mode = in_u8() & 3;
	int how = v & 3, e;

	/* The bytes an operation reads do not depend on the state, so that
	 * an input means the same whatever the heap holds. */
	if (mode == 0)
		arg = in_u16() % 4096;
	else if (mode == 1)
		arg = 1 + in_u8() % 8;
	else if (mode == 3)
		arg = in_size();
	if (!run.nlive)
		return;
	i %= run.nlive;
	b = &run.live[i];
	switch (mode) {
	case 0:		/* grow by a little */
		req = b->req + arg;
		break;
	case 1:		/* shrink by arg ninths */
		req = b->req - b->req * arg / 9;
		break;
	case 2:		/* to 0: frees */
		req = 0;
		break;
	default:
		req = arg;
		break;
	}
	if (req > b->req && !run.pool && run.live_bytes + req - b->req > LIVE_CAP)
		return;
	old = *b;
	verify_block(&old, old.ext, "before realloc");
	errno = 4242;
	if (run.pool || how == 0) {
		p = mm_heap_realloc(heap_arg(v), old.p, req);
	} else if (how == 1 || run.kind != K_DEFAULT) {
		p = mm_realloc(old.p, req);
	} else {
		/* reallocarray of nmemb elements: the request becomes a
		 * multiple of nmemb */
		size_t nmemb = 1 + (v >> 2) % 3, esize = req / nmemb;
		req = nmemb * esize;
		p = mm_reallocarray(old.p, nmemb, esize);
	}
	e = errno;
	if (req == 0) {
		if (p)
			finding("realloc(%p, 0) returned %p, not NULL", (void *)old.p, (void *)p);
		if (e != 4242)
			finding("realloc(%p, 0) changed errno to %d", (void *)old.p, e);
		drop_block(i);
		return;
	}
	if (!p) {
		errno = e;
		allow_failure(req, 0);
		verify_block(&old, old.ext, "after a failed realloc");
		return;
	}
	keep = old.req < req ? old.req : req;
	b->p = p;
	b->req = req;
	b->ext = accept_block(p, req, 16, (long)i);
	/* The preserved prefix, read through the old layout and seed. */
	{
		size_t bad = layout_apply(range_check, p, old.ext, 0, keep, old.seed);
		if (bad != NO_FAULT)
			finding("realloc(%p, %zu) = %p lost the old contents at offset %zu of %zu",
				(void *)old.p, req, (void *)p, bad, keep);
	}
	run.live_bytes += b->ext - old.ext;
	fill_block(b);
}

static void op_burst(unsigned v)
{
	size_t count = 1 + in_u8() % 32, req = in_size();

	for (size_t k = 0; k < count; k++)
		op_malloc(v, req);
}

static void check_or_die(void)
{
	if (mm_heap_check(heap_arg(0)) != 0)
		finding("mm_heap_check says the heap is corrupt");
}

/* --- Walks ------------------------------------------------------------------------ */

struct seen {
	uintptr_t p;
	size_t size;
	int in_use;
};

static struct walk {
	struct seen *v;
	size_t n, cap;
	int overflow;
} walk;

static int walk_visit(void *block, size_t size, int in_use, void *arg)
{
	(void)arg;
	if (walk.n == walk.cap) {
		size_t cap = walk.cap ? 2 * walk.cap : 1024;
		struct seen *v = cap <= (1u << 20) ? realloc(walk.v, cap * sizeof *v) : NULL;
		if (!v) {
			walk.overflow = 1;
			return 0;
		}
		walk.v = v;
		walk.cap = cap;
	}
	walk.v[walk.n].p = (uintptr_t)block;
	walk.v[walk.n].size = size;
	walk.v[walk.n].in_use = in_use != 0;
	walk.n++;
	return 0;
}

static int seen_cmp(const void *a, const void *b)
{
	uintptr_t x = ((const struct seen *)a)->p, y = ((const struct seen *)b)->p;

	return x < y ? -1 : x > y;
}

static void op_walk(unsigned v)
{
	size_t in_use = 0;
	int rc;

	if ((v & 3) == 1) {
		mm_heap_print(heap_arg(v), devnull);
		return;
	}
	walk.n = 0;
	walk.overflow = 0;
	rc = mm_heap_walk(heap_arg(v), walk_visit, NULL);
	if (rc != 0)
		finding("mm_heap_walk returned %d, errno %d", rc, errno);
	if (walk.overflow)
		return;
	if (walk.n > 1)		/* walk.v is NULL until a block is seen */
		qsort(walk.v, walk.n, sizeof *walk.v, seen_cmp);
	for (size_t k = 0; k < walk.n; k++) {
		struct seen *s = &walk.v[k];
		if (s->p % 16)
			finding("the walk reports a block at %#lx, not aligned to 16",
				(unsigned long)s->p);
		if (k + 1 < walk.n && s->p + (s->size ? s->size : 1) > walk.v[k + 1].p)
			finding("the walk reports %#lx + %zu and %#lx, which overlap",
				(unsigned long)s->p, s->size, (unsigned long)walk.v[k + 1].p);
		if (run.pool && (s->p < (uintptr_t)run.pool_buf ||
				 s->p + s->size > (uintptr_t)run.pool_buf + run.pool_len))
			finding("the walk reports %#lx + %zu outside the pool",
				(unsigned long)s->p, s->size);
		in_use += s->in_use;
	}
	for (size_t i = 0; i < run.nlive; i++) {
		struct block *b = &run.live[i];
		struct seen key = { (uintptr_t)b->p, 0, 0 }, *s;
		s = walk.n ? bsearch(&key, walk.v, walk.n, sizeof *walk.v, seen_cmp) : NULL;
		if (!s || !s->in_use)
			finding("the walk %s live block %p", s ? "calls free the" : "misses the",
				(void *)b->p);
		if (run.pool ? s->size < b->req :
		    secure ? s->size < b->req + SECURE_TAIL : s->size != b->ext)
			finding("the walk gives live block %p %zu bytes; asked %zu, usable %zu",
				(void *)b->p, s->size, b->req, b->ext);
	}
	/* Nothing but this input allocates from the heap; in the secure mode,
	 * blocks freed and held back from reuse are in use too. */
	if (secure_counts() ? in_use < run.nlive : in_use != run.nlive)
		finding("the walk reports %zu blocks in use; %zu are live", in_use, run.nlive);
}

/* --- Statistics, trimming, options -------------------------------------------------- */

static void op_stats(unsigned v)
{
	mm_stats_t st;
	size_t req = 0, ext = 0, whole;

	if (v & 1) {
		/* A caller built with a shorter struct: nothing past its size is
		 * written. */
		unsigned char buf[sizeof st + 16];
		size_t n = in_u8() % (sizeof st + 1);
		memset(buf, 0x5a, sizeof buf);
		if (mm_heap_stats(heap_arg(v), (mm_stats_t *)(void *)buf, n) != 0)
			finding("mm_heap_stats of %zu bytes failed, errno %d", n, errno);
		for (size_t k = n; k < sizeof buf; k++)
			if (buf[k] != 0x5a)
				finding("mm_heap_stats of %zu bytes wrote byte %zu", n, k);
		return;
	}
	stats_or_die(&st);
	for (size_t i = 0; i < run.nlive; i++) {
		req += run.live[i].req;
		ext += run.live[i].ext;
	}
	/* the secure mode: held blocks in use, and whole blocks counted */
	whole = req + run.nlive * SECURE_TAIL;
	if (secure_counts() ? st.in_use_blocks < run.nlive : st.in_use_blocks != run.nlive)
		finding("stats: %zu blocks in use; %zu are live", st.in_use_blocks, run.nlive);
	if (run.pool ? st.in_use_bytes < req :
	    secure ? st.in_use_bytes < whole : st.in_use_bytes != ext)
		finding("stats: %zu bytes in use; asked %zu, usable %zu", st.in_use_bytes, req, ext);
	if (st.largest_free > st.free_bytes || (st.free_bytes && !st.free_blocks))
		finding("stats: largest free %zu of %zu free bytes in %zu blocks",
			st.largest_free, st.free_bytes, st.free_blocks);
	if (st.peak_in_use_bytes < st.in_use_bytes || st.peak_os_bytes < st.os_bytes)
		finding("stats: a peak below its figure");
	if (st.mapped_blocks > st.in_use_blocks || st.mapped_bytes > st.in_use_bytes)
		finding("stats: %zu mapped blocks of %zu bytes, more than in use",
			st.mapped_blocks, st.mapped_bytes);
	if (st.alloc_count - st.free_count != st.in_use_blocks)
		finding("stats: %zu allocations and %zu frees, but %zu blocks in use",
			st.alloc_count, st.free_count, st.in_use_blocks);
	if (run.pool && (st.os_bytes > run.pool_len ||
			 st.in_use_bytes + st.free_bytes > st.os_bytes || st.mapped_blocks))
		finding("stats: pool of %zu bytes holds %zu, %zu in use and %zu free, %zu mapped",
			run.pool_len, st.os_bytes, st.in_use_bytes, st.free_bytes, st.mapped_blocks);
}

static const size_t trim_pad[] = {
	0, 1, 4096, 65536, 1u << 20, 64u << 20, (size_t)-1 - 4095, (size_t)-1,
};

static void op_trim(void)
{
	int rc = mm_trim(trim_pad[in_u8() % (sizeof trim_pad / sizeof trim_pad[0])]);

	if (rc != 0 && rc != 1)
		finding("mm_trim returned %d", rc);
	/* Trimming hands back free pages only. */
	verify_all("after mm_trim");
}

static const size_t opt_value[] = {
	0, 1, 16, 4096, 16384, 65536, 131072, 262144, 1u << 20, (size_t)-1,
};

static void set_option_or_die(mm_heap_t *h, int option, size_t value)
{
	if (mm_heap_set_option(h, option, value) != 0)
		finding("mm_heap_set_option(%d, %zu) failed, errno %d", option, value, errno);
}

static void op_option(unsigned v)
{
	size_t value = opt_value[in_u8() % (sizeof opt_value / sizeof opt_value[0])];

	switch (v & 3) {
	case 0:
		set_option_or_die(heap_arg(v), MM_OPT_MMAP_THRESHOLD, value);
		break;
	case 1:
		set_option_or_die(heap_arg(v), MM_OPT_TRIM_THRESHOLD, value);
		break;
	case 2:
		/* Milliseconds: keep them short, so that decay happens. */
		set_option_or_die(heap_arg(v), MM_OPT_DECAY_MS, value > 1000 ? 1 : value);
		break;
	default:
		errno = 0;
		if (mm_heap_set_option(heap_arg(v), (int)(v >> 2) * 7 + 4, value) != -1 ||
		    errno != EINVAL)
			finding("an unknown option was accepted (errno %d)", errno);
		break;
	}
}

/* One block looked at again: its contents and its usable size. */
static void op_inspect(void)
{
	size_t i = in_u8();
	struct block *b;

	if (!run.pool && mm_usable_size(NULL) != 0)
		finding("mm_usable_size(NULL) is not 0");
	if (mm_version_number() != LIBMM_VERSION_NUMBER ||
	    strcmp(mm_version(), LIBMM_VERSION_STRING) != 0)
		finding("mm_version says %s (%d)", mm_version(), mm_version_number());
	if (!run.nlive)
		return;
	b = &run.live[i % run.nlive];
	verify_block(b, b->ext, "while live");
	if (!run.pool && mm_usable_size(b->p) != b->ext)
		finding("mm_usable_size(%p) went from %zu to %zu", (void *)b->p, b->ext,
			mm_usable_size(b->p));
}

/* Heaps that must not be made, and the one that cannot be destroyed. */
static void bad_heap_arguments(unsigned which)
{
	static _Alignas(16) unsigned char small[512];
	mm_heap_t *h = NULL;
	const char *what;

	errno = 0;
	switch (which % 6) {
	case 0:
		what = "destroying the default heap";
		mm_heap_destroy(mm_default_heap());
		break;
	case 1:
		what = "two fit policies";
		h = mm_heap_create(MM_FIT_FIRST | MM_FIT_BEST);
		break;
	case 2:
		what = "both memory sources";
		h = mm_heap_create(MM_SOURCE_MMAP | MM_SOURCE_BRK);
		break;
	case 3:
		what = "an unknown flag";
		h = mm_heap_create(0x8000u);
		break;
	case 4:
		what = "a pool of 512 bytes";
		h = mm_heap_create_in(small, sizeof small, 0);
		break;
	default:
		what = which & 8 ? "a pool on the program break" : "a pool at NULL";
		h = which & 8 ? mm_heap_create_in(small, sizeof small, MM_SOURCE_BRK)
			      : mm_heap_create_in(NULL, 1u << 20, 0);
		break;
	}
	if (h || errno != EINVAL)
		finding("%s: %p, errno %d, not EINVAL", what, (void *)h, errno);
}

/* Calls that must fail, with their errno, and change nothing. */
static void op_errors(unsigned v)
{
	mm_heap_t *h = heap_arg(v);
	size_t huge = (size_t)-1 - in_u16(), arg = in_u8();
	mm_stats_t before, after;
	void *p;

	stats_or_die(&before);
	errno = 0;
	switch (v & 7) {
	case 0:
		p = run.kind == K_DEFAULT ? mm_malloc(huge) : mm_heap_malloc(h, huge);
		if (p || errno != ENOMEM)
			finding("malloc(%zu) = %p, errno %d", huge, p, errno);
		break;
	case 1:
		p = mm_heap_calloc(h, huge / 2 + 2, 2 + arg);
		if (p || errno != ENOMEM)
			finding("calloc overflowing = %p, errno %d", p, errno);
		break;
	case 2:
		p = mm_heap_aligned_alloc(h, 3 * ((size_t)1 << (arg % 12)), 64);
		if (p || errno != EINVAL)
			finding("aligned alloc on a non-power of two = %p, errno %d", p, errno);
		break;
	case 3:
		if (!run.nlive)
			break;
		{
			struct block *b = &run.live[arg % run.nlive];
			if (run.pool)
				p = mm_heap_realloc(h, b->p, huge);
			else if (v & 8)
				p = mm_reallocarray(b->p, huge, 3);
			else
				p = mm_realloc(b->p, huge);
			if (p || errno != ENOMEM)
				finding("realloc(%p) to a huge size = %p, errno %d", (void *)b->p,
					p, errno);
			verify_block(b, b->ext, "after a failed realloc");
		}
		break;
	case 4:
		if (run.kind == K_DEFAULT) {
			void *q = (void *)&run;
			int rc;
			errno = 4242;
			rc = mm_posix_memalign(&q, 4 + 8 * (arg % 2), 64);
			if (rc != EINVAL || q != (void *)&run || errno != 4242)
				finding("posix_memalign(bad alignment): %d, errno %d", rc, errno);
			rc = mm_posix_memalign(&q, 64, huge);
			if (rc != ENOMEM || q != (void *)&run || errno != ENOMEM)
				finding("posix_memalign(huge): %d, errno %d", rc, errno);
		}
		break;
	case 5:
		if (mm_heap_walk(h, NULL, NULL) != -1 || errno != EINVAL)
			finding("mm_heap_walk without a callback: errno %d", errno);
		break;
	case 6:
		if (mm_heap_stats(h, NULL, sizeof before) != -1 || errno != EINVAL)
			finding("mm_heap_stats into NULL: errno %d", errno);
		break;
	default:
		bad_heap_arguments(arg);
		break;
	}
	stats_or_die(&after);
	if (after.in_use_blocks != before.in_use_blocks ||
	    after.in_use_bytes != before.in_use_bytes)
		finding("a failed call changed the blocks in use: %zu -> %zu blocks, %zu -> %zu bytes",
			before.in_use_blocks, after.in_use_blocks, before.in_use_bytes,
			after.in_use_bytes);
}

/* --- Other threads and other heaps ----------------------------------------------------- */

/*
 * A thread made for one step and joined at its end: it frees a block the
 * main thread allocated (a remote free onto the main thread's pages), or
 * allocates blocks and exits, leaving its pages to whichever thread comes
 * next.  The main thread waits for it, so even a heap without a lock is
 * used by one thread at a time.
 */
#define THREAD_MAX 16

struct job {
	mm_heap_t *heap;
	int use_mm;		/* mm_free/mm_malloc rather than mm_heap_* */
	void *free_me;
	size_t count, req;
	void *got[THREAD_MAX];
	int err[THREAD_MAX];
};

static void *job_run(void *arg)
{
	struct job *j = arg;

	if (j->free_me) {
		if (j->use_mm)
			mm_free(j->free_me);
		else
			mm_heap_free(j->heap, j->free_me);
	}
	for (size_t k = 0; k < j->count; k++) {
		errno = 0;
		j->got[k] = j->use_mm ? mm_malloc(j->req) : mm_heap_malloc(j->heap, j->req);
		j->err[k] = errno;
	}
	return NULL;
}

static void job_start_and_join(struct job *j)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, job_run, j);

	if (rc != 0) {
		/* Not libmm's doing: run it here rather than report it. */
		job_run(j);
		return;
	}
	pthread_join(t, NULL);
}

static void op_thread(unsigned v)
{
	size_t i = in_u8(), count = 1 + in_u8() % THREAD_MAX, req = in_size();
	struct job j;

	memset(&j, 0, sizeof j);
	j.heap = heap_arg(v);
	/* mm_malloc serves the default heap only; mm_free takes blocks of
	 * any heap but a pool */
	j.use_mm = (v & 8) && (run.kind == K_DEFAULT || (!run.pool && !(v & 1)));
	if (v & 1) {
		/* allocate in another thread */
		while (j.count < count && run.nlive + j.count < MAX_LIVE &&
		       (run.pool || run.live_bytes + (j.count + 1) * req <= LIVE_CAP))
			j.count++;
		j.req = req;
	} else {
		/* free in another thread */
		if (!run.nlive)
			return;
		i %= run.nlive;
		verify_block(&run.live[i], run.live[i].ext, "before a free in another thread");
		j.free_me = run.live[i].p;
		drop_block(i);
	}
	job_start_and_join(&j);
	for (size_t k = 0; k < j.count; k++) {
		unsigned char *p = j.got[k];
		if (!p) {
			errno = j.err[k];
			allow_failure(req, 1);
			continue;
		}
		add_block(p, req, accept_block(p, req, 16, -1));
	}
}

/*
 * Heaps made and destroyed within one step, beside the input's heap: the
 * set of live heaps grows and shrinks, a thread holds pages of several
 * heaps at once (beyond four it gives the oldest up), and a heap is
 * destroyed with its blocks still allocated.  The input's blocks must not
 * notice.
 */
#define SIDE_MAX 8

static void op_side_heaps(unsigned v)
{
	size_t n = 1 + in_u8() % SIDE_MAX, per = in_u8() % 4, req = in_size();
	unsigned flags = run.pool ? 0 : run.flags;
	mm_heap_t *side[SIDE_MAX];
	struct block got[SIDE_MAX][4];

	if (req > (1u << 20))
		req = 1u << 20;
	for (size_t k = 0; k < n; k++) {
		side[k] = mm_heap_create(flags);
		if (!side[k])
			finding("mm_heap_create(%#x) for a side heap failed, errno %d", flags, errno);
		for (size_t m = 0; m < per; m++) {
			struct block *b = &got[k][m];
			b->p = mm_heap_malloc(side[k], req);
			if (!b->p)
				finding("NULL (errno %d) for %zu bytes in a side heap", errno, req);
			b->req = req;
			b->ext = usable_size_or_die(b->p, req);
			fill_block(b);
		}
	}
	/* the input's heap in between */
	op_malloc(v, req);
	for (size_t k = 0; k < n; k++) {
		size_t d = v & 1 ? n - 1 - k : k;
		for (size_t m = 0; m < per; m++) {
			verify_block(&got[d][m], got[d][m].ext, "in a side heap");
			/* half the time, leave them to mm_heap_destroy */
			if (v & 4)
				mm_heap_free(side[d], got[d][m].p);
		}
		if (mm_heap_check(side[d]) != 0)
			finding("mm_heap_check says side heap %zu is corrupt", d);
		mm_heap_destroy(side[d]);
	}
	verify_all("after side heaps were destroyed");
}

/* --- One input ------------------------------------------------------------------------- */

enum op {
	OP_MALLOC, OP_OTHERS, OP_CALLOC, OP_REALLOC, OP_REALLOC2, OP_ALIGNED,
	OP_FREE, OP_FREE2, OP_FREE_MANY, OP_BURST, OP_CHECK, OP_WALK, OP_STATS,
	OP_TRIM, OP_OPTION, OP_MISC,
};

static const char *const op_name[16] = {
	"malloc", "threads or heaps", "calloc", "realloc", "realloc", "aligned alloc",
	"free", "free", "free many", "burst", "check", "walk", "stats",
	"trim", "option", "inspect or errors",
};

static void guards_fill(void)
{
	memset(pool_area, GUARD_BYTE, run.pool_buf - pool_area);
	memset(run.pool_buf + run.pool_len, GUARD_BYTE, GUARD);
}

static void guards_check(void)
{
	const unsigned char *end = run.pool_buf + run.pool_len;

	for (const unsigned char *c = pool_area; c < run.pool_buf; c++)
		if (*c != GUARD_BYTE)
			finding("byte %td before the pool's buffer was written",
				run.pool_buf - c);
	for (const unsigned char *c = end; c < end + GUARD; c++)
		if (*c != GUARD_BYTE)
			finding("byte %td after the pool's buffer was written", c - end);
}

static const unsigned fits[4] = { MM_FIT_GOOD, MM_FIT_FIRST, MM_FIT_BEST, 0 };

/* Make the heap of this input; 0 when the input asks for a pool too small
 * to be made. */
static int heap_open(void)
{
	unsigned variant = in_u8();

	run.heap = NULL;
	run.pool = 0;
	run.destroy_full = run.kind != K_DEFAULT && (variant & 0x80);
	switch (run.kind) {
	case K_DEFAULT:
		run.flags = 0;
		/* The documented defaults, whatever the last input set. */
		set_option_or_die(NULL, MM_OPT_MMAP_THRESHOLD, 131072);
		set_option_or_die(NULL, MM_OPT_TRIM_THRESHOLD, 131072);
		set_option_or_die(NULL, MM_OPT_DECAY_MS, 250);
		return 1;
	case K_GOOD:
	case K_FIRST:
	case K_BEST:
		run.flags = (run.kind == K_GOOD ? (variant & 2 ? MM_FIT_GOOD : 0) :
			     run.kind == K_FIRST ? MM_FIT_FIRST : MM_FIT_BEST);
		if (variant & 1)
			run.flags |= MM_SOURCE_BRK;
		break;
	case K_NOLOCK:
		run.flags = MM_HEAP_NOLOCK | fits[variant % 4] |
			    (variant & 4 ? MM_SOURCE_BRK : 0);
		break;
	default:
		run.pool = 1;
		run.flags = fits[variant % 4] | (variant & 4 ? MM_HEAP_NOLOCK : 0);
		run.pool_buf = pool_area + GUARD + in_u8() % 16;
		run.pool_len = POOL_MIN + in_u16() * (size_t)64;
		if (run.pool_len > POOL_MAX)
			run.pool_len = POOL_MAX;
		guards_fill();
		errno = 0;
		run.heap = mm_heap_create_in(run.pool_buf, run.pool_len, run.flags);
		if (!run.heap) {
			if (run.pool_len < 8192 && errno == EINVAL)
				return 0;
			finding("mm_heap_create_in(%zu bytes) failed, errno %d", run.pool_len, errno);
		}
		if ((unsigned char *)run.heap < run.pool_buf ||
		    (unsigned char *)run.heap >= run.pool_buf + run.pool_len)
			finding("the pool's handle %p is not in its buffer", (void *)run.heap);
		return 1;
	}
	run.heap = mm_heap_create(run.flags);
	if (!run.heap)
		finding("mm_heap_create(%#x) failed, errno %d", run.flags, errno);
	return 1;
}

static void heap_close(void)
{
	mm_stats_t st;

	run.op = "end of input";
	verify_all("at the end of the input");
	if (!run.destroy_full) {
		while (run.nlive) {
			mm_heap_free(heap_arg(0), run.live[run.nlive - 1].p);
			drop_block(run.nlive - 1);
		}
	}
	check_or_die();
	stats_or_die(&st);
	if (secure_counts() ? st.in_use_blocks < run.nlive :
	    st.in_use_blocks != run.nlive || (!run.nlive && st.in_use_bytes))
		finding("%zu blocks left, yet stats say %zu blocks of %zu bytes in use",
			run.nlive, st.in_use_blocks, st.in_use_bytes);
	/* mm_heap_destroy frees what is left */
	run.nlive = 0;
	run.live_bytes = 0;
	if (run.heap)
		mm_heap_destroy(run.heap);
	if (run.pool)
		guards_check();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned first;

	run.in = data;
	run.end = data + size;
	run.nlive = 0;
	run.live_bytes = 0;
	run.next_seed = 0;	/* the same bytes whatever ran before */
	run.op_index = 0;
	run.op = "heap creation";
	first = in_u8();
	run.kind = pinned_kind >= 0 ? pinned_kind : (int)(first % K_COUNT);
	if (!heap_open())
		return 0;
	if (trace)
		fprintf(stderr, "mm_fuzz: %s%s heap, flags %#x, pool of %zu bytes\n",
			secure ? "secure " : "", kind_name[run.kind], run.flags, run.pool ? run.pool_len : 0);

	while (run.in < run.end) {
		unsigned code = in_u8(), v = code >> 4;

		run.op_index++;
		run.op = op_name[code & 15];
		switch (code & 15) {
		case OP_MALLOC:
			op_malloc(v, in_size());
			break;
		case OP_OTHERS:
			if (v & 2) {
				run.op = "side heaps";
				op_side_heaps(v);
			} else {
				run.op = "another thread";
				op_thread(v);
			}
			break;
		case OP_CALLOC:
			op_calloc(v);
			break;
		case OP_REALLOC:
		case OP_REALLOC2:
			op_realloc(v);
			break;
		case OP_ALIGNED:
			op_aligned(v);
			break;
		case OP_FREE:
		case OP_FREE2:
			op_free(v);
			break;
		case OP_FREE_MANY:
			op_free_many(v);
			break;
		case OP_BURST:
			op_burst(v);
			break;
		case OP_CHECK:
			check_or_die();
			break;
		case OP_WALK:
			op_walk(v);
			break;
		case OP_STATS:
			op_stats(v);
			break;
		case OP_TRIM:
			op_trim();
			break;
		case OP_OPTION:
			op_option(v);
			break;
		default:
			if (v & 1) {
				run.op = "errors";
				op_errors(v >> 1);
			} else {
				run.op = "inspect";
				op_inspect();
			}
			break;
		}
		if (trace)
			fprintf(stderr, "mm_fuzz: op %lu %s (variant %u): %zu blocks, %zu bytes live\n",
				run.op_index, run.op, v, run.nlive, run.live_bytes);
		if (run.op_index % CHECK_EVERY == 0)
			check_or_die();
	}
	heap_close();
	return 0;
}

/* Whether the library runs in its secure mode, where (and only there) a
 * block of 1 byte has a usable size of 1: it chose when it started. */
static int library_is_secure(void)
{
	void *p = mm_malloc(1);
	size_t u;

	if (!p) {
		perror("mm_fuzz: mm_malloc(1)");
		exit(2);
	}
	u = mm_usable_size(p);
	mm_free(p);
	return u == 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *k = getenv("MM_FUZZ_KIND");
	static const char prefix[] = "secure-";
	int want_secure = 0;

	(void)argc;
	(void)argv;
	secure = library_is_secure();
	if (k && strncmp(k, prefix, sizeof prefix - 1) == 0) {
		want_secure = 1;
		k += sizeof prefix - 1;
	}
	if (k && *k) {
		for (int i = 0; i < K_COUNT; i++)
			if (strcmp(k, kind_name[i]) == 0)
				pinned_kind = i;
		if (pinned_kind < 0) {
			fprintf(stderr, "mm_fuzz: MM_FUZZ_KIND=%s: say default, good, first, "
				"best, nolock or pool, or one of them after secure-\n",
				getenv("MM_FUZZ_KIND"));
			exit(2);
		}
	}
	if (want_secure && !secure) {
		fprintf(stderr, "mm_fuzz: MM_FUZZ_KIND=%s, but the library is not in its "
			"secure mode: set LIBMM_SECURE=1 in the environment\n",
			getenv("MM_FUZZ_KIND"));
		exit(2);
	}
	k = getenv("MM_FUZZ_TRACE");
	trace = k && *k && strcmp(k, "0") != 0;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0) {
		perror("mm_fuzz: /dev/null");
		exit(2);
	}
	return 0;
}
