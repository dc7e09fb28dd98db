#include "tools/tune/pending.h"

#include <initializer_list>
#include <string_view>

#include "mapping/part.h"

namespace pmemfs::tune {

namespace {

// The pieces one after another (built by appending: GCC 12's -Wrestrict misfires on
// "literal" + std::string at -O3).
std::string Cat(std::initializer_list<std::string_view> pieces) {
  std::string s;
  for (std::string_view p : pieces) s += p;
  return s;
}

std::string Join(const std::vector<std::shared_ptr<mapping::Part>>& parts, size_t count) {
  std::string s;
  for (size_t i = 0; i < count; i++) {
    if (i) s += ',';
    s += parts[i]->name();
  }
  return s;
}

// The commands that settle the superblock's marks: every read-write open of the store.
std::string ReadWriteOpen(const std::string& spec, std::string_view does = "finishes it") {
  return Cat({"the next read-write mount of ", spec, ", pmemfs-fsck -y ", spec,
              " or an offline pmemfs-tune change ", does});
}

std::string RangeText(mapping::Range r) {
  if (r.empty()) return "none";
  std::string s = "[";
  s += std::to_string(r.offset);
  s += ", ";
  s += std::to_string(r.end());
  s += ")";
  return s;
}

}  // namespace

Result<std::unique_ptr<mapping::Device>> AssembleForListing(
    std::vector<std::shared_ptr<mapping::Part>> parts, JoinSeen* join,
    const mapping::AssembleOptions& aopts) {
  *join = {};
  if (parts.size() >= 2) {
    std::vector<std::shared_ptr<mapping::Part>> old(parts.begin(), parts.end() - 1);
    const mapping::JoinState state = mapping::InspectJoin(old, *parts.back());
    if (state == mapping::JoinState::kUncommitted || state == mapping::JoinState::kCommitted) {
      join->state = state;
      join->part = parts.back()->name();
      join->old_device = Join(parts, old.size());
      if (state == mapping::JoinState::kUncommitted)
        return mapping::AssembleDevice(std::move(old), aopts);
      mapping::AssembleOptions finishing = aopts;
      finishing.finishing_add_part = true;
      return mapping::AssembleDevice(std::move(parts), finishing);
    }
  }
  return mapping::AssembleDevice(std::move(parts), aopts);
}

std::vector<PendingChange> PendingChanges(const mapping::Device& dev, const layout::Superblock& sb,
                                          const JoinSeen& join, const std::string& spec,
                                          bool journal_pending) {
  std::vector<PendingChange> out;
  const mapping::DeviceInfo& info = dev.info();
  const std::string finish_add = Cat({"pmemfs-tune --add-part ", join.part, " ", join.old_device});
  if (join.state == mapping::JoinState::kCommitted || info.add_part_pending) {
    out.push_back({"add_part",
                   Cat({"adding ", join.part, " was interrupted after its commit point: the "
                        "device is the grown one (", std::to_string(info.part_count), " parts)"}),
                   Cat({finish_add, " finishes it, as does a read-write mount of ", spec})});
  } else if (join.state == mapping::JoinState::kUncommitted) {
    out.push_back({"add_part",
                   Cat({"adding ", join.part, " was interrupted before its commit point: the "
                        "device is the old one (", join.old_device, ", listed here)"}),
                   Cat({finish_add, " adds it; a read-write mount of ", join.old_device,
                        " instead drops the change"})});
  } else if (sb.store_growth != 0) {
    if (info.store().length / layout::kBlockSize > sb.store_blocks)
      out.push_back({"store_growth",
                     "the device grew by a part (--add-part) but the store has not grown into "
                     "it yet",
                     ReadWriteOpen(spec)});
    else
      out.push_back({"store_growth",
                     "an --add-part was interrupted before its commit point: the device is the "
                     "old one (the part being added may still carry a label of it)",
                     Cat({"pmemfs-tune --add-part PART ", spec, " with that part adds it; ",
                          ReadWriteOpen(spec, "drops it")})});
  }
  const bool sb_uuid = !layout::AllZero(sb.uuid_change, sizeof sb.uuid_change);
  if (sb_uuid || info.uuid_change_pending()) {
    const std::string to = mapping::UuidString(sb_uuid ? sb.uuid_change : info.pending_uuid);
    const std::string now = mapping::UuidString(sb.uuid);
    out.push_back({"uuid_change",
                   Cat({"a change of the uuid to ", to, " was interrupted ",
                        journal_pending
                            ? Cat({"(the transaction the next mount replays decides whether it "
                                   "ends with it or with the old uuid ", now, ")"})
                        : now == to
                            ? std::string("after its commit point: it ends with the new uuid")
                            : Cat({"before its commit point: it ends with the old uuid ", now})}),
                   ReadWriteOpen(spec)});
  }
  if (sb.geometry_change != 0 || info.geometry_change_pending)
    out.push_back({"geometry_change",
                   Cat({"a change of the RAM partition or the descriptor area was interrupted: "
                        "the part labels decided on RAM partition ", RangeText(info.ram),
                        ", descriptor area ", RangeText(info.descriptors)}),
                   ReadWriteOpen(spec)});
  return out;
}

}  // namespace pmemfs::tune
