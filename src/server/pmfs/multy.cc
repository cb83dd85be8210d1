// SPDX-License-Identifier: BSD-3-Clause
//
// multy.cc - GET_MULTY and PUT_MULTY: the T1 blocks of a file range mapped
// out to the shim (mmap faults, zero-copy reads) as IOM_T1_READ entries,
// and the pin that keeps them: a block freed while a file has pins out
// (truncate, punch, COPY's unshare) goes back to the allocator only at the
// file's last PUT_MULTY. A cold T2 block is not promoted for a GET: the
// shim READs from there on (ZUFS_GBF_READ, tier.h).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <mutex>
#include <shared_mutex>

#include "fault/guard.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/file.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"
#include "zufs/iom_enc.h"

namespace zus::pmfs {

using zufs::fault::Access;
using zufs::fault::guarded;

namespace {

// GET_MULTY/PUT_MULTY: the message is a zufs_ioc_IO whose iom_e holds
// ziom.iom_max entries; check the message is that long.
bool multy_fits(const zufs_ioc_IO *io)
{
	return io->ziom.iom_max <= ZUS_API_MAP_MAX_PAGES &&
	       io->hdr.in_len >= offsetof(zufs_ioc_IO, iom_e) +
					 io->ziom.iom_max * sizeof(__u64);
}

} // namespace

int op_get_multy(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
	int err = 0;
	io->last_pos = io->filepos;
	zus_inode_info *ii = io_ii(io, &err);
	if (!ii)
		return err;
	if (!multy_fits(io))
		return -EINVAL;
	if (hdr->err < 0 && io->ziom.iomb) // our RETRY's iomap failed (tier.h)
		return tier_retry_failed(ii, io);
	io->ziom.iom_n = 0;
	io->gp_block.ret_flags = 0;
	zus_sb_info &sbi = *ii->sbi;
	uint64_t len = hdr->len;
	if (len && io->filepos + len <= io->filepos)
		len = 0;
	// A cold T2 block is not promoted: map up to it, the shim READs the
	// rest (ZUFS_GBF_READ) and the READ reads it from T2 (tier.h).
	// Not on the re-dispatch of a promotion (a token): that one commits.
	if (uint64_t cut =
		    len && !io->ziom.iomb ? tier_map_cut(ii, io) : UINT64_MAX;
	    cut != UINT64_MAX) {
		io->gp_block.ret_flags = ZUFS_GBF_READ;
		if (!(len = cut - io->filepos))
			return 0; // nothing pinned
	}
	std::shared_lock lk(ii->rw, std::defer_lock);
	if (!len)
		lk.lock();
	else if ((err = tier_prepare_lock(
			  ii, io, io->ziom.iom_max, io->filepos >> kBlockShift,
			  (io->filepos + len - 1) >> kBlockShift, lk))) {
		if (err != -ENOSPC && err != -EIO)
			return err;
		// No T1 to promote into (T1 and T2 full, or a T2 failing the
		// writes that would make room): the shim reads it all by READ,
		// which reads T2 blocks in place (tier.h) or says what failed.
		io->ziom.iom_n = 0;
		io->last_pos = io->filepos;
		io->gp_block.ret_flags = ZUFS_GBF_READ;
		return 0;
	}
	zus_inode *zi = ii->zi;
	uint64_t pos = io->filepos;
	uint64_t size = zi->i_size;
	if (len)
		touch_atime(sbi, zi);
	if (pos >= size || !len || !io->ziom.iom_max)
		return 0;
	uint64_t end = std::min<uint64_t>(pos + len, size);
	uint64_t first = pos >> kBlockShift;
	uint64_t n = ((end - 1) >> kBlockShift) - first + 1;
	if (n > io->ziom.iom_max) {
		n = io->ziom.iom_max;
		end = (first + n) << kBlockShift;
	}
	io->ziom.iom_n = 0;
	zufs::IomBuilder iom(io->ziom);
	if ((err = guarded(Access::kRead, nullptr, 0, "block-map lookup", [&] {
		     for (uint64_t i = 0; i < n; ++i)
			     iom.t1_read(zu_enc_dpp_t_bn(
				     bmap_lookup(sbi, zi, first + i), 0));
	     }))) {
		io->ziom.iom_n = 0;
		return err;
	}
	ii->pins.fetch_add(1, std::memory_order_acq_rel);
	io->last_pos = end;
	return 0;
}

int op_put_multy(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
	int err = 0;
	zus_inode_info *ii = ii_cookie(io->zus_ii, &err);
	if (!ii)
		return err;
	if (!multy_fits(io) || io->ziom.iom_n > io->ziom.iom_max)
		return -EINVAL;
	if (!io->ziom.iom_n)
		return 0; // GET pinned nothing
	int64_t cur = ii->pins.load(std::memory_order_relaxed);
	do {
		if (cur <= 0)
			return -EINVAL; // a PUT without its GET
	} while (!ii->pins.compare_exchange_weak(cur, cur - 1,
						 std::memory_order_acq_rel));
	if (cur == 1) { // the last pin: blocks freed meanwhile may be reused
		uint64_t released = 0;
		{
			std::lock_guard lk(ii->defer_mu);
			if (ii->pins.load(std::memory_order_acquire) == 0) {
				for (auto [bn, n] : ii->deferred) {
					ii->sbi->balloc.release(bn, n);
					released += n;
				}
				ii->deferred.clear();
			}
		}
		if (released) // a request short of T1 may wait for them
			ii->sbi->deferred_released(released);
		ii->sbi->unhold_blocks(ii); // shared blocks it dropped (refc.h)
	}
	return 0;
}

} // namespace zus::pmfs
