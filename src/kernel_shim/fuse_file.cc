// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_file.cc - FUSE handlers of open files (zuf's file.c, rw.c,
// ioctl.c): open, create, read, write, flush, release, fsync, fallocate,
// lseek (SEEK_DATA/SEEK_HOLE), copy_file_range, and chattr's ioctls.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_shim/fuse_handlers.h"
#include "kernel_shim/fuse_wire.h"
#include "kernel_shim/log.h"

namespace zuf {

namespace {

// writev(2) on /dev/fuse takes at most UIO_MAXIOV segments, header included.
constexpr size_t kMaxReplyIov = 1023;

// What an open tells the kernel about caching.
void set_open_flags(FuseFs &f, fuse_file_info *fi)
{
	// FOPEN_NOFLUSH: close(2) sends no FLUSH. Nothing is held back here
	// (writes are through, no writeback cache, POSIX locks are the
	// kernel's), so the round trip per close bought nothing.
	fi->noflush = 1;
	// An O_DIRECT open as FOPEN_DIRECT_IO: the kernel then sends each
	// read and write as a plain request from the caller's thread rather
	// than through its asynchronous direct-I/O path (a background request
	// and a completion to wait for). Only where a shared mapping of such
	// an open still works (wire::direct_io_mmap).
	if (f.opts.direct_io ||
	    ((fi->flags & O_DIRECT) && wire::direct_io_mmap()))
		fi->direct_io = 1;
	else if (!(fi->flags & O_DIRECT) && !f.opts.strictatime)
		fi->keep_cache = 1; // we invalidate what changes under it
}

void zf_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	Scope scope(*fs(req).notifier);
	std::unique_ptr<File> file;
	int err = fs(req).vfs->open(ino, fi->flags, &file);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fi->fh = reinterpret_cast<uintptr_t>(file.get());
	set_open_flags(fs(req), fi);
	// The kernel owns the File once the reply arrived; release() ends it.
	if (fuse_reply_open(req, fi) == 0)
		(void)file.release();
}

void zf_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       fuse_file_info *fi)
{
	FuseFs &f = fs(req);
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err = f.vfs->mknod(parent, name, S_IFREG | (mode & 07777), 0,
			       ctx->uid, ctx->gid, &e, ctx->umask);
	if ((err = dirsync_new(req, err, parent, e)))
		return (void)fuse_reply_err(req, -err);

	std::unique_ptr<File> file;
	err = f.vfs->open(e.ino, fi->flags & ~O_TRUNC, &file);
	if (err) {
		f.vfs->forget(e.ino, 1);
		return (void)fuse_reply_err(req, -err);
	}
	fi->fh = reinterpret_cast<uintptr_t>(file.get());
	set_open_flags(f, fi);

	fuse_entry_param p = entry_param(f, e);
	if (fuse_reply_create(req, &p, fi) == 0)
		(void)file.release();
	else
		f.vfs->forget(e.ino, 1);
}

// Copy-based read, for a reply the kernel could not take as an iovec.
// The buffer is page-aligned and file offset o lands at o % 4096 in it,
// so whole file blocks are whole pages: a cold T2 block is then read
// inline (IOM_T2_READ_LEN into these pages) instead of promoted.
void read_copy(fuse_req_t req, File &file, size_t size, off_t off)
{
	struct Free {
		void operator()(void *p) const { free(p); }
	};
	thread_local std::unique_ptr<char, Free> buf;
	thread_local size_t cap = 0;
	const size_t in_page = size_t(off) % 4096;
	const size_t need = (in_page + size + 4095) / 4096 * 4096;
	if (need > cap) {
		buf.reset(static_cast<char *>(std::aligned_alloc(4096, need)));
		cap = buf ? need : 0;
		if (!buf)
			return (void)fuse_reply_err(req, ENOMEM);
	}
	iovec iov = { buf.get() + in_page, size };
	ssize_t n = fs(req).vfs->read(file, { &iov, 1 }, off);
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	fuse_reply_buf(req, buf.get() + in_page, n);
}

// Zero-copy read: reply with an iovec into pmem, then unpin (PUT_MULTY).
void zf_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
	     fuse_file_info *fi)
{
	Scope scope(*fs(req).notifier);
	thread_local MappedRead mapped;
	File &file = file_of(fi);

	ssize_t n = fs(req).vfs->read_mapped(file, size, off, mapped);
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	if (n == 0)
		return (void)fuse_reply_buf(req, nullptr, 0);
	if (mapped.iov().size() > kMaxReplyIov) {
		mapped.release();
		return read_copy(req, file, size, off);
	}
	fuse_reply_iov(req, mapped.iov().data(), mapped.iov().size());
	mapped.release();
}

// The write data stays in libfuse's buffer: its pages go to the server.
void zf_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec *bufv, off_t off,
		  fuse_file_info *fi)
{
	Scope scope(*fs(req).notifier);
	thread_local std::vector<iovec> iov;
	thread_local std::vector<char> bounce;
	iov.clear();

	size_t skip = bufv->off;
	bool in_memory = true;
	for (size_t i = bufv->idx; i < bufv->count; ++i) {
		const fuse_buf &b = bufv->buf[i];
		if (b.flags & FUSE_BUF_IS_FD) {
			in_memory = false;
			break;
		}
		if (b.size > skip)
			iov.push_back({ static_cast<char *>(b.mem) + skip,
					b.size - skip });
		skip = 0;
	}
	if (!in_memory) { // spliced from a pipe: one copy is unavoidable
		size_t size = fuse_buf_size(bufv);
		bounce.resize(size);
		fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		dst.buf[0].mem = bounce.data();
		ssize_t got = fuse_buf_copy(&dst, bufv, fuse_buf_copy_flags(0));
		if (got < 0)
			return (void)fuse_reply_err(req, -got);
		iov.assign(1, { bounce.data(), size_t(got) });
	}

	File &file = file_of(fi);
	if (int err =
		    fs(req).vfs->remove_privs(file.ino(), wire::kill_suidgid()))
		return (void)fuse_reply_err(req, -err);
	ssize_t n = fs(req).vfs->write(file, iov, off, fi->flags);
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	fuse_reply_write(req, n);
}

void zf_flush(fuse_req_t req, fuse_ino_t, fuse_file_info *)
{
	fuse_reply_err(req, 0); // write-through: nothing is held back (and
				// open/create set FOPEN_NOFLUSH: rare)
}

void zf_release(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	std::unique_ptr<File> file(reinterpret_cast<File *>(fi->fh));
	file.reset();
	fuse_reply_err(req, 0);
}

void zf_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info *)
{
	fuse_reply_err(req, -fs(req).vfs->fsync(ino, datasync));
}

void zf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, fuse_file_info *)
{
	Scope scope(*fs(req).notifier);
	// file_modified() as tmpfs does it: with FUSE_HANDLE_KILLPRIV_V2 the
	// kernel leaves it to us, and FALLOCATE carries no kill flag: suid
	// and sgid go unless the caller has CAP_FSETID (uid 0 stands for it).
	if (int err =
		    fs(req).vfs->remove_privs(ino, fuse_req_ctx(req)->uid != 0))
		return (void)fuse_reply_err(req, -err);
	fuse_reply_err(req, -inode_sync(req,
					fs(req).vfs->fallocate(ino, mode,
							       offset, length),
					ino));
}

void zf_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      fuse_file_info *)
{
	int64_t r = fs(req).vfs->lseek(ino, off, whence);
	if (r < 0)
		return (void)fuse_reply_err(req, int(-r));
	fuse_reply_lseek(req, r);
}

void zf_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in,
			fuse_file_info *fi_in, fuse_ino_t, off_t off_out,
			fuse_file_info *fi_out, size_t len, int flags)
{
	Scope scope(*fs(req).notifier);
	ssize_t n = fs(req).vfs->copy_file_range(file_of(fi_in), off_in,
						 file_of(fi_out), off_out, len,
						 unsigned(flags));
	if (n < 0)
		return (void)fuse_reply_err(req, int(-n));
	fuse_reply_write(req, size_t(n));
}

} // namespace

// chattr/lsattr: the kernel's fileattr_get/set reach FUSE as these four
// ioctls (fuse_priv_ioctl, on a file it opened itself), with the caller's
// rights already checked (vfs_fileattr_set). Other ioctls: ENOTTY. The
// reply of an ioctl carries no attributes: a change (ctime) drops the
// kernel's cached ones before the reply.
void zf_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *,
	      fuse_file_info *, unsigned, const void *in_buf, size_t in_bufsz,
	      size_t out_bufsz)
{
	Vfs &vfs = *fs(req).vfs;
	int err;
	if (cmd == FS_IOC_GETFLAGS && out_bufsz >= sizeof(uint32_t)) {
		uint32_t flags;
		if ((err = vfs.getflags(ino, &flags)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, &flags, sizeof(flags));
	}
	if (cmd == FS_IOC_SETFLAGS && in_bufsz >= sizeof(uint32_t)) {
		uint32_t flags;
		std::memcpy(&flags, in_buf, sizeof(flags));
		if ((err = vfs.setflags(ino, flags)))
			return (void)fuse_reply_err(req, -err);
		fs(req).notifier->invalidate_attr_now(ino); // ctime moved
		return (void)fuse_reply_ioctl(req, 0, nullptr, 0);
	}
	if (cmd == FS_IOC_FSGETXATTR && out_bufsz >= sizeof(fsxattr)) {
		fsxattr fa;
		if ((err = vfs.fsgetxattr(ino, &fa)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, &fa, sizeof(fa));
	}
	if (cmd == FS_IOC_FSSETXATTR && in_bufsz >= sizeof(fsxattr)) {
		fsxattr fa;
		std::memcpy(&fa, in_buf, sizeof(fa));
		if ((err = vfs.fssetxattr(ino, fa)))
			return (void)fuse_reply_err(req, -err);
		fs(req).notifier->invalidate_attr_now(ino);
		return (void)fuse_reply_ioctl(req, 0, nullptr, 0);
	}
	fuse_reply_err(req, ENOTTY);
}

void add_file_ops(fuse_lowlevel_ops &ops)
{
	ops.open = zf_open;
	ops.create = zf_create;
	ops.read = zf_read;
	ops.write_buf = zf_write_buf;
	ops.flush = zf_flush;
	ops.release = zf_release;
	ops.fsync = zf_fsync;
	ops.fallocate = zf_fallocate;
	ops.lseek = zf_lseek;
	ops.copy_file_range = zf_copy_file_range;
	ops.ioctl = zf_ioctl;
}

} // namespace zuf
