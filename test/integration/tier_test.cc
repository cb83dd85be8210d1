// SPDX-License-Identifier: BSD-3-Clause
//
// tier_test.cc - tier 2 through a real mount: 64 MiB of pmem (T1) and a
// 1 GiB T2 file, both in /dev/shm. fio writes 512 MiB with
// --verify=crc32c (so most of it must live on T2: the evictor and the
// synchronous eviction of a WRITE short of T1), reads it back, again after
// a remount; random reads (promotions) race random writes (evictions);
// zufuse is killed with SIGKILL while it migrates, and after the remount
// every byte fsynced before is intact and fsck.zufs -n is clean.
// Cold reads: random 4K O_DIRECT reads of a file evicted to T2 are served
// from T2 (GET_MULTY answers ZUFS_GBF_READ, the READ carries
// IOM_T2_READ_LEN) and verify; the server's tier line at unmount counts
// them.
#include <sys/statvfs.h>

#include <cstdlib>
#include <thread>

#include "integration.h"

namespace {

std::string fio_path()
{
	const char *p = getenv("FIO");
	return p && *p ? p : "fio";
}

// fio on one file of the mount; extra: the job's own options.
zit::RunResult fio(const zit::Mount &m, const std::string &name,
		   const std::vector<std::string> &extra)
{
	std::vector<std::string> argv = {
		fio_path(),
		"--name=" + name,
		"--filename=" + m.path(name),
		"--ioengine=psync",
		"--verify_fatal=1",
		"--verify_dump=0",
		"--verify_state_save=0",
		"--output-format=terse",
	};
	argv.insert(argv.end(), extra.begin(), extra.end());
	return zit::run_cmd(argv, m.scratch().dir(), 120);
}

#define CHECK_FIO(r)                                                           \
	do {                                                                   \
		INFO("fio exit " << (r).status << "\n"                         \
				 << (r).err << (r).out.substr(0, 600));        \
		CHECK((r).status == 0);                                        \
	} while (0)

// A sequential 1M-block file with crc32c headers in every block; verify
// reads it back and checks them (verify_only: no writing).
const std::vector<std::string> k_seq = { "--rw=write", "--bs=1M",
					 "--verify=crc32c" };

std::vector<std::string> with(std::vector<std::string> a,
			      const std::vector<std::string> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

// A counter of the server's "zufuse: tier: ..." line (logged at unmount),
// or -1.
long long tier_stat(const std::string &log, const std::string &name)
{
	size_t at = log.rfind("zufuse: tier:");
	if (at == std::string::npos)
		return -1;
	size_t eol = log.find('\n', at);
	size_t k = log.find(name + " ", at);
	if (k == std::string::npos || k > eol)
		return -1;
	return std::atoll(log.c_str() + k + name.size() + 1);
}

} // namespace

TEST_CASE("tier: 512 MiB through 64 MiB of T1 and a 1 GiB T2", "[tier]")
{
	zit::Mount m("64M");
	const std::string t2 = "--t2=" + m.scratch().path("t2") + ",1G";
	const std::string t2_again = "--t2=" + m.scratch().path("t2");
	REQUIRE_MOUNT(m, { t2 });

	// Capacity is T1 + T2.
	struct statvfs st;
	REQUIRE(statvfs(m.mnt().c_str(), &st) == 0);
	CHECK(uint64_t(st.f_blocks) * st.f_frsize > (1ULL << 30));

	// 512 MiB written and read back.
	auto r = fio(m, "big", with(k_seq, { "--size=512M", "--do_verify=1" }));
	CHECK_FIO(r);
	REQUIRE(statvfs(m.mnt().c_str(), &st) == 0);
	CHECK(uint64_t(st.f_blocks - st.f_bfree) * st.f_frsize >=
	      (512ULL << 20));

	// Unmount, mount, read it all again.
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m, { t2_again });
	r = fio(m, "big", with(k_seq, { "--size=512M", "--verify_only=1" }));
	CHECK_FIO(r);

	// Random reads of big (promotions) race random writes of another
	// file (which need T1 room: evictions), then big still verifies.
	{
		std::thread reader([&] {
			auto rr = fio(m, "big",
				      { "--rw=randread", "--bs=4k",
					"--size=512M", "--io_size=48M" });
			CHECK_FIO(rr);
		});
		r = fio(m, "mix",
			{ "--rw=randwrite", "--bs=4k", "--size=96M",
			  "--verify=crc32c", "--do_verify=1" });
		reader.join();
		CHECK_FIO(r);
	}
	r = fio(m, "big", with(k_seq, { "--size=512M", "--verify_only=1" }));
	CHECK_FIO(r);

	// Fsynced, then SIGKILL while blocks migrate: a writer keeps T1 short
	// of room, so the evictor and synchronous evictions are at work.
	r = fio(m, "kept", with(k_seq, { "--size=64M", "--end_fsync=1" }));
	CHECK_FIO(r);
	for (int round = 0; round < 3; ++round) {
		std::thread churn([&] {
			fio(m, "churn",
			    { "--rw=randwrite", "--bs=64k", "--size=192M",
			      "--time_based", "--runtime=20" });
		});
		std::this_thread::sleep_for(
			std::chrono::milliseconds(1000 + 300 * round));
		REQUIRE(m.kill9());
		churn.join(); // fio fails once the mount is gone
		REQUIRE_MOUNT(m, { t2_again });
		r = fio(m, "kept",
			with(k_seq, { "--size=64M", "--verify_only=1" }));
		CHECK_FIO(r);
	}
	r = fio(m, "big", with(k_seq, { "--size=512M", "--verify_only=1" }));
	CHECK_FIO(r);
	r = fio(m, "mix",
		{ "--rw=randwrite", "--bs=4k", "--size=96M", "--verify=crc32c",
		  "--verify_only=1" });
	CHECK_FIO(r);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);

	// Without its T2 the image does not mount (it has blocks there).
	zit::RunResult no_t2 =
		zit::run_cmd(m.args({}, true), m.scratch().dir(), 20);
	INFO(no_t2.err);
	CHECK(no_t2.status != 0);
	CHECK(no_t2.err.find("tier 2") != std::string::npos);
}

TEST_CASE("tier: random 4K O_DIRECT reads of T2 data are cold reads", "[tier]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m, { "--t2=" + m.scratch().path("t2") + ",1G" });
	// 96 MiB written at random in 4K blocks with crc32c headers, then a
	// filler: most of "cold" ends up on T2.
	const std::vector<std::string> job = { "--rw=randwrite", "--bs=4k",
					       "--size=96M",
					       "--verify=crc32c" };
	auto r =
		fio(m, "cold", with(job, { "--do_verify=0", "--end_fsync=1" }));
	CHECK_FIO(r);
	r = fio(m, "filler", with(k_seq, { "--size=48M", "--do_verify=0" }));
	CHECK_FIO(r);
	// The same random order again, reading (O_DIRECT) and verifying.
	r = fio(m, "cold", with(job, { "--verify_only=1", "--direct=1" }));
	CHECK_FIO(r);
	REQUIRE_UNMOUNT(m);
	const std::string log = m.log();
	INFO(log);
	CHECK(tier_stat(log, "cold reads") > 1000);
	CHECK_FSCK_CLEAN(m);
}
