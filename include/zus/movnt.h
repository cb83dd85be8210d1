/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * movnt.h - persistence helpers for a zus file system: flush cache lines,
 * zero or copy into pmem durably (libzus, with libpmem underneath).
 */
#ifndef ZUS_MOVNT_H
#define ZUS_MOVNT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <emmintrin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CACHELINE_SHIFT (6)
#define CACHELINE_SIZE (1UL << CACHELINE_SHIFT)

/* Flush every cache line of [buf, buf + len). */
static inline void cl_flush(void *buf, uint32_t len)
{
	uintptr_t p = (uintptr_t)buf & ~(CACHELINE_SIZE - 1);
	uintptr_t end = (uintptr_t)buf + len;

	for (; p < end; p += CACHELINE_SIZE)
		_mm_clflush((const void *)p);
}

/* cl_flush and a fence (libzus picks clflushopt when the CPU has it). */
extern void (*cl_flush_opt)(void *buf, uint32_t len);

static inline void memzero_nt(void *dst, size_t len)
{
	memset(dst, 0, len);
	cl_flush(dst, (uint32_t)len);
	_mm_sfence();
}

/* Copy into pmem, durable at return: zus's pmem_memmove_persist, which
 * libzus provides (as zus's libzus did), so -lzus alone links it into a
 * plugin or its mkfs. libzus's is libpmem's underneath; the macro keeps
 * the two apart in a program that links both. */
void *zus_pmem_memmove_persist(void *pmemdest, const void *src, size_t len);
#define pmem_memmove_persist zus_pmem_memmove_persist
#define memcpy_to_pmem pmem_memmove_persist

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZUS_MOVNT_H */
