// SPDX-License-Identifier: BSD-3-Clause
//
// door_test.cc - one door for every file system (runtime.h): pmfs found by
// the loader as a zus file system and served by the same Runtime as a
// plugin; several mounts in one process, of one plugin (examplefs, from
// $EXAMPLEFS_LIB, formatted by $EXAMPLEFS_MKFS) and of pmfs beside it,
// each its own. Driven in process through the shim's Vfs, without FUSE.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kernel_shim/vfs.h"
#include "libzus/zus_host.h"
#include "server/plugin/host.h"
#include "zufs/zus_api.h"

namespace {

std::string env(const char *name)
{
	const char *v = getenv(name);
	return v ? v : "";
}

std::string image(const char *what)
{
	return "/dev/shm/zufuse-door-" + std::to_string(getpid()) + "-" + what;
}

// The plugin's own mkfs, as a user would run it.
void mkfs_examplefs(const std::string &img)
{
	unlink(img.c_str());
	std::string cmd = env("EXAMPLEFS_MKFS") + " " + img + " 32 >/dev/null";
	REQUIRE(system(cmd.c_str()) == 0);
}

// A mounted file system in this process: a Vfs over a server's channel.
struct Mounted {
	std::unique_ptr<zuf::Vfs> vfs;

	Mounted(zufs::Channel &server, const std::string &options)
	{
		zuf::VfsOptions o;
		o.server_options = options;
		vfs = std::make_unique<zuf::Vfs>(server, o);
		std::string err;
		int r = vfs->mount(&err);
		INFO(err);
		REQUIRE(r == 0);
	}
	~Mounted() { vfs->umount(); }

	void put(const std::string &name, const std::string &data)
	{
		zuf::Entry e;
		REQUIRE(vfs->mknod(1, name, S_IFREG | 0644, 0, 0, 0, &e) == 0);
		std::unique_ptr<zuf::File> f;
		REQUIRE(vfs->open(e.ino, O_RDWR, &f) == 0);
		iovec v{ const_cast<char *>(data.data()), data.size() };
		REQUIRE(vfs->write(*f, { &v, 1 }, 0) == ssize_t(data.size()));
	}
	// The file's bytes, or "" with *err when it cannot be read.
	std::string get(const std::string &name, int *err = nullptr)
	{
		zuf::Entry e;
		int r = vfs->lookup(1, name, &e);
		if (err)
			*err = r;
		if (r)
			return "";
		std::unique_ptr<zuf::File> f;
		REQUIRE(vfs->open(e.ino, O_RDONLY, &f) == 0);
		std::string out(64, 0);
		iovec v{ out.data(), out.size() };
		ssize_t n = vfs->read(*f, { &v, 1 }, 0);
		REQUIRE(n >= 0);
		out.resize(size_t(n));
		return out;
	}
};

} // namespace

TEST_CASE("pmfs is a zus file system the loader finds, built in", "[door]")
{
	zus::plugin::Plugin a, b;
	std::string err;
	REQUIRE(zus::plugin::load_plugin("pmfs", &a, &err) == 0);
	REQUIRE(zus::plugin::load_plugin("pmfs", &b, &err) == 0);
	REQUIRE(a.zfi != nullptr);
	CHECK(a.zfi == b.zfi);
	CHECK(zus_host_fs_find("pmfs") == a.zfi); // registered with libzus
	CHECK(zus_host_ext(a.zfi) != nullptr);	  // with its extension
	CHECK(a.path == "built in");

	const std::string img = image("pmfs");
	unlink(img.c_str());
	auto server = zus::plugin::make_server(a, nullptr);
	{
		Mounted m(*server, "pmem=" + img + ",size=" +
					   std::to_string(32 << 20) + ",mkfs");
		m.put("f", "through the one door");
		CHECK(m.get("f") == "through the one door");
		zufs_ioc_stats st = {}; // pmfs's extension: STATS
		CHECK(m.vfs->server_stats(&st) == 0);
		CHECK(st.t1_blocks > 0);
	}
	unlink(img.c_str());
}

TEST_CASE("several mounts in one process, each its own", "[door]")
{
	REQUIRE(!env("EXAMPLEFS_LIB").empty()); // meson test sets them
	REQUIRE(!env("EXAMPLEFS_MKFS").empty());
	zus::plugin::Plugin ex, again, pm;
	std::string err;
	int r = zus::plugin::load_plugin(env("EXAMPLEFS_LIB"), &ex, &err);
	INFO(err);
	REQUIRE(r == 0);
	// A second load of the library: the file system it registered.
	REQUIRE(zus::plugin::load_plugin(env("EXAMPLEFS_LIB"), &again, &err) ==
		0);
	CHECK(again.zfi == ex.zfi);
	REQUIRE(zus::plugin::load_plugin("pmfs", &pm, &err) == 0);

	const std::string a = image("a"), b = image("b"), c = image("c"),
			  p = image("p");
	mkfs_examplefs(a);
	mkfs_examplefs(b);
	mkfs_examplefs(c);
	unlink(p.c_str());
	auto one = zus::plugin::make_server(ex, nullptr);   // two mounts
	auto other = zus::plugin::make_server(ex, nullptr); // a third
	auto pmfs = zus::plugin::make_server(pm, nullptr);
	{
		auto ma = std::make_unique<Mounted>(*one, "pmem=" + a);
		Mounted mb(*one, "pmem=" + b);
		Mounted mc(*other, "pmem=" + c);
		Mounted mp(*pmfs, "pmem=" + p + ",size=" +
					  std::to_string(32 << 20) + ",mkfs");
		ma->put("x", "in a");
		mb.put("x", "in b");
		mc.put("y", "in c");
		mp.put("x", "in pmfs");
		CHECK(ma->get("x") == "in a");
		CHECK(mb.get("x") == "in b");
		CHECK(mp.get("x") == "in pmfs");
		int e = 0;
		CHECK(mb.get("y", &e).empty());
		CHECK(e == -ENOENT);
		CHECK(mc.get("y") == "in c");
		// SYNC without an inode (every mount of the server), then one
		// mount goes: the others stay.
		zufs_ioc_sync s = {};
		s.hdr.operation = ZUFS_OP_SYNC;
		s.hdr.in_len = sizeof(s);
		CHECK(one->dispatch(&s.hdr, {}) == 0);
		CHECK(mb.vfs->fsync(1, false) == 0);
		ma.reset();
		CHECK(mb.get("x") == "in b");
		CHECK(mc.get("y") == "in c");
		struct statvfs sv;
		CHECK(mb.vfs->statfs(&sv) == 0);
		CHECK(mc.vfs->statfs(&sv) == 0);
	}
	// What each mount wrote is on its own image.
	{
		Mounted ma(*one, "pmem=" + a);
		CHECK(ma.get("x") == "in a");
		int e = 0;
		CHECK(ma.get("y", &e).empty());
		CHECK(e == -ENOENT);
	}
	for (const std::string &f : { a, b, c, p })
		unlink(f.c_str());
}
