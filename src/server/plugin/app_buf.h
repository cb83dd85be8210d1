// SPDX-License-Identifier: BSD-3-Clause
//
// app_buf.h - private to src/server/plugin: the application's bytes of a
// request as the one buffer (app_ptr) a seed plugin's call takes.
#ifndef ZUS_PLUGIN_APP_BUF_H
#define ZUS_PLUGIN_APP_BUF_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "server/plugin/host_mount.h" // the SDK's PAGE_SIZE

namespace zus::plugin {

// [offset, offset + len) of a request's pages as one buffer: the pages
// themselves when they are consecutive (the FUSE buffers are), else a
// per-thread bounce buffer copied in and out.
class AppBuf {
  public:
	AppBuf(zufs::page_list pages, uint32_t offset, uint32_t len)
	    : pages_(pages), offset_(offset), len_(len)
	{
		size_t need =
			(size_t(offset) + len + PAGE_SIZE - 1) / PAGE_SIZE;
		if (!len) {
			static thread_local char empty[8];
			ptr_ = empty;
			return;
		}
		if (need > pages.size())
			return;
		bool contiguous = true;
		for (size_t i = 0; i < need; ++i) {
			if (!pages[i])
				return;
			if (i && static_cast<char *>(pages[i]) !=
					 static_cast<char *>(pages[i - 1]) +
						 PAGE_SIZE)
				contiguous = false;
		}
		if (contiguous) {
			ptr_ = static_cast<char *>(pages[0]) + offset;
			return;
		}
		static thread_local std::vector<char> bounce;
		bounce.resize(len);
		ptr_ = bounce.data();
		bounced_ = true;
	}
	char *ptr() const { return ptr_; }
	// bounce: the request's bytes into / out of the buffer
	void copy_in()
	{
		if (bounced_)
			walk([](char *buf, char *page, size_t n) {
				std::memcpy(buf, page, n);
			});
	}
	void copy_out()
	{
		if (bounced_)
			walk([](char *buf, char *page, size_t n) {
				std::memcpy(page, buf, n);
			});
	}

  private:
	template <typename Fn> void walk(Fn fn)
	{
		size_t done = 0, idx = offset_ / PAGE_SIZE,
		       off = offset_ % PAGE_SIZE;
		while (done < len_) {
			size_t n =
				std::min<size_t>(PAGE_SIZE - off, len_ - done);
			fn(ptr_ + done, static_cast<char *>(pages_[idx]) + off,
			   n);
			done += n;
			off = 0;
			++idx;
		}
	}
	zufs::page_list pages_;
	uint32_t offset_, len_;
	char *ptr_ = nullptr;
	bool bounced_ = false;
};

} // namespace zus::plugin

#endif // ZUS_PLUGIN_APP_BUF_H
