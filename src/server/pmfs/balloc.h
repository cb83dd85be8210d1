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
//
// Who may take a free block (the counts, not the bitmap copies):
//  - a Hold: the blocks one request owns. While a Hold lives on a thread,
//    every block that thread releases goes to it (the room its own
//    synchronous eviction made: tier_make_room), and that thread's alloc()
//    takes from it first. So the room a WRITE made cannot be taken by
//    other writers before the WRITE uses it; the rest goes back when the
//    Hold ends.
//  - the reserve (set_reserve, at every mount: 64 blocks, fewer on a tiny
//    image): blocks only an operation that frees space may take (a
//    ReserveScope on its thread: a shrinking truncate or a punch whose
//    partial block is shared (refc.h) or on T2, an xattr removed), as
//    ext4 keeps reserved clusters, so freeing never fails with ENOSPC.
//    Released blocks refill it first, before any Hold.
//  - everyone else: the rest (available()).
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
	// The blocks of runs, one after another: next() gives the next one
	// (the caller takes no more than the runs hold).
	struct RunBlocks {
		const Run *run;
		uint64_t k = 0;
		uint64_t next()
		{
			const uint64_t bn = run->bn + k;
			if (++k == run->n) {
				++run;
				k = 0;
			}
			return bn;
		}
	};
	uint64_t alloc(uint64_t n, Run *out, int max_runs, int *nruns);
	uint64_t alloc_one(); // 0 when full
	void release(uint64_t bn, uint64_t n);
	// Take free block bn out of use until umount (a media fault there:
	// fault/guard.h); the persistent bitmap keeps it free. False if it
	// was not free (or not a data block).
	bool quarantine(uint64_t bn);

	// Free blocks, held and reserved ones included (statfs's f_bfree).
	uint64_t free_blocks() const
	{
		return free_.load(std::memory_order_relaxed);
	}
	uint64_t data_blocks() const { return last_ - first_; }
	// What this thread's alloc() can get now: the unheld free blocks and
	// its Hold's (the reserve not counted).
	uint64_t available() const;
	// Blocks this thread's Hold owns (0 without one).
	uint64_t held_here() const;
	bool holding() const { return hold_here() != nullptr; }

	// Keep up to n blocks for freeing operations (see above).
	void set_reserve(uint64_t n);
	// Blocks in the reserve now (not available to most allocations).
	uint64_t reserved() const
	{
		int64_t r = reserve_.load(std::memory_order_relaxed);
		return r > 0 ? uint64_t(r) : 0;
	}

	// A request's own blocks (see above); one per thread (a nested Hold
	// leaves the outer one in charge).
	class Hold {
	  public:
		explicit Hold(BlockAlloc &ba);
		~Hold();
		Hold(const Hold &) = delete;
		Hold &operator=(const Hold &) = delete;

	  private:
		friend class BlockAlloc;
		BlockAlloc &ba_;
		bool active_ = false;
		uint64_t n_ = 0;
	};
	// While it lives, this thread's alloc() may take from the reserve.
	class ReserveScope {
	  public:
		ReserveScope() : ReserveScope(true) {}
		explicit ReserveScope(bool on); // on = false: no change
		~ReserveScope();
		ReserveScope(const ReserveScope &) = delete;
		ReserveScope &operator=(const ReserveScope &) = delete;

	  private:
		bool prev_;
	};

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
	uint64_t alloc_in(Group &g, uint64_t n, Run *out, int max_runs,
			  int *nruns);
	Group &group_of(uint64_t bn);
	Hold *hold_here() const;
	// Take up to n from a count (CAS, never below 0); returns how many.
	static uint64_t take(std::atomic<int64_t> &c, uint64_t n);
	// n blocks became free (bits already clear): to this thread's Hold,
	// else the reserve up to its target, else everyone.
	void credit(uint64_t n);

	zus_sb_info *sbi_ = nullptr;
	uint64_t first_ = 0, last_ = 0;
	uint64_t per_group_ = 0;
	std::unique_ptr<Group[]> groups_;
	uint32_t ngroups_ = 0;
	std::atomic<uint64_t> free_{ 0 };
	// free_ = avail_ + reserve_ + what the Holds own. Counts are taken
	// before bits are set and given after bits are cleared, so a count
	// never promises a block that is not free.
	std::atomic<int64_t> avail_{ 0 };
	std::atomic<int64_t> reserve_{ 0 };
	uint64_t reserve_target_ = 0;
};

class Tx;

// Mark runs fresh from BlockAlloc::alloc as used inside tx (Tx::bits). On
// failure the runs tx does not own yet go back to the allocator, and the
// error is returned; the runs tx already logged are undone with it.
int claim_runs(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs, int nruns);
// claim_runs() for runs about to be mapped into zi, whose size, blocks and
// tree root change with them: zi is logged in tx too.
int claim_runs_for(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs,
		   int nruns, zus_inode *zi);

} // namespace zus::pmfs

#endif // ZUS_PMFS_BALLOC_H
