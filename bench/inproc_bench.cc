// SPDX-License-Identifier: BSD-3-Clause
//
// inproc_bench - the server's own cost, without FUSE: the shim's in-process
// VFS side (zuf::Vfs) drives the pmfs server (zus::make_server) through the
// same zufs::Channel that zufuse uses, on an image in /dev/shm.
//
//   build/bench/inproc_bench [--image=/dev/shm/zufuse-inproc.pmem] [--ms=1000]
//
// Prints mean latency per operation for 4 KiB and 1 MiB reads (copy-based
// ZUFS_OP_READ and zero-copy GET_MULTY/PUT_MULTY) and writes (ZUFS_OP_WRITE),
// random offsets in a 256 MiB file. Numbers are for comparison within one
// run; nothing here is asserted by tests.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernel_shim/vfs.h"
#include "server/server.h"

namespace {

using clk = std::chrono::steady_clock;

constexpr uint64_t kFileSize = 256ULL << 20;

struct Result {
	const char *name;
	size_t bs;
	uint64_t ops;
	double ns_per_op;
};

template <typename Fn>
Result run(const char *name, size_t bs, int ms, Fn &&fn)
{
	std::mt19937_64 rng(42);
	uint64_t blocks = kFileSize / bs;
	uint64_t ops = 0;
	auto end = clk::now() + std::chrono::milliseconds(ms);
	auto t0 = clk::now();
	while (true) {
		for (int i = 0; i < 64; ++i) {
			if (fn((rng() % blocks) * bs) < 0) {
				fprintf(stderr, "%s failed\n", name);
				exit(1);
			}
		}
		ops += 64;
		if (clk::now() >= end)
			break;
	}
	double ns = std::chrono::duration<double, std::nano>(clk::now() - t0)
			    .count();
	return {name, bs, ops, ns / ops};
}

} // namespace

int main(int argc, char **argv)
{
	std::string image = "/dev/shm/zufuse-inproc.pmem";
	int ms = 1000;
	for (int i = 1; i < argc; ++i) {
		if (!strncmp(argv[i], "--image=", 8))
			image = argv[i] + 8;
		else if (!strncmp(argv[i], "--ms=", 5))
			ms = atoi(argv[i] + 5);
		else {
			fprintf(stderr, "usage: %s [--image=PATH] [--ms=N]\n",
				argv[0]);
			return 2;
		}
	}
	unlink(image.c_str());

	auto server = zus::make_server();
	zuf::VfsOptions opts;
	opts.server_options = "pmem=" + image + ",size=" +
			      std::to_string(kFileSize + (128ULL << 20)) +
			      ",mkfs";
	zuf::Vfs vfs(*server, opts);
	std::string err;
	if (vfs.mount(&err)) {
		fprintf(stderr, "inproc_bench: mount: %s\n", err.c_str());
		return 1;
	}

	zuf::Entry e;
	if (vfs.mknod(1, "f", S_IFREG | 0644, 0, 0, 0, &e)) {
		fprintf(stderr, "inproc_bench: create failed\n");
		return 1;
	}
	std::vector<Result> results;
	{
		std::unique_ptr<zuf::File> f;
		if (vfs.open(e.ino, O_RDWR, &f)) {
			fprintf(stderr, "inproc_bench: open failed\n");
			return 1;
		}
		std::vector<char> buf(1 << 20, 'z');
		// Fill the file so reads hit blocks, not holes.
		for (uint64_t pos = 0; pos < kFileSize; pos += buf.size()) {
			iovec v{buf.data(), buf.size()};
			if (vfs.write(*f, {&v, 1}, pos) != (ssize_t)buf.size()) {
				fprintf(stderr, "inproc_bench: fill failed\n");
				return 1;
			}
		}
		for (size_t bs : {size_t(4096), size_t(1) << 20}) {
			results.push_back(run("write", bs, ms, [&](uint64_t pos) {
				iovec v{buf.data(), bs};
				return vfs.write(*f, {&v, 1}, pos);
			}));
			results.push_back(run("read (copy)", bs, ms, [&](uint64_t pos) {
				iovec v{buf.data(), bs};
				return vfs.read(*f, {&v, 1}, pos);
			}));
			results.push_back(run("read (GET/PUT_MULTY)", bs, ms,
					      [&](uint64_t pos) {
						      zuf::MappedRead m;
						      ssize_t r = vfs.read_mapped(
							      *f, bs, pos, m);
						      m.release();
						      return r;
					      }));
		}
	}
	vfs.forget(e.ino, 1);
	vfs.umount();
	unlink(image.c_str());

	printf("%-22s %8s %12s %12s %10s\n", "op", "bs", "ops", "mean_us",
	       "MB/s");
	for (auto &r : results)
		printf("%-22s %8zu %12llu %12.3f %10.0f\n", r.name, r.bs,
		       (unsigned long long)r.ops, r.ns_per_op / 1000.0,
		       r.bs / r.ns_per_op * 1e3);
	return 0;
}
