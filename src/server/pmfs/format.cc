// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/format.h"

#include <fcntl.h>
#include <libpmem.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "server/crc32c.h"
#include "server/persist.h"
#include "server/pmfs/layout.h"
#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

bool has_magic(const char *base)
{
	return reinterpret_cast<const pmfs_super *>(base)->s_magic == kMagic;
}

pmfs_super plan_super(size_t len)
{
	pmfs_super s{};
	s.s_version = kVersion;
	s.s_state = kStateClean;
	s.s_nblocks = (len >> kBlockShift) - 1; // the last block: the tail copy
	s.s_size = s.s_nblocks << kBlockShift;
	s.s_flags = kSuperTailCopy;
	// Room to grow kGrowthRoom times (resize.cc), within what the format's
	// checks accept (a region no larger than the file system).
	const uint64_t room =
		std::min<uint64_t>(s.s_nblocks * kGrowthRoom, 1ULL << 51);
	s.s_block_size = kBlockSize;
	s.s_inode_size = ZUFS_INODE_SIZE;
	s.s_journal_blk = 1;
	s.s_lanes = kLanes;
	s.s_lane_blocks = kLaneBlocks;
	s.s_bitmap_blk = s.s_journal_blk + uint64_t(kLanes) * kLaneBlocks;
	s.s_bitmap_blocks = (room + kBlockSize * 8 - 1) / (kBlockSize * 8);
	s.s_itable_blk = s.s_bitmap_blk + s.s_bitmap_blocks;
	s.s_inode_count = len / kBytesPerInode;
	uint64_t itable_blocks =
		(s.s_inode_count * ZUFS_INODE_SIZE + kBlockSize - 1) /
		kBlockSize;
	s.s_orphan_blk = s.s_itable_blk + itable_blocks;
	s.s_orphan_blocks = 1;
	s.s_refc_blk = s.s_orphan_blk + s.s_orphan_blocks;
	s.s_refc_blocks =
		std::min((room + kBlockSize - 1) / kBlockSize, s.s_nblocks / 8);
	s.s_data_blk = s.s_refc_blk + s.s_refc_blocks;
	return s;
}

void format_mapping(char *base, size_t len)
{
	Persist p;
	p.init(base, len);

	pmfs_super s = plan_super(len);
	s.s_mount_gen = 1;
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s.s_mkfs_time = uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
	std::random_device rd;
	for (auto &b : s.s_uuid)
		b = static_cast<uint8_t>(rd());

	// The magic goes last: a format cut short leaves no valid image.
	p.memset_nodrain(base, 0, kBlockSize);
	p.drain();
	p.memset_nodrain(base + kBlockSize, 0, (s.s_data_blk - 1) * kBlockSize);

	auto *bitmap = reinterpret_cast<uint64_t *>(base + s.s_bitmap_blk *
								   kBlockSize);
	for (uint64_t b = 0; b < s.s_data_blk; ++b)
		bitmap[b / 64] |= 1ULL << (b % 64);
	// Bits past the last block are "used" so nothing allocates them.
	for (uint64_t b = s.s_nblocks; b < s.s_bitmap_blocks * kBlockSize * 8;
	     ++b)
		bitmap[b / 64] |= 1ULL << (b % 64);
	p.flush(bitmap, s.s_bitmap_blocks * kBlockSize);

	auto *root = reinterpret_cast<zus_inode *>(base +
						   s.s_itable_blk * kBlockSize);
	root->i_mode = S_IFDIR | 0755;
	root->i_nlink = 2;
	root->i_ino = kRootIno;
	root->i_uid = getuid();
	root->i_gid = getgid();
	root->i_atime = root->i_mtime = root->i_ctime = s.s_mkfs_time;
	root->i_generation = 1;
	root->i_dir.parent = kRootIno;
	init_ext(root, nullptr, s.s_mkfs_time);
	p.flush(root, sizeof(*root));
	p.drain();

	s.s_magic = kMagic;
	write_super(base, len, &s);
}

namespace {

// Where the tail copy of s lives (byte s_size), or nullptr.
char *tail_copy_at(char *base, size_t map_len, const pmfs_super &s)
{
	if (!(s.s_flags & kSuperTailCopy) || s.s_size > map_len - kBlockSize)
		return nullptr;
	return base + s.s_size;
}

// The tail copy when block 0 is unreadable: in the mapping's last block,
// or (an image file grown whose file system was not yet) in the last block
// before a run of zeroed blocks. It must describe itself: s_size is its
// own offset.
const pmfs_super *find_tail_copy(const char *base, size_t map_len)
{
	static const char zero[sizeof(pmfs_super)] = {};
	for (uint64_t b = map_len / kBlockSize;
	     b-- > kMinImage / kBlockSize - 1;) {
		const char *p = base + b * kBlockSize;
		if (!memcmp(p, zero, sizeof(zero)))
			continue; // grown, never written
		const auto *c = reinterpret_cast<const pmfs_super *>(p);
		std::string why;
		if (c->s_size == b * kBlockSize &&
		    (c->s_flags & kSuperTailCopy) &&
		    !validate_super(*c, map_len, &why))
			return c;
		return nullptr;
	}
	return nullptr;
}

} // namespace

void write_super(char *base, size_t map_len, pmfs_super *s)
{
	Persist p;
	p.init(base, map_len);
	s->s_crc = 0;
	s->s_crc = crc32c(0, s, sizeof(*s));
	pmfs_super copy = *s; // s may be the primary itself
	if (reinterpret_cast<char *>(s) != base)
		p.memcpy_nodrain(base, &copy, sizeof(copy));
	else
		p.flush(base, sizeof(copy));
	p.drain();
	p.memcpy_nodrain(base + kSuperBackupOff, &copy, sizeof(copy));
	if (char *tail = tail_copy_at(base, map_len, copy))
		p.memcpy_nodrain(tail, &copy, sizeof(copy));
	p.drain();
}

int recover_super(char *base, size_t map_len, bool restore, bool *restored,
		  std::string *why, bool block0_foreign)
{
	*restored = false;
	const auto &primary = *reinterpret_cast<const pmfs_super *>(base);
	int e = validate_super(primary, map_len, why);
	if (!e)
		return 0;
	pmfs_super c = primary;
	c.s_crc = 0;
	const bool unreadable =
		primary.s_magic == kMagic ?
			primary.s_version >= kMinVersion &&
				primary.s_version <= kVersion &&
				crc32c(0, &c, sizeof(c)) != primary.s_crc :
			!block0_foreign;
	if (!unreadable)
		return e; // another version, bad content, or another file system
	const pmfs_super *copy =
		reinterpret_cast<const pmfs_super *>(base + kSuperBackupOff);
	std::string cwhy;
	const char *where = "its backup copy";
	if (validate_super(*copy, map_len, &cwhy)) {
		copy = find_tail_copy(base, map_len);
		where = "its copy in the last block";
	}
	if (!copy)
		return e;
	*why = std::string(
		       primary.s_magic == kMagic ?
			       "superblock checksum mismatch (torn write?); " :
			       "no superblock in block 0 (overwritten?); ") +
	       where + " is valid";
	*restored = true;
	if (restore) {
		pmfs_super good = *copy;
		Persist p;
		p.init(base, map_len);
		p.memcpy_nodrain(base, &good, sizeof(good));
		p.drain();
		p.memcpy_nodrain(base + kSuperBackupOff, &good, sizeof(good));
		p.drain();
	}
	return 0;
}

bool tail_copy_ok(char *base, size_t map_len)
{
	const auto &s = *reinterpret_cast<const pmfs_super *>(base);
	const char *tail = tail_copy_at(base, map_len, s);
	return !(s.s_flags & kSuperTailCopy) ||
	       (tail && !memcmp(tail, &s, sizeof(s)));
}

uint64_t max_growable_blocks(const pmfs_super &s)
{
	return std::min(s.s_bitmap_blocks * kBlockSize * 8,
			s.s_refc_blocks * kBlockSize);
}

// Every field the mount relies on, checked before anything is touched.
int validate_super(const pmfs_super &s, size_t map_len, std::string *why)
{
	if (s.s_magic != kMagic) {
		*why = "bad magic, not a zufuse image (use --mkfs to format)";
		return -EINVAL;
	}
	// The version before the checksum: another version's superblock may
	// have another size, so its checksum cannot be checked here.
	if (s.s_version < kMinVersion || s.s_version > kVersion) {
		*why = "unsupported format version " +
		       std::to_string(s.s_version) + " (this zufuse reads " +
		       std::to_string(kMinVersion) + " to " +
		       std::to_string(kVersion) + ")";
		return -EINVAL;
	}
	pmfs_super c = s;
	c.s_crc = 0;
	if (crc32c(0, &c, sizeof(c)) != s.s_crc) {
		*why = "corrupt superblock (checksum mismatch)";
		return -EINVAL;
	}
	if (s.s_size > map_len) {
		*why = "truncated (" + std::to_string(map_len) +
		       " bytes, formatted for " + std::to_string(s.s_size) +
		       ")";
		return -EINVAL;
	}
	uint64_t itable_blocks =
		(s.s_inode_count * ZUFS_INODE_SIZE + kBlockSize - 1) /
		kBlockSize;
	// Every region starts below s_nblocks (< 2^52: s_size fits the
	// mapping) and its length is bounded, so no sum below can wrap
	// (found by the image fuzzer: a huge s_bitmap_blk wrapped the old
	// s_bitmap_blk + s_bitmap_blocks check).
	const uint64_t nb = s.s_nblocks;
	bool ok = s.s_block_size == kBlockSize &&
		  s.s_inode_size == ZUFS_INODE_SIZE &&
		  nb << kBlockShift == s.s_size && nb >> 52 == 0 &&
		  s.s_journal_blk >= 1 && s.s_journal_blk < nb &&
		  s.s_lanes >= 1 && s.s_lanes <= 1024 && s.s_lane_blocks >= 2 &&
		  s.s_lane_blocks <= 4096 && s.s_bitmap_blk < nb &&
		  s.s_bitmap_blk >= s.s_journal_blk + uint64_t(s.s_lanes) *
							      s.s_lane_blocks &&
		  s.s_bitmap_blocks <= nb &&
		  s.s_bitmap_blocks * kBlockSize * 8 >= nb &&
		  s.s_itable_blk < nb &&
		  s.s_itable_blk >= s.s_bitmap_blk + s.s_bitmap_blocks &&
		  s.s_inode_count >= 1 && s.s_inode_count < (1ULL << 40) &&
		  s.s_orphan_blk < nb &&
		  s.s_orphan_blk >= s.s_itable_blk + itable_blocks &&
		  s.s_orphan_blocks >= 1 && s.s_orphan_blocks <= 1024 &&
		  s.s_refc_blk < nb &&
		  s.s_refc_blk >= s.s_orphan_blk + s.s_orphan_blocks &&
		  s.s_refc_blocks <= nb && s.s_refc_blocks * kBlockSize >= nb &&
		  s.s_data_blk >= s.s_refc_blk + s.s_refc_blocks &&
		  s.s_data_blk < nb;
	if (!ok) {
		*why = "corrupt superblock (bad geometry)";
		return -EINVAL;
	}
	return 0;
}

} // namespace zus::pmfs
