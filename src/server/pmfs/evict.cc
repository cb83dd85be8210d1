// SPDX-License-Identifier: BSD-3-Clause
//
// evict.cc - the evictor: a clock over per-inode heat picks cold T1 blocks;
// async migrations are committed only after IOM_DONE and cancelled by a
// write that raced them; tier_make_room and tier_evict_block evict
// synchronously. Also the tier state's life cycle (start, stop, stats).
#include "server/pmfs/tier.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <shared_mutex>
#include <thread>

#include "fault/guard.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/format.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/refc.h"
#include "server/pmfs/tier_state.h"
#include "zufs/iom_enc.h"

namespace zus::pmfs {

namespace {

std::mutex g_tier_mu; // creation of sbi.tier

constexpr uint64_t kCommitBatch = 64; // leaf switches per transaction
constexpr int kMaxInFlight = 4;	      // async migrations at once

// T2 blocks for every move (consecutive when the allocator can); the
// moves that got none are dropped. Returns how many got one: 0 at once
// when T2 is full (t2_alloc.h: no scan). A block cold-read lately is not
// reused while the filter remembers it: the shim may still be reading it
// for a READ answered just before the block was freed.
size_t t2_alloc_moves(zus_sb_info &, TierState &ts, std::vector<Move> &mv)
{
	if (mv.empty() || !ts.alloc.nfree()) {
		mv.clear();
		return 0;
	}
	std::vector<uint64_t> got(mv.size());
	size_t k;
	{
		std::lock_guard g(ts.mu);
		k = ts.alloc.alloc(mv.size(), got.data(), [&](uint64_t b) {
			return recent_slot(ts, b).load(
				       std::memory_order_relaxed) == b + 1;
		});
	}
	for (size_t i = 0; i < k; ++i)
		mv[i].t2 = got[i];
	mv.resize(k);
	return k;
}

// The copy of every move's block (from T1, or from bounce when given) to
// its T2 block, runs of blocks consecutive on both sides in one op.
std::unique_ptr<IomapJob> write_job(zus_sb_info &sbi,
				    const std::vector<Move> &mv,
				    const char *bounce = nullptr)
{
	auto job = make_iomap_job(uint32_t(3 * mv.size() + 1));
	auto src = [&](size_t k) {
		return bounce ? bounce + k * kBlockSize : sbi.blk(mv[k].t1);
	};
	for (size_t i = 0; i < mv.size();) {
		size_t n = 1;
		while (i + n < mv.size() &&
		       src(i + n) == src(i) + n * kBlockSize &&
		       mv[i + n].t2 == mv[i].t2 + n)
			++n;
		zufs::IomBuilder(job->ziom())
			.t2_zusmem_write(mv[i].t2, src(i), n * kBlockSize);
		i += n;
	}
	return job;
}

// The superblock says how big a T2 the image's leaves need, before the
// first leaf goes there (a crash before the leaf commit leaves a larger
// s_t2_blocks than needed, which is harmless).
void persist_t2_size(zus_sb_info &sbi, TierState &ts)
{
	std::lock_guard g(ts.super_mu);
	if (sbi.sb->s_t2_blocks >= sbi.t2_blocks)
		return;
	sbi.sb->s_t2_blocks = sbi.t2_blocks;
	write_super(sbi.base, sbi.map_len, sbi.sb);
}

// The evictor's copy of T1 block bn into its bounce slot. A media fault
// there (fault/guard.h: a poisoned page, an image shrunk under the mount)
// fails the eviction of that block only: it stays on T1, where a read of
// it fails as before; false then.
bool bounce_copy(zus_sb_info &sbi, char *dst, uint64_t bn)
{
	return !zufs::fault::guarded(
		zufs::fault::Access::kRead, sbi.blk(bn), kBlockSize,
		"copy for eviction (the block stays on T1)",
		[&] { memcpy(dst, sbi.blk(bn), kBlockSize); });
}

// Does T1 block bn still hold what bounce holds (no write raced its
// migration)? A media fault reading it: no (the block stays on T1).
bool same_as_bounce(zus_sb_info &sbi, uint64_t bn, const char *bounce)
{
	bool same = false;
	zufs::fault::guarded(
		zufs::fault::Access::kRead, sbi.blk(bn), kBlockSize,
		"check after eviction (the block stays on T1)",
		[&] { same = !memcmp(sbi.blk(bn), bounce, kBlockSize); });
	return same;
}

// With ii->rw held exclusively, the T2 copies durable: switch each move's
// leaf to its T2 block and free its T1 block, kCommitBatch per
// transaction. A move whose leaf no longer names its T1 block (truncated,
// punched, replaced meanwhile), or whose T1 content differs from its copy
// in bounce (when given: a write raced the migration), is dropped. Every
// T2 block not committed goes back. Returns the number committed in *done.
int commit_moves(zus_inode_info *ii, std::vector<Move> &mv, uint64_t *done,
		 const char *bounce = nullptr)
{
	zus_sb_info &sbi = *ii->sbi;
	TierState &ts = tier_of(sbi);
	zus_inode *zi = ii->zi;
	int err = 0;
	size_t at = 0;
	*done = 0;
	persist_t2_size(sbi, ts);
	while (at < mv.size() && !err) {
		if (sbi.crashed.load(std::memory_order_relaxed)) { // test crash
			err = -EIO;
			break;
		}
		size_t end = std::min(mv.size(), at + kCommitBatch);
		Tx tx(sbi);
		BmapTx bt(sbi, tx, zi);
		uint64_t n = 0;
		if ((err = tx.log(zi, sizeof(*zi))))
			break;
		for (size_t k = at; k < end && !err; ++k) {
			if (bmap_leaf(sbi, zi, mv[k].idx) != mv[k].t1 ||
			    refc_shared(sbi,
					mv[k].t1) || // shared meanwhile (COPY)
			    (bounce &&
			     !same_as_bounce(sbi, mv[k].t1,
					     bounce + k * kBlockSize))) {
				t2_free(sbi, mv[k].t2);
				mv[k].t2 = 0;
				continue;
			}
			if (!(err = tx.bits(mv[k].t1, 1, false)))
				err = bt.replace(mv[k].idx, kT2Leaf | mv[k].t2);
			++n;
		}
		if (err)
			break; // the Tx aborts: nothing of this batch happened
		if ((err = bt.close(zi)))
			break;
		if ((err = tx.commit(ii)))
			break;
		for (size_t k = at; k < end; ++k)
			mv[k].t2 = 0; // committed (or already given back)
		*done += n;
		at = end;
	}
	for (size_t k = at; k < mv.size(); ++k)
		if (mv[k].t2)
			t2_free(sbi, mv[k].t2);
	return err;
}

// How hard the clock looks: cold inodes only (a referenced one gets a
// second chance); then hot ones too, keeping the blocks around their last
// access; then (tier_make_room only: a WRITE would fail otherwise) any
// block not near GET_MULTY pins.
enum class Pick { kCold, kHot, kAny };

// Collect up to max T1 blocks of ii to evict, from where the last
// eviction of ii stopped (wrapping once), copying them to m->bounce if
// any. A hot inode (kHot), or one with GET_MULTY pins out, keeps the
// blocks around its last access (where the pinned blocks are).
// ts.evict_mu held.
void collect(zus_sb_info &sbi, TierState &ts, zus_inode_info *ii, Heat &h,
	     uint64_t max, Pick mode, Migration *m)
{
	std::shared_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	if (!S_ISREG(zi->i_mode) || !zi->i_nlink)
		return;
	const bool hot = mode == Pick::kHot ||
			 ii->pins.load(std::memory_order_acquire) > 0;
	const uint64_t last = h.last.load(std::memory_order_relaxed);
	const uint64_t lo = last > ts.window ? last - ts.window : 0;
	const uint64_t hi = last + ts.window;
	const uint64_t start = h.cursor;
	uint64_t idx = start;
	bool wrapped = false;
	while (m->moves.size() < max) {
		idx = bmap_seek(sbi, zi, idx, true);
		if (idx == UINT64_MAX || (wrapped && idx >= start)) {
			if (wrapped || start == 0) {
				idx = 0;
				break;
			}
			wrapped = true;
			idx = 0;
			continue;
		}
		if (hot && idx >= lo && idx < hi) {
			idx = hi;
			continue;
		}
		uint64_t v = bmap_leaf(sbi, zi, idx);
		// A shared block (refc.h) stays on T1: its other owners map it;
		// so does one whose copy meets a media fault (bounce_copy).
		if (sbi.valid_data_bn(v) && !refc_shared(sbi, v) &&
		    (!m->bounce ||
		     bounce_copy(sbi, m->bounce + m->moves.size() * kBlockSize,
				 v)))
			m->moves.push_back({ idx, v, 0 });
		++idx;
	}
	h.cursor = idx;
}

// The clock: the next inode with T1 blocks to give. ts.evict_mu held.
// On success m->ii holds a reference.
bool pick(zus_sb_info &sbi, TierState &ts, uint64_t max, Pick mode,
	  Migration *m)
{
	for (uint64_t step = 0; step < ts.nino; ++step) {
		uint64_t ino = ts.clock;
		ts.clock = ino >= ts.nino ? 1 : ino + 1;
		const zus_inode *zi = sbi.zi_of(ino);
		if (zi->i_ino != ino || !S_ISREG(zi->i_mode) || !zi->i_blocks)
			continue;
		Heat &h = ts.heat[ino];
		if (mode == Pick::kCold &&
		    h.ref.load(std::memory_order_relaxed)) {
			h.ref.store(0, std::memory_order_relaxed);
			continue;
		}
		zus_inode_info *ii = sbi.icache->get(ino);
		if (!ii)
			continue;
		m->moves.clear();
		collect(sbi, ts, ii, h, max, mode, m);
		if (!m->moves.empty()) {
			m->ii = ii;
			m->ino = ino;
			return true;
		}
		sbi.icache->put(ii);
	}
	return false;
}

bool pick_any(zus_sb_info &sbi, TierState &ts, uint64_t max, Migration *m,
	      bool any = false)
{
	std::lock_guard g(ts.evict_mu);
	return pick(sbi, ts, max, Pick::kCold, m) ||
	       pick(sbi, ts, max, Pick::kHot, m) ||
	       (any && pick(sbi, ts, max, Pick::kAny, m));
}

// Two migrations may hold blocks of one inode (even the same block, after
// the inode's cursor wrapped): the second to commit finds the leaf moved
// and drops its copy.
void unbusy(zus_sb_info &sbi, Migration &m)
{
	sbi.icache->put(m.ii);
	m.ii = nullptr;
}

// An async migration came back (evictor thread): commit the blocks that
// did not change since they were copied, drop the rest. (A T1 block freed
// while the inode has GET_MULTY pins out is not reused before the last
// PUT_MULTY: zus_sb_info::release_blocks.)
void finish(zus_sb_info &sbi, TierState &ts, Migration &m)
{
	uint64_t done = 0;
	const size_t n = m.moves.size();
	if (!m.result && !sbi.crashed.load()) {
		std::unique_lock lk(m.ii->rw);
		commit_moves(m.ii, m.moves, &done, m.bounce);
		m.moves.clear();
	}
	for (const Move &mv : m.moves)
		t2_free(sbi, mv.t2);
	ts.evicted.fetch_add(done, std::memory_order_relaxed);
	ts.aborted.fetch_add(n - done, std::memory_order_relaxed);
	if (m.slot >= 0) {
		std::lock_guard g(ts.ev_mu);
		ts.slots_used &= ~(1U << m.slot);
	}
	unbusy(sbi, m);
}

// Start one async migration; false when there is nothing to move, no T2
// room, or the shim refused (nothing of it is left then). The evictor
// counts it in ts.in_flight before the call, from the pick on.
bool issue(zus_sb_info &sbi, TierState &ts)
{
	if (sbi.crashed.load(std::memory_order_relaxed)) // a test crash
		return false;
	auto m = std::make_shared<Migration>();
	{
		std::lock_guard g(ts.ev_mu);
		for (int k = 0; k < kMaxInFlight && m->slot < 0; ++k)
			if (!(ts.slots_used & (1U << k))) {
				m->slot = k;
				ts.slots_used |= 1U << k;
			}
	}
	if (m->slot < 0)
		return false;
	m->bounce = ts.bounce.get() + m->slot * kEvictBatch * kBlockSize;
	auto drop = [&] {
		std::lock_guard g(ts.ev_mu);
		ts.slots_used &= ~(1U << m->slot);
	};
	if (!pick_any(sbi, ts, kEvictBatch, m.get())) {
		drop();
		return false;
	}
	if (!t2_alloc_moves(sbi, ts, m->moves)) {
		drop();
		unbusy(sbi, *m);
		return false;
	}
	auto job = write_job(sbi, m->moves, m->bounce);
	{
		std::lock_guard g(ts.ev_mu);
		ts.in_flight_blocks += m->moves.size();
	}
	TierState *tsp = &ts;
	int err = exec_async(sbi, std::move(job), [tsp, m](int r) {
		m->result = r;
		std::lock_guard g(tsp->ev_mu);
		tsp->done_q.push_back(m);
		tsp->ev_cv.notify_all();
	});
	if (err) {
		{
			std::lock_guard g(ts.ev_mu);
			ts.in_flight_blocks -= m->moves.size();
		}
		m->result = err;
		finish(sbi, ts, *m);
		return false;
	}
	return true;
}

// The evictor: when free T1 falls below the low watermark, migrate cold
// blocks until it is back above the high one. At stop, waits for its
// migrations in flight (the shim completes them all before UMOUNT) and
// finishes them.
void evictor(zus_sb_info &sbi, TierState &ts)
{
	bool active = false;
	std::unique_lock lk(ts.ev_mu);
	for (;;) {
		while (!ts.done_q.empty()) {
			std::shared_ptr<Migration> m =
				std::move(ts.done_q.front());
			ts.done_q.pop_front();
			const size_t n = m->moves.size();
			lk.unlock();
			finish(sbi, ts, *m);
			lk.lock();
			--ts.in_flight; // after its commit: tier_stats() may wait on it
			ts.in_flight_blocks -= n;
		}
		if (ts.stop) {
			if (!ts.in_flight)
				return;
			ts.ev_cv.wait(lk);
			continue;
		}
		uint64_t avail = sbi.balloc.free_blocks() + ts.in_flight_blocks;
		if (avail < ts.low)
			active = true;
		else if (avail >= ts.high)
			active = false;
		if (active && ts.in_flight < kMaxInFlight && ts.alloc.nfree()) {
			// In flight from here, before its blocks are picked: a
			// migration being picked and copied commits later, so
			// in_flight == 0 (tier_stats) must mean idle (tests run
			// fsck then).
			++ts.in_flight;
			lk.unlock();
			bool ok = issue(sbi, ts);
			ts.passes.fetch_add(1, std::memory_order_relaxed);
			lk.lock();
			if (ok)
				continue;
			--ts.in_flight;
		}
		ts.ev_cv.wait_for(lk, std::chrono::milliseconds(20));
	}
}

} // namespace

TierState &tier_of(zus_sb_info &sbi)
{
	std::lock_guard g(g_tier_mu);
	if (!sbi.tier) {
		auto ts = std::make_shared<TierState>();
		ts->alloc.init(sbi.t2_blocks);
		ts->nino = sbi.sb->s_inode_count;
		ts->heat = std::make_unique<Heat[]>(ts->nino + 1);
		ts->recent = std::make_unique<std::atomic<uint64_t>[]>(kRecent);
		uint64_t data = sbi.sb->s_nblocks - sbi.sb->s_data_blk;
		// Evict below 10% free, stop at 20% (at least 256 / 512 blocks).
		ts->low = std::max<uint64_t>(data / 10, 256);
		ts->high = std::max<uint64_t>(data / 5, 512);
		ts->window = std::clamp<uint64_t>(data / 16, 16, 4096);
		sbi.tier = std::move(ts);
	}
	return *sbi.tier;
}

void tier_start(zus_sb_info &sbi, zufs_pool_info *pool)
{
	if (!sbi.t2_blocks || !sbi.zuf || sbi.ro)
		return;
	TierState &ts = tier_of(sbi);
	if (ts.thread.joinable())
		return;
	const size_t len = kMaxInFlight * kEvictBatch * kBlockSize;
	if (!ts.bounce) // kept across a read-only remount: the shim knows it
		ts.bounce.reset(
			static_cast<char *>(aligned_alloc(kBlockSize, len)));
	if (!ts.bounce)
		return; // no evictor: WRITEs short of T1 still evict (sync)
	*pool = { uint64_t(uintptr_t(ts.bounce.get())), len };
	ts.stop = false;
	ts.thread = std::thread([&sbi, &ts] { evictor(sbi, ts); });
}

zufs_pool_info tier_pool(zus_sb_info &sbi)
{
	if (!sbi.t2_blocks || !tier_of(sbi).thread.joinable())
		return {};
	return { uint64_t(uintptr_t(tier_of(sbi).bounce.get())),
		 kMaxInFlight * kEvictBatch * kBlockSize };
}

void tier_stop(zus_sb_info &sbi)
{
	std::shared_ptr<TierState> ts;
	{
		std::lock_guard g(g_tier_mu);
		ts = sbi.tier;
	}
	if (!ts || !ts->thread.joinable())
		return;
	{
		std::lock_guard g(ts->ev_mu);
		ts->stop = true;
		ts->ev_cv.notify_all();
	}
	ts->thread.join();
	// What tiering did in this mount, for the log (and the mounted tests:
	// the stats have no other way out of the server).
	TierStats st = tier_stats(sbi);
	if (st.evicted || st.sync_evicted || st.promoted || st.cold_reads ||
	    st.failed_promotions)
		fprintf(stderr,
			"zufuse: tier: evicted %llu (sync %llu), promoted %llu "
			"(pre-read %llu), cold reads %llu, aborted %llu, failed "
			"promotions %llu, t2 used %llu, room waits %llu\n",
			(unsigned long long)st.evicted,
			(unsigned long long)st.sync_evicted,
			(unsigned long long)st.promoted,
			(unsigned long long)st.pre_read,
			(unsigned long long)st.cold_reads,
			(unsigned long long)st.aborted,
			(unsigned long long)st.failed_promotions,
			(unsigned long long)st.t2_used,
			(unsigned long long)st.room_waits);
}

void tier_set_watermarks(zus_sb_info &sbi, uint64_t low, uint64_t high)
{
	TierState &ts = tier_of(sbi);
	ts.low = low;
	ts.high = high;
	std::lock_guard g(ts.ev_mu);
	ts.ev_cv.notify_all();
}

TierStats tier_stats(zus_sb_info &sbi)
{
	TierStats s;
	if (!sbi.t2_blocks)
		return s;
	TierState &ts = tier_of(sbi);
	s.evicted = ts.evicted.load();
	s.sync_evicted = ts.sync_evicted.load();
	s.promoted = ts.promoted.load();
	s.cold_reads = ts.cold_reads.load();
	s.pre_read = ts.pre_read.load();
	s.aborted = ts.aborted.load();
	s.failed_promotions = ts.failed_promotions.load();
	s.passes = ts.passes.load();
	s.promo_waits = ts.promo_waits.load();
	s.room_waits = ts.room_waits.load();
	s.t2_used = ts.alloc.used();
	std::lock_guard g(ts.ev_mu);
	s.in_flight = ts.in_flight;
	return s;
}

uint64_t tier_make_room(zus_sb_info &sbi, uint64_t want, int *t2_err)
{
	if (!sbi.t2_blocks || !sbi.zuf || sbi.ro)
		return 0;
	TierState &ts = tier_of(sbi);
	uint64_t moved = 0;
	// With a Hold on this thread (balloc.h) the blocks freed here are
	// its own: evict until it holds want, whatever others take meanwhile.
	auto short_of_room = [&] {
		return sbi.balloc.holding() ? sbi.balloc.held_here() < want :
					      sbi.balloc.free_blocks() < want;
	};
	for (int round = 0; round < 64 && short_of_room() &&
			    !sbi.crashed.load(std::memory_order_relaxed);
	     ++round) {
		Migration m;
		if (!ts.alloc.nfree()) // T2 full: ENOSPC now, not after a scan
			break;
		if (!pick_any(sbi, ts, kEvictBatch, &m, true))
			break;
		uint64_t done = 0;
		if (!t2_alloc_moves(sbi, ts, m.moves)) {
			unbusy(sbi, m);
			break; // nothing T2 may hand out now
		}
		{
			// The copy and the switch under the lock: no write can
			// come between them.
			std::unique_lock lk(m.ii->rw);
			auto job = write_job(sbi, m.moves);
			int err = exec_sync(sbi, *job);
			if (err) { // T2 failing: stop here (the caller's error)
				if (t2_err)
					*t2_err = err;
				for (const Move &mv : m.moves)
					t2_free(sbi, mv.t2);
				lk.unlock();
				unbusy(sbi, m);
				break;
			} else {
				commit_moves(m.ii, m.moves, &done);
			}
		}
		unbusy(sbi, m);
		moved += done;
		ts.sync_evicted.fetch_add(done, std::memory_order_relaxed);
		if (!done && !ts.alloc.nfree())
			break; // T2 full
	}
	return moved;
}

bool tier_wait_room(zus_sb_info &sbi)
{
	// Free blocks nobody holds (available() counts this thread's Hold).
	auto unheld = [&] {
		return sbi.balloc.available() > sbi.balloc.held_here();
	};
	std::unique_lock lk(sbi.deferred_mu);
	const uint64_t seen = sbi.deferred_releases; // before the checks
	if (unheld())
		return true;
	if (!sbi.t2_blocks ||
	    !sbi.deferred_blocks.load(std::memory_order_relaxed))
		return false;
	tier_of(sbi).room_waits.fetch_add(1, std::memory_order_relaxed);
	sbi.deferred_cv.wait_for(lk, std::chrono::seconds(1), [&] {
		return sbi.deferred_releases != seen ||
		       sbi.crashed.load(std::memory_order_relaxed);
	});
	lk.unlock();
	return unheld();
}

int tier_evict_block(zus_inode_info *ii, uint64_t idx)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks)
		return -EOPNOTSUPP;
	TierState &ts = tier_of(sbi);
	std::unique_lock lk(ii->rw);
	if (ii->pins.load(std::memory_order_acquire))
		return -EBUSY;
	zus_inode *zi = ii->zi;
	if (!S_ISREG(zi->i_mode)) // directories, symlinks stay on T1
		return -EINVAL;
	uint64_t t1 = bmap_leaf(sbi, zi, idx);
	if (!sbi.valid_data_bn(t1))
		return -EINVAL;
	if (refc_shared(sbi, t1)) // shared blocks stay on T1 (refc.h)
		return -EBUSY;
	std::vector<Move> mv{ { idx, t1, 0 } };
	if (!t2_alloc_moves(sbi, ts, mv))
		return -ENOSPC;
	auto job = write_job(sbi, mv);
	int err = exec_sync(sbi, *job);
	if (err) {
		t2_free(sbi, mv[0].t2);
		return err;
	}
	// The T2 copy is durable once IOMAP_EXEC returns (the shim's T2
	// fdatasyncs a batch that wrote); now the leaf and the T1 free.
	uint64_t done;
	return commit_moves(ii, mv, &done);
}

} // namespace zus::pmfs
