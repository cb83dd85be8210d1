/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * examplefs.h - the on-media format of examplefs, a small persistent pmem
 * file system written against zus.h (zufuse's example plugin).
 *
 * T1 in 4 KiB blocks:
 *   0        md_dev_table (zus md_def.h), 1: its copy
 *   2        struct exfs_super
 *   3..      inode table: EXFS_INODES_PER_BLOCK zus_inodes per block; the
 *            inode of ino N is slot N (0 unused, 1 the root)
 *   then     the block bitmap (1 bit per block, 1 = used)
 *   then     data: file data, directory entries, block maps, long symlinks
 *
 * A file's or directory's blocks: zi->i_on_disk.a[0] is a map block of
 * EXFS_PTRS block numbers, each a map block of EXFS_PTRS data blocks
 * (0: a hole). Directory data is an array of struct exfs_dirent (ino 0:
 * free); the entry at index i has readdir position i + 2 ("." is 0, ".."
 * 1). No journal: an example, not a crash-safe file system.
 */
#ifndef EXAMPLEFS_H
#define EXAMPLEFS_H

#include <stdint.h>

#define EXFS_MAGIC 0x45584653 /* "EXFS" */
#define EXFS_MAJOR 1
#define EXFS_MINOR 0
#define EXFS_SUPER_BN 2
#define EXFS_ITABLE_BN 3
#define EXFS_INODES_PER_BLOCK (4096 / 128)
#define EXFS_PTRS (4096 / 8)
#define EXFS_ROOT_INO 1

struct exfs_super {
	uint32_t magic;
	uint32_t itable_blocks;
	uint64_t ninodes;
	uint64_t bitmap_bn;
	uint64_t bitmap_blocks;
	uint64_t data_bn; /* first data block */
	uint64_t blocks;  /* T1 blocks */
};

struct exfs_dirent {
	uint64_t ino;
	uint8_t type; /* DT_* */
	uint8_t name_len;
	char name[256 - 10];
};

#endif /* EXAMPLEFS_H */
