// Small file helpers with the limits and modes the node needs.
#pragma once

#include <filesystem>
#include <string>

#include "khronika/schemas/status.h"

namespace khronika {

// The Status for the current errno (ENOSPC is StoreFull, ENOENT NotFound, ...), prefixed by `what`.
Status ErrnoStatus(const std::string& what);

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&&) = delete;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens a regular file for reading; InvalidArgument for anything else (a directory, a device).
Result<UniqueFd> OpenRegularFile(const std::filesystem::path& path);
// Reads up to n bytes, fewer only at end of file; retries interrupted reads.
Result<size_t> ReadUpTo(int fd, uint8_t* buf, size_t n, const std::string& what);
// Writes all bytes; retries interrupted and short writes.
Status WriteAll(int fd, const uint8_t* data, size_t n, const std::string& what);

// Reads a whole file, refusing one larger than max_bytes.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes);
// Creates `path` with `mode` (never replacing an existing file), writes, fsyncs it and its
// directory. Used for keys, so the mode is set at creation, not after.
Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode);

// ---- Files named inside one directory, for writing into a folder others may also write to ----
// `name` is always one path component. None of these follows a symbolic link at `name`.

// Opens a directory (O_DIRECTORY), following links in `path` as the user typed it.
Result<UniqueFd> OpenDirectory(const std::filesystem::path& path);
// Creates `name` in `dir_fd` for writing with O_CREAT | O_EXCL | O_NOFOLLOW: AlreadyExists if
// anything is there, a file or a link (dangling or not). `what` names it in errors.
Result<UniqueFd> CreateNewFileAt(int dir_fd, const std::string& name, unsigned mode,
                                 const std::string& what);
// True if anything (a file, a directory, a link, dangling or not) has `name` in `dir_fd`.
Result<bool> ExistsAt(int dir_fd, const std::string& name, const std::string& what);
// Renames `from` to `to` in `dir_fd` without ever replacing what is at `to` (AlreadyExists):
// renameat2(RENAME_NOREPLACE), or on a file system without it a hard link and an unlink.
Status RenameNoReplaceAt(int dir_fd, const std::string& from, const std::string& to,
                         const std::string& what);
// Removes `name` from `dir_fd` (a link itself, never its target); no error if it is gone.
void RemoveAt(int dir_fd, const std::string& name);

}  // namespace khronika
