/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zus.h - the zus plugin API: what a zus file system (libNAME.so) is
 * written against, as of the seed's time (zus efda388, 2019), hosted by
 * zufuse (zufuse --fs=NAME; docs/writing-a-zus-fs.md).
 *
 * Contract between a plugin and its host:
 *  - register_fs(fd) is the plugin's entry; it calls zus_register_one()
 *    with a struct zus_fs_info that lives as long as the library.
 *  - Mount: zfi->op->sbi_alloc(); the host fills sbi->md (the mapped and
 *    checked T1 device, md.h); zfi->op->sbi_init() sets sbi->z_root (and
 *    the zmi OUT fields); umount: sbi_fini(), then sbi_free().
 *  - The host does what zuf did: the inode cache (one zii per live inode;
 *    a lookup that lost a race gets evict()ed), "." and "..", the VFS
 *    locking (one writer per inode, directory operations serialized per
 *    directory, renames serialized per mount), times the VFS keeps
 *    (written into zii->zi before the call), permission checks, and the
 *    checks of every answer: a bad one is -EIO for that request only.
 *  - Operations get the application's bytes at app_ptr (contiguous,
 *    hdr.len bytes) and answer in the message (last_pos, pos, ...).
 *  - Errors are negative errno values; returning NULL from new_inode is
 *    -EINVAL.
 */
#ifndef ZUS_ZUS_H
#define ZUS_ZUS_H

/* sys/stat.h must come first (STATX_*) */
#include <sys/stat.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef STATX_MODE
#include <linux/stat.h>
#endif

#ifndef O_TMPFILE
#define O_TMPFILE (__O_TMPFILE | O_DIRECTORY)
#endif

#include "zus_api.h"
#include "_pr.h"
#include "a_list.h"

#ifndef likely
#define likely(x_) __builtin_expect(!!(x_), 1)
#define unlikely(x_) __builtin_expect(!!(x_), 0)
#endif

#include "md.h"
#include "movnt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MAX_LFS_FILESIZE ((loff_t)0x7fffffffffffffffLL)
#define ZUS_MAX_OP_SIZE (PAGE_SIZE * 8)

/* zus_inode and device-table times: nanoseconds since the epoch */
#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000UL
#endif

/* libzus (utils.c) */
void zus_dump_stack(FILE *fp, bool warn, const char *fmt, ...);
void zus_warn(const char *cond, const char *file, int line);
void zus_bug(const char *cond, const char *file, int line);
int zus_increase_max_files(void);

#define dump_stack()                                                           \
	zus_dump_stack(stderr, false, "<5>%s: (%s:%d)\n", __func__, __FILE__, \
		       __LINE__)

#define ZUS_WARN_ON(x_)                                                        \
	__extension__({                                                        \
		int __ret_warn_on = !!(x_);                                    \
		if (unlikely(__ret_warn_on))                                   \
			zus_warn(#x_, __FILE__, __LINE__);                     \
		unlikely(__ret_warn_on);                                       \
	})

#define ZUS_WARN_ON_ONCE(x_)                                                   \
	__extension__({                                                        \
		int __ret_warn_on = !!(x_);                                    \
		static bool __once;                                            \
		if (unlikely(__ret_warn_on && !__once)) {                      \
			zus_warn(#x_, __FILE__, __LINE__);                     \
			__once = true;                                         \
		}                                                              \
		unlikely(__ret_warn_on);                                       \
	})

#define ZUS_BUG_ON(x_)                                                         \
	__extension__({                                                        \
		int __ret_bug_on = !!(x_);                                     \
		if (unlikely(__ret_bug_on))                                    \
			zus_bug(#x_, __FILE__, __LINE__);                      \
		unlikely(__ret_bug_on);                                        \
	})

static inline __le32 le32_add(__le32 *val, __s16 add)
{
	return *val = cpu_to_le32(le32_to_cpu(*val) + add);
}

static inline __s64 _z_div_s64_rem(__s64 X, __s32 y, __u32 *rem)
{
	*rem = (__u32)(X % y);
	return X / y;
}

static inline void timespec_to_zt(__le64 *mt, struct timespec *t)
{
	*mt = cpu_to_le64((__u64)t->tv_sec * NSEC_PER_SEC + (__u64)t->tv_nsec);
}

static inline void zt_to_timespec(struct timespec *t, __le64 *mt)
{
	__u32 nsec;

	t->tv_sec = _z_div_s64_rem((__s64)le64_to_cpu(*mt), NSEC_PER_SEC, &nsec);
	t->tv_nsec = nsec;
}

static inline zu_dpp_t pmem_dpp_t(unsigned long offset)
{
	return (zu_dpp_t)offset;
}

/* ~~~~ zus fs_info, super blocks, inodes ~~~~ */

struct zus_fs_info;
struct zus_sb_info;

struct zus_zii_operations {
	void (*evict)(struct zus_inode_info *zii);
	int (*read)(void *app_ptr, struct zufs_ioc_IO *io);
	int (*pre_read)(void *app_ptr, struct zufs_ioc_IO *io);
	int (*write)(void *app_ptr, struct zufs_ioc_IO *io);
	int (*get_block)(struct zus_inode_info *zii,
			 struct zufs_ioc_IO *get_block);
	int (*put_block)(struct zus_inode_info *zii,
			 struct zufs_ioc_IO *put_block);
	int (*mmap_close)(struct zus_inode_info *zii,
			  struct zufs_ioc_mmap_close *mmap_close);
	int (*get_symlink)(struct zus_inode_info *zii, void **symlink);
	int (*setattr)(struct zus_inode_info *zii, unsigned enable_bits,
		       unsigned long truncate_size);
	int (*sync)(struct zus_inode_info *zii,
		    struct zufs_ioc_range *ioc_range);
	int (*fallocate)(struct zus_inode_info *zii,
			 struct zufs_ioc_range *ioc_range);
	int (*seek)(struct zus_inode_info *zii, struct zufs_ioc_seek *ioc_seek);
	int (*ioctl)(struct zus_inode_info *zii,
		     struct zufs_ioc_ioctl *ioc_ioctl);
	int (*getxattr)(struct zus_inode_info *zii,
			struct ZUS_SEED_TAG(zufs_ioc_xattr) *ioc_xattr);
	int (*setxattr)(struct zus_inode_info *zii,
			struct ZUS_SEED_TAG(zufs_ioc_xattr) *ioc_xattr);
	int (*listxattr)(struct zus_inode_info *zii,
			 struct ZUS_SEED_TAG(zufs_ioc_xattr) *ioc_xattr);
	int (*fiemap)(void *app_ptr, struct zufs_ioc_fiemap *zif);
};

struct zus_inode_info {
	const struct zus_zii_operations *op;

	struct zus_sb_info *sbi;
	struct zus_inode *zi; /* in pmem (the host reads it, as zuf did) */
};

struct zus_sbi_operations {
	struct zus_inode_info *(*new_inode)(struct zus_sb_info *sbi,
					    void *app_ptr,
					    struct zufs_ioc_new_inode *ioc_new);
	void (*free_inode)(struct zus_inode_info *zii);

	unsigned long (*lookup)(struct zus_inode_info *dir_ii,
				struct zufs_str *str);
	int (*add_dentry)(struct zus_inode_info *dir_ii,
			  struct zus_inode_info *zii, struct zufs_str *str);
	int (*remove_dentry)(struct zus_inode_info *dir_ii,
			     struct zus_inode_info *zii, struct zufs_str *str);
	int (*iget)(struct zus_sb_info *sbi, unsigned long ino,
		    struct zus_inode_info **zii);
	int (*rename)(struct zufs_ioc_rename *zir);
	int (*readdir)(void *app_ptr, struct zufs_ioc_readdir *zir);
	int (*clone)(struct zufs_ioc_clone *ioc_clone);
	int (*statfs)(struct zus_sb_info *sbi,
		      struct zufs_ioc_statfs *ioc_statfs);
};

#define ZUS_MAX_POOLS 7
struct pa {
	struct fba pages;
	struct fba data;
	struct a_list_head head;
	size_t size;
	pthread_spinlock_t lock;
};

struct zus_sb_info {
	struct multi_devices md;
	struct zus_fs_info *zfi;
	const struct zus_sbi_operations *op;

	struct zus_inode_info *z_root;
	unsigned long flags;
	__u64 kern_sb_id;
	struct pa pa[ZUS_MAX_POOLS];
};

enum E_zus_sbi_flags {
	ZUS_SBIF_ERROR = 0,

	ZUS_SBIF_LAST,
};

static inline void zus_sbi_set_flag(struct zus_sb_info *sbi, int flag)
{
	sbi->flags |= (1UL << flag);
}

static inline int zus_sbi_test_flag(struct zus_sb_info *sbi, int flag)
{
	return (sbi->flags & (1UL << flag)) != 0;
}

struct zus_zfi_operations {
	struct zus_sb_info *(*sbi_alloc)(struct zus_fs_info *zfi);
	void (*sbi_free)(struct zus_sb_info *sbi);

	int (*sbi_init)(struct zus_sb_info *sbi,
			struct ZUS_SEED_TAG(zufs_ioc_mount) *zim);
	int (*sbi_fini)(struct zus_sb_info *sbi);
	int (*sbi_remount)(struct zus_sb_info *sbi,
			   struct ZUS_SEED_TAG(zufs_ioc_mount) *zim);
};

struct zus_fs_info {
	struct register_fs_info rfi;
	const struct zus_zfi_operations *op;
	const struct zus_sbi_operations *sbi_op;

	unsigned user_page_size;
	unsigned next_sb_id;
};

/* POSIX helpers every file system uses */

static inline bool zi_isdir(const struct zus_inode *zi)
{
	return S_ISDIR(le16_to_cpu(zi->i_mode));
}
static inline bool zi_isreg(const struct zus_inode *zi)
{
	return S_ISREG(le16_to_cpu(zi->i_mode));
}
static inline bool zi_islnk(const struct zus_inode *zi)
{
	return S_ISLNK(le16_to_cpu(zi->i_mode));
}
static inline unsigned long zi_ino(const struct zus_inode *zi)
{
	return (unsigned long)le64_to_cpu(zi->i_ino);
}

/* A new directory: one link ("." to itself); its parent is dir_zi. */
static inline void zus_std_new_dir(struct zus_inode *dir_zi,
				   struct zus_inode *zi)
{
	zi->i_dir.parent = dir_zi->i_ino;
	zi->i_nlink = cpu_to_le32(1);
}

static inline void zus_std_add_dentry(struct zus_inode *dir_zi,
				      struct zus_inode *zi)
{
	le32_add(&zi->i_nlink, 1);
	if (zi_isdir(zi))
		le32_add(&dir_zi->i_nlink, 1);
}

static inline void zus_std_remove_dentry(struct zus_inode *dir_zi,
					 struct zus_inode *zi)
{
	if (zi_isdir(zi)) {
		le32_add(&zi->i_nlink, -1);
		le32_add(&dir_zi->i_nlink, -1);
	}
	le32_add(&zi->i_nlink, -1);
}

/* ~~~ zus-core (libzus) ~~~ */

/* An O_TMPFILE file for the caller's own use (not on the mount). */
int zuf_root_open_tmp(int *fd);
void zuf_root_close(int *fd);

#define ZUS_NUMA_NO_NID (~0U)
#define ZUS_CPU_ALL (~0U)

int zus_cpu_to_node(int cpu);
int zus_current_onecpu(void);
int zus_current_cpu(void);
int zus_current_nid(void);
void *zus_private_get(void);
void zus_private_set(void *);

int zus_get_cpu(void);
void zus_put_cpu(int cpu);

struct zus_thread_params {
	const char *name; /* only used for the duration of the call */
	int policy;
	int rr_priority;
	unsigned one_cpu; /* either set this one, else ZUS_CPU_ALL */
	unsigned nid;	  /* or this one, else ZUS_NUMA_NO_NID */
	unsigned long __flags;
};

#define ZTP_INIT(ztp)                                                          \
	{                                                                      \
		memset((ztp), 0, sizeof(*(ztp)));                              \
		(ztp)->nid = (ztp)->one_cpu = (-1);                            \
	}

typedef void *(*__start_routine)(void *);
int zus_thread_create(pthread_t *new_tread, struct zus_thread_params *params,
		      __start_routine fn, void *user_arg);

/* ~~~ zus-vfs (libzus) ~~~ */
int zus_register_all(int fd);
void zus_unregister_all(void);
int zus_register_one(int fd, struct zus_fs_info *p_zfi);

/* The zii of ino from sbi->op->iget() with zii->sbi set; NULL on error. */
struct zus_inode_info *zus_iget(struct zus_sb_info *sbi, unsigned long ino);
const char *ZUFS_OP_name(enum e_zufs_operation op);

/* Memory for a file system's own use (zufuse: plain heap). */
void *zus_malloc(size_t size);
void *zus_calloc(size_t nmemb, size_t size);
void zus_free(void *ptr);

/* ~~~ pa.c: fba ~~~ */
int fba_alloc(struct fba *fba, size_t size);
int fba_alloc_align(struct fba *fba, size_t size, bool huge);
void fba_free(struct fba *fba);
int fba_punch_hole(struct fba *fba, unsigned long index, unsigned nump);

/* ~~~ loading ~~~ */
#define ZUS_LIBFS_MAX_NR 16
#define ZUS_LIBFS_MAX_PATH 256
#define ZUS_LIBFS_DIR "/usr/lib/zufs"
#define ZUFS_LIBFS_LIST "ZUFS_LIBFS_LIST"

/* The entry of a plugin library (both names must match). */
extern int register_fs(int fd);
#define REGISTER_FS_FN register_fs
#define REGISTER_FS_NAME "register_fs"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZUS_ZUS_H */
