// Sealing uploads (docs/api.md, "Sealing uploads"): a client names the case, sends each file's
// bytes in order, a piece a request, and the node seals every piece as it arrives (one SHA-256
// for the descriptor, one seal, one write: no plaintext upload chunk is stored); the entry's POST
// then names the sealing, and the node checks the author's signed sizes and SHA-256 against what
// it sealed (Log::CheckLocal).
//
// A sealing lives in memory only, belongs to the token that began it (any other token, of the
// same case or not, is told it does not exist), and is discarded with what it wrote when it has
// been idle too long, when its owner deletes it, or when the node stops. At most a few are open
// at once, per token and in all, since each may hold up to 8 MiB of sealed chunks for its append.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "khronika/log/log.h"

namespace khronika {

class SealingUploads {
 public:
  struct Limits {
    size_t per_token = 4;
    size_t total = 16;
    std::chrono::steady_clock::duration idle = std::chrono::minutes(10);
  };
  SealingUploads(const Log& log, Limits limits);
  ~SealingUploads();
  SealingUploads(const SealingUploads&) = delete;
  SealingUploads& operator=(const SealingUploads&) = delete;

  // A new sealing for `case_id`, owned by the token `owner`: its id (32 hex digits), or nullopt
  // when the limits leave no room.
  std::optional<std::string> Begin(const std::string& owner, const std::string& case_id);

  struct Progress {
    uint32_t file = 0;        // the file the node expects bytes of
    uint64_t received = 0;    // of that file
    bool conflict = false;    // the piece was not the next one: nothing of it was taken
    std::optional<Hash> finished_sha256;  // the file just completed, and its content's SHA-256
  };
  // Feeds `piece`, the bytes of file `file` (of `size` bytes in all) from `offset`. A piece that
  // is not the next one (another file, another offset: a retry of a piece the node has, say)
  // changes nothing and comes back as a conflict with where the node stands. NotFound for a
  // sealing that is not there or not `owner`'s; InvalidArgument for a size that changed, or
  // content past it (the file, and for a large entry the sealing, is then abandoned).
  //
  // `accepted`, if given, is called (before the piece is sealed) for a piece that is the next
  // one and does not complete its file, with where the node will stand once it is sealed: the
  // server answers the request then, so that the client's next piece travels while this one is
  // sealed. A failure after that is kept with the sealing (which is discarded with what it
  // wrote) and is what the next request about it gets, once.
  Result<Progress> Put(const std::string& owner, std::string_view id, uint32_t file,
                       uint64_t size, uint64_t offset, ByteView piece,
                       const std::function<void(const Progress&)>& accepted = nullptr);

  // Takes the sealing out for the entry's append: NotFound as for Put; InvalidArgument if a file
  // is unfinished (the sealing stays). The case it was begun for is the sealing's case_id().
  Result<LocalSealing> Take(const std::string& owner, std::string_view id);

  // Discards the sealing and what it wrote (NotFound as for Put).
  Status Discard(const std::string& owner, std::string_view id);

  size_t open() const;

 private:
  struct Open;
  // Removes sealings idle past the limit that no request is using; called with mu_ held.
  void SweepLocked(std::chrono::steady_clock::time_point now);
  std::shared_ptr<Open> Find(const std::string& owner, std::string_view id) const;
  // A failure kept for the next request (Put's `accepted`): returned once, and the sealing
  // forgotten; Ok if there is none. `one` holds the sealing's mutex and is released if so.
  Status TakeFailure(Open& open, std::unique_lock<std::mutex>& one, std::string_view id);

  const Log& log_;
  const Limits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Open>, std::less<>> open_;
};

}  // namespace khronika
