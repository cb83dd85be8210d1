// SPDX-License-Identifier: BSD-3-Clause
// The in-process VFS API and the inode cache (src/kernel_shim/vfs*.cc,
// inode_cache.cc) against the fake server: references (EVICT / FREE /
// LOOKUP_RACE sent exactly when expected), directory operations, readdir
// cookies, mount errors, malformed answers.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "fixture.h"

using fake::Release;

namespace {

bool is_evict(const Release &r, uint64_t ino, uint64_t flags = 0)
{
	return r.op == ZUFS_OP_EVICT_INODE && r.ino == ino && r.flags == flags;
}

bool is_free(const Release &r, uint64_t ino)
{
	return r.op == ZUFS_OP_FREE_INODE && r.ino == ino;
}

} // namespace

TEST_CASE("vfs: mount passes the options and reports the server's reason",
	  "[vfs][mount]")
{
	fake::FakeServer srv;
	{
		zuf::Vfs vfs(srv, { "pmem=/bad,size=123,mkfs", false, true });
		std::string err;
		CHECK(vfs.mount(&err) == -EINVAL);
		CHECK(err == "image /bad: bad magic, not a zufuse image (use "
			     "--mkfs to format)");
		CHECK_FALSE(vfs.mounted());
	}
	{
		zuf::Vfs vfs(srv, { "pmem=/x,size=4096,ro", false, true });
		std::string err;
		REQUIRE(vfs.mount(&err) == 0);
		CHECK(srv.last_options == "pmem=/x,size=4096,ro");
		CHECK(srv.last_mount_flags & MS_RDONLY);
		CHECK(srv.refs(1) == 1);
		zuf::Entry e;
		CHECK(vfs.mknod(1, "f", S_IFREG | 0644, 0, 0, 0, &e) == -EROFS);
		CHECK(vfs.umount() == 0);
		CHECK(srv.refs(1) == 0); // the root's reference went back
		CHECK(srv.umounts == 1);
	}
}

TEST_CASE("vfs: a malformed mount answer is refused", "[vfs][mount]")
{
	fake::FakeServer srv;
	struct Bad : zufs::Channel {
		fake::FakeServer &s;
		explicit Bad(fake::FakeServer &s) : s(s) {}
		int mount(zufs_ioc_mount &m) override
		{
			int err = s.mount(m);
			if (m.hdr.operation == ZUFS_M_MOUNT)
				m.zmi._zi += 8; // not 128-aligned
			return err;
		}
		int dispatch(zufs_ioc_hdr *h, zufs::page_list p) override
		{
			return s.dispatch(h, p);
		}
	} bad(srv);
	zuf::Vfs vfs(bad, { "pmem=/x" });
	std::string err;
	CHECK(vfs.mount(&err) == -EIO);
	CHECK_FALSE(err.empty());
	CHECK(srv.umounts == 1);
}

TEST_CASE("inode cache: lookup/forget send EVICT exactly at the last ref",
	  "[vfs][icache]")
{
	ShimFixture fx;
	uint64_t ino = fx.srv.make_file(1, "f", 0);
	zuf::Entry e;

	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	CHECK(e.ino == ino);
	CHECK(fx.srv.refs(ino) == 1);
	CHECK(fx.srv.releases.empty());

	// A second LOOKUP of a cached ino: its duplicate goes straight back.
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	REQUIRE(fx.srv.releases.size() == 1);
	CHECK(is_evict(fx.srv.releases[0], ino, ZI_LOOKUP_RACE));
	CHECK(fx.srv.refs(ino) == 1);

	fx.vfs.forget(ino, 1);
	CHECK(fx.srv.releases.size() == 1); // one kernel ref left
	fx.vfs.forget(ino, 1);
	REQUIRE(fx.srv.releases.size() == 2);
	CHECK(is_evict(fx.srv.releases[1], ino));
	CHECK(fx.srv.refs(ino) == 0);
	CHECK(fx.vfs.cached_inodes() == 1); // the root

	// forget_multi style: n at once.
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	fx.srv.releases.clear();
	fx.vfs.forget(ino, 2);
	CHECK(fx.srv.releases.empty());
	fx.vfs.forget(ino, 1);
	REQUIRE(fx.srv.releases.size() == 1);
	CHECK(is_evict(fx.srv.releases[0], ino));
}

TEST_CASE("inode cache: unlinked inodes are FREEd at the last ref",
	  "[vfs][icache]")
{
	ShimFixture fx;

	SECTION("unlink while the kernel holds it: FREE at forget")
	{
		uint64_t ino = fx.create("f");
		CHECK(fx.srv.refs(ino) == 1);
		REQUIRE(fx.vfs.unlink(1, "f") == 0);
		// unlink's own LOOKUP was a duplicate of the cached inode
		REQUIRE(fx.srv.releases.size() == 1);
		CHECK(is_evict(fx.srv.releases[0], ino, ZI_LOOKUP_RACE));
		fx.vfs.forget(ino, 1);
		REQUIRE(fx.srv.releases.size() == 2);
		CHECK(is_free(fx.srv.releases[1], ino));
		CHECK(fx.srv.refs(ino) == 0);
	}
	SECTION("unlink of an uncached inode: FREE right away")
	{
		uint64_t ino = fx.srv.make_file(1, "g", 0);
		REQUIRE(fx.vfs.unlink(1, "g") == 0);
		REQUIRE(fx.srv.releases.size() == 1);
		CHECK(is_free(fx.srv.releases[0], ino));
	}
	SECTION("an open file keeps an unlinked inode until release")
	{
		uint64_t ino = fx.create("h");
		auto f = fx.open(ino);
		REQUIRE(fx.vfs.unlink(1, "h") == 0);
		fx.vfs.forget(ino, 1);
		fx.srv.releases.clear();
		char b[5] = "data";
		CHECK(fx.write(*f, b, 4, 0) == 4);
		CHECK(fx.srv.releases.empty());
		f.reset();
		REQUIRE(fx.srv.releases.size() == 1);
		CHECK(is_free(fx.srv.releases[0], ino));
	}
	SECTION("a still-linked file is EVICTed, not FREEd, at release")
	{
		uint64_t ino = fx.create("k");
		auto f = fx.open(ino);
		fx.vfs.forget(ino, 1);
		CHECK(fx.srv.releases.empty());
		f.reset();
		REQUIRE(fx.srv.releases.size() == 1);
		CHECK(is_evict(fx.srv.releases[0], ino));
	}
}

TEST_CASE("inode cache: umount drops every reference", "[vfs][icache]")
{
	fake::FakeServer srv;
	uint64_t a, b;
	{
		zuf::Vfs vfs(srv, { "pmem=/x" });
		std::string err;
		REQUIRE(vfs.mount(&err) == 0);
		zuf::Entry e;
		REQUIRE(vfs.mknod(1, "a", S_IFREG | 0600, 0, 0, 0, &e) == 0);
		a = e.ino;
		REQUIRE(vfs.mkdir(1, "b", 0700, 0, 0, &e) == 0);
		b = e.ino;
		REQUIRE(vfs.umount() == 0);
	}
	CHECK(srv.refs(1) == 0);
	CHECK(srv.refs(a) == 0);
	CHECK(srv.refs(b) == 0);
	CHECK(srv.umounts == 1);
}

TEST_CASE("vfs: a bad _zi from LOOKUP is -EIO, the reference goes back",
	  "[vfs][malformed]")
{
	ShimFixture fx;
	uint64_t ino = fx.srv.make_file(1, "f", 0);
	auto bad = GENERATE(zu_dpp_t(3 * 128 + 1),  // pool 1
			    zu_dpp_t(3 * 128 + 64), // not aligned
			    zu_dpp_t(1ULL << 40));  // outside the pool
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation != ZUFS_OP_LOOKUP)
			return false;
		auto *l = reinterpret_cast<zufs_ioc_lookup *>(hdr);
		l->_zi = bad;
		l->zus_ii =
			reinterpret_cast<zus_inode_info *>(fx.srv.inode(ino));
		++fx.srv.inode(ino)->refs;
		hdr->err = 0;
		return true;
	};
	zuf::Entry e;
	CHECK(fx.vfs.lookup(1, "f", &e) == -EIO);
	CHECK(fx.srv.refs(ino) == 0);
}

TEST_CASE("vfs: getattr reads the zus_inode", "[vfs]")
{
	ShimFixture fx;
	zuf::Entry e;
	REQUIRE(fx.vfs.mknod(1, "dev", S_IFCHR | 0600, makedev(4, 300), 7, 8,
			     &e) == 0);
	CHECK(S_ISCHR(e.attr.st_mode));
	CHECK(e.attr.st_uid == 7);
	CHECK(e.attr.st_gid == 8);
	CHECK(e.attr.st_rdev == makedev(4, 300));
	CHECK(e.attr.st_ino == e.ino);

	fx.srv.inode(e.ino)->zi->i_mtime = 1234567890123456789ULL;
	fx.srv.inode(e.ino)->zi->i_blocks = 16;
	struct stat st;
	REQUIRE(fx.vfs.getattr(e.ino, &st) == 0);
	CHECK(st.st_mtim.tv_sec == 1234567890);
	CHECK(st.st_mtim.tv_nsec == 123456789);
	CHECK(st.st_blocks == 16);
	CHECK(st.st_blksize == PAGE_SIZE);
	CHECK(fx.vfs.getattr(999, &st) == -ESTALE);
}

TEST_CASE("vfs: names, types and directory errors", "[vfs]")
{
	ShimFixture fx;
	zuf::Entry e;
	CHECK(fx.vfs.mknod(1, std::string(256, 'x'), S_IFREG | 0644, 0, 0, 0,
			   &e) == -ENAMETOOLONG);
	CHECK(fx.vfs.lookup(1, std::string(256, 'x'), &e) == -ENAMETOOLONG);
	CHECK(fx.vfs.mknod(1, "a/b", S_IFREG | 0644, 0, 0, 0, &e) == -EINVAL);
	CHECK(fx.vfs.mknod(1, "", S_IFREG | 0644, 0, 0, 0, &e) == -EINVAL);
	uint64_t f = fx.create("file");
	CHECK(fx.vfs.mknod(1, "file", S_IFREG | 0644, 0, 0, 0, &e) == -EEXIST);
	CHECK(fx.vfs.mknod(f, "x", S_IFREG | 0644, 0, 0, 0, &e) == -ENOTDIR);
	REQUIRE(fx.vfs.mkdir(1, "dir", 0755, 0, 0, &e) == 0);
	uint64_t d = e.ino;
	CHECK(fx.srv.inode(1)->zi->i_nlink == 3);
	CHECK(fx.vfs.rmdir(1, "file") == -ENOTDIR);
	CHECK(fx.vfs.unlink(1, "dir") == -EISDIR);
	fx.create("inner", d);
	CHECK(fx.vfs.rmdir(1, "dir") == -ENOTEMPTY);
	CHECK(fx.vfs.unlink(d, "inner") == 0);
	CHECK(fx.vfs.rmdir(1, "dir") == 0);
	CHECK(fx.vfs.lookup(1, "dir", &e) == -ENOENT);
	CHECK(fx.vfs.lookup(1, "nothing", &e) == -ENOENT);
	std::unique_ptr<zuf::File> fd;
	CHECK(fx.vfs.open(1, O_RDWR, &fd) == -EISDIR);
}

TEST_CASE("vfs: rename", "[vfs]")
{
	ShimFixture fx;
	uint64_t a = fx.create("a");
	uint64_t b = fx.create("b");
	zuf::Entry e;
	CHECK(fx.vfs.rename(1, "a", 1, "b", RENAME_NOREPLACE) == -EEXIST);
	CHECK(fx.vfs.rename(1, "a", 1, "c", RENAME_EXCHANGE) == -ENOENT);
	// RENAME_WHITEOUT goes to the server (semantics_test); not with
	// EXCHANGE, and no unknown flag.
	CHECK(fx.vfs.rename(1, "a", 1, "b",
			    RENAME_WHITEOUT | RENAME_EXCHANGE) == -EINVAL);
	CHECK(fx.vfs.rename(1, "a", 1, "b", 1U << 3) == -EINVAL);
	REQUIRE(fx.vfs.rename(1, "a", 1, "b", 0) == 0);
	REQUIRE(fx.vfs.lookup(1, "b", &e) == 0);
	CHECK(e.ino == a);
	CHECK(fx.vfs.lookup(1, "a", &e) == -ENOENT);
	// b lost its only name: FREE when the kernel forgets it.
	fx.srv.releases.clear();
	fx.vfs.forget(b, 1);
	REQUIRE_FALSE(fx.srv.releases.empty());
	CHECK(is_free(fx.srv.releases.back(), b));

	REQUIRE(fx.vfs.mkdir(1, "d", 0755, 0, 0, &e) == 0);
	CHECK(fx.vfs.rename(1, "d", 1, "b", 0) == -ENOTDIR);
	CHECK(fx.vfs.rename(1, "b", 1, "d", 0) == -EISDIR);
}

TEST_CASE("vfs: readdir with cookies", "[vfs][readdir]")
{
	ShimFixture fx;
	std::set<std::string> want = { ".", ".." };
	for (int i = 0; i < 300; ++i) { // more than one READDIR page
		std::string name =
			"file-with-a-longish-name-" + std::to_string(i);
		fx.srv.make_file(1, name, 0);
		want.insert(name);
	}

	std::set<std::string> got;
	std::vector<uint64_t> cookies;
	REQUIRE(fx.vfs.readdir(1, 0, [&](const zuf::DirEntry &d) {
		got.insert(std::string(d.name));
		cookies.push_back(d.next);
		return true;
	}) == 0);
	CHECK(got == want);

	// Stop after 10, resume from the 10th cookie: the rest, once each.
	std::vector<std::string> first, rest;
	uint64_t resume = 0;
	REQUIRE(fx.vfs.readdir(1, 0, [&](const zuf::DirEntry &d) {
		if (first.size() == 10)
			return false;
		first.emplace_back(d.name);
		resume = d.next;
		return true;
	}) == 0);
	REQUIRE(fx.vfs.readdir(1, resume, [&](const zuf::DirEntry &d) {
		rest.emplace_back(d.name);
		return true;
	}) == 0);
	CHECK(first.size() + rest.size() == want.size());
	CHECK(first[0] == ".");
	CHECK(first[1] == "..");

	SECTION("a malformed page is -EIO")
	{
		fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list pages) {
			if (hdr->operation != ZUFS_OP_READDIR)
				return false;
			auto *rd = reinterpret_cast<zufs_ioc_readdir *>(hdr);
			auto *zde = static_cast<zufs_dir_entry *>(pages[0]);
			zde->ino = 5;
			zde->pos = 1;
			zde->zstr.len = 250; // runs past hdr.len
			rd->hdr.len = 100;
			rd->more = 0;
			hdr->err = 0;
			return true;
		};
		CHECK(fx.vfs.readdir(1, 0, [](const zuf::DirEntry &) {
			return true;
		}) == -EIO);
	}
}

TEST_CASE("vfs: setattr truncate invalidates from the new size", "[vfs]")
{
	ShimFixture fx;
	uint64_t ino = fx.create("t");
	auto f = fx.open(ino);
	std::vector<char> b(3 * PAGE_SIZE, 'q');
	REQUIRE(fx.write(*f, b.data(), b.size(), 0) == ssize_t(b.size()));
	fx.inval.calls.clear();

	zuf::SetAttr a;
	a.mask = STATX_SIZE | STATX_MODE;
	a.size = 5000;
	a.mode = 0600;
	struct stat st;
	REQUIRE(fx.vfs.setattr(ino, a, &st) == 0);
	CHECK(st.st_size == 5000);
	CHECK(st.st_mode == (S_IFREG | 0600));
	REQUIRE(fx.inval.calls.size() == 1);
	CHECK(fx.inval.calls[0].offset == 5000);
	CHECK(fx.inval.calls[0].len == 0); // to EOF
	CHECK(fx.read(*f, b.data(), b.size(), 0) == 5000);

	a.mask = STATX_SIZE;
	CHECK(fx.vfs.setattr(1, a, &st) == -EISDIR);
}

TEST_CASE("vfs: statfs and fsync", "[vfs]")
{
	ShimFixture fx;
	struct statvfs sv;
	REQUIRE(fx.vfs.statfs(&sv) == 0);
	CHECK(sv.f_bsize == PAGE_SIZE);
	CHECK(sv.f_namemax == 255);
	CHECK(sv.f_blocks == fx.srv.pool_size() / PAGE_SIZE);
	CHECK(fx.vfs.fsync(1, true) == 0);
}

TEST_CASE("vfs: symlinks (inline and in a block), hard links", "[vfs][symlink]")
{
	ShimFixture fx;
	zuf::Entry e;
	std::string t;

	REQUIRE(fx.vfs.symlink(1, "short", "target", 0, 0, &e) == 0);
	CHECK(S_ISLNK(e.attr.st_mode));
	CHECK(e.attr.st_size == 6);
	REQUIRE(fx.vfs.readlink(e.ino, &t) == 0);
	CHECK(t == "target");

	std::string longer(3000, 'L');
	REQUIRE(fx.vfs.symlink(1, "long", longer, 0, 0, &e) == 0);
	uint64_t long_ino = e.ino;
	REQUIRE(fx.vfs.readlink(long_ino, &t) == 0);
	CHECK(t == longer);

	CHECK(fx.vfs.symlink(1, "x", std::string(4096, 'x'), 0, 0, &e) ==
	      -ENAMETOOLONG);
	CHECK(fx.vfs.symlink(1, "x", "", 0, 0, &e) == -EINVAL);
	CHECK(fx.vfs.readlink(1, &t) == -EINVAL);

	SECTION("a symlink block outside pool 0 is -EIO")
	{
		fx.srv.inode(long_ino)->zi->i_sym_dpp =
			zu_enc_dpp_t(fx.srv.pool_size() - 100, 0);
		CHECK(fx.vfs.readlink(long_ino, &t) == -EIO);
	}
	SECTION("link gives the kernel one more reference")
	{
		uint64_t f = fx.create("f");
		REQUIRE(fx.vfs.link(f, 1, "g", &e) == 0);
		CHECK(e.ino == f);
		CHECK(e.attr.st_nlink == 2);
		CHECK(fx.vfs.link(f, 1, "g", &e) == -EEXIST);
		CHECK(fx.vfs.link(1, 1, "root2", &e) == -EPERM);
		fx.srv.releases.clear();
		fx.vfs.forget(f, 1);
		CHECK(fx.srv.releases.empty());
		fx.vfs.forget(f, 1);
		REQUIRE(fx.srv.releases.size() == 1);
		CHECK(is_evict(fx.srv.releases[0], f));
	}
}

TEST_CASE("inode cache: concurrent lookups and forgets balance",
	  "[vfs][icache]")
{
	ShimFixture fx;
	uint64_t ino = fx.srv.make_file(1, "shared", 0);
	const int kThreads = 4, kRounds = 2000;
	std::vector<std::thread> threads;
	std::atomic<int> failures{ 0 };
	// The fake serializes its own state; the shim's cache is what races.
	for (int t = 0; t < kThreads; ++t)
		threads.emplace_back([&] {
			for (int i = 0; i < kRounds; ++i) {
				zuf::Entry e;
				if (fx.vfs.lookup(1, "shared", &e) ||
				    e.ino != ino) {
					++failures;
					continue;
				}
				struct stat st;
				if (fx.vfs.getattr(ino, &st))
					++failures;
				fx.vfs.forget(ino, 1);
			}
		});
	for (auto &t : threads)
		t.join();
	CHECK(failures == 0);
	CHECK(fx.srv.refs(ino) == 0);
	CHECK(fx.vfs.cached_inodes() == 1);
}

TEST_CASE("inode cache: a LOOKUP racing an EVICT waits for it", "[vfs][icache]")
{
	ShimFixture fx;
	uint64_t ino = fx.srv.make_file(1, "f", 0);
	zuf::Entry e;
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);

	std::atomic<bool> evicting{ false }, evicted{ false };
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation == ZUFS_OP_EVICT_INODE && !evicting) {
			evicting = true;
			std::this_thread::sleep_for(
				std::chrono::milliseconds(100));
			evicted = true;
		}
		return false; // the fake answers
	};
	std::thread forget([&] { fx.vfs.forget(ino, 1); });
	while (!evicting)
		std::this_thread::yield();
	REQUIRE(fx.vfs.lookup(1, "f", &e) == 0);
	CHECK(evicted); // the new reference was cached after the EVICT
	forget.join();
	fx.srv.hook = nullptr;

	REQUIRE(fx.srv.releases.size() == 1);
	CHECK(is_evict(fx.srv.releases[0], ino)); // no LOOKUP_RACE
	CHECK(fx.srv.refs(ino) == 1);
	fx.vfs.forget(ino, 1);
	CHECK(fx.srv.refs(ino) == 0);
}

// An unlinked inode is freed when its last reference goes, and FUSE sends
// those (RELEASE, FORGET) in the background, after the unlink's reply: a
// request that meets ENOSPC meanwhile waits for that free and tries again
// (Vfs::retry_nospc, as ext4_should_retry_alloc); with no free pending,
// ENOSPC is answered at once (issue 11).
TEST_CASE("vfs: ENOSPC waits for the free of an unlinked inode, then retries",
	  "[vfs]")
{
	ShimFixture fx;
	const uint64_t gone = fx.create("gone"); // the kernel's lookup held
	const uint64_t g = fx.create("g");
	auto file = fx.open(g);
	std::atomic<bool> freed{ false };
	std::atomic<int> enospc{ 0 };
	std::promise<void> first_enospc;
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation == ZUFS_OP_FREE_INODE)
			freed = true; // and the server frees it
		if (hdr->operation != ZUFS_OP_WRITE || freed)
			return false;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		io->last_pos = io->filepos;
		hdr->err = -ENOSPC;
		if (enospc++ == 0)
			first_enospc.set_value();
		return true;
	};
	char buf[4096] = { 'x' };

	SECTION("no free pending: ENOSPC at once")
	{
		CHECK(fx.write(*file, buf, sizeof(buf), 0) == -ENOSPC);
		CHECK(enospc == 1);
	}
	SECTION("the FORGET of an unlinked inode comes after the write")
	{
		REQUIRE(fx.vfs.unlink(1, "gone") == 0);
		CHECK(fx.srv.refs(gone) == 1); // not freed: the kernel holds it
		ssize_t n = 0;
		std::thread writer(
			[&] { n = fx.write(*file, buf, sizeof(buf), 0); });
		first_enospc.get_future().wait(); // the write met ENOSPC
		fx.vfs.forget(gone, 1); // FREE_INODE: space comes back
		writer.join();
		CHECK(n == ssize_t(sizeof(buf)));
		CHECK(enospc == 1);
		CHECK(freed);
	}
	SECTION("unlinked while open: the RELEASE frees it")
	{
		auto held = fx.open(gone);
		fx.vfs.forget(gone, 1); // the kernel's lookup goes first
		REQUIRE(fx.vfs.unlink(1, "gone") == 0);
		ssize_t n = 0;
		std::thread writer(
			[&] { n = fx.write(*file, buf, sizeof(buf), 0); });
		first_enospc.get_future().wait();
		held.reset(); // the RELEASE
		writer.join();
		CHECK(n == ssize_t(sizeof(buf)));
		CHECK(freed);
	}
	file.reset();
}
