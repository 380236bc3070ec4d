// libFuzzer target: BundleTarExtractor (bundle.h), which unpacks a court bundle .tar as it arrives
// from another node. Each run extracts into a fresh folder and then checks that nothing was made
// outside it, that everything inside is a regular file or folder at a path of the bundle grammar
// (bundle_paths.h), and that no file descriptor was left open; the folder is then removed.
//
// Input: one control byte, then the archive. Bit 0 of the control byte: recompute the checksum of
// every 512-byte block that carries the "ustar" magic (a fuzzer cannot guess checksums, so
// without this nearly every mutated header would stop at the checksum test). Bits 1-3: the size
// of the pieces the archive is fed in, as it arrives from the network in pieces.
#include <dirent.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "khronika/bundle/bundle.h"
#include "khronika/bundle/bundle_paths.h"

namespace {

using khronika::fuzz::Check;

namespace fs = std::filesystem;

// Where scratch folders go: $KHRONIKA_FUZZ_SCRATCH (ops/fuzz.sh sets it and removes it after
// the run, crash or not), else tmpfs if there is one.
fs::path ScratchBase() {
  if (const char* dir = std::getenv("KHRONIKA_FUZZ_SCRATCH")) return dir;
  return fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
}

// A scratch root for the whole process.
const fs::path& Root() {
  static const fs::path root = [] {
    std::string tmpl = (ScratchBase() / "khronika-tar-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(Root(), ec);
    });
    return fs::path(tmpl);
  }();
  return root;
}

size_t OpenFds() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// Names directly inside `dir`.
std::vector<std::string> List(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

void FixChecksums(std::vector<uint8_t>& tar) {
  for (size_t off = 0; off + 512 <= tar.size(); off += 512) {
    uint8_t* h = tar.data() + off;
    if (std::memcmp(h + 257, "ustar", 5) != 0) continue;
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    char field[9];
    std::snprintf(field, sizeof field, "%06o", sum & 0777777);
    std::memcpy(h + 148, field, 7);  // six digits and a NUL
    h[155] = ' ';
  }
}

constexpr size_t kPieceSizes[8] = {SIZE_MAX, 1, 7, 100, 511, 512, 513, 4096};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::vector<uint8_t> tar(data + 1, data + size);
  if (control & 1) FixChecksums(tar);
  const size_t piece = kPieceSizes[(control >> 1) & 7];

  const fs::path run = Root() / "run";
  const fs::path out = run / "bundle";
  fs::create_directory(run);
  const size_t fds_before = OpenFds();
  bool complete = true;
  uint64_t files = 0;
  {
    khronika::BundleTarExtractor extractor(out);
    for (size_t at = 0; at < tar.size() && complete; at += piece) {
      size_t n = std::min(piece, tar.size() - at);
      complete = extractor.Write(khronika::ByteView(tar.data() + at, n)).ok();
    }
    if (complete) complete = extractor.Finish().ok();
    files = extractor.files();
  }
  Check(OpenFds() == fds_before);

  // Nothing beside the output folder, and inside it only bundle paths.
  const std::vector<std::string> top = List(Root());
  Check(top.size() == 1 && top[0] == "run");
  const std::vector<std::string> made = List(run);
  Check(made.empty() || (made.size() == 1 && made[0] == "bundle"));
  if (!made.empty()) {
    uint64_t regular = 0;
    for (const auto& e : fs::recursive_directory_iterator(out)) {
      const std::string rel = e.path().lexically_relative(out).string();
      const fs::file_status st = e.symlink_status();
      if (fs::is_regular_file(st)) {
        Check(khronika::bundle_paths::IsBundleFile(rel));
        ++regular;
      } else {
        Check(fs::is_directory(st) && khronika::bundle_paths::IsBundleFolder(rel));
      }
    }
    if (complete) Check(regular == files);
  }
  fs::remove_all(run);
  return 0;
}
