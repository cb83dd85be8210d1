// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_extra.h - the FUSE requests libfuse 3.14 does not know, served on
// the wire (fuse_wire.h: before libfuse's dispatch, over /dev/fuse and
// io_uring alike):
//  - FUSE_TMPFILE (protocol 7.37): open(O_TMPFILE). Answered as CREATE is
//    (fuse_entry_out, fuse_open_out): a regular file with no name, which
//    linkat(AT_EMPTY_PATH) or linkat of /proc/self/fd/N names, and which
//    is freed with its last reference otherwise (Vfs::tmpfile).
//  - FUSE_STATX (7.39): statx(2) beyond the basic stats, i.e. the birth
//    time (STATX_BTIME, when the inode has one: Vfs::btime) and the
//    immutable/append/nodump attributes.
#ifndef ZUF_FUSE_EXTRA_H
#define ZUF_FUSE_EXTRA_H

namespace zuf {

struct FuseFs;

// Register the handlers with fuse_wire (after wire::install, before the
// session loop starts). fs outlives the session.
void install_extra_ops(FuseFs *fs);

} // namespace zuf

#endif // ZUF_FUSE_EXTRA_H
