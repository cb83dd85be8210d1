// SPDX-License-Identifier: BSD-3-Clause
//
// fsck.cc - fsck.zufs's driver (zus::fsck_image): lock the image, restore
// or check the superblock and its copies, run the checker (check.h), run
// the recovery mount when the journal or the orphan table asks for it,
// repair, check again, and sum up what was checked.
#include <cstring>
#include <string>
#include <vector>

#include "server/persist.h"
#include "server/pmfs/check.h"
#include "server/pmfs/format.h"
#include "server/pmfs/layout.h"
#include "server/server.h"
#include "zufs/zus_api.h"

namespace zus {

namespace {

// Mount and unmount once through the server: journal rollback, orphans
// freed, truncations finished, exactly as zufuse would.
int recover_by_mount(const std::string &path, uint64_t t2_bytes,
		     std::string *err)
{
	auto srv = make_server();
	std::string opts = "pmem=" + path;
	if (t2_bytes) // the image has T2 leaves: recovery may free some
		opts += ",t2size=" + std::to_string(t2_bytes);
	std::vector<char> buf(sizeof(zufs_ioc_mount) + opts.size() + 1);
	auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());
	m->hdr.operation = ZUFS_M_MOUNT;
	m->hdr.in_len = static_cast<__u16>(buf.size());
	m->zmi.po.mount_options_len = static_cast<__u32>(opts.size() + 1);
	memcpy(m->zmi.po.mount_options, opts.c_str(), opts.size() + 1);
	int e = srv->mount(*m);
	if (e) {
		*err = m->errmsg;
		return e;
	}
	zufs_ioc_mount u{};
	u.hdr.operation = ZUFS_M_UMOUNT;
	u.hdr.in_len = sizeof(u);
	u.zmi.zus_sbi = m->zmi.zus_sbi;
	return srv->mount(u);
}

void summarize(const pmfs::CheckResult &r, const char *base, FsckSummary *sum)
{
	if (!sum)
		return;
	const auto *sb = reinterpret_cast<const pmfs::pmfs_super *>(base);
	sum->checked = true;
	sum->inodes_used = r.inodes;
	sum->inodes = sb->s_inode_count;
	sum->files = r.files;
	sum->dirs = r.dirs;
	sum->t1_used = r.used_blocks;
	sum->t1_blocks = sb->s_nblocks - sb->s_data_blk;
	sum->t2_used = r.t2_used;
	sum->t2_blocks = sb->s_t2_blocks;
	sum->bytes = sb->s_size;
}

int repair_and_recheck(pmfs::Image &img, void (*progress)(uint64_t, uint64_t),
		       std::string *report, FsckSummary *sum)
{
	pmfs::CheckResult r = pmfs::repair_mapping(img.base, img.len, progress);
	*report += r.report;
	Persist p;
	p.init(img.base, img.len);
	p.sync_all();
	pmfs::CheckResult after =
		pmfs::check_mapping(img.base, img.len, nullptr);
	summarize(after, img.base, sum);
	if (after.errors) {
		*report += "left uncorrected:\n" + after.report;
		return 4;
	}
	return 1;
}

} // namespace

int fsck_image(const std::string &path, bool repair,
	       void (*progress)(uint64_t done, uint64_t total),
	       std::string *report, FsckSummary *sum)
{
	using namespace pmfs;
	report->clear();
	uint64_t t2_bytes = 0; // the T2 size the image's leaves need
	{
		Image img;
		std::string err;
		if (img.open(path, 0, &err, !repair)) {
			*report = err + "\n";
			return 8;
		}
		std::string why;
		bool restored = false;
		std::string other;
		bool tail_fixed = false;
		if (!has_magic(img.base))
			other = img.foreign_signature();
		if (recover_super(img.base, img.len, repair, &restored, &why,
				  !other.empty())) {
			if (!other.empty())
				why = "holds " + other + ", not a zufuse image";
			else if (!has_magic(img.base))
				why = "not a zufuse image (no superblock in block 0, no copy of it "
				      "in the last block)";
			*report = "image " + path + ": " + why + "\n";
			return has_magic(img.base) ? 4 : 8;
		}
		if (!restored && !tail_copy_ok(img.base, img.len)) {
			*report +=
				std::string(repair ? "fixed: " : "") +
				"the superblock's copy in the last block is stale or missing\n";
			if (!repair)
				return 4;
			write_super(img.base, img.len,
				    reinterpret_cast<pmfs_super *>(img.base));
			tail_fixed = true;
		}
		if (restored) {
			*report += (repair ? "fixed: " : "") + why + "\n";
			if (!repair)
				return 4;
		}
		t2_bytes = reinterpret_cast<const pmfs_super *>(img.base)
				   ->s_t2_blocks *
			   kBlockSize;
		CheckResult r = check_mapping(img.base, img.len, progress);
		summarize(r, img.base, sum);
		// Not cleanly unmounted (a crash, a kill): recovery is pending
		// even when nothing else is wrong. As e2fsck with a journal to
		// replay: -n leaves it uncorrected (4), -y runs the recovery
		// mount, which marks it clean (1).
		if (reinterpret_cast<const pmfs_super *>(img.base)->s_state !=
		    kStateClean) {
			r.report =
				"image " + path +
				": not cleanly unmounted (recovery pending: fsck.zufs -y or "
				"mount it)\n" +
				r.report;
			++r.errors;
			r.needs_recovery = true;
		}
		if (!r.errors)
			return restored || tail_fixed ? 1 : 0;
		if (!repair) {
			*report += r.report;
			return 4;
		}
		if (!r.needs_recovery)
			return repair_and_recheck(img, progress, report, sum);
		*report += r.report;
	} // unlocked: the recovery mount takes the lock itself
	std::string err;
	if (recover_by_mount(path, t2_bytes, &err)) {
		*report += "recovery mount failed: " + err + "\n";
		return 4;
	}
	*report +=
		"fixed: journal rolled back, orphans freed (recovery mount)\n";
	Image img;
	if (img.open(path, 0, &err)) {
		*report += err + "\n";
		return 8;
	}
	repair_and_recheck(img, progress, report, sum);
	CheckResult after = check_mapping(img.base, img.len, nullptr);
	summarize(after, img.base, sum);
	return 1 + (after.errors ? 3 : 0);
}

// fsck -n (read-only).
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
