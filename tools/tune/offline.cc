#include "tools/tune/offline.h"

#include <time.h>

#include <cctype>
#include <random>

#include "fs/store/store.h"
#include "tools/tune/geometry.h"

namespace pmemfs::tune {

namespace {

std::array<uint8_t, 16> RandomBytes() {
  std::random_device rd;
  std::array<uint8_t, 16> u;
  for (size_t i = 0; i < u.size(); i += 4) {
    const uint32_t v = rd();
    for (size_t k = 0; k < 4; k++) u[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  return u;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<std::array<uint8_t, 16>> ParseUuidArgument(const std::string& arg) {
  std::array<uint8_t, 16> u{};
  if (arg == "random") {
    u = RandomBytes();
    u[6] = (u[6] & 0x0f) | 0x40;  // version 4
    u[8] = (u[8] & 0x3f) | 0x80;  // variant 1
    return u;
  }
  if (arg == "time") {
    // Version 1 (RFC 4122): 100 ns intervals since 1582-10-15, a random clock sequence and a
    // random node id with the multicast bit set (no MAC address is used), as libuuid does
    // without one.
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    constexpr uint64_t kGregorianOffset = 0x01B21DD213814000ull;
    const uint64_t t = kGregorianOffset + static_cast<uint64_t>(ts.tv_sec) * 10'000'000 +
                       static_cast<uint64_t>(ts.tv_nsec) / 100;
    const std::array<uint8_t, 16> r = RandomBytes();
    const uint32_t low = static_cast<uint32_t>(t);
    const uint16_t mid = static_cast<uint16_t>(t >> 32);
    const uint16_t high = static_cast<uint16_t>((t >> 48) & 0x0fff) | 0x1000;
    for (int i = 0; i < 4; i++) u[i] = static_cast<uint8_t>(low >> (24 - 8 * i));
    u[4] = static_cast<uint8_t>(mid >> 8);
    u[5] = static_cast<uint8_t>(mid);
    u[6] = static_cast<uint8_t>(high >> 8);
    u[7] = static_cast<uint8_t>(high);
    u[8] = (r[0] & 0x3f) | 0x80;
    u[9] = r[1];
    for (int i = 10; i < 16; i++) u[i] = r[i];
    u[10] |= 0x01;  // multicast: not a MAC address
    return u;
  }
  // 8-4-4-4-12 hex digits.
  if (arg.size() != 36)
    return Status::InvalidArgument("'" + arg + "' is not a uuid (expected " +
                                   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, random or time)");
  size_t byte = 0;
  for (size_t i = 0; i < arg.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (arg[i] != '-') break;
      i++;
      continue;
    }
    const int hi = HexValue(arg[i]), lo = i + 1 < arg.size() ? HexValue(arg[i + 1]) : -1;
    if (hi < 0 || lo < 0) break;
    u[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  if (byte != 16)
    return Status::InvalidArgument("'" + arg + "' is not a uuid (expected " +
                                   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, random or time)");
  if (layout::AllZero(u.data(), u.size()))
    return Status::InvalidArgument("the nil uuid cannot name a filesystem");
  return u;
}

Status ApplyOffline(mapping::Device& dev, const OfflineChange& c) {
  if (!c.any()) return Status::Ok();
  PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, store::Store::Peek(dev));
  if (c.label && (c.label->size() >= sizeof sb.label || c.label->find('\0') != std::string::npos))
    return Status::InvalidArgument("label of " + std::to_string(c.label->size()) +
                                   " bytes: a label has at most " +
                                   std::to_string(sizeof sb.label - 1) + " bytes");
  const bool has_descriptors = !dev.info().descriptors.empty();
  if (c.mode == mapping::Mode::kPages && c.descriptors == false && has_descriptors)
    return Status::Unsupported("pages mode needs the page-descriptor area, which --descriptors "
                               "off drops");
  if (c.mode == mapping::Mode::kPages && !has_descriptors && c.descriptors != true)
    return Status::Unsupported("the device has no page-descriptor area (made with mkpmemfs "
                               "--no-descriptors; --descriptors on adds one), so pages mode is "
                               "unavailable");
  if (c.mode && *c.mode != mapping::Mode::kPages && (sb.incompat & layout::kIncompatSharedPages))
    return Status::Unsupported(std::string("files share pages (copy_file_range clones), which "
                                           "only pages mode can mount; ") +
                               mapping::ModeName(*c.mode) + " would refuse to mount");
  const bool drop = c.descriptors == false && has_descriptors;
  if (drop && (sb.incompat & layout::kIncompatSharedPages))
    return Status::Unsupported("files share pages (copy_file_range clones), which only pages "
                               "mode can mount, and pages mode needs the page-descriptor area");
  if (drop && !c.mode && sb.default_mode == static_cast<uint32_t>(layout::StoredMode::kPages))
    return Status::Unsupported("the default mode is pages, which needs the page-descriptor area; "
                               "give --mode copy or --mode direct with --descriptors off");
  const GeometryChange g{.descriptors = c.descriptors, .ram_size = c.ram_size};
  std::optional<GeometryPlan> plan;
  if (g.any()) {
    PMEMFS_ASSIGN_OR_RETURN(plan, PlanGeometry(dev, g));
  }
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> s, store::Store::OpenOffline(dev));
  store::Store::IdentityChange change;
  change.label = c.label;
  change.uuid = c.uuid;
  if (c.mode) change.default_mode = mapping::ToStoredMode(*c.mode);
  const bool identity = c.label || c.uuid || c.mode;
  // Never a state that cannot mount in its stored mode: away from pages mode before the
  // descriptor area goes, into it after the area is there.
  Status st = Status::Ok();
  if (identity && drop) st = s->SetIdentity(change);
  if (st.ok() && plan) st = ApplyGeometry(dev, *s, *plan);
  if (st.ok() && identity && !drop) st = s->SetIdentity(change);
  Status closed = s->Close();
  return st.ok() ? closed : st;
}

}  // namespace pmemfs::tune
