// SPDX-License-Identifier: BSD-3-Clause
// xattr.h - extended attributes of pmfs inodes (xattr.cc).
#ifndef ZUS_PMFS_XATTR_H
#define ZUS_PMFS_XATTR_H

struct zus_sb_info;
struct zus_inode_info;

namespace zus::pmfs {

// Free the xattr blocks of ii (before the inode itself is freed). Caller
// holds ii->rw exclusively.
int xattr_free_all(zus_sb_info &sbi, zus_inode_info *ii);

} // namespace zus::pmfs

#endif // ZUS_PMFS_XATTR_H
