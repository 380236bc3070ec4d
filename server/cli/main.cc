// khronika: one binary, many subcommands.
#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "agent.h"
#include "commands.h"
#include "khronika/http/logging.h"

namespace {

using khronika::cli::Command;

void PrintOverview(const std::vector<Command>& commands) {
  std::cout << "khronika: a federated evidence archive node\n\nUsage: khronika COMMAND [options]\n\n"
               "Commands:\n";
  for (const Command& c : commands) {
    std::cout << "  " << c.name << std::string(c.name.size() < 12 ? 12 - c.name.size() : 1, ' ')
              << c.summary << "\n";
  }
  std::cout << "\nRun `khronika COMMAND --help` for a command's options, `khronika --version` for the version.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == khronika::cli::kAgentProcessArg) {
    khronika::cli::RunAgentProcess();
  }
  // Bulk transfers (sync, get, add, a server's pieces) allocate and free buffers of 1 to 4 MiB
  // over and over. glibc hands each back to the kernel (an mmap of its own, or a trim of the
  // heap) and faults fresh zeroed pages in for the next: a 512 MiB sync spent 1.2 s of its 4.2 s
  // in that. Buffers under 8 MiB come from the heap instead, and up to 16 MiB of free heap is
  // kept for reuse (a bound, whatever the size of the files).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  std::vector<Command> commands = khronika::cli::LocalCommands();
  for (auto more : {khronika::cli::ServerCommands(), khronika::cli::ClientCommands(),
                    khronika::cli::FederationCommands(), khronika::cli::EvidenceCommands(),
                    khronika::cli::MirrorCommands(), khronika::cli::RecoveryCommands(),
                    khronika::cli::AgentCommands(), khronika::cli::PolicyCommands()}) {
    commands.insert(commands.end(), more.begin(), more.end());
  }
  khronika::cli::AddUnlockOptions(commands);
  if (args.size() == 1 && (args[0] == "--version" || args[0] == "version")) {
    std::cout << "khronika " << KHRONIKA_VERSION << "\n";
    return 0;
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintOverview(commands);
    return args.empty() ? 2 : 0;
  }
  // Longest match first, so "author add" wins over a hypothetical "author".
  const Command* command = nullptr;
  size_t words = 0;
  for (const Command& c : commands) {
    size_t n = 1 + static_cast<size_t>(std::count(c.name.begin(), c.name.end(), ' '));
    if (n > args.size() || n <= words) continue;
    std::string joined = args[0];
    for (size_t i = 1; i < n; ++i) joined += " " + args[i];
    if (joined == c.name) command = &c, words = n;
  }
  if (!command) {
    std::cerr << "khronika: unknown command '" << args[0] << "' (see khronika --help)\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + static_cast<long>(words), args.end());
  for (const std::string& a : rest) {
    if (a == "--help" || a == "-h") {
      std::cout << command->usage << "\n";
      return 0;
    }
  }
  auto parsed = khronika::cli::Args::Parse(rest, command->options);
  khronika::Status status = parsed.ok() ? command->run(*parsed) : parsed.status();
  if (status.ok()) return 0;
  if (status.message() == "problems found") return 1;
  bool usage = status.code() == khronika::Code::kInvalidArgument &&
               status.message().rfind("usage: ", 0) == 0;
  if (usage) {
    std::cerr << "khronika " << command->name << ": " << status.message().substr(7)
              << " (see khronika " << command->name << " --help)\n";
    return 2;
  }
  if (khronika::LogFormatIsJson()) {
    // `serve` with JSON logs: its last word is a JSON line like every other.
    khronika::LogLine(khronika::LogLevel::kError, command->name, status.ToString());
    return 1;
  }
  std::cerr << "khronika " << command->name << ": " << status.ToString() << "\n";
  return 1;
}
