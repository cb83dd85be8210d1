// SPDX-License-Identifier: BSD-3-Clause
//
// layout.h - pmfs on-media format, all in one place.
//
// The image is an array of 4 KiB blocks (block n at byte n * 4096):
//
//   block 0                   superblock (pmfs_super, crc32c protected)
//   [journal_blk, +lanes*lane_blocks)   undo-log lanes (pmfs_lane_head, records)
//   [bitmap_blk, +bitmap_blocks)        block allocation bitmap, 1 bit/block
//   [itable_blk, +itable blocks)        inode table: inode_count zus_inodes
//   [orphan_blk, +orphan_blocks)        orphan table (see below)
//   [refc_blk, +refc_blocks)            share counts, 1 byte/block (below)
//   [data_blk, nblocks)                 data: file blocks, radix nodes, dirs
//   block nblocks (the last)            a copy of the superblock, when
//                                       s_flags has kSuperTailCopy
//
// The bitmap and the share counts are sized at mkfs for kGrowthRoom times
// the formatted size, so an image can grow in place (resize.cc) up to
// min(s_bitmap_blocks * 32768, s_refc_blocks * 4096) blocks; the inode
// table keeps its mkfs size.
//
// Inodes: ino = slot + 1; ino 1 is the root directory. A slot is free when
// its i_ino is 0 (i_generation survives reuse).
//
// File data (and directory data) is mapped by a radix tree of 4 KiB nodes of
// 512 block numbers each: zus_inode.i_on_disk.a[0] is the root block,
// a[1] the height. Height 0: the root *is* the data block of file block 0
// (tiny files need no node). Height h >= 1: the root node covers 512^h
// blocks. Block number 0 means a hole (block 0 is the superblock). A leaf
// may also be a tier-2 block (kT2Leaf) and may carry kUnwrittenLeaf
// (bmap.h).
//
// Directories: data blocks hold 32-byte dentry slots (128 per block). An
// entry (pmfs_dentry) takes ceil((16 + name_len) / 32) consecutive slots of
// one block; free slots are all zero. The readdir cookie of an entry is its
// slot index + 3 ("." is 1, ".." is 2). zus_inode.i_dir.parent holds the
// parent's ino; i_size is the number of directory blocks * 4096.
#ifndef ZUS_PMFS_LAYOUT_H
#define ZUS_PMFS_LAYOUT_H

#include <cstddef>
#include <cstdint>

#include <sys/stat.h>

#include "zufs/zus_api.h"

namespace zus::pmfs {

inline constexpr uint64_t kMagic = 0x4d50455355465a5aULL; // "ZZFUSEPM"
// 2: orphan table, s_t2_blocks; 3: share counts; 4: zus_inode.i_x (birth
// time, project id, extent size hint; inline symlinks shorter than 24
// bytes); 5: unwritten leaves (bmap.h: kUnwrittenLeaf, fallocated blocks
// no write has reached). A version 3 or 4 image mounts and becomes 5 at its
// first read-write mount, so that an older zufuse refuses it rather than
// misread a symlink or take an unwritten leaf for a corrupt pointer.
inline constexpr uint32_t kVersion = 5;
inline constexpr uint32_t kMinVersion = 3;
inline constexpr uint32_t kBlockShift = 12;
inline constexpr uint64_t kBlockSize = 1ULL << kBlockShift;
inline constexpr uint64_t kMinImage = 16ULL << 20;
inline constexpr uint64_t kBytesPerInode = 16 * 1024;
inline constexpr uint32_t kLanes = 8;
inline constexpr uint32_t kLaneBlocks = 16; // 64 KiB per lane
inline constexpr uint64_t kRootIno = 1;

enum SuperState : uint32_t { kStateClean = 1, kStateDirty = 2 };
// s_flags. kSuperOrphanFull: the orphan table was full when an inode had to
// be recorded, so it may not list every orphan: the next mount scans the
// whole inode table instead (then clears the flag).
// kSuperTailCopy: the block after the file system (block s_nblocks, the
// last of the image) holds a copy of the superblock, far from block 0, so
// that a wiped block 0 can be restored (mkfs sets it; images made before
// it have only the copies in block 0).
enum SuperFlags : uint32_t { kSuperOrphanFull = 1, kSuperTailCopy = 2 };
// mkfs sizes the bitmap and the share counts for this many times the
// formatted size (their cost: 16 bits + 16 bytes per 4 KiB block, 0.4%).
inline constexpr uint64_t kGrowthRoom = 16;

struct pmfs_super {
	uint64_t s_magic;
	uint32_t s_version;
	uint32_t s_state; // SuperState
	uint64_t s_size;  // bytes formatted (nblocks * 4096)
	uint64_t s_nblocks;
	uint32_t s_block_size;
	uint32_t s_inode_size;
	uint64_t s_journal_blk;
	uint32_t s_lanes;
	uint32_t s_lane_blocks;
	uint64_t s_bitmap_blk;
	uint64_t s_bitmap_blocks;
	uint64_t s_itable_blk;
	uint64_t s_inode_count;
	uint64_t s_data_blk;
	uint64_t s_mount_gen; // bumped at every mount; journal seq high bits
	uint64_t s_mkfs_time; // ns
	uint8_t s_uuid[16];
	// Orphan table: u64 inode numbers of inodes that must be finished by
	// recovery (nlink 0 but still open; truncation in progress), 0 = free
	// entry. Kept by the journal, so recovery reads it instead of scanning
	// the inode table.
	uint64_t s_orphan_blk;
	uint64_t s_orphan_blocks;
	// Tier 2: the size in 4 KiB blocks of the T2 store this image's T2
	// leaves refer to; 0 while no leaf has ever been on T2.
	uint64_t s_t2_blocks;
	// Share counts (copy_file_range's copy-on-write sharing, refc.h): one
	// byte per block of the image, indexed by block number. 0: the block
	// has one owner (or is free, or is metadata); n: it is the data block
	// of n + 1 file leaves. Changed only inside transactions.
	uint64_t s_refc_blk;
	uint64_t s_refc_blocks;
	uint32_t s_flags; // SuperFlags
	uint32_t s_crc;	  // crc32c of this struct with s_crc = 0
};
static_assert(sizeof(pmfs_super) == 176);
// The largest share count: a block has at most kRefcMax + 1 owners.
inline constexpr unsigned kRefcMax = 255;
static_assert(offsetof(pmfs_super, s_crc) == 172);

// One journal lane: a header then records, each a pmfs_log_rec followed by
// len bytes of payload padded to 8. The lane is live when active_seq != 0;
// recovery undoes, newest first, every record whose seq == active_seq and
// whose crc checks, stopping at the first one that does not.
struct pmfs_lane_head {
	uint64_t active_seq;
	uint64_t pad[7];
};
static_assert(sizeof(pmfs_lane_head) == 64);

enum LogType : uint16_t {
	kLogRange = 1,	 // payload: the old bytes at byte offset off
	kLogBitsSet = 2, // blocks [off, off+len) were marked used: undo clears
	kLogBitsClear = 3, // blocks [off, off+len) were marked free: undo sets
};

struct pmfs_log_rec {
	uint64_t seq;
	uint64_t off;
	uint32_t len;
	uint16_t type;
	uint16_t pad;
	uint32_t crc; // crc32c of header (crc = 0) and payload
	uint32_t pad2;
};
static_assert(sizeof(pmfs_log_rec) == 32);

// Directory entry, first slot. The name continues into the next slots.
inline constexpr uint32_t kSlotSize = 32;
inline constexpr uint32_t kSlotsPerBlock = kBlockSize / kSlotSize;
struct pmfs_dentry {
	uint64_t ino; // 0: free slot
	uint8_t name_len;
	uint8_t type; // DT_*
	uint8_t nslots;
	uint8_t pad;
	uint32_t hash;
	char name[]; // name_len bytes, not NUL terminated
};
static_assert(sizeof(pmfs_dentry) == 16);

inline constexpr uint32_t dentry_slots(uint32_t name_len)
{
	return (sizeof(pmfs_dentry) + name_len + kSlotSize - 1) / kSlotSize;
}
static_assert(dentry_slots(ZUFS_NAME_LEN) <= 9);

// Radix tree nodes.
inline constexpr uint32_t kFanoutShift = 9;
inline constexpr uint64_t kFanout = 1ULL << kFanoutShift;
inline constexpr uint32_t kMaxHeight = 4; // 512^4 blocks = 256 TiB

// pmfs's own bits in zus_inode.i_flags.
inline constexpr uint16_t kZiTruncating = 0x8000; // blocks past i_size to free
// fallocate(KEEP_SIZE) may have mapped blocks past i_size (zeroed; freed by
// the next truncation to or below i_size).
inline constexpr uint16_t kZiPrealloc = 0x4000;

// zus_inode.i_x (ZUFS_ZI_EXT, zus_api.h): birth time, project id, extent
// size hint. Every inode pmfs creates has it, so a new inline symlink is
// shorter than kInlineSymlinkMax; inodes of older images do not (no birth
// time; an inline symlink of up to 31 bytes), and get it when a project id
// or extent size hint is set (never on a symlink). Version 4 (kVersion).
inline constexpr uint32_t kInlineSymlinkMax = 24;

// i_x of a new inode born at now in directory dir (null: the root):
// PROJINHERIT passes the project id on (and itself to a new directory),
// a directory's extent size hint passes to what is created in it.
inline void init_ext(zus_inode *zi, const zus_inode *dir, uint64_t now)
{
	zi->i_flags |= ZUFS_ZI_EXT;
	zi->i_x.i_btime = now;
	if (!dir || !(dir->i_flags & ZUFS_ZI_EXT) || S_ISLNK(zi->i_mode))
		return;
	if (dir->i_flags & ZUFS_S_PROJINHERIT) {
		zi->i_x.i_projid = dir->i_x.i_projid;
		if (S_ISDIR(zi->i_mode))
			zi->i_flags |= ZUFS_S_PROJINHERIT;
	}
	if (S_ISDIR(zi->i_mode) || S_ISREG(zi->i_mode))
		zi->i_x.i_extsize = dir->i_x.i_extsize;
}

// Extended attributes: zus_inode.i_xattr is 0 or the block number of a
// pmfs_xattr_head. The set is one byte stream of records (pmfs_xattr_rec,
// name, value; unpadded), inline after the head when it fits, else in the
// data blocks bn[0..nblk). An update writes a whole new head (and blocks)
// and switches i_xattr in one transaction (copy on write). Xattr blocks are
// not counted in i_blocks (tmpfs counts none either).
inline constexpr uint64_t kXattrMagic = 0x3152545441585a5aULL; // "ZZXATTR1"
inline constexpr uint32_t kXattrMaxBlocks = 32;
struct pmfs_xattr_head {
	uint64_t magic;
	uint64_t len;  // bytes in the stream
	uint32_t nblk; // 0: the stream is inline, after this head
	uint32_t crc;  // crc32c of the stream
	uint64_t bn[kXattrMaxBlocks];
};
static_assert(sizeof(pmfs_xattr_head) == 280);
inline constexpr uint64_t kXattrInline = kBlockSize - sizeof(pmfs_xattr_head);
struct pmfs_xattr_rec {
	uint8_t type; // ZUFS_XF_*
	uint8_t name_len;
	uint16_t pad;
	uint32_t value_len;
};
static_assert(sizeof(pmfs_xattr_rec) == 8);

} // namespace zus::pmfs

#endif // ZUS_PMFS_LAYOUT_H
