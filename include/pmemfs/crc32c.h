// CRC-32C (Castagnoli), the checksum of every on-media structure. Table-driven, no state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace pmemfs {

namespace crc32c_internal {
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
inline constexpr std::array<uint32_t, 256> kTable = MakeTable();
}  // namespace crc32c_internal

// Extends `crc` (0 for a fresh checksum) over `len` bytes at `data`.
inline uint32_t Crc32c(const void* data, size_t len, uint32_t crc = 0) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = crc32c_internal::kTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// The checksum of an on-media struct whose last field is `uint32_t checksum` (or whose checksum
// covers every byte before offset `covered`).
template <typename T>
uint32_t StructChecksum(const T& s, size_t covered = sizeof(T) - sizeof(uint32_t)) {
  return Crc32c(&s, covered);
}

}  // namespace pmemfs
