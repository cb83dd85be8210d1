// SPDX-License-Identifier: BSD-3-Clause
//
// guard.h - surviving a SIGBUS from the pmem mapping.
//
// A load or store into a mapped image page that has no backing raises
// SIGBUS: a media error on real pmem (BUS_MCEERR_AR), an image file
// truncated under the mount, a sparse image on a full file system
// (BUS_ADRERR). The data paths run their copies to and from the mapping
// inside guarded(): a SIGBUS raised by that thread while it is inside
// abandons the copy at the faulting instruction and guarded() returns the
// errno for the request (-EIO, or -ENOSPC when the file system under the
// image is full), after one log line that names the image offset.
//
// Contract of guarded(fn):
//  - fn must own no object with a non-trivial destructor and take no lock:
//    it is left with siglongjmp. Copies, memsets and PageCursor walks fit.
//  - What fn stored before the fault stays stored; the caller decides what
//    that means (a write that was not linked yet is simply aborted).
//  - Nesting is allowed (the innermost guard catches).
//
// A SIGBUS outside any guard (metadata, which cannot be abandoned in the
// middle of a transaction with its locks held) cannot fail just one copy.
// In a registered mapping the handler puts an anonymous zero page over the
// faulting page, so the thread finishes what it was doing against it, and
// marks the media failed: the server then fails that request with -EIO
// (take_thread_fault()) and the file system stops (media_failed()); the
// journal rolls back at the next mount. One line names the offset and the
// area. Anywhere else (or if the page cannot be replaced) the signal kills
// the process as before.
//
// Both the server (copies into and out of pmem) and the shim (a reply
// copied out of the mapping into an io_uring buffer) use it; the handler is
// one per process. Thread safety: all calls are thread-safe; the guard is
// per thread.
#ifndef ZUFS_FAULT_GUARD_H
#define ZUFS_FAULT_GUARD_H

#include <csetjmp>
#include <cstddef>
#include <cstdint>

namespace zufs::fault {

// What a guarded region does with the mapping (log lines, injection rules).
enum class Access : uint8_t {
	kWrite, // file data stored into the mapping (a write, zeroing)
	kRead,	// loads from it (a copied read, a reply built from pmem)
	kMeta,	// a new block-map or directory block zeroed before it is linked
};

// An image mapping the handler and the log lines know about. The server
// registers its mapping at mount (fd: the image file, used after a fault to
// tell a full file system, a short file and a media error apart);
// data_off: where file data starts (smaller offsets are metadata).
void register_mapping(const void *base, size_t len, int fd, uint64_t data_off,
		      const char *name);
void unregister_mapping(const void *base);

// Install the SIGBUS handler (once per process; register_mapping does it).
void install_handler();

namespace detail {

struct Frame {
	sigjmp_buf env;
	Frame *prev;
};

// The faulting thread's last caught fault (set by the handler).
struct Caught {
	const void *addr;
	int code; // si_code
	bool injected;
};

extern thread_local Frame *t_frame;
extern thread_local Caught t_caught;

// After a caught fault: log one line, return the errno for the request.
int fault_errno(Access a, const char *what);
// The injection rules (inject.h) for an access about to happen: raises a
// SIGBUS at the first byte of a range they fail.
void inject_point(Access a, const void *at, size_t len);

} // namespace detail

// Run fn() with SIGBUS caught for this thread: 0, or the negative errno of
// a fault at [at, at+len) (what: for the log line, "write copy" ...).
template <typename Fn>
int guarded(Access a, const void *at, size_t len, const char *what, Fn &&fn)
{
	detail::Frame frame;
	frame.prev = detail::t_frame;
	if (sigsetjmp(frame.env, 0)) {
		detail::t_frame = frame.prev;
		return detail::fault_errno(a, what);
	}
	detail::t_frame = &frame;
	detail::inject_point(a, at, len);
	fn();
	detail::t_frame = frame.prev;
	return 0;
}

// Did this thread meet an unguarded fault since the last call? (clears it)
bool take_thread_fault();
// Has any registered mapping had an unguarded fault (a page replaced)?
bool media_failed();

// The image offset of addr in a registered mapping, or UINT64_MAX.
uint64_t image_offset(const void *addr);

// Faults caught since the start (all threads); for tests and statistics.
uint64_t caught_count();

} // namespace zufs::fault

#endif // ZUFS_FAULT_GUARD_H
