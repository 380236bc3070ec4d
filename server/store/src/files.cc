#include "khronika/store/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace khronika {
namespace {
Status Errno(const std::string& what) {
  int e = errno;
  if (e == ENOSPC || e == EDQUOT) return Status::StoreFull(what + ": " + std::strerror(e));
  if (e == ENOENT) return Status::NotFound(what + ": " + std::strerror(e));
  if (e == EEXIST) return Status::AlreadyExists(what + ": " + std::strerror(e));
  if (e == EACCES || e == EPERM) return Status::PermissionDenied(what + ": " + std::strerror(e));
  return Status::IOError(what + ": " + std::strerror(e));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};
}  // namespace

Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno("open " + path.string());
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat " + path.string());
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path.string() + " is not a file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read " + path.string());
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return Errno("create " + path.string());
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write " + path.string());
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Errno("fsync " + path.string());
  Fd dir(::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
  return Status::Ok();
}

}  // namespace khronika
