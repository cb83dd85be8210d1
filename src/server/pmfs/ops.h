// SPDX-License-Identifier: BSD-3-Clause
//
// ops.h - pmfs's handlers of e_zufs_operation. Each takes the message (its
// size already checked against the op's minimum by the runtime) and the
// page descriptors, answers in the message and returns hdr->err's value.
#ifndef ZUS_PMFS_OPS_H
#define ZUS_PMFS_OPS_H

#include "zufs/channel.h"
#include "zufs/zus_api.h"

struct zus_sb_info;

namespace zus::pmfs {

// mount.cc: super ops, and inode ops but SETATTR
int op_statfs(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_sync(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_stats(zufs_ioc_hdr *hdr, zufs::page_list pages); // zufuse
int op_evict_inode(zufs_ioc_hdr *hdr, zufs::page_list pages);

// namei.cc
int op_new_inode(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_lookup(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_add_dentry(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_remove_dentry(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_rename(zufs_ioc_hdr *hdr, zufs::page_list pages);

// dir.cc
int op_readdir(zufs_ioc_hdr *hdr, zufs::page_list pages);

// file.cc
int op_read(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_write(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_get_multy(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_put_multy(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_llseek(zufs_ioc_hdr *hdr, zufs::page_list pages);

// inode.cc
int op_setattr(zufs_ioc_hdr *hdr, zufs::page_list pages);

// falloc.cc
int op_fallocate(zufs_ioc_hdr *hdr, zufs::page_list pages);

// clone.cc
int op_clone(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_copy(zufs_ioc_hdr *hdr, zufs::page_list pages);

// xattr.cc
int op_xattr_get(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_xattr_set(zufs_ioc_hdr *hdr, zufs::page_list pages);
int op_xattr_list(zufs_ioc_hdr *hdr, zufs::page_list pages);

// The mount a cookie belongs to: nullptr for a stale/garbage cookie, and
// the op must answer -EINVAL. Also refuses a crashed mount (-EIO).
zus_inode_info *ii_cookie(zus_inode_info *ii, int *err);
// ii_cookie for a directory (else -ENOTDIR): namei.cc.
zus_inode_info *dir_cookie(zus_inode_info *p, int *err);
// ii_cookie for a regular file (else -EISDIR or -ENODEV): file.cc.
zus_inode_info *file_ii(zus_inode_info *cookie, int *err);

} // namespace zus::pmfs

#endif // ZUS_PMFS_OPS_H
