#include "khronika/http/scrubber.h"

#include "khronika/http/logging.h"
#include "khronika/http/peer_transport.h"
#include "khronika/replication/roster.h"
#include "khronika/log/worker_pool.h"

namespace khronika {

Result<ScrubReport> ScrubNode(Node& node, const PeerClientOptions& peer_options, bool repair,
                              const std::atomic<bool>* stop) {
  KH_ASSIGN_OR_RETURN(ScrubReport report, ScrubStore(node.store(), stop));
  if (repair && report.unrepaired() > 0) {
    KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node.store()));
    for (const Peer& peer : peers) {
      if (report.unrepaired() == 0 || (stop && *stop)) break;
      if (peer.serve_only) continue;  // never contacted
      auto transport = HttpsPeerTransport::Connect(peer, peer_options);
      if (!transport.ok()) {
        LogLine(LogLevel::kWarn, "scrub",
                "peer " + ToHex(peer.node_id).substr(0, 16) + ": " +
                    WithoutPeerAddress(transport.status().message(), peer));
        continue;
      }
      KH_RETURN_IF_ERROR(RepairFromPeer(node.store(), **transport, report));
    }
  }
  KH_RETURN_IF_ERROR(RememberScrub(node.store(), report, SystemClock().NowMs()));
  return report;
}

ScrubSchedule::ScrubSchedule(Node& node, PeerClientOptions peers, std::chrono::seconds interval)
    : node_(node), peers_(std::move(peers)), interval_(interval) {
  peers_.cancel = &cancel_;
  thread_ = std::thread([this] {
    NameThisThread("kh-scrub");
    Loop();
  });
}

ScrubSchedule::~ScrubSchedule() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cancel_.Cancel();
  wake_.notify_all();
  thread_.join();
}

void ScrubSchedule::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, interval_, [this] { return stop_.load(); })) return;
    }
    auto report = ScrubNode(node_, peers_, /*repair=*/true, &stop_);
    if (!report.ok()) {
      if (!stop_) LogLine(LogLevel::kError, "scrub", report.status().ToString());
      continue;
    }
    const size_t damaged = report->findings.size(), unrepaired = report->unrepaired();
    std::string summary = std::to_string(report->chunks + report->objects + report->records) +
                          " items checked, " + std::to_string(damaged) + " damaged or missing, " +
                          std::to_string(damaged - unrepaired) + " repaired";
    LogLine(unrepaired ? LogLevel::kError : damaged ? LogLevel::kWarn : LogLevel::kInfo, "scrub", summary);
    for (const auto& f : report->findings) {
      if (!f.repaired) LogLine(LogLevel::kError, "scrub", "not repaired: " + f.Describe());
    }
  }
}

}  // namespace khronika
