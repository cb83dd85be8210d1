// SPDX-License-Identifier: BSD-3-Clause
//
// resize.cc - grow a file system in place to fill its (grown) image, as
// resize2fs does for ext4: the blocks past the old end become free data
// blocks. The bitmap and the share counts were sized at mkfs for
// kGrowthRoom times the image (layout.h); the inode table keeps its size.
#include <cstring>

#include "server/crc32c.h"
#include "server/persist.h"
#include "server/pmfs/format.h"
#include "server/pmfs/layout.h"

namespace zus::pmfs {

int check_growth(const pmfs_super &s, uint64_t map_len, std::string *why)
{
	const uint64_t max_nb = max_growable_blocks(s);
	if (!(s.s_flags & kSuperTailCopy)) {
		*why = "cannot grow in place: formatted by an older mkfs.zufs, without room "
		       "to grow (format a new image and copy the files)";
		return -ENOSPC;
	}
	if (map_len / kBlockSize - 1 > max_nb) {
		*why = "cannot grow in place to " + std::to_string(map_len) +
		       " bytes: its allocation bitmap and share counts, sized by mkfs, "
		       "describe at most " +
		       std::to_string((max_nb + 1) << kBlockShift) +
		       " bytes (format a new image with mkfs.zufs --size and copy the files)";
		return -ENOSPC;
	}
	return 0;
}

int grow_fs(char *base, size_t map_len, std::string *why)
{
	auto *sb = reinterpret_cast<pmfs_super *>(base);
	const uint64_t old_nb = sb->s_nblocks;
	// The last block of the image holds the tail copy.
	const uint64_t new_nb = map_len / kBlockSize - 1;
	if (new_nb <= old_nb)
		return 0;
	if (int e = check_growth(*sb, map_len, why))
		return e;
	Persist p;
	p.init(base, map_len);

	// 1. The new blocks, and the old tail copy's block, are free; their
	// share counts are 0. Past the old end nothing reads these bits or
	// counts, so a crash here leaves the old file system as it was (a
	// later grow redoes this step).
	auto *bitmap = reinterpret_cast<uint64_t *>(base + sb->s_bitmap_blk *
								   kBlockSize);
	for (uint64_t b = old_nb; b < new_nb; ++b)
		bitmap[b / 64] &= ~(1ULL << (b % 64));
	for (uint64_t b = new_nb; b < ((new_nb + 63) & ~63ULL); ++b)
		bitmap[b / 64] |=
			1ULL << (b % 64); // the tail copy and past it: used
	p.flush(bitmap + old_nb / 64, ((new_nb + 63) / 64 - old_nb / 64) * 8);
	auto *refc =
		reinterpret_cast<uint8_t *>(base + sb->s_refc_blk * kBlockSize);
	p.memset_nodrain(refc + old_nb, 0, new_nb - old_nb);
	p.drain();

	// 2. The new tail copy, then the superblock: write_super writes the
	// primary (the commit point; a torn primary falls back to block 0's
	// backup, the old size, whose blocks are as they were), then block
	// 0's backup and the tail copy again.
	pmfs_super s = *sb;
	s.s_nblocks = new_nb;
	s.s_size = new_nb << kBlockShift;
	std::string bad;
	s.s_crc = 0;
	s.s_crc = crc32c(0, &s, sizeof(s));
	if (validate_super(s, map_len, &bad)) {
		*why = "cannot grow: " + bad;
		return -EINVAL;
	}
	p.memcpy_nodrain(base + s.s_size, &s, sizeof(s));
	p.drain();
	write_super(base, map_len, &s);
	return 0;
}

} // namespace zus::pmfs
