// SPDX-License-Identifier: BSD-3-Clause
//
// tier.cc - blocks on T2: where a block lives, promotion (owned by a token,
// tier.h), cold reads, and the evictor (a clock over per-inode heat; async
// migrations committed only after IOM_DONE, cancelled by a write that
// raced them). The T2 allocator is t2_alloc.cc, the out-of-band iomaps
// (IOMAP_EXEC, IOM_DONE) iomap_jobs.cc.
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
#include "server/pmfs/t2_alloc.h"

namespace zus::pmfs {

// ---- Where a block lives ---------------------------------------------------

namespace {

std::mutex g_tier_mu; // creation of sbi.tier

// Per-inode heat (TierState::heat, indexed by ino): set on every READ,
// WRITE and GET_MULTY with relaxed atomics on the inode's own entry (no
// shared lock, no shared cache line per I/O), read by the evictor's clock.
struct Heat {
	std::atomic<uint8_t> ref{0};	// accessed since the clock last passed
	std::atomic<uint64_t> last{0};	// first block of the last access
	uint64_t cursor = 0;		// where eviction resumes (evict_mu)
};

// One block on its way to T2.
struct Move {
	uint64_t idx, t1, t2;
};

// An eviction of some blocks of one inode (a reference on ii is held).
// Async: the blocks are copied, under the inode's lock, into a bounce
// slot (the server's pool 1) and go to T2 from there; a block is switched
// only if its T1 content still equals what went to T2, so a write that
// raced the migration (whatever the interleaving) keeps it on T1.
struct Migration {
	zus_inode_info *ii = nullptr;
	uint64_t ino = 0;
	int slot = -1;		 // bounce slot (async), -1: none
	char *bounce = nullptr; // its memory: moves[k] at k * 4096
	std::vector<Move> moves;
	int result = 0;
};

constexpr uint32_t kRecent = 4096;	   // cold-read filter entries
constexpr auto kPromoWait = std::chrono::seconds(2);
constexpr uint64_t kPreRead = 256;	   // blocks promoted ahead (1 MiB)
constexpr uint64_t kPreReadBelow = 64;	   // ... by requests smaller than this
constexpr uint64_t kEvictBatch = 256;	   // blocks per migration (1 MiB)
constexpr uint64_t kCommitBatch = 64;	   // leaf switches per transaction
constexpr int kMaxInFlight = 4;		   // async migrations at once

} // namespace

struct TierState {
	std::mutex mu; // alloc, promos
	T2Alloc alloc; // used()/nfree() without mu
	struct Promo {
		uint64_t t2, t1;
		// The token of the RETRY answer that handed it out
		// (zufs_iomap.iomb, zus_api.h): the shim sends it back only
		// with the re-dispatch that follows a successful iomap, so
		// only that request knows the ZUSMEM_READ into t1 has run.
		uint64_t token;
	};
	uint64_t next_token = 0; // the last token handed out (mu)
	// T1 blocks of promotions taken over from a request that had not come
	// back (token -> t1): reused only once that token comes back.
	std::multimap<uint64_t, uint64_t> quarantine;
	// (ino, file block) -> promotion whose ZUSMEM_READ was handed out.
	std::map<std::pair<uint64_t, uint64_t>, Promo> promos;
	std::condition_variable promo_cv; // a promotion was taken out of promos

	uint64_t nino = 0;
	std::unique_ptr<Heat[]> heat; // [0, nino]
	// T2 blocks served by a cold read lately (t2 + 1; direct mapped): a
	// second random read of one of them promotes it.
	std::unique_ptr<std::atomic<uint64_t>[]> recent;

	// Watermarks, in free T1 blocks; the hot-file window, in blocks.
	std::atomic<uint64_t> low{0}, high{0};
	uint64_t window = 1024;

	// Victim selection (the clock over inodes): the evictor thread and
	// tier_make_room. Never taken while an inode's rw is held.
	std::mutex evict_mu;
	uint64_t clock = 1;

	std::mutex super_mu; // s_t2_blocks

	// The evictor thread and its completions (IOM_DONE).
	std::mutex ev_mu;
	std::condition_variable ev_cv;
	bool stop = false;
	std::deque<std::shared_ptr<Migration>> done_q;
	int in_flight = 0;
	uint64_t in_flight_blocks = 0;
	std::thread thread;

	// Bounce slots of the async migrations (registered as pool 1).
	struct FreeMem {
		void operator()(char *p) const { free(p); }
	};
	std::unique_ptr<char, FreeMem> bounce;
	uint32_t slots_used = 0; // bit per slot (ev_mu)

	std::atomic<uint64_t> evicted{0}, sync_evicted{0}, promoted{0},
		cold_reads{0}, aborted{0}, pre_read{0}, failed_promotions{0};
};

namespace {

// IOM_T2_ZUSMEM_READ/WRITE (zus_api.h's encoding, as iomap::Builder writes
// it; server_lib does not link iomap_lib). 0 or -ENOSPC (iomap full).
int zusmem_op(zufs_iomap &ziom, ZUFS_IOM_TYPE type, uint64_t t2,
	      const void *mem, uint64_t len)
{
	if (ziom.iom_n + 3 > ziom.iom_max)
		return -ENOSPC;
	__u64 *e = &ziom.iom_e[ziom.iom_n];
	_zufs_iom_enc_type_val(&e[0], type, t2);
	e[1] = reinterpret_cast<uintptr_t>(mem);
	e[2] = len;
	ziom.iom_n += 3;
	return 0;
}

// IOM_T2_READ_LEN of n T2 blocks into the request's pages from page
// `page` (builder.h: pool 7 = the request's pages).
int t2_read_len_op(zufs_iomap &ziom, uint64_t t2, uint64_t page, uint64_t n)
{
	if (ziom.iom_n + 3 > ziom.iom_max)
		return -ENOSPC;
	__u64 *e = &ziom.iom_e[ziom.iom_n];
	_zufs_iom_enc_type_val(&e[0], IOM_T2_READ_LEN, t2);
	e[1] = zu_enc_dpp_t_bn(page, 7);
	e[2] = n;
	ziom.iom_n += 3;
	return 0;
}

// A promotion token travels as the zufs_iomap.iomb cookie of the RETRY
// answer and of the re-dispatch (never dereferenced by anyone).
uint64_t promo_token(const zufs_ioc_IO *io)
{
	return uint64_t(reinterpret_cast<uintptr_t>(io->ziom.iomb));
}

zus_iomap_build *token_cookie(uint64_t token)
{
	return reinterpret_cast<zus_iomap_build *>(uintptr_t(token));
}

// A promotion taken out of ts.promos before its owner came back: its T1
// block goes back now if the request taking it out is the owner (mine:
// its token; the shim is done with it), else only when the owner's token
// comes back (release_stale), never before: a stalled T2 read may still
// land in it. ts.mu held.
void quarantine(zus_sb_info &sbi, TierState &ts, const TierState::Promo &p,
		uint64_t mine)
{
	if (mine && p.token == mine)
		sbi.balloc.release(p.t1, 1);
	else
		ts.quarantine.emplace(p.token, p.t1);
}

// The request holding token is back (its iomap ran, or failed and was
// reported): its promotions in [first, last] that were not committed
// (the leaf moved meanwhile: truncate, fallocate) and its quarantined T1
// blocks go back to the allocator.
void release_stale(zus_sb_info &sbi, TierState &ts, const zus_inode *zi,
		   uint64_t ino, uint64_t first, uint64_t last, uint64_t token)
{
	std::lock_guard g(ts.mu);
	auto [q0, q1] = ts.quarantine.equal_range(token);
	for (auto q = q0; q != q1; ++q)
		sbi.balloc.release(q->second, 1);
	ts.quarantine.erase(q0, q1);
	for (auto it = ts.promos.lower_bound({ ino, first });
	     it != ts.promos.end() && it->first.first == ino && it->first.second <= last;) {
		if (it->second.token != token ||
		    t2_leaf_valid(sbi, bmap_leaf(sbi, zi, it->first.second))) {
			++it;
			continue;
		}
		sbi.balloc.release(it->second.t1, 1);
		it = ts.promos.erase(it);
	}
}

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

std::atomic<uint64_t> &recent_slot(TierState &ts, uint64_t t2)
{
	return ts.recent[(t2 * 0x9e3779b97f4a7c15ULL) >> 52];
}

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
			return recent_slot(ts, b).load(std::memory_order_relaxed) == b + 1;
		});
	}
	for (size_t i = 0; i < k; ++i)
		mv[i].t2 = got[i];
	mv.resize(k);
	return k;
}

// The copy of every move's block (from T1, or from bounce when given) to
// its T2 block, runs of blocks consecutive on both sides in one op.
std::unique_ptr<IomapJob> write_job(zus_sb_info &sbi, const std::vector<Move> &mv,
				    const char *bounce = nullptr)
{
	auto job = make_iomap_job(uint32_t(3 * mv.size() + 1));
	auto src = [&](size_t k) {
		return bounce ? bounce + k * kBlockSize : sbi.blk(mv[k].t1);
	};
	for (size_t i = 0; i < mv.size();) {
		size_t n = 1;
		while (i + n < mv.size() && src(i + n) == src(i) + n * kBlockSize &&
		       mv[i + n].t2 == mv[i].t2 + n)
			++n;
		zusmem_op(job->ziom(), IOM_T2_ZUSMEM_WRITE, mv[i].t2, src(i),
			  n * kBlockSize);
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
	return !zufs::fault::guarded(zufs::fault::Access::kRead, sbi.blk(bn), kBlockSize,
				     "copy for eviction (the block stays on T1)",
				     [&] { memcpy(dst, sbi.blk(bn), kBlockSize); });
}

// Does T1 block bn still hold what bounce holds (no write raced its
// migration)? A media fault reading it: no (the block stays on T1).
bool same_as_bounce(zus_sb_info &sbi, uint64_t bn, const char *bounce)
{
	bool same = false;
	zufs::fault::guarded(zufs::fault::Access::kRead, sbi.blk(bn), kBlockSize,
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
			    refc_shared(sbi, mv[k].t1) || // shared meanwhile (COPY)
			    (bounce && !same_as_bounce(sbi, mv[k].t1,
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
		bt.finish();
		if ((err = tx.ready()))
			break;
		zi->i_on_disk.a[0] = bt.root;
		zi->i_on_disk.a[1] = bt.height;
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
		     bounce_copy(sbi, m->bounce + m->moves.size() * kBlockSize, v)))
			m->moves.push_back({ idx, v, 0 });
		++idx;
	}
	h.cursor = idx;
}

// The clock: the next inode with T1 blocks to give. ts.evict_mu held.
// On success m->ii holds a reference.
bool pick(zus_sb_info &sbi, TierState &ts, uint64_t max, Pick mode, Migration *m)
{
	for (uint64_t step = 0; step < ts.nino; ++step) {
		uint64_t ino = ts.clock;
		ts.clock = ino >= ts.nino ? 1 : ino + 1;
		const zus_inode *zi = sbi.zi_of(ino);
		if (zi->i_ino != ino || !S_ISREG(zi->i_mode) || !zi->i_blocks)
			continue;
		Heat &h = ts.heat[ino];
		if (mode == Pick::kCold && h.ref.load(std::memory_order_relaxed)) {
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
	return pick(sbi, ts, max, Pick::kCold, m) || pick(sbi, ts, max, Pick::kHot, m) ||
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
// room, or the shim refused.
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
		++ts.in_flight;
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
			--ts.in_flight;
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
			std::shared_ptr<Migration> m = std::move(ts.done_q.front());
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
		if (active && ts.in_flight < kMaxInFlight &&
		    ts.alloc.nfree()) {
			lk.unlock();
			bool ok = issue(sbi, ts);
			lk.lock();
			if (ok)
				continue;
		}
		ts.ev_cv.wait_for(lk, std::chrono::milliseconds(20));
	}
}

// Repoint leaf idx from T2 block t2 to pmem block t1 (allocated in DRAM,
// holding the data): the T1 bit and the leaf in one transaction, then the
// T2 block goes back. ii->rw held exclusively.
int commit_promotion(zus_inode_info *ii, uint64_t idx, uint64_t t2, uint64_t t1)
{
	zus_sb_info &sbi = *ii->sbi;
	zus_inode *zi = ii->zi;
	if (sbi.crashed.load(std::memory_order_relaxed)) { // a test crash
		sbi.balloc.release(t1, 1);
		return -EIO;
	}
	sbi.persist.flush(sbi.blk(t1), kBlockSize); // data before the pointer
	Tx tx(sbi);
	int err;
	if ((err = tx.bits(t1, 1, true))) {
		sbi.balloc.release(t1, 1);
		return err;
	}
	if ((err = tx.log(zi, sizeof(*zi))))
		return err;
	BmapTx bt(sbi, tx, zi);
	if ((err = bt.replace(idx, t1)))
		return err;
	bt.finish();
	if ((err = tx.ready()))
		return err;
	zi->i_on_disk.a[0] = bt.root;
	zi->i_on_disk.a[1] = bt.height;
	if ((err = tx.commit(ii)))
		return err;
	t2_free(sbi, t2);
	tier_of(sbi).promoted.fetch_add(1, std::memory_order_relaxed);
	return 0;
}

// Every T2 leaf of the tree below node (level lvl >= 1; lvl 0: node is
// the leaf itself), for tier_mount.
template <typename Fn>
void walk_leaves(const zus_sb_info &sbi, uint64_t node, uint32_t lvl, uint64_t base,
		 Fn &&fn)
{
	if (lvl == 0) {
		if (node & kT2Leaf)
			fn(base, node);
		return;
	}
	if (!sbi.valid_data_bn(node))
		return;
	auto *slots = reinterpret_cast<const uint64_t *>(sbi.blk(node));
	uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
	for (uint64_t s = 0; s < kFanout; ++s)
		if (slots[s])
			walk_leaves(sbi, slots[s], lvl - 1, base + s * span, fn);
}

// Pre-read (tier.h): with ii->rw held exclusively, bring up to n of the
// file's blocks from block from on back from T2 now (a synchronous
// IOMAP_EXEC, tier_promote_range_locked), stopping before a block that a
// request has a promotion of handed out (its re-dispatch commits it), and
// only while T1 keeps its low watermark free. Best effort.
void pre_read(zus_inode_info *ii, TierState &ts, uint64_t from, uint64_t n)
{
	zus_sb_info &sbi = *ii->sbi;
	const uint64_t size = ii->zi->i_size;
	if (!n || from >= (size + kBlockSize - 1) >> kBlockShift ||
	    sbi.balloc.free_blocks() < ts.low + n)
		return;
	uint64_t to = std::min(from + n, (size + kBlockSize - 1) >> kBlockShift) - 1;
	{
		std::lock_guard g(ts.mu);
		auto it = ts.promos.lower_bound({ ii->ino, from });
		if (it != ts.promos.end() && it->first.first == ii->ino &&
		    it->first.second <= to) {
			if (it->first.second == from)
				return;
			to = it->first.second - 1;
		}
	}
	uint64_t before = ts.promoted.load(std::memory_order_relaxed);
	tier_promote_range_locked(ii, from, to);
	ts.pre_read.fetch_add(ts.promoted.load(std::memory_order_relaxed) - before,
			      std::memory_order_relaxed);
}

// Is this READ of T2 block t2 (file block idx) served from T2 without
// promoting it? A random read of a block not read lately, or any read
// while T1 is short of room; only whole pages that line up with the
// request's pages (an IOM_T2_READ writes whole pages). filepos, len,
// page_off (hdr.offset) and flags are the READ's.
bool whole_page(uint64_t filepos, uint64_t len, uint64_t page_off, uint64_t idx,
		uint64_t size)
{
	// The file's partial last block too, when the request's pages hold
	// its whole page: the answer stops at i_size (so a READ of it never
	// needs a T1 block: with T1 and T2 full it is no ENOSPC).
	uint64_t pos = idx << kBlockShift;
	return pos >= filepos && pos < size && pos + kBlockSize <= filepos + len &&
	       (page_off + (pos - filepos)) % kBlockSize == 0;
}

// Can block idx be served by an IOM_T2_READ into the READ's pages (a whole
// page of the file that lines up with a page of the request)?
bool whole_page(const zufs_ioc_IO *io, uint64_t idx, uint64_t size)
{
	return whole_page(io->filepos, io->hdr.len, io->hdr.offset, idx, size);
}

bool cold_read(zus_sb_info &sbi, TierState &ts, uint64_t filepos, uint64_t len,
	       uint64_t page_off, uint64_t flags, uint64_t idx, uint64_t t2,
	       uint64_t size)
{
	if (!whole_page(filepos, len, page_off, idx, size))
		return false;
	if (sbi.balloc.free_blocks() < ts.low)
		return true;
	if (!(flags & ZUFS_IO_RAND))
		return false;
	return recent_slot(ts, t2).load(std::memory_order_relaxed) != t2 + 1;
}

bool cold_read(zus_sb_info &sbi, TierState &ts, const zufs_ioc_IO *io,
	       uint64_t idx, uint64_t t2, uint64_t size)
{
	return cold_read(sbi, ts, io->filepos, io->hdr.len, io->hdr.offset,
			 io->flags, idx, t2, size);
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
		*why = "has blocks on a tier 2 of " + std::to_string(need * kBlockSize) +
		       " bytes; the T2 given has " +
		       std::to_string(sbi.t2_blocks * kBlockSize);
		return -EINVAL;
	}
	TierState &ts = tier_of(sbi);
	uint64_t leaves = 0, bad = 0, twice = 0;
	for (uint64_t ino = 1; ino <= sbi.sb->s_inode_count; ++ino) {
		const zus_inode *zi = sbi.zi_of(ino);
		if (zi->i_ino != ino || !S_ISREG(zi->i_mode) || !zi->i_on_disk.a[0] ||
		    zi->i_on_disk.a[1] > kMaxHeight)
			continue;
		walk_leaves(sbi, zi->i_on_disk.a[0], uint32_t(zi->i_on_disk.a[1]), 0,
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
			sbi.path.c_str(), (unsigned long)bad, (unsigned long)twice);
	return 0;
}

void tier_start(zus_sb_info &sbi, zufs_pool_info *pool)
{
	if (!sbi.t2_blocks || !sbi.zuf || sbi.ro)
		return;
	TierState &ts = tier_of(sbi);
	// Freeing must not need space: a shrinking truncate or a punch whose
	// partial block is on T2 brings it back into the reserve (balloc.h).
	sbi.balloc.set_reserve(std::min<uint64_t>(64, sbi.balloc.data_blocks() / 64));
	const size_t len = kMaxInFlight * kEvictBatch * kBlockSize;
	ts.bounce.reset(static_cast<char *>(aligned_alloc(kBlockSize, len)));
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
			"promotions %llu, t2 used %llu\n",
			(unsigned long long)st.evicted,
			(unsigned long long)st.sync_evicted,
			(unsigned long long)st.promoted,
			(unsigned long long)st.pre_read,
			(unsigned long long)st.cold_reads,
			(unsigned long long)st.aborted,
			(unsigned long long)st.failed_promotions,
			(unsigned long long)st.t2_used);
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

void tier_set_watermarks(zus_sb_info &sbi, uint64_t low, uint64_t high)
{
	TierState &ts = tier_of(sbi);
	ts.low = low;
	ts.high = high;
	std::lock_guard g(ts.ev_mu);
	ts.ev_cv.notify_all();
}

uint64_t tier_map_cut(zus_inode_info *ii, const zufs_ioc_IO *io)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !io->hdr.len)
		return UINT64_MAX;
	TierState &ts = tier_of(sbi);
	// Sequential reads promote (and pre-read), unless T1 is short and
	// T2 full: then nothing can make room, and a read must not fail.
	const bool stuck = sbi.balloc.free_blocks() < ts.low && !ts.alloc.nfree();
	if (!ts.alloc.used() || (!(io->flags & ZUFS_IO_RAND) && !stuck))
		return UINT64_MAX;
	std::shared_lock lk(ii->rw);
	const zus_inode *zi = ii->zi;
	const uint64_t size = zi->i_size;
	const uint64_t end = std::min<uint64_t>(io->filepos + io->hdr.len, size);
	if (io->filepos >= end)
		return UINT64_MAX;
	// The READ the shim sends for the rest lands page-aligned.
	const uint64_t page_off = io->filepos % kBlockSize;
	for (uint64_t idx = io->filepos >> kBlockShift;
	     idx <= (end - 1) >> kBlockShift; ++idx) {
		uint64_t v = bmap_leaf(sbi, zi, idx);
		if (t2_leaf_valid(sbi, v) &&
		    cold_read(sbi, ts, io->filepos, io->hdr.len, page_off,
			      io->flags, idx, v & ~kT2Leaf, size))
			return std::max<uint64_t>(io->filepos, idx << kBlockShift);
	}
	return UINT64_MAX;
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
	s.t2_used = ts.alloc.used();
	std::lock_guard g(ts.ev_mu);
	s.in_flight = ts.in_flight;
	return s;
}

uint64_t tier_make_room(zus_sb_info &sbi, uint64_t want)
{
	if (!sbi.t2_blocks || !sbi.zuf || sbi.ro)
		return 0;
	TierState &ts = tier_of(sbi);
	uint64_t moved = 0;
	// With a Hold on this thread (balloc.h) the blocks freed here are
	// its own: evict until it holds want, whatever others take meanwhile.
	auto short_of_room = [&] {
		return sbi.balloc.holding() ? sbi.balloc.held_here() < want
					    : sbi.balloc.free_blocks() < want;
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
			if (err) { // T2 failing: stop here (the caller's ENOSPC)
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

void tier_room_for_metadata(zus_sb_info &sbi)
{
	constexpr uint64_t kMetaBlocks = 8; // what one namespace op may take
	if (sbi.t2_blocks && sbi.balloc.available() < kMetaBlocks &&
	    t2_free_blocks(sbi))
		tier_make_room(sbi, kMetaBlocks);
}

int tier_prepare(zus_inode_info *ii, zufs_ioc_IO *io, uint32_t cap,
		 uint64_t first, uint64_t last)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks)
		return 0;
	TierState &ts = tier_of(sbi);
	const bool write = io->hdr.operation == ZUFS_OP_WRITE;
	// The token this request brings back: its shim ran the iomap of our
	// last RETRY answer to it (0: none). The answer below may hand out a
	// new one.
	const uint64_t token = promo_token(io);
	uint64_t handed_token = 0;
	if (ii->ino <= ts.nino) { // heat, lock-free
		Heat &h = ts.heat[ii->ino];
		if (!h.ref.load(std::memory_order_relaxed))
			h.ref.store(1, std::memory_order_relaxed);
		h.last.store(first, std::memory_order_relaxed);
	}
	// Capacity is T1 + T2: a WRITE (or a promotion) short of T1 blocks
	// moves cold ones out first, synchronously (no lock held here).
	const uint64_t need = last - first + 1 + 16;
	if (sbi.balloc.available() < need && ts.alloc.nfree() &&
	    (write || ts.alloc.used()))
		tier_make_room(sbi, need + kEvictBatch);
	if (!ts.alloc.used())
		return 0;
	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	io->ziom.iom_n = 0;
	io->ziom.iom_max = std::min(io->ziom.iom_max, cap);
	if (!io->ziom.iom_max) // a server-internal request (COPY): no iomap room
		return tier_promote_range_locked(ii, first, last);
	const bool read = io->hdr.operation == ZUFS_OP_READ;
	const uint64_t size = zi->i_size;
	// Cold reads, answered inline (IOM_T2_READ_LEN into the request's
	// pages) if no promotion is needed this round: (t2, page, n).
	struct Cold {
		uint64_t t2, page, n;
	};
	Cold cold[ZUFS_WRITE_OP_SPACE / 3];
	uint32_t ncold = 0;
	const uint32_t max_cold = std::min<uint32_t>(io->ziom.iom_max / 3,
						     ZUFS_WRITE_OP_SPACE / 3);
	bool retry = false, full = false, nospc = false;
	// Promotions handed out this round (idx, n): dropped if the iomap
	// overflows.
	std::vector<std::pair<uint64_t, uint64_t>> handed;
	uint64_t committed = 0; // promotions finished by this call
	// A block whose promotion was handed to another request: its shim may
	// still be reading T2 into that T1 block, so it is neither committed
	// nor freed from here. A READ reads it from T2 (cold); anything else
	// waits for the other request to commit it (wait_for below).
	bool busy = false;
	int err;
	if (token) // our shim is done with the iomap of that token
		release_stale(sbi, ts, zi, ii->ino, first, last, token);
	for (uint64_t idx = first; idx <= last; ++idx) {
		uint64_t v = bmap_leaf(sbi, zi, idx);
		if (!t2_leaf_valid(sbi, v))
			continue;
		uint64_t t2 = v & ~kT2Leaf;
		std::unique_lock g(ts.mu);
		auto it = ts.promos.find({ii->ino, idx});
		bool others = false;
		if (it != ts.promos.end() && (!token || it->second.token != token)) {
			others = true;
		} else if (it != ts.promos.end()) {
			TierState::Promo p = it->second;
			ts.promos.erase(it);
			g.unlock();
			ts.promo_cv.notify_all();
			if (p.t2 == t2) { // the shim ran our ZUSMEM_READ
				if ((err = commit_promotion(ii, idx, t2, p.t1)))
					return err;
				++committed;
				continue;
			}
			sbi.balloc.release(p.t1, 1); // stale
		}
		if (g.owns_lock())
			g.unlock();
		if (others) {
			const uint64_t pos = idx << kBlockShift;
			const uint64_t end = std::min<uint64_t>(io->filepos + io->hdr.len, size);
			if (!read || pos < io->filepos || pos + kBlockSize > end ||
			    (io->hdr.offset + (pos - io->filepos)) % kBlockSize) {
				busy = true;
				continue;
			}
		}
		// A cold read of block idx into the answer; false: no room.
		auto add_cold = [&] {
			uint64_t page = (io->hdr.offset + ((idx << kBlockShift) - io->filepos)) >>
					kBlockShift;
			if (ncold && cold[ncold - 1].t2 + cold[ncold - 1].n == t2 &&
			    cold[ncold - 1].page + cold[ncold - 1].n == page) {
				++cold[ncold - 1].n;
				return true;
			}
			if (ncold < max_cold) {
				cold[ncold++] = { t2, page, 1 };
				return true;
			}
			return false;
		};
		if (read && (others || cold_read(sbi, ts, io, idx, t2, size))) {
			if (add_cold())
				continue;
			if (others) {
				busy = true;
				continue;
			}
			// no room for another cold run: promote it
		}
		if (full || nospc)
			continue; // committing only; the next round promotes
		// A run of blocks consecutive on T2 goes in one op, into
		// blocks consecutive on T1.
		// Not into a block whose promotion another request holds: its
		// shim may be reading T2 into that T1 block right now.
		uint64_t n = 1;
		g.lock();
		while (idx + n <= last && n < ZUS_API_MAP_MAX_PAGES &&
		       bmap_leaf(sbi, zi, idx + n) == (kT2Leaf | (t2 + n)) &&
		       !ts.promos.count({ ii->ino, idx + n }))
			++n;
		g.unlock();
		BlockAlloc::Run run;
		int nruns = 0;
		uint64_t got = sbi.balloc.alloc(n, &run, 1, &nruns);
		if (!got) {
			// No T1 for it: a READ still reads it, from T2.
			if (read && whole_page(io, idx, size) && add_cold())
				continue;
			nospc = true;
			continue;
		}
		if (zusmem_op(io->ziom, IOM_T2_ZUSMEM_READ, t2, sbi.blk(run.bn),
			      got * kBlockSize)) {
			sbi.balloc.release(run.bn, got); // the iomap is full
			full = true;
			continue;
		}
		g.lock();
		if (!handed_token)
			handed_token = ++ts.next_token;
		for (uint64_t k = 0; k < got; ++k) {
			auto old = ts.promos.find({ii->ino, idx + k});
			if (old != ts.promos.end()) { // ours, stale
				quarantine(sbi, ts, old->second, token);
				ts.promos.erase(old);
			}
			ts.promos[{ii->ino, idx + k}] = {t2 + k, run.bn + k, handed_token};
		}
		g.unlock();
		handed.emplace_back(idx, got);
		idx += got - 1;
		retry = true;
	}
	if (full) {
		// More T2 runs than one iomap holds (a WRITE or READ has room
		// for 4): no RETRY loop that might not converge; bring the
		// range back now, synchronously.
		{
			std::lock_guard g(ts.mu);
			for (auto [at, n] : handed)
				for (uint64_t k = 0; k < n; ++k) {
					auto it = ts.promos.find({ ii->ino, at + k });
					if (it != ts.promos.end()) {
						sbi.balloc.release(it->second.t1, 1);
						ts.promos.erase(it);
					}
				}
		}
		io->ziom.iom_n = 0;
		return tier_promote_range_locked(ii, first, last);
	}
	if (retry) {
		io->ziom.iomb = token_cookie(handed_token);
		return -EZUFS_RETRY;
	}
	if (busy) {
		// Wait, without the inode's lock, for the other request to commit
		// (or drop) its promotions of our blocks, then prepare again. A
		// request that has not come back after kPromoWait (a T2 that
		// stalls) is taken over: its T1 blocks are quarantined, not
		// reused, until its token comes back (its shim may still be
		// reading T2 into them).
		io->ziom.iom_n = 0;
		lk.unlock();
		auto mine = [&] {
			auto it = ts.promos.lower_bound({ ii->ino, first });
			for (; it != ts.promos.end() && it->first.first == ii->ino &&
			       it->first.second <= last; ++it)
				if (!token || it->second.token != token)
					return false;
			return true;
		};
		std::unique_lock g(ts.mu);
		if (!ts.promo_cv.wait_for(g, kPromoWait, mine)) {
			auto it = ts.promos.lower_bound({ ii->ino, first });
			while (it != ts.promos.end() && it->first.first == ii->ino &&
			       it->first.second <= last) {
				if (token && it->second.token == token) {
					++it;
					continue;
				}
				quarantine(sbi, ts, it->second, token);
				it = ts.promos.erase(it);
			}
		}
		g.unlock();
		return tier_prepare(ii, io, cap, first, last);
	}
	if (nospc)
		return -ENOSPC;
	// The re-dispatch of a small sequential read that promoted: pre-read
	// (a 1 MiB request gains nothing from it: tier.h).
	if (committed && !write && !(io->flags & ZUFS_IO_RAND) &&
	    last - first + 1 < kPreReadBelow)
		pre_read(ii, ts, last + 1, kPreRead);
	// Only cold reads (or nothing) left: the answer carries them.
	for (uint32_t k = 0; k < ncold; ++k) {
		t2_read_len_op(io->ziom, cold[k].t2, cold[k].page, cold[k].n);
		for (uint64_t b = cold[k].t2; b < cold[k].t2 + cold[k].n; ++b)
			recent_slot(ts, b).store(b + 1, std::memory_order_relaxed);
		ts.cold_reads.fetch_add(cold[k].n, std::memory_order_relaxed);
	}
	return 0;
}

int tier_retry_failed(zus_inode_info *ii, const zufs_ioc_IO *io)
{
	zus_sb_info &sbi = *ii->sbi;
	const int err = io->hdr.err;
	const uint64_t token = promo_token(io);
	if (!sbi.t2_blocks || !token)
		return err;
	TierState &ts = tier_of(sbi);
	{
		// The T1 blocks were never filled: back to the allocator; the
		// leaves still name T2, which keeps its copy.
		std::lock_guard g(ts.mu);
		auto [q0, q1] = ts.quarantine.equal_range(token);
		for (auto q = q0; q != q1; ++q)
			sbi.balloc.release(q->second, 1);
		ts.quarantine.erase(q0, q1);
		for (auto it = ts.promos.begin(); it != ts.promos.end();) {
			if (it->second.token != token) {
				++it;
				continue;
			}
			sbi.balloc.release(it->second.t1, 1);
			it = ts.promos.erase(it);
			ts.failed_promotions.fetch_add(1, std::memory_order_relaxed);
		}
	}
	ts.promo_cv.notify_all();
	return err;
}

bool tier_raced(zus_inode_info *ii, const zufs_ioc_IO *io, uint64_t first,
		uint64_t last)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !tier_of(sbi).alloc.used())
		return false;
	const zus_inode *zi = ii->zi;
	const bool read = io->hdr.operation == ZUFS_OP_READ;
	for (uint64_t idx = bmap_seek(sbi, zi, first, true);
	     idx != UINT64_MAX && idx <= last;
	     idx = bmap_seek(sbi, zi, idx + 1, true)) {
		uint64_t v = bmap_leaf(sbi, zi, idx);
		if (!t2_leaf_valid(sbi, v))
			continue;
		if (!read || (idx << kBlockShift) < io->filepos)
			return true;
		// A cold read of it is in the answer (t2_read_len_op's ops)?
		uint64_t page = (io->hdr.offset + ((idx << kBlockShift) - io->filepos)) >>
				kBlockShift;
		uint64_t t2 = v & ~kT2Leaf;
		bool covered = false;
		const uint32_t n = std::min<uint32_t>(io->ziom.iom_n, ZUFS_WRITE_OP_SPACE);
		for (uint32_t k = 0; k + 3 <= n && !covered; k += 3) {
			const __u64 *e = &io->iom_e[k]; // a READ's room (ziom.iom_e)
			uint64_t p0 = zu_dpp_t_bn(e[1]);
			covered = _zufs_iom_opt_type(e) == IOM_T2_READ_LEN &&
				  page >= p0 && page < p0 + e[2] &&
				  t2 == _zufs_iom_first_val(e) + (page - p0);
		}
		if (!covered)
			return true;
	}
	return false;
}

int tier_promote_locked(zus_inode_info *ii, uint64_t idx)
{
	zus_sb_info &sbi = *ii->sbi;
	uint64_t v = bmap_leaf(sbi, ii->zi, idx);
	if (!t2_leaf_valid(sbi, v))
		return 0;
	uint64_t t2 = v & ~kT2Leaf;
	uint64_t t1 = sbi.balloc.alloc_one();
	if (!t1)
		return -ENOSPC;
	auto job = make_iomap_job(8);
	int err = zusmem_op(job->ziom(), IOM_T2_ZUSMEM_READ, t2, sbi.blk(t1),
			    kBlockSize);
	if (!err)
		err = exec_sync(sbi, *job);
	if (err) {
		sbi.balloc.release(t1, 1);
		return err;
	}
	return commit_promotion(ii, idx, t2, t1);
}

int tier_promote_range_locked(zus_inode_info *ii, uint64_t first, uint64_t last)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !tier_of(sbi).alloc.used())
		return 0;
	zus_inode *zi = ii->zi;
	// At most kEvictBatch blocks per IOMAP_EXEC, moved back together.
	for (uint64_t from = first; from <= last;) {
		std::vector<Move> mv; // here t1 is the new T1 block
		uint64_t idx = bmap_seek(sbi, zi, from, true);
		for (; idx != UINT64_MAX && idx <= last && mv.size() < kEvictBatch;
		     idx = bmap_seek(sbi, zi, idx + 1, true)) {
			uint64_t v = bmap_leaf(sbi, zi, idx);
			if (!t2_leaf_valid(sbi, v))
				continue;
			uint64_t t1 = sbi.balloc.alloc_one();
			if (!t1) {
				for (const Move &m : mv)
					sbi.balloc.release(m.t1, 1);
				return -ENOSPC;
			}
			mv.push_back({ idx, t1, v & ~kT2Leaf });
		}
		if (mv.empty())
			return 0;
		auto job = make_iomap_job(uint32_t(3 * mv.size() + 1));
		for (size_t i = 0; i < mv.size();) {
			size_t n = 1;
			while (i + n < mv.size() && mv[i + n].t1 == mv[i].t1 + n &&
			       mv[i + n].t2 == mv[i].t2 + n)
				++n;
			zusmem_op(job->ziom(), IOM_T2_ZUSMEM_READ, mv[i].t2,
				  sbi.blk(mv[i].t1), n * kBlockSize);
			i += n;
		}
		int err = exec_sync(sbi, *job);
		for (size_t k = 0; k < mv.size(); ++k) {
			if (!err)
				err = commit_promotion(ii, mv[k].idx, mv[k].t2, mv[k].t1);
			else
				sbi.balloc.release(mv[k].t1, 1);
		}
		if (err)
			return err;
		if (idx == UINT64_MAX)
			return 0;
		from = idx;
	}
	return 0;
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
