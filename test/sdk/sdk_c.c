/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every SDK header (include/zus) in a C (gnu11) plugin, built with -Wall
 * -Wextra -Werror; the run checks the helpers plugins inline, and that
 * -lzus alone resolves what movnt.h declares.
 */
#include "zus.h"
#include "iom_enc.h"
#include "b-minmax.h"
#include "movnt.h"

int main(void)
{
	struct md_dev_table mdt;
	char page[512];
	struct zufs_ioc_readdir zir;
	struct zufs_readdir_iter rdi;

	memset(&mdt, 0, sizeof(mdt));
	mdt.s_magic = 0x1234;
	mdt.s_sum = cpu_to_le16((uint16_t)md_calc_csum(&mdt));
	if (le16_to_cpu(mdt.s_sum) != (uint16_t)md_calc_csum(&mdt))
		return 1;
	mdt.s_magic = 0x1235; /* covered by the checksum */
	if (le16_to_cpu(mdt.s_sum) == (uint16_t)md_calc_csum(&mdt))
		return 2;

	memset(&zir, 0, sizeof(zir));
	zir.hdr.len = sizeof(page);
	zufs_readdir_iter_init(&rdi, &zir, page);
	if (!zufs_zde_emit(&rdi, 1, 4, 0, ".", 1) ||
	    !zufs_zde_emit(&rdi, 1, 4, 1, "..", 2))
		return 3;
	while (zufs_zde_emit(&rdi, 7, 8, 2, "a-long-name-of-thirty-bytes..",
			     29))
		;
	if (!zir.more || min(3, 4) != 3 || max_t(long, 3, 4) != 4)
		return 4;

	/* movnt.h's copy and flush, linked with -lzus alone (toyfs's
	 * file.c copies with pmem_memmove_persist) */
	static char src[300] = "to pmem", dst[300];
	if (memcpy_to_pmem(dst, src, sizeof(src)) != dst || strcmp(dst, src))
		return 5;
	cl_flush_opt(dst, sizeof(dst));
	memzero_nt(dst, sizeof(dst));
	if (dst[0] || dst[299])
		return 6;
	return 0;
}
