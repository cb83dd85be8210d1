// SPDX-License-Identifier: BSD-3-Clause
//
// check.h - a consistency check of a pmfs image (fsck's core): every
// inode's block tree, every directory entry, link counts, '..' links, and
// the allocation bitmap against what is actually referenced.
//
// Run it on an image that is not being changed (unmounted, or a quiescent
// mount). A clean mount leaves no live journal lane, no orphan and no
// interrupted truncation, so after one those count as errors too.
//
// Repair (repair_mapping) works offline on an image whose journal has been
// rolled back (fsck_image mounts it once through the normal recovery path
// first): it clears bad block pointers, frees inodes that no name reaches,
// removes dangling and malformed directory entries, fixes link counts,
// i_blocks, '..', entry types, and rebuilds the bitmap from what is
// referenced. What it cannot fix (a bad superblock, a directory with
// several names) stays an error.
#ifndef ZUS_PMFS_CHECK_H
#define ZUS_PMFS_CHECK_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace zus::pmfs {

struct CheckResult {
	uint64_t errors = 0;
	uint64_t fixed = 0; // repairs made (repair mode)
	bool needs_recovery =
		false; // live lane, orphan, interrupted truncation
	uint64_t orphan_table_errors = 0; // of errors: the orphan table's
	uint64_t inodes = 0, files = 0, dirs = 0;
	uint64_t used_blocks = 0; // referenced data-area blocks
	uint64_t t2_used = 0;	  // referenced T2 blocks
	uint64_t unwritten = 0;	  // leaves fallocate made and nothing wrote
	std::string report;	  // one line per problem (the first 100)
};

// progress(done, total) is called now and then during the inode scans.
using CheckProgress = void (*)(uint64_t done, uint64_t total);

CheckResult check_mapping(const char *base, size_t len,
			  CheckProgress progress = nullptr);
// Check and repair in place (the caller makes the mapping durable).
CheckResult repair_mapping(char *base, size_t len,
			   CheckProgress progress = nullptr);

} // namespace zus::pmfs

#endif // ZUS_PMFS_CHECK_H
