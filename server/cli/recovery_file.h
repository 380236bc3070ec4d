// Reading a recovery key file written by `khronika recovery keygen` (recovery_commands.cc).
#pragma once

#include <string>

#include "args.h"
#include "khronika/schemas/recovery.h"

namespace khronika::cli {

struct RecoveryKeyFile {
  Hash node_id{};  // the node whose operator made it
  RecoveryKey key;
};

// Asks the file's passphrase (--passphrase-fd or the terminal). PermissionDenied for a wrong
// passphrase, InvalidArgument for a file that is not a recovery key.
Result<RecoveryKeyFile> ReadRecoveryKeyFile(const Args& args, const std::string& path);

}  // namespace khronika::cli
