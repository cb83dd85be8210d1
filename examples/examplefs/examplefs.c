/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * examplefs.c - a zus file system in one file (format: examplefs.h).
 *
 * What the host (zufuse, as zuf did) does for it: the inode cache and
 * lookup races, ".", "..", the VFS locks (one writer per inode, directory
 * operations serialized per directory), times, permission checks. What is
 * left here: where inodes, names and blocks live. One mutex guards the
 * allocators; an inode's data is guarded by the host's inode lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "zus.h"
#include "examplefs.h"

struct exfs_sb {
	struct zus_sb_info zsbi; /* first: the host's view */
	struct exfs_super *super;
	pthread_mutex_t alloc_mu;
	uint64_t next_bn; /* where block_alloc looks first (alloc_mu) */
};

static struct exfs_sb *SB(struct zus_sb_info *zsbi)
{
	return (struct exfs_sb *)zsbi;
}

static const struct zus_zii_operations exfs_zii_op;

/* ~~~ blocks ~~~ */

static uint8_t *bitmap(struct exfs_sb *sb)
{
	return md_baddr(&sb->zsbi.md, sb->super->bitmap_bn);
}

/* Next fit: from just after the last block handed out, so a file that
 * grows finds its next block at once (a search from the start each time
 * made writing a new file quadratic in its size). */
static uint64_t block_alloc(struct exfs_sb *sb)
{
	uint8_t *map = bitmap(sb);
	const uint64_t first = sb->super->data_bn, end = sb->super->blocks;
	uint64_t found = 0;

	pthread_mutex_lock(&sb->alloc_mu);
	uint64_t bn =
		sb->next_bn >= first && sb->next_bn < end ? sb->next_bn : first;
	for (uint64_t n = first < end ? end - first : 0; n; --n) {
		if (!(map[bn / 8] & (1 << (bn % 8)))) {
			map[bn / 8] |= (uint8_t)(1 << (bn % 8));
			found = bn;
			break;
		}
		if (++bn == end)
			bn = first;
	}
	sb->next_bn = found + 1;
	pthread_mutex_unlock(&sb->alloc_mu);
	if (found)
		memset(md_baddr(&sb->zsbi.md, found), 0, PAGE_SIZE);
	return found;
}

static void block_free(struct exfs_sb *sb, uint64_t bn)
{
	uint8_t *map = bitmap(sb);

	if (bn < sb->super->data_bn || bn >= sb->super->blocks)
		return;
	pthread_mutex_lock(&sb->alloc_mu);
	map[bn / 8] &= (uint8_t) ~(1 << (bn % 8));
	pthread_mutex_unlock(&sb->alloc_mu);
}

/* The block backing file block fbn (0: a hole); allocated when alloc. */
static uint64_t bmap(struct exfs_sb *sb, struct zus_inode *zi, uint64_t fbn,
		     bool alloc, bool *fresh)
{
	uint64_t *l1, *l2;

	if (fbn >= (uint64_t)EXFS_PTRS * EXFS_PTRS)
		return 0;
	if (!zi->i_on_disk.a[0]) {
		if (!alloc || !(zi->i_on_disk.a[0] = block_alloc(sb)))
			return 0;
	}
	l1 = md_baddr(&sb->zsbi.md, zi->i_on_disk.a[0]);
	if (!l1[fbn / EXFS_PTRS]) {
		if (!alloc || !(l1[fbn / EXFS_PTRS] = block_alloc(sb)))
			return 0;
	}
	l2 = md_baddr(&sb->zsbi.md, l1[fbn / EXFS_PTRS]);
	if (!l2[fbn % EXFS_PTRS] && alloc) {
		l2[fbn % EXFS_PTRS] = block_alloc(sb);
		if (l2[fbn % EXFS_PTRS]) {
			zi->i_blocks += PAGE_SIZE / 512;
			if (fresh)
				*fresh = true;
		}
	}
	return l2[fbn % EXFS_PTRS];
}

/* Free the data blocks from file block from on (and empty maps). */
static void truncate_blocks(struct exfs_sb *sb, struct zus_inode *zi,
			    uint64_t from)
{
	uint64_t *l1, *l2;

	if (!zi->i_on_disk.a[0])
		return;
	l1 = md_baddr(&sb->zsbi.md, zi->i_on_disk.a[0]);
	for (uint64_t i = 0; i < EXFS_PTRS; ++i) {
		bool empty = true;

		if (!l1[i])
			continue;
		l2 = md_baddr(&sb->zsbi.md, l1[i]);
		for (uint64_t j = 0; j < EXFS_PTRS; ++j) {
			if (l2[j] && i * EXFS_PTRS + j >= from) {
				block_free(sb, l2[j]);
				l2[j] = 0;
				zi->i_blocks -= PAGE_SIZE / 512;
			}
			if (l2[j])
				empty = false;
		}
		if (empty) {
			block_free(sb, l1[i]);
			l1[i] = 0;
		}
	}
	if (!from) {
		block_free(sb, zi->i_on_disk.a[0]);
		zi->i_on_disk.a[0] = 0;
	}
}

/* ~~~ inodes ~~~ */

static struct zus_inode *inode_at(struct exfs_sb *sb, uint64_t ino)
{
	if (!ino || ino >= sb->super->ninodes)
		return NULL;
	return (struct zus_inode *)md_baddr(&sb->zsbi.md, EXFS_ITABLE_BN) + ino;
}

static struct zus_inode_info *zii_new(struct exfs_sb *sb, struct zus_inode *zi)
{
	struct zus_inode_info *zii = zus_calloc(1, sizeof(*zii));

	if (zii) {
		zii->op = &exfs_zii_op;
		zii->sbi = &sb->zsbi;
		zii->zi = zi;
	}
	return zii;
}

static int exfs_iget(struct zus_sb_info *zsbi, unsigned long ino,
		     struct zus_inode_info **out)
{
	struct zus_inode *zi = inode_at(SB(zsbi), ino);

	if (!zi || !zi->i_mode)
		return -ENOENT;
	*out = zii_new(SB(zsbi), zi);
	return *out ? 0 : -ENOMEM;
}

static struct zus_inode_info *exfs_new_inode(struct zus_sb_info *zsbi,
					     void *app_ptr,
					     struct zufs_ioc_new_inode *ioc)
{
	struct exfs_sb *sb = SB(zsbi);
	struct zus_inode *zi = NULL;

	pthread_mutex_lock(&sb->alloc_mu);
	for (uint64_t ino = EXFS_ROOT_INO + 1; ino < sb->super->ninodes;
	     ++ino) {
		struct zus_inode *c = inode_at(sb, ino);

		if (!c->i_mode) {
			*c = ioc->zi;
			c->i_ino = ino;
			zi = c;
			break;
		}
	}
	pthread_mutex_unlock(&sb->alloc_mu);
	if (!zi)
		return NULL;
	zi->i_on_disk.a[0] = zi->i_on_disk.a[1] = 0;
	zi->i_blocks = 0;
	zi->i_xattr = 0;
	if (zi_isdir(zi)) {
		zi->i_size = 0;
		zus_std_new_dir(ioc->dir_ii->zi, zi);
	} else if (zi_islnk(zi) && zi->i_size >= sizeof(zi->i_symlink)) {
		uint64_t bn = block_alloc(sb);

		if (!bn) {
			zi->i_mode = 0;
			return NULL;
		}
		memcpy(md_baddr(&zsbi->md, bn), app_ptr, zi->i_size);
		zi->i_sym_dpp = pmem_dpp_t(md_p2o(bn));
	} else if (!zi_islnk(zi)) {
		zi->i_size = 0;
		if (ioc->flags & ZI_TMPFILE)
			zi->i_nlink = 1;
	}
	return zii_new(sb, zi);
}

static void exfs_evict(struct zus_inode_info *zii) { zus_free(zii); }

/* The last reference of an inode without links: its blocks and slot. */
static void exfs_free_inode(struct zus_inode_info *zii)
{
	struct exfs_sb *sb = SB(zii->sbi);
	struct zus_inode *zi = zii->zi;

	if (!zi->i_nlink) {
		if (zi_islnk(zi) && zi->i_size >= sizeof(zi->i_symlink))
			block_free(sb, md_o2p(zi->i_sym_dpp));
		else if (!zi_islnk(zi))
			truncate_blocks(sb, zi, 0);
		pthread_mutex_lock(&sb->alloc_mu);
		memset(zi, 0, sizeof(*zi));
		pthread_mutex_unlock(&sb->alloc_mu);
	}
	zus_free(zii);
}

/* ~~~ directories ~~~ */

#define DE_PER_BLOCK (PAGE_SIZE / sizeof(struct exfs_dirent))

static struct exfs_dirent *dirent_at(struct exfs_sb *sb, struct zus_inode *dir,
				     uint64_t i, bool alloc)
{
	uint64_t bn = bmap(sb, dir, i / DE_PER_BLOCK, alloc, NULL);

	if (!bn)
		return NULL;
	return (struct exfs_dirent *)md_baddr(&sb->zsbi.md, bn) +
	       i % DE_PER_BLOCK;
}

/* dir->i_size counts entry slots in use or freed (the readdir range). */
static uint64_t slots(struct zus_inode *dir)
{
	return dir->i_size / sizeof(struct exfs_dirent);
}

static struct exfs_dirent *find(struct exfs_sb *sb, struct zus_inode *dir,
				const struct zufs_str *str)
{
	for (uint64_t i = 0; i < slots(dir); ++i) {
		struct exfs_dirent *de = dirent_at(sb, dir, i, false);

		if (de && de->ino && de->name_len == str->len &&
		    !memcmp(de->name, str->name, str->len))
			return de;
	}
	return NULL;
}

static unsigned long exfs_lookup(struct zus_inode_info *dir_ii,
				 struct zufs_str *str)
{
	struct exfs_dirent *de = find(SB(dir_ii->sbi), dir_ii->zi, str);

	return de ? de->ino : 0;
}

static int add_name(struct exfs_sb *sb, struct zus_inode *dir,
		    struct zus_inode *zi, const struct zufs_str *str)
{
	struct exfs_dirent *de = NULL;
	uint64_t i;

	if (str->len > sizeof(de->name))
		return -ENAMETOOLONG;
	for (i = 0; i < slots(dir); ++i) {
		de = dirent_at(sb, dir, i, false);
		if (de && !de->ino)
			break;
	}
	if (i == slots(dir)) {
		de = dirent_at(sb, dir, i, true);
		if (!de)
			return -ENOSPC;
		dir->i_size += sizeof(*de);
	}
	de->type = (uint8_t)IFTODT(zi->i_mode);
	de->name_len = str->len;
	memcpy(de->name, str->name, str->len);
	de->ino = zi->i_ino;
	return 0;
}

static int exfs_add_dentry(struct zus_inode_info *dir_ii,
			   struct zus_inode_info *zii, struct zufs_str *str)
{
	int err = add_name(SB(dir_ii->sbi), dir_ii->zi, zii->zi, str);

	if (!err)
		zus_std_add_dentry(dir_ii->zi, zii->zi);
	return err;
}

static bool dir_empty(struct exfs_sb *sb, struct zus_inode *dir)
{
	for (uint64_t i = 0; i < slots(dir); ++i) {
		struct exfs_dirent *de = dirent_at(sb, dir, i, false);

		if (de && de->ino)
			return false;
	}
	return true;
}

static int exfs_remove_dentry(struct zus_inode_info *dir_ii,
			      struct zus_inode_info *zii, struct zufs_str *str)
{
	struct exfs_sb *sb = SB(dir_ii->sbi);
	struct exfs_dirent *de = find(sb, dir_ii->zi, str);

	if (!de || de->ino != zii->zi->i_ino)
		return -ENOENT;
	if (zi_isdir(zii->zi) && !dir_empty(sb, zii->zi))
		return -ENOTEMPTY;
	de->ino = 0;
	zus_std_remove_dentry(dir_ii->zi, zii->zi);
	return 0;
}

static int exfs_rename(struct zufs_ioc_rename *zir)
{
	struct exfs_sb *sb = SB(zir->old_dir_ii->sbi);
	struct zus_inode *od = zir->old_dir_ii->zi, *nd = zir->new_dir_ii->zi;
	struct zus_inode *zi = zir->old_zus_ii->zi;
	struct exfs_dirent *de = find(sb, od, &zir->old_d_str);
	int err;

	if (!de || zir->new_zus_ii)
		return -EINVAL; /* the host removed a replaced target first */
	err = add_name(sb, nd, zi, &zir->new_d_str);
	if (err)
		return err;
	de = find(sb, od, &zir->old_d_str); /* add_name may have moved it */
	de->ino = 0;
	if (zi_isdir(zi) && od != nd) {
		zi->i_dir.parent = nd->i_ino;
		le32_add(&od->i_nlink, -1);
		le32_add(&nd->i_nlink, 1);
	}
	return 0;
}

/* Entries from zir->pos: "." 0, ".." 1, slot i at i + 2. */
static int exfs_readdir(void *app_ptr, struct zufs_ioc_readdir *zir)
{
	struct exfs_sb *sb = SB(zir->dir_ii->sbi);
	struct zus_inode *dir = zir->dir_ii->zi;
	struct zufs_readdir_iter rdi;
	uint64_t pos = (uint64_t)zir->pos;

	zufs_readdir_iter_init(&rdi, zir, app_ptr);
	if (pos == 0) {
		if (!zufs_zde_emit(&rdi, dir->i_ino, DT_DIR, 0, ".", 1))
			goto out;
		pos = 1;
	}
	if (pos == 1) {
		if (!zufs_zde_emit(&rdi, dir->i_dir.parent, DT_DIR, 1, "..", 2))
			goto out;
		pos = 2;
	}
	for (; pos - 2 < slots(dir); ++pos) {
		struct exfs_dirent *de = dirent_at(sb, dir, pos - 2, false);

		if (!de || !de->ino)
			continue;
		if (!zufs_zde_emit(&rdi, de->ino, de->type, pos, de->name,
				   de->name_len))
			goto out;
	}
out:
	zir->pos = (loff_t)pos;
	return 0;
}

/* ~~~ data ~~~ */

static int exfs_read(void *app_ptr, struct zufs_ioc_IO *io)
{
	struct exfs_sb *sb = SB(io->zus_ii->sbi);
	struct zus_inode *zi = io->zus_ii->zi;
	uint64_t pos = io->filepos, end = io->filepos + io->hdr.len;
	char *buf = app_ptr;

	if (end > zi->i_size)
		end = zi->i_size > pos ? zi->i_size : pos;
	while (pos < end) {
		uint64_t n = PAGE_SIZE - pos % PAGE_SIZE;
		uint64_t bn = bmap(sb, zi, pos / PAGE_SIZE, false, NULL);

		if (n > end - pos)
			n = end - pos;
		if (bn)
			memcpy(buf,
			       (char *)md_baddr(&sb->zsbi.md, bn) +
				       pos % PAGE_SIZE,
			       n);
		else
			memset(buf, 0, n);
		buf += n;
		pos += n;
	}
	io->last_pos = pos;
	return 0;
}

static int exfs_write(void *app_ptr, struct zufs_ioc_IO *io)
{
	struct exfs_sb *sb = SB(io->zus_ii->sbi);
	struct zus_inode *zi = io->zus_ii->zi;
	uint64_t pos = io->filepos, end = io->filepos + io->hdr.len;
	const char *buf = app_ptr;
	int err = 0;

	while (pos < end) {
		uint64_t n = PAGE_SIZE - pos % PAGE_SIZE;
		uint64_t bn = bmap(sb, zi, pos / PAGE_SIZE, true, NULL);

		if (!bn) {
			err = -ENOSPC;
			break;
		}
		if (n > end - pos)
			n = end - pos;
		memcpy((char *)md_baddr(&sb->zsbi.md, bn) + pos % PAGE_SIZE,
		       buf, n);
		buf += n;
		pos += n;
	}
	if (pos > zi->i_size)
		zi->i_size = pos;
	io->last_pos = pos;
	return pos > io->filepos ? 0 : err;
}

/* The block of the page at filepos (0: a hole), for a mapped read. */
static int exfs_get_block(struct zus_inode_info *zii, struct zufs_ioc_IO *gb)
{
	gb->gp_block.pmem_bn =
		bmap(SB(zii->sbi), zii->zi, gb->filepos / PAGE_SIZE,
		     gb->gp_block.rw & 1, NULL);
	gb->gp_block.ret_flags = 0;
	return 0;
}

/* The host wrote the new attributes; only a size change is ours. */
static int exfs_setattr(struct zus_inode_info *zii, unsigned bits,
			unsigned long size)
{
	struct zus_inode *zi = zii->zi;

	if (!(bits & STATX_SIZE))
		return 0;
	if (size < zi->i_size) {
		struct exfs_sb *sb = SB(zii->sbi);
		uint64_t keep = (size + PAGE_SIZE - 1) / PAGE_SIZE;
		uint64_t bn = bmap(sb, zi, size / PAGE_SIZE, false, NULL);

		truncate_blocks(sb, zi, keep);
		if (bn && size % PAGE_SIZE) /* zero the tail of the last page */
			memset((char *)md_baddr(&sb->zsbi.md, bn) +
				       size % PAGE_SIZE,
			       0, PAGE_SIZE - size % PAGE_SIZE);
	}
	zi->i_size = size;
	return 0;
}

static int exfs_statfs(struct zus_sb_info *zsbi, struct zufs_ioc_statfs *ioc)
{
	struct exfs_sb *sb = SB(zsbi);
	uint8_t *map = bitmap(sb);
	uint64_t used = 0, iused = 0;

	for (uint64_t bn = 0; bn < sb->super->blocks; ++bn)
		used += !!(map[bn / 8] & (1 << (bn % 8)));
	for (uint64_t ino = 1; ino < sb->super->ninodes; ++ino)
		iused += !!inode_at(sb, ino)->i_mode;
	memset(&ioc->statfs_out, 0, sizeof(ioc->statfs_out));
	ioc->statfs_out.f_type = EXFS_MAGIC;
	ioc->statfs_out.f_bsize = PAGE_SIZE;
	ioc->statfs_out.f_frsize = PAGE_SIZE;
	ioc->statfs_out.f_blocks = sb->super->blocks;
	ioc->statfs_out.f_bfree = sb->super->blocks - used;
	ioc->statfs_out.f_bavail = sb->super->blocks - used;
	ioc->statfs_out.f_files = sb->super->ninodes - 1;
	ioc->statfs_out.f_ffree = sb->super->ninodes - 1 - iused;
	ioc->statfs_out.f_namelen = sizeof(((struct exfs_dirent *)0)->name);
	return 0;
}

/* ~~~ mount ~~~ */

static struct zus_sb_info *exfs_sbi_alloc(struct zus_fs_info *zfi)
{
	struct exfs_sb *sb = zus_calloc(1, sizeof(*sb));

	(void)zfi;
	if (!sb)
		return NULL;
	pthread_mutex_init(&sb->alloc_mu, NULL);
	return &sb->zsbi;
}

static void exfs_sbi_free(struct zus_sb_info *zsbi)
{
	pthread_mutex_destroy(&SB(zsbi)->alloc_mu);
	zus_free(zsbi);
}

static int exfs_sbi_init(struct zus_sb_info *zsbi, struct zufs_ioc_mount *zim)
{
	struct exfs_sb *sb = SB(zsbi);

	zsbi->op = zsbi->zfi->sbi_op;
	sb->super = md_baddr(&zsbi->md, EXFS_SUPER_BN);
	if (sb->super->magic != EXFS_MAGIC ||
	    sb->super->blocks != md_t1_blocks(&zsbi->md) ||
	    sb->super->data_bn >= sb->super->blocks) {
		ERROR("examplefs: bad superblock (run mkfs.examplefs)\n");
		return -EINVAL;
	}
	zsbi->z_root = zus_iget(zsbi, EXFS_ROOT_INO);
	if (!zsbi->z_root)
		return -EIO;
	zim->zmi.zus_sbi = zsbi;
	zim->zmi.zus_ii = zsbi->z_root;
	zim->zmi.s_blocksize_bits = PAGE_SHIFT;
	return 0;
}

static int exfs_sbi_fini(struct zus_sb_info *zsbi)
{
	if (zsbi->z_root)
		zus_free(zsbi->z_root);
	zsbi->z_root = NULL;
	return 0;
}

static const struct zus_zii_operations exfs_zii_op = {
	.evict = exfs_evict,
	.read = exfs_read,
	.write = exfs_write,
	.get_block = exfs_get_block,
	.setattr = exfs_setattr,
};

static const struct zus_sbi_operations exfs_sbi_op = {
	.new_inode = exfs_new_inode,
	.free_inode = exfs_free_inode,
	.lookup = exfs_lookup,
	.add_dentry = exfs_add_dentry,
	.remove_dentry = exfs_remove_dentry,
	.iget = exfs_iget,
	.rename = exfs_rename,
	.readdir = exfs_readdir,
	.statfs = exfs_statfs,
};

static const struct zus_zfi_operations exfs_zfi_op = {
	.sbi_alloc = exfs_sbi_alloc,
	.sbi_free = exfs_sbi_free,
	.sbi_init = exfs_sbi_init,
	.sbi_fini = exfs_sbi_fini,
};

static struct zus_fs_info exfs_zfi = {
	.rfi.fsname = "examplefs",
	.rfi.FS_magic = EXFS_MAGIC,
	.rfi.FS_ver_major = EXFS_MAJOR,
	.rfi.FS_ver_minor = EXFS_MINOR,
	.rfi.s_time_gran = 1,
	.rfi.def_mode = 0755,
	.rfi.s_maxbytes = (uint64_t)EXFS_PTRS * EXFS_PTRS * PAGE_SIZE,
	.op = &exfs_zfi_op,
	.sbi_op = &exfs_sbi_op,
};

int REGISTER_FS_FN(int fd) { return zus_register_one(fd, &exfs_zfi); }
