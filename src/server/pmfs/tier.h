// SPDX-License-Identifier: BSD-3-Clause
//
// tier.h - pmfs's side of tier 2: iomaps the server builds and asks the
// shim to execute out of band (ZU_IOC_IOMAP_EXEC through zufs::ZufCalls),
// synchronously or asynchronously, and their completion (ZUFS_OP_IOM_DONE).
//
// Contract:
//  - An IomapJob (the ABI's zus_iomap_build, whose address is the iomb
//    cookie) owns its zufs_ioc_iomap_exec message; fill it with a
//    zufs::IomBuilder (zufs/iom_enc.h) over job->ziom().
//  - exec_sync(): returns the shim's result (0 or a negative errno).
//  - exec_async(): 0 = submitted, and done(result) runs exactly once, later,
//    on the shim's completion thread, when IOM_DONE arrives (in submission
//    order: the shim's T2 completes FIFO). < 0 = refused at once; done is
//    never called. The job lives until done has run.
//  - IOM_DONE with an iomb the mount does not have in flight is -EINVAL
//    (the cookie is never dereferenced before it is found).
//  - drain(): waits until no job is in flight (UMOUNT; the shim closes its
//    T2, delivering every IOM_DONE, before it sends UMOUNT).
//  - sbi.t2_blocks is the size of the shim's T2 ("t2size=" at mount).
#ifndef ZUS_PMFS_TIER_H
#define ZUS_PMFS_TIER_H

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

struct zus_sb_info;
struct zus_inode_info;

struct zus_iomap_build {
	explicit zus_iomap_build(uint32_t max_entries);
	zufs_ioc_iomap_exec *ioc()
	{
		return reinterpret_cast<zufs_ioc_iomap_exec *>(msg.data());
	}
	zufs_iomap &ziom() { return ioc()->ziom; }

	std::vector<uint64_t> msg; // zufs_ioc_iomap_exec + iom_e[max]
	std::function<void(int)> done;
};

namespace zus::pmfs {

using IomapJob = zus_iomap_build;

class IomapJobs {
  public:
	// Takes job; 0 (done will run) or the refusal (done will not).
	int submit(zus_sb_info &sbi, std::unique_ptr<IomapJob> job,
		   std::function<void(int)> done);
	// IOM_DONE: the job's done(result); -EINVAL for an unknown iomb.
	int complete(zus_iomap_build *iomb, int result);
	void drain();
	size_t in_flight();

  private:
	std::mutex mu_;
	std::condition_variable cv_;
	std::unordered_map<zus_iomap_build *, std::unique_ptr<IomapJob>> jobs_;
};

std::unique_ptr<IomapJob> make_iomap_job(uint32_t max_entries);
int exec_sync(zus_sb_info &sbi, IomapJob &job);
int exec_async(zus_sb_info &sbi, std::unique_ptr<IomapJob> job,
	       std::function<void(int)> done);
// Wait for every async job of the mount (before UMOUNT's teardown).
void drain_iomap_jobs(zus_sb_info &sbi);

// ZUFS_OP_IOM_DONE (zufs_ioc_iomap_done).
int op_iom_done(zufs_ioc_hdr *hdr, zufs::page_list pages);

// ---- Where a block lives -------------------------------------------------
// A radix-tree leaf (bmap.h) is a pmem block or kT2Leaf | T2 block number.
// A READ/WRITE/GET_MULTY of a T2 block promotes it (an -EZUFS_RETRY answer
// with IOM_T2_ZUSMEM_READ into new T1 blocks, committed when the request
// comes back with its token), or, for a random READ, reads it in place
// (IOM_T2_READ_LEN into the request's pages); below the low watermark the
// evictor moves cold blocks to T2 by async IOMAP_EXEC. The whole design,
// and why: docs/tiering.md.

// Mount (after journal recovery, before anything changes a tree): the
// T2 size check (docs/tiering.md) and the T2 allocator. 0, or -EINVAL and
// *why (one line, without the "image PATH: " prefix).
int tier_mount(zus_sb_info &sbi, std::string *why);
// End of mount: start the evictor (a T2, a shim to execute iomaps, rw).
// Its bounce buffer is a pool the shim must know: *pool (the mount
// answer's pools[1]) is set then, left alone otherwise.
void tier_start(zus_sb_info &sbi, zufs_pool_info *pool);
// The evictor's bounce pool ({0, 0}: none), as tier_start reported it.
zufs_pool_info tier_pool(zus_sb_info &sbi);
// UMOUNT, first: stop the evictor; its migrations in flight are finished
// (the shim delivers their IOM_DONE when it closes T2, before UMOUNT).
// Then one line of TierStats on stderr ("zufuse: tier: ..."), if tiering
// did anything in this mount.
void tier_stop(zus_sb_info &sbi);
// STATFS: add T2's blocks (its block 0 is never used) and free blocks.
void tier_statfs(zus_sb_info &sbi, uint64_t *blocks, uint64_t *bfree);
// Evict synchronously (copy and switch under each inode's lock, sync
// IOMAP_EXEC) until free T1 >= want or nothing more can move: cold files
// first, then hot ones outside their window, then any block not near
// GET_MULTY pins. No inode lock may be held. Returns the blocks moved.
// With a BlockAlloc::Hold on this thread the freed blocks are its own and
// "want" counts what it holds (a WRITE cannot lose the room it made).
// *t2_err (if given): the T2's error when a T2 write failed.
uint64_t tier_make_room(zus_sb_info &sbi, uint64_t want, int *t2_err = nullptr);
// After tier_make_room left this request's Hold as it was (no lock held):
// the T1 blocks of files with GET_MULTY pins out that it moved wait for
// their last PUT_MULTY (zus_sb_info::release_blocks), which comes once the
// reply that pinned them is sent. Wait for such a release (up to a
// second) when some are waiting. True when free T1 blocks are there for
// anyone to take now: the caller tries its allocation again (others may
// take them first, so it bounds how often).
bool tier_wait_room(zus_sb_info &sbi);
// A namespace op about to need a few T1 blocks (a directory block, a
// symlink's, an ACL's), with a BlockAlloc::Hold on this thread and no lock
// held: when fewer than that are available and T2 has room, evict into
// the Hold first, so T1 running full under load is not ENOSPC.
void tier_room_for_metadata(zus_sb_info &sbi);
// Tests and tuning: the watermarks, in free T1 blocks.
void tier_set_watermarks(zus_sb_info &sbi, uint64_t low, uint64_t high);
struct TierStats {
	uint64_t evicted = 0, sync_evicted = 0, promoted = 0, cold_reads = 0;
	uint64_t pre_read = 0; // of promoted, by pre-read
	uint64_t aborted = 0;  // async migrations dropped (a write raced them)
	uint64_t failed_promotions = 0; // blocks whose T2 read the shim failed
	// Events tests wait for: evictor passes that looked for cold blocks
	// (each ended), requests that waited for another's promotion, and
	// for blocks a PUT_MULTY would release (tier_wait_room).
	uint64_t passes = 0, promo_waits = 0, room_waits = 0;
	uint64_t t2_used = 0;
	// Async migrations from the evictor's pick of their blocks to their
	// commit (or drop). 0 with the watermarks at 0: the evictor is idle
	// and changes nothing until they rise (what a test waits for before
	// fsck).
	int in_flight = 0;
};
TierStats tier_stats(zus_sb_info &sbi);
// GET_MULTY, no lock held: the file position (>= io->filepos) where the
// mapping of [filepos, filepos + hdr.len) stops because the block there is
// a cold read (see above), or UINT64_MAX to map it all.
uint64_t tier_map_cut(zus_inode_info *ii, const zufs_ioc_IO *io);

// v is a T2 leaf naming a block inside the shim's T2.
bool t2_leaf_valid(const zus_sb_info &sbi, uint64_t v);
// Return T2 block t2 to the allocator.
void t2_free(zus_sb_info &sbi, uint64_t t2);
// T2 blocks in use, and free.
uint64_t t2_used(zus_sb_info &sbi);
uint64_t t2_free_blocks(zus_sb_info &sbi);

// Before an op touches file blocks [first, last] of ii (no lock held):
// records the access (heat), makes room on T1 if needed; then 0 when none
// of them is on T2 (promotions finished now are committed) or, for a
// READ, the rest are cold reads whose IOM_T2_READ_LEN ops are in io->ziom
// (the answer carries them); or -EZUFS_RETRY with io->ziom holding the
// iomap to run first (at most cap u64s: the room the message has), or an
// error.
int tier_prepare(zus_inode_info *ii, zufs_ioc_IO *io, uint32_t cap,
		 uint64_t first, uint64_t last);
// READ, WRITE or GET_MULTY re-dispatched with io->hdr.err < 0 (IN) and
// io->ziom.iomb set: the shim could not run the iomap of our -EZUFS_RETRY
// answer that carried that token (a T2 error, short read or stall). Every
// promotion handed out under it is dropped (its T1 block freed, the leaf
// left on T2, which keeps the copy). Returns io->hdr.err, the answer.
int tier_retry_failed(zus_inode_info *ii, const zufs_ioc_IO *io);
// With ii->rw held (after tier_prepare): true when a block of [first,
// last] went to T2 since (an eviction committed between the two) and is
// not one of the cold reads io->ziom carries. The op must unlock and
// prepare again: tier_prepare_lock() does that.
bool tier_raced(zus_inode_info *ii, const zufs_ioc_IO *io, uint64_t first,
		uint64_t last);

// tier_prepare(), then lk.lock() (lk: ii->rw, shared or exclusive, not
// held): 0 with lk held and every block of [first, last] on T1 or in
// io->ziom's cold reads; or tier_prepare's error (-EZUFS_RETRY ...), lk
// not held.
template <typename Lock>
int tier_prepare_lock(zus_inode_info *ii, zufs_ioc_IO *io, uint32_t cap,
		      uint64_t first, uint64_t last, Lock &lk)
{
	for (int tries = 0; tries < 64; ++tries) {
		int err = tier_prepare(ii, io, cap, first, last);
		if (err)
			return err;
		lk.lock();
		if (!tier_raced(ii, io, first, last))
			return 0;
		lk.unlock();
	}
	return -EIO; // 64 evictions in a row raced one op: cannot happen
}

// With ii->rw held exclusively: bring block idx back to T1 now through a
// synchronous IOMAP_EXEC (truncate's partial tail). 0 if it is not on T2.
int tier_promote_locked(zus_inode_info *ii, uint64_t idx);
// The same for every T2 block in [first, last] (fallocate, COPY).
int tier_promote_range_locked(zus_inode_info *ii, uint64_t first,
			      uint64_t last);
// Test hook: move mapped block idx of ii to T2 (IOMAP_EXEC sync, then the
// leaf switch and the T1 free in one transaction). -EBUSY while GET_MULTY pins are out, -ENOSPC T2 full.
int tier_evict_block(zus_inode_info *ii, uint64_t idx);

} // namespace zus::pmfs

#endif // ZUS_PMFS_TIER_H
