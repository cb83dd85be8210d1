/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iom_enc.h - build an iomap (zufs/zus_api.h: ZUFS_IOM_TYPE) into the
 * ziom of a zufs_ioc_IO answer, or of a zufs_ioc_iomap_exec. Encoding is
 * done here only; the host's shim decodes and checks it.
 *
 * Usage: _zus_iom_init_4_ioc_io(&iomb, sbi, io, bytes of io), then
 * _zus_iom_start(), then _zus_iom_enc_*() (each -ENOSPC when the room is
 * used up), then _zus_iom_end() (NONE-terminates and sets iom_n).
 */
#ifndef ZUS_IOM_ENC_H
#define ZUS_IOM_ENC_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "zus.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zus_iomap_build;
typedef void (*iomb_done_fn)(struct zus_iomap_build *iomb);
typedef void (*iomb_submit_fn)(struct zus_iomap_build *iomb, bool sync);

struct zus_iomap_build {
	iomb_done_fn done;
	iomb_submit_fn submit;
	void *priv;
	struct zus_sb_info *sbi; /* for an ioc_exec */
	int fd;
	int err;

	void *cur_iom_e;
	void *end_iom_e;

	struct zufs_iomap *ziom;
	union {
		struct zufs_ioc_iomap_exec *ioc_exec;
		struct zufs_ioc_IO *ioc_io;
	};
};

/* libzus: hand an ioc_exec iomap to the host's shim (ZU_IOC_IOMAP_EXEC). */
void _zus_iom_ioc_exec_submit(struct zus_iomap_build *iomb, bool sync);

static inline unsigned long _zus_iom_len(struct zus_iomap_build *iomb)
{
	return (unsigned long)((__u64 *)iomb->cur_iom_e - iomb->ziom->iom_e);
}

static inline bool _zus_iom_empty(struct zus_iomap_build *iomb)
{
	return !_zus_iom_len(iomb);
}

static inline void _zus_iom_enc_type_val(__u64 *ptr, enum ZUFS_IOM_TYPE type,
					 unsigned long val)
{
	ZUS_WARN_ON(val & ~ZUFS_IOM_FIRST_VAL_MASK);
	*ptr = (__u64)val | ((__u64)type << ZUFS_IOM_VAL_BITS);
}

/* room: from ziom->iom_e up to end_ptr */
static inline void _zus_iom_common_init(struct zus_iomap_build *iomb,
					struct zus_sb_info *sbi,
					struct zufs_iomap *ziom, void *end_ptr)
{
	memset(ziom, 0, sizeof(*ziom));
	ziom->iom_max = (__u32)(((char *)end_ptr - (char *)ziom->iom_e) /
				sizeof(__u64));
	iomb->sbi = sbi;
	iomb->ziom = ziom;
	iomb->end_iom_e = end_ptr;
}

static inline void _zus_iom_init_4_ioc_exec(struct zus_iomap_build *iomb,
					    struct zus_sb_info *sbi, int fd,
					    struct zufs_ioc_iomap_exec *ioc_exec,
					    unsigned max_bytes)
{
	_zus_iom_common_init(iomb, sbi, &ioc_exec->ziom,
			     (char *)ioc_exec + max_bytes);
	iomb->fd = fd;
	iomb->submit = _zus_iom_ioc_exec_submit;
	iomb->ioc_exec = ioc_exec;
}

static inline void _zus_iom_init_4_ioc_io(struct zus_iomap_build *iomb,
					  struct zus_sb_info *sbi,
					  struct zufs_ioc_IO *ioc_io,
					  unsigned max_bytes)
{
	_zus_iom_common_init(iomb, sbi, &ioc_io->ziom,
			     (char *)ioc_io + max_bytes);
	iomb->ioc_io = ioc_io;
}

static inline void _zus_iom_start(struct zus_iomap_build *iomb, void *priv,
				  iomb_done_fn done)
{
	iomb->cur_iom_e = iomb->ziom->iom_e;
	if (iomb->ziom->iom_max)
		iomb->ziom->iom_e[0] = 0;
	iomb->done = done;
	iomb->priv = priv;
}

static inline void _zus_iom_end(struct zus_iomap_build *iomb)
{
	if ((char *)iomb->cur_iom_e + sizeof(__u64) <= (char *)iomb->end_iom_e)
		_zus_iom_enc_type_val((__u64 *)iomb->cur_iom_e, IOM_NONE, 0);
	if (iomb->ziom)
		iomb->ziom->iom_n = (__u32)_zus_iom_len(iomb);
}

/* IOM_UNMAP: drop cached pages [index, index + n) (n 0: to EOF) of ino. */
static inline int _zus_iom_enc_unmap(struct zus_iomap_build *iomb,
				     unsigned long index, unsigned long n,
				     unsigned long ino)
{
	struct zufs_iom_unmap *iom = (struct zufs_iom_unmap *)iomb->cur_iom_e;
	char *next = (char *)(iom + 1);

	if ((char *)iomb->end_iom_e < next)
		return -ENOSPC;
	ZUS_WARN_ON(index & ~ZUFS_IOM_FIRST_VAL_MASK);
	iom->unmap_index = (__u64)index | ((__u64)IOM_UNMAP << ZUFS_IOM_VAL_BITS);
	iom->unmap_n = n;
	iom->ino = ino;
	iomb->cur_iom_e = next;
	return 0;
}

static inline int _zus_iom_enc_t2_io(struct zus_iomap_build *iomb,
				     unsigned long t2_bn, zu_dpp_t t1_val,
				     enum ZUFS_IOM_TYPE type)
{
	struct zufs_iom_t2_io *iom = (struct zufs_iom_t2_io *)iomb->cur_iom_e;
	char *next = (char *)(iom + 1);

	if ((char *)iomb->end_iom_e < next)
		return -ENOSPC;
	_zus_iom_enc_type_val(&iom->t2_val, type, t2_bn);
	iom->t1_val = t1_val;
	iomb->cur_iom_e = next;
	return 0;
}

static inline int _zus_iom_enc_t2_write(struct zus_iomap_build *iomb,
					unsigned long t2_bn, zu_dpp_t t1_val)
{
	return _zus_iom_enc_t2_io(iomb, t2_bn, t1_val, IOM_T2_WRITE);
}

static inline int _zus_iom_enc_t2_read(struct zus_iomap_build *iomb,
				       unsigned long t2_bn, zu_dpp_t t1_val)
{
	return _zus_iom_enc_t2_io(iomb, t2_bn, t1_val, IOM_T2_READ);
}

static inline int _zus_iom_enc_t2_zusmem_io(struct zus_iomap_build *iomb,
					    unsigned long t2_bn, void *ptr,
					    unsigned long len,
					    enum ZUFS_IOM_TYPE type)
{
	struct zufs_iom_t2_zusmem_io *iom =
		(struct zufs_iom_t2_zusmem_io *)iomb->cur_iom_e;
	char *next = (char *)(iom + 1);

	if ((char *)iomb->end_iom_e < next)
		return -ENOSPC;
	_zus_iom_enc_type_val(&iom->t2_val, type, t2_bn);
	iom->zus_mem_ptr = (__u64)(uintptr_t)ptr;
	iom->len = len;
	iomb->cur_iom_e = next;
	return 0;
}

static inline int _zus_iom_enc_t2_zusmem_write(struct zus_iomap_build *iomb,
					       unsigned long t2_bn, void *ptr,
					       unsigned long len)
{
	return _zus_iom_enc_t2_zusmem_io(iomb, t2_bn, ptr, len,
					 IOM_T2_ZUSMEM_WRITE);
}

static inline int _zus_iom_enc_t2_zusmem_read(struct zus_iomap_build *iomb,
					      unsigned long t2_bn, void *ptr,
					      unsigned long len)
{
	return _zus_iom_enc_t2_zusmem_io(iomb, t2_bn, ptr, len,
					 IOM_T2_ZUSMEM_READ);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZUS_IOM_ENC_H */
