// SPDX-License-Identifier: BSD-3-Clause
//
// nullfs_uring.cc - `nullfs_ll --uring`: the null file system served by
// zufuse's io_uring transport (src/kernel_shim/fuse_uring.h, the same
// code as zufuse's default) instead of libfuse's loop. It answers every
// request at once, so against zufuse in the same run it splits a request's
// time into the transport's share and the file system's.
#include <fuse_lowlevel.h>

#include <cstdio>
#include <memory>
#include <string>

#include "kernel_shim/fuse_uring.h"
#include "kernel_shim/fuse_wire.h"

namespace {
std::unique_ptr<zuf::uring::Rings> g_rings;
}

// After fuse_session_mount, before the loop: 0, or -1 after one line.
extern "C" int nullfs_uring_start(struct fuse_session *se)
{
	std::string msg, note;
	if (zuf::uring::enable(&msg, &note)) {
		std::fprintf(stderr, "nullfs_ll: %s\n", msg.c_str());
		return -1;
	}
	if (int err = zuf::wire::install(se)) {
		std::fprintf(stderr, "nullfs_ll: custom fuse i/o: error %d\n",
			     -err);
		return -1;
	}
	std::string err;
	g_rings = zuf::uring::Rings::create(se, &err);
	if (!g_rings) {
		std::fprintf(stderr, "nullfs_ll: %s\n", err.c_str());
		return -1;
	}
	zuf::wire::want_uring([rings = g_rings.get()] { rings->start(); });
	return 0;
}

// After the loop ended and the session was unmounted.
extern "C" void nullfs_uring_stop(void)
{
	zuf::wire::want_uring(nullptr);
	g_rings.reset();
}
