#include "khronika/http/timestamper.h"

#include "khronika/http/logging.h"
#include "khronika/schemas/note.h"
#include "khronika/store/files.h"
#include "khronika/timestamp/timestamp_store.h"
#include "khronika/log/worker_pool.h"

namespace khronika {

Timestamper::Timestamper(Node& node, Metrics& metrics, TimestamperOptions options)
    : node_(node), metrics_(metrics), options_(std::move(options)) {}

Timestamper::~Timestamper() { Stop(); }

Status Timestamper::Start() {
  for (const TsaConfig& c : options_.tsas) {
    Tsa t;
    t.config = c;
    KH_ASSIGN_OR_RETURN(t.url, ParseTsaUrl(c.url));
    auto pem = ReadSmallFile(c.ca_file, kMaxTsaCaFileBytes);
    if (!pem.ok()) return pem.status().Annotate("the CA file of TSA " + c.url);
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status::InvalidArgument("the CA file of TSA " + c.url + " (" + c.ca_file.string() +
                                     ") holds no PEM certificate");
    }
    t.ca_pem = std::move(*pem);
    tsas_.push_back(std::move(t));
  }
  if (!tsas_.empty()) {
    thread_ = std::thread([this] {
      NameThisThread("kh-timestamp");
      Run();
    });
  }
  return Status::Ok();
}

void Timestamper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<Ask> left;
  {
    std::lock_guard lock(mu_);
    left.swap(asks_);
  }
  for (Ask& a : left) a.done(Status::IOError("the node is shutting down"));
}

void Timestamper::NewCheckpoint() {
  if (tsas_.empty()) return;
  // Called for every appended entry: while one is pending the thread needs no wake-up (it is
  // asking, or waiting for an authority's interval to run out).
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    wake = !appended_;
    appended_ = true;
  }
  if (wake) cv_.notify_all();
}

void Timestamper::AskNow(uint64_t min_size, std::function<void(Result<Round>)> done) {
  if (tsas_.empty()) {
    done(Status::NotFound("no time-stamping authority is configured (tsa = URL CA_FILE)"));
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      asks_.push_back(Ask{min_size, std::move(done)});
      done = nullptr;
    }
  }
  if (done) return done(Status::IOError("the node is shutting down"));
  cv_.notify_all();
}

void Timestamper::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return;
    if (!asks_.empty()) {
      std::vector<Ask> asks;
      asks.swap(asks_);
      lock.unlock();
      std::vector<size_t> all;
      for (size_t i = 0; i < tsas_.size(); ++i) all.push_back(i);
      Result<Round> round = AskRound(all);
      for (Ask& a : asks) {
        if (round.ok() && round->size < a.min_size) {
          a.done(Status::NotFound("the latest checkpoint has " + std::to_string(round->size) +
                                  " records, fewer than the " + std::to_string(a.min_size) +
                                  " asked for"));
        } else {
          a.done(round);
        }
      }
      lock.lock();
      continue;
    }
    if (appended_) {
      auto now = std::chrono::steady_clock::now();
      std::vector<size_t> due;
      std::optional<std::chrono::steady_clock::time_point> next;
      for (size_t i = 0; i < tsas_.size(); ++i) {
        auto at = tsas_[i].last_attempt + options_.interval;
        if (!tsas_[i].attempted || now >= at) {
          due.push_back(i);
        } else if (!next || at < *next) {
          next = at;
        }
      }
      if (!due.empty()) {
        // The others are asked when their interval has run out.
        appended_ = due.size() != tsas_.size();
        lock.unlock();
        (void)AskRound(due);  // outcomes are logged and counted
        lock.lock();
        continue;
      }
      cv_.wait_until(lock, *next, [&] { return stopping_ || !asks_.empty(); });
      continue;
    }
    cv_.wait(lock, [&] { return stopping_ || !asks_.empty() || appended_; });
  }
}

Result<Timestamper::Round> Timestamper::AskRound(const std::vector<size_t>& which) {
  auto note = node_.log().LatestCheckpoint();
  if (!note.ok()) return note.status();
  KH_ASSIGN_OR_RETURN(SignedNote signed_note, ParseSignedNote(*note));
  KH_ASSIGN_OR_RETURN(Checkpoint checkpoint, ParseCheckpointBody(signed_note.text));
  Round round;
  round.size = checkpoint.size;
  if (checkpoint.size == 0) return Status::NotFound("the log is empty: nothing to timestamp yet");
  const std::string body = signed_note.text;
  round.outcomes.resize(which.size());
  std::vector<std::thread> askers;
  std::vector<bool> asked(which.size(), false);
  for (size_t j = 0; j < which.size(); ++j) {
    Tsa& tsa = tsas_[which[j]];
    Outcome& out = round.outcomes[j];
    out.url = tsa.config.url;
    if (tsa.stamped && tsa.stamped_size == checkpoint.size) {
      out.token = tsa.stamped;  // already stored: no new ask for the same checkpoint
      continue;
    }
    asked[j] = true;
    askers.emplace_back([this, &tsa, &out, &body, size = checkpoint.size] {
      auto q = MakeTimestampQuery(body);
      if (!q.ok()) {
        out.error = q.status().message();
        return;
      }
      auto answer = PostTimestampQuery(tsa.url, q->der, options_.deadline, &cancel_);
      if (!answer.ok()) {
        out.error = answer.status().message();
        return;
      }
      auto token = VerifyTimestampResponse(*answer, *q, tsa.ca_pem);
      if (!token.ok()) {
        out.error = token.status().message();
        return;
      }
      Status st = node_.store().Update([&](WriteTxn& txn) {
        return PutTimestamp(txn, StoredTimestamp{node_.id(), size, tsa.config.url, *token});
      });
      if (!st.ok()) {
        out.error = "storing the token: " + st.message();
        return;
      }
      out.token = std::move(*token);
    });
  }
  for (std::thread& t : askers) t.join();
  auto now = std::chrono::steady_clock::now();
  for (size_t j = 0; j < which.size(); ++j) {
    if (!asked[j]) continue;
    Tsa& tsa = tsas_[which[j]];
    const Outcome& out = round.outcomes[j];
    tsa.attempted = true;
    tsa.last_attempt = now;
    metrics_.AddTimestampAsk(out.token.has_value());
    if (out.token) {
      tsa.stamped_size = checkpoint.size;
      tsa.stamped = out.token;
      LogLine(LogLevel::kInfo, "timestamp",
              "TSA " + out.url + ": token over checkpoint " + std::to_string(checkpoint.size) +
                  " stored, time " + out.token->gen_time + ", by " + out.token->tsa_name);
    } else {
      LogLine(LogLevel::kWarn, "timestamp",
              "TSA " + out.url + ": no token over checkpoint " + std::to_string(checkpoint.size) +
                  ": " + out.error);
    }
  }
  return round;
}

}  // namespace khronika
