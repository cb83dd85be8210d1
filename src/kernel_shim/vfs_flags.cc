// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_flags.cc - chattr/lsattr: FS_IOC_GETFLAGS/SETFLAGS and their
// FS_IOC_FSGETXATTR/FSSETXATTR form, kept in zus_inode.i_flags
// (inode_flags.h) and set with SETATTR(ZUFS_STATX_FLAGS).
#include <linux/fs.h>
#include <sys/stat.h>

#include "kernel_shim/inode_flags.h"
#include "kernel_shim/vfs.h"

namespace zuf {

namespace {

struct FlagName {
	uint32_t fs;	// FS_*_FL
	uint32_t xflag; // FS_XFLAG_* (0: none)
	uint16_t zi;	// ZUFS_S_*
	bool dir_only;
};
constexpr FlagName kFlags[] = {
	{ FS_SYNC_FL, FS_XFLAG_SYNC, ZUFS_S_SYNC, false },
	{ FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE, ZUFS_S_IMMUTABLE, false },
	{ FS_APPEND_FL, FS_XFLAG_APPEND, ZUFS_S_APPEND, false },
	{ FS_NODUMP_FL, FS_XFLAG_NODUMP, ZUFS_S_NODUMP, false },
	{ FS_NOATIME_FL, FS_XFLAG_NOATIME, ZUFS_S_NOATIME, false },
	{ FS_DIRSYNC_FL, 0, ZUFS_S_DIRSYNC, true },
	{ FS_TOPDIR_FL, 0, ZUFS_S_TOPDIR, true },
	{ FS_SECRM_FL, 0, ZUFS_S_SECRM, false },
	{ FS_UNRM_FL, 0, ZUFS_S_UNRM, false },
	{ FS_COMPR_FL, 0, ZUFS_S_COMPR, false },
};

} // namespace

uint32_t fs_flags_of(uint16_t zi)
{
	uint32_t fs = 0;
	for (const FlagName &f : kFlags)
		if (zi & f.zi)
			fs |= f.fs;
	return fs;
}

int zi_flags_of(uint32_t fs, mode_t mode, uint16_t *zi)
{
	*zi = 0;
	for (const FlagName &f : kFlags) {
		if (!(fs & f.fs))
			continue;
		fs &= ~f.fs;
		if (!f.dir_only || S_ISDIR(mode))
			*zi |= f.zi;
	}
	return fs ? -EOPNOTSUPP : 0;
}

int Vfs::getflags(uint64_t ino, uint32_t *fs_flags)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	*fs_flags = fs_flags_of(zi_flags(inode.get()));
	return 0;
}

// The kernel has checked the caller (vfs_fileattr_set: owner or
// CAP_FOWNER; CAP_LINUX_IMMUTABLE to change i or a) before FUSE sends
// the ioctl; what remains is ext4's own rule: while immutable stays set,
// no other flag changes.
int Vfs::setflags(uint64_t ino, uint32_t fs_flags)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	uint16_t want;
	if (int err = zi_flags_of(fs_flags, inode_mode(inode.get()), &want))
		return err;
	uint16_t have = zi_flags(inode.get()) & ZUFS_S_VFS_MASK;
	if (want == have)
		return 0;
	if (opts_.read_only)
		return -EROFS;
	if ((have & want & ZUFS_S_IMMUTABLE) && (have ^ want))
		return -EPERM;

	zufs_ioc_attr ioc = {};
	ioc.hdr.operation = ZUFS_OP_SETATTR;
	ioc.zus_ii = inode->zus_ii;
	ioc.zuf_attr = ZUFS_STATX_FLAGS | STATX_CTIME;
	ioc.i_flags = want;
	return call(&ioc.hdr, sizeof(ioc));
}

int Vfs::fsgetxattr(uint64_t ino, struct fsxattr *fa)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	uint16_t zi = zi_flags(inode.get());
	*fa = {};
	for (const FlagName &f : kFlags)
		if (zi & f.zi)
			fa->fsx_xflags |= f.xflag;
	return 0;
}

// FS_IOC_FSSETXATTR: the xflags that are chattr flags; project ids and
// extent size hints are not kept (-EOPNOTSUPP unless 0), so a project
// quota tool learns it at once.
int Vfs::fssetxattr(uint64_t ino, const struct fsxattr &fa)
{
	uint32_t fs = 0, x = fa.fsx_xflags;
	for (const FlagName &f : kFlags)
		if (f.xflag && (x & f.xflag)) {
			fs |= f.fs;
			x &= ~f.xflag;
		}
	if (x || fa.fsx_projid || fa.fsx_extsize || fa.fsx_cowextsize)
		return -EOPNOTSUPP;
	// The flags that have no xflag (dirsync, topdir) stay as they are.
	uint32_t keep;
	if (int err = getflags(ino, &keep))
		return err;
	return setflags(ino, fs | (keep & (FS_DIRSYNC_FL | FS_TOPDIR_FL)));
}

} // namespace zuf
