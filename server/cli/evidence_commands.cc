// export and verify-bundle: court bundles (docs/lawyer.md).
#include "commands.h"

namespace khronika::cli {

std::vector<Command> EvidenceCommands() { return {}; }

}  // namespace khronika::cli
