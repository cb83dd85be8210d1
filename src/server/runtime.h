// SPDX-License-Identifier: BSD-3-Clause
//
// runtime.h - the zus runtime: receives zufs_ioc_* messages through
// zufs::Channel, checks the header, and calls the file system's handler from
// an op table indexed by e_zufs_operation. Holds the mounts.
//
// dispatch() runs the handler on the calling thread (the shim's thread; the
// ZUFS ZT threads can replace this without changing either side) and is
// thread-safe. Unknown or unimplemented operations answer -EOPNOTSUPP; a
// message shorter than its operation's struct answers -EINVAL.
#ifndef ZUS_RUNTIME_H
#define ZUS_RUNTIME_H

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

struct zus_sb_info;

namespace zus {

struct OpEntry {
	int (*fn)(zufs_ioc_hdr *hdr, zufs::page_list pages) = nullptr;
	uint16_t min_in_len = 0; // the message must be at least this long
};
using OpTable = std::array<OpEntry, ZUFS_OP_MAX_OPT>;

class Runtime final : public zufs::Channel {
  public:
	explicit Runtime(zufs::ZufCalls *zuf);
	~Runtime() override;

	int mount(zufs_ioc_mount &m) override;
	int dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages) override;

  private:
	int umount(zufs_ioc_mount &m);
	int sync_all_mounts(zufs_ioc_hdr *hdr);

	zufs::ZufCalls *zuf_;
	OpTable ops_;
	std::mutex mounts_mu_;
	std::vector<std::unique_ptr<zus_sb_info>> mounts_;
};

// pmfs's handlers (pmfs/ops_table.cc).
void pmfs_fill_ops(OpTable &ops);

} // namespace zus

#endif // ZUS_RUNTIME_H
