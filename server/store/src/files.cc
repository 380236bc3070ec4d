#include "khronika/store/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace khronika {
Status ErrnoStatus(const std::string& what) {
  int e = errno;
  if (e == ENOSPC || e == EDQUOT) return Status::StoreFull(what + ": " + std::strerror(e));
  if (e == ENOENT) return Status::NotFound(what + ": " + std::strerror(e));
  if (e == EEXIST) return Status::AlreadyExists(what + ": " + std::strerror(e));
  if (e == EACCES || e == EPERM) return Status::PermissionDenied(what + ": " + std::strerror(e));
  return Status::IOError(what + ": " + std::strerror(e));
}

namespace {
Status Errno(const std::string& what) { return ErrnoStatus(what); }

using Fd = UniqueFd;
}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> OpenRegularFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("open " + path.string());
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat " + path.string());
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path.string() + " is not a regular file");
  return fd;
}

Result<size_t> ReadUpTo(int fd, uint8_t* buf, size_t n, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("read " + what);
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

Status WriteAll(int fd, const uint8_t* data, size_t n, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Errno("write " + what);
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes) {
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat " + path.string());
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  KH_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), reinterpret_cast<uint8_t*>(out.data()),
                                         out.size(), path.string()));
  out.resize(n);
  return out;
}

Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return Errno("create " + path.string());
  KH_RETURN_IF_ERROR(WriteAll(fd.get(), reinterpret_cast<const uint8_t*>(contents.data()),
                              contents.size(), path.string()));
  if (::fsync(fd.get()) != 0) return Errno("fsync " + path.string());
  Fd dir(::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return Status::Ok();
}

Result<UniqueFd> OpenDirectory(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("open folder " + path.string());
  return fd;
}

Result<UniqueFd> CreateNewFileAt(int dir_fd, const std::string& name, unsigned mode,
                                 const std::string& what) {
  Fd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) return Errno("create " + what);
  return fd;
}

Result<bool> ExistsAt(int dir_fd, const std::string& name, const std::string& what) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return Errno("stat " + what);
}

Status RenameNoReplaceAt(int dir_fd, const std::string& from, const std::string& to,
                         const std::string& what) {
  if (::renameat2(dir_fd, from.c_str(), dir_fd, to.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  // EINVAL: this file system has no RENAME_NOREPLACE (some FUSE and network file systems).
  // linkat fails with EEXIST as well, and never follows a link at `to`.
  if (errno != EINVAL && errno != ENOSYS) return Errno("rename to " + what);
  if (::linkat(dir_fd, from.c_str(), dir_fd, to.c_str(), 0) != 0) return Errno("link to " + what);
  ::unlinkat(dir_fd, from.c_str(), 0);
  return Status::Ok();
}

void RemoveAt(int dir_fd, const std::string& name) { ::unlinkat(dir_fd, name.c_str(), 0); }

}  // namespace khronika
