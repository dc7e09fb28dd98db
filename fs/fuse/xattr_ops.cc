// Extended attributes: setxattr, getxattr, listxattr, removexattr. A size-0 get or list asks
// for the size only; a value larger than the caller's buffer is ERANGE. Too large a value to
// set is E2BIG (errno.h: ErrnoFor::kXattr). A list shows trusted.* names to root only.
#include <string>

#include "fs/fuse/handlers.h"
#include "fs/fuse/reply.h"

namespace pmemfs::fuse::handlers {
namespace {

// Replies [data, data+len) to a get/list request whose buffer holds `size` bytes (0: a size
// query).
void ReplySized(fuse_req_t req, const char* data, size_t len, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, len);
  } else if (len > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, data, len);
  }
}

}  // namespace

void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
              int flags) {
  std::span<const std::byte> v(reinterpret_cast<const std::byte*>(value), size);
  ReplyStatus(req, Ctx(req).fs->SetXattr(CallerOf(req), ino, name, v, flags), "setxattr",
              ErrnoFor::kXattr);
}

void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Result<std::vector<std::byte>> v = Ctx(req).fs->GetXattr(ino, name);
  if (!v.ok()) return ReplyStatus(req, v.status(), "getxattr", ErrnoFor::kXattr);
  ReplySized(req, reinterpret_cast<const char*>(v->data()), v->size(), size);
}

void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Result<std::vector<std::string>> names = Ctx(req).fs->ListXattr(ino);
  if (!names.ok()) return ReplyStatus(req, names.status(), "listxattr", ErrnoFor::kXattr);
  // trusted.* names are listed for root only, as the kernel lets only CAP_SYS_ADMIN read them
  // (ext4 and tmpfs hide them from others' lists alike).
  const bool privileged = CallerOf(req).uid == 0;
  std::string list;  // "name\0name\0..."
  for (const std::string& n : *names) {
    if (!privileged && n.starts_with("trusted.")) continue;
    list.append(n).push_back('\0');
  }
  ReplySized(req, list.data(), list.size(), size);
}

void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ReplyStatus(req, Ctx(req).fs->RemoveXattr(CallerOf(req), ino, name), "removexattr",
              ErrnoFor::kXattr);
}

}  // namespace pmemfs::fuse::handlers
