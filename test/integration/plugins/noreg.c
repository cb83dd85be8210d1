/* SPDX-License-Identifier: BSD-3-Clause */
/* A shared library that is not a zus file system: no register_fs(). */
int not_a_file_system(void);
int not_a_file_system(void) { return 0; }
