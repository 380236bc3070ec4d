// One error vocabulary for every Khronika module. Nothing throws across a module boundary:
// functions that can fail return Status, or Result<T> when they also produce a value.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace khronika {

enum class Code {
  kOk = 0,
  kInvalidArgument,   // the caller's input is malformed or violates a limit
  kNotFound,          // the named object, record or file does not exist
  kAlreadyExists,     // a write would replace something that must never change
  kCorruption,        // stored or received bytes fail a hash, signature or structural check
  kPermissionDenied,  // a key, author or role is not allowed to do this
  kIOError,           // the operating system or a library reported a failure
  kStoreFull,         // the LMDB map or the file system has no room; nothing was written
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status StoreFull(std::string m) { return {Code::kStoreFull, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "store full: ...", "corruption: ...": one line, suitable for stderr.
  std::string ToString() const;

  // Prefixes the message with where the error happened, keeping the code.
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Code code);

// Either a value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::InvalidArgument("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace khronika

#define KH_CONCAT_INNER(a, b) a##b
#define KH_CONCAT(a, b) KH_CONCAT_INNER(a, b)

#define KH_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::khronika::Status kh_status_ = (expr); \
    if (!kh_status_.ok()) return kh_status_; \
  } while (0)

#define KH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define KH_ASSIGN_OR_RETURN(lhs, expr) \
  KH_ASSIGN_OR_RETURN_IMPL(KH_CONCAT(kh_result_, __LINE__), lhs, expr)
