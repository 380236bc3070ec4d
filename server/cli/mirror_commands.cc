// mirror export | verify | import | push: the git mirror (docs/format.md, "Git mirror").
#include "commands.h"

namespace khronika::cli {

std::vector<Command> MirrorCommands() { return {}; }

}  // namespace khronika::cli
