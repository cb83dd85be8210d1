// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/format.h"

#include <fcntl.h>
#include <libpmem.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "server/crc32c.h"
#include "server/pmfs/layout.h"
#include "server/persist.h"
#include "server/pmfs/layout.h"
#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

namespace {

int fail(std::string *err, const std::string &path, int e, const std::string &why)
{
	*err = "image " + path + ": " + why;
	return e;
}

std::string mib(uint64_t bytes)
{
	char b[32];
	snprintf(b, sizeof(b), "%.1f MiB", double(bytes) / (1 << 20));
	return b;
}

// Allocate every block of the image file's first want bytes (growing it to
// want), so that no store into the mapping can meet a full file system: a
// sparse image turns "disk full" into a SIGBUS in the middle of a write.
// Refuses, changing nothing, when the file system cannot hold it.
int reserve_blocks(int fd, const struct stat &st, uint64_t want, const std::string &path,
		   std::string *err)
{
	const uint64_t allocated = uint64_t(st.st_blocks) * 512;
	if (allocated >= want && uint64_t(st.st_size) >= want)
		return 0;
	const uint64_t need = want > allocated ? want - allocated : 0;
	auto shortfall = [&] {
		struct statvfs v;
		uint64_t avail = fstatvfs(fd, &v) == 0 ? uint64_t(v.f_bavail) * v.f_frsize : 0;
		return fail(err, path, -ENOSPC,
			    "the file system under it cannot hold the image: " + mib(need) +
				    " to allocate, " + mib(avail) + " free (short by " +
				    mib(need > avail ? need - avail : 0) + ")");
	};
	struct statvfs v;
	if (fstatvfs(fd, &v) == 0 && need > uint64_t(v.f_bavail) * v.f_frsize)
		return shortfall();
	int e = posix_fallocate(fd, 0, off_t(want));
	if (e == ENOSPC || e == EDQUOT)
		return shortfall();
	if (e)
		return fail(err, path, -e,
			    "cannot allocate its blocks: " + std::string(strerror(e)));
	return 0;
}

} // namespace

Image::~Image()
{
	if (file) {
		file.reset(); // commits; owns the mapping
	} else if (base) {
		note_memory_mapping(base, len, false);
		pmem_unmap(base, len);
	}
	if (fd_ >= 0)
		::close(fd_);
}

void Image::release(int *fd, char **b, size_t *l, std::unique_ptr<FileImage> *f)
{
	*fd = fd_;
	*b = base;
	*l = len;
	*f = std::move(file);
	fd_ = -1;
	base = nullptr;
	len = 0;
}

int Image::open(const std::string &path, uint64_t size, std::string *err, bool ro)
{
	if (size && size < kMinImage)
		return fail(err, path, -EINVAL,
			    "size " + std::to_string(size) + " too small (minimum 16 MiB)");
	fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
	if (fd_ < 0 && errno == ENOENT) {
		if (!size)
			return fail(err, path, -ENOENT,
				    "No such file or directory (give --size to create it)");
		fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd_ >= 0;
	}
	if (fd_ < 0)
		return fail(err, path, -errno, strerror(errno));
	if (flock(fd_, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return fail(err, path, -EBUSY,
				    "already mounted by another zufuse (locked)");
		return fail(err, path, -errno, std::string("flock: ") + strerror(errno));
	}
	struct stat st;
	if (fstat(fd_, &st) < 0)
		return fail(err, path, -errno, strerror(errno));
	uint64_t have = 0;
	if (S_ISREG(st.st_mode)) {
		have = st.st_size;
		const uint64_t want = std::max(have, size);
		if (!ro || want > have) {
			if (int e = reserve_blocks(fd_, st, want, path, err)) {
				// Nothing left behind: no new file, no longer one.
				if (created)
					::unlink(path.c_str());
				else if (want > have && ftruncate(fd_, off_t(have)) < 0)
					*err += "; cannot shrink it back: " +
						std::string(strerror(errno));
				return e;
			}
			have = want;
		}
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd_, BLKGETSIZE64, &have) < 0)
			return fail(err, path, -errno, strerror(errno));
	} else if (!S_ISCHR(st.st_mode)) { // a char device: Device-DAX
		return fail(err, path, -EINVAL, "not a file or a device");
	}
	if ((S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) && have < kMinImage)
		return fail(err, path, -EINVAL,
			    "too small (" + std::to_string(have) +
				    " bytes, minimum 16 MiB)");

	int is_pmem = 0;
	base = static_cast<char *>(pmem_map_file(path.c_str(), 0, 0, 0, &len, &is_pmem));
	if (!base)
		return fail(err, path, errno ? -errno : -EIO,
			    std::string("cannot map: ") + pmem_errormsg());
	if (len < kMinImage)
		return fail(err, path, -EINVAL,
			    "too small (" + std::to_string(len) + " bytes, minimum 16 MiB)");
	struct statfs sf;
	if (!is_pmem && !fstatfs(fd_, &sf) && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC))
		note_memory_mapping(base, len, true);
	else if (!is_pmem && FileImage::wanted(fd_)) {
		std::string why;
		int e = FileImage::open(fd_, path, len, ro, &file, &why);
		if (e == -ENOSPC) { // no room for the working copy: msync, slow
			fprintf(stderr, "zufuse: image %s: %s: every transaction is msynced "
					"instead (slow)\n", path.c_str(), why.c_str());
			return 0;
		}
		if (e)
			return fail(err, path, e, why);
		pmem_unmap(base, len);
		base = file->base();
		if (!file->recovered().empty())
			fprintf(stderr, "zufuse: image %s: %s\n", path.c_str(),
				file->recovered().c_str());
	}
	return 0;
}

bool has_magic(const char *base)
{
	return reinterpret_cast<const pmfs_super *>(base)->s_magic == kMagic;
}

void format_mapping(char *base, size_t len)
{
	Persist p;
	p.init(base, len);

	pmfs_super s{};
	s.s_version = kVersion;
	s.s_state = kStateClean;
	s.s_nblocks = len >> kBlockShift;
	s.s_size = s.s_nblocks << kBlockShift;
	s.s_block_size = kBlockSize;
	s.s_inode_size = ZUFS_INODE_SIZE;
	s.s_journal_blk = 1;
	s.s_lanes = kLanes;
	s.s_lane_blocks = kLaneBlocks;
	s.s_bitmap_blk = s.s_journal_blk + uint64_t(kLanes) * kLaneBlocks;
	s.s_bitmap_blocks = (s.s_nblocks + kBlockSize * 8 - 1) / (kBlockSize * 8);
	s.s_itable_blk = s.s_bitmap_blk + s.s_bitmap_blocks;
	s.s_inode_count = s.s_size / kBytesPerInode;
	uint64_t itable_blocks =
		(s.s_inode_count * ZUFS_INODE_SIZE + kBlockSize - 1) / kBlockSize;
	s.s_orphan_blk = s.s_itable_blk + itable_blocks;
	s.s_orphan_blocks = 1;
	s.s_refc_blk = s.s_orphan_blk + s.s_orphan_blocks;
	s.s_refc_blocks = (s.s_nblocks + kBlockSize - 1) / kBlockSize;
	s.s_data_blk = s.s_refc_blk + s.s_refc_blocks;
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

	auto *bitmap = reinterpret_cast<uint64_t *>(base + s.s_bitmap_blk * kBlockSize);
	for (uint64_t b = 0; b < s.s_data_blk; ++b)
		bitmap[b / 64] |= 1ULL << (b % 64);
	// Bits past the last block are "used" so nothing allocates them.
	for (uint64_t b = s.s_nblocks; b < s.s_bitmap_blocks * kBlockSize * 8; ++b)
		bitmap[b / 64] |= 1ULL << (b % 64);
	p.flush(bitmap, s.s_bitmap_blocks * kBlockSize);

	auto *root = reinterpret_cast<zus_inode *>(base + s.s_itable_blk * kBlockSize);
	root->i_mode = S_IFDIR | 0755;
	root->i_nlink = 2;
	root->i_ino = kRootIno;
	root->i_uid = getuid();
	root->i_gid = getgid();
	root->i_atime = root->i_mtime = root->i_ctime = s.s_mkfs_time;
	root->i_generation = 1;
	root->i_dir.parent = kRootIno;
	p.flush(root, sizeof(*root));
	p.drain();

	s.s_magic = kMagic;
	write_super(base, len, &s);
}

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
	p.drain();
}

int recover_super(char *base, size_t map_len, bool restore, bool *restored, std::string *why)
{
	*restored = false;
	const auto &primary = *reinterpret_cast<const pmfs_super *>(base);
	int e = validate_super(primary, map_len, why);
	if (!e || primary.s_magic != kMagic)
		return e;
	pmfs_super c = primary;
	c.s_crc = 0;
	if (crc32c(0, &c, sizeof(c)) == primary.s_crc)
		return e; // valid checksum, bad content: not a torn write
	const auto &backup = *reinterpret_cast<const pmfs_super *>(base + kSuperBackupOff);
	std::string bwhy;
	if (validate_super(backup, map_len, &bwhy))
		return e;
	*why = "superblock checksum mismatch (torn write?); its backup copy is valid";
	*restored = true;
	if (restore) {
		Persist p;
		p.init(base, map_len);
		p.memcpy_nodrain(base, &backup, sizeof(backup));
		p.drain();
	}
	return 0;
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
	if (s.s_version != kVersion) {
		*why = "unsupported format version " + std::to_string(s.s_version) +
		       " (this zufuse reads " + std::to_string(kVersion) + ")";
		return -EINVAL;
	}
	pmfs_super c = s;
	c.s_crc = 0;
	if (crc32c(0, &c, sizeof(c)) != s.s_crc) {
		*why = "corrupt superblock (checksum mismatch)";
		return -EINVAL;
	}
	if (s.s_size > map_len) {
		*why = "truncated (" + std::to_string(map_len) + " bytes, formatted for " +
		       std::to_string(s.s_size) + ")";
		return -EINVAL;
	}
	uint64_t itable_blocks =
		(s.s_inode_count * ZUFS_INODE_SIZE + kBlockSize - 1) / kBlockSize;
	// Every region starts below s_nblocks (< 2^52: s_size fits the
	// mapping) and its length is bounded, so no sum below can wrap
	// (found by the image fuzzer: a huge s_bitmap_blk wrapped the old
	// s_bitmap_blk + s_bitmap_blocks check).
	const uint64_t nb = s.s_nblocks;
	bool ok = s.s_block_size == kBlockSize && s.s_inode_size == ZUFS_INODE_SIZE &&
		  nb << kBlockShift == s.s_size && nb >> 52 == 0 &&
		  s.s_journal_blk >= 1 && s.s_journal_blk < nb &&
		  s.s_lanes >= 1 && s.s_lanes <= 1024 && s.s_lane_blocks >= 2 &&
		  s.s_lane_blocks <= 4096 && s.s_bitmap_blk < nb &&
		  s.s_bitmap_blk >= s.s_journal_blk + uint64_t(s.s_lanes) * s.s_lane_blocks &&
		  s.s_bitmap_blocks <= nb && s.s_bitmap_blocks * kBlockSize * 8 >= nb &&
		  s.s_itable_blk < nb && s.s_itable_blk >= s.s_bitmap_blk + s.s_bitmap_blocks &&
		  s.s_inode_count >= 1 && s.s_inode_count < (1ULL << 40) &&
		  s.s_orphan_blk < nb && s.s_orphan_blk >= s.s_itable_blk + itable_blocks &&
		  s.s_orphan_blocks >= 1 && s.s_orphan_blocks <= 1024 &&
		  s.s_refc_blk < nb && s.s_refc_blk >= s.s_orphan_blk + s.s_orphan_blocks &&
		  s.s_refc_blocks <= nb && s.s_refc_blocks * kBlockSize >= nb &&
		  s.s_data_blk >= s.s_refc_blk + s.s_refc_blocks && s.s_data_blk < nb;
	if (!ok) {
		*why = "corrupt superblock (bad geometry)";
		return -EINVAL;
	}
	return 0;
}

} // namespace zus::pmfs
