// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_flags.cc - what an inode keeps beyond stat: chattr/lsattr flags
// (FS_IOC_GETFLAGS/SETFLAGS, kept in zus_inode.i_flags, inode_flags.h, set
// with SETATTR(ZUFS_STATX_FLAGS)), their FS_IOC_FSGETXATTR/FSSETXATTR form
// with the project id and extent size hint (zus_inode.i_x, set with
// SETATTR(ZUFS_STATX_FSX)), and the birth time (i_x.i_btime).
#include <linux/fs.h>
#include <sys/stat.h>

#include <cstring>
#include <vector>

#include "kernel_shim/inode_flags.h"
#include "kernel_shim/vfs.h"
#include "zufs/channel.h"

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
	{ FS_PROJINHERIT_FL, FS_XFLAG_PROJINHERIT, ZUFS_S_PROJINHERIT, true },
};

// i_x of a snapshot: zeros for an inode without it.
struct InodeExt {
	uint32_t projid = 0;
	uint32_t extsize = 0;
	int64_t btime = 0; // ns; 0: none
};
InodeExt ext_of(const Inode *inode)
{
	zus_inode z;
	std::memcpy(&z, inode->zi, sizeof(z));
	InodeExt x;
	if (!(z.i_flags & ZUFS_ZI_EXT))
		return x;
	if (!S_ISLNK(z.i_mode)) {
		x.projid = z.i_x.i_projid;
		x.extsize = z.i_x.i_extsize;
	}
	x.btime = int64_t(z.i_x.i_btime);
	return x;
}

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

int Vfs::remount(const std::string &o, bool ro, std::string *errmsg)
{
	if (!mounted_)
		return -EINVAL;
	size_t size = sizeof(zufs_ioc_mount) + o.size() + 1;
	if (size > UINT16_MAX) {
		*errmsg = "mount options too long";
		return -EINVAL;
	}
	std::vector<uint64_t> buf((size + 7) / 8);
	auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());
	m->hdr.operation = ZUFS_M_REMOUNT;
	m->hdr.in_len = uint16_t(size);
	m->hdr.out_max = uint16_t(size);
	m->zmi.zus_sbi = sbi_;
	m->zmi.remount_flags = ro ? MS_RDONLY : 0;
	m->zmi.po.mount_flags = ro ? MS_RDONLY : 0;
	m->zmi.po.mount_options_len = uint32_t(o.size());
	std::memcpy(m->zmi.po.mount_options, o.c_str(), o.size() + 1);
	int err = channel_.mount(*m);
	if (!err)
		err = m->hdr.err;
	if (err) {
		*errmsg = std::string(m->errmsg,
				      strnlen(m->errmsg, sizeof(m->errmsg)));
		if (errmsg->empty())
			*errmsg = std::strerror(-err);
		return err;
	}
	opts_.read_only = ro;
	return 0;
}

int Vfs::btime(uint64_t ino, struct timespec *out)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	const int64_t ns = ext_of(inode.get()).btime;
	if (!ns)
		return -ENODATA;
	// Floor division: a time before 1970 has tv_nsec in [0, 1e9) too.
	out->tv_sec = ns / 1000000000;
	out->tv_nsec = ns % 1000000000;
	if (out->tv_nsec < 0) {
		out->tv_nsec += 1000000000;
		--out->tv_sec;
	}
	return 0;
}

// As xfs: the extent size hint shows as FS_XFLAG_EXTSIZE on a file and
// FS_XFLAG_EXTSZINHERIT on a directory (what it passes on).
int Vfs::fsgetxattr(uint64_t ino, struct fsxattr *fa)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	uint16_t zi = zi_flags(inode.get());
	const InodeExt x = ext_of(inode.get());
	*fa = {};
	for (const FlagName &f : kFlags)
		if (zi & f.zi)
			fa->fsx_xflags |= f.xflag;
	fa->fsx_projid = x.projid;
	fa->fsx_extsize = x.extsize;
	if (x.extsize)
		fa->fsx_xflags |= S_ISDIR(inode_mode(inode.get())) ?
					  FS_XFLAG_EXTSZINHERIT :
					  FS_XFLAG_EXTSIZE;
	return 0;
}

// FS_IOC_FSSETXATTR: the xflags that are chattr flags, the project id and
// the extent size hint (a multiple of the block size; a hint only: the
// allocator does not use it). Any other xflag, or a CoW extent size, is
// -EOPNOTSUPP. The kernel has checked the caller and the xflags' file
// types (fileattr_set_prepare) and cleared EXTSIZE/EXTSZINHERIT with a
// zero extsize.
int Vfs::fssetxattr(uint64_t ino, const struct fsxattr &fa)
{
	uint32_t fs = 0, x = fa.fsx_xflags;
	for (const FlagName &f : kFlags)
		if (f.xflag && (x & f.xflag)) {
			fs |= f.fs;
			x &= ~f.xflag;
		}
	const bool hint = x & (FS_XFLAG_EXTSIZE | FS_XFLAG_EXTSZINHERIT);
	x &= ~(FS_XFLAG_EXTSIZE | FS_XFLAG_EXTSZINHERIT);
	if (x || fa.fsx_cowextsize)
		return -EOPNOTSUPP;
	const uint32_t extsize = hint ? fa.fsx_extsize : 0;
	if (extsize % PAGE_SIZE)
		return -EINVAL;
	// The flags that have no xflag (dirsync, topdir) stay as they are.
	uint32_t keep;
	if (int err = getflags(ino, &keep))
		return err;
	fs |= keep & (FS_DIRSYNC_FL | FS_TOPDIR_FL);

	// The project id and hint first: an immutable inode keeps them
	// (checked before this call may set immutable).
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	const InodeExt have = ext_of(inode.get());
	if (have.projid != fa.fsx_projid || have.extsize != extsize) {
		if (S_ISLNK(inode_mode(inode.get())))
			return -EOPNOTSUPP;
		if (opts_.read_only)
			return -EROFS;
		if (is_immutable(inode.get()))
			return -EPERM;
		zufs_ioc_attr ioc = {};
		ioc.hdr.operation = ZUFS_OP_SETATTR;
		ioc.zus_ii = inode->zus_ii;
		ioc.zuf_attr = ZUFS_STATX_FSX | STATX_CTIME;
		ioc.projid = fa.fsx_projid;
		ioc.extsize = extsize;
		if (int err = call(&ioc.hdr, sizeof(ioc)))
			return err;
	}
	return setflags(ino, fs);
}

} // namespace zuf
