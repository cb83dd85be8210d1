// SPDX-License-Identifier: BSD-3-Clause
#include "explorer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "iomap/executor.h"
#include "iomap/t2.h"
#include "server/persist.h"
#include "server/persist_file.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"

using namespace ztest;

namespace zcrash {

namespace {

constexpr uint64_t kImage = 16ULL << 20;

struct Event {
	bool fence;
	size_t off;
	std::string bytes;
};

// The recorder (one workload at a time; workloads are single-threaded).
struct Recorder {
	std::mutex mu;
	bool on = false;
	const char *base = nullptr;
	size_t len = 0;
	std::vector<Event> log;
	std::vector<char> logged; // the start image plus every logged store
	std::vector<std::pair<size_t, size_t>> stores; // not yet captured

	void add(size_t off, size_t n)
	{
		log.push_back({ false, off, std::string(base + off, n) });
		memcpy(logged.data() + off, base + off, n);
	}
	void capture_stores()
	{
		for (auto [off, n] : stores)
			add(off, n);
		stores.clear();
	}
} g_rec;

void record(zus::PersistEvent ev, const void *addr, size_t n)
{
	Recorder &r = g_rec;
	std::lock_guard lk(r.mu);
	if (!r.on)
		return;
	r.capture_stores();
	const char *p = static_cast<const char *>(addr);
	bool inside = p >= r.base && p + n <= r.base + r.len && n;
	switch (ev) {
	case zus::PersistEvent::STORE:
		if (inside)
			r.stores.emplace_back(p - r.base, n);
		break;
	case zus::PersistEvent::FLUSH:
		if (inside)
			r.add(p - r.base, n);
		break;
	case zus::PersistEvent::DRAIN:
		r.log.push_back({ true, 0, {} });
		break;
	case zus::PersistEvent::SYNC_ALL:
		for (size_t off = 0; off < r.len; off += 4096)
			if (memcmp(r.base + off, r.logged.data() + off, 4096))
				r.add(off, 4096);
		r.log.push_back({ true, 0, {} });
		break;
	}
}

size_t log_pos()
{
	std::lock_guard lk(g_rec.mu);
	g_rec.capture_stores();
	return g_rec.log.size();
}

// Tier 2 of a workload (Workload::t2_blocks): the shim's part, iomaps
// executed through src/iomap against a T2 file, and the T2 snapshots.
struct T2Zuf final : zufs::ZufCalls {
	std::string path;
	uint64_t blocks = 0;
	std::unique_ptr<iomap::T2Device> t2;
	zufs::Channel *srv = nullptr;
	std::vector<zufs_pool_info> pools;
	bool snapshots = false;
	// (log position, T2 content after an iomap that ran then)
	std::vector<std::pair<size_t, std::string>> snaps;

	std::string content() const { return zit_read(path); }
	static std::string zit_read(const std::string &p)
	{
		std::string all;
		int fd = open(p.c_str(), O_RDONLY);
		char buf[65536];
		for (ssize_t n;
		     fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0;)
			all.append(buf, size_t(n));
		if (fd >= 0)
			close(fd);
		return all;
	}
	void put(const std::string &bytes) const
	{
		int fd = open(path.c_str(), O_WRONLY);
		REQUIRE(fd >= 0);
		REQUIRE(pwrite(fd, bytes.data(), bytes.size(), 0) ==
			ssize_t(bytes.size()));
		close(fd);
	}
	void snap()
	{
		if (snapshots)
			snaps.emplace_back(log_pos(), content());
	}
	// Mounted: pmem and the evictor's bounce pool, as the shim learns them.
	void set_pools(Fs &fs)
	{
		pools = { zufs_pool_info{ uint64_t(uintptr_t(fs.base)),
					  fs.pool_size } };
		zufs_pool_info b = zus::pmfs::tier_pool(*fs.sbi);
		if (b.size)
			pools.push_back(b);
	}
	int iomap_exec(zufs_ioc_iomap_exec *ioc) override
	{
		iomap::ExecEnv env;
		env.pools = pools;
		env.t2 = t2.get();
		int err;
		if (ioc->wait_for_done) {
			err = iomap::execute(ioc->ziom.iom_e, ioc->ziom.iom_n,
					     env);
			snap();
		} else {
			zus_sb_info *sbi = ioc->zus_sbi;
			zus_iomap_build *iomb = ioc->ziom.iomb;
			err = iomap::execute_async(
				ioc->ziom.iom_e, ioc->ziom.iom_n, env,
				[this, sbi, iomb](int result) {
				snap();
				ztest::iom_done(srv, sbi, iomb, result);
				});
			if (!err)
				return 0;
		}
		ioc->hdr.err = err;
		return err;
	}
};

// The T2 of the workload running now (nullptr: none).
T2Zuf *g_t2 = nullptr;

// Mount options for fs: the workload's T2 size, when it has one.
std::string with_t2(const std::string &opts)
{
	if (!g_t2)
		return opts;
	std::string t = "t2size=" + std::to_string(g_t2->blocks * 4096);
	return opts.empty() ? t : opts + "," + t;
}

// fs talks to g_t2 (before its first mount).
void attach_t2(Fs &fs)
{
	if (!g_t2)
		return;
	fs.srv = zus::make_server(g_t2);
	g_t2->srv = fs.srv.get();
}

// Silence the recovery lines of hundreds of mounts.
struct QuietStderr {
	QuietStderr()
	{
		fflush(stderr);
		saved = dup(2);
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		close(fd);
	}
	~QuietStderr()
	{
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
	}
	int saved;
};

// Every xattr of f, by full name, into *out.
void read_xattrs(Fs &fs, Inode f, const std::string &path, Node *out,
		 std::string *why)
{
	std::string list;
	if (fs.xattr_get(f, 0, "", 128 * 1024, &list, nullptr,
			 ZUFS_OP_XATTR_LIST)) {
		*why += "xattr list failed: " + path + "\n";
		return;
	}
	static const std::pair<const char *, uint8_t> ns[] = {
		{ "user.", ZUFS_XF_USER },
		{ "trusted.", ZUFS_XF_TRUSTED },
		{ "security.", ZUFS_XF_SECURITY },
		{ "system.", ZUFS_XF_SYSTEM }
	};
	for (size_t at = 0; at < list.size();) {
		size_t z = list.find('\0', at);
		if (z == list.npos)
			z = list.size();
		std::string full = list.substr(at, z - at);
		at = z + 1;
		uint8_t type = 0;
		std::string name;
		for (auto &[pre, t] : ns)
			if (full.rfind(pre, 0) == 0) {
				type = t;
				name = full.substr(strlen(pre));
			}
		std::string v;
		if (!type || fs.xattr_get(f, type, name, 128 * 1024, &v)) {
			*why += "xattr get failed: " + path + " " + full + "\n";
			continue;
		}
		out->xattrs[full] = v;
	}
}

void read_tree(Fs &fs, Inode dir, const std::string &prefix, Model *out,
	       std::string *why, int depth = 0)
{
	if (depth > 16) {
		*why += "tree too deep\n";
		return;
	}
	for (auto &e : fs.readdir(dir)) {
		if (e.name == "." || e.name == "..")
			continue;
		std::string path =
			prefix.empty() ? e.name : prefix + "/" + e.name;
		Inode c;
		if (fs.lookup(dir, e.name, &c)) {
			*why += "lookup failed: " + path + "\n";
			continue;
		}
		Node n;
		if (S_ISDIR(c.zi->i_mode)) {
			n.type = 'd';
			read_tree(fs, c, path, out, why, depth + 1);
		} else if (S_ISREG(c.zi->i_mode)) {
			int err = 0;
			n.data = fs.read(c, 0, c.zi->i_size, 0, &err);
			if (err)
				*why += "read failed: " + path + "\n";
		} else if (S_ISLNK(c.zi->i_mode)) {
			n.type = 'l';
			n.data = std::to_string(c.zi->i_size);
		} else {
			n.type = 'o';
		}
		if (n.type == 'f' || n.type == 'd')
			read_xattrs(fs, c, path, &n, why);
		(*out)[path] = std::move(n);
		fs.evict(c);
	}
}

// "" when the tree matches model m, else the first difference.
// Bytes that later operations (up to the last one in flight) overwrote
// without a sync may already be on media: unsure too.
std::string compare(const Model &got, const Model &m,
		    const std::vector<Model> &states, size_t from, size_t to)
{
	for (auto &[p, n] : m) {
		auto it = got.find(p);
		if (it == got.end())
			return "missing " + p;
		const Node &g = it->second;
		if (g.type != n.type)
			return "type of " + p;
		if (g.xattrs != n.xattrs)
			return "xattrs of " + p;
		if (n.type == 'l' || n.type == 'o' || n.type == 'd')
			continue;
		if (g.data.size() != n.data.size())
			return "size of " + p + ": " +
			       std::to_string(g.data.size()) + " vs " +
			       std::to_string(n.data.size());
		for (size_t i = 0; i < n.data.size(); ++i) {
			if (g.data[i] == n.data[i] ||
			    (i < n.unsure.size() && n.unsure[i]))
				continue;
			// A data write is not atomic: each byte old or new.
			bool later = false;
			for (size_t j = from;
			     j <= to && j < states.size() && !later; ++j) {
				auto it2 = states[j].find(p);
				if (it2 == states[j].end())
					continue;
				const Node &l = it2->second;
				later = (i < l.unsure.size() && l.unsure[i]) ||
					(i < l.data.size() &&
					 l.data[i] == g.data[i]);
			}
			if (!later)
				return "content of " + p + " at " +
				       std::to_string(i);
		}
	}
	for (auto &[p, n] : got)
		if (!m.count(p))
			return "unexpected " + p;
	return "";
}

// What is wrong with the crash image fs names ("": nothing). Mounted
// read-only (ro_opts: the journal rolled back, nothing finished), the
// orphan table lists all that recovery must do; mounted (opts), fsck finds
// it clean and its tree is one of states[first..last] (and also(tree), a
// further check of it, says "").
std::string judge(Fs &fs, const std::string &ro_opts, const std::string &opts,
		  const std::vector<Model> &states, size_t first, size_t last,
		  const std::function<std::string(const Model &)> &also = {})
{
	std::string fail;
	if (fs.mount(ro_opts)) {
		fail = "read-only mount failed: " + fs.errmsg;
	} else {
		auto r = fs.check();
		if (r.orphan_table_errors)
			fail = "orphan table before recovery: " + r.report;
		fs.umount();
	}
	if (!fail.empty())
		return fail;
	if (fs.mount(opts))
		return "mount failed: " + fs.errmsg;
	if (g_t2)
		g_t2->set_pools(fs);
	auto r = fs.check();
	if (r.errors)
		fail = "fsck: " + r.report;
	Model got;
	std::string why;
	read_tree(fs, fs.root, "", &got, &why);
	if (!why.empty())
		fail += why;
	std::string best;
	bool ok = false;
	for (size_t j = first; j <= last && !ok; ++j) {
		std::string d = compare(got, states[j], states, j, last);
		ok = d.empty();
		best += (best.empty() ? "" : " | ") +
			("state " + std::to_string(j) + ": ") + d;
	}
	if (!ok)
		fail += "oracle: " + best;
	if (also)
		fail += also(got);
	return fail;
}

// A crash state failed (at: which one, first: the first operation in
// flight); the first few are told in st->first_failure.
void note_failure(Stats *st, const Options &o, const Workload &w, size_t first,
		  const std::string &at, const std::string &fail)
{
	++st->failures;
	if (st->failures > uint64_t(o.max_failures_reported))
		return;
	std::string op = first < w.ops.size() ? w.ops[first].name : "end";
	st->first_failure +=
		w.name + ": " + at + " (op '" + op + "'): " + fail + "\n";
}

} // namespace

Inode resolve(Fs &fs, const std::string &path)
{
	Inode cur = fs.root;
	size_t at = 0;
	bool owned = false;
	while (at < path.size()) {
		size_t slash = path.find('/', at);
		std::string part = path.substr(
			at, slash == path.npos ? path.npos : slash - at);
		Inode next;
		int err = fs.lookup(cur, part, &next);
		if (owned)
			fs.evict(cur);
		if (err)
			return Inode{};
		cur = next;
		owned = true;
		at = slash == path.npos ? path.size() : slash + 1;
	}
	return cur;
}

void put(Fs &fs, Inode i)
{
	if (i && i.ii != fs.root.ii)
		fs.evict(i);
}

std::string dirname_of(const std::string &p)
{
	size_t s = p.rfind('/');
	return s == p.npos ? "" : p.substr(0, s);
}
std::string basename_of(const std::string &p)
{
	size_t s = p.rfind('/');
	return s == p.npos ? p : p.substr(s + 1);
}

Op op_create(const std::string &path, char type)
{
	return { "create " + path, [=](Fs &fs, Model &m) {
			Inode d = resolve(fs, dirname_of(path));
			REQUIRE(d);
			uint16_t mode =
				type == 'd' ? S_IFDIR | 0755 : S_IFREG | 0644;
			REQUIRE(fs.create(d, basename_of(path), mode) == 0);
			put(fs, d);
			m[path].type = type;
		} };
}

Op op_symlink(const std::string &path, const std::string &target)
{
	return { "symlink " + path,
		 [=](Fs &fs, Model &m) {
		Inode d = resolve(fs, dirname_of(path));
		REQUIRE(fs.create(d, basename_of(path), S_IFLNK | 0777, nullptr,
				  target) == 0);
		put(fs, d);
		m[path] = Node{ 'l', std::to_string(target.size()), {}, {} };
		} };
}

Op op_link(const std::string &from, const std::string &to)
{
	return { "link " + from + " " + to, [=](Fs &fs, Model &m) {
			Inode f = resolve(fs, from),
			      d = resolve(fs, dirname_of(to));
			REQUIRE(fs.link(d, f, basename_of(to)) == 0);
			put(fs, f);
			put(fs, d);
			m[to] = m[from];
		} };
}

// Hard links share data in the model: writes go to every name of the inode.
namespace {
std::vector<std::string> aliases(Fs &fs, Model &m, const std::string &path)
{
	std::vector<std::string> out;
	Inode f = resolve(fs, path);
	for (auto &[p, n] : m) {
		if (n.type != 'f')
			continue;
		Inode g = resolve(fs, p);
		if (g && g.ii == f.ii)
			out.push_back(p);
		put(fs, g);
	}
	put(fs, f);
	return out;
}
} // namespace

Op op_unlink(const std::string &path)
{
	return { "unlink " + path, [=](Fs &fs, Model &m) {
			Inode d = resolve(fs, dirname_of(path));
			REQUIRE(fs.unlink(d, basename_of(path)) == 0);
			put(fs, d);
			m.erase(path);
		} };
}

Op op_rename(const std::string &from, const std::string &to, uint64_t flags)
{
	return { "rename " + from + " " + to,
		 [=](Fs &fs, Model &m) {
		Inode od = resolve(fs, dirname_of(from)),
		      nd = resolve(fs, dirname_of(to));
		REQUIRE(fs.rename(od, basename_of(from), nd, basename_of(to),
				  flags) == 0);
		put(fs, od);
		put(fs, nd);
		Model next;
		auto moved = [&](const std::string &p, const std::string &a,
				 const std::string &b) -> std::string {
			if (p == a)
				return b;
			if (p.rfind(a + "/", 0) == 0)
				return b + p.substr(a.size());
			return "";
		};
		for (auto &[p, n] : m) {
			std::string q = moved(p, from, to);
			if (flags & RENAME_EXCHANGE) {
				std::string r = moved(p, to, from);
				next[!q.empty() ? q : !r.empty() ? r : p] = n;
			} else if (!q.empty()) {
				next[q] = n;
			} else if (!moved(p, to, to).empty()) {
				continue; // replaced
			} else {
				next[p] = n;
			}
		}
		m = std::move(next);
		} };
}

Op op_write(const std::string &path, uint64_t pos, const std::string &data,
	    bool dsync)
{
	Op op{ std::string(dsync ? "dsync " : "") + "write " + path + " @" +
		       std::to_string(pos) + "+" + std::to_string(data.size()),
	       [=](Fs &fs, Model &m) {
		auto names = aliases(fs, m, path);
		Inode f = resolve(fs, path);
		REQUIRE(fs.write(f, pos, data, 0, dsync ? ZUFS_IO_DSYNC : 0) ==
			0);
		put(fs, f);
		for (auto &p : names) {
			Node &n = m[p];
			uint64_t old = n.data.size();
			uint64_t alloc_end = (old + 4095) / 4096 * 4096;
			if (n.data.size() < pos + data.size())
				n.data.resize(pos + data.size(), '\0');
			n.unsure.resize(n.data.size(), false);
			memcpy(n.data.data() + pos, data.data(), data.size());
			for (uint64_t i = pos; i < pos + data.size(); ++i)
				if (i < alloc_end && !dsync)
					n.unsure[i] = true;
				else if (dsync)
					n.unsure[i] = false;
		}
	      } };
	if (dsync) {
		op.dsync_path = path;
		op.dsync_pos = pos;
		op.dsync_len = data.size();
	}
	return op;
}

Op op_truncate(const std::string &path, uint64_t size)
{
	return { "truncate " + path + " " + std::to_string(size),
		 [=](Fs &fs, Model &m) {
		auto names = aliases(fs, m, path);
		Inode f = resolve(fs, path);
		REQUIRE(fs.setattr(f, STATX_SIZE, size) == 0);
		put(fs, f);
		for (auto &p : names) {
			Node &n = m[p];
			uint64_t old = n.data.size();
			n.data.resize(size, '\0');
			n.unsure.resize(size, false);
			// The zeroed tail of a kept partial block.
			for (uint64_t i = std::min(old, size);
			     i < size && i < old + 4096; ++i)
				n.unsure[i] = true;
		}
		} };
}

Op op_evict(const std::string &path, uint64_t idx, bool may_fail)
{
	return { "evict " + path + " block " + std::to_string(idx),
		 [=](Fs &fs, Model &) {
		Inode f = resolve(fs, path);
		int err = zus::pmfs::tier_evict_block(f.ii, idx);
		put(fs, f);
		if (!(may_fail && err == -ENOSPC))
			REQUIRE(err == 0);
		} };
}

Op op_make_room(uint64_t want)
{
	return { "make room " + std::to_string(want), [=](Fs &fs, Model &) {
			zus::pmfs::tier_make_room(*fs.sbi, want);
		} };
}

Op op_read(const std::string &path, uint64_t pos, uint64_t len, bool cold)
{
	return { std::string(cold ? "cold " : "") + "read " + path + " " +
			 std::to_string(pos) + "+" + std::to_string(len),
		 [=](Fs &fs, Model &m) {
		Inode f = resolve(fs, path);
		const std::string &want = m[path].data;
		std::string expect =
			pos < want.size() ? want.substr(pos, len) : "";
		std::string got;
		if (!cold) {
			got = fs.read(f, pos, len);
		} else {
			// As the shim sends a random READ: room for an iomap,
			// which it executes into the request's pages.
			Buf b(len, uint32_t(pos % 4096));
			zufs_ioc_IO io{};
			io.hdr.operation = ZUFS_OP_READ;
			io.hdr.offset = b.offset;
			io.hdr.len = uint32_t(len);
			io.zus_ii = f.ii;
			io.filepos = pos;
			io.last_pos = pos;
			io.flags = ZUFS_IO_RAND;
			io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
			const zufs_ioc_IO in = io;
			int err;
			// A block read lately promotes: RETRY, its iomap, again
			// with the token (rw.cc).
			for (int tries = 0;
			     (err = fs.dispatch(&io.hdr, sizeof(io),
						b.list())) == -EZUFS_RETRY &&
			     tries < 4;
			     ++tries) {
				iomap::ExecEnv env;
				env.pools = g_t2->pools;
				env.t2 = g_t2->t2.get();
				REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n,
						       env) == 0);
				zus_iomap_build *token = io.ziom.iomb;
				io = in;
				io.ziom.iomb = token;
			}
			REQUIRE(err == 0);
			if (io.ziom.iom_n) {
				iomap::ExecEnv env;
				env.pools = g_t2->pools;
				env.app_pages = b.list();
				env.t2 = g_t2->t2.get();
				REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n,
						       env) == 0);
			}
			got = std::string(b.data(), io.last_pos - pos);
		}
		put(fs, f);
		REQUIRE(got == expect);
		} };
}

Op op_sync()
{
	return { "sync", [](Fs &fs, Model &m) {
			REQUIRE(fs.sync(fs.root) == 0);
			for (auto &[p, n] : m)
				n.unsure.assign(n.data.size(), false);
		} };
}

Op op_datasync(const std::string &path)
{
	Op op{ "fdatasync " + path, [=](Fs &fs, Model &m) {
		      Inode f = resolve(fs, path);
		      zufs_ioc_sync s{};
		      s.hdr.operation = ZUFS_OP_SYNC;
		      s.zus_ii = f.ii;
		      s.flags = ZUFS_SF_DATASYNC;
		      REQUIRE(fs.dispatch(&s.hdr, sizeof(s)) == 0);
		      put(fs, f);
		      for (auto &p : aliases(fs, m, path))
			      m[p].unsure.assign(m[p].data.size(), false);
	      } };
	op.dsync_path = path;
	op.dsync_len = UINT64_MAX;
	return op;
}

Op op_fallocate(const std::string &path, uint64_t mode, uint64_t off,
		uint64_t len)
{
	return { "fallocate " + path + " mode " + std::to_string(mode) + " @" +
			 std::to_string(off) + "+" + std::to_string(len),
		 [=](Fs &fs, Model &m) {
		auto names = aliases(fs, m, path);
		Inode f = resolve(fs, path);
		REQUIRE(fs.falloc(f, mode, off, len) == 0);
		put(fs, f);
		bool keep = mode & FALLOC_FL_KEEP_SIZE;
		bool zero =
			mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
		for (auto &p : names) {
			Node &n = m[p];
			uint64_t old = n.data.size();
			if (!keep && off + len > old) {
				n.data.resize(off + len, '\0');
				n.unsure.resize(off + len, false);
				// As truncate: the tail of the old partial block.
				for (uint64_t i = old;
				     i < off + len && i < old + 4096; ++i)
					n.unsure[i] = true;
			}
			if (zero)
				for (uint64_t i = off;
				     i < off + len && i < n.data.size(); ++i) {
					n.data[i] = '\0';
					n.unsure[i] = false;
				}
		}
		} };
}

Op op_xattr(const std::string &path, const std::string &name,
	    const std::string &value, uint16_t flags)
{
	return { std::string(flags & ZUFS_XATTR_REMOVE ? "removexattr " :
							 "setxattr ") +
			 path + " user." + name +
			 (flags & XATTR_REPLACE ? " (replace)" : ""),
		 [=](Fs &fs, Model &m) {
		auto names = aliases(fs, m, path);
		if (names.empty())
			names.push_back(path); // a directory
		Inode f = resolve(fs, path);
		REQUIRE(fs.xattr_set(f, ZUFS_XF_USER, name, value, flags) == 0);
		put(fs, f);
		for (auto &p : names)
			if (flags & ZUFS_XATTR_REMOVE)
				m[p].xattrs.erase("user." + name);
			else
				m[p].xattrs["user." + name] = value;
		} };
}

Op op_copy(const std::string &src, uint64_t pin, const std::string &dst,
	   uint64_t pout, uint64_t len)
{
	return { "copy " + src + " @" + std::to_string(pin) + " " + dst + " @" +
			 std::to_string(pout) + "+" + std::to_string(len),
		 [=](Fs &fs, Model &m) {
		auto names = aliases(fs, m, dst);
		const std::string &sd = m[src].data;
		std::string data = pin < sd.size() ? sd.substr(pin, len) : "";
		Inode s = resolve(fs, src), d = resolve(fs, dst);
		uint64_t copied = 0;
		REQUIRE(fs.copy(s, pin, d, pout, len, &copied) == 0);
		REQUIRE(copied == data.size());
		put(fs, s);
		put(fs, d);
		for (auto &p : names) {
			Node &n = m[p];
			uint64_t old = n.data.size();
			uint64_t alloc_end = (old + 4095) / 4096 * 4096;
			if (n.data.size() < pout + data.size())
				n.data.resize(pout + data.size(), '\0');
			n.unsure.resize(n.data.size(), false);
			memcpy(n.data.data() + pout, data.data(), data.size());
			for (uint64_t i = pout; i < pout + data.size(); ++i)
				if (i < alloc_end)
					n.unsure[i] = true;
		}
		} };
}

namespace {
// Open handles of the recorded workload (one workload at a time).
std::map<std::string, Inode> g_open;
} // namespace

Op op_open(const std::string &path, const std::string &handle)
{
	return { "open " + path, [=](Fs &fs, Model &) {
			Inode f = resolve(fs, path);
			REQUIRE(f);
			g_open[handle] = f;
		} };
}

Op op_close(const std::string &handle)
{
	return { "close " + handle,
		 [=](Fs &fs, Model &) {
		Inode f = g_open.at(handle);
		g_open.erase(handle);
		REQUIRE(fs.evict(f, 0,
				 f.zi->i_nlink ? ZUFS_OP_EVICT_INODE :
						 ZUFS_OP_FREE_INODE) == 0);
		} };
}

Op op_truncate_open(const std::string &handle, uint64_t size)
{
	return { "truncate open " + handle + " " + std::to_string(size),
		 [=](Fs &fs, Model &) {
		REQUIRE(fs.setattr(g_open.at(handle), STATX_SIZE, size) == 0);
		} };
}

Op op_tmpfile(const std::string &handle)
{
	return { "tmpfile " + handle, [=](Fs &fs, Model &) {
			zufs_ioc_new_inode ni{};
			ni.hdr.operation = ZUFS_OP_NEW_INODE;
			ni.zi.i_mode = S_IFREG | 0600;
			ni.dir_ii = fs.root.ii;
			ni.flags = ZI_TMPFILE;
			REQUIRE(fs.dispatch(&ni.hdr, sizeof(ni)) == 0);
			g_open[handle] = Inode{ ni.zus_ii, fs.zi_at(ni._zi) };
		} };
}

Op op_link_open(const std::string &handle, const std::string &to)
{
	return { "link open " + handle + " " + to, [=](Fs &fs, Model &m) {
			Inode f = g_open.at(handle),
			      d = resolve(fs, dirname_of(to));
			REQUIRE(fs.link(d, f, basename_of(to)) == 0);
			put(fs, d);
			Node n;
			int err = 0;
			n.data = fs.read(f, 0, f.zi->i_size, 0, &err);
			REQUIRE(err == 0);
			m[to] = n;
		} };
}

Stats explore(const Workload &w, const Options &o)
{
	Stats st;
	Model model;
	std::vector<Model> states; // states[j]: after ops[0..j)
	std::vector<size_t> start, end;
	std::vector<char> base_img;
	std::unique_ptr<T2Zuf> t2;
	if (w.t2_blocks) {
		t2 = std::make_unique<T2Zuf>();
		t2->path = "/dev/shm/zufs-crash-t2-" + std::to_string(getpid());
		t2->blocks = w.t2_blocks;
		unlink(t2->path.c_str());
		REQUIRE(iomap::T2Device::open(t2->path, w.t2_blocks * 4096,
					      &t2->t2) == 0);
	}
	g_t2 = t2.get();
	struct Clear {
		~Clear()
		{
			if (g_t2)
				unlink(g_t2->path.c_str());
			g_t2 = nullptr;
		}
	} clear;
	std::string t2_base; // T2 when recording starts
	{
		Fs fs(kImage);
		attach_t2(fs);
		REQUIRE(fs.mount(with_t2("mkfs")) == 0);
		if (g_t2)
			g_t2->set_pools(fs);
		for (auto &op : w.setup)
			op.run(fs, model);
		fs.sync(fs.root);
		for (auto &[p, n] : model)
			n.unsure.assign(n.data.size(), false);
		base_img.assign(fs.base, fs.base + fs.pool_size);
		{
			std::lock_guard lk(g_rec.mu);
			g_rec.base = fs.base;
			g_rec.len = fs.pool_size;
			g_rec.log.clear();
			g_rec.stores.clear();
			g_rec.logged = base_img;
			g_rec.on = true;
		}
		zus::set_persist_hook(record);
		if (g_t2) {
			t2_base = g_t2->content();
			g_t2->snapshots = true;
		}
		states.push_back(model);
		for (auto &op : w.ops) {
			start.push_back(log_pos());
			op.run(fs, model);
			end.push_back(log_pos());
			states.push_back(model);
		}
		zus::set_persist_hook(nullptr);
		if (g_t2)
			g_t2->snapshots = false;
		{
			std::lock_guard lk(g_rec.mu);
			g_rec.on = false;
		}
		for (auto &[h, f] : g_open) // still open at the end
			fs.evict(f, 0,
				 f.zi->i_nlink ? ZUFS_OP_EVICT_INODE :
						 ZUFS_OP_FREE_INODE);
		g_open.clear();
	}
	const std::vector<Event> &log = g_rec.log;

	// Positions of the fences, plus the end of the log as a last "fence".
	std::vector<size_t> fences;
	for (size_t i = 0; i < log.size(); ++i)
		if (log[i].fence)
			fences.push_back(i);
	fences.push_back(log.size());
	st.fences = fences.size();

	std::mt19937 rng(o.seed);
	std::vector<char> durable = base_img;
	size_t applied = 0;
	QuietStderr quiet;
	for (size_t k = 0; k < fences.size(); ++k) {
		// durable = everything before fence k.
		for (; applied < fences[k]; ++applied)
			if (!log[applied].fence)
				memcpy(durable.data() + log[applied].off,
				       log[applied].bytes.data(),
				       log[applied].bytes.size());
		size_t next =
			k + 1 < fences.size() ? fences[k + 1] : log.size();
		// In flight: the stores between fence k and k+1, by cache line.
		struct Line {
			size_t ev, off, n;
		};
		std::vector<Line> lines;
		for (size_t e = fences[k] + 1; e < next; ++e) {
			const Event &ev = log[e];
			for (size_t at = 0; at < ev.bytes.size();) {
				size_t abs = ev.off + at;
				size_t n = std::min(ev.bytes.size() - at,
						    64 - abs % 64);
				lines.push_back({ e, at, n });
				at += n;
			}
		}
		// Oracle: ops that returned by fence k are in; any op that started
		// before fence k+1 may be in too.
		size_t first = 0;
		while (first < end.size() && end[first] <= fences[k])
			++first;
		size_t last = first;
		while (last < start.size() && start[last] < next)
			++last;

		int variants = lines.empty() ? 1 : 2 + o.samples;
		for (int v = 0; v < variants; ++v) {
			std::vector<char> img = durable;
			for (auto &l : lines) {
				bool lands = v == 1 || (v >= 2 && (rng() & 1));
				if (lands)
					memcpy(img.data() + log[l.ev].off +
						       l.off,
					       log[l.ev].bytes.data() + l.off,
					       l.n);
			}
			++st.states;
			std::string fail;
			if (g_t2) { // T2 as it was when fence k+1 came
				const std::string *t = &t2_base;
				for (auto &[pos, bytes] : g_t2->snaps)
					if (pos < next)
						t = &bytes;
				g_t2->put(*t);
			}
			{
				Fs fs(kImage);
				attach_t2(fs);
				int fd = open(fs.path.c_str(), O_WRONLY);
				if (pwrite(fd, img.data(), img.size(), 0) !=
				    ssize_t(img.size()))
					FAIL("cannot write the crash image");
				close(fd);
				fail = judge(fs, with_t2("ro"), with_t2(""),
					     states, first, last);
			}
			if (!fail.empty())
				note_failure(&st, o, w, first,
					     "fence " + std::to_string(k) +
						     " variant " +
						     std::to_string(v),
					     fail);
		}
	}
	return st;
}

} // namespace zcrash

// ---- the file back-end -------------------------------------------------

namespace zcrash {

namespace {

struct DiskEv {
	int which; // 0 image, 1 journal, -1 a marker or a COMMIT
	bool sync;
	uint64_t off;
	std::string bytes;
	bool commit = false; // a commit returned, on thread tid
	std::thread::id tid{};
};

struct DiskRecorder {
	std::mutex mu;
	bool on = false;
	std::vector<DiskEv> log;
} g_disk;

void record_disk(zus::DiskEvent ev, int which, uint64_t off, const void *buf,
		 size_t n)
{
	std::lock_guard lk(g_disk.mu);
	if (!g_disk.on)
		return;
	if (ev == zus::DiskEvent::COMMIT)
		g_disk.log.push_back(
			{ -1, false, 0, {}, true, std::this_thread::get_id() });
	else if (ev == zus::DiskEvent::SYNC)
		g_disk.log.push_back({ which, true, 0, {} });
	else
		g_disk.log.push_back(
			{ which, false, off,
			  std::string(static_cast<const char *>(buf), n) });
}

// A position in the log: a marker event, so that an operation that wrote
// nothing still ends strictly before the commit that follows it.
size_t disk_pos()
{
	std::lock_guard lk(g_disk.mu);
	g_disk.log.push_back({ -1, false, 0, {} });
	return g_disk.log.size() - 1;
}

std::string read_whole(const std::string &path)
{
	std::string out;
	int fd = open(path.c_str(), O_RDONLY);
	if (fd < 0)
		return out;
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		out.append(buf, n);
	close(fd);
	return out;
}

void write_whole(const std::string &path, const std::string &data)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, data.data(), data.size(), 0) ==
		ssize_t(data.size()));
	close(fd);
}

void apply(std::string *file, uint64_t off, const char *p, size_t n)
{
	if (file->size() < off + n)
		file->resize(off + n, '\0');
	memcpy(file->data() + off, p, n);
}

// A crash after no working copy survived (a reboot): remove the one a
// previous mount of a file with the same inode number might have left.
void drop_shadow(const std::string &image)
{
	struct stat st;
	if (stat(image.c_str(), &st))
		return;
	char shadow[96];
	snprintf(shadow, sizeof(shadow), "/dev/shm/zufuse-shadow.%llx.%llx",
		 static_cast<unsigned long long>(st.st_dev),
		 static_cast<unsigned long long>(st.st_ino));
	unlink(shadow);
}

// The bytes of each O_DSYNC write that returned before crash point c
// (end[i] <= c) must be in got, but for those that an operation after it,
// started before c (states i+1 .. last), may have changed: "" or what is
// missing.
std::string dsync_lost(const Workload &w, const Model &got,
		       const std::vector<Model> &states,
		       const std::vector<size_t> &end, size_t c, size_t last)
{
	for (size_t i = 0; i < w.ops.size() && end[i] <= c; ++i) {
		const Op &op = w.ops[i];
		if (op.dsync_path.empty())
			continue;
		auto g = got.find(op.dsync_path);
		uint64_t len = op.dsync_len;
		if (len == UINT64_MAX) { // fdatasync: the file as it was
			auto it = states[i + 1].find(op.dsync_path);
			len = it == states[i + 1].end() ?
				      0 :
				      it->second.data.size();
		}
		for (uint64_t b = op.dsync_pos; b < op.dsync_pos + len; ++b) {
			char want = 0;
			bool fixed = true;
			for (size_t j = i + 1; j <= last && fixed; ++j) {
				auto it = states[j].find(op.dsync_path);
				fixed = it != states[j].end() &&
					b < it->second.data.size() &&
					!(b < it->second.unsure.size() &&
					  it->second.unsure[b]) &&
					(j == i + 1 ||
					 it->second.data[b] == want);
				if (fixed)
					want = it->second.data[b];
			}
			if (!fixed)
				continue;
			if (g == got.end() || b >= g->second.data.size() ||
			    g->second.data[b] != want)
				return " O_DSYNC write '" + op.name +
				       "' (returned) lost at byte " +
				       std::to_string(b);
		}
	}
	return "";
}

} // namespace

Stats explore_file(const Workload &w, const Options &o,
		   const std::string &disk_dir, int commit_every, bool timer)
{
	Stats st;
	Model model;
	std::vector<Model> states;
	std::vector<size_t> start, end;
	struct Span {
		size_t start, end;
	};
	std::vector<Span>
		commits; // a commit that returned: [start, end) of the log
	const std::string rec_path = disk_dir + "/explore-rec.img";
	const std::string crash_path = disk_dir + "/explore-crash.img";
	std::string start_img, start_jrn;
	{
		Fs fs(kImage);
		::unlink(fs.path.c_str());
		fs.path = rec_path;
		::unlink(rec_path.c_str());
		drop_shadow(rec_path);
		REQUIRE(fs.mount("mkfs,commit=0") == 0);
		REQUIRE(fs.sbi->persist.is_file());
		for (auto &op : w.setup)
			op.run(fs, model);
		REQUIRE(fs.sync(fs.root) == 0);
		for (auto &[p, n] : model)
			n.unsure.assign(n.data.size(), false);
		start_img = read_whole(rec_path);
		start_jrn = read_whole(rec_path + ".journal");
		{
			std::lock_guard lk(g_disk.mu);
			g_disk.log.clear();
			g_disk.on = true;
		}
		zus::set_disk_hook(record_disk);
		states.push_back(model);
		// The timer, in the middle of operations: commits from another
		// thread, as fast as they come (each waits for the lanes).
		std::mutex commits_mu;
		std::atomic<bool> stop{ false };
		std::thread committer;
		if (timer)
			committer = std::thread([&] {
				while (!stop.load()) {
					size_t s = disk_pos();
					fs.sbi->persist.sync_all();
					size_t e = disk_pos();
					std::lock_guard g(commits_mu);
					commits.push_back({ s, e });
					usleep(100);
				}
			});
		for (size_t i = 0; i < w.ops.size(); ++i) {
			start.push_back(disk_pos());
			w.ops[i].run(fs, model);
			end.push_back(disk_pos());
			states.push_back(model);
			// A commit inside the op (sync, O_DSYNC that needed one):
			// its own thread's (with commits racing, a sync seen inside
			// an operation may belong to a commit that started before
			// it and ends after it).
			bool synced = false;
			{
				std::lock_guard lk(g_disk.mu);
				for (size_t e = start.back(); e < end.back();
				     ++e)
					synced |= g_disk.log[e].commit &&
						  g_disk.log[e].tid ==
							  std::this_thread::
								  get_id();
			}
			std::lock_guard g(commits_mu);
			if (synced)
				commits.push_back({ start.back(), end.back() });
			if (!timer &&
			    (i + 1) % commit_every == 0) { // the timer
				size_t s = disk_pos();
				REQUIRE(fs.sync(fs.root) == 0);
				commits.push_back({ s, disk_pos() });
			}
		}
		stop = true;
		if (committer.joinable())
			committer.join();
		zus::set_disk_hook(nullptr);
		{
			std::lock_guard lk(g_disk.mu);
			g_disk.on = false;
		}
		for (auto &[h, f] : g_open)
			fs.evict(f, 0,
				 f.zi->i_nlink ? ZUFS_OP_EVICT_INODE :
						 ZUFS_OP_FREE_INODE);
		g_open.clear();
		if (zus::FileImage *fi = zus::FileImage::find(fs.sbi->base)) {
			st.data_syncs = fi->stats().data_syncs;
			st.data_commits = fi->stats().data_commits;
		}
		fs.umount();
	}
	::unlink(rec_path.c_str());
	::unlink((rec_path + ".journal").c_str());
	const std::vector<DiskEv> &log = g_disk.log;
	if (getenv("ZUFS_CRASH_DUMP")) {
		for (size_t i = 0; i < log.size(); ++i)
			fprintf(stderr, "%zu: %s %d off %llu len %zu\n", i,
				log[i].sync ? "SYNC" : "W", log[i].which,
				(unsigned long long)log[i].off,
				log[i].bytes.size());
		for (auto &c : commits)
			fprintf(stderr, "commit [%zu, %zu)\n", c.start, c.end);
		for (size_t i = 0; i < start.size(); ++i)
			fprintf(stderr, "op %zu %s [%zu, %zu)\n", i,
				w.ops[i].name.c_str(), start[i], end[i]);
	}

	// Crash points: every fdatasync (not yet done) and the end.
	std::vector<size_t> points;
	for (size_t i = 0; i < log.size(); ++i)
		if (log[i].which >= 0 && log[i].sync)
			points.push_back(i);
	points.push_back(log.size());
	st.fences = points.size();

	std::mt19937 rng(o.seed);
	QuietStderr quiet;
	for (size_t c : points) {
		// Per file: the writes before its last fdatasync are durable,
		// the later ones pending (by 4 KiB page).
		size_t last_sync[2] = { 0, 0 };
		bool any_sync[2] = { false, false };
		for (size_t e = 0; e < c; ++e)
			if (log[e].which >= 0 && log[e].sync) {
				last_sync[log[e].which] = e;
				any_sync[log[e].which] = true;
			}
		struct Piece {
			size_t ev, at, n;
		};
		std::vector<Piece> pending;
		std::string durable[2] = { start_img, start_jrn };
		for (size_t e = 0; e < c; ++e) {
			const DiskEv &ev = log[e];
			if (ev.sync || ev.which < 0)
				continue;
			if (any_sync[ev.which] && e < last_sync[ev.which]) {
				apply(&durable[ev.which], ev.off,
				      ev.bytes.data(), ev.bytes.size());
				continue;
			}
			for (size_t at = 0; at < ev.bytes.size();) {
				size_t n = std::min<size_t>(
					ev.bytes.size() - at,
					4096 - (ev.off + at) % 4096);
				pending.push_back({ e, at, n });
				at += n;
			}
		}
		// Oracle: every op that ended before a commit that returned
		// (by c) started; ops that started before c may be in.
		size_t first = 0;
		for (const Span &s : commits)
			if (s.end <= c) {
				size_t k = 0;
				while (k < end.size() && end[k] <= s.start)
					++k;
				first = std::max(first, k);
			}
		size_t last = first;
		while (last < start.size() && start[last] < c)
			++last;

		int variants = pending.empty() ? 1 : 2 + o.samples;
		for (int v = 0; v < variants; ++v) {
			std::string files[2] = { durable[0], durable[1] };
			for (const Piece &p : pending)
				if (v == 1 || (v >= 2 && (rng() & 1))) {
					const DiskEv &ev = log[p.ev];
					apply(&files[ev.which], ev.off + p.at,
					      ev.bytes.data() + p.at, p.n);
				}
			++st.states;
			std::string fail;
			{
				::unlink(crash_path.c_str());
				write_whole(crash_path, files[0]);
				write_whole(crash_path + ".journal", files[1]);
				drop_shadow(crash_path);
				Fs fs(kImage);
				::unlink(fs.path.c_str());
				fs.path = crash_path;
				fail = judge(fs, "ro,commit=0", "commit=0",
					     states, first, last,
					     [&](const Model &got) {
					return dsync_lost(w, got, states, end,
							  c, last);
				});
			}
			::unlink(crash_path.c_str());
			::unlink((crash_path + ".journal").c_str());
			if (!fail.empty())
				note_failure(&st, o, w, first,
					     "disk event " + std::to_string(c) +
						     " variant " +
						     std::to_string(v),
					     fail);
		}
	}
	return st;
}

} // namespace zcrash
