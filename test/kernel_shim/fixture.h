// SPDX-License-Identifier: BSD-3-Clause
// A Vfs mounted on the fake server, with a recording Invalidator.
#ifndef ZUF_TEST_FIXTURE_H
#define ZUF_TEST_FIXTURE_H

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fake_server.h"
#include "kernel_shim/vfs.h"

struct RecordingInvalidator : zuf::Invalidator {
	struct Call {
		uint64_t ino, offset, len;
	};
	std::vector<Call> calls;
	void invalidate(uint64_t ino, uint64_t offset, uint64_t len) override
	{
		calls.push_back({ ino, offset, len });
	}
};

// Page-aligned heap memory.
struct AlignedBuf {
	explicit AlignedBuf(size_t size)
	    : p(static_cast<char *>(std::aligned_alloc(
		      PAGE_SIZE, (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))))
	{
	}
	~AlignedBuf() { std::free(p); }
	AlignedBuf(const AlignedBuf &) = delete;
	AlignedBuf &operator=(const AlignedBuf &) = delete;
	char *p;
};

struct ShimFixture {
	fake::FakeServer srv;
	RecordingInvalidator inval;
	zuf::Vfs vfs;

	explicit ShimFixture(zuf::VfsOptions opts = { "pmem=/x" })
	    : vfs(srv, opts, &inval)
	{
		std::string err;
		REQUIRE(vfs.mount(&err) == 0);
	}
	// A test's srv.hook captures locals that die before the fixture: the
	// umount in ~Vfs must not call it (ASan: stack-use-after-scope).
	~ShimFixture() { srv.hook = nullptr; }

	uint64_t create(const std::string &name, uint64_t parent = 1)
	{
		zuf::Entry e;
		REQUIRE(vfs.mknod(parent, name, S_IFREG | 0644, 0, 0, 0, &e) ==
			0);
		return e.ino;
	}

	std::unique_ptr<zuf::File> open(uint64_t ino, int flags = O_RDWR)
	{
		std::unique_ptr<zuf::File> f;
		REQUIRE(vfs.open(ino, flags, &f) == 0);
		return f;
	}

	ssize_t write(zuf::File &f, const void *p, size_t n, uint64_t pos,
		      int oflags = 0)
	{
		iovec v = { const_cast<void *>(p), n };
		return vfs.write(f, { &v, 1 }, pos, oflags);
	}

	ssize_t read(zuf::File &f, void *p, size_t n, uint64_t pos)
	{
		iovec v = { p, n };
		return vfs.read(f, { &v, 1 }, pos);
	}
};

#endif // ZUF_TEST_FIXTURE_H
