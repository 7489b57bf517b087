/*
 * Looking inside a heap: walking, checking the invariants listed at the
 * top of block.c, statistics, and printing.  All output is formatted into
 * a buffer on the stack and written with write(2) (out.h): this code runs
 * with heap locks held, and may run as the process's malloc, so it can use
 * neither malloc nor stdio.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "mm_internal.h"
#include "out.h"

/* --- Walking --------------------------------------------------------------- */

int mmi_walk_locked(struct mm_heap *h, mm_visit_fn visit, void *arg)
{
	struct mmi_region *r;
	int ret;

	for (r = h->arenas; r; r = r->next) {
		struct mmi_block *b, *end = mmi_end_marker(r);
		for (b = r->first; b < end && mmi_bsize(b); b = mmi_after(b)) {
			ret = visit(mmi_payload(b), mmi_bsize(b) - MMI_HDR,
				    !(b->head & MMI_FREE), arg);
			if (ret)
				return ret;
		}
	}
	for (r = h->larges; r; r = r->next) {
		ret = visit(mmi_payload(r->first), mmi_bsize(r->first) - MMI_HDR, 1, arg);
		if (ret)
			return ret;
	}
	if (h->flags & MMI_SLAB_FLAG) {
		uintptr_t cursor = 0;
		return mmi_slabs_visit(h, &cursor, 0, visit, arg);
	}
	return 0;
}

/*
 * mm_heap_walk: the callback runs without the heap's lock, so that it may
 * use stdio (which allocates, and in the drop-in libmm is malloc) and even
 * the walked heap itself.  Under the lock the walk copies up to WALK_BATCH
 * blocks into a buffer on its stack, lets the lock go, calls back for each,
 * then takes the lock again and goes on after the last block reported.
 *
 * Blocks come in the order of mmi_walk_locked: the arenas in address order
 * and their blocks in address order, then the large blocks newest first,
 * that is in descending seq (large.c numbers each as it is linked), then
 * the slots of slab pages in address order (shard.c, resumed after the
 * last slot reported, whatever changed).  If
 * h->changes has not moved since the batch was taken, nothing changed and
 * the saved place is still good.  Otherwise the place is found again from
 * what was reported last: in the arenas, the first region ending beyond
 * the last block reported and its first block above it; among the large
 * blocks, the first whose seq is below the last one reported.  So a block
 * that stays as it is is reported exactly once, and a block made, freed or
 * merged meanwhile may or may not be.
 */
#define WALK_BATCH 64

struct walk_item {
	void *block;
	size_t size;
	int in_use;
};

enum { WALK_START, WALK_ARENAS, WALK_LARGES, WALK_SLABS, WALK_DONE };

struct walk_pos {
	int phase;
	unsigned long changes;		/* h->changes when the place was saved */
	struct mmi_region *r;		/* region of the next block, next large */
	struct mmi_block *b;		/* the next block (arenas) */
	uintptr_t last;			/* the last block reported (arenas) */
	uint64_t last_seq;		/* seq of the last large reported */
	uintptr_t slab_cursor;		/* the last slab slot reported */
};

struct slab_batch {
	struct walk_item *out;
	size_t n;
};

static int slab_collect(void *block, size_t size, int in_use, void *arg)
{
	struct slab_batch *sb = arg;

	sb->out[sb->n].block = block;
	sb->out[sb->n].size = size;
	sb->out[sb->n++].in_use = in_use;
	return 0;
}

static void walk_refind(struct mm_heap *h, struct walk_pos *w)
{
	struct mmi_region *r;

	if (w->phase == WALK_ARENAS) {
		for (r = h->arenas; r && r->end <= w->last; r = r->next)
			;
		w->r = r;
		if (r) {
			struct mmi_block *b = r->first, *end = mmi_end_marker(r);
			while (b < end && mmi_bsize(b) && (uintptr_t)b <= w->last)
				b = mmi_after(b);
			w->b = b;
		}
	} else if (w->phase == WALK_LARGES) {
		for (r = h->larges; r && r->seq >= w->last_seq; r = r->next)
			;
		w->r = r;
	}
}

/* Under the lock: the next blocks into out; how many. */
static size_t walk_collect(struct mm_heap *h, struct walk_pos *w, struct walk_item *out)
{
	size_t n = 0;

	if (w->phase == WALK_START) {
		w->phase = WALK_ARENAS;
		w->r = h->arenas;
		w->b = w->r ? w->r->first : NULL;
		w->last_seq = UINT64_MAX;
	} else if (w->changes != h->changes) {
		walk_refind(h, w);
	}
	while (n < WALK_BATCH && w->phase != WALK_DONE) {
		if (w->phase == WALK_ARENAS) {
			struct mmi_block *b = w->b;

			if (!w->r) {
				w->phase = WALK_LARGES;
				w->r = h->larges;
			} else if (b >= mmi_end_marker(w->r) || !mmi_bsize(b)) {
				w->r = w->r->next;
				w->b = w->r ? w->r->first : NULL;
			} else {
				out[n].block = mmi_payload(b);
				out[n].size = mmi_bsize(b) - MMI_HDR;
				out[n++].in_use = !(b->head & MMI_FREE);
				w->last = (uintptr_t)b;
				w->b = mmi_after(b);
			}
		} else if (w->phase == WALK_SLABS) {
			struct slab_batch sb = { out + n, 0 };

			mmi_slabs_visit(h, &w->slab_cursor, WALK_BATCH - n, slab_collect, &sb);
			n += sb.n;
			if (w->slab_cursor == UINTPTR_MAX)
				w->phase = WALK_DONE;
		} else if (!w->r) {
			w->phase = (h->flags & MMI_SLAB_FLAG) ? WALK_SLABS : WALK_DONE;
		} else {
			out[n].block = mmi_payload(w->r->first);
			out[n].size = mmi_bsize(w->r->first) - MMI_HDR;
			out[n++].in_use = 1;
			w->last_seq = w->r->seq;
			w->r = w->r->next;
		}
	}
	w->changes = h->changes;
	return n;
}

int mmi_walk(struct mm_heap *h, mm_visit_fn visit, void *arg)
{
	struct walk_item batch[WALK_BATCH];
	struct walk_pos w = { .phase = WALK_START };
	size_t n;
	int ret;

	do {
		mmi_lock(h);
		n = walk_collect(h, &w, batch);
		mmi_unlock_unchanged(h);	/* the walk changed nothing */
		for (size_t i = 0; i < n; i++) {
			ret = visit(batch[i].block, batch[i].size, batch[i].in_use, arg);
			if (ret)
				return ret;
		}
	} while (w.phase != WALK_DONE);
	return 0;
}

/* 1 when [p, p+len) lies inside the blocks of one of h's arenas. */
int mmi_in_arenas(const struct mm_heap *h, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (const struct mmi_region *r = h->arenas; r; r = r->next)
		if (a >= (uintptr_t)r->first && a + len <= (uintptr_t)mmi_end_marker(r))
			return 1;
	return 0;
}

/* --- Checking the invariants of block.c ------------------------------------- */

struct tally {
	size_t used_bytes, used_blocks, free_bytes, free_blocks;
	size_t mapped_blocks, mapped_bytes;
};

static int check_arena(struct mm_heap *h, struct mmi_region *r, struct tally *t)
{
	struct mmi_block *b, *end = mmi_end_marker(r);
	int prev_free = 0;

	if (r->heap != h || (uintptr_t)r->first != r->start + MMI_REGION_HDR ||
	    r->end < r->start + MMI_REGION_HDR + MMI_MIN_BLOCK + MMI_HDR)
		return -1;
	if (r->kind != MMI_REGION_POOL &&
	    (mmi_pagemap_find(r->start) != r || mmi_pagemap_find(r->end - 1) != r ||
	     (r->start & (MMI_GRANULE - 1))))
		return -1;
	for (b = r->first; b < end; b = mmi_after(b)) {
		size_t size = mmi_bsize(b);
		int is_free = (b->head & MMI_FREE) != 0;

		if (size < MMI_MIN_BLOCK || size > (uintptr_t)end - (uintptr_t)b ||
		    (b->head & MMI_LARGE) || !!(b->head & MMI_PREV_FREE) != prev_free)
			return -1;
		if (is_free) {
			if (prev_free || ((size_t *)mmi_after(b))[-1] != size)
				return -1;
			t->free_blocks++;
			t->free_bytes += size - MMI_HDR;
		} else {
			if (mmi_cookie_load(b) != mmi_used_cookie(h, b))
				return -1;
			t->used_blocks++;
			t->used_bytes += size - MMI_HDR;
		}
		prev_free = is_free;
	}
	if (b != end || mmi_bsize(end) != 0 || (end->head & (MMI_FREE | MMI_LARGE)) ||
	    !!(end->head & MMI_PREV_FREE) != prev_free ||
	    end->cookie != mmi_used_cookie(h, end))
		return -1;
	return 0;
}

static int check_large(struct mm_heap *h, struct mmi_region *r, struct tally *t)
{
	struct mmi_block *b = r->first;

	if (r->heap != h || r->kind != MMI_REGION_LARGE ||
	    (uintptr_t)b < r->start + MMI_REGION_HDR || (uintptr_t)b >= r->end ||
	    mmi_pagemap_find(r->start) != r || mmi_pagemap_find(r->end - 1) != r)
		return -1;
	if (!(b->head & MMI_LARGE) || (b->head & MMI_FREE) ||
	    (uintptr_t)b + mmi_bsize(b) != r->end ||
	    b->cookie != mmi_used_cookie(h, b))
		return -1;
	t->used_blocks++;
	t->used_bytes += mmi_bsize(b) - MMI_HDR;
	t->mapped_blocks++;
	t->mapped_bytes += mmi_bsize(b) - MMI_HDR;
	return 0;
}

int mmi_check_locked(struct mm_heap *h)
{
	struct tally t = { 0 };
	struct mmi_region *r, *prev = NULL;
	size_t n = 0;

	for (r = h->arenas; r; prev = r, r = r->next)
		if (++n > h->st.regions || r->prev != prev ||
		    (prev && prev->end > r->start) || check_arena(h, r, &t))
			return -1;
	if (n != h->st.regions)
		return -1;
	n = 0;
	for (prev = NULL, r = h->larges; r; prev = r, r = r->next)
		if (++n > h->st.mapped_blocks || r->prev != prev || check_large(h, r, &t))
			return -1;
	if (t.used_bytes != h->st.in_use_bytes || t.used_blocks != h->st.in_use_blocks ||
	    t.free_bytes != h->st.free_bytes || t.free_blocks != h->st.free_blocks ||
	    t.mapped_blocks != h->st.mapped_blocks || t.mapped_bytes != h->st.mapped_bytes)
		return -1;
	if (mmi_fit_of(h)->check(h, t.free_blocks) != 0)
		return -1;
	return (h->flags & MMI_SLAB_FLAG) ? mmi_slabs_check(h) : 0;
}

/* --- Statistics ------------------------------------------------------------ */

/*
 * The block engine's counters live in the heap and change under its lock
 * with every allocation and free (see mmi_count_use and mmi_count_os); the
 * largest free block is found when asked.  Slab pages are counted when
 * asked, from their state bytes (shard.c): exact for a program whose other
 * threads are not allocating meanwhile.  Their segments count whole in
 * os_bytes and regions.  The peaks are the block engine's, raised to every
 * total seen here.
 */
void mmi_stats_locked(struct mm_heap *h, struct mm_stats *out)
{
	size_t largest = mmi_fit_of(h)->largest(h);

	out->os_bytes = h->st.os_bytes;
	out->peak_os_bytes = h->st.peak_os_bytes;
	out->in_use_bytes = h->st.in_use_bytes;
	out->peak_in_use_bytes = h->st.peak_in_use_bytes;
	out->free_bytes = h->st.free_bytes;
	out->largest_free = largest ? largest - MMI_HDR : 0;
	out->in_use_blocks = h->st.in_use_blocks;
	out->free_blocks = h->st.free_blocks;
	out->mapped_blocks = h->st.mapped_blocks;
	out->mapped_bytes = h->st.mapped_bytes;
	out->regions = h->st.regions;
	out->alloc_count = h->st.alloc_count;
	out->free_count = h->st.free_count;
	if (h->flags & MMI_SLAB_FLAG) {
		struct mmi_slab_tally t;

		mmi_slabs_tally(h, &t);
		out->os_bytes += t.segments * MMI_SEGMENT;
		out->in_use_bytes += t.used_bytes;
		out->in_use_blocks += t.used_blocks;
		out->free_bytes += t.free_bytes;
		out->free_blocks += t.free_blocks;
		if (t.largest_free > out->largest_free)
			out->largest_free = t.largest_free;
		out->regions += t.segments;
		out->alloc_count += t.allocs;
		out->free_count += t.frees;
	}
	/* what was seen now counts as reached (the slab figures are only
	 * known when asked for) */
	if (h->st.peak_os_bytes < out->os_bytes)
		h->st.peak_os_bytes = out->os_bytes;
	if (h->st.peak_in_use_bytes < out->in_use_bytes)
		h->st.peak_in_use_bytes = out->in_use_bytes;
	out->peak_os_bytes = h->st.peak_os_bytes;
	out->peak_in_use_bytes = h->st.peak_in_use_bytes;
}

/* --- Printing -------------------------------------------------------------- */

/*
 * The dump: a header line, then the blocks in walk order, each band of
 * memory they live in -- a region of the block engine, a large block's
 * mapping, a segment and each of its slab pages -- announced by a line of
 * its own before its first block, and the summary.  Band lines never
 * contain "addr = ", so readers of the block lines alone skip them
 * (mm_heap_walk(3) documents the format; tools/mmview.c draws it).
 *
 * Lines go out one block late, so each can name the block after it; a
 * band's line waits with them, to come out just before its first block.
 */
enum band_kind { BAND_REGION, BAND_MAPPING, BAND_SEGMENT, BAND_PAGE };

struct band {
	enum band_kind kind;
	uintptr_t start, end;
	size_t extra;		/* region: its kind; page: the class's size */
};

struct printer {
	struct out o;
	void *addr;
	size_t size;
	int in_use, have;
	const char *note;	/* a slot's state beyond in use and free */
	struct band bands[2];	/* waiting: a segment and its first page */
	int nbands;
	uintptr_t seg, page;	/* the slab segment and page printed last */
};

static void print_band(struct out *o, const struct band *b)
{
	static const char *const names[] = { "region ", "mapping ", "segment ", "page " };

	out_str(o, names[b->kind]);
	out_hex(o, b->start);
	out_char(o, '-');
	out_hex(o, b->end);
	out_str(o, ", ");
	out_dec(o, b->end - b->start);
	out_str(o, " bytes");
	if (b->kind == BAND_REGION)
		out_str(o, b->extra == MMI_REGION_POOL ? ", pool" :
			   b->extra == MMI_REGION_BRK ? ", brk" : ", mmap");
	else if (b->kind == BAND_PAGE) {
		out_str(o, ", class ");
		out_dec(o, b->extra);
	}
	out_char(o, '\n');
}

static void print_line(struct printer *pr, void *next)
{
	out_str(&pr->o, "addr = ");
	out_hex(&pr->o, (uintptr_t)pr->addr);
	out_str(&pr->o, ", size = ");
	out_dec(&pr->o, pr->size);
	out_str(&pr->o, pr->in_use ? ", is_free=0, next=" : ", is_free=1, next=");
	out_hex(&pr->o, (uintptr_t)next);
	if (pr->note) {
		out_str(&pr->o, ", ");
		out_str(&pr->o, pr->note);
	}
	out_char(&pr->o, '\n');
}

static void print_block(struct printer *pr, void *block, size_t size, int in_use,
	const char *note)
{
	if (pr->have)
		print_line(pr, block);
	for (int i = 0; i < pr->nbands; i++)
		print_band(&pr->o, &pr->bands[i]);
	pr->nbands = 0;
	pr->addr = block;
	pr->size = size;
	pr->in_use = in_use;
	pr->note = note;
	pr->have = 1;
}

static void print_band_next(struct printer *pr, enum band_kind kind, uintptr_t start,
	uintptr_t end, size_t extra)
{
	pr->bands[pr->nbands++] = (struct band){ kind, start, end, extra };
}

/* A slab slot: its segment's and page's lines when it starts them, and
 * what a free slot is waiting for, read again from its state byte. */
static int print_slot(void *block, size_t size, int in_use, void *arg)
{
	struct printer *pr = arg;
	uintptr_t a = (uintptr_t)block;
	uintptr_t seg = a & ~(uintptr_t)(MMI_SEGMENT - 1), page = a & ~(uintptr_t)(MMI_SLAB_PAGE - 1);
	const char *note = NULL;

	if (seg != pr->seg)
		print_band_next(pr, BAND_SEGMENT, seg, seg + MMI_SEGMENT, 0);
	if (page != pr->page)
		print_band_next(pr, BAND_PAGE, page, page + MMI_SLAB_PAGE, size);
	pr->seg = seg;
	pr->page = page;
	if (!in_use) {
		struct mmi_slab_page *pg = mmi_slab_page_of(mmi_segment_of(block), block);
		unsigned char st = __atomic_load_n(&pg->state[mmi_slab_granule(block)],
						   __ATOMIC_RELAXED);

		note = st == MMI_SLOT_REMOTE ? "remote" :
		       st == MMI_SLOT_QUARANTINE ? "quarantine" : NULL;
	}
	print_block(pr, block, size, in_use, note);
	return 0;
}

/* The blocks in the order of mmi_walk_locked, with their bands. */
static void print_blocks_locked(struct mm_heap *h, struct printer *pr)
{
	struct mmi_region *r;

	for (r = h->arenas; r; r = r->next) {
		struct mmi_block *b, *end = mmi_end_marker(r);

		print_band_next(pr, BAND_REGION, r->start, r->end, r->kind);
		for (b = r->first; b < end && mmi_bsize(b); b = mmi_after(b))
			print_block(pr, mmi_payload(b), mmi_bsize(b) - MMI_HDR,
				    !(b->head & MMI_FREE), NULL);
		pr->nbands = 0;		/* a region without blocks: not printed */
	}
	for (r = h->larges; r; r = r->next) {
		print_band_next(pr, BAND_MAPPING, r->start, r->end, 0);
		print_block(pr, mmi_payload(r->first), mmi_bsize(r->first) - MMI_HDR, 1, NULL);
	}
	if (h->flags & MMI_SLAB_FLAG) {
		uintptr_t cursor = 0;

		mmi_slabs_visit(h, &cursor, 0, print_slot, pr);
	}
	if (pr->have)
		print_line(pr, NULL);
}

void mmi_print_locked(struct mm_heap *h, int fd)
{
	struct printer pr = { .o = { .fd = fd } };
	struct mm_stats st;

	mmi_stats_locked(h, &st);
	out_str(&pr.o, "libmm heap ");
	out_hex(&pr.o, (uintptr_t)h);
	out_str(&pr.o, ": ");
	out_str(&pr.o, mmi_fit_of(h)->name);
	out_str(&pr.o, (h->flags & MMI_POOL_FLAG) ? ", caller's buffer" :
		       (h->flags & MM_SOURCE_BRK) ? ", program break" : ", mmap");
	out_str(&pr.o, ", ");
	out_dec(&pr.o, st.regions);
	out_str(&pr.o, " regions, ");
	out_dec(&pr.o, st.mapped_blocks);
	out_str(&pr.o, " mapped blocks\n");
	print_blocks_locked(h, &pr);
	out_str(&pr.o, "in use: ");
	out_dec(&pr.o, st.in_use_blocks);
	out_str(&pr.o, " blocks, ");
	out_dec(&pr.o, st.in_use_bytes);
	out_str(&pr.o, " bytes; free: ");
	out_dec(&pr.o, st.free_blocks);
	out_str(&pr.o, " blocks, ");
	out_dec(&pr.o, st.free_bytes);
	out_str(&pr.o, " bytes; largest free ");
	out_dec(&pr.o, st.largest_free);
	out_str(&pr.o, "; from the OS ");
	out_dec(&pr.o, st.os_bytes);
	out_str(&pr.o, " bytes\n");
	out_flush(&pr.o);
}

/* --- Reports asked for through the environment (init.c) ------------------ */

static void out_field(struct out *o, const char *name, size_t v)
{
	out_str(o, name);
	out_dec(o, v);
}

void mmi_print_stats(struct mm_heap *h, int fd)
{
	struct out o = { .fd = fd };
	struct mm_stats st;

	mmi_lock(h);
	mmi_stats_locked(h, &st);
	mmi_unlock(h);
	out_field(&o, "libmm stats: from the OS ", st.os_bytes);
	out_field(&o, " bytes (peak ", st.peak_os_bytes);
	out_field(&o, "); in use ", st.in_use_bytes);
	out_field(&o, " bytes in ", st.in_use_blocks);
	out_field(&o, " blocks (peak ", st.peak_in_use_bytes);
	out_field(&o, " bytes); free ", st.free_bytes);
	out_field(&o, " bytes in ", st.free_blocks);
	out_field(&o, " blocks, largest ", st.largest_free);
	out_field(&o, "; mapped blocks ", st.mapped_blocks);
	out_field(&o, " (", st.mapped_bytes);
	out_field(&o, " bytes); regions ", st.regions);
	out_field(&o, "; allocations ", st.alloc_count);
	out_field(&o, ", frees ", st.free_count);
	out_char(&o, '\n');
	out_flush(&o);
}

void mmi_print_options(struct mm_heap *h, int fd)
{
	struct out o = { .fd = fd };

	out_str(&o, "libmm " LIBMM_VERSION_STRING ": default heap ");
	out_str(&o, mmi_fit_of(h)->name);
	out_str(&o, (h->flags & MM_SOURCE_BRK) ? ", program break" : ", mmap");
	out_field(&o, ", mmap threshold ", h->mmap_threshold);
	out_field(&o, ", trim threshold ", h->trim_threshold);
	out_field(&o, ", decay ms ", h->decay_ms);
	out_char(&o, '\n');
	out_flush(&o);
}

/*
 * LIBMM_DUMP (init.c): the heap's dump, as mm_heap_print writes it, into
 * the file at path ("%p" in it becomes the process id, "%%" a "%"),
 * created or emptied first.
 *
 * From a signal handler the heap's lock may be held by the very thread
 * the signal interrupted, which would then wait for itself; so there the
 * locks are only tried, for up to about 200 ms (another thread lets go
 * of them soon), and if the heap stays busy the file says so in one line
 * instead.  Everything else here is async-signal-safe: open, write,
 * close, nanosleep and a buffer on the stack.  (pthread_mutex_trylock is
 * not on POSIX's list, but glibc's, for the default mutex type, is one
 * compare-and-swap that never waits.)
 */
#define DUMP_PATH_MAX 4096
#define DUMP_TRIES 200

static int dump_open(const char *path)
{
	char name[DUMP_PATH_MAX + 24], digits[24];
	size_t n = 0;

	for (const char *s = path; *s; s++) {
		const char *add = s;
		size_t len = 1;

		if (s[0] == '%' && s[1] == 'p') {
			size_t v = (size_t)getpid(), k = sizeof digits;

			do {
				digits[--k] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			add = digits + k;
			len = sizeof digits - k;
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			s++;
		}
		if (n + len >= sizeof name)
			return -1;
		for (size_t i = 0; i < len; i++)
			name[n++] = add[i];
	}
	name[n] = '\0';
	return open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Both locks the dump takes, or none: 0 when taken. */
static int dump_trylock(struct mm_heap *h)
{
	if (mmi_trylock(h))
		return -1;
	/* Free now means this thread does not hold it: the dump may then
	 * wait for it, as another thread holding it never waits for a heap
	 * lock (the lock order of init.c). */
	if (!mmi_shards_trylock()) {
		mmi_shards_unlock();
		return 0;
	}
	mmi_unlock_unchanged(h);
	return -1;
}

int mmi_dump_to_path(struct mm_heap *h, const char *path, int from_signal)
{
	int saved = errno, locked = 0, fd = dump_open(path);

	if (fd < 0) {
		struct out o = { .fd = 2 };

		out_str(&o, "libmm: LIBMM_DUMP=");
		out_str(&o, path);
		out_str(&o, ": cannot create the file; no dump\n");
		out_flush(&o);
		errno = saved;
		return -1;
	}
	if (!from_signal) {
		mmi_lock(h);
		locked = 1;
	} else {
		struct timespec ms = { 0, 1000000 };

		for (int i = 0; i < DUMP_TRIES && !locked; i++)
			if (!(locked = !dump_trylock(h)))
				nanosleep(&ms, NULL);
	}
	if (locked) {
		mmi_print_locked(h, fd);
		mmi_unlock_unchanged(h);	/* nothing changed but peak figures */
	} else {
		struct out o = { .fd = fd };

		out_str(&o, "libmm dump: heap ");
		out_hex(&o, (uintptr_t)h);
		out_str(&o, " busy: its lock was held throughout; no dump\n");
		out_flush(&o);
	}
	close(fd);
	errno = saved;
	return locked ? 0 : -1;
}
