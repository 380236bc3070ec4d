#include "khronika/replication/git_mirror.h"

namespace khronika {

Result<std::vector<MirrorLogExport>> ExportMirror(Store&, const std::filesystem::path&) {
  return Status::InvalidArgument("the git mirror is not built yet");
}
Result<MirrorVerifyReport> VerifyMirror(const std::filesystem::path&) {
  return Status::InvalidArgument("the git mirror is not built yet");
}
Result<std::unique_ptr<PeerTransport>> OpenMirrorTransport(const std::filesystem::path&) {
  return Status::InvalidArgument("the git mirror is not built yet");
}
Status PushMirror(const std::filesystem::path&, const std::string&) {
  return Status::InvalidArgument("the git mirror is not built yet");
}
Status FetchMirror(const std::filesystem::path&, const std::string&) {
  return Status::InvalidArgument("the git mirror is not built yet");
}

}  // namespace khronika
