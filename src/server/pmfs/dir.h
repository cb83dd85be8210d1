// SPDX-License-Identifier: BSD-3-Clause
//
// dir.h - directories: fixed 32-byte dentry slots in the directory's data
// blocks (layout.h), and a DRAM index per directory built on first use by
// one scan of the slots: name hash -> slot, and a slot-occupancy bitmap to
// find free runs. Lookup, insert and remove are O(1) expected, whatever the
// size of the directory.
//
// Changes follow the transaction phases: dir_prepare_*() log what will
// change (before Tx::ready()), dir_apply_*() change media and the index
// (after). Callers hold ns_lock exclusively for changes, at least shared
// for dir_find/readdir, and the directory's rwlock exclusively for changes.
#ifndef ZUS_PMFS_DIR_H
#define ZUS_PMFS_DIR_H

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/pmfs/journal.h"
#include "server/pmfs/layout.h"

struct zus_sb_info;
struct zus_inode_info;
struct zus_inode;

namespace zus::pmfs {

struct DirIndex {
	std::unordered_multimap<uint32_t, uint64_t> names; // hash -> slot
	std::vector<uint64_t> used; // 2 words (128 slots) per block
	uint64_t nblocks = 0;
	uint64_t hint = 0; // first block that may have free slots
	uint64_t nentries = 0;
};

uint32_t name_hash(std::string_view name);

DirIndex &dir_index(zus_sb_info &sbi, zus_inode_info *dir);

// The dentry at slot, nullptr if its block is not mapped.
pmfs_dentry *dentry_at(zus_sb_info &sbi, const zus_inode *dzi, uint64_t slot);

// 0 with *slot and *ino, or -ENOENT.
int dir_find(zus_sb_info &sbi, zus_inode_info *dir, std::string_view name,
	     uint64_t *slot, uint64_t *ino);

struct DirAdd {
	uint64_t slot = 0;
	pmfs_dentry *de = nullptr;
	uint32_t nslots = 0;
	bool grows = false; // the entry goes into a new directory block
	uint64_t root = 0;
	uint32_t height = 0;
	int64_t blocks_delta = 0;
};
// Logs the slots (and the directory's zus_inode, always).
int dir_prepare_add(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
		    std::string_view name, DirAdd *plan);
void dir_apply_add(zus_sb_info &sbi, zus_inode_info *dir, const DirAdd &plan,
		   std::string_view name, uint64_t ino, uint8_t type);

int dir_prepare_remove(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
		       uint64_t slot);
void dir_apply_remove(zus_sb_info &sbi, zus_inode_info *dir, uint64_t slot);

// Point an existing entry at another inode (rename over, exchange).
int dir_prepare_retarget(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
			 uint64_t slot);
void dir_apply_retarget(zus_sb_info &sbi, zus_inode_info *dir, uint64_t slot,
			uint64_t ino, uint8_t type);

// Calls fn(slot, dentry) for every live entry at or after slot `from`, in
// slot order, until fn returns false.
template <typename Fn>
void dir_for_each(zus_sb_info &sbi, const zus_inode *dzi, uint64_t from, Fn fn);

} // namespace zus::pmfs

#include "server/pmfs/dir_iter.h"

#endif // ZUS_PMFS_DIR_H
