/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * badfs - examplefs with answers that break the ABI, chosen per file by
 * its permission bits, for plugin_test's "a malformed answer is -EIO":
 *   0601  write answers a last_pos past the I/O
 *   0602  read answers a last_pos before filepos (get_block: -ENOTSUP)
 *   0603  get_block (a mapped read) answers a block outside T1
 *   0604  write answers an iomap longer than the room it was given
 *   0701  (a directory) readdir answers a pos that does not advance
 * Everything else is examplefs. Registered as "badfs"; formatted with
 * mkfs.examplefs (same magic and version).
 */
#include "zus.h"
#undef REGISTER_FS_FN
#define REGISTER_FS_FN examplefs_register_fs
#include "../../../examples/examplefs/examplefs.c"

static unsigned perm(struct zus_inode_info *zii)
{
	return zii->zi->i_mode & 07777;
}

static int bad_write(void *app_ptr, struct zufs_ioc_IO *io)
{
	int err = exfs_write(app_ptr, io);

	if (perm(io->zus_ii) == 0601)
		io->last_pos = io->filepos + io->hdr.len + PAGE_SIZE;
	if (perm(io->zus_ii) == 0604)
		io->ziom.iom_n = 1000;
	return err;
}

static int bad_read(void *app_ptr, struct zufs_ioc_IO *io)
{
	int err = exfs_read(app_ptr, io);

	if (perm(io->zus_ii) == 0602)
		io->last_pos = io->filepos - 1;
	return err;
}

static int bad_get_block(struct zus_inode_info *zii, struct zufs_ioc_IO *gb)
{
	int err = exfs_get_block(zii, gb);

	if (perm(zii) == 0602) /* reads of it by copy: READ */
		return -ENOTSUP;
	if (perm(zii) == 0603)
		gb->gp_block.pmem_bn = 1ULL << 40;
	return err;
}

static int bad_readdir(void *app_ptr, struct zufs_ioc_readdir *zir)
{
	loff_t in = zir->pos;
	int err = exfs_readdir(app_ptr, zir);

	if (perm(zir->dir_ii) == 0701)
		zir->pos = in;
	return err;
}

static const struct zus_zii_operations bad_zii_op = {
	.evict = exfs_evict,
	.read = bad_read,
	.write = bad_write,
	.get_block = bad_get_block,
	.setattr = exfs_setattr,
};

/* inodes come from examplefs's zii_new() with exfs_zii_op: switch them */
static struct zus_inode_info *bad_new_inode(struct zus_sb_info *sbi, void *app,
					    struct zufs_ioc_new_inode *ioc)
{
	struct zus_inode_info *zii = exfs_new_inode(sbi, app, ioc);

	if (zii)
		zii->op = &bad_zii_op;
	return zii;
}

static int bad_iget(struct zus_sb_info *sbi, unsigned long ino,
		    struct zus_inode_info **zii)
{
	int err = exfs_iget(sbi, ino, zii);

	if (!err)
		(*zii)->op = &bad_zii_op;
	return err;
}

static struct zus_sbi_operations bad_sbi_op;
static struct zus_fs_info bad_zfi;

int register_fs(int fd)
{
	bad_sbi_op = exfs_sbi_op;
	bad_sbi_op.new_inode = bad_new_inode;
	bad_sbi_op.iget = bad_iget;
	bad_sbi_op.readdir = bad_readdir;
	bad_zfi = exfs_zfi;
	strcpy(bad_zfi.rfi.fsname, "badfs");
	bad_zfi.sbi_op = &bad_sbi_op;
	return zus_register_one(fd, &bad_zfi);
}
