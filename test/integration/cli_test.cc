// SPDX-License-Identifier: BSD-3-Clause
//
// cli_test.cc - the zufuse command: refusals with one clear line and a
// non-zero exit (image untouched), daemon mode, and every way to unmount.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "integration.h"

namespace {

size_t count_lines(const std::string &s)
{
	return size_t(std::count(s.begin(), s.end(), '\n'));
}

// A refusal: non-zero exit, exactly one non-empty line on stderr, no mount.
void require_one_line_refusal(const zit::RunResult &r, const zit::Mount &m)
{
	INFO("exit " << r.status << ", stderr:\n"
		     << r.err << "stdout:\n"
		     << r.out);
	CHECK(r.status != 0);
	CHECK(r.status < 128); // an error exit, not a crash
	CHECK(count_lines(r.err) == 1);
	CHECK(r.err.size() > 10);
	CHECK(!zit::is_mounted(m.mnt()));
	if (zit::is_mounted(m.mnt())) // not refused after all: clean up
		zit::clear_dead_mount(m.mnt());
}

// Create and format the image with one mount/unmount cycle.
void make_image(zit::Mount &m)
{
	REQUIRE_MOUNT(m);
	REQUIRE(zit::write_file(m.path("keep"), "kept"));
	REQUIRE_UNMOUNT(m);
}

// Run zufuse to completion. By default in daemon mode, so that an image
// that is (wrongly) accepted makes the command return 0 at once instead of
// serving until a timeout.
zit::RunResult run_zufuse(zit::Mount &m, const std::vector<std::string> &extra,
			  bool foreground = false)
{
	return zit::run_cmd(m.args(extra, foreground), m.scratch().dir(), 60);
}

// Flip one byte of the image at @off.
void flip_byte(const std::string &image, off_t off)
{
	std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
	f.seekg(off);
	char c = 0;
	f.read(&c, 1);
	c = char(c ^ 0x5a);
	f.seekp(off);
	f.write(&c, 1);
	REQUIRE(f.good());
}

// s_size of the image's superblock: where its copy in the last block is.
off_t super_size(const std::string &image)
{
	std::ifstream f(image, std::ios::binary);
	uint64_t size = 0;
	f.seekg(16); // pmfs_super: magic, version, state, then s_size
	f.read(reinterpret_cast<char *>(&size), sizeof(size));
	REQUIRE(f.good());
	return off_t(size);
}

// The pid of a zufuse serving @mnt (its command line names it), or -1.
pid_t find_daemon(const std::string &mnt)
{
	DIR *d = opendir("/proc");
	pid_t found = -1;
	while (struct dirent *e = d ? readdir(d) : nullptr) {
		pid_t pid = pid_t(atoi(e->d_name));
		if (pid <= 0 || pid == getpid())
			continue;
		std::string cl = zit::read_file(
			"/proc/" + std::string(e->d_name) + "/cmdline");
		std::replace(cl.begin(), cl.end(), '\0', '\n');
		if (cl.find(zit::zufuse_path() + "\n") == 0 &&
		    cl.find("\n" + mnt + "\n") != std::string::npos)
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

bool wait_gone(pid_t pid, int seconds)
{
	for (int i = 0; i < seconds * 100; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		std::string st = zit::read_file("/proc/" + std::to_string(pid) +
						"/stat");
		if (st.find(") Z") != std::string::npos)
			return true; // exited, waiting for its reaper
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return false;
}

} // namespace

TEST_CASE("--help and --version", "[cli]")
{
	zit::Scratch s;
	auto h = zit::run_cmd({ zit::zufuse_path(), "--help" }, s.dir());
	INFO(h.out << h.err);
	CHECK(h.status == 0);
	std::string all = h.out + h.err;
	CHECK(all.find("--pmem") != std::string::npos);
	CHECK(all.find("--size") != std::string::npos);
	CHECK(all.find("--mkfs") != std::string::npos);
	auto v = zit::run_cmd({ zit::zufuse_path(), "--version" }, s.dir());
	INFO(v.out << v.err);
	CHECK(v.status == 0);
	CHECK((v.out + v.err).find("zufuse") != std::string::npos);
}

TEST_CASE("command line errors are refused clearly", "[cli]")
{
	zit::Mount m;
	const std::string zf = zit::zufuse_path();
	const std::string img = "--pmem=" + m.image();
	std::vector<std::vector<std::string>> bad = {
		{ zf, m.scratch().path("nonexistent-dir"), img, "--size=64M",
		  "-f" },
		{ zf, m.mnt(), img, "--size=abc", "-f" },
		{ zf, m.mnt(), img, "--size=-5", "-f" },
		{ zf, m.mnt(), img, "--size=12Q", "-f" },
		{ zf, m.mnt(), img, "--size=", "-f" },
		{ zf, m.mnt(), img, "--size=64M", "--frobnicate", "-f" },
		{ zf, m.mnt(), "--size=64M", "-f" }, // no --pmem
		{ zf, img, "--size=64M", "-f" },     // no mount point
	};
	for (const auto &argv : bad) {
		std::string line;
		for (const auto &a : argv)
			line += a + " ";
		INFO(line);
		auto r = zit::run_cmd(argv, m.scratch().dir());
		INFO("exit " << r.status << ", stderr:\n" << r.err);
		CHECK(r.status != 0);
		CHECK(r.status < 128);
		CHECK(!r.err.empty());
		CHECK(!zit::is_mounted(m.mnt()));
		if (zit::is_mounted(m.mnt()))
			zit::clear_dead_mount(m.mnt());
	}
	// None of them left an image behind (except none was asked to).
	CHECK(access(m.image().c_str(), F_OK) != 0);
}

TEST_CASE("image problems: one line, non-zero exit, image untouched", "[cli]")
{
	zit::Mount m("64M");

	SECTION("missing image without --size")
	{
		zit::Mount n("");
		auto r = run_zufuse(n, {});
		require_one_line_refusal(r, n);
		CHECK(access(n.image().c_str(), F_OK) != 0);
	}
	SECTION("unformatted image needs --mkfs")
	{
		{
			std::ofstream f(m.image());
		}
		REQUIRE(truncate(m.image().c_str(), 64 << 20) == 0);
		auto r = run_zufuse(m, {});
		require_one_line_refusal(r, m);
		// Nothing written (reading may allocate tmpfs pages; compare bytes).
		CHECK(zit::read_file(m.image()) == std::string(64 << 20, '\0'));
		REQUIRE_MOUNT(m, { "--mkfs" });
		REQUIRE(zit::write_file(m.path("f"), "x"));
		REQUIRE_UNMOUNT(m);
		REQUIRE_MOUNT(m);
		CHECK(zit::read_file(m.path("f")) == "x");
	}
	SECTION("too small image")
	{
		{
			std::ofstream f(m.image());
		}
		REQUIRE(truncate(m.image().c_str(), 1 << 20) == 0);
		auto r = run_zufuse(m, { "--mkfs" });
		require_one_line_refusal(r, m);
	}
	SECTION("--mkfs on a formatted image is refused")
	{
		make_image(m);
		std::string before = zit::read_file(m.image());
		auto r = run_zufuse(m, { "--mkfs" });
		require_one_line_refusal(r, m);
		CHECK(zit::read_file(m.image()) == before);
	}
	// The superblock has copies: at 2048 in block 0 and in the image's
	// last block (src/server/pmfs/format.h). With all three damaged the
	// image is refused and left as it is.
	SECTION("corrupt superblock and its copies")
	{
		make_image(m);
		const off_t tail = super_size(m.image());
		{
			std::fstream f(m.image(), std::ios::in | std::ios::out |
							  std::ios::binary);
			std::string junk = zit::pattern(99, 64);
			for (off_t off : { off_t(0), off_t(2048), tail }) {
				f.seekp(off);
				f.write(junk.data(),
					std::streamsize(junk.size()));
			}
		}
		std::string before = zit::read_file(m.image());
		auto r = run_zufuse(m, {});
		require_one_line_refusal(r, m);
		CHECK(zit::read_file(m.image()) == before);
	}
	// Byte 40 is inside the checksummed struct (s_journal_blk).
	SECTION("one flipped byte in the superblock and in each copy")
	{
		make_image(m);
		const off_t tail = super_size(m.image());
		flip_byte(m.image(), 40);
		flip_byte(m.image(), 2048 + 40);
		flip_byte(m.image(), tail + 40);
		std::string before = zit::read_file(m.image());
		auto r = run_zufuse(m, {});
		require_one_line_refusal(r, m);
		CHECK(zit::read_file(m.image()) == before);
	}
	SECTION("a damaged superblock with a valid backup is restored, with "
		"one line saying so")
	{
		make_image(m);
		flip_byte(m.image(), 40);
		auto r = run_zufuse(m, {});
		INFO("exit " << r.status << ", stderr:\n" << r.err);
		if (r.status == 0) {
			CHECK(count_lines(r.err) == 1);
			CHECK(r.err.find("backup") != std::string::npos);
			REQUIRE(zit::is_mounted(m.mnt()));
			CHECK(zit::read_file(m.path("keep")) == "kept");
			zit::clear_dead_mount(m.mnt()); // fusermount3 -u
		} else {
			// Refusing is the other acceptable answer.
			require_one_line_refusal(r, m);
		}
	}
	SECTION("a second mount of the same image is refused")
	{
		make_image(m);
		REQUIRE_MOUNT(m);
		zit::Scratch other;
		std::string mnt2 = other.path("mnt2");
		REQUIRE(mkdir(mnt2.c_str(), 0755) == 0);
		auto r = zit::run_cmd({ zit::zufuse_path(), mnt2,
					"--pmem=" + m.image(), "-f" },
				      other.dir());
		INFO("exit " << r.status << ", stderr:\n" << r.err);
		CHECK(r.status != 0);
		CHECK(r.status < 128);
		CHECK(count_lines(r.err) == 1);
		CHECK(!zit::is_mounted(mnt2));
		if (zit::is_mounted(mnt2))
			zit::clear_dead_mount(mnt2);
		// The first mount is unharmed.
		CHECK(zit::read_file(m.path("keep")) == "kept");
		REQUIRE_UNMOUNT(m);
	}
}

TEST_CASE("daemon mode returns once mounted; fusermount3 -u ends it", "[cli]")
{
	zit::Mount m;
	auto r = run_zufuse(m, {}, false);
	INFO("exit " << r.status << ", stderr:\n" << r.err);
	REQUIRE(r.status == 0);
	// Mounted by the time the parent exits: no polling.
	REQUIRE(zit::is_mounted(m.mnt()));
	pid_t pid = find_daemon(m.mnt());
	CHECK(pid > 0);
	REQUIRE(zit::write_file(m.path("f"), "daemon"));

	auto u = zit::run_cmd({ "fusermount3", "-u", m.mnt() },
			      m.scratch().dir());
	INFO("fusermount3: " << u.err);
	REQUIRE(u.status == 0);
	CHECK(!zit::is_mounted(m.mnt()));
	if (pid > 0)
		CHECK(wait_gone(pid, 20));

	// The image was left clean and unlocked: it mounts again, with
	// nothing to recover, and fsck agrees.
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(m.log().find("unclean") == std::string::npos);
	CHECK(m.log().find("rolled back") == std::string::npos);
	CHECK(zit::read_file(m.path("f")) == "daemon");
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("SIGTERM, SIGINT and umount unmount cleanly", "[cli]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	REQUIRE(zit::write_file(m.path("f"), "1"));

	// libfuse's loop reports the signal, so 1 is as clean an exit as 0 here
	// (sshfs and the libfuse examples do the same); a crash is >= 128.
	SECTION("SIGTERM")
	{
		int st = m.signal_and_wait(SIGTERM);
		CHECK((st == 0 || st == 1));
	}
	SECTION("SIGINT")
	{
		int st = m.signal_and_wait(SIGINT);
		CHECK((st == 0 || st == 1));
	}
	SECTION("umount")
	{
		auto u = zit::run_cmd({ "umount", m.mnt() }, m.scratch().dir());
		INFO(u.err);
		CHECK(u.status == 0);
		CHECK(m.signal_and_wait(0) == 0); // just reap it
	}
	CHECK(!zit::is_mounted(m.mnt()));
	size_t log_before = m.log().size();
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("f")) == "1");
	// A clean unmount leaves nothing for recovery to do.
	std::string mount_log = m.log().substr(log_before);
	CHECK(mount_log.find("rolled back") == std::string::npos);
	CHECK(mount_log.find("unclean") == std::string::npos);
	CHECK(mount_log.find("orphan") == std::string::npos);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("daemon mode reports a refused image in its exit status", "[cli]")
{
	zit::Mount m("64M");
	make_image(m);
	auto r = run_zufuse(m, { "--mkfs" }, false); // already formatted
	require_one_line_refusal(r, m);
}

TEST_CASE("read-only mount: reads work, changes fail with EROFS", "[cli][ro]")
{
	zit::Mount m("64M");
	make_image(m);
	std::string before = zit::read_file(m.image());
	REQUIRE_MOUNT(m, { "-o", "ro" });
	CHECK(zit::read_file(m.path("keep")) == "kept");
	errno = 0;
	CHECK(open(m.path("new").c_str(), O_CREAT | O_WRONLY, 0644) < 0);
	CHECK(errno == EROFS);
	errno = 0;
	CHECK(open(m.path("keep").c_str(), O_WRONLY) < 0);
	CHECK(errno == EROFS);
	CHECK(mkdir(m.path("d").c_str(), 0755) < 0);
	CHECK(unlink(m.path("keep").c_str()) < 0);
	CHECK(errno == EROFS);
	REQUIRE_UNMOUNT(m);
	// A read-only mount leaves the image as it found it.
	CHECK(zit::read_file(m.image()) == before);
}

TEST_CASE("sync mount: every write is durable without fsync", "[cli][sync]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m, { "-o", "sync" });
	const std::string data = zit::pattern(8, 300000);
	int fd = open(m.path("f").c_str(), O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data.data(), data.size()) == ssize_t(data.size()));
	REQUIRE(m.kill9());
	close(fd);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("f")) == data);
}

TEST_CASE("one-thread loop (-s) serves the same file system", "[cli][single]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m, { "-s" });
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
	const std::string data = zit::pattern(9, 3 << 20);
	REQUIRE(zit::write_file(m.path("d/f"), data));
	CHECK(zit::read_file(m.path("d/f")) == data);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("d/f")) == data);
}
