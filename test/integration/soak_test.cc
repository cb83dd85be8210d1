// SPDX-License-Identifier: BSD-3-Clause
//
// soak_test.cc - load against one mount with T2 evicting and promoting
// (issue 11): 16 workers for ZUFUSE_SOAK_SECONDS (default 60; scripts/soak.sh
// runs 600) on 64 MiB of pmem and a 256 MiB T2:
//  - 7 processes of random file operations (write, read, truncate, fsync,
//    rename) on their own files, checked against an in-memory model after
//    every read; what was fsynced must be there after the remount;
//  - fio: 4 jobs of 4 KiB random mixed O_DIRECT reads and writes;
//  - 3 processes of metadata churn (mkdir, create, rename, unlink, rmdir);
//  - 2 processes reading a 48 MiB file sequentially and checking it (its
//    blocks go to T2 and come back).
// No error anywhere, no hang (every worker ends within a minute of the
// deadline), zufuse's RSS and open descriptors bounded (printed at start
// and end), unmount and fsck clean, fsynced data intact after a remount.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "integration.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kModelProcs = 7, kChurnProcs = 3, kReaderProcs = 2;
constexpr int kFiles = 6;	      // per model process
constexpr size_t kMaxFile = 2 << 20;  // bytes per model file
constexpr size_t kSeqFile = 48 << 20; // the sequentially read file

int soak_seconds()
{
	const char *s = getenv("ZUFUSE_SOAK_SECONDS");
	int v = s && *s ? atoi(s) : 60;
	return v > 0 ? v : 60;
}

std::string fio_path()
{
	const char *p = getenv("FIO");
	return p && *p ? p : "";
}

// A worker's outcome, one line in its result file.
struct Outcome {
	long ops = 0, errors = 0;
	std::string first_error;
};

void put_outcome(const std::string &out, const Outcome &o)
{
	if (FILE *f = fopen(out.c_str(), "w")) {
		fprintf(f, "%ld %ld %s\n", o.ops, o.errors,
			o.first_error.c_str());
		fclose(f);
	}
}

Outcome get_outcome(const std::string &path)
{
	Outcome o;
	o.errors = -1; // no file: the worker died
	std::istringstream in(zit::read_file(path));
	in >> o.ops >> o.errors;
	std::getline(in, o.first_error);
	return o;
}

void note(Outcome &o, const std::string &what, int e)
{
	if (!o.errors++)
		o.first_error = what + ": " + (e ? strerror(e) : "wrong data");
}

// Random operations on kFiles files, checked against a model. Every
// kFsyncEvery ops all files are fsynced and the model saved to
// dir/../model-ID (what must survive).
[[noreturn]] void model_worker(const std::string &dir, int id,
			       Clock::time_point end, const std::string &out)
{
	std::mt19937_64 rng(7000 + id);
	std::vector<std::string> model(kFiles);
	std::vector<int> fds(kFiles);
	Outcome o;
	for (int k = 0; k < kFiles; ++k)
		fds[k] = open((dir + "/m" + std::to_string(k)).c_str(),
			      O_CREAT | O_RDWR | O_TRUNC, 0644);
	std::string buf;
	while (Clock::now() < end && o.errors < 10) {
		++o.ops;
		const int k = int(rng() % kFiles);
		const uint64_t op = rng() % 100;
		std::string &m = model[k];
		if (op < 45) { // write
			size_t len = 1 + rng() % (256 << 10);
			size_t at = rng() % (kMaxFile - len);
			buf = zit::pattern(rng(), len);
			ssize_t n = pwrite(fds[k], buf.data(), len, off_t(at));
			if (n != ssize_t(len)) {
				note(o, n < 0 ? "write" : "short write",
				     n < 0 ? errno : 0);
				break; // the model no longer knows the file
			}
			if (m.size() < at + len)
				m.resize(at + len, '\0');
			m.replace(at, len, buf);
		} else if (op < 85) { // read and check
			size_t at = m.empty() ? 0 : rng() % m.size();
			size_t len = 1 + rng() % (512 << 10);
			buf.assign(len, '\0');
			ssize_t n = pread(fds[k], buf.data(), len, off_t(at));
			size_t want = at < m.size() ?
					      std::min(len, m.size() - at) :
					      0;
			if (n < 0)
				note(o, "read", errno);
			else if (size_t(n) != want ||
				 buf.compare(0, want, m, at, want))
				note(o,
				     "read m" + std::to_string(k) + " at " +
					     std::to_string(at),
				     0);
		} else if (op < 92) { // truncate
			size_t to = rng() % kMaxFile;
			if (ftruncate(fds[k], off_t(to))) {
				note(o, "truncate", errno);
				continue;
			}
			m.resize(to, '\0');
		} else if (op < 97) { // fsync all, save the model
			for (int j = 0; j < kFiles; ++j)
				if (fsync(fds[j]))
					note(o, "fsync", errno);
			for (int j = 0; j < kFiles; ++j)
				zit::write_file(out + ".m" + std::to_string(j),
						model[j]);
		} else { // reopen (descriptors come and go)
			close(fds[k]);
			fds[k] = open((dir + "/m" + std::to_string(k)).c_str(),
				      O_RDWR);
			if (fds[k] < 0)
				note(o, "reopen", errno);
		}
	}
	for (int j = 0; j < kFiles; ++j) {
		if (fsync(fds[j]))
			note(o, "fsync", errno);
		close(fds[j]);
		zit::write_file(out + ".m" + std::to_string(j), model[j]);
	}
	put_outcome(out, o);
	_exit(0);
}

[[noreturn]] void churn_worker(const std::string &dir, int id,
			       Clock::time_point end, const std::string &out)
{
	Outcome o;
	std::mt19937_64 rng(9000 + id);
	for (long round = 0; Clock::now() < end && o.errors < 10; ++round) {
		std::string d = dir + "/d" + std::to_string(round % 4);
		if (mkdir(d.c_str(), 0755) && errno != EEXIST)
			note(o, "mkdir", errno);
		for (int i = 0; i < 50; ++i, ++o.ops) {
			std::string f = d + "/f" + std::to_string(i);
			if (!zit::write_file(f,
					     zit::pattern(rng(), rng() % 9000)))
				note(o, "create " + f, errno);
			if (i % 2 && rename(f.c_str(), (f + "r").c_str()))
				note(o, "rename", errno);
		}
		DIR *dd = opendir(d.c_str());
		std::vector<std::string> names;
		while (dd && readdir(dd))
			++o.ops;
		if (dd)
			closedir(dd);
		for (int i = 0; i < 50; ++i)
			if (unlink((d + "/f" + std::to_string(i) +
				    (i % 2 ? "r" : ""))
					   .c_str()))
				note(o, "unlink", errno);
		if (rmdir(d.c_str()))
			note(o, "rmdir", errno);
	}
	put_outcome(out, o);
	_exit(0);
}

[[noreturn]] void reader_worker(const std::string &file, Clock::time_point end,
				const std::string &out)
{
	Outcome o;
	const std::string want = zit::pattern(42, kSeqFile);
	std::string buf(1 << 20, '\0');
	while (Clock::now() < end && o.errors < 10) {
		int fd = open(file.c_str(), O_RDONLY);
		if (fd < 0) {
			note(o, "open", errno);
			break;
		}
		for (size_t at = 0; at < kSeqFile && Clock::now() < end;
		     at += buf.size()) {
			++o.ops;
			ssize_t n =
				pread(fd, buf.data(), buf.size(), off_t(at));
			if (n != ssize_t(buf.size()))
				note(o, "read", n < 0 ? errno : 0);
			else if (want.compare(at, buf.size(), buf))
				note(o, "read at " + std::to_string(at), 0);
		}
		close(fd);
	}
	put_outcome(out, o);
	_exit(0);
}

long rss_kib(pid_t pid)
{
	std::istringstream in(
		zit::read_file("/proc/" + std::to_string(pid) + "/status"));
	std::string line;
	while (std::getline(in, line))
		if (line.rfind("VmRSS:", 0) == 0)
			return atol(line.c_str() + 6);
	return -1;
}

long fd_count(pid_t pid)
{
	long n = 0;
	DIR *d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
	if (!d)
		return -1;
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			++n;
	closedir(d);
	return n;
}

// "tier: evicted N ..." counters from zufuse's log line at unmount.
std::string tier_line(const std::string &log)
{
	size_t at = log.rfind("zufuse: tier:");
	return at == std::string::npos ?
		       "(no tier line)" :
		       log.substr(at, log.find('\n', at) - at);
}

} // namespace

TEST_CASE("soak: 16 workers, T2 evicting and promoting", "[soak]")
{
	if (fio_path().empty()) {
		WARN("fio not found");
		return;
	}
	const int seconds = soak_seconds();
	zit::Mount m("64M");
	const std::string t2 = "--t2=" + m.scratch().path("t2");
	REQUIRE_MOUNT(m, { t2 + ",256M" });
	REQUIRE(zit::write_file(m.path("seq"), zit::pattern(42, kSeqFile)));

	const pid_t zpid = m.pid();
	const long rss0 = rss_kib(zpid), fds0 = fd_count(zpid);
	printf("soak: %d s; zufuse at start: RSS %ld KiB, %ld descriptors\n",
	       seconds, rss0, fds0);
	const auto end = Clock::now() + std::chrono::seconds(seconds);
	std::vector<std::pair<pid_t, std::string>> kids;
	auto spawn = [&](const std::string &name, auto &&fn) {
		const std::string out = m.scratch().path("out-" + name);
		pid_t p = fork();
		REQUIRE(p >= 0);
		if (p == 0)
			fn(out);
		kids.emplace_back(p, out);
	};
	for (int i = 0; i < kModelProcs; ++i) {
		const std::string dir = m.path("model" + std::to_string(i));
		REQUIRE(mkdir(dir.c_str(), 0755) == 0);
		spawn("model" + std::to_string(i), [&](const std::string &out) {
			model_worker(dir, i, end, out);
		});
	}
	for (int i = 0; i < kChurnProcs; ++i) {
		const std::string dir = m.path("churn" + std::to_string(i));
		REQUIRE(mkdir(dir.c_str(), 0755) == 0);
		spawn("churn" + std::to_string(i), [&](const std::string &out) {
			churn_worker(dir, i, end, out);
		});
	}
	for (int i = 0; i < kReaderProcs; ++i)
		spawn("reader" + std::to_string(i),
		      [&](const std::string &out) {
			reader_worker(m.path("seq"), end, out);
		});
	REQUIRE(mkdir(m.path("fio").c_str(), 0755) == 0);
	std::thread fio([&] {
		auto r = zit::run_cmd({ fio_path(), "--name=mix",
					"--directory=" + m.path("fio"),
					"--ioengine=psync", "--rw=randrw",
					"--rwmixread=50", "--bs=4k",
					"--direct=1", "--size=24M",
					"--numjobs=4", "--time_based",
					"--runtime=" + std::to_string(seconds),
					"--output-format=terse" },
				      m.scratch().dir(), seconds + 120);
		INFO("fio: " << r.err << r.out.substr(0, 300));
		CHECK(r.status == 0);
	});

	// Mid-run sample, then every worker must end (no hang).
	long rss_mid = -1, fds_mid = -1;
	std::this_thread::sleep_until(end - std::chrono::seconds(seconds / 2));
	rss_mid = rss_kib(zpid);
	fds_mid = fd_count(zpid);
	long ops = 0, errors = 0;
	for (auto &[pid, out] : kids) {
		int st = 0;
		const auto hang = end + std::chrono::seconds(90);
		pid_t w = 0;
		while ((w = waitpid(pid, &st, WNOHANG)) == 0 &&
		       Clock::now() < hang)
			std::this_thread::sleep_for(
				std::chrono::milliseconds(100));
		if (w == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		{
			INFO("worker " << out << " hung");
			CHECK(w == pid);
		}
		Outcome o = get_outcome(out);
		INFO(out << ": " << o.ops << " ops, " << o.errors << " errors "
			 << o.first_error);
		CHECK(o.errors == 0);
		ops += o.ops;
		errors += o.errors > 0 ? o.errors : 0;
	}
	fio.join();
	const long rss1 = rss_kib(zpid), fds1 = fd_count(zpid);
	printf("soak: %ld operations by the 12 checked workers (+ fio's 4 jobs), "
	       "%ld errors; zufuse RSS %ld -> %ld -> %ld KiB, descriptors %ld -> "
	       "%ld -> %ld (start, middle, end)\n",
	       ops, errors, rss0, rss_mid, rss1, fds0, fds_mid, fds1);
	// Bounded: the T2 lanes and FUSE threads grow with the peak
	// concurrency in the first half; nothing grows with the run after.
	CHECK(rss1 < 2 * rss0 + 128 * 1024);
	CHECK(rss1 < rss_mid + rss_mid / 4 + 16 * 1024);
	CHECK(fds1 <= std::max(fds0, fds_mid) + 8);

	// Every worker and fio are reaped: nothing of the soak (nor zufuse
	// itself) may hold the mount now, or the unmount meets EBUSY.
	const std::string busy = m.holders();
	INFO(busy);
	CHECK(busy.empty());
	REQUIRE_UNMOUNT(m);
	printf("soak: %s\n", tier_line(m.log()).c_str());
	CHECK(tier_line(m.log()).find("evicted") != std::string::npos);
	CHECK_FSCK_CLEAN(m);
	// What each model worker fsynced last is there.
	REQUIRE_MOUNT(m, { t2 });
	size_t wrong = 0;
	for (int i = 0; i < kModelProcs; ++i)
		for (int k = 0; k < kFiles; ++k) {
			std::string want = zit::read_file(
				m.scratch().path("out-model" +
						 std::to_string(i)) +
				".m" + std::to_string(k));
			std::string got = zit::read_file(
				m.path("model" + std::to_string(i) + "/m" +
				       std::to_string(k)));
			if (got != want)
				++wrong;
		}
	CHECK(wrong == 0);
	CHECK(zit::read_file(m.path("seq")) == zit::pattern(42, kSeqFile));
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
