// One part of a device: a byte range of persistent memory with its own persistence functions.
//
// Two kinds: PmemPart (part_file.cc) maps a regular file, a file on an fsdax mount or a devdax
// character device with libpmem2 and holds an exclusive lock on it while open; SimPart
// (sim_pmem.h) is the in-memory stand-in used by tests, which records what has been flushed and
// drained so a crash can be simulated. Device (device.h) assembles parts into one address space.
//
// Offsets given to a Part are part offsets (0 is the first byte of the part, label included).
// Persistence calls here are the only ones in the project besides Device's, which route to them.
#pragma once

#include <libpmem2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::mapping {

// The unit at which stores become persistent once flushed (libpmem2's store granularity).
enum class Granularity { kByte, kCacheLine, kPage };
const char* GranularityName(Granularity g);

class Part {
 public:
  virtual ~Part() = default;

  // What the user named this part by (a path), for messages.
  virtual const std::string& name() const = 0;
  virtual uint64_t size() const = 0;
  // Offsets and lengths of mappings of this part must be multiples of this (4 KiB for files,
  // the device alignment, typically 2 MiB, for devdax).
  virtual uint64_t alignment() const = 0;
  virtual Granularity granularity() const = 0;
  // The part's own mapping of all its bytes, valid while the Part lives.
  virtual std::byte* base() const = 0;
  // The libpmem2 source of this part, used to map ranges of it into a device's reservation.
  virtual pmem2_source* source() const = 0;
  // Opened read-only: every mapping of it (its own and a device's) is PROT_READ, so a store or
  // a persistence call into it faults; only loads are allowed.
  virtual bool read_only() const { return false; }
  // The file behind the part (-1: none, the simulator's), and whether it was found shorter
  // than size() by a fault in the part's own mapping (media_guard.h: set once, never cleared).
  virtual int fd() const { return -1; }
  virtual bool lost() const { return false; }

  // Makes [off, off+len) reach the persistence domain once a later Drain() returns.
  virtual void Flush(uint64_t off, uint64_t len) = 0;
  // Waits for every Flush (and non-temporal copy) issued before it.
  virtual void Drain() = 0;
  // Copies into the part, bypassing caches where the platform can; flushed, not drained.
  virtual void CopyNoDrain(uint64_t off, const void* src, size_t len) = 0;
  // Fills [off, off+len) with `c`; flushed, not drained.
  virtual void SetNoDrain(uint64_t off, int c, size_t len) = 0;

  // Media errors the platform reports for this part (part offsets); empty where the platform
  // cannot tell. Not an error when unsupported.
  virtual std::vector<layout::BadRange> PlatformBadRanges() const { return {}; }
  // Asks the platform to clear a reported media error in [off, off+len) (a no-op where
  // unsupported).
  virtual Status ClearPlatformBadRange(uint64_t /*off*/, uint64_t /*len*/) { return Status::Ok(); }
};

// How a file part is opened.
struct PartOpenOptions {
  // Emulated pmem (a file on a non-DAX filesystem): flush cache lines instead of msync. Only
  // correct when the file's page cache is the durable medium (a file on /dev/shm standing in for
  // pmem); without it the default on a non-pmem file is page granularity (msync), always correct.
  bool force_cache_line = false;
  // Open the file O_RDONLY and map it PROT_READ (a check that never writes): works on a
  // read-only filesystem and on an immutable file. Still locked exclusively.
  bool read_only = false;
  // Open read-write if the file allows it, else as read_only (a read-only mount, which a live
  // remount may make read-write: Part::read_only() says which it got).
  bool read_only_fallback = false;
  // Register the part's own mapping with MediaGuard (a fault after the file shrank does not kill
  // the process). Off for a library inside an application (client/), which installs no signal
  // handler: there a shrunken part faults as any mapping would.
  bool guard_shrink = true;
};

// Opens and maps a part (a path) and takes an exclusive lock on it. Errors name the path: it
// does not exist, it is not a regular file or character device, it is in use by another process,
// it cannot be opened for writing (the message suggests read-only use).
Result<std::unique_ptr<Part>> OpenFilePart(const std::string& path, const PartOpenOptions& opts);

// A part from an open file descriptor that another process opened and keeps locked (a
// direct-access client gets the daemon's parts over its socket): takes `fd` (closed on error
// too) and takes no lock. `name` names the part in messages; read_only must match how `fd` was
// opened; read_only_fallback is ignored.
Result<std::unique_ptr<Part>> OpenFilePartFd(int fd, const std::string& name,
                                             const PartOpenOptions& opts);

}  // namespace pmemfs::mapping
