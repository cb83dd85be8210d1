// SPDX-License-Identifier: BSD-3-Clause
//
// dir.cc - a directory's entries on pmem (dir.h) and READDIR (zuf's
// directory.c), which lists them under the shared ns_lock.
#include "server/pmfs/dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include <cerrno>
#include <cstring>
#include <memory>

#include "fault/guard.h"
#include "server/pages.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/file.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"

namespace zus::pmfs {

namespace {

void mark(DirIndex &ix, uint64_t slot, uint32_t n, bool used)
{
	for (uint64_t s = slot; s < slot + n; ++s) {
		uint64_t &w = ix.used[s / 64];
		if (used)
			w |= 1ULL << (s % 64);
		else
			w &= ~(1ULL << (s % 64));
	}
}

// First run of n free slots in block b, or -1.
int64_t free_run(const DirIndex &ix, uint64_t b, uint32_t n)
{
	const uint64_t *w = &ix.used[b * 2];
	if (w[0] == ~0ULL && w[1] == ~0ULL)
		return -1;
	uint32_t run = 0;
	for (uint32_t s = 0; s < kSlotsPerBlock; ++s) {
		if ((w[s / 64] >> (s % 64)) & 1) {
			run = 0;
			continue;
		}
		if (++run == n)
			return s + 1 - n;
	}
	return -1;
}

} // namespace

uint32_t name_hash(std::string_view name)
{
	uint32_t h = 2166136261u; // FNV-1a
	for (unsigned char c : name)
		h = (h ^ c) * 16777619u;
	return h;
}

pmfs_dentry *dentry_at(zus_sb_info &sbi, const zus_inode *dzi, uint64_t slot)
{
	uint64_t bn = bmap_lookup(sbi, dzi, slot / kSlotsPerBlock);
	if (!bn)
		return nullptr;
	return reinterpret_cast<pmfs_dentry *>(
		sbi.blk(bn) + (slot % kSlotsPerBlock) * kSlotSize);
}

DirIndex &dir_index(zus_sb_info &sbi, zus_inode_info *dir)
{
	DirIndex *ix = dir->dir.load(std::memory_order_acquire);
	if (ix)
		return *ix;
	std::lock_guard lk(dir->dir_mu);
	if ((ix = dir->dir.load(std::memory_order_relaxed)))
		return *ix;
	auto fresh = std::make_unique<DirIndex>();
	// A corrupt i_size must not size the index past the device (fuzzer).
	fresh->nblocks = std::min<uint64_t>(dir->zi->i_size >> kBlockShift,
					    sbi.nblocks());
	fresh->used.assign(fresh->nblocks * 2, 0);
	fresh->names.reserve(fresh->nblocks * 16);
	dir_for_each(sbi, dir->zi, 0,
		     [&](uint64_t slot, const pmfs_dentry *de) {
		fresh->names.emplace(de->hash, slot);
		mark(*fresh, slot, de->nslots, true);
		++fresh->nentries;
		return true;
	});
	// Unmapped blocks (holes) cannot take entries: mark them full.
	for (uint64_t b = 0; b < fresh->nblocks; ++b)
		if (!bmap_lookup(sbi, dir->zi, b))
			fresh->used[b * 2] = fresh->used[b * 2 + 1] = ~0ULL;
	dir->dir_owner = std::move(fresh);
	dir->dir.store(dir->dir_owner.get(), std::memory_order_release);
	return *dir->dir_owner;
}

int dir_find(zus_sb_info &sbi, zus_inode_info *dir, std::string_view name,
	     uint64_t *slot, uint64_t *ino)
{
	DirIndex &ix = dir_index(sbi, dir);
	auto [it, end] = ix.names.equal_range(name_hash(name));
	for (; it != end; ++it) {
		pmfs_dentry *de = dentry_at(sbi, dir->zi, it->second);
		if (de && de->name_len == name.size() &&
		    !memcmp(de->name, name.data(), name.size())) {
			*slot = it->second;
			*ino = de->ino;
			return 0;
		}
	}
	return -ENOENT;
}

int dir_prepare_add(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
		    std::string_view name, DirAdd *plan)
{
	DirIndex &ix = dir_index(sbi, dir);
	zus_inode *dzi = dir->zi;
	int err = tx.log(dzi, sizeof(*dzi));
	if (err)
		return err;
	plan->nslots = dentry_slots(static_cast<uint32_t>(name.size()));
	for (uint64_t b = ix.hint; b < ix.nblocks; ++b) {
		int64_t s = free_run(ix, b, plan->nslots);
		if (s < 0) {
			if (b == ix.hint && ix.used[b * 2] == ~0ULL &&
			    ix.used[b * 2 + 1] == ~0ULL)
				ix.hint =
					b +
					1; // full blocks are skipped next time
			continue;
		}
		plan->slot = b * kSlotsPerBlock + s;
		plan->de = dentry_at(sbi, dzi, plan->slot);
		if (!plan->de)
			return -EIO;
		return tx.log(plan->de, plan->nslots * kSlotSize);
	}

	// Every block is full: append a zeroed block.
	uint64_t bn = sbi.balloc.alloc_one();
	if (!bn)
		return -ENOSPC;
	if ((err = tx.bits(bn, 1, true))) {
		sbi.balloc.release(bn, 1);
		return err;
	}
	// A media fault aborts the transaction (bn is released with it).
	if ((err = zufs::fault::guarded(zufs::fault::Access::kMeta, sbi.blk(bn),
					kBlockSize, "new directory block",
					[&] {
		sbi.persist.memset_nodrain(sbi.blk(bn), 0, kBlockSize);
	     })))
		return err;
	BmapTx bt(sbi, tx, dzi);
	if ((err = bt.insert(ix.nblocks, bn)))
		return err;
	bt.finish();
	plan->grows = true;
	plan->root = bt.root;
	plan->height = bt.height;
	plan->blocks_delta = bt.blocks_delta + 1;
	plan->slot = ix.nblocks * kSlotsPerBlock;
	plan->de = reinterpret_cast<pmfs_dentry *>(sbi.blk(bn));
	return 0;
}

void dir_apply_add(zus_sb_info &sbi, zus_inode_info *dir, const DirAdd &plan,
		   std::string_view name, uint64_t ino, uint8_t type)
{
	DirIndex &ix = dir_index(sbi, dir);
	pmfs_dentry *de = plan.de;
	memcpy(de->name, name.data(), name.size());
	de->name_len = static_cast<uint8_t>(name.size());
	de->type = type;
	de->nslots = static_cast<uint8_t>(plan.nslots);
	de->pad = 0;
	de->hash = name_hash(name);
	de->ino = ino;
	if (plan.grows) {
		zus_inode *dzi = dir->zi;
		dzi->i_size += kBlockSize;
		dzi->i_on_disk.a[0] = plan.root;
		dzi->i_on_disk.a[1] = plan.height;
		dzi->i_blocks += plan.blocks_delta * (kBlockSize / 512);
		sbi.persist.flush(de, plan.nslots * kSlotSize);
		ix.nblocks++;
		ix.used.resize(ix.nblocks * 2, 0);
	}
	mark(ix, plan.slot, plan.nslots, true);
	ix.names.emplace(de->hash, plan.slot);
	++ix.nentries;
}

namespace {

// Log dir's inode and the dentry at slot: all its slots (whole), or only
// its head (the inode number and type a retarget changes).
int log_dentry(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir, uint64_t slot,
	       bool whole)
{
	pmfs_dentry *de = dentry_at(sbi, dir->zi, slot);
	if (!de)
		return -EIO;
	int err = tx.log(dir->zi, sizeof(zus_inode));
	if (err)
		return err;
	return tx.log(de, whole ? de->nslots * kSlotSize : sizeof(*de));
}

} // namespace

int dir_prepare_remove(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
		       uint64_t slot)
{
	return log_dentry(tx, sbi, dir, slot, true);
}

void dir_apply_remove(zus_sb_info &sbi, zus_inode_info *dir, uint64_t slot)
{
	DirIndex &ix = dir_index(sbi, dir);
	pmfs_dentry *de = dentry_at(sbi, dir->zi, slot);
	auto [it, end] = ix.names.equal_range(de->hash);
	for (; it != end; ++it) {
		if (it->second == slot) {
			ix.names.erase(it);
			break;
		}
	}
	uint32_t n = de->nslots;
	memset(de, 0, n * kSlotSize); // free slots are all zero
	mark(ix, slot, n, false);
	ix.hint = std::min(ix.hint, slot / kSlotsPerBlock);
	--ix.nentries;
}

int dir_prepare_retarget(Tx &tx, zus_sb_info &sbi, zus_inode_info *dir,
			 uint64_t slot)
{
	return log_dentry(tx, sbi, dir, slot, false);
}

void dir_apply_retarget(zus_sb_info &sbi, zus_inode_info *dir, uint64_t slot,
			uint64_t ino, uint8_t type)
{
	pmfs_dentry *de = dentry_at(sbi, dir->zi, slot);
	de->ino = ino;
	de->type = type;
}

int op_readdir(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *rd = reinterpret_cast<zufs_ioc_readdir *>(hdr);
	int err = 0;
	rd->more = 0;
	zus_inode_info *dir = dir_cookie(rd->dir_ii, &err);
	if (!dir)
		return err;
	const uint32_t cap = hdr->len;
	if (!pages_cover(pages, hdr->offset, cap))
		return -EINVAL;
	zus_sb_info &sbi = *dir->sbi;
	std::shared_lock ns(sbi.ns_lock);
	if (!sbi.nodiratime) { // iterate_dir's file_accessed()
		std::shared_lock lk(dir->rw);
		touch_atime(sbi, dir->zi);
	}

	PageCursor out(pages, hdr->offset);
	uint32_t used = 0;
	uint64_t pos = rd->pos;
	bool full = false;
	// One zufs_dir_entry; its pos is the cookie that resumes after it.
	auto emit = [&](uint64_t ino, uint8_t type, uint64_t next,
			const char *name, uint32_t nlen) {
		uint32_t len = zufs_dir_entry_len(static_cast<__u8>(nlen));
		if (used + len > cap) {
			full = true;
			return false;
		}
		alignas(8) char raw[sizeof(zufs_dir_entry)];
		memset(raw, 0, len);
		auto *de = reinterpret_cast<zufs_dir_entry *>(raw);
		de->ino = ino;
		de->type = type;
		de->pos = next;
		de->zstr.len = static_cast<__u8>(nlen);
		memcpy(de->zstr.name, name, nlen);
		const char *s = raw;
		out.walk(len, [&](char *p, size_t n) {
			memcpy(p, s, n);
			s += n;
		});
		used += len;
		pos = next;
		return true;
	};

	bool go = true;
	if (pos == 0)
		go = emit(dir->ino, DT_DIR, 1, ".", 1);
	if (go && pos <= 1) {
		uint64_t parent = dir->zi->i_dir.parent ?
					  dir->zi->i_dir.parent :
					  dir->ino;
		go = emit(parent, DT_DIR, 2, "..", 2);
	}
	if (go)
		dir_for_each(sbi, dir->zi, pos - 2,
			     [&](uint64_t slot, const pmfs_dentry *de) {
			return emit(de->ino, de->type, slot + 3, de->name,
				    de->name_len);
		});
	rd->more = full;
	rd->pos = pos;
	hdr->len = used;
	// A zero-length name ends the list when the buffer is not full.
	uint32_t tail = std::min<uint32_t>(cap - used, E_ZDE_HDR_SIZE);
	out.walk(tail, [](char *p, size_t n) { memset(p, 0, n); });
	return 0;
}

} // namespace zus::pmfs
