// SPDX-License-Identifier: BSD-3-Clause
// Real-process crashes: mount build/zufuse, run a mixed workload in several
// processes that record every fsynced file (name, size, seed) in a manifest
// outside the file system, kill -9 zufuse at a random moment, clear the dead
// mount, mount again, check every manifest entry, unmount and run fsck.zufs.
// ZUFUSE_KILL_ITERS iterations (default 20).
#include <fcntl.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "../integration/mount_fixture.h"

using namespace zit;

namespace {

// One worker process: never returns.
[[noreturn]] void worker(const std::string &mnt, const std::string &manifest,
			 int id, int iter)
{
	std::mt19937 rng(id * 7919 + iter * 104729);
	std::string dir = mnt + "/w" + std::to_string(id);
	mkdir(dir.c_str(), 0755);
	int mfd = open(manifest.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
	for (int n = 0;; ++n) {
		std::string name = dir + "/i" + std::to_string(iter) + "_" +
				   std::to_string(n);
		size_t size = 1 + rng() % 200000;
		uint64_t seed = rng();
		std::string data = pattern(seed, size);
		int op = rng() % 4;
		int fd = open(name.c_str(),
			      O_WRONLY | O_CREAT | O_TRUNC |
				      (op == 3 ? O_DSYNC : 0),
			      0644);
		if (fd < 0)
			_exit(0);
		if (write(fd, data.data(), size) != ssize_t(size))
			_exit(0);
		if (op == 1 && fdatasync(fd))
			_exit(0);
		if (op != 1 && op != 3 && fsync(fd))
			_exit(0);
		close(fd);
		// Durable: record it (the manifest is on tmpfs, outside zufuse).
		std::string line = name + " " + std::to_string(size) + " " +
				   std::to_string(seed) + "\n";
		if (write(mfd, line.data(), line.size()) < 0)
			_exit(0);
		// Churn that is not recorded: temp files, renames, unlinks.
		std::string tmp = dir + "/tmp" + std::to_string(n % 5);
		int t = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (t >= 0) {
			std::string junk = pattern(seed + 1, rng() % 50000);
			(void)!write(t, junk.data(), junk.size());
			close(t);
			rename(tmp.c_str(), (tmp + ".r").c_str());
			if (rng() % 2)
				unlink((tmp + ".r").c_str());
		}
	}
}

// iters rounds of: mount, workload, kill -9 zufuse at a random moment,
// mount again, every manifest entry there, unmount, fsck clean.
// Returns how many mounts took over a working copy (file back-end).
int kill9_rounds(Mount &m, int iters)
{
	std::string manifest = m.scratch().path("manifest");
	int took_over = 0;
	std::mt19937 rng(12345);
	uint64_t verified = 0;
	for (int it = 0; it < iters; ++it) {
		INFO("iteration " << it);
		REQUIRE(m.mount());
		std::vector<pid_t> kids;
		for (int id = 0; id < 3; ++id) {
			pid_t p = fork();
			if (p == 0)
				worker(m.mnt(), manifest, id, it);
			kids.push_back(p);
		}
		std::this_thread::sleep_for(
			std::chrono::milliseconds(100 + rng() % 500));
		REQUIRE(m.kill9());
		for (pid_t p : kids) {
			kill(p, SIGKILL);
			waitpid(p, nullptr, 0);
		}
		REQUIRE(m.mount());
		std::ifstream in(manifest);
		std::string name;
		size_t size;
		uint64_t seed;
		while (in >> name >> size >> seed) {
			bool ok = false;
			std::string got = read_file(name, &ok);
			INFO(name);
			REQUIRE(ok);
			REQUIRE(got.size() == size);
			REQUIRE(got == pattern(seed, size));
			++verified;
		}
		REQUIRE(m.unmount() == 0);
		RunResult r = m.fsck();
		INFO(r.out << r.err);
		REQUIRE((r.status == 0 || r.status == -2));
	}
	printf("kill -9: %d iterations, %lu manifest entries verified\n", iters,
	       (unsigned long)verified);
	const std::string log = m.log(); // all the runs
	for (size_t at = 0;
	     (at = log.find("took over the working copy", at)) != log.npos;
	     ++at)
		++took_over;
	return took_over;
}

} // namespace

TEST_CASE("kill -9 zufuse during a mixed multi-process workload",
	  "[integration][crash]")
{
	int iters = 20;
	if (const char *s = getenv("ZUFUSE_KILL_ITERS"))
		iters = atoi(s);
	Mount m("64M");
	kill9_rounds(m, iters);
}

// The same on an image file on a disk (ZUFUSE_DISK_DIR, default /var/tmp):
// the file back-end, whose working copy in /dev/shm outlives the kill and
// is taken over by the next mount.
TEST_CASE("kill -9 zufuse on a disk-backed image", "[integration][crash][disk]")
{
	const char *dir = getenv("ZUFUSE_DISK_DIR");
	std::string disk = dir && *dir ? dir : "/var/tmp";
	struct statfs sf;
	if (statfs(disk.c_str(), &sf) || sf.f_type == TMPFS_MAGIC) {
		WARN("no disk directory (" << disk
					   << " is missing or tmpfs): skipped");
		return;
	}
	int iters = 10;
	if (const char *s = getenv("ZUFUSE_KILL_ITERS"))
		iters = atoi(s);
	Mount m("64M", disk);
	int took_over = kill9_rounds(m, iters);
	INFO(m.log());
	CHECK(took_over ==
	      iters); // every kill left a working copy to take over
}

// -o sync on a disk-backed image: a metadata change is durable when it
// returns (ext4 -o sync), not at the next commit. commit=0 (no timer):
// then an OS crash, as zufuse killed and its working copy in /dev/shm gone
// (what the image file and its journal hold is all the next mount sees).
TEST_CASE("-o sync: chmod, truncate, xattrs durable at return on a disk image",
	  "[integration][crash][disk]")
{
	const char *dir = getenv("ZUFUSE_DISK_DIR");
	std::string disk = dir && *dir ? dir : "/var/tmp";
	struct statfs sf;
	if (statfs(disk.c_str(), &sf) || sf.f_type == TMPFS_MAGIC) {
		WARN("no disk directory (" << disk
					   << " is missing or tmpfs): skipped");
		return;
	}
	Mount m("64M", disk);
	REQUIRE(m.mount({ "-o", "sync,commit=0" }));
	const std::string f = m.mnt() + "/f";
	REQUIRE(write_file(f, pattern(1, 10000)));
	REQUIRE(chmod(f.c_str(), 0604) == 0);
	REQUIRE(truncate(f.c_str(), 5000) == 0);
	REQUIRE(setxattr(f.c_str(), "user.k", "v1", 2, 0) == 0);
	REQUIRE(setxattr(f.c_str(), "user.gone", "x", 1, 0) == 0);
	REQUIRE(removexattr(f.c_str(), "user.gone") == 0);
	REQUIRE(m.kill9());
	struct stat st;
	REQUIRE(stat(m.image().c_str(), &st) == 0);
	char shadow[96];
	snprintf(shadow, sizeof(shadow), "/dev/shm/zufuse-shadow.%llx.%llx",
		 static_cast<unsigned long long>(st.st_dev),
		 static_cast<unsigned long long>(st.st_ino));
	REQUIRE(unlink(shadow) == 0);

	REQUIRE(m.mount({ "-o", "commit=0" }));
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0604);
	CHECK(st.st_size == 5000);
	char v[8] = {};
	CHECK(getxattr(f.c_str(), "user.k", v, sizeof(v)) == 2);
	CHECK(std::string(v) == "v1");
	CHECK(getxattr(f.c_str(), "user.gone", v, sizeof(v)) < 0);
	bool ok = false;
	CHECK(read_file(f, &ok) == pattern(1, 10000).substr(0, 5000));
	REQUIRE(m.unmount() == 0);
	RunResult r = m.fsck();
	INFO(r.out << r.err);
	CHECK(r.status == 0);
}

// -o remount,sync (and remount,async back): the kernel's FUSE takes the
// flag and tells the server nothing, so the shim must follow it (from
// mountinfo, when the helper tells it of the remount): from then on every
// write and change of an inode is durable at return, as on ext4; after
// remount,async they wait for the next commit again. commit=0 (no timer)
// and an OS crash as above: what the image file and its journal hold.
TEST_CASE("-o remount,sync: writes and inode changes durable at return",
	  "[integration][crash][disk]")
{
	const char *dir = getenv("ZUFUSE_DISK_DIR");
	std::string disk = dir && *dir ? dir : "/var/tmp";
	struct statfs sf;
	if (statfs(disk.c_str(), &sf) || sf.f_type == TMPFS_MAGIC) {
		WARN("no disk directory (" << disk
					   << " is missing or tmpfs): skipped");
		return;
	}
	auto remount = [](Mount &m, const std::string &how) {
		RunResult r = run_cmd(
			{ zufuse_path(), m.mnt(), "-o", "remount," + how },
			m.scratch().dir());
		INFO(r.err);
		REQUIRE(r.status == 0);
		REQUIRE(r.err.find("not told") == std::string::npos);
	};
	auto os_crash = [](Mount &m) { // kill -9, no working copy left
		REQUIRE(m.kill9());
		struct stat st;
		REQUIRE(stat(m.image().c_str(), &st) == 0);
		char shadow[96];
		snprintf(shadow, sizeof(shadow),
			 "/dev/shm/zufuse-shadow.%llx.%llx",
			 static_cast<unsigned long long>(st.st_dev),
			 static_cast<unsigned long long>(st.st_ino));
		REQUIRE(unlink(shadow) == 0);
	};
	Mount m("64M", disk);
	REQUIRE(m.mount({ "-o", "commit=0" }));
	const std::string f = m.mnt() + "/f", g = m.mnt() + "/g";
	remount(m, "sync");
	REQUIRE(write_file(f, pattern(2, 9000))); // no fsync
	REQUIRE(chmod(f.c_str(), 0640) == 0);
	REQUIRE(setxattr(f.c_str(), "user.k", "v2", 2, 0) == 0);
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0); // sync implies dirsync
	remount(m, "async");
	REQUIRE(write_file(g, pattern(3, 5000))); // waits for a commit
	os_crash(m);

	REQUIRE(m.mount({ "-o", "commit=0" }));
	struct stat st;
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);
	bool ok = false;
	CHECK(read_file(f, &ok) == pattern(2, 9000));
	char v[8] = {};
	CHECK(getxattr(f.c_str(), "user.k", v, sizeof(v)) == 2);
	CHECK(std::string(v) == "v2");
	CHECK(stat(m.path("d").c_str(), &st) == 0);
	CHECK(stat(g.c_str(), &st) != 0); // async again: not committed
	REQUIRE(m.unmount() == 0);
	RunResult r = m.fsck();
	INFO(r.out << r.err);
	CHECK(r.status == 0);
}
