#include "fs/store/xattr_block.h"

#include <algorithm>
#include <cstring>

#include "pmemfs/crc32c.h"

namespace pmemfs::store {

namespace {

using layout::XattrHead;
using layout::XattrValueExtent;
using layout::XattrValueRef;

constexpr uint64_t kBodyBytes = layout::kBlockSize - sizeof(layout::ChainHeader);

uint64_t DivUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// CRC-32C of the head (with checksum 0) followed by `rest` bytes.
uint32_t HeadChecksum(XattrHead h, const std::byte* rest, size_t len) {
  h.checksum = 0;
  return Crc32c(rest, len, Crc32c(&h, sizeof h));
}

// Whether the extents of `out` lie in the data area, do not overlap and hold exactly its size.
std::string CheckExtents(const OutOfLineValue& out, const XattrBounds& bounds) {
  if (out.size <= layout::kXattrMaxValue || out.size > layout::kXattrMaxSize)
    return "out-of-line value of " + std::to_string(out.size) + " bytes";
  std::vector<BlockRange> sorted = out.extents;
  std::sort(sorted.begin(), sorted.end(),
            [](const BlockRange& a, const BlockRange& b) { return a.start < b.start; });
  for (size_t i = 0; i < sorted.size(); i++) {
    const BlockRange& r = sorted[i];
    const BlockRange& m = bounds.moved_bitmap;
    if (r.count == 0 || r.start < bounds.data_start || r.start >= bounds.data_end ||
        r.count > bounds.data_end - r.start || (r.start < m.end() && m.start < r.end()))
      return "value blocks [" + std::to_string(r.start) + ", +" + std::to_string(r.count) +
             ") outside the data area";
    if (i > 0 && sorted[i - 1].end() > r.start) return "value extents overlap";
  }
  if (out.blocks() != DivUp(out.size, layout::kBlockSize))
    return std::to_string(out.blocks()) + " value blocks for " + std::to_string(out.size) +
           " bytes";
  return "";
}

}  // namespace

uint64_t OutOfLineValue::blocks() const {
  uint64_t n = 0;
  for (const BlockRange& r : extents) n += r.count;
  return n;
}

Result<XattrBlock> DecodeXattrBlock(const std::byte* data, uint64_t block,
                                    const XattrBounds& bounds) {
  const std::byte* body = data + sizeof(layout::ChainHeader);
  auto bad = [&](const std::string& what) {
    return Status::Corrupt("xattr block " + std::to_string(block) + ": " + what);
  };
  XattrHead h;
  std::memcpy(&h, body, sizeof h);
  if ((h.flags & ~layout::kXattrValueExtents) != 0 || h.reserved1 != 0 || h.reserved2 != 0)
    return bad("unknown flags or reserved bytes not zero");
  const bool out_of_line = h.flags & layout::kXattrValueExtents;
  if (h.name_len == 0 || sizeof h + h.name_len + h.value_len > kBodyBytes ||
      (!out_of_line && h.value_len > layout::kXattrMaxValue))
    return bad("bad name or value length");
  if (HeadChecksum(h, body + sizeof h, size_t{h.name_len} + h.value_len) != h.checksum)
    return bad("checksum mismatch");
  XattrBlock x;
  x.name.assign(reinterpret_cast<const char*>(body + sizeof h), h.name_len);
  const std::byte* value = body + sizeof h + h.name_len;
  if (!out_of_line) {
    x.value.assign(value, value + h.value_len);
    return x;
  }
  if (!bounds.large_xattrs)
    return bad("an out-of-line value on a filesystem without the large-xattr feature");
  XattrValueRef ref;
  if (h.value_len < sizeof ref) return bad("out-of-line value reference cut short");
  std::memcpy(&ref, value, sizeof ref);
  if (ref.reserved != 0 || ref.extent_count == 0 || ref.extent_count > layout::kXattrMaxExtents ||
      h.value_len != sizeof ref + ref.extent_count * sizeof(XattrValueExtent))
    return bad("bad out-of-line value reference");
  x.out.size = ref.size;
  x.out.crc = ref.value_crc;
  for (uint32_t i = 0; i < ref.extent_count; i++) {
    XattrValueExtent e;
    std::memcpy(&e, value + sizeof ref + i * sizeof e, sizeof e);
    if (e.reserved != 0) return bad("reserved bytes of a value extent not zero");
    x.out.extents.push_back({e.start, e.count});
  }
  if (std::string why = CheckExtents(x.out, bounds); !why.empty()) return bad(why);
  return x;
}

Result<std::vector<std::byte>> ReadXattrValue(const ReadFn& read, const OutOfLineValue& out) {
  std::vector<std::byte> v(out.size);
  uint64_t done = 0;
  for (const BlockRange& r : out.extents) {
    const uint64_t n = std::min<uint64_t>(r.count * layout::kBlockSize, out.size - done);
    read(Store::BlockOffset(r.start), v.data() + done, n);
    done += n;
  }
  if (done != out.size || Crc32c(v.data(), v.size()) != out.crc)
    return Status::Corrupt("xattr value in blocks [" +
                           std::to_string(out.extents.empty() ? 0 : out.extents[0].start) +
                           ", ...): checksum mismatch");
  return v;
}

Result<OutOfLineValue> WriteXattrBlock(Store& store, Tx& tx, uint64_t ino, uint64_t block,
                                       layout::InodeRecord& rec, std::string_view name,
                                       std::span<const std::byte> value) {
  if (name.empty() || name.size() > layout::kMaxNameLen || value.size() > layout::kXattrMaxSize)
    return Status::InvalidArgument("xattr of inode " + std::to_string(ino) + ": a name of " +
                                   std::to_string(name.size()) + " bytes, a value of " +
                                   std::to_string(value.size()));
  OutOfLineValue out;
  std::vector<std::byte> inline_bytes;  // what follows the name in the block
  if (value.size() <= layout::kXattrMaxValue) {
    inline_bytes.assign(value.begin(), value.end());
  } else {
    if (store.read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
    PMEMFS_RETURN_IF_ERROR(store.SetFeatures(0, 0, layout::kIncompatLargeXattrs));
    const uint64_t need = DivUp(value.size(), layout::kBlockSize);
    uint64_t goal = block + 1;
    for (uint64_t got = 0; got < need;) {
      PMEMFS_ASSIGN_OR_RETURN(BlockRange r, store.AllocBlocks(tx, need - got, goal));
      out.extents.push_back(r);  // at most kXattrMaxExtents: each holds at least one block
      got += r.count;
      goal = r.end();
    }
    // The value, in place: the blocks are free until `tx` commits, so nobody reads them and a
    // crash before the commit leaves them free. The tail of the last block is zeroed.
    mapping::Device& dev = store.device();
    uint64_t done = 0;
    for (const BlockRange& r : out.extents) {
      const uint64_t cap = r.count * layout::kBlockSize;
      const uint64_t n = std::min<uint64_t>(cap, value.size() - done);
      dev.CopyNoDrain(Store::BlockOffset(r.start), value.data() + done, n);
      if (n < cap) dev.SetNoDrain(Store::BlockOffset(r.start) + n, 0, cap - n);
      done += n;
    }
    dev.Drain();  // the value is durable before `tx` (the commit point) can link it
    PMEMFS_RETURN_IF_ERROR(dev.Health());
    out.size = static_cast<uint32_t>(value.size());
    out.crc = Crc32c(value.data(), value.size());
    XattrValueRef ref{};
    ref.size = out.size;
    ref.value_crc = out.crc;
    ref.extent_count = static_cast<uint32_t>(out.extents.size());
    inline_bytes.resize(sizeof ref + out.extents.size() * sizeof(XattrValueExtent));
    std::memcpy(inline_bytes.data(), &ref, sizeof ref);
    for (size_t i = 0; i < out.extents.size(); i++) {
      XattrValueExtent e{};
      e.start = out.extents[i].start;
      e.count = static_cast<uint32_t>(out.extents[i].count);
      std::memcpy(inline_bytes.data() + sizeof ref + i * sizeof e, &e, sizeof e);
    }
    rec.blocks += need;
  }

  XattrHead h{};
  h.name_len = static_cast<uint8_t>(name.size());
  h.flags = out.empty() ? 0 : layout::kXattrValueExtents;
  h.value_len = static_cast<uint16_t>(inline_bytes.size());
  std::vector<std::byte> buf(sizeof h + name.size() + inline_bytes.size());
  std::memcpy(buf.data() + sizeof h, name.data(), name.size());
  if (!inline_bytes.empty())
    std::memcpy(buf.data() + sizeof h + name.size(), inline_bytes.data(), inline_bytes.size());
  h.checksum = HeadChecksum(h, buf.data() + sizeof h, buf.size() - sizeof h);
  std::memcpy(buf.data(), &h, sizeof h);
  tx.Write(Store::BlockOffset(block) + sizeof(layout::ChainHeader), buf.data(),
           static_cast<uint32_t>(buf.size()));
  return out;
}

void FreeXattrValue(Store& store, Tx& tx, layout::InodeRecord& rec, const OutOfLineValue& out) {
  for (const BlockRange& r : out.extents) store.FreeBlocks(tx, r);
  rec.blocks -= std::min(rec.blocks, out.blocks());
}

}  // namespace pmemfs::store
