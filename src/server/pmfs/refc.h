// SPDX-License-Identifier: BSD-3-Clause
//
// refc.h - share counts: copy_file_range (COPY) shares whole data blocks
// copy-on-write between file leaves.
//
// Contract:
//   - The count of block bn is one byte at s_refc_blk (layout.h): 0 = one
//     owner (or free, or not a data block), n = n + 1 leaves of regular
//     files point at bn. It saturates at kRefcMax: COPY copies a block
//     whose count is full instead of sharing it.
//   - Only regular files' data leaves are ever shared; radix nodes,
//     directory, symlink and xattr blocks always have count 0.
//   - A count changes only inside a transaction, in the same one as the
//     leaf that gains or loses the block (BmapTx::share / BmapTx::put_leaf:
//     the 8-byte word holding it is changed by Tx::defer_store, so it is
//     undo-logged and applied at ready() with the leaves). Every
//     transaction that changes counts holds sbi.refc_mu from its first
//     change until it commits or aborts (taken after the lane, so lane ->
//     refc_mu is the order; nothing takes a lane while holding it).
//   - Dropping a leaf (truncate, punch, unlink, a COPY over it, copy on
//     write) "puts" the block: count - 1 when shared, else the block is
//     freed through the normal path (Tx::bits, release after commit).
//   - A block of file A is written in place only when its count is 0:
//     WRITE, truncate's tail zeroing and fallocate's partial-block zeroing
//     first give A a private copy (unshare_range, file.h), repoint A's leaf
//     and put the old block, in one transaction; the shim invalidates the
//     page (wr_unmap).
//   - Reading a count without refc_mu under A's inode lock: 0 is exact for
//     A's own blocks (only a COPY from A, which takes A's lock, can share
//     them); a non-zero value may be stale-high (another owner may be
//     dropping its leaf), so users re-read it under refc_mu (Tx::peek)
//     before acting on it.
//   - The tier evictor never moves a shared block to T2 (evict.cc); a
//     shared leaf is always a T1 block.
//   - i_blocks of every owner counts a shared block (as XFS/btrfs reflinks
//     do); the allocator's free count (statfs) counts it once.
#ifndef ZUS_PMFS_REFC_H
#define ZUS_PMFS_REFC_H

#include <cstdint>

#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

inline uint64_t *refc_word(const zus_sb_info &sbi, uint64_t bn)
{
	return reinterpret_cast<uint64_t *>(sbi.blk(sbi.sb->s_refc_blk)) +
	       bn / 8;
}

inline unsigned refc_of_word(uint64_t w, uint64_t bn)
{
	return unsigned(w >> (8 * (bn % 8))) & 0xff;
}

// The count of bn as on media (see the contract for when it is exact).
inline unsigned refc_get(const zus_sb_info &sbi, uint64_t bn)
{
	if (!sbi.valid_data_bn(bn))
		return 0;
	return refc_of_word(
		__atomic_load_n(refc_word(sbi, bn), __ATOMIC_RELAXED), bn);
}

inline bool refc_shared(const zus_sb_info &sbi, uint64_t bn)
{
	return refc_get(sbi, bn) != 0;
}

} // namespace zus::pmfs

#endif // ZUS_PMFS_REFC_H
