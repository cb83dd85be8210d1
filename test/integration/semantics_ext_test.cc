// SPDX-License-Identifier: BSD-3-Clause
//
// semantics_ext_test.cc - Linux semantics that reach zufuse through FUSE
// requests libfuse 3.14 does not know (answered on the wire, fuse_extra.h)
// or through the ABI's zufuse extensions, through a real mount, compared
// with tmpfs (a directory in the scratch dir) and ext4 (an image on a loop
// device, when it can be made):
//  - O_TMPFILE (FUSE_TMPFILE; generic/004): linkable with linkat
//    AT_EMPTY_PATH and through /proc/self/fd, never linkable with O_EXCL,
//    reclaimed when closed unlinked and, after a kill -9, at the next mount;
//    over /dev/fuse (--no-uring) and over io_uring;
//  - statx btime (FUSE_STATX), kept across a remount;
//  - FS_IOC_FSGETXATTR/FSSETXATTR: project id, PROJINHERIT, extent size
//    hint, kept across a remount, the xflags agreeing with chattr's flags;
//  - a whiteout (RENAME_WHITEOUT) owned by the caller's fsuid/fsgid;
//  - the server told of a remount: read-only stops its writes (the image
//    is clean while mounted ro), the atime options follow, a mount made
//    read-only cannot be remounted rw.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "fs_helpers.h"
#include "integration.h"

namespace {

std::string names(const std::string &dir)
{
	std::string out;
	std::set<std::string> s;
	if (DIR *d = opendir(dir.c_str())) {
		while (dirent *e = readdir(d))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				s.insert(e->d_name);
		closedir(d);
	}
	for (const std::string &n : s)
		out += n + " ";
	return out;
}

// What O_TMPFILE does in dir root, one "step=result" per line: the same
// on tmpfs, ext4 and zufuse.
std::string tmpfile_script(const std::string &root)
{
	std::string out;
	auto step = [&](const char *name, const std::string &v) {
		out += std::string(name) + "=" + v + "\n";
	};
	auto e = [](int err) {
		return std::string(err ? strerrorname_np(err) : "0");
	};
	mode_t old = umask(022);
	int fd = open(root.c_str(), O_TMPFILE | O_RDWR, 0666);
	umask(old);
	step("open", e(fd < 0 ? errno : 0));
	if (fd < 0)
		return out;
	struct stat st = {};
	fstat(fd, &st);
	step("mode", std::to_string(st.st_mode & 07777) +
			     (S_ISREG(st.st_mode) ? " reg" : " ?"));
	step("nlink", std::to_string(st.st_nlink));
	step("write", e(pwrite(fd, "tmpdata", 7, 0) == 7 ? 0 : errno));
	step("listed", names(root));
	step("link_empty_path",
	     e(ERR(linkat(fd, "", AT_FDCWD, (root + "/named").c_str(),
			  AT_EMPTY_PATH))));
	const std::string proc = "/proc/self/fd/" + std::to_string(fd);
	step("link_proc",
	     e(ERR(linkat(AT_FDCWD, proc.c_str(), AT_FDCWD,
			  (root + "/named2").c_str(), AT_SYMLINK_FOLLOW))));
	fstat(fd, &st);
	step("nlink_after", std::to_string(st.st_nlink));
	step("content", zit::read_file(root + "/named2"));
	step("listed_after", names(root));
	close(fd);

	// O_EXCL: never linkable.
	fd = open(root.c_str(), O_TMPFILE | O_WRONLY | O_EXCL, 0600);
	step("open_excl", e(fd < 0 ? errno : 0));
	step("link_excl",
	     e(ERR(linkat(fd, "", AT_FDCWD, (root + "/never").c_str(),
			  AT_EMPTY_PATH))));
	close(fd);
	// Read-only is refused (the kernel's rule), as is a non-directory.
	step("open_rdonly",
	     e(ERR(open(root.c_str(), O_TMPFILE | O_RDONLY, 0600))));
	step("open_in_file",
	     e(ERR(open((root + "/named").c_str(), O_TMPFILE | O_RDWR, 0600))));
	unlink((root + "/named").c_str());
	unlink((root + "/named2").c_str());
	return out;
}

const std::string kTmpfileExpected =
	"open=0\nmode=420 reg\nnlink=0\nwrite=0\nlisted=\n"
	"link_empty_path=0\nlink_proc=0\nnlink_after=2\ncontent=tmpdata\n"
	"listed_after=named named2 \nopen_excl=0\nlink_excl=ENOENT\n"
	"open_rdonly=EINVAL\nopen_in_file=ENOTDIR\n";

uint64_t free_blocks(const std::string &mnt)
{
	struct statvfs sv = {};
	statvfs(mnt.c_str(), &sv);
	return sv.f_bfree;
}

// A tmpfile holding n MiB, left open (the caller closes or kills).
int big_tmpfile(const std::string &dir, int mib)
{
	int fd = open(dir.c_str(), O_TMPFILE | O_RDWR, 0600);
	std::string chunk(1 << 20, 'z');
	for (int i = 0; fd >= 0 && i < mib; ++i)
		if (write(fd, chunk.data(), chunk.size()) !=
		    ssize_t(chunk.size()))
			return -1;
	return fd;
}

int statx_btime(const std::string &p, struct statx *sx)
{
	return statx(AT_FDCWD, p.c_str(), AT_SYMLINK_NOFOLLOW,
		     STATX_BASIC_STATS | STATX_BTIME, sx);
}

int64_t ns_of(const statx_timestamp &t)
{
	return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

int64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int fsx_get(const std::string &p, fsxattr *fa)
{
	int fd = open(p.c_str(), O_RDONLY);
	if (fd < 0)
		return errno;
	int e = ERR(ioctl(fd, FS_IOC_FSGETXATTR, fa));
	close(fd);
	return e;
}

int fsx_set(const std::string &p, const fsxattr &fa)
{
	int fd = open(p.c_str(), O_RDONLY);
	if (fd < 0)
		return errno;
	int e = ERR(ioctl(fd, FS_IOC_FSSETXATTR, &fa));
	close(fd);
	return e;
}

} // namespace

TEST_CASE("O_TMPFILE: linkable, O_EXCL not, as on tmpfs and ext4 "
	  "(generic/004)",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
	CHECK(tmpfile_script(m.path("d")) == kTmpfileExpected);
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	CHECK(tmpfile_script(ref) == kTmpfileExpected);
	zit::Ext4 ext4(m.scratch(), { "-I", "256" });
	if (ext4.mounted() && mkdir((ext4.mnt() + "/d").c_str(), 0755) == 0)
		CHECK(tmpfile_script(ext4.mnt() + "/d") == kTmpfileExpected);
	else
		WARN("no ext4 to compare with: " << ext4.why());

	// A linked tmpfile stays, with its data, after a remount.
	int fd = open(m.path("d").c_str(), O_TMPFILE | O_RDWR, 0640);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "kept", 4) == 4);
	REQUIRE(linkat(fd, "", AT_FDCWD, m.path("d/kept").c_str(),
		       AT_EMPTY_PATH) == 0);
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("d/kept")) == "kept");
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("O_TMPFILE: an unlinked tmpfile is reclaimed, after a kill -9 too",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	const uint64_t before = free_blocks(m.mnt());
	int fd = big_tmpfile(m.mnt(), 8);
	REQUIRE(fd >= 0);
	CHECK(free_blocks(m.mnt()) + 2048 <= before);
	close(fd);
	// The kernel releases the inode after close returns: the unmount
	// waits for that, and the image must hold nothing of it.
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(free_blocks(m.mnt()) == before);

	// Open when zufuse dies: an orphan on media, freed by the next mount.
	fd = big_tmpfile(m.mnt(), 8);
	REQUIRE(fd >= 0);
	CHECK(free_blocks(m.mnt()) + 2048 <= before);
	REQUIRE(m.kill9());
	close(fd);
	size_t log_before = m.log().size();
	REQUIRE_MOUNT(m);
	INFO(m.log());
	CHECK(m.log().substr(log_before).find("freed 1 orphan inode") !=
	      std::string::npos);
	CHECK(free_blocks(m.mnt()) == before);
	CHECK(names(m.mnt()) == "");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("O_TMPFILE and statx btime over /dev/fuse and over io_uring",
	  "[integration][semantics]")
{
	std::vector<std::vector<std::string>> runs = { { "--no-uring" } };
	if (access("/sys/module/fuse/parameters/enable_uring", F_OK) == 0)
		runs.push_back({ "--uring" });
	else
		WARN("SKIPPED --uring: this kernel has no FUSE over io_uring");
	for (const auto &args : runs) {
		INFO(args[0]);
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, args);
		INFO(m.log());
		CHECK(tmpfile_script(m.mnt()) == kTmpfileExpected);
		REQUIRE(zit::write_file(m.path("f"), "x"));
		struct statx sx = {};
		REQUIRE(statx_btime(m.path("f"), &sx) == 0);
		CHECK((sx.stx_mask & STATX_BTIME));
		REQUIRE_UNMOUNT(m);
		CHECK_FSCK_CLEAN(m);
	}
}

TEST_CASE("statx: birth time, kept across a remount, as tmpfs and ext4",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	zit::Ext4 ext4(m.scratch(), { "-I", "256" });
	std::vector<std::string> roots = { m.mnt(), ref };
	if (ext4.mounted())
		roots.push_back(ext4.mnt());
	else
		WARN("no ext4 to compare with: " << ext4.why());
	struct statx ours = {};
	for (const std::string &root : roots) {
		INFO(root);
		const std::string f = root + "/f", d = root + "/dir",
				  l = root + "/link";
		// tmpfs and ext4 stamp times from the coarse clock (a tick
		// behind): 50 ms of slack.
		const int64_t t0 = now_ns() - 50000000;
		REQUIRE(zit::write_file(f, "abc"));
		REQUIRE(mkdir(d.c_str(), 0755) == 0);
		REQUIRE(symlink("a-target-of-30-bytes-long-yes", l.c_str()) ==
			0);
		const int64_t t1 = now_ns() + 50000000;
		for (const std::string &p : { f, d, l }) {
			struct statx sx = {};
			REQUIRE(statx_btime(p, &sx) == 0);
			CHECK((sx.stx_mask & STATX_BTIME));
			CHECK(ns_of(sx.stx_btime) >= t0);
			CHECK(ns_of(sx.stx_btime) <= t1);
		}
		// Writes and chmod move mtime/ctime, never btime.
		struct statx a = {}, b = {};
		REQUIRE(statx_btime(f, &a) == 0);
		timespec past[2] = { { 1000, 0 }, { 1000, 0 } };
		REQUIRE(utimensat(AT_FDCWD, f.c_str(), past, 0) == 0);
		REQUIRE(chmod(f.c_str(), 0600) == 0);
		REQUIRE(statx_btime(f, &b) == 0);
		CHECK(ns_of(a.stx_btime) == ns_of(b.stx_btime));
		CHECK(b.stx_mtime.tv_sec == 1000);
		if (root == m.mnt())
			ours = b;
		// The basic stats agree with stat(2).
		struct stat st;
		REQUIRE(stat(f.c_str(), &st) == 0);
		CHECK(b.stx_ino == st.st_ino);
		CHECK(b.stx_size == 3);
		CHECK(b.stx_mode == st.st_mode);
	}
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	struct statx again = {};
	REQUIRE(statx_btime(m.path("f"), &again) == 0);
	CHECK((again.stx_mask & STATX_BTIME));
	CHECK(ns_of(again.stx_btime) == ns_of(ours.stx_btime));
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("FS_IOC_FSSETXATTR: project id, PROJINHERIT, extent size hint",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	REQUIRE(zit::write_file(m.path("f"), "abc"));
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);

	fsxattr fa = {};
	REQUIRE(fsx_get(m.path("f"), &fa) == 0);
	CHECK(fa.fsx_projid == 0);
	CHECK(fa.fsx_extsize == 0);
	fa.fsx_projid = 42;
	fa.fsx_xflags |= FS_XFLAG_EXTSIZE | FS_XFLAG_NODUMP;
	fa.fsx_extsize = 65536;
	REQUIRE(fsx_set(m.path("f"), fa) == 0);
	// A hint that is not a multiple of the block size; a CoW hint.
	fsxattr bad = fa;
	bad.fsx_extsize = 1000;
	CHECK(fsx_set(m.path("f"), bad) == EINVAL);
	bad = fa;
	bad.fsx_xflags |= FS_XFLAG_COWEXTSIZE;
	bad.fsx_cowextsize = 65536;
	CHECK(fsx_set(m.path("f"), bad) == EOPNOTSUPP);

	// The directory passes its project id and hint on.
	fsxattr dfa = {};
	REQUIRE(fsx_get(m.path("d"), &dfa) == 0);
	dfa.fsx_projid = 7;
	dfa.fsx_xflags |= FS_XFLAG_PROJINHERIT | FS_XFLAG_EXTSZINHERIT;
	dfa.fsx_extsize = 1 << 20;
	REQUIRE(fsx_set(m.path("d"), dfa) == 0);
	REQUIRE(zit::write_file(m.path("d/child"), "c"));
	REQUIRE(mkdir(m.path("d/sub").c_str(), 0755) == 0);
	REQUIRE(zit::write_file(m.path("d/sub/grandchild"), "g"));

	auto check_all = [&] {
		fsxattr g = {};
		REQUIRE(fsx_get(m.path("f"), &g) == 0);
		CHECK(g.fsx_projid == 42);
		CHECK(g.fsx_extsize == 65536);
		CHECK(g.fsx_xflags == (FS_XFLAG_EXTSIZE | FS_XFLAG_NODUMP));
		unsigned fl = 0;
		int fd = open(m.path("f").c_str(), O_RDONLY);
		REQUIRE(ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0);
		close(fd);
		CHECK(fl == FS_NODUMP_FL); // the same flag, both ways
		REQUIRE(fsx_get(m.path("d"), &g) == 0);
		CHECK(g.fsx_projid == 7);
		CHECK(g.fsx_xflags ==
		      (FS_XFLAG_PROJINHERIT | FS_XFLAG_EXTSZINHERIT));
		for (const char *p : { "d/child", "d/sub/grandchild" }) {
			INFO(p);
			REQUIRE(fsx_get(m.path(p), &g) == 0);
			CHECK(g.fsx_projid == 7);
			CHECK(g.fsx_extsize == (1u << 20));
			CHECK(g.fsx_xflags == FS_XFLAG_EXTSIZE);
		}
		REQUIRE(fsx_get(m.path("d/sub"), &g) == 0);
		CHECK(g.fsx_projid == 7);
		CHECK(g.fsx_xflags ==
		      (FS_XFLAG_PROJINHERIT | FS_XFLAG_EXTSZINHERIT));
	};
	check_all();
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	check_all();

	// chattr +i shows as FS_XFLAG_IMMUTABLE, and then the project id
	// cannot change.
	int fd = open(m.path("f").c_str(), O_RDONLY);
	unsigned fl = FS_IMMUTABLE_FL;
	REQUIRE(ioctl(fd, FS_IOC_SETFLAGS, &fl) == 0);
	close(fd);
	fsxattr g = {};
	REQUIRE(fsx_get(m.path("f"), &g) == 0);
	// +i replaced +d; the hint stays.
	CHECK(g.fsx_xflags == (FS_XFLAG_IMMUTABLE | FS_XFLAG_EXTSIZE));
	g.fsx_projid = 43;
	CHECK(fsx_set(m.path("f"), g) == EPERM);
	fd = open(m.path("f").c_str(), O_RDONLY);
	fl = 0;
	REQUIRE(ioctl(fd, FS_IOC_SETFLAGS, &fl) == 0);
	close(fd);
	REQUIRE_UNMOUNT(m);

	// xfs_io's lsproj/chproj, when xfsprogs is there.
	REQUIRE_MOUNT(m);
	zit::RunResult r = zit::run_cmd(
		{ "xfs_io", "-c", "chproj 99", "-c", "lsproj", m.path("f") },
		m.scratch().dir());
	if (r.status == 127 || r.status == -1) {
		WARN("no xfs_io: " << r.err);
	} else {
		INFO(r.out << r.err);
		CHECK(r.status == 0);
		CHECK(r.out.find("projid = 99") != std::string::npos);
	}
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

namespace {

// capset(2): effective = permitted (setfsuid to a non-root id drops the
// file-system capabilities, CAP_MKNOD among them, from the effective set).
bool raise_effective()
{
	__user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	__user_cap_data_struct d[2] = {};
	if (syscall(SYS_capget, &h, d))
		return false;
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	return syscall(SYS_capset, &h, d) == 0;
}

// In a child with fsuid/fsgid 1234/2345 (and CAP_MKNOD): rename a to b in
// root with RENAME_WHITEOUT. The whiteout's owner "uid:gid", or "-errno".
std::string whiteout_owner(const std::string &root)
{
	const std::string a = root + "/wa", b = root + "/wb";
	zit::write_file(a, "A");
	struct stat dst = {};
	stat(root.c_str(), &dst);
	chmod(root.c_str(), (dst.st_mode & 07777) | 0777); // setgid stays
	pid_t pid = fork();
	if (pid == 0) {
		setfsgid(2345);
		setfsuid(1234);
		if (!raise_effective())
			_exit(100);
		_exit(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(),
				RENAME_WHITEOUT) ?
			      errno :
			      0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return "-" + std::to_string(WEXITSTATUS(status));
	struct stat st = {};
	lstat(a.c_str(), &st);
	return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) +
	       (S_ISCHR(st.st_mode) ? " chr" : " ?");
}

} // namespace

TEST_CASE("RENAME_WHITEOUT: the whiteout is the caller's, as on tmpfs",
	  "[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	const std::string ours = whiteout_owner(m.path("d"));
	CHECK(ours == whiteout_owner(ref));
	CHECK(ours == "1234:2345 chr");
	// Under a setgid directory the group is the directory's.
	REQUIRE(mkdir(m.path("g").c_str(), 0755) == 0);
	REQUIRE(chown(m.path("g").c_str(), 0, 77) == 0);
	REQUIRE(chmod(m.path("g").c_str(), 02777) == 0);
	CHECK(whiteout_owner(m.path("g")) == "1234:77 chr");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("remount: the server is told (ro stops its writes, atime options)",
	  "[integration][semantics]")
{
	SECTION("ro: the image is clean while mounted read-only")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m);
		REQUIRE(zit::write_file(m.path("f"), "abc"));
		zit::RunResult r = zit::run_cmd(
			{ zit::zufuse_path(), m.mnt(), "-o", "remount,ro" },
			m.scratch().dir());
		INFO(r.err);
		REQUIRE(r.status == 0);
		CHECK(r.err.find("not told") == std::string::npos);
		// Killed while read-only: nothing to recover, fsck clean.
		REQUIRE(m.kill9());
		CHECK_FSCK_CLEAN(m);
		size_t log_before = m.log().size();
		REQUIRE_MOUNT(m);
		CHECK(m.log().substr(log_before).find("unclean") ==
		      std::string::npos);
		CHECK(zit::read_file(m.path("f")) == "abc");
		REQUIRE_UNMOUNT(m);
	}
	SECTION("rw again: writes and the clean/dirty state follow")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m);
		zit::RunResult r = zit::run_cmd(
			{ zit::zufuse_path(), m.mnt(), "-o", "remount,ro" },
			m.scratch().dir());
		REQUIRE(r.status == 0);
		r = zit::run_cmd(
			{ zit::zufuse_path(), m.mnt(), "-o", "remount,rw" },
			m.scratch().dir());
		INFO(r.err);
		REQUIRE(r.status == 0);
		REQUIRE(zit::write_file(m.path("g"), "new"));
		REQUIRE(m.kill9()); // dirty again: recovery runs
		size_t log_before = m.log().size();
		REQUIRE_MOUNT(m);
		CHECK(m.log().substr(log_before).find("unclean") !=
		      std::string::npos);
		CHECK(zit::read_file(m.path("g")) == "new");
		REQUIRE_UNMOUNT(m);
	}
	SECTION("a mount made read-only stays read-only")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m);
		REQUIRE_UNMOUNT(m);
		REQUIRE_MOUNT(m, { "-o", "ro" });
		zit::RunResult r = zit::run_cmd(
			{ zit::zufuse_path(), m.mnt(), "-o", "remount,rw" },
			m.scratch().dir());
		CHECK(r.status != 0);
		CHECK(r.err.find("mounted read-only") != std::string::npos);
		CHECK(ERR(mkdir(m.path("x").c_str(), 0755)) == EROFS);
		REQUIRE_UNMOUNT(m);
	}
	SECTION("remount,noatime reaches the server")
	{
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, { "-o", "strictatime" });
		REQUIRE(zit::write_file(m.path("f"), "abc"));
		timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
		REQUIRE(utimensat(AT_FDCWD, m.path("f").c_str(), old, 0) == 0);
		zit::RunResult r = zit::run_cmd({ zit::zufuse_path(), m.mnt(),
						  "-o", "remount,noatime" },
						m.scratch().dir());
		INFO(r.err);
		REQUIRE(r.status == 0);
		int fd = open(m.path("f").c_str(), O_RDONLY | O_DIRECT);
		REQUIRE(fd >= 0);
		alignas(4096) static char buf[4096];
		CHECK(pread(fd, buf, sizeof(buf), 0) == 3);
		close(fd);
		// What the server keeps, after a remount.
		REQUIRE_UNMOUNT(m);
		REQUIRE_MOUNT(m);
		struct stat st;
		REQUIRE(stat(m.path("f").c_str(), &st) == 0);
		CHECK(st.st_atim.tv_sec == 1000);
		REQUIRE_UNMOUNT(m);
	}
}
