// SPDX-License-Identifier: BSD-3-Clause
//
// inode_cache_test - the shim's inode cache (kernel_shim/inode_cache.cc)
// alone, against a channel that records what it is sent: one server
// reference per cached inode, EVICT or FREE exactly when the last kernel or
// shim reference goes, LOOKUP_RACE for duplicates (also from racing
// threads), a dying inode invisible and waited for, evict_all at umount.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "kernel_shim/inode_cache.h"

using zuf::Inode;
using zuf::InodeCache;
using zuf::Ref;

namespace {

// What the cache sent: EVICT_INODE / FREE_INODE of a cookie, with flags.
struct Sent {
	int op;
	zus_inode_info *ii;
	uint64_t flags;
	uint64_t seq; // order among Sent and the test's own marks
};

// A server that records every message; it may hold one EVICT/FREE of a
// given cookie until released (to look at a dying inode).
class Recorder : public zufs::Channel {
  public:
	int mount(zufs_ioc_mount &) override { return -ENOTSUP; }

	int dispatch(zufs_ioc_hdr *hdr, zufs::page_list) override
	{
		auto *e = reinterpret_cast<zufs_ioc_evict_inode *>(hdr);
		std::unique_lock lk(mu_);
		if (e->zus_ii == hold_) {
			held_ = true;
			cv_.notify_all();
			cv_.wait(lk, [&] { return !hold_; });
		}
		sent.push_back({ hdr->operation, e->zus_ii, e->flags, seq++ });
		return 0;
	}

	// The next message about ii waits in dispatch until release().
	void hold(zus_inode_info *ii)
	{
		std::lock_guard lk(mu_);
		hold_ = ii;
		held_ = false;
	}
	void wait_held()
	{
		std::unique_lock lk(mu_);
		cv_.wait(lk, [&] { return held_; });
	}
	void release()
	{
		std::lock_guard lk(mu_);
		hold_ = nullptr;
		cv_.notify_all();
	}
	std::vector<Sent> log()
	{
		std::lock_guard lk(mu_);
		return sent;
	}

	std::atomic<uint64_t> seq{ 0 };

  private:
	std::mutex mu_;
	std::condition_variable cv_;
	zus_inode_info *hold_ = nullptr;
	bool held_ = false;
	std::vector<Sent> sent;
};

// Server cookies are never dereferenced by the cache: any distinct values.
zus_inode_info *cookie(uintptr_t n)
{
	return reinterpret_cast<zus_inode_info *>(0x10000 + n * 64);
}

zus_inode zi_of(uint64_t ino, uint32_t nlink = 1)
{
	zus_inode zi = {};
	zi.i_ino = ino;
	zi.i_nlink = nlink;
	return zi;
}

// A message as the tests compare it: operation, cookie, flags.
struct Msg {
	int op;
	zus_inode_info *ii;
	uint64_t flags;
	bool operator==(const Msg &) const = default;
};
using Msgs = std::vector<Msg>;

constexpr int kEvict = ZUFS_OP_EVICT_INODE, kFree = ZUFS_OP_FREE_INODE;

Msgs sent(Recorder &ch)
{
	Msgs m;
	for (const Sent &s : ch.log())
		m.push_back({ s.op, s.ii, s.flags });
	return m;
}

} // namespace

TEST_CASE("inode cache: the last reference of either kind evicts, once",
	  "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(5);

	Inode *a = c.insert(cookie(1), &zi, Ref::kernel);
	REQUIRE(a);
	CHECK(a->ino == 5);
	CHECK(a->nlookup == 1);
	CHECK(c.size() == 1);

	Inode *b = c.get(5, Ref::pin);
	CHECK(b == a);
	CHECK(a->pins == 1);
	CHECK(c.get(6, Ref::pin) == nullptr);

	c.forget(5, 1); // the kernel forgets; the pin keeps it
	CHECK(sent(ch).empty());
	CHECK(c.size() == 1);
	c.put(a, Ref::pin); // the last one
	CHECK(sent(ch) == Msgs{ { kEvict, cookie(1), 0 } });
	CHECK(c.size() == 0);
	CHECK(c.get(5, Ref::kernel) == nullptr);
}

TEST_CASE("inode cache: an unlinked inode is freed, i_nlink read at the end",
	  "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(7);
	Inode *a = c.insert(cookie(1), &zi, Ref::kernel);
	REQUIRE(a);
	zi.i_nlink = 0; // unlinked while cached
	c.forget(7, 1);
	CHECK(sent(ch) == Msgs{ { kFree, cookie(1), 0 } });
}

TEST_CASE("inode cache: counts add up; a duplicate answer goes back as "
	  "LOOKUP_RACE",
	  "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(9);
	Inode *a = c.insert(cookie(1), &zi, Ref::kernel);
	Inode *b = c.insert(cookie(1), &zi, Ref::kernel);
	CHECK(a == b);
	CHECK(a->nlookup == 2);
	const Msg race1{ kEvict, cookie(1), ZI_LOOKUP_RACE };
	CHECK(sent(ch) == Msgs{ race1 });

	c.forget(9, 1);
	CHECK(sent(ch) == Msgs{ race1 });
	c.forget(9, 1);
	const Msg evict1{ kEvict, cookie(1), 0 };
	CHECK(sent(ch) == Msgs{ race1, evict1 });

	// forget(n) drops n at once; more than held is clamped (and logged).
	a = c.insert(cookie(2), &zi, Ref::kernel);
	c.insert(cookie(2), &zi, Ref::kernel);
	c.insert(cookie(2), &zi, Ref::kernel);
	CHECK(a->nlookup == 3);
	c.forget(9, 5);
	CHECK(c.size() == 0);
	const Msg race2{ kEvict, cookie(2), ZI_LOOKUP_RACE };
	CHECK(sent(ch) ==
	      Msgs{ race1, evict1, race2, race2, { kEvict, cookie(2), 0 } });
}

TEST_CASE("inode cache: ino 0 from the server is refused and given back",
	  "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(0);
	CHECK(c.insert(cookie(1), &zi, Ref::kernel) == nullptr);
	CHECK(c.size() == 0);
	CHECK(sent(ch) == Msgs{ { kEvict, cookie(1), 0 } });
}

TEST_CASE("inode cache: racing lookups of one ino keep one server reference",
	  "[inode_cache][race]")
{
	Recorder ch;
	InodeCache c(ch);
	constexpr int kThreads = 8, kRounds = 200;
	std::vector<zus_inode> zis;
	for (int r = 0; r < kRounds; ++r)
		zis.push_back(zi_of(100 + r));

	std::atomic<int> ready{ 0 };
	std::vector<std::thread> ts;
	std::vector<std::vector<Inode *>> got(kThreads);
	for (int t = 0; t < kThreads; ++t) {
		ts.emplace_back([&, t] {
			ready.fetch_add(1);
			while (ready.load() < kThreads) {
			}
			for (int r = 0; r < kRounds; ++r)
				got[t].push_back(c.insert(
					cookie(100 + r), &zis[r], Ref::kernel));
		});
	}
	for (auto &t : ts)
		t.join();

	CHECK(c.size() == size_t(kRounds));
	for (int r = 0; r < kRounds; ++r) {
		Inode *first = got[0][r];
		REQUIRE(first);
		for (int t = 1; t < kThreads; ++t)
			CHECK(got[t][r] == first);
		CHECK(first->nlookup == uint64_t(kThreads));
	}
	size_t races = 0;
	for (const Sent &s : ch.log())
		races += s.op == ZUFS_OP_EVICT_INODE &&
			 s.flags == ZI_LOOKUP_RACE;
	CHECK(races == size_t(kRounds) * (kThreads - 1));

	for (int r = 0; r < kRounds; ++r)
		c.forget(100 + r, kThreads);
	CHECK(c.size() == 0);
	size_t evicts = 0;
	for (const Sent &s : ch.log())
		evicts += s.op == ZUFS_OP_EVICT_INODE && s.flags == 0;
	CHECK(evicts == size_t(kRounds));
}

TEST_CASE("inode cache: a dying inode is invisible, and a new lookup waits "
	  "for its EVICT",
	  "[inode_cache][race]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(11);
	Inode *a = c.insert(cookie(1), &zi, Ref::kernel);
	REQUIRE(a);

	ch.hold(cookie(1));
	std::thread evictor([&] { c.forget(11, 1); });
	ch.wait_held(); // EVICT of cookie 1 is in flight

	CHECK(c.get(11, Ref::pin) == nullptr); // dying: not found
	CHECK(c.size() == 1);		       // but still in the map

	uint64_t inserted_at = 0;
	Inode *b = nullptr;
	std::thread lookup([&] {
		b = c.insert(cookie(2), &zi, Ref::kernel);
		inserted_at = ch.seq++;
	});
	ch.release();
	evictor.join();
	lookup.join();

	REQUIRE(b);
	CHECK(b->zus_ii == cookie(2)); // a new Inode, not the dying one
	CHECK(b->nlookup == 1);
	CHECK(sent(ch) == Msgs{ { kEvict, cookie(1), 0 } }); // no LOOKUP_RACE
	CHECK(ch.log()[0].seq < inserted_at);
	c.forget(11, 1);
	CHECK(c.size() == 0);
}

TEST_CASE("inode cache: evict_all drops every server reference at umount",
	  "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode z1 = zi_of(1), z2 = zi_of(2), z3 = zi_of(3, 0);
	c.insert(cookie(1), &z1, Ref::kernel);
	c.insert(cookie(2), &z2, Ref::pin);
	c.insert(cookie(3), &z3, Ref::kernel);
	c.insert(cookie(3), &z3, Ref::kernel); // one race
	c.evict_all();
	CHECK(c.size() == 0);
	int evicts = 0, frees = 0;
	for (const Sent &s : ch.log()) {
		if (s.flags == ZI_LOOKUP_RACE)
			continue;
		evicts += s.op == ZUFS_OP_EVICT_INODE;
		frees += s.op == ZUFS_OP_FREE_INODE && s.ii == cookie(3);
	}
	CHECK(evicts == 2);
	CHECK(frees == 1);
}

TEST_CASE("inode cache: PinnedInode holds a pin for its scope", "[inode_cache]")
{
	Recorder ch;
	InodeCache c(ch);
	zus_inode zi = zi_of(4);
	Inode *a = c.insert(cookie(1), &zi, Ref::kernel);
	{
		zuf::PinnedInode p(c, 4);
		REQUIRE(p);
		CHECK(p.get() == a);
		CHECK(a->pins == 1);
		c.forget(4, 1);
		CHECK(sent(ch).empty()); // pinned
		zuf::PinnedInode none(c, 99);
		CHECK_FALSE(none);
	}
	CHECK(sent(ch) == Msgs{ { kEvict, cookie(1), 0 } });
	CHECK(c.size() == 0);
}
