// Where a command gets a passphrase from, in this order: --passphrase-fd N (a line read from an
// open file descriptor, for scripts), a systemd credential ($CREDENTIALS_DIRECTORY/
// khronika-passphrase, for `serve` under systemd), or the terminal with echo off. Never from a
// command-line argument or an environment variable, which other users can read.
#pragma once

#include <string>

#include "args.h"

namespace khronika::cli {

inline const OptionSpec kPassphraseFd{"passphrase-fd"};

// `confirm`: on a terminal, ask twice and require the same answer (for a new passphrase).
Result<std::string> ReadPassphrase(const Args& args, const std::string& prompt, bool confirm);

}  // namespace khronika::cli
