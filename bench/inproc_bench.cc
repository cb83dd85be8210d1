// SPDX-License-Identifier: BSD-3-Clause
//
// inproc_bench - the server's own cost, without FUSE: the shim's in-process
// VFS side (zuf::Vfs) drives the pmfs server (zus::make_server) through the
// same zufs::Channel that zufuse uses, on an image in /dev/shm.
//
//   build/bench/inproc_bench [--image=/dev/shm/zufuse-inproc.pmem] [--ms=1000]
//       [--file-mb=256] [--t2=0] [--buf-offset=0 (the I/O buffer's offset
//       in its page)] [--fs=LIB (a zus plugin; IMAGE formatted by its mkfs)]
//
// Prints mean latency per operation for 4 KiB and 1 MiB reads (copy-based
// ZUFS_OP_READ and zero-copy GET_MULTY/PUT_MULTY) and writes (ZUFS_OP_WRITE),
// random offsets in a 256 MiB file (--file-mb; mean_us: wall clock; cpu_us: the
// thread's CPU time, less moved by a busy machine); first, what the shim's request counters
// (zufusectl stats) add per FUSE request, alone and around a 4 KiB write. Numbers are for comparison within one
// run; nothing here is asserted by tests. Then "memcpy to/from memory":
// the same copies with no file system (memcpy_baseline), so that the
// machine's own speed is measured beside the file system's.
//
// Then tier 2 (--t2=0 skips it): a 64 MiB image with a 1 GiB T2 file next
// to the image; a 32 MiB file is written, then 56 MiB of filler, so the
// evictor moves (most of) the first file to T2; the filler is removed.
// One pass of 4 KiB reads
// over its blocks in random order, each block once, then the same pass
// again (now on T1): "first touch" is a GET_MULTY answered -EZUFS_RETRY
// (IOM_T2_ZUSMEM_READ executed, re-dispatched, leaf switched), or a
// copy READ answered with an inline IOM_T2_READ_LEN (a cold read, no
// promotion: random reads of blocks not read lately).
#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernel_shim/stats.h"
#include "kernel_shim/vfs.h"
#include "server/plugin/host.h"
#include "server/server.h"

namespace {

using clk = std::chrono::steady_clock;

// The benchmark file (--file-mb): random offsets inside it.
uint64_t g_file_size = 256ULL << 20;

struct Result {
	const char *name;
	size_t bs;
	uint64_t ops;
	double ns_per_op;
	double cpu_ns_per_op; // this thread's CPU time: less moved by a busy machine
};

double thread_cpu_ns()
{
	timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

template <typename Fn> Result run(const char *name, size_t bs, int ms, Fn &&fn)
{
	std::mt19937_64 rng(42);
	uint64_t blocks = std::max<uint64_t>(1, g_file_size / bs);
	uint64_t ops = 0;
	auto end = clk::now() + std::chrono::milliseconds(ms);
	auto t0 = clk::now();
	double cpu0 = thread_cpu_ns();
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
	return { name, bs, ops, ns / ops, (thread_cpu_ns() - cpu0) / ops };
}

// A FUSE WRITE request and its reply as the transport sees them, for the
// counters' hooks.
struct WireRequest {
	struct {
		fuse_in_header in;
		fuse_write_in w;
	} req = {};
	fuse_out_header out = {};
	fuse_write_out wo = {};
	uint64_t unique = 0;

	void begin(uint64_t pos, uint32_t len)
	{
		req.in.len = sizeof(req);
		req.in.opcode = FUSE_WRITE;
		req.in.unique = ++unique;
		req.in.nodeid = 2;
		req.w.offset = pos;
		req.w.size = len;
		zuf::stats::begin(&req, sizeof(req));
	}
	void end(uint32_t written)
	{
		out.unique = unique;
		out.len = sizeof(out) + sizeof(wo);
		wo.size = written;
		iovec iov[2] = { { &out, sizeof(out) }, { &wo, sizeof(wo) } };
		zuf::stats::end(iov, 2);
	}
};

// The machine's own copy speed, for reading the rows above as a ratio: the
// same random offsets, sizes and buffer as the file system's rows, copied
// to and from plain memory (an anonymous mapping the size of the file,
// every page touched first) with no file system in between. A machine that
// got slower (another kernel, another host) moves these rows too.
int memcpy_baseline(std::span<char> buf, int ms, std::vector<Result> *results)
{
	void *m = mmap(nullptr, g_file_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("inproc_bench: memcpy baseline: mmap");
		return 1;
	}
	char *mem = static_cast<char *>(m);
	memset(mem, 'm', g_file_size);
	for (size_t bs : { size_t(4096), size_t(1) << 20 }) {
		results->push_back(run("memcpy to memory", bs, ms,
				       [&](uint64_t pos) {
			memcpy(mem + pos, buf.data(), bs);
			return 0;
		}));
		results->push_back(run("memcpy from memory", bs, ms,
				       [&](uint64_t pos) {
			memcpy(buf.data(), mem + pos, bs);
			return 0;
		}));
	}
	munmap(m, g_file_size);
	return 0;
}

// The tier-2 passes (see the top of the file).
int t2_bench(const std::string &image, std::vector<Result> *results)
{
	const std::string t2 = image + ".t2";
	unlink(image.c_str());
	unlink(t2.c_str());
	zuf::ZufCallsProxy calls;
	auto server = zus::make_server(&calls);
	zuf::VfsOptions opts;
	opts.server_options = "pmem=" + image +
			      ",size=" + std::to_string(64ULL << 20) + ",mkfs";
	opts.t2_path = t2;
	opts.t2_size = 1ULL << 30;
	zuf::Vfs vfs(*server, opts);
	calls.attach(&vfs);
	std::string err;
	if (vfs.mount(&err)) {
		fprintf(stderr, "inproc_bench: t2 mount: %s\n", err.c_str());
		return 1;
	}
	constexpr uint64_t kCold = 32ULL << 20, kFiller = 56ULL << 20;
	// Page aligned: a cold read (IOM_T2_READ_LEN) fills whole pages of
	// the request, so only a READ whose pages line up with file blocks
	// gets one (others promote).
	struct FreeMem {
		void operator()(char *p) const { free(p); }
	};
	std::unique_ptr<char, FreeMem> mem(
		static_cast<char *>(aligned_alloc(4096, 1 << 20)));
	std::span<char> buf(mem.get(), 1 << 20);
	std::fill(buf.begin(), buf.end(), 't');
	uint64_t ino[2] = {};
	const char *names[2] = { "cold", "filler" };
	for (int k = 0; k < 2; ++k) {
		zuf::Entry e;
		std::unique_ptr<zuf::File> f;
		if (vfs.mknod(1, names[k], S_IFREG | 0644, 0, 0, 0, &e) ||
		    vfs.open(e.ino, O_RDWR, &f))
			return 1;
		ino[k] = e.ino;
		for (uint64_t pos = 0; pos < (k ? kFiller : kCold);
		     pos += buf.size()) {
			iovec v{ buf.data(), buf.size() };
			if (vfs.write(*f, { &v, 1 }, pos) !=
			    (ssize_t)buf.size()) {
				fprintf(stderr,
					"inproc_bench: t2 fill failed\n");
				return 1;
			}
		}
	}
	usleep(500 * 1000); // the evictor settles at its high watermark
	// The filler goes: the passes below measure T2 reads and promotions,
	// not evictions making room for them.
	vfs.forget(ino[1], 1);
	if (vfs.unlink(1, "filler"))
		return 1;
	ino[1] = 0;
	std::vector<uint64_t> order(kCold / 4096);
	for (uint64_t i = 0; i < order.size(); ++i)
		order[i] = i * 4096;
	std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
	auto pass = [&](const char *name, bool mapped) {
		std::unique_ptr<zuf::File> f;
		if (vfs.open(ino[0], O_RDONLY, &f))
			exit(1);
		auto t0 = clk::now();
		double cpu0 = thread_cpu_ns();
		for (uint64_t pos : order) {
			ssize_t r;
			if (mapped) {
				zuf::MappedRead m;
				r = vfs.read_mapped(*f, 4096, pos, m);
				m.release();
			} else {
				iovec v{ buf.data(), 4096 };
				r = vfs.read(*f, { &v, 1 }, pos);
			}
			if (r != 4096) {
				fprintf(stderr, "%s failed at %llu: %zd\n",
					name, (unsigned long long)pos, r);
				exit(1);
			}
		}
		double ns = std::chrono::duration<double, std::nano>(
				    clk::now() - t0)
				    .count();
		results->push_back({ name, 4096, order.size(),
				     ns / order.size(),
				     (thread_cpu_ns() - cpu0) / order.size() });
	};
	// Copy READs first: cold reads leave the blocks on T2 for GET_MULTY.
	pass("t2 read (copy, cold)", false);
	pass("t2 read (GET, promote)", true);
	pass("t2 read (GET, now T1)", true);
	vfs.forget(ino[0], 1);
	vfs.umount();
	unlink(image.c_str());
	unlink(t2.c_str());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::string image = "/dev/shm/zufuse-inproc.pmem";
	int ms = 1000;
	bool t2 = true;
	size_t buf_offset = 0; // of the I/O buffer in its page
	std::string fs;	       // --fs=LIB: a zus plugin on a formatted --image
	for (int i = 1; i < argc; ++i) {
		if (!strncmp(argv[i], "--image=", 8))
			image = argv[i] + 8;
		else if (!strncmp(argv[i], "--fs=", 5))
			fs = argv[i] + 5;
		else if (!strncmp(argv[i], "--ms=", 5))
			ms = atoi(argv[i] + 5);
		else if (!strcmp(argv[i], "--t2=0"))
			t2 = false;
		else if (!strncmp(argv[i], "--file-mb=", 10) &&
			 atoi(argv[i] + 10) > 0)
			g_file_size = uint64_t(atoi(argv[i] + 10)) << 20;
		else if (!strncmp(argv[i], "--buf-offset=", 13))
			buf_offset = size_t(atoi(argv[i] + 13)) % 4096;
		else {
			fprintf(stderr,
				"usage: %s [--image=PATH] [--ms=N] [--t2=0]"
				" [--file-mb=N (default 256)] [--buf-offset=N]"
				" [--fs=LIB (IMAGE formatted by its mkfs)]\n",
				argv[0]);
			return 2;
		}
	}
	std::unique_ptr<zufs::Channel> server;
	zuf::VfsOptions opts;
	if (!fs.empty()) {
		zus::plugin::Plugin plugin;
		std::string lerr;
		if (zus::plugin::load_plugin(fs, &plugin, &lerr)) {
			fprintf(stderr, "inproc_bench: %s\n", lerr.c_str());
			return 1;
		}
		server = zus::plugin::make_server(plugin, nullptr);
		opts.server_options = "pmem=" + image;
		t2 = false;
	} else {
		unlink(image.c_str());
		server = zus::make_server();
		opts.server_options =
			"pmem=" + image + ",size=" +
			std::to_string(g_file_size + (128ULL << 20)) + ",mkfs";
	}
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
		// Page aligned, as the buffers FUSE's requests are copied to
		// and from are, unless --buf-offset says otherwise. (glibc's
		// memcpy on some AMD hosts copies 4 KiB ~4x slower to a
		// destination 16 bytes past its source's page offset: a
		// malloc'd buffer's, glibc bug 30994.)
		struct FreeMem {
			void operator()(char *p) const { free(p); }
		};
		std::unique_ptr<char, FreeMem> mem(static_cast<char *>(
			aligned_alloc(4096, (1 << 20) + 4096)));
		std::span<char> buf(mem.get() + buf_offset, 1 << 20);
		std::fill(buf.begin(), buf.end(), 'z');
		// Fill the file so reads hit blocks, not holes.
		for (uint64_t pos = 0; pos < g_file_size; pos += buf.size()) {
			iovec v{ buf.data(), buf.size() };
			if (vfs.write(*f, { &v, 1 }, pos) !=
			    (ssize_t)buf.size()) {
				fprintf(stderr, "inproc_bench: fill failed\n");
				return 1;
			}
		}
		// What the shim's request counters (kernel_shim/stats.h) add
		// to each FUSE request: begin() on the request, end() on its
		// reply, as fuse_wire.cc calls them; alone and around a write.
		WireRequest wr;
		results.push_back(run("counters (stats.h)", 4096, ms,
				      [&](uint64_t pos) {
			wr.begin(pos, 4096);
			wr.end(4096);
			return 0;
		}));
		results.push_back(run("write + counters", 4096, ms,
				      [&](uint64_t pos) {
			wr.begin(pos, 4096);
			iovec v{ buf.data(), 4096 };
			ssize_t n = vfs.write(*f, { &v, 1 }, pos);
			wr.end(uint32_t(n));
			return n;
		}));
		for (size_t bs : { size_t(4096), size_t(1) << 20 }) {
			results.push_back(run("write", bs, ms,
					      [&](uint64_t pos) {
				iovec v{ buf.data(), bs };
				return vfs.write(*f, { &v, 1 }, pos);
			}));
			results.push_back(run("read (copy)", bs, ms,
					      [&](uint64_t pos) {
				iovec v{ buf.data(), bs };
				return vfs.read(*f, { &v, 1 }, pos);
			}));
			results.push_back(run("read (GET/PUT_MULTY)", bs, ms,
					      [&](uint64_t pos) {
				zuf::MappedRead m;
				ssize_t r = vfs.read_mapped(*f, bs, pos, m);
				m.release();
				return r;
			}));
		}
		if (memcpy_baseline(buf, ms, &results))
			return 1;
	}
	vfs.forget(e.ino, 1);
	vfs.unlink(1, "f");
	vfs.umount();
	if (fs.empty())
		unlink(image.c_str());
	if (t2 && t2_bench(image, &results))
		return 1;

	printf("%-22s %8s %12s %12s %10s %10s\n", "op", "bs", "ops", "mean_us",
	       "cpu_us", "MB/s");
	for (auto &r : results)
		printf("%-22s %8zu %12llu %12.3f %10.3f %10.0f\n", r.name, r.bs,
		       (unsigned long long)r.ops, r.ns_per_op / 1000.0,
		       r.cpu_ns_per_op / 1000.0, r.bs / r.ns_per_op * 1e3);
	return 0;
}
