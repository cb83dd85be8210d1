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
#ifndef ZUFS_IOMAP_EXECUTOR_H
#define ZUFS_IOMAP_EXECUTOR_H

#include <cstdint>
#include <span>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace iomap {

class T2Device; // t2.h

// Receives IOM_UNMAP (and wr_unmap) ranges, in pages; n == 0 means to EOF.
class Unmapper {
  public:
	virtual ~Unmapper() = default;
	virtual void unmap(uint64_t ino, uint64_t page_index, uint64_t n_pages) = 0;
	// Size in bytes of a cached inode, or false if the shim does not know it
	// (an unmap of an unknown inode is a no-op, as ilookup() failing in zuf).
	virtual bool inode_size(uint64_t ino, uint64_t *i_size) = 0;
};

struct ExecEnv {
	std::span<const zufs_pool_info> pools; // [0] = pmem; others: ZUSMEM
	zufs::page_list app_pages;		// pages of the request (may be empty)
	uint64_t ino = 0;			// the request's inode (0: none)
	Unmapper *unmapper = nullptr;		// null: IOM_UNMAP is refused
	T2Device *t2 = nullptr;			// null: any T2 op is refused
};

// Execute iom_n encoded u64s at iom_e. Returns 0 or a negative errno.
int execute(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env);

} // namespace iomap

#endif // ZUFS_IOMAP_EXECUTOR_H
