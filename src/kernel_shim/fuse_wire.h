// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_wire.h - zufuse's own I/O on /dev/fuse (libfuse's fuse_custom_io),
// for the things libfuse 3.14 cannot do:
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
//  3. FUSE over io_uring (fuse_uring.h): negotiate FUSE_OVER_IO_URING in
//     the INIT reply, start the ring once the kernel has taken that reply,
//     and send the replies of requests that came through the ring to the
//     ring entry (a thread-local ReplySink) instead of /dev/fuse.
//
//  4. Count every request and time it, from reading it to handing over
//     its reply (stats.h), and write its debug line when asked.
//  5. Serve the requests libfuse 3.14 does not know (FUSE_TMPFILE,
//     FUSE_STATX: fuse_extra.h) before libfuse sees them: libfuse would
//     answer ENOSYS, and the kernel would never send them again. The
//     thread that read such a request serves it and reads the next one.
//  6. Negotiate FUSE_DIRECT_IO_ALLOW_MMAP (7.39), which libfuse 3.14 does
//     not know either: a FOPEN_DIRECT_IO open can then be mapped shared
//     (the kernel writes the mapping's dirty pages back before each direct
//     I/O and drops the cached ones a direct write covers), so O_DIRECT
//     opens can be FOPEN_DIRECT_IO (fuse_file.cc) and --direct-io mounts
//     allow shared mmap.
//
// INIT itself may arrive by splice, past the read hook; its reply is the
// first reply the session writes, which is how it is recognised. If the
// kernel did not offer KILLPRIV_V2 it ignores the bit, never sets the kill
// flags, and kills privileges itself as before: correct either way.
// io_uring is asked for only if the read hook saw INIT offer it (libfuse
// reads INIT with read(2): it splices only once INIT has negotiated it).
#ifndef ZUF_FUSE_WIRE_H
#define ZUF_FUSE_WIRE_H

#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>

struct fuse_in_header; // <linux/fuse.h>

namespace zuf::wire {

// Install the custom I/O on a mounted session. 0 or a negative errno.
int install(fuse_session *se);

// The request this thread is handling asked the file system to kill
// suid/sgid (WRITE or SETATTR by a caller without CAP_FSETID, or chown).
bool kill_suidgid();

// The INIT reply asked for FUSE_DIRECT_IO_ALLOW_MMAP (the kernel offered
// it): a FOPEN_DIRECT_IO open may be mapped shared.
bool direct_io_mmap();

// A request read by other means than /dev/fuse (the io_uring transport):
// note what the request carries (the kill flag) for the handler that
// serves it on this thread. @req is the whole request, header first.
void note_request(const void *req, size_t len);

// Where this thread's reply to request @unique goes instead of /dev/fuse.
// Anything else written meanwhile (notifications: unique 0) still goes to
// /dev/fuse.
class ReplySink {
  public:
	virtual ~ReplySink() = default;
	// The reply as libfuse built it: iov[0] is the fuse_out_header.
	// Returns the bytes taken or -1 with errno set, as writev(2).
	virtual ssize_t reply(const iovec *iov, int count) = 0;
};
void set_reply_sink(uint64_t unique, ReplySink *sink); // nullptr: none

// Ask for FUSE_OVER_IO_URING in the INIT reply (call before the session
// loop starts). If the kernel offered it, the reply carries the flag and,
// once the kernel has taken the reply (so the connection is initialised),
// @started runs on the thread that wrote it. Otherwise @started never runs.
void want_uring(std::function<void()> started);

// A request libfuse does not know, served on the thread that read it:
// @arg is what follows the fuse_in_header (arg_len bytes). It replies
// exactly once, with reply().
using ExtraOp = void (*)(void *ctx, const fuse_in_header &in, const char *arg,
			 size_t arg_len);
// Serve @opcode with @op (before the session loop starts).
void set_extra_op(uint32_t opcode, ExtraOp op, void *ctx);
// A transport that reads requests itself (io_uring), after
// note_request(): serve @req with its extra op if it has one. True if it
// did (the reply went to this thread's ReplySink, or /dev/fuse).
bool serve_extra(const void *req, size_t len);
// The reply to an extra op's request @unique: -errno, or 0 and the
// payload (the fuse_out_header is added). As writev(2): -1 with errno set
// when the kernel did not take it (ENOENT: the request was interrupted),
// so what the reply handed over (a reference, an open file) is not the
// kernel's.
ssize_t reply(uint64_t unique, int err, const iovec *payload, int count);

} // namespace zuf::wire

#endif // ZUF_FUSE_WIRE_H
