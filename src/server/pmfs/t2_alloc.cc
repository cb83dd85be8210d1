// SPDX-License-Identifier: BSD-3-Clause
//
// t2_alloc.cc - the T2 allocator: a bitmap with exact counts and a summary
// bit per 64-block word (full or not), so "T2 is full" costs nothing and
// finding space in a nearly full T2 reads one summary word per 4096 blocks.
#include "server/pmfs/t2_alloc.h"

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
				uint64_t b = w * 64 + uint64_t(__builtin_ctzll(open));
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

} // namespace zus::pmfs
