#include "khronika/http/witness_pusher.h"

#include <algorithm>

#include "khronika/http/logging.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/tlog_witness.h"
#include "khronika/log/worker_pool.h"

namespace khronika {
namespace {

// A witness's URL split into what the client connects to and the submission prefix.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  size_t slash = url.find('/', 8);  // after "https://"
  if (slash == std::string::npos) return {url, ""};
  return {url.substr(0, slash), url.substr(slash)};
}

Result<std::pair<uint64_t, std::string>> LatestOwnCheckpoint(Node& node) {
  KH_ASSIGN_OR_RETURN(std::string note, node.log().LatestCheckpoint());
  KH_ASSIGN_OR_RETURN(SignedNote n, ParseSignedNote(note));
  KH_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(n.text));
  return std::make_pair(cp.size, note);
}

}  // namespace

Result<std::vector<NoteSignatureLine>> SendAddCheckpoint(HttpsClient& client,
                                                         const std::string& prefix, Node& node,
                                                         uint64_t size, const std::string& note,
                                                         uint64_t old) {
  // A witness whose state moved meanwhile answers 409 again: a few rounds, not forever.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (old > size) {
      return Status::Corruption("the witness has cosigned size " + std::to_string(old) +
                                " of this log, beyond the checkpoint at " + std::to_string(size));
    }
    AddCheckpointRequest request{old, {}, note};
    if (old > 0 && old < size) {
      KH_ASSIGN_OR_RETURN(request.proof, node.log().ConsistencyProof(old, size));
    }
    KH_ASSIGN_OR_RETURN(HttpResult r,
                        client.Request("POST", prefix + "/add-checkpoint",
                                       FormatAddCheckpointRequest(request), "text/plain"));
    if (r.status == 200) return ParseSignatureLines(r.body);
    if (r.status == 409) {
      KH_ASSIGN_OR_RETURN(old, ParseTlogSize(r.body));
      continue;
    }
    return Status::IOError("add-checkpoint: HTTP " + std::to_string(r.status) + ": " +
                           ErrorMessage(r));
  }
  return Status::IOError("add-checkpoint: the witness kept answering 409");
}

WitnessPusher::WitnessPusher(Node& node, std::vector<ExternalWitness> external,
                             PeerClientOptions peers)
    : node_(node), peers_(std::move(peers)) {
  peers_.cancel = &cancel_;
  auto partners = std::make_unique<Target>();
  partners->partners = true;
  targets_.push_back(std::move(partners));
  for (ExternalWitness& w : external) {
    auto t = std::make_unique<Target>();
    t->external = std::move(w);
    targets_.push_back(std::move(t));
  }
}

WitnessPusher::~WitnessPusher() { Stop(); }

void WitnessPusher::Start() {
  for (auto& t : targets_) {
    t->thread = std::thread([this, target = t.get()] {
      NameThisThread("kh-witness");
      Run(*target);
    });
  }
}

void WitnessPusher::Poke() {
  // Under load every group commit pokes, a hundred times a second. A target that is already
  // poked (waiting out the gap between pushes, or about to push) needs no wake-up: it would
  // only go back to sleep.
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    for (auto& t : targets_) {
      wake = wake || !t->poked;
      t->poked = true;
    }
  }
  if (wake) cv_.notify_all();
}

void WitnessPusher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  cv_.notify_all();
  for (auto& t : targets_) {
    if (t->thread.joinable()) t->thread.join();
  }
}

void WitnessPusher::Run(Target& target) {
  constexpr auto kFirstRetry = std::chrono::seconds(1);
  constexpr auto kLastRetry = std::chrono::seconds(60);
  // Each commit pokes; pushes are at least this far apart, the checkpoints signed meanwhile
  // covered by the latest one (a witness cosigns the newest checkpoint, not every one).
  constexpr auto kPushGap = std::chrono::milliseconds(100);
  auto retry = kFirstRetry;
  std::optional<std::chrono::steady_clock::time_point> retry_at;
  auto last_push = std::chrono::steady_clock::now() - kPushGap;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || target.poked; };
      if (retry_at) {
        cv_.wait_until(lock, *retry_at, ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stopping_) return;
      cv_.wait_until(lock, last_push + kPushGap, [&] { return stopping_; });
      if (stopping_) return;
      target.poked = false;
    }
    last_push = std::chrono::steady_clock::now();
    bool done = target.partners ? PushPartners() : PushExternal(target.external);
    if (done) {
      retry_at.reset();
      retry = kFirstRetry;
    } else {
      retry_at = std::chrono::steady_clock::now() + retry;
      retry = std::min<std::chrono::seconds>(retry * 2, kLastRetry);
    }
  }
}

bool WitnessPusher::PushPartners() {
  auto latest = LatestOwnCheckpoint(node_);
  if (!latest.ok() || latest->first == 0) return true;  // nothing to cosign
  const auto& [size, note] = *latest;
  auto peers = ListPeers(node_.store());
  if (!peers.ok()) return false;
  bool all = true;
  for (const Peer& peer : *peers) {
    if (peer.serve_only || peer.url.empty() || peer.node_id == node_.id()) continue;
    // Only partners whose witness key is on the roster: their cosignatures are the ones kept.
    std::optional<NoteVerifier> key;
    uint64_t old = 0;
    bool have = false;
    Status st = node_.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto keys, MemberWitnessKeys(txn));
      for (const auto& [member, verifier] : keys) {
        if (member == peer.node_id) key = verifier;
      }
      if (!key) return Status::Ok();
      KH_ASSIGN_OR_RETURN(
          have, txn.Contains(Table::kCosignatures, keys::Cosignature(node_.id(), size, key->name)));
      KH_ASSIGN_OR_RETURN(old,
                          LatestCosignedSize(txn, Table::kCosignatures, node_.id(), key->name));
      return Status::Ok();
    });
    if (!st.ok()) return false;
    if (!key || have) continue;
    ClientOptions o;
    o.url = peer.url;
    o.pin_sha256 = peer.cert_sha256;
    o.client_cert = peers_.tls_cert;
    o.client_key = peers_.tls_key;
    o.deadlines = peers_.deadlines;
    o.cancel = &cancel_;
    auto client = HttpsClient::Connect(o);
    if (!client.ok()) {
      all = false;
      continue;
    }
    auto lines = SendAddCheckpoint(**client, "", node_, size, note, old);
    if (!lines.ok()) {
      // 503 until the partner has pulled: sync brings it there, and this asks again.
      all = false;
      LogLine(LogLevel::kDebug, "witness",
              "partner " + ToHex(peer.node_id).substr(0, 16) + ": " +
                  WithoutPeerAddress(lines.status().message(), peer));
      continue;
    }
    std::string cosigned = note;
    for (const NoteSignatureLine& l : *lines) cosigned += FormatSignatureLine(l);
    auto added = IngestCosignatures(node_.store(), node_.id(), cosigned);
    if (!added.ok() || *added == 0) all = false;
  }
  return all;
}

bool WitnessPusher::PushExternal(const ExternalWitness& w) {
  auto latest = LatestOwnCheckpoint(node_);
  if (!latest.ok() || latest->first == 0) return true;
  const auto& [size, note] = *latest;
  uint64_t old = 0;
  bool have = false;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(have, txn.Contains(Table::kExternalCosignatures,
                                           keys::Cosignature(node_.id(), size, w.verifier.name)));
    KH_ASSIGN_OR_RETURN(
        old, LatestCosignedSize(txn, Table::kExternalCosignatures, node_.id(), w.verifier.name));
    return Status::Ok();
  });
  if (!st.ok()) return false;
  if (have) return true;
  auto [base, prefix] = SplitUrl(w.url);
  ClientOptions o;
  o.url = base;
  o.ca_file = w.ca_file;
  o.system_cas = w.ca_file.empty();
  o.deadlines = peers_.deadlines;
  o.cancel = &cancel_;
  auto fail = [&](const Status& s) {
    LogLine(LogLevel::kWarn, "witness", "external witness " + w.verifier.name + ": " + s.message());
    return false;
  };
  auto client = HttpsClient::Connect(o);
  if (!client.ok()) return fail(client.status());
  auto lines = SendAddCheckpoint(**client, prefix, node_, size, note, old);
  if (!lines.ok()) return fail(lines.status());
  auto added = StoreExternalCosignatures(node_.store(), node_.id(), size, *lines, w);
  if (!added.ok()) return fail(added.status());
  if (*added == 0) {
    return fail(Status::Corruption("its answer holds no valid cosignature by " + w.vkey));
  }
  LogLine(
      LogLevel::kInfo, "witness",
      "checkpoint at " + std::to_string(size) + " cosigned by external witness " + w.verifier.name);
  return true;
}

}  // namespace khronika
