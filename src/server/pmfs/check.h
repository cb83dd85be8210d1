// SPDX-License-Identifier: BSD-3-Clause
//
// check.h - a read-only consistency check of a pmfs image (fsck's core):
// every inode's block tree, every directory entry, link counts, '..' links,
// and the allocation bitmap against what is actually referenced.
//
// Run it on an image that is not being changed (unmounted, or a quiescent
// mount). A clean mount leaves no live journal lane, no orphan and no
// interrupted truncation, so after one those count as errors too.
#ifndef ZUS_PMFS_CHECK_H
#define ZUS_PMFS_CHECK_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace zus::pmfs {

struct CheckResult {
	uint64_t errors = 0;
	uint64_t inodes = 0, files = 0, dirs = 0;
	uint64_t used_blocks = 0; // referenced data-area blocks
	std::string report;	  // one line per problem (the first 100)
};

CheckResult check_mapping(const char *base, size_t len);

} // namespace zus::pmfs

#endif // ZUS_PMFS_CHECK_H
