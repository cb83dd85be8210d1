// SPDX-License-Identifier: BSD-3-Clause
//
// integration.h - Catch2 helpers shared by the integration tests.
#ifndef ZUFUSE_TEST_INTEGRATION_INTEGRATION_H
#define ZUFUSE_TEST_INTEGRATION_INTEGRATION_H

#include <catch2/catch.hpp>

#include "mount_fixture.h"

// Mount or fail the test with zufuse's stderr in the message.
#define REQUIRE_MOUNT(m, ...)                                                  \
	do {                                                                   \
		REQUIRE(!zit::zufuse_path().empty());                          \
		bool mounted_ = (m).mount(__VA_ARGS__);                        \
		INFO("zufuse log:\n" << (m).log());                            \
		REQUIRE(mounted_);                                             \
	} while (0)

#define REQUIRE_UNMOUNT(m)                                                     \
	do {                                                                   \
		int st_ = (m).unmount();                                       \
		INFO("zufuse log:\n" << (m).log());                            \
		REQUIRE(st_ == 0);                                             \
	} while (0)

// After an unmount: fsck.zufs -n finds the image clean (fsck.zufs is always
// built; a missing one fails the check).
#define CHECK_FSCK_CLEAN(m)                                                    \
	do {                                                                   \
		zit::RunResult fsck_ = (m).fsck();                             \
		INFO("fsck.zufs -n: exit " << fsck_.status << "\n"             \
					   << fsck_.out << fsck_.err);         \
		CHECK(fsck_.status == 0);                                      \
	} while (0)

#endif // ZUFUSE_TEST_INTEGRATION_INTEGRATION_H
