// SPDX-License-Identifier: BSD-3-Clause
//
// executor.h - the shim side of the iomap engine (zuf-core.c / rw.c:
// _iom_execute_inline, zuf_iom_execute_sync, _ioc_bounds_check).
//
// Contract:
//  - execute() first copies the iomap into executor-owned memory (so a
//    server cannot change it under us), then checks EVERY entry against the
//    environment below; only if all pass does it execute anything.
//    Any violation: returns -EIO, logs one line, executes nothing.
//  - Pointers the server may name: pools (zu_dpp_t pool 0 = pmem), ZUSMEM
//    ranges it registered, and pages of the current request. Nothing else.
//  - Unmaps are reported through Unmapper; the shim defers them to a
//    notifier thread (never invalidates from inside the request handler).
//  - Thread-safe: execute() may run on many threads at once.
//
// What each op means here (zufuse's decisions where the seed is silent):
//  - IOM_T2_READ/WRITE[_LEN]: t1 is a zu_dpp_t. Pools 0..6: a page-aligned
//    byte offset in env.pools[pool] (0 = pmem), n pages contiguous there.
//    Pool 7 (ZUFS_APP_POOL): zu_dpp_t_bn(t1) is an index into
//    env.app_pages; page i of the op uses app page index + i.
//  - IOM_T2_ZUSMEM_READ/WRITE: zus_mem_ptr is an address in this process,
//    page aligned; [ptr, ptr + round_up(len, 4096)) must lie inside one of
//    env.pools (pool 0 included: it is how pmem blocks move to/from T2).
//  - IOM_T1_READ/WRITE: t1 = zu_enc_dpp_t_bn(bn, pool 0..6); the k-th T1 op
//    of the iomap copies one page between block bn and env.app_pages[k]
//    (READ: block -> app page, bn 0 in pool 0 = a hole, read as zeros;
//    WRITE: app page -> block, not persisted here: the server persists).
//  - IOM_UNMAP: ino 0 = env.ino; the range must lie inside the file as
//    Unmapper::inode_size reports it (n 0 = to EOF, index <= EOF page);
//    an inode the shim does not know is a no-op.
//  - IOM_NONE, or the end of iom_n, ends the iomap. A type above IOM_UNMAP
//    is refused (the header's _zufs_iom_opt_type would read it as NONE).
// Order of execution: all T2 pages of the iomap are submitted together and
// awaited together (no order among them: the server must not make two ops
// of one iomap depend on each other); then, if they succeeded, the T1
// copies in iomap order; then the unmaps in iomap order (always, even after
// a T2 error: invalidating a cache is never wrong). A T2 error is -EIO.
#ifndef ZUFS_IOMAP_EXECUTOR_H
#define ZUFS_IOMAP_EXECUTOR_H

#include <cstdint>
#include <functional>
#include <span>
#include <utility>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace iomap {

class T2Device; // t2.h

// Receives IOM_UNMAP (and wr_unmap) ranges, in pages; n == 0 means to EOF.
class Unmapper {
  public:
	virtual ~Unmapper() = default;
	virtual void unmap(uint64_t ino, uint64_t page_index,
			   uint64_t n_pages) = 0;
	// Size in bytes of a cached inode, or false if the shim does not know it
	// (an unmap of an unknown inode is a no-op, as ilookup() failing in zuf).
	virtual bool inode_size(uint64_t ino, uint64_t *i_size) = 0;
};

struct ExecEnv {
	std::span<const zufs_pool_info> pools; // [0] = pmem; others: ZUSMEM
	zufs::page_list app_pages;    // pages of the request (may be empty)
	uint64_t ino = 0;	      // the request's inode (0: none)
	Unmapper *unmapper = nullptr; // null: IOM_UNMAP is refused
	T2Device *t2 = nullptr;	      // null: any T2 op is refused
};

// The largest iomap accepted, in u64s (the executor's private copy).
inline constexpr uint32_t kMaxIomEntries = 4 * ZUS_API_MAP_MAX_PAGES;
// The most pages one iomap may move (T2 pages + T1 copies).
inline constexpr uint64_t kMaxIomPages = 16 * ZUS_API_MAP_MAX_PAGES;

// Execute iom_n encoded u64s at iom_e. Returns 0, -EIO (refused, or a T2
// error), or -ENOMEM. Never throws.
int execute(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env);

// Checks the whole iomap (on a private copy) without executing anything:
// 0 or -EIO (and the log line), exactly the verdict execute() would give.
int validate(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env);

// Why the last iomap refused on this thread was refused ("" if none yet);
// the same text as the log line, which is rate-limited.
const char *last_refusal();

using ExecDone = std::function<void(int result)>;

// Asynchronous execute() (ZU_IOC_IOMAP_EXEC with wait_for_done == 0).
// Returns -EIO if the iomap is refused, -ENOMEM if it cannot be queued
// (then done is never called), or 0:
// everything was checked and submitted, and done(0 or -EIO) will be called
// exactly once, later, on env.t2's completion thread (never inside this
// call). Completions of one T2Device are delivered one at a time, in the
// order of the execute_async calls (FIFO), each after its unmaps were
// reported. Needs env.t2 (else -EIO). env.app_pages' pages and the
// Unmapper must stay valid until done runs; the iomap is copied at once.
int execute_async(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env,
		  ExecDone done);

// The ABI spells the entries __u64 (unsigned long long); the executor only
// ever memcpy()s them, so these forward without an aliasing problem.
inline int execute(const __u64 *iom_e, uint32_t iom_n, const ExecEnv &env)
{
	return execute(reinterpret_cast<const uint64_t *>(iom_e), iom_n, env);
}
inline int validate(const __u64 *iom_e, uint32_t iom_n, const ExecEnv &env)
{
	return validate(reinterpret_cast<const uint64_t *>(iom_e), iom_n, env);
}
inline int execute_async(const __u64 *iom_e, uint32_t iom_n, const ExecEnv &env,
			 ExecDone done)
{
	return execute_async(reinterpret_cast<const uint64_t *>(iom_e), iom_n,
			     env, std::move(done));
}

} // namespace iomap

#endif // ZUFS_IOMAP_EXECUTOR_H
