// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_handlers.h - private to the FUSE handlers (fuse_namei.cc,
// fuse_file.cc, fuse_dir.cc, fuse_xattr.cc; the session and INIT are
// fuse_frontend.cc): thin adapters over the Vfs, each replying exactly once
// on every path, and the helpers they share. Each file adds its handlers to
// the op table (fuse_ops(), fuse_frontend.h).
//
// Not handled on purpose: getlk/setlk/flock (without handlers the kernel
// keeps POSIX and flock locks itself, which is exact for one mount) and
// access (default_permissions: the kernel checks permissions itself).
#ifndef ZUF_FUSE_HANDLERS_H
#define ZUF_FUSE_HANDLERS_H

#include <fuse_lowlevel.h>

#include <linux/fs.h>

#include "kernel_shim/fuse_frontend.h"

namespace zuf {

using Scope = FuseNotifier::RequestScope;

inline FuseFs &fs(fuse_req_t req)
{
	return *static_cast<FuseFs *>(fuse_req_userdata(req));
}

inline File &file_of(const fuse_file_info *fi)
{
	return *reinterpret_cast<File *>(fi->fh);
}

inline fuse_entry_param entry_param(const FuseFs &f, const Entry &e)
{
	fuse_entry_param p = {};
	p.ino = e.ino;
	p.generation = e.generation;
	p.attr = e.attr;
	p.attr_timeout = f.opts.timeout;
	p.entry_timeout = f.opts.timeout;
	return p;
}

inline void reply_entry(fuse_req_t req, const Entry &e)
{
	FuseFs &f = fs(req);
	fuse_entry_param p = entry_param(f, e);
	// The kernel did not take the reference if the reply did not arrive.
	if (fuse_reply_entry(req, &p))
		f.vfs->forget(e.ino, 1);
}

// -o dirsync (and sync): a namespace change is durable before the reply,
// as the kernel's IS_DIRSYNC file systems do it. err: the change's result.
// chattr +D on the directory does the same for it.
inline int dirsync(fuse_req_t req, int err, fuse_ino_t dir, fuse_ino_t dir2 = 0)
{
	FuseFs &f = fs(req);
	if (err)
		return err;
	uint32_t fl = 0, fl2 = 0;
	if (!f.vfs->dirsync_mount() &&
	    (f.vfs->getflags(dir, &fl) || !(fl & FS_DIRSYNC_FL)) &&
	    (!dir2 || f.vfs->getflags(dir2, &fl2) || !(fl2 & FS_DIRSYNC_FL)))
		return 0;
	err = f.vfs->fsync(dir, false);
	if (!err && dir2 && dir2 != dir)
		err = f.vfs->fsync(dir2, false);
	return err;
}

// -o sync, or chattr +S on the inode: its change (SETATTR, xattrs,
// FALLOCATE) is durable at return, as ext4 makes every operation on an
// IS_SYNC inode. A commit on an image on a disk file; on pmem the change
// already is.
inline int inode_sync(fuse_req_t req, int err, fuse_ino_t ino)
{
	FuseFs &f = fs(req);
	if (err)
		return err;
	uint32_t fl = 0;
	if (!f.vfs->sync_mount() &&
	    (f.vfs->getflags(ino, &fl) || !(fl & FS_SYNC_FL)))
		return 0;
	return f.vfs->fsync(ino, false);
}

// dirsync() of a call that made entry e in dir: when the sync fails, the
// lookup reference e holds is dropped (no reply hands it to the kernel).
inline int dirsync_new(fuse_req_t req, int err, fuse_ino_t dir, const Entry &e)
{
	int serr = dirsync(req, err, dir);
	if (serr && !err)
		fs(req).vfs->forget(e.ino, 1);
	return serr;
}

// The reply of mknod, mkdir, symlink and link: e, once durable as dirsync
// wants it, or the error.
inline void reply_new_entry(fuse_req_t req, int err, fuse_ino_t dir,
			    const Entry &e)
{
	if (int serr = dirsync_new(req, err, dir, e))
		return (void)fuse_reply_err(req, -serr);
	reply_entry(req, e);
}

void add_namei_ops(fuse_lowlevel_ops &ops); // fuse_namei.cc
void add_file_ops(fuse_lowlevel_ops &ops);  // fuse_file.cc
void add_dir_ops(fuse_lowlevel_ops &ops);   // fuse_dir.cc
void add_xattr_ops(fuse_lowlevel_ops &ops); // fuse_xattr.cc

} // namespace zuf

#endif // ZUF_FUSE_HANDLERS_H
