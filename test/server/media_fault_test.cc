// SPDX-License-Identifier: BSD-3-Clause
// Media faults under pmfs (fault/guard.h): a SIGBUS in a data copy fails
// that request only, a write into new blocks aborts its transaction (the
// image stays consistent), and the image is reserved, not sparse.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "fault/inject.h"
#include "harness.h"
#include "server/pmfs/format.h"
#include "server/pmfs/pmfs.h"

using namespace ztest;

namespace {

struct Rules {
	explicit Rules(const char *spec)
	{
		std::string err;
		REQUIRE(zufs::fault::set_rules(spec, &err) == 0);
	}
	~Rules()
	{
		std::string err;
		zufs::fault::set_rules("", &err);
	}
};

uint64_t allocated(const std::string &path)
{
	struct stat st;
	REQUIRE(stat(path.c_str(), &st) == 0);
	return uint64_t(st.st_blocks) * 512;
}

} // namespace

TEST_CASE("an injected fault fails one write; the image stays consistent",
	  "[server][fault]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	const std::string a(8192, 'a'), b(4096, 'b');
	REQUIRE(fs.write(f, 0, a) == 0);
	{
		Rules r("write:next=1");
		const uint64_t free0 = fs.sbi->balloc.free_blocks();
		// Into a hole: the new block is never linked, and never handed
		// out again during this mount.
		CHECK(fs.write(f, 8192, b) == -EIO);
		CHECK(f.zi->i_size == 8192);
		CHECK(fs.check().errors == 0);
		CHECK(fs.sbi->balloc.free_blocks() == free0 - 1);
		CHECK(fs.write(f, 8192, b) == 0); // the next one works
		CHECK(fs.sbi->balloc.free_blocks() == free0 - 2);
		// In place: fails, the next one works.
		Rules r2("write:next=1");
		CHECK(fs.write(f, 0, b) == -EIO);
		CHECK(fs.write(f, 4096, b) == 0);
	}
	CHECK(same(fs.read(f, 0, 4096),
		   a.substr(0, 4096))); // untouched (failed at its first byte)
	CHECK(same(fs.read(f, 4096, 8192), b + b));
	REQUIRE(fs.remount() == 0);
	CHECK(fs.check().errors == 0);
}

TEST_CASE("an injected read fault fails the read", "[server][fault]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	const std::string d = std::string(4096, 'x') + std::string(4096, 'y');
	REQUIRE(fs.write(f, 0, d) == 0);
	Rules r("read:after=1,next=2");
	int err = 0;
	fs.read(f, 0, 8192, 0, &err); // the second block faults
	CHECK(err == -EIO);
	fs.read(f, 4096, 4096, 0, &err);
	CHECK(err == -EIO);
	CHECK(same(fs.read(f, 0, 8192), d)); // the fault is gone
}

TEST_CASE("an image file shrunk under the mount: EIO there, the rest served",
	  "[server][fault]")
{
	Fs fs(32ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	const std::string da(5000, 'a');
	REQUIRE(fs.write(a, 0, da) == 0);
	// b fills the image: its last blocks are at the end of the file.
	std::string blk(4096, 'b');
	uint64_t pos = 0;
	while (fs.write(b, pos, blk) == 0)
		pos += 4096;
	REQUIRE(pos > (16u << 20));
	const uint64_t last = pos - 4096;

	REQUIRE(truncate(fs.path.c_str(), 24 << 20) == 0);
	int err = 0;
	fs.read(b, last, 4096, 0, &err);
	CHECK(err == -EIO);
	CHECK(fs.write(b, last, blk) == -EIO);
	CHECK(same(fs.read(a, 0, 5000), da));
	CHECK(same(fs.read(b, 0, 4096), blk));

	REQUIRE(truncate(fs.path.c_str(), 32 << 20) == 0); // restored, as zeros
	CHECK(same(fs.read(a, 0, 5000), da));
	CHECK(fs.write(b, 0, std::string(4096, 'c')) == 0);
	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "a", &a) == 0);
	CHECK(same(fs.read(a, 0, 5000), da));
	// What was in the lost range is zeros now: b's data there, and the
	// block-map blocks b had there, so blocks only they pointed to leak.
	// fsck says so, and nothing else.
	auto c = fs.check();
	INFO(c.report);
	CHECK(c.report.find("leaked") != std::string::npos);
	CHECK(c.report.find("inode " + std::to_string(a.zi->i_ino)) ==
	      std::string::npos);
}

TEST_CASE(
	"a lost block-map page outside a guarded copy stops the mount, not the process",
	"[server][fault]")
{
	Fs fs(32ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	const std::string da(5000, 'a');
	REQUIRE(fs.write(a, 0, da) == 0);
	std::string blk(4096, 'b');
	uint64_t pos = 0;
	while (fs.write(b, pos, blk) == 0)
		pos += 4096;
	REQUIRE(truncate(fs.path.c_str(), 24 << 20) == 0);
	// Truncating b walks its block map (leaves in the lost range) inside
	// a transaction: the pages become zeros, the request fails, and the
	// file system answers EIO from now on.
	CHECK(fs.setattr(b, STATX_SIZE, 0) == -EIO);
	int err = 0;
	fs.read(a, 0, 5000, 0, &err);
	CHECK(err == -EIO);
	REQUIRE(fs.umount() == 0);
	REQUIRE(truncate(fs.path.c_str(), 32 << 20) == 0);
	REQUIRE(fs.mount("") == 0); // recovery rolls back what was in flight
	REQUIRE(fs.lookup(fs.root, "a", &a) == 0);
	CHECK(same(fs.read(a, 0, 5000), da));
	auto c = fs.check();
	INFO(c.report);
	CHECK(c.report.find("inode " + std::to_string(a.zi->i_ino)) ==
	      std::string::npos);
}

TEST_CASE("images are allocated, not sparse, and an old sparse one is reserved",
	  "[server][fault]")
{
	const std::string path = temp_image();
	::unlink(path.c_str());
	std::string err;
	{
		zus::pmfs::Image img;
		REQUIRE(img.open(path, 32ULL << 20, &err) == 0);
		CHECK(img.created);
	}
	CHECK(allocated(path) >= (32ULL << 20));
	// A sparse image, as older versions made: reserved at open, kept as is
	// when asked not to (fsck).
	REQUIRE(truncate(path.c_str(), 0) == 0);
	REQUIRE(truncate(path.c_str(), 48 << 20) == 0);
	{
		zus::pmfs::Image img;
		REQUIRE(img.open(path, 0, &err, /*ro=*/true) == 0);
	}
	CHECK(allocated(path) < (1 << 20));
	{
		zus::pmfs::Image img;
		REQUIRE(img.open(path, 0, &err) == 0);
	}
	CHECK(allocated(path) >= (48ULL << 20));
	::unlink(path.c_str());
}
