// InodeTable: the inode records (layout::InodeRecord, ino = slot + 1) and the set of free slots.
//
// A slot is free when its record is all zero (never used since Format) or has mode 0 (freed:
// the record keeps its generation); in use when mode != 0 and the checksum matches; corrupt
// otherwise (never handed out, ReadInode reports it). Load scans the whole table once at Open;
// after that the free set lives in DRAM as a bitmap (1 bit per inode, whatever the table size)
// and Reserve hands out the lowest free ino.
//
// Records are written only through a Tx (Store::WriteInode / FreeInode); this class reads them.
// Internal to fs/store.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::store {

class InodeTable {
 public:
  // `dev` must outlive this.
  InodeTable(const mapping::Device& dev, const layout::Superblock& sb);

  // Sets the checksum of `rec`.
  static void Seal(layout::InodeRecord& rec);

  // Scans the table: builds the free set and appends the inodes with nlink 0 to `orphans` and
  // those marked kInodeTruncating to `truncating`. Corrupt when the root is not an intact
  // directory.
  Status Load(std::vector<uint64_t>* orphans, std::vector<uint64_t>* truncating);

  bool Contains(uint64_t ino) const { return ino >= 1 && ino <= count_; }
  uint64_t RecordOffset(uint64_t ino) const {
    return table_offset_ + (ino - 1) * sizeof(layout::InodeRecord);
  }
  // The record as the device holds it: NotFound for a free slot or an ino outside the table,
  // Corrupt when the checksum (or a reserved field) fails.
  Result<layout::InodeRecord> Read(uint64_t ino) const;

  // Takes the lowest free ino out of the free set; `generation` receives the slot's last
  // generation. NoSpace when every inode is in use.
  Result<uint64_t> Reserve(uint64_t* generation);
  // Puts inos back into the free set (an aborted reservation; a committed FreeInode).
  void Release(std::span<const uint64_t> inos);
  uint64_t free_count() const;

 private:
  const mapping::Device& dev_;
  const uint64_t table_offset_;
  const uint64_t count_;

  // Guards the free set: bit (ino - 1) of free_ is set when the ino is free.
  mutable Mutex mu_;
  std::vector<uint64_t> free_ GUARDED_BY(mu_);
  uint64_t free_count_ GUARDED_BY(mu_) = 0;
  uint64_t low_word_ GUARDED_BY(mu_) = 0;  // no free ino in the words before this one
};

}  // namespace pmemfs::store
