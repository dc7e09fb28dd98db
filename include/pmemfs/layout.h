// The on-media format of pmemfs: every persistent struct, in one place (tools include it too).
//
// All fields are fixed-width little-endian; `reserved` bytes must be zero when written and are
// checked to be zero when read; every struct ends with a CRC-32C of the bytes before it (see
// crc32c.h) and its size and field offsets are asserted below. Runtime (DRAM) structures live in
// the layers that use them, never here.
//
// A pmemfs device is assembled from one or more parts. Each part begins with a header of
// PartHeaderSize(alignment) bytes:
//
//   part offset 0       PartLabel         (256 B)  who this part is and how the set is laid out
//               1024    BadBlockTable A   (1536 B) injected/recorded media errors, ping-pong
//               2560    BadBlockTable B   (1536 B) copy with the higher valid sequence wins
//               4096..  unused up to the part's mapping alignment (2 MiB on devdax)
//
// The rest of each part is data; the parts' data areas form the device's linear address space,
// concatenated (linear layout) or interleaved in chunks (striped layout). The mapping layer
// reserves two ranges of that space, recorded in every label:
//
//   [0, ram_offset)                              the store's area (superblock, journal, ...)
//   [ram_offset, +ram_length)                    RAM partition: volatile, reset at every open
//   [descriptor_offset, +descriptor_length)      page descriptors (pages mode), to the end
//
// The page-descriptor area: one header page, then kDescriptorLogSlots log slots of 128 B
// (kDescriptorLogBytes, page-rounded), then one 64-byte PageDescriptor per 4 KiB device page,
// for every page of the device: descriptor(p) = descriptor_offset + kDescriptorTableOffset + 64 p.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmemfs::layout {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kCacheLine = 64;
inline constexpr uint64_t kMinChunkSize = 2ull << 20;  // striped layout chunk: >= 2 MiB, power of 2

// ---------------------------------------------------------------------------------------------
// Part label
inline constexpr char kPartMagic[8] = {'P', 'M', 'F', 'S', 'P', 'A', 'R', 'T'};
inline constexpr uint32_t kPartLabelVersion = 1;

enum class LayoutKind : uint32_t { kLinear = 1, kStriped = 2 };

struct PartLabel {
  char magic[8];               // kPartMagic
  uint32_t version;            // kPartLabelVersion
  uint32_t layout;             // LayoutKind
  uint8_t set_uuid[16];        // the same in every part of one device
  uint32_t part_index;         // position of this part in the set, 0-based
  uint32_t part_count;         // number of parts in the set
  uint64_t chunk_size;         // striped: bytes per chunk; linear: 0
  uint64_t part_size;          // bytes of this part when the set was created
  uint64_t header_size;        // bytes at the start of every part before its data
  uint64_t data_size;          // bytes of this part's data in the device
  uint64_t device_size;        // bytes of the assembled device
  uint64_t ram_offset;         // RAM partition (device offsets); length 0: none
  uint64_t ram_length;
  uint64_t descriptor_offset;  // page-descriptor area (device offsets); length 0: none
  uint64_t descriptor_length;
  uint64_t created_ns;         // CLOCK_REALTIME at creation
  uint8_t reserved[132];       // must be zero
  uint32_t checksum;           // CRC-32C of the bytes above
};
static_assert(sizeof(PartLabel) == 256);
static_assert(offsetof(PartLabel, set_uuid) == 16);
static_assert(offsetof(PartLabel, chunk_size) == 40);
static_assert(offsetof(PartLabel, created_ns) == 112);
static_assert(offsetof(PartLabel, checksum) == 252);

// ---------------------------------------------------------------------------------------------
// Bad-block table (per part, in part data offsets)
inline constexpr char kBadBlockMagic[8] = {'P', 'M', 'F', 'S', 'B', 'A', 'D', 'B'};
inline constexpr uint64_t kLabelOffset = 0;
inline constexpr uint64_t kBadBlockTableOffset[2] = {1024, 2560};
inline constexpr uint32_t kMaxBadRanges = 94;

struct BadRange {
  uint64_t offset;  // part data offset
  uint64_t length;
};
static_assert(sizeof(BadRange) == 16);

struct BadBlockTable {
  char magic[8];        // kBadBlockMagic
  uint64_t sequence;    // the valid copy with the higher sequence is current
  uint32_t count;       // entries in use
  uint32_t reserved0;   // must be zero
  BadRange entries[kMaxBadRanges];
  uint8_t reserved[4];  // must be zero
  uint32_t checksum;
};
static_assert(sizeof(BadBlockTable) == 1536);
static_assert(offsetof(BadBlockTable, entries) == 24);
static_assert(kBadBlockTableOffset[1] + sizeof(BadBlockTable) <= kPageSize);

// Bytes at the start of every part before its data.
constexpr uint64_t PartHeaderSize(uint64_t alignment) {
  return alignment > kPageSize ? alignment : kPageSize;
}

// ---------------------------------------------------------------------------------------------
// Page descriptors
inline constexpr char kDescriptorMagic[8] = {'P', 'M', 'F', 'S', 'D', 'E', 'S', 'C'};
inline constexpr uint32_t kDescriptorLogSlots = 64;

enum PageFlags : uint32_t {
  kPageAllocated = 1u << 0,  // owned by a file (owner, file_index valid)
  kPageShared = 1u << 1,     // refcount > 1: copy-on-write before writing
  kPageMetadata = 1u << 2,   // holds store metadata, not file data
};

struct PageDescriptor {
  uint64_t owner;        // inode number of the owning file; 0: free
  uint64_t file_index;   // page index within the owner's file
  uint32_t refcount;     // file pages that share this device page
  uint32_t flags;        // PageFlags
  uint64_t generation;   // incremented by every persistent update of this descriptor
  uint32_t pin_count;    // VOLATILE: readers using the page in place; zeroed at open, not checksummed
  uint8_t reserved[24];  // must be zero
  uint32_t checksum;     // CRC-32C of the bytes above with pin_count taken as 0
};
static_assert(sizeof(PageDescriptor) == 64);
static_assert(offsetof(PageDescriptor, generation) == 24);
static_assert(offsetof(PageDescriptor, pin_count) == 32);

struct DescriptorAreaHeader {
  char magic[8];           // kDescriptorMagic
  uint64_t page_count;     // descriptors in the table (device pages)
  uint32_t log_slots;      // kDescriptorLogSlots
  uint32_t reserved0;      // must be zero
  uint64_t table_offset;   // from the start of the area
  uint8_t reserved[28];    // must be zero
  uint32_t checksum;
};
static_assert(sizeof(DescriptorAreaHeader) == 64);

// A redo record: the new value of one descriptor, persisted before the descriptor is written
// in place. Recovery re-applies a valid record whose generation is newer than the descriptor's
// (or whose descriptor fails its checksum: a torn in-place write).
struct DescriptorLogSlot {
  uint64_t page;          // device page the record is for
  uint64_t sequence;      // 0: never used
  PageDescriptor value;   // the new descriptor (pin_count 0, checksum valid)
  uint8_t reserved[44];   // must be zero
  uint32_t checksum;
};
static_assert(sizeof(DescriptorLogSlot) == 128);

inline constexpr uint64_t kDescriptorLogOffset = kPageSize;  // from the start of the area
inline constexpr uint64_t kDescriptorLogBytes =
    (kDescriptorLogSlots * sizeof(DescriptorLogSlot) + kPageSize - 1) / kPageSize * kPageSize;
inline constexpr uint64_t kDescriptorTableOffset = kDescriptorLogOffset + kDescriptorLogBytes;

// Bytes of a descriptor area covering `device_pages` pages, rounded up to whole pages.
constexpr uint64_t DescriptorAreaSize(uint64_t device_pages) {
  return kDescriptorTableOffset +
         (device_pages * sizeof(PageDescriptor) + kPageSize - 1) / kPageSize * kPageSize;
}

}  // namespace pmemfs::layout
