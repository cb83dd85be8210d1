// SPDX-License-Identifier: BSD-3-Clause
//
// t2_fault.h - tier-2 device faults on demand, for tests only.
//
// Rules make T2Device transfers (t2.h) fail as a failing device would: an
// error (the transfer does nothing, the batch is -EIO), a short transfer
// (the first half of the run moves, then -EIO: a file truncated under the
// device), or a stall (the transfer waits, then goes on: a device that
// hangs for a while). Every kind reaches the iomap as the batch's -EIO or
// as its delay, exactly as the real fault would.
//
// The rule language (ZUFUSE_FAULT_T2=..., as ZUFUSE_FAULT_PMEM's: the
// syntax and after, next, prob and seed are fault/rules.h's), one or more
// rules separated by ';':
//
//   WHAT[:KEY[=VALUE][,KEY[=VALUE]...]]
//   WHAT       read (T2 -> memory), write (memory -> T2) or any; one
//              transfer is one run of consecutive T2 blocks (a readv or
//              writev)
//   error      the matching transfers fail (the default kind)
//   short      they move their first half (whole blocks), then fail
//   stall=MS   they wait MS milliseconds first, then complete normally
//   after=N    let the first N matching transfers pass
//   next=N     then hit the next N
//   prob=P     hit each matching transfer with probability P (0..1)
//   seed=S     for prob (default 1): the same seed hits the same transfers
//   Without next and prob, every matching transfer is hit.
//
// e.g. "read:next=1", "read:short,after=3,next=2", "any:stall=3000,next=1",
// "write:prob=0.05,seed=7".
//
// Thread safety: hit() may run on any thread; set_t2_faults() replaces the
// rules (the old ones stay allocated until exit).
#ifndef ZUFS_IOMAP_T2_FAULT_H
#define ZUFS_IOMAP_T2_FAULT_H

#include <cstdint>
#include <string>
#include <string_view>

namespace iomap {

inline constexpr const char *kT2FaultEnv = "ZUFUSE_FAULT_T2";

enum class T2FaultKind { kNone, kError, kShort, kStall };

struct T2Fault {
	T2FaultKind kind = T2FaultKind::kNone;
	uint32_t stall_ms = 0;
};

// Replace the rules ("" clears them): 0, or -EINVAL and the reason in *err.
int set_t2_faults(std::string_view spec, std::string *err);

// set_t2_faults(getenv(kT2FaultEnv)) when it is set and not empty.
int set_t2_faults_from_env(std::string *err);

// The fault for one transfer (counted against every rule it matches; the
// first rule that hits decides).
T2Fault t2_fault_hit(bool write);

// Transfers hit since the start, per kind.
struct T2FaultCounts {
	uint64_t error = 0, short_ = 0, stall = 0;
};
T2FaultCounts t2_fault_counts();

} // namespace iomap

#endif // ZUFS_IOMAP_T2_FAULT_H
