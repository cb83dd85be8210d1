// SPDX-License-Identifier: BSD-3-Clause
// FALLOCATE, LLSEEK, COPY and XATTR_* through the ABI, each followed by a
// consistency check of the image.
#include <linux/falloc.h>
#include <linux/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "harness.h"
#include "zufs/posix_acl.h"

using namespace ztest;

namespace {

void clean(Fs &fs)
{
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

} // namespace

TEST_CASE("i_blocks counts data blocks only", "[server][posix]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 10 << 20, "x") == 0); // needs two radix levels
	CHECK(f.zi->i_blocks == 8);
	REQUIRE(fs.write(f, 0, "y") == 0);
	CHECK(f.zi->i_blocks == 16);
	clean(fs);
	REQUIRE(fs.setattr(f, STATX_SIZE, 1) == 0);
	CHECK(f.zi->i_blocks == 8);
	clean(fs);
	fs.evict(f);
}

TEST_CASE("fallocate modes", "[server][posix]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	std::string d(3 * 4096, 'd');
	REQUIRE(fs.write(f, 0, d) == 0);

	// mode 0 grows the file, allocates zeroed blocks, keeps data.
	REQUIRE(fs.falloc(f, 0, 8192, 5 * 4096) == 0);
	CHECK(f.zi->i_size == 8192 + 5 * 4096);
	CHECK(f.zi->i_blocks == 7 * 8);
	CHECK(same(fs.read(f, 0, 3 * 4096), d));
	CHECK(same(fs.read(f, 3 * 4096, 4 * 4096),
		   std::string(4 * 4096, '\0')));
	clean(fs);

	// KEEP_SIZE past EOF: blocks but no size; a truncation to i_size frees them.
	uint64_t size = f.zi->i_size;
	REQUIRE(fs.falloc(f, FALLOC_FL_KEEP_SIZE, 100 << 12, 4 << 12) == 0);
	CHECK(f.zi->i_size == size);
	CHECK(f.zi->i_blocks == 11 * 8);
	clean(fs);
	REQUIRE(fs.setattr(f, STATX_SIZE, size) == 0);
	CHECK(f.zi->i_blocks == 7 * 8);
	clean(fs);

	// PUNCH_HOLE: whole blocks go, partial ends are zeroed.
	zufs_ioc_IO out;
	REQUIRE(fs.falloc(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100,
			  2 * 4096, &out) == 0);
	CHECK(out.wr_unmap.offset == 0);
	CHECK(out.wr_unmap.len == 3);
	CHECK(f.zi->i_blocks == 6 * 8);
	CHECK(same(fs.read(f, 0, 3 * 4096),
		   std::string(100, 'd') + std::string(2 * 4096, '\0') +
			   std::string(4096 - 100, 'd')));
	CHECK(f.zi->i_size == size);
	clean(fs);
	CHECK(fs.falloc(f, FALLOC_FL_PUNCH_HOLE, 0, 10) == -EOPNOTSUPP);
	CHECK(fs.falloc(f, 0x100, 0, 10) == -EOPNOTSUPP);
	CHECK(fs.falloc(f, 0, 10, 0) == -EINVAL);
	CHECK(fs.falloc(f, 0, 1ULL << 50, 10) == -EFBIG);

	// ZERO_RANGE: zeros, still allocated, grows without KEEP_SIZE.
	REQUIRE(fs.falloc(f, FALLOC_FL_ZERO_RANGE, 2 * 4096 + 210, 10) == 0);
	CHECK(same(fs.read(f, 2 * 4096 + 200, 30),
		   std::string(10, 'd') + std::string(10, '\0') +
			   std::string(10, 'd')));
	REQUIRE(fs.falloc(f, FALLOC_FL_ZERO_RANGE, size - 10, 4096 + 20) == 0);
	CHECK(f.zi->i_size == size + 4096 + 10);
	clean(fs);
	fs.evict(f);
}

TEST_CASE("SEEK_DATA and SEEK_HOLE", "[server][posix]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	CHECK(fs.seek(f, 0, SEEK_DATA) == -ENXIO); // empty file
	REQUIRE(fs.write(f, 3 << 20, "x") == 0);   // hole, then one block
	CHECK(fs.seek(f, 0, SEEK_DATA) == 3 << 20);
	CHECK(fs.seek(f, 0, SEEK_HOLE) == 0);
	CHECK(fs.seek(f, (3 << 20), SEEK_HOLE) == (3 << 20) + 1); // EOF
	CHECK(fs.seek(f, (3 << 20) + 1, SEEK_DATA) == -ENXIO);
	REQUIRE(fs.write(f, 5000, "y") == 0);
	CHECK(fs.seek(f, 0, SEEK_DATA) == 4096);
	CHECK(fs.seek(f, 4097, SEEK_DATA) == 4097);
	CHECK(fs.seek(f, 4097, SEEK_HOLE) == 8192);
	CHECK(fs.seek(f, 8192, SEEK_DATA) == 3 << 20);
	REQUIRE(fs.write(f, (600ULL << 20), "z") == 0); // a taller tree
	CHECK(fs.seek(f, (3 << 20) + 5, SEEK_DATA) == (3 << 20) + 5);
	CHECK(fs.seek(f, (3 << 20) + 5, SEEK_HOLE) == (3 << 20) + 4096);
	CHECK(fs.seek(f, (3 << 20) + 4096, SEEK_DATA) == (600LL << 20));
	CHECK(fs.seek(f, 0, 0) == -EINVAL);
	fs.evict(f);
}

// The map SEEK_DATA/SEEK_HOLE give of blocks [0, n): 'D' data, '.' hole
// (a block's first byte: SEEK_DATA lands on it).
std::string seek_map(Fs &fs, Inode f, uint64_t n)
{
	std::string m;
	for (uint64_t b = 0; b < n; ++b)
		m += fs.seek(f, b << 12, SEEK_DATA) == int64_t(b << 12) ? 'D' :
									  '.';
	return m;
}

TEST_CASE("SEEK_DATA/SEEK_HOLE: fallocated blocks are holes until written",
	  "[server][posix]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f, g;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
	REQUIRE(fs.falloc(f, 0, 0, 16 * 4096) == 0);
	CHECK(f.zi->i_size == 16 * 4096);
	CHECK(f.zi->i_blocks == 16 * 8); // allocated
	CHECK(fs.seek(f, 0, SEEK_DATA) == -ENXIO);
	CHECK(fs.seek(f, 5000, SEEK_HOLE) == 5000);
	CHECK(fs.read(f, 0, 16 * 4096) == std::string(16 * 4096, '\0'));
	clean(fs);
	// A write makes its blocks data, only them.
	REQUIRE(fs.write(f, 5 * 4096 + 100, std::string(5000, 'w')) == 0);
	CHECK(seek_map(fs, f, 16) == ".....DD.........");
	CHECK(fs.seek(f, 0, SEEK_DATA) == 5 * 4096);
	CHECK(fs.seek(f, 5 * 4096 + 200, SEEK_HOLE) == 7 * 4096);
	std::string want(16 * 4096, '\0');
	want.replace(5 * 4096 + 100, 5000, std::string(5000, 'w'));
	CHECK(fs.read(f, 0, want.size()) == want);
	// Preallocated past EOF, then written past EOF.
	REQUIRE(fs.falloc(f, FALLOC_FL_KEEP_SIZE, 16 * 4096, 8 * 4096) == 0);
	CHECK(f.zi->i_size == 16 * 4096);
	REQUIRE(fs.write(f, 20 * 4096, "tail") == 0);
	CHECK(seek_map(fs, f, 21) == ".....DD.............D");
	// ZERO_RANGE: the whole blocks become unwritten again, the edges stay
	// written (as on ext4).
	REQUIRE(fs.falloc(f, FALLOC_FL_ZERO_RANGE, 5 * 4096 + 50, 4096) == 0);
	CHECK(seek_map(fs, f, 21) == ".....DD.............D");
	REQUIRE(fs.falloc(f, FALLOC_FL_ZERO_RANGE, 5 * 4096, 4096) == 0);
	CHECK(seek_map(fs, f, 21) == "......D.............D");
	clean(fs);
	CHECK(fs.check().unwritten == 22);
	// A clone shares unwritten blocks unwritten; a write into the shared
	// block copies it and makes only the writer's copy data.
	uint64_t copied;
	REQUIRE(fs.copy(f, 0, g, 0, 16 * 4096, &copied) == 0);
	CHECK(copied == 16 * 4096);
	CHECK(seek_map(fs, g, 16) == "......D.........");
	REQUIRE(fs.write(g, 2 * 4096, "x") == 0);
	CHECK(seek_map(fs, g, 16) == "..D...D.........");
	CHECK(seek_map(fs, f, 16) == "......D.........");
	clean(fs);
	// Kept across a remount; a truncation frees them.
	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
	REQUIRE(fs.lookup(fs.root, "g", &g) == 0);
	CHECK(seek_map(fs, f, 21) == "......D.............D");
	CHECK(seek_map(fs, g, 16) == "..D...D.........");
	REQUIRE(fs.setattr(f, STATX_SIZE, 3 * 4096) == 0);
	CHECK(f.zi->i_blocks == 3 * 8);
	CHECK(fs.seek(f, 0, SEEK_DATA) == -ENXIO);
	clean(fs);
	fs.evict(f);
	fs.evict(g);
}

TEST_CASE("COPY copies inside the server", "[server][posix]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	std::string d = pattern(3 << 20, 7);
	REQUIRE(fs.write(a, 0, d) == 0);
	uint64_t copied;
	REQUIRE(fs.copy(a, 100, b, 5, (3 << 20) + 1000, &copied) == 0);
	CHECK(copied == (3 << 20) - 100);
	CHECK(b.zi->i_size == (3 << 20) - 95);
	CHECK(same(fs.read(b, 5, (3 << 20) - 100), d.substr(100)));
	CHECK(same(fs.read(b, 0, 5), std::string(5, '\0')));
	REQUIRE(fs.copy(a, 0, a, 4 << 20, 10, &copied) == 0); // same file
	CHECK(same(fs.read(a, 4 << 20, 10), d.substr(0, 10)));
	CHECK(fs.copy(a, 0, a, 5, 10, &copied) == -EINVAL); // overlap
	CHECK(fs.copy(a, 0, fs.root, 0, 10, &copied) == -EISDIR);
	REQUIRE(fs.copy(a, 8 << 20, b, 0, 10, &copied) == 0); // past EOF
	CHECK(copied == 0);
	clean(fs);
	fs.evict(a);
	fs.evict(b);
}

TEST_CASE("xattrs: create, replace, remove, ERANGE, persistence",
	  "[server][posix]")
{
	Fs fs(64ULL << 20, true);
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	std::string v;
	uint32_t size;
	CHECK(fs.xattr_get(f, ZUFS_XF_USER, "a", 100, &v, &size) == -ENODATA);
	REQUIRE(fs.xattr_set(f, ZUFS_XF_USER, "a", "one") == 0);
	CHECK(fs.xattr_set(f, ZUFS_XF_USER, "a", "two", XATTR_CREATE) ==
	      -EEXIST);
	CHECK(fs.xattr_set(f, ZUFS_XF_USER, "b", "two", XATTR_REPLACE) ==
	      -ENODATA);
	REQUIRE(fs.xattr_set(f, ZUFS_XF_TRUSTED, "a", "", 0) == 0);
	REQUIRE(fs.xattr_set(f, ZUFS_XF_USER, "a", "three", XATTR_REPLACE) ==
		0);
	CHECK(fs.xattr_get(f, ZUFS_XF_USER, "a", 0, &v, &size) == 0);
	CHECK(size == 5);
	CHECK(fs.xattr_get(f, ZUFS_XF_USER, "a", 4, &v, &size) == -ERANGE);
	REQUIRE(fs.xattr_get(f, ZUFS_XF_USER, "a", 5, &v, &size) == 0);
	CHECK(v == "three");
	REQUIRE(fs.xattr_get(f, ZUFS_XF_TRUSTED, "a", 10, &v, &size) == 0);
	CHECK(v.empty());
	REQUIRE(fs.xattr_get(f, 0, "", 100, &v, &size, ZUFS_OP_XATTR_LIST) ==
		0);
	CHECK(v == std::string("trusted.a\0user.a\0", 17));
	CHECK(fs.xattr_get(f, ZUFS_XF_SYSTEM, "posix_acl_access", 10, &v,
			   &size) == -ENODATA);
	CHECK(fs.xattr_set(f, ZUFS_XF_USER, "big", std::string(65537, 'x')) ==
	      -E2BIG);
	// A big value moves the set out of line, into blocks.
	std::string big = pattern(65536, 7);
	REQUIRE(fs.xattr_set(f, ZUFS_XF_USER, "big", big) == 0);
	clean(fs);
	REQUIRE(fs.remount("") == 0);
	REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
	REQUIRE(fs.xattr_get(f, ZUFS_XF_USER, "big", 65536, &v, &size) == 0);
	CHECK(same(v, big));
	REQUIRE(fs.xattr_set(f, ZUFS_XF_USER, "a", "", ZUFS_XATTR_REMOVE) == 0);
	CHECK(fs.xattr_set(f, ZUFS_XF_USER, "a", "", ZUFS_XATTR_REMOVE) ==
	      -ENODATA);
	// Too much in all: ENOSPC, the old set intact.
	CHECK(fs.xattr_set(f, ZUFS_XF_USER, "big2", big) == -ENOSPC);
	REQUIRE(fs.xattr_get(f, ZUFS_XF_USER, "big", 65536, &v, &size) == 0);
	clean(fs);
	// Freeing the inode frees its xattr blocks.
	struct statfs64 before, after;
	fs.statfs(&before);
	REQUIRE(fs.unlink(fs.root, "f") == 0);
	fs.evict(f);
	fs.statfs(&after);
	CHECK(after.f_bfree == before.f_bfree + 18); // head + 17 blocks
	clean(fs);
	REQUIRE(fs.umount() == 0);
	unlink(fs.path.c_str());
}

// An ACL in the xattr format: header (version 2), then tag/perm/id.
std::string acl_blob(std::initializer_list<zufs::acl::Entry> es)
{
	return zufs::acl::to_xattr(zufs::acl::Acl(es));
}

TEST_CASE("POSIX ACLs: set_acl semantics, chmod, NEW_INODE, noacl",
	  "[server][posix]")
{
	using namespace zufs::acl;
	Fs fs;
	REQUIRE(fs.mount("mkfs") == 0); // ACLs are on by default
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 02644, &f) == 0);
	const std::string named = acl_blob({ { kUserObj, 7, 0 },
					     { kUser, 4, 1234 },
					     { kGroupObj, 5, 0 },
					     { kMask, 1, 0 },
					     { kOther, 0, 0 } });
	// Malformed values and a default ACL on a file.
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access", "acl") ==
	      -EINVAL);
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access",
			   acl_blob({ { kUserObj, 7, 0 },
				      { kOther, 0, 0 } })) == -EINVAL);
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access",
			   acl_blob({ { kUserObj, 7, 0 },
				      { kUser, 4, 1 },
				      { kGroupObj, 5, 0 },
				      { kOther, 0, 0 } })) ==
	      -EINVAL); // no mask
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_default", named) ==
	      -EACCES);
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "other", "x") == -EOPNOTSUPP);
	// An access ACL sets the mode: group bits from the mask; setgid kept
	// unless the caller says otherwise.
	REQUIRE(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access", named) ==
		0);
	CHECK(f.zi->i_mode == (S_IFREG | 02710));
	std::string v;
	uint32_t size;
	REQUIRE(fs.xattr_get(f, ZUFS_XF_SYSTEM, "posix_acl_access", 100, &v,
			     &size) == 0);
	CHECK(v == named);
	// chmod rewrites owner, mask and other in the same step.
	REQUIRE(fs.setattr(f, STATX_MODE, 0, 0654) == 0);
	REQUIRE(fs.xattr_get(f, ZUFS_XF_SYSTEM, "posix_acl_access", 100, &v,
			     &size) == 0);
	CHECK(v == acl_blob({ { kUserObj, 6, 0 },
			      { kUser, 4, 1234 },
			      { kGroupObj, 5, 0 },
			      { kMask, 5, 0 },
			      { kOther, 4, 0 } }));
	// An ACL the mode says all of is not kept; kill-sgid clears S_ISGID.
	REQUIRE(fs.setattr(f, STATX_MODE, 0, 02654) == 0);
	REQUIRE(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access",
			     acl_blob({ { kUserObj, 6, 0 },
					{ kGroupObj, 0, 0 },
					{ kOther, 4, 0 } }),
			     ZUFS_XATTR_ACL_KILL_SGID) == 0);
	CHECK(f.zi->i_mode == (S_IFREG | 0604));
	CHECK(fs.xattr_get(f, ZUFS_XF_SYSTEM, "posix_acl_access", 100, &v,
			   &size) == -ENODATA);
	// Removing an absent ACL is not an error (the kernel's set_acl(NULL)).
	CHECK(fs.xattr_set(f, ZUFS_XF_SYSTEM, "posix_acl_access", "",
			   ZUFS_XATTR_REMOVE) == 0);

	// NEW_INODE carries the inherited ACLs; they survive a remount.
	zufs_ioc_new_inode ni{};
	ni.hdr.operation = ZUFS_OP_NEW_INODE;
	ni.zi.i_mode = S_IFDIR | 0750;
	ni.dir_ii = fs.root.ii;
	ni.str.len = 1;
	ni.str.name[0] = 'd';
	const std::string both = named + named;
	Buf b(both.size(), 8);
	memcpy(b.data(), both.data(), both.size());
	ni.hdr.offset = 8;
	ni.hdr.len = static_cast<uint32_t>(both.size());
	ni.acl_access_len = ni.acl_default_len =
		static_cast<uint32_t>(named.size());
	REQUIRE(fs.dispatch(&ni.hdr, sizeof(ni), b.list()) == 0);
	Inode d{ ni.zus_ii, fs.zi_at(ni._zi) };
	fs.evict(d);
	fs.evict(f);
	clean(fs);
	REQUIRE(fs.remount("") == 0);
	REQUIRE(fs.lookup(fs.root, "d", &d) == 0);
	REQUIRE(fs.xattr_get(d, ZUFS_XF_SYSTEM, "posix_acl_default", 100, &v,
			     &size) == 0);
	CHECK(v == named);
	REQUIRE(fs.xattr_get(d, ZUFS_XF_SYSTEM, "posix_acl_access", 100, &v,
			     &size) == 0);
	CHECK(v == named);
	// Malformed inherited ACLs are refused. (The remount made a new root:
	// the old dir_ii is gone.)
	ni.dir_ii = fs.root.ii;
	ni.str.name[0] = 'e';
	memcpy(b.data(), "\2\0\0\0junk", 8); // half an entry
	ni.hdr.len = 8;
	ni.acl_access_len = 8;
	ni.acl_default_len = 0;
	CHECK(fs.dispatch(&ni.hdr, sizeof(ni), b.list()) == -EINVAL);
	fs.evict(d);
	clean(fs);

	// noacl: every system.posix_acl_* is EOPNOTSUPP, NEW_INODE's too.
	REQUIRE(fs.remount("noacl") == 0);
	REQUIRE(fs.lookup(fs.root, "d", &d) == 0);
	CHECK(fs.xattr_get(d, ZUFS_XF_SYSTEM, "posix_acl_default", 100, &v,
			   &size) == -EOPNOTSUPP);
	CHECK(fs.xattr_set(d, ZUFS_XF_SYSTEM, "posix_acl_access", named) ==
	      -EOPNOTSUPP);
	memcpy(b.data(), named.data(), named.size());
	ni.dir_ii = fs.root.ii;
	ni.hdr.len = ni.acl_access_len = static_cast<uint32_t>(named.size());
	ni.zi.i_mode = S_IFREG | 0644;
	CHECK(fs.dispatch(&ni.hdr, sizeof(ni), b.list()) == -EOPNOTSUPP);
	fs.evict(d);
	clean(fs);
	REQUIRE(fs.umount() == 0);
	unlink(fs.path.c_str());
}

// Freeing never needs space (issue 11), as on ext4: on a full file system
// without a T2, a shrinking truncate to the middle of a block shared by
// COPY, a punch inside one, and an xattr removal that rewrites the rest of
// the set each need a new block (the copy, the new set) before the old one
// goes; they take it from the reserve for freeing (balloc.h) instead of
// answering ENOSPC.
TEST_CASE("freeing on a full file system: truncate and punch into shared "
	  "blocks, xattr removal",
	  "[server][posix][refc]")
{
	Fs fs(16ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode a, b, c, fill;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	REQUIRE(fs.create(fs.root, "c", S_IFREG | 0644, &c) == 0);
	REQUIRE(fs.create(fs.root, "fill", S_IFREG | 0644, &fill) == 0);
	const std::string d = pattern(8 * 4096, 31);
	REQUIRE(fs.write(a, 0, d) == 0);
	uint64_t copied = 0;
	REQUIRE(fs.copy(a, 0, b, 0, d.size(), &copied) == 0); // all shared
	REQUIRE(copied == d.size());
	const std::string x1 = pattern(3000, 32), x2 = pattern(3000, 33);
	REQUIRE(fs.xattr_set(c, ZUFS_XF_USER, "one", x1) ==
		0); // a head and a block
	REQUIRE(fs.xattr_set(c, ZUFS_XF_USER, "two", x2) == 0);

	// Full: 1 MiB writes, then 4 KiB ones, until ENOSPC.
	uint64_t at = 0;
	for (size_t piece : { size_t(1) << 20, size_t(4096) })
		while (fs.write(fill, at, std::string(piece, 'f')) == 0)
			at += piece;
	REQUIRE(fs.write(fill, at, std::string(4096, 'f')) == -ENOSPC);
	REQUIRE(fs.write(c, 0, "x") == -ENOSPC);

	CHECK(fs.setattr(b, STATX_SIZE, 3 * 4096 + 100) == 0);
	CHECK(fs.falloc(a, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			5 * 4096 + 10, 20) == 0);
	CHECK(fs.xattr_set(c, ZUFS_XF_USER, "one", "", ZUFS_XATTR_REMOVE) == 0);

	std::string da = d;
	std::fill(da.begin() + 5 * 4096 + 10, da.begin() + 5 * 4096 + 30, '\0');
	CHECK(same(fs.read(a, 0, d.size()), da));
	CHECK(same(fs.read(b, 0, d.size()), d.substr(0, 3 * 4096 + 100)));
	std::string v;
	uint32_t size = 0;
	CHECK(fs.xattr_get(c, ZUFS_XF_USER, "one", 4096, &v, &size) ==
	      -ENODATA);
	REQUIRE(fs.xattr_get(c, ZUFS_XF_USER, "two", 4096, &v, &size) == 0);
	CHECK(v == x2);
	clean(fs);
	for (Inode i : { a, b, c, fill })
		fs.evict(i);
}
