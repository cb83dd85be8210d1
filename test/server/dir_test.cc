// SPDX-License-Identifier: BSD-3-Clause
// Directory operations through the ABI.
#include <linux/fs.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>

#include "harness.h"

using namespace ztest;

TEST_CASE("mkdir, link, unlink and nlink accounting", "[server][dir]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode d, f;
	REQUIRE(fs.create(fs.root, "d", S_IFDIR | 0755, &d) == 0);
	CHECK(d.zi->i_nlink == 2);
	CHECK(fs.root.zi->i_nlink == 3);
	REQUIRE(fs.create(d, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.link(fs.root, f, "f2") == 0);
	CHECK(f.zi->i_nlink == 2);
	CHECK(fs.link(fs.root, f, "f2") == -EEXIST);
	CHECK(fs.link(fs.root, d, "d2") == -EPERM);

	auto ents = fs.readdir(d);
	REQUIRE(ents.size() == 3);
	CHECK(ents[1].ino == 1); // '..'

	CHECK(fs.unlink(fs.root, "d") == -ENOTEMPTY);
	REQUIRE(fs.unlink(d, "f") == 0);
	CHECK(f.zi->i_nlink == 1);
	REQUIRE(fs.unlink(fs.root, "f2") == -0);
	CHECK(f.zi->i_nlink == 0);
	uint64_t fino = f.zi->i_ino;
	fs.evict(f, 0, ZUFS_OP_FREE_INODE); // last reference: freed on media
	CHECK(fs.base != nullptr);
	REQUIRE(fs.unlink(fs.root, "d") == 0);
	CHECK(fs.root.zi->i_nlink == 2);
	fs.evict(d, 0, ZUFS_OP_FREE_INODE);
	CHECK(fs.readdir(fs.root).size() == 2);
	// The slot is reused.
	Inode g;
	REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
	CHECK((g.zi->i_ino == fino || g.zi->i_ino == 2 || g.zi->i_ino == 3));
	fs.evict(g);
}

TEST_CASE("names are checked", "[server][dir]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	CHECK(fs.create(fs.root, "", S_IFREG | 0644) == -EINVAL);
	CHECK(fs.create(fs.root, ".", S_IFREG | 0644) == -EINVAL);
	CHECK(fs.create(fs.root, "..", S_IFREG | 0644) == -EINVAL);
	CHECK(fs.create(fs.root, "a/b", S_IFREG | 0644) == -EINVAL);
	std::string longest(255, 'x');
	CHECK(fs.create(fs.root, longest, S_IFREG | 0644) == 0);
	CHECK(fs.lookup(fs.root, longest) == 0);
	Inode f;
	REQUIRE(fs.lookup(fs.root, longest, &f) == 0);
	CHECK(fs.create(f, "x", S_IFREG | 0644) == -ENOTDIR);
	fs.evict(f);
}

TEST_CASE("symlinks, devices, fifos", "[server][dir]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode s, l, c;
	REQUIRE(fs.create(fs.root, "short", S_IFLNK | 0777, &s, "target") == 0);
	CHECK(s.zi->i_size == 6);
	CHECK(std::string(reinterpret_cast<char *>(s.zi->i_symlink), 6) ==
	      "target");
	std::string far(300, 'p');
	REQUIRE(fs.create(fs.root, "long", S_IFLNK | 0777, &l, far) == 0);
	CHECK(l.zi->i_size == 300);
	CHECK(same(std::string(fs.base + zu_dpp_t_val(l.zi->i_sym_dpp), 300),
		   far));
	REQUIRE(fs.create(fs.root, "tty", S_IFCHR | 0600, &c) == 0);
	fs.evict(s);
	fs.evict(l);
	fs.evict(c);
	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "long", &l) == 0);
	CHECK(same(std::string(fs.base + zu_dpp_t_val(l.zi->i_sym_dpp), 300),
		   far));
	fs.evict(l);
	REQUIRE(fs.unlink(fs.root, "long") == 0);
}

TEST_CASE("rename: move, overwrite, noreplace, exchange, loops",
	  "[server][dir]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b, x, y;
	REQUIRE(fs.create(fs.root, "a", S_IFDIR | 0755, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFDIR | 0755, &b) == 0);
	REQUIRE(fs.create(a, "x", S_IFREG | 0644, &x) == 0);
	REQUIRE(fs.create(b, "y", S_IFREG | 0644, &y) == 0);
	REQUIRE(fs.write(y, 0, "yyyy") == 0);

	REQUIRE(fs.rename(a, "x", b, "x2") == 0);
	CHECK(fs.lookup(a, "x") == -ENOENT);
	CHECK(fs.lookup(b, "x2") == 0);

	CHECK(fs.rename(b, "x2", b, "y", RENAME_NOREPLACE) == -EEXIST);
	REQUIRE(fs.rename(b, "x2", b, "y", RENAME_EXCHANGE) == 0);
	Inode t;
	REQUIRE(fs.lookup(b, "y", &t) == 0);
	CHECK(t.ii == x.ii);
	fs.evict(t);

	// Overwrite: x (now named y) loses its name to y (now named x2).
	REQUIRE(fs.rename(b, "x2", b, "y") == 0);
	CHECK(x.zi->i_nlink == 0);
	CHECK(y.zi->i_nlink == 1);
	CHECK(fs.readdir(b).size() == 3);
	fs.evict(x, 0, ZUFS_OP_FREE_INODE);

	// Directories: into its own subtree, over a non-empty dir.
	REQUIRE(fs.rename(fs.root, "b", a, "b") == 0);
	CHECK(a.zi->i_nlink == 3);
	CHECK(fs.root.zi->i_nlink == 3);
	CHECK(b.zi->i_dir.parent == a.zi->i_ino);
	CHECK(fs.rename(fs.root, "a", b, "a") == -EINVAL);
	Inode c;
	REQUIRE(fs.create(fs.root, "c", S_IFDIR | 0755, &c) == 0);
	CHECK(fs.rename(fs.root, "c", a, "b") == -ENOTEMPTY);
	Inode e;
	REQUIRE(fs.create(fs.root, "e", S_IFDIR | 0755, &e) == 0);
	REQUIRE(fs.rename(fs.root, "c", fs.root, "e") ==
		0); // over an empty dir
	CHECK(e.zi->i_nlink == 0);
	fs.evict(e, 0, ZUFS_OP_FREE_INODE);
	CHECK(fs.root.zi->i_nlink == 4);
	CHECK(fs.rename(fs.root, "e", a, "b") == -ENOTEMPTY);
	CHECK(fs.rename(fs.root, "nope", a, "q") == -ENOENT);

	// Exchange of a directory and a file across parents.
	REQUIRE(fs.rename(fs.root, "e", b, "y", RENAME_EXCHANGE) == 0);
	CHECK(c.zi->i_dir.parent == b.zi->i_ino);
	CHECK(b.zi->i_nlink == 3);
	CHECK(fs.root.zi->i_nlink == 3);
	for (Inode i : { a, b, c, y })
		fs.evict(i);

	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "a", &a) == 0);
	REQUIRE(fs.lookup(a, "b", &b) == 0);
	REQUIRE(fs.lookup(b, "y", &c) == 0);
	CHECK(S_ISDIR(c.zi->i_mode));
	REQUIRE(fs.lookup(fs.root, "e", &x) == 0);
	CHECK(S_ISREG(x.zi->i_mode));
	for (Inode i : { a, b, c, x })
		fs.evict(i);
	{
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
}

TEST_CASE("10,000 entries: lookup, readdir, cookies stable while removing",
	  "[server][dir]")
{
	Fs fs(256ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode d;
	REQUIRE(fs.create(fs.root, "big", S_IFDIR | 0755, &d) == 0);
	const int n = 10000;
	auto name = [](int i) {
		return "file-" + std::to_string(i) + std::string(i % 40, 'n');
	};
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < n; ++i)
		REQUIRE(fs.create(d, name(i), S_IFREG | 0644) == 0);
	for (int i = 0; i < n; i += 7)
		REQUIRE(fs.lookup(d, name(i)) == 0);
	auto secs = std::chrono::duration<double>(
			    std::chrono::steady_clock::now() - t0)
			    .count();
	CHECK(secs < 10);

	auto all = fs.readdir(d, 8192);
	REQUIRE(all.size() == n + 2);
	std::set<std::string> names;
	for (size_t i = 2; i < all.size(); ++i)
		names.insert(all[i].name);
	CHECK(names.size() == size_t(n));

	// Read part, remove entries on both sides of the cookie, resume.
	std::vector<Fs::Dirent> first;
	uint64_t pos;
	bool more;
	REQUIRE(fs.readdir_once(d, 0, 4096, &first, &pos, &more) == 0);
	REQUIRE(more);
	std::set<std::string> seen;
	for (auto &e : first)
		seen.insert(e.name);
	int removed = 0;
	for (int i = 0; i < n; i += 3) {
		if (!seen.count(name(i))) {
			REQUIRE(fs.unlink(d, name(i)) == 0);
			++removed;
		}
	}
	// And insert new ones: cookies of the remaining entries are unchanged.
	for (int i = 0; i < 50; ++i)
		REQUIRE(fs.create(d, "new-" + std::to_string(i),
				  S_IFREG | 0644) == 0);
	std::vector<Fs::Dirent> rest;
	while (more)
		REQUIRE(fs.readdir_once(d, pos, 4096, &rest, &pos, &more) == 0);
	std::set<std::string> after(seen);
	for (auto &e : rest) {
		CHECK(!after.count(e.name)); // never twice
		after.insert(e.name);
	}
	for (int i = 0; i < n; ++i) // every surviving old entry exactly once
		if (i % 3 || seen.count(name(i)))
			CHECK(after.count(name(i)));
	CHECK(fs.readdir(d, 8192).size() == size_t(n - removed + 50 + 2));
	fs.evict(d);

	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "big", &d) == 0);
	CHECK(fs.lookup(d, name(1)) == 0);
	CHECK(fs.lookup(d, name(3)) == (seen.count(name(3)) ? 0 : -ENOENT));
	CHECK(fs.lookup(d, "new-49") == 0);
	fs.evict(d);
	{
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
}

TEST_CASE("readdir into an unaligned multi-page buffer", "[server][dir]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	for (int i = 0; i < 100; ++i)
		REQUIRE(fs.create(fs.root,
				  std::string(200, 'a' + i % 26) +
					  std::to_string(i),
				  S_IFREG | 0644) == 0);
	std::vector<Fs::Dirent> out;
	uint64_t pos;
	bool more;
	REQUIRE(fs.readdir_once(fs.root, 0, 3 * 4096, &out, &pos, &more,
				4000) == 0);
	CHECK(more);
	while (more)
		REQUIRE(fs.readdir_once(fs.root, pos, 3 * 4096, &out, &pos,
					&more, 4000) == 0);
	CHECK(out.size() == 102);
}
