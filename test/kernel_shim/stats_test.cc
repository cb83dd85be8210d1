// SPDX-License-Identifier: BSD-3-Clause
//
// stats_test - the shim's request counters (kernel_shim/stats.h) fed with
// hand-made FUSE requests and replies, as the transport feeds them: counts,
// bytes, errors, the histogram's error bound, threads, reset, debug lines.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernel_shim/stats.h"

namespace st = zuf::stats;

namespace {

// A request: header, the op's struct, then names.
std::vector<char> request(uint32_t opcode, uint64_t unique, uint64_t ino,
			  const void *arg = nullptr, size_t arg_len = 0,
			  const std::string &names = "")
{
	std::vector<char> r(sizeof(fuse_in_header) + arg_len + names.size());
	fuse_in_header in{};
	in.len = uint32_t(r.size());
	in.opcode = opcode;
	in.unique = unique;
	in.nodeid = ino;
	std::memcpy(r.data(), &in, sizeof(in));
	if (arg_len)
		std::memcpy(r.data() + sizeof(in), arg, arg_len);
	std::memcpy(r.data() + sizeof(in) + arg_len, names.data(),
		    names.size());
	return r;
}

// Serve one request: begin, then a reply of @payload bytes (error @err).
void serve(uint32_t opcode, uint64_t unique, int err, const void *payload,
	   size_t len, const void *arg = nullptr, size_t arg_len = 0,
	   const std::string &names = "")
{
	auto r = request(opcode, unique, 7, arg, arg_len, names);
	st::begin(r.data(), r.size());
	fuse_out_header out{};
	out.unique = unique;
	out.error = err;
	out.len = uint32_t(sizeof(out) + (err ? 0 : len));
	iovec iov[2] = { { &out, sizeof(out) },
			 { const_cast<void *>(payload), len } };
	st::end(iov, err || !len ? 1 : 2);
}

void write4k(uint64_t unique)
{
	fuse_write_in w{};
	w.offset = unique * 4096;
	w.size = 4096;
	fuse_write_out o{};
	o.size = 4096;
	serve(FUSE_WRITE, unique, 0, &o, sizeof(o), &w, sizeof(w));
}

std::unique_ptr<st::Snapshot> snap()
{
	auto s = std::make_unique<st::Snapshot>();
	st::snapshot(s.get());
	return s;
}

uint64_t hist_total(const st::OpCounters &c)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < st::kBuckets; ++b)
		n += c.hist[b];
	return n;
}

} // namespace

TEST_CASE("histogram buckets hold their values within 1/kSub", "[shim][stats]")
{
	for (uint64_t v :
	     { 0ULL, 1ULL, 7ULL, 8ULL, 9ULL, 15ULL, 16ULL, 100ULL, 999ULL,
	       4096ULL, 123456ULL, 5000000ULL, (1ULL << 36) - 1 }) {
		unsigned b = st::bucket_of(v);
		INFO("v=" << v << " bucket " << b);
		REQUIRE(b < st::kBuckets);
		CHECK(st::bucket_low(b) <= v);
		CHECK(v < st::bucket_low(b + 1));
		if (v >= st::kSub)
			CHECK(double(st::bucket_low(b + 1) -
				     st::bucket_low(b)) <=
			      double(v) / st::kSub + 1);
	}
	CHECK(st::bucket_of(1ULL << 40) == st::kBuckets - 1);
	for (unsigned b = 0; b + 1 < st::kBuckets; ++b)
		CHECK(st::bucket_of(st::bucket_low(b)) == b);
}

TEST_CASE("percentiles of a known distribution", "[shim][stats]")
{
	std::vector<uint64_t> h(st::kBuckets);
	for (uint64_t us = 1; us <= 1000; ++us) // 1..1000 us, one each
		h[st::bucket_of(us * 1000)]++;
	auto near = [](double got, double want) {
		return std::fabs(got - want) <= want / st::kSub;
	};
	CHECK(near(st::percentile(h.data(), 1000, 0.5), 500e3));
	CHECK(near(st::percentile(h.data(), 1000, 0.99), 990e3));
	CHECK(near(st::percentile(h.data(), 1000, 0.999), 999e3));
	CHECK(st::percentile(h.data(), 0, 0.5) == 0);
}

TEST_CASE("requests are counted per opcode, with bytes and errors",
	  "[shim][stats]")
{
	auto before = snap();
	for (uint64_t u = 1; u <= 100; ++u)
		write4k(u);
	char data[8192] = {};
	fuse_read_in rd{};
	rd.size = 8192;
	serve(FUSE_READ, 200, 0, data, sizeof(data), &rd, sizeof(rd));
	serve(FUSE_LOOKUP, 201, -ENOENT, nullptr, 0, nullptr, 0,
	      std::string("nope\0", 5));
	// No reply: counted when it comes in.
	fuse_forget_in fg{};
	fg.nlookup = 1;
	auto f = request(FUSE_FORGET, 202, 9, &fg, sizeof(fg));
	st::begin(f.data(), f.size());
	// A notification (unique 0) and a reply to nothing we saw: ignored.
	fuse_out_header n{};
	iovec iov = { &n, sizeof(n) };
	st::end(&iov, 1);
	n.unique = 999;
	st::end(&iov, 1);

	auto after = snap();
	auto delta = [&](uint32_t op) {
		const auto &a = after->op[st::slot_of(op)];
		const auto &b = before->op[st::slot_of(op)];
		return std::vector<uint64_t>{ a.count - b.count,
					      a.errors - b.errors,
					      a.bytes - b.bytes,
					      hist_total(a) - hist_total(b) };
	};
	CHECK(delta(FUSE_WRITE) ==
	      std::vector<uint64_t>{ 100, 0, 409600, 100 });
	CHECK(delta(FUSE_READ) == std::vector<uint64_t>{ 1, 0, 8192, 1 });
	CHECK(delta(FUSE_LOOKUP) == std::vector<uint64_t>{ 1, 1, 0, 1 });
	CHECK(delta(FUSE_FORGET) == std::vector<uint64_t>{ 1, 0, 0, 0 });
	CHECK(std::string(st::op_name(st::slot_of(FUSE_COPY_FILE_RANGE))) ==
	      "copy_file_range");
	CHECK(std::string(st::op_name(st::slot_of(7))) == "other");
	CHECK(std::string(st::op_name(st::slot_of(4096))) == "other");
}

TEST_CASE("threads count apart; exited threads still count; reset",
	  "[shim][stats]")
{
	auto base = std::make_unique<st::Snapshot>();
	st::snapshot_and_reset(base.get());
	auto zero = snap();
	CHECK(zero->op[FUSE_WRITE].count == 0);

	std::vector<std::thread> ts;
	for (int t = 0; t < 4; ++t)
		ts.emplace_back([t] {
			for (uint64_t u = 1; u <= 1000; ++u)
				write4k(uint64_t(t) * 100000 + u);
		});
	for (auto &t : ts)
		t.join();
	// A new thread takes over an exited thread's block: counts add up.
	std::thread([] { write4k(777); }).join();

	auto s = std::make_unique<st::Snapshot>();
	st::snapshot_and_reset(s.get());
	CHECK(s->op[FUSE_WRITE].count == 4001);
	CHECK(s->op[FUSE_WRITE].bytes == 4001 * 4096ULL);
	CHECK(hist_total(s->op[FUSE_WRITE]) == 4001);
	CHECK(snap()->op[FUSE_WRITE].count == 0);
	write4k(1);
	CHECK(snap()->op[FUSE_WRITE].count == 1);
}

TEST_CASE("debug classes: parse and print", "[shim][stats]")
{
	uint32_t m = 0;
	std::string err;
	REQUIRE(st::parse_mask("+rw namei", &m, &err));
	CHECK(m == (st::kRw | st::kNamei));
	REQUIRE(st::parse_mask("-namei", &m, &err));
	CHECK(m == st::kRw);
	REQUIRE(st::parse_mask("=xattr,err", &m, &err));
	CHECK(m == (st::kXattr | st::kErr));
	CHECK(st::mask_text(m) == "xattr,err");
	REQUIRE(st::parse_mask("all -misc", &m, &err));
	CHECK(m == (st::kAll & ~st::kMisc));
	REQUIRE(st::parse_mask("none", &m, &err));
	CHECK(m == 0);
	CHECK(st::mask_text(0) == "none");
	REQUIRE(st::parse_mask("vfs", &m, &err));
	CHECK(m == (st::kNamei | st::kAttr | st::kFile | st::kDir));
	uint32_t keep = m;
	CHECK_FALSE(st::parse_mask("+rw +bogus", &m, &err));
	CHECK(m == keep);
	CHECK(err.find("bogus") != std::string::npos);
}

TEST_CASE("debug lines: one per request of the classes on", "[shim][stats]")
{
	// Catch stderr in a file while the classes are on.
	char path[] = "/tmp/zufuse-stats-test-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	int saved = dup(STDERR_FILENO);
	REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);

	st::set_debug_mask(st::kRw | st::kErr);
	write4k(5001);
	serve(FUSE_GETATTR, 5002, 0, nullptr, 0);		  // attr: off
	serve(FUSE_UNLINK, 5003, -ENOENT, nullptr, 0, nullptr, 0, // err: on
	      std::string("gone\0", 5));
	st::set_debug_mask(0);
	write4k(5004);

	dup2(saved, STDERR_FILENO);
	close(saved);
	std::string log(4096, '\0');
	ssize_t n = pread(fd, log.data(), log.size(), 0);
	close(fd);
	unlink(path);
	log.resize(n > 0 ? size_t(n) : 0);
	INFO(log);
	CHECK(log.find(
		      "zufuse: dbg rw    #5001 write ino=7 off=20484096 len=4096") !=
	      std::string::npos);
	CHECK(log.find("-> 4096 bytes") != std::string::npos);
	CHECK(log.find("#5002") == std::string::npos);
	CHECK(log.find("#5003 unlink ino=7 \"gone\" -> ENOENT") !=
	      std::string::npos);
	CHECK(log.find("#5004") == std::string::npos);
	// One line each.
	CHECK(std::count(log.begin(), log.end(), '\n') == 2);
}
