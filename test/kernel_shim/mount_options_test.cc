// SPDX-License-Identifier: BSD-3-Clause
// The zufuse command line (src/kernel_shim/mount_options.cc).
#include <catch2/catch.hpp>
#include <sys/mount.h>

#include <string>
#include <vector>

#include "kernel_shim/mount_options.h"

namespace {

bool parse(std::vector<const char *> args, zuf::CommandLine *cl,
	   std::string *err)
{
	args.insert(args.begin(), "zufuse");
	*cl = {};
	return zuf::parse_command_line(int(args.size()), args.data(), cl, err);
}

} // namespace

TEST_CASE("options: sizes", "[options]")
{
	uint64_t v;
	CHECK((zuf::parse_size("4096", &v) && v == 4096));
	CHECK((zuf::parse_size("4K", &v) && v == 4096));
	CHECK((zuf::parse_size("16m", &v) && v == 16ULL << 20));
	CHECK((zuf::parse_size("1G", &v) && v == 1ULL << 30));
	CHECK((zuf::parse_size("2T", &v) && v == 2ULL << 40));
	CHECK_FALSE(zuf::parse_size("", &v));
	CHECK_FALSE(zuf::parse_size("0", &v));
	CHECK_FALSE(zuf::parse_size("abc", &v));
	CHECK_FALSE(zuf::parse_size("1X", &v));
	CHECK_FALSE(zuf::parse_size("1GB", &v));
	CHECK_FALSE(zuf::parse_size("-1", &v));
	CHECK_FALSE(zuf::parse_size("99999999999999999999", &v));
	CHECK_FALSE(zuf::parse_size("16777216T", &v));
}

TEST_CASE("options: command line", "[options]")
{
	zuf::CommandLine cl;
	std::string err;

	SECTION("everything")
	{
		REQUIRE(parse({ "/mnt", "--pmem=/img", "--size", "1G", "--mkfs",
				"--direct-io", "-f", "-s", "-o",
				"ro,allow_other" },
			      &cl, &err));
		CHECK(cl.mountpoint == "/mnt");
		CHECK(cl.pmem == "/img");
		CHECK(cl.size == 1ULL << 30);
		CHECK(cl.mkfs);
		CHECK(cl.direct_io);
		CHECK(cl.foreground);
		CHECK(cl.single_thread);
		CHECK(cl.read_only);
		CHECK(cl.fuse_opts ==
		      std::vector<std::string>{ "ro,allow_other" });
		CHECK(zuf::server_options(cl) ==
		      "pmem=/img,size=1073741824,mkfs,ro");
	}
	SECTION("minimal")
	{
		REQUIRE(parse({ "--pmem", "/img", "/mnt" }, &cl, &err));
		CHECK(zuf::server_options(cl) == "pmem=/img");
		CHECK_FALSE(cl.foreground);
	}
	SECTION("io_uring: default, --uring, --no-uring; the last one wins")
	{
		REQUIRE(parse({ "/mnt", "--pmem=/i" }, &cl, &err));
		CHECK_FALSE(cl.uring);
		CHECK_FALSE(cl.no_uring);
		REQUIRE(parse({ "/mnt", "--pmem=/i", "--no-uring" }, &cl,
			      &err));
		CHECK(cl.no_uring);
		CHECK_FALSE(cl.uring);
		zuf::CommandLine c2;
		REQUIRE(parse({ "/mnt", "--pmem=/i", "--no-uring", "--uring" },
			      &c2, &err));
		CHECK(c2.uring);
		CHECK_FALSE(c2.no_uring);
	}
	SECTION("errors are one line")
	{
		CHECK_FALSE(parse({ "/mnt" }, &cl, &err));
		CHECK(err ==
		      "missing IMAGE (zufuse IMAGE MOUNTPOINT, or --pmem=PATH; see --help)");
		CHECK_FALSE(parse({ "--pmem=/i" }, &cl, &err));
		CHECK(err == "missing MOUNTPOINT (see --help)");
		CHECK_FALSE(
			parse({ "/mnt", "--pmem=/i", "--bogus" }, &cl, &err));
		CHECK(err == "unknown option '--bogus' (see --help)");
		CHECK_FALSE(parse({ "/mnt", "--pmem=/i", "--size=12Q" }, &cl,
				  &err));
		CHECK(err.starts_with("bad size '12Q'"));
		CHECK_FALSE(parse({ "/a", "/b", "--pmem=/i" }, &cl, &err));
		CHECK_FALSE(parse({ "/a", "--pmem=/i,x" }, &cl, &err));
		CHECK(err.find('\n') == std::string::npos);
	}
	SECTION("IMAGE MOUNTPOINT and -o key=value, as mount.fuse3 passes them")
	{
		REQUIRE(parse(
			{ "/img", "/mnt", "-o",
			  "rw,size=1G,mkfs,t2=/t2,t2_size=4G,direct_io,uring,noacl,"
			  "nodev" },
			&cl, &err));
		CHECK(cl.pmem == "/img");
		CHECK(cl.mountpoint == "/mnt");
		CHECK(cl.size == (1ULL << 30));
		CHECK(cl.mkfs);
		CHECK(cl.t2 == "/t2");
		CHECK(cl.t2_size == (4ULL << 30));
		CHECK(cl.direct_io);
		CHECK(cl.uring);
		CHECK_FALSE(cl.acl);
		REQUIRE(cl.fuse_opts.size() == 1);
		CHECK(cl.fuse_opts[0] == "rw,nodev");
		zuf::CommandLine c2;
		REQUIRE(parse({ "/mnt", "-o", "pmem=/img,no-uring" }, &c2,
			      &err));
		CHECK(c2.pmem == "/img");
		CHECK(c2.no_uring);
	}
	SECTION("fstab's own options are ignored; an unknown one is refused")
	{
		REQUIRE(parse(
			{ "/img", "/mnt", "-o",
			  "defaults,noauto,user,users,nofail,_netdev,"
			  "x-systemd.automount,comment=systemd.x,noexec" },
			&cl, &err));
		REQUIRE(cl.fuse_opts.size() == 1);
		CHECK(cl.fuse_opts[0] == "noexec");
		zuf::CommandLine c2;
		CHECK_FALSE(
			parse({ "/img", "/mnt", "-o", "rw,frob" }, &c2, &err));
		CHECK(err == "unknown mount option 'frob' (see --help)");
		CHECK_FALSE(
			parse({ "/img", "/mnt", "-o", "size=abc" }, &c2, &err));
		CHECK(err.starts_with("bad size 'abc'"));
		CHECK_FALSE(
			parse({ "/img", "/mnt", "-o", "mkfs=1" }, &c2, &err));
		CHECK(err == "mount option 'mkfs' takes no value");
		CHECK_FALSE(
			parse({ "/img", "/mnt", "--pmem=/other" }, &c2, &err));
		CHECK(err.starts_with("two images"));
	}
	SECTION("standard VFS options: honoured, kept from libfuse where "
		"it refuses them")
	{
		REQUIRE(parse({ "/mnt", "--pmem=/i", "-o",
				"defaults,nodiratime,strictatime,lazytime,"
				"dirsync,noexec,nosuid,diratime,nodiratime" },
			      &cl, &err));
		CHECK(cl.fuse_opts ==
		      std::vector<std::string>{ "dirsync,noexec,nosuid" });
		CHECK(cl.strictatime);
		CHECK(cl.nodiratime);
		CHECK(cl.dirsync);
		CHECK(zuf::server_options(cl) ==
		      "pmem=/i,strictatime,nodiratime");
		CHECK(cl.ms_flags ==
		      (MS_NODIRATIME | MS_STRICTATIME | MS_LAZYTIME |
		       MS_DIRSYNC | MS_NOEXEC | MS_NOSUID));
		zuf::CommandLine c2; // the last atime option wins
		REQUIRE(parse({ "/mnt", "--pmem=/i", "-o",
				"strictatime,noatime,relatime" },
			      &c2, &err));
		CHECK_FALSE(c2.strictatime);
		CHECK_FALSE(c2.noatime);
		CHECK(c2.fuse_opts.empty());
		CHECK(c2.ms_flags == MS_RELATIME);
		zuf::CommandLine c3;
		REQUIRE(parse({ "/mnt", "--pmem=/i", "-o", "relatime", "-o",
				"noatime" },
			      &c3, &err));
		CHECK(c3.fuse_opts == std::vector<std::string>{ "noatime" });
		CHECK(zuf::server_options(c3) == "pmem=/i,noatime");
	}
	SECTION("remount: as mount.fuse3 runs it, no --pmem needed")
	{
		REQUIRE(parse(
			{ "/img", "/mnt", "-o",
			  "remount,ro,dev,suid,user_id=0,group_id=0,"
			  "rootmode=40000,default_permissions,allow_other" },
			&cl, &err));
		CHECK(cl.remount);
		CHECK(cl.mountpoint == "/mnt");
		CHECK(cl.ms_flags == MS_RDONLY);
		zuf::CommandLine c2;
		REQUIRE(parse({ "/mnt", "-o", "remount,rw,noexec" }, &c2,
			      &err));
		CHECK(c2.mountpoint == "/mnt");
		CHECK(c2.ms_flags == MS_NOEXEC);
	}
	SECTION("help and version need nothing else")
	{
		CHECK(parse({ "--help" }, &cl, &err));
		CHECK(cl.help);
		CHECK(parse({ "-V" }, &cl, &err));
		CHECK(cl.version);
	}
}
