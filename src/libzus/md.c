/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * md.c - libzus: the device table (md_def.h) helpers a file system and
 * its mkfs use, and the check the host makes at mount (md_mdt_check), in
 * zuf's order: magic (else the copy), version, checksum (else the copy),
 * a T1 size that is a non-zero multiple of the allocation unit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zus.h"

/* CRC-16 (reflected polynomial 0xA001, as zus's md), seed 0xFFFF. */
static uint16_t crc16(uint16_t crc, const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	while (len--) {
		crc ^= *p++;
		for (int bit = 0; bit < 8; ++bit)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) :
					  (uint16_t)(crc >> 1);
	}
	return crc;
}

short md_calc_csum(struct md_dev_table *mdt)
{
	/* from s_version to the end of the static part (s_sum excluded) */
	size_t n = MDT_STATIC_SIZE(mdt) - sizeof(mdt->s_sum);

	return (short)crc16(0xFFFF, &mdt->s_version, n);
}

static bool csum_ok(struct md_dev_table *mdt)
{
	return le16_to_cpu(mdt->s_sum) == (__u16)md_calc_csum(mdt);
}

bool md_mdt_check(struct md_dev_table *mdt, struct md_dev_table *main_mdt,
		  struct block_device *bdev, struct mdt_check *mc)
{
	struct md_dev_table *copy =
		(struct md_dev_table *)((char *)mdt + MDT_SIZE);
	const struct md_dev_list *dl;
	unsigned long size;

	(void)bdev;
	if (le32_to_cpu(mdt->s_magic) != mc->magic) {
		if (!mc->holder || le32_to_cpu(copy->s_magic) != mc->magic) {
			md_warn_cnd(mc->silent, "bad magic 0x%x (want 0x%x)\n",
				    le32_to_cpu(mdt->s_magic), mc->magic);
			return false;
		}
		memcpy(mdt, copy, sizeof(*mdt)); /* the copy is good */
	}
	if ((unsigned)mdt_major_version(mdt) != mc->major_ver ||
	    (unsigned)mdt_minor_version(mdt) > mc->minor_ver) {
		md_warn_cnd(mc->silent, "version %d.%d, file system is %u.%u\n",
			    mdt_major_version(mdt), mdt_minor_version(mdt),
			    mc->major_ver, mc->minor_ver);
		return false;
	}
	if (!csum_ok(mdt)) {
		if (!mc->holder || !csum_ok(copy) ||
		    le32_to_cpu(copy->s_magic) != mc->magic) {
			md_warn_cnd(mc->silent, "bad checksum 0x%x\n",
				    le16_to_cpu(mdt->s_sum));
			return false;
		}
		memcpy(mdt, copy, sizeof(*mdt));
	}
	if (main_mdt &&
	    memcmp(&mdt->s_uuid, &main_mdt->s_uuid, sizeof(mdt->s_uuid))) {
		md_warn_cnd(mc->silent, "uuid differs from the main device\n");
		return false;
	}
	dl = &mdt->s_dev_list;
	if (le16_to_cpu(dl->t1_count) < 1 ||
	    le16_to_cpu(dl->t1_count) + le16_to_cpu(dl->t2_count) >
		    MD_DEV_MAX ||
	    le16_to_cpu(dl->id_index) >= le16_to_cpu(dl->t1_count)) {
		md_warn_cnd(mc->silent, "bad device list (t1 %u t2 %u id %u)\n",
			    le16_to_cpu(dl->t1_count),
			    le16_to_cpu(dl->t2_count),
			    le16_to_cpu(dl->id_index));
		return false;
	}
	size = (unsigned long)md_p2o(
		__dev_id_blocks(&dl->dev_ids[le16_to_cpu(dl->id_index)]));
	if (!size || (size & mc->alloc_mask)) {
		md_warn_cnd(mc->silent, "device size 0x%lx not 2M aligned\n",
			    size);
		return false;
	}
	return true;
}

static unsigned long gcd(unsigned long a, unsigned long b)
{
	while (b) {
		unsigned long t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static int map_setup(struct multi_devices *md, unsigned long blocks, int first,
		     int count, struct md_dev_larray *la)
{
	unsigned long n, i, end;
	int dev = first;

	if (!la->bn_gcd)
		return -EINVAL;
	n = blocks / la->bn_gcd;
	la->map = (struct md_dev_info **)calloc(n ? n : 1, sizeof(*la->map));
	if (!la->map)
		return -ENOMEM;
	end = md_o2p(md->devs[dev].size);
	for (i = 0; i < n; ++i) {
		while (i * la->bn_gcd >= end && dev + 1 < first + count)
			end += md_o2p(md->devs[++dev].size);
		la->map[i] = &md->devs[dev];
	}
	return 0;
}

int md_init_from_pmem_info(struct multi_devices *md)
{
	struct md_dev_list *dl = &md->pmem_info.mdt.s_dev_list;
	unsigned long offset = 0;
	int i, err;

	md->t1_count = le16_to_cpu(dl->t1_count);
	md->t2_count = le16_to_cpu(dl->t2_count);
	if (md->t1_count < 1 || md->t1_count + md->t2_count > MD_DEV_MAX)
		return -EINVAL;
	md->t1a.bn_gcd = md->t2a.bn_gcd = 0;
	for (i = 0; i < md->t1_count + md->t2_count; ++i) {
		struct md_dev_info *mdi = &md->devs[i];
		bool t1 = i < md->t1_count;

		if (i == md->t1_count)
			offset = 0;
		memset(mdi, 0, sizeof(*mdi));
		mdi->index = i;
		mdi->offset = offset;
		mdi->size =
			(unsigned long)md_p2o(__dev_id_blocks(&dl->dev_ids[i]));
		mdi->nid = __dev_id_nid(&dl->dev_ids[i]);
		if (t1)
			mdi->t1i.virt_addr = (char *)md->p_pmem_addr + offset;
		offset += mdi->size;
		if (t1)
			md->t1a.bn_gcd = gcd(md->t1a.bn_gcd, md_o2p(mdi->size));
		else
			md->t2a.bn_gcd = gcd(md->t2a.bn_gcd, md_o2p(mdi->size));
	}
	err = map_setup(md, md_t1_blocks(md), 0, md->t1_count, &md->t1a);
	if (!err && md->t2_count)
		err = map_setup(md, md_t2_blocks(md), md->t1_count,
				md->t2_count, &md->t2a);
	return err;
}

void md_fini(struct multi_devices *md, struct block_device *s_bdev)
{
	(void)s_bdev;
	free(md->t1a.map);
	free(md->t2a.map);
	md->t1a.map = md->t2a.map = NULL;
}
