/* SPDX-License-Identifier: BSD-3-Clause */
/* examplefs whose sbi_init fails (as on an image it cannot use). */
#include "zus.h"
#undef REGISTER_FS_FN
#define REGISTER_FS_FN examplefs_register_fs
#include "../../../examples/examplefs/examplefs.c"

static int fail_sbi_init(struct zus_sb_info *sbi, struct zufs_ioc_mount *zim)
{
	(void)sbi;
	(void)zim;
	return -ENOMEM;
}

static struct zus_zfi_operations fail_zfi_op;
static struct zus_fs_info fail_zfi;

int register_fs(int fd)
{
	fail_zfi_op = exfs_zfi_op;
	fail_zfi_op.sbi_init = fail_sbi_init;
	fail_zfi = exfs_zfi;
	strcpy(fail_zfi.rfi.fsname, "failinit");
	fail_zfi.op = &fail_zfi_op;
	return zus_register_one(fd, &fail_zfi);
}
