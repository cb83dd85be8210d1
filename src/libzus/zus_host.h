/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zus_host.h - what libzus offers its host (zufuse's plugin loader and
 * runtime), beyond the plugin API of zus.h: the registry that
 * zus_register_one() fills, and the hook that carries a plugin's
 * ZU_IOC_IOMAP_EXEC to the shim. Private to zufuse: not installed.
 */
#ifndef ZUS_HOST_H
#define ZUS_HOST_H

#ifdef __cplusplus
extern "C" {
#endif

struct zus_fs_info;
struct zus_sb_info;
struct zufs_ioc_iomap_exec;

/* Registered file systems, in registration order (NULL past the end). */
struct zus_fs_info *zus_host_fs_at(int i);
/* The one named name (rfi.fsname), or NULL. */
struct zus_fs_info *zus_host_fs_find(const char *name);
/* How many register_fs() calls have registered so far. */
int zus_host_fs_count(void);

/*
 * zufuse's extension of a registered file system: how the host serves it
 * when it takes zufuse's messages itself (the runtime's zus::Door, opaque
 * here; pmfs's). The host serves a file system through its extension when
 * it has one, else through the seed's op vectors. set: 0, or -ENOENT for
 * a file system not registered.
 */
int zus_host_set_ext(struct zus_fs_info *zfi, const void *ext);
const void *zus_host_ext(const struct zus_fs_info *zfi);

/* _zus_iom_ioc_exec_submit() calls fn (NULL: -ENOTSUP). */
typedef int (*zus_host_iomap_exec_fn)(struct zus_sb_info *sbi,
				      struct zufs_ioc_iomap_exec *ioc);
void zus_host_set_iomap_exec(zus_host_iomap_exec_fn fn);

#ifdef __cplusplus
}
#endif

#endif /* ZUS_HOST_H */
