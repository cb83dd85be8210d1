// SPDX-License-Identifier: BSD-3-Clause
// dir_iter.h - dir_for_each (template part of dir.h).
#ifndef ZUS_PMFS_DIR_ITER_H
#define ZUS_PMFS_DIR_ITER_H

#include <algorithm>

#include "server/pmfs/bmap.h"
#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

// A slot holds a valid entry start when its header is sane; anything else
// (a free slot, or garbage) is stepped over one slot at a time.
inline bool dentry_valid(const pmfs_dentry *de, uint32_t s)
{
	return de->ino && de->name_len &&
	       de->nslots >= dentry_slots(de->name_len) &&
	       s + de->nslots <= kSlotsPerBlock;
}

template <typename Fn>
void dir_for_each(zus_sb_info &sbi, const zus_inode *dzi, uint64_t from, Fn fn)
{
	uint64_t nblocks =
		std::min<uint64_t>(dzi->i_size >> kBlockShift, sbi.nblocks());
	for (uint64_t b = from / kSlotsPerBlock; b < nblocks; ++b) {
		uint64_t bn = bmap_lookup(sbi, dzi, b);
		if (!bn)
			continue;
		const char *blk = sbi.blk(bn);
		// Parse from the block start: `from` may be inside an entry.
		for (uint32_t s = 0; s < kSlotsPerBlock;) {
			auto *de = reinterpret_cast<const pmfs_dentry *>(
				blk + s * kSlotSize);
			if (!dentry_valid(de, s)) {
				++s;
				continue;
			}
			uint64_t slot = b * kSlotsPerBlock + s;
			if (slot >= from && !fn(slot, de))
				return;
			s += de->nslots;
		}
	}
}

} // namespace zus::pmfs

#endif // ZUS_PMFS_DIR_ITER_H
