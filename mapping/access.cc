#include "mapping/access.h"

#include <cstring>

#include "mapping/copy_cache.h"
#include "mapping/direct_access.h"
#include "mapping/page_descriptors.h"

namespace pmemfs::mapping {

const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kCopy: return "copy";
    case Mode::kDirect: return "direct";
    case Mode::kPages: return "pages";
  }
  return "?";
}

Result<Mode> ParseMode(std::string_view s) {
  if (s == "copy") return Mode::kCopy;
  if (s == "direct") return Mode::kDirect;
  if (s == "pages") return Mode::kPages;
  return Status::InvalidArgument("unknown mode '" + std::string(s) +
                                 "' (expected copy, direct or pages)");
}

layout::StoredMode ToStoredMode(Mode m) {
  switch (m) {
    case Mode::kCopy: return layout::StoredMode::kCopy;
    case Mode::kDirect: return layout::StoredMode::kDirect;
    case Mode::kPages: return layout::StoredMode::kPages;
  }
  return layout::StoredMode::kDirect;
}

Mode FromStoredMode(uint32_t stored) {
  switch (static_cast<layout::StoredMode>(stored)) {
    case layout::StoredMode::kCopy: return Mode::kCopy;
    case layout::StoredMode::kPages: return Mode::kPages;
    case layout::StoredMode::kDirect: break;
  }
  return Mode::kDirect;
}

ReadRef& ReadRef::operator=(ReadRef&& o) noexcept {
  if (this != &o) {
    Release();
    iov_ = std::move(o.iov_);
    length_ = o.length_;
    buffer_ = std::move(o.buffer_);
    release_ = std::move(o.release_);
    o.iov_.clear();
    o.length_ = 0;
    o.release_ = nullptr;
  }
  return *this;
}

void ReadRef::Release() {
  iov_.clear();
  length_ = 0;
  buffer_.clear();
  if (release_) {
    auto fn = std::move(release_);
    release_ = nullptr;
    fn();
  }
}

void ReadRef::AddSlice(const void* p, size_t n) {
  if (n == 0) return;
  iov_.push_back({const_cast<void*>(p), n});
  length_ += n;
}

std::vector<std::byte> ReadRef::ToBytes() const {
  std::vector<std::byte> out(length_);
  size_t at = 0;
  for (const auto& v : iov_) {
    std::memcpy(out.data() + at, v.iov_base, v.iov_len);
    at += v.iov_len;
  }
  return out;
}

Result<std::unique_ptr<Access>> OpenAccess(Device& dev, const AccessOptions& opts) {
  switch (opts.mode) {
    case Mode::kDirect:
      return std::unique_ptr<Access>(new DirectAccess(&dev, nullptr));
    case Mode::kPages: {
      if (dev.info().descriptors.empty())
        return Status::InvalidArgument(
            "pages mode needs the page-descriptor area, and this device was created without one");
      PMEMFS_ASSIGN_OR_RETURN(auto d, PageDescriptors::Open(dev, opts.descriptors));
      return std::unique_ptr<Access>(new DirectAccess(&dev, std::move(d)));
    }
    case Mode::kCopy: {
      PMEMFS_ASSIGN_OR_RETURN(auto c, CopyAccess::Open(dev, opts));
      return std::unique_ptr<Access>(std::move(c));
    }
  }
  return Status::InvalidArgument("unknown mode");
}

Status Access::ReadIntoOwnBuffer(uint64_t off, uint64_t len, ReadRef* out) {
  out->Release();
  std::vector<std::byte>& buf = out->owned_buffer();
  buf.resize(len);
  Status st = Read(off, buf);
  if (!st.ok()) {
    out->Release();
    return st;
  }
  out->AddSlice(buf.data(), buf.size());
  return Status::Ok();
}

}  // namespace pmemfs::mapping
