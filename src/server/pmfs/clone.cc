// SPDX-License-Identifier: BSD-3-Clause
//
// clone.cc - CLONE (refused) and COPY (copy_file_range inside the server).
// Messages in zus_api.h.
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
	uint64_t n = std::min<uint64_t>((end_in - pos_in) >> kBlockShift,
					kShareBatch);
	// The source's partial last block too, when the copy ends the
	// destination there: past EOF both read as zeros (the tail of a last
	// block is kept zeroed), so a small copy of a whole file is one
	// transaction.
	const bool tail = (end_in & (kBlockSize - 1)) && end_in == sz->i_size &&
			  n == ((end_in - pos_in) >> kBlockShift) &&
			  n < kShareBatch &&
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
		// An unwritten source block (bmap.h) is shared unwritten.
		const uint64_t v =
			bn |
			(bmap_unwritten(sbi, sz, si + k) ? kUnwrittenLeaf : 0);
		const uint64_t old = bmap_leaf(sbi, dz, di + k);
		if (old == bn &&
		    bmap_unwritten(sbi, dz, di + k) == bool(v & kUnwrittenLeaf))
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
			err = old ? bt.replace(di + k, v, false) :
				    bt.insert(di + k, v);
		if (err)
			return err; // the transaction aborts: nothing changed
		++added;
	}
	if (!k)
		return 0;
	if ((err = bt.close(dz, int64_t(added))))
		return err;
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
	if (src == dst && cl->len && cl->pos_in < cl->pos_out + cl->len &&
	    cl->pos_out < cl->pos_in + cl->len)
		return -EINVAL; // overlapping ranges of one file
	constexpr uint64_t kMaxCopy = 1ULL
				      << 30; // per message; the caller loops
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

	const bool aligned =
		((cl->pos_in ^ cl->pos_out) & (kBlockSize - 1)) == 0;
	uint64_t done = 0;
	while (done < len) {
		const uint64_t pin = cl->pos_in + done;
		uint64_t piece = std::min<uint64_t>(kChunk, len - done);
		if (aligned) { // share what whole blocks allow, copy the rest
			if (!(pin & (kBlockSize - 1))) {
				uint64_t shared;
				if ((err = share_blocks(src, dst, pin,
							cl->pos_out + done,
							len - done, &shared)))
					break;
				if (shared) {
					done += shared;
					continue;
				}
			}
			piece = std::min(piece,
					 kBlockSize - (pin & (kBlockSize - 1)));
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
