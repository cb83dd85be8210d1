// SPDX-License-Identifier: BSD-3-Clause
//
// persist.h - the server's one durability vocabulary (PMDK's: copy without
// drain, flush, drain, persist). Nothing else in the server calls libpmem's
// flush/drain/persist/memcpy/memset: every store that must survive a crash is
// announced here, so a crash harness can observe all of them (set_hook).
//
// Back-ends, picked per mapping at init():
//  - pmem (pmem_is_pmem): flush = CPU cache flush, drain = fence. Every
//    drained store is durable.
//  - file (the working copy of an image on an ordinary disk file,
//    persist_file.h): flush marks the touched pages dirty, drain does
//    nothing (the working copy outlives the process, and stores reach it in
//    program order), and durability comes in commits: sync_all() and
//    drain_durable() commit, a timer commits every few seconds.
//  - memory (an image in tmpfs, e.g. /dev/shm): nothing to do. Stores are
//    in the page cache, which outlives the process, and no disk is behind
//    it (a reboot loses the image whatever is done): flush, drain and
//    sync_all only tell the hook.
//  - msync (a block device, or the file back-end turned off): flush
//    records the touched pages in a per-thread pending list (merging
//    adjacent pages), drain msyncs the recorded ranges. A transaction thus
//    costs a few msyncs, not one per store, and threads never serialize on
//    a shared list.
//
// Thread safety: all calls are thread-safe; flush/drain act on the calling
// thread's pending stores only (a drain makes durable what *this* thread
// flushed). sync_all() makes the whole mapping durable.
#ifndef ZUS_PERSIST_H
#define ZUS_PERSIST_H

#include <cstddef>
#include <cstdint>
#include <functional>

namespace zus {

class FileImage;

// What a crash harness sees (set_hook). STORE is announced for the ranges the
// server writes through this module (copies, memsets, explicit stores).
enum class PersistEvent { STORE, FLUSH, DRAIN, SYNC_ALL };
using PersistHook = void (*)(PersistEvent ev, const void *addr, size_t len);

// Install (or clear with nullptr) the process-wide observer.
void set_persist_hook(PersistHook hook);

// [base, base+len) maps a file in memory (tmpfs): a Persist init()ed on it
// uses the memory back-end. add=false when it is unmapped.
void note_memory_mapping(const void *base, size_t len, bool add);

class Persist {
  public:
	// The back-end: file when [base, base+size) is the working copy of a
	// FileImage, else pmem or msync by pmem_is_pmem.
	void init(void *base, size_t size);
	bool is_pmem() const { return is_pmem_; }
	bool is_file() const { return file_ != nullptr; }

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
	// after a drain). For overwrites that no metadata depends on, into a
	// block its file owns (the file back-end writes these pages in place,
	// not through its journal).
	void memcpy_lazy(void *dst, const void *src, size_t len);

	// Flush for stores that may wait for sync_all(): a cache flush on real
	// pmem, nothing in msync mode (a dirty mark on the file back-end).
	void flush_lazy(const void *addr, size_t len);

	// drain(), and what this thread drained is durable even on the file
	// back-end (a commit there): for O_DSYNC writes. 0 or -EIO.
	int drain_durable();

	// O_DSYNC overwrites without a commit. memcpy_data() copies file data
	// over bytes in a block its file owns (no allocation, no metadata
	// with it): memcpy_nodrain() on pmem and in msync mode; on the file
	// back-end a copy marked as data (memcpy_lazy()) whose range l keeps.
	// sync_data() makes what l holds durable and empties it: with
	// data_only (nothing the data depends on is uncommitted: committed()
	// of the file's last metadata change) the file back-end writes just
	// those pages home (FileImage::write_data: one fdatasync, no journal);
	// otherwise, and elsewhere, as drain_durable(). The caller holds the
	// file's lock from the copy to sync_data(). 0 or -EIO.
	struct DataList {
		static constexpr int kMax = 32;
		struct {
			char *start, *end;
		} r[kMax];
		int n = 0;
		bool overflow = false;
	};
	void memcpy_data(void *dst, const void *src, size_t len, DataList *l);
	int sync_data(DataList *l, bool data_only);
	// fdatasync(2) of a file whose metadata is committed: every copy made
	// with memcpy_lazy() (by any thread) is durable, without a commit
	// where the file back-end can (FileImage::sync_data); elsewhere as
	// sync_all(). 0 or -EIO.
	int sync_data_all();
	// Commit epochs (file back-end; elsewhere 0 and always true): a
	// change made before epoch() returned e is durable once committed(e).
	uint64_t epoch() const;
	bool committed(uint64_t e) const;

	// Everything written to the mapping, by any thread, is durable. 0 or
	// -EIO (the file back-end's disk failed).
	int sync_all();

	// File back-end only (no-ops elsewhere). The commit barrier: called
	// with true before a commit copies the working copy out (no change
	// that leaves the image inconsistent may be in progress until it is
	// called with false). The allocation bitmap (bit n: block n in use).
	// A commit every interval_ms from a thread.
	void set_commit_barrier(std::function<void(bool enter)> fn);
	void track_allocation(const void *bitmap, uint64_t nbits);
	void start_commit_timer(unsigned interval_ms);
	// Stop it (a read-only remount); start_commit_timer starts it again.
	void stop_commit_timer();

  private:
	void *base_ = nullptr;
	size_t size_ = 0;
	bool is_pmem_ = false;
	bool memory_ = false;
	FileImage *file_ = nullptr;
};

} // namespace zus

#endif // ZUS_PERSIST_H
