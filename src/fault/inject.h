// SPDX-License-Identifier: BSD-3-Clause
//
// inject.h - media faults on demand, for tests only.
//
// Rules make guarded accesses to a registered image mapping (guard.h) fail
// as a real media error would: the access raises a SIGBUS (BUS_MCEERR_AR)
// at its first byte, which the guard turns into -EIO for the request. So a
// test exercises the same path as a poisoned pmem page or a shrunk image.
//
// The rule language (ZUFUSE_FAULT_PMEM=..., parsed by set_rules; the
// syntax and the keys after, next, prob and seed are rules.h's), one or
// more rules separated by ';':
//
//   WHAT[:KEY=VALUE[,KEY=VALUE...]]
//   WHAT       write (file data copied or zeroed into pmem), read (file
//              data copied or replied out of pmem), meta (a new
//              block-map or directory block zeroed) or any
//   after=N    let the first N matching accesses pass
//   next=N     then fail the next N
//   prob=P     fail each matching access with probability P (0..1)
//   seed=S     for prob (default 1): the same seed fails the same accesses
//   at=OFF[+LEN]  match only accesses that touch image bytes
//              [OFF, OFF+LEN) (LEN default 4K; K, M, G suffixes)
//   Without next and prob, every matching access fails (with at: a bad
//   range, as a poisoned page).
//
// e.g. "write:next=1", "read:at=64M+8K", "any:prob=0.01,seed=7",
// "write:after=10,next=2;read:next=1".
//
// The T2 device's layer (ZUFUSE_FAULT_T2) uses the same language.
//
// Thread safety: should_fail() may run on any thread; set_rules() replaces
// the rules atomically (the old ones stay allocated until exit).
#ifndef ZUFS_FAULT_INJECT_H
#define ZUFS_FAULT_INJECT_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fault/guard.h"

namespace zufs::fault {

// Replace the rules ("" clears them): 0, or -EINVAL and the reason in *err.
int set_rules(std::string_view spec, std::string *err);

// set_rules(getenv(var)) when var is set and not empty.
int set_rules_from_env(const char *var, std::string *err);

// Should an access a of image bytes [off, off+len) fail? Counts the access
// against every rule it matches.
bool should_fail(Access a, uint64_t off, uint64_t len);

// Are any rules set? (the guard's fast path)
bool rules_active();

// Faults the rules injected since the start.
uint64_t injected_count();

// The environment variable the mounted zufuse reads.
inline constexpr const char *kPmemFaultEnv = "ZUFUSE_FAULT_PMEM";

} // namespace zufs::fault

#endif // ZUFS_FAULT_INJECT_H
