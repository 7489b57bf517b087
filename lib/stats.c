/*
 * Statistics.  The counters live in the heap and change under its lock
 * with every allocation and free (see mmi_count_use/mmi_count_os); only
 * the largest free block is found when asked.
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
}
