// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/iov_iter.h"

#include <algorithm>
#include <cstdint>

#include "zufs/zus_api.h"

namespace zuf {

namespace {

constexpr uintptr_t kPageMask = PAGE_SIZE - 1;

uintptr_t seg_addr(const iovec &v, size_t off)
{
	return reinterpret_cast<uintptr_t>(v.iov_base) + off;
}

} // namespace

IovIter::IovIter(std::span<const iovec> iov) : iov_(iov)
{
	for (const iovec &v : iov)
		count_ += v.iov_len;
}

size_t IovIter::get_pages(std::span<void *> pages, size_t max_bytes,
			  size_t *start) const
{
	size_t seg = seg_, off = seg_off_;

	// Skip exhausted and empty segments to find the first byte.
	while (seg < iov_.size() && off == iov_[seg].iov_len) {
		++seg;
		off = 0;
	}
	*start = 0;
	if (!count_ || seg == iov_.size() || pages.empty())
		return 0;

	*start = seg_addr(iov_[seg], off) & kPageMask;
	size_t limit = std::min(
		{ count_, max_bytes, pages.size() * PAGE_SIZE - *start });
	size_t bytes = 0, nump = 0;
	uintptr_t prev_end = 0;

	while (bytes < limit && seg < iov_.size()) {
		size_t len = iov_[seg].iov_len - off;
		if (!len) {
			++seg;
			off = 0;
			continue;
		}
		uintptr_t addr = seg_addr(iov_[seg], off);
		// A page descriptor list is one run: join only at page edges.
		if (bytes && ((addr & kPageMask) || (prev_end & kPageMask)))
			break;

		size_t take = std::min(len, limit - bytes);
		uintptr_t first = addr & ~kPageMask;
		uintptr_t end = (addr + take + kPageMask) & ~kPageMask;
		for (uintptr_t p = first; p < end; p += PAGE_SIZE)
			pages[nump++] = reinterpret_cast<void *>(p);

		bytes += take;
		prev_end = addr + take;
		if (take < len)
			break;
		++seg;
		off = 0;
	}
	return bytes;
}

void IovIter::advance(size_t bytes)
{
	bytes = std::min(bytes, count_);
	count_ -= bytes;
	while (bytes) {
		size_t len = iov_[seg_].iov_len - seg_off_;
		if (bytes < len) {
			seg_off_ += bytes;
			return;
		}
		bytes -= len;
		++seg_;
		seg_off_ = 0;
	}
}

void IovIter::revert(size_t bytes)
{
	count_ += bytes;
	while (bytes) {
		if (bytes <= seg_off_) {
			seg_off_ -= bytes;
			return;
		}
		bytes -= seg_off_;
		--seg_;
		seg_off_ = iov_[seg_].iov_len;
	}
}

void IovIter::truncate(size_t count) { count_ = std::min(count_, count); }

} // namespace zuf
