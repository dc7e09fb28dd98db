// PmemPart: a part backed by a file or devdax device, mapped with libpmem2.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "mapping/media_guard.h"
#include "mapping/part.h"

namespace pmemfs::mapping {

const char* GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kByte: return "byte";
    case Granularity::kCacheLine: return "cache line";
    case Granularity::kPage: return "page";
  }
  return "?";
}

namespace {

std::string Pmem2Error() { return pmem2_errormsg(); }

// libpmem2 reads PMEM2_FORCE_GRANULARITY when a mapping is made; it is the documented way to
// treat a file on a non-DAX filesystem as cache-line-flushable pmem. Serialised because the
// environment is process-wide.
std::mutex g_env_mutex;

class PmemPart final : public Part {
 public:
  PmemPart(std::string name, int fd, bool read_only)
      : name_(std::move(name)), fd_(fd), read_only_(read_only) {}
  ~PmemPart() override {
    region_.reset();  // before the mapping goes away
    if (map_) pmem2_map_delete(&map_);
    if (src_) pmem2_source_delete(&src_);
    if (fd_ >= 0) close(fd_);  // drops the flock
  }

  Status Open(const PartOpenOptions& opts) {
    if (int r = pmem2_source_from_fd(&src_, fd_); r != 0)
      return Status::InvalidArgument(name_ + ": cannot be used as a pmem part: " + Pmem2Error());
    size_t size = 0, align = 0;
    if (pmem2_source_size(src_, &size) != 0)
      return Status::IoError(name_ + ": cannot read its size: " + Pmem2Error());
    if (pmem2_source_alignment(src_, &align) != 0)
      return Status::IoError(name_ + ": cannot read its alignment: " + Pmem2Error());
    size_ = size;
    alignment_ = align;
    if (size_ == 0) return Status::InvalidArgument(name_ + ": part is empty (size 0)");
    if (size_ % alignment_ != 0)
      return Status::InvalidArgument(name_ + ": size " + std::to_string(size_) +
                                     " is not a multiple of its alignment " +
                                     std::to_string(alignment_));
    pmem2_config* cfg = nullptr;
    if (pmem2_config_new(&cfg) != 0) return Status::IoError("pmem2_config_new: " + Pmem2Error());
    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
    if (read_only_) pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
    int r;
    {
      std::lock_guard lock(g_env_mutex);
      const char* old = getenv("PMEM2_FORCE_GRANULARITY");
      std::string saved = old ? old : "";
      if (opts.force_cache_line) setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1);
      r = pmem2_map_new(&map_, cfg, src_);
      if (opts.force_cache_line) {
        if (old) setenv("PMEM2_FORCE_GRANULARITY", saved.c_str(), 1);
        else unsetenv("PMEM2_FORCE_GRANULARITY");
      }
    }
    pmem2_config_delete(&cfg);
    if (r != 0) return Status::IoError(name_ + ": cannot map: " + Pmem2Error());
    base_ = static_cast<std::byte*>(pmem2_map_get_address(map_));
    struct stat st;
    if (opts.guard_shrink && fstat(fd_, &st) == 0 && S_ISREG(st.st_mode))  // a file can shrink
      region_ = std::make_unique<MediaRegion>(base_, size_,
                                              std::vector<MediaRegion::File>{{fd_, size_}}, &lost_);
    switch (pmem2_map_get_store_granularity(map_)) {
      case PMEM2_GRANULARITY_BYTE: granularity_ = Granularity::kByte; break;
      case PMEM2_GRANULARITY_CACHE_LINE: granularity_ = Granularity::kCacheLine; break;
      default: granularity_ = Granularity::kPage; break;
    }
    flush_ = pmem2_get_flush_fn(map_);
    drain_ = pmem2_get_drain_fn(map_);
    memcpy_ = pmem2_get_memcpy_fn(map_);
    memset_ = pmem2_get_memset_fn(map_);
    return Status::Ok();
  }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  uint64_t alignment() const override { return alignment_; }
  Granularity granularity() const override { return granularity_; }
  std::byte* base() const override { return base_; }
  pmem2_source* source() const override { return src_; }
  bool read_only() const override { return read_only_; }
  int fd() const override { return fd_; }
  bool lost() const override { return lost_.load(std::memory_order_acquire); }

  void Flush(uint64_t off, uint64_t len) override { flush_(base_ + off, len); }
  void Drain() override { drain_(); }
  void CopyNoDrain(uint64_t off, const void* src, size_t len) override {
    memcpy_(base_ + off, src, len, PMEM2_F_MEM_NODRAIN);
  }
  void SetNoDrain(uint64_t off, int c, size_t len) override {
    memset_(base_ + off, c, len, PMEM2_F_MEM_NODRAIN);
  }

  std::vector<layout::BadRange> PlatformBadRanges() const override {
    std::vector<layout::BadRange> out;
    pmem2_badblock_context* ctx = nullptr;
    if (pmem2_badblock_context_new(&ctx, src_) != 0) return out;  // unsupported here
    pmem2_badblock bb;
    while (pmem2_badblock_next(ctx, &bb) == 0) out.push_back({bb.offset, bb.length});
    pmem2_badblock_context_delete(&ctx);
    return out;
  }

  Status ClearPlatformBadRange(uint64_t off, uint64_t len) override {
    pmem2_badblock_context* ctx = nullptr;
    if (pmem2_badblock_context_new(&ctx, src_) != 0) return Status::Ok();
    pmem2_badblock bb;
    Status st;
    while (pmem2_badblock_next(ctx, &bb) == 0) {
      if (bb.offset >= off + len || bb.offset + bb.length <= off) continue;
      if (pmem2_badblock_clear(ctx, &bb) != 0)
        st = Status::IoError(name_ + ": cannot clear media error at part offset " +
                             std::to_string(bb.offset) + ": " + Pmem2Error());
    }
    pmem2_badblock_context_delete(&ctx);
    return st;
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool read_only_ = false;
  pmem2_source* src_ = nullptr;
  pmem2_map* map_ = nullptr;
  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  uint64_t alignment_ = 0;
  Granularity granularity_ = Granularity::kPage;
  pmem2_flush_fn flush_ = nullptr;
  pmem2_drain_fn drain_ = nullptr;
  pmem2_memcpy_fn memcpy_ = nullptr;
  pmem2_memset_fn memset_ = nullptr;
  std::atomic<bool> lost_{false};
  std::unique_ptr<MediaRegion> region_;  // the part's own mapping, while mapped
};

}  // namespace

Result<std::unique_ptr<Part>> OpenFilePart(const std::string& path, const PartOpenOptions& opts) {
  bool read_only = opts.read_only;
  int fd = open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0 && !read_only && opts.read_only_fallback &&
      (errno == EROFS || errno == EPERM || errno == EACCES)) {
    read_only = true;
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    const int e = errno;
    std::string why = path + ": cannot open" + (read_only ? "" : " for writing") + ": " +
                      strerror(e);
    if (!read_only && (e == EROFS || e == EPERM || e == EACCES))
      why += " (a read-only mount, -o ro, or pmemfs-fsck -n opens it read-only)";
    return Status(e == ENOENT ? Code::kNotFound : Code::kInvalidArgument, why);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
    close(fd);
    return Status::InvalidArgument(path + ": not a regular file or devdax character device");
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) return Status::Busy(path + ": in use by another process (locked)");
    return Status::IoError(path + ": cannot lock: " + strerror(e));
  }
  auto part = std::make_unique<PmemPart>(path, fd, read_only);
  PMEMFS_RETURN_IF_ERROR(part->Open(opts));
  return std::unique_ptr<Part>(std::move(part));
}

Result<std::unique_ptr<Part>> OpenFilePartFd(int fd, const std::string& name,
                                             const PartOpenOptions& opts) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
    close(fd);
    return Status::InvalidArgument(name + ": not a regular file or devdax character device");
  }
  auto part = std::make_unique<PmemPart>(name, fd, opts.read_only);
  PMEMFS_RETURN_IF_ERROR(part->Open(opts));
  return std::unique_ptr<Part>(std::move(part));
}

}  // namespace pmemfs::mapping
