// SPDX-License-Identifier: BSD-3-Clause
//
// pages.h - the bytes of a request: [hdr.offset, hdr.offset + hdr.len) across
// its page descriptors (zuf: struct page **pages + first-page offset). The
// server copies straight to/from these pages; PageCursor hands out the
// page-bounded pieces in order.
#ifndef ZUS_PAGES_H
#define ZUS_PAGES_H

#include <cstddef>
#include <cstdint>

#include "zufs/channel.h"

namespace zus {

// Do the pages hold [offset, offset + len)? (every needed page non-null)
inline bool pages_cover(zufs::page_list pages, uint32_t offset, uint32_t len)
{
	if (!len)
		return true;
	uint64_t need = (uint64_t(offset) + len + PAGE_SIZE - 1) / PAGE_SIZE;
	if (need > pages.size())
		return false;
	for (uint64_t i = 0; i < need; ++i)
		if (!pages[i] ||
		    (reinterpret_cast<uintptr_t>(pages[i]) & (PAGE_SIZE - 1)))
			return false;
	return true;
}

class PageCursor {
  public:
	PageCursor(zufs::page_list pages, uint32_t offset)
	    : pages_(pages), idx_(offset / PAGE_SIZE), off_(offset % PAGE_SIZE)
	{
	}

	// fn(char *p, size_t n) for the next len bytes, in page-bounded pieces.
	template <typename Fn> void walk(size_t len, Fn fn)
	{
		while (len) {
			size_t n = PAGE_SIZE - off_;
			if (n > len)
				n = len;
			fn(static_cast<char *>(pages_[idx_]) + off_, n);
			len -= n;
			off_ += n;
			if (off_ == PAGE_SIZE) {
				off_ = 0;
				++idx_;
			}
		}
	}

	// Copy len bytes from the request pages to dst.
	void copy_out(char *dst, size_t len)
	{
		walk(len, [&](char *p, size_t n) {
			__builtin_memcpy(dst, p, n);
			dst += n;
		});
	}

  private:
	zufs::page_list pages_;
	size_t idx_;
	size_t off_;
};

} // namespace zus

#endif // ZUS_PAGES_H
