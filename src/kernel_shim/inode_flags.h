// SPDX-License-Identifier: BSD-3-Clause
//
// inode_flags.h - the VFS inode flags (chattr/lsattr) as zuf keeps them:
// the ZUFS_S_* bits of zus_inode.i_flags, their FS_*_FL names, and the
// checks the VFS makes with IS_IMMUTABLE/IS_APPEND. Through FUSE the
// kernel never sees these flags on its inodes, so the shim makes those
// checks itself, in the Vfs operation that the VFS would have refused:
//  - immutable: no write, truncate, setattr, xattr change, link, unlink,
//    rename, and nothing created in or removed from it (a directory);
//  - append-only: writes only through O_APPEND opens, no truncate,
//    setattr of mode/owner/explicit times, xattr change, link, unlink,
//    rename, and nothing removed from it (a directory).
#ifndef ZUF_INODE_FLAGS_H
#define ZUF_INODE_FLAGS_H

#include <sys/types.h>

#include <cerrno>
#include <cstdint>

#include "kernel_shim/inode_cache.h"
#include "zufs/zus_api.h"

namespace zuf {

inline mode_t inode_mode(const Inode *inode)
{
	return __atomic_load_n(&inode->zi->i_mode, __ATOMIC_RELAXED);
}

inline uint16_t zi_flags(const Inode *inode)
{
	return __atomic_load_n(&inode->zi->i_flags, __ATOMIC_RELAXED);
}

inline bool is_immutable(const Inode *inode)
{
	return zi_flags(inode) & ZUFS_S_IMMUTABLE;
}

// IS_IMMUTABLE || IS_APPEND: the inode may not lose a name, gain one, or
// change its attributes (may_delete, vfs_link, notify_change).
inline int may_change(const Inode *inode)
{
	return (zi_flags(inode) & (ZUFS_S_IMMUTABLE | ZUFS_S_APPEND)) ? -EPERM :
									0;
}

// FS_*_FL (FS_IOC_GETFLAGS) of the ZUFS_S_* bits, and back: -EOPNOTSUPP
// for a flag zufuse does not keep (as ext4 answers for one it lacks).
// DIRSYNC and TOPDIR stay on directories only, as ext4 masks them.
uint32_t fs_flags_of(uint16_t zi_flags);
int zi_flags_of(uint32_t fs_flags, mode_t mode, uint16_t *zi_flags);

} // namespace zuf

#endif // ZUF_INODE_FLAGS_H
