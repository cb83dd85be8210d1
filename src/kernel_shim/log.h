// SPDX-License-Identifier: BSD-3-Clause
//
// log.h - one-line diagnostics of the shim (zuf's zuf_err / zuf_warn).
// A server that violates the ABI gets one line on stderr and the request
// gets -EIO; nothing in the shim aborts on what the server answers.
#ifndef ZUF_LOG_H
#define ZUF_LOG_H

#include <cstdio>

#define zuf_err(fmt, ...)                                                      \
	std::fprintf(stderr, "zufuse: shim: %s: " fmt "\n", __func__,          \
		     ##__VA_ARGS__)

#endif // ZUF_LOG_H
