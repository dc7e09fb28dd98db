// Helpers for the pmemfs-fsck and pmemfs-tune tests: a populated filesystem over the crash
// simulator (files, sparse and preallocated files, many extents, directories with many names,
// hard links, short and long symlinks, a fifo, xattrs, a clone, a renamed directory, a removed
// file, a RAM file), unmounted for checking, and raw accessors to the on-media structures to
// damage them; the checker as the tests call it; and the crash loops of the offline changes
// (CutAtEveryPersistPoint, CutInsideRecovery).
#pragma once

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "fs/core/fs.h"
#include "fs_harness.h"
#include "mapping/part.h"
#include "pmemfs/crc32c.h"
#include "tools/fsck/check.h"

namespace pmemfs::fsck::testing {

using core::testing::kRoot;
using layout::kRootIno;
using layout::ChainHeader;
using layout::DentryHead;
using layout::ExtentRecord;
using layout::InodeRecord;
using layout::Superblock;

// The inodes Populate made.
struct Tree {
  uint64_t d1 = 0, sub = 0, moved = 0;   // d1/sub, d1/moved
  uint64_t f = 0;                        // d1/f, also /hl (two names), with xattrs
  uint64_t sparse = 0;                   // /sparse: two extents and a preallocation past EOF
  uint64_t many = 0;                     // /many: 150 extents (two extent blocks)
  uint64_t clone = 0;                    // /clone: copy_file_range of f (shared in pages mode)
  uint64_t s = 0, ls = 0;                // /s (inline target), d1/sub/ls (target in a block)
  uint64_t fifo = 0;                     // /fifo
};

std::string Describe(const CheckReport& r);
// The checker on `dev` (repairing when asked); an operational error is a test failure (and an
// empty report).
CheckReport MustCheck(mapping::Device& dev, bool repair = false);

// The bytes [off, off + len) of `dev`.
std::vector<std::byte> Bytes(const mapping::Device& dev, uint64_t off, uint64_t len);
// Every byte of part `p`: to prove that a refusal wrote nothing.
std::vector<std::byte> PartImage(const mapping::Part& p);

// --- crash loops of an offline change (pmemfs-tune) ---------------------------------------------

// What CutAtEveryPersistPoint cut: crash states, and those that ended in the new state.
struct CutStates {
  uint64_t states = 0, fresh = 0;
};

// A change of `total` persist points cut after each n = 0..total, first keeping none of the
// lines then pending, then half of them (keep 0.5): `cut(n, keep, &which)` makes the change on a
// fresh device, the power failing there, recovers and checks, and sets `which`: 0 the old state,
// 1 the new one, 2 (some changes) a state between, -1 none (a failure it reported). n = 0 must
// end in the old state, n = total in the new one. A fatal failure of `cut`, or -1, ends the loop
// with a fatal failure (call it in ASSERT_NO_FATAL_FAILURE). Each cut under the trace
// "keep K cut after point N"; *counts: what was cut.
void CutAtEveryPersistPoint(uint64_t total,
                            const std::function<void(uint64_t n, double keep, int* which)>& cut,
                            CutStates* counts);

// A recovery cut at each of its own persist points. For each cut of the change after n = 0..total
// persist points: `probe(n, &points)` cuts it there and recovers undisturbed, setting the
// recovery's persist points (0: nothing to recover, n skipped); then for each r < points,
// `cut(n, r)` cuts the change after n and its recovery after r, recovers again and checks that
// it ends as the undisturbed recovery did. A fatal failure of either ends the loop (fatally).
// Traces "cut after point N" and "`what` cut after point R"; *states: the cuts inside recovery.
void CutInsideRecovery(uint64_t total, const std::string& what,
                       const std::function<void(uint64_t n, uint64_t* points)>& probe,
                       const std::function<void(uint64_t n, uint64_t r)>& cut, uint64_t* states);

class FsckImage : public core::testing::FsHarnessBase {
 public:
  explicit FsckImage(mapping::Mode mode,
                     layout::StoredMode stored = layout::StoredMode::kDirect,
                     uint64_t part_size = 24ull << 20)
      : FsHarnessBase(mode, {}, part_size, {.default_mode = stored}) {}

  core::Filesystem& fs() { return *fs_; }
  // Fills the filesystem (see Tree).
  void Populate();
  const Tree& tree() const { return tree_; }
  // Unmounts cleanly and reassembles the device for checking.
  mapping::Device& Unmount();
  mapping::Device& dev() { return *d_.dev; }
  // Mounts the (unmounted) device (read-only when asked; then remounted read-write when
  // asked) and unmounts it again: whether the daemon could use it (the first error).
  Status MountAndUnmount(bool read_only = false, bool remount_rw = false);
  // Power loss now (nothing more persists; the filesystem's unmount writes go nowhere), then
  // the device reassembled without mounting: what a checker sees after a crash.
  mapping::Device& CrashWithoutMount() {
    if (!d_.sim->stopped()) d_.sim->StopAfter(d_.sim->persist_points());
    fs_.reset();
    d_.sim->Crash();
    d_.Reopen();
    return *d_.dev;
  }
  mapping::testing::SimDevice& sim_device() { return d_; }

  // --- raw structures of the unmounted device -------------------------------------------------
  Superblock Sb() {
    Superblock sb;
    dev().Read(0, &sb, sizeof sb);
    return sb;
  }
  uint64_t InodeOffset(uint64_t ino) {
    return Sb().inode_start * layout::kBlockSize + (ino - 1) * sizeof(InodeRecord);
  }
  InodeRecord Inode(uint64_t ino) {
    InodeRecord r;
    dev().Read(InodeOffset(ino), &r, sizeof r);
    return r;
  }
  void PutInode(uint64_t ino, InodeRecord r) {  // resealed
    r.checksum = StructChecksum(r);
    dev().Write(InodeOffset(ino), &r, sizeof r);
  }
  ChainHeader Header(uint64_t block) {
    ChainHeader h;
    dev().Read(block * layout::kBlockSize, &h, sizeof h);
    return h;
  }
  void PutHeader(uint64_t block, ChainHeader h) {  // resealed
    h.checksum = StructChecksum(h);
    dev().Write(block * layout::kBlockSize, &h, sizeof h);
  }
  std::vector<uint64_t> Chain(uint64_t head) {
    std::vector<uint64_t> out;
    for (uint64_t b = head; b != 0 && out.size() < 1000; b = Header(b).next) out.push_back(b);
    return out;
  }
  // Where the dentry `name` of directory `dir` is: {block, slot}; {0, 0} if absent.
  std::pair<uint64_t, uint32_t> FindDentry(uint64_t dir, const std::string& name);
  // A run of `n` free dentry slots in `dir`'s chain.
  std::pair<uint64_t, uint32_t> FreeDentrySlots(uint64_t dir, uint32_t n);
  DentryHead Dentry(uint64_t block, uint32_t slot) {
    DentryHead h;
    dev().Read(store::Store::SlotOffset(block, slot), &h, sizeof h);
    return h;
  }
  // Writes a dentry (head + name) with a correct checksum.
  void PutDentry(uint64_t block, uint32_t slot, uint64_t ino, uint8_t type, const std::string& name);
  struct ExtentAt {
    uint64_t block;
    uint32_t slot;
    ExtentRecord rec;
  };
  std::vector<ExtentAt> Extents(uint64_t ino);
  void PutExtent(const ExtentAt& e) {  // resealed
    ExtentRecord r = e.rec;
    r.checksum = StructChecksum(r);
    dev().Write(store::Store::SlotOffset(e.block, e.slot), &r, sizeof r);
  }
  bool BitmapBit(uint64_t block) {
    uint8_t byte;
    dev().Read(Sb().bitmap_start * layout::kBlockSize + block / 8, &byte, 1);
    return byte >> (block % 8) & 1;
  }
  void SetBitmapBit(uint64_t block, bool v) {
    const uint64_t off = Sb().bitmap_start * layout::kBlockSize + block / 8;
    uint8_t byte;
    dev().Read(off, &byte, 1);
    byte = v ? byte | (1u << (block % 8)) : byte & ~(1u << (block % 8));
    dev().Write(off, &byte, 1);
  }
  // A data-area block that nothing uses (the bitmap says free), from the end of the data area.
  uint64_t FreeDataBlock() {
    const Superblock sb = Sb();
    for (uint64_t b = sb.backup_block - 1; b >= sb.data_start; b--)
      if (!BitmapBit(b)) return b;
    return 0;
  }
  uint64_t DescriptorOffset(uint64_t page) {
    return dev().info().descriptors.offset + layout::kDescriptorTableOffset +
           page * sizeof(layout::PageDescriptor);
  }
  layout::PageDescriptor Descriptor(uint64_t page) {
    layout::PageDescriptor d;
    dev().Read(DescriptorOffset(page), &d, sizeof d);
    return d;
  }
  void PutDescriptor(uint64_t page, layout::PageDescriptor d) {  // resealed, newer generation
    d.pin_count = 0;
    d.generation++;
    d.checksum = StructChecksum(d);
    dev().Write(DescriptorOffset(page), &d, sizeof d);
  }
  void FlipByte(uint64_t off, uint8_t mask = 0x5a) {
    uint8_t b;
    dev().Read(off, &b, 1);
    b ^= mask;
    dev().Write(off, &b, 1);
  }

 private:
  Tree tree_;
};

}  // namespace pmemfs::fsck::testing
