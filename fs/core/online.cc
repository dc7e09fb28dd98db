// Filesystem's online changes (pmemfs-tune on a live mount): the write-back period, and the
// mode and copy cache switch behind the quiesce gate (quiesce.h).
//
// ChangeAccess, in order; every step before the swap leaves the old mode as it was:
//   1. checks and opens the new mapping::Access (cache memory, descriptor area) while the
//      mount runs on;
//   2. closes the gate: new requests wait, those in flight drain (bounded);
//   3. calls back every direct-access lease (bounded, LeaseHolders); a holder that did not
//      answer refuses the switch, naming it;
//   4. commits pending write times and writes back the old strategy's buffered data;
//   5. swaps the strategy, the pins the allocator consults, the store's descriptors and copy
//      mode's free hook; brings the page-descriptor table in step as a mount would
//      (SyncDescriptorTable: into pages the device table is rebuilt, out of it marked stale);
//   6. opens the gate.
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "fs/core/fs.h"

namespace pmemfs::core {

void Filesystem::SetWritebackMs(uint32_t ms) {
  std::lock_guard l(remount_mu_);
  if (unmounted_) return;
  opts_.writeback_ms = ms;
  flusher_->SetPeriod(std::chrono::milliseconds(ms));
}

Status Filesystem::ChangeAccess(const AccessChange& change,
                                std::chrono::milliseconds drain_timeout) {
  std::lock_guard l(remount_mu_);  // one change at a time; none during remount or unmount
  if (unmounted_) return Status::InvalidArgument("the filesystem is unmounted");
  const mapping::Mode from = access_->mode();
  const mapping::Mode to = change.mode.value_or(from);
  const uint64_t cache = change.cache_size.value_or(opts_.cache_size);
  if (to == from && (to != mapping::Mode::kCopy || cache == opts_.cache_size))
    return Status::Ok();
  const std::string what = std::string("mode ") + mapping::ModeName(from) + " -> " +
                           mapping::ModeName(to);
  // 1. What a mount in that mode would refuse.
  if (to != mapping::Mode::kPages &&
      (store_->superblock().incompat & layout::kIncompatSharedPages))
    return Status::Unsupported(what + ": the filesystem has cloned (shared) pages, which only "
                               "pages mode keeps track of");
  if (from == mapping::Mode::kCopy && to != mapping::Mode::kCopy && opts_.kernel_write_times)
    return Status::Unsupported(what + ": the kernel's writeback cache (-o writeback_cache) is "
                               "chosen at mount and only copy mode allows it; remount instead");
  Result<std::unique_ptr<mapping::Access>> next = mapping::OpenAccess(
      *dev_, {.mode = to, .cache_size = cache, .descriptors = opts_.descriptors});
  if (!next.ok()) return Status(next.status().code(), what + ": " + next.status().message());

  // 2. Nothing in flight from here to the end but us. (`old` is declared first so that the old
  // strategy, a cache of up to gigabytes to unmap, goes after the gate opened.)
  std::unique_ptr<mapping::Access> old;
  if (!gate_.Close(drain_timeout))
    return Status::Busy(what + ": requests in flight did not finish within " +
                        std::to_string(drain_timeout.count()) + " ms; nothing changed");
  struct Reopen {
    QuiesceGate& g;
    ~Reopen() { g.Open(); }
  } reopen{gate_};

  // 3. Leases: every holder stops using the device (and reports its sizes and times).
  if (leases_) {
    RevokeAllLeases();
    std::vector<ClientId> silent = leases_->PendingClients();
    if (!silent.empty()) {
      LeaseHolders* h = holders_.load();
      std::string who;
      for (ClientId c : silent)
        who += (who.empty() ? "" : ", ") + (h ? h->Describe(c) : "client " + std::to_string(c));
      return Status::Busy(what + ": the direct-access lease holder" +
                          (silent.size() > 1 ? "s " : " ") + who +
                          (silent.size() > 1 ? " do" : " does") +
                          " not answer its revocation (stopped?); the mode is unchanged");
    }
  }

  // 4. What the old strategy holds goes down.
  PMEMFS_RETURN_IF_ERROR(flusher_->Flush());

  // 5. The swap (reversed if the descriptor table cannot follow).
  auto install = [&](mapping::Access* acc) {
    pins_->set_first(acc->pins());
    store_->SetDescriptors(acc->descriptors());
    if (acc->mode() == mapping::Mode::kCopy)
      store_->SetFreeHook([acc](store::BlockRange r) {
        acc->Discard(store::Store::BlockOffset(r.start), store::Store::BlockOffset(r.count));
      });
    else
      store_->SetFreeHook(nullptr);
  };
  old = std::move(access_);
  access_ = std::move(*next);
  install(access_.get());
  if (Status st = SyncDescriptorTable(); !st.ok()) {
    access_ = std::move(old);
    install(access_.get());
    return Status(st.code(), what + ": the page-descriptor table: " + st.message() +
                                 "; the mode is unchanged");
  }
  opts_.mode = to;
  if (to == mapping::Mode::kCopy) opts_.cache_size = cache;
  return Status::Ok();
}

}  // namespace pmemfs::core
