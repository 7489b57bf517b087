/*
 * Which region holds an address.  mm_free() receives nothing but a pointer,
 * and must neither trust nor touch it before it knows the pointer lies in
 * memory libmm took from the OS; this table answers that.
 *
 * It is a sorted array of [start, end) spans (OS regions never overlap;
 * pools are not listed, their heap is always named).  Writers serialise on
 * reg_lock; readers take no lock: they read under a sequence counter
 * (odd while a writer works) and retry if it moved.  A grown array replaces
 * the old one, which is never unmapped, so a late reader still reads mapped
 * memory.
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

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *table;
static size_t count;
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

/* Index of the first span starting above addr, in t[0..n). */
static size_t upper_bound(const struct span *t, size_t n, uintptr_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (__atomic_load_n(&t[mid].start, __ATOMIC_RELAXED) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int make_room(void)
{
	size_t cap = table ? table->capacity * 2 : 255;
	struct table *t;

	if (table && count < table->capacity)
		return 0;
	t = mmi_os_map(sizeof *t + cap * sizeof(struct span));
	if (!t)
		return -1;
	t->capacity = cap;
	if (count)
		memcpy(t->spans, table->spans, count * sizeof(struct span));
	__atomic_store_n(&table, t, __ATOMIC_RELEASE);
	return 0;
}

static void insert_locked(struct mmi_region *r)
{
	struct span *t;
	size_t i;

	if (make_room() != 0)
		mmi_fatal("out of memory for the region table at", (void *)r->start);
	t = table->spans;
	i = upper_bound(t, count, r->start);
	write_begin();
	memmove(&t[i + 1], &t[i], (count - i) * sizeof *t);
	t[i].start = r->start;
	t[i].end = r->end;
	t[i].region = r;
	__atomic_store_n(&count, count + 1, __ATOMIC_RELAXED);
	write_end();
}

static void remove_locked(uintptr_t start)
{
	struct span *t = table ? table->spans : NULL;
	size_t i = t ? upper_bound(t, count, start) : 0;

	if (i == 0 || t[i - 1].start != start)
		return;
	i--;
	write_begin();
	memmove(&t[i], &t[i + 1], (count - i - 1) * sizeof *t);
	__atomic_store_n(&count, count - 1, __ATOMIC_RELAXED);
	write_end();
}

void mmi_registry_add(struct mmi_region *r)
{
	pthread_mutex_lock(&reg_lock);
	insert_locked(r);
	pthread_mutex_unlock(&reg_lock);
}

void mmi_registry_remove(struct mmi_region *r)
{
	pthread_mutex_lock(&reg_lock);
	remove_locked(r->start);
	pthread_mutex_unlock(&reg_lock);
}

/* r changed its bounds; it was listed as starting at old_start. */
void mmi_registry_move(struct mmi_region *r, uintptr_t old_start)
{
	pthread_mutex_lock(&reg_lock);
	remove_locked(old_start);
	insert_locked(r);
	pthread_mutex_unlock(&reg_lock);
}

__thread struct mmi_hint mmi_hint MMI_TLS;

struct mmi_region *mmi_registry_find_slow(uintptr_t addr)
{
	struct mmi_hint *h = &mmi_hint;

	for (;;) {
		unsigned s = __atomic_load_n(&mmi_registry_seq, __ATOMIC_ACQUIRE);
		struct mmi_region *found = NULL;
		struct table *tab;
		struct span *t;
		size_t n, i;

		if (s & 1) {
			cpu_relax();
			continue;
		}
		tab = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
		n = __atomic_load_n(&count, __ATOMIC_RELAXED);
		if (tab && n) {
			t = tab->spans;
			if (n > tab->capacity)
				n = tab->capacity;
			i = upper_bound(t, n, addr);
			if (i > 0 && addr < __atomic_load_n(&t[i - 1].end, __ATOMIC_RELAXED)) {
				found = __atomic_load_n(&t[i - 1].region, __ATOMIC_RELAXED);
				h->start = __atomic_load_n(&t[i - 1].start, __ATOMIC_RELAXED);
				h->end = __atomic_load_n(&t[i - 1].end, __ATOMIC_RELAXED);
			}
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&mmi_registry_seq, __ATOMIC_RELAXED) == s) {
			if (found) {
				h->seq = s;
				h->region = found;
			}
			return found;
		}
	}
}
