// Scrub: find a device's media errors before a user trips on them, and name what they hit.
//
//   Result<ScrubReport> r = Scrub(dev, "/dev/dax0.0", {.progress = ...});
//   std::string line = EncodeScrubReport(*r);   // the daemon's answer to pmemfs-tune (one line)
//   Result<ScrubReport> back = DecodeScrubReport(line);
//
// Reads every page the filesystem uses (the store's metadata, every block the allocation bitmap
// marks in use when the scrub starts, then in further passes those allocated meanwhile, the
// last pass with the filesystem held still, and the page-descriptor area) through the media guard
// (mapping::GuardedCopy), so a poisoned page is an error, not a SIGBUS. The pages of the ranges
// already known bad (the parts' bad-block tables and the platform's list) are not read again.
// Each page that fails is recorded in the parts' bad-block tables (BadBlocks::Inject:
// persistent, a later read fails with EIO and a write of the whole page clears it). Then every
// bad range of the device, old and new, is named with what it hits (owners.h): the file and
// file offset, or the metadata structure, or free space; the page descriptors give the owner of
// a data page in O(1) when the superblock says the table is current, else the extents are
// walked once.
//
// Used offline by pmemfs-tune --scrub (tools/tune/scrub.h prints the report) and online by the
// daemon (fs/core/scrub.cc), which reads while the mount runs and passes `hold_still`: what
// must see the filesystem at rest (re-reading a page before recording it, so that a write that
// just replaced the page is not marked bad; the walk that names owners) runs inside it.
//
// Writes nothing but the bad-block tables (nothing at all when `record` is false).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/store/owners.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

struct ScrubOptions {
  std::function<void(uint64_t done, uint64_t total)> progress;  // bytes; may be empty
  // Runs `fn` with the filesystem at rest (nothing else changes it meanwhile); empty: runs it
  // directly (an unmounted device). An error fails the scrub.
  std::function<Status(const std::function<void()>& fn)> hold_still;
  // false: the bad pages found are reported, not recorded (a read-only mount); record_error
  // says so.
  bool record = true;
  // When set and true, the scrub stops between two reads (Busy).
  const std::atomic<bool>* cancel = nullptr;
};

struct ScrubRange {
  uint64_t offset = 0;  // device offsets
  uint64_t length = 0;
  bool found = false;   // found by this scrub (not known before)
  std::vector<OwnerPiece> owners;
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

// Errors: no pmemfs on the device (or one this build cannot read); a failed hold_still; Busy
// when cancelled.
Result<ScrubReport> Scrub(mapping::Device& dev, const std::string& name, const ScrubOptions& o);

// One line (no tab, no newline) that DecodeScrubReport turns back into `r`.
std::string EncodeScrubReport(const ScrubReport& r);
// InvalidArgument for a line EncodeScrubReport did not make.
Result<ScrubReport> DecodeScrubReport(std::string_view line);

}  // namespace pmemfs::store
