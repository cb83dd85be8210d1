// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_posix.h - FUSE handlers of the rest of POSIX (fuse_posix.cc):
// xattrs, fallocate, lseek (SEEK_DATA/SEEK_HOLE), copy_file_range. Thin
// adapters over the Vfs (vfs_posix.cc), like fuse_frontend.cc's.
//
// Not handled on purpose: getlk/setlk/flock (without handlers the kernel
// keeps POSIX and flock locks itself, which is exact for one mount) and
// access (default_permissions: the kernel checks permissions itself).
#ifndef ZUF_FUSE_POSIX_H
#define ZUF_FUSE_POSIX_H

#include <fuse_lowlevel.h>

namespace zuf {

void add_posix_ops(fuse_lowlevel_ops &ops);

} // namespace zuf

#endif // ZUF_FUSE_POSIX_H
