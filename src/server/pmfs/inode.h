// SPDX-License-Identifier: BSD-3-Clause
//
// inode.h - live inodes (zus_inode_info) and inode slots.
//
// InodeCache maps ino -> zus_inode_info, refcounted with ZUFS semantics:
// every LOOKUP/NEW_INODE answer gives the shim one reference, EVICT_INODE
// and FREE_INODE drop one. When the last reference of an inode with
// i_nlink == 0 goes, the inode is freed on media (its blocks, then its slot),
// crash-atomically in bounded transactions. The map is sharded so lookups of
// different inodes do not contend.
#ifndef ZUS_PMFS_INODE_H
#define ZUS_PMFS_INODE_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

struct zus_sb_info;
struct zus_inode_info;
struct zus_inode;

namespace zus::pmfs {

class Tx;

// The orphan table (layout.h: s_orphan_blk, s_orphan_blocks; u64 inode
// numbers, 0 = free entry): every inode that recovery must finish, so an
// unclean mount visits those and nothing else.
//
// An inode is recorded by the transaction that makes it need finishing --
// its i_nlink drops to 0 while it is still referenced (unlink, rmdir,
// rename over it, O_TMPFILE) or a truncation leaves blocks past i_size
// (kZiTruncating) -- and its entry is cleared by the transaction that
// finishes it (the last step of freeing the inode; the last step of the
// truncation, when the inode still has a name; a link that gives an
// O_TMPFILE inode a name). One entry per inode whatever the reasons.
// When no entry is free, kSuperOrphanFull is set in the superblock (durable
// before the transaction can commit) and the next mount scans the whole
// inode table instead.
//
// DRAM: each entry's state and an ino -> entry map, under one leaf mutex.
// An entry a running transaction fills or clears is neither free nor
// reusable until that transaction commits or aborts (Tx::note_orphan ->
// settle): undo of a lane must never overwrite an entry another lane
// reused. Adding takes a free entry from a hint: O(1) unless the table is
// nearly full.
class OrphanTable {
  public:
	// Read the table from media (mount).
	void load(zus_sb_info *sbi);
	// In tx, before ready(): record ino (nothing if it already is).
	// 0, or the transaction's -ENOSPC.
	int add(Tx &tx, uint64_t ino);
	// In tx, before ready(): clear ino's entry (nothing if it has none).
	int remove(Tx &tx, uint64_t ino);
	// In tx, before ready(): clear entry idx, whatever it holds.
	int clear(Tx &tx, uint32_t idx);
	// Called by Tx when the transaction that noted idx ends.
	void settle(uint32_t idx, bool add, bool committed);

	uint32_t capacity() const { return n_; }
	uint64_t at(uint32_t idx) const { return idx < n_ ? table_[idx] : 0; }
	// (entry, ino) of every non-free entry, as on media.
	std::vector<std::pair<uint32_t, uint64_t>> entries() const;
	size_t used() const;
	// The table overflowed (kSuperOrphanFull); clear_full() after a full
	// scan.
	bool full() const;
	void clear_full();

  private:
	enum : uint8_t { kFree, kUsed, kFilling, kClearing };
	int note(Tx &tx, uint32_t idx, uint64_t val, bool add);

	zus_sb_info *sbi_ = nullptr;
	uint64_t *table_ = nullptr;
	uint32_t n_ = 0;
	mutable std::mutex mu_;
	std::vector<uint8_t> state_;
	std::vector<uint64_t> ino_; // what each entry holds, or will
	std::unordered_map<uint64_t, uint32_t> where_; // ino -> entry
	uint32_t hint_ = 0;			       // the next entry to try
	uint32_t nfree_ = 0;
};

class InodeCache {
  public:
	explicit InodeCache(zus_sb_info *sbi);
	~InodeCache();

	// Mount: collect free inode slots, load the orphan table, and (not on
	// a read-only mount) finish what the table lists: free orphans
	// (i_nlink 0), finish interrupted truncations, clear stale entries.
	// After a clean umount the table is empty (entries found anyway are
	// finished, and reported on stderr). With kSuperOrphanFull the whole
	// inode table is scanned for orphans and truncations instead. Returns
	// the number of orphans freed.
	int scan_at_mount(bool clean = false);

	OrphanTable &orphans() { return orphans_; }

	// One more reference on ino's zus_inode_info (created on first use);
	// nullptr when ino is not an allocated inode, or one whose last
	// reference went and that is being freed (never a second
	// zus_inode_info for one inode: the evictor's clock asks by number).
	zus_inode_info *get(uint64_t ino);
	// Drop one reference (see the header comment).
	void put(zus_inode_info *ii);
	// Umount: drop every zus_inode_info, freeing unlinked inodes on media,
	// and finish what the orphan table still lists.
	void drop_all();

	// Inode slots (DRAM reservation; the slot itself is written in a Tx).
	uint64_t alloc_ino(); // 0 when none is free
	void release_ino(uint64_t ino);
	uint64_t free_inodes() const;

  private:
	static constexpr int kShards = 64;
	struct Shard {
		std::mutex mu;
		std::unordered_map<uint64_t, std::unique_ptr<zus_inode_info>>
			map;
	};
	Shard &shard(uint64_t ino) { return shards_[ino % kShards]; }

	// The fallback of a full orphan table: every inode slot.
	int scan_all_orphans();
	// Finish what the orphan table lists.
	int finish_orphans(bool clean);

	zus_sb_info *sbi_;
	OrphanTable orphans_;
	Shard shards_[kShards];
	// Inode slots in use, one bit per slot (bit i: ino i + 1), searched
	// from a cursor. Built lazily, a chunk of kChunkWords words at a time
	// (reading i_ino of its slots) when alloc_ino first looks at it, so a
	// mount does not read the inode table; free_inodes() (STATFS) scans
	// the rest once. slots_free_ counts the scanned chunks' free slots.
	static constexpr uint64_t kChunkWords = 64; // 4096 slots, 512 KiB
	void scan_chunk(uint64_t c) const;	    // under slots_mu_
	mutable std::mutex slots_mu_;
	mutable std::vector<uint64_t> slot_used_;
	mutable std::vector<bool> chunk_scanned_;
	mutable uint64_t chunks_left_ = 0;
	uint64_t slot_cursor_ = 0;
	mutable uint64_t slots_free_ = 0;
};

// Free blocks past i_size (an interrupted truncation) and clear the flag.
int inode_finish_truncate(zus_sb_info &sbi, zus_inode_info *ii);
// Free an unlinked inode on media: all blocks, then the slot; 0 when done
// (the caller then hands the number back: InodeCache::release_ino).
int inode_free_media(zus_sb_info &sbi, zus_inode_info *ii);

} // namespace zus::pmfs

#endif // ZUS_PMFS_INODE_H
