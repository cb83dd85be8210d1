// SPDX-License-Identifier: BSD-3-Clause
//
// debug_log.h - private to stats.cc and debug_log.cc: how the transport's
// hooks (stats.cc: begin/end) write the per-request debug log of stats.h
// (debug_log.cc). The classes, masks and sink are stats.h's.
//
// The calls run on the thread that serves the request: note_request()
// keeps the request's description in a thread-local buffer that
// log_reply() completes on the same thread.
#ifndef ZUF_DEBUG_LOG_H
#define ZUF_DEBUG_LOG_H

#include <linux/fuse.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

// The shim is linked into executables, never dlopen()ed: the initial-exec
// TLS model makes thread_locals plain %fs-relative loads instead of calls
// to __tls_get_addr (the library is built -fPIC).
#define ZUF_TLS_IE __attribute__((tls_model("initial-exec")))

namespace zuf::stats::dbg {

// The line of a request that gets no reply (FORGET, BATCH_FORGET,
// INTERRUPT), of class cls (stats::Class), now. p, n: the whole request.
void log_request(uint32_t cls, const fuse_in_header &in, const char *p,
		 size_t n);

// A request whose reply may be logged: its description, kept on this
// thread for log_reply().
void note_request(const fuse_in_header &in, const char *p, size_t n);

// The noted request's line with its reply: the error, the new inode, or
// the bytes moved, and dt (ns) from the request to the reply.
void log_reply(uint32_t cls, uint32_t opcode, const fuse_out_header &out,
	       const iovec *iov, int count, uint64_t bytes, uint64_t dt);

} // namespace zuf::stats::dbg

#endif // ZUF_DEBUG_LOG_H
