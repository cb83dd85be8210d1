// SPDX-License-Identifier: BSD-3-Clause
//
// randops_test.cc - seeded random operations on a few files (write, read,
// truncate, mmap read/write, O_DIRECT read/write, fsync, reopen), each
// checked against an in-memory model; at the end, unmount, mount again and
// compare. Reproducible: ZUFUSE_SEED=N and ZUFUSE_OPS=N pick the run; a
// failure prints the seed and the op number.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <random>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "integration.h"

namespace {

constexpr size_t k_files = 3;
constexpr size_t k_max_size = 6 << 20;

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, nullptr, 0) : dflt;
}

struct FreeDeleter {
	void operator()(void *p) const { free(p); }
};

class RandOps {
  public:
	RandOps(const zit::Mount &m, uint64_t seed, bool direct_io_mount)
	    : m_(m), rng_(seed), direct_io_mount_(direct_io_mount)
	{
		void *p = nullptr;
		REQUIRE(posix_memalign(&p, 4096, k_buf) == 0);
		buf_.reset(static_cast<char *>(p));
		for (size_t i = 0; i < k_files; i++)
			files_[i].path = m.path("rand" + std::to_string(i));
	}
	~RandOps() { close_all(); }

	void open_all()
	{
		for (auto &f : files_) {
			f.fd = ::open(f.path.c_str(), O_CREAT | O_RDWR, 0644);
			REQUIRE(f.fd >= 0);
			f.dfd = ::open(f.path.c_str(), O_RDWR | O_DIRECT);
			REQUIRE(f.dfd >= 0);
		}
	}
	void close_all()
	{
		for (auto &f : files_) {
			if (f.fd >= 0)
				::close(f.fd);
			if (f.dfd >= 0)
				::close(f.dfd);
			f.fd = f.dfd = -1;
		}
	}

	void step(uint64_t n)
	{
		File &f = files_[pick(k_files)];
		uint64_t op = pick(100);
		INFO("op #" << n << " on " << f.path << " (size "
			    << f.model.size() << ")");
		if (op < 25)
			do_write(f, f.fd, "pwrite");
		else if (op < 40)
			do_read(f, f.fd, "pread");
		else if (op < 47)
			do_truncate(f);
		else if (op < 57)
			do_mmap_read(f);
		else if (op < 65)
			do_mmap_write(f);
		else if (op < 75)
			do_write(f, f.dfd, "O_DIRECT pwrite");
		else if (op < 85)
			do_read(f, f.dfd, "O_DIRECT pread");
		else if (op < 90)
			REQUIRE(fsync(f.fd) == 0);
		else if (op < 93)
			REQUIRE(fdatasync(f.dfd) == 0);
		else if (op < 96)
			check_size(f);
		else
			reopen(f);
	}

	// Every file, read whole, equals its model.
	void check_all()
	{
		for (auto &f : files_) {
			INFO(f.path);
			bool ok = false;
			std::string d = zit::read_file(f.path, &ok);
			REQUIRE(ok);
			REQUIRE(d.size() == f.model.size());
			CHECK(first_diff(d, f.model, 0) == std::string::npos);
		}
	}

  private:
	static constexpr size_t k_buf = 1 << 20;

	struct File {
		std::string path;
		int fd = -1;  // buffered
		int dfd = -1; // O_DIRECT
		std::string model;
	};

	uint64_t pick(uint64_t n) { return rng_() % n; }

	// Lengths: tiny, around a page, page multiples, and large.
	size_t pick_len()
	{
		switch (pick(5)) {
		case 0:
			return 1 + pick(64);
		case 1:
			return 4096 - 16 + pick(33);
		case 2:
			return 4096 * (1 + pick(16));
		case 3:
			return 1 + pick(k_buf);
		default:
			return 1 + pick(20000);
		}
	}
	size_t pick_off(const File &f)
	{
		// Mostly inside or near the current end; sometimes far.
		size_t lim = std::min(k_max_size, f.model.size() + 65536);
		size_t off = pick(lim + 1);
		if (pick(4) == 0)
			off &= ~size_t(4095);
		return off;
	}

	static size_t first_diff(const std::string &a, const std::string &b,
				 size_t base)
	{
		size_t n = std::min(a.size(), b.size());
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return base + i;
		return a.size() == b.size() ? std::string::npos : base + n;
	}

	void do_write(File &f, int fd, const char *what)
	{
		size_t off = pick_off(f);
		size_t len = std::min(pick_len(),
				      k_max_size - std::min(off, k_max_size));
		if (len == 0)
			return;
		std::string data = zit::pattern(rng_(), len);
		// O_DIRECT from an aligned or a deliberately unaligned buffer.
		size_t shift = fd == f.dfd ? pick(2) * (1 + pick(511)) : 0;
		len = std::min(len, k_buf - shift);
		memcpy(buf_.get() + shift, data.data(), len);
		ssize_t r = pwrite(fd, buf_.get() + shift, len, off_t(off));
		INFO(what << " off " << off << " len " << len << ": "
			  << (r < 0 ? strerror(errno) : "ok"));
		REQUIRE(r == ssize_t(len));
		if (f.model.size() < off + len)
			f.model.resize(off + len, '\0');
		f.model.replace(off, len, data.data(), len);
	}

	void do_read(File &f, int fd, const char *what)
	{
		size_t off = pick_off(f);
		size_t len = std::min(pick_len(), k_buf - 512);
		size_t shift = fd == f.dfd ? pick(2) * (1 + pick(511)) : 0;
		ssize_t r = pread(fd, buf_.get() + shift, len, off_t(off));
		size_t want = off >= f.model.size() ?
				      0 :
				      std::min(len, f.model.size() - off);
		INFO(what << " off " << off << " len " << len << ": "
			  << (r < 0 ? strerror(errno) : "ok"));
		REQUIRE(r == ssize_t(want));
		std::string got(buf_.get() + shift, want);
		std::string model =
			want ? f.model.substr(off, want) : std::string();
		size_t d = first_diff(got, model, off);
		INFO("first differing byte at file offset " << d);
		REQUIRE(d == std::string::npos);
	}

	void do_truncate(File &f)
	{
		size_t size = pick(3) == 0 ? 0 : pick(k_max_size / 2);
		if (pick(3) == 0)
			size &= ~size_t(4095);
		INFO("ftruncate " << size);
		REQUIRE(ftruncate(f.fd, off_t(size)) == 0);
		f.model.resize(size, '\0');
	}

	void do_mmap_read(File &f)
	{
		size_t size = f.model.size();
		if (size == 0)
			return;
		int flags = direct_io_mount_ ? MAP_PRIVATE : MAP_SHARED;
		void *p = mmap(nullptr, size, PROT_READ, flags, f.fd, 0);
		INFO("mmap read: " << (p == MAP_FAILED ? strerror(errno) :
							 "ok"));
		REQUIRE(p != MAP_FAILED);
		size_t off = pick(size), len = std::min(size - off, pick_len());
		std::string got(static_cast<char *>(p) + off, len);
		munmap(p, size);
		size_t d = first_diff(got, f.model.substr(off, len), off);
		INFO("mmap read off " << off << " len " << len
				      << ": first differing byte at " << d);
		REQUIRE(d == std::string::npos);
	}

	void do_mmap_write(File &f)
	{
		size_t size = f.model.size();
		if (size == 0 || direct_io_mount_)
			return;
		void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, f.fd, 0);
		INFO("mmap write: " << (p == MAP_FAILED ? strerror(errno) :
							  "ok"));
		REQUIRE(p != MAP_FAILED);
		size_t off = pick(size), len = std::min(size - off, pick_len());
		std::string data = zit::pattern(rng_(), len);
		memcpy(static_cast<char *>(p) + off, data.data(), len);
		if (pick(2))
			REQUIRE(msync(p, size, MS_SYNC) == 0);
		munmap(p, size);
		f.model.replace(off, len, data);
	}

	void check_size(File &f)
	{
		struct stat st;
		REQUIRE(fstat(f.fd, &st) == 0);
		REQUIRE(size_t(st.st_size) == f.model.size());
		REQUIRE(fstat(f.dfd, &st) == 0);
		REQUIRE(size_t(st.st_size) == f.model.size());
	}

	void reopen(File &f)
	{
		::close(f.fd);
		::close(f.dfd);
		f.fd = ::open(f.path.c_str(), O_RDWR);
		f.dfd = ::open(f.path.c_str(), O_RDWR | O_DIRECT);
		REQUIRE(f.fd >= 0);
		REQUIRE(f.dfd >= 0);
	}

	const zit::Mount &m_;
	std::mt19937_64 rng_;
	bool direct_io_mount_;
	std::unique_ptr<char, FreeDeleter> buf_;
	File files_[k_files];
};

// Built with -DRANDOPS_PLUGIN (meson: integration_plugin_randops): the
// file system is examplefs, a zus plugin, formatted by its mkfs and
// mounted with --fs (no fsck.zufs for it).
#ifdef RANDOPS_PLUGIN
std::vector<std::string> plugin_args(const zit::Mount &m,
				     std::vector<std::string> args)
{
	const char *mkfs = getenv("EXAMPLEFS_MKFS"),
		   *lib = getenv("EXAMPLEFS_LIB");
	REQUIRE((mkfs && lib));
	zit::RunResult f =
		zit::run_cmd({ mkfs, m.image(), "256" }, m.scratch().dir());
	INFO(f.out << f.err);
	REQUIRE(f.status == 0);
	args.push_back(std::string("--fs=") + lib);
	return args;
}
#undef CHECK_FSCK_CLEAN
#define CHECK_FSCK_CLEAN(m) (void)(m)
#else
std::vector<std::string> plugin_args(const zit::Mount &,
				     std::vector<std::string> args)
{
	return args;
}
#endif

void run_seed(const std::vector<std::string> &args, bool direct_io_mount,
	      uint64_t seed, uint64_t ops)
{
	INFO("reproduce with ZUFUSE_SEED=" << seed << " ZUFUSE_OPS=" << ops);
	zit::Mount m("256M");
	const std::vector<std::string> mount_args = plugin_args(m, args);
	REQUIRE_MOUNT(m, mount_args);
	{
		RandOps r(m, seed, direct_io_mount);
		r.open_all();
		for (uint64_t i = 0; i < ops; i++)
			r.step(i);
		r.close_all();
		r.check_all();
		REQUIRE_UNMOUNT(m);
		CHECK_FSCK_CLEAN(m);
		REQUIRE_MOUNT(m, mount_args);
		r.check_all();
	}
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

// ZUFUSE_SEED picks one run; by default three fixed seeds.
void run(const std::vector<std::string> &mount_args, bool direct_io_mount)
{
	const uint64_t ops = env_u64("ZUFUSE_OPS", 5000);
	if (getenv("ZUFUSE_SEED")) {
		run_seed(mount_args, direct_io_mount, env_u64("ZUFUSE_SEED", 0),
			 ops);
		return;
	}
	for (uint64_t seed : { 20260101ull, 2ull, 3ull })
		run_seed(mount_args, direct_io_mount, seed, ops);
}

} // namespace

TEST_CASE("random ops match an in-memory model", "[randops]")
{
	run({}, false);
}

TEST_CASE("random ops match the model on a --direct-io mount", "[randops]")
{
	run({ "--direct-io" }, true);
}

namespace {
// FUSE_DIRECT_IO_ALLOW_MMAP came with Linux 6.6 (FUSE 7.39).
bool kernel_allows_direct_io_mmap()
{
	utsname u;
	unsigned major = 0, minor = 0;
	return uname(&u) == 0 &&
	       std::sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
	       (major > 6 || (major == 6 && minor >= 6));
}
} // namespace

TEST_CASE("--direct-io: a shared mmap stays coherent with direct I/O "
	  "(ENODEV before Linux 6.6), private mmap reads",
	  "[randops]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m, { "--direct-io" });
	std::string f = m.path("f");
	REQUIRE(zit::write_file(f, zit::pattern(1, 10000)));
	int fd = open(f.c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	void *p =
		mmap(nullptr, 10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!kernel_allows_direct_io_mmap()) {
		CHECK(p == MAP_FAILED);
		CHECK(errno == ENODEV);
	} else {
		// Stores through the mapping reach the file (pread goes to
		// the server); a pwrite (direct) drops the mapping's page.
		REQUIRE(p != MAP_FAILED);
		auto *c = static_cast<char *>(p);
		std::memcpy(c + 100, "mapped", 6);
		REQUIRE(msync(p, 10000, MS_SYNC) == 0);
		char got[6];
		REQUIRE(pread(fd, got, 6, 100) == 6);
		CHECK(std::string(got, 6) == "mapped");
		REQUIRE(pwrite(fd, "direct", 6, 200) == 6);
		CHECK(std::string(c + 200, 6) == "direct");
	}
	if (p != MAP_FAILED)
		munmap(p, 10000);
	std::string want = zit::pattern(1, 10000);
	if (kernel_allows_direct_io_mmap()) {
		want.replace(100, 6, "mapped");
		want.replace(200, 6, "direct");
	}
	p = mmap(nullptr, 10000, PROT_READ, MAP_PRIVATE, fd, 0);
	REQUIRE(p != MAP_FAILED);
	CHECK(std::string(static_cast<char *>(p), 10000) == want);
	munmap(p, 10000);
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("page cache coherence: write() is seen by a mapping and mmap "
	  "stores by read()",
	  "[randops]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	std::string f = m.path("f");
	REQUIRE(zit::write_file(f, std::string(3 * 4096, 'a')));
	int fd = open(f.c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	char *p = static_cast<char *>(mmap(
		nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	REQUIRE(p != MAP_FAILED);
	CHECK(p[1000] == 'a');
	REQUIRE(pwrite(fd, "bbbb", 4, 1000) == 4);
	CHECK(std::string(p + 1000, 4) == "bbbb");
	memcpy(p + 9000, "cccc", 4);
	char got[4];
	REQUIRE(pread(fd, got, 4, 9000) == 4);
	CHECK(std::string(got, 4) == "cccc");
	// Shrink: the mapping beyond EOF would SIGBUS; the data below stays.
	REQUIRE(ftruncate(fd, 4096 + 10) == 0);
	CHECK(p[4096 + 9] == 'a');
	CHECK(p[4096 + 10] == '\0'); // the tail of the last page reads zero
	munmap(p, 3 * 4096);
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	std::string d = zit::read_file(f);
	REQUIRE(d.size() == 4096 + 10);
	CHECK(d.substr(1000, 4) == "bbbb");
}
