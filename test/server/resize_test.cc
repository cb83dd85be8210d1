// SPDX-License-Identifier: BSD-3-Clause
//
// Growing a file system at mount (size=, resize.cc): the new blocks are
// usable, files survive, fsck is clean; a crash at any durability point of
// the growth leaves an image that mounts, at the old size or the new one,
// with its files, and that a second growing mount finishes.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "harness.h"
#include "server/persist.h"
#include "server/pmfs/layout.h"

using namespace ztest;
using zus::pmfs::kBlockSize;
using zus::pmfs::pmfs_super;

namespace {

constexpr uint64_t kOld = 16ULL << 20, kNew = 48ULL << 20;

pmfs_super read_super(const std::string &path)
{
	pmfs_super s{};
	int fd = open(path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, &s, sizeof(s), 0) == sizeof(s));
	close(fd);
	return s;
}

// What the growth writes: the metadata blocks [0, data_blk) and the new
// last block (the tail copy). A snapshot of those at each DRAIN is the
// image as a crash right there would leave it (nothing else changes while
// a clean image is mounted).
struct Snapshots {
	int fd = -1;
	size_t meta_len = 0;
	off_t tail = 0;
	std::vector<std::string> meta, last;
} g_snap;

void on_persist(zus::PersistEvent ev, const void *, size_t)
{
	if (ev != zus::PersistEvent::DRAIN || g_snap.fd < 0)
		return;
	std::string m(g_snap.meta_len, '\0'), t(kBlockSize, '\0');
	if (pread(g_snap.fd, m.data(), m.size(), 0) != ssize_t(m.size()) ||
	    pread(g_snap.fd, t.data(), t.size(), g_snap.tail) !=
		    ssize_t(t.size()))
		return;
	g_snap.meta.push_back(std::move(m));
	g_snap.last.push_back(std::move(t));
}

std::string read_all(const std::string &path, size_t len = kNew)
{
	std::string data(len, '\0');
	int fd = open(path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, data.data(), data.size(), 0) == ssize_t(data.size()));
	close(fd);
	return data;
}

void write_at(const std::string &path, off_t off, const std::string &data)
{
	int fd = open(path.c_str(), O_WRONLY);
	REQUIRE(pwrite(fd, data.data(), data.size(), off) ==
		ssize_t(data.size()));
	close(fd);
}

void make_files(Fs &fs)
{
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, pattern(3 << 20, 7)) == 0);
	fs.evict(f);
	REQUIRE(fs.umount() == 0);
}

void check_files(Fs &fs)
{
	Inode f;
	REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
	CHECK(same(fs.read(f, 0, 3 << 20), pattern(3 << 20, 7)));
	fs.evict(f);
}

uint64_t total_blocks(Fs &fs)
{
	struct statfs64 st {};
	REQUIRE(fs.statfs(&st) == 0);
	return st.f_blocks;
}

} // namespace

TEST_CASE("size= grows the file system: new blocks usable, files kept",
	  "[server][resize]")
{
	Fs fs(kOld);
	make_files(fs);
	REQUIRE(fs.mount("") == 0);
	const uint64_t before = total_blocks(fs);
	REQUIRE(fs.umount() == 0);

	REQUIRE(fs.mount_opts("pmem=" + fs.path +
			      ",size=" + std::to_string(kNew)) == 0);
	const uint64_t after = total_blocks(fs);
	CHECK(after == before + (kNew - kOld) / kBlockSize);
	check_files(fs);
	// Fill past the old size.
	Inode g;
	REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
	const std::string big = pattern(24 << 20, 9);
	for (size_t at = 0; at < big.size(); at += ZUS_API_MAP_MAX_SIZE)
		REQUIRE(fs.write(g, at, big.substr(at, ZUS_API_MAP_MAX_SIZE)) ==
			0);
	fs.evict(g);
	{
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
	REQUIRE(fs.umount() == 0);
	const pmfs_super s = read_super(fs.path);
	CHECK(s.s_size == kNew - kBlockSize);
	// The tail copy moved to the new last block.
	std::string tail(sizeof(pmfs_super), '\0');
	int fd = open(fs.path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, tail.data(), tail.size(), off_t(s.s_size)) ==
		ssize_t(tail.size()));
	close(fd);
	CHECK(memcmp(tail.data(), &s, sizeof(s)) == 0);
	std::string report;
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
}

TEST_CASE(
	"size= smaller than the image, or past the room mkfs left, is refused "
	"and changes nothing",
	"[server][resize]")
{
	Fs fs(2 * kOld);
	make_files(fs);
	const std::string before = read_all(fs.path, 2 * kOld);
	CHECK(fs.mount_opts("pmem=" + fs.path +
			    ",size=" + std::to_string(kOld)) == -EINVAL);
	CHECK(fs.errmsg.find("smaller than the image") != std::string::npos);
	CHECK(fs.mount_opts("pmem=" + fs.path +
			    ",size=" + std::to_string(kOld * 64)) == -ENOSPC);
	CHECK(fs.errmsg.find("cannot grow in place") != std::string::npos);
	struct stat st;
	REQUIRE(stat(fs.path.c_str(), &st) == 0);
	CHECK(uint64_t(st.st_size) == 2 * kOld);
	CHECK(read_all(fs.path, 2 * kOld) == before);
}

TEST_CASE(
	"a crash at any point of a growth leaves an image that mounts with its "
	"files; growing again finishes it",
	"[server][resize][crash]")
{
	Fs fs(kOld);
	make_files(fs);
	const pmfs_super s = read_super(fs.path);
	std::string base;
	{
		REQUIRE(truncate(fs.path.c_str(), kNew) ==
			0); // as grow_file does
		base = read_all(fs.path);
	}
	g_snap.meta_len = s.s_data_blk * kBlockSize;
	g_snap.tail = off_t(kNew - kBlockSize);
	g_snap.fd = open(fs.path.c_str(), O_RDONLY);
	zus::set_persist_hook(on_persist);
	const int e = fs.mount_opts("pmem=" + fs.path +
				    ",size=" + std::to_string(kNew));
	zus::set_persist_hook(nullptr);
	close(g_snap.fd);
	g_snap.fd = -1;
	REQUIRE(e == 0);
	REQUIRE(fs.umount() == 0);
	REQUIRE(g_snap.meta.size() >= 3);

	const uint64_t old_blocks = (kOld / kBlockSize - 1) - s.s_data_blk;
	const uint64_t new_blocks = old_blocks + (kNew - kOld) / kBlockSize;
	for (size_t i = 0; i < g_snap.meta.size(); ++i) {
		INFO("crash at drain " << i << " of " << g_snap.meta.size());
		Fs c(kNew);
		write_at(c.path, 0, base);
		write_at(c.path, 0, g_snap.meta[i]);
		write_at(c.path, off_t(kNew - kBlockSize), g_snap.last[i]);
		// Mounted as it is: the old size or the new one, files intact.
		REQUIRE(c.mount_opts("pmem=" + c.path) == 0);
		const uint64_t blocks = total_blocks(c);
		CHECK((blocks == old_blocks || blocks == new_blocks));
		check_files(c);
		REQUIRE(c.umount() == 0);
		std::string report;
		CHECK(zus::fsck_image(c.path, false, nullptr, &report) == 0);
		INFO(report);
		// Growing again ends at the new size, clean.
		REQUIRE(c.mount_opts("pmem=" + c.path +
				     ",size=" + std::to_string(kNew)) == 0);
		CHECK(total_blocks(c) == new_blocks);
		check_files(c);
		REQUIRE(c.umount() == 0);
		CHECK(zus::fsck_image(c.path, false, nullptr, &report) == 0);
	}
}
