// SPDX-License-Identifier: BSD-3-Clause
// The notifier (src/kernel_shim/fuse_notifier.cc): invalidations raised
// while a request is being served leave only after its handler returned
// (i.e. after the reply), and are sent by the notifier thread.
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "kernel_shim/fuse_notifier.h"

namespace {

struct Sent {
	std::mutex lock;
	std::vector<uint64_t> inos;
	std::vector<std::thread::id> threads;

	size_t count()
	{
		std::lock_guard l(lock);
		return inos.size();
	}
	// Wait up to a second for n sends.
	bool wait(size_t n)
	{
		for (int i = 0; i < 1000 && count() < n; ++i)
			std::this_thread::sleep_for(
				std::chrono::milliseconds(1));
		return count() >= n;
	}
};

} // namespace

TEST_CASE("notifier: deferred to the end of the request, other thread",
	  "[notifier]")
{
	Sent sent;
	zuf::FuseNotifier n;
	n.start([&](uint64_t ino, uint64_t, uint64_t) {
		std::lock_guard l(sent.lock);
		sent.inos.push_back(ino);
		sent.threads.push_back(std::this_thread::get_id());
		return 0;
	});

	{
		zuf::FuseNotifier::RequestScope scope(n);
		n.invalidate(7, 0, 4096);
		n.invalidate(8, 4096, 0);
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		CHECK(sent.count() == 0); // the handler has not replied yet
	}
	REQUIRE(sent.wait(2));
	CHECK(sent.inos == std::vector<uint64_t>{ 7, 8 });
	CHECK(sent.threads[0] != std::this_thread::get_id());

	// Outside a request (e.g. the server's own iomap): queued at once.
	n.invalidate(9, 0, 0);
	REQUIRE(sent.wait(3));
	CHECK(sent.inos.back() == 9);
	n.stop();

	// After stop, nothing is sent and nothing blocks.
	n.invalidate(10, 0, 0);
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	CHECK(sent.count() == 3);
}

TEST_CASE("notifier: never started drops quietly", "[notifier]")
{
	zuf::FuseNotifier n;
	n.invalidate(1, 0, 0);
	{
		zuf::FuseNotifier::RequestScope scope(n);
		n.invalidate(2, 0, 0);
	}
	// What was raised before start() was dropped, not kept for later: a
	// notifier started now sends only what comes after.
	Sent sent;
	n.start([&](uint64_t ino, uint64_t, uint64_t) {
		std::lock_guard l(sent.lock);
		sent.inos.push_back(ino);
		return 0;
	});
	n.invalidate(3, 0, 0);
	REQUIRE(sent.wait(1));
	n.stop();
	CHECK(sent.inos == std::vector<uint64_t>{ 3 });
}
