// SPDX-License-Identifier: BSD-3-Clause
//
// fio_test.cc - fio with --verify=crc32c on a zufuse mount: sequential and
// random, 4K / 1M / odd sizes, buffered and O_DIRECT, O_DSYNC. Every job
// writes, then reads back and checks every block (fio exits non-zero on a
// verify error).
#include <cstdlib>

#include "integration.h"

namespace {

std::string fio_path()
{
	const char *p = getenv("FIO");
	return p && *p ? p : "fio";
}

struct Job {
	const char *name;
	std::vector<std::string> args;
};

// All jobs write then verify. Sizes are small so the whole test takes
// well under a minute.
const std::vector<Job> k_jobs = {
	{ "seq-1M-buffered", { "--rw=write", "--bs=1M", "--size=64M" } },
	{ "seq-1M-direct",
	  { "--rw=write", "--bs=1M", "--size=64M", "--direct=1" } },
	{ "rand-4k-buffered", { "--rw=randwrite", "--bs=4k", "--size=16M" } },
	{ "rand-4k-direct",
	  { "--rw=randwrite", "--bs=4k", "--size=16M", "--direct=1" } },
	{ "rand-4k-direct-dsync",
	  { "--rw=randwrite", "--bs=4k", "--size=8M", "--direct=1",
	    "--sync=dsync" } },
	{ "rand-4k-buffered-dsync",
	  { "--rw=randwrite", "--bs=4k", "--size=8M", "--sync=dsync" } },
	{ "seq-odd-buffered", { "--rw=write", "--bs=12345", "--size=24M" } },
	{ "rand-odd-buffered",
	  { "--rw=randwrite", "--bsrange=512-200k", "--size=24M" } },
	// O_DIRECT with sizes that are not page multiples (FUSE allows it).
	{ "rand-odd-direct",
	  { "--rw=randwrite", "--bs=1536", "--size=6M", "--direct=1" } },
	{ "seq-1M-direct-2jobs",
	  { "--rw=write", "--bs=1M", "--size=32M", "--direct=1",
	    "--numjobs=2" } },
	{ "rand-4k-buffered-2jobs",
	  { "--rw=randwrite", "--bs=4k", "--size=8M", "--numjobs=2" } },
	// Overwrite of a preallocated file (no block allocation on the path).
	{ "rand-64k-overwrite",
	  { "--rw=randwrite", "--bs=64k", "--size=16M", "--overwrite=1" } },
	{ "rand-128k-direct-libaio",
	  { "--rw=randwrite", "--bs=128k", "--size=32M", "--direct=1",
	    "--ioengine=libaio", "--iodepth=8" } },
};

} // namespace

TEST_CASE("fio --verify=crc32c", "[fio]")
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m);

	for (const auto &job : k_jobs) {
		std::vector<std::string> argv = {
			fio_path(),
			"--name=" + std::string(job.name),
			"--directory=" + m.mnt(),
			"--filename_format=$jobname.$jobnum",
			"--verify=crc32c",
			"--do_verify=1",
			"--verify_fatal=1",
			"--verify_dump=0",
			"--verify_state_save=0",
			"--ioengine=psync",
			"--group_reporting",
			"--output-format=terse",
		};
		argv.insert(argv.end(), job.args.begin(), job.args.end());
		auto r = zit::run_cmd(argv, m.scratch().dir(), 300);
		INFO("fio job " << job.name << " exit " << r.status
				<< "\nstderr:\n"
				<< r.err << "\nstdout:\n"
				<< r.out.substr(0, 2000));
		CHECK(r.status == 0);
		if (r.status == 0) {
			// Leave space for the next job.
			auto rm = zit::run_cmd(
				{ "sh", "-c", "rm -f '" + m.mnt() + "/'*" },
				m.scratch().dir());
			CHECK(rm.status == 0);
		}
	}
	INFO("zufuse log:\n" << m.log());
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("fio data written with O_DSYNC verifies after kill -9", "[fio]")
{
	zit::Mount m("256M");
	REQUIRE_MOUNT(m);
	std::vector<std::string> common = {
		fio_path(),
		"--name=dsync",
		"--filename=" + m.path("dsync.dat"),
		"--bs=4k",
		"--size=16M",
		"--verify=crc32c",
		"--verify_fatal=1",
		"--verify_state_save=0",
		"--ioengine=psync",
		"--output-format=terse",
	};
	auto w = common;
	w.insert(w.end(), { "--rw=randwrite", "--sync=dsync", "--direct=1",
			    "--do_verify=0" });
	auto r = zit::run_cmd(w, m.scratch().dir(), 300);
	INFO("write: " << r.err);
	REQUIRE(r.status == 0);

	REQUIRE(m.kill9());
	REQUIRE_MOUNT(m);

	// fio's verify-only mode: read and check what the write phase wrote.
	auto v = common;
	v.insert(v.end(),
		 { "--rw=randwrite", "--verify_only=1", "--direct=1" });
	r = zit::run_cmd(v, m.scratch().dir(), 300);
	INFO("verify: " << r.err << r.out.substr(0, 2000));
	CHECK(r.status == 0);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("fio --verify=crc32c on a --direct-io mount", "[fio]")
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m, { "--direct-io" });
	const std::vector<std::vector<std::string>> jobs = {
		{ "--name=dio-seq-1M", "--rw=write", "--bs=1M", "--size=32M" },
		{ "--name=dio-rand-4k", "--rw=randwrite", "--bs=4k",
		  "--size=8M" },
		{ "--name=dio-rand-odd", "--rw=randwrite", "--bsrange=512-100k",
		  "--size=16M" },
		{ "--name=dio-rand-4k-odirect", "--rw=randwrite", "--bs=4k",
		  "--size=8M", "--direct=1", "--sync=dsync" },
	};
	for (const auto &job : jobs) {
		std::vector<std::string> argv = {
			fio_path(),	    "--directory=" + m.mnt(),
			"--verify=crc32c",  "--do_verify=1",
			"--verify_fatal=1", "--verify_state_save=0",
			"--ioengine=psync", "--output-format=terse",
		};
		argv.insert(argv.end(), job.begin(), job.end());
		auto r = zit::run_cmd(argv, m.scratch().dir(), 300);
		INFO("fio " << job[0] << " exit " << r.status << "\nstderr:\n"
			    << r.err);
		CHECK(r.status == 0);
	}
	REQUIRE_UNMOUNT(m);
}
