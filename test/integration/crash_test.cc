// SPDX-License-Identifier: BSD-3-Clause
//
// crash_test.cc - kill -9 zufuse and mount again: whatever was made durable
// (fsync, fdatasync, O_DSYNC, RWF_DSYNC) is there and the metadata is
// consistent.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "integration.h"

namespace fs = std::filesystem;

namespace {

void write_all(int fd, const std::string &data, off_t off)
{
	size_t done = 0;
	while (done < data.size()) {
		ssize_t n = pwrite(fd, data.data() + done, data.size() - done,
				   off + off_t(done));
		INFO("pwrite: " << strerror(errno));
		REQUIRE(n > 0);
		done += size_t(n);
	}
}

// Walk everything; every entry can be stat'ed and every file read.
size_t check_consistent(const std::string &root)
{
	size_t n = 0;
	std::error_code ec;
	for (auto it = fs::recursive_directory_iterator(root, ec);
	     it != fs::recursive_directory_iterator(); it.increment(ec)) {
		REQUIRE(!ec);
		struct stat st;
		INFO(it->path());
		REQUIRE(lstat(it->path().c_str(), &st) == 0);
		if (S_ISREG(st.st_mode)) {
			bool ok = false;
			std::string d = zit::read_file(it->path(), &ok);
			REQUIRE(ok);
			CHECK(off_t(d.size()) == st.st_size);
		}
		n++;
	}
	REQUIRE(!ec);
	return n;
}

// fsync a directory (the way to make its entries durable by POSIX).
void sync_dir(const std::string &dir)
{
	int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	CHECK(fsync(dfd) == 0);
	close(dfd);
}

} // namespace

TEST_CASE("fsynced data survives kill -9", "[crash]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);

	// Durable: fsync, fdatasync, directory contents made durable by fsync.
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
	const std::string a = zit::pattern(1, 1 << 20);
	const std::string b = zit::pattern(2, 12345);
	int fa = open(m.path("d/a").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(fa >= 0);
	write_all(fa, a, 0);
	REQUIRE(fsync(fa) == 0);
	int fb = open(m.path("b").c_str(), O_CREAT | O_RDWR, 0600);
	REQUIRE(fb >= 0);
	write_all(fb, b, 4096 * 3 + 7);
	REQUIRE(fdatasync(fb) == 0);
	sync_dir(m.path("d"));
	sync_dir(m.mnt());

	// Not synced: may or may not be there, but must not corrupt anything.
	for (int i = 0; i < 50; i++) {
		std::string p = m.path("d/junk" + std::to_string(i));
		int f = open(p.c_str(), O_CREAT | O_WRONLY, 0644);
		if (f >= 0) {
			(void)!write(f, b.data(), size_t(i) * 97);
			close(f);
		}
	}
	close(fa);
	close(fb);

	REQUIRE(m.kill9());
	size_t log_before = m.log().size();
	REQUIRE_MOUNT(m);
	// The image was dirty: the mount says it recovered.
	CHECK(m.log().substr(log_before).find("unclean") != std::string::npos);

	CHECK(zit::read_file(m.path("d/a")) == a);
	std::string got = zit::read_file(m.path("b"));
	REQUIRE(got.size() == 4096 * 3 + 7 + b.size());
	CHECK(got.substr(0, 4096 * 3 + 7) == std::string(4096 * 3 + 7, '\0'));
	CHECK(got.substr(4096 * 3 + 7) == b);
	struct stat st;
	REQUIRE(stat(m.path("b").c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0600);
	REQUIRE(stat(m.path("d").c_str(), &st) == 0);
	CHECK(st.st_nlink == 2);

	// Metadata is consistent: every entry stats, every file reads, and the
	// file system still works (create, write, remove all, remount).
	check_consistent(m.mnt());
	REQUIRE(zit::write_file(m.path("d/new"), "after crash"));
	CHECK(zit::read_file(m.path("d/new")) == "after crash");
	std::error_code ec;
	fs::remove_all(m.path("d"), ec);
	CHECK(!ec);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(check_consistent(m.mnt()) == 1); // just "b"
}

TEST_CASE("O_DSYNC and RWF_DSYNC writes survive kill -9", "[crash]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);

	// The names are made durable first (directory fsync); the data only
	// by the synchronous writes themselves.
	for (const char *n : { "dsync", "rwf", "direct" })
		close(open(m.path(n).c_str(), O_CREAT | O_WRONLY, 0644));
	sync_dir(m.mnt());

	const std::string data = zit::pattern(3, (2 << 20) + 4321);
	int f = open(m.path("dsync").c_str(), O_RDWR | O_DSYNC);
	REQUIRE(f >= 0);
	// 4K blocks in random-ish order, then an odd tail.
	for (size_t i = 0; i < 512; i++) {
		size_t blk = (i * 193) % 512;
		write_all(f, data.substr(blk * 4096, 4096), off_t(blk * 4096));
	}
	write_all(f, data.substr(2 << 20), off_t(2 << 20));
	close(f);

	const std::string rwf = zit::pattern(4, 100000);
	int g = open(m.path("rwf").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(g >= 0);
	struct iovec iov = { const_cast<char *>(rwf.data()), rwf.size() };
	REQUIRE(pwritev2(g, &iov, 1, 0, RWF_DSYNC) == ssize_t(rwf.size()));

	// O_DIRECT | O_DSYNC, the fio durability case.
	int h = open(m.path("direct").c_str(),
		     O_CREAT | O_RDWR | O_DIRECT | O_DSYNC, 0644);
	REQUIRE(h >= 0);
	void *buf = nullptr;
	REQUIRE(posix_memalign(&buf, 4096, 1 << 20) == 0);
	const std::string dd = zit::pattern(5, 1 << 20);
	memcpy(buf, dd.data(), dd.size());
	REQUIRE(pwrite(h, buf, 1 << 20, 0) == (1 << 20));
	free(buf);

	// No close, no fsync: kill with everything still open.
	REQUIRE(m.kill9());
	close(g);
	close(h);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("dsync")) == data);
	CHECK(zit::read_file(m.path("rwf")) == rwf);
	CHECK(zit::read_file(m.path("direct")) == dd);
	check_consistent(m.mnt());
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("repeated kill -9 during a metadata storm keeps the image mountable",
	  "[crash]")
{
	zit::Mount m;
	for (int round = 0; round < 3; round++) {
		INFO("round " << round);
		REQUIRE_MOUNT(m);
		check_consistent(m.mnt());
		// Synced marker of this round.
		std::string marker = m.path("round" + std::to_string(round));
		int f = open(marker.c_str(), O_CREAT | O_WRONLY, 0644);
		REQUIRE(f >= 0);
		REQUIRE(write(f, "ok", 2) == 2);
		REQUIRE(fsync(f) == 0);
		close(f);
		sync_dir(m.mnt());
		// Unsynced churn, killed half way through.
		std::string dir = m.path("churn" + std::to_string(round));
		mkdir(dir.c_str(), 0755);
		for (int i = 0; i < 200; i++) {
			std::string p = dir + "/f" + std::to_string(i);
			zit::write_file(
				p, zit::pattern(uint64_t(i), size_t(i) * 50));
			if (i % 3 == 0)
				rename(p.c_str(), (p + ".r").c_str());
			if (i % 5 == 0)
				unlink((dir + "/f" + std::to_string(i / 2))
					       .c_str());
		}
		REQUIRE(m.kill9());
	}
	REQUIRE_MOUNT(m);
	check_consistent(m.mnt());
	for (int round = 0; round < 3; round++)
		CHECK(zit::read_file(m.path("round" + std::to_string(round))) ==
		      "ok");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("an unlinked file still open at kill -9 is freed at the next mount",
	  "[crash]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	struct statfs sf;
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	const uint64_t empty_free = sf.f_bfree;

	const std::string data = zit::pattern(6, 8 << 20);
	int fd = open(m.path("orphan").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	write_all(fd, data, 0);
	REQUIRE(fsync(fd) == 0);
	REQUIRE(unlink(m.path("orphan").c_str()) == 0);
	sync_dir(m.mnt());
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	CHECK(sf.f_bfree + 2048 <= empty_free); // still allocated: it is open

	REQUIRE(m.kill9());
	close(fd);
	size_t log_before = m.log().size();
	REQUIRE_MOUNT(m);
	CHECK(check_consistent(m.mnt()) == 0);
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	CHECK(sf.f_bfree + 16 >= empty_free);
	INFO("mount log: " << m.log().substr(log_before));
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
