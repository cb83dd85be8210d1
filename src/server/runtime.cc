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
	case ZUFS_M_REMOUNT: {
		std::lock_guard lk(mounts_mu_);
		for (auto &sbi : mounts_)
			if (sbi.get() == m.zmi.zus_sbi)
				return m.hdr.err = pmfs::remount(*sbi, m);
		snprintf(m.errmsg, sizeof(m.errmsg), "remount: not a mounted file system");
		return m.hdr.err = -EINVAL;
	}
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
	std::string said;
	return format_image(path, { size, force, false }, err, &said);
}

int format_image(const std::string &path, const FormatRequest &req, std::string *err,
		 std::string *said)
{
	using namespace pmfs;
	// Look before touching: nothing is created, grown or written before
	// every refusal has had its say (a dry run creates nothing at all).
	Image img;
	int e = img.open_locked(path, req.dry_run ? 0 : req.size, err);
	if (e == -ENOENT && req.dry_run && req.size) {
		*said = "would create " + path + " with " + std::to_string(req.size) + " bytes";
		img.created = img.regular = true; // as it would be
		e = 0;
	} else if (e) {
		if (e == -ENOENT)
			*err += " (give --size to create it)";
		return e;
	}
	const std::string pre = "image " + path + ": ";
	if (!img.regular && !img.created && req.size && req.size != img.size) {
		*err = pre + "--size does not apply to a device (it has " +
		       std::to_string(img.size) + " bytes)";
		return -EINVAL;
	}
	pmfs_super head{};
	std::string holds;
	if (!img.created && img.size) {
		if (img.read_head(&head, sizeof(head)) && head.s_magic == kMagic)
			holds = "a zufuse file system";
		else
			holds = img.foreign_signature();
	}
	if (!holds.empty() && !req.force) {
		*err = pre + "holds " + holds + "; refusing to format it (use --force)";
		return -EEXIST;
	}
	const uint64_t len = req.size ? req.size : img.size;
	if (len && len < kMinImage) {
		*err = pre + "too small (" + std::to_string(len) + " bytes, minimum 16 MiB)";
		return -EINVAL;
	}
	if (len) {
		pmfs_super s = plan_super(len);
		*said += std::string(said->empty() ? "" : "; ") +
			 (req.dry_run ? "would format " : "formatted ") + path + ": " +
			 std::to_string(s.s_size + kBlockSize) + " bytes, " +
			 std::to_string(s.s_nblocks - s.s_data_blk) + " data blocks of 4096, " +
			 std::to_string(s.s_inode_count) + " inodes, journal " +
			 std::to_string(s.s_lanes) + " x " +
			 std::to_string(s.s_lane_blocks * kBlockSize / 1024) +
			 " KiB, can grow to " +
			 std::to_string((max_growable_blocks(s) + 1) << kBlockShift) + " bytes" +
			 (holds.empty() ? "" : " (over " + holds + ")");
	}
	if (req.dry_run)
		return 0;
	// A smaller --size (with --force) shrinks the file: its contents are
	// being replaced anyway, and a size is never ignored.
	if ((e = img.set_file_size(path, req.size, err)) || (e = img.map(path, err)))
		return e;
	format_mapping(img.base, img.len);
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
