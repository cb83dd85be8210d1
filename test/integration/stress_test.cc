// SPDX-License-Identifier: BSD-3-Clause
//
// stress_test.cc - what a single-threaded sequence does not reach: threads
// racing in one directory and one file, readdir while the directory changes,
// offsets past 4 GiB, and running out of space.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <thread>
#include <unistd.h>

#include "integration.h"

namespace {

std::set<std::string> list_dir(const std::string &dir)
{
	std::set<std::string> names;
	DIR *d = opendir(dir.c_str());
	REQUIRE(d);
	while (struct dirent *e = readdir(d))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names.insert(e->d_name);
	closedir(d);
	return names;
}

} // namespace

TEST_CASE("threads creating, writing, renaming and unlinking in one directory",
	  "[stress]")
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m);
	const std::string dir = m.path("shared");
	REQUIRE(mkdir(dir.c_str(), 0755) == 0);

	constexpr int k_threads = 4, k_files = 300;
	std::atomic<int> errors{ 0 };
	std::atomic<bool> stop{ false };
	std::vector<std::string> first_error(k_threads);
	auto worker = [&](int t) {
		auto fail = [&](const std::string &what) {
			if (errors++ == 0 || first_error[t].empty())
				first_error[t] = what + ": " + strerror(errno);
		};
		for (int i = 0; i < k_files; i++) {
			std::string name = dir + "/t" + std::to_string(t) +
					   "_" + std::to_string(i);
			std::string data =
				zit::pattern(uint64_t(t * 100000 + i),
					     size_t(i * 37 % 20000));
			if (!zit::write_file(name, data)) {
				fail("write " + name);
				continue;
			}
			if (zit::read_file(name) != data)
				fail("read back " + name);
			if (i % 3 == 0 &&
			    rename(name.c_str(), (name + ".r").c_str()))
				fail("rename " + name);
			if (i % 5 == 0) {
				std::string victim = dir + "/t" +
						     std::to_string(t) + "_" +
						     std::to_string(i / 2);
				if (unlink(victim.c_str()) && errno != ENOENT)
					fail("unlink " + victim);
			}
		}
	};
	// A reader that lists the directory and stats entries meanwhile.
	std::thread lister([&] {
		while (!stop) {
			DIR *d = opendir(dir.c_str());
			if (!d) {
				errors++;
				return;
			}
			while (struct dirent *e = readdir(d)) {
				struct stat st;
				std::string p = dir + "/" + e->d_name;
				if (lstat(p.c_str(), &st) && errno != ENOENT)
					errors++;
			}
			closedir(d);
		}
	});
	std::vector<std::thread> threads;
	for (int t = 0; t < k_threads; t++)
		threads.emplace_back(worker, t);
	for (auto &th : threads)
		th.join();
	stop = true;
	lister.join();
	for (const auto &e : first_error)
		INFO(e);
	CHECK(errors == 0);

	// What must be there, computed the same way as the workers did it.
	std::set<std::string> want;
	for (int t = 0; t < k_threads; t++) {
		std::set<std::string> mine;
		for (int i = 0; i < k_files; i++) {
			std::string base = "t" + std::to_string(t) + "_";
			mine.insert(base + std::to_string(i) +
				    (i % 3 == 0 ? ".r" : ""));
			if (i % 5 == 0) {
				int v = i / 2;
				mine.erase(base + std::to_string(v));
			}
		}
		want.insert(mine.begin(), mine.end());
	}
	auto have = list_dir(dir);
	CHECK(have == want);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(list_dir(dir) == want);
	// Contents survive too.
	for (int t = 0; t < k_threads; t++)
		for (int i = 1; i < k_files; i += 7) {
			std::string n = "t" + std::to_string(t) + "_" +
					std::to_string(i) +
					(i % 3 == 0 ? ".r" : "");
			if (!want.count(n))
				continue;
			INFO(n);
			CHECK(zit::read_file(dir + "/" + n) ==
			      zit::pattern(uint64_t(t * 100000 + i),
					   size_t(i * 37 % 20000)));
		}
}

TEST_CASE("threads writing disjoint ranges of one file", "[stress]")
{
	zit::Mount m("512M");
	REQUIRE_MOUNT(m);
	const std::string f = m.path("one");
	constexpr int k_threads = 4;
	constexpr size_t k_chunk = 64 << 10, k_rounds = 64;
	std::atomic<int> errors{ 0 };
	auto worker = [&](int t, bool direct) {
		int fd = open(f.c_str(),
			      O_CREAT | O_RDWR | (direct ? O_DIRECT : 0), 0644);
		if (fd < 0) {
			errors++;
			return;
		}
		void *buf = nullptr;
		if (posix_memalign(&buf, 4096, k_chunk)) {
			errors++;
			close(fd);
			return;
		}
		for (size_t r = 0; r < k_rounds; r++) {
			// Chunk r*k_threads+t: interleaved across threads.
			size_t idx = r * k_threads + size_t(t);
			std::string d = zit::pattern(idx, k_chunk);
			memcpy(buf, d.data(), k_chunk);
			if (pwrite(fd, buf, k_chunk, off_t(idx * k_chunk)) !=
			    ssize_t(k_chunk))
				errors++;
		}
		free(buf);
		close(fd);
	};
	std::vector<std::thread> threads;
	for (int t = 0; t < k_threads; t++)
		threads.emplace_back(worker, t, t % 2 == 0);
	for (auto &th : threads)
		th.join();
	CHECK(errors == 0);
	std::string all = zit::read_file(f);
	REQUIRE(all.size() == k_threads * k_rounds * k_chunk);
	for (size_t idx = 0; idx < k_threads * k_rounds; idx++) {
		INFO("chunk " << idx);
		CHECK(all.compare(idx * k_chunk, k_chunk,
				  zit::pattern(idx, k_chunk)) == 0);
	}
}

TEST_CASE("readdir while the directory changes: untouched entries appear "
	  "exactly once",
	  "[stress]")
{
	zit::Mount m("256M");
	REQUIRE_MOUNT(m);
	const std::string dir = m.path("d");
	REQUIRE(mkdir(dir.c_str(), 0755) == 0);
	constexpr int k_n = 2000;
	for (int i = 0; i < k_n; i++)
		REQUIRE(zit::write_file(dir + "/f" + std::to_string(i), ""));

	DIR *d = opendir(dir.c_str());
	REQUIRE(d);
	std::map<std::string, int> seen;
	int read = 0;
	while (struct dirent *e = readdir(d)) {
		seen[e->d_name]++;
		if (++read == k_n / 2) {
			// Half way: remove every 10th file, add new ones.
			for (int i = 0; i < k_n; i += 10)
				REQUIRE(unlink((dir + "/f" + std::to_string(i))
						       .c_str()) == 0);
			for (int i = 0; i < 300; i++)
				REQUIRE(zit::write_file(
					dir + "/new" + std::to_string(i), ""));
		}
	}
	closedir(d);
	CHECK(seen["."] == 1);
	CHECK(seen[".."] == 1);
	for (int i = 0; i < k_n; i++) {
		if (i % 10 == 0)
			continue; // removed meanwhile: may or may not show
		INFO("f" << i);
		CHECK(seen["f" + std::to_string(i)] == 1);
	}
	for (const auto &[name, n] : seen)
		CHECK(n == 1);
	CHECK(list_dir(dir).size() == size_t(k_n - k_n / 10 + 300));
}

TEST_CASE("offsets past 4 GiB and holes", "[stress]")
{
	zit::Mount m("256M");
	REQUIRE_MOUNT(m);
	const std::string f = m.path("sparse");
	int fd = open(f.c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(fd >= 0);
	const off_t far = (5LL << 30) + 12345;
	const std::string d = zit::pattern(9, 10000);
	REQUIRE(pwrite(fd, d.data(), d.size(), far) == ssize_t(d.size()));
	REQUIRE(pwrite(fd, "x", 1, (4LL << 30) - 1) == 1);
	struct stat st;
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(st.st_size == far + off_t(d.size()));
	CHECK(st.st_blocks <= 256); // holes take no space (4 data blocks + map)
	std::string buf(d.size(), '\0');
	REQUIRE(pread(fd, buf.data(), buf.size(), far) == ssize_t(buf.size()));
	CHECK(buf == d);
	char c = 0;
	REQUIRE(pread(fd, &c, 1, (4LL << 30) - 1) == 1);
	CHECK(c == 'x');
	std::string hole(8192, 'z');
	REQUIRE(pread(fd, hole.data(), hole.size(), 3LL << 30) == 8192);
	CHECK(hole == std::string(8192, '\0'));
	// Shrink across the 4 GiB line, then grow again: the tail reads zero.
	REQUIRE(ftruncate(fd, (4LL << 30) + 100) == 0);
	REQUIRE(ftruncate(fd, far + 20000) == 0);
	REQUIRE(pread(fd, buf.data(), buf.size(), far) == ssize_t(buf.size()));
	CHECK(buf == std::string(buf.size(), '\0'));
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	REQUIRE(stat(f.c_str(), &st) == 0);
	CHECK(st.st_size == far + 20000);
	fd = open(f.c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, &c, 1, (4LL << 30) - 1) == 1);
	CHECK(c == 'x');
	close(fd);
}

TEST_CASE("a full file system says ENOSPC and recovers when space is freed",
	  "[stress]")
{
	zit::Mount m("32M");
	REQUIRE_MOUNT(m);
	struct statfs sf;
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	const uint64_t empty_bavail = sf.f_bavail;
	const std::string chunk = zit::pattern(1, 1 << 20);
	int err = 0;
	int files = 0;
	for (; files < 100 && !err; files++) {
		std::string p = m.path("fill" + std::to_string(files));
		int fd = open(p.c_str(), O_CREAT | O_WRONLY, 0644);
		if (fd < 0) {
			err = errno;
			break;
		}
		// Filling up, a write may be short (as on tmpfs or ext4):
		// the rest, written again, says why.
		size_t done = 0;
		ssize_t n = 0;
		while (done < chunk.size() &&
		       (n = write(fd, chunk.data() + done,
				  chunk.size() - done)) > 0)
			done += size_t(n);
		if (done < chunk.size())
			err = n < 0 ? errno : EIO;
		close(fd);
	}
	INFO("stopped after " << files << " files: " << strerror(err));
	CHECK(err == ENOSPC);
	REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
	CHECK(sf.f_bavail < 256);
	// Still usable: read what was written, delete, write again.
	CHECK(zit::read_file(m.path("fill0")) == chunk);
	for (int i = 0; i < files; i++)
		unlink(m.path("fill" + std::to_string(i)).c_str());
	sync();
	for (int i = 0; i < 300; i++) {
		REQUIRE(statfs(m.mnt().c_str(), &sf) == 0);
		if (sf.f_bavail + 16 >= empty_bavail)
			break;
		usleep(10000);
	}
	CHECK(sf.f_bavail + 16 >= empty_bavail);
	REQUIRE(zit::write_file(m.path("again"), chunk));
	CHECK(zit::read_file(m.path("again")) == chunk);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("again")) == chunk);
}
