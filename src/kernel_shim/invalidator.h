// SPDX-License-Identifier: BSD-3-Clause
//
// invalidator.h - where the shim sends "the cached pages of this range are
// stale" (zuf: unmap_mapping_range on the inode's mapping).
//
// The server reports such ranges as wr_unmap, IOM_UNMAP or a SETATTR unmap
// range whenever the block behind a range changes. Under FUSE the page cache
// is that mapping, and invalidating it from inside the request that caused
// the change can deadlock (the kernel holds the page locks until the reply),
// so the FUSE implementation defers every call to a notifier thread that runs
// after the reply. The in-process API works with no invalidator at all.
//
// invalidate() is thread-safe and never blocks on the kernel.
#ifndef ZUF_INVALIDATOR_H
#define ZUF_INVALIDATOR_H

#include <cstdint>

namespace zuf {

class Invalidator {
  public:
	virtual ~Invalidator() = default;
	// Bytes [offset, offset + len) of ino; len == 0 means to EOF.
	virtual void invalidate(uint64_t ino, uint64_t offset,
				uint64_t len) = 0;
};

} // namespace zuf

#endif // ZUF_INVALIDATOR_H
