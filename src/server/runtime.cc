// SPDX-License-Identifier: BSD-3-Clause
#include "server/runtime.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fault/guard.h"
#include "server/pmfs/check.h"
#include "server/pmfs/format.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/server.h"

namespace zus {

Runtime::Runtime(zufs::ZufCalls *zuf) : zuf_(zuf) { pmfs_fill_ops(ops_); }

Runtime::~Runtime()
{
	// Mounts still up when the server goes away are unmounted cleanly.
	std::lock_guard lk(mounts_mu_);
	for (auto &sbi : mounts_)
		pmfs::umount(std::move(sbi));
	mounts_.clear();
}

int Runtime::mount(zufs_ioc_mount &m)
{
	m.errmsg[0] = 0;
	switch (m.hdr.operation) {
	case ZUFS_M_MOUNT: {
		std::unique_ptr<zus_sb_info> sbi;
		int err = pmfs::mount(m, zuf_, &sbi);
		if (err)
			return m.hdr.err = err;
		std::lock_guard lk(mounts_mu_);
		mounts_.push_back(std::move(sbi));
		return m.hdr.err = 0;
	}
	case ZUFS_M_UMOUNT:
		return m.hdr.err = umount(m);
	default:
		snprintf(m.errmsg, sizeof(m.errmsg), "mount operation %u not supported",
			 m.hdr.operation);
		return m.hdr.err = -EOPNOTSUPP;
	}
}

int Runtime::umount(zufs_ioc_mount &m)
{
	std::unique_ptr<zus_sb_info> sbi;
	{
		std::lock_guard lk(mounts_mu_);
		for (auto it = mounts_.begin(); it != mounts_.end(); ++it) {
			if (it->get() == m.zmi.zus_sbi) {
				sbi = std::move(*it);
				mounts_.erase(it);
				break;
			}
		}
	}
	if (!sbi) {
		snprintf(m.errmsg, sizeof(m.errmsg), "umount: not a mounted file system");
		return -EINVAL;
	}
	pmfs::umount(std::move(sbi));
	return 0;
}

// SYNC with no inode: every mount.
int Runtime::sync_all_mounts(zufs_ioc_hdr *hdr)
{
	std::lock_guard lk(mounts_mu_);
	for (auto &sbi : mounts_)
		pmfs::sync_fs(*sbi);
	reinterpret_cast<zufs_ioc_sync *>(hdr)->write_unmapped = 0;
	return 0;
}

int Runtime::dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	if (!hdr)
		return -EINVAL;
	int err;
	if (hdr->operation >= ZUFS_OP_MAX_OPT || !ops_[hdr->operation].fn) {
		err = -EOPNOTSUPP;
	} else if (hdr->in_len < ops_[hdr->operation].min_in_len) {
		err = -EINVAL;
	} else if (hdr->operation == ZUFS_OP_SYNC &&
		   !reinterpret_cast<zufs_ioc_sync *>(hdr)->zus_ii) {
		err = sync_all_mounts(hdr);
	} else {
		err = ops_[hdr->operation].fn(hdr, pages);
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
	return std::make_unique<Runtime>(zuf);
}

int format_image(const std::string &path, uint64_t size, bool force, std::string *err)
{
	pmfs::Image img;
	int e = img.open(path, size, err);
	if (e)
		return e;
	if (pmfs::has_magic(img.base) && !force) {
		*err = "image " + path + ": already formatted (use --force to overwrite)";
		return -EEXIST;
	}
	pmfs::format_mapping(img.base, img.len);
	return 0;
}

int check_image(const std::string &path, std::string *report)
{
	pmfs::Image img;
	int e = img.open(path, 0, report, true); // ro: fsck -n changes nothing
	if (e)
		return e;
	pmfs::CheckResult r = pmfs::check_mapping(img.base, img.len);
	*report = r.report;
	return r.errors > INT32_MAX ? INT32_MAX : static_cast<int>(r.errors);
}

} // namespace zus
