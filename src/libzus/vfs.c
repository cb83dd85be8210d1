/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfs.c - libzus: registration of file systems (zus_register_one), iget,
 * allocation and the iomap submit hook. The dispatch of messages to a
 * file system's operations is the host's (src/server/plugin), which runs
 * in the same process and reads the registry through zus_host.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "zus.h"
#include "iom_enc.h"
#include "zus_host.h"

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zus_fs_info *g_fs[ZUS_LIBFS_MAX_NR];
static const void *g_ext[ZUS_LIBFS_MAX_NR]; /* zufuse's extension, of g_fs[i] */
static int g_nfs;
static zus_host_iomap_exec_fn g_iomap_exec;

int zus_register_one(int fd, struct zus_fs_info *zfi)
{
	int err = 0;

	(void)fd;
	if (!zfi || !zfi->op || !zfi->sbi_op || !zfi->rfi.fsname[0] ||
	    !memchr(zfi->rfi.fsname, 0, sizeof(zfi->rfi.fsname)))
		return -EINVAL;
	pthread_mutex_lock(&g_reg_lock);
	for (int i = 0; i < g_nfs; ++i)
		if (g_fs[i] == zfi ||
		    !strcmp(g_fs[i]->rfi.fsname, zfi->rfi.fsname))
			err = -EEXIST;
	if (!err && g_nfs == ZUS_LIBFS_MAX_NR)
		err = -ENOSPC;
	if (!err) {
		g_ext[g_nfs] = NULL;
		g_fs[g_nfs++] = zfi;
	}
	pthread_mutex_unlock(&g_reg_lock);
	return err;
}

int zus_register_all(int fd)
{
	(void)fd;
	return 0; /* the host loads one library per mount (zufuse --fs) */
}

void zus_unregister_all(void)
{
	pthread_mutex_lock(&g_reg_lock);
	g_nfs = 0;
	pthread_mutex_unlock(&g_reg_lock);
}

struct zus_fs_info *zus_host_fs_at(int i)
{
	struct zus_fs_info *zfi = NULL;

	pthread_mutex_lock(&g_reg_lock);
	if (i >= 0 && i < g_nfs)
		zfi = g_fs[i];
	pthread_mutex_unlock(&g_reg_lock);
	return zfi;
}

struct zus_fs_info *zus_host_fs_find(const char *name)
{
	struct zus_fs_info *zfi = NULL;

	pthread_mutex_lock(&g_reg_lock);
	for (int i = 0; i < g_nfs && !zfi; ++i)
		if (!strcmp(g_fs[i]->rfi.fsname, name))
			zfi = g_fs[i];
	pthread_mutex_unlock(&g_reg_lock);
	return zfi;
}

int zus_host_fs_count(void)
{
	int n;

	pthread_mutex_lock(&g_reg_lock);
	n = g_nfs;
	pthread_mutex_unlock(&g_reg_lock);
	return n;
}

int zus_host_set_ext(struct zus_fs_info *zfi, const void *ext)
{
	int err = -ENOENT;

	pthread_mutex_lock(&g_reg_lock);
	for (int i = 0; i < g_nfs; ++i)
		if (g_fs[i] == zfi) {
			g_ext[i] = ext;
			err = 0;
		}
	pthread_mutex_unlock(&g_reg_lock);
	return err;
}

const void *zus_host_ext(const struct zus_fs_info *zfi)
{
	const void *ext = NULL;

	pthread_mutex_lock(&g_reg_lock);
	for (int i = 0; i < g_nfs; ++i)
		if (g_fs[i] == zfi)
			ext = g_ext[i];
	pthread_mutex_unlock(&g_reg_lock);
	return ext;
}

void zus_host_set_iomap_exec(zus_host_iomap_exec_fn fn)
{
	__atomic_store_n(&g_iomap_exec, fn, __ATOMIC_RELEASE);
}

struct zus_inode_info *zus_iget(struct zus_sb_info *sbi, unsigned long ino)
{
	struct zus_inode_info *zii = NULL;

	if (!sbi || !sbi->op || !sbi->op->iget)
		return NULL;
	if (sbi->op->iget(sbi, ino, &zii) || !zii)
		return NULL;
	zii->sbi = sbi;
	return zii;
}

void *zus_malloc(size_t size) { return malloc(size); }

void *zus_calloc(size_t nmemb, size_t size) { return calloc(nmemb, size); }

void zus_free(void *ptr) { free(ptr); }

void _zus_iom_ioc_exec_submit(struct zus_iomap_build *iomb, bool sync)
{
	zus_host_iomap_exec_fn fn =
		__atomic_load_n(&g_iomap_exec, __ATOMIC_ACQUIRE);

	_zus_iom_end(iomb);
	if (!iomb->ziom || !iomb->ioc_exec) {
		iomb->err = -EINVAL;
		return;
	}
	iomb->ioc_exec->sb_id = iomb->sbi ? iomb->sbi->kern_sb_id : 0;
	iomb->ioc_exec->zus_sbi = iomb->sbi;
	iomb->ioc_exec->wait_for_done = sync;
	iomb->err = fn ? fn(iomb->sbi, iomb->ioc_exec) : -ENOTSUP;
	if (!iomb->err)
		iomb->err = iomb->ioc_exec->hdr.err;
	if (sync && iomb->done)
		iomb->done(iomb);
}

const char *ZUFS_OP_name(enum e_zufs_operation op)
{
#define ZUS_OP_CASE(e)                                                         \
	case e:                                                                \
		return #e
	switch (op) {
		ZUS_OP_CASE(ZUFS_OP_NULL);
		ZUS_OP_CASE(ZUFS_OP_BREAK);
		ZUS_OP_CASE(ZUFS_OP_STATFS);
		ZUS_OP_CASE(ZUFS_OP_SHOW_OPTIONS);
		ZUS_OP_CASE(ZUFS_OP_NEW_INODE);
		ZUS_OP_CASE(ZUFS_OP_FREE_INODE);
		ZUS_OP_CASE(ZUFS_OP_EVICT_INODE);
		ZUS_OP_CASE(ZUFS_OP_LOOKUP);
		ZUS_OP_CASE(ZUFS_OP_ADD_DENTRY);
		ZUS_OP_CASE(ZUFS_OP_REMOVE_DENTRY);
		ZUS_OP_CASE(ZUFS_OP_RENAME);
		ZUS_OP_CASE(ZUFS_OP_READDIR);
		ZUS_OP_CASE(ZUFS_OP_CLONE);
		ZUS_OP_CASE(ZUFS_OP_COPY);
		ZUS_OP_CASE(ZUFS_OP_READ);
		ZUS_OP_CASE(ZUFS_OP_PRE_READ);
		ZUS_OP_CASE(ZUFS_OP_WRITE);
		ZUS_OP_CASE(ZUFS_OP_MMAP_CLOSE);
		ZUS_OP_CASE(ZUFS_OP_GET_SYMLINK);
		ZUS_OP_CASE(ZUFS_OP_SETATTR);
		ZUS_OP_CASE(ZUFS_OP_SYNC);
		ZUS_OP_CASE(ZUFS_OP_FALLOCATE);
		ZUS_OP_CASE(ZUFS_OP_LLSEEK);
		ZUS_OP_CASE(ZUFS_OP_IOCTL);
		ZUS_OP_CASE(ZUFS_OP_XATTR_GET);
		ZUS_OP_CASE(ZUFS_OP_XATTR_SET);
		ZUS_OP_CASE(ZUFS_OP_XATTR_LIST);
		ZUS_OP_CASE(ZUFS_OP_FIEMAP);
		ZUS_OP_CASE(ZUFS_OP_GET_MULTY);
		ZUS_OP_CASE(ZUFS_OP_PUT_MULTY);
		ZUS_OP_CASE(ZUFS_OP_NOOP);
		ZUS_OP_CASE(ZUFS_OP_IOM_DONE);
	default:
		return "UNKNOWN";
	}
#undef ZUS_OP_CASE
}
