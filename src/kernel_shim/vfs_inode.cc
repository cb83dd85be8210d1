// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_inode.cc - an inode's attributes on the Vfs (zuf's inode.c):
// forget, getattr, setattr, the suid/sgid/capability kill of a write.
#include "kernel_shim/vfs.h"

#include <dirent.h>
#include <fcntl.h>
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

void Vfs::forget(uint64_t ino, uint64_t nlookup)
{
	cache_.forget(ino, nlookup);
}

int Vfs::getattr(uint64_t ino, struct stat *out)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	fill_stat(inode->zi, out);
	return 0;
}

int Vfs::setattr(uint64_t ino, const SetAttr &attr, struct stat *out)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	mode_t mode = mode_of(inode.get());

	if (attr.mask) {
		if (opts_.read_only)
			return -EROFS;
		if ((attr.mask & STATX_SIZE) && S_ISDIR(mode))
			return -EISDIR;
		if ((attr.mask & STATX_SIZE) && !S_ISREG(mode))
			return -EINVAL;
		// notify_change: an immutable or append-only inode keeps its
		// mode, owner, size and times; only "now" (utimes(NULL)) may
		// touch an append-only one.
		const uint16_t zf = zi_flags(inode.get());
		if ((zf & (ZUFS_S_IMMUTABLE | ZUFS_S_APPEND)) &&
		    ((attr.mask &
		      (STATX_MODE | STATX_UID | STATX_GID | STATX_SIZE)) ||
		     ((attr.mask & (STATX_ATIME | STATX_MTIME)) &&
		      (!attr.touch || (zf & ZUFS_S_IMMUTABLE)))))
			return -EPERM;

		zufs_ioc_attr ioc = {};
		ioc.hdr.operation = ZUFS_OP_SETATTR;
		ioc.zus_ii = inode->zus_ii;
		ioc.zuf_attr = attr.mask;
		ioc.size = attr.size;
		ioc.atime = attr.atime_ns;
		ioc.mtime = attr.mtime_ns;
		ioc.mode = (mode & S_IFMT) | (attr.mode & 07777);
		ioc.uid = attr.uid;
		ioc.gid = attr.gid;
		int err = call(&ioc.hdr, sizeof(ioc));
		if (err)
			return err;

		uint64_t off = ioc.unmap_offset, len = ioc.unmap_len;
		if (len && inval_) {
			if (len == ~0ULL)
				len = 0; // to EOF
			else if (off + len < off)
				return -EIO;
			inval_->invalidate(ino, off, len);
		}
	}
	fill_stat(inode->zi, out);
	return 0;
}

int Vfs::remove_privs(uint64_t ino, bool kill_suidgid)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	mode_t mode = mode_of(inode.get());
	if (S_ISDIR(mode) || opts_.read_only)
		return 0;
	if (kill_suidgid) {
		mode_t kill = mode & S_ISUID;
		if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
			kill |= S_ISGID;
		if (kill) {
			SetAttr a;
			a.mask = STATX_MODE;
			a.mode = mode & 07777 & ~kill;
			struct stat st;
			if (int err = setattr(ino, a, &st); err)
				return err;
		}
	}
	// i_xattr is 0 while the inode has no extended attribute at all: the
	// common case costs no call.
	if (!__atomic_load_n(&inode->zi->i_xattr, __ATOMIC_RELAXED))
		return 0;
	ssize_t n = getxattr(ino, "security.capability", {});
	if (n == -ENODATA)
		return 0;
	if (n < 0)
		return static_cast<int>(n);
	int err = removexattr(ino, "security.capability");
	return err == -ENODATA ? 0 : err;
}

bool Vfs::inode_size(uint64_t ino, uint64_t *i_size)
{
	Pin inode(cache_, ino);
	if (!inode)
		return false;
	*i_size = __atomic_load_n(&inode->zi->i_size, __ATOMIC_ACQUIRE);
	return true;
}

} // namespace zuf
