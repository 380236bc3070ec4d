#include "sealing_uploads.h"

#include <array>
#include <atomic>
#include <utility>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/bytes.h"

namespace khronika {

struct SealingUploads::Open {
  std::mutex mu;  // one request at a time on a sealing
  // Requests holding or waiting for `mu`: the one sealing a piece and the client's next one.
  // A third is turned away at once, so that requests sent at once for one sealing cannot hold
  // the node's worker threads waiting.
  std::atomic<int> requests{0};
  std::string owner;
  std::optional<LocalSealing> sealing;
  std::unique_ptr<LocalFileSealer> file;  // the file being received, if one has begun
  std::chrono::steady_clock::time_point last_used;  // under SealingUploads::mu_
  bool gone = false;                                // taken or discarded, under mu
  // Why a sealing failed after a piece had been acknowledged (Put's `accepted`): told to the
  // next request about it, under mu.
  Status failure = Status::Ok();

  // Drops the file being received and everything written for the sealing; under mu.
  void DiscardLocked(const Log& log) {
    gone = true;
    file.reset();
    if (sealing) (void)log.Discard(*sealing);
    sealing.reset();
  }
};

SealingUploads::SealingUploads(const Log& log, Limits limits) : log_(log), limits_(limits) {}

SealingUploads::~SealingUploads() {
  std::lock_guard lock(mu_);
  for (auto& [id, open] : open_) {
    std::lock_guard one(open->mu);
    open->DiscardLocked(log_);
  }
}

size_t SealingUploads::open() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

void SealingUploads::SweepLocked(std::chrono::steady_clock::time_point now) {
  for (auto it = open_.begin(); it != open_.end();) {
    Open& o = *it->second;
    std::unique_lock one(o.mu, std::try_to_lock);  // a sealing in use is not idle
    if (one.owns_lock() && now - o.last_used > limits_.idle) {
      o.DiscardLocked(log_);
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> SealingUploads::Begin(const std::string& owner,
                                                 const std::string& case_id) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  SweepLocked(now);
  size_t mine = 0;
  for (const auto& [id, open] : open_) mine += open->owner == owner;
  if (open_.size() >= limits_.total || mine >= limits_.per_token) return std::nullopt;
  std::array<uint8_t, 16> raw;
  RandomBytes(raw.data(), raw.size());
  std::string id = ToHex(ByteView(raw.data(), raw.size()));
  auto open = std::make_shared<Open>();
  open->owner = owner;
  open->sealing.emplace(log_.BeginLocal(case_id));
  open->last_used = now;
  open_.emplace(id, std::move(open));
  return id;
}

std::shared_ptr<SealingUploads::Open> SealingUploads::Find(const std::string& owner,
                                                           std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = open_.find(id);
  // Another token's sealing is answered as one that does not exist.
  if (it == open_.end() || it->second->owner != owner) return nullptr;
  it->second->last_used = std::chrono::steady_clock::now();
  return it->second;
}

Status SealingUploads::TakeFailure(Open& open, std::unique_lock<std::mutex>& one,
                                   std::string_view id) {
  if (open.failure.ok()) return Status::Ok();
  Status failure = std::move(open.failure);
  open.failure = Status::Ok();
  one.unlock();
  std::lock_guard lock(mu_);
  open_.erase(std::string(id));
  return failure;
}

Result<SealingUploads::Progress> SealingUploads::Put(
    const std::string& owner, std::string_view id, uint32_t file, uint64_t size, uint64_t offset,
    ByteView piece, const std::function<void(const Progress&)>& accepted) {
  std::shared_ptr<Open> open = Find(owner, id);
  if (!open) return Status::NotFound("no such sealing");
  struct Count {
    std::atomic<int>& n;
    ~Count() { --n; }
  } counted{open->requests};
  if (++open->requests > 2) {
    return Status::AlreadyExists("the sealing is busy with two requests already: send its "
                                 "pieces one after another");
  }
  std::unique_lock one(open->mu);
  KH_RETURN_IF_ERROR(TakeFailure(*open, one, id));
  if (open->gone) return Status::NotFound("no such sealing");
  Progress p;
  p.file = static_cast<uint32_t>(open->sealing->files().size());
  p.received = open->file ? open->file->received() : 0;
  if (file != p.file || offset != p.received) {
    p.conflict = true;
    return p;
  }
  // Any refusal below abandons the whole sealing: a large file's writer may have taken the
  // entry's earlier files with it, and a client that sent a wrong size must begin again anyway.
  bool acknowledged = false;
  auto refuse = [&](Status st) -> Status {
    open->DiscardLocked(log_);
    if (acknowledged) {  // the client heard "taken": it hears why not with its next request
      open->failure = st;
      return st;
    }
    one.unlock();
    std::lock_guard lock(mu_);
    open_.erase(std::string(id));
    return st;
  };
  if (!open->file) {
    auto begun = log_.BeginLocalFile(*open->sealing, size);
    if (!begun.ok()) return refuse(begun.status());
    open->file = std::move(begun).value();
  } else if (open->file->size() != size) {
    return refuse(Status::InvalidArgument("file " + std::to_string(file) + " was begun with " +
                                          std::to_string(open->file->size()) + " bytes, not " +
                                          std::to_string(size)));
  }
  if (accepted && piece.size() < size - offset) {
    Progress will = p;
    will.received = offset + piece.size();
    accepted(will);
    acknowledged = true;
  }
  Status st = open->file->Update(piece);
  if (!st.ok()) return refuse(st);
  p.received = open->file->received();
  if (p.received == size) {
    st = open->file->Finish();
    if (!st.ok()) return refuse(st);
    p.finished_sha256 = open->file->content_sha256();
    open->file.reset();
    ++p.file;
    p.received = 0;
  }
  return p;
}

Result<LocalSealing> SealingUploads::Take(const std::string& owner, std::string_view id) {
  std::shared_ptr<Open> open = Find(owner, id);
  if (!open) return Status::NotFound("no such sealing");
  std::unique_lock one(open->mu);
  KH_RETURN_IF_ERROR(TakeFailure(*open, one, id));
  if (open->gone) return Status::NotFound("no such sealing");
  if (open->file) {
    return Status::InvalidArgument("file " + std::to_string(open->sealing->files().size()) +
                                   " of the sealing has " + std::to_string(open->file->received()) +
                                   " of its " + std::to_string(open->file->size()) + " bytes");
  }
  open->gone = true;
  LocalSealing out = std::move(*open->sealing);
  open->sealing.reset();
  one.unlock();
  std::lock_guard lock(mu_);
  open_.erase(std::string(id));
  return out;
}

Status SealingUploads::Discard(const std::string& owner, std::string_view id) {
  std::shared_ptr<Open> open = Find(owner, id);
  if (!open) return Status::NotFound("no such sealing");
  std::unique_lock one(open->mu);
  KH_RETURN_IF_ERROR(TakeFailure(*open, one, id));
  if (open->gone) return Status::NotFound("no such sealing");
  open->DiscardLocked(log_);
  one.unlock();
  std::lock_guard lock(mu_);
  open_.erase(std::string(id));
  return Status::Ok();
}

}  // namespace khronika
