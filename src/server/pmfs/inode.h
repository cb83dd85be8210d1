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

class InodeCache {
  public:
	explicit InodeCache(zus_sb_info *sbi);
	~InodeCache();

	// Scan the inode table: collect free slots; free orphans (i_nlink 0)
	// and finish interrupted truncations. Returns the number of orphans.
	// clean (the image was unmounted cleanly): only collect free slots.
	int scan_at_mount(bool clean = false);

	// One more reference on ino's zus_inode_info (created on first use);
	// nullptr when ino is not an allocated inode.
	zus_inode_info *get(uint64_t ino);
	// Drop one reference (see the header comment).
	void put(zus_inode_info *ii);
	// Umount: drop every zus_inode_info, freeing unlinked inodes on media.
	void drop_all();

	// Inode slots (DRAM reservation; the slot itself is written in a Tx).
	uint64_t alloc_ino(); // 0 when none is free
	void release_ino(uint64_t ino);
	uint64_t free_inodes() const;

  private:
	static constexpr int kShards = 64;
	struct Shard {
		std::mutex mu;
		std::unordered_map<uint64_t, std::unique_ptr<zus_inode_info>> map;
	};
	Shard &shard(uint64_t ino) { return shards_[ino % kShards]; }

	zus_sb_info *sbi_;
	Shard shards_[kShards];
	// Inode slots in use, one bit per slot (bit i: ino i + 1), searched
	// from a cursor.
	mutable std::mutex slots_mu_;
	std::vector<uint64_t> slot_used_;
	uint64_t slot_cursor_ = 0;
	uint64_t slots_free_ = 0;
};

// Free blocks past i_size (an interrupted truncation) and clear the flag.
int inode_finish_truncate(zus_sb_info &sbi, zus_inode_info *ii);
// Free an unlinked inode on media: all blocks, then the slot.
int inode_free_media(zus_sb_info &sbi, zus_inode_info *ii);

} // namespace zus::pmfs

#endif // ZUS_PMFS_INODE_H
