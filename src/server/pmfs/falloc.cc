// SPDX-License-Identifier: BSD-3-Clause
//
// falloc.cc - FALLOCATE, LLSEEK (SEEK_DATA/SEEK_HOLE) and COPY
// (copy_file_range inside the server). Messages in zus_api.h.
//
// COPY shares blocks copy-on-write where whole blocks allow (refc.h): when
// pos_in and pos_out have the same offset in a block, each whole source
// block inside the range and the source's size (or the source's partial
// last block, when the copy ends the destination there too), on T1, with a
// count below
// kRefcMax, becomes the destination's block too (its count + 1; the
// destination's old block is put), in transactions of kShareBatch blocks.
// Everything else (the partial blocks at the edges, source holes, blocks on
// T2, saturated counts, misaligned ranges) is copied through READ/WRITE.
// The shim drops its cached pages of the destination range, as for a copy.
//
// fallocate allocates zeroed blocks (written before the transaction that
// links them, made durable by its first drain, as write_holes does) and
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

constexpr uint64_t kSectors = kBlockSize / 512;
constexpr uint64_t kMaxBytes = kMaxFileBlocks << kBlockShift;

zus_inode_info *file_ii(zus_inode_info *cookie, int *err)
{
	zus_inode_info *ii = ii_cookie(cookie, err);
	if (ii && !S_ISREG(ii->zi->i_mode)) {
		*err = S_ISDIR(ii->zi->i_mode) ? -EISDIR : -ENODEV;
		return nullptr;
	}
	return ii;
}

// Zero [from, to) inside file block idx if it is mapped (a shared block is
// copied first: refc.h).
int zero_in_block(zus_sb_info &sbi, zus_inode_info *ii, uint64_t idx, uint64_t from,
		  uint64_t to)
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
	return zufs::fault::guarded(zufs::fault::Access::kWrite, p, to - from, "zeroing",
				    [&] { sbi.persist.memset_nodrain(p, 0, to - from); });
}

// Free the whole blocks of [off, end) and zero the partial ones.
int punch_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t off, uint64_t end)
{
	zus_inode *zi = ii->zi;
	const uint64_t first = off >> kBlockShift, last = (end - 1) >> kBlockShift;
	const uint64_t boff = off & (kBlockSize - 1), eoff = end & (kBlockSize - 1);
	int err = 0;
	if (first == last && (boff || eoff)) {
		err = zero_in_block(sbi, ii, first, boff, eoff ? eoff : kBlockSize);
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
		bt.finish();
		if ((err = tx.ready()))
			return err;
		zi->i_on_disk.a[0] = bt.root;
		zi->i_on_disk.a[1] = bt.height;
		int64_t b = int64_t(zi->i_blocks) + bt.blocks_delta * int64_t(kSectors);
		zi->i_blocks = b < 0 ? 0 : uint64_t(b);
		if ((err = tx.commit(ii)))
			return err;
		if (done)
			return 0;
	}
}

// Map zeroed blocks into the holes of [off, end).
int alloc_range(zus_sb_info &sbi, zus_inode_info *ii, uint64_t off, uint64_t end)
{
	zus_inode *zi = ii->zi;
	const uint64_t last = (end - 1) >> kBlockShift;
	uint64_t idx = off >> kBlockShift;
	while (idx <= last) {
		uint64_t h = bmap_seek(sbi, zi, idx, false);
		if (h > last)
			return 0;
		uint64_t d = bmap_seek(sbi, zi, h, true);
		uint64_t want = std::min({d, last + 1, h + kWriteBatch}) - h;

		BlockAlloc::Run runs[kWriteBatch];
		int nruns;
		uint64_t got = sbi.balloc.alloc(want, runs, kWriteBatch, &nruns);
		if (!got)
			return -ENOSPC;
		Tx tx(sbi);
		int err;
		if ((err = claim_runs_for(tx, sbi.balloc, runs, nruns, zi)))
			return err;
		BmapTx bt(sbi, tx, zi);
		uint64_t i = 0;
		for (int r = 0; r < nruns; ++r) {
			for (uint64_t k = 0; k < runs[r].n; ++k, ++i) {
				uint64_t bn = runs[r].bn + k;
				// A media fault aborts the transaction: nothing
				// is linked yet.
				err = zufs::fault::guarded(
					zufs::fault::Access::kWrite, sbi.blk(bn), kBlockSize,
					"preallocation", [&] {
						sbi.persist.memset_nodrain(sbi.blk(bn), 0,
									   kBlockSize);
					});
				if (err || (err = bt.insert(h + i, bn)))
					return err;
			}
		}
		bt.finish();
		if ((err = tx.ready()))
			return err;
		zi->i_on_disk.a[0] = bt.root;
		zi->i_on_disk.a[1] = bt.height;
		zi->i_blocks += (got + bt.blocks_delta) * kSectors;
		if (((h + got) << kBlockShift) > ((zi->i_size + kBlockSize - 1) & ~(kBlockSize - 1)))
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
	const uint64_t first = off >> kBlockShift, last = (end - 1) >> kBlockShift;
	if (!punch)
		return tier_promote_range_locked(ii, first, last);
	BlockAlloc::ReserveScope reserve;
	int err = 0;
	if ((off & (kBlockSize - 1)) || (first == last && (end & (kBlockSize - 1))))
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
	if (mode & ~uint64_t(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
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
	BlockAlloc::Hold hold(sbi.balloc);
	if (!punch && sbi.t2_blocks) {
		uint64_t want = ((end - 1) >> kBlockShift) - (off >> kBlockShift) + 17;
		if (sbi.balloc.available() < want)
			tier_make_room(sbi, want + 256);
	}

	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	if ((err = promote_for(ii, off, end, punch)))
		return err;
	if (punch || zero) {
		if ((err = punch_range(sbi, ii, off, end)))
			return err;
		uint64_t p0 = off >> kBlockShift, p1 = (end - 1) >> kBlockShift;
		if (p1 >= UINT32_MAX)
			p1 = UINT32_MAX - 1; // beyond: the shim drops to EOF anyway
		if (p0 <= p1) {
			io->wr_unmap.offset = static_cast<uint32_t>(p0);
			io->wr_unmap.len = static_cast<uint32_t>(p1 - p0 + 1);
		}
	}
	if (!punch && (err = alloc_range(sbi, ii, off, end)))
		return err;

	// The new size and the times, in one step.
	Tx tx(sbi);
	if ((err = tx.log(zi, sizeof(*zi))) || (err = tx.ready()))
		return err;
	if (!keep && end > zi->i_size)
		zi->i_size = end;
	zi->i_mtime = zi->i_ctime = now_ns();
	return tx.commit(ii);
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
	const bool data = sk->whence == SEEK_DATA;
	uint64_t idx = bmap_seek(*ii->sbi, zi, off >> kBlockShift, data);
	uint64_t pos = idx == UINT64_MAX ? size : std::max(off, idx << kBlockShift);
	if (data && pos >= size)
		return -ENXIO;
	sk->offset_out = std::min(pos, size);
	return 0;
}

int op_clone(zufs_ioc_hdr *hdr, zufs::page_list)
{
	reinterpret_cast<zufs_ioc_clone *>(hdr)->copied = 0;
	return -EOPNOTSUPP; // blocks are shared by COPY only (refc.h)
}

namespace {

constexpr uint64_t kShareBatch = 64; // blocks shared per transaction

// COPY's sharing step: dst's blocks from pos_out point at src's blocks from
// pos_in (both block aligned, ranges not overlapping), for whole blocks
// inside [pos_in, pos_in + len) and the source's size (and its partial
// last block when the copy ends both files there), at most kShareBatch,
// one transaction. Stops at the first block it cannot share; *shared =
// bytes shared (0: the caller copies the next block).
int share_blocks(zus_inode_info *src, zus_inode_info *dst, uint64_t pos_in,
		 uint64_t pos_out, uint64_t len, uint64_t *shared)
{
	*shared = 0;
	zus_sb_info &sbi = *dst->sbi;
	// Both inodes, in ino order as namespace ops lock them (pmfs.h); one
	// lock when they are the same.
	const bool src_first = src->ino < dst->ino;
	std::unique_lock l1(src_first ? src->rw : dst->rw);
	std::unique_lock l2(src_first ? dst->rw : src->rw, std::defer_lock);
	if (src != dst)
		l2.lock();
	zus_inode *sz = src->zi, *dz = dst->zi;
	const uint64_t end_in = std::min(pos_in + len, uint64_t(sz->i_size));
	if (end_in <= pos_in)
		return 0;
	const uint64_t si = pos_in >> kBlockShift, di = pos_out >> kBlockShift;
	uint64_t n = std::min<uint64_t>((end_in - pos_in) >> kBlockShift, kShareBatch);
	// The source's partial last block too, when the copy ends the
	// destination there: past EOF both read as zeros (the tail of a last
	// block is kept zeroed), so a small copy of a whole file is one
	// transaction.
	const bool tail = (end_in & (kBlockSize - 1)) && end_in == sz->i_size &&
			  n == ((end_in - pos_in) >> kBlockShift) && n < kShareBatch &&
			  pos_out + (end_in - pos_in) >= dz->i_size;
	if (tail)
		++n;
	if (di >= kMaxFileBlocks)
		return 0;
	n = std::min(n, kMaxFileBlocks - di);
	if (!n)
		return 0;

	Tx tx(sbi);
	int err;
	if ((err = tx.log(dz, sizeof(*dz))))
		return err;
	BmapTx bt(sbi, tx, dz);
	bt.owner = dst;
	uint64_t k = 0, added = 0;
	for (; k < n; ++k) {
		// (Reads of the trees see them as before this transaction;
		// each index is changed once and the ranges do not overlap.)
		const uint64_t bn = bmap_lookup(sbi, sz, si + k);
		if (!bn)
			break; // a hole, or a block on T2: copied
		const uint64_t old = bmap_leaf(sbi, dz, di + k);
		if (old == bn)
			continue; // already shared here
		if (old & kT2Leaf)
			break; // copied (a T2 free cannot be undone by an abort)
		if ((err = bt.share(bn)) == -EMLINK) {
			err = 0;
			break; // saturated: copied
		}
		if (err)
			return err;
		if (old)
			err = bt.put_leaf(old);
		if (!err)
			err = old ? bt.replace(di + k, bn) : bt.insert(di + k, bn);
		if (err)
			return err; // the transaction aborts: nothing changed
		++added;
	}
	if (!k)
		return 0;
	bt.finish();
	if ((err = tx.ready()))
		return err;
	dz->i_on_disk.a[0] = bt.root;
	dz->i_on_disk.a[1] = bt.height;
	int64_t b = int64_t(dz->i_blocks) + (int64_t(added) + bt.blocks_delta) * int64_t(kSectors);
	dz->i_blocks = b < 0 ? 0 : uint64_t(b);
	const uint64_t bytes = std::min(k << kBlockShift, end_in - pos_in);
	if (pos_out + bytes > dz->i_size)
		dz->i_size = pos_out + bytes;
	dz->i_mtime = dz->i_ctime = now_ns();
	if ((err = tx.commit(dst)))
		return err;
	*shared = bytes;
	return 0;
}

} // namespace

int op_copy(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *cl = reinterpret_cast<zufs_ioc_clone *>(hdr);
	int err = 0;
	cl->copied = 0;
	zus_inode_info *src = file_ii(cl->src_zus_ii, &err);
	if (!src)
		return err == -ENODEV ? -EINVAL : err;
	zus_inode_info *dst = file_ii(cl->dst_zus_ii, &err);
	if (!dst)
		return err == -ENODEV ? -EINVAL : err;
	if (src->sbi != dst->sbi)
		return -EXDEV;
	if (dst->sbi->ro)
		return -EROFS;
	if (cl->flags)
		return -EINVAL;
	if (src == dst && cl->len &&
	    cl->pos_in < cl->pos_out + cl->len && cl->pos_out < cl->pos_in + cl->len)
		return -EINVAL; // overlapping ranges of one file
	constexpr uint64_t kMaxCopy = 1ULL << 30; // per message; the caller loops
	constexpr size_t kChunk = 1 << 20;
	const uint64_t len = std::min<uint64_t>(cl->len, kMaxCopy);

	// A bounce buffer in DRAM, per thread: source pages -> it -> destination.
	struct FreeMem {
		void operator()(void *p) const { free(p); }
	};
	thread_local std::unique_ptr<char, FreeMem> buf(
		static_cast<char *>(aligned_alloc(kBlockSize, kChunk)));
	if (!buf)
		return -ENOMEM;
	void *pv[kChunk / kBlockSize];
	for (size_t i = 0; i < kChunk / kBlockSize; ++i)
		pv[i] = buf.get() + i * kBlockSize;
	zufs::page_list pages(pv, kChunk / kBlockSize);

	const bool aligned = ((cl->pos_in ^ cl->pos_out) & (kBlockSize - 1)) == 0;
	uint64_t done = 0;
	while (done < len) {
		const uint64_t pin = cl->pos_in + done;
		uint64_t piece = std::min<uint64_t>(kChunk, len - done);
		if (aligned) { // share what whole blocks allow, copy the rest
			if (!(pin & (kBlockSize - 1))) {
				uint64_t shared;
				if ((err = share_blocks(src, dst, pin, cl->pos_out + done,
							len - done, &shared)))
					break;
				if (shared) {
					done += shared;
					continue;
				}
			}
			piece = std::min(piece, kBlockSize - (pin & (kBlockSize - 1)));
		}
		uint32_t n = static_cast<uint32_t>(piece);
		zufs_ioc_IO rd{};
		rd.hdr.operation = ZUFS_OP_READ;
		rd.hdr.in_len = sizeof(rd);
		rd.hdr.len = n;
		rd.zus_ii = src;
		rd.filepos = cl->pos_in + done;
		if ((err = op_read(&rd.hdr, pages)))
			break;
		uint64_t got = rd.last_pos - rd.filepos;
		if (!got)
			break; // end of the source
		zufs_ioc_IO wr{};
		wr.hdr.operation = ZUFS_OP_WRITE;
		wr.hdr.in_len = sizeof(wr);
		wr.hdr.len = static_cast<uint32_t>(got);
		wr.zus_ii = dst;
		wr.filepos = cl->pos_out + done;
		err = op_write(&wr.hdr, pages);
		done += wr.last_pos - wr.filepos;
		if (err || wr.last_pos - wr.filepos < got)
			break;
	}
	cl->copied = done;
	return done ? 0 : err;
}

} // namespace zus::pmfs
