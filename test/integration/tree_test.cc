// SPDX-License-Identifier: BSD-3-Clause
//
// tree_test.cc - copy a few thousand real files (/usr/include) into a mount,
// unmount, mount again, and compare byte for byte; and the README's own
// check: cp -a + diff -r.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "integration.h"

namespace fs = std::filesystem;

namespace {

// Caps keep the test to tens of seconds on a small VM; ZUFUSE_TREE_FILES
// raises the file cap (e.g. 100000 for all of /usr/include).
constexpr uint64_t k_max_bytes = 160ull << 20;

size_t max_files()
{
	const char *s = getenv("ZUFUSE_TREE_FILES");
	return s ? size_t(strtoull(s, nullptr, 10)) : 4000;
}

struct Entry {
	std::string rel;
	bool dir;
	mode_t mode;
};

// Regular files and directories of @src in sorted walk order, up to the caps.
std::vector<Entry> pick_tree(const std::string &src)
{
	std::vector<Entry> out;
	size_t files = 0;
	uint64_t bytes = 0;
	std::vector<fs::path> todo{ fs::path(src) };
	while (!todo.empty() && files < max_files() && bytes < k_max_bytes) {
		fs::path dir = todo.back();
		todo.pop_back();
		std::vector<fs::directory_entry> kids;
		std::error_code ec;
		for (const auto &e : fs::directory_iterator(dir, ec))
			kids.push_back(e);
		std::sort(kids.begin(), kids.end());
		std::vector<fs::path> subdirs;
		for (const auto &e : kids) {
			struct stat st;
			if (lstat(e.path().c_str(), &st) < 0)
				continue;
			std::string rel = fs::relative(e.path(), src).string();
			if (S_ISDIR(st.st_mode)) {
				out.push_back(
					{ rel, true, st.st_mode & 07777 });
				subdirs.push_back(e.path());
			} else if (S_ISREG(st.st_mode) && files < max_files() &&
				   bytes < k_max_bytes) {
				out.push_back(
					{ rel, false, st.st_mode & 07777 });
				files++;
				bytes += uint64_t(st.st_size);
			}
		}
		std::reverse(subdirs.begin(), subdirs.end());
		todo.insert(todo.end(), subdirs.begin(), subdirs.end());
	}
	return out;
}

void compare_tree(const std::vector<Entry> &tree, const std::string &src,
		  const std::string &dst)
{
	size_t bad = 0;
	for (const auto &e : tree) {
		std::string a = src + "/" + e.rel, b = dst + "/" + e.rel;
		struct stat sa, sb;
		REQUIRE(lstat(a.c_str(), &sa) == 0);
		INFO(b);
		if (lstat(b.c_str(), &sb) != 0) {
			FAIL_CHECK("missing: " << strerror(errno));
			if (++bad > 10)
				FAIL("too many differences");
			continue;
		}
		bool same = (sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT) &&
			    (sb.st_mode & 07777) == e.mode;
		if (!e.dir) {
			same = same && sa.st_size == sb.st_size &&
			       zit::read_file(a) == zit::read_file(b);
		}
		CHECK(same);
		if (!same && ++bad > 10)
			FAIL("too many differences");
	}
}

// Files and directories under @root, recursively.
size_t count_entries(const std::string &root)
{
	size_t n = 0;
	std::error_code ec;
	for (auto it = fs::recursive_directory_iterator(root, ec);
	     it != fs::recursive_directory_iterator(); it.increment(ec))
		n++;
	return n;
}

} // namespace

TEST_CASE("a tree of /usr/include survives unmount and mount", "[tree]")
{
	const std::string src = "/usr/include";
	auto tree = pick_tree(src);
	REQUIRE(tree.size() > 1000);

	zit::Mount m("1G");
	REQUIRE_MOUNT(m);
	const std::string dst = m.path("include");
	REQUIRE(mkdir(dst.c_str(), 0755) == 0);
	for (const auto &e : tree) {
		std::string to = dst + "/" + e.rel;
		INFO(to);
		if (e.dir) {
			REQUIRE(mkdir(to.c_str(), e.mode) == 0);
			REQUIRE(chmod(to.c_str(), e.mode) == 0);
		} else {
			REQUIRE(zit::write_file(
				to, zit::read_file(src + "/" + e.rel)));
			REQUIRE(chmod(to.c_str(), e.mode) == 0);
		}
	}
	compare_tree(tree, src, dst);
	CHECK(count_entries(dst) == tree.size());

	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	compare_tree(tree, src, dst);
	CHECK(count_entries(dst) == tree.size());

	// Remove it all: every block and inode comes back.
	std::error_code ec;
	fs::remove_all(dst, ec);
	CHECK(!ec);
	CHECK(count_entries(m.mnt()) == 0);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(count_entries(m.mnt()) == 0);
}

TEST_CASE("cp -a and diff -r of a header tree, before and after remount",
	  "[tree]")
{
	zit::Mount m("256M");
	REQUIRE_MOUNT(m);
	const std::string src = "/usr/include/linux";
	const std::string scratch = m.scratch().dir();
	auto cp =
		zit::run_cmd({ "cp", "-a", src, m.mnt() + "/" }, scratch, 300);
	INFO("cp: " << cp.err);
	REQUIRE(cp.status == 0);
	auto diff = zit::run_cmd({ "diff", "-r", src, m.path("linux") },
				 scratch, 300);
	INFO("diff: " << diff.out << diff.err);
	CHECK(diff.status == 0);

	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	diff = zit::run_cmd({ "diff", "-r", src, m.path("linux") }, scratch,
			    300);
	INFO("diff after remount: " << diff.out << diff.err);
	CHECK(diff.status == 0);
}

// The README's check, on all of /usr/include (symlinks included), with the
// image in /dev/shm. --no-dereference:
// /usr/include/clang/14*/include are relative links that leave the tree, so
// a plain diff -r of any copy (even on tmpfs) fails to follow them.
TEST_CASE("cp -a /usr/include && diff -r, before and after remount",
	  "[tree][full]")
{
	zit::Mount m("1G");
	REQUIRE_MOUNT(m);
	const std::string scratch = m.scratch().dir();
	auto cp = zit::run_cmd({ "cp", "-a", "/usr/include", m.mnt() + "/" },
			       scratch, 500);
	INFO("cp: " << cp.err.substr(0, 3000));
	CHECK(cp.status == 0);
	auto diff = zit::run_cmd({ "diff", "-r", "--no-dereference",
				   "/usr/include", m.path("include") },
				 scratch, 300);
	INFO("diff: " << diff.out.substr(0, 3000) << diff.err.substr(0, 3000));
	CHECK(diff.status == 0);

	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	diff = zit::run_cmd({ "diff", "-r", "--no-dereference", "/usr/include",
			      m.path("include") },
			    scratch, 300);
	INFO("diff after remount: " << diff.out.substr(0, 3000)
				    << diff.err.substr(0, 3000));
	CHECK(diff.status == 0);
}
