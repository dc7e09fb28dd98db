// pmemfs-tune --scrub: find the media errors of an unmounted device before a user trips on them.
//
//   Result<ScrubReport> r = Scrub(dev, {.progress = ...});
//   PrintScrub(*r, stdout);   ScrubJson(*r);
//
// Reads every page the filesystem uses (the store's metadata, every block the allocation bitmap
// marks in use, the page-descriptor area) through the media guard (mapping::GuardedCopy), so a
// poisoned page is an error, not a SIGBUS. The pages of the ranges already known bad (the parts'
// bad-block tables and the platform's list) are not read again. Each page that fails is recorded
// in the parts' bad-block tables (BadBlocks::Inject: persistent, a later read fails with EIO and
// a write of the whole page clears it). Then every bad range of the device, old and new, is
// named with what it hits (fs/store/owners.h): the file and file offset, or the metadata
// structure, or free space; the page descriptors give the owner of a data page in O(1) when the
// superblock says the table is current, else the extents are walked once.
//
// Writes nothing but the bad-block tables. Internal to tools/tune.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "fs/store/owners.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

struct ScrubOptions {
  std::function<void(uint64_t done, uint64_t total)> progress;  // bytes; may be empty
};

struct ScrubRange {
  uint64_t offset = 0;  // device offsets
  uint64_t length = 0;
  bool found = false;   // found by this scrub (not known before)
  std::vector<store::OwnerPiece> owners;
};

struct ScrubReport {
  std::string device;           // as given
  uint64_t bytes_read = 0;      // read through the guard
  uint64_t bytes_skipped = 0;   // in use but already known bad (not read)
  uint64_t elapsed_ns = 0;      // of the reading
  uint64_t found_bytes = 0;     // newly found bad (whole pages)
  std::string owners_from;      // "descriptors" or "extents"
  std::string record_error;     // why some found ranges could not be recorded ("" if none)
  std::vector<ScrubRange> ranges;  // every bad range of the device after the scrub
  bool metadata_hit() const;
};

// Errors: no pmemfs on the device (or one this build cannot read).
Result<ScrubReport> Scrub(mapping::Device& dev, const std::string& name, const ScrubOptions& o);

void PrintScrub(const ScrubReport& r, FILE* out);
std::string ScrubJson(const ScrubReport& r);

}  // namespace pmemfs::tune
