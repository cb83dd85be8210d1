// SPDX-License-Identifier: BSD-3-Clause
//
// stats_test - zufusectl against a mounted zufuse: `stats --json` counts
// exactly the requests a workload made (creates, 4 KiB O_DIRECT writes and
// their bytes) and the server's counters cross the ABI (journal commits,
// T1 space, T2 evictions and promotions); `--reset` zeroes; `debug` turns
// the per-request log lines on and off on the running mount.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>
#include <string>

#include "integration.h"

namespace {

std::string zufusectl()
{
	const char *p = std::getenv("ZUFUSECTL");
	return p ? p : "";
}

zit::RunResult ctl(const zit::Mount &m, std::vector<std::string> args)
{
	args.insert(args.begin(), zufusectl());
	return zit::run_cmd(args, m.scratch().dir(), 30);
}

// The JSON of `zufusectl stats --json`, asked for and checked.
std::string stats_json(const zit::Mount &m, bool reset = false)
{
	std::vector<std::string> a = { "stats", m.mnt(), "--json" };
	if (reset)
		a.push_back("--reset");
	zit::RunResult r = ctl(m, a);
	INFO("zufusectl: exit " << r.status << "\n" << r.out << r.err);
	REQUIRE(r.status == 0);
	REQUIRE(r.out.find("\"ops\"") != std::string::npos);
	return r.out;
}

struct OpNums {
	uint64_t count = 0, errors = 0, bytes = 0;
};

// "op": {"count": N, "errors": N, "bytes": N, ...}; zeros when absent.
OpNums op(const std::string &json, const std::string &name)
{
	std::smatch mt;
	std::regex re("\"" + name +
		      "\": \\{\"count\": (\\d+), \"errors\": (\\d+), "
		      "\"bytes\": (\\d+)");
	OpNums n;
	if (std::regex_search(json, mt, re)) {
		n.count = std::stoull(mt[1]);
		n.errors = std::stoull(mt[2]);
		n.bytes = std::stoull(mt[3]);
	}
	return n;
}

// A number after "key": (the first one).
uint64_t num(const std::string &json, const std::string &key)
{
	std::smatch mt;
	std::regex re("\"" + key + "\": (\\d+)");
	REQUIRE(std::regex_search(json, mt, re));
	return std::stoull(mt[1]);
}

// "section": {... "key": N ...}
uint64_t num_in(const std::string &json, const std::string &section,
		const std::string &key)
{
	size_t at = json.find("\"" + section + "\": {");
	REQUIRE(at != std::string::npos);
	return num(json.substr(at, json.find('}', at) - at), key);
}

struct AlignedFree {
	void operator()(void *p) const { free(p); }
};

// @n O_DIRECT writes of 4 KiB at offsets first*4K, (first+1)*4K, ...
void direct_writes(const std::string &path, int first, int n)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	std::unique_ptr<char, AlignedFree> buf(
		static_cast<char *>(aligned_alloc(4096, 4096)));
	std::memset(buf.get(), 'z', 4096);
	for (int i = first; i < first + n; ++i)
		REQUIRE(pwrite(fd, buf.get(), 4096, off_t(i) * 4096) == 4096);
	REQUIRE(close(fd) == 0);
}

void require_ctl()
{
	if (zufusectl().empty())
		FAIL("ZUFUSECTL is not set (meson passes build/zufusectl)");
}

} // namespace

TEST_CASE("zufusectl stats counts the creates, writes and bytes of a workload",
	  "[integration][stats]")
{
	require_ctl();
	zit::Mount m;
	REQUIRE_MOUNT(m);
	const std::string data = m.path("data");
	direct_writes(data, 0, 1); // created before the reset

	std::string zeroed = stats_json(m, true);
	CHECK(zeroed.find("\"reset\": true") != std::string::npos);
	uint64_t commits0 = num(stats_json(m), "journal_commits");
	CHECK(commits0 == 0); // nothing happened since the reset

	constexpr int kCreates = 50, kWrites = 64;
	for (int i = 0; i < kCreates; ++i) {
		int fd = open(m.path("f" + std::to_string(i)).c_str(),
			      O_CREAT | O_EXCL | O_WRONLY, 0644);
		REQUIRE(fd >= 0);
		REQUIRE(close(fd) == 0);
	}
	direct_writes(data, 1, kWrites);

	std::string js = stats_json(m);
	INFO(js);
	OpNums c = op(js, "create"), w = op(js, "write");
	CHECK(c.count == kCreates);
	CHECK(c.errors == 0);
	CHECK(w.count == kWrites);
	CHECK(w.errors == 0);
	CHECK(w.bytes == uint64_t(kWrites) * 4096);
	CHECK(op(js, "read").count == 0);
	// The server's side, through ZUFS_OP_STATS: every create commits a
	// transaction, and so does every write that allocates blocks.
	CHECK(num(js, "error") == 0);
	CHECK(num(js, "journal_commits") >= uint64_t(kCreates + kWrites));
	CHECK(num_in(js, "t1", "used") >= uint64_t(kWrites + 1));
	CHECK(num_in(js, "t1", "blocks") > num_in(js, "t1", "used"));
	CHECK(num_in(js, "inodes", "total") - num_in(js, "inodes", "free") >=
	      uint64_t(kCreates + 2));

	// --reset prints what it resets: the same counts...
	std::string printed = stats_json(m, true);
	CHECK(op(printed, "create").count == kCreates);
	CHECK(op(printed, "write").bytes == uint64_t(kWrites) * 4096);
	// ...and from then on they start from zero.
	std::string after = stats_json(m);
	INFO(after);
	CHECK(op(after, "create").count == 0);
	CHECK(op(after, "write").count == 0);
	CHECK(num(after, "journal_commits") == 0);
	direct_writes(data, 0, 3);
	CHECK(op(stats_json(m), "write").count == 3);

	// The table for people.
	zit::RunResult text = ctl(m, { "stats", m.mnt() });
	CHECK(text.status == 0);
	CHECK(text.out.find("write") != std::string::npos);
	CHECK(text.out.find("p99.9_us") != std::string::npos);
	CHECK(text.out.find("journal") != std::string::npos);

	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("zufusectl debug switches per-request log lines on a running mount",
	  "[integration][stats]")
{
	require_ctl();
	zit::Mount m;
	REQUIRE_MOUNT(m);
	const std::string data = m.path("data");
	direct_writes(data, 0, 1);
	CHECK(m.log().find("dbg") == std::string::npos);

	zit::RunResult on = ctl(m, { "debug", m.mnt(), "+rw" });
	INFO(on.out << on.err);
	REQUIRE(on.status == 0);
	CHECK(on.out.find("debug: rw") == 0);

	// The line is written before the reply: it is there when pwrite returns.
	direct_writes(data, 2, 1);
	std::string log = m.log();
	INFO(log);
	CHECK(std::regex_search(log,
				std::regex("zufuse: dbg rw +#[0-9]+ write "
					   "ino=[0-9]+ off=8192 len=4096 .*"
					   "-> 4096 bytes \\([0-9.]+ us\\)")));
	// rw only: a create is not logged...
	int fd = open(m.path("quiet").c_str(), O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK(m.log().find("\"quiet\"") == std::string::npos);

	// ...until namei is on; rw goes off in the same command.
	zit::RunResult sw = ctl(m, { "debug", m.mnt(), "+namei", "-rw" });
	CHECK(sw.out.find("debug: namei ") == 0);
	fd = open(m.path("loud").c_str(), O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	direct_writes(data, 3, 1);
	log = m.log();
	CHECK(std::regex_search(log,
				std::regex("dbg namei #[0-9]+ create ino=1 "
					   "\"loud\" .*-> ino=[0-9]+")));
	CHECK(log.find("off=12288") == std::string::npos);

	// Failed requests of any class with "err" (the kernel sends RMDIR of
	// a non-empty directory; the server says ENOTEMPTY); all off with
	// "none".
	REQUIRE(mkdir(m.path("full").c_str(), 0755) == 0);
	direct_writes(m.path("full/x"), 0, 1);
	ctl(m, { "debug", m.mnt(), "=err" });
	CHECK(rmdir(m.path("full").c_str()) == -1);
	CHECK(errno == ENOTEMPTY);
	CHECK(m.log().find("rmdir ino=1 \"full\" -> ENOTEMPTY") !=
	      std::string::npos);
	zit::RunResult off = ctl(m, { "debug", m.mnt(), "none" });
	CHECK(off.out.find("debug: none") == 0);
	size_t len = m.log().size();
	direct_writes(data, 4, 2);
	CHECK(rmdir(m.path("full").c_str()) == -1);
	CHECK(m.log().size() == len);

	zit::RunResult bad = ctl(m, { "debug", m.mnt(), "+bogus" });
	CHECK(bad.status == 2);
	CHECK(bad.err.find("unknown debug class 'bogus'") != std::string::npos);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("zufusectl stats shows tier 2 evictions and promotions",
	  "[integration][stats]")
{
	require_ctl();
	zit::Mount m("32M");
	REQUIRE_MOUNT(m, { "--t2=" + m.scratch().path("t2") + ",256M" });
	std::string before = stats_json(m);
	CHECK(num_in(before, "t2", "blocks") > 0);
	CHECK(num(before, "evictions") == 0);

	// 48 MiB into 32 MiB of pmem: some must go to T2.
	const std::string f = m.path("big");
	int fd = open(f.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	std::unique_ptr<char, AlignedFree> buf(
		static_cast<char *>(aligned_alloc(4096, 1 << 20)));
	std::memset(buf.get(), 'T', 1 << 20);
	for (int i = 0; i < 48; ++i)
		REQUIRE(pwrite(fd, buf.get(), 1 << 20, off_t(i) << 20) ==
			1 << 20);
	std::string mid = stats_json(m);
	INFO(mid);
	CHECK(num(mid, "evictions") > 0);
	CHECK(num_in(mid, "t2", "used") > 0);
	CHECK(op(mid, "write").bytes == 48ULL << 20);

	// Reading it all back meets the blocks on T2.
	for (int i = 0; i < 48; ++i)
		REQUIRE(pread(fd, buf.get(), 1 << 20, off_t(i) << 20) ==
			1 << 20);
	close(fd);
	std::string end = stats_json(m);
	INFO(end);
	CHECK(num(end, "promotions") + num(end, "cold_reads") > 0);
	CHECK(op(end, "read").bytes == 48ULL << 20);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("zufusectl: usage, wrong targets, the socket goes with the mount",
	  "[integration][stats]")
{
	require_ctl();
	zit::Scratch s;
	zit::RunResult h = zit::run_cmd({ zufusectl(), "--help" }, s.dir());
	CHECK(h.status == 0);
	CHECK(h.out.find("zufusectl stats MOUNTPOINT") != std::string::npos);
	zit::RunResult v = zit::run_cmd({ zufusectl(), "--version" }, s.dir());
	CHECK(v.status == 0);
	CHECK(zit::run_cmd({ zufusectl() }, s.dir()).status == 2);
	CHECK(zit::run_cmd({ zufusectl(), "stats" }, s.dir()).status == 2);
	CHECK(zit::run_cmd({ zufusectl(), "frob", s.dir() }, s.dir()).status ==
	      2);

	zit::RunResult notz =
		zit::run_cmd({ zufusectl(), "stats", s.dir() }, s.dir());
	CHECK(notz.status == 1);
	CHECK(notz.err.find("not a zufuse mount") != std::string::npos);

	zit::Mount m;
	REQUIRE_MOUNT(m);
	struct stat st;
	REQUIRE(stat(m.mnt().c_str(), &st) == 0);
	const std::string sock = "/run/zufuse/" +
				 std::to_string(major(st.st_dev)) + ":" +
				 std::to_string(minor(st.st_dev)) + ".sock";
	REQUIRE(stat(sock.c_str(), &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 0777) == 0600);
	// Any path inside the mount names it.
	REQUIRE(mkdir(m.path("sub").c_str(), 0755) == 0);
	CHECK(ctl(m, { "stats", m.path("sub") }).status == 0);
	REQUIRE_UNMOUNT(m);
	CHECK(lstat(sock.c_str(), &st) == -1);
}
