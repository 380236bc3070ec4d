// Where a command gets a passphrase from, in this order: --passphrase-fd N (a line read from an
// open file descriptor, for scripts), a systemd credential ($CREDENTIALS_DIRECTORY/
// khronika-passphrase, for `serve` under systemd), or the terminal with echo off. Never from a
// command-line argument or an environment variable, which other users can read.
#pragma once

#include <string>

#include "args.h"

namespace khronika::cli {

inline const OptionSpec kPassphraseFd{"passphrase-fd"};
// The passphrase of a recovery key file, when the node's own unlock may need --passphrase-fd.
inline const OptionSpec kRecoveryPassphraseFd{"recovery-passphrase-fd"};

// `confirm`: on a terminal, ask twice and require the same answer (for a new passphrase).
// `fd_option` names the option with the descriptor; the systemd credential is the node's
// passphrase, so it is used only for the default "passphrase-fd".
Result<std::string> ReadPassphrase(const Args& args, const std::string& prompt, bool confirm,
                                   const std::string& fd_option = "passphrase-fd");

}  // namespace khronika::cli
