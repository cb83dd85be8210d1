/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zus_api.h - the ZUFS ABI as a zus file system (a plugin) sees it.
 *
 * The ABI is defined once, in zufs/zus_api.h (next to this directory): the
 * inode, the message header, zufs_ioc_IO, the iomap encoding, readdir
 * records and every message whose layout zufuse shares with the seed.
 * This header includes it and adds what only a plugin of the seed's time
 * uses: the register/mount/pmem messages of zus-vfs.c, the seed's shapes of
 * the messages zufuse's shim sends differently (SETATTR, GET_SYMLINK, the
 * xattr ops: the plugin host translates them), zufs_ioc_range, fiemap and
 * the readdir iterator. Layouts are pinned at the end.
 *
 * ZUS_SEED_TAG(name): a plugin leaves it alone and gets the seed's names
 * ("struct zufs_ioc_attr"). zufuse's plugin host, which sees both shapes
 * in one translation unit, defines it before including this file to name
 * the seed's shapes apart (zus_seed_zufs_ioc_attr).
 *
 * Valid C (gnu11) and C++; include <sys/statfs.h> only after this file (as
 * the seed's header demanded): statfs64 is part of ZUFS_OP_STATFS.
 */
#ifndef ZUS_SDK_ZUS_API_H
#define ZUS_SDK_ZUS_API_H

#ifndef ZUS_SEED_TAG
#define ZUS_SEED_TAG(name) name
#define ZUS_PLUGIN_SDK 1 /* zufs/zus_api.h: leave out zufuse's shapes */
#endif

#if !defined(__USE_LARGEFILE64)
#if defined(_SYS_STATFS_H)
#error "include <sys/statfs.h> after zus_api.h (ZUFS_OP_STATFS needs statfs64)"
#endif
#define __USE_LARGEFILE64 1
#endif
#include <sys/statfs.h>

#include <linux/fiemap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* The seed's page constants (int, as zus's own builds had them). */
#ifndef PAGE_SHIFT
#define PAGE_SHIFT 12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE (1 << PAGE_SHIFT)
#endif

#include "../zufs/zus_api.h"
#include "md_def.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An on-media version is major * ZUFS_MINORS_PER_MAJOR + minor. */
#define ZUFS_MINORS_PER_MAJOR 1024

/* All device sizes and offsets are multiples of 2 MiB. */
#define ZUFS_ALLOC_MASK (1024 * 1024 * 2 - 1)

#define ZUFS_STATX_VERSION 0x40000000U

/* ~~~ register (zus_register_one) ~~~ */
struct register_fs_info {
	char fsname[16]; /* the name zufuse --fs= and mount -t know */
	__u32 FS_magic;	 /* md_dev_table.s_magic of this file system */
	__u32 FS_ver_major; /* on media; see md_dev_table.s_version */
	__u32 FS_ver_minor;

	__u8 notused[3];
	__u64 dt_offset; /* where the md_dev_table is (0 only, here) */

	__u32 s_time_gran;
	__u32 def_mode;
	__u64 s_maxbytes;
};

struct zufs_ioc_register_fs {
	struct zufs_ioc_hdr hdr;
	struct zus_fs_info *zus_zfi;
	struct register_fs_info rfi;
};

/* ~~~ pmem (zuf's GRAB_PMEM) ~~~ */
struct zufs_ioc_pmem {
	struct zufs_ioc_hdr hdr;
	__u32 pmem_kern_id; /* non-zero: the device zuf mounted */

	/* the device table as read (and checked) at mount */
	struct md_dev_table mdt;
	__u32 dev_index;
	__u32 ___pad;
};

/* ~~~ mount (sbi_init, sbi_remount) ~~~ */
enum e_remount_flags {
	ZUFS_REM_WAS_RO = 0x00000001,
	ZUFS_REM_WILL_RO = 0x00000002,
};

struct ZUS_SEED_TAG(zufs_mount_info) {
	/* IN */
	struct zus_fs_info *zus_zfi;
	__u16 num_cpu;
	__u16 num_channels;
	__u32 pmem_kern_id;
	__u64 sb_id;

	/* OUT (sbi_init fills zus_sbi, zus_ii, s_blocksize_bits, acl_on) */
	struct zus_sb_info *zus_sbi;
	struct zus_inode_info *zus_ii; /* the root */
	zu_dpp_t _zi;
	__u64 old_mount_opt;
	__u64 remount_flags;

	__u32 s_blocksize_bits;
	__u8 acl_on;

	/* IN - mount options "key=value,...", var len, must be last */
	struct zufs_parse_options po;
};

struct zufs_ddbg_info {
	__u64 id;
	__u64 len;
	char msg[0];
};

struct ZUS_SEED_TAG(zufs_ioc_mount) {
	struct zufs_ioc_hdr hdr;
	union {
		struct ZUS_SEED_TAG(zufs_mount_info) zmi;
		struct zufs_ddbg_info zdi;
	};
};

struct zufs_ioc_numa_map {
	struct zufs_ioc_hdr hdr;

	__u32 possible_nodes;
	__u32 possible_cpus;
	__u32 online_nodes;
	__u32 online_cpus;

	__u32 max_cpu_per_node;
	bool nodes_not_symmetrical;

	__u8 cpu_to_node[]; /* online_cpus entries */
};

/* ~~~ the seed's shapes of messages zufuse's shim sends differently ~~~ */

/* ZUFS_OP_GET_SYMLINK: the host calls zii->op->get_symlink() and fills
 * _link (an offset in pmem) from its answer. */
struct ZUS_SEED_TAG(zufs_ioc_get_link) {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	zu_dpp_t _link;
};

/* ZUFS_OP_SETATTR: zuf wrote the new values into the zus_inode before the
 * call; setattr(zii, zuf_attr, truncate_size) makes them durable. */
struct ZUS_SEED_TAG(zufs_ioc_attr) {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	__u64 truncate_size;
	__u32 zuf_attr; /* STATX_* */
	__u32 pad;
};

enum ZUFS_RANGE_FLAGS {
	ZUFS_RF_DONTNEED = 0x00000001,
};

/* ZUFS_OP_SYNC (opflags: ZUFS_SF_*), ZUFS_OP_FALLOCATE (opflags: the
 * fallocate(2) mode) */
struct zufs_ioc_range {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	__u64 offset, length;
	__u32 opflags;
	__u32 ioc_flags;

	/* OUT */
	__u64 write_unmapped;
};

/* ZUFS_OP_IOCTL (zufuse does not send it) */
struct zufs_ioc_ioctl {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	__u32 cmd;
	__u64 time;

	union {
		__u32 new_size;
		char arg[0];
	};
};

/* ZUFS_OP_XATTR_GET / _SET / _LIST. buf holds the full name ("user.x")
 * with its NUL (name_len counts it), then for SET the value
 * (user_buf_size bytes; ZUFS_XATTR_SET_EMPTY: an empty value; neither:
 * remove). GET/LIST answer into buf and set user_buf_size to the size
 * (user_buf_size 0 on the way in: only the size is asked). */
#define ZUFS_XATTR_SET_EMPTY (1 << 0)
#define ZUFS_XATTR_TRUSTED (1 << 1)

struct ZUS_SEED_TAG(zufs_ioc_xattr) {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	__u32 flags; /* XATTR_CREATE / XATTR_REPLACE */
	__u32 type;  /* ZUFS_XF_* */
	__u16 name_len;
	__u16 ioc_flags;

	/* OUT */
	__u32 user_buf_size;
	char buf[0];
} __packed;

/* ZUFS_OP_FIEMAP (zufuse does not send it) */
struct zufs_ioc_fiemap {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;
	__u64 start;
	__u64 length;
	__u32 flags;
	__u32 extents_max;

	/* OUT */
	__u32 extents_mapped;
	__u32 pad;
};

struct zufs_fiemap_extent_info {
	struct fiemap_extent *fi_extents_start;
	__u32 fi_flags;
	__u32 fi_extents_mapped;
	__u32 fi_extents_max;
	__u32 __pad;
};

/* Add one extent; 1 when the array is full or this was the last. */
static inline int
zufs_fiemap_fill_next_extent(struct zufs_fiemap_extent_info *fei,
			     __u64 logical, __u64 phys, __u64 len, __u32 flags)
{
	struct fiemap_extent *fe;

	if (!fei->fi_extents_max) { /* counting only */
		fei->fi_extents_mapped++;
		return (flags & FIEMAP_EXTENT_LAST) ? 1 : 0;
	}
	if (fei->fi_extents_mapped >= fei->fi_extents_max)
		return 1;

	fe = fei->fi_extents_start + fei->fi_extents_mapped;
	memset(fe, 0, sizeof(*fe));
	fe->fe_logical = logical;
	fe->fe_physical = phys;
	fe->fe_length = len;
	fe->fe_flags = flags;
	if (++fei->fi_extents_mapped == fei->fi_extents_max)
		return 1;
	return (flags & FIEMAP_EXTENT_LAST) ? 1 : 0;
}

/* ~~~ readdir: a plugin fills [app_ptr, app_ptr + hdr.len) with
 * zufs_dir_entry records, each with the position of that entry (the one a
 * later READDIR starts at to see it again), and sets zir->pos to where the
 * next READDIR continues and zir->more. ~~~ */
struct zufs_readdir_iter {
	void *__zde, *last;
	struct zufs_ioc_readdir *ioc_readdir;
};

static inline void zufs_readdir_iter_init(struct zufs_readdir_iter *rdi,
					  struct zufs_ioc_readdir *ioc_readdir,
					  void *app_ptr)
{
	rdi->__zde = app_ptr;
	rdi->last = (char *)app_ptr + ioc_readdir->hdr.len;
	rdi->ioc_readdir = ioc_readdir;
	ioc_readdir->more = false;
}

/* The record at the cursor, the cursor moved past it; NULL at the end. */
static inline struct zufs_dir_entry *
zufs_next_zde(struct zufs_readdir_iter *rdi)
{
	struct zufs_dir_entry *zde = (struct zufs_dir_entry *)rdi->__zde;
	char *cur = (char *)rdi->__zde;
	unsigned len;

	if ((char *)rdi->last <= cur + E_ZDE_HDR_SIZE)
		return NULL;
	if (zde->zstr.len == 0)
		return NULL;
	len = zufs_dir_entry_len(zde->zstr.len);
	if ((char *)rdi->last < cur + len)
		return NULL;
	rdi->__zde = cur + len;
	return zde;
}

/* Emit one entry; false (and ->more set) when it does not fit. */
static inline bool zufs_zde_emit(struct zufs_readdir_iter *rdi, __u64 ino,
				 __u8 type, __u64 pos, const char *name,
				 __u8 len)
{
	struct zufs_dir_entry *zde = (struct zufs_dir_entry *)rdi->__zde;
	char *cur = (char *)rdi->__zde;

	if ((char *)rdi->last < cur + zufs_dir_entry_len(len)) {
		rdi->ioc_readdir->more = true;
		return false;
	}
	rdi->ioc_readdir->more = false;
	zde->ino = ino;
	zde->type = type;
	zde->pos = pos;
	memcpy(zde->zstr.name, name, len);
	zde->zstr.len = len;
	rdi->__zde = cur + zufs_dir_entry_len(len);
	return true;
}

#ifdef __cplusplus
} /* extern "C" */
#define ZUS_SDK_ASSERT(e) static_assert(e, #e)
#else
#define ZUS_SDK_ASSERT(e) _Static_assert(e, #e)
#endif

/* The plugin view: the seed's layouts (RFC v2, Feb 2019; zus efda388). */
ZUS_SDK_ASSERT(sizeof(struct zus_inode) == ZUFS_INODE_SIZE);
ZUS_SDK_ASSERT(sizeof(struct zufs_ioc_hdr) == 24);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_IO, last_pos) == 72);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_IO, ziom) == 80);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_new_inode, zi) == 24);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_new_inode, dir_ii) == 152);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_new_inode, flags) == 416);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_new_inode, zus_ii) == 432);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_readdir, more) == 40);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_rename, time) == 568);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_seek, offset_out) == 48);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_clone, len) == 56);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_statfs, statfs_out) == 32);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_mount_info), sb_id) == 16);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_mount_info), _zi) == 40);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_mount_info), acl_on) == 68);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_ioc_attr), zuf_attr) == 40);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_ioc_get_link), _link) == 32);
ZUS_SDK_ASSERT(offsetof(struct ZUS_SEED_TAG(zufs_ioc_xattr), buf) == 48);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_range, write_unmapped) == 56);
ZUS_SDK_ASSERT(offsetof(struct zufs_ioc_pmem, mdt) == 64);

#endif /* ZUS_SDK_ZUS_API_H */
