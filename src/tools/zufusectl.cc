// SPDX-License-Identifier: BSD-3-Clause
//
// zufusectl - look into a running zufuse mount: request counts, bytes and
// latency percentiles per FUSE operation, space on each tier and the
// server's counters (`stats`), and the per-request debug log (`debug`).
// It talks to the mount's zufuse over the unix socket of control.h; the
// numbers are the shim's (counted per serving thread) and the server's
// (ZUFS_OP_STATS), put together by zufuse's control thread.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel_shim/control.h"
#include "kernel_shim/stats.h"

namespace {

using zuf::control::OpRecord;
using zuf::control::StatsHeader;

const char kUsage[] =
	"usage: zufusectl stats MOUNTPOINT [--json] [--reset]\n"
	"       zufusectl debug MOUNTPOINT [[+|-|=]CLASS ...]\n"
	"       zufusectl -h|--help | -V|--version\n"
	"\n"
	"stats   per FUSE operation: requests, failed requests, bytes (read,\n"
	"        write, copy_file_range) and the time zufuse spent on each\n"
	"        request (from reading it to handing over the reply: mean,\n"
	"        p50, p99, p99.9, in microseconds); space on pmem (T1) and\n"
	"        tier 2, inodes, blocks evicted to and promoted from T2, cold\n"
	"        reads, journal commits. Counts are since the mount or the\n"
	"        last --reset.\n"
	"  --json   one JSON object, for scripts\n"
	"  --reset  print, then start counting from zero (nothing is lost\n"
	"           between the two)\n"
	"debug   log one line per request of the given classes (on zufuse's\n"
	"        stderr, or syslog when it runs as a daemon); without CLASS,\n"
	"        show what is on. +CLASS (or CLASS) on, -CLASS off, =CLASS only\n"
	"        these. Classes: namei attr file dir rw xattr misc, err (every\n"
	"        failed request), vfs (namei attr file dir), all, none.\n"
	"        Example: zufusectl debug /mnt/x +rw -namei\n"
	"\n"
	"MOUNTPOINT is any path inside a zufuse mount. zufuse listens on\n"
	"/run/zufuse/MAJOR:MINOR.sock (root) or $XDG_RUNTIME_DIR/zufuse/\n"
	"(other users), named after the mount's device number.\n"
	"Exit status: 0 done, 1 the mount could not be reached or refused,\n"
	"2 bad usage.\n";

int fail(const std::string &line)
{
	std::fprintf(stderr, "zufusectl: %s\n", line.c_str());
	return 1;
}

int usage_error(const std::string &line)
{
	std::fprintf(stderr, "zufusectl: %s (see --help)\n", line.c_str());
	return 2;
}

struct Target {
	std::string path; // what the user named
	zuf::control::MountEntry mount;
	std::string socket;
};

// The zufuse mount holding @path and its socket; false with *err.
bool find_target(const std::string &path, Target *t, std::string *err)
{
	struct stat st;
	if (stat(path.c_str(), &st)) {
		int e = errno;
		*err = path + ": " + std::strerror(e);
		if (e == ENOTCONN)
			*err += " (its zufuse is gone: fusermount3 -u " + path +
				")";
		return false;
	}
	t->path = path;
	if (!zuf::control::mount_of_dev(st.st_dev, &t->mount)) {
		*err = path + ": not on a mount listed in /proc/self/mountinfo";
		return false;
	}
	if (t->mount.fstype != "fuse.zufuse") {
		*err = path + ": not a zufuse mount (" + t->mount.mountpoint +
		       " is " + t->mount.fstype + ")";
		return false;
	}
	std::vector<std::string> dirs = { "/run/zufuse" };
	if (t->mount.user_id > 0)
		dirs.push_back("/run/user/" + std::to_string(t->mount.user_id) +
			       "/zufuse");
	if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
		dirs.push_back(std::string(xdg) + "/zufuse");
	std::string looked;
	for (const std::string &d : dirs) {
		std::string s = zuf::control::socket_path(d, st.st_dev);
		struct stat ss;
		if (stat(s.c_str(), &ss) == 0 && S_ISSOCK(ss.st_mode)) {
			t->socket = s;
			return true;
		}
		looked += (looked.empty() ? "" : ", ") + s;
	}
	*err = t->mount.mountpoint + ": no control socket (" + looked +
	       "): zufuse too old, or it could not make one (its stderr says "
	       "why)";
	return false;
}

// Send one request line, read the whole answer; an "error: ..." answer is
// a failure.
bool ask(const Target &t, const std::string &request, std::string *reply,
	 std::string *err)
{
	if (!zuf::control::request(t.socket, request, reply, err, 10)) {
		if (errno == ECONNREFUSED)
			*err += " (a stale socket: no zufuse listens there)";
		return false;
	}
	if (reply->rfind("error: ", 0) == 0) {
		*err = t.mount.mountpoint + ": " +
		       reply->substr(7, reply->find('\n') - 7);
		return false;
	}
	return true;
}

// ~~~ stats ~~~

struct OpRow {
	std::string name;
	uint64_t count, errors, bytes;
	double mean_us, p50_us, p99_us, p999_us;
};

bool parse_stats(const std::string &r, StatsHeader *h, std::vector<OpRow> *rows,
		 std::string *err)
{
	if (r.size() < sizeof(StatsHeader)) {
		*err = "short answer from zufuse";
		return false;
	}
	std::memcpy(h, r.data(), sizeof(*h));
	if (h->magic != zuf::control::kMagic ||
	    h->version != zuf::control::kVersion ||
	    h->buckets != zuf::stats::kBuckets ||
	    r.size() != sizeof(*h) + size_t(h->n_ops) * sizeof(OpRecord)) {
		*err = "zufuse answered in another format (zufusectl and "
		       "zufuse from different builds?)";
		return false;
	}
	for (uint32_t i = 0; i < h->n_ops; ++i) {
		OpRecord rec;
		std::memcpy(&rec, r.data() + sizeof(*h) + i * sizeof(rec),
			    sizeof(rec));
		const zuf::stats::OpCounters &c = rec.c;
		uint64_t timed = 0;
		for (unsigned b = 0; b < zuf::stats::kBuckets; ++b)
			timed += c.hist[b];
		auto pct = [&](double q) {
			return zuf::stats::percentile(c.hist, timed, q) /
			       1000.0;
		};
		rows->push_back(
			{ zuf::stats::op_name(rec.slot), c.count, c.errors,
			  c.bytes,
			  timed ? double(c.sum_ns) / double(timed) / 1000.0 :
				  0.0,
			  pct(0.50), pct(0.99), pct(0.999) });
	}
	std::stable_sort(rows->begin(), rows->end(),
			 [](const OpRow &a, const OpRow &b) {
		return a.count > b.count;
	});
	return true;
}

std::string json_str(const std::string &s)
{
	std::string o = "\"";
	for (unsigned char c : s) {
		if (c == '"' || c == '\\') {
			o += '\\';
			o += char(c);
		} else if (c < 0x20) {
			char b[8];
			std::snprintf(b, sizeof(b), "\\u%04x", c);
			o += b;
		} else {
			o += char(c);
		}
	}
	return o + "\"";
}

std::string human_bytes(double b)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		++u;
	}
	char buf[32];
	std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", b, units[u]);
	return buf;
}

// The used part of a total the server reports with its free part (__u64:
// printed with %llu).
__u64 used(__u64 total, __u64 free) { return total - std::min(free, total); }

void print_json(const Target &t, const StatsHeader &h,
		const std::vector<OpRow> &rows, bool reset)
{
	const zufs_ioc_stats &s = h.server;
	std::printf("{\n  \"mountpoint\": %s,\n  \"source\": %s,\n",
		    json_str(t.mount.mountpoint).c_str(),
		    json_str(t.mount.source).c_str());
	std::printf("  \"seconds_since_reset\": %.3f,\n"
		    "  \"seconds_since_mount\": %.3f,\n  \"reset\": %s,\n",
		    double(h.ns_since_reset) / 1e9,
		    double(h.ns_since_mount) / 1e9, reset ? "true" : "false");
	std::printf("  \"ops\": {");
	for (size_t i = 0; i < rows.size(); ++i) {
		const OpRow &r = rows[i];
		std::printf("%s\n    %s: {\"count\": %" PRIu64
			    ", \"errors\": %" PRIu64 ", \"bytes\": %" PRIu64
			    ", \"mean_us\": %.3f, \"p50_us\": %.3f, "
			    "\"p99_us\": %.3f, \"p999_us\": %.3f}",
			    i ? "," : "", json_str(r.name).c_str(), r.count,
			    r.errors, r.bytes, r.mean_us, r.p50_us, r.p99_us,
			    r.p999_us);
	}
	std::printf("%s},\n", rows.empty() ? "" : "\n  ");
	std::printf("  \"server\": {\"error\": %d, \"block_size\": 4096,\n",
		    h.server_err);
	std::printf("    \"t1\": {\"blocks\": %llu, \"free\": %llu, "
		    "\"used\": %llu},\n",
		    s.t1_blocks, s.t1_free, used(s.t1_blocks, s.t1_free));
	std::printf("    \"t2\": {\"blocks\": %llu, \"used\": %llu},\n",
		    s.t2_blocks, s.t2_used);
	std::printf("    \"inodes\": {\"total\": %llu, \"free\": %llu},\n",
		    s.inodes, s.inodes_free);
	std::printf("    \"evictions\": %llu, \"sync_evictions\": %llu, "
		    "\"promotions\": %llu, \"cold_reads\": %llu,\n",
		    s.evictions, s.sync_evictions, s.promotions, s.cold_reads);
	std::printf("    \"journal_commits\": %llu}\n}\n", s.journal_commits);
}

void print_text(const Target &t, const StatsHeader &h,
		const std::vector<OpRow> &rows, bool reset)
{
	std::printf("zufuse on %s (%s): %.1f s since %s%s\n\n",
		    t.mount.mountpoint.c_str(), t.mount.source.c_str(),
		    double(h.ns_since_reset) / 1e9,
		    h.ns_since_reset == h.ns_since_mount ? "mount" : "reset",
		    reset ? "; counters reset now" : "");
	std::printf("%-16s %10s %7s %10s %9s %9s %9s %9s\n", "operation",
		    "count", "errors", "bytes", "mean_us", "p50_us", "p99_us",
		    "p99.9_us");
	for (const OpRow &r : rows)
		std::printf("%-16s %10" PRIu64 " %7" PRIu64 " %10s %9.1f %9.1f "
			    "%9.1f %9.1f\n",
			    r.name.c_str(), r.count, r.errors,
			    r.bytes ? human_bytes(double(r.bytes)).c_str() :
				      "-",
			    r.mean_us, r.p50_us, r.p99_us, r.p999_us);
	if (rows.empty())
		std::printf("(no requests)\n");
	std::printf("\n");
	if (h.server_err) {
		std::printf("server: no answer to ZUFS_OP_STATS (%s)\n",
			    std::strerror(-h.server_err));
		return;
	}
	const zufs_ioc_stats &s = h.server;
	const __u64 t1_used = used(s.t1_blocks, s.t1_free);
	std::printf("T1 (pmem)  %s of %s used (%.1f%%)\n",
		    human_bytes(double(t1_used) * 4096).c_str(),
		    human_bytes(double(s.t1_blocks) * 4096).c_str(),
		    s.t1_blocks ?
			    100.0 * double(t1_used) / double(s.t1_blocks) :
			    0.0);
	if (s.t2_blocks)
		std::printf("T2         %s of %s used (%.1f%%)\n",
			    human_bytes(double(s.t2_used) * 4096).c_str(),
			    human_bytes(double(s.t2_blocks) * 4096).c_str(),
			    100.0 * double(s.t2_used) / double(s.t2_blocks));
	else
		std::printf("T2         none\n");
	std::printf("inodes     %llu of %llu used\n",
		    used(s.inodes, s.inodes_free), s.inodes);
	std::printf("tier       %llu blocks evicted to T2 (%llu by writers "
		    "short of room), %llu promoted to T1, %llu cold reads\n",
		    s.evictions, s.sync_evictions, s.promotions, s.cold_reads);
	std::printf("journal    %llu commits\n", s.journal_commits);
}

int cmd_stats(const std::vector<std::string> &args)
{
	std::string mnt;
	bool json = false, reset = false;
	for (const std::string &a : args) {
		if (a == "--json")
			json = true;
		else if (a == "--reset")
			reset = true;
		else if (a.rfind("-", 0) == 0)
			return usage_error("unknown option '" + a + "'");
		else if (mnt.empty())
			mnt = a;
		else
			return usage_error("unexpected argument '" + a + "'");
	}
	if (mnt.empty())
		return usage_error("stats: no MOUNTPOINT");
	Target t;
	std::string err, reply;
	if (!find_target(mnt, &t, &err) ||
	    !ask(t, reset ? "stats reset" : "stats", &reply, &err))
		return fail(err);
	StatsHeader h;
	std::vector<OpRow> rows;
	if (!parse_stats(reply, &h, &rows, &err))
		return fail(t.mount.mountpoint + ": " + err);
	if (json)
		print_json(t, h, rows, reset);
	else
		print_text(t, h, rows, reset);
	return 0;
}

int cmd_debug(const std::vector<std::string> &args)
{
	if (args.empty())
		return usage_error("debug: no MOUNTPOINT");
	std::string words;
	for (size_t i = 1; i < args.size(); ++i)
		words += (i > 1 ? " " : "") + args[i];
	// Checked here too, so a typo is a usage error with nothing sent.
	uint32_t mask = 0;
	std::string err;
	if (!zuf::stats::parse_mask(words, &mask, &err))
		return usage_error(err);
	Target t;
	std::string reply;
	if (!find_target(args[0], &t, &err) ||
	    !ask(t, words.empty() ? "debug" : "debug " + words, &reply, &err))
		return fail(err);
	std::fputs(reply.c_str(), stdout);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	if (args.empty())
		return usage_error("no command");
	const std::string cmd = args[0];
	args.erase(args.begin());
	if (cmd == "-h" || cmd == "--help") {
		std::fputs(kUsage, stdout);
		return 0;
	}
	if (cmd == "-V" || cmd == "--version") {
		std::printf("zufusectl %s\n", ZUFUSE_VERSION);
		return 0;
	}
	if (cmd == "stats")
		return cmd_stats(args);
	if (cmd == "debug")
		return cmd_debug(args);
	return usage_error("unknown command '" + cmd + "'");
}
