#include "mkpmemfs_progress.h"

#include <unistd.h>

#include <cstdio>

namespace pmemfs::tools {

namespace {
constexpr auto kDelay = std::chrono::milliseconds(500);
constexpr auto kInterval = std::chrono::milliseconds(100);
constexpr int kWidth = 40;
}  // namespace

Progress::Progress(bool quiet) : enabled_(!quiet && isatty(STDERR_FILENO)), start_(Clock::now()) {}

void Progress::Update(const std::string& what, uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0) return;
  Clock::time_point now = Clock::now();
  if (now - start_ < kDelay) return;
  if (drawn_ && now - last_draw_ < kInterval && done < total) return;
  last_draw_ = now;
  drawn_ = true;
  int filled = static_cast<int>(done * kWidth / total);
  fprintf(stderr, "\r%-28s [%.*s%*s] %3d%%", what.c_str(), filled,
          "########################################", kWidth - filled, "",
          static_cast<int>(done * 100 / total));
  fflush(stderr);
}

void Progress::Finish() {
  if (drawn_) fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace pmemfs::tools
