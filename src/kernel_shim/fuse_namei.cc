// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_namei.cc - FUSE handlers of names and attributes (zuf's namei.c,
// inode.c): lookup, forget, getattr, setattr, mknod, mkdir, symlink,
// readlink, link, unlink, rmdir, rename.
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

	// Each FUSE_SET_ATTR_* bit given: its STATX_* bit and its value.
	auto take = [&](int bits, uint32_t statx, auto *field, auto value) {
		if (to_set & bits) {
			a.mask |= statx;
			*field = value;
		}
	};
	// A time given, or "now".
	auto time_of = [&](int now_bit, const timespec &ts) {
		return (to_set & now_bit) ? now_ns() : ts_ns(ts);
	};
	take(FUSE_SET_ATTR_MODE, STATX_MODE, &a.mode, attr->st_mode);
	take(FUSE_SET_ATTR_UID, STATX_UID, &a.uid, attr->st_uid);
	take(FUSE_SET_ATTR_GID, STATX_GID, &a.gid, attr->st_gid);
	take(FUSE_SET_ATTR_SIZE, STATX_SIZE, &a.size, attr->st_size);
	take(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW, STATX_ATIME,
	     &a.atime_ns, time_of(FUSE_SET_ATTR_ATIME_NOW, attr->st_atim));
	take(FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW, STATX_MTIME,
	     &a.mtime_ns, time_of(FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim));
	// chown(f, -1, -1) and the like: only ctime changes (the server sets
	// ctime on every SETATTR). Without a writeback cache the kernel does
	// not say FATTR_CTIME; it sends a SETATTR with nothing else in it.
	if ((to_set & FUSE_SET_ATTR_CTIME) || !(to_set & ~FUSE_SET_ATTR_CTIME))
		a.mask |= STATX_CTIME;

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
	int err = inode_sync(req, fs(req).vfs->setattr(ino, a, &st), ino);
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
	reply_new_entry(req, err, parent, e);
}

void zf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err = fs(req).vfs->mkdir(parent, name, mode, ctx->uid, ctx->gid, &e,
				     ctx->umask);
	reply_new_entry(req, err, parent, e);
}

void zf_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	Entry e;
	int err = fs(req).vfs->symlink(parent, name, link, ctx->uid, ctx->gid,
				       &e);
	reply_new_entry(req, err, parent, e);
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
	reply_new_entry(req, err, newparent, e);
}

void zf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(
		req, -dirsync(req, fs(req).vfs->unlink(parent, name), parent));
}

void zf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req,
		       -dirsync(req, fs(req).vfs->rmdir(parent, name), parent));
}

void zf_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	int err = fs(req).vfs->rename(parent, name, newparent, newname, flags,
				      ctx->uid, ctx->gid);
	fuse_reply_err(req, -dirsync(req, err, parent, newparent));
}

} // namespace

void add_namei_ops(fuse_lowlevel_ops &ops)
{
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
}

} // namespace zuf
