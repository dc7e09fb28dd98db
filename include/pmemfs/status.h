// Errors are values. Every layer below fs/fuse returns Status or Result<T>; fs/fuse turns the
// Code into an errno in one table. A Status carries a one-line, human-readable message that
// names what failed (a part, a range, a key), fit to print to the user as it is.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace pmemfs {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // a wrong option, size, alignment or request
  kNotFound,         // a missing path, part or name
  kAlreadyExists,
  kBusy,             // in use by another process or mount
  kNoSpace,
  kIoError,          // media error, failed read or write
  kCorrupt,          // on-media structure fails its checks
  kUnsupported,      // feature or platform not supported
  kPermission,       // not allowed for this caller (EPERM)
  kAccessDenied,     // permission bits/ACL refuse it (EACCES)
  kNotDirectory,
  kIsDirectory,
  kNotEmpty,
  kNameTooLong,
  kNoData,           // no such extended attribute
  kRange,            // result does not fit the caller's buffer
  kTooBig,           // file or attribute larger than allowed (EFBIG/E2BIG)
  kTooManyLinks,
  kCrossDevice,
  kReadOnly,
  kLoop,             // too many symbolic links / a directory moved into itself
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status Permission(std::string m) { return {Code::kPermission, std::move(m)}; }
  static Status AccessDenied(std::string m) { return {Code::kAccessDenied, std::move(m)}; }
  static Status NotDirectory(std::string m) { return {Code::kNotDirectory, std::move(m)}; }
  static Status IsDirectory(std::string m) { return {Code::kIsDirectory, std::move(m)}; }
  static Status NotEmpty(std::string m) { return {Code::kNotEmpty, std::move(m)}; }
  static Status NameTooLong(std::string m) { return {Code::kNameTooLong, std::move(m)}; }
  static Status NoData(std::string m) { return {Code::kNoData, std::move(m)}; }
  static Status Range(std::string m) { return {Code::kRange, std::move(m)}; }
  static Status TooBig(std::string m) { return {Code::kTooBig, std::move(m)}; }
  static Status TooManyLinks(std::string m) { return {Code::kTooManyLinks, std::move(m)}; }
  static Status CrossDevice(std::string m) { return {Code::kCrossDevice, std::move(m)}; }
  static Status ReadOnly(std::string m) { return {Code::kReadOnly, std::move(m)}; }
  static Status Loop(std::string m) { return {Code::kLoop, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pmemfs

#define PMEMFS_CONCAT_INNER(a, b) a##b
#define PMEMFS_CONCAT(a, b) PMEMFS_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define PMEMFS_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::pmemfs::Status pmemfs_status_ = (expr);     \
    if (!pmemfs_status_.ok()) return pmemfs_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define PMEMFS_ASSIGN_OR_RETURN(lhs, expr) \
  PMEMFS_ASSIGN_OR_RETURN_IMPL(PMEMFS_CONCAT(pmemfs_result_, __LINE__), lhs, expr)
#define PMEMFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
