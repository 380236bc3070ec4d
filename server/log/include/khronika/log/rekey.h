// A data-key rotation (Node::RotateDataKey) gives every blinded index key a new form. Blind is
// one-way, so the names behind the keys are found again in what the store holds: case ids in
// the logged entries, author keys in the authors' records (or, for a record an older khronika
// wrote, among the entries' authors), uploads from the token ids and the chunks.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "khronika/store/store.h"

namespace khronika {

// Store::RenamePlan's work for the tables of the log and the API (docs/format.md, "Data key
// rotation"). `uploaders` are the ids of every token (the uploads table's keys name them).
// Every key of case_index, case_content and authors must be found, or the rotation stops with
// an error that says what to do (an author an older khronika registered and no entry names:
// `author add` it again). An upload whose token and chunk are not found is left out (it could
// never be used: the token or the chunk is gone).
Result<Store::KeyRenames> PlanBlindedKeys(const ReadTxn& txn,
                                          const std::function<Bytes(ByteView name)>& blind_next,
                                          const std::vector<std::string>& uploaders);

}  // namespace khronika
