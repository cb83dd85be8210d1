// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_frontend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_shim/fuse_posix.h"
#include "kernel_shim/fuse_wire.h"
#include "kernel_shim/log.h"

namespace zuf {

namespace {

// FUSE moves at most this much per request (and libfuse's buffer holds it).
constexpr unsigned kMaxWrite = 1U << 20;
// writev(2) on /dev/fuse takes at most UIO_MAXIOV segments, header included.
constexpr size_t kMaxReplyIov = 1023;

using Scope = FuseNotifier::RequestScope;

FuseFs &fs(fuse_req_t req)
{
	return *static_cast<FuseFs *>(fuse_req_userdata(req));
}

File &file_of(const fuse_file_info *fi)
{
	return *reinterpret_cast<File *>(fi->fh);
}

void reply_entry(fuse_req_t req, const Entry &e)
{
	FuseFs &f = fs(req);
	fuse_entry_param p = {};
	p.ino = e.ino;
	p.generation = e.generation;
	p.attr = e.attr;
	p.attr_timeout = f.opts.timeout;
	p.entry_timeout = f.opts.timeout;
	// The kernel did not take the reference if the reply did not arrive.
	if (fuse_reply_entry(req, &p))
		f.vfs->forget(e.ino, 1);
}

// -o dirsync (and sync): a namespace change is durable before the reply,
// as the kernel's IS_DIRSYNC file systems do it. err: the change's result.
// chattr +D on the directory does the same for it.
int dirsync(fuse_req_t req, int err, fuse_ino_t dir, fuse_ino_t dir2 = 0)
{
	FuseFs &f = fs(req);
	if (err)
		return err;
	uint32_t fl = 0, fl2 = 0;
	if (!f.opts.dirsync && (f.vfs->getflags(dir, &fl) ||
				!(fl & FS_DIRSYNC_FL)) &&
	    (!dir2 || f.vfs->getflags(dir2, &fl2) || !(fl2 & FS_DIRSYNC_FL)))
		return 0;
	err = f.vfs->fsync(dir, false);
	if (!err && dir2 && dir2 != dir)
		err = f.vfs->fsync(dir2, false);
	return err;
}

// ~~~ handlers: each short, each replying exactly once ~~~

void zf_init(void *userdata, fuse_conn_info *conn)
{
	conn->max_write = kMaxWrite;
	conn->time_gran = 1;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	// chattr/lsattr on directories too (FS_IOC_GETFLAGS through ioctl).
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	// POSIX ACLs: the kernel checks them (read through GETXATTR) and
	// leaves the umask to the Vfs, which applies it or the parent's
	// default ACL (posix_acl_create).
	if (static_cast<FuseFs *>(userdata)->vfs->acl() &&
	    (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	// Write-through page cache; the kernel truncates and kills suid
	// through SETATTR; writes arrive in memory so their pages can be
	// handed to the server as they are (splice would need a copy out).
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV);
}

void zf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FuseFs &f = fs(req);
	Entry e;
	int err = f.vfs->lookup(parent, name, &e);
	if (err == -ENOENT) { // negative entry: the shim is the only path
		fuse_entry_param p = {};
		p.entry_timeout = f.opts.timeout;
		fuse_reply_entry(req, &p);
		return;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);
	reply_entry(req, e);
}

void zf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs(req).vfs->forget(ino, nlookup);
	fuse_reply_none(req);
}

void zf_forget_multi(fuse_req_t req, size_t count, fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; ++i)
		fs(req).vfs->forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void zf_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	struct stat st;
	int err = fs(req).vfs->getattr(ino, &st);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_attr(req, &st, fs(req).opts.timeout);
}

uint64_t ts_ns(const timespec &ts)
{
	return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

void zf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		fuse_file_info *)
{
	Scope scope(*fs(req).notifier);
	SetAttr a;

	if (to_set & FUSE_SET_ATTR_MODE) {
		a.mask |= STATX_MODE;
		a.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a.mask |= STATX_UID;
		a.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a.mask |= STATX_GID;
		a.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		a.mask |= STATX_SIZE;
		a.size = attr->st_size;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		a.mask |= STATX_ATIME;
		a.atime_ns = (to_set & FUSE_SET_ATTR_ATIME_NOW) ?
				     now_ns() :
				     ts_ns(attr->st_atim);
	}
	// chown(f, -1, -1) and the like: only ctime changes (the server sets
	// ctime on every SETATTR). Without a writeback cache the kernel does
	// not say FATTR_CTIME; it sends a SETATTR with nothing else in it.
	if ((to_set & FUSE_SET_ATTR_CTIME) || !(to_set & ~FUSE_SET_ATTR_CTIME))
		a.mask |= STATX_CTIME;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		a.mask |= STATX_MTIME;
		a.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW) ?
				     now_ns() :
				     ts_ns(attr->st_mtim);
	}

	// utimes(NULL): each time given is "now" (libfuse sets ATIME with
	// ATIME_NOW).
	a.touch = !((to_set & FUSE_SET_ATTR_ATIME) &&
		    !(to_set & FUSE_SET_ATTR_ATIME_NOW)) &&
		  !((to_set & FUSE_SET_ATTR_MTIME) &&
		    !(to_set & FUSE_SET_ATTR_MTIME_NOW));

	// FUSE_HANDLE_KILLPRIV_V2 (fuse_wire.h): the kernel leaves killing
	// privileges on truncate and chown to us; it never asks along with a
	// mode change.
	bool kill = wire::kill_suidgid() && !(to_set & FUSE_SET_ATTR_MODE);
	if (kill || (to_set & FUSE_SET_ATTR_SIZE)) {
		if (int err = fs(req).vfs->remove_privs(ino, kill))
			return (void)fuse_reply_err(req, -err);
	}

	struct stat st;
	int err = fs(req).vfs->setattr(ino, a, &st);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_attr(req, &st, fs(req).opts.timeout);
}

void zf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err = fs(req).vfs->mknod(parent, name, mode, rdev, ctx->uid,
				     ctx->gid, &e, ctx->umask);
	if (int serr = dirsync(req, err, parent); serr && !err) {
		fs(req).vfs->forget(e.ino, 1);
		err = serr;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);
	reply_entry(req, e);
}

void zf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err =
		fs(req).vfs->mkdir(parent, name, mode, ctx->uid, ctx->gid, &e,
				   ctx->umask);
	if (int serr = dirsync(req, err, parent); serr && !err) {
		fs(req).vfs->forget(e.ino, 1);
		err = serr;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);
	reply_entry(req, e);
}

void zf_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err = fs(req).vfs->symlink(parent, name, link, ctx->uid, ctx->gid,
				       &e);
	if (int serr = dirsync(req, err, parent); serr && !err) {
		fs(req).vfs->forget(e.ino, 1);
		err = serr;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);
	reply_entry(req, e);
}

void zf_readlink(fuse_req_t req, fuse_ino_t ino)
{
	std::string target;
	int err = fs(req).vfs->readlink(ino, &target);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_readlink(req, target.c_str());
}

void zf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	Entry e;
	int err = fs(req).vfs->link(ino, newparent, newname, &e);
	if (int serr = dirsync(req, err, newparent); serr && !err) {
		fs(req).vfs->forget(e.ino, 1);
		err = serr;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);
	reply_entry(req, e);
}

void zf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req,
		       -dirsync(req, fs(req).vfs->unlink(parent, name), parent));
}

void zf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req,
		       -dirsync(req, fs(req).vfs->rmdir(parent, name), parent));
}

void zf_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	int err = fs(req).vfs->rename(parent, name, newparent, newname, flags);
	fuse_reply_err(req, -dirsync(req, err, parent, newparent));
}

// What an open tells the kernel about caching.
void set_open_flags(FuseFs &f, fuse_file_info *fi)
{
	if (f.opts.direct_io)
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
	if (int serr = dirsync(req, err, parent); serr && !err) {
		f.vfs->forget(e.ino, 1);
		err = serr;
	}
	if (err)
		return (void)fuse_reply_err(req, -err);

	std::unique_ptr<File> file;
	err = f.vfs->open(e.ino, fi->flags & ~O_TRUNC, &file);
	if (err) {
		f.vfs->forget(e.ino, 1);
		return (void)fuse_reply_err(req, -err);
	}
	fi->fh = reinterpret_cast<uintptr_t>(file.get());
	set_open_flags(f, fi);

	fuse_entry_param p = {};
	p.ino = e.ino;
	p.generation = e.generation;
	p.attr = e.attr;
	p.attr_timeout = f.opts.timeout;
	p.entry_timeout = f.opts.timeout;
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
	if (int err = fs(req).vfs->remove_privs(file.ino(), wire::kill_suidgid()))
		return (void)fuse_reply_err(req, -err);
	ssize_t n = fs(req).vfs->write(file, iov, off, fi->flags);
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	fuse_reply_write(req, n);
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

void zf_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	struct stat st;
	int err = fs(req).vfs->getattr(ino, &st);
	if (!err && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err)
		return (void)fuse_reply_err(req, -err);
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    bool plus)
{
	FuseFs &f = fs(req);
	thread_local std::vector<char> buf;
	buf.resize(size);
	size_t used = 0;

	int err = f.vfs->readdir(ino, off, [&](const DirEntry &d) {
		char name[ZUFS_NAME_LEN + 1];
		std::memcpy(name, d.name.data(), d.name.size());
		name[d.name.size()] = 0;
		char *p = buf.data() + used;
		size_t room = size - used;
		size_t need;

		if (!plus) {
			struct stat st = {};
			st.st_ino = d.ino;
			st.st_mode = d.type << 12;
			need = fuse_add_direntry(req, p, room, name, &st,
						 d.next);
		} else {
			fuse_entry_param e = {};
			e.attr.st_ino = d.ino;
			e.attr.st_mode = d.type << 12;
			if (fuse_add_direntry_plus(req, nullptr, 0, name,
						   nullptr, 0) > room)
				return false;
			Entry ent;
			bool dot = d.name == "." || d.name == "..";
			// ino 0: the kernel takes no reference (. and ..,
			// or a name that went away meanwhile).
			if (!dot && f.vfs->lookup(ino, d.name, &ent) == 0) {
				e.ino = ent.ino;
				e.generation = ent.generation;
				e.attr = ent.attr;
				e.attr_timeout = f.opts.timeout;
				e.entry_timeout = f.opts.timeout;
			}
			need = fuse_add_direntry_plus(req, p, room, name, &e,
						      d.next);
		}
		if (need > room)
			return false;
		used += need;
		return true;
	});
	if (err && !used)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_buf(req, buf.data(), used);
}

void zf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		fuse_file_info *)
{
	readdir_common(req, ino, size, off, false);
}

void zf_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    fuse_file_info *)
{
	readdir_common(req, ino, size, off, true);
}

void zf_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info *)
{
	fuse_reply_err(req, 0);
}

void zf_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info *)
{
	fuse_reply_err(req, -fs(req).vfs->fsync(ino, datasync));
}

void zf_statfs(fuse_req_t req, fuse_ino_t)
{
	struct statvfs st;
	int err = fs(req).vfs->statfs(&st);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_statfs(req, &st);
}

fuse_lowlevel_ops make_ops()
{
	fuse_lowlevel_ops ops = {};
	ops.init = zf_init;
	ops.lookup = zf_lookup;
	ops.forget = zf_forget;
	ops.forget_multi = zf_forget_multi;
	ops.getattr = zf_getattr;
	ops.setattr = zf_setattr;
	ops.mknod = zf_mknod;
	ops.mkdir = zf_mkdir;
	ops.symlink = zf_symlink;
	ops.readlink = zf_readlink;
	ops.link = zf_link;
	ops.unlink = zf_unlink;
	ops.rmdir = zf_rmdir;
	ops.rename = zf_rename;
	ops.open = zf_open;
	ops.create = zf_create;
	ops.read = zf_read;
	ops.write_buf = zf_write_buf;
	// No flush: writes are write-through and locks are the kernel's, so
	// FLUSH has nothing to do. libfuse answers the first one ENOSYS and
	// the kernel sends no more (fc->no_flush), which spares every close()
	// a round trip; the kernel still writes dirty mmap pages back first.
	ops.release = zf_release;
	ops.fsync = zf_fsync;
	ops.opendir = zf_opendir;
	ops.readdir = zf_readdir;
	ops.readdirplus = zf_readdirplus;
	ops.releasedir = zf_releasedir;
	ops.fsyncdir = zf_fsyncdir;
	ops.statfs = zf_statfs;
	add_posix_ops(ops); // fuse_posix.cc
	return ops;
}

} // namespace

const fuse_lowlevel_ops &fuse_ops()
{
	static const fuse_lowlevel_ops ops = make_ops();
	return ops;
}

// ~~~ session life cycle ~~~

FuseFrontend::FuseFrontend(Vfs &vfs, FuseNotifier &notifier,
			   FrontendOptions opts)
    : notifier_(notifier), fs_{ &vfs, &notifier, opts }
{
}

FuseFrontend::~FuseFrontend()
{
	unmount();
	notifier_.stop();
	if (signals_)
		fuse_remove_signal_handlers(se_);
	if (se_)
		fuse_session_destroy(se_);
}

bool FuseFrontend::create(fuse_args *args)
{
	se_ = fuse_session_new(args, &fuse_ops(), sizeof(fuse_lowlevel_ops),
			       &fs_);
	return se_ != nullptr;
}

int FuseFrontend::mount(const char *mountpoint)
{
	if (fuse_set_signal_handlers(se_))
		return -EIO;
	signals_ = true;
	// The kernel offers io_uring in INIT, which the mount sends.
	bool uring = false;
	if (fs_.opts.uring) {
		std::string msg, note;
		uring = uring::enable(&msg, &note) == 0;
		if (uring ? !note.empty() : !msg.empty())
			std::fprintf(stderr, "zufuse: %s\n",
				     (uring ? note : msg).c_str());
	}
	// Canonical before the mount: afterwards the path leads into it.
	char *real = realpath(mountpoint, nullptr);
	std::string canonical = real ? real : mountpoint;
	free(real);
	if (fuse_session_mount(se_, mountpoint))
		return -EIO;
	mounted_ = true;
	if (int err = wire::install(se_); err) {
		zuf_err("custom fuse i/o: %s (killpriv_v2 and io_uring off)",
			strerror(-err));
		uring = false;
	}
	if (uring)
		start_uring();
	std::string why;
	control_ = ControlThread::start(canonical, *fs_.vfs, &why);
	if (!control_)
		std::fprintf(stderr, "zufuse: no control socket (%s): zufusectl "
				     "cannot reach this mount\n",
			     why.c_str());
	return 0;
}

// Set the rings up before the loop answers INIT, so that INIT asks for
// io_uring only if they are there.
void FuseFrontend::start_uring()
{
	std::string err;
	rings_ = uring::Rings::create(se_, &err);
	if (!rings_) {
		std::fprintf(stderr, "zufuse: %s\n", err.c_str());
		return;
	}
	wire::want_uring([rings = rings_.get()] { rings->start(); });
}

int FuseFrontend::loop(bool single_thread)
{
	int ret;

	notifier_.start(se_);
	if (single_thread) {
		ret = fuse_session_loop(se_);
	} else {
		fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (fs_.opts.max_threads)
			fuse_loop_cfg_set_max_threads(cfg,
						      fs_.opts.max_threads);
		ret = fuse_session_loop_mt(se_, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	notifier_.stop();
	return ret;
}

void FuseFrontend::unmount()
{
	control_.reset(); // before the Vfs goes: it asks the server
	if (mounted_)
		fuse_session_unmount(se_);
	mounted_ = false;
	// The connection is gone: the ring threads see their entries fail.
	wire::want_uring(nullptr);
	rings_.reset();
}

} // namespace zuf
