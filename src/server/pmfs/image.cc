// SPDX-License-Identifier: BSD-3-Clause
//
// image.cc - the image file: open and lock it (waiting for a zufuse that is
// still releasing it after its unmount), tell what else it holds
// (libblkid), size it, map it. Nothing here writes the image.
#include <blkid/blkid.h>
#include <fcntl.h>
#include <libpmem.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "server/pmfs/format.h"
#include "server/persist.h"
#include "server/pmfs/layout.h"

namespace zus::pmfs {

namespace {

int fail(std::string *err, const std::string &path, int e,
	 const std::string &why)
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
int reserve_blocks(int fd, const struct stat &st, uint64_t want,
		   const std::string &path, std::string *err)
{
	const uint64_t allocated = uint64_t(st.st_blocks) * 512;
	if (allocated >= want && uint64_t(st.st_size) >= want)
		return 0;
	const uint64_t need = want > allocated ? want - allocated : 0;
	auto shortfall = [&] {
		struct statvfs v;
		uint64_t avail = fstatvfs(fd, &v) == 0 ?
					 uint64_t(v.f_bavail) * v.f_frsize :
					 0;
		return fail(err, path, -ENOSPC,
			    "the file system under it cannot hold the image: " +
				    mib(need) + " to allocate, " + mib(avail) +
				    " free (short by " +
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
			    "cannot allocate its blocks: " +
				    std::string(strerror(e)));
	return 0;
}

// /proc/self/mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string unescape(const std::string &s)
{
	std::string out;
	for (size_t i = 0; i < s.size(); ++i) {
		if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' &&
		    s[i + 1] <= '3') {
			out += char((s[i + 1] - '0') * 64 +
				    (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			out += s[i];
		}
	}
	return out;
}

// The mount point of a zufuse mount whose source (zufuse's fsname: the
// image's absolute path) is the file open at fd, or "".
std::string zufuse_mount_of(int fd)
{
	struct stat me;
	if (fstat(fd, &me))
		return "";
	std::ifstream in("/proc/self/mountinfo");
	std::string line;
	while (std::getline(in, line)) {
		size_t dash = line.find(" - ");
		if (dash == std::string::npos)
			continue;
		std::istringstream head(line.substr(0, dash)),
			tail(line.substr(dash + 3));
		std::string id, parent, devno, root, mnt, type, source;
		head >> id >> parent >> devno >> root >> mnt;
		tail >> type >> source;
		if (type != "fuse.zufuse" && type != "fuseblk.zufuse")
			continue;
		struct stat st;
		if (stat(unescape(source).c_str(), &st) == 0 &&
		    st.st_dev == me.st_dev && st.st_ino == me.st_ino)
			return unescape(mnt);
	}
	return "";
}

// How long a tool waits for the zufuse that held the image before it was
// unmounted: a FUSE (not fuseblk) unmount returns before the daemon has
// seen it, synced and closed the image (no DESTROY is sent).
constexpr auto kReleaseWait = std::chrono::seconds(10);
constexpr auto kQuietWait = std::chrono::milliseconds(250);

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

int Image::lock(const std::string &path, std::string *err)
{
	if (flock(fd_, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return fail(err, path, -errno,
			    std::string("flock: ") + strerror(errno));
	std::string mnt = zufuse_mount_of(fd_);
	if (!mnt.empty())
		return fail(err, path, -EBUSY,
			    "already mounted on " + mnt +
				    " by zufuse (locked)");
	// Locked, yet no mount uses it: a zufuse between its unmount and its
	// exit (it syncs and closes the image: tens of ms), or a tool at
	// work. Wait for it; say so when it takes long enough to notice.
	const auto start = std::chrono::steady_clock::now();
	bool said = false;
	while (std::chrono::steady_clock::now() - start < kReleaseWait) {
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
		if (flock(fd_, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (!said &&
		    std::chrono::steady_clock::now() - start > kQuietWait) {
			std::fprintf(
				stderr,
				"%s: image %s: locked by a zufuse that is unmounting (or by "
				"fsck/mkfs); waiting for it\n",
				program_invocation_short_name, path.c_str());
			said = true;
		}
	}
	mnt = zufuse_mount_of(fd_);
	return fail(err, path, -EBUSY,
		    mnt.empty() ? "already mounted by another zufuse (locked)" :
				  "already mounted on " + mnt +
					  " by zufuse (locked)");
}

int Image::open_locked(const std::string &path, uint64_t create_size,
		       std::string *err)
{
	if (create_size && create_size < kMinImage)
		return fail(err, path, -EINVAL,
			    "size " + std::to_string(create_size) +
				    " too small (minimum 16 MiB)");
	fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
	if (fd_ < 0 && errno == ENOENT) {
		if (!create_size)
			return fail(err, path, -ENOENT, strerror(ENOENT));
		fd_ = ::open(path.c_str(),
			     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd_ >= 0;
	}
	if (fd_ < 0)
		return fail(err, path, -errno, strerror(errno));
	if (int e = lock(path, err))
		return e;
	struct stat st;
	if (fstat(fd_, &st) < 0)
		return fail(err, path, -errno, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		regular = true;
		size = st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd_, BLKGETSIZE64, &size) < 0)
			return fail(err, path, -errno, strerror(errno));
	} else if (!S_ISCHR(st.st_mode)) { // a char device: Device-DAX
		return fail(err, path, -EINVAL, "not a file or a device");
	}
	return 0;
}

int Image::grow_file(const std::string &path, uint64_t want, std::string *err)
{
	if (want <= size)
		return 0;
	if (!regular)
		return fail(err, path, -EINVAL,
			    "a device of " + std::to_string(size) +
				    " bytes cannot grow to " +
				    std::to_string(want));
	// Allocated, not sparse (reserve_blocks); refused, with nothing left
	// behind, when the file system cannot hold it.
	struct stat st;
	if (fstat(fd_, &st) < 0)
		return fail(err, path, -errno, strerror(errno));
	if (int e = reserve_blocks(fd_, st, want, path, err)) {
		if (created)
			::unlink(path.c_str());
		else if (ftruncate(fd_, off_t(size)) < 0)
			*err += "; cannot shrink it back: " +
				std::string(strerror(errno));
		return e;
	}
	size = want;
	return 0;
}

int Image::set_file_size(const std::string &path, uint64_t want,
			 std::string *err)
{
	if (!want || want >= size)
		return grow_file(path, want, err);
	if (ftruncate(fd_, want) < 0)
		return fail(err, path, -errno,
			    std::string("cannot size: ") + strerror(errno));
	size = want;
	return 0;
}

int Image::map(const std::string &path, std::string *err, bool ro)
{
	if (size && size < kMinImage)
		return fail(err, path, -EINVAL,
			    "too small (" + std::to_string(size) +
				    " bytes, minimum 16 MiB)");
	// An image file an older zufuse left sparse gets its blocks now.
	struct stat st;
	if (regular && !ro && fstat(fd_, &st) == 0)
		if (int e = reserve_blocks(fd_, st, uint64_t(st.st_size), path,
					   err))
			return e;
	int is_pmem = 0;
	base = static_cast<char *>(
		pmem_map_file(path.c_str(), 0, 0, 0, &len, &is_pmem));
	if (!base)
		return fail(err, path, errno ? -errno : -EIO,
			    std::string("cannot map: ") + pmem_errormsg());
	if (len < kMinImage)
		return fail(err, path, -EINVAL,
			    "too small (" + std::to_string(len) +
				    " bytes, minimum 16 MiB)");
	struct statfs sf;
	if (!is_pmem && !fstatfs(fd_, &sf) &&
	    (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC))
		note_memory_mapping(base, len, true);
	else if (!is_pmem && FileImage::wanted(fd_)) {
		std::string why;
		int e = FileImage::open(fd_, path, len, ro, &file, &why);
		if (e == -ENOSPC) { // no room for the working copy: msync, slow
			fprintf(stderr,
				"zufuse: image %s: %s: every transaction is msynced "
				"instead (slow)\n",
				path.c_str(), why.c_str());
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

int Image::open(const std::string &path, uint64_t want, std::string *err,
		bool ro)
{
	int e = open_locked(path, want, err);
	if (!e)
		e = grow_file(path, want, err);
	if (!e)
		e = map(path, err, ro);
	return e;
}

bool Image::read_head(void *buf, size_t n) const
{
	return pread(fd_, buf, n, 0) == ssize_t(n);
}

std::string Image::foreign_signature() const
{
	blkid_probe pr = blkid_new_probe();
	if (!pr)
		return "";
	std::string what;
	if (blkid_probe_set_device(pr, fd_, 0, 0) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
		int rc = blkid_do_safeprobe(pr);
		if (rc == -2)
			what = "several file system signatures";
		if (rc == 0) {
			const char *v = nullptr;
			if (blkid_probe_lookup_value(pr, "TYPE", &v, nullptr) ==
				    0 &&
			    v)
				what = std::string("a file system of type ") +
				       v;
			else if (blkid_probe_lookup_value(pr, "PTTYPE", &v,
							  nullptr) == 0 &&
				 v)
				what = std::string("a partition table (") + v +
				       ")";
			else
				what = "a recognised signature";
		}
	}
	blkid_free_probe(pr);
	return what;
}

} // namespace zus::pmfs
