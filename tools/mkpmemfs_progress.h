// A progress bar on stderr for mkpmemfs, shown only when stderr is a terminal and the work has
// already taken half a second since the Progress was made (small devices format without one).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pmemfs::tools {

class Progress {
 public:
  explicit Progress(bool quiet);
  // `what` has done `done` of `total` units.
  void Update(const std::string& what, uint64_t done, uint64_t total);
  // Ends the current bar (a newline if one was drawn).
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

}  // namespace pmemfs::tools
