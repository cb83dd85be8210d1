// SPDX-License-Identifier: BSD-3-Clause
// crc32c.h - CRC-32C (Castagnoli), used for the superblock and journal records.
#ifndef ZUS_CRC32C_H
#define ZUS_CRC32C_H

#include <cstddef>
#include <cstdint>

namespace zus {

uint32_t crc32c(uint32_t crc, const void *data, size_t len);

// The table-driven path alone (crc32c() takes the SSE4.2 instruction where
// the CPU has it), so tests can check both against known vectors.
uint32_t crc32c_software(uint32_t crc, const void *data, size_t len);

} // namespace zus

#endif // ZUS_CRC32C_H
