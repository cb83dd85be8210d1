/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * md_def.h - the on-media multi-device table (zufs "md"), as a zus file
 * system of the seed's time writes it with its mkfs and zuf reads it at
 * mount.
 *
 * The table is MDT_SIZE bytes at offset 0 of the first T1 device; a copy
 * may follow it at offset MDT_SIZE. Its static part (up to
 * s_start_dynamic) is covered by s_sum (md_calc_csum(), libzus). zufuse's
 * plugin host checks it at mount the way zuf did (md.h, md_mdt_check()):
 * magic and version against the registered file system, the checksum, a
 * T1 size that is a whole number of 2 MiB units and fits the device.
 *
 * Integers are little-endian on the media (x86: host order).
 */
#ifndef ZUS_MD_DEF_H
#define ZUS_MD_DEF_H

#include <endian.h>
#include <linux/types.h>
#include <linux/uuid.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef le16_to_cpu
#define le16_to_cpu(x) ((__u16)le16toh(x))
#define le32_to_cpu(x) ((__u32)le32toh(x))
#define le64_to_cpu(x) ((__u64)le64toh(x))
#define cpu_to_le16(x) ((__le16)htole16(x))
#define cpu_to_le32(x) ((__le32)htole32(x))
#define cpu_to_le64(x) ((__le64)htole64(x))
#endif

#ifndef __aligned
#define __aligned(x) __attribute__((aligned(x)))
#endif
#ifndef __packed
#define __packed __attribute__((packed))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define MDT_SIZE 2048 /* the seed's: toyfs keeps two tables in its first page */

/* md_dev_id.blocks: the low 60 bits are blocks, the high 4 the NUMA node */
#define MD_DEV_NUMA_SHIFT 60
#define MD_DEV_BLOCKS_MASK 0x0FFFFFFFFFFFFFFFULL

struct md_dev_id {
	uuid_le uuid;
	__le64 blocks;
} __packed;

static inline __u64 __dev_id_blocks(const struct md_dev_id *dev)
{
	return le64_to_cpu(dev->blocks) & MD_DEV_BLOCKS_MASK;
}

static inline void __dev_id_blocks_set(struct md_dev_id *dev, __u64 blocks)
{
	dev->blocks = cpu_to_le64((le64_to_cpu(dev->blocks) &
				   ~MD_DEV_BLOCKS_MASK) |
				  (blocks & MD_DEV_BLOCKS_MASK));
}

static inline int __dev_id_nid(const struct md_dev_id *dev)
{
	return (int)(le64_to_cpu(dev->blocks) >> MD_DEV_NUMA_SHIFT);
}

static inline void __dev_id_nid_set(struct md_dev_id *dev, int nid)
{
	dev->blocks = cpu_to_le64((le64_to_cpu(dev->blocks) &
				   MD_DEV_BLOCKS_MASK) |
				  ((__u64)nid << MD_DEV_NUMA_SHIFT));
}

#define MD_DEV_MAX 64

struct md_dev_list {
	__le16 id_index;   /* index of this device in dev_ids */
	__le16 t1_count;   /* T1 devices first */
	__le16 t2_count;   /* then T2 devices */
	__le16 rmem_count;
	struct md_dev_id dev_ids[MD_DEV_MAX];
} __aligned(64);

struct md_dev_table {
	/* static: written by mkfs, covered by s_sum */
	__le16 s_sum;	  /* md_calc_csum() */
	__le16 s_version; /* FS_ver_major * ZUFS_MINORS_PER_MAJOR + minor */
	__le32 s_magic;	  /* the file system's FS_magic */
	uuid_le s_uuid;
	__le64 s_flags; /* MDT_F_* */
	__le64 s_t1_blocks;
	__le64 s_t2_blocks;

	struct md_dev_list s_dev_list;

	char s_start_dynamic[0];

	/* dynamic: may change after mkfs */
	__le64 s_mtime; /* mount time */
	__le64 s_wtime; /* write time */
};

enum enum_mdt_flags {
	MDT_F_SHADOW = (1UL << 0),   /* simulate cpu cache */
	MDT_F_POSIXACL = (1UL << 1), /* enable acls */

	MDT_F_USER_START = 8, /* first 8 bits reserved for mdt */
};

static inline bool mdt_test_option(const struct md_dev_table *mdt,
				   enum enum_mdt_flags flag)
{
	return (le64_to_cpu(mdt->s_flags) & (__u64)flag) != 0;
}

#define MD_MINORS_PER_MAJOR 1024

static inline int mdt_major_version(const struct md_dev_table *mdt)
{
	return le16_to_cpu(mdt->s_version) / MD_MINORS_PER_MAJOR;
}

static inline int mdt_minor_version(const struct md_dev_table *mdt)
{
	return le16_to_cpu(mdt->s_version) % MD_MINORS_PER_MAJOR;
}

#define MDT_STATIC_SIZE(mdt) offsetof(struct md_dev_table, s_start_dynamic)

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(struct md_dev_id) == 24, "md_dev_id");
static_assert(offsetof(struct md_dev_table, s_dev_list) == 64, "mdt");
static_assert(sizeof(struct md_dev_table) <= MDT_SIZE, "mdt size");
#else
_Static_assert(sizeof(struct md_dev_id) == 24, "md_dev_id");
_Static_assert(offsetof(struct md_dev_table, s_dev_list) == 64, "mdt");
_Static_assert(sizeof(struct md_dev_table) <= MDT_SIZE, "mdt size");
#endif

#endif /* ZUS_MD_DEF_H */
