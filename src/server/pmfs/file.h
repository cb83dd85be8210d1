// SPDX-License-Identifier: BSD-3-Clause
// file.h - file data helpers shared by SETATTR, inode freeing and recovery.
#ifndef ZUS_PMFS_FILE_H
#define ZUS_PMFS_FILE_H

#include <cstdint>

struct zus_sb_info;
struct zus_inode_info;
struct zus_inode;
struct zufs_ioc_IO;

namespace zus::pmfs {

// Free every block at file block index >= from, in bounded transactions
// (at most kTruncBatch blocks each); the last one clears kZiTruncating, or,
// with free_inode, frees the inode slot itself (an unlinked inode's end).
// Caller holds ii->rw exclusively.
int free_blocks_from(zus_sb_info &sbi, zus_inode_info *ii, uint64_t from,
		     bool free_inode = false);

// Copy on write (refc.h): give ii a private copy (same content) of every
// shared block it maps in file blocks [first, last], in transactions of up
// to 64 blocks: each leaf is repointed and the old block put. When given,
// [*cow_first, *cow_last] is widened to the indexes copied (their backing
// blocks changed: the shim must drop those pages). Caller holds ii->rw
// exclusively; the range is on T1.
int unshare_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t first,
		  uint64_t last, uint64_t *cow_first = nullptr,
		  uint64_t *cow_last = nullptr);

// relatime (the kernel's relatime_need_update, tmpfs's and ext4's
// default): an access (READ, GET_MULTY, READDIR) sets atime when it is not
// newer than mtime or ctime, or is a day old; never with "noatime", always
// with "strictatime" (READDIR: never with "nodiratime"). Caller
// holds the inode's rwlock (shared is enough).
void touch_atime(const zus_sb_info &sbi, zus_inode *zi);

// The regular file an IO message names (its zus_ii cookie), or nullptr with
// *err: EISDIR for a directory, EINVAL for anything else not a file.
zus_inode_info *io_ii(zufs_ioc_IO *io, int *err);

inline constexpr uint64_t kTruncBatch = 256;
inline constexpr uint64_t kWriteBatch = 256; // new blocks per transaction

} // namespace zus::pmfs

#endif // ZUS_PMFS_FILE_H
