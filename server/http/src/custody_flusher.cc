#include "khronika/http/custody_flusher.h"

#include "khronika/http/logging.h"
#include "khronika/log/worker_pool.h"

namespace khronika {

CustodyFlusher::CustodyFlusher(Node& node, std::chrono::milliseconds interval,
                               std::function<void()> appended)
    : node_(node), interval_(interval), appended_(std::move(appended)) {}

CustodyFlusher::~CustodyFlusher() { Stop(); }

void CustodyFlusher::Start() {
  thread_ = std::thread([this] {
    NameThisThread("kh-custody");
    Run();
  });
}

void CustodyFlusher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CustodyFlusher::Poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void CustodyFlusher::Round() {
  auto logged = node_.log().LogPendingCustody();
  if (!logged.ok()) {
    LogLine(LogLevel::kWarn, "custody",
            "custody events stay pending: " + logged.status().message());
    return;
  }
  if (!logged->empty() && appended_) appended_();
}

void CustodyFlusher::Run() {
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, interval_, [&] { return stopping_ || poked_; });
      stop = stopping_;
      poked_ = false;
    }
    Round();
    if (stop) return;
  }
}

}  // namespace khronika
