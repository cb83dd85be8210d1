// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/pool.h"

#include <algorithm>

namespace zuf {

Pools::Pools(std::span<const zufs_pool_info> pools)
{
	n_ = std::min(pools.size(), size_t(ZUFS_MAX_POOLS));
	std::copy_n(pools.begin(), n_, pools_);
	// Pools are reported densely; the first empty one ends the list.
	for (size_t i = 0; i < n_; ++i)
		if (!pools_[i].base || !pools_[i].size) {
			n_ = i;
			break;
		}
}

const zus_inode *Pools::zi(zu_dpp_t _zi) const
{
	uint64_t off = zu_dpp_t_val(_zi);

	if (!n_ || zu_dpp_t_pool(_zi) != 0 || off % ZUFS_INODE_SIZE ||
	    off > pools_[0].size || pools_[0].size - off < ZUFS_INODE_SIZE)
		return nullptr;
	return reinterpret_cast<const zus_inode *>(pools_[0].base + off);
}

const void *Pools::block(uint64_t bn) const
{
	if (!n_ || bn >= pools_[0].size / PAGE_SIZE)
		return nullptr;
	return reinterpret_cast<const void *>(pools_[0].base + bn * PAGE_SIZE);
}

} // namespace zuf
