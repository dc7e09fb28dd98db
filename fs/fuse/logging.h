// The daemon's log: spdlog to stderr in the foreground, to syslog (daemon facility, tagged
// "pmemfs") once daemonised; libfuse's own messages go the same way.
#pragma once

#include <string>

#include "fs/config/values.h"

namespace pmemfs::fuse {

// Logs to stderr at `level`; routes libfuse's messages into the same log. Call first.
void LogToStderr(config::LogLevel level);
// Switches the log to syslog (the daemon has no terminal any more).
void LogToSyslog(config::LogLevel level);
// Changes the level of the current log.
void SetLogLevel(config::LogLevel level);

// While one lives, libfuse's error messages are collected here instead of logged, so that a
// failed mount is reported in one line (Session::Mount). One at a time.
class LibfuseErrors {
 public:
  LibfuseErrors();
  ~LibfuseErrors();
  LibfuseErrors(const LibfuseErrors&) = delete;
  LibfuseErrors& operator=(const LibfuseErrors&) = delete;
  // "msg; msg" ("" if none).
  std::string Text() const;

 private:
  std::string text_;  // guarded by the capture mutex in logging.cc
};

}  // namespace pmemfs::fuse
