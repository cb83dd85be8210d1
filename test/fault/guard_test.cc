// SPDX-License-Identifier: BSD-3-Clause
// The SIGBUS guard (src/fault/guard.h) on a real shrunk file mapping: a
// guarded copy that meets an unbacked page fails with -EIO instead of
// killing the process, everywhere else the copy works, and an unguarded
// fault still kills (after one line naming the offset).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fault/guard.h"

using zufs::fault::Access;
using zufs::fault::guarded;

namespace {

constexpr size_t kPage = 4096;

// A shared mapping of a memfd of `pages` pages whose file is then cut to
// `keep` pages: the pages past it raise SIGBUS on any access.
struct Shrunk {
	explicit Shrunk(size_t pages, size_t keep, bool reg = true)
	    : len(pages * kPage)
	{
		fd = memfd_create("guard_test", MFD_CLOEXEC);
		REQUIRE(fd >= 0);
		REQUIRE(ftruncate(fd, off_t(len)) == 0);
		void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);
		REQUIRE(p != MAP_FAILED);
		base = static_cast<char *>(p);
		memset(base, 'a', len);
		REQUIRE(ftruncate(fd, off_t(keep * kPage)) == 0);
		if (reg)
			zufs::fault::register_mapping(base, len, fd, kPage,
						      "memfd");
		zufs::fault::install_handler();
	}
	~Shrunk()
	{
		zufs::fault::unregister_mapping(base);
		munmap(base, len);
		close(fd);
	}
	size_t len;
	int fd = -1;
	char *base = nullptr;
};

} // namespace

TEST_CASE("a guarded copy from a lost page fails with EIO; others work",
	  "[fault][guard]")
{
	Shrunk m(4, 2);
	std::vector<char> buf(2 * kPage, 'x');
	const uint64_t before = zufs::fault::caught_count();

	CHECK(guarded(Access::kRead, m.base, kPage, "test read",
		      [&] { memcpy(buf.data(), m.base, kPage); }) == 0);
	CHECK(buf[0] == 'a');
	// Page 1 is backed, page 2 is not: the copy stops inside.
	CHECK(guarded(Access::kRead, m.base + kPage, 2 * kPage, "test read",
		      [&] { memcpy(buf.data(), m.base + kPage, 2 * kPage); }) ==
	      -EIO);
	CHECK(guarded(Access::kWrite, m.base + 3 * kPage, 16, "test write",
		      [&] { memset(m.base + 3 * kPage, 0, 16); }) == -EIO);
	CHECK(zufs::fault::caught_count() == before + 2);
	// The process and the mapping go on.
	CHECK(guarded(Access::kWrite, m.base, 16, "test write",
		      [&] { memset(m.base, 'b', 16); }) == 0);
	CHECK(m.base[0] == 'b');
	// Restored, the pages are back (as zeros: the file was cut).
	REQUIRE(ftruncate(m.fd, off_t(m.len)) == 0);
	CHECK(guarded(Access::kRead, m.base + 3 * kPage, 1, "test read",
		      [&] { buf[0] = m.base[3 * kPage]; }) == 0);
	CHECK(buf[0] == 0);
}

TEST_CASE("guards nest, and each thread has its own", "[fault][guard]")
{
	Shrunk m(2, 1);
	int inner = 1;
	int outer = guarded(Access::kRead, m.base, 1, "outer", [&] {
		inner = guarded(Access::kRead, m.base + kPage, 1, "inner", [&] {
			(void)*static_cast<volatile char *>(m.base + kPage);
		});
		(void)*static_cast<volatile char *>(
			m.base); // still guarded, fine
	});
	CHECK(inner == -EIO);
	CHECK(outer == 0);
	// After the inner one caught, the outer one still catches.
	outer = guarded(Access::kRead, m.base, 1, "outer", [&] {
		inner = guarded(Access::kRead, m.base, 1, "inner", [] {});
		(void)*static_cast<volatile char *>(m.base + kPage);
	});
	CHECK(inner == 0);
	CHECK(outer == -EIO);

	std::atomic<int> failed{ 0 }, ok{ 0 };
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; ++t)
		ts.emplace_back([&, t] {
			for (int i = 0; i < 200; ++i) {
				char *p = m.base + ((i + t) % 2) * kPage;
				int e = guarded(Access::kRead, p, 1, "mt", [&] {
					(void)*static_cast<volatile char *>(p);
				});
				(e ? failed : ok).fetch_add(1);
			}
		});
	for (auto &t : ts)
		t.join();
	CHECK(failed == 400);
	CHECK(ok == 400);
}

TEST_CASE(
	"an unguarded fault in an image page: zeros, the thread and the image marked",
	"[fault][guard]")
{
	{
		Shrunk m(4, 2);
		CHECK(!zufs::fault::media_failed());
		CHECK(!zufs::fault::take_thread_fault());
		char c = *static_cast<volatile char *>(m.base +
						       3 * kPage); // unguarded
		CHECK(c == 0);
		m.base[3 * kPage + 1] = 'z'; // writable, but only in memory
		CHECK(m.base[3 * kPage + 1] == 'z');
		CHECK(zufs::fault::take_thread_fault());
		CHECK(!zufs::fault::take_thread_fault()); // taken
		CHECK(zufs::fault::media_failed());
		// Other pages are still the file's.
		CHECK(m.base[0] == 'a');
	}
	CHECK(!zufs::fault::media_failed()); // gone with its mapping
}

TEST_CASE("an unguarded fault outside an image still kills, after one line",
	  "[fault][guard]")
{
	int pipefd[2];
	REQUIRE(pipe(pipefd) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 2);
		Shrunk m(4, 2, /*reg=*/false);
		(void)*static_cast<volatile char *>(m.base +
						    3 * kPage); // unguarded
		_exit(0);					// not reached
	}
	close(pipefd[1]);
	std::string err;
	char b[512];
	for (ssize_t n; (n = read(pipefd[0], b, sizeof(b))) > 0;)
		err.append(b, size_t(n));
	close(pipefd[0]);
	int st = 0;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	INFO("child stderr: " << err);
	CHECK(err.find("zufuse: SIGBUS at address 0x") != std::string::npos);
	CHECK(err.find("(not in the image)") != std::string::npos);
#if defined(__SANITIZE_ADDRESS__)
	CHECK(!(WIFEXITED(st) &&
		WEXITSTATUS(st) == 0)); // ASan's handler ends it
#else
	CHECK(WIFSIGNALED(st));
	CHECK(WTERMSIG(st) == SIGBUS);
#endif
}
