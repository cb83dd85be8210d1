// SPDX-License-Identifier: BSD-3-Clause
//
// tier.h - pmfs's side of tier 2: iomaps the server builds and asks the
// shim to execute out of band (ZU_IOC_IOMAP_EXEC through zufs::ZufCalls),
// synchronously or asynchronously, and their completion (ZUFS_OP_IOM_DONE).
//
// Contract:
//  - An IomapJob (the ABI's zus_iomap_build, whose address is the iomb
//    cookie) owns its zufs_ioc_iomap_exec message; fill it with an
//    iomap::Builder over job->ziom().
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

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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
// A radix-tree leaf (bmap.h) is a pmem block number or kT2Leaf | T2 block
// number. The T2 allocator is in DRAM (TierState).
//
// Access to a T2 block always promotes it (READ, WRITE, GET_MULTY):
// tier_prepare() allocates T1 blocks, answers -EZUFS_RETRY with
// IOM_T2_ZUSMEM_READ into them, and remembers the promotion; when the shim
// re-dispatches the request, the leaf is repointed to the T1 block in one
// transaction (the T1 bit set, the T2 block freed) and the op goes on.
// A crash between the two leaves the leaf on T2 (the T1 bit never became
// persistent), so nothing is lost.

// v is a T2 leaf naming a block inside the shim's T2.
bool t2_leaf_valid(const zus_sb_info &sbi, uint64_t v);
// Return T2 block t2 to the allocator.
void t2_free(zus_sb_info &sbi, uint64_t t2);
// T2 blocks in use, and free.
uint64_t t2_used(zus_sb_info &sbi);

// Before an op touches file blocks [first, last] of ii (no lock held):
// 0 when none of them is on T2 (promotions finished now are committed), or
// -EZUFS_RETRY with io->ziom holding the iomap to run first (at most cap
// u64s: the room the message has), or an error.
int tier_prepare(zus_inode_info *ii, zufs_ioc_IO *io, uint32_t cap,
		 uint64_t first, uint64_t last);
// With ii->rw held exclusively: bring block idx back to T1 now through a
// synchronous IOMAP_EXEC (truncate's partial tail). 0 if it is not on T2.
int tier_promote_locked(zus_inode_info *ii, uint64_t idx);
// The same for every T2 block in [first, last] (fallocate, COPY).
int tier_promote_range_locked(zus_inode_info *ii, uint64_t first, uint64_t last);
// Test hook (and the evictor's step): move mapped block idx of ii to T2
// (IOMAP_EXEC sync, then the leaf switch and the T1 free in one
// transaction). -EBUSY while GET_MULTY pins are out, -ENOSPC T2 full.
int tier_evict_block(zus_inode_info *ii, uint64_t idx);

} // namespace zus::pmfs

#endif // ZUS_PMFS_TIER_H
