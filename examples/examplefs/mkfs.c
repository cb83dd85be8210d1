/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mkfs.examplefs IMAGE [SIZE_MIB] - write an empty examplefs on IMAGE (a
 * file, created or resized to SIZE_MIB when given): the device table (and
 * its copy) for zufuse's mount check, the superblock, the root directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "zus.h"
#include "examplefs.h"

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "mkfs.examplefs: %s: %s\n", path, what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkfs.examplefs IMAGE [SIZE_MIB]\n");
		return 2;
	}
	const char *path = argv[1];
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fail(strerror(errno), path);
	if (argc == 3 && ftruncate(fd, (off_t)strtoull(argv[2], NULL, 0) << 20))
		return fail(strerror(errno), path);
	struct stat st;
	if (fstat(fd, &st))
		return fail(strerror(errno), path);
	uint64_t size = (uint64_t)st.st_size & ~(uint64_t)ZUFS_ALLOC_MASK;
	if (size < (4 << 20))
		return fail("too small (4 MiB at least)", path);
	char *base =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return fail(strerror(errno), path);
	uint64_t blocks = md_o2p(size);

	memset(base, 0, 4 * PAGE_SIZE);
	struct md_dev_table *mdt = (struct md_dev_table *)base;
	mdt->s_version =
		cpu_to_le16(EXFS_MAJOR * ZUFS_MINORS_PER_MAJOR + EXFS_MINOR);
	mdt->s_magic = cpu_to_le32(EXFS_MAGIC);
	if (getrandom(&mdt->s_uuid, sizeof(mdt->s_uuid), 0) < 0)
		return fail(strerror(errno), path);
	mdt->s_t1_blocks = cpu_to_le64(blocks);
	mdt->s_dev_list.t1_count = cpu_to_le16(1);
	memcpy(&mdt->s_dev_list.dev_ids[0].uuid, &mdt->s_uuid,
	       sizeof(mdt->s_uuid));
	__dev_id_blocks_set(&mdt->s_dev_list.dev_ids[0], blocks);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	timespec_to_zt(&mdt->s_wtime, &now);
	mdt->s_sum = cpu_to_le16((uint16_t)md_calc_csum(mdt));
	memcpy(base + MDT_SIZE, mdt, sizeof(*mdt));

	/* one inode per 16 KiB; a bitmap for every block */
	struct exfs_super *sb =
		(struct exfs_super *)(base + md_p2o(EXFS_SUPER_BN));
	sb->magic = EXFS_MAGIC;
	sb->ninodes = blocks / 4;
	sb->itable_blocks =
		(uint32_t)((sb->ninodes + EXFS_INODES_PER_BLOCK - 1) /
			   EXFS_INODES_PER_BLOCK);
	sb->bitmap_bn = EXFS_ITABLE_BN + sb->itable_blocks;
	sb->bitmap_blocks = (blocks + 8 * PAGE_SIZE - 1) / (8 * PAGE_SIZE);
	sb->data_bn = sb->bitmap_bn + sb->bitmap_blocks;
	sb->blocks = blocks;
	memset(base + md_p2o(EXFS_ITABLE_BN), 0,
	       md_p2o(sb->data_bn - EXFS_ITABLE_BN));
	uint8_t *bitmap = (uint8_t *)base + md_p2o(sb->bitmap_bn);
	for (uint64_t bn = 0; bn < sb->data_bn; ++bn)
		bitmap[bn / 8] |= (uint8_t)(1 << (bn % 8));

	struct zus_inode *root =
		(struct zus_inode *)(base + md_p2o(EXFS_ITABLE_BN)) +
		EXFS_ROOT_INO;
	root->i_ino = EXFS_ROOT_INO;
	root->i_mode = S_IFDIR | 0755;
	root->i_nlink = 2;
	root->i_uid = getuid();
	root->i_gid = getgid();
	root->i_dir.parent = EXFS_ROOT_INO;
	timespec_to_zt(&root->i_mtime, &now);
	root->i_ctime = root->i_atime = root->i_mtime;

	if (msync(base, size, MS_SYNC) || fsync(fd))
		return fail(strerror(errno), path);
	printf("examplefs: %s: %lu blocks, %lu inodes\n", path,
	       (unsigned long)blocks, (unsigned long)sb->ninodes);
	return 0;
}
