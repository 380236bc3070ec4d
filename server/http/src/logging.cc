#include "khronika/http/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace khronika {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_json{false};
std::mutex g_write;

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

std::string Now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view name) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == LevelName(l)) return l;
  }
  return Status::InvalidArgument("log_level must be debug, info, warn or error");
}

Result<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Status::InvalidArgument("log_format must be text or json");
}

void SetLogging(LogLevel min_level, LogFormat format) {
  g_level = static_cast<int>(min_level);
  g_json = format == LogFormat::kJson;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

bool LogFormatIsJson() { return g_json.load(); }

std::string JsonLogObject(LogLevel level, std::string_view component, std::string_view message,
                          const std::vector<std::pair<std::string, std::string>>& fields) {
  nlohmann::json j{{"time", Now()}, {"level", LevelName(level)}, {"component", component}, {"msg", message}};
  for (const auto& [key, value] : fields) j[key] = value;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void LogLine(LogLevel level, std::string_view component, std::string_view message) {
  if (!LogEnabled(level)) return;
  std::string line;
  if (g_json) {
    line = JsonLogObject(level, component, message);
  } else {
    line = Now() + " " + LevelName(level) + " " + std::string(component) + ": " + std::string(message);
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(g_write);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;  // nowhere to report a failure to report
    done += static_cast<size_t>(n);
  }
}

}  // namespace khronika
