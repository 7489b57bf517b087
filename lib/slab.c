/*
 * Slab pages: one size class per 64 KiB page, no header per block, a
 * state byte per slot (mm_internal.h, "Segments and slab pages").
 *
 * A page hands out slots from its local free list, or, when that is
 * empty, carves the next never-used slot.  Its owner frees onto the local
 * list; any other thread marks the slot REMOTE (a compare-and-swap on the
 * state byte, so two threads freeing one block cannot both succeed) and
 * pushes it onto the page's remote list with one compare-and-swap.  The
 * owner takes the whole remote list with one exchange and turns each
 * REMOTE state into FREE.  Pushes only add and the owner only takes all,
 * so the list has no ABA problem.
 *
 * The link in a free slot's first word is a granule of the page masked
 * with the page's secret: a write after free cannot aim the next
 * allocation at an address of its choosing; a link that does not decode to
 * a FREE slot of the same page is heap corruption.  Remote lists link
 * slots by address (their pushers know no list head), masked with the
 * segment's secret and the slot's own address.
 */
#include "mm_internal.h"

const uint16_t mmi_slab_class_bsize[] = {
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
	1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
	/* 65536 / k rounded down to 16 bytes, k = 15 .. 4: no page tail */
	4368, 4672, 5040, 5456, 5952, 6544, 7280, 8192, 9360, 10912, 13104, 16384,
};
_Static_assert(MMI_SLAB_CLASSES == sizeof mmi_slab_class_bsize / 2 &&
	       MMI_SLAB_PAGE / MMI_SLAB_MAX_BSIZE >= 4, "the class table reaches MMI_SLAB_MAX_BSIZE");

struct mmi_slab_page mmi_slab_page_none = { .free_head = MMI_SLAB_LIST_END };

void mmi_slab_corrupt(const void *slot)
{
	mmi_fatal("heap corruption at", slot);
}

static uintptr_t remote_link_mask(const struct mmi_segment *seg, const void *slot)
{
	return seg->link_key ^ ((uintptr_t)slot >> 4);
}

/* Remote lists link slots by masked address (pushers know no index). */
static void *remote_mask(const struct mmi_segment *seg, const void *slot, const void *next)
{
	return (void *)((uintptr_t)next ^ remote_link_mask(seg, slot));
}

static void remote_link_store(struct mmi_segment *seg, void *slot, void *next)
{
	MMI_TOOL_OWN(slot, sizeof(void *));
	__atomic_store_n((void **)slot, remote_mask(seg, slot, next), __ATOMIC_RELAXED);
}

/* The slot after slot on a remote list of page; dies on a forged link. */
static void *remote_next_or_die(struct mmi_segment *seg, struct mmi_slab_page *page, void *slot)
{
	void *next = remote_mask(seg, slot, __atomic_load_n((void **)slot, __ATOMIC_RELAXED));

	if (next && mmi_slab_index(page, next) < 0)
		mmi_slab_corrupt(slot);
	return next;
}

void mmi_slab_page_init(struct mmi_segment *seg, struct mmi_slab_page *page,
	unsigned cls, struct mmi_shard *owner)
{
	size_t bsize = mmi_slab_class_bsize[cls];
	uintptr_t page_start = ((uintptr_t)seg + (size_t)(page - seg->pages) * MMI_SLAB_PAGE);

	MMI_ASSERT(cls < MMI_SLAB_CLASSES && page->in_use);
	/* slots of another size may have lain here, poisoned by ASan */
	MMI_TOOL_FRESH(page_start, MMI_SLAB_PAGE);
	page->recip = (uint32_t)((((uint64_t)1 << 32) + bsize - 1) / bsize);
	page->area = page_start;
	page->link_key = seg->link_key;
	page->nslots = (uint16_t)((MMI_SLAB_PAGE - mmi_slab_guard_bytes()) / bsize);
	page->limit = (uint32_t)(page->nslots * bsize);
	__atomic_store_n(&page->carved, 0, __ATOMIC_RELAXED);
	page->cls = (uint8_t)cls;
	page->free_head = MMI_SLAB_LIST_END;
	page->idle_since = 0;
	__atomic_store_n(&page->remote, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&page->shard, owner, __ATOMIC_RELAXED);
	/* last: a walker that sees bsize sees the rest (mmi_slab_page_ready) */
	__atomic_store_n(&page->bsize, (uint32_t)bsize, __ATOMIC_RELEASE);
}

/* The free list is empty: the next never-used slot, or NULL when the page
 * is full.  (The secure mode carves its own way: carve_scattered.) */
void *mmi_slab_carve(struct mmi_slab_page *page)
{
	unsigned idx = page->carved;

	if (idx >= page->nslots)
		return NULL;
	/* walkers read carved without the owner's cooperation */
	__atomic_store_n(&page->carved, (uint16_t)(idx + 1), __ATOMIC_RELAXED);
	__atomic_store_n(mmi_slab_slot_state(page, idx), MMI_SLOT_USED, __ATOMIC_RELAXED);
	return (void *)(page->area + (size_t)idx * page->bsize);
}

/*
 * The secure mode hands out a slot drawn at random among the first
 * SCATTER_PICK of the free list, and a page whose list is empty carves up
 * to SCATTER new slots onto it at once, in random order: where the next
 * block of a size lands cannot be told from where the last one did, so
 * an overflow or a dangling pointer cannot count on its neighbour.  (The
 * pick walks the list, a slot's cache line a step: a longer walk cost
 * glibc-simple 16% of its time at 16.)
 */
#define SCATTER 16
#define SCATTER_PICK 4

static unsigned scatter_draw(struct mmi_shard *s, unsigned n)
{
	uint64_t x = s->scatter_rng;

	if (!x)
		x = mmi_random_word() | 1;
	/* xorshift64: quality enough to scatter, not to keep secrets */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->scatter_rng = x;
	return (unsigned)((x >> 32) % n);
}

/* The next granule on page's list after the FREE slot at granule g;
 * death when its link or its state was damaged. */
static unsigned list_next_or_die(const struct mmi_slab_page *page, unsigned g)
{
	const uintptr_t *slot = (const uintptr_t *)(page->area + (uintptr_t)g * MMI_ALIGN);
	uintptr_t next = __atomic_load_n(slot, __ATOMIC_RELAXED) ^ page->link_key;

	if (next > MMI_SLAB_LIST_END || page->state[g] != MMI_SLOT_FREE)
		mmi_slab_corrupt(slot);
	return (unsigned)next;
}

/* Up to SCATTER never-used slots of page go onto its free list, filled
 * for the secure mode's check, in random order; 0 when it is full. */
static int carve_scattered(struct mmi_slab_page *page, struct mmi_shard *s)
{
	unsigned first = page->carved, n = page->nslots - first, order[SCATTER];

	if (!n)
		return 0;
	if (n > SCATTER)
		n = SCATTER;
	for (unsigned i = 0; i < n; i++)
		order[i] = first + i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = scatter_draw(s, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < n; i++) {
		void *slot = (void *)(page->area + (size_t)order[i] * page->bsize);

		mmi_secure_fill_freed(slot, page->bsize);
		__atomic_store_n(mmi_slab_slot_state(page, order[i]), MMI_SLOT_FREE, __ATOMIC_RELAXED);
		mmi_slab_local_push(page, slot);
	}
	/* walkers read carved: every state below it is set */
	__atomic_store_n(&page->carved, (uint16_t)(first + n), __ATOMIC_RELAXED);
	return 1;
}

void *mmi_slab_alloc_scattered(struct mmi_slab_page *page)
{
	struct mmi_shard *s = page->shard;	/* the caller */
	unsigned g, prev = MMI_SLAB_LIST_END, k;

	if (page->free_head == MMI_SLAB_LIST_END && !carve_scattered(page, s))
		return NULL;	/* full, or mmi_slab_page_none */
	g = page->free_head;
	for (k = scatter_draw(s, SCATTER_PICK); k; k--) {
		unsigned next = list_next_or_die(page, g);

		if (next == MMI_SLAB_LIST_END)
			break;
		prev = g;
		g = next;
	}
	/* unlink g */
	if (prev == MMI_SLAB_LIST_END)
		page->free_head = (uint16_t)list_next_or_die(page, g);
	else
		mmi_slab_link_store(page, (void *)(page->area + (uintptr_t)prev * MMI_ALIGN),
				    list_next_or_die(page, g));
	__atomic_store_n(&page->state[g], MMI_SLOT_USED, __ATOMIC_RELAXED);
	return (void *)(page->area + (uintptr_t)g * MMI_ALIGN);
}

enum mmi_slab_verdict mmi_slab_free_remote(struct mmi_segment *seg, struct mmi_slab_page *page,
	void *p)
{
	enum mmi_slab_verdict v = mmi_slab_classify(page, p);
	unsigned char expect = MMI_SLOT_USED;
	void *head;

	if (v != MMI_SLAB_OK)
		return v;
	/* one winner among threads freeing the same block */
	if (!__atomic_compare_exchange_n(&page->state[mmi_slab_granule(p)], &expect, MMI_SLOT_REMOTE, 0,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return expect == MMI_SLOT_UNUSED ? MMI_SLAB_INVALID : MMI_SLAB_DOUBLE_FREE;
	head = __atomic_load_n(&page->remote, __ATOMIC_RELAXED);
	do {
		MMI_TEST_HOOK(slab_remote_push);
		remote_link_store(seg, p, head);
	} while (!__atomic_compare_exchange_n(&page->remote, &head, p, 1,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	return MMI_SLAB_OK;
}

enum mmi_slab_verdict mmi_slab_hold(struct mmi_slab_page *page, void *p)
{
	enum mmi_slab_verdict v = mmi_slab_classify(page, p);
	unsigned char expect = MMI_SLOT_USED;

	if (v != MMI_SLAB_OK)
		return v;
	if (!__atomic_compare_exchange_n(&page->state[mmi_slab_granule(p)], &expect,
					 MMI_SLOT_QUARANTINE, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return expect == MMI_SLOT_UNUSED ? MMI_SLAB_INVALID : MMI_SLAB_DOUBLE_FREE;
	return MMI_SLAB_OK;
}

void mmi_slab_unhold(struct mmi_slab_page *page, void *p)
{
	__atomic_store_n(&page->state[mmi_slab_granule(p)], MMI_SLOT_USED, __ATOMIC_RELAXED);
}

/* The owner takes every remote free of page; how many it took. */
unsigned mmi_slab_collect(struct mmi_segment *seg, struct mmi_slab_page *page)
{
	void *slot = __atomic_exchange_n(&page->remote, NULL, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	while (slot) {
		void *next = remote_next_or_die(seg, page, slot);
		unsigned char *st = &page->state[mmi_slab_granule(slot)];

		if (__atomic_load_n(st, __ATOMIC_RELAXED) != MMI_SLOT_REMOTE)
			mmi_slab_corrupt(slot);
		__atomic_store_n(st, MMI_SLOT_FREE, __ATOMIC_RELAXED);
		mmi_slab_local_push(page, slot);
		n++;
		slot = next;
	}
	return n;
}

/*
 * The page's owner is gone (its thread exited, or it did not survive a
 * fork): whatever its free list said, the state bytes are the truth.  The
 * new owner rebuilds the local free list from the FREE slots and counts
 * REMOTE slots stay for the remote list:
 * a freer may still be pushing one, and collect turns them FREE.  (A
 * REMOTE slot whose freer died before its push -- only across fork -- is
 * lost to this page, never handed out twice.)
 */
void mmi_slab_rebuild(struct mmi_segment *seg, struct mmi_slab_page *page)
{
	(void)seg;
	page->free_head = MMI_SLAB_LIST_END;
	for (size_t i = page->carved; i-- > 0;)
		if (__atomic_load_n(mmi_slab_slot_state(page, i), __ATOMIC_RELAXED) == MMI_SLOT_FREE)
			mmi_slab_local_push(page, (void *)(page->area + i * page->bsize));
}

/* Slot i is not free to its page: the program's, freed by another thread
 * and not yet collected, or held back by the secure mode. */
static int slot_in_use(const struct mmi_slab_page *page, size_t i)
{
	unsigned char st = __atomic_load_n(mmi_slab_slot_state(page, i), __ATOMIC_RELAXED);

	return st == MMI_SLOT_USED || st == MMI_SLOT_REMOTE || st == MMI_SLOT_QUARANTINE;
}

size_t mmi_slab_page_used(const struct mmi_slab_page *page)
{
	size_t carved = __atomic_load_n(&page->carved, __ATOMIC_RELAXED), used = 0;

	for (size_t i = 0; i < carved; i++)
		used += slot_in_use(page, i);
	return used;
}

int mmi_slab_page_empty(const struct mmi_slab_page *page)
{
	size_t carved = __atomic_load_n(&page->carved, __ATOMIC_RELAXED);

	for (size_t i = 0; i < carved; i++)
		if (slot_in_use(page, i))
			return 0;
	return 1;
}

enum mmi_slab_verdict mmi_slab_verdict(const struct mmi_slab_page *page, const void *p)
{
	return mmi_slab_classify(page, p);
}
