// SPDX-License-Identifier: BSD-3-Clause
//
// persist.h - the server's one durability vocabulary (PMDK's: copy without
// drain, flush, drain, persist). Nothing else in the server calls libpmem's
// flush/drain/persist/memcpy/memset: every store that must survive a crash is
// announced here, so a crash harness can observe all of them (set_hook).
//
// Two modes, picked per mapping at init():
//  - pmem (pmem_is_pmem): flush = CPU cache flush, drain = fence.
//  - msync (an ordinary file or tmpfs): flush records the touched pages in a
//    per-thread pending list (merging adjacent pages), drain msyncs the
//    recorded ranges. A transaction thus costs a few msyncs, not one per
//    store, and threads never serialize on a shared list.
//
// Thread safety: all calls are thread-safe; flush/drain act on the calling
// thread's pending stores only (a drain makes durable what *this* thread
// flushed). sync_all() makes the whole mapping durable.
#ifndef ZUS_PERSIST_H
#define ZUS_PERSIST_H

#include <cstddef>
#include <cstdint>

namespace zus {

// What a crash harness sees (set_hook). STORE is announced for the ranges the
// server writes through this module (copies, memsets, explicit stores).
enum class PersistEvent { STORE, FLUSH, DRAIN, SYNC_ALL };
using PersistHook = void (*)(PersistEvent ev, const void *addr, size_t len);

// Install (or clear with nullptr) the process-wide observer.
void set_persist_hook(PersistHook hook);

class Persist {
  public:
	void init(void *base, size_t size);
	bool is_pmem() const { return is_pmem_; }

	// Make [addr, addr+len) durable at the next drain() of this thread.
	void flush(const void *addr, size_t len);
	// Wait until everything this thread flushed is durable.
	void drain();
	void persist(const void *addr, size_t len)
	{
		flush(addr, len);
		drain();
	}

	// Copy/set into the mapping and flush, without drain (non-temporal
	// where the CPU allows).
	void memcpy_nodrain(void *dst, const void *src, size_t len);
	void memset_nodrain(void *dst, int c, size_t len);

	// Copy into the mapping with no durability bookkeeping at all: the data
	// becomes durable at the next sync_all() (or by itself on real pmem
	// after a drain). For overwrites that no metadata depends on.
	void memcpy_lazy(void *dst, const void *src, size_t len);

	// Flush for stores that may wait for sync_all(): a cache flush on real
	// pmem, nothing in msync mode.
	void flush_lazy(const void *addr, size_t len)
	{
		if (is_pmem_)
			flush(addr, len);
	}

	// Everything written to the mapping, by any thread, is durable.
	void sync_all();

  private:
	void *base_ = nullptr;
	size_t size_ = 0;
	bool is_pmem_ = false;
};

} // namespace zus

#endif // ZUS_PERSIST_H
