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
// Label version 2 (kPartLabelVersion) also keeps a BACKUP of that first page (the label and both
// bad-block tables, byte for byte at the same page offsets) in the last 4 KiB page of the part as
// it was created (PartLabel::backup_offset = BackupHeaderOffset(part_size)), like GPT's backup
// header at the end of the disk: the data area ends before it. A part whose first page is lost
// opens from the backup found in its last page; a part grown after creation must keep its
// primary (its backup is no longer in its last page). Version 1 labels (older images) have no
// backup (backup_offset 0) and stay readable.
//
// The rest of each part is data; the parts' data areas form the device's linear address space,
// concatenated (linear layout) or interleaved in chunks (striped layout). The mapping layer
// reserves two ranges of that space, recorded in every label:
//
//   [0, ram_offset)                              the store's area (superblock, journal, ...)
//   [ram_offset, +ram_length)                    RAM partition: volatile, reset at every open
//   [descriptor_offset, +descriptor_length)      page descriptors (pages mode), to the end
//
// The store area ends where the RAM partition begins; without a RAM partition (ram_length 0)
// ram_offset still marks its end when not 0 (pmemfs-tune may leave unused space after the
// store area), else the store area ends at the descriptor area or the end of the device.
//
// The page-descriptor area: one header page, then kDescriptorLogSlots log slots of 128 B
// (kDescriptorLogBytes, page-rounded; unused now, kept zero: see DescriptorLogSlot), then one
// 64-byte PageDescriptor per 4 KiB device page, for every page of the device:
// descriptor(p) = descriptor_offset + kDescriptorTableOffset + 64 p.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmemfs::layout {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kCacheLine = 64;
inline constexpr uint64_t kMinChunkSize = 2ull << 20;  // striped layout chunk: >= 2 MiB, power of 2

// Whether the `n` bytes at `p` are all zero: what reserved fields ("must be zero") and unused
// slots hold.
inline bool AllZero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Part label
inline constexpr char kPartMagic[8] = {'P', 'M', 'F', 'S', 'P', 'A', 'R', 'T'};
inline constexpr uint32_t kPartLabelVersion = 2;          // what CreateDevice writes
inline constexpr uint32_t kPartLabelVersionNoBackup = 1;  // older images: no backup header

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
  uint64_t backup_offset;      // version 2: part offset of the backup header page; version 1: 0
  // A change of set_uuid in progress (pmemfs-tune -U), all zero when none: the set uuid the
  // device gets if the change completes. Parts whose set_uuid is this value belong to the same
  // set as parts that still carry the old one with this pending (see device_set.h).
  uint8_t pending_uuid[16];
  // A change of the RAM partition or the page-descriptor area in progress (pmemfs-tune
  // --ram-size, --descriptors), geometry_pending 1, all zero when none: the ranges the device
  // gets if the change completes. Its commit point is the first label copy that carries the new
  // ranges without this mark (device_set.h: ChangeGeometry).
  uint64_t pending_ram_offset;
  uint64_t pending_ram_length;
  uint64_t pending_descriptor_offset;
  uint64_t pending_descriptor_length;
  uint32_t geometry_pending;
  // 1 while pmemfs-tune --add-part grows the set by a part (device_set.h: "Growing a linear
  // device"), else 0: the new part's label carries it from its first write, every other part's
  // from the write that gives it the grown geometry (the first such copy is the commit point)
  // until the last label is settled. A device with such a label does not assemble; running the
  // same pmemfs-tune --add-part again finishes (or, before the commit point, undoes) it.
  uint32_t part_joining;
  uint8_t reserved[68];        // must be zero
  uint32_t checksum;           // CRC-32C of the bytes above
};
static_assert(sizeof(PartLabel) == 256);
static_assert(offsetof(PartLabel, set_uuid) == 16);
static_assert(offsetof(PartLabel, chunk_size) == 40);
static_assert(offsetof(PartLabel, created_ns) == 112);
static_assert(offsetof(PartLabel, backup_offset) == 120);
static_assert(offsetof(PartLabel, pending_uuid) == 128);
static_assert(offsetof(PartLabel, pending_ram_offset) == 144);
static_assert(offsetof(PartLabel, geometry_pending) == 176);
static_assert(offsetof(PartLabel, part_joining) == 180);
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
// Bytes at the end of every part after its data (version 2 labels): the backup header page.
inline constexpr uint64_t kPartTrailerSize = kPageSize;
// Where a part of `part_size` bytes keeps its backup header page: its last whole page.
constexpr uint64_t BackupHeaderOffset(uint64_t part_size) {
  return part_size / kPageSize * kPageSize - kPartTrailerSize;
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

// A redo record of earlier versions: the new value of one descriptor, persisted before the
// descriptor was written in place, re-applied at open when newer than the descriptor (or when
// the descriptor failed its checksum). Descriptor changes travel in the store journal
// (RecordKind::kDescriptor), which makes them atomic, so nothing writes these any more; opening
// the area read-write zeroes any left, and the header still counts kDescriptorLogSlots so that
// areas open in every version.
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

// =============================================================================================
// The store (fs/store): the filesystem inside the device's store area [0, DeviceInfo::store()).
//
// Store block numbers count 4 KiB blocks from device offset 0. At format time (mkpmemfs):
//
//   block 0                         Superblock (primary)
//   [journal_start, +journal_blocks)    redo journal: JournalHeader, then the record stream
//   [inode_start, +inode_blocks)        inode table: inode_count InodeRecords (ino = slot + 1)
//   [bitmap_start, +bitmap_blocks)      allocation bitmap: 1 bit per store block, 1 = in use;
//                                       with kRoCompatBitmapChecksums, then one CRC-32C per
//                                       bitmap block (BitmapChecksumStart below)
//   [data_start, backup_block)          data, extent, directory, xattr and xattr value blocks
//   backup_block = store_blocks - 1     Superblock (backup copy)
//
// A store that pmemfs-tune --add-part grew past what its bitmap maps has its bitmap area moved
// into the data area (kIncompatMovedBitmap; fs/store/bitmap_area.h has the rule): the area
// [bitmap_start, +bitmap_blocks) then lies in [data_start, backup_block), its own bits set.
//
// Every change of these structures goes through one journal transaction (fs/store/journal.h);
// file data in direct/pages mode is written in place before the transaction that links it.
inline constexpr uint64_t kBlockSize = 4096;

inline constexpr char kSuperMagic[8] = {'P', 'M', 'E', 'M', 'F', 'S', 'S', 'B'};
inline constexpr uint16_t kMajorVersion = 1;
// Minor 1: Superblock::checked_ns and uuid_change (zero in minor-0 images, where they were
// reserved). A minor-0 build refuses an image whose checked_ns is set (reserved bytes).
inline constexpr uint16_t kMinorVersion = 1;
// Feature masks: an unknown incompat bit refuses to mount; an unknown ro_compat bit mounts
// read-only; unknown compat bits are ignored.
//
// kCompatDescriptorsCurrent: the device's page-descriptor table matches the extents. Only a
// pages-mode mount with the descriptors on the device keeps it so; any other mount clears the bit
// before it changes anything, and the next such pages mount rebuilds the table from the extents.
inline constexpr uint64_t kCompatDescriptorsCurrent = 1ull << 0;
// kIncompatSharedPages: some data pages may be mapped by several files (copy_file_range clones in
// pages mode). Only a mount that counts page references (pages mode) may free them, so a direct
// or copy mount refuses such a filesystem. Set before the first clone commits; never cleared.
inline constexpr uint64_t kIncompatSharedPages = 1ull << 0;
// kRoCompatBitmapChecksums: each block of the allocation bitmap has a CRC-32C, kept by the same
// journal transactions that change the bitmap, verified at mount (see BitmapChecksumStart).
// Code that does not know it may read the filesystem but not change it.
inline constexpr uint64_t kRoCompatBitmapChecksums = 1ull << 0;
// kIncompatLargeXattrs: an xattr value longer than kXattrMaxValue may live out of line, in data
// blocks its xattr block lists (XattrHead::flags kXattrValueExtents, XattrValueRef). Code that
// does not know it can neither read such a value nor free its blocks with the attribute, so it
// must not mount. mkpmemfs sets it; an older filesystem gets it (durably, in its own
// transaction) before the commit of its first out-of-line value. Never cleared.
inline constexpr uint64_t kIncompatLargeXattrs = 1ull << 1;
// kIncompatMovedBitmap: the bitmap area (bitmap and checksum table, bitmap_start/bitmap_blocks)
// may lie inside the data area [data_start, backup_block), its blocks marked in use in the
// bitmap itself; the blocks below data_start where mkpmemfs put it stay unused metadata.
// pmemfs-tune --add-part sets it in the transaction that commits a store grown past what the old
// bitmap maps (fs/store/growth.cc). Code that does not know it would take those blocks for
// leaked data blocks (fsck would free them), so it must not mount. Never cleared.
inline constexpr uint64_t kIncompatMovedBitmap = 1ull << 2;
inline constexpr uint64_t kCompatKnown = kCompatDescriptorsCurrent;
inline constexpr uint64_t kIncompatKnown =
    kIncompatSharedPages | kIncompatLargeXattrs | kIncompatMovedBitmap;
inline constexpr uint64_t kRoCompatKnown = kRoCompatBitmapChecksums;

enum class FsState : uint32_t { kClean = 1, kDirty = 2 };
// Superblock::default_mode
enum class StoredMode : uint32_t { kCopy = 0, kDirect = 1, kPages = 2 };

struct Superblock {
  char magic[8];            // kSuperMagic
  uint16_t major;           // kMajorVersion: a different major refuses to mount
  uint16_t minor;
  uint32_t state;           // FsState: kDirty while mounted
  uint64_t compat;
  uint64_t incompat;
  uint64_t ro_compat;
  uint8_t uuid[16];         // the filesystem's: the device's set uuid (part labels) when made
                            // by mkpmemfs, changed with it by pmemfs-tune -U (older images:
                            // another random uuid)
  char label[64];           // NUL-padded
  uint32_t block_size;      // kBlockSize
  uint32_t default_mode;    // StoredMode
  uint64_t store_blocks;    // blocks in the store area
  uint64_t journal_start;
  uint64_t journal_blocks;
  uint64_t inode_start;
  uint64_t inode_blocks;
  uint64_t inode_count;
  uint64_t bitmap_start;
  uint64_t bitmap_blocks;
  uint64_t data_start;
  uint64_t data_blocks;     // data_start .. backup_block
  uint64_t backup_block;
  uint64_t created_ns;
  uint64_t mounted_ns;      // last mount
  uint64_t written_ns;      // last clean unmount
  uint64_t mount_count;
  uint64_t checked_ns;      // last check by pmemfs-fsck that left it clean; 0: never (minor 1)
  // A change of the uuid (pmemfs-tune -U) under way: the new uuid, all zero when none (minor 1).
  // Set before the part labels are touched, cleared once they all carry the result, so a
  // read-write open that finds it set rewrites every label copy to `uuid` (fs/store/identity.cc).
  uint8_t uuid_change[16];
  // A change of the RAM partition or the descriptor area (pmemfs-tune) under way: 1, else 0. Set
  // before the part labels are touched, cleared once they all carry the result (which the labels
  // decide: mapping/device_set.h ChangeGeometry), so a read-write open that finds it set rewrites
  // every label copy, a torn one too. Builds before it read it as reserved bytes (refuse) while
  // it is set.
  uint32_t geometry_change;
  // pmemfs-tune --add-part under way: 1, else 0. Set before the part labels are touched; the
  // read-write open that finds it on a device whose store area is larger than store_blocks grows
  // the store to the whole area (fs/store/growth.cc) and clears it, as does one that finds the
  // device as it was (the change undone). Builds before it refuse while it is set (reserved).
  uint32_t store_growth;
  uint8_t reserved[228];    // must be zero
  uint32_t checksum;
};
static_assert(sizeof(Superblock) == 512);
static_assert(offsetof(Superblock, uuid) == 40);
static_assert(offsetof(Superblock, store_blocks) == 128);
static_assert(offsetof(Superblock, checked_ns) == 248);
static_assert(offsetof(Superblock, uuid_change) == 256);
static_assert(offsetof(Superblock, geometry_change) == 272);
static_assert(offsetof(Superblock, store_growth) == 276);
static_assert(offsetof(Superblock, checksum) == 508);

// --- allocation bitmap --------------------------------------------------------------------------
// The bitmap is BitmapBytes() bytes from block bitmap_start: little-endian 64-bit words, bit b of
// word w for store block 64 w + b. With kRoCompatBitmapChecksums, bitmap block i (its bytes
// [4096 i, min(4096 (i + 1), BitmapBytes())) of the bitmap) has the CRC-32C of those bytes as
// uint32 number i of a table starting at block BitmapChecksumStart(); bitmap_blocks covers both
// (BitmapAreaBlocks). Without the feature the bitmap is BitmapBlocks() blocks and has no table.
constexpr uint64_t BitmapBytes(uint64_t store_blocks) { return (store_blocks + 63) / 64 * 8; }
constexpr uint64_t BitmapBlocks(uint64_t store_blocks) {
  return (BitmapBytes(store_blocks) + kBlockSize - 1) / kBlockSize;
}
constexpr uint64_t BitmapChecksumBlocks(uint64_t store_blocks) {
  return (BitmapBlocks(store_blocks) * sizeof(uint32_t) + kBlockSize - 1) / kBlockSize;
}
constexpr uint64_t BitmapAreaBlocks(uint64_t store_blocks, bool checksums) {
  return BitmapBlocks(store_blocks) + (checksums ? BitmapChecksumBlocks(store_blocks) : 0);
}
inline uint64_t BitmapChecksumStart(const Superblock& sb) {
  return sb.bitmap_start + BitmapBlocks(sb.store_blocks);
}
// Bytes of the bitmap in bitmap block i (4096, except maybe the last).
inline uint64_t BitmapBlockLength(const Superblock& sb, uint64_t i) {
  const uint64_t total = BitmapBytes(sb.store_blocks);
  return i * kBlockSize >= total ? 0 : (total - i * kBlockSize < kBlockSize ? total - i * kBlockSize
                                                                              : kBlockSize);
}
// Device offset of the checksum of bitmap block i.
inline uint64_t BitmapChecksumOffset(const Superblock& sb, uint64_t i) {
  return BitmapChecksumStart(sb) * kBlockSize + i * sizeof(uint32_t);
}

// --- journal ----------------------------------------------------------------------------------
inline constexpr char kJournalMagic[8] = {'P', 'M', 'F', 'S', 'J', 'R', 'N', 'L'};
enum class JournalState : uint32_t { kEmpty = 0, kCommitted = 1 };

// At the start of the journal's first block. The commit point of a transaction is the drain
// after this header is written with state kCommitted and a valid checksum.
struct JournalHeader {
  char magic[8];            // kJournalMagic
  uint64_t sequence;        // of the last committed transaction
  uint32_t state;           // JournalState
  uint32_t record_count;
  uint64_t record_bytes;    // of the record stream that starts at the journal's second block
  uint32_t records_crc;     // CRC-32C of those bytes
  uint8_t reserved[24];     // must be zero
  uint32_t checksum;
};
static_assert(sizeof(JournalHeader) == 64);

enum class RecordKind : uint32_t {
  kBytes = 1,       // write `length` bytes at device offset `target`
  kDescriptor = 2,  // set the page descriptor of device page `target` (data: DescriptorValue)
};

// The record stream: JournalRecord, then `length` bytes of data padded to 8, repeated.
struct JournalRecord {
  uint64_t target;
  uint32_t length;
  uint32_t kind;            // RecordKind
};
static_assert(sizeof(JournalRecord) == 16);

// Data of a kDescriptor record: the persistent fields of a PageDescriptor.
struct DescriptorValue {
  uint64_t owner;
  uint64_t file_index;
  uint32_t refcount;
  uint32_t flags;
};
static_assert(sizeof(DescriptorValue) == 24);

// --- inodes -----------------------------------------------------------------------------------
inline constexpr uint64_t kRootIno = 1;
inline constexpr uint32_t kInlineDataMax = 96;  // symlink targets shorter than this live inline

enum InodeFlags : uint32_t {
  kInodeTruncating = 1u << 0,  // a split truncate is in progress to `pending_size`
  // chattr(1) attributes (FS_IOC_SETFLAGS), enforced by fs/core for every caller, root too:
  kInodeSync = 1u << 1,        // a write is durable when it returns (copy mode too)
  kInodeImmutable = 1u << 2,   // no change at all: data, attributes, xattrs, names, links
  kInodeAppend = 1u << 3,      // data may only be appended; no truncate, unlink, rename, link
  kInodeNodump = 1u << 4,      // dump(8) skips the file (kept, not acted on)
  kInodeNoatime = 1u << 5,     // reads leave atime alone
};
// Images written before these attributes have the bits 0; a daemon that does not know them
// ignores them (it checks kInodeTruncating only).
inline constexpr uint32_t kInodeAttrFlags =
    kInodeSync | kInodeImmutable | kInodeAppend | kInodeNodump | kInodeNoatime;
inline constexpr uint32_t kInodeKnownFlags = kInodeTruncating | kInodeAttrFlags;
// kInodeTruncating with this pending_size (a truncate to whatever the size is): blocks past the
// end were allocated ahead for direct-access writers, which may have stored there past the
// committed size; a crash leaves the mark and mount (or fsck's repair) frees those blocks.
// Older daemons read it as the interrupted truncate it also is.
inline constexpr uint64_t kPendingSizeAhead = UINT64_MAX;

struct InodeRecord {
  uint32_t mode;            // S_IFMT | permissions; 0: free slot
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint64_t size;
  int64_t atime_ns;
  int64_t mtime_ns;
  int64_t ctime_ns;
  int64_t btime_ns;
  uint64_t generation;      // incremented each time the slot is reused
  uint64_t blocks;          // 4 KiB blocks held (data, maps, xattrs)
  uint64_t rdev;            // device nodes
  uint32_t flags;           // InodeFlags
  uint32_t reserved0;       // must be zero
  uint64_t map_head;        // files/symlinks: first extent block; dirs: first dentry block
  uint64_t map_tail;        // last block of that chain
  uint64_t xattr_head;      // first xattr block; 0: none
  uint64_t parent;          // directories: the parent's ino
  uint64_t pending_size;    // kInodeTruncating: the size being truncated to (kPendingSizeAhead)
  uint64_t reserved1;       // must be zero
  uint8_t inline_data[kInlineDataMax];
  uint8_t reserved[20];     // must be zero
  uint32_t checksum;
};
static_assert(sizeof(InodeRecord) == 256);
static_assert(offsetof(InodeRecord, map_head) == 88);
static_assert(offsetof(InodeRecord, inline_data) == 136);

// --- chained blocks: extents, directory entries, xattrs -----------------------------------------
inline constexpr char kExtentBlockMagic[8] = {'P', 'M', 'F', 'S', 'E', 'X', 'T', 'B'};
inline constexpr char kDirBlockMagic[8] = {'P', 'M', 'F', 'S', 'D', 'I', 'R', 'B'};
inline constexpr char kXattrBlockMagic[8] = {'P', 'M', 'F', 'S', 'X', 'A', 'T', 'B'};

// At the start of every extent, directory and xattr block.
struct ChainHeader {
  char magic[8];            // which kind of block
  uint64_t owner;           // ino
  uint64_t next;            // next block of the chain; 0: last
  uint64_t index;           // position in the chain, 0-based
  uint8_t reserved[28];     // must be zero
  uint32_t checksum;
};
static_assert(sizeof(ChainHeader) == 64);

inline constexpr uint32_t kSlotSize = 32;
inline constexpr uint32_t kSlotsPerBlock = (kBlockSize - sizeof(ChainHeader)) / kSlotSize;  // 126

// One slot of an extent block: file blocks [file_block, +length) are device blocks
// [dev_block, +length). length 0: unused slot.
struct ExtentRecord {
  uint64_t file_block;
  uint64_t dev_block;
  uint32_t length;
  uint32_t flags;           // reserved, must be zero
  uint32_t reserved;        // must be zero
  uint32_t checksum;
};
static_assert(sizeof(ExtentRecord) == kSlotSize);

// A directory entry: this head slot, followed by `slots - 1` more slots of name bytes, never
// crossing a block. ino 0: unused slot.
inline constexpr uint32_t kMaxNameLen = 255;
struct DentryHead {
  uint64_t ino;
  uint8_t name_len;
  uint8_t type;             // DT_* of the target
  uint8_t slots;            // slots the entry occupies, head included
  uint8_t reserved;         // must be zero
  uint32_t checksum;        // CRC-32C of the head (checksum 0) and the name
  char name[16];            // first bytes of the name; the rest follows in the next slots
};
static_assert(sizeof(DentryHead) == kSlotSize);
constexpr uint32_t DentrySlots(uint32_t name_len) {
  return name_len <= 16 ? 1 : 1 + (name_len - 16 + kSlotSize - 1) / kSlotSize;
}

// An xattr block holds one attribute: this head, the name, then `value_len` bytes:
//   - the value itself (flags 0), at most kXattrMaxValue bytes, or
//   - (flags kXattrValueExtents, kIncompatLargeXattrs) an XattrValueRef and its extent_count
//     XattrValueExtents: the value, kXattrMaxValue < size <= kXattrMaxSize bytes, is in whole
//     data blocks of those extents, in order (the last block's tail is zero), checked by
//     value_crc. They belong to the attribute alone: written in place before the transaction
//     that links them (like file data), freed in the transaction that removes or replaces it.
inline constexpr uint32_t kXattrMaxValue =
    kBlockSize - sizeof(ChainHeader) - 16 - kMaxNameLen;  // 3761 bytes: inline
inline constexpr uint32_t kXattrMaxSize = 65536;          // XATTR_SIZE_MAX
inline constexpr uint32_t kXattrMaxExtents = kXattrMaxSize / kBlockSize;  // 16
enum XattrFlags : uint8_t {
  kXattrValueExtents = 1u << 0,  // the value is out of line (XattrValueRef)
};
struct XattrHead {
  uint8_t name_len;
  uint8_t flags;            // XattrFlags (images before kIncompatLargeXattrs: zero)
  uint16_t value_len;       // bytes after the name
  uint32_t reserved1;       // must be zero
  uint32_t reserved2;       // must be zero
  uint32_t checksum;        // CRC-32C of the head (checksum 0), name and value_len bytes
};
static_assert(sizeof(XattrHead) == 16);

struct XattrValueRef {
  uint32_t size;            // bytes of the value
  uint32_t value_crc;       // CRC-32C of the value
  uint32_t extent_count;    // 1..kXattrMaxExtents; their blocks add up to ceil(size / 4096)
  uint32_t reserved;        // must be zero
};
static_assert(sizeof(XattrValueRef) == 16);

struct XattrValueExtent {
  uint64_t start;           // store block, in the data area
  uint32_t count;           // blocks, >= 1
  uint32_t reserved;        // must be zero
};
static_assert(sizeof(XattrValueExtent) == 16);
static_assert(sizeof(XattrHead) + kMaxNameLen + sizeof(XattrValueRef) +
                  kXattrMaxExtents * sizeof(XattrValueExtent) <=
              kBlockSize - sizeof(ChainHeader));

}  // namespace pmemfs::layout
