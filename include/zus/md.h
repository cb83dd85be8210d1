/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * md.h - the multi-device view of a mounted zus file system: its T1 (pmem)
 * mapping and the device table (md_def.h), with the block/offset/address
 * conversions every plugin uses.
 *
 * The host fills sbi->md before sbi_init: pmem_info (the device table as
 * read and checked), p_pmem_addr (the libpmem mapping of the image), the
 * device list (md_init_from_pmem_info). Block numbers (bn) are in
 * PAGE_SIZE units from the start of T1; offset 0 (the device table) is
 * never a data address, so md_addr(md, 0) is NULL.
 */
#ifndef ZUS_MD_H
#define ZUS_MD_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "md_def.h"
#include "zus_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fba - File Backed Allocation (pa.c of zus): memory from an mmap. */
struct fba {
	int fd;
	void *ptr;
	size_t size;
};

struct md_t1_info {
	void *virt_addr;
};

struct md_t2_info {
	bool err_read_reported;
	bool err_write_reported;
};

struct block_device;

struct md_dev_info {
	struct block_device *bdev;
	unsigned long size;   /* bytes */
	unsigned long offset; /* bytes from the start of its tier */
	union {
		struct md_t1_info t1i;
		struct md_t2_info t2i;
	};
	int index;
	int nid;
};

struct md_dev_larray {
	unsigned long bn_gcd;
	struct md_dev_info **map;
};

struct zus_sb_info;
struct multi_devices {
	int dev_index;
	int t1_count;
	int t2_count;
	struct md_dev_info devs[MD_DEV_MAX];
	struct md_dev_larray t1a;
	struct md_dev_larray t2a;

	struct zufs_ioc_pmem pmem_info; /* as the host read it at mount */

	void *p_pmem_addr; /* the T1 mapping */
	int fd;
	unsigned user_page_size;
	struct fba pages;
	struct zus_sb_info *sbi;
};

static inline __u64 md_p2o(unsigned long bn)
{
	return (__u64)bn << PAGE_SHIFT;
}

static inline unsigned long md_o2p(__u64 offset)
{
	return (unsigned long)(offset >> PAGE_SHIFT);
}

static inline unsigned long md_o2p_up(__u64 offset)
{
	return md_o2p(offset + PAGE_SIZE - 1);
}

static inline struct md_dev_info *md_t1_dev(struct multi_devices *md, int i)
{
	return &md->devs[i];
}

static inline struct md_dev_info *md_t2_dev(struct multi_devices *md, int i)
{
	return &md->devs[md->t1_count + i];
}

static inline struct md_dev_info *md_dev_info(struct multi_devices *md, int i)
{
	return &md->devs[i];
}

static inline void *md_t1_addr(struct multi_devices *md, int i)
{
	return md_t1_dev(md, i)->t1i.virt_addr;
}

static inline unsigned long md_t1_blocks(struct multi_devices *md)
{
	return (unsigned long)le64_to_cpu(md->pmem_info.mdt.s_t1_blocks);
}

static inline unsigned long md_t2_blocks(struct multi_devices *md)
{
	return (unsigned long)le64_to_cpu(md->pmem_info.mdt.s_t2_blocks);
}

static inline struct md_dev_table *md_zdt(struct multi_devices *md)
{
	return (struct md_dev_table *)md->p_pmem_addr;
}

static inline uuid_le *md_main_uuid(struct multi_devices *md)
{
	return &md_zdt(md)->s_dev_list.dev_ids[md->dev_index].uuid;
}

static inline void *md_addr(struct multi_devices *md, unsigned long offset)
{
	return offset ? (char *)md->p_pmem_addr + offset : NULL;
}

static inline void *md_baddr(struct multi_devices *md, unsigned long bn)
{
	return md_addr(md, md_p2o(bn));
}

/* NULL for an offset past T1 */
static inline void *md_addr_verify(struct multi_devices *md,
				   unsigned long offset)
{
	if (offset > md_p2o(md_t1_blocks(md)))
		return NULL;
	return md_addr(md, offset);
}

static inline unsigned long md_addr_to_offset(struct multi_devices *md,
					      void *addr)
{
	return (unsigned long)((char *)addr - (char *)md->p_pmem_addr);
}

static inline unsigned long md_addr_to_bn(struct multi_devices *md,
					  void *addr)
{
	return md_o2p(md_addr_to_offset(md, addr));
}

static inline unsigned long md_t2_local_bn(struct multi_devices *md,
					   unsigned long bn)
{
	(void)md;
	return bn;
}

static inline unsigned long md_t2_gcd(struct multi_devices *md)
{
	return md->t2a.bn_gcd;
}

/* What md_mdt_check() checks a table against. */
struct mdt_check {
	unsigned long alloc_mask; /* ZUFS_ALLOC_MASK */
	unsigned major_ver;
	unsigned minor_ver;
	__u32 magic;

	void *holder;
	bool silent;
	bool private_mnt;
};

/* libzus (md.c) */
short md_calc_csum(struct md_dev_table *mdt);
/* The table at mdt is good for mc (magic, version, checksum, device list,
 * a 2 MiB-aligned size); with mc->holder set a bad table is replaced by its
 * copy at mdt + MDT_SIZE when that one is good. False with a line on
 * stderr (unless mc->silent). */
bool md_mdt_check(struct md_dev_table *mdt, struct md_dev_table *main_mdt,
		  struct block_device *bdev, struct mdt_check *mc);
int md_init_from_pmem_info(struct multi_devices *md);
void md_fini(struct multi_devices *md, struct block_device *s_bdev);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZUS_MD_H */
