#include "fs/core/directory.h"

#include <cstring>

#include "pmemfs/crc32c.h"

namespace pmemfs::core {

using layout::DentryHead;
using layout::kSlotSize;
using layout::kSlotsPerBlock;

namespace {

uint64_t CookieOf(const SlotRef& r) { return r.chain_index * kSlotsPerBlock + r.slot + 3; }

uint32_t DentryChecksum(const DentryHead& head, const char* name) {
  DentryHead h = head;
  h.checksum = 0;
  uint32_t crc = Crc32c(&h, sizeof h);
  if (h.name_len > sizeof h.name) crc = Crc32c(name + sizeof h.name, h.name_len - sizeof h.name, crc);
  return crc;
}

}  // namespace

Result<std::unique_ptr<Directory>> Directory::Load(const store::Store& store, uint64_t ino,
                                                   const layout::InodeRecord& rec) {
  auto d = std::make_unique<Directory>();
  Status st = store.ForEachChainBlock(
      rec.map_head, store::ChainKind::kDentries, ino,
      [&](uint64_t block, const std::byte* data) -> Status {
        layout::ChainHeader ch;
        std::memcpy(&ch, data, sizeof ch);
        d->slots_.AddBlock(block, ch.index);
        const std::byte* slots = data + sizeof(layout::ChainHeader);
        for (uint32_t s = 0; s < kSlotsPerBlock;) {
          DentryHead h;
          std::memcpy(&h, slots + s * kSlotSize, sizeof h);
          if (h.ino == 0) {  // unused: all zero (what removal writes); else a damaged entry
            if (!layout::AllZero(slots + s * kSlotSize, kSlotSize))
              return Status::Corrupt("directory " + std::to_string(ino) + ": bad entry in block " +
                                     std::to_string(block) + " slot " + std::to_string(s));
            s++;
            continue;
          }
          const char* name = reinterpret_cast<const char*>(slots + s * kSlotSize) +
                             offsetof(DentryHead, name);
          if (h.name_len == 0 || h.slots != layout::DentrySlots(h.name_len) ||
              s + h.slots > kSlotsPerBlock || h.checksum != DentryChecksum(h, name))
            return Status::Corrupt("directory " + std::to_string(ino) + ": bad entry in block " +
                                   std::to_string(block) + " slot " + std::to_string(s));
          Entry e{h.ino, h.type, 0, SlotRef{block, s, ch.index}, h.slots};
          e.cookie = CookieOf(e.where);
          auto [it, fresh] = d->by_name_.emplace(std::string(name, h.name_len), e);
          if (!fresh)
            return Status::Corrupt("directory " + std::to_string(ino) + ": name '" + it->first +
                                   "' appears twice");
          d->by_cookie_[e.cookie] = &it->first;
          d->slots_.MarkUsed(block, s, h.slots);
          s += h.slots;
        }
        return Status::Ok();
      });
  if (!st.ok()) return st;
  return d;
}

const Directory::Entry* Directory::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &it->second;
}

void Directory::WriteDentry(const MapContext& ctx, std::string_view name, const Entry& e) {
  if (ctx.store == nullptr) return;
  std::byte buf[layout::kSlotSize * 9] = {};
  DentryHead h{};
  h.ino = e.ino;
  h.name_len = static_cast<uint8_t>(name.size());
  h.type = e.type;
  h.slots = e.slots;
  std::memcpy(buf, &h, sizeof h);
  char* name_at = reinterpret_cast<char*>(buf) + offsetof(DentryHead, name);
  std::memcpy(name_at, name.data(), name.size());
  std::memcpy(&h, buf, sizeof h);  // the head as stored: its name[] holds the first bytes
  h.checksum = DentryChecksum(h, name_at);
  std::memcpy(buf, &h, sizeof h);
  ctx.tx->Write(store::Store::SlotOffset(e.where.block, e.where.slot), buf, e.slots * kSlotSize);
}

Status Directory::Add(const MapContext& ctx, std::string_view name, uint64_t ino, uint8_t type) {
  if (name.empty() || name.size() > layout::kMaxNameLen)
    return Status::NameTooLong("name of " + std::to_string(name.size()) + " bytes");
  std::string key(name);
  if (by_name_.count(key)) return Status::AlreadyExists(key + ": exists");
  Entry e{ino, type, 0, {}, static_cast<uint8_t>(layout::DentrySlots(name.size()))};
  if (ctx.store != nullptr) {
    PMEMFS_ASSIGN_OR_RETURN(e.where, slots_.Allocate(ctx.store, ctx.tx, ctx.ino, *ctx.rec,
                                                     store::ChainKind::kDentries, e.slots));
    e.cookie = CookieOf(e.where);
  } else {
    e.cookie = next_volatile_cookie_++;
  }
  WriteDentry(ctx, name, e);
  auto [it, fresh] = by_name_.emplace(std::move(key), e);
  by_cookie_[e.cookie] = &it->first;
  return Status::Ok();
}

Status Directory::Remove(const MapContext& ctx, std::string_view name) {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return Status::NotFound(std::string(name) + ": no such entry");
  const Entry& e = it->second;
  if (ctx.store != nullptr) {
    std::byte zero[layout::kSlotSize * 9] = {};
    ctx.tx->Write(store::Store::SlotOffset(e.where.block, e.where.slot), zero, e.slots * kSlotSize);
    slots_.MarkFree(e.where.block, e.where.slot, e.slots);
  }
  by_cookie_.erase(e.cookie);
  by_name_.erase(it);
  return Status::Ok();
}

Status Directory::Retarget(const MapContext& ctx, std::string_view name, uint64_t ino,
                           uint8_t type) {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return Status::NotFound(std::string(name) + ": no such entry");
  it->second.ino = ino;
  it->second.type = type;
  WriteDentry(ctx, name, it->second);
  return Status::Ok();
}

void Directory::ForEachFrom(uint64_t cookie,
                            const std::function<bool(std::string_view, const Entry&)>& fn) const {
  for (auto it = by_cookie_.lower_bound(cookie); it != by_cookie_.end(); ++it) {
    const std::string& name = *it->second;
    if (!fn(name, by_name_.at(name))) return;
  }
}

}  // namespace pmemfs::core
