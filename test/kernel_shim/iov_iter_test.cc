// SPDX-License-Identifier: BSD-3-Clause
// iov_iter: page descriptors of the data at the cursor, advance, revert,
// truncate (src/kernel_shim/iov_iter.cc).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>
#include <vector>

#include "kernel_shim/iov_iter.h"
#include "zufs/zus_api.h"

using zuf::IovIter;

namespace {

struct Buffer {
	explicit Buffer(size_t size)
	    : p(static_cast<char *>(std::aligned_alloc(PAGE_SIZE, size)))
	{
	}
	~Buffer() { std::free(p); }
	char *p;
};

char *page_of(const void *p)
{
	return reinterpret_cast<char *>(reinterpret_cast<uintptr_t>(p) &
					~(PAGE_SIZE - 1));
}

std::vector<void *> pages_buf(ZUS_API_MAP_MAX_PAGES);

} // namespace

TEST_CASE("iov_iter: zero length", "[iov_iter]")
{
	char c;
	iovec v[] = { { &c, 0 } };
	IovIter ii(v);
	size_t start = 99;
	CHECK(ii.count() == 0);
	CHECK(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) == 0);

	IovIter empty;
	CHECK(empty.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) == 0);
}

TEST_CASE("iov_iter: one byte", "[iov_iter]")
{
	Buffer b(2 * PAGE_SIZE);
	iovec v[] = { { b.p + PAGE_SIZE + 17, 1 } };
	IovIter ii(v);
	size_t start;
	REQUIRE(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) == 1);
	CHECK(start == 17);
	CHECK(pages_buf[0] == b.p + PAGE_SIZE);
	ii.advance(1);
	CHECK(ii.count() == 0);
	CHECK(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) == 0);
}

TEST_CASE("iov_iter: page-unaligned run spans pages", "[iov_iter]")
{
	Buffer b(4 * PAGE_SIZE);
	iovec v[] = { { b.p + 4000, 200 } }; // crosses one page boundary
	IovIter ii(v);
	size_t start;
	REQUIRE(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) == 200);
	CHECK(start == 4000);
	CHECK(pages_buf[0] == b.p);
	CHECK(pages_buf[1] == b.p + PAGE_SIZE);

	// max_bytes and page limits
	CHECK(ii.get_pages(pages_buf, 50, &start) == 50);
	CHECK(ii.get_pages(std::span(pages_buf).first(1), 1000, &start) ==
	      PAGE_SIZE - 4000);
}

TEST_CASE("iov_iter: multi-iovec joins only at page edges", "[iov_iter]")
{
	Buffer b(8 * PAGE_SIZE);
	size_t start;

	SECTION("page-aligned joint: one run")
	{
		iovec v[] = { { b.p + 100, PAGE_SIZE - 100 },
			      { b.p + 4 * PAGE_SIZE, 2 * PAGE_SIZE + 5 } };
		IovIter ii(v);
		size_t n =
			ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start);
		CHECK(n == 3 * PAGE_SIZE + 5 - 100);
		CHECK(start == 100);
		CHECK(pages_buf[0] == b.p);
		CHECK(pages_buf[1] == b.p + 4 * PAGE_SIZE);
		CHECK(pages_buf[2] == b.p + 5 * PAGE_SIZE);
		CHECK(pages_buf[3] == b.p + 6 * PAGE_SIZE);
	}
	SECTION("unaligned joint: stops at the segment end")
	{
		iovec v[] = { { b.p, 10 },
			      { nullptr, 0 },
			      { b.p + 2 * PAGE_SIZE, 20 } };
		IovIter ii(v);
		CHECK(ii.count() == 30);
		CHECK(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) ==
		      10);
		ii.advance(10);
		CHECK(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) ==
		      20);
		CHECK(start == 0);
		CHECK(pages_buf[0] == b.p + 2 * PAGE_SIZE);
		ii.advance(5);
		ii.revert(10); // back over the empty segment
		CHECK(ii.count() == 25);
		CHECK(ii.get_pages(pages_buf, ZUS_API_MAP_MAX_SIZE, &start) ==
		      5);
		CHECK(start == 5);
	}
}

TEST_CASE("iov_iter: more than 4 MiB, and exact 4 MiB boundaries", "[iov_iter]")
{
	const size_t kMax = ZUS_API_MAP_MAX_SIZE;
	Buffer b(3 * kMax);
	size_t start;

	SECTION("aligned 4 MiB exactly: one full chunk")
	{
		iovec v[] = { { b.p, kMax } };
		IovIter ii(v);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == kMax);
		CHECK(start == 0);
		CHECK(pages_buf[ZUS_API_MAP_MAX_PAGES - 1] ==
		      b.p + kMax - PAGE_SIZE);
	}
	SECTION("aligned 4 MiB + 1: two chunks")
	{
		iovec v[] = { { b.p, kMax + 1 } };
		IovIter ii(v);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == kMax);
		ii.advance(kMax);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == 1);
		CHECK(pages_buf[0] == b.p + kMax);
	}
	SECTION("unaligned: the page limit cuts first")
	{
		iovec v[] = { { b.p + 1, 2 * kMax } };
		IovIter ii(v);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == kMax - 1);
		CHECK(start == 1);
		ii.advance(kMax - 1);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == kMax);
		CHECK(start == 0);
		CHECK(pages_buf[0] == b.p + kMax);
	}
	SECTION("truncate")
	{
		iovec v[] = { { b.p, 2 * kMax } };
		IovIter ii(v);
		ii.truncate(kMax + 7);
		CHECK(ii.count() == kMax + 7);
		ii.advance(kMax);
		CHECK(ii.get_pages(pages_buf, kMax, &start) == 7);
		ii.truncate(100);
		CHECK(ii.count() == 7);
	}
}

TEST_CASE("iov_iter: advance/revert across segments", "[iov_iter]")
{
	Buffer b(4 * PAGE_SIZE);
	iovec v[] = { { b.p, 100 },
		      { b.p + PAGE_SIZE, 0 },
		      { b.p + 2 * PAGE_SIZE + 8, 50 } };
	IovIter ii(v);
	size_t start;
	ii.advance(120);
	CHECK(ii.count() == 30);
	CHECK(ii.get_pages(pages_buf, PAGE_SIZE, &start) == 30);
	CHECK(start == 28);
	ii.revert(120);
	CHECK(ii.count() == 150);
	CHECK(ii.get_pages(pages_buf, PAGE_SIZE, &start) == 100);
	CHECK(start == 0);
	CHECK(page_of(pages_buf[0]) == b.p);
}
