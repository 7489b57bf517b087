/*
 * Statistics.  The block engine's counters live in the heap and change
 * under its lock with every allocation and free (see mmi_count_use and
 * mmi_count_os); the largest free block is found when asked.  Slab pages
 * are counted when asked, from their state bytes (shard.c): exact for a
 * program whose other threads are not allocating meanwhile.  Their
 * segments count whole in os_bytes and regions.  The peaks are the block
 * engine's, raised to every total seen here.
 */
#include "mm_internal.h"

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
