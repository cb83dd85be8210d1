// SPDX-License-Identifier: BSD-3-Clause
//
// falloc.cc - FALLOCATE. Messages in zus_api.h.
//
// fallocate allocates zeroed blocks (written before the transaction that
// links them, made durable by its first drain, as write_holes does),
// linked as unwritten leaves (bmap.h: holes for SEEK_DATA/SEEK_HOLE, as
// ext4's unwritten extents, until a WRITE reaches them), and
// punches whole blocks out in bounded transactions (BmapTx::punch); the
// partial blocks at the edges of a punched or zeroed range are zeroed in
// place. Blocks allocated past i_size (KEEP_SIZE) are marked by kZiPrealloc
// and freed by the next truncation to or below i_size, as tmpfs does.
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "fault/guard.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/file.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/refc.h"
#include "server/pmfs/tier.h"

namespace zus::pmfs {

namespace {

constexpr uint64_t kMaxBytes = kMaxFileBlocks << kBlockShift;

// Zero [from, to) inside file block idx if it is mapped (a shared block is
// copied first: refc.h).
int zero_in_block(zus_sb_info &sbi, zus_inode_info *ii, uint64_t idx,
		  uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	int err = unshare_range(sbi, ii, idx, idx);
	if (err)
		return err;
	uint64_t bn = bmap_lookup(sbi, ii->zi, idx);
	if (!bn)
		return 0;
	char *p = sbi.blk(bn) + from;
	return zufs::fault::guarded(
		zufs::fault::Access::kWrite, p, to - from, "zeroing",
		[&] { sbi.persist.memset_nodrain(p, 0, to - from); });
}

// Free the whole blocks of [off, end) and zero the partial ones.
int punch_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t off,
		uint64_t end)
{
	zus_inode *zi = ii->zi;
	const uint64_t first = off >> kBlockShift,
		       last = (end - 1) >> kBlockShift;
	const uint64_t boff = off & (kBlockSize - 1),
		       eoff = end & (kBlockSize - 1);
	int err = 0;
	if (first == last && (boff || eoff)) {
		err = zero_in_block(sbi, ii, first, boff,
				    eoff ? eoff : kBlockSize);
	} else {
		if (boff)
			err = zero_in_block(sbi, ii, first, boff, kBlockSize);
		if (eoff && !err)
			err = zero_in_block(sbi, ii, last, 0, eoff);
	}
	sbi.persist.drain();
	if (err)
		return err;
	const uint64_t from = (off + kBlockSize - 1) >> kBlockShift;
	const uint64_t to = end >> kBlockShift;
	if (from >= to)
		return 0;
	for (;;) {
		Tx tx(sbi);
		if ((err = tx.log(zi, sizeof(*zi))))
			return err;
		BmapTx bt(sbi, tx, zi);
		bt.owner = ii;
		bool done;
		if ((err = bt.punch(from, to, kTruncBatch, &done)))
			return err;
		if ((err = bt.close(zi)))
			return err;
		if ((err = tx.commit(ii)))
			return err;
		if (done)
			return 0;
	}
}

// Map zeroed, unwritten blocks into the holes of [off, end).
int alloc_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t off,
		uint64_t end)
{
	zus_inode *zi = ii->zi;
	const uint64_t last = (end - 1) >> kBlockShift;
	uint64_t idx = off >> kBlockShift;
	while (idx <= last) {
		uint64_t h = bmap_seek(sbi, zi, idx, false);
		if (h > last)
			return 0;
		uint64_t d = bmap_seek(sbi, zi, h, true);
		uint64_t want = std::min({ d, last + 1, h + kWriteBatch }) - h;

		BlockAlloc::Run runs[kWriteBatch];
		int nruns;
		uint64_t got =
			sbi.balloc.alloc(want, runs, kWriteBatch, &nruns);
		if (!got)
			return -ENOSPC;
		Tx tx(sbi);
		int err;
		if ((err = claim_runs_for(tx, sbi.balloc, runs, nruns, zi)))
			return err;
		BmapTx bt(sbi, tx, zi);
		BlockAlloc::RunBlocks blocks{ runs };
		for (uint64_t i = 0; i < got; ++i) {
			const uint64_t bn = blocks.next();
			// A media fault aborts the transaction: nothing is
			// linked yet.
			err = zufs::fault::guarded(zufs::fault::Access::kWrite,
						   sbi.blk(bn), kBlockSize,
						   "preallocation",
						   [&] {
				sbi.persist.memset_nodrain(sbi.blk(bn), 0,
							   kBlockSize);
			});
			if (err ||
			    (err = bt.insert(h + i, bn | kUnwrittenLeaf)))
				return err;
		}
		if ((err = bt.close(zi, int64_t(got))))
			return err;
		if (((h + got) << kBlockShift) >
		    ((zi->i_size + kBlockSize - 1) & ~(kBlockSize - 1)))
			zi->i_flags |= kZiPrealloc; // until i_size covers them
		if ((err = tx.commit(ii)))
			return err;
		idx = h + got;
	}
	return 0;
}

// Blocks on T2 that fallocate touches come back first: zeroing and
// preallocating work on T1. A punch frees whole blocks where they are and
// brings back only a partial block at an edge, from the reserve if T1 is
// full (balloc.h): freeing must not fail for want of space.
int promote_for(zus_inode_info *ii, uint64_t off, uint64_t end, bool punch)
{
	const uint64_t first = off >> kBlockShift,
		       last = (end - 1) >> kBlockShift;
	if (!punch)
		return tier_promote_range_locked(ii, first, last);
	BlockAlloc::ReserveScope reserve;
	int err = 0;
	if ((off & (kBlockSize - 1)) ||
	    (first == last && (end & (kBlockSize - 1))))
		err = tier_promote_locked(ii, first);
	if (!err && last != first && (end & (kBlockSize - 1)))
		err = tier_promote_locked(ii, last);
	return err;
}

} // namespace

int op_fallocate(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
	int err = 0;
	io->wr_unmap.offset = io->wr_unmap.len = 0;
	zus_inode_info *ii = file_ii(io->zus_ii, &err);
	if (!ii)
		return err;
	zus_sb_info &sbi = *ii->sbi;
	if (sbi.ro)
		return -EROFS;
	const uint64_t mode = io->flags;
	const uint64_t off = io->filepos, end = io->last_pos;
	const bool keep = mode & FALLOC_FL_KEEP_SIZE;
	const bool punch = mode & FALLOC_FL_PUNCH_HOLE;
	const bool zero = mode & FALLOC_FL_ZERO_RANGE;
	if (mode & ~uint64_t(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			     FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((punch && !keep) || (punch && zero))
		return -EOPNOTSUPP;
	if (end <= off || int64_t(off) < 0)
		return -EINVAL;
	if (end > kMaxBytes)
		return -EFBIG;

	// Capacity is T1 + T2 (tier.h): preallocation short of T1 moves cold
	// blocks to T2 first, with no lock held, as a WRITE does, into this
	// request's Hold (balloc.h: no other request takes that room).
	// A T2 that fails those moves makes a preallocation short of T1 its
	// error (EIO), not ENOSPC.
	BlockAlloc::Hold hold(sbi.balloc);
	int t2_err = 0;
	if (!punch && sbi.t2_blocks) {
		uint64_t want =
			((end - 1) >> kBlockShift) - (off >> kBlockShift) + 17;
		if (sbi.balloc.available() < want)
			tier_make_room(sbi, want + 256, &t2_err);
	}

	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	if ((err = promote_for(ii, off, end, punch)))
		return err;
	if (punch || zero) {
		// A punch frees: a shared block at an edge (copied first,
		// refc.h) may come from the reserve; a zeroed range may not.
		BlockAlloc::ReserveScope reserve(punch);
		if ((err = punch_range(sbi, ii, off, end)))
			return err;
		uint64_t p0 = off >> kBlockShift, p1 = (end - 1) >> kBlockShift;
		if (p1 >= UINT32_MAX)
			p1 = UINT32_MAX -
			     1; // beyond: the shim drops to EOF anyway
		if (p0 <= p1) {
			io->wr_unmap.offset = static_cast<uint32_t>(p0);
			io->wr_unmap.len = static_cast<uint32_t>(p1 - p0 + 1);
		}
	}
	if (!punch && (err = alloc_range(sbi, ii, off, end)))
		return err == -ENOSPC && t2_err ? t2_err : err;

	// The new size and the times, in one step.
	Tx tx(sbi);
	if ((err = tx.log(zi, sizeof(*zi))) || (err = tx.ready()))
		return err;
	if (!keep && end > zi->i_size)
		zi->i_size = end;
	zi->i_mtime = zi->i_ctime = now_ns();
	return tx.commit(ii);
}

} // namespace zus::pmfs
