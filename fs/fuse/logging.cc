#include "fs/fuse/logging.h"

#include <fuse_log.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <cstdio>
#include <string>

#include "pmemfs/thread_annotations.h"

namespace pmemfs::fuse {
namespace {

spdlog::level::level_enum ToSpdlog(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::kTrace: return spdlog::level::trace;
    case config::LogLevel::kDebug: return spdlog::level::debug;
    case config::LogLevel::kInfo: return spdlog::level::info;
    case config::LogLevel::kWarn: return spdlog::level::warn;
    case config::LogLevel::kError: return spdlog::level::err;
    case config::LogLevel::kCritical: return spdlog::level::critical;
    case config::LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

Mutex capture_mu;
// Set while a LibfuseErrors lives: its text_.
std::string* capture GUARDED_BY(capture_mu) PT_GUARDED_BY(capture_mu) = nullptr;

void FromLibfuse(fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (level <= FUSE_LOG_ERR) {
    MutexLock l(capture_mu);
    if (capture) {
      if (!capture->empty()) capture->append("; ");
      capture->append(msg);
      return;
    }
  }
  spdlog::level::level_enum l = level <= FUSE_LOG_ERR       ? spdlog::level::err
                                : level == FUSE_LOG_WARNING ? spdlog::level::warn
                                : level <= FUSE_LOG_INFO    ? spdlog::level::info
                                                            : spdlog::level::debug;
  spdlog::log(l, "{}", msg);
}

void Install(std::shared_ptr<spdlog::logger> logger, config::LogLevel level) {
  logger->set_level(ToSpdlog(level));
  spdlog::set_default_logger(std::move(logger));
  fuse_set_log_func(FromLibfuse);
}

}  // namespace

void LogToStderr(config::LogLevel level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("pmemfs", std::move(sink));
  logger->set_pattern("%^pmemfs: %l: %v%$");
  Install(std::move(logger), level);
}

void LogToSyslog(config::LogLevel level) {
  auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("pmemfs", LOG_PID, LOG_DAEMON,
                                                              /*enable_formatting=*/true);
  auto logger = std::make_shared<spdlog::logger>("pmemfs", std::move(sink));
  logger->set_pattern("%l: %v");
  Install(std::move(logger), level);
}

LibfuseErrors::LibfuseErrors() {
  MutexLock l(capture_mu);
  capture = &text_;
}

LibfuseErrors::~LibfuseErrors() {
  MutexLock l(capture_mu);
  capture = nullptr;
}

std::string LibfuseErrors::Text() const {
  MutexLock l(capture_mu);
  return text_;
}

void SetLogLevel(config::LogLevel level) { spdlog::set_level(ToSpdlog(level)); }

}  // namespace pmemfs::fuse
