// SPDX-License-Identifier: BSD-3-Clause
//
// bmap.h - the per-inode radix tree that maps file blocks to pmem blocks
// (layout in layout.h: i_on_disk.a[0] root, a[1] height).
//
// bmap_lookup() is lock-free reading (callers hold the inode's rwlock
// shared). BmapTx changes a tree inside a transaction: new nodes are written
// directly (nothing points to them yet), slots of existing nodes through
// Tx::defer_store, and the new root/height are left in root/height for the
// caller to store into the (logged) zus_inode after Tx::ready().
#ifndef ZUS_PMFS_BMAP_H
#define ZUS_PMFS_BMAP_H

#include <cstdint>
#include <mutex>

#include "server/pmfs/journal.h"

struct zus_sb_info;
struct zus_inode;
struct zus_inode_info;

namespace zus::pmfs {

// A leaf whose block lives on tier 2 (tier.h): kT2Leaf | T2 block number.
// bmap_lookup() answers 0 for it (not a pmem block); bmap_leaf() gives it.
inline constexpr uint64_t kT2Leaf = 1ULL << 62;
// A leaf (pmem or T2) that fallocate allocated and no write has written
// yet, as ext4's unwritten extents (format version 5): its block holds
// zeros, and SEEK_DATA/SEEK_HOLE see a hole there. Only in the leaves of
// regular files. bmap_lookup() and bmap_leaf() answer the block without
// it; bmap_unwritten() tells it. The first WRITE clears it, in a
// transaction committed before the data is copied in, so an unwritten
// block never holds anything but zeros, whatever a crash interrupts.
inline constexpr uint64_t kUnwrittenLeaf = 1ULL << 61;
inline constexpr uint64_t leaf_block(uint64_t v) { return v & ~kUnwrittenLeaf; }

// The leaf of file block idx: a pmem block, kT2Leaf|t2bn, or 0.
uint64_t bmap_leaf(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx);

// The pmem block holding file block idx, 0 for a hole; *unwritten (when
// asked) whether that block is unwritten.
uint64_t bmap_lookup(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx,
		     bool *unwritten = nullptr);

// File block idx is mapped and unwritten (kUnwrittenLeaf).
bool bmap_unwritten(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx);

// What bmap_seek() looks for: a mapped block (data, written or not), a
// hole (unmapped), or, for SEEK_DATA/SEEK_HOLE, written data and its
// opposite (a hole or an unwritten block).
enum class Seek { kMapped, kUnmapped, kData, kNoData };

// The first file block index >= from that is what `want` says;
// UINT64_MAX when there is none below kMaxFileBlocks. Skips whole empty
// subtrees. Same locking as bmap_lookup.
uint64_t bmap_seek(const zus_sb_info &sbi, const zus_inode *zi, uint64_t from,
		   Seek want);
inline uint64_t bmap_seek(const zus_sb_info &sbi, const zus_inode *zi,
			  uint64_t from, bool want_data)
{
	return bmap_seek(sbi, zi, from,
			 want_data ? Seek::kMapped : Seek::kUnmapped);
}

// Largest file block index + 1 the tree can map.
inline constexpr uint64_t kMaxFileBlocks = 1ULL << (kFanoutShift * kMaxHeight);

// Radix nodes a tree needs to map file blocks [0, n).
uint64_t bmap_nodes_for(uint64_t n);
// The most data blocks one file can map from free blocks, counting the
// nodes of its tree: what a single fallocate of a new file can get
// (statfs's f_bavail).
uint64_t bmap_max_data(uint64_t free);

class BmapTx {
  public:
	BmapTx(zus_sb_info &sbi, Tx &tx, const zus_inode *zi);

	// Map idx (a hole) to bn (| kUnwrittenLeaf). 0, -ENOSPC (no blocks
	// for nodes or log).
	int insert(uint64_t idx, uint64_t bn);
	// Free mapped blocks with index >= from, at most budget blocks.
	// *done = nothing at or past from is mapped any more.
	int truncate(uint64_t from, uint64_t budget, bool *done);
	// Free mapped data blocks with index in [from, to) (a punched hole),
	// at most budget; nodes stay. *done = nothing in the range is mapped.
	int punch(uint64_t from, uint64_t to, uint64_t budget, bool *done);
	// Set the leaf of mapped block idx to v (tier moves, copy on write:
	// the old leaf's kUnwrittenLeaf is kept unless !keep_unwritten, when v
	// says it); -EINVAL if idx is not mapped.
	int replace(uint64_t idx, uint64_t v, bool keep_unwritten = true);
	// Clear kUnwrittenLeaf of mapped block idx (a WRITE reaches it).
	int mark_written(uint64_t idx);
	// Share counts (refc.h). share: one more leaf will point at bn
	// (count + 1); -EMLINK when its count is saturated (nothing changed).
	int share(uint64_t bn);
	// A data leaf v (pmem or T2 block) is dropped by the caller: count - 1
	// if shared, else the block is freed. Counts in blocks_delta.
	int put_leaf(uint64_t v) { return free_block(v, true); }
	// Flush the new nodes: call before Tx::ready().
	void finish();
	// The end of the tree's changes, before Tx::commit: finish(),
	// Tx::ready(), then zi's root and height, and its i_blocks moved by
	// added (data blocks the caller linked) + blocks_delta, in 512-byte
	// units, never below 0. 0, or Tx::ready()'s error (zi untouched).
	int close(zus_inode *zi, int64_t added = 0);

	uint64_t root = 0;
	uint32_t height = 0;
	// The inode whose tree this is, when known: a shared block it drops
	// while it has GET_MULTY pins out is held (zus_sb_info::held).
	zus_inode_info *owner = nullptr;
	// Data blocks freed (negative). i_blocks counts data blocks only, as
	// tmpfs's st_blocks does: radix nodes are metadata.
	int64_t blocks_delta = 0;

  private:
	uint64_t *slots(uint64_t bn) const;
	uint64_t *leaf_slot(uint64_t idx);
	int new_node(uint64_t *bn);
	bool is_fresh(const uint64_t *slot) const;
	uint64_t read(uint64_t *slot) const;
	int write(uint64_t *slot, uint64_t v);
	int free_block(uint64_t bn, bool data);
	int trunc_node(uint64_t node, uint32_t lvl, uint64_t base,
		       uint64_t from, uint64_t to, uint64_t &budget,
		       bool *done);

	unsigned refc_locked_get(uint64_t bn);
	int refc_set(uint64_t bn, unsigned v);

	zus_sb_info &sbi_;
	Tx &tx_;
	// refc_mu, once this transaction changes a count (refc.h): the Tx
	// commits or aborts before this BmapTx goes away.
	std::unique_lock<std::mutex> refc_lk_;
	static constexpr int kMaxFresh = 64;
	uint64_t fresh_[kMaxFresh];
	int nfresh_ = 0;
};

} // namespace zus::pmfs

#endif // ZUS_PMFS_BMAP_H
