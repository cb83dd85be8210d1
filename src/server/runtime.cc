// SPDX-License-Identifier: BSD-3-Clause
#include "server/runtime.h"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "fault/guard.h"
#include "server/server.h"

namespace zus {

namespace {

// The size of each operation's message: facts of the ABI, the same for
// every file system. A shorter message is -EINVAL before any handler.
constexpr std::array<uint16_t, ZUFS_OP_MAX_OPT> kMinInLen = [] {
	std::array<uint16_t, ZUFS_OP_MAX_OPT> t{};
	auto set = [&](e_zufs_operation op, size_t len) {
		t[op] = uint16_t(len);
	};
	set(ZUFS_OP_NOOP, sizeof(zufs_ioc_hdr));
	set(ZUFS_OP_STATFS, sizeof(zufs_ioc_statfs));
	set(ZUFS_OP_NEW_INODE, sizeof(zufs_ioc_new_inode));
	set(ZUFS_OP_FREE_INODE, sizeof(zufs_ioc_evict_inode));
	set(ZUFS_OP_EVICT_INODE, sizeof(zufs_ioc_evict_inode));
	set(ZUFS_OP_LOOKUP, sizeof(zufs_ioc_lookup));
	set(ZUFS_OP_ADD_DENTRY, sizeof(zufs_ioc_dentry));
	set(ZUFS_OP_REMOVE_DENTRY, sizeof(zufs_ioc_dentry));
	set(ZUFS_OP_RENAME, sizeof(zufs_ioc_rename));
	set(ZUFS_OP_READDIR, sizeof(zufs_ioc_readdir));
	set(ZUFS_OP_READ, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_WRITE, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_SETATTR, sizeof(zufs_ioc_attr));
	set(ZUFS_OP_SYNC, sizeof(zufs_ioc_sync));
	set(ZUFS_OP_FALLOCATE, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_LLSEEK, sizeof(zufs_ioc_seek));
	set(ZUFS_OP_CLONE, sizeof(zufs_ioc_clone));
	set(ZUFS_OP_COPY, sizeof(zufs_ioc_clone));
	set(ZUFS_OP_XATTR_GET, sizeof(zufs_ioc_xattr));
	set(ZUFS_OP_XATTR_SET, sizeof(zufs_ioc_xattr));
	set(ZUFS_OP_XATTR_LIST, sizeof(zufs_ioc_xattr));
	// The multy messages carry ziom.iom_max entries: checked by the op.
	set(ZUFS_OP_GET_MULTY, offsetof(zufs_ioc_IO, iom_e));
	set(ZUFS_OP_PUT_MULTY, offsetof(zufs_ioc_IO, iom_e));
	set(ZUFS_OP_IOM_DONE, sizeof(zufs_ioc_iomap_done));
	set(ZUFS_OP_STATS, sizeof(zufs_ioc_stats));
	return t;
}();

} // namespace

Runtime::Runtime(const Door &door, void *fs, zufs::ZufCalls *zuf)
    : door_(door), ops_(door.ops), fs_(fs), zuf_(zuf)
{
}

Runtime::~Runtime()
{
	// Mounts still up when the server goes away are unmounted cleanly.
	std::lock_guard lk(mounts_mu_);
	for (zus_sb_info *sbi : mounts_)
		door_.umount(sbi);
	mounts_.clear();
}

int Runtime::mount(zufs_ioc_mount &m)
{
	m.errmsg[0] = 0;
	switch (m.hdr.operation) {
	case ZUFS_M_MOUNT: {
		int err = door_.mount(fs_, m, zuf_);
		if (err)
			return m.hdr.err = err;
		std::lock_guard lk(mounts_mu_);
		mounts_.push_back(m.zmi.zus_sbi);
		return m.hdr.err = 0;
	}
	case ZUFS_M_UMOUNT:
		return m.hdr.err = umount(m);
	case ZUFS_M_REMOUNT: {
		std::lock_guard lk(mounts_mu_);
		for (zus_sb_info *sbi : mounts_) {
			if (sbi != m.zmi.zus_sbi)
				continue;
			if (!door_.remount) {
				snprintf(m.errmsg, sizeof(m.errmsg),
					 "the file system has no remount");
				return m.hdr.err = -EOPNOTSUPP;
			}
			return m.hdr.err = door_.remount(sbi, m);
		}
		snprintf(m.errmsg, sizeof(m.errmsg),
			 "remount: not a mounted file system");
		return m.hdr.err = -EINVAL;
	}
	default:
		snprintf(m.errmsg, sizeof(m.errmsg),
			 "mount operation %u not supported", m.hdr.operation);
		return m.hdr.err = -EOPNOTSUPP;
	}
}

int Runtime::umount(zufs_ioc_mount &m)
{
	zus_sb_info *sbi = nullptr;
	{
		std::lock_guard lk(mounts_mu_);
		for (auto it = mounts_.begin(); it != mounts_.end(); ++it) {
			if (*it == m.zmi.zus_sbi) {
				sbi = *it;
				mounts_.erase(it);
				break;
			}
		}
	}
	if (!sbi) {
		snprintf(m.errmsg, sizeof(m.errmsg),
			 "umount: not a mounted file system");
		return -EINVAL;
	}
	door_.umount(sbi);
	return 0;
}

// SYNC with no inode: every mount.
int Runtime::sync_all_mounts(zufs_ioc_hdr *hdr)
{
	std::lock_guard lk(mounts_mu_);
	for (zus_sb_info *sbi : mounts_)
		door_.sync_fs(sbi);
	reinterpret_cast<zufs_ioc_sync *>(hdr)->write_unmapped = 0;
	return 0;
}

int Runtime::dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	if (!hdr)
		return -EINVAL;
	int err;
	if (hdr->operation >= ZUFS_OP_MAX_OPT || !ops_[hdr->operation]) {
		err = -EOPNOTSUPP;
	} else if (hdr->in_len < kMinInLen[hdr->operation]) {
		err = -EINVAL;
	} else if (hdr->operation == ZUFS_OP_SYNC &&
		   !reinterpret_cast<zufs_ioc_sync *>(hdr)->zus_ii) {
		err = sync_all_mounts(hdr);
	} else {
		err = ops_[hdr->operation](hdr, pages);
		// It met a media fault outside a guarded copy (fault/guard.h):
		// what it did may not be on media.
		if (zufs::fault::take_thread_fault()) [[unlikely]]
			err = -EIO;
	}
	hdr->err = err;
	return err;
}

std::unique_ptr<zufs::Channel> make_server(zufs::ZufCalls *zuf)
{
	return std::make_unique<Runtime>(pmfs_door(), nullptr, zuf);
}

} // namespace zus
