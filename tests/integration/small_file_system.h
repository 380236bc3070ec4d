// A small file system mounted for the life of an object: a tmpfs, or ext4 in an image file on a
// loop device (whose raw bytes a test can then read, as someone imaging the disk would).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace khronika::testing {

enum class FsKind { kTmpfs, kExt4Loop, kAny };  // kAny: tmpfs, else ext4 on a loop device

class SmallFileSystem {
 public:
  // Mounts a file system of `bytes` on `dir`. mounted() is false, and why_not() says why, if
  // this machine does not allow it (no root, or a container without mount rights).
  SmallFileSystem(const std::filesystem::path& dir, uint64_t bytes, FsKind kind = FsKind::kAny) : dir_(dir) {
    if (::geteuid() != 0) {
      why_not_ =
          "mounting a small file system needs root (euid " + std::to_string(::geteuid()) + ")";
      return;
    }
    std::string tmpfs_error;
    if (kind != FsKind::kExt4Loop) {
      RunResult r = RunProgram({"mount", "-t", "tmpfs", "-o",
                                "size=" + std::to_string(bytes / 1024) + "k,mode=0700", "tmpfs",
                                dir.string()});
      if (r.exit_code == 0) {
        kind_ = "tmpfs";
        return;
      }
      tmpfs_error = "tmpfs: " + Trimmed(r.err);
      if (kind == FsKind::kTmpfs) {
        why_not_ = "cannot mount a tmpfs here (" + tmpfs_error + ")";
        return;
      }
    }
    std::filesystem::path image = image_dir_ / "fs.img";
    RunResult t = RunProgram({"truncate", "-s", std::to_string(bytes), image.string()});
    RunResult mk = RunProgram({"mkfs.ext4", "-q", "-F", image.string()});
    RunResult loop = RunProgram({"mount", "-o", "loop", image.string(), dir.string()});
    if (t.exit_code == 0 && mk.exit_code == 0 && loop.exit_code == 0) {
      kind_ = "ext4 on a loop device";
      return;
    }
    why_not_ = "cannot mount " + (tmpfs_error.empty() ? "" : "a tmpfs (" + tmpfs_error + ") or ") +
               "an ext4 image on a loop device (" + Trimmed(t.err + mk.err + loop.err) + ")";
  }
  ~SmallFileSystem() { Unmount(); }
  // Unmounts now (idempotent); the image file, if any, stays for reading.
  void Unmount() {
    if (kind_.empty() || unmounted_) return;
    unmounted_ = true;
    if (RunProgram({"umount", dir_.string()}).exit_code != 0) {
      RunProgram({"umount", "-l", dir_.string()});
    }
  }
  SmallFileSystem(const SmallFileSystem&) = delete;
  SmallFileSystem& operator=(const SmallFileSystem&) = delete;

  bool mounted() const { return !kind_.empty(); }
  const std::string& kind() const { return kind_; }
  const std::string& why_not() const { return why_not_; }
  // The ext4 image behind the loop device; empty for a tmpfs.
  std::filesystem::path image() const {
    return kind_ == "ext4 on a loop device" ? image_dir_ / "fs.img" : std::filesystem::path();
  }

 private:
  static std::string Trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "no message" : s;
  }
  std::filesystem::path dir_;
  TempDir image_dir_;
  std::string kind_;
  std::string why_not_;
  bool unmounted_ = false;
};

}  // namespace khronika::testing
