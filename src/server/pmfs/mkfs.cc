// SPDX-License-Identifier: BSD-3-Clause
//
// mkfs.cc - mkfs.zufs's driver (zus::format_image, server.h): every
// refusal checked before the image is created, grown or written, then
// the format (format.h).
#include <cerrno>
#include <string>

#include "server/pmfs/format.h"
#include "server/pmfs/layout.h"
#include "server/server.h"

namespace zus {

int format_image(const std::string &path, uint64_t size, bool force,
		 std::string *err)
{
	std::string said;
	return format_image(path, { size, force, false }, err, &said);
}

int format_image(const std::string &path, const FormatRequest &req,
		 std::string *err, std::string *said)
{
	using namespace pmfs;
	// Look before touching: nothing is created, grown or written before
	// every refusal has had its say (a dry run creates nothing at all).
	Image img;
	int e = img.open_locked(path, req.dry_run ? 0 : req.size, err);
	if (e == -ENOENT && req.dry_run && req.size) {
		*said = "would create " + path + " with " +
			std::to_string(req.size) + " bytes";
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
		if (img.read_head(&head, sizeof(head)) &&
		    head.s_magic == kMagic)
			holds = "a zufuse file system";
		else
			holds = img.foreign_signature();
	}
	if (!holds.empty() && !req.force) {
		*err = pre + "holds " + holds +
		       "; refusing to format it (use --force)";
		return -EEXIST;
	}
	const uint64_t len = req.size ? req.size : img.size;
	if (len && len < kMinImage) {
		*err = pre + "too small (" + std::to_string(len) +
		       " bytes, minimum 16 MiB)";
		return -EINVAL;
	}
	if (len) {
		pmfs_super s = plan_super(len);
		*said += std::string(said->empty() ? "" : "; ") +
			 (req.dry_run ? "would format " : "formatted ") + path +
			 ": " + std::to_string(s.s_size + kBlockSize) +
			 " bytes, " +
			 std::to_string(s.s_nblocks - s.s_data_blk) +
			 " data blocks of 4096, " +
			 std::to_string(s.s_inode_count) + " inodes, journal " +
			 std::to_string(s.s_lanes) + " x " +
			 std::to_string(s.s_lane_blocks * kBlockSize / 1024) +
			 " KiB, can grow to " +
			 std::to_string((max_growable_blocks(s) + 1)
					<< kBlockShift) +
			 " bytes" +
			 (holds.empty() ? "" : " (over " + holds + ")");
	}
	if (req.dry_run)
		return 0;
	// A smaller --size (with --force) shrinks the file: its contents are
	// being replaced anyway, and a size is never ignored.
	if ((e = img.set_file_size(path, req.size, err)) ||
	    (e = img.map(path, err)))
		return e;
	format_mapping(img.base, img.len);
	return 0;
}

} // namespace zus
