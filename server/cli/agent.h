// The unlock agent: `eval "$(khronika unlock --data DIR)"` asks the passphrase (or reads the key
// file) once and leaves a small process holding the key that opens DIR's keyring, so that the
// shell's later commands open the node without asking again, until `khronika lock` or the time
// limit (docs/operator.md, "Unlocking for a shell session").
//
// What the agent holds: the keyring's own key (KeyringKey: scrypt of the passphrase with that
// keyring's salt, or the key file's key), never the passphrase, the data key or the signing
// keys. A `passphrase change` or a data-key rotation writes a keyring this key does not open.
// The agent keeps it in one locked page (mlock, MADV_DONTDUMP), makes itself undumpable
// (PR_SET_DUMPABLE 0: no core file, no ptrace or /proc/PID/mem by the same user), writes
// nothing to disk, and answers on a unix socket in a fresh 0700 directory under
// $XDG_RUNTIME_DIR (else /tmp), socket mode 0600, only to peers of its own uid (SO_PEERCRED).
//
// Protocol (docs/format.md, "Unlock agent"): one request line per connection,
//   "khronika-agent/1 key <keyring sha256 hex>\n"  ->  "ok <key hex>\n" | "no <why>\n"
//   "khronika-agent/1 lock [<keyring sha256 hex>]\n" -> "ok locked\n" (then it exits) | "no
//   <why>\n"
// A key is given only for the keyring whose SHA-256 (of the whole file) it was unlocked for.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "commands.h"
#include "khronika/schemas/seal.h"

namespace khronika::cli {

// argv[1] of the agent process that `unlock` starts (not a command a person types).
inline constexpr std::string_view kAgentProcessArg = "__agent";
// The agent process: reads its setup from descriptor 3, listens on descriptor 4. Never returns.
[[noreturn]] void RunAgentProcess();

std::vector<Command> AgentCommands();  // unlock, lock

// The key of the keyring at `keyring` from the agent that KHRONIKA_AGENT names, if that variable
// is set, the socket is this user's (directory 0700, socket and peer of this uid) and the agent
// holds this very keyring's key. Otherwise nullopt, and when KHRONIKA_AGENT is set, one line on
// stderr saying why it was not used (the caller then asks as it would without an agent).
std::optional<SymmetricKey> KeyFromAgent(const std::filesystem::path& keyring);

// Ends the agent that KHRONIKA_AGENT names if it holds the key of the keyring whose bytes hashed
// to `keyring_sha256` (after that keyring was replaced: its key must not outlive it). True if
// one was ended.
bool LockAgentHolding(const Hash& keyring_sha256);

}  // namespace khronika::cli
