// The subcommands of the khronika binary. Each returns OK, or a Status whose message is printed
// as one line on stderr. Usage errors carry a message starting with "usage: " (exit 2).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "khronika/log/keyring.h"

namespace khronika {
class Node;
struct Policy;
struct PolicyEvaluation;
struct ClientOptions;
struct SyncReport;
}

namespace khronika::cli {

struct Command {
  std::string name;     // "init", "author add", ...
  std::string summary;  // one line for `khronika --help`
  std::string usage;    // full text for `khronika NAME --help`
  std::vector<OptionSpec> options;
  std::function<Status(const Args&)> run;
};

std::vector<Command> LocalCommands();
std::vector<Command> ServerCommands();
std::vector<Command> ClientCommands();
std::vector<Command> FederationCommands();
std::vector<Command> EvidenceCommands();  // export, verify-bundle
std::vector<Command> MirrorCommands();    // mirror export|verify|import|push
std::vector<Command> RecoveryCommands();  // recovery keygen
std::vector<Command> PolicyCommands();    // policy check (C2SP tlog-policy)

// Opens the node named by --data, with the map size of --map-size when given, unlocking an
// encrypted node with --key-file or its passphrase (--passphrase-fd, a systemd credential or
// the terminal). Every command that works on a data directory goes through here.
Result<std::unique_ptr<Node>> OpenNode(const Args& args, bool read_only);
// Puts an act of the operator's own commands on record as a custody event (by "local", role
// admin; docs/format.md section 7.3) and seals what is pending into the node's log at once. If
// the sealing fails the event stays pending, on record, and a warning says so; an error only if
// the event could not be recorded.
Status RecordOperatorAct(Node& node, const std::string& action, const std::string& object,
                         const std::string& case_id = "");
// Seals the pending custody events into the node's log now; a warning if that fails.
void LogPendingCustodyNow(Node& node);
// What opens the node in `dir` (empty for a node in clear, or one whose key file is where its
// keyring remembers it).
Result<Unlock> UnlockFrom(const Args& args, const std::filesystem::path& dir);
// The options every command with --data takes to unlock an encrypted node.
void AddUnlockOptions(std::vector<Command>& commands);

// --node, --token, --pin, --cacert, --timeout (or KHRONIKA_NODE, KHRONIKA_TOKEN) for commands
// that talk to a node over HTTPS.
Result<ClientOptions> ConnectionFrom(const Args& args);

// Prints one line per log of a pull (`prefix` first; `hint` after "skipped: not a federation
// member here"); false if any log failed (a skipped one is not a failure).
bool PrintPulled(const std::string& prefix, const SyncReport& report, const std::string& hint);

// Says on stderr that `path` was open to the group or others (`mode`) and is now 0700.
void WarnMirrorMadePrivate(const std::string& path, unsigned mode);

// A C2SP tlog-policy file, read and parsed; a usage error (exit 2) naming the file and line
// when it is malformed.
Result<Policy> LoadPolicyFile(const std::string& file);
// Prints how `e` judged a checkpoint under `policy` (`what` names it, every line after `indent`;
// problems on stderr); true if the checkpoint is trusted under it.
bool PrintPolicyEvaluation(const Policy& policy, const PolicyEvaluation& e,
                           const std::string& what, const std::string& indent);

inline Status UsageError(const std::string& message) {
  return Status::InvalidArgument("usage: " + message);
}

// A verification that finished and found problems: already printed, exit 1 without more text.
inline Status ProblemsFound() { return Status::Corruption("problems found"); }

}  // namespace khronika::cli
