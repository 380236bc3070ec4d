#include "khronika/http/sync_scheduler.h"

#include <iostream>
#include <random>

#include "khronika/http/logging.h"
#include "khronika/http/peer_transport.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"
#include "khronika/log/worker_pool.h"

namespace khronika {

SyncScheduler::SyncScheduler(Node& node, Metrics& metrics, std::chrono::seconds interval,
                             PeerClientOptions peers)
    : node_(node), metrics_(metrics), interval_(interval), peers_(std::move(peers)) {
  peers_.cancel = &cancel_;
}

SyncScheduler::~SyncScheduler() { Stop(); }

void SyncScheduler::Start() {
  thread_ = std::thread([this] {
    NameThisThread("kh-sync");
    Run();
  });
}

void SyncScheduler::RequestStop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  cv_.notify_all();
}

void SyncScheduler::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

bool SyncScheduler::stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void SyncScheduler::Poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void SyncScheduler::NotifyPeers() {
  // Every group commit asks; while a notification is already pending (or its gap is being
  // waited out) the thread needs no wake-up, which would only send it back to sleep.
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    wake = !notify_;
    notify_ = true;
  }
  if (wake) cv_.notify_all();
}

void SyncScheduler::Run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto next_pull = std::chrono::steady_clock::now();
  if (interval_.count() > 0) {
    next_pull += std::chrono::duration_cast<std::chrono::milliseconds>(interval_ * jitter(rng));
  }
  // Every commit asks for a notification; under load that is a hundred a second, each a TLS
  // connection to every peer. The commits within this gap of the last notification share the
  // next one: a peer learns of new records at most this much later.
  constexpr auto kNotifyGap = std::chrono::milliseconds(100);
  auto last_notify = std::chrono::steady_clock::now() - kNotifyGap;
  for (;;) {
    bool pull = false, notify = false;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || poked_ || notify_; };
      if (interval_.count() > 0) {
        cv_.wait_until(lock, next_pull, ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stopping_) return;
      pull = poked_ || (interval_.count() > 0 && std::chrono::steady_clock::now() >= next_pull);
      notify = notify_;
      poked_ = false;
    }
    if (notify) {
      {
        // notify_ stays set through the gap, so that the commits meanwhile do not wake this
        // thread; they go with this notification.
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, last_notify + kNotifyGap, [&] { return stopping_; });
        if (stopping_) return;
        notify_ = false;
      }
      SendNotifications();
      last_notify = std::chrono::steady_clock::now();
    }
    if (pull) {
      if (interval_.count() > 0) {
        next_pull = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::milliseconds>(interval_ * jitter(rng));
      }
      if (PullAll()) NotifyPeers();
    }
  }
}

void SyncScheduler::SendNotifications() {
  auto peers = ListPeers(node_.store());
  if (!peers.ok()) return;
  for (const Peer& peer : *peers) {
    if (stopping()) return;
    if (peer.serve_only) continue;  // never contacted: it pulls on its own schedule
    auto transport = HttpsPeerTransport::Connect(peer, peers_);
    if (transport.ok()) (void)(*transport)->Notify();  // best effort: the schedule catches up
  }
}

bool SyncScheduler::PullAll() {
  bool changed = false;
  auto peers = ListPeers(node_.store());
  if (!peers.ok()) return false;
  auto now = std::chrono::steady_clock::now();
  for (const Peer& peer : *peers) {
    if (stopping()) return changed;
    if (peer.serve_only) continue;  // it pulls from this node, never the other way round
    auto& [failures, not_before] = backoff_[peer.node_id];
    if (now < not_before) continue;
    std::string name = ToHex(peer.node_id).substr(0, 16);
    Status outcome;
    auto transport = HttpsPeerTransport::Connect(peer, peers_);
    // A pull cut short by the shutdown is not the peer's failure: nothing is recorded.
    if (stopping()) return changed;
    if (!transport.ok()) {
      outcome = transport.status();
      (void)RememberPull(node_.store(), peer.node_id, transport.status(), SystemClock().NowMs());
    } else {
      Witness witness{node_.cosigner_name(), &node_.cosigner_key()};
      auto report = PullFromPeer(node_.store(), **transport, &witness, &node_.archive_key());
      if (stopping()) return changed;
      (void)RememberPull(node_.store(), peer.node_id, report, SystemClock().NowMs());
      if (!report.ok()) {
        outcome = report.status();
      } else {
        for (const LogSyncResult& l : report->logs) {
          metrics_.AddRecordsReplicated(l.to - l.from);
          if (l.changed()) changed = true;
          if (l.to > l.from) {
            LogLine(LogLevel::kInfo, "sync", std::to_string(l.to - l.from) + " records of " +
                                                 ToHex(l.origin).substr(0, 16) + " from peer " + name);
          }
          if (!l.status.ok() && !l.skipped) {
            outcome = l.status;
            LogLine(l.conflict ? LogLevel::kError : LogLevel::kWarn, "sync",
                    std::string(l.conflict ? "CONFLICT " : "") + "peer " + name + ": " +
                        WithoutPeerAddress(l.status.message(), peer));
          }
        }
      }
    }
    if (outcome.ok()) {
      failures = 0;
      not_before = {};
    } else {
      metrics_.AddSyncFailure();
      failures = std::min(failures + 1, 12);
      // Backoff doubles from one interval up to an hour.
      auto delay = std::min<std::chrono::seconds>(interval_ * (1 << std::min(failures - 1, 10)),
                                                  std::chrono::hours(1));
      not_before = now + delay;
      // By its id, not its URL: the log lies on the disk in clear.
      LogLine(LogLevel::kWarn, "sync",
              "peer " + name + " failed (" + WithoutPeerAddress(outcome.message(), peer) +
                  "); next try in " + std::to_string(delay.count()) + " s");
    }
  }
  return changed;
}

}  // namespace khronika
