// SPDX-License-Identifier: BSD-3-Clause
//
// reflink_test.cc - copy_file_range through a mount shares blocks
// copy-on-write (server/pmfs/refc.h): a 16 MiB copy barely changes the free
// block count, both files read the same, a write to the copy leaves the
// original alone (the shim's caches are dropped where the blocks changed),
// everything survives a remount, and fsck -n is clean.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "integration.h"

namespace {

uint64_t bfree(const std::string &path)
{
	struct statvfs sv {};
	REQUIRE(statvfs(path.c_str(), &sv) == 0);
	return sv.f_bfree;
}

} // namespace

TEST_CASE("copy_file_range shares blocks copy-on-write",
	  "[integration][reflink]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	const size_t size = 16 << 20;
	const std::string data = zit::pattern(31, size);
	REQUIRE(zit::write_file(m.path("orig"), data));
	int in = open(m.path("orig").c_str(), O_RDONLY);
	int out = open(m.path("copy").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE((in >= 0 && out >= 0));
	REQUIRE(fsync(in) == 0);
	const uint64_t before = bfree(m.mnt());
	loff_t oi = 0, oo = 0;
	size_t left = size;
	while (left) {
		ssize_t n = copy_file_range(in, &oi, out, &oo, left, 0);
		REQUIRE(n > 0);
		left -= n;
	}
	const uint64_t after = bfree(m.mnt());
	INFO("free blocks before " << before << ", after " << after);
	CHECK(before - after < 64); // not 4096: only tree nodes are new
	struct stat so {
	}, sc{};
	REQUIRE(fstat(in, &so) == 0);
	REQUIRE(fstat(out, &sc) == 0);
	CHECK(sc.st_size == off_t(size));
	CHECK(sc.st_blocks ==
	      so.st_blocks); // each file counts its shared blocks
	CHECK(zit::read_file(m.path("copy")) == data);

	// A write into the copy: the original keeps its bytes.
	std::string changed = data;
	REQUIRE(pwrite(out, "COPY-ON-WRITE", 13, 5 << 20) == 13);
	changed.replace(5 << 20, 13, "COPY-ON-WRITE");
	char buf[13];
	REQUIRE(pread(out, buf, 13, 5 << 20) == 13);
	CHECK(std::string(buf, 13) == "COPY-ON-WRITE");
	close(in);
	close(out);
	CHECK(zit::read_file(m.path("orig")) == data);
	CHECK(zit::read_file(m.path("copy")) == changed);

	REQUIRE_UNMOUNT(m);
	auto f = m.fsck();
	if (f.status != -2) {
		INFO(f.out << f.err);
		CHECK(f.status == 0);
	}
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("orig")) == data);
	CHECK(zit::read_file(m.path("copy")) == changed);
	// Both gone: every block is free again.
	REQUIRE(unlink(m.path("orig").c_str()) == 0);
	CHECK(zit::read_file(m.path("copy")) == changed);
	REQUIRE(unlink(m.path("copy").c_str()) == 0);
	REQUIRE_UNMOUNT(m);
	f = m.fsck();
	if (f.status != -2) {
		INFO(f.out << f.err);
		CHECK(f.status == 0);
	}
}
