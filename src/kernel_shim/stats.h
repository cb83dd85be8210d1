// SPDX-License-Identifier: BSD-3-Clause
//
// stats.h - the shim's request counters and its per-request debug log, what
// `zufusectl stats` and `zufusectl debug` show of a running mount.
//
// Contract:
//  - The FUSE transport (fuse_wire.cc) calls begin() once it has read a
//    request and end() when it hands the reply to the kernel, both on the
//    thread that serves the request (libfuse's loops and the io_uring
//    threads do). A request the kernel expects no reply to (FORGET,
//    BATCH_FORGET, INTERRUPT) is counted in begin(). Notifications (unique
//    0) are not requests.
//  - Counters are per FUSE opcode: requests, failed replies, bytes (READ,
//    WRITE, COPY_FILE_RANGE), and the time from reading the request to
//    handing over its reply, in a log-scale histogram (kSub buckets per
//    power of two of nanoseconds: a percentile is off by at most 1/kSub).
//  - Nothing is shared per request: each serving thread counts into its own
//    block, which only it writes (relaxed loads and stores, no locked
//    instruction); the only shared read is the debug mask. snapshot() sums
//    the blocks of every thread that ever served, exited ones included.
//    reset() does not write the blocks: it records a baseline that later
//    snapshots subtract.
//  - The debug log: one line per request of the classes switched on (as
//    zuf's zuf_dbg_* did), written with a single write(2) to stderr, or to
//    syslog (daemon.debug) when stderr is /dev/null (a daemonized zufuse).
//    stats.cc counts; debug_log.cc writes the log.
//  - The histogram helpers and names are plain functions zufusectl uses too.
#ifndef ZUF_STATS_H
#define ZUF_STATS_H

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zuf::stats {

// ~~~ the log-scale latency histogram ~~~

constexpr unsigned kSubBits = 3;
constexpr unsigned kSub = 1U << kSubBits; // buckets per power of two
constexpr unsigned kMaxExp = 36;	  // 2^36 ns (69 s): the last bucket
constexpr unsigned kBuckets = kSub + (kMaxExp - kSubBits + 1) * kSub;

constexpr unsigned bucket_of(uint64_t ns)
{
	if (ns < kSub)
		return unsigned(ns);
	unsigned e = 63 - unsigned(__builtin_clzll(ns));
	if (e > kMaxExp)
		return kBuckets - 1;
	return kSub + (e - kSubBits) * kSub +
	       unsigned((ns >> (e - kSubBits)) & (kSub - 1));
}
// The smallest value that falls in bucket b (b == kBuckets: the end).
constexpr uint64_t bucket_low(unsigned b)
{
	if (b < kSub)
		return b;
	unsigned e = (b - kSub) / kSub + kSubBits;
	return uint64_t(kSub + (b - kSub) % kSub) << (e - kSubBits);
}
// The value at quantile q (0..1) of a histogram with total entries,
// interpolated inside its bucket; 0 for an empty one.
double percentile(const uint64_t *hist, uint64_t total, double q);

// ~~~ counters ~~~

constexpr unsigned kOpSlots = 64; // FUSE opcodes below 64; 0: any other

struct OpCounters {
	uint64_t count;
	uint64_t errors; // replies with an error
	uint64_t bytes;	 // READ, WRITE, COPY_FILE_RANGE: bytes moved
	uint64_t sum_ns; // for the mean
	uint64_t hist[kBuckets];
};

struct Snapshot {
	OpCounters op[kOpSlots];
};

// The transport's hooks (see the contract). @req: the whole request,
// fuse_in_header first. @iov: the reply as libfuse built it, iov[0] the
// fuse_out_header.
void begin(const void *req, size_t len);
void end(const iovec *iov, int count);

// Counters since the last reset (or since the process started).
void snapshot(Snapshot *out);
// Take a snapshot and make it the new baseline, as one step: what *out
// reports is exactly what the next snapshot no longer counts.
void snapshot_and_reset(Snapshot *out);

// The slot of a FUSE opcode and its name ("write", "rename2", "other").
unsigned slot_of(uint32_t opcode);
const char *op_name(unsigned slot);

// ~~~ debug log ~~~

// Operation classes, as zuf's zuf_dbg_vfs/rw/xattr/... split them.
enum Class : uint32_t {
	kNamei = 1 << 0, // lookup, create, mknod, mkdir, symlink, link,
			 // unlink, rmdir, rename, forget
	kAttr = 1 << 1,	 // getattr, setattr, readlink, access, statfs
	kFile = 1 << 2,	 // open, release, flush, fsync, opendir, releasedir,
			 // fsyncdir, locks
	kDir = 1 << 3,	 // readdir, readdirplus
	kRw = 1 << 4,	 // read, write, fallocate, lseek, copy_file_range
	kXattr = 1 << 5, // get/set/list/removexattr
	kMisc = 1 << 6,	 // init, destroy, interrupt, ioctl, poll, the rest
	kErr = 1 << 7,	 // any request answered with an error
	kAll = (1 << 8) - 1,
};
// The class names in bit order ("namei", "attr", ..., "err").
std::vector<std::string_view> class_names();
// "rw,namei" (in bit order), "none" for 0.
std::string mask_text(uint32_t mask);
// Apply words to *mask: "+rw" or "rw" switches a class on, "-namei" off,
// "all"/"none" (also "+all", "-all"), "=rw,xattr" sets exactly; several
// words and commas ("+rw,xattr -namei"). False with *err for an unknown
// class (nothing applied).
bool parse_mask(std::string_view words, uint32_t *mask, std::string *err);

uint32_t debug_mask();
void set_debug_mask(uint32_t mask);
// Where the lines go now: "stderr" or "syslog".
const char *debug_sink();

} // namespace zuf::stats

#endif // ZUF_STATS_H
