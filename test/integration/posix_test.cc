// SPDX-License-Identifier: BSD-3-Clause
//
// posix_test.cc - the same sequence of file system calls on tmpfs and on a
// zufuse mount must give the same results: return values, errno, file
// contents, sorted listings, and stat mode/nlink/size.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "integration.h"

namespace {

std::string errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E" + std::to_string(e);
}

uint64_t fnv1a(const std::string &s)
{
	uint64_t h = 1469598103934665603ull;
	for (unsigned char c : s)
		h = (h ^ c) * 1099511628211ull;
	return h;
}

std::string octal(unsigned v)
{
	std::ostringstream ss;
	ss << std::oct << v;
	return ss.str();
}

// Runs calls under a root dir and logs each result as text, so that two
// runs can be compared line by line.
class Recorder {
  public:
	explicit Recorder(std::string root) : root_(std::move(root)) {}

	std::vector<std::string> log;

	std::string p(const std::string &rel) const
	{
		return rel.empty() ? root_ : root_ + "/" + rel;
	}

	// Log "what -> value" or "what -> -ENAME".
	long val(const std::string &what, const std::function<long()> &f)
	{
		errno = 0;
		long r = f();
		int e = errno;
		log.push_back(what + " -> " +
			      (r < 0 ? "-" + errname(e) : std::to_string(r)));
		return r;
	}
	// Like val() but a success is logged as "ok" (fd numbers may differ).
	long ok(const std::string &what, const std::function<long()> &f)
	{
		errno = 0;
		long r = f();
		int e = errno;
		log.push_back(what + " -> " +
			      (r < 0 ? "-" + errname(e) : "ok"));
		return r;
	}

	int open(const std::string &rel, int flags, mode_t mode = 0644)
	{
		std::string path = p(rel);
		return int(ok("open " + rel + " " + std::to_string(flags), [&] {
			return ::open(path.c_str(), flags, mode);
		}));
	}
	void close(int fd)
	{
		if (fd >= 0)
			::close(fd);
	}
	void write(const std::string &what, int fd, const std::string &data,
		   off_t off = -1)
	{
		val("write " + what, [&]() -> long {
			return off < 0 ? ::write(fd, data.data(), data.size()) :
					 ::pwrite(fd, data.data(), data.size(),
						  off);
		});
	}
	void pread(const std::string &what, int fd, size_t len, off_t off)
	{
		std::string buf(len, '\0');
		errno = 0;
		long r = ::pread(fd, buf.data(), len, off);
		int e = errno;
		if (r < 0) {
			log.push_back("pread " + what + " -> -" + errname(e));
			return;
		}
		buf.resize(size_t(r));
		log.push_back("pread " + what + " -> " + std::to_string(r) +
			      " hash " + std::to_string(fnv1a(buf)));
	}
	void stat(const std::string &rel)
	{
		struct stat st;
		std::string path = p(rel);
		if (::lstat(path.c_str(), &st) < 0) {
			log.push_back("stat " + rel + " -> -" + errname(errno));
			return;
		}
		log.push_back("stat " + rel + " -> " + describe(st));
	}
	void fstat(const std::string &what, int fd)
	{
		struct stat st;
		if (::fstat(fd, &st) < 0) {
			log.push_back("fstat " + what + " -> -" +
				      errname(errno));
			return;
		}
		log.push_back("fstat " + what + " -> " + describe(st));
	}
	void content(const std::string &rel)
	{
		bool good = false;
		std::string d = zit::read_file(p(rel), &good);
		log.push_back("content " + rel + " -> " +
			      (good ? std::to_string(d.size()) +
					       " bytes hash " +
					       std::to_string(fnv1a(d)) :
				      "unreadable"));
	}
	// Sorted listing with d_type, and whether d_ino matches st_ino.
	void list(const std::string &rel)
	{
		std::string path = p(rel);
		DIR *d = opendir(path.c_str());
		if (!d) {
			log.push_back("list " + rel + " -> -" + errname(errno));
			return;
		}
		std::vector<std::string> names;
		bool inos_match = true;
		while (struct dirent *e = readdir(d)) {
			names.push_back(std::string(e->d_name) + ":" +
					std::to_string(int(e->d_type)));
			std::string n = e->d_name;
			if (n == "." || n == "..")
				continue;
			struct stat st;
			if (::lstat((path + "/" + n).c_str(), &st) < 0 ||
			    st.st_ino != e->d_ino)
				inos_match = false;
		}
		closedir(d);
		std::sort(names.begin(), names.end());
		std::string s;
		for (const auto &n : names)
			s += n + " ";
		log.push_back("list " + rel + " -> [" +
			      std::to_string(names.size()) + "] " + s +
			      (inos_match ? "" : " (d_ino != st_ino)"));
	}

	static std::string describe(const struct stat &st)
	{
		std::string s = "mode=" + octal(st.st_mode) +
				" nlink=" + std::to_string(st.st_nlink) +
				" uid=" + std::to_string(st.st_uid) +
				" gid=" + std::to_string(st.st_gid);
		if (!S_ISDIR(st.st_mode))
			s += " size=" + std::to_string(st.st_size);
		return s;
	}

  private:
	std::string root_;
};

// The sequence under test. Every call it makes is logged.
void sequence(Recorder &r)
{
	auto P = [&](const std::string &rel) { return r.p(rel); };
	std::string a, b; // scratch path strings for the lambdas

	// Directories.
	r.ok("mkdir a", [&] { return mkdir(P("a").c_str(), 0755); });
	r.ok("mkdir a again", [&] { return mkdir(P("a").c_str(), 0755); });
	r.ok("mkdir a/b", [&] { return mkdir(P("a/b").c_str(), 0755); });
	r.ok("mkdir a/b/c", [&] { return mkdir(P("a/b/c").c_str(), 0700); });
	r.ok("mkdir x/y", [&] { return mkdir(P("x/y").c_str(), 0755); });
	r.stat("");
	r.stat("a");
	r.stat("a/b");
	r.stat("a/b/c");

	// A file with a hole.
	int fd = r.open("a/f", O_CREAT | O_EXCL | O_RDWR);
	r.write("hello", fd, "hello world");
	r.write("xyz@100000", fd, "XYZ", 100000);
	r.fstat("a/f", fd);
	r.pread("0..200", fd, 200, 0);
	r.pread("99990..+20", fd, 20, 99990);
	r.pread("past eof", fd, 100, 200000);
	r.write("overwrite@6", fd, "WORLD", 6);
	r.pread("0..11", fd, 11, 0);
	r.close(fd);
	r.close(r.open("a/f", O_CREAT | O_EXCL | O_RDWR));
	r.stat("a/f");
	r.content("a/f");

	// Error paths.
	r.close(r.open("missing", O_RDONLY));
	r.close(r.open("a", O_WRONLY));
	r.ok("mkdir a/f/x", [&] { return mkdir(P("a/f/x").c_str(), 0755); });
	r.close(r.open("a/f/x", O_CREAT | O_WRONLY));
	r.ok("rmdir a (not empty)", [&] { return rmdir(P("a").c_str()); });
	r.ok("unlink a (dir)", [&] { return unlink(P("a").c_str()); });
	r.ok("rmdir a/f (file)", [&] { return rmdir(P("a/f").c_str()); });
	r.ok("unlink a/nope", [&] { return unlink(P("a/nope").c_str()); });
	r.ok("rmdir a/nope", [&] { return rmdir(P("a/nope").c_str()); });

	// Names.
	std::string n255(255, 'n'), n256(256, 'm');
	r.close(r.open("a/" + n256, O_CREAT | O_WRONLY));
	r.close(r.open("a/" + n255, O_CREAT | O_WRONLY));
	r.stat("a/" + n255);
	r.ok("unlink n255", [&] { return unlink(P("a/" + n255).c_str()); });

	// Renames.
	r.ok("rename f g",
	     [&] { return rename(P("a/f").c_str(), P("a/g").c_str()); });
	r.stat("a/f");
	r.stat("a/g");
	fd = r.open("a/h", O_CREAT | O_WRONLY | O_TRUNC);
	r.write("hhh", fd, "hhh");
	r.close(fd);
	r.ok("rename g over h",
	     [&] { return rename(P("a/g").c_str(), P("a/h").c_str()); });
	r.stat("a/g");
	r.content("a/h");
	r.ok("rename file over dir",
	     [&] { return rename(P("a/h").c_str(), P("a/b").c_str()); });
	r.ok("rename dir over file",
	     [&] { return rename(P("a/b").c_str(), P("a/h").c_str()); });
	r.ok("mkdir a/e", [&] { return mkdir(P("a/e").c_str(), 0755); });
	r.close(r.open("a/e/x", O_CREAT | O_WRONLY));
	r.ok("rename dir over non-empty dir",
	     [&] { return rename(P("a/b").c_str(), P("a/e").c_str()); });
	r.ok("mkdir a/empty",
	     [&] { return mkdir(P("a/empty").c_str(), 0755); });
	r.stat("a");
	r.ok("rename dir over empty dir",
	     [&] { return rename(P("a/b").c_str(), P("a/empty").c_str()); });
	r.stat("a");
	r.stat("a/b");
	r.stat("a/empty/c");
	r.ok("rename into own subtree",
	     [&] { return rename(P("a").c_str(), P("a/empty/c/z").c_str()); });
	r.ok("mkdir top", [&] { return mkdir(P("top").c_str(), 0755); });
	r.ok("rename dir across parents", [&] {
		return rename(P("a/empty").c_str(), P("top/moved").c_str());
	});
	r.stat("a");
	r.stat("top");
	r.stat("top/moved/c");
	r.ok("rename missing",
	     [&] { return rename(P("a/zz").c_str(), P("a/yy").c_str()); });
	r.ok("noreplace onto existing", [&] {
		return renameat2(AT_FDCWD, P("a/h").c_str(), AT_FDCWD,
				 P("a/e/x").c_str(), RENAME_NOREPLACE);
	});
	r.ok("noreplace onto new", [&] {
		return renameat2(AT_FDCWD, P("a/h").c_str(), AT_FDCWD,
				 P("a/h2").c_str(), RENAME_NOREPLACE);
	});
	r.ok("exchange files", [&] {
		return renameat2(AT_FDCWD, P("a/h2").c_str(), AT_FDCWD,
				 P("a/e/x").c_str(), RENAME_EXCHANGE);
	});
	r.content("a/h2");
	r.content("a/e/x");
	r.ok("exchange dir and file", [&] {
		return renameat2(AT_FDCWD, P("a/e").c_str(), AT_FDCWD,
				 P("top/moved/c").c_str(), RENAME_EXCHANGE);
	});
	r.ok("exchange with missing", [&] {
		return renameat2(AT_FDCWD, P("a/h2").c_str(), AT_FDCWD,
				 P("a/none").c_str(), RENAME_EXCHANGE);
	});
	r.stat("a");
	r.stat("top/moved");
	r.list("a");
	r.list("top/moved");

	// Truncate, append, O_TRUNC, chmod, times.
	fd = r.open("t", O_CREAT | O_RDWR);
	r.write("10000", fd, zit::pattern(7, 10000));
	r.ok("ftruncate 5000", [&] { return ftruncate(fd, 5000); });
	r.fstat("t", fd);
	r.pread("all", fd, 20000, 0);
	r.ok("ftruncate 20000", [&] { return ftruncate(fd, 20000); });
	r.pread("all", fd, 30000, 0);
	r.ok("ftruncate 4096", [&] { return ftruncate(fd, 4096); });
	r.pread("all", fd, 30000, 0);
	r.ok("ftruncate 4095", [&] { return ftruncate(fd, 4095); });
	r.pread("all", fd, 30000, 0);
	r.write("after shrink@8000", fd, "tail", 8000);
	r.pread("all", fd, 30000, 0);
	r.close(fd);
	r.ok("truncate 0", [&] { return truncate(P("t").c_str(), 0); });
	r.stat("t");
	fd = r.open("t", O_WRONLY | O_APPEND);
	r.write("aa", fd, "aa");
	r.write("bbb", fd, "bbb");
	r.close(fd);
	r.content("t");
	r.close(r.open("t", O_WRONLY | O_TRUNC));
	r.stat("t");
	r.ok("chmod t 600", [&] { return chmod(P("t").c_str(), 0600); });
	r.ok("chmod top 700", [&] { return chmod(P("top").c_str(), 0700); });
	r.stat("t");
	r.stat("top");
	r.ok("chown t", [&] { return chown(P("t").c_str(), 1234, 5678); });
	r.ok("chown top uid only",
	     [&] { return chown(P("top").c_str(), 42, -1); });
	r.ok("lchown missing", [&] { return lchown(P("nope").c_str(), 1, 1); });
	r.stat("t");
	r.stat("top");
	r.ok("truncate dir", [&] { return truncate(P("top").c_str(), 0); });
	r.val("utimensat+stat", [&]() -> long {
		struct timespec ts[2] = { { 1000000000, 123456789 },
					  { 1500000000, 500000000 } };
		if (utimensat(AT_FDCWD, P("t").c_str(), ts, 0) < 0)
			return -1;
		struct stat st;
		if (::stat(P("t").c_str(), &st) < 0)
			return -1;
		return st.st_mtim.tv_sec * 10 + st.st_mtim.tv_nsec / 100000000 +
		       (st.st_atim.tv_sec == 1000000000 ? 0 : 1000000);
	});

	// Unlink while open: the data stays readable through the fd.
	fd = r.open("u", O_CREAT | O_RDWR);
	r.write("data", fd, "data");
	r.ok("unlink u (open)", [&] { return unlink(P("u").c_str()); });
	r.stat("u");
	r.pread("unlinked", fd, 100, 0);
	r.write("more", fd, "more", 4);
	r.pread("unlinked", fd, 100, 0);
	r.val("fstat nlink", [&]() -> long {
		struct stat st;
		return ::fstat(fd, &st) < 0 ? -1 : long(st.st_nlink);
	});
	r.close(fd);

	// A big write at an odd offset.
	fd = r.open("big", O_CREAT | O_RDWR);
	r.write("3M+123@4095", fd, zit::pattern(3, (3 << 20) + 123), 4095);
	r.pread("all", fd, 4 << 20, 0);
	r.pread("middle", fd, 100000, 1234567);
	r.fstat("big", fd);
	r.close(fd);

	// A directory big enough to need several readdir calls.
	r.ok("mkdir many", [&] { return mkdir(P("many").c_str(), 0755); });
	for (int i = 0; i < 300; i++) {
		std::string name = "many/file" + std::to_string(i);
		if (i % 7 == 0)
			name += "_" + std::string(180, char('a' + i % 26));
		std::string path = P(name);
		int f = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
		if (f < 0)
			r.log.push_back("create " + name + " -> -" +
					errname(errno));
		else
			::close(f);
	}
	r.list("many");
	for (int i = 0; i < 300; i += 2) {
		std::string name = "many/file" + std::to_string(i);
		if (i % 7 == 0)
			name += "_" + std::string(180, char('a' + i % 26));
		std::string path = P(name);
		if (unlink(path.c_str()) < 0)
			r.log.push_back("unlink " + name + " -> -" +
					errname(errno));
	}
	r.list("many");
	r.stat("many");
	r.ok("rmdir many", [&] { return rmdir(P("many").c_str()); });

	// Clean-up of part of the tree; the rest stays for the snapshot.
	r.ok("unlink a/e/x",
	     [&] { return unlink(P("top/moved/c/x").c_str()); });
	r.ok("rmdir top/moved/c",
	     [&] { return rmdir(P("top/moved/c").c_str()); });
	r.ok("rmdir again", [&] { return rmdir(P("top/moved/c").c_str()); });
	r.list("");
	r.stat("");
}

// Symbolic and hard links (cp -a needs the first; the server has
// ADD_DENTRY for the second).
void links_sequence(Recorder &r)
{
	auto P = [&](const std::string &rel) { return r.p(rel); };
	auto readlink_ = [&](const std::string &rel) {
		char buf[4096];
		errno = 0;
		ssize_t n = readlink(P(rel).c_str(), buf, sizeof(buf));
		int e = errno;
		r.log.push_back("readlink " + rel + " -> " +
				(n < 0 ? "-" + errname(e) :
					 std::string(buf, size_t(n))));
	};
	r.ok("mkdir d", [&] { return mkdir(P("d").c_str(), 0755); });
	int fd = r.open("d/target", O_CREAT | O_WRONLY);
	r.write("target", fd, "target data");
	r.close(fd);
	r.ok("symlink rel",
	     [&] { return symlink("target", P("d/rel").c_str()); });
	r.ok("symlink abs-ish", [&] {
		return symlink("/nonexistent/dangling",
			       P("d/dangling").c_str());
	});
	r.ok("symlink to dir",
	     [&] { return symlink("d", P("dirlink").c_str()); });
	std::string long_target(1000, 'x');
	r.ok("symlink long",
	     [&] { return symlink(long_target.c_str(), P("d/long").c_str()); });
	r.ok("symlink exists",
	     [&] { return symlink("target", P("d/rel").c_str()); });
	r.stat("d/rel");
	r.stat("d/long");
	readlink_("d/rel");
	readlink_("d/dangling");
	readlink_("d/long");
	readlink_("d/target");
	r.content("d/rel");
	r.content("dirlink/target");
	r.content("d/dangling");
	r.list("d");
	r.list("");
	r.ok("rename symlink",
	     [&] { return rename(P("d/rel").c_str(), P("rel2").c_str()); });
	readlink_("rel2");
	r.ok("unlink dirlink", [&] { return unlink(P("dirlink").c_str()); });

	r.ok("link",
	     [&] { return link(P("d/target").c_str(), P("hard").c_str()); });
	r.stat("d/target");
	r.stat("hard");
	r.ok("link to existing",
	     [&] { return link(P("d/target").c_str(), P("rel2").c_str()); });
	r.ok("link a dir",
	     [&] { return link(P("d").c_str(), P("d2").c_str()); });
	fd = r.open("hard", O_WRONLY | O_APPEND);
	r.write("via hard", fd, "+more");
	r.close(fd);
	r.content("d/target");
	r.ok("unlink target", [&] { return unlink(P("d/target").c_str()); });
	r.stat("hard");
	r.content("hard");
	r.list("d");
}

// Every entry under root: path, type/mode, nlink, size, content hash.
std::vector<std::string> snapshot(const std::string &root)
{
	std::vector<std::string> out;
	std::function<void(const std::string &)> walk =
		[&](const std::string &rel) {
		std::string path = rel.empty() ? root : root + "/" + rel;
		struct stat st;
		if (lstat(path.c_str(), &st) < 0) {
			out.push_back(rel + ": -" + errname(errno));
			return;
		}
		std::string line = "/" + rel + ": " + Recorder::describe(st);
		if (S_ISREG(st.st_mode))
			line += " hash=" +
				std::to_string(fnv1a(zit::read_file(path)));
		out.push_back(line);
		if (!S_ISDIR(st.st_mode))
			return;
		DIR *d = opendir(path.c_str());
		if (!d) {
			out.push_back(rel + ": opendir -" + errname(errno));
			return;
		}
		std::vector<std::string> names;
		while (struct dirent *e = readdir(d))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				names.push_back(e->d_name);
		closedir(d);
		std::sort(names.begin(), names.end());
		for (const auto &n : names)
			walk(rel.empty() ? n : rel + "/" + n);
	};
	walk("");
	return out;
}

void require_same(const std::vector<std::string> &ref,
		  const std::vector<std::string> &got)
{
	size_t n = std::max(ref.size(), got.size());
	for (size_t i = 0; i < n; i++) {
		std::string want = i < ref.size() ? ref[i] : "(nothing)";
		std::string have = i < got.size() ? got[i] : "(nothing)";
		INFO("step " << i << "\n tmpfs:  " << want
			     << "\n zufuse: " << have);
		CHECK(want == have);
		if (want != have)
			break; // the first difference is the interesting one
	}
}

} // namespace

TEST_CASE("posix call sequence gives the same results as tmpfs", "[posix]")
{
	zit::Mount m;
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	REQUIRE_MOUNT(m);
	umask(022);

	Recorder on_tmpfs(ref), on_zufuse(m.mnt());
	sequence(on_tmpfs);
	sequence(on_zufuse);
	INFO("zufuse log:\n" << m.log());
	require_same(on_tmpfs.log, on_zufuse.log);

	auto snap_ref = snapshot(ref);
	auto snap = snapshot(m.mnt());
	// The mount point's own root mode is the file system's; compare the rest.
	snap_ref.erase(snap_ref.begin());
	snap.erase(snap.begin());
	require_same(snap_ref, snap);

	SECTION("and the tree is the same after unmount and mount")
	{
		REQUIRE_UNMOUNT(m);
		REQUIRE_MOUNT(m);
		auto again = snapshot(m.mnt());
		again.erase(again.begin());
		require_same(snap_ref, again);
	}
}

TEST_CASE("statfs reports the pmem geometry", "[posix]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	struct statfs sf;
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	CHECK(sf.f_bsize == 4096);
	CHECK(sf.f_namelen == 255);
	CHECK(sf.f_blocks > 0);
	CHECK(sf.f_blocks <= (64u << 20) / 4096);
	CHECK(sf.f_bfree <= sf.f_blocks);
	CHECK(sf.f_files > 0);

	// Writing 4 MiB takes about 1024 blocks.
	uint64_t before = sf.f_bfree;
	std::string f = m.path("f");
	REQUIRE(zit::write_file(f, zit::pattern(1, 4 << 20)));
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	CHECK(before - sf.f_bfree >= 1024);
	struct stat st;
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK(st.st_blocks >= (4 << 20) / 512);
	REQUIRE(unlink(f.c_str()) == 0);
	// The blocks come back when the kernel forgets the inode (FORGET is
	// asynchronous under FUSE, unlike tmpfs), so give it a moment.
	for (int i = 0; i < 300; i++) {
		REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
		if (sf.f_bfree + 16 >= before)
			break;
		usleep(10000);
	}
	CHECK(sf.f_bfree + 16 >= before);
}

TEST_CASE("symbolic and hard links give the same results as tmpfs",
	  "[posix][links]")
{
	zit::Mount m;
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	REQUIRE_MOUNT(m);
	umask(022);

	Recorder on_tmpfs(ref), on_zufuse(m.mnt());
	links_sequence(on_tmpfs);
	links_sequence(on_zufuse);
	INFO("zufuse log:\n" << m.log());
	require_same(on_tmpfs.log, on_zufuse.log);

	auto snap_ref = snapshot(ref);
	snap_ref.erase(snap_ref.begin());
	REQUIRE_UNMOUNT(m);
	REQUIRE_MOUNT(m);
	auto snap = snapshot(m.mnt());
	snap.erase(snap.begin());
	require_same(snap_ref, snap);
}
