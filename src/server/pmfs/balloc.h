// SPDX-License-Identifier: BSD-3-Clause
//
// balloc.h - block allocation.
//
// The persistent bitmap (one bit per block, set = used) is changed only
// inside transactions (Tx::bits). In DRAM, the data area is split into
// groups, each with its own mutex, bitmap copy and search cursor; a thread
// allocates from "its" group (by journal lane) and only moves on when that
// group is exhausted, so CPUs do not serialize on one lock.
//
// Lifecycle of a block: alloc() (DRAM) -> Tx::bits(set) -> commit. A free:
// Tx::bits(clear) -> commit -> release() (or later, when pins allow: see
// zus_sb_info::release_blocks).
#ifndef ZUS_PMFS_BALLOC_H
#define ZUS_PMFS_BALLOC_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "zufs/zus_api.h"

struct zus_sb_info;

namespace zus::pmfs {

class BlockAlloc {
  public:
	// The persistent bitmap is usable after bind() (journal recovery);
	// init() then builds the DRAM state from it.
	void bind(zus_sb_info *sbi) { sbi_ = sbi; }
	void init(zus_sb_info *sbi);

	// Reserve up to n blocks, preferring one run starting at or after
	// the thread's cursor. Fills runs as (bn, len) pairs into out (at most
	// max_runs); returns the number of blocks reserved (< n only when the
	// device is full; 0 -> ENOSPC).
	struct Run {
		uint64_t bn, n;
	};
	uint64_t alloc(uint64_t n, Run *out, int max_runs, int *nruns);
	uint64_t alloc_one(); // 0 when full
	void release(uint64_t bn, uint64_t n);
	// Take free block bn out of use until umount (a media fault there:
	// fault/guard.h); the persistent bitmap keeps it free. False if it
	// was not free (or not a data block).
	bool quarantine(uint64_t bn);

	uint64_t free_blocks() const { return free_.load(std::memory_order_relaxed); }
	uint64_t data_blocks() const { return last_ - first_; }

	// The persistent bitmap (called by the journal only).
	void persist_bits(uint64_t bn, uint64_t n, bool set);
	bool persistent_bit(uint64_t bn) const;

  private:
	struct Group {
		std::mutex mu;
		uint64_t first = 0, last = 0; // [first, last) block numbers
		uint64_t cursor = 0;	      // next block to look at
		uint64_t nfree = 0;
		std::vector<uint64_t> used; // bit per block, relative to first
	};
	uint64_t alloc_in(Group &g, uint64_t n, Run *out, int max_runs, int *nruns);
	Group &group_of(uint64_t bn);

	zus_sb_info *sbi_ = nullptr;
	uint64_t first_ = 0, last_ = 0;
	uint64_t per_group_ = 0;
	std::unique_ptr<Group[]> groups_;
	uint32_t ngroups_ = 0;
	std::atomic<uint64_t> free_{0};
};

class Tx;

// Mark runs fresh from BlockAlloc::alloc as used inside tx (Tx::bits). On
// failure the runs tx does not own yet go back to the allocator, and the
// error is returned; the runs tx already logged are undone with it.
int claim_runs(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs,
	       int nruns);
// claim_runs() for runs about to be mapped into zi, whose size, blocks and
// tree root change with them: zi is logged in tx too.
int claim_runs_for(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs,
		   int nruns, zus_inode *zi);

} // namespace zus::pmfs

#endif // ZUS_PMFS_BALLOC_H
