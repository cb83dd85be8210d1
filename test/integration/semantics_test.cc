// SPDX-License-Identifier: BSD-3-Clause
//
// semantics_test.cc - Linux file-system semantics beyond POSIX, as
// xfstests' generic group measures them (issue 17), through a real mount
// and compared with tmpfs (a directory in the scratch dir) or with ext4 (an
// image on a loop device, when mkfs.ext4 and loop devices are there):
//  - the standard VFS mount options (generic/003) and -o remount (294);
//  - times before 1970 (generic/258);
//  - statfs f_bavail is what one fallocate gets (generic/103);
//  - chattr flags: immutable, append-only and the rest, enforced for every
//    operation and kept across a remount (generic/079, 277);
//  - renameat2(RENAME_WHITEOUT) (generic/078).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "fs_helpers.h"
#include "integration.h"

namespace {

using zit::atime_of;
using zit::Ext4;
using zit::make_file;
using zit::read_all;
using zit::same;

// The options field of the mount on mnt in /proc/self/mounts.
std::string mount_opts(const std::string &mnt)
{
	std::ifstream in("/proc/self/mounts");
	std::string src, dir, type, opts, line;
	while (std::getline(in, line)) {
		std::istringstream l(line);
		l >> src >> dir >> type >> opts;
		if (dir == mnt)
			return opts;
	}
	return "";
}

// Set atime (and mtime) to a fixed moment long ago: relatime then updates
// on the next access, strictatime always, noatime never. No sleeps.
void age(const std::string &p)
{
	timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	utimensat(AT_FDCWD, p.c_str(), t, 0);
}

void list_dir(const std::string &p)
{
	DIR *d = opendir(p.c_str());
	while (d && readdir(d)) {
	}
	if (d)
		closedir(d);
}

int get_flags(const std::string &p, unsigned *flags)
{
	int fd = open(p.c_str(), O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	int r = ioctl(fd, FS_IOC_GETFLAGS, flags);
	int e = r < 0 ? errno : 0;
	close(fd);
	return e;
}

// As chattr does: the flags it has, plus add, minus drop.
int set_flags(const std::string &p, unsigned add, unsigned drop = 0)
{
	int fd = open(p.c_str(), O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	unsigned flags = 0;
	int r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	flags = (flags | add) & ~drop;
	if (r == 0)
		r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	int e = r < 0 ? errno : 0;
	close(fd);
	return e;
}

// open(2)'s errno, 0 (and the file closed again) if it opened.
int open_err(const char *path, int flags, mode_t mode = 0)
{
	int fd = open(path, flags, mode);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

// What every operation gives on a file with chattr flags, in dir root:
// one "name=errno" line per step. The same on every file system that
// keeps the flags as ext4 does.
std::string flag_script(const std::string &root)
{
	std::ostringstream out;
	auto step = [&](const char *name, int err) {
		out << name << '=' << (err ? strerrorname_np(err) : "0")
		    << '\n';
	};
	auto p = [&](const char *rel) { return root + "/" + rel; };
	mkdir(p("d").c_str(), 0755);
	make_file(p("d/i"), "data");
	make_file(p("d/a"), "data");
	make_file(p("d/victim"), "x");
	mkdir(p("d/idir").c_str(), 0755);
	make_file(p("d/idir/in"), "x");
	mkdir(p("d/adir").c_str(), 0755);
	make_file(p("d/adir/in"), "x");
	int wfd = open(p("d/i").c_str(), O_WRONLY); // opened before +i

	step("set_i", set_flags(p("d/i"), FS_IMMUTABLE_FL));
	step("set_a", set_flags(p("d/a"), FS_APPEND_FL));
	step("set_idir", set_flags(p("d/idir"), FS_IMMUTABLE_FL));
	step("set_adir", set_flags(p("d/adir"), FS_APPEND_FL));
	unsigned f = 0;
	step("get_i", get_flags(p("d/i"), &f));
	out << "flags_i=" << std::hex << (f & ~FS_EXTENT_FL) << std::dec
	    << '\n';

	// immutable
	step("i_open_w", open_err(p("d/i").c_str(), O_WRONLY));
	step("i_open_append", open_err(p("d/i").c_str(), O_WRONLY | O_APPEND));
	step("i_write_old_fd", ERR(write(wfd, "x", 1)));
	step("i_truncate", ERR(truncate(p("d/i").c_str(), 0)));
	step("i_chmod", ERR(chmod(p("d/i").c_str(), 0600)));
	step("i_chown", ERR(chown(p("d/i").c_str(), 1, 1)));
	step("i_utimes_now",
	     ERR(utimensat(AT_FDCWD, p("d/i").c_str(), nullptr, 0)));
	step("i_setxattr",
	     ERR(setxattr(p("d/i").c_str(), "user.x", "1", 1, 0)));
	step("i_unlink", ERR(unlink(p("d/i").c_str())));
	step("i_rename", ERR(rename(p("d/i").c_str(), p("d/i2").c_str())));
	step("i_link", ERR(link(p("d/i").c_str(), p("d/i3").c_str())));
	step("i_replace", ERR(rename(p("d/victim").c_str(), p("d/i").c_str())));
	step("i_read", open_err(p("d/i").c_str(), O_RDONLY));
	step("i_fallocate", ERR(fallocate(wfd, FALLOC_FL_KEEP_SIZE, 0, 4096)));
	step("idir_create",
	     open_err(p("d/idir/new").c_str(), O_CREAT | O_WRONLY, 0644));
	step("idir_mkdir", ERR(mkdir(p("d/idir/nd").c_str(), 0755)));
	step("idir_unlink", ERR(unlink(p("d/idir/in").c_str())));
	step("idir_rename_out",
	     ERR(rename(p("d/idir/in").c_str(), p("d/out").c_str())));
	step("idir_write_in", make_file(p("d/idir/in"), "y") ? errno : 0);

	// append-only
	step("a_open_w", open_err(p("d/a").c_str(), O_WRONLY));
	step("a_open_trunc",
	     open_err(p("d/a").c_str(), O_WRONLY | O_APPEND | O_TRUNC));
	step("a_append", [&] {
		int fd = open(p("d/a").c_str(), O_WRONLY | O_APPEND);
		if (fd < 0)
			return errno;
		int e = write(fd, "more", 4) == 4 ? 0 : errno;
		close(fd);
		return e;
	}());
	step("a_truncate", ERR(truncate(p("d/a").c_str(), 0)));
	step("a_chmod", ERR(chmod(p("d/a").c_str(), 0600)));
	step("a_utimes_now",
	     ERR(utimensat(AT_FDCWD, p("d/a").c_str(), nullptr, 0)));
	timespec t[2] = { { 5, 0 }, { 5, 0 } };
	step("a_utimes_set", ERR(utimensat(AT_FDCWD, p("d/a").c_str(), t, 0)));
	step("a_setxattr",
	     ERR(setxattr(p("d/a").c_str(), "user.x", "1", 1, 0)));
	step("a_unlink", ERR(unlink(p("d/a").c_str())));
	step("a_rename", ERR(rename(p("d/a").c_str(), p("d/a2").c_str())));
	step("a_link", ERR(link(p("d/a").c_str(), p("d/a3").c_str())));
	step("a_punch", [&] {
		int fd = open(p("d/a").c_str(), O_WRONLY | O_APPEND);
		int e = ERR(fallocate(
			fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			4096));
		close(fd);
		return e;
	}());
	step("adir_create", make_file(p("d/adir/new"), "n") ? errno : 0);
	step("adir_unlink", ERR(unlink(p("d/adir/in").c_str())));
	step("adir_rename_out",
	     ERR(rename(p("d/adir/in").c_str(), p("d/out2").c_str())));
	struct stat st = {};
	stat(p("d/a").c_str(), &st);
	out << "a_size=" << st.st_size << '\n';

	// Another flag while immutable stays set; an unknown flag.
	step("i_plus_d", set_flags(p("d/i"), FS_IMMUTABLE_FL | FS_NODUMP_FL));
	step("unknown_flag", set_flags(p("d/victim"), FS_NOCOW_FL));
	if (wfd >= 0)
		close(wfd);
	return out.str();
}

void clear_flags(const std::string &root)
{
	for (const char *rel : { "d/i", "d/a", "d/idir", "d/adir" })
		set_flags(root + "/" + rel, 0, FS_IMMUTABLE_FL | FS_APPEND_FL);
}

} // namespace

TEST_CASE("semantics: every standard VFS mount option is accepted",
	  "[integration][semantics]")
{
	for (const char *o : { "defaults",   "atime",	    "noatime",
			       "relatime",   "strictatime", "nostrictatime",
			       "norelatime", "diratime",    "nodiratime",
			       "lazytime",   "nolazytime",  "sync",
			       "async",	     "dirsync",	    "dev",
			       "nodev",	     "suid",	    "nosuid",
			       "exec",	     "noexec",	    "ro",
			       "rw" }) {
		INFO("-o " << o);
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", o });
		std::string opts = mount_opts(m.mnt());
		if (!strcmp(o, "noexec") || !strcmp(o, "nosuid") ||
		    !strcmp(o, "nodev") || !strcmp(o, "dirsync") ||
		    !strcmp(o, "ro"))
			CHECK(opts.find(o) != std::string::npos);
		if (!strcmp(o, "ro"))
			CHECK(ERR(mkdir(m.path("x").c_str(), 0755)) == EROFS);
		REQUIRE_UNMOUNT(m);
	}
}

TEST_CASE("semantics: noexec, atime modes, nodiratime honoured",
	  "[integration][semantics]")
{
	SECTION("noexec")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", "noexec" });
		REQUIRE(make_file(m.path("s"), "#!/bin/sh\nexit 0\n") == 0);
		REQUIRE(chmod(m.path("s").c_str(), 0755) == 0);
		CHECK(ERR(access(m.path("s").c_str(), X_OK)) == EACCES);
		REQUIRE_UNMOUNT(m);
	}
	SECTION("strictatime: every read; nodiratime: never a readdir")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", "strictatime,nodiratime" });
		REQUIRE(make_file(m.path("f"), "abc") == 0);
		REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
		read_all(m.path("f"));
		timespec t1 = atime_of(m.path("f"));
		// A second read of a file whose atime is already newer than
		// its mtime: relatime would leave it, strictatime moves it.
		timespec past = { t1.tv_sec - 10, 0 };
		timespec ts[2] = { past, { t1.tv_sec - 20, 0 } };
		REQUIRE(utimensat(AT_FDCWD, m.path("f").c_str(), ts, 0) == 0);
		read_all(m.path("f"));
		CHECK(!same(atime_of(m.path("f")), past));
		age(m.path("d"));
		timespec d0 = atime_of(m.path("d"));
		list_dir(m.path("d"));
		CHECK(same(atime_of(m.path("d")), d0));
		REQUIRE_UNMOUNT(m);
	}
	SECTION("relatime (default): not again while newer than mtime")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", "relatime,diratime" });
		REQUIRE(make_file(m.path("f"), "abc") == 0);
		REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
		timespec past = { 2000000000 - 10, 0 };
		timespec ts[2] = { past, { 2000000000 - 20, 0 } };
		REQUIRE(utimensat(AT_FDCWD, m.path("f").c_str(), ts, 0) == 0);
		read_all(m.path("f"));
		CHECK(same(atime_of(m.path("f")), past));
		age(m.path("d"));
		timespec d0 = atime_of(m.path("d"));
		list_dir(m.path("d"));
		CHECK(!same(atime_of(m.path("d")), d0));
		REQUIRE_UNMOUNT(m);
	}
	SECTION("noatime")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", "noatime" });
		REQUIRE(make_file(m.path("f"), "abc") == 0);
		age(m.path("f"));
		timespec a0 = atime_of(m.path("f"));
		read_all(m.path("f"));
		CHECK(same(atime_of(m.path("f")), a0));
		REQUIRE_UNMOUNT(m);
	}
}

TEST_CASE("semantics: -o remount,ro and back (generic/294)",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	REQUIRE(make_file(m.path("f"), "abc") == 0);
	// As zufuse is run by hand, and as mount(8)'s helper mount.fuse3
	// runs it ("zufuse SOURCE MOUNTPOINT -o remount,ro,dev,suid").
	zit::RunResult r = zit::run_cmd(
		{ zit::zufuse_path(), m.mnt(), "-o", "remount,ro" },
		m.scratch().dir());
	INFO(r.err);
	REQUIRE(r.status == 0);
	CHECK(mount_opts(m.mnt()).starts_with("ro,"));
	CHECK(ERR(open(m.path("g").c_str(), O_CREAT | O_WRONLY, 0644)) ==
	      EROFS);
	CHECK(ERR(open(m.path("f").c_str(), O_WRONLY)) == EROFS);
	CHECK(ERR(unlink(m.path("f").c_str())) == EROFS);
	CHECK(zit::read_file(m.path("f")) == "abc");

	r = zit::run_cmd({ zit::zufuse_path(), m.image(), m.mnt(), "-o",
			   "remount,rw,dev,suid" },
			 m.scratch().dir());
	INFO(r.err);
	REQUIRE(r.status == 0);
	CHECK(mount_opts(m.mnt()).starts_with("rw,"));
	CHECK(make_file(m.path("g"), "new") == 0);
	// Not a mounted zufuse: one line, non-zero.
	r = zit::run_cmd(
		{ zit::zufuse_path(), m.scratch().dir(), "-o", "remount,ro" },
		m.scratch().dir());
	CHECK(r.status != 0);
	CHECK(r.err.find("remount") != std::string::npos);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("semantics: times before 1970 (generic/258)",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	// 1960-01-01 01:01 (touch -t 196001010101), and half a second
	// before the epoch (tv_sec -1, tv_nsec 5e8).
	const timespec times[][2] = {
		{ { -315529140, 0 }, { -315529140, 0 } },
		{ { -1, 500000000 }, { -2, 999999999 } },
	};
	for (const auto &t : times) {
		for (const std::string &root : { m.mnt(), ref }) {
			std::string f = root + "/old";
			REQUIRE(make_file(f) == 0);
			REQUIRE(utimensat(AT_FDCWD, f.c_str(), t, 0) == 0);
			struct stat st;
			REQUIRE(stat(f.c_str(), &st) == 0);
			INFO(root);
			CHECK(same(st.st_atim, t[0]));
			CHECK(same(st.st_mtim, t[1]));
		}
	}
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	struct stat st;
	REQUIRE(stat(m.path("old").c_str(), &st) == 0);
	CHECK(st.st_mtim.tv_sec == -2);
	CHECK(st.st_mtim.tv_nsec == 999999999);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("semantics: f_bavail is what one fallocate gets (generic/103)",
	  "[integration][semantics]")
{
	uint64_t avail = 0;
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m);
		// The file first: its name may take a directory block.
		int fd = open(m.path("all").c_str(), O_CREAT | O_RDWR, 0644);
		REQUIRE(fd >= 0);
		struct statvfs sv;
		REQUIRE(statvfs(m.mnt().c_str(), &sv) == 0);
		avail = sv.f_bavail;
		CHECK(avail < sv.f_bfree); // the tree's nodes are not data
		CHECK(ERR(fallocate(fd, 0, 0, avail * sv.f_frsize)) == 0);
		close(fd);
		REQUIRE(statvfs(m.mnt().c_str(), &sv) == 0);
		CHECK(sv.f_bavail == 0);
		REQUIRE_UNMOUNT(m);
	}
	{
		zit::Mount m("64M"); // a fresh image, the same size
		REQUIRE_MOUNT(m);
		int fd = open(m.path("all").c_str(), O_CREAT | O_RDWR, 0644);
		REQUIRE(fd >= 0);
		struct statvfs sv;
		REQUIRE(statvfs(m.mnt().c_str(), &sv) == 0);
		REQUIRE(sv.f_bavail == avail);
		CHECK(ERR(fallocate(fd, 0, 0, (avail + 1) * sv.f_frsize)) ==
		      ENOSPC);
		close(fd);
		REQUIRE_UNMOUNT(m);
	}
}

TEST_CASE("semantics: chattr flags enforced as on ext4 (generic/079)",
	  "[integration][semantics]")
{
	// What ext4 answers (checked against ext4 below when it can mount).
	const std::string expected =
		"set_i=0\nset_a=0\nset_idir=0\nset_adir=0\nget_i=0\n"
		"flags_i=10\n"
		"i_open_w=EPERM\ni_open_append=EPERM\ni_write_old_fd=EPERM\n"
		"i_truncate=EPERM\ni_chmod=EPERM\ni_chown=EPERM\n"
		"i_utimes_now=EPERM\ni_setxattr=EPERM\ni_unlink=EPERM\n"
		"i_rename=EPERM\ni_link=EPERM\ni_replace=EPERM\ni_read=0\n"
		"i_fallocate=EPERM\nidir_create=EPERM\nidir_mkdir=EPERM\n"
		"idir_unlink=EPERM\nidir_rename_out=EPERM\nidir_write_in=0\n"
		"a_open_w=EPERM\na_open_trunc=EPERM\na_append=0\n"
		"a_truncate=EPERM\na_chmod=EPERM\na_utimes_now=0\n"
		"a_utimes_set=EPERM\na_setxattr=EPERM\na_unlink=EPERM\n"
		"a_rename=EPERM\na_link=EPERM\na_punch=EPERM\n"
		"adir_create=0\nadir_unlink=EPERM\nadir_rename_out=EPERM\n"
		"a_size=8\ni_plus_d=EPERM\nunknown_flag=EOPNOTSUPP\n";

	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	std::string got = flag_script(m.mnt());
	CHECK(got == expected);

	// Kept on media: after a remount, lsattr and FS_IOC_GETFLAGS agree.
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	unsigned f = 0;
	CHECK(get_flags(m.path("d/i"), &f) == 0);
	CHECK(f == FS_IMMUTABLE_FL);
	CHECK(get_flags(m.path("d/adir"), &f) == 0);
	CHECK(f == FS_APPEND_FL);
	CHECK(ERR(unlink(m.path("d/i").c_str())) == EPERM);
	zit::RunResult r = zit::run_cmd({ "lsattr", "-d", m.path("d/i") },
					m.scratch().dir());
	if (r.status != 127) { // e2fsprogs' lsattr and chattr
		CHECK(r.out.starts_with("----i---"));
		r = zit::run_cmd({ "chattr", "+dAS", m.path("d/victim") },
				 m.scratch().dir());
		CHECK(r.status == 0);
		r = zit::run_cmd({ "lsattr", m.path("d/victim") },
				 m.scratch().dir());
		CHECK(r.out.starts_with("--S---dA"));
	}
	clear_flags(m.mnt());
	CHECK(ERR(unlink(m.path("d/i").c_str())) == 0);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);

	Ext4 ext4(m.scratch());
	if (!ext4.mounted()) {
		WARN("no ext4 to compare with: " << ext4.why());
		return;
	}
	CHECK(flag_script(ext4.mnt()) == expected);
	clear_flags(ext4.mnt());
}

TEST_CASE("semantics: chattr +A and nobody's rights",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m, { "-o", "strictatime" });
	REQUIRE(make_file(m.path("f"), "abc") == 0);
	REQUIRE(set_flags(m.path("f"), FS_NOATIME_FL) == 0);
	age(m.path("f"));
	timespec a0 = atime_of(m.path("f"));
	read_all(m.path("f"));
	CHECK(same(atime_of(m.path("f")), a0)); // generic/277
	// Not the owner: EPERM (the kernel's inode_owner_or_capable). The
	// file is opened by root: the scratch dir is root's only.
	int fd = open(m.path("f").c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		unsigned fl = FS_NODUMP_FL;
		_exit(ioctl(fd, FS_IOC_SETFLAGS, &fl) < 0 && errno == EPERM ?
			      0 :
			      1);
	}
	close(fd);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 0);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("semantics: chattr moves ctime, seen by the next stat (generic/277)",
	  "[integration][semantics]")
{
	// The reply to chattr's ioctl carries no attributes: the kernel's
	// cached ctime must be dropped before it, else stat shows the old one.
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	REQUIRE(make_file(m.path("f"), "abc") == 0);
	struct stat st0, st1, st2;
	REQUIRE(stat(m.path("f").c_str(), &st0) == 0);
	REQUIRE(set_flags(m.path("f"), FS_NOATIME_FL) == 0);
	REQUIRE(stat(m.path("f").c_str(), &st1) == 0);
	CHECK(!same(st1.st_ctim, st0.st_ctim));
	REQUIRE(set_flags(m.path("f"), 0, FS_NOATIME_FL) == 0);
	REQUIRE(stat(m.path("f").c_str(), &st2) == 0);
	CHECK(!same(st2.st_ctim, st1.st_ctim));
	// And on media: the same after a remount.
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	struct stat st3;
	REQUIRE(stat(m.path("f").c_str(), &st3) == 0);
	CHECK(same(st3.st_ctim, st2.st_ctim));
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("semantics: renameat2(RENAME_WHITEOUT) (generic/078)",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	std::vector<std::string> results;
	for (const std::string &root : { m.mnt(), ref }) {
		std::ostringstream o;
		REQUIRE(make_file(root + "/a", "A") == 0);
		REQUIRE(make_file(root + "/t", "T") == 0);
		o << ERR(renameat2(AT_FDCWD, (root + "/a").c_str(), AT_FDCWD,
				   (root + "/b").c_str(), RENAME_WHITEOUT));
		// Over an existing target, and refused with EXCHANGE.
		o << ERR(renameat2(AT_FDCWD, (root + "/b").c_str(), AT_FDCWD,
				   (root + "/t").c_str(), RENAME_WHITEOUT));
		o << ERR(renameat2(AT_FDCWD, (root + "/t").c_str(), AT_FDCWD,
				   (root + "/a").c_str(),
				   RENAME_WHITEOUT | RENAME_EXCHANGE));
		for (const char *n : { "a", "b", "t" }) {
			struct stat st;
			if (lstat((root + "/" + n).c_str(), &st)) {
				o << ' ' << n << ":-";
				continue;
			}
			o << ' ' << n << ':' << std::oct << st.st_mode
			  << std::dec << ':' << major(st.st_rdev) << ','
			  << minor(st.st_rdev) << ':' << st.st_nlink;
		}
		o << ' ' << zit::read_file(root + "/t");
		results.push_back(o.str());
	}
	CHECK(results[0] == results[1]);
	CHECK(results[0] ==
	      "0022 a:20000:0,0:1 b:20000:0,0:1 t:100644:0,0:1 A");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	struct stat st;
	REQUIRE(lstat(m.path("a").c_str(), &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK(st.st_rdev == makedev(0, 0));
	REQUIRE_UNMOUNT(m);
}
