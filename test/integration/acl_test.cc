// SPDX-License-Identifier: BSD-3-Clause
//
// acl_test.cc - POSIX ACLs and atime through a real mount, compared with
// tmpfs (a directory in the scratch dir, /dev/shm): the same calls on both
// sides must give the same results. ACLs are built as xattr values
// (zufs/posix_acl.h), so no acl tools are needed.
//
// Covered: set/get round trip and the mode they imply, malformed values,
// chmod <-> ACL mask, default ACL inheritance for files, directories,
// FIFOs and symlinks under several umasks, permission checks as nobody
// granted or denied by named entries, setgid cleared by a non-member's
// ACL, the noacl mount, relatime and noatime.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "fs_helpers.h"
#include "integration.h"
#include "zufs/posix_acl.h"

using zit::as_nobody;
using zit::atime_of;
using zit::read_all;
using zit::same;

namespace {

using namespace zufs::acl;

constexpr uid_t kNobody = 65534;
const char kAccessName[] = "system.posix_acl_access";
const char kDefaultName[] = "system.posix_acl_default";

std::string blob(std::initializer_list<Entry> es) { return to_xattr(Acl(es)); }

std::string err_of(long r)
{
	if (r >= 0)
		return std::to_string(r);
	return std::string("-") +
	       (strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
}

// An ACL xattr of path, decoded ("-ENODATA" etc. when there is none).
std::string acl_of(const std::string &path, const char *name)
{
	char buf[8192];
	long n = lgetxattr(path.c_str(), name, buf, sizeof(buf));
	if (n < 0)
		return err_of(n);
	Acl acl;
	if (int err = parse({ buf, size_t(n) }, &acl))
		return "bad(" + std::to_string(err) + ")";
	std::ostringstream s;
	for (const Entry &e : acl) {
		s << std::hex << e.tag << std::dec << ":";
		if (e.tag == kUser || e.tag == kGroup)
			s << e.id;
		s << ":" << e.perm << ",";
	}
	return s.str();
}

// Mode, owner and both ACLs of path.
std::string state_of(const std::string &path)
{
	struct stat st;
	if (lstat(path.c_str(), &st))
		return err_of(-1);
	std::ostringstream s;
	s << std::oct << st.st_mode << std::dec << " " << st.st_uid << "."
	  << st.st_gid << " a=" << acl_of(path, kAccessName)
	  << " d=" << acl_of(path, kDefaultName);
	return s.str();
}

// The same steps on tmpfs and on zufuse; each returns a transcript.
struct Sides {
	std::string tmpfs, zufuse;

	void check(const std::function<std::string(const std::string &)> &fn,
		   const char *what)
	{
		std::string a = fn(tmpfs), b = fn(zufuse);
		INFO(what << "\n tmpfs:  " << a << "\n zufuse: " << b);
		CHECK(a == b);
	}
};

Sides sides(zit::Mount &m, const std::string &name)
{
	Sides s{ m.scratch().path("ref-" + name), m.path(name) };
	// mkdtemp made the scratch dir 0700: nobody must reach both sides.
	REQUIRE(chmod(m.scratch().dir().c_str(), 0755) == 0);
	REQUIRE(mkdir(s.tmpfs.c_str(), 0755) == 0);
	REQUIRE(mkdir(s.zufuse.c_str(), 0755) == 0);
	return s;
}

std::string set_acl(const std::string &p, const char *name,
		    const std::string &v)
{
	return err_of(lsetxattr(p.c_str(), name, v.data(), v.size(), 0));
}

// "result state-after" of one step (the step runs first).
std::string then(const std::string &result, const std::string &path)
{
	return result + " " + state_of(path) + "\n";
}

std::string try_open(const std::string &p, int flags)
{
	int fd = open(p.c_str(), flags | O_NONBLOCK);
	if (fd < 0)
		return err_of(-1);
	close(fd);
	return "ok";
}

// A named-user ACL: owner rwx, nobody with perm, group r-x, mask, other.
const std::string kNamed = blob({ { kUserObj, 7, 0 },
				  { kUser, 4, kNobody },
				  { kGroupObj, 5, 0 },
				  { kMask, 7, 0 },
				  { kOther, 0, 0 } });

} // namespace

TEST_CASE("acl: set/get round trip, mode sync, chmod, malformed values",
	  "[integration][acl]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	Sides s = sides(m, "rt");
	umask(022);
	s.check(
		[](const std::string &d) {
		std::string f = d + "/f", r;
		close(open(f.c_str(), O_CREAT | O_WRONLY, 02664));
		r += then(set_acl(f, kAccessName, kNamed), f);
		// chmod rewrites owner, mask and other.
		r += then(err_of(chmod(f.c_str(), 0640)), f);
		r += then(err_of(chmod(f.c_str(), 0)), f);
		// An ACL the mode says all of: not kept.
		r += then(set_acl(f, kAccessName,
				  blob({ { kUserObj, 6, 0 },
					 { kGroupObj, 4, 0 },
					 { kOther, 4, 0 } })),
			  f);
		// A mask without named entries is kept.
		r += then(set_acl(f, kAccessName,
				  blob({ { kUserObj, 6, 0 },
					 { kGroupObj, 6, 0 },
					 { kMask, 4, 0 },
					 { kOther, 0, 0 } })),
			  f);
		// Malformed: order, missing mask, bad perm, bad size,
		// version, undefined named id; an empty ACL removes.
		for (const std::string &v :
		     { blob({ { kGroupObj, 6, 0 },
			      { kUserObj, 6, 0 },
			      { kOther, 0, 0 } }),
		       blob({ { kUserObj, 6, 0 },
			      { kUser, 6, 7 },
			      { kGroupObj, 6, 0 },
			      { kOther, 0, 0 } }),
		       blob({ { kUserObj, 8, 0 },
			      { kGroupObj, 6, 0 },
			      { kOther, 0, 0 } }),
		       blob({ { kUserObj, 6, 0 },
			      { kUser, 6, kUndefinedId },
			      { kGroupObj, 6, 0 },
			      { kMask, 6, 0 },
			      { kOther, 0, 0 } }),
		       kNamed.substr(0, 10), std::string("\1\0\0\0", 4),
		       std::string("\2\0", 2), std::string("\2\0\0\0", 4) })
			r += set_acl(f, kAccessName, v) + ",";
		r += then("", f);
		// Default ACLs: only on directories.
		r += set_acl(f, kDefaultName, kNamed) + " ";
		r += err_of(lremovexattr(f.c_str(), kDefaultName)) + " ";
		r += then(err_of(lremovexattr(f.c_str(), kAccessName)), f);
		r += then(err_of(lremovexattr(f.c_str(), kAccessName)), f);
		std::string sub = d + "/sub";
		mkdir(sub.c_str(), 0755);
		r += then(set_acl(sub, kDefaultName, kNamed), sub);
		r += then(
			set_acl(sub, kDefaultName, std::string("\2\0\0\0", 4)),
			sub);
		// Sizes: ERANGE for a short buffer.
		set_acl(f, kAccessName, kNamed);
		char small[8];
		r += err_of(lgetxattr(f.c_str(), kAccessName, small,
				      sizeof(small))) +
		     " " +
		     err_of(lgetxattr(f.c_str(), kAccessName, nullptr, 0)) +
		     "\n";
		// listxattr names the ACL.
		char list[256];
		long n = llistxattr(f.c_str(), list, sizeof(list));
		r += std::string(list, n > 0 ? n : 0) + "\n";
		return r;
		},
		"round trip");
	REQUIRE_UNMOUNT(m);
	// The ACLs persist.
	REQUIRE_MOUNT(m);
	CHECK(state_of(m.path("rt/f")) == state_of(s.tmpfs + "/f"));
	CHECK(state_of(m.path("rt/sub")) == state_of(s.tmpfs + "/sub"));
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("acl: default ACL inheritance under several umasks",
	  "[integration][acl]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	Sides s = sides(m, "inh");
	const std::string defaults[] = {
		"", // none: the umask applies
		kNamed,
		blob({ { kUserObj, 7, 0 },
		       { kGroupObj, 5, 0 },
		       { kOther, 1, 0 } }),
		blob({ { kUserObj, 6, 0 },
		       { kGroupObj, 7, 0 },
		       { kGroup, 2, 100 },
		       { kMask, 3, 0 },
		       { kOther, 7, 0 } }),
	};
	int n = 0;
	for (mode_t mask : { 022, 077, 0, 027, 0777 }) {
		for (const std::string &def : defaults) {
			std::string name = "d" + std::to_string(n++);
			umask(0);
			s.check(
				[&](const std::string &root) {
				std::string d = root + "/" + name, r;
				mkdir(d.c_str(), 0777);
				if (!def.empty())
					r += set_acl(d, kDefaultName, def) +
					     "\n";
				umask(mask);
				std::string f = d + "/f", g = d + "/g",
					    sd = d + "/sd", fifo = d + "/p",
					    ln = d + "/l", deep = sd + "/f";
				close(open(f.c_str(), O_CREAT | O_WRONLY,
					   0666));
				close(open(g.c_str(), O_CREAT | O_WRONLY,
					   0750));
				mkdir(sd.c_str(), 0777);
				mknod(fifo.c_str(), S_IFIFO | 0666, 0);
				symlink("f", ln.c_str());
				close(open(deep.c_str(), O_CREAT | O_WRONLY,
					   0604));
				umask(0);
				for (const std::string &p :
				     { f, g, sd, fifo, ln, deep })
					r += p.substr(root.size()) + " " +
					     state_of(p) + "\n";
				return r;
				},
				("umask " + std::to_string(mask) + " " + name)
					.c_str());
		}
	}
	umask(022);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("acl: permission checks as nobody follow named entries",
	  "[integration][acl]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	Sides s = sides(m, "perm");
	umask(022);
	s.check(
		[](const std::string &d) {
		std::string r;
		// Owned by root, no access for others by the mode.
		std::string ro = d + "/ro", rw = d + "/rw",
			    masked = d + "/masked", grp = d + "/grp",
			    dir = d + "/dir", denied = d + "/denied";
		for (const std::string &p : { ro, rw, masked, grp, denied })
			close(open(p.c_str(), O_CREAT | O_WRONLY, 0600));
		mkdir(dir.c_str(), 0700);
		close(open((dir + "/in").c_str(), O_CREAT | O_WRONLY, 0644));
		set_acl(ro, kAccessName,
			blob({ { kUserObj, 6, 0 },
			       { kUser, 4, kNobody },
			       { kGroupObj, 0, 0 },
			       { kMask, 4, 0 },
			       { kOther, 0, 0 } }));
		set_acl(rw, kAccessName,
			blob({ { kUserObj, 6, 0 },
			       { kUser, 6, kNobody },
			       { kGroupObj, 0, 0 },
			       { kMask, 6, 0 },
			       { kOther, 0, 0 } }));
		// The mask takes back what the named entry gives.
		set_acl(masked, kAccessName,
			blob({ { kUserObj, 6, 0 },
			       { kUser, 6, kNobody },
			       { kGroupObj, 0, 0 },
			       { kMask, 0, 0 },
			       { kOther, 0, 0 } }));
		set_acl(grp, kAccessName,
			blob({ { kUserObj, 6, 0 },
			       { kGroupObj, 0, 0 },
			       { kGroup, 4, kNobody },
			       { kMask, 4, 0 },
			       { kOther, 0, 0 } }));
		// A named entry with no rights beats "other".
		set_acl(denied, kAccessName,
			blob({ { kUserObj, 6, 0 },
			       { kUser, 0, kNobody },
			       { kGroupObj, 0, 0 },
			       { kMask, 7, 0 },
			       { kOther, 6, 0 } }));
		set_acl(dir, kAccessName,
			blob({ { kUserObj, 7, 0 },
			       { kUser, 1, kNobody },
			       { kGroupObj, 0, 0 },
			       { kMask, 1, 0 },
			       { kOther, 0, 0 } }));
		r += as_nobody([&] {
			std::string t;
			for (const std::string &p :
			     { ro, rw, masked, grp, denied }) {
				t += try_open(p, O_RDONLY) + "/" +
				     try_open(p, O_WRONLY) + " ";
				t += std::to_string(access(p.c_str(), R_OK)) +
				     std::to_string(access(p.c_str(), W_OK)) +
				     " ";
			}
			// x on the directory: traverse, not list.
			t += try_open(dir + "/in", O_RDONLY) + " " +
			     try_open(dir, O_RDONLY | O_DIRECTORY) + " ";
			// Not the owner: no ACL changes.
			t += set_acl(ro, kAccessName, kNamed);
			return t;
		});
		return r;
		},
		"as nobody");
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("acl: a non-member's ACL clears setgid; chown keeps the ACL",
	  "[integration][acl]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	Sides s = sides(m, "sgid");
	umask(022);
	s.check(
		[](const std::string &d) {
		std::string f = d + "/f", g = d + "/g", r;
		// Owned by nobody, group root: nobody is no member.
		for (const std::string &p : { f, g }) {
			close(open(p.c_str(), O_CREAT | O_WRONLY, 0644));
			chown(p.c_str(), kNobody, 0);
			chmod(p.c_str(), 02775);
		}
		r += state_of(f) + "\n";
		r += as_nobody([&] { return set_acl(f, kAccessName, kNamed); });
		r += then("", f);
		// root (privileged) keeps it.
		r += then(set_acl(g, kAccessName, kNamed), g);
		r += then(err_of(chown(g.c_str(), 0, 0)), g);
		return r;
		},
		"setgid");
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("acl: -o noacl answers EOPNOTSUPP and keeps the umask",
	  "[integration][acl]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m, { "-o", "noacl" });
	std::string d = m.path("d");
	umask(027);
	REQUIRE(mkdir(d.c_str(), 0777) == 0);
	struct stat st;
	REQUIRE(stat(d.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0750);
	CHECK(set_acl(d, kDefaultName, kNamed) == "-EOPNOTSUPP");
	CHECK(set_acl(d, kAccessName, kNamed) == "-EOPNOTSUPP");
	CHECK(acl_of(d, kAccessName) == "-EOPNOTSUPP");
	std::string f = d + "/f";
	close(open(f.c_str(), O_CREAT | O_WRONLY, 0666));
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);
	umask(022);
	// user.* xattrs still work.
	CHECK(setxattr(f.c_str(), "user.a", "v", 1, 0) == 0);
	REQUIRE_UNMOUNT(m);
	// ACLs set while mounted with ACLs stay on the image, unused.
	REQUIRE_MOUNT(m);
	CHECK(set_acl(d, kDefaultName, kNamed) == "0");
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m, { "-o", "noacl" });
	close(open((d + "/g").c_str(), O_CREAT | O_WRONLY, 0666));
	REQUIRE(stat((d + "/g").c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0644);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("atime: relatime by default, noatime on request",
	  "[integration][atime]")
{
	zit::Mount m;
	REQUIRE_MOUNT(m);
	std::string f = m.path("f");
	REQUIRE(zit::write_file(f, "data"));
	// An atime older than mtime: the next read updates it.
	timespec old[2] = { { 1000, 0 }, { 2000, 0 } };
	REQUIRE(utimensat(AT_FDCWD, f.c_str(), old, 0) == 0);
	REQUIRE_UNMOUNT(m); // no page cache: the read reaches the server
	REQUIRE_MOUNT(m);
	read_all(f);
	timespec a1 = atime_of(f);
	CHECK(a1.tv_sec > 2000);
	// Newer than mtime and ctime and less than a day old: kept.
	usleep(20000);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	read_all(f);
	CHECK(same(atime_of(f), a1));
	// A day old (and newer than mtime): updated again.
	timespec dayold[2] = { { time(nullptr) - 2 * 86400, 0 }, { 3000, 0 } };
	REQUIRE(utimensat(AT_FDCWD, f.c_str(), dayold, 0) == 0);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	read_all(f);
	CHECK(atime_of(f).tv_sec > time(nullptr) - 60);
	// readdir is an access too.
	std::string d = m.path("dir");
	REQUIRE(mkdir(d.c_str(), 0755) == 0);
	REQUIRE(utimensat(AT_FDCWD, d.c_str(), old, 0) == 0);
	if (DIR *dh = opendir(d.c_str())) {
		while (readdir(dh)) {
		}
		closedir(dh);
	}
	CHECK(atime_of(d).tv_sec > time(nullptr) - 60);
	REQUIRE_UNMOUNT(m);

	// noatime: reads never change it.
	REQUIRE_MOUNT(m, { "-o", "noatime" });
	REQUIRE(utimensat(AT_FDCWD, f.c_str(), old, 0) == 0);
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m, { "-o", "noatime" });
	read_all(f);
	CHECK(atime_of(f).tv_sec == 1000);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
