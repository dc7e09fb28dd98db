// side.h: one of the two trees pmemfs-fsx drives (the pmemfs one or the reference one).
//
// A Side is a root directory and kSlots open-file slots. Apply() runs one Op with system calls
// on paths under the root and returns what an application would see: the errno, the value (bytes
// written, read or copied; the size after a mapped write) and the bytes read. Two Sides given the
// same ops must return equal Outcomes and hold equal trees (compare.h).
#pragma once

#include <string>
#include <vector>

#include "op.h"

namespace fsx {

struct Outcome {
  int err = 0;        // 0 or the errno of the call that failed
  int64_t value = 0;  // what the call returned, where that is a count
  std::string data;   // bytes a read returned

  bool operator==(const Outcome&) const = default;
};

std::string Describe(const Outcome& outcome);  // "ok 4096" or "ENOENT"
std::string ErrName(int err);                  // "ENOENT"

class Side {
 public:
  // emulate_zero_range: do FALLOC_FL_ZERO_RANGE as punch hole (+ allocation when the size
  // grows) if the filesystem refuses it (tmpfs, the reference, does).
  Side(std::string root, bool emulate_zero_range);
  ~Side();
  Side(const Side&) = delete;
  Side& operator=(const Side&) = delete;

  Outcome Apply(const Op& op);
  void CloseAll();

  const std::string& root() const { return root_; }
  std::string Abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }
  int slot_fd(int slot) const { return fds_[slot]; }

  // Entries: every object under the root, depth first, sorted by path.
  std::vector<Entry> Entries() const;

 private:
  Outcome Fallocate(int fd, const Op& op);
  Outcome MmapWrite(const Op& op);
  Outcome CopyRange(const Op& op);

  std::string root_;
  bool emulate_zero_range_;
  int fds_[kSlots];
};

// RemoveTree: rm -rf of path (no error if it does not exist); false and a message on failure.
bool RemoveTree(const std::string& path, std::string* error);

}  // namespace fsx
