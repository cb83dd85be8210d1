/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * _pr.h - the print helpers of a zus file system: ERROR and INFO always
 * (to stderr), DBG when bit 0 of g_DBGMASK is set (libzus reads it from
 * the environment variable ZUS_DBGMASK when it is loaded).
 */
#ifndef ZUS__PR_H
#define ZUS__PR_H

#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* syslog levels as a "<N>" prefix, as the kernel's printk */
#define LOG_STR(level) "<" #level ">"
#define ZUS_LOG_ERR 3
#define ZUS_LOG_WARNING 4
#define ZUS_LOG_INFO 6

extern unsigned long g_DBGMASK;
#define ZUS_DBGPRNT (g_DBGMASK & 1)

#define ERROR(fmt, ...)                                                        \
	fprintf(stderr, "<3>zus: [%s:%d]: " fmt, __func__, __LINE__,           \
		##__VA_ARGS__)
#define INFO(fmt, ...) fprintf(stderr, "<6>zus: ~info~ " fmt, ##__VA_ARGS__)

#define DBG(fmt, ...)                                                          \
	do {                                                                   \
		if (__builtin_expect(!!ZUS_DBGPRNT, 0))                        \
			fprintf(stderr, "<6>zus: [%s:%d]: " fmt, __func__,     \
				__LINE__, ##__VA_ARGS__);                      \
	} while (0)

#define DBGCONT(fmt, ...)                                                      \
	do {                                                                   \
		if (__builtin_expect(!!ZUS_DBGPRNT, 0))                        \
			fprintf(stderr, fmt, ##__VA_ARGS__);                   \
	} while (0)

#define md_dbg_err DBG
#define md_warn_cnd(silent, fmt, ...)                                          \
	do {                                                                   \
		if (!(silent))                                                 \
			fprintf(stderr, "<4>md-zus: [%s:%d] " fmt, __func__,   \
				__LINE__, ##__VA_ARGS__);                      \
	} while (0)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZUS__PR_H */
