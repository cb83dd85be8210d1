// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_file.cc - open files on the Vfs (zuf's file.c; the data path itself
// is rw.cc): open, read, write, fsync; fallocate, lseek SEEK_DATA/SEEK_HOLE
// and copy_file_range, each one ZUFS_OP_* message.
#include "kernel_shim/vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernel_shim/inode_flags.h"
#include "kernel_shim/log.h"
#include "kernel_shim/vfs_internal.h"

namespace zuf {

File::~File() { cache_.put(inode_, Ref::pin); }

int Vfs::open(uint64_t ino, int flags, std::unique_ptr<File> *out)
{
	Inode *inode = cache_.get(ino, Ref::pin);
	if (!inode)
		return -ESTALE;
	// The File owns the pin from here.
	auto f = std::make_unique<File>(File::Key(), cache_, inode, flags);
	mode_t mode = mode_of(inode);
	bool writes = (flags & O_ACCMODE) != O_RDONLY;

	if (S_ISDIR(mode) && writes)
		return -EISDIR;
	if (writes && opts_.read_only)
		return -EROFS;
	// may_open: an immutable file opens for reading only, an append-only
	// one for writing only with O_APPEND, never with O_TRUNC.
	const uint16_t zf = zi_flags(inode);
	if ((writes || (flags & O_TRUNC)) &&
	    ((zf & ZUFS_S_IMMUTABLE) ||
	     ((zf & ZUFS_S_APPEND) &&
	      (!(flags & O_APPEND) || (flags & O_TRUNC)))))
		return -EPERM;
	if ((flags & O_TRUNC) && writes && S_ISREG(mode)) {
		SetAttr attr;
		attr.mask = STATX_SIZE;
		struct stat st;
		int err = setattr(ino, attr, &st);
		if (err)
			return err;
	}
	*out = std::move(f);
	return 0;
}

IoTarget Vfs::io_target(Inode *inode)
{
	IoTarget t;
	t.channel = &channel_;
	t.zus_ii = inode->zus_ii;
	t.ino = inode->ino;
	t.zi = inode->zi;
	t.pools = pools_.all();
	t.unmapper = this;
	t.t2 = t2_.get();
	return t;
}

ssize_t Vfs::read(File &f, std::span<const iovec> iov, uint64_t pos, int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;
	if ((f.flags_ & O_ACCMODE) == O_WRONLY)
		return -EBADF;

	Readahead ra;
	{
		std::lock_guard lock(f.ra_lock_);
		ra = f.ra_;
	}
	IovIter ii(iov);
	uint64_t flags = read_io_flags(f.flags_ | oflags, &ra, pos);
	ssize_t ret = rw_read(io_target(f.inode_), &ra, ii, pos, flags);
	{
		std::lock_guard lock(f.ra_lock_);
		f.ra_ = ra;
	}
	return ret;
}

ssize_t Vfs::read_mapped(File &f, size_t size, uint64_t pos, MappedRead &out,
			 int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;

	uint64_t flags;
	{
		std::lock_guard lock(f.ra_lock_);
		flags = read_io_flags(f.flags_ | oflags, &f.ra_, pos);
	}
	ssize_t ret =
		rw_read_mapped(io_target(f.inode_), size, pos, flags, out);
	if (ret > 0) {
		std::lock_guard lock(f.ra_lock_);
		f.ra_.prev_pos = pos + ret;
	}
	return ret;
}

ssize_t Vfs::write(File &f, std::span<const iovec> iov, uint64_t pos,
		   int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;
	if (opts_.read_only)
		return -EROFS;
	if ((f.flags_ & O_ACCMODE) == O_RDONLY && !(oflags & O_ACCMODE))
		return -EBADF;
	// Opened before chattr +i. chattr +S: every write is synchronous.
	const uint16_t zf = zi_flags(f.inode_);
	if (zf & ZUFS_S_IMMUTABLE)
		return -EPERM;

	uint64_t flags = write_io_flags(f.flags_ | oflags,
					opts_.sync || (zf & ZUFS_S_SYNC));
	return retry_nospc([&] {
		IovIter ii(iov);
		return rw_write(io_target(f.inode_), ii, pos, flags);
	});
}

int Vfs::fsync(uint64_t ino, bool datasync)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;

	zufs_ioc_sync ioc = {};
	ioc.hdr.operation = ZUFS_OP_SYNC;
	ioc.zus_ii = inode->zus_ii;
	ioc.offset = 0;
	ioc.length = ~0ULL;
	ioc.flags = datasync ? ZUFS_SF_DATASYNC : 0;
	return call(&ioc.hdr, sizeof(ioc));
}

int Vfs::fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t len)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	if (opts_.read_only)
		return -EROFS;
	if (!len || int64_t(offset) < 0 || int64_t(len) < 0)
		return -EINVAL;
	if (offset + len < offset)
		return -EFBIG;
	// vfs_fallocate: nothing on an immutable file; an append-only one
	// may only be extended without changing its size.
	if (is_immutable(inode.get()) ||
	    (may_change(inode.get()) && (mode & ~FALLOC_FL_KEEP_SIZE)))
		return -EPERM;
	zufs_ioc_IO io = {};
	io.hdr.operation = ZUFS_OP_FALLOCATE;
	io.zus_ii = inode->zus_ii;
	io.filepos = offset;
	io.last_pos = offset + len;
	io.flags = static_cast<uint64_t>(mode);
	const zufs_ioc_IO sent = io;
	int err = retry_nospc([&] {
		io = sent;
		return call(&io.hdr, sizeof(io));
	});
	if (err)
		return err;
	if (io.wr_unmap.len && inval_)
		inval_->invalidate(ino,
				   uint64_t(io.wr_unmap.offset) * PAGE_SIZE,
				   uint64_t(io.wr_unmap.len) * PAGE_SIZE);
	return 0;
}

int64_t Vfs::lseek(uint64_t ino, uint64_t offset, int whence)
{
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	zufs_ioc_seek sk = {};
	sk.hdr.operation = ZUFS_OP_LLSEEK;
	sk.zus_ii = inode->zus_ii;
	sk.offset_in = offset;
	sk.whence = static_cast<uint32_t>(whence);
	int err = call(&sk.hdr, sizeof(sk));
	if (err)
		return err;
	if (int64_t(sk.offset_out) < 0)
		return -EIO;
	return int64_t(sk.offset_out);
}

ssize_t Vfs::copy_file_range(File &in, uint64_t off_in, File &out,
			     uint64_t off_out, size_t len, unsigned flags)
{
	if (flags)
		return -EINVAL;
	if ((in.flags_ & O_ACCMODE) == O_WRONLY ||
	    (out.flags_ & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (opts_.read_only)
		return -EROFS;
	if (is_immutable(out.inode_))
		return -EPERM;
	zufs_ioc_clone c = {};
	c.hdr.operation = ZUFS_OP_COPY;
	c.src_zus_ii = in.inode_->zus_ii;
	c.dst_zus_ii = out.inode_->zus_ii;
	c.pos_in = off_in;
	c.pos_out = off_out;
	c.len = len;
	const zufs_ioc_clone sent = c;
	int err = retry_nospc([&] {
		c = sent;
		return call(&c.hdr, sizeof(c));
	});
	if (err)
		return err;
	if (c.copied > len) {
		zuf_err("COPY answered %lu of %zu bytes",
			(unsigned long)c.copied, len);
		return -EIO;
	}
	if (c.copied && inval_)
		inval_->invalidate(out.inode_->ino, off_out, c.copied);
	return static_cast<ssize_t>(c.copied);
}

} // namespace zuf
