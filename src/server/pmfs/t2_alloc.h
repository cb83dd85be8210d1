// SPDX-License-Identifier: BSD-3-Clause
//
// t2_alloc.h - the tier-2 block allocator (DRAM only, rebuilt at mount from
// the trees: tier.h).
//
// Contract:
//  - Blocks [1, nblocks) can be handed out; block 0 never (a leaf of
//    kT2Leaf alone would look like a mapped nothing).
//  - used() and nfree() are exact counts, read without the caller's lock:
//    "full" is known without a scan.
//  - alloc() finds free blocks from a cursor on, through a summary bitmap
//    of full words, so a nearly full or full T2 costs O(blocks / 4096)
//    word reads, never a bit-by-bit scan; it returns fewer than asked
//    (0: none) only when no free block is left that skip() lets through.
//  - Not thread-safe: the caller serializes alloc/free/mark (tier_state.h:
//    TierState::mu); used()/nfree() may be read concurrently.
#ifndef ZUS_PMFS_T2_ALLOC_H
#define ZUS_PMFS_T2_ALLOC_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

namespace zus::pmfs {

class T2Alloc {
  public:
	void init(uint64_t nblocks);

	// Mount: b is used by a leaf. false when it already was (named twice).
	bool mark(uint64_t b);
	// Up to n free blocks into out[], consecutive where the free space
	// is, from the cursor on (wrapping once); a block for which skip(b)
	// is true stays free. Returns how many.
	uint64_t alloc(uint64_t n, uint64_t *out,
		       const std::function<bool(uint64_t)> &skip);
	// b back; false if it was not in use (nothing changes).
	bool free(uint64_t b);
	bool in_use(uint64_t b) const;

	uint64_t used() const { return used_.load(std::memory_order_relaxed); }
	uint64_t nfree() const
	{
		uint64_t u = used();
		return nblocks_ > u + 1 ? nblocks_ - 1 - u : 0;
	}

  private:
	void set(uint64_t b);
	// The first word at or after w that has a free bit, or nwords_.
	uint64_t next_open_word(uint64_t w) const;

	uint64_t nblocks_ = 0;
	std::vector<uint64_t> bits_; // 1 = used (block 0 and the tail too)
	std::vector<uint64_t> full_; // bit per word of bits_: 1 = all used
	uint64_t cursor_ = 1;
	std::atomic<uint64_t> used_{ 0 };
};

} // namespace zus::pmfs

#endif // ZUS_PMFS_T2_ALLOC_H
