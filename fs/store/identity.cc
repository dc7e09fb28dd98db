// Store::SetIdentity: pmemfs-tune's changes of the superblock (label, uuid, default mode, last
// check time), and the recovery of a uuid change a crash interrupted; Store::ChangeGeometry:
// its changes of the RAM partition and descriptor area, and their recovery (below).
//
// A new uuid is also the device's set uuid, which every part label carries outside the store
// area, out of the journal's reach. The steps (each superblock write is one journal Tx):
//   1. Tx: superblock.uuid_change = new                  the intent, before any label is touched
//   2. mapping::AnnounceUuidChange(new)                  labels: old uuid, new one pending
//   3. Tx: superblock.uuid = new (+ label, mode, ...)    THE COMMIT POINT
//   4. mapping::SettleUuid(new)                          labels: new uuid
//   5. Tx: superblock.uuid_change = 0                    done
// A read-write open that finds uuid_change set (a crash between 1 and 5) settles every label copy
// on the superblock's uuid, the new one after 3, the old one before, and clears the intent
// (FinishUuidChange below): the old or the new filesystem, labels whole, never a mix. The labels'
// pending uuid is what lets parts carrying the old and the new set uuid assemble meanwhile.
#include <cstring>

#include "fs/store/store.h"
#include "mapping/device_set.h"

namespace pmemfs::store {

namespace {

bool UuidChanging(const layout::Superblock& sb) {
  return !layout::AllZero(sb.uuid_change, sizeof sb.uuid_change);
}

}  // namespace

Status Store::SetIdentity(const IdentityChange& change) {
  if (change.label && (change.label->size() >= sizeof(layout::Superblock::label) ||
                       change.label->find('\0') != std::string::npos))
    return Status::InvalidArgument("a label has at most " +
                                   std::to_string(sizeof(layout::Superblock::label) - 1) +
                                   " bytes and no NUL");
  if (change.default_mode && *change.default_mode > layout::StoredMode::kPages)
    return Status::InvalidArgument("unknown default mode");
  if (change.uuid && layout::AllZero(change.uuid->data(), change.uuid->size()))
    return Status::InvalidArgument("the nil uuid cannot name a filesystem");

  ReaderLock mode(mode_mu_);
  if (read_only_) return Status::ReadOnly("the filesystem is mounted read-only");
  MutexLock l(features_mu_);
  layout::Superblock sb = sb_;
  if (change.label) {
    std::memset(sb.label, 0, sizeof sb.label);
    std::memcpy(sb.label, change.label->data(), change.label->size());
  }
  if (change.default_mode) sb.default_mode = static_cast<uint32_t>(*change.default_mode);
  if (change.checked_ns) sb.checked_ns = *change.checked_ns;
  const bool new_uuid =
      change.uuid && (std::memcmp(dev_.info().set_uuid, change.uuid->data(), 16) != 0 ||
                      std::memcmp(sb.uuid, change.uuid->data(), 16) != 0);
  if (!new_uuid) return UpdateSuperblock(sb);

  // 1. The intent.
  layout::Superblock intent = sb_;
  std::memcpy(intent.uuid_change, change.uuid->data(), sizeof intent.uuid_change);
  PMEMFS_RETURN_IF_ERROR(UpdateSuperblock(intent));
  // 2. Announced in the labels. On failure, back to the old uuid (as recovery would).
  if (Status a = mapping::AnnounceUuidChange(dev_, change.uuid->data()); !a.ok()) {
    (void)FinishUuidChange();
    return a;
  }
  // 3. The commit point.
  std::memcpy(sb.uuid, change.uuid->data(), sizeof sb.uuid);
  std::memcpy(sb.uuid_change, change.uuid->data(), sizeof sb.uuid_change);
  Status committed = UpdateSuperblock(sb);
  // 4 and 5 (or, when 3 failed before writing anything, back to the old uuid).
  Status finished = FinishUuidChange();
  return committed.ok() ? finished : committed;
}

Status Store::FinishUuidChange() {
  layout::Superblock sb = sb_;
  PMEMFS_RETURN_IF_ERROR(mapping::SettleUuid(dev_, sb.uuid));
  if (!UuidChanging(sb)) return Status::Ok();
  std::memset(sb.uuid_change, 0, sizeof sb.uuid_change);
  return UpdateSuperblock(sb);
}

bool Store::UuidChangeInterrupted(const layout::Superblock& sb, const mapping::Device& dev) {
  return UuidChanging(sb) || dev.info().uuid_change_pending();
}

// A change of the RAM partition or the descriptor area (pmemfs-tune). The part labels hold it
// and decide it (mapping::ChangeGeometry: announced, then settled; the first settled copy is the
// commit point); the superblock only marks that labels may be in between:
//   1. Tx: superblock.geometry_change = 1
//   2. mapping::ChangeGeometry(ram, descriptors)        labels: announced, then settled
//   3. Tx: superblock.geometry_change = 0
// A read-write open that finds the mark (or labels still announcing) rewrites every label copy
// to the ranges the device opened with, then clears it (FinishGeometryChange).
Status Store::ChangeGeometry(mapping::Range ram, mapping::Range descriptors) {
  ReaderLock mode(mode_mu_);
  if (read_only_) return Status::ReadOnly("the filesystem is mounted read-only");
  MutexLock l(features_mu_);
  layout::Superblock intent = sb_;
  intent.geometry_change = 1;
  PMEMFS_RETURN_IF_ERROR(UpdateSuperblock(intent));
  if (Status changed = mapping::ChangeGeometry(dev_, ram, descriptors); !changed.ok()) {
    (void)FinishGeometryChange();
    return changed;
  }
  layout::Superblock done = sb_;
  done.geometry_change = 0;
  return UpdateSuperblock(done);
}

Status Store::FinishGeometryChange() {
  PMEMFS_RETURN_IF_ERROR(mapping::SettleGeometry(dev_));
  if (sb_.geometry_change == 0) return Status::Ok();
  layout::Superblock sb = sb_;
  sb.geometry_change = 0;
  return UpdateSuperblock(sb);
}

bool Store::GeometryChangeInterrupted(const layout::Superblock& sb, const mapping::Device& dev) {
  return sb.geometry_change != 0 || dev.info().geometry_change_pending;
}

}  // namespace pmemfs::store
