// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/balloc.h"

#include <algorithm>
#include <atomic>
#include <bit>

#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

namespace {

uint64_t *bitmap_words(zus_sb_info *sbi)
{
	return reinterpret_cast<uint64_t *>(sbi->blk(sbi->sb->s_bitmap_blk));
}

// Small per-thread index so a thread keeps allocating from one group.
uint32_t thread_slot()
{
	static std::atomic<uint32_t> next{ 0 };
	thread_local uint32_t mine = next.fetch_add(1);
	return mine;
}

// The thread's Hold (of some mount) and whether it may use the reserve.
thread_local BlockAlloc::Hold *t_hold = nullptr;
thread_local bool t_use_reserve = false;

} // namespace

void BlockAlloc::persist_bits(uint64_t bn, uint64_t n, bool set)
{
	uint64_t *w = bitmap_words(sbi_);
	uint64_t end = bn + n;
	uint64_t first_word = bn / 64, last_word = (end - 1) / 64;
	for (uint64_t b = bn; b < end;) {
		uint64_t wi = b / 64, bit = b % 64;
		uint64_t cnt = std::min<uint64_t>(64 - bit, end - b);
		uint64_t mask = (cnt == 64 ? ~0ULL : ((1ULL << cnt) - 1))
				<< bit;
		std::atomic_ref<uint64_t> word(w[wi]);
		if (set)
			word.fetch_or(mask, std::memory_order_relaxed);
		else
			word.fetch_and(~mask, std::memory_order_relaxed);
		b += cnt;
	}
	sbi_->persist.flush(w + first_word, (last_word - first_word + 1) * 8);
}

bool BlockAlloc::persistent_bit(uint64_t bn) const
{
	uint64_t *w = bitmap_words(sbi_);
	return (std::atomic_ref<uint64_t>(w[bn / 64])
			.load(std::memory_order_relaxed) >>
		(bn % 64)) &
	       1;
}

void BlockAlloc::init(zus_sb_info *sbi)
{
	sbi_ = sbi;
	first_ = sbi->sb->s_data_blk;
	last_ = sbi->sb->s_nblocks;
	uint64_t n = last_ - first_;
	// About 8 MiB per group, at most 64 groups, at least one.
	ngroups_ = static_cast<uint32_t>(std::clamp<uint64_t>(n / 2048, 1, 64));
	per_group_ = (n + ngroups_ - 1) / ngroups_;
	groups_ = std::make_unique<Group[]>(ngroups_);
	uint64_t total = 0;
	const uint64_t *pw = bitmap_words(sbi);
	// 64 persistent bits starting at any block number.
	auto bits_at = [&](uint64_t b) {
		uint64_t lo = pw[b / 64] >> (b % 64);
		if (b % 64)
			lo |= pw[b / 64 + 1] << (64 - b % 64);
		return lo;
	};
	const uint64_t bitmap_bits = sbi->sb->s_bitmap_blocks * kBlockSize * 8;
	for (uint32_t i = 0; i < ngroups_; ++i) {
		Group &g = groups_[i];
		g.first = first_ + i * per_group_;
		g.last = std::min(last_, g.first + per_group_);
		g.cursor = g.first;
		g.used.assign((g.last - g.first + 63) / 64, 0);
		for (uint64_t w = 0; w < g.used.size(); ++w) {
			uint64_t b = g.first + w * 64;
			uint64_t v = b + 128 <= bitmap_bits ? bits_at(b) : 0;
			if (b + 128 > bitmap_bits) // the last words: bit by bit
				for (uint64_t k = 0; k < 64 && b + k < g.last;
				     ++k)
					v |= uint64_t(persistent_bit(b + k))
					     << k;
			uint64_t valid = g.last - b >= 64 ?
						 ~0ULL :
						 (1ULL << (g.last - b)) - 1;
			v |= ~valid; // bits past the end of the group count as used
			g.used[w] = v;
			g.nfree += std::popcount(~v);
		}
		total += g.nfree;
	}
	free_ = total;
	avail_ = int64_t(total);
	reserve_ = 0;
	reserve_target_ = 0;
}

void BlockAlloc::set_reserve(uint64_t n)
{
	reserve_target_ = n; // (called again: only the difference moves)
	const int64_t cur = reserve_.load(std::memory_order_relaxed);
	if (int64_t(n) > cur)
		reserve_.fetch_add(
			int64_t(take(avail_, uint64_t(int64_t(n) - cur))),
			std::memory_order_relaxed);
	else if (int64_t(n) < cur)
		avail_.fetch_add(
			int64_t(take(reserve_, uint64_t(cur - int64_t(n)))),
			std::memory_order_relaxed);
}

uint64_t BlockAlloc::take(std::atomic<int64_t> &c, uint64_t n)
{
	int64_t cur = c.load(std::memory_order_relaxed);
	for (;;) {
		if (cur <= 0 || !n)
			return 0;
		int64_t k = std::min<int64_t>(cur, int64_t(n));
		if (c.compare_exchange_weak(cur, cur - k,
					    std::memory_order_relaxed))
			return uint64_t(k);
	}
}

BlockAlloc::Hold *BlockAlloc::hold_here() const
{
	return t_hold && &t_hold->ba_ == this ? t_hold : nullptr;
}

uint64_t BlockAlloc::held_here() const
{
	Hold *h = hold_here();
	return h ? h->n_ : 0;
}

uint64_t BlockAlloc::available() const
{
	int64_t a = avail_.load(std::memory_order_relaxed);
	return (a > 0 ? uint64_t(a) : 0) + held_here();
}

void BlockAlloc::credit(uint64_t n)
{
	// The reserve first (at most its target: a Hold loses little), so a
	// full file system that still evicts keeps it filled.
	int64_t cur = reserve_.load(std::memory_order_relaxed);
	while (n && cur < int64_t(reserve_target_)) {
		int64_t k = std::min<int64_t>(int64_t(reserve_target_) - cur,
					      int64_t(n));
		if (reserve_.compare_exchange_weak(cur, cur + k,
						   std::memory_order_relaxed))
			n -= uint64_t(k);
	}
	if (Hold *h = hold_here())
		h->n_ += n;
	else
		avail_.fetch_add(int64_t(n), std::memory_order_relaxed);
}

BlockAlloc::Hold::Hold(BlockAlloc &ba) : ba_(ba)
{
	if (!t_hold) {
		t_hold = this;
		active_ = true;
	}
}

BlockAlloc::Hold::~Hold()
{
	if (!active_)
		return;
	t_hold = nullptr;
	if (n_)
		ba_.credit(n_); // to the reserve, then everyone
}

BlockAlloc::ReserveScope::ReserveScope(bool on) : prev_(t_use_reserve)
{
	t_use_reserve = prev_ || on;
}

BlockAlloc::ReserveScope::~ReserveScope() { t_use_reserve = prev_; }

BlockAlloc::Group &BlockAlloc::group_of(uint64_t bn)
{
	return groups_[(bn - first_) / per_group_];
}

uint64_t BlockAlloc::alloc_in(Group &g, uint64_t n, Run *out, int max_runs,
			      int *nruns)
{
	std::lock_guard lk(g.mu);
	uint64_t got = 0;
	uint64_t span = g.last - g.first;
	uint64_t scanned = 0;
	uint64_t b = g.cursor - g.first;
	while (got < n && g.nfree && *nruns < max_runs && scanned < span + 64) {
		if (b >= span) {
			b = 0;
		}
		uint64_t &w = g.used[b / 64];
		if (w == ~0ULL) { // skip full words quickly
			uint64_t step = 64 - b % 64;
			b += step;
			scanned += step;
			continue;
		}
		if (w & (1ULL << (b % 64))) {
			++b;
			++scanned;
			continue;
		}
		// Take a run of free bits starting at b.
		uint64_t start = b;
		while (got < n && b < span &&
		       !(g.used[b / 64] & (1ULL << (b % 64)))) {
			g.used[b / 64] |= 1ULL << (b % 64);
			++b;
			++got;
			--g.nfree;
		}
		scanned += b - start;
		out[(*nruns)++] = { g.first + start, b - start };
	}
	g.cursor = g.first + (b >= span ? 0 : b);
	return got;
}

uint64_t BlockAlloc::alloc(uint64_t n, Run *out, int max_runs, int *nruns)
{
	*nruns = 0;
	// The counts first (this thread's Hold, everyone's, the reserve if
	// this thread may), then the bits.
	Hold *h = hold_here();
	const uint64_t from_hold = h ? std::min(n, h->n_) : 0;
	if (h)
		h->n_ -= from_hold;
	const uint64_t from_avail = take(avail_, n - from_hold);
	const uint64_t from_res =
		t_use_reserve ? take(reserve_, n - from_hold - from_avail) : 0;
	const uint64_t want = from_hold + from_avail + from_res;
	uint64_t got = 0;
	uint32_t home = thread_slot() % ngroups_;
	for (uint32_t i = 0; i < ngroups_ && got < want && *nruns < max_runs;
	     ++i) {
		Group &g = groups_[(home + i) % ngroups_];
		got += alloc_in(g, want - got, out, max_runs, nruns);
	}
	free_.fetch_sub(got, std::memory_order_relaxed);
	// Counts not used (max_runs reached) go back where they came from.
	uint64_t back = want - got;
	const uint64_t to_res = std::min(back, from_res);
	reserve_.fetch_add(int64_t(to_res), std::memory_order_relaxed);
	back -= to_res;
	const uint64_t to_hold = std::min(back, from_hold);
	if (h)
		h->n_ += to_hold;
	back -= to_hold;
	avail_.fetch_add(int64_t(back), std::memory_order_relaxed);
	return got;
}

uint64_t BlockAlloc::alloc_one()
{
	Run r;
	int nr;
	return alloc(1, &r, 1, &nr) ? r.bn : 0;
}

void BlockAlloc::release(uint64_t bn, uint64_t n)
{
	while (n) {
		Group &g = group_of(bn);
		uint64_t cnt = std::min(n, g.last - bn);
		{
			std::lock_guard lk(g.mu);
			for (uint64_t b = bn - g.first; b < bn - g.first + cnt;
			     ++b)
				g.used[b / 64] &= ~(1ULL << (b % 64));
			g.nfree += cnt;
		}
		free_.fetch_add(cnt, std::memory_order_relaxed);
		credit(cnt);
		bn += cnt;
		n -= cnt;
	}
}

bool BlockAlloc::quarantine(uint64_t bn)
{
	if (bn < first_ || bn >= last_)
		return false;
	Group &g = group_of(bn);
	{
		std::lock_guard lk(g.mu);
		uint64_t b = bn - g.first;
		if (g.used[b / 64] & (1ULL << (b % 64)))
			return false;
		g.used[b / 64] |= 1ULL << (b % 64);
		--g.nfree;
	}
	free_.fetch_sub(1, std::memory_order_relaxed);
	// Its count: from this thread's Hold (where the aborted transaction
	// released it), else from everyone's (which may go below zero a while).
	if (Hold *h = hold_here(); h && h->n_)
		--h->n_;
	else
		avail_.fetch_sub(1, std::memory_order_relaxed);
	return true;
}

int claim_runs(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs, int nruns)
{
	for (int r = 0; r < nruns; ++r) {
		int err = tx.bits(runs[r].bn, runs[r].n, true);
		if (err) {
			for (int k = r; k < nruns; ++k) // not yet owned by tx
				ba.release(runs[k].bn, runs[k].n);
			return err;
		}
	}
	return 0;
}

int claim_runs_for(Tx &tx, BlockAlloc &ba, const BlockAlloc::Run *runs,
		   int nruns, zus_inode *zi)
{
	if (int err = claim_runs(tx, ba, runs, nruns))
		return err;
	return tx.log(zi, sizeof(*zi));
}

} // namespace zus::pmfs
