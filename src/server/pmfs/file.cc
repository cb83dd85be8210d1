// SPDX-License-Identifier: BSD-3-Clause
//
// file.cc - READ, WRITE and LLSEEK (SEEK_DATA/SEEK_HOLE); GET_MULTY and
// PUT_MULTY are multy.cc's.
//
// Blocks fallocate linked are unwritten (bmap.h) and hold zeros: READ and
// GET_MULTY read them as any block, LLSEEK sees holes, and the first WRITE
// marks them written before copying into them.
//
// Hot paths (read/write/get/put of mapped blocks) take only the inode's
// rwlock and allocate nothing. A write copies once, from the request pages
// into pmem (non-temporal, no drain) and drains once per request. Writes into
// holes allocate in batches: data first (with the unwritten parts of each new
// block zeroed), then one transaction links the blocks, whose first drain
// also makes the data durable: ordered data.
//
// A block shared by COPY (refc.h) is never written in place: WRITE and the
// tail zeroing of a shrinking SETATTR (inode.cc) first give the file its
// own copy (unshare_range) and WRITE reports the pages in wr_unmap.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <linux/stat.h>

#include "fault/guard.h"
#include "server/pages.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/file.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/refc.h"
#include "server/pmfs/tier.h"
#include "server/pmfs/xattr.h"
#include "zufs/iom_enc.h"

namespace zus::pmfs {

using zufs::fault::Access;
using zufs::fault::guarded;

zus_inode_info *io_ii(zufs_ioc_IO *io, int *err)
{
	zus_inode_info *ii = ii_cookie(io->zus_ii, err);
	if (ii && !S_ISREG(ii->zi->i_mode)) {
		*err = S_ISDIR(ii->zi->i_mode) ? -EISDIR : -EINVAL;
		return nullptr;
	}
	return ii;
}

namespace {

// bmap_lookup under the guard: block-map blocks live among the data blocks,
// so a lost range of the image can take them too; the request fails.
int lookup(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx,
	   uint64_t *bn, bool *unwritten = nullptr)
{
	return guarded(Access::kRead, nullptr, 0, "block-map lookup",
		       [&] { *bn = bmap_lookup(sbi, zi, idx, unwritten); });
}

// Fill a run of holes starting at file position pos (block aligned or not)
// with new blocks: at most max_blocks (<= kWriteBatch), one transaction.
// *bytes is what was written. Extends i_size within the transaction.
// *bad: a new block that met a media fault (the transaction then aborts).
// *tried: the data blocks it got before an ENOSPC (a block-map node found
// none left).
int write_holes_tx(zus_sb_info &sbi, zus_inode_info *ii, PageCursor &src,
		   uint64_t pos, uint64_t len, uint64_t max_blocks,
		   uint64_t *bytes, uint64_t *first_idx, uint64_t *nblocks,
		   uint64_t *bad, uint64_t *tried)
{
	zus_inode *zi = ii->zi;
	uint64_t idx = pos >> kBlockShift;
	uint64_t last = (pos + len - 1) >> kBlockShift;
	uint64_t want = 1;
	while (want < max_blocks && idx + want <= last &&
	       !bmap_lookup(sbi, zi, idx + want))
		++want;

	BlockAlloc::Run runs[kWriteBatch];
	int nruns;
	uint64_t got = sbi.balloc.alloc(want, runs, kWriteBatch, &nruns);
	*tried = got;
	if (!got)
		return -ENOSPC;

	Tx tx(sbi);
	int err;
	if ((err = claim_runs_for(tx, sbi.balloc, runs, nruns, zi)))
		return err;

	BmapTx bt(sbi, tx, zi);
	uint64_t done = 0;
	BlockAlloc::RunBlocks blocks{ runs };
	for (uint64_t i = 0; i < got; ++i) {
		const uint64_t bn = blocks.next();
		char *blk = sbi.blk(bn);
		uint64_t boff = (pos + done) & (kBlockSize - 1);
		uint64_t n = std::min(kBlockSize - boff, len - done);
		// A media fault (guard.h) in a block nothing links yet: the
		// transaction aborts and the request fails, nothing changed.
		err = guarded(Access::kWrite, blk, kBlockSize,
			      "write into a new block",
			      [&] {
			if (boff)
				sbi.persist.memset_nodrain(blk, 0, boff);
			char *dst = blk + boff;
			src.walk(n, [&](char *p, size_t k) {
				sbi.persist.memcpy_nodrain(dst, p, k);
				dst += k;
			});
			if (boff + n < kBlockSize)
				sbi.persist.memset_nodrain(blk + boff + n, 0,
							   kBlockSize - boff -
								   n);
		});
		if (err)
			*bad = bn;
		if (err || (err = bt.insert(idx + i, bn)))
			return err; // the cursor moved, but nothing is linked
		done += n;
	}
	if ((err = bt.close(zi, int64_t(got))))
		return err;
	if (pos + done > zi->i_size)
		zi->i_size = pos + done;
	zi->i_mtime = zi->i_ctime = now_ns();
	if ((err = tx.commit(ii)))
		return err;
	*bytes = done;
	*first_idx = idx;
	*nblocks = got;
	return 0;
}

// write_holes_tx(); a block that met a media fault is not handed out again
// during this mount (the next write gets another one). When the data took
// the last free blocks and a block-map node found none, fewer data blocks
// go in, so that both fit: a full file system fills to its last block.
int write_holes(zus_sb_info &sbi, zus_inode_info *ii, PageCursor &src,
		uint64_t pos, uint64_t len, uint64_t *bytes,
		uint64_t *first_idx, uint64_t *nblocks)
{
	for (uint64_t max_blocks = kWriteBatch;;) {
		const PageCursor at = src;
		uint64_t bad = 0, tried = 0;
		int err =
			write_holes_tx(sbi, ii, src, pos, len, max_blocks,
				       bytes, first_idx, nblocks, &bad, &tried);
		if (bad &&
		    sbi.balloc.quarantine(bad)) // released by the aborted tx
			fprintf(stderr,
				"zufuse: image %s: block %llu (offset 0x%llx) taken out of use "
				"until unmount after a media fault\n",
				sbi.path.c_str(), (unsigned long long)bad,
				(unsigned long long)(bad << kBlockShift));
		if (err != -ENOSPC || tried <= 1)
			return err;
		max_blocks = tried / 2;
		src = at;
	}
}

} // namespace

zus_inode_info *file_ii(zus_inode_info *cookie, int *err)
{
	zus_inode_info *ii = ii_cookie(cookie, err);
	if (ii && !S_ISREG(ii->zi->i_mode)) {
		*err = S_ISDIR(ii->zi->i_mode) ? -EISDIR : -ENODEV;
		return nullptr;
	}
	return ii;
}

// A plain store under the shared lock, not a transaction and not flushed:
// atime becomes durable with the next transaction or sync that covers the
// inode, never at the cost of a read.
void touch_atime(const zus_sb_info &sbi, zus_inode *zi)
{
	if (sbi.noatime || sbi.ro ||
	    (zi->i_flags &
	     (ZUFS_S_NOATIME | ZUFS_S_IMMUTABLE))) // chattr +A, +i
		return;
	constexpr uint64_t kDay = 24ULL * 3600 * 1000000000ULL;
	// Times are signed (zus_api.h): compare them as such.
	int64_t atime =
		int64_t(__atomic_load_n(&zi->i_atime, __ATOMIC_RELAXED));
	int64_t now = int64_t(now_ns());
	if (!sbi.strictatime && atime > int64_t(zi->i_mtime) &&
	    atime > int64_t(zi->i_ctime) && now - atime < int64_t(kDay))
		return;
	__atomic_store_n(&zi->i_atime, now, __ATOMIC_RELAXED);
}

int unshare_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t first,
		  uint64_t last, uint64_t *cow_first, uint64_t *cow_last)
{
	constexpr int kBatch = 64; // blocks per transaction
	zus_inode *zi = ii->zi;
	uint64_t idx = first;
	while (idx <= last) {
		uint64_t at[kBatch], old[kBatch];
		int n = 0;
		for (; idx <= last && n < kBatch;
		     ++idx) { // last < kMaxFileBlocks
			uint64_t bn = bmap_lookup(sbi, zi, idx);
			if (bn && refc_shared(sbi, bn)) {
				at[n] = idx;
				old[n++] = bn;
			}
		}
		if (!n)
			continue;
		BlockAlloc::Run runs[kBatch];
		int nruns;
		if (sbi.balloc.alloc(n, runs, kBatch, &nruns) < uint64_t(n)) {
			for (int r = 0; r < nruns; ++r)
				sbi.balloc.release(runs[r].bn, runs[r].n);
			return -ENOSPC;
		}
		Tx tx(sbi);
		int err;
		if ((err = claim_runs_for(tx, sbi.balloc, runs, nruns, zi)))
			return err;
		BmapTx bt(sbi, tx, zi);
		bt.owner = ii;
		BlockAlloc::RunBlocks blocks{ runs };
		for (int i = 0; i < n; ++i) {
			const uint64_t bn = blocks.next();
			// Written before the transaction links it; its first
			// drain makes the copy durable (ordered, as a hole fill).
			err = guarded(Access::kWrite, sbi.blk(bn), kBlockSize,
				      "copy on write",
				      [&] {
				sbi.persist.memcpy_nodrain(sbi.blk(bn),
							   sbi.blk(old[i]),
							   kBlockSize);
			});
			if (err || (err = bt.replace(at[i], bn)) ||
			    (err = bt.put_leaf(old[i])))
				return err; // the transaction aborts: nothing changed
		}
		if ((err = bt.close(zi,
				    int64_t(n)))) // i_blocks: the same count
			return err;
		if ((err = tx.commit(ii)))
			return err;
		if (cow_first) {
			*cow_first = std::min(*cow_first, at[0]);
			*cow_last = std::max(*cow_last, at[n - 1]);
		}
	}
	return 0;
}

int free_blocks_from(zus_sb_info &sbi, zus_inode_info *ii, uint64_t from,
		     bool free_inode)
{
	zus_inode *zi = ii->zi;
	for (;;) {
		Tx tx(sbi);
		int err = tx.log(zi, sizeof(*zi));
		if (err)
			return err;
		BmapTx bt(sbi, tx, zi);
		bt.owner = ii;
		bool done;
		if ((err = bt.truncate(from, kTruncBatch, &done)))
			return err;
		// Orphan table (inode.h): the last step ends the inode, or the
		// truncation of an inode that still has a name.
		if (done && (free_inode || zi->i_nlink) &&
		    (err = sbi.icache->orphans().remove(tx, ii->ino)))
			return err;
		if ((err = bt.close(zi)))
			return err;
		if (done) // nothing is mapped past EOF any more
			zi->i_flags &= ~(kZiTruncating | kZiPrealloc);
		if (done && free_inode) { // the slot goes in the same step
			uint64_t gen = zi->i_generation;
			*zi = zus_inode{};
			zi->i_generation = gen;
		}
		if ((err = tx.commit(ii)))
			return err;
		if (done)
			return 0;
	}
}

int op_read(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
	int err = 0;
	io->last_pos = io->filepos;
	io->ziom.iom_n = 0; // pmfs answers reads without an iomap
	zus_inode_info *ii = io_ii(io, &err);
	if (!ii)
		return err;
	if (hdr->err < 0 && io->ziom.iomb) // our RETRY's iomap failed (tier.h)
		return tier_retry_failed(ii, io);
	if (hdr->len > ZUS_API_MAP_MAX_SIZE ||
	    !pages_cover(pages, hdr->offset, hdr->len))
		return -EINVAL;
	zus_sb_info &sbi = *ii->sbi;
	BlockAlloc::Hold hold(
		sbi.balloc); // the room a promotion makes is its own
	std::shared_lock lk(ii->rw, std::defer_lock);
	if (!hdr->len)
		lk.lock();
	else if ((err = tier_prepare_lock(
			  ii, io, ZUFS_WRITE_OP_SPACE,
			  io->filepos >> kBlockShift,
			  (io->filepos + hdr->len - 1) >> kBlockShift, lk)))
		return err; // -EZUFS_RETRY: blocks on T2 come back first
	zus_inode *zi = ii->zi;
	uint64_t pos = io->filepos;
	uint64_t size = zi->i_size;
	if (hdr->len)
		touch_atime(sbi, zi);
	if (pos >= size || !hdr->len)
		return 0;
	uint64_t len = std::min<uint64_t>(hdr->len, size - pos);

	PageCursor dst(pages, hdr->offset);
	uint64_t done = 0;
	while (done < len) {
		uint64_t at = pos + done;
		uint64_t boff = at & (kBlockSize - 1);
		uint64_t n = std::min(kBlockSize - boff, len - done);
		uint64_t bn;
		if ((err = lookup(sbi, zi, at >> kBlockShift, &bn)))
			break;
		const char *s = bn ? sbi.blk(bn) + boff : nullptr;
		// A media fault fails the read (the shim fails it whole: over
		// FUSE a short read would read as EOF).
		err = guarded(Access::kRead, s, n, "read", [&] {
			dst.walk(n, [&](char *p, size_t k) {
				if (s) {
					memcpy(p, s, k);
					s += k;
				} else {
					memset(p, 0, k);
				}
			});
		});
		if (err)
			break;
		done += n;
	}
	io->last_pos = pos + done;
	return err;
}

namespace {

// A WRITE found no T1 block for a hole (or its block-map nodes): with T2
// room left, move cold blocks out (no inode lock may be held for that)
// into the request's Hold (balloc.h), so no other writer can take them,
// and go on; a block of [at, last] an eviction moved meanwhile comes back
// first. When that left the Hold no bigger (what moved belonged to files
// with GET_MULTY pins out, whose T1 blocks come back at their last
// PUT_MULTY, to everyone; or it came back to this range), wait for such
// blocks (tier_wait_room), at most kRoomWaits times per request (*waits).
// True: lk is held again and the request owns more blocks than before,
// or free blocks are there to take, go on. False: nothing could move (T2
// full, T2 failing, every block pinned for good): a real ENOSPC, or *err
// = the T2's error (EIO) when a T2 write failed. So retrying ends: each
// true adds to what the request holds (a failed attempt gives its blocks
// back to it), or counts in *waits.
constexpr int kRoomWaits = 8;

bool make_room_unlocked(zus_inode_info *ii, zufs_ioc_IO *io,
			std::unique_lock<std::shared_mutex> &lk, uint64_t at,
			uint64_t last, uint64_t bytes, int *waits, int *err)
{
	zus_sb_info &sbi = *ii->sbi;
	if (!sbi.t2_blocks || !t2_free_blocks(sbi))
		return false;
	const uint64_t before = sbi.balloc.held_here();
	int t2_err = 0;
	lk.unlock();
	tier_make_room(sbi, before + (bytes >> kBlockShift) + 64, &t2_err);
	bool room = false; // free blocks after a wait
	for (;;) {
		lk.lock();
		// Blocks of the rest that went to T2 meanwhile come back now.
		const bool back =
			!tier_raced(ii, io, at >> kBlockShift,
				    last >> kBlockShift) ||
			!tier_promote_range_locked(ii, at >> kBlockShift,
						   last >> kBlockShift);
		if (back && (sbi.balloc.held_here() > before || room))
			return true;
		if (t2_err) {
			*err = t2_err;
			return false;
		}
		if (*waits >= kRoomWaits)
			return false;
		++*waits;
		lk.unlock();
		if (!(room = tier_wait_room(sbi))) {
			lk.lock();
			return false;
		}
	}
}

// The unwritten blocks (bmap.h) of [first, last] that follow first, at
// most kWriteBatch, become written in one transaction, committed before
// the WRITE copies anything into them: an unwritten block holds zeros
// whatever a crash interrupts (a crash after the commit leaves written
// zeros, as a write that never came).
int mark_written(zus_sb_info &sbi, zus_inode_info *ii, uint64_t first,
		 uint64_t last)
{
	zus_inode *zi = ii->zi;
	Tx tx(sbi);
	int err;
	if ((err = tx.log(zi, sizeof(*zi))))
		return err;
	BmapTx bt(sbi, tx, zi);
	bt.owner = ii;
	for (uint64_t idx = first; idx <= last && idx - first < kWriteBatch &&
				   bmap_unwritten(sbi, zi, idx);
	     ++idx)
		if ((err = bt.mark_written(idx)))
			return err;
	if ((err = bt.close(zi)))
		return err;
	return tx.commit(ii);
}

} // namespace

int op_write(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
	int err = 0;
	io->last_pos = io->filepos;
	io->wr_unmap.offset = io->wr_unmap.len = 0;
	io->ziom.iom_n = 0; // and writes too
	zus_inode_info *ii = io_ii(io, &err);
	if (!ii)
		return err;
	if (hdr->err < 0 && io->ziom.iomb) // our RETRY's iomap failed (tier.h)
		return tier_retry_failed(ii, io);
	zus_sb_info &sbi = *ii->sbi;
	if (sbi.ro)
		return -EROFS;
	if (hdr->len > ZUS_API_MAP_MAX_SIZE ||
	    !pages_cover(pages, hdr->offset, hdr->len))
		return -EINVAL;
	uint64_t pos = io->filepos;
	uint64_t len = hdr->len;
	if (!len)
		return 0;
	if (pos + len < pos ||
	    ((pos + len - 1) >> kBlockShift) >= kMaxFileBlocks)
		return -EFBIG;
	// The room this WRITE makes on T1 (tier_make_room) is its own.
	BlockAlloc::Hold hold(sbi.balloc);
	std::unique_lock lk(ii->rw, std::defer_lock);
	if ((err = tier_prepare_lock(ii, io, ZUFS_WRITE_OP_SPACE,
				     pos >> kBlockShift,
				     (pos + len - 1) >> kBlockShift, lk)))
		return err;
	zus_inode *zi = ii->zi;
	const bool dsync = io->flags & ZUFS_IO_DSYNC;
	zus::Persist::DataList
		dsync_data; // in-place copies of an O_DSYNC write
	const uint64_t old_size = zi->i_size;
	// Copies whose durability something depends on are tracked; a plain
	// overwrite inside the file waits for SYNC (or the kernel) in msync mode.
	const bool tracked = dsync || pos + len > old_size;
	const uint64_t old_pages = (old_size + kBlockSize - 1) >> kBlockShift;
	uint64_t unmap_first = UINT64_MAX, unmap_last = 0;
	// This request marked blocks written (mark_written: they and only
	// they follow the first one it met): their data goes with that
	// change of the block map, never ahead of it (the file back-end would
	// write a page only overwritten in place home before the commit that
	// says its block holds data; fsck: an unwritten block with data).
	bool converted = false;

	PageCursor src(pages, hdr->offset);
	uint64_t done = 0;
	int room_waits = 0; // make_room_unlocked
	while (done < len) {
		uint64_t at = pos + done;
		uint64_t boff = at & (kBlockSize - 1);
		uint64_t n = std::min(kBlockSize - boff, len - done);
		uint64_t bn;
		bool unwritten;
		if ((err = lookup(sbi, zi, at >> kBlockShift, &bn, &unwritten)))
			break;
		if (bn && refc_shared(sbi, bn)) { // copy on write (refc.h)
			// The shared blocks of the rest of the request, in batches.
			if ((err = unshare_range(sbi, ii, at >> kBlockShift,
						 (pos + len - 1) >> kBlockShift,
						 &unmap_first, &unmap_last)))
				break;
			bn = bmap_lookup(sbi, zi, at >> kBlockShift);
		}
		if (unwritten && // fallocate's (bmap.h): data from now on
		    (err = mark_written(sbi, ii, at >> kBlockShift,
					(pos + len - 1) >> kBlockShift)))
			break;
		converted = converted || unwritten;
		if (bn) {
			char *dst = sbi.blk(bn) + boff;
			// A media fault: this block may hold part of the new bytes,
			// as a disk sector that failed a write; the request stops.
			err = guarded(Access::kWrite, dst, n, "write", [&] {
				src.walk(n, [&](char *p, size_t k) {
					if (dsync && !converted)
						sbi.persist.memcpy_data(
							dst, p, k, &dsync_data);
					else if (tracked || converted)
						sbi.persist.memcpy_nodrain(
							dst, p, k);
					else
						sbi.persist.memcpy_lazy(dst, p,
									k);
					dst += k;
				});
			});
			if (err)
				break;
			done += n;
			continue;
		}
		uint64_t bytes = 0, first = 0, nb = 0;
		const PageCursor src_at = src; // write_holes may have used some
		err = write_holes(sbi, ii, src, at, len - done, &bytes, &first,
				  &nb);
		if (err == -ENOSPC &&
		    make_room_unlocked(ii, io, lk, at, pos + len - 1,
				       len - done, &room_waits, &err)) {
			err = 0;
			src = src_at;
			continue; // T1 taken by other writers meanwhile: room made
		}
		if (err)
			break;
		done += bytes;
		if (first < old_pages) { // cached zero pages of a hole changed
			unmap_first = std::min(unmap_first, first);
			unmap_last =
				std::max(unmap_last,
					 std::min(first + nb, old_pages) - 1);
		}
	}

	if (done) {
		uint64_t end = pos + done;
		if (end > zi->i_size) { // grew inside an existing block
			sbi.persist
				.drain(); // data before the size that exposes it
			zi->i_size = end;
			// After the store: a commit that missed it comes later.
			std::atomic_thread_fence(std::memory_order_seq_cst);
			ii->meta_epoch.store(sbi.persist.epoch(),
					     std::memory_order_release);
		}
		zi->i_mtime = zi->i_ctime = now_ns();
		if (tracked)
			sbi.persist.flush(zi, 64);
		else
			sbi.persist.flush_lazy(zi, 64);
		// O_DSYNC: the data, and what reaches it (the size, the block
		// map: committed, or a commit now); the times wait for the next
		// commit, as fdatasync(2) allows. O_SYNC: everything.
		int serr = 0;
		if (dsync)
			serr = sbi.persist.sync_data(
				&dsync_data,
				!(io->flags & ZUFS_IO_SYNC) &&
					sbi.persist.committed(ii->meta_epoch.load(
						std::memory_order_acquire)));
		else if (sbi.persist.is_pmem())
			sbi.persist.drain();
		if (serr) { // nothing of it may be taken as durable
			err = serr;
			done = 0;
		}
	}
	io->last_pos = pos + done;
	if (unmap_first != UINT64_MAX) {
		io->wr_unmap.offset = static_cast<uint32_t>(unmap_first);
		io->wr_unmap.len =
			static_cast<uint32_t>(unmap_last - unmap_first + 1);
	}
	return err;
}

int op_llseek(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *sk = reinterpret_cast<zufs_ioc_seek *>(hdr);
	int err = 0;
	sk->offset_out = 0;
	zus_inode_info *ii = ii_cookie(sk->zus_ii, &err);
	if (!ii)
		return err;
	if (!S_ISREG(ii->zi->i_mode))
		return -EINVAL;
	if (sk->whence != SEEK_DATA && sk->whence != SEEK_HOLE)
		return -EINVAL;
	std::shared_lock lk(ii->rw);
	const zus_inode *zi = ii->zi;
	const uint64_t size = zi->i_size, off = sk->offset_in;
	if (int64_t(off) < 0 || off >= size)
		return -ENXIO;
	// Unwritten blocks (bmap.h) are holes here, as on ext4.
	const bool data = sk->whence == SEEK_DATA;
	uint64_t idx = bmap_seek(*ii->sbi, zi, off >> kBlockShift,
				 data ? Seek::kData : Seek::kNoData);
	uint64_t pos =
		idx == UINT64_MAX ? size : std::max(off, idx << kBlockShift);
	if (data && pos >= size)
		return -ENXIO;
	sk->offset_out = std::min(pos, size);
	return 0;
}

} // namespace zus::pmfs
