#include "khronika/http/scrubber.h"

#include "khronika/http/logging.h"
#include "khronika/http/peer_transport.h"
#include "khronika/replication/roster.h"

namespace khronika {

Result<ScrubReport> ScrubNode(Node& node, const std::string& tls_cert, const std::string& tls_key,
                              bool repair, const std::atomic<bool>* stop) {
  KH_ASSIGN_OR_RETURN(ScrubReport report, ScrubStore(node.store(), stop));
  if (repair && report.unrepaired() > 0) {
    KH_ASSIGN_OR_RETURN(std::vector<Peer> peers, ListPeers(node.store()));
    for (const Peer& peer : peers) {
      if (report.unrepaired() == 0) break;
      auto transport = HttpsPeerTransport::Connect(peer, tls_cert, tls_key);
      if (!transport.ok()) {
        LogLine(LogLevel::kWarn, "scrub", "peer " + ToHex(peer.node_id).substr(0, 16) + ": " +
                                              WithoutPeerAddress(transport.status().message(), peer));
        continue;
      }
      KH_RETURN_IF_ERROR(RepairFromPeer(node.store(), **transport, report));
    }
  }
  KH_RETURN_IF_ERROR(RememberScrub(node.store(), report, SystemClock().NowMs()));
  return report;
}

ScrubSchedule::ScrubSchedule(Node& node, std::string tls_cert, std::string tls_key,
                             std::chrono::seconds interval)
    : node_(node), cert_(std::move(tls_cert)), key_(std::move(tls_key)), interval_(interval) {
  thread_ = std::thread([this] { Loop(); });
}

ScrubSchedule::~ScrubSchedule() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ScrubSchedule::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, interval_, [this] { return stop_.load(); })) return;
    }
    auto report = ScrubNode(node_, cert_, key_, /*repair=*/true, &stop_);
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
