// Subcommands that talk to a node over HTTPS: submit and get. Authors sign on their own
// machine; the node never sees the key. Every answer is checked before it is believed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "khronika/bundle/verify_bundle.h"
#include "khronika/http/client.h"
#include "khronika/http/tls.h"
#include "khronika/log/log.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/text.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

const std::vector<OptionSpec> kConnection = {{"node"}, {"token"}, {"pin"}, {"cacert"}, {"timeout"}};

}  // namespace

Result<ClientOptions> ConnectionFrom(const Args& args) {
  ClientOptions o;
  const char* env_node = std::getenv("KHRONIKA_NODE");
  const char* env_token = std::getenv("KHRONIKA_TOKEN");
  o.url = args.Get("node").value_or(env_node ? env_node : "");
  o.token = args.Get("token").value_or(env_token ? env_token : "");
  if (o.url.empty()) return UsageError("--node URL (or KHRONIKA_NODE) is required");
  if (o.token.empty()) return UsageError("--token T (or KHRONIKA_TOKEN) is required");
  if (auto pin = args.Get("pin")) {
    auto fp = NormalizeFingerprint(*pin);
    if (!fp.ok()) return UsageError("--pin takes sha256:HEX: " + fp.status().message());
    o.pin_sha256 = *fp;
  }
  o.ca_file = args.Get("cacert").value_or("");
  if (args.Has("timeout")) {
    KH_ASSIGN_OR_RETURN(uint64_t seconds, args.GetUnsigned("timeout", 0));
    if (seconds == 0 || seconds > 24 * 3600) {
      return UsageError("--timeout takes 1 to 86400 seconds");
    }
    o.deadlines.connect = o.deadlines.idle = std::chrono::seconds(seconds);
  }
  return o;
}

namespace {

// A one-line progress bar on a terminal, for transfers that take more than a second.
class Progress {
 public:
  Progress(std::string label, uint64_t total)
      : label_(std::move(label)), total_(total), start_(SteadyClock::now()),
        tty_(::isatty(STDERR_FILENO)) {}
  ~Progress() {
    if (shown_) std::cerr << "\n";
  }
  void Add(uint64_t n) {
    done_ += n;
    auto now = SteadyClock::now();
    if (!tty_ || now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    double secs = std::chrono::duration<double>(now - start_).count();
    int pct = total_ ? static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(total_)) : 100;
    int bars = pct / 4;
    std::cerr << "\r" << label_ << " [" << std::string(static_cast<size_t>(bars), '#')
              << std::string(static_cast<size_t>(25 - bars), ' ') << "] " << pct << "%  "
              << static_cast<uint64_t>(static_cast<double>(done_) / 1e6 / secs) << " MB/s " << std::flush;
  }

 private:
  std::string label_;
  uint64_t total_, done_ = 0;
  SteadyClock::time_point start_, last_;
  bool tty_, shown_ = false;
};

Status CheckResponse(const HttpResult& r, std::initializer_list<int> ok) {
  for (int s : ok) {
    if (r.status == s) return Status::Ok();
  }
  if (r.status == 401 || r.status == 403) return Status::PermissionDenied(ErrorMessage(r));
  if (r.status == 404) return Status::NotFound(ErrorMessage(r));
  if (r.status == 507) return Status::StoreFull(ErrorMessage(r));
  if (r.status >= 400 && r.status < 500) return Status::InvalidArgument(ErrorMessage(r));
  return Status::IOError(ErrorMessage(r));
}

Result<json> JsonBody(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return Status::Corruption("the node's answer is not JSON");
  return j;
}

// Checks a receipt offline: the record names the sealed entry the receipt names, the checkpoint
// is signed by the key whose hash is the record's origin, and the inclusion proof leads to the
// checkpoint's root. (The sealed entry is the origin's: a submitter holds no key to open it.)
Result<Hash> VerifyReceipt(const json& r) {
  try {
    KH_ASSIGN_OR_RETURN(Hash entry_id, ParseHashHex(r.at("entry_id").get<std::string>()));
    KH_ASSIGN_OR_RETURN(Bytes record_bytes, FromHex(r.at("record_hex").get<std::string>()));
    KH_ASSIGN_OR_RETURN(Record record, DecodeRecord(record_bytes));
    if (record.object_id != entry_id) return Status::Corruption("receipt: the record names another entry");
    KH_ASSIGN_OR_RETURN(PublicKey key, ParsePublicKey(r.at("node_public_key").get<std::string>()));
    if (NodeIdFromPublicKey(key) != record.origin) {
      return Status::Corruption("receipt: the node key does not match the record's origin");
    }
    KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(r.at("checkpoint").get<std::string>()));
    KH_ASSIGN_OR_RETURN(NoteVerifier verifier,
                        ParseVerifierKey(FormatVerifierKey("khronika/" + ToHex(record.origin), key)));
    if (!NoteSignedBy(note, verifier)) return Status::Corruption("receipt: checkpoint signature invalid");
    KH_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(note.text));
    if (cp.origin != verifier.name) return Status::Corruption("receipt: checkpoint of another log");
    std::vector<Hash> proof;
    for (const json& h : r.at("inclusion_proof")) {
      KH_ASSIGN_OR_RETURN(Hash p, ParseHashHex(h.get<std::string>()));
      proof.push_back(p);
    }
    if (!VerifyInclusion(LeafHash(record_bytes), record.index, cp.size, proof, cp.root)) {
      return Status::Corruption("receipt: inclusion proof does not lead to the checkpoint root");
    }
    return entry_id;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("receipt: ") + e.what());
  }
}

// Waits until `k` other members have cosigned a checkpoint that includes the receipt's record,
// and returns that checkpoint with its cosignatures and a fresh inclusion proof, all verified.
// The witness keys to count cosignatures under: those in `trusted` (--witnesses FILE, obtained
// from the partners out of band), else the ones the node reports for its members.
std::vector<std::pair<std::string, NoteVerifier>> WitnessKeys(const json& body,
                                                              const std::optional<TrustedKeys>& trusted) {
  std::vector<std::pair<std::string, NoteVerifier>> keys;  // (member hex, verifier)
  auto member_of = [](const std::string& name) -> std::string {
    auto owner = WitnessOwner(name);
    return owner ? ToHex(*owner) : "";
  };
  if (trusted) {
    for (const auto& [name, key] : trusted->cosigners) {
      std::string member = member_of(name);
      if (!member.empty()) keys.emplace_back(member, NoteVerifier{name, CosignatureKeyId(name, key), key});
    }
    return keys;
  }
  for (const json& c : body["cosignatures"]) {
    std::string member = c.value("member", "");
    auto verifier = ParseCosignerVerifierKey(c.value("vkey", ""));
    if (verifier.ok() && member_of(verifier->name) == member) keys.emplace_back(member, *verifier);
  }
  return keys;
}

// The external witnesses' keys (C2SP tlog-witness, khronika.conf `witness =`) to count: those
// in `trusted` that are not a member's witness key, else the ones the node reports.
std::vector<NoteVerifier> ExternalWitnessKeys(const json& body,
                                              const std::optional<TrustedKeys>& trusted) {
  std::vector<NoteVerifier> keys;
  if (trusted) {
    for (const auto& [name, key] : trusted->cosigners) {
      if (!WitnessOwner(name)) keys.push_back(NoteVerifier{name, CosignatureKeyId(name, key), key});
    }
    return keys;
  }
  if (!body.contains("external_cosignatures") || !body["external_cosignatures"].is_array()) {
    return keys;
  }
  for (const json& c : body["external_cosignatures"]) {
    auto verifier = ParseCosignerVerifierKey(c.is_object() ? c.value("vkey", "") : "");
    if (verifier.ok() && !WitnessOwner(verifier->name)) keys.push_back(*verifier);
  }
  return keys;
}

Result<json> WaitForReplicas(HttpsClient& client, const json& receipt, uint64_t k, uint64_t timeout_s,
                             const std::optional<TrustedKeys>& trusted, uint64_t k_external = 0) {
  uint64_t index = receipt["index"].get<uint64_t>();
  KH_ASSIGN_OR_RETURN(Bytes record_bytes, FromHex(receipt["record_hex"].get<std::string>()));
  KH_ASSIGN_OR_RETURN(PublicKey node_key, ParsePublicKey(receipt["node_public_key"].get<std::string>()));
  Hash origin = NodeIdFromPublicKey(node_key);
  KH_ASSIGN_OR_RETURN(NoteVerifier origin_verifier,
                      ParseVerifierKey(FormatVerifierKey("khronika/" + ToHex(origin), node_key)));
  auto deadline = SteadyClock::now() + std::chrono::seconds(timeout_s);
  size_t best = 0, best_external = 0;
  for (;;) {
    KH_ASSIGN_OR_RETURN(HttpResult w, client.Request("GET", "/v1/checkpoint/witnessed"));
    if (w.status == 200) {
      KH_ASSIGN_OR_RETURN(json body, JsonBody(w));
      uint64_t size = body.value("size", uint64_t{0});
      KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(body.value("checkpoint", "")));
      KH_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(note.text));
      if (size > index && cp.size == size && NoteSignedBy(note, origin_verifier)) {
        json cosigners = json::array();
        std::set<std::string> members;
        for (const auto& [member, verifier] : WitnessKeys(body, trusted)) {
          if (member == ToHex(origin)) continue;
          for (const NoteSignatureLine& line : note.signatures) {
            if (VerifyCosignature(note.text, line, verifier) && members.insert(member).second) {
              cosigners.push_back({{"member", member},
                                   {"vkey", FormatCosignerVerifierKey(verifier.name, verifier.key)},
                                   {"trusted", trusted.has_value()}});
            }
          }
        }
        best = std::max(best, members.size());
        json external = json::array();
        std::set<std::string> external_names;
        for (const NoteVerifier& verifier : ExternalWitnessKeys(body, trusted)) {
          for (const NoteSignatureLine& line : note.signatures) {
            if (VerifyCosignature(note.text, line, verifier) &&
                external_names.insert(verifier.name).second) {
              external.push_back({{"name", verifier.name},
                                  {"vkey", FormatCosignerVerifierKey(verifier.name, verifier.key)},
                                  {"trusted", trusted.has_value()}});
            }
          }
        }
        best_external = std::max(best_external, external_names.size());
        if (members.size() >= k && external_names.size() >= k_external) {
          KH_ASSIGN_OR_RETURN(HttpResult p, client.Request("GET", "/v1/proof/inclusion?index=" +
                                                                      std::to_string(index) + "&size=" +
                                                                      std::to_string(size)));
          KH_RETURN_IF_ERROR(CheckResponse(p, {200}));
          KH_ASSIGN_OR_RETURN(json proof_json, JsonBody(p));
          std::vector<Hash> proof;
          for (const json& h : proof_json["proof"]) {
            KH_ASSIGN_OR_RETURN(Hash ph, ParseHashHex(h.get<std::string>()));
            proof.push_back(ph);
          }
          if (!VerifyInclusion(LeafHash(record_bytes), index, size, proof, cp.root)) {
            return Status::Corruption("the inclusion proof does not lead to the cosigned checkpoint");
          }
          return json{{"size", size}, {"checkpoint", body["checkpoint"]}, {"cosigners", cosigners},
                      {"external_cosigners", external}, {"inclusion_proof", proof_json["proof"]}};
        }
      }
    }
    if (SteadyClock::now() >= deadline) {
      return Status::IOError("entry " + receipt["entry_id"].get<std::string>() + " is recorded at index " +
                             std::to_string(index) + " but not yet replicated: " + std::to_string(best) +
                             " of " + std::to_string(k) + " partner nodes" +
                             (k_external > 0 ? " and " + std::to_string(best_external) +
                                                   " of " + std::to_string(k_external) +
                                                   " external witnesses"
                                             : std::string()) +
                             " had cosigned after " +
                             std::to_string(timeout_s) + " s (the entry is safe on this node; run submit "
                             "again later to collect the replicated receipt)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// One file to submit: what the author commits to, and its plaintext upload chunk ids.
struct FileToSubmit {
  std::string path;
  FileOpening opening;
  std::vector<Hash> chunks;
  // A small file's whole content, sent inside the entry's POST instead of as upload chunks.
  std::optional<Bytes> inline_content;
};

// Small files travel inside the entry's POST (docs/api.md section 7.4): one request instead of
// three. At most this much content per entry goes inline, so that the request stays well under
// the node's default 8 MiB body limit once base64 has grown it by a third.
constexpr uint64_t kInlineBytesPerEntry = 2 * 1024 * 1024;

// Upload chunks go in batches: one `POST /v1/chunks/missing` for the batch, then a `PUT` of each
// chunk the node lacks, so that a resumed upload sends only what is missing while the file is
// still read once. 4 MiB per batch keeps the extra request small against what it covers.
constexpr size_t kChunksPerBatch = 4;
constexpr uint64_t kDefaultConnections = 4;
constexpr uint64_t kMaxConnections = 16;

struct ChunkBatch {
  std::vector<Hash> ids;
  std::vector<Bytes> chunks;
};

Status SendBatch(HttpsClient& client, const ChunkBatch& batch, std::atomic<uint64_t>& sent) {
  json ids = json::array();
  for (const Hash& id : batch.ids) ids.push_back(ToHex(id));
  KH_ASSIGN_OR_RETURN(HttpResult r,
                      client.Request("POST", "/v1/chunks/missing", json{{"ids", ids}}.dump()));
  KH_RETURN_IF_ERROR(CheckResponse(r, {200}));
  KH_ASSIGN_OR_RETURN(json body, JsonBody(r));
  if (!body.contains("missing") || !body["missing"].is_array()) {
    return Status::Corruption("the node's answer to chunks/missing has no list");
  }
  std::set<Hash> missing;
  for (const json& id : body["missing"]) {
    if (!id.is_string()) return Status::Corruption("the node named a chunk that is not hex");
    KH_ASSIGN_OR_RETURN(Hash h, ParseHashHex(id.get<std::string>()));
    missing.insert(h);
  }
  for (size_t i = 0; i < batch.ids.size(); ++i) {
    // erase: a chunk that appears twice in the batch (a file of repeated blocks) goes once.
    if (!missing.erase(batch.ids[i])) continue;
    KH_ASSIGN_OR_RETURN(HttpResult put,
                        client.RequestBytes("PUT", "/v1/chunks/" + ToHex(batch.ids[i]),
                                            batch.chunks[i]));
    KH_RETURN_IF_ERROR(CheckResponse(put, {200, 201}));
    sent.fetch_add(1, std::memory_order_relaxed);
  }
  return Status::Ok();
}

// Sends batches of upload chunks over up to `connections` keep-alive connections at once, so
// that the node works on several chunks while more travel: one connection waits for each answer
// before it sends the next request. The first connection is the caller's; the others are opened
// only once a batch finds every connection busy, so a small file costs one connection. At most
// `connections` batches are sent and one waits, which bounds memory whatever the file's size:
// (connections + 2) x 4 MiB with the one being read.
// With one connection, Queue sends on the calling thread.
class ChunkUploader {
 public:
  ChunkUploader(ClientOptions options, HttpsClient& first, size_t connections)
      : options_(std::move(options)), first_(first), connections_(connections) {}
  ~ChunkUploader() { Stop(); }
  ChunkUploader(const ChunkUploader&) = delete;
  ChunkUploader& operator=(const ChunkUploader&) = delete;

  // Hands `batch` over, waiting while a batch already waits. The first error of any
  // connection, once there is one: the caller then stops reading.
  Status Queue(ChunkBatch batch) {
    if (batch.ids.empty()) return Status::Ok();
    if (connections_ <= 1) return SendBatch(first_, batch, sent_);
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < kWaiting || !error_.ok(); });
    if (!error_.ok()) return error_;
    queue_.push_back(std::move(batch));
    ++outstanding_;
    if (idle_ == 0 && workers_.size() < connections_) {
      const bool use_first = workers_.empty();
      workers_.emplace_back([this, use_first] { Work(use_first); });
    } else {
      work_.notify_one();
    }
    return Status::Ok();
  }

  // Waits until every batch queued has been answered; the first error of any connection. The
  // caller's connection is its own again afterwards.
  Status Finish() {
    if (connections_ <= 1) return Status::Ok();
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return outstanding_ == 0; });
    return error_;
  }

  uint64_t sent() const { return sent_.load(); }

 private:
  static constexpr size_t kWaiting = 1;

  void Work(bool use_first) {
    std::unique_ptr<HttpsClient> own;
    for (;;) {
      ChunkBatch batch;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        work_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        --idle_;
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
        space_.notify_all();
        if (!error_.ok()) {  // drain without sending
          --outstanding_;
          continue;
        }
      }
      if (!use_first && !own) {
        auto connected = HttpsClient::Connect(options_);
        if (!connected.ok()) {
          // A node at its connection cap: the connections already open carry on without this
          // one (the caller's is always open).
          std::lock_guard lock(mu_);
          queue_.push_front(std::move(batch));
          work_.notify_one();
          return;
        }
        own = std::move(*connected);
      }
      Status st = SendBatch(use_first ? first_ : *own, batch, sent_);
      batch = {};
      std::lock_guard lock(mu_);
      if (!st.ok() && error_.ok()) error_ = st;
      --outstanding_;
      space_.notify_all();
    }
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (error_.ok()) error_ = Status::IOError("upload stopped");
    }
    work_.notify_all();
    space_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  const ClientOptions options_;
  HttpsClient& first_;
  const size_t connections_;
  std::atomic<uint64_t> sent_{0};
  std::mutex mu_;
  std::condition_variable work_, space_;
  std::deque<ChunkBatch> queue_;
  size_t outstanding_ = 0, idle_ = 0;
  bool stopping_ = false;
  Status error_ = Status::Ok();
  std::vector<std::thread> workers_;
};

// A file's name, checked before anything is read or sent.
Result<std::string> SubmittedName(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  KH_RETURN_IF_ERROR(ValidateFileName(name).Annotate(path));
  return name;
}

// Opens a file to submit and fills what its descriptor takes from the name: name, media type.
Result<UniqueFd> OpenToSubmit(const std::string& path, FileToSubmit& f) {
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  f.path = path;
  KH_ASSIGN_OR_RETURN(f.opening.descriptor.name, SubmittedName(path));
  f.opening.descriptor.media_type = GuessMediaType(f.opening.descriptor.name);
  return fd;
}

// Reads `path` once: each chunk's id and the whole file's SHA-256 come from the same read, and
// the chunk goes to `uploader` from the buffer it was read into. A file of at most
// kMaxInlineContent bytes that fits in *inline_budget is kept for the entry's POST instead (and
// the budget reduced). Draws the salt of the file's commitment.
Status ReadAndUpload(const std::string& path, ChunkUploader& uploader, FileToSubmit& f,
                     bool show_progress, uint64_t* inline_budget) {
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenToSubmit(path, f));
  FileDescriptor& d = f.opening.descriptor;
  struct stat st {};
  const uint64_t expected = ::fstat(fd.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  std::optional<Progress> progress;
  if (show_progress) progress.emplace("uploading " + d.name, expected);
  Sha256Stream content;
  ChunkBatch batch;
  for (;;) {
    Bytes buf(kChunkSize);
    KH_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fd.get(), buf.data(), buf.size(), path));
    if (n == 0) break;
    buf.resize(n);
    content.Update(buf);
    if (d.size == 0 && n < kChunkSize && n <= kMaxInlineContent && n <= *inline_budget) {
      // The whole file came in this one read: it goes with the entry.
      *inline_budget -= n;
      d.size = n;
      f.inline_content = std::move(buf);
      if (progress) progress->Add(n);
      break;
    }
    const Hash id = ChunkId(buf);
    f.chunks.push_back(id);
    d.size += n;
    if (d.size > kMaxFileSize) return Status::InvalidArgument(path + " is larger than 1 TiB");
    batch.ids.push_back(id);
    batch.chunks.push_back(std::move(buf));
    if (batch.ids.size() == kChunksPerBatch) {
      KH_RETURN_IF_ERROR(uploader.Queue(std::move(batch)));
      batch = {};
    }
    if (progress) progress->Add(n);
    if (n < kChunkSize) break;
  }
  if (d.size == 0 && !f.inline_content && *inline_budget > 0) f.inline_content = Bytes{};
  KH_RETURN_IF_ERROR(uploader.Queue(std::move(batch)));
  d.content_sha256 = content.Finish();
  RandomBytes(f.opening.salt.data(), f.opening.salt.size());
  return Status::Ok();
}

// Whether the files at `paths` all fit inside the entry's POST (kMaxInlineContent each,
// kInlineBytesPerEntry in all), judged by their sizes now.
bool AllFitInline(const std::vector<std::string>& paths) {
  uint64_t total = 0;
  for (const std::string& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_size < 0 ||
        static_cast<uint64_t>(st.st_size) > kMaxInlineContent) {
      return false;
    }
    total += static_cast<uint64_t>(st.st_size);
  }
  return total <= kInlineBytesPerEntry;
}

// Sends the files of one entry through a sealing (docs/api.md section 7.4a): the node seals each
// piece as it arrives, so every byte is stored once, sealed, with no plaintext upload chunk. Each
// file is read once, in 1 MiB pieces, the next piece read and hashed while the last one travels;
// a piece whose request fails on the network is sent again on a new connection, and one the node
// has already (409) is skipped. Fills each file's descriptor and salt; returns the sealing's id
// for the entry's POST. On an error the sealing is deleted.
class SealingSender {
 public:
  // `client` is the connection to use; a new one, made after a network error, is kept in
  // `owned` and `client` pointed at it.
  SealingSender(const ClientOptions& conn, HttpsClient*& client,
                std::unique_ptr<HttpsClient>& owned)
      : conn_(conn), client_(client), owned_(owned) {}

  Result<std::string> Send(const std::string& case_id, const std::vector<std::string>& paths,
                           std::vector<FileToSubmit>& files, bool show_progress) {
    KH_ASSIGN_OR_RETURN(HttpResult begun,
                        client_->Request("POST", "/v1/sealings", json{{"case_id", case_id}}.dump()));
    KH_RETURN_IF_ERROR(CheckResponse(begun, {201}));
    KH_ASSIGN_OR_RETURN(json body, JsonBody(begun));
    if (!body.contains("sealing") || !body["sealing"].is_string()) {
      return Status::Corruption("the node's answer to POST /v1/sealings has no sealing id");
    }
    id_ = body["sealing"].get<std::string>();
    for (size_t i = 0; i < paths.size(); ++i) {
      Status st = SendFile(static_cast<uint32_t>(i), paths[i], files[i], show_progress);
      if (!st.ok()) {
        (void)client_->Request("DELETE", "/v1/sealings/" + id_);  // best effort
        return st;
      }
    }
    return id_;
  }
  uint64_t pieces() const { return pieces_; }

 private:
  Status SendFile(uint32_t index, const std::string& path, FileToSubmit& f, bool show_progress) {
    KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenToSubmit(path, f));
    FileDescriptor& d = f.opening.descriptor;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat " + path);
    d.size = static_cast<uint64_t>(st.st_size);
    if (d.size > kMaxFileSize) return Status::InvalidArgument(path + " is larger than 1 TiB");
    std::optional<Progress> progress;
    if (show_progress) progress.emplace("uploading " + d.name, d.size);
    Sha256Stream content;
    auto read_next = [&, fdn = fd.get()](uint64_t offset) -> Result<Bytes> {
      Bytes piece(static_cast<size_t>(std::min<uint64_t>(kChunkSize, d.size - offset)));
      KH_ASSIGN_OR_RETURN(size_t n, ReadUpTo(fdn, piece.data(), piece.size(), path));
      if (n != piece.size()) {
        return Status::InvalidArgument(path + " shrank while it was read (" +
                                       std::to_string(offset + n) + " of the " +
                                       std::to_string(d.size) + " bytes it had when opened)");
      }
      content.Update(piece);
      return piece;
    };
    uint64_t offset = 0;
    std::future<Result<Bytes>> next =
        std::async(std::launch::async, read_next, uint64_t{0});
    for (;;) {
      KH_ASSIGN_OR_RETURN(Bytes piece, next.get());
      const uint64_t after = offset + piece.size();
      const bool last = after == d.size;
      if (!last) next = std::async(std::launch::async, read_next, after);
      const std::string target = "/v1/sealings/" + id_ + "/files/" + std::to_string(index) +
                                 "?size=" + std::to_string(d.size) +
                                 "&offset=" + std::to_string(offset);
      Status sent = SendPiece(target, piece, index, after, last);
      if (!sent.ok()) {
        if (next.valid()) (void)next.get();  // the reader must not outlive this frame
        return sent.Annotate(path);
      }
      if (progress) progress->Add(piece.size());
      offset = after;
      if (last) break;
    }
    d.content_sha256 = content.Finish();
    if (finished_sha256_ && *finished_sha256_ != d.content_sha256) {
      return Status::Corruption(path + ": the node sealed content whose SHA-256 is not the file's");
    }
    RandomBytes(f.opening.salt.data(), f.opening.salt.size());
    return Status::Ok();
  }

  // One piece, sent again after a network error (at most 3 tries, a new connection each).
  Status SendPiece(const std::string& target, const Bytes& piece, uint32_t index, uint64_t after,
                   bool last) {
    for (int attempt = 1;; ++attempt) {
      Result<HttpResult> r = client_->RequestBytes("PUT", target, piece);
      if (!r.ok()) {
        if (attempt == 3) return r.status();
        auto again = HttpsClient::Connect(conn_);
        if (!again.ok()) return r.status();
        owned_ = std::move(again).value();
        client_ = owned_.get();
        continue;
      }
      if (r->status != 200 && r->status != 409) return CheckResponse(*r, {200});
      KH_ASSIGN_OR_RETURN(json answer, JsonBody(*r));
      const uint64_t file = answer.value("file", uint64_t{0});
      const uint64_t received = answer.value("received", uint64_t{0});
      if (r->status == 409) {
        // The node has this piece already (our last try reached it, its answer did not).
        const bool had = last ? file == index + 1 : (file == index && received == after);
        if (!had) return CheckResponse(*r, {200});
        // Its SHA-256 went with the lost answer; the node still checks the signed one.
        if (last) finished_sha256_.reset();
        ++pieces_;
        return Status::Ok();
      }
      ++pieces_;
      if (last) {
        auto sha = answer.contains("finished_sha256") && answer["finished_sha256"].is_string()
                       ? ParseHashHex(answer["finished_sha256"].get<std::string>())
                       : Result<Hash>(Status::Corruption("no finished_sha256"));
        if (!sha.ok()) return Status::Corruption("the node did not say what it sealed");
        finished_sha256_ = *sha;
      }
      return Status::Ok();
    }
  }

  const ClientOptions& conn_;
  HttpsClient*& client_;
  std::unique_ptr<HttpsClient>& owned_;
  std::string id_;
  uint64_t pieces_ = 0;
  std::optional<Hash> finished_sha256_;  // of the file last completed, as the node said
};

// What every entry of one `submit` shares.
struct EntryTemplate {
  std::string case_id;
  std::string kind;
  std::map<std::string, std::string> metadata;
  std::optional<Hash> corrects;
};

// Signs an entry of `files` (already uploaded), appends it, and checks the receipt. Returns
// the receipt, with the entry id it names.
Result<std::pair<json, Hash>> AppendEntry(HttpsClient& client, const SigningKey& author,
                                          const EntryTemplate& t,
                                          const std::vector<FileToSubmit>& files,
                                          const std::optional<std::string>& sealing = {}) {
  SignedEntry entry;
  entry.case_id = t.case_id;
  entry.author = author.public_key();
  entry.kind = t.kind;
  entry.metadata = t.metadata;
  entry.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  json files_json = json::array();
  for (const FileToSubmit& f : files) {
    entry.files.push_back(FileCommitment(f.opening.salt, Encode(f.opening.descriptor)));
    json file = {{"descriptor", ToJson(f.opening.descriptor)}, {"salt", ToHex(f.opening.salt)}};
    if (sealing) {
      // The node sealed the content as it arrived: the opening is all the POST carries.
    } else if (f.inline_content) {
      file["content"] = Base64Encode(*f.inline_content);
    } else {
      json chunks = json::array();
      for (const Hash& c : f.chunks) chunks.push_back(ToHex(c));
      file["chunks"] = std::move(chunks);
    }
    files_json.push_back(std::move(file));
  }
  entry.corrects = t.corrects;
  SignEntry(entry, author);
  json submission = {{"entry", ToJson(entry)}, {"files", files_json}};
  if (sealing) submission["sealing"] = *sealing;
  const std::string body = submission.dump();
  KH_ASSIGN_OR_RETURN(HttpResult r, client.Request("POST", "/v1/entries", body));
  KH_RETURN_IF_ERROR(CheckResponse(r, {200, 201}));
  KH_ASSIGN_OR_RETURN(json receipt, JsonBody(r));
  KH_ASSIGN_OR_RETURN(Hash entry_id, VerifyReceipt(receipt));
  return std::make_pair(std::move(receipt), entry_id);
}

// `submit --each`: one entry per file, over up to `connections` keep-alive connections, each
// taking the next file when it is done with one. Every receipt is checked. On the first failure
// no new file is started; entries already acknowledged stay so, and are listed.
Status SubmitEach(const Args& args, const ClientOptions& conn, const SigningKey& author,
                  const EntryTemplate& t, size_t connections) {
  const std::vector<std::string>& paths = args.positional();
  const bool as_json = args.Has("json");
  const bool resumable = args.Has("resumable");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> first, HttpsClient::Connect(conn));
  std::mutex mu;
  size_t next = 0, done = 0;
  uint64_t chunks_sent = 0, chunks_total = 0, bytes = 0;
  std::optional<std::pair<std::string, Status>> failure;
  const auto start = SteadyClock::now();
  auto last_shown = start;
  const bool tty = ::isatty(STDERR_FILENO);
  bool shown = false;
  auto work = [&](HttpsClient* client) {
    std::unique_ptr<HttpsClient> own;
    for (;;) {
      size_t i;
      {
        std::lock_guard lock(mu);
        if (failure || next == paths.size()) return;
        i = next++;
      }
      auto submit_one = [&]() -> Result<std::pair<json, Hash>> {
        if (!client) {
          KH_ASSIGN_OR_RETURN(own, HttpsClient::Connect(conn));
          client = own.get();
        }
        std::vector<FileToSubmit> files(1);
        std::optional<std::string> sealing;
        uint64_t sent = 0, total = 0;
        if (!resumable && !AllFitInline({paths[i]})) {
          SealingSender sender(conn, client, own);
          KH_ASSIGN_OR_RETURN(sealing, sender.Send(t.case_id, {paths[i]}, files, false));
          sent = total = sender.pieces();
        } else {
          ChunkUploader uploader(conn, *client, 1);
          uint64_t inline_budget = kInlineBytesPerEntry;
          KH_RETURN_IF_ERROR(ReadAndUpload(paths[i], uploader, files[0], false, &inline_budget));
          sent = uploader.sent();
          total = files[0].chunks.size();
        }
        KH_ASSIGN_OR_RETURN(auto receipt, AppendEntry(*client, author, t, files, sealing));
        receipt.first["file"] = paths[i];
        receipt.first["chunks_sent"] = sent;
        receipt.first["chunks_total"] = total;
        receipt.first["sealed_on_arrival"] = sealing.has_value();
        receipt.first["inline_files"] = files[0].inline_content ? 1 : 0;
        receipt.first["size"] = files[0].opening.descriptor.size;
        return receipt;
      };
      auto result = submit_one();
      std::lock_guard lock(mu);
      if (!result.ok()) {
        if (!failure) failure.emplace(paths[i], result.status());
        return;
      }
      ++done;
      const json& receipt = result->first;
      chunks_sent += receipt["chunks_sent"].get<uint64_t>();
      chunks_total += receipt["chunks_total"].get<uint64_t>();
      bytes += receipt["size"].get<uint64_t>();
      if (shown) std::cerr << "\r\033[K" << std::flush;  // the progress line makes way
      shown = false;
      if (as_json) {
        std::cout << receipt.dump() << "\n" << std::flush;
      } else {
        std::cout << "entry " << ToHex(result->second) << " index " << receipt["index"] << "  "
                  << paths[i] << "\n" << std::flush;
      }
      const auto now = SteadyClock::now();
      if (tty && now - last_shown >= std::chrono::milliseconds(100)) {
        last_shown = now;
        shown = true;
        const double secs = std::chrono::duration<double>(now - start).count();
        const auto rate = static_cast<uint64_t>(static_cast<double>(done) / secs);
        std::cerr << "\rsubmitted " << done << " of " << paths.size() << " files, "
                  << bytes / 1000000 << " MB, " << rate << " entries/s " << std::flush;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t c = 1; c < std::min(connections, paths.size()); ++c) {
    threads.emplace_back(work, nullptr);
  }
  work(first.get());
  for (std::thread& th : threads) th.join();
  if (shown) std::cerr << "\n";
  const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::cerr << "submitted " << done << " of " << paths.size() << " files as " << done
            << " entries in " << std::fixed << std::setprecision(1) << secs
            << " s (every receipt verified); sent " << chunks_sent << " of " << chunks_total
            << " chunks\n";
  if (failure) {
    std::cerr << "not submitted: " << failure->first << " failed, and " << paths.size() - done - 1
              << " other files were not started or not finished; the " << done
              << " entries listed are acknowledged and stay so\n";
    return failure->second.Annotate(failure->first);
  }
  return Status::Ok();
}

Status RunSubmit(const Args& args) {
  KH_ASSIGN_OR_RETURN(ClientOptions conn, ConnectionFrom(args));
  KH_ASSIGN_OR_RETURN(std::string key_path, args.Require("key"));
  EntryTemplate t;
  KH_ASSIGN_OR_RETURN(t.case_id, args.Require("case"));
  KH_RETURN_IF_ERROR(ValidateCaseId(t.case_id));
  t.kind = args.Get("kind").value_or("evidence");
  KH_RETURN_IF_ERROR(ValidateKind(t.kind));
  const bool each = args.Has("each");
  if (args.positional().empty() && (t.kind == "evidence" || each)) {
    return UsageError("name at least one FILE");
  }
  if (each && (args.Has("replicas") || args.Has("external-witnesses") || args.Has("corrects") ||
               args.Has("timestamp"))) {
    return UsageError("--each takes neither --replicas, --external-witnesses, --timestamp nor "
                      "--corrects (one entry at a time)");
  }
  for (const std::string& p : args.GetAll("meta")) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return UsageError("--meta takes key=value, got '" + p + "'");
    t.metadata[p.substr(0, eq)] = p.substr(eq + 1);
  }
  KH_RETURN_IF_ERROR(ValidateMetadata(t.metadata));
  if (auto c = args.Get("corrects")) {
    auto h = ParseHashHex(*c);
    if (!h.ok()) return UsageError("--corrects: " + h.status().message());
    t.corrects = *h;
  }
  KH_ASSIGN_OR_RETURN(uint64_t connections, args.GetUnsigned("connections", kDefaultConnections));
  if (connections == 0 || connections > kMaxConnections) {
    return UsageError("--connections takes 1 to " + std::to_string(kMaxConnections));
  }
  KH_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(key_path, 16 * 1024));
  auto author = SigningKey::FromPem(pem);
  if (!author.ok()) return author.status().Annotate(key_path);
  // Every name is checked before anything is sent.
  for (const std::string& path : args.positional()) {
    KH_RETURN_IF_ERROR(SubmittedName(path).status());
  }
  if (each) return SubmitEach(args, conn, *author, t, connections);

  KH_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, HttpsClient::Connect(conn));
  // Plaintext goes only to the origin, over TLS; it seals the files and deletes the uploads.
  std::vector<FileToSubmit> files(args.positional().size());
  uint64_t sent_chunks = 0, total_chunks = 0, inline_files = 0;
  std::optional<std::string> sealing;
  if (!args.Has("resumable") && !AllFitInline(args.positional())) {
    HttpsClient* current = client.get();
    SealingSender sender(conn, current, client);
    KH_ASSIGN_OR_RETURN(sealing, sender.Send(t.case_id, args.positional(), files, true));
    sent_chunks = total_chunks = sender.pieces();
  } else {
    ChunkUploader uploader(conn, *client, connections);
    uint64_t inline_budget = kInlineBytesPerEntry;
    for (size_t i = 0; i < files.size(); ++i) {
      Status st = ReadAndUpload(args.positional()[i], uploader, files[i], true, &inline_budget);
      if (!st.ok()) {
        // An error of a connection is the cause; the reader only stopped because of it.
        Status sending = uploader.Finish();
        return sending.ok() ? st : sending;
      }
      total_chunks += files[i].chunks.size();
      if (files[i].inline_content) ++inline_files;
    }
    KH_RETURN_IF_ERROR(uploader.Finish());
    sent_chunks = uploader.sent();
  }
  KH_ASSIGN_OR_RETURN(auto appended, AppendEntry(*client, *author, t, files, sealing));
  auto& [receipt, entry_id] = appended;
  KH_ASSIGN_OR_RETURN(uint64_t replicas, args.GetUnsigned("replicas", 0));
  KH_ASSIGN_OR_RETURN(uint64_t external_witnesses, args.GetUnsigned("external-witnesses", 0));
  if (replicas > 0 || external_witnesses > 0) {
    KH_ASSIGN_OR_RETURN(uint64_t timeout_s, args.GetUnsigned("replicas-timeout", 120));
    std::optional<TrustedKeys> trusted;
    if (auto file = args.Get("witnesses")) {
      KH_ASSIGN_OR_RETURN(trusted, LoadTrustedKeys(*file));
      if (trusted->cosigners.empty()) return UsageError("--witnesses " + *file + " holds no witness key");
    }
    KH_ASSIGN_OR_RETURN(json replicated, WaitForReplicas(*client, receipt, replicas, timeout_s,
                                                         trusted, external_witnesses));
    receipt["replicated"] = replicated;
  }
  if (args.Has("timestamp")) {
    // RFC 3161 tokens over a checkpoint that includes the entry (#16); the node waits for its
    // TSAs at most tsa_timeout_ms.
    json ask = {{"min_size", receipt["index"].get<uint64_t>() + 1}};
    KH_ASSIGN_OR_RETURN(HttpResult r,
                        client->Request("POST", "/v1/checkpoint/timestamp", ask.dump()));
    json answer = json::parse(r.body, nullptr, false);
    if (r.status != 200 || !answer.is_object() || !answer["results"].is_array()) {
      return Status::IOError("entry " + ToHex(entry_id) +
                             " is acknowledged, but timestamping failed: " + ErrorMessage(r));
    }
    receipt["timestamps"] = answer;
  }
  if (args.Has("json")) {
    receipt["chunks_sent"] = sent_chunks;
    receipt["chunks_total"] = total_chunks;
    receipt["inline_files"] = inline_files;
    receipt["sealed_on_arrival"] = sealing.has_value();
    std::cout << receipt.dump() << "\n";
  } else {
    std::cout << "entry " << ToHex(entry_id) << "\n"
              << "index " << receipt["index"] << "\n"
              << "checkpoint size " << receipt["tree_size"] << " (signature and inclusion proof verified)\n";
    if (receipt.contains("replicated")) {
      std::cout << "replicated: cosigned by " << receipt["replicated"]["cosigners"].size()
                << " partner nodes at size " << receipt["replicated"]["size"]
                << (args.Has("witnesses") ? " (witness keys from your --witnesses file)\n"
                                          : " (witness keys as the node reports them; pass --witnesses FILE "
                                            "to count only keys you trust)\n");
      if (!receipt["replicated"]["external_cosigners"].empty()) {
        std::cout << "witnessed: cosigned by " << receipt["replicated"]["external_cosigners"].size()
                  << " external witnesses:";
        for (const json& w : receipt["replicated"]["external_cosigners"]) {
          std::cout << " " << w["name"].get<std::string>();
        }
        std::cout << "\n";
      }
    }
    if (sealing) {
      std::cerr << "sent " << sent_chunks << " pieces, sealed by the node as they arrived";
    } else {
      std::cerr << "sent " << sent_chunks << " of " << total_chunks
                << " chunks; the rest were already on the node";
    }
    if (inline_files > 0) std::cerr << "; " << inline_files << " small files went with the entry";
    std::cerr << "\n";
  }
  if (receipt.contains("timestamps")) {
    const json& ts = receipt["timestamps"];
    size_t stored = 0;
    for (const json& item : ts["results"]) {
      if (item.value("stored", false)) {
        ++stored;
        if (!args.Has("json")) {
          std::cout << "timestamped: existed no later than " << item.value("gen_time", "?")
                    << ", by " << item.value("tsa_name", "?") << " (" << item.value("tsa", "")
                    << "), checkpoint size " << ts["size"] << "\n";
        }
      } else {
        std::cerr << "no timestamp from " << item.value("tsa", "?") << ": "
                  << item.value("error", "?") << "\n";
      }
    }
    if (stored == 0) {
      return Status::IOError("entry " + ToHex(entry_id) +
                             " is acknowledged, but no time-stamping authority gave a token");
    }
  }
  return Status::Ok();
}

// Where get writes an entry's files: names a person's folder can safely hold (never a dotfile,
// never one that a link already planted there leads elsewhere), checked before anything is
// downloaded, so that nothing in the folder is replaced.
struct OutputFolder {
  std::filesystem::path dir;
  UniqueFd fd;
  std::vector<LocalFileNames> names;  // one per file of the entry, in entry order

  std::string PathOf(const std::string& name) const { return (dir / name).string(); }
};

// A download's temporary file, removed on every way out unless it was renamed into place.
class PartFileGuard {
 public:
  PartFileGuard(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  ~PartFileGuard() {
    if (!renamed_) RemoveAt(dir_fd_, name_);
  }
  PartFileGuard(const PartFileGuard&) = delete;
  PartFileGuard& operator=(const PartFileGuard&) = delete;
  void Renamed() { renamed_ = true; }

 private:
  int dir_fd_;
  std::string name_;
  bool renamed_ = false;
};

Result<OutputFolder> PrepareOutputFolder(const std::filesystem::path& dir,
                                         const std::vector<std::string>& submitted_names) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  KH_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirectory(dir));
  OutputFolder out{dir, std::move(fd), PlanLocalFileNames(submitted_names)};
  for (const LocalFileNames& f : out.names) {
    KH_ASSIGN_OR_RETURN(bool exists, ExistsAt(out.fd.get(), f.name, out.PathOf(f.name)));
    if (exists) {
      return Status::AlreadyExists(out.PathOf(f.name) +
                                   " exists; not overwriting it (nothing was downloaded)");
    }
    KH_ASSIGN_OR_RETURN(exists, ExistsAt(out.fd.get(), f.part, out.PathOf(f.part)));
    if (exists) {
      return Status::AlreadyExists(out.PathOf(f.part) +
                                   " exists (left by an interrupted get?); not overwriting it or "
                                   "following it: remove it and run get again (nothing was "
                                   "downloaded)");
    }
  }
  return out;
}

// Hashes a download's pieces and writes them to its part file on a thread of its own, while the
// next pieces arrive and are decrypted on the caller's: each byte is hashed once, against what
// the author signed, and written once. At most kQueued pieces wait, so memory stays bounded.
// Writeback starts every 8 MiB, so that the final fsync has little left to wait for.
class PieceWriter {
 public:
  static constexpr size_t kPiece = 1 << 20;

  PieceWriter(int fd, std::string path, Progress& progress)
      : fd_(fd), path_(std::move(path)), progress_(progress), thread_([this] { Run(); }) {}
  ~PieceWriter() { Stop(); }
  PieceWriter(const PieceWriter&) = delete;
  PieceWriter& operator=(const PieceWriter&) = delete;

  // Takes `piece` (leaving a spare buffer in its place), waiting while kQueued pieces wait.
  // The writer's error once there is one.
  Status Put(Bytes& piece) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return queue_.size() < kQueued || !error_.ok(); });
    if (!error_.ok()) return error_;
    queue_.push_back(std::move(piece));
    piece = Bytes();
    if (!spare_.empty()) {
      piece = std::move(spare_.back());
      spare_.pop_back();
    }
    work_.notify_one();
    return Status::Ok();
  }

  // Waits until every piece is written; the SHA-256 of all of them, or the writer's error.
  Result<Hash> Finish() {
    Stop();
    if (!error_.ok()) return error_;
    return content_.Finish();
  }

 private:
  static constexpr size_t kQueued = 4;
  static constexpr uint64_t kWritebackEvery = 8 << 20;

  void Run() {
    uint64_t written = 0, flushed = 0;
    for (;;) {
      Bytes piece;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        if (queue_.empty()) return;
        piece = std::move(queue_.front());
        queue_.pop_front();
        space_.notify_all();
      }
      content_.Update(piece);
      Status st = WriteAll(fd_, piece.data(), piece.size(), path_);
      written += piece.size();
      if (st.ok() && written - flushed >= kWritebackEvery) {
        // Only starts writeback (no wait); the fsync before the rename is what guarantees.
        ::sync_file_range(fd_, static_cast<off_t>(flushed), static_cast<off_t>(written - flushed),
                          SYNC_FILE_RANGE_WRITE);
        flushed = written;
      }
      progress_.Add(piece.size());
      std::lock_guard lock(mu_);
      if (!st.ok()) {
        error_ = st;
        queue_.clear();
        space_.notify_all();
        return;
      }
      piece.resize(piece.capacity());
      if (spare_.size() < 2) spare_.push_back(std::move(piece));
    }
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  const int fd_;
  const std::string path_;
  Progress& progress_;
  Sha256Stream content_;
  std::mutex mu_;
  std::condition_variable work_, space_;
  std::deque<Bytes> queue_;
  std::vector<Bytes> spare_;
  bool stopping_ = false;
  Status error_ = Status::Ok();
  std::thread thread_;  // last: starts once everything it uses is made
};

Status RunGet(const Args& args) {
  KH_ASSIGN_OR_RETURN(ClientOptions conn, ConnectionFrom(args));
  if (args.positional().size() != 1) return UsageError("get takes one ENTRY_ID");
  auto entry_id = ParseHashHex(args.positional()[0]);
  if (!entry_id.ok()) return UsageError("ENTRY_ID: " + entry_id.status().message());
  std::filesystem::path out_dir = args.Get("out").value_or(".");
  KH_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, HttpsClient::Connect(conn));
  KH_ASSIGN_OR_RETURN(HttpResult r, client->Request("GET", "/v1/entries/" + ToHex(*entry_id)));
  KH_RETURN_IF_ERROR(CheckResponse(r, {200}));
  KH_ASSIGN_OR_RETURN(json body, JsonBody(r));
  // Believe nothing the node says that its bytes and signatures do not prove: the signed entry
  // by its author's signature, each descriptor by the commitment the author signed, each byte
  // by the signed SHA-256. (The sealed entry is the origin's to open; the record must name it.)
  SignedEntry entry;
  std::vector<FileDescriptor> descriptors;
  try {
    KH_ASSIGN_OR_RETURN(Bytes record_bytes, FromHex(body.at("record").at("record_hex").get<std::string>()));
    KH_ASSIGN_OR_RETURN(Record record, DecodeRecord(record_bytes));
    if (record.object_id != *entry_id) return Status::Corruption("the entry's record names another object");
    KH_ASSIGN_OR_RETURN(Bytes entry_bytes, FromHex(body.at("entry_hex").get<std::string>()));
    KH_ASSIGN_OR_RETURN(entry, DecodeSignedEntry(entry_bytes));
    if (!VerifyEntrySignature(entry)) return Status::Corruption("the entry's author signature is invalid");
    const json& files = body.at("files");
    if (!files.is_array() || files.size() != entry.files.size()) {
      return Status::Corruption("the node returned " + std::to_string(files.is_array() ? files.size() : 0) +
                                " files; the author signed " + std::to_string(entry.files.size()));
    }
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].at("index").get<uint64_t>() != i) {
        return Status::Corruption("the node returned the files out of order");
      }
      KH_ASSIGN_OR_RETURN(Bytes db, FromHex(files[i].at("descriptor_hex").get<std::string>()));
      KH_ASSIGN_OR_RETURN(Bytes salt_bytes, FromHex(files[i].at("salt").get<std::string>()));
      CommitmentSalt salt{};
      if (salt_bytes.size() != salt.size()) return Status::Corruption("file " + std::to_string(i) + ": bad salt");
      std::copy(salt_bytes.begin(), salt_bytes.end(), salt.begin());
      if (FileCommitment(salt, db) != entry.files[i]) {
        return Status::Corruption("file " + std::to_string(i) + ": its descriptor is not the one the author signed");
      }
      KH_ASSIGN_OR_RETURN(FileDescriptor d, DecodeDescriptor(db));
      descriptors.push_back(std::move(d));
    }
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("the node's answer: ") + e.what());
  }
  std::vector<std::string> submitted_names;
  for (const FileDescriptor& d : descriptors) submitted_names.push_back(d.name);
  KH_ASSIGN_OR_RETURN(OutputFolder folder, PrepareOutputFolder(out_dir, submitted_names));
  for (size_t file = 0; file < descriptors.size(); ++file) {
    const FileDescriptor& m = descriptors[file];
    const LocalFileNames& local = folder.names[file];
    std::filesystem::path final_path = out_dir / local.name;
    std::filesystem::path part = out_dir / local.part;
    KH_ASSIGN_OR_RETURN(UniqueFd fd,
                        CreateNewFileAt(folder.fd.get(), local.part, 0600, part.string()));
    PartFileGuard part_guard(folder.fd.get(), local.part);
    uint64_t received = 0;
    Progress progress("downloading " + m.name, m.size);
    // The whole file is checked against the signed size and SHA-256 before it is renamed into
    // place; until then it is only DIR/.NAME.part, removed on any failure.
    PieceWriter writer(fd.get(), part.string(), progress);
    auto sink = [&](Bytes& piece) -> Status {
      received += piece.size();
      if (received > m.size) return Status::Corruption("the node sent more bytes than the file has");
      return writer.Put(piece);
    };
    auto d = client->DownloadPieces("/v1/entries/" + ToHex(*entry_id) + "/files/" +
                                        std::to_string(file) + "/content",
                                    PieceWriter::kPiece, sink);
    Result<Hash> written = writer.Finish();  // every piece handed over, hashed and written
    if (!d.ok()) return d.status();
    Status st = CheckResponse(*d, {200});
    if (st.ok() && !written.ok()) st = written.status();
    if (st.ok() && (received != m.size || *written != m.content_sha256)) {
      st = Status::Corruption(m.name + ": received content does not match the signed SHA-256");
    }
    if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("fsync " + part.string());
    // Never onto an existing file, even one that appeared during the download.
    if (st.ok()) {
      st = RenameNoReplaceAt(folder.fd.get(), local.part, local.name, final_path.string());
    }
    if (!st.ok()) return st;
    part_guard.Renamed();
    if (local.name != m.name) {
      std::cout << "saved '" << ShowInvisible(m.name) << "' as '" << local.name << "'\n";
    }
    std::cout << "verified " << final_path.string() << "  sha256 " << ToHex(m.content_sha256) << "\n";
  }
  if (!descriptors.empty()) ::fsync(folder.fd.get());
  std::cout << "entry " << ToHex(*entry_id) << " (case " << ShowInvisible(entry.case_id) << ", author "
            << ToHex(entry.author) << "): signature and every byte verified\n";
  // Values as the author signed them, with invisible and text-direction characters written out.
  for (const auto& [k, v] : entry.metadata) {
    std::cout << "  " << k << ": " << ShowInvisible(v) << "\n";
  }
  return Status::Ok();
}

std::vector<OptionSpec> With(std::vector<OptionSpec> extra) {
  extra.insert(extra.end(), kConnection.begin(), kConnection.end());
  return extra;
}

}  // namespace

std::vector<Command> ClientCommands() {
  return {
      {"submit", "sign files on this machine and submit them to a node",
       "khronika submit --node URL --token T --key FILE --case ID [--kind KIND]\n"
       "                [--meta k=v]... [--corrects ENTRY_ID] [--json] [--each]\n"
       "                [--resumable] [--connections N] [--timeout S]\n"
       "                (--pin sha256:FP | --cacert FILE) FILE...\n"
       "Signs the entry with the author key in FILE (it never leaves this machine): a salted\n"
       "commitment to each file's name, media type, size and SHA-256. Sends the files; the\n"
       "node seals them under its archive key, appends, and\n"
       "answers with a receipt naming the sealed entry, which is checked: the checkpoint's\n"
       "signature and the inclusion proof. KHRONIKA_NODE and KHRONIKA_TOKEN may stand in for\n"
       "--node and --token. --replicas K waits (up to --replicas-timeout seconds, default 120)\n"
       "until K other federation members have cosigned a checkpoint that includes the entry:\n"
       "only then does it survive the seizure of this node. --witnesses FILE counts only\n"
       "cosignatures by the witness keys in FILE (the partners' cosigner_vkey, one per line,\n"
       "obtained from them directly), instead of the keys the node reports.\n"
       "--timestamp then has the node ask its time-stamping authorities (tsa lines of\n"
       "khronika.conf) at once for RFC 3161 tokens over a checkpoint including the entry, and\n"
       "prints, for each TSA that answered, \"existed no later than T, by <TSA>\"; it fails\n"
       "(the entry staying acknowledged) if none did.\n"
       "--external-witnesses K waits, likewise, until K external C2SP witnesses (khronika.conf\n"
       "`witness =` lines of the node) have cosigned it too; their keys in a --witnesses FILE\n"
       "are the lines that are not a partner's.\n"
       "--timeout S gives up on a node that takes longer than S seconds to accept the\n"
       "connection and finish TLS, or sends and takes nothing for S seconds (default: 10 to\n"
       "connect, 30 for each read or write).\n"
       "Each file is read once and sent in 1 MiB pieces that the node seals as they arrive\n"
       "(no plaintext is stored on the node); small files (64 KiB each, 2 MiB in all) go\n"
       "inside the entry's request instead. --resumable sends upload chunks instead, over up\n"
       "to --connections N keep-alive connections at once (1 to 16, default 4), which the node\n"
       "keeps until the entry is sealed: a submit run again after an interruption sends only\n"
       "the chunks still missing. --each makes one entry per FILE instead of\n"
       "one for all, the files spread over the N connections, each receipt checked; it prints\n"
       "one line per acknowledged entry (with --json, the receipt and \"file\"), a progress\n"
       "line on a terminal and a summary. On the first failure it starts no other file, names\n"
       "the file and exits non-zero; the entries it listed are acknowledged and stay so.",
       With({{"key"}, {"case"}, {"kind"}, {"meta", true, true}, {"corrects"}, {"json", false},
             {"replicas"}, {"replicas-timeout"}, {"witnesses"}, {"external-witnesses"},
             {"each", false}, {"connections"}, {"timestamp", false}, {"resumable", false}}),
       RunSubmit},
      {"get", "download an entry's files and verify every byte",
       "khronika get --node URL --token T ENTRY_ID [--out DIR] [--timeout S]\n"
       "             (--pin sha256:FP | --cacert FILE)\n"
       "Checks the entry's author signature and each file's descriptor against the commitment\n"
       "the author signed, then streams each file to DIR, checking its size and SHA-256\n"
       "against the signed descriptor before it takes its name. Never replaces a file or\n"
       "follows a link in DIR. A name that is unsafe in a folder (a leading '.', '-' or '~',\n"
       "characters Windows refuses, invisible characters) is saved with '_' instead, and\n"
       "repeated names get -2, -3: it prints \"saved 'NAME' as 'NEW'\" for each. --timeout S as\n"
       "for submit.",
       With({{"out"}}), RunGet},
  };
}

}  // namespace khronika::cli
