// SPDX-License-Identifier: BSD-3-Clause
//
// runtime.h - the zus runtime: the one door through which the shim reaches
// any file system. It receives zufs_ioc_* messages through zufs::Channel,
// checks the header and calls the file system's handler from its Door.
//
// A Door is how a file system is served: its mount, umount and sync of a
// whole mount, and one handler per e_zufs_operation taking zufuse's
// message as the shim sent it. Two kinds of file system have one:
//  - a file system with a zufuse extension: its own handlers, which take
//    everything zufuse adds to the seed (tiering jobs, stats, xattrs,
//    fallocate, clone). pmfs is one: pmfs_door(), registered as the zus
//    file system "pmfs" with this door as its extension (libzus's
//    registry, zus_host_set_ext), so the loader finds it as any other;
//  - a zus plugin without one: the host's seed door (src/server/plugin),
//    which translates each message into the seed's op vectors and does
//    zuf's duties around the call.
// Either way the Runtime below is the only Channel in src/server: the
// message sizes, the mount table, SYNC of every mount and media faults
// are handled here, once, for every file system.
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

using OpFn = int (*)(zufs_ioc_hdr *hdr, zufs::page_list pages);
using OpTable = std::array<OpFn, ZUFS_OP_MAX_OPT>;

struct Door {
	// ZUFS_M_MOUNT of the file system fs (its zus_fs_info; pmfs: none)
	// on the options in m.zmi.po: answers m.zmi (zus_sbi, the mount's
	// cookie, and the root) and m.pools, or a negative errno with a
	// one-line m.errmsg.
	int (*mount)(void *fs, zufs_ioc_mount &m, zufs::ZufCalls *zuf);
	// ZUFS_M_UMOUNT of a cookie mount answered; nothing is sent after it.
	void (*umount)(zus_sb_info *sbi);
	// SYNC without an inode: make the whole mount durable.
	int (*sync_fs)(zus_sb_info *sbi);
	// The handlers; nullptr: -EOPNOTSUPP. Each finds its mount from the
	// cookies in the message.
	OpTable ops{};
	// ZUFS_M_REMOUNT (the options of mount(2) MS_REMOUNT in m.zmi.po)
	// of a mount answered; nullptr: -EOPNOTSUPP.
	int (*remount)(zus_sb_info *sbi, zufs_ioc_mount &m) = nullptr;
};

class Runtime final : public zufs::Channel {
  public:
	// Serves file system fs (opaque here) through door, which must
	// outlive the Runtime.
	Runtime(const Door &door, void *fs, zufs::ZufCalls *zuf);
	~Runtime() override;

	int mount(zufs_ioc_mount &m) override;
	int dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages) override;

  private:
	int umount(zufs_ioc_mount &m);
	int sync_all_mounts(zufs_ioc_hdr *hdr);

	const Door &door_;
	const OpTable ops_; // door_.ops, next to the rest of the hot path
	void *fs_;
	zufs::ZufCalls *zuf_;
	std::mutex mounts_mu_;
	std::vector<zus_sb_info *> mounts_;
};

// pmfs's door (pmfs/ops_table.cc).
const Door &pmfs_door();

} // namespace zus

#endif // ZUS_RUNTIME_H
