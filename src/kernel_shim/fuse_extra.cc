// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_extra.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "kernel_shim/fuse_frontend.h"
#include "kernel_shim/fuse_wire.h"

namespace zuf {

namespace {

// Protocol 7.39; Debian's <linux/fuse.h> (7.38) predates it.
constexpr uint32_t kFuseStatx = 52;
struct SxTime {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};
struct FuseStatx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t spare0;
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	SxTime atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor;
	uint32_t dev_major, dev_minor;
	uint64_t spare2[14];
};
struct FuseStatxIn {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;
	uint32_t sx_mask;
};
struct FuseStatxOut {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	FuseStatx stat;
};
static_assert(sizeof(FuseStatx) == 256 && sizeof(FuseStatxIn) == 24 &&
	      sizeof(FuseStatxOut) == 288);
static_assert(FUSE_TMPFILE == 51);

int reply_err(const fuse_in_header &in, int err)
{
	wire::reply(in.unique, err, nullptr, 0);
	return err;
}

// A timeout in seconds as FUSE's (seconds, nanoseconds).
void split_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	double whole = std::floor(t);
	*sec = uint64_t(whole);
	*nsec = uint32_t((t - whole) * 1e9);
}

// As libfuse's convert_stat.
void fill_attr(const struct stat &st, fuse_attr *a)
{
	a->ino = st.st_ino;
	a->mode = st.st_mode;
	a->nlink = st.st_nlink;
	a->uid = st.st_uid;
	a->gid = st.st_gid;
	a->rdev = uint32_t(st.st_rdev);
	a->size = st.st_size;
	a->blksize = st.st_blksize;
	a->blocks = st.st_blocks;
	a->atime = uint64_t(st.st_atim.tv_sec);
	a->mtime = uint64_t(st.st_mtim.tv_sec);
	a->ctime = uint64_t(st.st_ctim.tv_sec);
	a->atimensec = uint32_t(st.st_atim.tv_nsec);
	a->mtimensec = uint32_t(st.st_mtim.tv_nsec);
	a->ctimensec = uint32_t(st.st_ctim.tv_nsec);
}

SxTime sx_time(const timespec &ts)
{
	return { int64_t(ts.tv_sec), uint32_t(ts.tv_nsec), 0 };
}

// What an open tells the kernel about caching (as zf_open's).
uint32_t open_flags(const FuseFs &f, int flags)
{
	if (f.opts.direct_io || ((flags & O_DIRECT) && wire::direct_io_mmap()))
		return FOPEN_DIRECT_IO;
	if (!(flags & O_DIRECT) && !f.opts.strictatime)
		return FOPEN_KEEP_CACHE; // we invalidate what changes under it
	return 0;
}

// FUSE_TMPFILE: fuse_create_in, then the name "/" (fuse_tmpfile sends the
// unhashed dentry of vfs_tmpfile). The kernel owns the reference and the
// File once the reply arrived.
void op_tmpfile(void *ctx, const fuse_in_header &in, const char *arg,
		size_t len)
{
	FuseFs &f = *static_cast<FuseFs *>(ctx);
	fuse_create_in ci;
	if (len < sizeof(ci))
		return (void)reply_err(in, -EINVAL);
	std::memcpy(&ci, arg, sizeof(ci));

	Entry e;
	int err = f.vfs->tmpfile(in.nodeid, ci.mode, in.uid, in.gid, &e,
				 ci.umask);
	if (err)
		return (void)reply_err(in, err);
	const int flags = int(ci.flags) &
			  ~(O_CREAT | O_EXCL | O_TRUNC | O_TMPFILE | O_NOCTTY);
	std::unique_ptr<File> file;
	if ((err = f.vfs->open(e.ino, flags, &file))) {
		f.vfs->forget(e.ino, 1);
		return (void)reply_err(in, err);
	}

	fuse_entry_out eo = {};
	eo.nodeid = e.ino;
	eo.generation = e.generation;
	split_timeout(f.opts.timeout, &eo.entry_valid, &eo.entry_valid_nsec);
	split_timeout(f.opts.timeout, &eo.attr_valid, &eo.attr_valid_nsec);
	fill_attr(e.attr, &eo.attr);
	fuse_open_out oo = {};
	oo.fh = reinterpret_cast<uintptr_t>(file.get());
	oo.open_flags = open_flags(f, flags);
	const iovec iov[] = { { &eo, sizeof(eo) }, { &oo, sizeof(oo) } };
	if (wire::reply(in.unique, 0, iov, 2) >= 0)
		(void)file.release(); // RELEASE ends it
	else
		f.vfs->forget(e.ino, 1);
}

// FUSE_STATX: the basic stats always (the kernel takes nothing less), the
// birth time when the inode has one.
void op_statx(void *ctx, const fuse_in_header &in, const char *arg, size_t len)
{
	FuseFs &f = *static_cast<FuseFs *>(ctx);
	FuseStatxIn sx_in;
	if (len < sizeof(sx_in))
		return (void)reply_err(in, -EINVAL);
	std::memcpy(&sx_in, arg, sizeof(sx_in));

	struct stat st;
	if (int err = f.vfs->getattr(in.nodeid, &st))
		return (void)reply_err(in, err);
	FuseStatxOut o = {};
	uint64_t sec;
	split_timeout(f.opts.timeout, &sec, &o.attr_valid_nsec);
	o.attr_valid = sec;
	FuseStatx &sx = o.stat;
	sx.mask = STATX_BASIC_STATS;
	sx.blksize = uint32_t(st.st_blksize);
	sx.nlink = uint32_t(st.st_nlink);
	sx.uid = st.st_uid;
	sx.gid = st.st_gid;
	sx.mode = uint16_t(st.st_mode);
	sx.ino = st.st_ino;
	sx.size = uint64_t(st.st_size);
	sx.blocks = uint64_t(st.st_blocks);
	sx.atime = sx_time(st.st_atim);
	sx.mtime = sx_time(st.st_mtim);
	sx.ctime = sx_time(st.st_ctim);
	sx.rdev_major = major(st.st_rdev);
	sx.rdev_minor = minor(st.st_rdev);
	timespec bt;
	if (f.vfs->btime(in.nodeid, &bt) == 0) {
		sx.mask |= STATX_BTIME;
		sx.btime = sx_time(bt);
	}
	uint32_t fl = 0;
	if (f.vfs->getflags(in.nodeid, &fl) == 0) {
		sx.attributes_mask = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND |
				     STATX_ATTR_NODUMP;
		if (fl & FS_IMMUTABLE_FL)
			sx.attributes |= STATX_ATTR_IMMUTABLE;
		if (fl & FS_APPEND_FL)
			sx.attributes |= STATX_ATTR_APPEND;
		if (fl & FS_NODUMP_FL)
			sx.attributes |= STATX_ATTR_NODUMP;
	}
	const iovec iov[] = { { &o, sizeof(o) } };
	wire::reply(in.unique, 0, iov, 1);
}

} // namespace

void install_extra_ops(FuseFs *fs)
{
	wire::set_extra_op(FUSE_TMPFILE, op_tmpfile, fs);
	wire::set_extra_op(kFuseStatx, op_statx, fs);
}

} // namespace zuf
