/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zus_api.h - the ZUFS ABI between zuf (here: the FUSE shim in
 * src/kernel_shim) and zus (the server in src/server).
 *
 * This is zufuse's own C++-compatible port of the public ZUFS zus_api.h and of
 * the zuf patch "Write/Read implementation" (shared/seed). Numbers, encodings
 * and layouts follow those sources and are pinned by static_asserts at the end
 * of this file; everything the shim and the server exchange is described here
 * and nowhere else.
 *
 * Where zufuse needs something the kernel ABI expresses through kernel
 * objects (a mount through an ioctl, SETATTR values that zuf writes straight
 * into the zus_inode), the extension is marked "zufuse:" and keeps the ZUFS
 * message shape: a zufs_ioc_hdr-headed struct answered in place.
 *
 * Conventions of every message:
 *  - hdr.err is the answer: 0 or a negative errno (or -EZUFS_RETRY).
 *  - Pages: a message travels with an array of page descriptors (the
 *    page-aligned addresses of the pages that hold the application's bytes);
 *    hdr.offset is the offset of the data in the first page, hdr.len its
 *    length. The server reads or writes only [offset, offset + len).
 *  - Cookies (zus_sb_info *, zus_inode_info *, zus_iomap_build *) belong to
 *    the server; the shim stores and returns them but never dereferences them.
 *  - zu_dpp_t: an offset into a pool the server registered at mount (pool 0:
 *    the pmem mapping). The shim translates it only after a bounds check.
 */
#ifndef ZUFS_ZUS_API_H
#define ZUFS_ZUS_API_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statfs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZUFS_MAJOR_VERSION 1
#define ZUFS_MINOR_VERSION 0

#ifndef PAGE_SHIFT
#define PAGE_SHIFT 12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#endif

/* first available error code after include/linux/errno.h */
#define EZUFS_RETRY 531
/* private to zuf, never seen by zus (defined here to allocate the constant) */
#define EZUF_RETRY_DONE 540

#define ZUFS_LINK_MAX 32000
#define ZUFS_MAX_SYMLINK PAGE_SIZE
#define ZUFS_NAME_LEN 255
#define ZUFS_READAHEAD_PAGES 8

/* zufs dual-port pointer: low 3 bits are the pool (0 = pmem), the rest an
 * offset in that pool. */
typedef __u64 zu_dpp_t;

static inline unsigned zu_dpp_t_pool(zu_dpp_t t) { return (unsigned)(t & 0x7); }
static inline __u64 zu_dpp_t_val(zu_dpp_t t) { return t & ~(__u64)0x7; }
static inline zu_dpp_t zu_enc_dpp_t(__u64 v, unsigned pool) { return v | pool; }
static inline __u64 zu_dpp_t_bn(zu_dpp_t t) { return t >> 3; }
static inline zu_dpp_t zu_enc_dpp_t_bn(__u64 bn, unsigned pool)
{
	return zu_enc_dpp_t(bn << 3, pool);
}

/* zufuse: in an iomap, pool 7 of a zu_dpp_t names the pages of the current
 * request: zu_enc_dpp_t_bn(i, ZUFS_APP_POOL) is page i of them. Pools
 * 0..6 are the pools the server registered (0 = pmem). */
#define ZUFS_APP_POOL 7

/* zus_inode->i_flags: the VFS inode flags a file system keeps (zuf copies
 * them into the inode's S_* flags and enforces them, as the VFS does for
 * ext4). Bits 0..6 are the kernel's S_* values of the seed's time;
 * immutable has its own bit. */
#define ZUFS_S_SYNC 0x0001    /* S_SYNC: writes are synchronous */
#define ZUFS_S_NOATIME 0x0002 /* S_NOATIME */
#define ZUFS_S_APPEND 0x0004  /* S_APPEND: append-only */
#define ZUFS_S_DIRSYNC 0x0040 /* S_DIRSYNC */
#define ZUFS_S_IMMUTABLE 04000
/* zufuse: flags the kernel keeps in the file system only, for tools
 * (chattr +d, +T; +s, +u, +c: kept as ext4 keeps them, with no effect) */
#define ZUFS_S_SECRM 0x0100
#define ZUFS_S_UNRM 0x0200
#define ZUFS_S_COMPR 0x0400
#define ZUFS_S_NODUMP 0x1000
#define ZUFS_S_TOPDIR 0x2000
/* zufuse: FS_XFLAG_PROJINHERIT (a directory's new inodes take its project
 * id; its new directories the flag too) */
#define ZUFS_S_PROJINHERIT 0x0010
/* zufuse: every VFS bit; a file system may use the others for itself */
#define ZUFS_S_VFS_MASK                                                        \
	(ZUFS_S_SYNC | ZUFS_S_NOATIME | ZUFS_S_APPEND | ZUFS_S_DIRSYNC |       \
	 ZUFS_S_IMMUTABLE | ZUFS_S_SECRM | ZUFS_S_UNRM | ZUFS_S_COMPR |        \
	 ZUFS_S_NODUMP | ZUFS_S_TOPDIR | ZUFS_S_PROJINHERIT)
/* zufuse: the inode has i_x (below): a birth time, a project id and an
 * extent size hint. Set by the file system when it creates the inode;
 * inodes of older images have no birth time (as ext4's 128-byte inodes),
 * and project id / extent size hint 0 until set. */
#define ZUFS_ZI_EXT 0x0080
#define ZUFS_INODE_SIZE 128 /* must be power of two */

struct _zu_dir {
	__le64 dir_root;
	__le64 parent;
};

/* Times in a zus_inode are nanoseconds since the epoch, signed (stored in
 * the __le64 as two's complement, as zuf's timespec_to_zt does): a time
 * before 1970 is negative. Compare and divide them as __s64. */
struct zus_inode {
	__le16 i_flags;
	__le16 i_mode;
	__le32 i_nlink;
	__le64 i_size;
	/* 16 */ struct __zi_on_disk_desc {
		__le64 a[2];
	} i_on_disk; /* FS-specific on-media placement */
	/* 32 */ __le64 i_blocks;
	__le64 i_mtime;
	__le64 i_ctime;
	__le64 i_atime;
	/* 64 - cache-line boundary */
	__le64 i_ino;
	__le32 i_uid;
	__le32 i_gid;
	__le64 i_xattr;
	__le64 i_generation;
	/* 96 */ union {
		__le32 i_rdev;
		__u8 i_symlink[32]; /* if i_size < zi_inline_symlink_max() */
		__le64 i_sym_dpp;
		struct _zu_dir i_dir;
		/* zufuse, with ZUFS_ZI_EXT: the last 16 bytes, which only an
		 * inline symlink of 24 bytes or more would use (with
		 * ZUFS_ZI_EXT an inline symlink is shorter than 24 bytes).
		 * A symlink keeps no projid/extsize (no fd for the ioctl). */
		struct {
			__u8 __x_pad[16];
			__le32 i_projid;
			__le32 i_extsize; /* bytes; a directory's is inherited */
			__le64 i_btime;	  /* ns since the epoch, signed */
		} i_x;
	};
};

/* The longest symlink target kept in i_symlink, plus one. */
static inline unsigned zi_inline_symlink_max(const struct zus_inode *zi)
{
	return (zi->i_flags & ZUFS_ZI_EXT) ? 24 : 32;
}

enum {
	ZUS_API_MAP_MAX_PAGES = 1024,
	ZUS_API_MAP_MAX_SIZE = ZUS_API_MAP_MAX_PAGES * PAGE_SIZE,
};

/* zufs_ioc_hdr->flags */
enum e_zufs_hdr_flags {
	ZUFS_H_INTR = (1 << 0),
	ZUFS_H_HAS_PIGY_PUT = (1 << 1),
};

struct zufs_ioc_hdr {
	__s32 err;	 /* IN/OUT must be first */
	__u16 in_len;	 /* How much to be copied *to* zus */
	__u16 out_max;	 /* Max receive buffer at dispatch caller */
	__u16 out_start; /* Start of output parameters (to caller) */
	__u16 out_len;	 /* How much to be copied *from* zus to caller */
	__u16 operation; /* One of e_zufs_operation */
	__u16 flags;	 /* e_zufs_hdr_flags bit flags */
	__u32 offset;	 /* Start of the data in the first page */
	__u32 len;	 /* Length of the data in the pages */
};

/* Server cookies: opaque to the shim. */
struct zus_fs_info;
struct zus_sb_info;
struct zus_inode_info;
struct zus_iomap_build;

enum ZUFS_M_FLAGS {
	ZUFS_M_PEDANTIC = 0x00000001,
	ZUFS_M_EPHEMERAL = 0x00000002,
	ZUFS_M_SILENT = 0x00000004,
	ZUFS_M_PRIVATE = 0x00000008,
};

struct zufs_parse_options {
	__u64 mount_flags;
	__u32 pedantic;
	__u32 mount_options_len;
	char mount_options[]; /* "key=value,key,..." NUL terminated */
};

/* zufs_ioc_mount->hdr.operation */
enum e_mount_operation {
	ZUFS_M_MOUNT = 1,
	ZUFS_M_UMOUNT,
	ZUFS_M_REMOUNT,
	ZUFS_M_DDBG_RD,
	ZUFS_M_DDBG_WR,
};

/* zufs_mount_info->fs_caps */
enum {
	ZUFS_FSC_ACL_ON = 0x0001,
	ZUFS_FSC_NIO_READS = 0x0002,
	ZUFS_FSC_NIO_WRITES = 0x0004,
};

#ifndef ZUS_PLUGIN_SDK /* zufuse's mount; plugins see the seed's (zus/zus_api.h) */
struct zufs_mount_info {
	/* IN */
	struct zus_fs_info *zus_zfi;
	__u64 remount_flags;
	__u64 sb_id;
	__u16 num_cpu;
	__u16 num_channels;
	__u32 __pad;

	/* OUT */
	struct zus_sb_info *zus_sbi;
	/* mount is also iget of root */
	struct zus_inode_info *zus_ii;
	zu_dpp_t _zi;

	/* FS specific info */
	__u32 fs_caps;
	__u32 s_blocksize_bits;

	/* IN - mount options, var len must be last */
	struct zufs_parse_options po;
};

/*
 * zufuse: a memory pool the server shares with the shim (pool 0 is the pmem
 * mapping). On real ZUFS zuf owns the pmem and hands it to zus (GRAB_PMEM);
 * here the server maps the image, so the direction is reversed: the server
 * reports the mapping at mount and the shim bounds-checks every zu_dpp_t
 * against it. Also used for ZUSMEM ranges the server registers for iomaps.
 */
struct zufs_pool_info {
	__u64 base; /* address of the pool in this process */
	__u64 size; /* bytes */
};

enum { ZUFS_MAX_POOLS = 8 };

/*
 * zufuse: ZU_IOC_MOUNT through the channel. hdr.operation is one of
 * e_mount_operation (it travels on Channel::mount, not on dispatch, so it
 * does not collide with e_zufs_operation).
 */
struct zufs_ioc_mount {
	struct zufs_ioc_hdr hdr;
	/* OUT (zufuse): pools the shim may translate zu_dpp_t against */
	struct zufs_pool_info pools[ZUFS_MAX_POOLS];
	/* OUT (zufuse): a one-line reason when hdr.err != 0 */
	char errmsg[256];
	struct zufs_mount_info zmi; /* must be last (po is var len) */
};
#endif /* !ZUS_PLUGIN_SDK */

/* Operations sent from zuf to zus. */
enum e_zufs_operation {
	ZUFS_OP_NULL = 0,
	ZUFS_OP_BREAK = 1, /* Kernel telling Server to exit */

	ZUFS_OP_STATFS = 2,
	ZUFS_OP_SHOW_OPTIONS = 3,

	ZUFS_OP_NEW_INODE = 4,
	ZUFS_OP_FREE_INODE = 5,
	ZUFS_OP_EVICT_INODE = 6,

	ZUFS_OP_LOOKUP = 7,
	ZUFS_OP_ADD_DENTRY = 8,
	ZUFS_OP_REMOVE_DENTRY = 9,
	ZUFS_OP_RENAME = 10,
	ZUFS_OP_READDIR = 11,
	ZUFS_OP_CLONE = 12,
	ZUFS_OP_COPY = 13,

	ZUFS_OP_READ = 14,
	ZUFS_OP_PRE_READ = 15,
	ZUFS_OP_WRITE = 16,
	ZUFS_OP_MMAP_CLOSE = 17,
	ZUFS_OP_GET_SYMLINK = 18,
	ZUFS_OP_SETATTR = 19,
	ZUFS_OP_SYNC = 20,
	ZUFS_OP_FALLOCATE = 21,
	ZUFS_OP_LLSEEK = 22,
	ZUFS_OP_IOCTL = 23,
	ZUFS_OP_XATTR_GET = 24,
	ZUFS_OP_XATTR_SET = 25,
	ZUFS_OP_XATTR_LIST = 27,
	ZUFS_OP_FIEMAP = 28,

	ZUFS_OP_GET_MULTY = 29,
	ZUFS_OP_PUT_MULTY = 30,
	ZUFS_OP_NOOP = 31,
	/* The public header names ZUFS_OP_IOM_DONE (struct
	 * zufs_ioc_iomap_done) without giving it a number in the enum; zufuse
	 * places it after NOOP. */
	ZUFS_OP_IOM_DONE = 32,
	/* zufuse: the server's counters for zufusectl (struct
	 * zufs_ioc_stats, in the zufuse extensions at the end). */
	ZUFS_OP_STATS = 33,

	ZUFS_OP_MAX_OPT,
};

/* The seed's single-block GET_BLOCK/PUT_BLOCK became GET_MULTY/PUT_MULTY in
 * the later public ABI (a single block is a multy of one). */
#define ZUFS_OP_GET_BLOCK ZUFS_OP_GET_MULTY
#define ZUFS_OP_PUT_BLOCK ZUFS_OP_PUT_MULTY

#define ZUFS_MO_MAX 512

struct zufs_ioc_mount_options {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_sb_info *zus_sbi;
	/* OUT */
	char buf[];
};

/* ZUFS_OP_STATFS */
struct zufs_ioc_statfs {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_sb_info *zus_sbi;
	/* OUT */
	struct statfs64 statfs_out;
};

/* zufs_ioc_new_inode flags */
enum zi_flags {
	ZI_TMPFILE = 1,	    /* for new_inode */
	ZI_LOOKUP_RACE = 1, /* for evict */
};

struct zufs_str {
	__u8 len;
	char name[ZUFS_NAME_LEN];
};

/* ZUFS_OP_NEW_INODE: allocate an inode initialised from zi (i_mode, i_uid,
 * i_gid, i_rdev, times) and add the dentry str to dir_ii, atomically.
 * For a symlink (S_IFLNK) the target is in the pages (hdr.offset,
 * hdr.len bytes, no NUL) and becomes i_size.
 * zufuse: POSIX ACLs of the new inode (what the kernel's posix_acl_create
 * gives; the shim computes them from the parent's default ACL and i_mode
 * is already masked by it). Not for a symlink. The pages then hold
 * acl_access_len bytes of system.posix_acl_access followed by
 * acl_default_len bytes of system.posix_acl_default (posix_acl.h format;
 * 0: none), hdr.len = their sum; the server stores them in the same
 * transaction, -EOPNOTSUPP without ZUFS_FSC_ACL_ON, -EINVAL if malformed. */
struct zufs_ioc_new_inode {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode zi;
	struct zus_inode_info *dir_ii; /* If mktmp this is the root */
	struct zufs_str str;
	__u64 flags;

	/* OUT */
	zu_dpp_t _zi;
	struct zus_inode_info *zus_ii;

	/* IN (zufuse) */
	__u32 acl_access_len;
	__u32 acl_default_len;
};

/* ZUFS_OP_FREE_INODE (last reference of an inode with i_nlink == 0),
 * ZUFS_OP_EVICT_INODE (last reference, inode still linked) */
struct zufs_ioc_evict_inode {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;
	__u64 flags;
};

/* ZUFS_OP_LOOKUP: -ENOENT when there is no such name */
struct zufs_ioc_lookup {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *dir_ii;
	struct zufs_str str;

	/* OUT */
	zu_dpp_t _zi;
	struct zus_inode_info *zus_ii;
};

/* ZUFS_OP_ADD_DENTRY (link: i_nlink++), ZUFS_OP_REMOVE_DENTRY (unlink or
 * rmdir: i_nlink--, -ENOTEMPTY for a directory with entries) */
struct zufs_ioc_dentry {
	struct zufs_ioc_hdr hdr;
	struct zus_inode_info *zus_ii;	   /* IN */
	struct zus_inode_info *zus_dir_ii; /* IN */
	struct zufs_str str;		   /* IN */
	__u64 ino;			   /* OUT - only for lookup */
};

/* ZUFS_OP_RENAME: new_zus_ii is the inode the new name points to now (NULL
 * if none); it loses that name in the same atomic step. flags: RENAME_*.
 * zufuse: RENAME_WHITEOUT (not with EXCHANGE) leaves the old name pointing
 * at a new whiteout (a character device 0/0 owned by root) in that same
 * step; the shim has checked CAP_MKNOD (the kernel does). */
struct zufs_ioc_rename {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *old_dir_ii;
	struct zus_inode_info *new_dir_ii;
	struct zus_inode_info *old_zus_ii;
	struct zus_inode_info *new_zus_ii;
	struct zufs_str old_d_str;
	struct zufs_str new_d_str;
	__u64 time;
	__u64 flags;
	/* IN (zufuse): the caller's fsuid/fsgid, the owner of a whiteout
	 * (RENAME_WHITEOUT; the shim applies a setgid directory's group) */
	__u32 uid;
	__u32 gid;
};

/* ZUFS_OP_READDIR: the server fills the pages ([hdr.offset, +hdr.len)) with
 * zufs_dir_entry records starting at cookie pos; each record's pos is the
 * cookie that resumes *after* it. pos 0 is the start ("." and ".." first). */
struct zufs_ioc_readdir {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *dir_ii;
#ifdef ZUS_PLUGIN_SDK
	loff_t pos; /* the seed's type, same size */
#else
	__u64 pos;
#endif

	/* OUT */
	__u8 more;
};

struct zufs_dir_entry {
	__le64 ino;
	struct {
		__u64 type : 8; /* DT_* */
		__u64 pos : 56;
	};
	struct zufs_str zstr;
};

enum {
	E_ZDE_HDR_SIZE = offsetof(struct zufs_dir_entry, zstr) +
			 offsetof(struct zufs_str, name),
};

static inline unsigned zufs_dir_entry_len(__u8 name_len)
{
	return (E_ZDE_HDR_SIZE + name_len + 7) & ~7U;
}

/* ZUFS_OP_GET_SYMLINK: a symlink target shorter than sizeof(i_symlink)
 * lives in the zus_inode itself (i_size bytes of i_symlink); a longer one
 * (up to ZUFS_MAX_SYMLINK - 1 bytes) in pool memory the server names here.
 * The shim reads i_size bytes at _dpp after a bounds check. */
#ifndef ZUS_PLUGIN_SDK /* plugins: get_symlink() op */
struct zufs_ioc_get_link {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;

	/* OUT */
	zu_dpp_t _dpp;
};
#endif /* !ZUS_PLUGIN_SDK */

struct zufs_ioc_mmap_close {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;
	__u64 rw;
};

/* ZUFS_OP_SETATTR: zuf_attr is a mask of STATX_* bits. On ZUFS, zuf writes
 * the new values into the zus_inode itself before the call; the shim never
 * writes server memory, so zufuse carries the values in the message.
 * ZUFS_STATX_FLAGS (zuf's chattr): the ZUFS_S_VFS_MASK bits of i_flags
 * become i_flags (the shim has checked who may; ctime = now). */
#define ZUFS_STATX_FLAGS 0x20000000U
/* zufuse: projid and extsize become i_x.i_projid, i_x.i_extsize (the
 * server gives the inode ZUFS_ZI_EXT if it has none; -EOPNOTSUPP for a
 * symlink or a file system without them) */
#define ZUFS_STATX_FSX 0x10000000U
#ifndef ZUS_PLUGIN_SDK /* plugins: setattr() op */
struct zufs_ioc_attr {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;
	__u32 zuf_attr;
	__u32 pad;
	/* IN (zufuse): the new values of the fields named in zuf_attr */
	__u64 size;
	__u64 atime; /* ns */
	__u64 mtime; /* ns */
	__u64 ctime; /* ns; always set by the server when anything changes */
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 i_flags; /* zufuse: ZUFS_S_* (ZUFS_STATX_FLAGS); was padding */
	/* OUT (zufuse): range of pages whose backing changed (truncate) */
	__u64 unmap_offset;
	__u64 unmap_len; /* 0: nothing; ~0ULL: to EOF */
	/* IN (zufuse): ZUFS_STATX_FSX */
	__u32 projid;
	__u32 extsize;
};
#endif /* !ZUS_PLUGIN_SDK */

/* ZUFS_OP_SYNC */
enum ZUFS_SYNC_FLAGS {
	ZUFS_SF_DATASYNC = 0x00000001,
	ZUFS_SF_DONTNEED = 0x00000100,
};

struct zufs_ioc_sync {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii; /* NULL: the whole file system */
	__u64 offset, length;
	__u64 flags;

	/* OUT */
	__u64 write_unmapped;
};

/* ZUFS_OP_FALLOCATE (zufuse): a struct zufs_ioc_IO with
 *   IN  filepos = offset, last_pos = offset + len, flags = the fallocate(2)
 *       mode bits (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE (always with
 *       KEEP_SIZE), FALLOC_FL_ZERO_RANGE); not ZUFS_IO_* here.
 *   OUT wr_unmap = the pages whose backing changed (punched or zeroed), in
 *       PAGE units as for WRITE (len 0: none), hdr.err.
 * Mode 0 and KEEP_SIZE allocate zeroed blocks into the holes of the range
 * (KEEP_SIZE: past i_size too, without changing it); PUNCH_HOLE frees the
 * whole blocks of the range and zeroes the partial ends; ZERO_RANGE zeroes
 * the range and leaves it allocated. mtime/ctime = now. -EOPNOTSUPP for
 * other modes, -EFBIG past the largest file, -ENOSPC (what was allocated
 * stays allocated, as on Linux).
 */

/* ZUFS_OP_LLSEEK: SEEK_DATA / SEEK_HOLE (other whences are the shim's). */
struct zufs_ioc_seek {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;
	__u64 offset_in;
	__u32 whence;
	__u32 pad;

	/* OUT */
	__u64 offset_out; /* -ENXIO when offset_in >= i_size or no data */
};

/* ZUFS_OP_CLONE (FICLONERANGE) and ZUFS_OP_COPY (copy_file_range): copy
 * len bytes of src at pos_in to dst at pos_out inside the server (no data
 * crosses to the shim). COPY may copy less (copied, OUT, zufuse); it writes
 * the destination like WRITE (allocating, growing i_size, mtime/ctime) and
 * the shim drops its cached pages of [pos_out, pos_out + copied). Source
 * holes read as zeros and are written as zeros (as tmpfs does); pmfs shares
 * whole blocks copy-on-write where the two ranges line up (its refc.h), and
 * the shim's invalidation of the destination range covers that too. pmfs
 * answers CLONE with -EOPNOTSUPP. */
struct zufs_ioc_clone {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *src_zus_ii;
	struct zus_inode_info *dst_zus_ii;
	__u64 pos_in, pos_out;
	__u64 len;
	__u64 flags;
	/* OUT (zufuse) */
	__u64 copied;
};

/* ZUFS_OP_XATTR_GET / _SET / _LIST */
/* xattr_handler->flags: the namespace of a name (its prefix stripped) */
enum ZUFS_XATTR_FLAGS {
	ZUFS_XF_SECURITY = 1,
	ZUFS_XF_SYSTEM = 2,
	ZUFS_XF_TRUSTED = 3,
	ZUFS_XF_USER = 4,
};

/* zufuse: user_flags bit of XATTR_SET meaning removexattr (the kernel's
 * set with value NULL); XATTR_CREATE/XATTR_REPLACE are bits 1 and 2. */
#define ZUFS_XATTR_REMOVE 0x8000
/* zufuse: user_flags bit of XATTR_SET of system.posix_acl_access: the
 * caller is neither in the file's group nor privileged, so the mode update
 * also clears S_ISGID (the kernel's posix_acl_update_mode). */
#define ZUFS_XATTR_ACL_KILL_SGID 0x4000

/*
 * zufuse's shape of the public zufs_ioc_xattr: the name (without its
 * namespace prefix) is in a fixed buffer instead of a variable tail, and
 * the value travels in the pages like any data ([hdr.offset, +hdr.len)).
 *  SET:  value in the pages (hdr.len bytes, may be 0); user_flags =
 *        XATTR_CREATE (-EEXIST) / XATTR_REPLACE (-ENODATA) /
 *        ZUFS_XATTR_REMOVE (-ENODATA if absent). -ENOSPC when the inode's
 *        xattrs would exceed the server's limit (pmfs: 128 KiB in all).
 *  GET:  hdr.len = room in the pages (0: only ask the size); OUT
 *        value_size = the value's size, hdr.len = bytes written; -ERANGE
 *        when the room is non-zero and too small; -ENODATA if absent.
 *  LIST: like GET, for the list of "prefix.name\0" of every attribute;
 *        type and name are ignored.
 * system.posix_acl_* (type ZUFS_XF_SYSTEM) is stored only when the mount
 * reported ZUFS_FSC_ACL_ON (mount option "acl"); else -EOPNOTSUPP.
 * zufuse: with ACLs on, SET of an ACL is the kernel's set_acl, not a plain
 * xattr: the value is validated (posix_acl.h: -EINVAL, -EOPNOTSUPP for
 * another version); a default ACL on a non-directory is -EACCES; an empty
 * ACL (header only) or REMOVE removes it (0 even when absent); an access
 * ACL sets the mode's rwx bits (and ZUFS_XATTR_ACL_KILL_SGID clears
 * S_ISGID) and is not stored when the mode says it all; ctime = now; one
 * transaction. SETATTR of STATX_MODE rewrites a stored access ACL's
 * owner, mask (or group) and other entries in its transaction.
 */
#ifndef ZUS_PLUGIN_SDK /* plugins see the seed's shape */
struct zufs_ioc_xattr {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_inode_info *zus_ii;
	__u8 type;	 /* ZUFS_XF_* */
	__u8 name_len;	 /* 1..ZUFS_NAME_LEN */
	__u16 user_flags;
	/* OUT (zufuse) */
	__u32 value_size;
	/* IN (zufuse) */
	char name[ZUFS_NAME_LEN + 1];
};
#endif /* !ZUS_PLUGIN_SDK */

/* ~~~~ iomap structures ~~~~
 * Returned in a zufs_ioc_IO and passed at ZU_IOC_IOMAP_EXEC: a NONE
 * terminated array of encoded operations. Each starts with a __u64 whose 8
 * high bits are the ZUFS_IOM_TYPE and whose 56 low bits are a value (a page
 * offset or a length); the interpreter steps by the size of the operation.
 */
enum ZUFS_IOM_TYPE {
	IOM_NONE = 0,
	IOM_T1_WRITE = 1,
	IOM_T1_READ = 2,

	IOM_T2_WRITE = 3,
	IOM_T2_READ = 4,
	IOM_T2_WRITE_LEN = 5,
	IOM_T2_READ_LEN = 6,

	IOM_T2_ZUSMEM_WRITE = 7,
	IOM_T2_ZUSMEM_READ = 8,

	IOM_UNMAP = 9,

	IOM_NUM_LEGAL_OPT,
};

#define ZUFS_IOM_VAL_BITS 56
#define ZUFS_IOM_FIRST_VAL_MASK ((1ULL << ZUFS_IOM_VAL_BITS) - 1)

static inline __u64 _zufs_iom_first_val(const __u64 *iom_elemets)
{
	return *iom_elemets & ZUFS_IOM_FIRST_VAL_MASK;
}

static inline enum ZUFS_IOM_TYPE _zufs_iom_opt_type(const __u64 *iom_e)
{
	unsigned ret = (unsigned)((*iom_e) >> ZUFS_IOM_VAL_BITS);

	if (ret >= IOM_NUM_LEGAL_OPT)
		return IOM_NONE;
	return (enum ZUFS_IOM_TYPE)ret;
}

static inline int _zufs_iom_pop(const __u64 *iom_e)
{
	return _zufs_iom_opt_type(iom_e) != IOM_NONE;
}

static inline void _zufs_iom_enc_type_val(__u64 *ptr, enum ZUFS_IOM_TYPE type,
					  __u64 val)
{
	*ptr = val | ((__u64)type << ZUFS_IOM_VAL_BITS);
}

/* IOM_T1_WRITE / IOM_T1_READ */
struct zufs_iom_t1_io {
	__u64 t1_val; /* bn << 3 | pool */
};

/* IOM_T2_WRITE / IOM_T2_READ */
struct zufs_iom_t2_io {
	__u64 t2_val;
	zu_dpp_t t1_val;
};

/* IOM_T2_WRITE_LEN / IOM_T2_READ_LEN */
struct zufs_iom_t2_io_len {
	struct zufs_iom_t2_io iom;
	__u64 num_pages;
} __attribute__((packed));

/* IOM_T2_ZUSMEM_WRITE / IOM_T2_ZUSMEM_READ */
struct zufs_iom_t2_zusmem_io {
	__u64 t2_val;
	__u64 zus_mem_ptr;
	__u64 len;
};

/* IOM_UNMAP: invalidate the cached pages of a range of an inode */
struct zufs_iom_unmap {
	__u64 unmap_index; /* Offset in pages of inode */
	__u64 unmap_n;	   /* Num pages to unmap (0 means: to eof) */
	__u64 ino;	   /* Pages of this inode (0: the request's inode) */
} __attribute__((packed));

#define ZUFS_WRITE_OP_SPACE                                                    \
	((sizeof(struct zufs_iom_unmap) + sizeof(struct zufs_iom_t2_io)) /    \
		 sizeof(__u64) +                                               \
	 sizeof(__u64))

/* For ZUFS_OP_IOM_DONE */
struct zufs_ioc_iomap_done {
	struct zufs_ioc_hdr hdr; /* hdr.err: the result of the iomap */
	/* IN */
	struct zus_sb_info *zus_sbi;
	/* The cookie received from zufs_ioc_iomap_exec */
	struct zus_iomap_build *iomb;
};

struct zufs_iomap {
	/* A cookie from zus to return when execution is done */
	struct zus_iomap_build *iomb;

	__u32 iom_max; /* num of __u64 allocated */
	__u32 iom_n;   /* num of valid __u64 in iom_e */
	__u64 iom_e[0]; /* encoded operations to execute; must be last */
};

/* ZU_IOC_IOMAP_EXEC: an iomap the server asks the shim to execute */
struct zufs_ioc_iomap_exec {
	struct zufs_ioc_hdr hdr;
	/* The ID of the super block received in mount */
	__u64 sb_id;
	/* We verify the sb_id validity against zus_sbi */
	struct zus_sb_info *zus_sbi;
	/* If application buffers they are from this IO */
	__u64 zt_iocontext;
	/* Only return when finished; iomap_done NOT called */
	__u32 wait_for_done;
	__u32 __pad;

	struct zufs_iomap ziom; /* must be last */
};

/* flags for gp_block->ret_flags */
enum {
	ZUFS_GBF_RESERVED = 1, /* Not used */
	ZUFS_GBF_NEW = 2,      /* In write, allocated a new block need unmap */
	/* zufuse: in a GET_MULTY answer (hdr.err 0): the mapping stops at
	 * last_pos (iom_n covers only [filepos, last_pos), possibly nothing)
	 * because the file page holding last_pos is best served by a copy
	 * ZUFS_OP_READ (a cold T2 block the server would rather read
	 * inline, with IOM_T2_READ_LEN into the request's pages, than
	 * promote). The shim reads [last_pos, filepos + hdr.len) with
	 * ZUFS_OP_READ, same flags, into page-aligned pages (hdr.offset =
	 * last_pos % PAGE_SIZE). Without it, a short mapping is all there
	 * is (EOF, or iom_max). */
	ZUFS_GBF_READ = 4,
};

/* zufs_ioc_IO->flags */
#define ZUFS_IO_DSYNC (1 << 0)
#define ZUFS_IO_DIRECT (1 << 1)
#define ZUFS_IO_RAND (1 << 2)
/* zufuse: O_SYNC (or a sync mount), with ZUFS_IO_DSYNC: the inode's
 * metadata (times) durable too, not only the data and what reaches it. */
#define ZUFS_IO_SYNC (1 << 3)

struct __zufs_ra {
	unsigned long start;
	__u64 prev_pos;
	__u32 ra_pages;
	__u32 ra_pad;
};

struct __zufs_write_unmap {
	__u32 offset;
	__u32 len;
};

struct __zufs_get_put_block {
	zu_dpp_t pmem_bn; /* zero means: map-read a hole */
	__u32 rw;	  /* rw flags also return from GB */
	__u32 ret_flags;  /* One of ZUFS_GBF_XXX */
	void *priv;
};

/* ZUFS_OP_READ / ZUFS_OP_WRITE / ZUFS_OP_PRE_READ
 * and ZUFS_OP_GET_BLOCK(MULTY) / ZUFS_OP_PUT_BLOCK(MULTY)
 *
 * zufuse: a -EZUFS_RETRY answer may carry a token in ziom.iomb (a cookie
 * the shim never dereferences; NULL: none). The shim executes the iomap
 * and sends the request again with its IN fields as they were, ziom.iomb
 * set to the token and hdr.err 0 - so the token comes back only after the
 * iomap ran to the end, and only with the request it was handed to (a
 * later request, even in the same message, has NULL there). When the
 * iomap fails (a T2 error, short transfer, or an iomap the shim refuses)
 * or RETRY repeats too often, the shim sends the request once more with
 * the token and hdr.err = the negative errno (IN: the seed's
 * EZUF_RETRY_DONE), so the server can undo what it prepared for the iomap
 * (pmfs: the T1 blocks of a promotion); the server answers hdr.err
 * unchanged and the application gets that error. A server that sets no
 * token never sees either. No layout changes: iomb is the seed's field.
 */
struct zufs_ioc_IO {
	struct zufs_ioc_hdr hdr;

	/* IN */
	struct zus_inode_info *zus_ii;
	__u64 filepos;
	__u64 flags; /* ZUFS_IO_* */

	/* in / OUT */
	union {
		/* For reads */
		struct __zufs_ra ra;
		/* For writes */
		struct __zufs_write_unmap wr_unmap;
		struct __zufs_get_put_block gp_block;
	};

	/* The last offset done in this IO. If == filepos, error at hdr.err */
	__u64 last_pos;

	struct zufs_iomap ziom;
	__u64 iom_e[ZUFS_WRITE_OP_SPACE]; /* One tier_up for WRITE or GB */
};

/* ~~~ zufuse extensions (no seed counterpart) ~~~ */

/*
 * zufuse: ZUFS_OP_STATS - what `zufusectl stats` shows of the server: space
 * on each tier and counters since mount. The shim sends it from its control
 * thread, never on a request path, and keeps any "since reset" baseline
 * itself (the server's counters only grow). Block counts are in 4 KiB
 * blocks; a field the file system does not keep is left 0. Fields are only
 * ever added at the end, before the reserved tail shrinks.
 */
struct zufs_ioc_stats {
	struct zufs_ioc_hdr hdr;
	/* IN */
	struct zus_sb_info *zus_sbi;
	/* OUT: space */
	__u64 t1_blocks; /* data blocks on pmem (T1) */
	__u64 t1_free;
	__u64 t2_blocks; /* tier-2 blocks (0: no T2) */
	__u64 t2_used;
	__u64 inodes;
	__u64 inodes_free;
	/* OUT: counters since mount */
	__u64 evictions;       /* blocks moved T1 -> T2 */
	__u64 sync_evictions;  /* of those, moved by a writer that ran short */
	__u64 promotions;      /* blocks moved T2 -> T1 */
	__u64 cold_reads;      /* T2 blocks read in place, not promoted */
	__u64 journal_commits; /* metadata transactions committed */
	__u64 reserved[9];
};

#ifdef __cplusplus
} /* extern "C" */

/* ~~~ layout pins: these must match the seed / public zus_api.h ~~~ */
static_assert(sizeof(struct zus_inode) == ZUFS_INODE_SIZE);
static_assert(offsetof(struct zus_inode, i_size) == 8);
static_assert(offsetof(struct zus_inode, i_on_disk) == 16);
static_assert(offsetof(struct zus_inode, i_blocks) == 32);
static_assert(offsetof(struct zus_inode, i_atime) == 56);
static_assert(offsetof(struct zus_inode, i_ino) == 64);
static_assert(offsetof(struct zus_inode, i_xattr) == 80);
static_assert(offsetof(struct zus_inode, i_generation) == 88);
static_assert(offsetof(struct zus_inode, i_rdev) == 96);
static_assert(sizeof(struct zufs_ioc_hdr) == 24);
static_assert(offsetof(struct zufs_ioc_hdr, operation) == 12);
static_assert(offsetof(struct zufs_ioc_hdr, offset) == 16);
static_assert(offsetof(struct zufs_ioc_hdr, len) == 20);
static_assert(sizeof(struct zufs_str) == 256);
static_assert(E_ZDE_HDR_SIZE == 17);
static_assert(sizeof(struct zufs_iom_t2_io) == 16);
static_assert(sizeof(struct zufs_iom_t2_io_len) == 24);
static_assert(sizeof(struct zufs_iom_t2_zusmem_io) == 24);
static_assert(sizeof(struct zufs_iom_unmap) == 24);
static_assert(ZUFS_WRITE_OP_SPACE == 13);
static_assert(sizeof(struct zufs_iomap) == 16);
static_assert(offsetof(struct zufs_iomap, iom_e) == 16);
static_assert(offsetof(struct zufs_ioc_iomap_exec, ziom) == 56);
static_assert(offsetof(struct zufs_ioc_IO, zus_ii) == 24);
static_assert(offsetof(struct zufs_ioc_IO, filepos) == 32);
static_assert(offsetof(struct zufs_ioc_IO, flags) == 40);
static_assert(offsetof(struct zufs_ioc_IO, ra) == 48);
static_assert(offsetof(struct zufs_ioc_IO, wr_unmap) == 48);
static_assert(offsetof(struct zufs_ioc_IO, gp_block) == 48);
static_assert(offsetof(struct zufs_ioc_IO, last_pos) == 72);
static_assert(offsetof(struct zufs_ioc_IO, ziom) == 80);
static_assert(offsetof(struct zufs_ioc_IO, iom_e) == 96);
static_assert(offsetof(struct zufs_iomap, iomb) == 0); /* the RETRY token */
static_assert(offsetof(struct zufs_ioc_IO, ziom.iomb) == 80);
static_assert(sizeof(struct zufs_ioc_IO) == 96 + 13 * 8);
static_assert(ZUS_API_MAP_MAX_SIZE == 4 * 1024 * 1024);
static_assert(EZUFS_RETRY == 531);
static_assert(offsetof(struct zufs_ioc_seek, offset_out) == 48);
static_assert(offsetof(struct zufs_ioc_clone, copied) == 72);
#ifndef ZUS_PLUGIN_SDK
static_assert(offsetof(struct zufs_ioc_xattr, value_size) == 36);
static_assert(offsetof(struct zufs_ioc_attr, i_flags) == 84 &&
	      sizeof(struct zufs_ioc_attr) == 112);
static_assert((ZUFS_S_VFS_MASK & 0xc000) == 0); /* pmfs's own bits */
static_assert((ZUFS_S_VFS_MASK & ZUFS_ZI_EXT) == 0);
static_assert(offsetof(struct zus_inode, i_x.i_projid) == 112 &&
	      offsetof(struct zus_inode, i_x.i_btime) == 120);
static_assert(offsetof(struct zufs_ioc_xattr, name) == 40);
#endif
static_assert(IOM_UNMAP == 9 && IOM_NUM_LEGAL_OPT == 10);
static_assert(sizeof(struct zufs_ioc_stats) == 24 + 8 + 20 * 8);
static_assert(offsetof(struct zufs_ioc_stats, journal_commits) == 112);
static_assert(ZUFS_OP_READ == 14 && ZUFS_OP_WRITE == 16 &&
	      ZUFS_OP_GET_MULTY == 29 && ZUFS_OP_PUT_MULTY == 30);
#endif

#endif /* ZUFS_ZUS_API_H */
