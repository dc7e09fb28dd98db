// The mount-time parsing fuzz target: a fuzzer input is a small pmemfs image (the store area of
// an in-memory device), which is mounted and walked. Shared by the libFuzzer binary
// (mount_fuzzer.cc, clang), the corpus replayer (replay_main.cc, any compiler: the regression
// inputs run in every build) and the seed generator (make_seeds.cc).
//
// Input format:
//   byte 0     mode: 0 copy, 1 direct, 2 pages (taken modulo 3)
//   byte 1     flags: kBackupTail, and which checksums to recompute after the image is loaded
//              (kReseal*), so mutations reach the parsing behind them (superblock geometry,
//              journal records, inode fields, chain links, dentries, extents, xattr bodies)
//   bytes 2..  the store area from offset 0 (the rest of it is zero); with kBackupTail the last
//              512 bytes of the input are instead the backup superblock, at the start of the
//              store area's last block. Populated images fill only its first ~200 KiB.
//
// What one input does (FuzzMount): Store::Detect and Store::Peek, then Filesystem::Mount (which
// runs Store::Open: superblock and backup, journal replay, bitmap, inode table scan; then the
// orphan and interrupted-truncate cleanup that walks chains), then a bounded walk: readdir of
// the root and of each subdirectory (two levels), getattr, readlink, a read of the first bytes
// of each file, listxattr/getxattr, and an unmount. Errors are fine; crashes, hangs and
// sanitizer reports are what the fuzzer finds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mapping/device.h"
#include "mapping/sim_pmem.h"

namespace pmemfs::fuzz {

// The device every input runs on: one part with a page-descriptor area and no RAM partition,
// sized so the store area is 1 MiB (256 blocks, the smallest the mapping layer allows).
inline constexpr uint64_t kStoreBytes = 1 << 20;
inline constexpr size_t kHeaderBytes = 2;

enum ResealFlags : uint8_t {
  kResealSuperblocks = 1u << 0,  // primary and backup
  kResealJournal = 1u << 1,      // header and its records_crc
  kResealInodes = 1u << 2,       // every non-zero record of the inode table
  kResealChains = 1u << 3,       // chain headers of blocks with a chain magic
  kResealSlots = 1u << 4,        // dentries, extent records, xattr bodies in those blocks
  kResealAll = 0x1f,
  kBackupTail = 1u << 5,         // the input ends with the backup superblock
};

// A fresh in-memory device (its SimPmem kept alongside).
struct FuzzDevice {
  std::unique_ptr<mapping::SimPmem> sim;
  std::shared_ptr<mapping::Part> part;  // to reassemble the device after its owner is gone
  std::unique_ptr<mapping::Device> dev;
};
Result<FuzzDevice> MakeDevice();

// Recomputes the checksums `flags` names in the store area image `img` (made kStoreBytes long).
void Reseal(std::vector<uint8_t>& img, uint8_t flags);

// Runs one input; returns 0 (libFuzzer's convention). Never fails on bad input.
int FuzzMount(const uint8_t* data, size_t size);

// Real images for the seed corpus: formatted, populated through fs/core in each mode (a
// directory tree, files with data and holes, a long symlink, xattrs, an unlinked-but-open
// file left as an orphan, a committed transaction left in the journal), each as a fuzzer input.
// `names` receives a file name for each.
Result<std::vector<std::vector<uint8_t>>> SeedInputs(std::vector<std::string>* names);

}  // namespace pmemfs::fuzz
