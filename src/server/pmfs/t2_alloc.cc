// SPDX-License-Identifier: BSD-3-Clause
//
// t2_alloc.cc - the T2 allocator: a bitmap with exact counts and a summary
// bit per 64-block word (full or not), so "T2 is full" costs nothing and
// finding space in a nearly full T2 reads one summary word per 4096 blocks;
// and the T2 leaves of the image: the allocator built from them at mount,
// T2 blocks given back, T2's share of statfs.
#include "server/pmfs/t2_alloc.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "server/pmfs/bmap.h"
#include "server/pmfs/format.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier_state.h"

namespace zus::pmfs {

void T2Alloc::init(uint64_t nblocks)
{
	nblocks_ = nblocks;
	const uint64_t nwords = (nblocks + 63) / 64;
	bits_.assign(nwords, 0);
	full_.assign((nwords + 63) / 64, 0);
	used_ = 0;
	cursor_ = 1;
	if (!nblocks)
		return;
	// Block 0 and the bits past the end are never free.
	bits_[0] |= 1;
	if (nblocks % 64)
		bits_.back() |= ~0ULL << (nblocks % 64);
	for (uint64_t w = 0; w < nwords; ++w)
		if (bits_[w] == ~0ULL)
			full_[w / 64] |= 1ULL << (w % 64);
	if (nwords % 64)
		full_.back() |= ~0ULL << (nwords % 64);
}

void T2Alloc::set(uint64_t b)
{
	uint64_t &w = bits_[b / 64];
	w |= 1ULL << (b % 64);
	if (w == ~0ULL)
		full_[b / 4096] |= 1ULL << ((b / 64) % 64);
	used_.fetch_add(1, std::memory_order_relaxed);
}

bool T2Alloc::in_use(uint64_t b) const
{
	return b && b < nblocks_ && (bits_[b / 64] >> (b % 64)) & 1;
}

bool T2Alloc::mark(uint64_t b)
{
	if (!b || b >= nblocks_ || in_use(b))
		return false;
	set(b);
	return true;
}

bool T2Alloc::free(uint64_t b)
{
	if (!in_use(b))
		return false;
	bits_[b / 64] &= ~(1ULL << (b % 64));
	full_[b / 4096] &= ~(1ULL << ((b / 64) % 64));
	used_.fetch_sub(1, std::memory_order_relaxed);
	return true;
}

uint64_t T2Alloc::next_open_word(uint64_t w) const
{
	const uint64_t nwords = bits_.size();
	for (uint64_t s = w / 64; s < full_.size(); ++s) {
		uint64_t open = ~full_[s];
		if (s == w / 64)
			open &= ~0ULL << (w % 64);
		if (open) {
			uint64_t at = s * 64 + uint64_t(__builtin_ctzll(open));
			return at < nwords ? at : nwords;
		}
	}
	return nwords;
}

uint64_t T2Alloc::alloc(uint64_t n, uint64_t *out,
			const std::function<bool(uint64_t)> &skip)
{
	uint64_t got = 0;
	if (!n || !nfree())
		return 0;
	const uint64_t nwords = bits_.size();
	const uint64_t start = cursor_ < nblocks_ ? cursor_ : 1;
	// From the cursor to the end, then from 0 up to the cursor.
	for (int pass = 0; pass < 2 && got < n; ++pass) {
		uint64_t w = pass ? 0 : start / 64;
		const uint64_t end_w = pass ? start / 64 + 1 : nwords;
		while (got < n) {
			w = next_open_word(w);
			if (w >= end_w)
				break;
			uint64_t open = ~bits_[w];
			if (!pass && w == start / 64)
				open &= ~0ULL << (start % 64);
			if (pass && w == start / 64 && start % 64)
				open &= (1ULL << (start % 64)) - 1;
			while (open && got < n) {
				uint64_t b = w * 64 +
					     uint64_t(__builtin_ctzll(open));
				open &= open - 1;
				if (skip && skip(b))
					continue;
				set(b);
				out[got++] = b;
				cursor_ = b + 1;
			}
			++w;
		}
	}
	return got;
}

// ---- T2 leaves: the allocator at mount, T2 blocks back, statfs -----------

namespace {

// Every T2 leaf of the tree below node (level lvl >= 1; lvl 0: node is
// the leaf itself), for tier_mount.
template <typename Fn>
void walk_leaves(const zus_sb_info &sbi, uint64_t node, uint32_t lvl,
		 uint64_t base, Fn &&fn)
{
	if (lvl == 0) {
		if (node & kT2Leaf)
			fn(base, leaf_block(node));
		return;
	}
	if (!sbi.valid_data_bn(node))
		return;
	auto *slots = reinterpret_cast<const uint64_t *>(sbi.blk(node));
	uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
	for (uint64_t s = 0; s < kFanout; ++s)
		if (slots[s])
			walk_leaves(sbi, slots[s], lvl - 1, base + s * span,
				    fn);
}

} // namespace

bool t2_leaf_valid(const zus_sb_info &sbi, uint64_t v)
{
	if (!(v & kT2Leaf))
		return false;
	uint64_t b = v & ~kT2Leaf;
	return b && b < sbi.t2_blocks;
}

void t2_free(zus_sb_info &sbi, uint64_t t2)
{
	TierState &ts = tier_of(sbi);
	std::lock_guard g(ts.mu);
	ts.alloc.free(t2);
}

uint64_t t2_used(zus_sb_info &sbi)
{
	if (!sbi.t2_blocks)
		return 0;
	return tier_of(sbi).alloc.used();
}

uint64_t t2_free_blocks(zus_sb_info &sbi)
{
	return sbi.t2_blocks ? tier_of(sbi).alloc.nfree() : 0;
}

int tier_mount(zus_sb_info &sbi, std::string *why)
{
	const uint64_t need = sbi.sb->s_t2_blocks;
	if (!need && !sbi.t2_blocks)
		return 0;
	if (sbi.t2_blocks && sbi.t2_blocks < need) {
		*why = "has blocks on a tier 2 of " +
		       std::to_string(need * kBlockSize) +
		       " bytes; the T2 given has " +
		       std::to_string(sbi.t2_blocks * kBlockSize);
		return -EINVAL;
	}
	TierState &ts = tier_of(sbi);
	uint64_t leaves = 0, bad = 0, twice = 0;
	for (uint64_t ino = 1; ino <= sbi.sb->s_inode_count; ++ino) {
		const zus_inode *zi = sbi.zi_of(ino);
		if (zi->i_ino != ino || !S_ISREG(zi->i_mode) ||
		    !zi->i_on_disk.a[0] || zi->i_on_disk.a[1] > kMaxHeight)
			continue;
		walk_leaves(sbi, zi->i_on_disk.a[0],
			    uint32_t(zi->i_on_disk.a[1]), 0,
			    [&](uint64_t, uint64_t v) {
			++leaves;
			if (!t2_leaf_valid(sbi, v)) {
				++bad;
				return;
			}
			if (!ts.alloc.mark(v & ~kT2Leaf))
				++twice;
		});
	}
	if (!sbi.t2_blocks) {
		if (leaves) {
			*why = "has " + std::to_string(leaves) +
			       " blocks on tier 2; mount it with --t2=PATH (at least " +
			       std::to_string(need * kBlockSize) + " bytes)";
			return -EINVAL;
		}
		if (!sbi.ro) { // every T2 block came back: T2 is not needed any more
			sbi.sb->s_t2_blocks = 0;
			write_super(sbi.base, sbi.map_len, sbi.sb);
		}
		return 0;
	}
	if (bad || twice)
		fprintf(stderr,
			"zufuse: image %s: %lu tier-2 leaves outside the T2, %lu named "
			"twice (read as holes / shared; run fsck.zufs)\n",
			sbi.path.c_str(), (unsigned long)bad,
			(unsigned long)twice);
	return 0;
}

void tier_statfs(zus_sb_info &sbi, uint64_t *blocks, uint64_t *bfree)
{
	if (!sbi.t2_blocks)
		return;
	uint64_t usable = sbi.t2_blocks - 1; // T2 block 0 is never used
	uint64_t used = std::min(t2_used(sbi), usable);
	*blocks += usable;
	*bfree += usable - used;
}

} // namespace zus::pmfs
