// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_dir.cc - FUSE handlers of directories (zuf's directory.c): opendir,
// readdir, readdirplus, releasedir, fsyncdir.
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

} // namespace

void add_dir_ops(fuse_lowlevel_ops &ops)
{
	ops.opendir = zf_opendir;
	ops.readdir = zf_readdir;
	ops.readdirplus = zf_readdirplus;
	ops.releasedir = zf_releasedir;
	ops.fsyncdir = zf_fsyncdir;
}

} // namespace zuf
