// SPDX-License-Identifier: BSD-3-Clause
//
// posix_errors_test.cc - focused checks, through a real mount, of the
// operations and error paths of issue 6 that the random differential test
// (posix_diff_test.cc) reaches rarely or not at all: limits (ENAMETOOLONG,
// EMLINK, EFBIG, ENOSPC with the file system still usable), EROFS on a
// read-only mount, xattr errors, fallocate/SEEK_DATA/SEEK_HOLE,
// copy_file_range, device nodes and sockets, UTIME_NOW/UTIME_OMIT, setuid
// clearing, kernel-local locks.
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fs_helpers.h"
#include "integration.h"

using zit::make_file;

TEST_CASE("posix: name and size limits", "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	std::string n255(255, 'n'), n256(256, 'n');
	CHECK(make_file(m.path(n255)) == 0);
	CHECK(ERR(open(m.path(n256).c_str(), O_CREAT | O_WRONLY, 0644)) ==
	      ENAMETOOLONG);
	CHECK(ERR(mkdir(m.path(n256).c_str(), 0755)) == ENAMETOOLONG);
	struct stat st;
	CHECK(ERR(lstat(m.path(n256).c_str(), &st)) == ENAMETOOLONG);
	CHECK(ERR(rename(m.path(n255).c_str(), m.path(n256).c_str())) ==
	      ENAMETOOLONG);
	CHECK(ERR(symlink("x", m.path(n256).c_str())) == ENAMETOOLONG);

	// EFBIG past the largest file (2^48 bytes), not a crash or EIO.
	int fd = open(m.path("big").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	CHECK(ERR(pwrite(fd, "x", 1, 1LL << 50)) == EFBIG);
	CHECK(ERR(ftruncate(fd, 1LL << 50)) == EFBIG);
	CHECK(ERR(fallocate(fd, 0, 1LL << 50, 4096)) == EFBIG);
	CHECK(pwrite(fd, "x", 1, (1LL << 48) - 1) ==
	      1); // the last byte is fine
	CHECK(fstat(fd, &st) == 0);
	CHECK(st.st_blocks == 8);
	close(fd);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("posix: EMLINK at ZUFS_LINK_MAX", "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	REQUIRE(make_file(m.path("f")) == 0);
	REQUIRE(mkdir(m.path("l").c_str(), 0755) == 0);
	int made = 1, err = 0;
	for (int i = 0; i < 33000; ++i) {
		if (link(m.path("f").c_str(),
			 m.path("l/" + std::to_string(i)).c_str())) {
			err = errno;
			break;
		}
		++made;
	}
	CHECK(err == EMLINK);
	CHECK(made == 32000);
	struct stat st;
	CHECK(stat(m.path("f").c_str(), &st) == 0);
	CHECK(st.st_nlink == 32000);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("posix: ENOSPC leaves a usable file system", "[integration][posix]")
{
	zit::Mount m("32M");
	REQUIRE_MOUNT(m);
	std::string chunk(1 << 20, 'z');
	int fd = open(m.path("fill").c_str(), O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	int err = 0;
	for (int i = 0; i < 64 && !err; ++i)
		if (write(fd, chunk.data(), chunk.size()) < 0)
			err = errno;
	close(fd);
	CHECK(err == ENOSPC);
	int fd2 = open(m.path("g").c_str(), O_CREAT | O_WRONLY, 0644);
	CHECK((fd2 < 0 || fallocate(fd2, 0, 0, 64 << 20) < 0));
	if (fd2 >= 0)
		close(fd2);
	CHECK(ERR(setxattr(m.path("fill").c_str(), "user.big", chunk.data(),
			   60000, 0)) == ENOSPC);
	REQUIRE(unlink(m.path("fill").c_str()) == 0);
	// Freed space is usable again at once, all of it, as on a native file
	// system. Through FUSE the free comes after the unlink's reply: the
	// last close is a RELEASE and the kernel's eviction a FORGET, both
	// sent in the background; a write that meets ENOSPC before they are
	// through waits for that free (Vfs::retry_nospc), as ext4 waits for
	// a commit. Then again, unlinked while still open and closed after.
	const std::string eight(8 << 20, 'a');
	CHECK(make_file(m.path("after"), eight) == 0);
	CHECK(zit::read_file(m.path("after")) == eight);
	for (int round = 0; round < 16; ++round) {
		INFO("round " << round);
		const bool unlink_open = round % 2;
		fd = open(m.path("fill").c_str(), O_CREAT | O_WRONLY, 0644);
		REQUIRE(fd >= 0);
		err = 0;
		for (int i = 0; i < 64 && !err; ++i)
			if (write(fd, chunk.data(), chunk.size()) < 0)
				err = errno;
		CHECK(err == ENOSPC);
		if (unlink_open)
			REQUIRE(unlink(m.path("fill").c_str()) == 0);
		close(fd);
		if (!unlink_open)
			REQUIRE(unlink(m.path("fill").c_str()) == 0);
		CHECK(make_file(m.path("after"), eight) == 0);
	}
	CHECK(zit::read_file(m.path("after")) == eight);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("posix: EROFS on a read-only mount", "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	REQUIRE(make_file(m.path("f"), "data") == 0);
	REQUIRE(setxattr(m.path("f").c_str(), "user.a", "v", 1, 0) == 0);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m, { "-o", "ro" });
	CHECK(zit::read_file(m.path("f")) == "data");
	char v[8];
	CHECK(getxattr(m.path("f").c_str(), "user.a", v, sizeof(v)) == 1);
	CHECK(ERR(open(m.path("f").c_str(), O_WRONLY)) == EROFS);
	CHECK(ERR(open(m.path("g").c_str(), O_CREAT | O_WRONLY, 0644)) ==
	      EROFS);
	CHECK(ERR(mkdir(m.path("d").c_str(), 0755)) == EROFS);
	CHECK(ERR(unlink(m.path("f").c_str())) == EROFS);
	CHECK(ERR(chmod(m.path("f").c_str(), 0600)) == EROFS);
	CHECK(ERR(truncate(m.path("f").c_str(), 0)) == EROFS);
	CHECK(ERR(setxattr(m.path("f").c_str(), "user.b", "v", 1, 0)) == EROFS);
	CHECK(ERR(removexattr(m.path("f").c_str(), "user.a")) == EROFS);
	CHECK(ERR(utimensat(AT_FDCWD, m.path("f").c_str(), nullptr, 0)) ==
	      EROFS);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("posix: xattr errors as Linux", "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	std::string f = m.path("f");
	REQUIRE(make_file(f) == 0);
	const char *p = f.c_str();
	char buf[70000];
	CHECK(ERR(getxattr(p, "user.none", buf, sizeof(buf))) == ENODATA);
	CHECK(ERR(removexattr(p, "user.none")) == ENODATA);
	CHECK(ERR(setxattr(p, "user.none", "v", 1, XATTR_REPLACE)) == ENODATA);
	REQUIRE(setxattr(p, "user.a", "value", 5, XATTR_CREATE) == 0);
	CHECK(ERR(setxattr(p, "user.a", "v", 1, XATTR_CREATE)) == EEXIST);
	CHECK(getxattr(p, "user.a", nullptr, 0) == 5);
	CHECK(ERR(getxattr(p, "user.a", buf, 4)) == ERANGE);
	CHECK(listxattr(p, nullptr, 0) == 7);
	CHECK(ERR(listxattr(p, buf, 3)) == ERANGE);
	CHECK(ERR(setxattr(p, "user.big", buf, 65537, 0)) == E2BIG);
	CHECK(setxattr(p, "user.max", buf, 65536, 0) == 0);
	CHECK(getxattr(p, "user.max", buf, sizeof(buf)) == 65536);
	std::string longname = "user." + std::string(251, 'x');
	CHECK(ERR(setxattr(p, longname.c_str(), "v", 1, 0)) == ERANGE);
	CHECK(setxattr(p, "trusted.t", "", 0, 0) == 0);
	CHECK(getxattr(p, "trusted.t", buf, sizeof(buf)) == 0);
	CHECK(setxattr(p, "security.s", "s", 1, 0) == 0);
	CHECK(ERR(setxattr(p, "bogus.x", "v", 1, 0)) == EOPNOTSUPP);
	// POSIX ACLs are on by default (acl_test.cc has the rest): an ACL
	// the mode says all of (u::rw-,g::r--,o::r--) sets the mode and is not
	// kept, as on tmpfs.
	const unsigned char acl[] = { 2, 0,    0,    0,	   1,	 0,    6,
				      0, 0xff, 0xff, 0xff, 0xff, 4,    0,
				      4, 0,    0xff, 0xff, 0xff, 0xff, 0x20,
				      0, 4,    0,    0xff, 0xff, 0xff, 0xff };
	CHECK(setxattr(p, "system.posix_acl_access", acl, sizeof(acl), 0) == 0);
	CHECK(ERR(getxattr(p, "system.posix_acl_access", buf, sizeof(buf))) ==
	      ENODATA);
	CHECK(ERR(setxattr(p, "system.posix_acl_access", acl, 6, 0)) == EINVAL);
	// user.* on a symlink: EPERM (the VFS); on a FIFO too.
	REQUIRE(symlink("f", m.path("l").c_str()) == 0);
	CHECK(ERR(lsetxattr(m.path("l").c_str(), "user.a", "v", 1, 0)) ==
	      EPERM);
	// The attributes persist across a remount.
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	CHECK(getxattr(p, "user.a", buf, sizeof(buf)) == 5);
	CHECK(std::string(buf, 5) == "value");
	CHECK(getxattr(p, "user.max", buf, sizeof(buf)) == 65536);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("posix: fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range",
	  "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	int fd = open(m.path("s").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, "abc", 3, 1 << 20) == 3);
	struct stat st;
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(st.st_blocks == 8); // sparse: one block
	CHECK(lseek(fd, 0, SEEK_DATA) == 1 << 20);
	CHECK(lseek(fd, 0, SEEK_HOLE) == 0);
	CHECK(lseek(fd, 1 << 20, SEEK_HOLE) == (1 << 20) + 3);
	CHECK(ERR(lseek(fd, (1 << 20) + 3, SEEK_DATA)) == ENXIO);
	REQUIRE(fallocate(fd, 0, 0, 8192) == 0);
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(st.st_blocks == 24);
	REQUIRE(fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 << 20, 4096) == 0);
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(st.st_size == (1 << 20) + 3);
	CHECK(st.st_blocks == 32);
	REQUIRE(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  1 << 20, 4096) == 0);
	char b[3];
	CHECK(pread(fd, b, 3, 1 << 20) == 3);
	CHECK(std::string(b, 3) == std::string(3, '\0'));
	CHECK(ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10)) == EOPNOTSUPP);
	REQUIRE(ftruncate(fd, 100) == 0); // frees the KEEP_SIZE block too
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(st.st_blocks == 8);

	// copy_file_range: done in the server, the destination's cache dropped.
	std::string data = zit::pattern(9, 200000);
	REQUIRE(make_file(m.path("src"), data) == 0);
	int in = open(m.path("src").c_str(), O_RDONLY);
	int out = open(m.path("dst").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE((in >= 0 && out >= 0));
	char pre[10];
	CHECK(pwrite(out, "0123456789", 10, 0) == 10);
	CHECK(pread(out, pre, 10, 0) == 10); // now cached
	loff_t oi = 0, oo = 0;
	size_t left = data.size();
	while (left) {
		ssize_t n = copy_file_range(in, &oi, out, &oo, left, 0);
		REQUIRE(n > 0);
		left -= n;
	}
	close(in);
	close(out);
	CHECK(zit::read_file(m.path("dst")) == data);
	close(fd);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("dst")) == data);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("posix: mknod, sockets, times, setuid, locks", "[integration][posix]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m, { "-o", "allow_other" });
	struct stat st;
	REQUIRE(mknod(m.path("fifo").c_str(), S_IFIFO | 0600, 0) == 0);
	REQUIRE(mknod(m.path("chr").c_str(), S_IFCHR | 0600, makedev(1, 3)) ==
		0);
	REQUIRE(mknod(m.path("blk").c_str(), S_IFBLK | 0600,
		      makedev(259, 70000)) == 0);
	REQUIRE(lstat(m.path("chr").c_str(), &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK(st.st_rdev == makedev(1, 3));
	REQUIRE(lstat(m.path("blk").c_str(), &st) == 0);
	CHECK(st.st_rdev == makedev(259, 70000));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	sockaddr_un sa = {};
	sa.sun_family = AF_UNIX;
	std::string sp = m.path("sock");
	REQUIRE(sp.size() < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sp.c_str(), sp.size());
	CHECK(bind(s, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) == 0);
	close(s);
	REQUIRE(lstat(sp.c_str(), &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	// A FIFO works as one (the kernel's pipe, the inode ours).
	pid_t w = fork();
	if (w == 0) {
		int fd = open(m.path("fifo").c_str(), O_WRONLY);
		_exit(fd >= 0 && write(fd, "hi", 2) == 2 ? 0 : 1);
	}
	int rfd = open(m.path("fifo").c_str(), O_RDONLY);
	char b[2] = {};
	CHECK(read(rfd, b, 2) == 2);
	close(rfd);
	int wst;
	waitpid(w, &wst, 0);
	CHECK(std::string(b, 2) == "hi");

	// UTIME_OMIT keeps, UTIME_NOW sets, explicit ns survive.
	std::string f = m.path("t");
	REQUIRE(make_file(f, "x") == 0);
	timespec ts[2] = { { 1000, 123456789 }, { 2000, 987654321 } };
	REQUIRE(utimensat(AT_FDCWD, f.c_str(), ts, 0) == 0);
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK(st.st_atim.tv_sec == 1000);
	CHECK(st.st_atim.tv_nsec == 123456789);
	CHECK(st.st_mtim.tv_nsec == 987654321);
	timespec ts2[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	REQUIRE(utimensat(AT_FDCWD, f.c_str(), ts2, 0) == 0);
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK(st.st_atim.tv_sec == 1000);
	CHECK(st.st_mtim.tv_sec > 1000000000);

	// setuid/setgid are cleared by an unprivileged write and by chown.
	REQUIRE(make_file(m.path("su"), "x") == 0);
	REQUIRE(chown(m.path("su").c_str(), 65534, 65534) == 0);
	REQUIRE(chmod(m.path("su").c_str(), 06777) == 0);
	REQUIRE(chmod(m.scratch().dir().c_str(), 0755) == 0); // let uid 1000 in
	pid_t c = fork();
	if (c == 0) {
		if (setgroups(0, nullptr) || setgid(1000) || setuid(1000))
			_exit(200);
		int fd = open(m.path("su").c_str(), O_WRONLY);
		if (fd < 0)
			_exit(100 + errno);
		_exit(write(fd, "y", 1) == 1 ? 0 : errno);
	}
	waitpid(c, &wst, 0);
	CHECK(WEXITSTATUS(wst) == 0);
	REQUIRE(stat(m.path("su").c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0777);
	REQUIRE(chmod(m.path("su").c_str(), 04755) == 0);
	REQUIRE(chown(m.path("su").c_str(), 0, 0) == 0);
	REQUIRE(stat(m.path("su").c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0755);

	// Locks are the kernel's (no lock handlers): they work on one mount.
	int l1 = open(f.c_str(), O_RDWR), l2 = open(f.c_str(), O_RDWR);
	CHECK(flock(l1, LOCK_EX | LOCK_NB) == 0);
	CHECK(ERR(flock(l2, LOCK_EX | LOCK_NB)) == EWOULDBLOCK);
	struct flock fl = {};
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 10;
	CHECK(fcntl(l1, F_SETLK, &fl) == 0);
	pid_t lk = fork();
	if (lk == 0) {
		int fd = open(f.c_str(), O_RDWR);
		struct flock g = fl;
		_exit(fcntl(fd, F_SETLK, &g) < 0 &&
				      (errno == EAGAIN || errno == EACCES) ?
			      0 :
			      1);
	}
	waitpid(lk, &wst, 0);
	CHECK(WEXITSTATUS(wst) == 0);
	close(l1);
	close(l2);
	int dfd = open(m.mnt().c_str(), O_RDONLY | O_DIRECTORY); // fsyncdir
	CHECK(fsync(dfd) == 0);
	close(dfd);
	REQUIRE_UNMOUNT(m);
}
