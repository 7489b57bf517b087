/*
 * Which region holds an address.  mm_free() receives nothing but a pointer,
 * and must neither trust nor touch it before it knows the pointer lies in
 * memory libmm took from the OS; this table answers that.
 *
 * It is a sorted array of [start, end) spans (OS regions never overlap;
 * pools are not listed, their heap is always named).  Writers serialise on
 * reg_lock; readers take no lock: they read under a sequence counter
 * (odd while a writer works) and retry if it moved.  Every change a reader
 * may see is one write section: a region that moves or changes its end is
 * never absent from the table in between.  A reader that finds a writer at
 * work spins a little, then waits for it on reg_lock rather than burning
 * its time slice against a writer that may be preempted.
 *
 * A grown array replaces the old one, which is never unmapped, so a late
 * reader still reads mapped memory.  The array grows before anything is
 * committed (mmi_registry_reserve), so that running out of memory for it
 * is an allocation failure (NULL, ENOMEM), never an abort.
 *
 * Shared fields: table, count, the spans and mmi_registry_seq are written
 * only under reg_lock, with __atomic stores; readers load them with
 * __atomic loads and trust what they read only when the sequence number
 * did not move.
 */
#include <string.h>

#include "mm_internal.h"

struct span {
	uintptr_t start, end;
	struct mmi_region *region;
};

/* A table knows its own capacity, so that a reader holding an old table
 * never reads past it, whatever count it saw. */
struct table {
	size_t capacity;
	struct span spans[];
};

#define SPIN_BEFORE_WAIT 128

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *table;	/* written under reg_lock */
static size_t count;		/* written under reg_lock */
unsigned mmi_registry_seq;	/* odd while a writer works */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void mmi_registry_lock(void)
{
	pthread_mutex_lock(&reg_lock);
}

void mmi_registry_unlock(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void write_begin(void)
{
	__atomic_store_n(&mmi_registry_seq, mmi_registry_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(void)
{
	__atomic_store_n(&mmi_registry_seq, mmi_registry_seq + 1, __ATOMIC_RELEASE);
}

static uintptr_t load(const uintptr_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void span_store(struct span *to, uintptr_t start, uintptr_t end, struct mmi_region *r)
{
	__atomic_store_n(&to->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&to->end, end, __ATOMIC_RELAXED);
	__atomic_store_n(&to->region, r, __ATOMIC_RELAXED);
}

static void span_copy(struct span *to, const struct span *from)
{
	span_store(to, load(&from->start), load(&from->end),
		   __atomic_load_n(&from->region, __ATOMIC_RELAXED));
}

/* Index of the first span starting above addr, in t[0..n). */
static size_t upper_bound(const struct span *t, size_t n, uintptr_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (load(&t[mid].start) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more span; -1 when the OS refuses memory for it. */
static int make_room_locked(void)
{
	size_t cap = table ? table->capacity * 2 : 255;
	struct table *t;

	if (table && count < table->capacity)
		return 0;
	t = mmi_os_map(sizeof *t + cap * sizeof(struct span));
	if (!t)
		return -1;
	t->capacity = cap;
	for (size_t i = 0; i < count; i++)
		span_copy(&t->spans[i], &table->spans[i]);
	__atomic_store_n(&table, t, __ATOMIC_RELEASE);
	return 0;
}

/* Move t[from..from+n) to start at index to (overlapping ranges). */
static void spans_move(struct span *t, size_t to, size_t from, size_t n)
{
	if (to > from)
		for (size_t i = n; i-- > 0;)
			span_copy(&t[to + i], &t[from + i]);
	else
		for (size_t i = 0; i < n; i++)
			span_copy(&t[to + i], &t[from + i]);
}

/* Inside a write section, with room for one more. */
static void insert_locked(struct mmi_region *r)
{
	struct span *t = table->spans;
	size_t i = upper_bound(t, count, r->start);

	spans_move(t, i + 1, i, count - i);
	span_store(&t[i], r->start, r->end, r);
	__atomic_store_n(&count, count + 1, __ATOMIC_RELAXED);
}

/* Inside a write section. */
static void remove_locked(uintptr_t start)
{
	struct span *t = table ? table->spans : NULL;
	size_t i = t ? upper_bound(t, count, start) : 0;

	if (i == 0 || load(&t[i - 1].start) != start)
		return;
	i--;
	spans_move(t, i, i + 1, count - i - 1);
	__atomic_store_n(&count, count - 1, __ATOMIC_RELAXED);
}

int mmi_registry_reserve(void)
{
	int ret;

	pthread_mutex_lock(&reg_lock);
	ret = make_room_locked();
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

int mmi_registry_add(struct mmi_region *r)
{
	pthread_mutex_lock(&reg_lock);
	if (make_room_locked() != 0) {
		pthread_mutex_unlock(&reg_lock);
		return -1;
	}
	write_begin();
	insert_locked(r);
	write_end();
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

void mmi_registry_remove(struct mmi_region *r)
{
	pthread_mutex_lock(&reg_lock);
	write_begin();
	remove_locked(r->start);
	write_end();
	pthread_mutex_unlock(&reg_lock);
}

/*
 * r changed its bounds; it was listed as starting at old_start.  One write
 * section: a reader sees r either as it was or as it is, never absent.
 * Removing first leaves room for the insert, so this cannot fail.
 */
void mmi_registry_move(struct mmi_region *r, uintptr_t old_start)
{
	pthread_mutex_lock(&reg_lock);
	write_begin();
	remove_locked(old_start);
	MMI_TEST_HOOK(registry_move);	/* r is out of the table here */
	insert_locked(r);
	write_end();
	pthread_mutex_unlock(&reg_lock);
}

__thread struct mmi_hint mmi_hint MMI_TLS;

/* One look at the table; 0 when a writer was at work meanwhile. */
static int try_find(uintptr_t addr, unsigned s, struct mmi_region **found)
{
	struct mmi_hint *h = &mmi_hint;
	struct table *tab = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
	size_t n = __atomic_load_n(&count, __ATOMIC_RELAXED), i;
	uintptr_t start = 0, end = 0;
	struct mmi_region *r = NULL;

	if (tab && n) {
		struct span *t = tab->spans;
		if (n > tab->capacity)
			n = tab->capacity;
		i = upper_bound(t, n, addr);
		if (i > 0 && addr < load(&t[i - 1].end)) {
			r = __atomic_load_n(&t[i - 1].region, __ATOMIC_RELAXED);
			start = load(&t[i - 1].start);
			end = load(&t[i - 1].end);
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&mmi_registry_seq, __ATOMIC_RELAXED) != s)
		return 0;
	if (r) {
		h->start = start;
		h->end = end;
		h->seq = s;
		h->region = r;
	}
	*found = r;
	return 1;
}

struct mmi_region *mmi_registry_find_slow(uintptr_t addr)
{
	struct mmi_region *found = NULL;

	for (unsigned spins = 0; spins < SPIN_BEFORE_WAIT; spins++) {
		unsigned s = __atomic_load_n(&mmi_registry_seq, __ATOMIC_ACQUIRE);

		if (!(s & 1) && try_find(addr, s, &found))
			return found;
		cpu_relax();
	}
	/* A writer is slow (preempted, or waiting in a test hook): wait for
	 * it instead of spinning.  Under reg_lock nothing moves. */
	MMI_TEST_COUNT(registry_waits);
	pthread_mutex_lock(&reg_lock);
	try_find(addr, __atomic_load_n(&mmi_registry_seq, __ATOMIC_RELAXED), &found);
	pthread_mutex_unlock(&reg_lock);
	return found;
}
