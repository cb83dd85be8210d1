// SPDX-License-Identifier: BSD-3-Clause
//
// iov_iter.h - a cursor over the buffers of one request, the shim's
// struct iov_iter (lib/iov_iter.c: iov_iter_get_pages, iov_iter_advance,
// iov_iter_revert, iov_iter_truncate).
//
// The buffers are the application's bytes: the FUSE write buffer, the reply
// buffer of a read, or a caller's iovec array in the in-process API. The
// cursor never copies; get_pages() describes the next contiguous run as
// page descriptors (page-aligned addresses) plus the offset of the data in
// the first page, which is exactly what travels in a zufs_ioc_IO.
//
// Not thread-safe; the iovec array must outlive the cursor.
#ifndef ZUF_IOV_ITER_H
#define ZUF_IOV_ITER_H

#include <sys/uio.h>

#include <cstddef>
#include <span>

namespace zuf {

class IovIter {
  public:
	IovIter() = default;
	explicit IovIter(std::span<const iovec> iov);

	// Bytes left between the cursor and the end (after truncate()).
	size_t count() const { return count_; }

	// Describe the data at the cursor: at most max_bytes and at most
	// pages.size() pages. Segments are joined while the data stays
	// contiguous in page terms (a segment ends on a page boundary and the
	// next starts on one); otherwise the run stops at the segment's end,
	// as the kernel's iov_iter_get_pages does. Does not advance.
	// Returns the bytes described; *start is the offset in pages[0].
	size_t get_pages(std::span<void *> pages, size_t max_bytes,
			 size_t *start) const;

	void advance(size_t bytes);  // bytes <= count()
	void revert(size_t bytes);   // undo advance(); bytes <= done so far
	void truncate(size_t count); // count() = min(count(), count)

  private:
	std::span<const iovec> iov_;
	size_t seg_ = 0;     // segment of the cursor
	size_t seg_off_ = 0; // offset of the cursor in it
	size_t count_ = 0;   // bytes left
};

} // namespace zuf

#endif // ZUF_IOV_ITER_H
