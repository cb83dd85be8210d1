// SPDX-License-Identifier: BSD-3-Clause
//
// uring_test.cc - zufuse's two FUSE transports: io_uring (the default
// where the kernel has it, src/kernel_shim/fuse_uring.h) and /dev/fuse
// (--no-uring, -s). The same kinds of checks as the other integration
// tests, over each: fio --verify, many files created, listed and removed,
// mmap, suid killed by a write; over the rings also unmount without a
// hang, SIGTERM and kill -9, remount and verify. (The other integration
// tests run over the default, so /dev/fuse is exercised here.)
//
// Skipped (exit 77, with a message) when the kernel has no FUSE io_uring
// (/sys/module/fuse/parameters/enable_uring). That the requests really
// went through the rings is checked from the ring threads' context
// switches: they sleep between requests and nothing else wakes them.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fs_helpers.h"
#include "integration.h"

namespace {

constexpr char kEnableParam[] = "/sys/module/fuse/parameters/enable_uring";

bool kernel_has_uring() { return access(kEnableParam, F_OK) == 0; }

// Without FUSE over io_uring nothing here can run: the whole binary is
// skipped (exit 77, meson's SKIP) with the reason, before Catch starts.
[[maybe_unused]] const bool kSkipWithoutUring = [] {
	if (!kernel_has_uring()) {
		fprintf(stderr,
			"SKIP: this kernel has no FUSE over io_uring (no %s)\n",
			kEnableParam);
		std::exit(77);
	}
	return true;
}();

std::string fio_path()
{
	const char *p = getenv("FIO");
	return p && *p ? p : "fio";
}

unsigned possible_cpus()
{
	std::ifstream f("/sys/devices/system/cpu/possible");
	std::string s;
	std::getline(f, s);
	size_t cut = s.find_last_of("-,");
	return unsigned(std::stoul(cut == s.npos ? s : s.substr(cut + 1))) + 1;
}

// The ring threads of zufuse @pid: their voluntary context switches
// summed, and how many there are.
struct RingThreads {
	unsigned count = 0;
	unsigned long switches = 0;
};

RingThreads ring_threads_once(pid_t pid)
{
	RingThreads r;
	std::string task = "/proc/" + std::to_string(pid) + "/task";
	DIR *d = opendir(task.c_str());
	if (!d)
		return r;
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		std::string dir = task + "/" + e->d_name;
		std::string comm = zit::read_file(dir + "/comm");
		if (comm.rfind("zufuse-ring", 0) != 0)
			continue;
		++r.count;
		std::ifstream st(dir + "/status");
		for (std::string line; std::getline(st, line);)
			if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
				r.switches += std::stoul(line.substr(24));
	}
	closedir(d);
	return r;
}

// /proc/PID/task lists threads by position: one exiting meanwhile (libfuse
// retires idle workers) can hide another from a listing. Take the fullest.
RingThreads ring_threads(pid_t pid)
{
	RingThreads best;
	for (int i = 0; i < 5; i++) {
		RingThreads r = ring_threads_once(pid);
		if (r.count > best.count ||
		    (r.count == best.count && r.switches > best.switches))
			best = r;
	}
	return best;
}

zit::RunResult fio(const zit::Mount &m, const std::vector<std::string> &job)
{
	std::vector<std::string> argv = {
		fio_path(),
		"--directory=" + m.mnt(),
		"--filename_format=$jobname.$jobnum",
		"--verify=crc32c",
		"--verify_fatal=1",
		"--verify_dump=0",
		"--verify_state_save=0",
		"--ioengine=psync",
		"--group_reporting",
		"--output-format=terse",
	};
	argv.insert(argv.end(), job.begin(), job.end());
	return zit::run_cmd(argv, m.scratch().dir(), 300);
}

// The log says nothing about falling back to /dev/fuse.
void check_no_fallback(const zit::Mount &m)
{
	INFO("zufuse log:\n" << m.log());
	CHECK(m.log().find("using /dev/fuse") == std::string::npos);
	CHECK(m.log().find("serving over /dev/fuse") == std::string::npos);
}

} // namespace

namespace {

// Mount with args and check that 4000 O_DIRECT writes are served by the
// ring threads.
void served_by_rings(const std::vector<std::string> &args)
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m, args);
	check_no_fallback(m);

	// The mount shows before zufuse has started its rings (they are set
	// up before INIT is answered, i.e. after the mount(2)).
	RingThreads before;
	for (int i = 0; i < 100; i++) {
		before = ring_threads(m.pid());
		if (before.count >= possible_cpus())
			break;
		usleep(50 * 1000);
	}
	{
		INFO("zufuse log:\n" << m.log());
		CHECK(before.count >= possible_cpus()); // one per CPU at least
	}

	// 4000 O_DIRECT round trips; each wakes a ring thread at least once.
	auto r = fio(m, { "--name=probe", "--rw=randwrite", "--bs=4k",
			  "--size=16M", "--direct=1", "--number_ios=4000",
			  "--do_verify=0" });
	INFO("fio: " << r.err);
	REQUIRE(r.status == 0);
	RingThreads after = ring_threads(m.pid());
	INFO("ring threads' voluntary switches: " << before.switches << " -> "
						  << after.switches);
	CHECK(after.switches - before.switches >= 2000);
	REQUIRE_UNMOUNT(m);
	check_no_fallback(m);
}

} // namespace

TEST_CASE("by default (and with --uring, or -s --uring) requests go "
	  "through the per-CPU rings",
	  "[uring]")
{
	served_by_rings({});
	served_by_rings({ "--uring" });
	served_by_rings({ "-s", "--uring" });
}

TEST_CASE("with --no-uring or -s there are no rings", "[uring]")
{
	const std::vector<std::vector<std::string>> runs = { { "--no-uring" },
							     { "-s" } };
	for (const auto &args : runs) {
		zit::Mount m("64M");
		REQUIRE_MOUNT(m, args);
		REQUIRE(zit::write_file(m.path("f"), zit::pattern(1, 8192)));
		INFO(args[0]);
		CHECK(ring_threads(m.pid()).count == 0);
		REQUIRE_UNMOUNT(m);
	}
}

namespace {

void fio_verify(const std::vector<std::string> &transport)
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m, transport);
	const std::vector<std::vector<std::string>> jobs = {
		{ "--name=seq-1M-buffered", "--rw=write", "--bs=1M",
		  "--size=64M" },
		{ "--name=seq-1M-direct", "--rw=write", "--bs=1M", "--size=64M",
		  "--direct=1" },
		{ "--name=rand-4k-direct", "--rw=randwrite", "--bs=4k",
		  "--size=16M", "--direct=1" },
		{ "--name=rand-4k-buffered-dsync", "--rw=randwrite", "--bs=4k",
		  "--size=8M", "--sync=dsync" },
		{ "--name=rand-odd-buffered", "--rw=randwrite",
		  "--bsrange=512-200k", "--size=24M" },
		{ "--name=rand-odd-direct", "--rw=randwrite", "--bs=1536",
		  "--size=6M", "--direct=1" },
		{ "--name=seq-1M-direct-2jobs", "--rw=write", "--bs=1M",
		  "--size=32M", "--direct=1", "--numjobs=2" },
		{ "--name=rand-128k-direct-libaio", "--rw=randwrite",
		  "--bs=128k", "--size=32M", "--direct=1", "--ioengine=libaio",
		  "--iodepth=8" },
	};
	for (const auto &job : jobs) {
		std::vector<std::string> argv = job;
		argv.push_back("--do_verify=1");
		auto r = fio(m, argv);
		INFO("fio " << job[0] << " exit " << r.status << "\nstderr:\n"
			    << r.err);
		CHECK(r.status == 0);
		if (r.status == 0) {
			auto rm = zit::run_cmd(
				{ "sh", "-c", "rm -f '" + m.mnt() + "/'*" },
				m.scratch().dir());
			CHECK(rm.status == 0);
		}
	}
	REQUIRE_UNMOUNT(m);
	check_no_fallback(m);
	CHECK_FSCK_CLEAN(m);
}

void namespace_and_mmap(const std::vector<std::string> &transport)
{
	zit::Mount m("256M");
	REQUIRE_MOUNT(m, transport);

	// A few hundred files: create, list, remove.
	const int n = 300;
	REQUIRE(mkdir(m.path("d").c_str(), 0755) == 0);
	for (int i = 0; i < n; i++)
		REQUIRE(zit::write_file(m.path("d/f" + std::to_string(i)),
					zit::pattern(i, 100 + i)));
	std::vector<std::string> names;
	DIR *d = opendir(m.path("d").c_str());
	REQUIRE(d);
	while (dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			names.push_back(e->d_name);
	closedir(d);
	CHECK(names.size() == size_t(n));
	for (int i = 0; i < n; i += 37)
		CHECK(zit::read_file(m.path("d/f" + std::to_string(i))) ==
		      zit::pattern(i, 100 + i));
	for (int i = 0; i < n; i++)
		REQUIRE(unlink(m.path("d/f" + std::to_string(i)).c_str()) == 0);
	CHECK(rmdir(m.path("d").c_str()) == 0);

	// mmap: write through a shared mapping, read back with read(2).
	const size_t len = 1 << 20;
	std::string want = zit::pattern(7, len);
	int fd = open(m.path("mm").c_str(), O_RDWR | O_CREAT, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, len) == 0);
	void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	std::memcpy(p, want.data(), len);
	CHECK(msync(p, len, MS_SYNC) == 0);
	munmap(p, len);
	close(fd);
	CHECK(zit::read_file(m.path("mm")) == want);
	// ... and read a written file through a mapping.
	fd = open(m.path("mm").c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK(std::memcmp(p, want.data(), len) == 0);
	munmap(p, len);
	close(fd);

	// The kill-suid flag of a WRITE travels with the ring's request too
	// (fuse_wire's KILLPRIV_V2).
	REQUIRE(chmod(m.scratch().dir().c_str(), 0755) == 0);
	REQUIRE(chmod(m.mnt().c_str(), 0777) == 0);
	REQUIRE(zit::write_file(m.path("suid"), "abc"));
	REQUIRE(chmod(m.path("suid").c_str(), 04777) == 0);
	CHECK(zit::errno_as(true, [&] {
		      return zit::write_one(m.path("suid"));
	      }) == 0);
	struct stat st;
	REQUIRE(stat(m.path("suid").c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0777);

	REQUIRE_UNMOUNT(m);
	check_no_fallback(m);
	CHECK_FSCK_CLEAN(m);
}

// The default transport (the rings) and /dev/fuse.
const std::vector<std::vector<std::string>> kTransports = { {},
							    { "--no-uring" } };

TEST_CASE("fio --verify=crc32c over each transport", "[uring]")
{
	for (const auto &transport : kTransports) {
		INFO((transport.empty() ? "(default)" : transport[0]));
		fio_verify(transport);
	}
}

TEST_CASE("create, readdir, unlink, mmap, kill suid over each transport",
	  "[uring]")
{
	for (const auto &transport : kTransports) {
		INFO((transport.empty() ? "(default)" : transport[0]));
		namespace_and_mmap(transport);
	}
}

} // namespace

TEST_CASE(
	"the rings: unmount, SIGTERM and kill -9 never hang; remount verifies",
	"[uring]")
{
	zit::Mount m("256M");
	std::vector<std::string> write_job = { "--name=keep", "--rw=randwrite",
					       "--bs=4k",     "--size=16M",
					       "--direct=1",  "--do_verify=0" };
	std::vector<std::string> verify_job = {
		"--name=keep", "--rw=randwrite",  "--bs=4k",
		"--size=16M",  "--verify_only=1", "--direct=1"
	};

	REQUIRE_MOUNT(m);
	auto r = fio(m, write_job);
	INFO("write: " << r.err);
	REQUIRE(r.status == 0);

	auto t0 = std::chrono::steady_clock::now();
	REQUIRE_UNMOUNT(m);
	auto secs = std::chrono::duration<double>(
			    std::chrono::steady_clock::now() - t0)
			    .count();
	CHECK(secs < 5.0);
	CHECK_FSCK_CLEAN(m);

	// Remount over the rings: what was written is there.
	REQUIRE_MOUNT(m);
	r = fio(m, verify_job);
	INFO("verify after remount: " << r.err << r.out.substr(0, 2000));
	CHECK(r.status == 0);
	CHECK(m.signal_and_wait(SIGTERM) == 0);
	CHECK_FSCK_CLEAN(m);

	// kill -9 with the rings registered; the mount clears and the data
	// is still there after a remount over /dev/fuse.
	REQUIRE_MOUNT(m);
	REQUIRE(zit::write_file(m.path("x"), zit::pattern(3, 5000)));
	REQUIRE(m.kill9());
	REQUIRE_MOUNT(m, { "--no-uring" });
	r = fio(m, verify_job);
	INFO("verify after kill -9: " << r.err << r.out.substr(0, 2000));
	CHECK(r.status == 0);
	CHECK(zit::read_file(m.path("x")) == zit::pattern(3, 5000));
	REQUIRE_UNMOUNT(m);
}

// A zero-copy read reply points into the pmem mapping and the ring thread
// copies it into its ring entry (fuse_uring.cc) under the SIGBUS guard: a
// media error there (ZUFUSE_FAULT_PMEM poisons one block of the image)
// answers that read EIO; every other block reads right, the mount lives,
// fsck is clean.
TEST_CASE("--uring: a media error in a read reply copied into the ring is EIO",
	  "[uring][fault]")
{
	zit::Mount m("64M");
	const std::string data = zit::pattern(11, 1 << 20);
	constexpr size_t kBad = 5; // the poisoned block of "a"
	REQUIRE_MOUNT(m);
	REQUIRE(zit::write_file(m.path("a"), data));
	REQUIRE_UNMOUNT(m);
	const size_t off =
		zit::read_file(m.image()).find(data.substr(kBad * 4096, 4096));
	REQUIRE(off != std::string::npos);

	const std::string rule = "read:at=" + std::to_string(off) + "+4K";
	setenv("ZUFUSE_FAULT_PMEM", rule.c_str(), 1);
	bool mounted = m.mount({ "--uring" });
	unsetenv("ZUFUSE_FAULT_PMEM");
	REQUIRE(mounted);
	check_no_fallback(m);
	// The rings are registered after the mount shows (see served_by_rings).
	for (int i = 0;
	     i < 100 && ring_threads(m.pid()).count < possible_cpus(); i++)
		usleep(50 * 1000);
	REQUIRE(ring_threads(m.pid()).count >= possible_cpus());

	int fd = open(m.path("a").c_str(), O_RDONLY | O_DIRECT);
	REQUIRE(fd >= 0);
	char *buf = static_cast<char *>(aligned_alloc(4096, 4096));
	size_t good = 0, eio = 0, other = 0;
	for (size_t k = 0; k < data.size() / 4096; ++k) {
		ssize_t n = pread(fd, buf, 4096, off_t(k * 4096));
		if (n < 0 && errno == EIO && k == kBad)
			++eio;
		else if (n == 4096 &&
			 !memcmp(buf, data.data() + k * 4096, 4096))
			++good;
		else
			++other;
	}
	free(buf);
	close(fd);
	INFO("zufuse log:\n" << m.log());
	CHECK(eio == 1);
	CHECK(good == data.size() / 4096 - 1);
	CHECK(other == 0);
	CHECK(m.log().find("read reply copied into the ring") !=
	      std::string::npos);
	CHECK(zit::write_file(m.path("b"), "alive"));
	CHECK(zit::read_file(m.path("b")) == "alive");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
