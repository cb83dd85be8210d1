// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_internal.h - private to the Vfs's files (vfs.cc: mount and the super
// block; vfs_namei.cc, vfs_inode.cc, vfs_dir.cc, vfs_file.cc, vfs_xattr.cc,
// vfs_flags.cc): the helpers they share.
#ifndef ZUF_VFS_INTERNAL_H
#define ZUF_VFS_INTERNAL_H

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

#include "kernel_shim/vfs.h"

namespace zuf {

// dev_t <-> the 32-bit i_rdev (the kernel's new_encode_dev).
inline uint32_t encode_dev(dev_t dev)
{
	unsigned maj = major(dev), mnr = minor(dev);
	return (mnr & 0xff) | (maj << 8) | ((mnr & ~0xffU) << 12);
}

inline dev_t decode_dev(uint32_t dev)
{
	return makedev((dev & 0xfff00) >> 8,
		       (dev & 0xff) | ((dev >> 12) & 0xfff00));
}

// zus_inode times are signed (before 1970 is negative), as timespec is;
// tv_nsec stays in [0, 1e9) as the kernel keeps it.
inline timespec ns_to_ts(uint64_t stored)
{
	int64_t ns = int64_t(stored);
	int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
	if (rem < 0) {
		rem += 1000000000LL;
		--sec;
	}
	return { time_t(sec), long(rem) };
}

// Names are 1..ZUFS_NAME_LEN bytes, no '/' or NUL, not "." or "..".
inline int check_name(std::string_view name)
{
	if (name.size() > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	if (name.empty() || name == "." || name == ".." ||
	    name.find_first_of(std::string_view("/\0", 2)) !=
		    std::string_view::npos)
		return -EINVAL;
	return 0;
}

inline void set_str(zufs_str *str, std::string_view name)
{
	str->len = name.size();
	std::memcpy(str->name, name.data(), name.size());
}

// A stable snapshot of what the server may be changing right now.
inline zus_inode snapshot(const zus_inode *zi)
{
	zus_inode z;
	std::memcpy(&z, zi, sizeof(z));
	return z;
}

inline mode_t mode_of(const Inode *inode)
{
	return __atomic_load_n(&inode->zi->i_mode, __ATOMIC_RELAXED);
}

inline void fill_stat(const zus_inode *zi, struct stat *st)
{
	zus_inode z = snapshot(zi);

	*st = {};
	st->st_ino = z.i_ino;
	st->st_mode = z.i_mode;
	st->st_nlink = z.i_nlink;
	st->st_uid = z.i_uid;
	st->st_gid = z.i_gid;
	if (S_ISCHR(z.i_mode) || S_ISBLK(z.i_mode))
		st->st_rdev = decode_dev(z.i_rdev);
	st->st_size = z.i_size;
	st->st_blocks = z.i_blocks;
	st->st_blksize = PAGE_SIZE;
	st->st_atim = ns_to_ts(z.i_atime);
	st->st_mtim = ns_to_ts(z.i_mtime);
	st->st_ctim = ns_to_ts(z.i_ctime);
}

// One page that travels with a READDIR (entries) or a NEW_INODE (the
// symlink target); per thread.
struct alignas(PAGE_SIZE) Page {
	std::byte b[PAGE_SIZE];
};

inline thread_local Page t_page;

} // namespace zuf

#endif // ZUF_VFS_INTERNAL_H
