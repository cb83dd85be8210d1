// SPDX-License-Identifier: BSD-3-Clause
//
// tier.cc - READ and WRITE on blocks that live on T2: promotion (owned by a
// token, tier.h), pre-read and cold reads. The evictor is evict.cc, the T2
// allocator and T2 leaves t2_alloc.cc, the out-of-band iomaps (IOMAP_EXEC,
// IOM_DONE) iomap_jobs.cc; tier_state.h what they share.
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

constexpr auto kPromoWait = std::chrono::seconds(2);
// How often one request waits for room in a row (tier_wait_room): the
// depth of tier_prepare's calls that follow a wait, on this thread.
constexpr int kRoomWaits = 8;
thread_local int t_room_waits = 0;
constexpr uint64_t kPreRead = 256;     // blocks promoted ahead (1 MiB)
constexpr uint64_t kPreReadBelow = 64; // ... by requests smaller than this

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
	     it != ts.promos.end() && it->first.first == ino &&
	     it->first.second <= last;) {
		if (it->second.token != token ||
		    t2_leaf_valid(sbi, bmap_leaf(sbi, zi, it->first.second))) {
			++it;
			continue;
		}
		sbi.balloc.release(it->second.t1, 1);
		it = ts.promos.erase(it);
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
	if ((err = bt.close(zi)))
		return err;
	if ((err = tx.commit(ii)))
		return err;
	t2_free(sbi, t2);
	tier_of(sbi).promoted.fetch_add(1, std::memory_order_relaxed);
	return 0;
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
	uint64_t to =
		std::min(from + n, (size + kBlockSize - 1) >> kBlockShift) - 1;
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
	ts.pre_read.fetch_add(ts.promoted.load(std::memory_order_relaxed) -
				      before,
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
	return pos >= filepos && pos < size &&
	       pos + kBlockSize <= filepos + len &&
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

uint64_t tier_map_cut(zus_inode_info *ii, const zufs_ioc_IO *io)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !io->hdr.len)
		return UINT64_MAX;
	TierState &ts = tier_of(sbi);
	// Sequential reads promote (and pre-read), unless T1 is short and
	// T2 full: then nothing can make room, and a read must not fail.
	const bool stuck =
		sbi.balloc.free_blocks() < ts.low && !ts.alloc.nfree();
	if (!ts.alloc.used() || (!(io->flags & ZUFS_IO_RAND) && !stuck))
		return UINT64_MAX;
	std::shared_lock lk(ii->rw);
	const zus_inode *zi = ii->zi;
	const uint64_t size = zi->i_size;
	const uint64_t end =
		std::min<uint64_t>(io->filepos + io->hdr.len, size);
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
			return std::max<uint64_t>(io->filepos,
						  idx << kBlockShift);
	}
	return UINT64_MAX;
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
	// moves cold ones out first, synchronously (no lock held here). A T2
	// that fails those writes is this request's error (EIO), not ENOSPC.
	const uint64_t need = last - first + 1 + 16;
	int t2_err = 0;
	if (sbi.balloc.available() < need && ts.alloc.nfree() &&
	    (write || ts.alloc.used()))
		tier_make_room(sbi, need + kEvictBatch, &t2_err);
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
		auto it = ts.promos.find({ ii->ino, idx });
		bool others = false;
		if (it != ts.promos.end() &&
		    (!token || it->second.token != token)) {
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
			const uint64_t end = std::min<uint64_t>(
				io->filepos + io->hdr.len, size);
			if (!read || pos < io->filepos ||
			    pos + kBlockSize > end ||
			    (io->hdr.offset + (pos - io->filepos)) %
				    kBlockSize) {
				busy = true;
				continue;
			}
		}
		// A cold read of block idx into the answer; false: no room.
		auto add_cold = [&] {
			uint64_t page =
				(io->hdr.offset +
				 ((idx << kBlockShift) - io->filepos)) >>
				kBlockShift;
			if (ncold &&
			    cold[ncold - 1].t2 + cold[ncold - 1].n == t2 &&
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
		if (zufs::IomBuilder(io->ziom).t2_zusmem_read(
			    t2, sbi.blk(run.bn), got * kBlockSize)) {
			sbi.balloc.release(run.bn, got); // the iomap is full
			full = true;
			continue;
		}
		g.lock();
		if (!handed_token)
			handed_token = ++ts.next_token;
		for (uint64_t k = 0; k < got; ++k) {
			auto old = ts.promos.find({ ii->ino, idx + k });
			if (old != ts.promos.end()) { // ours, stale
				quarantine(sbi, ts, old->second, token);
				ts.promos.erase(old);
			}
			ts.promos[{ ii->ino, idx + k }] = { t2 + k, run.bn + k,
							    handed_token };
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
					auto it = ts.promos.find(
						{ ii->ino, at + k });
					if (it != ts.promos.end()) {
						sbi.balloc.release(
							it->second.t1, 1);
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
			for (; it != ts.promos.end() &&
			       it->first.first == ii->ino &&
			       it->first.second <= last;
			     ++it)
				if (!token || it->second.token != token)
					return false;
			return true;
		};
		std::unique_lock g(ts.mu);
		ts.promo_waits.fetch_add(1, std::memory_order_relaxed);
		if (!ts.promo_cv.wait_for(g, kPromoWait, mine)) {
			auto it = ts.promos.lower_bound({ ii->ino, first });
			while (it != ts.promos.end() &&
			       it->first.first == ii->ino &&
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
	if (nospc) {
		// Other requests took the T1 room seen above: make room into
		// this request's Hold (no lock held) and prepare again, as long
		// as that adds to what it holds (nothing was handed out yet).
		// The room moved from files with GET_MULTY pins out comes at
		// their PUT_MULTY: wait for it (tier_wait_room), a few times.
		const uint64_t held = sbi.balloc.held_here();
		if (sbi.balloc.holding() && ts.alloc.nfree()) {
			io->ziom.iom_n = 0;
			lk.unlock();
			tier_make_room(sbi, held + need + kEvictBatch, &t2_err);
			if (sbi.balloc.held_here() > held)
				return tier_prepare(ii, io, cap, first, last);
			if (!t2_err && t_room_waits < kRoomWaits &&
			    tier_wait_room(sbi)) {
				++t_room_waits;
				int e = tier_prepare(ii, io, cap, first, last);
				--t_room_waits;
				return e;
			}
		}
		// Nothing could move: T1 and T2 full (ENOSPC), or a T2 that
		// fails its writes (its error); the blocks stay where they are.
		return t2_err ? t2_err : -ENOSPC;
	}
	// The re-dispatch of a small sequential read that promoted: pre-read
	// (a 1 MiB request gains nothing from it: tier.h).
	if (committed && !write && !(io->flags & ZUFS_IO_RAND) &&
	    last - first + 1 < kPreReadBelow)
		pre_read(ii, ts, last + 1, kPreRead);
	// Only cold reads (or nothing) left: the answer carries them.
	for (uint32_t k = 0; k < ncold; ++k) {
		zufs::IomBuilder(io->ziom).t2_read_len(
			cold[k].t2, zufs::iom_t1_app_page(cold[k].page),
			cold[k].n);
		for (uint64_t b = cold[k].t2; b < cold[k].t2 + cold[k].n; ++b)
			recent_slot(ts, b).store(b + 1,
						 std::memory_order_relaxed);
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
			ts.failed_promotions.fetch_add(
				1, std::memory_order_relaxed);
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
		// A cold read of it is in the answer (tier_prepare's cold reads)?
		uint64_t page = (io->hdr.offset +
				 ((idx << kBlockShift) - io->filepos)) >>
				kBlockShift;
		uint64_t t2 = v & ~kT2Leaf;
		bool covered = false;
		const uint32_t n =
			std::min<uint32_t>(io->ziom.iom_n, ZUFS_WRITE_OP_SPACE);
		for (uint32_t k = 0, step; k < n && !covered; k += step) {
			const __u64 *e =
				&io->iom_e[k]; // a READ's room (ziom.iom_e)
			step = zufs::iom_op_size(_zufs_iom_opt_type(e));
			if (k + step > n)
				break;
			auto *op =
				reinterpret_cast<const zufs_iom_t2_io_len *>(e);
			uint64_t p0 = zu_dpp_t_bn(op->iom.t1_val);
			covered = _zufs_iom_opt_type(e) == IOM_T2_READ_LEN &&
				  page >= p0 && page < p0 + op->num_pages &&
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
	int err = zufs::IomBuilder(job->ziom())
			  .t2_zusmem_read(t2, sbi.blk(t1), kBlockSize);
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
		for (; idx != UINT64_MAX && idx <= last &&
		       mv.size() < kEvictBatch;
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
			while (i + n < mv.size() &&
			       mv[i + n].t1 == mv[i].t1 + n &&
			       mv[i + n].t2 == mv[i].t2 + n)
				++n;
			zufs::IomBuilder(job->ziom())
				.t2_zusmem_read(mv[i].t2, sbi.blk(mv[i].t1),
						n * kBlockSize);
			i += n;
		}
		int err = exec_sync(sbi, *job);
		for (size_t k = 0; k < mv.size(); ++k) {
			if (!err)
				err = commit_promotion(ii, mv[k].idx, mv[k].t2,
						       mv[k].t1);
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

} // namespace zus::pmfs
