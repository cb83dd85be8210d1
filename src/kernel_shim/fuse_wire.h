// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_wire.h - zufuse's own I/O on /dev/fuse (libfuse's fuse_custom_io),
// for the two things libfuse 3.14 cannot do:
//
//  1. Negotiate FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14 does not know:
//     the INIT reply's flags get the bit. With it the kernel sets SB_NOSEC,
//     so a write to a file with no suid/sgid bit stops asking GETXATTR
//     "security.capability" before every WRITE (a full extra round trip
//     per write without it). In exchange the file system kills privileges
//     itself (Vfs::remove_privs): suid/sgid when the kernel's request says
//     so, security.capability on every write and truncate.
//  2. Tell the handler the kill flag the kernel put in the request it is
//     serving (FUSE_WRITE_KILL_SUIDGID in WRITE, FATTR_KILL_SUIDGID in
//     SETATTR), which libfuse 3.14 drops. The request is read and handled
//     by the same thread (libfuse's loops do), so a thread-local carries it.
//
// INIT itself may arrive by splice, past the read hook; its reply is the
// first reply the session writes, which is how it is recognised. If the
// kernel did not offer KILLPRIV_V2 it ignores the bit, never sets the kill
// flags, and kills privileges itself as before: correct either way.
#ifndef ZUF_FUSE_WIRE_H
#define ZUF_FUSE_WIRE_H

#include <fuse_lowlevel.h>

namespace zuf::wire {

// Install the custom I/O on a mounted session. 0 or a negative errno.
int install(fuse_session *se);

// The request this thread is handling asked the file system to kill
// suid/sgid (WRITE or SETATTR by a caller without CAP_FSETID, or chown).
bool kill_suidgid();

} // namespace zuf::wire

#endif // ZUF_FUSE_WIRE_H
