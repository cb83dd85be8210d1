// SPDX-License-Identifier: BSD-3-Clause
//
// pool.h - translation of the server's zu_dpp_t into addresses of the pools
// it registered at mount (pool 0: the pmem mapping).
//
// The shim translates a zu_dpp_t only after a bounds check against the pool
// (zuf: zuf_dpp_t_addr). Nothing here dereferences anything.
#ifndef ZUF_POOL_H
#define ZUF_POOL_H

#include <cstdint>
#include <span>

#include "zufs/zus_api.h"

namespace zuf {

class Pools {
  public:
	Pools() = default;
	explicit Pools(std::span<const zufs_pool_info> pools);

	std::span<const zufs_pool_info> all() const { return { pools_, n_ }; }
	const zufs_pool_info &pmem() const { return pools_[0]; }

	// The zus_inode at _zi: pool 0, 128-aligned, inside the pool; else null.
	const zus_inode *zi(zu_dpp_t _zi) const;

	// The pmem block bn (byte offset bn * PAGE_SIZE of pool 0); null if the
	// block is not entirely inside pool 0.
	const void *block(uint64_t bn) const;

  private:
	zufs_pool_info pools_[ZUFS_MAX_POOLS] = {};
	size_t n_ = 0;
};

} // namespace zuf

#endif // ZUF_POOL_H
